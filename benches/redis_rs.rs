//! End-to-end benchmark, redis-rs side: the same modes, keys, values, checks and JSON output
//! as the C driver (bench/c/e2e.c), on redis-rs's sync `Connection` (one per caller thread,
//! as hiredis) or its `MultiplexedConnection` (one, shared by every caller task, on a
//! current-thread tokio runtime). Run by `make bench` (bench/run.py).
//!
//!   redis_rs --conn sync|mux --port P --mode seq|pipeline|window|mix [--op set|get]
//!            [--size BYTES] [--n OPS] [--depth D] [--threads T] [--keys K]
//!            [--tls --tls-ca FILE]
//!
//! `window` (mux only) keeps --depth calls in flight from --depth tasks: the multiplexed
//! connection pipelines them implicitly. TCP_NODELAY is set, as the other clients set it.
//! `--tls`: `rediss://` with rustls (the `tls-rustls` features), trusting only the CA in the
//! PEM file given, as the C clients do.
//!
//! `--conn cluster --port P --mode calls|pipelines|join --threads T`: its async cluster
//! client against the cluster of which P is a node (see redis_rs/cluster.rs).

use std::sync::{Arc, Barrier};
use std::time::Instant;

use redis::io::tcp::TcpSettings;
use redis::{Client, IntoConnectionInfo, Value};

#[path = "redis_rs/cluster.rs"]
mod cluster;

#[derive(Clone)]
struct Args {
    conn: String,
    host: String,
    port: u16,
    mode: String,
    op: String,
    size: usize,
    n: usize,
    depth: usize,
    threads: usize,
    keys: u64,
    tls_ca: Option<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        conn: "sync".into(),
        host: "127.0.0.1".into(),
        port: 0,
        mode: "seq".into(),
        op: "get".into(),
        size: 3,
        n: 10_000,
        depth: 1,
        threads: 1,
        keys: 1000,
        tls_ca: None,
    };
    let mut tls = false;
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        if flag == "--tls" {
            tls = true;
            continue;
        }
        let v = it.next().unwrap_or_else(|| usage());
        let num = || v.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--conn" => a.conn = v.clone(),
            "--host" => a.host = v.clone(),
            "--port" => a.port = num() as u16,
            "--mode" => a.mode = v.clone(),
            "--op" => a.op = v.clone(),
            "--size" => a.size = num(),
            "--n" => a.n = num(),
            "--depth" => a.depth = num(),
            "--threads" => a.threads = num(),
            "--keys" => a.keys = num() as u64,
            "--tls-ca" => a.tls_ca = Some(v.clone()),
            _ => usage(),
        }
    }
    if a.port == 0
        || a.n == 0
        || a.depth == 0
        || a.threads == 0
        || a.keys == 0
        || tls != a.tls_ca.is_some()
    {
        usage();
    }
    if a.mode == "mix" {
        a.op = "mix".into();
    } else if a.conn != "cluster" {
        a.threads = 1;
    }
    a
}

fn usage() -> ! {
    eprintln!(
        "usage: redis_rs --conn sync|mux --port P --mode seq|pipeline|window|mix [--op set|get] \
         [--size B] [--n OPS] [--depth D] [--threads T] [--keys K] [--tls --tls-ca FILE]\n       \
         redis_rs --conn cluster --port P --mode calls|pipelines|join [--op set|get] [--size B] \
         [--n OPS] [--depth D] [--threads T] [--keys K]"
    );
    std::process::exit(2)
}

fn cpu_s() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// xorshift64*, as in e2e.c, so the mix draws the same keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }
}

/// Command `i`: (is_set, key).
struct Gen {
    prefix: String,
    set: bool,
    keys: u64,
    mix: Option<Rng>,
}

