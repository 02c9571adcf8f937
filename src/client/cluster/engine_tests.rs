//! The engine half of a cluster client without a cluster: a client whose startup node does
//! not answer (nothing listens on port 1), and topologies given by hand, to check what the
//! engine does with them (what its node set holds, which completions run) where a live
//! cluster cannot be steered into the case.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use super::*;
use crate::client::Client;
use crate::config::Config;

/// A cluster client that never learns a topology by itself, and its engine.
fn lazy_cluster(tune: impl FnOnce(&mut Config)) -> (Client, Arc<Engine>) {
    let mut config = Config {
        endpoint: Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 1,
        },
        cluster: Some(ClusterOptions::default()),
        lazy_connect: true,
        ..Config::default()
    };
    tune(&mut config);
    let client = Client::new(config).expect("a lazy client starts");
    let engine = client.engine.clone();
    (client, engine)
}

/// A topology as a CLUSTER SLOTS reply gives it: `(first slot, last slot, port, hostname)`,
/// each range served by the node at `127.0.0.1:port` (named `hostname`, if any).
fn topology(ranges: &[(u16, u16, u16, Option<&str>)]) -> Topology {
    let ranges = ranges
        .iter()
        .map(|&(first, last, port, hostname)| {
            let mut node = vec![
                Value::bulk("127.0.0.1"),
                Value::Integer(i64::from(port)),
                Value::bulk(format!("{port:040}")),
            ];
            if let Some(name) = hostname {
                node.push(Value::Map(vec![(
                    Value::bulk("hostname"),
                    Value::bulk(name),
                )]));
            }
            let (first, last) = (i64::from(first), i64::from(last));
            Value::Array(vec![
                Value::Integer(first),
                Value::Integer(last),
                Value::Array(node),
            ])
        })
        .collect();
    let reply = Reply::from_value(&Value::Array(ranges));
    let asked = NodeAddr::new("127.0.0.1", 7000);
    Topology::from_cluster_slots(reply.value(), &asked, &|a| a.clone()).expect("a topology")
}

/// Publishes `topology` as a refresh does.
fn publish(engine: &Engine, topology: Topology) {
    let _publishing = engine.cluster().publish.lock().unwrap();
    let nodes = engine.nodes.load_full();
    engine.publish_topology(&nodes, topology);
}

/// A caller that routed with the node set of a moment ago sends a blocking command to a node
/// that has left since: it must be refused (and routed again) or complete, never wait in the
/// retired pool, where nothing hands out connections, expires waiters or fails them on close.
#[test]
fn a_blocking_command_for_a_node_that_left_never_waits_forever() {
    let (client, engine) = lazy_cluster(|c| c.max_dedicated_connections = 1);
    let leaving = engine.nodes.load().pools[0].clone();
    // Its one dedicated connection is held: a blocking command for it would wait.
    let _held = engine.acquire_held(&leaving).expect("a connection to hold");
    publish(&engine, topology(&[(0, 16383, 7001, None)]));
    let ran = Arc::new(AtomicBool::new(false));
    let flag = ran.clone();
    let completion = Completion::Boxed(Box::new(move |_| flag.store(true, Ordering::SeqCst)));
    let write = |buf: &mut Vec<u8>| encode_command(buf, &["BLPOP", "k", "0"]);
    let meta = RequestMeta::default();
    let refused = engine
        .submit_dedicated(&leaving, write, completion, meta)
        .is_err();
    // Closing runs every completion still pending.
    drop(engine);
    drop(client);
    assert!(
        refused || ran.load(Ordering::SeqCst),
        "the command waits in the pool of a node that left, and never completes"
    );
}

#[test]
fn a_fan_out_to_no_node_completes() {
    let (_client, engine) = lazy_cluster(|_| {});
    let (tx, rx) = mpsc::channel();
    let done = move |replies: Vec<Result<Reply>>| {
        let _ = tx.send(replies.len());
    };
    engine.scatter(
        &[],
        Vec::new(),
        Box::new(done),
        RequestMeta::default(),
        true,
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(0));
}

