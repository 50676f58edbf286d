//! The spawn path: every task enters the runtime here, in four steps.
//!
//! 1. **Admission** (only with `Builder::max_pending`): take one unit of [`Admission`].
//!    [`Admit::Try`] refuses at the limit, [`Admit::Wait`] blocks an outside caller until
//!    a task starts (never while it holds the intake gate, which shutdown drains) and
//!    admits a worker's (or a blocking-pool thread's) spawn at once, over the limit; [`Admit::Exempt`] (the runtime's
//!    own timers) takes none.
//! 2. **Intake**: from outside, pass the [`Intake`](kairos_rt_core::intake::Intake) gate
//!    (refused once shutdown closed it); a worker checks `is_closed` with a plain load
//!    instead, and a worker that misses the close pushes onto its own queue, which it
//!    empties before it exits. Each spawn is counted once here: `Admitted` or `Rejected`
//!    (the runtime's own timers: `TimerSet` or `TimerRefused`); a refusal for room only
//!    as `RefusedFull`.
//! 3. **Allocation**: the task cell, with its latency sample decided (1 ready task in
//!    64 keeps its submit tick in its wheel links: see `WorkerCtx::first_run`).
//! 4. **Routing** ([`Shared::route`]): from one of this runtime's workers, onto that
//!    worker's own queue or wheel (no shared atomics beyond the task's own); from any
//!    other thread, onto the per-level injectors with a wake-up if a worker sleeps
//!    ([`Shared::push_injected`]), or, if timed, into a chosen worker's timer inbox
//!    ([`Shared::push_timer_inbox`], which states that protocol's two sides).

use super::context;
use super::shared::{Sched, Shared};
use super::worker::WorkerCtx;
use crate::stats::accounting::submission;
use crate::stats::Count;
use event_listener::Listener;
use kairos_rt_core::admission::Admission;
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{allocate, carries_scheduler, Body, JoinHandle, TaskOptions, TaskRef};
use kairos_rt_core::Priority;
use std::time::{Duration, Instant};

/// When a submitted task is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Ready now.
    Now,
    /// At this clock tick.
    At(u64),
}

/// What a spawn does when `max_pending` tasks already wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Refuse with `Full` (counted as a refusal: the body goes back to the caller).
    Try,
    /// Refuse with `Full` without counting a refusal: the caller waits for room and
    /// offers the body again (`Handle::spawn_async`), as `Wait` does in one call.
    TryWaiting,
    /// Take no admission unit: the runtime's own timers (a sleep of a future that is
    /// already running), which must never wait for room nor take it from user tasks.
    Exempt,
    /// Block until there is room (outside the runtime); admit at once on a worker.
    Wait,
}