impl Gen {
    fn next(&mut self, i: u64) -> (bool, String) {
        let (set, key) = match &mut self.mix {
            Some(rng) => {
                let r = rng.next();
                (r % 10 < 2, (r >> 8) % self.keys)
            }
            None => (self.set, i % self.keys),
        };
        (set, format!("{}:{key:07}", self.prefix))
    }
}

fn command(set: bool, key: &str, value: &[u8]) -> redis::Cmd {
    let mut cmd = redis::cmd(if set { "SET" } else { "GET" });
    cmd.arg(key);
    if set {
        cmd.arg(value);
    }
    cmd
}

fn reply_ok(set: bool, reply: &Value, size: usize) -> bool {
    match reply {
        Value::Okay => set,
        Value::BulkString(b) => !set && b.len() == size,
        _ => false,
    }
}

#[derive(Default)]
struct Outcome {
    ops: usize,
    bad: usize,
    failed: usize,
    lat: Vec<u32>,
}

impl Outcome {
    fn record(&mut self, set: bool, result: redis::RedisResult<Value>, size: usize, t0: Instant) {
        match result {
            Ok(reply) => {
                self.lat
                    .push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                self.bad += usize::from(!reply_ok(set, &reply, size));
                self.ops += 1;
            }
            Err(_) => self.failed += 1,
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.ops += other.ops;
        self.bad += other.bad;
        self.failed += other.failed;
        self.lat.extend(other.lat);
    }
}

/// `connections`: -1 when the server side counts them (bench/cluster.py).
fn print(a: &Args, name: &str, connections: i64, out: &mut Outcome, secs: f64, cpu: f64) {
    let mut line = format!(
        "{{\"client\":\"{name}\",\"mode\":\"{}\",\"op\":\"{}\",\"size\":{},\"threads\":{},\
         \"depth\":{},\"connections\":{connections},\"ops\":{},\"secs\":{secs:.6},\
         \"ops_per_sec\":{:.1},\"cpu_s\":{cpu:.6},\"cpu_us_per_op\":{:.4}",
        a.mode,
        a.op,
        a.size,
        a.threads,
        a.depth,
        out.ops,
        out.ops as f64 / secs,
        cpu * 1e6 / out.ops.max(1) as f64,
    );
    if !out.lat.is_empty() {
        out.lat.sort_unstable();
        let n = out.lat.len();
        let p = |q: f64| out.lat[((n - 1) as f64 * q) as usize] as f64 / 1e3;
        line += &format!(
            ",\"p50_us\":{:.2},\"p99_us\":{:.2},\"p999_us\":{:.2},\"max_us\":{:.2}",
            p(0.50),
            p(0.99),
            p(0.999),
            out.lat[n - 1] as f64 / 1e3
        );
    }
    line += &format!(
        ",\"bad_replies\":{},\"failed_calls\":{}}}",
        out.bad, out.failed
    );
    println!("{line}");
}

fn client(a: &Args) -> Client {
    let scheme = if a.tls_ca.is_some() {
        "rediss"
    } else {
        "redis"
    };
    let info = format!("{scheme}://{}:{}/", a.host, a.port)
        .into_connection_info()
        .expect("valid URL")
        .set_tcp_settings(TcpSettings::default().set_nodelay(true));
    match &a.tls_ca {
        None => Client::open(info).expect("client"),
        Some(ca) => {
            let root_cert = std::fs::read(ca).unwrap_or_else(|e| panic!("{ca}: {e}"));
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root_cert),
            };
            Client::build_with_tls(info, certs).expect("TLS client")
        }
    }
}

/// Sets keys [0, keys) of `prefix` to `size` bytes (not measured).
fn fill(con: &mut redis::Connection, prefix: &str, keys: u64, value: &[u8]) {
    let mut start = 0;
    while start < keys {
        let mut pipe = redis::pipe();
        for k in start..keys.min(start + 256) {
            pipe.cmd("SET").arg(format!("{prefix}:{k:07}")).arg(value);
        }
        pipe.query::<()>(con).expect("fill");
        start += 256;
    }
}

