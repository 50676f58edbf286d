//! The task state word: lifecycle bits, outcome, priority, owner worker and reference
//! count packed into one `AtomicUsize`.
//!
//! ## Layout (64-bit targets only)
//!
//! | bits   | field            | meaning |
//! |--------|------------------|---------|
//! | 0      | `RUNNING`        | the stage is claimed: a worker is running/polling the body, or a canceller is dropping it |
//! | 1      | `COMPLETE`       | the stage holds the final outcome (bits 8..11) |
//! | 2      | `SCHEDULED`      | a run queue holds a reference meant to run the task |
//! | 3      | `NOTIFIED`       | woken while `RUNNING`: re-queue after this poll |
//! | 4      | `CANCEL_REQUESTED` | cancel asked while a future was being polled: drop it at the poll's end |
//! | 5      | `JOIN_INTEREST`  | a `JoinHandle` exists |
//! | 6      | `JOIN_WAITING`   | a join waker is registered in the join-waker table |
//! | 7      | `TIMED`          | the task sits in (or is on its way into) a timing wheel |
//! | 8..11  | outcome          | [`Outcome`]; meaningful once `COMPLETE` (or once claimed by a canceller, or with `CANCEL_REQUESTED`: the outcome asked for) |
//! | 11     | `OUTPUT_TAKEN`   | the join handle has moved the outcome out of the stage |
//! | 12     | `STARTED`        | a worker has begun running the body at least once |
//! | 13..19 | priority         | `0..=63` |
//! | 19..22 | epoch            | which run-queue entry is live (see *Priority changes*) |
//! | 22..32 | owner            | index of the worker whose wheel holds the task (timed tasks) |
//! | 32..39 | home             | the runtime's slot in [`home`](super::home) (0: none) |
//! | 39     | `HOLDS_UNIT`     | the task holds a unit of its runtime's admission count (`max_pending`) |
//! | 40..64 | references       | how many `TaskRef`s, wakers and handles point at the cell |
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
//! - **priority change vs run**: [`State::reprioritize`] changes the priority of a task
//!   that has not started in one CAS. A timed task just changes level (its wheel reads the
//!   priority when it fires). A queued task also bumps its *epoch* and takes a reference
//!   for a new run-queue entry stamped with the new epoch; every queue entry carries the
//!   epoch it was made with ([`TaskRef::epoch`](super::TaskRef::epoch)), and
//!   [`State::transition_to_running`] refuses an entry whose epoch is not the task's
//!   current one ([`ToRunning::Stale`]). So exactly one entry is live at any time, and a
//!   stale one is dropped without running or counting anything. The epoch only moves
//!   before the task starts, so wake-ups (which stamp the current epoch) are never stale.
//! - **last reference frees**: [`State::ref_dec`] returns `true` to exactly one caller, the
//!   one that took the count to zero; only it may deallocate.

use super::TaskOptions;
use crate::sync::atomic::{AtomicUsize, Ordering::*};
use crate::Priority;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("kairos-rt-core packs the task state into a 64-bit word and needs a 64-bit target");

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const SCHEDULED: usize = 1 << 2;
const NOTIFIED: usize = 1 << 3;
const CANCEL_REQUESTED: usize = 1 << 4;
const JOIN_INTEREST: usize = 1 << 5;
const JOIN_WAITING: usize = 1 << 6;
const TIMED: usize = 1 << 7;
const OUTCOME_SHIFT: u32 = 8;
const OUTCOME_MASK: usize = 0b111 << OUTCOME_SHIFT;
const OUTPUT_TAKEN: usize = 1 << 11;
const STARTED: usize = 1 << 12;
const PRIORITY_SHIFT: u32 = 13;
const PRIORITY_MASK: usize = 0x3f << PRIORITY_SHIFT;
const EPOCH_SHIFT: u32 = 19;
const EPOCH_BITS: u32 = 3;
const EPOCH_MASK: usize = ((1 << EPOCH_BITS) - 1) << EPOCH_SHIFT;
const OWNER_SHIFT: u32 = 22;
const OWNER_BITS: u32 = 10;
const OWNER_MASK: usize = ((1 << OWNER_BITS) - 1) << OWNER_SHIFT;
const HOME_SHIFT: u32 = 32;
const HOME_BITS: u32 = 7;
const HOME_MASK: usize = ((1 << HOME_BITS) - 1) << HOME_SHIFT;
const HOLDS_UNIT: usize = 1 << 39;
const REF_SHIFT: u32 = 40;
const REF_ONE: usize = 1 << REF_SHIFT;

