//! Command formatting from an argument vector (the format-string functions are in
//! variadic.c and end here too): a RESP array of bulk strings, built with the protocol
//! encoder into memory from the installed allocator, NUL-terminated.

use std::os::raw::{c_char, c_int, c_longlong};

use super::alloc::{hi_free, hi_malloc};
use super::sds::{self, Sds};
use crate::ffi::guard::guard;
use crate::resp::encode_command;

/// The arguments of an argv call as slices (argvlen NULL: each is a C string).
///
/// # Safety
/// argv holds argc pointers, each to argvlen[i] bytes (or a NUL-terminated string).
pub(crate) unsafe fn argv_slices<'a>(
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> Option<Vec<&'a [u8]>> {
    if argc < 0 || (argc > 0 && argv.is_null()) {
        return None;
    }
    let mut args = Vec::with_capacity(argc as usize);
    for i in 0..argc as usize {
        // SAFETY: per the contract above.
        unsafe {
            let p = *argv.add(i);
            let n = if argvlen.is_null() {
                libc::strlen(p)
            } else {
                *argvlen.add(i)
            };
            args.push(if n == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(p.cast::<u8>(), n)
            });
        }
    }
    Some(args)
}

/// Formats `args` into a new block from the installed allocator; (pointer, length).
pub(crate) unsafe fn format_to_block(args: &[&[u8]]) -> Option<(*mut c_char, usize)> {
    // encode_command makes the one allocation (with its own room to spare).
    let mut encoded = Vec::new();
    encode_command(&mut encoded, args);
    let n = encoded.len();
    // SAFETY: a fresh block of n + 1 bytes, filled below.
    unsafe {
        let p = hi_malloc(n + 1).cast::<u8>();
        if p.is_null() {
            return None;
        }
        std::ptr::copy_nonoverlapping(encoded.as_ptr(), p, n);
        *p.add(n) = 0;
        Some((p.cast(), n))
    }
}

/// Formats argv (argvlen NULL: C strings) into `*target`, allocated with hi_malloc. Returns
/// its length, or -1 when out of memory or target is NULL.
#[no_mangle]
pub unsafe extern "C" fn redisFormatCommandArgv(
    target: *mut *mut c_char,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> c_longlong {
    guard(-1, || {
        if target.is_null() {
            return -1;
        }
        // SAFETY: argv and argvlen as documented; target checked non-NULL.
        unsafe {
            let Some(args) = argv_slices(argc, argv, argvlen) else {
                return -1;
            };
            match format_to_block(&args) {
                Some((p, n)) => {
                    *target = p;
                    n as c_longlong
                }
                None => -1,
            }
        }
    })
}

/// As `redisFormatCommandArgv`, into an sds (free it with sdsfree or redisFreeSdsCommand).
#[no_mangle]
pub unsafe extern "C" fn redisFormatSdsCommandArgv(
    target: *mut Sds,
    argc: c_int,
    argv: *const *const c_char,
    argvlen: *const usize,
) -> c_longlong {
    guard(-1, || {
        if target.is_null() {
            return -1;
        }
        // SAFETY: as in redisFormatCommandArgv.
        unsafe {
            let Some(args) = argv_slices(argc, argv, argvlen) else {
                return -1;
            };
            let mut encoded = Vec::new();
            encode_command(&mut encoded, &args);
            let s = sds::from_bytes(&encoded);
            if s.is_null() {
                return -1;
            }
            *target = s;
            encoded.len() as c_longlong
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn redisFreeCommand(cmd: *mut c_char) {
    // SAFETY: cmd came from redisFormatCommand*, allocated with hi_malloc.
    guard((), || unsafe { hi_free(cmd.cast()) })
}

#[no_mangle]
pub unsafe extern "C" fn redisFreeSdsCommand(cmd: Sds) {
    // SAFETY: cmd came from redisFormatSdsCommandArgv.
    guard((), || unsafe { sds::free(cmd) })
}
