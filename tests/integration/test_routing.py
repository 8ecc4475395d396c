"""Routing by conditions (SPEC §2): url (=^, =~, =$), host, method, remote-ip (CIDR), request
headers, else chains, nesting, key-by-key override, no route -> 404, and a second listener
opened by $SERVER["socket"] with its own routes. Each echo backend names itself in its answer,
so the test sees which route a request took."""

from harness import Client, GatewayTest, conf_list, free_port, request_bytes


def be(addrs):
    return "  proxy-core.backends = %s\n" % conf_list(addrs)


class Routing(GatewayTest):
    def setUp(self):
        super().setUp()
        self.a, self.b, self.c, self.d = (self.start_backend("http_echo") for _ in range(4))
        self.port2 = free_port()
        a, b, c, d = ([x] for x in (self.a, self.b, self.c, self.d))
        conf = (
            '$HTTP["url"] =^ "/a/" {\n' + be(a) +
            '} else $HTTP["url"] =~ "^/b(/|$)" {\n' + be(b) +
            '} else $HTTP["url"] =$ ".cee" {\n' + be(c) +
            '}\n'
            '$HTTP["host"] == "host-d.test" {\n' + be(d) + '}\n'
            '$HTTP["url"] =^ "/m/" {\n'
            '  $HTTP["request-method"] == "DELETE" {\n' + be(d) +
            '  } else $HTTP["request-method"] =~ "^(GET|HEAD)$" {\n' + be(a) + '  }\n'
            '}\n'
            '$HTTP["url"] =^ "/ip/" {\n'
            '  $HTTP["remote-ip"] == "10.0.0.0/8" {\n' + be(a) +
            '  } else $HTTP["remote-ip"] == "127.0.0.0/8" {\n' + be(b) + '  }\n'
            '}\n'
            '$HTTP["url"] =^ "/ipne/" {\n'
            '  $HTTP["remote-ip"] != "127.0.0.1" {\n' + be(a) + '  } else {\n' + be(c) + '  }\n'
            '}\n'
            '$REQUEST_HEADER["X-Route"] == "to-c" {\n' + be(c) + '}\n'
            '$HTTP["querystring"] =~ "(^|&)tenant=d(&|$)" {\n' + be(d) + '}\n'
            '$HTTP["url"] =^ "/only-main/" {\n' + be(a) + '}\n'
            '$SERVER["socket"] == "127.0.0.1:%d" {\n' % self.port2 + be(c) +
            '  $HTTP["url"] =^ "/a/" {\n' + be(d) + '  }\n'
            '}\n')
        self.pt = self.start_portico(conf, extra_ports=(self.port2,))

    def which(self, target, port=None, **kw):
        r = self.get(port or self.pt.port, target, **kw)
        if r.status != 200:
            return r.status
        return r.json()["backend"]

    def test_url_conditions(self):
        self.assertEqual(self.which("/a/x"), self.a)
        self.assertEqual(self.which("/b"), self.b)
        self.assertEqual(self.which("/b/deep/path?q=1"), self.b)
        self.assertEqual(self.which("/x/file.cee"), self.c)

    def test_url_is_decoded_and_normalised(self):
        self.assertEqual(self.which("/%61/x"), self.a)  # %61 = a
        self.assertEqual(self.which("/z/../a/x"), self.a)
        self.assertEqual(self.which("/x/./file.cee?ignored=.cee"), self.c)

    def test_query_not_part_of_url(self):
        self.assertEqual(self.which("/nothing?x=/a/"), 404)

    def test_else_chain_takes_first_match_only(self):
        # /a/file.cee matches the =^ and the =$ branches of one chain: only the first applies
        self.assertEqual(self.which("/a/file.cee"), self.a)

    def test_host(self):
        self.assertEqual(self.which("/h", host="host-d.test"), self.d)
        self.assertEqual(self.which("/h", host="HOST-D.test:8080"), self.d)
        self.assertEqual(self.which("/h", host="other.test"), 404)

    def test_method_nested(self):
        self.assertEqual(self.which("/m/x", method="DELETE"), self.d)
        self.assertEqual(self.which("/m/x"), self.a)
        self.assertEqual(self.which("/m/x", method="POST", body=b"x"), 404)

    def test_remote_ip(self):
        self.assertEqual(self.which("/ip/x"), self.b)
        self.assertEqual(self.which("/ipne/x"), self.c)

    def test_request_header_and_query(self):
        self.assertEqual(self.which("/h", headers=[("X-Route", "to-c")]), self.c)
        self.assertEqual(self.which("/h", headers=[("X-Route", "to-a")]), 404)
        self.assertEqual(self.which("/h?x=1&tenant=d"), self.d)

    def test_later_block_overrides(self):
        # /a/ on a host-d request: the host block comes later and wins
        self.assertEqual(self.which("/a/x", host="host-d.test"), self.d)

    def test_no_route_404(self):
        r = self.get(self.pt.port, "/nowhere")
        self.assertEqual(r.status, 404)
        with Client(self.pt.port) as c:  # a 404 keeps the connection
            c.send(request_bytes("GET", "/nowhere") + request_bytes("GET", "/a/y"))
            self.assertEqual(c.read_response().status, 404)
            self.assertEqual(c.read_response().json()["backend"], self.a)

    def test_second_listener(self):
        self.assertEqual(self.which("/only-main/x"), self.a)
        self.assertEqual(self.which("/zzz", port=self.port2), self.c)
        self.assertEqual(self.which("/a/x", port=self.port2), self.d)
        self.assertEqual(self.which("/a/x"), self.a)
        self.assertEqual(self.which("/zzz"), 404)
