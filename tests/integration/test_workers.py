"""Worker threads (SPEC §3 server.workers, issue 10): with `server.workers = 2` every worker has
its own loop and listener, while pool caps, the backlog FIFO, balancer state, health checks and
spawned apps stay shared, and reloads, the access log, SIGUSR1 and graceful stop work as with
one worker. The load parts use wrk (2 threads, 32 connections, 3 s) and are skipped without it.
./quickstart check also runs these tests (PORTICO_TESTS=workers) in a ThreadSanitizer build."""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

from harness import (PORTICO, Client, GatewayTest, Proc, ScriptBackend, base_conf, conf_str,
                     request_bytes, route)
from test_balance import PyBackend

WRK = shutil.which("wrk")
SS = shutil.which("ss")
NO_WRK = "wrk not installed: the load part of this test needs it (apt-get install wrk)"
NO_SS = "ss (iproute2) not installed: the listen-queue watch needs it"

W2 = "server.workers = 2\n"
STATUS = 'status.status-url = "/portico/status"\nstatus.metrics-url = "/portico/metrics"\n'

# one combined-log line plus request time and backend (see test_ops.test_access_log_and_reopen)
LOG_LINE = re.compile(r'^\S+ - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                      r'"GET /\S* HTTP/1\.1" \d{3} \d+ "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*" '
                      r'\d+\.\d{3} \S+$')


# ---- wrk ----

