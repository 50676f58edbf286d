//! A cheap lower bound of the current time, so that deciding whether an instant has
//! passed does not cost a precise clock read when the instant is far off.
//!
//! `Instant::now` reads `CLOCK_MONOTONIC`: about 25 ns on the project's VMs (the TSC
//! read and scaled on every call). Linux also offers `CLOCK_MONOTONIC_COARSE`: the same
//! clock as it stood at the kernel's last tick, about 3 ns to read. It is never ahead of
//! the precise clock and lags it by about one tick (`clock_getres` reports the tick:
//! 1-10 ms; 4 ms measured on the project's VMs, with a worst lag of 4.4 ms over 1M reads).
//!
//! ## How it is used
//!
//! [`Clock::has_begun`](crate::clock::Clock::has_begun) answers "has tick `t` begun?"
//! (is a `spawn_at` instant in the past?) against a coarse reading `c`, in ticks since the
//! runtime started:
//!
//! - `t <= c`: yes, since `c` is a lower bound of now;
//! - `t > c + slack`, where the slack is [`SLACK_RESOLUTIONS`] coarse ticks: no;
//! - in between: the precise clock decides.
//!
//! ## Invariants
//!
//! - [`CoarseClock::floor_tick`] never exceeds the precise current tick. Its origin is a
//!   precise `CLOCK_MONOTONIC` reading taken *after* the runtime's start `Instant`, so the
//!   origin is late, never early, and the coarse clock never runs ahead of the precise one.
//! - The slack is the only assumption: a kernel whose coarse clock lagged by more than it
//!   would make an instant that has just passed look due later. Such a task still runs at
//!   once, never early: it goes to a timing wheel, whose next turn finds it due. Only its
//!   path differs (its owner runs it, and a shutdown at that moment drops it with the
//!   wheels instead of running it).
//! - Off Linux, or when the coarse clock is missing or coarser than [`MAX_RESOLUTION`],
//!   there is no coarse clock and every question goes to the precise clock.

use std::time::Duration;

/// The coarse clock's lag is assumed below this many of its resolutions.
pub(crate) const SLACK_RESOLUTIONS: u64 = 8;

/// A coarse clock coarser than this is not used (the slack would exceed 80 ms).
pub(crate) const MAX_RESOLUTION: Duration = Duration::from_millis(10);

/// Reads `CLOCK_MONOTONIC_COARSE` in ticks since the runtime started (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoarseClock {
    /// The precise monotonic clock, in nanoseconds, just after the runtime started.
    origin_nanos: u64,
    /// The slack in nanoseconds: [`SLACK_RESOLUTIONS`] of the coarse clock's resolution.
    slack_nanos: u64,
}

impl CoarseClock {
    /// The coarse clock, called just after the runtime's start `Instant` was read; `None`
    /// where there is none fit to use.
    pub(crate) fn after_start() -> Option<CoarseClock> {
        let resolution = sys::coarse_resolution()?;
        if resolution.is_zero() || resolution > MAX_RESOLUTION {
            return None;
        }
        Some(CoarseClock {
            origin_nanos: sys::precise_nanos()?,
            slack_nanos: resolution.as_nanos() as u64 * SLACK_RESOLUTIONS,
        })
    }

    /// A lower bound of the nanoseconds since the runtime started.
    pub(crate) fn floor_nanos(&self) -> u64 {
        sys::coarse_nanos().saturating_sub(self.origin_nanos)
    }

    /// How far the precise clock may be ahead of the coarse one, in nanoseconds.
    pub(crate) fn slack_nanos(&self) -> u64 {
        self.slack_nanos
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::time::Duration;

    fn read(clock: libc::clockid_t) -> Option<libc::timespec> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes it.
        let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
        (rc == 0).then_some(ts)
    }

    fn nanos(ts: libc::timespec) -> u64 {
        (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
    }

    pub(super) fn coarse_resolution() -> Option<Duration> {
        let mut res = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `res` is a valid, writable timespec; clock_getres only writes it.
        let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut res) };
        (rc == 0 && read(libc::CLOCK_MONOTONIC_COARSE).is_some()).then(|| Duration::from_nanos(nanos(res)))
    }

    pub(super) fn precise_nanos() -> Option<u64> {
        read(libc::CLOCK_MONOTONIC).map(nanos)
    }

    /// The coarse clock; 0 if the read failed (it was checked at start: it does not),
    /// which the caller's saturating subtraction turns into "no time has passed".
    pub(super) fn coarse_nanos() -> u64 {
        read(libc::CLOCK_MONOTONIC_COARSE).map_or(0, nanos)
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::time::Duration;

    pub(super) fn coarse_resolution() -> Option<Duration> {
        None
    }

    pub(super) fn precise_nanos() -> Option<u64> {
        None
    }

    pub(super) fn coarse_nanos() -> u64 {
        0
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_coarse_floor_never_passes_the_precise_clock() {
        let start = Instant::now();
        let coarse = CoarseClock::after_start().expect("Linux has a coarse monotonic clock");
        assert!(coarse.slack_nanos() > 0);
        for _ in 0..100_000 {
            let floor = coarse.floor_nanos();
            let precise = start.elapsed().as_nanos() as u64;
            assert!(floor <= precise, "coarse floor {floor} ns is ahead of the precise {precise} ns");
        }
    }

    #[test]
    fn the_coarse_floor_advances() {
        let coarse = CoarseClock::after_start().expect("Linux has a coarse monotonic clock");
        let first = coarse.floor_nanos();
        // Two slacks are many coarse ticks: the coarse clock must have moved on.
        std::thread::sleep(Duration::from_nanos(2 * coarse.slack_nanos()));
        assert!(coarse.floor_nanos() > first);
    }
}
