//! Parking: step 4 of the main loop (see the parent module).
//!
//! A worker with nothing to do spins for its budget while recent idle spells show that
//! spinning pays ([`spin`](super::spin)), then registers as a sleeper, re-checks for
//! work, and parks until woken or until its wheel's next deadline. A deadline closer
//! than [`NEAR_DEADLINE`] is waited out by yielding instead, for precision; a worker that
//! fires timers densely parks until its deadline plus the dense timer slack
//! ([`Builder::dense_timer_slack`](crate::Builder::dense_timer_slack)) instead, with no spin
//! and no yield (see [`density`](super::density)).
//!
//! The sleeper side of two wake-up protocols lives here: the idle protocol
//! (`kairos_rt_core::idle`: register, re-check, park) and the timer-inbox protocol
//! (clear `inbox_wake_sent`, publish `parked_until`, `SeqCst` fence, re-check; the
//! submitter's side is `Shared::push_timer_inbox`, which states both).
//!
//! ## Lingering: timed tasks streaming in from outside
//!
//! A parked owner is woken by the first timed task (or cancel) sent to it in each park,
//! so while another thread sends timed tasks faster than the owner's loop goes round (a
//! burst of a million), the owner wakes, takes a handful, parks and is woken again:
//! thousands of wake-ups, the inbox's cache line moving between cores at every push, and
//! the workers taking CPU from the thread that submits. The same holds for a burst of
//! cancels. A worker that finds its inbox or cancel queue refilled since step 1 took
//! them, with no ready work, *lingers* instead (`linger`):
//!
//! - it sets `inbox_wake_sent` (rather than clearing it) and publishes `parked_until` =
//!   the earlier of its wake tick and [`INBOX_LINGER`] from now, then the `SeqCst` fence;
//! - it takes its inbox and cancels into its wheel (the re-check of the inbox is a take,
//!   not a look), before it registers as a sleeper, so a batch the take fires notifies a
//!   peer and not itself; with nothing ready it registers, fences and re-checks the rest
//!   as a plain park does, and parks until the tick [`linger_wake`] picks (a deadline the
//!   take brought before `parked_until`, which it then lowers to that tick);
//! - when that park was aimed at the linger's end (not at a deadline of its own or a
//!   watch on a peer; a park an unpark cut short counts too), nobody notified the
//!   worker for work, and messages came meanwhile, it lingers again *without opening
//!   its door*: a new
//!   `parked_until`, the fence, the take, as above. Each round is a linger of its own, so
//!   the argument below holds for each; between two rounds the door reads the last
//!   round's `parked_until` with the flag set, and a push then waits for the next round's
//!   take (after its fence), or, due before that `parked_until`, unparks the owner. It
//!   leaves (door open, back to the main loop) when a round's take queues tasks, when
//!   its re-check finds ready work or an awake peer's messages, at a deadline of its own
//!   or a watch on a peer, on a notify, at shutdown, or when a round's park ends with no
//!   new messages.
//!
//! A submitter that reads the lingering `parked_until` finds the flag set, so it unparks
//! the owner only for a task due before the park ends; a push the take misses read that
//! `parked_until` (the fences' store-buffer argument, as in a plain park), and one due
//! later waits at most [`INBOX_LINGER`] for the next take, counted by `pending()` and
//! cancellable meanwhile. A cancel wakes a parked owner only if it is the first message
//! of the park (the same flag), so a cancelled cell waits at most [`INBOX_LINGER`] to be
//! unlinked and freed. A slow stream (the inbox empty again when the owner parks) gets
//! plain parks and a wake-up per park, as before. Modelled in `loom-tests/tests/park.rs`
//! (`timer_due_before_a_lingering_park_ends_wakes_it`, seen to fail with the take before
//! the publish). Measured, 1M timed inserts from one thread into 2 workers
//! (`probe_timed_insert`): 7.2-7.7 M/s and 3,300-13,800 context switches per round
//! before, 14.3-14.6 M/s and 780-870 with lingering. Lingering once per park still
//! opened the door between lingers, for the main loop's take: pushes meanwhile read the
//! owner awake and notified the other worker to help (260,000-380,000 of 1M pushes, and
//! 45,000-56,000 lingers cut short by the re-check seeing that peer's inbox), and the
//! submitter alternated between the two inboxes. Lingering again with the door closed
//! (3 alternated runs of 5 rounds): 12.7-13.3 M/s and 110-150 context switches per round
//! before, 17.9-18.4 M/s and 55-60 after; the bench's `timers` (200k, quick, 5 paired
//! runs): insert 11.5 to 13.2 M/s, process CPU per insert 129 to 99 ns, cancel 74 to
//! 47 ns.

