//! C class `redcore_script`: a Lua script that knows its SHA-1, run by EVALSHA with the
//! NOSCRIPT fallback (blocking or with a callback), loaded on demand, and appended to
//! pipelines (which load the scripts the server lacks before they run).

use std::ffi::CString;
use std::os::raw::{c_char, c_void};

use super::client::{byte_strings, call_back, redcore_callback, redcore_client, redcore_pipeline};
use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::handle::reply_into_raw;
use super::reply::redcore_reply;
use crate::client::pipeline::Views;
use crate::error::Result;
use crate::script::Script;

/// A Lua script and its SHA-1 (computed locally when it is made). Runs by EVALSHA (or
/// EVALSHA_RO); when the server answers NOSCRIPT (after a restart, a failover or SCRIPT
/// FLUSH), it is loaded with SCRIPT LOAD and run again, once. On a cluster client EVALSHA
/// goes to the node of the keys' slot and SCRIPT LOAD to every node.
///
/// Underneath: a `Box`. Immutable, so thread-safe: any number of threads may run it on any
/// number of clients. Free it with `redcore_script_free` (runs in flight are not affected).
pub struct redcore_script {
    inner: Script,
    /// The SHA-1, NUL-terminated for C.
    sha: CString,
}

/// Makes a script of the `len` bytes at `source` (copied) and writes it to `*script_out`.
/// Nothing is sent: a script that does not compile fails when it is first loaded.
#[no_mangle]
pub unsafe extern "C" fn redcore_script_new(
    source: *const c_char,
    len: usize,
    script_out: *mut *mut redcore_script,
) -> crate::ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        if source.is_null() {
            return Err(null_arg("source"));
        }
        if script_out.is_null() {
            return Err(null_arg("script_out"));
        }
        // SAFETY: source is valid for len bytes, per the contract.
        let bytes = unsafe { std::slice::from_raw_parts(source.cast::<u8>(), len) };
        let inner = Script::new(bytes);
        let sha = CString::new(inner.sha()).expect("hex has no NUL");
        // SAFETY: script_out was checked non-NULL.
        unsafe { *script_out = Box::into_raw(Box::new(redcore_script { inner, sha })) };
        Ok(())
    })
}

/// Frees a script. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_script_free(script: *mut redcore_script) {
    guard((), || {
        if !script.is_null() {
            // SAFETY: script came from redcore_script_new and is freed once.
            drop(unsafe { Box::from_raw(script) });
        }
    })
}

/// The script's SHA-1: 40 lowercase hex digits, NUL-terminated, owned by the script. NULL for
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_script_sha(script: *const redcore_script) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: script is NULL or live.
        unsafe { script.as_ref() }.map_or(std::ptr::null(), |s| s.sha.as_ptr())
    })
}

/// What a run of a script reads from its C arguments.
struct Call<'a> {
    script: &'a Script,
    client: &'a crate::client::Client,
    keys: Views<'a>,
    args: Views<'a>,
}

/// The script, client, keys and arguments of a run, or INVALID_ARGUMENT.
///
/// # Safety
/// `script` and `client` are NULL or live for `'a`; `keys` and `args` are as
/// `byte_strings` wants them.
#[allow(clippy::too_many_arguments)]
unsafe fn call_args<'a>(
    script: *const redcore_script,
    client: *const redcore_client,
    numkeys: usize,
    keys: *const *const c_char,
    keylens: *const usize,
    numargs: usize,
    args: *const *const c_char,
    arglens: *const usize,
) -> Result<Call<'a>> {
    // SAFETY: per the contract above.
    let script = unsafe { script.as_ref() }.ok_or_else(|| null_arg("script"))?;
    // SAFETY: per the contract above.
    let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
    Ok(Call {
        script: &script.inner,
        client: &client.inner,
        // SAFETY: per the contract above.
        keys: unsafe { byte_strings(numkeys, keys, keylens) }?,
        // SAFETY: per the contract above.
        args: unsafe { byte_strings(numargs, args, arglens) }?,
    })
}

