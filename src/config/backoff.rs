//! How long to wait before each retry, sans-I/O: the strategies of redis-py's `backoff`
//! module, with the randomness and the decorrelated strategy's memory passed in, and a tiny
//! seeded generator for the engine to pass.

use std::time::Duration;

/// A backoff strategy (`redcore_backoff` in C). The numbers are ABI: never renumber.
///
/// `failures` below is the number of failed attempts so far (1 before the first retry).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackoffKind {
    /// Retry at once.
    None = 0,
    /// Wait `base` every time.
    Constant = 1,
    /// Wait `min(cap, base * 2^failures)`.
    Exponential = 2,
    /// Wait a uniform random time in `[0, min(cap, base * 2^failures)]`.
    FullJitter = 3,
    /// With `t = min(cap, base * 2^failures) / 2`, wait `t` plus a uniform random time in
    /// `[0, t]`. The default.
    EqualJitter = 4,
    /// Wait `min(cap, uniform(base, max(base, 3 * previous)))`, where `previous` is the last
    /// wait of the same operation (0 at first).
    DecorrelatedJitter = 5,
    /// Wait `min(cap, uniform(0, 1) * base * 2^failures)`.
    ExponentialWithJitter = 6,
}

impl BackoffKind {
    /// Every kind, in code order.
    ///
    /// cbindgen:ignore
    pub const ALL: [BackoffKind; 7] = [
        BackoffKind::None,
        BackoffKind::Constant,
        BackoffKind::Exponential,
        BackoffKind::FullJitter,
        BackoffKind::EqualJitter,
        BackoffKind::DecorrelatedJitter,
        BackoffKind::ExponentialWithJitter,
    ];

    /// The kind with this numeric code, if any.
    pub fn from_code(code: i64) -> Option<BackoffKind> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The name used in URLs (`?backoff=equal_jitter`).
    pub fn name(self) -> &'static str {
        match self {
            BackoffKind::None => "none",
            BackoffKind::Constant => "constant",
            BackoffKind::Exponential => "exponential",
            BackoffKind::FullJitter => "full_jitter",
            BackoffKind::EqualJitter => "equal_jitter",
            BackoffKind::DecorrelatedJitter => "decorrelated_jitter",
            BackoffKind::ExponentialWithJitter => "exponential_with_jitter",
        }
    }

    /// The kind with this URL name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<BackoffKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// False for the kinds that never look at `cap` (`None`, `Constant`).
    pub fn uses_cap(self) -> bool {
        !matches!(self, BackoffKind::None | BackoffKind::Constant)
    }
}

/// A backoff strategy with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The strategy. Default `EqualJitter`.
    pub kind: BackoffKind,
    /// The first step (`Constant`: the wait itself). Default 10 ms.
    pub base: Duration,
    /// The longest wait; ignored by `None` and `Constant`. Default 1 s.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            kind: BackoffKind::EqualJitter,
            base: Duration::from_millis(10),
            cap: Duration::from_secs(1),
        }
    }
}

/// What a backoff remembers between the retries of one operation (the last wait, for
/// `DecorrelatedJitter`). Start each operation with a fresh or [`reset`](Self::reset) state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackoffState {
    previous: Duration,
}

impl BackoffState {
    /// The state before the first retry.
    pub fn new() -> BackoffState {
        BackoffState::default()
    }

    /// Forgets the previous wait.
    pub fn reset(&mut self) {
        self.previous = Duration::ZERO;
    }
}

