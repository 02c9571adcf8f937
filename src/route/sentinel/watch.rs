//! What a master client does with sentinel events: when a failover of its master begins (or
//! the master is objectively down), it holds its commands instead of sending them to the
//! master being replaced, until a discovery names another master, the failover is given up,
//! or `hold` runs out.
//!
//! Why hold rather than carry on: Redis promotes the replica (`REPLICAOF NO ONE`) about a
//! second before the sentinels announce `+switch-master`, and the old master, still up after
//! a `SENTINEL FAILOVER`, keeps accepting writes until it is turned into a replica (about ten
//! seconds later), which throws them away. Writes held from the leader's first step on are
//! never acknowledged by a master that is about to lose them.

use std::time::{Duration, Instant};

use super::event::SentinelEvent;
use crate::route::topology::NodeAddr;

/// What an event asks of the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaction {
    /// Ask the sentinels again.
    pub rediscover: bool,
    /// Commands to the master start or stop being held (the published view changes).
    pub fence_changed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Fence {
    master: NodeAddr,
    until: Instant,
    /// Held because the master is objectively down (`-odown` lifts it), not for a failover.
    odown_only: bool,
}

/// A master client's watch over failovers of its master.
#[derive(Clone, Debug)]
pub struct FailoverWatch {
    service: String,
    hold: Duration,
    fence: Option<Fence>,
}

impl FailoverWatch {
    /// A watch over `service`'s master, holding commands at most `hold` per failover.
    pub fn new(service: impl Into<String>, hold: Duration) -> FailoverWatch {
        FailoverWatch {
            service: service.into(),
            hold,
            fence: None,
        }
    }

    /// Commands to the master are held.
    pub fn is_fenced(&self) -> bool {
        self.fence.is_some()
    }

    /// An event arrived; `master` is where commands go now (`None`: not known).
    pub fn handle_event(
        &mut self,
        event: &SentinelEvent,
        master: Option<&NodeAddr>,
        now: Instant,
    ) -> Reaction {
        if event.service() != self.service {
            return Reaction::default();
        }
        let ours = |addr: &NodeAddr| master.is_none_or(|m| m == addr);
        match event {
            SentinelEvent::Failover { master: m, .. } if ours(m) => {
                let was = self.fence.take();
                self.fence = Some(Fence {
                    master: m.clone(),
                    // A failover that goes on past an odown hold gets a hold of its own.
                    until: match &was {
                        Some(f) if !f.odown_only => f.until,
                        _ => now + self.hold,
                    },
                    odown_only: false,
                });
                Reaction {
                    rediscover: false,
                    fence_changed: was.is_none(),
                }
            }
            SentinelEvent::MasterDown {
                master: m,
                down: true,
                ..
            } if ours(m) => {
                let fence_changed = self.fence.is_none();
                if fence_changed {
                    self.fence = Some(Fence {
                        master: m.clone(),
                        until: now + self.hold,
                        odown_only: true,
                    });
                }
                Reaction {
                    rediscover: true,
                    fence_changed,
                }
            }
            SentinelEvent::MasterDown { down: false, .. } => {
                let lift = self.fence.as_ref().is_some_and(|f| f.odown_only);
                if lift {
                    self.fence = None;
                }
                Reaction {
                    rediscover: true,
                    fence_changed: lift,
                }
            }
            SentinelEvent::FailoverOver { aborted: true, .. } => {
                let fence_changed = self.fence.take().is_some();
                Reaction {
                    rediscover: true,
                    fence_changed,
                }
            }
            // The master moved, a failover ended, a replica changed; or a failover of a
            // master this client has already left.
            _ => Reaction {
                rediscover: true,
                fence_changed: false,
            },
        }
    }

    /// A discovery named `master`. Returns true when that lifts the hold (it is not the
    /// master being replaced).
    pub fn handle_discovered(&mut self, master: &NodeAddr) -> bool {
        if self.fence.as_ref().is_some_and(|f| &f.master != master) {
            self.fence = None;
            return true;
        }
        false
    }

    /// Lifts a hold that has run out; true when it did.
    pub fn poll_expired(&mut self, now: Instant) -> bool {
        if self.fence.as_ref().is_some_and(|f| f.until <= now) {
            self.fence = None;
            return true;
        }
        false
    }

