#!/usr/bin/env python3
"""bench/recycle's request-timeout row: COUNT requests for PATH (a script that outlasts the app's
request-timeout), one after the other, each on a new connection. Writes one line per request to
OUT ("N START_UNIXTIME STATUS SECONDS"; status 0: no answer, with the error) and prints a
summary line: "sent N statuses S:n,... seconds MIN MEDIAN MAX"."""

import http.client
import sys
import time


def main():
    port, path, count, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    statuses, took = {}, []
    with open(out, "w") as f:
        for i in range(count):
            t0 = time.time()
            m0 = time.monotonic()
            status, err = 0, ""
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request("GET", path, headers={"Connection": "close"})
                r = conn.getresponse()
                r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                err = " %s: %s" % (type(e).__name__, e)
            finally:
                conn.close()
            dt = time.monotonic() - m0
            took.append(dt)
            statuses[status] = statuses.get(status, 0) + 1
            f.write("%d %.3f %d %.3f%s\n" % (i + 1, t0, status, dt, err))
            f.flush()
    took.sort()
    print("sent %d statuses %s seconds %.2f %.2f %.2f" % (
        count, ",".join("%d:%d" % kv for kv in sorted(statuses.items())),
        took[0], took[len(took) // 2], took[-1]))


if __name__ == "__main__":
    main()
