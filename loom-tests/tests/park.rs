//! loom models of the sleep/wake protocol (`kairos_rt_core::idle`, `kairos_rt_core::park`)
//! as the runtime drives it: a task submitted while the only worker goes to sleep is
//! always found, without relying on a timeout.
//!
//! The core pieces are real (`Injectors`, `Idle`, `Parker`, `TimerDriver`, `TimerInbox`,
//! and `ParkDoor`, which holds both sides of the timer and cancel senders' protocol with
//! its fences: the runtime calls the same door). The order of calls on them is the runtime's, mirrored
//! here because the runtime's worker and shared state are private to the `kairos` crate;
//! each mirrored function names the runtime function it follows. Only the calls that take
//! part in the protocol are mirrored (no spinning phase, no peers to steal from: there is
//! one worker).
//!
//! A lost wake-up shows up in two ways: loom reports a deadlock (the worker parked, the
//! submitter finished, nobody will unpark it), or the worker's bounded loop ends without
//! the task. loom's `Condvar::wait_timeout` never times out (loom 0.7 implements it as
//! `wait`), so `Parker::park_timeout` returns only when a permit arrives: a protocol that
//! needed the timeout to make progress deadlocks here. The timer model also asserts that
//! every return from `park_timeout` consumed a permit, so it would still fail if a future
//! loom let the timeout fire (the clock is frozen, so a timeout means the deadline of an
//! unrelated, later timer was what woke the worker).
#![cfg(loom)]

#[allow(dead_code)]
mod common;

use common::{counter, detached_task, get, model, step, Hub};
use kairos_rt_core::idle::Idle;
use kairos_rt_core::park::Parker;
use kairos_rt_core::park_door::{Knock, ParkDoor};
use kairos_rt_core::queue::{Injectors, RunQueue};
use kairos_rt_core::sync::deque::{Injector, Steal};
use kairos_rt_core::task::{allocate, Closure, RunResult, TaskOptions, TaskRef};
use kairos_rt_core::timer::{Inserted, TimerDriver};
use kairos_rt_core::timer_inbox::TimerInbox;
use kairos_rt_core::Priority;
use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering::*};
use loom::sync::Arc;
use loom::thread;
use std::cell::Cell;
use std::time::Duration;

/// How many rounds of its main loop the worker may take to find the task.
const MAX_ROUNDS: usize = 3;

/// The shared state of a one-worker runtime (`runtime/src/shared.rs`, `Shared` and the
/// worker's `Remote`).
struct Rt {
    injectors: Injectors,
    idle: Idle,
    parker: Parker,
    /// The worker's park door: the runtime's own (`kairos_rt_core::park_door`).
    door: ParkDoor,
    timer_inbox: TimerInbox,
    timer_cancels: Injector<TaskRef>,
}

impl Rt {
    fn new() -> Arc<Rt> {
        Arc::new(Rt {
            injectors: Injectors::new(),
            idle: Idle::new(1),
            parker: Parker::new(),
            door: ParkDoor::new(),
            timer_inbox: TimerInbox::new(),
            timer_cancels: Injector::new(),
        })
    }

    /// `Shared::push_injected` (minus the closed check): push, then wake a sleeper if
    /// nobody searches.
    ///
    /// `push_injected` says "`Injectors::push` ends with a SeqCst fence", but the fence in
    /// `Injectors::push` comes before its mask update. What orders the mask update before
    /// `Idle::notify_one`'s read of the idle state is that both are `SeqCst` accesses, which
    /// loom models as `AcqRel` (loom README, "Unsupported features"). With
    /// `fence_after_push`, the model issues the fence the comment describes; in C11 it adds
    /// nothing to two `SeqCst` accesses, and it lets loom see the order they already have.
    fn push_injected(&self, task: TaskRef, fence_after_push: bool) {
        self.injectors.push(task);
        if fence_after_push {
            fence(SeqCst);
        }
        step("submitter: Injectors::push done");
        // `Shared::notify_one`
        let woken = self.idle.notify_one();
        step(format!("submitter: Idle::notify_one -> {woken:?}"));
        if let Some(i) = woken {
            assert_eq!(i, 0);
            self.parker.unpark();
            step("submitter: unparked worker 0");
        }
    }

