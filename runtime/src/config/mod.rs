//! Configuration: what [`Builder`](crate::Builder) produces and the workers read
//! (`blocking.rs`: the blocking pool's settings; `io.rs`: the I/O driver threads enter).
//!
//! A leaf: it names no other module of the crate but the clock (for tick conversion).
//! Rules it keeps: a [`BuilderConfig`] is validated by the builder before any thread
//! starts, and is immutable for the runtime's life; the public policy types it holds
//! ([`Aging`]) say in their docs what every value means.

pub(crate) mod aging;
pub(crate) mod blocking;
pub(crate) mod io;

pub use aging::Aging;

use std::fmt;
use std::time::Duration;

/// A thread start/stop hook (plain `std` Arc: hooks are not part of any lock-free protocol).
pub(crate) type Hook = std::sync::Arc<dyn Fn() + Send + Sync + 'static>;

/// The default of `Builder::dense_timer_slack`: how late a worker that fires timers
/// densely may fire them, to fire them in one wake-up (see `sched::worker::density`).
pub(crate) const DEFAULT_DENSE_TIMER_SLACK: Duration = Duration::from_micros(160);

/// The longest `Builder::dense_timer_slack` accepted: below the ~1 ms after which a free
/// worker fires a peer's due timers for it (`sched::worker::timers`, asserted there), and
/// below the density window (a slack longer than the window would count a whole slack's
/// firings in one window and keep a wheel dense after its load fell: `density`).
pub(crate) const MAX_DENSE_TIMER_SLACK: Duration = Duration::from_micros(800);

/// [`MAX_DENSE_TIMER_SLACK`] in clock ticks (rounded down, as [`ticks_of_slack`]).
pub(crate) const MAX_DENSE_TIMER_SLACK_TICKS: u64 =
    MAX_DENSE_TIMER_SLACK.as_nanos() as u64 / crate::clock::TICK_NANOS;

/// `slack` in clock ticks (rounded down).
pub(crate) fn ticks_of_slack(slack: Duration) -> u64 {
    u64::try_from(slack.as_nanos() / u128::from(crate::clock::TICK_NANOS)).unwrap_or(u64::MAX)
}

/// Configuration the workers read.
pub(crate) struct BuilderConfig {
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    pub(crate) spin_before_park: Duration,
    /// `Builder::dense_timer_slack` in clock ticks (see `sched::worker::density`).
    pub(crate) dense_timer_slack_ticks: u64,
    pub(crate) max_processes: usize,
    pub(crate) max_pending: Option<usize>,
    pub(crate) aging: Option<Aging>,
    pub(crate) lifo: bool,
    /// The blocking pool's cap, keep-alive and thread names.
    pub(crate) blocking: blocking::BlockingConfig,
    /// The I/O driver every thread running kairos code enters.
    pub(crate) io: io::IoDriver,
}

impl fmt::Debug for BuilderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuilderConfig")
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("spin_before_park", &self.spin_before_park)
            .field("dense_timer_slack_ticks", &self.dense_timer_slack_ticks)
            .field("max_processes", &self.max_processes)
            .field("max_pending", &self.max_pending)
            .field("aging", &self.aging)
            .field("lifo", &self.lifo)
            .field("blocking", &self.blocking)
            .field("io", &self.io)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{ticks_of_slack, DEFAULT_DENSE_TIMER_SLACK, MAX_DENSE_TIMER_SLACK};
    use std::time::Duration;

    /// The slack is kept in whole clock ticks of 1,024 ns, rounded down.
    #[test]
    fn a_slack_is_whole_clock_ticks_rounded_down() {
        assert_eq!(ticks_of_slack(DEFAULT_DENSE_TIMER_SLACK), 156);
        assert_eq!(ticks_of_slack(MAX_DENSE_TIMER_SLACK), 781);
        assert_eq!(ticks_of_slack(Duration::ZERO), 0);
        assert_eq!(ticks_of_slack(Duration::from_nanos(1_023)), 0);
        assert_eq!(ticks_of_slack(Duration::from_nanos(1_024)), 1);
        assert_eq!(ticks_of_slack(Duration::from_nanos(2_047)), 1);
    }
}
