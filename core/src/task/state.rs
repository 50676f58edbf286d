//! The task state word: lifecycle bits, outcome, priority, owner worker and reference
//! count packed into one `AtomicUsize`.
//!
//! ## Layout (64-bit targets only)
//!
//! | bits   | field            | meaning |
//! |--------|------------------|---------|
//! | 0      | `RUNNING`        | the stage is claimed: a worker is running/polling the body, or a canceller is dropping it |
//! | 1      | `COMPLETE`       | the stage holds the final outcome (bits 8..10) |
//! | 2      | `SCHEDULED`      | a run queue holds a reference meant to run the task |
//! | 3      | `NOTIFIED`       | woken while `RUNNING`: re-queue after this poll |
//! | 4      | `CANCEL_REQUESTED` | cancel asked while a future was being polled: drop it at the poll's end |
//! | 5      | `JOIN_INTEREST`  | a `JoinHandle` exists |
//! | 6      | `JOIN_WAITING`   | a join waker is registered in the join-waker table |
//! | 7      | `TIMED`          | the task sits in (or is on its way into) a timing wheel |
//! | 8..10  | outcome          | `Output`, `Panicked`, `Cancelled`, `Shutdown`; meaningful once `COMPLETE` |
//! | 10     | `OUTPUT_TAKEN`   | the join handle has moved the outcome out of the stage |
//! | 11..17 | priority         | `0..=63` |
//! | 17..27 | owner            | index of the worker whose wheel holds the task (timed tasks) |
//! | 27..64 | references       | how many `TaskRef`s, wakers and handles point at the cell |
//!
//! ## Protocol
//!
//! Every transition is one CAS loop or one fetch-op and returns an enum the caller must
//! match. The races the design names are each decided by exactly one atomic operation:
//!
//! - **run vs cancel**: both try to set `RUNNING` on a state without `RUNNING|COMPLETE`
//!   ([`State::transition_to_running`], [`State::claim_for_cancel`]); one wins, the other
//!   backs off. Whoever holds `RUNNING` owns the stage exclusively.
//! - **complete vs join**: the completer publishes the outcome by setting `COMPLETE` in
//!   one CAS ([`State::transition_to_complete`]) that also reports whether a join waker was
//!   registered; a joiner registers by setting `JOIN_WAITING` with a fetch-or that reports
//!   whether `COMPLETE` was already set ([`State::set_join_waiting`]). Because both are
//!   read-modify-writes of one word, exactly one of them sees the other.
//! - **wake while running**: [`State::wake`] sets `NOTIFIED` instead of scheduling when
//!   `RUNNING` is set, and [`State::transition_to_idle`] turns a pending `NOTIFIED` into a
//!   re-schedule in the same CAS that clears `RUNNING`.
//! - **last reference frees**: [`State::ref_dec`] returns `true` to exactly one caller, the
//!   one that took the count to zero; only it may deallocate.

use crate::sync::atomic::{AtomicUsize, Ordering::*};
use crate::Priority;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("kairos-core packs the task state into a 64-bit word and needs a 64-bit target");

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const SCHEDULED: usize = 1 << 2;
const NOTIFIED: usize = 1 << 3;
const CANCEL_REQUESTED: usize = 1 << 4;
const JOIN_INTEREST: usize = 1 << 5;
const JOIN_WAITING: usize = 1 << 6;
const TIMED: usize = 1 << 7;
const OUTCOME_SHIFT: u32 = 8;
const OUTCOME_MASK: usize = 0b11 << OUTCOME_SHIFT;
const OUTPUT_TAKEN: usize = 1 << 10;
const PRIORITY_SHIFT: u32 = 11;
const PRIORITY_MASK: usize = 0x3f << PRIORITY_SHIFT;
const OWNER_SHIFT: u32 = 17;
const OWNER_BITS: u32 = 10;
const OWNER_MASK: usize = ((1 << OWNER_BITS) - 1) << OWNER_SHIFT;
const REF_SHIFT: u32 = 27;
const REF_ONE: usize = 1 << REF_SHIFT;

/// The most workers whose index fits in a task's owner field.
pub const MAX_OWNERS: usize = 1 << OWNER_BITS;

/// How a completed task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The body returned; the stage holds its output.
    Output,
    /// The body panicked; the stage holds the panic payload.
    Panicked,
    /// A handle cancelled the task before it ran (or a future at a poll point).
    Cancelled,
    /// The runtime shut down before the task could run.
    Shutdown,
}

