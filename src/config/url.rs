//! `Config` from and to URLs: `redis://`, `rediss://`, `unix://` (and `redis+unix://`), with
//! typed query parameters.
//!
//! Error messages quote the offending piece of the URL to help, except where that piece may be
//! part of a password: anything between the scheme and the last `@`, and anything after a
//! `password=` parameter (an unencoded `/`, `?`, `&` or `#` in a password shifts the pieces
//! around, so a "host" or "parameter" may really be half a password).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::{
    BackoffKind, ClusterOptions, Config, Endpoint, Keepalive, Protocol, ReadFrom, ReplicatedWrites,
    Secret, SentinelOptions, TlsVersion, DEFAULT_PORT,
};

/// WAIT's timeout when a URL names `wait_replicas` alone.
const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(1);
use crate::error::{Error, Result};

impl Config {
    /// Parses a URL:
    ///
    /// - `redis://[[username][:password]@]host[:port][/db]`; `rediss://` is the same over
    ///   TLS. The port defaults to 6379; an IPv6 host goes in brackets (`redis://[::1]:6380/2`).
    /// - `unix://[[username][:password]@]/path/to/socket` (also `redis+unix://`).
    /// - `redis+cluster://[[username][:password]@]host[:port][,host[:port]...][/0]`: a
    ///   cluster, discovered from these startup nodes; `rediss+cluster://` over TLS.
    /// - `redis+sentinel://[[username][:password]@]host[:port][,host[:port]...]/service[/db]`:
    ///   the master (or with `role=replica` the replicas) of `service`, as the sentinels at
    ///   these addresses name it; a sentinel's port defaults to 26379; the user and password
    ///   are the data nodes' (the sentinels' are `sentinel_username` / `sentinel_password`);
    ///   `rediss+sentinel://` is TLS to both (`sentinel_tls=false` for plain sentinels).
    ///
    /// Query parameters override the rest (`?db=2&protocol=2`); a parameter given twice is an
    /// error.
    /// An unknown parameter is an error, so a typo cannot pass unnoticed.
    ///
    /// | parameter (aliases) | field |
    /// |---|---|
    /// | `db` | `db` |
    /// | `protocol` (2 or 3) | `protocol` |
    /// | `username`, `password` (empty = none) | `username`, `password` |
    /// | `client_name` (`name`) | `client_name` |
    /// | `tls` | `tls` (for `unix://`; `rediss://` sets it for TCP) |
    /// | `connect_timeout` (`socket_connect_timeout`) | `connect_timeout` |
    /// | `command_timeout` (`socket_timeout`, `timeout`) | `command_timeout` |
    /// | `tcp_nodelay` | `tcp_nodelay` |
    /// | `tcp_keepalive` (`socket_keepalive`): a boolean, or the idle time | `tcp_keepalive` |
    /// | `connections_per_node` (`pool_size`) | `connections_per_node` |
    /// | `max_direct` | `max_direct_connections_per_node` |
    /// | `max_in_flight` | `max_in_flight_per_connection` |
    /// | `max_dedicated` (`max_connections`) | `max_dedicated_connections` |
    /// | `dedicated_wait_timeout` | `dedicated_wait_timeout` |
    /// | `retries`, `retry_written_commands` | `retry.retries`, `retry.retry_written_commands` |
    /// | `backoff` (`none`, `constant`, `exponential`, `full_jitter`, `equal_jitter`, `decorrelated_jitter`, `exponential_with_jitter`) | `retry.backoff.kind` |
    /// | `backoff_base`, `backoff_cap` | `retry.backoff.base`, `retry.backoff.cap` |
    /// | `health_check_interval` | `health_check_interval` |
    /// | `reactor_threads` | `reactor_threads` |
    /// | `lazy_connect` | `lazy_connect` |
    /// | `max_bulk_len`, `max_aggregate_len`, `max_depth`, `max_line_len` | `reader_limits` |
    /// | `tls_ca_file` (`ssl_ca_certs`), `tls_ca_dir` (`ssl_ca_path`) | `tls_options.ca_file`, `.ca_dir` |
    /// | `tls_cert_file` (`ssl_certfile`), `tls_key_file` (`ssl_keyfile`) | `tls_options.client_cert_file`, `.client_key_file` |
    /// | `tls_server_name` | `tls_options.server_name` |
    /// | `tls_min_version` (`1.2` or `1.3`) | `tls_options.min_version` |
    /// | `tls_system_roots` | `tls_options.system_roots` |
    /// | `tls_insecure` (skips certificate verification: tests only) | `tls_options.insecure_skip_verify` |
    /// | `read_from` (`primary`, `round_robin`, `replicas`, `random`) | `cluster.read_from` |
    /// | `refresh_interval` | `cluster.refresh_interval` |
    /// | `max_redirects` | `cluster.max_redirects` |
    /// | `role` (`master`, `replica`), `replica_fallback` | `sentinel.role`, `sentinel.replica_fallback` |
    /// | `quorum`, `min_other_sentinels` | `sentinel.quorum`, `sentinel.min_other_sentinels` |
    /// | `sentinel_username`, `sentinel_password`, `sentinel_tls` | `sentinel.username`, `.password`, `.tls` |
    /// | `refresh_interval`, `failover_hold` | `sentinel.refresh_interval`, `sentinel.failover_hold` |
    ///
    /// Durations are decimal seconds (`0.5`) or take a unit, `ms` or `s` (`250ms`, `2s`); for
    /// timeouts and intervals that can be off, `0` or `none` turns them off. Booleans are
    /// `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`, in any case (`tcp_keepalive=1` is a
    /// boolean, not one second).
    ///
    /// The scheme is case-insensitive. User, password, host, path and parameters are
    /// percent-decoded (`+` stays a plus). A password without a user (`redis://:pw@host`)
    /// authenticates the default user. Every other field keeps its default, and the result is
    /// validated. Errors are `INVALID_ARGUMENT` and never contain the password.
    pub fn from_url(url: &str) -> Result<Config> {
        UrlParser::new(url).parse()
    }

