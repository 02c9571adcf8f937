//! C class `redcore_config`: a client's configuration, built from defaults or a URL and
//! adjusted with setters, each checked as it is made.

use std::os::raw::{c_char, c_int};
use std::time::Duration;

use super::error::redcore_error;
use super::guard::{guard, guard_code, null_arg, opt_str_arg, str_arg};
use crate::config::{Backoff, BackoffKind, Config, Endpoint, Keepalive, Protocol, Secret};
use crate::error::{Error, ErrorKind, Result};
use crate::resp::Limits;

/// A client configuration: where to connect, credentials, timeouts, pool sizes, retry policy.
///
/// Underneath: a `Box`, single owner; free it with `redcore_config_free`. Not thread-safe while
/// being modified: a setter must not run at the same time as any other use of the same
/// config; reading it from several threads at once (`redcore_config_clone`, creating clients)
/// is fine. A client copies its configuration, so the config may be freed right after
/// `redcore_client_new`. The password it holds is overwritten in memory when it is replaced
/// or freed.
///
/// The setters (`redcore_config_set_*`) all work alike: strings are copied; each returns
/// `REDCORE_OK`, or `REDCORE_ERR_INVALID_ARGUMENT` for a NULL `cfg`, a string that is not UTF-8
/// or a value out of range (then the message in `*err_out`, when `err_out` is not NULL, names
/// the argument, and the config is left unchanged).
pub struct redcore_config {
    pub(crate) inner: Config,
}

/// Writes a new config with the defaults to `*out`: `127.0.0.1:6379` over TCP, no TLS, db 0, no
/// credentials, RESP3, connect and command timeouts 5 s, TCP_NODELAY on, keepalive on (idle
/// 30 s, interval 5 s, 3 probes), 1 connection per node, at most 10000 commands in flight per
/// connection, at most 16 dedicated connections waited for up to 5 s, 3 retries with equal
/// jitter backoff from 10 ms up to 1 s, written commands not retried, no health checks, 1
/// reactor thread, creation waits for the first connection, default reader limits, library
/// name "redcore" with this library's version. The caller owns the config.
///
/// Returns `REDCORE_OK`, or `REDCORE_ERR_INVALID_ARGUMENT` when `out` is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_new(out: *mut *mut redcore_config) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: out is NULL or writable, per the contract.
        unsafe { give(out, Config::default()) }
    })
}

/// Parses a URL into a new config, written to `*out` (owned by the caller). `url` is copied;
/// the caller keeps it (and should wipe it if it holds a password).
///
/// Forms: `redis://[[user][:password]@]host[:port][/db]`, `rediss://...` (TLS),
/// `unix://[[user][:password]@]/path/to/socket` (also `redis+unix://`), IPv6 hosts in brackets,
/// and for a cluster `redis+cluster://[[user][:password]@]host[:port][,host[:port]...]` (or
/// `rediss+cluster://`), whose hosts are startup nodes, with the parameters `read_from`
/// (`primary`, `round_robin`, `replicas`, `random`), `refresh_interval` and `max_redirects`.
/// Query parameters set the other fields, e.g.
/// `redis://:pw@cache:6380/2?protocol=2&command_timeout=250ms&retries=5&client_name=app`:
/// `db`, `protocol` (2 or 3), `username`, `password`, `client_name` (or `name`), `tls`,
/// `connect_timeout` (or `socket_connect_timeout`), `command_timeout` (or `socket_timeout`,
/// `timeout`), `tcp_nodelay`, `tcp_keepalive` (or `socket_keepalive`; a boolean or the idle
/// time), `connections_per_node` (or `pool_size`), `max_direct`, `max_in_flight`, `max_dedicated` (or
/// `max_connections`), `dedicated_wait_timeout`, `retries`, `backoff` (`none`, `constant`,
/// `exponential`, `full_jitter`, `equal_jitter`, `decorrelated_jitter`,
/// `exponential_with_jitter`), `backoff_base`, `backoff_cap`, `retry_written_commands`,
/// `health_check_interval`, `reactor_threads`, `lazy_connect`, `max_bulk_len`,
/// `max_aggregate_len`, `max_depth`, `max_line_len`. An unknown parameter is an error. Durations are seconds
/// (`0.5`) or take `ms` or `s` (`250ms`); `0` or `none` turns a timeout off. Booleans are
/// 1/0, true/false, yes/no or on/off. Percent-encode `/ ? # @ &` in a password.
///
/// Returns `REDCORE_OK`, or `REDCORE_ERR_INVALID_ARGUMENT` (NULL argument, malformed URL, bad
/// value; details in `*err_out` when `err_out` is not NULL; the message never contains the
/// password).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_from_url(
    url: *const c_char,
    out: *mut *mut redcore_config,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: url is NULL or a NUL-terminated string, per the contract.
        let url = unsafe { str_arg(url, "url") }?;
        if out.is_null() {
            return Err(null_arg("out"));
        }
        let config = Config::from_url(url)?;
        // SAFETY: out was checked non-NULL and is writable, per the contract.
        unsafe { give(out, config) }
    })
}

