#!/usr/bin/env python3
"""A tiny HTTP app for the spawn tests (test_spawn.py), run by portico as a spawned process.

It serves on the socket portico hands over -- fd 0 (--socket fd0) or fd 3 with LISTEN_FDS
(--socket listen-fds) -- or binds the address itself (--bind HOST:PORT or --bind unix:/path).
Every answer is JSON describing the process: pid, ppid, process group, session, the address it
serves on, and the environment it was given. ?delay_ms=N sleeps first; ?log=TEXT writes TEXT as
one line to stderr first.

--child starts a `sleep` in its own process group (a grandchild of the launcher);
--escaped-child starts one that leaves the group and the session (setsid), the way a daemonising
helper would; both must be gone when portico stops. --term-child starts a python child in the
group that writes "spawn_app child: ready" to stderr once its SIGTERM handler is in place, and
"spawn_app child: SIGTERM" when it gets SIGTERM (this process does not pass SIGTERM on: the
line shows who signalled the group). --say TEXT writes TEXT to stderr and to
stdout at start. --ignore-term ignores SIGTERM (so only a SIGKILL stops it); SIGINT always ends
it at once with exit status 0, after a line on stderr. Standard library only.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENV_KEYS = ("PATH", "HOME", "PORT", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
            "PHP_FCGI_CHILDREN", "APP_VERSION", "APP_COPIED", "APP_NOT_COPIED")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):
        return "-"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if "log" in q:
            sys.stderr.write(q["log"] + "\n")
            sys.stderr.flush()
        if "delay_ms" in q:
            time.sleep(int(q["delay_ms"]) / 1000.0)
        body = json.dumps({
            "app": self.server.app_name,
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "pgid": os.getpgid(0),
            "sid": os.getsid(0),
            "path": url.path,
            "serving": self.server.serving,
            "env": {k: os.environ.get(k) for k in ENV_KEYS},
            "env_names": sorted(os.environ),
            "children": self.server.children,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET


def inherited_socket(fd):
    s = socket.socket(fileno=fd)
    if s.type != socket.SOCK_STREAM:
        sys.exit("fd %d is not a stream socket" % fd)
    return s


def describe(s):
    name = s.getsockname()
    if s.family == socket.AF_UNIX:
        return "unix:" + (name.decode() if isinstance(name, bytes) else name)
    return "%s:%d" % (name[0], name[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="app")
    ap.add_argument("--socket", choices=("fd0", "listen-fds"))
    ap.add_argument("--bind")
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--escaped-child", action="store_true")
    ap.add_argument("--term-child", action="store_true")
    ap.add_argument("--say")
    ap.add_argument("--ignore-term", action="store_true")
    a = ap.parse_args()

    if a.socket == "fd0":
        sock = inherited_socket(0)
    elif a.socket == "listen-fds":
        if os.environ.get("LISTEN_FDS") != "1" or os.environ.get("LISTEN_PID") != str(os.getpid()):
            sys.exit("spawn_app: LISTEN_FDS=%r LISTEN_PID=%r (pid %d)" % (
                os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID"), os.getpid()))
        sock = inherited_socket(3)
    elif a.bind:
        if a.bind.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                os.unlink(a.bind[5:])
            except OSError:
                pass
            sock.bind(a.bind[5:])
        else:
            host, _, port = a.bind.rpartition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, int(port)))
        sock.listen(64)
    else:
        sys.exit("spawn_app: give --socket or --bind")

    children = []
    if a.child:
        children.append(subprocess.Popen(["sleep", "600"]).pid)
    if a.escaped_child:
        children.append(subprocess.Popen(["sleep", "601"], start_new_session=True).pid)
    if a.term_child:
        children.append(subprocess.Popen([sys.executable, "-c", (
            "import os, signal, time\n"
            "def term(*_):\n"
            "    os.write(2, b'spawn_app child: SIGTERM\\n')\n"
            "    os._exit(0)\n"
            "signal.signal(signal.SIGTERM, term)\n"
            "os.write(2, b'spawn_app child: ready\\n')\n"
            "time.sleep(600)\n")]).pid)

    if a.say:
        sys.stderr.write("%s (stderr)\n" % a.say)
        sys.stderr.flush()
        sys.stdout.write("%s (stdout)\n" % a.say)
        sys.stdout.flush()

    server = ThreadingHTTPServer(("", 0), Handler, bind_and_activate=False)
    server.daemon_threads = True
    server.socket.close()
    server.socket = sock
    server.app_name = a.name
    server.serving = describe(sock)
    server.children = children
    signal.signal(signal.SIGTERM, signal.SIG_IGN if a.ignore_term else (lambda *_: os._exit(0)))

    def on_int(*_):
        os.write(2, b"spawn_app: SIGINT\n")
        os._exit(0)

    signal.signal(signal.SIGINT, on_int)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
