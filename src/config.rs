//! Every knob of a client in one typed struct: `Config`, with its defaults (in each field's
//! doc), `Config::validate` (errors name the bad field), URL parsing and printing (`url`),
//! the backoff computation (`backoff`) and `Secret` for passwords.
//!
//! No I/O, no clock, no threads: the layers above read these values; this module only holds
//! and checks them.

mod backoff;
mod credentials;
mod secret;
mod sentinel;
mod tls;
mod url;

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::resp::Limits;

pub use backoff::{Backoff, BackoffKind, BackoffState, FastRng};
pub use credentials::{CredentialProvider, CredentialSource, Credentials, TokenRefresh};
pub(crate) use secret::wipe;
pub use secret::Secret;
pub use sentinel::{SentinelOptions, SentinelRole, DEFAULT_SENTINEL_PORT};
pub use tls::{OcspCheck, OcspStaple, OcspVerifier, TlsOptions, TlsVersion};

/// The port used when a URL or a caller names none.
///
/// cbindgen:ignore
pub const DEFAULT_PORT: u16 = 6379;

/// Most reactor threads a client may run.
///
/// cbindgen:ignore
pub const MAX_REACTOR_THREADS: usize = 64;

/// The most connections of one kind a node may have (`connections_per_node`,
/// `max_direct_connections_per_node`): each is a socket, and the multiplexed ones are all
/// opened when the client starts.
///
/// cbindgen:ignore
pub const MAX_CONNECTIONS_PER_NODE: usize = 1024;

/// The longest duration any setting takes: a year. Deadlines are clock instants, and one
/// much further away would overflow the clock; where a limit may be turned off, `None`
/// (`none` in a URL) is the way to say "no limit".
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address: a host name or an IP literal (IPv6 without brackets) and a port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port, 1 to 65535.
        port: u16,
    },
    /// A Unix domain socket.
    Unix {
        /// Path of the socket file.
        path: PathBuf,
    },
}

impl Default for Endpoint {
    /// `127.0.0.1:6379`.
    fn default() -> Endpoint {
        Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: DEFAULT_PORT,
        }
    }
}

/// The RESP version to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// RESP2: no `HELLO`; credentials go with `AUTH`.
    Resp2,
    /// RESP3, negotiated with `HELLO 3`. The default.
    #[default]
    Resp3,
}

impl Protocol {
    /// The version number (2 or 3).
    pub fn version(self) -> u8 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }

    /// The protocol with this version number, if it is 2 or 3.
    pub fn from_version(version: i64) -> Option<Protocol> {
        match version {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => None,
        }
    }
}

/// TCP keepalive probing (`SO_KEEPALIVE` with `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
/// `TCP_KEEPCNT` where the platform has them). Times are applied in whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Idle time before the first probe. Default 30 s; 1 s to 32767 s.
    pub idle: Duration,
    /// Time between probes. Default 5 s; 1 s to 32767 s.
    pub interval: Duration,
    /// Unanswered probes before the connection is dropped. Default 3; 1 to 127.
    pub count: u32,
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            idle: Duration::from_secs(30),
            interval: Duration::from_secs(5),
            count: 3,
        }
    }
}

/// What happens when a connection fails under a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How many times a command is retried after a connection error or a timeout.
    /// Default 3; 0 never retries.
    pub retries: u32,
    /// How long to wait before each retry. Default: equal jitter, base 10 ms, cap 1 s.
    pub backoff: Backoff,
    /// Whether a command that was already written when the connection dropped is sent
    /// again. Default false: it fails with `CONNECTION`, because the server may have run it
    /// (sending `INCR` twice is not harmless). Commands not yet written are always retried.
    pub retry_written_commands: bool,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            retries: 3,
            backoff: Backoff::default(),
            retry_written_commands: false,
        }
    }
}

/// Which nodes of a cluster serve read-only commands (`redcore_read_from` in C; the numbers
/// are ABI). Only commands the server flags `readonly` ever leave the primary.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReadFrom {
    /// Every command goes to its slot's primary. The default.
    #[default]
    Primary = 0,
    /// Reads go round robin over the primary and its replicas.
    RoundRobin = 1,
    /// Reads go round robin over the replicas; to the primary when none is up.
    Replicas = 2,
    /// Reads go to the primary or a replica picked at random.
    Random = 3,
}

