"""Edges of the connection and the exchange: bytes that arrive early or wait in a buffer,
pipelines of answers the gateway makes itself, backlog wake-ups around failing peers, slow
streamed uploads, a 101 carrying X-Rewrite, access-log lines longer than their buffer."""

import time

from harness import Client, GatewayTest, ScriptBackend, request_bytes, route
from test_ops import UpgradeBackend


class TunnelEarlyBytes(GatewayTest):
    def test_upgrade_bytes_sent_with_the_request_reach_the_backend(self):
        # A client may send tunnel bytes right behind the Upgrade request (no wait for the 101).
        # They sit in c->in while the request is with the backend; when the 101 makes the
        # connection a tunnel (x_head in conn.c) nothing hands them to the exchange until the
        # client sends again.
        be = UpgradeBackend()
        self.addCleanup(be.close)
        pt = self.start_portico(route([be.addr]))
        with Client(pt.port, timeout=3) as c:
            c.send(request_bytes("GET", "/ws", headers=[("Connection", "Upgrade"),
                                                       ("Upgrade", "shout")]) + b"early bytes")
            r = c.read_head()
            self.assertEqual(r.status, 101)
            deadline = time.monotonic() + 3
            while len(c.buf) < 11 and time.monotonic() < deadline:
                try:
                    if not c._fill():
                        break
                except OSError:
                    break
            self.assertEqual(bytes(c.buf[:11]), b"EARLY BYTES",
                             "bytes sent behind the Upgrade request never reached the backend")


class StreamingBodyResume(GatewayTest):
    def test_streamed_body_tail_left_in_the_read_buffer_is_sent(self):
        # server.stream-request-body: read_body (request.c) stops taking bytes once 64 KiB wait
        # for the exchange (reading_paused), leaving the rest in c->in. When the exchange takes
        # the 64 KiB, x_body_drained feeds EV_READ to resume, but client_read reads the socket
        # first and returns on EAGAIN without looking at c->in: when the client has sent
        # everything already, the tail of the body is never sent and the request hangs.
        # The exchange waits in the backlog (max-pool-size 1, slot taken), so nothing drains the
        # first 64 KiB before the last bytes are read.
        be = self.start_backend("http_echo")
        pt = self.start_portico("server.stream-request-body = \"enable\"\n" + route(
            [be], extra="  proxy-core.max-pool-size = 1\n"))
        blocker = Client(pt.port, timeout=10)
        self.addCleanup(blocker.close)
        blocker.send(request_bytes("GET", "/slow?delay_ms=1500"))
        time.sleep(0.3)
        # 80 KiB: past the 64 KiB the body may hold, and what is left after that fits the
        # read buffer (16 KiB + 8 KiB by default), so the client has nothing more to send
        body = bytes(range(256)) * 320
        with Client(pt.port, timeout=6) as c:
            head = request_bytes("POST", "/upload", headers=[("Content-Length", str(len(body)))])
            c.send(head + body)
            self.assertEqual(blocker.read_response().status, 200)
            t0 = time.monotonic()
            try:
                r = c.read_response("POST")
            except Exception as e:  # noqa: BLE001
                self.fail("no response %.1f s after the backend became free: %r"
                          % (time.monotonic() - t0, e))
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["body_len"], len(body))


class PipelinedGatewayAnswers(GatewayTest):
    def _pipeline_404s(self, extra):
        # Every answer the gateway makes itself (404 here) is written at once, and flush ->
        # finish_request -> process -> on_head -> handle_request -> send_error -> flush runs
        # the next pipelined request one stack level deeper: recursion as deep as the read
        # buffer holds requests (server.max-request-field-size + 8 KiB).
        be = self.start_backend("http_echo")
        pt = self.start_portico(extra + route([be], cond='$HTTP["url"] =^ "/app"'))
        one = b"GET /x HTTP/1.1\r\nHost:a\r\n\r\n"
        n = 40000
        with Client(pt.port, timeout=10) as c:
            # a slow first request: meanwhile the pipelined ones fill the read buffer, and all
            # of them are answered in one go when it ends
            c.sock.sendall(b"GET /app?delay_ms=1000 HTTP/1.1\r\nHost:a\r\n\r\n" + one * n)
            got = 0
            tail = b""
            mark = b"HTTP/1.1 404"
            deadline = time.monotonic() + 20
            while got < n and time.monotonic() < deadline:
                try:
                    d = c.sock.recv(1 << 20)
                except OSError:
                    break
                if not d:
                    break
                buf = tail + d
                got += buf.count(mark)
                tail = buf[-(len(mark) - 1):]
            self.assertTrue(pt.alive(), "portico died answering %d pipelined requests" % n)
            self.assertEqual(got, n)

    def test_many_pipelined_gateway_answers_large_buffer(self):
        self._pipeline_404s("server.max-request-field-size = 1048576\n"
                            "server.max-keep-alive-requests = 100000\n")


