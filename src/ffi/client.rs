//! C classes `redcore_client` (commands, async and blocking), `redcore_pipeline` and
//! `redcore_pipeline_result`, and `redcore_dedicated` (a held connection).

use std::os::raw::{c_char, c_int, c_void};
use std::time::Duration;

use super::config::redcore_config;
use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::handle::{handle_of, lend, reply_into_handle};
use super::reply::redcore_reply;
use crate::client::pipeline::Views;
use crate::client::{Client, Dedicated, Pipeline, PipelineResult};
use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Reply, ValueRef};

mod cache;
mod cluster;
mod reauth;
mod sentinel;

/// A client: a pool of multiplexed connections to one server, driven by its own event-loop
/// thread(s).
///
/// Underneath: a `Box` owning the client. Thread-safe: any number of threads may submit
/// commands at once. Create with `redcore_client_new`, free with `redcore_client_free`.
pub struct redcore_client {
    pub(crate) inner: Client,
}

/// The callback of an asynchronous command. Runs exactly once, on one of the client's
/// event-loop threads, with `userdata` as given. Exactly one of `reply` and `err` is non-NULL:
/// `reply` for a successful reply, `err` for a server error reply (its code maps the server's
/// error, e.g. `REDCORE_ERR_RESPONSE`, `REDCORE_ERR_NO_SCRIPT`), a timeout, a connection
/// failure, or the client being freed (`REDCORE_ERR_CLOSED`). Both are borrowed and valid only
/// until the callback returns (keep a reply with `redcore_reply_clone`; do not free either).
/// The callback must not block; it may submit further commands, and may free the client.
pub type redcore_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        reply: *const redcore_reply,
        err: *const redcore_error,
    ),
>;

/// The callback of an asynchronous pipeline run: gets every result, borrowed until it returns.
/// Same thread and exactly-once rules as `redcore_callback`.
pub type redcore_pipeline_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, result: *const redcore_pipeline_result)>;

/// Commands to send together, in order, on one connection: a plain pipeline, or a transaction
/// (MULTI ... EXEC). Underneath: a `Box`; not thread-safe. May be run any number of times and
/// freed right after a run is submitted.
pub struct redcore_pipeline {
    pub(super) inner: Pipeline,
}

/// The results of a pipeline run, one per command, in order. Underneath: a `Box`. Owned when
/// returned by `redcore_client_pipeline_run_blocking` (free with
/// `redcore_pipeline_result_free`), borrowed inside a `redcore_pipeline_callback`. Immutable.
pub struct redcore_pipeline_result {
    inner: PipelineResult,
    /// A C error for each failed command, so `redcore_pipeline_result_get` can lend it.
    errors: Vec<Option<redcore_error>>,
}

impl redcore_pipeline_result {
    pub(crate) fn new(inner: PipelineResult) -> redcore_pipeline_result {
        let errors = (0..inner.len())
            .map(|i| match inner.get(i) {
                Some(Err(err)) => Some(redcore_error::new(err.clone())),
                _ => None,
            })
            .collect();
        redcore_pipeline_result { inner, errors }
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.len()
    }

    /// Result `i`: the reply, or the command's error as C sees it.
    pub(crate) fn value(
        &self,
        i: usize,
    ) -> Option<std::result::Result<ValueRef<'_>, &redcore_error>> {
        match self.inner.get(i)? {
            Ok(value) => Some(Ok(value)),
            Err(_) => self.errors.get(i)?.as_ref().map(Err),
        }
    }
}

/// A dedicated connection, held by the caller for stateful work: WATCH / MULTI / EXEC, SELECT,
/// CLIENT commands. Underneath: a `Box`; use it from one thread at a time. Give it back with
/// `redcore_dedicated_release`.
pub struct redcore_dedicated {
    pub(crate) inner: Dedicated,
}

