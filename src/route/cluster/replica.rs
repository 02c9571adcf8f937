//! Which node of a shard serves a command: the primary, or for a read-only command a replica
//! as the client's `ReadFrom` says; and which node takes a keyless command. The caller
//! passes `n`, a counter (round robin) or a random number, so the choice is reproducible.

pub use crate::config::ReadFrom;
use crate::route::topology::{Shard, Topology};

/// The node (index into `topology.nodes()`) of `shard` that serves a command.
///
/// Only read-only commands leave the primary; unhealthy replicas are skipped. `n` chooses
/// among the candidates (`n % count`): a per-shard counter for `RoundRobin`, a random number
/// for `Random`.
#[inline]
pub fn pick_node(
    topology: &Topology,
    shard: &Shard,
    read_from: ReadFrom,
    read_only: bool,
    n: u64,
) -> usize {
    if !read_only || read_from == ReadFrom::Primary {
        return shard.primary;
    }
    let mut healthy = shard
        .replicas
        .iter()
        .copied()
        .filter(|&r| topology.node(r).healthy);
    let count = healthy.clone().count() as u64;
    match read_from {
        ReadFrom::Replicas if count > 0 => {
            healthy.nth((n % count) as usize).unwrap_or(shard.primary)
        }
        ReadFrom::Primary | ReadFrom::Replicas => shard.primary,
        ReadFrom::RoundRobin | ReadFrom::Random => match n % (count + 1) {
            0 => shard.primary,
            i => healthy.nth(i as usize - 1).unwrap_or(shard.primary),
        },
    }
}

/// A primary for a keyless command (`n % count` of the primaries serving slots), or `None`
/// when no shard serves any slot.
#[inline]
pub fn pick_any_primary(topology: &Topology, n: u64) -> Option<usize> {
    let mut primaries = topology.primaries();
    let count = primaries.len() as u64;
    if count == 0 {
        return None;
    }
    primaries.nth((n % count) as usize)
}

/// A healthy node, replica or primary, for a command any node answers (`Target::AnyNode`);
/// any node at all when none is healthy; `None` for an empty topology.
pub fn pick_any_node(topology: &Topology, n: u64) -> Option<usize> {
    let nodes = topology.nodes();
    let healthy = nodes.iter().filter(|node| node.healthy).count() as u64;
    if healthy == 0 {
        return (!nodes.is_empty()).then(|| (n % nodes.len() as u64) as usize);
    }
    nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.healthy)
        .nth((n % healthy) as usize)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Reply, Value};
    use crate::route::topology::NodeAddr;

    /// One shard: primary :7000, replicas :7001 (healthy), :7002 (loading), :7003 (healthy).
    fn topology() -> Topology {
        let node = |port: i64, role: &str, health: &str| {
            Value::Map(vec![
                (Value::bulk("port"), Value::Integer(port)),
                (Value::bulk("endpoint"), Value::bulk("h")),
                (Value::bulk("role"), Value::bulk(role)),
                (Value::bulk("health"), Value::bulk(health)),
            ])
        };
        let reply = Reply::from_value(&Value::Array(vec![Value::Map(vec![
            (
                Value::bulk("slots"),
                Value::Array(vec![Value::Integer(0), Value::Integer(16383)]),
            ),
            (
                Value::bulk("nodes"),
                Value::Array(vec![
                    node(7000, "master", "online"),
                    node(7001, "replica", "online"),
                    node(7002, "replica", "loading"),
                    node(7003, "replica", "online"),
                ]),
            ),
        ])]));
        Topology::from_cluster_shards(reply.value(), &NodeAddr::new("h", 7000), false, &|a| {
            a.clone()
        })
        .unwrap()
    }

    #[test]
    fn choices() {
        let t = topology();
        let shard = t.slot_shard(0).unwrap().clone();
        let port = |i: usize| t.node(i).addr.port;
        let picks = |read_from, read_only| -> Vec<u16> {
            (0..6)
                .map(|n| port(pick_node(&t, &shard, read_from, read_only, n)))
                .collect()
        };
        use ReadFrom::*;
        // (read_from, read-only, nodes chosen for n = 0..6)
        let cases: &[(ReadFrom, bool, [u16; 6])] = &[
            (Primary, true, [7000; 6]),
            (Primary, false, [7000; 6]),
            (RoundRobin, false, [7000; 6]),
            (Replicas, false, [7000; 6]),
            (Random, false, [7000; 6]),
            (RoundRobin, true, [7000, 7001, 7003, 7000, 7001, 7003]),
            (Random, true, [7000, 7001, 7003, 7000, 7001, 7003]),
            (Replicas, true, [7001, 7003, 7001, 7003, 7001, 7003]),
        ];
        for (read_from, read_only, expected) in cases {
            assert_eq!(
                picks(*read_from, *read_only),
                expected,
                "{read_from:?} {read_only}"
            );
        }
        // No healthy replica: the primary.
        let alone = Shard {
            primary: shard.primary,
            replicas: vec![2],
        };
        assert_eq!(port(pick_node(&t, &alone, Replicas, true, 5)), 7000);
        assert_eq!(port(pick_node(&t, &alone, RoundRobin, true, 1)), 7000);
        assert_eq!(
            port(pick_node(&t, &alone, RoundRobin, true, u64::MAX)),
            7000
        );
    }

    #[test]
    fn keyless_and_any_node() {
        let t = topology();
        assert_eq!(
            pick_any_primary(&t, 12).map(|i| t.node(i).addr.port),
            Some(7000)
        );
        let any: Vec<u16> = (0..4)
            .map(|n| t.node(pick_any_node(&t, n).unwrap()).addr.port)
            .collect();
        assert_eq!(
            any,
            [7000, 7001, 7003, 7000],
            "the loading replica is skipped"
        );
        let empty = Topology::from_cluster_slots(
            Reply::from_value(&Value::Array(vec![])).value(),
            &NodeAddr::new("h", 1),
            &|a| a.clone(),
        )
        .unwrap();
        assert_eq!(pick_any_primary(&empty, 3), None);
        assert_eq!(pick_any_node(&empty, 3), None);
    }
}
