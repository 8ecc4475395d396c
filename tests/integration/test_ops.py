"""Operations (SPEC §1, §3): SIGHUP reload without dropping requests, a bad reload keeps the
running config, SIGUSR1 reopens the access log, graceful SIGTERM finishes in-flight requests,
the access log format, unix and IPv6 listeners, and the Upgrade tunnel after a 101."""

import os
import re
import signal
import socket
import time

from harness import (Client, GatewayTest, ScriptBackend, base_conf, free_port, request_bytes,
                     route)


class UpgradeBackend(ScriptBackend):
    """A tiny HTTP backend: answers an Upgrade request with 101, then echoes bytes upper-cased."""

    def __init__(self):
        self.seen = []
        super().__init__()

    def answer(self, conn, head, n):
        self.seen.append(head)
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                     b"Upgrade: shout\r\n\r\n")
        rest = head.split(b"\r\n\r\n", 1)[1]
        if rest:
            conn.sendall(rest.upper())
        while True:
            d = conn.recv(4096)
            if not d:
                return
            conn.sendall(d.upper())


class Ops(GatewayTest):
    def test_reload_swaps_routes_and_keeps_connections(self):
        a = self.start_backend("http_echo")
        b = self.start_backend("http_echo")
        pt = self.start_portico(route([a], cond='$HTTP["url"] =^ "/"'))
        with Client(pt.port) as kept:
            kept.send(request_bytes("GET", "/before"))
            self.assertEqual(kept.read_response().json()["backend"], a)
            # a slow request in flight across the reload
            slow = Client(pt.port, timeout=10)
            slow.send(request_bytes("GET", "/slow?delay_ms=800"))
            time.sleep(0.2)
            with open(pt.conf_path, "w") as f:
                f.write(base_conf(pt.port, route([b], cond='$HTTP["url"] =^ "/"')))
            pt.send_signal(signal.SIGHUP)
            self.assertTrue(self.wait_stderr(pt, "configuration reloaded"), pt.stderr_text())
            r = slow.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["backend"], a, "the in-flight request keeps its route")
            slow.close()
            kept.send(request_bytes("GET", "/after"))
            r = kept.read_response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["backend"], b, "the kept connection sees the new config")
        self.assertEqual(self.get(pt.port, "/new").json()["backend"], b)

    def test_bad_reload_keeps_running_config(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico(route([a]))
        with open(pt.conf_path, "a") as f:
            f.write("proxy-core.balancer = \"no-such\"\n")
        pt.send_signal(signal.SIGHUP)
        self.assertTrue(self.wait_stderr(pt, "reload refused"), pt.stderr_text())
        self.assertRegex(pt.stderr_text(), r"portico-\d+\.conf:\d+:")
        r = self.get(pt.port, "/still")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["backend"], a)

    def test_graceful_stop_finishes_in_flight(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico(route([a]))
        c = Client(pt.port, timeout=10)
        c.send(request_bytes("GET", "/slow?delay_ms=700"))
        time.sleep(0.2)
        pt.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        refused = False
        try:
            socket.create_connection(("127.0.0.1", pt.port), timeout=1).close()
        except OSError:
            refused = True
        self.assertTrue(refused, "a stopping portico still accepts")
        r = c.read_response()
        self.assertEqual(r.status, 200)
        c.close()
        deadline = time.monotonic() + 5
        while pt.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(pt.alive())

    def test_access_log_and_reopen(self):
        a = self.start_backend("http_echo")
        log = os.path.join(self.tmp, "access.log")
        pt = self.start_portico('accesslog.filename = "%s"\n' % log + route([a]))
        body = self.get(pt.port, "/logged?q=1", headers=[("User-Agent", 'ua "quoted"'),
                                                          ("Referer", "http://r.test/")]).body
        self.get(pt.port, "/ignored", method="HEAD")
        self.assertTrue(self.wait_file(log, "/ignored"))
        with open(log) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 2, lines)
        m = re.match(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
                     r'"GET /logged\?q=1 HTTP/1\.1" 200 (\d+) "http://r\.test/" '
                     r'"ua \\"quoted\\"" (\d+\.\d{3}) (\S+)$', lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(int(m.group(1)), len(body), "%b counts body bytes only")
        self.assertEqual(m.group(3), a)
        self.assertRegex(lines[1], r'"HEAD /ignored HTTP/1\.1" 200 0 ')
        os.rename(log, log + ".1")
        pt.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while not os.path.exists(log) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.get(pt.port, "/after-reopen")
        self.assertTrue(self.wait_file(log, "/after-reopen"))

    def wait_file(self, path, text, timeout=3.0):
        """The log line is written once the response is out: poll for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(path) as f:
                if text in f.read():
                    return True
            time.sleep(0.05)
        return False

    def test_unix_and_ipv6_listeners(self):
        a = self.start_backend("http_echo")
        sock_path = os.path.join(self.tmp, "portico.sock")
        p6 = free_port()
        pt = self.start_portico(
            route([a]) +
            '$SERVER["socket"] == "unix:%s" {\n}\n' % sock_path +
            '$SERVER["socket"] == "[::1]:%d" {\n}\n' % p6)
        started = [l for l in pt.stderr_text().splitlines() if "listening on" in l]
        self.assertEqual(len(started), 1, pt.stderr_text())
        for name in ("127.0.0.1:%d" % pt.port, "unix:" + sock_path, "[::1]:%d" % p6):
            self.assertIn(name, started[0])  # the start-up line names every listener
        deadline = time.monotonic() + 5
        while not os.path.exists(sock_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(sock_path)
        s.sendall(request_bytes("GET", "/via-unix"))
        data = b""
        while b'"backend"' not in data:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        self.assertIn(b"/via-unix", data)
        s6 = socket.create_connection(("::1", p6), timeout=5)
        s6.sendall(request_bytes("GET", "/via-v6"))
        data = s6.recv(65536)
        s6.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])

    def test_upgrade_tunnel(self):
        be = UpgradeBackend()
        self.addCleanup(be.close)
        pt = self.start_portico(route([be.addr]))
        with Client(pt.port) as c:
            c.send(request_bytes("GET", "/ws", headers=[("Connection", "Upgrade"),
                                                       ("Upgrade", "shout")]))
            r = c.read_head()
            self.assertEqual(r.status, 101)
            self.assertEqual((r.header("Upgrade") or "").lower(), "shout")
            c.send(b"hello tunnel")
            while len(c.buf) < 12 and c._fill():
                pass
            self.assertEqual(bytes(c.buf[:12]), b"HELLO TUNNEL")
        self.assertIn(b"upgrade", be.seen[0].lower())


class Limits(GatewayTest):
    def test_max_connections_makes_accept_wait(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico("server.max-connections = 2\n" + route([a]))
        first, second = Client(pt.port), Client(pt.port)
        for c in (first, second):  # both accepted and served, then held open (keep-alive)
            c.send(request_bytes("GET", "/held"))
            self.assertEqual(c.read_response().status, 200)
        third = Client(pt.port, timeout=1.0)
        third.send(request_bytes("GET", "/waits"))
        with self.assertRaises(OSError):  # accepted by the kernel, not by portico: no answer
            third._fill()
        first.close()  # a slot frees: the waiting connection is taken up and answered
        third.sock.settimeout(5)
        r = third.read_response()
        self.assertEqual(r.status, 200)
        for c in (second, third):
            c.close()

    def test_max_keep_alive_requests(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico("server.max-keep-alive-requests = 3\n" + route([a]))
        with Client(pt.port) as c:
            for i in range(3):
                c.send(request_bytes("GET", "/k/%d" % i))
                r = c.read_response()
                self.assertEqual(r.status, 200)
            self.assertEqual((r.header("Connection") or "").lower(), "close")
            self.assertClosed(c)

    def test_privileges_dropped_after_binding(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to switch users")
        a = self.start_backend("http_echo")
        pt = self.start_portico('server.username = "nobody"\nserver.groupname = "nogroup"\n' +
                                route([a]))
        with open("/proc/%d/status" % pt.pid) as f:
            status = f.read()
        uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)", status, re.M)
        self.assertNotEqual(uid.group(1), "0")
        self.assertNotEqual(uid.group(2), "0")
        self.assertEqual(self.get(pt.port, "/as-nobody").status, 200)


class StatusAccess(GatewayTest):
    """The status pages follow the blocks that hold for the request, so a `$HTTP["remote-ip"]`
    block can turn them off for clients outside a network (before: status.* was refused inside
    a block, and the pages answered whoever asked)."""

    def start_with_block(self, op):
        """Both pages at the top level, turned off in a `$HTTP["remote-ip"] OP 127.0.0.0/8`
        block; a route under /app/."""
        a = self.start_backend("http_echo")
        return self.start_portico('status.status-url = "/portico/status"\n'
                                  'status.metrics-url = "/portico/metrics"\n'
                                  '$HTTP["remote-ip"] %s "127.0.0.0/8" {\n'
                                  '  status.status-url = ""\n  status.metrics-url = ""\n}\n' % op +
                                  route([a], cond='$HTTP["url"] =^ "/app/"'))

    def test_a_remote_ip_block_turns_the_pages_off(self):
        pt = self.start_with_block("==")
        self.assertEqual(self.get(pt.port, "/portico/status").status, 404)
        self.assertEqual(self.get(pt.port, "/portico/metrics").status, 404)
        self.assertEqual(self.get(pt.port, "/app/x").status, 200)

    def test_pages_answer_the_allowed_network(self):
        pt = self.start_with_block("!=")
        r = self.get(pt.port, "/portico/status")
        self.assertEqual(r.status, 200)
        self.assertIn("pools", r.json())
        self.assertEqual(self.get(pt.port, "/portico/metrics").status, 200)
        # a page set only inside a block exists only there
        pt2 = self.start_portico('$HTTP["url"] =^ "/admin/" {\n'
                                 '  status.status-url = "/admin/status"\n}\n'
                                 + route([self.start_backend("http_echo")]))
        self.assertEqual(self.get(pt2.port, "/admin/status").status, 200)
