"""Backend failures (SPEC §4 status codes, §3 retries): refused connections, fail-over to a
second backend, and the hostile backend's scripts: reset, close, garbage, silence."""

import time

from harness import Client, GatewayTest, IncompleteResponse, free_port, request_bytes, route

FAST = ("proxy-core.read-timeout = 1\n"
        "proxy-core.connect-timeout = 1\n"
        "proxy-core.max-retries = 1\n")


class Failures(GatewayTest):
    def portico_for(self, backends, extra=""):
        return self.start_portico(route(backends, extra=FAST + extra))

    def test_refused_is_503_with_retry_after(self):
        pt = self.portico_for(["127.0.0.1:%d" % free_port()])
        for _ in range(2):  # the first finds it refusing, the second finds it disabled
            r = self.get(pt.port, "/x")
            self.assertEqual(r.status, 503, r)
            self.assertIsNotNone(r.header("Retry-After"))
            self.assertRegex(r.header("Retry-After"), r"^\d+$")

    def test_second_backend_takes_over(self):
        echo = self.start_backend("http_echo")
        dead = "127.0.0.1:%d" % free_port()
        for balancer in ("round-robin", "static", "sqf"):
            with self.subTest(balancer=balancer):
                pt = self.portico_for([dead, echo], 'proxy-core.balancer = "%s"\n' % balancer)
                for i in range(8):
                    r = self.get(pt.port, "/fo/%d" % i)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.json()["backend"], echo)

    def test_post_replayed_to_second_backend(self):
        """A buffered body can be replayed after a refused connect."""
        echo = self.start_backend("http_echo")
        dead = "127.0.0.1:%d" % free_port()
        pt = self.portico_for([dead, echo], 'proxy-core.balancer = "static"\n')
        body = b"replay me" * 1000
        r = self.get(pt.port, "/post", "POST", body=body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["body_len"], len(body))

    def hostile_status(self, script, target="/h"):
        pt = self.portico_for([self.start_hostile(script)])
        t0 = time.monotonic()
        with Client(pt.port, timeout=10) as c:
            c.send(request_bytes("GET", target))
            r = c.read_response()
        return r, time.monotonic() - t0

    def test_reset_before_response_502(self):
        r, _ = self.hostile_status("read\nreset\n")
        self.assertEqual(r.status, 502, r)

    def test_close_before_response_502(self):
        r, _ = self.hostile_status("read\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_garbage_head_502(self):
        r, _ = self.hostile_status("read\nsend SSH-2.0-OpenSSH_9.2\\r\\n\\r\\n\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_bad_status_line_502(self):
        r, _ = self.hostile_status("read\nsend HTTP/1.1 2000 OK\\r\\n\\r\\n\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_bad_backend_content_length_502(self):
        r, _ = self.hostile_status(
            "read\nsend HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nContent-Length: 4"
            "\\r\\n\\r\\nabcd\nclose\n")
        self.assertEqual(r.status, 502, r)

    def test_silence_is_504(self):
        r, dt = self.hostile_status("read\nhang\n")
        self.assertEqual(r.status, 504, r)
        self.assertLess(dt, 5.0, "read-timeout of 1 s took %.1f s" % dt)

    def test_slow_head_after_partial_bytes_504(self):
        r, dt = self.hostile_status("read\nsend HTTP/1.1 200 OK\\r\\n\nhang\n")
        self.assertEqual(r.status, 504, r)

    def test_close_mid_body_cuts_client(self):
        script = ("read\n"
                  "send HTTP/1.1 200 OK\\r\\nContent-Length: 5000\\r\\n\\r\\n" + "z" * 1000 + "\n"
                  "sleep 300\n"
                  "close\n")
        pt = self.portico_for([self.start_hostile(script)])
        with Client(pt.port, timeout=10) as c:
            c.send(request_bytes("GET", "/cut"))
            r = c.read_head()
            self.assertEqual(r.status, 200)
            with self.assertRaises(IncompleteResponse) as cm:
                c.body_stream(r)
            self.assertLess(cm.exception.got, 5000)

    def test_close_mid_chunked_body_cuts_client(self):
        script = ("read\n"
                  "send HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n"
                  "5\\r\\nhello\\r\\n\n"
                  "sleep 300\n"
                  "close\n")
        pt = self.portico_for([self.start_hostile(script)])
        with Client(pt.port, timeout=10) as c:
            c.send(request_bytes("GET", "/cut"))
            r = c.read_head()
            self.assertEqual(r.status, 200)
            with self.assertRaises(IncompleteResponse):
                c.body_stream(r)

    def test_gateway_keeps_serving_after_failures(self):
        echo = self.start_backend("http_echo")
        hostile = self.start_hostile("read\nreset\n")
        conf = (route([hostile], cond='$HTTP["url"] =^ "/bad/"', extra=FAST) +
                route([echo], cond='$HTTP["url"] =^ "/good/"', extra=FAST))
        pt = self.start_portico(conf)
        with Client(pt.port) as c:
            for i in range(3):
                # the reset marks the backend down for disable-time: the first request gets
                # 502 (its failure stands, no other backend), the next ones 503 (none up)
                c.send(request_bytes("GET", "/bad/%d" % i))
                self.assertEqual(c.read_response().status, 502 if i == 0 else 503)
                c.send(request_bytes("GET", "/good/%d" % i))
                self.assertEqual(c.read_response().json()["target"], "/good/%d" % i)
