"""examples/php as shipped (portico.conf, php-fpm.conf, app/): every route of the front
controller over both ways of serving it, php-cgi started by portico on demand at / and php-fpm
under /fpm/: bodies, status codes, Location, session cookies, upload checksums (multipart and
chunked), X-Sendfile byte identity with the proof that portico sent the file (the backend's
x_sendfile count), the plain script, and a restart-file touched under load with no failed
request. Only the addresses and directories are changed, by replacing the lines that set them.
Skipped only when php-cgi or php-fpm is missing."""

import hashlib
import os
import random
import shutil
import time

from harness import (SRCDIR, Client, GatewayTest, Proc, chunked, conf_str, free_port, multipart,
                     request_bytes, wait_port)
from test_php import php_fpm_binary

EXAMPLE = os.path.join(SRCDIR, "examples", "php")
WAYS = (("", "php-cgi"), ("/fpm", "php-fpm"))  # (mount, what serves it)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def replaced(text, pairs, what):
    for old, new in pairs:
        if old not in text:
            raise AssertionError("%s no longer has %r" % (what, old))
        text = text.replace(old, new)
    return text


class PhpExample(GatewayTest):
    def setUp(self):
        self.fpm = php_fpm_binary()
        if not shutil.which("php-cgi") or not self.fpm:
            self.skipTest("php-cgi or php-fpm not installed (apt-get install php-cgi php-fpm)")
        super().setUp()
        os.chmod(self.tmp, 0o755)
        self.files = os.path.join(self.tmp, "files")
        os.makedirs(self.files)
        self.data = random.Random(12).randbytes(300000)
        with open(os.path.join(self.files, "sample.bin"), "wb") as f:
            f.write(self.data)
        self.restart = os.path.join(self.tmp, "restart.txt")
        fpm_port = free_port()
        with open(os.path.join(EXAMPLE, "php-fpm.conf")) as f:
            fpm_conf = replaced(f.read(), (
                ("listen = 127.0.0.1:9000", "listen = 127.0.0.1:%d" % fpm_port),
                ("catch_workers_output = yes", "catch_workers_output = yes\n"
                 "env[FILES_DIR] = %s" % self.files)), "php-fpm.conf")
        fpm_conf = fpm_conf.replace("[global]", "[global]\npid = %s/fpm.pid" % self.tmp)
        argv = [self.fpm, "-F", "-y", self.write("php-fpm.conf", fpm_conf)]
        if os.geteuid() == 0:
            argv.insert(1, "-R")
        self.add_proc(Proc("php-fpm", argv, self.tmp, stdout_pipe=False))
        self.assertTrue(wait_port(fpm_port, 20), "php-fpm did not listen on %d" % fpm_port)
        port = free_port()
        with open(os.path.join(EXAMPLE, "portico.conf")) as f:
            conf = replaced(f.read(), (
                ("server.port = 8080", "server.port = %d" % port),
                ('var.app   = env.PWD + "/examples/php/app"',
                 "var.app = %s" % conf_str(os.path.join(EXAMPLE, "app"))),
                ('var.files = "/tmp/portico-php-files"', "var.files = %s" % conf_str(self.files)),
                ('env.PWD + "/examples/php/restart.txt"', conf_str(self.restart)),
                ('"pass-socket"  => "fd0",', '"pass-socket"  => "fd0",\n'
                 '    "environment" => ( "FILES_DIR" => var.files ),'),
                ('"127.0.0.1:9000"', '"127.0.0.1:%d"' % fpm_port)), "portico.conf")
        self.pt = self.start_portico(conf, port=port, raw=True)

    def fetch(self, target, **kw):
        kw.setdefault("timeout", 30)
        return self.get(self.pt.port, target, **kw)

    def status(self):
        return self.fetch("/portico/status").json()

    def php_processes(self):
        return [p for a in self.status()["apps"] if a["name"] == "php" and not a.get("retired")
                for p in a["processes"]]

    def sent_files(self):
        """x_sendfile counts: the php-cgi slots together, and php-fpm."""
        counts = {"php-cgi": 0, "php-fpm": 0}
        for pool in self.status()["pools"]:
            for b in pool["backends"]:
                counts["php-cgi" if b["name"].startswith("spawn:") else "php-fpm"] += \
                    b["x_sendfile"]
        return counts

    def text(self, target, **kw):
        r = self.fetch(target, **kw)
        self.assertEqual(r.status, 200, r)
        return r.body.decode()

    def test_on_demand(self):
        self.assertEqual(self.php_processes(), [], "php-cgi started before any request")
        self.assertEqual(self.text("/"), "front controller: SCRIPT_NAME= PATH_INFO=/\n")
        self.assertEqual(len(self.php_processes()), 1, self.pt.stderr_text()[-2000:])

    def test_front_controller(self):
        for mount, way in WAYS:
            with self.subTest(way=way):
                self.assertEqual(self.text(mount + "/"),
                                 "front controller: SCRIPT_NAME=%s PATH_INFO=/\n" % mount)
                self.assertEqual(self.text(mount + "/hello/world"), "hello world\n")
                r = self.fetch(mount + "/go")
                self.assertEqual((r.status, r.header("Location")), (302, mount + "/hello/again"))
                r = self.fetch(mount + "/no/such/page")
                self.assertEqual((r.status, r.body), (404, b"no page at /no/such/page\n"))
        # a script of its own at the root; under /fpm every path is the front controller's
        body = self.text("/info.php")
        self.assertTrue(body.startswith("plain script /info.php pid ") and "via cgi-fcgi" in body,
                        body)
        self.assertEqual(self.fetch("/fpm/info.php").status, 404)

    def test_sessions(self):
        for mount, way in WAYS:
            with self.subTest(way=way):
                r = self.fetch(mount + "/visits")
                self.assertEqual(r.body, b"visits 1\n")
                cookie = r.header("Set-Cookie")
                self.assertTrue(cookie and cookie.startswith("PHPSESSID="), r)
                sid = cookie.split(";")[0]
                for n in (2, 3):
                    r = self.fetch(mount + "/visits", headers=[("Cookie", sid)])
                    self.assertEqual(r.body, b"visits %d\n" % n)
                self.assertEqual(self.text(mount + "/visits"), "visits 1\n")  # no cookie

    def test_uploads(self):
        small = b"a small file\n"
        body, ctype = multipart([("note", "hi")], [("big", "sample.bin", self.data),
                                                   ("small", "s.txt", small)])
        for mount, way in WAYS:
            for framing in ("length", "chunked"):
                with self.subTest(way=way, framing=framing):
                    with Client(self.pt.port, timeout=30) as c:
                        if framing == "length":
                            c.send(request_bytes("POST", mount + "/upload",
                                                 headers=[("Content-Type", ctype)], body=body))
                        else:
                            pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
                            c.send(request_bytes("POST", mount + "/upload",
                                                 headers=[("Content-Type", ctype),
                                                          ("Transfer-Encoding", "chunked")])
                                   + chunked(pieces))
                        r = c.read_response()
                    self.assertEqual(r.status, 200, r)
                    j = r.json()
                    self.assertEqual(j["fields"], {"note": "hi"})
                    self.assertEqual(j["files"]["big"], {"name": "sample.bin",
                                                         "size": len(self.data), "error": 0,
                                                         "sha256": sha(self.data)})
                    self.assertEqual(j["files"]["small"]["sha256"], sha(small))

    def test_download_through_x_sendfile(self):
        for mount, way in WAYS:
            with self.subTest(way=way):
                before = self.sent_files()
                r = self.fetch(mount + "/download")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(sha(r.body), sha(self.data))
                self.assertEqual(r.header("Content-Length"), str(len(self.data)))
                self.assertEqual(r.header("Content-Disposition"),
                                 'attachment; filename="sample.bin"')
                self.assertIsNone(r.header("X-Sendfile"))
                r = self.fetch(mount + "/download", headers=[("Range", "bytes=10-19")])
                self.assertEqual((r.status, r.body), (206, self.data[10:20]))
                etag = r.header("ETag")
                r = self.fetch(mount + "/download", headers=[("If-None-Match", etag)])
                self.assertEqual(r.status, 304, r)
                # a name outside the files directory is refused, and not counted
                self.assertEqual(self.fetch(mount + "/download?name=nope.bin").status, 404)
                after = self.sent_files()
                self.assertEqual(after[way] - before[way], 3, (before, after))

    def test_restart_file_under_load(self):
        self.assertEqual(self.text("/hello/a"), "hello a\n")
        before = {p["pid"] for p in self.php_processes()}
        with self.requests_during(self.pt.port, ["/hello/load"] * 3) as results:
            time.sleep(1.2)  # (the file is looked at every second)
            with open(self.restart, "w"):
                pass
            deadline = time.monotonic() + 60
            while True:
                now = {p["pid"] for p in self.php_processes() if p["state"] != "starting"}
                if now and not now & before:
                    break
                self.assertLess(time.monotonic(), deadline, self.pt.stderr_text()[-3000:])
                time.sleep(0.1)
            time.sleep(0.5)
        failed = [x for x in results if x != 200]
        print("examples/php, restart-file touched under load: %d requests, %d failed"
              % (len(results), len(failed)))
        self.assertEqual(failed, [])
        self.assertGreater(len(results), 20)
        self.assertIn("app php: restart-file: replacing", self.pt.stderr_text())
