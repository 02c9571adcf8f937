//! Reading the server's `COMMAND` reply into a `CommandTable`: one entry per command and
//! subcommand (element 9 nests them), with key positions from the legacy first/last/step,
//! the `readonly` and `movablekeys` flags, and the `request_policy` / `response_policy` tips.
//!
//! The server is the authority on what it runs (its flags and key positions, its module
//! commands); the built-in table fills what the reply cannot say: the key rule of
//! `movablekeys` commands it knows (`EVAL`, `ZUNIONSTORE`, `XREAD`, ...) and the policy of
//! the commands it knows, whose choices are deliberate (see `builtin.rs`). Tips decide the
//! policy of commands the built-in table does not know.

use std::collections::BTreeMap;

use super::keys::{CommandSpec, CommandTable, Entry, KeySpec, Merge, Policy};
use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Kind, ValueRef};

impl CommandTable {
    /// A table from the server's `COMMAND` reply, RESP2 or RESP3 (an array of command
    /// arrays: name, arity, flags, first key, last key, step, and from 7.0 ACL categories,
    /// tips, key specs and subcommands), completed by the built-in table. A reply of another
    /// shape is an `INVALID_RESPONSE` error naming what was wrong, never a panic.
    pub fn from_command_reply(reply: ValueRef<'_>) -> Result<CommandTable> {
        let builtin = CommandTable::builtin();
        if !matches!(reply.kind(), Kind::Array | Kind::Set) {
            return Err(bad(format!("expected an array, got {:?}", reply.kind())));
        }
        let mut entries: Vec<Entry> = Vec::with_capacity(reply.len() * 2);
        for (i, command) in reply.children().enumerate() {
            read_command(command, &builtin, &mut entries).map_err(|e| {
                Error::new(
                    e.kind(),
                    format!("{} (command {i} of the reply)", e.message()),
                )
            })?;
        }
        // The first entry of a name wins (a server listing one twice); built-in commands the
        // reply lacks (an older server, a container whose subcommands it does not list) are
        // added: harmless for commands the server rejects anyway.
        let mut by_name: BTreeMap<Box<[u8]>, Entry> = BTreeMap::new();
        for entry in entries.into_iter().chain(builtin.entries().iter().cloned()) {
            by_name.entry(entry.name.clone()).or_insert(entry);
        }
        Ok(CommandTable::from_entries(by_name.into_values().collect()))
    }
}

/// One command of the reply (and its subcommands) into `entries`.
fn read_command(
    command: ValueRef<'_>,
    builtin: &CommandTable,
    entries: &mut Vec<Entry>,
) -> Result<()> {
    if command.kind() != Kind::Array {
        return Err(bad(format!(
            "a command is a {:?}, not an array",
            command.kind()
        )));
    }
    let field = |i: usize, what: &str| {
        command.get(i).ok_or_else(|| {
            bad(format!(
                "a command has {} elements, no {what}",
                command.len()
            ))
        })
    };
    let name = field(0, "name")?
        .as_bytes()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("a command name is not a string".into()))?
        .to_ascii_uppercase();
    let shown = String::from_utf8_lossy(&name).into_owned();
    let int = |i: usize, what: &str| -> Result<i64> {
        field(i, what)?
            .as_integer()
            .ok_or_else(|| bad(format!("{shown}: {what} is not an integer")))
    };
    let mut read_only = false;
    let mut movable = false;
    let flags = field(2, "flags")?;
    for flag in flags.children() {
        match flag.as_bytes() {
            Some(b"readonly") => read_only = true,
            Some(b"movablekeys") => movable = true,
            Some(_) => {}
            None => return Err(bad(format!("{shown}: a flag is not a string"))),
        }
    }
    let (first, last, step) = (int(3, "first key")?, int(4, "last key")?, int(5, "step")?);
    let known = builtin.entry(&name).map(|e| e.spec);
    let keys = if movable {
        match known.map(|s| s.keys) {
            Some(k @ (KeySpec::NumKeys { .. } | KeySpec::Streams | KeySpec::Range { .. })) => k,
            _ => KeySpec::Movable,
        }
    } else if first == 0 {
        KeySpec::None
    } else {
        let (Ok(first), Ok(last), Ok(step)) = (
            u16::try_from(first),
            i16::try_from(last),
            u16::try_from(step),
        ) else {
            return Err(bad(format!(
                "{shown}: key positions {first} {last} {step} out of range"
            )));
        };
        KeySpec::Range { first, last, step }
    };
    let policy = match known {
        Some(spec) => spec.policy,
        None => match command.get(7) {
            Some(tips) => policy_from_tips(tips, &shown)?,
            None => Policy::Default,
        },
    };
    entries.push(Entry {
        name: name.into(),
        spec: CommandSpec {
            keys,
            read_only,
            policy,
        },
    });
    if let Some(subcommands) = command.get(9) {
        // RESP3 servers send an empty list of subcommands as a set, a full one as an array.
        if !matches!(subcommands.kind(), Kind::Array | Kind::Set) {
            return Err(bad(format!("{shown}: subcommands are not an array")));
        }
        for sub in subcommands.children() {
            read_command(sub, builtin, entries)?;
        }
    }
    Ok(())
}

