"""Spawned processes replaced without an outage (spawn.apps max-requests, max-lifetime, max-rss,
restart-file, restart-surge, request-timeout). Under wrk load against a spawned FastCGI app
(tests/backends/fcgi_echo, one request at a time per process) a replacement is ready before the
process it replaces stops taking requests, so nothing fails but what a request-timeout answers
504 by design. The long runs (1000 recycles, 100 timeouts, php-cgi and puma) are bench/'s."""

import os
import signal
import threading
import time

from harness import Client, base_conf, conf_str, free_port, request_bytes
from spawn_base import APPS, PUMA, SpawnTest, alive, apps_conf, spawn_route
from test_workers import WRK, assert_clean_load, run_wrk

NO_WRK = "wrk not installed"


class Recycle(SpawnTest):
    def start_fe(self, **settings):
        app = {"bin-path": self.backend_path("fcgi_echo"), "min-procs": 2, "max-procs": 2,
               "idle-timeout": 60, "stop-timeout": 2}
        app.update(settings)
        return self.start_spawn({"fe": app}, spawn_route("fe", "fastcgi", '$HTTP["url"] =^ "/fe/"'),
                                extra="server.workers = 2\n")

    def pid_of(self, pt, path="/fe/pid"):
        r = self.get(pt.port, path)
        self.assertEqual(r.status, 200, r)
        return int(r.json()["backend"].split(":")[1])

    def assert_clean(self, res, what, minimum=300):
        assert_clean_load(self, res, what, minimum)

    def recycled_under_load(self, what, **settings):
        """wrk for 3 s against 2 processes recycled by `settings`: nothing fails."""
        if not WRK:
            self.skipTest(NO_WRK)
        pt = self.start_fe(**settings)
        self.wait_procs(pt, "fe", 2)
        res = run_wrk(pt.port, "/fe/load", seconds=3, connections=16)
        self.assert_clean(res, what)
        return pt, res, self.app(pt, "fe")

    def test_max_requests_under_load(self):
        pt, res, app = self.recycled_under_load("max-requests 100, 2 processes",
                                                **{"max-requests": 100})
        print("max-requests 100: %d requests, %d processes replaced, %d started"
              % (res.requests, app["recycles"], app["starts"]))
        # each process served 100 to 110 requests (jitter); the tick that replaces it comes up to
        # 0.1 s later, so under load a process serves more: at least a few recycles
        self.assertGreaterEqual(app["recycles"], 3, app)
        self.assertGreaterEqual(app["starts"], 2 + app["recycles"], app)
        self.assertTrue(self.log_lines(pt, "replaced (max-requests)"))
        self.wait_procs(pt, "fe", 2)  # and back to max-procs, no more

    def test_restart_file_replaces_every_process_under_load(self):
        if not WRK:
            self.skipTest(NO_WRK)
        restart = os.path.join(self.tmp, "restart.txt")
        self.write("restart.txt", "")
        pt = self.start_fe(**{"min-procs": 3, "max-procs": 3, "restart-file": restart})
        before = set(self.wait_procs(pt, "fe", 3).values())
        time.sleep(1.2)  # (the file is first looked at within a second of the start)

        timer = threading.Timer(0.8, os.utime, (restart, None))
        timer.start()
        res = run_wrk(pt.port, "/fe/load", seconds=4, connections=16)
        timer.join()
        self.assert_clean(res, "restart-file touched under load, 3 processes")
        self.assertTrue(self.log_lines(pt, "restart-file: replacing 3 processes, 1 at a time"),
                        pt.stderr_text()[-2000:])
        after = set(self.wait_for(lambda: (lambda s: s if len(s) == 3 and not (set(s.values())
                                                                                & before) else None)
                                  (self.slots(pt, "fe")), 10, "every process replaced", pt).values())
        self.assertFalse(after & before)
        self.assertEqual(self.app(pt, "fe")["recycles"], 3)

    def test_a_replacement_that_cannot_start_leaves_the_old_process_serving(self):
        restart = os.path.join(self.tmp, "restart.txt")
        flag = os.path.join(self.tmp, "broken")
        self.write("restart.txt", "")
        cmd = 'test -e %s && exit 3; exec %s' % (flag, self.backend_path("fcgi_echo"))
        pt = self.start_fe(**{"bin-path": ["/bin/sh", "-c", cmd], "min-procs": 1,
                              "max-procs": 1, "restart-file": restart})
        self.wait_procs(pt, "fe", 1)
        old = self.pid_of(pt)
        time.sleep(1.2)
        self.write("broken", "")
        os.utime(restart, None)
        self.wait_for(lambda: self.app(pt, "fe")["failures"] >= 1, 5, "a failed replacement", pt)
        for i in range(20):  # the old process serves on
            self.assertEqual(self.pid_of(pt, "/fe/%d" % i), old)
        app = self.app(pt, "fe")
        self.assertEqual(app["last_exit"], "exited 3", app)
        self.assertEqual([p.get("recycle") for p in app["processes"] if p["pid"] == old],
                         ["restart-file"], app)
        self.assertTrue(self.log_lines(pt, "its replacement did not start; it keeps serving"))
        os.unlink(flag)  # fixed: the next try (after the back-off) replaces it
        self.wait_for(lambda: self.pid_of(pt) != old, 10, "the process replaced", pt)
        self.wait_for(lambda: not alive(old), 5, "the old process gone", pt)

    def test_request_timeout_answers_504_and_replaces_the_process(self):
        pt = self.start_fe(**{"request-timeout": 1})
        self.wait_procs(pt, "fe", 2)
        c = Client(pt.port, timeout=10)
        try:
            t0 = time.monotonic()
            c.send(request_bytes("GET", "/fe/stuck?delay_ms=5000"))
            time.sleep(0.2)
            stuck = [p["pid"] for p in self.app(pt, "fe")["processes"] if p["state"] == "busy"]
            self.assertEqual(len(stuck), 1)
            for i in range(10):  # the other process serves meanwhile
                self.assertNotEqual(self.pid_of(pt, "/fe/%d" % i), stuck[0])
            r = c.read_response()
            took = time.monotonic() - t0
        finally:
            c.close()
        self.assertEqual(r.status, 504, r)
        self.assertGreater(took, 0.9)
        self.assertLess(took, 3.0)
        self.wait_for(lambda: not alive(stuck[0]), 3, "the stuck process killed", pt)
        app = self.wait_for(lambda: (lambda a: a if len(a["processes"]) == 2 else None)
                            (self.app(pt, "fe")), 5, "2 processes again", pt)
        self.assertEqual(app["request_timeouts"], 1, app)
        self.assertNotIn(stuck[0], [p["pid"] for p in app["processes"]])
        self.assertTrue(self.log_lines(pt, "past the app's request-timeout (1 s)"))

    def test_drain_timeout_stops_a_replaced_process_that_stays_busy(self):
        restart = self.write("restart.txt", "")
        pt = self.start_fe(**{"min-procs": 1, "max-procs": 1, "restart-file": restart,
                              "drain-timeout": 1})
        self.wait_procs(pt, "fe", 1)
        old = self.pid_of(pt)
        time.sleep(1.2)
        c = Client(pt.port, timeout=10)
        try:
            c.send(request_bytes("GET", "/fe/long?delay_ms=6000"))  # (a long poll, say)
            time.sleep(0.2)
            os.utime(restart, None)
            t0 = time.monotonic()
            self.wait_for(lambda: self.log_lines(pt, "after it was replaced (drain-timeout): "
                                                     "stopped anyway"), 6, "drain-timeout", pt)
            took = time.monotonic() - t0
            self.wait_for(lambda: not alive(old), 5, "the old process gone", pt)
        finally:
            c.close()
        self.assertGreater(took, 0.9)
        self.assertLess(took, 4.5)
        self.assertNotEqual(self.pid_of(pt, "/fe/after"), old)

    def test_max_lifetime_under_load(self):
        pt, _, app = self.recycled_under_load("max-lifetime 1 s, 2 processes",
                                              **{"max-lifetime": 1})
        self.assertGreaterEqual(app["recycles"], 2, app)
        self.assertTrue(self.log_lines(pt, "replaced (max-lifetime)"))

    def test_max_rss_under_load(self):
        # (1 MiB: every process is above it)
        pt, _, app = self.recycled_under_load("max-rss 1 MiB, 2 processes", **{"max-rss": 1})
        self.assertGreaterEqual(app["recycles"], 2, app)
        self.assertTrue(all("rss" in p for p in app["processes"]), app)
        self.assertTrue(self.log_lines(pt, "MiB resident, above max-rss (1 MiB)"))
        self.assertTrue(self.log_lines(pt, "replaced (max-rss)"))

    def rolling_restart(self, pt, name, path, n, seconds=4):
        """wrk on `path` while the restart-file is touched; every process is replaced."""
        before = set(self.wait_procs(pt, name, n, timeout=30).values())
        time.sleep(1.2)  # (the file is first looked at within a second of the start)
        timer = threading.Timer(0.8, os.utime, (os.path.join(self.tmp, "restart.txt"), None))
        timer.start()
        res = run_wrk(pt.port, path, seconds=seconds, connections=8)
        timer.join()

        def replaced():
            now = self.slots(pt, name)
            return now if len(now) == n and not set(now.values()) & before else None
        self.wait_for(replaced, 30, "every process replaced", pt)
        return res

    def test_php_cgi_rolling_restart_under_load(self):
        restart = self.write("restart.txt", "")
        pt = self.start_php(**{"min-procs": 2, "max-procs": 2, "restart-file": restart})
        if not WRK:
            self.skipTest(NO_WRK)
        res = self.rolling_restart(pt, "php", "/index.php", 2)
        self.assert_clean(res, "php-cgi, 2 processes, restart-file touched under load")

    def test_puma_rolling_restart_under_load(self):
        self.need(PUMA, "puma")
        if not WRK:
            self.skipTest(NO_WRK)
        restart = self.write("restart.txt", "")
        pt = self.start_spawn(
            {"rack": {"bin-path": [PUMA, "-b", "unix://{socket}", "-t", "2:2",
                                   "--dir", APPS, os.path.join(APPS, "hello.ru")],
                      "pass-socket": "listen-fds", "concurrency": 2, "min-procs": 2,
                      "max-procs": 2, "stop-timeout": 5, "restart-file": restart,
                      "restart-surge": 2}},
            spawn_route("rack", "http", '$HTTP["url"] =^ "/"'))
        res = self.rolling_restart(pt, "rack", "/hello", 2, seconds=6)
        # (1000 at least: with a kept connection free to take, puma answers at once; a request on
        # a connection puma is not reading waits out its 0.2 s keep-alive wait)
        self.assert_clean(res, "puma, 2 processes, restart-file touched under load", minimum=1000)
        self.assertTrue(self.log_lines(pt, "replacing 2 processes, 2 at a time"))