use super::spin::Spell;
use super::timers::{WakeAt, WakeTicks};
use super::WorkerCtx;
use kairos_rt_core::sync::atomic::{fence, Ordering::*};
use std::time::{Duration, Instant};

/// A deadline closer than this is waited for by yielding rather than parking.
pub(crate) const NEAR_DEADLINE: Duration = Duration::from_micros(60);

/// How long a worker that timed tasks stream into from outside parks before it takes
/// its inbox again, unless a timer due sooner is sent (see the module docs).
pub(crate) const INBOX_LINGER: Duration = Duration::from_millis(1);
const INBOX_LINGER_TICKS: u64 = INBOX_LINGER.as_nanos() as u64 / crate::clock::TICK_NANOS;

impl WorkerCtx {
    /// Step 4 of the main loop: spin while that pays, then sleep until woken or until
    /// the wheel's next deadline; the time spent counts as idle.
    pub(super) fn park(&self) {
        let entered = Instant::now();
        let remote = self.remote();
        let since_start = entered.saturating_duration_since(self.shared.clock.start());
        remote.idle_since.store(nanos(since_start).saturating_add(1), Relaxed);
        let budget = self.shared.config.spin_before_park;
        let timer_wait = self.park_inner(entered, self.spin.spin_for(budget));
        let elapsed = entered.elapsed();
        self.batching.after_idle(elapsed);
        let spell = if timer_wait { Spell::TimerWait } else { Spell::Idle(elapsed) };
        self.spin.record(spell, budget);
        let idle = remote.idle_nanos.load(Relaxed);
        remote.idle_nanos.store(idle.saturating_add(nanos(elapsed)), Relaxed);
        remote.idle_since.store(0, Relaxed);
    }

