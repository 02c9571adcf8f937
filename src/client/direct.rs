//! The direct path of a blocking call, the way hiredis works: on an idle connection, the
//! calling thread writes its command, reads the socket itself and parses its reply, so a
//! round trip costs no hand-off to the reactor thread and back. The connection's read
//! interest is dropped from the reactor's poll while the caller reads (no spurious wake-up),
//! and registered again when the caller is done if anything else is pending.
//!
//! Anything the caller cannot finish (a write that would block, an error, replies for other
//! requests, pushes) goes back to the reactor, which owns the failure logic and the callbacks.
//!
//! Over TLS the descriptor's readiness is not the whole story: one socket read may bring
//! several records, and their plaintext waits inside rustls while the socket has nothing
//! more. So on a TLS connection the caller asks the transport for buffered input before it
//! polls, and an encrypted write left inside rustls counts as unfinished.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::nodes::NodePool;
use super::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Conn, Msg, Outcome, Phase, Waiter};
use crate::resp::{encode_command, Reply};
use crate::route::command::{classify, CommandClass};
use crate::session::RequestMeta;

use super::enqueue_pipeline_frames;
use super::pipeline::{Pipeline, PipelineResult, Views};
use crate::reactor::conn::ConnState;
use crate::reactor::PipelineRun;

thread_local! {
    /// The index of the direct connection (`NodePool::direct`) this thread last called on.
    static PREFERRED: Cell<usize> = const { Cell::new(0) };
    static SCRATCH: RefCell<Scratch> = RefCell::new((vec![0; 64 * 1024], Vec::new(), Vec::new()));
}

/// Longest single poll(2) of a direct caller: it then checks that the socket is still the
/// one it polls (the reactor may have replaced it, and the number reused for another).
const POLL_SLICE: Duration = Duration::from_millis(100);

enum Wait {
    Readable,
    TimedOut,
}

