//! A worker's timers: its wheel, the timed tasks other threads send it, and the hand-over
//! that lets a free worker fire the due timers of a busy one.
//!
//! ## Protocol: no timer waits behind a busy worker
//!
//! Each worker's wheel is a [`SharedWheel`] in its `Remote`: the owner holds it for every
//! change (one uncontended CAS), and any other worker may take it with one `try_hold`.
//!
//! - **Owner**: as before, inserts its spawns and its inbox, unlinks cancels and fires
//!   what is due, all in step 1 of its loop (or at the spawn), holding its wheel; after
//!   every change it publishes the wheel's next due tick (`Remote::next_due`). When that
//!   tick *lowers*, it announces it: `SeqCst` fence, then it unparks every peer parked
//!   past the tick a helper would fire it at (`help_tick`: the tick itself while the
//!   owner runs a task, else plus [`HELP_AFTER`]).
//! - **A stuck owner** (issue 20): when it starts running a task, the owner publishes
//!   *since when* it is busy, `Remote::running_since`: the tick of its last look at its
//!   wheel, which step 1 read anyway (no clock read per task; `u64::MAX` again when the
//!   run ends: two `Relaxed` stores per run). That look fired everything due up to that
//!   tick, so a timer due after it (every timer in the wheel) waits for the run to end:
//!   a peer whose `running_since` is before its next due tick is *stuck*, and a helper
//!   fires that tick when it is due, with no grace. A peer between tasks
//!   (`running_since` `u64::MAX`) gets [`HELP_AFTER`] of grace: it will fire its own.
//! - **Messages wake a helper**: a timed task or a cancel sent to a peer that is awake
//!   (`parked_until` 0, maybe busy in a long task) notifies one sleeper (`SeqCst` fence
//!   after the push, then the idle protocol's `notify_one`; the sleeper's re-check after
//!   it registers looks at awake peers' inboxes and cancel queues). So a cancelled timed
//!   task's cell is freed by a free worker at once, not when its owner is free.
//! - **Helper** (a worker that found no work, before it parks, `help_peers`): for each
//!   peer that is awake (`parked_until` 0: running, or about to) whose next due tick is
//!   past (stuck) or [`HELP_AFTER`] past (between tasks), or whose inbox or cancel queue
//!   holds messages, it `try_hold`s
//!   the peer's wheel and does the owner's step 1 for it: links the inbox, unlinks the
//!   cancels, fires what is due into its own run queue (counted and sampled like the
//!   owner's), publishes the next due tick. A wheel that is held is left alone.
//! - **A stalled sleeper**: a parked owner's timers wait for its wake-up, and on a virtual
//!   machine a wake-up can come milliseconds late (the vCPU under the sleeping thread is
//!   not running: [`STALL_GRACE`]). A helper also tends a *parked* peer whose door still
//!   reads parked [`STALL_GRACE`] after the later of its due tick and the tick it parked
//!   until, and whose timers are due (`watch_tick`). A parked peer's inbox and cancels
//!   are not its business: their senders wake the owner, or it lingers and takes them
//!   itself when its park ends (at most 1 ms: `park.rs`).
//! - **Watch while parked**: a worker parks until the earliest of its own next due tick
//!   and every peer's `watch_tick` (`wake_ticks`), published as its `parked_until`; after
//!   its `SeqCst` fence it re-reads the peers' ticks and does not park if one is now
//!   earlier (or an awake peer's inbox is not empty). With the owner's announce this is
//!   the store-buffer pattern: either the parker sees the lowered tick, or the owner sees
//!   the parker's `parked_until` and unparks it. A peer's `running_since` is read after
//!   its `next_due` (an acquire: `next_due` is stored `SeqCst`), so a tick lowered by a
//!   task is read with the run that lowered it, and gets no grace on either side.
//!   A peer that starts a long run *after* a helper parked (its timers were linked
//!   between tasks) is not announced: that helper fires them [`HELP_AFTER`] late, as
//!   before (an announce per run start would cost every task a fence).
//!
//! Invariants: a wheel is touched only by its holder; a worker never waits for a wheel
//! while it holds one (`holding`: a nested insert goes to the inbox and a nested cancel to
//! the cancel queue, as they did when the wheel was a `RefCell`), so the owner's wait
//! for a helper (a few microseconds of firing) cannot deadlock; the timed-task gauges and
//! `next_due` are written only by the wheel's holder; a task leaves a wheel once (it
//! fires once or is cancelled once: `SharedWheel`'s invariants, loom model
//! `wheel_handover.rs`; the wake-up side: `wake_to_help.rs`). Due timers of a worker busy
//! in one task are fired by an idle worker at their due time (plus that worker's
//! wake-up), or [`HELP_AFTER`] later if the run began after the idle worker parked.
//!
//! A watch is not a deadline: a worker that wakes for a peer's `watch_tick` (not its own
//! timer, nor a stuck peer's) sleeps the whole way and does not yield out the last
//! microseconds for precision (`WakeAt::precise`).
//!
//! Cost: the owner pays one CAS and a store per wheel access, two `Relaxed` stores per
//! run (about 12 instructions per run, callgrind, on a fan-out of 20,000 tasks; the
//! spawn path is unchanged), and a fence plus one load per peer when its next due tick lowers. An idle worker
//! wakes once per `max(HELP_AFTER, gap between its peers' timers)` while a peer between
//! tasks holds timers, even when that peer serves them itself, and once per due tick of
//! a peer that is running a task: a peer busy with a stream of short tasks is treated as
//! stuck too, so its timers are fired by whichever of the two takes the wheel first.
//! While a peer sleeps until its next timer, a free worker also wakes [`STALL_GRACE`]
//! after it, when that comes before its own deadline, and finds it served.
//!
//! Measured (bench `timer-precision`, 5k timers over 1 s, quick, 3 rounds, kairos alone,
//! 3 paired runs): lateness p99.9 1.21 ms, 196 us, 790 us without the stall watch and
//! 118, 79, 271 us with it; max 2.56 ms, 967 us, 1.74 ms and 217, 165 us, 1.01 ms; p99
//! unchanged (23-34 us). Bench `recurring` (100,000 schedules of 1 s, 2 paired runs):
//! lateness p99 1.26-1.51 ms and 0.93-1.31 ms without, 551-876 us and 215-379 us with;
//! CPU 24-28% without, 19-27% with.

