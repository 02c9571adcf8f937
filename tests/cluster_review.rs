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
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::Config;
use redcore::resp::Value;
use redcore::ErrorKind;
use support::cluster::RedisCluster;
use support::cluster_state::{parse_cluster_nodes, Role};
use support::keyslot::key_in_slot;
use support::{text, RedisServer};

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

fn client(cluster: &RedisCluster) -> Client {
    Client::new(config(cluster)).expect("the cluster client starts")
}

/// Polls `check` every 20 ms until it holds, for at most `limit`; panics naming `what`.
fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A slot the node at `port` owns (not `except`).
fn slot_owned_by(cluster: &RedisCluster, port: u16, except: u16) -> u16 {
    cluster
        .slot_map()
        .slots_of(&cluster.id_of(port))
        .into_iter()
        .find(|&s| s != except)
        .expect("the node owns a slot")
}

/// True when the node at `port` has a client blocked in BLPOP.
fn blocks_a_blpop(cluster: &RedisCluster, port: u16) -> bool {
    let list = cluster.node(port).cmd_ok(&["CLIENT", "LIST"]);
    text(&list).lines().any(|l| l.contains("cmd=blpop"))
}

/// Submits `GET key` and waits up to 8 s for its reply (`None`: none came).
fn get_within(c: &Client, key: &str) -> Option<redcore::Result<Value>> {
    let (tx, rx) = mpsc::channel();
    c.submit(&["GET", key], move |r| {
        let _ = tx.send(r.map(|r| r.to_value()));
    })
    .expect("GET submitted");
    rx.recv_timeout(Duration::from_secs(8)).ok()
}

/// A BLPOP on a thread of its own, up to `secs` seconds.
fn blpop(
    c: &Arc<Client>,
    list: &str,
    secs: &str,
) -> std::thread::JoinHandle<redcore::Result<Value>> {
    let (c, list, secs) = (c.clone(), list.to_string(), secs.to_string());
    std::thread::spawn(move || c.command(&["BLPOP", &list, &secs]).map(|r| r.to_value()))
}

/// A client made before a slot moves, the slot's current owner (`from`) and another primary
/// (`to`), a list key of the slot, and a key `to` serves all along (`probe`, set to "here").
struct Moving {
    c: Arc<Client>,
    from: u16,
    to: u16,
    list: String,
    probe: String,
}

fn moving(cluster: &RedisCluster, slot: u16) -> Moving {
    let c = Arc::new(client(cluster));
    let from = cluster.owner_of_slot(slot);
    let to = cluster.other_primary(from);
    let probe = key_in_slot(slot_owned_by(cluster, to, slot));
    cluster.node(to).cmd_ok(&["SET", &probe, "here"]);
    Moving {
        c,
        from,
        to,
        list: key_in_slot(slot),
        probe,
    }
}

/// A BLPOP of `m.list` that `m.to` ends up blocking, and meanwhile a GET of `m.probe`, which
/// must be answered before `push` serves the BLPOP: sent on a connection `to` blocks, it would
/// wait behind the BLPOP.
fn get_beside_a_blocked_blpop(cluster: &RedisCluster, m: &Moving, push: impl FnOnce()) {
    let popper = blpop(&m.c, &m.list, "30");
    wait_until(
        "the BLPOP to block on its new node",
        Duration::from_secs(10),
        || blocks_a_blpop(cluster, m.to),
    );
    let got = get_within(&m.c, &m.probe);
    push();
    let popped = popper.join().unwrap().expect("BLPOP served");
    assert_eq!(
        popped,
        Value::Array(vec![Value::bulk(m.list.as_bytes()), Value::bulk("item")])
    );
    match got {
        Some(Ok(v)) => assert_eq!(v, Value::bulk("here")),
        other => panic!(
            "GET on {} waited behind the redirected BLPOP (it went to the shared \
             connection): {other:?}",
            m.to
        ),
    }
}

/// MOVED on a blocking command: the BLPOP first goes (on a dedicated connection) to the node
/// the client believes owns its slot, which answers MOVED; it must be sent on to the new owner
/// on a dedicated connection too. Sent on the owner's shared connection, it holds back every
/// other command of that connection until it is served.
#[test]
fn a_blocking_command_redirected_by_moved_keeps_off_the_shared_connection() {
    let _changing = changing();
    let cluster = RedisCluster::shared();
    let m = moving(cluster, 100);
    // The client still routes the slot to `from`.
    cluster.migrate_slot(100, m.to);
    get_beside_a_blocked_blpop(cluster, &m, || {
        cluster.node(m.to).cmd_ok(&["RPUSH", &m.list, "item"]);
    });
    assert!(m.c.cluster_stats().unwrap().moved >= 1, "MOVED was met");
}

