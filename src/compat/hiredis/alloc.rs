//! Pluggable allocators (alloc.h): the exported `hiredisAllocFns` table that the inline hi_*
//! helpers of programs read, its setters, and the same helpers for the Rust side. Every block
//! the C caller may free or reallocate (replies, formatted commands, sds strings, contexts,
//! readers) comes from this table.

use std::os::raw::{c_char, c_void};

use super::types::hiredisAllocFuncs;
use crate::ffi::guard::guard;

const LIBC_ALLOCATORS: hiredisAllocFuncs = hiredisAllocFuncs {
    mallocFn: Some(libc::malloc),
    callocFn: Some(libc::calloc),
    reallocFn: Some(libc::realloc),
    strdupFn: Some(libc::strdup),
    freeFn: Some(libc::free),
};

/// The allocators in force. A data symbol, as in hiredis: programs compiled against hiredis's
/// alloc.h (or ours) call through it inline. Changed only by `hiredisSetAllocators` and
/// `hiredisResetAllocators`, which, as in hiredis, must not race with allocations.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut hiredisAllocFns: hiredisAllocFuncs = LIBC_ALLOCATORS;

fn current() -> hiredisAllocFuncs {
    // SAFETY: a plain copy of the table; writers are documented not to race with users.
    unsafe { std::ptr::addr_of!(hiredisAllocFns).read() }
}

fn install(fns: hiredisAllocFuncs) {
    // SAFETY: as in `current`.
    unsafe { std::ptr::addr_of_mut!(hiredisAllocFns).write(fns) }
}

/// Installs `*ha` as the allocators and returns the previous set. NULL changes nothing.
#[no_mangle]
pub unsafe extern "C" fn hiredisSetAllocators(ha: *mut hiredisAllocFuncs) -> hiredisAllocFuncs {
    guard(LIBC_ALLOCATORS, || {
        let old = current();
        // SAFETY: ha is NULL or points to a readable table, per the C contract.
        if let Some(new) = unsafe { ha.as_ref() } {
            install(*new);
        }
        old
    })
}

/// Goes back to the C library's allocators.
#[no_mangle]
pub extern "C" fn hiredisResetAllocators() {
    guard((), || install(LIBC_ALLOCATORS))
}

pub(crate) unsafe fn hi_malloc(size: usize) -> *mut c_void {
    match current().mallocFn {
        // SAFETY: an allocator installed by the program, called as malloc.
        Some(f) => unsafe { f(size) },
        None => std::ptr::null_mut(),
    }
}

/// calloc with the overflow check hiredis does before calling the installed callocFn.
pub(crate) unsafe fn hi_calloc(nmemb: usize, size: usize) -> *mut c_void {
    if size != 0 && nmemb > usize::MAX / size {
        return std::ptr::null_mut();
    }
    match current().callocFn {
        // SAFETY: as in hi_malloc.
        Some(f) => unsafe { f(nmemb, size) },
        None => std::ptr::null_mut(),
    }
}

pub(crate) unsafe fn hi_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    match current().reallocFn {
        // SAFETY: ptr came from this allocator family.
        Some(f) => unsafe { f(ptr, size) },
        None => std::ptr::null_mut(),
    }
}

pub(crate) unsafe fn hi_strdup(s: *const c_char) -> *mut c_char {
    match current().strdupFn {
        // SAFETY: s is a NUL-terminated string.
        Some(f) => unsafe { f(s) },
        None => std::ptr::null_mut(),
    }
}

pub(crate) unsafe fn hi_free(ptr: *mut c_void) {
    if let Some(f) = current().freeFn {
        // SAFETY: ptr is NULL or came from this allocator family.
        unsafe { f(ptr) }
    }
}

/// A zeroed block for one `T` (NULL when out of memory).
pub(crate) unsafe fn hi_calloc_one<T>() -> *mut T {
    // SAFETY: plain allocation.
    unsafe { hi_calloc(1, std::mem::size_of::<T>()).cast() }
}

/// A copy of `bytes` with a NUL after it, from the installed allocator (NULL when out of
/// memory).
pub(crate) unsafe fn hi_dup_bytes(bytes: &[u8]) -> *mut c_char {
    // SAFETY: plain allocation, then a copy into it.
    unsafe {
        let p = hi_malloc(bytes.len() + 1).cast::<u8>();
        if !p.is_null() {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            *p.add(bytes.len()) = 0;
        }
        p.cast()
    }
}
