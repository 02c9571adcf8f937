//! Cluster SCAN: one cursor the caller keeps, walking every primary in turn (shards ordered
//! by their lowest slot), each with its own node cursor.
//!
//! The cursor names the shard by its lowest slot rather than by a position in a list, so it
//! survives a topology refresh between two calls: if that slot now starts no shard (the
//! cluster was resharded), the walk goes on at the start of the next shard, which may skip
//! or repeat keys, as SCAN on one node may during a rehash.
//!
//! On the wire the cursor is a decimal number, like a server's: `node_cursor * 16384 +
//! slot` (at most 39 digits). `"0"` starts and ends a scan, as it does on one server.

use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Kind, Reply, Value};
use crate::route::slot::SLOT_COUNT;
use crate::route::topology::Topology;

/// Where a cluster SCAN stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanCursor {
    /// The lowest slot of the shard being scanned.
    pub slot: u16,
    /// That shard's primary's own SCAN cursor.
    pub cursor: u64,
}

impl ScanCursor {
    /// The start of a scan: the first shard, from its beginning (cursor `"0"`).
    pub const START: ScanCursor = ScanCursor { slot: 0, cursor: 0 };
}

/// The cursor the caller passed to SCAN. Errors (`INVALID_ARGUMENT`) for anything that is
/// not a decimal number this module could have made.
pub fn scan_cursor_decode(arg: &[u8]) -> Result<ScanCursor> {
    let bad = || {
        Error::invalid_argument(format!(
            "SCAN: cursor '{}' is not a cluster scan cursor",
            arg.iter()
                .take(48)
                .flat_map(|b| b.escape_ascii())
                .map(char::from)
                .collect::<String>()
        ))
    };
    if arg.is_empty() || arg.len() > 39 || !arg.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n = arg.iter().try_fold(0u128, |n, d| {
        n.checked_mul(10)?.checked_add(u128::from(d - b'0'))
    });
    let n = n.ok_or_else(bad)?;
    let cursor = u64::try_from(n / SLOT_COUNT as u128).map_err(|_| bad())?;
    Ok(ScanCursor {
        slot: (n % SLOT_COUNT as u128) as u16,
        cursor,
    })
}

/// The text of a cursor, for the caller.
pub fn scan_cursor_encode(at: ScanCursor) -> Vec<u8> {
    (u128::from(at.cursor) * SLOT_COUNT as u128 + u128::from(at.slot))
        .to_string()
        .into_bytes()
}

/// Where this step of the scan goes: the shard (index into `topology.shards()`) and the
/// cursor as it now stands (its slot is that shard's lowest; its node cursor is what to send
/// the primary). `None` when no shard is left: the scan is over.
pub fn scan_target(topology: &Topology, at: ScanCursor) -> Option<(usize, ScanCursor)> {
    let serving = topology.serving_shards();
    let i = serving.partition_point(|&(lowest, _)| lowest < at.slot);
    let &(lowest, shard) = serving.get(i)?;
    let cursor = if lowest == at.slot { at.cursor } else { 0 };
    Some((
        shard,
        ScanCursor {
            slot: lowest,
            cursor,
        },
    ))
}

/// The cursor after a step: `at` as `scan_target` resolved it, and the node cursor its
/// primary answered. `None` when that was the last shard's last step.
pub fn scan_next(topology: &Topology, at: ScanCursor, node_next: u64) -> Option<ScanCursor> {
    if node_next != 0 {
        return Some(ScanCursor {
            slot: at.slot,
            cursor: node_next,
        });
    }
    let serving = topology.serving_shards();
    let i = serving.partition_point(|&(lowest, _)| lowest <= at.slot);
    serving.get(i).map(|&(lowest, _)| ScanCursor {
        slot: lowest,
        cursor: 0,
    })
}

/// The reply for the caller from the primary's `[cursor, [keys...]]`: the same keys, with
/// the cluster cursor of the next step (`"0"` when the scan is over). `at` is the cursor
/// `scan_target` resolved.
pub fn scan_reply(topology: &Topology, at: ScanCursor, node_reply: &Reply) -> Result<Reply> {
    let reply = node_reply.value();
    if let Some(error) = reply.as_error() {
        return Err(error);
    }
    let (Some(cursor), Some(keys), 2) = (reply.get(0), reply.get(1), reply.len()) else {
        return Err(bad_reply("not [cursor, keys]"));
    };
    if reply.kind() != Kind::Array || !matches!(keys.kind(), Kind::Array | Kind::Set) {
        return Err(bad_reply("not [cursor, keys]"));
    }
    let node_next: u64 = cursor
        .as_str()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad_reply("the cursor is not a number"))?;
    let next = scan_next(topology, at, node_next).map_or_else(|| b"0".to_vec(), scan_cursor_encode);
    Ok(Reply::from_value(&Value::Array(vec![
        Value::Bulk(next),
        keys.to_value(),
    ])))
}

