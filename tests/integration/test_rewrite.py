"""proxy-core.rewrite-request / rewrite-response (SPEC §3, §5): PCRE2 regexes over request
headers, the pseudo headers "_uri", "_scriptname", "_pathinfo", "_docroot", and response headers;
$0..$9 are captures, "$$" a literal '$'; the whole value is replaced on a match. The classic
mod_proxy_core setup: an app mounted under /proxyme that believes it lives at "/"."""

import os
import re
import subprocess
import urllib.parse

from harness import (PORTICO, Client, GatewayTest, conf_list, conf_str, free_port,
                     request_bytes, sanitizer_report)

PROTOS = (("", "http_echo", "http"), ("f", "fcgi_echo", "fastcgi"), ("s", "scgi_echo", "scgi"))


def q(s):
    return urllib.parse.quote(s, safe="")


def seen(j, name):
    """The values of request header `name` an echo backend saw (HTTP: headers; CGI: HTTP_*)."""
    if "headers" in j:
        return [v for n, v in j["headers"] if n.lower() == name.lower()]
    key = "HTTP_" + name.upper().replace("-", "_")
    return [j["params"][key]] if key in j["params"] else []


class Rewrites(GatewayTest):
    def setUp(self):
        super().setUp()
        self.addrs = {}
        conf = ""
        self.port = free_port()  # known before the config: rewrite-response names it
        for p, backend, proto in PROTOS:
            addr = self.start_backend(backend)
            self.addrs[p] = addr
            conf += (
                '$HTTP["url"] =^ "/%sproxyme" {\n'
                "  proxy-core.protocol = %s\n"
                "  proxy-core.backends = %s\n"
                '  server.document-root = "/srv/app"\n'
                '  proxy-core.rewrite-request = (\n'
                '    "_uri" => ( "^/%sproxyme(/.*)" => "$1", "^/%sproxyme$" => "/" ),\n'
                '    "X-Test" => ( "^([a-z]+)-([a-z]+)$" => "$2-$1",\n'
                '                  "^cost:([0-9]+)$" => "$$$1 $$1 $9|$0",\n'
                '                  "^drop$" => "" ),\n'
                '    "x-lower" => ( "^(.*)$" => "[$1]" ),\n'
                "  )\n"
                '  proxy-core.rewrite-response = (\n'
                '    "Location" => ( "^http://127\\\\.0\\\\.0\\\\.1:%d/(.*)" => '
                '"http://example.org/%sproxyme/$1" ),\n'
                '    "x-resp" => ( "^(a)(b)?(c)$" => "<$1|$2|$3>" ),\n'
                "  )\n"
                "}\n" % (p, conf_str(proto), conf_list([addr]), p, p, self.port, p))
            conf += (
                '$HTTP["url"] =^ "/%sparts" {\n'
                "  proxy-core.protocol = %s\n"
                "  proxy-core.backends = %s\n"
                '  server.document-root = "/srv/a"\n'
                '  proxy-core.script-name = "/%sparts"\n'
                '  proxy-core.rewrite-request = (\n'
                '    "_scriptname" => ( "^/(.*)$" => "/mounted/$1" ),\n'
                '    "_pathinfo" => ( "^/(.*)$" => "/info/$1" ),\n'
                '    "_docroot" => ( "^/srv/a$" => "/srv/b" ),\n'
                "  )\n"
                "}\n" % (p, conf_str(proto), conf_list([addr]), p))
        self.pt = self.start_portico(conf, port=self.port)

    def fetch(self, target, **kw):
        return self.get(self.pt.port, target, **kw)

    # ---- rewrite-request ----

    def test_uri_http(self):
        for target, want in (("/proxyme/x", "/x"), ("/proxyme/a/b?q=1&r=2", "/a/b?q=1&r=2"),
                             ("/proxyme", "/"), ("/proxyme/", "/")):
            with self.subTest(target=target):
                r = self.fetch(target)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["target"], want)

    def test_uri_cgi(self):
        # REQUEST_URI stays what the client sent; the rewritten target is REDIRECT_URI (as
        # lighttpd names it); SCRIPT_NAME and QUERY_STRING come from the client's target
        for p in ("f", "s"):
            with self.subTest(proto=p):
                r = self.fetch("/%sproxyme/x/y?q=1" % p)
                self.assertEqual(r.status, 200, r)
                prm = r.json()["params"]
                self.assertEqual(prm["REQUEST_URI"], "/%sproxyme/x/y?q=1" % p)
                self.assertEqual(prm["REDIRECT_URI"], "/x/y?q=1")
                self.assertEqual(prm["QUERY_STRING"], "q=1")
                self.assertEqual(prm["SCRIPT_NAME"], "/%sproxyme/x/y" % p)
                # no rewrite matched: no REDIRECT_URI
                r = self.fetch("/%sproxymeX" % p)
                self.assertNotIn("REDIRECT_URI", r.json()["params"])

    def test_header_captures(self):
        for p, _, _ in PROTOS:
            t = "/%sproxyme/h" % p
            cases = (
                ("left-right", "right-left"),
                ("cost:42", "$42 $1 |cost:42"),  # "$$" is a '$'; an unset $9 is empty
                ("Left-right", "Left-right"),    # no pattern matches: unchanged
                ("drop", ""),
            )
            for value, want in cases:
                with self.subTest(proto=p, value=value):
                    r = self.fetch(t, headers=[("X-Test", value)])
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(seen(r.json(), "X-Test"), [want])  # "" stays a field
            with self.subTest(proto=p, case="name is case-insensitive"):
                r = self.fetch(t, headers=[("X-LOWER", "v")])
                self.assertEqual(seen(r.json(), "X-Lower"), ["[v]"])
            with self.subTest(proto=p, case="absent stays absent"):
                self.assertEqual(seen(self.fetch(t).json(), "X-Test"), [])

    REPEATED = (([("X-Test", "a-b"), ("X-Other", "o"), ("X-Test", "keep")], ["b-a", "keep"]),
                ([("X-Test", "keep"), ("X-Test", "a-b")], ["keep", "b-a"]),
                ([("X-Test", "c"), ("X-Test", "d")], ["c", "d"]))

    # A name given several times: each field is rewritten on its own, every one is sent, in
    # order. The HTTP encoder sends only the first field of a rewritten name, once.
    def test_repeated_header_each_rewritten_http(self):
        for headers, want in self.REPEATED:
            with self.subTest(headers=headers):
                j = self.fetch("/proxyme/h", headers=headers).json()
                self.assertEqual(seen(j, "X-Test"), want)
                self.assertEqual(seen(j, "X-Other"), ["o"] if len(headers) == 3 else [])

    def test_repeated_header_each_rewritten_cgi(self):
        for p in ("f", "s"):
            for headers, want in self.REPEATED:
                with self.subTest(proto=p, headers=headers):
                    j = self.fetch("/%sproxyme/h" % p, headers=headers).json()
                    self.assertEqual(seen(j, "X-Test"), [", ".join(want)])

    def test_cgi_pseudo_headers(self):
        for p in ("f", "s"):
            with self.subTest(proto=p):
                prm = self.fetch("/%sparts/x/y" % p).json()["params"]
                self.assertEqual(prm["SCRIPT_NAME"], "/mounted/%sparts" % p)
                self.assertEqual(prm["PATH_INFO"], "/info/x/y")
                self.assertEqual(prm["DOCUMENT_ROOT"], "/srv/b")
                # SCRIPT_FILENAME moves with the docroot
                self.assertTrue(prm["SCRIPT_FILENAME"].startswith("/srv/b/"), prm)

    # ---- rewrite-response ----

    def test_location(self):
        for p, _, _ in PROTOS:
            with self.subTest(proto=p):
                loc = "http://127.0.0.1:%d/app/page?x=1" % self.pt.port
                r = self.fetch("/%sproxyme/r?header=%s" % (p, q("Location:" + loc)))
                self.assertEqual(r.header("Location"),
                                 "http://example.org/%sproxyme/app/page?x=1" % p)
                self.assertEqual(len(r.all("Location")), 1)
                # not matching: unchanged
                other = "http://127.0.0.2:%d/app" % self.pt.port
                r = self.fetch("/%sproxyme/r?header=%s" % (p, q("Location:" + other)))
                self.assertEqual(r.header("Location"), other)

    def test_location_redirect_status(self):
        loc = "http://127.0.0.1:%d/there" % self.pt.port
        for p, _, _ in PROTOS:
            with self.subTest(proto=p):
                r = self.fetch("/%sproxyme/r?status=302&header=%s" % (p, q("Location:" + loc)))
                self.assertEqual(r.status, 302)
                self.assertEqual(r.header("Location"), "http://example.org/%sproxyme/there" % p)

    def test_response_header_unset_group(self):
        for p, _, _ in PROTOS:
            with self.subTest(proto=p):
                r = self.fetch("/%sproxyme/r?header=%s&header=%s"
                               % (p, q("X-Resp:ac"), q("x-resp:abc")))
                self.assertEqual(r.all("X-Resp"), ["<a||c>", "<a|b|c>"])

    def test_keepalive_across_rewrites(self):
        with Client(self.pt.port) as c:
            for i in range(3):
                c.send(request_bytes("GET", "/proxyme/k%d" % i, headers=[("X-Test", "a-b")]))
                j = c.read_response().json()
                self.assertEqual((j["target"], seen(j, "X-Test")), ("/k%d" % i, ["b-a"]))