use super::WorkerCtx;
use crate::clock::TICK_NANOS;
use crate::sched::shared::{Remote, Shared};
use kairos_rt_core::shared_wheel::SharedWheel;
use kairos_rt_core::sync::atomic::{fence, Ordering::*};
use kairos_rt_core::task::{Header, TaskRef};
use kairos_rt_core::timer::{Inserted, TimerDriver};
use kairos_rt_core::Priority;
use std::time::Duration;

/// How long past its due tick a timer waits for its own worker, when that worker is
/// between tasks, before a free worker takes the wheel and fires it (a worker stuck in a
/// task since before the tick gets no grace: see the module docs).
pub(crate) const HELP_AFTER: Duration = Duration::from_millis(1);

/// [`HELP_AFTER`] in clock ticks.
const HELP_AFTER_TICKS: u64 = HELP_AFTER.as_nanos() as u64 / TICK_NANOS;

/// How late out of its park a sleeping owner may be, past the tick it parked until,
/// before a free worker fires its due timers for it.
///
/// A parked owner's timers wait for its wake-up, and a wake-up can be late by
/// milliseconds when the virtual CPU under the sleeping thread is not running: on the
/// project's 2-vCPU Firecracker VMs a sleeping thread overslept by 1-4 ms about twice a
/// second, one vCPU at a time (`nanosleep` of 100 us in a C loop; the other vCPU's
/// sleeper on time). Watched by the other worker, the timers of a stalled owner are
/// fired this late instead of a stall late. Cost: a free worker also wakes at each
/// parked peer's wake tick plus this grace when that comes before its own deadline,
/// and finds the peer served (one futex wake-up per peer park at light load).
pub(crate) const STALL_GRACE: Duration = Duration::from_micros(150);

/// [`STALL_GRACE`] in clock ticks.
const STALL_GRACE_TICKS: u64 = STALL_GRACE.as_nanos() as u64 / TICK_NANOS;

// A watch on a sleeper comes before the help for a peer between tasks, and after its tick.
const _: () = assert!(STALL_GRACE_TICKS > 0 && STALL_GRACE_TICKS < HELP_AFTER_TICKS);