    /// `Shared::push_timer_inbox`: push into the owner's inbox, fence, and unpark a
    /// parked owner if it sleeps past the new due tick or if no submitter has woken it
    /// for its inbox during this park yet.
    fn push_timer_inbox(&self, task: TaskRef, due: u64) {
        self.timer_inbox.push(task);
        let knock = self.door.after_timer_push(due);
        step(format!("submitter: pushed timer due {due}, door says {knock:?}"));
        // One worker: `Knock::Peer` (the owner awake) wakes nobody here.
        if knock == Knock::Owner {
            self.parker.unpark();
            step("submitter: unparked worker 0");
        }
    }
}

impl Rt {
    /// `Sched::timer_cancelled` (`runtime/src/sched/shared.rs`) for a parked or parking
    /// owner: push the cancelled task into its cancel queue, fence, and unpark it if it
    /// is parked and this is the first message of its park (the inbox's flag).
    fn send_cancel(&self, task: TaskRef) {
        self.timer_cancels.push(task);
        let knock = self.door.after_cancel_push();
        step(format!("canceller: pushed a cancel, door says {knock:?}"));
        if knock == Knock::Owner {
            self.parker.unpark();
            step("canceller: unparked worker 0");
        }
    }

    /// Drains the cancel queue (`WorkerCtx::tend`: here the cancelled tasks are dropped).
    fn drain_cancels(&self) -> usize {
        let mut n = 0;
        loop {
            match self.timer_cancels.steal() {
                Steal::Success(t) => {
                    drop(t);
                    n += 1;
                }
                Steal::Retry => continue,
                Steal::Empty => return n,
            }
        }
    }
}

/// The worker's private state (`runtime/src/worker.rs`, `WorkerCtx`).
struct Worker {
    rt: Arc<Rt>,
    queue: RunQueue,
    searching: Cell<bool>,
}

impl Worker {
    fn new(rt: Arc<Rt>) -> Worker {
        Worker { rt, queue: RunQueue::new(), searching: Cell::new(false) }
    }

    /// `WorkerCtx::next_task`, for an empty local queue or a local-first pick.
    fn next_task(&self) -> Option<TaskRef> {
        if self.queue.highest().is_none() {
            return self
                .rt
                .injectors
                .mask()
                .highest()
                .and_then(|_| self.rt.injectors.steal_into(&self.queue, Priority::LOWEST));
        }
        self.queue.pop().or_else(|| self.rt.injectors.steal_into(&self.queue, Priority::LOWEST))
    }

    /// `WorkerCtx::stop_searching`: the last searcher out wakes a sleeper only if ready
    /// work still waits (`ready_work_waiting`, with no peers).
    fn stop_searching(&self) {
        if self.searching.replace(false) && self.rt.idle.stop_searching() {
            fence(SeqCst);
            if !self.queue.is_empty() || self.rt.injectors.has_work() {
                if let Some(i) = self.rt.idle.notify_one() {
                    assert_eq!(i, 0);
                    self.rt.parker.unpark();
                }
            }
        }
    }