/// Whether this (non-worker) thread's next spawn is sampled for the submit-to-start
/// latency: 1 in `SAMPLE_EVERY`, by a per-thread counter.
fn next_sample_here() -> bool {
    thread_local! {
        static SPAWNS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    SPAWNS.with(crate::stats::latency::next_sample)
}

/// Why steps 1 and 2 refused a spawn (the body is given back by the caller).
pub(super) enum Refused {
    Shutdown,
    /// Full at this `max_pending` limit.
    Full(usize),
}

impl Refused {
    pub(super) fn with<B>(self, body: B) -> Refusal<B> {
        match self {
            Refused::Shutdown => Refusal::Shutdown(body),
            Refused::Full(limit) => Refusal::Full(body, limit),
        }
    }
}

/// Why a submission was refused; the body comes back.
pub(crate) enum Refusal<B> {
    Shutdown(B),
    Full(B, usize),
    /// A blocking job: the pool has no thread and the OS refused to start one.
    NoThread(B, std::io::Error),
}

/// A handle for a refused task: its result is a shutdown error (its id is unique like
/// any task's, so refused ids of two runtimes never meet).
pub(crate) fn refused<T>() -> JoinHandle<T> {
    JoinHandle::refused()
}

/// The handle of a spawned task (`allocate` returned its join reference), or a refused
/// one.
pub(super) fn wrap<T>(join: Option<std::ptr::NonNull<kairos_rt_core::task::Header>>) -> JoinHandle<T> {
    match join {
        // SAFETY: `allocate` with `join: true` returns the handle's counted reference
        // to a cell whose output type is `T` (the body's output).
        Some(ptr) => unsafe { JoinHandle::from_raw(ptr) },
        None => refused(),
    }
}

impl Shared {
    /// When a task for `when` is due: `Now` for a tick that has already begun (so a
    /// past instant is ready work, run by any free worker and by shutdown's drain), else
    /// `At(tick)`.
    pub(crate) fn due_at(&self, when: Instant) -> Due {
        let tick = self.clock.due_tick(when);
        if self.clock.has_begun(tick) {
            Due::Now
        } else {
            Due::At(tick)
        }
    }

    /// When a task for `delay` from now is due: `Now` for zero, else `At(tick)`, a tick
    /// after the current one (due ticks round up, the current tick rounds down), so the
    /// clock is read once, not again to compare.
    pub(crate) fn due_after(&self, delay: Duration) -> Due {
        if delay.is_zero() {
            return Due::Now;
        }
        Due::At(self.clock.due_after(delay))
    }

    /// Submits `body`; hands it back if intake is closed, or if full and `admit` says so.
    pub(crate) fn submit<B: Body>(
        self: &Arc<Self>,
        body: B,
        priority: Priority,
        due: Due,
        admit: Admit,
    ) -> Result<JoinHandle<B::Output>, Refusal<B>> {
        context::with_worker(|w| {
            let local = w.filter(|w| Arc::ptr_eq(w.shared(), self));
            self.submit_from(local, body, priority, due, admit)
        })
    }

    /// Takes one admission unit (with `max_pending`); false if refused for `Try` at the
    /// limit, or if the runtime closed while an outside `Wait` was blocked.
    #[inline]
    fn admit(&self, local: bool, admit: Admit) -> bool {
        let Some(limit) = &self.admission else { return true };
        match admit {
            Admit::Exempt => true,
            _ if limit.try_acquire() => true,
            Admit::Try | Admit::TryWaiting => false,
            Admit::Wait => self.wait_for_room(limit, local),
        }
    }

    /// A `Wait` spawn at the limit: a worker, or a blocking-pool thread, of this runtime
    /// is admitted at once over the limit (it must not block the queue it would wait on:
    /// a blocking job waiting for room held by jobs queued behind it in a full pool would
    /// never return); another thread blocks until a unit comes back, or until the runtime
    /// closes (false).
    #[cold]
    fn wait_for_room(&self, limit: &Admission, local: bool) -> bool {
        let shared = self;
        if local || shared.blocking.serves_current_thread() {
            shared.admit_forced();
            return true;
        }
        // Listen before each check, so a unit released between the check and the wait
        // still wakes us.
        loop {
            let (room, _counted) = shared.room.listen_thread();
            if limit.try_acquire() {
                return true;
            }
            if shared.is_closed() {
                return false;
            }
            room.wait();
        }
    }

    fn submit_from<B: Body>(
        self: &Arc<Self>,
        local: Option<&WorkerCtx>,
        body: B,
        priority: Priority,
        due: Due,
        admit: Admit,
    ) -> Result<JoinHandle<B::Output>, Refusal<B>> {
        let holds_unit = match self.enter(local, admit, B::IS_RUNTIME_TIMER) {
            Ok(holds_unit) => holds_unit,
            Err(refused) => return Err(refused.with(body)),
        };
        let opts = self.task_options(local, priority, due, holds_unit);
        let (due, owner) = (opts.due, opts.owner);
        let sched = carries_scheduler::<B>(&opts).then(|| Sched(self.clone()));
        let (task, join) = allocate(body, sched, opts);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            task = task.as_ptr().as_ptr() as usize,
            priority = priority.level(),
            timed = due.is_some(),
            "kairos.task.spawned"
        );
        if B::IS_FUTURE {
            self.registry.insert(task.clone());
        }
        self.route(local, task, due, owner);
        if local.is_none() {
            self.intake.end();
        }
        Ok(wrap(join))
    }

    /// Steps 1 and 2: admission, then intake. Counts the spawn once, `Admitted` or
    /// `Rejected` (`TimerSet` or `TimerRefused` for one of the runtime's own timers: one
    /// counter per spawn, so a report taken mid-race still balances). A spawn refused for
    /// `Full` is no submission (its body goes back to the caller, who may offer it
    /// again): it counts only as `RefusedFull`. Returns whether the task holds an
    /// admission unit. From outside, an `Ok` leaves the caller inside the intake gate
    /// (`Intake::end` after routing).
    #[inline]
    pub(super) fn enter(
        &self,
        local: Option<&WorkerCtx>,
        admit: Admit,
        runtime_timer: bool,
    ) -> Result<bool, Refused> {
        let count = |kind| match local {
            Some(w) => w.remote().counters.bump_owned(kind),
            None => self.counters.add_shared(kind, 1),
        };
        let (accepted, rejected) = submission(runtime_timer);
        if !self.admit(local.is_some(), admit) {
            if self.is_closed() {
                count(rejected);
                return Err(Refused::Shutdown);
            }
            if admit != Admit::TryWaiting {
                count(Count::RefusedFull);
            }
            return Err(Refused::Full(self.admission.as_ref().map_or(0, |a| a.limit())));
        }
        let admitted = match local {
            Some(_) => !self.is_closed(),
            None => self.intake.begin(),
        };
        let holds_unit = self.admission.is_some() && admit != Admit::Exempt;
        if !admitted {
            if holds_unit {
                self.left_waiting();
            }
            count(rejected);
            return Err(Refused::Shutdown);
        }
        count(accepted);
        Ok(holds_unit)
    }

    /// Step 3's options: the due tick, the wheel a timed task goes to (this worker's, or
    /// one chosen for a remote insert), and the latency sample. A sampled ready task keeps
    /// its submit tick in wheel links it otherwise would not have; the worker reads it
    /// back at the first run (0 means "not sampled", hence the `max(1)`). Timed tasks are
    /// sampled when they leave the wheel instead.
    #[inline]
    fn task_options(
        &self,
        local: Option<&WorkerCtx>,
        priority: Priority,
        due: Due,
        holds_unit: bool,
    ) -> TaskOptions {
        let due = match due {
            Due::At(t) => Some(t),
            Due::Now => None,
        };
        let owner = match (due, local) {
            (None, _) => 0,
            (Some(_), Some(w)) => w.index(),
            (Some(_), None) => self.timer_owner(),
        };
        let sampled = due.is_none()
            && match local {
                Some(w) => w.next_sample(),
                None => next_sample_here(),
            };
        let sample_tick = if sampled { self.clock.now_tick().max(1) } else { 0 };
        TaskOptions { priority, due, join: true, home: self.home_slot, holds_unit, owner, sample_tick }
    }

    /// Step 4 of a spawn: the task goes where it will wait. A ready task: this worker's
    /// queue, or the injectors (with a wake-up) from outside. A timed task: this worker's
    /// wheel, or `owner`'s timer inbox from outside (`push_timer_inbox`).
    #[inline]
    fn route(&self, local: Option<&WorkerCtx>, task: TaskRef, due: Option<u64>, owner: usize) {
        match (due, local) {
            (Some(_), Some(w)) => w.insert_timer(task),
            (Some(due), None) => self.push_timer_inbox(owner, task, due),
            (None, Some(w)) => w.push_local(task),
            (None, None) => self.push_injected(task),
        }
    }
}
