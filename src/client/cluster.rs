//! The engine's cluster half: every command routed by its keys' slot from the published
//! topology (no lock: the `NodeSet` snapshot carries it), fan-outs and per-slot splits
//! merged as the command means, redirections and retries (the reactor hands over `Detour`s,
//! `route::cluster::decide` says what to do), topology discovery and refresh (one at a time,
//! concurrent triggers collapsed), and the cluster SCAN cursor.
//!
//! The decisions are sans-I/O (`route::cluster`, `route::topology`, `route::keys`); this file
//! carries them out: it opens pools for new nodes, retires those of nodes that left, sends
//! frames to nodes, and keeps requests that must wait (a retry's delay, a topology not known
//! yet) until their time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::nodes::{NodePool, NodeSet};
use super::Engine;
use crate::config::{ClusterOptions, Endpoint, ReadFrom};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Detour, Msg, PipelineDone, PipelineRun};
use crate::resp::{encode_command, Reply, Value};
use crate::route::cluster::{
    decide, join_split, merge, pick_node, plan, scan_cursor_decode, scan_reply, scan_target,
    Decision, Failure, Plan, RedirectPolicy, RefreshSchedule, RetryTo, Target,
};
use crate::route::keys::CommandTable;
use crate::route::slot::key_slot;
use crate::route::topology::{NodeAddr, Topology};
use crate::session::RequestMeta;

/// What a cluster client has met since it started: redirections, retries, refreshes. For
/// monitoring (a MOVED storm, a flapping node) and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// MOVED replies: a slot had moved; the command went to the new owner.
    pub moved: u64,
    /// ASK replies: a slot was migrating; the command went to the importing node.
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
    completion: Completion,
    frame: Vec<u8>,
    meta: RequestMeta,
    to: RetryTo,
    /// Why it waits: the error it fails with when its attempts or time run out.
    cause: Error,
    /// The node it was turned away by (for an ASK or MOVED without a host).
    from: Option<Endpoint>,
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

