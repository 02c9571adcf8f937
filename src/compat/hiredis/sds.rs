//! sds: hiredis's dynamic strings, with hiredis's memory layout (a packed header of length,
//! capacity and a type byte right before the string, see include/hiredis/sds.h), because
//! callers inline `sdslen()` on strings the library hands them (`redisContext.obuf`, formatted
//! commands). Memory comes from `hiredisAllocFns`.
//!
//! Written for redcore. The `sds` type is a `*mut c_char` to the string bytes; every function
//! that may grow a string returns its new address (NULL when out of memory, the old string
//! then being left as it was).

use std::os::raw::{c_char, c_int, c_longlong, c_void};

use super::alloc::{hi_free, hi_malloc, hi_realloc};
use crate::ffi::guard::guard;

pub type Sds = *mut c_char;

const TYPE_5: u8 = 0;
const TYPE_8: u8 = 1;
const TYPE_16: u8 = 2;
const TYPE_32: u8 = 3;
const TYPE_64: u8 = 4;
const TYPE_MASK: u8 = 7;
const TYPE_BITS: u32 = 3;
const MAX_PREALLOC: usize = 1024 * 1024;

/// Header size of each type: len and alloc fields of the type's width, then the flags byte.
#[inline]
fn header_size(ty: u8) -> usize {
    match ty {
        TYPE_5 => 1,
        TYPE_8 => 3,
        TYPE_16 => 5,
        TYPE_32 => 9,
        _ => 17,
    }
}

/// The smallest type whose fields hold `size`.
fn type_for(size: usize) -> u8 {
    if size < 1 << 5 {
        TYPE_5
    } else if size < 1 << 8 {
        TYPE_8
    } else if size < 1 << 16 {
        TYPE_16
    } else if (size as u64) < 1 << 32 {
        TYPE_32
    } else {
        TYPE_64
    }
}

#[inline]
unsafe fn flags(s: Sds) -> u8 {
    // SAFETY: s is a live sds: its flags byte is right before it.
    unsafe { *s.cast::<u8>().sub(1) }
}

/// Reads the field at `index` (0 = len, 1 = alloc) of a type 8..64 header.
#[inline]
unsafe fn field(s: Sds, ty: u8, index: usize) -> usize {
    let base = unsafe { s.cast::<u8>().sub(header_size(ty)) };
    // SAFETY: the header is inside the block; fields are unaligned (packed).
    unsafe {
        match ty {
            TYPE_8 => *base.add(index) as usize,
            TYPE_16 => base.cast::<u16>().add(index).read_unaligned() as usize,
            TYPE_32 => base.cast::<u32>().add(index).read_unaligned() as usize,
            _ => base.cast::<u64>().add(index).read_unaligned() as usize,
        }
    }
}

#[inline]
unsafe fn set_field(s: Sds, ty: u8, index: usize, value: usize) {
    let base = unsafe { s.cast::<u8>().sub(header_size(ty)) };
    // SAFETY: as in `field`; callers keep `value` within the type's width.
    unsafe {
        match ty {
            TYPE_8 => *base.add(index) = value as u8,
            TYPE_16 => base.cast::<u16>().add(index).write_unaligned(value as u16),
            TYPE_32 => base.cast::<u32>().add(index).write_unaligned(value as u32),
            _ => base.cast::<u64>().add(index).write_unaligned(value as u64),
        }
    }
}

/// The length of a live sds.
#[inline]
pub(crate) unsafe fn len(s: Sds) -> usize {
    // SAFETY: s is a live sds.
    unsafe {
        let f = flags(s);
        match f & TYPE_MASK {
            TYPE_5 => (f >> TYPE_BITS) as usize,
            ty => field(s, ty, 0),
        }
    }
}

/// The capacity (without the final NUL) of a live sds.
#[inline]
unsafe fn capacity(s: Sds) -> usize {
    // SAFETY: s is a live sds.
    unsafe {
        let f = flags(s);
        match f & TYPE_MASK {
            TYPE_5 => (f >> TYPE_BITS) as usize,
            ty => field(s, ty, 1),
        }
    }
}

