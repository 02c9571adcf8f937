//! What to do when a cluster command fails: follow a MOVED or ASK redirect at once, retry
//! after TRYAGAIN, CLUSTERDOWN, MASTERDOWN, READONLY or LOADING with a growing delay, retry a
//! command lost with its connection only when that cannot run it twice, and give up after a
//! bounded number of attempts with an error naming the last cause.
//!
//! Every delay grows with the attempt number: the base delay, doubled per attempt up to 8
//! times the base (50 ms TRYAGAIN: 50, 100, 200, 400, 400 ...), so that the default 16
//! attempts outlast a failover (seconds) without hammering the cluster meanwhile.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::route::topology::NodeAddr;

/// Bounds and delays of redirects and retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Attempts per command, the first send included (16, as redis-py's TTL).
    pub max_attempts: u32,
    /// First delay after TRYAGAIN (a multi-key command during resharding), READONLY and
    /// LOADING.
    pub tryagain_delay: Duration,
    /// First delay after CLUSTERDOWN / MASTERDOWN (the cluster is failing over).
    pub clusterdown_delay: Duration,
    /// First delay after a lost connection (the node may be down; the refresh it asks for
    /// needs the time to land).
    pub connection_delay: Duration,
}

impl Default for RedirectPolicy {
    /// 16 attempts; 50 ms, 250 ms and 100 ms first delays.
    fn default() -> RedirectPolicy {
        RedirectPolicy {
            max_attempts: 16,
            tryagain_delay: Duration::from_millis(50),
            clusterdown_delay: Duration::from_millis(250),
            connection_delay: Duration::from_millis(100),
        }
    }
}

/// How a cluster command failed.
#[derive(Clone, Copy, Debug)]
pub enum Failure<'a> {
    /// The server answered with this error.
    Reply(&'a Error),
    /// The connection failed, or the reply timed out (pass timeouts here too).
    Connection {
        /// What happened.
        error: &'a Error,
        /// The command was written (it may have run): not resent unless read-only or the
        /// caller opted in.
        written: bool,
    },
}

/// Where a retry goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryTo {
    /// Route again from the current topology (refreshed meanwhile, if asked).
    Slot,
    /// To the slot's new owner; patch the topology with `Topology::with_moved`. An empty
    /// host means the node that sent the MOVED.
    Moved {
        /// The slot that moved.
        slot: u16,
        /// Its owner, as the server announced it (the caller applies its remap hook).
        addr: NodeAddr,
    },
    /// Once to this node, preceded by `ASKING` on the same connection; the topology is not
    /// changed (the slot is migrating). An empty host means the node that sent the ASK.
    Ask {
        /// The node importing the slot.
        addr: NodeAddr,
    },
}

/// What to do with a failed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Not a cluster condition: complete the command with this error.
    Deliver,
    /// Send it again.
    Retry {
        /// Where.
        to: RetryTo,
        /// After how long (zero: at once).
        after: Duration,
        /// Ask for a topology refresh (`RefreshSchedule::trigger`).
        refresh: bool,
    },
    /// Complete the command with this error: `CLUSTER` "retries exhausted after N attempts;
    /// last: CAUSE", or the connection error itself for a written command that must not
    /// run twice.
    Fail(Error),
}

/// Decides about a command that failed on its `attempt`-th send (1 for the first).
/// `read_only` commands, and any command when `retry_written`, are resent after a lost
/// connection even when they were written.
pub fn decide(
    failure: Failure<'_>,
    attempt: u32,
    read_only: bool,
    retry_written: bool,
    policy: &RedirectPolicy,
) -> Decision {
    let (error, retry) = match failure {
        Failure::Reply(error) => match retry_after_reply(error, attempt, policy) {
            Some(retry) => (error, retry),
            None => return Decision::Deliver,
        },
        Failure::Connection { error, written } => {
            if written && !read_only && !retry_written {
                return Decision::Fail(error.clone());
            }
            let retry = Decision::Retry {
                to: RetryTo::Slot,
                after: grow(policy.connection_delay, attempt),
                refresh: true,
            };
            (error, retry)
        }
    };
    if attempt >= policy.max_attempts {
        return Decision::Fail(Error::new(
            ErrorKind::Cluster,
            format!("retries exhausted after {attempt} attempts; last: {error}"),
        ));
    }
    retry
}