class StartPhases(SpawnTest):
    """Why an app does not start: status shows how far its latest start got, with timings, and
    the last lines its processes wrote."""

    def test_phases_of_a_good_start(self):
        pt = self.start_spawn({"fe": {"bin-path": self.backend_path("fcgi_echo"),
                                      "min-procs": 0, "max-procs": 1}},
                              spawn_route("fe", "fastcgi", '$HTTP["url"] =^ "/fe/"'))
        r = self.get(pt.port, "/fe/first", timeout=10)
        self.assertEqual(r.status, 200, r)
        # (the launcher's word that it runs may come after its first response)
        app = self.wait_for(lambda: (lambda a: a if a["last_start"]["ready_seconds"] is not None
                                     and a["last_start"]["exec_seconds"] is not None
                                     else None)(self.app(pt, "fe")), 5, "a ready start", pt)
        ph = app["last_start"]
        print("phases of a start: %r" % ph)
        self.assertEqual(ph["pid"], app["processes"][0]["pid"])
        self.assertIsNone(ph["end_seconds"])
        seq = [ph["exec_seconds"], ph["ready_seconds"], ph["first_response_seconds"]]
        self.assertTrue(all(t is not None and 0 <= t < 5 for t in seq), ph)
        # (exec is when portico heard of it from the launcher: it may hear after a response)
        self.assertLessEqual(seq[1], seq[2])

    def test_an_app_that_dies_before_ready_shows_its_last_words(self):
        script = self.write("dies.sh", "#!/bin/sh\necho starting up >&2\n"
                            "echo 'fatal: config/database.yml is missing' >&2\nexit 3\n", 0o755)
        pt = self.start_spawn({"bad": {"bin-path": script, "min-procs": 1, "max-procs": 1}},
                              spawn_route("bad", "fastcgi", '$HTTP["url"] =^ "/bad/"'))
        app = self.wait_for(lambda: (lambda a: a if a["last_start"]["end_seconds"] is not None
                                     else None)(self.app(pt, "bad")), 5, "a start that ended", pt)
        ph = app["last_start"]
        self.assertIsNotNone(ph["exec_seconds"], ph)
        self.assertIsNone(ph["ready_seconds"], ph)
        self.assertIsNone(ph["first_response_seconds"], ph)
        self.assertEqual(app["last_exit"], "exited 3")
        self.assertIn("[%d] fatal: config/database.yml is missing" % ph["pid"], app["output"])
        self.assertIn("[%d] starting up" % ph["pid"], app["output"])
        self.assertLessEqual(len(app["output"]), 10)


