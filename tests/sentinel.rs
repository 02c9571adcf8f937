//! A sentinel client against a real master, two replicas and three `redis-sentinel`
//! processes that the harness starts: discovery, reads spread over the replicas, failover
//! under load (`SENTINEL FAILOVER`, `kill -9` of the master, a paused master coming back),
//! every acknowledged write kept, the sentinels down, one sentinel down, a sentinel password
//! and data nodes with ACL users. Recovery times are printed.
//!
//! Tests that change nothing share one topology (`RedisSentinel::shared`); the others start
//! their own.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redcore::client::{Client, Pipeline};
use redcore::config::{CacheOptions, Config, Protocol};
use redcore::pubsub::{Event, PubSub, PubSubOptions};
use redcore::resp::Value;
use redcore::ErrorKind;
use support::sentinel::{RedisSentinel, APP, SERVICE};

fn config(topology: &RedisSentinel, query: &str) -> Config {
    let mut config = Config::from_url(&topology.url(query)).expect("the harness's URL parses");
    config.command_timeout = Some(Duration::from_secs(10));
    config
}

fn client(topology: &RedisSentinel, query: &str) -> Client {
    Client::new(config(topology, query)).expect("the sentinel client starts")
}

fn text(reply: &redcore::resp::Reply) -> String {
    reply.value().as_str().unwrap_or_default().to_string()
}

/// A prefix no other test of this binary uses.
fn prefix(test: &str) -> String {
    format!("{test}:{}", std::process::id())
}

/// The node a client's commands reach, by the port it reports.
fn served_by(c: &Client) -> u16 {
    let info = c.command(&["INFO", "server"]).expect("INFO server");
    let info = text(&info);
    info.lines()
        .find_map(|l| l.strip_prefix("tcp_port:"))
        .and_then(|p| p.trim().parse().ok())
        .expect("tcp_port in INFO server")
}

/// Waits until `check` holds, up to `limit`.
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn discovers_the_master_and_writes_there() {
    let topology = RedisSentinel::shared();
    let c = client(topology, "");
    let master = topology.master_port();
    assert_eq!(served_by(&c), master);
    let key = format!("{}:k", prefix("discover"));
    c.command(&["SET", &key, "v"]).expect("SET");
    let got = topology
        .data_cmd(master, &["GET", &key])
        .expect("GET on the master");
    assert_eq!(got, Value::bulk("v"));
    // The ROLE check passed: the connection is to the master.
    let role = c.command(&["ROLE"]).expect("ROLE");
    assert_eq!(role.value().get(0).and_then(|v| v.as_str()), Some("master"));
    let stats = c.sentinel_stats().expect("a sentinel client");
    assert!(stats.discoveries >= 1, "{stats:?}");
    assert_eq!(stats.sentinels, 3, "{stats:?}");
    // Subscribed to the three sentinels' events.
    wait_until(Duration::from_secs(10), "subscriptions", || {
        c.sentinel_stats().unwrap().subscribed == 3
    });
}

/// With several connections to the master, cacheable reads go on its tracking connection
/// (the first), whose replies fill the cache: each key misses once, async or blocking.
#[test]
fn cached_reads_go_on_the_tracking_connection() {
    let topology = RedisSentinel::shared();
    let mut config = config(topology, "");
    config.cache = Some(CacheOptions::default());
    config.connections_per_node = 3;
    let c = Client::new(config).expect("the sentinel client starts");
    let keys: Vec<String> = (0..5)
        .map(|i| format!("{}:k{i}", prefix("cached")))
        .collect();
    for key in &keys {
        c.command(&["SET", key, "v"]).unwrap();
    }
    for i in 0..100 {
        let key = &keys[i % keys.len()];
        if i % 2 == 0 {
            c.command(&["GET", key]).unwrap();
        } else {
            let (tx, rx) = std::sync::mpsc::channel();
            c.submit(&["GET", key], move |r| tx.send(r.is_ok()).unwrap())
                .unwrap();
            assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
        }
    }
    let stats = c.cache_stats().unwrap();
    assert_eq!(
        (stats.misses, stats.hits),
        (5, 95),
        "each key misses once: {stats:?}"
    );
}

