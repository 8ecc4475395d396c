"""Active health checks (SPEC §3 proxy-core.health-check): a real request in the backend's own
protocol every interval; down after 2 failures in a row (no traffic while down), up after 2
passes; HTTP, FastCGI and SCGI backends; bounded answers and check timeouts."""

import signal
import threading
import time

from harness import GatewayTest, free_port, route
from test_balance import PyBackend, start_echo


def hc(path="/ping", interval=1):
    return 'proxy-core.health-check = ( "path" => "%s", "interval" => %d )\n' % (path, interval)


class Health(GatewayTest):
    def py_backend(self):
        return self.add_proc(PyBackend())

    def portico_for(self, backends, protocol="http", extra=""):
        return self.start_portico(
            'status.status-url = "/portico/status"\n'
            + route(backends, protocol, extra='  proxy-core.balancer = "round-robin"\n'
                    + "  " + hc() + extra))

    def wait_log(self, pt, text, timeout, count=1):
        """Wait until `text` is in portico's stderr `count` times; fails after timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pt.stderr_text().count(text) >= count:
                return
            time.sleep(0.05)
        self.fail("not logged within %.1f s: %r\n%s" % (timeout, text, pt.stderr_text()[-3000:]))

    def state(self, pt, name):
        body = self.get(pt.port, "/portico/status").body.decode()
        self.assertIn(name, body)
        return body

    def echo_proc(self, name, addr):
        """Start a C echo backend on a fixed address; returns its Proc."""
        return start_echo(self, name, addr)

    def test_ping_failures_take_backend_down_then_up(self):
        a, b = self.py_backend(), self.py_backend()
        pt = self.portico_for([a.addr, b.addr])
        # the first round runs at once: both saw a check within the first second
        deadline = time.monotonic() + 2
        while (not a.pings or not b.pings) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(a.pings and b.pings, "no health check within 2 s")
        head = a.pings[0].decode("latin-1") + "\r\n"
        self.assertTrue(head.startswith("GET /ping HTTP/1.1\r\n"), head)
        self.assertIn("\r\nHost: localhost\r\n", head)
        self.assertIn("\r\nConnection: close\r\n", head)

        for i in range(6):
            self.assertEqual(self.get(pt.port, "/warm/%d" % i).status, 200)
        self.assertTrue(a.requests() and b.requests(), "round-robin did not use both")

        t0 = time.monotonic()
        a.ping_status = 500
        self.wait_log(pt, "backend %s: health check failed twice (status 500); down" % a.addr, 4)
        took = time.monotonic() - t0
        self.assertGreater(took, 0.8, "down after one failed check")
        self.assertIn('"down"', self.state(pt, a.addr))
        seen = len(a.requests())
        for i in range(10):
            r = self.get(pt.port, "/while-down/%d" % i)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["backend"], b.addr)
        self.assertEqual(len(a.requests()), seen, "traffic reached a backend that is down")
        # it stays down while it keeps failing, and the down line is not repeated
        time.sleep(1.5)
        self.assertEqual(pt.stderr_text().count("health check failed twice"), 1)
        self.assertEqual(len(a.requests()), seen)

        t0 = time.monotonic()
        a.ping_status = 200
        self.wait_log(pt, "backend %s: health check passed twice; up" % a.addr, 4)
        self.assertGreater(time.monotonic() - t0, 0.8, "up after one passed check")
        backends = {self.get(pt.port, "/back/%d" % i).json()["backend"] for i in range(6)}
        self.assertEqual(backends, {a.addr, b.addr})

    def test_one_failure_is_not_enough(self):
        a, b = self.py_backend(), self.py_backend()
        pt = self.portico_for([a.addr, b.addr])
        time.sleep(0.3)
        n = len(a.pings)
        a.ping_status = 503
        deadline = time.monotonic() + 3
        while len(a.pings) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertGreater(len(a.pings), n, "no check within 3 s")
        a.ping_status = 200  # one failure, then passes again
        time.sleep(2.5)
        self.assertGreater(len(a.pings), n + 2)
        self.assertNotIn("health check failed twice", pt.stderr_text())
        backends = {self.get(pt.port, "/x/%d" % i).json()["backend"] for i in range(4)}
        self.assertEqual(backends, {a.addr, b.addr})

    def test_backend_that_stops_listening_goes_down(self):
        a, b = self.py_backend(), self.py_backend()
        pt = self.portico_for([a.addr, b.addr])
        a.stop()
        self.wait_log(pt, "backend %s: health check failed twice (connect:" % a.addr, 4)
        a.listen()
        self.wait_log(pt, "backend %s: health check passed twice; up" % a.addr, 4)

    def test_every_backend_down_is_503(self):
        a = self.py_backend()
        pt = self.portico_for([a.addr])
        a.ping_status = 500
        self.wait_log(pt, "health check failed twice", 4)
        t0 = time.monotonic()
        r = self.get(pt.port, "/x")
        self.assertEqual(r.status, 503, r)
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertLess(time.monotonic() - t0, 0.5)
        self.assertEqual(a.requests(), [])

    def _protocol_down_up(self, name, protocol, addr=None):
        addr = addr or "127.0.0.1:%d" % free_port()
        other = self.start_backend(name)
        pr = self.echo_proc(name, addr)
        pt = self.portico_for([addr, other], protocol)
        for i in range(4):
            self.assertEqual(self.get(pt.port, "/p/%d" % i).status, 200)
        time.sleep(1.2)  # a few checks passed: nothing logged
        self.assertNotIn("health check failed", pt.stderr_text())
        pr.stop()
        self.wait_log(pt, "backend %s: health check failed twice" % addr, 4)
        for i in range(6):
            r = self.get(pt.port, "/d/%d" % i)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["backend"], other)
        self.echo_proc(name, addr)
        self.wait_log(pt, "backend %s: health check passed twice; up" % addr, 4)
        seen = {self.get(pt.port, "/u/%d" % i).json()["backend"] for i in range(6)}
        self.assertEqual(len(seen), 2, seen)

    def test_fastcgi_backend_down_and_up(self):
        self._protocol_down_up("fcgi_echo", "fastcgi")

    def test_scgi_backend_down_and_up(self):
        self._protocol_down_up("scgi_echo", "scgi")

    def test_unix_socket_backend_down_and_up(self):
        self._protocol_down_up("fcgi_echo", "fastcgi", "unix:%s/fcgi.sock" % self.tmp)

    def test_fastcgi_check_is_a_cgi_request(self):
        """The check reaches a FastCGI app as a plain GET with a CGI environment; a status the
        app sets (via ?status=) is what the check judges."""
        addr = self.start_backend("fcgi_echo")
        other = self.start_backend("fcgi_echo")
        pt = self.start_portico(route(
            [addr, other], "fastcgi",
            extra='  proxy-core.balancer = "round-robin"\n  ' + hc("/ping?status=500")))
        self.wait_log(pt, "health check failed twice (status 500); down", 4, count=2)
        r = self.get(pt.port, "/x")
        self.assertEqual(r.status, 503, r)

    def test_oversized_answer_fails(self):
        """An answer over 64 KiB is a failure (the check reads into a bounded buffer)."""
        small = self.start_backend("http_echo")
        pt = self.start_portico(route([small], extra="  " + hc("/ping?bytes=70000")))
        self.wait_log(pt, "health check failed twice (answer larger than 64 KiB); down", 4)

    def test_large_answer_under_the_bound_passes(self):
        a = self.py_backend()
        a.ping_body = b"p" * 60000
        pt = self.start_portico(route([a.addr], extra="  " + hc()))
        time.sleep(2.5)
        self.assertGreaterEqual(len(a.pings), 3)
        self.assertNotIn("health check failed", pt.stderr_text())
        self.assertEqual(self.get(pt.port, "/x").status, 200)

    def test_backend_coming_up_serves_the_backlog(self):
        """A request waiting in the backlog (the only live backend is full) is served by a
        backend the moment its checks bring it up, not when the busy one frees."""
        a, b = self.py_backend(), self.py_backend()
        a.ping_status = 500
        pt = self.start_portico(route([a.addr, b.addr], extra="  " + hc() +
                                      "  proxy-core.max-pool-size = 1\n"
                                      "  proxy-core.backlog-timeout = 8\n"))
        self.wait_log(pt, "backend %s: health check failed twice" % a.addr, 4)
        res = {}

        def req(name, target):
            t0 = time.monotonic()
            r = self.get(pt.port, target, timeout=15)
            res[name] = (r, time.monotonic() - t0)

        busy = threading.Thread(target=req, args=("busy", "/busy?delay_ms=5000"))
        busy.start()
        time.sleep(0.3)
        queued = threading.Thread(target=req, args=("queued", "/queued"))
        queued.start()
        time.sleep(0.3)
        self.assertEqual(a.requests(), [])
        a.ping_status = 200
        self.wait_log(pt, "backend %s: health check passed twice; up" % a.addr, 4)
        queued.join(10)
        r, took = res["queued"]
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["backend"], a.addr)
        self.assertLess(took, 4.0, "the queued request waited for the busy backend")
        busy.join(10)
        self.assertEqual(res["busy"][0].json()["backend"], b.addr)

    def test_slow_answer_fails(self):
        """A check that takes longer than the interval fails."""
        echo = self.start_backend("http_echo")
        pt = self.start_portico(route([echo], extra="  " + hc("/ping?delay_ms=1500")))
        self.wait_log(pt, "health check failed twice (no answer within 1 s); down", 5)

    def test_redirect_counts_as_pass_and_404_as_failure(self):
        echo = self.start_backend("http_echo")
        pt = self.start_portico(
            route([echo], cond='$HTTP["url"] =^ "/a"', extra="  " + hc("/ping?status=302"))
            + route([echo], cond='$HTTP["url"] =^ "/b"', extra="  " + hc("/ping?status=404")))
        self.wait_log(pt, "health check failed twice (status 404); down", 4)
        time.sleep(0.5)
        self.assertEqual(pt.stderr_text().count("health check failed twice"), 1)
        self.assertEqual(self.get(pt.port, "/a").status, 200)
        self.assertEqual(self.get(pt.port, "/b").status, 503)

    def test_reload_restarts_checks(self):
        """SIGHUP loads a new generation: its pools are checked, the old ones stop cleanly
        (ASan finds no leak at exit)."""
        a, b = self.py_backend(), self.py_backend()
        pt = self.portico_for([a.addr, b.addr])
        time.sleep(0.5)
        for i in range(3):
            pt.send_signal(signal.SIGHUP)
            self.wait_log(pt, "configuration reloaded", 3, count=i + 1)
            time.sleep(0.3)
        a.ping_status = 500
        self.wait_log(pt, "backend %s: health check failed twice" % a.addr, 4)
        for i in range(4):
            self.assertEqual(self.get(pt.port, "/r/%d" % i).json()["backend"], b.addr)


class HealthPerBackend(GatewayTest):
    """A backend's health is one state: a block that reaches the same backend without a check
    (another pool) follows what the checked pool's checks decide, and last_error clears when
    the backend recovers (before: the unchecked pool kept sending to a backend that was down)."""

    def test_unchecked_route_follows_the_checked_one(self):
        a, b = self.add_proc(PyBackend()), self.add_proc(PyBackend())
        pt = self.start_portico(
            'status.status-url = "/portico/status"\n'
            '$HTTP["url"] =^ "/checked/" {\n'
            '  proxy-core.backends = ( "%s", "%s" )\n'
            '  proxy-core.balancer = "round-robin"\n  %s}\n'
            '$HTTP["url"] =^ "/plain/" {\n'
            '  proxy-core.backends = ( "%s", "%s" )\n'
            '  proxy-core.balancer = "round-robin"\n}\n' % (a.addr, b.addr, hc(), a.addr, b.addr))
        a.ping_status = 404
        Health.wait_log(self, pt, "backend %s: health check failed twice (status 404); down"
                        % a.addr, 5)
        seen = len(a.requests())
        for i in range(8):
            r = self.get(pt.port, "/plain/%d" % i)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["backend"], b.addr)
        self.assertEqual(len(a.requests()), seen, "the unchecked route used a backend that is down")
        st = self.get(pt.port, "/portico/status").json()
        errors = [p["last_error"] for pool in st["pools"] for p in pool["backends"]
                  if p["name"] == a.addr]
        self.assertEqual(errors, ["health check: status 404"] * 2, st)
        a.ping_status = 200
        Health.wait_log(self, pt, "backend %s: health check passed twice; up" % a.addr, 5)
        backends = {self.get(pt.port, "/plain/x%d" % i).json()["backend"] for i in range(6)}
        self.assertEqual(backends, {a.addr, b.addr})
        st = self.get(pt.port, "/portico/status").json()
        for pool in st["pools"]:
            for p in pool["backends"]:
                self.assertEqual((p["name"], p["state"], p["last_error"]), (p["name"], "up", ""))

    def test_same_check_runs_once_per_backend(self):
        """Two pools reach the same backends with the same check (other balancers): each
        backend gets one check an interval, its state changes are logged once, both pools
        follow it; after reloads (old and new generation side by side, then the old one gone)
        the checks go on, still once."""
        a, b = self.add_proc(PyBackend()), self.add_proc(PyBackend())
        pt = self.start_portico(
            'status.status-url = "/portico/status"\n' + hc() +
            'proxy-core.backends = ( "%s", "%s" )\n'
            'proxy-core.balancer = "round-robin"\n'
            '$HTTP["url"] =^ "/h/" {\n  proxy-core.balancer = "hash"\n}\n' % (a.addr, b.addr))

        def pings_in(seconds):
            before = len(a.pings)
            time.sleep(seconds)
            return len(a.pings) - before
        time.sleep(0.5)
        n = pings_in(4.0)
        self.assertTrue(3 <= n <= 5, "%d checks of one backend in 4 s at interval 1" % n)
        a.ping_status = 500
        Health.wait_log(self, pt, "backend %s: health check failed twice" % a.addr, 5)
        time.sleep(0.5)
        self.assertEqual(pt.stderr_text().count("backend %s: health check failed" % a.addr), 1)
        for prefix in ("/", "/h/"):
            for i in range(4):
                self.assertEqual(self.get(pt.port, "%sx%d" % (prefix, i)).json()["backend"],
                                 b.addr)
        st = self.get(pt.port, "/portico/status").json()
        states = [p["state"] for pool in st["pools"] for p in pool["backends"]
                  if p["name"] == a.addr]
        self.assertEqual(states, ["down", "down"], st)
        for i in range(2):
            pt.send_signal(signal.SIGHUP)
            Health.wait_log(self, pt, "configuration reloaded", 3, count=i + 1)
        time.sleep(1.0)
        n = pings_in(4.0)
        self.assertTrue(3 <= n <= 5, "%d checks in 4 s after the reloads" % n)
        a.ping_status = 200
        Health.wait_log(self, pt, "backend %s: health check passed twice; up" % a.addr, 5)
        self.assertEqual(pt.stderr_text().count("backend %s: health check passed" % a.addr), 1)
        backends = {self.get(pt.port, "/h/y%d" % i).json()["backend"] for i in range(12)}
        self.assertEqual(backends, {a.addr, b.addr})

    def test_expected_status(self):
        """"status" => N: that status passes, and only that one (a 302 fails it)."""
        echo = self.start_backend("http_echo")
        pt = self.start_portico(
            route([echo], cond='$HTTP["url"] =^ "/a"',
                  extra='  proxy-core.health-check = ( "path" => "/ping?status=204", '
                        '"interval" => 1, "status" => 204 )\n')
            + route([echo], cond='$HTTP["url"] =^ "/b"',
                    extra='  proxy-core.health-check = ( "path" => "/ping?status=302", '
                          '"interval" => 1, "status" => 200 )\n'))
        Health.wait_log(self, pt, "health check failed twice (status 302); down", 4)
        time.sleep(0.5)
        self.assertEqual(pt.stderr_text().count("health check failed twice"), 1)
        self.assertEqual(self.get(pt.port, "/a").status, 200)
        self.assertEqual(self.get(pt.port, "/b").status, 503)