    /// Returns whether it waited for its timers (a [`Spell::TimerWait`], not scored by
    /// the spin policy): it yielded for a deadline closer than [`NEAR_DEADLINE`], or it
    /// parked for one in a window because it fires timers densely.
    fn park_inner(&self, entered: Instant, spin: Duration) -> bool {
        // The tick to wake at: this wheel's next deadline, or a peer's `watch_tick` (its
        // due tick if it is stuck in a task, plus `HELP_AFTER` if between tasks, its
        // wake tick plus `STALL_GRACE` if parked).
        // Looked up before the spin, and again in each round of it: this wheel cannot
        // change during the spin (a timer or cancel sent in ends it through `work_hint`),
        // but a peer's can, and a peer's announce and a sender's `notify_one` reach only
        // sleepers, not a spinner. So a round that finds a peer's watch lowered, or an
        // awake peer's inbox or cancels waiting, ends the spin, and the main loop helps
        // that peer (`help_peers`) or parks with the new tick.
        let ticks = self.wake_ticks();
        let wake = ticks.first();
        if self.inbox_streaming() {
            return self.linger(wake);
        }
        let next = Some(wake.tick).filter(|&t| t != u64::MAX);
        // Firing timers densely: wait for them in windows, with no spin (see `density`).
        let dense = next.is_some() && self.remote().density.is_dense(self.shared.clock.now_tick());
        let spin = if dense { Duration::ZERO } else { spin };
        // The spin ends at the budget or at the wheel's next deadline, whichever is first
        // (a long budget must not make a due timer wait for it); a budget too large to add
        // (`Duration::MAX`) ends only at a deadline, work or shutdown.
        let timer_due_at = next.and_then(|tick| self.shared.clock.instant_of(tick));
        let spin_until = match (entered.checked_add(spin), timer_due_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Work and the clock are checked before each round of pauses, so a worker that
        // does not spin (a zero budget, or the spin policy says no) parks without pausing.
        loop {
            if self.work_hint() || self.shared.stopping.load(Relaxed) {
                return false;
            }
            if spin_until.is_some_and(|until| Instant::now() >= until) {
                break;
            }
            if self.wake_ticks().peers.tick < ticks.peers.tick || self.peer_messages_wait() {
                return false;
            }
            for _ in 0..32 {
                std::hint::spin_loop();
            }
            std::thread::yield_now();
        }
        let remote = self.remote();
        // The tick to sleep until: dense, past its own deadline by the slack (see
        // `density`), but not past a watch on a peer.
        let target = match next {
            Some(_) if dense => Some(ticks.dense_target(self.shared.config.dense_timer_slack_ticks)),
            other => other,
        };
        // How far it is now, after the spin.
        let wait = target.map(|tick| self.shared.clock.until(tick));
        if let Some(Some(d)) = wait {
            if d < NEAR_DEADLINE && !dense && wake.precise {
                std::thread::yield_now();
                return true;
            }
        }
        #[cfg(test)]
        hooks::BEFORE_REGISTER.with(hooks::Hook::run);
        let was_searching = self.searching.replace(false);
        self.shared.idle.register_sleeper(self.index, was_searching);
        remote.door.close(target.unwrap_or(u64::MAX));
        // The ticks are re-read after the fence: its own lowered by a helper, or a peer's
        // watch lowered since (its announce may have missed this park), or an awake
        // peer's inbox means another round. Each part is compared with its own earlier
        // value: a dense worker sleeps past its own deadline (to `target`), so a peer's
        // watch lowered to between the two must count too.
        let fresh = self.wake_ticks();
        let rechecked = self.work_hint()
            || fresh.own < ticks.own
            || fresh.peers.tick < ticks.peers.tick
            || self.peer_messages_wait();
        if !rechecked && !self.shared.stopping.load(SeqCst) {
            match wait {
                // Late by up to the slack, with every timer due by then fired together.
                Some(Some(d)) if dense => {
                    let _ = remote.parker.park_timeout(d);
                }
                Some(Some(d)) if wake.precise => {
                    // Wake a little early and yield out the rest for precision.
                    let _ = remote.parker.park_timeout(d.saturating_sub(NEAR_DEADLINE / 2));
                }
                // A watch on a peer (see `timers::STALL_GRACE`): late by a wake-up is fine.
                Some(Some(d)) => {
                    let _ = remote.parker.park_timeout(d);
                }
                _ => remote.parker.park(),
            }
        }
        self.leave_park();
        dense
    }
}

impl WorkerCtx {
    /// After a park (or its re-check) returns: the door reads awake again, and a worker a
    /// notifier took off the sleepers counts as a searcher.
    fn leave_park(&self) {
        #[cfg(test)]
        oversleep::after_park(&self.shared, self.index);
        self.remote().door.open();
        self.leave_sleepers();
    }

    /// Leaves the sleepers; returns whether a notifier had taken this worker off them
    /// already (it then counts as a searcher, and says so in `searching`).
    fn leave_sleepers(&self) -> bool {
        let notified = self.shared.idle.unregister_sleeper(self.index);
        if notified {
            self.searching.set(true);
        }
        notified
    }

    /// Timed tasks or cancels came into this worker's inbox or cancel queue since step 1
    /// of this round took them, and no ready work waits: they stream in faster than a
    /// park cycle.
    fn inbox_streaming(&self) -> bool {
        let remote = self.remote();
        (!remote.timer_inbox.is_empty() || !remote.timer_cancels.is_empty()) && !self.ready_work_visible()
    }