/// ASK on a blocking command: during a migration the source answers ASK for a key it does not
/// have; ASKING and the BLPOP must go to the importing node on a dedicated connection.
#[test]
fn a_blocking_command_redirected_by_ask_keeps_off_the_shared_connection() {
    let _changing = changing();
    let cluster = RedisCluster::shared();
    let m = moving(cluster, 200);
    cluster.migrate_slot_begin(200, m.from, m.to);
    get_beside_a_blocked_blpop(cluster, &m, || {
        // The list is made on the importing node (ASKING lets it take the slot's key).
        let mut conn = cluster.node(m.to).connect().expect("connect");
        conn.command(&["ASKING"]).expect("ASKING");
        let pushed = conn.command(&["RPUSH", &m.list, "item"]).expect("RPUSH");
        assert_eq!(pushed, Value::Integer(1));
    });
    cluster.migrate_keys(200, m.from, m.to, 100);
    cluster.migrate_slot_end(200, m.to);
    assert!(m.c.cluster_stats().unwrap().ask >= 1, "ASK was met");
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
    cluster.migrate_slot(slot, cluster.other_primary(from));

    let got = once.command(&["GET", &key]);
    assert_eq!(
        got.map(|r| r.to_value()).map_err(|e| e.to_string()),
        Ok(Value::bulk("v")),
        "max_redirects 1 follows one MOVED"
    );
    let err = never.command(&["GET", &key]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cluster, "{err}");
}

/// A replica that died stays in the topology, flagged failed, until an operator forgets it. A
/// command for every node (SCRIPT LOAD, CONFIG SET) must not fail because of it, and a command
/// for any node (ECHO) must not be sent to it.
#[test]
fn fan_outs_and_any_node_commands_leave_a_failed_node_out() {
    let _changing = changing();
    let cluster = RedisCluster::shared();
    let replica = cluster
        .nodes()
        .into_iter()
        .find(|n| n.role == Role::Replica && n.running)
        .expect("a running replica");
    cluster.kill(replica.port);
    wait_until(
        "every running node to flag the killed replica fail",
        Duration::from_secs(30),
        || {
            cluster.live_ports().into_iter().all(|port| {
                let nodes = cluster.node(port).cmd_ok(&["CLUSTER", "NODES"]);
                parse_cluster_nodes(text(&nodes)).is_ok_and(|nodes| {
                    nodes
                        .iter()
                        .any(|n| n.id == replica.id && n.flags.iter().any(|f| f == "fail"))
                })
            })
        },
    );
    let mut config = config(cluster);
    config.cluster.as_mut().unwrap().refresh_interval = None;
    let c = Client::new(config).expect("the cluster client starts");

    let loaded = c.command(&["SCRIPT", "LOAD", "return 7"]);
    assert!(
        loaded.is_ok(),
        "SCRIPT LOAD failed on the dead replica: {:?}",
        loaded.err()
    );
    let refreshes = c.cluster_stats().unwrap().refreshes;
    // Submitted (a blocking call may try the direct path first, which routes it once more).
    let (tx, rx) = mpsc::channel();
    for i in 0..12 {
        let tx = tx.clone();
        c.submit(&["ECHO", &i.to_string()], move |r| {
            let _ = tx.send((i, r.map(|r| r.to_value())));
        })
        .expect("ECHO submitted");
    }
    for _ in 0..12 {
        let (i, echoed) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("ECHO answered");
        assert_eq!(echoed.expect("ECHO"), Value::bulk(i.to_string()));
    }
    // An ECHO sent to the dead node is retried elsewhere after a refresh: none may be.
    assert_eq!(
        c.cluster_stats().unwrap().refreshes,
        refreshes,
        "an ECHO went to the failed replica"
    );
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

/// The callback of `cancelled_blpop_on_a_cluster`: ctx[0] is a leaked `Sender`.
fn report_kind(ctx: [usize; 2], result: redcore::Result<redcore::resp::Reply>) {
    // SAFETY: ctx[0] is a `Box<mpsc::Sender<..>>` leaked by the test, alive for the binary.
    let tx = unsafe { &*(ctx[0] as *const mpsc::Sender<Result<Value, ErrorKind>>) };
    let _ = tx.send(result.map(|r| r.to_value()).map_err(|e| e.kind()));
}

/// A blocking command cancelled on a cluster client ends on its node too: the node's
/// dedicated connection is closed (no BLPOP left blocked there, a push stays in the list).
#[test]
fn cancelled_blpop_on_a_cluster() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let (tx, rx) = mpsc::channel::<Result<Value, ErrorKind>>();
    let tx = Box::into_raw(Box::new(tx)) as usize;
    let list = format!("{{{}}}:cancelled", key_in_slot(777));
    let port = cluster.owner_of_slot(777);
    c.submit_raw(&["BLPOP", &list, "0"], report_kind, [tx, 1])
        .unwrap();
    wait_until("the BLPOP to block", Duration::from_secs(5), || {
        blocks_a_blpop(cluster, port)
    });
    assert_eq!(c.cancel_raw(report_kind, [tx, 1]).unwrap(), 1);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(2)).unwrap(),
        Err(ErrorKind::Cancelled)
    );
    wait_until("the node to drop the BLPOP", Duration::from_secs(5), || {
        !blocks_a_blpop(cluster, port)
    });
    cluster.node(port).cmd_ok(&["RPUSH", &list, "kept"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        cluster.node(port).cmd_ok(&["LLEN", &list]),
        Value::Integer(1)
    );
    cluster.node(port).cmd_ok(&["DEL", &list]);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
}
