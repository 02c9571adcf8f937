//! `redisReader`: hiredis's incremental reply parser, written for redcore with hiredis's
//! behaviour: the same C struct (callers set `fn`, `maxelements`, `maxdepth`, `privdata`), the
//! same object-building calls with the same `redisReadTask` stack, the same reply shapes and
//! the same protocol error texts, which programs compare against.
//!
//! Input is kept in `buf` (an sds) from `pos` on; a value is consumed only when it is complete
//! (a bulk string's header is read again until its payload is in), so the task stack is the
//! only state carried between calls. After an error the reader stays failed.

use std::os::raw::{c_char, c_int, c_longlong, c_void};

use super::alloc::{hi_calloc, hi_calloc_one, hi_free, hi_realloc};
use super::reply::{self, default_functions, uses_default_functions};
use super::sds;
use super::types::*;
use crate::ffi::guard::guard;

/// Task slots allocated at a time.
const STACK_STEP: c_int = 9;

/// Longest double the reader accepts, in bytes.
const MAX_DOUBLE_LEN: usize = 325;

/// A bulk string at least this long whose payload is not all in when its header is read is
/// read straight into its reply (a partial bulk): the bytes fed after that are copied once,
/// into the reply, rather than into the buffer and out of it again (and moved along inside it).
const PARTIAL_BULK_MIN: usize = 4096;
/// ... and at most this long: its reply's buffer is allocated when the header arrives, so a
/// length the server merely announces is trusted only up to Redis's default limit
/// (proto-max-bulk-len, 512 MB); longer ones are gathered in the buffer as the rest.
const PARTIAL_BULK_MAX: usize = 512 * 1024 * 1024;

pub(crate) unsafe fn set_error(r: *mut redisReader, kind: c_int, msg: &[u8]) {
    // SAFETY: r is a live reader.
    unsafe {
        drop_partial_bulk(r);
        let rr = &mut *r;
        if !rr.reply.is_null() {
            if let Some(free) = rr.fn_.as_ref().and_then(|f| f.freeObject) {
                free(rr.reply);
            }
        }
        rr.reply = std::ptr::null_mut();
        sds::free(rr.buf);
        rr.buf = std::ptr::null_mut();
        rr.pos = 0;
        rr.len = 0;
        rr.ridx = -1;
        rr.err = kind;
        copy_errstr(&mut rr.errstr, msg);
    }
}

/// The current task when it is reading a bulk string straight into its reply, and the reply.
/// Marked by the task's `elements` (the length), which string tasks otherwise leave at -1; the
/// reply is the task's `obj` until it is complete and linked into its parent.
unsafe fn partial_bulk(r: *const redisReader) -> Option<(*mut redisReadTask, *mut redisReply)> {
    // SAFETY: r is a live reader; tasks up to ridx are live.
    unsafe {
        let rr = &*r;
        if rr.ridx < 0 || rr.task.is_null() {
            return None;
        }
        let t = *rr.task.add(rr.ridx as usize);
        let partial = (*t).type_ == REDIS_REPLY_STRING && (*t).elements >= 0 && !(*t).obj.is_null();
        partial.then(|| (t, (*t).obj.cast()))
    }
}

/// Frees a partial bulk's reply, which no parent holds yet (on an error, or with the reader).
unsafe fn drop_partial_bulk(r: *mut redisReader) {
    // SAFETY: the reply is a complete redisReply of the default builders, owned by the task.
    unsafe {
        if let Some((t, reply)) = partial_bulk(r) {
            reply::freeReplyObject(reply.cast());
            (*t).obj = std::ptr::null_mut();
            (*t).elements = -1;
        }
    }
}

/// Copies what `bytes` has of a partial bulk's remaining text into its reply; how much.
unsafe fn fill_partial_bulk(
    t: *const redisReadTask,
    reply: *mut redisReply,
    bytes: &[u8],
) -> usize {
    // SAFETY: the reply's buffer holds `elements` + 1 bytes, of which len are written.
    unsafe {
        let k = ((*t).elements as usize - (*reply).len).min(bytes.len());
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (*reply).str_.add((*reply).len).cast(), k);
        (*reply).len += k;
        k
    }
}

/// Copies `msg` into a 128-byte error buffer, truncated, NUL-terminated.
pub(crate) fn copy_errstr(dst: &mut [c_char; 128], msg: &[u8]) {
    let n = msg.len().min(dst.len() - 1);
    for (d, &s) in dst.iter_mut().zip(&msg[..n]) {
        *d = s as c_char;
    }
    dst[n] = 0;
}

