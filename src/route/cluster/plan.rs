//! Where one command goes in a cluster: the slot of its keys, every primary or every node, a
//! split per slot, any node, or "ask the server for the keys first". Runs on every command,
//! so the usual cases (one slot, keyless, fan-out) allocate nothing; only a split does.

use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Kind, ValueRef};
use crate::route::keys::{
    for_each_key, CommandSpec, CommandTable, KeySpec, Merge, Policy, SplitKind,
};
use crate::route::slot::{key_slot, SLOT_COUNT};

/// Where a command goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// To the shard serving this slot.
    Slot(u16),
    /// No keys: any primary (the engine picks, e.g. `pick_any_primary`).
    Keyless,
    /// To every primary; merge the replies with `merge`.
    AllPrimaries(Merge),
    /// To every node, replicas included; merge the replies with `merge`.
    AllNodes(Merge),
    /// Any node, a replica too (`pick_any_node`).
    AnyNode,
    /// One command per slot (the name, then `args` of each part), in parallel; join the
    /// replies with `join_split`. Not atomic across slots.
    Split {
        /// How the parts' replies come together.
        kind: SplitKind,
        /// One part per slot, ordered by slot.
        parts: Vec<SplitPart>,
    },
    /// The keys are only known to the server: send `COMMAND GETKEYS <args...>` to any node,
    /// then plan again with `plan_from_getkeys`.
    KeysFromServer,
    /// A cluster SCAN: see `scan_target`.
    Scan,
}

/// The arguments of one slot's share of a split command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitPart {
    /// The slot all its keys share.
    pub slot: u16,
    /// Indices into the caller's argv of what to send after the command name, in the
    /// caller's order (a key, or for `MSET` a key and its value).
    pub args: Vec<u32>,
}

/// The routing decision for one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Where it goes.
    pub target: Target,
    /// A replica may serve it (when the client reads from replicas).
    pub read_only: bool,
}

/// Plans `args` (the command name first) with `table`.
///
/// Keys all in one slot: `Slot`. A split command (`MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`,
/// `TOUCH`) whose keys span slots: `Split`. Any other command whose keys span slots:
/// `CROSS_SLOT`, naming the command and two keys, before anything is sent. No keys (`EVAL`
/// with 0 keys, `PUBLISH`, a command the table does not know): `Keyless`. An empty argv:
/// `INVALID_ARGUMENT`.
#[inline]
pub fn plan(table: &CommandTable, args: &[&[u8]]) -> Result<Plan> {
    if args.is_empty() {
        return Err(Error::invalid_argument(
            "empty command: argv has no arguments",
        ));
    }
    let spec = table.get_or_keyless(args);
    let target = match spec.policy {
        Policy::Default => keyed(spec, args, None)?,
        Policy::Split(kind) => keyed(spec, args, Some(kind))?,
        Policy::AllPrimaries(merge) => Target::AllPrimaries(merge),
        Policy::AllNodes(merge) => Target::AllNodes(merge),
        Policy::AnyNode => Target::AnyNode,
        Policy::Scan => Target::Scan,
        Policy::SlotArg => args
            .get(2)
            .and_then(|arg| std::str::from_utf8(arg).ok()?.parse::<u16>().ok())
            .filter(|&slot| usize::from(slot) < SLOT_COUNT)
            .map_or(Target::Keyless, Target::Slot),
    };
    Ok(Plan {
        target,
        read_only: spec.read_only,
    })
}

