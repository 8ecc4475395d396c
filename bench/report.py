#!/usr/bin/env python3
"""Turn the raw outputs bench/run leaves in its work directory into the report: one table per
measurement, each gateway's figure, portico's ratio to the best peer, and PASS/MISS against
the targets of SPEC section 7. Usage: report.py WORKDIR"""
import os
import re
import sys

import report_common  # (bench/report_common.py, beside this file)

GATEWAYS = ["nginx", "haproxy", "lighttpd", "h2o", "caddy", "portico"]
PEERS = GATEWAYS[:-1]
PROTOS = [("http", "HTTP keep-alive"), ("fastcgi", "FastCGI"), ("scgi", "SCGI")]

work = sys.argv[1]
verdicts = []


def read(name):
    return report_common.read(work, name)


def parse_wrk(text):
    """requests/s, p50 and p99 in ms, request count, error count (non-2xx + socket errors)."""
    w = report_common.parse(text)
    if w["rps"] is None:
        return None
    return {"rps": w["rps"], "p50": w["p50"], "p99": w["p99"], "requests": w["requests"] or 0,
            "errors": w["non2xx"] + report_common.socket_errors(w), "mibps": w["mibps"]}


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def verdict(label, ok, detail):
    line = "%-4s %s: %s" % ("PASS" if ok else "MISS", label, detail)
    verdicts.append(line)
    return line


def table(title, header, rows):
    print("\n== %s ==" % title)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())


def usable(r):
    """A peer figure counts for 'best' only when its run finished and mostly succeeded."""
    return r is not None and r.get("requests", 0) > 0 and r["errors"] <= r["requests"] * 0.01


CONNS = os.environ.get("BENCH_CONNECTIONS", "64")


def throughput(w, proto):
    """The wrk figures of every gateway for one worker count and protocol."""
    res = {}
    for gw in GATEWAYS:
        r = parse_wrk(read("wrk-w%d-%s-%s.txt" % (w, proto, gw)))
        if not r:
            continue
        cpu = read("cpu-w%d-%s-%s" % (w, proto, gw))
        if cpu:
            t0, t1, hz, secs = (int(x) for x in cpu.split())
            r["cpu_us"] = (t1 - t0) / hz / r["requests"] * 1e6 if r["requests"] else None
            r["util"] = (t1 - t0) / hz / secs * 100
        conns = read("conns-w%d-%s-%s" % (w, proto, gw))
        if conns and r["requests"]:
            opened, clients = (int(x) for x in conns.split())
            r["conns"] = max(opened - clients, 0) / r["requests"]
        r["check"] = (read("check-w%d-%s-%s" % (w, proto, gw)) or "").strip()
        q = (read("queued-w%d-%s-%s" % (w, proto, gw)) or "").strip()
        r["queued"] = int(q) if q.isdigit() else None
        res[gw] = r
    return res


def compare(res, label, summary, nw):
    """The verdicts of one table, and its row of the summary."""
    p = res.get("portico")
    peers = [(g, res[g]) for g in PEERS if usable(res.get(g))]
    if not p or not peers:
        print("(no comparison: portico or every peer missing or failing)")
        return
    bg, best = max(peers, key=lambda x: x[1]["rps"])
    ratio = p["rps"] / best["rps"]
    print(verdict("%s throughput >= 1.2x best" % label, ratio >= 1.2 and usable(p),
                  "%.2fx (%.0f vs %.0f req/s, %s)" % (ratio, p["rps"], best["rps"], bg)))
    row = [nw, label.split(",")[0], "%.0f %s" % (best["rps"], bg), "%.0f" % p["rps"],
           "%.2fx" % ratio, "", "", ""]
    cpus = [(g, r["cpu_us"]) for g, r in peers if r.get("cpu_us")]
    if cpus and p.get("cpu_us") is not None:
        cg, c = min(cpus, key=lambda x: x[1])
        ratio = p["cpu_us"] / c
        print(verdict("%s CPU/request <= 0.8x best" % label, ratio <= 0.8,
                      "%.2fx (%.1f vs %.1f us, %s)" % (ratio, p["cpu_us"], c, cg)))
        row[5:] = ["%.1f %s" % (c, cg), "%.1f" % p["cpu_us"], "%.2fx" % ratio]
    p99s = [(g, r["p99"]) for g, r in peers if r.get("p99") is not None]
    if p99s and p["p99"] is not None and p["p50"]:
        pg, best99 = min(p99s, key=lambda x: x[1])
        ok = p["p99"] <= best99 and p["p99"] <= 20 * p["p50"]
        print(verdict("%s p99 <= best and <= 20x p50" % label, ok,
                      "%.2f ms vs best %.2f ms (%s); p99/p50 = %.1f"
                      % (p["p99"], best99, pg, p["p99"] / p["p50"])))
    summary.append(row)


