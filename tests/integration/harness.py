"""Integration-test harness: portico as a black box behind real sockets.

Starts test backends and portico with generated configs on free 127.0.0.1 ports, gives the
tests a raw HTTP client that shows every byte, and stops everything afterwards, failing the
test when portico exits non-zero or its stderr carries a sanitizer report. Standard library
only; knows nothing of portico's internals, only its command line, config and sockets.
"""

import contextlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.abspath(os.environ.get("srcdir") or os.path.join(HERE, "..", ".."))
BUILDDIR = os.path.abspath(os.environ.get("PORTICO_BUILDDIR") or os.getcwd())
PORTICO = os.environ.get("PORTICO") or os.path.join(BUILDDIR, "portico")
BACKENDS = os.environ.get("PORTICO_BACKENDS") or os.path.join(BUILDDIR, "tests", "backends")

# Per-test wall-clock bound (seconds); a test that takes longer fails.
TEST_TIMEOUT = int(os.environ.get("PORTICO_TEST_TIMEOUT", "60"))

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "ERROR: LeakSanitizer",
                   "AddressSanitizer:DEADLYSIGNAL", "SUMMARY: UndefinedBehaviorSanitizer",
                   "runtime error:", "FATAL: ThreadSanitizer")

PATTERN = b"0123456789abcdef"  # what the echo backends send for ?bytes=N

_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now and that no earlier call returned."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


def fnv1a64(data, h=0xCBF29CE484222325):
    """FNV-1a 64 of data, as 16 hex digits (what the echo backends report as body_fnv)."""
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def pattern_bytes(offset, n):
    """n bytes of the ?bytes=N pattern starting at stream offset `offset`."""
    start = offset % len(PATTERN)
    reps = (start + n) // len(PATTERN) + 1
    return (PATTERN * reps)[start : start + n]


def rss_kib(pid):
    """Resident set size of a process in KiB (VmRSS), or None once it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def wait_port(port, timeout, alive=None, host="127.0.0.1"):
    """Wait until host:port accepts a connection. `alive()` returning False aborts early."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def sanitizer_report(text):
    return any(m in text for m in SANITIZER_MARKS)


# ---- processes, and the sockets they hold and listen on (/proc) ----

def group_pids(pgid):
    """The ids of the processes in process group pgid."""
    pids = []
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid:
            pids.append(int(d))
    return pids


def socket_inodes(pid):
    """The inodes of the sockets process pid holds open."""
    found = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return found
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            found.add(link[8:-1])
    return found


def listening_sockets():
    """The listening sockets now: the inodes of the TCP ones (IPv4 and IPv6), and {inode:
    path} of the unix ones (path None: one without)."""
    rows = {}
    for name in ("tcp", "tcp6", "unix"):
        try:
            with open("/proc/net/" + name) as f:
                rows[name] = [line.split() for line in f.readlines()[1:]]
        except OSError:
            rows[name] = []
    tcp = {r[9] for n in ("tcp", "tcp6") for r in rows[n] if r[3] == "0A"}  # TCP_LISTEN
    return tcp, {r[6]: r[7] if len(r) > 7 else None for r in rows["unix"]
                 if int(r[3], 16) & 0x10000}  # __SO_ACCEPTCON: listening


class Proc:
    """A child process in its own process group, stdout piped, stderr into a file; stdin is
    /dev/null unless `stdin` gives a descriptor (a listening socket for an fd-0 FastCGI app)."""

    def __init__(self, name, argv, tmpdir, env=None, stdout_pipe=True, cwd=None, stdin=None):
        self.name = name
        self.argv = argv
        self.errpath = os.path.join(tmpdir, "%s.%d.stderr" % (name, id(self)))
        self.err = open(self.errpath, "wb")
        self.p = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else stdin,
            stdout=subprocess.PIPE if stdout_pipe else self.err,
            stderr=self.err,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.p.pid
        self.stopped = False

    def alive(self):
        return self.p.poll() is None

    def wait_line(self, want, timeout):
        """Read stdout lines until one equals `want`; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                return False
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines.pop()
            if any(l.strip() == want.encode() for l in lines):
                return True
        return False

    def stderr_text(self):
        if not self.err.closed:
            self.err.flush()
        try:
            with open(self.errpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the process, wait for it, then kill whatever is left of its group.
        Returns its exit status (negative: killed by that signal; None: had to SIGKILL)."""
        if self.stopped:
            return self.p.returncode
        self.stopped = True
        rc = self.p.poll()
        if rc is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                rc = self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
                rc = None
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.p.stdout:
            self.p.stdout.close()
        self.err.close()
        return rc