/// The policy the tips ask for: `request_policy:all_shards` / `all_nodes` with their
/// `response_policy` (none: the replies are joined, as the tips' documentation says of
/// keyless commands). `multi_shard` and `special` need knowledge of the command that only
/// the built-in table has: without it, the command goes to one node by its keys.
fn policy_from_tips(tips: ValueRef<'_>, shown: &str) -> Result<Policy> {
    let mut request: Option<&[u8]> = None;
    let mut response: Option<&[u8]> = None;
    for tip in tips.children() {
        let tip = tip
            .as_bytes()
            .ok_or_else(|| bad(format!("{shown}: a tip is not a string")))?;
        if let Some(value) = tip.strip_prefix(b"request_policy:") {
            request = Some(value);
        } else if let Some(value) = tip.strip_prefix(b"response_policy:") {
            response = Some(value);
        }
    }
    let merge = match response {
        None => Some(Merge::Concat),
        Some(b"agg_sum") => Some(Merge::Sum),
        Some(b"all_succeeded") => Some(Merge::AllOk),
        Some(b"one_succeeded") => Some(Merge::OneSucceeded),
        Some(b"agg_logical_and") => Some(Merge::LogicalAnd),
        Some(b"agg_logical_or") => Some(Merge::LogicalOr),
        Some(b"agg_min") => Some(Merge::Min),
        Some(b"agg_max") => Some(Merge::Max),
        Some(_) => None,
    };
    Ok(match (request, merge) {
        (Some(b"all_shards"), Some(merge)) => Policy::AllPrimaries(merge),
        (Some(b"all_nodes"), Some(merge)) => Policy::AllNodes(merge),
        _ => Policy::Default,
    })
}

