"""Spawned apps, continued (see test_spawn.py): the ways an app gets its socket (fd 0,
LISTEN_FDS with puma, an address in its arguments), reloads that keep, change or drop apps,
and `portico -t` on spawn configs. The same process-tree watch: nothing may be left after
portico stopped."""

import concurrent.futures
import os
import re
import signal
import threading
import time

from harness import base_conf, conf_str, fnv1a64, free_port
from spawn_base import (APPS, PUMA, PYTHON, SPAWN_APP, SpawnTest, alive, apps_conf,
                        consecutive_free_ports, run_check, spawn_route)


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
