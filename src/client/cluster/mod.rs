//! The engine's cluster half: every command routed by its keys' slot from the published
//! topology (no lock: the `NodeSet` snapshot carries it), fan-outs and per-slot splits
//! merged as the command means, redirections and retries (the reactor hands over `Detour`s,
//! `route::cluster::decide` says what to do), topology discovery and refresh (one at a time,
//! concurrent triggers collapsed), and the cluster SCAN cursor.
//!
//! The decisions are sans-I/O (`route::cluster`, `route::topology`, `route::keys`); these
//! files carry them out: `mod.rs` routes one command, `fanout.rs` sends what goes to several
//! nodes (fan-outs, splits, SCAN steps, pipelines), `redirect.rs` sends on what nodes turn
//! away and keeps what must wait, `refresh.rs` discovers and publishes the topology.

mod fanout;
mod redirect;
mod refresh;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::nodes::{NodePool, NodeSet};
use super::pipeline::{Pipeline, Views};
use super::Engine;
use crate::config::{ClusterOptions, Endpoint, ReadFrom};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Detour, Msg, PipelineDone, PipelineRun};
use crate::resp::{encode_command, Reply, Value};
use crate::route::cluster::{
    decide, join_split, merge, pick_any_node, pick_any_primary, pick_node, plan,
    scan_cursor_decode, scan_reply, scan_target, Decision, Failure, Plan, RedirectPolicy,
    RefreshSchedule, RetryTo, Target,
};
use crate::route::command::{classify, CommandClass};
use crate::route::keys::CommandTable;
use crate::route::slot::key_slot;
use crate::route::topology::{NodeAddr, Topology};
use crate::session::RequestMeta;

/// What a cluster client has met since it started: redirections, retries, refreshes. For
/// monitoring (a MOVED storm, a flapping node) and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// MOVED replies: a slot had moved; the command went to the new owner (a transaction's
    /// or a held connection's command fails instead, and the next one goes there).
    pub moved: u64,
    /// ASK replies: a slot was migrating; the command went to the importing node (a
    /// transaction's or a held connection's command fails instead).
    pub ask: u64,
    /// TRYAGAIN replies (a multi-key command during a migration), retried after a pause.
    pub tryagain: u64,
    /// CLUSTERDOWN / MASTERDOWN replies, retried after a pause.
    pub clusterdown: u64,
    /// Commands sent again after their connection was lost (unwritten, or read-only).
    pub connection_retries: u64,
    /// Topology refreshes started.
    pub refreshes: u64,
    /// Topologies published that differed from the one before (MOVED patches included).
    pub topology_changes: u64,
}

#[derive(Default)]
struct Counters {
    moved: AtomicU64,
    ask: AtomicU64,
    tryagain: AtomicU64,
    clusterdown: AtomicU64,
    connection_retries: AtomicU64,
    refreshes: AtomicU64,
    topology_changes: AtomicU64,
}

/// A cluster client's state besides its node set.
pub(crate) struct Cluster {
    counters: Counters,
    /// The commands' key positions and policies: the built-in table, then the server's.
    table: ArcSwap<CommandTable>,
    options: ClusterOptions,
    policy: RedirectPolicy,
    schedule: Mutex<RefreshSchedule>,
    /// Serializes changes of the published node set (refresh results, MOVED patches).
    publish: Mutex<()>,
    /// Requests waiting for their time (a retry's delay, a topology), in no order.
    delayed: Mutex<Vec<Delayed>>,
    /// Spreads keyless commands and replica reads.
    counter: AtomicU64,
    /// Endpoints that failed lately: asked last for the topology.
    failed: Mutex<Vec<Endpoint>>,
    /// Why the last refresh failed, for errors while no topology is known.
    last_refresh_error: Mutex<Option<Error>>,
    /// The server's COMMAND table was asked for.
    table_fetched: std::sync::atomic::AtomicBool,
}

/// A request waiting in the engine.
struct Delayed {
    due: Instant,
    what: Waiting,
    meta: RequestMeta,
    to: RetryTo,
    /// Why it waits: the error it fails with when its attempts or time run out.
    cause: Error,
    /// The node it was turned away by (for an ASK or MOVED without a host).
    from: Option<Endpoint>,
}

/// What waits: one command, or a pipeline that goes whole to one node and was not written.
enum Waiting {
    Command {
        completion: Completion,
        frame: Vec<u8>,
    },
    /// A transaction, or a pipeline with blocking commands, whose node refused it (down):
    /// routed again as a whole, to the primary of its keys' slot (any primary for `None`).
    Whole {
        pipeline: Pipeline,
        run: Arc<PipelineRun>,
        slot: Option<u16>,
    },
}

