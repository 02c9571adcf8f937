//! C class `redcore_completion_queue`: results of commands submitted with a token, kept until
//! one consumer takes them in batches. Made for bindings whose callbacks cost more than the
//! command (a Go callback from a library thread, a Swift continuation): the library thread
//! only appends and, when the consumer sleeps, wakes it once; the consumer takes every
//! completion waiting in one call and reads each reply's top level from the record itself.
//!
//! A consumer either blocks in `redcore_completion_queue_wait`, or polls with
//! `redcore_completion_queue_poll` and sleeps in its own event loop on the queue's file
//! descriptor, which becomes readable when a completion arrives after a poll found the queue
//! empty (Go parks a goroutine on it, holding no thread).

use std::collections::VecDeque;
use std::os::raw::c_int;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::client::redcore_pipeline_result;
use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::handle::lend;
use super::item::{error_item, item_of, pipeline_item, redcore_item};
use super::reply::redcore_reply;
use crate::client::PipelineResult;
use crate::error::{Error, ErrorKind, Result};
use crate::resp::Reply;

/// A queue of completions. Underneath: an `Arc` shared by the handle and by every command
/// still pending on it, so freeing the queue while commands are in flight is safe (their
/// results are dropped when they arrive). Submitting to it is thread-safe; taking from it
/// (`_poll`, `_wait`) is for one consumer at a time, because each take frees the batch the
/// previous one lent. Create with `redcore_completion_queue_new`, free with
/// `redcore_completion_queue_free`.
pub struct redcore_completion_queue {
    pub(crate) inner: Arc<Queue>,
}

/// One finished submission, as `redcore_completion_queue_poll` / `_wait` hand it out. Every
/// pointer in it is borrowed from the queue until the next `_poll`, `_wait` or `_free` on it.
#[repr(C)]
pub struct redcore_completion {
    /// The token given at submission.
    pub token: usize,
    /// The top level of the result. On failure (a server error reply, a timeout, a lost
    /// connection, the client freed: `REDCORE_ERR_CLOSED`), a `REDCORE_REPLY_ERROR` item with
    /// the error's `code` and message. For a pipeline, a `REDCORE_REPLY_ARRAY` item with one
    /// element per command (read them with `redcore_pipeline_result_items`).
    pub item: redcore_item,
    /// The whole reply (walk it with `redcore_reply_items` or the `redcore_reply_*`
    /// functions); NULL on failure and for pipelines. Do not free it.
    pub reply: *const redcore_reply,
    /// The error on failure, else NULL. Do not free it.
    pub error: *const redcore_error,
    /// A pipeline submission's results, else NULL. Do not free it.
    pub pipeline: *const redcore_pipeline_result,
}

/// What a submission produced.
pub(crate) enum Outcome {
    Command(Result<Reply>),
    Pipeline(Box<PipelineResult>),
}

struct Entry {
    token: usize,
    outcome: Outcome,
}

/// An entry handed to the consumer, in the form its pointers borrow from.
enum Lent {
    Reply(Reply),
    Error(redcore_error),
    Pipeline(redcore_pipeline_result),
}

pub(crate) struct Queue {
    state: Mutex<State>,
    ready: Condvar,
    /// Read end, written end: a byte is written when a completion arrives while armed.
    pipe: [c_int; 2],
}

#[derive(Default)]
struct State {
    entries: VecDeque<Entry>,
    /// The batch last handed out, alive until the next take.
    lent: Vec<(usize, Lent)>,
    /// A poll found the queue empty: the next arrival writes to the pipe.
    armed: bool,
    /// A consumer sleeps in `wait`.
    sleeping: bool,
    closed: bool,
}