    /// The configuration as a URL that [`Config::from_url`] reads back, with the password
    /// shown as `***` (for logs). Settings at their defaults are left out. A URL cannot carry
    /// `lib_name`, `lib_version`, nor a keepalive interval or count other than the defaults;
    /// those are left out too.
    pub fn to_url_redacted(&self) -> String {
        let mut out = String::new();
        let unix = matches!(self.endpoint, Endpoint::Unix { .. });
        let cluster = self.cluster.is_some();
        if let Some(sentinel) = &self.sentinel {
            self.sentinel_url(sentinel, &mut out);
        } else {
            self.node_url(cluster, &mut out);
        }
        let params = self.non_default_params(unix);
        for (i, (name, value)) in params.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(name);
            out.push('=');
            encode_into(&mut out, value, false);
        }
        out
    }

    /// The user part: `user:***@`, or nothing.
    fn userinfo_url(&self, out: &mut String) {
        if self.username.is_some() || self.password.is_some() {
            if let Some(user) = &self.username {
                encode_into(out, user, false);
            }
            if self.password.is_some() {
                out.push_str(":***");
            }
            out.push('@');
        }
    }

    /// `host:port`, with an IPv6 host in brackets.
    fn hostport_url(endpoint: &Endpoint, out: &mut String) {
        if let Endpoint::Tcp { host, port } = endpoint {
            if host.contains(':') {
                out.push('[');
                out.push_str(host);
                out.push(']');
            } else {
                encode_into(out, host, false);
            }
            out.push_str(&format!(":{port}"));
        }
    }

    /// Scheme, user and place of a client of one server or a cluster.
    fn node_url(&self, cluster: bool, out: &mut String) {
        out.push_str(match (&self.endpoint, self.tls, cluster) {
            (Endpoint::Tcp { .. }, false, false) => "redis://",
            (Endpoint::Tcp { .. }, true, false) => "rediss://",
            (Endpoint::Tcp { .. }, false, true) => "redis+cluster://",
            (Endpoint::Tcp { .. }, true, true) => "rediss+cluster://",
            (Endpoint::Unix { .. }, _, _) => "unix://",
        });
        self.userinfo_url(out);
        match &self.endpoint {
            Endpoint::Tcp { .. } => {
                for (i, node) in self.startup_nodes().iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    Config::hostport_url(node, out);
                }
                if self.db != 0 {
                    out.push_str(&format!("/{}", self.db));
                }
            }
            Endpoint::Unix { path } => encode_into(out, &path.to_string_lossy(), true),
        }
    }

    /// The query parameters that differ from the defaults, in a fixed order.
    fn non_default_params(&self, unix: bool) -> Vec<(&'static str, String)> {
        let d = Config::default();
        let mut p: Vec<(&'static str, String)> = Vec::new();
        if unix && self.db != 0 {
            p.push(("db", self.db.to_string()));
        }
        if unix && self.tls {
            p.push(("tls", "true".into()));
        }
        if self.protocol != d.protocol {
            p.push(("protocol", self.protocol.version().to_string()));
        }
        if let Some(name) = &self.client_name {
            p.push(("client_name", name.clone()));
        }
        let timeouts = [
            ("connect_timeout", self.connect_timeout, d.connect_timeout),
            ("command_timeout", self.command_timeout, d.command_timeout),
            (
                "health_check_interval",
                self.health_check_interval,
                d.health_check_interval,
            ),
        ];
        for (name, value, default) in timeouts {
            if value != default {
                p.push((name, value.map_or_else(|| "none".into(), format_duration)));
            }
        }
        if self.tcp_nodelay != d.tcp_nodelay {
            p.push(("tcp_nodelay", self.tcp_nodelay.to_string()));
        }
        if let Some(writes) = &self.replicated_writes {
            p.push(("wait_replicas", writes.replicas.to_string()));
            p.push(("wait_timeout", format_duration(writes.timeout)));
        }
        if self.tcp_keepalive != d.tcp_keepalive {
            let value = match &self.tcp_keepalive {
                None => "false".into(),
                Some(k) => format_duration(k.idle),
            };
            p.push(("tcp_keepalive", value));
        }
        let counts = [
            (
                "connections_per_node",
                self.connections_per_node,
                d.connections_per_node,
            ),
            (
                "max_direct",
                self.max_direct_connections_per_node,
                d.max_direct_connections_per_node,
            ),
            (
                "max_in_flight",
                self.max_in_flight_per_connection,
                d.max_in_flight_per_connection,
            ),
            (
                "max_dedicated",
                self.max_dedicated_connections,
                d.max_dedicated_connections,
            ),
        ];
        for (name, value, default) in counts {
            if value != default {
                p.push((name, value.to_string()));
            }
        }
        if self.dedicated_wait_timeout != d.dedicated_wait_timeout {
            p.push((
                "dedicated_wait_timeout",
                format_duration(self.dedicated_wait_timeout),
            ));
        }
        let (retry, dr) = (&self.retry, &d.retry);
        if retry.retries != dr.retries {
            p.push(("retries", retry.retries.to_string()));
        }
        if retry.backoff.kind != dr.backoff.kind {
            p.push(("backoff", retry.backoff.kind.name().into()));
        }
        if retry.backoff.base != dr.backoff.base {
            p.push(("backoff_base", format_duration(retry.backoff.base)));
        }
        if retry.backoff.cap != dr.backoff.cap {
            p.push(("backoff_cap", format_duration(retry.backoff.cap)));
        }
        if retry.retry_written_commands != dr.retry_written_commands {
            p.push((
                "retry_written_commands",
                retry.retry_written_commands.to_string(),
            ));
        }
        if self.reactor_threads != d.reactor_threads {
            p.push(("reactor_threads", self.reactor_threads.to_string()));
        }
        if self.lazy_connect != d.lazy_connect {
            p.push(("lazy_connect", self.lazy_connect.to_string()));
        }
        let (l, dl) = (&self.reader_limits, &d.reader_limits);
        let limits = [
            ("max_bulk_len", l.max_bulk_len, dl.max_bulk_len),
            (
                "max_aggregate_len",
                l.max_aggregate_len,
                dl.max_aggregate_len,
            ),
            ("max_depth", l.max_depth, dl.max_depth),
            ("max_line_len", l.max_line_len, dl.max_line_len),
        ];
        for (name, value, default) in limits {
            if value != default {
                p.push((name, value.to_string()));
            }
        }
        let t = &self.tls_options;
        let paths = [
            ("tls_ca_file", &t.ca_file),
            ("tls_ca_dir", &t.ca_dir),
            ("tls_cert_file", &t.client_cert_file),
            ("tls_key_file", &t.client_key_file),
        ];
        for (name, path) in paths {
            if let Some(path) = path {
                p.push((name, path.to_string_lossy().into_owned()));
            }
        }
        if let Some(name) = &t.server_name {
            p.push(("tls_server_name", name.clone()));
        }
        if t.min_version != TlsVersion::default() {
            p.push(("tls_min_version", t.min_version.name().into()));
        }
        if t.system_roots {
            p.push(("tls_system_roots", "true".into()));
        }
        if t.insecure_skip_verify {
            p.push(("tls_insecure", "true".into()));
        }
        if let Some(c) = &self.cluster {
            let dc = ClusterOptions::default();
            if c.read_from != dc.read_from {
                p.push(("read_from", c.read_from.name().into()));
            }
            if c.refresh_interval != dc.refresh_interval {
                let value = c
                    .refresh_interval
                    .map_or_else(|| "none".into(), format_duration);
                p.push(("refresh_interval", value));
            }
            if c.max_redirects != dc.max_redirects {
                p.push(("max_redirects", c.max_redirects.to_string()));
            }
        }
        if let Some(o) = &self.sentinel {
            sentinel::params(o, &mut p);
        }
        p
    }
}

