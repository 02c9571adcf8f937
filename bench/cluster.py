"""The cluster part of `make bench` (issue 10, point 9): redcore, redis-rs's async cluster
client and `redis-benchmark --cluster` on one 3-primary Redis Cluster started here, in the same
run, and the routing microbenchmark (benches/route.rs).

Shapes, 50 concurrent callers each, GET and SET of 3-byte values:
  calls      one blocking call at a time per caller (redcore: 50 threads on one client;
             redis-rs: 50 tasks on one cluster connection; redis-benchmark -c 50 -P 1)
  pipelines  of 128 commands per caller, one after another: redcore with keys drawn over all
             slots (a pipeline spans the nodes) and with the keys of one slot; redis-rs with the
             keys of one slot (its cluster pipelines take one slot) and, to span the nodes, 128
             concurrent calls awaited together; redis-benchmark -c 50 -P 128 (each connection
             to one node, and all of a node's keys on one slot of it)
The drivers' keys are --grouped ("{g}:i": 128 consecutive keys share a slot; the groups cover
the slots), filled once before the runs. Connections held = the most that the nodes counted
together (`connected_clients`, sampled every 50 ms) while the client ran.
"""

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from measure import (answers_ping, human, log, log_targets, med, ratio, run_json, spread,
                     summarise, target, target_table)

PRIMARIES = 3
BUS_OFFSET = 10000  # a node's cluster bus port is its port + 10000
CALLERS = 50
DEPTH = 128
GROUP = 128  # the drivers' --grouped keys: GROUP consecutive keys share a slot
ROUTE_GOAL_NS = 50
JOINED = f"redis-rs {DEPTH} calls joined, across nodes"  # the label of redis-rs's join runs


# ---- the cluster ---------------------------------------------------------------------------


def free_port_pairs(n):
    """`n` distinct free loopback ports whose bus ports (+BUS_OFFSET) are free too."""
    held, ports = [], []
    for _ in range(1000):
        if len(ports) == n:
            break
        s, bus = socket.socket(), socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        try:
            if port + BUS_OFFSET > 65535:
                raise OSError("bus port out of range")
            bus.bind(("127.0.0.1", port + BUS_OFFSET))
        except OSError:
            s.close()
            bus.close()
            continue
        held += [s, bus]  # held until all are picked, so that none is picked twice
        ports.append(port)
    for s in held:
        s.close()
    if len(ports) < n:
        sys.exit(f"bench: no {n} free port pairs")
    return ports


def cli(port, *args):
    p = subprocess.run(["redis-cli", "-p", str(port)] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=30)
    return p.stdout


class Cluster:
    """PRIMARIES redis-servers in cluster mode (no replicas, no persistence) on free loopback
    ports in a dir under `work`, joined with `redis-cli --cluster create`; ready once every node
    says cluster_state:ok and all answer the same CLUSTER SLOTS."""

    def __init__(self, work):
        self.dir = tempfile.mkdtemp(prefix="cluster-", dir=work)
        self.procs = []
        for _ in range(5):
            self.ports = free_port_pairs(PRIMARIES)
            self.procs = [self._launch(i, p) for i, p in enumerate(self.ports)]
            if all(answers_ping(proc, port, 200) for proc, port in zip(self.procs, self.ports)):
                break
            self.stop(keep_dir=True)  # a port was taken from under a node: other ports
        else:
            sys.exit(f"bench: could not start the cluster's nodes (logs in {self.dir})")
        addrs = [f"127.0.0.1:{p}" for p in self.ports]
        p = subprocess.run(["redis-cli", "--cluster", "create"] + addrs
                           + ["--cluster-replicas", "0", "--cluster-yes"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        if p.returncode != 0:
            self.stop(keep_dir=True)
            sys.exit(f"bench: redis-cli --cluster create failed:\n{p.stdout}")
        for _ in range(600):  # up to ~30 s; about 2 s on a quiet machine
            if self._ready():
                break
            time.sleep(0.05)
        else:
            self.stop(keep_dir=True)
            sys.exit(f"bench: the cluster was not ready within 30 s (logs in {self.dir})")
        self.url = "redis+cluster://" + ",".join(addrs) + "?protocol=2"

    def _launch(self, i, port):
        d = os.path.join(self.dir, str(i))
        os.makedirs(d, exist_ok=True)
        if os.path.exists(os.path.join(d, "nodes.conf")):  # from a start that failed
            os.remove(os.path.join(d, "nodes.conf"))
        return subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", d,
             "--logfile", os.path.join(d, "redis.log"), "--cluster-enabled", "yes",
             "--cluster-config-file", os.path.join(d, "nodes.conf"),
             "--cluster-node-timeout", "5000"])

    def _ready(self):
        slots = set()
        for port in self.ports:
            if "cluster_state:ok" not in cli(port, "cluster", "info"):
                return False
            slots.add(cli(port, "cluster", "slots"))
        return len(slots) == 1

    def version(self):
        out = subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE, text=True)
        return out.stdout.strip().split(" sha=")[0]

    def stop(self, keep_dir=False):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


