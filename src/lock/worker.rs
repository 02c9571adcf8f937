//! A lock's own thread: it runs the lock's asynchronous operations one after another (each is
//! the blocking operation, then its callback) and extends a held lock on time when
//! auto-extension is on. Started by the first asynchronous operation or auto-extending
//! acquire, stopped and joined when the lock is dropped; operations still queued then complete
//! with CLOSED. One thread per lock keeps a lock's waits (a blocking acquire retrying for
//! seconds) from delaying any other lock's work, and keeps the operations of one lock in the
//! order they were asked for.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::{SharedClient, State};
use crate::error::{Error, ErrorKind, Result};

/// An asynchronous operation: called once, with `true` to run it or `false` to cancel it
/// (the lock is being dropped), and it then calls its callback either way.
pub(super) type Job<C> = Box<dyn FnOnce(&State<C>, bool) + Send>;

pub(super) enum Msg<C> {
    Job(Job<C>),
    /// The extension schedule changed.
    Wake,
}

/// The handle the lock keeps on its thread.
pub(super) struct Worker<C> {
    tx: Sender<Msg<C>>,
    handle: JoinHandle<()>,
}

impl<C: SharedClient> Worker<C> {
    pub(super) fn start(state: Arc<State<C>>) -> Result<Worker<C>> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let handle = std::thread::Builder::new()
            .name("redcore-lock".into())
            .spawn(move || run(&state, &rx))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start the lock's thread: {e}"),
                )
            })?;
        Ok(Worker { tx, handle })
    }

    pub(super) fn send(&self, msg: Msg<C>) {
        // The thread ends only when this sender is dropped, so the send cannot fail.
        let _ = self.tx.send(msg);
    }

    /// Lets the thread finish the queue (cancelling what is left) and waits for it, unless
    /// this is that thread (a callback dropping its own lock): then it ends by itself after
    /// the callback returns.
    pub(super) fn stop(self) {
        let Worker { tx, handle } = self;
        drop(tx);
        if handle.thread().id() != std::thread::current().id() {
            let _ = handle.join();
        }
    }
}

fn run<C: SharedClient>(state: &State<C>, rx: &Receiver<Msg<C>>) {
    loop {
        // An extension that is due goes first, even while operations keep arriving.
        let next = state.next_extension();
        if next.is_some_and(|at| at <= Instant::now()) {
            state.extend_if_due();
            continue;
        }
        let msg = match next {
            Some(at) => rx.recv_deadline(at),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(Msg::Job(job)) => {
                let go = !state.stop.is_set();
                let _ = catch_unwind(AssertUnwindSafe(|| job(state, go)));
            }
            Ok(Msg::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Set when the lock is dropped: interrupts retry sleeps and ends extensions.
#[derive(Default)]
pub(super) struct Stop {
    set: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub(super) fn set(&self) {
        *self.set.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    pub(super) fn is_set(&self) -> bool {
        *self.set.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `time`; false (at once) if the stop is set meanwhile.
    pub(super) fn pause(&self, time: Duration) -> bool {
        let deadline = Instant::now() + time;
        let mut set = self.set.lock().unwrap_or_else(|e| e.into_inner());
        while !*set {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            set = self
                .wake
                .wait_timeout(set, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        false
    }
}
