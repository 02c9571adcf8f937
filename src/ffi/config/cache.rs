//! The `redcore_config` setter for client-side caching.

use super::super::error::redcore_error;
use super::super::guard::guard_code;
use super::{edit, redcore_config};
use crate::config::CacheOptions;
use crate::error::ErrorKind;

/// Turns client-side caching on (`enabled`) or off (the default). On: replies to the
/// read-only commands of the allow-list (GET, MGET, HGET, HGETALL, SMEMBERS, ...: see the
/// README) are kept in the client, keyed by the command and its arguments, and answered from
/// there until the server says one of their keys changed (CLIENT TRACKING on each node's
/// first connection); at most `max_entries` replies and `max_bytes` bytes, the least recently
/// used dropped first (0 for either: 10,000 entries, 64 MiB). Needs RESP3 (the default): on
/// a config set to RESP2 this fails with `REDCORE_ERR_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_cache(
    cfg: *mut redcore_config,
    enabled: bool,
    max_entries: usize,
    max_bytes: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let defaults = CacheOptions::default();
        let options = enabled.then_some(CacheOptions {
            max_entries: if max_entries == 0 {
                defaults.max_entries
            } else {
                max_entries
            },
            max_bytes: if max_bytes == 0 {
                defaults.max_bytes
            } else {
                max_bytes
            },
        });
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.cache = options) }
    })
}
