//! A cluster client against real clusters the harness starts: routing (every key read back
//! from the node that owns it), hash tags, multi-key splits and fan-outs, replica reads seen on
//! the replicas, cross-slot transactions refused, pipelines across every node, SCAN, blocking
//! commands; and the cluster changing under load: a slot resharded (ASK and MOVED), a primary
//! killed (failover), a node added.
//!
//! The read-only tests share one cluster (`RedisCluster::shared`); those that change the
//! topology start their own.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redcore::client::{Client, Pipeline};
use redcore::config::{Config, ReadFrom};
use redcore::resp::Value;
use redcore::ErrorKind;
use support::cluster::RedisCluster;
use support::keyslot::{key_in_slot, key_slot, keys_in_slot};
use support::text;

/// Tests that start a cluster of their own run one at a time: with the shared cluster that
/// makes at most 12 servers at once, which 2 cores handle without stretching the timings.
static OWN_CLUSTER: Mutex<()> = Mutex::new(());

fn own_cluster() -> std::sync::MutexGuard<'static, ()> {
    OWN_CLUSTER.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(cluster: &RedisCluster) -> Config {
    let mut config = Config::from_url(&cluster.url()).expect("the harness's URL parses");
    config.command_timeout = Some(Duration::from_secs(10));
    config
}

fn client(cluster: &RedisCluster) -> Client {
    Client::new(config(cluster)).expect("the cluster client starts")
}

fn value(client: &Client, args: &[&str]) -> Value {
    client
        .command(args)
        .unwrap_or_else(|e| panic!("{args:?}: {e}"))
        .to_value()
}

/// A prefix no other test of this binary uses, so tests sharing the cluster never collide.
fn prefix(test: &str) -> String {
    format!("{test}:{}", std::process::id())
}

#[test]
fn routes_ten_thousand_keys_to_the_nodes_that_own_them() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("route");
    let keys: Vec<String> = (0..10_000).map(|i| format!("{p}:{i}")).collect();
    // Async submissions: the replies come back in any order across nodes.
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    for (i, key) in keys.iter().enumerate() {
        let done = done.clone();
        let failures = failures.clone();
        let value = format!("v{i}");
        c.submit(&["SET", key, &value], move |result| {
            if let Err(e) = result {
                failures.lock().unwrap().push(e.to_string());
            }
            done.fetch_add(1, Ordering::SeqCst);
        })
        .expect("submitted");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < keys.len() {
        assert!(Instant::now() < deadline, "SETs did not all complete");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        failures.lock().unwrap().is_empty(),
        "{:?}",
        failures.lock().unwrap()
    );
    // Each key is on the node that owns its slot, read straight from that node.
    let map = cluster.slot_map();
    let mut conns = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        let owner = map
            .range_of(key_slot(key))
            .expect("slot owned")
            .primary
            .port;
        let conn = conns
            .entry(owner)
            .or_insert_with(|| cluster.node(owner).connect().expect("connect to owner"));
        let got = conn.command(&["GET", key]).expect("GET from owner");
        assert_eq!(text(&got), format!("v{i}"), "{key} on {owner}");
    }
    // And through the client, blocking.
    for (i, key) in keys.iter().enumerate().step_by(97) {
        assert_eq!(value(&c, &["GET", key]), Value::bulk(format!("v{i}")));
    }
    let stats = c.cluster_stats().expect("a cluster client has stats");
    assert_eq!(stats.moved, 0, "a fresh topology routes without MOVED");
}

#[test]
fn hash_tags_keep_keys_in_one_slot() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("tags");
    let (a, b) = (format!("{{{p}}}:a"), format!("{{{p}}}:b"));
    assert_eq!(key_slot(&a), key_slot(&b));
    // A command the server would refuse across slots works within one tag.
    value(&c, &["SADD", &a, "1", "2", "3"]);
    value(&c, &["SADD", &b, "2", "3", "4"]);
    let inter = value(&c, &["SINTER", &a, &b]);
    let mut members: Vec<String> = match inter {
        Value::Array(v) | Value::Set(v) => v.iter().map(|m| text(m).to_string()).collect(),
        other => panic!("SINTER gave {other:?}"),
    };
    members.sort();
    assert_eq!(members, ["2", "3"]);
    // Across slots, the client refuses it before sending (CROSSSLOT is the server's word).
    let other = key_in_slot((key_slot(&a) + 1) % 16384);
    let err = c.command(&["SINTER", &a, &other]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrossSlot, "{err}");
}

