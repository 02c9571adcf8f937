//! What a sentinel client needs besides its data nodes' settings: where the sentinels are,
//! the service they watch, which node the client talks to (the master, or the replicas),
//! how many sentinels must agree, and the sentinels' own credentials and TLS (they often
//! have their own password, or none, and are not told the data nodes' password).

use std::time::Duration;

use super::{check_timeout, invalid, Endpoint, Secret, TlsOptions};
use crate::error::Result;

/// The port a sentinel listens on when none is given.
///
/// cbindgen:ignore
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// Which node of the service a sentinel client sends its commands to (`redcore_sentinel_role`
/// in C; the numbers are ABI).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SentinelRole {
    /// Every command goes to the master. The default.
    #[default]
    Master = 0,
    /// Every command goes to a healthy replica, round robin (a read client: writes fail with
    /// READ_ONLY).
    Replica = 1,
}

impl SentinelRole {
    /// The name used in URLs (`role=replica`).
    pub fn name(self) -> &'static str {
        match self {
            SentinelRole::Master => "master",
            SentinelRole::Replica => "replica",
        }
    }

    /// `master` or `replica` (also `slave`), any case.
    pub fn from_name(name: &str) -> Option<SentinelRole> {
        match name.to_ascii_lowercase().as_str() {
            "master" | "primary" => Some(SentinelRole::Master),
            "replica" | "slave" => Some(SentinelRole::Replica),
            _ => None,
        }
    }
}

/// A sentinel client's settings. `Config::endpoint` is not used in sentinel mode: the data
/// nodes are the ones the sentinels name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentinelOptions {
    /// The name the sentinels monitor the master under (`sentinel monitor <name> ...`).
    /// Required.
    pub service_name: String,
    /// The sentinels, asked all at once; those that answer are asked first next time, and
    /// sentinels they name join the list. At least one.
    pub sentinels: Vec<Endpoint>,
    /// Where commands go. Default `SentinelRole::Master`.
    pub role: SentinelRole,
    /// A replica client sends its commands to the master while no replica is healthy,
    /// instead of failing them with REPLICA_NOT_FOUND. Default false.
    pub replica_fallback: bool,
    /// How many sentinels must name the same master before it is used. Default 1: the first
    /// sentinel to answer with a healthy master decides.
    pub quorum: usize,
    /// A sentinel's answer counts only when it sees at least this many other sentinels
    /// (redis-py's `min_other_sentinels`). Default 0.
    pub min_other_sentinels: u64,
    /// The ACL user on the sentinels. Default None (the `default` user).
    pub username: Option<String>,
    /// The sentinels' password (their `requirepass`). Default None.
    pub password: Option<Secret>,
    /// TLS to the sentinels: None follows `Config::tls` (the data nodes'), Some turns it on
    /// or off for the sentinels alone. Default None.
    pub tls: Option<bool>,
    /// TLS settings for the sentinels (CA, client certificate, server name). Default None:
    /// the data nodes' `Config::tls_options`.
    pub tls_options: Option<TlsOptions>,
    /// How often the sentinels are asked when nothing asks (their events and the data
    /// nodes' errors ask at once). Default 10 s; None asks only then.
    pub refresh_interval: Option<Duration>,
    /// Longest time a master client holds its commands while the sentinels fail its master
    /// over (from the failover's first step until a new master is found). Default 10 s;
    /// commands also end at their own timeout.
    pub failover_hold: Duration,
}

impl Default for SentinelOptions {
    fn default() -> SentinelOptions {
        SentinelOptions {
            service_name: String::new(),
            sentinels: Vec::new(),
            role: SentinelRole::Master,
            replica_fallback: false,
            quorum: 1,
            min_other_sentinels: 0,
            username: None,
            password: None,
            tls: None,
            tls_options: None,
            refresh_interval: Some(Duration::from_secs(10)),
            failover_hold: Duration::from_secs(10),
        }
    }
}

