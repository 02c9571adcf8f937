//! Pipelines: many commands appended at once to one connection, answered in order, and
//! transactions (the same, wrapped in MULTI / EXEC, with redis-py's rules for what each
//! command's result is when the transaction fails).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorKind, Result};
use crate::reactor::{Outcome, Waiter};
use crate::resp::{encode_command, Kind, Reply, ValueRef};
use crate::route::command::{classify, CommandClass};

/// Commands to send together. Build it once, run it any number of times.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    pub(crate) buf: Vec<u8>,
    pub(crate) lens: Vec<u32>,
    pub(crate) transaction: bool,
    /// Longest server-side block among its commands (`Some(None)` = forever).
    pub(crate) blocking: Option<Option<std::time::Duration>>,
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// An empty transaction: its commands run between MULTI and EXEC, atomically.
    pub fn transaction() -> Pipeline {
        Pipeline {
            transaction: true,
            ..Pipeline::default()
        }
    }

    /// True for a transaction.
    pub fn is_transaction(&self) -> bool {
        self.transaction
    }

    /// Appends a command. Refuses commands that would change the shared connection's state
    /// (WATCH, MULTI, SUBSCRIBE, SELECT, ...); blocking commands are allowed outside
    /// transactions (the pipeline then runs on a dedicated connection).
    pub fn add<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<&mut Pipeline> {
        super::check_frame_size(args)?;
        let views: smallvec_views::Views<'_> = smallvec_views::Views::new(args);
        match classify(views.as_slice())? {
            CommandClass::Normal => {}
            CommandClass::Blocking { block } => {
                if self.transaction {
                    // Inside MULTI a blocking command does not block; it is fine.
                } else {
                    let longest = match (self.blocking, block) {
                        (Some(None), _) | (_, None) => None,
                        (Some(Some(a)), Some(b)) => Some(a.max(b)),
                        (None, Some(b)) => Some(b),
                    };
                    self.blocking = Some(longest);
                }
            }
            CommandClass::Stateful(kind) => {
                return Err(Error::invalid_argument(format!(
                    "{kind:?} commands cannot be pipelined on a shared connection; \
                     use a dedicated connection"
                )));
            }
        }
        let start = self.buf.len();
        encode_command(&mut self.buf, args);
        self.lens.push((self.buf.len() - start) as u32);
        Ok(self)
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// True when no command was added.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Removes every command (the pipeline keeps its buffers).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.lens.clear();
        self.blocking = None;
    }

    /// The encoded frames, one per command.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &[u8]> {
        let mut pos = 0;
        self.lens.iter().map(move |&len| {
            let frame = &self.buf[pos..pos + len as usize];
            pos += len as usize;
            frame
        })
    }
}

/// Borrowed argument views without allocating for short commands.
mod smallvec_views {
    /// Argument views, inline up to eight.
    pub struct Views<'a> {
        inline: [&'a [u8]; 8],
        heap: Vec<&'a [u8]>,
        len: usize,
    }

    impl<'a> Views<'a> {
        pub(crate) fn new<A: AsRef<[u8]>>(args: &'a [A]) -> Views<'a> {
            let mut views = Views {
                inline: [&[]; 8],
                heap: Vec::new(),
                len: args.len(),
            };
            if args.len() <= 8 {
                for (slot, arg) in views.inline.iter_mut().zip(args) {
                    *slot = arg.as_ref();
                }
            } else {
                views.heap = args.iter().map(|a| a.as_ref()).collect();
            }
            views
        }

        /// Views built by `f(i)` for `i` in `0..n`; stops at the first error.
        pub(crate) fn try_from_fn<E>(
            n: usize,
            mut f: impl FnMut(usize) -> Result<&'a [u8], E>,
        ) -> Result<Views<'a>, E> {
            let mut views = Views {
                inline: [&[]; 8],
                heap: Vec::new(),
                len: n,
            };
            if n <= 8 {
                for i in 0..n {
                    views.inline[i] = f(i)?;
                }
            } else {
                views.heap = (0..n).map(f).collect::<Result<_, E>>()?;
            }
            Ok(views)
        }

        pub(crate) fn as_slice(&self) -> &[&'a [u8]] {
            if self.len <= 8 {
                &self.inline[..self.len]
            } else {
                &self.heap
            }
        }
    }
}

pub use smallvec_views::Views;

/// One command's result in a pipeline.
enum Entry {
    Reply(Reply),
    /// Element `i` of the EXEC reply.
    Element(usize),
    Error(Error),
}

/// The results of a pipeline run, in command order.
pub struct PipelineResult {
    entries: Vec<Entry>,
    exec: Option<Reply>,
}