/// Writes to `*out` a new, independent copy of `cfg` (owned by the caller).
///
/// Returns `REDCORE_OK`, or `REDCORE_ERR_INVALID_ARGUMENT` when an argument is NULL.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_clone(
    cfg: *const redcore_config,
    out: *mut *mut redcore_config,
) -> ErrorKind {
    guard_code(std::ptr::null_mut(), || {
        // SAFETY: cfg is NULL or a live config not being modified.
        let cfg = unsafe { cfg.as_ref() }.ok_or_else(|| null_arg("cfg"))?;
        // SAFETY: out is NULL or writable, per the contract.
        unsafe { give(out, cfg.inner.clone()) }
    })
}

/// Frees a config, overwriting the password it holds. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_free(cfg: *mut redcore_config) {
    guard((), || {
        if !cfg.is_null() {
            // SAFETY: cfg came from this module's constructors and is freed once.
            drop(unsafe { Box::from_raw(cfg) });
        }
    })
}

/// Connects over TCP to `host` (a name, or an IP address; IPv6 with or without brackets) and
/// `port` (1 to 65535). `host` is copied. TLS is set by a `rediss://` URL.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_host(
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
                c.endpoint = Endpoint::Tcp {
                    host: host.into(),
                    port,
                };
            })
        }
    })
}

/// Connects to the Unix domain socket at `path` (copied; not empty).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_unix_path(
    cfg: *mut redcore_config,
    path: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: path is NULL or a NUL-terminated string, per the contract.
        let path = unsafe { str_arg(path, "path") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.endpoint = Endpoint::Unix { path: path.into() }) }
    })
}

/// Selects database `db` after connecting (default 0).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_db(
    cfg: *mut redcore_config,
    db: u32,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.db = db) }
    })
}

/// Sets the ACL user (copied). NULL or "" clears it: the `default` user.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_username(
    cfg: *mut redcore_config,
    username: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: username is NULL or a NUL-terminated string, per the contract.
        let username = unsafe { opt_str_arg(username, "username") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.username = non_empty(username).map(String::from)) }
    })
}

/// Sets the password or token (copied; the copy is overwritten when replaced or freed, the
/// caller's string is the caller's to wipe). NULL or "" clears it: no authentication.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_password(
    cfg: *mut redcore_config,
    password: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: password is NULL or a NUL-terminated string, per the contract.
        let password = unsafe { opt_str_arg(password, "password") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.password = non_empty(password).map(Secret::new)) }
    })
}

/// Sets the name sent with `CLIENT SETNAME` (copied; printable ASCII without spaces). NULL or
/// "" clears it.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_client_name(
    cfg: *mut redcore_config,
    name: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: name is NULL or a NUL-terminated string, per the contract.
        let name = unsafe { opt_str_arg(name, "name") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.client_name = non_empty(name).map(String::from)) }
    })
}

/// Sets the RESP version: 2 or 3 (default 3).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_protocol(
    cfg: *mut redcore_config,
    protocol: c_int,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let protocol = Protocol::from_version(protocol.into()).ok_or_else(|| {
            Error::invalid_argument(format!("protocol must be 2 or 3, not {protocol}"))
        })?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.protocol = protocol) }
    })
}

/// Sets the longest wait to open a connection, in milliseconds; 0 means no timeout (default
/// 5000).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_connect_timeout_ms(
    cfg: *mut redcore_config,
    timeout_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.connect_timeout = optional_ms(timeout_ms)) }
    })
}

/// Sets the longest wait for a command's reply, in milliseconds; 0 means no timeout (default
/// 5000).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_command_timeout_ms(
    cfg: *mut redcore_config,
    timeout_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.command_timeout = optional_ms(timeout_ms)) }
    })
}

