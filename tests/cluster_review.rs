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

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use redcore::client::Client;
use redcore::config::Config;
use redcore::resp::Value;
use redcore::ErrorKind;
use support::cluster::RedisCluster;
use support::keyslot::key_in_slot;

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
