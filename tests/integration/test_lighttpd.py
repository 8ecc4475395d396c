"""lighttpd 1.4 configs under portico: the three shipped in examples/lighttpd (PHP with bin-path,
a Rails-style proxy, a reverse proxy with proxy.balance) run as written -- only their ports,
hosts and paths are swapped for the test's -- and serve requests; -t names each lighttpd key
it cannot carry with FILE:LINE; -p prints the translation in portico's own keys."""

import os
import re
import subprocess

from harness import PORTICO, SRCDIR, Client, GatewayTest, free_port, request_bytes

EXAMPLES = os.path.join(SRCDIR, "examples", "lighttpd")
PHP_CGI = "/usr/bin/php-cgi"


def example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def swap(text, *pairs):
    """text with each (old, new) replaced; each old must occur in it."""
    for old, new in pairs:
        if old not in text:
            raise AssertionError("%r not in the example config" % old)
        text = text.replace(old, new)
    return text


def portico(*args):
    p = subprocess.run([PORTICO] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class LighttpdExamples(GatewayTest):
    def listen(self, text, port):
        """The example on the test's port (and a short graceful stop)."""
        text, n = re.subn(r"server\.port( *)= 8080\n", r"server.port\1= %d\n" % port, text)
        self.assertEqual(n, 1)
        return text + "server.graceful-shutdown-timeout = 2\n"

    def test_php_bin_path(self):
        if not os.access(PHP_CGI, os.X_OK):
            self.skipTest("%s not installed (apt-get install php-cgi)" % PHP_CGI)
        os.chmod(self.tmp, 0o755)
        docroot = os.path.join(self.tmp, "www")
        self.write("www/info.php", "<?php header('X-Php: yes'); echo $_SERVER['SCRIPT_NAME'], "
                   "'|', $_SERVER['SCRIPT_FILENAME'], '|', $_GET['q'] ?? '', '|', getmypid();")
        self.write("www/static.html", "<p>static</p>")
        sock = os.path.join(self.tmp, "php-fastcgi.socket")
        port = free_port()
        conf = swap(self.listen(example("php.conf"), port),
                    ('"/var/www/html"', '"%s"' % docroot),
                    ('"/tmp/php-fastcgi.socket"', '"%s"' % sock))
        self.start_portico(conf, port=port, raw=True)
        for i in range(6):
            r = self.get(port, "/info.php?q=%d" % i)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.header("X-Php"), "yes")
            name, filename, q, _pid = r.body.decode().split("|")
            self.assertEqual((name, filename, q), ("/info.php", docroot + "/info.php", str(i)))
        self.assertEqual(r.header("Server"), "lighttpd")  # server.tag carried as written
        # bin-path with max-procs 2: two php-cgi processes on the socket's slots .0 and .1
        self.assertTrue(os.path.exists(sock + ".0") and os.path.exists(sock + ".1"))
        self.assertEqual(self.get(port, "/missing.php").status, 404)  # php-cgi's own 404
        self.assertEqual(self.get(port, "/static.html").status, 404)  # no route: no files

    def test_rails_proxy(self):
        app = self.start_backend("http_echo")
        port = free_port()
        app_port = app.rsplit(":", 1)[1]
        conf = swap(self.listen(example("rails.conf"), port),
                    ('"port" => 3000', '"port" => %s' % app_port))
        self.start_portico(conf, port=port, raw=True)
        r = self.get(port, "/users/1?x=y", host="www.example.com")
        self.assertEqual(r.status, 200, r.body)
        seen = r.json()
        self.assertEqual(seen["target"], "/users/1?x=y")
        self.assertEqual(seen["backend"], app)
        headers = dict((k.lower(), v) for k, v in seen["headers"])
        self.assertEqual(headers["host"], "www.example.com")
        self.assertEqual(headers["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(self.get(port, "/", host="example.com").status, 200)
        self.assertEqual(self.get(port, "/", host="other.org").status, 404)

    def test_proxy_balance(self):
        api = self.start_backend("http_echo")
        web = [self.start_backend("http_echo") for _ in range(3)]
        port = free_port()
        conf = self.listen(example("proxy.conf"), port)
        conf = swap(conf, ('"port" => 8090', '"port" => %s' % api.rsplit(":", 1)[1]))
        for i, addr in enumerate(web):
            conf = swap(conf, ('"host" => "10.0.0.1%d", "port" => 80' % i,
                               '"host" => "127.0.0.1", "port" => %s' % addr.rsplit(":", 1)[1]))
        self.start_portico(conf, port=port, raw=True)
        got = []
        with Client(port) as c:  # one client connection: each request is dispatched anew
            for i in range(9):
                c.send(request_bytes("GET", "/page/%d" % i))
                r = c.read_response()
                self.assertEqual(r.status, 200, r.body)
                got.append(r.json()["backend"])
        self.assertEqual(sorted(got), sorted(web * 3))  # round-robin: three each
        self.assertEqual(got[:3], got[3:6])  # a true rotation
        self.assertEqual(self.get(port, "/api/v1").json()["backend"], api)


class LighttpdCheck(GatewayTest):
    def test_uncarried_key_named_with_file_and_line(self):
        path = self.write("app.conf", 'server.port = %d\n'
                          'fastcgi.server = ( "/app" =>\n'
                          '  ( "app" => ( "host" => "127.0.0.1", "port" => 9000,\n'
                          '               "check-local" => "disable",\n'
                          '               "strip-request-uri" => "/app" ) ) )\n' % free_port())
        rc, out, err = portico("-t", "-f", path)
        self.assertEqual(rc, 1, out + err)
        self.assertIn('%s:5: fastcgi.server "/app" => "app": "strip-request-uri" is not carried'
                      % path, err)

    def test_dropped_key_is_a_warning_with_file_and_line(self):
        path = self.write("app.conf", 'server.port = %d\n'
                          'fastcgi.server = ( "/app" =>\n'
                          '  ( "app" => ( "host" => "127.0.0.1", "port" => 9000,\n'
                          '               "check-local" => "disable",\n'
                          '               "listen-backlog" => 64 ) ) )\n'
                          'mimetype.assign = ( ".html" => "text/html" )\n' % free_port())
        rc, out, err = portico("-t", "-f", path)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("configuration OK", out)
        self.assertIn('%s:5: fastcgi.server "/app" => "app": "listen-backlog" is not carried '
                      '(dropped)' % path, err)
        self.assertIn("%s:6: lighttpd's mimetype.assign is not carried (dropped)" % path, err)

    def test_print_translation_reads_back(self):
        rc, out, err = portico("-p", "-f", os.path.join(EXAMPLES, "proxy.conf"))
        self.assertEqual(rc, 0, err)
        self.assertNotIn("proxy.server", out)
        self.assertIn('} else {\n    proxy-core.protocol = "http"\n    proxy-core.backends = '
                      '( "10.0.0.10:80", "10.0.0.11:80", "10.0.0.12:80" )\n'
                      '    proxy-core.balancer = "round-robin"\n}', out)
        path = self.write("printed.conf", out)
        rc, out2, err = portico("-p", "-f", path)
        self.assertEqual((rc, out2), (0, out), err)