#[inline]
pub(crate) unsafe fn avail(s: Sds) -> usize {
    // SAFETY: s is a live sds.
    unsafe {
        if flags(s) & TYPE_MASK == TYPE_5 {
            0
        } else {
            capacity(s) - len(s)
        }
    }
}

/// Sets the length and writes the NUL after it.
#[inline]
pub(crate) unsafe fn set_len(s: Sds, n: usize) {
    // SAFETY: s is a live sds whose capacity is at least n.
    unsafe {
        let f = flags(s);
        match f & TYPE_MASK {
            TYPE_5 => *s.cast::<u8>().sub(1) = TYPE_5 | ((n as u8) << TYPE_BITS),
            ty => set_field(s, ty, 0, n),
        }
        *s.add(n) = 0;
    }
}

/// The bytes of a live sds.
pub(crate) unsafe fn bytes<'a>(s: Sds) -> &'a [u8] {
    // SAFETY: s is a live sds of len(s) bytes.
    unsafe { std::slice::from_raw_parts(s.cast::<u8>(), len(s)) }
}

/// A new sds of `n` bytes copied from `init`, or zeroes when `init` is NULL.
pub(crate) unsafe fn new_len(init: *const u8, n: usize) -> Sds {
    let mut ty = type_for(n);
    if ty == TYPE_5 && n == 0 {
        // Empty strings are usually appended to: give them a header that has a capacity.
        ty = TYPE_8;
    }
    let hdr = header_size(ty);
    let Some(total) = hdr.checked_add(n).and_then(|t| t.checked_add(1)) else {
        return std::ptr::null_mut();
    };
    // SAFETY: a fresh block of `total` bytes, filled in below.
    unsafe {
        let block = hi_malloc(total).cast::<u8>();
        if block.is_null() {
            return std::ptr::null_mut();
        }
        let s = block.add(hdr).cast::<c_char>();
        if ty == TYPE_5 {
            *block = TYPE_5 | ((n as u8) << TYPE_BITS);
        } else {
            *block.add(hdr - 1) = ty;
            set_field(s, ty, 0, n);
            set_field(s, ty, 1, n);
        }
        if init.is_null() {
            std::ptr::write_bytes(s.cast::<u8>(), 0, n);
        } else {
            std::ptr::copy_nonoverlapping(init, s.cast::<u8>(), n);
        }
        *s.add(n) = 0;
        s
    }
}

pub(crate) unsafe fn from_bytes(b: &[u8]) -> Sds {
    // SAFETY: b is readable.
    unsafe { new_len(b.as_ptr(), b.len()) }
}

pub(crate) unsafe fn free(s: Sds) {
    if !s.is_null() {
        // SAFETY: s is a live sds; its block starts at its header.
        unsafe { hi_free(s.sub(header_size(flags(s) & TYPE_MASK)).cast()) }
    }
}

/// Makes room for `add` more bytes after the length (growing greedily, as sds does).
#[inline]
pub(crate) unsafe fn make_room(s: Sds, add: usize) -> Sds {
    // SAFETY: s is a live sds.
    unsafe {
        if avail(s) >= add {
            return s;
        }
        grow(s, add)
    }
}

/// `make_room` when the string must grow.
#[inline(never)]
unsafe fn grow(s: Sds, add: usize) -> Sds {
    // SAFETY: s is a live sds; the block is reallocated or copied as a whole.
    unsafe {
        let cur = len(s);
        let old_ty = flags(s) & TYPE_MASK;
        let Some(mut want) = cur.checked_add(add) else {
            return std::ptr::null_mut();
        };
        want = if want < MAX_PREALLOC {
            want.saturating_mul(2)
        } else {
            want.saturating_add(MAX_PREALLOC)
        };
        let mut ty = type_for(want);
        if ty == TYPE_5 {
            ty = TYPE_8;
        }
        let hdr = header_size(ty);
        let Some(total) = hdr.checked_add(want).and_then(|t| t.checked_add(1)) else {
            return std::ptr::null_mut();
        };
        let s = if ty == old_ty {
            let block = hi_realloc(s.sub(hdr).cast(), total).cast::<u8>();
            if block.is_null() {
                return std::ptr::null_mut();
            }
            block.add(hdr).cast::<c_char>()
        } else {
            let block = hi_malloc(total).cast::<u8>();
            if block.is_null() {
                return std::ptr::null_mut();
            }
            let fresh = block.add(hdr).cast::<c_char>();
            std::ptr::copy_nonoverlapping(s, fresh, cur + 1);
            free(s);
            *block.add(hdr - 1) = ty;
            set_field(fresh, ty, 0, cur);
            fresh
        };
        set_field(s, ty, 1, want);
        s
    }
}

