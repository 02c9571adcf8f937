//! The soak with faults: for a set time, 8 threads of blocking calls (direct and multiplexed
//! connections, pipelines, dedicated connections, blocking commands) and a window of
//! callbacks run against a real server behind the fault proxy, while the test injects
//! resets, stalls, black holes, trickles, cut and corrupted replies, refused connections and
//! server restarts. At the end: every callback ran exactly once, every reply matched its
//! command (each command is an ECHO of a unique payload, or has a known reply), errors are
//! counted by kind, and the process's RSS is within 10% of what it was after warm-up (2 MiB in
//! a run under two minutes).
//!
//! Ignored by plain `cargo test`: `make soak` runs it for 10 minutes, `make test` for 60 s
//! (`REDCORE_SOAK_SECS`, at least 60). `REDCORE_SOAK_TRACE=1` prints RSS, where it lies, and
//! the allocator's live heap after each round of faults.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redcore::client::{Client, Pipeline};
use redcore::config::{Config, Endpoint};
use redcore::resp::Value;
use redcore::{Error, ErrorKind};
use support::fault_proxy::{Fault, FaultProxy};
use support::RedisServer;

const WORKERS: usize = 8;
/// Callbacks kept in flight by the async submitter.
const WINDOW: usize = 256;
const TIMEOUT: Duration = Duration::from_millis(500);
/// How many kinds of fault `inject` takes turns with.
const FAULT_KINDS: u64 = 9;
/// A quiet time before each RSS measurement, so both are taken in the same state.
const QUIET: Duration = Duration::from_secs(3);