impl FromStr for Config {
    type Err = Error;

    /// Same as [`Config::from_url`].
    fn from_str(url: &str) -> Result<Config> {
        Config::from_url(url)
    }
}

impl fmt::Display for Config {
    /// The URL of [`Config::to_url_redacted`]: the password shows as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_url_redacted())
    }
}

/// One parse of one URL, remembering which parts of it must not be quoted in errors.
struct UrlParser<'a> {
    url: &'a str,
    /// Byte range that may hold credentials: from after `://` to the last `@`.
    credentials: std::ops::Range<usize>,
    /// Offset from which everything may be a query password (set when `password=` is seen).
    password_from: usize,
}

enum Transport {
    Tcp { tls: bool, cluster: bool },
    Sentinel { tls: bool },
    Unix,
}

impl<'a> UrlParser<'a> {
    fn new(url: &'a str) -> UrlParser<'a> {
        let start = url.find("://").map_or(0, |i| i + 3);
        let credentials = match url.rfind('@') {
            Some(at) if at >= start => start..at,
            _ => 0..0,
        };
        UrlParser {
            url,
            credentials,
            password_from: url.len(),
        }
    }

    /// Where `piece`, a slice of the URL, starts in it.
    fn offset(&self, piece: &str) -> usize {
        let offset = (piece.as_ptr() as usize).wrapping_sub(self.url.as_ptr() as usize);
        debug_assert!(
            offset + piece.len() <= self.url.len(),
            "not a slice of the URL"
        );
        offset
    }

    /// `'piece'` when it is safe to quote, else a phrase saying why it is not shown.
    fn quote(&self, piece: &str) -> String {
        let start = self.offset(piece);
        let end = start + piece.len();
        if start < self.credentials.end && self.credentials.start < end {
            "(not shown: it may be part of the password; percent-encode '/', '?', '#' and '@' \
             in a password)"
                .into()
        } else if end > self.password_from {
            "(not shown: it follows the password parameter; percent-encode '&' in a password \
             as %26)"
                .into()
        } else {
            format!("'{piece}'")
        }
    }

    fn parse(mut self) -> Result<Config> {
        let url = self.url;
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid(
                "the URL has no scheme: expected redis://, rediss:// or unix://",
            ));
        };
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "redis" => Transport::Tcp {
                tls: false,
                cluster: false,
            },
            "rediss" => Transport::Tcp {
                tls: true,
                cluster: false,
            },
            "redis+cluster" => Transport::Tcp {
                tls: false,
                cluster: true,
            },
            "rediss+cluster" => Transport::Tcp {
                tls: true,
                cluster: true,
            },
            "unix" | "redis+unix" => Transport::Unix,
            "redis+sentinel" => Transport::Sentinel { tls: false },
            "rediss+sentinel" => Transport::Sentinel { tls: true },
            _ if is_scheme_like(scheme) => {
                return Err(invalid(format!(
                    "unsupported URL scheme '{scheme}://': expected redis://, rediss:// or unix://"
                )))
            }
            _ => return Err(invalid("the URL's scheme is malformed")),
        };
        if rest.contains('#') {
            return Err(invalid(
                "the URL has a fragment ('#'): percent-encode a '#' in a password as %23",
            ));
        }
        let (main, query) = match rest.split_once('?') {
            Some((main, query)) => (main, Some(query)),
            None => (rest, None),
        };
        let mut config = Config::default();
        match transport {
            Transport::Tcp { tls, cluster } => {
                config.tls = tls;
                if cluster {
                    config.cluster = Some(ClusterOptions::default());
                }
                self.parse_tcp(main, &mut config)?;
            }
            Transport::Sentinel { tls } => {
                config.tls = tls;
                config.sentinel = Some(SentinelOptions::default());
                self.parse_sentinel(main, &mut config)?;
            }
            Transport::Unix => self.parse_unix(main, &mut config)?,
        }
        if let Some(query) = query {
            self.parse_query(query, &mut config)?;
        }
        if config.replicated_writes.is_some_and(|w| w.replicas == 0) {
            return Err(invalid(
                "URL parameter 'wait_timeout' needs 'wait_replicas' (how many replicas)",
            ));
        }
        config.validate()?;
        Ok(config)
    }

    fn parse_tcp(&self, main: &str, config: &mut Config) -> Result<()> {
        let (userinfo, after) = match main.rfind('@') {
            Some(at) => (Some(&main[..at]), &main[at + 1..]),
            None => (None, main),
        };
        if let Some(userinfo) = userinfo {
            parse_userinfo(userinfo, config)?;
        }
        let (hostport, path) = match after.split_once('/') {
            Some((hostport, path)) => (hostport, Some(path)),
            None => (after, None),
        };
        let mut hosts = hostport.split(',');
        let (host, port) = self.parse_hostport(hosts.next().unwrap_or(""), DEFAULT_PORT)?;
        config.endpoint = Endpoint::Tcp { host, port };
        match config.cluster.as_mut() {
            Some(cluster) => {
                for more in hosts {
                    let (host, port) = self.parse_hostport(more, DEFAULT_PORT)?;
                    cluster.nodes.push(Endpoint::Tcp { host, port });
                }
            }
            None if hostport.contains(',') => {
                return Err(invalid(
                    "several hosts in a redis:// URL: a cluster's startup nodes go in a \
                     redis+cluster:// URL",
                ))
            }
            None => {}
        }
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            config.db = self.path_db(path, "redis://host:port/2")?;
        }
        Ok(())
    }

    /// The database number of a URL path (percent-decoded, digits only, as `?db=` takes it).
    pub(super) fn path_db(&self, path: &str, example: &str) -> Result<u32> {
        let refused = || {
            invalid(format!(
                "invalid database {} in the URL path: expected a whole number ({example})",
                self.quote(path)
            ))
        };
        let text = decode(path, "URL path")?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refused());
        }
        text.parse().map_err(|_| refused())
    }

    fn parse_hostport(&self, hostport: &str, default_port: u16) -> Result<(String, u16)> {
        let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
            let Some((v6, after)) = inner.split_once(']') else {
                return Err(invalid("the URL's IPv6 host has no closing ']'"));
            };
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(invalid(format!(
                    "invalid IPv6 address {} in the URL's host",
                    self.quote(v6)
                )));
            }
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => return Err(invalid("unexpected text after the URL's IPv6 host")),
                },
            };
            (v6.to_string(), port)
        } else {
            let (host, port) = match hostport.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            };
            if port.is_some_and(|p| p.contains(':')) {
                return Err(invalid(
                    "an IPv6 host must be written in brackets: redis://[::1]:6379",
                ));
            }
            let host = decode(host, "host")?;
            // A host name has no ':' (percent-encoded or not): an IPv6 address goes in
            // brackets, and a colon left in a name would be printed back as one.
            if host.contains(':') {
                return Err(invalid(
                    "an IPv6 host must be written in brackets: redis://[::1]:6379",
                ));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(invalid("the URL has no host (redis://host:port)"));
        }
        let port = match port {
            None => default_port,
            Some(text) => match text.parse::<u16>() {
                Ok(p) if p != 0 && text.bytes().all(|b| b.is_ascii_digit()) => p,
                _ => {
                    return Err(invalid(format!(
                        "invalid port {} in the URL: expected 1 to 65535",
                        self.quote(text)
                    )))
                }
            },
        };
        Ok((host, port))
    }

    fn parse_unix(&self, main: &str, config: &mut Config) -> Result<()> {
        let slash = main.find('/').unwrap_or(main.len());
        let (authority, path) = main.split_at(slash);
        if !authority.is_empty() {
            let Some(userinfo) = authority.strip_suffix('@') else {
                return Err(invalid(
                    "a unix URL takes an absolute socket path: unix:///path/to/socket \
                     or unix://user:password@/path/to/socket",
                ));
            };
            parse_userinfo(userinfo, config)?;
        }
        let path = decode(path, "socket path")?;
        if path.is_empty() || path == "/" {
            return Err(invalid(
                "the unix URL has no socket path: unix:///path/to/socket",
            ));
        }
        config.endpoint = Endpoint::Unix {
            path: PathBuf::from(path),
        };
        Ok(())
    }

    fn parse_query(&mut self, query: &str, config: &mut Config) -> Result<()> {
        let mut seen: Vec<String> = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let Some((raw_key, raw_value)) = pair.split_once('=') else {
                return Err(invalid(format!(
                    "URL parameter {} has no value (name=value)",
                    self.quote(pair)
                )));
            };
            let key = decode(
                raw_key,
                &format!("name of URL parameter {}", self.quote(raw_key)),
            )?;
            // redis-py's name of a parameter is the same parameter.
            let key = ALIASES
                .iter()
                .find(|(alias, _)| *alias == key)
                .map_or(key, |(_, name)| (*name).to_string());
            // Which one should win is anybody's guess (redis-py takes the first).
            if seen.contains(&key) {
                return Err(invalid(format!(
                    "URL parameter {} sets {key}, which is given already",
                    self.quote(raw_key)
                )));
            }
            seen.push(key.clone());
            if key == "password" {
                self.password_from = self.password_from.min(self.offset(raw_value));
                config.password = decode_secret(raw_value, "value of URL parameter 'password'")?;
                continue;
            }
            if key == "sentinel_password" {
                self.password_from = self.password_from.min(self.offset(raw_value));
                let password =
                    decode_secret(raw_value, "value of URL parameter 'sentinel_password'")?;
                let Some(sentinel) = config.sentinel.as_mut() else {
                    return Err(invalid(
                        "URL parameter 'sentinel_password' applies to sentinels: use \
                         redis+sentinel://",
                    ));
                };
                sentinel.password = password;
                continue;
            }
            let what = format!("value of URL parameter {}", self.quote(raw_key));
            let value = decode(raw_value, &what)?;
            self.apply_param(&key, raw_key, &value, raw_value, config)?;
        }
        Ok(())
    }

    fn apply_param(
        &self,
        key: &str,
        raw_key: &str,
        value: &str,
        raw_value: &str,
        c: &mut Config,
    ) -> Result<()> {
        let v = Value {
            parser: self,
            key,
            text: value,
            raw: raw_value,
        };
        match key {
            "db" => c.db = v.number()?,
            "protocol" => {
                c.protocol = v
                    .number::<i64>()
                    .ok()
                    .and_then(Protocol::from_version)
                    .ok_or_else(|| v.error("2 or 3"))?
            }
            "client_name" => c.client_name = v.optional_string(),
            "username" => c.username = v.optional_string(),
            "tls" => c.tls = v.boolean()?,
            "connect_timeout" => c.connect_timeout = v.optional_duration()?,
            "command_timeout" => c.command_timeout = v.optional_duration()?,
            "tcp_nodelay" => c.tcp_nodelay = v.boolean()?,
            "tcp_keepalive" => c.tcp_keepalive = v.keepalive()?,
            "connections_per_node" => c.connections_per_node = v.number()?,
            "max_direct" => c.max_direct_connections_per_node = v.number()?,
            "max_in_flight" => c.max_in_flight_per_connection = v.number()?,
            "max_dedicated" => c.max_dedicated_connections = v.number()?,
            "dedicated_wait_timeout" => c.dedicated_wait_timeout = v.duration()?,
            "retries" => c.retry.retries = v.number()?,
            "backoff" => {
                c.retry.backoff.kind = BackoffKind::from_name(value).ok_or_else(|| {
                    v.error(
                        "none, constant, exponential, full_jitter, equal_jitter, \
                         decorrelated_jitter or exponential_with_jitter",
                    )
                })?
            }
            "backoff_base" => c.retry.backoff.base = v.duration()?,
            "backoff_cap" => c.retry.backoff.cap = v.duration()?,
            "retry_written_commands" => c.retry.retry_written_commands = v.boolean()?,
            "health_check_interval" => c.health_check_interval = v.optional_duration()?,
            "reactor_threads" => c.reactor_threads = v.number()?,
            "lazy_connect" => c.lazy_connect = v.boolean()?,
            "max_bulk_len" => c.reader_limits.max_bulk_len = v.number()?,
            "max_aggregate_len" => c.reader_limits.max_aggregate_len = v.number()?,
            "max_depth" => c.reader_limits.max_depth = v.number()?,
            "max_line_len" => c.reader_limits.max_line_len = v.number()?,
            "tls_ca_file" => c.tls_options.ca_file = v.optional_path(),
            "tls_ca_dir" => c.tls_options.ca_dir = v.optional_path(),
            "tls_cert_file" => c.tls_options.client_cert_file = v.optional_path(),
            "tls_key_file" => c.tls_options.client_key_file = v.optional_path(),
            "tls_server_name" => c.tls_options.server_name = v.optional_string(),
            "tls_min_version" => {
                c.tls_options.min_version =
                    TlsVersion::from_name(value).ok_or_else(|| v.error("1.2 or 1.3"))?
            }
            "tls_system_roots" => c.tls_options.system_roots = v.boolean()?,
            "tls_insecure" => c.tls_options.insecure_skip_verify = v.boolean()?,
            "wait_replicas" => {
                let replicas: u32 = v.number()?;
                c.replicated_writes = (replicas != 0).then_some(ReplicatedWrites {
                    replicas,
                    timeout: c
                        .replicated_writes
                        .map_or(DEFAULT_WAIT_TIMEOUT, |w| w.timeout),
                });
            }
            "wait_timeout" => {
                let timeout = v.duration()?;
                match c.replicated_writes.as_mut() {
                    Some(writes) => writes.timeout = timeout,
                    None => {
                        c.replicated_writes = Some(ReplicatedWrites {
                            replicas: 0,
                            timeout,
                        })
                    }
                }
            }
            _ if sentinel::PARAMS.contains(&key) => self.apply_sentinel_param(&v, raw_key, c)?,
            "read_from" | "refresh_interval" | "max_redirects" => {
                let Some(cluster) = c.cluster.as_mut() else {
                    return Err(invalid(format!(
                        "URL parameter {} applies to a cluster: use redis+cluster://",
                        self.quote(raw_key)
                    )));
                };
                match key {
                    "read_from" => {
                        cluster.read_from = ReadFrom::from_name(value)
                            .ok_or_else(|| v.error("primary, round_robin, replicas or random"))?
                    }
                    "refresh_interval" => cluster.refresh_interval = v.optional_duration()?,
                    _ => cluster.max_redirects = v.number()?,
                }
            }
            _ => {
                return Err(invalid(format!(
                    "unknown URL parameter {}",
                    self.quote(raw_key)
                )))
            }
        }
        Ok(())
    }
}