impl ReadFrom {
    /// Every value, in number order.
    ///
    /// cbindgen:ignore
    pub const ALL: [ReadFrom; 4] = [
        ReadFrom::Primary,
        ReadFrom::RoundRobin,
        ReadFrom::Replicas,
        ReadFrom::Random,
    ];

    /// The name used in URLs (`read_from=replicas`).
    pub fn name(self) -> &'static str {
        match self {
            ReadFrom::Primary => "primary",
            ReadFrom::RoundRobin => "round_robin",
            ReadFrom::Replicas => "replicas",
            ReadFrom::Random => "random",
        }
    }

    /// The value with this name (`primary`, `round_robin`, `replicas`, `random`).
    pub fn from_name(name: &str) -> Option<ReadFrom> {
        Self::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(name))
    }
}

/// The function behind an `AddressRemap`.
pub type RemapFn = dyn Fn(&str, u16) -> Option<(String, u16)> + Send + Sync;

/// Maps the address a cluster node announces to the one to dial (NAT, containers): host and
/// port in, host and port out; `None` keeps the announced address.
#[derive(Clone)]
pub struct AddressRemap(pub std::sync::Arc<RemapFn>);

impl AddressRemap {
    /// The address to dial for `host:port`.
    pub fn remap(&self, host: &str, port: u16) -> (String, u16) {
        (self.0)(host, port).unwrap_or_else(|| (host.to_string(), port))
    }
}

impl std::fmt::Debug for AddressRemap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressRemap(..)")
    }
}

impl PartialEq for AddressRemap {
    fn eq(&self, other: &AddressRemap) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for AddressRemap {}

/// Client-side caching: how much the cache may hold (see `session::cache`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheOptions {
    /// Most replies kept. Default 10,000; at least 1.
    pub max_entries: usize,
    /// Most bytes kept (commands, replies and keys). Default 64 MiB; at least 1.
    pub max_bytes: usize,
}

impl Default for CacheOptions {
    fn default() -> CacheOptions {
        CacheOptions {
            max_entries: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

/// Writes acknowledged only once replicas have them (see `Config::replicated_writes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicatedWrites {
    /// Replicas that must have a write before it is acknowledged (WAIT's `numreplicas`).
    /// At least 1.
    pub replicas: u32,
    /// How long the master waits for them (WAIT's `timeout`); a write they did not confirm
    /// in time fails with TIMEOUT although the master ran it. At least 1 ms.
    pub timeout: Duration,
}

/// What a cluster client needs besides a node's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Startup nodes tried after `Config::endpoint`, in order (a node that fails goes last).
    /// Default none.
    pub nodes: Vec<Endpoint>,
    /// Where read-only commands go. Default `ReadFrom::Primary`.
    pub read_from: ReadFrom,
    /// How often the topology is refreshed when nothing asks for it (errors and
    /// redirections ask at once). Default 30 s; None refreshes only when asked.
    pub refresh_interval: Option<Duration>,
    /// How many times one command is sent again (redirections, retries) before it fails with
    /// `CLUSTER`. Default 16; 0 to 255.
    pub max_redirects: u32,
    /// Maps announced node addresses to the ones to dial. Default None.
    pub address_remap: Option<AddressRemap>,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            nodes: Vec::new(),
            read_from: ReadFrom::Primary,
            refresh_interval: Some(Duration::from_secs(30)),
            max_redirects: 16,
            address_remap: None,
        }
    }
}

