//! What could not be sent, and when it goes: requests a data node turned away or left
//! unanswered (the reactor's detours), and those with nowhere to go (no master known, a
//! failover under way), wait here until a discovery publishes a node they can go to, or
//! their time runs out. A request that was written when its connection dropped is never sent
//! again (it fails with CONNECTION) unless the configuration opts in; READONLY (the master
//! became a replica) and lost connections ask for a discovery.

#[allow(unused_imports)]
use super::*;

use crate::client::cluster::frame_args;
use crate::reactor::Detour;
use crate::resp::Reply;
use crate::route::command::{classify, CommandClass};

/// How often waiting requests are looked at while some wait (a connection may have come up).
const PARK_TICK: Duration = Duration::from_millis(10);
/// How long a request turned away by a loading or master-less replica waits before it goes
/// again.
const BUSY_DELAY: Duration = Duration::from_millis(100);
/// Most times one request is kept and sent again.
const MAX_RESENDS: u8 = 32;

impl Engine {
    /// Keeps a request until it can be sent (or fails it when it went round too often).
    pub(super) fn sentinel_park(
        &self,
        what: Waiting,
        mut meta: RequestMeta,
        cause: Error,
        due: Instant,
    ) {
        if self.closed.load(Ordering::Acquire) {
            // Shut down (`Client::shutdown`): nothing waits for a master any more.
            let mut completions = Vec::new();
            what.fail(
                &crate::reactor::completion::closed_error(),
                &mut completions,
            );
            self.deliver_now(completions);
            return;
        }
        if meta.redirects >= MAX_RESENDS {
            let mut completions = Vec::new();
            what.fail(&cause, &mut completions);
            self.deliver_now(completions);
            return;
        }
        meta.redirects += 1;
        let sentinel = self.sentinel();
        sentinel.counters.parked.fetch_add(1, Ordering::Relaxed);
        sentinel.parked.lock().unwrap().push(Parked {
            what,
            meta,
            cause,
            due,
        });
        // A reactor may sleep without a timer for it.
        self.reactors[0].notify(Msg::Timers);
    }

    /// Commands for the master start (`held`) or stop being held.
    pub(super) fn set_held(&self, held: bool) {
        let sentinel = self.sentinel();
        {
            let _publishing = sentinel.publish.lock().unwrap();
            let nodes = self.nodes.load();
            let view = nodes.service.clone().unwrap_or_default();
            if view.held == held {
                return;
            }
            self.nodes.store(Arc::new(NodeSet {
                pools: nodes.pools.clone(),
                topology: None,
                service: Some(ServiceView { held, ..view }),
            }));
        }
        if held {
            sentinel.counters.holds.fetch_add(1, Ordering::Relaxed);
        } else {
            self.resend_parked(true);
        }
    }

    /// The reactor's detours from data nodes: sent on, kept, or failed into `completions`.
    pub(in crate::client) fn on_sentinel_detours(
        &self,
        detours: &mut Vec<Detour>,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let nodes = self.nodes.load();
        let view = nodes.service.clone().unwrap_or_default();
        let id = |i: &usize| nodes.pools.get(*i).map(|p| p.id);
        let master = view.master.as_ref().and_then(id);
        let replica_client = self.sentinel().role() == SentinelRole::Replica;
        // A write to a read client's replica: READONLY is the caller's error.
        let to_replica = |node: u64| replica_client && Some(node) != master;
        let mut rediscover = false;
        let now = Instant::now();
        for detour in detours.drain(..) {
            let Detour {
                completion,
                cause,
                written,
                refused,
                frame,
                meta,
                node,
                notice,
            } = detour;
            if notice && cause.kind() == ErrorKind::Timeout {
                // A command timed out there: the sentinels tell of a failover themselves.
                continue;
            }
            if notice {
                // It failed where it was (a held connection's, a pinned batch's): nothing to
                // send, but after a lost node or a demoted master the next one should find
                // the new master.
                let demoted = cause.kind() == ErrorKind::ReadOnly && !to_replica(node);
                rediscover |= !refused || demoted;
                continue;
            }
            // Dropped by a master turned replica (`UNBLOCKED`): a command blocked on keys
            // goes on at the new master, its block time from now; anything else (WAIT) fails.
            let mut meta = meta;
            let restartable = refused
                && cause.unblocked_by_role_change()
                && self.restart_blocked(&frame, &mut meta);
            let blocking = frame_args(&frame).is_some_and(|args| {
                matches!(classify(args.as_slice()), Ok(CommandClass::Blocking { .. }))
            });
            let waiting = |completion| Waiting::Command {
                completion,
                frame,
                blocking,
            };
            if !refused {
                // The connection was lost: never sent twice, unless opted in.
                rediscover = true;
                if written && !meta.retry_written {
                    completions.push((completion, Err(cause)));
                } else {
                    self.sentinel_park(waiting(completion), meta, cause, now);
                }
                continue;
            }
            match cause.kind() {
                ErrorKind::ReadOnly if to_replica(node) => {
                    completions.push((completion, Err(cause)))
                }
                // The master is a replica now: it did not run the command (nor the blocking
                // one it dropped, UNBLOCKED).
                ErrorKind::ReadOnly => {
                    rediscover = true;
                    self.sentinel_park(waiting(completion), meta, cause, now);
                }
                _ if restartable => {
                    rediscover = true;
                    self.sentinel_park(waiting(completion), meta, cause, now);
                }
                ErrorKind::BusyLoading | ErrorKind::MasterDown => {
                    self.sentinel_park(waiting(completion), meta, cause, now + BUSY_DELAY);
                }
                _ => completions.push((completion, Err(cause))),
            }
        }
        if rediscover {
            self.request_discovery();
        }
    }

