//! The results of a batch of requests answered in order (a pipeline), and MULTI / EXEC's rules
//! for what each command's result is when a transaction fails (redis-py's): pure data built
//! from the replies, sans-I/O.

use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Kind, Reply, ValueRef};

/// One command's result in a pipeline.
enum Entry {
    Reply(Reply),
    /// Element `i` of the EXEC reply.
    Element(usize),
    Error(Error),
}

/// The results of a pipeline run, in command order.
pub struct PipelineResult {
    entries: Vec<Entry>,
    exec: Option<Reply>,
    /// A transaction whose EXEC answered nil: a watched key changed, nothing ran.
    watch_failed: bool,
    /// A transaction that did not run as a whole: why (see `failure`).
    failure: Option<Error>,
}

impl PipelineResult {
    /// Number of results (one per command; MULTI and EXEC are not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for an empty pipeline.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Result `i`: the reply, or the error the command got (a server error reply, a queueing
    /// error in a transaction, EXECABORT, a connection error...).
    pub fn get(&self, i: usize) -> Option<std::result::Result<ValueRef<'_>, &Error>> {
        Some(match self.entries.get(i)? {
            Entry::Reply(r) => Ok(r.value()),
            Entry::Element(e) => Ok(self
                .exec
                .as_ref()
                .and_then(|r| r.value().child(*e))
                .expect("EXEC element")),
            Entry::Error(err) => Err(err),
        })
    }

    /// The first error, if any command failed.
    pub fn first_error(&self) -> Option<&Error> {
        self.first_failure().map(|(_, err)| err)
    }

    /// The position of the first command that failed, and its error.
    pub fn first_failure(&self) -> Option<(usize, &Error)> {
        self.entries.iter().enumerate().find_map(|(i, e)| match e {
            Entry::Error(err) => Some((i, err)),
            _ => None,
        })
    }

    /// True for a transaction that did not run because a watched key changed (EXEC answered
    /// nil), even one with no command.
    pub fn watch_failed(&self) -> bool {
        self.watch_failed
    }

    /// For a transaction whose commands did not run (MULTI or EXEC failed, EXECABORT, EXEC
    /// answered nil: WATCH), the error that stopped it, which each command's result carries
    /// too; the only word on it for a transaction of no command. `None` when EXEC ran and for
    /// plain pipelines.
    pub fn failure(&self) -> Option<&Error> {
        self.failure.as_ref()
    }
}

impl std::fmt::Debug for PipelineResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let results = (0..self.len()).filter_map(|i| self.get(i).map(|r| r.map(|v| v.to_value())));
        f.debug_list().entries(results).finish()
    }
}

impl PipelineResult {
    /// The result of a batch from one reply (or error) per request, in order. For a
    /// transaction the requests are MULTI, each command's QUEUED and EXEC.
    pub fn assemble(slots: Vec<Result<Reply>>, transaction: bool) -> PipelineResult {
        if transaction {
            return transaction_result(slots);
        }
        PipelineResult {
            entries: slots
                .into_iter()
                .map(|s| match s {
                    // Handles to it are lent from the result, never freed on their own.
                    Ok(mut r) => {
                        r.mark_borrowed();
                        Entry::Reply(r)
                    }
                    Err(e) => Entry::Error(e),
                })
                .collect(),
            exec: None,
            watch_failed: false,
            failure: None,
        }
    }
}

/// Slots are MULTI, each command's QUEUED, EXEC. Each command's result, as redis-py gives it:
/// the EXEC array's element; on EXECABORT, the command's own queueing error or EXECABORT; on
/// a nil EXEC, a WATCH error; if MULTI itself failed, that error.
fn transaction_result(mut slots: Vec<Result<Reply>>) -> PipelineResult {
    let exec = slots.pop().expect("EXEC slot");
    let multi = slots.remove(0);
    let queued = slots;
    let n = queued.len();
    let all = |err: Error| PipelineResult {
        entries: (0..n).map(|_| Entry::Error(err.clone())).collect(),
        exec: None,
        watch_failed: false,
        failure: Some(err),
    };
    if let Err(e) = multi {
        return all(e);
    }
    match exec {
        Err(e) if e.kind() == ErrorKind::ExecAbort => PipelineResult {
            entries: queued
                .into_iter()
                .map(|q| Entry::Error(q.err().unwrap_or_else(|| e.clone())))
                .collect(),
            exec: None,
            watch_failed: false,
            failure: Some(e),
        },
        Err(e) => all(e),
        Ok(reply) => match reply.kind() {
            Kind::Null => PipelineResult {
                watch_failed: true,
                ..all(Error::new(ErrorKind::Watch, "Watched variable changed."))
            },
            Kind::Array if reply.value().len() == n => {
                let entries = (0..n)
                    .map(|i| {
                        let element = reply.value().child(i).expect("element");
                        match element.as_error() {
                            Some(err) => Entry::Error(err),
                            None => Entry::Element(i),
                        }
                    })
                    .collect();
                let mut reply = reply;
                reply.mark_borrowed();
                PipelineResult {
                    entries,
                    exec: Some(reply),
                    watch_failed: false,
                    failure: None,
                }
            }
            _ => all(Error::new(
                ErrorKind::InvalidResponse,
                format!("EXEC answered {n} queued commands with {reply:?}"),
            )),
        },
    }
}
