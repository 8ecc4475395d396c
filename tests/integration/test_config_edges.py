"""Edges of what the gateway records and routes: access-log lines of requests whose head
could not be parsed, and routes of many matching blocks."""

import re
import time

import signal
import socket

from harness import Client, GatewayTest, free_port, request_bytes, route


class AccessLogUnparsedHead(GatewayTest):
    def _lines(self, log):
        time.sleep(0.3)
        with open(log) as f:
            return f.read().splitlines()

    def test_bad_head_is_logged_with_its_own_time(self):
        # gw_request_take_head (client/request.c) sets c->t_start only after a head parsed:
        # a 400 for an unparsable head is logged with t_start 0 (1970, a duration of decades)
        # on a fresh connection, or with the previous request's time on a kept-alive one.
        log = "%s/access.log" % self.tmp
        be = self.start_backend("http_echo")
        pt = self.start_portico('accesslog.filename = "%s"\n' % log + route([be]))
        with Client(pt.port) as c:
            c.send(b"GET / HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n")
            r = c.read_response()
            self.assertEqual(r.status, 400)
        lines = self._lines(log)
        self.assertEqual(len(lines), 1, lines)
        self.assertNotIn("1970", lines[0])
        secs = float(lines[0].split("\" ")[-1].split()[-2])
        self.assertLess(secs, 60.0, lines[0])

    def test_bad_head_after_a_kept_alive_request_has_its_own_duration(self):
        log = "%s/access.log" % self.tmp
        be = self.start_backend("http_echo")
        pt = self.start_portico('accesslog.filename = "%s"\n' % log + route([be]))
        with Client(pt.port) as c:
            c.send(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(c.read_response().status, 200)
            time.sleep(1.2)
            c.send(b"GET / HTTP/1.1\r\nHost: a\r\nBad Field: x\r\n\r\n")
            self.assertEqual(c.read_response().status, 400)
        lines = self._lines(log)
        self.assertEqual(len(lines), 2, lines)
        secs = float(lines[1].split("\" ")[-1].split()[-2])
        self.assertLess(secs, 1.0, "the 400 was timed from the previous request: " + lines[1])


class ConnectionNamedFieldsToCgi(GatewayTest):
    def test_field_named_late_in_connection_is_not_passed(self):
        # cgi.c collects at most 32 Connection tokens (MAX_CONN_TOKENS): a hop-by-hop field
        # named by the 33rd becomes HTTP_* for FastCGI/SCGI, though the HTTP adapter drops it.
        be = self.start_backend("scgi_echo")
        pt = self.start_portico(route([be], "scgi"))
        tokens = ", ".join(["t%d" % i for i in range(32)] + ["X-Secret-Hop"])
        r = self.get(pt.port, "/x", headers=[("Connection", tokens), ("X-Secret-Hop", "1")])
        self.assertEqual(r.status, 200)
        p = r.json()["params"]
        self.assertNotIn("HTTP_X_SECRET_HOP", p, "a field Connection names was passed on")


class ReloadWhileStopping(GatewayTest):
    def test_sighup_during_graceful_stop_opens_no_listener(self):
        # on_stop (main.c) retires every listener; a SIGHUP that follows runs gw_listeners_sync,
        # which finds none and opens (binds and listens on) them all again, never accepting:
        # clients are neither refused nor served, and the port stays taken until the exit.
        be = self.start_backend("http_echo")
        pt = self.start_portico(route([be]))
        c = Client(pt.port, timeout=10)
        self.addCleanup(c.close)
        c.send(request_bytes("GET", "/slow?delay_ms=1500"))
        time.sleep(0.2)
        pt.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        pt.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        refused = False
        try:
            socket.create_connection(("127.0.0.1", pt.port), timeout=1).close()
        except OSError:
            refused = True
        self.assertTrue(refused, "a stopping portico listens again after SIGHUP")
        self.assertEqual(c.read_response().status, 200)


class ListenerSettings(GatewayTest):
    def test_body_limit_set_in_a_socket_block_applies_to_that_listener(self):
        # docs/config.md: server.max-* set directly inside a $SERVER["socket"] block apply "for
        # that listener"; load_server (config/route.c) reads the top level only, and nothing
        # reads the block's values, so the listener runs with the global limits.
        be = self.start_backend("http_echo")
        port2 = free_port()
        pt = self.start_portico(
            route([be]) + '$SERVER["socket"] == "127.0.0.1:%d" {\n'
            '  server.max-request-size = 10\n}\n' % port2, extra_ports=(port2,))
        body = b"x" * 100
        self.assertEqual(self.get(pt.port, "/a", "POST", body=body).status, 200)
        self.assertEqual(self.get(port2, "/a", "POST", body=body).status, 413,
                         "the socket block's server.max-request-size was ignored")

    def test_config_check_refuses_what_the_start_refuses(self):
        # `portico -t` says OK for a $SERVER["socket"] name that is no address; the start then
        # fails ("cannot listen on ...: not an address").
        import subprocess
        from harness import PORTICO
        path = "%s/t.conf" % self.tmp
        with open(path, "w") as f:
            f.write('server.port = %d\n$SERVER["socket"] == "bogus-name" { }\n' % free_port())
        r = subprocess.run([PORTICO, "-t", "-f", path], capture_output=True, timeout=20)
        self.assertNotEqual(r.returncode, 0, "-t accepted a socket name the start refuses")


class AbsoluteFormThenXRewrite(GatewayTest):
    def test_rewritten_request_keeps_the_target_authority(self):
        # gw_request_build (client/request.c) takes an absolute-form target's authority as the
        # Host but leaves c->info.host the received Host field; an X-Rewrite-URI re-dispatch
        # (respond/xrewrite.c) builds from c->info.host again, so the second route, SERVER_NAME
        # and X-Forwarded-Host see the Host field RFC 9112 §3.2.2 says to ignore.
        import urllib.parse
        be = self.start_backend("http_echo")
        hdr = urllib.parse.quote("X-Rewrite-URI:/y", safe="")
        pt = self.start_portico(
            route([be], extra='  proxy-core.allow-x-rewrite = "enable"\n'))
        with Client(pt.port) as c:
            c.send(b"GET http://a.test/x?header=" + hdr.encode() +
                   b" HTTP/1.1\r\nHost: b.test\r\n\r\n")
            r = c.read_response()
        self.assertEqual(r.status, 200, r)
        j = r.json()
        self.assertEqual(j["target"], "/y")
        got = dict((n.lower(), v) for n, v in j["headers"])
        self.assertEqual(got.get("host"), "a.test")
        self.assertEqual(got.get("x-forwarded-host"), "a.test",
                         "the re-dispatched request took the ignored Host field")
