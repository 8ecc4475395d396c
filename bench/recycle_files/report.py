#!/usr/bin/env python3
"""The table of bench/recycle from its work directory: one row per ROWS/N/ that has a `meta`
file (key=value lines written by the script) and wrk's output in `wrk.txt`.

meta keys: setup, trigger, recycles (processes replaced, from portico's status), wall (s),
and any number of `check=TEXT|ok` / `check=TEXT|FAIL` lines (what the script verified besides
wrk's failures). A row passes when wrk saw no failed request (non-2xx responses plus socket
errors) and every check is ok."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import report_common  # noqa: E402  (bench/report_common.py)

def parse_wrk(text):
    w = report_common.parse(text)
    r = {"requests": w["requests"], "non2xx": w["non2xx"], "errors": report_common.socket_errors(w),
         "p50": w["p50"], "p99": w["p99"], "max": w["max"]}
    if w["socket"]:
        r["socket"] = "connect %d, read %d, write %d, timeout %d" % w["socket"]
    return r


def fmt_ms(v):
    if v is None:
        return "-"
    if v >= 1000:
        return "%.2fs" % (v / 1000)
    return "%.2fms" % v if v < 100 else "%.0fms" % v


def load(rowdir):
    meta = {"check": [], "note": []}
    with open(os.path.join(rowdir, "meta")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key == "check":
                text, _, ok = value.rpartition("|")
                meta["check"].append((text, ok == "ok"))
            elif key == "note":
                meta["note"].append(value)
            elif key:
                meta[key] = value
    try:
        with open(os.path.join(rowdir, "wrk.txt")) as f:
            meta["wrk"] = parse_wrk(f.read())
    except OSError:
        meta["wrk"] = parse_wrk("")
    return meta


def main():
    work = sys.argv[1]
    rowsdir = os.path.join(work, "rows")
    rows = []
    for name in sorted(os.listdir(rowsdir), key=lambda n: (len(n), n)) if os.path.isdir(rowsdir) else []:
        if os.path.exists(os.path.join(rowsdir, name, "meta")):
            rows.append((name, load(os.path.join(rowsdir, name))))
    try:
        with open(os.path.join(work, "meta")) as f:
            sys.stdout.write(f.read())
    except OSError:
        pass
    head = ("#", "setup", "trigger", "recycled", "requests", "failed", "p50", "p99", "max",
            "wall", "result")
    table = []
    for name, m in rows:
        w = m["wrk"]
        failed = None if w["requests"] is None else w["non2xx"] + w["errors"]
        ok = failed == 0 and all(ok for _, ok in m["check"])
        table.append((name, m.get("setup", "?"), m.get("trigger", "?"), m.get("recycles", "?"),
                      "-" if w["requests"] is None else str(w["requests"]),
                      "-" if failed is None else str(failed),
                      fmt_ms(w["p50"]), fmt_ms(w["p99"]), fmt_ms(w["max"]),
                      "%ss" % m.get("wall", "?"), "PASS" if ok else "FAIL"))
    widths = [max(len(str(r[i])) for r in [head] + table) for i in range(len(head))]
    right = {0, 3, 4, 5, 6, 7, 8, 9}

    def line(cells):
        return "  ".join(str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i])
                         for i, c in enumerate(cells)).rstrip()
    print()
    print(line(head))
    print(line(["-" * w for w in widths]))
    for r in table:
        print(line(r))
    print()
    for name, m in rows:
        w = m["wrk"]
        print("%s. %s — %s" % (name, m.get("setup", "?"), m.get("trigger", "?")))
        if w["requests"] is None:
            print("   wrk: no summary (see %s)" % os.path.join(rowsdir, name, "wrk.txt"))
        else:
            print("   wrk: %d requests, %d non-2xx, socket errors: %s"
                  % (w["requests"], w["non2xx"], w.get("socket", "none")))
        for text, ok in m["check"]:
            print("   %s %s" % ("ok  " if ok else "FAIL", text))
        for text in m["note"]:
            print("   note %s" % text)
    failed = [name for name, row in zip([n for n, _ in rows], table) if row[-1] != "PASS"]
    print()
    print("all rows PASS" if rows and not failed else
          "rows failed: %s (details above and in %s)" % (" ".join(failed) or "none run", rowsdir))
    return 0 if rows and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
