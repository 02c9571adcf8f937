//! C class `redcore_reader`: a standalone incremental RESP2/RESP3 parser (the native
//! counterpart of hiredis's `redisReader`), for proxies, tools and tests.

use std::collections::VecDeque;

use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg};
use super::handle::reply_into_handle;
use super::reply::redcore_reply;
use crate::error::{Error, ErrorKind};
use crate::resp::{Decoder, Limits, Reply};

/// An incremental parser: feed it bytes in any split, take replies out in order.
///
/// Underneath: a `Box` owning a decoder and the replies completed but not yet taken. Bytes
/// fed are decoded at once (string payloads are copied once, into their reply; nothing raw is
/// kept). Not thread-safe: use a reader from one thread at a time. Free with
/// `redcore_reader_free`.
pub struct redcore_reader {
    decoder: Decoder,
    ready: VecDeque<Reply>,
}

/// Creates a reader. Each limit may be 0 for its default: `max_bulk_len` (longest string,
/// default 512 MiB, at most 4294967295), `max_aggregate_len` (most elements of an array, set or
/// push, or pairs of a map; default and maximum 4294967295), `max_depth` (deepest nesting of
/// aggregates; default 512, at most 1000). A reply that breaks a limit is a `REDCORE_ERR_PROTOCOL` error.
/// Writes the reader to `*reader_out` and returns `REDCORE_OK`, or returns
/// `REDCORE_ERR_INVALID_ARGUMENT` (details in `*err_out` when `err_out` is not NULL).
#[no_mangle]
pub unsafe extern "C" fn redcore_reader_new(
    max_bulk_len: usize,
    max_aggregate_len: usize,
    max_depth: usize,
    reader_out: *mut *mut redcore_reader,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        if reader_out.is_null() {
            return Err(null_arg("reader_out"));
        }
        let default = Limits::default();
        let pick = |v: usize, d: usize| if v == 0 { d } else { v };
        let limits = Limits {
            max_bulk_len: pick(max_bulk_len, default.max_bulk_len),
            max_aggregate_len: pick(max_aggregate_len, default.max_aggregate_len),
            max_depth: pick(max_depth, default.max_depth),
            ..default
        };
        limits.validate()?;
        let reader = Box::new(redcore_reader {
            decoder: Decoder::new(limits),
            ready: VecDeque::new(),
        });
        // SAFETY: reader_out was checked non-NULL and is writable per the contract.
        unsafe { *reader_out = Box::into_raw(reader) };
        Ok(())
    })
}

/// Feeds `len` bytes at `buf` (copied as needed; `buf` may be reused at once). Replies that
/// complete are queued for `redcore_reader_get_reply`. Returns `REDCORE_OK`, or
/// `REDCORE_ERR_PROTOCOL` once the stream is broken (the reader then refuses further input;
/// replies completed before the error can still be taken), or `REDCORE_ERR_INVALID_ARGUMENT`
/// for a NULL reader, or a NULL `buf` with a non-zero `len`.
#[no_mangle]
pub unsafe extern "C" fn redcore_reader_feed(
    reader: *mut redcore_reader,
    buf: *const u8,
    len: usize,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: reader is NULL or a live reader used by one thread at a time.
        let reader = unsafe { reader.as_mut() }.ok_or_else(|| null_arg("reader"))?;
        if len == 0 {
            return reader.decoder.error().map_or(Ok(()), |e| Err(e.clone()));
        }
        if buf.is_null() {
            return Err(null_arg("buf"));
        }
        // SAFETY: buf holds len readable bytes, per the contract.
        let mut input = unsafe { std::slice::from_raw_parts(buf, len) };
        while !input.is_empty() {
            let (used, reply) = reader.decoder.decode(input)?;
            input = &input[used..];
            match reply {
                Some(reply) => reader.ready.push_back(reply),
                None => break,
            }
        }
        Ok(())
    })
}

/// Takes the next complete reply. On `REDCORE_OK`, writes to `*reply_out` an owned reply (free
/// it with `redcore_reply_free`), or NULL when more bytes are needed. Returns
/// `REDCORE_ERR_PROTOCOL` (details in `*err_out` when not NULL) once the queued replies are
/// taken and the stream was broken; `REDCORE_ERR_INVALID_ARGUMENT` for NULL arguments.
#[no_mangle]
pub unsafe extern "C" fn redcore_reader_get_reply(
    reader: *mut redcore_reader,
    reply_out: *mut *mut redcore_reply,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: reader is NULL or a live reader used by one thread at a time.
        let reader = unsafe { reader.as_mut() }.ok_or_else(|| null_arg("reader"))?;
        if reply_out.is_null() {
            return Err(null_arg("reply_out"));
        }
        let out = match reader.ready.pop_front() {
            Some(reply) => reply_into_handle(reply),
            None => match reader.decoder.error() {
                Some(e) => return Err(Error::clone(e)),
                None => std::ptr::null_mut(),
            },
        };
        // SAFETY: reply_out was checked non-NULL and is writable per the contract.
        unsafe { *reply_out = out };
        Ok(())
    })
}

/// Frees a reader and any replies it still holds. NULL is ignored. Replies already taken are
/// not affected.
#[no_mangle]
pub unsafe extern "C" fn redcore_reader_free(reader: *mut redcore_reader) {
    guard((), || {
        if !reader.is_null() {
            // SAFETY: reader came from redcore_reader_new and is freed once.
            drop(unsafe { Box::from_raw(reader) });
        }
    })
}