/// Waits until `fd` is readable (or hung up) or `deadline` passes.
fn wait_readable(fd: i32, deadline: Option<Instant>) -> io::Result<Wait> {
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(Wait::TimedOut);
                }
                left.as_millis().min(i32::MAX as u128) as i32 + 1
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc > 0 {
            return Ok(Wait::Readable);
        }
        if rc == 0 {
            continue; // the deadline check above decides
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

impl Engine {
    /// Runs a blocking command on the direct path when the connection it routes to is idle.
    /// `None` when the path is not available: the caller submits normally.
    ///
    /// When the node's shared connection is busy and the blocking calls in progress
    /// (`callers`) do not outnumber the node's connections, the call takes an idle direct
    /// connection of the node instead, opening one (for the next calls) if none is idle and
    /// the bound allows. Beyond that many callers, sharing the multiplexed connection is
    /// cheaper per call (one write and one read carry many replies).
    pub(super) fn try_direct<A: AsRef<[u8]>>(
        &self,
        args: &[A],
        waiter: &Arc<Waiter>,
        seq: u64,
        callers: usize,
        forgets: bool,
    ) -> Option<Result<Reply>> {
        if args.is_empty()
            || !matches!(classify(args), Ok(CommandClass::Normal))
            || super::check_frame_size(args).is_err()
        {
            return None;
        }
        let views = Views::new(args);
        let nodes = self.nodes.load();
        let Ok((pool, read_only)) = self.route(&nodes, views.as_slice()) else {
            return None;
        };
        let call = |conn| {
            self.direct_on(
                conn,
                |buf| encode_command(buf, args),
                waiter,
                seq,
                Duration::ZERO,
                RequestMeta {
                    read_only,
                    forgets,
                    ..RequestMeta::default()
                },
            )
        };
        let spread = !pool.direct.is_empty() && callers <= pool.conns.len() + pool.direct.len();
        // The direct connection this thread used last: with as many connections as callers,
        // each caller keeps finding its own idle.
        let preferred = PREFERRED.with(|p| p.get());
        if spread {
            if let Some(conn) = pool.direct.get(preferred).and_then(|slot| slot.get()) {
                if let Some(result) = call(conn) {
                    return Some(result);
                }
            }
        }
        if let Some(result) = call(pool.pick()) {
            return Some(result);
        }
        if !spread {
            return None;
        }
        let mut connecting = false;
        for (index, slot) in pool.direct.iter().enumerate() {
            let Some(conn) = slot.get() else {
                // Every direct connection is busy: open one more for the calls to come (unless
                // one is on its way); this call goes through the shared connection.
                if !connecting {
                    slot.get_or_init(|| self.open_direct_conn(pool));
                }
                return None;
            };
            if !conn.ready_hint.load(Ordering::Relaxed) {
                connecting = true;
                continue;
            }
            if index == preferred {
                continue;
            }
            if let Some(result) = call(conn) {
                PREFERRED.with(|p| p.set(index));
                return Some(result);
            }
        }
        None
    }

    /// A new connection for the direct path, handed to its reactor to connect.
    fn open_direct_conn(&self, node: &NodePool) -> Arc<Conn> {
        let conn = Arc::new(self.new_conn(node, false));
        self.reactors[conn.reactor].notify(Msg::Adopt(conn.clone()));
        conn
    }

    /// The direct path on a given connection; `meta` says what the request is (its deadline
    /// and retry policy are set here).
    pub(super) fn direct_on(
        &self,
        conn: &Arc<Conn>,
        write: impl FnOnce(&mut Vec<u8>),
        waiter: &Arc<Waiter>,
        seq: u64,
        block: Duration,
        meta: RequestMeta,
    ) -> Option<Result<Reply>> {
        let deadline = self
            .config
            .command_timeout
            .map(|t| Instant::now() + t + block);
        let meta = RequestMeta {
            deadline,
            retry_written: self.config.retry.retry_written_commands,
            ..meta
        };
        let completion = Completion::Wait(waiter.clone(), seq);
        let outcome = self.direct(
            conn,
            |st| st.ex.enqueue(write, completion, meta),
            Own::Single { waiter, seq },
            deadline,
        )?;
        Some(match outcome {
            Direct::Reply(result) => result,
            Direct::TimedOut => {
                waiter.begin(); // abandons `seq`: the late reply is dropped
                Err(Error::new(ErrorKind::Timeout, "the command timed out"))
            }
            // The reactor holds the request now and completes it through the waiter.
            Direct::Handed => self.wait_reply(waiter, seq, deadline),
            Direct::Finished => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
        })
    }

    /// Runs a pipeline on the direct path when the connection it goes to is idle: its frames
    /// are written and its replies read on the caller's thread. `None` when the path is not
    /// available (nothing was sent).
    pub(super) fn try_direct_pipeline(
        &self,
        pipeline: &Pipeline,
        run: &Arc<PipelineRun>,
        waiter: &Arc<Waiter>,
        seq: u64,
        meta: RequestMeta,
    ) -> Option<Result<PipelineResult>> {
        // The caller only writes once: a run larger than the in-flight bound needs the reactor
        // to write the rest as replies come back.
        let requests = run.requests();
        let bound = self.config.max_in_flight_per_connection;
        if bound != 0 && requests > bound {
            return None;
        }
        if self.cluster.is_some() {
            // A cluster pipeline may span nodes: the reactor path groups it.
            return None;
        }
        let nodes = self.nodes.load();
        let Ok((pool, _)) = self.route(&nodes, &[]) else {
            return None;
        };
        let conn = pool.pick();
        let outcome = self.direct(
            conn,
            |st| enqueue_pipeline_frames(st, pipeline, run, meta),
            Own::Pipeline(run),
            meta.deadline,
        )?;
        Some(match outcome {
            Direct::TimedOut => {
                waiter.begin();
                Err(Error::new(ErrorKind::Timeout, "the pipeline timed out"))
            }
            Direct::Finished | Direct::Handed | Direct::Reply(_) => {
                match waiter.wait(seq, meta.deadline.map(|d| d + Duration::from_millis(5))) {
                    Some(Outcome::Pipeline(result)) => Ok(result),
                    Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
                    None => Err(Error::new(ErrorKind::Timeout, "the pipeline timed out")),
                }
            }
        })
    }

    /// The direct path: if `conn` is idle, `enqueue` appends the requests, the caller writes
    /// them and reads until its own requests (`own`) are answered. `None` when the connection
    /// was not idle (nothing was enqueued).
    fn direct(
        &self,
        conn: &Arc<Conn>,
        enqueue: impl FnOnce(&mut ConnState),
        own: Own<'_>,
        deadline: Option<Instant>,
    ) -> Option<Direct> {
        let shared = &self.reactors[conn.reactor];
        let mut st = conn.lock();
        let eligible = matches!(st.phase, Phase::Ready)
            && st.writable
            && !st.scheduled
            && !st.caller_reading
            && !st.doomed
            && !st.sending
            && st.ex.pending() == 0;
        let fd = st.transport.as_ref().map(|t| t.raw_fd())?;
        if !eligible {
            return None;
        }
        let now = Instant::now();
        if st.input_waits(&shared.registry, now) {
            // A close or stray bytes while idle: let the reactor look first.
            return None;
        }
        enqueue(&mut st);
        st.last_io = now;
        if st.write_pending().is_err() || !st.output_flushed() {
            // The reactor finishes the write (or fails the connection) and reads the replies.
            let notify = !st.scheduled;
            st.scheduled = true;
            drop(st);
            if notify {
                shared.flush(conn.clone());
            }
            return Some(Direct::Handed);
        }
        st.caller_reading = true;
        if st.armed {
            st.disarm(&shared.registry);
        }
        let tls = st.transport.as_ref().is_some_and(|t| t.is_tls());
        let blocking = st.caller_blocking && st.prepare_recv(fd, deadline, now).is_ok();
        let epoch = st.epoch;
        drop(st);

        let (outcome, failure, handed) = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let (buf, others, pushes) = &mut *scratch;
            let read = ReadOwn {
                conn,
                fd,
                tls,
                blocking,
                epoch,
                own,
                deadline,
            };
            self.read_own_reply(&read, buf, others, pushes)
        });
        if let Some(err) = failure {
            // A cluster node's other connections may be dead too (a killed node closes them
            // all): they are checked before their next write.
            if self.cluster.is_some() {
                self.suspect_node(conn.node);
            }
            // The reactor fails the connection, running the hand-off first (the socket was
            // marked doomed when the error was met).
            shared.notify(Msg::Fail(conn.clone(), err, epoch));
        }
        if handed {
            // `scheduled` was set for this flush: it must come even when the connection
            // failed, or the flag stays set and nothing queued later is ever written.
            shared.flush(conn.clone());
        }
        Some(outcome)
    }

    /// Reads until the caller's own requests are answered. Returns the outcome, the error to
    /// fail the connection with when reading broke, and whether the reactor must be told to
    /// run completions handed over to it (`ConnState::handoff`).
    fn read_own_reply(
        &self,
        read: &ReadOwn<'_>,
        buf: &mut [u8],
        others: &mut Vec<(Completion, Result<Reply>)>,
        pushes: &mut Vec<Reply>,
    ) -> (Direct, Option<Error>, bool) {
        let mut handed = false;
        let (outcome, failure) = self.read_own_reply_inner(read, buf, others, pushes, &mut handed);
        (outcome, failure, handed)
    }

    fn read_own_reply_inner(
        &self,
        read: &ReadOwn<'_>,
        buf: &mut [u8],
        others: &mut Vec<(Completion, Result<Reply>)>,
        pushes: &mut Vec<Reply>,
        handed: &mut bool,
    ) -> (Direct, Option<Error>) {
        let ReadOwn {
            conn,
            fd,
            tls,
            blocking,
            epoch,
            own,
            deadline,
        } = *read;
        let registry = &self.reactors[conn.reactor].registry;
        loop {
            // A blocking socket: one recv(2) waits for the bytes (up to the receive timeout
            // `prepare_recv` set). Otherwise poll(2), then read under the lock.
            let got = if blocking {
                Got::Bytes(crate::net::recv_blocking(fd, buf))
            } else {
                let buffered = tls && {
                    let mut st = conn.lock();
                    st.epoch == epoch
                        && st
                            .transport
                            .as_mut()
                            .is_some_and(|t| t.has_buffered_input())
                };
                let slice = Instant::now() + POLL_SLICE;
                Got::Ready(if buffered {
                    Ok(Wait::Readable)
                } else {
                    wait_readable(fd, Some(deadline.map_or(slice, |d| d.min(slice))))
                })
            };
            let mut st = conn.lock();
            if st.epoch != epoch {
                // Not ours to read any more (and `caller_reading` already cleared): the reactor
                // failed the connection and holds the requests. Whatever was read is dropped,
                // and so is the old socket, kept open until now.
                let orphan = st.take_orphan(epoch);
                drop(st);
                drop(orphan);
                return (Direct::Handed, None);
            }
            let finish = |st: &mut ConnState| {
                st.caller_reading = false;
                // The reply was read now: a back-to-back caller does not pay the idle check
                // (`ConnState::input_waits`) on its next command, however slow this reply.
                st.last_io = Instant::now();
                st.ensure_armed(registry);
            };
            // The caller's `Msg::Fail` follows; from now on nobody else writes to this socket
            // (`ConnState::doomed`).
            let failed = |st: &mut ConnState, err: Error| {
                st.caller_reading = false;
                st.doomed = true;
                st.ensure_armed(registry);
                (Direct::Handed, Some(err))
            };
            let received = match got {
                Got::Bytes(received) => received,
                Got::Ready(ready) => {
                    match ready {
                        Ok(Wait::Readable) => {}
                        Ok(Wait::TimedOut) if deadline.is_some_and(|d| Instant::now() >= d) => {
                            finish(&mut st);
                            return (Direct::TimedOut, None);
                        }
                        Ok(Wait::TimedOut) => continue,
                        Err(e) => {
                            let err = Error::new(
                                ErrorKind::Connection,
                                format!("error waiting for the reply: {e}"),
                            );
                            return failed(&mut st, err);
                        }
                    }
                    let Some(transport) = st.transport.as_mut() else {
                        return failed(
                            &mut st,
                            Error::new(ErrorKind::Connection, "connection closed"),
                        );
                    };
                    transport.read(buf)
                }
            };
            let n = match received {
                Ok(0) => {
                    let err = Error::new(ErrorKind::Connection, "the server closed the connection");
                    return failed(&mut st, err);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if blocking {
                        // The receive timeout passed: the deadline, or a wait set too short.
                        if let Some(outcome) = self.recv_deadline(&mut st, fd, deadline, registry) {
                            return outcome;
                        }
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if blocking {
                        if let Some(outcome) = self.recv_deadline(&mut st, fd, deadline, registry) {
                            return outcome;
                        }
                    }
                    continue;
                }
                Err(e) => {
                    let err = Error::new(ErrorKind::Connection, format!("error reading: {e}"));
                    return failed(&mut st, err);
                }
            };
            // Our own completions are taken (a single reply) or run here (pipeline slots, the
            // last of which fills the waiter); the others go to the reactor.
            let mut mine: Option<Result<Reply>> = None;
            // Once a completion waits for the reactor, the ones after it wait too: they run in
            // the order of the stream.
            let mut queued = !st.handoff.is_empty();
            let on_reply = |completion: Completion, result: Result<Reply>| match (own, &completion)
            {
                (Own::Single { waiter, seq }, Completion::Wait(w, s))
                    if *s == seq && Arc::ptr_eq(w, waiter) =>
                {
                    mine = Some(result);
                }
                (Own::Pipeline(run), Completion::Pipeline(r, _)) if Arc::ptr_eq(r, run) => {
                    completion.run(result);
                }
                // Another blocked caller: wake it from here (no user code runs), sparing the
                // reactor a wake-up. Callbacks go to the reactor, which owns that thread.
                (_, Completion::Wait(..)) if !queued => completion.run(result),
                _ => {
                    queued = true;
                    others.push((completion, result));
                }
            };
            let ingested = st.ingest(&buf[..n], on_reply, pushes);
            let detoured = !st.detoured.is_empty();
            if !others.is_empty() || !pushes.is_empty() || detoured {
                st.handoff.append(others);
                st.handoff_pushes.append(pushes);
                if !st.scheduled {
                    st.scheduled = true;
                    *handed = true;
                }
            }
            if let Err(err) = ingested {
                // Bytes after our own reply broke the stream: the connection fails, but a
                // reply already taken out of the exchange is ours to return.
                if let Some(result) = mine {
                    st.caller_reading = false;
                    st.doomed = true;
                    st.ensure_armed(registry);
                    return (Direct::Reply(result), Some(err));
                }
                return failed(&mut st, err);
            }
            if let (Own::Single { .. }, Some(result)) = (own, mine.take()) {
                finish(&mut st);
                return (Direct::Reply(result), None);
            }
            if detoured {
                // A cluster node turned a request away (ours, perhaps): the reactor sends it
                // on and reads from here.
                finish(&mut st);
                return (Direct::Handed, None);
            }
            match own {
                Own::Single { .. } => {}
                Own::Pipeline(run) => {
                    if run.is_finished() {
                        finish(&mut st);
                        return (Direct::Finished, None);
                    }
                }
            }
            if blocking {
                // Bytes came, but not (all of) ours: the receive timeout starts again with
                // each recv, so the deadline is checked here, and the timeout set to what
                // is left of it, or replies for others could keep the caller waiting.
                if let Some(outcome) = self.recv_deadline(&mut st, fd, deadline, registry) {
                    return outcome;
                }
            }
        }
    }

    /// Before a blocking caller's next recv: `TimedOut` when its deadline has passed,
    /// otherwise the socket's receive timeout brought in line with what is left of it (a
    /// system call only when it is off by more than the slack).
    fn recv_deadline(
        &self,
        st: &mut ConnState,
        fd: i32,
        deadline: Option<Instant>,
        registry: &mio::Registry,
    ) -> Option<(Direct, Option<Error>)> {
        let now = Instant::now();
        let outcome = if deadline.is_some_and(|d| now >= d) {
            (Direct::TimedOut, None)
        } else {
            match st.prepare_recv(fd, deadline, now) {
                Ok(()) => return None,
                Err(e) => (
                    Direct::Handed,
                    Some(Error::new(
                        ErrorKind::Connection,
                        format!("error waiting for the reply: {e}"),
                    )),
                ),
            }
        };
        st.caller_reading = false;
        st.ensure_armed(registry);
        Some(outcome)
    }

    /// Waits for a reply delivered by the reactor.
    pub(super) fn wait_reply(
        &self,
        waiter: &Waiter,
        seq: u64,
        deadline: Option<Instant>,
    ) -> Result<Reply> {
        match waiter.wait(seq, deadline.map(|d| d + Duration::from_millis(5))) {
            Some(Outcome::Reply(result)) => result,
            Some(_) => Err(Error::new(ErrorKind::Internal, "unexpected outcome")),
            None => Err(Error::new(ErrorKind::Timeout, "the command timed out")),
        }
    }
}