def seconds_of(text):
    """wrk's durations ("812.00us", "1.52ms", "2.01s", "1.00m") in seconds."""
    m = re.match(r"^([\d.]+)(us|ms|s|m|h)$", text)
    if not m:
        raise AssertionError("cannot read wrk duration %r" % text)
    return float(m.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[
        m.group(2)]


class WrkResult:
    def __init__(self, text):
        self.text = text
        m = re.search(r"(\d+) requests in ([\d.]+\w+),", text)
        if not m:
            raise AssertionError("wrk printed no request count:\n%s" % text)
        self.requests = int(m.group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        self.errors = dict(zip(("connect", "read", "write", "timeout"),
                               map(int, m.groups()))) if m else {}
        m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        self.non2xx = int(m.group(1)) if m else 0
        lat = dict(re.findall(r"(?m)^\s+(50|75|90|99)%\s+(\S+)\s*$", text))
        if "50" not in lat or "99" not in lat:
            raise AssertionError("wrk printed no latency distribution:\n%s" % text)
        self.p50, self.p99 = seconds_of(lat["50"]), seconds_of(lat["99"])

    def failed(self):
        return self.non2xx + sum(self.errors.values())

    def summary(self):
        return "%d requests, %d non-2xx, socket errors %r, p50 %.2f ms, p99 %.2f ms" % (
            self.requests, self.non2xx, self.errors, self.p50 * 1e3, self.p99 * 1e3)


def assert_clean_load(test, res, what, minimum=300):
    """wrk's run had enough requests to mean anything, and not one failed."""
    print("%s: %s" % (what, res.summary()))
    test.diag.append("wrk output (%s):\n%s" % (what, res.text))
    test.assertGreater(res.requests, minimum, "too little load to mean anything")
    test.assertEqual(res.non2xx, 0, "non-2xx responses under load")
    test.assertEqual(sum(res.errors.values()), 0, "socket errors under load: %r" % res.errors)


def run_wrk(port, path="/", seconds=3, threads=2, connections=32):
    p = subprocess.run([WRK, "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds,
                        "--latency", "--timeout", "5s", "http://127.0.0.1:%d%s" % (port, path)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=seconds + 30)
    text = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    if p.returncode != 0:
        raise AssertionError("wrk exited with %d:\n%s" % (p.returncode, text))
    return WrkResult(text)


# ---- the listen queues of unix sockets ----

class ListenQueueWatch:
    """Samples, every ~20 ms, the Recv-Q that `ss -xlnH` shows for listening unix sockets at the
    given paths: for a listening socket, the connections that no process has accepted yet."""

    def __init__(self, paths, period=0.02):
        self.paths = set(paths)
        self.period = period
        self.samples = []  # one (monotonic time, {path: queued}) per sample
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            out = subprocess.run([SS, "-xlnH"], stdin=subprocess.DEVNULL, capture_output=True,
                                 timeout=5).stdout.decode("utf-8", "replace")
            seen = {}
            for line in out.splitlines():
                f = line.split()
                if len(f) >= 5 and f[4] in self.paths:
                    seen[f[4]] = int(f[2])
            self.samples.append((time.monotonic(), seen))
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()
        self._t.join(10)

    def queued(self):
        """[(seconds into the watch, path, queued)] for every sample where a connection waited."""
        t0 = self.samples[0][0] if self.samples else 0
        return [(round(t - t0, 3), p, q) for t, s in self.samples for p, q in sorted(s.items())
                if q > 0]

    def longest_wait(self):
        """The longest run of consecutive samples in which one socket had a connection waiting,
        in seconds from its first sample to its last (0 for a single sample)."""
        longest, start = 0.0, {}
        for t, s in self.samples:
            for p in self.paths:
                if s.get(p, 0) > 0:
                    start.setdefault(p, t)
                    longest = max(longest, t - start[p])
                else:
                    start.pop(p, None)
        return longest


# ---- backends ----

class PingBackend(ScriptBackend):
    """Answers every request 200 at once (Connection: close) and notes when each came."""

    def __init__(self):
        self.seen = []  # (monotonic time, target)
        self.lock = threading.Lock()
        super().__init__()

    def answer(self, conn, head, n):
        target = head.split(b" ", 2)[1].decode("latin-1")
        with self.lock:
            self.seen.append((time.monotonic(), target))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def times(self, target):
        with self.lock:
            return [t for t, x in self.seen if x == target]


class Workers(GatewayTest):
    # ---- helpers ----

    def status(self, pt):
        r = self.get(pt.port, "/portico/status")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def worker_spread(self, pt):
        """The per-worker connection counts of the status page, for the log of a test."""
        j = self.status(pt)
        return [w.get("connections") for w in j.get("workers", [])]

    def fcgi_pool(self, n=4):
        """One listening unix socket served by n single-threaded fcgi_echo processes on fd 0
        (each takes one connection, and on it one request, at a time). Returns its path."""
        path = os.path.join(self.tmp, "fcgi.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.bind(path)
            s.listen(128)
            for _ in range(n):
                self.add_proc(Proc("fcgi_echo", [self.backend_path("fcgi_echo")], self.tmp,
                                   stdin=s.fileno()))
        finally:
            s.close()  # the processes hold it
        return path

    def spawned_fcgi(self, n=4):
        """(config text, slot socket paths) for a spawned app of n fcgi_echo processes."""
        base = os.path.join(self.tmp, "fe")
        conf = ("spawn.apps = ( \"fe\" => ( \"bin-path\" => %s, \"pass-socket\" => \"fd0\",\n"
                "  \"socket\" => %s, \"min-procs\" => %d, \"max-procs\" => %d ) )\n"
                % (conf_str(self.backend_path("fcgi_echo")), conf_str("unix:" + base), n, n))
        return conf, ["%s.%d" % (base, i) for i in range(n)]

    def wait_procs_ready(self, pt, n, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            apps = self.status(pt).get("apps", [])
            procs = [p for a in apps for p in a.get("processes", [])]
            if len(procs) == n and all(p["state"] in ("idle", "ready") for p in procs):
                return
            if time.monotonic() > deadline:
                self.fail("%d processes not ready within %d s: %r" % (n, timeout, apps))
            time.sleep(0.05)

    def load_with_queue_watch(self, pt, paths):
        watch = ListenQueueWatch(paths)
        try:
            res = run_wrk(pt.port, "/fcgi/load")
        finally:
            watch.stop()
        return res, watch

    def assert_clean_load(self, res, what, minimum=300):
        assert_clean_load(self, res, what, minimum)

    def assert_nothing_queued(self, watch, res, what):
        """A connection waiting in a socket that no process accepted is one portico opened on
        top of what the processes can serve at once (a fifth, with 4 processes). One kind is
        harmless and happens with one worker too: a kept connection that portico recycles
        (max-keep-alive-requests) is replaced at once, and its successor waits the moment its
        process takes to read the end of the old one and call accept() again. A fifth
        connection that pins a process waits until that process is free: long, or again and
        again. So: no connection seen waiting over samples 100 ms apart, and a connection
        waiting in at most 10% of the samples."""
        q = watch.queued()
        n = len(watch.samples)
        self.assertGreater(n, 40, "too few listen-queue samples")
        hit = len({t for t, _, _ in q})
        print("%s: %d listen-queue samples, %d with a connection waiting, longest wait seen "
              "%.3f s" % (what, n, hit, watch.longest_wait()))
        self.diag.append("listen-queue samples with a connection waiting (s, socket, queued): "
                         "%r" % q[:50])
        self.assertLess(watch.longest_wait(), 0.1, "a connection waited unaccepted in the listen "
                        "queue for 100 ms or more: a fifth connection pinned out")
        self.assertLessEqual(hit, n / 10, "connections waited unaccepted in the listen queue in "
                             "%d of %d samples" % (hit, n))
        self.assertLessEqual(res.p99, 20 * res.p50,
                             "p99 %.2f ms is over 20x p50 %.2f ms: requests starve"
                             % (res.p99 * 1e3, res.p50 * 1e3))

    def reload_under_load(self, route_text, path):
        """wrk for 3 s (kept-alive connections) while the config is rewritten and SIGHUP sent
        every 0.5-1 s; meanwhile one more client sends each request on a new connection, so
        that accepts go on across the reloads too."""
        pt = self.start_portico(W2 + route_text)
        done = threading.Event()
        sent = []
        fresh = {"ok": 0, "failed": []}

        def fresh_client():
            i = 0
            while not done.is_set():
                i += 1
                try:
                    r = self.get(pt.port, "%s/fresh/%d" % (path, i), timeout=5)
                    if r.status == 200:
                        fresh["ok"] += 1
                        continue
                    what = r
                except Exception as e:  # refused, reset, cut: all failures here
                    what = e
                fresh["failed"].append(repr(what)[:200])

        def reloader():
            while not done.wait(random.uniform(0.5, 1.0)):
                text = base_conf(pt.port, W2 + "server.tag = \"gen-%d\"\n" % len(sent)
                                 + route_text)
                tmp = pt.conf_path + ".new"
                with open(tmp, "w") as f:
                    f.write(text)
                os.replace(tmp, pt.conf_path)  # portico never reads a half-written file
                pt.send_signal(signal.SIGHUP)
                sent.append(time.monotonic())

        threads = [threading.Thread(target=reloader), threading.Thread(target=fresh_client)]
        for t in threads:
            t.start()
        try:
            res = run_wrk(pt.port, path)
        finally:
            done.set()
            for t in threads:
                t.join(10)
        self.assertGreaterEqual(len(sent), 2, "fewer than 2 reloads during the load")
        deadline = time.monotonic() + 5
        while (pt.stderr_text().count("configuration reloaded") < len(sent)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertEqual(pt.stderr_text().count("configuration reloaded"), len(sent),
                         "not every SIGHUP reloaded")
        self.assert_clean_load(res, "%d reloads under load" % len(sent))
        print("%d reloads: %d requests on new connections, %d failed"
              % (len(sent), fresh["ok"], len(fresh["failed"])))
        self.assertEqual(fresh["failed"], [], "requests on new connections failed")
        self.assertGreater(fresh["ok"], 20, "too few requests on new connections")

    # ---- a: a FastCGI pool of 4 single-threaded processes never sees a fifth connection ----

    def test_fastcgi_pool_of_4_never_queues_a_fifth_connection(self):
        if not WRK:
            self.skipTest(NO_WRK)
        if not SS:
            self.skipTest(NO_SS)
        path = self.fcgi_pool(4)
        pt = self.start_portico(W2 + route(["unix:" + path], "fastcgi",
                                           extra="  proxy-core.max-pool-size = 4\n"))
        self.assertEqual(self.get(pt.port, "/fcgi/warm").status, 200)
        res, watch = self.load_with_queue_watch(pt, [path])
        self.assert_clean_load(res, "FastCGI, 4 fd-0 processes, max-pool-size 4, 2 workers")
        self.assert_nothing_queued(watch, res, "FastCGI pool")

    def test_spawned_fastcgi_app_of_4_never_queues_a_fifth_connection(self):
        if not WRK:
            self.skipTest(NO_WRK)
        if not SS:
            self.skipTest(NO_SS)
        app, slots = self.spawned_fcgi(4)
        pt = self.start_portico(W2 + STATUS + app + route(["spawn:fe"], "fastcgi"))
        self.wait_procs_ready(pt, 4)
        res, watch = self.load_with_queue_watch(pt, slots)
        self.assert_clean_load(res, "FastCGI, spawned app of 4 processes, 2 workers")
        self.assert_nothing_queued(watch, res, "spawned app")
        apps = self.status(pt)["apps"]
        served = [p["requests"] for p in apps[0]["processes"]]
        self.assertEqual(len(served), 4, apps)
        self.assertTrue(all(n > 0 for n in served), "a process served nothing: %r" % served)

    # ---- b: a reload every 0.5-1 s under load fails nothing ----

    def test_reload_under_load_http(self):
        if not WRK:
            self.skipTest(NO_WRK)
        a = self.start_backend("http_echo")
        self.reload_under_load(route([a]), "/reload/http")

    def test_reload_under_load_fastcgi(self):
        if not WRK:
            self.skipTest(NO_WRK)
        path = self.fcgi_pool(4)
        self.reload_under_load(route(["unix:" + path], "fastcgi",
                                     extra="  proxy-core.max-pool-size = 4\n"), "/reload/fcgi")

    def test_fastcgi_cap_holds_across_a_reload(self):
        """One single-threaded FastCGI process behind max-pool-size 1. A request the old config
        queued and one the new config routes are both served: the backend's connection count
        is one over both generations (a count per generation let the new pool connect at once
        and keep the process, while the old pool's connection waited in its accept queue)."""
        path = self.fcgi_pool(1)
        text = route(["unix:" + path], "fastcgi",
                     extra="  proxy-core.max-pool-size = 1\n  proxy-core.backlog-timeout = 30\n")
        pt = self.start_portico(W2 + text)
        self.assertEqual(self.get(pt.port, "/warm").status, 200)
        clients = [Client(pt.port, timeout=10) for _ in range(3)]
        try:
            clients[0].send(request_bytes("GET", "/slow?delay_ms=700"))  # holds the process
            time.sleep(0.2)
            clients[1].send(request_bytes("GET", "/old"))  # queues in the old pool
            time.sleep(0.1)
            with open(pt.conf_path, "w") as f:
                f.write(base_conf(pt.port, W2 + 'server.tag = "gen-1"\n' + text))
            pt.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "configuration reloaded" not in pt.stderr_text():
                self.assertLess(time.monotonic(), deadline, "no reload")
                time.sleep(0.02)
            clients[2].send(request_bytes("GET", "/new"))  # routed by the new config
            t0 = time.monotonic()
            res = [c.read_response() for c in clients]
            took = time.monotonic() - t0
        finally:
            for c in clients:
                c.close()
        self.assertEqual([r.status for r in res], [200] * 3, res)
        print("a request of each generation behind one FastCGI process: served in %.2f s" % took)
        # (the slow one ends ~0.4 s after the reload; the other two take a few ms each)
        self.assertLess(took, 5)

    # ---- c: one backlog FIFO across workers ----

    def test_backlog_is_one_fifo_across_workers(self):
        be = self.add_proc(PyBackend())
        pt = self.start_portico(W2 + STATUS + route(
            [be.addr], extra="  proxy-core.max-pool-size = 1\n  proxy-core.backlog-timeout = 10\n"))
        clients = [Client(pt.port, timeout=15) for _ in range(8)]  # accepted by both workers
        try:
            self.diag.append("connections per worker: %r" % self.worker_spread(pt))
            targets = ["/fifo/%d?delay_ms=200" % i for i in range(8)]
            t0 = time.monotonic()
            for c, t in zip(clients, targets):
                c.send(request_bytes("GET", t))
                time.sleep(0.06)
            res = [c.read_response() for c in clients]
            took = time.monotonic() - t0
        finally:
            for c in clients:
                c.close()
        self.assertEqual([r.status for r in res], [200] * 8, res)
        self.assertEqual(be.max_active, 1, "the backend saw two requests at once")
        order = be.requests()
        print("backlog across workers: served in the order %r in %.2f s"
              % ([int(t.split("/")[2].split("?")[0]) for t in order], took))
        self.assertEqual(sorted(order), sorted(targets))
        self.assertGreater(took, 8 * 0.2 - 0.05, "the requests were not served one at a time")
        for i, t in enumerate(targets):  # first come, first served (one place of slack)
            self.assertLessEqual(abs(order.index(t) - i), 1, "served out of order: %r" % order)

    # ---- d: balancers with 2 workers ----

    def test_hash_sends_one_url_to_one_backend_from_any_worker(self):
        addrs = [self.start_backend("http_echo") for _ in range(3)]
        pt = self.start_portico(W2 + route(addrs, extra='  proxy-core.balancer = "hash"\n'))
        for url in ("/hash/one", "/hash/two"):
            got = {self.get(pt.port, url).json()["backend"] for _ in range(20)}
            self.assertEqual(len(got), 1, "%s went to %r from 20 connections" % (url, got))

    def test_round_robin_shares_across_workers(self):
        addrs = [self.start_backend("http_echo") for _ in range(2)]
        pt = self.start_portico(W2 + route(addrs, extra='  proxy-core.balancer = "round-robin"\n'))
        seq = []
        for i in range(40):
            r = self.get(pt.port, "/rr/%d" % i)  # a new connection each: both workers serve
            self.assertEqual(r.status, 200, r)
            seq.append(addrs.index(r.json()["backend"]))
        print("round-robin over 2 backends, 40 connections: %s" % "".join(map(str, seq)))
        for k in range(2):
            self.assertGreaterEqual(seq.count(k), 12, "backend %d got %d of 40: %r"
                                    % (k, seq.count(k), seq))
        # one rotation shared by the workers, as with one worker (SPEC: a true rotation): one
        # request after another, whichever worker takes it, goes to the other backend
        repeats = [i for i in range(1, 40) if seq[i] == seq[i - 1]]
        self.assertEqual(repeats, [], "not one rotation across workers: %r" % seq)

    # ---- e: one health check per backend, not one per worker ----

    def test_health_check_runs_once_per_backend(self):
        be = PingBackend()
        self.addCleanup(be.close)
        pt = self.start_portico(W2 + route(
            [be.addr], extra='  proxy-core.health-check = ( "path" => "/ping", "interval" => 1 )\n'))
        deadline = time.monotonic() + 5
        while not be.times("/ping") and time.monotonic() < deadline:
            time.sleep(0.02)
        pings = be.times("/ping")
        self.assertTrue(pings, "no health check within 5 s")
        time.sleep(max(0.0, pings[0] + 2.3 - time.monotonic()))
        pings = [t - pings[0] for t in be.times("/ping") if t <= pings[0] + 2.3]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        print("health checks in 2.3 s at interval 1: %s" % ", ".join("%.2f" % t for t in pings))
        self.assertTrue(2 <= len(pings) <= 4, "%d checks in 2.3 s at interval 1 s (expected 3): "
                        "%r" % (len(pings), pings))
        self.assertGreater(min(gaps), 0.5, "two checks close together: one per worker? %r"
                           % pings)
        self.assertEqual(self.get(pt.port, "/after").status, 200)

    # ---- f: status and metrics carry per-worker connections ----

    def test_status_and_metrics_per_worker(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico(W2 + STATUS + route([a]))
        held = []
        try:
            for i in range(16):  # kept alive and open while the pages are read
                c = Client(pt.port)
                held.append(c)
                c.send(request_bytes("GET", "/held/%d" % i))
                self.assertEqual(c.read_response().status, 200)
            j = self.status(pt)
            m = self.get(pt.port, "/portico/metrics").body.decode()
        finally:
            for c in held:
                c.close()
        self.assertIn("workers", j, "no \"workers\" in the status JSON: %r" % j)
        workers = j["workers"]
        self.assertEqual(len(workers), 2, workers)
        counts = [w["connections"] for w in workers]
        self.assertEqual(j["connections"], 17, "16 held and the status request's own")
        self.assertEqual(sum(counts), j["connections"], workers)
        self.assertTrue(all(n > 0 for n in counts), "one worker accepted every connection: %r"
                        % counts)
        per = dict(re.findall(r'(?m)^portico_worker_connections\{worker="(\d+)"\} (\d+)$', m))
        self.assertEqual(sorted(per), ["0", "1"], m)
        total = re.search(r"(?m)^portico_connections (\d+)$", m)
        self.assertIsNotNone(total, m)
        self.assertEqual(sum(map(int, per.values())), int(total.group(1)), m)
        # 16 held and the metrics request's own, and the status request's connection when
        # portico has not yet seen its close
        self.assertIn(int(total.group(1)), (17, 18), m)

    def test_auto_is_the_cpus_of_the_affinity_mask(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico('server.workers = "auto"\n' + STATUS + route([a]))
        workers = self.status(pt).get("workers")
        self.assertIsNotNone(workers, "no \"workers\" in the status JSON")
        self.assertEqual(len(workers), len(os.sched_getaffinity(0)), workers)
        self.assertEqual(self.get(pt.port, "/auto").status, 200)

    # ---- g: the access log with 2 workers, SIGUSR1 under load ----

    def test_access_log_under_load_and_reopen(self):
        if not WRK:
            self.skipTest(NO_WRK)
        a = self.start_backend("http_echo")
        log = os.path.join(self.tmp, "access.log")
        pt = self.start_portico(W2 + "accesslog.filename = %s\n" % conf_str(log) + route([a]))

        def rotate():  # as logrotate does: rename, then ask for a reopen
            os.rename(log, log + ".1")
            pt.send_signal(signal.SIGUSR1)

        timer = threading.Timer(1.2, rotate)
        timer.start()
        try:
            res = run_wrk(pt.port, "/logged/under/load")
        finally:
            timer.join()
        self.assert_clean_load(res, "access log under load")

        def read(p):
            with open(p, "rb") as f:
                return f.read().decode("utf-8", "replace")

        last = -1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the responses still in flight at wrk's stop
            n = len(read(log + ".1")) + (len(read(log)) if os.path.exists(log) else 0)
            if n == last:
                break
            last = n
            time.sleep(0.3)
        self.assertTrue(os.path.exists(log), "SIGUSR1 did not open a new access log")
        old, new = read(log + ".1"), read(log)
        self.assertTrue(old and new, "one of the logs is empty: %d bytes before the reopen, %d "
                        "after" % (len(old), len(new)))
        for name, text in (("rotated", old), ("new", new)):
            self.assertTrue(text.endswith("\n"), "the %s log ends mid-line" % name)
            bad = [l for l in text.splitlines() if not LOG_LINE.match(l)]
            self.assertEqual(bad[:5], [], "torn or malformed lines in the %s log (%d)"
                             % (name, len(bad)))
        lines = len(old.splitlines()) + len(new.splitlines())
        print("access log: %d lines (%d before the reopen, %d after), wrk counted %d"
              % (lines, len(old.splitlines()), len(new.splitlines()), res.requests))
        self.assertGreaterEqual(lines, res.requests, "lines lost")
        self.assertLessEqual(lines, res.requests + 32, "more lines than requests")
        self.assertGreater(len(new.splitlines()), lines / 5,
                           "the lines after the reopen did not go on in the new file")

    # ---- h: graceful stop with slow requests in flight on both workers ----

    def test_graceful_stop_finishes_in_flight_on_both_workers(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico(W2 + STATUS + route([a]))
        clients = [Client(pt.port, timeout=10) for _ in range(12)]
        try:
            for i, c in enumerate(clients):
                c.send(request_bytes("GET", "/slow/%d?delay_ms=1200" % i))
            time.sleep(0.3)
            spread = self.worker_spread(pt)
            self.diag.append("connections per worker before SIGTERM: %r" % spread)
            pt.send_signal(signal.SIGTERM)
            res = [c.read_response() for c in clients]
        finally:
            for c in clients:
                c.close()
        self.assertEqual([r.status for r in res], [200] * 12, res)
        try:
            rc = pt.p.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("portico did not exit within 10 s of SIGTERM")
        self.assertEqual(rc, 0, "portico's exit status after SIGTERM")
        self.assertEqual(len(spread), 2, "no per-worker counts in the status JSON: %r" % spread)
        self.assertTrue(all(n > 0 for n in spread), "all in flight on one worker: %r" % spread)

    # ---- i: the key ----

    def check(self, value, flag="-t"):
        conf = self.write("w.conf", "server.port = 8099\nserver.workers = %s\n" % value)
        p = subprocess.run([PORTICO, flag, "-f", conf], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=10)
        return conf, p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")

    def test_workers_key(self):
        for value in ('"auto"', "2"):
            conf, rc, out = self.check(value)
            self.assertEqual(rc, 0, "server.workers = %s refused: %s" % (value, out))
            conf, rc, out = self.check(value, "-p")
            self.assertEqual(rc, 0, out)
            self.assertRegex(out, r"(?m)^\s*server\.workers\s*=\s*%s\s*$" % re.escape(value))
        for value in ("0", "-1", '"many"'):
            conf, rc, out = self.check(value)
            self.assertEqual(rc, 1, "server.workers = %s accepted: %s" % (value, out))
            self.assertRegex(out, re.escape(conf) + r":2: .*server\.workers")

    # ---- j: the start-up line ----

    def test_start_up_line_names_the_workers(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico(W2 + route([a]))
        started = [l for l in pt.stderr_text().splitlines() if "listening on" in l]
        self.assertEqual(len(started), 1, pt.stderr_text())
        self.assertRegex(started[0], r"\b2 workers\b")
