//! C classes `redcore_lock_options` (a lock's settings) and `redcore_lock` (a distributed lock
//! on a client: acquire, release, extend, reacquire, locked, owned, each blocking or with a
//! callback; fencing tokens; auto-extension).

use std::os::raw::{c_char, c_void};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use super::client::redcore_client;
use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::userdata::{redcore_userdata_free, Userdata};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::lock::{AutoExtend, Lock, LockOptions, LostHandler};

/// A lock's settings, copied by `redcore_lock_new` (so they may be freed right after).
/// Defaults: no TTL, 100 ms between attempts, blocking without a time limit, no
/// auto-extension. Underneath: a `Box`; not thread-safe while being modified.
pub struct redcore_lock_options {
    inner: LockOptions,
}

/// A distributed lock on one key of a client, with redis-py's `Lock` semantics (see the
/// README, "Locks", for what it guarantees).
///
/// Underneath: a `Box` owning the lock, which points at its client: free every lock before
/// its client. Thread-safe: any thread may call any function on it. One lock is one holder
/// (one token): give each thread that competes for the key its own lock.
///
/// The callback forms run on the lock's own thread, started by the first of them (or by an
/// auto-extending acquire) and joined by `redcore_lock_free`; operations run there one at a
/// time, in the order they were asked for.
pub struct redcore_lock {
    inner: Lock<ClientRef>,
    /// The fencing counter's key, NUL-terminated for C.
    fence_key: Vec<u8>,
}

/// The client behind a C lock. Valid while the lock lives: the caller frees locks before
/// their client, and `redcore_lock_free` joins the lock's thread, the only other user.
#[derive(Clone, Copy)]
struct ClientRef(NonNull<Client>);

// SAFETY: `Client` is Send + Sync; the pointer is only read through `&Client`.
unsafe impl Send for ClientRef {}
// SAFETY: as above.
unsafe impl Sync for ClientRef {}

impl std::ops::Deref for ClientRef {
    type Target = Client;

    fn deref(&self) -> &Client {
        // SAFETY: the client outlives the lock (see the type's doc).
        unsafe { self.0.as_ref() }
    }
}

/// The callback of an asynchronous lock operation. Runs exactly once, on the lock's thread,
/// when the operation is done; `err` is NULL on success, else the error (borrowed until the
/// callback returns), e.g. `REDCORE_ERR_LOCK_NOT_OWNED`, or `REDCORE_ERR_CLOSED` when the lock
/// was freed before the operation ran. `result` is what the blocking form writes to its
/// `bool` output: acquired (with its `fence`, else 0), locked or owned; true for release,
/// extend and reacquire when they succeed. It may call any lock function, blocking ones
/// included, and may free this lock.
pub type redcore_lock_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        result: bool,
        fence: u64,
        err: *const redcore_error,
    ),
>;

/// Called when auto-extension loses a held lock, at most once per acquisition, on the lock's
/// thread: `err` (borrowed until it returns) is `REDCORE_ERR_LOCK_NOT_OWNED` when the key was
/// deleted or taken over, or the last attempt's error (`REDCORE_ERR_TIMEOUT`,
/// `REDCORE_ERR_CONNECTION`, ...) when extensions failed until the TTL could have run out.
pub type redcore_lock_lost_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, err: *const redcore_error)>;

/// Writes new default lock options to `*out` (free them with `redcore_lock_options_free`).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_options_new(
    out: *mut *mut redcore_lock_options,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        if out.is_null() {
            return Err(null_arg("out"));
        }
        let boxed = Box::new(redcore_lock_options {
            inner: LockOptions::default(),
        });
        // SAFETY: out was checked non-NULL and is writable, per the contract.
        unsafe { *out = Box::into_raw(boxed) };
        Ok(())
    })
}

/// Frees lock options (and, through `userdata_free`, an auto-extension callback's userdata
/// that no lock holds any more). NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_options_free(options: *mut redcore_lock_options) {
    guard((), || {
        if !options.is_null() {
            // SAFETY: options came from redcore_lock_options_new and is freed once.
            drop(unsafe { Box::from_raw(options) });
        }
    })
}

