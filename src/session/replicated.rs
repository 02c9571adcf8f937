//! Writes acknowledged only once replicas have them: a `WAIT numreplicas timeout` sent right
//! after a batch's writes on the same connection, and what its answer does to the batch's
//! results. Redis replicates asynchronously, so a master that dies (or is failed over) may
//! take writes it acknowledged with it; a write its replicas confirmed survives the failover
//! that promotes one of them. Sans-I/O: frames in, results out.

use crate::config::ReplicatedWrites;
use crate::error::{Error, ErrorKind, Result};
use crate::resp::{encode_command, Kind, Reply};
use crate::route::keys::{CommandTable, KeySpec};

/// The WAIT frame for `settings`.
fn wait_frame(settings: &ReplicatedWrites) -> Vec<u8> {
    let replicas = settings.replicas.to_string();
    let millis = settings.timeout.as_millis().max(1).to_string();
    let mut frame = Vec::new(); // encode_command reserves what it needs
    encode_command(
        &mut frame,
        &[b"WAIT".as_slice(), replicas.as_bytes(), millis.as_bytes()],
    );
    frame
}

/// True when `args` may change data, so that its acknowledgement waits for replicas: a
/// command the table does not flag read-only that has keys (but `SPUBLISH`, whose "key" is a
/// channel), one that changes a whole database or the functions, and any command the table
/// does not know (a module's: it may write).
pub(crate) fn is_write(table: &CommandTable, args: &[&[u8]]) -> bool {
    let Some(spec) = table.get(args) else {
        return true;
    };
    if spec.read_only {
        return false;
    }
    let named = |names: &[&str], arg: Option<&&[u8]>| {
        arg.is_some_and(|a| names.iter().any(|n| a.eq_ignore_ascii_case(n.as_bytes())))
    };
    if named(&["SPUBLISH"], args.first()) {
        return false;
    }
    spec.keys != KeySpec::None
        || named(&["FLUSHALL", "FLUSHDB", "SWAPDB"], args.first())
        || (named(&["FUNCTION"], args.first())
            && named(&["LOAD", "DELETE", "FLUSH", "RESTORE"], args.get(1)))
}

/// The WAIT that follows one batch, and which of its slots are writes.
pub(crate) struct WaitCheck {
    settings: ReplicatedWrites,
    frame: Vec<u8>,
    /// One per slot before the WAIT's: a write whose result waits for the replicas (for a
    /// transaction, EXEC's slot).
    writes: Vec<bool>,
    /// The batch is a transaction: a nil answer (EXEC's, after a WATCH failed) means nothing
    /// ran. Elsewhere nil says nothing about that: a script, GETSET or `SET ... GET` that
    /// wrote may answer nil.
    transaction: bool,
}

impl WaitCheck {
    /// The check for a batch whose slots (MULTI and EXEC included) are `writes`, a
    /// transaction or not; `None` when none writes (nothing to wait for).
    pub(crate) fn new(
        settings: ReplicatedWrites,
        writes: Vec<bool>,
        transaction: bool,
    ) -> Option<WaitCheck> {
        writes.contains(&true).then(|| WaitCheck {
            settings,
            frame: wait_frame(&settings),
            writes,
            transaction,
        })
    }