fn bad_reply(why: &str) -> Error {
    Error::new(ErrorKind::InvalidResponse, format!("SCAN reply: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Decoder;
    use crate::route::topology::NodeAddr;

    /// The captured 3-shard cluster: shards start at slots 0, 5461 and 10923.
    fn topology() -> Topology {
        let wire: &[u8] = include_bytes!("../testdata/slots_resp3.resp");
        let reply = Decoder::default().decode(wire).unwrap().1.unwrap();
        Topology::from_cluster_slots(reply.value(), &NodeAddr::new("127.0.0.1", 30001), &|a| {
            a.clone()
        })
        .unwrap()
    }

    fn port(t: &Topology, shard: usize) -> u16 {
        t.node(t.shards()[shard].primary).addr.port
    }

    #[test]
    fn cursor_text() {
        let cases: &[(&str, ScanCursor)] = &[
            ("0", ScanCursor::START),
            (
                "5461",
                ScanCursor {
                    slot: 5461,
                    cursor: 0,
                },
            ),
            ("16384", ScanCursor { slot: 0, cursor: 1 }),
            (
                "180235",
                ScanCursor {
                    slot: 11,
                    cursor: 11,
                },
            ),
            (
                "302231454903657293676543",
                ScanCursor {
                    slot: 16383,
                    cursor: u64::MAX,
                },
            ),
        ];
        for (text, cursor) in cases {
            assert_eq!(
                scan_cursor_decode(text.as_bytes()).unwrap(),
                *cursor,
                "{text}"
            );
            assert_eq!(scan_cursor_encode(*cursor), text.as_bytes(), "{text}");
        }
        for bad in [
            "",
            "-1",
            "x",
            "1 2",
            "302231454903657293676544",
            &"9".repeat(40),
        ] {
            let err = scan_cursor_decode(bad.as_bytes()).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad}");
            assert!(err.message().starts_with("SCAN: cursor '"), "{bad}");
        }
    }

    #[test]
    fn walks_every_primary_once_in_slot_order() {
        let t = topology();
        // Each primary answers two steps: node cursor 7, then 0.
        let mut at = ScanCursor::START;
        let mut visited = Vec::new();
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps <= 10, "the walk does not end");
            let (shard, resolved) = scan_target(&t, at).expect("a shard is left");
            visited.push((port(&t, shard), resolved.cursor));
            let node_next = if resolved.cursor == 0 { 7 } else { 0 };
            match scan_next(&t, resolved, node_next) {
                Some(next) => at = next,
                None => break,
            }
        }
        assert_eq!(
            visited,
            [
                (30001, 0),
                (30001, 7),
                (30002, 0),
                (30002, 7),
                (30003, 0),
                (30003, 7)
            ]
        );
    }

    #[test]
    fn a_cursor_from_before_a_resharding_goes_on_at_the_next_shard() {
        let t = topology();
        // Slot 100 starts no shard: the next one, from its start.
        let (shard, resolved) = scan_target(
            &t,
            ScanCursor {
                slot: 100,
                cursor: 55,
            },
        )
        .unwrap();
        assert_eq!(port(&t, shard), 30002);
        assert_eq!(
            resolved,
            ScanCursor {
                slot: 5461,
                cursor: 0
            }
        );
        assert!(scan_target(
            &t,
            ScanCursor {
                slot: 16000,
                cursor: 1
            }
        )
        .is_none());
        assert_eq!(
            scan_next(
                &t,
                ScanCursor {
                    slot: 10923,
                    cursor: 4
                },
                0
            ),
            None
        );
    }

    #[test]
    fn replies_carry_the_cluster_cursor() {
        let t = topology();
        let node = |cursor: &str| {
            Reply::from_value(&Value::Array(vec![
                Value::bulk(cursor),
                Value::Array(vec![Value::bulk("k1"), Value::bulk("k2")]),
            ]))
        };
        let at = ScanCursor {
            slot: 5461,
            cursor: 0,
        };
        let more = scan_reply(&t, at, &node("3")).unwrap().to_value();
        let next = scan_cursor_encode(ScanCursor {
            slot: 5461,
            cursor: 3,
        });
        assert_eq!(
            more,
            Value::Array(vec![
                Value::Bulk(next),
                Value::Array(vec![Value::bulk("k1"), Value::bulk("k2")])
            ])
        );
        let shard_done = scan_reply(&t, at, &node("0")).unwrap().to_value();
        let Value::Array(items) = shard_done else {
            panic!()
        };
        assert_eq!(items[0], Value::bulk("10923"));
        let last = ScanCursor {
            slot: 10923,
            cursor: 9,
        };
        let over = scan_reply(&t, last, &node("0")).unwrap().to_value();
        let Value::Array(items) = over else { panic!() };
        assert_eq!(items[0], Value::bulk("0"));

        let err =
            scan_reply(&t, at, &Reply::from_value(&Value::Error(b"ERR x".to_vec()))).unwrap_err();
        assert_eq!(err.message(), "ERR x");
        for bad in [
            Value::Integer(1),
            Value::Array(vec![Value::bulk("x"), Value::Array(vec![])]),
            Value::Array(vec![Value::bulk("1")]),
            Value::Array(vec![Value::bulk("1"), Value::Integer(2)]),
        ] {
            let err = scan_reply(&t, at, &Reply::from_value(&bad)).expect_err("bad reply");
            assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{bad:?}");
        }
    }
}