#[test]
fn replica_clients_spread_reads_over_the_replicas() {
    let topology = RedisSentinel::shared();
    let writer = client(topology, "");
    let key = format!("{}:k", prefix("replica"));
    writer.command(&["SET", &key, "v"]).expect("SET");
    writer.command(&["WAIT", "2", "5000"]).expect("WAIT");
    let reader = client(topology, "?role=replica");
    let replicas = topology.replica_ports();
    assert_eq!(replicas.len(), 2);
    let mut seen: HashMap<u16, usize> = HashMap::new();
    for _ in 0..40 {
        *seen.entry(served_by(&reader)).or_default() += 1;
    }
    let got = reader.command(&["GET", &key]).expect("GET on a replica");
    assert_eq!(text(&got), "v");
    let mut ports: Vec<u16> = seen.keys().copied().collect();
    ports.sort_unstable();
    let mut want = replicas.clone();
    want.sort_unstable();
    assert_eq!(ports, want, "reads went to {seen:?}");
    assert!(seen.values().all(|&n| n >= 10), "round robin: {seen:?}");
    // A write to a read client fails as the replica says.
    let err = reader.command(&["SET", &key, "x"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReadOnly, "{err}");
}

/// After a failover the sentinels list the old master among the replicas at once, but it
/// goes on saying it is a master (and takes no writes) until they convert it, about 10 s
/// later: a replica client must not read from it meanwhile (its reads would go back in
/// time), and takes it back once it reports itself a replica.
#[test]
fn a_replica_client_skips_the_old_master_until_it_is_a_replica() {
    let topology = RedisSentinel::start();
    let reader = client(&topology, "?role=replica");
    wait_listening(&reader);
    let old = topology.master_port();
    topology.failover();
    let new = topology.wait_new_master(old);
    let switched = Instant::now();
    let mut reads = 0;
    let converted = loop {
        let port = served_by(&reader);
        reads += 1;
        let role = topology.role_of(old);
        if port == old {
            assert_eq!(
                role.as_deref(),
                Some("slave"),
                "read #{reads} went to the old master {old} while it still said it was a \
                 master, {:?} after the switch to {new}",
                switched.elapsed()
            );
        }
        if role.as_deref() == Some("slave") {
            break switched.elapsed();
        }
        assert!(
            switched.elapsed() < Duration::from_secs(30),
            "{old} was never converted"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Reported a replica now: the sentinels' +role-change brings it back into the reads.
    wait_until(Duration::from_secs(20), "reads on the old master", || {
        served_by(&reader) == old
    });
    println!(
        "failover {old} -> {new}: {reads} reads kept off {old} until it was converted \
         {converted:?} after the switch; back in the reads {:?} after the switch",
        switched.elapsed()
    );
}

/// A master that turns itself into a replica (FAILOVER) drops the clients blocked on it with
/// `UNBLOCKED ... instance state changed`. A WAIT among them waited for the writes before it
/// on its own connection: sent again alone to a new master it would confirm nothing, so it
/// fails with that error (a command blocked on keys would go on at the new master).
#[test]
fn a_wait_dropped_by_a_demoted_master_fails_rather_than_confirm_nothing() {
    let topology = RedisSentinel::start();
    let c = client(&topology, "");
    let old = topology.master_port();
    let wanted = (topology.replica_ports().len() + 1).to_string();
    let mut p = Pipeline::new();
    p.add(&["SET", "demoted:k", "v"]).unwrap();
    p.add(&["WAIT", &wanted, "5000"]).unwrap();
    let demoter = {
        let started = Instant::now();
        let info = move |t: &RedisSentinel| match t.data_cmd(old, &["INFO", "clients"]) {
            Ok(Value::Bulk(b)) => String::from_utf8_lossy(&b).contains("blocked_clients:1"),
            _ => false,
        };
        std::thread::scope(|scope| {
            let run = scope.spawn(|| c.run_pipeline(&p));
            while !info(&topology) {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "WAIT never blocked"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            let reply = topology.data_cmd(old, &["FAILOVER"]).expect("FAILOVER");
            assert_eq!(reply, Value::simple("OK"), "FAILOVER");
            run.join().unwrap()
        })
    };
    let results = demoter.expect("the pipeline runs");
    assert!(results.get(0).unwrap().is_ok(), "the SET");
    match results.get(1).unwrap() {
        Err(e) => assert!(e.message().starts_with("UNBLOCKED"), "{e}"),
        Ok(v) => panic!("a WAIT dropped by the demotion confirmed {v:?}"),
    }
}

#[test]
fn a_replica_that_goes_down_is_skipped_until_it_is_back() {
    let topology = RedisSentinel::start();
    let reader = client(&topology, "?role=replica");
    let replicas = topology.replica_ports();
    let (down, up) = (replicas[0], replicas[1]);
    topology.kill_data(down);
    let killed = Instant::now();
    // The read on the wire when it died may fail; then every read goes to the other one.
    let mut failed = 0;
    let mut in_a_row = 0;
    while in_a_row < 50 {
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "reads did not settle on {up}"
        );
        match reader.command(&["INFO", "server"]) {
            Ok(_) => in_a_row += 1,
            Err(_) => {
                failed += 1;
                in_a_row = 0;
            }
        }
    }
    // The sentinels flag it down: it leaves the client's replicas, and stays out while down.
    topology.poll(
        "the sentinels to flag the replica down",
        || match topology.replica_flags(down) {
            Some(flags) if flags.contains("s_down") => Ok(()),
            other => Err(format!("flags {other:?}")),
        },
    );
    for _ in 0..20 {
        assert_eq!(served_by(&reader), up);
    }
    topology.restart_data(down);
    let back = Instant::now();
    wait_until(Duration::from_secs(30), "reads on the replica back", || {
        served_by(&reader) == down
    });
    println!(
        "a replica down: {failed} reads failed, the others went to {up}; after the sentinels \
         had flagged it down, back in the reads {:?} after its restart",
        back.elapsed()
    );
}

#[test]
fn no_healthy_replica_is_replica_not_found_unless_falling_back_to_the_master() {
    let topology = RedisSentinel::builder().replicas(0).start();
    let err = Client::new(config(&topology, "?role=replica"))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::ReplicaNotFound, "{err}");
    assert!(err.message().contains("the sentinels list none"), "{err}");
    let c = client(&topology, "?role=replica&replica_fallback=true");
    assert_eq!(served_by(&c), topology.master_port());
    c.command(&["SET", "fallback", "ok"])
        .expect("the master takes writes");
}

#[test]
fn no_sentinel_reachable_is_master_not_found_within_the_connect_timeout() {
    let ports: Vec<u16> = (0..3).map(|_| support::free_port()).collect();
    let url = format!(
        "redis+sentinel://127.0.0.1:{},127.0.0.1:{},127.0.0.1:{}/{SERVICE}?connect_timeout=2s",
        ports[0], ports[1], ports[2]
    );
    let started = Instant::now();
    let err = Client::new(Config::from_url(&url).unwrap())
        .err()
        .expect("no client without sentinels");
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::MasterNotFound, "{err}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    for port in ports {
        assert!(
            err.message().contains(&format!("127.0.0.1:{port}")),
            "{err} names every sentinel"
        );
    }
    println!("all sentinels down: MASTER_NOT_FOUND after {took:?}: {err}");
}

#[test]
fn an_unknown_service_is_master_not_found_saying_what_sentinels_said() {
    let topology = RedisSentinel::shared();
    let url = topology
        .url("")
        .replace(&format!("/{SERVICE}"), "/nosuchservice");
    let err = Client::new(Config::from_url(&url).unwrap()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::MasterNotFound, "{err}");
    assert!(err.message().contains("No such master"), "{err}");
}

#[test]
fn one_sentinel_down_is_tolerated() {
    let topology = RedisSentinel::start();
    let down = topology.sentinel_ports()[0];
    topology.kill_sentinel(down);
    let c = client(&topology, "");
    assert_eq!(served_by(&c), topology.master_port());
    c.command(&["SET", "one-down", "ok"]).expect("SET");
    let stats = c.sentinel_stats().unwrap();
    assert_eq!(stats.sentinels, 3, "{stats:?}");
    // Quorum 2: the two that answer agree.
    let mut strict = config(&topology, "?quorum=2");
    strict.lazy_connect = false;
    let c2 = Client::new(strict).expect("two of three agree");
    c2.command(&["GET", "one-down"]).expect("GET");
    // Quorum 3 cannot be met.
    let err = Client::new(config(&topology, "?quorum=3")).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::MasterNotFound, "{err}");
    assert!(err.message().contains("3 sentinels must agree"), "{err}");
    // The sentinel comes back and is subscribed to again.
    topology.restart_sentinel(down);
    wait_until(Duration::from_secs(10), "the sentinel back", || {
        c.sentinel_stats().unwrap().subscribed == 3
    });
}

