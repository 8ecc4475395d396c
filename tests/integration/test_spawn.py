"""Spawned apps (SPEC §3 spawn.*, §6): portico starts, scales, replaces and stops the app
processes behind "spawn:NAME" backends. Real php-cgi (fd 0, FastCGI), puma (LISTEN_FDS), python
http.server ({port} in the arguments) and apps/spawn_app.py (a small HTTP app that reports its
pid, session, socket and environment). Every test watches portico's process tree from /proc while
it runs and fails if any process of that tree is still alive after portico stopped."""

import concurrent.futures
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from harness import HERE, PORTICO, GatewayTest, Portico, base_conf, conf_str, fnv1a64, free_port

APPS = os.path.join(HERE, "apps")
SPAWN_APP = os.path.join(APPS, "spawn_app.py")
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
PHP_CGI = shutil.which("php-cgi")
PUMA = shutil.which("puma")

PHP_INDEX = "<?php header('Content-Type: text/plain'); echo 'php ', getmypid(), \"\\n\";\n"
PHP_SLEEP = ("<?php usleep((int)($_GET['ms'] ?? 500) * 1000);\n"
             "header('Content-Type: text/plain'); echo 'php ', getmypid(), \"\\n\";\n")


# ---- the process tree, from /proc ----

def proc_stat(pid):
    """(comm, state, ppid, pgrp, sid, starttime) of a process, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    comm = raw[raw.index("(") + 1:raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2:].split()
    return comm, rest[0], int(rest[1]), int(rest[2]), int(rest[3]), int(rest[19])


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def all_procs():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                out[int(name)] = st
    return out


def descendants(root, procs=None):
    """pids whose chain of parents reaches `root` (root itself excluded)."""
    procs = procs if procs is not None else all_procs()
    kids = {}
    for pid, st in procs.items():
        kids.setdefault(st[2], []).append(pid)
    out, todo = set(), [root]
    while todo:
        for k in kids.get(todo.pop(), ()):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def alive(pid, starttime=None):
    """The process exists, is not a zombie, and (when given) is the same one (start time)."""
    st = proc_stat(pid)
    return st is not None and st[1] != "Z" and (starttime is None or st[5] == starttime)


def unix_socket_path(pid, fd):
    """The bound path of the unix socket that is fd `fd` of process `pid`, or None."""
    try:
        link = os.readlink("/proc/%d/fd/%d" % (pid, fd))
    except OSError:
        return None
    m = re.match(r"socket:\[(\d+)\]$", link)
    if not m:
        return None
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[6] == m.group(1):
                return parts[7]
    return None


class ProcWatch:
    """Samples the descendants of the portico processes it is given, every 50 ms, and remembers
    each one (pid, start time, name, session). leftovers() lists the ones still alive, and any
    live process in the session of a spawned app."""

    def __init__(self):
        self.roots = set()
        self.seen = {}  # (pid, starttime) -> (comm, cmdline, sid)
        self.app_sids = set()
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def add_root(self, pid):
        with self.lock:
            self.roots.add(pid)
        self.sample()

    def sample(self):
        procs = all_procs()
        with self.lock:
            roots = set(self.roots)
        for root in roots:
            root_st = procs.get(root)
            for pid in descendants(root, procs):
                st = procs.get(pid)
                if st is None or st[1] == "Z":
                    continue
                key = (pid, st[5])
                with self.lock:
                    if key not in self.seen:
                        self.seen[key] = (st[0], cmdline(pid), st[4])
                    if root_st is not None and st[4] != root_st[4]:
                        self.app_sids.add(st[4])

    def _run(self):
        while not self.stopping:
            try:
                self.sample()
            except Exception:
                pass
            time.sleep(0.05)

    def stop(self):
        self.stopping = True
        self.thread.join(2)

    def leftovers(self, exclude=()):
        """[(pid, comm, cmdline)] of remembered descendants and app-session members still alive."""
        out = {}
        with self.lock:
            seen = dict(self.seen)
            sids = set(self.app_sids)
        for (pid, start), (comm, cmd, _) in seen.items():
            if pid not in exclude and alive(pid, start):
                out[pid] = (pid, comm, cmd)
        for pid, st in all_procs().items():
            if st[4] in sids and st[1] != "Z" and pid not in exclude and pid != os.getpid():
                out[pid] = (pid, st[0], cmdline(pid))
        return sorted(out.values())

    def wait_gone(self, timeout, exclude=()):
        """Wait until leftovers() is empty; returns (seconds taken, what was left at the end)."""
        t0 = time.monotonic()
        left = self.leftovers(exclude)
        while left and time.monotonic() - t0 < timeout:
            time.sleep(0.02)
            left = self.leftovers(exclude)
        return time.monotonic() - t0, left

    def kill_leftovers(self):
        for pid, _, _ in self.leftovers():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


# ---- config text ----

def conf_value(v):
    if isinstance(v, str):
        return conf_str(v)
    if isinstance(v, bool):
        return '"enable"' if v else '"disable"'
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "( " + ", ".join(conf_value(x) for x in v) + " )"
    if isinstance(v, dict):
        return "( " + ", ".join("%s => %s" % (conf_str(k), conf_value(x))
                                for k, x in v.items()) + " )"
    raise TypeError(v)


def apps_conf(apps):
    """spawn.apps = ( ... ) with one app per line."""
    return "spawn.apps = (\n%s\n)\n" % ",\n".join(
        "  %s => %s" % (conf_str(name), conf_value(settings)) for name, settings in apps.items())


def spawn_route(app, protocol, cond, extra=""):
    return ('%s {\n  proxy-core.protocol = "%s"\n  proxy-core.backends = ( "spawn:%s" )\n%s}\n'
            % (cond, protocol, app, extra))


def consecutive_free_ports(n):
    """A port P such that P .. P+n-1 are all free on 127.0.0.1 now."""
    for _ in range(100):
        p = free_port()
        socks = []
        try:
            for i in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", p + i))
                socks.append(s)
            return p
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no %d consecutive free ports" % n)


def run_check(conf_path):
    p = subprocess.run([PORTICO, "-t", "-f", conf_path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


class SpawnTest(GatewayTest):
    """Starts portico with spawn.apps; watches its process tree; after the test (portico stopped
    by the harness) nothing of that tree may be left."""

    def setUp(self):
        self.addCleanup(self._nothing_left)  # runs last: after the harness stopped portico
        super().setUp()
        self.watch = ProcWatch()
        self.state_dir = os.path.join(self.tmp, "state")
        os.makedirs(self.state_dir, mode=0o700)
        os.chmod(self.tmp, 0o755)

    def _nothing_left(self):
        took, left = self.watch.wait_gone(3.0)
        self.watch.stop()
        if left:
            self.watch.kill_leftovers()
            raise AssertionError(
                "processes of the test still alive 3 s after portico stopped:\n"
                + "\n".join("  pid %d %s: %s" % l for l in left))

    def need(self, path, what):
        if not path or not os.access(path, os.X_OK):
            self.skipTest("%s not installed" % what)

    def start_spawn(self, apps, routes, extra="", env=None):
        port = free_port()
        text = base_conf(port, (
            'server.state-dir = %s\n' % conf_str(self.state_dir)
            + 'status.status-url = "/portico/status"\n'
            + 'status.metrics-url = "/portico/metrics"\n'
            + extra + apps_conf(apps) + routes))
        if env is None:
            pt = self.start_portico(text, port=port, raw=True)
        else:
            pt = Portico(self.tmp, text, port, env=env)
            self._porticos.append(pt)
        self.watch.add_root(pt.pid)
        return pt

    def php_docroot(self):
        self.need(PHP_CGI, "php-cgi")
        docroot = os.path.join(self.tmp, "www")
        self.write("www/index.php", PHP_INDEX)
        self.write("www/sleep.php", PHP_SLEEP)
        return docroot

    def php_conf(self, **settings):
        app = {"bin-path": PHP_CGI, "idle-timeout": 1, "stop-timeout": 2,
               "environment": {"PHP_FCGI_MAX_REQUESTS": "10000"}}
        app.update(settings)
        return app

    def start_php(self, route_extra="", **settings):
        docroot = self.php_docroot()
        return self.start_spawn(
            {"php": self.php_conf(**settings)},
            spawn_route("php", "fastcgi", '$HTTP["url"] =$ ".php"', route_extra),
            extra="server.document-root = %s\n" % conf_str(docroot))

    def py_app(self, name, *args, **settings):
        app = {"bin-path": [PYTHON, SPAWN_APP, "--name", name, "--socket", "fd0"] + list(args),
               "stop-timeout": 2, "idle-timeout": 1}
        app.update(settings)
        return app

    # ---- status ----

    def status(self, pt):
        r = self.get(pt.port, "/portico/status")
        self.assertEqual(r.status, 200, r)
        return r.json()

    def app(self, pt, name):
        st = self.status(pt)
        self.assertIn("apps", st, "status has no \"apps\" list: %r" % st)
        for a in st["apps"]:
            if a.get("name") == name:
                return a
        self.fail("app %r not in status: %r" % (name, st["apps"]))

    def slots(self, pt, name):
        """{slot: pid} of the app's live processes."""
        return {p["slot"]: p["pid"] for p in self.app(pt, name)["processes"]}

    def metrics(self, pt):
        r = self.get(pt.port, "/portico/metrics")
        self.assertEqual(r.status, 200, r)
        return r.body.decode()

    def metric(self, text, name, app):
        m = re.search(r'(?m)^%s\{[^}]*app="%s"[^}]*\} (\S+)$' % (re.escape(name), re.escape(app)),
                      text)
        self.assertIsNotNone(m, "no %s{app=%r} in metrics:\n%s" % (name, app, text[-3000:]))
        return float(m.group(1))

    def wait_for(self, fn, timeout, what, pt=None):
        """Poll fn() until it returns something true; fail after timeout."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.05)
        log = pt.stderr_text()[-3000:] if pt is not None else ""
        self.fail("%s: not within %.1f s (last: %r)\nportico log:\n%s" % (what, timeout, last, log))

    def wait_procs(self, pt, name, n, timeout=8.0, ready=True):
        """Wait until the app has exactly n live processes (all ready/idle/busy when `ready`)."""
        def check():
            procs = self.app(pt, name)["processes"]
            if len(procs) != n:
                return None
            if ready and any(p["state"] not in ("ready", "idle", "busy") for p in procs):
                return None
            return {p["slot"]: p["pid"] for p in procs} or {"none": 0}
        return self.wait_for(check, timeout, "app %s with %d ready processes" % (name, n), pt)

    def wait_replaced(self, pt, name, slot, old_pid, timeout=10.0):
        """Wait until `slot` of the app runs a ready process other than old_pid; returns
        {slot: pid} at that moment."""
        def check():
            procs = self.app(pt, name)["processes"]
            mine = [p for p in procs if p["slot"] == slot]
            if not mine or mine[0]["pid"] == old_pid or \
                    mine[0]["state"] not in ("ready", "idle", "busy"):
                return None
            return {p["slot"]: p["pid"] for p in procs}
        return self.wait_for(check, timeout, "a new ready process in slot %d" % slot, pt)

    def log_lines(self, pt, text):
        return [l for l in pt.stderr_text().splitlines() if text in l]

    def load(self, pt, targets, threads, until=None, count=None, timeout=15.0):
        """Send requests from `threads` threads (fresh connection each) to the targets in turn,
        until the event `until` is set or `count` requests were sent. Returns
        [(t_start, t_end, target, status or repr(exception), body)]."""
        results, lock = [], threading.Lock()
        counter = [0]

        def worker(i):
            while True:
                with lock:
                    if (until is not None and until.is_set()) or \
                            (count is not None and counter[0] >= count):
                        return
                    n = counter[0]
                    counter[0] += 1
                target = targets[n % len(targets)]
                t0 = time.monotonic()
                try:
                    r = self.get(pt.port, target, timeout=timeout)
                    res = (t0, time.monotonic(), target, r.status, r.body)
                except Exception as e:
                    res = (t0, time.monotonic(), target, repr(e), b"")
                with lock:
                    results.append(res)

        ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
        for t in ts:
            t.start()
        return ts, results


class SpawnPhp(SpawnTest):
    def test_php_on_demand(self):
        """min-procs 0: nothing runs before the first request; it waits for php-cgi to start and
        is served; the process hangs off the launcher "portico-spawn", in its own session, with
        its socket (fd 0) in server.state-dir."""
        pt = self.start_php(**{"min-procs": 0, "max-procs": 2})
        time.sleep(0.5)
        tree = [(p, proc_stat(p)[0] if proc_stat(p) else "?", cmdline(p))
                for p in descendants(pt.pid)]
        self.assertFalse([t for t in tree if "php" in t[1] or "php" in t[2]],
                         "a php process runs before any request: %r" % tree)
        a = self.app(pt, "php")
        self.assertEqual(a["processes"], [], a)
        self.assertEqual(a["state"], "stopped", a)
        self.assertEqual(a["starts"], 0, a)
        self.assertEqual(self.metric(self.metrics(pt), "portico_app_processes", "php"), 0)

        t0 = time.monotonic()
        r = self.get(pt.port, "/index.php", timeout=15)
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body.startswith(b"php "), r)
        self.diag.append("first request (cold php-cgi) took %.3f s" % took)

        a = self.app(pt, "php")
        self.assertEqual(a["state"], "running", a)
        self.assertEqual(len(a["processes"]), 1, a)
        p = a["processes"][0]
        self.assertEqual(p["slot"], 0, a)
        self.assertIn(p["state"], ("ready", "idle", "busy"), a)
        self.assertGreaterEqual(p["requests"], 1, a)
        self.assertEqual(a["starts"], 1, a)
        self.assertEqual(a["failures"], 0, a)
        self.assertGreater(a["last_start_seconds"], 0, a)
        self.assertLess(a["last_start_seconds"], took + 0.5, a)

        pid = p["pid"]
        st = proc_stat(pid)
        self.assertIsNotNone(st, "status pid %d does not exist" % pid)
        self.assertIn("php", st[0] + cmdline(pid))
        self.assertEqual(os.getpgid(pid), pid, "the app is not in its own process group")
        self.assertEqual(os.getsid(pid), pid, "the app is not in its own session")
        launcher = st[2]
        lst = proc_stat(launcher)
        self.assertTrue(lst[0] == "portico-spawn" or "portico-spawn" in cmdline(launcher),
                        "the app's parent %d is %r (%s), not portico-spawn"
                        % (launcher, lst[0], cmdline(launcher)))
        self.assertEqual(lst[2], pt.pid, "the launcher is not a child of portico")
        sock = unix_socket_path(pid, 0)
        self.assertIsNotNone(sock, "fd 0 of php-cgi is not a unix socket: %s"
                             % os.readlink("/proc/%d/fd/0" % pid))
        self.assertTrue(sock.startswith(self.state_dir + "/"), sock)

        m = self.metrics(pt)
        self.assertEqual(self.metric(m, "portico_app_processes", "php"), 1)
        self.assertEqual(self.metric(m, "portico_app_starts_total", "php"), 1)
        self.assertEqual(self.metric(m, "portico_app_restarts_total", "php"), 0)

    def test_runs_as_user(self):
        """"user" => "nobody" (portico runs as root): the app runs as nobody and its group."""
        if os.geteuid() != 0:
            self.skipTest("needs root")
        import pwd
        pw = pwd.getpwnam("nobody")
        pt = self.start_php(**{"min-procs": 1, "max-procs": 1, "user": "nobody"})
        pid = self.wait_procs(pt, "php", 1)[0]
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
        uids = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)", st, re.M).groups()
        gids = re.search(r"^Gid:\s+(\d+)\s+(\d+)\s+(\d+)", st, re.M).groups()
        self.assertEqual(set(uids), {str(pw.pw_uid)}, st)
        self.assertEqual(set(gids), {str(pw.pw_gid)}, st)
        self.assertEqual(self.get(pt.port, "/index.php").status, 200)

    def sample_peak(self, pt, name, stop):
        """A thread that records the largest process count status shows until stop is set."""
        peak = {"n": 0, "busy": 0}

        def run():
            while not stop.is_set():
                try:
                    procs = self.app(pt, name)["processes"]
                    peak["n"] = max(peak["n"], len(procs))
                    peak["busy"] = max(peak["busy"],
                                       sum(1 for p in procs if p["state"] == "busy"))
                except Exception:
                    pass
                time.sleep(0.05)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, peak

    def slow_burst(self, pt, n, ms=500):
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            futs = [ex.submit(self.get, pt.port, "/sleep.php?ms=%d&i=%d" % (ms, i), timeout=20)
                    for i in range(n)]
            return [f.result() for f in futs]

    def test_scale_up_to_max_procs_then_idle_down_to_zero(self):
        """20 concurrent 0.5 s requests, max-procs 4: four processes, never more, every request
        200; idle-timeout 1 takes it back to none, and those processes are gone."""
        pt = self.start_php('  proxy-core.backlog-timeout = 15\n',
                            **{"min-procs": 0, "max-procs": 4, "idle-timeout": 1})
        stop = threading.Event()
        sampler, peak = self.sample_peak(pt, "php", stop)
        t0 = time.monotonic()
        rs = self.slow_burst(pt, 20)
        took = time.monotonic() - t0
        stop.set()
        sampler.join(2)
        self.assertEqual([r.status for r in rs], [200] * 20, [r for r in rs if r.status != 200])
        workers = {r.body for r in rs}
        self.diag.append("20 requests took %.2f s; peak %r; php pids %r" % (took, peak, workers))
        self.assertEqual(peak["n"], 4, "peak process count %d, want max-procs 4" % peak["n"])
        self.assertEqual(len(workers), 4, "requests served by %d php processes" % len(workers))
        self.assertLess(took, 6.0, "20 x 0.5 s on 4 processes took %.1f s" % took)
        self.assertGreaterEqual(self.app(pt, "php")["starts"], 4)

        app_procs = [key for key, (comm, cmd, _) in self.watch.seen.items() if "php" in comm + cmd]
        t0 = time.monotonic()
        self.wait_procs(pt, "php", 0, timeout=5.0, ready=False)
        self.diag.append("back to 0 processes %.2f s after the burst" % (time.monotonic() - t0))
        self.wait_for(lambda: not [k for k in app_procs if alive(*k)], 3.0,
                      "php processes gone after the idle stop", pt)
        m = self.metrics(pt)
        self.assertEqual(self.metric(m, "portico_app_processes", "php"), 0)
        self.assertGreaterEqual(self.metric(m, "portico_app_starts_total", "php"), 4)
        # still served after the idle stop: a new process starts on demand
        self.assertEqual(self.get(pt.port, "/index.php", timeout=15).status, 200)

    def test_idle_down_to_min_procs_one(self):
        """min-procs 1: one process from the start; a burst adds up to max-procs; idle-timeout
        stops the extra ones and leaves exactly one running."""
        pt = self.start_php('  proxy-core.backlog-timeout = 15\n',
                            **{"min-procs": 1, "max-procs": 3, "idle-timeout": 1})
        first = self.wait_procs(pt, "php", 1, timeout=8.0)
        stop = threading.Event()
        sampler, peak = self.sample_peak(pt, "php", stop)
        rs = self.slow_burst(pt, 9)
        stop.set()
        sampler.join(2)
        self.assertEqual([r.status for r in rs], [200] * 9)
        self.assertEqual(peak["n"], 3, "peak %d processes, want max-procs 3" % peak["n"])
        self.wait_procs(pt, "php", 1, timeout=5.0)
        time.sleep(1.5)  # idle-timeout again: it must not go below min-procs
        after = self.wait_procs(pt, "php", 1, timeout=1.0)
        self.diag.append("min-procs process before %r, after %r" % (first, after))
        self.assertEqual(self.get(pt.port, "/index.php").status, 200)

    def test_requests_at_the_moment_of_idle_stops(self):
        """1000 requests in bursts spaced around idle-timeout (1 s), so that requests keep
        arriving just as idle processes are being stopped: none fails."""
        pt = self.start_php('  proxy-core.backlog-timeout = 15\n',
                            **{"min-procs": 0, "max-procs": 4, "idle-timeout": 1})
        gaps = [0.9, 0.95, 1.0, 1.02, 1.05, 1.08, 1.1, 1.15, 1.2, 1.0]
        per_burst = 100
        results = []
        lock = threading.Lock()

        def one(i, delay):
            time.sleep(delay)
            try:
                r = self.get(pt.port, "/index.php?i=%d" % i, timeout=15)
                res = r.status
            except Exception as e:
                res = repr(e)
            with lock:
                results.append(res)

        n = 0
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            for gap in gaps:
                time.sleep(gap)
                # arrivals spread over ~150 ms around the moment the processes idle out
                futs = [ex.submit(one, n + k, (k % 8) * 0.02 if k < 8 else 0)
                        for k in range(per_burst)]
                n += per_burst
                for f in futs:
                    f.result()
        bad = [r for r in results if r != 200]
        a = self.app(pt, "php")
        self.diag.append("starts %s restarts %s; outcomes: %r"
                         % (a["starts"], a["restarts"],
                            {str(k): results.count(k) for k in set(results)}))
        self.assertEqual(len(results), 1000)
        self.assertEqual(bad, [], "%d of 1000 requests failed" % len(bad))
        self.assertGreater(a["starts"], 4, "no idle stop happened between bursts: the race was "
                           "not exercised (starts %d)" % a["starts"])

    def test_kill_9_of_a_child_under_load(self):
        """SIGKILL to one of two php-cgi processes while 4 clients keep them busy: only the
        request in flight on it may fail (concurrency 1: at most one), nothing that started
        after the kill fails, and its slot gets a new pid."""
        pt = self.start_php('  proxy-core.backlog-timeout = 15\n',
                            **{"min-procs": 2, "max-procs": 2})
        before = self.wait_procs(pt, "php", 2)
        stop = threading.Event()
        ts, results = self.load(pt, ["/sleep.php?ms=100"], 4, until=stop)
        time.sleep(1.0)
        slot, victim = sorted(before.items())[0]
        group = [p for p, st in all_procs().items() if st[3] == victim]
        other_slot, other = sorted(before.items())[1]
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        new = self.wait_replaced(pt, "php", slot, victim)
        t_new = time.monotonic()
        time.sleep(1.5)
        stop.set()
        for t in ts:
            t.join(20)
        failed = [r for r in results if r[3] != 200]
        self.diag.append("killed pid %d (slot %d, group %r); replacement %r after %.2f s; "
                         "%d requests, failed: %r" % (victim, slot, group, new, t_new - t_kill,
                                                      len(results), failed))
        self.assertLessEqual(len(failed), 1, "more than the one in-flight request failed")
        self.assertFalse([r for r in failed if r[0] > t_kill],
                         "a request that started after the kill failed")
        late = [r for r in results if r[0] > t_new]
        self.assertTrue(late, "no request after the replacement")
        self.assertEqual(new.get(other_slot), other, "the other process was replaced too")
        a = self.app(pt, "php")
        self.assertGreaterEqual(a["restarts"], 1, a)
        self.assertEqual(a["last_exit"], "killed by SIGKILL", a)
        self.assertEqual(self.metric(self.metrics(pt), "portico_app_restarts_total", "php"),
                         a["restarts"])
        self.wait_for(lambda: not [p for p in group if alive(p)], 2.0,
                      "the killed process's group (its php worker) gone", pt)

    def kill_only_process(self, age):
        """One process (min = max = 1) under load from 2 clients, SIGKILLed `age` seconds after
        it started. Returns (requests, failed, t_kill, t_new: when the replacement was ready)."""
        pt = self.start_spawn(
            {"one": self.py_app("one", **{"min-procs": 1, "max-procs": 1})},
            spawn_route("one", "http", '$HTTP["url"] =^ "/one/"',
                        "  proxy-core.backlog-timeout = 10\n"))
        victim = self.wait_procs(pt, "one", 1)[0]
        t_start = time.monotonic()
        stop = threading.Event()
        ts, results = self.load(pt, ["/one/x?delay_ms=50"], 2, until=stop)
        time.sleep(max(0.0, age - (time.monotonic() - t_start)))
        t_kill = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        new = self.wait_replaced(pt, "one", 0, victim)[0]
        t_new = time.monotonic()
        time.sleep(1.5)
        stop.set()
        for t in ts:
            t.join(20)
        failed = [r[:4] for r in results if r[3] != 200]
        self.diag.append("killed pid %d at age ~%.1f s; replacement %d ready after %.2f s; "
                         "%d requests; failed (t - t_kill, status): %r" % (
                             victim, age, new, t_new - t_kill, len(results),
                             [(round(r[0] - t_kill, 3), r[3]) for r in failed]))
        a = self.app(pt, "one")
        self.assertGreaterEqual(a["restarts"], 1, a)
        return results, failed, t_kill, t_new

    def test_kill_9_of_the_only_process_under_load(self):
        """SIGKILL to an app's only process (3.5 s old, so not an early death) under load: the
        request in flight on it may fail; requests that wait meanwhile are served by its
        replacement on the same socket."""
        results, failed, t_kill, t_new = self.kill_only_process(3.5)
        self.assertLessEqual(len(failed), 1, "more than the one in-flight request failed")
        self.assertFalse([r for r in failed if r[0] > t_kill],
                         "a request that started after the kill failed")
        self.assertTrue([r for r in results if r[0] > t_new and r[3] == 200])


    def test_kill_9_of_a_young_only_process_under_load(self):
        """The same, 1 s after the process started: it was ready and had served requests, so its
        death is a crash under load, not an app that dies right after start; the requests
        waiting meanwhile are still served by the replacement, not answered 503 by a back-off."""
        results, failed, t_kill, _ = self.kill_only_process(1.0)
        self.assertLessEqual(len(failed), 1, "%d requests failed, not just the one in flight"
                             % len(failed))
        self.assertFalse([r for r in failed if r[0] > t_kill],
                         "a request that started after the kill failed")


class SpawnBackoff(SpawnTest):
    def test_app_that_dies_at_once_backs_off(self):
        """bin-path /bin/false: 503 + Retry-After in under a second, every time; status shows
        state "backoff" and failures growing; last_exit "exited 1"."""
        pt = self.start_spawn(
            {"bad": {"bin-path": "/bin/false", "pass-socket": "fd0", "min-procs": 0}},
            spawn_route("bad", "http", '$HTTP["url"] =^ "/bad/"'))
        samples = []
        t_first = time.monotonic()
        deadline = t_first + 3.5
        i = 0
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            r = self.get(pt.port, "/bad/%d" % i, timeout=10)
            took = time.monotonic() - t0
            a = self.app(pt, "bad")
            samples.append((round(t0 - t_first, 2), r.status, r.header("Retry-After"),
                            round(took, 3), a["state"], a["failures"], a["retry_in"],
                            len(a["processes"])))
            i += 1
            time.sleep(0.25)
        self.diag.append("samples (t, status, Retry-After, took, state, failures, retry_in, "
                         "procs):\n" + "\n".join(repr(s) for s in samples))
        for s in samples:
            self.assertEqual(s[1], 503, s)
            self.assertIsNotNone(s[2], "503 without Retry-After: %r" % (s,))
            self.assertRegex(s[2], r"^[1-9][0-9]*$", s)
            self.assertLess(s[3], 1.0, "a request in back-off took %.2f s" % s[3])
        backoff = [s for s in samples if s[4] == "backoff"]
        self.assertTrue(backoff, "status never showed state \"backoff\"")
        self.assertTrue(all(s[6] > 0 for s in backoff), "retry_in 0 while in backoff")
        for s in backoff:  # Retry-After is the back-off left, in whole seconds, rounded up
            # (retry_in was read just after the answer: a few ms less, which may cross a second)
            allowed = {math.ceil(s[6]), math.ceil(s[6] + 0.1)}
            self.assertIn(int(s[2]), allowed, s)
        failures = [s[5] for s in samples]
        self.assertEqual(failures, sorted(failures), "failures went down")
        self.assertGreater(failures[-1], failures[0], "failures did not grow")
        self.assertGreaterEqual(failures[-1], 3, "back-off too slow to retry")
        self.assertEqual(self.app(pt, "bad")["last_exit"], "exited 1")


    def test_app_that_never_gets_ready(self):
        """An app that never accepts on its socket (sleep) is killed at start-timeout (1 s) and
        counts as a failed start; the request that waited for it gets 503 + Retry-After, not a
        hang."""
        pt = self.start_spawn(
            {"mute": {"bin-path": ["/bin/sleep", "30"], "start-timeout": 1, "stop-timeout": 1}},
            spawn_route("mute", "http", '$HTTP["url"] =^ "/"'))
        t0 = time.monotonic()
        r = self.get(pt.port, "/x", timeout=10)
        took = time.monotonic() - t0
        a = self.app(pt, "mute")
        self.diag.append("answered %d after %.2f s; app %r" % (r.status, took, a))
        self.assertEqual(r.status, 503, r)
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertGreater(took, 0.9, "answered before start-timeout")
        self.assertLess(took, 3.5)
        self.assertGreaterEqual(a["failures"], 1, a)
        self.assertRegex(a["last_exit"], r"^killed by SIG", a)
        sleeps = [k for k, (comm, cmd, _) in self.watch.seen.items() if cmd == "/bin/sleep 30"]
        self.assertTrue(sleeps, "the app process was never seen")
        self.wait_for(lambda: not [k for k in sleeps if alive(*k)], 1.0,
                      "the app that never got ready gone", pt)


class SpawnStop(SpawnTest):
    def start_tree(self):
        """php-cgi (2 processes, each with its worker child) and spawn_app (2 processes, each with
        a child in its group and one that escaped into its own session)."""
        docroot = self.php_docroot()
        pt = self.start_spawn(
            {"php": self.php_conf(**{"min-procs": 2, "max-procs": 2}),
             "py": self.py_app("py", "--child", "--escaped-child", **{"min-procs": 2,
                                                                       "max-procs": 2})},
            spawn_route("php", "fastcgi", '$HTTP["url"] =$ ".php"')
            + spawn_route("py", "http", '$HTTP["url"] =^ "/py/"'),
            extra="server.document-root = %s\n" % conf_str(docroot))
        self.wait_procs(pt, "php", 2)
        self.wait_procs(pt, "py", 2)
        self.assertEqual(self.get(pt.port, "/index.php").status, 200)
        kids = set()
        for i in range(4):
            r = self.get(pt.port, "/py/%d" % i)
            self.assertEqual(r.status, 200)
            kids.update(r.json()["children"])
        time.sleep(0.2)
        self.watch.sample()
        tree = self.watch.leftovers(exclude=(pt.pid,))
        self.assertTrue(any(t[1] == "portico-spawn" or "portico-spawn" in t[2] for t in tree),
                        "no launcher named portico-spawn in %r" % tree)
        for k in kids:
            self.assertIn(k, [t[0] for t in tree], "child %d not seen in the tree" % k)
        self.diag.append("tree before: %r" % tree)
        self.app_pids = set(self.slots(pt, "php").values()) | set(self.slots(pt, "py").values())
        return pt, tree

    def test_sigterm_stops_every_descendant(self):
        pt, tree = self.start_tree()
        t0 = time.monotonic()
        pt.send_signal(signal.SIGTERM)
        rc = pt.p.wait(15)
        took = time.monotonic() - t0
        # the apps' own sessions (each app process leads one) must be empty by now
        in_groups = [(pid, st[0], cmdline(pid)) for pid, st in all_procs().items()
                     if st[4] in self.app_pids and st[1] != "Z"]
        gone_after, left = self.watch.wait_gone(1.5)
        self.diag.append("portico exited %r after %.2f s; in app sessions at exit: %r; "
                         "left 1.5 s later: %r" % (rc, took, in_groups, left))
        self.assertEqual(rc, 0)
        self.assertEqual(in_groups, [], "app processes still running when portico exited")
        self.assertEqual(left, [], "descendants left 1.5 s after portico exited")

    def test_sigkill_of_portico_leaves_nothing(self):
        pt, tree = self.start_tree()
        os.kill(pt.pid, signal.SIGKILL)
        pt.p.wait(5)
        took, left = self.watch.wait_gone(1.5)
        self.diag.append("all gone after %.2f s; left: %r" % (took, left))
        self._porticos.remove(pt)  # its exit status is ours, not a failure
        pt.stop()
        self.diag.append("--- portico stderr (pid %d) ---\n%s" % (pt.pid, pt.stderr_text()[-4000:]))
        self.assertEqual(left, [], "descendants left 1.5 s after portico was killed")


    def test_kill_signal_and_stop_timeout(self):
        """Stopping portico: an app with kill-signal SIGINT stops at once on it; an app that
        ignores SIGTERM gets SIGKILL after its stop-timeout (1 s), and portico waits for it."""
        pt = self.start_spawn(
            {"intr": self.py_app("intr", "--ignore-term", **{"min-procs": 1, "max-procs": 1,
                                                             "kill-signal": "SIGINT",
                                                             "stop-timeout": 5}),
             "stubborn": self.py_app("stubborn", "--ignore-term", "--child",
                                     **{"min-procs": 1, "max-procs": 1, "stop-timeout": 1})},
            spawn_route("intr", "http", '$HTTP["url"] =^ "/i/"')
            + spawn_route("stubborn", "http", '$HTTP["url"] =^ "/s/"'))
        intr = self.wait_procs(pt, "intr", 1)[0]
        stubborn = self.wait_procs(pt, "stubborn", 1)[0]
        child = self.get(pt.port, "/s/").json()["children"][0]
        t0 = time.monotonic()
        pt.send_signal(signal.SIGTERM)
        gone = {}
        while time.monotonic() - t0 < 8 and len(gone) < 3:
            for name, pid in (("intr", intr), ("stubborn", stubborn), ("child", child)):
                if name not in gone and not alive(pid):
                    gone[name] = time.monotonic() - t0
            time.sleep(0.01)
        rc = pt.p.wait(10)
        took = time.monotonic() - t0
        self.diag.append("gone after SIGTERM: %r; portico exited %r after %.2f s"
                         % (gone, rc, took))
        self.assertEqual(rc, 0)
        self.assertEqual(sorted(gone), ["child", "intr", "stubborn"], "not all stopped")
        self.assertLess(gone["intr"], 0.8, "the SIGINT app did not stop on its kill-signal")
        self.assertGreater(gone["stubborn"], 0.9, "SIGKILL before stop-timeout")
        # (generous: on a loaded machine the reaping itself can take a while)
        self.assertLess(gone["stubborn"], 5.0, "no SIGKILL after stop-timeout")
        self.assertGreaterEqual(took, gone["stubborn"] - 0.05,
                                "portico exited before its app was gone")
        self.assertTrue(self.log_lines(pt, "spawn_app: SIGINT"), "SIGINT not seen by the app")


    def test_kill_mode(self):
        """kill-mode "group" (default): kill-signal reaches the app's whole process group;
        "main": the process alone (a pre-fork master stops its own workers), and what is left of
        its group goes with it by SIGKILL. Either way nothing is left."""
        for mode in ("group", "main"):
            with self.subTest(mode=mode):
                pt = self.start_spawn(
                    {"k": self.py_app("k", "--term-child", **{"min-procs": 1, "max-procs": 1,
                                                              "kill-mode": mode})},
                    spawn_route("k", "http", '$HTTP["url"] =^ "/"'))
                pid = self.wait_procs(pt, "k", 1)[0]
                child = self.get(pt.port, "/").json()["children"][0]
                # the child's SIGTERM handler is in place (its stderr is the app's, logged)
                ready = "app k[%d]: spawn_app child: ready" % pid
                self.wait_for(lambda: self.log_lines(pt, ready), 10, "the child's %r" % ready, pt)
                pt.send_signal(signal.SIGTERM)
                self.assertEqual(pt.p.wait(10), 0)
                self.wait_for(lambda: not alive(child), 5, "the app's child gone", pt)
                seen = self.log_lines(pt, "spawn_app child: SIGTERM")
                self.assertEqual(len(seen), 1 if mode == "group" else 0, pt.stderr_text()[-2000:])

    def test_app_signals_are_default(self):
        """An app starts with default signal dispositions and nothing blocked, even when portico
        itself was started with signals ignored (`portico &` in a script ignores SIGINT and
        SIGQUIT; nohup ignores SIGHUP): otherwise kill-signal SIGINT would not stop it."""
        saved = {sig: signal.signal(sig, signal.SIG_IGN)
                 for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP)}
        try:
            pt = self.start_spawn(
                {"sig": self.py_app("sig", **{"min-procs": 1, "max-procs": 1,
                                              "kill-signal": "SIGINT"})},
                spawn_route("sig", "http", '$HTTP["url"] =^ "/"'))
        finally:
            for sig, old in saved.items():
                signal.signal(sig, old)
        pid = self.wait_procs(pt, "sig", 1)[0]
        with open("/proc/%d/status" % pid) as f:
            st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        # python3 itself ignores SIGPIPE and SIGXFSZ at start; signals 32 and 33 are glibc's own
        # (libc cannot change them; make, for one, runs its recipes with them ignored)
        ign = int(st["SigIgn"].strip(), 16) & ~((1 << (signal.SIGPIPE - 1))
                                                | (1 << (signal.SIGXFSZ - 1)) | (3 << 31))
        ignored = [str(n + 1) for n in range(64) if ign >> n & 1]
        self.assertEqual(ignored, [], "the app starts with these signals ignored")
        self.assertEqual(int(st["SigBlk"].strip(), 16), 0, "the app starts with signals blocked")


class SpawnKinds(SpawnTest):
    def test_explicit_socket_addresses(self):
        """"socket" => "unix:/path": slot i listens on /path.i; "socket" => "127.0.0.1:P" with
        fd0: portico binds P, P+1, ... itself and PORT is set."""
        sockdir = os.path.join(self.tmp, "sockets")
        os.makedirs(sockdir)
        port = consecutive_free_ports(3)  # (2 processes, and a slot for a replacement)
        pt = self.start_spawn(
            {"u": self.py_app("u", **{"socket": "unix:%s/u" % sockdir, "min-procs": 2,
                                      "max-procs": 2}),
             "t": self.py_app("t", **{"socket": "127.0.0.1:%d" % port, "min-procs": 2,
                                      "max-procs": 2})},
            spawn_route("u", "http", '$HTTP["url"] =^ "/u/"')
            + spawn_route("t", "http", '$HTTP["url"] =^ "/t/"'))
        self.wait_procs(pt, "u", 2)
        self.wait_procs(pt, "t", 2)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            ru = list(ex.map(lambda i: self.get(pt.port, "/u/%d?delay_ms=300" % i), range(2)))
            rt = list(ex.map(lambda i: self.get(pt.port, "/t/%d?delay_ms=300" % i), range(2)))
        self.assertEqual({r.json()["serving"] for r in ru},
                         {"unix:%s/u.0" % sockdir, "unix:%s/u.1" % sockdir})
        js = [r.json() for r in rt]
        self.assertEqual({j["serving"] for j in js},
                         {"127.0.0.1:%d" % port, "127.0.0.1:%d" % (port + 1)})
        for j in js:
            self.assertEqual(j["env"]["PORT"], j["serving"].rsplit(":", 1)[1], j)

    def test_concurrency_per_process(self):
        """concurrency 2: two requests at once share one process; a third and fourth start a
        second one (max-procs 3 is not reached)."""
        pt = self.start_spawn(
            {"c": self.py_app("c", **{"concurrency": 2, "min-procs": 0, "max-procs": 3})},
            spawn_route("c", "http", '$HTTP["url"] =^ "/c/"',
                        "  proxy-core.backlog-timeout = 10\n"))
        self.assertEqual(self.get(pt.port, "/c/warm", timeout=10).status, 200)
        self.wait_procs(pt, "c", 1)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            two = list(ex.map(lambda i: self.get(pt.port, "/c/%d?delay_ms=500" % i), range(2)))
        self.assertEqual({r.json()["pid"] for r in two}, set(self.slots(pt, "c").values()))
        self.assertEqual(len(self.slots(pt, "c")), 1, "a second process for 2 requests")
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            four = list(ex.map(lambda i: self.get(pt.port, "/c/%d?delay_ms=800" % i, timeout=10),
                               range(4)))
        self.assertEqual([r.status for r in four], [200] * 4)
        pids = [r.json()["pid"] for r in four]
        self.assertEqual(len(set(pids)), 2, "4 requests at concurrency 2: %r" % pids)
        self.assertEqual(max(pids.count(p) for p in pids), 2, pids)
    def test_puma_with_listen_fds(self):
        """puma gets its socket by socket activation (fd 3, LISTEN_FDS=1, LISTEN_PID,
        LISTEN_FDNAMES=NAME). puma 5 takes the inherited socket for a -b naming the same address
        (-b unix://{socket}, as docs/config.md says) or with --bind-to-activated-sockets; with
        neither it binds 0.0.0.0:9292 and closes (and unlinks) the inherited socket."""
        self.need(PUMA, "puma")
        pt = self.start_spawn(
            {"rack": {"bin-path": [PUMA, "-b", "unix://{socket}", "-t", "1:1",
                                   "--dir", APPS, os.path.join(APPS, "hello.ru")],
                      "pass-socket": "listen-fds", "concurrency": 1, "min-procs": 0,
                      "max-procs": 2, "stop-timeout": 3}},
            spawn_route("rack", "http", '$HTTP["url"] =^ "/"'))
        r = self.get(pt.port, "/hello", timeout=20)
        self.assertEqual(r.status, 200, r)
        m = re.match(rb"hello from puma pid=(\d+) fdnames=(\S*) path=(\S+)", r.body)
        self.assertIsNotNone(m, r)
        pid = int(m.group(1))
        self.assertEqual(self.slots(pt, "rack"), {0: pid})
        self.assertEqual(m.group(2), b"rack", "LISTEN_FDNAMES")
        self.assertEqual(m.group(3), b"/hello")
        for i in range(5):
            self.assertEqual(self.get(pt.port, "/again/%d" % i).status, 200)
        # puma's own start-up lines reach the error log, tagged with the app and pid
        lines = self.log_lines(pt, "Activated unix://" + self.state_dir)
        self.assertTrue(lines, "puma did not log that it used the inherited socket:\n"
                        + pt.stderr_text()[-3000:])
        self.assertIn("rack", lines[0])
        self.assertRegex(lines[0], r"\b%d\b" % pid)

    def test_puma_bind_to_activated_sockets(self):
        """The other way puma 5 takes the inherited socket: --bind-to-activated-sockets only."""
        self.need(PUMA, "puma")
        pt = self.start_spawn(
            {"rack": {"bin-path": [PUMA, "--bind-to-activated-sockets", "only", "-t", "1:1",
                                   "--dir", APPS, os.path.join(APPS, "hello.ru")],
                      "pass-socket": "listen-fds", "min-procs": 0, "max-procs": 1,
                      "stop-timeout": 3}},
            spawn_route("rack", "http", '$HTTP["url"] =^ "/"'))
        r = self.get(pt.port, "/p", timeout=20)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body.startswith(b"hello from puma pid=%d " % self.slots(pt, "rack")[0]),
                        r)

    def test_fastcgi_and_scgi_apps(self):
        """The test backends as spawned apps: fcgi_echo on fd 0 (FastCGI), scgi_echo binding
        "unix:{socket}" itself (SCGI, argument mode: slot i at PATH.i); request bodies arrive
        whole."""
        sockdir = os.path.join(self.tmp, "scgi")
        os.makedirs(sockdir)
        pt = self.start_spawn(
            {"fe": {"bin-path": self.backend_path("fcgi_echo"), "min-procs": 0,
                    "max-procs": 1, "stop-timeout": 2},
             "se": {"bin-path": [self.backend_path("scgi_echo"), "unix:{socket}"],
                    "socket": "unix:%s/se" % sockdir, "pass-socket": "argument",
                    "min-procs": 0, "max-procs": 1, "stop-timeout": 2}},
            spawn_route("fe", "fastcgi", '$HTTP["url"] =^ "/fe/"')
            + spawn_route("se", "scgi", '$HTTP["url"] =^ "/se/"'))
        body = os.urandom(200000)
        for prefix, want in (("/fe/", lambda: "fd0:%d" % self.slots(pt, "fe")[0]),
                             ("/se/", lambda: "unix:%s/se.0" % sockdir)):
            r = self.get(pt.port, prefix + "x?q=1", method="POST", body=body, timeout=15)
            self.assertEqual(r.status, 200, r)
            e = r.json()
            self.assertEqual((e["body_len"], e["body_fnv"]), (len(body), fnv1a64(body)))
            self.assertEqual(e["backend"], want())

    def test_argument_mode_with_port(self):
        """pass-socket "argument": the app binds {port} / {socket} itself; two slots on TCP use
        consecutive ports; PORT is in its environment."""
        files = os.path.join(self.tmp, "files")
        self.write("files/files/hello.txt", "hello from http.server\n")
        p1 = consecutive_free_ports(2)  # (each app has a slot for a replacement on top)
        p2 = consecutive_free_ports(3)
        pt = self.start_spawn(
            {"files": {"bin-path": [PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
                                    "--directory", files, "{port}"],
                       "socket": "127.0.0.1:%d" % p1, "pass-socket": "argument",
                       "min-procs": 0, "max-procs": 1, "stop-timeout": 2},
             "echo": {"bin-path": [PYTHON, SPAWN_APP, "--name", "echo", "--bind", "{socket}"],
                      "socket": "127.0.0.1:%d" % p2, "pass-socket": "argument",
                      "min-procs": 2, "max-procs": 2, "stop-timeout": 2}},
            spawn_route("files", "http", '$HTTP["url"] =^ "/files/"')
            + spawn_route("echo", "http", '$HTTP["url"] =^ "/echo/"'))
        r = self.get(pt.port, "/files/hello.txt", timeout=15)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b"hello from http.server\n")
        self.wait_procs(pt, "echo", 2)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(lambda i: self.get(pt.port, "/echo/%d?delay_ms=300" % i),
                             range(4)))
        self.assertEqual([r.status for r in rs], [200] * 4, rs)
        js = [r.json() for r in rs]
        serving = {j["serving"] for j in js}
        self.assertEqual(serving, {"127.0.0.1:%d" % p2, "127.0.0.1:%d" % (p2 + 1)})
        for j in js:
            self.assertEqual(j["env"]["PORT"], j["serving"].rsplit(":", 1)[1], j)
        self.assertEqual({j["pid"] for j in js}, set(self.slots(pt, "echo").values()))

    def test_app_output_in_error_log_tagged(self):
        """stdout and stderr lines of an app reach portico's error log, each line tagged with the
        app's name and pid; the app's environment holds only what the config gives it."""
        env = dict(os.environ, APP_COPIED="yes", APP_NOT_COPIED="no")
        pt = self.start_spawn(
            {"talker": self.py_app("talker", "--say", "talker-start-mark-7f3",
                                   **{"min-procs": 1, "max-procs": 1,
                                      "copy-environment": ["PATH", "APP_COPIED"],
                                      "environment": {"APP_VERSION": "3"}})},
            spawn_route("talker", "http", '$HTTP["url"] =^ "/"'), env=env)
        pid = self.wait_procs(pt, "talker", 1)[0]
        for text in ("talker-start-mark-7f3 (stderr)", "talker-start-mark-7f3 (stdout)"):
            self.assertTrue(self.wait_stderr(pt, text, 3.0), "%r not in the error log:\n%s"
                            % (text, pt.stderr_text()[-3000:]))
            line = self.log_lines(pt, text)[0]
            self.assertRegex(line, r"\btalker\b", line)
            self.assertRegex(line, r"\b%d\b" % pid, line)
        r = self.get(pt.port, "/x?log=request-time-line-a41")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(self.wait_stderr(pt, "request-time-line-a41", 3.0))
        line = self.log_lines(pt, "request-time-line-a41")[0]
        self.assertRegex(line, r"\btalker\b", line)
        self.assertRegex(line, r"\b%d\b" % pid, line)
        env = r.json()["env"]
        names = set(r.json()["env_names"])
        self.assertEqual(env["APP_COPIED"], "yes")
        self.assertEqual(env["APP_VERSION"], "3")
        self.assertEqual(env["PHP_FCGI_CHILDREN"], "1")
        self.assertIsNone(env["APP_NOT_COPIED"])
        self.assertIsNone(env["HOME"])
        extra = names - {"PATH", "APP_COPIED", "APP_VERSION", "PHP_FCGI_CHILDREN", "PORT",
                         "LC_CTYPE"}
        self.assertEqual(extra, set(), "variables the config did not ask for")


class SpawnReload(SpawnTest):
    def test_sighup_changes_one_app_only(self):
        """SIGHUP with app "b" changed (its environment) and "a" unchanged: a keeps its pids, b
        gets new ones (serving the new setting), and no request fails across the reload."""
        def conf(version):
            return (apps_conf({
                "a": self.py_app("a", **{"min-procs": 2, "max-procs": 2,
                                         "environment": {"APP_VERSION": "1"}}),
                "b": self.py_app("b", **{"min-procs": 2, "max-procs": 2,
                                         "environment": {"APP_VERSION": version}})})
                + spawn_route("a", "http", '$HTTP["url"] =^ "/a/"')
                + spawn_route("b", "http", '$HTTP["url"] =^ "/b/"'))

        port = free_port()
        head = base_conf(port, 'server.state-dir = %s\nstatus.status-url = "/portico/status"\n'
                         'status.metrics-url = "/portico/metrics"\n' % conf_str(self.state_dir))
        pt = self.start_portico(head + conf("1"), port=port, raw=True)
        self.watch.add_root(pt.pid)
        a0 = self.wait_procs(pt, "a", 2)
        b0 = self.wait_procs(pt, "b", 2)
        stop = threading.Event()
        ts, results = self.load(pt, ["/a/x?delay_ms=20", "/b/x?delay_ms=20"], 4, until=stop)
        time.sleep(0.5)
        with open(pt.conf_path, "w") as f:
            f.write(head + conf("2"))
        t_hup = time.monotonic()
        pt.send_signal(signal.SIGHUP)
        self.assertTrue(self.wait_stderr(pt, "configuration reloaded", 5.0),
                        pt.stderr_text()[-3000:])
        b1 = self.wait_for(
            lambda: (lambda s: s if len(s) == 2 and not set(s.values()) & set(b0.values())
                     else None)(self.slots(pt, "b")), 8.0, "b replaced by new processes", pt)
        self.wait_procs(pt, "b", 2)
        took = time.monotonic() - t_hup
        time.sleep(1.0)
        stop.set()
        for t in ts:
            t.join(20)
        failed = [r for r in results if r[3] != 200]
        self.diag.append("a %r; b %r -> %r in %.2f s; %d requests, failed %r"
                         % (a0, b0, b1, took, len(results), failed))
        self.assertEqual(failed, [], "requests failed across the reload")
        self.assertEqual(self.slots(pt, "a"), a0, "the unchanged app was restarted")
        versions_b = {self.get(pt.port, "/b/v%d" % i).json()["env"]["APP_VERSION"]
                      for i in range(4)}
        self.assertEqual(versions_b, {"2"})
        self.assertEqual(self.get(pt.port, "/a/v").json()["env"]["APP_VERSION"], "1")
        self.wait_for(lambda: not [p for p in b0.values() if alive(p)], 4.0,
                      "the old processes of b gone", pt)


    def test_sighup_removes_an_app_after_its_requests(self):
        """SIGHUP with app "c" (and its route) removed while a 1.5 s request is in flight on it:
        that request completes with 200, then c's process stops; "k" is untouched."""
        port = free_port()
        head = base_conf(port, 'server.state-dir = %s\nstatus.status-url = "/portico/status"\n'
                         % conf_str(self.state_dir))
        keep = self.py_app("k", **{"min-procs": 1, "max-procs": 1})
        gone = self.py_app("c", **{"min-procs": 1, "max-procs": 1})
        pt = self.start_portico(head + apps_conf({"k": keep, "c": gone})
                                + spawn_route("k", "http", '$HTTP["url"] =^ "/k/"')
                                + spawn_route("c", "http", '$HTTP["url"] =^ "/c/"'),
                                port=port, raw=True)
        self.watch.add_root(pt.pid)
        k0 = self.wait_procs(pt, "k", 1)
        c0 = self.wait_procs(pt, "c", 1)[0]
        res = {}
        slow = threading.Thread(target=lambda: res.update(
            r=self.get(pt.port, "/c/slow?delay_ms=1500", timeout=10)), daemon=True)
        slow.start()
        time.sleep(0.3)
        with open(pt.conf_path, "w") as f:
            f.write(head + apps_conf({"k": keep})
                    + spawn_route("k", "http", '$HTTP["url"] =^ "/k/"'))
        pt.send_signal(signal.SIGHUP)
        self.assertTrue(self.wait_stderr(pt, "configuration reloaded", 5.0),
                        pt.stderr_text()[-3000:])
        self.assertTrue(alive(c0), "the removed app stopped with a request in flight")
        self.assertEqual(self.get(pt.port, "/c/new").status, 404)
        slow.join(10)
        self.assertEqual(res["r"].status, 200, res)
        self.assertEqual(res["r"].json()["pid"], c0)
        self.wait_for(lambda: not alive(c0), 4.0, "the removed app's process gone", pt)
        self.assertEqual([a["name"] for a in self.status(pt)["apps"]], ["k"])
        self.assertEqual(self.slots(pt, "k"), k0)


    def test_sighup_with_a_bad_config_keeps_the_apps(self):
        """A reload whose config does not check (a bin-path that is nowhere in PATH) leaves the
        running config and its processes as they were."""
        port = free_port()
        head = base_conf(port, 'server.state-dir = %s\nstatus.status-url = "/portico/status"\n'
                         % conf_str(self.state_dir))
        route = spawn_route("k", "http", '$HTTP["url"] =^ "/k/"')
        pt = self.start_portico(head + apps_conf({"k": self.py_app("k", **{"min-procs": 2})})
                                + route, port=port, raw=True)
        self.watch.add_root(pt.pid)
        k0 = self.wait_procs(pt, "k", 2)
        bad = self.py_app("k", **{"min-procs": 2})
        bad["bin-path"] = "portico-no-such-program"
        with open(pt.conf_path, "w") as f:
            f.write(head + apps_conf({"k": bad}) + route)
        pt.send_signal(signal.SIGHUP)
        self.wait_for(lambda: "portico-no-such-program" in pt.stderr_text(), 5.0,
                      "the failed reload logged", pt)
        time.sleep(0.3)
        self.assertNotIn("configuration reloaded", pt.stderr_text())
        self.assertEqual(self.slots(pt, "k"), k0)
        self.assertEqual(self.get(pt.port, "/k/x").status, 200)


class SpawnConfig(SpawnTest):
    """portico -t on spawn configs."""

    def check(self, text):
        path = self.write("check-%d.conf" % len(os.listdir(self.tmp)), text)
        rc, out = run_check(path)
        return path, rc, out

    def app_block(self, lines, name="app", route_app=None):
        """A config with spawn.apps = ( NAME => ( lines... ) ) and a route to it. Returns
        (text, {line text: line number})."""
        text = ('server.port = 8099\n'
                'spawn.apps = (\n'
                '  "%s" => (\n' % name
                + "".join("    %s,\n" % l for l in lines)
                + '  ),\n'
                ')\n'
                '$HTTP["url"] =^ "/" {\n'
                '  proxy-core.protocol = "http"\n'
                '  proxy-core.backends = ( "spawn:%s" )\n'
                '}\n' % (route_app or name))
        numbers = {l: i + 1 for i, l in enumerate(text.splitlines())}
        return text, numbers

    def test_good_spawn_config_checks(self):
        text, _ = self.app_block(['"bin-path" => ( "/bin/cat", "{socket}", "{port}" )',
                                  '"socket" => "127.0.0.1:9100"', '"pass-socket" => "argument"',
                                  '"concurrency" => 2', '"min-procs" => 1', '"max-procs" => 3',
                                  '"idle-timeout" => 5', '"start-timeout" => 5',
                                  '"stop-timeout" => 2', '"kill-signal" => "SIGINT"',
                                  '"kill-mode" => "main"',
                                  '"environment" => ( "A" => "b" )',
                                  '"copy-environment" => ( "PATH", "HOME" )',
                                  # later-issue keys at their defaults are accepted
                                  '"max-requests" => 0', '"max-lifetime" => 0',
                                  '"request-timeout" => 0', '"max-rss" => 0'])
        path, rc, out = self.check(text + "spawn.max-procs-total = 0\n")
        self.assertEqual(rc, 0, out)

    def test_later_keys_are_refused(self):
        for key, value in (("memory-max", "268435456"), ("cpu-max", "50"), ("pids-max", "64")):
            with self.subTest(key=key):
                line = '"%s" => %s' % (key, value)
                text, n = self.app_block(['"bin-path" => "/bin/cat"', line])
                path, rc, out = self.check(text)
                self.assertEqual(rc, 1, out)
                self.assertIn("cannot take effect", out)
                self.assertIn(key, out)
                self.assertIn("%s:%d:" % (path, n["    %s," % line]), out)
        with self.subTest(key="spawn.max-procs-total"):  # below what min-procs keep running
            text, n = self.app_block(['"bin-path" => "/bin/cat"', '"min-procs" => 3'])
            path, rc, out = self.check(text + "spawn.max-procs-total = 2\n")
            self.assertEqual(rc, 1, out)
            self.assertIn("min-procs together (3)", out)
            self.assertIn("%s:%d:" % (path, len(text.splitlines()) + 1), out)
            path, rc, out = self.check(text + "spawn.max-procs-total = 3\n")
            self.assertEqual(rc, 0, out)

    def test_recycling_keys_checked(self):
        for key, value in (("max-requests", "100"), ("max-lifetime", "3600"),
                           ("request-timeout", "30"), ("max-rss", "512"),
                           ("restart-file", '"/tmp/restart.txt"'), ("restart-surge", "2")):
            with self.subTest(key=key):
                text, n = self.app_block(['"bin-path" => "/bin/cat"', '"%s" => %s' % (key, value)])
                path, rc, out = self.check(text)
                self.assertEqual(rc, 0, out)
        for key, value, why in (("restart-file", '"tmp/restart.txt"', "absolute path"),
                                ("restart-surge", "0", "from 1 to 256"),
                                ("max-requests", "-1", "from 0 to"),
                                ("max-rss", '"1G"', "from 0 to 1048576"),
                                ("kill-mode", '"mixed"', '"group" or "main"')):
            with self.subTest(key=key, value=value):
                line = '"%s" => %s' % (key, value)
                text, n = self.app_block(['"bin-path" => "/bin/cat"', line])
                path, rc, out = self.check(text)
                self.assertEqual(rc, 1, out)
                self.assertIn(why, out)
                self.assertIn("%s:%d:" % (path, n["    %s," % line]), out)

    def assert_error_in_block(self, text, path, rc, out, lines):
        self.assertEqual(rc, 1, out)
        m = re.search(re.escape(path) + r":(\d+):", out)
        self.assertIsNotNone(m, "no FILE:LINE in:\n" + out)
        self.assertIn(int(m.group(1)), lines, "line %s, want one of %r:\n%s\n%s"
                      % (m.group(1), lines, out, text))

    def test_unknown_app_key(self):
        text, n = self.app_block(['"bin-path" => "/bin/cat"', '"max-proc" => 2'])
        path, rc, out = self.check(text)
        self.assert_error_in_block(text, path, rc, out, [n['    "max-proc" => 2,']])
        self.assertIn("max-proc", out)

    def test_backend_naming_no_app(self):
        text, n = self.app_block(['"bin-path" => "/bin/cat"'], route_app="nope")
        path, rc, out = self.check(text)
        self.assert_error_in_block(text, path, rc, out,
                                   [n['  proxy-core.backends = ( "spawn:nope" )']])
        self.assertIn("nope", out)

    def test_min_procs_above_max_procs(self):
        text, n = self.app_block(['"bin-path" => "/bin/cat"', '"min-procs" => 5',
                                  '"max-procs" => 2'])
        path, rc, out = self.check(text)
        self.assert_error_in_block(text, path, rc, out, list(range(3, 7)))

    def test_missing_bin_path(self):
        """A program that does not exist or cannot be run fails -t at the bin-path line, whether
        named by an absolute path or looked up in PATH."""
        for prog in ("/nonexistent/portico-test-app", "portico-no-such-program", "/etc/passwd",
                     "/tmp"):
            with self.subTest(bin_path=prog):
                line = '"bin-path" => "%s"' % prog
                text, n = self.app_block([line])
                path, rc, out = self.check(text)
                self.assert_error_in_block(text, path, rc, out, [n["    %s," % line]])
                self.assertIn(prog, out)
