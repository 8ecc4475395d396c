"""Routes compiled at load (docs/config.md, "Routes are compiled at load"): sibling blocks that
hold together (x-sendfile on/off with docroots, rewrites, protocols, balancers) pass -t, and a
request matching each combination never gets a 500 nor an error-log line about the config; a
combination that is invalid together fails -t with FILE:LINE; the bound warns and still loads."""

import os
import re
import signal
import subprocess
import time
import urllib.parse

from harness import PORTICO, BACKENDS, Client, GatewayTest, conf_list, conf_str, request_bytes

# token in the query -> the settings of its sibling block (each block's condition looks for it)
FLAG_BLOCKS = (
    ("xon", '  proxy-core.allow-x-sendfile = "enable"\n'
            "  proxy-core.x-sendfile-docroot = %(root)s\n"),
    ("xoff", '  proxy-core.allow-x-sendfile = "disable"\n'),
    ("root2", "  proxy-core.x-sendfile-docroot += %(root2)s\n"),
    ("rq", '  proxy-core.rewrite-request = ( "_uri" => ( "^(.*)$" => "$1" ),'
           ' "X-Combo" => ( ".*" => "rewritten" ) )\n'),
    ("rs", '  proxy-core.rewrite-response = ( "X-Echo" => ( "^(.*)$" => "rs-$1" ) )\n'),
    ("brr", '  proxy-core.balancer = "round-robin"\n'),
    ("bhash", '  proxy-core.balancer = "hash"\n'),
    ("bstatic", '  proxy-core.balancer = "static"\n'),
    ("xrw", '  proxy-core.allow-x-rewrite = "enable"\n'),
)


