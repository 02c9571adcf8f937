#!/usr/bin/env python3
"""`make bench`: redcore against its peers, in the same run, on this machine.

Builds the peers (hiredis 1.5.0 from the C sources vendored in PyPI's hiredis 3.5.0 sdist, with
its hiredis_ssl part on OpenSSL; the redis-rs benchmark programs, with rustls), starts its own
redis-server on two free loopback ports (plain TCP, and TLS with a CA and server certificate
generated here with openssl), runs the parser suite, the end-to-end suite over TCP and over
TLS (over TCP also issue 17's callback chains and async windows, with hiredis's async API
on libevent), the memory soak (10 minutes; QUICK: 5 s), the Go clients (bench/go_suite.py: the
Go binding beside go-redis and valkey-go), the hiredis section (bench/hiredis_suite.py: the
hiredis-compatible library's reader and redis-benchmark built on it, beside hiredis's), then the
cluster suite on a 3-primary Redis Cluster it starts (bench/cluster.py, with the routing
microbenchmark), and writes:

  bench/results.json   every run's raw figures and the medians (with min and max)
  bench/results.md     the tables and the targets of issue 6, MET or MISSED with their ratio
  bench/results.svg    throughput by concurrent callers and by pipeline depth
  bench/go-results.*   the Go clients' tables and issue 14's targets (also when run alone)
  bench/hiredis-results.*  libhiredis against hiredis: the reader and redis-benchmark built on
                       each (bench/hiredis_suite.py; also when run alone)

Every figure is the median of RUNS runs (min and max kept); the runs interleave the clients
(run 1 of every client, then run 2, ..., each run starting with another client), so a machine
that gets busier part-way penalises all of them alike. Options: --quick (small N, one run:
checks the suite, not the speed; writes bench/work/quick-results.* instead), --runs N,
--only parser|e2e|soak|go|hiredis|cluster (repeatable), --transport tcp|tls (repeatable; the
end-to-end runs), --scenario PREFIX (repeatable: only the end-to-end scenarios whose id starts
with it, e.g. `--only e2e --scenario chains --scenario async`), --soak-seconds S. Tables and
charts are written when the parser and the TCP end-to-end runs are part of the run (and the
cluster tables alone by `--only cluster`); the ratios are printed whatever ran.
"""

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart  # noqa: E402
import go_suite  # noqa: E402
import hiredis_suite  # noqa: E402
import cluster  # noqa: E402
from measure import (answers_ping, fmt_ratio, human, log, log_targets, med,  # noqa: E402
                     ratio, run, run_json, spread, summarise, target, target_table)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
PEERS = os.path.join(BENCH, "peers")  # downloads (git-ignored)
WORK = os.path.join(BENCH, "work")  # parser inputs, server dir (git-ignored)
BUILD = os.path.join(ROOT, "build", "bench")  # compiled peers and drivers (git-ignored)

HIREDIS_SDIST = "hiredis-3.5.0.tar.gz"
HIREDIS_SHA256 = "c227592cc56b7df247abe4755c26723965be68972be2149fa441ac33d82131ba"
HIREDIS_SOURCES = ["alloc", "async", "hiredis", "net", "read", "sds", "sockcompat"]
CFLAGS = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread"]
# What libredcore.a needs from the system (the Makefile's NATIVE_STATIC_LIBS).
NATIVE_STATIC_LIBS = ["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"]

# The end-to-end runs go over both; TLS is TLS 1.3 with one cipher suite for every client.
TRANSPORTS = ["tcp", "tls"]
TLS_CIPHERSUITE = "TLS_AES_256_GCM_SHA384"
SOAK_SECONDS = 600  # issue 6: "flat memory under a 10-minute load"
PARTS = ["parser", "e2e", "soak", "go", "hiredis", "cluster"]


# ---- building ---------------------------------------------------------------------------


def fetch_hiredis():
    os.makedirs(PEERS, exist_ok=True)
    sdist = os.path.join(PEERS, HIREDIS_SDIST)
    if not os.path.exists(sdist):
        log("fetching hiredis 3.5.0 sdist from PyPI (pip download)")
        run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:",
             "--no-deps", "hiredis==3.5.0", "-d", PEERS])
    digest = hashlib.sha256(open(sdist, "rb").read()).hexdigest()
    if digest != HIREDIS_SHA256:
        sys.exit(f"bench: {sdist} has sha256 {digest}, expected {HIREDIS_SHA256}")
    src = os.path.join(BUILD, "hiredis-3.5.0")
    if not os.path.isdir(src):
        os.makedirs(BUILD, exist_ok=True)
        with tarfile.open(sdist) as tar:
            tar.extractall(BUILD, filter="data")
    vendor = os.path.join(src, "vendor", "hiredis")
    header = open(os.path.join(vendor, "hiredis.h")).read()
    if "#define HIREDIS_MINOR 5" not in header or "#define HIREDIS_MAJOR 1" not in header:
        sys.exit("bench: the sdist does not vendor hiredis 1.5")
    return vendor


def build_hiredis(vendor):
    lib = os.path.join(BUILD, "libhiredis.a")
    if os.path.exists(lib):
        return lib
    objs = []
    for name in HIREDIS_SOURCES:
        obj = os.path.join(BUILD, f"hiredis-{name}.o")
        # Its own code, its own warnings: -O2 as asked, no -Werror on a peer's sources.
        run(["cc", "-O2", "-g", "-I", vendor, "-c", os.path.join(vendor, name + ".c"), "-o", obj])
        objs.append(obj)
    run(["ar", "rcs", lib] + objs)
    return lib


def build_hiredis_ssl(vendor):
    """hiredis's TLS part (ssl.c, libhiredis_ssl) on the system's OpenSSL."""
    lib = os.path.join(BUILD, "libhiredis_ssl.a")
    if os.path.exists(lib):
        return lib
    obj = os.path.join(BUILD, "hiredis-ssl.o")
    run(["cc", "-O2", "-g", "-I", vendor, "-c", os.path.join(vendor, "ssl.c"), "-o", obj])
    run(["ar", "rcs", lib, obj])
    return lib


def build_c(vendor, libhiredis, libhiredis_ssl):
    c = os.path.join(BENCH, "c")
    out = {}
    # Vendored headers first and by path, so Debian's old /usr/include/hiredis cannot be used.
    hi = ["-I", vendor]
    out["e2e-hiredis"] = os.path.join(BUILD, "e2e-hiredis")
    # Its async API runs the chains on libevent (libevent-dev).
    run(["cc"] + CFLAGS + hi + [os.path.join(c, "e2e.c"), os.path.join(c, "e2e_hiredis.c"),
                                libhiredis, "-levent", "-o", out["e2e-hiredis"]])
    # The same backend with hiredis_ssl, for the TLS runs; the TCP runs keep the binary above.
    out["e2e-hiredis-tls"] = os.path.join(BUILD, "e2e-hiredis-tls")
    run(["cc"] + CFLAGS + hi + ["-DE2E_HIREDIS_SSL", os.path.join(c, "e2e.c"),
                                os.path.join(c, "e2e_hiredis.c"), libhiredis_ssl, libhiredis,
                                "-levent", "-lssl", "-lcrypto", "-o", out["e2e-hiredis-tls"]])
    out["parse-hiredis"] = os.path.join(BUILD, "parse-hiredis")
    run(["cc"] + CFLAGS + hi + [os.path.join(c, "parse_hiredis.c"),
                                os.path.join(c, "parse_bench.c"), libhiredis,
                                "-o", out["parse-hiredis"]])
    # Linked statically with the allocation functions wrapped, so it counts the library's
    # heap calls.
    out["parse-redcore"] = os.path.join(BUILD, "parse-redcore")
    run(["cc"] + CFLAGS + ["-Wpedantic", "-I", os.path.join(ROOT, "include"),
                           os.path.join(c, "parse_redcore.c"), os.path.join(c, "parse_bench.c"),
                           os.path.join(ROOT, "target", "release", "libredcore.a")]
        + NATIVE_STATIC_LIBS
        + ["-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign",
           "-o", out["parse-redcore"]])
    out["e2e-redcore"] = os.path.join(BUILD, "e2e-redcore")
    run(["cc"] + CFLAGS + ["-I", os.path.join(ROOT, "include"), os.path.join(c, "e2e.c"),
                           os.path.join(c, "e2e_redcore.c"),
                           os.path.join(ROOT, "target", "release", "libredcore.a")]
        + NATIVE_STATIC_LIBS + ["-o", out["e2e-redcore"]])
    return out