    /// `WorkerCtx::search` with no peers (one worker): become a searcher, check the
    /// injectors.
    fn search(&self) -> Option<TaskRef> {
        if !self.searching.get() {
            if !self.rt.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let found = self.rt.injectors.steal_into(&self.queue, Priority::LOWEST);
        step(format!("worker: searching, found = {}", found.is_some()));
        if found.is_some() {
            self.stop_searching();
        }
        found
    }

    /// `WorkerCtx::work_hint` with no peers.
    fn work_hint(&self) -> bool {
        !self.queue.is_empty()
            || self.rt.injectors.maybe_has_work()
            || !self.rt.timer_inbox.is_empty()
            || !self.rt.timer_cancels.is_empty()
    }

    /// `WorkerCtx::park` after its spinning phase: register as a sleeper, publish
    /// `parked_until`, fence, re-check, park (with a timeout if a timer waits). Returns
    /// whether a `park_timeout` returned without a permit.
    fn park(&self, next_timer: Option<u64>, now: u64) -> bool {
        let was_searching = self.searching.replace(false);
        self.rt.idle.register_sleeper(0, was_searching);
        self.rt.door.close(next_timer.unwrap_or(u64::MAX));
        step(format!("worker: registered as sleeper (was searching: {was_searching}), fenced"));
        let mut timed_out = false;
        let hint = self.work_hint();
        step(format!("worker: re-check work_hint = {hint}"));
        if !hint {
            step("worker: parking");
            match next_timer {
                Some(tick) => timed_out = !self.rt.parker.park_timeout(Duration::from_micros(tick - now)),
                None => self.rt.parker.park(),
            }
        }
        self.rt.door.open();
        let taken = self.rt.idle.unregister_sleeper(0);
        step(format!("worker: awake, unregister_sleeper -> {taken}"));
        if taken {
            self.searching.set(true);
        }
        timed_out
    }
}

/// A task pushed from outside (`Injectors::push` + `Idle::notify_one` + unpark) while
/// the only worker runs out of work, searches, registers as a sleeper and parks: the
/// worker always runs the task within a few rounds of its loop (a lost wake-up would
/// leave it parked forever, which loom reports as a deadlock). Both the "searching"
/// path (the submitter sees a searcher and skips the wake-up) and the "sleeping" path
/// (the submitter pops the sleeper and unparks it) are explored.
///
/// The submitter issues a `SeqCst` fence after `Injectors::push` (see
/// [`Rt::push_injected`]); the next model is the same without it.
#[test]
fn task_submitted_while_worker_parks_is_found() {
    submit_while_worker_parks(true, 1);
}

/// [`task_submitted_while_worker_parks_is_found`] with `Shared::push_injected` exactly as
/// written: no fence of its own between `Injectors::push` and `Idle::notify_one`. It
/// passes because `Injectors::push` now ends with a `SeqCst` fence after its mask update.
/// Before that fence, loom found a lost wake-up here (the worker parked forever):
///
/// ```text
/// worker: round 0
/// worker: searching, found = false                 (searching count = 1)
/// submitter: Injectors::push done                  (mask.fetch_or(bit), SeqCst)
/// submitter: Idle::notify_one -> None              (reads searching = 1: skips the wake-up)
/// worker: registered as sleeper (was searching: true), fenced
/// worker: re-check work_hint = false               (mask.load reads the old 0)
/// worker: parking                                  → deadlock
/// ```
///
/// In C11 this outcome is forbidden: the submitter's `mask.fetch_or` and its
/// `state.load` are both `SeqCst`, so with the worker's `SeqCst` fence the store-buffer
/// pattern cannot lose both. loom treats `SeqCst` accesses as `AcqRel` and finds it.
/// Either way the code then did not match its documentation (`push_injected`:
/// "`Injectors::push` ends with a SeqCst fence"; `idle`: "by the two fences"); with the
/// `fence(SeqCst)` at the end of `Injectors::push`, after the mask update, this model
/// passes unchanged, and it stays to keep that fence there.
#[test]
fn task_submitted_while_worker_parks_is_found_without_fence_after_push() {
    submit_while_worker_parks(false, 1);
}

/// Two tasks pushed from two outside threads while the only worker runs, searches and
/// sleeps between them: both are always found (a wake-up for the second task can race the
/// worker running the first, or the worker going back to sleep).
#[test]
fn two_tasks_submitted_while_worker_parks_are_both_found() {
    submit_while_worker_parks(true, 2);
}

/// `tasks` outside submitters (`Shared::push_injected`) vs the only worker's main loop
/// (`WorkerCtx::main_loop`: `next_task`, `search`, `park`), until it ran every task.
fn submit_while_worker_parks(fence_after_push: bool, tasks: usize) {
    model(3, move || {
        let hub = Hub::new();
        let rt = Rt::new();
        let runs = counter();
        let submitters: Vec<_> = (0..tasks)
            .map(|_| {
                let r = runs.clone();
                let task = detached_task(&hub, Priority::NORMAL, move || {
                    r.fetch_add(1, SeqCst);
                });
                let rt = rt.clone();
                thread::spawn(move || rt.push_injected(task, fence_after_push))
            })
            .collect();
        let w = Worker::new(rt.clone());
        let mut ran = 0;
        let mut round = 0;
        while ran < tasks {
            assert!(round < MAX_ROUNDS * tasks, "the worker did not find every task in its bounded loop");
            step(format!("worker: round {round}"));
            round += 1;
            if let Some(t) = w.next_task() {
                w.stop_searching();
                assert!(matches!(t.run(), RunResult::Finished(_)));
                ran += 1;
                continue;
            }
            if let Some(t) = w.search() {
                assert!(matches!(t.run(), RunResult::Finished(_)));
                ran += 1;
                continue;
            }
            let timed_out = w.park(None, 0);
            assert!(!timed_out);
        }
        for s in submitters {
            s.join().unwrap();
        }
        assert_eq!(get(&runs), tasks, "each task runs exactly once");
        assert!(w.rt.injectors.is_empty());
        assert_eq!(w.queue.len(), 0);
        drop(w);
        assert_eq!(hub.freed(), tasks);
    });
}

/// The only worker sleeps with a deadline (a timer due at tick 1000 in its wheel; the
/// clock is frozen at 0) while another thread registers a timer due at tick 5 through the
/// worker's inbox (`Shared::push_timer_inbox`). The worker always takes the new timer
/// into its wheel, so it can re-arm for tick 5, and it is never woken by the timeout of
/// its old deadline.
#[test]
fn timer_registered_while_worker_parks_with_deadline_is_found() {
    model(3, || {
        let hub = Hub::new();
        let rt = Rt::new();
        let runs = counter();
        let mut timers = TimerDriver::new();
        let far = timed(&hub, 1000, &counter());
        assert!(matches!(timers.insert(far), Inserted::Linked));
        let near = timed(&hub, 5, &runs);
        let submitter = {
            let rt = rt.clone();
            thread::spawn(move || rt.push_timer_inbox(near, 5))
        };
        let w = Worker::new(rt.clone());
        let now = 0;
        let mut rounds = 0;
        // `WorkerCtx::main_loop` → `maintain_timers` (drain the inbox into the wheel) →
        // (no ready work) → `park` until the wheel's next deadline.
        loop {
            assert!(rounds < MAX_ROUNDS, "the worker did not see the new timer in its bounded loop");
            rounds += 1;
            if !w.rt.timer_inbox.is_empty() {
                for t in w.rt.timer_inbox.take() {
                    match timers.insert(t) {
                        Inserted::Linked => {}
                        other => panic!("a timer due at 5 inserted at 0 must be linked: {other:?}"),
                    }
                }
            }
            let next = timers.next_expiration();
            if next.is_some_and(|tick| tick <= 5) {
                break;
            }
            let timed_out = w.park(next, now);
            assert!(!timed_out, "the worker was woken by its old deadline, not by the new timer");
        }
        submitter.join().unwrap();
        // The clock reaches 5: the new timer fires and runs; the far one is dropped.
        let mut ready = Vec::new();
        assert_eq!(timers.fire(5, |t| ready.push(t), |o| panic!("unexpected outcome {o:?}")), 1);
        for t in ready {
            assert!(matches!(t.run(), RunResult::Finished(_)));
        }
        assert_eq!(get(&runs), 1);
        shut_down_wheel(&hub, timers, 1, 2);
    });
}

/// The only worker sleeps with a deadline (a timer due at tick 1000; the clock is frozen
/// at 0) while two threads register timers due *later* (tick 2000) through its inbox.
/// Neither needs the worker before its deadline, yet both reach its wheel while it
/// sleeps: `Shared::push_timer_inbox` wakes a parked owner once per park for its inbox
/// (`inbox_wake_sent`), so a burst of far-off timers is never stranded in the inbox
/// (uncounted by `pending()`, holding inbox memory) until the owner's next deadline.
/// A stranded timer shows up as a deadlock (loom's `park_timeout` never times out: the
/// worker would wait for its deadline forever); the second submitter is what makes the
/// one-wake-per-park flag matter.
#[test]
fn far_timers_registered_while_worker_parks_all_reach_the_wheel() {
    const SUBMITTERS: usize = 2;
    model(3, || {
        let hub = Hub::new();
        let rt = Rt::new();
        let mut timers = TimerDriver::new();
        assert!(matches!(timers.insert(timed(&hub, 1000, &counter())), Inserted::Linked));
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|_| {
                let task = timed(&hub, 2000, &counter());
                let rt = rt.clone();
                thread::spawn(move || rt.push_timer_inbox(task, 2000))
            })
            .collect();
        let w = Worker::new(rt.clone());
        let mut linked = 1;
        let mut rounds = 0;
        while linked < 1 + SUBMITTERS {
            assert!(
                rounds < MAX_ROUNDS * SUBMITTERS,
                "the worker did not take every timer in its bounded loop"
            );
            rounds += 1;
            for t in w.rt.timer_inbox.take() {
                match timers.insert(t) {
                    Inserted::Linked => linked += 1,
                    other => panic!("a timer due at 2000 inserted at 0 must be linked: {other:?}"),
                }
            }
            if linked == 1 + SUBMITTERS {
                break;
            }
            // A `true` here is not a timeout but a stale `notify_one` of an earlier unpark
            // whose permit was already taken: harmless, the worker loops.
            let _ = w.park(timers.next_expiration(), 0);
        }
        for s in submitters {
            s.join().unwrap();
        }
        assert!(w.rt.timer_inbox.is_empty());
        shut_down_wheel(&hub, timers, 1 + SUBMITTERS, 1 + SUBMITTERS);
    });
}

