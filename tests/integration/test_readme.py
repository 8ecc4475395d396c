"""The commands of README.md and the READMEs of examples/rails, examples/php and
examples/wsgi, run as written.

Every ```sh block of each README is taken in order, as a user would type it: each block is
one shell started at the top of a copy of the source tree (a `cd` lasts to the end of its
block), with `portico` on the PATH through a bin directory that links to the built binary
(what `make install` leaves). A command either ends, and then must exit 0 and print the text
of its `# -> text` comment if it has one, or keeps running and listens on a socket: a server
(portico, puma, script/fastcgi, ./quickstart), which runs until the next heading of the README
and is then stopped with SIGINT, as Ctrl-C would. Nothing in the commands is rewritten.

A few commands are checked rather than run (CHECKED_NOT_RUN): `./quickstart check` and the
by-hand build are what built this build directory and run this test, so they are checked for
what they need (quickstart --help, configure --version, make -n in the build directory); `make
install` runs with DESTDIR, so that it writes nothing under /usr/local. `./quickstart`
itself runs: `build/` in the copy is a link to this build directory, so it finds a build up to
date and goes on to start portico, as it does on a second run.

The READMEs use fixed ports (8080, 3000, 9000) and paths (/tmp/portico-rails-files,
/run/rails). As root, with unshare(1), the commands run in private network, mount and PID
namespaces: a loopback of their own, an empty /run, and /tmp as an overlay whose writes are
thrown away, so they touch nothing outside and every process ends with the namespace.
Elsewhere they run on the host, the fixed ports must be free, and what the commands create
under /tmp and /run stays there. Skipped only when a program the READMEs use is missing.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (BUILDDIR, PORTICO, SRCDIR, group_pids, listening_sockets,  # noqa: E402
                     sanitizer_report, socket_inodes)

READMES = ("README.md", "examples/rails/README.md", "examples/php/README.md",
           "examples/wsgi/README.md")

# What each README needs installed; a missing one skips that README's test.
NEEDS = {
    "README.md": ("bash", "curl", "make", "dpkg-query"),
    "examples/rails/README.md": ("bash", "curl", "cmp", "head", "ruby", "puma", "uwsgi-core"),
    "examples/php/README.md": ("bash", "curl", "cmp", "head", "php-cgi", "php-fpm8.2"),
    "examples/wsgi/README.md": ("bash", "curl", "cmp", "head", "grep", "gunicorn", "uwsgi-core"),
}
# Files a README's programs load, beside the programs themselves (uWSGI's plugins); a missing
# one skips that README's test too.
NEEDS_FILES = {
    "examples/rails/README.md": ("/usr/lib/uwsgi/plugins/rack_plugin.so",),
    "examples/wsgi/README.md": ("/usr/lib/uwsgi/plugins/python3_plugin.so",),
}
RUBY_LIBS = ("rails", "action_controller/railtie", "rack/handler/fastcgi")

START_TIMEOUT = 60  # seconds for a command to end or to listen (a Rails boot on a busy machine)
STOP_TIMEOUT = 10

# What the copy of the source tree leaves out: version control, build output, and a build
# directory inside the tree (a directory with a config.status of its own).
SKIP_IN_COPY = shutil.ignore_patterns(".git", "autom4te.cache", "build", "build-*", "*.o", "*.a",
                                      ".deps", "config.status", "config.log", "stamp-h1")


def copy_tree(src, dst):
    def ignore(d, names):
        inner_builds = {n for n in names if os.path.isfile(os.path.join(d, n, "config.status"))}
        return set(SKIP_IN_COPY(d, names)) | inner_builds
    shutil.copytree(src, dst, symlinks=True, ignore=ignore)


# ---- checks for the commands that are not run ----

def check_quickstart_check(sh):
    """./quickstart check is what runs this test (make check); running it here would recurse."""
    out = sh.run_checked("bash -n quickstart && ./quickstart --help")
    if "./quickstart check" not in out:
        raise Failed("./quickstart --help does not describe `check`:\n" + out)


def check_by_hand_build(sh):
    """The in-tree build: ./bootstrap is there, ./configure runs (--version), and make knows
    how to make all and check in the build directory that the same configure made."""
    sh.run_checked("test -x ./bootstrap && ./configure --version >/dev/null")
    sh.run_checked("make -n -C %s all check >/dev/null" % sh.quote(BUILDDIR))


def check_make_install(sh):
    """make install, into a staging directory (DESTDIR) rather than /usr/local: it must
    install a portico that runs into a bin directory."""
    dest = os.path.join(sh.tmp, "dest")
    sh.run_checked("make -C %s install DESTDIR=%s" % (sh.quote(BUILDDIR), sh.quote(dest)))
    found = [os.path.join(d, "portico") for d, _, files in os.walk(dest) if "portico" in files]
    if len(found) != 1 or os.path.basename(os.path.dirname(found[0])) != "bin":
        raise Failed("make install put no bin/portico under DESTDIR: %s" % found)
    out = sh.run_checked("%s -v" % sh.quote(found[0]))
    if not out.startswith("portico "):
        raise Failed("the installed portico -v says %r" % out)


CHECKED_NOT_RUN = {
    "README.md": {
        "./quickstart check": check_quickstart_check,
        "./bootstrap && ./configure && make && make check": check_by_hand_build,
        "make install": check_make_install,
    },
    "examples/rails/README.md": {},
    "examples/php/README.md": {},
    "examples/wsgi/README.md": {},
}


# ---- reading the README ----

FENCE = re.compile(r"^\s*```\s*(\S*)")
EXPECT = re.compile(r"\s#\s*->\s*(.*?)\s*$")


def parse(path):
    """[(section, [(lineno, command)])]: the sh blocks of a README, each with the number of
    the heading it comes under; a command is a line with its backslash continuations, its
    comment included (bash ignores it)."""
    blocks = []
    section = 0
    fence = None
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                if fence == "sh":
                    blocks.append((section, []))
            elif line.startswith("#"):
                section += 1
            i += 1
            continue
        if m:
            fence = None
            i += 1
            continue
        if fence == "sh":
            start = i
            cmd = line
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            if cmd.strip() and not cmd.strip().startswith("#"):
                blocks[-1][1].append((start + 1, cmd.strip()))
        i += 1
    if fence is not None:
        raise Failed("%s: a fenced block is not closed" % path)
    return blocks


def bare(cmd):
    """The command without its trailing comment."""
    return re.sub(r"\s+#.*$", "", cmd).strip()


# ---- which sockets a process group listens on ----

def group_listens(pgid):
    """Whether a process of group pgid holds a listening socket (TCP or unix)."""
    tcp, unix = listening_sockets()
    listening = tcp | set(unix)
    return any(socket_inodes(pid) & listening for pid in group_pids(pgid))


# ---- running the commands (in the namespaces or on the host) ----

class Failed(Exception):
    pass


class Server:
    def __init__(self, where, cmd, proc, outpath):
        self.where = where
        self.cmd = cmd
        self.proc = proc
        self.outpath = outpath

    def output(self):
        with open(self.outpath, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Session:
    """Runs one README's blocks in a copy of the source tree under `tmp`."""

    def __init__(self, readme, tmp):
        self.readme = readme
        self.tmp = tmp
        self.root = os.path.join(tmp, "src")
        copy_tree(SRCDIR, self.root)
        # build/ is the build directory an earlier ./quickstart made; it is up to date with
        # this configure, and must not be reconfigured (the real one may be outside the
        # namespace's overlay).
        os.symlink(BUILDDIR, os.path.join(self.root, "build"))
        status = os.path.join(BUILDDIR, "config.status")
        if os.path.exists(status):
            t = os.stat(status).st_mtime - 10
            for name in ("configure.ac", "Makefile.am", "Makefile.in", "configure"):
                p = os.path.join(self.root, name)
                if os.path.exists(p):
                    os.utime(p, (t, t))
                t += 1
        self.bin = os.path.join(tmp, "bin")
        os.makedirs(self.bin)
        os.symlink(os.path.abspath(PORTICO), os.path.join(self.bin, "portico"))
        with open(os.path.join(self.bin, "apt-get"), "w") as f:
            f.write("#!/bin/sh\necho \"test_readme: apt-get $* refused: the test installs "
                    "nothing\" >&2\nexit 1\n")
        os.chmod(os.path.join(self.bin, "apt-get"), 0o755)
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES",
                                 "PORTICO", "srcdir")}
        self.env["PATH"] = self.bin + ":" + os.environ.get("PATH", "/usr/bin:/bin")
        # a home of its own: what the commands keep there (script/fastcgi's compiled compat
        # library under ~/.cache) goes with the test
        self.env["HOME"] = os.path.join(tmp, "home")
        self.env.pop("XDG_CACHE_HOME", None)
        os.makedirs(self.env["HOME"])
        self.cwd = self.root
        self.servers = []
        self.n = 0
        self.log = []

    @staticmethod
    def quote(s):
        return "'" + s.replace("'", "'\\''") + "'"

    def say(self, text):
        self.log.append(text)
        print(text, flush=True)

    def run_checked(self, script):
        p = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0:
            raise Failed("`%s` exited %d:\n%s" % (script, p.returncode, out[-3000:]))
        return out

    def command(self, lineno, cmd):
        where = "%s:%d" % (self.readme, lineno)
        self.say("$ %s" % cmd)
        checks = CHECKED_NOT_RUN[self.readme]
        if bare(cmd) in checks:
            fn = checks[bare(cmd)]
            try:
                fn(self)
            except Failed as e:
                raise Failed("%s: `%s` (checked, not run): %s" % (where, cmd, e))
            self.say("  checked, not run: %s" % " ".join(fn.__doc__.split()))
            return
        m = re.match(r"^cd\s+(\S+)$", bare(cmd))
        if m:
            d = os.path.normpath(os.path.join(self.cwd, m.group(1)))
            if not os.path.isdir(d):
                raise Failed("%s: `%s`: no such directory %s" % (where, cmd, d))
            self.cwd = d
            return
        self.n += 1
        outpath = os.path.join(self.tmp, "cmd-%d.out" % self.n)
        with open(outpath, "wb") as out:
            proc = subprocess.Popen(["bash", "-c", cmd], cwd=self.cwd, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    start_new_session=True)
        server = Server(where, cmd, proc, outpath)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            rc = proc.poll()
            if rc is not None:
                break
            if group_listens(proc.pid):
                self.servers.append(server)
                self.say("  (running, listening)")
                return
            if time.monotonic() > deadline:
                self.servers.append(server)
                raise Failed("%s: `%s` neither ended nor listened within %d s:\n%s"
                             % (where, cmd, START_TIMEOUT, server.output()[-3000:]))
            time.sleep(0.05)
        text = server.output()
        for line in text.rstrip("\n").split("\n")[-8:]:
            if line.strip():
                self.say("  " + line[:160])
        if sanitizer_report(text):
            raise Failed("%s: `%s`: sanitizer report:\n%s" % (where, cmd, text[-6000:]))
        if rc != 0:
            raise Failed("%s: `%s` exited %d:\n%s" % (where, cmd, rc, text[-3000:]))
        m = EXPECT.search(cmd)
        if m and m.group(1) not in text.replace("\r", ""):
            raise Failed("%s: `%s` did not print %r:\n%s" % (where, cmd, m.group(1), text[-3000:]))

    def stop_servers(self):
        """Ctrl-C for each server still running, last started first; a server that had exited
        on its own, or left a sanitizer report, is a failure."""
        problems = []
        for s in reversed(self.servers):
            if s.proc.poll() is not None:
                problems.append("%s: `%s` exited (%d) before the end of its section:\n%s"
                                % (s.where, s.cmd, s.proc.returncode, s.output()[-3000:]))
                continue
            try:
                os.killpg(s.proc.pid, signal.SIGINT)
                s.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append("%s: `%s` did not stop within %d s of SIGINT"
                                % (s.where, s.cmd, STOP_TIMEOUT))
            except ProcessLookupError:
                pass
            try:
                os.killpg(s.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            s.proc.wait()
            if sanitizer_report(s.output()):
                problems.append("%s: `%s`: sanitizer report:\n%s"
                                % (s.where, s.cmd, s.output()[-6000:]))
        self.servers = []
        if problems:
            raise Failed("\n".join(problems))

    def run(self):
        path = os.path.join(self.root, self.readme)
        blocks = parse(path)
        seen = {bare(c) for _, cmds in blocks for _, c in cmds}
        for c in CHECKED_NOT_RUN[self.readme]:
            if c not in seen:
                raise Failed("%s no longer has `%s` (CHECKED_NOT_RUN in %s is stale)"
                             % (self.readme, c, os.path.basename(__file__)))
        if not any(cmds for _, cmds in blocks):
            raise Failed("%s has no ```sh block" % self.readme)
        section = None
        try:
            for sec, cmds in blocks:
                if sec != section:
                    self.stop_servers()
                    section = sec
                self.cwd = self.root  # each block is a new shell at the top of the tree
                for lineno, cmd in cmds:
                    self.command(lineno, cmd)
            self.stop_servers()
        except Failed:
            for s in self.servers:
                out = s.output()
                self.say("--- output of `%s` (%s) ---\n%s" % (s.cmd, s.where, out[-3000:]))
            raise
        finally:
            for s in self.servers:
                try:
                    os.killpg(s.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def fixed_ports():
    """The 127.0.0.1 ports the READMEs and the example configs name."""
    ports = set()
    for name in READMES + ("examples/quickstart.conf", "examples/rails/portico.conf",
                           "examples/rails/portico-fastcgi.conf", "examples/php/portico.conf",
                           "examples/php/php-fpm.conf", "examples/wsgi/portico.conf"):
        with open(os.path.join(SRCDIR, name)) as f:
            text = f.read()
        ports |= {int(x) for x in re.findall(r"127\.0\.0\.1:(\d{2,5})\b", text)}
        ports |= {int(x) for x in re.findall(r"server\.port\s*=\s*(\d+)", text)}
    return sorted(ports)


def setup_namespace():
    """Inside the new namespaces: loopback up, an empty /run, /tmp as a throwaway overlay."""
    import fcntl
    import struct
    with socket.socket() as s:
        fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", 0x1 | 0x40))  # SIOCSIFFLAGS
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    os.makedirs("/run/.test-readme/up")
    os.makedirs("/run/.test-readme/work")
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    "lowerdir=/tmp,upperdir=/run/.test-readme/up,workdir=/run/.test-readme/work",
                    "/tmp"], check=True)


