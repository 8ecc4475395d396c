"""A real Rails 6.1 application (examples/rails) behind portico: over HTTP with puma (TCP and
a unix socket), and over FastCGI through Rack's FastCGI handler (examples/rails/script/fastcgi).
The app reports what Rails understood of each request (env keys, request.url, remote_ip,
params, uploaded files), sends files with send_file + X-Sendfile and redirects with an
absolute Location built from the request. The app is booted once per test class (a Rails
boot takes about a second); portico is started per test. Skipped only when ruby, puma,
Rails or ruby-fcgi are missing."""

import hashlib
import os
import random
import shutil
import signal
import socket
import subprocess
import struct
import tempfile
import time
import unittest
import urllib.parse

from harness import (SRCDIR, Client, GatewayTest, Proc, conf_list, conf_str, multipart, free_port,
                     request_bytes, wait_port)

APP = os.path.join(SRCDIR, "examples", "rails")
FILE_SIZE = 300000
BOOT_TIMEOUT = 30


def sha(b):
    return hashlib.sha256(b).hexdigest()


_ruby_checks = {}


def ruby_missing(requires):
    """None when ruby can load every library in `requires`, else why not (cached)."""
    key = tuple(requires)
    if key not in _ruby_checks:
        if not shutil.which("ruby"):
            _ruby_checks[key] = "ruby not installed (apt-get install ruby-rails puma ruby-fcgi)"
        else:
            code = "".join("require %r;" % r for r in requires)
            p = subprocess.run(["ruby", "-e", code], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            _ruby_checks[key] = (None if p.returncode == 0 else "ruby cannot load %s: %s" % (
                ", ".join(requires), p.stdout.decode("utf-8", "replace").strip()[-300:]))
    return _ruby_checks[key]


class RailsApp:
    """One running copy of the example app, shared by the tests of a class."""

    def __init__(self, argv, addr, port=None, sock_path=None):
        self.tmp = tempfile.mkdtemp(prefix="portico-rails-")
        self.files = os.path.join(self.tmp, "files")
        os.makedirs(self.files)
        rng = random.Random(20240611)
        self.data = rng.randbytes(FILE_SIZE)
        with open(os.path.join(self.files, "sample.bin"), "wb") as f:
            f.write(self.data)
        # script/fastcgi keeps the compat library it compiles under $XDG_CACHE_HOME: the
        # test's own directory, not the user's ~/.cache
        env = dict(os.environ, RAILS_ENV="production", DOWNLOAD_DIR=self.files,
                   RAILS_LOG_LEVEL="warn", XDG_CACHE_HOME=os.path.join(self.tmp, "cache"))
        env.pop("DATABASE_URL", None)
        self.addr = addr
        self.proc = Proc(os.path.basename(argv[0]), argv, self.tmp, env=env,
                         stdout_pipe=False, cwd=APP)
        if sock_path is not None:
            ok = self._wait_unix(sock_path)
        else:
            ok = wait_port(port, BOOT_TIMEOUT, self.proc.alive)
        if not ok:
            out = self.proc.stderr_text()
            self.stop()
            raise AssertionError("%s did not listen on %s within %d s:\n%s"
                                 % (" ".join(argv), addr, BOOT_TIMEOUT, out[-3000:]))

    def _wait_unix(self, path):
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline and self.proc.alive():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(path)
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def output(self):
        return self.proc.stderr_text()

    def stop(self):
        self.proc.stop(signal.SIGTERM, timeout=5)
        shutil.rmtree(self.tmp, ignore_errors=True)


class RailsBase(GatewayTest):
    """Boots the app on first use (start_app) and keeps it for the class; each test gets its
    own portico (conf_body) in front of it."""

    requires = ("rails", "action_controller/railtie")
    need_binaries = ("ruby",)
    app = None
    app_error = None

    @classmethod
    def start_app(cls):
        raise NotImplementedError

    def conf_body(self):
        raise NotImplementedError

    @classmethod
    def tearDownClass(cls):
        if cls.app is not None:
            cls.app.stop()
            cls.app = None
        super().tearDownClass()

    def setUp(self):
        for b in self.need_binaries:
            if not shutil.which(b):
                raise unittest.SkipTest("%s not installed (apt-get install ruby-rails puma "
                                        "ruby-fcgi)" % b)
        why = ruby_missing(self.requires)
        if why:
            raise unittest.SkipTest(why)
        super().setUp()
        cls = type(self)
        if cls.app_error:
            raise AssertionError("the app did not start earlier: %s" % cls.app_error)
        if cls.app is not None and not cls.app.proc.alive():
            cls.app_error = "the app exited during an earlier test:\n" + cls.app.output()[-3000:]
            raise AssertionError(cls.app_error)
        if cls.app is None:
            try:
                cls.app = cls.start_app()
            except AssertionError as e:
                cls.app_error = str(e)
                raise
        self.log_mark = len(cls.app.output())
        self.addCleanup(self._app_log)
        self.pt = self.start_portico(self.conf_body())
        self.host = "127.0.0.1:%d" % self.pt.port

    def _app_log(self):
        app = type(self).app
        if app is None:
            return
        new = app.output()[self.log_mark:]
        if new.strip():
            self.diag.append("--- app output ---\n%s" % new[-4000:])

    def sample_portico(self, name, subs):
        """Start portico from examples/rails/NAME with `subs` (old -> new) applied, each of
        which must occur, so the sample config stays one that works."""
        with open(os.path.join(APP, name)) as f:
            text = f.read()
        port = free_port()
        subs = [("server.port = 8080", "server.port = %d" % port),
                ('var.files = "/tmp/portico-rails-files"',
                 "var.files = %s" % conf_str(self.app.files))] + list(subs)
        for old, new in subs:
            self.assertIn(old, text, "examples/rails/%s changed" % name)
            text = text.replace(old, new)
        return self.start_portico(text, port=port, raw=True)

    def docroot_conf(self):
        return ("  proxy-core.allow-x-sendfile = \"enable\"\n"
                "  proxy-core.x-sendfile-docroot = %s\n" % conf_list([self.app.files]))

    # ---- requests ----

    def fetch(self, target, method="GET", headers=(), body=None, host=None):
        with Client(self.pt.port, timeout=15) as c:
            c.send(request_bytes(method, target, host or self.host, headers, body))
            return c.read_response(method)

    def env_of(self, target="/env", headers=(), host=None):
        r = self.fetch(target, headers=headers, host=host)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r)
        return r.json()

    # ---- tests every variant runs ----

    def test_root_text(self):
        r = self.fetch("/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.decode(),
                         "SCRIPT_NAME=\nPATH_INFO=/\nQUERY_STRING=\nHost=%s\n" % self.host)

    def test_env_forwarded(self):
        j = self.env_of("/env?a=1&b=%20x")
        e = j["env"]
        self.assertEqual(e["REQUEST_METHOD"], "GET")
        self.assertEqual(e["SCRIPT_NAME"], "")
        self.assertEqual(e["PATH_INFO"], "/env")
        self.assertEqual(e["QUERY_STRING"], "a=1&b=%20x")
        self.assertEqual(e["REQUEST_URI"], "/env?a=1&b=%20x")
        self.assertEqual(e["HTTP_HOST"], self.host)
        self.assertEqual(j["url"], "http://%s/env?a=1&b=%%20x" % self.host)
        self.assertEqual(j["remote_ip"], "127.0.0.1")
        self.assertEqual(j["port"], self.pt.port)
        self.check_forwarded(e)

    def check_forwarded(self, e):
        """What the variant's transport shows of the X-Forwarded-* headers."""
        raise NotImplementedError

    def test_client_forwarded_headers(self):
        """A client's X-Forwarded-For is appended to; its X-Forwarded-Proto / -Host are not
        believed, so Rails builds URLs for the real scheme and Host."""
        j = self.env_of("/env", headers=[("X-Forwarded-For", "203.0.113.7"),
                                          ("X-Forwarded-Proto", "https"),
                                          ("X-Forwarded-Host", "evil.test")])
        self.assertEqual(j["env"]["HTTP_X_FORWARDED_FOR"], "203.0.113.7, 127.0.0.1")
        self.assertEqual(j["env"]["HTTP_X_FORWARDED_PROTO"], "http")
        self.assertEqual(j["env"]["HTTP_X_FORWARDED_HOST"], self.host)
        self.assertEqual(j["url"], "http://%s/env" % self.host)
        # 127.0.0.1 is a trusted proxy for Rails, so the address before it is the client's.
        self.assertEqual(j["remote_ip"], "203.0.113.7")

    def test_keep_alive(self):
        form = urllib.parse.urlencode({"k": "v"}).encode()
        with Client(self.pt.port, timeout=15) as c:
            for i in range(6):
                if i % 3 == 2:
                    c.send(request_bytes("POST", "/form?i=%d" % i, self.host,
                                         [("Content-Type", "application/x-www-form-urlencoded")],
                                         form))
                    r = c.read_response()
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.json()["query"], {"i": str(i)})
                    self.assertEqual(r.json()["params"], {"k": "v"})
                else:
                    c.send(request_bytes("GET", "/env?i=%d" % i, self.host))
                    r = c.read_response()
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.json()["env"]["QUERY_STRING"], "i=%d" % i)
                self.assertNotIn("close", (r.header("Connection") or "").lower(), r)
            # The X-Sendfile answer keeps the connection too.
            c.send(request_bytes("GET", "/download", self.host))
            r = c.read_response()
            self.assertEqual(sha(r.body), sha(self.app.data))
            c.send(request_bytes("GET", "/", self.host))
            self.assertEqual(c.read_response().status, 200)

    def post_form(self, body, ctype, pieces=None, target="/form"):
        j = self.post_json(self.pt.port, target, body, ctype, pieces, self.host, timeout=20)
        self.assertEqual(j["content_length"], len(body))
        return j

    def split(self, body, n=7):
        step = len(body) // n + 1
        return [body[i:i + step] for i in range(0, len(body), step)]

    def urlencoded_fields(self):
        return [("a", "1"), ("b", "x y&z=ü"), ("long", "L" * 100000)]

    def test_post_urlencoded(self):
        fields = self.urlencoded_fields()
        body = urllib.parse.urlencode(fields).encode()
        j = self.post_form(body, "application/x-www-form-urlencoded")
        self.assertEqual(j["params"], dict(fields))
        self.assertEqual(j["media_type"], "application/x-www-form-urlencoded")

    def test_post_urlencoded_chunked(self):
        fields = self.urlencoded_fields()
        body = urllib.parse.urlencode(fields).encode()
        j = self.post_form(body, "application/x-www-form-urlencoded", self.split(body))
        self.assertEqual(j["params"], dict(fields))

    def check_multipart(self, use_chunked):
        upload = random.Random(7).randbytes(700001)
        body, ctype = multipart([("title", "a file"), ("n", "42")],
                                [("file", "up.bin", upload)])
        j = self.post_form(body, ctype, self.split(body, 11) if use_chunked else None)
        self.assertEqual(j["params"], {"title": "a file", "n": "42"})
        self.assertEqual(j["files"], {"file": {"filename": "up.bin", "size": len(upload),
                                               "sha256": sha(upload)}})
        self.assertEqual(j["media_type"], "multipart/form-data")

    def test_post_multipart(self):
        self.check_multipart(False)

    def test_post_multipart_chunked(self):
        self.check_multipart(True)

    def assertNoXs(self, r):
        for n in ("X-Sendfile", "X-LIGHTTPD-send-file"):
            self.assertIsNone(r.header(n), "%s reached the client: %r" % (n, r))

    def test_download(self):
        r = self.fetch("/download")
        self.assertEqual(r.status, 200, r)
        self.assertNoXs(r)
        self.assertEqual(r.header("Content-Length"), str(FILE_SIZE))
        self.assertEqual(len(r.all("Content-Length")), 1, r)
        self.assertIsNone(r.header("Transfer-Encoding"), r)
        self.assertEqual(len(r.body), FILE_SIZE)
        self.assertEqual(sha(r.body), sha(self.app.data))
        # Rails' own headers survive the file swap.
        self.assertEqual(r.header("Content-Type"), "application/octet-stream")
        self.assertIn('filename="sample.bin"', r.header("Content-Disposition") or "", r)
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertTrue(r.header("Last-Modified"), r)
        etag = r.header("ETag")
        self.assertTrue(etag, r)

        r = self.fetch("/download", headers=[("Range", "bytes=1000-1999")])
        self.assertEqual(r.status, 206, r)
        self.assertNoXs(r)
        self.assertEqual(r.header("Content-Range"), "bytes 1000-1999/%d" % FILE_SIZE)
        self.assertEqual(r.header("Content-Length"), "1000")
        self.assertEqual(r.body, self.app.data[1000:2000])

        r = self.fetch("/download", headers=[("Range", "bytes=-10")])
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, self.app.data[-10:])

        r = self.fetch("/download", headers=[("If-None-Match", etag)])
        self.assertEqual(r.status, 304, r)
        self.assertNoXs(r)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("ETag"), etag)

        # HEAD carries X-Sendfile too (the app moves Rack::Sendfile inside Rack::Head), so
        # portico answers it from the file: the length without the body.
        r = self.fetch("/download", method="HEAD")
        self.assertEqual(r.status, 200, r)
        self.assertNoXs(r)
        self.assertEqual(r.header("Content-Length"), str(FILE_SIZE))
        self.assertEqual(r.header("ETag"), etag)

        r = self.fetch("/download?name=missing.bin")
        self.assertEqual(r.status, 404, r)

    def test_redirect_location(self):
        r = self.fetch("/go")
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.header("Location"), "http://%s/env" % self.host)
        # The client's Host, whatever it is, is what Rails builds the Location from.
        r = self.fetch("/go", host="www.example.test:8443")
        self.assertEqual(r.header("Location"), "http://www.example.test:8443/env")
        r = self.fetch("/go-route")
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.header("Location"), "http://%s/env" % self.host)
        target = urllib.parse.urlsplit("http://%s/env" % self.host).path
        self.assertEqual(self.fetch(target).status, 200)