/// Errors seen, by kind, and operations done.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    fn count(&self, result: &Result<(), Error>) {
        match result {
            Ok(()) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Only typed failures of a broken network or server are expected. (A reset
                // during the handshake, as the proxy does while the server restarts, is
                // reported as TLS, a kind of CONNECTION: it is what a TLS-only port does
                // with plain text.)
                assert!(
                    e.kind().is(ErrorKind::Connection)
                        || matches!(
                            e.kind(),
                            ErrorKind::Timeout | ErrorKind::Protocol | ErrorKind::MaxConnections
                        ),
                    "unexpected error {:?}: {e}",
                    e.kind()
                );
                *lock(&self.errors)
                    .entry(format!("{:?}", e.kind()))
                    .or_default() += 1;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A payload that names its command; lengths vary so that some replies span reads.
fn payload(worker: usize, seq: u64) -> String {
    let pad = match seq % 16 {
        0 => 16 * 1024,
        1..=3 => 1024,
        _ => 8,
    };
    format!("w{worker}-{seq}-{}", "x".repeat(pad))
}

fn echoed(payload: &str, reply: Value) -> Result<(), Error> {
    assert_eq!(reply, Value::bulk(payload), "a reply for another command");
    Ok(())
}

/// One blocking operation of worker `w`, chosen by `seq`.
fn blocking_op(client: &Client, w: usize, seq: u64) -> Result<(), Error> {
    match seq % 20 {
        // A pipeline on the shared connection (or written and read on this thread).
        0..=2 => {
            let payloads: Vec<String> = (0..5).map(|i| payload(w, seq * 10 + i)).collect();
            let mut pipeline = Pipeline::new();
            for p in &payloads {
                pipeline.add(&["ECHO", p.as_str()])?;
            }
            let result = client.run_pipeline(&pipeline)?;
            assert_eq!(result.len(), payloads.len());
            for (i, p) in payloads.iter().enumerate() {
                match result.get(i).expect("a result per command") {
                    Ok(v) => echoed(p, v.to_value())?,
                    Err(e) => return Err(e.clone()),
                }
            }
            Ok(())
        }
        // A dedicated connection, held for two commands.
        3 => {
            let mut held = client.dedicated()?;
            let p = payload(w, seq);
            echoed(&p, held.command(&["ECHO", p.as_str()])?.to_value())?;
            let p = payload(w, seq + 1);
            echoed(&p, held.command(&["ECHO", p.as_str()])?.to_value())
        }
        // A blocking command, on a dedicated connection of the pool.
        4 => {
            let reply = client.command(&["BLPOP", "soak-nothing", "0.01"])?;
            assert_eq!(reply.to_value(), Value::Null);
            Ok(())
        }
        // Single blocking calls: the direct path when the connection is idle.
        _ => {
            let p = payload(w, seq);
            echoed(&p, client.command(&["ECHO", p.as_str()])?.to_value())
        }
    }
}

/// Keeps `WINDOW` ECHOs in flight through callbacks until `stop`; checks each completes
/// exactly once with its own payload.
fn async_window(client: &Client, stop: &AtomicBool, tally: &Arc<Tally>) -> u64 {
    let outstanding: Arc<Mutex<HashMap<u64, String>>> = Arc::new(Mutex::new(HashMap::new()));
    let in_flight = Arc::new(AtomicU64::new(0));
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if in_flight.load(Ordering::Acquire) >= WINDOW as u64 {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        seq += 1;
        let p = payload(99, seq);
        lock(&outstanding).insert(seq, p.clone());
        in_flight.fetch_add(1, Ordering::AcqRel);
        let (outstanding_cb, in_flight_cb, tally_cb) =
            (outstanding.clone(), in_flight.clone(), tally.clone());
        let submitted = client.submit(&["ECHO", p.as_str()], move |result| {
            let expected = lock(&outstanding_cb)
                .remove(&seq)
                .unwrap_or_else(|| panic!("callback {seq} ran twice"));
            tally_cb.count(&result.and_then(|r| echoed(&expected, r.to_value())));
            in_flight_cb.fetch_sub(1, Ordering::AcqRel);
        });
        if let Err(e) = submitted {
            lock(&outstanding).remove(&seq);
            in_flight.fetch_sub(1, Ordering::AcqRel);
            tally.count(&Err(e));
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // Every callback runs, within a bound: its timeout plus a margin.
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_flight.load(Ordering::Acquire) > 0 {
        assert!(
            Instant::now() < deadline,
            "{} callbacks never ran",
            lock(&outstanding).len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(lock(&outstanding).is_empty());
    seq
}

/// The resident set, after the allocator has given back what it holds free (glibc keeps
/// freed memory in per-thread arenas, and 30-odd threads run here: without the trim, RSS
/// measures where frees happened to land, not what the process holds).
fn rss_kib() -> u64 {
    // SAFETY: malloc_trim only returns free pages to the system.
    unsafe { libc::malloc_trim(0) };
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Resident KiB of the heap, of anonymous mappings (thread stacks, large allocations) and of
/// the rest (code, data), for tracing where RSS goes.
fn rss_by_mapping() -> String {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let (mut heap, mut anon, mut other, mut current) = (0u64, 0u64, 0u64, 2);
    for line in smaps.lines() {
        if let Some(kib) = line.strip_prefix("Rss:") {
            let kib: u64 = kib
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            match current {
                0 => heap += kib,
                1 => anon += kib,
                _ => other += kib,
            }
        } else if line.contains('-') && !line.contains(':') || line.split_whitespace().count() >= 5
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 5 && fields[0].contains('-') {
                current = match fields.get(5) {
                    Some(&"[heap]") => 0,
                    None => 1,
                    Some(_) => 2,
                };
            }
        }
    }
    format!("heap {heap}, anonymous {anon}, other {other}")
}

/// RSS while the load runs without faults: the least of ten samples over two seconds, so
/// that the replies in flight at one instant (about a megabyte, give or take) do not count as
/// growth.
fn quiet_rss() -> u64 {
    (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            rss_kib()
        })
        .min()
        .expect("samples")
}

/// The faults, in turn: each is applied for a while, then cleared.
fn inject(step: u64, server: &mut RedisServer, proxy: &FaultProxy) -> &'static str {
    match step % FAULT_KINDS {
        0 => {
            proxy.reset_all();
            "reset"
        }
        1 => {
            proxy.set(Fault::Delay(Duration::from_millis(50)));
            std::thread::sleep(Duration::from_millis(800));
            "delay 50 ms"
        }
        2 => {
            proxy.set(Fault::BlackHole);
            std::thread::sleep(TIMEOUT * 2);
            "black hole"
        }
        3 => {
            proxy.cut_next_reply();
            "cut reply"
        }
        4 => {
            proxy.set(Fault::Drip);
            std::thread::sleep(Duration::from_millis(300));
            "drip"
        }
        5 => {
            proxy.corrupt_next_reply();
            "corrupt reply"
        }
        6 => {
            proxy.set(Fault::Delay(TIMEOUT * 2));
            std::thread::sleep(TIMEOUT * 2);
            "stall past the timeout"
        }
        7 => {
            proxy.refuse_for(Duration::from_millis(700));
            proxy.reset_all();
            "refuse connections"
        }
        _ => {
            server.restart();
            "server restart"
        }
    }
}

#[test]
#[ignore = "long: run by `make soak` (10 min) and `make test` (60 s)"]
fn soak_with_faults() {
    let secs: u64 = std::env::var("REDCORE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let total = Duration::from_secs(secs);
    // One malloc arena for the 30-odd threads here (glibc makes up to 8 per core): freed
    // memory then returns to the system instead of staying behind in per-thread arenas, and
    // RSS follows what the process holds rather than where its frees happened to land.
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    // The warm-up: at least three rounds of every fault, and a quarter of the run.
    let warm_up_rounds = (secs / 4 / 13).max(3);
    let mut server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let config = Config {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: proxy.port(),
        },
        command_timeout: Some(TIMEOUT),
        connect_timeout: Some(Duration::from_secs(2)),
        connections_per_node: 2,
        max_direct_connections_per_node: 4,
        max_dedicated_connections: 4,
        reactor_threads: 2,
        ..Config::default()
    };
    let client = Client::new(config).expect("connects");
    let tally = Arc::new(Tally::default());
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (rss_warm, rss_end, callbacks, faults) =
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..WORKERS)
                .map(|w| {
                    let (client, stop, tally) = (&client, &stop, &tally);
                    s.spawn(move || {
                        let mut seq = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            seq += 2;
                            let began = Instant::now();
                            tally.count(&blocking_op(client, w, seq));
                            // No call hangs: its timeout (and a pool wait) plus a wide margin.
                            assert!(began.elapsed() < Duration::from_secs(10), "a call hung");
                        }
                        seq
                    })
                })
                .collect();
            let window = {
                let (client, stop, tally) = (&client, &stop, &tally);
                s.spawn(move || async_window(client, stop, tally))
            };
            // Warm-up: rounds of every fault (the buffers and connections they make the client
            // grow are part of its steady state), then a quiet while, then the baseline.
            // After that, faults in turn, a quiet second after each.
            let mut faults: BTreeMap<&str, u32> = BTreeMap::new();
            let mut step = 0;
            let mut rss_warm = None;
            while start.elapsed() + QUIET < total {
                if step == FAULT_KINDS * warm_up_rounds && rss_warm.is_none() {
                    std::thread::sleep(QUIET);
                    rss_warm = Some(quiet_rss());
                }
                if step % FAULT_KINDS == 0 && std::env::var_os("REDCORE_SOAK_TRACE").is_some() {
                    // SAFETY: mallinfo2 only reads the allocator's counters.
                    let heap = unsafe { libc::mallinfo2() };
                    println!(
                    "soak: {:?} step {step}: RSS {} KiB ({}), heap in use {} KiB, arenas {} KiB, \
                     threads {}",
                    start.elapsed(),
                    rss_kib(),
                    rss_by_mapping(),
                    (heap.uordblks + heap.hblkhd) / 1024,
                    heap.arena / 1024,
                    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
                );
                }
                let name = inject(step, &mut server, &proxy);
                proxy.set(Fault::None);
                *faults.entry(name).or_default() += 1;
                step += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            let rss_warm = rss_warm.expect("the soak is too short for its warm-up round of faults");
            // The last seconds run clean, so the end is measured as the warm-up was: under load,
            // a quiet while after the last fault.
            while start.elapsed() < total {
                std::thread::sleep(Duration::from_millis(100));
            }
            let rss_end = quiet_rss();
            stop.store(true, Ordering::Relaxed);
            for worker in workers {
                worker.join().expect("a worker failed");
            }
            let callbacks = window.join().expect("the callback window failed");
            (rss_warm, rss_end, callbacks, faults)
        });
    let errors = lock(&tally.errors).clone();
    let ok = tally.ok.load(Ordering::Relaxed);
    println!(
        "soak: {secs} s, {ok} operations succeeded, {callbacks} callbacks (each ran once), \
         errors by kind {errors:?}, faults injected {faults:?}, RSS {rss_warm} KiB after \
         warm-up, {rss_end} KiB at the end"
    );
    assert!(ok > 0);
    // The client recovered from the last fault by itself.
    let p = payload(0, u64::MAX);
    assert_eq!(
        client
            .command(&["ECHO", p.as_str()])
            .expect("recovered")
            .to_value(),
        Value::bulk(&p)
    );
    // Within 10% of the warm-up's RSS, or 2 MiB for the 60 s run of `make test`: its warm-up
    // point has read 12.8 to 14.2 MiB in CI runs that all ended at 14.0 to 14.6 MiB (the
    // allocator's plateau, not growth), while a leak of even one byte per operation would add
    // about 4.7 MiB in that run. The 10-minute `make soak` holds the 10%.
    let allowed = if secs >= 120 {
        rss_warm / 10
    } else {
        (rss_warm / 10).max(2048)
    };
    assert!(
        rss_end <= rss_warm + allowed,
        "RSS grew from {rss_warm} KiB after warm-up to {rss_end} KiB"
    );
}
