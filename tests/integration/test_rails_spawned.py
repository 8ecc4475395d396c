"""examples/rails started by portico itself (spawn.apps), with the sample configs as shipped
(only the port and the directories changed): each way alone, at / and mounted under /shop,

  portico-spawn-http.conf     puma over HTTP (listen-fds), /shop by a second puma app that
                              runs with RAILS_RELATIVE_URL_ROOT=/shop
  portico-spawn-fastcgi.conf  script/fastcgi (Rack's FastCGI handler) on fd 0, script-name
  portico-spawn-scgi.conf     uWSGI's rack plugin over SCGI (listen-fds), script-name

and all three at once in portico-spawn.conf, whose restart-file is touched under load. Every
action of the app over every way: text, JSON, form posts and uploads (checksums), downloads
through X-Sendfile (the same bytes, and portico's x_sendfile count grown by exactly the
number of downloads), redirects, links built by route helpers, a streamed response (streamed
by all three: puma, uWSGI, and script/fastcgi with ruby-fcgi's native library) and a slow
action. Skipped only when a program or Ruby library is missing."""

import os
import random
import re
import shutil
import signal
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import (Client, GatewayTest, Portico, conf_str, free_port, multipart, request_bytes,
                     sanitizer_report)
from test_rails import APP, FILE_SIZE, ruby_missing, sha

INSTALL = "apt-get install ruby-rails puma ruby-fcgi uwsgi-core uwsgi-plugin-rack-ruby3.1"
UWSGI_RACK = "/usr/lib/uwsgi/plugins/rack_plugin.so"
LIVE = ("idle", "ready", "busy")


def missing(binaries, requires, files=()):
    """Why a way cannot run here (a skip reason), or None."""
    for b in binaries:
        if not shutil.which(b):
            return "%s not installed (%s)" % (b, INSTALL)
    for f in files:
        if not os.path.exists(f):
            return "%s missing (%s)" % (f, INSTALL)
    return ruby_missing(requires)


def sample_text(name, port, files, restart):
    """examples/rails/NAME with the port, DOWNLOAD_DIR and restart-file of the test; each of
    the lines replaced must be there, so the sample stays one that works."""
    with open(os.path.join(APP, name)) as f:
        text = f.read()
    for old, new in (("server.port = 8080", "server.port = %d" % port),
                     ('var.app   = env.PWD + "/examples/rails"', "var.app = %s" % conf_str(APP)),
                     ('var.files = "/tmp/portico-rails-files"', "var.files = %s" % conf_str(files)),
                     ('var.restart = var.app + "/tmp/restart.txt"',
                      "var.restart = %s" % conf_str(restart))):
        if old not in text:
            raise AssertionError("examples/rails/%s changed: no %r" % (name, old))
        text = text.replace(old, new)
    return text


def portico_env(tmp):
    """portico's environment with HOME in the test's directory tmp: script/fastcgi, which
    gets HOME ("copy-environment"), keeps the compat library it compiles under HOME/.cache,
    the test's then and not the user's."""
    home = os.path.join(tmp, "home")
    os.makedirs(home, exist_ok=True)
    return dict(os.environ, HOME=home)


def make_files(tmp):
    files = os.path.join(tmp, "files")
    os.makedirs(files)
    data = random.Random(20240611).randbytes(FILE_SIZE)
    with open(os.path.join(files, "sample.bin"), "wb") as f:
        f.write(data)
    return files, data


class SpawnedBase(GatewayTest):
    """Reads status.status-url of a portico started from a sample config."""

    def status(self, pt):
        r = self.get(pt.port, "/portico/status", timeout=15)
        self.assertEqual(r.status, 200, r)
        return r.json()

    def app_status(self, pt, name):
        return [a for a in self.status(pt)["apps"]
                if a["name"] == name and not a.get("retired")][0]

    def sent_files(self, pt):
        """The x_sendfile counts of every spawned process slot, added up."""
        return sum(b["x_sendfile"] for p in self.status(pt)["pools"] for b in p["backends"]
                   if b["name"].startswith("spawn:"))


