"""FastCGI and SCGI backends (SPEC §4 CGI environment, CGI response heads) through
tests/backends/fcgi_echo and scgi_echo, and the hostile backend's FastCGI and SCGI scripts."""

import os
import struct

from harness import (Client, GatewayTest, IncompleteResponse, chunked, fnv1a64, pattern_bytes,
                     request_bytes, route)

FCGI_STDOUT, FCGI_STDERR, FCGI_END_REQUEST = 6, 7, 3


def fcgi_record(rtype, content, rid=1, padding=0):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), padding, 0) + content + \
        b"\0" * padding


# The empty STDOUT record that ends the stream, for request id 1.
EMPTY_STDOUT = "sendhex " + fcgi_record(FCGI_STDOUT, b"").hex()


class CgiEcho:
    """Shared tests; subclasses set PROTOCOL and BACKEND."""

    PROTOCOL = None
    BACKEND = None

    def setUp(self):
        super().setUp()
        self.docroot = os.path.join(self.tmp, "docroot")
        os.makedirs(self.docroot)
        self.be = self.start_backend(self.BACKEND)
        p = self.PROTOCOL
        conf = ('server.document-root = "%s"\n' % self.docroot +
                "server.max-request-size = 16777216\n" +
                route([self.be], p, '$HTTP["url"] =^ "/root/"',
                      '  proxy-core.script-name = ""\n') +
                route([self.be], p, '$HTTP["url"] =^ "/app/"',
                      '  proxy-core.script-name = "/app"\n') +
                route([self.be], p, '$HTTP["url"] =^ "/php/"'))
        self.pt = self.start_portico(conf)

    def params(self, target, method="GET", headers=(), body=None, host="test.local"):
        with Client(self.pt.port) as c:
            c.send(request_bytes(method, target, host, headers, body))
            r = c.read_response(method)
            self.assertEqual(r.status, 200, r)
            e = r.json()
            e["_client_port"] = c.local_port()
            return e

    def test_get_environment(self):
        e = self.params("/app/sub/path?x=1&y=%41", headers=[
            ("X-Custom-Thing", "v"), ("Cookie", "a=b; c=d"), ("Proxy", "http://evil.test/"),
            ("User-Agent", "it/1")])
        p = e["params"]
        self.assertEqual(p["REQUEST_METHOD"], "GET")
        self.assertEqual(p["QUERY_STRING"], "x=1&y=%41")
        self.assertEqual(p["REQUEST_URI"], "/app/sub/path?x=1&y=%41")
        self.assertEqual(p["SCRIPT_NAME"], "/app")
        self.assertEqual(p["PATH_INFO"], "/sub/path")
        self.assertEqual(p["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(p["GATEWAY_INTERFACE"], "CGI/1.1")
        self.assertEqual(p["REMOTE_ADDR"], "127.0.0.1")
        self.assertEqual(p["REMOTE_PORT"], str(e["_client_port"]))
        self.assertEqual(p["SERVER_ADDR"], "127.0.0.1")
        self.assertEqual(p["SERVER_PORT"], str(self.pt.port))
        self.assertEqual(p["SERVER_NAME"], "test.local")
        self.assertEqual(p["REQUEST_SCHEME"], "http")
        self.assertNotIn("HTTPS", p)
        self.assertEqual(p["REDIRECT_STATUS"], "200")
        self.assertEqual(p["DOCUMENT_ROOT"], self.docroot)
        self.assertTrue(p["SERVER_SOFTWARE"].startswith("portico"), p["SERVER_SOFTWARE"])
        self.assertEqual(p["HTTP_HOST"], "test.local")
        self.assertEqual(p["HTTP_X_CUSTOM_THING"], "v")
        self.assertEqual(p["HTTP_COOKIE"], "a=b; c=d")
        self.assertEqual(p["HTTP_USER_AGENT"], "it/1")
        self.assertNotIn("HTTP_PROXY", p, "httpoxy: Proxy: became HTTP_PROXY")
        self.assertIn(p.get("CONTENT_LENGTH"), ("0", None) if self.PROTOCOL == "fastcgi"
                      else ("0",))
        self.assertIn(p.get("CONTENT_TYPE"), (None, ""))
        if self.PROTOCOL == "scgi":
            self.assertEqual(p["SCGI"], "1")
        self.assertEqual(e["body_len"], 0)

    def test_script_name_empty(self):
        p = self.params("/root/a/b?q")["params"]
        self.assertEqual(p["SCRIPT_NAME"], "")
        self.assertEqual(p["PATH_INFO"], "/root/a/b")
        self.assertEqual(p["QUERY_STRING"], "q")

    def test_path_info_is_decoded(self):
        p = self.params("/app/a%20b/c")["params"]
        self.assertEqual(p["PATH_INFO"], "/a b/c")
        self.assertEqual(p["REQUEST_URI"], "/app/a%20b/c")
        self.assertEqual(p["QUERY_STRING"], "")

    def test_script_name_unset_uses_document_root(self):
        p = self.params("/php/index.php?x=y")["params"]
        self.assertEqual(p["SCRIPT_NAME"], "/php/index.php")
        self.assertEqual(p["SCRIPT_FILENAME"], self.docroot + "/php/index.php")
        self.assertIn(p.get("PATH_INFO"), (None, ""))
        self.assertEqual(p["QUERY_STRING"], "x=y")

    def test_content_length_first(self):
        e = self.params("/app/first", "POST", body=b"abc")
        names = [n for n in e["params"] if n != "FCGI_ROLE"]  # libfcgi adds FCGI_ROLE
        self.assertEqual(names[0], "CONTENT_LENGTH", names[:5])
        self.assertEqual(e["params"]["CONTENT_LENGTH"], "3")

    def test_post_content_length(self):
        body = os.urandom(200000)
        e = self.params("/app/p", "POST", [("Content-Type", "application/octet-stream")], body)
        p = e["params"]
        self.assertEqual(p["CONTENT_LENGTH"], str(len(body)))
        self.assertEqual(p["CONTENT_TYPE"], "application/octet-stream")
        self.assertEqual(p["REQUEST_METHOD"], "POST")
        self.assertEqual((e["body_len"], e["body_fnv"]), (len(body), fnv1a64(body)))

    def test_post_chunked_gets_real_content_length(self):
        pieces = [os.urandom(n) for n in (1, 1000, 65536, 9000)]
        body = b"".join(pieces)
        with Client(self.pt.port) as c:
            c.send(request_bytes("POST", "/app/chunked", headers=[
                ("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")]))
            c.send(chunked(pieces))
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["params"]["CONTENT_LENGTH"], str(len(body)))
        self.assertNotIn("HTTP_TRANSFER_ENCODING", e["params"])
        self.assertEqual((e["body_len"], e["body_fnv"]), (len(body), fnv1a64(body)))

    def test_keep_alive_and_pipelining(self):
        with Client(self.pt.port) as c:
            c.send(b"".join(request_bytes("GET", "/app/k%d" % i) for i in range(3)))
            for i in range(3):
                self.assertEqual(c.read_response().json()["params"]["PATH_INFO"], "/k%d" % i)
            for i in range(3):
                c.send(request_bytes("POST", "/app/s%d" % i, body=b"x" * i))
                e = c.read_response().json()
                self.assertEqual((e["params"]["PATH_INFO"], e["body_len"]), ("/s%d" % i, i))

    def test_response_status_and_headers(self):
        r = self.get(self.pt.port, "/app/?status=404&header=X-From:backend")
        self.assertEqual((r.status, r.header("X-From")), (404, "backend"))
        r = self.get(self.pt.port, "/app/?status=302&header=Location:%2Felsewhere")
        self.assertEqual((r.status, r.header("Location")), (302, "/elsewhere"))

    def test_big_response(self):
        n = 5 * (1 << 20) + 3
        r = self.get(self.pt.port, "/app/?bytes=%d" % n)
        self.assertEqual(len(r.body), n)
        self.assertEqual(r.body, pattern_bytes(0, n))

    def test_unknown_length_response(self):
        r = self.get(self.pt.port, "/app/?chunked=1&bytes=70000")
        self.assertEqual(r.framing, "chunked")
        self.assertEqual(r.body, pattern_bytes(0, 70000))
        with Client(self.pt.port) as c:
            c.send(b"GET /app/?chunked=1&bytes=70000 HTTP/1.0\r\n\r\n")
            r = c.read_response()
            self.assertIn(r.framing, ("close", "length"))
            self.assertEqual(r.body, pattern_bytes(0, 70000))

    def test_head(self):
        with Client(self.pt.port) as c:
            c.send(request_bytes("HEAD", "/app/?bytes=5000"))
            r = c.read_response("HEAD")
            self.assertEqual(r.status, 200)
            c.send(request_bytes("GET", "/app/after"))
            self.assertEqual(c.read_response().json()["params"]["PATH_INFO"], "/after")

    def test_header_names_colliding_in_cgi_400(self):
        with Client(self.pt.port) as c:
            c.send(request_bytes("GET", "/app/x", headers=[("X-Foo", "a"), ("X_Foo", "b")]))
            self.assertEqual(c.read_response().status, 400)


class FastCgiEcho(CgiEcho, GatewayTest):
    PROTOCOL = "fastcgi"
    BACKEND = "fcgi_echo"


class ScgiEcho(CgiEcho, GatewayTest):
    PROTOCOL = "scgi"
    BACKEND = "scgi_echo"


class FastCgiHostile(GatewayTest):
    FAST = "proxy-core.read-timeout = 2\nproxy-core.max-retries = 1\n"

    def run_script(self, script, target="/f", method="GET"):
        addr = self.start_hostile(script)
        self.pt = self.start_portico(route([addr], "fastcgi", extra=self.FAST))
        with Client(self.pt.port, timeout=10) as c:
            c.send(request_bytes(method, target))
            try:
                return c.read_response(method)
            except IncompleteResponse as e:  # framing cut: the caller decides if that is right
                return e

    def test_split_records_and_padding(self):
        rec1 = fcgi_record(FCGI_STDOUT, b"Status: 201 Created\r\nContent-Type: text/plain\r\n"
                           b"X-Split: yes\r\n\r\nhello ", padding=3)
        rec2 = fcgi_record(FCGI_STDOUT, b"world")
        end = fcgi_record(FCGI_STDOUT, b"") + fcgi_record(FCGI_END_REQUEST, b"\0" * 8)
        allb = rec1 + rec2 + end
        cuts = [1, 3, 9, 30, len(rec1) - 1, len(rec1) + 4, len(rec1 + rec2) + 2, len(allb)]
        script, prev = ["read"], 0
        for cut in cuts:
            script.append("sendhex " + allb[prev:cut].hex())
            script.append("sleep 30")
            prev = cut
        r = self.run_script("\n".join(script))
        self.assertNotIsInstance(r, Exception, r)
        self.assertEqual((r.status, r.header("X-Split"), r.body), (201, "yes", b"hello world"))

    def test_stderr_interleaved(self):
        marker = "fcgi-stderr-marker-4711"
        r = self.run_script(
            "read\n"
            "fcgi_stdout Content-Type: text/plain\\r\\n\\r\\nhel\n"
            "fcgi_stderr " + marker + "\\n\n"
            "fcgi_stdout lo\n" + EMPTY_STDOUT + "\n"
            "fcgi_end 0\n")
        self.assertNotIsInstance(r, Exception, r)
        self.assertEqual((r.status, r.body), (200, b"hello"))
        self.assertTrue(self.wait_stderr(self.pt, marker), "FastCGI stderr not in the error log")

    def test_lf_only_head_and_status(self):
        r = self.run_script("read\nfcgi_stdout Status: 404 Not Found\\nContent-Type: text/plain"
                            "\\n\\nnope\n" + EMPTY_STDOUT + "\nfcgi_end 0\n")
        self.assertEqual((r.status, r.body), (404, b"nope"))

    def test_location_without_status_is_302(self):
        r = self.run_script("read\nfcgi_stdout Location: /there\\r\\n\\r\\n\n" + EMPTY_STDOUT + "\n"
                            "fcgi_end 0\n")
        self.assertEqual((r.status, r.header("Location")), (302, "/there"))

    def test_http_status_line_accepted(self):
        r = self.run_script("read\nfcgi_stdout HTTP/1.1 203 Whatever\\r\\nContent-Length: 2"
                            "\\r\\n\\r\\nok\n" + EMPTY_STDOUT + "\nfcgi_end 0\n")
        self.assertEqual((r.status, r.body), (203, b"ok"))

    def assertFailed(self, r):
        """502, or (when the response had already started) a cut connection."""
        if isinstance(r, IncompleteResponse):
            return
        self.assertEqual(r.status, 502, r)

    def test_missing_end_request(self):
        r = self.run_script("read\nfcgi_stdout Content-Type: text/plain\\r\\n\\r\\nhi\n"
                            + EMPTY_STDOUT + "\nclose\n")
        self.assertFailed(r)

    def test_missing_end_request_before_head(self):
        r = self.run_script("read\nfcgi_stdout Content-Type: text/pl\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_wrong_request_id(self):
        r = self.run_script("read\nfcgi_raw 6 2 Status: 200 OK\\r\\n\\r\\nwrong\n"
                            "fcgi_raw 3 2 \\0\\0\\0\\0\\0\\0\\0\\0\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_garbage(self):
        r = self.run_script("read\nsend this is not FastCGI at all\\r\\n\\r\\n\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_bad_cgi_head(self):
        r = self.run_script("read\nfcgi_stdout no colon in this line\\r\\n\\r\\n\n" + EMPTY_STDOUT + "\n"
                            "fcgi_end 0\n")
        self.assertEqual(r.status, 502, r)

    def test_silence_504(self):
        r = self.run_script("read\nhang\n")
        self.assertEqual(r.status, 504, r)


class ScgiHostile(GatewayTest):
    def run_script(self, script):
        addr = self.start_hostile(script)
        pt = self.start_portico(route([addr], "scgi", extra="proxy-core.read-timeout = 2\n"))
        return self.get(pt.port, "/s")

    def test_lf_head_close_delimited(self):
        r = self.run_script("read\nsend Status: 201 Created\\nContent-Type: text/plain\\n\\n"
                            "body bytes\nclose\n")
        self.assertEqual((r.status, r.body), (201, b"body bytes"))

    def test_garbage(self):
        r = self.run_script("read\nsend no head here\\r\\n\\r\\n\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_close_before_response(self):
        r = self.run_script("read\nclose\n")
        self.assertEqual(r.status, 502, r)