    /// The WAIT frame, sent right after the batch on its connection.
    pub(crate) fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// Takes the WAIT's result off the end of `slots` and, unless enough replicas confirmed,
    /// turns each write's success into a TIMEOUT error saying what happened: the master ran
    /// it, its replicas are not known to have it. Failed writes keep their error, and a
    /// transaction whose EXEC answered nil (nothing ran) keeps its WATCH failure.
    pub(crate) fn settle(&self, slots: &mut Vec<Result<Reply>>) {
        let Some(wait) = slots.pop() else {
            return;
        };
        let wanted = self.settings.replicas;
        let millis = self.settings.timeout.as_millis().max(1);
        let shortfall = match wait {
            Ok(reply) => match reply.value().as_integer() {
                Some(n) if n >= i64::from(wanted) => return,
                Some(n) => Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the master ran the write, but {n} of the {wanted} replicas asked for \
                         confirmed it within {millis} ms (WAIT): a failover may lose it"
                    ),
                ),
                None => Error::new(
                    ErrorKind::InvalidResponse,
                    format!("WAIT answered {reply:?}, not a count of replicas"),
                ),
            },
            Err(err) => Error::new(
                err.kind(),
                format!(
                    "the write's replication could not be confirmed: WAIT failed: {}",
                    err.message()
                ),
            ),
        };
        for (slot, &write) in slots.iter_mut().zip(&self.writes) {
            let ran = match slot {
                Ok(reply) => !(self.transaction && reply.kind() == Kind::Null),
                Err(_) => false,
            };
            if write && ran {
                *slot = Err(shortfall.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Decoder, Limits};
    use crate::route::keys::BUILTIN_TABLE;
    use std::time::Duration;

    fn reply(bytes: &[u8]) -> Reply {
        match Decoder::new(Limits::unlimited()).decode(bytes) {
            Ok((_, Some(reply))) => reply,
            other => panic!("{other:?}"),
        }
    }

    fn settings() -> ReplicatedWrites {
        ReplicatedWrites {
            replicas: 2,
            timeout: Duration::from_millis(500),
        }
    }

    #[test]
    fn writes_are_told_from_reads() {
        let table = &*BUILTIN_TABLE;
        let write = |args: &[&str]| {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            is_write(table, &args)
        };
        assert!(write(&["SET", "k", "v"]));
        assert!(write(&["incr", "k"]));
        assert!(write(&["EVAL", "return 1", "0"]));
        assert!(write(&["FLUSHALL"]));
        assert!(write(&["MODULE.WRITE", "k"]));
        assert!(write(&["FUNCTION", "LOAD", "#!lua name=l\n"]));
        assert!(!write(&["FUNCTION", "LIST"]));
        assert!(!write(&["SPUBLISH", "c", "m"]));
        assert!(!write(&["GET", "k"]));
        assert!(!write(&["MGET", "a", "b"]));
        assert!(!write(&["PING"]));
        assert!(!write(&["PUBLISH", "c", "m"]));
        assert!(!write(&["CLIENT", "SETNAME", "x"]));
    }

    #[test]
    fn the_frame_is_wait_with_the_settings() {
        let check = WaitCheck::new(settings(), vec![true], false).unwrap();
        assert_eq!(
            check.frame(),
            b"*3\r\n$4\r\nWAIT\r\n$1\r\n2\r\n$3\r\n500\r\n"
        );
        assert!(WaitCheck::new(settings(), vec![false, false], false).is_none());
    }

    #[test]
    fn enough_replicas_leave_the_results_alone() {
        let check = WaitCheck::new(settings(), vec![true, false], false).unwrap();
        let mut slots = vec![
            Ok(reply(b"+OK\r\n")),
            Ok(reply(b"$1\r\nv\r\n")),
            Ok(reply(b":2\r\n")),
        ];
        check.settle(&mut slots);
        assert_eq!(slots.len(), 2);
        assert!(slots.iter().all(Result::is_ok));
    }

    #[test]
    fn too_few_replicas_fail_the_writes_that_ran() {
        let check = WaitCheck::new(settings(), vec![true, false, true], false).unwrap();
        let refused = Error::new(ErrorKind::Response, "WRONGTYPE");
        let mut slots = vec![
            Ok(reply(b"+OK\r\n")),
            Ok(reply(b"$1\r\nv\r\n")),
            Err(refused),
            Ok(reply(b":1\r\n")),
        ];
        check.settle(&mut slots);
        assert_eq!(slots.len(), 3);
        let err = slots[0].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(err.message().contains("1 of the 2 replicas"), "{err}");
        assert!(slots[1].is_ok(), "a read keeps its reply");
        assert_eq!(slots[2].as_ref().unwrap_err().kind(), ErrorKind::Response);
    }

    #[test]
    fn a_failed_wait_fails_the_writes_and_a_nil_exec_stays_a_watch_failure() {
        let check = WaitCheck::new(settings(), vec![false, false, true], true).unwrap();
        let lost = Error::new(ErrorKind::Connection, "connection lost");
        let mut slots = vec![
            Ok(reply(b"+OK\r\n")),
            Ok(reply(b"+QUEUED\r\n")),
            Ok(reply(b"*1\r\n+OK\r\n")),
            Err(lost.clone()),
        ];
        check.settle(&mut slots);
        let err = slots[2].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert!(err.message().contains("WAIT failed"), "{err}");

        let mut slots = vec![
            Ok(reply(b"+OK\r\n")),
            Ok(reply(b"+QUEUED\r\n")),
            Ok(reply(b"*-1\r\n")),
            Err(lost),
        ];
        check.settle(&mut slots);
        assert_eq!(slots[2].as_ref().unwrap().kind(), Kind::Null);
    }

    #[test]
    fn a_write_answering_nil_outside_a_transaction_still_waits() {
        // A script that wrote and returned nothing, GETSET or `SET ... GET` on a new key.
        let check = WaitCheck::new(settings(), vec![true, true], false).unwrap();
        let mut slots = vec![
            Ok(reply(b"$-1\r\n")),
            Ok(reply(b"_\r\n")),
            Ok(reply(b":0\r\n")),
        ];
        check.settle(&mut slots);
        for slot in &slots {
            assert_eq!(slot.as_ref().unwrap_err().kind(), ErrorKind::Timeout);
        }
    }
}
