//! `redcore_item`: one value of a reply as a plain C record, and the functions that write a
//! whole reply (or every result of a pipeline) as an array of them in one call. A binding
//! converting replies into its own values then crosses into the library once per reply
//! instead of once per field of every element.

use std::os::raw::c_char;

use super::client::redcore_pipeline_result;
use super::error::redcore_error;
use super::guard::guard;
use super::handle::view;
use super::reply::redcore_reply;
use crate::error::ErrorKind;
use crate::resp::{Kind, ValueRef};

/// One value of a reply, flat. Arrays of items list a reply depth first: an aggregate item
/// is followed by its `elements` children, each followed by its own. Attributes are left out.
/// The bytes `str` points to belong to the reply (or pipeline result, or error) the item was
/// read from and live as long as it does.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct redcore_item {
    /// The bytes of a simple string, bulk string, big number (its decimal text), verbatim
    /// string (its text, without the format) or error (its text); each is followed by a NUL
    /// not counted in `len`. NULL for other types.
    pub str: *const c_char,
    /// The number of bytes at `str`.
    pub len: usize,
    /// For an array, set or push: its number of elements; for a map: twice its number of
    /// pairs (children in wire order: key, value, key, ...). 0 for scalars.
    pub elements: usize,
    /// An integer's value; 1 or 0 for a boolean; 0 otherwise.
    pub integer: i64,
    /// A double's value; 0 otherwise.
    pub number: f64,
    /// For an error: the code its text maps to (`REDCORE_ERR_RESPONSE`,
    /// `REDCORE_ERR_NO_SCRIPT`, ...) or, for a failed command, the failure's code.
    /// `REDCORE_OK` for every other item.
    pub code: ErrorKind,
    /// The type (`REDCORE_REPLY_*`).
    pub kind: Kind,
}

impl redcore_item {
    /// A NULL item (what an empty record reads as).
    pub(crate) const EMPTY: redcore_item = redcore_item {
        str: std::ptr::null(),
        len: 0,
        elements: 0,
        integer: 0,
        number: 0.0,
        code: ErrorKind::Ok,
        kind: Kind::Null,
    };
}

/// The item of one value (its children are not visited).
pub(crate) fn item_of(value: ValueRef<'_>) -> redcore_item {
    let kind = value.kind();
    let mut item = redcore_item {
        kind,
        elements: value.child_count(),
        ..redcore_item::EMPTY
    };
    if let Some(bytes) = value.as_bytes() {
        item.str = bytes.as_ptr().cast();
        item.len = bytes.len();
    }
    match kind {
        Kind::Integer => item.integer = value.as_integer().unwrap_or(0),
        Kind::Boolean => item.integer = i64::from(value.as_bool().unwrap_or(false)),
        Kind::Double => item.number = value.as_double().unwrap_or(0.0),
        Kind::Error | Kind::BlobError => {
            item.code = value.as_error().map_or(ErrorKind::Response, |e| e.kind());
        }
        _ => {}
    }
    item
}

/// The item standing for a failed command: an error item with the failure's code and message.
pub(crate) fn error_item(err: &redcore_error) -> redcore_item {
    let message = err.message();
    redcore_item {
        str: message.as_ptr(),
        len: message.to_bytes().len(),
        code: err.code(),
        kind: Kind::Error,
        ..redcore_item::EMPTY
    }
}

/// The item standing for a pipeline's results: an array of one element per command.
pub(crate) fn pipeline_item(result: &redcore_pipeline_result) -> redcore_item {
    redcore_item {
        kind: Kind::Array,
        elements: result.len(),
        ..redcore_item::EMPTY
    }
}

/// Writes `value` and everything under it depth first into `out` from `*next` on, as far as
/// `out` has room; advances `*next` by the number of items the value has, room or not.
fn write_tree(value: ValueRef<'_>, out: &mut [redcore_item], next: &mut usize) {
    if let Some(slot) = out.get_mut(*next) {
        *slot = item_of(value);
    }
    *next += 1;
    for child in value.children() {
        write_tree(child, out, next);
    }
}

/// The output array of an `_items` function, checked.
///
/// # Safety
/// `out` is NULL or holds `cap` writable items.
unsafe fn out_slice<'a>(out: *mut redcore_item, cap: usize) -> &'a mut [redcore_item] {
    if out.is_null() || cap == 0 {
        return &mut [];
    }
    // SAFETY: per the contract above.
    unsafe { std::slice::from_raw_parts_mut(out, cap) }
}

/// Writes `reply` and all its elements, depth first, as items into `out` (room for `cap`
/// items) and returns how many items the reply has. When that is more than `cap`, only the
/// first `cap` were written: call again with a larger array. One call reads a whole reply.
/// The items' bytes are borrowed from `reply`. 0 for NULL `reply`; `out` may be NULL when
/// `cap` is 0 (to ask for the count).
#[no_mangle]
pub unsafe extern "C" fn redcore_reply_items(
    reply: *const redcore_reply,
    out: *mut redcore_item,
    cap: usize,
) -> usize {
    guard(0, || {
        // SAFETY: reply is NULL or a live handle.
        let Some(value) = (unsafe { view(reply) }) else {
            return 0;
        };
        // SAFETY: per this function's contract.
        let out = unsafe { out_slice(out, cap) };
        let mut next = 0;
        write_tree(value, out, &mut next);
        next
    })
}

