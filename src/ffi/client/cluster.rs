//! A cluster client from C: a dedicated connection on the node of a key, and the counters of
//! what the client met (redirections, retries, refreshes).

use std::os::raw::{c_char, c_int};

use super::{redcore_client, redcore_dedicated, write_counter};
use crate::error::{Error, ErrorKind};
use crate::ffi::error::redcore_error;
use crate::ffi::guard::{guard_code, null_arg};

/// A counter of `redcore_client_cluster_counter`. The numbers are ABI: never renumber.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum redcore_cluster_counter {
    /// MOVED replies: a slot had moved, the command went to its new owner (a transaction's
    /// or a dedicated connection's command fails instead, and the next one goes there).
    Moved = 0,
    /// ASK replies: a slot was migrating, the command went to the importing node (a
    /// transaction's or a dedicated connection's command fails instead).
    Ask = 1,
    /// TRYAGAIN replies, retried after a pause.
    Tryagain = 2,
    /// CLUSTERDOWN and MASTERDOWN replies, retried after a pause.
    Clusterdown = 3,
    /// Commands sent again after their connection was lost (never one that was written,
    /// unless it only reads or the config opts in).
    ConnectionRetries = 4,
    /// Topology refreshes started.
    Refreshes = 5,
    /// Topologies published that differed from the one before.
    TopologyChanges = 6,
}

/// Takes a dedicated connection on the node that serves `key` (`key_len` bytes; its slot's
/// primary) of a cluster client, for WATCH / MULTI / EXEC on keys of that slot: a command on
/// it with keys of another slot fails with `REDCORE_ERR_CROSS_SLOT_TRANSACTION`. On a client
/// of one server this is `redcore_client_dedicated`. Writes it to `*dedicated_out`; release
/// it with `redcore_dedicated_release`.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_dedicated_for_key(
    client: *const redcore_client,
    key: *const c_char,
    key_len: usize,
    dedicated_out: *mut *mut redcore_dedicated,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: client is NULL or live.
        let client = unsafe { client.as_ref() }.ok_or_else(|| null_arg("client"))?;
        if key.is_null() && key_len != 0 {
            return Err(null_arg("key"));
        }
        if dedicated_out.is_null() {
            return Err(null_arg("dedicated_out"));
        }
        let key: &[u8] = if key_len == 0 {
            &[]
        } else {
            // SAFETY: key is valid for key_len bytes, per the contract.
            unsafe { std::slice::from_raw_parts(key.cast::<u8>(), key_len) }
        };
        let inner = client.inner.dedicated_for_key(key)?;
        // SAFETY: dedicated_out was checked non-NULL.
        unsafe { *dedicated_out = Box::into_raw(Box::new(redcore_dedicated { inner })) };
        Ok(())
    })
}

/// Writes one counter of a cluster client (`counter`, a `redcore_cluster_counter` value
/// passed as an int) to `*out`. `REDCORE_ERR_INVALID_ARGUMENT` for a NULL argument, an
/// unknown counter, or a client of one server.
#[no_mangle]
pub unsafe extern "C" fn redcore_client_cluster_counter(
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
            .cluster_stats()
            .ok_or_else(|| Error::invalid_argument("the client is not a cluster client"))?;
        use redcore_cluster_counter as C;
        const ALL: [C; 7] = [
            C::Moved,
            C::Ask,
            C::Tryagain,
            C::Clusterdown,
            C::ConnectionRetries,
            C::Refreshes,
            C::TopologyChanges,
        ];
        let value = |which| match which {
            C::Moved => stats.moved,
            C::Ask => stats.ask,
            C::Tryagain => stats.tryagain,
            C::Clusterdown => stats.clusterdown,
            C::ConnectionRetries => stats.connection_retries,
            C::Refreshes => stats.refreshes,
            C::TopologyChanges => stats.topology_changes,
        };
        // SAFETY: out is NULL or writable.
        unsafe { write_counter(counter, "redcore_cluster_counter", &ALL, value, out) }
    })
}
