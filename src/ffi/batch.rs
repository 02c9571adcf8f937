//! Entry points for bindings that hand over many commands per call. Arguments are laid out
//! flat, one byte buffer and one array of lengths instead of an array of pointers, so a
//! caller whose memory must not hold pointers the library reads (Go's rule for memory passed
//! to C) passes its own buffers as they are; and results go to a `redcore_completion_queue`,
//! taken there in batches, instead of one callback each.
//!
//! The flat layout of `count` commands: command `i` has `argcs[i]` arguments; the lengths of
//! all arguments of all commands follow one another in `arglens`, and their bytes follow one
//! another in `args` (`args_len` bytes in all, the sum of `arglens`).

use std::sync::Arc;

use super::client::{redcore_client, redcore_dedicated, redcore_pipeline_result};
use super::error::redcore_error;
use super::guard::{guard_code, null_arg};
use super::handle::reply_into_raw;
use super::queue::redcore_completion_queue;
use super::queue::{complete_command, complete_pipeline, context, forget_context, Outcome, Queue};
use super::reply::redcore_reply;
use crate::client::pipeline::Views;
use crate::client::{Pipeline, PipelineResult};
use crate::error::{Error, ErrorKind, Result};

/// Commands laid out flat (see the module's documentation), checked for consistency.
struct Flat<'a> {
    argcs: &'a [u32],
    arglens: &'a [usize],
    args: &'a [u8],
}

/// Reads and checks a flat layout of `count` commands.
///
/// # Safety
/// `argcs` holds `count` numbers; `arglens` holds as many lengths as their sum; `args` holds
/// `args_len` bytes. Each may be NULL only when it would hold nothing.
unsafe fn flat<'a>(
    count: usize,
    argcs: *const u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
) -> Result<Flat<'a>> {
    if count == 0 {
        return Err(Error::invalid_argument("count must be at least 1"));
    }
    if argcs.is_null() {
        return Err(null_arg("argcs"));
    }
    // SAFETY: per the contract above.
    let argcs = unsafe { std::slice::from_raw_parts(argcs, count) };
    let mut total_args = 0usize;
    for &argc in argcs {
        if argc == 0 {
            return Err(Error::invalid_argument("every command needs an argument"));
        }
        total_args = total_args
            .checked_add(argc as usize)
            .ok_or_else(|| Error::invalid_argument("too many arguments"))?;
    }
    if arglens.is_null() {
        return Err(null_arg("arglens"));
    }
    // SAFETY: per the contract above.
    let arglens = unsafe { std::slice::from_raw_parts(arglens, total_args) };
    let total_bytes = arglens
        .iter()
        .try_fold(0usize, |sum, &len| sum.checked_add(len));
    if total_bytes != Some(args_len) {
        return Err(Error::invalid_argument(
            "args_len is not the sum of the argument lengths",
        ));
    }
    let args = if args_len == 0 {
        &[][..]
    } else if args.is_null() {
        return Err(null_arg("args"));
    } else {
        // SAFETY: per the contract above.
        unsafe { std::slice::from_raw_parts(args, args_len) }
    };
    Ok(Flat {
        argcs,
        arglens,
        args,
    })
}

impl<'a> Flat<'a> {
    /// Each command's arguments, in order.
    fn commands(&self) -> impl Iterator<Item = Views<'a>> + '_ {
        let mut next_arg = 0usize;
        let mut offset = 0usize;
        self.argcs.iter().map(move |&argc| {
            let first = next_arg;
            next_arg += argc as usize;
            let result: Result<Views<'a>> = Views::try_from_fn(argc as usize, |i| {
                let len = self.arglens[first + i];
                let bytes = &self.args[offset..offset + len];
                offset += len;
                Ok(bytes)
            });
            result.expect("lengths were checked against args_len")
        })
    }
}

/// The queue behind a handle argument.
///
/// # Safety
/// `queue` is NULL or live.
unsafe fn queue_arg<'a>(queue: *const redcore_completion_queue) -> Result<&'a Arc<Queue>> {
    // SAFETY: per the contract above.
    unsafe { queue.as_ref() }
        .map(|q| &q.inner)
        .ok_or_else(|| null_arg("queue"))
}

