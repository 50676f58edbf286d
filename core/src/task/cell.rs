//! The task cell: header, scheduler and stage in one allocation, and the harness that
//! runs, cancels, completes and frees it.
//!
//! ## Layout
//!
//! ```text
//! #[repr(C)] Cell<B, K, L> { header: Header /* state, vtable */,
//!                            links: L /* TimerLinks, or NoLinks: nothing */,
//!                            scheduler: K /* Option<S>, or Absent: nothing */,
//!                            stage: union { body: B, output: B::Output, panic: PanicPayload } }
//! ```
//!
//! The stage is a union whose live field is named by the state word: the body while not
//! `COMPLETE`; once `COMPLETE`, the output (outcome `Output`) or the panic payload
//! (outcome `Panicked`) unless `OUTPUT_TAKEN`; nothing for `Cancelled` and `Shutdown`.
//! With an 8-byte closure and a unit output the cell is 48 bytes with links (a timed
//! task) and 24 without (a ready task); both are mimalloc size classes of their own.
//!
//! ## Which cells carry a scheduler ([`carries_scheduler`])
//!
//! A future does (its wakers hand it back through it). A closure is never woken, and
//! only one thing ever takes it back to its runtime: a cancel through its handle while
//! it waits in a wheel, which must tell the wheel's owner to unlink it. That cancel
//! finds the runtime through the task's [home](super::home) slot instead, so a closure
//! carries no scheduler unless it is timed and its runtime has no slot.
//!
//! The home look-up happens *before* the cancel claim and pins the runtime (see
//! [`Home::with_scheduler`](super::home::Home::with_scheduler)) until the message is
//! sent: between a successful claim and the message, the runtime could otherwise shut
//! down and be freed, and its slot be given to another runtime. A look-up that finds
//! another runtime in the slot is harmless: a runtime frees its slot only after it
//! completed every timed task it held (see the [home](super::home) invariants), so the
//! claim then fails and nothing is sent.
//!
//! ## Ownership of the stage
//!
//! Only the holder of `RUNNING` touches the stage before completion (the worker that won
//! [`State::transition_to_running`](super::state::State::transition_to_running) or the
//! canceller that won [`State::claim_for_cancel`](super::state::State::claim_for_cancel)).
//! After completion only the join handle touches it (to read or drop the outcome),
//! or, if no handle exists, the last reference's `dealloc`.

use super::body::Body;
use super::header::{Header, Vtable};
use super::schedule::Schedule;
use super::state::{CancelClaim, Outcome, State, ToIdle, ToRunning};
use super::task_ref::TaskRef;
use super::waker::borrowed_waker;
use super::{join, JoinError, RunResult};
use crate::sync::cell::UnsafeCell;
use crate::wheel::TimerLinks;
use crate::Priority;
use core::any::Any;
use core::mem::ManuallyDrop;
use core::panic::AssertUnwindSafe;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};
use std::panic::catch_unwind;

/// A panic payload behind a thin pointer, so the stage stays one word wide.
pub(crate) type PanicPayload = Box<Box<dyn Any + Send + 'static>>;

union Stage<B: Body> {
    body: ManuallyDrop<B>,
    output: ManuallyDrop<B::Output>,
    panic: ManuallyDrop<PanicPayload>,
}

#[repr(C)]
struct Cell<B: Body, K: SchedulerSlot, L: CellLinks> {
    header: Header,
    /// [`TimerLinks`] in a cell that may enter a wheel, else nothing (see
    /// [`Header::timer_links`], which finds them right after the header).
    links: L,
    scheduler: K,
    stage: UnsafeCell<Stage<B>>,
}

/// The scheduler part of a cell: `Option<S>`, or [`Absent`] (see [`carries_scheduler`]).
pub(crate) trait SchedulerSlot: Send + Sync + Sized + 'static {
    /// The scheduler type.
    type S: Schedule;
    /// The scheduler, if the cell has one.
    fn get(&self) -> Option<&Self::S>;
}

impl<S: Schedule> SchedulerSlot for Option<S> {
    type S = S;
    fn get(&self) -> Option<&S> {
        self.as_ref()
    }
}

/// No scheduler, in no bytes: the cell of a closure (see [`carries_scheduler`]).
pub(crate) struct Absent<S>(core::marker::PhantomData<fn() -> S>);