class Sentinel:
    """A Python backend that counts connections and answers each with a fixed HTTP response.
    Tests use it to prove that a request never reached a backend."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.connections = 0
        self.received = []
        self.lock = threading.Lock()
        self.closing = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            c.settimeout(1.0)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                body = b"sentinel"
                c.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s" % (len(body), body)
                )
            except OSError:
                pass
            with self.lock:
                self.received.append(data)
            c.close()

    def count(self):
        with self.lock:
            return self.connections

    def close(self):
        self.closing = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class ScriptBackend:
    """A loopback HTTP backend run by the test itself: each connection gets a thread that reads
    one request head and calls answer(conn, head, n), n counting connections from 1."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.n = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.n += 1
            threading.Thread(target=self._one, args=(conn, self.n), daemon=True).start()

    def _one(self, conn, n):
        with conn:
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                d = conn.recv(4096)
                if not d:
                    return
                head += d
            self.answer(conn, head, n)

    def answer(self, conn, head, n):
        raise NotImplementedError

    def close(self):
        self.sock.close()


class IncompleteResponse(Exception):
    """The connection ended before the response's framing said it was complete."""

    def __init__(self, msg, head=None, got=0):
        super().__init__(msg)
        self.head = head
        self.got = got


class Response:
    def __init__(self, version, status, reason, headers, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order
        self.raw_head = raw_head
        self.body = b""
        self.framing = None  # "length" | "chunked" | "close" | "none"

    def header(self, name):
        """The last value of a header (case-insensitive), or None."""
        v = None
        for n, val in self.headers:
            if n.lower() == name.lower():
                v = val
        return v

    def all(self, name):
        return [val for n, val in self.headers if n.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %d %r body=%r>" % (self.version, self.status, self.headers,
                                                self.body[:200])


def no_body_expected(method, status):
    return method == "HEAD" or 100 <= status < 200 or status in (204, 304)


class Client:
    """A raw HTTP/1.x client over one TCP connection: send exact bytes, read exact responses."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, size=65536):
        """Read more bytes into the buffer. Returns False at EOF (or reset)."""
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(size)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _take(self, n):
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_head(self):
        """Read one response head. Raises IncompleteResponse on EOF before it ends."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._fill():
                raise IncompleteResponse("EOF before response head: %r" % bytes(self.buf[:200]))
        raw = self._take(i + 4)
        lines = raw[:-4].decode("latin-1").split("\r\n")
        m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        headers = []
        for l in lines[1:]:
            name, sep, value = l.partition(":")
            if not sep or name != name.strip() or not name:
                raise AssertionError("bad header line %r" % l)
            headers.append((name, value.strip(" \t")))
        return Response(m.group(1), int(m.group(2)), m.group(3) or "", headers, raw)

    def _read_line(self, head):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                return self._take(i + 2)[:-2]
            if not self._fill():
                raise IncompleteResponse("EOF inside chunked framing", head)

    def body_stream(self, resp, method="GET", sink=None, piece=65536):
        """Read the body of `resp` per its framing, handing pieces to sink(bytes) (default:
        collect into resp.body). Raises IncompleteResponse (with .got) on early EOF."""
        collected = []
        if sink is None:
            sink = collected.append
        got = 0
        te = (resp.header("Transfer-Encoding") or "").lower()
        cl = resp.header("Content-Length")
        if no_body_expected(method, resp.status):
            resp.framing = "none"
        elif te:
            if te != "chunked":
                raise AssertionError("unexpected Transfer-Encoding %r" % te)
            resp.framing = "chunked"
            while True:
                line = self._read_line(resp)
                size_s = line.split(b";")[0].strip()
                if not re.match(rb"^[0-9a-fA-F]+$", size_s):
                    raise AssertionError("bad chunk size line %r" % line)
                size = int(size_s, 16)
                if size == 0:
                    while self._read_line(resp) != b"":  # trailers
                        pass
                    break
                left = size
                while left:
                    if not self.buf and not self._fill(min(piece, max(left, 1))):
                        raise IncompleteResponse("EOF inside a chunk", resp, got)
                    part = self._take(min(left, len(self.buf)))
                    left -= len(part)
                    got += len(part)
                    sink(part)
                if self._read_line(resp) != b"":
                    raise AssertionError("chunk not followed by CRLF")
        elif cl is not None:
            resp.framing = "length"
            left = int(cl)
            while left:
                if not self.buf and not self._fill(min(piece, left)):
                    raise IncompleteResponse(
                        "EOF after %d of %s body bytes" % (got, cl), resp, got
                    )
                part = self._take(min(left, len(self.buf)))
                left -= len(part)
                got += len(part)
                sink(part)
        else:
            resp.framing = "close"
            while True:
                if self.buf:
                    part = self._take(len(self.buf))
                    got += len(part)
                    sink(part)
                if not self._fill(piece):
                    break
        if collected:
            resp.body = b"".join(collected)
        return got

    def read_response(self, method="GET", allow_interim=False):
        """Read one complete response. Interim 1xx responses are skipped unless
        allow_interim, in which case a 1xx is returned as it comes."""
        while True:
            resp = self.read_head()
            if 100 <= resp.status < 200 and resp.status != 101 and not allow_interim:
                continue
            self.body_stream(resp, method)
            return resp

    def is_closed(self, timeout=3.0):
        """True when the peer closes (EOF or reset) within timeout with no further bytes."""
        if self.buf:
            return False
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(4096)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if chunk:
            self.buf += chunk
            return False
        self.eof = True
        return True

    def read_to_close(self, limit=1 << 26):
        while len(self.buf) < limit and self._fill():
            pass
        return self._take(len(self.buf))


def request_bytes(method, target, host="test.local", headers=(), body=None, version="HTTP/1.1"):
    """Build a request; a Content-Length is added for a bytes body unless headers give framing."""
    lines = ["%s %s %s" % (method, target, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    names = [h[0].lower() for h in headers]
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is not None:
        data += body
    return data


def chunked(pieces):
    """Encode a list of byte strings with the chunked transfer coding."""
    out = b""
    for p in pieces:
        if p:
            out += b"%x\r\n%s\r\n" % (len(p), p)
    return out + b"0\r\n\r\n"


class Portico(Proc):
    """portico -f CONF on a listener the test chose; stop() checks the exit status."""

    def __init__(self, tmpdir, conf_text, port, extra_ports=(), env=None):
        self.port = port
        self.conf_path = os.path.join(tmpdir, "portico-%d.conf" % port)
        with open(self.conf_path, "w") as f:
            f.write(conf_text)
        self.conf_text = conf_text
        super().__init__("portico", [PORTICO, "-f", self.conf_path], tmpdir, env=env,
                         stdout_pipe=False)
        for p in (port,) + tuple(extra_ports):
            if not wait_port(p, 15, self.alive):
                rc = self.stop(signal.SIGKILL)
                raise AssertionError(
                    "portico did not listen on %d (exit %s); config:\n%s\nstderr:\n%s"
                    % (p, rc, conf_text, self.stderr_text())
                )

    def rss_kib(self):
        return rss_kib(self.pid)


def base_conf(port, extra=""):
    """The settings every test config starts with: 127.0.0.1:port and short timeouts."""
    return (
        'server.bind = "127.0.0.1"\n'
        "server.port = %d\n"
        "server.graceful-shutdown-timeout = 2\n"
        "server.max-keep-alive-idle = 5\n"
        "proxy-core.connect-timeout = 2\n"
        "proxy-core.read-timeout = 10\n"
        "proxy-core.backlog-timeout = 3\n" % port
    ) + extra


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout("test exceeded %d s" % TEST_TIMEOUT)


class GatewayTest(unittest.TestCase):
    """Base class: every process a test starts is stopped and checked when it ends."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="portico-it-")
        self._procs = []
        self._porticos = []
        self.diag = []  # text the runner prints when the test fails
        self.addCleanup(self._cleanup)
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(TEST_TIMEOUT)

    def _cleanup(self):
        signal.alarm(0)
        problems = []
        for pt in self._porticos:
            try:
                was_alive = pt.alive()
                rc = pt.stop(signal.SIGTERM, timeout=10)
                err = pt.stderr_text()
                self.diag.append("--- portico stderr (pid %d) ---\n%s" % (pt.pid, err[-6000:]))
                if rc is None:
                    problems.append("portico did not stop within 10 s of SIGTERM")
                elif rc != 0:
                    problems.append("portico exited with status %d%s" % (
                        rc, "" if was_alive else " before the test ended"))
                if sanitizer_report(err):
                    problems.append("sanitizer report in portico's stderr")
            except Exception as e:  # keep stopping the others
                problems.append("stopping portico: %r" % e)
        for pr in self._procs:
            try:
                if isinstance(pr, Sentinel):
                    pr.close()
                    continue
                pr.stop(signal.SIGTERM, timeout=5)
                err = pr.stderr_text()
                if err.strip():
                    self.diag.append("--- %s stderr ---\n%s" % (pr.name, err[-3000:]))
                if sanitizer_report(err):
                    problems.append("sanitizer report in %s's stderr" % pr.name)
            except Exception as e:
                problems.append("stopping %s: %r" % (pr.name if hasattr(pr, "name") else pr, e))
        shutil.rmtree(self.tmp, ignore_errors=True)
        if problems:
            raise AssertionError("; ".join(problems))

    # ---- starting things ----

    def backend_path(self, name):
        path = os.path.join(BACKENDS, name)
        if not os.access(path, os.X_OK):
            raise AssertionError("test backend %s not built (make check builds it)" % path)
        return path

    def start_backend(self, name, *args, addr=None):
        """Start tests/backends/NAME ADDR ARGS... and wait for its "ready". Returns ADDR."""
        if addr is None:
            addr = "127.0.0.1:%d" % free_port()
        pr = Proc(name, [self.backend_path(name), addr] + list(args), self.tmp)
        self._procs.append(pr)
        if not pr.wait_line("ready", 10):
            raise AssertionError("%s %s did not print ready: %s" % (name, addr, pr.stderr_text()))
        return addr

    def start_hostile(self, script):
        """Start the scripted hostile backend with this script text. Returns ADDR."""
        path = os.path.join(self.tmp, "hostile-%d.script" % len(self._procs))
        with open(path, "w") as f:
            f.write(script.strip("\n") + "\n")
        return self.start_backend("hostile", path)

    def start_sentinel(self):
        s = Sentinel()
        self._procs.append(s)
        return s

    def add_proc(self, proc):
        self._procs.append(proc)
        return proc

    def start_portico(self, body, port=None, extra_ports=(), raw=False, env=None):
        """Write a config (base_conf + body unless raw) and start portico with it (in env)."""
        if port is None:
            port = free_port()
        text = body if raw else base_conf(port, body)
        pt = Portico(self.tmp, text, port, extra_ports, env)
        self._porticos.append(pt)
        return pt

    def write(self, name, text, mode=0o644):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    # ---- talking ----

    def get(self, port, target, method="GET", headers=(), body=None, host="test.local",
            version="HTTP/1.1", timeout=10.0, pieces=None):
        """One request on a fresh connection: body with a Content-Length, or pieces chunked."""
        with Client(port, timeout=timeout) as c:
            if pieces is not None:
                headers = list(headers) + [("Transfer-Encoding", "chunked")]
                c.send(request_bytes(method, target, host, headers, None, version))
                c.send(chunked(pieces))
            else:
                c.send(request_bytes(method, target, host, headers, body, version))
            return c.read_response(method)

    def post_json(self, port, target, body, ctype, pieces=None, host="test.local", timeout=10.0):
        """POST body as ctype (in `pieces`, chunked, when given): a 200 whose JSON it returns."""
        r = self.get(port, target, "POST", [("Content-Type", ctype)], body, host,
                     timeout=timeout, pieces=pieces)
        self.assertEqual(r.status, 200, r)
        return r.json()

    @contextlib.contextmanager
    def requests_during(self, port, targets, timeout=30.0):
        """Clients asking in a loop, one per target, for as long as the with-block runs (a
        deploy, a reload). Yields the list of results: each response's status, or the repr of
        the exception that failed the request (refused, reset, cut)."""
        stop = threading.Event()
        results = []

        def client(target):
            while not stop.is_set():
                try:
                    results.append(self.get(port, target, timeout=timeout).status)
                except Exception as e:
                    results.append(repr(e))
        ts = [threading.Thread(target=client, args=(t,)) for t in targets]
        for t in ts:
            t.start()
        try:
            yield results
        finally:
            stop.set()
            for t in ts:
                t.join(timeout + 10)

    def assertClosed(self, client, msg=None):
        self.assertTrue(client.is_closed(), msg or "connection not closed after the response")

    def wait_stderr(self, proc, text, timeout=3.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in proc.stderr_text():
                return True
            time.sleep(0.05)
        return False


def conf_str(s):
    """A config string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def conf_list(items):
    return "( " + ", ".join(conf_str(i) for i in items) + " )"


def route(backends, protocol="http", cond=None, extra=""):
    """A proxy route: settings inside an optional condition line like '$HTTP["url"] =^ "/"'."""
    body = "  proxy-core.protocol = %s\n  proxy-core.backends = %s\n%s" % (
        conf_str(protocol), conf_list(backends), extra)
    if cond is None:
        return body
    return "%s {\n%s}\n" % (cond, body)


def multipart(fields, files, boundary="----portico-it-boundary-7e3a"):
    """A multipart/form-data body: (body bytes, Content-Type value). `files`: (name, filename,
    bytes) triples."""
    parts = []
    for k, v in fields:
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                      % (boundary, k, v)).encode())
    for k, fname, data in files:
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n"
                      % (boundary, k, fname)).encode() + data + b"\r\n")
    parts.append(("--%s--\r\n" % boundary).encode())
    return b"".join(parts), "multipart/form-data; boundary=%s" % boundary