impl Queue {
    fn new() -> Result<Queue> {
        let mut fds = [0 as c_int; 2];
        // SAFETY: fds has room for the two descriptors pipe writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            let os = std::io::Error::last_os_error();
            return Err(Error::new(
                ErrorKind::Internal,
                format!("cannot create the queue's pipe: {os}"),
            ));
        }
        for fd in fds {
            // SAFETY: fd was just opened by pipe(); setting flags on it is harmless.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        Ok(Queue {
            state: Mutex::new(State::default()),
            ready: Condvar::new(),
            pipe: fds,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a completion; wakes the consumer if it sleeps (one wake per sleep, however
    /// many completions arrive before it runs).
    pub(crate) fn push(&self, token: usize, outcome: Outcome) {
        let mut state = self.lock();
        state.entries.push_back(Entry { token, outcome });
        let write_pipe = std::mem::take(&mut state.armed);
        let signal = state.sleeping;
        drop(state);
        if signal {
            self.ready.notify_one();
        }
        if write_pipe {
            self.ring();
        }
    }

    fn ring(&self) {
        let byte = 1u8;
        // SAFETY: writing one byte from a live local to our own non-blocking pipe. A full
        // pipe (EAGAIN) is already readable, so the byte is not needed.
        unsafe { libc::write(self.pipe[1], (&byte as *const u8).cast(), 1) };
    }

    /// Moves up to `out.len()` entries into the lent batch and describes them in `out`. The
    /// batch lent before must have been taken out (`State::lent` empty).
    fn take(state: &mut State, out: &mut [redcore_completion]) -> usize {
        let n = out.len().min(state.entries.len());
        if n == 0 {
            return 0;
        }
        let mut lent = Vec::with_capacity(n);
        for entry in state.entries.drain(..n) {
            let value = match entry.outcome {
                Outcome::Command(Ok(reply)) => Lent::Reply(reply),
                Outcome::Command(Err(err)) => Lent::Error(redcore_error::new(err)),
                Outcome::Pipeline(result) => Lent::Pipeline(redcore_pipeline_result::new(*result)),
            };
            lent.push((entry.token, value));
        }
        // `lent` is not touched again until the next take, so these addresses hold.
        for (slot, (token, value)) in out.iter_mut().zip(lent.iter_mut()) {
            *slot = describe(*token, value);
        }
        state.lent = lent;
        n
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        for fd in self.pipe {
            // SAFETY: the queue owns both descriptors and closes them once.
            unsafe { libc::close(fd) };
        }
    }
}

fn describe(token: usize, value: &mut Lent) -> redcore_completion {
    let none = redcore_completion {
        token,
        item: redcore_item::EMPTY,
        reply: std::ptr::null(),
        error: std::ptr::null(),
        pipeline: std::ptr::null(),
    };
    match value {
        Lent::Reply(reply) => redcore_completion {
            item: item_of(reply.value()),
            reply: lend(reply),
            ..none
        },
        Lent::Error(err) => redcore_completion {
            item: error_item(err),
            error: err,
            ..none
        },
        Lent::Pipeline(result) => redcore_completion {
            item: pipeline_item(result),
            pipeline: result,
            ..none
        },
    }
}

/// The completion function submissions through a queue use: `ctx[0]` is an `Arc<Queue>`
/// reference given up at submission, `ctx[1]` the token.
pub(crate) fn complete_command(ctx: [usize; 2], result: Result<Reply>) {
    // SAFETY: ctx[0] came from Arc::into_raw at submission and is consumed exactly once here.
    let queue = unsafe { Arc::from_raw(ctx[0] as *const Queue) };
    queue.push(ctx[1], Outcome::Command(result));
}

/// `complete_command` for a pipeline run.
pub(crate) fn complete_pipeline(ctx: [usize; 2], result: PipelineResult) {
    // SAFETY: as in complete_command.
    let queue = unsafe { Arc::from_raw(ctx[0] as *const Queue) };
    queue.push(ctx[1], Outcome::Pipeline(Box::new(result)));
}

/// The context that routes a completion to `queue` with `token`: holds a queue reference
/// until `complete_*` consumes it (or `forget_context` when the submission failed).
pub(crate) fn context(queue: &Arc<Queue>, token: usize) -> [usize; 2] {
    [Arc::into_raw(queue.clone()) as usize, token]
}

/// Gives back the queue reference of a context whose completion will never run.
pub(crate) fn forget_context(ctx: [usize; 2]) {
    // SAFETY: ctx[0] came from Arc::into_raw in `context` and its completion did not run.
    drop(unsafe { Arc::from_raw(ctx[0] as *const Queue) });
}

/// The arguments of a take, checked: the queue and a non-empty output array, with the batch
/// lent before taken out of the queue (drop it after unlocking).
///
/// # Safety
/// `queue` is NULL or live; `out` is NULL or holds `cap` writable records.
unsafe fn take_args<'a>(
    queue: *const redcore_completion_queue,
    out: *mut redcore_completion,
    cap: usize,
) -> Option<(&'a Queue, &'a mut [redcore_completion])> {
    // SAFETY: per the contract above.
    let queue = unsafe { queue.as_ref() }?;
    if out.is_null() || cap == 0 {
        return None;
    }
    // SAFETY: per the contract above; every record is written before it is read.
    Some((&queue.inner, unsafe {
        std::slice::from_raw_parts_mut(out, cap)
    }))
}

/// Creates an empty queue and writes it to `*queue_out`. Fails with
/// `REDCORE_ERR_INVALID_ARGUMENT` for a NULL `queue_out`, `REDCORE_ERR_INTERNAL` when the
/// system has no file descriptor left for its pipe.
#[no_mangle]
pub unsafe extern "C" fn redcore_completion_queue_new(
    queue_out: *mut *mut redcore_completion_queue,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        if queue_out.is_null() {
            return Err(null_arg("queue_out"));
        }
        let inner = Arc::new(Queue::new()?);
        // SAFETY: queue_out was checked non-NULL.
        unsafe { *queue_out = Box::into_raw(Box::new(redcore_completion_queue { inner })) };
        Ok(())
    })
}

