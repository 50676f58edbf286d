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
//! [`Clock::has_begun`](super::Clock::has_begun) answers "has tick `t` begun?"
//! (is a `spawn_at` instant in the past?) with [`judge`], against a coarse reading `c`
//! in nanoseconds since the runtime started:
//!
//! - `t` begins at or before `c`: yes, since `c` is a lower bound of now;
//! - `t` begins more than the slack after `c`, where the slack is [`SLACK_RESOLUTIONS`]
//!   of the coarse clock's resolution: no;
//! - in between (or if the coarse read failed): the precise clock decides.
//!
//! ## Invariants
//!
//! - [`CoarseClock::floor_nanos`] never exceeds the precise time elapsed since the
//!   runtime's start `Instant`. Its origin is a precise `CLOCK_MONOTONIC` reading taken
//!   right *after* that `Instant` (the clock `Instant` reads on Linux), so the origin is
//!   late, never early, and the coarse clock never runs ahead of the precise one. The
//!   origin is read first, before anything else, so that its lateness stays far below
//!   the slack.
//! - The slack is the only assumption: a kernel whose coarse clock lagged by more than it
//!   (a stalled tick under heavy hypervisor steal, say) would make an instant that has
//!   just passed look due later. Such a task is never run early and is not lost: it goes
//!   to a timing wheel, and its owner finds it due at its next wheel turn, so it waits
//!   for that worker rather than for any free one, and a shutdown racing it drops it
//!   with the wheels (counted, its handle reports shutdown) instead of running it.
//! - Off Linux, or when the coarse clock is missing or coarser than [`MAX_RESOLUTION`],
//!   there is no coarse clock and every question goes to the precise clock.

use std::time::Duration;

/// The coarse clock's lag is assumed below this many of its resolutions.
pub(crate) const SLACK_RESOLUTIONS: u64 = 8;

/// A coarse clock coarser than this is not used (the slack would exceed 80 ms).
pub(crate) const MAX_RESOLUTION: Duration = Duration::from_millis(10);

/// Reads `CLOCK_MONOTONIC_COARSE` in nanoseconds since the runtime started (see the
/// module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CoarseClock {
    /// The precise monotonic clock, in nanoseconds, just after the runtime started.
    origin_nanos: u64,
    /// The slack in nanoseconds: [`SLACK_RESOLUTIONS`] of the coarse clock's resolution.
    slack_nanos: u64,
}

impl CoarseClock {
    /// The coarse clock, called right after the runtime's start `Instant` was read;
    /// `None` where there is none fit to use.
    pub(crate) fn after_start() -> Option<CoarseClock> {
        // First, so that the origin is as close to the start `Instant` as it can be.
        let origin_nanos = sys::precise_nanos()?;
        let resolution = sys::coarse_resolution()?;
        if resolution.is_zero() || resolution > MAX_RESOLUTION {
            return None;
        }
        sys::coarse_nanos()?;
        Some(CoarseClock { origin_nanos, slack_nanos: resolution.as_nanos() as u64 * SLACK_RESOLUTIONS })
    }

    /// A lower bound of the nanoseconds since the runtime started; `None` if the read
    /// failed.
    pub(crate) fn floor_nanos(&self) -> Option<u64> {
        sys::coarse_nanos().map(|c| c.saturating_sub(self.origin_nanos))
    }

    /// How far the precise clock may be ahead of the coarse one, in nanoseconds.
    pub(crate) fn slack_nanos(&self) -> u64 {
        self.slack_nanos
    }
}

/// Whether a tick that begins `begins` nanoseconds after the start has begun, judged on a
/// coarse reading `floor` (a lower bound of now) with `slack`: `Some(true)` if it begins
/// at or before `floor`, `Some(false)` if more than `slack` after it, `None` in between
/// (the precise clock must decide).
pub(crate) fn judge(begins: u64, floor: u64, slack: u64) -> Option<bool> {
    if begins <= floor {
        Some(true)
    } else if begins - floor > slack {
        Some(false)
    } else {
        None
    }
}

#[cfg(target_os = "linux")]
mod sys {
    use std::mem::MaybeUninit;
    use std::time::Duration;

    fn read(clock: libc::clockid_t) -> Option<u64> {
        let mut ts = MaybeUninit::<libc::timespec>::uninit();
        // SAFETY: `ts` points to writable memory for one timespec; clock_gettime writes it
        // in full when it returns 0, and we read it only then.
        unsafe { (libc::clock_gettime(clock, ts.as_mut_ptr()) == 0).then(|| nanos(ts.assume_init())) }
    }

    fn nanos(ts: libc::timespec) -> u64 {
        (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
    }

    pub(super) fn coarse_resolution() -> Option<Duration> {
        let mut res = MaybeUninit::<libc::timespec>::uninit();
        // SAFETY: as in `read`: clock_getres writes the whole timespec when it returns 0.
        unsafe {
            (libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, res.as_mut_ptr()) == 0)
                .then(|| Duration::from_nanos(nanos(res.assume_init())))
        }
    }

    pub(super) fn precise_nanos() -> Option<u64> {
        read(libc::CLOCK_MONOTONIC)
    }

    pub(super) fn coarse_nanos() -> Option<u64> {
        read(libc::CLOCK_MONOTONIC_COARSE)
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

    pub(super) fn coarse_nanos() -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod judge_tests {
    use super::judge;

    #[test]
    fn at_or_before_the_floor_has_begun_beyond_the_slack_has_not_and_between_is_open() {
        let (floor, slack) = (1_000_000, 32_000);
        assert_eq!(judge(0, floor, slack), Some(true));
        assert_eq!(judge(floor, floor, slack), Some(true));
        assert_eq!(judge(floor + 1, floor, slack), None);
        assert_eq!(judge(floor + slack, floor, slack), None);
        assert_eq!(judge(floor + slack + 1, floor, slack), Some(false));
        assert_eq!(judge(u64::MAX, floor, slack), Some(false));
        assert_eq!(judge(u64::MAX, u64::MAX, slack), Some(true));
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
            let floor = coarse.floor_nanos().expect("the coarse clock reads");
            let precise = start.elapsed().as_nanos() as u64;
            assert!(floor <= precise, "coarse floor {floor} ns is ahead of the precise {precise} ns");
        }
    }

    #[test]
    fn the_coarse_floor_advances() {
        let coarse = CoarseClock::after_start().expect("Linux has a coarse monotonic clock");
        let first = coarse.floor_nanos().expect("the coarse clock reads");
        // Two slacks are many coarse ticks: the coarse clock must have moved on.
        std::thread::sleep(Duration::from_nanos(2 * coarse.slack_nanos()));
        assert!(coarse.floor_nanos().expect("the coarse clock reads") > first);
    }
}