/// The tokens of a batch.
///
/// # Safety
/// `tokens` is NULL or holds `count` values.
unsafe fn tokens_arg<'a>(tokens: *const usize, count: usize) -> Result<&'a [usize]> {
    if tokens.is_null() {
        return Err(null_arg("tokens"));
    }
    // SAFETY: per the contract above.
    Ok(unsafe { std::slice::from_raw_parts(tokens, count) })
}

/// Reads a batch's queue, tokens and commands, and submits each command with `submit`, its
/// result going to the queue under its token; a command refused at submission gets its
/// error through the queue too.
///
/// # Safety
/// As for `queue_arg`, `tokens_arg` and `flat`.
#[allow(clippy::too_many_arguments)]
unsafe fn submit_each(
    queue: *const redcore_completion_queue,
    count: usize,
    tokens: *const usize,
    argcs: *const u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
    mut submit: impl FnMut(&[&[u8]], [usize; 2]) -> Result<()>,
) -> Result<()> {
    // SAFETY: passed on from the caller.
    let queue = unsafe { queue_arg(queue) }?;
    let commands = unsafe { flat(count, argcs, arglens, args, args_len) }?;
    let tokens = unsafe { tokens_arg(tokens, count) }?;
    for (views, &token) in commands.commands().zip(tokens) {
        let ctx = context(queue, token);
        if let Err(err) = submit(views.as_slice(), ctx) {
            forget_context(ctx);
            queue.push(token, Outcome::Command(Err(err)));
        }
    }
    Ok(())
}

/// Sends `count` commands (flat layout, see above; each copied before this returns) as
/// `redcore_client_command` would, one after the other; command `i`'s result goes to `queue`
/// under `tokens[i]`. On `REDCORE_OK` every token gets exactly one completion there, also
/// for a command refused at once (a state-changing command such as SUBSCRIBE, the client
/// closed): its completion carries that error. Any other code means the batch itself was
/// malformed (NULL pointers, `count` 0, a command without arguments, `args_len` not the sum
/// of `arglens`) and nothing was sent. Thread-safe: any number of threads may submit at once.
/// One call costs the caller one crossing into the library for the whole batch.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_submit_batch(
    client: *const redcore_client,
    queue: *const redcore_completion_queue,
    count: usize,
    tokens: *const usize,
    argcs: *const u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or live; the rest follows this function's contract.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        unsafe {
            submit_each(
                queue,
                count,
                tokens,
                argcs,
                arglens,
                args,
                args_len,
                |a, ctx| client.inner.submit_raw(a, complete_command, ctx),
            )
        }
    })
}

/// `redcore_client_cancel` for commands sent with `redcore_client_submit_batch`: cancels the
/// blocking command whose result is to go to `queue` under `token`, if it is still pending
/// on a dedicated connection or waiting for one. Its completion then comes, soon, with
/// `REDCORE_ERR_CANCELLED`; the same exceptions and the same loss apply. Writes how many
/// were cancelled (0 or 1) to `*cancelled_out` when not NULL: with 0, the completion comes
/// as it would have (it may be in the queue already). A token is the caller's to reuse once
/// its completion is taken: cancel only a token whose completion has not been taken yet.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_cancel_queued(
    client: *const redcore_client,
    queue: *const redcore_completion_queue,
    token: usize,
    cancelled_out: *mut usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client and queue are NULL or live.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let queue = unsafe { queue_arg(queue) }?;
        let n = client
            .inner
            .cancel_raw(complete_command, [Arc::as_ptr(queue) as usize, token])?;
        if !cancelled_out.is_null() {
            // SAFETY: a non-NULL cancelled_out points to a writable size_t.
            unsafe { *cancelled_out = n };
        }
        Ok(())
    })
}