def main():
    meta = read("meta")
    if meta:
        print(meta.rstrip())

    workers = sorted(int(n[len("layout-w"):]) for n in os.listdir(work)
                     if re.fullmatch(r"layout-w\d+", n))
    summary, curve = [], {}
    # the gateways of this run: those checked at some worker count, or marked n/a
    present = {gw for gw in GATEWAYS for n in os.listdir(work)
               if re.fullmatch(r"(check-w\d+-\w+|na-w\d+)-%s" % gw, n)}
    for w in workers:
        gw_cpus, load_cpus, threads = (read("layout-w%d" % w) or "? ? ?").split()
        nw = "%d worker%s" % (w, "" if w == 1 else "s")
        for proto, title in PROTOS:
            res = throughput(w, proto)
            if not res:
                continue
            rows = []
            for gw in GATEWAYS:
                r = res.get(gw)
                if gw not in present:
                    continue
                if r is None:
                    na = "n/a (no workers)" if gw == "portico" and read("na-w%d-portico" % w) \
                        else "n/a"
                    rows.append([gw, na] + [""] * (8 if proto == "fastcgi" else 7))
                    continue
                row = [gw, fmt(r["rps"], ".0f"), fmt(r["p50"], ".2f"), fmt(r["p99"], ".2f"),
                       fmt(r.get("cpu_us"), ".1f"), fmt(r.get("util"), ".0f"),
                       fmt(r.get("conns"), ".3f"), str(r["errors"]), r["check"]]
                if proto == "fastcgi":
                    row.insert(7, fmt(r.get("queued"), "d"))
                rows.append(row)
                curve.setdefault((proto, gw), {})[w] = r["rps"]
            table("%s, %s: wrk -t%s -c%s, GET %s?bytes=100 (gateway on CPUs %s; wrk and "
                  "backends on CPUs %s)" % (title, nw, threads, CONNS,
                                             {"http": "/h/", "fastcgi": "/f/", "scgi": "/s/"}[proto],
                                             gw_cpus, load_cpus),
                  ["gateway", "req/s", "p50 ms", "p99 ms", "CPU us/req", "gw CPU %",
                   "conns/req"] + (["queued"] if proto == "fastcgi" else []) + ["errors", "check"],
                  rows)
            for gw in GATEWAYS:
                r = res.get(gw)
                if r and r.get("queued") is not None and r["queued"] >= int(CONNS) // 2 \
                        and r.get("conns") is not None and r["conns"] < 0.5:
                    print("note: %s keeps its FastCGI connections while %d more wait in the accept"
                          " queue behind pinned processes; requests still waiting at the end are"
                          " in neither req/s nor the latencies" % (gw, r["queued"]))
            compare(res, "%s, %s" % (title, nw), summary, nw)
        if read("na-w%d-portico" % w):
            print(verdict("%s: portico runs" % nw, False,
                          "n/a (no workers: this portico has no server.workers)"))
    if summary:
        table("portico against the best peer (ratios: portico / best peer)",
              ["workers", "protocol", "best req/s", "portico req/s", "req/s ratio",
               "best CPU us/req", "portico CPU", "CPU ratio"], summary)
    if len(workers) > 1:
        for proto, title in PROTOS:
            rows = []
            for gw in GATEWAYS:
                c = curve.get((proto, gw))
                if not c:
                    continue
                base = c.get(workers[0])
                rows.append([gw] + ["%.0f%s" % (c[w], " (%.2fx)" % (c[w] / base)
                                                 if base and w != workers[0] else "")
                                    if w in c else "n/a" for w in workers])
            if rows:
                table("%s: req/s by worker count (scaling from %d worker%s)"
                      % (title, workers[0], "" if workers[0] == 1 else "s"),
                      ["gateway"] + ["%dw" % w for w in workers], rows)

    # callgrind
    rows, figures = [], {}
    for proto, title in PROTOS:
        for gw in GATEWAYS:
            t = read("cg-%s-%s" % (proto, gw))
            if not t:
                continue
            parts = t.split()
            if len(parts) == 3:
                n, base, full = (int(x) for x in parts)
                per = (full - base) / n
                figures[(proto, gw)] = per
                rows.append([title, gw, "%d" % per, "%.1f M" % (base / 1e6)])
            else:
                rows.append([title, gw, "failed", ""])
    if rows:
        table("user-space instructions per proxied request (callgrind, keep-alive client, "
              "one request at a time)", ["protocol", "gateway", "Ir/request", "Ir base run"], rows)
        for proto, title in PROTOS:
            p = figures.get((proto, "portico"))
            peers = [figures[(proto, g)] for g in PEERS if (proto, g) in figures]
            if p is None or not peers:
                continue
            print(verdict("%s instructions/request <= best" % title, p <= min(peers),
                          "%.2fx (%d vs %d)" % (p / min(peers), p, min(peers))))
    for proto, title in PROTOS:
        top = read("callgrind-portico-%s.top" % proto)
        if top:
            print("\nportico, %s, whole callgrind run (start-up included), top functions by own"
                  " instructions:" % title)
            print(top.rstrip())

    # X-Sendfile
    rows, mib = [], {}
    for name in ("portico-x-sendfile", "nginx-static", "nginx-x-accel", "lighttpd-static"):
        runs, i = [], 1
        while True:
            text = read("sendfile-%s-%d.txt" % (name, i))
            if text is None:
                break
            r = parse_wrk(text)
            if r is not None:
                runs.append(r)
            i += 1
        check = (read("check-sendfile-%s" % name) or "").strip()
        if not runs:
            continue
        runs.sort(key=lambda r: r["mibps"] or 0)
        r = runs[(len(runs) - 1) // 2]
        errors = sum(x["errors"] for x in runs)
        mib[name] = r["mibps"] if errors == 0 else None
        rows.append([name, fmt(r["mibps"], ".0f"),
                     " ".join(fmt(x["mibps"], ".0f") for x in runs), fmt(r["rps"], ".2f"),
                     str(errors), check])
    if rows:
        table("100 MiB file, wrk -t2 -c4, median of the rounds",
              ["server", "MiB/s", "rounds MiB/s", "files/s", "errors", "check"], rows)
        if mib.get("portico-x-sendfile") and mib.get("nginx-static"):
            ratio = mib["portico-x-sendfile"] / mib["nginx-static"]
            print(verdict("X-Sendfile >= nginx static", ratio >= 1.0, "%.2fx" % ratio))

    # idle connections
    rows, idle = [], {}
    for gw in GATEWAYS:
        t = read("idle-%s" % gw)
        if not t:
            continue
        parts = t.split()
        before, after, opened = int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else "?"
        total = int(parts[3]) if len(parts) > 3 else after
        idle[gw] = (after, opened)
        rows.append([gw, opened, "%.1f" % (before / 1024), "%.1f" % (after / 1024),
                     "%.2f" % ((after - before) / max(int(opened) if opened.isdigit() else 1, 1)),
                     "%.1f" % (total / 1024)])
    if rows:
        table("idle keep-alive connections: resident memory of the serving process",
              ["gateway", "open", "RSS before MiB", "RSS after MiB", "kB/conn",
               "all procs MiB"], rows)
        if "portico" in idle and "nginx" in idle:
            p, n = idle["portico"], idle["nginx"]
            ok = p[0] <= n[0] and p[1] == n[1]
            print(verdict("idle connections RSS <= nginx", ok,
                          "%.2fx (%.1f vs %.1f MiB, %s vs %s connections)"
                          % (p[0] / n[0], p[0] / 1024, n[0] / 1024, p[1], n[1])))

    # 1 GiB transfers: "HWM_KB BYTES proto-dir:STATUS/BYTES ..."
    rows, lines = [], []
    for mode in ("disable", "enable"):
        t = read("big-%s" % mode)
        if not t:
            continue
        parts = t.split()
        hwm, size, transfers = int(parts[0]), parts[1], parts[2:]
        good = bool(transfers) and all(x.endswith(":200/" + size) for x in transfers)
        rows.append(["stream-request-body=" + mode, "%.1f" % (hwm / 1024), " ".join(transfers)])
        lines.append(verdict("1 GiB transfers, stream-request-body=%s: peak RSS < 32 MiB" % mode,
                             hwm < 32 * 1024 and good,
                             "%.1f MiB%s" % (hwm / 1024, "" if good else " (a transfer failed)")))
    if rows:
        table("1 GiB upload and download through portico (peak RSS = VmHWM)",
              ["mode", "peak MiB", "transfers (status/bytes)"], rows)
        print("\n".join(lines))

    for proto in ("http", "fastcgi"):
        top = read("perf-portico-%s.top" % proto)
        if top:
            print("\nportico, %s under wrk, perf top symbols (self, incl. kernel):" % proto)
            print(top.rstrip())

    print("\n== summary against SPEC section 7 ==")
    for v in verdicts:
        print(v)


main()
