//! The sentinel part of URLs: `redis+sentinel://[user:pass@]s1[:port],s2[:port]/service[/db]`
//! (the sentinels, the service they watch, the data nodes' database) and the parameters that
//! apply to sentinel clients only.

use super::super::{SentinelOptions, SentinelRole, DEFAULT_SENTINEL_PORT};
use super::{decode, Value};
use super::{encode_into, format_duration, invalid, parse_userinfo, Config, Endpoint, UrlParser};
use crate::error::Result;

/// The query parameters of sentinel clients (`sentinel_password` is read apart, as a secret).
pub(super) const PARAMS: &[&str] = &[
    "role",
    "replica_fallback",
    "quorum",
    "min_other_sentinels",
    "sentinel_username",
    "sentinel_tls",
    "failover_hold",
    "refresh_interval",
];

impl UrlParser<'_> {
    /// `[user:pass@]host[:port][,host[:port]...]/service[/db]`.
    pub(super) fn parse_sentinel(&self, main: &str, config: &mut Config) -> Result<()> {
        let (userinfo, after) = match main.rfind('@') {
            Some(at) => (Some(&main[..at]), &main[at + 1..]),
            None => (None, main),
        };
        if let Some(userinfo) = userinfo {
            parse_userinfo(userinfo, config)?;
        }
        let (hosts, path) = after.split_once('/').unwrap_or((after, ""));
        let mut sentinels = Vec::new();
        for hostport in hosts.split(',') {
            let (host, port) = self.parse_hostport(hostport, DEFAULT_SENTINEL_PORT)?;
            sentinels.push(Endpoint::Tcp { host, port });
        }
        let (service, db) = path.split_once('/').unwrap_or((path, ""));
        let service = decode(service, "service name")?;
        if service.is_empty() {
            return Err(invalid(
                "the sentinel URL names no service: redis+sentinel://host:26379/mymaster",
            ));
        }
        if !db.is_empty() {
            config.db = self.path_db(db, "redis+sentinel://host/mymaster/2")?;
        }
        let options = config.sentinel.get_or_insert_with(SentinelOptions::default);
        options.service_name = service;
        options.sentinels = sentinels;
        Ok(())
    }

    /// One parameter of `PARAMS`.
    pub(super) fn apply_sentinel_param(
        &self,
        v: &Value<'_, '_>,
        raw_key: &str,
        c: &mut Config,
    ) -> Result<()> {
        let Some(o) = c.sentinel.as_mut() else {
            // `refresh_interval` is a cluster parameter too.
            if v.key == "refresh_interval" {
                if let Some(cluster) = c.cluster.as_mut() {
                    cluster.refresh_interval = v.optional_duration()?;
                    return Ok(());
                }
            }
            return Err(invalid(format!(
                "URL parameter {} applies to sentinels: use redis+sentinel://",
                self.quote(raw_key)
            )));
        };
        match v.key {
            "role" => {
                o.role =
                    SentinelRole::from_name(v.text).ok_or_else(|| v.error("master or replica"))?
            }
            "replica_fallback" => o.replica_fallback = v.boolean()?,
            "quorum" => o.quorum = v.number()?,
            "min_other_sentinels" => o.min_other_sentinels = v.number()?,
            "sentinel_username" => o.username = v.optional_string(),
            "sentinel_tls" => o.tls = Some(v.boolean()?),
            "failover_hold" => o.failover_hold = v.duration()?,
            _ => o.refresh_interval = v.optional_duration()?,
        }
        Ok(())
    }
}

impl Config {
    /// Scheme, user, sentinels, service and database of a sentinel client.
    pub(super) fn sentinel_url(&self, o: &SentinelOptions, out: &mut String) {
        out.push_str(if self.tls {
            "rediss+sentinel://"
        } else {
            "redis+sentinel://"
        });
        self.userinfo_url(out);
        for (i, sentinel) in o.sentinels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            Config::hostport_url(sentinel, out);
        }
        out.push('/');
        encode_into(out, &o.service_name, false);
        if self.db != 0 {
            out.push_str(&format!("/{}", self.db));
        }
    }
}