/// `redcore_client_submit_batch` on a dedicated connection (the commands go out in order on
/// it). Same rules as `redcore_dedicated_command`: use the dedicated connection from one
/// thread at a time.
#[no_mangle]
pub unsafe extern "C" fn redcore_dedicated_submit_batch(
    dedicated: *mut redcore_dedicated,
    queue: *const redcore_completion_queue,
    count: usize,
    tokens: *const usize,
    argcs: *const u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: dedicated is NULL or live; the rest follows this function's contract.
        let dedicated = unsafe { dedicated.as_mut() }.ok_or_else(|| null_arg("dedicated"))?;
        unsafe {
            submit_each(
                queue,
                count,
                tokens,
                argcs,
                arglens,
                args,
                args_len,
                |a, ctx| dedicated.inner.submit_raw(a, complete_command, ctx),
            )
        }
    })
}

/// Runs `count` commands (flat layout, see above; copied before this returns) between MULTI
/// and EXEC on the dedicated connection, after what was sent on it before (the WATCHes and
/// reads of an optimistic transaction); the results arrive as one completion on `queue`
/// under `token`, whose `pipeline` holds one result per command, as for
/// `redcore_client_submit_pipeline` with `transaction` true (EXEC answered nil because a
/// watched key changed: each has `REDCORE_ERR_WATCH`). `count` may be 0: MULTI and EXEC
/// alone, which still tell whether a watched key changed; such a transaction completes with
/// the error that stopped it (`REDCORE_ERR_WATCH`, ...) in place of its empty results.
///
/// All or nothing: on any code but `REDCORE_OK` nothing was sent, no completion will come and
/// the reason is in `*err_out`: a malformed batch, a command a transaction refuses (WATCH,
/// MULTI, SUBSCRIBE, ...: `REDCORE_ERR_INVALID_ARGUMENT`), on a cluster client keys of
/// several slots or of a slot the connection does not serve
/// (`REDCORE_ERR_CROSS_SLOT_TRANSACTION`), or a connection lost while it watched keys
/// (`REDCORE_ERR_WATCH`: start again). A cluster client's dedicated connection not taken yet
/// is taken on the slot of the first command with keys. Same rules as
/// `redcore_dedicated_command`: use the dedicated connection from one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn redcore_dedicated_submit_transaction(
    dedicated: *mut redcore_dedicated,
    queue: *const redcore_completion_queue,
    token: usize,
    count: usize,
    argcs: *const u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: dedicated and queue are NULL or live; the arrays follow the flat contract.
        let dedicated = unsafe { dedicated.as_mut() }.ok_or_else(|| null_arg("dedicated"))?;
        let queue = unsafe { queue_arg(queue) }?;
        let commands = if count == 0 && args_len == 0 {
            Flat {
                argcs: &[],
                arglens: &[],
                args: &[],
            }
        } else {
            unsafe { flat(count, argcs, arglens, args, args_len) }?
        };
        let views: Vec<Views<'_>> = commands.commands().collect();
        let slices: Vec<&[&[u8]]> = views.iter().map(Views::as_slice).collect();
        let ctx = context(queue, token);
        dedicated
            .inner
            .submit_transaction_raw(&slices, complete_transaction, ctx)
            .inspect_err(|_| forget_context(ctx))
    })
}

/// `complete_pipeline` for a transaction: one of no command completes with the error that
/// stopped it, if any, since it has no result to carry it.
fn complete_transaction(ctx: [usize; 2], result: PipelineResult) {
    match result.failure() {
        Some(err) if result.is_empty() => complete_command(ctx, Err(err.clone())),
        _ => complete_pipeline(ctx, result),
    }
}

/// Builds a pipeline (a transaction when `transaction` is true) from `count` commands in the
/// flat layout.
fn pipeline_of(transaction: bool, commands: &Flat<'_>) -> Result<Pipeline> {
    let mut pipeline = if transaction {
        Pipeline::transaction()
    } else {
        Pipeline::new()
    };
    for views in commands.commands() {
        pipeline.add(views.as_slice())?;
    }
    Ok(pipeline)
}

