//! Tables of URLs: valid ones with the configuration they stand for, invalid ones with a
//! fragment of their error, and broken ones whose errors must not show the password.

use std::time::Duration;

use super::{format_duration, parse_duration};
use crate::config::{
    BackoffKind, ClusterOptions, Config, Endpoint, Keepalive, Protocol, ReadFrom, Secret,
};
use crate::error::ErrorKind;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn tcp(host: &str, port: u16) -> Endpoint {
    Endpoint::Tcp {
        host: host.into(),
        port,
    }
}

fn unix(path: &str) -> Endpoint {
    Endpoint::Unix { path: path.into() }
}

type Expect = fn(&mut Config);

/// Each URL with the edits that turn `Config::default()` into what it means.
const VALID: &[(&str, Expect)] = &[
    ("redis+cluster://h1:7000,h2:7001,[::1]:7002", |c| {
        c.endpoint = tcp("h1", 7000);
        c.cluster = Some(ClusterOptions {
            nodes: vec![tcp("h2", 7001), tcp("::1", 7002)],
            ..ClusterOptions::default()
        });
    }),
    (
        "rediss+cluster://u:p@h?read_from=replicas&refresh_interval=5s&max_redirects=5",
        |c| {
            c.endpoint = tcp("h", 6379);
            c.tls = true;
            c.username = Some("u".into());
            c.password = Some(Secret::new("p"));
            c.cluster = Some(ClusterOptions {
                read_from: ReadFrom::Replicas,
                refresh_interval: Some(5 * SEC),
                max_redirects: 5,
                ..ClusterOptions::default()
            });
        },
    ),
    (
        "REDIS+CLUSTER://h/0?read_from=Round_Robin&refresh_interval=none",
        |c| {
            c.endpoint = tcp("h", 6379);
            c.cluster = Some(ClusterOptions {
                read_from: ReadFrom::RoundRobin,
                refresh_interval: None,
                ..ClusterOptions::default()
            });
        },
    ),
    ("redis://localhost", |c| c.endpoint = tcp("localhost", 6379)),
    ("redis://localhost:6380/2", |c| {
        c.endpoint = tcp("localhost", 6380);
        c.db = 2;
    }),
    ("redis://h/", |c| c.endpoint = tcp("h", 6379)),
    // The path is percent-decoded, like every other part.
    ("redis://h/%32", |c| {
        c.endpoint = tcp("h", 6379);
        c.db = 2;
    }),
    ("REDIS://h", |c| c.endpoint = tcp("h", 6379)),
    ("rediss://h:7000", |c| {
        c.endpoint = tcp("h", 7000);
        c.tls = true;
    }),
    ("RedisS://h", |c| {
        c.endpoint = tcp("h", 6379);
        c.tls = true;
    }),
    ("redis://user:pa%40ss@h/1", |c| {
        c.endpoint = tcp("h", 6379);
        c.username = Some("user".into());
        c.password = Some(Secret::new("pa@ss"));
        c.db = 1;
    }),
    ("redis://:secret@h", |c| {
        c.endpoint = tcp("h", 6379);
        c.password = Some(Secret::new("secret"));
    }),
    ("redis://alice@h", |c| {
        c.endpoint = tcp("h", 6379);
        c.username = Some("alice".into());
    }),
    ("redis://alice:@h", |c| {
        c.endpoint = tcp("h", 6379);
        c.username = Some("alice".into());
    }),
    // An unencoded '@' in a password still works: the last '@' ends the credentials.
    ("redis://u:p@ss@h", |c| {
        c.endpoint = tcp("h", 6379);
        c.username = Some("u".into());
        c.password = Some(Secret::new("p@ss"));
    }),
    ("redis://[::1]:6380/2", |c| {
        c.endpoint = tcp("::1", 6380);
        c.db = 2;
    }),
    ("redis://[::1]", |c| c.endpoint = tcp("::1", 6379)),
    ("redis://u:p@[fe80::1]:1/0", |c| {
        c.endpoint = tcp("fe80::1", 1);
        c.username = Some("u".into());
        c.password = Some(Secret::new("p"));
    }),
    ("redis://my%2Dhost", |c| c.endpoint = tcp("my-host", 6379)),
    ("redis://10.0.0.1:65535", |c| {
        c.endpoint = tcp("10.0.0.1", 65535)
    }),
    ("unix:///tmp/redis.sock", |c| {
        c.endpoint = unix("/tmp/redis.sock")
    }),
    ("UNIX:///tmp/redis.sock", |c| {
        c.endpoint = unix("/tmp/redis.sock")
    }),
    ("redis+unix:///tmp/r.sock?db=3", |c| {
        c.endpoint = unix("/tmp/r.sock");
        c.db = 3;
    }),
    ("unix://u:p@/tmp/r.sock", |c| {
        c.endpoint = unix("/tmp/r.sock");
        c.username = Some("u".into());
        c.password = Some(Secret::new("p"));
    }),
    ("unix://:p@/run/redis@1.sock", |c| {
        c.endpoint = unix("/run/redis@1.sock");
        c.password = Some(Secret::new("p"));
    }),
    ("unix:///tmp/with%20space.sock?tls=1", |c| {
        c.endpoint = unix("/tmp/with space.sock");
        c.tls = true;
    }),
    ("redis://h/1?db=4", |c| {
        c.endpoint = tcp("h", 6379);
        c.db = 4;
    }),
    (
        "redis://h?protocol=2&client_name=app&connect_timeout=0.5&command_timeout=250ms\
         &tcp_nodelay=off&tcp_keepalive=60&connections_per_node=4&max_direct=3\
         &max_in_flight=0&max_dedicated=2&dedicated_wait_timeout=0&retries=5&backoff=full_jitter\
         &backoff_base=5ms&backoff_cap=2s&retry_written_commands=yes\
         &health_check_interval=10&reactor_threads=4&lazy_connect=TRUE&max_bulk_len=1024\
         &max_aggregate_len=100&max_depth=8&max_line_len=4096",
        |c| {
            c.endpoint = tcp("h", 6379);
            c.protocol = Protocol::Resp2;
            c.client_name = Some("app".into());
            c.connect_timeout = Some(500 * MS);
            c.command_timeout = Some(250 * MS);
            c.tcp_nodelay = false;
            c.tcp_keepalive = Some(Keepalive {
                idle: 60 * SEC,
                ..Keepalive::default()
            });
            c.connections_per_node = 4;
            c.max_direct_connections_per_node = 3;
            c.max_in_flight_per_connection = 0;
            c.max_dedicated_connections = 2;
            c.dedicated_wait_timeout = Duration::ZERO;
            c.retry.retries = 5;
            c.retry.backoff.kind = BackoffKind::FullJitter;
            c.retry.backoff.base = 5 * MS;
            c.retry.backoff.cap = 2 * SEC;
            c.retry.retry_written_commands = true;
            c.health_check_interval = Some(10 * SEC);
            c.reactor_threads = 4;
            c.lazy_connect = true;
            c.reader_limits.max_bulk_len = 1024;
            c.reader_limits.max_aggregate_len = 100;
            c.reader_limits.max_depth = 8;
            c.reader_limits.max_line_len = 4096;
        },
    ),
    (
        "redis://h?name=x&socket_timeout=none&pool_size=3&max_connections=7\
         &socket_connect_timeout=1.5s&socket_keepalive=no",
        |c| {
            c.endpoint = tcp("h", 6379);
            c.client_name = Some("x".into());
            c.command_timeout = None;
            c.connections_per_node = 3;
            c.max_dedicated_connections = 7;
            c.connect_timeout = Some(1500 * MS);
            c.tcp_keepalive = None;
        },
    ),
    (
        "redis://h?timeout=3s&connect_timeout=0&health_check_interval=NONE",
        |c| {
            c.endpoint = tcp("h", 6379);
            c.command_timeout = Some(3 * SEC);
            c.connect_timeout = None;
        },
    ),
    (
        "redis://h?tcp_keepalive=1&tcp_nodelay=On&lazy_connect=0",
        |c| {
            c.endpoint = tcp("h", 6379);
        },
    ),
    ("redis://h?username=bob&password=p%26w&&", |c| {
        c.endpoint = tcp("h", 6379);
        c.username = Some("bob".into());
        c.password = Some(Secret::new("p&w"));
    }),
    ("redis://old:pw@h?username=&password=", |c| {
        c.endpoint = tcp("h", 6379)
    }),
    ("redis://h?password=a+b", |c| {
        c.endpoint = tcp("h", 6379);
        c.password = Some(Secret::new("a+b"));
    }),
    ("redis://h?backoff=Decorrelated_Jitter&retries=0", |c| {
        c.endpoint = tcp("h", 6379);
        c.retry.backoff.kind = BackoffKind::DecorrelatedJitter;
        c.retry.retries = 0;
    }),
];

