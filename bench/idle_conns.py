#!/usr/bin/env python3
"""Open COUNT client connections to 127.0.0.1:PORT, send one GET PATH on each and read the
whole response, then keep every connection open and idle. Prints "ready OPEN" once done
(OPEN = connections still open and answered), then sleeps until it is killed.
Usage: idle_conns.py PORT PATH COUNT"""
import resource
import socket
import sys
import time

from kaclient import read_response


def main():
    port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % path).encode()
    socks, failed = [], 0
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=3)
            s.sendall(req)
            status, rest, close = read_response(s, b"")
            if status != 200:
                raise ConnectionError("status %d" % status)
            socks.append(s)
        except (OSError, ConnectionError, ValueError, IndexError) as e:
            failed += 1
            if failed == 1:
                print("idle_conns: %s" % e, file=sys.stderr)
            if failed >= 5:
                break
    print("ready %d" % len(socks), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