fn main() {
    let a = parse_args();
    let value = vec![b'v'; a.size];
    if a.conn == "cluster" {
        let mut out = Outcome::default();
        let (secs, cpu) = cluster::run(&a, &value, &mut out);
        print(&a, "redis-rs-cluster", -1, &mut out, secs, cpu);
        std::process::exit(i32::from(out.bad > 0 || out.failed > 0));
    }
    let client = client(&a);
    let name = format!("redis-rs-{}", a.conn);
    let prefix = format!("s{}", a.size);
    let set = a.op == "set";
    let warm = (a.n / 10).min(1000);
    let single_gen = || Gen {
        prefix: prefix.clone(),
        set,
        keys: a.keys,
        mix: None,
    };
    let mix_gen = |i: usize| Gen {
        prefix: "key".into(),
        set: false,
        keys: a.keys,
        mix: Some(Rng(0x9E3779B97F4A7C15u64.wrapping_mul(i as u64 + 1))),
    };
    if a.mode != "mix" && !set {
        fill(
            &mut client.get_connection().expect("connect"),
            &prefix,
            a.keys,
            &value,
        );
    }
    let mut out = Outcome::default();
    let (secs, cpu, connections);
    match (a.conn.as_str(), a.mode.as_str()) {
        ("sync", "seq") => {
            let mut con = client.get_connection().expect("connect");
            let mut g = single_gen();
            let mut run = |n: usize, out: &mut Outcome| {
                for i in 0..n {
                    let (set, key) = g.next(i as u64);
                    let t0 = Instant::now();
                    out.record(set, command(set, &key, &value).query(&mut con), a.size, t0);
                }
            };
            run(warm, &mut Outcome::default());
            let (t0, c0) = (Instant::now(), cpu_s());
            run(a.n, &mut out);
            (secs, cpu, connections) = (t0.elapsed().as_secs_f64(), cpu_s() - c0, 1);
        }
        ("sync", "pipeline") => {
            let mut con = client.get_connection().expect("connect");
            let mut g = single_gen();
            let mut run = |n: usize, out: &mut Outcome| {
                let mut done = 0;
                while done < n {
                    let batch = a.depth.min(n - done);
                    let mut pipe = redis::pipe();
                    let mut sets = Vec::with_capacity(batch);
                    for i in done..done + batch {
                        let (set, key) = g.next(i as u64);
                        pipe.add_command(command(set, &key, &value));
                        sets.push(set);
                    }
                    match pipe.query::<Vec<Value>>(&mut con) {
                        Ok(replies) => {
                            for (set, r) in sets.iter().zip(&replies) {
                                out.bad += usize::from(!reply_ok(*set, r, a.size));
                            }
                            out.ops += replies.len();
                        }
                        Err(_) => out.failed += 1,
                    }
                    done += batch;
                }
            };
            run(warm, &mut Outcome::default());
            let (t0, c0) = (Instant::now(), cpu_s());
            run(a.n, &mut out);
            (secs, cpu, connections) = (t0.elapsed().as_secs_f64(), cpu_s() - c0, 1);
        }
        ("sync", "mix") => {
            let barrier = Arc::new(Barrier::new(a.threads + 1));
            let handles: Vec<_> = (0..a.threads)
                .map(|t| {
                    let mut con = client.get_connection().expect("connect");
                    let mut g = mix_gen(t);
                    let barrier = barrier.clone();
                    let value = value.clone();
                    let ops = a.n / a.threads + usize::from(t < a.n % a.threads);
                    let size = a.size;
                    std::thread::spawn(move || {
                        let mut out = Outcome {
                            lat: Vec::with_capacity(ops),
                            ..Outcome::default()
                        };
                        let mut run = |n: usize, out: &mut Outcome| {
                            for i in 0..n {
                                let (set, key) = g.next(i as u64);
                                let t0 = Instant::now();
                                let r = command(set, &key, &value).query(&mut con);
                                out.record(set, r, size, t0);
                            }
                        };
                        run(100, &mut Outcome::default());
                        barrier.wait();
                        run(ops, &mut out);
                        out
                    })
                })
                .collect();
            barrier.wait();
            let (t0, c0) = (Instant::now(), cpu_s());
            for h in handles {
                out.merge(h.join().expect("caller thread"));
            }
            (secs, cpu, connections) = (t0.elapsed().as_secs_f64(), cpu_s() - c0, a.threads);
        }
        ("mux", mode @ ("seq" | "pipeline" | "window" | "mix")) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            let mode = mode.to_string();
            (secs, cpu) = rt.block_on(mux(&a, &mode, &client, &value, &mut out));
            connections = 1;
        }
        _ => usage(),
    }
    print(&a, &name, connections as i64, &mut out, secs, cpu);
    if out.bad > 0 || out.failed > 0 {
        std::process::exit(1);
    }
}