impl Waiting {
    /// Completes it with `err` (a pipeline: every one of its requests).
    fn fail(self, err: Error, completions: &mut Vec<(Completion, Result<Reply>)>) {
        match self {
            Waiting::Command { completion, .. } => completions.push((completion, Err(err))),
            Waiting::Whole { run, .. } => completions.extend(run.failed_slots(&err)),
        }
    }
}

/// Where one command goes.
pub(crate) enum Routed<'n> {
    /// To this node; `read_only` goes into the request's meta.
    Node(&'n Arc<NodePool>, bool),
    /// Not one node: a fan-out, a split, a SCAN step, keys only the server can find.
    Plan(Plan),
    /// No node serves it right now (no topology yet, or its slot has no owner): it waits for
    /// a refresh, failing with this error if none brings an owner in time.
    Later(Error),
}

/// `Routed` by node index (into `NodeSet::pools`).
pub(super) enum Routing {
    Node(usize, bool),
    Plan(Plan),
    Later(Error),
}

impl Cluster {
    /// Takes out the commands waiting here (a retry's delay, a topology) whose completion
    /// `cancel` picks: none of them is on a connection, so they are never sent.
    pub(crate) fn take_waiting(&self, cancel: impl Fn(&Completion) -> bool) -> Vec<Completion> {
        let mut delayed = self.delayed.lock().unwrap_or_else(|e| e.into_inner());
        let mut taken = Vec::new();
        for d in std::mem::take(&mut *delayed) {
            match d.what {
                Waiting::Command { completion, .. } if cancel(&completion) => {
                    taken.push(completion)
                }
                _ => delayed.push(d),
            }
        }
        taken
    }

