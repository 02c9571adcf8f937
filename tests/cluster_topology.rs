//! `Topology` read from a real 3 primaries + 3 replicas Redis Cluster that this test creates
//! (`redis-cli --cluster create`): `CLUSTER SHARDS` and `CLUSTER SLOTS`, in RESP2 and RESP3,
//! asked of every node, must describe what `CLUSTER NODES` says; commands sent where `plan`
//! says are served without MOVED, and fan-out merges, split joins and the cluster SCAN walk
//! come back whole; a MOVED reply patches the topology to what the cluster says; after a
//! primary is killed and its replica promoted, the refreshed topology routes its slots to
//! the replica and marks the dead node.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use redcore::error::{Error, ErrorKind};
use redcore::resp::{Reply, Value};
use redcore::route::cluster::{
    join_split, merge, plan, scan_cursor_decode, scan_reply, scan_target, Target,
};
use redcore::route::keys::{CommandTable, Merge};
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

    commands_routed_by_the_plans(&nodes, &reference);

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

/// The node of `nodes` at a topology node's address.
fn server<'a>(nodes: &'a [RedisServer], t: &Topology, node: usize) -> &'a RedisServer {
    let port = t.node(node).addr.port;
    nodes
        .iter()
        .find(|n| n.port() == port)
        .expect("a node we started")
}

fn send(server: &RedisServer, args: &[&[u8]]) -> Reply {
    let mut conn = server.connect().expect("connect");
    Reply::from_value(&conn.command(args).expect("reply"))
}

/// The plans, the merges, the split joins and the SCAN walk on the live cluster: commands
/// sent where `plan` says are served there (no MOVED), fan-outs and splits come back whole.
fn commands_routed_by_the_plans(nodes: &[RedisServer], t: &Topology) {
    let table = CommandTable::builtin();
    let keys: Vec<String> = (0..1000).map(|i| format!("plan:{i}")).collect();
    // 1000 SETs, each sent to the primary of the slot its plan names, pipelined per node.
    let mut per_node: Vec<Vec<u8>> = vec![Vec::new(); t.nodes().len()];
    let mut counts = vec![0usize; t.nodes().len()];
    for (i, key) in keys.iter().enumerate() {
        let value = i.to_string();
        let args: [&[u8]; 3] = [b"SET", key.as_bytes(), value.as_bytes()];
        let Target::Slot(slot) = plan(&table, &args).unwrap().target else {
            panic!("SET {key}: not one slot");
        };
        let node = t.require_slot(slot).unwrap().primary;
        redcore::resp::encode_command(&mut per_node[node], &args);
        counts[node] += 1;
    }
    for (node, frame) in per_node.iter().enumerate() {
        if counts[node] == 0 {
            continue;
        }
        let mut conn = server(nodes, t, node).connect().unwrap();
        conn.send_raw(frame).unwrap();
        for _ in 0..counts[node] {
            assert_eq!(
                conn.read_reply().unwrap(),
                Value::simple("OK"),
                "node :{}",
                t.node(node).addr.port
            );
        }
    }

    // Fan-outs: DBSIZE summed, KEYS joined over the primaries.
    let fan_out = |args: &[&[u8]]| {
        let target = plan(&table, args).unwrap().target;
        let (Target::AllPrimaries(how) | Target::AllNodes(how)) = target else {
            panic!("{target:?}");
        };
        let targets: Vec<usize> = match target {
            Target::AllPrimaries(_) => t.primaries().collect(),
            _ => t.all_nodes().collect(),
        };
        let replies = targets
            .iter()
            .map(|&n| Ok(send(server(nodes, t, n), args)))
            .collect();
        (how, merge(how, replies).unwrap().to_value())
    };
    assert_eq!(fan_out(&[b"DBSIZE"]), (Merge::Sum, Value::Integer(1000)));
    let (how, Value::Array(all)) = fan_out(&[b"KEYS", b"plan:*"]) else {
        panic!("KEYS");
    };
    assert_eq!(how, Merge::Concat);
    assert_eq!(all.len(), 1000);
    let script = b"return 1";
    let (how, sha) = fan_out(&[b"SCRIPT", b"LOAD", script]);
    assert_eq!(how, Merge::AllOk);
    let sha = support::text(&sha).to_owned();
    let (how, exists) = fan_out(&[b"SCRIPT", b"EXISTS", sha.as_bytes(), b"0000"]);
    assert_eq!(how, Merge::LogicalAnd);
    assert_eq!(
        exists,
        Value::Array(vec![Value::Integer(1), Value::Integer(0)])
    );

    // A split MGET: the values come back in the caller's key order.
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(keys[..40].iter().map(|k| k.as_bytes()));
    mget.push(b"plan:missing");
    let mut expected: Vec<Value> = (0..40).map(|i| Value::bulk(i.to_string())).collect();
    expected.push(Value::Null);
    assert_eq!(split(nodes, t, &table, &mget), Value::Array(expected));

    // A cluster SCAN from "0" to "0" finds every key once.
    let mut cursor = b"0".to_vec();
    let mut found = Vec::new();
    for step in 0.. {
        assert!(step < 10_000, "the scan does not end");
        let Some((shard, at)) = scan_target(t, scan_cursor_decode(&cursor).unwrap()) else {
            break;
        };
        let node_cursor = at.cursor.to_string();
        let args: [&[u8]; 6] = [
            b"SCAN",
            node_cursor.as_bytes(),
            b"MATCH",
            b"plan:*",
            b"COUNT",
            b"50",
        ];
        let node_reply = send(server(nodes, t, t.shards()[shard].primary), &args);
        let Value::Array(reply) = scan_reply(t, at, &node_reply).unwrap().to_value() else {
            panic!("SCAN reply");
        };
        let Value::Array(batch) = &reply[1] else {
            panic!("keys")
        };
        found.extend(batch.iter().map(|k| support::text(k).to_owned()));
        cursor = support::bytes(&reply[0]).to_vec();
        if cursor == b"0" {
            break;
        }
    }
    found.sort();
    found.dedup();
    let mut all_keys = keys.clone();
    all_keys.sort();
    assert_eq!(found, all_keys);

    // A split DEL sums what each slot deleted.
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().map(|k| k.as_bytes()));
    assert_eq!(split(nodes, t, &table, &del), Value::Integer(1000));
}

/// A command split per slot: each part sent to its slot's primary, the replies joined.
fn split(nodes: &[RedisServer], t: &Topology, table: &CommandTable, argv: &[&[u8]]) -> Value {
    let Target::Split { kind, parts } = plan(table, argv).unwrap().target else {
        panic!("{:?} is not split", String::from_utf8_lossy(argv[0]));
    };
    assert!(parts.len() > 1);
    let replies = parts
        .iter()
        .map(|part| {
            let mut args: Vec<&[u8]> = vec![argv[0]];
            args.extend(part.args.iter().map(|&i| argv[i as usize]));
            let primary = t.require_slot(part.slot).unwrap().primary;
            Ok(send(server(nodes, t, primary), &args))
        })
        .collect();
    join_split(kind, &parts, argv.len(), replies)
        .unwrap()
        .to_value()
}
