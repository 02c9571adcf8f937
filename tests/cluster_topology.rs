//! `Topology` read from a real 3 primaries + 3 replicas Redis Cluster that this test creates
//! (`redis-cli --cluster create`): `CLUSTER SHARDS` and `CLUSTER SLOTS`, in RESP2 and RESP3,
//! asked of every node, must describe what `CLUSTER NODES` says; a MOVED reply patches the
//! topology to what the cluster says; after a primary is killed and its replica promoted,
//! the refreshed topology routes its slots to the replica and marks the dead node.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use redcore::error::{Error, ErrorKind};
use redcore::resp::{Reply, Value};
use redcore::route::slot::{key_slot, SLOT_COUNT};
use redcore::route::topology::{NodeAddr, Topology};
use support::{RedisServer, HOST};

/// How long the cluster gets to form, and later to fail over (node timeout 1 s).
const SETTLE: Duration = Duration::from_secs(60);

fn start_node() -> RedisServer {
    RedisServer::builder()
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "{dir}/nodes.conf"])
        .args(["--cluster-node-timeout", "1000"])
        .args(["--repl-diskless-sync-delay", "0"])
        .start()
}

/// Polls `done` every 100 ms until it holds; panics with `what` after `SETTLE`.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + SETTLE;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn addr(server: &RedisServer) -> NodeAddr {
    NodeAddr::new(HOST, server.port())
}

fn same(addr: &NodeAddr) -> NodeAddr {
    addr.clone()
}

/// A command's reply over a connection speaking `protocol`.
fn ask(server: &RedisServer, protocol: &str, args: &[&str]) -> Value {
    let mut conn = server.connect().expect("connect");
    conn.command(&["HELLO", protocol]).expect("HELLO");
    conn.command(args).expect("reply")
}

fn from_shards(server: &RedisServer, protocol: &str) -> Topology {
    let reply = Reply::from_value(&ask(server, protocol, &["CLUSTER", "SHARDS"]));
    Topology::from_cluster_shards(reply.value(), &addr(server), false, &same)
        .expect("CLUSTER SHARDS reads")
}

fn from_slots(server: &RedisServer, protocol: &str) -> Topology {
    let reply = Reply::from_value(&ask(server, protocol, &["CLUSTER", "SLOTS"]));
    Topology::from_cluster_slots(reply.value(), &addr(server), &same).expect("CLUSTER SLOTS reads")
}

/// `(start, end, primary port, replica ports sorted)` per slot range.
type Layout = Vec<(u16, u16, u16, Vec<u16>)>;

fn layout(t: &Topology) -> Layout {
    t.slot_ranges()
        .map(|(start, end, shard)| {
            let shard = &t.shards()[shard];
            let mut replicas: Vec<u16> = shard
                .replicas
                .iter()
                .map(|&r| t.node(r).addr.port)
                .collect();
            replicas.sort();
            (start, end, t.node(shard.primary).addr.port, replicas)
        })
        .collect()
}

/// The same, from `CLUSTER NODES` (`id host:port@bus flags primary-id ... slot ranges`),
/// counting only nodes that are not flagged `fail`.
fn layout_from_nodes(server: &RedisServer) -> Layout {
    let text = support::text(&server.cmd(&["CLUSTER", "NODES"])).to_owned();
    struct Line {
        id: String,
        port: u16,
        primary_id: String,
        failed: bool,
        ranges: Vec<(u16, u16)>,
    }
    let lines: Vec<Line> = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let host_port = f[1].split('@').next().unwrap();
            let port = host_port.rsplit(':').next().unwrap().parse().unwrap();
            let ranges = f[8..]
                .iter()
                .filter(|r| !r.starts_with('['))
                .map(|r| match r.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (r.parse().unwrap(), r.parse().unwrap()),
                })
                .collect();
            Line {
                id: f[0].into(),
                port,
                primary_id: f[3].into(),
                failed: f[2].split(',').any(|flag| flag == "fail"),
                ranges,
            }
        })
        .collect();
    let mut layout: Layout = Vec::new();
    for primary in &lines {
        let mut replicas: Vec<u16> = lines
            .iter()
            .filter(|r| r.primary_id == primary.id && !r.failed)
            .map(|r| r.port)
            .collect();
        replicas.sort();
        for &(start, end) in &primary.ranges {
            layout.push((start, end, primary.port, replicas.clone()));
        }
    }
    layout.sort();
    layout
}

fn cluster_info_ok(server: &RedisServer) -> bool {
    matches!(server.try_cmd(&["CLUSTER", "INFO"]), Ok(Value::Bulk(b) | Value::Verbatim(_, b))
        if String::from_utf8_lossy(&b).contains("cluster_state:ok"))
}

