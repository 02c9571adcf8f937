//! `redcore_config` setters for sentinel mode: the service and its sentinels, the role
//! (master or replicas), the quorum, and the sentinels' own credentials and TLS.

use std::os::raw::{c_char, c_int};

use super::super::error::redcore_error;
use super::super::guard::{guard_code, opt_str_arg, str_arg};
use super::{edit, non_empty, optional_ms, redcore_config};
use crate::config::{Endpoint, Secret, SentinelOptions, SentinelRole, TlsOptions};
use crate::error::{Error, ErrorKind};

/// Turns sentinel mode on: the client talks to the master (or, with
/// `redcore_config_set_sentinel_role`, the replicas) of `service` (copied), as the sentinel
/// at `host` (copied; IPv6 with or without brackets) and `port` (1 to 65535) and the ones
/// added with `redcore_config_add_sentinel` name it; the config's own host and port are not
/// used. A `redis+sentinel://s1:26379,s2:26379/service` URL does the same. A NULL `service`
/// turns sentinel mode off (and forgets the sentinels).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_sentinel(
    cfg: *mut redcore_config,
    service: *const c_char,
    host: *const c_char,
    port: u16,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: service is NULL or a NUL-terminated string, per the contract.
        let Some(service) = (unsafe { opt_str_arg(service, "service") })? else {
            // SAFETY: cfg is NULL or a live config used by this thread only.
            return unsafe { edit(cfg, |c| c.sentinel = None) };
        };
        // SAFETY: host is NULL or a NUL-terminated string, per the contract.
        let sentinel = unsafe { endpoint(host, port) }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                let options = c.sentinel.get_or_insert_with(SentinelOptions::default);
                options.service_name = service.to_string();
                options.sentinels = vec![sentinel];
            })
        }
    })
}

/// Adds a sentinel (`host` copied; IPv6 with or without brackets; port 1 to 65535). The
/// sentinels are asked all at once; those that answer are asked first next time, and the
/// sentinels they know of join the list. Fails when sentinel mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_add_sentinel(
    cfg: *mut redcore_config,
    host: *const c_char,
    port: u16,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: host is NULL or a NUL-terminated string, per the contract.
        let sentinel = unsafe { endpoint(host, port) }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit_sentinel(cfg, |o| o.sentinels.push(sentinel)) }
    })
}

/// Sets where a sentinel client's commands go: a `redcore_sentinel_role` value passed as an
/// int (`REDCORE_SENTINEL_ROLE_MASTER`, the default; `_REPLICA`: round robin over the healthy
/// replicas, a read client whose writes fail with `REDCORE_ERR_READ_ONLY`). With
/// `fallback_to_master`, a replica client sends its commands to the master while no replica
/// is healthy, instead of failing them with `REDCORE_ERR_REPLICA_NOT_FOUND`. Fails when
/// sentinel mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_sentinel_role(
    cfg: *mut redcore_config,
    role: c_int,
    fallback_to_master: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let role = match role {
            0 => SentinelRole::Master,
            1 => SentinelRole::Replica,
            _ => {
                return Err(Error::invalid_argument(format!(
                    "role {role} is not a redcore_sentinel_role (0 or 1)"
                )))
            }
        };
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit_sentinel(cfg, |o| {
                o.role = role;
                o.replica_fallback = fallback_to_master;
            })
        }
    })
}

/// Sets how many sentinels must name the same master before it is used (`quorum`, at least
/// 1; default 1: the first sentinel to answer with a healthy master decides), and how many
/// other sentinels each answering sentinel must see for its answer to count
/// (`min_other_sentinels`, default 0). Fails when sentinel mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_sentinel_quorum(
    cfg: *mut redcore_config,
    quorum: u32,
    min_other_sentinels: u32,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit_sentinel(cfg, |o| {
                o.quorum = quorum as usize;
                o.min_other_sentinels = u64::from(min_other_sentinels);
            })
        }
    })
}