/// Reads `argc` arguments: `argv[i]` with length `argvlen[i]`, or `strlen(argv[i])` when
/// `argvlen` is NULL.
///
/// # Safety
/// argv holds argc pointers, each valid for its length (or NUL-terminated when argvlen is
/// NULL); argvlen is NULL or holds argc lengths.
pub(super) unsafe fn args<'a>(
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> Result<Views<'a>> {
    let n = arg_count(argc, argv)?;
    // SAFETY: per the contract above.
    Views::try_from_fn(n, |i| unsafe { arg_at(argv, argvlen, i) })
}

/// `args` for the entry points every command passes through: runs `f` on the arguments,
/// borrowed into an array on this stack frame for up to 8 of them (a `Vec` beyond), so that
/// no collection of views is built and then moved out.
///
/// # Safety
/// As for `args`.
#[inline]
pub(super) unsafe fn with_args<'a, R>(
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    f: impl FnOnce(&[&'a [u8]]) -> Result<R>,
) -> Result<R> {
    let n = arg_count(argc, argv)?;
    // SAFETY: per the contract above.
    let arg = |i| unsafe { arg_at(argv, argvlen, i) };
    if n <= 8 {
        let mut inline: [&'a [u8]; 8] = [&[]; 8];
        for (i, slot) in inline[..n].iter_mut().enumerate() {
            *slot = arg(i)?;
        }
        f(&inline[..n])
    } else {
        f(&(0..n).map(arg).collect::<Result<Vec<_>>>()?)
    }
}

/// `argc` as a count, refused when below 1 or with a NULL `argv`.
#[inline]
fn arg_count(argc: c_int, argv: *const *const c_char) -> Result<usize> {
    if argc <= 0 {
        return Err(Error::invalid_argument("argc must be at least 1"));
    }
    if argv.is_null() {
        return Err(null_arg("argv"));
    }
    Ok(argc as usize)
}

/// Argument `i`: `argv[i]`, of `argvlen[i]` bytes or up to its NUL when `argvlen` is NULL.
///
/// # Safety
/// As for `args`, and `i` below its `argc`.
#[inline]
unsafe fn arg_at<'a>(
    argv: *const *const c_char,
    argvlen: *const usize,
    i: usize,
) -> Result<&'a [u8]> {
    // SAFETY: argv holds argc pointers and i < argc.
    let p = unsafe { *argv.add(i) };
    if p.is_null() {
        return Err(Error::invalid_argument(format!("argv[{i}] is NULL")));
    }
    let len = if argvlen.is_null() {
        // SAFETY: NUL-terminated when argvlen is NULL.
        unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes().len()
    } else {
        // SAFETY: argvlen holds argc lengths.
        unsafe { *argvlen.add(i) }
    };
    // SAFETY: argv[i] is valid for len bytes.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Reads `count` byte strings (`ptrs[i]` of `lens[i]` bytes, or NUL-terminated when `lens`
/// is NULL); 0 is an empty list (and `ptrs` may then be NULL).
///
/// # Safety
/// As for `args`: `ptrs` holds `count` valid pointers, `lens` is NULL or holds `count`.
pub(super) unsafe fn byte_strings<'a>(
    count: usize,
    ptrs: *const *const c_char,
    lens: *const usize,
) -> Result<Views<'a>> {
    if count == 0 {
        return Ok(Views::new::<&[u8]>(&[]));
    }
    let argc = c_int::try_from(count).map_err(|_| Error::invalid_argument("too many strings"))?;
    // SAFETY: passed on from the caller.
    unsafe { args(argc, ptrs, lens) }
}

/// The body of every blocking command function: reads the arguments, runs the command with
/// `run`, and writes the owned reply to `*reply_out`.
///
/// # Safety
/// As for `args`; `reply_out` is NULL (refused) or writable.
pub(super) unsafe fn command_into(
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    reply_out: *mut *mut redcore_reply,
    run: impl FnOnce(&[&[u8]]) -> Result<Reply>,
) -> Result<()> {
    if reply_out.is_null() {
        return Err(null_arg("reply_out"));
    }
    // SAFETY: passed on from the caller.
    let reply = unsafe { with_args(argc, argv, argvlen, run) }?;
    // SAFETY: reply_out was checked non-NULL.
    unsafe { *reply_out = reply_into_handle(reply) };
    Ok(())
}