#[test]
fn valid_urls() {
    for (url, edit) in VALID {
        let mut expected = Config::default();
        edit(&mut expected);
        let parsed = Config::from_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(parsed, expected, "{url}");
        assert_eq!(
            url.parse::<Config>().unwrap(),
            expected,
            "{url} via FromStr"
        );
    }
}

const INVALID: &[(&str, &str)] = &[
    ("http://h", "unsupported URL scheme 'http://'"),
    // Longer than the clock can add to a deadline (it used to panic, or abort the process).
    (
        "redis://h?connect_timeout=10000000000000000000",
        "connect_timeout must be at most a year",
    ),
    (
        "redis://h?command_timeout=31536001",
        "command_timeout must be at most a year",
    ),
    (
        "redis://h?health_check_interval=99999999999",
        "health_check_interval must be at most a year",
    ),
    // Below a nanosecond is not zero, so it does not turn the timeout off.
    ("redis://h?command_timeout=0.0000000001", "at least 1 ns"),
    // The path's db is read as ?db= is: digits only, percent-decoded.
    ("redis://h/+2", "invalid database '+2'"),
    ("redis://h/-1", "invalid database '-1'"),
    ("redis+sentinel://h/m/+2", "invalid database '+2'"),
    ("localhost:6379", "no scheme"),
    ("://h", "scheme is malformed"),
    (
        "redis://a:1,b:2",
        "several hosts in a redis:// URL: a cluster's startup nodes go in a redis+cluster:// URL",
    ),
    ("redis://h?read_from=replicas", "applies to a cluster"),
    ("redis+cluster://h?read_from=any", "invalid value 'any'"),
    ("redis+cluster://h/2", "db must be 0 in cluster mode"),
    ("redis+cluster://h:1,:2", "the URL has no host"),
    (
        "redis+cluster://h?max_redirects=256",
        "cluster.max_redirects",
    ),
    ("redis+sentinel://h", "names no service"),
    ("redis+sentinel://h/mymaster/x", "invalid database 'x'"),
    (
        "redis+sentinel://h/m?role=leader",
        "expected master or replica",
    ),
    ("redis+sentinel://h/m?quorum=0", "sentinel.quorum"),
    ("redis://h?role=replica", "applies to sentinels"),
    ("redis://h?sentinel_password=x", "applies to sentinels"),
    ("redis://h:70000", "invalid port '70000'"),
    ("redis://h:0", "invalid port '0'"),
    ("redis://h:+1", "invalid port '+1'"),
    ("redis://h:", "invalid port ''"),
    ("redis://h:x", "invalid port 'x'"),
    ("redis://h/abc", "invalid database 'abc'"),
    ("redis://h/1/2", "invalid database '1/2'"),
    ("redis://h?db=x", "invalid value 'x' for URL parameter 'db'"),
    ("redis://h?db=", "invalid value '' for URL parameter 'db'"),
    (
        "redis://h?db=99999999999",
        "for URL parameter 'db': expected a whole number in range",
    ),
    (
        "redis://h?protocol=4",
        "invalid value '4' for URL parameter 'protocol': expected 2 or 3",
    ),
    ("redis://h?foo=1", "unknown URL parameter 'foo'"),
    ("redis://h?DB=1", "unknown URL parameter 'DB'"),
    ("redis://h?db", "URL parameter 'db' has no value"),
    (
        "redis://h?connect_timeout=soon",
        "invalid value 'soon' for URL parameter 'connect_timeout'",
    ),
    (
        "redis://h?connect_timeout=-1",
        "parameter 'connect_timeout'",
    ),
    (
        "redis://h?command_timeout=1m",
        "parameter 'command_timeout'",
    ),
    ("redis://h?backoff_base=1e3", "parameter 'backoff_base'"),
    (
        "redis://h?dedicated_wait_timeout=none",
        "parameter 'dedicated_wait_timeout'",
    ),
    (
        "redis://h?tcp_keepalive=sometimes",
        "parameter 'tcp_keepalive'",
    ),
    (
        "redis://h?tcp_nodelay=maybe",
        "expected 1/0, true/false, yes/no or on/off",
    ),
    (
        "redis://h?backoff=fibonacci",
        "invalid value 'fibonacci' for URL parameter 'backoff'",
    ),
    ("redis://h?retries=-1", "parameter 'retries'"),
    ("redis://", "no host"),
    ("redis://:6379", "no host"),
    ("redis://user:p@/0", "no host"),
    ("redis://h%zz", "bad percent escape in the host"),
    ("redis://h%4", "bad percent escape in the host"),
    ("redis://h%ff", "host is not valid UTF-8"),
    (
        "redis://h?client_name=%g0",
        "bad percent escape in the value of URL parameter 'client_name'",
    ),
    (
        "redis://h?na%me=1",
        "bad percent escape in the name of URL parameter 'na%me'",
    ),
    ("redis://::1:6379", "must be written in brackets"),
    ("redis://[::1", "no closing ']'"),
    (
        "redis://[::1]x",
        "unexpected text after the URL's IPv6 host",
    ),
    ("redis://[zz]:1", "invalid IPv6 address 'zz'"),
    // Found by the url fuzz target: a colon percent-encoded into a host name.
    (
        "redis+cluster://aad_fom=replicp%3ad",
        "must be written in brackets",
    ),
    ("redis://a%3Ab:1", "must be written in brackets"),
    ("redis://h#top", "fragment"),
    ("unix://", "no socket path"),
    ("unix:///", "no socket path"),
    ("unix://tmp/redis.sock", "absolute socket path"),
    ("unix:///tmp/%zz", "bad percent escape in the socket path"),
    (
        "redis://h?connections_per_node=0",
        "connections_per_node must be 1 to 1024, not 0",
    ),
    (
        "redis://h?pool_size=100000000",
        "connections_per_node must be 1 to 1024",
    ),
    (
        "redis://h?max_direct=1099511627776",
        "max_direct_connections_per_node must be at most 1024",
    ),
    (
        "redis://h?db=1&db=2",
        "URL parameter 'db' sets db, which is given already",
    ),
    (
        "redis://h?timeout=1&socket_timeout=5",
        "URL parameter 'socket_timeout' sets command_timeout, which is given already",
    ),
    (
        "redis://h?reactor_threads=100",
        "reactor_threads must be 1 to 64",
    ),
    ("redis://h?max_depth=0", "reader_limits.max_depth"),
    (
        "redis://h?client_name=a%20b",
        "client_name must be printable ASCII",
    ),
    ("redis://h?backoff_base=2s", "retry.backoff.base"),
];