/// The target of a command by the slots of its keys.
#[inline]
fn keyed(spec: &CommandSpec, args: &[&[u8]], split: Option<SplitKind>) -> Result<Target> {
    // Most commands have one key, argument 1: no walk needed.
    if let (
        KeySpec::Range {
            first: 1, last: 1, ..
        },
        Some(key),
    ) = (spec.keys, args.get(1))
    {
        return Ok(Target::Slot(key_slot(key)));
    }
    let mut first: Option<(usize, u16)> = None;
    let mut clash: Option<(usize, u16)> = None;
    let walked = for_each_key(spec, args, |i| {
        let slot = key_slot(args[i]);
        match first {
            None => first = Some((i, slot)),
            Some((_, s)) if s != slot && clash.is_none() => clash = Some((i, slot)),
            Some(_) => {}
        }
    });
    if walked.is_err() {
        return Ok(Target::KeysFromServer);
    }
    Ok(match (first, clash, split) {
        (None, ..) => Target::Keyless,
        (Some((_, slot)), None, _) => Target::Slot(slot),
        (Some(_), Some(_), Some(kind)) => Target::Split {
            kind,
            parts: split_parts(spec, args),
        },
        (Some(a), Some(b), None) => {
            return Err(cross_slot(args[0], (args[a.0], a.1), (args[b.0], b.1)));
        }
    })
}

/// One part per slot: each key with the arguments that go with it (`step` of them: a key
/// and its value for `MSET`), ordered by slot, the caller's order kept within a slot.
fn split_parts(spec: &CommandSpec, args: &[&[u8]]) -> Vec<SplitPart> {
    let step = match spec.keys {
        KeySpec::Range { step, .. } => usize::from(step.max(1)),
        _ => 1,
    };
    let mut keys: Vec<(u16, usize)> = Vec::new();
    // The key walk cannot fail here: `keyed` walked the same spec before.
    let _ = for_each_key(spec, args, |i| keys.push((key_slot(args[i]), i)));
    keys.sort_by_key(|&(slot, _)| slot);
    let mut parts: Vec<SplitPart> = Vec::new();
    for (slot, i) in keys {
        if parts.last().is_none_or(|p| p.slot != slot) {
            parts.push(SplitPart {
                slot,
                args: Vec::new(),
            });
        }
        let part = parts.last_mut().expect("pushed above");
        part.args
            .extend((i..(i + step).min(args.len())).map(|a| a as u32));
    }
    parts
}

/// Plans a `KeySpec::Movable` command from its keys as the server found them (`COMMAND
/// GETKEYS`): one slot, keyless, or `CROSS_SLOT`.
pub fn plan_with_keys(spec: &CommandSpec, args: &[&[u8]], keys: &[&[u8]]) -> Result<Plan> {
    let name = args.first().copied().unwrap_or(b"");
    let mut target = Target::Keyless;
    if let Some((first, rest)) = keys.split_first() {
        let slot = key_slot(first);
        if let Some(other) = rest.iter().find(|k| key_slot(k) != slot) {
            return Err(cross_slot(name, (first, slot), (other, key_slot(other))));
        }
        target = Target::Slot(slot);
    }
    Ok(Plan {
        target,
        read_only: spec.read_only,
    })
}

/// Plans a `KeySpec::Movable` command from the reply to `COMMAND GETKEYS <args...>`: an
/// array of keys, or an error (the command has no keys, or arguments the server rejects: it
/// goes to any primary, whose reply says what is wrong).
pub fn plan_from_getkeys(spec: &CommandSpec, args: &[&[u8]], reply: ValueRef<'_>) -> Result<Plan> {
    match reply.kind() {
        Kind::Array | Kind::Set => {
            let keys: Option<Vec<&[u8]>> = reply.children().map(|k| k.as_bytes()).collect();
            let keys = keys.ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidResponse,
                    "COMMAND GETKEYS reply: a key is not a string",
                )
            })?;
            plan_with_keys(spec, args, &keys)
        }
        Kind::Error | Kind::BlobError => plan_with_keys(spec, args, &[]),
        kind => Err(Error::new(
            ErrorKind::InvalidResponse,
            format!("COMMAND GETKEYS reply: expected an array of keys, got {kind:?}"),
        )),
    }
}

fn cross_slot(name: &[u8], a: (&[u8], u16), b: (&[u8], u16)) -> Error {
    Error::new(
        ErrorKind::CrossSlot,
        format!(
            "{}: keys '{}' (slot {}) and '{}' (slot {}) hash to different slots; the keys of \
             one command must share a slot (a hash tag such as {{user1}} in each key does that)",
            shown(name).to_ascii_uppercase(),
            shown(a.0),
            a.1,
            shown(b.0),
            b.1
        ),
    )
}

