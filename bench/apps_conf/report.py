#!/usr/bin/env python3
"""The report of bench/apps from the raw files in its work directory: one table, a column per
setup and portico's ratio to the best of the others. Usage: report.py WORKDIR"""
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import report_common  # noqa: E402  (bench/report_common.py)

work = sys.argv[1]
PHP = [("portico", "portico"), ("ondemand", "fpm-ondemand"), ("dynamic", "fpm-dynamic")]
RACK = [("puma", "puma@portico"), ("passenger", "passenger")]
PROCS = 4
LEGEND = {
    "portico": "php-cgi spawned by portico (spawn.apps: fd0, min-procs 0, max-procs 4),"
               " FastCGI, server.workers auto",
    "ondemand": "php-fpm pm = ondemand, max_children 4, behind nginx (1 worker, fastcgi_pass)",
    "dynamic": "php-fpm pm = dynamic, max_children 4 (start 2, spare 1-3: 2 run before the"
               " first request), behind nginx",
    "puma": "config.ru on puma -t 1:1 spawned by portico (listen-fds, min-procs 0, max-procs 4),"
            " HTTP (kept connections, at most its concurrency per process)",
    "passenger": "the same config.ru under Apache (mpm_event) + mod_passenger, max pool 4",
}


def read(name):
    return report_common.read(work, name)


def wrk(name):
    """requests (answered, any status), req/s, p99 ms, socket errors, failed (non-2xx +
    socket errors) of one wrk output"""
    text = read(name)
    if text is None:
        return None
    w = report_common.parse(text)
    sock = report_common.socket_errors(w)
    return {"requests": w["requests"] or 0, "rps": w["rps"], "p99": w["p99"], "socket": sock,
            "failed": sock + w["non2xx"]}


def cold(s):
    text = read(s + ".cold")
    return [float(x) for x in text.split()] if text else []


def bursts(s):
    """per round: (both_s or None, answered_s or None, most procs, failed)"""
    out = []
    for line in (read(s + ".burst") or "").splitlines():
        a, p, most, failed = line.split()
        a = None if a == "-" else float(a)
        p = None if p == "-" else float(p)
        both = max(a, p) if a is not None and p is not None else None
        out.append((both, a, int(most), int(failed)))
    return out


def fmt(v, digits):
    if v is None:
        return "-"
    if digits == 0:
        return "%d" % round(v)
    return "%.*f" % (digits, v)


def ratio(mine, others, higher_better):
    others = [o for o in others if o is not None]
    if mine is None or not others:
        return "-"
    best = max(others) if higher_better else min(others)
    if best == 0:
        return "=" if mine == 0 else "-"
    return "%.2fx" % (mine / best)


def rows_for(setups):
    """{row key: {setup: (number for the ratio, cell text)}}"""
    rows = {}

    def put(key, s, value, text):
        rows.setdefault(key, {})[s] = (value, text)

    for s, _ in setups:
        c = cold(s)
        v = statistics.median(c) if c else None
        put("cold", s, v, fmt(v, 1))
        b = bursts(s)
        both = [x[0] for x in b if x[0] is not None]
        if b and len(both) == len(b):
            v = statistics.median(both)
            put("burst", s, v, fmt(v, 3))
        elif b:
            # rounds without a figure: not every request answered, or fewer than 4 processes
            short = sum(1 for x in b if x[1] is not None and x[0] is None)
            unanswered = sum(1 for x in b if x[1] is None)
            why = []
            if unanswered:
                why.append("%d not all answered" % unanswered)
            if short:
                why.append("%d never %d procs" % (short, PROCS))
            put("burst", s, None, "%s (%s)" % (
                fmt(statistics.median(both), 3) if both else "-", ", ".join(why)))
        answered = [x[1] for x in b if x[1] is not None]
        v = statistics.median(answered) if b and len(answered) == len(b) else None
        put("answered", s, v, fmt(v, 3) if v is not None else
            ("%d of %d rounds" % (len(answered), len(b)) if b else "-"))
        put("bfailed", s, sum(x[3] for x in b) if b else None,
            "%d" % sum(x[3] for x in b) if b else "-")
        w = wrk(s + ".wrk")
        put("rps", s, w and w["rps"], fmt(w and w["rps"], 0))
        put("p99", s, w and w["p99"], fmt(w and w["p99"], 2))
        put("sfailed", s, w and w["failed"], "%d" % w["failed"] if w else "-")
        w = wrk(s + ".restart")
        put("rfailed", s, w and w["failed"],
            "%d of %d" % (w["failed"], w["requests"] + w["socket"]) if w else "-")
        put("rrps", s, w and w["rps"], fmt(w and w["rps"], 0))
    return rows