/// One query parameter's value, with what is needed to complain about it.
struct Value<'p, 'a> {
    parser: &'p UrlParser<'a>,
    key: &'p str,
    text: &'p str,
    raw: &'p str,
}

impl Value<'_, '_> {
    fn error(&self, expected: &str) -> Error {
        invalid(format!(
            "invalid value {} for URL parameter '{}': expected {expected}",
            self.parser.quote(self.raw),
            self.key
        ))
    }

    fn number<T: FromStr>(&self) -> Result<T> {
        if self.text.is_empty() || !self.text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error("a whole number"));
        }
        self.text
            .parse()
            .map_err(|_| self.error("a whole number in range"))
    }

    fn boolean(&self) -> Result<bool> {
        parse_bool(self.text).ok_or_else(|| self.error("1/0, true/false, yes/no or on/off"))
    }

    fn duration(&self) -> Result<Duration> {
        parse_duration(self.text)
            .ok_or_else(|| self.error("a duration in seconds (0.5), or with ms or s (250ms, 2s)"))
    }

    /// A duration where zero or `none` means "off".
    fn optional_duration(&self) -> Result<Option<Duration>> {
        if self.text.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let d = parse_duration(self.text).ok_or_else(|| {
            self.error("a duration in seconds (0.5), with ms or s (250ms, 2s), or none")
        })?;
        if d.is_zero() && self.text.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
            // Not zero, but below a nanosecond: not "off".
            return Err(self.error("a duration of at least 1 ns (or 0 or none: off)"));
        }
        Ok((!d.is_zero()).then_some(d))
    }

    /// A boolean (the default probing when on), or the idle time in seconds.
    fn keepalive(&self) -> Result<Option<Keepalive>> {
        if let Some(on) = parse_bool(self.text) {
            return Ok(on.then(Keepalive::default));
        }
        match self.optional_duration() {
            Ok(idle) => Ok(idle.map(|idle| Keepalive {
                idle,
                ..Keepalive::default()
            })),
            Err(_) => Err(self.error("a boolean or an idle time in seconds")),
        }
    }

    /// The text, or None when empty.
    fn optional_string(&self) -> Option<String> {
        (!self.text.is_empty()).then(|| self.text.to_string())
    }

    /// A file or directory path, or None when empty.
    fn optional_path(&self) -> Option<PathBuf> {
        self.optional_string().map(PathBuf::from)
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_argument(message)
}

