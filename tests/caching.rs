//! Client-side caching against real servers: a hit after the first read, byte for byte the
//! server's reply; a write from another client invalidating it within one round trip; reads
//! racing a writer in a tight loop never going back in time; every-key invalidations and
//! lost connections emptying the cache; the client's own writes (FLUSHALL, FLUSHDB and
//! SWAPDB among them, and writes raced by the client's own readers); the bounds; a cluster;
//! a server without HELLO refused.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redcore::client::{Client, Pipeline};
use redcore::config::{CacheOptions, Config, Protocol};
use redcore::resp::Value;
use redcore::ErrorKind;
use support::cluster::RedisCluster;
use support::RedisServer;

fn cached_config(server: &RedisServer, options: CacheOptions) -> Config {
    Config {
        cache: Some(options),
        ..server.config()
    }
}

fn cached(server: &RedisServer) -> Client {
    Client::new(cached_config(server, CacheOptions::default())).expect("client connects")
}

fn plain(server: &RedisServer) -> Client {
    Client::new(server.config()).expect("client connects")
}

/// Reads 3000 keys on the tracking connection (a pipeline: tracked by the server, not
/// cached), then has `other` rewrite them all: that many invalidation pushes are then on
/// their way to the tracking connection, as in any busy application.
fn noise(c: &Client, other: &Client) {
    let n = 3000;
    let mut p = Pipeline::new();
    for i in 0..n {
        p.add(&["GET", &format!("noise:{i}")]).unwrap();
    }
    c.run_pipeline(&p).unwrap();
    let mut mset = vec!["MSET".to_string()];
    for i in 0..n {
        mset.push(format!("noise:{i}"));
        mset.push("x".into());
    }
    other.command(&mset).unwrap();
}

fn encoded(reply: &redcore::resp::Reply) -> Vec<u8> {
    let mut out = Vec::new();
    reply.value().encode(&mut out);
    out
}

#[test]
fn a_read_is_served_from_the_cache_until_another_client_writes() {
    let server = RedisServer::start();
    let c = cached(&server);
    let writer = plain(&server);
    writer
        .command(&["HSET", "h", "a", "1", "b", "2.5"])
        .unwrap();
    let first = c.command(&["HGETALL", "h"]).unwrap();
    let stats = c.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 1, 1));
    let second = c.command(&["HGETALL", "h"]).unwrap();
    assert_eq!(c.cache_stats().unwrap().hits, 1);
    // The cached reply is the server's, byte for byte.
    let server_reply = writer.command(&["HGETALL", "h"]).unwrap();
    assert_eq!(encoded(&first), encoded(&server_reply));
    assert_eq!(encoded(&second), encoded(&server_reply));

    // Another client writes: one round trip later the cached reply is gone.
    writer.command(&["HSET", "h", "a", "changed"]).unwrap();
    c.command(&["PING"]).unwrap();
    let third = c.command(&["HGETALL", "h"]).unwrap();
    assert_eq!(
        encoded(&third),
        encoded(&writer.command(&["HGETALL", "h"]).unwrap())
    );
    let stats = c.cache_stats().unwrap();
    assert_eq!((stats.hits, stats.misses, stats.invalidations), (1, 2, 1));

    // Asynchronous reads are served too (their callback still runs on a library thread).
    let (tx, rx) = std::sync::mpsc::channel();
    let caller = std::thread::current().id();
    c.submit(&["HGETALL", "h"], move |r| {
        tx.send((r.map(|r| r.to_value()), std::thread::current().id()))
            .unwrap();
    })
    .unwrap();
    let (value, thread) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(value.unwrap(), third.to_value());
    assert_ne!(thread, caller);
    assert_eq!(c.cache_stats().unwrap().hits, 2);
}

