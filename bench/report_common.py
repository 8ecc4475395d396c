"""What the reports of bench/ (report.py, apps_conf/report.py, spawn_cold/report.py,
recycle_files/report.py) share: reading a raw file of a run, and wrk's `--latency` output."""

import os
import re

UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
UNIT_B = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def read(work, name):
    """The text of a raw file of the run in `work`, or None."""
    try:
        with open(os.path.join(work, name)) as f:
            return f.read()
    except OSError:
        return None


def ms(text):
    """A wrk duration ("812.00us", "1.52ms", "2.01s", "1.00m") in milliseconds, or None."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNIT_MS[m.group(2)] if m else None


def parse(text):
    """What wrk printed: requests (None when absent), rps, mibps, p50/p75/p90/p99 and max (ms;
    None when absent), non2xx, and socket (connect, read, write, timeout; None when absent)."""
    text = text or ""
    r = {"requests": None, "rps": None, "mibps": None, "max": None, "non2xx": 0, "socket": None}
    m = re.search(r"(\d+) requests in", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB|TB)", text)
    if m:
        r["mibps"] = float(m.group(1)) * UNIT_B[m.group(2)] / 1024**2
    m = re.search(r"^\s*Latency\s+\S+\s+\S+\s+(\S+)", text, re.M)
    if m:
        r["max"] = ms(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s*%s(?:\.000)?%%\s+(\S+)\s*$" % pct, text, re.M)
        r["p" + pct] = ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        r["socket"] = tuple(int(x) for x in m.groups())
    return r


def socket_errors(r):
    return sum(r["socket"]) if r["socket"] else 0