/// How a direct call ended.
enum Direct {
    /// The single command's reply.
    Reply(Result<Reply>),
    /// Every slot of the pipeline completed (its result is in the waiter).
    Finished,
    /// The deadline passed first.
    TimedOut,
    /// The reactor holds the requests (it finishes a write, or failed the connection) and
    /// completes them through the waiter.
    Handed,
}

/// Which requests the direct caller waits for.
#[derive(Clone, Copy)]
enum Own<'a> {
    Single { waiter: &'a Arc<Waiter>, seq: u64 },
    Pipeline(&'a Arc<PipelineRun>),
}

/// What a direct caller's wait brought.
enum Got {
    /// A blocking socket: what recv(2) returned.
    Bytes(io::Result<usize>),
    /// A non-blocking socket: poll(2)'s answer; the read is still to do.
    Ready(io::Result<Wait>),
}

/// What `read_own_reply` reads and for whom.
struct ReadOwn<'a> {
    conn: &'a Arc<Conn>,
    fd: i32,
    tls: bool,
    /// The socket is blocking (`ConnState::caller_blocking`) and its receive timeout is set.
    blocking: bool,
    epoch: u64,
    own: Own<'a>,
    deadline: Option<Instant>,
}

/// A direct caller's read buffer and the completions and pushes it finds for others,
/// kept per thread so a blocking call allocates nothing but its reply.
type Scratch = (Vec<u8>, Vec<(Completion, Result<Reply>)>, Vec<Reply>);