def build_rust():
    """The Rust benchmark programs (benches/*.rs, bench profile); returns name -> path."""
    log("  $ cargo bench --no-run --message-format=json")
    p = subprocess.run(["cargo", "bench", "--no-run", "--message-format=json",
                        "--bench", "parser", "--bench", "redis_rs", "--bench", "route"],
                       cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    exes = {}
    for line in p.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes[msg["target"]["name"]] = msg["executable"]
    return exes


# ---- parser inputs ------------------------------------------------------------------------


def workloads(quick):
    """name -> (description, unit, generator of the bytes, read size). Units: what the rate
    counts. (a)-(e) are issue 6's, fed in 64 KiB chunks; (f)-(j) are shaped like real traffic
    (issue 17) and fed in 16 KiB reads, as a socket hands them out."""
    k = 10 if quick else 1

    def ok():
        return b"+OK\r\n" * (1_000_000 // k)

    def bulk_array():
        n = 1_000_000 // k
        return b"*%d\r\n" % n + b"$10\r\n0123456789\r\n" * n

    def integers():
        return b"".join(b":%d\r\n" % ((i * 7919) % 2_000_003 - 1_000_000)
                        for i in range(100_000 // k))

    def big_bulks():
        n = 1000 // k
        payload = bytes(range(256)) * 64  # 16 KiB
        return b"*%d\r\n" % n + (b"$16384\r\n" + payload + b"\r\n") * n

    def resp3_maps():
        doubles = [b"3.141592653589793", b"-2.5e10", b"42", b"0.1", b"-0.0001", b"1e-7"]
        out = []
        for i in range(100_000 // k):
            parts = [b"%8\r\n"]
            for f in range(8):
                parts.append(b"$6\r\nfield%d\r\n" % f)
                if f % 2:
                    parts.append(b"#t\r\n" if (i + f) % 3 else b"#f\r\n")
                else:
                    parts.append(b"," + doubles[(i + f) % len(doubles)] + b"\r\n")
            out.append(b"".join(parts))
        return b"".join(out)

    # The realistic workloads draw their sizes from a seeded generator: the same bytes in
    # every run and on every machine.
    text = bytes(range(97, 123)) * 20  # lowercase letters, sliced to each string's length

    def bulk(rng, lo, hi):
        n = rng.randint(lo, hi)
        start = rng.randrange(26)
        return b"$%d\r\n%s\r\n" % (n, text[start:start + n])

    def mixed_small():
        # What a cache or a counter service sees: SET's +OK, INCR's integers, GETs that miss
        # and GETs of short values, and now and then an error.
        rng = random.Random(17)
        out = []
        for i in range(500_000 // k):
            kind = i % 5
            if kind == 0:
                out.append(b"+OK\r\n")
            elif kind == 1:
                out.append(b":%d\r\n" % rng.choice([rng.randrange(100), rng.randrange(10**6),
                                                      rng.randrange(10**12)]))
            elif kind == 2:
                out.append(b"$-1\r\n")
            elif kind == 3:
                out.append(b"$32\r\n" + text[i % 26:i % 26 + 32] + b"\r\n")
            else:
                out.append(rng.choice([b"-ERR no such key\r\n",
                                       b"-WRONGTYPE Operation against a key holding the wrong "
                                       b"kind of value\r\n"]))
        return b"".join(out)

    def lrange():
        rng = random.Random(18)
        return b"".join(b"*100\r\n" + b"".join(bulk(rng, 5, 60) for _ in range(100))
                        for _ in range(20_000 // k))

    def hgetall():
        rng = random.Random(19)
        out = []
        for _ in range(50_000 // k):
            parts = [b"%10\r\n"]
            for f in range(10):
                parts.append(b"$8\r\nfield:%02d\r\n" % f)
                parts.append(bulk(rng, 20, 200))
            out.append(b"".join(parts))
        return b"".join(out)

    def mget():
        rng = random.Random(20)
        out = []
        for _ in range(100_000 // k):
            parts = [b"*10\r\n"]
            for _ in range(10):
                parts.append(b"$-1\r\n" if rng.random() < 0.3 else bulk(rng, 8, 64))
            out.append(b"".join(parts))
        return b"".join(out)

    def large_bulks():
        n = 100 // k
        payload = bytes(range(256)) * 4096  # 1 MiB
        return (b"$%d\r\n" % len(payload) + payload + b"\r\n") * n

    return {
        "a": (f"{1_000_000 // k:,} +OK replies", "replies", ok, 64 * 1024),
        "b": (f"one array of {1_000_000 // k:,} ten-byte bulk strings", "elements", bulk_array,
              64 * 1024),
        "c": (f"{100_000 // k:,} integers (separate replies)", "replies", integers, 64 * 1024),
        "d": (f"an array of {1000 // k:,} bulk strings of 16 KiB", "elements", big_bulks,
              64 * 1024),
        "e": (f"{100_000 // k:,} RESP3 maps of 8 pairs (doubles and booleans)", "replies",
              resp3_maps, 64 * 1024),
        "f": (f"{500_000 // k:,} mixed small replies (+OK, :int, $-1, 32 B bulk, -ERR)",
              "replies", mixed_small, 16 * 1024),
        "g": (f"{20_000 // k:,} arrays of 100 bulk strings of 5-60 B (LRANGE 0 99)", "replies",
              lrange, 16 * 1024),
        "h": (f"{50_000 // k:,} RESP3 maps of 10 fields, values 20-200 B (HGETALL)", "replies",
              hgetall, 16 * 1024),
        "i": (f"{100_000 // k:,} arrays of 10 bulk strings of 8-64 B, 30% nil (MGET)",
              "replies", mget, 16 * 1024),
        "j": (f"{100 // k:,} bulk strings of 1 MiB (separate replies)", "replies", large_bulks,
              16 * 1024),
    }


def write_inputs(quick):
    d = os.path.join(WORK, "parser-quick" if quick else "parser")
    os.makedirs(d, exist_ok=True)
    files = {}
    for name, (desc, unit, make, chunk) in workloads(quick).items():
        path = os.path.join(d, name + ".resp")
        if not os.path.exists(path):
            data = make()
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        files[name] = (path, desc, unit, chunk)
    return files


# ---- redis-server -----------------------------------------------------------------------


def free_port(taken=()):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in taken:
            return port


def generate_certs(d):
    """An EC P-256 CA and a server certificate it signed (SAN 127.0.0.1, localhost) in `d`,
    made with the openssl CLI (well under a second). Returns (ca, cert, key) paths."""
    os.makedirs(d, exist_ok=True)

    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "2",
            "-subj", "/CN=redcore-bench-ca", "-out", "ca.crt")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    openssl("req", "-new", "-key", "server.key", "-subj", "/CN=redcore-bench-server",
            "-out", "server.csr")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-sha256", "-extfile", "server.ext",
            "-out", "server.crt")
    return tuple(os.path.join(d, n) for n in ("ca.crt", "server.crt", "server.key"))


class Server:
    """redis-server on a plain port and, with `tls`, a TLS port (TLS 1.3, TLS_CIPHERSUITE,
    no client certificates) with certificates generated in its dir; `ca` is their CA."""

    def __init__(self, tls):
        self.dir = tempfile.mkdtemp(prefix="server-", dir=WORK)
        self.tls_port, self.ca, tls_args = None, None, []
        if tls:
            self.ca, cert, key = generate_certs(os.path.join(self.dir, "tls"))
            tls_args = ["--tls-cert-file", cert, "--tls-key-file", key,
                        "--tls-ca-cert-file", self.ca, "--tls-auth-clients", "no",
                        "--tls-protocols", "TLSv1.3", "--tls-ciphersuites", TLS_CIPHERSUITE]
        for _ in range(5):
            self.port = free_port()
            listen = []
            if tls:
                self.tls_port = free_port({self.port})
                listen = ["--tls-port", str(self.tls_port)] + tls_args
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log")] + listen)
            if answers_ping(self.proc, self.port):
                return
            self.stop(keep_dir=True)
        sys.exit("bench: could not start redis-server (see its log in bench/work/server-*)")

    def version(self):
        out = subprocess.run(["redis-server", "--version"], stdout=subprocess.PIPE, text=True)
        return out.stdout.strip()

    def stop(self, keep_dir=False):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def conn_args(self, transport):
        """How the drivers (C and redis-rs alike) reach this server over `transport`."""
        if transport == "tls":
            return ["--port", str(self.tls_port), "--tls", "--tls-ca", self.ca]
        return ["--port", str(self.port)]


# ---- running ------------------------------------------------------------------------------


# redcore's decoder (Rust, benches/parser.rs), redcore's C reader (bench/c/parse_redcore.c),
# hiredis's reader and redis-rs's parser; memcpy of the same bytes for the large strings.
PARSERS = ["redcore", "redcore-c", "hiredis", "redis-rs"]
ASYNC_WINDOWS = [1, 16, 128, 1024]  # issue 17's fair async table
MEMCPY_WORKLOADS = ("d", "j")


def parser_suite(exes, files, runs, min_time):
    """-> {(workload, parser): [result per run]}"""
    res = {}
    for r in range(runs):
        log(f"parser run {r + 1}/{runs}")
        for w, (path, _, _, chunk) in files.items():
            parsers = PARSERS + (["memcpy"] if w in MEMCPY_WORKLOADS else [])
            k = r % len(parsers)
            for p in parsers[k:] + parsers[:k]:
                if p in ("hiredis", "redcore-c"):
                    cmd = [exes["parse-" + p.split("-")[0]], path, w, str(min_time), str(chunk)]
                else:
                    cmd = [exes["parser"], p, path, w, str(min_time), str(chunk)]
                res.setdefault((w, p), []).append(run_json(cmd))
    # Same values read by every parser, or the comparison means nothing.
    for w in files:
        sums = {p: res[(w, p)][0]["checksum"] for p in PARSERS}
        leaves = {p: res[(w, p)][0]["leaves"] for p in PARSERS}
        if len(set(sums.values())) != 1 or len(set(leaves.values())) != 1:
            sys.exit(f"bench: parsers disagree on workload {w}: {sums} {leaves}")
    return res


def e2e_scenarios(quick, transport="tcp"):
    """(scenario id, group, params, [(label, command builder)]). TLS: the same scenarios, with
    ids and groups prefixed "tls-", hiredis with hiredis_ssl."""
    q = 10 if quick else 1
    keys = 100_000 if quick else 1_000_000
    seq_n, pipe_n = 20_000 // q, 200_000 // q
    mix_n = {1: 20_000 // q, 8: 100_000 // q, 50: 200_000 // q}
    pre = "" if transport == "tcp" else transport + "-"
    hiredis = "e2e-hiredis" if transport == "tcp" else "e2e-hiredis-" + transport
    out = []
    for op in ["set", "get"]:
        for size in [3, 1024]:
            a = ["--mode", "seq", "--op", op, "--size", str(size), "--n", str(seq_n)]
            out.append((f"{pre}seq-{op}-{size}", pre + "seq", {"op": op, "size": size, "depth": 1}, [
                ("redcore", ("e2e-redcore", a)),
                ("hiredis", (hiredis, a)),
                ("redis-rs-sync", ("redis_rs", ["--conn", "sync"] + a)),
                ("redis-rs-mux", ("redis_rs", ["--conn", "mux"] + a)),
            ]))
    for depth in [16, 128]:
        for op in ["set", "get"]:
            a = ["--op", op, "--size", "3", "--n", str(pipe_n), "--depth", str(depth)]
            p, w = ["--mode", "pipeline"] + a, ["--mode", "window"] + a
            out.append((f"{pre}pipe{depth}-{op}", pre + "pipeline", {"op": op, "size": 3, "depth": depth}, [
                ("redcore pipeline", ("e2e-redcore", p)),
                ("redcore callbacks", ("e2e-redcore", w)),
                ("hiredis pipelined", (hiredis, p)),
                ("redis-rs-sync pipe", ("redis_rs", ["--conn", "sync"] + p)),
                ("redis-rs-mux pipe", ("redis_rs", ["--conn", "mux"] + p)),
                ("redis-rs-mux tasks", ("redis_rs", ["--conn", "mux"] + w)),
            ]))
    for threads in [1, 8, 50]:
        a = ["--mode", "mix", "--threads", str(threads), "--n", str(mix_n[threads]),
             "--keys", str(keys)]
        out.append((f"{pre}mix-{threads}", pre + "mix", {"threads": threads, "keys": keys}, [
            ("redcore", ("e2e-redcore", a)),
            ("hiredis", (hiredis, a)),
            ("redis-rs-sync", ("redis_rs", ["--conn", "sync"] + a)),
            ("redis-rs-mux", ("redis_rs", ["--conn", "mux"] + a)),
        ]))
    if transport == "tcp":  # hiredis's async runs are TCP only
        out += async_scenarios(q, keys, seq_n, pipe_n, hiredis)
    return out, keys


def async_scenarios(q, keys, seq_n, pipe_n, hiredis):
    """Issue 17's async rows, one connection each. `chains`: 50 and 500 independent chains of
    the mix's 80/20 GET/SET, each completion issuing its chain's next command (redcore
    callbacks, hiredis async on libevent), against as many redis-rs tasks on one multiplexed
    connection. `async`: GET with a window of 1-1024 in flight: redcore's callbacks kept full
    by the caller's thread, and by the completions (chains) as hiredis async does."""
    out = []
    n = 200_000 // q
    for chains in [50, 500]:
        mix = ["--op", "mix", "--n", str(n), "--keys", str(keys)]
        c = ["--mode", "chains", "--depth", str(chains)] + mix
        out.append((f"chains-{chains}", "chains", {"chains": chains, "keys": keys}, [
            ("redcore chains", ("e2e-redcore", c)),
            ("hiredis async", (hiredis, c)),
            ("redis-rs-mux tasks", ("redis_rs", ["--conn", "mux", "--mode", "mix",
                                                 "--threads", str(chains), "--n", str(n),
                                                 "--keys", str(keys)])),
        ]))
    for depth in ASYNC_WINDOWS:
        a = ["--op", "get", "--size", "3", "--n", str(seq_n if depth == 1 else pipe_n),
             "--depth", str(depth)]
        out.append((f"async{depth}-get", "async", {"op": "get", "size": 3, "depth": depth}, [
            ("redcore callbacks", ("e2e-redcore", ["--mode", "window"] + a)),
            ("redcore chains", ("e2e-redcore", ["--mode", "chains"] + a)),
            ("hiredis async", (hiredis, ["--mode", "chains"] + a)),
        ]))
    return out


def redis_benchmark(server, transport, clients, pipeline, n):
    cmd = ["redis-benchmark", "-h", "127.0.0.1", "-c", str(clients),
           "-P", str(pipeline), "-n", str(n), "-d", "3", "-t", "set,get", "--csv"]
    if transport == "tls":
        cmd += ["-p", str(server.tls_port), "--tls", "--cacert", server.ca]
    else:
        cmd += ["-p", str(server.port)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                       check=True, timeout=600)
    rates = {}
    for line in p.stdout.splitlines():
        cells = [c.strip('"') for c in line.split('",')]
        if cells and cells[0] in ("SET", "GET"):
            rates[cells[0].lower()] = float(cells[1].strip('"'))
    if set(rates) != {"set", "get"}:
        sys.exit(f"bench: cannot read redis-benchmark output:\n{p.stdout}")
    return rates


def e2e_suite(exes, server, runs, quick, transports, only=None):
    """`only`: the prefixes of the scenario ids to run (None: all, and redis-benchmark)."""
    by_transport = {t: [sc for sc in e2e_scenarios(quick, t)[0]
                        if only is None or sc[0].startswith(tuple(only))] for t in transports}
    scenarios = [sc for t in transports for sc in by_transport[t]]
    keys = e2e_scenarios(quick)[1]
    log(f"filling {keys} keys for the mix")
    run_json([exes["e2e-hiredis"], "--port", str(server.port), "--mode", "fill",
              "--keys", str(keys), "--size", "3"])
    res = {}
    rb_n = {1: 20_000, 16: 200_000, 128: 400_000}
    rb_n50 = 200_000
    if quick:
        rb_n = {d: n // 10 for d, n in rb_n.items()}
        rb_n50 //= 10
    started = time.time()
    for r in range(runs):
        for t in transports:
            log(f"end-to-end run {r + 1}/{runs}, {t.upper()} "
                f"({time.time() - started:.0f} s into the end-to-end suite)")
            conn = server.conn_args(t)
            pre = "" if t == "tcp" else t + "-"
            for sid, _, _, clients in by_transport[t]:
                # Each run starts with another client, so none always follows the same one.
                k = r % len(clients)
                for label, (exe, args) in clients[k:] + clients[:k]:
                    res.setdefault((sid, label), []).append(run_json([exes[exe]] + conn + args))
            if only is not None:
                continue
            for depth, n in rb_n.items():
                for op, rate in redis_benchmark(server, t, 1, depth, n).items():
                    res.setdefault((f"rb-{pre}c1-P{depth}-{op}", "redis-benchmark"), []).append(
                        {"ops_per_sec": rate})
            for op, rate in redis_benchmark(server, t, 50, 1, rb_n50).items():
                res.setdefault((f"rb-{pre}c50-P1-{op}", "redis-benchmark"), []).append(
                    {"ops_per_sec": rate})
    return scenarios, res


def soak(exes, server, seconds, keys):
    """The soak driver's JSON, printing its elapsed time and RSS every minute meanwhile."""
    log(f"flat-memory check: redcore, 8 callers + a callback window, {seconds} s")
    cmd = [exes["e2e-redcore"], "--port", str(server.port), "--mode", "soak",
           "--threads", "8", "--seconds", str(seconds), "--keys", str(keys)]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        t0 = time.time()
        while True:
            try:
                p.wait(timeout=min(60, seconds + 120))
                break
            except subprocess.TimeoutExpired:
                elapsed = time.time() - t0
                if elapsed > seconds + 120:
                    p.kill()
                    p.wait()
                    break
                log(f"  soak: {elapsed:.0f}/{seconds} s, redcore RSS {proc_rss_kib(p.pid)} KiB")
        out.seek(0)
        err.seek(0)
        text = out.read().strip()
        line = text.splitlines()[-1] if text else ""
        if p.returncode != 0 or not line.startswith("{"):
            sys.exit(f"bench: {' '.join(cmd)} failed ({p.returncode}):\n{text}\n{err.read()}")
    return json.loads(line)


def proc_rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return "?"


# ---- summarising --------------------------------------------------------------------------


def targets(psum, esum, soak_result):
    """[(target, measured, ratio, threshold, met)] of the parts that ran."""
    return (parser_targets(psum) if psum else []) + (e2e_targets(esum, soak_result) if esum else [])


def parser_targets(psum):
    t = []

    def add(*a, **kw):
        t.append(target(*a, **kw))

    for w, need in [("a", 1), ("b", 2), ("c", 2), ("d", 1), ("e", 1)]:
        field = "leaves_per_sec" if w in ("b", "d") else "replies_per_sec"
        rc, hi = med(psum, (w, "redcore"), field), med(psum, (w, "hiredis"), field)
        add(f"parser ({w}) ≥ {need}x hiredis reader", f"{human(rc)}/s vs {human(hi)}/s",
            ratio(rc, hi), need)
    for w in MEMCPY_WORKLOADS:
        rc, mc = med(psum, (w, "redcore"), "mb_per_sec"), med(psum, (w, "memcpy"), "mb_per_sec")
        add(f"parser ({w}) ≥ 0.8x memcpy", f"{human(rc)} MB/s vs {human(mc)} MB/s", ratio(rc, mc), 0.8)
    # Issue 17: replies shaped like real traffic, from 16 KiB reads.
    for w in ("f", "g", "h", "i", "j"):
        rc = med(psum, (w, "redcore"), "replies_per_sec")
        for peer, need in [("hiredis", 1.5), ("redis-rs", 2)]:
            p = med(psum, (w, peer), "replies_per_sec")
            add(f"parser ({w}) ≥ {need}x {peer}", f"{human(rc)}/s vs {human(p)}/s", ratio(rc, p), need)
        rcc, hi = med(psum, (w, "redcore-c"), "replies_per_sec"), med(psum, (w, "hiredis"), "replies_per_sec")
        add(f"parser ({w}), C reader ≥ 1.5x hiredis", f"{human(rcc)}/s vs {human(hi)}/s",
            ratio(rcc, hi), 1.5)
    return t


def e2e_targets(esum, soak_result):
    t = []

    def add(*a, **kw):
        t.append(target(*a, **kw))

    for op in ["set", "get"]:
        for size in [3, 1024]:
            k = f"seq-{op}-{size}"
            rc, hi = med(esum, (k, "redcore"), "ops_per_sec"), med(esum, (k, "hiredis"), "ops_per_sec")
            add(f"sequential {op.upper()} {size} B ≥ 0.95x hiredis",
                f"{human(rc)}/s vs {human(hi)}/s", ratio(rc, hi), 0.95)
    rc, hi = med(esum, ("mix-50", "redcore"), "ops_per_sec"), med(esum, ("mix-50", "hiredis"), "ops_per_sec")
    conns = esum.get(("mix-50", "redcore"), {}).get("connections")
    conns = f"{int(conns['median'])} connections" if conns else "its default pool"
    add(f"50 callers ≥ 1.5x hiredis with 50 connections (redcore: {conns})",
        f"{human(rc)}/s vs {human(hi)}/s", ratio(rc, hi), 1.5)
    for op in ["set", "get"]:
        rc = med(esum, (f"pipe128-{op}", "redcore pipeline"), "ops_per_sec")
        rb = med(esum, (f"rb-c1-P128-{op}", "redis-benchmark"), "ops_per_sec")
        add(f"pipeline 128 {op.upper()} ≥ 0.9x redis-benchmark -c 1 -P 128",
            f"{human(rc)}/s vs {human(rb)}/s", ratio(rc, rb), 0.9)
    for k, rc_label, hi_label, what in [
            ("pipe16-set", "redcore pipeline", "hiredis pipelined", "pipeline 16 SET"),
            ("pipe16-get", "redcore pipeline", "hiredis pipelined", "pipeline 16 GET"),
            ("pipe128-set", "redcore pipeline", "hiredis pipelined", "pipeline 128 SET"),
            ("pipe128-get", "redcore pipeline", "hiredis pipelined", "pipeline 128 GET"),
            ("mix-1", "redcore", "hiredis", "1 caller"),
            ("mix-8", "redcore", "hiredis", "8 callers"),
            ("mix-50", "redcore", "hiredis", "50 callers")]:
        rc, hi = med(esum, (k, rc_label), "cpu_us_per_op"), med(esum, (k, hi_label), "cpu_us_per_op")
        add(f"CPU per op ≤ hiredis, {what}", f"{human(rc)} µs vs {human(hi)} µs",
            ratio(rc, hi), 1.0, higher_is_better=False)
    t += async_targets(esum)
    p50, p99 = med(esum, ("mix-50", "redcore"), "p50_us"), med(esum, ("mix-50", "redcore"), "p99_us")
    add("p99 ≤ 2x p50 at 50 callers", f"p50 {human(p50)} µs, p99 {human(p99)} µs",
        ratio(p99, p50), 2.0, higher_is_better=False)
    if soak_result:
        add("flat memory under sustained load (RSS growth after warm-up ≤ 1 MiB)",
            f"{soak_result['growth_kib']} KiB over {soak_result['seconds']} s",
            soak_result["growth_kib"] / 1024, 1.0, higher_is_better=False)
    return t


def async_targets(esum):
    """Issue 17: callback chains against redis-rs's tasks and hiredis async, and redcore's
    windows against hiredis async at every depth (throughput, and CPU per op), both ways
    of keeping the window full: from the caller's thread ("callbacks", which hiredis async
    cannot do: its context is not thread-safe) and from the completions ("chains", the way
    hiredis async keeps it full on its loop)."""
    t = []
    for chains in [50, 500]:
        k = f"chains-{chains}"
        for peer, need in [("redis-rs-mux tasks", 1.0), ("hiredis async", 1.3)]:
            rc, p = med(esum, (k, "redcore chains"), "ops_per_sec"), med(esum, (k, peer), "ops_per_sec")
            t.append(target(f"{chains} callback chains ≥ {need}x {peer}",
                            f"{human(rc)}/s vs {human(p)}/s", ratio(rc, p), need))
            rc, p = med(esum, (k, "redcore chains"), "cpu_us_per_op"), med(esum, (k, peer), "cpu_us_per_op")
            t.append(target(f"CPU per op ≤ {peer}, {chains} callback chains",
                            f"{human(rc)} µs vs {human(p)} µs", ratio(rc, p), 1.0,
                            higher_is_better=False))
    for label, what in [("redcore callbacks", "callbacks"), ("redcore chains", "chains")]:
        for depth in ASYNC_WINDOWS:
            k = f"async{depth}-get"
            rc, hi = med(esum, (k, label), "ops_per_sec"), med(esum, (k, "hiredis async"), "ops_per_sec")
            t.append(target(f"{what}, window {depth} GET ≥ 1.0x hiredis async",
                            f"{human(rc)}/s vs {human(hi)}/s", ratio(rc, hi), 1.0))
            rc, hi = med(esum, (k, label), "cpu_us_per_op"), med(esum, (k, "hiredis async"), "cpu_us_per_op")
            t.append(target(f"CPU per op ≤ hiredis async, {what} window {depth}",
                            f"{human(rc)} µs vs {human(hi)} µs", ratio(rc, hi), 1.0,
                            higher_is_better=False))
    return t


def soak_summary(s):
    rss = s["rss_kib"]
    warm = max(1, len(rss) // 6)  # the first sixth is warm-up
    return {"seconds": s["seconds"], "ops": s["ops"], "ops_per_sec": s["ops_per_sec"],
            "rss_after_warmup_kib": rss[warm], "rss_end_kib": rss[-1], "rss_max_kib": max(rss),
            "growth_kib": rss[-1] - rss[warm], "rss_kib": rss}


# ---- reports ------------------------------------------------------------------------------


def markdown(meta, files, psum, scenarios, esum, tg, soak_s):
    L = []
    L.append("# redcore benchmark results\n")
    L.append(f"{meta['when']} · {meta['machine']} · {meta['server']} · "
             f"{meta['runs']} run(s){' (QUICK: checks the suite, not the speed)' if meta['quick'] else ''}. "
             "Each cell: median (min–max) over the runs. Loopback, one redis-server; client and "
             "server share the machine's cores.\n")
    L.append("## Targets (issue 6)\n")
    L += target_table(tg)
    L.append("\n## Parser (reads of 64 KiB for (a)-(e), 16 KiB for (f)-(j); each client builds its own "
             "reply objects, walks and frees each reply)\n")
    L.append("**redcore** = its decoder from Rust (`Decoder::decode`, `ValueRef`), **redcore C** = its C "
             "reader (`redcore_reader_feed` / `_get_reply`, `redcore_reply_*`, `redcore_reply_free`).\n")
    L.append("| workload | unit | redcore | redcore C | hiredis | redis-rs | redcore / hiredis "
             "| redcore C / hiredis | redcore / redis-rs | MB/s redcore · hiredis · redis-rs "
             "| heap calls per reply redcore · redcore C · hiredis · redis-rs |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for w, (_, desc, unit, _) in files.items():
        field = "leaves_per_sec" if unit == "elements" else "replies_per_sec"
        cells = [spread(psum[(w, p)][field], "/s") for p in PARSERS]
        rc, rcc, hi, rr = (med(psum, (w, p), field) for p in PARSERS)
        mbs = " · ".join(human(med(psum, (w, p), "mb_per_sec")) for p in ["redcore", "hiredis", "redis-rs"])
        allocs = " · ".join(f"{med(psum, (w, p), 'allocs_per_reply'):.3g}" for p in PARSERS)
        L.append(f"| ({w}) {desc} | {unit}/s | " + " | ".join(cells)
                 + f" | {ratio(rc, hi):.2f}x | {ratio(rcc, hi):.2f}x | {ratio(rc, rr):.2f}x | {mbs} | {allocs} |")
    for w in MEMCPY_WORKLOADS:
        if (w, "memcpy") in psum:
            L.append(f"\nmemcpy of ({w})'s bytes in the same chunks: "
                     f"{spread(psum[(w, 'memcpy')]['mb_per_sec'], ' MB/s')}; "
                     f"redcore {spread(psum[(w, 'redcore')]['mb_per_sec'], ' MB/s')}.")
    L.append("\nHeap calls = allocations + reallocations (Rust: a counting global allocator; "
             "redcore C: the allocation functions wrapped at link time; hiredis: "
             "hiredisSetAllocators), counted in a separate pass; for (b) and (d) per element: "
             + ", ".join(f"({w}) " + " · ".join(f"{med(psum, (w, p), 'allocs_per_leaf'):.3g}"
                                                 for p in PARSERS)
                         for w in ("b", "d")) + ".\n")

    L += e2e_tables(scenarios, esum, "")
    L += async_tables(scenarios, esum)
    if any(sid.startswith("tls-") for sid, _, _, _ in scenarios):
        L.append("## Over TLS\n")
        L.append(f"The same scenarios against the same redis-server's TLS port: TLS 1.3, "
                 f"{TLS_CIPHERSUITE} for every client (the server allows only it), an EC P-256 "
                 "server certificate from a CA generated for the run, which each client trusts "
                 "and verifies (chain and name 127.0.0.1); no client certificate. redcore and "
                 "redis-rs use rustls (ring), hiredis its hiredis_ssl on OpenSSL "
                 f"{openssl_version()}; `redis-benchmark --tls` is the ceiling. \"vs TCP\" is "
                 "the same client's TLS figure over its TCP figure in this run.\n")
        L += e2e_tables(scenarios, esum, "tls-")
    if soak_s:
        L.append("## Memory under sustained load\n")
        L.append(f"redcore, 8 blocking callers + a callback window of 64 for {soak_s['seconds']} s "
                 f"({human(soak_s['ops_per_sec'])} ops/s): RSS {soak_s['rss_after_warmup_kib']} KiB after "
                 f"warm-up, {soak_s['rss_end_kib']} KiB at the end (max {soak_s['rss_max_kib']} KiB), "
                 f"growth {soak_s['growth_kib']} KiB. Per-command heap allocations are checked "
                 "exactly by `cargo test --test hot_path_alloc`.\n")
    L.append("Clients: **redcore** through its C API (default configuration: blocking calls use the shared "
             "connection, and a caller that finds it busy takes an idle direct connection, up to 8; "
             "the connections column is what the server counted at the end of the run; `pipeline` = `redcore_pipeline` run blocking; `callbacks` = "
             "`redcore_client_command` with the given number in flight). **hiredis** 1.5.0 sync "
             "contexts, one per caller thread (`pipelined` = `redisAppendCommandArgv` + "
             "`redisGetReply`). **redis-rs** 1.x: `sync` = one `Connection` per caller thread, "
             "`mux` = one `MultiplexedConnection` on a current-thread tokio runtime (`tasks` = "
             "depth-many tasks each awaiting one call at a time). **hiredis async**: 1.5.0's "
             "`redisAsyncContext` on a libevent 2.1 `event_base` in the caller's thread (the "
             "driver's own glue on the `ev` hooks: the sdist vendors no adapters). All speak RESP2 with TCP_NODELAY. "
             "CPU = user+sys of the whole client process (its event-loop threads included) / ops.\n")
    return "\n".join(L) + "\n"


def e2e_tables(scenarios, esum, pre):
    """The markdown tables of the end-to-end groups of one transport ("" TCP, "tls-")."""
    L = []
    groups = {"seq": "Sequential blocking calls (one caller, one connection)",
              "pipeline": "Pipelines on one connection (SET/GET, 3 B values)",
              "mix": "Concurrent callers: 80% GET / 20% SET over the filled key space, 3 B values"}
    tls = pre != ""
    level = "###" if tls else "##"

    def vs_tcp(sid, lbl):
        if not tls:
            return ""
        r = ratio(med(esum, (sid, lbl), "ops_per_sec"),
                  med(esum, (sid[len(pre):], lbl), "ops_per_sec"))
        return " – |" if r is None else f" {r:.2f}x |"

    for g, title in groups.items():
        sc = [s for s in scenarios if s[1] == pre + g]
        if not sc:
            continue
        L.append(f"{level} {title}{', TLS' if tls else ''}\n")
        labels = [lbl for lbl, _ in sc[0][3]]
        if g == "mix":
            L.append("| callers | client | connections | ops/s | vs hiredis |" + (" vs TCP |" if tls else "")
                     + " CPU µs/op | p50 µs | p99 µs | p999 µs |")
            L.append("|---|---|---|---|---|" + ("---|" if tls else "") + "---|---|---|---|")
            for sid, _, params, clients in sc:
                hi = med(esum, (sid, "hiredis"), "ops_per_sec")
                for lbl in labels:
                    s = esum[(sid, lbl)]
                    conns = int(s["connections"]["median"]) if s.get("connections") else "–"
                    L.append(f"| {params['threads']} | {lbl} | {conns} | {spread(s['ops_per_sec'])} | "
                             f"{ratio(med(esum, (sid, lbl), 'ops_per_sec'), hi):.2f}x |{vs_tcp(sid, lbl)} "
                             f"{human(med(esum, (sid, lbl), 'cpu_us_per_op'))} | "
                             f"{human(med(esum, (sid, lbl), 'p50_us'))} | {human(med(esum, (sid, lbl), 'p99_us'))} | "
                             f"{human(med(esum, (sid, lbl), 'p999_us'))} |")
            rb = esum.get((f"rb-{pre}c50-P1-get", "redis-benchmark"))
            if rb:
                L.append(f"\nCeiling, `redis-benchmark{' --tls' if tls else ''} -c 50` (GET / SET): "
                         f"{spread(rb['ops_per_sec'])} / "
                         f"{spread(esum[(f'rb-{pre}c50-P1-set', 'redis-benchmark')]['ops_per_sec'])}.\n")
            continue
        ref = "hiredis pipelined" if g == "pipeline" else "hiredis"
        L.append("| scenario | client | ops/s | vs hiredis |" + (" vs TCP |" if tls else "") + " CPU µs/op"
                 + (" | p50 µs | p99 µs |" if g == "seq" else " |"))
        L.append("|---|---|---|---|" + ("---|" if tls else "") + "---" + ("|---|---|" if g == "seq" else "|"))
        for sid, _, params, clients in sc:
            hi = med(esum, (sid, ref), "ops_per_sec")
            name = (f"{params['op'].upper()} {params['size']} B" if g == "seq"
                    else f"depth {params['depth']} {params['op'].upper()}")
            for lbl in labels:
                s = esum[(sid, lbl)]
                row = (f"| {name} | {lbl} | {spread(s['ops_per_sec'])} | "
                       f"{ratio(med(esum, (sid, lbl), 'ops_per_sec'), hi):.2f}x |{vs_tcp(sid, lbl)} "
                       f"{human(med(esum, (sid, lbl), 'cpu_us_per_op'))} |")
                if g == "seq":
                    row += f" {human(med(esum, (sid, lbl), 'p50_us'))} | {human(med(esum, (sid, lbl), 'p99_us'))} |"
                L.append(row)
            if g == "pipeline":
                rbk = (f"rb-{pre}c1-P{params['depth']}-{params['op']}", "redis-benchmark")
                if rbk in esum:
                    L.append(f"| {name} | redis-benchmark{' --tls' if tls else ''} -c 1 -P {params['depth']} | "
                             f"{spread(esum[rbk]['ops_per_sec'])} | "
                             f"{ratio(med(esum, rbk, 'ops_per_sec'), hi):.2f}x |"
                             + (f"{vs_tcp_rb(esum, rbk, pre)}" if tls else "") + " – |")
        if g == "seq":
            rb = esum.get((f"rb-{pre}c1-P1-get", "redis-benchmark"))
            if rb:
                L.append(f"\nCeiling, `redis-benchmark{' --tls' if tls else ''} -c 1` (GET / SET, 3 B): "
                         f"{spread(rb['ops_per_sec'])} / "
                         f"{spread(esum[(f'rb-{pre}c1-P1-set', 'redis-benchmark')]['ops_per_sec'])}.")
        L.append("")
    return L


def async_tables(scenarios, esum):
    """The markdown tables of issue 17's chains and async windows (TCP)."""
    L = []

    def rows(group, head, cells):
        # One row per scenario and client: its first cells, ops/s, then cells(sid, lbl, ops).
        for sid, _, params, clients in [s for s in scenarios if s[1] == group]:
            for lbl, _ in clients:
                ops = med(esum, (sid, lbl), "ops_per_sec")
                L.append(f"| {params[head]} | {lbl} | {spread(esum[(sid, lbl)]['ops_per_sec'])} | "
                         + " | ".join(cells(sid, lbl, ops)) + " |")
        L.append("")

    def vs(sid, peer, value, field):
        return fmt_ratio(value, med(esum, (sid, peer), field))

    def cpu(sid, lbl):
        return med(esum, (sid, lbl), "cpu_us_per_op")

    if any(s[1] == "chains" for s in scenarios):
        L.append("## Callback chains on one connection: 80% GET / 20% SET over the filled key "
                 "space, 3 B values\n")
        L.append("Each chain issues its next command from the completion of the one before "
                 "(redcore: `redcore_client_command` callbacks; hiredis: `redisAsyncCommandArgv` "
                 "on a libevent loop); redis-rs: as many tokio tasks on one "
                 "`MultiplexedConnection`, each awaiting one call at a time.\n")
        L.append("| chains | client | ops/s | vs hiredis async | vs redis-rs-mux tasks "
                 "| CPU µs/op | p50 µs | p99 µs |")
        L.append("|---|---|---|---|---|---|---|---|")
        rows("chains", "chains", lambda sid, lbl, ops: [
            vs(sid, "hiredis async", ops, "ops_per_sec"),
            vs(sid, "redis-rs-mux tasks", ops, "ops_per_sec"), human(cpu(sid, lbl)),
            human(med(esum, (sid, lbl), "p50_us")), human(med(esum, (sid, lbl), "p99_us"))])
    if any(s[1] == "async" for s in scenarios):
        L.append("## Async windows on one connection (GET, 3 B)\n")
        L.append("`callbacks`: the caller's thread keeps the window full (`redcore_client_command`, "
                 "a semaphore of free places); `chains`: each completion issues the next "
                 "command, as hiredis async does on its libevent loop.\n")
        L.append("| in flight | client | ops/s | vs hiredis async | CPU µs/op | CPU vs hiredis async |")
        L.append("|---|---|---|---|---|---|")
        rows("async", "depth", lambda sid, lbl, ops: [
            vs(sid, "hiredis async", ops, "ops_per_sec"), human(cpu(sid, lbl)),
            vs(sid, "hiredis async", cpu(sid, lbl), "cpu_us_per_op")])
    return L


def vs_tcp_rb(esum, key, pre):
    tcp = (key[0].replace("rb-" + pre, "rb-", 1), key[1])
    r = ratio(med(esum, key, "ops_per_sec"), med(esum, tcp, "ops_per_sec"))
    return " – |" if r is None else f" {r:.2f}x |"


def openssl_version():
    try:
        out = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE, text=True).stdout
        return out.split()[1]
    except (OSError, IndexError):
        return "?"


def svg(esum, meta):
    mix_labels = ["redcore", "hiredis", "redis-rs-sync", "redis-rs-mux"]
    conc = {"title": "Throughput by concurrent callers (80/20 GET/SET)",
            "xlabel": "concurrent callers (threads; redis-rs-mux: tasks)", "ylabel": "ops/s",
            "xs": [1, 8, 50],
            "series": [(lbl + (" (1 conn)" if lbl in ("redcore", "redis-rs-mux") else " (1 conn/caller)"),
                        [med(esum, (f"mix-{t}", lbl), "ops_per_sec") for t in (1, 8, 50)])
                       for lbl in mix_labels]}
    conc["series"].append(("redis-benchmark -c N", [
        None, None, med(esum, ("rb-c50-P1-get", "redis-benchmark"), "ops_per_sec")]))
    pipe_series = [
        ("redcore pipeline", "redcore", "redcore pipeline"),
        ("redcore callbacks", "redcore", "redcore callbacks"),
        ("hiredis pipelined", "hiredis", "hiredis pipelined"),
        ("redis-rs-sync pipe", "redis-rs-sync", "redis-rs-sync pipe"),
        ("redis-rs-mux pipe", "redis-rs-mux", "redis-rs-mux pipe"),
    ]
    pipe = {"title": "Throughput by pipeline depth, one connection (GET, 3 B)",
            "xlabel": "commands in flight (depth 1 = sequential blocking GET)", "ylabel": "ops/s",
            "xs": [1, 16, 128], "series": []}
    for name, seq_label, pipe_label in pipe_series:
        pipe["series"].append((name, [med(esum, ("seq-get-3", seq_label), "ops_per_sec"),
                                      med(esum, ("pipe16-get", pipe_label), "ops_per_sec"),
                                      med(esum, ("pipe128-get", pipe_label), "ops_per_sec")]))
    pipe["series"].append(("redis-benchmark -c 1 -P", [
        med(esum, (f"rb-c1-P{d}-get", "redis-benchmark"), "ops_per_sec") for d in (1, 16, 128)]))
    return chart.panels([conc, pipe], f"redcore vs peers · {meta['when']} · {meta['server']} · "
                                      f"median of {meta['runs']} run(s)")


def print_ratios(psum, files, scenarios, esum, tg):
    log("\n== ratios: redcore / peer (median) ==")
    for w, (_, desc, unit, _) in (files.items() if psum else []):
        field = "leaves_per_sec" if unit == "elements" else "replies_per_sec"
        rc = med(psum, (w, "redcore"), field)
        parts = [f"{p} {fmt_ratio(rc, med(psum, (w, p), field))}" for p in ["hiredis", "redis-rs"]]
        rcc = med(psum, (w, "redcore-c"), field)
        parts.append(f"redcore C {human(rcc)}/s = {fmt_ratio(rcc, med(psum, (w, 'hiredis'), field))}"
                     " hiredis")
        # Per second of the process's CPU time: what a loaded machine changes least.
        cpu = {p: med(psum, (w, p), "replies_per_cpu_sec") for p in PARSERS}
        parts.append("per CPU second: " + ", ".join(
            f"{p} {fmt_ratio(cpu['redcore'], cpu[p])}" for p in ["hiredis", "redis-rs"])
            + f", redcore C / hiredis {fmt_ratio(cpu['redcore-c'], cpu['hiredis'])}")
        log(f"parser ({w}) {desc}: redcore {human(rc)} {unit}/s; " + ", ".join(parts))
    for sid, g, _, clients in scenarios:
        labels = [lbl for lbl, _ in clients]
        mine = [lbl for lbl in labels if lbl.startswith("redcore")]
        for m in mine:
            rc = med(esum, (sid, m), "ops_per_sec")
            parts = [f"{p} {fmt_ratio(rc, med(esum, (sid, p), 'ops_per_sec'))}"
                     for p in labels if not p.startswith("redcore")]
            if sid.startswith("tls-"):
                parts.append(f"own TCP run {fmt_ratio(rc, med(esum, (sid[4:], m), 'ops_per_sec'))}")
            log(f"{sid} {m}: {human(rc)}/s; " + ", ".join(parts))
    log("\n== targets ==")
    log_targets(tg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--only", action="append", choices=PARTS)
    ap.add_argument("--transport", action="append", choices=TRANSPORTS)
    ap.add_argument("--soak-seconds", type=int)
    ap.add_argument("--scenario", action="append",
                    help="end-to-end scenarios whose id starts with this (repeatable), e.g. "
                         "chains, async, tls-mix; no redis-benchmark rows")
    opts = ap.parse_args()
    quick = opts.quick
    runs = opts.runs or (1 if quick else 5)
    parts = set(opts.only or PARTS)
    transports = [t for t in TRANSPORTS if t in (opts.transport or TRANSPORTS)]
    soak_seconds = opts.soak_seconds or (5 if quick else SOAK_SECONDS)
    started = time.time()
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(BUILD, exist_ok=True)

    exes = {}
    vendor = libhiredis = None
    if parts - {"go"}:  # the Go suite builds its own peers (go test)
        log("== building peers and drivers ==")
        vendor = fetch_hiredis()
        libhiredis = build_hiredis(vendor)
    if parts - {"go", "hiredis"}:  # the hiredis section builds its own drivers
        exes = build_c(vendor, libhiredis, build_hiredis_ssl(vendor))
        exes.update(build_rust())

    meta = {"when": time.strftime("%Y-%m-%d %H:%M"), "quick": quick, "runs": runs,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start",
            "server": "", "transports": transports if "e2e" in parts else [],
            "soak_seconds": soak_seconds if "soak" in parts else None}
    files = write_inputs(quick)
    checkpoint_path = os.path.join(WORK, "checkpoint.json")

    def checkpoint(**raw):
        """The raw runs measured so far, in bench/work/checkpoint.json after each section:
        what a run that fails later (the results are written at its end) leaves behind."""
        done = {}
        if os.path.exists(checkpoint_path):
            with open(checkpoint_path) as f:
                done = json.load(f)
            if done.get("started") != meta["when"]:
                done = {}
        done["started"] = meta["when"]
        for name, runs_ in raw.items():
            done[name] = {"/".join(k): v for k, v in runs_.items()}
        with open(checkpoint_path, "w") as f:
            json.dump(done, f, indent=1, ensure_ascii=False)

    praw, psum = {}, {}
    if "parser" in parts:
        log("== parser ==")
        praw = parser_suite(exes, files, runs, 0 if quick else 0.5)
        checkpoint(parser=praw)
        psum = summarise(praw, ["replies_per_sec", "leaves_per_sec", "mb_per_sec",
                                "allocs_per_reply", "allocs_per_leaf", "replies_per_cpu_sec"])
    scenarios, eraw, esum, soak_s = e2e_scenarios(quick)[0], {}, {}, None
    go_res = hiredis_res = None
    server = None
    if parts & {"e2e", "soak", "go", "hiredis"}:
        server = Server(tls="e2e" in parts and "tls" in transports)
        meta["server"] = server.version().split(" sha=")[0]
    try:
        if "e2e" in parts:
            tls_port = f", TLS on {server.tls_port}" if server.tls_port else ""
            log(f"== end to end (redis-server on 127.0.0.1:{server.port}{tls_port}) ==")
            scenarios, eraw = e2e_suite(exes, server, runs, quick, transports, opts.scenario)
            checkpoint(e2e=eraw)
            esum = summarise(eraw, ["ops_per_sec", "cpu_us_per_op", "p50_us", "p99_us", "p999_us",
                                    "connections"])
        if "soak" in parts:
            keys = e2e_scenarios(quick)[1]
            if "e2e" not in parts:
                run_json([exes["e2e-hiredis"], "--port", str(server.port), "--mode", "fill",
                          "--keys", str(keys), "--size", "3"])
            soak_s = soak_summary(soak(exes, server, soak_seconds, keys))
        if "hiredis" in parts:
            log(f"== hiredis section: libhiredis vs hiredis (redis-server on 127.0.0.1:{server.port}) ==")
            hiredis_res = hiredis_suite.suite(ROOT, BUILD, PEERS, WORK, vendor, libhiredis, files,
                                              server.port, runs, quick)
            # Files of its own, written as soon as the section ends (by a full run and by
            # `--only hiredis`), so that a later section's failure does not lose them.
            hiredis_suite.write(hiredis_res, os.path.join(WORK if quick else BENCH, "hiredis-results"),
                                f"{meta['when']}, {meta['machine']}, {os.getloadavg()[0]:.1f} at the end, "
                                f"{meta['server']}")
        if "go" in parts:
            log(f"== Go clients (redis-server on 127.0.0.1:{server.port}) ==")
            go_res = go_suite.run(server.port, os.path.join(ROOT, "target", "release"), runs, quick)
            # Likewise (a QUICK run writes them under bench/work).
            log("\n== Go targets ==")
            go_suite.write(go_res, meta["server"], WORK if quick else BENCH)
    finally:
        if server:
            server.stop()
    csc, craw, croute, csum, rsum, ctg = [], {}, [], {}, {}, []
    if "cluster" in parts:
        csc, craw, croute, meta["server"] = cluster.suite(exes, runs, quick, WORK)
        csum, rsum = cluster.summary(craw, croute)
        ctg = cluster.targets(csum, rsum)
    meta["load_at_end"] = os.getloadavg()[0]
    meta["seconds"] = round(time.time() - started)

    tg = targets(psum, esum, soak_s)
    key = lambda k: "/".join(k)  # noqa: E731
    result = {
        "meta": meta,
        "parser": {"workloads": {w: {"file": os.path.relpath(p, ROOT), "description": d, "unit": u}
                                 for w, (p, d, u, _) in files.items()},
                   "summary": {key(k): v for k, v in psum.items()},
                   "runs": {key(k): v for k, v in praw.items()}},
        "e2e": {"summary": {key(k): v for k, v in esum.items()},
                "runs": {key(k): v for k, v in eraw.items()}},
        "soak": soak_s,
        "targets": tg,
        "go": go_res and {k: v for k, v in go_res.items() if k != "raw"},
        "cluster": {"summary": {key(k): v for k, v in csum.items()},
                    "runs": {key(k): v for k, v in craw.items()},
                    "route": {"summary": rsum, "runs": croute},
                    "targets": ctg},
    }
    # A QUICK run checks the suite, and a partial one (--only, --transport) measures a part: both
    # leave the last full run's results alone.
    partial = parts != set(PARTS) or transports != TRANSPORTS or opts.scenario is not None
    out = os.path.join(WORK, "quick-results" if quick else "partial-results") \
        if quick or partial else os.path.join(BENCH, "results")
    with open(out + ".json", "w") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)
        f.write("\n")
    written = [".json"]
    cluster_md = "\n".join(cluster.markdown(csc, csum, rsum, ctg)) if csum else ""
    if psum and esum and "tcp" in transports:
        with open(out + ".md", "w") as f:
            f.write(markdown(meta, files, psum, scenarios, esum, tg, soak_s) + cluster_md)
        with open(out + ".svg", "w") as f:
            f.write(svg(esum, meta))
        written += [".md", ".svg"]
    elif cluster_md:
        with open(out + ".md", "w") as f:
            f.write(f"# redcore benchmark results: cluster\n\n{meta['when']} · {meta['machine']} · "
                    f"{meta['server']} · {meta['runs']} run(s)"
                    f"{' (QUICK: checks the suite, not the speed)' if quick else ''}.\n\n"
                    + cluster_md)
        written.append(".md")
    if psum or esum:
        print_ratios(psum, files, scenarios if esum else [], esum, tg)
    if csum:
        cluster.print_ratios(csc, csum, ctg)
    if soak_s:
        log(f"soak: RSS growth after warm-up {soak_s['growth_kib']} KiB over {soak_s['seconds']} s")
    rel = os.path.relpath(out, ROOT)
    log(f"\nwrote {', '.join(rel + w for w in written)} in {meta['seconds']} s")


if __name__ == "__main__":
    main()