# ---- connections held ----------------------------------------------------------------------


class ConnectionPeak:
    """The most client connections the nodes counted together while a client ran: a thread
    asks every node `INFO clients` every 50 ms on a connection of its own and keeps the highest
    sum of connected_clients, less the count it saw before the client started (its own)."""

    def __init__(self, ports):
        self.socks = [socket.create_connection(("127.0.0.1", p), timeout=5) for p in ports]
        self.base = self._sample()
        self.peak = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _info(self, s):
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$7\r\nclients\r\n")
        buf = b""
        while b"\r\n" not in buf:
            buf += s.recv(4096)
        head, rest = buf.split(b"\r\n", 1)
        need = int(head[1:]) + 2
        while len(rest) < need:
            rest += s.recv(4096)
        for line in rest.decode().splitlines():
            if line.startswith("connected_clients:"):
                return int(line.split(":")[1])
        return 0

    def _sample(self):
        return sum(self._info(s) for s in self.socks)

    def _watch(self):
        while not self.stopping.wait(0.05):
            self.peak = max(self.peak, self._sample() - self.base)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()
        for s in self.socks:
            s.close()


# ---- the runs -----------------------------------------------------------------------------


def sizes(quick):
    """(keys filled, calls per calls run, commands per pipelines run). The pipelines runs of
    redis-rs make a half (its pipelines) and an eighth (its joined calls) of these commands:
    at its pace, a few seconds each, as the others take."""
    q = 10 if quick else 1
    keys = 131_072 if quick else 1_048_576  # multiples of GROUP
    return keys, 400_000 // q, 4_096_000 // q  # CALLERS * DEPTH * 8 divides the last