impl<S: Schedule> SchedulerSlot for Absent<S> {
    type S = S;
    fn get(&self) -> Option<&S> {
        None
    }
}

/// The wheel-links part of a cell: [`TimerLinks`] or nothing at all.
pub(crate) trait CellLinks: Sized + 'static {
    /// Whether the cell has links ([`Header::has_links`]).
    const HAS_LINKS: bool;
    /// Unlinked links.
    fn unlinked() -> Self;
}

impl CellLinks for TimerLinks {
    const HAS_LINKS: bool = true;
    fn unlinked() -> Self {
        TimerLinks::new()
    }
}

/// No wheel links: the cell of a ready task that carries no latency sample.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoLinks;

impl CellLinks for NoLinks {
    const HAS_LINKS: bool = false;
    fn unlinked() -> Self {
        NoLinks
    }
}

/// What a new task looks like. [`TaskOptions::ready`] and [`TaskOptions::timed`] give
/// the plain cases; the runtime sets every field.
#[derive(Debug, Clone, Copy)]
pub struct TaskOptions {
    /// Its priority.
    pub priority: Priority,
    /// `Some(due)` for a timed task: it starts in a wheel with this due tick.
    pub due: Option<u64>,
    /// Whether a join handle is made.
    pub join: bool,
    /// The runtime's [`home`](super::home) slot (0: none).
    pub home: usize,
    /// Whether the task holds a unit of its runtime's admission count.
    pub holds_unit: bool,
    /// The worker whose wheel a timed task goes to (0 for a ready task). Set here, in
    /// the new state word, so registering a timer costs no atomic update of it.
    pub owner: usize,
    /// Non-zero for a ready task whose submit-to-start latency is sampled: its submit
    /// tick, kept in wheel links allocated for the purpose (0 for a timed task).
    pub sample_tick: u64,
}

impl TaskOptions {
    /// A ready task at `priority`: no handle, no home, no admission unit, no sample.
    pub fn ready(priority: Priority) -> TaskOptions {
        TaskOptions { priority, due: None, join: false, home: 0, holds_unit: false, owner: 0, sample_tick: 0 }
    }

    /// A task at `priority` for worker 0's wheel, due at tick `due`; otherwise as
    /// [`ready`](Self::ready).
    pub fn timed(priority: Priority, due: u64) -> TaskOptions {
        TaskOptions { due: Some(due), ..TaskOptions::ready(priority) }
    }
}

/// Allocates a task. Returns the scheduler-side reference (for a run queue, or a wheel if
/// `opts.due` is set) and, if `opts.join`, the handle's raw reference.
///
/// A timed task, or a ready one with a `sample_tick`, gets a cell with wheel links;
/// any other ready task a cell without (24 bytes smaller). The cell keeps `scheduler`
/// if one is given (a runtime gives one exactly when [`carries_scheduler`] says so; the
/// loom models give one to every task, to see when cells are freed); a closure given
/// none gets a cell without a scheduler field.
#[inline]
pub fn allocate<B: Body, S: Schedule>(
    body: B,
    scheduler: Option<S>,
    opts: TaskOptions,
) -> (TaskRef, Option<NonNull<Header>>) {
    if B::IS_FUTURE || scheduler.is_some() {
        allocate_with_scheduler::<B, Option<S>>(body, scheduler, opts)
    } else {
        allocate_with_scheduler::<B, Absent<S>>(body, Absent(core::marker::PhantomData), opts)
    }
}

/// Whether a runtime should give a task with this body and these options a scheduler
/// (see [`allocate`]): a future always; a closure only when it is timed and has no home
/// slot (`opts.home == 0`), since otherwise its handle's cancel finds the runtime
/// through the slot.
#[inline]
pub fn carries_scheduler<B: Body>(opts: &TaskOptions) -> bool {
    B::IS_FUTURE || (opts.due.is_some() && opts.home == 0)
}

/// [`allocate`] with scheduler slot `K`.
#[inline]
fn allocate_with_scheduler<B: Body, K: SchedulerSlot>(
    body: B,
    scheduler: K,
    opts: TaskOptions,
) -> (TaskRef, Option<NonNull<Header>>) {
    match opts.due.or((opts.sample_tick != 0).then_some(opts.sample_tick)) {
        Some(tick) => allocate_with::<B, K, TimerLinks>(body, scheduler, opts, tick),
        None => allocate_with::<B, K, NoLinks>(body, scheduler, opts, 0),
    }
}