/// The only worker sleeps with a deadline (a timer due at tick 1000; the clock is frozen
/// at 0) while one thread sends it a cancel message and another a timer due later (tick
/// 2000): neither needs the worker before its deadline, and the two share one wake-up
/// per park (`inbox_wake_sent`: whichever comes first wakes the worker, the other relies
/// on the worker's re-check or on that wake-up). Both always reach the worker; one left
/// in its queue while the worker sleeps is a deadlock (seen with a canceller that never
/// unparks: the far timer is taken before the park, the cancel comes during it).
#[test]
fn a_cancel_and_a_far_timer_sent_while_worker_parks_both_reach_it() {
    model(3, || {
        let hub = Hub::new();
        let rt = Rt::new();
        let mut timers = TimerDriver::new();
        assert!(matches!(timers.insert(timed(&hub, 1000, &counter())), Inserted::Linked));
        let cancelled = timed(&hub, 3000, &counter());
        let far = timed(&hub, 2000, &counter());
        let canceller = {
            let rt = rt.clone();
            thread::spawn(move || rt.send_cancel(cancelled))
        };
        let submitter = {
            let rt = rt.clone();
            thread::spawn(move || rt.push_timer_inbox(far, 2000))
        };
        let w = Worker::new(rt.clone());
        let (mut linked, mut drained) = (0, 0);
        let mut rounds = 0;
        while linked + drained < 2 {
            assert!(rounds < MAX_ROUNDS * 2, "the worker did not take both messages in its bounded loop");
            rounds += 1;
            for t in w.rt.timer_inbox.take() {
                assert!(matches!(timers.insert(t), Inserted::Linked));
                linked += 1;
            }
            drained += w.rt.drain_cancels();
            if linked + drained == 2 {
                break;
            }
            let _ = w.park(timers.next_expiration(), 0);
        }
        canceller.join().unwrap();
        submitter.join().unwrap();
        assert_eq!((linked, drained), (1, 1));
        shut_down_wheel(&hub, timers, 2, 3);
    });
}

