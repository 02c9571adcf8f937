//! The reactor: the only place with sockets, threads and clocks. Each reactor thread runs a
//! mio `Poll` over the connections it owns, drains its submission queue, writes everything
//! queued in one turn in one write per connection (or, while a long turn's callbacks submit
//! to a server with little left to answer, in a few writes that double in size), parses every
//! complete reply, runs completions (outside every lock), and keeps the timers: connect and
//! command timeouts, reconnect backoff, health checks.
//!
//! Callers reach a reactor through `Shared::notify`: a crossbeam channel plus a mio `Waker`,
//! woken only when the reactor is (about to be) asleep, so a burst of submissions costs one
//! wake-up, not one per command.

pub(crate) mod auth;
pub(crate) mod batch;
pub(crate) mod completion;
pub(crate) mod conn;
pub(crate) mod stream;
pub(crate) mod tracking;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Poll, Token, Waker};

pub(crate) use batch::{PipelineDone, PipelineRun};
pub(crate) use completion::{Completion, Outcome, RawCallback, Waiter};
pub(crate) use conn::{Conn, ConnProfile, Detour, Lease, Phase};
pub(crate) use stream::Stream;

use crate::config::{Config, Credentials, FastRng};
use crate::error::{Error, ErrorKind, Result};
use crate::resp::Reply;
use conn::{After, Ctx};

const WAKER: Token = Token(0);
const READ_BUF: usize = 64 * 1024;
/// The shortest command timeout for which the reactor keeps its sleep short (half of it)
/// after a lone submission, so that the next may be written by its submitter
/// (`ConnState::lone_since`): below it, the reactor's wake-ups would cost more than they save,
/// and lone submissions with a deadline are handed to the reactor.
const MIN_CAPPED_COMMAND_TIMEOUT: Duration = Duration::from_millis(8);
/// While a turn's completions run, every this many, what their callbacks submitted to a
/// connection whose server is running dry is written (`Reactor::run_turn_completions`).
const STARVING_CHECK: usize = 4;

/// How often a client's event loops were woken from their sleep by other threads (for a
/// submission, or an internal message), and how many submissions their submitters wrote
/// themselves while the loop slept (lone commands or pipelines, `Engine::after_enqueue`;
/// blocking calls on the direct path are not counted). For tuning and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Wake-ups of a sleeping event loop by another thread (an eventfd write each).
    pub wakeups: u64,
    /// Lone submissions written by the submitting thread while the loop slept.
    pub caller_writes: u64,
}

/// A message to a reactor thread.
pub(crate) enum Msg {
    /// Own this connection and start connecting it.
    Adopt(Arc<Conn>),
    /// A name lookup for this connection finished.
    Resolved(Arc<Conn>, io::Result<Vec<SocketAddr>>),
    /// The credential provider answered for this connection.
    Credentials(Arc<Conn>, Result<Credentials>),
    /// Nothing to do but look at the timers again (a new deadline was set elsewhere).
    Timers,
    /// Run these completions (and pushes) on this thread.
    Deliver(Vec<(Completion, Result<Reply>)>, Vec<Reply>),
    /// A caller reading this connection met an error on the socket of this epoch: fail the
    /// connection (unless it has moved on to another socket since).
    Fail(Arc<Conn>, Error, u64),
    /// Close this connection for good once its pending requests are answered.
    Retire(Arc<Conn>),
    /// Close this connection for good now: what it has not answered is detoured or fails
    /// with this error (see `ConnState::abandon`).
    Abandon(Arc<Conn>, Error),
    /// Close every connection, complete everything with CLOSED, and exit.
    Shutdown,
    /// Close every connection and complete everything with CLOSED, but keep running until
    /// `Shutdown`: connections handed over later are closed as they come
    /// (`Client::shutdown`, which other threads may be using the client across).
    Close,
    /// Answer on this sender at the end of the first turn that leaves no completion to run:
    /// every completion the reactor held when it got this has run by then (`Client::drain`).
    Barrier(crossbeam_channel::Sender<()>),
}

