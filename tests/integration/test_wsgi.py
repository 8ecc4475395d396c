"""The example WSGI app (examples/wsgi/app.py) behind portico, started by portico itself with
examples/wsgi/portico.conf as shipped (only its port and paths changed): gunicorn over HTTP at
/ (listen-fds), uWSGI's python3 plugin over FastCGI under /fcgi (fd 0) and over SCGI under
/scgi (listen-fds). Every route over every way: what the app saw, uploads (urlencoded,
multipart, chunked) by SHA-256, downloads through X-Sendfile (byte identity and the status's
x_sendfile count), a streamed response arriving piece by piece, SCRIPT_NAME in Location; the
first request starting uWSGI; a rolling restart under load with no failed request. Skipped
only when gunicorn, uwsgi-core or uWSGI's python3 plugin is missing."""

import hashlib
import os
import random
import socket
import time
import unittest
import urllib.parse

from harness import (SRCDIR, Client, GatewayTest, conf_str, free_port, group_pids,
                     listening_sockets, multipart, request_bytes, socket_inodes)

APP = os.path.join(SRCDIR, "examples", "wsgi")
GUNICORN = "/usr/bin/gunicorn"
UWSGI = "/usr/bin/uwsgi-core"
UWSGI_PYTHON3 = "/usr/lib/uwsgi/plugins/python3_plugin.so"
FILE_SIZE = 300000
BOOT_TIMEOUT = 45  # seconds for an app to come up on a loaded machine

# mount prefix -> the spawn.apps entry that serves it, and the protocol portico speaks to it
WAYS = (("", "gunicorn", "http"), ("/fcgi", "uwsgi-fcgi", "fastcgi"),
        ("/scgi", "uwsgi-scgi", "scgi"))


def sha(b):
    return hashlib.sha256(b).hexdigest()