def inside(readme, mode):
    """The child: run one README's commands; exit 0, 1 (a failure) or 77 (no namespace)."""
    if mode == "ns":
        try:
            setup_namespace()
        except (OSError, subprocess.CalledProcessError) as e:
            print("namespace setup failed: %s" % e, flush=True)
            return 77
    tmp = tempfile.mkdtemp(prefix="portico-readme-")
    try:
        Session(readme, tmp).run()
    except Failed as e:
        print("FAILED: %s" % e, flush=True)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


class ReadmeCommands(unittest.TestCase):

    def setUp(self):
        self.diag = []

    def run_readme(self, readme):
        missing = [t for t in NEEDS[readme] if not shutil.which(t)]
        missing += [f for f in NEEDS_FILES.get(readme, ()) if not os.path.exists(f)]
        if missing:
            raise unittest.SkipTest("%s needs %s, not installed" % (readme, ", ".join(missing)))
        if "ruby" in NEEDS[readme]:
            code = "".join("require %r;" % r for r in RUBY_LIBS)
            p = subprocess.run(["ruby", "-e", code], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            if p.returncode != 0:
                raise unittest.SkipTest("ruby cannot load %s (apt-get install ruby-rails puma "
                                        "ruby-fcgi)" % ", ".join(RUBY_LIBS))
        argv = [sys.executable, os.path.abspath(__file__), readme]
        ns = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child"]
        rc = 77
        out = ""
        if os.geteuid() == 0 and shutil.which("unshare") and subprocess.run(
                ns + ["true"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            rc, out = self.child(ns + argv + ["ns"])
        if rc == 77:
            # no private namespaces here (not root, or a container that forbids them)
            busy = []
            for port in fixed_ports():
                with socket.socket() as s:
                    try:
                        s.bind(("127.0.0.1", port))
                    except OSError:
                        busy.append(port)
            if busy:
                self.fail("the READMEs use 127.0.0.1 port(s) %s, which are in use here, and "
                          "private namespaces (root and unshare) are not available" % busy)
            rc, out2 = self.child(argv + ["host"])
            out += out2
        self.diag.append("--- the commands of %s ---\n%s" % (readme, out[-12000:]))
        self.assertEqual(rc, 0, "a command of %s failed (below)" % readme)

    def child(self, argv):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=400)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def test_main(self):
        self.run_readme("README.md")

    def test_examples_rails(self):
        self.run_readme("examples/rails/README.md")

    def test_examples_php(self):
        self.run_readme("examples/php/README.md")

    def test_examples_wsgi(self):
        self.run_readme("examples/wsgi/README.md")


if __name__ == "__main__":
    sys.exit(inside(sys.argv[1], sys.argv[2]))
