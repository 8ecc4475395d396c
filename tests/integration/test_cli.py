"""The command line (SPEC §1): -v, -h, -t, -p, start-up failures; and that the configs shipped
in README.md and examples/ pass -t."""

import os
import re
import socket
import subprocess

from harness import BUILDDIR, PORTICO, SRCDIR, GatewayTest, free_port, sanitizer_report


def run(args, timeout=10, env=None):
    p = subprocess.run([PORTICO] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class CommandLine(GatewayTest):
    def check_clean(self, err):
        self.assertFalse(sanitizer_report(err), err)

    def test_version(self):
        for flag in ("-v", "--version"):
            rc, out, err = run([flag])
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, r"^portico\S* \d+\.\d+")
            self.assertEqual(err, "", flag)
            self.check_clean(err)

    def test_usage(self):
        for flag in ("-h", "--help"):
            rc, out, err = run([flag])
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.startswith("usage: "), out)
            self.assertEqual(err, "", flag)  # no "invalid option" before the usage
            for opt in ("-f", "-t", "-p", "-v", "--help", "--version"):
                self.assertIn(opt, out)
            self.check_clean(err)

    def test_unknown_option_fails(self):
        rc, out, err = run(["-Z"])
        self.assertNotEqual(rc, 0)
        self.check_clean(err)

    def test_check_good_config(self):
        conf = self.write("good.conf", (
            'var.root = "/srv/www"\n'
            'server.port = 8099\n'
            'server.document-root = var.root + "/public"\n'
            '$HTTP["url"] =~ "^/app(/|$)" {\n'
            '  proxy-core.protocol = "http"\n'
            '  proxy-core.backends = ( "127.0.0.1:3000", "127.0.0.1:3001" )\n'
            '} else $HTTP["url"] =^ "/php/" {\n'
            '  proxy-core.protocol = "fastcgi"\n'
            '  proxy-core.backends = ( "127.0.0.1:9000" )\n'
            '}\n'))
        rc, out, err = run(["-t", "-f", conf])
        self.assertEqual(rc, 0, out + err)
        self.check_clean(err)

    def test_check_bad_config_names_file_and_line(self):
        conf = self.write("bad.conf", (
            '# a comment\n'
            'server.port = 8099\n'
            'server.prot = 8080\n'))
        rc, out, err = run(["-t", "-f", conf])
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out + err, re.escape(conf) + r":3:")
        self.assertIn("server.port", out + err, "no 'did you mean' for a near miss")
        self.check_clean(err)

    def test_check_syntax_error(self):
        conf = self.write("syntax.conf", (
            'server.port = 8099\n'
            '\n'
            '$HTTP["url"] =^ "/x" {\n'
            '  proxy-core.backends = ( "127.0.0.1:1" \n'
            '}\n'))
        rc, out, err = run(["-t", "-f", conf])
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out + err, re.escape(conf) + r":[45]:")
        self.check_clean(err)

    def test_check_bad_regex(self):
        conf = self.write("re.conf", 'server.port = 8099\n$HTTP["url"] =~ "^/(a" {\n}\n')
        rc, out, err = run(["-t", "-f", conf])
        self.assertEqual(rc, 1, out + err)
        self.assertRegex(out + err, re.escape(conf) + r":2:")

    def test_print_effective_config(self):
        self.write("conf.d/extra.conf", 'server.tag = "from-include"\n')
        conf = self.write("main.conf", (
            'var.base = "/srv/app"\n'
            'server.port = 8099\n'
            'server.document-root = var.base + "/public"\n'
            'server.max-request-size = 1000\n'
            'server.max-request-size = 2000\n'
            'include "conf.d/*.conf"\n'
            '$HTTP["url"] =^ "/app/" {\n'
            '  proxy-core.backends = ( "127.0.0.1:3000" )\n'
            '  proxy-core.backends += ( "127.0.0.1:3001" )\n'
            '}\n'))
        rc, out, err = run(["-p", "-f", conf])
        self.assertEqual(rc, 0, err)
        self.check_clean(err)
        self.assertIn("/srv/app/public", out)
        self.assertIn("from-include", out)
        self.assertIn("2000", out)
        self.assertNotRegex(out, r"(?m)^\s*include\b")
        self.assertNotIn("var.base", out)
        self.assertIn("127.0.0.1:3000", out)
        printed = self.write("printed.conf", out)
        rc, out2, err2 = run(["-t", "-f", printed])
        self.assertEqual(rc, 0, "the printed config does not check:\n%s\n%s" % (out, out2 + err2))

    def test_port_in_use(self):
        port = free_port()
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        try:
            conf = self.write("inuse.conf", 'server.bind = "127.0.0.1"\nserver.port = %d\n' % port)
            rc, out, err = run(["-f", conf])
        finally:
            holder.close()
        self.assertNotEqual(rc, 0)
        lines = [l for l in (out + err).splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "want one clear line, got:\n" + out + err)
        self.assertIn(str(port), lines[0])
        self.check_clean(err)

    def test_log_in_a_missing_directory_is_refused(self):
        """As lighttpd: a log portico cannot write stops -t and the start, with FILE:LINE."""
        missing = os.path.join(self.tmp, "no-such-dir")
        for key in ("accesslog.filename", "server.errorlog"):
            conf = self.write("log.conf", 'server.port = %d\n%s = "%s/x.log"\n' %
                              (free_port(), key, missing))
            for args in (["-t", "-f", conf], ["-f", conf]):
                rc, out, err = run(args)
                self.assertEqual(rc, 1, "%s %s: %s" % (key, args[0], out + err))
                self.assertRegex(out + err, re.escape(conf) + r":2: " + re.escape(key))
                self.assertIn(missing, out + err)
                self.check_clean(err)
        conf = self.write("dirlog.conf", 'server.port = %d\naccesslog.filename = "%s"\n' %
                          (free_port(), self.tmp))
        rc, out, err = run(["-t", "-f", conf])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("is a directory", out + err)

    def test_log_that_cannot_be_opened_stops_the_start(self):
        conf = self.write("proclog.conf", 'server.port = %d\naccesslog.filename = '
                          '"/proc/portico-test-access.log"\n' % free_port())
        rc, out, err = run(["-f", conf])
        self.assertEqual(rc, 1, out + err)
        self.assertIn("/proc/portico-test-access.log", out + err)
        self.check_clean(err)

    def test_missing_config_file(self):
        rc, out, err = run(["-t", "-f", os.path.join(self.tmp, "nope.conf")])
        self.assertNotEqual(rc, 0)
        self.assertIn("nope.conf", out + err)


def readme_configs():
    """The ```conf blocks of README.md, in order."""
    with open(os.path.join(SRCDIR, "README.md")) as f:
        text = f.read()
    return re.findall(r"```conf\n(.*?)```", text, re.S)


class ShippedConfigs(GatewayTest):
    def test_readme_configs_check(self):
        blocks = readme_configs()
        self.assertTrue(blocks, "README.md has no ```conf block")
        for i, block in enumerate(blocks):
            path = self.write("readme-%d.conf" % i, block)
            rc, out, err = run(["-t", "-f", path])
            self.assertEqual(rc, 0, "README config #%d does not check:\n%s\n%s" % (i + 1, block,
                                                                               out + err))

    def test_quickstart_conf_checks(self):
        # the config names the example app by $HELLO_FCGI, which ./quickstart sets
        app = os.path.join(BUILDDIR, "examples", "hello_fcgi")
        if not os.access(app, os.X_OK):
            raise AssertionError("%s not built (make check builds it)" % app)
        rc, out, err = run(["-t", "-f", os.path.join(SRCDIR, "examples", "quickstart.conf")],
                           env=dict(os.environ, HELLO_FCGI=app))
        self.assertEqual(rc, 0, out + err)