    pub(crate) fn new(options: &ClusterOptions, now: Instant) -> Cluster {
        Cluster {
            counters: Counters::default(),
            table: ArcSwap::from_pointee(CommandTable::builtin()),
            policy: RedirectPolicy {
                // `max_redirects` counts the sends after the first; the policy, every send.
                max_attempts: options.max_redirects + 1,
                ..RedirectPolicy::default()
            },
            schedule: Mutex::new(RefreshSchedule::new(
                options.refresh_interval,
                Duration::from_millis(100),
                now,
            )),
            options: options.clone(),
            publish: Mutex::new(()),
            delayed: Mutex::new(Vec::new()),
            counter: AtomicU64::new(0),
            failed: Mutex::new(Vec::new()),
            last_refresh_error: Mutex::new(None),
            table_fetched: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn stats(&self) -> ClusterStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClusterStats {
            moved: get(&c.moved),
            ask: get(&c.ask),
            tryagain: get(&c.tryagain),
            clusterdown: get(&c.clusterdown),
            connection_retries: get(&c.connection_retries),
            refreshes: get(&c.refreshes),
            topology_changes: get(&c.topology_changes),
        }
    }

    fn count(&self, cause: &Error, refused: bool) {
        let c = &self.counters;
        let counter = match cause.kind() {
            _ if !refused => &c.connection_retries,
            ErrorKind::Moved => &c.moved,
            ErrorKind::Ask => &c.ask,
            ErrorKind::TryAgain => &c.tryagain,
            ErrorKind::ClusterDown | ErrorKind::MasterDown => &c.clusterdown,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read_from(&self) -> ReadFrom {
        self.options.read_from
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// The argument views of a frame this library encoded (`*N` then `$len` bulk strings),
/// without allocating for up to eight arguments: a cluster pipeline routes each of its
/// commands from its frame.
pub(crate) fn frame_args(frame: &[u8]) -> Option<Views<'_>> {
    /// The number after `kind` and before the CRLF at `*at`, moving `*at` past the line.
    fn line(frame: &[u8], at: &mut usize, kind: u8) -> Option<usize> {
        if frame.get(*at) != Some(&kind) {
            return None;
        }
        let mut n: usize = 0;
        let mut i = *at + 1;
        loop {
            let b = *frame.get(i)?;
            if b == b'\r' {
                break;
            }
            if !b.is_ascii_digit() || i - *at > 19 {
                return None;
            }
            n = n * 10 + usize::from(b - b'0');
            i += 1;
        }
        if i == *at + 1 || frame.get(i + 1) != Some(&b'\n') {
            return None;
        }
        *at = i + 2;
        Some(n)
    }
    let mut at = 0;
    let n = line(frame, &mut at, b'*')?;
    if n > frame.len() {
        return None;
    }
    Views::try_from_fn(n, |_| {
        let len = line(frame, &mut at, b'$').ok_or(())?;
        let arg = frame.get(at..at + len).ok_or(())?;
        at += len + 2;
        Ok::<&[u8], ()>(arg)
    })
    .ok()
}

fn endpoint_of(addr: &NodeAddr) -> Endpoint {
    Endpoint::Tcp {
        host: addr.host.clone(),
        port: addr.port,
    }
}

fn no_owner(slot: u16) -> Error {
    Error::new(
        ErrorKind::SlotNotCovered,
        format!("no node serves hash slot {slot} (the cluster's slots are not all assigned)"),
    )
}

fn no_topology(last: Option<&Error>) -> Error {
    let why = last.map_or_else(String::new, |e| format!(": {}", e.message()));
    Error::new(
        ErrorKind::Connection,
        format!("the cluster's topology is not known yet{why}"),
    )
}

impl Engine {
    pub(super) fn cluster(&self) -> &Cluster {
        self.cluster.as_ref().expect("a cluster client")
    }

    /// Where `args` goes in a cluster, from the snapshot `nodes`.
    pub(in crate::client) fn route_cluster<'n>(
        &self,
        cluster: &Cluster,
        nodes: &'n NodeSet,
        args: &[&[u8]],
    ) -> Result<Routed<'n>> {
        let table = cluster.table.load();
        Ok(match self.route_index(cluster, &table, nodes, args)? {
            Routing::Node(i, read_only) => Routed::Node(&nodes.pools[i], read_only),
            Routing::Later(err) => Routed::Later(err),
            Routing::Plan(plan) => Routed::Plan(plan),
        })
    }

    /// `route_cluster` by node index (into `nodes.pools`), with the command table the caller
    /// loaded: a pipeline loads it once for all its commands.
    pub(super) fn route_index(
        &self,
        cluster: &Cluster,
        table: &CommandTable,
        nodes: &NodeSet,
        args: &[&[u8]],
    ) -> Result<Routing> {
        let plan = plan(table, args)?;
        let read_only = plan.read_only;
        let Some(topology) = nodes.topology.as_deref() else {
            return Ok(Routing::Later(no_topology(
                cluster.last_refresh_error.lock().unwrap().as_ref(),
            )));
        };
        let pick = match plan.target {
            Target::Slot(slot) => match self.slot_node(cluster, topology, slot, read_only) {
                Some(i) => Some(i),
                None => return Ok(Routing::Later(no_owner(slot))),
            },
            Target::Keyless => pick_any_primary(topology, cluster.next()),
            // A healthy node: a failed one stays in the topology until it is forgotten.
            Target::AnyNode => pick_any_node(topology, cluster.next()),
            _ => return Ok(Routing::Plan(plan)),
        };
        Ok(match pick.filter(|&i| i < nodes.pools.len()) {
            Some(i) => Routing::Node(i, read_only),
            None => Routing::Later(no_topology(None)),
        })
    }

    /// The node (index into the topology's nodes) serving `slot` for a command: its primary,
    /// or a replica for reads when configured.
    pub(super) fn slot_node(
        &self,
        cluster: &Cluster,
        topology: &Topology,
        slot: u16,
        read_only: bool,
    ) -> Option<usize> {
        let shard = topology.slot_shard(slot)?;
        Some(if read_only && cluster.read_from() != ReadFrom::Primary {
            pick_node(
                topology,
                shard,
                cluster.read_from(),
                read_only,
                cluster.next(),
            )
        } else {
            shard.primary
        })
    }

    /// The pool serving `slot` for a command (a replica for reads when configured).
    pub(super) fn slot_pool<'n>(
        &self,
        cluster: &Cluster,
        nodes: &'n NodeSet,
        topology: &Topology,
        slot: u16,
        read_only: bool,
    ) -> Option<&'n Arc<NodePool>> {
        nodes
            .pools
            .get(self.slot_node(cluster, topology, slot, read_only)?)
    }

