"""Real PHP behind portico over FastCGI: php-cgi started by spawn-fcgi, and php-fpm with a
generated pool config. A script in a temp docroot reports what PHP understood of the request
($_SERVER subset, $_GET, $_POST, uploaded files). Skipped only when the PHP binaries are missing."""

import glob
import hashlib
import os
import shutil
import signal
import subprocess
import time
import urllib.parse

from harness import (Client, GatewayTest, Proc, chunked, free_port, multipart, request_bytes, route,
                     wait_port)

PHP_SCRIPT = r"""<?php
header('Content-Type: application/json');
$keys = ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PHP_SELF', 'QUERY_STRING',
         'REQUEST_URI', 'REQUEST_METHOD', 'CONTENT_LENGTH', 'CONTENT_TYPE', 'DOCUMENT_ROOT',
         'HTTP_HOST', 'HTTP_PROXY', 'HTTP_X_TEST', 'REMOTE_ADDR', 'SERVER_PORT'];
$server = [];
foreach ($keys as $k) {
    $server[$k] = $_SERVER[$k] ?? null;
}
$files = [];
foreach ($_FILES as $name => $f) {
    $files[$name] = ['name' => $f['name'], 'size' => $f['size'], 'error' => $f['error'],
                     'md5' => $f['error'] === 0 ? md5_file($f['tmp_name']) : null];
}
$input = file_get_contents('php://input');
echo json_encode(['server' => $server, 'get' => $_GET, 'post' => $_POST, 'files' => $files,
                  'input_len' => strlen($input), 'input_md5' => md5($input)]);
"""


def php_fpm_binary():
    found = sorted(glob.glob("/usr/sbin/php-fpm*"))
    return found[-1] if found else None


class PidGroup:
    """A daemonised process (spawn-fcgi's child) known by its pid file: stopped with its group."""

    def __init__(self, name, pidfile):
        self.name = name
        self.pidfile = pidfile
        with open(pidfile) as f:
            self.pid = int(f.read().strip())

    def stderr_text(self):
        return ""

    def stop(self, sig=signal.SIGTERM, timeout=5):
        for s in (sig, signal.SIGKILL):
            try:
                os.killpg(self.pid, s)
            except ProcessLookupError:
                return 0
            except PermissionError:
                os.kill(self.pid, s)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.pid, 0)
                except ProcessLookupError:
                    return 0
                time.sleep(0.05)
        return None