class WsgiSpawned(GatewayTest):

    def setUp(self):
        for path, pkg in ((GUNICORN, "gunicorn"), (UWSGI, "uwsgi-core"),
                          (UWSGI_PYTHON3, "uwsgi-plugin-python3")):
            if not os.path.exists(path):
                raise unittest.SkipTest("%s not installed (apt-get install %s)" % (path, pkg))
        super().setUp()
        self.files = os.path.join(self.tmp, "files")
        os.makedirs(self.files)
        self.data = random.Random(12).randbytes(FILE_SIZE)
        with open(os.path.join(self.files, "sample.bin"), "wb") as f:
            f.write(self.data)
        self.restart = os.path.join(self.tmp, "restart.txt")

    # ---- portico with the shipped config ----

    def start(self):
        with open(os.path.join(APP, "portico.conf")) as f:
            text = f.read()
        port = free_port()
        for old, new in (
                ("server.port = 8080", "server.port = %d" % port),
                ('var.app     = env.PWD + "/examples/wsgi"', "var.app = %s" % conf_str(APP)),
                ('var.files   = "/tmp/portico-wsgi-files"',
                 "var.files = %s" % conf_str(self.files)),
                ('var.restart = var.app + "/restart.txt"',
                 "var.restart = %s" % conf_str(self.restart))):
            self.assertIn(old, text, "examples/wsgi/portico.conf changed")
            text = text.replace(old, new)
        self.pt = self.start_portico(text, port=port, raw=True)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while not self.ready_pids("gunicorn", 2):
            self.assertLess(time.monotonic(), deadline,
                            "gunicorn not ready:\n" + self.pt.stderr_text()[-3000:])
            time.sleep(0.1)
        return self.pt

    def status(self):
        r = self.get(self.pt.port, "/portico/status")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def app_status(self, name, st=None):
        st = st or self.status()
        return [a for a in st["apps"] if a["name"] == name and not a.get("retired")][0]

    def ready_pids(self, name, n=None):
        """The app's process ids once every one of them is up (and there are n), else None."""
        procs = self.app_status(name)["processes"]
        ok = procs and all(p["state"] in ("idle", "ready", "busy") for p in procs)
        if not ok or (n is not None and len(procs) != n):
            return None
        return {p["pid"] for p in procs}

    def x_sendfile(self, name):
        """The x_sendfile count of every backend (process slot) of app `name`."""
        total = 0
        for pool in self.status()["pools"]:
            for b in pool["backends"]:
                if b["name"].startswith("spawn:%s/" % name):
                    total += b["x_sendfile"]
        return total

    def call(self, target, method="GET", headers=(), body=None, timeout=60, host="test.local"):
        return self.get(self.pt.port, target, method, headers, body, host, timeout=timeout)

    def env(self, target, **kw):
        r = self.call(target, **kw)
        self.assertEqual(r.status, 200, r)
        return r.json()

    # ---- the tests ----

    def test_routes_every_way(self):
        self.start()
        for prefix, name, proto in WAYS:
            with self.subTest(way=name):
                r = self.call(prefix + "/?a=1&b=%41")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body.decode(), "SCRIPT_NAME=%s\nPATH_INFO=/\n"
                                 "QUERY_STRING=a=1&b=%%41\nHost=test.local\n" % prefix)
                self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
                # a client's own X-Forwarded-Proto is replaced, not believed
                j = self.env(prefix + "/env?x=1", headers=[("X-Forwarded-Proto", "https")])
                e = j["env"]
                self.assertEqual((e["REQUEST_METHOD"], e["SCRIPT_NAME"], e["PATH_INFO"],
                                  e["QUERY_STRING"], e["HTTP_HOST"], e["SERVER_NAME"],
                                  e["wsgi.url_scheme"]),
                                 ("GET", prefix, "/env", "x=1", "test.local", "test.local",
                                  "http"))
                self.assertIn(e["CONTENT_LENGTH"], (None, "", "0"))
                self.assertEqual(e["HTTP_X_FORWARDED_PROTO"], "http")
                if proto == "http":
                    # HTTP has no REMOTE_ADDR to carry: portico says who the client is
                    self.assertEqual(e["SERVER_SOFTWARE"].split("/")[0], "gunicorn")
                    self.assertEqual((e["HTTP_X_FORWARDED_FOR"], e["HTTP_X_FORWARDED_PROTO"],
                                      e["HTTP_X_FORWARDED_HOST"]),
                                     ("127.0.0.1", "http", "test.local"))
                else:
                    self.assertEqual(e["SERVER_SOFTWARE"].split("/")[0], "portico")
                    self.assertEqual((e["REMOTE_ADDR"], e["SERVER_PORT"]),
                                     ("127.0.0.1", str(self.pt.port)))
                    self.assertEqual(e["REQUEST_URI"], prefix + "/env?x=1")
                # the redirect is built from the request and the mount (SCRIPT_NAME)
                r = self.call(prefix + "/go")
                self.assertEqual(r.status, 302, r)
                self.assertEqual(r.header("Location"), "http://test.local%s/env" % prefix)
                r = self.call(prefix + "/go", host="example.org:8443")
                self.assertEqual(r.header("Location"), "http://example.org:8443%s/env" % prefix)
                r = self.call(prefix + "/no/such/route")
                self.assertEqual((r.status, r.body), (404, b"no route for /no/such/route\n"))
                r = self.call(prefix + "/slow?s=0.2")
                self.assertEqual((r.status, r.body), (200, b"slept 0.2\n"))
                r = self.call(prefix + "/slow?s=99")
                self.assertEqual((r.status, r.body), (400, b"s must be from 0 to 20\n"))
                r = self.call(prefix + "/form")
                self.assertEqual((r.status, r.header("Allow")), (405, "POST"))

    def test_large_request_head_every_way(self):
        # uWSGI's default 4 KiB buffer would fail these with 502, gunicorn's own limits with
        # 400: portico.conf lifts both, so portico's 16 KiB bound is the one that holds
        self.start()
        query = "q=" + "b" * 6000
        for prefix, name, _ in WAYS:
            with self.subTest(way=name):
                j = self.env(prefix + "/env?" + query, headers=[("X-Big", "a" * 9000)])
                self.assertEqual(j["env"]["QUERY_STRING"], query)

    def check_form(self, prefix, ctype, body, use_chunked):
        pieces = None
        if use_chunked:
            pieces = [body[i:i + 65000] for i in range(0, len(body), 65000)] or [b""]
        j = self.post_json(self.pt.port, prefix + "/form?g=1", body, ctype, pieces, timeout=60)
        # portico reads a chunked body whole and sends it with its length, to every protocol
        self.assertEqual((j["content_length"], j["body_size"], j["body_sha256"]),
                         (str(len(body)), len(body), sha(body)))
        self.assertEqual(j["query"], {"g": "1"})
        return j

    def test_uploads_every_way(self):
        self.start()
        fields = [("a", "1"), ("b", "x y&z"), ("long", "L" * 100000)]
        form = urllib.parse.urlencode(fields).encode()
        text = b"line one\r\n--not-the-boundary\r\n\r\nline three\n"
        body, ctype = multipart([("title", "a file"), ("n", "42")],
                                [("f", "sample.bin", self.data), ("t", "t.txt", text),
                                 ("e", "empty.bin", b"")])
        want_files = {"f": {"filename": "sample.bin", "size": FILE_SIZE, "sha256": sha(self.data)},
                      "t": {"filename": "t.txt", "size": len(text), "sha256": sha(text)},
                      "e": {"filename": "empty.bin", "size": 0, "sha256": sha(b"")}}
        for prefix, name, _ in WAYS:
            for use_chunked in (False, True):
                with self.subTest(way=name, chunked=use_chunked):
                    j = self.check_form(prefix, "application/x-www-form-urlencoded", form,
                                        use_chunked)
                    self.assertEqual(j["fields"], dict(fields))
                    j = self.check_form(prefix, ctype, body, use_chunked)
                    self.assertEqual(j["fields"], {"title": "a file", "n": "42"})
                    self.assertEqual(j["files"], want_files)

    def test_x_sendfile_every_way(self):
        self.start()
        for prefix, name, _ in WAYS:
            with self.subTest(way=name):
                before = self.x_sendfile(name)
                r = self.call(prefix + "/download")
                self.assertEqual(r.status, 200, r)
                self.assertEqual((len(r.body), r.body == self.data), (FILE_SIZE, True))
                self.assertEqual(r.header("Content-Length"), str(FILE_SIZE))
                self.assertIsNone(r.header("X-Sendfile"))
                self.assertEqual(r.header("Content-Disposition"),
                                 'attachment; filename="sample.bin"')
                # a range of the file, from portico as well
                r = self.call(prefix + "/download?name=sample.bin",
                              headers=[("Range", "bytes=1000-1999")])
                self.assertEqual((r.status, r.body), (206, self.data[1000:2000]), r)
                # both answers were files portico sent from the app's X-Sendfile header
                self.assertEqual(self.x_sendfile(name), before + 2)
                for bad in ("missing.bin", "..%2Fapp.py", "%2Fetc%2Fpasswd", "a%00b"):
                    r = self.call(prefix + "/download?name=" + bad)
                    self.assertEqual((r.status, r.body), (404, b"no such file\n"), bad)
                self.assertEqual(self.x_sendfile(name), before + 2)
                # HEAD gets the file's headers, a known ETag gets 304
                r = self.call(prefix + "/download", method="HEAD")
                self.assertEqual((r.status, r.header("Content-Length"), r.body),
                                 (200, str(FILE_SIZE), b""), r)
                etag = r.header("ETag")
                self.assertTrue(etag, r)
                r = self.call(prefix + "/download", headers=[("If-None-Match", etag)])
                self.assertEqual((r.status, r.body), (304, b""), r)

    def test_streamed_every_way(self):
        """Each piece reaches the client as the app yields it: the app holds its last piece
        until the client, having read the pieces before it, opens the gate."""
        self.start()
        for prefix, name, _ in WAYS:
            with self.subTest(way=name):
                gate = "gate-" + name
                gate_path = os.path.join(self.files, gate)
                got = []

                def sink(piece):
                    got.append(piece)
                    if b"piece 3 of 4" in b"".join(got) and not os.path.exists(gate_path):
                        with open(gate_path, "w"):
                            pass
                with Client(self.pt.port, timeout=30) as c:
                    c.send(request_bytes("GET", prefix + "/stream?n=4&pause=0.05&gate=" + gate))
                    r = c.read_head()
                    self.assertEqual(r.status, 200, r)
                    try:
                        c.body_stream(r, sink=sink)
                    except socket.timeout:
                        self.fail("%s: the pieces before the last did not arrive while the app "
                                  "held the last one; got %r" % (name, b"".join(got)))
                self.assertEqual(r.framing, "chunked")
                self.assertEqual(b"".join(got), b"".join(b"piece %d of 4\n" % i
                                                         for i in range(1, 5)))

    def test_gunicorn_takes_the_passed_socket(self):
        """gunicorn finds LISTEN_FDS/LISTEN_PID, serves on fd 3 (portico's unix socket) and
        binds nothing of its own (its default would be 127.0.0.1:8000)."""
        self.start()
        procs = self.app_status("gunicorn")["processes"]
        self.assertEqual(len(procs), 2)
        tcp, unix = listening_sockets()
        for p in procs:
            path = p["socket"][len("unix:"):]
            self.assertEqual(p["socket"], "unix:" + path)
            # the very socket portico made and holds (not one of the same name)
            passed = {i for i in socket_inodes(self.pt.pid) if unix.get(i) == path}
            self.assertEqual(len(passed), 1, "portico holds no socket %s" % path)
            pids = group_pids(p["pid"])
            self.assertIn(p["pid"], pids)
            self.assertGreater(len(pids), 1, "no gunicorn worker")
            for pid in pids:  # the master and its workers
                held = socket_inodes(pid)
                self.assertEqual(held & tcp, set(), "gunicorn process %d listens on TCP" % pid)
                self.assertEqual({i for i in held if unix.get(i)}, passed,
                                 "gunicorn process %d listens elsewhere" % pid)
        # Four requests at once: each process takes two (its concurrency, its two sync
        # workers), and each of the four is being answered before any of them ends: every
        # one has its first piece out while the app holds the last until the gate opens.
        gate = os.path.join(self.files, "gate-concurrent")
        clients = []
        try:
            for _ in range(4):
                c = Client(self.pt.port, timeout=30)
                clients.append(c)
                c.send(request_bytes("GET", "/stream?n=2&pause=0&gate=gate-concurrent"))
            for c in clients:
                r = c.read_head()
                self.assertEqual(r.status, 200, r)
                while b"piece 1 of 2\n" not in c.buf:
                    self.assertTrue(c._fill(), "the connection closed before the first piece")
            inflight = [p["inflight"] for p in self.app_status("gunicorn")["processes"]]
            self.assertEqual(inflight, [2, 2])
            with open(gate, "w"):
                pass
            for c in clients:
                self.assertIn(b"piece 2 of 2\n", self._rest(c))
        finally:
            for c in clients:
                c.close()

    def _rest(self, client):
        """What is left of a chunked stream's body, up to its last chunk."""
        while b"\r\n0\r\n\r\n" not in client.buf:
            self.assertTrue(client._fill(), "the connection closed before the last chunk")
        return bytes(client.buf)

    def test_first_request_starts_uwsgi(self):
        self.start()
        st = self.status()
        for _, name, _ in WAYS[1:]:
            a = self.app_status(name, st)
            self.assertEqual((a["processes"], a["starts"]), ([], 0), a)
        for prefix, name, _ in WAYS[1:]:
            with self.subTest(way=name):
                j = self.env(prefix + "/env", timeout=BOOT_TIMEOUT)
                a = self.app_status(name)
                self.assertEqual(a["starts"], 1, a)
                self.assertEqual([p["pid"] for p in a["processes"]], [j["pid"]])
                self.assertIn("app %s[%d]: started" % (name, j["pid"]), self.pt.stderr_text())
                # uWSGI found its socket where portico put it
                log = self.pt.stderr_text()
                sock = a["processes"][0]["socket"]
                self.assertTrue(sock.startswith("unix:/"), sock)
                sock = sock[len("unix:"):]
                if name == "uwsgi-fcgi":
                    said = "uwsgi socket 0 inherited UNIX address %s fd 0" % sock
                else:
                    said = "uwsgi socket 0 attached to UNIX address %s fd 3" % sock
                said = "app %s[%d]: %s" % (name, j["pid"], said)
                self.assertTrue(said in log, "no line %r in the error log" % said)

    def test_uwsgi_scales_to_max_procs(self):
        """A uWSGI process serves one request at a time: three requests held open at once
        make portico run three processes (max-procs), each with one in flight; a fourth
        waits for one of them and is answered once they end."""
        self.start()
        for prefix, name, _ in WAYS[1:]:
            with self.subTest(way=name):
                gate = "gate-scale-" + name
                target = prefix + "/stream?n=2&pause=0&gate=" + gate
                clients = []
                try:
                    for _ in range(3):
                        c = Client(self.pt.port, timeout=BOOT_TIMEOUT)
                        clients.append(c)
                        c.send(request_bytes("GET", target))
                    for c in clients:
                        r = c.read_head()
                        self.assertEqual(r.status, 200, r)
                        while b"piece 1 of 2\n" not in c.buf:
                            self.assertTrue(c._fill(), "closed before the first piece")
                    procs = self.app_status(name)["processes"]
                    self.assertEqual(sorted(p["inflight"] for p in procs), [1, 1, 1], procs)
                    fourth = Client(self.pt.port, timeout=BOOT_TIMEOUT)
                    clients.append(fourth)
                    fourth.send(request_bytes("GET", prefix + "/env"))
                    time.sleep(0.3)
                    self.assertEqual(len(self.app_status(name)["processes"]), 3)
                    with open(os.path.join(self.files, gate), "w"):
                        pass
                    for c in clients[:3]:
                        self.assertIn(b"piece 2 of 2\n", self._rest(c))
                    r = fourth.read_response()
                    self.assertEqual(r.status, 200, r)
                    self.assertIn(r.json()["pid"], {p["pid"] for p in procs})
                finally:
                    for c in clients:
                        c.close()

    def test_rolling_restart_under_load(self):
        """Touching the restart-file replaces every process of the three apps while clients
        keep asking each of them: no request fails."""
        pt = self.start()
        for prefix, _, _ in WAYS[1:]:
            self.env(prefix + "/env", timeout=BOOT_TIMEOUT)  # uWSGI starts on demand
        before = {name: self.ready_pids(name) for _, name, _ in WAYS}
        self.assertTrue(all(before.values()), before)
        targets = ("/", "/stream?n=3&pause=0.1", "/fcgi/download", "/scgi/stream?n=2&pause=0.1")
        with self.requests_during(pt.port, targets) as results:
            time.sleep(1.2)  # (the file is looked at every second)
            with open(self.restart, "w"):
                pass
            deadline = time.monotonic() + 40
            waiting = dict(before)
            while waiting:
                for name in list(waiting):
                    now = self.ready_pids(name)
                    if now and not now & before[name]:
                        del waiting[name]
                self.assertLess(time.monotonic(), deadline, "not replaced: %s\n%s"
                                % (sorted(waiting), pt.stderr_text()[-3000:]))
                time.sleep(0.1)
            time.sleep(0.5)
        failed = [x for x in results if x != 200]
        print("WSGI apps spawned by portico, restart-file touched under load: %d requests, "
              "%d failed" % (len(results), len(failed)))
        self.assertEqual(failed, [])
        self.assertGreater(len(results), 20)
        log = pt.stderr_text()
        self.assertIn("app gunicorn: restart-file: replacing 2 processes", log)
        for name in ("uwsgi-fcgi", "uwsgi-scgi"):
            self.assertIn("app %s: restart-file: replacing" % name, log)