    pub(super) fn any_primary<'n>(
        &self,
        cluster: &Cluster,
        nodes: &'n NodeSet,
        topology: &Topology,
    ) -> Option<&'n Arc<NodePool>> {
        pick_any_primary(topology, cluster.next()).and_then(|i| nodes.pools.get(i))
    }

    /// The one slot a command's keys hash to (`None`: no key, or keys only the server
    /// knows); `CROSS_SLOT_TRANSACTION` for keys of several slots (on a held connection or in
    /// a transaction, where commands cannot be split).
    pub(in crate::client) fn command_slot(&self, args: &[&[u8]]) -> Result<Option<u16>> {
        let table = self.cluster().table.load();
        match plan(&table, args) {
            Ok(plan) => Ok(match plan.target {
                Target::Slot(slot) => Some(slot),
                Target::Split { parts, .. } => {
                    let (a, b) = (parts[0].slot, parts[parts.len() - 1].slot);
                    return Err(Error::new(
                        ErrorKind::CrossSlotTransaction,
                        format!(
                            "the command's keys hash to several slots ({a}, {b}, ...): in a \
                             transaction or on a held connection they must share one (use a \
                             {{hash tag}})"
                        ),
                    ));
                }
                _ => None,
            }),
            Err(e) if e.kind() == ErrorKind::CrossSlot => Err(Error::new(
                ErrorKind::CrossSlotTransaction,
                e.message().to_string(),
            )),
            Err(e) => Err(e),
        }
    }

    /// The primary's pool of `slot`, or SLOT_NOT_COVERED.
    pub(in crate::client) fn primary_of_slot<'n>(
        &self,
        nodes: &'n NodeSet,
        slot: u16,
    ) -> Result<&'n Arc<NodePool>> {
        let Some(topology) = nodes.topology.as_deref() else {
            return Err(no_topology(
                self.cluster().last_refresh_error.lock().unwrap().as_ref(),
            ));
        };
        topology
            .slot_shard(slot)
            .and_then(|shard| nodes.pools.get(shard.primary))
            .ok_or_else(|| no_owner(slot))
    }

    /// Some primary's pool.
    pub(in crate::client) fn some_primary<'n>(
        &self,
        nodes: &'n NodeSet,
    ) -> Result<&'n Arc<NodePool>> {
        let Some(topology) = nodes.topology.as_deref() else {
            return Err(no_topology(
                self.cluster().last_refresh_error.lock().unwrap().as_ref(),
            ));
        };
        self.any_primary(self.cluster(), nodes, topology)
            .ok_or_else(|| no_topology(None))
    }

    /// Sends a command of a cluster client: to its node, or as a plan (fan-out, split, SCAN,
    /// keys from the server), or into the wait for a topology. `frame` is its encoding when
    /// the caller has one (a request sent again), else it is encoded from `args`. A
    /// `blocking` command goes on one of its node's dedicated connections: on a shared one it
    /// would hold back every command behind it until it is served.
    pub(in crate::client) fn dispatch(
        &self,
        args: &[&[u8]],
        frame: Option<&[u8]>,
        completion: Completion,
        mut meta: RequestMeta,
        blocking: bool,
    ) -> std::result::Result<(), (Error, Completion)> {
        let cluster = self.cluster();
        let nodes = self.nodes.load();
        let routed = match self.route_cluster(cluster, &nodes, args) {
            Ok(routed) => routed,
            Err(e) => return Err((e, completion)),
        };
        let write = |buf: &mut Vec<u8>| match frame {
            Some(frame) => buf.extend_from_slice(frame),
            None => encode_command(buf, args),
        };
        match routed {
            Routed::Node(pool, read_only) => {
                meta.read_only = read_only;
                let sent = if blocking {
                    self.submit_dedicated(pool, write, completion, meta)
                } else {
                    let conn = Engine::conn_for_read(pool, meta.cache_token);
                    self.enqueue(conn, write, completion, meta, false)
                };
                match sent {
                    Ok(()) => Ok(()),
                    // Dedicated connections are turned off: nothing to wait for.
                    Err((err, completion)) if err.kind() == ErrorKind::MaxConnections => {
                        Err((err, completion))
                    }
                    Err((err, completion)) => {
                        // The node is down or leaving: route again once the topology moves.
                        let mut buf = Vec::new();
                        write(&mut buf);
                        self.retry_unsent(completion, buf, meta, err);
                        Ok(())
                    }
                }
            }
            // A slot still without an owner after the refresh its first try asked for: the
            // cluster is not fully covered.
            Routed::Later(cause)
                if cause.kind() == ErrorKind::SlotNotCovered && meta.redirects > 0 =>
            {
                Err((cause, completion))
            }
            Routed::Later(cause) => {
                let mut buf = Vec::new();
                write(&mut buf);
                self.retry_unsent(completion, buf, meta, cause);
                Ok(())
            }
            Routed::Plan(_) if blocking => Err((
                Error::new(
                    ErrorKind::ClusterException,
                    format!(
                        "{} would go to several nodes of the cluster, and a blocking command \
                         runs on one: give it keys of one slot",
                        String::from_utf8_lossy(args[0])
                    ),
                ),
                completion,
            )),
            Routed::Plan(plan) => self.submit_plan(&nodes, plan, args, completion, meta),
        }
    }
}

#[cfg(test)]
mod engine_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_back_into_their_arguments() {
        let mut frame = Vec::new();
        encode_command(&mut frame, &["SET", "key", "va\r\nlue", ""]);
        let args = frame_args(&frame).unwrap();
        assert_eq!(args.as_slice(), [&b"SET"[..], b"key", b"va\r\nlue", b""]);
        let many: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let mut frame = Vec::new();
        encode_command(&mut frame, &many);
        assert_eq!(frame_args(&frame).unwrap().as_slice().len(), 20);
        assert!(frame_args(b"*2\r\n$3\r\nGET\r\n").is_none());
        assert!(frame_args(b"garbage").is_none());
    }
}