// A dense owner parks up to the longest dense timer slack past its due tick; a free
// peer's watch on it (`watch_of`: that park's end plus `STALL_GRACE`) must still come
// before the help it would give a worker between tasks (`HELP_AFTER` past the due tick),
// or the peer would fire the owner's timers at the same moment the owner wakes for them.
const _: () = assert!(crate::config::MAX_DENSE_TIMER_SLACK_TICKS + STALL_GRACE_TICKS < HELP_AFTER_TICKS);

/// Where [`WorkerCtx::link_timer`] put a timed task.
enum Placed {
    /// In the wheel.
    InWheel,
    /// Nowhere: it is already due, and the caller queues it.
    Ready(TaskRef),
    /// Nowhere: it had already ended (and is counted).
    Ended,
}

/// Clears a worker's `holding` flag when dropped (also on unwind).
struct Holding<'a>(&'a std::cell::Cell<bool>);

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl WorkerCtx {
    /// Runs `f` holding `wheel` (this worker's own with `help == false`, waiting for a
    /// helper to release it; a peer's with `help == true`, only if free). `None` if this
    /// thread already holds a wheel, or the wheel is held by another (`help`) or closed.
    fn with_wheel<R>(
        &self,
        wheel: &SharedWheel,
        help: bool,
        f: impl FnOnce(&mut TimerDriver) -> R,
    ) -> Option<R> {
        if self.holding.replace(true) {
            return None;
        }
        let _holding = Holding(&self.holding);
        if help {
            wheel.try_hold(f)
        } else {
            wheel.hold(f)
        }
    }

    /// Puts a timed task (owned by this worker) in the wheel, or runs it now if due.
    pub(crate) fn insert_timer(&self, task: TaskRef) {
        let remote = self.remote();
        let mut task = Some(task);
        let placed = self.with_wheel(&remote.wheel, false, |timers| {
            let placed = self.link_timer(remote, timers, task.take().expect("taken once"));
            if matches!(placed, Placed::InWheel) {
                self.publish_next_due(remote, timers);
            }
            placed
        });
        match (placed, task) {
            (Some(Placed::Ready(ready)), _) => self.push_local(ready),
            (_, Some(task)) => remote.timer_inbox.push(task),
            _ => {}
        }
    }

    /// The one place a timed task enters a wheel (`remote`'s, held by this thread): linked
    /// (and counted in the timed gauge), handed back ready if already due (with its
    /// latency sample decided), or counted if it ended before it got here.
    fn link_timer(&self, remote: &Remote, timers: &mut TimerDriver, task: TaskRef) -> Placed {
        let (level, runtime_timer) = (task.priority(), task.header().is_runtime_timer());
        match timers.insert(task) {
            Inserted::Linked => {
                timed_gauge(remote, level, runtime_timer, 1);
                Placed::InWheel
            }
            Inserted::Due(ready) => {
                self.sample_due(&ready);
                Placed::Ready(ready)
            }
            Inserted::Finished(outcome, t) => {
                self.count_unstarted(outcome, &t);
                Placed::Ended
            }
        }
    }

    /// Publishes the next due tick of `remote`'s wheel (held by this thread), and
    /// announces it to parked peers if it lowered (see the module docs).
    fn publish_next_due(&self, remote: &Remote, timers: &TimerDriver) {
        let next = timers.next_expiration().unwrap_or(u64::MAX);
        let before = remote.next_due.load(Relaxed);
        if next == before {
            return;
        }
        remote.next_due.store(next, SeqCst);
        if next < before {
            fence(SeqCst);
            let watch = help_tick(remote, next);
            for (i, r) in self.shared.remotes.iter().enumerate() {
                if i == self.index {
                    continue;
                }
                if r.door.parked_until() > watch {
                    r.parker.unpark();
                }
            }
        }
    }

    /// Unlinks a timed task cancelled on this thread. Returns it back if this thread holds
    /// a wheel already (the caller then sends it as a cancel message).
    pub(crate) fn unlink_timer(&self, task: TaskRef) -> Option<TaskRef> {
        let remote = self.remote();
        match self.with_wheel(&remote.wheel, false, |timers| self.remove_timer(remote, timers, &task)) {
            Some(()) => None,
            None => Some(task),
        }
    }

    fn remove_timer(&self, remote: &Remote, timers: &mut TimerDriver, task: &TaskRef) {
        if let Some(outcome) = timers.remove(task) {
            timed_gauge(remote, task.priority(), task.header().is_runtime_timer(), -1);
            self.count_unstarted(outcome, task);
        }
    }

    /// A timed task leaving the wheel keeps its due tick (so its due-to-start latency is
    /// recorded) for 1 task in `SAMPLE_EVERY`; the others get 0 (not sampled).
    pub(super) fn sample_due(&self, task: &TaskRef) {
        if !self.next_sample() {
            // SAFETY: the task has just left the wheel (so its cell has links) and is not
            // queued yet: this thread has the only access to them.
            unsafe { Header::clear_latency_sample(task.as_ptr()) };
        }
    }

    /// Step 1 of the main loop: takes the inbox and the cancel messages, then moves due
    /// tasks from the wheel into the local run queue.
    pub(super) fn maintain_timers(&self) {
        let remote = self.remote();
        if remote.timer_inbox.is_empty()
            && remote.timer_cancels.is_empty()
            && remote.next_due.load(Relaxed) == u64::MAX
        {
            return;
        }
        self.tend(remote, false);
    }

    /// Before parking: does step 1 for every awake peer whose timers are due (it is
    /// stuck in a task) or [`HELP_AFTER`] overdue (between tasks), for every parked peer
    /// that is [`STALL_GRACE`] late out of its park with timers due, and for every awake
    /// peer whose messages wait (see the module docs). Returns whether it moved any task
    /// into this worker's queue.
    pub(super) fn help_peers(&self) -> bool {
        let mut now = None;
        let mut moved = false;
        for (i, r) in self.shared.remotes.iter().enumerate() {
            if i == self.index {
                continue;
            }
            let parked = r.door.parked_until_hint();
            let messages = parked == 0 && (!r.timer_inbox.is_empty() || !r.timer_cancels.is_empty());
            let due = r.next_due.load(Relaxed);
            let overdue = due != u64::MAX && {
                let now = *now.get_or_insert_with(|| self.shared.clock.now_tick());
                watch_tick(r, due, parked).tick <= now
            };
            if messages || overdue {
                moved |= self.tend(r, true) > 0;
            }
        }
        moved
    }

    /// The ticks this worker must wake at to serve its own wheel and to watch its peers'
    /// (their [`watch_tick`]), in two parts: its own next deadline and the earliest watch
    /// on a peer; [`WakeTicks::first`] is the earlier, with whether it asks for precision
    /// (a timer due then, not a watch for a late peer); `u64::MAX`: none.
    pub(super) fn wake_ticks(&self) -> WakeTicks {
        let mut ticks = WakeTicks { own: u64::MAX, peers: WakeAt { tick: u64::MAX, precise: true } };
        for (i, r) in self.shared.remotes.iter().enumerate() {
            // `next_due` first: its `SeqCst` load acquires the owner's `running_since`.
            let due = r.next_due.load(SeqCst);
            if i == self.index {
                ticks.own = due;
            } else {
                let watch = watch_tick(r, due, r.door.parked_until_hint());
                if watch.tick < ticks.peers.tick {
                    ticks.peers = watch;
                }
            }
        }
        ticks
    }

    /// Whether a peer that is awake has timer messages waiting, inserts or cancels (a
    /// parker's re-check: `Shared::push_timer_inbox` and the cancel side,
    /// `Shared`'s `Schedule::timer_cancelled`, notify a sleeper for those).
    pub(super) fn peer_messages_wait(&self) -> bool {
        self.shared.remotes.iter().enumerate().any(|(i, r)| {
            i != self.index
                && r.door.parked_until() == 0
                && (!r.timer_inbox.is_empty() || !r.timer_cancels.is_empty())
        })
    }

    /// Step 1 for this worker's own wheel, whatever its messages look like: a lingering
    /// park's re-check (`park::linger`). Returns how many tasks it queued.
    pub(super) fn tend_own(&self) -> usize {
        self.tend(self.remote(), false)
    }

    /// Step 1 for `remote`'s wheel (this worker's own, or a peer's with `help`): link its
    /// inbox, unlink its cancels, fire what is due into this worker's queue, publish.
    /// Returns how many tasks it queued.
    fn tend(&self, remote: &Remote, help: bool) -> usize {
        let moved = self.with_wheel(&remote.wheel, help, |timers| {
            let mut moved = 0;
            if !remote.timer_inbox.is_empty() {
                for t in remote.timer_inbox.take() {
                    if let Placed::Ready(ready) = self.link_timer(remote, timers, t) {
                        self.queue.push(ready);
                        moved += 1;
                    }
                }
            }
            if !remote.timer_cancels.is_empty() {
                Shared::drain_queue(&remote.timer_cancels, |t| self.remove_timer(remote, timers, &t));
            }
            if let Some(next) = timers.next_expiration() {
                let now = self.shared.clock.now_tick();
                if !help {
                    self.checked_tick.set(now);
                }
                if next <= now {
                    let fired = timers.fire(
                        now,
                        |t| {
                            timed_gauge(remote, t.priority(), t.header().is_runtime_timer(), -1);
                            self.sample_due(&t);
                            self.queue.push(t);
                        },
                        |t| {
                            let snap = t.snapshot();
                            timed_gauge(remote, snap.priority(), t.header().is_runtime_timer(), -1);
                            self.count_unstarted(snap.outcome(), t);
                        },
                    );
                    remote.density.record(fired, now);
                    moved += fired;
                }
            }
            self.publish_next_due(remote, timers);
            moved
        });
        let moved = moved.unwrap_or(0);
        // The fence between the pushes and the look at the sleepers is the idle
        // protocol's (`RunQueue::filled_then_wants_notify`).
        if remote.density.wakes_peer_for(moved)
            && self.queue.filled_then_wants_notify(&self.shared.idle, None)
        {
            self.shared.notify_one();
        }
        moved
    }
}