fn bad(message: String) -> Error {
    Error::new(
        ErrorKind::InvalidResponse,
        format!("COMMAND reply: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Reply, Value};

    fn s(text: &str) -> Value {
        Value::simple(text)
    }

    fn b(text: &str) -> Value {
        Value::bulk(text)
    }

    /// Flags, categories, tips and key specs come as arrays in RESP2 and as sets in RESP3
    /// (as do empty subcommand lists; full ones are arrays).
    fn list(resp3: bool, items: Vec<Value>) -> Value {
        if resp3 {
            Value::Set(items)
        } else {
            Value::Array(items)
        }
    }

    fn flags(resp3: bool, names: &[&str]) -> Value {
        list(resp3, names.iter().map(|n| s(n)).collect())
    }

    /// A `COMMAND` entry of a 7.x server: name, arity, flags, first, last, step, ACL
    /// categories, tips, key specs (left empty: not read), subcommands.
    fn command(
        resp3: bool,
        name: &str,
        flag_names: &[&str],
        (first, last, step): (i64, i64, i64),
        tips: &[&str],
        subcommands: Vec<Value>,
    ) -> Value {
        Value::Array(vec![
            b(name),
            Value::Integer(-2),
            flags(resp3, flag_names),
            Value::Integer(first),
            Value::Integer(last),
            Value::Integer(step),
            flags(resp3, &["@read"]),
            list(resp3, tips.iter().map(|t| b(t)).collect()),
            list(resp3, vec![]),
            if subcommands.is_empty() {
                list(resp3, vec![])
            } else {
                Value::Array(subcommands)
            },
        ])
    }

    fn spec(table: &CommandTable, line: &str) -> CommandSpec {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        *table
            .get(&args)
            .unwrap_or_else(|| panic!("{line} not in the table"))
    }

    fn server_reply(resp3: bool) -> Reply {
        Reply::from_value(&Value::Array(vec![
            command(resp3, "get", &["readonly", "fast"], (1, 1, 1), &[], vec![]),
            command(resp3, "json.get", &["readonly"], (1, 1, 1), &[], vec![]),
            command(
                resp3,
                "json.set",
                &["write", "denyoom"],
                (1, 1, 1),
                &[],
                vec![],
            ),
            command(
                resp3,
                "mod.count",
                &["readonly"],
                (0, 0, 0),
                &["request_policy:all_shards", "response_policy:agg_sum"],
                vec![],
            ),
            command(
                resp3,
                "mod.list",
                &[],
                (0, 0, 0),
                &["request_policy:all_nodes"],
                vec![],
            ),
            command(
                resp3,
                "mod.mget",
                &["readonly"],
                (1, -1, 1),
                &["request_policy:multi_shard"],
                vec![],
            ),
            command(
                resp3,
                "mod.stats",
                &[],
                (0, 0, 0),
                &["request_policy:all_shards", "response_policy:special"],
                vec![],
            ),
            command(
                resp3,
                "mod.movable",
                &["movablekeys"],
                (0, 0, 0),
                &[],
                vec![],
            ),
            command(
                resp3,
                "eval",
                &["noscript", "movablekeys"],
                (0, 0, 0),
                &[],
                vec![],
            ),
            command(
                resp3,
                "sort",
                &["write", "movablekeys"],
                (1, 1, 1),
                &[],
                vec![],
            ),
            // A server whose RANDOMKEY tip lacks the response policy: the built-in choice holds.
            command(
                resp3,
                "randomkey",
                &["readonly"],
                (0, 0, 0),
                &["request_policy:all_shards"],
                vec![],
            ),
            command(
                resp3,
                "config",
                &[],
                (0, 0, 0),
                &[],
                vec![
                    command(
                        resp3,
                        "config|set",
                        &["admin"],
                        (0, 0, 0),
                        &["request_policy:all_nodes", "response_policy:all_succeeded"],
                        vec![],
                    ),
                    command(resp3, "config|get", &["admin"], (0, 0, 0), &[], vec![]),
                ],
            ),
            command(
                resp3,
                "mod.box",
                &[],
                (0, 0, 0),
                &[],
                vec![command(
                    resp3,
                    "mod.box|peek",
                    &["readonly"],
                    (2, 2, 1),
                    &[],
                    vec![],
                )],
            ),
        ]))
    }

    #[test]
    fn reads_resp2_and_resp3_shapes_alike() {
        for resp3 in [false, true] {
            let reply = server_reply(resp3);
            let table = CommandTable::from_command_reply(reply.value()).unwrap();
            let range = |first, last, step| KeySpec::Range { first, last, step };
            let cases: &[(&str, KeySpec, bool, Policy)] = &[
                ("GET k", range(1, 1, 1), true, Policy::Default),
                ("JSON.GET k $", range(1, 1, 1), true, Policy::Default),
                ("json.set k $ 1", range(1, 1, 1), false, Policy::Default),
                (
                    "MOD.COUNT",
                    KeySpec::None,
                    true,
                    Policy::AllPrimaries(Merge::Sum),
                ),
                (
                    "MOD.LIST",
                    KeySpec::None,
                    false,
                    Policy::AllNodes(Merge::Concat),
                ),
                // Splitting needs to know how to join the parts: not from tips alone.
                ("MOD.MGET a b", range(1, -1, 1), true, Policy::Default),
                ("MOD.STATS", KeySpec::None, false, Policy::Default),
                ("MOD.MOVABLE k", KeySpec::Movable, false, Policy::Default),
                (
                    "EVAL s 1 k",
                    KeySpec::NumKeys { at: 2, before: 0 },
                    false,
                    Policy::Default,
                ),
                ("SORT k", KeySpec::Movable, false, Policy::Default),
                ("RANDOMKEY", KeySpec::None, true, Policy::Default),
                (
                    "CONFIG SET a b",
                    KeySpec::None,
                    false,
                    Policy::AllNodes(Merge::AllOk),
                ),
                ("CONFIG GET a", KeySpec::None, false, Policy::Default),
                ("MOD.BOX PEEK k", range(2, 2, 1), true, Policy::Default),
                // Not in the reply: the built-in table fills in.
                (
                    "MGET a b",
                    range(1, -1, 1),
                    true,
                    Policy::Split(super::super::keys::SplitKind::Mget),
                ),
                (
                    "CONFIG RESETSTAT",
                    KeySpec::None,
                    false,
                    Policy::AllNodes(Merge::AllOk),
                ),
            ];
            for (line, keys, read_only, policy) in cases {
                let got = spec(&table, line);
                assert_eq!(got.keys, *keys, "{line} (RESP3: {resp3})");
                assert_eq!(got.read_only, *read_only, "{line} (RESP3: {resp3})");
                assert_eq!(got.policy, *policy, "{line} (RESP3: {resp3})");
            }
        }
    }

    #[test]
    fn servers_before_7_send_six_elements() {
        let reply = Reply::from_value(&Value::Array(vec![Value::Array(vec![
            b("get"),
            Value::Integer(2),
            flags(false, &["readonly", "fast"]),
            Value::Integer(1),
            Value::Integer(1),
            Value::Integer(1),
        ])]));
        let table = CommandTable::from_command_reply(reply.value()).unwrap();
        assert!(spec(&table, "GET k").read_only);
        assert_eq!(
            spec(&table, "DBSIZE").policy,
            Policy::AllPrimaries(Merge::Sum)
        );
    }

    #[test]
    fn other_shapes_are_errors_not_panics() {
        let ok_flags = flags(false, &["readonly"]);
        let entry = |items: Vec<Value>| Value::Array(vec![Value::Array(items)]);
        let cases: Vec<(&str, Value, &str)> = vec![
            ("not an array", Value::Integer(1), "expected an array"),
            (
                "entry not an array",
                Value::Array(vec![b("get")]),
                "not an array",
            ),
            (
                "short entry",
                entry(vec![b("get"), Value::Integer(2)]),
                "no flags",
            ),
            (
                "name not a string",
                entry(vec![
                    Value::Integer(1),
                    Value::Integer(2),
                    ok_flags.clone(),
                    Value::Integer(1),
                    Value::Integer(1),
                    Value::Integer(1),
                ]),
                "name is not a string",
            ),
            (
                "first key not an integer",
                entry(vec![
                    b("get"),
                    Value::Integer(2),
                    ok_flags.clone(),
                    b("1"),
                    Value::Integer(1),
                    Value::Integer(1),
                ]),
                "GET: first key is not an integer",
            ),
            (
                "key position out of range",
                entry(vec![
                    b("get"),
                    Value::Integer(2),
                    ok_flags.clone(),
                    Value::Integer(1),
                    Value::Integer(1 << 40),
                    Value::Integer(1),
                ]),
                "out of range",
            ),
            (
                "flag not a string",
                entry(vec![
                    b("get"),
                    Value::Integer(2),
                    Value::Array(vec![Value::Integer(3)]),
                    Value::Integer(1),
                    Value::Integer(1),
                    Value::Integer(1),
                ]),
                "a flag is not a string",
            ),
            (
                "subcommands not an array",
                entry(vec![
                    b("config"),
                    Value::Integer(-2),
                    flags(false, &[]),
                    Value::Integer(0),
                    Value::Integer(0),
                    Value::Integer(0),
                    Value::Array(vec![]),
                    Value::Array(vec![]),
                    Value::Array(vec![]),
                    b("set"),
                ]),
                "subcommands are not an array",
            ),
        ];
        for (what, value, message) in cases {
            let reply = Reply::from_value(&value);
            let err = CommandTable::from_command_reply(reply.value()).expect_err(what);
            assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{what}");
            assert!(err.message().contains(message), "{what}: {}", err.message());
        }
    }
}