/// Appends `n` bytes at `t`.
pub(crate) unsafe fn cat_len(s: Sds, t: *const u8, n: usize) -> Sds {
    // SAFETY: s is a live sds, t holds n readable bytes (which may lie inside s).
    unsafe {
        let cur = len(s);
        let s = make_room(s, n);
        if s.is_null() {
            return s;
        }
        std::ptr::copy(t, s.add(cur).cast::<u8>(), n);
        set_len(s, cur + n);
        s
    }
}

pub(crate) unsafe fn cat_bytes(s: Sds, b: &[u8]) -> Sds {
    // SAFETY: b is readable.
    unsafe { cat_len(s, b.as_ptr(), b.len()) }
}

unsafe fn cstr_len(p: *const c_char) -> usize {
    // SAFETY: p is a NUL-terminated string.
    unsafe { libc::strlen(p) }
}

/// `sdsrange` on a live sds: keeps bytes `start..=end` (negative indexes count from the end).
pub(crate) unsafe fn range(s: Sds, start: isize, end: isize) {
    // SAFETY: s is a live sds.
    unsafe {
        let n = len(s) as isize;
        if n == 0 {
            return;
        }
        let fix = |i: isize| if i < 0 { (n + i).max(0) } else { i };
        let (start, mut end) = (fix(start), fix(end));
        let mut keep = if start > end { 0 } else { end - start + 1 };
        if keep != 0 {
            if start >= n {
                keep = 0;
            } else if end >= n {
                end = n - 1;
                keep = end - start + 1;
            }
        }
        if start != 0 && keep != 0 {
            std::ptr::copy(s.add(start as usize), s, keep as usize);
        }
        set_len(s, keep as usize);
    }
}

// ---- the exported functions -------------------------------------------------------------