/// Up to 64 bytes of `bytes`, escaped where not printable ASCII.
fn shown(bytes: &[u8]) -> String {
    let mut text: String = bytes
        .iter()
        .take(64)
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect();
    if bytes.len() > 64 {
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Reply, Value};

    fn argv(line: &str) -> Vec<&[u8]> {
        line.split(' ').map(str::as_bytes).collect()
    }

    fn slot(key: &str) -> u16 {
        key_slot(key.as_bytes())
    }

    #[test]
    fn targets() {
        let table = CommandTable::builtin();
        use Target::*;
        // (command, target, read-only)
        let cases: Vec<(&str, Target, bool)> = vec![
            ("GET foo", Slot(12182), true),
            ("set foo bar", Slot(12182), false),
            ("MGET {u}a {u}b {u}c", Slot(slot("u")), true),
            ("DEL {u}a {u}b", Slot(slot("u")), false),
            ("MSET {u}a 1 {u}b 2", Slot(slot("u")), false),
            ("RENAME {u}a {u}b", Slot(slot("u")), false),
            ("EVAL script 0", Keyless, false),
            ("EVALSHA sha 0 arg", Keyless, false),
            ("EVALSHA_RO sha 1 foo", Slot(12182), true),
            ("FCALL f 0", Keyless, false),
            ("FCALL_RO f 2 {u}a {u}b", Slot(slot("u")), true),
            ("PUBLISH ch msg", Keyless, false),
            ("SPUBLISH ch msg", Slot(slot("ch")), false),
            ("RANDOMKEY", Keyless, true),
            ("INFO", Keyless, false),
            ("NOSUCHCOMMAND foo", Keyless, false),
            ("GET", Keyless, true),
            ("DBSIZE", AllPrimaries(Merge::Sum), true),
            ("KEYS *", AllPrimaries(Merge::Concat), true),
            ("FLUSHALL", AllPrimaries(Merge::AllOk), false),
            ("PING", AllPrimaries(Merge::AllOk), false),
            ("SCRIPT EXISTS a b", AllPrimaries(Merge::LogicalAnd), false),
            ("SCRIPT LOAD s", AllNodes(Merge::AllOk), false),
            ("CONFIG SET a b", AllNodes(Merge::AllOk), false),
            ("FUNCTION LOAD code", AllPrimaries(Merge::AllOk), false),
            ("WAIT 1 0", AllPrimaries(Merge::Min), false),
            ("SCAN 0", Scan, true),
            ("ECHO x", AnyNode, false),
            ("CLUSTER SLOTS", AnyNode, false),
            ("CLUSTER COUNTKEYSINSLOT 7", Slot(7), false),
            ("CLUSTER GETKEYSINSLOT 16383 10", Slot(16383), false),
            ("CLUSTER GETKEYSINSLOT 16384 10", Keyless, false),
            ("CLUSTER COUNTKEYSINSLOT x", Keyless, false),
            ("SORT foo STORE bar", KeysFromServer, false),
            ("XREAD STREAMS {s}1 {s}2 0 0", Slot(slot("s")), true),
            ("ZUNIONSTORE {z}d 2 {z}a {z}b", Slot(slot("z")), false),
        ];
        for (line, target, read_only) in cases {
            let plan = plan(&table, &argv(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(plan.target, target, "{line}");
            assert_eq!(plan.read_only, read_only, "{line}");
        }
        assert_eq!(
            plan(&table, &[]).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }

    #[test]
    fn splits_keep_the_callers_order_within_each_slot() {
        let table = CommandTable::builtin();
        // foo 12182, bar 5061, {bar}x 5061, baz 4813
        let plan = plan(&table, &argv("MGET foo bar baz {bar}x")).unwrap();
        assert_eq!(
            plan.target,
            Target::Split {
                kind: SplitKind::Mget,
                parts: vec![
                    SplitPart {
                        slot: 4813,
                        args: vec![3]
                    },
                    SplitPart {
                        slot: 5061,
                        args: vec![2, 4]
                    },
                    SplitPart {
                        slot: 12182,
                        args: vec![1]
                    },
                ],
            }
        );
        assert!(plan.read_only);
        let plan = super::plan(&table, &argv("MSET foo 1 bar 2 {bar}x 3")).unwrap();
        assert_eq!(
            plan.target,
            Target::Split {
                kind: SplitKind::Mset,
                parts: vec![
                    SplitPart {
                        slot: 5061,
                        args: vec![3, 4, 5, 6]
                    },
                    SplitPart {
                        slot: 12182,
                        args: vec![1, 2]
                    },
                ],
            }
        );
        // A trailing key without its value stays alone; the server rejects the part.
        let plan = super::plan(&table, &argv("MSET foo 1 bar")).unwrap();
        let Target::Split { parts, .. } = plan.target else {
            panic!("{plan:?}")
        };
        assert_eq!(parts[0].args, [3]);
        for name in ["DEL", "UNLINK", "EXISTS", "TOUCH"] {
            let plan = super::plan(&table, &argv(&format!("{name} foo bar"))).unwrap();
            assert!(
                matches!(plan.target, Target::Split { kind: SplitKind::Sum, ref parts } if parts.len() == 2),
                "{name}: {plan:?}"
            );
        }
    }

    #[test]
    fn other_commands_across_slots_fail_before_sending() {
        let table = CommandTable::builtin();
        for (line, message) in [
            (
                "MSETNX foo 1 bar 2",
                "MSETNX: keys 'foo' (slot 12182) and 'bar' (slot 5061) hash to different slots",
            ),
            (
                "sunionstore d foo",
                "SUNIONSTORE: keys 'd' (slot 11298) and 'foo' (slot 12182)",
            ),
            (
                "EVAL s 2 foo bar",
                "EVAL: keys 'foo' (slot 12182) and 'bar' (slot 5061)",
            ),
            (
                "BLPOP foo {foo}x bar 0",
                "BLPOP: keys 'foo' (slot 12182) and 'bar' (slot 5061)",
            ),
            ("RENAME \x01\x02 foo", "RENAME: keys '\\x01\\x02' (slot"),
        ] {
            let err = plan(&table, &argv(line)).expect_err(line);
            assert_eq!(err.kind(), ErrorKind::CrossSlot, "{line}");
            assert!(
                err.message().starts_with(message),
                "{line}: {}",
                err.message()
            );
        }
        let long = format!("RENAME {} foo", "k".repeat(100));
        let err = plan(&table, &argv(&long)).unwrap_err();
        assert!(
            err.message().contains(&format!("'{}...'", "k".repeat(64))),
            "{}",
            err.message()
        );
    }

    #[test]
    fn movable_commands_plan_from_the_servers_keys() {
        let table = CommandTable::builtin();
        let args = argv("SORT foo STORE {foo}dest");
        let spec = table.get(&args).unwrap();
        let keys = |items: &[&str]| {
            Reply::from_value(&Value::Array(items.iter().map(Value::bulk).collect()))
        };
        let one = plan_from_getkeys(spec, &args, keys(&["foo", "{foo}dest"]).value()).unwrap();
        assert_eq!(one.target, Target::Slot(12182));
        assert!(!one.read_only);
        let err = plan_from_getkeys(spec, &args, keys(&["foo", "bar"]).value()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CrossSlot);
        let none = Reply::from_value(&Value::Error(
            b"ERR The command has no key arguments".to_vec(),
        ));
        assert_eq!(
            plan_from_getkeys(spec, &args, none.value()).unwrap().target,
            Target::Keyless
        );
        let bad = Reply::from_value(&Value::Integer(1));
        assert_eq!(
            plan_from_getkeys(spec, &args, bad.value())
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidResponse
        );
        let not_strings = Reply::from_value(&Value::Array(vec![Value::Integer(1)]));
        assert!(plan_from_getkeys(spec, &args, not_strings.value()).is_err());
        assert_eq!(
            plan_with_keys(spec, &args, &[]).unwrap().target,
            Target::Keyless
        );
    }
}