def scenarios(quick):
    """[(id, params, [(label, driver, args)])]; driver: "redcore", "redis-rs" or
    "redis-benchmark" (args then: clients, pipeline, n, keys)."""
    keys, calls_n, pipe_n = sizes(quick)
    out = []
    for op in ["set", "get"]:
        common = ["--op", op, "--size", "3", "--threads", str(CALLERS), "--keys", str(keys)]
        calls = ["--mode", "calls", "--n", str(calls_n)] + common
        out.append((f"cl-calls-{op}", {"op": op, "depth": 1}, [
            ("redcore", "redcore", calls),
            ("redis-rs", "redis-rs", calls),
            ("redis-benchmark", "redis-benchmark", (CALLERS, 1, calls_n, keys)),
        ]))
        pipe = ["--depth", str(DEPTH)] + common

        def n(k):
            return ["--n", str(pipe_n // k)]

        out.append((f"cl-pipe{DEPTH}-{op}", {"op": op, "depth": DEPTH}, [
            ("redcore pipeline, across nodes", "redcore",
             ["--mode", "pipelines", "--span", "nodes"] + n(1) + pipe),
            ("redcore pipeline, one slot", "redcore",
             ["--mode", "pipelines", "--span", "slot"] + n(1) + pipe),
            ("redis-rs pipeline, one slot", "redis-rs", ["--mode", "pipelines"] + n(2) + pipe),
            (JOINED, "redis-rs", ["--mode", "join"] + n(8) + pipe),
            ("redis-benchmark", "redis-benchmark", (CALLERS, DEPTH, pipe_n, keys)),
        ]))
    return out


def redis_benchmark(cluster, op, clients, pipeline, n, keys):
    """`redis-benchmark --cluster` for one op. It names its keys `key:{tag}:NNNNNNNNNNNN`
    with one tag (one slot) per node: with `-r keys/PRIMARIES`, as many keys in all as the
    drivers use, but on 3 slots (it cannot spread them over all slots). Its GETs find the
    keys its SETs (run before them) set; a few miss, which costs the server a little less
    than a hit. CPU: the process's user + sys (from wait4)."""
    cmd = ["redis-benchmark", "--cluster", "-h", "127.0.0.1", "-p", str(cluster.ports[0]),
           "-c", str(clients), "-P", str(pipeline), "-n", str(n), "-r", str(keys // PRIMARIES),
           "-d", "3", "-t", op, "--csv"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ConnectionPeak(cluster.ports) as peak:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rate = None
    for line in p.stdout.splitlines():
        cells = [c.strip('"') for c in line.split('",')]
        if cells and cells[0] == op.upper():
            rate = float(cells[1].strip('"'))
    if p.returncode != 0 or rate is None:
        sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"ops_per_sec": rate, "cpu_us_per_op": cpu * 1e6 / n, "connections": peak.peak}


def driver_cmd(exes, cluster, driver, args):
    if driver == "redcore":
        return [exes["e2e-redcore"], "--url", cluster.url, "--grouped"] + args
    return [exes["redis_rs"], "--conn", "cluster", "--port", str(cluster.ports[0])] + args


def suite(exes, runs, quick, work):
    """Starts the cluster, fills the keys, runs every scenario `runs` times (each run starting
    with another client) and the routing microbenchmark once a run; stops the cluster.
    -> (scenarios, {(id, label): [result per run]}, [route result per run], server version)"""
    keys = sizes(quick)[0]
    log(f"== cluster: {PRIMARIES} primaries ==")
    cluster = Cluster(work)
    try:
        log(f"cluster on ports {', '.join(map(str, cluster.ports))}; filling {keys} keys")
        run_json(driver_cmd(exes, cluster, "redcore",
                            ["--mode", "fill", "--keys", str(keys), "--size", "3"]))
        sc = scenarios(quick)
        res, route = {}, []
        started = time.time()
        for r in range(runs):
            log(f"cluster run {r + 1}/{runs} "
                f"({time.time() - started:.0f} s into the cluster suite)")
            for sid, params, clients in sc:
                k = r % len(clients)
                for label, driver, args in clients[k:] + clients[:k]:
                    if driver == "redis-benchmark":
                        out = redis_benchmark(cluster, params["op"], *args)
                    else:
                        with ConnectionPeak(cluster.ports) as peak:
                            out = run_json(driver_cmd(exes, cluster, driver, args))
                        out["connections"] = peak.peak
                    res.setdefault((sid, label), []).append(out)
            route.append(run_json([exes["route"], "0.2" if quick else "1"]))
        return sc, res, route, cluster.version()
    finally:
        cluster.stop()


# ---- figures --------------------------------------------------------------------------------


def summary(res, route):
    """(per scenario and client, per routing case): medians with min and max."""
    csum = summarise(res, ["ops_per_sec", "cpu_us_per_op", "p50_us", "p99_us", "connections"])
    cases = {}
    for r in route:
        for c in r["cases"]:
            cases.setdefault(c["name"], []).append(c)
    rsum = summarise(cases, ["ns_per_plan", "allocs_per_plan"])
    return csum, rsum


def targets(csum, rsum):
    t = []

    def add(*a, **kw):
        t.append(target(*a, **kw))

    for op in ["set", "get"]:
        sid = f"cl-pipe{DEPTH}-{op}"
        rc_n = med(csum, (sid, "redcore pipeline, across nodes"), "ops_per_sec")
        rc_s = med(csum, (sid, "redcore pipeline, one slot"), "ops_per_sec")
        rr_j = med(csum, (sid, JOINED), "ops_per_sec")
        rr_s = med(csum, (sid, "redis-rs pipeline, one slot"), "ops_per_sec")
        rb = med(csum, (sid, "redis-benchmark"), "ops_per_sec")
        shape = f"{CALLERS} callers, pipelines of {DEPTH} {op.upper()}"
        add(f"cluster, {shape} across nodes ≥ 1.0x redis-rs ({DEPTH} calls joined)",
            f"{human(rc_n)}/s vs {human(rr_j)}/s", ratio(rc_n, rr_j), 1.0)
        add(f"cluster, {shape} on one slot ≥ 1.0x redis-rs pipelines",
            f"{human(rc_s)}/s vs {human(rr_s)}/s", ratio(rc_s, rr_s), 1.0)
        # redis-benchmark --cluster puts each pipeline's keys on one slot of one node: the
        # like-for-like shape is redcore's one-slot pipeline. Across nodes (grouped per node,
        # three nodes per pipeline) is a harder shape that redis-benchmark does not run; it is
        # reported beside it, with no goal.
        add(f"cluster, {shape} on one slot (redis-benchmark's key shape) ≥ 0.8x "
            f"redis-benchmark --cluster -c {CALLERS} -P {DEPTH}",
            f"{human(rc_s)}/s vs {human(rb)}/s", ratio(rc_s, rb), 0.8)
        t.append({"target": f"cluster, {shape} across nodes vs redis-benchmark --cluster -c "
                            f"{CALLERS} -P {DEPTH} (no goal: a shape redis-benchmark does not run)",
                  "measured": f"{human(rc_n)}/s vs {human(rb)}/s", "ratio": ratio(rc_n, rb),
                  "threshold": None, "higher_is_better": True, "met": None})
    ns = med(rsum, "GET", "ns_per_plan")
    add(f"routing cost of a GET (command table lookup + key slot) < {ROUTE_GOAL_NS} ns",
        f"{human(ns)} ns", None if ns is None else ns / ROUTE_GOAL_NS, 1.0,
        higher_is_better=False)
    return t


def markdown(sc, csum, rsum, tg, level="##"):
    """The cluster section of results.md."""
    L = [f"{level} Cluster: {PRIMARIES} primaries, {CALLERS} concurrent callers (issue 10)\n"]
    L.append(f"A Redis Cluster of {PRIMARIES} primaries without replicas started for the run on "
             "loopback (the same 2 cores serve the nodes and the client). Keys spread over all "
             f"slots, 3-byte values, RESP2, TCP_NODELAY. **redcore** through its C API: one "
             f"client from a `redis+cluster://` URL shared by {CALLERS} threads making blocking "
             f"calls or running blocking pipelines of {DEPTH} (`redcore_pipeline`; a pipeline "
             "whose keys span the nodes is grouped per node, written to every node, then "
             "read). **redis-rs** 1.x async cluster client, one `ClusterConnection` on a "
             f"current-thread tokio runtime shared by {CALLERS} tasks; its pipelines must stay "
             f"on one slot, so spanning the nodes is {DEPTH} concurrent calls awaited together. "
             f"**redis-benchmark --cluster** `-c {CALLERS}` (connections spread over the nodes; "
             "it puts all of a node's keys on one slot of it, as many keys in all as the "
             "others use) is the servers' ceiling. Connections = the "
             "most the nodes counted together while the client ran; CPU = user+sys of the "
             "client process / ops; p50 / p99 = per call, or per pipeline round trip.\n")
    L += target_table(tg) + [""]
    L.append("| shape | client | connections | ops/s | vs redis-rs | vs redis-benchmark | "
             "CPU µs/op | p50 µs | p99 µs |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for sid, params, clients in sc:
        shape = (f"calls {params['op'].upper()}" if params["depth"] == 1
                 else f"pipelines of {params['depth']} {params['op'].upper()}")
        rr_label = {"redcore pipeline, across nodes": JOINED,
                    "redcore pipeline, one slot": "redis-rs pipeline, one slot",
                    "redcore": "redis-rs"}
        rb = med(csum, (sid, "redis-benchmark"), "ops_per_sec")
        for label, _, _ in clients:
            s = csum.get((sid, label))
            if not s:
                continue
            ops = med(csum, (sid, label), "ops_per_sec")
            rr = med(csum, (sid, rr_label[label]), "ops_per_sec") if label in rr_label else None
            vs_rr = "–" if rr is None else f"{ratio(ops, rr):.2f}x"
            vs_rb = "–" if label == "redis-benchmark" or not rb else f"{ratio(ops, rb):.2f}x"
            conns = int(s["connections"]["median"]) if s.get("connections") else "–"
            L.append(f"| {shape} | {label} | {conns} | {spread(s['ops_per_sec'])} | {vs_rr} | "
                     f"{vs_rb} | {human(med(csum, (sid, label), 'cpu_us_per_op'))} | "
                     f"{human(med(csum, (sid, label), 'p50_us'))} | "
                     f"{human(med(csum, (sid, label), 'p99_us'))} |")
    L.append("\n\"vs redis-rs\" compares like with like: across nodes with redis-rs's joined "
             "calls, one slot with its pipelines.\n")
    L.append(f"{level}# Routing cost per command (benches/route.rs)\n")
    L.append("`route::cluster::plan` (command table lookup, key positions, CRC16 slot with hash "
             "tags) over 64 different commands a round, best round of many; then the whole "
             "decision (plan, slot owner from the topology of a real cluster, node choice). "
             f"Goal: under {ROUTE_GOAL_NS} ns for a GET.\n")
    L.append("| case | ns per plan | heap allocations |")
    L.append("|---|---|---|")
    for name, s in rsum.items():
        L.append(f"| {name} | {spread(s['ns_per_plan'])} | "
                 f"{human(s['allocs_per_plan']['median'])} |")
    return L + [""]


def print_ratios(sc, csum, tg):
    log("\n== cluster: ratios (median) ==")
    for sid, _, clients in sc:
        rb = med(csum, (sid, "redis-benchmark"), "ops_per_sec")
        for label, _, _ in clients:
            ops = med(csum, (sid, label), "ops_per_sec")
            conns = med(csum, (sid, label), "connections")
            r = ratio(ops, rb)
            log(f"{sid} {label}: {human(ops)}/s, {human(med(csum, (sid, label), 'cpu_us_per_op'))} "
                f"µs CPU/op, {conns if conns is None else int(conns)} connections"
                + ("" if label == "redis-benchmark" or r is None
                   else f"; vs redis-benchmark {r:.2f}x"))
    log("\n== cluster: targets ==")
    log_targets(tg)
