//! Checks of the cluster harness itself (tests/support/cluster.rs): what the cluster tests rely
//! on when they ask where a slot lives, migrate slots, kill primaries and add nodes.

mod support;

use std::collections::HashSet;
use std::time::Instant;

use redcore::resp::Value;
use support::cluster::RedisCluster;
use support::cluster_state::{parse_cluster_slots, Role};
use support::keyslot::{
    crc16, hash_tag, key_in_slot, key_slot, keys_in_slot, keys_in_slots, SLOTS,
};
use support::text;

/// Asks the server which slot `key` is in.
fn server_slot(cluster: &RedisCluster, port: u16, key: &str) -> u16 {
    match cluster.node(port).cmd_ok(&["CLUSTER", "KEYSLOT", key]) {
        Value::Integer(n) => u16::try_from(n).expect("slot fits u16"),
        other => panic!("CLUSTER KEYSLOT answered {other:?}"),
    }
}

fn count_keys(cluster: &RedisCluster, port: u16, slot: u16) -> i64 {
    match cluster
        .node(port)
        .cmd_ok(&["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
    {
        Value::Integer(n) => n,
        other => panic!("COUNTKEYSINSLOT answered {other:?}"),
    }
}

/// The error text of a reply that must be an error.
fn error_text(reply: Value) -> String {
    match reply {
        Value::Error(e) => String::from_utf8_lossy(&e).into_owned(),
        other => panic!("expected an error reply, got {other:?}"),
    }
}

/// Writes `keys` (value = key) through the node that owns their slot.
fn write_keys(cluster: &RedisCluster, keys: &[String]) {
    for key in keys {
        let owner = cluster.owner_of_slot(key_slot(key));
        assert_eq!(
            cluster.node(owner).cmd(&["SET", key, key]),
            Value::simple("OK")
        );
    }
}

#[test]
fn key_slot_agrees_with_the_server() {
    assert_eq!(crc16(b"123456789"), 0x31C3);
    assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
    assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
    assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
    assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");

    let cluster = RedisCluster::shared();
    let port = cluster.ports()[0];
    let mut keys: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    keys.extend(
        [
            "",
            "{",
            "}",
            "{}",
            "{}x",
            "a{b}c",
            "{a}{b}",
            "{{a}}",
            "user:{42}:name",
            "é{ü}",
        ]
        .map(str::to_owned),
    );
    for key in &keys {
        assert_eq!(
            key_slot(key),
            server_slot(cluster, port, key),
            "key {key:?}"
        );
    }
    for slot in [0, 1, 5460, 5461, 8191, 12345, SLOTS - 1] {
        let key = key_in_slot(slot);
        assert!(!key.contains('{'), "{key}");
        assert_eq!(server_slot(cluster, port, &key), slot);
        let tagged = keys_in_slot(slot, 3);
        assert_eq!(tagged.iter().collect::<HashSet<_>>().len(), 3);
        for key in &tagged {
            assert_eq!(server_slot(cluster, port, key), slot, "{key}");
        }
    }
    let spread = keys_in_slots([7, 8, 9], 2);
    assert_eq!(
        spread.iter().map(key_slot).collect::<Vec<_>>(),
        [7, 7, 8, 8, 9, 9]
    );
}

#[test]
fn shared_cluster_is_ready_and_described() {
    let cluster = RedisCluster::shared();
    assert!(std::ptr::eq(cluster, RedisCluster::shared()));

    let nodes = cluster.nodes();
    assert_eq!(nodes.len(), 6, "{nodes:#?}");
    assert!(nodes.iter().all(|n| n.running && !n.failing()));
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3, "{primaries:#?}");
    let covered: usize = primaries
        .iter()
        .flat_map(|p| &p.slots)
        .map(|&(lo, hi)| usize::from(hi - lo) + 1)
        .sum();
    assert_eq!(covered, usize::from(SLOTS));
    for primary in &primaries {
        let replicas = cluster.replicas_of(&primary.id);
        assert_eq!(
            replicas.len(),
            1,
            "replicas of {}: {replicas:#?}",
            primary.port
        );
        assert_eq!(replicas[0].role, Role::Replica);
        let info = text(
            &cluster
                .node(replicas[0].port)
                .cmd_ok(&["INFO", "replication"]),
        )
        .to_owned();
        assert!(info.contains("master_link_status:up"), "{info}");
        assert!(
            info.contains(&format!("master_port:{}", primary.port)),
            "{info}"
        );
        assert_eq!(cluster.id_of(primary.port), primary.id);
    }
    let url = cluster.url();
    let expected: Vec<String> = primaries
        .iter()
        .map(|p| format!("127.0.0.1:{}", p.port))
        .collect();
    assert_eq!(url, format!("redis+cluster://{}", expected.join(",")));

    // The owner the harness names is the node that takes the key; the others redirect to it,
    // and the owner's commandstats count the write.
    let map = cluster.wait_consistent();
    assert_eq!(map, cluster.slot_map());
    for slot in [0, 6000, SLOTS - 1] {
        let owner = cluster.owner_of_slot(slot);
        let range = map.range_of(slot).expect("covered");
        assert_eq!(range.primary.port, owner);
        assert!(primaries.iter().any(|p| p.port == owner && p.owns(slot)));
        let key = key_in_slot(slot);
        let before = cluster.commandstats(owner).get("set").copied().unwrap_or(0);
        assert_eq!(
            cluster.node(owner).cmd(&["SET", &key, "v"]),
            Value::simple("OK")
        );
        assert!(cluster.commandstats(owner)["set"] > before);
        for other in primaries.iter().filter(|p| p.port != owner) {
            let moved = error_text(cluster.node(other.port).cmd(&["GET", &key]));
            assert_eq!(moved, format!("MOVED {slot} 127.0.0.1:{owner}"));
        }
    }
}

#[test]
fn migrating_a_slot_moves_its_keys_and_its_owner() {
    let cluster = RedisCluster::start(3, 0);
    let slot = 100;
    let from = cluster.owner_of_slot(slot);
    let to = cluster
        .primaries()
        .iter()
        .map(|p| p.port)
        .find(|&p| p != from)
        .expect("another primary");
    let keys = keys_in_slot(slot, 100);
    write_keys(&cluster, &keys);
    assert_eq!(count_keys(&cluster, from, slot), 100);

    cluster.migrate_slot_begin(slot, from, to);
    // Mid-migration the source sends a key it does not have to the target with ASK.
    let absent = format!("{{{}}}:absent", key_in_slot(slot));
    let ask = error_text(cluster.node(from).cmd(&["GET", &absent]));
    assert_eq!(ask, format!("ASK {slot} 127.0.0.1:{to}"));
    let moved = cluster.migrate_keys(slot, from, to, 30);
    assert_eq!(moved, 100);
    assert_eq!(count_keys(&cluster, from, slot), 0);
    assert_eq!(count_keys(&cluster, to, slot), 100);
    let ask = error_text(cluster.node(from).cmd(&["GET", &keys[0]]));
    assert_eq!(ask, format!("ASK {slot} 127.0.0.1:{to}"));
    cluster.migrate_slot_end(slot, to);

    assert_eq!(cluster.owner_of_slot(slot), to);
    for port in cluster.live_ports() {
        let map = cluster.node(port).cmd_ok(&["CLUSTER", "SLOTS"]);
        let map = parse_cluster_slots(&map).unwrap();
        assert_eq!(
            map.range_of(slot).unwrap().primary.port,
            to,
            "as {port} sees it"
        );
    }
    for key in &keys {
        assert_eq!(cluster.node(to).cmd(&["GET", key]), Value::bulk(key));
    }
    let redirect = error_text(cluster.node(from).cmd(&["GET", &keys[0]]));
    assert_eq!(redirect, format!("MOVED {slot} 127.0.0.1:{to}"));

    // And all three steps at once, back to where it came from.
    assert_eq!(cluster.migrate_slot(slot, from), 100);
    assert_eq!(cluster.owner_of_slot(slot), from);
    assert_eq!(count_keys(&cluster, from, slot), 100);
}

#[test]
fn killed_primary_is_replaced_by_its_replica_and_rejoins_as_replica() {
    let started = Instant::now();
    let cluster = RedisCluster::start_default();
    eprintln!("3+3 cluster ready in {:?}", started.elapsed());
    let old = cluster.primaries()[0].clone();
    let replica = cluster.replicas_of(&old.id)[0].port;
    let slot = old.slots[0].0;
    let key = key_in_slot(slot);
    let node = cluster.node(old.port);
    assert_eq!(node.cmd(&["SET", &key, "kept"]), Value::simple("OK"));
    assert_eq!(node.cmd(&["WAIT", "1", "5000"]), Value::Integer(1));

    let killed = Instant::now();
    cluster.kill_primary(old.port);
    let new = cluster.wait_failover(old.port);
    let took = killed.elapsed();
    eprintln!(
        "failover: replica {new} took over from {} in {took:?}",
        old.port
    );

    assert_eq!(new, replica);
    assert_eq!(cluster.owner_of_slot(slot), new);
    assert_eq!(cluster.node(new).cmd(&["GET", &key]), Value::bulk("kept"));
    assert!(!cluster.live_ports().contains(&old.port));
    let seen = cluster.nodes();
    let dead = seen.iter().find(|n| n.port == old.port).unwrap();
    assert!(!dead.running && dead.failing(), "{dead:?}");

    let restarted = Instant::now();
    let back = cluster.restart(old.port);
    eprintln!(
        "restart: {} rejoined in {:?}",
        old.port,
        restarted.elapsed()
    );
    assert_eq!(back.role, Role::Replica, "{back:?}");
    assert_eq!(
        back.primary_id.as_deref(),
        Some(cluster.id_of(new).as_str())
    );
    let mut conn = cluster.node(old.port).connect().unwrap();
    conn.command(&["READONLY"]).unwrap();
    assert_eq!(conn.command(&["GET", &key]).unwrap(), Value::bulk("kept"));
}

#[test]
fn added_node_takes_slots_and_drop_cleans_up() {
    let started = Instant::now();
    let cluster = RedisCluster::start(3, 0);
    eprintln!("3-primary cluster ready in {:?}", started.elapsed());
    let added_at = Instant::now();
    let port = cluster.add_node();
    eprintln!("node {port} joined in {:?}", added_at.elapsed());
    let info = cluster
        .nodes()
        .into_iter()
        .find(|n| n.port == port)
        .expect("the new node is listed");
    assert_eq!(info.role, Role::Primary);
    assert!(info.slots.is_empty(), "{info:?}");
    assert_eq!(cluster.primaries().len(), 4);

    let slots = [10, 11, 9000];
    let keys = keys_in_slots(slots, 5);
    write_keys(&cluster, &keys);
    assert_eq!(cluster.move_slots_to(slots, port), 15);
    for slot in slots {
        assert_eq!(cluster.owner_of_slot(slot), port);
        assert_eq!(count_keys(&cluster, port, slot), 5);
    }
    let map = cluster.wait_consistent();
    assert_eq!(map.slots_of(&cluster.id_of(port)), [10, 11, 9000]);
    assert!(cluster.url().contains(&format!("127.0.0.1:{port}")));

    let dirs: Vec<_> = cluster
        .ports()
        .iter()
        .map(|&p| cluster.node(p).dir().to_path_buf())
        .collect();
    let ports = cluster.ports();
    drop(cluster);
    for dir in dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    for port in ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something still listens on {port}"
        );
    }
}