def main():
    meta = read("meta") or ""
    print("== bench/apps: the same tiny app under each setup ==")
    print(meta.rstrip())
    rounds = re.search(r"rounds: (\d+)", meta)
    rounds = rounds.group(1) if rounds else "?"
    m = re.search(r"-c(\d+) (\d+)s", meta)
    conns, seconds = m.groups() if m else ("?", "?")
    m = re.search(r"burst of (\d+)", meta)
    burst = m.group(1) if m else "?"
    labels = [
        ("cold", "cold first request, ms (p50 of %s)" % rounds, False),
        ("burst", "burst: 4 procs + %s answered, s" % burst, False),
        ("answered", "burst: %s answered, s" % burst, False),
        ("bfailed", "burst: failed (all rounds)", False),
        ("rps", "steady req/s (-c%s, %s s)" % (conns, seconds), True),
        ("p99", "steady p99, ms", False),
        ("sfailed", "steady: failed", False),
        ("rfailed", "restart under load: failed", False),
        ("rrps", "restart under load: req/s", True),
    ]
    # the groups measured: PHP (portico against the two php-fpm setups) and Rack (portico's
    # puma against Passenger); a ratio column per group where both sides were measured
    groups = []
    for setups, mine, title in ((PHP, "portico", "portico/best"),
                                (RACK, "puma", "puma/passenger")):
        present = [(s, n) for s, n in setups if read(s + ".cold") is not None]
        if present:
            with_ratio = any(s == mine for s, _ in present) and len(present) > 1
            groups.append((present, mine if with_ratio else None, title, rows_for(present)))
    print()
    for present, _, _, _ in groups:
        for s, name in present:
            print("%-13s %s" % (name + ":", LEGEND[s]))
    header = [""]
    for present, mine, title, _ in groups:
        header += [n for _, n in present] + ([title] if mine else [])
    table = [header]
    for key, label, higher in labels:
        row = [label]
        for present, mine, _, rows in groups:
            row += [rows[key][s][1] for s, _ in present]
            if mine:
                row.append(ratio(rows[key][mine][0],
                                 [rows[key][s][0] for s, _ in present if s != mine], higher))
        table.append(row)
    print()
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())
    print()
    print("ratio: portico's figure / the best of the others' (lower is better, but for req/s);"
          " \"=\": both 0.")
    print("burst: %s connections at once on a cold pool; a round counts in the first row only when"
          % burst)
    print("every request was answered (within %s s) and %d processes ran at once (looked for until"
          % ((re.search(r"burst timeout (\d+)", meta) or ["", "?"])[1], PROCS))
    print("2 s after the last answer). failed: non-2xx responses and socket errors.")
    m = re.search(r"upstream keepalive (\d+)", meta)
    if m and m.group(1) != "0":
        print("fpm: nginx keeps up to %s idle FastCGI connections (fastcgi_keep_conn on); a"
              % m.group(1))
        print("  php-fpm child holding one waits on it and takes nothing else, so requests nginx")
        print("  sends on new connections wait in php-fpm's listen queue until a kept one closes")
        print("  (burst, p99); BENCH_APPS_FPM_KEEPALIVE=0 gives a connection per request.")
    for s, name in [x for g in groups for x in g[0]]:
        info = read(s + ".restart-info")
        if not info:
            continue
        how, before, after, still = info.strip().split("|")
        print("%s: restart by %s; %s processes before, %s after, %s of the old still running"
              % (name, how, before, after, still))
        c = cold(s)
        if c:
            print("  first request, ms: min %.1f, max %.1f" % (min(c), max(c)), end="")
            b = bursts(s)
            if b:
                print("; burst: most processes %s" % ",".join(str(x[2]) for x in b), end="")
            print()
    why = (read("restart-why") or "").strip()
    if why:
        print("portico's restart-file is not available in this portico; restarted by SIGHUP with")
        print("  a changed \"environment\" entry instead (portico -t: %s)" % why)
    for line in (read("skipped") or "").splitlines():
        if line.strip():
            print(line)


main()