def run_t(path):
    p = subprocess.run([PORTICO, "-t", "-f", path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


class Combinations(GatewayTest):
    def protocols(self):
        out = [("h", "http_echo", "http"), ("s", "scgi_echo", "scgi")]
        if os.access(os.path.join(BACKENDS, "fcgi_echo"), os.X_OK):
            out.append(("f", "fcgi_echo", "fastcgi"))
        return out

    def test_every_combination_answers(self):
        root = os.path.join(self.tmp, "root")
        root2 = os.path.join(self.tmp, "root2")
        os.makedirs(root)
        os.makedirs(root2)
        fpath = self.write("root/f.txt", "from the file\n")
        protos = self.protocols()
        conf = ""
        first = True
        for prefix, backend, proto in protos:  # one chain: the protocol
            addr = self.start_backend(backend)
            conf += ('%s$HTTP["url"] =^ "/%s/" {\n'
                     "  proxy-core.protocol = %s\n"
                     "  proxy-core.backends = %s\n"
                     % ("" if first else "} else ", prefix, conf_str(proto), conf_list([addr])))
            first = False
        conf += "}\n"
        values = {"root": conf_list([root]), "root2": conf_list([root2])}
        for token, body in FLAG_BLOCKS:  # siblings: every subset can hold together
            conf += ('$HTTP["querystring"] =~ "(^|&)%s(&|$)" {\n%s}\n'
                     % (token, body % values))
        path = self.write("combos.conf", conf)
        rc, out, err = run_t(path)
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration OK", out)
        self.assertNotIn("warning", err)

        pt = self.start_portico(conf)
        xs = urllib.parse.quote("X-Sendfile:" + fpath, safe="")
        seen = {}
        n = len(FLAG_BLOCKS)
        for prefix in [p[0] for p in protos] + ["none"]:
            for start in range(0, 1 << n, 128):  # well under the keep-alive request limit
                self.send_masks(pt, prefix, start, min(start + 128, 1 << n), xs, seen)
        self.assertEqual(len(seen), (len(protos) + 1) << n)
        log = pt.stderr_text()
        self.assertNotIn(pt.conf_path, log)
        self.assertNotIn("[error]", log)

    def send_masks(self, pt, prefix, lo, hi, xs, seen):
        n = len(FLAG_BLOCKS)
        with Client(pt.port, timeout=20) as c:
            for mask in range(lo, hi):
                tokens = [FLAG_BLOCKS[i][0] for i in range(n) if mask >> i & 1]
                query = "&".join(tokens + ["header=" + xs])
                c.send(request_bytes("GET", "/%s/x?%s" % (prefix, query)))
                r = c.read_response()
                self.assertNotEqual(r.status, 500, "%s %s: %r" % (prefix, tokens, r))
                want = 404 if prefix == "none" else 200
                self.assertEqual(r.status, want, "%s %s: %r" % (prefix, tokens, r))
                if prefix != "none":
                    allowed = "xon" in tokens and "xoff" not in tokens
                    served = r.body == b"from the file\n"
                    self.assertEqual(served, allowed, "%s %s: %r" % (prefix, tokens, r))
                seen[(prefix, mask)] = r.status

    def test_invalid_combination_fails_t(self):
        root = os.path.join(self.tmp, "root")
        os.makedirs(root)
        conf = ('server.port = 8080\n'
                '$HTTP["url"] =^ "/app/" {\n'
                '  proxy-core.backends = ( "127.0.0.1:9" )\n'
                '  proxy-core.allow-x-sendfile = "enable"\n'
                "  proxy-core.x-sendfile-docroot = %s\n"
                "}\n"
                '$HTTP["url"] =~ "\\.txt$" {\n'
                "  proxy-core.x-sendfile-docroot = ()\n"
                "}\n" % conf_str(root))
        path = self.write("bad.conf", conf)
        rc, out, err = run_t(path)
        self.assertNotEqual(rc, 0, out)
        self.assertTrue(err.startswith(path + ":4: proxy-core.allow-x-sendfile needs "
                                       "proxy-core.x-sendfile-docroot"), err)
        self.assertIn(path + ":2, " + path + ":7 hold together", err)
        # exclusive conditions are never combined: the same blocks on =^ prefixes load
        ok = conf.replace('=~ "\\.txt$"', '=^ "/static/"')
        rc, out, err = run_t(self.write("ok.conf", ok))
        self.assertEqual(rc, 0, err)

    def test_unknown_names_fail_t_with_known_list(self):
        path = self.write("p.conf", 'server.port = 8080\n$HTTP["url"] =^ "/a/" {\n'
                                    '  proxy-core.protocol = "uwsgi"\n}\n')
        rc, out, err = run_t(path)
        self.assertNotEqual(rc, 0)
        self.assertIn(path + ':3: unknown proxy-core.protocol "uwsgi" (known: http, fastcgi, '
                      "scgi)", err)
        path = self.write("b.conf", 'proxy-core.balancer = "random"\n')
        rc, out, err = run_t(path)
        self.assertNotEqual(rc, 0)
        self.assertIn(path + ':1: unknown proxy-core.balancer "random" (known: round-robin, '
                      "sqf, hash, carp, static)", err)

    def test_bound_warns_and_loads(self):
        addr = self.start_backend("http_echo")
        conf = "proxy-core.backends = %s\n" % conf_list([addr])
        for k in range(17):
            conf += ('$HTTP["querystring"] =~ "(^|&)b%d(&|$)" {\n'
                     "  proxy-core.max-retries = %d\n}\n" % (k, k))
        path = self.write("many.conf", conf)
        rc, out, err = run_t(path)
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration OK", out)
        # every combination of up to 8 of the 17 blocks fits (65536); the first one cut adds
        # block 8 (line 26) to blocks 0-7
        self.assertRegex(err, r"warning: %s:26: more than 65536 combinations" % re.escape(path))
        pt = self.start_portico(conf)
        for q in ("b0&b16", "b1", "&".join("b%d" % k for k in range(17)), ""):
            r = self.get(pt.port, "/x?" + q)
            self.assertEqual(r.status, 200, r)
        log = pt.stderr_text()
        self.assertEqual(log.count("more than 65536 combinations"), 1, log)

    def wait_log(self, pt, text, count=1, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pt.stderr_text().count(text) >= count:
                return
            time.sleep(0.05)
        self.fail("not logged within %.1f s: %r\n%s" % (timeout, text, pt.stderr_text()[-3000:]))

    def test_reload_compiles_before_the_swap(self):
        """SIGHUP compiles every combination of the new config to the side: an invalid one is
        refused with FILE:LINE and the running routes stay; a bounded one logs its warning."""
        addr = self.start_backend("http_echo")
        root = os.path.join(self.tmp, "root")
        os.makedirs(root)
        pt = self.start_portico('$HTTP["url"] =^ "/app/" {\n'
                                "  proxy-core.backends = %s\n"
                                '  proxy-core.allow-x-sendfile = "enable"\n'
                                "  proxy-core.x-sendfile-docroot = %s\n"
                                "}\n" % (conf_list([addr]), conf_str(root)))
        with open(pt.conf_path, "a") as f:
            f.write('$HTTP["querystring"] =~ "z" {\n  proxy-core.x-sendfile-docroot = ()\n}\n')
        pt.send_signal(signal.SIGHUP)
        self.wait_log(pt, "reload refused")
        self.assertRegex(pt.stderr_text(), r"reload refused.*portico-\d+\.conf:\d+: "
                                           r"proxy-core.allow-x-sendfile needs")
        for q in ("", "?z"):
            self.assertEqual(self.get(pt.port, "/app/x" + q).status, 200)
        with open(pt.conf_path, "a") as f:
            for k in range(16):
                f.write('$HTTP["querystring"] =~ "b%d" { proxy-core.max-retries = %d }\n' % (k, k))
        with open(pt.conf_path) as f:
            text = f.read()
        with open(pt.conf_path, "w") as f:
            f.write(text.replace("x-sendfile-docroot = ()", "max-retries = 1"))
        pt.send_signal(signal.SIGHUP)
        self.wait_log(pt, "configuration reloaded")
        self.assertEqual(pt.stderr_text().count("more than 65536 combinations"), 1)
        for q in ("", "?z", "?b1&b12&z"):
            self.assertEqual(self.get(pt.port, "/app/x" + q).status, 200)
        self.assertEqual(pt.stderr_text().count("[error]"), 1)  # the refused reload only