/// The retry a server error asks for, if it is a cluster condition.
fn retry_after_reply(error: &Error, attempt: u32, policy: &RedirectPolicy) -> Option<Decision> {
    let retry = |to, after, refresh| Some(Decision::Retry { to, after, refresh });
    let target = || {
        error
            .redirect()
            .map(|r| (r.slot, NodeAddr::new(r.host.clone(), r.port)))
    };
    let tryagain = grow(policy.tryagain_delay, attempt);
    match error.kind() {
        ErrorKind::Moved => {
            let (slot, addr) = target()?;
            retry(RetryTo::Moved { slot, addr }, Duration::ZERO, true)
        }
        ErrorKind::Ask => {
            let (_, addr) = target()?;
            retry(RetryTo::Ask { addr }, Duration::ZERO, false)
        }
        ErrorKind::TryAgain => retry(RetryTo::Slot, tryagain, false),
        ErrorKind::ClusterDown | ErrorKind::MasterDown => {
            retry(RetryTo::Slot, grow(policy.clusterdown_delay, attempt), true)
        }
        // A write reached a primary that was demoted, or a replica still loading after a
        // failover: the topology is stale.
        ErrorKind::ReadOnly | ErrorKind::BusyLoading => retry(RetryTo::Slot, tryagain, true),
        // A blocking command its primary dropped on becoming a replica (a manual failover).
        _ if error.unblocked_by_role_change() => retry(RetryTo::Slot, tryagain, true),
        _ => None,
    }
}