/// Sets TCP_NODELAY on TCP connections (default true).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tcp_nodelay(
    cfg: *mut redcore_config,
    nodelay: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.tcp_nodelay = nodelay) }
    })
}

/// Turns TCP keepalive on or off. When `enabled`: the first probe after `idle_s` idle seconds,
/// then every `interval_s` seconds (both 1 to 32767), and the connection is dropped after
/// `count` unanswered probes (1 to 127). When not enabled the other arguments are ignored.
/// Default: on, 30 s, 5 s, 3.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_tcp_keepalive(
    cfg: *mut redcore_config,
    enabled: bool,
    idle_s: u32,
    interval_s: u32,
    count: u32,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                c.tcp_keepalive = enabled.then(|| Keepalive {
                    idle: Duration::from_secs(idle_s.into()),
                    interval: Duration::from_secs(interval_s.into()),
                    count,
                });
            })
        }
    })
}

/// Sets how many multiplexed connections are opened to each node (1 to 1024; default 1).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_connections_per_node(
    cfg: *mut redcore_config,
    connections: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.connections_per_node = connections) }
    })
}

/// Sets the most extra connections per node that blocking calls open (default 8; 0 disables
/// them; at most 1024). While another caller uses the shared connection, a blocking call
/// (`redcore_client_command_blocking`) takes an idle one of these and writes its command and
/// reads its reply on the calling thread, as hiredis does; when none is idle it opens one for
/// the calls to come (up to this many). They serve only while the blocking calls in progress
/// do not outnumber the node's connections: with more callers, all share the multiplexed
/// connection, which costs less per call.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_max_direct_connections_per_node(
    cfg: *mut redcore_config,
    max_direct: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.max_direct_connections_per_node = max_direct) }
    })
}

/// Sets the most commands awaiting a reply on one connection; more wait in the client's queue.
/// 0 means no limit (default 10000).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_max_in_flight(
    cfg: *mut redcore_config,
    max_in_flight: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.max_in_flight_per_connection = max_in_flight) }
    })
}

/// Sets the most connections set apart for blocking commands (BLPOP, ...) and for WATCH,
/// SUBSCRIBE and MONITOR. 0 disallows them (default 16).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_max_dedicated_connections(
    cfg: *mut redcore_config,
    max_dedicated: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.max_dedicated_connections = max_dedicated) }
    })
}

/// Sets how long, in milliseconds, to wait for a free dedicated connection before failing
/// with `REDCORE_ERR_MAX_CONNECTIONS`; 0 fails at once (default 5000).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_dedicated_wait_timeout_ms(
    cfg: *mut redcore_config,
    timeout_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                c.dedicated_wait_timeout = Duration::from_millis(timeout_ms)
            })
        }
    })
}

/// Sets the retry policy for connection errors and timeouts: up to `retries` retries (0 never
/// retries), waiting as `backoff` says (a `redcore_backoff` value, passed as an int so that an
/// unknown number is reported rather than misread) with its `base_ms` and `cap_ms` in
/// milliseconds (`base_ms` must not exceed `cap_ms`, except for `REDCORE_BACKOFF_NONE` and
/// `REDCORE_BACKOFF_CONSTANT`, which ignore the cap). Default: 3, equal jitter, 10, 1000.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_retry(
    cfg: *mut redcore_config,
    retries: u32,
    backoff: c_int,
    base_ms: u64,
    cap_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let kind = BackoffKind::from_code(backoff.into()).ok_or_else(|| {
            Error::invalid_argument(format!(
                "backoff {backoff} is not a redcore_backoff (0 to {})",
                BackoffKind::ALL.len() - 1
            ))
        })?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                c.retry.retries = retries;
                c.retry.backoff = Backoff {
                    kind,
                    base: Duration::from_millis(base_ms),
                    cap: Duration::from_millis(cap_ms),
                };
            })
        }
    })
}

/// Sets whether a command already written when its connection dropped is sent again (it may
/// run twice). Default false: it fails with `REDCORE_ERR_CONNECTION`.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_retry_written_commands(
    cfg: *mut redcore_config,
    retry: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.retry.retry_written_commands = retry) }
    })
}

/// Sets the idle time, in milliseconds, after which a connection is checked with PING before
/// use; 0 turns health checks off (the default).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_health_check_interval_ms(
    cfg: *mut redcore_config,
    interval_ms: u64,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.health_check_interval = optional_ms(interval_ms)) }
    })
}