class RailsPumaHttp(RailsBase):
    """puma on 127.0.0.1:PORT, portico in front with protocol "http"; the app also mounted
    under /app with a request rewrite (the prefix off) and a Location rewrite (it back on)."""

    need_binaries = ("ruby", "puma")

    @classmethod
    def start_app(cls):
        port = free_port()
        return RailsApp(["puma", "-C", os.path.join(APP, "config", "puma.rb"),
                         "-b", "tcp://127.0.0.1:%d" % port, os.path.join(APP, "config.ru")],
                        "127.0.0.1:%d" % port, port=port)

    def conf_body(self):
        return ("server.max-request-size = 4194304\n"
                "proxy-core.read-timeout = 15\n"
                '$HTTP["url"] =^ "/" {\n'
                '  proxy-core.protocol = "http"\n'
                "  proxy-core.backends = %s\n%s}\n"
                '$HTTP["url"] =^ "/app" {\n'
                '  proxy-core.rewrite-request = ( "_uri" => ( "^/app(/.*)?$" => "$1" ) )\n'
                '  proxy-core.rewrite-response = ( "Location" => '
                '( "^http://([^/]+)/(.*)$" => "http://$1/app/$2" ) )\n'
                "}\n" % (conf_list([self.app.addr]), self.docroot_conf()))

    def check_forwarded(self, e):
        self.assertEqual(e["HTTP_X_FORWARDED_FOR"], "127.0.0.1")
        self.assertEqual(e["HTTP_X_FORWARDED_PROTO"], "http")
        self.assertEqual(e["HTTP_X_FORWARDED_HOST"], self.host)
        self.assertEqual(e["SERVER_PORT"], str(self.pt.port))

    def test_mounted_env(self):
        j = self.env_of("/app/env?x=1")
        e = j["env"]
        self.assertEqual(e["PATH_INFO"], "/env")
        self.assertEqual(e["SCRIPT_NAME"], "")
        self.assertEqual(e["QUERY_STRING"], "x=1")
        self.assertEqual(e["REQUEST_URI"], "/env?x=1")
        self.assertEqual(j["url"], "http://%s/env?x=1" % self.host)
        r = self.fetch("/app/?z=9")
        self.assertEqual(r.status, 200, r)
        self.assertIn("PATH_INFO=/\nQUERY_STRING=z=9\n", r.body.decode())

    def test_mounted_redirect(self):
        r = self.fetch("/app/go")
        self.assertEqual(r.status, 302, r)
        loc = r.header("Location")
        self.assertEqual(loc, "http://%s/app/env" % self.host)
        j = self.env_of(urllib.parse.urlsplit(loc).path)
        self.assertEqual(j["env"]["PATH_INFO"], "/env")

    def test_mounted_post_and_download(self):
        body = urllib.parse.urlencode({"m": "1"}).encode()
        j = self.post_form(body, "application/x-www-form-urlencoded", target="/app/form?q=2")
        self.assertEqual(j["params"], {"m": "1"})
        self.assertEqual(j["query"], {"q": "2"})
        r = self.fetch("/app/download")
        self.assertEqual(r.status, 200, r)
        self.assertNoXs(r)
        self.assertEqual(sha(r.body), sha(self.app.data))

    def test_sample_config(self):
        """examples/rails/portico.conf: the app at the root and mounted under /app with the
        rewrites that also handle /app alone and /app?query."""
        pt = self.sample_portico("portico.conf", [('var.app = "127.0.0.1:3000"',
                                                   "var.app = %s" % conf_str(self.app.addr))])
        host = "127.0.0.1:%d" % pt.port

        def get(target, h=host):
            return self.get(pt.port, target, host=h, timeout=15)

        def text(target, query=""):
            r = get(target)
            self.assertEqual(r.status, 200, (target, r))
            self.assertEqual(r.body.decode(), "SCRIPT_NAME=\nPATH_INFO=/\nQUERY_STRING=%s\n"
                             "Host=%s\n" % (query, host), target)

        def reaches(target, uri):
            r = get(target)
            self.assertEqual(r.status, 200, (target, r))
            self.assertEqual(r.json()["env"]["REQUEST_URI"], uri, target)

        reaches("/env?a=1", "/env?a=1")
        reaches("/app/env?b=2", "/env?b=2")
        reaches("/app/env/", "/env/")
        text("/app")
        text("/app?c=3", "c=3")
        text("/app/")
        r = get("/application")
        self.assertEqual(r.status, 404, r)  # not the mount: reaches the app as it is
        r = get("/app/go")
        self.assertEqual(r.header("Location"), "http://%s/app/env" % host)
        r = get("/app/go", h="www.example.test")  # another site's Location stays as it is
        self.assertEqual(r.header("Location"), "http://www.example.test/env")
        r = get("/app/download")
        self.assertEqual(r.status, 200, r)
        self.assertNoXs(r)
        self.assertEqual(sha(r.body), sha(self.app.data))
        body, ctype = multipart([("t", "x")], [("file", "f.bin", self.app.data)])
        with Client(pt.port, timeout=15) as c:
            c.send(request_bytes("POST", "/app/form", host, [("Content-Type", ctype)], body))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["files"]["file"]["sha256"], sha(self.app.data))

    def test_concurrent_clients(self):
        """Several client connections at once share the puma threads."""
        clients = [Client(self.pt.port, timeout=15) for _ in range(8)]
        try:
            for i, c in enumerate(clients):
                c.send(request_bytes("GET", "/env?c=%d" % i, self.host))
            for i, c in enumerate(clients):
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["env"]["QUERY_STRING"], "c=%d" % i)
        finally:
            for c in clients:
                c.close()


