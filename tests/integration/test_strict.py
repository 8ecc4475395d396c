"""Front-end strictness (SPEC §4): the authority of a request is checked wherever it comes from
(Host or an absolute-form target), a chunk larger than the body limit is 413 at once, fields
that would pose as framing or hop-by-hop fields under the CGI name mapping never reach a
backend, and a connection closed while the client is still sending lingers so the client can
read its answer."""

import errno
import socket
import threading
import time

from harness import Client, GatewayTest, request_bytes, route

LIMIT_BODY = 65536
H = "Host: t\r\n"

# (name, request bytes): each is 400, closed, and reaches no backend.
BAD_AUTHORITY = [
    ("empty_host", "GET / HTTP/1.1\r\nHost: \r\n\r\n"),
    ("host_port_letters", "GET / HTTP/1.1\r\nHost: t:8o\r\n\r\n"),
    ("host_port_sign", "GET / HTTP/1.1\r\nHost: t:+80\r\n\r\n"),
    ("host_port_range", "GET / HTTP/1.1\r\nHost: t:65536\r\n\r\n"),
    ("host_port_huge", "GET / HTTP/1.1\r\nHost: t:99999999999999999999999\r\n\r\n"),
    ("host_two_ports", "GET / HTTP/1.1\r\nHost: t:80:80\r\n\r\n"),
    ("host_userinfo", "GET / HTTP/1.1\r\nHost: user:pw@t\r\n\r\n"),
    ("host_quote", "GET / HTTP/1.1\r\nHost: t\"x\r\n\r\n"),
    ("host_brace", "GET / HTTP/1.1\r\nHost: t{x}\r\n\r\n"),
    ("host_backslash", "GET / HTTP/1.1\r\nHost: t\\x\r\n\r\n"),
    ("host_bad_pct", "GET / HTTP/1.1\r\nHost: t%zz\r\n\r\n"),
    ("host_open_bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
    ("host_bad_v6", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n"),
    ("host_v6_junk", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"),
    ("host_only_port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n"),
    ("abs_userinfo", "GET http://user:secret@t/ HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_user", "GET http://user@t/x HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_port_letters", "GET http://t:8o/ HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_port_range", "GET http://t:70000/ HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_bad_byte", "GET http://t^x/ HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_empty", "GET http:///x HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_scheme", "GET ftp://t/x HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_no_scheme", "GET ://t/x HTTP/1.1\r\n" + H + "\r\n"),
    ("abs_http10_userinfo", "GET http://u:p@t/ HTTP/1.0\r\n\r\n"),
    ("abs_bad_host_field", "GET http://t/ HTTP/1.1\r\nHost: a b\r\n\r\n"),
]


def reset_error(e):
    return isinstance(e, (ConnectionResetError, BrokenPipeError)) or \
        getattr(e, "errno", None) in (errno.ECONNRESET, errno.EPIPE)


class Sender(threading.Thread):
    """Sends `piece` on a socket every `pause` seconds until it fails or is told to stop;
    records how many bytes went out and when (and how) the sending ended."""

    def __init__(self, sock, piece=65536, pause=0.0):
        super().__init__(daemon=True)
        self.sock, self.piece, self.pause = sock, piece, pause
        self.sent = 0
        self.error = None
        self.ended = None
        self.stop = False

    def run(self):
        data = b"x" * self.piece
        try:
            while not self.stop:
                self.sock.sendall(data)
                self.sent += len(data)
                if self.pause:
                    time.sleep(self.pause)
        except OSError as e:
            self.error = e
        self.ended = time.monotonic()


class StrictFrontEnd(GatewayTest):
    def setUp(self):
        super().setUp()
        self.sentinel = self.start_sentinel()
        self.pt = self.start_portico(route([self.sentinel.addr]) +
                                     "server.max-request-size = %d\n" % LIMIT_BODY)

    def assertNothingForwarded(self):
        self.assertEqual(self.sentinel.count(), 0, "reached the backend: %r"
                         % [r[:200] for r in self.sentinel.received])

    def test_bad_authority_400(self):
        for name, data in BAD_AUTHORITY:
            with self.subTest(case=name):
                with Client(self.pt.port) as c:
                    c.send(data.encode("latin-1"))
                    r = c.read_response()
                    self.assertEqual(r.status, 400, "%s: %r" % (name, r))
                    self.assertTrue(c.is_closed(), "%s: left open" % name)
        self.assertNothingForwarded()
        # the route works for a good request
        self.assertEqual(self.get(self.pt.port, "/fine").status, 200)

    def test_huge_chunk_413_at_once(self):
        """A 10 GB chunk against a 64 KiB limit: 413 as soon as the size line is in."""
        with Client(self.pt.port, timeout=3) as c:
            t0 = time.monotonic()
            c.send("POST /up HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n"
                   "2540BE400\r\nsome bytes")
            r = c.read_response()
            self.assertEqual(r.status, 413, r)
            self.assertLess(time.monotonic() - t0, 2.0)
        self.assertNothingForwarded()

    def test_chunks_adding_up_413_at_once(self):
        """Chunks that fit one by one but not together: 413 at the size line that tips over,
        before its data comes."""
        first = LIMIT_BODY // 2 + 1
        with Client(self.pt.port, timeout=3) as c:
            c.send("POST /up HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n" +
                   "%x\r\n%s\r\n%x\r\n" % (first, "a" * first, first))
            r = c.read_response()
            self.assertEqual(r.status, 413, r)
        self.assertNothingForwarded()

    def test_content_length_over_limit_413_at_once(self):
        with Client(self.pt.port, timeout=3) as c:
            c.send("POST /up HTTP/1.1\r\n" + H + "Content-Length: 10000000000\r\n\r\n")
            self.assertEqual(c.read_response().status, 413)
        self.assertNothingForwarded()

    def test_413_read_while_still_sending(self):
        """The client keeps sending its (too large) body; it still reads the whole 413 and is
        never reset before it has."""
        for _ in range(3):
            c = Client(self.pt.port, timeout=5)
            try:
                c.send("POST /up HTTP/1.1\r\n" + H + "Content-Length: %d\r\n\r\n" % (64 << 20))
                s = Sender(c.sock)
                s.start()
                time.sleep(0.2)  # the answer is out while the body is still coming
                r = c.read_response()  # a reset here raises (ConnectionResetError)
                self.assertEqual(r.status, 413, r)
                self.assertIn(b"413", r.body)
                self.assertEqual(r.header("Connection"), "close")
                self.assertTrue(c.is_closed(), "no end of stream after the 413")
                s.stop = True
                s.join(10)
            finally:
                c.close()
        self.assertNothingForwarded()

    def test_413_read_after_sending_the_body(self):
        """A client that sends its whole body before it reads (as most do) gets the 413, not a
        reset in the middle of its sending."""
        body = 1 << 20
        with Client(self.pt.port, timeout=5) as c:
            c.send("POST /up HTTP/1.1\r\n" + H + "Content-Length: %d\r\n\r\n" % body)
            c.send(b"x" * body)  # a reset here raises
            r = c.read_response()
            self.assertEqual(r.status, 413, r)
            self.assertTrue(c.is_closed())
        self.assertNothingForwarded()

    def test_bad_chunk_400_read_while_still_sending(self):
        c = Client(self.pt.port, timeout=5)
        try:
            c.send("POST /up HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n"
                   "zz\r\n")
            s = Sender(c.sock, piece=4096, pause=0.01)
            s.start()
            time.sleep(0.2)
            r = c.read_response()
            self.assertEqual(r.status, 400, r)
            s.stop = True
            s.join(10)
        finally:
            c.close()
        self.assertNothingForwarded()

    def test_endless_sender_is_cut(self):
        """A client that never stops sending is cut once the linger bound is spent."""
        c = Client(self.pt.port, timeout=10)
        try:
            c.send("POST /up HTTP/1.1\r\n" + H + "Content-Length: %d\r\n\r\n" % (1 << 40))
            t0 = time.monotonic()
            s = Sender(c.sock, piece=16384, pause=0.02)  # slow: the time bound ends it
            s.start()
            r = c.read_response()
            self.assertEqual(r.status, 413)
            s.join(10)
            self.assertFalse(s.is_alive(), "the sender was never cut off")
            self.assertTrue(reset_error(s.error), repr(s.error))
            took = s.ended - t0
            self.assertGreater(took, 1.0)
            self.assertLess(took, 6.0)
        finally:
            c.close()
        # and a fast one by the byte bound, well before the time bound
        c = Client(self.pt.port, timeout=10)
        try:
            c.send("POST /up HTTP/1.1\r\n" + H + "Content-Length: %d\r\n\r\n" % (1 << 40))
            t0 = time.monotonic()
            s = Sender(c.sock)
            s.start()
            s.join(10)
            self.assertFalse(s.is_alive(), "the sender was never cut off")
            self.assertTrue(reset_error(s.error), repr(s.error))
            self.assertLess(s.ended - t0, 6.0)
        finally:
            c.close()
        self.assertNothingForwarded()
        # the gateway is fine afterwards
        self.assertEqual(self.get(self.pt.port, "/fine").status, 200)


class EarlyAnswer(GatewayTest):
    def test_backend_answer_before_the_body_is_read(self):
        """A streamed upload that the backend refuses before reading it: the client, still
        sending, gets the backend's answer and no reset."""
        be = self.start_hostile("""
send HTTP/1.1 403 Forbidden\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nno
sleep 3000
close
""")
        pt = self.start_portico(route([be]) + 'server.stream-request-body = "enable"\n'
                                "server.max-request-size = %d\n" % (64 << 20))
        body = 2 << 20
        with Client(pt.port, timeout=5) as c:
            c.send("POST /up HTTP/1.1\r\n" + H + "Content-Length: %d\r\n\r\n" % body)
            c.send(b"x" * body)  # a reset here raises
            r = c.read_response()
            self.assertEqual((r.status, r.body), (403, b"no"))
            # then the connection closes (the body left unread: a lingering close), or, when
            # portico had read the whole body before the answer came (a loaded machine), stays
            # open for a next request; it never sends more
            self.assertFalse(c.buf)
            c.sock.settimeout(3)
            try:
                extra = c.sock.recv(4096)
            except (socket.timeout, ConnectionResetError):
                extra = b""
            self.assertEqual(extra, b"")


def hnames(echo):
    return [n.lower() for n, _ in echo["headers"]]


# Field names that map onto a framing, hop-by-hop or gateway-set field under the CGI mapping
# (upper case, every other byte '_').
LOOKALIKES = [
    ("Content_Length", "99"),
    ("Transfer_Encoding", "chunked"),
    ("Content_Type", "text/evil"),
    ("Keep_Alive", "timeout=99"),
    ("Proxy_Connection", "keep-alive"),
    ("X_Forwarded_For", "6.6.6.6"),
    ("x.forwarded.host", "evil.test"),
    ("Proxy", "http://evil.test:3128/"),
]


class Lookalikes(GatewayTest):
    def test_http_backend(self):
        echo = self.start_backend("http_echo")
        pt = self.start_portico(route([echo]))
        r = self.get(pt.port, "/x", method="POST", headers=LOOKALIKES + [("X-Keep", "yes")],
                     body=b"hello")
        self.assertEqual(r.status, 200, r)
        e = r.json()
        names = hnames(e)
        for n, _ in LOOKALIKES:
            self.assertNotIn(n.lower(), names, "%s was forwarded" % n)
        self.assertIn("x-keep", names)
        self.assertEqual(e["body_len"], 5)
        self.assertEqual([v for n, v in e["headers"] if n.lower() == "content-length"], ["5"])
        self.assertEqual([v for n, v in e["headers"] if n.lower() == "x-forwarded-for"],
                         ["127.0.0.1"])

    def check_cgi(self, backend, protocol):
        be = self.start_backend(backend)
        pt = self.start_portico(route([be], protocol=protocol))
        r = self.get(pt.port, "/x", method="POST", headers=LOOKALIKES + [("X-Keep", "yes")],
                     body=b"hello")
        self.assertEqual(r.status, 200, r)
        p = r.json()["params"]
        for var in ("HTTP_CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_TYPE",
                    "HTTP_KEEP_ALIVE", "HTTP_PROXY_CONNECTION", "HTTP_PROXY",
                    "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST"):
            self.assertNotIn(var, p, "%s was set" % var)
        self.assertEqual(p["CONTENT_LENGTH"], "5")
        self.assertNotIn("CONTENT_TYPE", p)
        self.assertEqual(p["HTTP_X_KEEP"], "yes")

    def test_fastcgi(self):
        self.check_cgi("fcgi_echo", "fastcgi")

    def test_scgi(self):
        self.check_cgi("scgi_echo", "scgi")


class AbsoluteForm(GatewayTest):
    def test_authority_replaces_host(self):
        """RFC 9112 §3.2.2: the target's authority is the Host the backend sees."""
        echo = self.start_backend("http_echo")
        pt = self.start_portico(route([echo]))
        with Client(pt.port) as c:
            c.send(b"GET http://Example.test:8080/p?q=1 HTTP/1.1\r\nHost: other.test\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["target"], "/p?q=1")
        self.assertEqual([v for n, v in e["headers"] if n.lower() == "host"],
                         ["Example.test:8080"])
        self.assertEqual([v for n, v in e["headers"] if n.lower() == "x-forwarded-host"],
                         ["Example.test:8080"])