    /// A park that takes the inbox instead of being woken for it (see the module docs):
    /// publish `parked_until` (at most [`INBOX_LINGER`] ahead) with `inbox_wake_sent`
    /// left set, fence, take the inbox into the wheel; then, with nothing ready, register
    /// as a sleeper, fence, re-check, and park until the tick [`linger_wake`] picks.
    /// While messages keep coming (the park was aimed at the linger's end, nobody
    /// notified the worker, and the inbox or cancel queue refilled meanwhile), it
    /// lingers again without opening its door in between. Returns true: a timer wait.
    fn linger(&self, mut wake: WakeAt) -> bool {
        let remote = self.remote();
        let clock = &self.shared.clock;
        loop {
            let limit = clock.now_tick().saturating_add(INBOX_LINGER_TICKS);
            let until = wake.tick.min(limit).max(1);
            // Set, not cleared: a submitter that reads this park wakes it only for a timer
            // due before `until`; the others wait for the take at `until`.
            remote.door.close_lingering(until);
            // The re-check of the inbox is a take: a push this take misses read `until`.
            // It comes before the worker registers as a sleeper, so a batch it fires
            // notifies a peer, not this worker.
            let moved = self.tend_own();
            #[cfg(test)]
            LINGERS.record(&self.shared);
            if moved > 0 {
                remote.door.open();
                return true;
            }
            #[cfg(test)]
            hooks::BEFORE_REGISTER.with(hooks::Hook::run);
            let was_searching = self.searching.replace(false);
            self.shared.idle.register_sleeper(self.index, was_searching);
            fence(SeqCst);
            let next = self.wake_ticks();
            let rechecked = self.ready_work_visible() || self.peer_messages_wait();
            let mut ran_to_end = false;
            if !rechecked && !self.shared.stopping.load(SeqCst) {
                let dense = remote.density.is_dense(clock.now_tick());
                let slack = dense.then_some(self.shared.config.dense_timer_slack_ticks);
                let (tick, early) = linger_wake(next, until, slack);
                // Lowered to when the park really ends (never below it): a submitter then
                // wakes it only for a task due before that, and the stall watch of the
                // peers (`timers::watch_tick`) counts from it.
                if tick < until {
                    remote.door.lower(tick);
                }
                if let Some(d) = clock.until(tick) {
                    let _ = remote.parker.park_timeout(d.saturating_sub(early));
                }
                // To the linger's limit, not to a deadline or a watch that came first.
                ran_to_end = tick == until && limit < wake.tick;
            }
            #[cfg(test)]
            oversleep::after_park(&self.shared, self.index);
            #[cfg(test)]
            hooks::AFTER_LINGER_PARK.with(hooks::Hook::run);
            let notified = self.leave_sleepers();
            // Another round only for a stream that goes on: not for a deadline of its own
            // or a watch on a peer (the main loop fires and helps), not for work a notifier
            // woke it for, not once the runtime stops. The door still reads parked, so the
            // senders meanwhile knock only for a task due before `until`; the next round
            // publishes a new `until` before its take, as the first did.
            let streaming = !remote.timer_inbox.is_empty() || !remote.timer_cancels.is_empty();
            if !(ran_to_end && !notified && streaming) || self.shared.stopping.load(SeqCst) {
                remote.door.open();
                return true;
            }
            wake = self.wake_ticks().first();
        }
    }
}

/// The tick a lingering park ends at, and how much earlier to wake (to yield the rest,
/// for precision), given the ticks the worker must wake at after its take (`next`), the
/// linger's end (`until`) and, if its wheel fires densely, the dense timer slack in
/// ticks: a deadline the take brought before `until` is woken for as a plain park would
/// (a timer's a little early; a dense wheel's own the slack late, but not past a watch
/// on a peer, and capped at `until`).
fn linger_wake(next: WakeTicks, until: u64, dense_slack: Option<u64>) -> (u64, Duration) {
    let first = next.first();
    match (first.tick < until, dense_slack) {
        (true, Some(slack)) => (next.dense_target(slack).min(until), Duration::ZERO),
        (true, None) if first.precise => (first.tick, NEAR_DEADLINE / 2),
        (true, None) => (first.tick, Duration::ZERO),
        (false, _) => (until, Duration::ZERO),
    }
}

/// Asks Linux to wake this thread's timed sleeps on time rather than batching them with
/// the default 50 µs timer slack.
pub(super) fn reduce_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and only affects this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// `d` in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A test's stand-in for a stalled virtual CPU: one worker, chosen by the test, stays
/// "asleep" after its next park returns (its door still reads parked) until the test
/// releases it, as a thread on a vCPU the hypervisor does not run would.
#[cfg(test)]
pub(crate) mod oversleep {
    use crate::sched::shared::Shared;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// The worker to hold at its next park: its runtime's `Shared` address and its index.
    static TARGET: Mutex<Option<(usize, usize)>> = Mutex::new(None);
    /// Set by the test to end the hold (it also ends after 10 s).
    pub(crate) static RELEASE: AtomicBool = AtomicBool::new(false);
    /// Set when the held worker leaves the hold.
    pub(crate) static LEFT: AtomicBool = AtomicBool::new(false);

    /// Holds worker `index` of `shared`'s runtime after its next park.
    pub(crate) fn arm(shared: &Shared, index: usize) {
        *TARGET.lock().unwrap() = Some((shared as *const Shared as usize, index));
    }