class PhpTests:
    """Shared tests; subclasses start PHP in start_php() and return its address."""

    def setUp(self):
        super().setUp()
        self.docroot = os.path.join(self.tmp, "www")
        for rel in ("index.php", "sub/page.php", "front.php"):
            self.write(os.path.join("www", rel), PHP_SCRIPT)
        os.chmod(self.tmp, 0o755)
        addr = self.start_php()
        conf = ('server.document-root = "%s"\n' % self.docroot +
                "server.max-request-size = 4194304\n" +
                "proxy-core.read-timeout = 15\n" +
                route([addr], "fastcgi", '$HTTP["url"] =^ "/front.php/"',
                      '  proxy-core.script-name = "/front.php"\n') +
                route([addr], "fastcgi", '$HTTP["url"] =$ ".php"'))
        self.pt = self.start_portico(conf)

    def php(self, target, method="GET", headers=(), body=None, body_chunks=None):
        with Client(self.pt.port, timeout=20) as c:
            if body_chunks is not None:
                c.send(request_bytes(method, target, headers=list(headers) +
                                     [("Transfer-Encoding", "chunked")]))
                c.send(chunked(body_chunks))
            else:
                c.send(request_bytes(method, target, headers=headers, body=body))
            r = c.read_response(method)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def test_get_server_vars(self):
        j = self.php("/index.php?x=1&y=%41&z%5B%5D=2", headers=[("X-Test", "t1"),
                                                           ("Proxy", "http://evil.test/")])
        s = j["server"]
        self.assertEqual(s["SCRIPT_FILENAME"], self.docroot + "/index.php")
        self.assertEqual(s["SCRIPT_NAME"], "/index.php")
        self.assertIn(s["PATH_INFO"], (None, ""))
        self.assertEqual(s["PHP_SELF"], "/index.php")
        self.assertEqual(s["QUERY_STRING"], "x=1&y=%41&z%5B%5D=2")
        self.assertEqual(s["REQUEST_URI"], "/index.php?x=1&y=%41&z%5B%5D=2")
        self.assertEqual(s["REQUEST_METHOD"], "GET")
        self.assertEqual(s["DOCUMENT_ROOT"], self.docroot)
        self.assertEqual(s["HTTP_X_TEST"], "t1")
        self.assertIsNone(s["HTTP_PROXY"])
        self.assertEqual(s["SERVER_PORT"], str(self.pt.port))
        self.assertEqual(j["get"], {"x": "1", "y": "A", "z": ["2"]})

    def test_script_in_subdirectory(self):
        s = self.php("/sub/page.php")["server"]
        self.assertEqual(s["SCRIPT_FILENAME"], self.docroot + "/sub/page.php")
        self.assertEqual(s["SCRIPT_NAME"], "/sub/page.php")

    def test_path_info_with_script_name(self):
        s = self.php("/front.php/extra/x?q=1")["server"]
        self.assertEqual(s["SCRIPT_FILENAME"], self.docroot + "/front.php")
        self.assertEqual(s["SCRIPT_NAME"], "/front.php")
        self.assertEqual(s["PATH_INFO"], "/extra/x")
        self.assertEqual(s["PHP_SELF"], "/front.php/extra/x")
        self.assertEqual(s["REQUEST_URI"], "/front.php/extra/x?q=1")

    def test_missing_script_404(self):
        r = self.get(self.pt.port, "/nothing-here.php")
        self.assertEqual(r.status, 404)

    def check_urlencoded(self, **kw):
        fields = [("a", "1"), ("b", "x y&z"), ("long", "L" * 100000)]
        body = urllib.parse.urlencode(fields).encode()
        hdr = [("Content-Type", "application/x-www-form-urlencoded")]
        if kw.get("use_chunked"):
            j = self.php("/index.php?g=1", "POST", hdr, body_chunks=[body[:7], body[7:5000],
                                                                     body[5000:]])
        else:
            j = self.php("/index.php?g=1", "POST", hdr, body=body)
        self.assertEqual(j["post"], dict(fields))
        self.assertEqual(j["get"], {"g": "1"})
        self.assertEqual(j["server"]["CONTENT_LENGTH"], str(len(body)))
        self.assertEqual(j["server"]["CONTENT_TYPE"], "application/x-www-form-urlencoded")

    def test_post_urlencoded(self):
        self.check_urlencoded()

    def test_post_urlencoded_chunked(self):
        self.check_urlencoded(use_chunked=True)

    def check_multipart(self, use_chunked):
        data = os.urandom(300000)
        body, ctype = multipart([("title", "a file"), ("n", "42")], [("f", "up.bin", data)])
        hdr = [("Content-Type", ctype)]
        if use_chunked:
            pieces = [body[i:i + 65000] for i in range(0, len(body), 65000)]
            j = self.php("/index.php", "POST", hdr, body_chunks=pieces)
        else:
            j = self.php("/index.php", "POST", hdr, body=body)
        self.assertEqual(j["post"], {"title": "a file", "n": "42"})
        f = j["files"]["f"]
        self.assertEqual((f["name"], f["error"], f["size"]), ("up.bin", 0, len(data)))
        self.assertEqual(f["md5"], hashlib.md5(data).hexdigest())
        self.assertEqual(j["server"]["CONTENT_LENGTH"], str(len(body)))

    def test_post_multipart_file(self):
        self.check_multipart(False)

    def test_post_multipart_file_chunked(self):
        self.check_multipart(True)

    def test_raw_body(self):
        data = os.urandom(100000)
        j = self.php("/index.php", "PUT", [("Content-Type", "application/octet-stream")],
                     body=data)
        self.assertEqual((j["input_len"], j["input_md5"]), (len(data),
                                                            hashlib.md5(data).hexdigest()))

    def test_keep_alive_many_requests(self):
        with Client(self.pt.port, timeout=20) as c:
            for i in range(20):
                c.send(request_bytes("GET", "/index.php?i=%d" % i))
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["get"], {"i": str(i)})


class PhpCgi(PhpTests, GatewayTest):
    def start_php(self):
        php = shutil.which("php-cgi")
        spawn = shutil.which("spawn-fcgi")
        if not php or not spawn:
            self.skipTest("php-cgi or spawn-fcgi not installed")
        port = free_port()
        pidfile = os.path.join(self.tmp, "php-cgi.pid")
        env = dict(os.environ, PHP_FCGI_CHILDREN="1", PHP_FCGI_MAX_REQUESTS="1000")
        subprocess.run([spawn, "-a", "127.0.0.1", "-p", str(port), "-P", pidfile, "-f", php],
                       env=env, check=True, stdout=subprocess.DEVNULL, timeout=10)
        self.add_proc(PidGroup("php-cgi", pidfile))
        if not wait_port(port, 10):
            raise AssertionError("php-cgi did not listen on %d" % port)
        return "127.0.0.1:%d" % port


class PhpFpm(PhpTests, GatewayTest):
    def start_php(self):
        fpm = php_fpm_binary()
        if not fpm:
            self.skipTest("php-fpm not installed")
        port = free_port()
        conf = self.write("php-fpm.conf", (
            "[global]\n"
            "pid = %s/php-fpm.pid\n"
            "error_log = /dev/stderr\n"
            "daemonize = no\n"
            "[www]\n"
            "listen = 127.0.0.1:%d\n"
            "listen.allowed_clients = 127.0.0.1\n"
            "pm = static\n"
            "pm.max_children = 2\n"
            "catch_workers_output = yes\n" % (self.tmp, port)))
        argv = [fpm, "-F", "-y", conf]
        if os.geteuid() == 0:
            argv.insert(1, "-R")
        self.add_proc(Proc("php-fpm", argv, self.tmp, stdout_pipe=False))
        if not wait_port(port, 10):
            raise AssertionError("php-fpm did not listen on %d" % port)
        return "127.0.0.1:%d" % port
