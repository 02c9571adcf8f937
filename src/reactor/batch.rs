//! A batch in flight: one slot per request of a pipeline (MULTI and EXEC included), filled by
//! each request's completion in any order, and delivered whole, once, by whichever completion
//! fills the last slot: to a blocked caller, a C callback, a Rust closure, or (for requests a
//! cluster client fans out or splits) a closure that merges the raw replies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::completion::{Completion, Outcome, Waiter};
use super::tracking::OwnWrites;
use crate::error::{Error, Result};
use crate::resp::Reply;
use crate::session::replicated::WaitCheck;
use crate::session::PipelineResult;

/// Where a finished pipeline goes.
pub(crate) enum PipelineDone {
    Wait(Arc<Waiter>, u64),
    Raw(fn([usize; 2], PipelineResult), [usize; 2]),
    Boxed(Box<dyn FnOnce(PipelineResult) + Send>),
    /// The replies themselves, in slot order (a cluster fan-out or split merges them).
    #[allow(dead_code)] // the cluster client, next
    Parts(Box<dyn FnOnce(Vec<Result<Reply>>) + Send>),
}

/// A pipeline in flight: one slot per request written (MULTI and EXEC included).
pub(crate) struct PipelineRun {
    /// One result per request. Each slot is written exactly once, by the completion of its
    /// request (every completion runs exactly once), and read only by whoever brings
    /// `remaining` to zero: the release/acquire of that countdown orders the writes before the
    /// read, so no lock is needed per slot.
    slots: Box<[std::cell::UnsafeCell<Option<Result<Reply>>>]>,
    remaining: AtomicUsize,
    transaction: bool,
    done: Mutex<Option<PipelineDone>>,
    /// A WAIT sent after the batch (replicated writes): its slot is the last, and its answer
    /// settles the writes' results before they are delivered.
    wait: Option<WaitCheck>,
    /// A cached client's pipeline with writes: dropped from the cache again once every
    /// reply has come, before the run is delivered.
    own_writes: Option<OwnWrites>,
}

// SAFETY: see `slots`: each cell has one writer, and the one reader synchronizes with every
// writer through `remaining`; replies are Send.
unsafe impl Sync for PipelineRun {}

impl PipelineRun {
    pub(crate) fn new(requests: usize, transaction: bool, done: PipelineDone) -> Arc<PipelineRun> {
        PipelineRun::with_wait(requests, transaction, done, None, None)
    }

    /// A run of `requests` requests followed by `wait`'s WAIT, when there is one; its
    /// `own_writes` are dropped from the cache when it ends.
    pub(crate) fn with_wait(
        requests: usize,
        transaction: bool,
        done: PipelineDone,
        wait: Option<WaitCheck>,
        own_writes: Option<OwnWrites>,
    ) -> Arc<PipelineRun> {
        let requests = requests + usize::from(wait.is_some());
        Arc::new(PipelineRun {
            slots: (0..requests)
                .map(|_| std::cell::UnsafeCell::new(None))
                .collect(),
            remaining: AtomicUsize::new(requests),
            transaction,
            done: Mutex::new(Some(done)),
            wait,
            own_writes,
        })
    }

    /// Requests written for the run (MULTI, EXEC and a WAIT included).
    pub(crate) fn requests(&self) -> usize {
        self.slots.len()
    }

    /// The WAIT frame to send after the batch, when its writes wait for replicas.
    pub(crate) fn wait_frame(&self) -> Option<&[u8]> {
        self.wait.as_ref().map(WaitCheck::frame)
    }

    /// True once every slot completed.
    pub(crate) fn is_finished(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// Records slot `index`; the last one finishes the run.
    pub(crate) fn complete(&self, index: usize, result: Result<Reply>) {
        // SAFETY: slot `index` belongs to one request, whose completion runs once: no other
        // access to this cell happens until `remaining` reaches zero below.
        unsafe { *self.slots[index].get() = Some(result) };
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.finish();
        }
    }

    /// Completions that fail every slot of a run that could not be submitted, for the reactor
    /// to run (never under a lock, never on a caller's thread).
    pub(crate) fn failed_slots(self: &Arc<Self>, err: &Error) -> Vec<(Completion, Result<Reply>)> {
        (0..self.slots.len())
            .map(|i| (Completion::Pipeline(self.clone(), i), Err(err.clone())))
            .collect()
    }

    fn finish(&self) {
        if let Some(own_writes) = &self.own_writes {
            own_writes.forget();
        }
        let mut slots: Vec<Result<Reply>> = self
            .slots
            .iter()
            // SAFETY: `remaining` reached zero: every writer is done and synchronized with us,
            // and nobody touches the cells again.
            .map(|cell| unsafe { (*cell.get()).take() }.expect("every slot completed"))
            .collect();
        if let Some(wait) = &self.wait {
            wait.settle(&mut slots);
        }
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        let result = match done {
            Some(PipelineDone::Parts(f)) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(slots)));
                return;
            }
            None => return,
            Some(_) => PipelineResult::assemble(slots, self.transaction),
        };
        match done {
            Some(PipelineDone::Wait(waiter, seq)) => {
                drop(waiter.complete(seq, Outcome::Pipeline(result)))
            }
            Some(PipelineDone::Raw(f, ctx)) => f(ctx, result),
            Some(PipelineDone::Boxed(f)) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(result)));
            }
            Some(PipelineDone::Parts(_)) | None => {}
        }
    }
}
