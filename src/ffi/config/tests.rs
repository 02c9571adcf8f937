//! The C functions of `redcore_config`, called as C would call them.

use std::ffi::{CStr, CString};
use std::ptr::{null, null_mut};
use std::time::Duration;

use super::*;
use crate::ffi::error::{redcore_error_free, redcore_error_get_code, redcore_error_message};

/// Runs `call` with a fresh error slot and returns the code with the error's message.
fn with_err(call: impl FnOnce(*mut *mut redcore_error) -> ErrorKind) -> (ErrorKind, String) {
    let mut err: *mut redcore_error = null_mut();
    let code = call(&mut err);
    if err.is_null() {
        return (code, String::new());
    }
    unsafe {
        assert_eq!(redcore_error_get_code(err), code);
        let message = CStr::from_ptr(redcore_error_message(err))
            .to_str()
            .unwrap()
            .to_string();
        redcore_error_free(err);
        (code, message)
    }
}

fn new_config() -> *mut redcore_config {
    let mut cfg = null_mut();
    assert_eq!(unsafe { redcore_config_new(&mut cfg) }, ErrorKind::Ok);
    assert!(!cfg.is_null());
    cfg
}

fn inner<'a>(cfg: *mut redcore_config) -> &'a Config {
    unsafe { &(*cfg).inner }
}

#[test]
fn new_gives_the_defaults() {
    let cfg = new_config();
    assert_eq!(*inner(cfg), Config::default());
    unsafe { redcore_config_free(cfg) };
    assert_eq!(
        unsafe { redcore_config_new(null_mut()) },
        ErrorKind::InvalidArgument
    );
    unsafe { redcore_config_free(null_mut()) };
}

#[test]
fn from_url_and_clone() {
    let url = c"redis://alice:hunter2@cache:6380/2?protocol=2&command_timeout=250ms";
    let mut cfg = null_mut();
    let (code, message) =
        with_err(|err| unsafe { redcore_config_from_url(url.as_ptr(), &mut cfg, err) });
    assert_eq!((code, message.as_str()), (ErrorKind::Ok, ""));
    let expected = Config::from_url(url.to_str().unwrap()).unwrap();
    assert_eq!(*inner(cfg), expected);
    assert_eq!(
        inner(cfg).to_url_redacted(),
        "redis://alice:***@cache:6380/2?protocol=2&command_timeout=250ms"
    );

    let mut copy = null_mut();
    assert_eq!(
        unsafe { redcore_config_clone(cfg, &mut copy) },
        ErrorKind::Ok
    );
    unsafe { redcore_config_free(cfg) };
    assert_eq!(*inner(copy), expected, "the copy outlives the original");
    unsafe { redcore_config_free(copy) };
}

#[test]
fn from_url_errors_fill_err_out_without_the_password() {
    let mut cfg = null_mut();
    let (code, message) = with_err(|err| unsafe {
        redcore_config_from_url(c"redis://u:hunter2@h:70000".as_ptr(), &mut cfg, err)
    });
    assert_eq!(code, ErrorKind::InvalidArgument);
    assert!(message.contains("invalid port '70000'"), "{message}");
    assert!(!message.contains("hunter2"));
    assert!(cfg.is_null(), "nothing written on failure");

    let (code, message) = with_err(|err| unsafe { redcore_config_from_url(null(), &mut cfg, err) });
    assert_eq!(
        (code, message.as_str()),
        (ErrorKind::InvalidArgument, "url is NULL")
    );
    let (code, message) =
        with_err(|err| unsafe { redcore_config_from_url(c"redis://h".as_ptr(), null_mut(), err) });
    assert_eq!(
        (code, message.as_str()),
        (ErrorKind::InvalidArgument, "out is NULL")
    );
    // err_out may be NULL.
    let code = unsafe { redcore_config_from_url(c"bogus".as_ptr(), &mut cfg, null_mut()) };
    assert_eq!(code, ErrorKind::InvalidArgument);
    let bad_utf8 = CString::new(b"redis://h\xff".to_vec()).unwrap();
    let (code, message) =
        with_err(|err| unsafe { redcore_config_from_url(bad_utf8.as_ptr(), &mut cfg, err) });
    assert_eq!(
        (code, message.as_str()),
        (ErrorKind::InvalidArgument, "url is not valid UTF-8")
    );
}