/// Runs `count` commands (flat layout, copied) as one pipeline, or as a MULTI / EXEC
/// transaction when `transaction` is true, like `redcore_client_pipeline_run`; the results
/// arrive as one completion on `queue` under `token`, whose `pipeline` holds them. On any
/// code but `REDCORE_OK` no completion will come and the reason is in `*err_out`: a malformed
/// batch, or a command a pipeline refuses (WATCH, SUBSCRIBE, ...:
/// `REDCORE_ERR_INVALID_ARGUMENT`).
#[no_mangle]
pub unsafe extern "C" fn redcore_client_submit_pipeline(
    client: *const redcore_client,
    queue: *const redcore_completion_queue,
    token: usize,
    transaction: bool,
    count: usize,
    argcs: *const u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client and queue are NULL or live; the arrays follow the flat contract.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let queue = unsafe { queue_arg(queue) }?;
        let commands = unsafe { flat(count, argcs, arglens, args, args_len) }?;
        let pipeline = pipeline_of(transaction, &commands)?;
        let ctx = context(queue, token);
        client
            .inner
            .submit_pipeline_raw(&pipeline, complete_pipeline, ctx)
            .inspect_err(|_| forget_context(ctx))
    })
}

/// `redcore_client_command_blocking` with the arguments laid out flat: `argc` arguments whose
/// lengths are `arglens[0..argc]` and whose bytes follow one another in `args` (`args_len`
/// bytes). On `REDCORE_OK` writes an owned reply to `*reply_out` (free it with
/// `redcore_reply_free`).
#[no_mangle]
pub unsafe extern "C" fn redcore_client_command_flat_blocking(
    client: *const redcore_client,
    argc: u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
    reply_out: *mut *mut redcore_reply,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or live; the arrays follow the flat contract for 1 command.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        if reply_out.is_null() {
            return Err(null_arg("reply_out"));
        }
        let commands = unsafe { flat(1, &argc, arglens, args, args_len) }?;
        let views = commands.commands().next().expect("one command");
        let reply = client.inner.command(views.as_slice())?;
        // SAFETY: reply_out was checked non-NULL.
        unsafe { *reply_out = reply_into_raw(Box::new(reply)) };
        Ok(())
    })
}

/// `redcore_client_pipeline_run_blocking` for `count` commands in the flat layout, a
/// transaction when `transaction` is true. On `REDCORE_OK` writes an owned result to
/// `*result_out` (free it with `redcore_pipeline_result_free`).
#[no_mangle]
pub unsafe extern "C" fn redcore_client_pipeline_flat_blocking(
    client: *const redcore_client,
    transaction: bool,
    count: usize,
    argcs: *const u32,
    arglens: *const usize,
    args: *const u8,
    args_len: usize,
    result_out: *mut *mut redcore_pipeline_result,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or live; the arrays follow the flat contract.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        if result_out.is_null() {
            return Err(null_arg("result_out"));
        }
        let commands = unsafe { flat(count, argcs, arglens, args, args_len) }?;
        let pipeline = pipeline_of(transaction, &commands)?;
        let result = client.inner.run_pipeline(&pipeline)?;
        let boxed = Box::new(redcore_pipeline_result::new(result));
        // SAFETY: result_out was checked non-NULL.
        unsafe { *result_out = Box::into_raw(boxed) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_layouts_are_checked_and_split() {
        let argcs = [2u32, 1];
        let lens = [3usize, 1, 4];
        let bytes = b"GETkPING";
        let ok = unsafe { flat(2, argcs.as_ptr(), lens.as_ptr(), bytes.as_ptr(), 8) }.unwrap();
        let commands: Vec<Vec<Vec<u8>>> = ok
            .commands()
            .map(|v| v.as_slice().iter().map(|a| a.to_vec()).collect())
            .collect();
        assert_eq!(
            commands,
            vec![vec![b"GET".to_vec(), b"k".to_vec()], vec![b"PING".to_vec()]]
        );
        let short = unsafe { flat(2, argcs.as_ptr(), lens.as_ptr(), bytes.as_ptr(), 7) };
        assert_eq!(short.err().unwrap().kind(), ErrorKind::InvalidArgument);
        let empty = [0u32];
        let none = unsafe { flat(1, empty.as_ptr(), lens.as_ptr(), bytes.as_ptr(), 0) };
        assert_eq!(none.err().unwrap().kind(), ErrorKind::InvalidArgument);
        let zero = unsafe { flat(0, argcs.as_ptr(), lens.as_ptr(), bytes.as_ptr(), 8) };
        assert_eq!(zero.err().unwrap().kind(), ErrorKind::InvalidArgument);
    }
}
