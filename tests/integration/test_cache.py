"""Three real Varnish caches (examples/cache: default.vcl and the slow origin) behind portico.
With `hash` a URL always comes from the same cache and is a HIT the second time, different
URLs spread over the caches, and when a cache stops only its URLs move (the others keep their
cache and stay HITs); with `round-robin` one URL visits every cache. Skipped only when
varnishd is not installed (apt-get install varnish)."""

import os
import re
import shutil
import sys
import time
import unittest

from harness import SRCDIR, Client, GatewayTest, Proc, free_port, request_bytes, route

EXAMPLE = os.path.join(SRCDIR, "examples", "cache")
NAMES = ("cache1", "cache2", "cache3")
START_TIMEOUT = 40  # varnishd compiles its VCL with cc at start: seconds on a loaded machine


def varnishd_path():
    return shutil.which("varnishd") or next(
        (p for p in ("/usr/sbin/varnishd", "/usr/local/sbin/varnishd") if os.access(p, os.X_OK)),
        None)


class Cache(GatewayTest):
    def setUp(self):
        self.varnishd = varnishd_path()
        if self.varnishd is None:
            raise unittest.SkipTest("varnishd not installed (apt-get install varnish)")
        super().setUp()
        origin_port = free_port()
        self.origin = self.add_proc(Proc("origin", [
            sys.executable, os.path.join(EXAMPLE, "origin.py"),
            "--listen", "127.0.0.1:%d" % origin_port, "--delay-ms", "5", "--bytes", "2048"],
            self.tmp))
        self.assertTrue(self.origin.wait_line("ready", 20),
                        "origin.py did not start: %s" % self.origin.stderr_text())
        with open(os.path.join(EXAMPLE, "default.vcl")) as f:
            vcl, n = re.subn(r'\.port = "\d+";', '.port = "%d";' % origin_port, f.read())
        self.assertEqual(n, 1, "default.vcl should name one backend port")
        self.vcl = self.write("default.vcl", vcl)
        self.caches = {}  # name -> (addr, Proc)
        for name in NAMES:  # started side by side, each compiling its VCL
            self.caches[name] = self.start_cache(name)
        for name in NAMES:
            self.wait_cache(name)

    def start_cache(self, name):
        addr = "127.0.0.1:%d" % free_port()
        # -F: stays in the foreground, its child in its process group (stopped with it);
        # -j none: no switch to the varnish/vcache users, who could not read self.tmp
        pr = self.add_proc(Proc(name, [
            self.varnishd, "-F", "-j", "none", "-a", addr, "-f", self.vcl, "-s", "malloc,16m",
            "-n", os.path.join(self.tmp, "varnish-" + name), "-i", name],
            self.tmp, stdout_pipe=False))
        return addr, pr

    def wait_cache(self, name):
        """Until the cache answers its /varnish-ping (its VCL compiled and loaded)."""
        addr, pr = self.caches[name]
        port = int(addr.rsplit(":", 1)[1])
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.assertTrue(pr.alive(), "varnishd %s exited: %s" % (name, pr.stderr_text()))
            try:
                r = self.get(port, "/varnish-ping", timeout=5)
                if r.status == 200 and r.header("X-Cache-Server") == name:
                    return
            except Exception:  # not listening yet, or cut off while starting
                pass
            time.sleep(0.2)
        self.fail("varnishd %s did not answer within %d s: %s"
                  % (name, START_TIMEOUT, pr.stderr_text()[-2000:]))

    def portico(self, balancer):
        # disable-time: a stopped cache stays out for the rest of the test
        return self.start_portico(route(
            [self.caches[n][0] for n in NAMES],
            extra='  proxy-core.balancer = "%s"\n  proxy-core.disable-time = 60\n' % balancer))

    def fetch_all(self, port, urls):
        """{url: (cache, X-Cache)} of each URL asked for in turn on one connection, checking
        that each answer is the origin's page for that URL."""
        out = {}
        with Client(port, timeout=20) as c:
            for u in urls:
                c.send(request_bytes("GET", u))
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertTrue(r.body.startswith(("page %s\n" % u).encode()), r)
                self.assertEqual(len(r.body), 2048, r)
                out[u] = (r.header("X-Cache-Server"), r.header("X-Cache"))
        return out

    def test_hash_one_url_one_cache_and_a_stopped_cache_moves_only_its_urls(self):
        pt = self.portico("hash")
        urls = ["/page/%d" % i for i in range(60)]
        first = self.fetch_all(pt.port, urls)
        owner = {u: first[u][0] for u in urls}
        self.assertTrue(set(owner.values()) <= set(NAMES), first)
        self.assertEqual({x for _, x in first.values()}, {"MISS"}, first)
        shares = {n: sum(1 for o in owner.values() if o == n) for n in NAMES}
        print("hash shares of 60 URLs over 3 caches: %s" % shares)
        self.assertGreater(len([n for n in NAMES if shares[n]]), 1, shares)

        again = self.fetch_all(pt.port, urls)
        self.assertEqual({u: again[u][0] for u in urls}, owner, "a URL changed cache")
        self.assertEqual({x for _, x in again.values()}, {"HIT"}, again)

        # a cache stops: its URLs go to the others, every other URL keeps its cache (a HIT)
        gone = max(NAMES, key=lambda n: shares[n])
        self.caches[gone][1].stop()
        after = self.fetch_all(pt.port, urls)
        for u in urls:
            cache, x = after[u]
            if owner[u] == gone:
                self.assertIn(cache, set(NAMES) - {gone}, (u, after[u]))
                self.assertEqual(x, "MISS", (u, after[u]))
            else:
                self.assertEqual((cache, x), (owner[u], "HIT"), "%s moved: %r" % (u, after[u]))
        moved = {after[u][0] for u in urls if owner[u] == gone}
        print("%d URLs of %s moved to %s" % (shares[gone], gone, sorted(moved)))

        # and stay where they went
        last = self.fetch_all(pt.port, urls)
        self.assertEqual({u: last[u][0] for u in urls}, {u: after[u][0] for u in urls})
        self.assertEqual({x for _, x in last.values()}, {"HIT"}, last)

    def test_round_robin_one_url_visits_every_cache(self):
        pt = self.portico("round-robin")
        seen = []
        with Client(pt.port, timeout=20) as c:
            for _ in range(6):
                c.send(request_bytes("GET", "/same"))
                r = c.read_response()
                self.assertEqual(r.status, 200, r)
                self.assertTrue(r.body.startswith(b"page /same\n"), r)
                seen.append((r.header("X-Cache-Server"), r.header("X-Cache")))
        self.assertEqual({n for n, _ in seen}, set(NAMES), seen)
        # each cache twice: a MISS the first time, a HIT the second
        visits = {}
        for n, x in seen:
            visits.setdefault(n, []).append(x)
        for n in NAMES:
            self.assertEqual(visits[n], ["MISS", "HIT"], seen)
