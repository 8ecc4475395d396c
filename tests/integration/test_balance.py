"""Balancers (SPEC §3 proxy-core.balancer), capacity (max-pool-size), the backlog
(max-backlog-size, backlog-timeout), fail-over under load, every backend down, and the status
and metrics endpoints. Every test is bounded in time; figures measured under load are printed."""

import json
import os
import re
import signal
import socket
import threading
import time
import urllib.parse

from harness import (Client, GatewayTest, IncompleteResponse, Proc, free_port, request_bytes,
                     route)


class PyBackend:
    """An HTTP/1.1 backend in threads of the test process (keep-alive, one thread per
    connection). It records what the C echo backends cannot: how many requests it serves at
    once. GET /ping answers `ping_status` with `ping_body` (health checks); any other target
    answers JSON {"backend": ADDR, "target": ...} after ?delay_ms=N. stop() closes the listener
    and every open connection, listen() opens the same port again."""

    def __init__(self, port=None):
        self.name = "py-backend"
        self.port = port or free_port()
        self.addr = "127.0.0.1:%d" % self.port
        self.ping_status = 200
        self.ping_body = b"ping"
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.pings = []  # request heads of the health checks, as received
        self.targets = []  # targets of every other request, in arrival order
        self.lsock = None
        self.conns = set()
        self.listen()

    def listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        self.lsock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def stop(self, *_args, **_kw):
        s, self.lsock = self.lsock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
            except OSError:
                pass
            s.close()
        with self.lock:
            conns, self.conns = list(self.conns), set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stderr_text(self):  # GatewayTest's cleanup: stop(), then stderr_text()
        return ""

    def requests(self):
        with self.lock:
            return list(self.targets)

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            with self.lock:
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            c.settimeout(30)
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                hdrs = {}
                for l in lines[1:]:
                    n, _, v = l.partition(":")
                    hdrs[n.strip().lower()] = v.strip()
                clen = int(hdrs.get("content-length", "0"))
                while len(buf) < clen:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[clen:]
                path, _, query = target.partition("?")
                if path == "/ping":
                    with self.lock:
                        self.pings.append(head)
                    status, body = self.ping_status, self.ping_body
                else:
                    with self.lock:
                        self.targets.append(target)
                        self.active += 1
                        self.max_active = max(self.max_active, self.active)
                    try:
                        q = urllib.parse.parse_qs(query)
                        delay = int(q.get("delay_ms", ["0"])[0])
                        if delay:
                            time.sleep(delay / 1000.0)
                    finally:
                        with self.lock:
                            self.active -= 1
                    status = 200
                    body = json.dumps({"backend": self.addr, "target": target}).encode()
                keep = hdrs.get("connection", "").lower() != "close"
                c.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n%s\r\n%s"
                          % (status, len(body), b"" if keep else b"Connection: close\r\n", body))
                if not keep:
                    return
        except OSError:
            return
        finally:
            with self.lock:
                self.conns.discard(c)
            c.close()


def start_echo(test, name, addr):
    """Start a C echo backend on `addr`; a restart on the address of one just killed retries
    while the old one's workers still hold the port."""
    deadline = time.monotonic() + 5
    while True:
        pr = test.add_proc(Proc(name, [test.backend_path(name), addr], test.tmp))
        if pr.wait_line("ready", 10):
            return pr
        err = pr.stderr_text()
        if "in use" not in err or time.monotonic() > deadline:
            raise AssertionError("%s %s did not start: %s" % (name, addr, err))
        pr.stop()
        time.sleep(0.1)


