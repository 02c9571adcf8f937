//! What a sentinel says about an instance it watches: the state maps of `SENTINEL MASTER`,
//! `SENTINEL MASTERS`, `SENTINEL REPLICAS` and `SENTINEL SENTINELS` (RESP3 maps, or RESP2 flat
//! arrays of field and value), and the address pair of `SENTINEL GET-MASTER-ADDR-BY-NAME`.

use crate::error::{Error, ErrorKind, Result};
use crate::resp::{Kind, ValueRef};
use crate::route::topology::NodeAddr;

/// One instance as a sentinel sees it: a master, a replica or another sentinel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceState {
    /// `name`: the service name for a master, `ip:port` for a replica, the run id for a
    /// sentinel.
    pub name: String,
    /// `ip` and `port`.
    pub addr: NodeAddr,
    /// `flags`, split at commas: `master`, `slave`, `sentinel`, `s_down`, `o_down`,
    /// `disconnected`, `failover_in_progress`, ...
    pub flags: Vec<String>,
    /// `num-other-sentinels` (masters only).
    pub other_sentinels: Option<u64>,
    /// `master-link-status` (replicas only): `ok` or `err`.
    pub master_link_ok: Option<bool>,
    /// `role-reported`: what the instance itself said it is (`master`, `slave`) when the
    /// sentinel last asked.
    pub role_reported: Option<String>,
}

impl InstanceState {
    /// Reads one state: a map (RESP3) or a flat array of field, value, field, value
    /// (RESP2). Fields other than those kept are skipped; `ip`, `port` and `flags` must be
    /// there.
    pub fn parse(value: ValueRef<'_>) -> Result<InstanceState> {
        let mut fields: Vec<(ValueRef<'_>, ValueRef<'_>)> = Vec::new();
        match value.kind() {
            Kind::Map => fields.extend(value.pairs()),
            Kind::Array if value.len() % 2 == 0 => {
                let items: Vec<ValueRef<'_>> = value.children().collect();
                fields.extend(items.chunks(2).map(|pair| (pair[0], pair[1])));
            }
            Kind::Error | Kind::BlobError => return Err(value.as_error().expect("an error reply")),
            kind => {
                return Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!("a sentinel sent a {kind:?} where an instance's state was expected"),
                ))
            }
        }
        let text = |v: ValueRef<'_>| v.as_str().map(str::to_owned);
        let number = |v: ValueRef<'_>| {
            v.as_integer()
                .and_then(|n| u64::try_from(n).ok())
                .or_else(|| v.as_str()?.parse().ok())
        };
        let (mut name, mut ip, mut port, mut flags) = (None, None, None, None);
        let mut state = InstanceState {
            name: String::new(),
            addr: NodeAddr::new("", 0),
            flags: Vec::new(),
            other_sentinels: None,
            master_link_ok: None,
            role_reported: None,
        };
        for (key, value) in fields {
            match key.as_bytes() {
                Some(b"name") => name = text(value),
                Some(b"ip") => ip = text(value),
                Some(b"port") => port = number(value).and_then(|p| u16::try_from(p).ok()),
                Some(b"flags") => flags = text(value),
                Some(b"num-other-sentinels") => state.other_sentinels = number(value),
                Some(b"master-link-status") => {
                    state.master_link_ok = value.as_bytes().map(|s| s == b"ok")
                }
                Some(b"role-reported") => state.role_reported = text(value),
                _ => {}
            }
        }
        let (Some(ip), Some(port), Some(flags)) = (ip, port, flags) else {
            return Err(Error::new(
                ErrorKind::InvalidResponse,
                "a sentinel's instance state lacks its ip, port or flags",
            ));
        };
        state.name = name.unwrap_or_default();
        state.addr = NodeAddr::new(ip, port);
        state.flags = flags
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(state)
    }

    /// Reads a list of states (`SENTINEL MASTERS`, `REPLICAS`, `SENTINELS`).
    pub fn parse_list(value: ValueRef<'_>) -> Result<Vec<InstanceState>> {
        match value.kind() {
            Kind::Array | Kind::Set => value.children().map(InstanceState::parse).collect(),
            Kind::Error | Kind::BlobError => Err(value.as_error().expect("an error reply")),
            kind => Err(Error::new(
                ErrorKind::InvalidResponse,
                format!("a sentinel sent a {kind:?} where a list of instances was expected"),
            )),
        }
    }

    /// The instance carries `flag`.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Subjectively or objectively down.
    pub fn is_down(&self) -> bool {
        self.has_flag("s_down") || self.has_flag("o_down")
    }

    /// A replica that may serve reads: flagged `slave`, not down, the sentinel's link to it
    /// up (a killed replica shows `disconnected` well before `s_down`), and not still saying
    /// it is a master. After a failover the sentinels list the old master among the replicas
    /// at once, but until they convert it (about 10 s later) it is a master no one writes to:
    /// its reads would go back in time.
    pub fn is_healthy_replica(&self) -> bool {
        self.has_flag("slave")
            && !self.is_down()
            && !self.has_flag("disconnected")
            && self.role_reported.as_deref() != Some("master")
    }

    /// `flags` as the sentinel sent them, for messages.
    pub fn flags_text(&self) -> String {
        self.flags.join(",")
    }
}