/// The tick from which a helper fires `remote`'s timers due at `due`: `due` itself if
/// the owner is running a task it started before `due` (stuck: it cannot fire them until
/// that run ends), else `due` plus [`HELP_AFTER`] (it will fire its own).
fn help_tick(remote: &Remote, due: u64) -> u64 {
    if remote.running_since.load(Relaxed) < due {
        due
    } else {
        due.saturating_add(HELP_AFTER_TICKS)
    }
}

/// When a worker wakes: at `tick`, and whether it must be on time (`precise`: a timer
/// is due then) or may be late by a wake-up (a watch on a peer that should have fired
/// its own by then).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WakeAt {
    pub(super) tick: u64,
    pub(super) precise: bool,
}

/// When a worker must wake, in two parts: its own wheel's next deadline (`own`,
/// `u64::MAX` for none) and the earliest watch on a peer (`peers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct WakeTicks {
    pub(super) own: u64,
    pub(super) peers: WakeAt,
}

impl WakeTicks {
    /// The earlier of the two (its own deadline on a tie: that one asks for precision).
    pub(super) fn first(&self) -> WakeAt {
        if self.own <= self.peers.tick {
            WakeAt { tick: self.own, precise: true }
        } else {
            self.peers
        }
    }

    /// The tick a worker whose wheel fires densely sleeps until: its own deadline plus
    /// the dense timer slack `slack` (its timers due by then fired together), but no
    /// later than its watch on a peer, which the slack must not delay (a peer stuck in a
    /// task, or parked and late, is helped on time whatever this worker's own timers
    /// allow).
    pub(super) fn dense_target(&self, slack: u64) -> u64 {
        self.own.saturating_add(slack).min(self.peers.tick)
    }
}

