"""Cases a review of the gateway core found, kept so they stay fixed: a backlog that could spin
on a peer its waiter may not use, a disabled peer coming back while requests wait, a reload at
max-connections, a reload raising the head limit mid-head, an unbounded Upgrade tunnel, and a
backend connection reused while part of the request body was still unsent."""

import os
import signal
import socket
import threading
import time

from harness import Client, GatewayTest, base_conf, free_port, request_bytes, route


def cpu_seconds(pid):
    f = open("/proc/%d/stat" % pid).read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


class Listener:
    """A raw TCP backend on a free port; `handle(conn, index)` runs in a thread per connection."""

    def __init__(self, handle, rcvbuf=None):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:  # inherited by accepted sockets: the gateway cannot push ahead
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.n = 0
        threading.Thread(target=self._serve, args=(handle,), daemon=True).start()

    def _serve(self, handle):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c, self.n), daemon=True).start()
            self.n += 1

    def close(self):
        self.sock.close()


def read_head(c, buf=b""):
    """Read up to the end of a head (after what is in `buf`); (head, rest) or (None, b"")."""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None, b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head, rest


class Regressions(GatewayTest):
    def listener(self, handle, rcvbuf=None):
        lst = Listener(handle, rcvbuf)
        self.addCleanup(lst.close)
        return lst.addr

    def test_backlog_wake_does_not_spin_on_a_tried_peer(self):
        def first_closes(c, k):
            with c:
                if read_head(c)[0] is None:
                    return
                if k > 0:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

        a = self.start_backend("http_echo")
        b = self.listener(first_closes)
        pt = self.start_portico(route([a, b], extra='  proxy-core.max-pool-size = 1\n'
                                      '  proxy-core.balancer = "static"\n'
                                      '  proxy-core.disable-time = 1\n'))
        hold = Client(pt.port, timeout=10)
        hold.send(request_bytes("GET", "/slow?delay_ms=3000"))  # A busy
        time.sleep(0.3)
        waiter = Client(pt.port, timeout=10)
        waiter.send(request_bytes("GET", "/w"))  # B closes: tried, disabled; A full: it waits
        time.sleep(1.5)  # B is usable again, but not for the waiter
        self.assertEqual(self.get(pt.port, "/r3", timeout=3).status, 200)  # B serves, wakes
        c0 = cpu_seconds(pt.pid)
        self.assertEqual(self.get(pt.port, "/r4", timeout=3).status, 200)
        time.sleep(0.5)
        self.assertLess(cpu_seconds(pt.pid) - c0, 0.4, "the gateway spins")
        for c in (hold, waiter):
            c.close()

    def test_waiter_served_when_a_disabled_peer_returns(self):
        a = self.start_backend("http_echo")
        b = "127.0.0.1:%d" % free_port()  # refuses at first
        pt = self.start_portico(route([a, b], extra='  proxy-core.max-pool-size = 1\n'
                                      '  proxy-core.balancer = "static"\n'
                                      '  proxy-core.disable-time = 1\n'
                                      '  proxy-core.backlog-timeout = 4\n'))
        hold = Client(pt.port, timeout=10)
        hold.send(request_bytes("GET", "/slow?delay_ms=5000"))
        time.sleep(0.3)
        first = Client(pt.port, timeout=10)
        first.send(request_bytes("GET", "/r0"))  # B refused: disabled, r0 waits (B tried)
        time.sleep(0.2)
        second = Client(pt.port, timeout=10)
        second.send(request_bytes("GET", "/r2"))  # B disabled: waits
        t0 = time.monotonic()
        self.start_backend("http_echo", addr=b)
        r = second.read_response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["backend"], b)
        self.assertLess(time.monotonic() - t0, 2.5, "served only at the backlog timeout")
        for c in (hold, first, second):
            c.close()

    def test_reload_at_max_connections_keeps_accepting(self):
        a = self.start_backend("http_echo")
        port = free_port()
        conf = base_conf(port, "server.max-connections = %d\n" + route([a]))
        pt = self.start_portico(conf % 2, port=port, raw=True)
        c1, c2 = Client(port), Client(port)
        for c in (c1, c2):
            c.send(request_bytes("GET", "/held"))
            self.assertEqual(c.read_response().status, 200)
        with open(pt.conf_path, "w") as f:
            f.write(conf % 100)
        pt.send_signal(signal.SIGHUP)
        self.assertTrue(self.wait_stderr(pt, "configuration reloaded"))
        c1.close()
        time.sleep(0.3)
        self.assertEqual(self.get(port, "/after", timeout=3).status, 200)
        c2.close()

    def test_reload_raising_head_limit_mid_head(self):
        a = self.start_backend("http_echo")
        port = free_port()
        conf = base_conf(port, "server.max-request-field-size = %d\n" + route([a]))
        pt = self.start_portico(conf % 16384, port=port, raw=True)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)
        with open(pt.conf_path, "w") as f:
            f.write(conf % 1048576)
        pt.send_signal(signal.SIGHUP)
        self.assertTrue(self.wait_stderr(pt, "configuration reloaded"))
        for i in range(40):
            s.sendall(b"X-H%d: %s\r\n" % (i, b"v" * 1000))
        s.sendall(b"\r\n")
        data = s.recv(200)
        self.assertTrue(data.startswith(b"HTTP/1.1 431"), data)
        c0 = cpu_seconds(pt.pid)
        time.sleep(0.5)
        self.assertLess(cpu_seconds(pt.pid) - c0, 0.4)
        s.close()

    def test_tunnel_to_a_client_that_does_not_read_is_bounded(self):
        def flood(c, k):
            with c:
                if read_head(c)[0] is None:
                    return
                c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                          b"Upgrade: websocket\r\n\r\n")
                try:
                    for _ in range(3000):  # ~200 MB unless something pushes back
                        c.sendall(b"x" * 65536)
                except OSError:
                    pass

        pt = self.start_portico(route([self.listener(flood)]))
        c = Client(pt.port, rcvbuf=4096, timeout=10)
        c.send(request_bytes("GET", "/ws", headers=[("Connection", "Upgrade"),
                                                   ("Upgrade", "websocket")]))
        peak = 0
        for _ in range(6):
            time.sleep(0.5)
            peak = max(peak, pt.rss_kib())
        self.assertLess(peak, 64 * 1024, "portico RSS reached %d KiB" % peak)
        c.close()

    def test_early_answer_does_not_reuse_a_half_sent_connection(self):
        seen = []

        def early(c, k):
            with c:
                buf = b""
                while True:
                    head, buf2 = read_head(c, buf)
                    if head is None:
                        return
                    line = head.split(b"\r\n")[0]
                    cl = 0
                    for h in head.split(b"\r\n")[1:]:
                        name, v = h.split(b":", 1)
                        if name.strip().lower() == b"content-length":
                            cl = int(v)
                    seen.append(line)
                    # answer before reading the body, then read it slowly
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    time.sleep(0.5)
                    buf = buf2
                    c.settimeout(3)
                    while len(buf) < cl:
                        try:
                            d = c.recv(65536)
                        except socket.timeout:
                            return
                        if not d:
                            return
                        buf += d
                    buf = buf[cl:]

        pt = self.start_portico("server.max-request-size = 50000000\n" +
                                route([self.listener(early, rcvbuf=4096)]))
        for size in (1000000, 3010000):
            del seen[:]
            r = self.get(pt.port, "/up", method="POST", body=b"z" * size, timeout=10)
            self.assertEqual(r.status, 200)
            time.sleep(0.2)
            r2 = self.get(pt.port, "/next", timeout=10)
            self.assertEqual(r2.status, 200)
            time.sleep(0.3)
            self.assertIn(b"GET /next HTTP/1.1", seen, "the next request went into a body")