/// Reads the answer to `SENTINEL GET-MASTER-ADDR-BY-NAME`: the address, or `None` when the
/// sentinel does not know the service (a null).
pub fn parse_master_addr(value: ValueRef<'_>) -> Result<Option<NodeAddr>> {
    match value.kind() {
        Kind::Null => Ok(None),
        Kind::Array if value.len() == 2 => {
            let ip = value.get(0).and_then(|v| v.as_str());
            let port = value
                .get(1)
                .and_then(|v| v.as_str())
                .and_then(|p| p.parse::<u16>().ok());
            match (ip, port) {
                (Some(ip), Some(port)) => Ok(Some(NodeAddr::new(ip, port))),
                _ => Err(Error::new(
                    ErrorKind::InvalidResponse,
                    "a sentinel sent a master address that is not an ip and a port",
                )),
            }
        }
        Kind::Error | Kind::BlobError => Err(value.as_error().expect("an error reply")),
        kind => Err(Error::new(
            ErrorKind::InvalidResponse,
            format!("a sentinel sent a {kind:?} where a master address was expected"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Decoder, Reply, Value};

    fn decode(bytes: &[u8]) -> Reply {
        let mut decoder = Decoder::default();
        let (used, reply) = decoder.decode(bytes).expect("valid RESP");
        assert_eq!(used, bytes.len(), "one whole reply");
        reply.expect("a complete reply")
    }

    // Replies captured from redis-sentinel 7.0.15 (127.0.0.1:27500) watching `mymaster` on
    // 127.0.0.1:17502 with replicas 17500 and 17501 and two more sentinels, 27501 and 27502.

    #[test]
    fn a_master_state_in_both_protocols() {
        for bytes in [
            &include_bytes!("../testdata/sentinel_master_mymaster_resp2.resp")[..],
            include_bytes!("../testdata/sentinel_master_mymaster_resp3.resp"),
        ] {
            let reply = decode(bytes);
            let state = InstanceState::parse(reply.value()).unwrap();
            assert_eq!(state.name, "mymaster");
            assert_eq!(state.addr, NodeAddr::new("127.0.0.1", 17502));
            assert_eq!(state.flags, vec!["master"]);
            assert_eq!(state.other_sentinels, Some(2));
            assert!(!state.is_down());
        }
    }

    #[test]
    fn replica_and_sentinel_lists_in_both_protocols() {
        for bytes in [
            &include_bytes!("../testdata/sentinel_replicas_mymaster_resp2.resp")[..],
            include_bytes!("../testdata/sentinel_replicas_mymaster_resp3.resp"),
        ] {
            let reply = decode(bytes);
            let replicas = InstanceState::parse_list(reply.value()).unwrap();
            let addrs: Vec<_> = replicas.iter().map(|r| r.addr.port).collect();
            assert_eq!(addrs, vec![17500, 17501]);
            assert!(replicas.iter().all(InstanceState::is_healthy_replica));
            assert!(replicas.iter().all(|r| r.master_link_ok == Some(true)));
            assert!(replicas
                .iter()
                .all(|r| r.role_reported.as_deref() == Some("slave")));
        }
        for bytes in [
            &include_bytes!("../testdata/sentinel_sentinels_mymaster_resp2.resp")[..],
            include_bytes!("../testdata/sentinel_sentinels_mymaster_resp3.resp"),
        ] {
            let reply = decode(bytes);
            let sentinels = InstanceState::parse_list(reply.value()).unwrap();
            let ports: Vec<_> = sentinels.iter().map(|s| s.addr.port).collect();
            assert_eq!(ports, vec![27502, 27501]);
            assert!(sentinels.iter().all(|s| s.has_flag("sentinel")));
        }
    }

    #[test]
    fn flags_decide_health() {
        let state = |flags: &str| {
            let value = Value::Map(vec![
                (Value::bulk("name"), Value::bulk("127.0.0.1:1")),
                (Value::bulk("ip"), Value::bulk("127.0.0.1")),
                (Value::bulk("port"), Value::bulk("1")),
                (Value::bulk("flags"), Value::bulk(flags)),
            ]);
            InstanceState::parse(Reply::from_value(&value).value()).unwrap()
        };
        assert!(state("slave").is_healthy_replica());
        assert!(!state("slave,s_down").is_healthy_replica());
        assert!(!state("slave,s_down,o_down").is_healthy_replica());
        assert!(!state("slave,disconnected").is_healthy_replica());
        assert!(!state("master").is_healthy_replica());
        // The old master after a failover: listed as a replica, still saying it is a master.
        let value = Value::Map(vec![
            (Value::bulk("ip"), Value::bulk("127.0.0.1")),
            (Value::bulk("port"), Value::bulk("1")),
            (Value::bulk("flags"), Value::bulk("slave")),
            (Value::bulk("role-reported"), Value::bulk("master")),
            (Value::bulk("master-link-status"), Value::bulk("err")),
        ]);
        let demoted = InstanceState::parse(Reply::from_value(&value).value()).unwrap();
        assert_eq!(demoted.role_reported.as_deref(), Some("master"));
        assert!(!demoted.is_healthy_replica());
        assert!(state("master,o_down").is_down());
        assert_eq!(state("master,failover_in_progress").flags.len(), 2);
        assert_eq!(state("").flags, Vec::<String>::new());
    }

    #[test]
    fn broken_states_are_errors() {
        let reply = decode(include_bytes!(
            "../testdata/sentinel_master_nope_resp3.resp"
        ));
        let err = InstanceState::parse(reply.value()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Response);
        assert!(err.message().contains("No such master"), "{err}");
        for value in [
            Value::Integer(3),
            Value::Array(vec![Value::bulk("ip")]),
            Value::Map(vec![(Value::bulk("ip"), Value::bulk("h"))]),
            Value::Map(vec![
                (Value::bulk("ip"), Value::bulk("h")),
                (Value::bulk("port"), Value::bulk("99999")),
                (Value::bulk("flags"), Value::bulk("master")),
            ]),
        ] {
            let err = InstanceState::parse(Reply::from_value(&value).value()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{value:?}");
        }
        let err = InstanceState::parse_list(Reply::from_value(&Value::Integer(1)).value());
        assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidResponse);
    }

    #[test]
    fn master_addresses() {
        for bytes in [
            &include_bytes!("../testdata/sentinel_get_master_addr_by_name_mymaster_resp2.resp")[..],
            include_bytes!("../testdata/sentinel_get_master_addr_by_name_mymaster_resp3.resp"),
        ] {
            let reply = decode(bytes);
            assert_eq!(
                parse_master_addr(reply.value()).unwrap(),
                Some(NodeAddr::new("127.0.0.1", 17502))
            );
        }
        for bytes in [
            &include_bytes!("../testdata/sentinel_get_master_addr_by_name_nope_resp2.resp")[..],
            include_bytes!("../testdata/sentinel_get_master_addr_by_name_nope_resp3.resp"),
        ] {
            assert_eq!(parse_master_addr(decode(bytes).value()).unwrap(), None);
        }
        let bad = Value::Array(vec![Value::bulk("h"), Value::bulk("port")]);
        let err = parse_master_addr(Reply::from_value(&bad).value()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
    }
}