class RailsPumaUnix(RailsBase):
    """puma on a unix socket, the usual arrangement when portico and the app share a host."""

    need_binaries = ("ruby", "puma")

    @classmethod
    def start_app(cls):
        sock_dir = tempfile.mkdtemp(prefix="portico-rails-sock-")
        path = os.path.join(sock_dir, "puma.sock")
        app = RailsApp(["puma", "-C", os.path.join(APP, "config", "puma.rb"),
                        "-b", "unix://" + path, os.path.join(APP, "config.ru")],
                       "unix:" + path, sock_path=path)
        app.sock_dir = sock_dir
        return app

    @classmethod
    def tearDownClass(cls):
        sock_dir = getattr(cls.app, "sock_dir", None)
        super().tearDownClass()
        if sock_dir:
            shutil.rmtree(sock_dir, ignore_errors=True)

    def conf_body(self):
        return ("server.max-request-size = 4194304\n"
                '$HTTP["url"] =^ "/" {\n'
                '  proxy-core.protocol = "http"\n'
                "  proxy-core.backends = %s\n%s}\n"
                % (conf_list([self.app.addr]), self.docroot_conf()))

    def check_forwarded(self, e):
        self.assertEqual(e["HTTP_X_FORWARDED_FOR"], "127.0.0.1")
        self.assertEqual(e["HTTP_X_FORWARDED_PROTO"], "http")


