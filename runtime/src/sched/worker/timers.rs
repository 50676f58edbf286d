//! A worker's timers: its wheel, and the timed tasks other threads send it.
//!
//! The wheel is owned by the worker and borrowed only on its thread. A timed task enters
//! it in one place ([`WorkerCtx::link_timer`]): from a spawn on this worker
//! ([`WorkerCtx::insert_timer`]) or from the timer inbox, which other threads fill
//! (`Shared::push_timer_inbox` states the inbox wake-up protocol, both sides). A task
//! cancelled on another thread comes back as a cancel message and is unlinked here. A
//! task that leaves the wheel due is pushed on the local queue; every change to the wheel
//! updates the per-level timed gauges and the published next due tick.

use super::WorkerCtx;
use crate::sched::shared::Shared;
use kairos_rt_core::sync::atomic::Ordering::Relaxed;
use kairos_rt_core::task::{Header, TaskRef};
use kairos_rt_core::timer::{Inserted, TimerDriver};
use kairos_rt_core::Priority;

/// Where [`WorkerCtx::link_timer`] put a timed task.
enum Placed {
    /// In the wheel.
    InWheel,
    /// Nowhere: it is already due, and the caller queues it.
    Ready(TaskRef),
    /// Nowhere: it had already ended (and is counted).
    Ended,
}

impl WorkerCtx {
    /// Puts a timed task (owned by this worker) in the wheel, or runs it now if due.
    pub(crate) fn insert_timer(&self, task: TaskRef) {
        match self.timers.try_borrow_mut() {
            Ok(mut timers) => match self.link_timer(&mut timers, task) {
                Placed::InWheel => self.publish_next_due(&timers),
                Placed::Ready(ready) => {
                    drop(timers);
                    self.push_local(ready);
                }
                Placed::Ended => {}
            },
            Err(_) => self.remote().timer_inbox.push(task),
        }
    }

    /// The one place a timed task enters this worker's wheel: linked (and counted in the
    /// timed gauge), handed back ready if already due (with its latency sample decided),
    /// or counted if it ended before it got here.
    fn link_timer(&self, timers: &mut TimerDriver, task: TaskRef) -> Placed {
        let level = task.priority();
        match timers.insert(task) {
            Inserted::Linked => {
                self.timed_gauge(level, 1);
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

    /// Adds `delta` to this worker's timed-task gauge of `level` (owner-only, wrapping).
    fn timed_gauge(&self, level: Priority, delta: i64) {
        let slot = &self.remote().timed_by_level[level.index()];
        slot.store(slot.load(Relaxed).wrapping_add(delta as u64), Relaxed);
    }

    fn publish_next_due(&self, timers: &TimerDriver) {
        self.remote().next_due.store(timers.next_expiration().unwrap_or(u64::MAX), Relaxed);
    }

    /// Unlinks a timed task cancelled on this thread. Returns it back if the wheel is
    /// busy (the caller then sends it as a cancel message).
    pub(crate) fn unlink_timer(&self, task: TaskRef) -> Option<TaskRef> {
        match self.timers.try_borrow_mut() {
            Ok(mut timers) => {
                self.remove_timer(&mut timers, &task);
                None
            }
            Err(_) => Some(task),
        }
    }

    pub(super) fn remove_timer(&self, timers: &mut TimerDriver, task: &TaskRef) {
        if let Some(outcome) = timers.remove(task) {
            self.timed_gauge(task.priority(), -1);
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
        let inbox = !remote.timer_inbox.is_empty();
        let cancels = !remote.timer_cancels.is_empty();
        let Ok(mut timers) = self.timers.try_borrow_mut() else { return };
        if !inbox && !cancels && timers.is_empty() {
            return;
        }
        if inbox {
            for t in remote.timer_inbox.take() {
                if let Placed::Ready(ready) = self.link_timer(&mut timers, t) {
                    self.queue.push(ready);
                }
            }
        }
        if cancels {
            Shared::drain_queue(&remote.timer_cancels, |t| self.remove_timer(&mut timers, &t));
        }
        if let Some(next) = timers.next_expiration() {
            let now = self.shared.clock.now_tick();
            if next <= now {
                let moved = timers.fire(
                    now,
                    |t| {
                        self.timed_gauge(t.priority(), -1);
                        self.sample_due(&t);
                        self.queue.push(t);
                    },
                    |t| {
                        let snap = t.snapshot();
                        self.timed_gauge(snap.priority(), -1);
                        self.count_unstarted(snap.outcome(), t);
                    },
                );
                self.publish_next_due(&timers);
                drop(timers);
                if moved > 1 && self.shared.idle.wants_notify() {
                    self.shared.notify_one();
                }
                return;
            }
        }
        self.publish_next_due(&timers);
    }
}
