"""What the spawn tests share (test_spawn.py, test_spawn_kinds.py, test_recycle.py): reading
portico's process tree from /proc (ProcWatch: every process a test starts must be gone after
portico stopped), spawn.apps configs, and SpawnTest, the base class that starts portico with
them and reads the apps' status."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

from harness import HERE, PORTICO, GatewayTest, Portico, base_conf, conf_str, free_port

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
    out, pending = set(), [root]
    while pending:
        for k in kids.get(pending.pop(), ()):
            if k not in out:
                out.add(k)
                pending.append(k)
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
