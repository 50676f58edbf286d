//! The rules a [`Schedule`](crate::Schedule) applies to its runs: [`Overlap`] (a run
//! still going at the next tick) and [`OnPanic`] (a run that panics). The firing loop
//! (`firing.rs`) applies them; the missed-tick rule is
//! [`MissedTickBehavior`](crate::MissedTickBehavior), shared with intervals in `time/`.

/// What a schedule does when a run is still going at its next tick. Every tick that does
/// not start a run is counted in [`Recurring::skipped`](crate::Recurring::skipped).
/// (Under [`MissedTickBehavior::Burst`](crate::MissedTickBehavior::Burst), which loses no tick, `Skip` and `QueueOne` run
/// those ticks one after another once the run ends instead.)
///
/// ```
/// use kairos_rt::{Overlap, Schedule};
/// use std::time::Duration;
///
/// let s = Schedule::every(Duration::from_millis(100))?.overlap(Overlap::QueueOne);
/// assert_eq!(s.overlap_rule(), Overlap::QueueOne);
/// assert_eq!(Overlap::default(), Overlap::Skip);
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Overlap {
    /// Skip the tick (the default): at most one run at a time, never a backlog.
    #[default]
    Skip,
    /// Remember at most one tick and run it as soon as the current run ends; further
    /// ticks while one is queued are skipped.
    QueueOne,
    /// Start a run at every tick, alongside any still going.
    Concurrent,
}

/// What a schedule does when a run panics. The panic is caught and counted in
/// [`Recurring::panicked`](crate::Recurring::panicked) either way.
///
/// ```
/// use kairos_rt::{OnPanic, Schedule};
/// use std::time::Duration;
///
/// let s = Schedule::every(Duration::from_secs(1))?.on_panic(OnPanic::Stop);
/// assert_eq!(s.on_panic_rule(), OnPanic::Stop);
/// assert_eq!(OnPanic::default(), OnPanic::Continue);
/// # Ok::<(), kairos_rt::ScheduleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnPanic {
    /// Keep firing (the default).
    #[default]
    Continue,
    /// Stop the schedule, as if [`Recurring::cancel`](crate::Recurring::cancel) had been
    /// called.
    Stop,
}