/// A node first met in a MOVED is known by its address only; the refresh that follows gives
/// its announced hostname, the name its TLS certificate holds. Its connections must check
/// that name, not the address the MOVED gave (which fails against such a certificate, for as
/// long as the pool lives).
#[cfg(feature = "tls")]
#[test]
fn a_node_first_named_by_moved_gets_its_tls_name_from_the_next_topology() {
    let (_client, engine) = lazy_cluster(|c| c.tls = true);
    publish(&engine, topology(&[(0, 16383, 7001, Some("node1.test"))]));
    engine.apply_moved(5, &NodeAddr::new("127.0.0.1", 7002), None);
    let node2 = |engine: &Engine| {
        let nodes = engine.nodes.load();
        let port = |p: &&Arc<NodePool>| matches!(&p.endpoint, Endpoint::Tcp { port: 7002, .. });
        nodes.pools.iter().find(port).map(|p| p.server_name.clone())
    };
    assert_eq!(
        node2(&engine),
        Some(None),
        "MOVED named the node by its address"
    );
    publish(
        &engine,
        topology(&[
            (0, 4, 7001, Some("node1.test")),
            (5, 5, 7002, Some("node2.test")),
            (6, 16383, 7001, Some("node1.test")),
        ]),
    );
    assert_eq!(node2(&engine), Some(Some("node2.test".to_string())));
}

static MULTI_DONE: AtomicBool = AtomicBool::new(false);

/// A command of a held connection belongs to it: given back with that command unanswered,
/// and closed without a socket, the connection must fail it, never hand it over to be sent
/// on a shared connection (a MULTI there would queue every other caller's commands).
#[test]
fn a_held_connections_command_is_never_sent_elsewhere() {
    // Retries, so that the held connection does not refuse the MULTI: it fails only later.
    let (client, engine) = lazy_cluster(|c| c.retry.retries = 3);
    publish(&engine, topology(&[(0, 16383, 1, None)]));
    let mut held = client
        .dedicated_for_key(b"k")
        .expect("a connection to hold");
    let done = |_: [usize; 2], _: Result<Reply>| MULTI_DONE.store(true, Ordering::SeqCst);
    held.submit_raw(&["MULTI"], done, [0, 0])
        .expect("MULTI queued");
    // Given back while the MULTI waits for a connection that never comes up: it is closed.
    drop(held);
    let stats = || engine.cluster().stats();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !MULTI_DONE.load(Ordering::SeqCst) && stats().connection_retries == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the MULTI never completed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        stats().connection_retries,
        0,
        "the MULTI was sent elsewhere"
    );
}

/// The server's COMMAND table is asked for once per client, and again with the next topology
/// when the ask fails; one that could not even be sent must not count as asked.
#[test]
fn a_command_table_ask_that_cannot_be_sent_is_made_again_later() {
    let (_client, engine) = lazy_cluster(|c| c.retry.retries = 0);
    publish(&engine, topology(&[(0, 16383, 1, None)]));
    let conn = engine.nodes.load().pools[0].conns[0].clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while conn.lock().refuses(&engine.config).is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the connection never failed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    engine.fetch_command_table();
    let fetched = engine.cluster().table_fetched.load(Ordering::SeqCst);
    assert!(!fetched, "the table counts as asked for, and never will be");
}

/// With several reactors, one may have shut down while another still runs engine code that
/// delivers completions (a retry that ran out, a fan-out part that could not be sent): they
/// must run, not go to the stopped reactor's dropped queue.
#[test]
fn completions_delivered_from_a_reactor_run_when_the_first_has_stopped() {
    let (client, engine) = lazy_cluster(|c| c.reactor_threads = 2);
    engine.reactors[0].notify(Msg::Shutdown);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !client.threads[0].is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "reactor 0 never stopped"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (tx, rx) = mpsc::channel();
    let delivered = Completion::Boxed(Box::new(move |_| {
        let _ = tx.send(());
    }));
    let on_reactor_1 = engine.clone();
    let deliver = Completion::Boxed(Box::new(move |_| {
        on_reactor_1.deliver_now(vec![(delivered, Err(no_topology(None)))]);
    }));
    let msg = Msg::Deliver(vec![(deliver, Err(no_topology(None)))], Vec::new());
    engine.reactors[1].notify(msg);
    let ran = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(ran, Ok(()), "the completion was dropped unrun");
}
