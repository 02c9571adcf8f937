//! What may not move to another node (a transaction pipeline, the transaction helper, a held
//! connection taken with `dedicated_for_key`) after its slot moved or its primary died: it
//! may fail once, but the client learns from it (a MOVED patches the slot map and asks for a
//! refresh, a node found down asks for one), so the next one goes to the slot's new owner.
//! The clients here refresh on demand only (no periodic refresh), so that nothing else finds
//! the change for them.
//!
//! The tests share this binary's cluster (`RedisCluster::shared`) and change it one at a time
//! (`CHANGES`), each on slots of its own.

mod support;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redcore::client::{Client, ClusterStats, Pipeline};
use redcore::config::Config;
use redcore::resp::Value;
use support::cluster::RedisCluster;
use support::keyslot::keys_in_slot;

/// Held while a test changes the shared cluster (moves a slot, kills a node).
static CHANGES: Mutex<()> = Mutex::new(());

/// Tries after a change: the first may fail, the next must not.
const ATTEMPTS: usize = 10;
const PAUSE: Duration = Duration::from_millis(50);

fn changing() -> MutexGuard<'static, ()> {
    CHANGES.lock().unwrap_or_else(|e| e.into_inner())
}

/// A client that refreshes its topology only when asked to.
fn client(cluster: &RedisCluster) -> Client {
    let mut config = Config::from_url(&cluster.url()).expect("the harness's URL parses");
    config.command_timeout = Some(Duration::from_secs(5));
    config.cluster.as_mut().unwrap().refresh_interval = None;
    Client::new(config).expect("the cluster client starts")
}

/// Runs `attempt` until it succeeds, `ATTEMPTS` times at most, `PAUSE` apart. Returns the
/// errors of the attempts that failed and how long it took; panics when none succeeded.
fn until_it_works(what: &str, mut attempt: impl FnMut() -> Result<(), String>) -> Vec<String> {
    let start = Instant::now();
    let mut errors = Vec::new();
    for _ in 0..ATTEMPTS {
        match attempt() {
            Ok(()) => {
                println!(
                    "{what}: worked after {} failure(s), {:?} after the change: {errors:?}",
                    errors.len(),
                    start.elapsed()
                );
                return errors;
            }
            Err(e) => errors.push(e),
        }
        std::thread::sleep(PAUSE);
    }
    panic!(
        "{what} failed {ATTEMPTS} times in {:?}: {errors:?}",
        start.elapsed()
    );
}