fn is_scheme_like(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// `user`, `user:password` or `:password`; empty parts mean "none".
fn parse_userinfo(userinfo: &str, config: &mut Config) -> Result<()> {
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let user = decode(user, "username")?;
    config.username = (!user.is_empty()).then_some(user);
    if let Some(password) = password {
        config.password = decode_secret(password, "password")?;
    }
    Ok(())
}

/// Percent-decodes into bytes; the error names `what` and never quotes the text.
/// redis-py's names of URL parameters (and `name`, `timeout`), with the names they stand for.
const ALIASES: &[(&str, &str)] = &[
    ("name", "client_name"),
    ("socket_connect_timeout", "connect_timeout"),
    ("socket_timeout", "command_timeout"),
    ("timeout", "command_timeout"),
    ("socket_keepalive", "tcp_keepalive"),
    ("pool_size", "connections_per_node"),
    ("max_connections", "max_dedicated"),
    ("ssl_ca_certs", "tls_ca_file"),
    ("ssl_ca_path", "tls_ca_dir"),
    ("ssl_certfile", "tls_cert_file"),
    ("ssl_keyfile", "tls_key_file"),
];

fn decode_bytes(raw: &str, what: &str) -> Result<Vec<u8>> {
    // Decoding only shrinks, so this never reallocates (and leaves no stray copy of a secret).
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hi = bytes.next().and_then(hex_digit);
        let lo = bytes.next().and_then(hex_digit);
        match (hi, lo) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => {
                super::secret::wipe(&mut out);
                return Err(invalid(format!(
                    "bad percent escape in the {what}: expected % and two hex digits"
                )));
            }
        }
    }
    Ok(out)
}

