//! The client-side cache's counters from C.

use std::os::raw::c_int;

use super::{redcore_client, write_counter};
use crate::error::{Error, ErrorKind};
use crate::ffi::error::redcore_error;
use crate::ffi::guard::{guard_code, null_arg};

/// A counter of `redcore_client_cache_counter`. The numbers are ABI: never renumber.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum redcore_cache_counter {
    /// Reads answered from the cache.
    Hits = 0,
    /// Cacheable reads sent to the server.
    Misses = 1,
    /// Replies dropped to stay within the bounds, least recently used first.
    Evictions = 2,
    /// Replies (and reads in flight) dropped because a key they read changed.
    Invalidations = 3,
    /// Times the whole cache was emptied (an invalidation of every key, a lost connection, a
    /// cluster topology change).
    Flushes = 4,
    /// Replies held now.
    Entries = 5,
    /// Bytes held now.
    Bytes = 6,
}

/// Writes one counter of the client's cache (`counter`, a `redcore_cache_counter` value passed
/// as an int) to `*out`. `REDCORE_ERR_INVALID_ARGUMENT` for a NULL argument, an unknown
/// counter, or a client without a cache (`redcore_config_set_cache`).
#[no_mangle]
pub unsafe extern "C" fn redcore_client_cache_counter(
    client: *const redcore_client,
    counter: c_int,
    out: *mut u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or live.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        let stats = client
            .inner
            .cache_stats()
            .ok_or_else(|| Error::invalid_argument("the client has no cache"))?;
        use redcore_cache_counter as C;
        const ALL: [C; 7] = [
            C::Hits,
            C::Misses,
            C::Evictions,
            C::Invalidations,
            C::Flushes,
            C::Entries,
            C::Bytes,
        ];
        let value = |which| match which {
            C::Hits => stats.hits,
            C::Misses => stats.misses,
            C::Evictions => stats.evictions,
            C::Invalidations => stats.invalidations,
            C::Flushes => stats.flushes,
            C::Entries => stats.entries,
            C::Bytes => stats.bytes,
        };
        // SAFETY: out is NULL or writable.
        unsafe { write_counter(counter, "redcore_cache_counter", &ALL, value, out) }
    })
}