def check(path):
    p = subprocess.run([PORTICO, "-t", "-f", path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


class RewriteConfig(GatewayTest):
    """Rewrites are checked by portico -t: a result can never carry CR or LF into a header."""

    def conf(self, rewrite, key="rewrite-request"):
        return ('server.port = 8080\n'
                '$HTTP["url"] =^ "/x" {\n'
                '  proxy-core.backends = ( "127.0.0.1:9" )\n'
                '  proxy-core.%s = %s\n'
                '}\n' % (key, rewrite))

    def assertRefused(self, text, needle=None):
        path = os.path.join(self.tmp, "c%d.conf" % len(os.listdir(self.tmp)))
        with open(path, "w", newline="") as f:
            f.write(text)
        rc, out = check(path)
        self.assertFalse(sanitizer_report(out), out)
        self.assertEqual(rc, 1, out)
        # FILE:LINE: the rewrite is on line 4 (a raw LF in it may end the string on line 5)
        self.assertRegex(out, re.escape(path) + ":[45]: ")
        if needle:
            self.assertIn(needle, out)
        return out

    def test_good_config_checks(self):
        path = os.path.join(self.tmp, "good.conf")
        with open(path, "w") as f:
            f.write(self.conf('( "_uri" => ( "^/x(/.*)" => "$1" ), "X-A" => ( "a" => "b" ) )') +
                    self.conf('( "Location" => ( "^http://h/(.*)" => "/$1" ) )',
                              "rewrite-response").replace("server.port = 8080\n", ""))
        rc, out = check(path)
        self.assertEqual(rc, 0, out)

    def test_cr_or_lf_in_replacement_refused(self):
        for key in ("rewrite-request", "rewrite-response"):
            for bad in ("a\rb", "a\nb", "a\r\nX-Injected: 1"):
                with self.subTest(key=key, repl=bad):
                    self.assertRefused(self.conf('( "X-A" => ( "^(.*)$" => "%s" ) )' % bad, key))

    def test_bad_regex_refused(self):
        out = self.assertRefused(self.conf('( "X-A" => ( "^(unclosed" => "x" ) )'))
        self.assertIn("regex", out)

    def test_bad_names_refused(self):
        self.assertRefused(self.conf('( "_nosuch" => ( "a" => "b" ) )'), "pseudo header")
        self.assertRefused(self.conf('( "X A" => ( "a" => "b" ) )'))
        self.assertRefused(self.conf('( "X-A" => ( "a" => 5 ) )'))
        self.assertRefused(self.conf('( "X-A" => "b" )'))
