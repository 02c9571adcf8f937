//! The guard every `extern "C"` body runs in: a panic becomes a return value (INTERNAL, NULL,
//! or a neutral value) instead of unwinding into C, and error out-parameters are filled in one
//! place. Also the checks on C string arguments (NULL, UTF-8).

use std::ffi::CStr;
use std::os::raw::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error::{redcore_error, store_error};
use crate::error::{Error, ErrorKind};

/// Runs `f`, returning `on_panic` if it panics.
pub(crate) fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// Runs `f` for a function that returns a `redcore_error_code` and may fill `*err_out`.
/// A panic becomes `INTERNAL`; an `Err` is stored in `err_out` (when not NULL) and its code
/// returned.
pub(crate) fn guard_code(
    err_out: *mut *mut redcore_error,
    f: impl FnOnce() -> Result<(), Error>,
) -> ErrorKind {
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::new(
            ErrorKind::Internal,
            "a panic inside redcore was caught at the C boundary",
        ))
    });
    match result {
        Ok(()) => ErrorKind::Ok,
        Err(err) => {
            let kind = err.kind();
            // SAFETY: err_out is NULL or points to writable storage, as documented on every
            // function that takes one.
            unsafe { store_error(err_out, err) };
            kind
        }
    }
}

/// An `INVALID_ARGUMENT` error naming the NULL argument.
pub(crate) fn null_arg(name: &str) -> Error {
    Error::invalid_argument(format!("{name} is NULL"))
}

/// The UTF-8 text of a NUL-terminated C string argument, borrowed; None for NULL. Invalid
/// UTF-8 is an `INVALID_ARGUMENT` error naming the argument (never quoting it: it may be a
/// password).
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays alive and unchanged for `'a`.
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: per the contract above.
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str()
        .map(Some)
        .map_err(|_| Error::invalid_argument(format!("{name} is not valid UTF-8")))
}

/// Like `opt_str_arg`, but NULL is an `INVALID_ARGUMENT` error.
///
/// # Safety
/// As for `opt_str_arg`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    // SAFETY: passed on from the caller.
    unsafe { opt_str_arg(ptr, name) }?.ok_or_else(|| null_arg(name))
}