/// Everything a client needs to know before it connects.
///
/// `Debug` never shows the password (see [`Secret`]); `Display` shows the configuration as a
/// URL with the password replaced by `***` ([`Config::to_url_redacted`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the server listens. Default `127.0.0.1:6379` over TCP.
    pub endpoint: Endpoint,
    /// Whether to speak TLS (set by `rediss://`). Default false.
    pub tls: bool,
    /// How TLS is set up when `tls` is on: trusted CAs, client certificate, server name,
    /// minimum version. Default: the system's CAs, no client certificate, the host's name,
    /// TLS 1.2 or later, verification on.
    pub tls_options: TlsOptions,
    /// Database selected after connecting (`SELECT`, skipped for 0). Default 0.
    pub db: u32,
    /// ACL user. Default None: the `default` user.
    pub username: Option<String>,
    /// Password or token. Default None: no authentication.
    pub password: Option<Secret>,
    /// Where to get the username and password at every connect and reconnect, instead of
    /// `username` and `password` (which must then be None). Default None.
    pub credential_provider: Option<CredentialSource>,
    /// When credentials with a lifetime (tokens) from the provider are renewed. Default:
    /// after 80% of their lifetime.
    pub token_refresh: TokenRefresh,
    /// Name set with `CLIENT SETNAME` (printable ASCII, no spaces). Default None.
    pub client_name: Option<String>,
    /// RESP version. Default RESP3.
    pub protocol: Protocol,
    /// Longest wait to open a connection (TCP connect, TLS and the handshake). Default 5 s;
    /// None waits as long as the operating system does.
    pub connect_timeout: Option<Duration>,
    /// Longest wait for a command's reply, counted from its submission. Default 5 s; None
    /// waits forever. Blocking commands add their own timeout to this.
    pub command_timeout: Option<Duration>,
    /// Whether to set `TCP_NODELAY`. Default true.
    pub tcp_nodelay: bool,
    /// TCP keepalive. Default on: idle 30 s, interval 5 s, 3 probes (as redis-py 8).
    /// None leaves keepalive off.
    pub tcp_keepalive: Option<Keepalive>,
    /// Multiplexed connections opened to each node. Default 1; 1 to
    /// `MAX_CONNECTIONS_PER_NODE` (1024).
    pub connections_per_node: usize,
    /// Most extra connections per node that blocking callers open, one at a time and only
    /// when needed, to make their call the way hiredis does (write, then read the reply on
    /// the calling thread) while another caller is using the shared connection. They are
    /// used only while the blocking callers in flight do not outnumber the node's
    /// connections; beyond that, callers share the multiplexed connection(s), which costs
    /// less per call. Default 8; 0 disables them; at most `MAX_CONNECTIONS_PER_NODE` (1024).
    pub max_direct_connections_per_node: usize,
    /// Most commands awaiting a reply on one multiplexed connection; more wait in the
    /// client's queue. Default 10000; 0 means no limit.
    pub max_in_flight_per_connection: usize,
    /// Most connections set apart for blocking commands (BLPOP, XREAD BLOCK, ...) and for
    /// stateful ones (WATCH, SUBSCRIBE, MONITOR). Default 16; 0 disallows them.
    pub max_dedicated_connections: usize,
    /// How long to wait for a free dedicated connection before failing with
    /// `MAX_CONNECTIONS`. Default 5 s; zero fails at once.
    pub dedicated_wait_timeout: Duration,
    /// Retries after connection errors and timeouts. Default: 3 retries, equal jitter
    /// between 10 ms and 1 s, written commands not retried.
    pub retry: RetryPolicy,
    /// Idle time after which a connection is checked with `PING` before being used.
    /// Default None: no health checks.
    pub health_check_interval: Option<Duration>,
    /// Event-loop threads. Default 1; 1 to 64.
    pub reactor_threads: usize,
    /// Whether client creation returns before the first connection is up. Default false:
    /// creation waits for the first connection and reports its error.
    pub lazy_connect: bool,
    /// Bounds on replies (bulk length, aggregate length, nesting). Default
    /// [`Limits::default`]: 512 MiB, 2^32 - 1, 512.
    pub reader_limits: Limits,
    /// Library name sent with `CLIENT SETINFO LIB-NAME`. Default "redcore"; None sends
    /// nothing.
    pub lib_name: Option<String>,
    /// Library version sent with `CLIENT SETINFO LIB-VER`. Default this crate's version;
    /// None sends nothing.
    pub lib_version: Option<String>,
    /// Cluster mode: `endpoint` and `cluster.nodes` are startup nodes from which the
    /// topology is discovered. Default None: one server.
    pub cluster: Option<ClusterOptions>,
    /// Sentinel mode: the master (or replicas) of `sentinel.service_name`, as the sentinels
    /// name them; `endpoint` is not used. Default None: one server.
    pub sentinel: Option<SentinelOptions>,
    /// Client-side caching of read-only commands' replies, with CLIENT TRACKING (RESP3
    /// only). Default None: off.
    pub cache: Option<CacheOptions>,
    /// Writes acknowledged only once this many replicas have them: each command that writes,
    /// and each pipeline or transaction with a write, is followed by `WAIT replicas timeout`
    /// on its connection, and a write the replicas did not confirm in time fails with
    /// TIMEOUT (the master ran it; a failover may lose it). Redis replicates asynchronously,
    /// so without it a master that dies takes with it the writes it acknowledged last.
    /// Reads add no WAIT, but one queued behind a write's WAIT on the same connection waits
    /// for it (the server answers in order). A batch with a WAIT stays on its connection,
    /// whole: a lost connection fails it rather than sending its writes elsewhere alone.
    /// Not for cluster clients; commands on a dedicated connection are not followed by a
    /// WAIT (send one yourself). Default None: writes are acknowledged by the master alone.
    pub replicated_writes: Option<ReplicatedWrites>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            endpoint: Endpoint::default(),
            tls: false,
            tls_options: TlsOptions::default(),
            db: 0,
            username: None,
            password: None,
            credential_provider: None,
            token_refresh: TokenRefresh::default(),
            client_name: None,
            protocol: Protocol::Resp3,
            connect_timeout: Some(Duration::from_secs(5)),
            command_timeout: Some(Duration::from_secs(5)),
            tcp_nodelay: true,
            tcp_keepalive: Some(Keepalive::default()),
            connections_per_node: 1,
            max_direct_connections_per_node: 8,
            max_in_flight_per_connection: 10_000,
            max_dedicated_connections: 16,
            dedicated_wait_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            health_check_interval: None,
            reactor_threads: 1,
            lazy_connect: false,
            reader_limits: Limits::default(),
            lib_name: Some("redcore".into()),
            lib_version: Some(env!("CARGO_PKG_VERSION").into()),
            cluster: None,
            sentinel: None,
            cache: None,
            replicated_writes: None,
        }
    }
}