/// Sets the number of event-loop threads, 1 to 64 (default 1).
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_reactor_threads(
    cfg: *mut redcore_config,
    threads: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.reactor_threads = threads) }
    })
}

/// Sets whether client creation returns before the first connection is up. Default false:
/// creation waits for the first connection and reports its error.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_lazy_connect(
    cfg: *mut redcore_config,
    lazy: bool,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.lazy_connect = lazy) }
    })
}

/// Sets the bounds on replies, as for `redcore_reader_new`; each may be 0 for its default:
/// `max_bulk_len` (longest string, default 512 MiB, at most 4294967295), `max_aggregate_len`
/// (most elements, default and maximum 4294967295), `max_depth` (deepest nesting, default
/// 512, at most 1000). A reply that breaks a limit fails with `REDCORE_ERR_PROTOCOL` and closes its
/// connection.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_reader_limits(
    cfg: *mut redcore_config,
    max_bulk_len: usize,
    max_aggregate_len: usize,
    max_depth: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let default = Limits::default();
        let pick = |v: usize, d: usize| if v == 0 { d } else { v };
        let limits = Limits {
            max_bulk_len: pick(max_bulk_len, default.max_bulk_len),
            max_aggregate_len: pick(max_aggregate_len, default.max_aggregate_len),
            max_depth: pick(max_depth, default.max_depth),
            ..default
        };
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.reader_limits = limits) }
    })
}

/// Sets the longest simple string, error or big number line a reply may carry (these have no
/// length up front, so every byte is held until the line ends), in bytes; 0 for the default,
/// 1 MiB; at most 4294967295. A longer line fails with `REDCORE_ERR_PROTOCOL` and closes its
/// connection.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_reader_line_limit(
    cfg: *mut redcore_config,
    max_line_len: usize,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        let max_line_len = if max_line_len == 0 {
            Limits::default().max_line_len
        } else {
            max_line_len
        };
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe { edit(cfg, |c| c.reader_limits.max_line_len = max_line_len) }
    })
}

/// Sets the library name and version sent with `CLIENT SETINFO` (copied; printable ASCII
/// without spaces), e.g. a binding's own name. NULL for either one sends nothing for it.
/// Default: "redcore" and this library's version.
#[no_mangle]
pub unsafe extern "C" fn redcore_config_set_lib_info(
    cfg: *mut redcore_config,
    name: *const c_char,
    version: *const c_char,
    err_out: *mut *mut redcore_error,
) -> ErrorKind {
    guard_code(err_out, || {
        // SAFETY: name and version are NULL or NUL-terminated strings, per the contract.
        let name = unsafe { opt_str_arg(name, "name") }?;
        // SAFETY: as above.
        let version = unsafe { opt_str_arg(version, "version") }?;
        // SAFETY: cfg is NULL or a live config used by this thread only.
        unsafe {
            edit(cfg, |c| {
                c.lib_name = name.map(String::from);
                c.lib_version = version.map(String::from);
            })
        }
    })
}

/// Boxes `config` and writes it to `*out`.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
unsafe fn give(out: *mut *mut redcore_config, config: Config) -> Result<()> {
    if out.is_null() {
        return Err(null_arg("out"));
    }
    let boxed = Box::into_raw(Box::new(redcore_config { inner: config }));
    // SAFETY: per the contract above.
    unsafe { *out = boxed };
    Ok(())
}

/// Applies `change` to a copy of the config behind `cfg` and keeps the copy only if it is
/// valid, so a failed setter leaves the config as it was.
///
/// # Safety
/// `cfg` is NULL or a live config that no other thread uses meanwhile.
pub(crate) unsafe fn edit(
    cfg: *mut redcore_config,
    change: impl FnOnce(&mut Config),
) -> Result<()> {
    // SAFETY: per the contract above.
    let cfg = unsafe { cfg.as_mut() }.ok_or_else(|| null_arg("cfg"))?;
    let mut next = cfg.inner.clone();
    change(&mut next);
    next.validate()?;
    cfg.inner = next;
    Ok(())
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

fn optional_ms(ms: u64) -> Option<Duration> {
    (ms != 0).then(|| Duration::from_millis(ms))
}

mod cache;
mod cluster;
mod replicated;
mod sentinel;
mod tls;

#[cfg(test)]
mod tests;
