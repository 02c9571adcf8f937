//! Master and replica discovery: the sentinels are asked at once (each for `SENTINEL MASTER`,
//! `SENTINEL REPLICAS` and `SENTINEL SENTINELS` of the service), and each answer becomes a
//! verdict. A master is accepted when `quorum` sentinels name the same address, each seeing
//! it flagged `master` and neither down (`s_down`, `o_down`) nor in the middle of a failover,
//! and each seeing enough other sentinels. When every sentinel has answered without that,
//! the outcome is MASTER_NOT_FOUND with what each one said.
//!
//! The sentinels that answered move to the front of the list (the first to agree first), so
//! the next discovery asks the responsive ones first; sentinels they name that were not known
//! yet join the list at its end.

use std::fmt;

use super::state::InstanceState;
use crate::error::{Error, ErrorKind, Result};
use crate::route::topology::NodeAddr;

/// What a master must pass to be accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryRules {
    /// The service (master) name the sentinels monitor.
    pub service: String,
    /// How many sentinels must name the same master; 1: the first good answer decides.
    pub quorum: usize,
    /// A sentinel's answer counts only when it sees at least this many other sentinels
    /// (redis-py's `min_other_sentinels`).
    pub min_other_sentinels: u64,
}

/// One sentinel's answer: its three replies, read.
#[derive(Clone, Debug)]
pub struct SentinelAnswer {
    /// `SENTINEL MASTER <service>`: the master's state, or the sentinel's error (it does not
    /// monitor that service).
    pub master: Result<InstanceState>,
    /// `SENTINEL REPLICAS <service>` (empty when it failed).
    pub replicas: Vec<InstanceState>,
    /// `SENTINEL SENTINELS <service>`: the other sentinels (empty when it failed).
    pub sentinels: Vec<InstanceState>,
}

/// What one sentinel said about the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A healthy master at this address.
    Master(NodeAddr),
    /// A master it considers down.
    Down {
        /// Where.
        addr: NodeAddr,
        /// Its flags.
        flags: String,
    },
    /// A failover it is running (the address is the master being replaced).
    FailingOver(NodeAddr),
    /// An instance not flagged `master`.
    NotMaster {
        /// Where.
        addr: NodeAddr,
        /// Its flags.
        flags: String,
    },
    /// A master, but the sentinel sees fewer other sentinels than required.
    FewSentinels {
        /// The master it named.
        addr: NodeAddr,
        /// Other sentinels it sees.
        seen: u64,
        /// Other sentinels required.
        wanted: u64,
    },
    /// The sentinel's error (it does not monitor the service, or refused us).
    Refused(String),
    /// No answer: the connection or the command failed.
    Failed(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Master(addr) => write!(f, "master {addr}"),
            Verdict::Down { addr, flags } => write!(f, "master {addr} is down ({flags})"),
            Verdict::FailingOver(addr) => write!(f, "failing over from {addr}"),
            Verdict::NotMaster { addr, flags } => {
                write!(f, "{addr} is not flagged master ({flags})")
            }
            Verdict::FewSentinels { addr, seen, wanted } => write!(
                f,
                "master {addr}, but it sees {seen} other sentinels ({wanted} required)"
            ),
            Verdict::Refused(message) | Verdict::Failed(message) => f.write_str(message),
        }
    }
}

impl Verdict {
    fn of(rules: &DiscoveryRules, master: &Result<InstanceState>) -> Verdict {
        let state = match master {
            Ok(state) => state,
            Err(e) if e.kind().is(ErrorKind::Response) => {
                return Verdict::Refused(e.message().to_string())
            }
            Err(e) => return Verdict::Failed(e.message().to_string()),
        };
        let addr = state.addr.clone();
        if !state.has_flag("master") {
            return Verdict::NotMaster {
                addr,
                flags: state.flags_text(),
            };
        }
        if state.is_down() {
            return Verdict::Down {
                addr,
                flags: state.flags_text(),
            };
        }
        if state.has_flag("failover_in_progress") {
            return Verdict::FailingOver(addr);
        }
        let seen = state.other_sentinels.unwrap_or(0);
        if seen < rules.min_other_sentinels {
            return Verdict::FewSentinels {
                addr,
                seen,
                wanted: rules.min_other_sentinels,
            };
        }
        Verdict::Master(addr)
    }
}

/// A discovery's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The master.
    pub master: NodeAddr,
    /// Its healthy replicas, as the first agreeing sentinel that lists any sees them (empty:
    /// none is healthy).
    pub replicas: Vec<NodeAddr>,
    /// The sentinels to ask next time, in order: those that agreed, then the others that
    /// answered, then those not heard from, then those learned from the answers.
    pub sentinels: Vec<NodeAddr>,
}

