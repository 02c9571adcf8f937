//! When to refresh the topology: periodically (if configured), and when an error asks; one
//! refresh at a time, no two starting closer than `min_gap`. Triggers that come while one
//! runs, or too soon after one started, collapse into a single deferred refresh: errors
//! seen while a refresh runs may predate what it reads, so one more follows, once.
//!
//! Sans-I/O: the caller passes the time and arms a timer for `next_due`.

use std::time::{Duration, Instant};

/// The refresh timetable of one cluster client.
#[derive(Clone, Debug)]
pub struct RefreshSchedule {
    interval: Option<Duration>,
    min_gap: Duration,
    running: bool,
    /// A refresh was asked for and has not started yet.
    pending: bool,
    last_start: Option<Instant>,
    next_periodic: Option<Instant>,
}

impl RefreshSchedule {
    /// A schedule refreshing every `interval` (none: only on triggers), with at least
    /// `min_gap` between two starts. The client's first discovery is not scheduled here.
    pub fn new(interval: Option<Duration>, min_gap: Duration, now: Instant) -> RefreshSchedule {
        RefreshSchedule {
            interval,
            min_gap,
            running: false,
            pending: false,
            last_start: None,
            next_periodic: interval.map(|i| now + i),
        }
    }

    /// An error asks for a refresh. `true`: start one now (and call `finished` when done).
    /// `false`: one runs, or one started less than `min_gap` ago; a refresh is deferred to
    /// `next_due`.
    pub fn trigger(&mut self, now: Instant) -> bool {
        if self.running || self.too_soon(now) {
            self.pending = true;
            return false;
        }
        self.start(now);
        true
    }

    /// The timer fired (or any time): `true` when a periodic or deferred refresh is due and
    /// starts now.
    pub fn poll(&mut self, now: Instant) -> bool {
        match self.next_due() {
            Some(due) if now >= due => {
                self.start(now);
                true
            }
            _ => false,
        }
    }

    /// The refresh that started ended: `ok` if it produced a topology. A failed one is
    /// retried after `min_gap`; a good one restarts the periodic interval.
    pub fn finished(&mut self, now: Instant, ok: bool) {
        self.running = false;
        if ok {
            self.next_periodic = self.interval.map(|i| now + i);
        } else {
            self.pending = true;
        }
    }

    /// Brings the next periodic refresh forward to `at` if it is later (or none is planned):
    /// a topology that showed replicas still syncing is read again soon, not an interval later.
    pub fn due_by(&mut self, at: Instant) {
        self.next_periodic = Some(self.next_periodic.map_or(at, |next| next.min(at)));
    }

    /// When the next refresh is due (`None`: one is running, or nothing is planned).
    pub fn next_due(&self) -> Option<Instant> {
        if self.running {
            return None;
        }
        // Pending implies a start before it: a trigger starts at once when none ran.
        let deferred = self
            .last_start
            .filter(|_| self.pending)
            .map(|start| start + self.min_gap);
        match (deferred, self.next_periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A refresh is running.
    pub fn running(&self) -> bool {
        self.running
    }

    fn too_soon(&self, now: Instant) -> bool {
        self.last_start
            .is_some_and(|start| now < start + self.min_gap)
    }

    fn start(&mut self, now: Instant) {
        self.running = true;
        self.pending = false;
        self.last_start = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn periodic() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(
            Some(Duration::from_secs(10)),
            Duration::from_millis(500),
            t0,
        );
        assert_eq!(s.next_due(), Some(at(t0, 10_000)));
        assert!(!s.poll(at(t0, 9_999)));
        assert!(s.poll(at(t0, 10_000)));
        assert!(s.running());
        assert_eq!(s.next_due(), None, "one at a time");
        assert!(!s.poll(at(t0, 30_000)));
        s.finished(at(t0, 10_200), true);
        assert_eq!(
            s.next_due(),
            Some(at(t0, 20_200)),
            "the interval runs from the end"
        );
    }

    #[test]
    fn a_refresh_can_be_brought_forward() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(
            Some(Duration::from_secs(30)),
            Duration::from_millis(100),
            t0,
        );
        s.due_by(at(t0, 1000));
        assert_eq!(s.next_due(), Some(at(t0, 1000)));
        s.due_by(at(t0, 5000));
        assert_eq!(s.next_due(), Some(at(t0, 1000)), "never later than planned");
        let mut off = RefreshSchedule::new(None, Duration::from_millis(100), t0);
        off.due_by(at(t0, 700));
        assert_eq!(
            off.next_due(),
            Some(at(t0, 700)),
            "even without periodic refreshes"
        );
    }

    #[test]
    fn triggers_collapse() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(None, Duration::from_millis(500), t0);
        assert_eq!(s.next_due(), None);
        assert!(s.trigger(at(t0, 100)), "the first error starts a refresh");
        for ms in [110, 120, 130] {
            assert!(
                !s.trigger(at(t0, ms)),
                "more errors while it runs start nothing"
            );
        }
        s.finished(at(t0, 300), true);
        // One deferred refresh, not three, once the gap since the last start has passed.
        assert_eq!(s.next_due(), Some(at(t0, 600)));
        assert!(!s.poll(at(t0, 599)));
        assert!(!s.trigger(at(t0, 400)), "still too soon");
        assert!(s.poll(at(t0, 600)));
        s.finished(at(t0, 650), true);
        assert_eq!(s.next_due(), None, "nothing pending, no interval");
        assert!(s.trigger(at(t0, 2_000)), "a later error starts one at once");
    }

    #[test]
    fn failed_refresh_is_retried_after_the_gap() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(
            Some(Duration::from_secs(60)),
            Duration::from_millis(200),
            t0,
        );
        assert!(s.trigger(t0));
        s.finished(at(t0, 50), false);
        assert_eq!(s.next_due(), Some(at(t0, 200)));
        assert!(s.poll(at(t0, 250)));
        s.finished(at(t0, 300), true);
        assert_eq!(s.next_due(), Some(at(t0, 60_300)));
    }

    #[test]
    fn deferred_and_periodic_take_the_earlier() {
        let t0 = Instant::now();
        let mut s = RefreshSchedule::new(
            Some(Duration::from_millis(300)),
            Duration::from_millis(1_000),
            t0,
        );
        assert!(s.trigger(at(t0, 10)));
        s.finished(at(t0, 20), true);
        assert!(!s.trigger(at(t0, 30)));
        // Periodic at 320, deferred at 1010: the earlier is due first and clears the deferral.
        assert_eq!(s.next_due(), Some(at(t0, 320)));
        assert!(s.poll(at(t0, 320)));
        s.finished(at(t0, 330), true);
        assert_eq!(s.next_due(), Some(at(t0, 630)));
    }
}
