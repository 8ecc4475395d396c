"""Review of the exchange contract change (8fe8a85..): reproductions of defects found in review.
Each test states the behaviour a correct gateway shows; a failure is the defect."""

import socket
import threading
import time

from harness import Client, GatewayTest, request_bytes, route
from test_ops import UpgradeBackend


class ReviewTunnel(GatewayTest):
    def test_upgrade_bytes_sent_with_the_request_reach_the_backend(self):
        # A client may send tunnel bytes right behind the Upgrade request (no wait for the 101).
        # They sit in c->in while the request is with the backend; when the 101 makes the
        # connection a tunnel (x_head in conn.c) nothing hands them to the exchange until the
        # client sends again.
        be = UpgradeBackend()
        self.addCleanup(be.close)
        pt = self.start_portico(route([be.addr]))
        with Client(pt.port, timeout=3) as c:
            c.send(request_bytes("GET", "/ws", headers=[("Connection", "Upgrade"),
                                                       ("Upgrade", "shout")]) + b"early bytes")
            r = c.read_head()
            self.assertEqual(r.status, 101)
            deadline = time.monotonic() + 3
            while len(c.buf) < 11 and time.monotonic() < deadline:
                try:
                    if not c._fill():
                        break
                except OSError:
                    break
            self.assertEqual(bytes(c.buf[:11]), b"EARLY BYTES",
                             "bytes sent behind the Upgrade request never reached the backend")
