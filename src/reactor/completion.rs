//! How a finished command reaches whoever is waiting for it: a blocked caller (`Waiter`), a
//! plain function with two words of context (the C face's callbacks, no allocation), a boxed
//! Rust closure, or one slot of a pipeline.
//!
//! Every completion runs exactly once: the reactor owns it until it is consumed by `run`.

use std::sync::{Arc, Mutex};
use std::thread::Thread;
use std::time::Instant;

use super::batch::PipelineRun;
use crate::error::{Error, Result};
use crate::resp::Reply;

/// A completion function with two words of context; the C face stores a C function pointer
/// and its userdata there.
pub type RawCallback = fn(ctx: [usize; 2], result: Result<Reply>);

/// Where a command's result goes.
pub enum Completion {
    /// A caller blocked in `Waiter::wait` for call number `seq`.
    Wait(Arc<Waiter>, u64),
    /// A plain function and its context.
    Raw(RawCallback, [usize; 2]),
    /// A Rust closure.
    Boxed(Box<dyn FnOnce(Result<Reply>) + Send>),
    /// Slot `index` of a pipeline run.
    Pipeline(Arc<PipelineRun>, usize),
    /// The reactor's own health-check PING.
    HealthCheck,
    /// A request whose reply nobody needs (DISCARD / UNWATCH when a held connection is
    /// given back): any reply, error or not, is dropped.
    Ignore,
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Completion::Wait(..) => "Wait",
            Completion::Raw(..) => "Raw",
            Completion::Boxed(..) => "Boxed",
            Completion::Pipeline(..) => "Pipeline",
            Completion::HealthCheck => "HealthCheck",
            Completion::Ignore => "Ignore",
        })
    }
}

/// A top-level error reply becomes the `Err` it stands for, with its kind.
pub(crate) fn reply_to_result(reply: Reply) -> Result<Reply> {
    match reply.as_error() {
        Some(err) => Err(err),
        None => Ok(reply),
    }
}

impl Completion {
    /// Delivers `result`. Panics in Rust closures are caught so the reactor survives them.
    pub(crate) fn run(self, result: Result<Reply>) {
        match self {
            Completion::Wait(waiter, seq) => drop(waiter.complete(seq, Outcome::Reply(result))),
            Completion::Raw(f, ctx) => f(ctx, result),
            Completion::Boxed(f) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(result)));
            }
            Completion::Pipeline(run, index) => run.complete(index, result),
            Completion::HealthCheck | Completion::Ignore => {}
        }
    }
}

/// What a blocked caller receives.
pub(crate) enum Outcome {
    Reply(Result<Reply>),
    Pipeline(crate::session::PipelineResult),
    Conn(Result<Arc<super::Conn>>),
}

/// A parking place for one thread's blocking calls, reused from call to call (one per thread),
/// so a blocking call allocates nothing. Each call takes a new sequence number; a completion
/// for an older call (one that timed out) is dropped.
///
/// The caller parks its thread (`std::thread::park`) rather than waiting on a condition
/// variable: waking a thread that has not gone to sleep yet costs no system call, and only
/// the completing side takes the short lock.
pub(crate) struct Waiter {
    state: Mutex<WaitState>,
    thread: Thread,
}

struct WaitState {
    seq: u64,
    outcome: Option<Outcome>,
}

thread_local! {
    static THREAD_WAITER: Arc<Waiter> = Arc::new(Waiter {
        state: Mutex::new(WaitState { seq: 0, outcome: None }),
        thread: std::thread::current(),
    });
}

impl Waiter {
    /// This thread's waiter.
    pub(crate) fn for_this_thread() -> Arc<Waiter> {
        THREAD_WAITER.with(Arc::clone)
    }

    /// Starts a call: returns its sequence number.
    pub(crate) fn begin(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.seq += 1;
        state.outcome = None;
        state.seq
    }

    /// Delivers the outcome of call `seq`, if the caller still waits for it. Returns false
    /// (dropping nothing: the outcome is handed back) when the call was abandoned.
    pub(crate) fn complete(&self, seq: u64, outcome: Outcome) -> Option<Outcome> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.seq == seq && state.outcome.is_none() {
            state.outcome = Some(outcome);
            drop(state);
            self.thread.unpark();
            None
        } else {
            Some(outcome)
        }
    }

    /// Waits for call `seq` until `deadline`. `None` when the deadline passed first: the call
    /// is abandoned, and its outcome will be dropped when it comes. Only the waiter's own
    /// thread may wait.
    pub(crate) fn wait(&self, seq: u64, deadline: Option<Instant>) -> Option<Outcome> {
        debug_assert_eq!(std::thread::current().id(), self.thread.id());
        loop {
            {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                debug_assert_eq!(state.seq, seq);
                if let Some(outcome) = state.outcome.take() {
                    return Some(outcome);
                }
                if let Some(deadline) = deadline {
                    if Instant::now() >= deadline {
                        state.seq += 1;
                        return None;
                    }
                }
            }
            // An unpark that came before this returns at once; a spurious return loops.
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    std::thread::park_timeout(deadline.saturating_duration_since(Instant::now()))
                }
            }
        }
    }
}

/// Shorthand for the error of a client that is shutting down.
pub(crate) fn closed_error() -> Error {
    Error::new(
        crate::error::ErrorKind::Closed,
        "the client was closed before the command completed",
    )
}