/// Writes to `*out` the value of counter number `counter` among `all` (the variants of the C
/// enum `name`, passed as an int), as `value` reads it; INVALID_ARGUMENT for a NULL `out` or
/// an unknown number.
///
/// # Safety
/// `out` is NULL or writable.
pub(super) unsafe fn write_counter<T: Copy>(
    counter: c_int,
    name: &str,
    all: &[T],
    value: impl FnOnce(T) -> u64,
    out: *mut u64,
) -> Result<()> {
    if out.is_null() {
        return Err(null_arg("out"));
    }
    let which = usize::try_from(counter)
        .ok()
        .and_then(|i| all.get(i))
        .ok_or_else(|| {
            Error::invalid_argument(format!(
                "counter {counter} is not a {name} (0 to {})",
                all.len() - 1
            ))
        })?;
    // SAFETY: out was checked non-NULL and is writable, per the contract.
    unsafe { *out = value(*which) };
    Ok(())
}

/// Calls a C command callback with a result (the Rust side of `redcore_callback`).
pub(super) fn call_back(ctx: [usize; 2], result: Result<Reply>) {
    // SAFETY: ctx[0] was made from a non-NULL redcore_callback function pointer.
    let f: unsafe extern "C" fn(*mut c_void, *const redcore_reply, *const redcore_error) =
        unsafe { std::mem::transmute::<usize, _>(ctx[0]) };
    let userdata = ctx[1] as *mut c_void;
    match result {
        Ok(mut reply) => {
            let handle = lend(&mut reply);
            // SAFETY: the reply lives until after the call; the C function follows its contract.
            unsafe { f(userdata, handle, std::ptr::null()) };
        }
        Err(err) => {
            let err = redcore_error::new(err);
            // SAFETY: as above.
            unsafe { f(userdata, std::ptr::null(), &err) };
        }
    }
}

fn call_back_pipeline(ctx: [usize; 2], result: PipelineResult) {
    // SAFETY: ctx[0] was made from a non-NULL redcore_pipeline_callback function pointer.
    let f: unsafe extern "C" fn(*mut c_void, *const redcore_pipeline_result) =
        unsafe { std::mem::transmute::<usize, _>(ctx[0]) };
    let result = redcore_pipeline_result::new(result);
    // SAFETY: result lives until after the call.
    unsafe { f(ctx[1] as *mut c_void, &result) };
}

/// Creates a client from `config` (copied; the config may be freed right after). Unless the
/// config asks for a lazy connect, waits for the first connection and fails with its error
/// (`REDCORE_ERR_CONNECTION`, `REDCORE_ERR_TIMEOUT`, `REDCORE_ERR_AUTHENTICATION`, ...).
/// Writes the client to `*client_out` on success.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_new(
    config: *const redcore_config,
    client_out: *mut *mut redcore_client,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: config is NULL or a live redcore_config.
        let config = unsafe { config.as_ref() }.ok_or_else(|| null_arg("config"))?;
        if client_out.is_null() {
            return Err(null_arg("client_out"));
        }
        let client = Client::new(config.inner.clone())?;
        // SAFETY: client_out was checked non-NULL.
        unsafe { *client_out = Box::into_raw(Box::new(redcore_client { inner: client })) };
        Ok(())
    })
}