/// Applies `change` to the options behind `options`.
///
/// # Safety
/// `options` is NULL or live lock options used by this thread only.
unsafe fn edit(
    options: *mut redcore_lock_options,
    change: impl FnOnce(&mut LockOptions),
) -> Result<()> {
    // SAFETY: per the contract above.
    let options = unsafe { options.as_mut() }.ok_or_else(|| null_arg("options"))?;
    change(&mut options.inner);
    Ok(())
}

/// Sets the lock key's TTL in ms: the longest a holder keeps the lock without extending it.
/// 0: no TTL (a holder that dies keeps the lock forever).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_options_set_timeout_ms(
    options: *mut redcore_lock_options,
    ttl_ms: u64,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: options is NULL or live, used by this thread only.
        unsafe {
            edit(options, |o| {
                o.timeout = (ttl_ms != 0).then(|| Duration::from_millis(ttl_ms))
            })
        }
    })
}

/// Sets the wait between attempts of a blocking acquire, in ms (default 100).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_options_set_sleep_ms(
    options: *mut redcore_lock_options,
    sleep_ms: u64,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: options is NULL or live, used by this thread only.
        unsafe { edit(options, |o| o.sleep = Duration::from_millis(sleep_ms)) }
    })
}

/// Sets how acquire waits: with `blocking` false it tries once and reports "not acquired"
/// at once; with `blocking` true it tries every sleep until it gets the lock, giving up when
/// the next try would come after `blocking_timeout_ms` (negative: never gives up).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_options_set_blocking(
    options: *mut redcore_lock_options,
    blocking: bool,
    blocking_timeout_ms: i64,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: options is NULL or live, used by this thread only.
        unsafe {
            edit(options, |o| {
                o.blocking = blocking;
                o.blocking_timeout = u64::try_from(blocking_timeout_ms)
                    .ok()
                    .map(Duration::from_millis);
            })
        }
    })
}

/// Turns auto-extension on (`share_percent` 1 to 99) or off (0): while a lock made with these
/// options is held, its TTL is reset to the timeout every `share_percent` percent of the
/// TTL (33: three tries per TTL), on the lock's thread, until release or free. `lost` (may be
/// NULL) is told when the lock is lost (see `redcore_lock_lost_callback`). The library keeps
/// `userdata` for as long as these options or a lock made from them lives, then calls
/// `userdata_free` (may be NULL) once; with 0, or on an error, it is released at once.
/// Needs a timeout (checked by `redcore_lock_new`). `REDCORE_ERR_INVALID_ARGUMENT` for a NULL
/// `options` or a share above 99.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_options_set_auto_extend(
    options: *mut redcore_lock_options,
    share_percent: u32,
    lost: redcore_lock_lost_callback,
    userdata: *mut c_void,
    userdata_free: redcore_userdata_free,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let data = Userdata::new(userdata, userdata_free);
        if share_percent > 99 {
            return Err(Error::invalid_argument(format!(
                "share_percent must be 0 to 99, not {share_percent}"
            )));
        }
        let auto = (share_percent != 0).then(|| AutoExtend {
            share: f64::from(share_percent) / 100.0,
            on_lost: lost.map(|f| {
                Arc::new(move |err: &Error| {
                    let err = redcore_error::new(err.clone());
                    // SAFETY: the C function follows its contract; err lives until it returns.
                    unsafe { f(data.get(), &err) }
                }) as LostHandler
            }),
        });
        // SAFETY: options is NULL or live, used by this thread only.
        unsafe { edit(options, |o| o.auto_extend = auto) }
    })
}

