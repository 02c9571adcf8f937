"""`make bench`'s hiredis section (`python3 bench/run.py --only hiredis` runs it alone): redcore's
hiredis-compatible library (libhiredis.a of the `hiredis` feature build) against real hiredis
1.5.0, in the same run, on what a program switching from one to the other would notice.

  reader    bench/c/parse_hiredis.c built twice, against hiredis's headers and archive and
            against include/hiredis and our archive: every parser workload of the suite, plus
            arrays of 100 bulk strings (as LRANGE 0 99 returns them); ratio = ours / hiredis,
            target >= 1.0 on each.
  redis-benchmark
            Redis's own redis-benchmark (the source of Debian's redis package, fetched with
            apt-get into bench/peers) built twice, on hiredis and on our library: requests per
            second of each test and the client's CPU (user + system of the process), target
            CPU ratio <= 1.0. The scenarios without pipelining run once more with client and
            server pinned to one core: the client's CPU is then its own work and its system
            calls, without the wake-ups across cores that make a two-core pair swing by about
            10% (a one-core pair by 1-4%).
  instructions
            with valgrind installed, each reader workload and each redis-benchmark run (at the
            QUICK request counts) once more under callgrind: the instructions each build runs in
            user space, which, unlike time, a busy machine does not change (the reader's not at
            all; redis-benchmark's a little, as replies arriving apart take more turns of its
            loop than replies arriving together). Reader ratio =
            hiredis / ours (> 1: ours runs fewer), redis-benchmark ratio = ours / hiredis (as
            the CPU ratio; the system calls are the same: one read and one write per turn).

Every run of a row is a back-to-back pair of the two builds, and a row's ratio is the median of
its pairs' ratios (the rates and seconds shown are the medians of each build's runs). The rows
whose time is mostly the kernel's, the same for either library, swing by about 10% from run to
run, so they run several shorter pairs per run: reader (d) (its 16 MB of fresh strings a pass
cost both readers the same page faults) and redis-benchmark without pipelining.

Writes bench/hiredis-results.md and .json (under bench/work for quick or partial runs).
"""

import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile

from measure import human, log, run, run_json

NATIVE_STATIC_LIBS = ["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"]
REDIS_PACKAGE = "redis"  # Debian's source package: Redis with redis-benchmark.c
# redis-benchmark's objects, as Redis's Makefile lists them (REDIS_BENCHMARK_OBJ).
REDIS_BENCHMARK_SOURCES = ["ae", "anet", "adlist", "dict", "zmalloc", "redisassert", "release",
                           "crcspeed", "crc64", "siphash", "crc16", "monotonic", "mt19937-64"]


# ---- building -------------------------------------------------------------------------------


def build_parsers(root, build, vendor, libhiredis):
    """parse_hiredis.c on hiredis and on our archive: {"hiredis": path, "redcore": path}."""
    c = os.path.join(root, "bench", "c")
    src = [os.path.join(c, "parse_hiredis.c"), os.path.join(c, "parse_bench.c")]
    ours = os.path.join(root, "target", "hiredis", "release", "libhiredis.a")
    if not os.path.exists(ours):
        sys.exit(f"bench: {ours} is missing; run make first")
    flags = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"]
    out = {"hiredis": os.path.join(build, "parse-hiredis"),
           "redcore": os.path.join(build, "parse-hiredis-compat")}
    run(["cc"] + flags + ["-I", vendor] + src + [libhiredis, "-o", out["hiredis"]])
    run(["cc"] + flags + ["-I", os.path.join(root, "include", "hiredis")] + src + [ours]
        + NATIVE_STATIC_LIBS + ["-o", out["redcore"]])
    return out