#[test]
fn sentinel_password_and_data_acl_users() {
    let topology = RedisSentinel::builder()
        .sentinel_password("sentinel-secret")
        .data_acl()
        .start();
    let base = |query: &str| {
        let url = topology.url(query).replace(
            "redis+sentinel://",
            &format!("redis+sentinel://{}:{}@", APP.0, APP.1),
        );
        Config::from_url(&url).unwrap()
    };
    // Both passwords right: the sentinels' password never goes to the data nodes, nor the
    // other way round.
    let c = Client::new(base("?sentinel_password=sentinel-secret")).expect("client");
    let who = c.command(&["ACL", "WHOAMI"]).expect("ACL WHOAMI");
    assert_eq!(text(&who), APP.0);
    c.command(&["SET", "acl", "ok"]).expect("SET");
    // No sentinel password: the sentinels refuse, so no master is found.
    let err = Client::new(base("")).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::MasterNotFound, "{err}");
    assert!(
        err.message().contains("NOAUTH") || err.message().contains("password"),
        "{err}"
    );
    // A wrong data password: the master is found, but it refuses us.
    let mut wrong = base("?sentinel_password=sentinel-secret");
    wrong.password = Some(redcore::config::Secret::new("nope"));
    let err = Client::new(wrong).err().unwrap();
    assert!(err.kind().is(ErrorKind::Authentication), "{err}");
}

