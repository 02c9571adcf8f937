//! The guard every `extern "C"` body runs in: a panic becomes a return value (INTERNAL, NULL,
//! or a neutral value) instead of unwinding into C, and error out-parameters are filled in one
//! place.

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