    /// Sends the waiting requests that can go: all that are due once a discovery published
    /// where they go (`published`), else those whose node has a connection up. Those whose
    /// time ran out fail.
    pub(super) fn resend_parked(&self, published: bool) {
        let now = Instant::now();
        let sentinel = self.sentinel();
        let waiting = std::mem::take(&mut *sentinel.parked.lock().unwrap());
        if waiting.is_empty() {
            return;
        }
        let nodes = self.nodes.load();
        let mut keep = Vec::new();
        let mut completions = Vec::new();
        for p in waiting {
            if p.meta.deadline.is_some_and(|d| d <= now) {
                p.what.fail(&self.parked_error(&p.cause), &mut completions);
                continue;
            }
            let pool = match self.sentinel_pick(&nodes) {
                Pick::Pool(pool) if p.due <= now && (published || ready(pool)) => pool,
                _ => {
                    keep.push(p);
                    continue;
                }
            };
            if let Some(p) = self.sentinel_resend(pool, p) {
                keep.push(p);
            }
        }
        sentinel.parked.lock().unwrap().extend(keep);
        self.deliver_now(completions);
    }

    /// Sends one waiting request to `pool`; gives it back when the node refuses it now.
    fn sentinel_resend(&self, pool: &NodePool, p: Parked) -> Option<Parked> {
        let Parked {
            what,
            meta,
            cause,
            due,
        } = p;
        let what = match what {
            Waiting::Command {
                completion,
                frame,
                blocking,
            } => {
                let write = |buf: &mut Vec<u8>| buf.extend_from_slice(&frame);
                let sent = self.sentinel_send(pool, write, completion, meta, false, blocking);
                let (_, completion) = sent.err()?;
                Waiting::Command {
                    completion,
                    frame,
                    blocking,
                }
            }
            Waiting::Pipeline { pipeline, run } => {
                self.sentinel_send_pipeline(pool, &pipeline, &run, meta)
                    .err()?;
                Waiting::Pipeline { pipeline, run }
            }
        };
        Some(Parked {
            what,
            meta,
            cause,
            due,
        })
    }

    /// The error of a request whose time ran out while it waited: why the sentinels had
    /// nothing to offer, if a discovery failed; else a timeout naming why it waited.
    fn parked_error(&self, cause: &Error) -> Error {
        if let Some(err) = self.sentinel().last_error.lock().unwrap().clone() {
            return err;
        }
        Error::new(
            ErrorKind::Timeout,
            format!(
                "the command timed out before it could be sent: {}",
                cause.message()
            ),
        )
    }

    /// The sentinel client's earliest timer.
    pub(in crate::client) fn sentinel_next_deadline(&self) -> Option<Instant> {
        let sentinel = self.sentinel();
        let discovery = sentinel.schedule.lock().unwrap().next_due();
        let hold = sentinel.watch.lock().unwrap().next_deadline();
        let parked =
            (!sentinel.parked.lock().unwrap().is_empty()).then(|| Instant::now() + PARK_TICK);
        let listen = self.next_listen().unwrap_or_else(Instant::now);
        [discovery, hold, parked, Some(listen)]
            .into_iter()
            .flatten()
            .min()
    }

    /// The sentinel client's timers: a periodic or deferred discovery, a hold that ran out,
    /// the subscriptions, the waiting requests.
    pub(in crate::client) fn sentinel_timers(&self, now: Instant) {
        let sentinel = self.sentinel();
        if sentinel.schedule.lock().unwrap().poll(now) {
            self.start_discovery();
        }
        if sentinel.watch.lock().unwrap().poll_expired(now) {
            self.set_held(false);
            self.trigger_discovery(now);
        }
        if self.next_listen().is_none_or(|t| t <= now) {
            self.look_after_subscriptions(now);
        }
        if !sentinel.parked.lock().unwrap().is_empty() {
            self.resend_parked(false);
            if !sentinel.parked.lock().unwrap().is_empty() {
                // Still nowhere to go: keep asking (at most every DISCOVERY_GAP).
                self.trigger_discovery(now);
            }
        }
    }

    /// `request_discovery` from a reactor's timers: no wake-up needed, the reactor looks at
    /// the deadlines next.
    fn trigger_discovery(&self, now: Instant) {
        if self.sentinel().schedule.lock().unwrap().trigger(now) {
            self.start_discovery();
        }
    }

    /// Fails every waiting request (shutdown).
    pub(in crate::client) fn sentinel_fail_waiting(
        &self,
        err: &Error,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let waiting = std::mem::take(&mut *self.sentinel().parked.lock().unwrap());
        for p in waiting {
            p.what.fail(err, completions);
        }
    }
}