#[test]
fn invalid_urls() {
    for (url, fragment) in INVALID {
        let err = Config::from_url(url).expect_err(url);
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{url}");
        assert!(
            err.message().contains(fragment),
            "{url}: `{}` lacks `{fragment}`",
            err.message()
        );
    }
}

/// Broken URLs around the password "hunter2": none of their errors may show any part of it.
const LEAKY: &[&str] = &[
    "redis://user:hunter2@h:70000",
    "redis://user:hunter2@h/x",
    "redis://user:hunter2@",
    // An unencoded '?' or '#' cuts the password in two; the halves look like a port, a host
    // or a parameter.
    "redis://user:hunt?er2@h",
    "redis://hunt?er2@h",
    "redis://user:hunt?er2=1@h",
    "redis://user:hunt#er2@h",
    "redis://:hunt%zzer2@h",
    "redis://:hunter2%ff@h",
    "redis://u:hunter2@[::1",
    "redis://u:hunter2@[zz]",
    "redis://u:hunter2@h?db=x&client_name=a@b",
    "unix://u:hunt/er2@/tmp/s",
    "unix://u:hunter2@",
    "redis://h?password=hunter2&bogus=1",
    "redis://h?password=hunt&er2",
    "redis://h?password=hunt&er2=x",
    "redis://h?password=hunt&db=er2",
    "redis://h?password=hunter2%zz",
    "redis://h?password=hunter2%ff",
    "redis://:hunter2@h?password=hunter2&connections_per_node=0",
];