/// One RPUSH of a writer: its number, whether it was acknowledged, and how long it took.
#[derive(Clone, Copy, Debug)]
struct Write {
    n: u64,
    acked: bool,
    took: Duration,
}

/// Per list, every RPUSH sent to it, in order.
type Writes = HashMap<String, Vec<Write>>;

/// A write slower than this was caught in the failover (normal ones take milliseconds).
const DISRUPTED: Duration = Duration::from_millis(500);

#[test]
fn sentinels_over_tls_with_plain_data_nodes() {
    let topology = RedisSentinel::builder().sentinel_tls().start();
    let hosts: Vec<String> = topology
        .sentinel_tls_ports()
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let ca = topology.sentinel_ca();
    let url = |tls: &str| {
        format!(
            "redis+sentinel://{}/{SERVICE}?connect_timeout=2s{tls}&tls_ca_file={}",
            hosts.join(","),
            ca.display()
        )
    };
    // TLS to the sentinels only: the data nodes are plain.
    let c = Client::new(Config::from_url(&url("&sentinel_tls=true")).unwrap()).expect("client");
    assert_eq!(served_by(&c), topology.master_port());
    c.command(&["SET", "tls", "ok"]).expect("SET");
    // Plain text to the sentinels' TLS ports finds nothing.
    let err = Client::new(Config::from_url(&url("")).unwrap())
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::MasterNotFound, "{err}");
    assert!(err.message().contains("TLS"), "{err}");
}