async fn mux(a: &Args, mode: &str, client: &Client, value: &[u8], out: &mut Outcome) -> (f64, f64) {
    let con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let prefix = if mode == "mix" {
        "key".to_string()
    } else {
        format!("s{}", a.size)
    };
    let set = a.op == "set";
    // Callers: 1 for seq and pipeline, --depth for window, --threads for mix; each runs its
    // share of the calls one after another (pipelines: one batch after another).
    let callers = match mode {
        "window" => a.depth,
        "mix" => a.threads,
        _ => 1,
    };
    let warm = if mode == "mix" {
        100 * callers
    } else {
        (a.n / 10).min(1000)
    };
    let mut timing = (0.0, 0.0);
    for (pass, total) in [(0, warm), (1, a.n)] {
        let (t0, c0) = (Instant::now(), cpu_s());
        let tasks: Vec<_> = (0..callers)
            .map(|c| {
                let mut con = con.clone();
                let value = value.to_vec();
                let n = total / callers + usize::from(c < total % callers);
                let size = a.size;
                let depth = a.depth;
                let mut g = Gen {
                    prefix: prefix.clone(),
                    set,
                    keys: a.keys,
                    mix: (mode == "mix")
                        .then(|| Rng(0x9E3779B97F4A7C15u64.wrapping_mul(c as u64 + 1 + pass))),
                };
                let pipelined = mode == "pipeline";
                tokio::spawn(async move {
                    let mut out = Outcome {
                        lat: Vec::with_capacity(if pipelined { 0 } else { n }),
                        ..Outcome::default()
                    };
                    let mut i = 0;
                    while i < n {
                        if pipelined {
                            let batch = depth.min(n - i);
                            let mut pipe = redis::pipe();
                            let mut sets = Vec::with_capacity(batch);
                            for j in i..i + batch {
                                let (set, key) = g.next(j as u64);
                                pipe.add_command(command(set, &key, &value));
                                sets.push(set);
                            }
                            match pipe.query_async::<Vec<Value>>(&mut con).await {
                                Ok(replies) => {
                                    for (set, r) in sets.iter().zip(&replies) {
                                        out.bad += usize::from(!reply_ok(*set, r, size));
                                    }
                                    out.ops += replies.len();
                                }
                                Err(_) => out.failed += 1,
                            }
                            i += batch;
                        } else {
                            let (set, key) = g.next((c + i * callers) as u64);
                            let t0 = Instant::now();
                            let r = command(set, &key, &value).query_async(&mut con).await;
                            out.record(set, r, size, t0);
                            i += 1;
                        }
                    }
                    out
                })
            })
            .collect();
        let mut measured = Outcome::default();
        for t in tasks {
            measured.merge(t.await.expect("caller task"));
        }
        timing = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
        if pass == 1 {
            *out = measured;
        }
    }
    // Latency per call only for calls made one at a time by one caller or by many.
    if mode == "pipeline" || mode == "window" {
        out.lat.clear();
    }
    timing
}
