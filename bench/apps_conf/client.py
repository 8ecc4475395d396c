#!/usr/bin/env python3
"""The HTTP clients of bench/apps.

  client.py once PORT PATH EXPECT
      One GET of PATH on a new connection to 127.0.0.1:PORT (Connection: close). Prints the
      milliseconds from just before connect() to the end of the response. Fails (status 1,
      message on stderr) unless the response is a 200 whose body contains EXPECT.

  client.py burst PORT PATH EXPECT N PROCS TIMEOUT ROOT REGEX
      N connections opened at once, each with one GET of PATH (Connection: close), while the
      app processes (as `procs` finds them) are counted about every millisecond. Prints:
        answered_s procs_s most_procs failed
      answered_s: seconds from the first connect until the last of the N responses ended
      ("-": not all within TIMEOUT); procs_s: seconds until PROCS app processes ran at once
      ("-": never, looking until TIMEOUT or 2 s after the last response); most_procs: the most
      seen at once; failed: requests without a 200 with EXPECT (refused, reset, another
      status, or not answered within TIMEOUT seconds).

  client.py procs ROOT REGEX
      Prints the pids of the app processes below pid ROOT: the descendants whose command line
      matches REGEX, the topmost of each branch only (php-cgi's worker, the child of a php-cgi
      that matched, is not counted again). The tree is read from /proc/PID/task/*/children
      (every thread's children: some gateways fork from a thread).
"""
import errno
import os
import re
import selectors
import socket
import sys
import time


def request(path, port):
    return ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
            % (path, port)).encode()


def good(data, expect):
    head, _, body = data.partition(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.1 200") and expect.encode() in body


def once(port, path, expect):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.sendall(request(path, port))
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    t1 = time.perf_counter()
    s.close()
    if not good(data, expect):
        sys.stderr.write("unexpected response: %r\n" % data[:300])
        return 1
    print("%.2f" % ((t1 - t0) * 1000))
    return 0


def children(pid):
    out = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def procs(root, regex):
    found, pending = [], children(root)
    while pending:
        p = pending.pop()
        if regex.search(cmdline(p)):
            found.append(p)
        else:
            pending += children(p)
    return found


def burst(port, path, expect, n, want, timeout, root, regex):
    sel = selectors.DefaultSelector()
    req = request(path, port)
    data = {}
    failed = 0
    t0 = time.perf_counter()
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            failed += 1
            s.close()
            continue
        data[s] = b""
        sel.register(s, selectors.EVENT_WRITE)
    most = len(procs(root, regex))
    procs_at = 0.0 if most >= want else None
    answered_at = None
    open_ = len(data)
    while True:
        now = time.perf_counter()
        if open_ == 0 and answered_at is None:
            answered_at = now - t0
        if answered_at is not None and procs_at is not None:
            break
        if now - t0 > timeout or (answered_at is not None and now - t0 > answered_at + 2):
            break
        for key, ev in sel.select(0.001):
            s = key.fileobj
            try:
                if ev & selectors.EVENT_WRITE:
                    s.send(req)  # a few dozen bytes: goes out whole on a fresh socket
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
                data[s] = b"(error)"
            if chunk:
                data[s] += chunk
                continue
            sel.unregister(s)
            s.close()
            open_ -= 1
            if not good(data.pop(s), expect):
                failed += 1
        c = len(procs(root, regex))
        most = max(most, c)
        if procs_at is None and c >= want:
            procs_at = time.perf_counter() - t0
    failed += len(data)  # not answered within the timeout
    for s in data:
        s.close()
    print("%s %s %d %d" % ("%.3f" % answered_at if answered_at is not None else "-",
                           "%.3f" % procs_at if procs_at is not None else "-", most, failed))
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "once":
        return once(int(argv[2]), argv[3], argv[4])
    if len(argv) == 10 and argv[1] == "burst":
        return burst(int(argv[2]), argv[3], argv[4], int(argv[5]), int(argv[6]),
                     float(argv[7]), int(argv[8]), re.compile(argv[9]))
    if len(argv) == 4 and argv[1] == "procs":
        print(" ".join(map(str, procs(int(argv[2]), re.compile(argv[3])))))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
