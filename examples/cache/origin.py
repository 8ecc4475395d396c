#!/usr/bin/env python3
"""A deliberately slow origin for the cache example: every GET waits --delay-ms, then answers
a body of --bytes bytes derived from the path (the same path, the same bytes) with
`Cache-Control: public, max-age=--max-age`, so that a cache in front of it may keep the answer.

    python3 origin.py [--listen 127.0.0.1:8081] [--delay-ms 30] [--bytes 4096] [--max-age 3600]

Threaded (a thread per connection), HTTP/1.1 with keep-alive. Prints "ready" on stdout once it
listens. Answers carry `X-Origin-Fetches` (how many pages it has made so far);
`GET /origin-stats` answers that count alone, as JSON, never cached and without the delay.
Standard library only."""

import argparse
import hashlib
import http.server
import json
import sys
import threading
import time


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "slow-origin"

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/origin-stats":
            with self.server.lock:
                body = json.dumps({"fetches": self.server.fetches}).encode()
            self.answer(200, body, "application/json", "no-store")
            return
        time.sleep(self.server.delay)
        with self.server.lock:
            self.server.fetches += 1
            n = self.server.fetches
        self.answer(200, page(path, self.server.size), "text/plain",
                    "public, max-age=%d" % self.server.max_age, n)

    def do_HEAD(self):
        self.do_GET()

    def answer(self, status, body, ctype, cache_control, fetches=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache_control)
        if fetches is not None:
            self.send_header("X-Origin-Fetches", str(fetches))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def page(path, size):
    """`size` bytes for `path`: a first line naming it, then lines of its SHA-256 repeated."""
    line = (hashlib.sha256(path.encode("utf-8", "replace")).hexdigest() + "\n").encode()
    head = ("page %s\n" % path).encode("utf-8", "replace")
    body = head + line * (size // len(line) + 1)
    return body[:size]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:8081", help="HOST:PORT (default %(default)s)")
    ap.add_argument("--delay-ms", type=float, default=30, help="wait per page (%(default)s)")
    ap.add_argument("--bytes", type=int, default=4096, help="body size (%(default)s)")
    ap.add_argument("--max-age", type=int, default=3600, help="Cache-Control max-age (%(default)s)")
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    http.server.ThreadingHTTPServer.daemon_threads = True
    http.server.ThreadingHTTPServer.request_queue_size = 256
    srv = http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)), Origin)
    srv.delay = a.delay_ms / 1000.0
    srv.size = a.bytes
    srv.max_age = a.max_age
    srv.fetches = 0
    srv.lock = threading.Lock()
    print("ready", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