/// What a reactor thread needs from the client that owns it. The client implements it; the
/// reactor sees nothing else of the client, so `reactor` never reaches up a floor.
pub(crate) trait Owner: Send + Sync + 'static {
    /// The client's configuration.
    fn config(&self) -> &Config;
    /// The TLS client configuration, when TLS is on.
    fn tls(&self) -> Option<&Arc<crate::net::tls::ClientConfig>>;
    /// The current credentials and their renewal.
    fn auth(&self) -> &auth::Auth;
    /// A connection leased for one command (`Lease::Single`) has answered it.
    fn release_single(&self, conn: &Arc<Conn>);
    /// The owner's earliest timer: requests waiting for a connection, credential renewal,
    /// delayed retries, topology refreshes.
    fn next_deadline(&self) -> Option<Instant>;
    /// Runs the owner's timers that are due; completions to run go to `completions`.
    fn on_timers(
        self: &Arc<Self>,
        now: Instant,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    );
    /// A push that arrived outside any request.
    fn on_push(&self, reply: Reply);
    /// Requests a cluster node turned away or left unanswered (see `Detour`): the owner sends
    /// them elsewhere, later, or fails them into `completions`.
    fn on_detours(
        self: &Arc<Self>,
        detours: &mut Vec<Detour>,
        completions: &mut Vec<(Completion, Result<Reply>)>,
    );
    /// `conn` has just become ready: its node is up. The owner tells the node's other
    /// connections, so that those backing off after failed attempts reconnect now and stop
    /// refusing commands with their stale error (see `ConnState::node_up`).
    fn node_up(&self, conn: &Arc<Conn>, now: Instant);
    /// The client shuts down: requests the owner holds outside any connection fail with `err`.
    fn fail_waiting(&self, err: &Error, completions: &mut Vec<(Completion, Result<Reply>)>);
    /// Keeps a helper thread (a name lookup, a credential provider call) to be joined when the
    /// client closes, so none outlives it.
    fn keep_thread(&self, handle: std::thread::JoinHandle<()>);
}

/// The part of a reactor that other threads hold.
pub(crate) struct Shared {
    tx: Sender<Msg>,
    /// Connections with output to write. A list swapped each turn rather than channel
    /// messages: pushing reuses its capacity, so a submission allocates nothing.
    flushes: std::sync::Mutex<Vec<Arc<Conn>>>,
    waker: Waker,
    sleeping: AtomicBool,
    /// While the reactor sleeps: when it wakes at the latest, in nanoseconds after `base`
    /// (`u64::MAX`: not before an event; 0: not decided yet). See `wakes_by`.
    wake_by: AtomicU64,
    base: Instant,
    wakeups: AtomicU64,
    caller_writes: AtomicU64,
    /// How many completions the reactor has run (`Client::drain` compares).
    ran: AtomicU64,
    /// `Deliver` messages sent to the reactor whose completions have not all run yet.
    delivering: AtomicUsize,
    /// The reactor's registry, for callers that change a connection's interest while they
    /// read it themselves.
    pub(crate) registry: mio::Registry,
}

impl Shared {
    /// Queues `msg` and wakes the reactor if it sleeps.
    pub(crate) fn notify(&self, msg: Msg) {
        let deliver = matches!(msg, Msg::Deliver(..));
        if deliver {
            // Counted before it can be received (and counted off).
            self.delivering.fetch_add(1, Ordering::SeqCst);
        }
        if self.tx.send(msg).is_err() {
            if deliver {
                self.delivering.fetch_sub(1, Ordering::SeqCst);
            }
            return; // the reactor has exited; its shutdown already completed everything
        }
        self.wake();
    }

    /// How many completions the reactor has run so far.
    pub(crate) fn completions_run(&self) -> u64 {
        self.ran.load(Ordering::SeqCst)
    }

    /// Whether completions sent to the reactor (`Msg::Deliver`) wait to be run.
    pub(crate) fn delivering(&self) -> bool {
        self.delivering.load(Ordering::SeqCst) != 0
    }

    /// Asks the reactor to write `conn`'s output, waking it if it sleeps.
    pub(crate) fn flush(&self, conn: Arc<Conn>) {
        self.flushes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
        self.wake();
    }

