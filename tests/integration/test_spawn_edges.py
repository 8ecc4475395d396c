"""Spawned apps at their edges: a start-up that fails after the apps were started, and reloads
that hand an explicit socket from one app object to another."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from harness import PORTICO, GatewayTest, Portico, base_conf, free_port, sanitizer_report, Client, request_bytes

PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

# An HTTP app on the listening socket it gets as fd 0: one request per connection.
APP = r'''
import socket
s = socket.socket(fileno=0)
while True:
    c, _ = s.accept()
    d = b""
    while b"\r\n\r\n" not in d:
        x = c.recv(65536)
        if not x:
            break
        d += x
    if d:
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    c.close()
'''

# An HTTP app on fd 0 that keeps connections alive and answers with the number of the
# connection (1, 2, ...) a request came on.
KEEPALIVE_APP = r'''
import socket, threading
s = socket.socket(fileno=0)
n = 0
def serve(c, k):
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            x = c.recv(65536)
            if not x:
                c.close()
                return
            buf += x
        buf = buf[buf.index(b"\r\n\r\n") + 4:]
        body = b"%d\n" % k
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
while True:
    c, _ = s.accept()
    n += 1
    threading.Thread(target=serve, args=(c, n), daemon=True).start()
'''


class SpawnEdges(GatewayTest):

    def app_path(self):
        path = os.path.join(self.tmp, "app.py")
        with open(path, "w") as f:
            f.write(APP)
        return path

    def conf(self, port, apps, route_app, extra=""):
        text = base_conf(port, 'server.state-dir = "%s/state"\n' % self.tmp + extra)
        text += "spawn.apps = (\n"
        for name, body in apps.items():
            text += '  "%s" => ( "bin-path" => ( "%s", "%s" )%s ),\n' % (
                name, PYTHON, self.app_path(), body)
        text += ')\nproxy-core.protocol = "http"\nproxy-core.backends = ( "spawn:%s" )\n' % route_app
        return text

    def get(self, port, path="/x"):
        with Client(port) as c:
            c.send(request_bytes("GET", path, headers=(("Connection", "close"),)))
            return c.read_response()

    def test_listener_failure_after_apps_started(self):
        """portico that cannot bind its listener after min-procs processes were started exits 1
        cleanly (no sanitizer report) and leaves no app process."""
        port = free_port()
        busy = socket.socket()
        busy.bind(("127.0.0.1", port))
        busy.listen()
        try:
            path = os.path.join(self.tmp, "busy.conf")
            with open(path, "w") as f:
                f.write(self.conf(port, {"a": ', "min-procs" => 1'}, "a"))
            p = subprocess.run([PORTICO, "-f", path], capture_output=True, timeout=30)
        finally:
            busy.close()
        err = p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 1, err)
        self.assertFalse(sanitizer_report(err), err[-4000:])

    def reload_to(self, pt, text):
        with open(pt.conf_path, "w") as f:
            f.write(text)
        n = pt.stderr_text().count("configuration reloaded")
        pt.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while pt.stderr_text().count("configuration reloaded") == n:
            self.assertLess(time.monotonic(), deadline, pt.stderr_text()[-3000:])
            time.sleep(0.05)

    def test_renamed_app_keeps_its_explicit_socket(self):
        """An app renamed on SIGHUP with the same explicit unix socket: once the old app object
        is gone, the new one's socket file is still there and requests are served."""
        port = free_port()
        sock = os.path.join(self.tmp, "app")
        body = ', "min-procs" => 1, "max-procs" => 1, "socket" => "unix:%s"' % sock
        pt = Portico(self.tmp, self.conf(port, {"a": body}, "a"), port)
        self._porticos.append(pt)
        self.assertEqual(self.get(port).status, 200)
        self.reload_to(pt, self.conf(port, {"b": body}, "b"))
        deadline = time.monotonic() + 10
        while "app a[" not in pt.stderr_text() or "stopped" not in pt.stderr_text():
            self.assertLess(time.monotonic(), deadline, pt.stderr_text()[-3000:])
            time.sleep(0.05)
        time.sleep(0.5)  # the housekeeping tick frees the old app object
        self.assertTrue(os.path.exists(sock + ".0"), pt.stderr_text()[-3000:])
        self.assertEqual(self.get(port).status, 200)

    def app_pids(self, pt):
        """pids of the app processes under portico (children of its launcher)."""
        out = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if self.app_path().encode() in cmd:
                out.append(int(name))
        return sorted(out)

    def test_refused_reload_leaves_the_apps_as_they_were(self):
        """A reload that changes an app but is refused (a new listener cannot bind) keeps the
        running app: no second set of processes, the old ones still serve."""
        port = free_port()
        pt = Portico(self.tmp, self.conf(port, {"a": ', "min-procs" => 1'}, "a"), port)
        self._porticos.append(pt)
        self.assertEqual(self.get(port).status, 200)
        before = self.app_pids(pt)
        self.assertEqual(len(before), 1)
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        try:
            extra = '$SERVER["socket"] == "127.0.0.1:%d" { }\n' % busy.getsockname()[1]
            with open(pt.conf_path, "w") as f:
                f.write(self.conf(port, {"a": ', "min-procs" => 1, "max-procs" => 3'}, "a")
                        + extra)
            pt.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "reload refused" not in pt.stderr_text():
                self.assertLess(time.monotonic(), deadline, pt.stderr_text()[-3000:])
                time.sleep(0.05)
        finally:
            busy.close()
        time.sleep(0.5)
        self.assertEqual(self.app_pids(pt), before, pt.stderr_text()[-3000:])
        self.assertEqual(self.get(port).status, 200)

    def status_app(self, port, name):
        with Client(port) as c:
            c.send(request_bytes("GET", "/portico/status", headers=(("Connection", "close"),)))
            for a in c.read_response().json()["apps"]:
                if a["name"] == name:
                    return a
        return None

    def test_a_good_run_ends_the_row_of_failed_starts(self):
        """Failed starts in a row, then a process that starts and serves: the row is over
        (failures 0) once it has answered, and it stays over after the process is stopped when
        idle, so a later failure backs off from the start again (0.5 s)."""
        port = free_port()
        marker = os.path.join(self.tmp, "fail")
        open(marker, "w").close()
        wrapper = os.path.join(self.tmp, "wrap.sh")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n[ -e %s ] && exit 3\nexec %s %s\n" % (marker, PYTHON, self.app_path()))
        os.chmod(wrapper, 0o755)
        text = base_conf(port, 'status.status-url = "/portico/status"\n'
                         'spawn.apps = ( "a" => ( "bin-path" => "%s", "max-procs" => 1, '
                         '"idle-timeout" => 1 ) )\n'
                         '$HTTP["url"] =^ "/x" {\n proxy-core.protocol = "http"\n'
                         ' proxy-core.backends = ( "spawn:a" )\n}\n' % wrapper)
        pt = Portico(self.tmp, text, port)
        self._porticos.append(pt)
        for want in (1, 2, 3):
            deadline = time.monotonic() + 10
            while self.status_app(port, "a")["state"] == "backoff":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            self.get(port)
            deadline = time.monotonic() + 5
            while self.status_app(port, "a")["failures"] < want:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
        os.unlink(marker)
        deadline = time.monotonic() + 10
        while self.status_app(port, "a")["state"] == "backoff":
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(self.get(port).status, 200)
        self.assertEqual(self.status_app(port, "a")["failures"], 0)
        deadline = time.monotonic() + 10
        while self.status_app(port, "a")["processes"]:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        self.assertEqual(self.status_app(port, "a")["failures"], 0, pt.stderr_text()[-2000:])

    def test_argument_mode_app_changed_on_its_own_address(self):
        """An app that binds an explicit TCP address itself ("argument"), changed on SIGHUP: the
        new process starts once the old one has let go of the address, and no request fails
        meanwhile (before, the readiness probe reached the old process, the new one counted as
        ready, and requests in between were refused: 503)."""
        port, app_port = free_port(), free_port()
        def text(idle):
            return base_conf(port, 'spawn.apps = ( "w" => ( "bin-path" => ( "%s", "-m", '
                             '"http.server", "--bind", "127.0.0.1", "{port}" ), "pass-socket" => '
                             '"argument", "socket" => "127.0.0.1:%d", "min-procs" => 1, '
                             '"max-procs" => 1, "idle-timeout" => %d ) )\n'
                             'proxy-core.protocol = "http"\nproxy-core.backends = ( "spawn:w" )\n'
                             % (PYTHON, app_port, idle))
        pt = Portico(self.tmp, text(60), port)
        self._porticos.append(pt)
        deadline = time.monotonic() + 10
        while "ready in" not in pt.stderr_text():
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual(self.get(port, "/").status, 200)
        with open(pt.conf_path, "w") as f:
            f.write(text(61))
        pt.send_signal(signal.SIGHUP)
        statuses = []
        for _ in range(30):
            statuses.append(self.get(port, "/").status)
            time.sleep(0.05)
        self.assertEqual(statuses, [200] * len(statuses), pt.stderr_text()[-3000:])

    def test_two_apps_on_one_socket_are_refused(self):
        """-t refuses two apps whose slots would share an address (the same unix socket, or
        overlapping port ranges): the second would take the first's socket files."""
        for a, b in (('"unix:%s/s"' % self.tmp, '"unix:%s/s"' % self.tmp),
                     ('"127.0.0.1:9300", "max-procs" => 4', '"localhost:9303"')):
            path = os.path.join(self.tmp, "dup.conf")
            with open(path, "w") as f:
                f.write(self.conf(8099, {"a": ', "socket" => ' + a, "b": ', "socket" => ' + b},
                                  "a"))
            p = subprocess.run([PORTICO, "-t", "-f", path], capture_output=True, timeout=30)
            out = (p.stdout + p.stderr).decode()
            self.assertEqual(p.returncode, 1, out)
            self.assertIn('"b": "socket" overlaps the sockets of app "a"', out)
        with open(path, "w") as f:
            f.write(self.conf(8099, {"a": ', "socket" => "127.0.0.1:9300", "max-procs" => 3',
                                     "b": ', "socket" => "127.0.0.1:9303"'}, "a"))
        p = subprocess.run([PORTICO, "-t", "-f", path], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, (p.stdout + p.stderr).decode())

    def test_two_routes_to_one_php_process(self):
        """Two routes reach one php-cgi (one process, one connection at a time) through two
        pools: a kept FastCGI connection of one pool does not pin the process the other
        route's request needs (before: that request hung until read-timeout, 504)."""
        php = shutil.which("php-cgi")
        if php is None:
            self.skipTest("php-cgi is not installed")
        port = free_port()
        for d in ("a", "b"):
            os.makedirs(os.path.join(self.tmp, "www", d))
            with open(os.path.join(self.tmp, "www", d, "index.php"), "w") as f:
                f.write("<?php echo 'php ', getmypid(), \"\\n\";\n")
        text = base_conf(port, 'server.document-root = "%s/www"\n'
                         'spawn.apps = ( "p" => ( "bin-path" => "%s", "max-procs" => 1 ) )\n'
                         'proxy-core.protocol = "fastcgi"\nproxy-core.read-timeout = 4\n'
                         '$HTTP["url"] =^ "/a/" {\n proxy-core.backends = ( "spawn:p" )\n}\n'
                         '$HTTP["url"] =^ "/b/" {\n proxy-core.balancer = "round-robin"\n'
                         ' proxy-core.backends = ( "spawn:p" )\n}\n' % (self.tmp, php))
        pt = Portico(self.tmp, text, port)
        self._porticos.append(pt)
        for d in ("b", "a", "a", "b", "a", "b"):
            t0 = time.monotonic()
            self.assertEqual(self.get(port, "/%s/index.php" % d).status, 200, d)
            self.assertLess(time.monotonic() - t0, 2.0, d)