/// [`allocate`] with scheduler slot `K` and links `L`; `tick` goes into the links, if any.
#[inline]
fn allocate_with<B: Body, K: SchedulerSlot, L: CellLinks>(
    body: B,
    scheduler: K,
    opts: TaskOptions,
    tick: u64,
) -> (TaskRef, Option<NonNull<Header>>) {
    let refs = 1 + usize::from(opts.join);
    let cell = Box::new(Cell::<B, K, L> {
        header: Header { state: State::new(refs, &opts), vtable: vtable::<B, K, L>() },
        links: L::unlinked(),
        scheduler,
        stage: UnsafeCell::new(Stage { body: ManuallyDrop::new(body) }),
    });
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    if L::HAS_LINKS {
        // SAFETY: the cell is live, has links, and is not shared yet, so we have
        // exclusive access to them.
        unsafe { TimerLinks::set_due(Header::timer_links(ptr), tick) };
    }
    // SAFETY: `State::new` counted one reference for the scheduler side...
    let task = unsafe { TaskRef::from_raw(ptr) };
    // ...and one for the handle if `opts.join`.
    (task, opts.join.then_some(ptr))
}

fn vtable<B: Body, K: SchedulerSlot, L: CellLinks>() -> &'static Vtable {
    trait HasVtable {
        const VTABLE: Vtable;
    }
    impl<B: Body, K: SchedulerSlot, L: CellLinks> HasVtable for (B, K, L) {
        const VTABLE: Vtable = Vtable {
            run: run::<B, K, L>,
            dealloc: dealloc::<B, K, L>,
            cancel: cancel::<B, K, L>,
            read_outcome: read_outcome::<B, K, L>,
            drop_outcome: drop_outcome::<B, K, L>,
            schedule: schedule::<B, K, L>,
            is_future: B::IS_FUTURE,
            has_links: L::HAS_LINKS,
            starts_at_shutdown: B::STARTS_AT_SHUTDOWN,
            is_runtime_timer: B::IS_RUNTIME_TIMER,
        };
    }
    &<(B, K, L) as HasVtable>::VTABLE
}

/// # Safety
/// `ptr` points to a live `Cell<B, K, L>`.
unsafe fn cell<'a, B: Body, K: SchedulerSlot, L: CellLinks>(ptr: NonNull<Header>) -> &'a Cell<B, K, L> {
    // SAFETY: the header is the first field of a `#[repr(C)]` cell of this type.
    unsafe { ptr.cast::<Cell<B, K, L>>().as_ref() }
}

/// Runs `f` and swallows a panic from it: used for user `Drop` impls inside workers.
fn drop_quietly(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}

