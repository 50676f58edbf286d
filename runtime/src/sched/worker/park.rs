//! Parking: step 4 of the main loop (see the parent module).
//!
//! A worker with nothing to do spins for its budget while recent idle spells show that
//! spinning pays ([`spin`](super::spin)), then registers as a sleeper, re-checks for
//! work, and parks until woken or until its wheel's next deadline. A deadline closer
//! than [`NEAR_DEADLINE`] is waited out by yielding instead, for precision; a worker that
//! fires timers densely parks until its deadline plus [`COALESCE`](super::density::COALESCE) instead, with no spin
//! and no yield (see [`density`](super::density)).
//!
//! The sleeper side of two wake-up protocols lives here: the idle protocol
//! (`kairos_rt_core::idle`: register, re-check, park) and the timer-inbox protocol
//! (clear `inbox_wake_sent`, publish `parked_until`, `SeqCst` fence, re-check; the
//! submitter's side is `Shared::push_timer_inbox`, which states both).

use super::density::COALESCE_TICKS;
use super::spin::Spell;
use super::WorkerCtx;
use kairos_rt_core::sync::atomic::{fence, Ordering::*};
use std::time::{Duration, Instant};

/// A deadline closer than this is waited for by yielding rather than parking.
pub(crate) const NEAR_DEADLINE: Duration = Duration::from_micros(60);

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
        // Looked up once: this wheel cannot change during the spin (a timer or cancel
        // sent in ends the spin through `work_hint`), and a peer's lowered tick is caught
        // by the re-check below or by its announce.
        let wake = self.wake_tick();
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
            for _ in 0..32 {
                std::hint::spin_loop();
            }
            std::thread::yield_now();
        }
        let remote = self.remote();
        // The tick to sleep until: dense, past the deadline by `COALESCE` (see `density`).
        let target = match next {
            Some(tick) if dense => Some(tick.saturating_add(COALESCE_TICKS)),
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
        let was_searching = self.searching.replace(false);
        self.shared.idle.register_sleeper(self.index, was_searching);
        remote.door.inbox_wake_sent.store(false, Relaxed);
        remote.door.parked_until.store(target.unwrap_or(u64::MAX).max(1), SeqCst);
        fence(SeqCst);
        // The peers' ticks are re-read after the fence: one lowered since (its announce
        // may have missed this park) or an awake peer's inbox means another round.
        let rechecked =
            self.work_hint() || self.wake_tick().tick < next.unwrap_or(u64::MAX) || self.peer_messages_wait();
        if !rechecked && !self.shared.stopping.load(SeqCst) {
            match wait {
                // Late by up to `COALESCE`, with every timer due by then fired together.
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
        #[cfg(test)]
        oversleep::after_park(&self.shared, self.index);
        remote.door.parked_until.store(0, SeqCst);
        if self.shared.idle.unregister_sleeper(self.index) {
            self.searching.set(true);
        }
        dense
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
