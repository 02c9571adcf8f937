"""The Go part of `make bench`: the redcore Go binding beside go-redis v9 and valkey-go.

Runs the benchmark module bindings/go/bench (`go test -bench BenchmarkGoClients`) against the
suite's redis-server, RUNS times, each run a fresh `go test` process running every scenario
once (so the clients interleave and a machine that gets busier part-way penalises all of them
alike), plus the binding's own cgo crossing benchmark. Writes bench/go-results.json and
bench/go-results.md (also when run alone: `python3 bench/run.py --only go`), and returns the
summary for bench/results.json.

Scenarios: GET and SET of a 16-byte value from 1, 64 and 512 goroutines, GET from one
goroutine whose every call carries a context with a deadline (as in a server handling a
request), and pipelines of 100 GETs from one goroutine. Figures per scenario and client: ops/s (commands; a pipeline counts
its 100), allocations and bytes per call (-benchmem, every goroutine of the process counted),
and the connections the server counted at the end.
"""

import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GO_DIR = os.path.join(ROOT, "bindings", "go")
BENCH_DIR = os.path.join(GO_DIR, "bench")
CLIENTS = ["redcore", "go-redis", "valkey-go"]
SCENARIOS = [("GET", 1), ("GET-deadline", 1), ("GET", 64), ("GET", 512), ("SET", 1),
             ("SET", 64), ("SET", 512), ("PIPELINE100", 1)]
