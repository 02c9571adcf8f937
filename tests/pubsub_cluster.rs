//! Pub/sub on a cluster client against real clusters: shard channels subscribed on their
//! slot's primary (checked on the nodes themselves), global channels heard whichever node
//! publishes, and shard channels following their slot when it is resharded and when its
//! primary fails over, with the gap event each time.

mod support;

use std::time::{Duration, Instant};

use redcore::client::Client;
use redcore::config::Config;
use redcore::pubsub::{Event, MessageKind, PubSub, PubSubOptions};
use redcore::resp::Value;
use support::cluster::RedisCluster;
use support::keyslot::key_slot;

const WAIT: Duration = Duration::from_secs(30);

fn client(cluster: &RedisCluster) -> Client {
    let mut config = Config::from_url(&cluster.url()).expect("the harness's URL parses");
    config.command_timeout = Some(Duration::from_secs(10));
    Client::new(config).expect("the cluster client starts")
}

/// Subscribers of a node's shard channel, asked of that node.
fn shard_subscribers(cluster: &RedisCluster, port: u16, channel: &str) -> i64 {
    match cluster
        .node(port)
        .cmd_ok(&["PUBSUB", "SHARDNUMSUB", channel])
    {
        Value::Array(items) => match items.get(1) {
            Some(Value::Integer(n)) => *n,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// Waits for the next message, skipping other events; returns (kind, channel, payload).
fn next_message(ps: &PubSub) -> (MessageKind, String, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ps.get_message(Some(left)).unwrap() {
            Some(Event::Message(m)) => {
                return (
                    m.kind(),
                    String::from_utf8_lossy(m.channel()).into_owned(),
                    String::from_utf8_lossy(m.payload()).into_owned(),
                )
            }
            Some(_) => continue,
            None => panic!("no message within {WAIT:?}"),
        }
    }
}

/// Waits for a `Resubscribed` event, skipping messages.
fn next_resubscribed(ps: &PubSub) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ps.get_message(Some(left)).unwrap() {
            Some(Event::Resubscribed { failed: None, .. }) => return,
            Some(Event::Resubscribed {
                failed: Some(e), ..
            }) => {
                // A command sent while the slot was still moving: it is placed again.
                eprintln!("a restore failed and is retried: {e}");
            }
            Some(_) => continue,
            None => panic!("no Resubscribed event within {WAIT:?}"),
        }
    }
}

/// SPUBLISH through the client until a subscriber hears it (the slot may be moving).
fn spublish_until_heard(c: &Client, channel: &str, payload: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        match c.command(&["SPUBLISH", channel, payload]) {
            Ok(r) if r.value().as_integer() == Some(1) => return,
            Ok(_) | Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => panic!("SPUBLISH {channel}: {other:?}"),
        }
    }
}

#[test]
fn shard_channels_live_on_their_slot_primary_and_global_channels_anywhere() {
    let cluster = RedisCluster::shared();
    let c = client(cluster);
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    let tag = std::process::id();
    let channels: Vec<String> = (0..30).map(|i| format!("shard:{tag}:{i}")).collect();
    // One call for channels of many slots: one SSUBSCRIBE per slot, each on its primary.
    ps.ssubscribe(&channels).unwrap();
    ps.subscribe(&[format!("global:{tag}")]).unwrap();
    let map = cluster.slot_map();
    for channel in &channels {
        let owner = map.range_of(key_slot(channel)).unwrap().primary.port;
        assert_eq!(shard_subscribers(cluster, owner, channel), 1, "{channel}");
        for port in cluster.ports() {
            if port != owner && cluster.primaries().iter().any(|p| p.port == port) {
                assert_eq!(shard_subscribers(cluster, port, channel), 0, "{channel}");
            }
        }
    }
    for (i, channel) in channels.iter().enumerate() {
        let n = c.command(&["SPUBLISH", channel, &i.to_string()]).unwrap();
        assert_eq!(n.value().as_integer(), Some(1), "{channel}");
    }
    let mut got: Vec<(String, String)> = (0..channels.len())
        .map(|_| {
            let (kind, channel, payload) = next_message(&ps);
            assert_eq!(kind, MessageKind::Shard);
            (channel, payload)
        })
        .collect();
    got.sort_by_key(|(_, p)| p.parse::<usize>().unwrap());
    let want: Vec<(String, String)> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), i.to_string()))
        .collect();
    assert_eq!(got, want);
    // A global channel hears a PUBLISH sent to any node.
    for port in cluster.primaries().iter().map(|p| p.port) {
        cluster
            .node(port)
            .cmd_ok(&["PUBLISH", &format!("global:{tag}"), &port.to_string()]);
        assert_eq!(next_message(&ps).2, port.to_string());
    }
    ps.sunsubscribe::<&str>(&[]).unwrap();
    for channel in &channels {
        let owner = map.range_of(key_slot(channel)).unwrap().primary.port;
        assert_eq!(shard_subscribers(cluster, owner, channel), 0, "{channel}");
    }
}