/// `base` doubled per attempt after the first, at most 8 times `base`.
fn grow(base: Duration, attempt: u32) -> Duration {
    base * (1 << attempt.saturating_sub(1).min(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> Error {
        Error::from_server_reply(text.as_bytes())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn retry(to: RetryTo, after: Duration, refresh: bool) -> Decision {
        Decision::Retry { to, after, refresh }
    }

    #[test]
    fn server_errors() {
        let policy = RedirectPolicy::default();
        let moved = RetryTo::Moved {
            slot: 3999,
            addr: NodeAddr::new("127.0.0.1", 6381),
        };
        // (name, error text, attempt, decision)
        let cases: Vec<(&str, &str, u32, Decision)> = vec![
            (
                "MOVED",
                "MOVED 3999 127.0.0.1:6381",
                1,
                retry(moved.clone(), Duration::ZERO, true),
            ),
            (
                "MOVED late",
                "MOVED 3999 127.0.0.1:6381",
                15,
                retry(moved, Duration::ZERO, true),
            ),
            (
                "MOVED to the node asked",
                "MOVED 1 :7001",
                1,
                retry(
                    RetryTo::Moved {
                        slot: 1,
                        addr: NodeAddr::new("", 7001),
                    },
                    Duration::ZERO,
                    true,
                ),
            ),
            (
                "ASK",
                "ASK 12 [::1]:7000",
                1,
                retry(
                    RetryTo::Ask {
                        addr: NodeAddr::new("::1", 7000),
                    },
                    Duration::ZERO,
                    false,
                ),
            ),
            (
                "TRYAGAIN",
                "TRYAGAIN Multiple keys request during rehashing of slot",
                1,
                retry(RetryTo::Slot, ms(50), false),
            ),
            (
                "TRYAGAIN 2nd",
                "TRYAGAIN x",
                2,
                retry(RetryTo::Slot, ms(100), false),
            ),
            (
                "TRYAGAIN 4th",
                "TRYAGAIN x",
                4,
                retry(RetryTo::Slot, ms(400), false),
            ),
            (
                "TRYAGAIN 9th",
                "TRYAGAIN x",
                9,
                retry(RetryTo::Slot, ms(400), false),
            ),
            (
                "CLUSTERDOWN",
                "CLUSTERDOWN The cluster is down",
                1,
                retry(RetryTo::Slot, ms(250), true),
            ),
            (
                "CLUSTERDOWN 3rd",
                "CLUSTERDOWN Hash slot not served",
                3,
                retry(RetryTo::Slot, ms(1000), true),
            ),
            (
                "MASTERDOWN",
                "MASTERDOWN Link with MASTER is down",
                1,
                retry(RetryTo::Slot, ms(250), true),
            ),
            (
                "READONLY",
                "READONLY You can't write against a read only replica.",
                1,
                retry(RetryTo::Slot, ms(50), true),
            ),
            (
                "LOADING",
                "LOADING Redis is loading the dataset in memory",
                2,
                retry(RetryTo::Slot, ms(100), true),
            ),
            (
                "WRONGTYPE",
                "WRONGTYPE Operation against a key",
                1,
                Decision::Deliver,
            ),
            ("ERR", "ERR unknown command", 1, Decision::Deliver),
            (
                "CROSSSLOT",
                "CROSSSLOT Keys in request don't hash to the same slot",
                1,
                Decision::Deliver,
            ),
            (
                "NOSCRIPT",
                "NOSCRIPT No matching script",
                1,
                Decision::Deliver,
            ),
            ("unparsable MOVED", "MOVED x", 1, Decision::Deliver),
        ];
        for (name, text, attempt, expected) in cases {
            let error = reply(text);
            let got = decide(Failure::Reply(&error), attempt, false, false, &policy);
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn lost_connections() {
        let policy = RedirectPolicy::default();
        let error = Error::new(ErrorKind::Connection, "connection reset by peer");
        let again = |after| retry(RetryTo::Slot, after, true);
        // (name, written, read-only, retry written, attempt, decision)
        let cases: Vec<(&str, bool, bool, bool, u32, Decision)> = vec![
            ("never sent", false, false, false, 1, again(ms(100))),
            ("never sent, 3rd", false, false, false, 3, again(ms(400))),
            ("read-only", true, true, false, 1, again(ms(100))),
            ("opted in", true, false, true, 2, again(ms(200))),
            (
                "written write",
                true,
                false,
                false,
                1,
                Decision::Fail(error.clone()),
            ),
            (
                "written write, late",
                true,
                false,
                false,
                16,
                Decision::Fail(error.clone()),
            ),
        ];
        for (name, written, read_only, retry_written, attempt, expected) in cases {
            let failure = Failure::Connection {
                error: &error,
                written,
            };
            assert_eq!(
                decide(failure, attempt, read_only, retry_written, &policy),
                expected,
                "{name}"
            );
        }
        let timeout = Error::new(ErrorKind::Timeout, "no reply within 1 s");
        let failure = Failure::Connection {
            error: &timeout,
            written: true,
        };
        assert_eq!(
            decide(failure, 1, false, false, &policy),
            Decision::Fail(timeout.clone())
        );
    }

    #[test]
    fn attempts_are_bounded() {
        let policy = RedirectPolicy {
            max_attempts: 3,
            ..RedirectPolicy::default()
        };
        let error = reply("TRYAGAIN Multiple keys request during rehashing of slot");
        assert!(matches!(
            decide(Failure::Reply(&error), 2, false, false, &policy),
            Decision::Retry { .. }
        ));
        let Decision::Fail(err) = decide(Failure::Reply(&error), 3, false, false, &policy) else {
            panic!("not exhausted");
        };
        assert_eq!(err.kind(), ErrorKind::Cluster);
        assert_eq!(
            err.message(),
            "retries exhausted after 3 attempts; last: TRY_AGAIN: TRYAGAIN Multiple keys request during rehashing of slot"
        );
        let lost = Error::new(ErrorKind::Connection, "refused");
        let failure = Failure::Connection {
            error: &lost,
            written: false,
        };
        let Decision::Fail(err) = decide(failure, 3, false, false, &policy) else {
            panic!("not exhausted");
        };
        assert_eq!(
            err.message(),
            "retries exhausted after 3 attempts; last: CONNECTION: refused"
        );
        // Not a cluster condition: delivered even when no attempt is left.
        let other = reply("ERR syntax error");
        assert_eq!(
            decide(Failure::Reply(&other), 3, false, false, &policy),
            Decision::Deliver
        );
    }
}