/// Waits up to 2 s for the client to have started a refresh since `before` (one asked for
/// right after another is deferred by the minimum gap between two).
fn refreshed_since(c: &Client, before: &ClusterStats) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while c.cluster_stats().unwrap().refreshes == before.refreshes {
        assert!(
            Instant::now() < deadline,
            "no refresh was asked for: {:?}",
            c.cluster_stats()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `MULTI; INCR key (each); EXEC` as a transaction pipeline.
fn transaction(keys: &[String]) -> Pipeline {
    let mut tx = Pipeline::transaction();
    for key in keys {
        tx.add(&["INCR", key]).expect("INCR is queued");
    }
    tx
}

/// Runs a transaction pipeline; every command must have run.
fn run(c: &Client, tx: &Pipeline) -> Result<(), String> {
    let result = c.run_pipeline(tx).map_err(|e| e.to_string())?;
    match result.first_error() {
        Some(e) => Err(e.to_string()),
        None => Ok(()),
    }
}

/// WATCH, MULTI, INCR, EXEC on a connection held on `key`'s node.
fn watch_multi_exec(c: &Client, key: &str) -> Result<(), String> {
    let mut held = c
        .dedicated_for_key(key.as_bytes())
        .map_err(|e| format!("dedicated_for_key: {e}"))?;
    for args in [&["WATCH", key][..], &["MULTI"], &["INCR", key]] {
        held.command(args)
            .map_err(|e| format!("{}: {e}", args[0]))?;
    }
    match held.command(&["EXEC"]).map(|r| r.to_value()) {
        Ok(Value::Array(results)) if results.len() == 1 => Ok(()),
        other => Err(format!("EXEC: {other:?}")),
    }
}

/// The transaction helper: WATCH key, GET it, INCR it in MULTI / EXEC.
fn helper(c: &Client, key: &str) -> Result<(), String> {
    c.transaction(&[key], 1, |tx| {
        tx.command(&["GET", key])?;
        tx.queue(&["INCR", key])
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The value of `key` on the node at `port` (not through the client).
fn value_on(cluster: &RedisCluster, port: u16, key: &str) -> Value {
    cluster.node(port).cmd_ok(&["GET", key])
}

/// Runs `attempt` (it must work), moves `slot` to another primary behind the client's back,
/// then runs `attempt` until it works: it may fail once, then it works again at once. The
/// MOVED is counted and a refresh is asked for. Returns the new owner's port.
fn after_a_move(
    cluster: &RedisCluster,
    c: &Client,
    slot: u16,
    what: &str,
    mut attempt: impl FnMut() -> Result<(), String>,
) -> u16 {
    attempt().unwrap_or_else(|e| panic!("{what} before the move: {e}"));
    let to = cluster.other_primary(cluster.owner_of_slot(slot));
    cluster.migrate_slot(slot, to);
    let before = c.cluster_stats().unwrap();
    let failed = until_it_works(&format!("{what} after the move"), &mut attempt);
    assert!(failed.len() <= 1, "{what}: {failed:?}");
    attempt().unwrap_or_else(|e| panic!("{what}, the next one: {e}"));
    let after = c.cluster_stats().unwrap();
    assert!(
        after.moved > before.moved,
        "MOVED was not counted: {after:?}"
    );
    refreshed_since(c, &before);
    to
}

/// `after_a_move` for `attempt` on a key of `slot`, with a client of its own.
fn on_a_key_after_a_move(slot: u16, what: &str, attempt: fn(&Client, &str) -> Result<(), String>) {
    let _changing = changing();
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let key = keys_in_slot(slot, 1).remove(0);
    let to = after_a_move(cluster, &c, slot, what, || attempt(&c, &key));
    // Before the move, after it, and the next one.
    assert_eq!(value_on(cluster, to, &key), Value::bulk("3"));
}

/// A transaction pipeline whose slot moved: its MOVED (a transaction is not sent elsewhere)
/// patches the slot map and asks for a refresh, so the next transaction runs on the new owner.
#[test]
fn a_transaction_pipeline_goes_to_the_new_owner_after_a_moved() {
    let incr = |c: &Client, key: &str| run(c, &transaction(&[key.to_string()]));
    on_a_key_after_a_move(1100, "a transaction pipeline", incr);
}

/// A held connection taken for a key whose slot moved: WATCH answers MOVED (a held connection
/// is not sent elsewhere), and the next `dedicated_for_key` takes one on the new owner.
#[test]
fn a_dedicated_connection_for_a_key_goes_to_the_new_owner_after_a_moved() {
    let what = "WATCH / MULTI / EXEC on dedicated_for_key";
    on_a_key_after_a_move(1200, what, watch_multi_exec);
}

/// The transaction helper, which holds a connection on the watched key's node, after that
/// key's slot moved.
#[test]
fn the_transaction_helper_goes_to_the_new_owner_after_a_moved() {
    on_a_key_after_a_move(1300, "the transaction helper", helper);
}

/// The primary of a transaction's slot is killed (SIGKILL) and its replica promoted: the
/// transactions sent meanwhile find the node down and ask for a refresh, so they run on the
/// promoted replica soon after the promotion, without the periodic refresh. The killed node is
/// started again at the end (it rejoins as a replica).
#[test]
fn transactions_run_on_the_promoted_replica_soon_after_a_failover() {
    let _changing = changing();
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let keys = keys_in_slot(1400, 2);
    let tx = transaction(&keys);
    run(&c, &tx).expect("a transaction before the failover");
    let victim = cluster.owner_of_slot(1400);
    let before = c.cluster_stats().unwrap();

    cluster.kill_primary(victim);
    let killed = Instant::now();
    let (promoted, promoted_at, worked_at, failures) = std::thread::scope(|s| {
        let promotion = s.spawn(|| {
            let port = cluster.wait_failover(victim);
            (port, Instant::now())
        });
        let mut failures: Vec<(Duration, String)> = Vec::new();
        let worked_at = loop {
            // While the cluster fails over they fail; once it has, they must work soon.
            let limit = Duration::from_secs(25);
            assert!(
                killed.elapsed() < limit,
                "no transaction worked in {limit:?} after the kill: {} failed, the last: {:?}",
                failures.len(),
                failures.last()
            );
            match run(&c, &tx) {
                Ok(()) => break Instant::now(),
                Err(e) => failures.push((killed.elapsed(), e)),
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let (port, at) = promotion.join().expect("the replica is promoted");
        (port, at, worked_at, failures)
    });
    println!(
        "failover of {victim} to {promoted}: promoted {:?} after the kill, the first \
         transaction worked {:?} after the kill; failed before (time after the kill, error): \
         {failures:?}",
        promoted_at - killed,
        worked_at - killed
    );
    assert!(
        worked_at <= promoted_at + Duration::from_secs(5),
        "the first transaction worked {:?} after the promotion",
        worked_at - promoted_at
    );
    run(&c, &tx).expect("the next transaction");
    watch_multi_exec(&c, &keys[0]).expect("a held connection on the promoted replica");
    refreshed_since(&c, &before);
    cluster.restart(victim);
}