/// Frees a client. Every command still pending completes (its callback runs) with
/// `REDCORE_ERR_CLOSED` before this returns; when called from inside one of the client's own
/// callbacks, they complete as soon as that callback returns. NULL is ignored.
///
/// `REDCORE_ERR_CLOSED` means the reply will never be delivered, not that the command did not
/// run: commands already written may have been executed by the server (one probe freeing a
/// client under load saw about 1,200 of them run). To have written commands answered first,
/// stop submitting and call `redcore_client_drain` before this.
///
/// In a forked child, a client inherited from the parent is not shut down: its connections
/// and buffers are deliberately leaked (valgrind reports them), because closing the sockets'
/// TLS sessions or shutting them down would break the parent's connections. They go away when
/// the child exits or calls exec (the descriptors are close-on-exec).
///
/// No other thread may be using the client meanwhile: to stop calls in progress on other
/// threads first (a blocking call waiting on a server that stopped answering, say), call
/// `redcore_client_shutdown`, then this once they have returned.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_free(client: *mut redcore_client) {
    guard((), || {
        if !client.is_null() {
            // SAFETY: client came from redcore_client_new and is freed once.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

/// Shuts a client down without freeing it, for a client that other threads may still be
/// calling: every pending command completes (its callback runs) with `REDCORE_ERR_CLOSED`,
/// blocking calls in progress on other threads return `REDCORE_ERR_CLOSED` at once (also one
/// waiting with no timeout on a server that stopped answering), and every later call fails
/// with `REDCORE_ERR_CLOSED`. Returns once that is done, or at once when called from one of
/// the client's callbacks (then it happens as soon as the callback returns). Dedicated
/// connections, subscribers and MONITOR streams of the client are closed too. Call
/// `redcore_client_free` afterwards, once no other thread uses the client. Calling it again
/// does nothing; NULL is ignored. As with `redcore_client_free`, `REDCORE_ERR_CLOSED` does
/// not mean that the server did not run a command already written.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_shutdown(client: *const redcore_client) {
    guard((), || {
        // SAFETY: client is NULL or a live client.
        if let Some(client) = unsafe { client.as_ref() } {
            client.inner.shutdown();
        }
    })
}

/// Waits until every command submitted so far has completed (reply, error or timeout; the
/// callbacks have run), for at most `timeout_ms` milliseconds (or up to 100 ms, however small
/// `timeout_ms` is, for the event loop to confirm its callbacks have run). Commands submitted
/// meanwhile are waited for too: stop submitting first. Returns `REDCORE_OK` when nothing is
/// pending, `REDCORE_ERR_TIMEOUT` when something still was at the deadline,
/// `REDCORE_ERR_INVALID_ARGUMENT` for NULL or when called from one of the client's callbacks
/// (it would wait for itself), `REDCORE_ERR_CLOSED` in a forked child. Use it before
/// `redcore_client_free` to have written commands answered rather than completed with
/// `REDCORE_ERR_CLOSED`.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_drain(
    client: *const redcore_client,
    timeout_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        client.inner.drain(Duration::from_millis(timeout_ms))
    })
}

/// Sends a command asynchronously: `argc` arguments `argv[i]` of `argvlen[i]` bytes (or
/// NUL-terminated strings when `argvlen` is NULL), copied before this returns. On
/// `REDCORE_OK`, `callback` will run exactly once (see `redcore_callback`); on any other code
/// it will not run, and the reason is in `*err_out` when `err_out` is not NULL. Fails with `REDCORE_ERR_INVALID_ARGUMENT` for bad arguments and for
/// commands that would change a shared connection's state (WATCH, MULTI, SUBSCRIBE, SELECT,
/// ...: use `redcore_client_dedicated` or a transaction pipeline), with `REDCORE_ERR_CLOSED`
/// after the client was freed or in a forked child, and with the connection's error when the
/// server is down beyond the retry policy. Blocking commands (BLPOP, XREAD BLOCK, ...) run on
/// a dedicated connection. `userdata` may be any value, e.g. a Go `cgo.Handle`.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_command(
    client: *const redcore_client,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    callback: redcore_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let f = callback.ok_or_else(|| null_arg("callback"))?;
        // SAFETY: per this function's contract.
        unsafe {
            with_args(argc, argv, argvlen, |args| {
                client
                    .inner
                    .submit_raw(args, call_back, [f as usize, userdata as usize])
            })
        }
    })
}