/// Runs the script on `client` and waits for its reply: `numkeys` keys (`keys[i]` of
/// `keylens[i]` bytes, or NUL-terminated when `keylens` is NULL) and `numargs` arguments
/// (likewise), all copied. `read_only` runs it with EVALSHA_RO (the server refuses writes; a
/// cluster client may read from a replica). On `REDCORE_OK` writes an owned reply to
/// `*reply_out`; a Lua error is `REDCORE_ERR_RESPONSE` with the server's text.
#[no_mangle]
pub unsafe extern "C" fn redcore_script_run_blocking(
    script: *const redcore_script,
    client: *const redcore_client,
    numkeys: usize,
    keys: *const *const c_char,
    keylens: *const usize,
    numargs: usize,
    args: *const *const c_char,
    arglens: *const usize,
    read_only: bool,
    reply_out: *mut *mut redcore_reply,
    err_out: *mut *mut redcore_error,
) -> crate::ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per this function's contract.
        let call = unsafe {
            call_args(
                script, client, numkeys, keys, keylens, numargs, args, arglens,
            )
        }?;
        if reply_out.is_null() {
            return Err(null_arg("reply_out"));
        }
        let (keys, args) = (call.keys.as_slice(), call.args.as_slice());
        let reply = if read_only {
            call.script.run_read_only(call.client, keys, args)
        } else {
            call.script.run(call.client, keys, args)
        }?;
        // SAFETY: reply_out was checked non-NULL.
        unsafe { *reply_out = reply_into_raw(Box::new(reply)) };
        Ok(())
    })
}

/// Runs the script without waiting (arguments as `redcore_script_run_blocking`): on
/// `REDCORE_OK`, `callback` runs exactly once, on one of the client's threads, with the reply
/// or the error (see `redcore_callback`), after the script was loaded and run again if the
/// server answered NOSCRIPT. On any other code it will not run.
#[no_mangle]
pub unsafe extern "C" fn redcore_script_run(
    script: *const redcore_script,
    client: *const redcore_client,
    numkeys: usize,
    keys: *const *const c_char,
    keylens: *const usize,
    numargs: usize,
    args: *const *const c_char,
    arglens: *const usize,
    read_only: bool,
    callback: redcore_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> crate::ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per this function's contract.
        let call = unsafe {
            call_args(
                script, client, numkeys, keys, keylens, numargs, args, arglens,
            )
        }?;
        let f = callback.ok_or_else(|| null_arg("callback"))?;
        let ctx = [f as usize, userdata as usize];
        call.script.submit(
            call.client,
            read_only,
            call.keys.as_slice(),
            call.args.as_slice(),
            move |result| call_back(ctx, result),
        )
    })
}

/// Loads the script into the server's cache (SCRIPT LOAD; on every node of a cluster) and
/// waits; checks that the server names it by the same SHA-1. Useful ahead of a burst of runs;
/// never needed for correctness.
#[no_mangle]
pub unsafe extern "C" fn redcore_script_load_blocking(
    script: *const redcore_script,
    client: *const redcore_client,
    err_out: *mut *mut redcore_error,
) -> crate::ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per this function's contract.
        let script = unsafe { script.as_ref() }.ok_or_else(|| null_arg("script"))?;
        // SAFETY: per this function's contract.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        script.inner.load(&client.inner)
    })
}

/// Appends a run of `script` to `pipeline` (EVALSHA, or EVALSHA_RO when `read_only`; keys and
/// arguments as `redcore_script_run_blocking`, copied). When the pipeline runs, the scripts
/// the server lacks are loaded first; a script flushed between that check and the run still
/// gets `REDCORE_ERR_NO_SCRIPT` in its result.
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_append_script(
    pipeline: *mut redcore_pipeline,
    script: *const redcore_script,
    numkeys: usize,
    keys: *const *const c_char,
    keylens: *const usize,
    numargs: usize,
    args: *const *const c_char,
    arglens: *const usize,
    read_only: bool,
    err_out: *mut *mut redcore_error,
) -> crate::ErrorKind {
    guard_code(err_out, || {
        // SAFETY: pipeline is NULL or live, used by one thread.
        let pipeline = unsafe { pipeline.as_mut() }.ok_or_else(|| null_arg("pipeline"))?;
        // SAFETY: script is NULL or live.
        let script = unsafe { script.as_ref() }.ok_or_else(|| null_arg("script"))?;
        // SAFETY: per this function's contract.
        let keys = unsafe { byte_strings(numkeys, keys, keylens) }?;
        // SAFETY: per this function's contract.
        let args = unsafe { byte_strings(numargs, args, arglens) }?;
        pipeline
            .inner
            .add_script(&script.inner, read_only, keys.as_slice(), args.as_slice())
            .map(|_| ())
    })
}
