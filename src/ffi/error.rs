//! C class `redcore_error` (an owned error: code, message, MOVED/ASK target) and the functions
//! on `redcore_error_code` that expose the taxonomy (name, parents, `is`).

use std::ffi::CString;
use std::os::raw::c_char;

use super::guard::guard;
use crate::error::{Error, ErrorKind};

/// An error returned by a redcore function: its code, a message for people and, for MOVED and
/// ASK, the redirection target.
///
/// Underneath: a `Box`, single owner. Functions that fail write one to their trailing
/// `redcore_error **err_out` argument when it is not NULL; the caller owns it and frees it with
/// `redcore_error_free`. Immutable, so it may be read from any thread.
pub struct redcore_error {
    inner: Error,
    message: CString,
    /// The MOVED / ASK host, NUL-terminated for C (empty otherwise).
    host: CString,
}

impl redcore_error {
    pub(crate) fn new(inner: Error) -> redcore_error {
        let message = c_string(inner.message());
        let host = c_string(inner.redirect().map_or("", |r| r.host.as_str()));
        redcore_error {
            inner,
            message,
            host,
        }
    }
}

impl redcore_error {
    pub(crate) fn code(&self) -> ErrorKind {
        self.inner.kind()
    }

    pub(crate) fn message(&self) -> &std::ffi::CStr {
        &self.message
    }
}

fn c_string(text: &str) -> CString {
    let mut bytes = text.as_bytes().to_vec();
    bytes.retain(|&b| b != 0);
    CString::new(bytes).expect("NULs removed")
}

/// Writes `err` to `*err_out` when `err_out` is not NULL.
///
/// # Safety
/// `err_out` is NULL or valid for writing one pointer.
pub(crate) unsafe fn store_error(err_out: *mut *mut redcore_error, err: Error) {
    if !err_out.is_null() {
        let boxed = Box::into_raw(Box::new(redcore_error::new(err)));
        // SAFETY: per the contract above.
        unsafe { *err_out = boxed };
    }
}

fn from_code(code: i32) -> Option<ErrorKind> {
    ErrorKind::from_code(code as i64)
}

/// The error's code. `REDCORE_ERR_INVALID_ARGUMENT` when `err` is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_error_get_code(err: *const redcore_error) -> ErrorKind {
    guard(ErrorKind::Internal, || {
        // SAFETY: err is NULL or a live redcore_error.
        match unsafe { err.as_ref() } {
            Some(e) => e.inner.kind(),
            None => ErrorKind::InvalidArgument,
        }
    })
}