def load(port, seconds, threads, method="GET", body=None, stop=None):
    """Drive `threads` keep-alive clients for `seconds`; returns (ok, failed, errors).
    A response other than 200, a cut response or a refused/reset connection is a failure."""
    counts = {"ok": 0, "failed": 0}
    errors = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(k):
        c = None
        i = 0
        while time.monotonic() < deadline:
            i += 1
            try:
                if c is None:
                    c = Client(port, timeout=10)
                c.send(request_bytes(method, "/load/%d/%d" % (k, i), body=body))
                r = c.read_response(method)
                good = r.status == 200
                if good and body is not None:
                    good = r.json()["body_len"] == len(body)
                if (r.header("Connection") or "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, IncompleteResponse, AssertionError, ValueError) as e:
                good = False
                r = e
                if c is not None:
                    c.close()
                c = None
            with lock:
                counts["ok" if good else "failed"] += 1
                if not good and len(errors) < 5:
                    errors.append(repr(r)[:300])
        if c is not None:
            c.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 30)
    return counts["ok"], counts["failed"], errors


def concurrent(port, targets, timeout=10.0):
    """Send each target on its own connection at once; returns [(status, response or exc, s)]."""
    out = [None] * len(targets)

    def one(i, t):
        t0 = time.monotonic()
        try:
            with Client(port, timeout=timeout) as c:
                c.send(request_bytes("GET", t))
                r = c.read_response()
                out[i] = (r.status, r, time.monotonic() - t0)
        except (OSError, IncompleteResponse) as e:
            out[i] = (None, e, time.monotonic() - t0)

    ts = [threading.Thread(target=one, args=(i, t)) for i, t in enumerate(targets)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return out


class Balance(GatewayTest):
    def echo(self, name="http_echo", addr=None):
        """Start a C echo backend; returns (addr, Proc) so the test can kill and restart it."""
        addr = addr or "127.0.0.1:%d" % free_port()
        return addr, start_echo(self, name, addr)

    def py_backend(self):
        return self.add_proc(PyBackend())

    def portico(self, backends, balancer, extra="", protocol="http", top=""):
        return self.start_portico(top + route(
            backends, protocol, extra='  proxy-core.balancer = "%s"\n%s' % (balancer, extra)))

    def backend_of(self, port, target, client=None):
        if client is not None:
            client.send(request_bytes("GET", target))
            r = client.read_response()
        else:
            r = self.get(port, target)
        self.assertEqual(r.status, 200, r)
        j = r.json()
        return j["backend"]

    # ---- round-robin ----

    def test_round_robin_is_a_rotation(self):
        addrs = [self.echo()[0] for _ in range(3)]
        pt = self.portico(addrs, "round-robin")
        with Client(pt.port) as c:
            seq = [self.backend_of(pt.port, "/rr/%d" % i, c) for i in range(30)]
        for a in addrs:
            self.assertEqual(seq.count(a), 10, seq)
        self.assertEqual(len(set(seq[:3])), 3, seq)
        for i in range(3, 30):
            self.assertEqual(seq[i], seq[i - 3], "not a rotation: %r" % seq)

    # ---- sqf ----

    def test_sqf_spreads_concurrent_slow_requests(self):
        addrs = [self.echo()[0] for _ in range(3)]
        pt = self.portico(addrs, "sqf")
        res = concurrent(pt.port, ["/sqf/%d?delay_ms=300" % i for i in range(6)])
        self.assertEqual([s for s, _, _ in res], [200] * 6, res)
        used = [r.json()["backend"] for _, r, _ in res]
        self.assertEqual(set(used), set(addrs), used)

    def test_sqf_with_pool_size_one_uses_every_backend(self):
        addrs = [self.echo()[0] for _ in range(3)]
        pt = self.portico(addrs, "sqf", "  proxy-core.max-pool-size = 1\n")
        t0 = time.monotonic()
        res = concurrent(pt.port, ["/one/%d?delay_ms=500" % i for i in range(3)])
        took = time.monotonic() - t0
        self.assertEqual([s for s, _, _ in res], [200] * 3, res)
        used = [r.json()["backend"] for _, r, _ in res]
        self.assertEqual(sorted(used), sorted(addrs), used)
        self.assertLess(took, 1.2, "the three were not served side by side")

    def test_sqf_avoids_the_busy_backend(self):
        addrs = [self.echo()[0] for _ in range(3)]
        pt = self.portico(addrs, "sqf")
        slow = concurrent_bg(pt.port, "/busy?delay_ms=1500")
        time.sleep(0.3)
        quick = [self.backend_of(pt.port, "/q/%d" % i) for i in range(9)]
        status, r, _ = slow.result()
        self.assertEqual(status, 200, r)
        busy = r.json()["backend"]
        self.assertNotIn(busy, quick, "sqf sent a request to the backend that was busy")
        self.assertEqual(set(quick), set(addrs) - {busy})

    # ---- hash ----

    def test_hash_is_consistent_and_moves_only_a_lost_backends_urls(self):
        procs = [self.echo() for _ in range(4)]
        addrs = [a for a, _ in procs]
        extra = "  proxy-core.disable-time = 30\n"
        pt1 = self.portico(addrs, "hash", extra)
        pt2 = self.portico(addrs, "carp", extra)
        urls = ["/h/%d/page" % i for i in range(1000)]

        def mapping(pt):
            with Client(pt.port) as c:
                return [self.backend_of(pt.port, u, c) for u in urls]

        first = mapping(pt1)
        self.assertEqual(mapping(pt1), first, "one portico mapped a URL two ways")
        self.assertEqual(mapping(pt2), first, "two porticos with the same list disagree")
        shares = {a: first.count(a) for a in addrs}
        print("hash shares of 1000 URLs over 4 backends: %s" % sorted(shares.values()))
        for a in addrs:
            self.assertGreaterEqual(shares[a], 100, shares)

        # a backend restarted (same address): the same mapping
        addr1, pr1 = procs[1]
        pr1.stop()
        self.echo(addr=addr1)
        self.assertEqual(mapping(pt1), first, "the mapping changed after a restart")

        # a backend lost: only its URLs move
        addr3, pr3 = procs[3]
        pr3.stop()
        after = mapping(pt1)
        moved = [i for i in range(1000) if after[i] != first[i]]
        self.assertNotIn(addr3, after)
        self.assertTrue(all(first[i] == addr3 for i in moved), "URLs of a live backend moved")
        self.assertEqual(len(moved), shares[addr3])
        # its URLs spread over the others rather than piling onto one
        self.assertGreater(len({after[i] for i in moved}), 1)

    def test_hash_balance_factor(self):
        """Eight slow requests for one URL at once: by default (bounded load, 125) they spill
        over to other backends; with hash-balance-factor 0 they all stay on the URL's own."""
        addrs = [self.echo()[0] for _ in range(4)]
        for extra, spread in (("", True), ("  proxy-core.hash-balance-factor = 0\n", False)):
            with self.subTest(extra=extra):
                pt = self.portico(addrs, "hash", extra)
                own = self.backend_of(pt.port, "/hot?delay_ms=800")
                bgs = [concurrent_bg(pt.port, "/hot?delay_ms=800") for _ in range(8)]
                seen = []
                for bg in bgs:
                    status, r, _ = bg.result()
                    self.assertEqual(status, 200, r)
                    seen.append(r.json()["backend"])
                self.assertIn(own, seen)
                if spread:
                    self.assertGreater(len(set(seen)), 1, seen)
                else:
                    self.assertEqual(set(seen), {own}, seen)

    # ---- static ----

    def test_static_primary_then_standby_then_primary(self):
        (a, pa), (b, _) = self.echo(), self.echo()
        pt = self.portico([a, b], "static", "  proxy-core.disable-time = 1\n")
        self.assertEqual({self.backend_of(pt.port, "/s/%d" % i) for i in range(10)}, {a})
        pa.stop()
        self.assertEqual({self.backend_of(pt.port, "/t/%d" % i) for i in range(10)}, {b})
        self.echo(addr=a)
        time.sleep(1.2)  # disable-time
        self.assertEqual({self.backend_of(pt.port, "/u/%d" % i) for i in range(10)}, {a})

    # ---- capacity and backlog ----

    def test_max_pool_size_one_serialises(self):
        be = self.py_backend()
        pt = self.portico([be.addr], "sqf", "  proxy-core.max-pool-size = 1\n")
        t0 = time.monotonic()
        res = concurrent(pt.port, ["/c/%d?delay_ms=150" % i for i in range(8)])
        took = time.monotonic() - t0
        self.assertEqual([s for s, _, _ in res], [200] * 8, res)
        self.assertEqual(be.max_active, 1, "more than one request at a time on the backend")
        self.assertEqual(len(be.requests()), 8)
        self.assertGreater(took, 8 * 0.15 - 0.05)

    def test_backlog_full_is_503_with_retry_after(self):
        be = self.py_backend()
        pt = self.portico([be.addr], "sqf", "  proxy-core.max-pool-size = 1\n"
                          "  proxy-core.max-backlog-size = 2\n  proxy-core.backlog-timeout = 5\n")
        res = concurrent(pt.port, ["/b/%d?delay_ms=800" % i for i in range(6)])
        statuses = sorted(s for s, _, _ in res)
        self.assertEqual(statuses, [200] * 3 + [503] * 3, res)
        for s, r, dt in res:
            if s == 503:
                self.assertRegex(r.header("Retry-After") or "", r"^\d+$")
                self.assertLess(dt, 0.7, "a 503 for a full backlog should not wait")
        self.assertEqual(len(be.requests()), 3)
        self.assertEqual(be.max_active, 1)

    def test_backlog_timeout(self):
        be = self.py_backend()
        pt = self.portico([be.addr], "sqf", "  proxy-core.max-pool-size = 1\n"
                          "  proxy-core.backlog-timeout = 1\n")
        slow = concurrent_bg(pt.port, "/slow?delay_ms=3000")
        time.sleep(0.2)
        t0 = time.monotonic()
        r = self.get(pt.port, "/waits")
        took = time.monotonic() - t0
        self.assertEqual(r.status, 503, r)
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertGreater(took, 0.8)
        self.assertLess(took, 2.0)
        self.assertEqual(slow.result()[0], 200)
        self.assertNotIn("/waits", be.requests())

    def test_client_leaving_the_queue(self):
        be = self.py_backend()
        pt = self.portico([be.addr], "sqf", "  proxy-core.max-pool-size = 1\n"
                          "  proxy-core.max-backlog-size = 1\n")
        slow = concurrent_bg(pt.port, "/hold?delay_ms=1500")
        time.sleep(0.2)
        c = Client(pt.port)
        c.send(request_bytes("GET", "/gone"))
        time.sleep(0.3)
        c.close()  # leaves while queued
        time.sleep(0.3)
        # its slot is free again: this one queues (not 503) and is served after /hold
        r = self.get(pt.port, "/next")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(slow.result()[0], 200)
        time.sleep(0.2)
        self.assertEqual(be.requests()[:1], ["/hold?delay_ms=1500"])
        self.assertNotIn("/gone", be.requests(), "a request whose client left was sent on")
        self.assertIn("/next", be.requests())

    # ---- fail-over under load ----

    def _failover(self, method, body=None, name="http_echo", protocol="http", seconds=3.0):
        procs = [self.echo(name) for _ in range(3)]
        pt = self.portico([a for a, _ in procs], "round-robin", protocol=protocol,
                          top='status.status-url = "/portico/status"\n')
        victim_addr, victim = procs[1]
        killer = threading.Timer(seconds / 2, lambda: os.killpg(victim.pid, signal.SIGKILL))
        killer.start()
        ok, failed, errors = load(pt.port, seconds, 16, method, body)
        killer.join()
        self.assertFalse(victim.alive())
        st = {b["name"]: b for p in json.loads(self.get(pt.port, "/portico/status").body)["pools"]
              for b in p["backends"]}[victim_addr]
        print("fail-over under load (%s %s, 3 backends, one killed -9 at %.1f s of %.1f s, "
              "16 keep-alive clients): %d ok, %d failed; the killed one had served %d, "
              "%d failures, %d re-dispatched" % (protocol, method, seconds / 2, seconds, ok,
                                                  failed, st["requests"], st["failures"],
                                                  st["retries"]))
        self.assertGreater(ok, 100, "too little load to mean anything")
        self.assertEqual(failed, 0, errors)
        # the victim took its share before it died, and takes nothing now
        self.assertGreater(st["requests"], ok / 20)
        self.assertGreaterEqual(st["failures"], 1)
        after = {self.backend_of(pt.port, "/after/%d" % i) for i in range(6)}
        self.assertNotIn(victim_addr, after)
        return ok

    def test_failover_under_load_get(self):
        self._failover("GET")

    def test_failover_under_load_post(self):
        self._failover("POST", b"x" * 2000)

    def test_failover_under_load_fastcgi(self):
        self._failover("GET", name="fcgi_echo", protocol="fastcgi")

    def test_failover_under_load_scgi(self):
        self._failover("GET", name="scgi_echo", protocol="scgi")

    # ---- every backend down ----

    def test_every_backend_down(self):
        a, b = "127.0.0.1:%d" % free_port(), "127.0.0.1:%d" % free_port()
        pt = self.portico([a, b], "round-robin", "  proxy-core.disable-time = 1\n")
        r = self.get(pt.port, "/first")
        self.assertEqual(r.status, 503, r)
        for i in range(20):
            t0 = time.monotonic()
            r = self.get(pt.port, "/down/%d" % i)
            took = time.monotonic() - t0
            self.assertEqual(r.status, 503, r)
            self.assertRegex(r.header("Retry-After") or "", r"^\d+$")
            # (at once: not after the backends' 1 s disable-time; slack for a loaded machine)
            self.assertLess(took, 0.5, "a 503 with every backend down took %.3f s" % took)
        time.sleep(0.1)
        self.assertEqual(pt.stderr_text().count("is unavailable"), 1, pt.stderr_text())
        self.echo(addr=b)
        t0 = time.monotonic()
        while True:
            r = self.get(pt.port, "/back")
            if r.status == 200:
                break
            self.assertLess(time.monotonic() - t0, 2.0, "not served within disable-time + 1 s")
            time.sleep(0.05)
        self.assertEqual(r.json()["backend"], b)

    # ---- status and metrics ----

    def test_metrics_and_status(self):
        addrs = [self.echo()[0] for _ in range(3)]
        dead = "127.0.0.1:%d" % free_port()
        pt = self.start_portico(
            'status.metrics-url = "/portico/metrics"\nstatus.status-url = "/portico/status"\n'
            + route(addrs, extra='  proxy-core.balancer = "round-robin"\n',
                    cond='$HTTP["url"] =^ "/app"')
            + route([dead], extra="  proxy-core.disable-time = 30\n",
                    cond='$HTTP["url"] =^ "/dead"'))
        with Client(pt.port) as c:
            for i in range(30):
                self.backend_of(pt.port, "/app/%d" % i, c)
        self.assertEqual(self.get(pt.port, "/dead/x").status, 503)
        m = self.get(pt.port, "/portico/metrics")
        self.assertEqual(m.status, 200)
        text = m.body.decode()
        for a in addrs:
            self.assertRegex(text, r'(?m)^portico_backend_requests_total\{[^}]*backend="%s"'
                             r'[^}]*\} 10$' % re.escape(a))
        self.assertRegex(text, r'(?m)^portico_backend_requests_total\{[^}]*backend="%s"'
                         % re.escape(dead))
        s = self.get(pt.port, "/portico/status")
        self.assertEqual(s.status, 200)
        j = json.loads(s.body)
        states = {b["name"]: b for p in j["pools"] for b in p["backends"]}
        for a in addrs:
            self.assertEqual(states[a]["state"], "up", states)
            self.assertEqual(states[a]["requests"], 10)
        self.assertEqual(states[dead]["state"], "disabled", states)
        self.assertGreaterEqual(states[dead]["failures"], 1)


class _Bg:
    def __init__(self, port, target):
        self.res = None
        self.t = threading.Thread(target=self._run, args=(port, target))
        self.t.start()

    def _run(self, port, target):
        self.res = concurrent(port, [target], timeout=15)[0]

    def result(self):
        self.t.join(20)
        return self.res


def concurrent_bg(port, target):
    """One request in the background; .result() waits for (status, response, seconds)."""
    return _Bg(port, target)
