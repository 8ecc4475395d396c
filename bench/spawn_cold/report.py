#!/usr/bin/env python3
"""The report of bench/spawn-cold from the raw figures in its work directory: one table of the
cold-start times (p50/p90/min/max over the rounds), portico's difference to php-cgi alone
against the target of issue 9 (at most 2 ms), and the ratios. Usage: report.py WORKDIR"""
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import report_common  # noqa: E402  (bench/report_common.py)

work = sys.argv[1]
SETUPS = [
    ("alone", "php-cgi alone (fd 0, request queued)"),
    ("portico", "portico, spawn:php, min-procs 0"),
    ("fpm", "nginx + php-fpm pm=ondemand"),
]
TARGET_MS = 2.0


def read(name):
    return report_common.read(work, name)


def figures(name):
    text = read(name)
    if not text:
        return None
    return [float(x) for x in text.split()]


def pct(values, p):
    """nearest-rank percentile"""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def table(title, header, rows):
    print("\n== %s ==" % title)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths))).rstrip())


def main():
    meta = read("meta")
    if meta:
        print(meta.rstrip())
    stats, rows = {}, []
    for key, title in SETUPS:
        ms = figures(key + ".ms")
        if not ms:
            continue
        warm = figures(key + "-warm.ms")
        stop = figures(key + "-stop.s")
        cpu = figures(key + ".cpu")
        cpu_ms = (cpu[1] - cpu[0]) / cpu[2] / 1e6 if cpu and len(cpu) == 3 else None
        st = {"p50": statistics.median(ms), "p90": pct(ms, 90), "min": min(ms), "max": max(ms)}
        stats[key] = st
        rows.append([title, "%.2f" % st["p50"], "%.2f" % st["p90"], "%.2f" % st["min"],
                     "%.2f" % st["max"], "%.2f" % statistics.median(warm) if warm else "-",
                     "%.1f" % statistics.median(stop) if stop else "-",
                     "%.2f" % cpu_ms if cpu_ms is not None else "-", str(len(ms))])
    if not rows:
        print("(no figures)")
        return
    table("cold start of a php-cgi app: request to first response byte, ms",
          ["setup", "p50", "p90", "min", "max", "warm p50", "stop s", "gw CPU ms", "runs"], rows)
    print("(php-cgi alone: from just before posix_spawn, the others: from just before connect;\n"
          " warm p50: a second request right after the cold one, on the process it started;\n"
          " stop s: median time from that request until no app process was left, idle timeout 1 s;\n"
          " gw CPU ms: CPU time of the gateway's own processes per round (cold request, warm\n"
          " request, idle stop): portico + its launcher; nginx master + worker + php-fpm master)")

    a, p, f = stats.get("alone"), stats.get("portico"), stats.get("fpm")
    if a and p:
        add = p["p50"] - a["p50"]
        print("\n%s portico adds %.2f ms to php-cgi's own start (p50 %.2f vs %.2f ms; "
              "min %+.2f ms); target: at most %.0f ms"
              % ("PASS" if add <= TARGET_MS else "MISS", add, p["p50"], a["p50"],
                 p["min"] - a["min"], TARGET_MS))
        pa, pp = figures("alone.ms"), figures("portico.ms")
        if len(pa) == len(pp):
            print("     median of the per-round differences (the rounds take turns): %+.2f ms"
                  % statistics.median(y - x for x, y in zip(pa, pp)))
        print("     portico / php-cgi alone: %.2fx (p50)" % (p["p50"] / a["p50"]))
    if p and f:
        print("     portico / nginx + php-fpm ondemand: %.2fx (p50 %.2f vs %.2f ms)"
              % (p["p50"] / f["p50"], p["p50"], f["p50"]))
    if a and f and not p:
        print("\nphp-cgi alone / nginx + php-fpm ondemand: %.2fx (p50)" % (a["p50"] / f["p50"]))

    status = read("portico-status.json")
    if status:
        try:
            apps = json.loads(status).get("apps")
            print("\nportico's status, apps (after the last round; last_start_seconds is portico's"
                  " own spawn-to-ready time):")
            print(json.dumps(apps, indent=None)[:1500])
        except (ValueError, AttributeError):
            print("\nportico's status endpoint did not answer JSON: %.200s" % status)


main()