/// How a byte is shown in "Protocol error, got %s as reply type byte".
fn show_type_byte(b: u8) -> String {
    let inner = match b {
        b'\\' => "\\\\".to_string(),
        b'"' => "\\\"".to_string(),
        b'\n' => "\\n".to_string(),
        b'\r' => "\\r".to_string(),
        b'\t' => "\\t".to_string(),
        7 => "\\a".to_string(),
        8 => "\\b".to_string(),
        b if b == b' ' || b.is_ascii_graphic() => (b as char).to_string(),
        b => format!("\\x{b:02x}"),
    };
    format!("\"{inner}\"")
}

/// A strict decimal long long: no sign but `-`, no leading zeros, no spaces, in range.
pub(crate) fn parse_ll(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// A RESP3 double: `inf`, `-inf`, `nan`, `-nan` in any case, or a finite decimal number.
fn parse_double(s: &[u8]) -> Option<f64> {
    if s.eq_ignore_ascii_case(b"inf") {
        return Some(f64::INFINITY);
    }
    if s.eq_ignore_ascii_case(b"-inf") {
        return Some(f64::NEG_INFINITY);
    }
    if s.eq_ignore_ascii_case(b"nan") || s.eq_ignore_ascii_case(b"-nan") {
        return Some(f64::NAN);
    }
    // Digits, one optional leading minus, dot and exponent; the parse below checks the rest.
    if s.first() == Some(&b'+')
        || !s
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    let d: f64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    d.is_finite().then_some(d)
}

/// The reply type of a type byte.
fn reply_type(b: u8) -> Option<c_int> {
    Some(match b {
        b'-' => REDIS_REPLY_ERROR,
        b'+' => REDIS_REPLY_STATUS,
        b':' => REDIS_REPLY_INTEGER,
        b',' => REDIS_REPLY_DOUBLE,
        b'_' => REDIS_REPLY_NIL,
        b'$' => REDIS_REPLY_STRING,
        b'*' => REDIS_REPLY_ARRAY,
        b'%' => REDIS_REPLY_MAP,
        b'|' => REDIS_REPLY_ATTR,
        b'~' => REDIS_REPLY_SET,
        b'#' => REDIS_REPLY_BOOL,
        b'=' => REDIS_REPLY_VERB,
        b'>' => REDIS_REPLY_PUSH,
        b'(' => REDIS_REPLY_BIGNUM,
        _ => return None,
    })
}

/// Where the next CRLF starts in `b`.
fn find_crlf(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = b[from..].iter().position(|&c| c == b'\r') {
        let at = from + i;
        match b.get(at + 1) {
            Some(b'\n') => return Some(at),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

/// The common header number (a bulk length, a non-negative integer) and the bytes through its
/// CRLF, read in one pass: up to 18 digits, no sign, no leading zero. None for anything else,
/// a CRLF not in yet included, which the general path then reads (or reports).
#[inline(always)]
fn plain_number(b: &[u8]) -> Option<(i64, usize)> {
    let mut v: i64 = 0;
    let mut i = 0;
    loop {
        match *b.get(i)? {
            c @ b'0'..=b'9' if i < 18 => {
                v = v * 10 + (c - b'0') as i64;
                i += 1;
            }
            b'\r' => break,
            _ => return None,
        }
    }
    if i == 0 || (i > 1 && b[0] == b'0') || b.get(i + 1) != Some(&b'\n') {
        return None;
    }
    Some((v, i + 2))
}

/// What one step of parsing did.
enum Step {
    /// A value (or an aggregate header) was consumed: go on.
    Done,
    /// More input is needed, or the reader failed (see `err`).
    Stop,
}

/// How values become objects. Called with the current task (its type set) and the value;
/// returns the object, NULL when out of memory.
trait Objects {
    /// The default builders: `Parse::siblings` may build replies itself.
    const DEFAULT_REPLIES: bool = false;

    unsafe fn string(&self, task: *mut redisReadTask, s: *mut c_char, n: usize) -> *mut c_void;
    unsafe fn array(&self, task: *mut redisReadTask, elements: usize) -> *mut c_void;
    unsafe fn integer(&self, task: *mut redisReadTask, value: c_longlong) -> *mut c_void;
    unsafe fn double(
        &self,
        task: *mut redisReadTask,
        value: f64,
        s: *mut c_char,
        n: usize,
    ) -> *mut c_void;
    unsafe fn nil(&self, task: *mut redisReadTask) -> *mut c_void;
    unsafe fn boolean(&self, task: *mut redisReadTask, value: c_int) -> *mut c_void;
}

/// The default `redisReply` builders, called directly: the parser is compiled once more for
/// them, with no indirect call and no C-boundary guard per value (what every context's reader
/// and `redisReaderCreate`'s use).
struct Replies;

impl Objects for Replies {
    const DEFAULT_REPLIES: bool = true;

    #[inline(always)]
    unsafe fn string(&self, task: *mut redisReadTask, s: *mut c_char, n: usize) -> *mut c_void {
        // SAFETY: passed on (a live task, n readable bytes).
        unsafe { reply::build_string(task, s, n) }
    }
    #[inline(always)]
    unsafe fn array(&self, task: *mut redisReadTask, elements: usize) -> *mut c_void {
        // SAFETY: passed on.
        unsafe { reply::build_array(task, elements) }
    }
    #[inline(always)]
    unsafe fn integer(&self, task: *mut redisReadTask, value: c_longlong) -> *mut c_void {
        // SAFETY: passed on.
        unsafe { reply::build_integer(task, value) }
    }
    #[inline(always)]
    unsafe fn double(
        &self,
        task: *mut redisReadTask,
        value: f64,
        s: *mut c_char,
        n: usize,
    ) -> *mut c_void {
        // SAFETY: passed on.
        unsafe { reply::build_double(task, value, s, n) }
    }
    #[inline(always)]
    unsafe fn nil(&self, task: *mut redisReadTask) -> *mut c_void {
        // SAFETY: passed on.
        unsafe { reply::build_nil(task) }
    }
    #[inline(always)]
    unsafe fn boolean(&self, task: *mut redisReadTask, value: c_int) -> *mut c_void {
        // SAFETY: passed on.
        unsafe { reply::build_bool(task, value) }
    }
}

/// The caller's `redisReplyObjectFunctions` (`r->fn`); where it is NULL or lacks a function,
/// the value's type number stands for the object, as in hiredis.
struct Table(*const redisReplyObjectFunctions);

impl Table {
    unsafe fn get(&self) -> Option<&redisReplyObjectFunctions> {
        // SAFETY: NULL or a table that lives as long as the reader uses it.
        unsafe { self.0.as_ref() }
    }
}

impl Objects for Table {
    unsafe fn string(&self, task: *mut redisReadTask, s: *mut c_char, n: usize) -> *mut c_void {
        // SAFETY: the caller's builder, called as hiredis calls it.
        unsafe {
            match self.get().and_then(|f| f.createString) {
                Some(create) => create(task, s, n),
                None => (*task).type_ as usize as *mut c_void,
            }
        }
    }
    unsafe fn array(&self, task: *mut redisReadTask, elements: usize) -> *mut c_void {
        // SAFETY: as above.
        unsafe {
            match self.get().and_then(|f| f.createArray) {
                Some(create) => create(task, elements),
                None => (*task).type_ as usize as *mut c_void,
            }
        }
    }
    unsafe fn integer(&self, task: *mut redisReadTask, value: c_longlong) -> *mut c_void {
        // SAFETY: as above.
        unsafe {
            match self.get().and_then(|f| f.createInteger) {
                Some(create) => create(task, value),
                None => REDIS_REPLY_INTEGER as usize as *mut c_void,
            }
        }
    }
    unsafe fn double(
        &self,
        task: *mut redisReadTask,
        value: f64,
        s: *mut c_char,
        n: usize,
    ) -> *mut c_void {
        // SAFETY: as above.
        unsafe {
            match self.get().and_then(|f| f.createDouble) {
                Some(create) => create(task, value, s, n),
                None => REDIS_REPLY_DOUBLE as usize as *mut c_void,
            }
        }
    }
    unsafe fn nil(&self, task: *mut redisReadTask) -> *mut c_void {
        // SAFETY: as above.
        unsafe {
            match self.get().and_then(|f| f.createNil) {
                Some(create) => create(task),
                None => REDIS_REPLY_NIL as usize as *mut c_void,
            }
        }
    }
    unsafe fn boolean(&self, task: *mut redisReadTask, value: c_int) -> *mut c_void {
        // SAFETY: as above.
        unsafe {
            match self.get().and_then(|f| f.createBool) {
                Some(create) => create(task, value),
                None => REDIS_REPLY_BOOL as usize as *mut c_void,
            }
        }
    }
}

/// A view of a live reader for one call; every field is read through the raw pointer because
/// object functions are caller code that may look at the reader too.
struct Parse<O> {
    r: *mut redisReader,
    objects: O,
}

impl<O: Objects> Parse<O> {
    unsafe fn input(&self) -> &[u8] {
        // SAFETY: buf holds len bytes (an sds; NULL only after an error, when len is 0).
        unsafe {
            let r = &*self.r;
            if r.buf.is_null() || r.pos >= r.len {
                return &[];
            }
            std::slice::from_raw_parts(r.buf.cast::<u8>().add(r.pos), r.len - r.pos)
        }
    }

    unsafe fn task(&self, i: c_int) -> *mut redisReadTask {
        // SAFETY: 0 <= i < tasks.
        unsafe { *(*self.r).task.add(i as usize) }
    }

    unsafe fn fail(&self, kind: c_int, msg: &str) -> Step {
        // SAFETY: r is live.
        unsafe { set_error(self.r, kind, msg.as_bytes()) };
        Step::Stop
    }

    /// A value was built: records it as the reply when it is the root, and moves on.
    unsafe fn finish_value(&self, obj: *mut c_void, consumed: usize) -> Step {
        if obj.is_null() {
            // SAFETY: r is live.
            return unsafe { self.fail(REDIS_ERR_OOM, "Out of memory") };
        }
        // SAFETY: r is live.
        unsafe {
            (*self.r).pos += consumed;
            if (*self.r).ridx == 0 {
                (*self.r).reply = obj;
            }
            self.next_task();
        }
        Step::Done
    }

    /// After a value completes: the next sibling, or up past every aggregate it completed.
    unsafe fn next_task(&self) {
        // SAFETY: ridx indexes live tasks; parents are the tasks below.
        unsafe {
            let r = self.r;
            while (*r).ridx >= 0 {
                if (*r).ridx == 0 {
                    (*r).ridx = -1;
                    return;
                }
                let cur = self.task((*r).ridx);
                let parent = self.task((*r).ridx - 1);
                if (*cur).idx as c_longlong >= (*parent).elements - 1 {
                    (*r).ridx -= 1;
                } else {
                    (*cur).type_ = -1;
                    (*cur).elements = -1;
                    (*cur).idx += 1;
                    return;
                }
            }
        }
    }

    unsafe fn step(&self) -> Step {
        // SAFETY: the reader is live and ridx >= 0.
        unsafe {
            let cur = self.task((*self.r).ridx);
            if O::DEFAULT_REPLIES && (*cur).type_ < 0 && (*self.r).ridx > 0 {
                if let Some(step) = self.siblings(cur) {
                    return step;
                }
            }
            if (*cur).type_ < 0 {
                let Some(&b) = self.input().first() else {
                    return Step::Stop;
                };
                match reply_type(b) {
                    Some(ty) => {
                        (*cur).type_ = ty;
                        (*self.r).pos += 1;
                    }
                    None => {
                        let msg = format!(
                            "Protocol error, got {} as reply type byte",
                            show_type_byte(b)
                        );
                        return self.fail(REDIS_ERR_PROTOCOL, &msg);
                    }
                }
            }
            match (*cur).type_ {
                REDIS_REPLY_STRING | REDIS_REPLY_VERB => self.bulk(cur),
                REDIS_REPLY_ARRAY | REDIS_REPLY_MAP | REDIS_REPLY_ATTR | REDIS_REPLY_SET
                | REDIS_REPLY_PUSH => self.aggregate(cur),
                _ => self.line(cur),
            }
        }
    }

    /// With the default builders, the next elements of an aggregate that are complete
    /// non-aggregate values other than big numbers and verbatim strings (the common bulk
    /// strings, integers, statuses, errors, doubles, booleans and nulls), built into it in one
    /// loop rather than a task step each (most large replies are such arrays: LRANGE, MGET,
    /// HGETALL, ...). None when the next element is anything else or incomplete (or
    /// malformed: `step` reports it), for `step` to take.
    unsafe fn siblings(&self, cur: *mut redisReadTask) -> Option<Step> {
        // SAFETY: ridx > 0, so the parent task is an aggregate being filled whose object
        // (built by `reply::build_array`) has room for `elements` children; cur is its child
        // task, at the index of the next element.
        unsafe {
            let r = self.r;
            let parent_task = self.task((*r).ridx - 1);
            let parent = (*parent_task).obj.cast::<redisReply>();
            let count = (*parent_task).elements;
            let first = (*cur).idx as c_longlong;
            let input = self.input();
            let mut idx = first;
            let mut off = 0;
            while idx < count {
                let Some((&b, body)) = input[off..].split_first() else {
                    break;
                };
                let (obj, consumed) = match b {
                    b'$' | b':' => {
                        let Some((value, line)) = plain_number(body) else {
                            break;
                        };
                        let header = 1 + line;
                        if b == b':' {
                            (reply::integer_reply(value), header)
                        } else {
                            // At most 18 digits: no overflow where usize is 64 bits,
                            // the general path's checks elsewhere.
                            let Some(total) = usize::try_from(value)
                                .ok()
                                .and_then(|n| n.checked_add(header + 2))
                            else {
                                break;
                            };
                            let n = total - header - 2;
                            if input.len() - off < total {
                                break;
                            }
                            let payload = &input[off + header..off + header + n];
                            (reply::string_reply(REDIS_REPLY_STRING, payload), total)
                        }
                    }
                    b'#' => match body {
                        [c @ (b't' | b'T' | b'f' | b'F'), b'\r', b'\n', ..] => {
                            (reply::bool_reply(matches!(c, b't' | b'T')), 4)
                        }
                        _ => break,
                    },
                    b'_' => match body {
                        [b'\r', b'\n', ..] => (reply::new_reply(REDIS_REPLY_NIL), 3),
                        _ => break,
                    },
                    b',' | b'+' | b'-' => {
                        let Some(end) = find_crlf(body) else {
                            break;
                        };
                        let line = &body[..end];
                        let obj = if b == b',' {
                            if line.len() > MAX_DOUBLE_LEN {
                                break;
                            }
                            let Some(d) = parse_double(line) else {
                                break;
                            };
                            reply::double_reply(d, line)
                        } else {
                            if line.iter().any(|&c| c == b'\r' || c == b'\n') {
                                break;
                            }
                            let ty = if b == b'+' {
                                REDIS_REPLY_STATUS
                            } else {
                                REDIS_REPLY_ERROR
                            };
                            reply::string_reply(ty, line)
                        };
                        (obj, 1 + end + 2)
                    }
                    _ => break,
                };
                if obj.is_null() {
                    return Some(self.fail(REDIS_ERR_OOM, "Out of memory"));
                }
                *(*parent).element.add(idx as usize) = obj;
                off += consumed;
                idx += 1;
            }
            if idx == first {
                return None;
            }
            (*r).pos += off;
            // As if the last one had been built by a step.
            (*cur).idx = (idx - 1) as c_int;
            self.next_task();
            Some(Step::Done)
        }
    }

    /// Integers, doubles, nulls, booleans, big numbers, statuses and errors: one line.
    unsafe fn line(&self, cur: *mut redisReadTask) -> Step {
        // SAFETY: cur is the current task; line points into buf, which object functions do not
        // change.
        unsafe {
            let input = self.input();
            let Some(end) = find_crlf(input) else {
                return Step::Stop;
            };
            let line = &input[..end];
            let consumed = end + 2;
            let ty = (*cur).type_;
            let obj = match ty {
                REDIS_REPLY_INTEGER => {
                    let Some(v) = parse_ll(line) else {
                        return self.fail(REDIS_ERR_PROTOCOL, "Bad integer value");
                    };
                    self.objects.integer(cur, v)
                }
                REDIS_REPLY_DOUBLE => {
                    if line.len() > MAX_DOUBLE_LEN {
                        return self.fail(REDIS_ERR_PROTOCOL, "Double value is too large");
                    }
                    let Some(d) = parse_double(line) else {
                        return self.fail(REDIS_ERR_PROTOCOL, "Bad double value");
                    };
                    // A NUL-terminated copy: builders may treat the text as a C string.
                    let mut text = [0u8; MAX_DOUBLE_LEN + 1];
                    text[..line.len()].copy_from_slice(line);
                    self.objects
                        .double(cur, d, text.as_mut_ptr().cast(), line.len())
                }
                REDIS_REPLY_NIL => {
                    if !line.is_empty() {
                        return self.fail(REDIS_ERR_PROTOCOL, "Bad nil value");
                    }
                    self.objects.nil(cur)
                }
                REDIS_REPLY_BOOL => {
                    let value = match line {
                        [b't' | b'T'] => 1,
                        [b'f' | b'F'] => 0,
                        _ => return self.fail(REDIS_ERR_PROTOCOL, "Bad bool value"),
                    };
                    self.objects.boolean(cur, value)
                }
                _ => {
                    if ty == REDIS_REPLY_BIGNUM {
                        let digits = line.strip_prefix(b"-").unwrap_or(line);
                        if !digits.iter().all(u8::is_ascii_digit) {
                            return self.fail(REDIS_ERR_PROTOCOL, "Bad bignum value");
                        }
                    } else if line.iter().any(|&c| c == b'\r' || c == b'\n') {
                        return self.fail(REDIS_ERR_PROTOCOL, "Bad simple string value");
                    }
                    self.objects
                        .string(cur, line.as_ptr() as *mut c_char, line.len())
                }
            };
            self.finish_value(obj, consumed)
        }
    }

    /// Bulk and verbatim strings: consumed only once the payload and its CRLF are in (or,
    /// for a long one, read straight into its reply: `partial`).
    unsafe fn bulk(&self, cur: *mut redisReadTask) -> Step {
        // SAFETY: as in `line`.
        unsafe {
            if (*cur).elements >= 0 {
                return self.partial(cur);
            }
            let input = self.input();
            let Some(end) = find_crlf(input) else {
                return Step::Stop;
            };
            let Some(n) = parse_ll(&input[..end]) else {
                return self.fail(REDIS_ERR_PROTOCOL, "Bad bulk string length");
            };
            if n < -1 {
                return self.fail(REDIS_ERR_PROTOCOL, "Bulk string length out of range");
            }
            if n == -1 {
                let obj = self.objects.nil(cur);
                return self.finish_value(obj, end + 2);
            }
            let n = n as usize;
            let start = end + 2;
            let Some(total) = start.checked_add(n).and_then(|t| t.checked_add(2)) else {
                return Step::Stop;
            };
            let ty = (*cur).type_;
            if input.len() < total {
                if O::DEFAULT_REPLIES
                    && ty == REDIS_REPLY_STRING
                    && (PARTIAL_BULK_MIN..=PARTIAL_BULK_MAX).contains(&n)
                    && input.len() - start < n
                {
                    self.start_partial(cur, n, &input[start..]);
                }
                return Step::Stop;
            }
            let payload = &input[start..start + n];
            if ty == REDIS_REPLY_VERB && (n < 4 || payload[3] != b':') {
                return self.fail(
                    REDIS_ERR_PROTOCOL,
                    "Verbatim string 4 bytes of content type are missing or incorrectly encoded.",
                );
            }
            let obj = self.objects.string(cur, payload.as_ptr() as *mut c_char, n);
            self.finish_value(obj, total)
        }
    }

    /// A long bulk string whose payload is still arriving: its reply takes what is in and
    /// the rest as it is fed; header and payload so far are consumed. When out of memory the
    /// string is gathered in the buffer instead, as a short one.
    unsafe fn start_partial(&self, cur: *mut redisReadTask, n: usize, head: &[u8]) {
        // SAFETY: head is the rest of the input; cur is the current task, a string.
        unsafe {
            let reply = reply::partial_string(n, head);
            if reply.is_null() {
                return;
            }
            // head ends the input: all of it is consumed.
            (*self.r).pos = (*self.r).len;
            (*cur).elements = n as c_longlong;
            (*cur).obj = reply.cast();
        }
    }

    /// A partial bulk: the rest of its text from the input, then its CRLF, which completes it.
    unsafe fn partial(&self, cur: *mut redisReadTask) -> Step {
        // SAFETY: cur is the current task, a partial bulk (see `partial_bulk`).
        unsafe {
            let reply = (*cur).obj.cast::<redisReply>();
            let input = self.input();
            let k = fill_partial_bulk(cur, reply, input);
            if (*reply).len < (*cur).elements as usize || input.len() < k + 2 {
                (*self.r).pos += k;
                return Step::Stop;
            }
            (*cur).elements = -1;
            (*cur).obj = std::ptr::null_mut();
            let obj = reply::finish_string(cur, reply);
            self.finish_value(obj, k + 2)
        }
    }

    /// Arrays, maps, sets, attributes and pushes: the header; the elements follow as tasks.
    unsafe fn aggregate(&self, cur: *mut redisReadTask) -> Step {
        // SAFETY: as in `line`; the task array grows before a child task is needed.
        unsafe {
            let r = self.r;
            if (*r).maxdepth > 0 && (*r).ridx >= (*r).maxdepth {
                return self.fail(REDIS_ERR_PROTOCOL, "Max nesting depth exceeded");
            }
            if (*r).ridx == (*r).tasks - 1 && !self.grow() {
                return Step::Stop;
            }
            let input = self.input();
            let Some(end) = find_crlf(input) else {
                return Step::Stop;
            };
            let Some(mut count) = parse_ll(&input[..end]) else {
                return self.fail(REDIS_ERR_PROTOCOL, "Bad multi-bulk length");
            };
            let consumed = end + 2;
            let maxelements = (*r).maxelements;
            if count < -1 || (maxelements > 0 && count > maxelements) {
                return self.fail(REDIS_ERR_PROTOCOL, "Multi-bulk length out of range");
            }
            let ty = (*cur).type_;
            if count == -1 {
                let obj = self.objects.nil(cur);
                return self.finish_value(obj, consumed);
            }
            if ty == REDIS_REPLY_MAP || ty == REDIS_REPLY_ATTR {
                // Keys and values are elements: the count doubles, and must still fit.
                if count > i64::MAX / 2 {
                    return self.fail(REDIS_ERR_PROTOCOL, "Multi-bulk length out of range");
                }
                count *= 2;
            }
            let obj = self.objects.array(cur, count as usize);
            if obj.is_null() {
                return self.fail(REDIS_ERR_OOM, "Out of memory");
            }
            (*r).pos += consumed;
            let root = (*r).ridx == 0;
            if count > 0 {
                (*cur).elements = count;
                (*cur).obj = obj;
                (*r).ridx += 1;
                let child = self.task((*r).ridx);
                (*child).type_ = -1;
                (*child).elements = -1;
                (*child).idx = 0;
                (*child).obj = std::ptr::null_mut();
                (*child).parent = cur;
                (*child).privdata = (*r).privdata;
            } else {
                self.next_task();
            }
            if root {
                (*r).reply = obj;
            }
            Step::Done
        }
    }

    /// Adds STACK_STEP task slots. False (with the reader failed) when out of memory.
    unsafe fn grow(&self) -> bool {
        // SAFETY: task holds `tasks` live slots; new slots are allocated before being counted.
        unsafe {
            let r = self.r;
            let want = (*r).tasks + STACK_STEP;
            let bigger = hi_realloc(
                (*r).task.cast(),
                std::mem::size_of::<*mut redisReadTask>() * want as usize,
            );
            if bigger.is_null() {
                self.fail(REDIS_ERR_OOM, "Out of memory");
                return false;
            }
            (*r).task = bigger.cast();
            while (*r).tasks < want {
                let t = hi_calloc_one::<redisReadTask>();
                if t.is_null() {
                    self.fail(REDIS_ERR_OOM, "Out of memory");
                    return false;
                }
                *(*r).task.add((*r).tasks as usize) = t;
                (*r).tasks += 1;
            }
            true
        }
    }
}

/// Parses values until the reply is complete (`ridx` back to -1), more input is needed, or the
/// reader failed. Each step moves `ridx` through the raw pointer.
unsafe fn parse_reply<O: Objects>(parse: &Parse<O>) {
    // SAFETY: the reader is live; steps run only while ridx >= 0.
    unsafe {
        loop {
            if (*parse.r).ridx < 0 {
                break;
            }
            if let Step::Stop = parse.step() {
                break;
            }
        }
    }
}

unsafe fn free_reader(r: *mut redisReader) {
    // SAFETY: r is a live reader (possibly half-built: NULL task array, fewer tasks).
    unsafe {
        drop_partial_bulk(r);
        let rr = &mut *r;
        if !rr.reply.is_null() {
            if let Some(free) = rr.fn_.as_ref().and_then(|f| f.freeObject) {
                free(rr.reply);
            }
        }
        if !rr.task.is_null() {
            for i in 0..rr.tasks.max(0) as usize {
                hi_free((*rr.task.add(i)).cast());
            }
            hi_free(rr.task.cast());
        }
        sds::free(rr.buf);
        hi_free(r.cast());
    }
}

/// A reader building objects with `fn` (NULL: no objects, type numbers instead).
#[no_mangle]
pub unsafe extern "C" fn redisReaderCreateWithFunctions(
    fn_: *mut redisReplyObjectFunctions,
) -> *mut redisReader {
    guard(std::ptr::null_mut(), || {
        // SAFETY: fresh allocations, each checked; a half-built reader is freed whole.
        unsafe {
            let r = hi_calloc_one::<redisReader>();
            if r.is_null() {
                return r;
            }
            (*r).buf = sds::new_len(b"".as_ptr(), 0);
            (*r).task = hi_calloc(
                STACK_STEP as usize,
                std::mem::size_of::<*mut redisReadTask>(),
            )
            .cast();
            if (*r).buf.is_null() || (*r).task.is_null() {
                free_reader(r);
                return std::ptr::null_mut();
            }
            while (*r).tasks < STACK_STEP {
                let t = hi_calloc_one::<redisReadTask>();
                if t.is_null() {
                    free_reader(r);
                    return std::ptr::null_mut();
                }
                *(*r).task.add((*r).tasks as usize) = t;
                (*r).tasks += 1;
            }
            (*r).fn_ = fn_;
            (*r).maxbuf = REDIS_READER_MAX_BUF;
            (*r).maxelements = REDIS_READER_MAX_ARRAY_ELEMENTS;
            (*r).maxdepth = REDIS_READER_MAX_REPLY_DEPTH;
            (*r).ridx = -1;
            r
        }
    })
}

/// A reader building `redisReply` objects.
#[no_mangle]
pub extern "C" fn redisReaderCreate() -> *mut redisReader {
    // SAFETY: the default functions live for the whole program.
    unsafe { redisReaderCreateWithFunctions(default_functions()) }
}

#[no_mangle]
pub unsafe extern "C" fn redisReaderFree(r: *mut redisReader) {
    guard((), || {
        if !r.is_null() {
            // SAFETY: r is a live reader, freed once.
            unsafe { free_reader(r) }
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisReaderFeed(
    r: *mut redisReader,
    buf: *const c_char,
    len: usize,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: r is a live reader; buf holds len bytes.
        unsafe {
            let Some(rr) = r.as_mut() else {
                return REDIS_ERR;
            };
            if rr.err != 0 {
                return REDIS_ERR;
            }
            if buf.is_null() || len == 0 {
                return REDIS_OK;
            }
            let mut input = std::slice::from_raw_parts(buf.cast::<u8>(), len);
            // A partial bulk takes its text straight from here; the buffer is empty then
            // (everything before the text was consumed when it started).
            if rr.pos == rr.len {
                // Through rr, which is used below: r is its parent.
                if let Some((t, reply)) = partial_bulk(&*rr) {
                    input = &input[fill_partial_bulk(t, reply, input)..];
                    if input.is_empty() {
                        return REDIS_OK;
                    }
                }
            }
            // The consumed input goes before the new is appended: what is left (a partial
            // value, usually short) moves to the front once at least 1 KiB was consumed.
            if rr.pos >= 1024 {
                sds::range(rr.buf, rr.pos as isize, -1);
                rr.pos = 0;
                rr.len = sds::len(rr.buf);
            }
            // An idle buffer that grew large is given back: between replies only, since in
            // a reply of large bulks the buffer empties after each partial one (its text went
            // straight to the reply above), and giving it back there costs two allocations
            // and fresh pages per read.
            if rr.len == 0 && rr.ridx == -1 && rr.maxbuf != 0 && sds::avail(rr.buf) > rr.maxbuf {
                sds::free(rr.buf);
                rr.buf = sds::new_len(b"".as_ptr(), 0);
                rr.pos = 0;
                if rr.buf.is_null() {
                    set_error(r, REDIS_ERR_OOM, b"Out of memory");
                    return REDIS_ERR;
                }
            }
            let grown = sds::cat_len(rr.buf, input.as_ptr().cast(), input.len());
            if grown.is_null() {
                set_error(r, REDIS_ERR_OOM, b"Out of memory");
                return REDIS_ERR;
            }
            rr.buf = grown;
            rr.len = sds::len(grown);
            REDIS_OK
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisReaderGetReply(
    r: *mut redisReader,
    reply: *mut *mut c_void,
) -> c_int {
    guard(REDIS_ERR, || {
        // SAFETY: r is a live reader; reply is NULL or writable.
        unsafe {
            if !reply.is_null() {
                *reply = std::ptr::null_mut();
            }
            let Some(rr) = r.as_mut() else {
                return REDIS_ERR;
            };
            if rr.err != 0 {
                return REDIS_ERR;
            }
            if rr.len == 0 {
                return REDIS_OK;
            }
            if rr.ridx == -1 {
                let root = *rr.task;
                (*root).type_ = -1;
                (*root).elements = -1;
                (*root).idx = -1;
                (*root).obj = std::ptr::null_mut();
                (*root).parent = std::ptr::null_mut();
                (*root).privdata = rr.privdata;
                rr.ridx = 0;
            }
            if uses_default_functions(rr.fn_) {
                parse_reply(&Parse {
                    r,
                    objects: Replies,
                });
            } else {
                parse_reply(&Parse {
                    r,
                    objects: Table(rr.fn_),
                });
            }
            if (*r).err != 0 {
                return REDIS_ERR;
            }
            // All input consumed: the buffer is emptied in place, without a move. A partial
            // value stays where it is; `redisReaderFeed` moves it to the front when it appends
            // (hiredis moves the rest of the buffer here, on every call once 1 KiB is read).
            if (*r).pos == (*r).len {
                sds::set_len((*r).buf, 0);
                (*r).pos = 0;
                (*r).len = 0;
            }
            if (*r).ridx == -1 {
                let done = (*r).reply;
                (*r).reply = std::ptr::null_mut();
                if !reply.is_null() {
                    *reply = done;
                } else if !done.is_null() {
                    if let Some(free) = (*r).fn_.as_ref().and_then(|f| f.freeObject) {
                        free(done);
                    }
                }
            }
            REDIS_OK
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        for (text, value) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("-0", None),
            ("+1", None),
            ("01", None),
            ("", None),
            ("-", None),
            ("1 ", None),
        ] {
            assert_eq!(parse_ll(text.as_bytes()), value, "{text:?}");
        }
    }

    #[test]
    fn doubles() {
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(
            parse_double(b"-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(parse_double(b"INF"), Some(f64::INFINITY));
        assert!(parse_double(b"-nan").unwrap().is_nan());
        for bad in [
            "", "1.2.3", "1e", "+", ".", "1,5", "abc", "3.14x", "infinity", "1e400", "+1",
        ] {
            assert_eq!(parse_double(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_numbers() {
        for (text, want) in [
            (&b"0\r\n"[..], Some((0, 3))),
            (b"16384\r\nrest", Some((16384, 7))),
            (
                b"999999999999999999\r\n",
                Some((999_999_999_999_999_999, 20)),
            ),
            // For the general path: more digits, a sign, a leading zero, no CRLF (yet).
            (b"1000000000000000000\r\n", None),
            (b"-1\r\n", None),
            (b"01\r\n", None),
            (b"\r\n", None),
            (b"12\r", None),
            (b"12", None),
            (b"1 \r\n", None),
            (b"12\rx", None),
        ] {
            assert_eq!(
                plain_number(text),
                want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn type_byte_texts() {
        assert_eq!(show_type_byte(b'@'), "\"@\"");
        assert_eq!(show_type_byte(b'"'), "\"\\\"\"");
        assert_eq!(show_type_byte(b'\r'), "\"\\r\"");
        assert_eq!(show_type_byte(0x01), "\"\\x01\"");
    }
}