#[test]
fn null_arguments_are_invalid() {
    let mut out = null_mut();
    assert_eq!(
        unsafe { redcore_config_clone(null(), &mut out) },
        ErrorKind::InvalidArgument
    );
    let cfg = new_config();
    assert_eq!(
        unsafe { redcore_config_clone(cfg, null_mut()) },
        ErrorKind::InvalidArgument
    );

    type Setter = unsafe fn(*mut redcore_config, *mut *mut redcore_error) -> ErrorKind;
    let setters: &[Setter] = &[
        |c, e| unsafe { redcore_config_set_host(c, c"h".as_ptr(), 1, e) },
        |c, e| unsafe { redcore_config_set_unix_path(c, c"/s".as_ptr(), e) },
        |c, e| unsafe { redcore_config_set_db(c, 1, e) },
        |c, e| unsafe { redcore_config_set_username(c, c"u".as_ptr(), e) },
        |c, e| unsafe { redcore_config_set_password(c, c"p".as_ptr(), e) },
        |c, e| unsafe { redcore_config_set_client_name(c, c"n".as_ptr(), e) },
        |c, e| unsafe { redcore_config_set_protocol(c, 2, e) },
        |c, e| unsafe { redcore_config_set_connect_timeout_ms(c, 1, e) },
        |c, e| unsafe { redcore_config_set_command_timeout_ms(c, 1, e) },
        |c, e| unsafe { redcore_config_set_tcp_nodelay(c, false, e) },
        |c, e| unsafe { redcore_config_set_tcp_keepalive(c, true, 1, 1, 1, e) },
        |c, e| unsafe { redcore_config_set_connections_per_node(c, 2, e) },
        |c, e| unsafe { redcore_config_set_max_direct_connections_per_node(c, 2, e) },
        |c, e| unsafe { redcore_config_set_max_in_flight(c, 2, e) },
        |c, e| unsafe { redcore_config_set_max_dedicated_connections(c, 2, e) },
        |c, e| unsafe { redcore_config_set_dedicated_wait_timeout_ms(c, 2, e) },
        |c, e| unsafe { redcore_config_set_retry(c, 1, 1, 1, 1, e) },
        |c, e| unsafe { redcore_config_set_retry_written_commands(c, true, e) },
        |c, e| unsafe { redcore_config_set_health_check_interval_ms(c, 1, e) },
        |c, e| unsafe { redcore_config_set_reactor_threads(c, 2, e) },
        |c, e| unsafe { redcore_config_set_lazy_connect(c, true, e) },
        |c, e| unsafe { redcore_config_set_reader_limits(c, 1, 1, 1, e) },
        |c, e| unsafe { redcore_config_set_lib_info(c, null(), null(), e) },
    ];
    for (i, setter) in setters.iter().enumerate() {
        let (code, message) = with_err(|err| unsafe { setter(null_mut(), err) });
        assert_eq!(code, ErrorKind::InvalidArgument, "setter {i}");
        assert_eq!(message, "cfg is NULL", "setter {i}");
        assert_eq!(
            unsafe { setter(null_mut(), null_mut()) },
            ErrorKind::InvalidArgument
        );
        // The same setter on a live config succeeds.
        assert_eq!(
            unsafe { setter(cfg, null_mut()) },
            ErrorKind::Ok,
            "setter {i}"
        );
    }
    let (code, message) = with_err(|err| unsafe { redcore_config_set_host(cfg, null(), 1, err) });
    assert_eq!(
        (code, message.as_str()),
        (ErrorKind::InvalidArgument, "host is NULL")
    );
    let (code, message) = with_err(|err| unsafe { redcore_config_set_unix_path(cfg, null(), err) });
    assert_eq!(
        (code, message.as_str()),
        (ErrorKind::InvalidArgument, "path is NULL")
    );
    unsafe { redcore_config_free(cfg) };
}

