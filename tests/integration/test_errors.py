"""Client errors (SPEC §4): every malformed or refused request gets its status, the connection
is closed, and nothing reaches the backend (a sentinel counts every backend connection)."""

from harness import Client, GatewayTest, request_bytes, route

LIMIT_BODY = 65536
LIMIT_HEAD = 4096

H = "Host: t\r\n"

# (name, request bytes, expected status or statuses)
CASES = [
    ("cl_and_te", "POST / HTTP/1.1\r\n" + H +
     "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("two_cl_same", "POST / HTTP/1.1\r\n" + H +
     "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("two_cl_differ", "POST / HTTP/1.1\r\n" + H +
     "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl_list", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 5\r\n\r\nhello", 400),
    ("bad_cl", "POST / HTTP/1.1\r\n" + H + "Content-Length: 5x\r\n\r\nhello", 400),
    ("negative_cl", "POST / HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n", 400),
    ("plus_cl", "POST / HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\nhello", 400),
    ("huge_cl", "POST / HTTP/1.1\r\n" + H +
     "Content-Length: 99999999999999999999999\r\n\r\n", (400, 413)),
    ("te_gzip", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n", 501),
    ("te_chunked_twice", "POST / HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
    ("no_host_11", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ("space_before_colon", "GET / HTTP/1.1\r\n" + H + "X-A : b\r\n\r\n", 400),
    ("space_before_colon_host", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    ("obs_fold", "GET / HTTP/1.1\r\n" + H + "X-A: b\r\n c\r\n\r\n", 400),
    ("control_byte", "GET / HTTP/1.1\r\n" + H + "X-A: b\x01c\r\n\r\n", 400),
    ("nul_byte", "GET / HTTP/1.1\r\n" + H + "X-A: b\x00c\r\n\r\n", 400),
    ("bare_cr", "GET / HTTP/1.1\r\n" + H + "X-A: b\rc\r\n\r\n", 400),
    ("bad_chunk_size", "POST / HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_overflow", "POST / HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff1\r\nx\r\n0\r\n\r\n", 400),
    ("chunk_missing_crlf", "POST / HTTP/1.1\r\n" + H +
     "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
    ("bad_request_line", "GET /\r\n" + H + "\r\n", (400, 505)),
    ("space_in_target", "GET /a b HTTP/1.1\r\n" + H + "\r\n", 400),
    ("http2", "GET / HTTP/2.0\r\n" + H + "\r\n", 505),
    ("http09_version", "GET / HTTP/0.9\r\n" + H + "\r\n", 505),
    ("expect_other", "GET / HTTP/1.1\r\n" + H + "Expect: foo\r\n\r\n", 417),
    ("long_target", "GET /" + "a" * (LIMIT_HEAD * 4) + " HTTP/1.1\r\n" + H + "\r\n", 414),
    ("huge_head", "GET / HTTP/1.1\r\n" + H + "X-Big: " + "b" * (LIMIT_HEAD * 2) + "\r\n\r\n",
     431),
    ("many_fields", "GET / HTTP/1.1\r\n" + H +
     "".join("X-F%d: v\r\n" % i for i in range(300)) + "\r\n", 431),
    ("big_body_cl", "POST / HTTP/1.1\r\n" + H + "Content-Length: %d\r\n\r\n" %
     (LIMIT_BODY + 1) + "x" * 100, 413),
    ("big_body_chunked", "POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n" +
     ("%x\r\n%s\r\n" % (LIMIT_BODY // 2 + 1, "x" * (LIMIT_BODY // 2 + 1))) * 2 + "0\r\n\r\n",
     413),
]


class ClientErrors(GatewayTest):
    def setUp(self):
        super().setUp()
        self.sentinel = self.start_sentinel()
        self.pt = self.start_portico(
            route([self.sentinel.addr]) +
            "server.max-request-size = %d\n"
            "server.max-request-field-size = %d\n" % (LIMIT_BODY, LIMIT_HEAD))

    def check_case(self, name, data, want):
        with Client(self.pt.port) as c:
            c.send(data.encode("latin-1"))
            r = c.read_response(allow_interim=True)
            self.assertIn(r.status, want if isinstance(want, tuple) else (want,),
                          "%s: %r" % (name, r))
            self.assertTrue(c.is_closed(), "%s: connection left open after %d" % (name, r.status))

    def test_every_case(self):
        for name, data, want in CASES:
            with self.subTest(case=name):
                self.check_case(name, data, want)
        self.assertEqual(self.sentinel.count(), 0, "bad requests reached the backend: %r"
                         % [r[:120] for r in self.sentinel.received])
        # the route is live: a good request does reach the backend
        r = self.get(self.pt.port, "/fine")
        self.assertEqual((r.status, r.body), (200, b"sentinel"))
        self.assertEqual(self.sentinel.count(), 1)

    def test_error_after_good_request_on_same_connection(self):
        with Client(self.pt.port) as c:
            c.send(request_bytes("GET", "/ok"))
            self.assertEqual(c.read_response().status, 200)
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-A : b\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 400)
            self.assertClosed(c)
        self.assertEqual(self.sentinel.count(), 1)

    def test_http10_without_host_is_fine(self):
        with Client(self.pt.port) as c:
            c.send(b"GET /ten HTTP/1.0\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)

    def test_slow_head_is_cut(self):
        """A client that sends half a head and stops is cut after server.max-read-idle."""
        pt = self.start_portico(route([self.sentinel.addr]) + "server.max-read-idle = 1\n")
        with Client(pt.port, timeout=6) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
            data = c.read_to_close()
            self.assertTrue(c.eof)
            if data:
                self.assertRegex(data, rb"^HTTP/1\.1 408 ")
        self.assertEqual(self.sentinel.count(), 0)
