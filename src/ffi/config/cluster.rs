//! `redcore_config` setters for cluster mode: startup nodes, replica reads, topology refresh,
//! redirection bound, and the address-remap hook for NAT and containers.

use std::ffi::CStr;
use std::os::raw::{c_char, c_int, c_void};

use super::super::error::redcore_error;
use super::super::guard::{guard_code, str_arg};
use super::super::userdata::{redcore_userdata_free, Userdata};
use super::{edit, optional_ms, redcore_config};
use crate::config::{AddressRemap, ClusterOptions, Endpoint, ReadFrom};
use crate::error::{Error, ErrorKind};

/// Maps an address a cluster node announces (`host`, NUL-terminated, and `port`) to the one to
/// dial, for clusters behind NAT or in containers: writes the host (NUL-terminated, at most
/// `host_out_len` bytes with the NUL) to `host_out` and the port to `*port_out`, and returns
/// 1; returns 0 to keep the announced address (any other value is an error: the address is
/// kept). Called on a library thread, whenever a topology is read or a redirection names a
/// node; must not block, and must be safe to call from several threads at once. `host` lives
/// until the function returns.
pub type redcore_address_remap_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        host: *const c_char,
        port: u16,
        host_out: *mut c_char,
        host_out_len: usize,
        port_out: *mut u16,
    ) -> c_int,
>;

/// Turns cluster mode on or off. On: the config's host and port (`redcore_config_set_host`)
/// and the nodes added with `redcore_config_add_cluster_node` are startup nodes, asked in turn
/// for the topology (CLUSTER SHARDS, or CLUSTER SLOTS on servers before 7.0); the database
/// must be 0. A `redis+cluster://h1:p1,h2:p2` URL does the same. Off: one server again (added
/// startup nodes are forgotten).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_cluster(
    cfg: *mut redcore_config,
    enabled: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| match (enabled, c.cluster.is_some()) {
                (true, false) => c.cluster = Some(ClusterOptions::default()),
                (false, _) => c.cluster = None,
                (true, true) => {}
            })
        }
    })
}

/// Adds a startup node (`host` copied; IPv6 with or without brackets; port 1 to 65535) and
/// turns cluster mode on. Nodes are asked in order, after the config's own host; one that
/// fails is asked last next time.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_add_cluster_node(
    cfg: *mut redcore_config,
    host: *const c_char,
    port: u16,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: host is NULL or a NUL-terminated string, per the contract.
        let host = unsafe { str_arg(host, "host") }?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                let node = Endpoint::Tcp {
                    host: host.into(),
                    port,
                };
                c.cluster
                    .get_or_insert_with(ClusterOptions::default)
                    .nodes
                    .push(node);
            })
        }
    })
}

/// Sets where a cluster client sends read-only commands: a `redcore_read_from` value
/// (`REDCORE_READ_FROM_PRIMARY`, the default; `_ROUND_ROBIN` over the primary and its
/// replicas; `_REPLICAS`, the primary only when no replica is up; `_RANDOM`), passed as an int
/// so that an unknown value is an error. Only commands the server flags `readonly` leave the
/// primary; connections send READONLY in their handshake when this is not `_PRIMARY`. Fails
/// when cluster mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_read_from(
    cfg: *mut redcore_config,
    read_from: c_int,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let value = usize::try_from(read_from)
            .ok()
            .and_then(|i| ReadFrom::ALL.get(i).copied())
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "read_from {read_from} is not a redcore_read_from (0 to {})",
                    ReadFrom::ALL.len() - 1
                ))
            })?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit_cluster(cfg, |o| o.read_from = value) }
    })
}

/// Sets how often a cluster client refreshes its topology when nothing asks for it (errors
/// and redirections ask at once); 0 turns the periodic refresh off (default 30000 ms). Fails
/// when cluster mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_cluster_refresh_interval_ms(
    cfg: *mut redcore_config,
    ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit_cluster(cfg, |o| o.refresh_interval = optional_ms(ms)) }
    })
}

/// Sets how many times one command of a cluster client is sent again (after MOVED, ASK,
/// TRYAGAIN, CLUSTERDOWN or a lost connection) before it fails with `REDCORE_ERR_CLUSTER`
/// (0 to 255; default 16). Fails when cluster mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_cluster_max_redirects(
    cfg: *mut redcore_config,
    max_redirects: u32,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit_cluster(cfg, |o| o.max_redirects = max_redirects) }
    })
}

/// Sets the address-remap hook (see `redcore_address_remap_callback`); NULL removes it.
/// `userdata` is passed to every call; it must stay valid, and be usable from any thread,
/// until `userdata_free` (when not NULL) is called with it: once, after the config, its
/// clones and every client made from them are freed or the hook is replaced, and at once when
/// this function fails or `callback` is NULL. Fails when cluster mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_address_remap(
    cfg: *mut redcore_config,
    callback: redcore_address_remap_callback,
    userdata: *mut c_void,
    userdata_free: redcore_userdata_free,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let userdata = Userdata::new(userdata, userdata_free);
        let remap = callback.map(|callback| {
            let hook = move |host: &str, port: u16| remap_with(callback, &userdata, host, port);
            AddressRemap(std::sync::Arc::new(hook))
        });
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit_cluster(cfg, |o| o.address_remap = remap) }
    })
}

/// Calls the C hook; any failure keeps the announced address.
fn remap_with(
    callback: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        u16,
        *mut c_char,
        usize,
        *mut u16,
    ) -> c_int,
    userdata: &Userdata,
    host: &str,
    port: u16,
) -> Option<(String, u16)> {
    let host = std::ffi::CString::new(host).ok()?;
    let mut out = [0 as c_char; 256];
    let mut port_out = port;
    // SAFETY: the hook follows its contract: it writes at most `out.len()` bytes to `out`
    // and one u16 to `port_out`, both live for the call.
    let remapped = unsafe {
        callback(
            userdata.get(),
            host.as_ptr(),
            port,
            out.as_mut_ptr(),
            out.len(),
            &mut port_out,
        )
    };
    if remapped != 1 || port_out == 0 {
        return None;
    }
    // The hook may have left no NUL: then its answer is not used.
    let bytes: Vec<u8> = out.iter().map(|&c| c as u8).collect();
    let text = CStr::from_bytes_until_nul(&bytes).ok()?.to_str().ok()?;
    if text.is_empty() {
        return None;
    }
    Some((text.to_string(), port_out))
}

/// `edit` on the cluster options; INVALID_ARGUMENT when cluster mode is off.
///
/// # Safety
/// As `edit`.
unsafe fn edit_cluster(
    cfg: *mut redcore_config,
    change: impl FnOnce(&mut ClusterOptions),
) -> crate::error::Result<()> {
    let mut off = false;
    // SAFETY: per the contract above.
    let result = unsafe {
        edit(cfg, |c| match c.cluster.as_mut() {
            Some(options) => change(options),
            None => off = true,
        })
    };
    if off && result.is_ok() {
        return Err(Error::invalid_argument(
            "cluster mode is off: call redcore_config_set_cluster first (or use a \
             redis+cluster:// URL)",
        ));
    }
    result
}