/// The error's message: NUL-terminated text meant for people, owned by `err` and valid until
/// `redcore_error_free`. For server errors it is the server's full reply text
/// (`WRONGTYPE Operation against a key ...`). Never contains a password or token.
/// Returns "" when `err` is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_error_message(err: *const redcore_error) -> *const c_char {
    guard(c"".as_ptr(), || {
        // SAFETY: err is NULL or a live redcore_error.
        match unsafe { err.as_ref() } {
            Some(e) => e.message.as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// True when the error's code is `ancestor` or descends from it (see
/// `redcore_error_code_is`). False when `err` is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_error_is(err: *const redcore_error, ancestor: ErrorKind) -> bool {
    guard(false, || {
        // SAFETY: err is NULL or a live redcore_error.
        unsafe { err.as_ref() }.is_some_and(|e| e.inner.kind().is(ancestor))
    })
}

/// For a MOVED or ASK error, the redirection target: writes the slot, the host (a
/// NUL-terminated string owned by `err`, empty when the server named no host, which means
/// "the node you asked") and the port, and returns true. Returns false, writing nothing, for
/// other errors or when any argument is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_error_redirect(
    err: *const redcore_error,
    slot_out: *mut u16,
    host_out: *mut *const c_char,
    port_out: *mut u16,
) -> bool {
    guard(false, || {
        // SAFETY: err is NULL or a live redcore_error.
        let Some(e) = (unsafe { err.as_ref() }) else {
            return false;
        };
        if slot_out.is_null() || host_out.is_null() || port_out.is_null() {
            return false;
        }
        let Some(r) = e.inner.redirect() else {
            return false;
        };
        // SAFETY: the out-pointers were checked non-NULL; the caller made them writable.
        unsafe {
            *slot_out = r.slot;
            *port_out = r.port;
            *host_out = e.host.as_ptr();
        }
        true
    })
}

/// Frees an error. NULL is ignored. Each error must be freed once.
#[no_mangle]
pub unsafe extern "C" fn redcore_error_free(err: *mut redcore_error) {
    guard((), || {
        if !err.is_null() {
            // SAFETY: err came from Box::into_raw in store_error and is freed once.
            drop(unsafe { Box::from_raw(err) });
        }
    })
}

/// The code's name without its prefix, e.g. "CONNECTION" for `REDCORE_ERR_CONNECTION`, "OK"
/// for `REDCORE_OK`, "UNKNOWN" for a number that is no code. A static string.
#[no_mangle]
pub extern "C" fn redcore_error_code_name(code: i32) -> *const c_char {
    guard(c"UNKNOWN".as_ptr(), || match from_code(code) {
        Some(kind) => CODE_NAMES[kind as usize].as_ptr(),
        None => c"UNKNOWN".as_ptr(),
    })
}

/// The code's primary parent: `REDCORE_ERR_CONNECTION` for `REDCORE_ERR_AUTHENTICATION`,
/// `REDCORE_OK` for the roots (`REDCORE_ERR_REDIS`, `REDCORE_ERR_CLUSTER_EXCEPTION`), for
/// `REDCORE_OK` and for unknown numbers. `REDCORE_ERR_CLUSTER_DOWN` has a second parent; see
/// `redcore_error_code_parents`.
#[no_mangle]
pub extern "C" fn redcore_error_code_parent(code: i32) -> ErrorKind {
    guard(ErrorKind::Ok, || {
        from_code(code)
            .and_then(|k| k.parents().first().copied())
            .unwrap_or(ErrorKind::Ok)
    })
}

/// Writes up to `cap` direct parents of `code` to `out` (primary first) and returns how many
/// parents the code has (0, 1 or 2), which may exceed `cap`. `out` may be NULL when `cap` is 0.
#[no_mangle]
pub unsafe extern "C" fn redcore_error_code_parents(
    code: i32,
    out: *mut ErrorKind,
    cap: usize,
) -> usize {
    guard(0, || {
        let parents = from_code(code).map_or(&[][..], |k| k.parents());
        if !out.is_null() {
            for (i, p) in parents.iter().take(cap).enumerate() {
                // SAFETY: out holds at least cap elements, per the contract.
                unsafe { *out.add(i) = *p };
            }
        }
        parents.len()
    })
}

/// True when `code` is `ancestor` or descends from it through any parent, the way an
/// `except ConnectionError:` clause catches `AuthenticationError` in redis-py. False for
/// unknown numbers.
#[no_mangle]
pub extern "C" fn redcore_error_code_is(code: i32, ancestor: i32) -> bool {
    guard(false, || match (from_code(code), from_code(ancestor)) {
        (Some(k), Some(a)) => k.is(a),
        _ => false,
    })
}

static CODE_NAMES: once_cell::sync::Lazy<Vec<CString>> = once_cell::sync::Lazy::new(|| {
    ErrorKind::ALL
        .iter()
        .map(|k| CString::new(k.name()).expect("names have no NUL"))
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn taxonomy_is_reachable() {
        for kind in ErrorKind::ALL {
            let name = unsafe { CStr::from_ptr(redcore_error_code_name(kind as i32)) };
            assert_eq!(name.to_str().unwrap(), kind.name());
            let mut out = [ErrorKind::Ok; 2];
            let n = unsafe { redcore_error_code_parents(kind as i32, out.as_mut_ptr(), 2) };
            assert_eq!(&out[..n], kind.parents());
        }
        assert!(redcore_error_code_is(
            ErrorKind::MasterDown as i32,
            ErrorKind::Response as i32
        ));
        assert!(!redcore_error_code_is(99, 1));
        let unknown = unsafe { CStr::from_ptr(redcore_error_code_name(99)) };
        assert_eq!(unknown.to_str().unwrap(), "UNKNOWN");
    }
}
