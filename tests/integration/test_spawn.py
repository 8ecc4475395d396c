"""Spawned apps (SPEC §3 spawn.*, §6): portico starts, scales, replaces and stops the app
processes behind "spawn:NAME" backends. Real php-cgi (fd 0, FastCGI), puma (LISTEN_FDS), python
http.server ({port} in the arguments) and apps/spawn_app.py (a small HTTP app that reports its
pid, session, socket and environment). Every test watches portico's process tree from /proc while
it runs and fails if any process of that tree is still alive after portico stopped."""

import concurrent.futures
import math
import os
import re
import signal
import threading
import time

from harness import conf_str
from spawn_base import (SpawnTest, alive, all_procs, cmdline, descendants, proc_stat, spawn_route,
                        unix_socket_path)


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