class SpawnedWay(SpawnedBase):
    """One way of running the app, from its sample config; portico (and so the app) is
    started by the first test of the class and kept for the others."""

    conf = None         # the sample config's name in examples/rails
    binaries = ()
    requires = ("rails", "action_controller/railtie")
    files_needed = ()
    forwarded = False   # whether the app gets X-Forwarded-* (over HTTP) or not (FastCGI, SCGI)
    pt = None
    start_error = None

    @classmethod
    def tearDownClass(cls):
        pt, cls.pt = cls.pt, None
        if pt is None:
            return
        rc = pt.stop(signal.SIGTERM, timeout=30)
        err = pt.stderr_text()
        shutil.rmtree(cls.tmpdir, ignore_errors=True)
        if rc != 0 or sanitizer_report(err):
            raise AssertionError("portico (%s) exited %s%s:\n%s" % (
                cls.conf, rc, " with a sanitizer report" if sanitizer_report(err) else "",
                err[-6000:]))

    def setUp(self):
        why = missing(self.binaries, self.requires, self.files_needed)
        if why:
            raise unittest.SkipTest(why)
        super().setUp()
        cls = type(self)
        if cls.start_error:
            raise AssertionError("portico did not start earlier: %s" % cls.start_error)
        if cls.pt is None:
            try:
                self.start_class_portico()
            except AssertionError as e:
                cls.start_error = str(e)
                raise
        if not cls.pt.alive():
            cls.start_error = "portico exited:\n" + cls.pt.stderr_text()[-4000:]
            raise AssertionError(cls.start_error)
        self.log_mark = len(cls.pt.stderr_text())
        self.addCleanup(self._log_tail)
        self.host = "127.0.0.1:%d" % cls.pt.port

    def start_class_portico(self):
        cls = type(self)
        cls.tmpdir = tempfile.mkdtemp(prefix="portico-rails-spawned-")
        cls.files, cls.data = make_files(cls.tmpdir)
        port = free_port()
        text = sample_text(cls.conf, port, cls.files, os.path.join(cls.tmpdir, "restart.txt"))
        cls.pt = Portico(cls.tmpdir, text, port, env=portico_env(cls.tmpdir))
        # The first request of each mount waits for its app's processes to boot.
        for prefix in ("", "/shop"):
            try:
                r = self.get(cls.pt.port, prefix + "/env", host="127.0.0.1:%d" % port,
                             timeout=60)
            except OSError as e:
                raise AssertionError("%s%s/env: %r\n%s" % (cls.conf, prefix, e,
                                                           cls.pt.stderr_text()[-4000:]))
            if r.status != 200:
                raise AssertionError("%s%s/env answered %d:\n%s" % (
                    cls.conf, prefix, r.status, cls.pt.stderr_text()[-4000:]))

    def _log_tail(self):
        pt = type(self).pt
        if pt is not None:
            self.diag.append("--- portico stderr (%s) ---\n%s"
                             % (self.conf, pt.stderr_text()[self.log_mark:][-6000:]))

    def fetch(self, target, method="GET", headers=(), body=None, host=None, timeout=30):
        with Client(self.pt.port, timeout=timeout) as c:
            c.send(request_bytes(method, target, host or self.host, headers, body))
            return c.read_response(method)

    def env_of(self, target):
        r = self.fetch(target)
        self.assertEqual(r.status, 200, (target, r))
        self.assertTrue(r.header("Content-Type").startswith("application/json"), r)
        return r.json()

    # ---- every way, at / and under /shop ----

    def test_text_env_and_links(self):
        for prefix in ("", "/shop"):
            with self.subTest(mount=prefix or "/"):
                targets = [(prefix + "/", ""), (prefix + "/?q=1", "q=1")]
                if prefix:  # the mount itself, PATH_INFO "" (which Rails reads as "/")
                    targets += [(prefix, ""), (prefix + "?q=2", "q=2")]
                for target, query in targets:
                    r = self.fetch(target)
                    self.assertEqual(r.status, 200, (target, r))
                    self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
                    self.assertEqual(r.body.decode(), "SCRIPT_NAME=%s\nPATH_INFO=/\n"
                                     "QUERY_STRING=%s\nHost=%s\n"
                                     % (prefix, query, self.host), target)
                j = self.env_of(prefix + "/env?a=1&b=%20x")
                e = j["env"]
                self.assertEqual((e["SCRIPT_NAME"], e["PATH_INFO"], e["QUERY_STRING"]),
                                 (prefix, "/env", "a=1&b=%20x"))
                self.assertEqual(e["REQUEST_URI"], prefix + "/env?a=1&b=%20x")
                self.assertEqual(e["HTTP_HOST"], self.host)
                self.assertEqual(j["url"], "http://%s%s/env?a=1&b=%%20x" % (self.host, prefix))
                self.assertEqual(j["remote_ip"], "127.0.0.1")
                self.assertEqual(j["port"], self.pt.port)
                self.assertEqual(e["HTTP_X_FORWARDED_FOR"],
                                 "127.0.0.1" if self.forwarded else None)
                # links built by route helpers carry the mount
                r = self.fetch(prefix + "/page")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
                page = r.body.decode()
                self.assertIn('<a id="env-path" href="%s/env">' % prefix, page)
                self.assertIn('<a id="env-url" href="http://%s%s/env">' % (self.host, prefix),
                              page)
                self.assertIn('<a id="stream-path" href="%s/stream">' % prefix, page)
        # /shopping is not the mount: the app at the root has no such route
        self.assertEqual(self.fetch("/shopping").status, 404)

    def test_redirects(self):
        for prefix in ("", "/shop"):
            with self.subTest(mount=prefix or "/"):
                # the route helper puts the mount in; a path given as a string is taken as it
                # is (Rails' behaviour): /shop/go goes to /env, outside the mount
                r = self.fetch(prefix + "/go-route")
                self.assertEqual(r.status, 302, r)
                loc = r.header("Location")
                self.assertEqual(loc, "http://%s%s/env" % (self.host, prefix))
                self.assertIn('href="%s"' % loc, r.body.decode())
                j = self.env_of(urllib.parse.urlsplit(loc).path)
                self.assertEqual(j["env"]["SCRIPT_NAME"], prefix)
                r = self.fetch(prefix + "/go")
                self.assertEqual(r.status, 302, r)
                self.assertEqual(r.header("Location"), "http://%s/env" % self.host)
                r = self.fetch(prefix + "/go-route", host="www.example.test:8443")
                self.assertEqual(r.header("Location"), "http://www.example.test:8443%s/env"
                                 % prefix)

    def post(self, target, body, ctype, pieces=None):
        j = self.post_json(self.pt.port, target, body, ctype, pieces, self.host, timeout=60)
        self.assertEqual(j["content_length"], len(body))
        return j

    def test_form_posts_and_uploads(self):
        fields = [("a", "1"), ("b", "x y&z=\u00fc"), ("long", "L" * 50000)]
        upload = random.Random(7).randbytes(700001)
        mp, ctype = multipart([("title", "a file"), ("n", "42")], [("file", "up.bin", upload)])
        step = len(mp) // 9 + 1
        pieces = [mp[i:i + step] for i in range(0, len(mp), step)]
        for prefix in ("", "/shop"):
            with self.subTest(mount=prefix or "/"):
                body = urllib.parse.urlencode(fields).encode()
                j = self.post(prefix + "/form?q=2", body, "application/x-www-form-urlencoded")
                self.assertEqual(j["params"], dict(fields))
                self.assertEqual(j["query"], {"q": "2"})
                for chunks in (None, pieces):
                    j = self.post(prefix + "/form", mp, ctype, chunks)
                    self.assertEqual(j["params"], {"title": "a file", "n": "42"})
                    self.assertEqual(j["files"], {"file": {"filename": "up.bin",
                                                           "size": len(upload),
                                                           "sha256": sha(upload)}})
                    self.assertEqual(j["media_type"], "multipart/form-data")

    def test_downloads_through_x_sendfile(self):
        """Each download is the file's bytes, sent by portico: the app's processes answered
        with X-Sendfile only, and the status counts exactly these downloads."""
        before = self.sent_files(self.pt)
        n = 0
        for prefix in ("", "/shop"):
            for _ in range(2):
                r = self.fetch(prefix + "/download", timeout=60)
                n += 1
                self.assertEqual(r.status, 200, (prefix, r))
                self.assertIsNone(r.header("X-Sendfile"), r)
                self.assertEqual(r.header("Content-Length"), str(FILE_SIZE))
                self.assertEqual(r.header("Content-Type"), "application/octet-stream")
                self.assertIn('filename="sample.bin"', r.header("Content-Disposition") or "")
                self.assertEqual(sha(r.body), sha(self.data), prefix)
        self.assertEqual(self.sent_files(self.pt) - before, n)
        # a range and a HEAD are answered from the file too
        r = self.fetch("/shop/download", headers=[("Range", "bytes=1000-1999")])
        self.assertEqual((r.status, r.header("Content-Range")),
                         (206, "bytes 1000-1999/%d" % FILE_SIZE), r)
        self.assertEqual(r.body, self.data[1000:2000])
        r = self.fetch("/download", method="HEAD")
        self.assertEqual((r.status, r.header("Content-Length"), r.body),
                         (200, str(FILE_SIZE), b""), r)
        self.assertIsNone(r.header("X-Sendfile"), r)
        self.assertEqual(self.fetch("/download?name=missing.bin").status, 404)

    def stream_times(self, target):
        """GET target; for each line of the body, when it was made (the app says) and when
        its last byte arrived here."""
        lines = []
        buf = bytearray()

        def sink(piece):
            now = time.time()
            buf.extend(piece)
            while b"\n" in buf:
                i = buf.index(b"\n")
                lines.append((bytes(buf[:i]).decode(), now))
                del buf[:i + 1]
        with Client(self.pt.port, timeout=60) as c:
            c.send(request_bytes("GET", target, self.host))
            r = c.read_head()
            self.assertEqual(r.status, 200, r)
            self.assertTrue(r.header("Content-Type").startswith("text/plain"), r)
            c.body_stream(r, sink=sink)
        self.assertEqual(bytes(buf), b"")
        out = []
        for i, (line, arrived) in enumerate(lines):
            m = re.match(r"^(\d+) of (\d+) at (\d+\.\d+)$", line)
            self.assertTrue(m, line)
            self.assertEqual((int(m.group(1)), int(m.group(2))), (i + 1, len(lines)), lines)
            out.append((float(m.group(3)), arrived))
        return out

    def test_streamed_response(self):
        """Four lines a second apart: the first arrives before the last is made (kept whole
        somewhere on the way, it would arrive after). An order on one clock, not a speed."""
        for prefix in ("", "/shop"):
            with self.subTest(mount=prefix or "/"):
                t = self.stream_times(prefix + "/stream?n=4&gap=1")
                self.assertEqual(len(t), 4)
                self.assertGreaterEqual(t[-1][0] - t[0][0], 2.9, t)  # the app slept between
                first_arrived, last_made = t[0][1], t[-1][0]
                self.assertLess(first_arrived, last_made, t)

    def test_slow_action(self):
        """A slow action completes, and a request beside it is answered too."""
        got = {}

        def slow():
            try:
                r = self.fetch("/shop/slow?s=3", timeout=60)
                got["slow"] = (r.status, r.body)
            except Exception as e:
                got["slow"] = repr(e)
        t0 = time.monotonic()
        th = threading.Thread(target=slow)
        th.start()
        try:
            r = self.fetch("/env", timeout=60)
            self.assertEqual(r.status, 200, r)
        finally:
            th.join(60)
        self.assertEqual(got.get("slow"), (200, b"slept 3\n"))
        self.assertGreaterEqual(time.monotonic() - t0, 3.0)  # (it did sleep)
        r = self.fetch("/slow?s=0.2")
        self.assertEqual((r.status, r.body), (200, b"slept 0.2\n"))