#[test]
fn a_shard_channel_follows_its_slot_when_it_is_resharded_and_failed_over() {
    let cluster = RedisCluster::start_default();
    let c = client(&cluster);
    let ps = PubSub::new(&c, PubSubOptions::default()).unwrap();
    let channel = "orders";
    let slot = key_slot(channel);
    ps.ssubscribe(&[channel]).unwrap();
    let from = cluster.owner_of_slot(slot);
    spublish_until_heard(&c, channel, "before");
    assert_eq!(next_message(&ps).2, "before");

    // Resharding: the old owner drops the subscription, the client places it on the new one.
    let to = cluster
        .primaries()
        .iter()
        .map(|p| p.port)
        .find(|&p| p != from)
        .unwrap();
    let started = Instant::now();
    cluster.migrate_slot(slot, to);
    next_resubscribed(&ps);
    println!(
        "resharding: resubscribed {:?} after the move",
        started.elapsed()
    );
    assert_eq!(shard_subscribers(&cluster, to, channel), 1);
    assert_eq!(shard_subscribers(&cluster, from, channel), 0);
    spublish_until_heard(&c, channel, "after the move");
    assert_eq!(next_message(&ps).2, "after the move");

    // Failover: the new owner dies, its replica takes the slot, the subscription follows.
    let started = Instant::now();
    cluster.kill_primary(to);
    let promoted = cluster.wait_failover(to);
    next_resubscribed(&ps);
    println!(
        "failover: resubscribed {:?} after the kill",
        started.elapsed()
    );
    assert_eq!(shard_subscribers(&cluster, promoted, channel), 1);
    spublish_until_heard(&c, channel, "after the failover");
    assert_eq!(next_message(&ps).2, "after the failover");

    // Global channels live on one connection to some primary: when that primary fails over,
    // the connection moves to a serving one.
    ps.subscribe(&["global"]).unwrap();
    let host = cluster
        .primaries()
        .iter()
        .map(|p| p.port)
        .find(|&p| channel_subscribers(&cluster, p) > 0)
        .expect("a primary holds the global subscription");
    let started = Instant::now();
    cluster.kill_primary(host);
    cluster.wait_failover(host);
    next_resubscribed(&ps);
    println!(
        "failover of the channels' node: resubscribed {:?} after the kill",
        started.elapsed()
    );
    let deadline = Instant::now() + WAIT;
    while publish_count(&c, "global") != 1 {
        assert!(
            Instant::now() < deadline,
            "the global subscription came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(next_message(&ps).2, "g");
    assert_eq!(ps.subscriptions(), (1, 0, 1));
}

/// Clients of the node at `port` subscribed to channels (`sub=` in CLIENT LIST).
fn channel_subscribers(cluster: &RedisCluster, port: u16) -> usize {
    let list = cluster.node(port).cmd_ok(&["CLIENT", "LIST"]);
    support::text(&list)
        .lines()
        .filter(|line| {
            line.split(' ')
                .any(|f| f.starts_with("sub=") && f != "sub=0")
        })
        .count()
}

/// PUBLISH global g through the client: how many heard it (0 while the client recovers).
fn publish_count(c: &Client, channel: &str) -> i64 {
    c.command(&["PUBLISH", channel, "g"])
        .ok()
        .and_then(|r| r.value().as_integer())
        .unwrap_or(0)
}