impl Cluster {
    pub(crate) fn new(options: &ClusterOptions, now: Instant) -> Cluster {
        Cluster {
            counters: Counters::default(),
            table: ArcSwap::from_pointee(CommandTable::builtin()),
            policy: RedirectPolicy {
                max_attempts: options.max_redirects,
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

    fn route_read_from(&self) -> crate::route::cluster::ReadFrom {
        use crate::route::cluster::ReadFrom as To;
        match self.options.read_from {
            ReadFrom::Primary => To::Primary,
            ReadFrom::RoundRobin => To::RoundRobin,
            ReadFrom::Replicas => To::Replicas,
            ReadFrom::Random => To::Random,
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }
}

/// The argument views of a frame this library encoded (`*N` then `$len` bulk strings).
pub(crate) fn frame_args(frame: &[u8]) -> Option<Vec<&[u8]>> {
    fn line(frame: &[u8], at: &mut usize, kind: u8) -> Option<usize> {
        if frame.get(*at) != Some(&kind) {
            return None;
        }
        let start = *at + 1;
        let end = start + frame[start..].iter().position(|&b| b == b'\r')?;
        *at = end + 2;
        std::str::from_utf8(&frame[start..end]).ok()?.parse().ok()
    }
    let mut at = 0;
    let n = line(frame, &mut at, b'*')?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let len = line(frame, &mut at, b'$')?;
        args.push(frame.get(at..at + len)?);
        at += len + 2;
    }
    Some(args)
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
    fn cluster(&self) -> &Cluster {
        self.cluster.as_ref().expect("a cluster client")
    }

    /// Where `args` goes in a cluster, from the snapshot `nodes`.
    pub(super) fn route_cluster<'n>(
        &self,
        cluster: &Cluster,
        nodes: &'n NodeSet,
        args: &[&[u8]],
    ) -> Result<Routed<'n>> {
        let table = cluster.table.load();
        let plan = plan(&table, args)?;
        let read_only = plan.read_only;
        let Some(topology) = nodes.topology.as_deref() else {
            return Ok(Routed::Later(no_topology(
                cluster.last_refresh_error.lock().unwrap().as_ref(),
            )));
        };
        match plan.target {
            Target::Slot(slot) => Ok(
                match self.slot_pool(cluster, nodes, topology, slot, read_only) {
                    Some(pool) => Routed::Node(pool, read_only),
                    None => Routed::Later(no_owner(slot)),
                },
            ),
            Target::Keyless => Ok(match self.any_primary(cluster, nodes, topology) {
                Some(pool) => Routed::Node(pool, read_only),
                None => Routed::Later(no_topology(None)),
            }),
            Target::AnyNode => Ok(match nodes.pools.len() {
                0 => Routed::Later(no_topology(None)),
                n => Routed::Node(
                    &nodes.pools[(cluster.next() % n as u64) as usize],
                    read_only,
                ),
            }),
            _ => Ok(Routed::Plan(plan)),
        }
    }

    /// The pool serving `slot` for a command (a replica for reads when configured).
    fn slot_pool<'n>(
        &self,
        cluster: &Cluster,
        nodes: &'n NodeSet,
        topology: &Topology,
        slot: u16,
        read_only: bool,
    ) -> Option<&'n Arc<NodePool>> {
        let shard = topology.slot_shard(slot)?;
        let node = if read_only && cluster.read_from() != ReadFrom::Primary {
            pick_node(
                topology,
                shard,
                cluster.route_read_from(),
                read_only,
                cluster.next(),
            )
        } else {
            shard.primary
        };
        nodes.pools.get(node)
    }

    fn any_primary<'n>(
        &self,
        cluster: &Cluster,
        nodes: &'n NodeSet,
        topology: &Topology,
    ) -> Option<&'n Arc<NodePool>> {
        let primaries: Vec<usize> = topology.primaries().collect();
        if primaries.is_empty() {
            return None;
        }
        let i = primaries[(cluster.next() % primaries.len() as u64) as usize];
        nodes.pools.get(i)
    }

    /// The one slot a command's keys hash to (`None`: no key, or keys only the server
    /// knows); `CROSS_SLOT_TRANSACTION` for keys of several slots (on a held connection or in
    /// a transaction, where commands cannot be split).
    pub(super) fn command_slot(&self, args: &[&[u8]]) -> Result<Option<u16>> {
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
    pub(super) fn primary_of_slot<'n>(
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
    pub(super) fn some_primary<'n>(&self, nodes: &'n NodeSet) -> Result<&'n Arc<NodePool>> {
        let Some(topology) = nodes.topology.as_deref() else {
            return Err(no_topology(
                self.cluster().last_refresh_error.lock().unwrap().as_ref(),
            ));
        };
        self.any_primary(self.cluster(), nodes, topology)
            .ok_or_else(|| no_topology(None))
    }

    /// A cluster pipeline: each command to its slot's node (grouped, one write per node),
    /// results in the caller's order; redirected commands are sent on one by one. A
    /// transaction goes whole to the primary of its one slot.
    pub(super) fn submit_cluster_pipeline(
        &self,
        pipeline: &super::pipeline::Pipeline,
        run: Arc<PipelineRun>,
        meta: RequestMeta,
    ) -> Result<()> {
        let nodes = self.nodes.load();
        let frames: Vec<&[u8]> = pipeline.frames().collect();
        let mut args_of = Vec::with_capacity(frames.len());
        for frame in &frames {
            args_of.push(
                frame_args(frame).ok_or_else(|| {
                    Error::new(ErrorKind::Internal, "a pipeline frame is malformed")
                })?,
            );
        }
        if pipeline.transaction || pipeline.blocking.is_some() {
            // One node for all: the slot of the keys (they must share one).
            let mut slot = None;
            for args in &args_of {
                if let Some(s) = self.command_slot(args)? {
                    match slot {
                        Some(bound) if bound != s => {
                            return Err(super::cross_slot_transaction(s, bound))
                        }
                        _ => slot = Some(s),
                    }
                }
            }
            let pool = match slot {
                Some(slot) => self.primary_of_slot(&nodes, slot)?,
                None => self.some_primary(&nodes)?,
            };
            let meta = RequestMeta {
                pinned: true,
                ..meta
            };
            if pipeline.blocking.is_some() {
                return self.submit_pipeline_dedicated(pool, pipeline, run, meta);
            }
            return self.enqueue_pipeline(pool.pick(), None, pipeline, &run, meta);
        }
        // Route everything first: a command that cannot be pipelined fails the pipeline
        // before anything is sent.
        let mut routes: Vec<Option<(usize, bool)>> = Vec::with_capacity(frames.len());
        let mut later: Vec<(usize, Error)> = Vec::new();
        for (i, args) in args_of.iter().enumerate() {
            match self.route_cluster(self.cluster(), &nodes, args)? {
                Routed::Node(pool, read_only) => {
                    let index = nodes
                        .pools
                        .iter()
                        .position(|p| Arc::ptr_eq(p, pool))
                        .expect("a pool of the snapshot");
                    routes.push(Some((index, read_only)));
                }
                Routed::Later(cause) => {
                    routes.push(None);
                    later.push((i, cause));
                }
                Routed::Plan(_) => {
                    return Err(Error::new(
                        ErrorKind::ClusterException,
                        format!(
                            "command {} of the pipeline ({}) goes to several nodes of the \
                             cluster (a fan-out or a split across slots): send it alone",
                            i + 1,
                            String::from_utf8_lossy(args[0])
                        ),
                    ))
                }
            }
        }
        for (index, pool) in nodes.pools.iter().enumerate() {
            let mine: Vec<(usize, bool)> = routes
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match r {
                    Some((p, read_only)) if *p == index => Some((i, *read_only)),
                    _ => None,
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            let conn = pool.pick();
            let mut st = conn.lock();
            if let Some(err) = st.refuses(&self.config) {
                drop(st);
                for (i, read_only) in mine {
                    let meta = RequestMeta { read_only, ..meta };
                    let completion = Completion::Pipeline(run.clone(), i);
                    let frame = frames[i].to_vec();
                    self.retry_unsent(completion, frame, meta, err.clone());
                }
                continue;
            }
            for (i, read_only) in mine {
                let meta = RequestMeta { read_only, ..meta };
                st.ex
                    .enqueue_frame(frames[i], Completion::Pipeline(run.clone(), i), meta);
            }
            let notify = self.after_enqueue(&mut st, false);
            drop(st);
            if notify {
                self.reactors[conn.reactor].flush(conn.clone());
            }
        }
        for (i, cause) in later {
            let completion = Completion::Pipeline(run.clone(), i);
            self.retry_unsent(completion, frames[i].to_vec(), meta, cause);
        }
        Ok(())
    }

    /// Sends a command of a cluster client: to its node, or as a plan (fan-out, split, SCAN,
    /// keys from the server), or into the wait for a topology. `frame` is its encoding when
    /// the caller has one (a request sent again), else it is encoded from `args`.
    pub(super) fn dispatch(
        &self,
        args: &[&[u8]],
        frame: Option<&[u8]>,
        completion: Completion,
        mut meta: RequestMeta,
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
                match self.enqueue(pool.pick(), write, completion, meta, false) {
                    Ok(()) => Ok(()),
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
            Routed::Plan(plan) => self.submit_plan(&nodes, plan, args, completion, meta),
        }
    }

    /// A request not sent (no node serves it now, or its node refuses new commands): decided
    /// as one a lost connection left unwritten, with a growing delay, a refresh and bounded
    /// attempts (`decide`).
    fn retry_unsent(
        &self,
        completion: Completion,
        frame: Vec<u8>,
        mut meta: RequestMeta,
        cause: Error,
    ) {
        let cluster = self.cluster();
        let failure = Failure::Connection {
            error: &cause,
            written: false,
        };
        let attempt = u32::from(meta.redirects) + 1;
        match decide(failure, attempt, meta.read_only, false, &cluster.policy) {
            Decision::Retry { after, refresh, .. } => {
                meta.redirects = meta.redirects.saturating_add(1);
                self.wait(after, completion, frame, meta, RetryTo::Slot, cause, None);
                if refresh {
                    self.request_refresh();
                }
            }
            Decision::Fail(err) => self.deliver_now(vec![(completion, Err(err))]),
            Decision::Deliver => self.deliver_now(vec![(completion, Err(cause))]),
        }
    }

    /// Keeps a request until `after` has passed; then it goes where `to` says.
    #[allow(clippy::too_many_arguments)]
    fn wait(
        &self,
        after: Duration,
        completion: Completion,
        frame: Vec<u8>,
        meta: RequestMeta,
        to: RetryTo,
        cause: Error,
        from: Option<Endpoint>,
    ) {
        let delayed = Delayed {
            due: Instant::now() + after,
            completion,
            frame,
            meta,
            to,
            cause,
            from,
        };
        self.cluster().delayed.lock().unwrap().push(delayed);
        // A reactor may sleep without a timer for it.
        self.reactors[0].notify(Msg::Timers);
    }

    /// Runs completions on a reactor thread (never on a caller's, never under a lock).
    fn deliver_now(&self, completions: Vec<(Completion, Result<Reply>)>) {
        if !completions.is_empty() {
            self.reactors[0].notify(Msg::Deliver(completions, Vec::new()));
        }
    }

    /// A plan that is not one node.
    fn submit_plan(
        &self,
        nodes: &NodeSet,
        plan: Plan,
        args: &[&[u8]],
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let Some(topology) = nodes.topology.clone() else {
            return Err((no_topology(None), completion));
        };
        match plan.target {
            Target::AllPrimaries(how) | Target::AllNodes(how) => {
                let all = matches!(plan.target, Target::AllNodes(_));
                let targets: Vec<Arc<NodePool>> = if all {
                    nodes.pools.clone()
                } else {
                    topology
                        .primaries()
                        .filter_map(|i| nodes.pools.get(i).cloned())
                        .collect()
                };
                let mut frame = Vec::new();
                encode_command(&mut frame, args);
                let done = move |replies: Vec<Result<Reply>>| {
                    completion.run(merge(how, replies));
                };
                let frames = targets.iter().map(|_| frame.as_slice()).collect();
                self.scatter(&targets, frames, Box::new(done), meta, true);
                Ok(())
            }
            Target::Split { kind, parts } => {
                let argc = args.len();
                let mut frames = Vec::with_capacity(parts.len());
                let mut targets = Vec::with_capacity(parts.len());
                for part in &parts {
                    let Some(pool) =
                        self.slot_pool(self.cluster(), nodes, &topology, part.slot, plan.read_only)
                    else {
                        return Err((no_owner(part.slot), completion));
                    };
                    targets.push(pool.clone());
                    let mut part_args: Vec<&[u8]> = Vec::with_capacity(part.args.len() + 1);
                    part_args.push(args[0]);
                    part_args.extend(part.args.iter().map(|&i| args[i as usize]));
                    let mut frame = Vec::new();
                    encode_command(&mut frame, &part_args);
                    frames.push(frame);
                }
                let done = move |replies: Vec<Result<Reply>>| {
                    completion.run(join_split(kind, &parts, argc, replies));
                };
                let meta = RequestMeta {
                    read_only: plan.read_only,
                    ..meta
                };
                let frames = frames.iter().map(Vec::as_slice).collect();
                self.scatter(&targets, frames, Box::new(done), meta, false);
                Ok(())
            }
            Target::Scan => self.scan_step(nodes, &topology, args, completion, meta),
            Target::KeysFromServer => {
                self.keys_from_server(nodes, &topology, args, completion, meta)
            }
            Target::Slot(_) | Target::Keyless | Target::AnyNode => Err((
                Error::new(ErrorKind::Internal, "a one-node plan reached submit_plan"),
                completion,
            )),
        }
    }

    /// Sends `frames[i]` to `targets[i]` and runs `done` with every reply, in order.
    /// `pinned`: the parts may not move (a fan-out part belongs to its node).
    fn scatter(
        &self,
        targets: &[Arc<NodePool>],
        frames: Vec<&[u8]>,
        done: Box<dyn FnOnce(Vec<Result<Reply>>) + Send>,
        meta: RequestMeta,
        pinned: bool,
    ) {
        let run = PipelineRun::new(targets.len(), false, PipelineDone::Parts(done));
        let meta = RequestMeta { pinned, ..meta };
        let mut failed = Vec::new();
        for (i, (pool, frame)) in targets.iter().zip(frames).enumerate() {
            let completion = Completion::Pipeline(run.clone(), i);
            let write = |buf: &mut Vec<u8>| buf.extend_from_slice(frame);
            if let Err((err, completion)) =
                self.enqueue(pool.pick(), write, completion, meta, false)
            {
                if pinned {
                    failed.push((completion, Err(err)));
                } else {
                    self.retry_unsent(completion, frame.to_vec(), meta, err);
                }
            }
        }
        if targets.is_empty() {
            // No node at all: the merge of nothing.
            failed.extend(run.failed_slots(&no_topology(None)));
        }
        self.deliver_now(failed);
    }

    /// One step of a cluster SCAN: the cursor names a shard and that primary's own cursor.
    fn scan_step(
        &self,
        nodes: &NodeSet,
        topology: &Arc<Topology>,
        args: &[&[u8]],
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let Some(raw) = args.get(1) else {
            return Err((Error::invalid_argument("SCAN needs a cursor"), completion));
        };
        let at = match scan_cursor_decode(raw) {
            Ok(at) => at,
            Err(e) => return Err((e, completion)),
        };
        let target = scan_target(topology, at)
            .and_then(|(shard, at)| Some((nodes.pools.get(topology.shards()[shard].primary)?, at)));
        let Some((pool, at)) = target else {
            // The shard is gone (the topology changed under the scan): nothing more to scan.
            let done = Reply::from_value(&Value::Array(vec![
                Value::bulk(b"0"),
                Value::Array(Vec::new()),
            ]));
            self.deliver_now(vec![(completion, Ok(done))]);
            return Ok(());
        };
        let cursor = at.cursor.to_string();
        let mut node_args: Vec<&[u8]> = args.to_vec();
        node_args[1] = cursor.as_bytes();
        let topology = topology.clone();
        let step = move |result: Result<Reply>| {
            completion.run(result.and_then(|reply| scan_reply(&topology, at, &reply)));
        };
        let meta = RequestMeta {
            pinned: true,
            read_only: true,
            ..meta
        };
        let completion = Completion::Boxed(Box::new(step));
        self.enqueue(
            pool.pick(),
            |buf| encode_command(buf, &node_args),
            completion,
            meta,
            false,
        )
    }

    /// Keys only the server can find: `COMMAND GETKEYS` first, then the command to the slot
    /// of its keys.
    fn keys_from_server(
        &self,
        nodes: &NodeSet,
        topology: &Topology,
        args: &[&[u8]],
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let Some(pool) = self.any_primary(self.cluster(), nodes, topology) else {
            return Err((no_topology(None), completion));
        };
        let mut frame = Vec::new();
        encode_command(&mut frame, args);
        let mut ask: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        ask.extend_from_slice(args);
        let engine = self.me.clone();
        let then = move |result: Result<Reply>| {
            let Some(engine) = engine.upgrade() else {
                completion.run(Err(crate::reactor::completion::closed_error()));
                return;
            };
            let slot = result.and_then(|keys| slot_of_keys(&keys));
            match slot {
                // No key after all: any primary will do.
                Ok(None) => {
                    if let Err((err, completion)) =
                        engine.send_to_slot(None, frame, completion, meta)
                    {
                        completion.run(Err(err));
                    }
                }
                Ok(Some(slot)) => {
                    if let Err((err, completion)) =
                        engine.send_to_slot(Some(slot), frame, completion, meta)
                    {
                        completion.run(Err(err));
                    }
                }
                Err(err) => completion.run(Err(err)),
            }
        };
        let ask_meta = RequestMeta {
            pinned: true,
            ..meta
        };
        self.enqueue(
            pool.pick(),
            |buf| encode_command(buf, &ask),
            Completion::Boxed(Box::new(then)),
            ask_meta,
            false,
        )
    }

    /// Sends an encoded frame to the node of `slot` (any primary for `None`).
    fn send_to_slot(
        &self,
        slot: Option<u16>,
        frame: Vec<u8>,
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let cluster = self.cluster();
        let nodes = self.nodes.load();
        let Some(topology) = nodes.topology.as_deref() else {
            self.retry_unsent(completion, frame, meta, no_topology(None));
            return Ok(());
        };
        let pool = match slot {
            Some(slot) => self.slot_pool(cluster, &nodes, topology, slot, meta.read_only),
            None => self.any_primary(cluster, &nodes, topology),
        };
        let Some(pool) = pool else {
            let cause = slot.map_or_else(|| no_topology(None), no_owner);
            self.retry_unsent(completion, frame, meta, cause);
            return Ok(());
        };
        let write = |buf: &mut Vec<u8>| buf.extend_from_slice(&frame);
        if let Err((err, completion)) = self.enqueue(pool.pick(), write, completion, meta, false) {
            self.retry_unsent(completion, frame, meta, err);
        }
        Ok(())
    }

    /// The reactor's detours: each is decided (`route::cluster::decide`) and sent on, kept
    /// for later, or failed into `completions`.
    pub(super) fn on_cluster_detours(
        &self,
        detours: &mut Vec<Detour>,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let cluster = self.cluster();
        let retry_written = self.config.retry.retry_written_commands;
        let mut suspected = Vec::new();
        for detour in detours.drain(..) {
            cluster.count(&detour.cause, detour.refused);
            let failure = if detour.refused {
                Failure::Reply(&detour.cause)
            } else {
                Failure::Connection {
                    error: &detour.cause,
                    written: detour.written,
                }
            };
            let pool = self.nodes.load().by_id(detour.node).cloned();
            let from = pool.as_ref().map(|p| p.endpoint.clone());
            if let (false, Some(pool)) = (detour.refused, &pool) {
                self.mark_failed(&pool.endpoint);
                if !suspected.contains(&pool.id) {
                    suspected.push(pool.id);
                    suspect_siblings(pool);
                }
            }
            let decision = decide(
                failure,
                u32::from(detour.meta.redirects) + 1,
                detour.meta.read_only,
                retry_written,
                &cluster.policy,
            );
            match decision {
                Decision::Deliver => completions.push((detour.completion, Err(detour.cause))),
                Decision::Fail(err) => completions.push((detour.completion, Err(err))),
                Decision::Retry { to, after, refresh } => {
                    if let RetryTo::Moved { slot, addr } = &to {
                        self.apply_moved(*slot, addr, from.as_ref());
                    }
                    if refresh {
                        self.request_refresh();
                    }
                    let mut meta = detour.meta;
                    meta.redirects = meta.redirects.saturating_add(1);
                    if after.is_zero() {
                        let delayed = Delayed {
                            due: Instant::now(),
                            completion: detour.completion,
                            frame: detour.frame,
                            meta,
                            to,
                            cause: detour.cause,
                            from,
                        };
                        self.resend(delayed, completions);
                    } else {
                        let (completion, frame) = (detour.completion, detour.frame);
                        self.wait(after, completion, frame, meta, to, detour.cause, from);
                    }
                }
            }
        }
    }

    /// Sends a waiting or redirected request where its `to` says.
    fn resend(&self, d: Delayed, completions: &mut Vec<(Completion, Result<Reply>)>) {
        if d.meta.deadline.is_some_and(|t| t <= Instant::now()) {
            completions.push((
                d.completion,
                Err(Error::new(ErrorKind::Timeout, "the command timed out")),
            ));
            return;
        }
        match &d.to {
            RetryTo::Ask { addr } => {
                let pool = self.pool_for_addr(addr, d.from.as_ref());
                let Some(pool) = pool else {
                    // A node we do not know yet: route again once the topology names it.
                    self.retry_unsent(d.completion, d.frame, d.meta, d.cause);
                    return;
                };
                let conn = pool.pick();
                let asking = RequestMeta {
                    pinned: true,
                    deadline: d.meta.deadline,
                    ..RequestMeta::default()
                };
                let mut st = conn.lock();
                if let Some(err) = st.refuses(&self.config) {
                    drop(st);
                    self.retry_unsent(d.completion, d.frame, d.meta, err);
                    return;
                }
                // ASKING holds for the next command on the connection: both go in one
                // critical section, so nothing comes between them.
                st.ex
                    .enqueue_frame(b"*1\r\n$6\r\nASKING\r\n", Completion::Ignore, asking);
                st.ex.enqueue_frame(&d.frame, d.completion, d.meta);
                let notify = !st.scheduled;
                st.scheduled = true;
                drop(st);
                if notify {
                    self.reactors[conn.reactor].flush(conn.clone());
                }
            }
            RetryTo::Slot | RetryTo::Moved { .. } => {
                let Some(args) = frame_args(&d.frame) else {
                    completions.push((
                        d.completion,
                        Err(Error::new(
                            ErrorKind::Internal,
                            "a redirected frame is malformed",
                        )),
                    ));
                    return;
                };
                let dispatched = self.dispatch(&args, Some(&d.frame), d.completion, d.meta);
                if let Err((err, completion)) = dispatched {
                    completions.push((completion, Err(err)));
                }
            }
        }
    }

    /// The pool of a node named by a redirection (an empty host is the node that answered).
    fn pool_for_addr(&self, addr: &NodeAddr, from: Option<&Endpoint>) -> Option<Arc<NodePool>> {
        let host = match (addr.host.as_str(), from) {
            ("", Some(Endpoint::Tcp { host, .. })) => host.clone(),
            (host, _) => host.to_string(),
        };
        let (host, port) = self.remap(&host, addr.port);
        let endpoint = Endpoint::Tcp { host, port };
        self.nodes
            .load()
            .pools
            .iter()
            .find(|p| p.endpoint == endpoint)
            .cloned()
    }

    fn remap(&self, host: &str, port: u16) -> (String, u16) {
        match &self.cluster().options.address_remap {
            Some(remap) => remap.remap(host, port),
            None => (host.to_string(), port),
        }
    }

    /// MOVED: the slot belongs to `addr` now. The published topology is patched at once, so
    /// the next commands for that slot go there without waiting for the refresh.
    fn apply_moved(&self, slot: u16, addr: &NodeAddr, from: Option<&Endpoint>) {
        let cluster = self.cluster();
        let _publishing = cluster.publish.lock().unwrap();
        let nodes = self.nodes.load();
        let Some(topology) = nodes.topology.as_deref() else {
            return;
        };
        let host = match (addr.host.as_str(), from) {
            ("", Some(Endpoint::Tcp { host, .. })) => host.clone(),
            (host, _) => host.to_string(),
        };
        let (host, port) = self.remap(&host, addr.port);
        let target = NodeAddr { host, port };
        if let Some(shard) = topology.slot_shard(slot) {
            if topology.node(shard.primary).addr == target {
                return; // patched already (by an earlier MOVED for this slot)
            }
        }
        let patched = topology.with_moved(slot, &target);
        self.publish_topology(&nodes, patched);
    }

    /// Publishes a node set for `topology`: pools kept for nodes it still names, opened for
    /// new ones, retired for those it no longer names. The caller holds `publish`.
    fn publish_topology(&self, old: &NodeSet, topology: Topology) {
        let mut pools = Vec::with_capacity(topology.nodes().len());
        let mut opened = Vec::new();
        for node in topology.nodes() {
            let endpoint = endpoint_of(&node.addr);
            match old.pools.iter().find(|p| p.endpoint == endpoint) {
                Some(pool) => pools.push(pool.clone()),
                None => {
                    let pool = self.new_pool(endpoint, node.hostname.clone());
                    opened.push(pool.clone());
                    pools.push(pool);
                }
            }
        }
        let gone: Vec<Arc<NodePool>> = old
            .pools
            .iter()
            .filter(|p| !pools.iter().any(|q| Arc::ptr_eq(p, q)))
            .cloned()
            .collect();
        self.nodes.store(Arc::new(NodeSet {
            pools,
            topology: Some(Arc::new(topology)),
        }));
        self.cluster()
            .counters
            .topology_changes
            .fetch_add(1, Ordering::Relaxed);
        for pool in &opened {
            self.adopt(pool);
        }
        for pool in gone {
            self.retire_pool(&pool);
        }
    }

    /// A node left the topology: its connections close once what is in flight on them is
    /// answered (unwritten requests and later redirections move to the new owners).
    fn retire_pool(&self, pool: &NodePool) {
        for conn in pool.node_conns() {
            self.reactors[conn.reactor].notify(Msg::Retire(conn.clone()));
        }
        let mut completions = Vec::new();
        let err = Error::new(
            ErrorKind::Connection,
            format!(
                "{} left the cluster",
                crate::net::endpoint_name(&pool.endpoint)
            ),
        );
        for conn in pool.dedicated.retire_idle() {
            self.reactors[conn.reactor].notify(Msg::Retire(conn));
        }
        pool.dedicated.fail_all(&err, &mut completions);
        self.deliver_now(completions);
    }

    /// A connection to node `id` was lost: its siblings are checked before their next write.
    pub(super) fn suspect_node(&self, id: u64) {
        if let Some(pool) = self.nodes.load().by_id(id) {
            suspect_siblings(pool);
        }
    }

    fn mark_failed(&self, endpoint: &Endpoint) {
        let mut failed = self.cluster().failed.lock().unwrap();
        if !failed.contains(endpoint) {
            failed.push(endpoint.clone());
        }
    }

    /// Asks for a topology refresh; one runs at a time, and triggers while it runs collapse
    /// into at most one more.
    pub(super) fn request_refresh(&self) {
        let start = self
            .cluster()
            .schedule
            .lock()
            .unwrap()
            .trigger(Instant::now());
        if start {
            self.start_refresh();
        }
    }

    /// Asks the known nodes for the topology in turn (those that failed lately last) until
    /// one answers.
    fn start_refresh(&self) {
        self.cluster()
            .counters
            .refreshes
            .fetch_add(1, Ordering::Relaxed);
        let nodes = self.nodes.load();
        let failed = self.cluster().failed.lock().unwrap().clone();
        let mut order: Vec<Arc<NodePool>> = nodes.pools.clone();
        if let Some(topology) = nodes.topology.as_deref() {
            // Primaries first: they know their own slots best.
            order.sort_by_key(|p| {
                let index = nodes.pools.iter().position(|q| Arc::ptr_eq(p, q));
                let primary = index.is_some_and(|i| topology.node(i).primary);
                (failed.contains(&p.endpoint), !primary)
            });
        } else {
            order.sort_by_key(|p| failed.contains(&p.endpoint));
        }
        self.ask_topology(order, 0, Vec::new(), true);
    }

    /// Sends CLUSTER SHARDS (or CLUSTER SLOTS, `shards` false) to `order[i]`.
    fn ask_topology(&self, order: Vec<Arc<NodePool>>, i: usize, errors: Vec<String>, shards: bool) {
        let mut errors = errors;
        let mut i = i;
        while let Some(pool) = order.get(i) {
            let engine = self.me.clone();
            let asked = pool.clone();
            let order_next = order.clone();
            let errors_next = errors.clone();
            let answer = move |result: Result<Reply>| {
                if let Some(engine) = engine.upgrade() {
                    engine.topology_answer(order_next, i, errors_next, shards, &asked, result);
                }
            };
            let command: &[&[u8]] = if shards {
                &[b"CLUSTER", b"SHARDS"]
            } else {
                &[b"CLUSTER", b"SLOTS"]
            };
            let meta = RequestMeta {
                deadline: Some(
                    Instant::now()
                        + self
                            .config
                            .command_timeout
                            .unwrap_or(Duration::from_secs(5)),
                ),
                pinned: true,
                ..RequestMeta::default()
            };
            match self.enqueue(
                pool.pick(),
                |buf| encode_command(buf, command),
                Completion::Boxed(Box::new(answer)),
                meta,
                false,
            ) {
                Ok(()) => return,
                Err((err, _)) => {
                    errors.push(format!(
                        "{}: {}",
                        crate::net::endpoint_name(&pool.endpoint),
                        err.message()
                    ));
                    i += 1;
                }
            }
        }
        self.refresh_failed(errors);
    }

    fn topology_answer(
        &self,
        order: Vec<Arc<NodePool>>,
        i: usize,
        mut errors: Vec<String>,
        shards: bool,
        asked: &NodePool,
        result: Result<Reply>,
    ) {
        let Endpoint::Tcp { host, port } = &asked.endpoint else {
            return self.refresh_failed(errors);
        };
        let asked_addr = NodeAddr {
            host: host.clone(),
            port: *port,
        };
        let remap = |addr: &NodeAddr| {
            let (host, port) = self.remap(&addr.host, addr.port);
            NodeAddr { host, port }
        };
        let parsed = result.and_then(|reply| {
            if shards {
                Topology::from_cluster_shards(reply.value(), &asked_addr, self.config.tls, &remap)
            } else {
                Topology::from_cluster_slots(reply.value(), &asked_addr, &remap)
            }
        });
        match parsed {
            Ok(topology) if topology.covered_slots() > 0 => {
                self.apply_topology(topology);
            }
            Ok(_) => {
                errors.push(format!(
                    "{}: the node serves no slot yet",
                    crate::net::endpoint_name(&asked.endpoint)
                ));
                self.ask_topology(order, i + 1, errors, true);
            }
            // Servers before 7.0 have no CLUSTER SHARDS.
            Err(e) if shards && e.kind() == ErrorKind::Response => {
                self.ask_topology(order, i, errors, false);
            }
            Err(e) => {
                errors.push(format!(
                    "{}: {}",
                    crate::net::endpoint_name(&asked.endpoint),
                    e.message()
                ));
                self.ask_topology(order, i + 1, errors, true);
            }
        }
    }

    fn apply_topology(&self, topology: Topology) {
        let cluster = self.cluster();
        let changed = {
            let _publishing = cluster.publish.lock().unwrap();
            let nodes = self.nodes.load();
            let unchanged = nodes
                .topology
                .as_deref()
                .is_some_and(|t| t.same_shape(&topology));
            if !unchanged {
                self.publish_topology(&nodes, topology);
            }
            !unchanged
        };
        *cluster.last_refresh_error.lock().unwrap() = None;
        cluster.failed.lock().unwrap().clear();
        cluster
            .schedule
            .lock()
            .unwrap()
            .finished(Instant::now(), true);
        self.fetch_command_table();
        if changed {
            // Requests that waited for the topology to move go now.
            self.run_delayed(true);
        }
    }

    fn refresh_failed(&self, errors: Vec<String>) {
        let cluster = self.cluster();
        let message = if errors.is_empty() {
            "no node to ask for the cluster's topology".to_string()
        } else {
            format!("no node answered with the topology ({})", errors.join("; "))
        };
        *cluster.last_refresh_error.lock().unwrap() =
            Some(Error::new(ErrorKind::Connection, message));
        cluster
            .schedule
            .lock()
            .unwrap()
            .finished(Instant::now(), false);
        self.reactors[0].notify(Msg::Timers);
    }

    /// Once per client: the server's COMMAND table replaces the built-in one (it knows the
    /// server's own and its modules' commands).
    fn fetch_command_table(&self) {
        let cluster = self.cluster();
        if cluster.table_fetched.swap(true, Ordering::SeqCst) {
            return;
        }
        let nodes = self.nodes.load();
        let Some(topology) = nodes.topology.as_deref() else {
            return;
        };
        let Some(pool) = self.any_primary(cluster, &nodes, topology) else {
            return;
        };
        let engine = self.me.clone();
        let answer = move |result: Result<Reply>| {
            let Some(engine) = engine.upgrade() else {
                return;
            };
            let table = result.and_then(|reply| CommandTable::from_command_reply(reply.value()));
            match table {
                Ok(table) => engine.cluster().table.store(Arc::new(table)),
                // The built-in table stays; ask again with the next topology.
                Err(_) => engine
                    .cluster()
                    .table_fetched
                    .store(false, Ordering::SeqCst),
            }
        };
        let meta = RequestMeta {
            pinned: true,
            ..RequestMeta::default()
        };
        let _ = self.enqueue(
            pool.pick(),
            |buf| encode_command(buf, &["COMMAND"]),
            Completion::Boxed(Box::new(answer)),
            meta,
            false,
        );
    }

    /// Sends the waiting requests that are due (all of them when `all`: a topology came).
    fn run_delayed(&self, all: bool) {
        let now = Instant::now();
        let due: Vec<Delayed> = {
            let mut delayed = self.cluster().delayed.lock().unwrap();
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *delayed)
                .into_iter()
                .partition(|d| all || d.due <= now || d.meta.deadline.is_some_and(|t| t <= now));
            *delayed = later;
            due
        };
        if due.is_empty() {
            return;
        }
        let mut completions = Vec::new();
        for d in due {
            self.resend(d, &mut completions);
        }
        self.deliver_now(completions);
    }

    /// The cluster's earliest timer: a waiting request, or the refresh schedule.
    pub(super) fn cluster_next_deadline(&self) -> Option<Instant> {
        let cluster = self.cluster();
        let delayed = cluster
            .delayed
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.meta.deadline.map_or(d.due, |t| t.min(d.due)))
            .min();
        let refresh = cluster.schedule.lock().unwrap().next_due();
        [delayed, refresh].into_iter().flatten().min()
    }

    /// The cluster's timers: waiting requests that are due, a periodic or deferred refresh.
    pub(super) fn cluster_timers(&self, now: Instant) {
        let refresh = self.cluster().schedule.lock().unwrap().poll(now);
        if refresh {
            self.start_refresh();
        }
        self.run_delayed(false);
    }

    /// Fails every waiting request (shutdown).
    pub(super) fn cluster_fail_waiting(
        &self,
        err: &Error,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let delayed = std::mem::take(&mut *self.cluster().delayed.lock().unwrap());
        for d in delayed {
            completions.push((d.completion, Err(err.clone())));
        }
    }

    /// Waits until the first topology is known (client creation), or fails with why not.
    pub(super) fn wait_topology(&self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if self.nodes.load().topology.is_some() {
                return Ok(());
            }
            let cluster = self.cluster();
            let idle = !cluster.schedule.lock().unwrap().running();
            if let Some(err) = cluster.last_refresh_error.lock().unwrap().clone() {
                if idle {
                    return Err(err);
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "timed out waiting for the cluster's topology",
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// A connection to `pool`'s node was lost: its other connections are checked for a hang-up
/// before their next write (the node may be dead: a process killed closes every socket).
fn suspect_siblings(pool: &NodePool) {
    for conn in pool.node_conns() {
        let mut st = conn.lock();
        if matches!(st.phase, crate::reactor::Phase::Ready) {
            st.suspect = true;
        }
    }
}

/// The one slot of `COMMAND GETKEYS`'s keys (`None`: no key), or CROSS_SLOT.
fn slot_of_keys(keys: &Reply) -> Result<Option<u16>> {
    let mut slot = None;
    for key in keys.value().children() {
        let Some(bytes) = key.as_bytes() else {
            continue;
        };
        let s = key_slot(bytes);
        match slot {
            None => slot = Some(s),
            Some(first) if first != s => {
                return Err(Error::new(
                    ErrorKind::CrossSlot,
                    "the command's keys hash to different slots",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(slot)
}
