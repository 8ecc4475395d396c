"""X-Rewrite-URI / X-Rewrite-Host / X-Rewrite-Backend (SPEC §5): when the route allows it, the
backend's first response is discarded and the request is routed again with the new target,
Host or backend; at most 4 re-dispatches; the headers never reach the client; requests with
a body are not re-dispatched. The echo backends send the X-Rewrite headers a test puts in the
query (header=Name:Value, URL-encoded), and name themselves in their answers."""

import socket
import threading
import time
import unittest
import urllib.parse

from harness import (Client, GatewayTest, chunked, conf_list, conf_str, request_bytes)

XR = ("X-Rewrite-URI", "X-Rewrite-Host", "X-Rewrite-Backend")


def q(s):
    return urllib.parse.quote(s, safe="")


def hdrs(**kw):
    """Query parameters making an echo backend send X-Rewrite-<Key> headers (and others)."""
    names = {"uri": "X-Rewrite-URI", "host": "X-Rewrite-Host", "backend": "X-Rewrite-Backend"}
    return "&".join("header=" + q("%s:%s" % (names.get(k, k), v)) for k, v in kw.items())


def chain(prefix, levels, end):
    """A target whose answer rewrites to the next level, `levels` times, then to `end`."""
    t = end
    for _ in range(levels):
        t = "%s?header=%s" % (prefix, q("X-Rewrite-URI:" + t))
    return t


def block(cond, proto, backends, extra=""):
    return "%s {\n  proxy-core.protocol = %s\n  proxy-core.backends = %s\n%s}\n" % (
        cond, conf_str(proto), conf_list(backends), extra)


ALLOW = '  proxy-core.allow-x-rewrite = "enable"\n'


