//! Which hiredis release's caller-allocated structs this build reads: hiredis 1.5's (the
//! headers in include/hiredis, the static archive and libhiredis.so.1.5.0) or 1.2 to 1.4's
//! (the file behind libhiredis.so.1.1.0, .1.3.0 and .1.4.0). Chosen when the shared library is
//! linked, not compiled: abi.c holds the default, abi_1_2.c the other value, and the Makefile
//! links two files from one archive (see abi.c for why).

use std::os::raw::c_int;

extern "C" {
    /// 5 or 2: the hiredis 1.x minor release whose layouts are read. Defined in abi.c
    /// (weak, 5) or abi_1_2.c (2).
    static redcore_hiredis_abi_minor: c_int;
}

/// Whether `redisSSLOptions` ends with `verify_name` (hiredis 1.5) in this build.
pub(crate) fn ssl_options_have_verify_name() -> bool {
    // SAFETY: a constant int defined in C, never written.
    unsafe { redcore_hiredis_abi_minor >= 5 }
}