/// The start of the linger models: worker 0's wheel holding a timer due at 1000, and a
/// thread that sends worker 0 a timer due at 5 (the near timer: it must reach the wheel
/// before the worker sleeps past 5). Returns the wheel, the near task's address and the
/// sender.
fn wheel_and_near_timer_sender(
    hub: &Arc<Hub>,
    rt: &Arc<Rt>,
) -> (TimerDriver, std::ptr::NonNull<kairos_rt_core::task::Header>, thread::JoinHandle<()>) {
    let mut timers = TimerDriver::new();
    assert!(matches!(timers.insert(timed(hub, 1000, &counter())), Inserted::Linked));
    let near_task = timed(hub, 5, &counter());
    let near_addr = near_task.as_ptr();
    let rt = rt.clone();
    let near = thread::spawn(move || rt.push_timer_inbox(near_task, 5));
    (timers, near_addr, near)
}

/// How a linger model varies `WorkerCtx::linger`'s rounds.
struct LingerPlan<'a> {
    /// Take before publishing the round's end (a broken order).
    take_first: bool,
    /// Publish each round's end (false: only the first round's, a broken loop).
    republish: bool,
    /// The end of a round that begins now.
    until: &'a dyn Fn() -> u64,
    /// Whether the clock has passed `until` already (the runtime then does not park).
    passed: &'a dyn Fn(u64) -> bool,
}

