//! C class `redcore_transaction`: the transaction helper (WATCH, the caller's function reading
//! and queueing, MULTI / EXEC, and again while a watched key changed), with one attempt lent
//! to the caller's function.

use std::os::raw::{c_char, c_int, c_void};
use std::ptr::NonNull;

use super::client::{
    byte_strings, command_into, redcore_client, redcore_pipeline_result, with_args,
};
use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::reply::redcore_reply;
use crate::client::Transaction;
use crate::error::{Error, ErrorKind, Result};

/// One attempt of a transaction, lent to a `redcore_transaction_fn` for the length of the
/// call: run commands now on the watching connection (`redcore_transaction_command_blocking`)
/// and queue the ones to run in MULTI / EXEC (`redcore_transaction_queue`). Not
/// thread-safe: use it from the function's own thread, and never after it returns.
pub struct redcore_transaction {
    tx: NonNull<Transaction<'static>>,
}

/// The caller's part of a transaction: reads what it needs through `tx`, queues the commands
/// to run, and returns `REDCORE_OK` (0) to send them (MULTI / EXEC), `REDCORE_ERR_WATCH` to
/// start the next attempt (what a read through `tx` fails with when the watching connection
/// was lost), or any other `redcore_error_code` to stop (`redcore_client_transaction` then
/// returns that code; a number that is no code becomes `REDCORE_ERR_INVALID_ARGUMENT`). Runs on the thread that called
/// `redcore_client_transaction`, once per attempt.
pub type redcore_transaction_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, tx: *mut redcore_transaction) -> c_int>;

/// Runs a transaction the way redis-py's `transaction()` does: takes a dedicated connection,
/// WATCHes the `nwatch` keys (`watch[i]` of `watchlens[i]` bytes, or NUL-terminated when
/// `watchlens` is NULL), calls `fn`, sends what it queued between MULTI and EXEC in one
/// write, and starts again (WATCH, `fn`, EXEC) while EXEC answers nil because a watched key
/// changed (or the connection was lost while it watched them, before EXEC was sent), at most
/// `attempts` times; after that it fails with `REDCORE_ERR_WATCH`. On
/// `REDCORE_OK` writes EXEC's results to `*result_out` (owned; free with
/// `redcore_pipeline_result_free`): on EXECABORT each command has its own queueing error or
/// `REDCORE_ERR_EXEC_ABORT`, and errors inside EXEC's reply stay at their positions. On a
/// cluster client every key must share the first watched key's slot
/// (`REDCORE_ERR_CROSS_SLOT_TRANSACTION`).
#[no_mangle]
pub unsafe extern "C" fn redcore_client_transaction(
    client: *const redcore_client,
    nwatch: usize,
    watch: *const *const c_char,
    watchlens: *const usize,
    attempts: u32,
    function: redcore_transaction_fn,
    userdata: *mut c_void,
    result_out: *mut *mut redcore_pipeline_result,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let function = function.ok_or_else(|| null_arg("fn"))?;
        if result_out.is_null() {
            return Err(null_arg("result_out"));
        }
        // SAFETY: per this function's contract.
        let keys = unsafe { byte_strings(nwatch, watch, watchlens) }?;
        let (_, result) = client.inner.transaction(keys.as_slice(), attempts, |tx| {
            let mut lent = redcore_transaction {
                tx: NonNull::from(tx).cast(),
            };
            // SAFETY: the C function follows its contract; `lent` outlives the call.
            match unsafe { function(userdata, &mut lent) } {
                0 => Ok(()),
                n => {
                    let code = ErrorKind::from_code(n.into()).unwrap_or(ErrorKind::InvalidArgument);
                    Err(Error::new(
                        code,
                        format!("the transaction's function returned {n} ({})", code.name()),
                    ))
                }
            }
        })?;
        let boxed = Box::new(redcore_pipeline_result::new(result));
        // SAFETY: result_out was checked non-NULL.
        unsafe { *result_out = Box::into_raw(boxed) };
        Ok(())
    })
}

/// The attempt behind a handle, or INVALID_ARGUMENT.
///
/// # Safety
/// `tx` is NULL or a handle lent to the running `redcore_transaction_fn`.
unsafe fn attempt_arg<'a>(tx: *mut redcore_transaction) -> Result<&'a mut Transaction<'a>> {
    // SAFETY: per the contract above: the lent Transaction lives until the function returns.
    let tx = unsafe { tx.as_mut() }.ok_or_else(|| null_arg("tx"))?;
    // SAFETY: as above; the lifetime was erased when lending and is restored to the call's.
    Ok(unsafe { tx.tx.cast::<Transaction<'a>>().as_mut() })
}

/// Runs a command now on the watching connection and waits for its reply (arguments and
/// results as `redcore_client_command_blocking`): the reads that decide what to queue. MULTI,
/// EXEC and DISCARD are refused (`REDCORE_ERR_INVALID_ARGUMENT`): the helper sends them.
/// When the watching connection is lost, also under a command in flight, the command fails
/// with `REDCORE_ERR_WATCH`: return it from the function to start the next attempt.
#[no_mangle]
pub unsafe extern "C" fn redcore_transaction_command_blocking(
    tx: *mut redcore_transaction,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    reply_out: *mut *mut redcore_reply,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per this function's contract.
        let tx = unsafe { attempt_arg(tx) }?;
        // SAFETY: per this function's contract.
        unsafe { command_into(argc, argv, argvlen, reply_out, |a| tx.command(a)) }
    })
}

/// Queues a command (arguments as `redcore_client_command`, copied) to run between MULTI and
/// EXEC when the function returns `REDCORE_OK`.
#[no_mangle]
pub unsafe extern "C" fn redcore_transaction_queue(
    tx: *mut redcore_transaction,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per this function's contract.
        let tx = unsafe { attempt_arg(tx) }?;
        // SAFETY: per this function's contract.
        unsafe { with_args(argc, argv, argvlen, |args| tx.queue(args)) }
    })
}

/// Which attempt this is, from 1 (0 for NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_transaction_attempt(tx: *mut redcore_transaction) -> u32 {
    guard(0, || {
        // SAFETY: tx is NULL or lent to the running function.
        unsafe { attempt_arg(tx) }.map_or(0, |tx| tx.attempt())
    })
}
