//! C class `redcore_reply`: read access to a reply of any RESP2/RESP3 type, clone and free.

use std::os::raw::c_char;

use super::guard::guard;
use super::handle::{handle_of, reply_from_raw, reply_into_raw, view};
use crate::error::ErrorKind;
use crate::resp::Kind;

/// A reply, or one element of a reply.
///
/// Underneath: a node of a reply's flat table. Replies returned by blocking calls and by
/// `redcore_reader_get_reply` are owned by the caller and freed with `redcore_reply_free`.
/// Replies passed to callbacks are borrowed and valid only until the callback returns (copy
/// one with `redcore_reply_clone`). Elements (`redcore_reply_element`, ...) are borrowed from
/// their reply and live as long as it does; they are never freed on their own.
///
/// A reply is immutable: any number of threads may read the same reply at once.
pub struct redcore_reply {
    _private: [u8; 0],
}

/// The type of a reply (`REDCORE_REPLY_*`). NULL reads as `REDCORE_REPLY_NULL`.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_get_type(reply: *const redcore_reply) -> Kind {
    guard(Kind::Null, || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }.map_or(Kind::Null, |v| v.kind())
    })
}

/// The value of an integer reply; 0 for other types and NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_integer(reply: *const redcore_reply) -> i64 {
    guard(0, || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.as_integer())
            .unwrap_or(0)
    })
}

/// The value of a double reply (which may be infinite or NaN); 0.0 for other types and NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_double(reply: *const redcore_reply) -> f64 {
    guard(0.0, || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.as_double())
            .unwrap_or(0.0)
    })
}

/// The value of a boolean reply; false for other types and NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_bool(reply: *const redcore_reply) -> bool {
    guard(false, || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    })
}

/// The bytes of a string-like reply: simple string, bulk string, error, blob error, big number
/// (its decimal text) and verbatim string (its text, without the format). Writes the length to
/// `*len_out` when `len_out` is not NULL. The bytes are owned by the reply, may contain NULs,
/// and are always followed by a NUL (not counted in the length), so text can be printed with
/// `%s`. Returns NULL, writing nothing, for other types and for NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_string(
    reply: *const redcore_reply,
    len_out: *mut usize,
) -> *const c_char {
    guard(std::ptr::null(), || {
        // SAFETY: reply is NULL or a live handle.
        // With its NUL: the pointer handed out must cover the byte C reads last.
        let Some(bytes) = unsafe { view(reply) }.and_then(|v| v.as_bytes_with_nul()) else {
            return std::ptr::null();
        };
        if !len_out.is_null() {
            // SAFETY: len_out is writable when not NULL.
            unsafe { *len_out = bytes.len() - 1 };
        }
        bytes.as_ptr().cast()
    })
}

/// The format of a verbatim string reply (e.g. "txt", "mkd"): writes its 3 bytes and a NUL to
/// `format_out`, which must have room for 4 bytes, and returns true. Returns false, writing
/// nothing, for other types or NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_verbatim_format(
    reply: *const redcore_reply,
    format_out: *mut c_char,
) -> bool {
    guard(false, || {
        // SAFETY: reply is NULL or a live handle.
        let Some(format) = unsafe { view(reply) }.and_then(|v| v.verbatim_format()) else {
            return false;
        };
        if format_out.is_null() {
            return false;
        }
        // SAFETY: format_out has room for 4 bytes, per the contract.
        unsafe {
            std::ptr::copy_nonoverlapping(format.as_ptr().cast(), format_out, 3);
            *format_out.add(3) = 0;
        }
        true
    })
}

/// For an error or blob error reply, the code its text maps to (e.g. `REDCORE_ERR_MOVED`,
/// `REDCORE_ERR_NO_SCRIPT`, `REDCORE_ERR_RESPONSE`); `REDCORE_OK` for other types and NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_error_code(reply: *const redcore_reply) -> ErrorKind {
    guard(ErrorKind::Ok, || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.as_error())
            .map_or(ErrorKind::Ok, |e| e.kind())
    })
}

/// Number of elements of an array, set or push reply; number of key/value pairs of a map or
/// attribute; 0 for other types and NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_len(reply: *const redcore_reply) -> usize {
    guard(0, || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }.map_or(0, |v| v.len())
    })
}

/// Element `index` of an array, set or push reply. For maps and attributes, the elements in
/// wire order (key 0, value 0, key 1, ...; `index` below twice the pair count). Borrowed from
/// the reply. NULL when out of range, for scalars and for NULL. O(1).
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_element(
    reply: *const redcore_reply,
    index: usize,
) -> *const redcore_reply {
    guard(std::ptr::null(), || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.child(index))
            .map_or(std::ptr::null(), handle_of)
    })
}

/// Key `index` of a map or attribute reply, borrowed; NULL when out of range or not a map.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_map_key(
    reply: *const redcore_reply,
    index: usize,
) -> *const redcore_reply {
    guard(std::ptr::null(), || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.key(index))
            .map_or(std::ptr::null(), handle_of)
    })
}

/// Value `index` of a map or attribute reply, borrowed; NULL when out of range or not a map.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_map_value(
    reply: *const redcore_reply,
    index: usize,
) -> *const redcore_reply {
    guard(std::ptr::null(), || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.map_value(index))
            .map_or(std::ptr::null(), handle_of)
    })
}

/// The attribute map (RESP3 `|`) the server sent with this reply or element, borrowed; NULL
/// when there is none. Read it with `redcore_reply_len` and `redcore_reply_map_key/value`.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_attribute(
    reply: *const redcore_reply,
) -> *const redcore_reply {
    guard(std::ptr::null(), || {
        // SAFETY: reply is NULL or a live handle.
        unsafe { view(reply) }
            .and_then(|v| v.attribute())
            .map_or(std::ptr::null(), handle_of)
    })
}

/// A deep, owned copy of a reply or of one element (with its attribute), to keep past a
/// callback or past the reply it came from. Free it with `redcore_reply_free`. NULL for NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_clone(reply: *const redcore_reply) -> *mut redcore_reply {
    guard(std::ptr::null_mut(), || {
        // SAFETY: reply is NULL or a live handle.
        match unsafe { view(reply) } {
            Some(v) => reply_into_raw(Box::new(v.to_reply())),
            None => std::ptr::null_mut(),
        }
    })
}

/// Frees an owned reply and all its elements. NULL is ignored; so are element handles and
/// replies lent to a callback, which are not the caller's to free.
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_free(reply: *mut redcore_reply) {
    guard((), || {
        // SAFETY: reply is NULL or a live handle; only owned roots are turned back into boxes.
        drop(unsafe { reply_from_raw(reply) });
    })
}
