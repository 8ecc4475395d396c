"""Pools have names (proxy-core.name, or where their backends are set): in metric labels,
status and log lines; a backend in two pools gives two distinct series; counters survive a
reload."""

import json
import os
import re
import signal
import subprocess

from harness import PORTICO, GatewayTest, base_conf, route

STATUS = 'status.metrics-url = "/portico/metrics"\nstatus.status-url = "/portico/status"\n'


def series(text):
    """The series (name and labels) of a Prometheus text, one per sample line."""
    return [l.rsplit(" ", 1)[0] for l in text.splitlines() if l and not l.startswith("#")]


class PoolNames(GatewayTest):
    def metrics(self, pt):
        return self.get(pt.port, "/portico/metrics").body.decode()

    def status(self, pt):
        return json.loads(self.get(pt.port, "/portico/status").body.decode())

    def test_backend_in_two_pools_has_distinct_series(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico(
            STATUS +
            route([a], cond='$HTTP["url"] =^ "/checked"',
                  extra='  proxy-core.health-check = ( "path" => "/ping", "interval" => 1 )\n') +
            route([a], cond='$HTTP["url"] =^ "/plain"'))
        self.assertEqual(self.get(pt.port, "/checked/x").status, 200)
        self.assertEqual(self.get(pt.port, "/plain/x").status, 200)
        s = series(self.metrics(pt))
        dup = sorted(set(x for x in s if s.count(x) > 1))
        self.assertEqual(dup, [], "series with identical labels")
        names = [p["name"] for p in self.status(pt)["pools"]]
        self.assertEqual(len(names), 2)
        self.assertEqual(len(set(names)), 2, names)
        conf = os.path.basename(pt.conf_path)
        for n in names:  # named after where their backends are set
            self.assertRegex(n, r"^%s:\d+$" % re.escape(conf))
        self.assertIn('pool="%s"' % names[0], "\n".join(s))

    def test_explicit_name_in_metrics_status_and_log(self):
        a = self.start_backend("http_echo")
        pt = self.start_portico(STATUS + route([a], cond='$HTTP["url"] =^ "/api"',
                                               extra='  proxy-core.name = "api"\n'))
        self.assertEqual(self.get(pt.port, "/api/x").status, 200)
        self.assertRegex(self.metrics(pt),
                         r'(?m)^portico_backend_requests_total\{pool="api",protocol="http",'
                         r'backend="%s"\} 1$' % re.escape(a))
        self.assertEqual([p["name"] for p in self.status(pt)["pools"]], ["api"])

    def test_log_lines_name_the_pool(self):
        pt = self.start_portico(route(["127.0.0.1:1"], cond='$HTTP["url"] =^ "/"',
                                      extra='  proxy-core.name = "gone"\n'))
        for _ in range(2):  # refused, then disabled: nothing is available
            self.assertEqual(self.get(pt.port, "/x").status, 503)
        self.assertTrue(self.wait_stderr(pt, "every backend of pool gone is unavailable"),
                        pt.stderr_text())

    def test_one_name_for_two_pools_is_refused(self):
        conf = self.write("dup.conf", base_conf(8099, (
            '$HTTP["url"] =^ "/a" {\n  proxy-core.backends = ( "127.0.0.1:1" )\n'
            '  proxy-core.name = "x"\n}\n'
            '$HTTP["url"] =^ "/b" {\n  proxy-core.backends = ( "127.0.0.1:2" )\n'
            '  proxy-core.name = "x"\n}\n')))
        p = subprocess.run([PORTICO, "-t", "-f", conf], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stdout + p.stderr, re.escape(conf) + r':\d+: proxy-core.name "x"')

    def test_counters_survive_a_reload(self):
        a = self.start_backend("http_echo")
        body = STATUS + route([a], cond='$HTTP["url"] =^ "/"', extra='  proxy-core.name = "app"\n')
        pt = self.start_portico(body)
        for _ in range(3):
            self.assertEqual(self.get(pt.port, "/x").status, 200)
        with open(pt.conf_path, "w") as f:
            f.write(base_conf(pt.port, body + "server.tag = \"reloaded\"\n"))
        pt.send_signal(signal.SIGHUP)
        self.assertTrue(self.wait_stderr(pt, "configuration reloaded"), pt.stderr_text())
        self.assertEqual(self.get(pt.port, "/x").status, 200)
        m = re.search(r'(?m)^portico_backend_requests_total\{pool="app",[^}]*\} (\d+)$',
                      self.metrics(pt))
        self.assertIsNotNone(m)
        self.assertEqual(int(m.group(1)), 4, "the count from before the reload is kept")