/// Four writer threads and what they saw: every acknowledged write, failures, and when
/// writes resumed on a new master.
struct Writers {
    stop: Arc<AtomicBool>,
    writes: Arc<Mutex<Writes>>,
    failures: Arc<AtomicU64>,
    successes: Arc<AtomicU64>,
    /// The first write acknowledged among those sent after the client switched to the new
    /// master (its count of master changes went up).
    first_after: Arc<Mutex<Option<Instant>>>,
    errors: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Writers {
    /// Four threads, each appending 1, 2, 3, ... to a list of its own (RPUSH): a write lost
    /// is a number missing from the list, whatever was written after it.
    fn start(c: &Arc<Client>, name: &str) -> Writers {
        let w = Writers {
            stop: Arc::new(AtomicBool::new(false)),
            writes: Arc::new(Mutex::new(HashMap::new())),
            failures: Arc::new(AtomicU64::new(0)),
            successes: Arc::new(AtomicU64::new(0)),
            first_after: Arc::new(Mutex::new(None)),
            errors: Arc::new(Mutex::new(Vec::new())),
            threads: Vec::new(),
        };
        let keys: Vec<String> = (0..4).map(|t| format!("{name}:{t}")).collect();
        let threads = (0..4)
            .map(|t| {
                let c = c.clone();
                let keys = keys.clone();
                let (stop, writes, failures, successes, first_after, errors) = (
                    w.stop.clone(),
                    w.writes.clone(),
                    w.failures.clone(),
                    w.successes.clone(),
                    w.first_after.clone(),
                    w.errors.clone(),
                );
                std::thread::spawn(move || {
                    let mut n: u64 = 0;
                    while !stop.load(Ordering::SeqCst) && n < 10_000_000 {
                        n += 1;
                        let key = &keys[t];
                        let sent_after = c.sentinel_stats().unwrap().master_changes > 0;
                        let sent = Instant::now();
                        let result = c.command(&["RPUSH", key, &n.to_string()]);
                        let write = Write {
                            n,
                            acked: result.is_ok(),
                            took: sent.elapsed(),
                        };
                        let mut all = writes.lock().unwrap();
                        all.entry(key.clone()).or_default().push(write);
                        drop(all);
                        match result {
                            Ok(_) => {
                                successes.fetch_add(1, Ordering::SeqCst);
                                if sent_after {
                                    first_after.lock().unwrap().get_or_insert_with(Instant::now);
                                }
                            }
                            Err(e) => {
                                if failures.fetch_add(1, Ordering::SeqCst) < 20 {
                                    errors.lock().unwrap().push(format!("{:?}: {e}", e.kind()));
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Writers { threads, ..w }
    }

    /// When the first write sent to the new master was acknowledged.
    fn resumed_at(&self, limit: Duration) -> Instant {
        wait_until(limit, "a write acknowledged by the new master", || {
            self.first_after.lock().unwrap().is_some()
        });
        self.first_after.lock().unwrap().unwrap()
    }

    /// Waits for writes to succeed `n` more times.
    fn wait_progress(&self, n: u64, limit: Duration) {
        let start = self.successes.load(Ordering::SeqCst);
        wait_until(limit, "writes to go on", || {
            self.successes.load(Ordering::SeqCst) >= start + n
        });
    }

    /// Stops the writers; returns every write they sent.
    fn stop(mut self) -> (Writes, u64, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        let acked = self.writes.lock().unwrap().clone();
        let errors = self.errors.lock().unwrap().clone();
        (acked, self.failures.load(Ordering::SeqCst), errors)
    }
}

/// How strictly `check_acknowledged` counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// Every acknowledged write must be there.
    None,
    /// The master died (or froze) at a point of its event loop of the test's choosing: Redis
    /// replicates asynchronously, and within one turn of its loop it may send a client its
    /// reply before it sends the replicas the write, so the last write each writer had
    /// acknowledged before the outage (its first write that failed or waited) may be
    /// missing. Nothing else may.
    LastBeforeTheOutage,
}

/// Every acknowledged write is on `master` (each list holds every number acknowledged for
/// it), but for what `allowed` lets go. Returns how many writes were checked and the numbers
/// missing.
fn check_acknowledged(
    topology: &RedisSentinel,
    master: u16,
    writes: &Writes,
    allowed: Lost,
) -> (usize, Vec<String>) {
    let mut lost = Vec::new();
    let mut excused = Vec::new();
    let mut checked = 0;
    for (key, sent) in writes {
        let got = topology
            .data_cmd(master, &["LRANGE", key, "0", "-1"])
            .expect("LRANGE");
        let Value::Array(items) = got else {
            panic!("LRANGE {key}: {got:?}")
        };
        let there: std::collections::HashSet<u64> = items
            .iter()
            .filter_map(|v| match v {
                Value::Bulk(b) => String::from_utf8_lossy(b).parse().ok(),
                _ => None,
            })
            .collect();
        // The last write the old master acknowledged to this writer before the outage.
        let outage = sent
            .iter()
            .position(|w| !w.acked || w.took > DISRUPTED)
            .unwrap_or(sent.len());
        let last_old = match allowed {
            Lost::None => None,
            Lost::LastBeforeTheOutage => sent[..outage].iter().rev().find(|w| w.acked),
        }
        .map(|w| w.n);
        for n in sent.iter().filter(|w| w.acked).map(|w| &w.n) {
            checked += 1;
            if there.contains(n) {
                continue;
            }
            if Some(*n) == last_old {
                excused.push(format!("{key}: {n}"));
            } else {
                lost.push(format!("{key}: {n}"));
            }
        }
    }
    assert!(
        lost.is_empty(),
        "{} acknowledged writes are not on {master}: {:?} (and {excused:?}, the last the old \
         master acknowledged to their writers)",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    (checked, excused)
}

/// Waits until the client listens to all three sentinels (the failover's first steps are
/// published only by the sentinel leading it).
fn wait_listening(c: &Client) {
    wait_until(Duration::from_secs(10), "subscriptions", || {
        c.sentinel_stats().unwrap().subscribed == 3
    });
}

/// A failover under load: four writers on `c`, then `act` breaks the master (and returns
/// when it did); returns once the sentinels named a new master and writes resumed there,
/// with the writers still running.
struct Failover {
    old: u16,
    new: u16,
    /// From `act` to the first write acknowledged by the new master.
    recovery: Duration,
    writers: Writers,
}

fn fail_over_under_load(
    topology: &RedisSentinel,
    c: &Arc<Client>,
    name: &str,
    act: impl FnOnce(u16) -> Instant,
) -> Failover {
    wait_listening(c);
    let old = topology.master_port();
    let writers = Writers::start(c, &prefix(name));
    writers.wait_progress(500, Duration::from_secs(10));
    let at = act(old);
    let new = topology.wait_new_master(old);
    let resumed = writers.resumed_at(Duration::from_secs(20));
    writers.wait_progress(300, Duration::from_secs(10));
    assert_eq!(served_by(c), new);
    Failover {
        old,
        new,
        recovery: resumed - at,
        writers,
    }
}

/// A raw callback recording its outcome's error (or "ok") in the `Arc<Mutex<Vec<String>>>`
/// whose pointer ctx[0] holds (taken back here: it runs once).
fn record_raw(ctx: [usize; 2], result: redcore::Result<redcore::resp::Reply>) {
    // SAFETY: ctx[0] came from Arc::into_raw of this type, and the callback runs once.
    let held = unsafe { Arc::from_raw(ctx[0] as *const Mutex<Vec<String>>) };
    let outcome = match result {
        Ok(_) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    held.lock().unwrap().push(outcome);
}

#[test]
fn sentinel_failover_under_load_loses_no_acknowledged_write() {
    let topology = RedisSentinel::start();
    let c = Arc::new(client(&topology, ""));
    let held: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let f = fail_over_under_load(&topology, &c, "failover", |_| {
        let at = topology.failover();
        wait_until(Duration::from_secs(5), "the writes to be held", || {
            c.sentinel_stats().unwrap().holds >= 1
        });
        // A transaction, a pipeline and a blocking command while the writes are held: they
        // wait, and go to the new master.
        for transaction in [true, false] {
            let mut p = if transaction {
                Pipeline::transaction()
            } else {
                Pipeline::new()
            };
            let key = format!("held:{transaction}");
            p.add(&["SET", &key, "1"]).unwrap();
            p.add(&["INCR", &key]).unwrap();
            let held = held.clone();
            c.submit_pipeline(&p, move |result| {
                let outcome = match result.first_error() {
                    Some(e) => format!("{key}: {e}"),
                    None => format!("{key}: ok"),
                };
                held.lock().unwrap().push(outcome);
            })
            .expect("pipeline submitted");
        }
        // One more, cancelled while held: it never reaches a master.
        let cancelled = held.clone();
        let ctx = [Arc::into_raw(cancelled) as usize, 0];
        c.submit_raw(&["BLPOP", "held:cancelled", "0"], record_raw, ctx)
            .expect("BLPOP submitted");
        assert_eq!(c.cancel_raw(record_raw, ctx).unwrap(), 1, "the held BLPOP");
        let blocking = held.clone();
        c.submit(&["BLPOP", "held:list", "0.2"], move |result| {
            let outcome = match result {
                Ok(_) => "BLPOP: ok".to_string(),
                Err(e) => format!("BLPOP: {e}"),
            };
            blocking.lock().unwrap().push(outcome);
        })
        .expect("BLPOP submitted");
        at
    });
    wait_until(Duration::from_secs(5), "the held requests", || {
        held.lock().unwrap().len() == 4
    });
    let mut outcomes = held.lock().unwrap().clone();
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![
            "BLPOP: ok",
            "CANCELLED: the command was cancelled",
            "held:false: ok",
            "held:true: ok"
        ],
        "held requests"
    );
    topology
        .data_cmd(f.new, &["RPUSH", "held:cancelled", "kept"])
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        topology
            .data_cmd(f.new, &["LLEN", "held:cancelled"])
            .unwrap(),
        Value::Integer(1),
        "the cancelled BLPOP never ran"
    );
    for key in ["held:false", "held:true"] {
        let got = topology.data_cmd(f.new, &["GET", key]).unwrap();
        assert_eq!(got, Value::bulk("2"), "{key} on the new master");
    }
    let (acked, failures, errors) = f.writers.stop();
    let (checked, _) = check_acknowledged(&topology, f.new, &acked, Lost::None);
    let stats = c.sentinel_stats().unwrap();
    assert!(
        stats.holds >= 1,
        "the failover's first step held the writes: {stats:?}"
    );
    println!(
        "SENTINEL FAILOVER under load: {} -> {}; first write acknowledged by the new master \
         {:?} after the command; {failures} writes failed meanwhile {errors:?}; all {checked} \
         acknowledged writes found; {stats:?}",
        f.old, f.new, f.recovery,
    );
}

#[test]
fn killed_master_under_load_loses_only_the_unreplicated_last_writes() {
    let topology = RedisSentinel::start();
    let c = Arc::new(client(&topology, ""));
    let f = fail_over_under_load(&topology, &c, "kill", |old| {
        topology.kill_data(old);
        Instant::now()
    });
    let (acked, failures, errors) = f.writers.stop();
    let allowed = Lost::LastBeforeTheOutage;
    let (checked, excused) = check_acknowledged(&topology, f.new, &acked, allowed);
    let stats = c.sentinel_stats().unwrap();
    println!(
        "kill -9 of the master under load: {} -> {}; first write acknowledged by the new \
         master {:?} after the kill; {failures} writes failed meanwhile {errors:?}; \
         {checked} acknowledged writes checked; missing, acknowledged by the master in its \
         last instant and never replicated: {excused:?}; {stats:?}",
        f.old, f.new, f.recovery,
    );
}

#[test]
fn killed_master_with_replicated_writes_loses_no_acknowledged_write() {
    let topology = RedisSentinel::start();
    // Each write is acknowledged once a replica has it (WAIT 1): the sentinels promote the
    // replica furthest along, which has every write either replica confirmed.
    let c = Arc::new(client(&topology, "?wait_replicas=1&wait_timeout=200ms"));
    let f = fail_over_under_load(&topology, &c, "kill-replicated", |old| {
        topology.kill_data(old);
        Instant::now()
    });
    let (acked, failures, errors) = f.writers.stop();
    let (checked, _) = check_acknowledged(&topology, f.new, &acked, Lost::None);
    let stats = c.sentinel_stats().unwrap();
    println!(
        "kill -9 of the master under load, writes acknowledged once a replica has them: {} \
         -> {}; first write acknowledged by the new master {:?} after the kill; {failures} \
         writes failed meanwhile {errors:?}; all {checked} acknowledged writes found; \
         {stats:?}",
        f.old, f.new, f.recovery,
    );
}

/// `cmdstat_rpush`'s calls on a node (the writers' command).
fn write_calls(topology: &RedisSentinel, port: u16) -> u64 {
    let info = topology
        .data_cmd(port, &["INFO", "commandstats"])
        .expect("INFO commandstats");
    let Value::Bulk(info) = info else {
        panic!("INFO: {info:?}")
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_rpush:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_paused_master_that_comes_back_is_not_written_to() {
    let topology = RedisSentinel::start();
    let mut config = config(&topology, "");
    config.client_name = Some("paused-test".into());
    let c = Arc::new(Client::new(config).expect("client"));
    let f = fail_over_under_load(&topology, &c, "paused", |old| {
        topology.pause_data(old);
        Instant::now()
    });
    topology.resume_data(f.old);
    let back = Instant::now();
    // What was in its socket buffers when it froze, it runs as it wakes up: let it.
    std::thread::sleep(Duration::from_millis(300));
    let before = write_calls(&topology, f.old);
    f.writers.wait_progress(1000, Duration::from_secs(10));
    let after = write_calls(&topology, f.old);
    assert_eq!(
        before,
        after,
        "the old master ran writes after it came back ({:?} after SIGCONT)",
        back.elapsed()
    );
    let clients = topology
        .data_cmd(f.old, &["CLIENT", "LIST"])
        .expect("CLIENT LIST");
    let Value::Bulk(clients) = clients else {
        panic!("CLIENT LIST: {clients:?}")
    };
    assert!(
        !String::from_utf8_lossy(&clients).contains("name=paused-test"),
        "a connection to the old master remains"
    );
    let (acked, failures, errors) = f.writers.stop();
    let allowed = Lost::LastBeforeTheOutage;
    let (checked, excused) = check_acknowledged(&topology, f.new, &acked, allowed);
    // Those missing are on the old master (while it still is one): it ran and acknowledged
    // them, and its replicas never got them.
    if topology.role_of(f.old).as_deref() == Some("master") {
        for missing in &excused {
            let (key, n) = missing.rsplit_once(": ").expect("key: n");
            let list = topology
                .data_cmd(f.old, &["LRANGE", key, "0", "-1"])
                .unwrap();
            assert!(
                matches!(&list, Value::Array(items) if items.contains(&Value::bulk(n))),
                "{missing} is not on the old master either"
            );
        }
    }
    println!(
        "paused master (SIGSTOP): {} -> {}; first write acknowledged by the new master {:?} \
         after the pause; {failures} failed meanwhile {errors:?}; {checked} acknowledged \
         writes checked, missing (acknowledged by the master as it froze, never replicated): \
         {excused:?}; none reached the old master after it came back ({after} RPUSH calls \
         there, unchanged)",
        f.old, f.new, f.recovery,
    );
}

/// The next pub/sub event within `limit`, skipping none.
fn next_event(sub: &PubSub, limit: Duration) -> Event {
    sub.get_message(Some(limit))
        .expect("get_message")
        .unwrap_or_else(|| panic!("no pub/sub event within {limit:?}"))
}

#[test]
fn subscribers_and_the_cache_follow_a_failover() {
    let topology = RedisSentinel::start();
    let mut config = config(&topology, "");
    config.protocol = Protocol::Resp3;
    config.cache = Some(CacheOptions::default());
    let c = Client::new(config).expect("the sentinel client starts");
    wait_listening(&c);
    let sub = PubSub::new(&c, PubSubOptions::default()).expect("subscriber");
    sub.subscribe(&["failover:news"]).expect("SUBSCRIBE");
    sub.ssubscribe(&["failover:shard"]).expect("SSUBSCRIBE");
    for (publish, channel) in [("PUBLISH", "failover:news"), ("SPUBLISH", "failover:shard")] {
        c.command(&[publish, channel, "before"]).unwrap();
        match next_event(&sub, Duration::from_secs(5)) {
            Event::Message(m) => assert_eq!(m.payload(), b"before"),
            other => panic!("expected the first message on {channel}, got {other:?}"),
        }
    }
    c.command(&["SET", "failover:cached", "v1"]).unwrap();
    for _ in 0..2 {
        assert_eq!(text(&c.command(&["GET", "failover:cached"]).unwrap()), "v1");
    }
    let before = c.cache_stats().unwrap();
    assert!(before.hits >= 1 && before.entries >= 1, "{before:?}");

    let old = topology.master_port();
    topology.failover();
    let new = topology.wait_new_master(old);
    wait_until(
        Duration::from_secs(20),
        "the client to write to the new master",
        || c.command(&["SET", "failover:probe", "1"]).is_ok() && served_by(&c) == new,
    );
    wait_until(Duration::from_secs(5), "the cache to be emptied", || {
        c.cache_stats().unwrap().flushes > before.flushes
    });
    // The subscriber moved to the new master by itself and said messages may have been lost.
    match next_event(&sub, Duration::from_secs(10)) {
        Event::Resubscribed { cause, failed } => {
            assert!(failed.is_none(), "restoring failed: {failed:?} ({cause})")
        }
        other => panic!("expected the resubscription event, got {other:?}"),
    }
    // Shard channels too: off a cluster they live on the master's connection.
    for (publish, channel) in [("PUBLISH", "failover:news"), ("SPUBLISH", "failover:shard")] {
        let receivers = c.command(&[publish, channel, "after"]).unwrap();
        assert_eq!(
            receivers.value().as_integer(),
            Some(1),
            "{publish} {channel}"
        );
        match next_event(&sub, Duration::from_secs(5)) {
            Event::Message(m) => assert_eq!(m.payload(), b"after"),
            other => panic!("expected the message on {channel} after the failover, got {other:?}"),
        }
    }
    // A write on the new master is read back, not the cached value of before.
    c.command(&["SET", "failover:cached", "v2"]).unwrap();
    assert_eq!(text(&c.command(&["GET", "failover:cached"]).unwrap()), "v2");
    println!(
        "failover {old} -> {new}: subscriber moved, cache {:?}",
        c.cache_stats().unwrap()
    );
}

#[test]
fn a_replicated_batch_cut_by_a_lost_connection_is_not_acknowledged_without_its_wait() {
    let topology = RedisSentinel::start();
    let mut config = config(&topology, "?wait_replicas=1&wait_timeout=2s");
    // One request written at a time: the connection dies with the batch half sent.
    config.max_in_flight_per_connection = 1;
    let c = Client::new(config).expect("client");
    c.command(&["PING"]).unwrap();
    let m = topology.master_port();
    for args in [
        &["CONFIG", "SET", "slowlog-log-slower-than", "0"][..],
        &["CONFIG", "SET", "slowlog-max-len", "1000"],
        &["SLOWLOG", "RESET"],
        &["CLIENT", "PAUSE", "10000", "WRITE"],
    ] {
        topology.data_cmd(m, args).unwrap();
    }
    let keys = ["cut:a", "cut:b", "cut:c"];
    let mut p = Pipeline::new();
    for k in keys {
        p.add(&["SET", k, "1"]).unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    c.submit_pipeline(&p, move |r| {
        let oks: Vec<bool> = (0..r.len()).map(|i| r.get(i).unwrap().is_ok()).collect();
        tx.send(oks).unwrap();
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    topology
        .data_cmd(m, &["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
        .unwrap();
    topology.data_cmd(m, &["CLIENT", "UNPAUSE"]).unwrap();
    let oks = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("pipeline result");
    std::thread::sleep(Duration::from_millis(300));
    // What the master ran, oldest first (for the failure message).
    let Value::Array(log) = topology.data_cmd(m, &["SLOWLOG", "GET", "1000"]).unwrap() else {
        panic!("SLOWLOG GET")
    };
    let ran: Vec<String> = log
        .iter()
        .rev()
        .filter_map(|entry| match entry {
            Value::Array(fields) => match fields.get(3) {
                Some(Value::Array(args)) => Some(
                    args.iter()
                        .take(2)
                        .map(|a| match a {
                            Value::Bulk(b) => String::from_utf8_lossy(b).to_uppercase(),
                            _ => String::new(),
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                _ => None,
            },
            _ => None,
        })
        .collect();
    // The batch stays on its connection, whole: cut by the loss, it fails whole. (Before,
    // its unwritten writes were sent again on their own after the WAIT had been answered,
    // and acknowledged: `SET cut:c`, the WAIT, then `SET cut:b` on the master.)
    assert_eq!(
        oks,
        vec![false; keys.len()],
        "a write of the cut batch was acknowledged; the master ran {ran:?}"
    );
    println!("batch cut by a lost connection: results {oks:?}; the master ran {ran:?}");
}