unsafe fn run<B: Body, K: SchedulerSlot, L: CellLinks>(
    ptr: NonNull<Header>,
    epoch: u8,
    on_first_run: &mut dyn FnMut(),
) -> RunResult {
    // SAFETY: the queue reference we were given keeps the cell alive.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    if !B::IS_FUTURE {
        if let Some(first) = cell.header.state.is_sole_reference(epoch) {
            if first {
                on_first_run();
            }
            // SAFETY: ours is the only reference, and the stage holds the body.
            return unsafe { run_sole::<B, K, L>(ptr) };
        }
    }
    match cell.header.state.transition_to_running(epoch) {
        ToRunning::Run { first } => {
            if first {
                on_first_run();
            }
        }
        ToRunning::Skip(snapshot) => {
            // SAFETY: we give up the queue's reference.
            unsafe { super::task_ref::release(ptr) };
            return RunResult::Skipped(snapshot);
        }
        ToRunning::Stale => {
            // SAFETY: we give up the queue's reference.
            unsafe { super::task_ref::release(ptr) };
            return RunResult::Stale;
        }
    }
    // SAFETY: we hold the queue's reference for as long as the borrowed waker lives.
    let waker = unsafe { borrowed_waker(ptr) };
    // SAFETY: `RUNNING` gives us the stage; before completion it holds the body.
    let polled = unsafe { poll_body(cell, &mut Context::from_waker(&waker)) };
    match polled {
        Ok(Poll::Ready(Err(abort))) => {
            if B::IS_FUTURE {
                // SAFETY: futures stay in place after `run`; we own the stage. A panicking
                // destructor is swallowed: the abort outcome stands.
                let _ = unsafe { drop_body::<B, K, L>(cell) };
            }
            // SAFETY: we own the stage, the body is gone, and we hold the queue's reference.
            unsafe { finish::<B, K, L>(ptr, abort.outcome(), None, true) }
        }
        Ok(Poll::Ready(Ok(output))) => {
            if B::IS_FUTURE {
                // SAFETY: futures stay in place after `run`; we own the stage.
                let dropped = unsafe { drop_body::<B, K, L>(cell) };
                if !dropped {
                    drop_quietly(move || drop(output));
                    let payload: Box<dyn Any + Send> =
                        Box::new("the task's future panicked while being dropped after it completed");
                    // SAFETY: we own the stage and hold the queue's reference.
                    return unsafe {
                        finish::<B, K, L>(ptr, Outcome::Panicked, Some(Err(Box::new(payload))), true)
                    };
                }
            }
            // SAFETY: we own the stage and hold the queue's reference.
            unsafe { finish::<B, K, L>(ptr, Outcome::Output, Some(Ok(output)), true) }
        }
        Ok(Poll::Pending) => match cell.header.state.transition_to_idle() {
            ToIdle::Idle { last_ref } => {
                if last_ref {
                    // SAFETY: our reference was the last one.
                    unsafe { dealloc::<B, K, L>(ptr) };
                }
                RunResult::Idle
            }
            // SAFETY: the queue reference is handed on to the next queue (a wake-up entry:
            // stamped with the current epoch).
            ToIdle::Reschedule => RunResult::Yielded(unsafe { TaskRef::from_raw(ptr) }.stamped()),
            ToIdle::Cancel(outcome) => {
                // SAFETY: still `RUNNING`: we own the stage, which holds the future.
                unsafe { drop_body::<B, K, L>(cell) };
                // SAFETY: we own the stage and hold the queue's reference.
                unsafe { finish::<B, K, L>(ptr, outcome, None, true) }
            }
        },
        Err(payload) => {
            if B::IS_FUTURE {
                // SAFETY: a panicking poll leaves the future in place; we own the stage.
                unsafe { drop_body::<B, K, L>(cell) };
            }
            // SAFETY: we own the stage and hold the queue's reference.
            unsafe { finish::<B, K, L>(ptr, Outcome::Panicked, Some(Err(Box::new(payload))), true) }
        }
    }
}

#[cfg(loom)]
std::thread_local! {
    static SOLE_RUNS: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// How many runs on this thread took the sole-reference path (loom models check that an
/// interleaving reaches it; loom runs a model's threads on the calling thread).
#[cfg(loom)]
#[doc(hidden)]
pub fn sole_runs() -> usize {
    SOLE_RUNS.with(|n| n.get())
}

/// Runs a closure whose queue reference is the only one left
/// ([`State::is_sole_reference`]), and frees the cell. Nobody else can reach the cell,
/// so no handle will read the outcome and no other thread reads the state word: the
/// run, the completion and the free write nothing to it.
///
/// # Safety
/// The caller holds the only reference and gives it up; `B` is a closure
/// (`IS_FUTURE == false`) and the stage holds it.
unsafe fn run_sole<B: Body, K: SchedulerSlot, L: CellLinks>(ptr: NonNull<Header>) -> RunResult {
    // SAFETY: our reference keeps the cell alive until it is freed below.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    // SAFETY: the only reference gives us the stage, which holds the body.
    let polled = unsafe { poll_body(cell, &mut Context::from_waker(Waker::noop())) };
    let outcome = match polled {
        Ok(Poll::Ready(Ok(output))) => {
            drop_quietly(move || drop(output));
            Outcome::Output
        }
        Ok(Poll::Ready(Err(abort))) => abort.outcome(),
        Err(payload) => {
            drop_quietly(move || drop(payload));
            Outcome::Panicked
        }
        // A closure never returns `Pending` (`Body`'s contract), and it is gone either way.
        Ok(Poll::Pending) => {
            debug_assert!(false, "a closure body returned Pending");
            Outcome::Output
        }
    };
    #[cfg(loom)]
    SOLE_RUNS.with(|n| n.set(n.get() + 1));
    // SAFETY: the cell was allocated by `Box` in `allocate` with this exact type, ours is
    // the only reference, and the stage is empty (the closure moved itself out), which
    // its `ManuallyDrop` fields leave alone.
    let boxed = unsafe { Box::from_raw(ptr.cast::<Cell<B, K, L>>().as_ptr()) };
    drop_quietly(move || drop(boxed));
    RunResult::Finished(outcome)
}

/// Runs or polls the body once, catching a panic.
///
/// # Safety
/// The caller owns the stage (a `RUNNING` claim or the only reference) and it holds the
/// body; afterwards it holds what `Body::run`'s contract says.
unsafe fn poll_body<B: Body, K: SchedulerSlot, L: CellLinks>(
    cell: &Cell<B, K, L>,
    cx: &mut Context<'_>,
) -> std::thread::Result<Poll<Result<B::Output, super::body::Abort>>> {
    cell.stage.with_mut(|stage| {
        // SAFETY: per the caller's contract the stage holds an initialised body.
        let body: *mut B = unsafe { core::ptr::addr_of_mut!((*stage).body).cast::<B>() };
        // SAFETY: as above; `Body::run` takes the body per its contract.
        catch_unwind(AssertUnwindSafe(|| unsafe { B::run(body, cx) }))
    })
}

/// Drops the body in place; false if its destructor panicked (the panic is swallowed).
///
/// # Safety
/// The caller owns the stage and it holds the body.
unsafe fn drop_body<B: Body, K: SchedulerSlot, L: CellLinks>(cell: &Cell<B, K, L>) -> bool {
    cell.stage.with_mut(|stage| {
        // SAFETY: per the caller's contract the stage holds an initialised body.
        catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(&mut (*stage).body) })).is_ok()
    })
}