/// Cancels the blocking commands (BLPOP, BRPOP, BLMOVE, BZPOPMIN, XREAD BLOCK, WAIT, ...)
/// that were sent with `redcore_client_command` and this `callback` and `userdata` and are
/// still pending: waiting for a dedicated connection, or sent on one. Each one's callback
/// runs once, soon and on a library thread, with `REDCORE_ERR_CANCELLED`. One already
/// written has its connection closed (and replaced), so that the server drops it: a BLPOP
/// cancelled this way pops nothing later. A reply the server sent just before the close is
/// lost with it (the command ran, but its callback says CANCELLED). Any command not sent
/// yet that waits in a cluster client (a retry's delay, a topology) or a sentinel client (a
/// master during a failover) is cancelled too. Not cancelled, and left to complete as they
/// would: other commands (answered soon anyway), pipelines, and commands on a held
/// connection. Writes how many were cancelled to `*cancelled_out` (when not NULL):
/// 0 when none was pending any more, or none could be. Give each blocking command its own
/// `userdata` to cancel it alone. Fails with `REDCORE_ERR_INVALID_ARGUMENT` for a NULL
/// `client` or `callback`, and with `REDCORE_ERR_CLOSED` in a forked child.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_cancel(
    client: *const redcore_client,
    callback: redcore_callback,
    userdata: *mut c_void,
    cancelled_out: *mut usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let f = callback.ok_or_else(|| null_arg("callback"))?;
        let n = client
            .inner
            .cancel_raw(call_back, [f as usize, userdata as usize])?;
        if !cancelled_out.is_null() {
            // SAFETY: a non-NULL cancelled_out points to a writable size_t.
            unsafe { *cancelled_out = n };
        }
        Ok(())
    })
}

/// Sends a command and waits for its reply (same arguments as `redcore_client_command`).
/// On `REDCORE_OK` writes an owned reply to `*reply_out` (free it with `redcore_reply_free`).
/// A server error reply is returned as its error code (with the server's text in `*err_out`).
/// Fails with `REDCORE_ERR_TIMEOUT` after the command timeout, and with
/// `REDCORE_ERR_INVALID_ARGUMENT` when called from inside a callback (it would deadlock).
#[no_mangle]
pub unsafe extern "C" fn redcore_client_command_blocking(
    client: *const redcore_client,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    reply_out: *mut *mut redcore_reply,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        // SAFETY: per this function's contract.
        unsafe { command_into(argc, argv, argvlen, reply_out, |a| client.inner.command(a)) }
    })
}

/// Creates an empty pipeline; a transaction when `transaction` is true (its commands run
/// atomically between MULTI and EXEC).
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_new(
    transaction: bool,
    pipeline_out: *mut *mut redcore_pipeline,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        if pipeline_out.is_null() {
            return Err(null_arg("pipeline_out"));
        }
        let inner = if transaction {
            Pipeline::transaction()
        } else {
            Pipeline::new()
        };
        // SAFETY: pipeline_out was checked non-NULL.
        unsafe { *pipeline_out = Box::into_raw(Box::new(redcore_pipeline { inner })) };
        Ok(())
    })
}

/// Appends a command (arguments as in `redcore_client_command`, copied). Commands that change
/// a connection's state are refused with `REDCORE_ERR_INVALID_ARGUMENT` (details in
/// `*err_out`).
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_append(
    pipeline: *mut redcore_pipeline,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: pipeline is NULL or a live pipeline used by one thread.
        let pipeline = unsafe { pipeline.as_mut() }.ok_or_else(|| null_arg("pipeline"))?;
        // SAFETY: per this function's contract.
        unsafe {
            with_args(argc, argv, argvlen, |args| {
                pipeline.inner.add_views(args).map(|_| ())
            })
        }
    })
}

/// Fail fast: a blocking run of the pipeline (`redcore_client_pipeline_run_blocking`) whose
/// commands did not all succeed returns the first failure's code, with a message naming the
/// command and its position ("command 2 of 3 in the pipeline (LPUSH) failed: WRONGTYPE ..."),
/// instead of a result. Every command is still sent. Off by default.
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_set_fail_fast(
    pipeline: *mut redcore_pipeline,
    on: bool,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: pipeline is NULL or a live pipeline used by one thread.
        let pipeline = unsafe { pipeline.as_mut() }.ok_or_else(|| null_arg("pipeline"))?;
        pipeline.inner.fail_fast(on);
        Ok(())
    })
}