impl Worker {
    /// `WorkerCtx::linger` in the runtime's order, round after round: publish the round's
    /// end (`close_lingering`: flag set, `parked_until`, fence), take (`take` links the
    /// inbox and drains the cancels, and says whether the near timer came: then the worker
    /// opens its door and leaves), register as a sleeper, fence, park, leave the sleepers,
    /// and go round again, door still closed, while messages wait and nobody notified it.
    /// Returns whether a take found the near timer; `rounds` counts against `max`.
    fn linger(
        &self,
        plan: &LingerPlan,
        take: &mut dyn FnMut() -> bool,
        rounds: &mut usize,
        max: usize,
    ) -> bool {
        let mut first = true;
        loop {
            assert!(*rounds < max, "the worker did not take the near timer in its bounded loop");
            *rounds += 1;
            let until = (plan.until)();
            let mut near = plan.take_first && take();
            if first || plan.republish {
                self.rt.door.close_lingering(until);
            }
            first = false;
            step(format!("worker: lingering until {until}, published, fenced"));
            near |= !plan.take_first && take();
            if near {
                self.rt.door.open();
                return true;
            }
            let was_searching = self.searching.replace(false);
            self.rt.idle.register_sleeper(0, was_searching);
            fence(SeqCst);
            // `clock.until(tick)` is `None` once the clock passed the tick: no park.
            if !(plan.passed)(until) {
                step(format!("worker: parking until {until}"));
                let _ = self.rt.parker.park_timeout(Duration::from_micros(until));
            }
            let notified = self.rt.idle.unregister_sleeper(0);
            if notified {
                self.searching.set(true);
            }
            let streaming = !self.rt.timer_inbox.is_empty() || !self.rt.timer_cancels.is_empty();
            if notified || !streaming {
                self.rt.door.open();
                return false;
            }
            step("worker: messages came, lingering again");
        }
    }
}