LINE = re.compile(r"^Benchmark(\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def log(*a):
    print(*a, flush=True)


def go_env(release_dir):
    env = dict(os.environ)
    env["CGO_LDFLAGS"] = f"-L{release_dir}"
    return env


def parse(output):
    """{name: {unit: value}} from `go test -bench` output."""
    out = {}
    for line in output.splitlines():
        m = LINE.match(line.strip())
        if not m:
            continue
        name, fields = m.group(1), m.group(3).split()
        metrics = {fields[i + 1]: float(fields[i]) for i in range(0, len(fields) - 1, 2)}
        out[name] = metrics
    return out


def go_test(args, cwd, env, timeout):
    cmd = ["go", "test", "-run", "^$"] + args
    log("  $ (cd " + os.path.relpath(cwd, ROOT) + " && " + " ".join(cmd) + ")")
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        sys.exit(f"bench: go test failed ({p.returncode}):\n{p.stdout}")
    return p.stdout


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def run(server_port, release_dir, runs, quick):
    """Runs the suite; returns the summary written to bench/go-results.json."""
    load_at_start = os.getloadavg()[0]
    env = go_env(release_dir)
    env["REDCORE_BENCH_URL"] = f"redis://127.0.0.1:{server_port}"
    benchtime = "2000x" if quick else "1s"
    version = subprocess.run(["go", "version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    raw = {}
    for i in range(runs):
        log(f"-- Go clients, run {i + 1} of {runs}")
        out = go_test(["-bench", "BenchmarkGoClients", "-benchmem", "-benchtime", benchtime,
                       "-count", "1"], BENCH_DIR, env, timeout=1800)
        for name, metrics in parse(out).items():
            raw.setdefault(name, []).append(metrics)
    log("-- cgo crossings")
    crossing = parse(go_test(["-bench", "BenchmarkCrossing", "-benchtime",
                              "200000x" if quick else "5000000x", "-count", "1"],
                             GO_DIR, go_env(release_dir), timeout=600))
    summary = {}
    for op, goroutines in SCENARIOS:
        for client in CLIENTS:
            name = f"GoClients/{op}/goroutines={goroutines}/{client}"
            runs_of = raw.get(name)
            if not runs_of:
                sys.exit(f"bench: no result for {name}")
            summary[f"{op}/{goroutines}/{client}"] = {
                unit: stats([r[unit] for r in runs_of if unit in r])
                for unit in ("ops/s", "allocs/op", "B/op", "conns")}
    result = {
        "go": version,
        "runs": runs,
        "quick": quick,
        "benchtime": benchtime,
        "summary": summary,
        "crossing_ns": {k.split("/")[-1]: v["ns/op"] for k, v in crossing.items()},
        # The machine is shared: a load above its 2 cores makes the sequential figures swing.
        "load": [round(load_at_start, 1), round(os.getloadavg()[0], 1)],
        "raw": raw,
    }
    return result


def targets(res):
    """Issue 14's goals for the Go benchmark: (name, measured, ratio, MET/MISSED)."""
    s = res["summary"]

    def med(op, g, client, unit="ops/s"):
        return s[f"{op}/{g}/{client}"][unit]["median"]

    rows = []
    for op in ("GET", "SET", "GET-deadline"):
        r = med(op, 1, "redcore") / med(op, 1, "go-redis")
        bar = " (our own bar: issue 14 sets none for it)" if op == "GET-deadline" else ""
        rows.append((f"sequential {op} >= 0.95x go-redis{bar}",
                     f"{med(op, 1, 'redcore'):,.0f} vs {med(op, 1, 'go-redis'):,.0f}/s", r, r >= 0.95))
    for op in ("GET", "SET"):
        for g in (64, 512):
            rg = med(op, g, "redcore") / med(op, g, "go-redis")
            rv = med(op, g, "redcore") / med(op, g, "valkey-go")
            conns = (med(op, g, "redcore", "conns"), med(op, g, "go-redis", "conns"))
            rows.append((f"{op} x{g} goroutines >= 2x go-redis", f"{med(op, g, 'redcore'):,.0f} vs "
                         f"{med(op, g, 'go-redis'):,.0f}/s", rg, rg >= 2))
            rows.append((f"{op} x{g} goroutines >= 0.8x valkey-go", f"{med(op, g, 'redcore'):,.0f} vs "
                         f"{med(op, g, 'valkey-go'):,.0f}/s", rv, rv >= 0.8))
            rows.append((f"{op} x{g} goroutines: fewer connections than go-redis",
                         f"{conns[0]:.0f} vs {conns[1]:.0f}", conns[0] / max(conns[1], 1),
                         conns[0] < conns[1]))
    worst = max(med(op, g, "redcore", "allocs/op") - med(op, g, "go-redis", "allocs/op")
                for op, g in SCENARIOS)
    rows.append(("allocations per call <= go-redis's, every scenario",
                 f"redcore minus go-redis, worst scenario: {worst:+.0f}", None, worst <= 0))
    return rows


def markdown(res, server):
    s = res["summary"]
    lines = [
        "# Go clients: redcore's binding, go-redis v9, valkey-go",
        "",
        f"{res['go']}; {server}; loopback; GOMAXPROCS = {os.cpu_count()} (every core of the "
        f"machine, shared with the server); load average {res.get('load', ['?', '?'])[0]} at the "
        f"start, {res.get('load', ['?', '?'])[1]} at the end. Median of {res['runs']} runs (min-max in "
        f"brackets), each a fresh `go test -bench BenchmarkGoClients -benchmem -benchtime "
        f"{res['benchtime']}` in bindings/go/bench" + (" (QUICK: the figures mean little)" if res["quick"] else "") + ".",
        "",
        "| scenario | redcore | go-redis | valkey-go | vs go-redis | vs valkey-go | allocs/call (rc / gr / vk) | conns (rc / gr / vk) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for op, g in SCENARIOS:
        cell = {c: s[f"{op}/{g}/{c}"] for c in CLIENTS}

        def ops(c):
            o = cell[c]["ops/s"]
            return f"{o['median']:,.0f}/s ({o['min']:,.0f}-{o['max']:,.0f})"
        rc = cell["redcore"]["ops/s"]["median"]
        label = {"PIPELINE100": "pipelines of 100 GETs, 1 goroutine",
                 "GET-deadline": "GET, 1 goroutine, context with a deadline"}.get(
            op, f"{op}, {g} goroutine{'s' if g > 1 else ''}")
        lines.append(
            f"| {label} | {ops('redcore')} | {ops('go-redis')} | {ops('valkey-go')} | "
            f"{rc / cell['go-redis']['ops/s']['median']:.2f}x | "
            f"{rc / cell['valkey-go']['ops/s']['median']:.2f}x | "
            + " / ".join(f"{cell[c]['allocs/op']['median']:.0f}" for c in CLIENTS) + " | "
            + " / ".join(f"{cell[c]['conns']['median']:.0f}" for c in CLIENTS) + " |")
    lines += ["", "## Targets (issue 14)", "", "| target | measured | ratio | |", "|---|---|---|---|"]
    for name, measured, ratio, met in targets(res):
        r = "" if ratio is None else f"{ratio:.2f}"
        lines.append(f"| {name} | {measured} | {r} | {'MET' if met else '**MISSED**'} |")
    c = res["crossing_ns"]
    lines += ["", "## One cgo crossing here", "",
              f"- Go -> C (a call into the library that does almost nothing): "
              f"{c.get('go-to-c', 0):.0f} ns",
              f"- C -> Go from a thread C started (what a callback per command from the "
              f"library's event loop costs before any channel send or goroutine wake-up): "
              f"{c.get('c-thread-to-go', 0):.0f} ns", ""]
    return "\n".join(lines)


def write(res, server, bench_dir):
    out = os.path.join(bench_dir, "go-results")
    with open(out + ".json", "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    with open(out + ".md", "w") as f:
        f.write(markdown(res, server))
    for name, measured, ratio, met in targets(res):
        r = "" if ratio is None else f"{ratio:.2f}"
        log(f"{'MET' if met else 'MISSED':6} {r:>6}  {name}  [{measured}]")
    log(f"wrote {os.path.relpath(out, ROOT)}.json, {os.path.relpath(out, ROOT)}.md")
