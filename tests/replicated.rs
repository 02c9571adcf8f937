//! Replicated writes (`Config::replicated_writes`) against real servers: with a replica that
//! keeps up, writes, pipelines, transactions and callbacks succeed as usual; with none, each
//! write fails with TIMEOUT saying its replicas did not confirm it (the master ran it), while
//! reads in the same pipeline keep their replies and read-only commands never wait. The
//! failover case (kill -9 of a master losing no acknowledged write) is in tests/sentinel.rs.

mod support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use redcore::client::{Client, Pipeline};
use redcore::config::{Config, ReplicatedWrites};
use redcore::ErrorKind;
use support::RedisServer;

fn replicated(server: &RedisServer, timeout: Duration) -> Client {
    let mut config: Config = server.config();
    config.replicated_writes = Some(ReplicatedWrites {
        replicas: 1,
        timeout,
    });
    Client::new(config).expect("client connects")
}

fn text(c: &Client, args: &[&str]) -> String {
    let reply = c.command(args).expect("command");
    reply.value().as_str().unwrap_or_default().to_string()
}

/// A master and one replica that has caught up.
fn master_and_replica() -> (RedisServer, RedisServer) {
    let master = RedisServer::start();
    let replica = RedisServer::builder()
        .args(["--replicaof", "127.0.0.1", &master.port().to_string()])
        .start();
    let probe = Client::new(replica.config()).expect("replica client");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text(&probe, &["INFO", "replication"]).contains("master_link_status:up") {
        assert!(Instant::now() < deadline, "the replica did not sync");
        std::thread::sleep(Duration::from_millis(20));
    }
    (master, replica)
}

#[test]
fn writes_confirmed_by_a_replica_succeed_and_are_on_it() {
    let (master, replica) = master_and_replica();
    let c = replicated(&master, Duration::from_secs(5));
    c.command(&["SET", "rw:a", "1"]).expect("SET confirmed");
    assert_eq!(text(&c, &["GET", "rw:a"]), "1");

    let mut p = Pipeline::new();
    p.add(&["INCR", "rw:n"]).unwrap();
    p.add(&["GET", "rw:n"]).unwrap();
    p.add(&["RPUSH", "rw:l", "x"]).unwrap();
    let r = c.run_pipeline(&p).expect("pipeline");
    assert_eq!(r.len(), 3, "the WAIT's reply is not one of the results");
    assert_eq!(r.get(0).unwrap().unwrap().as_integer(), Some(1));
    assert_eq!(r.get(1).unwrap().unwrap().as_str(), Some("1"));
    assert_eq!(r.get(2).unwrap().unwrap().as_integer(), Some(1));

    let mut t = Pipeline::transaction();
    t.add(&["INCR", "rw:n"]).unwrap();
    t.add(&["INCR", "rw:n"]).unwrap();
    let r = c.run_pipeline(&t).expect("transaction");
    assert_eq!(r.len(), 2);
    assert_eq!(r.get(1).unwrap().unwrap().as_integer(), Some(3));

    let (tx, rx) = mpsc::channel();
    c.submit(&["SET", "rw:async", "yes"], move |result| {
        tx.send(result.map(|r| r.value().as_str().map(String::from)))
            .unwrap();
    })
    .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(10)).expect("callback");
    assert_eq!(got.unwrap().as_deref(), Some("OK"));

    // Acknowledged means on the replica: read there, with no wait.
    let on_replica = Client::new(replica.config()).expect("replica client");
    for (key, value) in [("rw:a", "1"), ("rw:n", "3"), ("rw:async", "yes")] {
        assert_eq!(
            text(&on_replica, &["GET", key]),
            value,
            "{key} on the replica"
        );
    }
}

#[test]
fn writes_no_replica_confirmed_fail_with_timeout_but_ran() {
    let master = RedisServer::start();
    let c = replicated(&master, Duration::from_millis(50));
    let err = c.command(&["SET", "rw:lone", "1"]).expect_err("no replica");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.message().contains("0 of the 1 replicas"),
        "the message says what happened: {err}"
    );
    // A write whose answer is nil (a script that returns nothing, GETSET or `SET ... GET` on
    // a new key) ran all the same, and waits like any other.
    for args in [
        &["EVAL", "redis.call('SET', KEYS[1], 'x')", "1", "rw:eval"][..],
        &["GETSET", "rw:getset", "x"],
        &["SET", "rw:setget", "x", "GET"],
    ] {
        let err = c.command(args).expect_err("nil, but unconfirmed");
        assert_eq!(err.kind(), ErrorKind::Timeout, "{args:?}: {err}");
    }
    // The master ran it, and reads do not wait for anything.
    let started = Instant::now();
    assert_eq!(text(&c, &["GET", "rw:lone"]), "1");
    c.command(&["PING"]).expect("PING waits for nothing");
    assert!(started.elapsed() < Duration::from_secs(5));

    let mut p = Pipeline::new();
    p.add(&["SET", "rw:p", "x"]).unwrap();
    p.add(&["GET", "rw:p"]).unwrap();
    p.add(&["HSET", "rw:p", "f", "v"]).unwrap(); // WRONGTYPE: keeps its own error
    let r = c.run_pipeline(&p).expect("pipeline");
    assert_eq!(r.len(), 3);
    assert_eq!(r.get(0).unwrap().unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(r.get(1).unwrap().unwrap().as_str(), Some("x"));
    assert_eq!(r.get(2).unwrap().unwrap_err().kind(), ErrorKind::Response);

    let mut t = Pipeline::transaction();
    t.add(&["INCR", "rw:t"]).unwrap();
    t.add(&["INCR", "rw:t"]).unwrap();
    let r = c.run_pipeline(&t).expect("transaction");
    for i in 0..2 {
        assert_eq!(r.get(i).unwrap().unwrap_err().kind(), ErrorKind::Timeout);
    }
    assert_eq!(text(&c, &["GET", "rw:t"]), "2", "the transaction ran");

    let (tx, rx) = mpsc::channel();
    c.submit(&["DEL", "rw:lone"], move |result| {
        tx.send(result.map(|_| ())).unwrap();
    })
    .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(10)).expect("callback");
    assert_eq!(got.unwrap_err().kind(), ErrorKind::Timeout);
}

#[test]
fn a_cluster_client_refuses_replicated_writes_and_urls_carry_them() {
    let mut config = Config::from_url("redis+cluster://127.0.0.1:7000").unwrap();
    config.replicated_writes = Some(ReplicatedWrites {
        replicas: 1,
        timeout: Duration::from_secs(1),
    });
    let err = config.validate().expect_err("cluster");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    let config =
        Config::from_url("redis://127.0.0.1:6379?wait_replicas=2&wait_timeout=250ms").expect("URL");
    assert_eq!(
        config.replicated_writes,
        Some(ReplicatedWrites {
            replicas: 2,
            timeout: Duration::from_millis(250),
        })
    );
    let again = Config::from_url(&config.to_url_redacted()).expect("round trip");
    assert_eq!(again.replicated_writes, config.replicated_writes);
    let alone = Config::from_url("redis://127.0.0.1:6379?wait_replicas=1").unwrap();
    assert_eq!(
        alone.replicated_writes.map(|w| w.timeout),
        Some(Duration::from_secs(1))
    );
    for bad in ["wait_timeout=1s", "wait_replicas=1&wait_timeout=0ms"] {
        let url = format!("redis://127.0.0.1:6379?{bad}");
        let err = Config::from_url(&url).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}: {err}");
    }
}