    /// When the current hold runs out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.fence.as_ref().map(|f| f.until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> NodeAddr {
        NodeAddr::new("127.0.0.1", port)
    }

    fn failover(port: u16) -> SentinelEvent {
        SentinelEvent::Failover {
            service: "mymaster".into(),
            master: addr(port),
        }
    }

    fn odown(port: u16, down: bool) -> SentinelEvent {
        SentinelEvent::MasterDown {
            service: "mymaster".into(),
            master: addr(port),
            down,
        }
    }

    #[test]
    fn a_failover_holds_commands_until_another_master_is_found() {
        let t0 = Instant::now();
        let mut w = FailoverWatch::new("mymaster", Duration::from_secs(5));
        let m = addr(6379);
        let r = w.handle_event(&failover(6379), Some(&m), t0);
        assert_eq!(
            r,
            Reaction {
                rediscover: false,
                fence_changed: true
            }
        );
        assert!(w.is_fenced());
        // Later steps of the same failover change nothing.
        let r = w.handle_event(&failover(6379), Some(&m), t0 + Duration::from_millis(200));
        assert!(!r.fence_changed);
        assert_eq!(w.next_deadline(), Some(t0 + Duration::from_secs(5)));
        // The sentinels still name the old master: keep holding.
        assert!(!w.handle_discovered(&m));
        assert!(w.is_fenced());
        let switch = SentinelEvent::SwitchMaster {
            service: "mymaster".into(),
            old: m.clone(),
            new: addr(6380),
        };
        assert!(w.handle_event(&switch, Some(&m), t0).rediscover);
        assert!(w.handle_discovered(&addr(6380)));
        assert!(!w.is_fenced());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn other_services_and_other_masters_do_not_hold() {
        let t0 = Instant::now();
        let mut w = FailoverWatch::new("mymaster", Duration::from_secs(5));
        let other = SentinelEvent::Failover {
            service: "other".into(),
            master: addr(6379),
        };
        assert_eq!(
            w.handle_event(&other, Some(&addr(6379)), t0),
            Reaction::default()
        );
        let r = w.handle_event(&failover(6390), Some(&addr(6379)), t0);
        assert!(!w.is_fenced());
        assert!(
            r.rediscover,
            "a master we do not know of fails over: look again"
        );
        // Not knowing the master yet, any failover of the service holds.
        w.handle_event(&failover(6390), None, t0);
        assert!(w.is_fenced());
    }

    #[test]
    fn an_abort_or_the_hold_running_out_lifts_it() {
        let t0 = Instant::now();
        let mut w = FailoverWatch::new("mymaster", Duration::from_secs(2));
        let m = addr(6379);
        w.handle_event(&failover(6379), Some(&m), t0);
        let abort = SentinelEvent::FailoverOver {
            service: "mymaster".into(),
            aborted: true,
        };
        let r = w.handle_event(&abort, Some(&m), t0);
        assert!(r.fence_changed && r.rediscover);
        assert!(!w.is_fenced());

        w.handle_event(&failover(6379), Some(&m), t0);
        assert!(!w.poll_expired(t0 + Duration::from_millis(1999)));
        assert!(w.poll_expired(t0 + Duration::from_secs(2)));
        assert!(!w.is_fenced());
        assert!(!w.poll_expired(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn odown_holds_until_odown_ends_unless_a_failover_began() {
        let t0 = Instant::now();
        let mut w = FailoverWatch::new("mymaster", Duration::from_secs(5));
        let m = addr(6379);
        let r = w.handle_event(&odown(6379, true), Some(&m), t0);
        assert!(r.fence_changed && r.rediscover);
        let r = w.handle_event(&odown(6379, false), Some(&m), t0);
        assert!(r.fence_changed && !w.is_fenced());

        w.handle_event(&odown(6379, true), Some(&m), t0);
        let later = t0 + Duration::from_secs(3);
        w.handle_event(&failover(6379), Some(&m), later);
        assert_eq!(w.next_deadline(), Some(later + Duration::from_secs(5)));
        let r = w.handle_event(&odown(6379, false), Some(&m), later);
        assert!(!r.fence_changed && w.is_fenced(), "the failover still runs");
    }
}
