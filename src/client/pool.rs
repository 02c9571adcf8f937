//! Dedicated connections: each node's bounded set of connections set apart for blocking commands (one
//! command at a time, returned when answered) and for callers that hold one (`Dedicated`).
//! When none is free and the bound is reached, requests wait in FIFO order up to the
//! configured time, then fail with MAX_CONNECTIONS.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::nodes::NodePool;
use super::pipeline::Pipeline;
use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::PipelineRun;
use crate::reactor::{Completion, Conn, Lease, Msg, Outcome, Phase, Waiter};
use crate::resp::Reply;
use crate::session::RequestMeta;

enum PoolWaiter {
    /// A blocking command waiting for a connection, frame already encoded.
    Command {
        frame: Vec<u8>,
        /// ASKING goes first on the same connection (a migrating slot's owner said ASK).
        asking: bool,
        completion: Completion,
        meta: RequestMeta,
        deadline: Instant,
    },
    /// A caller waiting (in `Waiter::wait`) to hold a connection.
    Holder {
        waiter: Arc<Waiter>,
        seq: u64,
        deadline: Instant,
    },
    /// A pipeline run with blocking commands waiting for a connection.
    Pipeline {
        pipeline: Pipeline,
        run: Arc<PipelineRun>,
        meta: RequestMeta,
        deadline: Instant,
    },
}

impl PoolWaiter {
    fn deadline(&self) -> Instant {
        match self {
            PoolWaiter::Command { deadline, .. }
            | PoolWaiter::Holder { deadline, .. }
            | PoolWaiter::Pipeline { deadline, .. } => *deadline,
        }
    }
}

struct PoolState {
    idle: Vec<Arc<Conn>>,
    /// Every dedicated connection that exists, idle or in use (for re-authentication).
    live: Vec<Arc<Conn>>,
    /// Connections that exist (idle or in use).
    total: usize,
    waiters: VecDeque<PoolWaiter>,
    /// The node left the topology (`retire_idle`): nothing more is taken, parked or kept
    /// here. A caller that routed with the node set before may still come with a request.
    retired: bool,
}

/// One node's dedicated connections.
pub(crate) struct DedicatedPool {
    state: Mutex<PoolState>,
    max: usize,
    wait: Duration,
}

/// What `take` found.
enum Take {
    Conn(Arc<Conn>),
    Create,
    Full,
    /// `max_dedicated_connections` is 0.
    Disabled,
    /// The node left the topology.
    Retired,
}

impl DedicatedPool {
    pub(crate) fn new(max: usize, wait: Duration) -> DedicatedPool {
        DedicatedPool {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                live: Vec::new(),
                total: 0,
                waiters: VecDeque::new(),
                retired: false,
            }),
            max,
            wait,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, state: &mut PoolState) -> Take {
        if self.max == 0 {
            return Take::Disabled;
        }
        if state.retired {
            return Take::Retired;
        }
        if !state.waiters.is_empty() {
            return Take::Full; // first come, first served
        }
        if let Some(conn) = state.idle.pop() {
            return Take::Conn(conn);
        }
        if state.total < self.max {
            state.total += 1;
            return Take::Create;
        }
        Take::Full
    }

    fn disabled() -> Error {
        Error::new(
            ErrorKind::MaxConnections,
            "dedicated connections are disabled (max_dedicated_connections is 0): blocking \
             commands and held connections are not available",
        )
    }

    fn retired() -> Error {
        Error::new(
            ErrorKind::Connection,
            "the node left the cluster: its dedicated connections are closed",
        )
    }

    fn exhausted(&self) -> Error {
        Error::new(
            ErrorKind::MaxConnections,
            format!(
                "no dedicated connection became free within {} ms ({} in use, the maximum)",
                self.wait.as_millis(),
                self.max
            ),
        )
    }
}