#[test]
fn errors_never_show_the_password() {
    for url in LEAKY {
        let err = Config::from_url(url).expect_err(url);
        let text = err.to_string();
        for piece in ["hunter2", "hunt", "er2"] {
            assert!(!text.contains(piece), "{url}: `{text}` shows `{piece}`");
        }
    }
    // Pieces away from the credentials are still quoted.
    let err = Config::from_url("redis://u:hunter2@h?bogus=1").unwrap_err();
    assert!(err.message().contains("'bogus'"), "{err}");
    let err = Config::from_url("redis://h?bogus=1&password=hunter2").unwrap_err();
    assert!(err.message().contains("'bogus'"), "{err}");
}

#[test]
fn debug_and_display_hide_the_password() {
    let c = Config::from_url("redis://alice:hunter2@h:6380/3").unwrap();
    assert_eq!(c.password.as_ref().unwrap().expose(), "hunter2");
    assert!(!format!("{c:?}").contains("hunter2"));
    assert_eq!(c.to_string(), "redis://alice:***@h:6380/3");
    let c = Config::from_url("redis://:hunter2@h").unwrap();
    assert_eq!(c.to_url_redacted(), "redis://:***@h:6379");
}

#[test]
fn to_url_round_trips() {
    let urls = [
        "redis://127.0.0.1:6379",
        "rediss://alice@[::1]:6380/2",
        "unix:///tmp/my%20redis.sock?db=3&tls=true",
        "redis+cluster://a:1,b:2,[::1]:3?read_from=random&refresh_interval=none&max_redirects=3",
        "rediss+cluster://h:7000",
        "redis://h:1?protocol=2&client_name=app%2B1&connect_timeout=none\
         &command_timeout=0.000000001&health_check_interval=10s&tcp_nodelay=false\
         &tcp_keepalive=false&connections_per_node=4&max_direct=0&max_in_flight=0\
         &max_dedicated=0\
         &dedicated_wait_timeout=0s&retries=9&backoff=none&backoff_base=0s&backoff_cap=2s\
         &retry_written_commands=true&reactor_threads=8&lazy_connect=true&max_bulk_len=7\
         &max_aggregate_len=8&max_depth=9",
        "redis://h:1?tcp_keepalive=90s&backoff_base=1500ms&backoff_cap=5s",
        "rediss://h:6380?tls_ca_file=%2Fetc%2Fca.pem&tls_ca_dir=%2Fetc%2Fcerts\
         &tls_cert_file=c.pem&tls_key_file=k.pem&tls_server_name=cache.internal\
         &tls_min_version=1.3&tls_system_roots=true&tls_insecure=true",
    ];
    for url in urls {
        let c = Config::from_url(url).unwrap();
        let printed = c.to_url_redacted();
        assert_eq!(printed, url, "printing is canonical for {url}");
        assert_eq!(Config::from_url(&printed).unwrap(), c, "{printed}");
    }
    // Nothing but the password is lost.
    let c = Config::from_url("redis://u:pw@h?retries=1").unwrap();
    let back = Config::from_url(&c.to_url_redacted()).unwrap();
    assert_eq!(back.password.as_ref().unwrap().expose(), "***");
    assert_eq!(
        Config {
            password: c.password.clone(),
            ..back
        },
        c
    );
}