impl Outcome {
    const fn bits(self) -> usize {
        (match self {
            Outcome::Output => 0,
            Outcome::Panicked => 1,
            Outcome::Cancelled => 2,
            Outcome::Shutdown => 3,
        }) << OUTCOME_SHIFT
    }

    const fn from_bits(state: usize) -> Outcome {
        match (state & OUTCOME_MASK) >> OUTCOME_SHIFT {
            0 => Outcome::Output,
            1 => Outcome::Panicked,
            2 => Outcome::Cancelled,
            _ => Outcome::Shutdown,
        }
    }
}

/// A copy of the state word, decoded on demand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snapshot(usize);

impl Snapshot {
    /// Whether the stage is claimed by a runner or canceller.
    pub fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    /// Whether the outcome is final.
    pub fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    /// Whether a run queue holds a reference meant to run the task.
    pub fn is_scheduled(self) -> bool {
        self.0 & SCHEDULED != 0
    }
    /// Whether the task was woken while running.
    pub fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    /// Whether a cancel was requested while the task was running.
    pub fn is_cancel_requested(self) -> bool {
        self.0 & CANCEL_REQUESTED != 0
    }
    /// Whether a join handle exists.
    pub fn has_join_interest(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    /// Whether a join waker is registered.
    pub fn is_join_waiting(self) -> bool {
        self.0 & JOIN_WAITING != 0
    }
    /// Whether the task is held by a timing wheel (or on its way there).
    pub fn is_timed(self) -> bool {
        self.0 & TIMED != 0
    }
    /// Whether the handle has taken the outcome out of the stage.
    pub fn is_output_taken(self) -> bool {
        self.0 & OUTPUT_TAKEN != 0
    }
    /// The outcome; meaningful only when [`is_complete`](Self::is_complete).
    pub fn outcome(self) -> Outcome {
        Outcome::from_bits(self.0)
    }
    /// The task's priority.
    pub fn priority(self) -> Priority {
        Priority::from_index((self.0 & PRIORITY_MASK) >> PRIORITY_SHIFT)
    }
    /// The index of the worker whose wheel holds (or held) the task.
    pub fn owner(self) -> usize {
        (self.0 & OWNER_MASK) >> OWNER_SHIFT
    }
    /// The reference count.
    pub fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl core::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("scheduled", &self.is_scheduled())
            .field("notified", &self.is_notified())
            .field("cancel_requested", &self.is_cancel_requested())
            .field("join_interest", &self.has_join_interest())
            .field("join_waiting", &self.is_join_waiting())
            .field("timed", &self.is_timed())
            .field("outcome", &self.outcome())
            .field("output_taken", &self.is_output_taken())
            .field("priority", &self.priority())
            .field("owner", &self.owner())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// Result of [`State::transition_to_running`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToRunning {
    /// The caller owns the stage and must run the body.
    Run,
    /// The task is complete or claimed by someone else: drop the reference, run nothing.
    Skip(Snapshot),
}

/// Result of [`State::transition_to_idle`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToIdle {
    /// The future waits for a wake-up; the caller's reference was released.
    /// `last_ref` is true if it was the last one (the caller must deallocate).
    Idle {
        /// The caller's reference was the last: deallocate.
        last_ref: bool,
    },
    /// Woken during the poll: the task is `SCHEDULED` again and the caller's reference
    /// now belongs to the run queue it must push the task onto.
    Reschedule,
    /// A cancel was requested during the poll: the caller still owns the stage
    /// (`RUNNING`), must drop the future and complete the task as cancelled.
    Cancel,
}

/// Result of [`State::claim_for_cancel`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelClaim {
    /// The caller owns the stage: it must drop the body and complete the task.
    /// `was_timed` says a timing wheel may still link the task.
    Claimed {
        /// The task was held by a timing wheel when claimed.
        was_timed: bool,
    },
    /// A future is being polled; it will be dropped at the end of this poll.
    Requested,
    /// A closure is running, or the task already completed: nothing to cancel.
    TooLate,
}

/// Result of [`State::wake`] and [`State::wake_by_val`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The task became `SCHEDULED`; the caller holds a reference for the run queue and
    /// must push the task.
    Schedule,
    /// Nothing to do (already scheduled, running, or complete). For `wake_by_val`,
    /// `last_ref` says the waker's reference was the last one.
    Nothing {
        /// The consumed reference was the last: deallocate.
        last_ref: bool,
    },
}