impl Engine {
    /// A free dedicated connection (made if the bound allows), `Ok(None)` when all are in
    /// use, an error when dedicated connections are disabled.
    fn dedicated_conn(&self, node: &NodePool, state: &mut PoolState) -> Result<Option<Arc<Conn>>> {
        loop {
            return match node.dedicated.take(state) {
                Take::Conn(conn) => {
                    // Idle while its server was down, past its retries: it would refuse the
                    // request. It leaves the pool; another is taken, or made in its place.
                    if conn.lock().refuses(&self.config).is_some() {
                        state.total -= 1;
                        state.live.retain(|c| !Arc::ptr_eq(c, &conn));
                        self.reactors[conn.reactor].notify(Msg::Retire(conn));
                        continue;
                    }
                    Ok(Some(conn))
                }
                Take::Create => {
                    let conn = Arc::new(self.new_conn(node, true));
                    state.live.push(conn.clone());
                    self.reactors[conn.reactor].notify(Msg::Adopt(conn.clone()));
                    Ok(Some(conn))
                }
                Take::Full => Ok(None),
                Take::Disabled => Err(DedicatedPool::disabled()),
                Take::Retired => Err(DedicatedPool::retired()),
            };
        }
    }

    /// Parks a waiter and makes a reactor look at its deadline.
    fn park(&self, mut state: MutexGuard<'_, PoolState>, waiter: PoolWaiter) {
        state.waiters.push_back(waiter);
        drop(state);
        // The reactor may sleep with no timer: make it see this deadline.
        self.reactors[0].notify(Msg::Timers);
    }

    /// Sends one blocking command on a dedicated connection, or queues it until one is free.
    pub(super) fn submit_dedicated(
        &self,
        node: &NodePool,
        write: impl FnOnce(&mut Vec<u8>),
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        self.submit_dedicated_to(node, write, false, completion, meta)
    }

    /// `submit_dedicated` for a blocking command that a migrating slot's owner answered
    /// ASK: `ASKING` and the command (`frame`) go together on one dedicated connection.
    pub(super) fn submit_dedicated_asking(
        &self,
        node: &NodePool,
        frame: &[u8],
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let write = |buf: &mut Vec<u8>| buf.extend_from_slice(frame);
        self.submit_dedicated_to(node, write, true, completion, meta)
    }

    fn submit_dedicated_to(
        &self,
        node: &NodePool,
        write: impl FnOnce(&mut Vec<u8>),
        asking: bool,
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let mut state = node.dedicated.lock();
        match self.dedicated_conn(node, &mut state) {
            Err(e) => Err((e, completion)),
            Ok(Some(conn)) => {
                drop(state);
                let sent = self.lease_single(&conn, write, asking, completion, meta);
                if sent.is_err() {
                    self.refused(node, &conn);
                }
                sent
            }
            Ok(None) => {
                let mut frame = Vec::new();
                write(&mut frame);
                // Its deadline moves by the longest it may wait here for a connection.
                let mut meta = meta;
                meta.deadline = meta.deadline.map(|d| {
                    let left = d.saturating_duration_since(Instant::now());
                    Instant::now() + node.dedicated.wait + left
                });
                let deadline = Instant::now() + node.dedicated.wait;
                self.park(
                    state,
                    PoolWaiter::Command {
                        frame,
                        asking,
                        completion,
                        meta,
                        deadline,
                    },
                );
                Ok(())
            }
        }
    }

    /// Runs a pipeline with blocking commands on a dedicated connection, or queues it until
    /// one is free (never blocking the caller).
    pub(super) fn submit_pipeline_dedicated(
        &self,
        node: &NodePool,
        pipeline: &Pipeline,
        run: Arc<PipelineRun>,
        meta: RequestMeta,
    ) -> Result<()> {
        let mut state = node.dedicated.lock();
        match self.dedicated_conn(node, &mut state)? {
            Some(conn) => {
                drop(state);
                let sent = self.enqueue_pipeline(&conn, Some(Lease::Single), pipeline, &run, meta);
                if sent.is_err() {
                    self.refused(node, &conn);
                }
                sent
            }
            None => {
                let deadline = Instant::now() + node.dedicated.wait;
                self.park(
                    state,
                    PoolWaiter::Pipeline {
                        pipeline: pipeline.clone(),
                        run,
                        meta,
                        deadline,
                    },
                );
                Ok(())
            }
        }
    }

    /// Takes a connection to hold (`Dedicated`), waiting up to the configured time.
    pub(super) fn acquire_held(&self, node: &NodePool) -> Result<Arc<Conn>> {
        let mut state = node.dedicated.lock();
        let conn = match self.dedicated_conn(node, &mut state)? {
            Some(conn) => {
                drop(state);
                conn
            }
            None => self.wait_for_conn(node, state)?,
        };
        conn.lock().lease = Lease::Held;
        Ok(conn)
    }

