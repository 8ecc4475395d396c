#!/usr/bin/env python3
"""From portico's error log (bench/recycle): for each process of APP marked "to be replaced
(WHY)", the seconds until "replaced (WHY): stopping" (the log has whole seconds); a process
never stopped counts until the log's last line. Prints one line:
"MARKED marked, STOPPED stopped; marked to stopping: median M s, longest L s (pid P)" and exits 1
when the longest is above LIMIT seconds."""

import datetime
import re
import sys

LINE = re.compile(r"(\S+ \S+) \[\w+\] app (\S+)\[(\d+)\]: "
                  r"(to be replaced \(([\w-]+)\)|replaced \(([\w-]+)\): stopping)")


def main():
    path, app, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
    marked, stopped, last = {}, {}, None
    with open(path, errors="replace") as f:
        for line in f:
            try:
                last = datetime.datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
            except ValueError:
                pass
            m = LINE.match(line)
            if not m or m.group(2) != app:
                continue
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
            (marked if m.group(5) else stopped).setdefault(m.group(3), t)
    if not marked:
        print("0 marked, %d stopped" % len(stopped))
        return 0
    waits = sorted(((stopped.get(p, last) - t).total_seconds(), p) for p, t in marked.items())
    never = [p for p in marked if p not in stopped]
    longest, pid = waits[-1]
    print("%d marked, %d stopped; marked to stopping: median %.0f s, longest %.0f s (pid %s%s)%s"
          % (len(marked), len(stopped), waits[len(waits) // 2][0], longest, pid,
             "" if pid in stopped else ", not stopped before portico was",
             "; %d not stopped before portico was" % len(never) if never else ""))
    return 1 if longest > limit else 0


if __name__ == "__main__":
    sys.exit(main())