#[test]
fn topology_of_a_real_cluster_through_moved_and_failover() {
    let mut nodes: Vec<RedisServer> = (0..6).map(|_| start_node()).collect();
    let mut create = Command::new("redis-cli");
    create.arg("--cluster").arg("create");
    for node in &nodes {
        create.arg(node.addr());
    }
    let out = create
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Formed: every node says ok, and every node lists all six, every replica online.
    wait_until("every node sees a healthy 3 + 3 cluster", || {
        nodes.iter().all(|n| {
            cluster_info_ok(n) && {
                let t = from_shards(n, "3");
                t.nodes().len() == 6
                    && t.nodes().iter().all(|n| n.healthy)
                    && from_slots(n, "3").nodes().len() == 6
            }
        })
    });

    let expected = layout_from_nodes(&nodes[0]);
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert!(expected
        .iter()
        .all(|(_, _, _, replicas)| replicas.len() == 1));
    let reference = from_shards(&nodes[0], "3");
    for node in &nodes {
        for protocol in ["2", "3"] {
            for (what, t) in [
                ("SHARDS", from_shards(node, protocol)),
                ("SLOTS", from_slots(node, protocol)),
            ] {
                let context = format!("CLUSTER {what} from :{} in RESP{protocol}", node.port());
                assert_eq!(layout(&t), expected, "{context}");
                assert_eq!(t.covered_slots(), SLOT_COUNT, "{context}");
                assert_eq!(t.primaries().count(), 3, "{context}");
                assert!(t
                    .nodes()
                    .iter()
                    .all(|n| n.id.as_ref().is_some_and(|id| id.len() == 40)));
                assert!(t.same_shape(&reference), "{context}: another shape");
            }
        }
    }

    // MOVED: a key asked of a node that does not serve it. The patched topology sends its
    // slot where the cluster says, and that node serves the key.
    let key = "route-test-key";
    let slot = key_slot(key.as_bytes());
    let owner = reference
        .node(reference.slot_shard(slot).unwrap().primary)
        .addr
        .clone();
    let stranger = nodes.iter().find(|n| addr(n) != owner).unwrap();
    let Value::Error(moved) = stranger.cmd(&["GET", key]) else {
        panic!("no MOVED from a node that does not own slot {slot}");
    };
    let moved = Error::from_server_reply(&moved);
    assert!(moved.is(ErrorKind::Moved), "{moved}");
    let redirect = moved.redirect().expect("parsed target").clone();
    assert_eq!(redirect.slot, slot);
    let target = NodeAddr::new(redirect.host, redirect.port);
    let patched = reference.with_moved(slot, &target);
    assert_eq!(
        patched.node(patched.slot_shard(slot).unwrap().primary).addr,
        owner
    );
    assert!(
        patched.same_shape(&reference),
        "MOVED to the known owner changes nothing"
    );

    // Failover: kill -9 the owner; its replica takes over.
    let victim = nodes.iter().position(|n| addr(n) == owner).unwrap();
    let replica_port = expected.iter().find(|r| r.2 == owner.port).unwrap().3[0];
    nodes[victim].kill();
    let survivor = &nodes[(victim + 1) % 6];
    wait_until("the replica is promoted and the cluster is ok", || {
        cluster_info_ok(survivor)
            && layout_from_nodes(survivor)
                .iter()
                .any(|r| r.2 == replica_port)
    });
    wait_until("CLUSTER SHARDS marks the killed node", || {
        let t = from_shards(survivor, "3");
        t.node_index(&owner).is_some_and(|i| !t.node(i).healthy)
    });
    for protocol in ["2", "3"] {
        let t = from_shards(survivor, protocol);
        let serving = t.node(t.require_slot(slot).unwrap().primary);
        assert_eq!(serving.addr.port, replica_port, "RESP{protocol}");
        assert!(serving.primary && serving.healthy);
        assert_eq!(t.covered_slots(), SLOT_COUNT);
        let mut primaries: Vec<u16> = t.primaries().map(|p| t.node(p).addr.port).collect();
        primaries.sort();
        assert_eq!(
            primaries.len(),
            3,
            "the dead primary serves no slot: {primaries:?}"
        );
        assert!(!primaries.contains(&owner.port));
        let s = from_slots(survivor, protocol);
        assert_eq!(layout(&s), layout(&t), "SLOTS agrees (RESP{protocol})");
        assert!(!t.same_shape(&reference));
        // What the engine would learn from a MOVED to the promoted replica before any
        // refresh: the old topology, patched, serves the slot from the replica too.
        let guessed = reference.with_moved(slot, &NodeAddr::new(HOST, replica_port));
        assert_eq!(
            guessed
                .node(guessed.slot_shard(slot).unwrap().primary)
                .addr
                .port,
            replica_port
        );
    }
}