    fn wait_for_conn(
        &self,
        node: &NodePool,
        mut state: MutexGuard<'_, PoolState>,
    ) -> Result<Arc<Conn>> {
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let deadline = Instant::now() + node.dedicated.wait;
        state.waiters.push_back(PoolWaiter::Holder {
            waiter: waiter.clone(),
            seq,
            deadline,
        });
        drop(state);
        match waiter.wait(seq, Some(deadline + Duration::from_millis(5))) {
            Some(Outcome::Conn(result)) => result,
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => {
                // Timed out: take our entry out of the queue (a connection handed to it after
                // this point comes back through `give`).
                let mut state = node.dedicated.lock();
                state.waiters.retain(|w| {
                    !matches!(w, PoolWaiter::Holder { seq: s, waiter: wt, .. }
                        if *s == seq && Arc::ptr_eq(wt, &waiter))
                });
                Err(node.dedicated.exhausted())
            }
        }
    }

    /// Called by the reactor when a connection leased for one command has answered it.
    pub(crate) fn release_single(&self, conn: &Arc<Conn>) {
        {
            let mut st = conn.lock();
            if st.lease != Lease::Single || st.ex.pending() != 0 {
                return;
            }
            st.lease = Lease::Idle;
        }
        match self.pool_of(conn) {
            Some(node) => self.hand_over(&node, conn.clone()),
            // Its node left the topology: the connection goes with it.
            None => self.reactors[conn.reactor].notify(Msg::Retire(conn.clone())),
        }
    }

    /// The pool a dedicated connection belongs to, while its node is in the node set.
    fn pool_of(&self, conn: &Conn) -> Option<Arc<NodePool>> {
        self.nodes.load().by_id(conn.node).cloned()
    }

    /// A holder gives its connection back, after the cleanup frames (DISCARD, UNWATCH).
    pub(super) fn release_held(&self, conn: Arc<Conn>, cleanup: &[&[u8]], tainted: bool) {
        let Some(node) = self.pool_of(&conn) else {
            self.reactors[conn.reactor].notify(Msg::Retire(conn));
            return;
        };
        {
            let mut st = conn.lock();
            st.lease = Lease::Idle;
            // The cleanup below ends what a holder left (or the connection is closed).
            st.session = false;
            st.session_lost = false;
            if tainted || !matches!(st.phase, Phase::Ready) {
                drop(st);
                self.retire(&node, &conn);
                return;
            }
            for frame in cleanup {
                st.ex.enqueue_frame(
                    frame,
                    Completion::Ignore,
                    RequestMeta {
                        deadline: None,
                        retry_written: false,
                        ..RequestMeta::default()
                    },
                );
            }
            if !cleanup.is_empty() && !st.scheduled {
                st.scheduled = true;
                drop(st);
                self.reactors[conn.reactor].flush(conn.clone());
            }
        }
        self.end_transaction(&conn);
        self.hand_over(&node, conn);
    }

    /// Closes a dedicated connection for good (once what is pending on it is answered) and
    /// frees its place in the pool.
    fn retire(&self, node: &NodePool, conn: &Arc<Conn>) {
        self.reactors[conn.reactor].notify(Msg::Retire(conn.clone()));
        let mut state = node.dedicated.lock();
        state.total -= 1;
        state.live.retain(|c| !Arc::ptr_eq(c, conn));
        // A place is free: the first waiter may create a connection.
        if let Some(waiter) = state.waiters.pop_front() {
            state.total += 1;
            let conn = Arc::new(self.new_conn(node, true));
            state.live.push(conn.clone());
            self.reactors[conn.reactor].notify(Msg::Adopt(conn.clone()));
            self.give(node, conn, waiter, state);
        }
    }

    /// A connection taken from the pool refused its request after all (it failed after it
    /// was taken): it leaves the pool, making room for a new one, rather than being lost to
    /// it (no one would give it back). Nothing is made anew once the client is closing.
    fn refused(&self, node: &NodePool, conn: &Arc<Conn>) {
        if !self.closed.load(std::sync::atomic::Ordering::Acquire) {
            self.retire(node, conn);
        }
    }