/// The most workers whose index fits in a task's owner field.
pub const MAX_OWNERS: usize = 1 << OWNER_BITS;

/// The most runtime slots a task's home field can name (slot 0 means "none"): the most
/// runtimes alive at once in one process (kairos-rt refuses to build another).
pub const MAX_HOMES: usize = (1 << HOME_BITS) - 1;

/// How many times the priority of a queued task can change before it starts: the epoch
/// has 3 bits and must never wrap while an old entry may still be queued.
pub const MAX_EPOCH: u8 = (1 << EPOCH_BITS) - 1;
const _: () = assert!(EPOCH_BITS == 3, "MAX_EPOCH's doc gives the epoch's width");

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
    /// The task's deadline passed before it started; it never ran.
    Expired,
    /// A future ran past its run timeout and was dropped at a poll point.
    TimedOut,
}

impl Outcome {
    const fn bits(self) -> usize {
        (match self {
            Outcome::Output => 0,
            Outcome::Panicked => 1,
            Outcome::Cancelled => 2,
            Outcome::Shutdown => 3,
            Outcome::Expired => 4,
            Outcome::TimedOut => 5,
        }) << OUTCOME_SHIFT
    }

    const fn from_bits(state: usize) -> Outcome {
        match (state & OUTCOME_MASK) >> OUTCOME_SHIFT {
            0 => Outcome::Output,
            1 => Outcome::Panicked,
            2 => Outcome::Cancelled,
            3 => Outcome::Shutdown,
            4 => Outcome::Expired,
            _ => Outcome::TimedOut,
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
    /// Whether a worker has begun running the body (a future: polled at least once).
    pub fn is_started(self) -> bool {
        self.0 & STARTED != 0
    }
    /// Which run-queue entry is live (see the module docs).
    pub fn epoch(self) -> u8 {
        ((self.0 & EPOCH_MASK) >> EPOCH_SHIFT) as u8
    }
    /// Whether the task holds an admission unit, to give back when it starts or ends
    /// unstarted.
    pub fn holds_unit(self) -> bool {
        self.0 & HOLDS_UNIT != 0
    }
    /// The runtime slot the task belongs to (0: none).
    pub fn home(self) -> usize {
        (self.0 & HOME_MASK) >> HOME_SHIFT
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
            .field("started", &self.is_started())
            .field("priority", &self.priority())
            .field("epoch", &self.epoch())
            .field("home", &self.home())
            .field("owner", &self.owner())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// Result of [`State::transition_to_running`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToRunning {
    /// The caller owns the stage and must run the body. `first` says this is the first
    /// run (`STARTED` was set by this transition).
    Run {
        /// The task had never run before.
        first: bool,
    },
    /// The task is complete or claimed by someone else: drop the reference, run nothing.
    Skip(Snapshot),
    /// The entry's epoch is not the task's: its priority changed and another entry is
    /// live. Drop the reference; run and count nothing.
    Stale,
}

/// Result of [`State::reprioritize`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reprioritized {
    /// The task already has that priority.
    Unchanged,
    /// A timed task: its wheel queues it at the new level when it fires.
    Timed,
    /// A queued task: the old entry is stale now. The caller holds a new reference and
    /// must push it, stamped with `epoch`, at the new level.
    Requeue {
        /// The new live epoch.
        epoch: u8,
    },
    /// Too late (started, running, complete or claimed), or the epoch is exhausted.
    Refused,
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
    /// (`RUNNING`), must drop the future and complete the task with this outcome (the
    /// one the first canceller asked for: `Cancelled` from a handle, `Shutdown` from the
    /// runtime's shutdown).
    Cancel(Outcome),
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
    /// A state for a new task described by `opts`, with `refs` references: `SCHEDULED`
    /// if it will be pushed to a run queue (no due tick), `TIMED` if it goes to a wheel,
    /// `JOIN_INTEREST` if a handle is made, `HOLDS_UNIT` if it holds an admission unit,
    /// the runtime's [`home`](super::home) slot (0 for none) and the owner worker.
    pub fn new(refs: usize, opts: &TaskOptions) -> State {
        debug_assert!(opts.home <= MAX_HOMES);
        debug_assert!(opts.owner < MAX_OWNERS);
        let mut word = (refs * REF_ONE)
            | (opts.priority.index() << PRIORITY_SHIFT)
            | ((opts.home << HOME_SHIFT) & HOME_MASK)
            | ((opts.owner << OWNER_SHIFT) & OWNER_MASK);
        word |= if opts.due.is_some() { TIMED } else { SCHEDULED };
        if opts.join {
            word |= JOIN_INTEREST;
        }
        if opts.holds_unit {
            word |= HOLDS_UNIT;
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

    /// A worker popped an entry stamped with `epoch` from a run queue and wants to run it.
    pub fn transition_to_running(&self, epoch: u8) -> ToRunning {
        let mut stale = false;
        match self.update(|s| {
            stale = Snapshot(s).epoch() != epoch;
            if stale || s & (RUNNING | COMPLETE) != 0 {
                None
            } else {
                Some((s | RUNNING | STARTED) & !(SCHEDULED | NOTIFIED))
            }
        }) {
            Ok(prev) => ToRunning::Run { first: prev & STARTED == 0 },
            Err(_) if stale => ToRunning::Stale,
            Err(s) => ToRunning::Skip(Snapshot(s)),
        }
    }

    /// A worker popped an entry stamped with `epoch` for a closure and may hold the only
    /// reference left: one reference, no join handle, neither running nor complete, and
    /// the entry's epoch current. Then nobody else can reach the cell any more (a new
    /// reference is only ever made from an existing one, and no handle is left to read
    /// an outcome), so the caller may run the body and free the cell without writing the
    /// state word at all; `Some(first)` tells whether the task had not started before.
    /// Otherwise `None`, and the caller uses
    /// [`transition_to_running`](Self::transition_to_running).
    ///
    /// The `Acquire` load pairs with the `AcqRel` update that gave up each other reference
    /// ([`ref_dec`](Self::ref_dec), [`drop_join_handle`](Self::drop_join_handle)), so
    /// every access of those holders happens before the run and the free. Writing
    /// nothing matters when the last holder was another thread: the line is read once
    /// instead of being read and then taken over for a write. Modelled in
    /// `loom-tests/tests/task_state.rs`
    /// (`run_vs_handle_drop_sole_or_counted_frees_once`).
    pub fn is_sole_reference(&self, epoch: u8) -> Option<bool> {
        let s = self.word.load(Acquire);
        let sole = s >> REF_SHIFT == 1
            && s & (JOIN_INTEREST | RUNNING | COMPLETE) == 0
            && Snapshot(s).epoch() == epoch;
        sole.then_some(s & STARTED == 0)
    }

    /// Changes the priority of a task that has not started (see the module docs).
    pub fn reprioritize(&self, priority: Priority) -> Reprioritized {
        let mut result = Reprioritized::Refused;
        let _ = self.update(|s| {
            let snap = Snapshot(s);
            if s & (STARTED | RUNNING | COMPLETE) != 0 {
                result = Reprioritized::Refused;
                return None;
            }
            if snap.priority() == priority {
                result = Reprioritized::Unchanged;
                return None;
            }
            let next = (s & !PRIORITY_MASK) | (priority.index() << PRIORITY_SHIFT);
            if s & TIMED != 0 {
                result = Reprioritized::Timed;
                return Some(next);
            }
            if snap.epoch() >= MAX_EPOCH {
                result = Reprioritized::Refused;
                return None;
            }
            let epoch = snap.epoch() + 1;
            result = Reprioritized::Requeue { epoch };
            Some(((next & !EPOCH_MASK) | ((epoch as usize) << EPOCH_SHIFT)) + REF_ONE)
        });
        result
    }

    /// A future's poll returned `Pending`; the runner holds one reference.
    pub fn transition_to_idle(&self) -> ToIdle {
        let mut result = ToIdle::Cancel(Outcome::Cancelled);
        let _ = self.update(|s| {
            debug_assert!(s & RUNNING != 0, "transition_to_idle without RUNNING");
            if s & CANCEL_REQUESTED != 0 {
                result = ToIdle::Cancel(Outcome::from_bits(s));
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
    /// `Shutdown`), or its start deadline passed (`Expired`). `is_future` says whether a
    /// running body can be asked to stop at its next poll point.
    ///
    /// `Expired` claims only a task that has never started (a start-by deadline says
    /// nothing about a future that began and now waits): a task that started is
    /// `TooLate` for it. So expiry, the first run ([`transition_to_running`], which sets
    /// `STARTED` with `RUNNING`), a cancel and shutdown are each one CAS on this word, and
    /// exactly one of them wins a task that has not started.
    ///
    /// A successful claim writes `outcome` into the state word at once (before
    /// `COMPLETE`), so a worker that skips the task sees why it was claimed.
    ///
    /// [`transition_to_running`]: Self::transition_to_running
    pub fn claim_for_cancel(&self, is_future: bool, outcome: Outcome) -> CancelClaim {
        let mut result = CancelClaim::TooLate;
        let expiry = outcome == Outcome::Expired;
        let _ = self.update(|s| {
            if s & COMPLETE != 0
                || (s & RUNNING != 0 && !is_future)
                || (expiry && s & (STARTED | RUNNING) != 0)
            {
                result = CancelClaim::TooLate;
                None
            } else if s & RUNNING != 0 {
                result = CancelClaim::Requested;
                if s & CANCEL_REQUESTED != 0 {
                    None
                } else {
                    // The outcome field is free until completion: it keeps the outcome
                    // the poll's end completes the task with (`ToIdle::Cancel`).
                    Some((s & !OUTCOME_MASK) | CANCEL_REQUESTED | outcome.bits())
                }
            } else {
                result = CancelClaim::Claimed { was_timed: s & TIMED != 0 };
                Some((s & !OUTCOME_MASK) | RUNNING | outcome.bits())
            }
        });
        result
    }

    /// The runner (holder of `RUNNING`) moves its own task to `priority`: wake-ups after
    /// this queue it at the new level. False if the caller does not hold `RUNNING`.
    pub fn set_priority_while_running(&self, priority: Priority) -> bool {
        self.update(|s| {
            (s & RUNNING != 0 && s & COMPLETE == 0)
                .then(|| (s & !PRIORITY_MASK) | (priority.index() << PRIORITY_SHIFT))
        })
        .is_ok()
    }

    /// The wheel's owner fired the timer: the task leaves the wheel for a run queue.
    /// Returns the state after the change: its epoch is the one to stamp on the queue
    /// entry (a priority change after this point makes that entry stale).
    pub fn clear_timed(&self) -> Snapshot {
        Snapshot(self.word.fetch_and(!TIMED, AcqRel) & !TIMED)
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

    /// Adds a reference.
    pub fn ref_inc(&self) {
        let prev = self.word.fetch_add(REF_ONE, Relaxed);
        // Overflowing 24 bits of references means a leak of astronomical size.
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

    fn opts(due: Option<u64>, home: usize, holds_unit: bool, owner: usize) -> TaskOptions {
        TaskOptions { priority: Priority::HIGH, due, join: true, home, holds_unit, owner, sample_tick: 0 }
    }

    fn closure_state() -> State {
        State::new(2, &opts(None, 0, false, 0))
    }

    #[test]
    fn a_sole_reference_needs_one_reference_no_handle_and_a_current_unclaimed_entry() {
        let detached = State::new(1, &TaskOptions::ready(Priority::NORMAL));
        assert_eq!(detached.is_sole_reference(0), Some(true));
        assert_eq!(detached.is_sole_reference(1), None, "a stale entry's epoch");
        detached.ref_inc();
        assert_eq!(detached.is_sole_reference(0), None, "a second reference");
        assert!(!detached.ref_dec());
        assert_eq!(detached.is_sole_reference(0), Some(true));
        assert_eq!(detached.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(detached.is_sole_reference(0), None, "already claimed");

        let joined = State::new(2, &TaskOptions { join: true, ..TaskOptions::ready(Priority::NORMAL) });
        assert_eq!(joined.is_sole_reference(0), None, "the handle's reference");
        let _ = joined.drop_join_handle();
        let before = joined.load().0;
        assert_eq!(joined.is_sole_reference(0), Some(true), "the handle is gone");
        assert_eq!(joined.load().0, before, "the check writes nothing");
    }

    #[test]
    fn new_state_decodes_its_fields() {
        let s = State::new(2, &opts(Some(9), 3, false, 5));
        let snap = s.load();
        assert_eq!(snap.priority(), Priority::HIGH);
        assert_eq!(snap.ref_count(), 2);
        assert_eq!(snap.owner(), 5);
        assert_eq!(snap.home(), 3);
        assert_eq!(snap.epoch(), 0);
        assert!(!snap.is_scheduled() && snap.is_timed() && snap.has_join_interest());
        assert!(!snap.is_running() && !snap.is_complete());
        assert!(!snap.holds_unit());
    }

    #[test]
    fn the_admission_unit_bit_survives_every_transition_and_leaves_the_ref_count_alone() {
        let s = State::new(2, &opts(None, 0, true, 0));
        assert!(s.load().holds_unit());
        assert_eq!(s.load().ref_count(), 2);
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert!(s.load().holds_unit() && s.load().is_started());
    }

    #[test]
    fn run_then_cancel_is_too_late_and_cancel_then_run_skips() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(s.claim_for_cancel(false, Outcome::Cancelled), CancelClaim::TooLate);

        let s = closure_state();
        assert_eq!(s.claim_for_cancel(false, Outcome::Shutdown), CancelClaim::Claimed { was_timed: false });
        match s.transition_to_running(0) {
            ToRunning::Skip(snap) => assert_eq!(snap.outcome(), Outcome::Shutdown),
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[test]
    fn a_shutdown_requested_during_a_poll_completes_as_shutdown() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(s.claim_for_cancel(true, Outcome::Shutdown), CancelClaim::Requested);
        assert_eq!(s.claim_for_cancel(true, Outcome::Cancelled), CancelClaim::Requested);
        assert_eq!(s.transition_to_idle(), ToIdle::Cancel(Outcome::Shutdown), "the first request's outcome");
    }

    #[test]
    fn expiry_claims_only_a_task_that_never_started() {
        let s = closure_state();
        assert_eq!(s.claim_for_cancel(true, Outcome::Expired), CancelClaim::Claimed { was_timed: false });
        match s.transition_to_running(0) {
            ToRunning::Skip(snap) => assert_eq!(snap.outcome(), Outcome::Expired),
            other => panic!("expected a skip, got {other:?}"),
        }

        // A future that started and now waits between polls: a cancel would claim it, an
        // expiry must not (its start-by deadline was met).
        let s = closure_state();
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(s.claim_for_cancel(true, Outcome::Expired), CancelClaim::TooLate, "running");
        assert_eq!(s.transition_to_idle(), ToIdle::Idle { last_ref: false });
        assert_eq!(s.claim_for_cancel(true, Outcome::Expired), CancelClaim::TooLate, "started, idle");
        assert_eq!(s.claim_for_cancel(true, Outcome::Cancelled), CancelClaim::Claimed { was_timed: false });
    }

    #[test]
    fn cancel_of_running_future_is_requested_and_seen_at_idle() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(s.claim_for_cancel(true, Outcome::Cancelled), CancelClaim::Requested);
        assert_eq!(s.transition_to_idle(), ToIdle::Cancel(Outcome::Cancelled));
    }

    #[test]
    fn wake_while_running_reschedules_at_idle() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(s.wake(), Wake::Nothing { last_ref: false });
        assert!(s.load().is_notified());
        assert_eq!(s.transition_to_idle(), ToIdle::Reschedule);
        assert!(s.load().is_scheduled() && !s.load().is_running());
    }

    #[test]
    fn wake_when_idle_schedules_once() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
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
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(s.set_join_waiting(), JoinWait::Registered);
        let c = s.transition_to_complete(Outcome::Output, true, false);
        assert!(c.wake_joiner && !c.last_ref);
        assert_eq!(s.load().ref_count(), 2, "reference kept until the joiner is woken");
        assert_eq!(s.set_join_waiting(), JoinWait::AlreadyComplete);
        assert_eq!(s.load().outcome(), Outcome::Output);
    }

    #[test]
    fn complete_without_handle_releases_last_reference() {
        let s =
            State::new(1, &TaskOptions { priority: Priority::LOW, join: false, ..opts(None, 0, false, 0) });
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        let c = s.transition_to_complete(Outcome::Panicked, true, true);
        assert!(c.last_ref && !c.wake_joiner);
    }

    #[test]
    fn exactly_one_ref_dec_is_last() {
        let s = State::new(3, &opts(None, 0, false, 0));
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

    #[test]
    fn every_outcome_round_trips_through_the_word() {
        for o in [
            Outcome::Output,
            Outcome::Panicked,
            Outcome::Cancelled,
            Outcome::Shutdown,
            Outcome::Expired,
            Outcome::TimedOut,
        ] {
            let s = closure_state();
            assert_eq!(s.claim_for_cancel(false, o), CancelClaim::Claimed { was_timed: false });
            assert_eq!(s.load().outcome(), o);
            assert_eq!(s.load().priority(), Priority::HIGH, "outcome bits must not touch the priority");
        }
    }

    #[test]
    fn second_run_is_not_first() {
        let s = closure_state();
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert_eq!(s.transition_to_idle(), ToIdle::Idle { last_ref: false });
        assert_eq!(s.wake(), Wake::Schedule);
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: false });
    }

    #[test]
    fn reprioritize_queued_task_makes_the_old_entry_stale() {
        let s = closure_state();
        let refs = s.load().ref_count();
        assert_eq!(s.reprioritize(Priority::HIGH), Reprioritized::Unchanged);
        assert_eq!(s.reprioritize(Priority::LOW), Reprioritized::Requeue { epoch: 1 });
        assert_eq!(s.load().priority(), Priority::LOW);
        assert_eq!(s.load().ref_count(), refs + 1, "a reference for the new entry");
        assert_eq!(s.transition_to_running(0), ToRunning::Stale);
        assert_eq!(s.transition_to_running(1), ToRunning::Run { first: true });
        assert_eq!(s.reprioritize(Priority::HIGHEST), Reprioritized::Refused, "started");
    }

    #[test]
    fn reprioritize_timed_task_keeps_its_epoch_and_refs() {
        let s = State::new(2, &TaskOptions { priority: Priority::LOW, ..opts(Some(1), 0, false, 0) });
        assert_eq!(s.reprioritize(Priority::HIGH), Reprioritized::Timed);
        assert_eq!(s.load().epoch(), 0);
        assert_eq!(s.load().ref_count(), 2);
        let after = s.clear_timed();
        assert!(!after.is_timed());
        assert_eq!(after.priority(), Priority::HIGH);
    }

    #[test]
    fn reprioritize_stops_before_the_epoch_wraps() {
        let s = closure_state();
        let levels = [Priority::LOW, Priority::NORMAL];
        for k in 0..MAX_EPOCH as usize {
            assert!(matches!(s.reprioritize(levels[k % 2]), Reprioritized::Requeue { .. }));
        }
        assert_eq!(s.load().epoch(), MAX_EPOCH);
        assert_eq!(s.reprioritize(Priority::HIGHEST), Reprioritized::Refused);
    }

    #[test]
    fn reprioritize_after_cancel_is_refused() {
        let s = closure_state();
        assert!(matches!(s.claim_for_cancel(false, Outcome::Cancelled), CancelClaim::Claimed { .. }));
        assert_eq!(s.reprioritize(Priority::LOW), Reprioritized::Refused);
    }

    #[test]
    fn only_the_runner_moves_a_started_task() {
        let s = closure_state();
        assert!(!s.set_priority_while_running(Priority::LOW), "not running");
        assert_eq!(s.transition_to_running(0), ToRunning::Run { first: true });
        assert!(s.set_priority_while_running(Priority::LOW));
        assert_eq!(s.load().priority(), Priority::LOW);
        assert_eq!(s.reprioritize(Priority::HIGH), Reprioritized::Refused, "handles cannot once started");
    }
}
