//! Dedicated connections: a bounded set of connections set apart for blocking commands (one
//! command at a time, returned when answered) and for callers that hold one (`Dedicated`).
//! When none is free and the bound is reached, requests wait in FIFO order up to the
//! configured time, then fail with MAX_CONNECTIONS.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Conn, Lease, Msg, Outcome, Phase, Waiter};
use crate::resp::Reply;
use crate::session::RequestMeta;

enum PoolWaiter {
    /// A blocking command waiting for a connection, frame already encoded.
    Command {
        frame: Vec<u8>,
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
    /// A pipeline with blocking commands, waiting like a holder.
    Pipeline {
        waiter: Arc<Waiter>,
        seq: u64,
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
}

pub(super) struct DedicatedPool {
    state: Mutex<PoolState>,
    max: usize,
    wait: Duration,
}

/// What `take` found.
enum Take {
    Conn(Arc<Conn>),
    Create,
    Full,
}

impl DedicatedPool {
    pub(super) fn new(max: usize, wait: Duration) -> DedicatedPool {
        DedicatedPool {
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                live: Vec::new(),
                total: 0,
                waiters: VecDeque::new(),
            }),
            max,
            wait,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn take(&self, state: &mut PoolState) -> Take {
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
    fn dedicated_conn(&self, state: &mut PoolState) -> Option<Arc<Conn>> {
        match self.pool.take(state) {
            Take::Conn(conn) => Some(conn),
            Take::Create => {
                let conn = Arc::new(self.new_conn(0, true));
                state.live.push(conn.clone());
                self.reactors[conn.reactor].notify(Msg::Adopt(conn.clone()));
                Some(conn)
            }
            Take::Full => None,
        }
    }

    /// Sends one blocking command on a dedicated connection, or queues it until one is free.
    pub(super) fn submit_dedicated(
        &self,
        write: impl FnOnce(&mut Vec<u8>),
        completion: Completion,
        meta: RequestMeta,
    ) -> std::result::Result<(), (Error, Completion)> {
        let mut state = self.pool.lock();
        match self.dedicated_conn(&mut state) {
            Some(conn) => {
                drop(state);
                conn.lock().lease = Lease::Single;
                self.enqueue(&conn, write, completion, meta, false)
            }
            None => {
                let mut frame = Vec::new();
                write(&mut frame);
                let deadline = Instant::now() + self.pool.wait;
                state.waiters.push_back(PoolWaiter::Command {
                    frame,
                    completion,
                    meta,
                    deadline,
                });
                drop(state);
                // The reactor may sleep with no timer: make it see this deadline.
                self.reactors[0].notify(Msg::Timers);
                Ok(())
            }
        }
    }

    /// Takes a connection to hold (`Dedicated`), waiting up to the configured time.
    pub(super) fn acquire_held(&self) -> Result<Arc<Conn>> {
        self.acquire_waiting(Lease::Held, false)
    }

    /// Takes a connection for one pipeline with blocking commands.
    pub(super) fn acquire_for_pipeline(&self) -> Result<Arc<Conn>> {
        self.acquire_waiting(Lease::Single, true)
    }

    fn acquire_waiting(&self, lease: Lease, pipeline: bool) -> Result<Arc<Conn>> {
        let mut state = self.pool.lock();
        if let Some(conn) = self.dedicated_conn(&mut state) {
            drop(state);
            conn.lock().lease = lease;
            return Ok(conn);
        }
        let conn = self.wait_for_conn(state, pipeline)?;
        conn.lock().lease = lease;
        Ok(conn)
    }

    fn wait_for_conn(
        &self,
        mut state: MutexGuard<'_, PoolState>,
        pipeline: bool,
    ) -> Result<Arc<Conn>> {
        let waiter = Waiter::for_this_thread();
        let seq = waiter.begin();
        let deadline = Instant::now() + self.pool.wait;
        state.waiters.push_back(if pipeline {
            PoolWaiter::Pipeline {
                waiter: waiter.clone(),
                seq,
                deadline,
            }
        } else {
            PoolWaiter::Holder {
                waiter: waiter.clone(),
                seq,
                deadline,
            }
        });
        drop(state);
        match waiter.wait(seq, Some(deadline + Duration::from_millis(5))) {
            Some(Outcome::Conn(result)) => result,
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => {
                // Timed out; if a connection was handed over meanwhile, it is in the slot we
                // abandoned and would be lost: reclaim it by scanning for our entry.
                let mut state = self.pool.lock();
                state.waiters.retain(|w| {
                    !matches!(w, PoolWaiter::Holder { seq: s, waiter: wt, .. }
                        | PoolWaiter::Pipeline { seq: s, waiter: wt, .. }
                        if *s == seq && Arc::ptr_eq(wt, &waiter))
                });
                Err(self.pool.exhausted())
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
        self.hand_over(conn.clone());
    }

    /// A holder gives its connection back, after the cleanup frames (DISCARD, UNWATCH).
    pub(super) fn release_held(&self, conn: Arc<Conn>, cleanup: &[&[u8]], tainted: bool) {
        {
            let mut st = conn.lock();
            st.lease = Lease::Idle;
            if tainted || !matches!(st.phase, Phase::Ready) {
                drop(st);
                self.retire(&conn);
                return;
            }
            for frame in cleanup {
                st.ex.enqueue_frame(
                    frame,
                    Completion::HealthCheck,
                    RequestMeta {
                        deadline: None,
                        retry_written: false,
                    },
                );
            }
            if !cleanup.is_empty() && !st.scheduled {
                st.scheduled = true;
                drop(st);
                self.reactors[conn.reactor].notify(Msg::Flush(conn.clone()));
            }
        }
        self.end_transaction(&conn);
        self.hand_over(conn);
    }

    /// Closes a dedicated connection for good and frees its place in the pool.
    fn retire(&self, conn: &Arc<Conn>) {
        {
            let mut st = conn.lock();
            st.phase = Phase::Closed;
            if let Some(t) = st.transport.as_ref() {
                t.shutdown();
            }
        }
        let mut state = self.pool.lock();
        state.total -= 1;
        state.live.retain(|c| !Arc::ptr_eq(c, conn));
        // A place is free: the first waiter may create a connection.
        if let Some(waiter) = state.waiters.pop_front() {
            state.total += 1;
            let conn = Arc::new(self.new_conn(0, true));
            state.live.push(conn.clone());
            drop(state);
            self.reactors[conn.reactor].notify(Msg::Adopt(conn.clone()));
            self.give(conn, waiter);
        }
    }

    /// Gives an idle connection to the first waiter, or back to the idle list.
    fn hand_over(&self, conn: Arc<Conn>) {
        let mut state = self.pool.lock();
        match state.waiters.pop_front() {
            Some(waiter) => {
                drop(state);
                self.give(conn, waiter);
            }
            None => state.idle.push(conn),
        }
    }

    fn give(&self, conn: Arc<Conn>, waiter: PoolWaiter) {
        match waiter {
            PoolWaiter::Command {
                frame,
                completion,
                meta,
                ..
            } => {
                conn.lock().lease = Lease::Single;
                if let Err((err, completion)) = self.enqueue(
                    &conn,
                    |buf| buf.extend_from_slice(&frame),
                    completion,
                    meta,
                    false,
                ) {
                    completion.run(Err(err));
                }
            }
            PoolWaiter::Holder { waiter, seq, .. } | PoolWaiter::Pipeline { waiter, seq, .. } => {
                // The waiter may have given up a moment ago: then the connection comes back.
                if let Some(Outcome::Conn(Ok(conn))) = waiter.complete(seq, Outcome::Conn(Ok(conn)))
                {
                    self.hand_over(conn);
                }
            }
        }
    }

    /// Every dedicated connection, idle or in use.
    pub(super) fn dedicated_conns(&self) -> Vec<Arc<Conn>> {
        self.pool.lock().live.clone()
    }

    /// The earliest deadline of a waiting request.
    pub(crate) fn pool_next_deadline(&self) -> Option<Instant> {
        self.pool.lock().waiters.iter().map(|w| w.deadline()).min()
    }

    /// Fails waiting requests whose deadline passed.
    pub(crate) fn pool_expire(
        &self,
        now: Instant,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let mut state = self.pool.lock();
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
                    completions.push((completion, Err(self.pool.exhausted())))
                }
                PoolWaiter::Holder { waiter, seq, .. }
                | PoolWaiter::Pipeline { waiter, seq, .. } => {
                    drop(waiter.complete(seq, Outcome::Conn(Err(self.pool.exhausted()))))
                }
            }
        }
    }

    /// Fails every waiting request (shutdown).
    pub(crate) fn pool_fail_all(
        &self,
        err: &Error,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    ) {
        let waiters = std::mem::take(&mut self.pool.lock().waiters);
        for w in waiters {
            match w {
                PoolWaiter::Command { completion, .. } => {
                    completions.push((completion, Err(err.clone())))
                }
                PoolWaiter::Holder { waiter, seq, .. }
                | PoolWaiter::Pipeline { waiter, seq, .. } => {
                    drop(waiter.complete(seq, Outcome::Conn(Err(err.clone()))))
                }
            }
        }
    }
}