#[test]
fn reads_racing_a_writer_never_go_back_in_time() {
    let server = RedisServer::start();
    let c = Arc::new(cached(&server));
    let writer = plain(&server);
    writer.command(&["SET", "counter", "0"]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    const WRITES: i64 = 3000;
    let writing = std::thread::spawn(move || {
        for i in 1..=WRITES {
            writer.command(&["SET", "counter", &i.to_string()]).unwrap();
        }
        writer
    });
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let c = c.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut last = 0i64;
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let reply = c.command(&["GET", "counter"]).unwrap();
                    let n: i64 = std::str::from_utf8(reply.value().as_bytes().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(n >= last, "read {n} after {last}: a stale value was kept");
                    last = n;
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let writer = writing.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    // Settled: one round trip, and the cache has the last value.
    c.command(&["PING"]).unwrap();
    let last = c.command(&["GET", "counter"]).unwrap();
    assert_eq!(last.to_value(), Value::bulk(WRITES.to_string()));
    let stats = c.cache_stats().unwrap();
    println!("{reads} reads racing {WRITES} writes: {stats:?}");
    assert!(stats.hits > 0, "the cache served some reads: {stats:?}");
    assert!(stats.invalidations > 0, "{stats:?}");
    drop(writer);
}

#[test]
fn every_key_invalidations_and_lost_connections_empty_the_cache() {
    let server = RedisServer::start();
    let c = cached(&server);
    let other = plain(&server);
    other.command(&["MSET", "a", "1", "b", "2"]).unwrap();
    let read_both = |c: &Client| {
        c.command(&["GET", "a"]).unwrap();
        c.command(&["MGET", "a", "b"]).unwrap();
    };
    read_both(&c);
    assert_eq!(c.cache_stats().unwrap().entries, 2);
    // FLUSHALL: the server invalidates every key at once.
    other.command(&["FLUSHALL"]).unwrap();
    c.command(&["PING"]).unwrap();
    let stats = c.cache_stats().unwrap();
    assert_eq!(stats.entries, 0);
    assert_eq!(stats.flushes, 1);
    assert_eq!(c.command(&["GET", "a"]).unwrap().to_value(), Value::Null);

    // The tracking connection is lost: everything goes.
    other.command(&["MSET", "a", "1", "b", "2"]).unwrap();
    read_both(&c);
    other
        .command(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cache_stats().unwrap().entries != 0 {
        assert!(
            Instant::now() < deadline,
            "the lost connection emptied the cache"
        );
        let _ = c.command(&["PING"]);
        std::thread::sleep(Duration::from_millis(10));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let value = loop {
        match c.command(&["GET", "a"]) {
            Ok(v) => break v,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(value.to_value(), Value::bulk("1"));
}

#[test]
fn the_client_reads_its_own_writes() {
    let server = RedisServer::start();
    let c = cached(&server);
    c.command(&["SET", "own", "1"]).unwrap();
    c.command(&["GET", "own"]).unwrap();
    c.command(&["GET", "own"]).unwrap();
    assert_eq!(c.cache_stats().unwrap().hits, 1);
    // Each way of writing drops the cached reply before it goes.
    c.command(&["SET", "own", "2"]).unwrap();
    assert_eq!(
        c.command(&["GET", "own"]).unwrap().to_value(),
        Value::bulk("2")
    );
    let mut p = Pipeline::new();
    p.add(&["INCR", "own"]).unwrap();
    c.run_pipeline(&p).unwrap();
    assert_eq!(
        c.command(&["GET", "own"]).unwrap().to_value(),
        Value::bulk("3")
    );
    c.transaction(&["own"], 1, |tx| tx.queue(&["INCR", "own"]))
        .unwrap();
    assert_eq!(
        c.command(&["GET", "own"]).unwrap().to_value(),
        Value::bulk("4")
    );
    let (tx, rx) = std::sync::mpsc::channel();
    c.submit(&["APPEND", "own", "0"], move |r| {
        tx.send(r.is_ok()).unwrap()
    })
    .unwrap();
    assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(
        c.command(&["GET", "own"]).unwrap().to_value(),
        Value::bulk("40")
    );
}

#[test]
fn the_cache_keeps_within_its_bounds() {
    let server = RedisServer::start();
    let c = Client::new(cached_config(
        &server,
        CacheOptions {
            max_entries: 10,
            max_bytes: 1 << 20,
        },
    ))
    .unwrap();
    for i in 0..50 {
        c.command(&["GET", &format!("k{i}")]).unwrap();
    }
    let stats = c.cache_stats().unwrap();
    assert_eq!(stats.entries, 10);
    assert_eq!(stats.evictions, 40);
    // The most recent ones stayed.
    c.command(&["GET", "k49"]).unwrap();
    assert_eq!(c.cache_stats().unwrap().hits, 1);
    // Caching needs RESP3.
    let mut config = cached_config(&server, CacheOptions::default());
    config.protocol = Protocol::Resp2;
    let err = Client::new(config).err().expect("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(plain(&server).cache_stats().is_none());
}

#[test]
fn a_cluster_client_caches_per_node() {
    let cluster = RedisCluster::shared();
    let mut config = Config::from_url(&cluster.url()).unwrap();
    config.cache = Some(CacheOptions::default());
    let c = Client::new(config.clone()).unwrap();
    config.cache = None;
    let writer = Client::new(config).unwrap();
    let keys: Vec<String> = (0..12)
        .map(|i| format!("cache:{}:{i}", std::process::id()))
        .collect();
    for key in &keys {
        writer.command(&["SET", key, "old"]).unwrap();
        c.command(&["GET", key]).unwrap();
        assert_eq!(
            c.command(&["GET", key]).unwrap().to_value(),
            Value::bulk("old")
        );
    }
    assert_eq!(c.cache_stats().unwrap().hits, keys.len() as u64);
    for key in &keys {
        writer.command(&["SET", key, "new"]).unwrap();
    }
    // The invalidations come from each key's node; wait for all of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cache_stats().unwrap().entries != 0 {
        assert!(Instant::now() < deadline, "{:?}", c.cache_stats());
        std::thread::sleep(Duration::from_millis(5));
    }
    for key in &keys {
        assert_eq!(
            c.command(&["GET", key]).unwrap().to_value(),
            Value::bulk("new")
        );
    }
}

/// FLUSHALL, FLUSHDB and SWAPDB name no key: the client's own empty the whole cache, also
/// when they go on another connection than the tracking one (a direct one while another
/// thread keeps the tracking one busy, or a dedicated one) and the server's invalidation is
/// still queued behind others on the tracking connection. (The server sends none at all for
/// SWAPDB.)
#[test]
fn own_flushall_flushdb_and_swapdb_empty_the_cache() {
    let server = RedisServer::start();
    let c = cached(&server);
    let other = plain(&server);
    let db1 = Client::new(Config {
        db: 1,
        ..server.config()
    })
    .unwrap();
    let c = Arc::new(c);
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let _ = c.command(&["PING"]);
            }
        })
    };
    let mut stale = Vec::new();
    for round in 0..60 {
        let (command, expected): (&[&str], Value) = match round % 3 {
            0 => (&["FLUSHALL"], Value::Null),
            1 => (&["FLUSHDB"], Value::Null),
            // Database 1 holds another value of the key: SWAPDB brings it to database 0.
            _ => {
                db1.command(&["SET", "target", "from-db1"]).unwrap();
                (&["SWAPDB", "0", "1"], Value::bulk("from-db1"))
            }
        };
        let value = round.to_string();
        c.command(&["SET", "target", &value]).unwrap();
        c.command(&["GET", "target"]).unwrap();
        assert_eq!(
            c.command(&["GET", "target"]).unwrap().to_value(),
            Value::bulk(value.clone())
        );
        noise(&c, &other);
        if round % 2 == 0 {
            c.command(command).unwrap();
        } else {
            let mut d = c.dedicated().unwrap();
            d.command(command).unwrap();
            d.release();
        }
        let got = c.command(&["GET", "target"]).unwrap().to_value();
        if got != expected {
            stale.push((command[0], got));
        }
    }
    stop.store(true, Ordering::Relaxed);
    pinger.join().unwrap();
    println!("{:?}", c.cache_stats());
    assert!(
        stale.is_empty(),
        "GET after the client's own keyspace write answered from the cache: {stale:?}"
    );
}

/// Another thread's read of the same client, sent after a write dropped the cached reply
/// and run by the server before the write, must not leave the old value behind for the
/// writing thread: its read after its own acknowledged write sees that write. Plain SETs
/// (which take a direct connection while the readers keep the tracking one busy), async
/// SETs, and transactions.
#[test]
fn own_writes_raced_by_the_clients_own_readers_are_read_back() {
    let server = RedisServer::start();
    let c = Arc::new(cached(&server));
    let other = plain(&server);
    c.command(&["SET", "sk", "0"]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (c, stop) = (c.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    c.command(&["GET", "sk"]).unwrap();
                    let _ = c.command(&["PING"]);
                }
            })
        })
        .collect();
    let mut stale = Vec::new();
    const ROUNDS: i64 = 3000;
    for i in 1..=ROUNDS {
        if i % 100 == 0 {
            noise(&c, &other);
        }
        let value = i.to_string();
        match i % 10 {
            0 => {
                c.transaction(&["sk"], 5, |tx| tx.queue(&["SET", "sk", &value]))
                    .unwrap();
            }
            5 => {
                let (tx, rx) = std::sync::mpsc::channel();
                c.submit(&["SET", "sk", &value], move |r| tx.send(r.is_ok()).unwrap())
                    .unwrap();
                assert!(rx.recv_timeout(Duration::from_secs(10)).unwrap());
            }
            _ => {
                c.command(&["SET", "sk", &value]).unwrap();
            }
        }
        let got = c.command(&["GET", "sk"]).unwrap().to_value();
        if got != Value::bulk(value) {
            stale.push((i, got));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    println!("{:?}", c.cache_stats());
    assert!(
        stale.is_empty(),
        "{} of {ROUNDS} reads after the thread's own write were older: first {:?}",
        stale.len(),
        stale.first()
    );
}

/// MULTI / EXEC by hand on a dedicated connection: the replies of the commands queued are
/// only QUEUED, and a read before EXEC (here by the same thread) caches the old value; EXEC's
/// reply drops it. SWAPDB makes it certain: the server sends no invalidation for it.
#[test]
fn own_writes_in_multi_by_hand_are_read_back_after_exec() {
    let server = RedisServer::start();
    let c = cached(&server);
    let db1 = Client::new(Config {
        db: 1,
        ..server.config()
    })
    .unwrap();
    for round in 0..5 {
        let (old, new) = (format!("{round}-db0"), format!("{round}-db1"));
        c.command(&["SET", "mk", &old]).unwrap();
        db1.command(&["SET", "mk", &new]).unwrap();
        let mut d = c.dedicated().unwrap();
        d.command(&["MULTI"]).unwrap();
        d.command(&["SWAPDB", "0", "1"]).unwrap();
        c.command(&["GET", "mk"]).unwrap();
        assert_eq!(
            c.command(&["GET", "mk"]).unwrap().to_value(),
            Value::bulk(old)
        );
        d.command(&["EXEC"]).unwrap();
        d.release();
        assert_eq!(
            c.command(&["GET", "mk"]).unwrap().to_value(),
            Value::bulk(new),
            "round {round}: the value from before EXEC; {:?}",
            c.cache_stats()
        );
    }
}

/// A server that cannot speak RESP3 (HELLO renamed away, as hosted servers and proxies do)
/// would take CLIENT TRACKING ON over RESP2 and never send an invalidation: a cached client
/// refuses it with the reason instead of serving stale values. A client without a cache
/// falls back to RESP2 and works.
#[test]
fn a_server_without_resp3_is_refused_by_a_cached_client() {
    let server = RedisServer::builder()
        .args(["--rename-command", "HELLO", "hello-renamed-away"])
        .start();
    let writer = plain(&server);
    writer.command(&["SET", "hk", "old"]).unwrap();
    assert_eq!(
        writer.command(&["GET", "hk"]).unwrap().to_value(),
        Value::bulk("old")
    );
    let refused = |err: redcore::Error| {
        assert_eq!(err.kind(), ErrorKind::Response, "{err}");
        assert!(
            err.message().contains("RESP3") && err.message().contains("caching"),
            "{err}"
        );
    };
    match Client::new(cached_config(&server, CacheOptions::default())) {
        Ok(_) => panic!("a cached client connected to a server without RESP3"),
        Err(err) => refused(err),
    }
    // Connecting lazily, each command fails with the same reason.
    let c = Client::new(Config {
        lazy_connect: true,
        ..cached_config(&server, CacheOptions::default())
    })
    .unwrap();
    for command in [&["GET", "hk"][..], &["SET", "hk", "x"], &["PING"]] {
        match c.command(command) {
            Ok(reply) => panic!("{command:?} answered {reply:?} with no invalidations to come"),
            Err(err) => refused(err),
        }
    }
    assert_eq!(c.cache_stats().unwrap().entries, 0);
    assert_eq!(
        writer.command(&["GET", "hk"]).unwrap().to_value(),
        Value::bulk("old")
    );
}
