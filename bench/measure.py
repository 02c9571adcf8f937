"""What every part of `make bench` shares: running a command, a driver (which prints one JSON
object) or a redis-server, the figures made of their runs (median with min and max,
human-readable numbers, ratios) and the targets they are held to."""

import json
import socket
import statistics
import subprocess
import sys
import time


def log(*a):
    print(*a, flush=True)


def run(cmd, **kw):
    log("  $ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kw)


def run_json(cmd, timeout=600):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    if p.returncode != 0 or not line.startswith("{"):
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return json.loads(line)


def answers_ping(proc, port, tries=100):
    """Whether the redis-server `proc` answers PING on `port` within `tries` * 50 ms (False
    at once if it exits: its port was taken, say)."""
    for _ in range(tries):
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(raw, fields):
    return {k: {f: stats([r.get(f) for r in rs]) for f in fields} for k, rs in raw.items()}


def med(summary, key, field):
    s = summary.get(key, {}).get(field)
    return s["median"] if s else None


def human(v, unit=""):
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M{unit}"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k{unit}"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k{unit}"
    if v >= 100:
        return f"{v:.0f}{unit}"
    return f"{v:.2f}{unit}"


def spread(s, unit=""):
    if not s:
        return "–"
    if s["min"] == s["max"]:
        return human(s["median"], unit)
    return f"{human(s['median'], unit)} ({human(s['min'])}–{human(s['max'])})"


def ratio(a, b):
    return a / b if a and b else None


def fmt_ratio(a, b):
    r = ratio(a, b)
    return "–" if r is None else f"{r:.2f}x"


# ---- targets --------------------------------------------------------------------------------


def target(name, measured, r, threshold, higher_is_better=True):
    """A target of an issue: its name, the measured figures (text), the ratio and whether it
    is met (None when a figure is missing)."""
    met = None if r is None else (r >= threshold if higher_is_better else r <= threshold)
    return {"target": name, "measured": measured, "ratio": r, "threshold": threshold,
            "higher_is_better": higher_is_better, "met": met}


def target_table(tg):
    """The markdown table of targets."""
    L = ["| target | measured (median) | ratio | |", "|---|---|---|---|"]
    for t in tg:
        r = "–" if t["ratio"] is None else f"{t['ratio']:.2f}"
        st = "–" if t["met"] is None else ("MET" if t["met"] else "**MISSED**")
        L.append(f"| {t['target']} | {t['measured']} | {r} | {st} |")
    return L


def log_targets(tg):
    for t in tg:
        st = "–" if t["met"] is None else ("MET" if t["met"] else "MISSED")
        r = "–" if t["ratio"] is None else f"{t['ratio']:.2f}"
        log(f"{st:6} {r:>6}  {t['target']}  [{t['measured']}]")