/// Makes a lock on the key of `name_len` bytes at `name` (copied), through `client`, with
/// `options` (copied; NULL for the defaults), and writes it to `*lock_out`. No command is
/// sent. `REDCORE_ERR_INVALID_ARGUMENT` for NULL arguments, an empty name, a name with a `}`
/// but no hash tag (its fencing counter could not share its cluster slot), or options that
/// cannot work together (auto-extension without a timeout).
///
/// The client must outlive the lock: free the lock first.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_new(
    client: *const redcore_client,
    name: *const c_char,
    name_len: usize,
    options: *const redcore_lock_options,
    lock_out: *mut *mut redcore_lock,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or a live client.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        if name.is_null() {
            return Err(null_arg("name"));
        }
        if lock_out.is_null() {
            return Err(null_arg("lock_out"));
        }
        // SAFETY: name is valid for name_len bytes, per the contract.
        let name = unsafe { std::slice::from_raw_parts(name.cast::<u8>(), name_len) };
        // SAFETY: options is NULL or live.
        let options =
            unsafe { options.as_ref() }.map_or_else(LockOptions::default, |o| o.inner.clone());
        let inner = Lock::new(ClientRef(NonNull::from(&client.inner)), name, options)?;
        let mut fence_key = inner.fence_key().to_vec();
        fence_key.push(0);
        let boxed = Box::new(redcore_lock { inner, fence_key });
        // SAFETY: lock_out was checked non-NULL.
        unsafe { *lock_out = Box::into_raw(boxed) };
        Ok(())
    })
}

/// Frees a lock: stops its auto-extension and its thread; an operation in progress finishes
/// (a blocking acquire's wait is cut short with `REDCORE_ERR_CLOSED`) and those still queued
/// complete with `REDCORE_ERR_CLOSED`, their callbacks running before this returns; after
/// that the lock never touches its client again. It does not release a held lock: the key
/// stays until its TTL runs out. May be called from the lock's own callbacks (then the
/// queued ones complete right after that callback returns); not from a client callback
/// (`redcore_callback`), whose thread the lock's thread may be waiting for. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_free(lock: *mut redcore_lock) {
    guard((), || {
        if !lock.is_null() {
            // SAFETY: lock came from redcore_lock_new and is freed once.
            drop(unsafe { Box::from_raw(lock) });
        }
    })
}

/// The key of the lock's fencing counter (see the README: in the lock's cluster slot; never
/// expires): writes a pointer to its bytes (NUL-terminated, owned by the lock) and its length.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_fence_key(
    lock: *const redcore_lock,
    key_out: *mut *const c_char,
    len_out: *mut usize,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: lock is NULL or live.
        let lock = unsafe { lock.as_ref() }.ok_or_else(|| null_arg("lock"))?;
        if key_out.is_null() || len_out.is_null() {
            return Err(null_arg("key_out or len_out"));
        }
        // SAFETY: both were checked non-NULL.
        unsafe {
            *key_out = lock.fence_key.as_ptr().cast();
            *len_out = lock.fence_key.len() - 1;
        }
        Ok(())
    })
}

/// The fencing token of the lock's current holding (what its last successful acquire
/// returned, until release); 0 when it holds nothing (tokens start at 1) or `lock` is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_fence(lock: *const redcore_lock) -> u64 {
    guard(0, || {
        // SAFETY: lock is NULL or live.
        unsafe { lock.as_ref() }
            .and_then(|l| l.inner.fence())
            .unwrap_or(0)
    })
}

/// Reads the optional token argument: NULL for a fresh random token.
///
/// # Safety
/// `token` is NULL or valid for `token_len` bytes.
unsafe fn token_arg(token: *const c_char, token_len: usize) -> Option<Vec<u8>> {
    if token.is_null() {
        return None;
    }
    // SAFETY: per the contract above.
    Some(unsafe { std::slice::from_raw_parts(token.cast::<u8>(), token_len) }.to_vec())
}

/// The lock behind a handle, or INVALID_ARGUMENT.
///
/// # Safety
/// `lock` is NULL or live for `'a`.
unsafe fn lock_arg<'a>(lock: *const redcore_lock) -> Result<&'a Lock<ClientRef>> {
    // SAFETY: per the contract above.
    unsafe { lock.as_ref() }
        .map(|l| &l.inner)
        .ok_or_else(|| null_arg("lock"))
}

/// Writes `value` to `out` when it is not NULL.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: per the contract above.
        unsafe { *out = value };
    }
}