/// Stores the outcome (or drops it if no handle will read it), publishes completion,
/// wakes the joiner, and, if `release`, gives up the caller's reference.
///
/// # Safety
/// The caller owns the stage (`RUNNING`), the body is already gone, and the caller holds
/// one reference.
unsafe fn finish<B: Body, K: SchedulerSlot, L: CellLinks>(
    ptr: NonNull<Header>,
    outcome: Outcome,
    value: Option<Result<B::Output, PanicPayload>>,
    release: bool,
) -> RunResult {
    // SAFETY: the caller's reference keeps the cell alive.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    let state = &cell.header.state;
    // `JOIN_INTEREST` is never set again once cleared, so a handle seen absent now stays absent.
    let keep = state.load().has_join_interest();
    let discarded = value.is_some() && !keep;
    match value {
        Some(Ok(output)) if keep => cell.stage.with_mut(|stage| {
            // SAFETY: we own the stage; the body is gone, so the slot is free.
            unsafe { (*stage).output = ManuallyDrop::new(output) }
        }),
        Some(Err(payload)) if keep => cell.stage.with_mut(|stage| {
            // SAFETY: as above.
            unsafe { (*stage).panic = ManuallyDrop::new(payload) }
        }),
        Some(Ok(output)) => drop_quietly(move || drop(output)),
        Some(Err(payload)) => drop_quietly(move || drop(payload)),
        None => {}
    }
    if B::IS_FUTURE {
        if let Some(s) = cell.scheduler.get() {
            // SAFETY: the caller's reference keeps the cell alive for this borrowed view.
            let me = core::mem::ManuallyDrop::new(unsafe { TaskRef::from_raw(ptr) });
            s.future_completed(&me, outcome);
        }
    }
    let done = state.transition_to_complete(outcome, release, discarded);
    if done.wake_joiner {
        join::wake_joiner(ptr);
        if release {
            // SAFETY: the completion kept our reference because a joiner had to be woken.
            unsafe { super::task_ref::release(ptr) };
        }
    } else if done.last_ref {
        // SAFETY: our reference was released in the completion and was the last one.
        unsafe { dealloc::<B, K, L>(ptr) };
    }
    RunResult::Finished(outcome)
}

unsafe fn cancel<B: Body, K: SchedulerSlot, L: CellLinks>(ptr: NonNull<Header>, outcome: Outcome) -> bool {
    // SAFETY: the caller holds a reference.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    if let Some(s) = cell.scheduler.get() {
        // SAFETY: as above.
        return unsafe { cancel_with::<B, K, L, K::S>(ptr, outcome, Some(s)) };
    }
    let snap = cell.header.state.load();
    if snap.is_timed() && !snap.is_complete() && snap.home() != 0 {
        // A timed closure without a scheduler: its home lends one, pinned for the call
        // (see "Which cells carry a scheduler" above).
        let mut cancelled = false;
        super::home::with_scheduler(snap.home(), &mut |s| {
            // SAFETY: as above.
            cancelled = unsafe { cancel_with::<B, K, L, dyn Schedule>(ptr, outcome, s) };
        });
        return cancelled;
    }
    // SAFETY: as above.
    unsafe { cancel_with::<B, K, L, K::S>(ptr, outcome, None) }
}