/// Result of [`State::transition_to_complete`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completed {
    /// A join waker was registered and must be woken; the caller's reference was *not*
    /// released (release it after waking).
    pub wake_joiner: bool,
    /// The caller's reference was released and it was the last one: deallocate.
    pub last_ref: bool,
    /// The state before the transition.
    pub prev: Snapshot,
}

/// Result of [`State::set_join_waiting`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinWait {
    /// The waker stays registered until completion.
    Registered,
    /// The task completed first: read the outcome now.
    AlreadyComplete,
}

/// The atomic state word of one task.
pub struct State {
    word: AtomicUsize,
}

impl core::fmt::Debug for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.load().fmt(f)
    }
}

impl State {
    /// A state for a new task: `refs` references, `SCHEDULED` if it will be pushed to a
    /// run queue, `TIMED` if it goes to a wheel, `JOIN_INTEREST` if a handle is made.
    pub fn new(priority: Priority, refs: usize, scheduled: bool, timed: bool, join: bool) -> State {
        let mut word = (refs * REF_ONE) | (priority.index() << PRIORITY_SHIFT);
        if scheduled {
            word |= SCHEDULED;
        }
        if timed {
            word |= TIMED;
        }
        if join {
            word |= JOIN_INTEREST;
        }
        State { word: AtomicUsize::new(word) }
    }

    /// The current state (acquire).
    pub fn load(&self) -> Snapshot {
        Snapshot(self.word.load(Acquire))
    }