    /// Gives an idle connection to the first waiter, or back to the idle list.
    fn hand_over(&self, node: &NodePool, conn: Arc<Conn>) {
        let mut state = node.dedicated.lock();
        match state.waiters.pop_front() {
            Some(waiter) => self.give(node, conn, waiter, state),
            // Given back by a holder that found the node in the set just before it left.
            None if state.retired => self.reactors[conn.reactor].notify(Msg::Retire(conn)),
            None => state.idle.push(conn),
        }
    }

    /// Gives `conn` to `waiter`, just taken from the queue under `state`, the pool's lock.
    /// A command is leased its connection before that lock is let go: a cancel
    /// (`cancel_blocking`) finds it in the queue or on the connection, never in between.
    fn give(
        &self,
        node: &NodePool,
        conn: Arc<Conn>,
        waiter: PoolWaiter,
        state: MutexGuard<'_, PoolState>,
    ) {
        // Kept only for a command (dropped here otherwise).
        let state = matches!(waiter, PoolWaiter::Command { .. }).then_some(state);
        match waiter {
            PoolWaiter::Command {
                frame,
                asking,
                completion,
                meta,
                ..
            } => {
                let write = |buf: &mut Vec<u8>| buf.extend_from_slice(&frame);
                let leased = self.lease_single(&conn, write, asking, completion, meta);
                drop(state);
                if let Err((err, completion)) = leased {
                    self.refused(node, &conn);
                    self.deliver(&conn, vec![(completion, Err(err))]);
                }
            }
            PoolWaiter::Holder { waiter, seq, .. } => {
                // The waiter may have given up a moment ago: then the connection comes back.
                if let Some(Outcome::Conn(Ok(conn))) = waiter.complete(seq, Outcome::Conn(Ok(conn)))
                {
                    self.hand_over(node, conn);
                }
            }
            PoolWaiter::Pipeline {
                pipeline,
                run,
                meta,
                ..
            } => {
                if let Err(err) =
                    self.enqueue_pipeline(&conn, Some(Lease::Single), &pipeline, &run, meta)
                {
                    self.refused(node, &conn);
                    self.deliver(&conn, run.failed_slots(&err));
                }
            }
        }
    }

    /// Appends one blocking command (after `ASKING` when `asking`) to `conn`, leased to it.
    fn lease_single(
        &self,
        conn: &Arc<Conn>,
        write: impl FnOnce(&mut Vec<u8>),
        asking: bool,
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let lease = Some(Lease::Single);
        if asking {
            self.enqueue_asking(conn, lease, write, completion, meta)
        } else {
            self.enqueue_leased(conn, lease, write, completion, meta, false)
        }
    }

    /// Has `conn`'s reactor run these completions (they may be callbacks: never on a caller's
    /// thread, never under a lock).
    fn deliver(&self, conn: &Conn, completions: Vec<(Completion, Result<Reply>)>) {
        self.reactors[conn.reactor].notify(Msg::Deliver(completions, Vec::new()));
    }

    /// Cancels the blocking commands whose completion `cancel` picks: those waiting for a
    /// dedicated connection leave the queue, and those on one (leased to them alone) end
    /// there, their connection closed if they were written (see `ConnState::cancel_single`).
    /// Commands not sent yet that wait in a cluster client (a retry's delay, a topology) or
    /// a sentinel client (a master) leave it too, blocking or not. Each completes with
    /// CANCELLED, on a reactor thread. Returns how many.
    pub(crate) fn cancel_blocking(&self, cancel: impl Fn(&Completion) -> bool) -> usize {
        let err = Error::new(ErrorKind::Cancelled, "the command was cancelled");
        let mut waiting = Vec::new();
        if let Some(cluster) = &self.cluster {
            waiting.extend(cluster.take_waiting(&cancel));
        }
        if let Some(sentinel) = &self.sentinel {
            waiting.extend(sentinel.take_parked(&cancel));
        }
        let mut cancelled = waiting.len();
        if !waiting.is_empty() {
            let failed = waiting.into_iter().map(|c| (c, Err(err.clone()))).collect();
            self.reactors[0].notify(Msg::Deliver(failed, Vec::new()));
        }
        let nodes = self.nodes.load();
        for node in nodes.pools.iter() {
            let (parked, live) = {
                let mut state = node.dedicated.lock();
                let mut parked = Vec::new();
                let waiters = std::mem::take(&mut state.waiters);
                for waiter in waiters {
                    match waiter {
                        PoolWaiter::Command { completion, .. } if cancel(&completion) => {
                            parked.push((completion, Err(err.clone())));
                        }
                        waiter => state.waiters.push_back(waiter),
                    }
                }
                (parked, state.live.clone())
            };
            cancelled += parked.len();
            if !parked.is_empty() {
                self.reactors[0].notify(Msg::Deliver(parked, Vec::new()));
            }
            for conn in live {
                let taken = conn.lock().cancel_single(&cancel);
                if !taken.is_empty() {
                    cancelled += taken.len();
                    let failed = taken.into_iter().map(|c| (c, Err(err.clone()))).collect();
                    self.deliver(&conn, failed);
                }
            }
        }
        cancelled
    }