class Budget(SpawnTest):
    """spawn.max-procs-total: a budget of processes over every app."""

    def test_an_app_that_needs_a_process_takes_another_apps_idle_one(self):
        fe = self.backend_path("fcgi_echo")
        app = {"bin-path": fe, "min-procs": 0, "max-procs": 2, "idle-timeout": 60}
        pt = self.start_spawn({"a": app, "b": app},
                              spawn_route("a", "fastcgi", '$HTTP["url"] =^ "/a/"')
                              + spawn_route("b", "fastcgi", '$HTTP["url"] =^ "/b/"'),
                              extra="spawn.max-procs-total = 2\n")
        self.assertEqual(self.get(pt.port, "/a/1").status, 200)
        self.assertEqual(self.get(pt.port, "/b/1").status, 200)
        b_pid = list(self.slots(pt, "b").values())
        # two at once for a: its second process takes b's place
        clients = [Client(pt.port, timeout=10) for _ in range(2)]
        try:
            for c in clients:
                c.send(request_bytes("GET", "/a/slow?delay_ms=800"))
            peak = 0
            t_end = time.monotonic() + 0.7
            while time.monotonic() < t_end:
                st = self.status(pt)
                peak = max(peak, sum(len(a["processes"]) for a in st["apps"]))
                time.sleep(0.02)
            res = [c.read_response() for c in clients]
        finally:
            for c in clients:
                c.close()
        self.assertEqual([r.status for r in res], [200, 200])
        self.assertEqual(len(self.slots(pt, "a")), 2)
        self.assertEqual(self.slots(pt, "b"), {})
        self.assertLessEqual(peak, 2, "more processes than the budget")
        self.assertTrue(self.log_lines(pt, "[%d]: stopped to make room for app a "
                                           "(spawn.max-procs-total 2)" % b_pid[0]))
        # and b, with none now, gets one of a's (both idle, above a's min-procs 0)
        self.assertEqual(self.get(pt.port, "/b/2", timeout=10).status, 200)
        self.assertEqual(len(self.slots(pt, "a")) + len(self.slots(pt, "b")), 2)