#[test]
fn multi_key_commands_split_per_slot_and_fan_outs_merge() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("split");
    let keys: Vec<String> = (0..40).map(|i| format!("{p}:{i}")).collect();
    let slots: HashSet<u16> = keys.iter().map(key_slot).collect();
    assert!(slots.len() > 10, "the keys span many slots");
    // MSET across slots, MGET back in the caller's order, with a missing key in the middle.
    let mut mset = vec!["MSET".to_string()];
    for (i, key) in keys.iter().enumerate() {
        mset.push(key.clone());
        mset.push(format!("m{i}"));
    }
    let mset: Vec<&str> = mset.iter().map(String::as_str).collect();
    assert_eq!(value(&c, &mset), Value::simple("OK"));
    let missing = format!("{p}:missing");
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().take(20).map(String::as_str));
    mget.push(&missing);
    mget.extend(keys.iter().skip(20).map(String::as_str));
    let Value::Array(values) = value(&c, &mget) else {
        panic!("MGET gave no array")
    };
    assert_eq!(values.len(), 41);
    for (i, v) in values.iter().enumerate() {
        match i.cmp(&20) {
            std::cmp::Ordering::Less => assert_eq!(text(v), format!("m{i}")),
            std::cmp::Ordering::Equal => assert_eq!(*v, Value::Null),
            std::cmp::Ordering::Greater => assert_eq!(text(v), format!("m{}", i - 1)),
        }
    }
    // EXISTS, TOUCH, DEL and UNLINK add up per slot.
    let mut exists = vec!["EXISTS"];
    exists.extend(keys.iter().map(String::as_str));
    exists.push(&missing);
    assert_eq!(value(&c, &exists), Value::Integer(40));
    exists[0] = "TOUCH";
    assert_eq!(value(&c, &exists), Value::Integer(40));
    let mut del = vec!["DEL"];
    del.extend(keys.iter().take(30).map(String::as_str));
    assert_eq!(value(&c, &del), Value::Integer(30));
    del[0] = "UNLINK";
    del.truncate(1);
    del.extend(keys.iter().map(String::as_str));
    assert_eq!(value(&c, &del), Value::Integer(10));
    // Fan-outs: DBSIZE is the sum of the primaries' own counts; PING answers for all.
    let primaries = cluster.primaries();
    let sum: i64 = primaries
        .iter()
        .map(|n| match cluster.node(n.port).cmd(&["DBSIZE"]) {
            redcore::resp::Value::Integer(n) => n,
            other => panic!("DBSIZE gave {other:?}"),
        })
        .sum();
    let Value::Integer(total) = value(&c, &["DBSIZE"]) else {
        panic!("DBSIZE is an integer")
    };
    // Other tests write meanwhile: the client's sum is at least what was there just before.
    assert!(total >= sum - 1000, "DBSIZE {total} against {sum}");
    assert_eq!(value(&c, &["PING"]), Value::simple("PONG"));
    // SCRIPT LOAD reaches every primary: EVALSHA then works on keys of any slot.
    let Value::Bulk(sha) = value(&c, &["SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"])
    else {
        panic!("SCRIPT LOAD gives the SHA1")
    };
    let sha = String::from_utf8(sha).unwrap();
    for slot in [0u16, 6000, 12000, 16383] {
        let key = format!("{{{}}}", key_in_slot(slot));
        value(&c, &["SET", &key, "scripted"]);
        assert_eq!(
            value(&c, &["EVALSHA", &sha, "1", &key]),
            Value::bulk("scripted")
        );
    }
    assert_eq!(
        value(
            &c,
            &[
                "SCRIPT",
                "EXISTS",
                &sha,
                "0000000000000000000000000000000000000000"
            ]
        ),
        Value::Array(vec![Value::Integer(1), Value::Integer(0)])
    );
    // KEYS concatenates every primary's matches.
    let pattern = format!("{p}:2*");
    let Value::Array(found) = value(&c, &["KEYS", &pattern]) else {
        panic!("KEYS gives an array")
    };
    let found: HashSet<String> = found.iter().map(|k| text(k).to_string()).collect();
    let expected: HashSet<String> = keys
        .iter()
        .filter(|k| k.starts_with(&format!("{p}:2")))
        .filter(|k| keys.iter().position(|x| x == *k).unwrap() >= 30)
        .cloned()
        .collect();
    assert!(
        expected.iter().all(|k| !found.contains(k)),
        "deleted keys are gone"
    );
}

#[test]
fn replica_reads_run_on_the_replicas() {
    let cluster = RedisCluster::shared();
    let mut cfg = config(cluster);
    cfg.cluster.as_mut().unwrap().read_from = ReadFrom::Replicas;
    let c = Client::new(cfg).expect("client");
    let p = prefix("replica");
    let keys: Vec<String> = (0..300).map(|i| format!("{p}:{i}")).collect();
    for key in &keys {
        value(&c, &["SET", key, "x"]);
    }
    // Writes are replicated asynchronously: wait until every replica has them.
    for primary in cluster.primaries() {
        cluster.node(primary.port).cmd_ok(&["WAIT", "1", "5000"]);
    }
    let count = |ports: &[u16], cmd: &str| -> u64 {
        ports
            .iter()
            .map(|port| cluster.commandstats(*port).get(cmd).copied().unwrap_or(0))
            .sum()
    };
    let primaries: Vec<u16> = cluster.primaries().iter().map(|n| n.port).collect();
    let replicas: Vec<u16> = cluster
        .nodes()
        .iter()
        .filter(|n| !primaries.contains(&n.port))
        .map(|n| n.port)
        .collect();
    // A replica serves once the cluster reports it synced (CLUSTER SHARDS health "online");
    // a fresh replica shows "loading" for a moment, and the client looks again within a
    // second while one does.
    let before = count(&replicas, "get");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for key in &keys {
            assert_eq!(value(&c, &["GET", key]), Value::bulk("x"));
        }
        let served = count(&replicas, "get") - before;
        if served >= keys.len() as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas ran only {served} GETs"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Writes still go to the primaries.
    value(&c, &["SET", &keys[0], "y"]);
    assert_eq!(
        text(
            &cluster
                .node(cluster.owner_of_slot(key_slot(&keys[0])))
                .cmd(&["GET", &keys[0]])
        ),
        "y"
    );
}

