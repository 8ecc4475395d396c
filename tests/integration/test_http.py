"""HTTP backends (SPEC §4) through tests/backends/http_echo: forwarding of heads, keep-alive,
pipelining, HTTP/1.0, HEAD, chunked bodies both ways, Expect: 100-continue, status passthrough,
and bounded memory for big bodies in both directions."""

import os
import threading
import time

from harness import (Client, GatewayTest, IncompleteResponse, fnv1a64, pattern_bytes,
                     request_bytes, route)

MIB = 1 << 20


def hdrs(echo):
    """The echoed header list as [(name, value)]."""
    return [tuple(h) for h in echo["headers"]]


def hvals(echo, name):
    return [v for n, v in hdrs(echo) if n.lower() == name.lower()]


class HttpBackend(GatewayTest):
    def setUp(self):
        super().setUp()
        self.echo = self.start_backend("http_echo")
        self.pt = self.start_portico(route([self.echo]) + "server.max-request-size = 1048576\n")

    def test_get_forwards_head(self):
        target = "/echo/path?a=1&b=%20x"
        with Client(self.pt.port) as c:
            c.send(request_bytes("GET", target, "example.test:8080", [
                ("X-Custom", "some value"),
                ("X-Forwarded-For", "192.0.2.7"),
                ("Connection", "keep-alive, X-Hop"),
                ("X-Hop", "secret"),
                ("Keep-Alive", "timeout=5"),
                ("TE", "trailers"),
                ("Proxy-Connection", "keep-alive"),
                ("Expect", "100-continue"),
            ], body=b""))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        e = r.json()
        self.assertEqual(e["method"], "GET")
        self.assertEqual(e["target"], target)
        self.assertEqual(e["backend"], self.echo)
        self.assertEqual(hvals(e, "Host"), ["example.test:8080"])
        self.assertEqual(hvals(e, "X-Custom"), ["some value"])
        self.assertEqual(hvals(e, "X-Forwarded-For"), ["192.0.2.7, 127.0.0.1"])
        self.assertEqual(hvals(e, "X-Forwarded-Proto"), ["http"])
        self.assertEqual(len(hvals(e, "X-Forwarded-Host")), 1)
        self.assertIn(hvals(e, "X-Forwarded-Host")[0], ("example.test", "example.test:8080"))
        for hop in ("X-Hop", "Keep-Alive", "TE", "Proxy-Connection", "Expect", "Upgrade"):
            self.assertEqual(hvals(e, hop), [], "%s was forwarded" % hop)
        for v in hvals(e, "Connection"):
            self.assertNotIn("x-hop", v.lower())
        # the client's headers keep their order
        names = [n.lower() for n, _ in hdrs(e)]
        self.assertLess(names.index("host"), names.index("x-custom"))

    def test_xff_set_when_absent(self):
        e = self.get(self.pt.port, "/").json()
        self.assertEqual(hvals(e, "X-Forwarded-For"), ["127.0.0.1"])
        self.assertEqual(hvals(e, "X-Forwarded-Host"), ["test.local"])

    def test_response_hop_by_hop_removed(self):
        r = self.get(self.pt.port, "/?header=Keep-Alive:timeout%3D99"
                     "&header=Proxy-Connection:x&header=X-Ok:yes")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Ok"), "yes")
        self.assertIsNone(r.header("Proxy-Connection"))
        for v in r.all("Keep-Alive"):
            self.assertNotIn("99", v)

    def test_keep_alive(self):
        with Client(self.pt.port) as c:
            for i in range(5):
                c.send(request_bytes("GET", "/ka/%d" % i))
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(r.json()["target"], "/ka/%d" % i)
            c.send(request_bytes("GET", "/last", headers=[("Connection", "close")]))
            r = c.read_response()
            self.assertEqual(r.json()["target"], "/last")
            self.assertClosed(c)

    def test_pipelining(self):
        with Client(self.pt.port) as c:
            c.send(b"".join(request_bytes("GET", "/p%d" % i) for i in range(3)))
            got = [c.read_response().json()["target"] for _ in range(3)]
        self.assertEqual(got, ["/p0", "/p1", "/p2"])

    def test_pipelined_post_bodies(self):
        bodies = [b"a" * 10, b"b" * 70000, b""]
        with Client(self.pt.port) as c:
            c.send(b"".join(request_bytes("POST", "/b%d" % i, body=b) for i, b in
                            enumerate(bodies)))
            for i, b in enumerate(bodies):
                e = c.read_response().json()
                self.assertEqual(e["target"], "/b%d" % i)
                self.assertEqual(e["body_len"], len(b))
                self.assertEqual(e["body_fnv"], fnv1a64(b))

    def test_http10_closes(self):
        with Client(self.pt.port) as c:
            c.send(b"GET /ten HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["target"], "/ten")
            self.assertIsNone(r.header("Transfer-Encoding"))
            self.assertClosed(c)

    def test_http10_keep_alive(self):
        with Client(self.pt.port) as c:
            for i in range(2):
                c.send(b"GET /ten%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i)
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertIsNotNone(r.header("Content-Length"))
                self.assertIn("keep-alive", (r.header("Connection") or "").lower())
                self.assertEqual(r.json()["target"], "/ten%d" % i)
            c.send(b"GET /ten-last HTTP/1.0\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            self.assertClosed(c)

    def test_head_has_no_body(self):
        with Client(self.pt.port) as c:
            c.send(request_bytes("HEAD", "/?bytes=1000"))
            r = c.read_response("HEAD")
            self.assertEqual(r.status, 200)
            self.assertIn(r.header("Content-Length"), (None, "1000"))
            # the next response on the same connection parses: no body was sent for HEAD
            c.send(request_bytes("GET", "/after-head"))
            self.assertEqual(c.read_response().json()["target"], "/after-head")

    def test_chunked_upload(self):
        pieces = [b"x", os.urandom(10), os.urandom(4096), os.urandom(70000), b"end"]
        body = b"".join(pieces)
        with Client(self.pt.port) as c:
            c.send(request_bytes("POST", "/up", headers=[("Transfer-Encoding", "chunked")]))
            for p in pieces:  # in separate writes, with a chunk extension on one
                c.send(b"%x;ext=1\r\n%s\r\n" % (len(p), p) if p == b"x" else
                       b"%x\r\n%s\r\n" % (len(p), p))
            c.send(b"0\r\nX-Trailer: t\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["method"], "POST")
        self.assertEqual(e["body_len"], len(body))
        self.assertEqual(e["body_fnv"], fnv1a64(body))
        if not hvals(e, "Transfer-Encoding"):
            self.assertEqual(hvals(e, "Content-Length"), [str(len(body))])

    def test_content_length_upload(self):
        body = os.urandom(300000)
        r = self.get(self.pt.port, "/cl", "PUT", body=body)
        e = r.json()
        self.assertEqual((e["method"], e["body_len"], e["body_fnv"]),
                         ("PUT", len(body), fnv1a64(body)))

    def test_expect_100_continue(self):
        body = b"0123456789"
        with Client(self.pt.port) as c:
            c.send(request_bytes("POST", "/expect", headers=[
                ("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
            interim = c.read_head()
            self.assertEqual(interim.status, 100, "no 100 Continue before the body")
            c.send(body)
            r = c.read_response()
        self.assertEqual(r.status, 200)
        e = r.json()
        self.assertEqual(e["body_len"], len(body))
        self.assertEqual(hvals(e, "Expect"), [])

    def test_expect_100_too_large_gets_413_without_100(self):
        with Client(self.pt.port) as c:
            c.send(request_bytes("POST", "/expect", headers=[
                ("Expect", "100-continue"), ("Content-Length", str(2 * MIB))]))
            r = c.read_response(allow_interim=True)
            self.assertEqual(r.status, 413, "the first answer must be the 413, not a 100")
            self.assertClosed(c)

    def test_backend_chunked_to_11_client(self):
        r = self.get(self.pt.port, "/c?chunked=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.framing, "chunked")
        self.assertEqual(r.json()["target"], "/c?chunked=1")

    def test_backend_chunked_to_10_client(self):
        with Client(self.pt.port) as c:
            c.send(b"GET /c?chunked=1 HTTP/1.0\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("Transfer-Encoding"))
        self.assertEqual(r.json()["target"], "/c?chunked=1")

    def test_backend_chunked_big(self):
        n = 3 * MIB + 17
        r = self.get(self.pt.port, "/?chunked=1&bytes=%d" % n)
        self.assertEqual(len(r.body), n)
        self.assertEqual(r.body, pattern_bytes(0, n))

    def test_status_passthrough(self):
        r = self.get(self.pt.port, "/missing?status=404")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["target"], "/missing?status=404")
        r = self.get(self.pt.port, "/?status=503&header=Retry-After:7")
        self.assertEqual((r.status, r.header("Retry-After")), (503, "7"))

    def test_204_and_304_without_body(self):
        with Client(self.pt.port) as c:
            for st in (204, 304):
                c.send(request_bytes("GET", "/?status=%d" % st))
                r = c.read_response()
                self.assertEqual(r.status, st)
                self.assertIsNone(r.header("Transfer-Encoding"))
                if st == 204:
                    self.assertIn(r.header("Content-Length"), (None, "0"))
            c.send(request_bytes("GET", "/after"))
            self.assertEqual(c.read_response().json()["target"], "/after")

    def test_location_header_passthrough(self):
        r = self.get(self.pt.port, "/?status=302&header=Location:http%3A%2F%2Fx.test%2Fy")
        self.assertEqual((r.status, r.header("Location")), (302, "http://x.test/y"))


class HttpBigBodies(GatewayTest):
    """Memory stays bounded (SPEC §4) whatever the body sizes."""

    LIMIT_KIB = 64 * 1024

    def test_big_download_slow_reader(self):
        echo = self.start_backend("http_echo")
        pt = self.start_portico(route([echo]))
        n = 100 * MIB
        peak = [0]
        with Client(pt.port, timeout=20, rcvbuf=32768) as c:
            c.send(request_bytes("GET", "/?bytes=%d" % n))
            r = c.read_head()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("Content-Length"), str(n))
            got = [0]
            slow_until = time.monotonic() + 3.0
            bad = []

            def sink(part):
                if part != pattern_bytes(got[0], len(part)) and not bad:
                    bad.append(got[0])
                got[0] += len(part)
                if time.monotonic() < slow_until:
                    time.sleep(0.02)
                    peak[0] = max(peak[0], pt.rss_kib() or 0)
                elif got[0] % (8 * MIB) < len(part):
                    peak[0] = max(peak[0], pt.rss_kib() or 0)

            c.body_stream(r, sink=sink, piece=4096)
        self.assertEqual(got[0], n)
        self.assertEqual(bad, [], "body differs from the pattern at offset %s" % bad)
        self.assertLess(peak[0], self.LIMIT_KIB, "portico RSS reached %d KiB" % peak[0])

    def _upload(self, conf, n, chunked_body=False):
        echo = self.start_backend("http_echo")
        pt = self.start_portico(route([echo]) + conf)
        peak = [0]
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], pt.rss_kib() or 0)
                time.sleep(0.02)

        w = threading.Thread(target=watch, daemon=True)
        w.start()
        piece = pattern_bytes(0, 256 * 1024)
        try:
            with Client(pt.port, timeout=30) as c:
                if chunked_body:
                    c.send(request_bytes("POST", "/big", headers=[
                        ("Transfer-Encoding", "chunked")]))
                else:
                    c.send(request_bytes("POST", "/big", headers=[("Content-Length", str(n))]))
                sent = 0
                while sent < n:
                    part = piece[: min(len(piece), n - sent)]
                    c.send(b"%x\r\n%s\r\n" % (len(part), part) if chunked_body else part)
                    sent += len(part)
                if chunked_body:
                    c.send(b"0\r\n\r\n")
                r = c.read_response()
        finally:
            done.set()
            w.join()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], n)
        self.assertLess(peak[0], self.LIMIT_KIB, "portico RSS reached %d KiB" % peak[0])

    def test_big_upload_streamed(self):
        self._upload('server.stream-request-body = "enable"\n'
                     "server.max-request-size = 268435456\n", 200 * MIB)

    def test_big_chunked_upload_streamed(self):
        self._upload('server.stream-request-body = "enable"\n'
                     "server.max-request-size = 268435456\n", 64 * MIB, chunked_body=True)

    def test_upload_buffered_to_temp_file(self):
        self._upload("server.max-request-size = 268435456\n", 80 * MIB)

    def test_backend_cut_mid_body(self):
        """A backend that dies after the response started: the client sees the cut."""
        hostile = self.start_hostile(
            "read\n"
            "send HTTP/1.1 200 OK\\r\\nContent-Length: 1000\\r\\n\\r\\n" + "y" * 100 + "\n"
            "sleep 500\n"
            "close\n")
        pt = self.start_portico(route([hostile]))
        with Client(pt.port) as c:
            c.send(request_bytes("GET", "/cut"))
            r = c.read_head()
            self.assertEqual(r.status, 200)
            with self.assertRaises(IncompleteResponse) as cm:
                c.body_stream(r)
            self.assertLess(cm.exception.got, 1000)
