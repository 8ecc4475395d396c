#!/usr/bin/env python3
"""The report of bench/cache from the raw files in its work directory: one table per balancer
with all three caches up, and for hash the phases around one stopped cache.
Usage: report.py WORKDIR"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import report_common  # noqa: E402  (bench/report_common.py)


def load_json(work, name):
    text = report_common.read(work, name)
    return json.loads(text) if text else None


def owners(work, tag):
    text = report_common.read(work, tag + ".owners")
    if not text:
        return None
    m = {}
    for line in text.splitlines():
        path, _, name = line.partition(" ")
        m[path] = name
    return m


def counted(text):
    """The line urls.lua prints: hit, miss, other, elsewhere and {cache: responses}."""
    for line in (text or "").splitlines():
        if line.startswith("counted: "):
            w = line.split()
            r = {"hit": int(w[2]), "miss": int(w[4]), "other": int(w[6]),
                 "elsewhere": int(w[8]), "served": {}}
            for kv in w[10:]:
                k, _, v = kv.partition("=")
                r["served"][k] = int(v)
            return r
    return None


def phase(work, tag):
    """Everything known of one measured run, or None."""
    rec = load_json(work, tag + ".json")
    text = report_common.read(work, tag + ".wrk")
    if rec is None or text is None:
        return None
    w = report_common.parse(text)
    c = counted(text)
    caches = rec["caches"]
    total = lambda key: sum(v[key] for v in caches.values())
    hits, misses = total("MAIN.cache_hit"), total("MAIN.cache_miss")
    p = {
        "rps": w["rps"], "p50": w["p50"], "p99": w["p99"],
        "errors": w["non2xx"] + report_common.socket_errors(w),
        "vs_hit": hits / (hits + misses) if hits + misses else None,
        "nuked": total("MAIN.n_lru_nuked"), "objects": total("MAIN.n_object"),
        "origin": rec["origin_fetches"], "counted": c, "caches": caches,
    }
    if c and c["hit"] + c["miss"]:
        p["x_hit"] = c["hit"] / (c["hit"] + c["miss"])
        p["elsewhere"] = c["elsewhere"] / (c["hit"] + c["miss"] + c["other"])
    else:
        p["x_hit"] = p["elsewhere"] = None
    reqs = {n: v["MAIN.client_req"] for n, v in caches.items()}
    allreq = sum(reqs.values())
    p["share"] = "/".join("%.0f" % (100.0 * reqs[n] / allreq) if allreq else "-"
                          for n in sorted(reqs))
    return p


def pct(x, digits=1):
    return "-" if x is None else "%.*f%%" % (digits, 100.0 * x)


def num(x, fmt="%.0f"):
    return "-" if x is None else fmt % x


def table(out, title, header, rows):
    out.append("\n== %s ==" % title)
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        out.append("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                             for i, (c, w) in enumerate(zip(r, widths))).rstrip())


def render(work):
    meta = load_json(work, "meta.json") or {}
    out = []
    if meta:
        out.append("bench/cache  %s  portico %s  %s  %s CPUs  load %.1f before, %.1f after"
                   % (meta["date"], meta["commit"], meta["varnish"], meta["cpus"],
                      meta["load_before"], meta.get("load_after", float("nan"))))
        out.append("origin: %d ms per page of %d B; 3 x varnishd -s malloc,%s; %d pages "
                   "(/obj/1..%d) asked uniformly at random by wrk -t2 -c%d; %d s warm-up, "
                   "%d s per measured phase" % (
                       meta["delay_ms"], meta["page_bytes"], meta["size"], meta["urls"],
                       meta["urls"], meta["connections"], meta["warmup"], meta["seconds"]))
    urls = meta.get("urls")

    # what one page costs in a cache, from the first phase that stored something
    for tag in meta.get("balancers", []):
        rec = load_json(work, tag + ".json")
        if not rec:
            continue
        c = next(iter(rec["caches"].values()))
        if c["MAIN.n_object"]:
            each = c["SMA.s0.g_bytes"] / c["MAIN.n_object"]
            room = (c["SMA.s0.g_bytes"] + c["SMA.s0.g_space"]) / each
            out.append("one cache holds about %.0f pages (%.0f B of storage each, the body "
                       "and Varnish's object); the %s pages are %.1f caches' worth"
                       % (room, each, urls, urls / room if room else 0))
        break

    rows = []
    for tag in meta.get("balancers", []):
        p = phase(work, tag)
        if p is None:
            rows.append([tag, "(no figures)"] + [""] * 10)
            continue
        rows.append([tag, num(p["rps"]), num(p["p50"], "%.2f"), num(p["p99"], "%.2f"),
                     pct(p["x_hit"]), pct(p["vs_hit"]), str(p["origin"]), str(p["nuked"]),
                     str(p["objects"]), num(p["objects"] / urls if urls else None, "%.2f"),
                     p["share"], str(p["errors"])])
    if rows:
        table(out, "three caches, all up",
              ["balancer", "req/s", "p50 ms", "p99 ms", "hit (X-Cache)", "hit (varnishstat)",
               "origin fetches", "LRU nuked", "pages stored", "copies/page",
               "requests % c1/c2/c3", "errors"], rows)
        out.append("(hit: HIT / (HIT + MISS), as the clients saw X-Cache, and from the caches' "
                   "MAIN.cache_hit and\n cache_miss; origin fetches, LRU nuked: during the "
                   "measured run; pages stored: the caches'\n MAIN.n_object summed at its end, "
                   "copies/page: that over the pages asked for)")

    if "hash" in meta.get("balancers", []):
        first = owners(work, "hash")
        stopped = meta.get("stopped", "cache2")
        mine = sum(1 for n in first.values() if n == stopped) if first else 0
        rows = []
        for tag, title in (("hash", "3 caches"), ("hash-stopped", "%s stopped" % stopped),
                           ("hash-restarted", "%s started again (empty)" % stopped)):
            p = phase(work, tag)
            if p is None:
                rows.append([title, "(no figures)"] + [""] * 8)
                continue
            moved = "-"
            now = owners(work, tag)
            if tag != "hash" and first and now:
                changed = [u for u in first if now.get(u) != first[u]]
                of_stopped = sum(1 for u in changed if first[u] == stopped)
                moved = "%d (%s), %d of them %s's" % (
                    len(changed), pct(len(changed) / len(first)), of_stopped, stopped)
            served = (p["counted"] or {}).get("served", {})
            allserved = sum(served.values())
            share = "/".join("%.0f" % (100.0 * served.get(n, 0) / allserved) if allserved
                             else "-" for n in ("cache1", "cache2", "cache3"))
            rows.append([title, num(p["rps"]), num(p["p99"], "%.2f"), pct(p["x_hit"]),
                         pct(p["vs_hit"]), str(p["origin"]), share, pct(p["elsewhere"]),
                         moved, str(p["errors"])])
        table(out, "hash: %s stopped, then started again" % stopped,
              ["phase", "req/s", "p99 ms", "hit (X-Cache)", "hit (varnishstat)",
               "origin fetches", "responses % c1/c2/c3", "off first choice",
               "pages on another cache than at first", "errors"], rows)
        if first:
            out.append("(%s's share at first: %d of %d pages (%s); off first choice: responses "
                       "from another cache\n than the one that served the page when it was "
                       "asked for alone before the first phase;\n pages on another cache: "
                       "each page asked for alone after the phase, against that first map)"
                       % (stopped, mine, len(first), pct(mine / len(first))))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: report.py WORKDIR")
    sys.stdout.write(render(sys.argv[1]))