def fetch_redis_source(peers, build):
    """Debian's redis source package (apt-get source, with apt's lists and cache in bench/peers
    so that the system's apt configuration is left alone), unpacked in build/bench. Returns the
    source tree."""
    apt = os.path.join(peers, "apt")
    trees = [d for d in os.listdir(build) if d.startswith("redis-") and
             os.path.isdir(os.path.join(build, d, "src"))] if os.path.isdir(build) else []
    if trees:
        return os.path.join(build, sorted(trees)[-1])
    origs = [f for f in os.listdir(apt) if f.endswith(".orig.tar.gz")] if os.path.isdir(apt) else []
    if not origs:
        log("fetching Redis's source (Debian's redis source package, apt-get source)")
        for d in ["lists/partial", "cache/archives/partial", "parts"]:
            os.makedirs(os.path.join(apt, d), exist_ok=True)
        with open(os.path.join(apt, "parts", "debian-src.sources"), "w") as f:
            f.write("Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n"
                    "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
        opts = ["-o", "Dir::Etc::SourceList=/dev/null",
                "-o", f"Dir::Etc::SourceParts={apt}/parts",
                "-o", f"Dir::State::Lists={apt}/lists", "-o", f"Dir::Cache={apt}/cache",
                "-o", "APT::Sandbox::User=root"]
        run(["apt-get", "-q"] + opts + ["update"], stdout=subprocess.DEVNULL)
        run(["apt-get", "-q"] + opts + ["source", "--download-only", REDIS_PACKAGE], cwd=apt,
            stdout=subprocess.DEVNULL)
        origs = [f for f in os.listdir(apt) if f.endswith(".orig.tar.gz")]
        if not origs:
            sys.exit("bench: apt-get source redis gave no .orig.tar.gz")
    with tarfile.open(os.path.join(apt, sorted(origs)[-1])) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(build, filter="data")
    return os.path.join(build, top)


def build_redis_benchmark(root, build, redis, vendor, libhiredis):
    """redis-benchmark on hiredis and on our archive: {"hiredis": path, "redcore": path}. The
    same objects, flags and hiredis calls; only the library (and its headers) differ."""
    src = os.path.join(redis, "src")
    out_dir = os.path.join(build, "redis-benchmark")
    os.makedirs(out_dir, exist_ok=True)
    # Redis 7.0 vendors a hiredis whose sds functions are hi_sds*, mapped by its sdscompat.h;
    # hiredis 1.1 and later (and redcore) name them sds*, so the map is empty here.
    shim = os.path.join(out_dir, "shim")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "sdscompat.h"), "w") as f:
        f.write("/* hiredis 1.1+ names its sds functions sds*, as redis-benchmark does. */\n")
    subprocess.run(["sh", "mkreleasehdr.sh"], cwd=src, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    flags = ["-O2", "-std=c99", "-pedantic", "-DREDIS_STATIC=", "-w",
             "-I", os.path.join(redis, "deps", "hdr_histogram"),
             "-I", os.path.join(redis, "deps", "lua", "src")]
    common = []
    for name in REDIS_BENCHMARK_SOURCES:
        obj = os.path.join(out_dir, name + ".o")
        subprocess.run(["cc"] + flags + ["-I", os.path.join(redis, "deps", "hiredis"), "-c",
                                         os.path.join(src, name + ".c"), "-o", obj], check=True)
        common.append(obj)
    hdr = os.path.join(out_dir, "hdr_histogram.o")
    subprocess.run(["cc", "-O2", "-w", "-I", os.path.join(redis, "deps", "hdr_histogram"),
                    "-I", src, '-DHDR_MALLOC_INCLUDE="hdr_redis_malloc.h"', "-c",
                    os.path.join(redis, "deps", "hdr_histogram", "hdr_histogram.c"), "-o", hdr],
                   check=True)
    common.append(hdr)
    ours = os.path.join(root, "target", "hiredis", "release", "libhiredis.a")
    variants = {"hiredis": (vendor, [libhiredis]),
                "redcore": (os.path.join(root, "include", "hiredis"), [ours] + NATIVE_STATIC_LIBS)}
    out = {}
    for label, (headers, libs) in variants.items():
        objs = []
        for name in ["redis-benchmark", "cli_common"]:
            obj = os.path.join(out_dir, f"{name}-{label}.o")
            subprocess.run(["cc"] + flags + ["-I", shim, "-I", headers, "-c",
                                             os.path.join(src, name + ".c"), "-o", obj], check=True)
            objs.append(obj)
        exe = os.path.join(out_dir, f"redis-benchmark-{label}")
        run(["cc", "-o", exe] + objs + common + libs + ["-lm", "-lpthread"])
        out[label] = exe
    return out


# ---- workloads ------------------------------------------------------------------------------


def array_workload(work, quick):
    """Arrays of 100 ten-byte bulk strings, one after another (an LRANGE 0 99 reply each)."""
    n = 2_000 if quick else 20_000
    path = os.path.join(work, f"hiredis-arrays-{n}.resp")
    if not os.path.exists(path):
        one = b"*100\r\n" + b"$10\r\n0123456789\r\n" * 100
        with open(path + ".tmp", "wb") as f:
            f.write(one * n)
        os.replace(path + ".tmp", path)
    return path, f"{n:,} arrays of 100 ten-byte bulk strings", "elements", 64 * 1024


def benchmark_scenarios(quick):
    """(id, description, redis-benchmark arguments, rounds per run, on one core). Without
    pipelining the client's CPU is mostly the kernel's (the same system calls for either
    library), and one run's total swings by about 10% with where the scheduler puts client and
    server; so those scenarios run as several short rounds per run, each a hiredis/redcore
    pair, and every CPU ratio is the median of the pairs' ratios. They run again with client
    and server on one core (`pinned_server`), where a pair varies by 1-4%."""
    k = 10 if quick else 1
    c1 = ["-c", "1", "-n", "2000" if quick else "5000", "-t", "set,get,lpush,lrange_100"]
    c50 = ["-c", "50", "-n", str(100_000 // k), "-t", "set,get"]
    return [
        # (quick: the -n that callgrind's count has always used)
        ("c1", "-c 1: SET, GET, LPUSH, LRANGE_100", c1, 2 if quick else 4, False),
        ("c1-P16", "-c 1 -P 16: LRANGE_100 pipelined",
         ["-c", "1", "-P", "16", "-n", str(40_000 // k), "-t", "lpush,lrange_100"], 1, False),
        ("c50", "-c 50: SET, GET", c50, 2, False),
        ("c1-1core", "-c 1, client and server on one core: SET, GET, LPUSH, LRANGE_100", c1,
         2, True),
        ("c50-1core", "-c 50, client and server on one core: SET, GET", c50, 2, True),
    ]


# ---- running --------------------------------------------------------------------------------


# Pairs per run of the reader rows bound by page faults (see the docstring).
READER_ROUNDS = {"d": 4}


def run_parser(exe, path, workload, min_time, chunk):
    return run_json([exe, path, workload, str(min_time), str(chunk)])


def run_redis_benchmark(exe, port, args, core=None):
    """{test: requests/s}, and the client's CPU seconds (user, system); on `core` alone when
    given."""
    pin = None if core is None else (lambda: os.sched_setaffinity(0, {core}))
    proc = subprocess.Popen([exe, "-h", "127.0.0.1", "-p", str(port), "--csv", "-d", "3"] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=pin)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"bench: {exe} {' '.join(args)} failed:\n{out}")
    rates = {}
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split('",')]
        if len(cells) > 1 and cells[0] != "test":
            try:
                rates[cells[0]] = float(cells[1].strip('"'))
            except ValueError:
                pass
    return rates, (ru.ru_utime, ru.ru_stime)


def server_pid(port):
    """The process id the redis-server on `port` reports (INFO server)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
        data = b""
        while b"\r\n" not in data:
            data += s.recv(4096) or sys.exit("bench: the server closed the connection")
        header, _, body = data.partition(b"\r\n")
        if not header.startswith(b"$"):
            sys.exit(f"bench: INFO server answered {header.decode(errors='replace')}")
        size = int(header[1:])
        while len(body) < size:
            body += s.recv(65536) or sys.exit("bench: the server closed the connection")
    m = re.search(rb"process_id:(\d+)", body)
    if not m:
        sys.exit("bench: INFO server gave no process_id")
    return int(m.group(1))


@contextlib.contextmanager
def pinned_server(port, core):
    """The redis-server on `port` (each of its threads) kept on `core` meanwhile (nothing done
    when `core` is None)."""
    if core is None:
        yield
        return
    pid = server_pid(port)
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    before = {t: os.sched_getaffinity(t) for t in threads}
    for t in threads:
        os.sched_setaffinity(t, {core})
    try:
        yield
    finally:
        for t, cpus in before.items():
            try:
                os.sched_setaffinity(t, cpus)
            except ProcessLookupError:
                pass  # gone with the server: the error that stopped the run is the one to see


def instructions(cmd):
    """The instructions `cmd` runs in user space, counted by callgrind."""
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/out"] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           timeout=3600)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode != 0 or not m:
        sys.exit(f"bench: callgrind {' '.join(cmd)} failed:\n{p.stderr}")
    return int(m.group(1))


def med(values):
    return statistics.median(values) if values else None


def suite(root, build, peers, work, vendor, libhiredis, parser_files, port, runs, quick):
    """Builds, runs and summarises the section; returns the results (see `write`)."""
    parsers = build_parsers(root, build, vendor, libhiredis)
    files = dict(parser_files)
    # The parser suite's workloads (a)-(j), and (k): issue 16's arrays of 100 bulk strings.
    files["k"] = array_workload(work, quick)
    redis = fetch_redis_source(peers, build)
    benchmarks = build_redis_benchmark(root, build, redis, vendor, libhiredis)
    labels = ["hiredis", "redcore"]
    min_time = 0 if quick else 0.5

    raw_parse = {}
    raw_rb = {}
    for r in range(runs):
        log(f"hiredis section, run {r + 1}/{runs}")
        order = labels if r % 2 == 0 else labels[::-1]
        for w, (path, _, _, chunk) in files.items():
            for k in range(READER_ROUNDS.get(w, 1)):
                # Entry i of each label's list is one pair, run back to back.
                for label in (order if k % 2 == 0 else order[::-1]):
                    raw_parse.setdefault((w, label), []).append(
                        run_parser(parsers[label], path, w, min_time, chunk))
        # The one-core runs share the last core this process may use.
        core = max(os.sched_getaffinity(0))
        for sid, _, args, rounds, one_core in benchmark_scenarios(quick):
            with pinned_server(port, core if one_core else None):
                for k in range(rounds):
                    # Entry i of each label's list is one pair, run back to back.
                    for label in (order if k % 2 == 0 else order[::-1]):
                        raw_rb.setdefault((sid, label), []).append(
                            run_redis_benchmark(benchmarks[label], port, args,
                                                core if one_core else None))

    # Instructions: once each, after the timed runs (callgrind is slow, and its counts repeat).
    counted = shutil.which("valgrind") is not None
    ir_parse, ir_rb = {}, {}
    if counted:
        log("hiredis section: instructions (callgrind)")
        for w, (path, _, _, chunk) in files.items():
            for label in labels:
                ir_parse[(w, label)] = instructions([parsers[label], path, w, "0", str(chunk)])
        for sid, _, args, _, one_core in benchmark_scenarios(True):
            if one_core:
                continue  # the same instructions as on two cores
            for label in labels:
                ir_rb[(sid, label)] = instructions([benchmarks[label], "-h", "127.0.0.1", "-p",
                                                    str(port), "-q", "-d", "3"] + args)
    else:
        log("hiredis section: no valgrind, so no instruction counts")

    reader = []
    for w, (_, desc, unit, _) in files.items():
        field = "leaves_per_sec" if unit == "elements" else "replies_per_sec"
        sums = {lbl: raw_parse[(w, lbl)][0]["checksum"] for lbl in labels}
        if len(set(sums.values())) != 1:
            sys.exit(f"bench: the two readers disagree on workload {w}: {sums}")
        rate = {lbl: med([x[field] for x in raw_parse[(w, lbl)]]) for lbl in labels}
        pairs = [r[field] / h[field]
                 for r, h in zip(raw_parse[(w, "redcore")], raw_parse[(w, "hiredis")])]
        reader.append({"workload": w, "description": desc, "unit": unit,
                       "hiredis": rate["hiredis"], "redcore": rate["redcore"],
                       "pairs": len(pairs), "pair_ratios": pairs,
                       "min": {lbl: min(x[field] for x in raw_parse[(w, lbl)]) for lbl in labels},
                       "max": {lbl: max(x[field] for x in raw_parse[(w, lbl)]) for lbl in labels},
                       "ratio": med(pairs)})
        if counted:
            ir = {lbl: ir_parse[(w, lbl)] for lbl in labels}
            reader[-1].update(instructions=ir, ir_ratio=ir["hiredis"] / ir["redcore"])

    bench = []
    for sid, desc, args, _, _ in benchmark_scenarios(quick):
        runs_of = {lbl: raw_rb[(sid, lbl)] for lbl in labels}
        cpu = {lbl: med([u + s for _, (u, s) in runs_of[lbl]]) for lbl in labels}
        user = {lbl: med([u for _, (u, _) in runs_of[lbl]]) for lbl in labels}
        system = {lbl: med([s for _, (_, s) in runs_of[lbl]]) for lbl in labels}
        pairs = [sum(r) / sum(h) for (_, r), (_, h) in zip(runs_of["redcore"], runs_of["hiredis"])]
        tests = sorted(set().union(*(set(rates) for rates, _ in raw_rb[(sid, "hiredis")])))
        rows = []
        for t in tests:
            rate = {lbl: med([rates.get(t) for rates, _ in raw_rb[(sid, lbl)] if rates.get(t)])
                    for lbl in labels}
            paired = [r[t] / h[t] for (r, _), (h, _) in zip(runs_of["redcore"], runs_of["hiredis"])
                      if r.get(t) and h.get(t)]
            if paired:
                rows.append({"test": t, "hiredis": rate["hiredis"], "redcore": rate["redcore"],
                             "ratio": med(paired)})
        bench.append({"scenario": sid, "description": desc, "args": " ".join(args),
                      "pairs": len(pairs), "cpu_s": cpu, "user_s": user, "system_s": system,
                      "pair_ratios": pairs, "cpu_ratio": med(pairs), "tests": rows})
        if counted and (sid, "redcore") in ir_rb:
            ir = {lbl: ir_rb[(sid, lbl)] for lbl in labels}
            qargs = {s: " ".join(a) for s, _, a, _, _ in benchmark_scenarios(True)}[sid]
            bench[-1].update(instructions=ir, ir_args=qargs,
                             ir_ratio=ir["redcore"] / ir["hiredis"])
    return {"runs": runs, "quick": quick, "reader": reader, "redis_benchmark": bench,
            "redis_source": os.path.basename(redis),
            "raw": {"reader": {f"{w}/{lbl}": v for (w, lbl), v in raw_parse.items()},
                    "redis_benchmark": {f"{s}/{lbl}": [{"rates": a, "user_s": u, "system_s": t}
                                                       for a, (u, t) in v]
                                        for (s, lbl), v in raw_rb.items()}}}


# ---- reporting ------------------------------------------------------------------------------


def targets(res):
    out = []
    for row in res["reader"]:
        out.append((f"reader ({row['workload']}) {row['description']} ≥ 1.0x hiredis",
                    row["ratio"], row["ratio"] >= 1.0))
    for b in res["redis_benchmark"]:
        out.append((f"redis-benchmark {b['description']}: client CPU ≤ 1.0x on hiredis",
                    b["cpu_ratio"], b["cpu_ratio"] <= 1.0))
    for row in res["reader"]:
        if "ir_ratio" in row:
            out.append((f"reader ({row['workload']}): hiredis's instructions / ours ≥ 1.0",
                        row["ir_ratio"], row["ir_ratio"] >= 1.0))
    for b in res["redis_benchmark"]:
        if "ir_ratio" in b:
            out.append((f"redis-benchmark {b['ir_args']}: client instructions ≤ 1.0x on hiredis",
                        b["ir_ratio"], b["ir_ratio"] <= 1.0))
    return out


def markdown(res, meta):
    L = [f"# redcore's libhiredis vs hiredis 1.5.0 ({meta})\n",
         f"Median of {res['runs']} interleaved run(s){' (QUICK: the figures mean little)' if res['quick'] else ''}. "
         "Written by `python3 bench/run.py --only hiredis` (part of `make bench`).\n",
         "## Targets\n", "| target | ratio | |", "|---|---|---|"]
    for name, r, met in targets(res):
        L.append(f"| {name} | {r:.2f} | {'MET' if met else '**MISSED**'} |")
    L += ["", "## The reader (bench/c/parse_hiredis.c on each library, redisReply objects built "
          "and freed)\n", "| workload | unit | hiredis | redcore | ratio | pairs |",
          "|---|---|---|---|---|---|"]
    for row in res["reader"]:
        L.append(f"| ({row['workload']}) {row['description']} | {row['unit']}/s | "
                 f"{human(row['hiredis'])} | {human(row['redcore'])} | {row['ratio']:.2f}x | "
                 f"{row['pairs']} |")
    if any("instructions" in row for row in res["reader"]):
        L += ["", "## Instructions (callgrind, user space; the same input once per build)\n",
              "Reader rows: hiredis / redcore (above 1: ours runs fewer); redis-benchmark rows: "
              "redcore / hiredis (below 1: ours runs fewer).\n",
              "| run | hiredis | redcore | ratio |", "|---|---|---|---|"]
        for row in res["reader"]:
            ir = row["instructions"]
            L.append(f"| reader ({row['workload']}) | {human(ir['hiredis'])} | "
                     f"{human(ir['redcore'])} | {row['ir_ratio']:.2f}x |")
        for b in (b for b in res["redis_benchmark"] if "instructions" in b):
            ir = b["instructions"]
            L.append(f"| redis-benchmark {b['ir_args']} | {human(ir['hiredis'])} | "
                     f"{human(ir['redcore'])} | {b['ir_ratio']:.2f}x |")
    L += ["", f"## redis-benchmark built on each ({res['redis_source']}'s source)\n",
          "| run | test | hiredis req/s | redcore req/s | ratio |", "|---|---|---|---|---|"]
    for b in res["redis_benchmark"]:
        for t in b["tests"]:
            L.append(f"| {b['description']} | {t['test']} | {human(t['hiredis'])} | "
                     f"{human(t['redcore'])} | {t['ratio']:.2f}x |")
        for key, what in [("user_s", "user"), ("system_s", "system")]:
            L.append(f"| {b['description']} | client CPU, {what} (s, whole run) | "
                     f"{b[key]['hiredis']:.2f} | {b[key]['redcore']:.2f} | "
                     f"{b[key]['redcore'] / b[key]['hiredis']:.2f}x |")
        L.append(f"| {b['description']} | client CPU (s, whole run; ratio: median of "
                 f"{b['pairs']} pairs) | {b['cpu_s']['hiredis']:.2f} | "
                 f"{b['cpu_s']['redcore']:.2f} | {b['cpu_ratio']:.2f}x |")
    L += ["", "Each run of a row is a back-to-back pair of the two builds, and every ratio but "
          "the user and system split's is the median of the pairs' ratios (rates and seconds: "
          "the medians of each build's runs; the split's ratio: of those medians). Reader (d) and redis-benchmark without pipelining run several shorter pairs "
          "per run: their time is mostly the kernel's (page faults; the same system calls for "
          "either library) and swings by about 10% from run to run. The one-core rows run "
          "redis-benchmark and redis-server pinned to the same core: no wake-ups across cores, "
          "so the client's CPU is its own work and its system calls, and a pair varies by 1-4%."]
    return "\n".join(L) + "\n"


def write(res, out_base, meta):
    with open(out_base + ".json", "w") as f:
        json.dump({"meta": meta, **res}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(out_base + ".md", "w") as f:
        f.write(markdown(res, meta))
    log("\n== hiredis section: redcore's libhiredis / hiredis 1.5.0 (median) ==")
    for row in res["reader"]:
        log(f"reader ({row['workload']}) {row['description']}: {human(row['redcore'])} vs "
            f"{human(row['hiredis'])} {row['unit']}/s, {row['ratio']:.2f}x")
    for b in res["redis_benchmark"]:
        tests = ", ".join(f"{t['test']} {t['ratio']:.2f}x" for t in b["tests"])
        log(f"redis-benchmark {b['description']}: req/s {tests}; client CPU "
            f"{b['cpu_s']['redcore']:.2f} s vs {b['cpu_s']['hiredis']:.2f} s, {b['cpu_ratio']:.2f}x")
    for name, r, met in targets(res):
        log(f"{'MET' if met else 'MISSED':6} {r:6.2f}  {name}")
    log(f"wrote {out_base}.md, .json")