/// One discovery: the sentinels asked, and what each said so far.
#[derive(Clone, Debug)]
pub struct Discovery {
    rules: DiscoveryRules,
    sentinels: Vec<NodeAddr>,
    verdicts: Vec<Option<Verdict>>,
    /// Indexes of the sentinels that answered, in the order they did.
    order: Vec<usize>,
    /// Per sentinel: the replicas it listed (all of them, for messages).
    replicas: Vec<Vec<InstanceState>>,
    /// Sentinels named in answers that were not in `sentinels`.
    learned: Vec<NodeAddr>,
    decided: bool,
}

impl Discovery {
    /// A discovery asking `sentinels` (in this order of preference).
    pub fn new(rules: DiscoveryRules, sentinels: Vec<NodeAddr>) -> Discovery {
        let n = sentinels.len();
        Discovery {
            rules,
            sentinels,
            verdicts: vec![None; n],
            order: Vec::with_capacity(n),
            replicas: vec![Vec::new(); n],
            learned: Vec::new(),
            decided: false,
        }
    }

    /// The sentinels to ask, all at once; answers come back by index.
    pub fn sentinels(&self) -> &[NodeAddr] {
        &self.sentinels
    }

    /// Sentinel `i` answered (or failed to).
    pub fn handle_answer(&mut self, i: usize, answer: Result<SentinelAnswer>) {
        if i >= self.sentinels.len() || self.verdicts[i].is_some() {
            return;
        }
        let verdict = match answer {
            Err(e) => Verdict::Failed(e.message().to_string()),
            Ok(answer) => {
                for other in answer.sentinels {
                    if !self.sentinels.contains(&other.addr) && !self.learned.contains(&other.addr)
                    {
                        self.learned.push(other.addr);
                    }
                }
                self.replicas[i] = answer.replicas;
                Verdict::of(&self.rules, &answer.master)
            }
        };
        if !matches!(verdict, Verdict::Failed(_)) {
            self.order.push(i);
        }
        self.verdicts[i] = Some(verdict);
    }

    /// The outcome, once: the master when enough sentinels agree; MASTER_NOT_FOUND when all
    /// answered and they do not. `None` while undecided, and after the outcome was taken.
    pub fn poll_outcome(&mut self) -> Option<Result<Found>> {
        if self.decided {
            return None;
        }
        let quorum = self.rules.quorum.max(1);
        let agreed = self.order.iter().find_map(|&i| match &self.verdicts[i] {
            Some(Verdict::Master(addr)) if self.agreeing(addr).count() >= quorum => Some(addr),
            _ => None,
        });
        if let Some(master) = agreed {
            let master = master.clone();
            self.decided = true;
            let replicas = self
                .agreeing(&master)
                .map(|i| self.healthy_replicas(i))
                .find(|r| !r.is_empty())
                .unwrap_or_default();
            return Some(Ok(Found {
                replicas,
                sentinels: self.ordered_sentinels(&master),
                master,
            }));
        }
        if self.verdicts.iter().all(Option::is_some) {
            self.decided = true;
            return Some(Err(self.not_found()));
        }
        None
    }

    /// Every sentinel has answered or failed.
    pub fn is_complete(&self) -> bool {
        self.verdicts.iter().all(Option::is_some)
    }

    /// Indexes of the sentinels naming `master` as a healthy master, in answer order.
    fn agreeing<'a>(&'a self, master: &'a NodeAddr) -> impl Iterator<Item = usize> + 'a {
        self.order
            .iter()
            .copied()
            .filter(move |&i| matches!(&self.verdicts[i], Some(Verdict::Master(a)) if a == master))
    }

    fn healthy_replicas(&self, i: usize) -> Vec<NodeAddr> {
        self.replicas[i]
            .iter()
            .filter(|r| r.is_healthy_replica())
            .map(|r| r.addr.clone())
            .collect()
    }

    fn ordered_sentinels(&self, master: &NodeAddr) -> Vec<NodeAddr> {
        let mut order: Vec<usize> = self.agreeing(master).collect();
        let others: Vec<usize> = self
            .order
            .iter()
            .filter(|i| !order.contains(i))
            .copied()
            .collect();
        order.extend(others);
        order.extend((0..self.sentinels.len()).filter(|i| self.verdicts[*i].is_none()));
        let failed = (0..self.sentinels.len())
            .filter(|&i| matches!(self.verdicts[i], Some(Verdict::Failed(_))));
        let mut sentinels: Vec<NodeAddr> =
            order.iter().map(|&i| self.sentinels[i].clone()).collect();
        sentinels.extend(self.learned.iter().cloned());
        sentinels.extend(failed.map(|i| self.sentinels[i].clone()));
        sentinels
    }