    pub(super) fn after_park(shared: &Shared, index: usize) {
        let me = Some((shared as *const Shared as usize, index));
        {
            let mut target = TARGET.lock().unwrap();
            if *target != me {
                return;
            }
            *target = None;
        }
        let held = Instant::now();
        while !RELEASE.load(SeqCst) && held.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
        LEFT.store(true, SeqCst);
    }
}

/// Tests' hooks into a park: a closure set by a test on this thread runs once, the next
/// time this thread passes the hook's place.
#[cfg(test)]
pub(crate) mod hooks {
    use std::cell::RefCell;

    /// One hook: empty, or the closure to run at the next pass.
    pub(crate) struct Hook(RefCell<Option<Box<dyn FnOnce()>>>);

    impl Hook {
        const fn new() -> Hook {
            Hook(RefCell::new(None))
        }

        /// Runs `f` at the next pass (replacing a closure not run yet).
        pub(crate) fn set(&self, f: impl FnOnce() + 'static) {
            *self.0.borrow_mut() = Some(Box::new(f));
        }

        /// The pass: runs the closure, if one is set.
        pub(crate) fn run(&self) {
            let f = self.0.borrow_mut().take();
            if let Some(f) = f {
                f();
            }
        }
    }

    thread_local! {
        /// In a park (plain, or a round of a lingering one), after its look at the wake
        /// ticks (a linger's: after its take) and before it registers as a sleeper: a
        /// test puts a push or an announce in the window the re-check covers, or
        /// messages into a lingering park.
        pub(crate) static BEFORE_REGISTER: Hook = const { Hook::new() };
        /// In a lingering round, after its park returned and before the worker leaves
        /// the sleepers: a test notifies it there, as a notifier would during the park.
        pub(crate) static AFTER_LINGER_PARK: Hook = const { Hook::new() };
    }
}

/// Rounds of lingering parks (each take under a published `parked_until`), for tests.
#[cfg(test)]
pub(crate) static LINGERS: super::events::RuntimeEvents = super::events::RuntimeEvents::new();

#[cfg(test)]
mod tests {
    use super::super::test_helpers::spawn_at_worker;
    use super::super::WorkerCtx;
    use super::{linger_wake, WakeAt, WakeTicks, LINGERS, NEAR_DEADLINE};
    use crate::test_support::{eventually, runtime_without_threads};
    use crate::{Priority, Runtime};
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// A lingering park ends at the linger's end unless a deadline comes first: a
    /// timer's is woken for a little early, a watch on a peer on time, a dense wheel's
    /// the dense timer slack late (its own deadline, not a watch on a peer) but never
    /// past the linger's end.
    #[test]
    fn a_lingering_park_ends_at_the_first_deadline() {
        let until = 1_000;
        let slack = Some(156);
        let none = WakeAt { tick: u64::MAX, precise: true };
        let own = |own| WakeTicks { own, peers: none };
        let watch = |tick, precise| WakeTicks { own: u64::MAX, peers: WakeAt { tick, precise } };
        assert_eq!(linger_wake(own(u64::MAX), until, None), (until, Duration::ZERO));
        assert_eq!(linger_wake(own(until), until, slack), (until, Duration::ZERO));
        assert_eq!(linger_wake(own(400), until, None), (400, NEAR_DEADLINE / 2));
        assert_eq!(linger_wake(watch(400, false), until, None), (400, Duration::ZERO));
        assert_eq!(linger_wake(watch(400, true), until, None), (400, NEAR_DEADLINE / 2));
        assert_eq!(linger_wake(own(400), until, slack), (556, Duration::ZERO));
        assert_eq!(linger_wake(own(400), until, Some(0)), (400, Duration::ZERO));
        assert_eq!(linger_wake(own(until - 1), until, slack), (until, Duration::ZERO));
        // The slack never delays a watch on a peer, whether it comes first or after the
        // own deadline.
        assert_eq!(linger_wake(watch(400, true), until, slack), (400, Duration::ZERO));
        let both = |own, watch| WakeTicks { own, peers: WakeAt { tick: watch, precise: false } };
        assert_eq!(linger_wake(both(400, 500), until, slack), (500, Duration::ZERO));
        assert_eq!(linger_wake(both(400, 600), until, slack), (556, Duration::ZERO));
    }