impl Config {
    /// Checks every field. The error is `INVALID_ARGUMENT` and its message starts with the
    /// field's name (`connections_per_node must be at least 1`). Never mentions the password.
    pub fn validate(&self) -> Result<()> {
        match &self.endpoint {
            Endpoint::Tcp { host, port } => {
                if host.is_empty() {
                    return Err(invalid("host is empty"));
                }
                if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid("host contains a space or a control character"));
                }
                if host.contains(['[', ']']) {
                    return Err(invalid(
                        "host contains a bracket: give an IPv6 address without them (::1); \
                         brackets are for URLs",
                    ));
                }
                let address = host.split_once('%').map_or(host.as_str(), |(a, _)| a);
                if host.contains(':') && address.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(invalid(
                        "host contains a ':' but is not an IPv6 address: give the port \
                         separately (host 127.0.0.1, port 6379)",
                    ));
                }
                if *port == 0 {
                    return Err(invalid("port must be 1 to 65535, not 0"));
                }
            }
            Endpoint::Unix { path } => {
                if path.as_os_str().is_empty() {
                    return Err(invalid("unix socket path is empty"));
                }
            }
        }
        if self.username.as_deref() == Some("") {
            return Err(invalid("username is empty (use none for the default user)"));
        }
        if self.password.as_ref().is_some_and(Secret::is_empty) {
            return Err(invalid("password is empty (use none for no password)"));
        }
        if self.credential_provider.is_some()
            && (self.username.is_some() || self.password.is_some())
        {
            return Err(invalid(
                "credential_provider and username/password are exclusive: the provider gives both",
            ));
        }
        self.token_refresh.validate()?;
        self.tls_options.validate()?;
        check_attribute("client_name", self.client_name.as_deref())?;
        check_attribute("lib_name", self.lib_name.as_deref())?;
        check_attribute("lib_version", self.lib_version.as_deref())?;
        check_timeout("connect_timeout", self.connect_timeout)?;
        check_timeout("command_timeout", self.command_timeout)?;
        check_timeout("health_check_interval", self.health_check_interval)?;
        if let Some(k) = &self.tcp_keepalive {
            check_keepalive_time("tcp_keepalive.idle", k.idle)?;
            check_keepalive_time("tcp_keepalive.interval", k.interval)?;
            if !(1..=127).contains(&k.count) {
                return Err(invalid(format!(
                    "tcp_keepalive.count must be 1 to 127, not {}",
                    k.count
                )));
            }
        }
        if !(1..=MAX_CONNECTIONS_PER_NODE).contains(&self.connections_per_node) {
            return Err(invalid(format!(
                "connections_per_node must be 1 to {MAX_CONNECTIONS_PER_NODE}, not {}",
                self.connections_per_node
            )));
        }
        if self.max_direct_connections_per_node > MAX_CONNECTIONS_PER_NODE {
            return Err(invalid(format!(
                "max_direct_connections_per_node must be at most {MAX_CONNECTIONS_PER_NODE}, \
                 not {}",
                self.max_direct_connections_per_node
            )));
        }
        check_duration("dedicated_wait_timeout", self.dedicated_wait_timeout)?;
        let backoff = &self.retry.backoff;
        check_duration("retry.backoff.base", backoff.base)?;
        check_duration("retry.backoff.cap", backoff.cap)?;
        if backoff.kind.uses_cap() && backoff.base > backoff.cap {
            return Err(invalid(format!(
                "retry.backoff.base ({:?}) is above retry.backoff.cap ({:?})",
                backoff.base, backoff.cap
            )));
        }
        if !(1..=MAX_REACTOR_THREADS).contains(&self.reactor_threads) {
            return Err(invalid(format!(
                "reactor_threads must be 1 to {MAX_REACTOR_THREADS}, not {}",
                self.reactor_threads
            )));
        }
        if let Some(cluster) = &self.cluster {
            self.validate_cluster(cluster)?;
        }
        if let Some(sentinel) = &self.sentinel {
            if self.cluster.is_some() {
                return Err(invalid(
                    "cluster and sentinel are exclusive: a client talks to one or the other",
                ));
            }
            sentinel.validate()?;
        }
        if let Some(writes) = &self.replicated_writes {
            if self.cluster.is_some() {
                return Err(invalid(
                    "replicated_writes: not for a cluster client (WAIT counts one node's \
                     replicas; a cluster batch spans nodes)",
                ));
            }
            check_duration("replicated_writes.timeout", writes.timeout)?;
            if writes.replicas == 0 || writes.timeout < Duration::from_millis(1) {
                return Err(invalid(
                    "replicated_writes: at least 1 replica and a timeout of at least 1 ms \
                     (WAIT's 0 would wait forever)",
                ));
            }
        }
        if let Some(cache) = &self.cache {
            if self.protocol != Protocol::Resp3 {
                return Err(invalid(
                    "cache needs protocol 3: invalidations come as RESP3 pushes on the \
                     connection that read the keys",
                ));
            }
            if cache.max_entries == 0 || cache.max_bytes == 0 {
                return Err(invalid(
                    "cache.max_entries and cache.max_bytes must be at least 1",
                ));
            }
        }
        self.reader_limits
            .validate()
            .map_err(|e| invalid(format!("reader_limits.{}", e.message())))
    }

    fn validate_cluster(&self, cluster: &ClusterOptions) -> Result<()> {
        for endpoint in std::iter::once(&self.endpoint).chain(&cluster.nodes) {
            match endpoint {
                Endpoint::Unix { .. } => {
                    return Err(invalid(
                        "cluster.nodes: a cluster is reached over TCP, not a unix socket",
                    ))
                }
                Endpoint::Tcp { host, port } if host.is_empty() || *port == 0 => {
                    return Err(invalid(
                        "cluster.nodes: a startup node needs a host and a port",
                    ))
                }
                Endpoint::Tcp { .. } => {}
            }
        }
        if self.db != 0 {
            return Err(invalid(format!(
                "db must be 0 in cluster mode (a cluster has only database 0), not {}",
                self.db
            )));
        }
        if cluster.max_redirects > 255 {
            return Err(invalid(format!(
                "cluster.max_redirects must be 0 to 255, not {}",
                cluster.max_redirects
            )));
        }
        check_timeout("cluster.refresh_interval", cluster.refresh_interval)
    }

    /// The startup nodes of a cluster client: `endpoint`, then `cluster.nodes`.
    pub fn startup_nodes(&self) -> Vec<Endpoint> {
        let mut nodes = vec![self.endpoint.clone()];
        if let Some(cluster) = &self.cluster {
            for node in &cluster.nodes {
                if !nodes.contains(node) {
                    nodes.push(node.clone());
                }
            }
        }
        nodes
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_argument(message)
}