/// The sentinel parameters that differ from the defaults.
pub(super) fn params(o: &SentinelOptions, p: &mut Vec<(&'static str, String)>) {
    let d = SentinelOptions::default();
    if o.role != d.role {
        p.push(("role", o.role.name().into()));
    }
    if o.replica_fallback {
        p.push(("replica_fallback", "true".into()));
    }
    if o.quorum != d.quorum {
        p.push(("quorum", o.quorum.to_string()));
    }
    if o.min_other_sentinels != d.min_other_sentinels {
        p.push(("min_other_sentinels", o.min_other_sentinels.to_string()));
    }
    if let Some(user) = &o.username {
        p.push(("sentinel_username", user.clone()));
    }
    if o.password.is_some() {
        p.push(("sentinel_password", "***".into()));
    }
    if let Some(tls) = o.tls {
        p.push(("sentinel_tls", tls.to_string()));
    }
    if o.failover_hold != d.failover_hold {
        p.push(("failover_hold", format_duration(o.failover_hold)));
    }
    if o.refresh_interval != d.refresh_interval {
        let value = o
            .refresh_interval
            .map_or_else(|| "none".into(), format_duration);
        p.push(("refresh_interval", value));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::{Config, Endpoint, Secret, SentinelOptions, SentinelRole};

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn sentinel_urls() {
        let c = Config::from_url("redis+sentinel://s1,s2:26380,[::1]/mymaster").unwrap();
        assert_eq!(
            c.sentinel,
            Some(SentinelOptions {
                service_name: "mymaster".into(),
                sentinels: vec![tcp("s1", 26379), tcp("s2", 26380), tcp("::1", 26379)],
                ..SentinelOptions::default()
            })
        );
        assert!(!c.tls && c.db == 0 && c.password.is_none());

        let c = Config::from_url(
            "rediss+sentinel://app:pw@s:1/cache/3?role=replica&replica_fallback=yes&quorum=2\
             &min_other_sentinels=1&sentinel_username=watcher&sentinel_password=spw\
             &sentinel_tls=false&failover_hold=2s&refresh_interval=500ms",
        )
        .unwrap();
        assert!(c.tls);
        assert_eq!(c.db, 3);
        assert_eq!(c.username.as_deref(), Some("app"));
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("pw"));
        let o = c.sentinel.unwrap();
        assert_eq!(o.service_name, "cache");
        assert_eq!(o.role, SentinelRole::Replica);
        assert!(o.replica_fallback);
        assert_eq!((o.quorum, o.min_other_sentinels), (2, 1));
        assert_eq!(o.username.as_deref(), Some("watcher"));
        assert_eq!(o.password.as_ref().map(Secret::expose), Some("spw"));
        assert_eq!(o.tls, Some(false));
        assert_eq!(o.failover_hold, Duration::from_secs(2));
        assert_eq!(o.refresh_interval, Some(Duration::from_millis(500)));
    }

    #[test]
    fn sentinel_urls_print_back() {
        for url in [
            "redis+sentinel://s1:26379,s2:26380/mymaster",
            "rediss+sentinel://u:***@s:1/cache/3?role=replica&replica_fallback=true&quorum=2\
             &min_other_sentinels=1&sentinel_username=w&sentinel_tls=false&failover_hold=2s\
             &refresh_interval=none",
        ] {
            let c = Config::from_url(url).unwrap();
            assert_eq!(c.to_url_redacted(), url);
        }
        let c = Config::from_url("redis+sentinel://s/m?sentinel_password=hunter2").unwrap();
        let printed = c.to_url_redacted();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("sentinel_password="), "{printed}");
        let err = Config::from_url("redis+sentinel://s/m?sentinel_password=%zz&x=hunter2");
        assert!(!err.unwrap_err().message().contains("hunter2"));
    }
}