/// Number of commands in the pipeline (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_len(pipeline: *const redcore_pipeline) -> usize {
    guard(0, || {
        // SAFETY: pipeline is NULL or a live pipeline.
        unsafe { pipeline.as_ref() }.map_or(0, |p| p.inner.len())
    })
}

/// Removes every command, to build the next batch in the same pipeline.
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_clear(pipeline: *mut redcore_pipeline) {
    guard((), || {
        // SAFETY: pipeline is NULL or a live pipeline used by one thread.
        if let Some(p) = unsafe { pipeline.as_mut() } {
            p.inner.clear();
        }
    })
}

/// Frees a pipeline. NULL is ignored. Runs already submitted are not affected.
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_free(pipeline: *mut redcore_pipeline) {
    guard((), || {
        if !pipeline.is_null() {
            // SAFETY: pipeline came from redcore_pipeline_new and is freed once.
            drop(unsafe { Box::from_raw(pipeline) });
        }
    })
}

/// Runs a pipeline asynchronously: its commands are written together on one connection and
/// `callback` runs once with every result. On any code but `REDCORE_OK` the callback will not
/// run (the reason is in `*err_out` when `err_out` is not NULL): an empty pipeline is
/// `REDCORE_ERR_INVALID_ARGUMENT`. A pipeline with blocking commands waits for a dedicated
/// connection without blocking the caller. The pipeline may be freed or changed as soon as
/// this returns.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_pipeline_run(
    client: *const redcore_client,
    pipeline: *const redcore_pipeline,
    callback: redcore_pipeline_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client and pipeline are NULL or live.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let pipeline = unsafe { pipeline.as_ref() }.ok_or_else(|| null_arg("pipeline"))?;
        let f = callback.ok_or_else(|| null_arg("callback"))?;
        client.inner.submit_pipeline_raw(
            &pipeline.inner,
            call_back_pipeline,
            [f as usize, userdata as usize],
        )
    })
}

/// Runs a pipeline and waits for every result. On `REDCORE_OK` writes an owned result to
/// `*result_out` (free it with `redcore_pipeline_result_free`); individual commands may still
/// have failed: see `redcore_pipeline_result_get`.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_pipeline_run_blocking(
    client: *const redcore_client,
    pipeline: *const redcore_pipeline,
    result_out: *mut *mut redcore_pipeline_result,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client and pipeline are NULL or live.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let pipeline = unsafe { pipeline.as_ref() }.ok_or_else(|| null_arg("pipeline"))?;
        if result_out.is_null() {
            return Err(null_arg("result_out"));
        }
        let inner = client.inner.run_pipeline(&pipeline.inner)?;
        // SAFETY: result_out was checked non-NULL.
        unsafe { *result_out = Box::into_raw(Box::new(redcore_pipeline_result::new(inner))) };
        Ok(())
    })
}

/// Number of results (one per command appended; 0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_result_len(
    result: *const redcore_pipeline_result,
) -> usize {
    guard(0, || {
        // SAFETY: result is NULL or live.
        unsafe { result.as_ref() }.map_or(0, |r| r.inner.len())
    })
}

/// Result `index`: returns `REDCORE_OK` and writes the reply (borrowed from `result`) to
/// `*reply_out`, or returns the command's error code and writes its error (borrowed from
/// `result`; do not free it) to `*err_out` when `err_out` is not NULL. In a transaction, a
/// command that failed when queued gets its own error and the others `REDCORE_ERR_EXEC_ABORT`;
/// a WATCH that saw a change gives `REDCORE_ERR_WATCH` for every command.
/// `REDCORE_ERR_INVALID_ARGUMENT` for NULL arguments or an index out of range.
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_result_get(
    result: *const redcore_pipeline_result,
    index: usize,
    reply_out: *mut *const redcore_reply,
    err_out: *mut *const redcore_error,
) -> ErrorKind {
    guard(ErrorKind::Internal, || {
        // SAFETY: result is NULL or live.
        let Some(result) = (unsafe { result.as_ref() }) else {
            return ErrorKind::InvalidArgument;
        };
        if reply_out.is_null() {
            return ErrorKind::InvalidArgument;
        }
        match result.inner.get(index) {
            None => ErrorKind::InvalidArgument,
            Some(Ok(value)) => {
                // SAFETY: reply_out was checked non-NULL.
                unsafe { *reply_out = handle_of(value) };
                ErrorKind::Ok
            }
            Some(Err(err)) => {
                if let (false, Some(Some(handle))) = (err_out.is_null(), result.errors.get(index)) {
                    // SAFETY: err_out is writable when not NULL.
                    unsafe { *err_out = handle };
                }
                err.kind()
            }
        }
    })
}

