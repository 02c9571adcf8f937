//! Bringing several replies back into one: the fan-out merges of the `response_policy` tips
//! (sum, concatenation, all-succeeded, per-position AND / OR / min / max, one-succeeded) and
//! the join of a command split per slot (`MGET` values in the caller's key order, `MSET`,
//! summed integers).
//!
//! Each reply comes as the engine got it: `Ok(reply)` (which may be a server error reply)
//! or `Err` (the node could not be reached). Error choice: except for `OneSucceeded`, any
//! failure fails the whole, and the first failure in the order given is the one returned
//! (node order for a fan-out, slot order for a split), so the caller sees a real server
//! error rather than a made-up summary.

use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Kind, Reply, Value, ValueRef};
use crate::route::keys::{Merge, SplitKind};

use super::plan::SplitPart;

/// Merges the replies of a fan-out as `merge` says.
pub fn merge(merge: Merge, replies: Vec<Result<Reply>>) -> Result<Reply> {
    if merge == Merge::OneSucceeded {
        let mut first_error = None;
        for reply in replies {
            match success(reply) {
                Ok(reply) => return Ok(reply),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        return Err(first_error.unwrap_or_else(no_replies));
    }
    let replies = successes(replies)?;
    let Some(first) = replies.first() else {
        return Err(no_replies());
    };
    match merge {
        Merge::AllOk | Merge::OneSucceeded => Ok(replies.into_iter().next().expect("not empty")),
        Merge::Sum => {
            let values: Vec<ValueRef<'_>> = replies.iter().map(Reply::value).collect();
            Ok(Reply::from_value(&Value::Integer(sum(&values)?)))
        }
        Merge::Concat => concat(&replies),
        Merge::LogicalAnd | Merge::LogicalOr | Merge::Min | Merge::Max => {
            let values: Vec<ValueRef<'_>> = replies.iter().map(Reply::value).collect();
            let merged = if matches!(first.kind(), Kind::Array | Kind::Set) {
                let len = first.value().len();
                let mut items = Vec::with_capacity(len);
                for i in 0..len {
                    let column: Option<Vec<ValueRef<'_>>> = values
                        .iter()
                        .map(|v| v.get(i).filter(|_| v.len() == len))
                        .collect();
                    let column =
                        column.ok_or_else(|| cannot(merge, "arrays of different lengths"))?;
                    items.push(combine(merge, &column)?);
                }
                Value::Array(items)
            } else {
                combine(merge, &values)?
            };
            Ok(Reply::from_value(&merged))
        }
    }
}

/// Joins the replies of a split command (one per part, in `parts` order). `argc` is the
/// caller's argument count, name included.
///
/// `Mget`: an array of `argc - 1` values, each at its key's place in the caller's command.
/// `Mset`: `OK` when every part said so. `Sum`: the integers added up.
pub fn join_split(
    kind: SplitKind,
    parts: &[SplitPart],
    argc: usize,
    replies: Vec<Result<Reply>>,
) -> Result<Reply> {
    if replies.len() != parts.len() {
        return Err(Error::new(
            ErrorKind::Internal,
            format!(
                "{} replies for {} parts of a split command",
                replies.len(),
                parts.len()
            ),
        ));
    }
    let replies = successes(replies)?;
    match kind {
        SplitKind::Sum => {
            let values: Vec<ValueRef<'_>> = replies.iter().map(Reply::value).collect();
            Ok(Reply::from_value(&Value::Integer(sum(&values)?)))
        }
        SplitKind::Mset => {
            if let Some(odd) = replies.iter().find(|r| r.value().as_bytes() != Some(b"OK")) {
                return Err(unexpected(&format!("MSET part answered {odd:?}, not OK")));
            }
            replies.into_iter().next().ok_or_else(no_replies)
        }
        SplitKind::Mget => {
            let mut values = vec![Value::Null; argc.saturating_sub(1)];
            for (part, reply) in parts.iter().zip(&replies) {
                let reply = reply.value();
                if reply.kind() != Kind::Array || reply.len() != part.args.len() {
                    return Err(unexpected(&format!(
                        "MGET part of {} keys answered {reply:?}",
                        part.args.len()
                    )));
                }
                for (&arg, value) in part.args.iter().zip(reply.children()) {
                    let slot = (arg as usize)
                        .checked_sub(1)
                        .and_then(|i| values.get_mut(i))
                        .ok_or_else(|| unexpected("an MGET part names an argument past argc"))?;
                    *slot = value.to_value();
                }
            }
            Ok(Reply::from_value(&Value::Array(values)))
        }
    }
}

/// The reply itself, or the error it is or stands for.
fn success(reply: Result<Reply>) -> Result<Reply> {
    let reply = reply?;
    match reply.as_error() {
        Some(error) => Err(error),
        None => Ok(reply),
    }
}

/// Every reply, or the first failure.
fn successes(replies: Vec<Result<Reply>>) -> Result<Vec<Reply>> {
    replies.into_iter().map(success).collect()
}

/// Integers added up (no overflow).
fn sum(values: &[ValueRef<'_>]) -> Result<i64> {
    values.iter().try_fold(0i64, |total, v| {
        let n = v
            .as_integer()
            .ok_or_else(|| cannot(Merge::Sum, "a reply is not an integer"))?;
        total
            .checked_add(n)
            .ok_or_else(|| cannot(Merge::Sum, "the sum overflows 64 bits"))
    })
}

/// Arrays, sets or maps joined into one of the first reply's kind.
fn concat(replies: &[Reply]) -> Result<Reply> {
    let kind = replies[0].kind();
    if replies.iter().any(|r| r.kind() != kind) {
        return Err(cannot(Merge::Concat, "replies of different types"));
    }
    let items = || {
        replies
            .iter()
            .flat_map(|r| r.value().children().map(ValueRef::to_value))
    };
    let merged = match kind {
        Kind::Array => Value::Array(items().collect()),
        Kind::Set => Value::Set(items().collect()),
        Kind::Map => Value::Map(
            replies
                .iter()
                .flat_map(|r| r.value().pairs().map(|(k, v)| (k.to_value(), v.to_value())))
                .collect(),
        ),
        _ => return Err(cannot(Merge::Concat, "a reply is not an array, set or map")),
    };
    Ok(Reply::from_value(&merged))
}

/// One position of a per-position merge: integers (or booleans for AND / OR).
fn combine(merge: Merge, column: &[ValueRef<'_>]) -> Result<Value> {
    let booleans = column.iter().all(|v| v.kind() == Kind::Boolean);
    let ints: Option<Vec<i64>> = column
        .iter()
        .map(|v| v.as_integer().or_else(|| v.as_bool().map(i64::from)))
        .collect();
    let ints = ints.ok_or_else(|| cannot(merge, "a reply is not an integer"))?;
    let truth = |all: bool| {
        let result = if all {
            ints.iter().all(|&i| i != 0)
        } else {
            ints.iter().any(|&i| i != 0)
        };
        if booleans {
            Value::Boolean(result)
        } else {
            Value::Integer(i64::from(result))
        }
    };
    Ok(match merge {
        Merge::LogicalAnd => truth(true),
        Merge::LogicalOr => truth(false),
        Merge::Min => Value::Integer(ints.iter().copied().min().unwrap_or(0)),
        Merge::Max => Value::Integer(ints.iter().copied().max().unwrap_or(0)),
        other => return Err(cannot(other, "not a per-position merge")),
    })
}

fn cannot(merge: Merge, why: &str) -> Error {
    unexpected(&format!("cannot merge replies ({merge:?}): {why}"))
}

fn unexpected(message: &str) -> Error {
    Error::new(ErrorKind::InvalidResponse, message)
}

fn no_replies() -> Error {
    Error::new(
        ErrorKind::SlotNotCovered,
        "no node of the cluster to send the command to",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(value: Value) -> Result<Reply> {
        Ok(Reply::from_value(&value))
    }

    fn int(i: i64) -> Result<Reply> {
        r(Value::Integer(i))
    }

    fn ints(items: &[i64]) -> Result<Reply> {
        r(Value::Array(
            items.iter().map(|&i| Value::Integer(i)).collect(),
        ))
    }

    fn ok() -> Result<Reply> {
        r(Value::simple("OK"))
    }

    fn server_error(text: &str) -> Result<Reply> {
        r(Value::Error(text.as_bytes().to_vec()))
    }

    fn lost() -> Result<Reply> {
        Err(Error::new(ErrorKind::Connection, "connection lost"))
    }

    fn value(reply: Result<Reply>) -> Value {
        reply.expect("a reply").to_value()
    }

    #[test]
    fn merges() {
        let bulk = |s: &str| Value::bulk(s);
        // (name, merge, replies, expected)
        let cases: Vec<(&str, Merge, Vec<Result<Reply>>, Value)> = vec![
            (
                "DBSIZE",
                Merge::Sum,
                vec![int(3), int(0), int(4)],
                Value::Integer(7),
            ),
            ("one node", Merge::Sum, vec![int(-2)], Value::Integer(-2)),
            (
                "KEYS",
                Merge::Concat,
                vec![
                    r(Value::Array(vec![bulk("a")])),
                    r(Value::Array(vec![])),
                    r(Value::Array(vec![bulk("b"), bulk("c")])),
                ],
                Value::Array(vec![bulk("a"), bulk("b"), bulk("c")]),
            ),
            (
                "sets",
                Merge::Concat,
                vec![
                    r(Value::Set(vec![bulk("a")])),
                    r(Value::Set(vec![bulk("b")])),
                ],
                Value::Set(vec![bulk("a"), bulk("b")]),
            ),
            (
                "maps",
                Merge::Concat,
                vec![
                    r(Value::Map(vec![(bulk("a"), Value::Integer(1))])),
                    r(Value::Map(vec![(bulk("b"), Value::Integer(2))])),
                ],
                Value::Map(vec![
                    (bulk("a"), Value::Integer(1)),
                    (bulk("b"), Value::Integer(2)),
                ]),
            ),
            (
                "FLUSHALL",
                Merge::AllOk,
                vec![ok(), ok(), ok()],
                Value::simple("OK"),
            ),
            (
                "SCRIPT LOAD",
                Merge::AllOk,
                vec![r(bulk("sha")), r(bulk("sha"))],
                bulk("sha"),
            ),
            (
                "SCRIPT EXISTS",
                Merge::LogicalAnd,
                vec![ints(&[1, 1, 0]), ints(&[1, 0, 0])],
                Value::Array(vec![
                    Value::Integer(1),
                    Value::Integer(0),
                    Value::Integer(0),
                ]),
            ),
            (
                "OR",
                Merge::LogicalOr,
                vec![ints(&[1, 0, 0]), ints(&[0, 0, 1])],
                Value::Array(vec![
                    Value::Integer(1),
                    Value::Integer(0),
                    Value::Integer(1),
                ]),
            ),
            (
                "RESP3 booleans",
                Merge::LogicalAnd,
                vec![
                    r(Value::Array(vec![
                        Value::Boolean(true),
                        Value::Boolean(true),
                    ])),
                    r(Value::Array(vec![
                        Value::Boolean(true),
                        Value::Boolean(false),
                    ])),
                ],
                Value::Array(vec![Value::Boolean(true), Value::Boolean(false)]),
            ),
            (
                "WAIT",
                Merge::Min,
                vec![int(2), int(1), int(3)],
                Value::Integer(1),
            ),
            (
                "WAITAOF",
                Merge::Min,
                vec![ints(&[1, 2]), ints(&[1, 0])],
                Value::Array(vec![Value::Integer(1), Value::Integer(0)]),
            ),
            ("max", Merge::Max, vec![int(2), int(5)], Value::Integer(5)),
            (
                "scalar AND",
                Merge::LogicalAnd,
                vec![int(1), int(1)],
                Value::Integer(1),
            ),
            (
                "SCRIPT KILL",
                Merge::OneSucceeded,
                vec![
                    server_error("NOTBUSY No scripts in execution right now."),
                    ok(),
                    lost(),
                ],
                Value::simple("OK"),
            ),
        ];
        for (name, how, replies, expected) in cases {
            assert_eq!(value(merge(how, replies)), expected, "{name}");
        }
    }

    #[test]
    fn merge_failures() {
        // (name, merge, replies, kind of the error, start of its message)
        type Case = (
            &'static str,
            Merge,
            Vec<Result<Reply>>,
            ErrorKind,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "first error wins",
                Merge::AllOk,
                vec![ok(), server_error("ERR first"), server_error("ERR second")],
                ErrorKind::Response,
                "ERR first",
            ),
            (
                "a lost node",
                Merge::Sum,
                vec![int(1), lost()],
                ErrorKind::Connection,
                "connection lost",
            ),
            (
                "all failed",
                Merge::OneSucceeded,
                vec![lost(), server_error("ERR b")],
                ErrorKind::Connection,
                "connection lost",
            ),
            (
                "no nodes",
                Merge::AllOk,
                vec![],
                ErrorKind::SlotNotCovered,
                "no node",
            ),
            (
                "no nodes, one-succeeded",
                Merge::OneSucceeded,
                vec![],
                ErrorKind::SlotNotCovered,
                "no node",
            ),
            (
                "sum of text",
                Merge::Sum,
                vec![int(1), r(Value::bulk("x"))],
                ErrorKind::InvalidResponse,
                "cannot merge replies (Sum)",
            ),
            (
                "overflow",
                Merge::Sum,
                vec![int(i64::MAX), int(1)],
                ErrorKind::InvalidResponse,
                "cannot merge replies (Sum): the sum overflows",
            ),
            (
                "mixed kinds",
                Merge::Concat,
                vec![r(Value::Array(vec![])), r(Value::Set(vec![]))],
                ErrorKind::InvalidResponse,
                "cannot merge",
            ),
            (
                "concat of scalars",
                Merge::Concat,
                vec![int(1)],
                ErrorKind::InvalidResponse,
                "cannot merge",
            ),
            (
                "ragged arrays",
                Merge::LogicalAnd,
                vec![ints(&[1, 1]), ints(&[1])],
                ErrorKind::InvalidResponse,
                "cannot merge",
            ),
            (
                "text in AND",
                Merge::LogicalAnd,
                vec![r(Value::bulk("x"))],
                ErrorKind::InvalidResponse,
                "cannot merge",
            ),
        ];
        for (name, how, replies, kind, message) in cases {
            let err = merge(how, replies).expect_err(name);
            assert_eq!(err.kind(), kind, "{name}");
            assert!(
                err.message().starts_with(message),
                "{name}: {}",
                err.message()
            );
        }
    }

    fn part(slot: u16, args: &[u32]) -> SplitPart {
        SplitPart {
            slot,
            args: args.to_vec(),
        }
    }

    #[test]
    fn split_joins() {
        // MGET a b c d, parts {b, d} and {a} and {c}.
        let parts = [part(1, &[2, 4]), part(2, &[1]), part(3, &[3])];
        let replies = vec![
            r(Value::Array(vec![Value::bulk("B"), Value::Null])),
            r(Value::Array(vec![Value::bulk("A")])),
            r(Value::Array(vec![Value::bulk("C")])),
        ];
        assert_eq!(
            value(join_split(SplitKind::Mget, &parts, 5, replies)),
            Value::Array(vec![
                Value::bulk("A"),
                Value::bulk("B"),
                Value::bulk("C"),
                Value::Null
            ])
        );
        let two = [part(1, &[1, 2]), part(2, &[3, 4])];
        assert_eq!(
            value(join_split(SplitKind::Mset, &two, 5, vec![ok(), ok()])),
            Value::simple("OK")
        );
        assert_eq!(
            value(join_split(SplitKind::Sum, &two, 3, vec![int(1), int(2)])),
            Value::Integer(3)
        );

        let err =
            join_split(SplitKind::Sum, &two, 3, vec![int(1), server_error("ERR x")]).unwrap_err();
        assert_eq!(err.message(), "ERR x");
        let err = join_split(
            SplitKind::Mset,
            &two,
            5,
            vec![lost(), server_error("ERR x")],
        )
        .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Connection,
            "the first failure in part order"
        );
        let err = join_split(SplitKind::Mset, &two, 5, vec![ok(), int(0)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        let err =
            join_split(SplitKind::Mget, &two, 5, vec![ints(&[1]), ints(&[1, 2])]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        let err = join_split(SplitKind::Mget, &[part(1, &[9])], 3, vec![ints(&[1])]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        let err = join_split(SplitKind::Sum, &two, 3, vec![int(1)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
    }
}