impl Backoff {
    /// How long to wait after `failures` failed attempts (1 before the first retry).
    ///
    /// `rng` supplies uniformly distributed 64-bit numbers (e.g. `|| rng.next_u64()` over a
    /// [`FastRng`]); it is called at most once. Nothing here reads a clock or a random
    /// source. Very large `failures`, `base` or `cap` saturate instead of overflowing; waits
    /// are computed in whole nanoseconds and top out at about 584 years.
    pub fn delay(
        &self,
        failures: u32,
        state: &mut BackoffState,
        rng: &mut impl FnMut() -> u64,
    ) -> Duration {
        let base = nanos(self.base);
        let cap = nanos(self.cap);
        let nanos = match self.kind {
            BackoffKind::None => 0,
            BackoffKind::Constant => base,
            BackoffKind::Exponential => doubled(base, failures).min(cap),
            BackoffKind::FullJitter => uniform(0, doubled(base, failures).min(cap), rng),
            BackoffKind::EqualJitter => {
                let half = doubled(base, failures).min(cap) / 2;
                half + uniform(0, half, rng)
            }
            BackoffKind::DecorrelatedJitter => {
                let upper = base.max(nanos(state.previous).saturating_mul(3));
                let next = uniform(base, upper, rng).min(cap);
                state.previous = Duration::from_nanos(next);
                next
            }
            BackoffKind::ExponentialWithJitter => uniform(0, doubled(base, failures), rng).min(cap),
        };
        Duration::from_nanos(nanos)
    }
}

/// A duration in nanoseconds, saturating at `u64::MAX`.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `base * 2^failures`, saturating.
fn doubled(base: u64, failures: u32) -> u64 {
    match base {
        0 => 0,
        _ if failures >= u64::BITS => u64::MAX,
        _ => base.saturating_mul(1 << failures),
    }
}

/// A number in `[lo, hi]` from one draw of `rng` (scaled by multiplication, not by modulo, so
/// the bias is at most one part in 2^64 per value). `lo` when `hi <= lo`.
fn uniform(lo: u64, hi: u64, rng: &mut impl FnMut() -> u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    let span = u128::from(hi - lo) + 1;
    let offset = (u128::from(rng()) * span) >> 64;
    // offset <= hi - lo, so this fits and does not overflow.
    lo + offset as u64
}

/// A small, fast, seeded pseudo-random generator (xorshift64*) for backoff jitter. Not for
/// anything that must be unpredictable. The same seed gives the same sequence.
#[derive(Clone, Debug)]
pub struct FastRng {
    state: u64,
}

