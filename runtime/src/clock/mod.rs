//! The runtime's clock: `Instant`s as `u64` ticks of 1,024 ns since the runtime started.
//!
//! A leaf: this folder owns the tick conversions ([`Clock`], here) and the cheap coarse
//! reading that answers most "has this tick begun?" questions (`coarse.rs`).
//!
//! A tick of 2^10 ns keeps conversions to shifts and gives the timing wheels a
//! resolution of about a microsecond. Due ticks round *up* and the current tick rounds
//! *down*, so a timer never fires before its instant. An instant more than 2^64 ns
//! (about 584 years) after the start maps to `u64::MAX`, which the wheels treat as
//! "never": such a task waits until it is cancelled or the runtime shuts down.
//!
//! Whether a tick has begun ([`Clock::has_begun`]) is first judged on the coarse clock
//! (see [`coarse`]), so that a far-off instant costs no precise clock read.

mod coarse;

use coarse::CoarseClock;
use std::time::{Duration, Instant};

const TICK_SHIFT: u32 = 10;
pub(crate) const TICK_NANOS: u64 = 1 << TICK_SHIFT;

/// Converts between `Instant`s and wheel ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    coarse: Option<CoarseClock>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        let start = Instant::now();
        Clock { start, coarse: CoarseClock::after_start() }
    }

    /// When the runtime started.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// The instant `tick` begins at (`None` for "never" or out of range).
    pub(crate) fn instant_of(&self, tick: u64) -> Option<Instant> {
        if tick == u64::MAX {
            return None;
        }
        // In u128: a tick past 2^54 (about 584 years) overflows u64 nanoseconds.
        let nanos = u128::from(tick) * u128::from(TICK_NANOS);
        let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
        self.start.checked_add(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    }

    /// The current tick (rounded down).
    pub(crate) fn now_tick(&self) -> u64 {
        self.floor_tick(Instant::now())
    }

    /// Whether `tick` has begun (a task due then is ready now). The coarse clock answers
    /// when the tick begins at or before it, or more than its slack after it; the
    /// precise clock only in between (see [`coarse`]).
    pub(crate) fn has_begun(&self, tick: u64) -> bool {
        let begins = tick.saturating_mul(TICK_NANOS);
        let judged = self
            .coarse
            .and_then(|c| c.floor_nanos().and_then(|floor| coarse::judge(begins, floor, c.slack_nanos())));
        judged.unwrap_or_else(|| tick <= self.now_tick())
    }

    fn floor_tick(&self, t: Instant) -> u64 {
        let nanos = t.saturating_duration_since(self.start).as_nanos();
        u64::try_from(nanos >> TICK_SHIFT).unwrap_or(u64::MAX)
    }

    /// The first tick at or after `t` (rounded up); `u64::MAX` beyond the horizon.
    pub(crate) fn due_tick(&self, t: Instant) -> u64 {
        let since = t.saturating_duration_since(self.start);
        // In `u64` while the nanoseconds fit (about 584 years), the common case of every
        // timed spawn; in `u128` beyond.
        let nanos = since
            .as_secs()
            .checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(u64::from(since.subsec_nanos()) + (TICK_NANOS - 1)));
        match nanos {
            Some(n) => n >> TICK_SHIFT,
            None => due_tick_of_nanos(since.as_nanos()),
        }
    }

    /// The due tick of `delay` from now; `u64::MAX` if it overflows.
    pub(crate) fn due_after(&self, delay: Duration) -> u64 {
        match Instant::now().checked_add(delay) {
            Some(t) => self.due_tick(t),
            None => u64::MAX,
        }
    }

    /// How long from now until `tick` begins; `None` for `u64::MAX` (never).
    pub(crate) fn until(&self, tick: u64) -> Option<Duration> {
        if tick == u64::MAX {
            return None;
        }
        let at = self.start.checked_add(Duration::from_nanos(tick.saturating_mul(TICK_NANOS)))?;
        Some(at.saturating_duration_since(Instant::now()))
    }
}

/// The first tick at or after `nanos` after a clock's start (rounded up); `u64::MAX`
/// beyond the horizon.
pub(crate) fn due_tick_of_nanos(nanos: u128) -> u64 {
    u64::try_from(nanos.div_ceil(u128::from(TICK_NANOS))).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_ticks_round_up_and_now_rounds_down() {
        let clock = Clock::new();
        let t = clock.start + Duration::from_nanos(1025);
        assert_eq!(clock.due_tick(t), 2);
        assert_eq!(clock.floor_tick(t), 1);
        assert_eq!(clock.due_tick(clock.start + Duration::from_nanos(1024)), 1);
        assert_eq!(clock.due_tick(clock.start), 0);
    }

    #[test]
    fn due_ticks_agree_with_the_u128_rule() {
        let clock = Clock::new();
        for nanos in [0u64, 1, 1023, 1024, 1025, 999_999_999, 1_000_000_000, 3_600_000_000_001, u64::MAX / 2]
        {
            let t = clock.start + Duration::from_nanos(nanos);
            assert_eq!(clock.due_tick(t), due_tick_of_nanos(u128::from(nanos)), "{nanos} ns");
        }
        // Past the u64 range of nanoseconds: the u128 rule.
        let far = Duration::from_secs(u64::MAX / 1_000_000_000 + 1);
        assert_eq!(clock.due_tick(clock.start + far), due_tick_of_nanos(far.as_nanos()));
    }

    #[test]
    fn far_ticks_map_back_to_instants() {
        let clock = Clock::new();
        let far = clock.start + Duration::from_secs(1000 * 365 * 86_400);
        let tick = clock.due_tick(far);
        let back = clock.instant_of(tick).expect("a tick 1000 years ahead has an instant");
        assert!(back >= far && back - far < Duration::from_nanos(TICK_NANOS));
        assert_eq!(clock.instant_of(u64::MAX), None);
    }

    #[test]
    fn has_begun_tells_past_ticks_from_future_ones() {
        let clock = Clock::new();
        std::thread::sleep(Duration::from_millis(2));
        let now = clock.now_tick();
        // The current tick (the coarse clock may still lag behind it), earlier ones, the start.
        for past in [now, now / 2, 1, 0] {
            assert!(clock.has_begun(past), "tick {past} (now {now})");
        }
        // An hour ahead (far beyond any coarse slack) and "never".
        let hour = clock.due_tick(Instant::now() + Duration::from_secs(3600));
        for future in [hour, u64::MAX] {
            assert!(!clock.has_begun(future), "tick {future} (now {now})");
        }
    }

    #[test]
    fn far_future_is_never_and_past_is_zero() {
        let clock = Clock::new();
        assert_eq!(clock.due_after(Duration::MAX), u64::MAX);
        assert_eq!(clock.until(u64::MAX), None);
        assert_eq!(clock.due_tick(clock.start - Duration::from_secs(1)), 0);
    }
}
