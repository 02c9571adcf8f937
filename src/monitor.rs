//! MONITOR: a connection of its own that streams every command the server runs, each line
//! parsed (`session::monitor`) into an entry (time, database, client, arguments) and handed to
//! a handler on a thread of the monitor's own, until the monitor is stopped.
//!
//! The entries wait in a bounded queue between the reactor, which never waits for the
//! handler, and the handler's thread; entries that find it full are dropped and counted
//! (MONITOR on a busy server can outrun any handler). The end is kept beside the queue, not
//! in it, so that a full queue cannot lose it: when the connection closes for good the queue
//! is disconnected, and the handler's thread delivers the end once it has taken the rest. A
//! lost connection comes back by itself and sends MONITOR again; the handler is told that
//! commands run meanwhile were missed. No health-check PING is sent on the connection (its
//! answer could not be told from a MONITOR line): a dead peer is found by TCP keepalive.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::client::{Client, Engine};
use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Completion, Conn, Stream};
use crate::resp::{encode_command, Kind, Reply};
use crate::session::monitor::parse_monitor_line;
pub use crate::session::monitor::MonitorEntry;
use crate::session::{Exchange, RequestMeta, StreamMode};

/// What a monitor's handler receives, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum MonitorEvent {
    /// A command the server ran.
    Command(MonitorEntry),
    /// The connection was lost (the error says how) and MONITOR runs again on a new one:
    /// commands run in between were not seen.
    Restarted(Error),
    /// This many entries were dropped because the handler fell behind (the queue was full).
    Dropped(u64),
    /// The monitor stopped by itself: its client was closed. Comes after every event queued
    /// before (it is never dropped), and last.
    Closed(Error),
}

/// A monitor's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorOptions {
    /// Most entries waiting for the handler; more are dropped and counted. Default 10,000.
    pub max_pending: usize,
}

impl Default for MonitorOptions {
    fn default() -> MonitorOptions {
        MonitorOptions {
            max_pending: 10_000,
        }
    }
}

/// A running MONITOR. Dropping it (or `stop`) closes its connection and waits for the
/// handler's thread, so the handler is not called after that (unless it is dropped from the
/// handler itself: then the thread ends when the handler returns), and drops the handler:
/// it is kept until then, also when the monitor ended by itself (its client was closed).
pub struct Monitor {
    engine: Arc<Engine>,
    conn: Arc<Conn>,
    feed: Arc<Feed>,
    stop: Option<Sender<()>>,
    /// The handler's thread, which gives the handler back when it ends: the handler (what it
    /// holds, a C caller's userdata) is dropped when the monitor is, also when the thread
    /// ended before (after `MonitorEvent::Closed`).
    thread: Option<JoinHandle<Handler>>,
}

type Handler = Box<dyn FnMut(MonitorEvent) + Send>;

/// The reactor's side: parses lines into the queue.
struct Feed {
    /// Taken when the connection closes for good, which disconnects the queue.
    queue: Mutex<Option<Sender<MonitorEvent>>>,
    dropped: AtomicU64,
    /// Why the monitor stopped by itself: its `Closed` event, delivered after the queue.
    closed: Mutex<Option<Error>>,
    /// Why the connection was last lost.
    lost: Mutex<Option<Error>>,
    /// Told once when MONITOR is first answered (or fails).
    started: Mutex<Option<Sender<Result<()>>>>,
    /// Stopped by its owner: its close is no event.
    stopping: AtomicBool,
    me: Weak<Feed>,
}

