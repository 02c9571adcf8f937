//! A sentinel client from C: the counters of what it met (discoveries, master changes,
//! events, held commands) and the state of its subscriptions.

use std::os::raw::c_int;

use super::redcore_client;
use crate::error::{Error, ErrorKind};
use crate::ffi::error::redcore_error;
use crate::ffi::guard::{guard_code, null_arg};

/// A counter of `redcore_client_sentinel_counter`. The numbers are ABI: never renumber.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum redcore_sentinel_counter {
    /// Discoveries started (at start, on sentinel events and errors, periodically).
    Discoveries = 0,
    /// Discoveries that found no master (`REDCORE_ERR_MASTER_NOT_FOUND`).
    DiscoveryFailures = 1,
    /// Times the master changed.
    MasterChanges = 2,
    /// Sentinel events about the service received.
    Events = 3,
    /// Times commands were held for a failover of the master.
    Holds = 4,
    /// Commands kept in the client until they could be sent (to the new master, ...).
    Parked = 5,
    /// Sentinels whose events the client receives now (a gauge, not a count).
    Subscribed = 6,
    /// Sentinels known now (a gauge).
    Sentinels = 7,
}

/// Writes one counter of a sentinel client (`counter`, a `redcore_sentinel_counter` value
/// passed as an int) to `*out`. `REDCORE_ERR_INVALID_ARGUMENT` for a NULL argument, an
/// unknown counter, or a client that is not a sentinel client.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_sentinel_counter(
    client: *const redcore_client,
    counter: c_int,
    out: *mut u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or live.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        if out.is_null() {
            return Err(null_arg("out"));
        }
        let stats = client
            .inner
            .sentinel_stats()
            .ok_or_else(|| Error::invalid_argument("the client is not a sentinel client"))?;
        use redcore_sentinel_counter as C;
        const ALL: [C; 8] = [
            C::Discoveries,
            C::DiscoveryFailures,
            C::MasterChanges,
            C::Events,
            C::Holds,
            C::Parked,
            C::Subscribed,
            C::Sentinels,
        ];
        let which = usize::try_from(counter)
            .ok()
            .and_then(|i| ALL.get(i))
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "counter {counter} is not a redcore_sentinel_counter (0 to {})",
                    ALL.len() - 1
                ))
            })?;
        let value = match which {
            C::Discoveries => stats.discoveries,
            C::DiscoveryFailures => stats.discovery_failures,
            C::MasterChanges => stats.master_changes,
            C::Events => stats.events,
            C::Holds => stats.holds,
            C::Parked => stats.parked,
            C::Subscribed => stats.subscribed,
            C::Sentinels => stats.sentinels,
        };
        // SAFETY: out was checked non-NULL.
        unsafe { *out = value };
        Ok(())
    })
}