/// Claims the task for cancel; if that wins and the task waited in a wheel, tells the
/// wheel's owner through `scheduler` (if none, the owner finds the task claimed when it
/// comes due or at shutdown).
///
/// # Safety
/// The caller holds a reference to a live `Cell<B, K, L>`.
unsafe fn cancel_with<B: Body, K: SchedulerSlot, L: CellLinks, Sc: Schedule + ?Sized>(
    ptr: NonNull<Header>,
    outcome: Outcome,
    scheduler: Option<&Sc>,
) -> bool {
    // SAFETY: the caller holds a reference.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    match cell.header.state.claim_for_cancel(B::IS_FUTURE, outcome) {
        CancelClaim::Claimed { was_timed } => {
            // SAFETY: the claim gives us the stage, which still holds the body.
            unsafe { drop_body::<B, K, L>(cell) };
            if was_timed {
                if let Some(s) = scheduler {
                    // SAFETY: the caller's reference keeps the cell alive; the clone is the message's.
                    let me = core::mem::ManuallyDrop::new(unsafe { TaskRef::from_raw(ptr) });
                    s.timer_cancelled(TaskRef::clone(&me));
                }
            }
            // SAFETY: we own the stage, the body is gone, and the caller holds a reference
            // that `finish` must not release (`release == false`).
            let _ = unsafe { finish::<B, K, L>(ptr, outcome, None, false) };
            true
        }
        CancelClaim::Requested | CancelClaim::TooLate => false,
    }
}

unsafe fn read_outcome<B: Body, K: SchedulerSlot, L: CellLinks>(
    ptr: NonNull<Header>,
    dst: *mut (),
    id: super::TaskId,
) {
    // SAFETY: the handle holds a reference and the task is complete.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    let snap = cell.header.state.load();
    debug_assert!(snap.is_complete() && !snap.is_output_taken());
    let result: Result<B::Output, JoinError> = match snap.outcome() {
        Outcome::Output => cell.stage.with_mut(|stage| {
            // SAFETY: outcome `Output` and not taken: the stage holds the output, which we move out.
            Ok(unsafe { ManuallyDrop::take(&mut (*stage).output) })
        }),
        Outcome::Panicked => cell.stage.with_mut(|stage| {
            // SAFETY: outcome `Panicked` and not taken: the stage holds the payload.
            let payload = unsafe { ManuallyDrop::take(&mut (*stage).panic) };
            Err(JoinError::panicked(id, *payload))
        }),
        Outcome::Cancelled => Err(JoinError::cancelled(id)),
        Outcome::Shutdown => Err(JoinError::shutdown(id)),
        Outcome::Expired => Err(JoinError::expired(id)),
        Outcome::TimedOut => Err(JoinError::timed_out(id)),
    };
    cell.header.state.set_output_taken();
    // SAFETY: the caller passes a valid, writable `*mut Result<B::Output, JoinError>`.
    unsafe { dst.cast::<Result<B::Output, JoinError>>().write(result) };
}

unsafe fn drop_outcome<B: Body, K: SchedulerSlot, L: CellLinks>(ptr: NonNull<Header>) {
    // SAFETY: the handle holds a reference and the task is complete.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    let snap = cell.header.state.load();
    if snap.is_output_taken() {
        return;
    }
    cell.header.state.set_output_taken();
    // SAFETY: complete and not taken: the stage holds what the outcome names.
    unsafe { drop_stage_outcome::<B, K, L>(cell, snap.outcome()) };
}

/// # Safety
/// The stage holds the value that `outcome` names and nobody else will touch it.
unsafe fn drop_stage_outcome<B: Body, K: SchedulerSlot, L: CellLinks>(
    cell: &Cell<B, K, L>,
    outcome: Outcome,
) {
    cell.stage.with_mut(|stage| match outcome {
        // SAFETY: per the caller's contract.
        Outcome::Output => drop_quietly(|| unsafe { ManuallyDrop::drop(&mut (*stage).output) }),
        // SAFETY: per the caller's contract.
        Outcome::Panicked => drop_quietly(|| unsafe { ManuallyDrop::drop(&mut (*stage).panic) }),
        Outcome::Cancelled | Outcome::Shutdown | Outcome::Expired | Outcome::TimedOut => {}
    })
}