class RailsSpawnedHttp(SpawnedWay):
    """portico-spawn-http.conf: puma over HTTP; /shop by the app's own prefix setting."""

    conf = "portico-spawn-http.conf"
    binaries = ("ruby", "puma")
    forwarded = True


class RailsSpawnedFastCGI(SpawnedWay):
    """portico-spawn-fastcgi.conf: script/fastcgi on fd 0 (with ruby-fcgi's native library,
    which streams; its pure-Ruby fallback would not); /shop by script-name."""

    conf = "portico-spawn-fastcgi.conf"
    binaries = ("ruby",)
    requires = ("rails", "action_controller/railtie", "rack/handler/fastcgi")


class RailsSpawnedScgi(SpawnedWay):
    """portico-spawn-scgi.conf: uWSGI's rack plugin over SCGI on a socket passed as
    LISTEN_FDS; /shop by script-name."""

    conf = "portico-spawn-scgi.conf"
    binaries = ("ruby", "uwsgi-core")
    files_needed = (UWSGI_RACK,)


del SpawnedWay  # only its subclasses are test cases


class RailsSpawned(SpawnedBase):
    """examples/rails/portico-spawn.conf as shipped: portico starts the app itself, puma over
    HTTP (listen-fds) at /, script/fastcgi over FastCGI (fd 0) under /fcgi and uWSGI over SCGI
    (listen-fds) under /scgi; a restart-file touched under load replaces every process of the
    three with no failed request."""

    def setUp(self):
        why = missing(("ruby", "puma", "uwsgi-core"),
                      ("rails", "action_controller/railtie", "rack/handler/fastcgi"),
                      (UWSGI_RACK,))
        if why:
            raise unittest.SkipTest(why)
        super().setUp()

    def test_spawned_three_ways_and_restarted_under_load(self):
        files, data = make_files(self.tmp)
        restart = os.path.join(self.tmp, "restart.txt")
        port = free_port()
        pt = self.start_portico(sample_text("portico-spawn.conf", port, files, restart),
                                port=port, raw=True, env=portico_env(self.tmp))

        def pids(name):
            """The app's processes: (all pids, those ready)."""
            procs = self.app_status(pt, name)["processes"]
            return ({p["pid"] for p in procs},
                    {p["pid"] for p in procs if p["state"] in LIVE})

        deadline = time.monotonic() + 60
        while len(pids("puma")[1]) < 2 or not pids("uwsgi")[1]:
            self.assertLess(time.monotonic(), deadline, "puma or uwsgi not ready:\n"
                            + pt.stderr_text()[-3000:])
            time.sleep(0.1)
        # over HTTP from puma
        env = self.get(pt.port, "/env").json()["env"]
        self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), ("", "/env"))
        body, ctype = multipart([("note", "hi")], [("file", "sample.bin", data)])
        for prefix in ("", "/scgi"):
            r = self.get(pt.port, prefix + "/form", method="POST", body=body,
                         headers=[("Content-Type", ctype)], timeout=30)
            self.assertEqual(r.status, 200, (prefix, r))
            self.assertEqual(r.json()["files"]["file"]["sha256"], sha(data), prefix)
        sent = self.sent_files(pt)
        for prefix in ("", "/fcgi", "/scgi"):  # the file through X-Sendfile, from all three
            r = self.get(pt.port, prefix + "/download", timeout=60)
            self.assertEqual((r.status, sha(r.body)), (200, sha(data)), prefix)
        self.assertEqual(self.sent_files(pt) - sent, 3)
        # over FastCGI from script/fastcgi (started by the first request) under /fcgi, and
        # over SCGI from uWSGI under /scgi
        for prefix in ("/fcgi", "/scgi"):
            env = self.get(pt.port, prefix + "/env", timeout=60).json()["env"]
            self.assertEqual((env["SCRIPT_NAME"], env["PATH_INFO"]), (prefix, "/env"))
            r = self.get(pt.port, prefix + "/go-route", timeout=30)
            self.assertEqual(r.status, 302, r)
            self.assertEqual(r.header("Location"), "http://test.local%s/env" % prefix)
        # a deploy: touch the restart-file while clients keep asking; each app is replaced
        # once none of the processes it had at the touch is left and enough new ones are up
        with self.requests_during(pt.port, ("/", "/env"), timeout=60) as http, \
                self.requests_during(pt.port, ("/fcgi/",), timeout=60) as fcgi, \
                self.requests_during(pt.port, ("/scgi/", "/scgi/env"), timeout=60) as scgi:
            time.sleep(1.2)  # (the file is looked at every second)
            before = {name: pids(name)[0] for name in ("puma", "fcgi", "uwsgi")}
            fcgi_at_touch = len(fcgi)
            with open(restart, "w"):
                pass
            self.assertTrue(before["fcgi"], "no fcgi process at the touch")
            deadline = time.monotonic() + 60
            for name, n in (("puma", 2), ("fcgi", 1), ("uwsgi", 1)):
                while True:
                    every, ready = pids(name)
                    if len(ready) >= n and not every & before[name]:
                        break
                    self.assertLess(time.monotonic(), deadline, "%s not replaced:\n%s"
                                    % (name, pt.stderr_text()[-3000:]))
                    time.sleep(0.1)
            # the fcgi clients asked all through its replacement: answers came before the
            # touch, and keep coming from the new processes
            fcgi_at_replaced = len(fcgi)
            while len(fcgi) < fcgi_at_replaced + 2:
                self.assertLess(time.monotonic(), deadline, "no fcgi answer after its "
                                "replacement:\n%s" % pt.stderr_text()[-3000:])
                time.sleep(0.1)
            time.sleep(0.5)
        self.assertGreater(fcgi_at_touch, 0, "no fcgi answer before the touch")
        results = {"http": http, "fcgi": fcgi, "scgi": scgi}
        failed = {way: [x for x in r if x != 200] for way, r in results.items()}
        print("Rails spawned by portico three ways, restart-file touched under load: %s"
              % ", ".join("%s %d requests, %d failed" % (way, len(r), len(failed[way]))
                          for way, r in results.items()))
        self.assertEqual(failed, {"http": [], "fcgi": [], "scgi": []})
        for way, r in results.items():
            self.assertGreater(len(r), 5, way)
        err = pt.stderr_text()
        self.assertIn("app puma: restart-file: replacing 2 processes", err)
        self.assertIn("app fcgi: restart-file: replacing", err)
        self.assertIn("app uwsgi: restart-file: replacing", err)
