//! The events sentinels publish on their pub/sub channels, as a client needs them: the
//! channels to subscribe to, the `message` pushes they arrive in, and their payloads
//! (`+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>`, and the instance form
//! `<type> <name> <ip> <port> [@ <master-name> <master-ip> <master-port>]` of the others).
//!
//! The failover steps (`+try-failover` to `+failover-state-reconf-slaves`) are published only
//! by the sentinel leading the failover, which is why a client listens to every sentinel.

use crate::resp::{Kind, ValueRef};
use crate::route::topology::NodeAddr;

/// The channels a client subscribes to on each sentinel.
pub const CHANNELS: &[&str] = &[
    "+switch-master",
    "+try-failover",
    "+elected-leader",
    "+failover-state-select-slave",
    "+selected-slave",
    "+failover-state-send-slaveof-noone",
    "+failover-state-wait-promotion",
    "+promoted-slave",
    "+failover-state-reconf-slaves",
    "+failover-end",
    "+failover-end-for-timeout",
    "-failover-abort-not-elected",
    "-failover-abort-no-good-slave",
    "-failover-abort-slave-timeout",
    "+odown",
    "-odown",
    "+sdown",
    "-sdown",
    "+slave",
    "+convert-to-slave",
    "+role-change",
    "-role-change",
];

/// An event about one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SentinelEvent {
    /// `+switch-master`: the service's master is now `new`.
    SwitchMaster {
        /// The service.
        service: String,
        /// The master before.
        old: NodeAddr,
        /// The master now.
        new: NodeAddr,
    },
    /// A failover of `master` started or moves on (the leader's steps up to reconfiguring
    /// the replicas): a replica is about to become, or has become, the master.
    Failover {
        /// The service.
        service: String,
        /// The master being replaced.
        master: NodeAddr,
    },
    /// The failover ended (`+failover-end`, `+failover-end-for-timeout`) or was given up
    /// (`-failover-abort-*`, `aborted`).
    FailoverOver {
        /// The service.
        service: String,
        /// Given up: the master stays.
        aborted: bool,
    },
    /// `+odown` (`down`) or `-odown` of the master.
    MasterDown {
        /// The service.
        service: String,
        /// The master.
        master: NodeAddr,
        /// Objectively down (`+odown`), or no longer (`-odown`).
        down: bool,
    },
    /// A replica (or the master, subjectively) went down, came back, was added, was
    /// converted or reported a new role: `+sdown`, `-sdown`, `+slave`, `+convert-to-slave`,
    /// `+role-change` (an old master saying it is a replica now: it may serve reads) and
    /// `-role-change` (an old master, listed as a replica after a failover, still saying it
    /// is a master when first asked: it may not).
    InstanceChanged {
        /// The service.
        service: String,
        /// The instance.
        addr: NodeAddr,
    },
}

impl SentinelEvent {
    /// Reads a pub/sub push (`message <channel> <payload>`, or `pmessage <pattern> <channel>
    /// <payload>`; RESP3 push or RESP2 array). `None` for anything else, such as a
    /// subscription's confirmation or an event no client acts on.
    pub fn from_push(push: ValueRef<'_>) -> Option<SentinelEvent> {
        if !matches!(push.kind(), Kind::Push | Kind::Array) {
            return None;
        }
        let (channel, payload) = match (push.len(), push.get(0)?.as_bytes()?) {
            (3, b"message") => (push.get(1)?, push.get(2)?),
            (4, b"pmessage") => (push.get(2)?, push.get(3)?),
            _ => return None,
        };
        SentinelEvent::parse(channel.as_str()?, payload.as_str()?)
    }