unsafe fn dealloc<B: Body, K: SchedulerSlot, L: CellLinks>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone: we have exclusive access.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    let snap = cell.header.state.load();
    if !snap.is_complete() {
        // An idle future nobody can wake any more, or a task dropped unrun by a queue
        // that was torn down: the body is still there.
        // SAFETY: not complete and not running: the stage holds the body.
        unsafe { drop_body::<B, K, L>(cell) };
    } else if !snap.is_output_taken() {
        // SAFETY: complete and not taken: the stage holds what the outcome names.
        unsafe { drop_stage_outcome::<B, K, L>(cell, snap.outcome()) };
    }
    // SAFETY: the cell was allocated by `Box` in `allocate` with this exact type.
    let boxed = unsafe { Box::from_raw(ptr.cast::<Cell<B, K, L>>().as_ptr()) };
    drop_quietly(move || drop(boxed));
}

unsafe fn schedule<B: Body, K: SchedulerSlot, L: CellLinks>(ptr: NonNull<Header>) {
    // SAFETY: the caller passes the run queue's reference (a wake-up entry: stamped with
    // the current epoch, which no longer moves once the task started).
    let task = unsafe { TaskRef::from_raw(ptr) }.stamped();
    // SAFETY: the reference keeps the cell alive.
    let cell = unsafe { cell::<B, K, L>(ptr) };
    match cell.scheduler.get() {
        Some(s) => s.schedule(task),
        // A future always has a scheduler; a closure is never woken. Dropping the
        // reference is the only safe thing left to do.
        None => drop(task),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::{Closure, JoinHandle};

    /// Never called: the tests below run no task through a scheduler.
    use super::super::test_tasks::Unused;

    fn opts(due: Option<u64>, sample_tick: u64) -> TaskOptions {
        TaskOptions { due, sample_tick, ..TaskOptions::ready(Priority::NORMAL) }
    }

    fn due_of(task: &TaskRef) -> u64 {
        // SAFETY: the test holds the only reference; the links are in no wheel.
        unsafe { TimerLinks::due(task.timer_links()) }
    }

    /// Counts drops of the value it guards.
    struct Dropped(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_detached_closure_runs_alone_and_reports_output_and_panic() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let out = Dropped(drops.clone());
        let (task, join) = allocate(Closure(move || out), None::<Unused>, opts(None, 0));
        assert!(join.is_none());
        assert_eq!(task.header().state.is_sole_reference(task.epoch()), Some(true));
        assert!(matches!(task.run(), RunResult::Finished(Outcome::Output)));
        assert_eq!(drops.load(SeqCst), 1, "the unread output was dropped once");

        let kept = Dropped(drops.clone());
        let (task, _) = allocate(
            Closure(move || {
                let _kept = kept;
                panic!("a detached task's panic");
            }),
            None::<Unused>,
            opts(None, 0),
        );
        assert!(matches!(task.run(), RunResult::Finished(Outcome::Panicked)));
        assert_eq!(drops.load(SeqCst), 2, "the closure's captures were dropped in the unwind");
    }

    #[test]
    fn a_ready_cell_has_no_links_and_is_smaller_by_their_size() {
        type Ready = Cell<Closure<fn()>, Absent<Unused>, NoLinks>;
        type Timed = Cell<Closure<fn()>, Absent<Unused>, TimerLinks>;
        assert_eq!(
            core::mem::size_of::<Timed>() - core::mem::size_of::<Ready>(),
            core::mem::size_of::<TimerLinks>()
        );
        assert_eq!(core::mem::offset_of!(Timed, links), core::mem::size_of::<Header>());
        // An 8-byte closure: 48 bytes timed, 24 ready, as the module doc says.
        assert_eq!((core::mem::size_of::<Timed>(), core::mem::size_of::<Ready>()), (48, 24));
        assert_eq!(core::mem::size_of::<Absent<Unused>>(), 0);
        let (ready, _) = allocate(Closure(|| ()), None::<Unused>, opts(None, 0));
        assert!(!ready.header().has_links());
        assert!(matches!(ready.run(), RunResult::Finished(Outcome::Output)));
    }

    #[test]
    fn timed_and_sampled_cells_carry_their_tick_in_their_links() {
        let (timed, _) = allocate(Closure(|| ()), None::<Unused>, opts(Some(77), 0));
        assert!(timed.header().has_links());
        assert_eq!(due_of(&timed), 77);
        assert!(timed.cancel(Outcome::Cancelled));
        let (sampled, _) = allocate(Closure(|| ()), None::<Unused>, opts(None, 9));
        assert!(sampled.header().has_links());
        assert_eq!(due_of(&sampled), 9);
        assert!(matches!(sampled.run(), RunResult::Finished(Outcome::Output)));
    }

    /// Counts the cancel messages it is sent.
    #[derive(Default)]
    struct CancelMessages(std::sync::atomic::AtomicUsize);

    impl Schedule for std::sync::Arc<CancelMessages> {
        fn schedule(&self, _task: TaskRef) {
            unreachable!()
        }
        fn timer_cancelled(&self, _task: TaskRef) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn future_completed(&self, _task: &TaskRef, _outcome: Outcome) {}
    }

    #[test]
    fn only_futures_and_homeless_timed_closures_keep_a_scheduler() {
        use crate::task::FutureBody;
        type C = Closure<fn()>;
        type F = FutureBody<core::future::Ready<()>>;
        let homed = |due| TaskOptions { home: 3, ..opts(due, 0) };
        assert!(!carries_scheduler::<C>(&opts(None, 0)));
        assert!(!carries_scheduler::<C>(&opts(None, 9)));
        assert!(!carries_scheduler::<C>(&homed(Some(5))));
        assert!(carries_scheduler::<C>(&opts(Some(5), 0)));
        assert!(carries_scheduler::<F>(&opts(None, 0)));
        assert!(carries_scheduler::<F>(&homed(Some(5))));
    }

    #[test]
    fn a_homeless_timed_closure_sends_its_cancel_message_through_its_own_scheduler() {
        let messages = std::sync::Arc::new(CancelMessages::default());
        let (timed, join) =
            allocate(Closure(|| ()), Some(messages.clone()), TaskOptions { join: true, ..opts(Some(7), 0) });
        // SAFETY: `allocate` with `join: true` returned the handle's reference to a cell of output `()`.
        let join = unsafe { JoinHandle::<()>::from_raw(join.unwrap()) };
        assert!(join.cancel());
        assert_eq!(messages.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(!join.cancel(), "a second cancel finds the task claimed");
        assert_eq!(messages.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        drop(timed);
    }

    /// A home that lends a [`CancelMessages`] scheduler.
    struct LendingHome(std::sync::Arc<CancelMessages>);

    impl crate::task::home::Home for LendingHome {
        fn enter(&self) -> bool {
            unreachable!()
        }
        fn requeue(&self, _task: TaskRef) {
            unreachable!()
        }
        fn leave(&self) {
            unreachable!()
        }
        fn with_scheduler(&self, f: &mut dyn FnMut(&dyn Schedule)) -> bool {
            f(&self.0);
            true
        }
    }

    #[test]
    fn a_homed_timed_closure_sends_its_cancel_message_through_its_home() {
        use crate::task::home;
        let messages = std::sync::Arc::new(CancelMessages::default());
        let slot = home::register(std::sync::Arc::new(LendingHome(messages.clone())));
        assert_ne!(slot, 0, "the home table is full");
        let options = TaskOptions { join: true, home: slot, ..opts(Some(7), 0) };
        let (timed, join) = allocate(Closure(|| ()), None::<Unused>, options);
        // SAFETY: `allocate` with `join: true` returned the handle's reference to a cell of output `()`.
        let join = unsafe { JoinHandle::<()>::from_raw(join.unwrap()) };
        assert!(join.cancel());
        assert!(!join.cancel());
        assert_eq!(messages.0.load(std::sync::atomic::Ordering::SeqCst), 1, "one message, through the home");
        drop(timed);
        // SAFETY: the slot is this test's, and its only task was just dropped.
        unsafe { home::unregister(slot) };
    }

    #[test]
    #[should_panic(expected = "without timer links")]
    fn asking_a_linkless_task_for_its_links_panics() {
        let (ready, _) = allocate(Closure(|| ()), None::<Unused>, opts(None, 0));
        let _ = ready.timer_links();
    }
}