/// Acquires the lock on the calling thread, as the lock's options say (blocking or not, the
/// sleep, the blocking timeout). `token` (`token_len` bytes, copied) is stored in the key;
/// NULL for 16 fresh random bytes from the kernel as 32 hex digits. On `REDCORE_OK` writes
/// whether it was acquired to `*acquired_out` and, when `fence_out` is not NULL, the fencing
/// token to `*fence_out` (0 when not acquired): a number greater than every earlier
/// acquisition's of this name, to pass to the resource the lock guards. Not acquiring (a
/// non-blocking try, or the blocking timeout) is `REDCORE_OK` with false, not an error.
/// Not from inside a client callback (`REDCORE_ERR_INVALID_ARGUMENT`).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_acquire_blocking(
    lock: *const redcore_lock,
    token: *const c_char,
    token_len: usize,
    acquired_out: *mut bool,
    fence_out: *mut u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: lock is NULL or live.
        let lock = unsafe { lock_arg(lock) }?;
        if acquired_out.is_null() {
            return Err(null_arg("acquired_out"));
        }
        let mut options = lock.acquire_options();
        // SAFETY: per this function's contract.
        options.token = unsafe { token_arg(token, token_len) };
        let fence = lock.acquire_with(&options)?;
        // SAFETY: acquired_out was checked; fence_out is NULL or writable.
        unsafe {
            *acquired_out = fence.is_some();
            put(fence_out, fence.unwrap_or(0));
        }
        Ok(())
    })
}

/// Releases the lock: deletes the key if it still holds this lock's token.
/// `REDCORE_ERR_LOCK` when this lock holds nothing (never acquired, or released);
/// `REDCORE_ERR_LOCK_NOT_OWNED` when the key expired or holds another token. Either way the
/// lock holds nothing afterwards (and its auto-extension has stopped).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_release_blocking(
    lock: *const redcore_lock,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: lock is NULL or live.
        unsafe { lock_arg(lock) }?.release()
    })
}

/// Adds `additional_ms` to the lock's remaining TTL, or makes it the TTL when `replace_ttl`.
/// `REDCORE_ERR_LOCK` when this lock holds nothing or has no timeout;
/// `REDCORE_ERR_LOCK_NOT_OWNED` when the token no longer matches (or the key lost its TTL).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_extend_blocking(
    lock: *const redcore_lock,
    additional_ms: u64,
    replace_ttl: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: lock is NULL or live.
        unsafe { lock_arg(lock) }?.extend(Duration::from_millis(additional_ms), replace_ttl)
    })
}

/// Resets the lock's TTL to its timeout. `REDCORE_ERR_LOCK` when this lock holds nothing or
/// has no timeout; `REDCORE_ERR_LOCK_NOT_OWNED` when the token no longer matches.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_reacquire_blocking(
    lock: *const redcore_lock,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: lock is NULL or live.
        unsafe { lock_arg(lock) }?.reacquire()
    })
}

/// Writes to `*locked_out` whether anyone holds the lock (the key exists).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_locked_blocking(
    lock: *const redcore_lock,
    locked_out: *mut bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe { answer(lock, locked_out, "locked_out", err_out, Lock::locked) }
}

/// Writes to `*owned_out` whether the key holds this lock's token.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_owned_blocking(
    lock: *const redcore_lock,
    owned_out: *mut bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe { answer(lock, owned_out, "owned_out", err_out, Lock::owned) }
}

/// The body of the yes-or-no questions: asks `question` and writes the answer to `out`.
///
/// # Safety
/// `lock` is NULL or live; `out` is NULL or writable; `err_out` as everywhere.
unsafe fn answer(
    lock: *const redcore_lock,
    out: *mut bool,
    out_name: &str,
    err_out: *mut *mut redcore_error,
    question: fn(&Lock<ClientRef>) -> Result<bool>,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per the contract above.
        let lock = unsafe { lock_arg(lock) }?;
        if out.is_null() {
            return Err(null_arg(out_name));
        }
        let yes = question(lock)?;
        // SAFETY: checked non-NULL.
        unsafe { *out = yes };
        Ok(())
    })
}

/// A C lock callback as a Rust closure: called once with the outcome.
type Done = Box<dyn FnOnce(Result<(bool, u64)>) + Send>;