class ReloadRestart(SpawnTest):
    """SIGHUP with an app's command or environment changed: its processes are replaced one by
    one within the same app (same sockets), each new one ready before the old one stops."""

    def conf(self, pt_port, version):
        cmd = ('test "$APP_VERSION" = broken && { echo "cannot load version $APP_VERSION" >&2; '
               'exit 3; }; exec %s' % self.backend_path("fcgi_echo"))
        return base_conf(pt_port, 'server.state-dir = %s\nstatus.status-url = "/portico/status"\n'
                         'server.workers = 2\n' % conf_str(self.state_dir)
                         + apps_conf({"fe": {"bin-path": ["/bin/sh", "-c", cmd], "min-procs": 2,
                                             "max-procs": 2, "stop-timeout": 2,
                                             "environment": {"APP_VERSION": version}}})
                         + spawn_route("fe", "fastcgi", '$HTTP["url"] =^ "/fe/"'))

    def php_text(self, port, version):
        return base_conf(port, 'server.state-dir = %s\nstatus.status-url = "/portico/status"\n'
                         'server.workers = 2\nserver.document-root = %s\n'
                         % (conf_str(self.state_dir), conf_str(self.php_docroot()))
                         + apps_conf({"php": self.php_conf(**{
                             "min-procs": 2, "max-procs": 2,
                             "environment": {"PHP_FCGI_MAX_REQUESTS": "10000",
                                             "APP_VERSION": version}})})
                         + spawn_route("php", "fastcgi", '$HTTP["url"] =$ ".php"'))

    def reload(self, pt, version, text=None):
        n = pt.stderr_text().count("configuration reloaded")
        with open(pt.conf_path, "w") as f:
            f.write((text or self.conf)(pt.port, version))
        pt.send_signal(signal.SIGHUP)
        self.wait_for(lambda: pt.stderr_text().count("configuration reloaded") > n, 5,
                      "the reload", pt)

    def test_php_cgi_rolling_restart_by_sighup_under_load(self):
        if not WRK:
            self.skipTest(NO_WRK)
        port = free_port()
        pt = self.start_portico(self.php_text(port, "1"), port=port, raw=True)
        self.watch.add_root(pt.pid)
        old = set(self.wait_procs(pt, "php", 2).values())
        timer = threading.Timer(0.8, self.reload, (pt, "2", self.php_text))
        timer.start()
        res = run_wrk(pt.port, "/index.php", seconds=4, connections=8)
        timer.join()
        assert_clean_load(self, res, "php-cgi, 2 processes, SIGHUP with a changed environment "
                                     "under load")
        self.wait_for(lambda: (lambda s: s if len(s) == 2 and not set(s.values()) & old
                               else None)(self.slots(pt, "php")), 30, "every process replaced",
                      pt)
        self.assertTrue(self.log_lines(pt, "app php: reload: replacing 2 processes, 1 at a time"))

    def test_a_broken_change_leaves_the_old_processes_serving(self):
        port = free_port()
        pt = self.start_portico(self.conf(port, "1"), port=port, raw=True)
        self.watch.add_root(pt.pid)
        old = self.wait_procs(pt, "fe", 2)
        stop = threading.Event()
        ts, results = self.load(pt, ["/fe/a", "/fe/b"], 4, until=stop)
        try:
            time.sleep(0.3)
            self.reload(pt, "broken")
            self.wait_for(lambda: self.app(pt, "fe")["failures"] >= 2, 10,
                          "the new version failing to start", pt)
            self.assertEqual(self.slots(pt, "fe"), old, "the old processes were stopped")
            app = self.app(pt, "fe")
            self.assertEqual(app["last_exit"], "exited 3", app)
            self.assertTrue(any("cannot load version broken" in l for l in app["output"]), app)
            self.assertEqual({p.get("recycle") for p in app["processes"]}, {"reload"}, app)
            self.reload(pt, "2")  # fixed: the old processes are replaced by working ones
            self.wait_for(lambda: (lambda s: s if len(s) == 2 and not set(s.values())
                                   & set(old.values()) else None)(self.slots(pt, "fe")),
                          40, "the processes replaced", pt)
        finally:
            stop.set()
            for t in ts:
                t.join(20)
        failed = [r for r in results if r[3] != 200]
        print("broken reload, then a fixed one, under load: %d requests, %d failed"
              % (len(results), len(failed)))
        self.assertEqual(failed, [], "requests failed")
        self.assertGreater(len(results), 50)
        self.assertTrue(self.log_lines(pt, "app fe: reload: replacing 2 processes, 1 at a time"))
