//! The hiredis-compatible reader (`redisReader*` of libhiredis): bytes fed in random pieces,
//! every reply walked through its `redisReply` fields and freed with `freeReplyObject`.
//! Nothing may crash, read out of bounds or leak, and after an error the reader stays failed.
//!
//! Input: 1 control byte (split seed), then the wire bytes.

#![no_main]

use std::os::raw::{c_char, c_int, c_longlong, c_void};

use libfuzzer_sys::fuzz_target;

// The crate's `hiredis` feature defines the functions below.
use redcore::compat::hiredis::types::redisReader;

/// hiredis's `redisReply`.
#[repr(C)]
struct RedisReply {
    kind: c_int,
    integer: c_longlong,
    dval: f64,
    len: usize,
    str: *mut c_char,
    vtype: [c_char; 4],
    elements: usize,
    element: *mut *mut RedisReply,
}

const REDIS_OK: c_int = 0;
const REDIS_ERR: c_int = -1;

extern "C" {
    fn redisReaderCreate() -> *mut c_void;
    fn redisReaderFree(r: *mut c_void);
    fn redisReaderFeed(r: *mut c_void, buf: *const c_char, len: usize) -> c_int;
    fn redisReaderGetReply(r: *mut c_void, reply: *mut *mut c_void) -> c_int;
    fn freeReplyObject(reply: *mut c_void);
}

/// Reads every byte a reply says it has (ASan reports a lie).
unsafe fn walk(reply: *const RedisReply) -> u64 {
    let r = unsafe { &*reply };
    let mut sum = r.kind as u64;
    if !r.str.is_null() {
        let bytes = unsafe { std::slice::from_raw_parts(r.str as *const u8, r.len + 1) };
        assert_eq!(bytes[r.len], 0, "string not NUL-terminated");
        sum += bytes.iter().map(|&b| b as u64).sum::<u64>();
    }
    if !r.element.is_null() {
        for i in 0..r.elements {
            let child = unsafe { *r.element.add(i) };
            if !child.is_null() {
                sum += unsafe { walk(child) };
            }
        }
    }
    sum
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, wire)) = data.split_first() else {
        return;
    };
    unsafe {
        let reader = redisReaderCreate();
        assert!(!reader.is_null());
        // Like hiredis, the reader allocates the element array an aggregate claims when its
        // header arrives (`maxelements` allows 2^32 - 1 by default: 32 GiB of address space,
        // zeroed lazily). A caller reading an untrusted peer lowers it, as this one does;
        // otherwise the fuzzer's malloc limit reports the claim itself.
        (*(reader as *mut redisReader)).maxelements = 1 << 20;
        let mut step = control as usize % 13 + 1;
        let mut pos = 0;
        let mut failed = false;
        while pos < wire.len() {
            let end = (pos + step).min(wire.len());
            step = step * 5 % 23 + 1;
            let fed = redisReaderFeed(reader, wire[pos..end].as_ptr().cast(), end - pos);
            assert!(fed == REDIS_OK || (failed && fed == REDIS_ERR));
            pos = end;
            loop {
                let mut reply: *mut c_void = std::ptr::null_mut();
                let rc = redisReaderGetReply(reader, &mut reply);
                if rc == REDIS_ERR {
                    assert!(reply.is_null());
                    failed = true;
                    break;
                }
                assert!(!failed, "a reply after an error");
                if reply.is_null() {
                    break;
                }
                std::hint::black_box(walk(reply as *const RedisReply));
                freeReplyObject(reply);
            }
        }
        redisReaderFree(reader);
    }
});