    /// Every dedicated connection, idle or in use.
    pub(super) fn dedicated_conns(&self) -> Vec<Arc<Conn>> {
        let nodes = self.nodes.load();
        nodes
            .pools
            .iter()
            .flat_map(|node| node.dedicated.live())
            .collect()
    }

    /// The earliest deadline of a waiting request.
    pub(crate) fn pool_next_deadline(&self) -> Option<Instant> {
        let nodes = self.nodes.load();
        nodes
            .pools
            .iter()
            .filter_map(|node| {
                let state = node.dedicated.lock();
                state.waiters.iter().map(|w| w.deadline()).min()
            })
            .min()
    }

    /// Fails waiting requests whose deadline passed.
    pub(crate) fn pool_expire(
        &self,
        now: Instant,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        for node in &self.nodes.load().pools {
            node.dedicated.expire(now, completions);
        }
    }

    /// Fails every waiting request (shutdown).
    pub(crate) fn pool_fail_all(
        &self,
        err: &Error,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        for node in &self.nodes.load().pools {
            node.dedicated.fail_all(err, completions);
        }
    }
}

impl DedicatedPool {
    /// Every dedicated connection that exists, idle or in use.
    pub(crate) fn live(&self) -> Vec<Arc<Conn>> {
        self.lock().live.clone()
    }

    /// Takes the idle connections out of the pool (their node left the cluster): the caller
    /// retires them. Those in use are retired when given back (`Engine::pool_of` no longer
    /// finds their node).
    pub(crate) fn retire_idle(&self) -> Vec<Arc<Conn>> {
        let mut state = self.lock();
        state.retired = true;
        let idle = std::mem::take(&mut state.idle);
        state.total -= idle.len();
        state
            .live
            .retain(|c| !idle.iter().any(|i| Arc::ptr_eq(c, i)));
        idle
    }

    /// Fails waiting requests whose deadline passed.
    fn expire(&self, now: Instant, completions: &mut Vec<(Completion, Result<Reply>)>) {
        let mut state = self.lock();
        if state.waiters.iter().all(|w| w.deadline() > now) {
            return;
        }
        let waiters = std::mem::take(&mut state.waiters);
        for w in waiters {
            if w.deadline() > now {
                state.waiters.push_back(w);
                continue;
            }
            match w {
                PoolWaiter::Command { completion, .. } => {
                    completions.push((completion, Err(self.exhausted())))
                }
                PoolWaiter::Holder { waiter, seq, .. } => {
                    drop(waiter.complete(seq, Outcome::Conn(Err(self.exhausted()))))
                }
                PoolWaiter::Pipeline { run, .. } => {
                    completions.extend(run.failed_slots(&self.exhausted()))
                }
            }
        }
    }

    /// Fails every waiting request (shutdown, or the node left the topology).
    pub(crate) fn fail_all(&self, err: &Error, completions: &mut Vec<(Completion, Result<Reply>)>) {
        let waiters = std::mem::take(&mut self.lock().waiters);
        for w in waiters {
            match w {
                PoolWaiter::Command { completion, .. } => {
                    completions.push((completion, Err(err.clone())))
                }
                PoolWaiter::Holder { waiter, seq, .. } => {
                    drop(waiter.complete(seq, Outcome::Conn(Err(err.clone()))))
                }
                PoolWaiter::Pipeline { run, .. } => completions.extend(run.failed_slots(err)),
            }
        }
    }
}
