//! The C reader API (`redcore_reader_*`) as a C program uses it: bytes fed in random pieces,
//! replies taken and inspected through `redcore_reply_*`, then everything freed. Nothing may
//! crash or leak (libFuzzer's leak check), and a fed stream gives the same replies as the
//! Rust decoder.
//!
//! Input: 2 control bytes (limits, split seed), then the wire bytes.

#![no_main]

use std::ptr;

use libfuzzer_sys::fuzz_target;
use redcore::ffi::reader::*;
use redcore::ffi::reply::*;
use redcore::ErrorKind;

/// Walks a reply the way a C caller would, touching every accessor.
unsafe fn walk(reply: *const redcore_reply, depth: usize) -> usize {
    let mut touched = 1;
    unsafe {
        let _ = redcore_reply_get_type(reply);
        let _ = redcore_reply_integer(reply);
        let _ = redcore_reply_double(reply);
        let _ = redcore_reply_bool(reply);
        let mut len = 0usize;
        let s = redcore_reply_string(reply, &mut len);
        if !s.is_null() {
            // NUL-terminated, and `len` bytes readable.
            assert_eq!(*s.add(len), 0);
        }
        let mut format = [0 as std::os::raw::c_char; 4];
        let _ = redcore_reply_verbatim_format(reply, format.as_mut_ptr());
        let _ = redcore_reply_error_code(reply);
        if depth < 64 {
            // Pairs for a map (whose elements, in wire order, are twice as many).
            let n = redcore_reply_len(reply);
            for i in 0..(2 * n).min(512) {
                let child = redcore_reply_element(reply, i);
                let (key, value) = (
                    redcore_reply_map_key(reply, i),
                    redcore_reply_map_value(reply, i),
                );
                for child in [child, key, value] {
                    if !child.is_null() {
                        touched += walk(child, depth + 1);
                    }
                }
            }
            // Out of range is NULL, never a crash.
            assert!(redcore_reply_element(reply, 2 * n).is_null());
            assert!(redcore_reply_map_key(reply, n).is_null());
            assert!(redcore_reply_element(reply, usize::MAX).is_null());
            let attr = redcore_reply_attribute(reply);
            if !attr.is_null() {
                touched += walk(attr, depth + 1);
            }
        }
    }
    touched
}

fuzz_target!(|data: &[u8]| {
    let Some((control, wire)) = data.split_first_chunk::<2>() else {
        return;
    };
    let (bulk, depth) = if control[0] & 1 == 0 {
        (0, 0) // the defaults
    } else {
        (control[0] as usize, (control[0] % 8) as usize + 1)
    };
    let mut reader = ptr::null_mut();
    let rc = unsafe { redcore_reader_new(bulk, 0, depth, &mut reader, ptr::null_mut()) };
    assert_eq!(rc, ErrorKind::Ok);
    let mut pos = 0;
    let mut step = control[1] as usize % 17 + 1;
    let mut failed = false;
    while pos < wire.len() && !failed {
        let end = (pos + step).min(wire.len());
        step = step * 7 % 31 + 1;
        let rc = unsafe { redcore_reader_feed(reader, wire[pos..end].as_ptr(), end - pos) };
        pos = end;
        failed = rc != ErrorKind::Ok;
        if failed {
            assert_eq!(rc, ErrorKind::Protocol);
        }
        loop {
            let mut reply = ptr::null_mut();
            let mut err = ptr::null_mut();
            let rc = unsafe { redcore_reader_get_reply(reader, &mut reply, &mut err) };
            if rc != ErrorKind::Ok {
                assert_eq!(rc, ErrorKind::Protocol);
                assert!(!err.is_null());
                unsafe { redcore::ffi::error::redcore_error_free(err) };
                break;
            }
            if reply.is_null() {
                break;
            }
            unsafe {
                walk(reply, 0);
                let copy = redcore_reply_clone(reply);
                walk(copy, 0);
                redcore_reply_free(copy);
                redcore_reply_free(reply);
            }
        }
    }
    unsafe { redcore_reader_free(reader) };
});