    fn wake(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.wakeups.fetch_add(1, Ordering::Relaxed);
            let _ = self.waker.wake();
        }
    }

    /// A submitter wrote a lone submission itself (`Engine::after_enqueue`).
    pub(crate) fn count_caller_write(&self) {
        self.caller_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds this loop's counters to `stats`.
    pub(crate) fn add_stats(&self, stats: &mut LoopStats) {
        stats.wakeups += self.wakeups.load(Ordering::Relaxed);
        stats.caller_writes += self.caller_writes.load(Ordering::Relaxed);
    }

    /// True when the reactor sleeps and will wake (and look at its timers again) by
    /// `deadline`: a request with that deadline, already written by its submitter on a
    /// connection the reactor polls, needs no wake-up. Call it after queueing the request
    /// under its connection's lock. The reactor clears `wake_by` before it looks at the
    /// connections' timers and publishes it after, so a value read here is either from a
    /// turn that will see the request, or no later than the turn's own wake-up.
    pub(crate) fn wakes_by(&self, deadline: Option<Instant>) -> bool {
        if !self.sleeping.load(Ordering::SeqCst) {
            return false; // awake: it flushes what is scheduled in this turn, batched
        }
        let by = self.wake_by.load(Ordering::SeqCst);
        if by == 0 {
            return false;
        }
        match deadline {
            None => true,
            Some(d) => self.nanos(d) >= by,
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        (t.saturating_duration_since(self.base).as_nanos() as u64).max(1)
    }

    fn has_flushes(&self) -> bool {
        !self
            .flushes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }
}

thread_local! {
    /// On a reactor thread, the address of its `Owner` (0 elsewhere): blocking
    /// calls from a callback would deadlock the loop, and a client freed from one of its own
    /// callbacks cannot join the thread it runs on.
    static ON_REACTOR: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// On a reactor thread, its own shared handle.
    static THIS_REACTOR: std::cell::RefCell<Option<Arc<Shared>>> =
        const { std::cell::RefCell::new(None) };
}

/// True on any reactor thread (inside a callback).
pub(crate) fn on_reactor_thread() -> bool {
    ON_REACTOR.with(|c| c.get()) != 0
}

/// True on a reactor thread of the owner at `owner`.
pub(crate) fn on_reactor_of(owner: *const ()) -> bool {
    ON_REACTOR.with(|c| c.get()) == owner as usize
}

/// On a reactor thread of the owner at `owner`, that reactor's shared handle: what the owner
/// hands to "a reactor" from there goes to this one, which runs as long as the code handing
/// it over does (another may have shut down already).
pub(crate) fn this_reactor(owner: *const ()) -> Option<Arc<Shared>> {
    if !on_reactor_of(owner) {
        return None;
    }
    THIS_REACTOR.with(|r| r.borrow().clone())
}

/// Creates the reactor's poll and shared handle; the loop itself starts with `run`.
pub(crate) fn create() -> io::Result<(Arc<Shared>, Reactor)> {
    let poll = Poll::new()?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let shared = Arc::new(Shared {
        tx,
        waker,
        sleeping: AtomicBool::new(false),
        wake_by: AtomicU64::new(0),
        base: Instant::now(),
        wakeups: AtomicU64::new(0),
        caller_writes: AtomicU64::new(0),
        ran: AtomicU64::new(0),
        delivering: AtomicUsize::new(0),
        flushes: std::sync::Mutex::new(Vec::new()),
        registry: poll.registry().try_clone()?,
    });
    let reactor = Reactor {
        poll,
        rx,
        shared: shared.clone(),
        conns: Vec::new(),
        free: Vec::new(),
        completions: Vec::new(),
        pushes: Vec::new(),
        detours: Vec::new(),
        readbuf: vec![0; READ_BUF],
        sendbuf: Vec::new(),
        again: Vec::new(),
        delivered: 0,
        barriers: Vec::new(),
        closed: false,
    };
    Ok((shared, reactor))
}

/// One reactor thread's state.
pub(crate) struct Reactor {
    poll: Poll,
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
    /// Token `i + 1` is `conns[i]`.
    conns: Vec<Option<Arc<Conn>>>,
    free: Vec<usize>,
    completions: Vec<(Completion, Result<Reply>)>,
    pushes: Vec<Reply>,
    detours: Vec<Detour>,
    readbuf: Vec<u8>,
    /// What `conn::flush_unlocked` sends.
    sendbuf: Vec<u8>,
    /// The connections `write_scheduled` leaves scheduled (kept for its capacity).
    again: Vec<Arc<Conn>>,
    /// `Deliver` messages received whose completions have not all run (see
    /// `Shared::delivering`).
    delivered: usize,
    /// `Msg::Barrier`s to answer once no completion is left to run.
    barriers: Vec<crossbeam_channel::Sender<()>>,
    /// `Msg::Close` came: every connection is closed, and so is each handed over since.
    closed: bool,
}

impl Reactor {
    /// The loop. Returns when told to shut down.
    pub(crate) fn run<O: Owner>(mut self, engine: Arc<O>) {
        ON_REACTOR.with(|c| c.set(Arc::as_ptr(&engine) as *const () as usize));
        THIS_REACTOR.with(|r| *r.borrow_mut() = Some(self.shared.clone()));
        let mut events = Events::with_capacity(256);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ (&self as *const Reactor as u64);
        let mut rng = FastRng::new(seed);
        let mut shutdown = false;
        let mut flushes: Vec<Arc<Conn>> = Vec::new();
        while !shutdown {
            // Sleep unless there is work; the flag tells submitters to wake us. `wake_by` is
            // cleared before the connections' timers are read and published after (see
            // `Shared::wakes_by`).
            self.shared.wake_by.store(0, Ordering::SeqCst);
            let timeout = self.next_timeout(&*engine);
            self.shared.sleeping.store(true, Ordering::SeqCst);
            let by = match timeout {
                None => u64::MAX,
                // mio rounds the timeout up to a millisecond.
                Some(t) => self
                    .shared
                    .nanos(Instant::now() + t + Duration::from_millis(1)),
            };
            self.shared.wake_by.store(by, Ordering::SeqCst);
            let idle = self.rx.is_empty()
                && !self.shared.has_flushes()
                && self.completions.is_empty()
                && self.pushes.is_empty()
                && self.detours.is_empty();
            let timeout = if idle { timeout } else { Some(Duration::ZERO) };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    // A broken poll cannot be recovered: fail everything and stop.
                    self.shutdown(
                        &engine,
                        Error::new(ErrorKind::Internal, format!("poll failed: {e}")),
                    );
                    return;
                }
            }
            self.shared.sleeping.store(false, Ordering::SeqCst);
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let index = event.token().0 - 1;
                let Some(conn) = self.conns.get(index).and_then(|c| c.clone()) else {
                    continue;
                };
                let readable = if event.is_read_closed() || event.is_error() {
                    conn::Readable::Hangup
                } else if event.is_readable() {
                    conn::Readable::Yes
                } else {
                    conn::Readable::No
                };
                let writable = event.is_writable() || event.is_write_closed();
                let after = {
                    let mut st = conn.lock();
                    let mut ctx = Ctx {
                        registry: self.poll.registry(),
                        config: engine.config(),
                        now,
                        rng: &mut rng,
                        completions: &mut self.completions,
                        pushes: &mut self.pushes,
                        detours: &mut self.detours,
                        tls: engine.tls(),
                        auth: engine.auth(),
                    };
                    let after = st.on_event(readable, writable, &mut self.readbuf, &mut ctx);
                    let up = conn::set_ready_hint(&conn, &st);
                    (after, up)
                };
                let (after, up) = after;
                if up {
                    engine.node_up(&conn, now);
                }
                self.after(&engine, &conn, after);
            }
            while let Ok(msg) = self.rx.try_recv() {
                let msg = match msg {
                    // After `Msg::Close`, a connection a submitter made meanwhile (or news of
                    // one) closes at once, failing what it carries.
                    Msg::Adopt(conn) | Msg::Resolved(conn, _) | Msg::Credentials(conn, _)
                        if self.closed =>
                    {
                        conn.lock().close(
                            &completion::closed_error(),
                            self.poll.registry(),
                            &mut self.completions,
                        );
                        continue;
                    }
                    msg => msg,
                };
                match msg {
                    Msg::Adopt(conn) => {
                        let token = self.insert(conn.clone());
                        let after = {
                            let mut st = conn.lock();
                            let mut ctx = self.ctx(&*engine, now, &mut rng);
                            let after = st.start_connect(token, &mut ctx);
                            conn::set_ready_hint(&conn, &st);
                            after
                        };
                        self.after(&engine, &conn, after);
                    }
                    Msg::Resolved(conn, result) => {
                        let mut st = conn.lock();
                        let mut ctx = self.ctx(&*engine, now, &mut rng);
                        st.resolved(result, &mut ctx);
                    }
                    Msg::Credentials(conn, answer) => {
                        let up = {
                            let mut st = conn.lock();
                            let mut ctx = self.ctx(&*engine, now, &mut rng);
                            st.credentials_arrived(answer, &mut ctx);
                            conn::set_ready_hint(&conn, &st)
                        };
                        if up {
                            engine.node_up(&conn, now);
                        }
                    }
                    Msg::Timers => {}
                    Msg::Retire(conn) => {
                        let done = {
                            let mut st = conn.lock();
                            st.retiring = true;
                            // Without a socket (down, or between attempts) nothing pending can
                            // be answered: close now (pending requests fail with CLOSED).
                            st.may_retire()
                        };
                        if done {
                            self.retire(&conn);
                        }
                    }
                    Msg::Abandon(conn, err) => {
                        {
                            let mut st = conn.lock();
                            let mut ctx = self.ctx(&*engine, now, &mut rng);
                            st.abandon(err, &mut ctx);
                            conn::set_ready_hint(&conn, &st);
                        }
                        self.retire(&conn);
                    }
                    Msg::Deliver(completions, pushes) => {
                        self.completions.extend(completions);
                        self.pushes.extend(pushes);
                        self.delivered += 1;
                    }
                    Msg::Barrier(answer) => self.barriers.push(answer),
                    Msg::Fail(conn, err, epoch) => {
                        let mut st = conn.lock();
                        if st.transport.is_some() && st.epoch == epoch {
                            let mut ctx = self.ctx(&*engine, now, &mut rng);
                            st.fail(err, &mut ctx);
                        }
                        conn::set_ready_hint(&conn, &st);
                    }
                    Msg::Shutdown => shutdown = true,
                    Msg::Close => {
                        self.close_all(&engine, &completion::closed_error());
                        self.closed = true;
                    }
                }
            }
            self.write_scheduled(&*engine, &mut flushes, now, &mut rng, false);
            self.timers(&engine, now, &mut rng);
            self.run_turn_completions(&engine, &mut flushes, &mut rng);
            // What the callbacks just submitted goes out now, not after one more (zero-timeout)
            // poll: a chain of callbacks costs a write per link and no extra syscalls. Only
            // when no message waits: a callback may have asked for a connection to be failed
            // or abandoned (a sentinel's old master), and that must come before any write to
            // it; then the next turn polls without sleeping and handles the messages first.
            if self.rx.is_empty() {
                self.write_scheduled(&*engine, &mut flushes, Instant::now(), &mut rng, false);
            }
            if self.completions.is_empty() && self.pushes.is_empty() && self.detours.is_empty() {
                self.settle();
            }
        }
        self.shutdown(&engine, completion::closed_error());
    }

    /// Writes the output of the connections that submitters scheduled (`Shared::flush`).
    /// `starving`: only of those with at least one request waiting to be written and no more
    /// in flight (an upper bound of what the server has left to answer) than wait; the
    /// others, and those another thread has doomed (their Fail or Abandon is on its way),
    /// stay scheduled.
    fn write_scheduled<O: Owner>(
        &mut self,
        engine: &O,
        flushes: &mut Vec<Arc<Conn>>,
        now: Instant,
        rng: &mut FastRng,
        starving: bool,
    ) {
        std::mem::swap(
            &mut *self
                .shared
                .flushes
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
            flushes,
        );
        if flushes.is_empty() {
            return;
        }
        let mut scratch = std::mem::take(&mut self.sendbuf);
        let mut again = std::mem::take(&mut self.again);
        for conn in flushes.drain(..) {
            let mut st = conn.lock();
            let in_flight = st.ex.in_flight();
            if starving && (st.doomed || st.ex.pending() - in_flight < in_flight.max(1)) {
                // Still scheduled: a later write of this turn or of the next takes it.
                drop(st);
                again.push(conn);
                continue;
            }
            st.take_handoff(&mut self.completions, &mut self.pushes, &mut self.detours);
            st.scheduled = false;
            if st.writable {
                let mut ctx = self.ctx(engine, now, rng);
                let more;
                (st, more) = conn::flush_unlocked(&conn, st, &mut ctx, &mut scratch);
                // Left for the next turn (a submitter may have scheduled it already).
                if more && !st.scheduled {
                    st.scheduled = true;
                    again.push(conn.clone());
                }
            }
            st.ensure_armed(self.poll.registry());
        }
        self.sendbuf = scratch;
        if !again.is_empty() {
            // The next poll does not sleep while flushes wait (`has_flushes`).
            self.shared
                .flushes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .append(&mut again);
        }
        self.again = again;
    }

    fn ctx<'a, O: Owner>(
        &'a mut self,
        engine: &'a O,
        now: Instant,
        rng: &'a mut FastRng,
    ) -> Ctx<'a> {
        Ctx {
            registry: self.poll.registry(),
            config: engine.config(),
            now,
            rng,
            completions: &mut self.completions,
            pushes: &mut self.pushes,
            detours: &mut self.detours,
            tls: engine.tls(),
            auth: engine.auth(),
        }
    }

    fn insert(&mut self, conn: Arc<Conn>) -> Token {
        let index = match self.free.pop() {
            Some(i) => {
                self.conns[i] = Some(conn);
                i
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        Token(index + 1)
    }

    fn after<O: Owner>(&mut self, engine: &Arc<O>, conn: &Arc<Conn>, after: After) {
        if let Some((host, port)) = after.resolve {
            let shared = self.shared.clone();
            let target = conn.clone();
            let lookup = (host.clone(), port);
            let spawned = std::thread::Builder::new()
                .name("redcore-resolve".into())
                .spawn(move || {
                    let result = crate::net::resolve(&lookup.0, lookup.1);
                    shared.notify(Msg::Resolved(target, result));
                });
            match spawned {
                Ok(handle) => engine.keep_thread(handle),
                Err(_) => {
                    // No thread for the lookup: do it here rather than never.
                    let result = crate::net::resolve(&host, port);
                    self.shared.notify(Msg::Resolved(conn.clone(), result));
                }
            }
        }
        if after.fetch_credentials {
            self.fetch_credentials(&**engine, conn);
        }
        if after.release {
            self.run_completions(engine);
            engine.release_single(conn);
        }
        if after.retire {
            self.retire(conn);
        }
    }

    /// Asks the credential provider for `conn` on a helper thread: a slow provider must not
    /// hold up the other connections of this reactor.
    fn fetch_credentials<O: Owner>(&mut self, engine: &O, conn: &Arc<Conn>) {
        let Some(provider) = engine.auth().provider().cloned() else {
            return;
        };
        let shared = self.shared.clone();
        let target = conn.clone();
        let spawned = std::thread::Builder::new()
            .name("redcore-credentials".into())
            .spawn(move || {
                let answer = provider.fetch();
                shared.notify(Msg::Credentials(target, answer));
            });
        match spawned {
            Ok(handle) => engine.keep_thread(handle),
            Err(e) => {
                let err = Error::new(
                    ErrorKind::Authentication,
                    format!("cannot start a thread to ask the credential provider: {e}"),
                );
                self.shared.notify(Msg::Credentials(conn.clone(), Err(err)));
            }
        }
    }

    /// Closes a retiring connection and forgets it. What it leaves unanswered (it has no
    /// socket, or nothing is pending) may be sent elsewhere, as after a drop; the rest fails.
    fn retire(&mut self, conn: &Arc<Conn>) {
        let token = {
            let mut st = conn.lock();
            let gone = Error::new(
                ErrorKind::Connection,
                format!(
                    "the connection to {} was closed for good before it answered",
                    crate::net::endpoint_name(&st.endpoint)
                ),
            );
            st.hand_over_unanswered(&gone, 0, &mut self.completions, &mut self.detours);
            st.close(&gone, self.poll.registry(), &mut self.completions);
            st.token.take()
        };
        if let Some(Token(t)) = token {
            if let Some(slot) = self.conns.get_mut(t - 1) {
                if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn)) {
                    *slot = None;
                    self.free.push(t - 1);
                }
            }
        }
    }

    fn next_timeout<O: Owner>(&self, engine: &O) -> Option<Duration> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut lone_since: Option<Instant> = None;
        for conn in self.conns.iter().flatten() {
            let st = conn.lock();
            if let Some(t) = st.next_timer() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
            if let Some(t) = st.lone_since() {
                lone_since = Some(lone_since.map_or(t, |u| u.max(t)));
            }
        }
        if let Some(t) = engine.next_deadline() {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
        // For one command timeout after a lone submission, the sleep lasts half of it at
        // most: a lone command submitted during the sleep, and written by its submitter,
        // times out no earlier than that, so it needs no wake-up for its deadline to be seen
        // (`Shared::wakes_by`). Lone traffic keeps it going; when it stops, two wake-ups at
        // most follow.
        if let (Some(since), Some(limit)) = (lone_since, engine.config().command_timeout) {
            let until = since + limit;
            if limit >= MIN_CAPPED_COMMAND_TIMEOUT && until > now {
                let cap = until.min(now + limit / 2);
                next = Some(next.map_or(cap, |n| n.min(cap)));
            }
        }
        // Timers fire within a millisecond of their deadline.
        next.map(|t| t.saturating_duration_since(now) + Duration::from_millis(1))
    }

    fn timers<O: Owner>(&mut self, engine: &Arc<O>, now: Instant, rng: &mut FastRng) {
        for index in 0..self.conns.len() {
            let Some(conn) = self.conns[index].clone() else {
                continue;
            };
            let (reconnect, release, retire) = {
                let mut st = conn.lock();
                let mut ctx = self.ctx(&**engine, now, rng);
                let reconnect = st.on_timer(&mut ctx) && !st.retiring;
                let release = st.lease == Lease::Single && st.ex.pending() == 0;
                let retire = st.may_retire();
                conn::set_ready_hint(&conn, &st);
                (reconnect, release, retire)
            };
            if retire {
                self.retire(&conn);
                continue;
            }
            if reconnect {
                let after = {
                    let mut st = conn.lock();
                    let mut ctx = self.ctx(&**engine, now, rng);
                    let after = st.start_connect(Token(index + 1), &mut ctx);
                    conn::set_ready_hint(&conn, &st);
                    after
                };
                self.after(engine, &conn, after);
            }
            if release {
                self.run_completions(engine);
                engine.release_single(&conn);
            }
        }
        engine.on_timers(now, &mut self.completions);
    }

    fn run_completions<O: Owner>(&mut self, engine: &Arc<O>) {
        self.hand_over_detours_and_pushes(engine);
        let n = self.completions.len();
        for (completion, result) in self.completions.drain(..) {
            completion.run(result);
        }
        self.count_run(n);
    }

    fn count_run(&self, n: usize) {
        if n != 0 {
            self.shared.ran.fetch_add(n as u64, Ordering::SeqCst);
        }
    }

    /// At the end of a turn that left no completion to run: what was delivered has run, and
    /// the barriers are answered.
    fn settle(&mut self) {
        if self.delivered != 0 {
            self.shared
                .delivering
                .fetch_sub(std::mem::take(&mut self.delivered), Ordering::SeqCst);
        }
        for answer in self.barriers.drain(..) {
            let _ = answer.send(());
        }
    }

    /// `run_completions` for the end of a turn, which keeps the servers busy while it runs:
    /// every `STARVING_CHECK` completions, the output their callbacks submitted is written to
    /// each connection whose server would otherwise run dry (as many requests waiting to be
    /// written as it has in flight). Without it, a loop whose callbacks submit the next
    /// commands (chains of callbacks, hiredis-style) leaves the server idle while it runs a
    /// read's completions, and then itself idles while the server answers the one write; with
    /// it the two overlap, in writes that double in size while the server is behind. Only
    /// when no message waits (see the turn's last write). So a command a callback submits may
    /// be on the wire before a later callback of the same turn moves its pool elsewhere (a
    /// sentinel's switch): it then fails or is retried as a written command, as commands
    /// from other threads always could.
    fn run_turn_completions<O: Owner>(
        &mut self,
        engine: &Arc<O>,
        flushes: &mut Vec<Arc<Conn>>,
        rng: &mut FastRng,
    ) {
        if self.completions.len() <= STARVING_CHECK {
            return self.run_completions(engine);
        }
        self.hand_over_detours_and_pushes(engine);
        let mut batch = std::mem::take(&mut self.completions);
        let len = batch.len();
        for (ran, (completion, result)) in batch.drain(..).enumerate() {
            completion.run(result);
            let ran = ran + 1;
            if ran % STARVING_CHECK == 0 && ran < len && self.rx.is_empty() {
                self.write_scheduled(&**engine, flushes, Instant::now(), rng, true);
            }
        }
        self.count_run(len);
        // What those writes handed over (a failed socket's requests, expired ones, a direct
        // reader's hand-off, pushes and detours) is for the next turn, after this batch.
        batch.append(&mut self.completions);
        self.completions = batch;
    }

    /// Before a turn's completions: redirections and retries to the owner (which may fail
    /// some into `completions`), pushes to their handlers.
    fn hand_over_detours_and_pushes<O: Owner>(&mut self, engine: &Arc<O>) {
        if !self.detours.is_empty() {
            engine.on_detours(&mut self.detours, &mut self.completions);
        }
        for reply in self.pushes.drain(..) {
            engine.on_push(reply);
        }
    }

    /// Closes every connection and completes with `err` everything they and the owner hold.
    fn close_all<O: Owner>(&mut self, engine: &Arc<O>, err: &Error) {
        for conn in self.conns.iter().flatten() {
            conn.lock()
                .close(err, self.poll.registry(), &mut self.completions);
        }
        self.conns.clear();
        self.free.clear();
        engine.fail_waiting(err, &mut self.completions);
        for detour in self.detours.drain(..) {
            self.completions.push((detour.completion, Err(err.clone())));
        }
        self.run_completions(engine);
    }

    fn shutdown<O: Owner>(&mut self, engine: &Arc<O>, err: Error) {
        self.close_all(engine, &err);
        // Messages that raced with the shutdown: adopt nothing, fail what they carry.
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Deliver(completions, pushes) = msg {
                self.completions.extend(completions);
                self.pushes.extend(pushes);
                self.delivered += 1;
                continue;
            }
            if let Msg::Adopt(conn)
            | Msg::Resolved(conn, _)
            | Msg::Credentials(conn, _)
            | Msg::Fail(conn, _, _)
            | Msg::Abandon(conn, _)
            | Msg::Retire(conn) = msg
            {
                conn.lock()
                    .close(&err, self.poll.registry(), &mut self.completions);
            }
        }
        engine.fail_waiting(&err, &mut self.completions);
        self.run_completions(engine);
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection of a node that left the cluster, without a socket when it is retired
    /// (down, or between attempts): what it carries goes elsewhere, instead of failing with
    /// an error that says the client was closed.
    #[test]
    fn a_connection_retired_without_a_socket_hands_its_requests_over() {
        let config = Config::default();
        let conn = Arc::new(conn::tests::node_conn(&config, false));
        conn.lock().retiring = true;
        let (_shared, mut reactor) = create().unwrap();
        reactor.retire(&conn);
        assert_eq!(reactor.detours.len(), 1, "the GET is handed to the owner");
        assert!(reactor.completions.is_empty());
    }
}