class LoopBackend:
    """An HTTP backend that answers every request with X-Rewrite-URI to itself and counts."""

    def __init__(self, target):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.target = target
        self.count = 0
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        c.settimeout(5)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(4096)
                    if not d:
                        return
                    buf += d
                buf = buf.split(b"\r\n\r\n", 1)[1]
                with self.lock:
                    self.count += 1
                c.sendall(b"HTTP/1.1 200 OK\r\nX-Rewrite-URI: %s\r\nContent-Type: text/plain\r\n"
                          b"Content-Length: 6\r\n\r\nfirst\n" % self.target.encode())
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class XRewrite(GatewayTest):
    def setUp(self):
        super().setUp()
        self.A = self.start_backend("http_echo")
        self.A2 = self.start_backend("http_echo")
        self.C = self.start_backend("http_echo")
        self.F = self.start_backend("fcgi_echo")
        self.S = self.start_backend("scgi_echo")
        self.loop = LoopBackend("/loop/again")
        self.addCleanup(self.loop.close)
        static = '  proxy-core.balancer = "static"\n'
        conf = (block('$HTTP["url"] =^ "/a/"', "http", [self.A], ALLOW) +
                block('$HTTP["url"] =^ "/f/"', "fastcgi", [self.F], ALLOW) +
                block('$HTTP["url"] =^ "/s/"', "scgi", [self.S], ALLOW) +
                block('$HTTP["url"] =^ "/na/"', "http", [self.A]) +
                block('$HTTP["url"] =^ "/nf/"', "fastcgi", [self.F]) +
                block('$HTTP["url"] =^ "/ns/"', "scgi", [self.S]) +
                block('$HTTP["url"] =^ "/b/"', "fastcgi", [self.F]) +
                block('$HTTP["url"] =^ "/two/"', "http", [self.A, self.A2], static + ALLOW) +
                block('$HTTP["url"] =^ "/loop/"', "http", [self.loop.addr], ALLOW) +
                block('$HTTP["host"] == "other.test"', "http", [self.C]))
        self.pt = self.start_portico(conf)

    def fetch(self, target, **kw):
        return self.get(self.pt.port, target, **kw)

    def assertNoXr(self, r):
        for n in XR:
            self.assertIsNone(r.header(n), "%s reached the client: %r" % (n, r))

    def test_uri_to_route_of_another_protocol(self):
        for first in ("a", "f", "s"):
            with self.subTest(first=first), Client(self.pt.port) as c:
                t = "/%s/x?%s" % (first, hdrs(uri="/b/new?k=v", **{"X-First": "yes"}))
                c.send(request_bytes("GET", t))
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertNoXr(r)
                self.assertIsNone(r.header("X-First"), "the first response's header went out")
                j = r.json()
                self.assertEqual(j["backend"], self.F)
                self.assertEqual(j["params"]["REQUEST_URI"], "/b/new?k=v")
                self.assertEqual(j["params"]["QUERY_STRING"], "k=v")
                self.assertEqual(j["params"]["SCRIPT_NAME"], "/b/new")
                # the client connection goes on
                c.send(request_bytes("GET", "/%s/plain" % first))
                r2 = c.read_response()
                self.assertEqual(r2.status, 200)
                self.assertNotIn("/b/", r2.body.decode())

    def test_uri_from_fastcgi_to_http(self):
        r = self.fetch("/f/x?" + hdrs(uri="/a/seen?z=1"))
        self.assertEqual(r.status, 200, r)
        self.assertNoXr(r)
        self.assertEqual(r.json()["target"], "/a/seen?z=1")
        self.assertEqual(r.json()["backend"], self.A)

    def test_uri_to_no_route_is_404(self):
        r = self.fetch("/a/x?" + hdrs(uri="/nowhere"))
        self.assertEqual(r.status, 404, r)
        self.assertNoXr(r)

    def test_host(self):
        # /h/ has a route only for Host other.test: the re-dispatch sees the new Host
        self.assertEqual(self.fetch("/h/y").status, 404)
        r = self.fetch("/a/x?" + hdrs(host="other.test", uri="/h/y"))
        self.assertEqual(r.status, 200, r)
        self.assertNoXr(r)
        j = r.json()
        self.assertEqual(j["backend"], self.C)
        self.assertEqual(j["target"], "/h/y")
        got = dict((n.lower(), v) for n, v in j["headers"])
        # what the backend is told about the host: X-Forwarded-Host is the rewritten one
        self.assertEqual(got.get("x-forwarded-host"), "other.test")

    def test_host_from_fastcgi(self):
        r = self.fetch("/f/x?" + hdrs(host="other.test", uri="/h/z"))
        self.assertEqual((r.status, r.json()["backend"]), (200, self.C))

    # The request is routed again "with the new Host": the backend that answers must be told
    # that Host, consistently (Host header, HTTP_HOST, SERVER_NAME, X-Forwarded-Host). Today
    # only SERVER_NAME and X-Forwarded-Host change; the Host header stays the client's.
    def test_host_header_forwarded_is_the_new_one(self):
        j = self.fetch("/a/x?" + hdrs(host="other.test", uri="/h/y")).json()
        self.assertEqual([v for n, v in j["headers"] if n.lower() == "host"], ["other.test"])

    def test_host_cgi_variables_agree(self):
        p = self.fetch("/a/x?" + hdrs(host="new.test", uri="/b/q")).json()["params"]
        self.assertEqual((p["SERVER_NAME"], p["HTTP_HOST"]), ("new.test", "new.test"))

    def test_backend_of_the_route(self):
        # /two/ is static (A first); X-Rewrite-Backend picks A2 on the re-dispatch
        self.assertEqual(self.fetch("/two/plain").json()["backend"], self.A)
        r = self.fetch("/two/x?" + hdrs(uri="/two/y", backend=self.A2))
        self.assertEqual(r.status, 200, r)
        self.assertNoXr(r)
        self.assertEqual((r.json()["backend"], r.json()["target"]), (self.A2, "/two/y"))
        # to another route, naming a backend of that route
        r = self.fetch("/a/x?" + hdrs(uri="/b/z", backend=self.F))
        self.assertEqual((r.status, r.json()["backend"]), (200, self.F))

    def test_backend_not_in_list_is_502(self):
        for target in ("/a/x?" + hdrs(uri="/b/z", backend=self.A),  # A is not a /b/ backend
                       "/two/x?" + hdrs(uri="/two/y", backend=self.C),
                       "/two/x?" + hdrs(uri="/two/y", backend="127.0.0.1:1")):
            with self.subTest(target=target):
                r = self.fetch(target)
                self.assertEqual(r.status, 502, r)
                self.assertNoXr(r)

    def test_at_most_four_redispatches(self):
        with Client(self.pt.port) as c:
            for levels, want in ((1, 200), (4, 200), (5, 502), (4, 200), (6, 502)):
                with self.subTest(levels=levels):
                    c.send(request_bytes("GET", chain("/a/x", levels, "/a/end")))
                    r = c.read_response()
                    self.assertEqual(r.status, want, r)
                    self.assertNoXr(r)
                    if want == 200:
                        self.assertEqual(r.json()["target"], "/a/end")
                    if c.is_closed(0.05):  # a 502 may close; reconnect
                        c.close()
                        c = Client(self.pt.port)

    def test_loop_is_bounded(self):
        t0 = time.monotonic()
        r = self.fetch("/loop/start")
        took = time.monotonic() - t0
        self.assertEqual(r.status, 502, r)
        self.assertNoXr(r)
        self.assertNotIn(b"first", r.body)
        self.assertLess(took, 3.0)
        # the first request plus at most 4 re-dispatches reached the backend
        self.assertEqual(self.loop.count, 5)

    def test_not_allowed(self):
        for p, key in (("na", "target"), ("nf", "params"), ("ns", "params")):
            with self.subTest(route=p):
                t = "/%s/x?%s" % (p, hdrs(uri="/b/y", host="other.test", backend=self.F))
                r = self.fetch(t)
                self.assertEqual(r.status, 200, r)
                self.assertNoXr(r)
                j = r.json()
                self.assertIn(key, j)  # the first backend's own answer
                self.assertNotIn("/b/y", r.body.decode())

    def test_request_with_body_not_redispatched(self):
        for p in ("a", "f", "s"):
            t = "/%s/x?%s" % (p, hdrs(uri="/b/y"))
            for how in ("length", "chunked"):
                with self.subTest(route=p, body=how), Client(self.pt.port) as c:
                    if how == "length":
                        c.send(request_bytes("POST", t, body=b"payload"))
                    else:
                        c.send(request_bytes("POST", t, headers=[("Transfer-Encoding",
                                                                  "chunked")])
                               + chunked([b"pay", b"load"]))
                    r = c.read_response()
                    self.assertEqual(r.status, 200, r)
                    self.assertNoXr(r)
                    j = r.json()
                    self.assertEqual(j["body_len"], 7)
                    self.assertNotIn("/b/y", r.body.decode())
                    c.send(request_bytes("GET", "/%s/next" % p))
                    self.assertEqual(c.read_response().status, 200)

    # An X-Rewrite-URI that is not an origin-form target is the backend's fault: 502, as for
    # any invalid backend response (SPEC §4), never a 400 blaming the client, and never
    # forwarded (a space would break the request line sent to an HTTP backend).
    def test_invalid_rewrite_uri_is_502(self):
        for uri in ("relative", "*", "/a/a b", "/a/x HTTP/1.0", "/b/%00x"):
            with self.subTest(uri=uri):
                r = self.fetch("/a/x?" + hdrs(uri=uri))
                self.assertEqual(r.status, 502, r)
                self.assertNoXr(r)

    def test_invalid_rewrite_host_is_502(self):
        # the authority a backend names is checked like a client's Host field
        for host in ("a b", "user@h", "h:port", "[::1", "h/x"):
            with self.subTest(host=host):
                r = self.fetch("/a/x?" + hdrs(uri="/b/y", host=host))
                self.assertEqual(r.status, 502, r)
                self.assertNoXr(r)

    def test_head_is_redispatched(self):
        r = self.fetch("/a/x?" + hdrs(uri="/b/h"), method="HEAD")
        self.assertEqual(r.status, 200, r)
        self.assertNoXr(r)
        self.assertEqual(r.body, b"")