#[test]
fn cross_slot_transactions_are_refused_before_anything_is_sent() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("txn");
    let a = format!("{{{p}}}:a");
    let b = key_in_slot((key_slot(&a) + 100) % 16384);
    let mut txn = Pipeline::transaction();
    txn.add(&["SET", &a, "1"]).unwrap();
    txn.add(&["SET", &b, "2"]).unwrap();
    let err = c.run_pipeline(&txn).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::CrossSlotTransaction, "{err}");
    assert!(err.is(ErrorKind::ClusterException));
    assert_eq!(value(&c, &["EXISTS", &a]), Value::Integer(0), "nothing ran");
    // Within one slot, the transaction runs on that slot's primary.
    let mut txn = Pipeline::transaction();
    txn.add(&["SET", &a, "1"]).unwrap();
    txn.add(&["INCR", &a]).unwrap();
    txn.add(&["GET", &a]).unwrap();
    let result = c.run_pipeline(&txn).expect("transaction");
    assert_eq!(result.get(2).unwrap().unwrap().as_bytes(), Some(&b"2"[..]));
    // A dedicated connection is pinned to its first key's slot.
    let mut held = c.dedicated_for_key(a.as_bytes()).expect("dedicated");
    held.command(&["WATCH", &a]).expect("WATCH");
    let err = held.command(&["GET", &b]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrossSlotTransaction, "{err}");
    held.command(&["MULTI"]).unwrap();
    held.command(&["INCR", &a]).unwrap();
    let exec = held.command(&["EXEC"]).unwrap().to_value();
    assert_eq!(exec, Value::Array(vec![Value::Integer(3)]));
    held.release();
    let mut lazy = c.dedicated().expect("dedicated");
    lazy.command(&["WATCH", &b]).expect("binds to b's slot");
    assert_eq!(
        lazy.command(&["SET", &a, "x"]).unwrap_err().kind(),
        ErrorKind::CrossSlotTransaction
    );
}

#[test]
fn a_pipeline_spanning_every_node_keeps_the_callers_order() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("pipe");
    let mut pipe = Pipeline::new();
    let keys: Vec<String> = (0..600).map(|i| format!("{p}:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        pipe.add(&["SET", key, &i.to_string()]).unwrap();
        pipe.add(&["INCR", key]).unwrap();
    }
    let result = c.run_pipeline(&pipe).expect("pipeline");
    assert_eq!(result.len(), 1200);
    for i in 0..600 {
        assert_eq!(
            result.get(2 * i + 1).unwrap().unwrap().as_integer(),
            Some(i as i64 + 1)
        );
    }
    let owners: HashSet<u16> = keys
        .iter()
        .map(|k| cluster.owner_of_slot(key_slot(k)))
        .collect();
    assert_eq!(owners.len(), 3, "the pipeline reached every primary");
    // A fan-out command cannot be pipelined: refused before anything is sent.
    let mut bad = Pipeline::new();
    bad.add(&["SET", &keys[0], "z"]).unwrap();
    bad.add(&["DBSIZE"]).unwrap();
    let err = c.run_pipeline(&bad).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ClusterException, "{err}");
    assert_eq!(value(&c, &["GET", &keys[0]]), Value::bulk("1"));
}

#[test]
fn scan_walks_every_primary_with_one_cursor() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("scan");
    let keys: HashSet<String> = (0..500).map(|i| format!("{p}:{i}")).collect();
    for key in &keys {
        value(&c, &["SET", key, "s"]);
    }
    let pattern = format!("{p}:*");
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut steps = 0;
    loop {
        let reply = value(&c, &["SCAN", &cursor, "MATCH", &pattern, "COUNT", "100"]);
        let Value::Array(parts) = reply else {
            panic!("SCAN gives [cursor, keys]")
        };
        cursor = text(&parts[0]).to_string();
        if let Value::Array(found) = &parts[1] {
            seen.extend(found.iter().map(|k| text(k).to_string()));
        }
        steps += 1;
        assert!(steps < 10_000, "SCAN never ends");
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen, keys, "every key exactly as written");
}

#[test]
fn blocking_commands_go_to_their_keys_node() {
    let cluster = RedisCluster::shared();
    let c = Arc::new(client(cluster));
    let p = prefix("blpop");
    let list = format!("{{{p}}}:list");
    let popper = {
        let c = c.clone();
        let list = list.clone();
        std::thread::spawn(move || c.command(&["BLPOP", &list, "5"]).map(|r| r.to_value()))
    };
    std::thread::sleep(Duration::from_millis(200));
    value(&c, &["RPUSH", &list, "item"]);
    let popped = popper.join().unwrap().expect("BLPOP");
    assert_eq!(
        popped,
        Value::Array(vec![Value::bulk(list.as_bytes()), Value::bulk("item")])
    );
}