    /// Reads one event from its channel and payload.
    pub fn parse(channel: &str, payload: &str) -> Option<SentinelEvent> {
        if channel == "+switch-master" {
            let w: Vec<&str> = payload.split_whitespace().collect();
            let [service, old_ip, old_port, new_ip, new_port] = w.as_slice() else {
                return None;
            };
            return Some(SentinelEvent::SwitchMaster {
                service: service.to_string(),
                old: NodeAddr::new(*old_ip, old_port.parse().ok()?),
                new: NodeAddr::new(*new_ip, new_port.parse().ok()?),
            });
        }
        let instance = Instance::parse(payload)?;
        let service = instance.service.to_string();
        let event = match channel {
            "+try-failover"
            | "+elected-leader"
            | "+failover-state-select-slave"
            | "+selected-slave"
            | "+failover-state-send-slaveof-noone"
            | "+failover-state-wait-promotion"
            | "+promoted-slave"
            | "+failover-state-reconf-slaves" => SentinelEvent::Failover {
                service,
                master: instance.master,
            },
            "+failover-end" | "+failover-end-for-timeout" => SentinelEvent::FailoverOver {
                service,
                aborted: false,
            },
            c if c.starts_with("-failover-abort-") => SentinelEvent::FailoverOver {
                service,
                aborted: true,
            },
            "+odown" | "-odown" if instance.kind == "master" => SentinelEvent::MasterDown {
                service,
                master: instance.master,
                down: channel == "+odown",
            },
            "+sdown" | "-sdown" | "+slave" | "+convert-to-slave" | "+role-change"
            | "-role-change" => SentinelEvent::InstanceChanged {
                service,
                addr: instance.addr,
            },
            _ => return None,
        };
        Some(event)
    }

    /// The service the event is about.
    pub fn service(&self) -> &str {
        match self {
            SentinelEvent::SwitchMaster { service, .. }
            | SentinelEvent::Failover { service, .. }
            | SentinelEvent::FailoverOver { service, .. }
            | SentinelEvent::MasterDown { service, .. }
            | SentinelEvent::InstanceChanged { service, .. } => service,
        }
    }
}

/// The instance form of a payload.
struct Instance<'a> {
    /// `master`, `slave` or `sentinel`.
    kind: &'a str,
    addr: NodeAddr,
    service: &'a str,
    /// The master: the instance itself, or the one after `@`.
    master: NodeAddr,
}