/// Names sent with CLIENT SETNAME / SETINFO: the server takes printable ASCII without
/// spaces, so refuse anything else here rather than at every connect.
fn check_attribute(field: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some("") => Err(invalid(format!(
            "{field} is empty (use none to send nothing)"
        ))),
        Some(v) if !v.bytes().all(|b| (b'!'..=b'~').contains(&b)) => Err(invalid(format!(
            "{field} must be printable ASCII without spaces"
        ))),
        _ => Ok(()),
    }
}

fn check_timeout(field: &str, value: Option<Duration>) -> Result<()> {
    if value == Some(Duration::ZERO) {
        return Err(invalid(format!(
            "{field} is zero (use none to turn it off)"
        )));
    }
    match value {
        Some(v) => check_duration(field, v),
        None => Ok(()),
    }
}

/// A duration of at most `MAX_DURATION`.
pub(crate) fn check_duration(field: &str, value: Duration) -> Result<()> {
    if value > MAX_DURATION {
        return Err(invalid(format!(
            "{field} must be at most a year (365 days), not {} s{}",
            value.as_secs(),
            if field.ends_with("timeout") || field.ends_with("interval") {
                " (use none for no limit)"
            } else {
                ""
            }
        )));
    }
    Ok(())
}

fn check_keepalive_time(field: &str, value: Duration) -> Result<()> {
    if value < Duration::from_secs(1) || value > Duration::from_secs(32767) {
        return Err(invalid(format!(
            "{field} must be 1 s to 32767 s, not {value:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn defaults_are_as_documented_and_valid() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(
            c.endpoint,
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 6379
            }
        );
        assert_eq!(c.protocol, Protocol::Resp3);
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.command_timeout, Some(Duration::from_secs(5)));
        assert_eq!(
            c.tcp_keepalive,
            Some(Keepalive {
                idle: Duration::from_secs(30),
                interval: Duration::from_secs(5),
                count: 3
            })
        );
        assert_eq!(c.retry.retries, 3);
        assert_eq!(c.retry.backoff.kind, BackoffKind::EqualJitter);
        assert_eq!(c.retry.backoff.base, Duration::from_millis(10));
        assert_eq!(c.retry.backoff.cap, Duration::from_secs(1));
        assert!(!c.retry.retry_written_commands);
        assert_eq!(c.max_direct_connections_per_node, 8);
        assert_eq!(c.max_in_flight_per_connection, 10_000);
        assert_eq!(c.max_dedicated_connections, 16);
        assert_eq!(c.lib_name.as_deref(), Some("redcore"));
        assert_eq!(c.lib_version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert_eq!(c.reader_limits, Limits::default());
    }

    #[test]
    fn validate_names_the_bad_field() {
        type Edit = fn(&mut Config);
        let cases: &[(Edit, &str)] = &[
            (|c| c.connections_per_node = 0, "connections_per_node"),
            (|c| c.connections_per_node = 1025, "connections_per_node"),
            (
                |c| c.connections_per_node = usize::MAX,
                "connections_per_node",
            ),
            (
                |c| c.max_direct_connections_per_node = 1 << 40,
                "max_direct_connections_per_node",
            ),
            (|c| c.reactor_threads = 0, "reactor_threads"),
            (|c| c.reactor_threads = 65, "reactor_threads"),
            (
                |c| c.command_timeout = Some(Duration::from_secs(u64::MAX)),
                "command_timeout must be at most a year",
            ),
            (
                |c| c.dedicated_wait_timeout = MAX_DURATION + Duration::from_nanos(1),
                "dedicated_wait_timeout must be at most a year",
            ),
            (
                |c| c.retry.backoff.cap = Duration::from_secs(u64::MAX),
                "retry.backoff.cap must be at most a year",
            ),
            (
                |c| c.token_refresh.retry_delay = Duration::from_secs(u64::MAX),
                "token_refresh.retry_delay must be at most a year",
            ),
            (
                |c| {
                    c.endpoint = Endpoint::Tcp {
                        host: "127.0.0.1:6380".into(),
                        port: 6379,
                    }
                },
                "host contains a ':' but is not an IPv6 address",
            ),
            (
                |c| c.reader_limits.max_depth = 1001,
                "reader_limits.max_depth 1001 is above the largest supported, 1000",
            ),
            (
                |c| c.reader_limits.max_depth = 0,
                "reader_limits.max_depth must be at least 1",
            ),
            (
                |c| c.reader_limits.max_bulk_len = usize::MAX,
                "reader_limits.max_bulk_len",
            ),
            (
                |c| {
                    c.endpoint = Endpoint::Tcp {
                        host: String::new(),
                        port: 1,
                    }
                },
                "host is empty",
            ),
            (
                |c| {
                    c.endpoint = Endpoint::Tcp {
                        host: "a b".into(),
                        port: 1,
                    }
                },
                "host contains",
            ),
            (
                |c| {
                    c.endpoint = Endpoint::Tcp {
                        host: "[::1".into(),
                        port: 1,
                    }
                },
                "host contains a bracket",
            ),
            (
                |c| {
                    c.endpoint = Endpoint::Tcp {
                        host: "h".into(),
                        port: 0,
                    }
                },
                "port",
            ),
            (
                |c| c.endpoint = Endpoint::Unix { path: "".into() },
                "unix socket path",
            ),
            (|c| c.username = Some(String::new()), "username"),
            (|c| c.password = Some(Secret::new("")), "password is empty"),
            (|c| c.client_name = Some("my app".into()), "client_name"),
            (|c| c.client_name = Some(String::new()), "client_name"),
            (|c| c.lib_name = Some("é".into()), "lib_name"),
            (|c| c.lib_version = Some("1\n".into()), "lib_version"),
            (
                |c| c.connect_timeout = Some(Duration::ZERO),
                "connect_timeout",
            ),
            (
                |c| c.command_timeout = Some(Duration::ZERO),
                "command_timeout",
            ),
            (
                |c| c.health_check_interval = Some(Duration::ZERO),
                "health_check_interval",
            ),
            (
                |c| c.tcp_keepalive.as_mut().unwrap().idle = Duration::from_millis(500),
                "tcp_keepalive.idle",
            ),
            (
                |c| c.tcp_keepalive.as_mut().unwrap().interval = Duration::from_secs(40000),
                "tcp_keepalive.interval",
            ),
            (
                |c| c.tcp_keepalive.as_mut().unwrap().count = 0,
                "tcp_keepalive.count",
            ),
            (
                |c| c.retry.backoff.base = Duration::from_secs(2),
                "retry.backoff.base",
            ),
        ];
        for (edit, fragment) in cases {
            let mut c = Config::default();
            edit(&mut c);
            let err = c.validate().expect_err(fragment);
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(err.message().contains(fragment), "{err} lacks {fragment}");
        }
    }

    #[test]
    fn validate_accepts_edges() {
        let mut c = Config {
            max_in_flight_per_connection: 0,
            max_dedicated_connections: 0,
            dedicated_wait_timeout: Duration::ZERO,
            reactor_threads: MAX_REACTOR_THREADS,
            connect_timeout: None,
            command_timeout: None,
            tcp_keepalive: None,
            reader_limits: Limits::unlimited(),
            lib_name: None,
            lib_version: None,
            client_name: Some("worker-1".into()),
            endpoint: Endpoint::Unix {
                path: "/tmp/redis.sock".into(),
            },
            ..Config::default()
        };
        // Constant backoff never looks at the cap.
        c.retry.backoff = Backoff {
            kind: BackoffKind::Constant,
            base: Duration::from_secs(5),
            cap: Duration::from_secs(1),
        };
        c.validate().unwrap();
        c.command_timeout = Some(MAX_DURATION);
        for host in ["::1", "fe80::1%lo", "redis-1.example"] {
            c.endpoint = Endpoint::Tcp {
                host: host.into(),
                port: 6379,
            };
            c.validate().unwrap_or_else(|e| panic!("{host}: {e}"));
        }
    }

    #[test]
    fn debug_never_shows_the_password() {
        let c = Config {
            password: Some(Secret::new("hunter2-s3cret")),
            username: Some("alice".into()),
            ..Config::default()
        };
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains("alice"));
        let pretty = format!("{c:#?}");
        assert!(!pretty.contains("hunter2"));
        let shown = c.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