#[test]
fn setters_change_the_config() {
    let cfg = new_config();
    unsafe {
        assert_eq!(
            redcore_config_set_host(cfg, c"[::1]".as_ptr(), 7000, null_mut()),
            ErrorKind::Ok
        );
        assert_eq!(
            inner(cfg).endpoint,
            Endpoint::Tcp {
                host: "::1".into(),
                port: 7000
            }
        );
        redcore_config_set_unix_path(cfg, c"/tmp/r.sock".as_ptr(), null_mut());
        assert_eq!(
            inner(cfg).endpoint,
            Endpoint::Unix {
                path: "/tmp/r.sock".into()
            }
        );
        redcore_config_set_db(cfg, 9, null_mut());
        redcore_config_set_username(cfg, c"alice".as_ptr(), null_mut());
        redcore_config_set_client_name(cfg, c"worker-1".as_ptr(), null_mut());
        redcore_config_set_protocol(cfg, 2, null_mut());
        redcore_config_set_connect_timeout_ms(cfg, 0, null_mut());
        redcore_config_set_command_timeout_ms(cfg, 1500, null_mut());
        redcore_config_set_tcp_nodelay(cfg, false, null_mut());
        redcore_config_set_tcp_keepalive(cfg, true, 60, 10, 5, null_mut());
        redcore_config_set_connections_per_node(cfg, 4, null_mut());
        redcore_config_set_max_direct_connections_per_node(cfg, 0, null_mut());
        redcore_config_set_max_in_flight(cfg, 0, null_mut());
        redcore_config_set_max_dedicated_connections(cfg, 0, null_mut());
        redcore_config_set_dedicated_wait_timeout_ms(cfg, 0, null_mut());
        redcore_config_set_retry(
            cfg,
            7,
            BackoffKind::DecorrelatedJitter as c_int,
            5,
            500,
            null_mut(),
        );
        redcore_config_set_retry_written_commands(cfg, true, null_mut());
        redcore_config_set_health_check_interval_ms(cfg, 30_000, null_mut());
        redcore_config_set_reactor_threads(cfg, 8, null_mut());
        redcore_config_set_lazy_connect(cfg, true, null_mut());
        redcore_config_set_reader_limits(cfg, 1024, 0, 16, null_mut());
        redcore_config_set_lib_info(cfg, c"redcore-go".as_ptr(), null(), null_mut());
    }
    let c = inner(cfg);
    assert_eq!(c.db, 9);
    assert_eq!(c.username.as_deref(), Some("alice"));
    assert_eq!(c.client_name.as_deref(), Some("worker-1"));
    assert_eq!(c.protocol, Protocol::Resp2);
    assert_eq!(c.connect_timeout, None);
    assert_eq!(c.command_timeout, Some(Duration::from_millis(1500)));
    assert!(!c.tcp_nodelay);
    assert_eq!(
        c.tcp_keepalive,
        Some(Keepalive {
            idle: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            count: 5
        })
    );
    assert_eq!(c.connections_per_node, 4);
    assert_eq!(c.max_direct_connections_per_node, 0);
    assert_eq!(c.max_in_flight_per_connection, 0);
    assert_eq!(c.max_dedicated_connections, 0);
    assert_eq!(c.dedicated_wait_timeout, Duration::ZERO);
    assert_eq!(c.retry.retries, 7);
    assert_eq!(
        c.retry.backoff,
        Backoff {
            kind: BackoffKind::DecorrelatedJitter,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(500)
        }
    );
    assert!(c.retry.retry_written_commands);
    assert_eq!(c.health_check_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.reactor_threads, 8);
    assert!(c.lazy_connect);
    assert_eq!(
        c.reader_limits,
        Limits {
            max_bulk_len: 1024,
            max_aggregate_len: Limits::default().max_aggregate_len,
            max_depth: 16,
            ..Limits::default()
        }
    );
    assert_eq!(c.lib_name.as_deref(), Some("redcore-go"));
    assert_eq!(c.lib_version, None);
    unsafe {
        redcore_config_set_tcp_keepalive(cfg, false, 0, 0, 0, null_mut());
        redcore_config_set_username(cfg, null(), null_mut());
        redcore_config_set_client_name(cfg, c"".as_ptr(), null_mut());
    }
    let c = inner(cfg);
    assert_eq!(c.tcp_keepalive, None);
    assert_eq!(c.username, None);
    assert_eq!(c.client_name, None);
    unsafe { redcore_config_free(cfg) };
}