/// The worker lingers (`WorkerCtx::linger`, park.rs: timers stream into its inbox, so
/// it parks until tick 100 at most, with `inbox_wake_sent` left set, taking its inbox
/// after it publishes `parked_until` instead of being woken for it) while one thread
/// sends a timer due at tick 5 and another one due at 2000 (the wheel holds one due at
/// 1000; the clock is frozen at 0). The timer due before the park ends always reaches the
/// wheel: the linger's take finds it, or its submitter reads the park's `parked_until`
/// and unparks the worker. The far one needs no wake-up (the park's timeout takes it,
/// which loom does not model: it is taken at the end). A missed near timer is a deadlock.
/// After a park, messages waiting make the worker linger again with its door still
/// reading parked (the runtime's `linger` loop), as in a stream of timed tasks.
#[test]
fn timer_due_before_a_lingering_park_ends_wakes_it() {
    linger_while_timers_arrive(false);
}

/// [`timer_due_before_a_lingering_park_ends_wakes_it`] with the take before the publish
/// of `parked_until`: a timer pushed between the two reads the worker awake and is left
/// in the inbox while it parks (loom reports the deadlock).
#[test]
#[should_panic(expected = "deadlock")]
fn timer_due_before_a_lingering_park_ends_is_lost_if_the_take_comes_first() {
    linger_while_timers_arrive(true);
}

/// The worker lingers while one thread sends a timer due at tick 5 and another sends a
/// cancel message (a cancelled task for its wheel), the cancel instead of the far timer
/// of [`timer_due_before_a_lingering_park_ends_wakes_it`]: a cancel does not wake a
/// lingering worker (the flag is set), yet the near timer still always reaches the
/// wheel, and the cancel is taken by a take (here at the end, standing for the park's
/// timeout), never lost nor taken twice. (With the take before the publish it deadlocks,
/// as the timer variant does.)
#[test]
fn a_cancel_sent_to_a_lingering_worker_does_not_hide_a_near_timer() {
    linger_while_messages_arrive(false, true);
}

fn linger_while_timers_arrive(take_first: bool) {
    linger_while_messages_arrive(take_first, false);
}

/// The linger models: a near timer and, by `with_cancel`, a cancel message or a far
/// timer, sent while the only worker lingers (`take_first`: the broken order).
fn linger_while_messages_arrive(take_first: bool, with_cancel: bool) {
    const UNTIL: u64 = 100;
    model(2, move || {
        let hub = Hub::new();
        let rt = Rt::new();
        let (mut timers, near_addr, near) = wheel_and_near_timer_sender(&hub, &rt);
        let other = {
            let (rt, task) = (rt.clone(), timed(&hub, 2000, &counter()));
            match with_cancel {
                true => thread::spawn(move || rt.send_cancel(task)),
                false => thread::spawn(move || rt.push_timer_inbox(task, 2000)),
            }
        };
        let submitters = [near, other];
        let w = Worker::new(rt.clone());
        let cancels = Cell::new(0);
        // Links the inbox and drains the cancels (`WorkerCtx::tend`); whether a timer due
        // before `UNTIL` came.
        let take = |timers: &mut TimerDriver| {
            let mut near = false;
            for t in rt.timer_inbox.take() {
                near |= t.as_ptr() == near_addr;
                assert!(matches!(timers.insert(t), Inserted::Linked));
            }
            cancels.set(cancels.get() + rt.drain_cancels());
            near
        };
        let plan = LingerPlan { take_first, republish: true, until: &|| UNTIL, passed: &|_| false };
        let mut rounds = 0;
        // `WorkerCtx::main_loop`: step 1 takes the inbox; with nothing to run, `park`
        // lingers.
        while !take(&mut timers) {
            if w.linger(&plan, &mut || take(&mut timers), &mut rounds, MAX_ROUNDS) {
                break;
            }
        }
        for s in submitters {
            s.join().unwrap();
        }
        take(&mut timers);
        assert_eq!(cancels.get(), usize::from(with_cancel), "the cancel is taken once");
        let linked = if with_cancel { 2 } else { 3 };
        shut_down_wheel(&hub, timers, linked, 3);
    });
}