#[test]
fn startup_nodes_that_fail_are_skipped_and_none_reachable_fails_clearly() {
    let cluster = RedisCluster::shared();
    let dead = support::free_port();
    let url = cluster.url().replacen(
        "redis+cluster://",
        &format!("redis+cluster://127.0.0.1:{dead},"),
        1,
    );
    let c = Client::new(Config::from_url(&url).unwrap()).expect("a live node answers");
    assert_eq!(value(&c, &["PING"]), Value::simple("PONG"));
    let mut none = Config::from_url(&format!(
        "redis+cluster://127.0.0.1:{dead},127.0.0.1:{}",
        support::free_port()
    ))
    .unwrap();
    none.connect_timeout = Some(Duration::from_secs(1));
    none.retry.retries = 0;
    let started = Instant::now();
    let err = Client::new(none).err().expect("no node answers");
    assert!(err.is(ErrorKind::Connection), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// Resharding under load: a slot holding keys moves to another primary (MIGRATING /
/// IMPORTING, MIGRATE in batches, SETSLOT NODE) while 4 threads read and write keys of that
/// slot. No command may fail; the client must have met both ASK and MOVED.
#[test]
fn resharding_under_load_loses_no_command() {
    let _one_at_a_time = own_cluster();
    let cluster = RedisCluster::start_default();
    let c = Arc::new(client(&cluster));
    let slot = 4242u16;
    let keys = keys_in_slot(slot, 200);
    for key in &keys {
        value(&c, &["SET", key, "0"]);
    }
    let from = cluster.owner_of_slot(slot);
    let to = cluster
        .primaries()
        .iter()
        .map(|n| n.port)
        .find(|p| *p != from)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let counts: Arc<Vec<AtomicU64>> =
        Arc::new((0..keys.len()).map(|_| AtomicU64::new(0)).collect());
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let (c, stop, ops, failures, counts, keys) = (
                c.clone(),
                stop.clone(),
                ops.clone(),
                failures.clone(),
                counts.clone(),
                keys.clone(),
            );
            std::thread::spawn(move || {
                let mut i = t;
                // Bounded: stops when told, and after at most 200k commands.
                while !stop.load(Ordering::SeqCst) && i < 200_000 {
                    let k = i % keys.len();
                    match c.command(&["INCR", &keys[k]]) {
                        Ok(_) => {
                            counts[k].fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => failures.lock().unwrap().push(format!("INCR: {e}")),
                    }
                    if let Err(e) = c.command(&["GET", &keys[k]]) {
                        failures.lock().unwrap().push(format!("GET: {e}"));
                    }
                    ops.fetch_add(2, Ordering::SeqCst);
                    i += 4;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    cluster.migrate_slot_begin(slot, from, to);
    // A few keys at a time, with load in between: commands meet ASK for moved keys.
    loop {
        let moved = cluster.migrate_keys(slot, from, to, 10);
        std::thread::sleep(Duration::from_millis(50));
        if moved == 0 {
            break;
        }
    }
    cluster.migrate_slot_end(slot, to);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    // Every INCR that succeeded is in the counters, on the new owner.
    for (k, key) in keys.iter().enumerate() {
        let got = text(&cluster.node(to).cmd(&["GET", key]))
            .parse::<u64>()
            .unwrap();
        assert_eq!(got, counts[k].load(Ordering::SeqCst), "{key}");
    }
    let stats = c.cluster_stats().unwrap();
    println!(
        "resharding under load: {} commands, 0 failed; ASK {}, MOVED {}, TRYAGAIN {}, refreshes {}",
        ops.load(Ordering::SeqCst),
        stats.ask,
        stats.moved,
        stats.tryagain,
        stats.refreshes
    );
    assert!(stats.ask > 0, "ASK was met: {stats:?}");
    assert!(stats.moved > 0, "MOVED was met: {stats:?}");
}

/// A primary that hangs (SIGSTOP) rather than dies keeps its connections open, so only
/// timeouts tell. Its replica is promoted in about 2 s; a command timing out on it makes the
/// client ask for the topology (other nodes first), so writes to its slots go to the new
/// primary after one command timeout, not at the next periodic refresh (30 s) or whenever
/// the old process wakes (where, still a primary for a moment, it would take writes the
/// cluster then drops).
#[test]
fn a_hung_primary_is_routed_around_once_its_replica_is_promoted() {
    let _one_at_a_time = own_cluster();
    let cluster = RedisCluster::start_default();
    let mut config = config(&cluster);
    config.command_timeout = Some(Duration::from_millis(500));
    let c = Client::new(config).expect("the cluster client starts");
    let victim = cluster.primaries()[0].port;
    let slot = cluster.slot_map().slots_of(&cluster.id_of(victim))[0];
    let key = key_in_slot(slot);
    value(&c, &["SET", &key, "before"]);
    let refreshes = c.cluster_stats().unwrap().refreshes;
    cluster.pause_primary(victim);
    let paused_at = Instant::now();
    let promoted = cluster.wait_failover(victim);
    let promoted_after = paused_at.elapsed();
    let mut n = 0u32;
    let mut timeouts = 0;
    let resumed_after = loop {
        n += 1;
        match c.command(&["SET", &key, &n.to_string()]) {
            Ok(_) => break paused_at.elapsed(),
            Err(e) if e.is(ErrorKind::Timeout) => timeouts += 1,
            Err(e) => panic!("SET #{n} failed with something other than a timeout: {e}"),
        }
        assert!(
            paused_at.elapsed() < Duration::from_secs(20),
            "writes to the hung primary's slot never moved to {promoted} ({timeouts} timeouts)"
        );
    };
    assert_eq!(
        cluster.node(promoted).cmd(&["GET", &key]),
        Value::bulk(n.to_string()),
        "the write landed on the promoted replica"
    );
    cluster.resume(victim);
    let stats = c.cluster_stats().unwrap();
    assert!(stats.refreshes > refreshes, "{stats:?}");
    println!(
        "hung primary {victim}: {promoted} promoted {promoted_after:?} after the pause; writes \
         resumed {resumed_after:?} after it, after {timeouts} timeout(s); refreshes {} -> {}",
        refreshes, stats.refreshes
    );
}

/// A manual failover (CLUSTER FAILOVER on the replica) makes the old primary drop the
/// blocking commands it runs with `UNBLOCKED ... instance state changed`: they did not run,
/// so a waiting BLPOP goes on at the new primary and gets the element pushed after the
/// failover, instead of failing.
#[test]
fn a_blpop_dropped_by_a_manual_failover_goes_on_at_the_new_primary() {
    let _one_at_a_time = own_cluster();
    let cluster = RedisCluster::start_default();
    let c = Arc::new(client(&cluster));
    let victim = cluster.primaries()[0].port;
    let victim_id = cluster.id_of(victim);
    let replica = cluster.replicas_of(&victim_id)[0].port;
    let slot = cluster.slot_map().slots_of(&victim_id)[0];
    let key = key_in_slot(slot);
    let popper = {
        let (c, key) = (c.clone(), key.clone());
        std::thread::spawn(move || c.command(&["BLPOP", &key, "20"]).map(|r| r.to_value()))
    };
    let blocked = Instant::now();
    while !text(&cluster.node(victim).cmd(&["INFO", "clients"])).contains("blocked_clients:1") {
        assert!(
            blocked.elapsed() < Duration::from_secs(10),
            "the BLPOP never blocked"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    cluster.node(replica).cmd_ok(&["CLUSTER", "FAILOVER"]);
    let started = Instant::now();
    while cluster.owner_of_slot(slot) != replica {
        assert!(started.elapsed() < Duration::from_secs(20), "no failover");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Pushed where the slot is now (the client follows MOVED if it did not know yet).
    value(&c, &["RPUSH", &key, "after-failover"]);
    let popped = popper.join().unwrap();
    assert_eq!(
        popped.as_ref().map_err(|e| e.to_string()),
        Ok(&Value::Array(vec![
            Value::bulk(key.as_str()),
            Value::bulk("after-failover")
        ])),
        "the BLPOP went on at the new primary"
    );
    println!(
        "manual failover {victim} -> {replica} under a BLPOP: it popped the element pushed \
         {:?} after the failover began",
        started.elapsed()
    );
}

/// Failover under load: writers over every slot; the primary of a third of them is killed
/// (SIGKILL). Writes to the other primaries never fail; writes to the dead one's slots resume
/// once its replica is promoted; every acknowledged write reads back afterwards.
#[test]
fn failover_under_load_resumes_and_keeps_every_acknowledged_write() {
    let _one_at_a_time = own_cluster();
    let cluster = RedisCluster::start_default();
    let c = Arc::new(client(&cluster));
    let victim = cluster.primaries()[0].port;
    let victim_id = cluster.id_of(victim);
    let victim_slots: HashSet<u16> = cluster
        .slot_map()
        .slots_of(&victim_id)
        .into_iter()
        .collect();
    let keys: Vec<String> = (0..300).map(|i| format!("failover:{i}")).collect();
    let on_victim: Vec<bool> = keys
        .iter()
        .map(|k| victim_slots.contains(&key_slot(k)))
        .collect();
    assert!(on_victim.iter().any(|v| *v) && on_victim.iter().any(|v| !*v));
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let first_after: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let acked: Arc<Mutex<HashMap<String, u64>>> = Arc::new(Mutex::new(HashMap::new()));
    let other_failures = Arc::new(Mutex::new(Vec::new()));
    let victim_failures = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (c, stop, killed_at, first_after, acked, other_failures, victim_failures) = (
                c.clone(),
                stop.clone(),
                killed_at.clone(),
                first_after.clone(),
                acked.clone(),
                other_failures.clone(),
                victim_failures.clone(),
            );
            let (keys, on_victim) = (keys.clone(), on_victim.clone());
            std::thread::spawn(move || {
                let mut n: u64 = 0;
                // Each key is written by one thread only (300 keys, 4 threads), with values
                // that grow: a key's value afterwards is at least its last acknowledged one.
                while !stop.load(Ordering::SeqCst) && n < 1_000_000 {
                    n += 1;
                    let k = (n as usize * 4 + t) % keys.len();
                    let v = n.to_string();
                    let sent_after_kill = killed_at.lock().unwrap().is_some();
                    match c.command(&["SET", &keys[k], &v]) {
                        Ok(_) => {
                            acked.lock().unwrap().insert(keys[k].clone(), n);
                            if on_victim[k] && sent_after_kill {
                                first_after.lock().unwrap().get_or_insert_with(Instant::now);
                            }
                        }
                        Err(e) if on_victim[k] => {
                            let at = killed_at.lock().unwrap().map(|k| k.elapsed());
                            if victim_failures.fetch_add(1, Ordering::SeqCst) < 30 {
                                println!("a write to the dead primary's slots failed ({at:?} after the kill, thread {t}): {e}");
                            }
                        }
                        Err(e) => other_failures.lock().unwrap().push(e.to_string()),
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    cluster.kill_primary(victim);
    *killed_at.lock().unwrap() = Some(Instant::now());
    let promoted = cluster.wait_failover(victim);
    // Writes keep going a while after the promotion.
    let deadline = Instant::now() + Duration::from_secs(15);
    while first_after.lock().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let other = other_failures.lock().unwrap();
    assert!(
        other.is_empty(),
        "writes to live primaries failed: {:?}",
        &other[..other.len().min(5)]
    );
    let resumed = first_after
        .lock()
        .unwrap()
        .expect("writes to the dead primary's slots resumed");
    let recovery = resumed - killed_at.lock().unwrap().unwrap();
    // Every acknowledged write is there (the last value each key was acknowledged with).
    let acked = acked.lock().unwrap();
    let mut checked = 0;
    for (key, last) in acked.iter() {
        let got = c.command(&["GET", key]).expect("GET after failover");
        let got: u64 = got
            .value()
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{key} lost (last acknowledged {last})"));
        assert!(got >= *last, "{key} is {got}, but {last} was acknowledged");
        checked += 1;
    }
    let stats = c.cluster_stats().unwrap();
    println!(
        "failover under load: kill -9 of {victim}, {promoted} promoted; first successful write \
         on the moved slots {:?} after the kill; {} writes to those slots failed meanwhile; \
         {checked} keys read back; MOVED {}, connection retries {}, refreshes {}",
        recovery,
        victim_failures.load(Ordering::SeqCst),
        stats.moved,
        stats.connection_retries,
        stats.refreshes
    );
}

/// A node added to the cluster (CLUSTER MEET, slots moved to it) is used without restarting
/// the client.
#[test]
fn an_added_node_is_used_without_a_restart() {
    let _one_at_a_time = own_cluster();
    let cluster = RedisCluster::start_default();
    let c = client(&cluster);
    let slots: Vec<u16> = (100..110).collect();
    let keys: Vec<String> = slots.iter().map(|s| key_in_slot(*s)).collect();
    for key in &keys {
        value(&c, &["SET", key, "before"]);
    }
    let added = cluster.add_node();
    cluster.move_slots_to(slots.clone(), added);
    let before = cluster.commandstats(added).get("get").copied().unwrap_or(0);
    for key in &keys {
        assert_eq!(value(&c, &["GET", key]), Value::bulk("before"));
    }
    // Once the client learned the new owner (a MOVED, then a refresh), reads go there.
    for key in &keys {
        assert_eq!(value(&c, &["GET", key]), Value::bulk("before"));
    }
    let after = cluster.commandstats(added).get("get").copied().unwrap_or(0);
    assert!(
        after - before >= keys.len() as u64,
        "the new node served {}",
        after - before
    );
}

/// The distributed lock on a cluster client: the lock key and its fencing counter share a slot
/// (the scripts run on that slot's primary), and four threads on one client keep a
/// read-modify-write exact.
#[test]
fn locks_work_on_a_cluster_client() {
    use redcore::lock::{Lock, LockOptions};
    let cluster = RedisCluster::shared();
    let c = Arc::new(client(cluster));
    let name = prefix("lock");
    let counter = format!("{{{name}}}:count");
    let probe = Lock::new(c.clone(), name.clone(), LockOptions::default()).unwrap();
    assert_eq!(key_slot(&name), key_slot(probe.fence_key()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (c, name, counter) = (c.clone(), name.clone(), counter.clone());
            std::thread::spawn(move || {
                let options = LockOptions {
                    timeout: Some(Duration::from_secs(5)),
                    sleep: Duration::from_millis(2),
                    ..LockOptions::default()
                };
                let lock = Lock::new(c.clone(), name, options).unwrap();
                let mut fences = Vec::new();
                for _ in 0..50 {
                    fences.push(lock.acquire().unwrap().expect("a blocking acquire gets it"));
                    let n: u64 = c
                        .command(&["GET", &counter])
                        .unwrap()
                        .value()
                        .as_str()
                        .map_or(0, |s| s.parse().unwrap());
                    c.command(&["SET", &counter, &(n + 1).to_string()]).unwrap();
                    lock.release().unwrap();
                }
                fences
            })
        })
        .collect();
    let mut fences: Vec<u64> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(value(&c, &["GET", &counter]), Value::bulk("200"));
    fences.sort_unstable();
    fences.dedup();
    assert_eq!(
        fences.len(),
        200,
        "every acquisition got its own fencing token"
    );
}

/// The address-remap hook: every node the topology names is dialed where the hook says (the
/// startup nodes, given by the caller, are dialed as given).
#[test]
fn the_address_remap_hook_decides_where_nodes_are_dialed() {
    use redcore::config::AddressRemap;
    let cluster = RedisCluster::shared();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut cfg = config(cluster);
    let counted = calls.clone();
    cfg.cluster.as_mut().unwrap().address_remap =
        Some(AddressRemap(Arc::new(move |host: &str, port: u16| {
            counted.fetch_add(1, Ordering::SeqCst);
            Some((host.to_string(), port))
        })));
    let c = Client::new(cfg).expect("client");
    let key = prefix("remap");
    value(&c, &["SET", &key, "1"]);
    assert!(calls.load(Ordering::SeqCst) >= 6, "the hook saw every node");
    // A hook that sends every node to a closed port: the topology is read through the
    // startup node, but no command reaches a node.
    let closed = support::free_port();
    let mut cfg = config(cluster);
    cfg.command_timeout = Some(Duration::from_secs(2));
    cfg.cluster.as_mut().unwrap().address_remap =
        Some(AddressRemap(Arc::new(move |_: &str, _: u16| {
            Some(("127.0.0.1".to_string(), closed))
        })));
    let c = Client::new(cfg).expect("the topology comes from the startup node");
    let err = c.command(&["GET", &key]).unwrap_err();
    assert!(
        err.is(ErrorKind::Connection)
            || err.kind() == ErrorKind::Timeout
            || err.is(ErrorKind::Cluster),
        "{err}"
    );
    if err.kind() == ErrorKind::Timeout {
        // It timed out waiting to be sent again: the error says why it waited.
        assert!(err.message().contains("last: CONNECTION"), "{err}");
    }
    println!("every node remapped to a closed port: {err}");
}

/// A slot no node serves: once a refresh confirms it, a command for it fails with
/// SLOT_NOT_COVERED (the cluster keeps serving the other slots: full coverage is not required).
#[test]
fn a_slot_without_owner_gives_slot_not_covered() {
    let _one_at_a_time = own_cluster();
    let cluster = RedisCluster::start(3, 0);
    for port in cluster.ports() {
        cluster
            .node(port)
            .cmd_ok(&["CONFIG", "SET", "cluster-require-full-coverage", "no"]);
    }
    let c = client(&cluster);
    let slot = 777u16;
    // Every node forgets the slot's owner (gossip alone would not unassign it elsewhere).
    for port in cluster.ports() {
        let _ = cluster
            .node(port)
            .try_cmd(&["CLUSTER", "DELSLOTS", &slot.to_string()]);
    }
    let key = key_in_slot(slot);
    let err = c.command(&["GET", &key]).unwrap_err();
    assert!(
        err.kind() == ErrorKind::SlotNotCovered || err.kind() == ErrorKind::ClusterDown,
        "{err}"
    );
    // Once the client's topology knows, it says so without asking a node.
    let err = c.command(&["SET", &key, "x"]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SlotNotCovered, "{err}");
    assert!(err.is(ErrorKind::ClusterException));
    // The other slots still work.
    value(&c, &["SET", &key_in_slot(slot + 1), "y"]);
}

/// Commands whose keys only the server can find (`SORT ... STORE`, flagged movablekeys): the
/// client asks `COMMAND GETKEYS` first, then sends the command to its keys' slot.
#[test]
fn keys_only_the_server_knows_are_asked_for() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("sort");
    let (list, dest) = (format!("{{{p}}}:list"), format!("{{{p}}}:sorted"));
    value(&c, &["RPUSH", &list, "3", "1", "2"]);
    assert_eq!(
        value(&c, &["SORT", &list, "STORE", &dest]),
        Value::Integer(3)
    );
    assert_eq!(
        value(&c, &["LRANGE", &dest, "0", "-1"]),
        Value::Array(vec![Value::bulk("1"), Value::bulk("2"), Value::bulk("3")])
    );
    // Keys of two slots: refused, as the server would.
    let other = key_in_slot((key_slot(&list) + 1) % 16384);
    let err = c.command(&["SORT", &list, "STORE", &other]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrossSlot, "{err}");
}

/// A TLS cluster (`rediss+cluster://`, TLS on the bus and for replication too): each node is
/// verified by the name it announces. The replicas present a certificate for `wrong.example`
/// only and announce that hostname; reads from them succeed only if their connections check
/// that name rather than the IP address they are dialed at.
#[test]
fn a_tls_cluster_verifies_each_node_by_its_announced_hostname() {
    use support::ServerCert;
    let certs = support::unique_temp_dir("redcore-cluster-certs");
    let files = support::generate_tls_files(&certs);
    let dir = certs.clone();
    let _one_at_a_time = own_cluster();
    let cluster = RedisCluster::start_with(3, 1, move |i, b| {
        let b = b.args(["--tls-cluster", "yes", "--tls-replication", "yes"]);
        if i < 3 {
            // Primaries: valid for 127.0.0.1, and announce no hostname.
            b.tls_shared(&dir, ServerCert::Valid)
        } else {
            b.tls_shared(&dir, ServerCert::WrongName)
                .args(["--cluster-announce-hostname", "wrong.example"])
        }
    });
    let primary = cluster.primaries()[0].port;
    let mut cfg = Config::from_url(&format!(
        "rediss+cluster://127.0.0.1:{}?read_from=replicas",
        cluster.tls_port_of(primary)
    ))
    .unwrap();
    cfg.tls_options.ca_file = Some(files.ca.clone());
    cfg.command_timeout = Some(Duration::from_secs(10));
    let c = Client::new(cfg).expect("a TLS cluster client");
    let keys: Vec<String> = (0..50).map(|i| format!("tls:{i}")).collect();
    for key in &keys {
        value(&c, &["SET", key, "secret"]);
    }
    for primary in cluster.primaries() {
        cluster.node(primary.port).cmd_ok(&["WAIT", "1", "5000"]);
    }
    let replicas: Vec<u16> = cluster
        .nodes()
        .iter()
        .filter(|n| n.role == support::cluster_state::Role::Replica)
        .map(|n| n.port)
        .collect();
    let served = || -> u64 {
        replicas
            .iter()
            .map(|p| cluster.commandstats(*p).get("get").copied().unwrap_or(0))
            .sum()
    };
    // Replicas count as serving once the cluster reports them synced (CLUSTER SHARDS health
    // "online"); until then reads stay on the primaries. The client looks again within a
    // second while a replica is still syncing.
    let before = served();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        for key in &keys {
            assert_eq!(value(&c, &["GET", key]), Value::bulk("secret"));
        }
        if served() - before >= keys.len() as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas never served reads over TLS"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::fs::remove_dir_all(certs);
}

/// The split of MGET and its kin is for commands sent alone: inside a plain pipeline, a
/// multi-key command across slots fails the pipeline before anything is sent.
#[test]
fn a_cross_slot_mget_in_a_pipeline_fails_it_unsent() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let p = prefix("pipeline-cross-slot");
    let (a, b) = (
        format!("{{{p}}}:a"),
        key_in_slot((key_slot(&p) + 1) % 16384),
    );
    let mut pipeline = Pipeline::new();
    pipeline.add(&["SET", &a, "1"]).unwrap();
    pipeline.add(&["MGET", &a, &b]).unwrap();
    let err = c.run_pipeline(&pipeline).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ClusterException, "{err}");
    assert!(err.message().contains("send it alone"), "{err}");
    assert_eq!(
        value(&c, &["EXISTS", &a]),
        Value::Integer(0),
        "nothing was sent"
    );
    // Sent alone, it is split and merged.
    assert_eq!(
        value(&c, &["MGET", &a, &b]),
        Value::Array(vec![Value::Null, Value::Null])
    );
}

/// Wake-ups from poll of this process's reactor threads (voluntary context switches).
fn reactor_wakeups() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("redcore-reactor") {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:") {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// `shutdown` on a cluster client while callers race it: every accepted command completes
/// (once), blocking calls without a timeout return CLOSED (none is left parked
/// for a retry that no timer runs any more), and the shut-down client's event loop sleeps
/// rather than waking for the refreshes it no longer makes.
#[test]
fn a_cluster_client_shut_down_under_load_completes_everything_and_sleeps() {
    let cluster = RedisCluster::shared();
    for round in 0..5u64 {
        let mut cfg = config(cluster);
        cfg.command_timeout = None;
        cfg.cluster.as_mut().unwrap().refresh_interval = Some(Duration::from_millis(200));
        let c = Arc::new(Client::new(cfg).unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let completed = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for t in 0..4 {
            let (c, accepted, completed) = (c.clone(), accepted.clone(), completed.clone());
            threads.push(std::thread::spawn(move || {
                for i in 0..100_000u32 {
                    let key = format!("shutdown:{t}:{}", i % 64);
                    let result = if t % 2 == 0 {
                        let completed = completed.clone();
                        c.submit(&["INCR", key.as_str()], move |_| {
                            completed.fetch_add(1, Ordering::SeqCst);
                        })
                        .map(|()| {
                            accepted.fetch_add(1, Ordering::SeqCst);
                        })
                    } else {
                        c.command(&["GET", key.as_str()]).map(|_| ())
                    };
                    match result {
                        Ok(()) => {}
                        Err(e) if e.is(ErrorKind::Closed) => return,
                        Err(e) => panic!("{e}"),
                    }
                }
            }));
        }
        std::thread::sleep(Duration::from_millis(30 + round * 7));
        c.shutdown();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !threads.iter().all(|t| t.is_finished()) {
            assert!(
                Instant::now() < deadline,
                "round {round}: a caller still waits 5 s after shutdown"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        for t in threads {
            t.join().unwrap();
        }
        // A submission that raced the shutdown completes just after it, never later.
        while accepted.load(Ordering::SeqCst) != completed.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "round {round}: {} accepted, {} completed",
                accepted.load(Ordering::SeqCst),
                completed.load(Ordering::SeqCst)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        if round == 0 {
            std::thread::sleep(Duration::from_millis(500));
            let before = reactor_wakeups();
            std::thread::sleep(Duration::from_secs(1));
            let woke = reactor_wakeups() - before;
            assert!(woke < 100, "a shut-down client woke {woke} times in 1 s");
        }
        drop(Arc::try_unwrap(c).ok().expect("the only reference"));
    }
}