#[test]
fn durations() {
    let cases: &[(&str, Option<Duration>)] = &[
        ("0", Some(Duration::ZERO)),
        ("1", Some(SEC)),
        ("0.5", Some(500 * MS)),
        (".25", Some(250 * MS)),
        ("2.", Some(2 * SEC)),
        ("250ms", Some(250 * MS)),
        ("1.5ms", Some(Duration::from_micros(1500))),
        ("2s", Some(2 * SEC)),
        ("2S", Some(2 * SEC)),
        ("0.123456789", Some(Duration::from_nanos(123_456_789))),
        ("0.1234567891", Some(Duration::from_nanos(123_456_789))),
        ("18446744073709551615", Some(Duration::from_secs(u64::MAX))),
        ("18446744073709551616", None),
        ("", None),
        (".", None),
        ("s", None),
        ("-1", None),
        ("+1", None),
        ("1e3", None),
        ("1 s", None),
        ("1m", None),
        ("inf", None),
        ("nan", None),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_duration(text), *expected, "{text}");
    }
    for d in [
        Duration::ZERO,
        SEC,
        250 * MS,
        Duration::from_nanos(1),
        Duration::from_nanos(1_500_000_001),
        Duration::from_secs(u64::MAX),
    ] {
        assert_eq!(parse_duration(&format_duration(d)), Some(d), "{d:?}");
    }
    assert_eq!(format_duration(250 * MS), "250ms");
    assert_eq!(format_duration(2 * SEC), "2s");
    assert_eq!(format_duration(Duration::from_micros(1500)), "0.0015");
}