/// The linger loop with the clock moving (`WorkerCtx::linger`): while the clock is
/// before tick 3 a round lingers until 3 (`limit`, INBOX_LINGER from now), after it
/// until 100. A far timer (due 2000) is sent and then the clock passes 3 and ends a park
/// until 3 (loom's `park_timeout` never times out: a thread stands for the clock); a
/// timer due at 5 is sent meanwhile. Between two rounds the door reads the first round's
/// `parked_until` (3) with the flag set, so a push of the near timer then wakes nobody:
/// the next round's publish and fence before its take are what make either its take find
/// it or its sender read 100 and unpark the worker. Without that publish
/// (`republish == false`) a push after the second round's take reads 3 and the worker
/// parks until 100 with a timer due at 5 in its inbox: loom reports the deadlock.
#[test]
fn a_timer_sent_between_two_lingering_rounds_reaches_the_wheel() {
    linger_again_while_the_clock_moves(true);
}

/// [`a_timer_sent_between_two_lingering_rounds_reaches_the_wheel`] with a second round
/// that takes without publishing its own `parked_until` first.
#[test]
#[should_panic(expected = "deadlock")]
fn a_timer_sent_between_two_lingering_rounds_is_lost_without_the_second_publish() {
    linger_again_while_the_clock_moves(false);
}

fn linger_again_while_the_clock_moves(republish: bool) {
    const EARLY: u64 = 3;
    const UNTIL: u64 = 100;
    const MAX: usize = 6;
    model(2, move || {
        let hub = Hub::new();
        let rt = Rt::new();
        let passed = Arc::new(AtomicBool::new(false));
        let (mut timers, near_addr, near) = wheel_and_near_timer_sender(&hub, &rt);
        // A far timer, then the clock passes `EARLY` (a park until `EARLY` times out).
        let clock = {
            let (rt, passed, task) = (rt.clone(), passed.clone(), timed(&hub, 2000, &counter()));
            thread::spawn(move || {
                rt.push_timer_inbox(task, 2000);
                passed.store(true, SeqCst);
                step("clock: past EARLY, the park until EARLY times out");
                rt.parker.unpark();
            })
        };
        let w = Worker::new(rt.clone());
        let take = |timers: &mut TimerDriver| {
            let mut near = false;
            for t in rt.timer_inbox.take() {
                near |= t.as_ptr() == near_addr;
                assert!(matches!(timers.insert(t), Inserted::Linked));
            }
            rt.drain_cancels();
            near
        };
        let until = || if passed.load(SeqCst) { UNTIL } else { EARLY };
        let clock_passed = |until: u64| until == EARLY && passed.load(SeqCst);
        let plan = LingerPlan { take_first: false, republish, until: &until, passed: &clock_passed };
        let mut rounds = 0;
        while !take(&mut timers) {
            if w.linger(&plan, &mut || take(&mut timers), &mut rounds, MAX) {
                break;
            }
        }
        near.join().unwrap();
        clock.join().unwrap();
        take(&mut timers);
        shut_down_wheel(&hub, timers, 3, 3);
    });
}

/// What `WorkerCtx::exit` does with the wheel: cancel every timer in it (expected:
/// `linked`), then drop the cancel messages those cancels sent; `freed` cells in all.
fn shut_down_wheel(hub: &Arc<Hub>, mut timers: TimerDriver, linked: usize, freed: usize) {
    let dropped = AtomicUsize::new(0);
    timers.cancel_all(|_, _| {
        dropped.fetch_add(1, SeqCst);
    });
    assert_eq!(dropped.load(SeqCst), linked, "every timer reached the wheel once");
    drop(hub.take_cancels());
    assert_eq!(hub.freed(), freed);
}

/// A timed closure task due at `due`, owned by worker 0, without a join handle.
fn timed(hub: &Arc<Hub>, due: u64, runs: &Arc<AtomicUsize>) -> TaskRef {
    let runs = runs.clone();
    let (task, _) = allocate(
        Closure(move || {
            runs.fetch_add(1, SeqCst);
        }),
        Some(common::TaskSched::new(hub)),
        TaskOptions::timed(Priority::NORMAL, due),
    );
    task
}