/// Frees the handle, with the batch last lent and every completion not taken. Commands still
/// pending keep what they need: their results are dropped when they arrive. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_completion_queue_free(queue: *mut redcore_completion_queue) {
    guard((), || {
        if queue.is_null() {
            return;
        }
        // SAFETY: queue came from redcore_completion_queue_new and is freed once.
        let queue = unsafe { Box::from_raw(queue) };
        let (lent, entries) = {
            let mut state = queue.inner.lock();
            state.closed = true;
            (
                std::mem::take(&mut state.lent),
                std::mem::take(&mut state.entries),
            )
        };
        drop((lent, entries));
    })
}

/// Takes up to `cap` completions without waiting, writes them to `out` in the order they
/// arrived and returns how many. The records and every pointer in them stay valid until the
/// next take (`_poll` or `_wait`) or `_free` on this queue, which frees them: copy what you
/// keep. Returning 0 arms the descriptor of `redcore_completion_queue_fd`: the next
/// completion to arrive makes it readable. One consumer at a time. 0 for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn redcore_completion_queue_poll(
    queue: *const redcore_completion_queue,
    out: *mut redcore_completion,
    cap: usize,
) -> usize {
    guard(0, || {
        // SAFETY: per this function's contract.
        let Some((queue, out)) = (unsafe { take_args(queue, out, cap) }) else {
            return 0;
        };
        let mut state = queue.lock();
        let previous = std::mem::take(&mut state.lent);
        let n = Queue::take(&mut state, out);
        if n == 0 {
            state.armed = true;
        }
        drop(state);
        drop(previous);
        n
    })
}

/// Like `redcore_completion_queue_poll`, but waits until at least one completion is there,
/// `timeout_ms` milliseconds have passed (a negative value waits without limit), or the queue
/// is closed (`redcore_completion_queue_close`); returns 0 in the last two cases. Inside a
/// client's callback it does not wait (that would deadlock the event loop that delivers the
/// completions): it takes what is there and returns 0 at once when nothing is.
#[no_mangle]
pub unsafe extern "C" fn redcore_completion_queue_wait(
    queue: *const redcore_completion_queue,
    timeout_ms: i64,
    out: *mut redcore_completion,
    cap: usize,
) -> usize {
    guard(0, || {
        // SAFETY: per this function's contract.
        let Some((queue, out)) = (unsafe { take_args(queue, out, cap) }) else {
            return 0;
        };
        // Inside a callback, a wait of none at all.
        let timeout_ms = if crate::reactor::on_reactor_thread() {
            0
        } else {
            timeout_ms
        };
        let deadline =
            u64::try_from(timeout_ms).map(|ms| Instant::now() + Duration::from_millis(ms));
        let mut state = queue.lock();
        let previous = std::mem::take(&mut state.lent);
        let n = loop {
            let n = Queue::take(&mut state, out);
            if n > 0 || state.closed {
                break n;
            }
            let timeout = match deadline {
                Ok(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => break 0,
                },
                Err(_) => None,
            };
            state.sleeping = true;
            state = match timeout {
                Some(left) => {
                    let woken = queue.ready.wait_timeout(state, left);
                    woken.unwrap_or_else(|e| e.into_inner()).0
                }
                None => queue.ready.wait(state).unwrap_or_else(|e| e.into_inner()),
            };
            state.sleeping = false;
        };
        drop(state);
        drop(previous);
        n
    })
}