#[test]
fn tls_parameters_and_their_aliases() {
    use crate::config::TlsVersion;
    let c = Config::from_url(
        "rediss://10.0.0.7:6380?ssl_ca_certs=/ca.pem&ssl_ca_path=/certs&ssl_certfile=/c.pem\
         &ssl_keyfile=/k.pem&tls_server_name=node-1.cache&tls_min_version=TLSv1.3",
    )
    .unwrap();
    assert!(c.tls);
    let t = &c.tls_options;
    assert_eq!(t.ca_file.as_deref(), Some(std::path::Path::new("/ca.pem")));
    assert_eq!(t.ca_dir.as_deref(), Some(std::path::Path::new("/certs")));
    assert_eq!(
        t.client_cert_file.as_deref(),
        Some(std::path::Path::new("/c.pem"))
    );
    assert_eq!(
        t.client_key_file.as_deref(),
        Some(std::path::Path::new("/k.pem"))
    );
    assert_eq!(t.server_name.as_deref(), Some("node-1.cache"));
    assert_eq!(t.min_version, TlsVersion::Tls13);
    assert!(!t.insecure_skip_verify, "never on unless asked for");
    assert!(
        !Config::from_url("rediss://h")
            .unwrap()
            .tls_options
            .insecure_skip_verify
    );
    for (url, fragment) in [
        ("rediss://h?tls_min_version=1.1", "tls_min_version"),
        ("rediss://h?tls_insecure=maybe", "tls_insecure"),
        ("rediss://h?tls_cert_file=/c.pem", "tls_key_file"),
    ] {
        let err = Config::from_url(url).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.message().contains(fragment), "{url}: {err}");
    }
}
