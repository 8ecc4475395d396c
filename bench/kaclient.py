#!/usr/bin/env python3
"""Send COUNT GET requests for PATH over one keep-alive connection to 127.0.0.1:PORT, one
after another, reading each whole response (Content-Length or chunked); it reconnects when
the server ends the connection with "Connection: close" (every gateway caps requests per
connection). Used to drive a gateway under callgrind with a fixed, repeatable amount of work.
Usage: kaclient.py PORT PATH COUNT      exits 1 unless every response is a 200."""
import socket
import sys


def read_response(sock, buf):
    """Read one response from sock; buf holds bytes already received.
    Returns (status, rest, close): close is true when the server announced Connection: close."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside a response head")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, chunked, close = None, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    if chunked:
        while True:
            while b"\r\n" not in buf:
                buf += sock.recv(65536)
            size_line, _, buf = buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(buf) < size + 2:
                buf += sock.recv(65536)
            buf = buf[size + 2:]
            if size == 0:
                return status, buf, close
    if length is None:
        raise ConnectionError("response without a length")
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside a body")
        buf += chunk
    return status, buf[length:], close


def main():
    port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: kaclient\r\n\r\n" % path).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    buf, bad = b"", 0
    for _ in range(count):
        sock.sendall(req)
        status, buf, close = read_response(sock, buf)
        bad += status != 200
        if close:
            sock.close()
            sock = socket.create_connection(("127.0.0.1", port), timeout=120)
            buf = b""
    sock.close()
    if bad:
        print("kaclient: %d of %d responses were not 200" % (bad, count), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