impl<'a> Instance<'a> {
    fn parse(payload: &'a str) -> Option<Instance<'a>> {
        let w: Vec<&str> = payload.split_whitespace().collect();
        let (kind, name, ip, port) = (*w.first()?, *w.get(1)?, *w.get(2)?, w.get(3)?);
        let addr = NodeAddr::new(ip, port.parse().ok()?);
        if kind == "master" {
            return Some(Instance {
                kind,
                master: addr.clone(),
                addr,
                service: name,
            });
        }
        if w.get(4) != Some(&"@") {
            return None;
        }
        let (service, master_ip, master_port) = (*w.get(5)?, *w.get(6)?, w.get(7)?);
        Some(Instance {
            kind,
            addr,
            service,
            master: NodeAddr::new(master_ip, master_port.parse().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Decoder, Reply, Value};

    fn addr(port: u16) -> NodeAddr {
        NodeAddr::new("127.0.0.1", port)
    }

    #[test]
    fn payloads_as_sentinel_7_publishes_them() {
        let cases = [
            (
                "+switch-master",
                "mymaster 127.0.0.1 17502 127.0.0.1 17501",
                Some(SentinelEvent::SwitchMaster {
                    service: "mymaster".into(),
                    old: addr(17502),
                    new: addr(17501),
                }),
            ),
            (
                "+try-failover",
                "master mymaster 127.0.0.1 17502",
                Some(SentinelEvent::Failover {
                    service: "mymaster".into(),
                    master: addr(17502),
                }),
            ),
            (
                "+selected-slave",
                "slave 127.0.0.1:17501 127.0.0.1 17501 @ mymaster 127.0.0.1 17502",
                Some(SentinelEvent::Failover {
                    service: "mymaster".into(),
                    master: addr(17502),
                }),
            ),
            (
                "-failover-abort-no-good-slave",
                "master mymaster 127.0.0.1 17502",
                Some(SentinelEvent::FailoverOver {
                    service: "mymaster".into(),
                    aborted: true,
                }),
            ),
            (
                "+failover-end",
                "master mymaster 127.0.0.1 17502",
                Some(SentinelEvent::FailoverOver {
                    service: "mymaster".into(),
                    aborted: false,
                }),
            ),
            (
                "+odown",
                "master mymaster 127.0.0.1 17502 #quorum 2/2",
                Some(SentinelEvent::MasterDown {
                    service: "mymaster".into(),
                    master: addr(17502),
                    down: true,
                }),
            ),
            (
                "+sdown",
                "slave 127.0.0.1:17500 127.0.0.1 17500 @ mymaster 127.0.0.1 17502",
                Some(SentinelEvent::InstanceChanged {
                    service: "mymaster".into(),
                    addr: addr(17500),
                }),
            ),
            (
                "+sdown",
                "sentinel 45dc2ad1 127.0.0.1 27501 @ other 127.0.0.1 6379",
                Some(SentinelEvent::InstanceChanged {
                    service: "other".into(),
                    addr: addr(27501),
                }),
            ),
            (
                "+role-change",
                "slave 127.0.0.1:17502 127.0.0.1 17502 @ mymaster 127.0.0.1 17501 \
                 new reported role is slave",
                Some(SentinelEvent::InstanceChanged {
                    service: "mymaster".into(),
                    addr: addr(17502),
                }),
            ),
            ("+switch-master", "mymaster 127.0.0.1 x 127.0.0.1 1", None),
            ("+switch-master", "mymaster 127.0.0.1 1", None),
            ("+selected-slave", "slave a 127.0.0.1 1 mymaster", None),
            ("+reboot", "master mymaster 127.0.0.1 17502", None),
            ("+odown", "slave a 127.0.0.1 1 @ mymaster 127.0.0.1 2", None),
            ("+sdown", "", None),
        ];
        for (channel, payload, want) in cases {
            assert_eq!(
                SentinelEvent::parse(channel, payload),
                want,
                "{channel} {payload}"
            );
        }
    }

    #[test]
    fn pushes_and_arrays_carry_them() {
        // A captured RESP3 `message` push of +switch-master.
        let bytes = b">3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$40\r\n\
                      mymaster 127.0.0.1 17502 127.0.0.1 17501\r\n";
        let mut decoder = Decoder::default();
        let (_, reply) = decoder.decode(bytes).unwrap();
        let event = SentinelEvent::from_push(reply.unwrap().value()).unwrap();
        assert_eq!(event.service(), "mymaster");
        let pmessage = Value::Array(vec![
            Value::bulk("pmessage"),
            Value::bulk("*"),
            Value::bulk("-sdown"),
            Value::bulk("slave 127.0.0.1:1 127.0.0.1 1 @ m 127.0.0.1 2"),
        ]);
        let event = SentinelEvent::from_push(Reply::from_value(&pmessage).value()).unwrap();
        assert_eq!(event.service(), "m");
        // Subscription confirmations and other shapes are not events.
        let mut decoder = Decoder::default();
        let confirm = include_bytes!("../testdata/sentinel_subscribe_ping_resp3.resp");
        let (_, reply) = decoder.decode(confirm).unwrap();
        assert_eq!(SentinelEvent::from_push(reply.unwrap().value()), None);
        for value in [
            Value::Integer(1),
            Value::Push(vec![Value::bulk("message"), Value::bulk("+sdown")]),
            Value::Push(vec![
                Value::Integer(1),
                Value::Integer(2),
                Value::Integer(3),
            ]),
        ] {
            assert_eq!(
                SentinelEvent::from_push(Reply::from_value(&value).value()),
                None
            );
        }
    }

    #[test]
    fn every_channel_subscribed_is_one_an_event_is_read_from() {
        for channel in CHANNELS {
            let payload = if *channel == "+switch-master" {
                "m 127.0.0.1 1 127.0.0.1 2"
            } else {
                "master m 127.0.0.1 1"
            };
            let parsed = SentinelEvent::parse(channel, payload);
            let instance_only = ["+sdown", "-sdown", "+slave", "+convert-to-slave"];
            assert!(
                parsed.is_some() || instance_only.contains(channel),
                "{channel} is subscribed to but never read"
            );
        }
    }
}