class XRewriteWithRequestRewrites(GatewayTest):
    """A re-dispatched request is routed again: the rewrite-request rules of the route it
    left must not follow it to the new route."""

    def setUp(self):
        super().setUp()
        self.A = self.start_backend("http_echo")
        self.C = self.start_backend("http_echo")
        self.F = self.start_backend("fcgi_echo")
        rw = ('  proxy-core.rewrite-request = ( "X-Test" => ( "^(.*)$" => "%s-$1" ),\n'
              '                                 "_uri" => ( "^/%s(/.*)$" => "$1" ) )\n')
        conf = (block('$HTTP["url"] =^ "/rw/"', "http", [self.A], ALLOW + rw % ("rw", "rw")) +
                block('$HTTP["url"] =^ "/c/"', "http", [self.C], rw % ("c", "c")) +
                block('$HTTP["url"] =^ "/plain/"', "http", [self.C]) +
                block('$HTTP["url"] =^ "/fplain/"', "fastcgi", [self.F]))
        self.pt = self.start_portico(conf)

    def seen(self, j, name):
        return [v for n, v in j["headers"] if n.lower() == name.lower()]

    def test_rewrites_apply_on_first_route(self):
        r = self.get(self.pt.port, "/rw/x", headers=[("X-Test", "v")])
        self.assertEqual((r.json()["target"], self.seen(r.json(), "X-Test")), ("/x", ["rw-v"]))

    def test_new_route_rewrites_only(self):
        r = self.get(self.pt.port, "/rw/x?" + hdrs(uri="/c/y"), headers=[("X-Test", "v")])
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["backend"], self.C)
        self.assertEqual(j["target"], "/y")
        self.assertEqual(self.seen(j, "X-Test"), ["c-v"])

    def test_route_without_rewrites_sees_original(self):
        r = self.get(self.pt.port, "/rw/x?" + hdrs(uri="/plain/y"), headers=[("X-Test", "v")])
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual((j["backend"], j["target"]), (self.C, "/plain/y"))
        self.assertEqual(self.seen(j, "X-Test"), ["v"])

    def test_fastcgi_route_without_rewrites_sees_original(self):
        r = self.get(self.pt.port, "/rw/x?" + hdrs(uri="/fplain/y"), headers=[("X-Test", "v")])
        self.assertEqual(r.status, 200, r)
        p = r.json()["params"]
        self.assertEqual(p["REQUEST_URI"], "/fplain/y")
        self.assertNotIn("REDIRECT_URI", p)
        self.assertEqual(p["HTTP_X_TEST"], "v")


if __name__ == "__main__":
    unittest.main()