/// Frees an owned pipeline result and everything borrowed from it. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_result_free(result: *mut redcore_pipeline_result) {
    guard((), || {
        if !result.is_null() {
            // SAFETY: result came from redcore_client_pipeline_run_blocking, freed once.
            drop(unsafe { Box::from_raw(result) });
        }
    })
}

/// Takes a dedicated connection (waiting up to the configured time for one to be free, then
/// failing with `REDCORE_ERR_MAX_CONNECTIONS`). Writes it to `*dedicated_out`.
///
/// If the connection is lost while the server keeps state of the holder's on it (WATCHed
/// keys, an open MULTI, a SELECT or another change), the commands pending then fail with the
/// connection's error, and the new socket is not used as if it had that state:
/// - with keys watched only, every command fails with `REDCORE_ERR_WATCH` until EXEC or
///   DISCARD (which fail too) or a new WATCH or UNWATCH (which are sent): start again;
/// - inside MULTI, every command fails (`REDCORE_ERR_WATCH` when keys were watched, else
///   `REDCORE_ERR_CONNECTION`) until EXEC or DISCARD, which fails too and ends it;
/// - after SELECT or another change, every command fails with `REDCORE_ERR_CONNECTION` until
///   the connection is released.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_dedicated(
    client: *const redcore_client,
    dedicated_out: *mut *mut redcore_dedicated,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or live.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        if dedicated_out.is_null() {
            return Err(null_arg("dedicated_out"));
        }
        let inner = client.inner.dedicated()?;
        // SAFETY: dedicated_out was checked non-NULL.
        unsafe { *dedicated_out = Box::into_raw(Box::new(redcore_dedicated { inner })) };
        Ok(())
    })
}

/// Sends a command on the dedicated connection and waits for its reply (as
/// `redcore_client_command_blocking`). Any command may be sent except SUBSCRIBE-like commands
/// and MONITOR.
#[no_mangle]
pub unsafe extern "C" fn redcore_dedicated_command_blocking(
    dedicated: *mut redcore_dedicated,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    reply_out: *mut *mut redcore_reply,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: dedicated is NULL or live, used by one thread.
        let d = unsafe { dedicated.as_mut() }.ok_or_else(|| null_arg("dedicated"))?;
        // SAFETY: per the contract.
        unsafe { command_into(argc, argv, argvlen, reply_out, |a| d.inner.command(a)) }
    })
}

/// Sends a command on the dedicated connection asynchronously (as `redcore_client_command`,
/// with the same `err_out`).
#[no_mangle]
pub unsafe extern "C" fn redcore_dedicated_command(
    dedicated: *mut redcore_dedicated,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    callback: redcore_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: dedicated is NULL or live, used by one thread.
        let d = unsafe { dedicated.as_mut() }.ok_or_else(|| null_arg("dedicated"))?;
        let f = callback.ok_or_else(|| null_arg("callback"))?;
        // SAFETY: per the contract.
        unsafe {
            with_args(argc, argv, argvlen, |args| {
                d.inner
                    .submit_raw(args, call_back, [f as usize, userdata as usize])
            })
        }
    })
}

/// Gives a dedicated connection back to the client: an open MULTI is discarded and WATCHes
/// dropped; a connection whose state was otherwise changed (SELECT, CLIENT REPLY, ...) is
/// closed rather than reused. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_dedicated_release(dedicated: *mut redcore_dedicated) {
    guard((), || {
        if !dedicated.is_null() {
            // SAFETY: dedicated came from redcore_client_dedicated, released once.
            drop(unsafe { Box::from_raw(dedicated) });
        }
    })
}