impl SentinelOptions {
    /// Checks the settings; errors name the field (`sentinel.quorum ...`).
    pub(super) fn validate(&self) -> Result<()> {
        let name = &self.service_name;
        if name.is_empty() {
            return Err(invalid(
                "sentinel.service_name is empty: name the master the sentinels monitor",
            ));
        }
        if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "sentinel.service_name contains a space or a control character",
            ));
        }
        if self.sentinels.is_empty() {
            return Err(invalid(
                "sentinel.sentinels is empty: add at least one sentinel",
            ));
        }
        for sentinel in &self.sentinels {
            match sentinel {
                Endpoint::Tcp { host, port } if !host.is_empty() && *port != 0 => {}
                Endpoint::Tcp { .. } => {
                    return Err(invalid(
                        "sentinel.sentinels: a sentinel needs a host and a port",
                    ))
                }
                Endpoint::Unix { .. } => {
                    return Err(invalid(
                        "sentinel.sentinels: sentinels are reached over TCP, not a unix socket",
                    ))
                }
            }
        }
        if self.quorum == 0 {
            return Err(invalid("sentinel.quorum must be at least 1"));
        }
        if self.username.as_deref() == Some("") {
            return Err(invalid(
                "sentinel.username is empty (use none for the default user)",
            ));
        }
        if self.password.as_ref().is_some_and(Secret::is_empty) {
            return Err(invalid(
                "sentinel.password is empty (use none for no password)",
            ));
        }
        if let Some(tls) = &self.tls_options {
            tls.validate()?;
        }
        check_timeout("sentinel.refresh_interval", self.refresh_interval)?;
        check_timeout("sentinel.failover_hold", Some(self.failover_hold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn valid() -> SentinelOptions {
        SentinelOptions {
            service_name: "mymaster".into(),
            sentinels: vec![Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: DEFAULT_SENTINEL_PORT,
            }],
            ..SentinelOptions::default()
        }
    }

    #[test]
    fn validate_names_the_bad_field() {
        valid().validate().unwrap();
        type Edit = fn(&mut SentinelOptions);
        let cases: &[(Edit, &str)] = &[
            (|o| o.service_name.clear(), "sentinel.service_name is empty"),
            (
                |o| o.service_name = "my master".into(),
                "sentinel.service_name",
            ),
            (|o| o.sentinels.clear(), "sentinel.sentinels is empty"),
            (
                |o| o.sentinels = vec![Endpoint::Unix { path: "/s".into() }],
                "unix socket",
            ),
            (
                |o| {
                    o.sentinels = vec![Endpoint::Tcp {
                        host: "h".into(),
                        port: 0,
                    }]
                },
                "needs a host and a port",
            ),
            (|o| o.quorum = 0, "sentinel.quorum"),
            (|o| o.username = Some(String::new()), "sentinel.username"),
            (|o| o.password = Some(Secret::new("")), "sentinel.password"),
            (
                |o| o.refresh_interval = Some(Duration::ZERO),
                "sentinel.refresh_interval",
            ),
            (
                |o| o.failover_hold = Duration::ZERO,
                "sentinel.failover_hold",
            ),
        ];
        for (edit, fragment) in cases {
            let mut o = valid();
            edit(&mut o);
            let err = o.validate().expect_err(fragment);
            assert_eq!(err.kind(), ErrorKind::InvalidArgument);
            assert!(err.message().contains(fragment), "{err} lacks {fragment}");
        }
    }

    #[test]
    fn roles_by_name() {
        assert_eq!(
            SentinelRole::from_name("Replica"),
            Some(SentinelRole::Replica)
        );
        assert_eq!(
            SentinelRole::from_name("slave"),
            Some(SentinelRole::Replica)
        );
        assert_eq!(
            SentinelRole::from_name("master"),
            Some(SentinelRole::Master)
        );
        assert_eq!(SentinelRole::from_name("x"), None);
        assert_eq!(SentinelRole::Replica.name(), "replica");
    }
}