/// Writes every result of a pipeline run, in command order, as items into `out` (room for
/// `cap`) and returns how many items there are (call again with a larger array when that
/// is more than `cap`). A command that succeeded contributes its reply's items, depth first,
/// as `redcore_reply_items` writes them; a command that failed contributes one
/// `REDCORE_REPLY_ERROR` item with the failure's code and message. Borrowed from `result`.
/// 0 for NULL `result`.
#[no_mangle]
pub unsafe extern "C" fn redcore_pipeline_result_items(
    result: *const redcore_pipeline_result,
    out: *mut redcore_item,
    cap: usize,
) -> usize {
    guard(0, || {
        // SAFETY: result is NULL or live.
        let Some(result) = (unsafe { result.as_ref() }) else {
            return 0;
        };
        // SAFETY: per this function's contract.
        let out = unsafe { out_slice(out, cap) };
        let mut next = 0;
        for i in 0..result.len() {
            match result.value(i) {
                Some(Ok(value)) => write_tree(value, out, &mut next),
                Some(Err(err)) => {
                    if let Some(slot) = out.get_mut(next) {
                        *slot = error_item(err);
                    }
                    next += 1;
                }
                None => {}
            }
        }
        next
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::handle::reply_into_raw;
    use crate::resp::{Reply, Value};

    /// A reply nested as deep as a decoder takes (`MAX_DEPTH`) can be cloned, copied out and
    /// freed on a thread with a 2 MiB stack, as a callback's (those functions recurse per
    /// level); deeper is refused when the limits are set.
    #[test]
    fn the_deepest_reply_is_walked_on_a_small_stack() {
        use crate::resp::{Decoder, Limits, MAX_DEPTH};
        let mut limits = Limits::unlimited();
        assert_eq!(limits.max_depth, MAX_DEPTH);
        let mut wire = "*1\r\n".repeat(MAX_DEPTH - 1).into_bytes();
        wire.extend_from_slice(b"*1\r\n:7\r\n");
        let walked = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let (_, reply) = Decoder::new(Limits::unlimited()).decode(&wire).unwrap();
                let reply = reply_into_raw(Box::new(reply.unwrap()));
                let copy = unsafe { crate::ffi::reply::redcore_reply_clone(reply) };
                assert!(!copy.is_null());
                let total = unsafe { redcore_reply_items(copy, std::ptr::null_mut(), 0) };
                let mut items = vec![redcore_item::EMPTY; total];
                unsafe { redcore_reply_items(copy, items.as_mut_ptr(), total) };
                let value = unsafe { view(copy) }.unwrap().to_value();
                unsafe {
                    crate::ffi::reply::redcore_reply_free(copy);
                    crate::ffi::reply::redcore_reply_free(reply);
                }
                (total, items.last().map(|i| i.integer), value)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(walked.0, MAX_DEPTH + 1);
        assert_eq!(walked.1, Some(7));
        limits.max_depth = MAX_DEPTH + 1;
        assert!(limits.validate().is_err());
    }

    #[test]
    fn a_reply_is_written_depth_first_and_counted_when_out_is_short() {
        let value = Value::Array(vec![
            Value::Bulk(b"k".to_vec()),
            Value::Map(vec![(Value::Simple(b"a".to_vec()), Value::Integer(-7))]),
            Value::Error(b"NOSCRIPT no such script".to_vec()),
            Value::Double(1.5),
            Value::Boolean(true),
            Value::Null,
        ]);
        let reply = reply_into_raw(Box::new(Reply::from_value(&value)));
        let total = unsafe { redcore_reply_items(reply, std::ptr::null_mut(), 0) };
        assert_eq!(total, 9);
        let mut items = vec![redcore_item::EMPTY; total];
        assert_eq!(
            unsafe { redcore_reply_items(reply, items.as_mut_ptr(), 3) },
            9
        );
        assert_eq!(
            unsafe { redcore_reply_items(reply, items.as_mut_ptr(), total) },
            9
        );
        let kinds: Vec<Kind> = items.iter().map(|i| i.kind).collect();
        use Kind::*;
        assert_eq!(
            kinds,
            [Array, Bulk, Map, Simple, Integer, Error, Double, Boolean, Null]
        );
        assert_eq!(items[0].elements, 6);
        assert_eq!(items[2].elements, 2);
        let text = |i: &redcore_item| unsafe {
            std::slice::from_raw_parts(i.str.cast::<u8>(), i.len).to_vec()
        };
        assert_eq!(text(&items[1]), b"k");
        assert_eq!(unsafe { *items[1].str.add(1) }, 0, "NUL after the bytes");
        assert_eq!(items[4].integer, -7);
        assert_eq!(items[5].code, ErrorKind::NoScript);
        assert_eq!(text(&items[5]), b"NOSCRIPT no such script");
        assert_eq!(items[6].number, 1.5);
        assert_eq!(items[7].integer, 1);
        unsafe { crate::ffi::reply::redcore_reply_free(reply) };
    }
}