impl FastRng {
    /// A generator started from `seed` (any value, 0 included).
    pub fn new(seed: u64) -> FastRng {
        // One splitmix64 step spreads nearby seeds apart; xorshift must not start at 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        FastRng {
            state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z },
        }
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn backoff(kind: BackoffKind) -> Backoff {
        Backoff {
            kind,
            base: 10 * MS,
            cap: 1000 * MS,
        }
    }

    /// `min(cap, base * 2^failures)` computed the slow way.
    fn ceiling(b: &Backoff, failures: u32) -> Duration {
        let mut t = b.base;
        for _ in 0..failures {
            t = t.saturating_mul(2);
            if t >= b.cap {
                return b.cap;
            }
        }
        t.min(b.cap)
    }

    #[test]
    fn codes_and_names_round_trip() {
        for (i, kind) in BackoffKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
            assert_eq!(BackoffKind::from_code(i as i64), Some(kind));
            assert_eq!(BackoffKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(BackoffKind::from_code(7), None);
        assert_eq!(BackoffKind::from_code(-1), None);
        assert_eq!(
            BackoffKind::from_name("Equal_Jitter"),
            Some(BackoffKind::EqualJitter)
        );
        assert_eq!(BackoffKind::from_name("fibonacci"), None);
    }

    #[test]
    fn uniform_hits_both_ends() {
        assert_eq!(uniform(5, 9, &mut || 0), 5);
        assert_eq!(uniform(5, 9, &mut || u64::MAX), 9);
        assert_eq!(uniform(0, u64::MAX, &mut || u64::MAX), u64::MAX);
        assert_eq!(uniform(7, 7, &mut || u64::MAX), 7);
        assert_eq!(uniform(9, 5, &mut || u64::MAX), 9);
    }

    #[test]
    fn none_and_constant() {
        let mut state = BackoffState::new();
        let mut rng = FastRng::new(1);
        for failures in [0, 1, 5, 100, u32::MAX] {
            let mut draw = || rng.next_u64();
            let none = backoff(BackoffKind::None).delay(failures, &mut state, &mut draw);
            assert_eq!(none, Duration::ZERO);
            let constant = backoff(BackoffKind::Constant).delay(failures, &mut state, &mut draw);
            assert_eq!(constant, 10 * MS);
        }
    }

    #[test]
    fn exponential_grows_then_caps() {
        let b = backoff(BackoffKind::Exponential);
        let mut state = BackoffState::new();
        let mut never = || -> u64 { panic!("exponential draws nothing") };
        let mut last = Duration::ZERO;
        for failures in 0..200 {
            let d = b.delay(failures, &mut state, &mut never);
            assert!(d >= last, "monotone at {failures}");
            assert_eq!(d, ceiling(&b, failures), "formula at {failures}");
            last = d;
        }
        assert_eq!(b.delay(1, &mut state, &mut never), 20 * MS);
        assert_eq!(b.delay(6, &mut state, &mut never), 640 * MS);
        assert_eq!(b.delay(7, &mut state, &mut never), 1000 * MS);
        assert_eq!(b.delay(u32::MAX, &mut state, &mut never), 1000 * MS);
    }

    #[test]
    fn jitter_kinds_stay_in_bounds() {
        let mut rng = FastRng::new(42);
        let mut state = BackoffState::new();
        for failures in (0..40).chain([63, 64, 65, 1000, u32::MAX]) {
            for _ in 0..500 {
                let mut draw = || rng.next_u64();
                let top = ceiling(&backoff(BackoffKind::Exponential), failures);
                let d = backoff(BackoffKind::FullJitter).delay(failures, &mut state, &mut draw);
                assert!(d <= top, "full jitter {d:?} > {top:?}");
                let d = backoff(BackoffKind::EqualJitter).delay(failures, &mut state, &mut draw);
                assert!(d >= top / 2 && d <= top, "equal jitter {d:?} vs {top:?}");
                let d = backoff(BackoffKind::ExponentialWithJitter)
                    .delay(failures, &mut state, &mut draw);
                assert!(d <= top, "exponential with jitter {d:?} > {top:?}");
            }
        }
    }

    #[test]
    fn jitter_actually_varies() {
        let b = backoff(BackoffKind::FullJitter);
        let mut rng = FastRng::new(7);
        let mut state = BackoffState::new();
        let draws: Vec<Duration> = (0..100)
            .map(|_| b.delay(10, &mut state, &mut || rng.next_u64()))
            .collect();
        let min = draws.iter().min().unwrap();
        let max = draws.iter().max().unwrap();
        assert!(*max - *min > 500 * MS, "spread {min:?}..{max:?}");
    }

    #[test]
    fn decorrelated_stays_within_base_and_cap() {
        let b = backoff(BackoffKind::DecorrelatedJitter);
        let mut rng = FastRng::new(3);
        let mut state = BackoffState::new();
        let first = b.delay(1, &mut state, &mut || rng.next_u64());
        assert_eq!(
            first, b.base,
            "previous starts at 0, so the first wait is base"
        );
        let mut reached_cap = false;
        for failures in 2..2000 {
            let d = b.delay(failures, &mut state, &mut || rng.next_u64());
            assert!(d >= b.base && d <= b.cap, "{d:?}");
            reached_cap |= d == b.cap;
        }
        assert!(reached_cap);
        state.reset();
        assert_eq!(b.delay(1, &mut state, &mut || u64::MAX), b.base);
        // The top of the range is three times the previous wait.
        assert_eq!(b.delay(2, &mut state, &mut || u64::MAX), 3 * b.base);
    }

    #[test]
    fn huge_parameters_saturate() {
        let b = Backoff {
            kind: BackoffKind::Exponential,
            base: Duration::MAX,
            cap: Duration::MAX,
        };
        let mut state = BackoffState::new();
        let d = b.delay(u32::MAX, &mut state, &mut || u64::MAX);
        assert_eq!(d, Duration::from_nanos(u64::MAX));
        for kind in BackoffKind::ALL {
            let b = Backoff { kind, ..b };
            b.delay(u32::MAX, &mut state, &mut || u64::MAX);
            b.delay(0, &mut state, &mut || 0);
        }
    }

    #[test]
    fn fast_rng_is_seeded_and_nonzero() {
        let a: Vec<u64> = {
            let mut r = FastRng::new(0);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = FastRng::new(0);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = FastRng::new(1);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|&x| x != 0));
    }
}