    /// MASTER_NOT_FOUND naming what each sentinel said.
    fn not_found(&self) -> Error {
        let said: Vec<String> = self
            .sentinels
            .iter()
            .zip(&self.verdicts)
            .map(|(addr, verdict)| match verdict {
                Some(v) => format!("{addr}: {v}"),
                None => format!("{addr}: no answer"),
            })
            .collect();
        let quorum = if self.rules.quorum > 1 {
            format!(" ({} sentinels must agree)", self.rules.quorum)
        } else {
            String::new()
        };
        let said = if said.is_empty() {
            "no sentinel to ask".to_string()
        } else {
            said.join("; ")
        };
        Error::new(
            ErrorKind::MasterNotFound,
            format!(
                "no master found for '{}'{quorum}: {said}",
                self.rules.service
            ),
        )
    }

    /// REPLICA_NOT_FOUND for a found master without a healthy replica, naming the replicas
    /// the agreeing sentinels listed.
    pub fn replica_not_found(&self, master: &NodeAddr) -> Error {
        let mut listed: Vec<String> = Vec::new();
        for i in self.agreeing(master) {
            for replica in &self.replicas[i] {
                let entry = format!("{} ({})", replica.addr, replica.flags_text());
                if !listed.contains(&entry) {
                    listed.push(entry);
                }
            }
        }
        let listed = if listed.is_empty() {
            "the sentinels list none".to_string()
        } else {
            format!("the sentinels list {}", listed.join(", "))
        };
        Error::new(
            ErrorKind::ReplicaNotFound,
            format!(
                "no healthy replica of '{}' (master {master}): {listed}",
                self.rules.service
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{Reply, Value};

    fn rules(quorum: usize) -> DiscoveryRules {
        DiscoveryRules {
            service: "mymaster".into(),
            quorum,
            min_other_sentinels: 0,
        }
    }

    fn addr(port: u16) -> NodeAddr {
        NodeAddr::new("127.0.0.1", port)
    }

    fn state(port: u16, flags: &str) -> InstanceState {
        let value = Value::Map(vec![
            (Value::bulk("name"), Value::bulk("mymaster")),
            (Value::bulk("ip"), Value::bulk("127.0.0.1")),
            (Value::bulk("port"), Value::bulk(port.to_string())),
            (Value::bulk("flags"), Value::bulk(flags)),
            (Value::bulk("num-other-sentinels"), Value::bulk("2")),
        ]);
        InstanceState::parse(Reply::from_value(&value).value()).unwrap()
    }

    fn answer(
        master: u16,
        flags: &str,
        replicas: &[(u16, &str)],
        others: &[u16],
    ) -> SentinelAnswer {
        SentinelAnswer {
            master: Ok(state(master, flags)),
            replicas: replicas.iter().map(|(p, f)| state(*p, f)).collect(),
            sentinels: others.iter().map(|p| state(*p, "sentinel")).collect(),
        }
    }

    fn sentinels() -> Vec<NodeAddr> {
        vec![addr(26379), addr(26380), addr(26381)]
    }

    #[test]
    fn the_first_good_answer_decides_and_its_sentinel_goes_first() {
        let mut d = Discovery::new(rules(1), sentinels());
        assert_eq!(d.poll_outcome(), None);
        d.handle_answer(0, Err(Error::new(ErrorKind::Connection, "refused")));
        assert_eq!(d.poll_outcome(), None);
        d.handle_answer(
            2,
            Ok(answer(
                6379,
                "master",
                &[(6380, "slave"), (6381, "slave,s_down")],
                &[26379, 26380, 26999],
            )),
        );
        let found = d.poll_outcome().unwrap().unwrap();
        assert_eq!(found.master, addr(6379));
        assert_eq!(found.replicas, vec![addr(6380)]);
        assert_eq!(
            found.sentinels,
            vec![addr(26381), addr(26380), addr(26999), addr(26379)]
        );
        // Taken once; later answers change nothing.
        d.handle_answer(1, Ok(answer(6390, "master", &[], &[])));
        assert_eq!(d.poll_outcome(), None);
    }

    #[test]
    fn down_or_failing_masters_are_not_accepted() {
        let mut d = Discovery::new(rules(1), sentinels());
        d.handle_answer(0, Ok(answer(6379, "master,s_down", &[], &[])));
        d.handle_answer(1, Ok(answer(6379, "master,s_down,o_down", &[], &[])));
        assert_eq!(d.poll_outcome(), None);
        d.handle_answer(2, Ok(answer(6379, "master,failover_in_progress", &[], &[])));
        let err = d.poll_outcome().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MasterNotFound);
        let text = err.message();
        assert!(text.starts_with("no master found for 'mymaster'"), "{text}");
        assert!(
            text.contains("127.0.0.1:26379: master 127.0.0.1:6379 is down (master,s_down)"),
            "{text}"
        );
        assert!(text.contains("(master,s_down,o_down)"), "{text}");
        assert!(
            text.contains("127.0.0.1:26381: failing over from 127.0.0.1:6379"),
            "{text}"
        );
    }

    #[test]
    fn a_replica_flagged_instance_or_an_unknown_service_is_not_a_master() {
        let mut d = Discovery::new(rules(1), vec![addr(26379), addr(26380)]);
        d.handle_answer(0, Ok(answer(6379, "slave", &[], &[])));
        d.handle_answer(
            1,
            Ok(SentinelAnswer {
                master: Err(Error::from_server_reply(
                    b"ERR No such master with that name",
                )),
                replicas: Vec::new(),
                sentinels: Vec::new(),
            }),
        );
        let err = d.poll_outcome().unwrap().unwrap_err();
        let text = err.message();
        assert!(
            text.contains("127.0.0.1:6379 is not flagged master (slave)"),
            "{text}"
        );
        assert!(
            text.contains("127.0.0.1:26380: ERR No such master"),
            "{text}"
        );
    }

    #[test]
    fn a_quorum_needs_that_many_sentinels_on_one_address() {
        let mut d = Discovery::new(rules(2), sentinels());
        d.handle_answer(1, Ok(answer(6379, "master", &[], &[])));
        assert_eq!(d.poll_outcome(), None, "one is not two");
        d.handle_answer(0, Ok(answer(6390, "master", &[(6391, "slave")], &[])));
        assert_eq!(d.poll_outcome(), None, "they disagree");
        d.handle_answer(2, Ok(answer(6390, "master", &[], &[])));
        let found = d.poll_outcome().unwrap().unwrap();
        assert_eq!(found.master, addr(6390));
        // The agreeing ones first, in answer order; the replicas of the first that lists any.
        assert_eq!(found.sentinels, vec![addr(26379), addr(26381), addr(26380)]);
        assert_eq!(found.replicas, vec![addr(6391)]);

        let mut d = Discovery::new(rules(2), sentinels());
        d.handle_answer(0, Ok(answer(6379, "master", &[], &[])));
        d.handle_answer(1, Err(Error::new(ErrorKind::Timeout, "timed out")));
        d.handle_answer(2, Ok(answer(6390, "master", &[], &[])));
        let err = d.poll_outcome().unwrap().unwrap_err();
        assert!(err.message().contains("(2 sentinels must agree)"), "{err}");
        assert!(
            err.message().contains("127.0.0.1:26380: timed out"),
            "{err}"
        );
    }

    #[test]
    fn sentinels_that_see_too_few_others_do_not_count() {
        let rules = DiscoveryRules {
            min_other_sentinels: 3,
            ..rules(1)
        };
        let mut d = Discovery::new(rules, vec![addr(26379)]);
        d.handle_answer(0, Ok(answer(6379, "master", &[], &[])));
        let err = d.poll_outcome().unwrap().unwrap_err();
        assert!(
            err.message()
                .contains("sees 2 other sentinels (3 required)"),
            "{err}"
        );
    }

    #[test]
    fn no_healthy_replica_is_named_in_the_error() {
        let mut d = Discovery::new(rules(1), vec![addr(26379)]);
        d.handle_answer(
            0,
            Ok(answer(
                6379,
                "master",
                &[(6380, "slave,s_down"), (6381, "slave,disconnected")],
                &[],
            )),
        );
        let found = d.poll_outcome().unwrap().unwrap();
        assert!(found.replicas.is_empty());
        let err = d.replica_not_found(&found.master);
        assert_eq!(err.kind(), ErrorKind::ReplicaNotFound);
        assert!(
            err.message()
                .contains("127.0.0.1:6380 (slave,s_down), 127.0.0.1:6381 (slave,disconnected)"),
            "{err}"
        );
    }

    #[test]
    fn nobody_to_ask() {
        let mut d = Discovery::new(rules(1), Vec::new());
        assert!(d.is_complete());
        let err = d.poll_outcome().unwrap().unwrap_err();
        assert!(err.message().contains("no sentinel to ask"), "{err}");
        // Out-of-range and repeated answers are ignored.
        let mut d = Discovery::new(rules(1), vec![addr(26379)]);
        d.handle_answer(5, Ok(answer(6379, "master", &[], &[])));
        d.handle_answer(0, Err(Error::new(ErrorKind::Connection, "refused")));
        d.handle_answer(0, Ok(answer(6379, "master", &[], &[])));
        assert!(d.poll_outcome().unwrap().is_err());
    }
}