class FlakyOnce(ScriptBackend):
    """An HTTP backend whose first connection reads the request, waits, and closes without an
    answer; later connections get 200 "ok" (Connection: close)."""

    def __init__(self, first_delay=0.5):
        self.first_delay = first_delay
        super().__init__()

    def answer(self, conn, head, n):
        if n == 1:
            time.sleep(self.first_delay)
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def waiter_after_a_failure(test, disable_time, within):
    """A (the only slot, max-pool-size 1) fails at a backend that closes without answering;
    B, queued behind it, must be served as soon as the peer is usable again, well before its
    backlog-timeout (4 s)."""
    be = FlakyOnce()
    test.addCleanup(be.close)
    pt = test.start_portico(route([be.addr], extra='  proxy-core.max-pool-size = 1\n'
                                  '  proxy-core.disable-time = %d\n'
                                  '  proxy-core.backlog-timeout = 4\n' % disable_time))
    a = Client(pt.port, timeout=10)
    test.addCleanup(a.close)
    a.send(request_bytes("GET", "/a"))
    time.sleep(0.2)
    with Client(pt.port, timeout=10) as b:
        t0 = time.monotonic()
        b.send(request_bytes("GET", "/b"))
        test.assertEqual(a.read_response().status, 502)
        r = b.read_response()
        took = time.monotonic() - t0
        test.assertEqual(r.status, 200, "waiter got %d after %.1f s" % (r.status, took))
        test.assertLess(took, within)


class BacklogPeerDisabledAfterQueueing(GatewayTest):
    def test_waiter_wakes_when_a_peer_disabled_after_it_queued_returns(self):
        # the peer is disabled for 1 s after B queued: B's sleep must end then, not at 4 s
        waiter_after_a_failure(self, disable_time=1, within=2.5)


class Scripted(ScriptBackend):
    """A one-shot-per-connection HTTP backend: reads a request head, sends `reply`, then holds
    the connection open for `hold` seconds (or closes at once)."""

    def __init__(self, reply, hold=1.0):
        self.reply, self.hold = reply, hold
        super().__init__()

    def answer(self, conn, head, n):
        conn.sendall(self.reply)
        time.sleep(self.hold)


class XRewriteOn101(GatewayTest):
    def test_101_with_x_rewrite_does_not_leak_tunnel_bytes_headless(self):
        # x_head takes X-Rewrite from a 101 (only X-Sendfile checks !rsp->upgrade) and discards
        # the body, but the exchange is already a tunnel (UP_TUNNEL is set before the head op)
        # and tunnel bytes bypass discard: they go to the client through tunnel_data before any
        # status line, and the connection state stays GW_C_ACTIVE.
        be = Scripted(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                      b"Upgrade: shout\r\nX-Rewrite-URI: /elsewhere\r\n\r\nRAW-TUNNEL-BYTES",
                      hold=1.0)
        self.addCleanup(be.close)
        pt = self.start_portico(route([be.addr],
                                      extra='  proxy-core.allow-x-rewrite = "enable"\n'))
        with Client(pt.port, timeout=4) as c:
            c.send(request_bytes("GET", "/ws", headers=[("Connection", "Upgrade"),
                                                       ("Upgrade", "shout")]))
            data = b""
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and len(data) < 12:
                try:
                    d = c.sock.recv(4096)
                except OSError:
                    break
                if not d:
                    break
                data += d
            self.assertTrue(data.startswith(b"HTTP/1."),
                            "the client got bytes that are no response: %r" % data[:80])


class BacklogFailedPeerWake(GatewayTest):
    def test_slot_freed_by_a_failed_peer_wakes_the_backlog(self):
        # with disable-time 0 the peer is usable at once: the slot A gave back wakes B
        waiter_after_a_failure(self, disable_time=0, within=2.0)


class StreamingSlowUploader(GatewayTest):
    def test_slow_uploader_is_not_a_backend_timeout(self):
        # Streaming a body, the exchange arms read-timeout whenever its output queue is empty
        # (gw_up_arm_timer after pump_send), also while it waits for the client's next body
        # bytes: a client slower than read-timeout (yet within server.max-read-idle) gets 504
        # "the backend did not answer in time", blaming a backend that is waiting for the body.
        be = self.start_backend("http_echo")
        pt = self.start_portico('server.stream-request-body = "enable"\n' + route(
            [be], extra="  proxy-core.read-timeout = 2\n"))
        body = b"x" * 1000
        with Client(pt.port, timeout=10) as c:
            c.send(request_bytes("POST", "/up", headers=[("Content-Length", str(len(body)))])
                   + body[:500])
            time.sleep(3.5)
            try:
                c.send(body[500:])
            except OSError:
                pass
            r = c.read_response("POST")
            self.assertEqual(r.status, 200, "a slow client got %d" % r.status)
            self.assertEqual(r.json()["body_len"], len(body))


class AccessLogLongFields(GatewayTest):
    def test_long_target_in_the_access_log(self):
        # gw_accesslog_write (client/accesslog.c) adds snprintf's return value to n: once a
        # field filled the 4 KiB line, n passes `room`, `room - n` wraps to a huge size_t and
        # the next fields (Referer, User-Agent: the client's bytes) are written past `line`.
        log = "%s/access.log" % self.tmp
        be = self.start_backend("http_echo")
        pt = self.start_portico('accesslog.filename = "%s"\n' % log + route([be]))
        target = "/" + "a" * 4070
        r = self.get(pt.port, target, headers=[("Referer", "r" * 64),
                                               ("User-Agent", "u" * 3000)])
        self.assertEqual(r.status, 200)
        time.sleep(0.3)
        self.assertTrue(pt.alive(), "portico died:\n" + pt.stderr_text()[-4000:])
        self.assertNotIn("AddressSanitizer", pt.stderr_text())