    /// Runs `f` on the current state until its CAS succeeds or it declines.
    ///
    /// `f` returns `Some(new)` to try to store `new`, or `None` to leave the state alone.
    fn update(&self, mut f: impl FnMut(usize) -> Option<usize>) -> Result<usize, usize> {
        let mut cur = self.word.load(Acquire);
        loop {
            let Some(next) = f(cur) else {
                return Err(cur);
            };
            match self.word.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(prev) => return Ok(prev),
                Err(actual) => cur = actual,
            }
        }
    }

    /// A worker popped the task from a run queue and wants to run it.
    pub fn transition_to_running(&self) -> ToRunning {
        match self.update(|s| {
            if s & (RUNNING | COMPLETE) != 0 {
                None
            } else {
                Some((s | RUNNING) & !(SCHEDULED | NOTIFIED))
            }
        }) {
            Ok(_) => ToRunning::Run,
            Err(s) => ToRunning::Skip(Snapshot(s)),
        }
    }

    /// A future's poll returned `Pending`; the runner holds one reference.
    pub fn transition_to_idle(&self) -> ToIdle {
        let mut result = ToIdle::Cancel;
        let _ = self.update(|s| {
            debug_assert!(s & RUNNING != 0, "transition_to_idle without RUNNING");
            if s & CANCEL_REQUESTED != 0 {
                result = ToIdle::Cancel;
                None
            } else if s & NOTIFIED != 0 {
                result = ToIdle::Reschedule;
                Some((s & !(RUNNING | NOTIFIED)) | SCHEDULED)
            } else {
                result = ToIdle::Idle { last_ref: (s >> REF_SHIFT) == 1 };
                Some((s & !RUNNING) - REF_ONE)
            }
        });
        result
    }

    /// The runner (or a canceller) publishes `outcome`; it owns the stage (`RUNNING`)
    /// and has written the outcome into it, or dropped it (`discarded`: no handle will
    /// read it, so `OUTPUT_TAKEN` is set in the same operation). If `release` is set, the
    /// caller's reference is released in the same operation unless a joiner must be
    /// woken first.
    pub fn transition_to_complete(&self, outcome: Outcome, release: bool, discarded: bool) -> Completed {
        let mut released = false;
        let prev = match self.update(|s| {
            debug_assert!(s & RUNNING != 0 && s & COMPLETE == 0);
            let mut next =
                (s & !(RUNNING | SCHEDULED | NOTIFIED | TIMED | OUTCOME_MASK)) | COMPLETE | outcome.bits();
            if discarded {
                next |= OUTPUT_TAKEN;
            }
            released = release && s & JOIN_WAITING == 0;
            if released {
                next -= REF_ONE;
            }
            Some(next)
        }) {
            Ok(prev) | Err(prev) => prev,
        };
        Completed {
            wake_joiner: prev & JOIN_WAITING != 0,
            last_ref: released && (prev >> REF_SHIFT) == 1,
            prev: Snapshot(prev),
        }
    }

    /// A handle (or shutdown) wants to cancel the task with `outcome` (`Cancelled` or
    /// `Shutdown`). `is_future` says whether a running body can be asked to stop at its
    /// next poll point.
    ///
    /// A successful claim writes `outcome` into the state word at once (before
    /// `COMPLETE`), so a worker that skips the task sees why it was claimed.
    pub fn claim_for_cancel(&self, is_future: bool, outcome: Outcome) -> CancelClaim {
        let mut result = CancelClaim::TooLate;
        let _ = self.update(|s| {
            if s & COMPLETE != 0 || (s & RUNNING != 0 && !is_future) {
                result = CancelClaim::TooLate;
                None
            } else if s & RUNNING != 0 {
                result = CancelClaim::Requested;
                if s & CANCEL_REQUESTED != 0 {
                    None
                } else {
                    Some(s | CANCEL_REQUESTED)
                }
            } else {
                result = CancelClaim::Claimed { was_timed: s & TIMED != 0 };
                Some((s & !OUTCOME_MASK) | RUNNING | outcome.bits())
            }
        });
        result
    }

    /// The wheel's owner fired the timer: the task leaves the wheel for a run queue.
    pub fn clear_timed(&self) {
        self.word.fetch_and(!TIMED, AcqRel);
    }

    /// Wakes the task through a waker that keeps its reference (`wake_by_ref`).
    pub fn wake(&self) -> Wake {
        match self.update(|s| {
            if s & (COMPLETE | SCHEDULED) != 0 || (s & RUNNING != 0 && s & NOTIFIED != 0) {
                None
            } else if s & RUNNING != 0 {
                Some(s | NOTIFIED)
            } else {
                Some((s | SCHEDULED) + REF_ONE)
            }
        }) {
            Ok(prev) if prev & RUNNING == 0 => Wake::Schedule,
            _ => Wake::Nothing { last_ref: false },
        }
    }

    /// Wakes the task through a waker that gives up its reference (`wake`): the reference
    /// moves to the run queue, or is released.
    pub fn wake_by_val(&self) -> Wake {
        match self.update(|s| {
            if s & (COMPLETE | SCHEDULED) != 0 || s & RUNNING != 0 {
                let next = if s & RUNNING != 0 && s & COMPLETE == 0 { s | NOTIFIED } else { s };
                Some(next - REF_ONE)
            } else {
                Some(s | SCHEDULED)
            }
        }) {
            Ok(prev) if prev & (COMPLETE | SCHEDULED | RUNNING) == 0 => Wake::Schedule,
            Ok(prev) => Wake::Nothing { last_ref: (prev >> REF_SHIFT) == 1 },
            Err(_) => unreachable!("wake_by_val always stores"),
        }
    }

    /// A joiner registers interest in completion. Call with the join-waker table's shard
    /// lock held, after storing the waker there.
    pub fn set_join_waiting(&self) -> JoinWait {
        let prev = self.word.fetch_or(JOIN_WAITING, AcqRel);
        if prev & COMPLETE != 0 {
            JoinWait::AlreadyComplete
        } else {
            JoinWait::Registered
        }
    }

    /// The join handle moved the outcome out of the stage.
    pub fn set_output_taken(&self) {
        self.word.fetch_or(OUTPUT_TAKEN, AcqRel);
    }

    /// The join handle goes away: clears `JOIN_INTEREST` and releases its reference.
    /// Returns the state before and whether this was the last reference.
    ///
    /// If the task is complete and the outcome not taken, the caller must drop the
    /// outcome *before* calling this (it owns the stage once `COMPLETE` with interest).
    pub fn drop_join_handle(&self) -> (Snapshot, bool) {
        let prev = self.word.fetch_sub(REF_ONE + JOIN_INTEREST, AcqRel);
        debug_assert!(prev & JOIN_INTEREST != 0);
        (Snapshot(prev), (prev >> REF_SHIFT) == 1)
    }

    /// Sets the owner worker index (before the task is shared with another thread, or by
    /// the thread that holds it exclusively in a wheel inbox).
    pub fn set_owner(&self, owner: usize) {
        debug_assert!(owner < MAX_OWNERS);
        let _ = self.update(|s| Some((s & !OWNER_MASK) | ((owner << OWNER_SHIFT) & OWNER_MASK)));
    }

    /// Adds a reference.
    pub fn ref_inc(&self) {
        let prev = self.word.fetch_add(REF_ONE, Relaxed);
        // Overflowing 37 bits of references means a leak of astronomical size.
        assert!(prev >> REF_SHIFT < (usize::MAX >> REF_SHIFT) / 2, "task reference count overflow");
    }

    /// Releases a reference; true if it was the last (the caller must deallocate).
    pub fn ref_dec(&self) -> bool {
        let prev = self.word.fetch_sub(REF_ONE, AcqRel);
        debug_assert!(prev >> REF_SHIFT >= 1, "task reference count underflow");
        (prev >> REF_SHIFT) == 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn closure_state() -> State {
        State::new(Priority::HIGH, 2, true, false, true)
    }

    #[test]
    fn new_state_decodes_its_fields() {
        let s = State::new(Priority::HIGH, 2, true, true, true);
        s.set_owner(5);
        let snap = s.load();
        assert_eq!(snap.priority(), Priority::HIGH);
        assert_eq!(snap.ref_count(), 2);
        assert_eq!(snap.owner(), 5);
        assert!(snap.is_scheduled() && snap.is_timed() && snap.has_join_interest());
        assert!(!snap.is_running() && !snap.is_complete());
    }

    #[test]
    fn run_then_cancel_is_too_late_and_cancel_then_run_skips() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        assert_eq!(s.claim_for_cancel(false, Outcome::Cancelled), CancelClaim::TooLate);

        let s = closure_state();
        assert_eq!(s.claim_for_cancel(false, Outcome::Shutdown), CancelClaim::Claimed { was_timed: false });
        match s.transition_to_running() {
            ToRunning::Skip(snap) => assert_eq!(snap.outcome(), Outcome::Shutdown),
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn cancel_of_running_future_is_requested_and_seen_at_idle() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        assert_eq!(s.claim_for_cancel(true, Outcome::Cancelled), CancelClaim::Requested);
        assert_eq!(s.transition_to_idle(), ToIdle::Cancel);
    }

    #[test]
    fn wake_while_running_reschedules_at_idle() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        assert_eq!(s.wake(), Wake::Nothing { last_ref: false });
        assert!(s.load().is_notified());
        assert_eq!(s.transition_to_idle(), ToIdle::Reschedule);
        assert!(s.load().is_scheduled() && !s.load().is_running());
    }

    #[test]
    fn wake_when_idle_schedules_once() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        assert_eq!(s.transition_to_idle(), ToIdle::Idle { last_ref: false });
        assert_eq!(s.load().ref_count(), 1);
        assert_eq!(s.wake(), Wake::Schedule);
        assert_eq!(s.load().ref_count(), 2);
        assert_eq!(s.wake(), Wake::Nothing { last_ref: false });
        assert_eq!(s.load().ref_count(), 2);
    }

    #[test]
    fn complete_reports_join_waiter_and_keeps_reference_for_the_wake() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        assert_eq!(s.set_join_waiting(), JoinWait::Registered);
        let c = s.transition_to_complete(Outcome::Output, true, false);
        assert!(c.wake_joiner && !c.last_ref);
        assert_eq!(s.load().ref_count(), 2, "reference kept until the joiner is woken");
        assert_eq!(s.set_join_waiting(), JoinWait::AlreadyComplete);
        assert_eq!(s.load().outcome(), Outcome::Output);
    }

    #[test]
    fn complete_without_handle_releases_last_reference() {
        let s = State::new(Priority::LOW, 1, true, false, false);
        assert_eq!(s.transition_to_running(), ToRunning::Run);
        let c = s.transition_to_complete(Outcome::Panicked, true, true);
        assert!(c.last_ref && !c.wake_joiner);
    }

    #[test]
    fn exactly_one_ref_dec_is_last() {
        let s = State::new(Priority::LOW, 3, false, false, false);
        let lasts = [s.ref_dec(), s.ref_dec(), s.ref_dec()];
        assert_eq!(lasts, [false, false, true]);
    }

    #[test]
    fn drop_join_handle_clears_interest_and_releases() {
        let s = closure_state();
        let (prev, last) = s.drop_join_handle();
        assert!(prev.has_join_interest() && !last);
        assert!(!s.load().has_join_interest());
        assert_eq!(s.load().ref_count(), 1);
    }
}