impl PipelineResult {
    /// Number of results (one per command; MULTI and EXEC are not counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True for an empty pipeline.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Result `i`: the reply, or the error the command got (a server error reply, a queueing
    /// error in a transaction, EXECABORT, a connection error...).
    pub fn get(&self, i: usize) -> Option<std::result::Result<ValueRef<'_>, &Error>> {
        Some(match self.entries.get(i)? {
            Entry::Reply(r) => Ok(r.value()),
            Entry::Element(e) => Ok(self
                .exec
                .as_ref()
                .and_then(|r| r.value().child(*e))
                .expect("EXEC element")),
            Entry::Error(err) => Err(err),
        })
    }

    /// The first error, if any command failed.
    pub fn first_error(&self) -> Option<&Error> {
        self.entries.iter().find_map(|e| match e {
            Entry::Error(err) => Some(err),
            _ => None,
        })
    }
}

/// Where a finished pipeline goes.
pub(crate) enum PipelineDone {
    Wait(Arc<Waiter>, u64),
    Raw(fn([usize; 2], PipelineResult), [usize; 2]),
    Boxed(Box<dyn FnOnce(PipelineResult) + Send>),
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
}

// SAFETY: see `slots`: each cell has one writer, and the one reader synchronizes with every
// writer through `remaining`; replies are Send.
unsafe impl Sync for PipelineRun {}

impl PipelineRun {
    pub(crate) fn new(requests: usize, transaction: bool, done: PipelineDone) -> Arc<PipelineRun> {
        Arc::new(PipelineRun {
            slots: (0..requests)
                .map(|_| std::cell::UnsafeCell::new(None))
                .collect(),
            remaining: AtomicUsize::new(requests),
            transaction,
            done: Mutex::new(Some(done)),
        })
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
    pub(crate) fn failed_slots(
        self: &Arc<Self>,
        err: &Error,
    ) -> Vec<(crate::reactor::Completion, Result<Reply>)> {
        (0..self.slots.len())
            .map(|i| {
                (
                    crate::reactor::Completion::Pipeline(self.clone(), i),
                    Err(err.clone()),
                )
            })
            .collect()
    }

    fn finish(&self) {
        let slots: Vec<Result<Reply>> = self
            .slots
            .iter()
            // SAFETY: `remaining` reached zero: every writer is done and synchronized with us,
            // and nobody touches the cells again.
            .map(|cell| unsafe { (*cell.get()).take() }.expect("every slot completed"))
            .collect();
        let result = if self.transaction {
            transaction_result(slots)
        } else {
            PipelineResult {
                entries: slots
                    .into_iter()
                    .map(|s| match s {
                        // Handles to it are lent from the result, never freed on their own.
                        Ok(mut r) => {
                            r.mark_borrowed();
                            Entry::Reply(r)
                        }
                        Err(e) => Entry::Error(e),
                    })
                    .collect(),
                exec: None,
            }
        };
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        match done {
            Some(PipelineDone::Wait(waiter, seq)) => {
                drop(waiter.complete(seq, Outcome::Pipeline(result)))
            }
            Some(PipelineDone::Raw(f, ctx)) => f(ctx, result),
            Some(PipelineDone::Boxed(f)) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(result)));
            }
            None => {}
        }
    }
}

/// Slots are MULTI, each command's QUEUED, EXEC. Each command's result, as redis-py gives it:
/// the EXEC array's element; on EXECABORT, the command's own queueing error or EXECABORT; on
/// a nil EXEC, a WATCH error; if MULTI itself failed, that error.
fn transaction_result(mut slots: Vec<Result<Reply>>) -> PipelineResult {
    let exec = slots.pop().expect("EXEC slot");
    let multi = slots.remove(0);
    let queued = slots;
    let n = queued.len();
    let all = |err: Error| PipelineResult {
        entries: (0..n).map(|_| Entry::Error(err.clone())).collect(),
        exec: None,
    };
    if let Err(e) = multi {
        return all(e);
    }
    match exec {
        Err(e) if e.kind() == ErrorKind::ExecAbort => PipelineResult {
            entries: queued
                .into_iter()
                .map(|q| Entry::Error(q.err().unwrap_or_else(|| e.clone())))
                .collect(),
            exec: None,
        },
        Err(e) => all(e),
        Ok(reply) => match reply.kind() {
            Kind::Null => all(Error::new(ErrorKind::Watch, "Watched variable changed.")),
            Kind::Array if reply.value().len() == n => {
                let entries = (0..n)
                    .map(|i| {
                        let element = reply.value().child(i).expect("element");
                        match element.as_error() {
                            Some(err) => Entry::Error(err),
                            None => Entry::Element(i),
                        }
                    })
                    .collect();
                let mut reply = reply;
                reply.mark_borrowed();
                PipelineResult {
                    entries,
                    exec: Some(reply),
                }
            }
            _ => all(Error::new(
                ErrorKind::InvalidResponse,
                format!("EXEC answered {n} queued commands with {reply:?}"),
            )),
        },
    }
}