fn decode(raw: &str, what: &str) -> Result<String> {
    String::from_utf8(decode_bytes(raw, what)?).map_err(|_| {
        invalid(format!(
            "the {what} is not valid UTF-8 once percent-decoded"
        ))
    })
}

/// Decodes a password; empty means none. Intermediate buffers are wiped.
fn decode_secret(raw: &str, what: &str) -> Result<Option<Secret>> {
    let bytes = decode_bytes(raw, what)?;
    match String::from_utf8(bytes) {
        Ok(text) if text.is_empty() => Ok(None),
        Ok(text) => Ok(Some(Secret::from(text))),
        Err(e) => {
            super::secret::wipe(&mut e.into_bytes());
            Err(invalid(format!(
                "the {what} is not valid UTF-8 once percent-decoded"
            )))
        }
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Appends `text` percent-encoded: everything but unreserved characters (and `/` in paths).
fn encode_into(out: &mut String, text: &str, path: bool) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (path && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// 1/0, true/false, yes/no, on/off, any case.
fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Seconds as a decimal (`0.5`), or a decimal with `ms` or `s` (`250ms`, `1.5s`). Exact to the
/// nanosecond (further digits are dropped); no floating point involved.
fn parse_duration(text: &str) -> Option<Duration> {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let text = text.to_ascii_lowercase();
    let (number, unit_nanos) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1_000_000u128)
    } else {
        (text.strip_suffix('s').unwrap_or(&text), NANOS_PER_SEC)
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !digits(whole) || !digits(frac) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    // The fraction as billionths of one unit.
    let billionths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u128, |acc, b| acc * 10 + u128::from(b - b'0'));
    let total = whole
        .checked_mul(unit_nanos)?
        .checked_add(billionths * unit_nanos / NANOS_PER_SEC)?;
    let secs = u64::try_from(total / NANOS_PER_SEC).ok()?;
    Some(Duration::new(secs, (total % NANOS_PER_SEC) as u32))
}

/// The shortest exact form `parse_duration` reads back: `2s`, `250ms`, or decimal seconds.
fn format_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{}s", d.as_secs())
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        let frac = format!("{nanos:09}");
        format!("{}.{}", d.as_secs(), frac.trim_end_matches('0'))
    }
}

mod sentinel;
#[cfg(test)]
mod tests;
