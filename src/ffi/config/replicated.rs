//! The `redcore_config` setter for replicated writes.

use std::time::Duration;

use super::super::error::redcore_error;
use super::super::guard::guard_code;
use super::{edit, redcore_config};
use crate::config::ReplicatedWrites;
use crate::error::ErrorKind;

/// Writes acknowledged only once `replicas` replicas have them (0: off, the default): each
/// command that writes, and each pipeline or transaction with a write, is followed by
/// `WAIT replicas timeout_ms` on its connection, and a write its replicas did not confirm
/// within `timeout_ms` fails with `REDCORE_ERR_TIMEOUT` (the master ran it; a failover may
/// lose it). For a master and its replicas, with or without Sentinel; a cluster client
/// refuses it (`REDCORE_ERR_INVALID_ARGUMENT`), as does a `timeout_ms` of 0. Commands on a
/// dedicated connection are not followed by a WAIT.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_replicated_writes(
    cfg: *mut redcore_config,
    replicas: u32,
    timeout_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let writes = (replicas != 0).then(|| ReplicatedWrites {
            replicas,
            timeout: Duration::from_millis(timeout_ms),
        });
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.replicated_writes = writes) }
    })
}