    /// A dense worker sleeps until its own deadline plus the slack, or its watch on a
    /// peer if that comes sooner; with no deadline of its own, until the watch.
    #[test]
    fn a_dense_park_adds_the_slack_to_its_own_deadline_only() {
        let watch = |tick| WakeAt { tick, precise: true };
        let ticks = |own, peer| WakeTicks { own, peers: watch(peer) };
        assert_eq!(ticks(1_000, u64::MAX).dense_target(156), 1_156);
        assert_eq!(ticks(1_000, 1_100).dense_target(156), 1_100, "a stuck peer's timers are not delayed");
        assert_eq!(ticks(1_000, 900).dense_target(156), 900);
        assert_eq!(ticks(u64::MAX, 900).dense_target(156), 900);
        assert_eq!(ticks(u64::MAX - 10, u64::MAX).dense_target(156), u64::MAX);
        assert_eq!(ticks(1_000, 1_000).first(), WakeAt { tick: 1_000, precise: true });
        assert_eq!(ticks(1_000, 999).first(), watch(999));
    }

    /// A burst of far-off timed tasks from outside, with one due a few milliseconds ahead
    /// every 500: every far task reaches a wheel (`pending()` counts it), and every near
    /// one runs, none early. Then the far ones are cancelled in a burst: every cell leaves
    /// its wheel. Whether the workers linger here depends on how the OS shares the cores
    /// (on a loaded machine the submitter is descheduled while the workers drain, and no
    /// worker lingers at all), so the path is checked deterministically by
    /// `a_worker_whose_inbox_refilled_lingers_and_takes_it`; this test checks that nothing
    /// is lost or early whichever path the workers take. (A lingering park that missed a
    /// near task would still run it at the park's end: that lateness is the bench's
    /// business, not a test's.)
    #[test]
    fn a_burst_of_timers_from_outside_all_reach_a_wheel() {
        const BURST: u64 = 100_000;
        const NEAR_EVERY: u64 = 500;
        let rt = Runtime::builder().workers(2).spin_before_park(Duration::ZERO).build().unwrap();
        let (ran, early) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let far_at = Instant::now() + Duration::from_secs(3600);
        let mut far = Vec::new();
        let mut near = Vec::new();
        for i in 0..BURST {
            if i % NEAR_EVERY == 0 {
                let due = Instant::now() + Duration::from_millis(2 + i % 7);
                let (ran, early) = (ran.clone(), early.clone());
                near.push(rt.spawn_at(due, Priority::NORMAL, move || {
                    early.fetch_add(u64::from(Instant::now() < due), SeqCst);
                    ran.fetch_add(1, SeqCst);
                }));
            } else {
                far.push(rt.spawn_at(far_at + Duration::from_nanos(i), Priority::LOW, || ()));
            }
        }
        for h in near {
            h.join().unwrap();
        }
        eventually(|| rt.pending().timed() == far.len() as u64);
        assert_eq!(rt.pending().timed(), far.len() as u64, "far tasks left in an inbox");
        assert_eq!(ran.load(SeqCst), BURST / NEAR_EVERY);
        assert_eq!(early.load(SeqCst), 0, "a timed task ran before its instant");
        // Then a burst of cancels: every one takes, and every cell leaves its wheel.
        assert!(far.iter().all(|h| h.cancel()), "a pending timed task refused its cancel");
        eventually(|| rt.pending().timed() == 0);
        assert_eq!(rt.pending().timed(), 0, "cancelled cells left in a wheel");
        let report = rt.shutdown();
        assert_eq!(report.cancelled, far.len() as u64, "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
    }

    /// A worker that finds timed tasks (or cancels) sent into its inbox since it last
    /// took it, with no ready work, lingers: it takes them into its wheel itself (then
    /// `pending()` counts them) and parks for at most [`INBOX_LINGER`](super::INBOX_LINGER).
    /// Played by hand on a runtime whose threads never start, so the path is taken
    /// whatever the machine's load.
    #[test]
    fn a_worker_whose_inbox_refilled_lingers_and_takes_it() {
        let (rt, shared, mut queues) = runtime_without_threads(1);
        let worker = WorkerCtx::new(shared.clone(), 0, queues.remove(0));
        LINGERS.watch(&shared);
        let far_at = Instant::now() + Duration::from_secs(3600);
        let far: Vec<_> =
            (0..10).map(|i| rt.spawn_at(far_at + Duration::from_nanos(i), Priority::LOW, || ())).collect();
        assert_eq!(rt.pending().timed(), 0, "still in the inbox");
        worker.park();
        assert_eq!(LINGERS.count(), 1, "the worker did not linger");
        assert_eq!(rt.pending().timed(), 10, "the lingering park took the inbox into the wheel");
        // Cancels stream in the same way.
        assert!(far.iter().all(|h| h.cancel()));
        worker.park();
        assert_eq!(LINGERS.count(), 2, "the worker did not linger for the cancels");
        assert_eq!(rt.pending().timed(), 0, "cancelled cells left in the wheel");
        drop(worker);
        let report = rt.shutdown();
        assert_eq!(report.cancelled, 10, "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
    }

    /// Timed tasks sent while a worker lingers (here between its take and its park) find
    /// its door reading parked with the flag set, so they wake nobody; when the park ends
    /// the worker lingers again, door still closed, and takes them: a stream costs one
    /// wake-up per [`INBOX_LINGER`](super::INBOX_LINGER), not one per park cycle. Once a
    /// park ends with nothing new, the worker leaves and its door reads awake.
    #[test]
    fn a_worker_lingers_again_while_timers_keep_coming() {
        let (rt, shared, worker, far) = linger_with(
            1,
            |_| {},
            |_, shared| {
                assert_ne!(shared.remotes[0].door.parked_until(), 0, "the door reads parked meanwhile");
                let woken = shared.remotes[0].parker.park_timeout(Duration::ZERO);
                assert!(!woken, "a far timer sent to a lingering worker woke it");
            },
        );
        assert_eq!(LINGERS.count(), 2, "the worker did not linger again for the timers sent meanwhile");
        assert_eq!(rt.pending().timed(), 15, "the second round took them into the wheel");
        assert_eq!(shared.remotes[0].door.parked_until(), 0, "the door reads awake after the linger");
        assert!(far.iter().all(|h| h.cancel()));
        worker.park();
        assert_eq!(rt.pending().timed(), 0, "cancelled cells left in the wheel");
        drop(worker);
        let report = rt.shutdown();
        assert_eq!(report.cancelled, 15, "{report:?}");
        assert!(report.is_balanced(), "{report:?}");
    }

    use crate::sched::shared::Shared;
    use crate::JoinHandle;

    /// Far-off timed tasks sent from outside (`n` of them, an hour ahead).
    fn far_timers(rt: &crate::runtime::Handle, n: u64) -> Vec<JoinHandle<()>> {
        let far_at = Instant::now() + Duration::from_secs(3600);
        (0..n).map(|i| rt.spawn_at(far_at + Duration::from_nanos(i), Priority::LOW, || ())).collect()
    }

    /// Worker 0 of `workers` lingers (10 far timers in its inbox; `before` runs first)
    /// and `during` runs in its first round, after its take; 5 more far timers are sent
    /// then, so messages wait when the round ends. Returns after the park.
    fn linger_with(
        workers: usize,
        before: impl FnOnce(&Shared),
        during: impl FnOnce(&crate::runtime::Handle, &Arc<Shared>) + 'static,
    ) -> (Runtime, Arc<Shared>, WorkerCtx, Vec<JoinHandle<()>>) {
        let (rt, shared, mut queues) = runtime_without_threads(workers);
        let worker = WorkerCtx::new(shared.clone(), 0, queues.remove(0));
        LINGERS.watch(&shared);
        let far_at = Instant::now() + Duration::from_secs(3600);
        let mut far: Vec<_> = (0..10)
            .map(|i| spawn_at_worker(&rt.handle(), &shared, 0, far_at + Duration::from_nanos(i)))
            .collect();
        let _ = shared.remotes[0].parker.park_timeout(Duration::ZERO);
        before(&shared);
        let later = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let (handle, later2, shared2) = (rt.handle(), later.clone(), shared.clone());
        super::hooks::BEFORE_REGISTER.with(|h| {
            h.set(move || {
                later2.borrow_mut().extend(far_timers(&handle, 5));
                during(&handle, &shared2);
            })
        });
        worker.park();
        far.append(&mut later.borrow_mut());
        (rt, shared, worker, far)
    }

    /// Cancels `far`, lets worker 0 take the cancels, shuts down: all accounted for.
    fn finish_lingering(rt: Runtime, worker: WorkerCtx, far: Vec<JoinHandle<()>>) {
        assert!(far.iter().all(|h| h.cancel()));
        worker.maintain_timers();
        drop(worker);
        let report = rt.shutdown();
        assert!(report.is_balanced(), "{report:?}");
    }

    /// A round whose park ends at a watch on a peer (worker 1, stuck in a task past a due
    /// timer) leaves the loop though messages came: the main loop helps that peer.
    #[test]
    fn a_lingering_worker_leaves_for_a_watch_on_a_peer() {
        let (rt, shared, worker, far) = linger_with(
            2,
            |shared| {
                shared.remotes[1].running_since.store(0, SeqCst);
                shared.remotes[1].next_due.store(shared.clock.now_tick(), SeqCst);
            },
            |_, _| {},
        );
        assert_eq!(LINGERS.count(), 1, "it lingered again instead of helping its stuck peer");
        assert!(!shared.remotes[0].timer_inbox.is_empty(), "the messages are left to the main loop");
        shared.remotes[1].next_due.store(u64::MAX, SeqCst);
        shared.remotes[1].running_since.store(u64::MAX, SeqCst);
        finish_lingering(rt, worker, far);
    }

    /// A round whose re-check finds ready work leaves the loop though messages came.
    #[test]
    fn a_lingering_worker_leaves_for_ready_work() {
        let (rt, _, worker, far) =
            linger_with(1, |_| {}, |handle, _| drop(handle.spawn(Priority::LOW, || ())));
        assert_eq!(LINGERS.count(), 1, "it lingered again with ready work waiting");
        finish_lingering(rt, worker, far);
    }

    /// A worker taken off the sleepers while it lingers (as `notify_one` does for work)
    /// leaves the loop as the searcher its notifier counted, though messages came. The
    /// notify comes at the end of the first round's park (`hooks::AFTER_LINGER_PARK`), as
    /// a notifier's would during it.
    #[test]
    fn a_lingering_worker_notified_leaves_as_a_searcher() {
        let (rt, shared, worker, far) = linger_with(
            1,
            |_| {},
            |_, shared| {
                let shared = shared.clone();
                super::hooks::AFTER_LINGER_PARK.with(|h| {
                    h.set(move || {
                        assert_eq!(shared.idle.notify_one(), Some(0), "worker 0 sleeps, nobody searches");
                    })
                });
            },
        );
        assert_eq!(LINGERS.count(), 1, "notified, it lingered again");
        assert!(worker.searching.get(), "notified, it left without its searching flag");
        assert_eq!(shared.idle.num_searching(), 1, "the notifier counted it as searching");
        assert_eq!(shared.remotes[0].door.parked_until(), 0, "its door reads awake");
        worker.stop_searching();
        finish_lingering(rt, worker, far);
    }

    /// Each round publishes its own end before its take: a timed task due before the
    /// second round ends, sent after that round's take, wakes the worker (it read the
    /// second round's `parked_until`, not the first's, which has passed). Due one tick
    /// before that end; a try in which the machine stalled the test past it is repeated.
    #[test]
    fn a_timer_due_before_a_second_round_ends_wakes_the_worker() {
        for _ in 0..10 {
            let near = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
            let seen = std::rc::Rc::new(std::cell::Cell::new(None));
            let (near2, seen2) = (near.clone(), seen.clone());
            let (rt, _, worker, far) = linger_with(
                1,
                |_| {},
                move |handle, shared| {
                    let (handle, shared) = (handle.clone(), shared.clone());
                    super::hooks::BEFORE_REGISTER.with(|h| {
                        h.set(move || {
                            // Round 2, after its take.
                            let until = shared.remotes[0].door.parked_until();
                            let due = until.saturating_sub(1);
                            let at = shared.clock.instant_of(due).expect("a tick in range");
                            near2.borrow_mut().push(handle.spawn_at(at, Priority::LOW, || ()));
                            let woken = shared.remotes[0].parker.park_timeout(Duration::ZERO);
                            shared.remotes[0].parker.unpark();
                            // Not woken after a stall past `due` (the task was ready
                            // work, not a timer): no verdict, try again.
                            let stalled = !woken && shared.clock.has_begun(due);
                            seen2.set((!stalled).then_some(woken));
                        })
                    });
                },
            );
            assert!(LINGERS.count() >= 2, "it did not linger again");
            while let Some(t) = worker.queue.pop() {
                worker.run_task(t);
            }
            let _ = near.borrow()[0].cancel();
            finish_lingering(rt, worker, far);
            match seen.get() {
                Some(woken) => {
                    assert!(woken, "a timer due before the second round ends did not wake the worker");
                    return;
                }
                None => continue,
            }
        }
        panic!("every try stalled past the second round's end, or the round published no end to come");
    }
}
