"""X-Sendfile (SPEC §5): a backend names a file in X-Sendfile (or X-LIGHTTPD-send-file) and
the gateway answers with that file instead of the backend's body, confined to the route's
x-sendfile-docroot. The same for HTTP, FastCGI and SCGI backends: the echo backends send any
response header a test puts in the query (header=Name:Value, the value URL-encoded)."""

import email.utils
import hashlib
import os
import time
import unittest
import urllib.parse

from harness import Client, GatewayTest, conf_list, conf_str, request_bytes

PROTOS = (("h", "http_echo", "http"), ("f", "fcgi_echo", "fastcgi"),
          ("s", "scgi_echo", "scgi"))
MTIME = 1600000000  # a fixed mtime, so Last-Modified and the date conditions are exact
EMPTY_FCGI_STDOUT = "sendhex 0106000100000000"


def q(s):
    return urllib.parse.quote(s, safe="")


def xs_target(prefix, path, name="X-Sendfile", extra=""):
    """A target that makes an echo backend answer with `name: path`."""
    return "/%s/x?header=%s%s" % (prefix, q("%s:%s" % (name, path)), extra)


def sha(b):
    return hashlib.sha256(b).hexdigest()


class XSendfile(GatewayTest):
    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "root")
        self.outside = os.path.join(self.tmp, "outside")
        os.makedirs(os.path.join(self.root, "sub"))
        os.makedirs(self.outside)
        self.secret = self.put(os.path.join(self.outside, "secret.txt"), b"outside the root\n")
        conf = ""
        self.addrs = {}
        for prefix, backend, proto in PROTOS:
            addr = self.start_backend(backend)
            self.addrs[prefix] = addr
            allowed = ("  proxy-core.allow-x-sendfile = \"enable\"\n"
                       "  proxy-core.x-sendfile-docroot = %s\n" % conf_list([self.root]))
            for p, extra in ((prefix, allowed), ("n" + prefix, "")):
                conf += ('$HTTP["url"] =^ "/%s/" {\n'
                         "  proxy-core.protocol = %s\n"
                         "  proxy-core.backends = %s\n%s}\n"
                         % (p, conf_str(proto), conf_list([addr]), extra))
        self.pt = self.start_portico('status.status-url = "/portico/status"\n' + conf)

    def put(self, path, data):
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (MTIME, MTIME))
        return path

    def file(self, name, data):
        return self.put(os.path.join(self.root, name), data)

    def fetch(self, target, method="GET", headers=()):
        return self.get(self.pt.port, target, method=method, headers=headers)

    def assertNoXs(self, r):
        for n in ("X-Sendfile", "X-LIGHTTPD-send-file"):
            self.assertIsNone(r.header(n), "%s reached the client: %r" % (n, r))

    def assertFileAnswer(self, r, data, ctype="application/json"):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Length"), str(len(data)))
        self.assertEqual(len(r.all("Content-Length")), 1, r)
        self.assertIsNone(r.header("Transfer-Encoding"))
        self.assertEqual(sha(r.body), sha(data))
        self.assertEqual(r.header("Last-Modified"), email.utils.formatdate(MTIME, usegmt=True))
        etag = r.header("ETag")
        self.assertTrue(etag and etag.startswith('"') and etag.endswith('"'), r)
        self.assertEqual(r.header("Content-Type"), ctype)
        self.assertEqual(len(r.all("Content-Type")), 1, r)
        self.assertNoXs(r)

    # ---- the file goes out ----

    def test_sizes_and_keepalive(self):
        files = {n: self.file("f%d.bin" % n, os.urandom(n)) for n in (0, 1, 65536)}
        for prefix, _, _ in PROTOS:
            for n, path in files.items():
                with self.subTest(proto=prefix, size=n), Client(self.pt.port) as c:
                    with open(path, "rb") as f:
                        data = f.read()
                    c.send(request_bytes("GET", xs_target(prefix, path)))
                    r = c.read_response()
                    # the echo backends send Content-Type: application/json: kept
                    self.assertFileAnswer(r, data)
                    # the same client connection goes on with an ordinary request
                    c.send(request_bytes("GET", "/%s/again" % prefix))
                    r2 = c.read_response()
                    self.assertEqual(r2.status, 200, r2)
                    self.assertEqual(r2.json()["backend"], self.addrs[prefix])

    def test_large_file_100mib(self):
        size = 100 << 20
        path = os.path.join(self.root, "big.bin")
        h = hashlib.sha256()
        block = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for i in range(size >> 20):
                piece = bytes([i & 0xFF]) + block[1:]
                f.write(piece)
                h.update(piece)
        want = h.hexdigest()
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix), Client(self.pt.port, timeout=20) as c:
                t0 = time.monotonic()
                c.send(request_bytes("GET", xs_target(prefix, path)))
                r = c.read_head()
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Length"), str(size))
                got = hashlib.sha256()
                n = c.body_stream(r, sink=got.update)
                self.assertEqual(n, size)
                self.assertEqual(got.hexdigest(), want)
                self.assertLess(time.monotonic() - t0, 15)
                c.send(request_bytes("GET", "/%s/after" % prefix))
                self.assertEqual(c.read_response().status, 200)

    def sent_files(self):
        """Each backend's x_sendfile count in the status (by its address)."""
        st = self.fetch("/portico/status").json()
        counts = {}
        for p in st["pools"]:
            for b in p["backends"]:
                counts[b["name"]] = counts.get(b["name"], 0) + b["x_sendfile"]
        return counts

    def test_counted_in_status(self):
        data = os.urandom(5000)
        path = self.file("counted.bin", data)
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix):
                addr = self.addrs[prefix]
                before = self.sent_files()
                for _ in range(3):
                    self.assertFileAnswer(self.fetch(xs_target(prefix, path)), data)
                # not a 2xx, refused (outside the root), not allowed on the route: not counted
                self.assertEqual(self.fetch(xs_target(prefix, path, extra="&status=304")).status,
                                 304)
                self.assertEqual(self.fetch(xs_target(prefix, "/etc/passwd")).status, 403)
                r = self.fetch(xs_target("n" + prefix, path))
                self.assertEqual(r.status, 200)
                self.assertNoXs(r)  # (taken off, never passed on)
                after = self.sent_files()
                self.assertEqual(after[addr] - before[addr], 3, after)

    def test_lighttpd_header_name(self):
        data = b"lighttpd style\n"
        path = self.file("l.txt", data)
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix):
                r = self.fetch(xs_target(prefix, path, name="X-LIGHTTPD-send-file"))
                self.assertFileAnswer(r, data)

    def test_backend_body_dropped(self):
        # the backend sends a 1 MB body of its own with the header: none of it goes out, and
        # the connection still serves the next request
        data = b"the file, not the backend's bytes\n"
        path = self.file("d.txt", data)
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                c.send(request_bytes("GET", xs_target(prefix, path, extra="&bytes=1000000")))
                r = c.read_response()
                self.assertEqual(r.body, data)
                self.assertEqual(r.header("Content-Length"), str(len(data)))
                self.assertEqual(r.header("Content-Type"), "application/octet-stream")
                c.send(request_bytes("GET", "/%s/next" % prefix))
                r2 = c.read_response()
                self.assertEqual(r2.status, 200)
                self.assertIn(b'"body_len":0', r2.body)

    def test_backend_body_chunked_or_slow(self):
        # a chunked backend body, or one still dripping while the file is already out: the
        # request ends only when the backend exchange ends, and the next request works
        data = os.urandom(3000)
        path = self.file("slow.bin", data)
        for prefix, _, _ in PROTOS:
            for extra in ("&chunked=1", "&bytes=6000&drip_ms=20", "&chunked=1&bytes=70000"):
                with self.subTest(proto=prefix, extra=extra), Client(self.pt.port) as c:
                    c.send(request_bytes("GET", xs_target(prefix, path, extra=extra)))
                    r = c.read_response()
                    self.assertEqual((r.status, r.body), (200, data))
                    self.assertEqual(r.header("Content-Length"), "3000")
                    c.send(request_bytes("GET", "/%s/next" % prefix))
                    self.assertEqual(c.read_response().json()["body_len"], 0)

    def test_http10_client(self):
        data = b"for an HTTP/1.0 client\n"
        path = self.file("ten.txt", data)
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix, keepalive=False), Client(self.pt.port) as c:
                c.send(request_bytes("GET", xs_target(prefix, path), version="HTTP/1.0"))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, data))
                self.assertEqual(r.header("Connection"), "close")
                self.assertClosed(c)
            with self.subTest(proto=prefix, keepalive=True), Client(self.pt.port) as c:
                req = request_bytes("GET", xs_target(prefix, path), version="HTTP/1.0",
                                    headers=[("Connection", "keep-alive")])
                c.send(req)
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, data))
                self.assertEqual(r.header("Connection"), "keep-alive")
                c.send(req)
                self.assertEqual(c.read_response().body, data)

    # The last request a connection may carry (server.max-keep-alive-requests) is answered
    # with "Connection: close" and then closed, as for any response: the client must learn
    # from the head that the connection ends.
    def test_last_keepalive_request_says_close(self):
        data = b"last one\n"
        path = self.file("last.txt", data)
        addr = self.start_backend("http_echo")
        pt = self.start_portico(
            "server.max-keep-alive-requests = 2\nproxy-core.backends = %s\n"
            "proxy-core.allow-x-sendfile = \"enable\"\nproxy-core.x-sendfile-docroot = %s\n"
            % (conf_list([addr]), conf_list([self.root])))
        with Client(pt.port) as c:
            c.send(request_bytes("GET", "/plain"))
            r = c.read_response()
            self.assertNotEqual(r.header("Connection"), "close")  # the first of two
            c.send(request_bytes("GET", xs_target("z", path)))
            r = c.read_response()
            self.assertEqual(r.body, data)
            self.assertClosed(c)
            self.assertEqual(r.header("Connection"), "close", r)

    def test_other_backend_headers_kept(self):
        data = b"attachment\n"
        path = self.file("a.txt", data)
        extra = "&header=" + q("Content-Disposition:attachment; filename=\"a.txt\"") + \
                "&header=" + q("Set-Cookie:k=v; Path=/")
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix):
                r = self.fetch(xs_target(prefix, path, extra=extra))
                self.assertFileAnswer(r, data)
                self.assertEqual(r.header("Content-Disposition"), 'attachment; filename="a.txt"')
                self.assertEqual(r.header("Set-Cookie"), "k=v; Path=/")

    def content_type_script(self, proto, path):
        if proto == "http":
            return ("read\nsend HTTP/1.1 200 OK\\r\\nX-Sendfile: %s\\r\\n"
                    "Content-Length: 5\\r\\nConnection: close\\r\\n\\r\\nhello\n" % path)
        return ("read\nfcgi_stdout X-Sendfile: %s\\r\\n\\r\\nhello\n%s\nfcgi_end 0\n"
                % (path, EMPTY_FCGI_STDOUT))

    def test_content_type_from_extension(self):
        # a backend that sends no Content-Type: the file name's extension decides
        cases = (("page.css", "text/css; charset=utf-8"), ("img.png", "image/png"),
                 ("noext", "application/octet-stream"), ("UP.PDF", "application/pdf"))
        for proto in ("http", "fastcgi"):
            for name, ctype in cases:
                with self.subTest(proto=proto, name=name):
                    data = name.encode() * 3
                    path = self.file(name, data)
                    addr = self.start_hostile(self.content_type_script(proto, path))
                    pt = self.start_portico(
                        "proxy-core.protocol = %s\nproxy-core.backends = %s\n"
                        "proxy-core.allow-x-sendfile = \"enable\"\n"
                        "proxy-core.x-sendfile-docroot = %s\n"
                        % (conf_str(proto), conf_list([addr]), conf_list([self.root])))
                    r = self.get(pt.port, "/ct")
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.body, data)
                    self.assertEqual(r.header("Content-Type"), ctype)
                    self.assertNoXs(r)

    # ---- HEAD, ranges, conditionals ----

    def test_head(self):
        data = os.urandom(4321)
        path = self.file("h.bin", data)
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                c.send(request_bytes("HEAD", xs_target(prefix, path)))
                r = c.read_response("HEAD")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Length"), "4321")
                self.assertIsNotNone(r.header("ETag"))
                self.assertNoXs(r)
                # no body bytes follow: the next response starts right away
                c.send(request_bytes("GET", xs_target(prefix, path)))
                r2 = c.read_response()
                self.assertEqual(r2.status, 200, r2)
                self.assertEqual(r2.body, data)

    def test_ranges(self):
        data = bytes(range(256)) * 4  # 1024 bytes
        n = len(data)
        path = self.file("r.bin", data)
        for prefix, _, _ in PROTOS:
            t = xs_target(prefix, path)
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                cases = (("bytes=0-9", 0, 10), ("bytes=-5", n - 5, 5), ("bytes=5-", 5, n - 5),
                         ("bytes=1000-5000", 1000, n - 1000))
                for rng, start, length in cases:
                    c.send(request_bytes("GET", t, headers=[("Range", rng)]))
                    r = c.read_response()
                    self.assertEqual(r.status, 206, (rng, r))
                    self.assertEqual(r.header("Content-Range"),
                                     "bytes %d-%d/%d" % (start, start + length - 1, n), rng)
                    self.assertEqual(r.header("Content-Length"), str(length), rng)
                    self.assertEqual(r.body, data[start:start + length], rng)
                    self.assertNoXs(r)
                for rng in ("bytes=%d-" % n, "bytes=5000-6000", "bytes=-0"):
                    c.send(request_bytes("GET", t, headers=[("Range", rng)]))
                    r = c.read_response()
                    self.assertEqual(r.status, 416, (rng, r))
                    self.assertEqual(r.header("Content-Range"), "bytes */%d" % n, rng)
                    self.assertEqual(r.body, b"")
                # several ranges, or another unit: the whole file
                for rng in ("bytes=0-1,5-6", "items=0-1"):
                    c.send(request_bytes("GET", t, headers=[("Range", rng)]))
                    r = c.read_response()
                    self.assertEqual((r.status, r.body), (200, data), rng)
                # a HEAD with a range: 206 with the range's length, no body
                c.send(request_bytes("HEAD", t, headers=[("Range", "bytes=0-9")]))
                r = c.read_response("HEAD")
                self.assertEqual((r.status, r.header("Content-Length")), (206, "10"))

    def test_conditionals(self):
        data = b"validators\n" * 10
        path = self.file("c.txt", data)
        future = email.utils.formatdate(MTIME + 3600, usegmt=True)
        past = email.utils.formatdate(MTIME - 3600, usegmt=True)
        for prefix, _, _ in PROTOS:
            t = xs_target(prefix, path)
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                c.send(request_bytes("GET", t))
                etag = c.read_response().header("ETag")
                c.send(request_bytes("GET", t, headers=[("If-None-Match", etag)]))
                r = c.read_response()
                self.assertEqual(r.status, 304, r)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.header("ETag"), etag)
                self.assertNoXs(r)
                c.send(request_bytes("GET", t, headers=[("If-None-Match", '"other", ' + etag)]))
                self.assertEqual(c.read_response().status, 304)
                c.send(request_bytes("GET", t, headers=[("If-None-Match", '"other"')]))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, data))
                c.send(request_bytes("GET", t, headers=[("If-Modified-Since", future)]))
                self.assertEqual(c.read_response().status, 304)
                c.send(request_bytes("GET", t, headers=[("If-Modified-Since", past)]))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, data))
                c.send(request_bytes("GET", t, headers=[("If-Match", '"mismatch"')]))
                r = c.read_response()
                self.assertEqual(r.status, 412, r)
                self.assertNoXs(r)
                c.send(request_bytes("GET", t, headers=[("If-Match", etag)]))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, data))
                # the connection lived through every answer above
                c.send(request_bytes("GET", t))
                self.assertEqual(c.read_response().body, data)

    # ---- confinement ----

    def wait_logged(self, n, timeout=3.0):
        """The error log's X-Sendfile lines, once there are at least n (or the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            lines = [l for l in self.pt.stderr_text().splitlines() if "X-Sendfile" in l]
            if len(lines) >= n or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def test_confinement(self):
        self.file("ok.txt", b"inside\n")
        os.symlink(self.secret, os.path.join(self.root, "link-out"))
        os.symlink(self.outside, os.path.join(self.root, "dirlink-out"))
        os.symlink("/dev/null", os.path.join(self.root, "devnull"))
        sibling = self.root + "2"  # shares the root's name as a string prefix
        os.makedirs(sibling)
        self.put(os.path.join(sibling, "x.txt"), b"sibling\n")
        fifo = os.path.join(self.root, "fifo")
        os.mkfifo(fifo)
        cases = (
            (os.path.join(self.root, "missing.txt"), 404),
            (os.path.join(self.root, "nodir", "missing.txt"), 404),
            (self.secret, 403),
            ("/etc/passwd", 403),
            (self.root + "/../outside/secret.txt", 403),
            (self.root + "/sub/../../outside/secret.txt", 403),
            (self.root + "/%2e%2e/outside/secret.txt", 403),
            (self.root + "/sub%2f..%2f..%2foutside%2fsecret.txt", 403),
            (os.path.join(self.root, "link-out"), 403),
            (os.path.join(self.root, "dirlink-out", "secret.txt"), 403),
            (os.path.join(self.root, "devnull"), 403),
            (os.path.join(self.root, "sub"), 403),
            (self.root, 403),
            (self.root + "/", 403),
            (fifo, 403),
            (os.path.join(sibling, "x.txt"), 403),
            ("relative/ok.txt", 403),
            (self.root + "/ok.txt%00.png", 403),
            # "." and ".." that stay inside the root are resolved, and "%" without two hex
            # digits is kept literally (the file "50%" below)
            (self.root + "/sub/../ok.txt", 200),
            (self.root + "/./ok.txt", 200),
            (self.root + "//ok.txt", 200),
            (self.root + "/%6fk.txt", 200),
        )
        self.file("50%", b"percent\n")
        cases += ((self.root + "/50%", 200),)
        for prefix, _, _ in PROTOS:
            for path, want in cases:
                with self.subTest(proto=prefix, path=path):
                    before = self.pt.stderr_text().count("X-Sendfile")
                    r = self.fetch(xs_target(prefix, path))
                    self.assertEqual(r.status, want, r)
                    self.assertNoXs(r)
                    if want != 200:
                        # the refusal is logged once, with its reason (not only a bare 403)
                        logged = self.wait_logged(before + 1)
                        self.assertEqual(len(logged) - before, 1, logged[before:])
                        self.assertRegex(logged[-1], r"refused \(%d\): \S" % want)
                        self.assertNotIn(b"outside the root", r.body)
                        self.assertNotIn(b'"backend"', r.body)  # not the backend's own body
                        self.assertNotIn(b"root:", r.body)

    def test_symlink_inside_root(self):
        # a link that stays inside the root: served where the kernel confines the open
        # (openat2 RESOLVE_BENEATH); refused (403) by the O_NOFOLLOW fallback walk, which
        # follows no link at all. Either way never anything else.
        data = b"target inside\n"
        self.file("target.txt", data)
        os.symlink("target.txt", os.path.join(self.root, "link-in"))
        os.symlink("../target.txt", os.path.join(self.root, "sub", "link-up"))
        for prefix, _, _ in PROTOS:
            for name in ("link-in", "sub/link-up"):
                with self.subTest(proto=prefix, link=name):
                    r = self.fetch(xs_target(prefix, os.path.join(self.root, name)))
                    self.assertIn(r.status, (200, 403), r)
                    if r.status == 200:
                        self.assertEqual(r.body, data)

    def test_pipelined(self):
        a = self.file("pa.txt", b"A" * 70000)
        b = self.file("pb.txt", b"B" * 10)
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                c.send(request_bytes("GET", xs_target(prefix, a)) +
                       request_bytes("GET", "/%s/plain" % prefix) +
                       request_bytes("HEAD", xs_target(prefix, b)) +
                       request_bytes("GET", xs_target(prefix, b), headers=[("Range", "bytes=2-3")]) +
                       request_bytes("GET", xs_target(prefix, b)))
                self.assertEqual(c.read_response().body, b"A" * 70000)
                self.assertEqual(c.read_response().status, 200)
                r = c.read_response("HEAD")
                self.assertEqual((r.status, r.header("Content-Length")), (200, "10"))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (206, b"BB"))
                self.assertEqual(c.read_response().body, b"B" * 10)

    def test_if_range(self):
        data = b"0123456789" * 10
        path = self.file("ir.txt", data)
        lm = email.utils.formatdate(MTIME, usegmt=True)
        for prefix, _, _ in PROTOS:
            t = xs_target(prefix, path)
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                c.send(request_bytes("GET", t))
                etag = c.read_response().header("ETag")
                for ir, want in ((etag, 206), (lm, 206), ('"stale"', 200), ("W/" + etag, 200),
                                 (email.utils.formatdate(MTIME + 1, usegmt=True), 200)):
                    c.send(request_bytes("GET", t, headers=[("Range", "bytes=10-19"),
                                                            ("If-Range", ir)]))
                    r = c.read_response()
                    self.assertEqual(r.status, want, (ir, r))
                    self.assertEqual(r.body, data[10:20] if want == 206 else data)

    def test_empty_file_ranges(self):
        path = self.file("empty.txt", b"")
        for prefix, _, _ in PROTOS:
            t = xs_target(prefix, path)
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                c.send(request_bytes("GET", t, headers=[("Range", "bytes=0-0")]))
                r = c.read_response()
                self.assertEqual((r.status, r.header("Content-Range")), (416, "bytes */0"))
                # a suffix range of an empty file: satisfiable but nothing to say; whole file
                c.send(request_bytes("GET", t, headers=[("Range", "bytes=-5")]))
                r = c.read_response()
                self.assertEqual((r.status, r.header("Content-Length"), r.body), (200, "0", b""))

    def test_several_roots(self):
        # roots /root and /root/sub: the longest covering root is tried first; after a 403
        # there, a shorter one may still hold the file (a link from sub up into root)
        other = os.path.join(self.tmp, "other")
        os.makedirs(other)
        self.put(os.path.join(other, "o.txt"), b"other root\n")
        self.file("top.txt", b"top\n")
        os.symlink("../top.txt", os.path.join(self.root, "sub", "up"))
        self.put(os.path.join(self.root, "sub", "s.txt"), b"in sub\n")
        addr = self.start_backend("http_echo")
        pt = self.start_portico(
            "proxy-core.backends = %s\nproxy-core.allow-x-sendfile = \"enable\"\n"
            "proxy-core.x-sendfile-docroot = %s\n"
            % (conf_list([addr]), conf_list([os.path.join(self.root, "sub") + "/", self.root,
                                             other])))
        for path, status, body in ((os.path.join(other, "o.txt"), 200, b"other root\n"),
                                   (os.path.join(self.root, "sub", "s.txt"), 200, b"in sub\n"),
                                   (os.path.join(self.root, "top.txt"), 200, b"top\n"),
                                   (self.secret, 403, None)):
            with self.subTest(path=path):
                r = self.get(pt.port, xs_target("z", path))
                self.assertEqual(r.status, status, r)
                if body:
                    self.assertEqual(r.body, body)
        r = self.get(pt.port, xs_target("z", os.path.join(self.root, "sub", "up")))
        self.assertIn(r.status, (200, 403), r)  # as in test_symlink_inside_root
        if r.status == 200:
            self.assertEqual(r.body, b"top\n")

    # ---- not allowed, or not a 2xx ----

    def test_not_allowed_on_route(self):
        path = self.file("n.txt", b"must not be served\n")
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix), Client(self.pt.port) as c:
                c.send(request_bytes("GET", xs_target("n" + prefix, path)))
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertNoXs(r)
                self.assertEqual(r.header("Content-Type"), "application/json")
                self.assertNotIn(b"must not be served", r.body)
                r.json()  # the backend's own JSON answer
                c.send(request_bytes("GET", "/n%s/again" % prefix))
                self.assertEqual(c.read_response().status, 200)

    def test_error_status_keeps_backend_body(self):
        # an X-Sendfile on a 404 from the backend is not honoured (only 2xx are): the
        # backend's own error page goes out, and the header is still removed
        path = self.file("e.txt", b"not for errors\n")
        for prefix, _, _ in PROTOS:
            with self.subTest(proto=prefix):
                r = self.fetch(xs_target(prefix, path, extra="&status=404"))
                self.assertEqual(r.status, 404, r)
                self.assertNoXs(r)
                self.assertNotIn(b"not for errors", r.body)
                r.json()


if __name__ == "__main__":
    unittest.main()