#[no_mangle]
pub unsafe extern "C" fn sdsnewlen(init: *const c_void, initlen: usize) -> Sds {
    // SAFETY: init is NULL or holds initlen bytes.
    guard(std::ptr::null_mut(), || unsafe {
        new_len(init.cast(), initlen)
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsnew(init: *const c_char) -> Sds {
    guard(std::ptr::null_mut(), || {
        // SAFETY: init is NULL or a NUL-terminated string.
        unsafe {
            let n = if init.is_null() { 0 } else { cstr_len(init) };
            if init.is_null() {
                new_len(b"".as_ptr(), 0)
            } else {
                new_len(init.cast(), n)
            }
        }
    })
}

#[no_mangle]
pub extern "C" fn sdsempty() -> Sds {
    // SAFETY: copies nothing.
    guard(std::ptr::null_mut(), || unsafe { new_len(b"".as_ptr(), 0) })
}

#[no_mangle]
pub unsafe extern "C" fn sdsdup(s: Sds) -> Sds {
    // SAFETY: s is a live sds.
    guard(std::ptr::null_mut(), || unsafe {
        new_len(s.cast(), len(s))
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsfree(s: Sds) {
    // SAFETY: s is NULL or a live sds, freed once.
    guard((), || unsafe { free(s) })
}

#[no_mangle]
pub unsafe extern "C" fn sdsgrowzero(s: Sds, newlen: usize) -> Sds {
    guard(std::ptr::null_mut(), || {
        // SAFETY: s is a live sds.
        unsafe {
            let cur = len(s);
            if newlen <= cur {
                return s;
            }
            let s = make_room(s, newlen - cur);
            if s.is_null() {
                return s;
            }
            std::ptr::write_bytes(s.add(cur), 0, newlen - cur + 1);
            set_len(s, newlen);
            s
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdscatlen(s: Sds, t: *const c_void, n: usize) -> Sds {
    // SAFETY: s is a live sds, t holds n bytes.
    guard(std::ptr::null_mut(), || unsafe { cat_len(s, t.cast(), n) })
}

#[no_mangle]
pub unsafe extern "C" fn sdscat(s: Sds, t: *const c_char) -> Sds {
    // SAFETY: t is a NUL-terminated string.
    guard(std::ptr::null_mut(), || unsafe {
        cat_len(s, t.cast(), cstr_len(t))
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdscatsds(s: Sds, t: Sds) -> Sds {
    // SAFETY: t is a live sds.
    guard(std::ptr::null_mut(), || unsafe {
        cat_len(s, t.cast(), len(t))
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdscpylen(s: Sds, t: *const c_char, n: usize) -> Sds {
    guard(std::ptr::null_mut(), || {
        // SAFETY: s is a live sds, t holds n bytes.
        unsafe {
            let cur = len(s);
            let s = if capacity(s) < n || flags(s) & TYPE_MASK == TYPE_5 {
                make_room(s, n.saturating_sub(cur))
            } else {
                s
            };
            if s.is_null() {
                return s;
            }
            std::ptr::copy(t, s, n);
            set_len(s, n);
            s
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdscpy(s: Sds, t: *const c_char) -> Sds {
    // SAFETY: t is a NUL-terminated string.
    unsafe { sdscpylen(s, t, cstr_len(t)) }
}

#[no_mangle]
pub unsafe extern "C" fn sdstrim(s: Sds, cset: *const c_char) -> Sds {
    guard(s, || {
        // SAFETY: s is a live sds, cset a NUL-terminated string.
        unsafe {
            let set = std::slice::from_raw_parts(cset.cast::<u8>(), cstr_len(cset));
            let b = bytes(s);
            let start = b.iter().position(|c| !set.contains(c)).unwrap_or(b.len());
            let end = b
                .iter()
                .rposition(|c| !set.contains(c))
                .map_or(start, |e| e + 1);
            let keep = end.saturating_sub(start);
            if start != 0 && keep != 0 {
                std::ptr::copy(s.add(start), s, keep);
            }
            set_len(s, keep);
            s
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsrange(s: Sds, start: isize, end: isize) -> c_int {
    // SAFETY: s is a live sds.
    guard(-1, || unsafe {
        range(s, start, end);
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsupdatelen(s: Sds) {
    // SAFETY: s is a live sds holding a NUL within its capacity.
    guard((), || unsafe { set_len(s, cstr_len(s)) })
}

#[no_mangle]
pub unsafe extern "C" fn sdsclear(s: Sds) {
    // SAFETY: s is a live sds.
    guard((), || unsafe { set_len(s, 0) })
}

#[no_mangle]
pub unsafe extern "C" fn sdscmp(s1: Sds, s2: Sds) -> c_int {
    guard(0, || {
        // SAFETY: both are live sds.
        let (a, b) = unsafe { (bytes(s1), bytes(s2)) };
        let n = a.len().min(b.len());
        match a[..n].cmp(&b[..n]) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Greater => 1,
            std::cmp::Ordering::Equal => (a.len() as isize - b.len() as isize).signum() as c_int,
        }
    })
}

/// Frees `tokens[..count]` and the array.
unsafe fn free_tokens(tokens: *mut Sds, count: usize) {
    // SAFETY: tokens holds count live sds (or NULLs).
    unsafe {
        for i in 0..count {
            free(*tokens.add(i));
        }
        hi_free(tokens.cast());
    }
}

/// An array (from the allocator) of sds made from `parts`; NULL when out of memory.
unsafe fn token_array(parts: &[&[u8]]) -> *mut Sds {
    // SAFETY: fresh allocations, each checked.
    unsafe {
        let tokens = hi_malloc(std::mem::size_of::<Sds>() * parts.len().max(1)).cast::<Sds>();
        if tokens.is_null() {
            return tokens;
        }
        for (i, part) in parts.iter().enumerate() {
            let t = from_bytes(part);
            if t.is_null() {
                free_tokens(tokens, i);
                return std::ptr::null_mut();
            }
            *tokens.add(i) = t;
        }
        tokens
    }
}

#[no_mangle]
pub unsafe extern "C" fn sdssplitlen(
    s: *const c_char,
    n: c_int,
    sep: *const c_char,
    seplen: c_int,
    count: *mut c_int,
) -> *mut Sds {
    guard(std::ptr::null_mut(), || {
        if seplen < 1 || n < 0 || count.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: s holds n bytes and sep seplen bytes, per the contract.
        let (text, sep) = unsafe {
            (
                std::slice::from_raw_parts(s.cast::<u8>(), n as usize),
                std::slice::from_raw_parts(sep.cast::<u8>(), seplen as usize),
            )
        };
        let mut parts: Vec<&[u8]> = Vec::new();
        if !text.is_empty() {
            let mut start = 0;
            let mut i = 0;
            while i + sep.len() <= text.len() {
                if &text[i..i + sep.len()] == sep {
                    parts.push(&text[start..i]);
                    i += sep.len();
                    start = i;
                } else {
                    i += 1;
                }
            }
            parts.push(&text[start..]);
        }
        // SAFETY: builds the array from readable slices.
        let tokens = unsafe { token_array(&parts) };
        if !tokens.is_null() {
            // SAFETY: count was checked non-NULL.
            unsafe { *count = parts.len() as c_int };
        }
        tokens
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsfreesplitres(tokens: *mut Sds, count: c_int) {
    guard((), || {
        if !tokens.is_null() {
            // SAFETY: tokens came from sdssplitlen/sdssplitargs with this count.
            unsafe { free_tokens(tokens, count.max(0) as usize) }
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdstolower(s: Sds) {
    guard((), || {
        // SAFETY: s is a live sds.
        let b = unsafe { std::slice::from_raw_parts_mut(s.cast::<u8>(), len(s)) };
        b.make_ascii_lowercase();
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdstoupper(s: Sds) {
    guard((), || {
        // SAFETY: s is a live sds.
        let b = unsafe { std::slice::from_raw_parts_mut(s.cast::<u8>(), len(s)) };
        b.make_ascii_uppercase();
    })
}

#[no_mangle]
pub extern "C" fn sdsfromlonglong(value: c_longlong) -> Sds {
    // SAFETY: copies a local buffer.
    guard(std::ptr::null_mut(), || unsafe {
        from_bytes(value.to_string().as_bytes())
    })
}

/// Writes `value` in decimal at `s` with a NUL; returns the length (s needs 21 bytes).
#[no_mangle]
pub unsafe extern "C" fn sdsll2str(s: *mut c_char, value: c_longlong) -> c_int {
    guard(0, || {
        let text = value.to_string();
        // SAFETY: s has room for the longest long long and a NUL, per the contract.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), s.cast::<u8>(), text.len());
            *s.add(text.len()) = 0;
        }
        text.len() as c_int
    })
}

/// As `sdsll2str` for an unsigned value.
#[no_mangle]
pub unsafe extern "C" fn sdsull2str(s: *mut c_char, value: u64) -> c_int {
    guard(0, || {
        let text = value.to_string();
        // SAFETY: as in sdsll2str.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), s.cast::<u8>(), text.len());
            *s.add(text.len()) = 0;
        }
        text.len() as c_int
    })
}

/// Appends `p[..len]` quoted and escaped (`"a\n\x01"`).
#[no_mangle]
pub unsafe extern "C" fn sdscatrepr(s: Sds, p: *const c_char, n: usize) -> Sds {
    guard(std::ptr::null_mut(), || {
        // SAFETY: p holds n bytes.
        let src = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) };
        let mut out = Vec::with_capacity(n + 2);
        out.push(b'"');
        for &c in src {
            match c {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                7 => out.extend_from_slice(b"\\a"),
                8 => out.extend_from_slice(b"\\b"),
                c if c.is_ascii_graphic() || c == b' ' => out.push(c),
                c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
            }
        }
        out.push(b'"');
        // SAFETY: s is a live sds.
        unsafe { cat_bytes(s, &out) }
    })
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The value of a hex digit, 0 for anything else (exported by hiredis's sds; kept for
/// programs that link against it).
#[no_mangle]
pub extern "C" fn hex_digit_to_int(c: c_char) -> c_int {
    hex_value(c as u8).map_or(0, c_int::from)
}

/// Splits a command line like a shell would: spaces separate arguments, "double quotes" allow
/// \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' allow \'. None for unbalanced quotes
/// or a closing quote not followed by a space.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut quote = 0u8;
        loop {
            let Some(&c) = line.get(i) else {
                if quote != 0 {
                    return None;
                }
                break;
            };
            if quote == b'"' {
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(line[i + 2]), hex_value(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    cur.push(match line[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
            } else if quote == b'\'' {
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => break,
                    b'"' => quote = b'"',
                    b'\'' => quote = b'\'',
                    _ => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

#[no_mangle]
pub unsafe extern "C" fn sdssplitargs(line: *const c_char, argc: *mut c_int) -> *mut Sds {
    guard(std::ptr::null_mut(), || {
        if line.is_null() || argc.is_null() {
            return std::ptr::null_mut();
        }
        // SAFETY: line is a NUL-terminated string.
        let text = unsafe { std::slice::from_raw_parts(line.cast::<u8>(), cstr_len(line)) };
        let Some(args) = split_args(text) else {
            // SAFETY: argc checked non-NULL.
            unsafe { *argc = 0 };
            return std::ptr::null_mut();
        };
        let parts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        // SAFETY: builds the array from readable slices.
        let tokens = unsafe { token_array(&parts) };
        if !tokens.is_null() {
            // SAFETY: argc checked non-NULL.
            unsafe { *argc = parts.len() as c_int };
        }
        tokens
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsmapchars(
    s: Sds,
    from: *const c_char,
    to: *const c_char,
    setlen: usize,
) -> Sds {
    guard(s, || {
        // SAFETY: s is a live sds; from and to hold setlen bytes.
        unsafe {
            let b = std::slice::from_raw_parts_mut(s.cast::<u8>(), len(s));
            let from = std::slice::from_raw_parts(from.cast::<u8>(), setlen);
            let to = std::slice::from_raw_parts(to.cast::<u8>(), setlen);
            for c in b.iter_mut() {
                if let Some(i) = from.iter().position(|f| f == c) {
                    *c = to[i];
                }
            }
        }
        s
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsjoin(argv: *mut *mut c_char, argc: c_int, sep: *mut c_char) -> Sds {
    guard(std::ptr::null_mut(), || {
        // SAFETY: argv holds argc NUL-terminated strings; sep is one.
        unsafe {
            let sep = std::slice::from_raw_parts(sep.cast::<u8>(), cstr_len(sep));
            let mut out = Vec::new();
            for i in 0..argc.max(0) as usize {
                let a = *argv.add(i);
                out.extend_from_slice(std::slice::from_raw_parts(a.cast::<u8>(), cstr_len(a)));
                if i + 1 != argc as usize {
                    out.extend_from_slice(sep);
                }
            }
            from_bytes(&out)
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsjoinsds(
    argv: *mut Sds,
    argc: c_int,
    sep: *const c_char,
    seplen: usize,
) -> Sds {
    guard(std::ptr::null_mut(), || {
        // SAFETY: argv holds argc live sds; sep holds seplen bytes.
        unsafe {
            let sep = std::slice::from_raw_parts(sep.cast::<u8>(), seplen);
            let mut out = Vec::new();
            for i in 0..argc.max(0) as usize {
                out.extend_from_slice(bytes(*argv.add(i)));
                if i + 1 != argc as usize {
                    out.extend_from_slice(sep);
                }
            }
            from_bytes(&out)
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsMakeRoomFor(s: Sds, addlen: usize) -> Sds {
    // SAFETY: s is a live sds.
    guard(std::ptr::null_mut(), || unsafe { make_room(s, addlen) })
}

#[no_mangle]
pub unsafe extern "C" fn sdsIncrLen(s: Sds, incr: c_int) {
    guard((), || {
        // SAFETY: s is a live sds; the caller wrote `incr` bytes within its capacity (or
        // removes as many).
        unsafe {
            let n = (len(s) as isize + incr as isize).max(0) as usize;
            set_len(s, n);
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsRemoveFreeSpace(s: Sds) -> Sds {
    guard(std::ptr::null_mut(), || {
        // SAFETY: s is a live sds; shrinking keeps its type, so the header stays valid.
        unsafe {
            let ty = flags(s) & TYPE_MASK;
            if ty == TYPE_5 {
                return s;
            }
            let n = len(s);
            let hdr = header_size(ty);
            let block = hi_realloc(s.sub(hdr).cast(), hdr + n + 1).cast::<u8>();
            if block.is_null() {
                return std::ptr::null_mut();
            }
            let s = block.add(hdr).cast::<c_char>();
            set_field(s, ty, 1, n);
            s
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsAllocSize(s: Sds) -> usize {
    // SAFETY: s is a live sds.
    guard(0, || unsafe {
        header_size(flags(s) & TYPE_MASK) + capacity(s) + 1
    })
}

#[no_mangle]
pub unsafe extern "C" fn sdsAllocPtr(s: Sds) -> *mut c_void {
    // SAFETY: s is a live sds.
    guard(std::ptr::null_mut(), || unsafe {
        s.sub(header_size(flags(s) & TYPE_MASK)).cast()
    })
}

#[no_mangle]
pub unsafe extern "C" fn sds_malloc(size: usize) -> *mut c_void {
    // SAFETY: plain allocation.
    unsafe { hi_malloc(size) }
}

#[no_mangle]
pub unsafe extern "C" fn sds_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: ptr came from this allocator family.
    unsafe { hi_realloc(ptr, size) }
}

#[no_mangle]
pub unsafe extern "C" fn sds_free(ptr: *mut c_void) {
    // SAFETY: ptr came from this allocator family.
    unsafe { hi_free(ptr) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_grow_through_types() {
        // SAFETY: every sds used is live until freed at the end.
        unsafe {
            let mut s = sdsempty();
            assert_eq!(flags(s) & TYPE_MASK, TYPE_8);
            for i in 0..70_000usize {
                s = cat_bytes(s, &[b'a' + (i % 26) as u8]);
                assert_eq!(len(s), i + 1);
            }
            assert_eq!(flags(s) & TYPE_MASK, TYPE_32);
            assert_eq!(*s.add(len(s)), 0);
            assert_eq!(bytes(s)[69_999], b'a' + (69_999 % 26) as u8);
            range(s, 1, 3);
            assert_eq!(bytes(s), b"bcd");
            range(s, -2, -1);
            assert_eq!(bytes(s), b"cd");
            free(s);

            let short = new_len(b"hello".as_ptr(), 5);
            assert_eq!(flags(short) & TYPE_MASK, TYPE_5);
            assert_eq!(len(short), 5);
            assert_eq!(avail(short), 0);
            let grown = cat_bytes(short, b" world");
            assert_eq!(bytes(grown), b"hello world");
            assert_eq!(flags(grown) & TYPE_MASK, TYPE_8);
            free(grown);
        }
    }

    #[test]
    fn split_and_join() {
        assert_eq!(
            split_args(br#"set "a b" 'c\'d' "\x41\n""#).unwrap(),
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]
        );
        assert!(split_args(b"\"unterminated").is_none());
        assert!(split_args(b"\"a\"b").is_none());
        // SAFETY: the tokens are freed with their count.
        unsafe {
            let mut count = 0;
            let tokens = sdssplitlen(
                b"a--b--".as_ptr().cast(),
                6,
                b"--".as_ptr().cast(),
                2,
                &mut count,
            );
            assert_eq!(count, 3);
            assert_eq!(bytes(*tokens.add(0)), b"a");
            assert_eq!(bytes(*tokens.add(1)), b"b");
            assert_eq!(bytes(*tokens.add(2)), b"");
            sdsfreesplitres(tokens, count);
        }
    }

    #[test]
    fn trim_and_repr() {
        // SAFETY: each sds is freed once.
        unsafe {
            let s = sdsnew(c"xxhixyx".as_ptr());
            let s = sdstrim(s, c"xy".as_ptr());
            assert_eq!(bytes(s), b"hi");
            let s = sdscatrepr(s, b"\x01\"\n".as_ptr().cast(), 3);
            assert_eq!(bytes(s), b"hi\"\\x01\\\"\\n\"");
            free(s);
        }
    }
}