impl Monitor {
    /// Opens a connection, sends MONITOR, and waits until the server answered it (so that
    /// every command run after this returns is seen); then hands each event to `handler` on
    /// the monitor's thread. On a cluster client, monitors one primary of the cluster.
    pub fn start(
        client: &Client,
        options: MonitorOptions,
        handler: impl FnMut(MonitorEvent) + Send + 'static,
    ) -> Result<Monitor> {
        let engine = client.engine().clone();
        engine.check_caller()?;
        let (queue, entries) = crossbeam_channel::bounded(options.max_pending.max(1));
        let (started_tx, started) = crossbeam_channel::bounded(1);
        let feed = Arc::new_cyclic(|me| Feed {
            queue: Mutex::new(Some(queue)),
            dropped: AtomicU64::new(0),
            closed: Mutex::new(None),
            lost: Mutex::new(None),
            started: Mutex::new(Some(started_tx)),
            stopping: AtomicBool::new(false),
            me: me.clone(),
        });
        let target = engine.stream_target(None)?;
        let conn = engine.open_stream(&target, feed.clone(), None)?;
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let mut monitor = Monitor {
            engine,
            conn,
            feed,
            stop: Some(stop),
            thread: None,
        };
        let config = &monitor.engine.config;
        let limit = config.connect_timeout.unwrap_or(Duration::from_secs(30))
            + config.command_timeout.unwrap_or(Duration::from_secs(30));
        match started.recv_deadline(Instant::now() + limit) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "MONITOR was not answered in time",
                ))
            }
        }
        let feed = monitor.feed.clone();
        let handler: Handler = Box::new(handler);
        let thread = std::thread::Builder::new()
            .name("redcore-monitor".into())
            .spawn(move || deliver(&entries, &stopped, &feed, handler))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start the monitor's thread: {e}"),
                )
            })?;
        monitor.thread = Some(thread);
        Ok(monitor)
    }

    /// Entries dropped so far because the handler fell behind.
    pub fn dropped(&self) -> u64 {
        self.feed.dropped.load(Ordering::Relaxed)
    }

    /// Stops: the connection closes and the handler's thread is joined.
    pub fn stop(self) {}
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.feed.stopping.store(true, Ordering::SeqCst);
        self.engine.close_stream(&self.conn);
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                drop(thread.join());
            }
        }
    }
}

/// The monitor's thread: events to the handler, in order, until stopped or closed. Gives
/// the handler back.
fn deliver(
    entries: &Receiver<MonitorEvent>,
    stopped: &Receiver<()>,
    feed: &Feed,
    mut handler: Handler,
) -> Handler {
    let mut reported = 0;
    loop {
        let event = crossbeam_channel::select! {
            // Disconnected: closed for good, and everything queued was taken.
            recv(entries) -> event => event.ok(),
            recv(stopped) -> _ => return handler,
        };
        let dropped = feed.dropped.load(Ordering::Relaxed);
        if dropped > reported {
            let n = dropped - reported;
            reported = dropped;
            call(&mut handler, MonitorEvent::Dropped(n));
        }
        match event {
            Some(event) => call(&mut handler, event),
            None => {
                let closed = feed.closed.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(err) = closed {
                    call(&mut handler, MonitorEvent::Closed(err));
                }
                return handler;
            }
        }
    }
}

fn call(handler: &mut impl FnMut(MonitorEvent), event: MonitorEvent) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(event)));
}

impl Feed {
    fn push(&self, event: MonitorEvent) {
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Err(TrySendError::Full(_))) = queue.as_ref().map(|q| q.try_send(event)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// MONITOR was answered (or refused) on a new connection.
    fn answered(&self, result: Result<Reply>, again: bool, cause: Option<Error>) {
        let first = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match (first, result) {
            (Some(started), result) => {
                let _ = started.send(result.map(|_| ()));
            }
            (None, Ok(_)) if again => {
                let cause = cause.unwrap_or_else(|| {
                    Error::new(ErrorKind::Connection, "the connection was lost")
                });
                self.push(MonitorEvent::Restarted(cause));
            }
            (None, Ok(_)) => {}
            (None, Err(err)) => self.push(MonitorEvent::Restarted(err)),
        }
    }
}

impl Stream for Feed {
    fn on_frame(&self, frame: Reply) {
        let Some(line) = (frame.kind() == Kind::Simple)
            .then(|| frame.value().as_bytes())
            .flatten()
        else {
            return;
        };
        // A line that does not parse is skipped: the stream goes on.
        if let Ok(entry) = parse_monitor_line(line) {
            self.push(MonitorEvent::Command(entry));
        }
    }

    fn on_ready(&self, ex: &mut Exchange<Completion>, _protocol: u8, again: bool) {
        ex.set_mode(StreamMode::Monitor);
        let cause = self.lost.lock().unwrap_or_else(|e| e.into_inner()).take();
        let feed = self.me.clone();
        let done = move |result: Result<Reply>| {
            if let Some(feed) = feed.upgrade() {
                feed.answered(result, again, cause);
            }
        };
        ex.enqueue(
            |buf| encode_command(buf, &["MONITOR"]),
            Completion::Boxed(Box::new(done)),
            RequestMeta::default(),
        );
    }

    fn on_lost(&self, err: &Error, _dropped: bool) {
        self.lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| err.clone());
    }

    fn on_closed(&self, err: &Error) {
        if let Some(started) = self
            .started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = started.send(Err(err.clone()));
        }
        if !self.stopping.load(Ordering::SeqCst) {
            *self.closed.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.clone());
        }
        // The handler's thread takes what is queued, then finds the queue disconnected.
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