#[test]
fn password_is_replaced_and_cleared() {
    let cfg = new_config();
    unsafe {
        assert_eq!(
            redcore_config_set_password(cfg, c"first".as_ptr(), null_mut()),
            ErrorKind::Ok
        );
        assert_eq!(inner(cfg).password.as_ref().unwrap().expose(), "first");
        redcore_config_set_password(cfg, c"second".as_ptr(), null_mut());
        assert_eq!(inner(cfg).password.as_ref().unwrap().expose(), "second");
        assert!(!format!("{:?}", inner(cfg)).contains("second"));
        redcore_config_set_password(cfg, null(), null_mut());
        assert_eq!(inner(cfg).password, None);
        redcore_config_set_password(cfg, c"third".as_ptr(), null_mut());
        redcore_config_set_password(cfg, c"".as_ptr(), null_mut());
        assert_eq!(inner(cfg).password, None);
        let bad = CString::new(b"hunter2\xff".to_vec()).unwrap();
        let (code, message) = with_err(|err| redcore_config_set_password(cfg, bad.as_ptr(), err));
        assert_eq!(
            (code, message.as_str()),
            (ErrorKind::InvalidArgument, "password is not valid UTF-8")
        );
        redcore_config_free(cfg);
    }
}

#[test]
fn setter_errors_name_the_argument_and_change_nothing() {
    let cfg = new_config();
    let before = inner(cfg).clone();
    type Setter = unsafe fn(*mut redcore_config, *mut *mut redcore_error) -> ErrorKind;
    let bad_utf8 = |c, e| unsafe {
        let text = CString::new(b"caf\xe9".to_vec()).unwrap();
        redcore_config_set_client_name(c, text.as_ptr(), e)
    };
    let cases: &[(Setter, &str)] = &[
        (
            |c, e| unsafe { redcore_config_set_host(c, c"".as_ptr(), 1, e) },
            "host is empty",
        ),
        (
            |c, e| unsafe { redcore_config_set_host(c, c"h".as_ptr(), 0, e) },
            "port",
        ),
        (
            |c, e| unsafe { redcore_config_set_unix_path(c, c"".as_ptr(), e) },
            "unix socket path",
        ),
        (
            |c, e| unsafe { redcore_config_set_client_name(c, c"a b".as_ptr(), e) },
            "client_name",
        ),
        (bad_utf8, "name is not valid UTF-8"),
        (
            |c, e| unsafe { redcore_config_set_protocol(c, 4, e) },
            "protocol must be 2 or 3, not 4",
        ),
        (
            |c, e| unsafe { redcore_config_set_tcp_keepalive(c, true, 0, 5, 3, e) },
            "tcp_keepalive.idle",
        ),
        (
            |c, e| unsafe { redcore_config_set_tcp_keepalive(c, true, 30, 5, 0, e) },
            "tcp_keepalive.count",
        ),
        (
            |c, e| unsafe { redcore_config_set_connections_per_node(c, 0, e) },
            "connections_per_node",
        ),
        (
            |c, e| unsafe { redcore_config_set_retry(c, 3, 99, 10, 1000, e) },
            "backoff 99 is not a redcore_backoff",
        ),
        (
            |c, e| unsafe { redcore_config_set_retry(c, 3, -1, 10, 1000, e) },
            "backoff -1",
        ),
        (
            |c, e| unsafe { redcore_config_set_retry(c, 3, 2, 2000, 1000, e) },
            "retry.backoff.base",
        ),
        (
            |c, e| unsafe { redcore_config_set_reactor_threads(c, 0, e) },
            "reactor_threads",
        ),
        (
            |c, e| unsafe { redcore_config_set_reactor_threads(c, 65, e) },
            "reactor_threads",
        ),
        (
            |c, e| unsafe { redcore_config_set_reader_limits(c, usize::MAX, 0, 0, e) },
            "max_bulk_len",
        ),
        (
            |c, e| unsafe { redcore_config_set_lib_info(c, c"my lib".as_ptr(), null(), e) },
            "lib_name",
        ),
    ];
    for (setter, fragment) in cases {
        let (code, message) = with_err(|err| unsafe { setter(cfg, err) });
        assert_eq!(code, ErrorKind::InvalidArgument, "{fragment}");
        assert!(message.contains(fragment), "`{message}` lacks `{fragment}`");
        assert_eq!(*inner(cfg), before, "{fragment}: config changed on error");
    }
    unsafe { redcore_config_free(cfg) };
}