/// The tick from which a helper fires the timers of `remote`, due at `due`, whose door
/// reads `parked` (0: awake): [`help_tick`] while it is awake; while it is parked, the
/// earlier of that and [`STALL_GRACE`] after the later of its due tick and the tick it
/// parked until (a dense owner parks past its due tick on purpose: see `density`).
fn watch_tick(remote: &Remote, due: u64, parked: u64) -> WakeAt {
    watch_of(help_tick(remote, due), due, parked)
}

/// [`watch_tick`] given the peer's [`help_tick`] `help`.
fn watch_of(help: u64, due: u64, parked: u64) -> WakeAt {
    let precise = help == due;
    if parked == 0 || parked == u64::MAX || due == u64::MAX {
        return WakeAt { tick: help, precise };
    }
    let stalled = parked.max(due).saturating_add(STALL_GRACE_TICKS);
    WakeAt { tick: help.min(stalled), precise: precise && help <= stalled }
}

/// Adds `delta` to `remote`'s timed-task gauge of `level`, or to its gauge of the
/// runtime's own timers for a `runtime_timer` (written only by the holder of its wheel,
/// wrapping).
fn timed_gauge(remote: &Remote, level: Priority, runtime_timer: bool, delta: i64) {
    let slot = match runtime_timer {
        true => &remote.runtime_timers,
        false => &remote.timed_by_level[level.index()],
    };
    slot.store(slot.load(Relaxed).wrapping_add(delta as u64), Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUE: u64 = 10_000;

    #[test]
    fn an_awake_peer_is_watched_at_its_help_tick() {
        let between_tasks = watch_of(DUE + HELP_AFTER_TICKS, DUE, 0);
        assert_eq!(between_tasks, WakeAt { tick: DUE + HELP_AFTER_TICKS, precise: false });
        let stuck = watch_of(DUE, DUE, 0);
        assert_eq!(stuck, WakeAt { tick: DUE, precise: true }, "a stuck peer's timer is a deadline");
    }

    #[test]
    fn a_parked_peer_is_watched_a_grace_after_it_should_have_woken() {
        let on_its_timer = watch_of(DUE + HELP_AFTER_TICKS, DUE, DUE);
        assert_eq!(on_its_timer, WakeAt { tick: DUE + STALL_GRACE_TICKS, precise: false });
        // A dense owner parks past its due tick on purpose: the grace counts from its wake.
        let dense = watch_of(DUE + HELP_AFTER_TICKS, DUE, DUE + 150);
        assert_eq!(dense.tick, DUE + 150 + STALL_GRACE_TICKS);
        // Parked until before its due (woken early for a peer's watch): from the due tick.
        assert_eq!(watch_of(DUE + HELP_AFTER_TICKS, DUE, DUE - 500).tick, DUE + STALL_GRACE_TICKS);
        // Never later than the help tick.
        let far = watch_of(DUE + HELP_AFTER_TICKS, DUE, DUE + 10 * HELP_AFTER_TICKS);
        assert_eq!(far.tick, DUE + HELP_AFTER_TICKS);
    }

    /// The stall watch at work (issue 20; `STALL_GRACE`): a worker registers a timer in
    /// its own wheel and then oversleeps its park (held there by the test, its door still
    /// reading parked, as on a vCPU the hypervisor does not run). The other worker fires
    /// the timer while the owner is still held; without the watch the timer would wait
    /// for the owner (the hold ends after 10 s), run on it, and find it gone from the hold.
    #[test]
    fn a_free_worker_fires_the_due_timers_of_a_peer_that_oversleeps() {
        use super::super::park::oversleep;
        use crate::sched::context;
        use crate::Runtime;
        use std::sync::atomic::Ordering::SeqCst;
        use std::time::Instant;

        let rt = Runtime::builder().workers(2).build().unwrap();
        let registered = rt.spawn(Priority::NORMAL, || {
            let (shared, owner) = context::with_worker(|w| {
                let w = w.expect("a task runs on a worker");
                (w.shared().clone(), w.index())
            });
            oversleep::arm(&shared, owner);
            let due = Instant::now() + Duration::from_millis(20);
            let fired = crate::try_current().unwrap().spawn_at(due, Priority::NORMAL, || {
                let ran_on = context::with_worker(|w| w.map(|w| w.index()));
                (ran_on, oversleep::LEFT.load(SeqCst))
            });
            (owner, fired)
        });
        let (owner, fired) = registered.join().unwrap();
        let outcome = fired.join();
        oversleep::RELEASE.store(true, SeqCst);
        let (ran_on, owner_had_woken) = outcome.unwrap();
        assert!(!owner_had_woken, "the timer waited for its oversleeping owner");
        assert_eq!(ran_on, Some(1 - owner), "fired by the other worker");
        let report = rt.shutdown();
        assert_eq!(report.completed, 2, "{report:?}");
    }

    #[test]
    fn a_peer_without_timers_or_parked_for_ever_adds_no_watch() {
        assert_eq!(watch_of(u64::MAX, u64::MAX, DUE).tick, u64::MAX);
        assert_eq!(watch_of(DUE + HELP_AFTER_TICKS, DUE, u64::MAX).tick, DUE + HELP_AFTER_TICKS);
    }
}