class RailsFastCGI(RailsBase):
    """The app over FastCGI through Rack::Handler::FastCGI (script/fastcgi): at the root with
    script-name "", and mounted under /fapp with script-name "/fapp", where Rails itself puts
    the prefix into the URLs it builds."""

    requires = ("rails", "action_controller/railtie", "rack/handler/fastcgi")

    @classmethod
    def start_app(cls):
        port = free_port()
        return RailsApp(["ruby", os.path.join(APP, "script", "fastcgi"),
                         "127.0.0.1:%d" % port], "127.0.0.1:%d" % port, port=port)

    def conf_body(self):
        return ("server.max-request-size = 4194304\n"
                "proxy-core.read-timeout = 15\n"
                '$HTTP["url"] =^ "/" {\n'
                '  proxy-core.protocol = "fastcgi"\n'
                "  proxy-core.backends = %s\n"
                "  proxy-core.max-keep-alive-requests = 0\n"  # (as the examples: README.md)
                '  proxy-core.script-name = ""\n%s}\n'
                '$HTTP["url"] =^ "/fapp/" {\n'
                '  proxy-core.script-name = "/fapp"\n'
                "}\n" % (conf_list([self.app.addr]), self.docroot_conf()))

    def check_forwarded(self, e):
        # A FastCGI app gets the client address as REMOTE_ADDR, not as forwarded headers.
        self.assertIsNone(e["HTTP_X_FORWARDED_FOR"])
        self.assertIsNone(e["HTTP_X_FORWARDED_PROTO"])
        self.assertEqual(e["SERVER_PORT"], str(self.pt.port))
        self.assertEqual(e["SERVER_NAME"], "127.0.0.1")

    def test_client_forwarded_headers(self):
        """Over FastCGI the client's X-Forwarded-* headers arrive as HTTP_* variables, as any
        header does; Rails trusts them only from a trusted REMOTE_ADDR, which 127.0.0.1 is."""
        j = self.env_of("/env", headers=[("X-Forwarded-For", "203.0.113.7")])
        self.assertEqual(j["env"]["HTTP_X_FORWARDED_FOR"], "203.0.113.7")
        self.assertEqual(j["remote_ip"], "203.0.113.7")

    def test_sample_config(self):
        """examples/rails/portico-fastcgi.conf: the app at the root and under /app/ with
        script-name "/app"."""
        pt = self.sample_portico("portico-fastcgi.conf",
                                 [('"127.0.0.1:9000"', conf_str(self.app.addr))])
        host = "127.0.0.1:%d" % pt.port
        r = self.get(pt.port, "/app/env?q=1", host=host, timeout=15)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual((j["env"]["SCRIPT_NAME"], j["env"]["PATH_INFO"]), ("/app", "/env"))
        self.assertEqual(j["url"], "http://%s/app/env?q=1" % host)
        r = self.get(pt.port, "/app/go-route", host=host, timeout=15)
        self.assertEqual(r.header("Location"), "http://%s/app/env" % host)
        # /app itself is the mount too (PATH_INFO ""), /application is not
        for target, query in (("/app", ""), ("/app?q=2", "q=2")):
            r = self.get(pt.port, target, host=host, timeout=15)
            self.assertEqual(r.status, 200, (target, r))
            self.assertEqual(r.body.decode(), "SCRIPT_NAME=/app\nPATH_INFO=/\nQUERY_STRING=%s\n"
                             "Host=%s\n" % (query, host), target)
        r = self.get(pt.port, "/application", host=host, timeout=15)
        self.assertEqual(r.status, 404, r)
        r = self.get(pt.port, "/download", host=host, timeout=15)
        self.assertEqual(sha(r.body), sha(self.app.data))

    def test_native_library(self):
        """script/fastcgi makes ruby-fcgi's native library load (script/fcgi_compat.c,
        preloaded): the process runs with it and without the pure-Ruby fallback's notice."""
        self.assertEqual(self.fetch("/env").status, 200)
        with open("/proc/%d/environ" % self.app.proc.p.pid, "rb") as f:
            env = dict(v.split(b"=", 1) for v in f.read().split(b"\0") if b"=" in v)
        self.assertIn(b"fcgi_compat", env.get(b"LD_PRELOAD", b""), self.app.output()[-2000:])
        self.assertNotIn("running pure ruby", self.app.output())

    def test_survives_empty_connection(self):
        """A connection closed before a whole FastCGI request (a port probe, an aborted
        dispatch) stops `rackup -s fastcgi` with the pure-Ruby FCGI; script/fastcgi goes on."""
        host, _, port = self.app.addr.rpartition(":")
        for _ in range(2):
            socket.create_connection((host, int(port)), timeout=5).close()
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"\x01\x01\x00\x01\x00\x08\x00\x00")  # half a BEGIN_REQUEST
        time.sleep(0.2)
        self.assertTrue(self.app.proc.alive(), self.app.output()[-2000:])
        self.assertEqual(self.fetch("/env").status, 200)

    def test_survives_clients_that_leave(self):
        """A whole request whose connection closes before the answer (the answer's write
        fails), and a client that leaves a streamed response halfway: the process serves on."""
        host, _, port = self.app.addr.rpartition(":")

        def record(rtype, content):
            return struct.pack(">BBHHBx", 1, rtype, 1, len(content), 0) + content

        def pair(name, value):
            return bytes([len(name), len(value)]) + name + value
        params = b"".join(pair(k, v) for k, v in (
            (b"REQUEST_METHOD", b"GET"), (b"SCRIPT_NAME", b""), (b"PATH_INFO", b"/slow"),
            (b"QUERY_STRING", b"s=0.3"), (b"SERVER_NAME", b"127.0.0.1"),
            (b"SERVER_PORT", b"80"), (b"SERVER_PROTOCOL", b"HTTP/1.1"),
            (b"REMOTE_ADDR", b"127.0.0.1")))
        begin = record(1, struct.pack(">HB5x", 1, 0))
        for what in (begin, begin + record(4, params) + record(4, b"") + record(5, b"")):
            with socket.create_connection((host, int(port)), timeout=5) as s:
                s.sendall(what)
        with Client(self.pt.port, timeout=15) as c:
            c.send(request_bytes("GET", "/stream?n=8&gap=0.3"))
            r = c.read_head()
            self.assertEqual(r.status, 200, r)
        time.sleep(1.5)  # the rest of the stream meets the closed connection
        self.assertTrue(self.app.proc.alive(), self.app.output()[-2000:])
        self.assertEqual(self.fetch("/env").status, 200)
        self.assertEqual(self.fetch("/slow?s=0").status, 200)

    def test_mounted_script_name(self):
        r = self.fetch("/fapp/")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body.decode(),
                         "SCRIPT_NAME=/fapp\nPATH_INFO=/\nQUERY_STRING=\nHost=%s\n" % self.host)
        j = self.env_of("/fapp/env?y=2")
        self.assertEqual(j["env"]["SCRIPT_NAME"], "/fapp")
        self.assertEqual(j["env"]["PATH_INFO"], "/env")
        self.assertEqual(j["env"]["REQUEST_URI"], "/fapp/env?y=2")
        self.assertEqual(j["url"], "http://%s/fapp/env?y=2" % self.host)
        # redirect_to "/env" takes the path as it is; the route helper adds SCRIPT_NAME.
        r = self.fetch("/fapp/go")
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.header("Location"), "http://%s/env" % self.host)
        r = self.fetch("/fapp/go-route")
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.header("Location"), "http://%s/fapp/env" % self.host)
        r = self.fetch("/fapp/download")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sha(r.body), sha(self.app.data))


del RailsBase  # only its subclasses are test cases
