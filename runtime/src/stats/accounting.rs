//! The accounting rules: which counters each way a task can be submitted or end bumps.
//! The scheduler calls these where it takes or lets go of a task and bumps what they
//! return (into a worker's own counters or the shared set, its choice); it decides
//! nothing about counting itself.
//!
//! | where (caller)                                          | rule                      | counts |
//! |---|---|---|
//! | a spawn accepted / refused at shutdown (`sched::spawn`) | [`submission`]            | `Admitted` / `Rejected`; a runtime timer `TimerSet` / `TimerRefused` |
//! | a closure's run on a worker or a blocking thread        | [`closure_finished`]      | `Started` (not a runtime timer) and its outcome; an expired closure `Expired` only |
//! | a future's first poll                                   | [`future_first_poll`]     | `Started`, unless its deadline had passed |
//! | a closure found already claimed (run returned `Skipped`), or a timed closure unlinked unrun (cancel, shutdown) | [`closure_unrun`] | its outcome; a drop at shutdown is `TimerDropped` |
//! | a timed task unlinked unrun that is a future            | [`timed_unrun`]           | nothing: it is counted when it leaves the registry |
//! | a future leaving the registry (completed, or cancelled by shutdown) | [`future_left`] | its outcome; a drop at shutdown is `FutureDropped` |
//! | a closure left in the injectors, run or skipped by shutdown's final drain | [`closure_at_drain`] | its outcome only (no `Started`; a drop at shutdown `FutureDropped`) |
//!
//! Each task thus counts once as submitted and once by outcome, at the single place
//! where the runtime lets go of its scheduler-side lineage (see `counters.rs`). The
//! runtime's own timers ([`Header::is_runtime_timer`]) always map to their own counters
//! (`TimerFired`, `TimerCancelled`, `TimerShutdown`) and never count as started.
//!
//! [`Header::is_runtime_timer`]: kairos_rt_core::task::Header::is_runtime_timer

use super::counters::Count;
use kairos_rt_core::task::Outcome;

/// The counters a spawn of a body counts into: `(accepted, refused at shutdown)`. A spawn
/// refused for room is no submission: it counts only as `RefusedFull`.
#[inline]
pub(crate) const fn submission(runtime_timer: bool) -> (Count, Count) {
    if runtime_timer {
        (Count::TimerSet, Count::TimerRefused)
    } else {
        (Count::Admitted, Count::Rejected)
    }
}

/// A closure ran on a worker or a blocking thread and finished with `outcome`: the
/// `Started` count if any (none for the runtime's own timers, nor for a closure whose
/// deadline had passed, which never ran its body), then its outcome.
#[inline]
pub(crate) fn closure_finished(outcome: Outcome, runtime_timer: bool) -> (Option<Count>, Count) {
    match outcome {
        Outcome::Expired => (None, Count::Expired),
        _ => ((!runtime_timer).then_some(Count::Started), Count::of(outcome, true, runtime_timer)),
    }
}

/// A future was polled: `Started` at its first poll, unless that poll found its deadline
/// passed (`expired`). Its end is counted when it leaves the registry ([`future_left`]).
#[inline]
pub(crate) fn future_first_poll(first_poll: bool, expired: bool) -> Option<Count> {
    (first_poll && !expired).then_some(Count::Started)
}

/// A closure that ended without running its body (claimed by a canceller or an expiry
/// before a worker or a blocking thread reached it, or unlinked from a wheel or inbox
/// at shutdown), with `outcome`.
#[inline]
pub(crate) fn closure_unrun(outcome: Outcome, runtime_timer: bool) -> Count {
    Count::of(outcome, true, runtime_timer)
}

/// A timed task unlinked from a wheel or inbox without running (cancelled, or dropped at
/// shutdown): counted as [`closure_unrun`], unless it is a future, which is counted when
/// it leaves the registry (`None`).
#[inline]
pub(crate) fn timed_unrun(outcome: Outcome, is_future: bool, runtime_timer: bool) -> Option<Count> {
    (!is_future).then(|| closure_unrun(outcome, runtime_timer))
}

/// A future left the registry with `outcome` (it completed, or shutdown cancelled it).
#[inline]
pub(crate) fn future_left(outcome: Outcome, runtime_timer: bool) -> Count {
    Count::of(outcome, false, runtime_timer)
}

/// A closure that shutdown's final drain found in the injectors (only a priority change
/// racing shutdown leaves one), run there or found already ended, with `outcome`: only
/// its outcome counts (no `Started`), and an end at shutdown counts as a future's drop.
#[inline]
pub(crate) fn closure_at_drain(outcome: Outcome, runtime_timer: bool) -> Count {
    Count::of(outcome, false, runtime_timer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closure_counts_started_and_its_outcome_unless_expired_or_a_runtime_timer() {
        assert_eq!(closure_finished(Outcome::Output, false), (Some(Count::Started), Count::Completed));
        assert_eq!(closure_finished(Outcome::Panicked, false), (Some(Count::Started), Count::Panicked));
        assert_eq!(closure_finished(Outcome::Expired, false), (None, Count::Expired));
        assert_eq!(closure_finished(Outcome::Output, true), (None, Count::TimerFired));
    }

    #[test]
    fn a_drop_at_shutdown_counts_by_what_was_dropped() {
        assert_eq!(closure_unrun(Outcome::Shutdown, false), Count::TimerDropped);
        assert_eq!(future_left(Outcome::Shutdown, false), Count::FutureDropped);
        assert_eq!(closure_at_drain(Outcome::Shutdown, false), Count::FutureDropped);
        assert_eq!(closure_unrun(Outcome::Shutdown, true), Count::TimerShutdown);
        assert_eq!(timed_unrun(Outcome::Cancelled, true, false), None, "a future counts at the registry");
        assert_eq!(timed_unrun(Outcome::Cancelled, false, false), Some(Count::Cancelled));
    }

    #[test]
    fn a_future_starts_at_its_first_poll_unless_expired() {
        assert_eq!(future_first_poll(true, false), Some(Count::Started));
        assert_eq!(future_first_poll(true, true), None);
        assert_eq!(future_first_poll(false, false), None);
    }
}