/// Sets the sentinels' own credentials (copied): their ACL user (NULL or "": the default
/// user) and password (their `requirepass`; NULL or "": none). The data nodes' credentials
/// (`redcore_config_set_username` / `_password`) are never sent to the sentinels, nor these
/// to the data nodes. The password is overwritten in memory when replaced or freed. Fails
/// when sentinel mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_sentinel_credentials(
    cfg: *mut redcore_config,
    username: *const c_char,
    password: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: username and password are NULL or NUL-terminated strings, per the contract.
        let username = unsafe { opt_str_arg(username, "username") }?;
        // SAFETY: as above.
        let password = unsafe { opt_str_arg(password, "password") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit_sentinel(cfg, |o| {
                o.username = non_empty(username).map(String::from);
                o.password = non_empty(password).map(Secret::new);
            })
        }
    })
}

/// Sets TLS to the sentinels: `mode` -1 follows the data nodes (the default), 0 turns it off,
/// 1 turns it on. `ca_file` (copied; NULL: the data nodes' TLS settings) is the PEM file of
/// the CAs that signed the sentinels' certificates; the other settings are the data nodes'.
/// Fails when sentinel mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_sentinel_tls(
    cfg: *mut redcore_config,
    mode: c_int,
    ca_file: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let tls = match mode {
            -1 => None,
            0 => Some(false),
            1 => Some(true),
            _ => {
                return Err(Error::invalid_argument(format!(
                    "mode {mode} is not -1 (as the data nodes), 0 (off) or 1 (on)"
                )))
            }
        };
        // SAFETY: ca_file is NULL or a NUL-terminated string, per the contract.
        let ca_file = unsafe { opt_str_arg(ca_file, "ca_file") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                let data_tls: TlsOptions = c.tls_options.clone();
                if let Some(o) = c.sentinel.as_mut() {
                    o.tls = tls;
                    o.tls_options = non_empty(ca_file).map(|path| TlsOptions {
                        ca_file: Some(path.into()),
                        ..data_tls
                    });
                }
            })
        }
        .and_then(|()| sentinel_on(cfg))
    })
}

/// Sets how often a sentinel client asks the sentinels when nothing asks (their events and
/// the data nodes' errors ask at once; 0 turns the periodic discovery off; default 10000 ms),
/// and the longest time a master client holds its commands while the sentinels fail its
/// master over (`failover_hold_ms`, at least 1; default 10000 ms; commands also end at their
/// own timeout). Fails when sentinel mode is off.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_sentinel_timing(
    cfg: *mut redcore_config,
    refresh_interval_ms: u64,
    failover_hold_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit_sentinel(cfg, |o| {
                o.refresh_interval = optional_ms(refresh_interval_ms);
                o.failover_hold = std::time::Duration::from_millis(failover_hold_ms);
            })
        }
    })
}

/// A sentinel's address from C arguments.
///
/// # Safety
/// `host` is NULL or a NUL-terminated string.
unsafe fn endpoint(host: *const c_char, port: u16) -> crate::error::Result<Endpoint> {
    // SAFETY: per the contract above.
    let host = unsafe { str_arg(host, "host") }?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok(Endpoint::Tcp {
        host: host.into(),
        port,
    })
}

/// INVALID_ARGUMENT unless sentinel mode is on.
fn sentinel_on(cfg: *mut redcore_config) -> crate::error::Result<()> {
    // SAFETY: `edit` has just checked that cfg is a live config.
    let on = unsafe { cfg.as_ref() }.is_some_and(|c| c.inner.sentinel.is_some());
    if on {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "sentinel mode is off: call redcore_config_set_sentinel first (or use a \
             redis+sentinel:// URL)",
        ))
    }
}