/// A descriptor that becomes readable when a completion arrives after
/// `redcore_completion_queue_poll` returned 0 (and on `_close`): wait for it in your event
/// loop, read and discard what it holds (it is non-blocking), and poll again. It may also be
/// readable with nothing to take; poll tells. Owned by the queue: do not close it (dup it to
/// hand it to a runtime that closes what it is given). -1 for NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_completion_queue_fd(
    queue: *const redcore_completion_queue,
) -> c_int {
    guard(-1, || {
        // SAFETY: queue is NULL or live.
        unsafe { queue.as_ref() }.map_or(-1, |q| q.inner.pipe[0])
    })
}

/// Closes the queue for consumers: `redcore_completion_queue_wait` returns at once once the
/// queue is empty, and the descriptor becomes readable. Completions still arriving are kept
/// and can be taken. For stopping a consumer thread before freeing the queue. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_completion_queue_close(queue: *const redcore_completion_queue) {
    guard((), || {
        // SAFETY: queue is NULL or live.
        if let Some(queue) = unsafe { queue.as_ref() } {
            queue.inner.lock().closed = true;
            queue.inner.ready.notify_all();
            queue.inner.ring();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn take_all(queue: &redcore_completion_queue) -> Vec<(usize, ErrorKind)> {
        let mut out: Vec<redcore_completion> = (0..4).map(|_| empty()).collect();
        let n = unsafe { redcore_completion_queue_poll(queue, out.as_mut_ptr(), out.len()) };
        out[..n].iter().map(|c| (c.token, c.item.code)).collect()
    }

    fn empty() -> redcore_completion {
        redcore_completion {
            token: 0,
            item: redcore_item::EMPTY,
            reply: std::ptr::null(),
            error: std::ptr::null(),
            pipeline: std::ptr::null(),
        }
    }

    #[test]
    fn poll_takes_in_order_and_arms_the_descriptor_when_empty() {
        let mut raw = std::ptr::null_mut();
        assert_eq!(
            unsafe { redcore_completion_queue_new(&mut raw) },
            ErrorKind::Ok
        );
        let queue = unsafe { &*raw };
        let fd = unsafe { redcore_completion_queue_fd(queue) };
        assert!(take_all(queue).is_empty());
        for token in 1..=6 {
            let ctx = context(&queue.inner, token);
            let result = if token == 3 {
                Err(Error::new(ErrorKind::Timeout, "late"))
            } else {
                Ok(Reply::from_value(&crate::resp::Value::Integer(
                    token as i64,
                )))
            };
            complete_command(ctx, result);
        }
        let mut byte = [0u8; 8];
        let read = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 8) };
        assert_eq!(read, 1, "one wake for six completions");
        let first = take_all(queue);
        assert_eq!(
            first,
            vec![
                (1, ErrorKind::Ok),
                (2, ErrorKind::Ok),
                (3, ErrorKind::Timeout),
                (4, ErrorKind::Ok)
            ]
        );
        assert_eq!(
            take_all(queue),
            vec![(5, ErrorKind::Ok), (6, ErrorKind::Ok)]
        );
        assert!(take_all(queue).is_empty());
        // A pending submission outlives the handle.
        let ctx = context(&queue.inner, 7);
        unsafe { redcore_completion_queue_free(raw) };
        complete_command(ctx, Err(Error::new(ErrorKind::Closed, "closed")));
    }

    #[test]
    fn wait_times_out_and_returns_on_close() {
        let mut raw = std::ptr::null_mut();
        unsafe { redcore_completion_queue_new(&mut raw) };
        let queue = unsafe { &*raw };
        let mut out = [empty()];
        assert_eq!(
            unsafe { redcore_completion_queue_wait(queue, 10, out.as_mut_ptr(), 1) },
            0
        );
        let addr = raw as usize;
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            unsafe { redcore_completion_queue_close(addr as *const redcore_completion_queue) };
        });
        assert_eq!(
            unsafe { redcore_completion_queue_wait(queue, -1, out.as_mut_ptr(), 1) },
            0
        );
        closer.join().unwrap();
        unsafe { redcore_completion_queue_free(raw) };
    }
}