/// The body of the callback forms: checks the arguments, wraps the callback and hands both to
/// `start`, which queues the operation.
///
/// # Safety
/// `lock` is NULL or live; `err_out` as everywhere.
unsafe fn start_async(
    lock: *const redcore_lock,
    callback: redcore_lock_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
    start: impl FnOnce(&Lock<ClientRef>, Done) -> Result<()>,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: per the contract above.
        let lock = unsafe { lock_arg(lock) }?;
        let f = callback.ok_or_else(|| null_arg("callback"))?;
        let data = Userdata::new(userdata, None);
        start(lock, Box::new(move |outcome| call_back(f, &data, outcome)))
    })
}

/// Calls a C lock callback with an outcome.
fn call_back(
    f: unsafe extern "C" fn(*mut c_void, bool, u64, *const redcore_error),
    userdata: &Userdata,
    outcome: Result<(bool, u64)>,
) {
    match outcome {
        // SAFETY: the C function follows its contract.
        Ok((result, fence)) => unsafe { f(userdata.get(), result, fence, std::ptr::null()) },
        Err(err) => {
            let err = redcore_error::new(err);
            // SAFETY: as above; err lives until the call returns.
            unsafe { f(userdata.get(), false, 0, &err) }
        }
    }
}

/// The outcome of an operation that only succeeds or fails.
fn done_ok(r: Result<()>) -> Result<(bool, u64)> {
    r.map(|()| (true, 0))
}

/// `redcore_lock_acquire_blocking` on the lock's thread: `callback` runs once there with
/// acquired (`result`) and the fencing token (see `redcore_lock_callback`). On any code but
/// `REDCORE_OK` (NULL argument, the thread cannot start) it will not run. `token` is copied.
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_acquire(
    lock: *const redcore_lock,
    token: *const c_char,
    token_len: usize,
    callback: redcore_lock_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    let token = unsafe { token_arg(token, token_len) };
    // SAFETY: per this function's contract.
    unsafe {
        start_async(lock, callback, userdata, err_out, |lock, done| {
            let mut options = lock.acquire_options();
            options.token = token;
            lock.acquire_async(options, move |r| {
                done(r.map(|fence| (fence.is_some(), fence.unwrap_or(0))))
            })
        })
    }
}

/// `redcore_lock_release_blocking` on the lock's thread (as `redcore_lock_acquire`).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_release(
    lock: *const redcore_lock,
    callback: redcore_lock_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        start_async(lock, callback, userdata, err_out, |lock, done| {
            lock.release_async(move |r| done(done_ok(r)))
        })
    }
}

/// `redcore_lock_extend_blocking` on the lock's thread (as `redcore_lock_acquire`).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_extend(
    lock: *const redcore_lock,
    additional_ms: u64,
    replace_ttl: bool,
    callback: redcore_lock_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    let additional = Duration::from_millis(additional_ms);
    // SAFETY: per this function's contract.
    unsafe {
        start_async(lock, callback, userdata, err_out, |lock, done| {
            lock.extend_async(additional, replace_ttl, move |r| done(done_ok(r)))
        })
    }
}

/// `redcore_lock_reacquire_blocking` on the lock's thread (as `redcore_lock_acquire`).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_reacquire(
    lock: *const redcore_lock,
    callback: redcore_lock_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        start_async(lock, callback, userdata, err_out, |lock, done| {
            lock.reacquire_async(move |r| done(done_ok(r)))
        })
    }
}

/// `redcore_lock_locked_blocking` on the lock's thread (as `redcore_lock_acquire`; `result`
/// is locked).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_locked(
    lock: *const redcore_lock,
    callback: redcore_lock_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        start_async(lock, callback, userdata, err_out, |lock, done| {
            lock.locked_async(move |r| done(r.map(|locked| (locked, 0))))
        })
    }
}

/// `redcore_lock_owned_blocking` on the lock's thread (as `redcore_lock_acquire`; `result`
/// is owned).
#[no_mangle]
pub unsafe extern "C" fn redcore_lock_owned(
    lock: *const redcore_lock,
    callback: redcore_lock_callback,
    userdata: *mut c_void,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    // SAFETY: per this function's contract.
    unsafe {
        start_async(lock, callback, userdata, err_out, |lock, done| {
            lock.owned_async(move |r| done(r.map(|owned| (owned, 0))))
        })
    }
}