/// `edit` on the sentinel options; INVALID_ARGUMENT when sentinel mode is off.
///
/// # Safety
/// As `edit`.
unsafe fn edit_sentinel(
    cfg: *mut redcore_config,
    change: impl FnOnce(&mut SentinelOptions),
) -> crate::error::Result<()> {
    // SAFETY: per the contract above.
    unsafe {
        edit(cfg, |c| {
            if let Some(options) = c.sentinel.as_mut() {
                change(options);
            }
        })
    }?;
    sentinel_on(cfg)
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;
    use std::ptr;

    use super::*;
    use crate::ffi::config::{redcore_config_free, redcore_config_new};

    #[test]
    fn setters_build_a_sentinel_config() {
        let mut cfg = ptr::null_mut();
        let s = |t: &str| CString::new(t).unwrap();
        // SAFETY: a config made here, used by this thread only; strings live for each call.
        unsafe {
            assert_eq!(redcore_config_new(&mut cfg), ErrorKind::Ok);
            let (host, service) = (s("127.0.0.1"), s("mymaster"));
            let off = redcore_config_add_sentinel(cfg, host.as_ptr(), 1, ptr::null_mut());
            assert_eq!(off, ErrorKind::InvalidArgument);
            let on = redcore_config_set_sentinel(
                cfg,
                service.as_ptr(),
                host.as_ptr(),
                26379,
                ptr::null_mut(),
            );
            assert_eq!(on, ErrorKind::Ok);
            let v6 = s("[::1]");
            let rc = redcore_config_add_sentinel(cfg, v6.as_ptr(), 26380, ptr::null_mut());
            assert_eq!(rc, ErrorKind::Ok);
            let rc = redcore_config_set_sentinel_role(cfg, 1, true, ptr::null_mut());
            assert_eq!(rc, ErrorKind::Ok);
            let rc = redcore_config_set_sentinel_role(cfg, 2, true, ptr::null_mut());
            assert_eq!(rc, ErrorKind::InvalidArgument);
            let rc = redcore_config_set_sentinel_quorum(cfg, 2, 1, ptr::null_mut());
            assert_eq!(rc, ErrorKind::Ok);
            let rc = redcore_config_set_sentinel_quorum(cfg, 0, 0, ptr::null_mut());
            assert_eq!(rc, ErrorKind::InvalidArgument);
            let (user, pw) = (s("watcher"), s("pw"));
            let rc = redcore_config_set_sentinel_credentials(
                cfg,
                user.as_ptr(),
                pw.as_ptr(),
                ptr::null_mut(),
            );
            assert_eq!(rc, ErrorKind::Ok);
            let ca = s("/etc/ca.pem");
            let rc = redcore_config_set_sentinel_tls(cfg, 1, ca.as_ptr(), ptr::null_mut());
            assert_eq!(rc, ErrorKind::Ok);
            let rc = redcore_config_set_sentinel_tls(cfg, 2, ptr::null(), ptr::null_mut());
            assert_eq!(rc, ErrorKind::InvalidArgument);
            let rc = redcore_config_set_sentinel_timing(cfg, 0, 2000, ptr::null_mut());
            assert_eq!(rc, ErrorKind::Ok);
            let o = (*cfg).inner.sentinel.clone().unwrap();
            assert_eq!(o.service_name, "mymaster");
            assert_eq!(o.sentinels.len(), 2);
            assert_eq!(
                o.sentinels[1],
                Endpoint::Tcp {
                    host: "::1".into(),
                    port: 26380
                }
            );
            assert_eq!(o.role, SentinelRole::Replica);
            assert!(o.replica_fallback);
            assert_eq!((o.quorum, o.min_other_sentinels), (2, 1));
            assert_eq!(o.username.as_deref(), Some("watcher"));
            assert_eq!(o.password.as_ref().map(Secret::expose), Some("pw"));
            assert_eq!(o.tls, Some(true));
            assert_eq!(
                o.tls_options.unwrap().ca_file.as_deref(),
                Some(std::path::Path::new("/etc/ca.pem"))
            );
            assert_eq!(o.refresh_interval, None);
            assert_eq!(o.failover_hold, std::time::Duration::from_secs(2));
            let rc = redcore_config_set_sentinel(cfg, ptr::null(), ptr::null(), 0, ptr::null_mut());
            assert_eq!(rc, ErrorKind::Ok);
            assert!((*cfg).inner.sentinel.is_none());
            redcore_config_free(cfg);
        }
    }
}
