//! [`SharedWheel`]: a worker's [`TimerDriver`] that a free worker can take over while the
//! owner is busy, so a long task never holds back the timers in its worker's wheel.
//!
//! ## Protocol
//!
//! The driver sits behind one ownership flag, `held`:
//!
//! - **owner** ([`SharedWheel::hold`], on every insert, cancel and expiry): CAS `held`
//!   from false to true (`Acquire`); run; store false (`Release`). A helper holds the
//!   flag only for the few microseconds it takes to fire what is due, so the owner's CAS
//!   fails only then, and it waits that long, yielding (never for a task to run).
//! - **helper** ([`SharedWheel::try_hold`], any other worker): one CAS; if it fails the
//!   owner (or another helper) is at the wheel, and the helper leaves it alone.
//! - **shutdown** ([`SharedWheel::close`], the owner as it exits): hold as the owner,
//!   run the last drain (every task cancelled), then mark the slot closed before the
//!   release. Every later `hold` or `try_hold` returns `None` without touching it.
//!
//! When a helper takes the wheel, and how it learns a wheel needs it (the owner's
//! published next due tick and the idle workers' park timeouts), is the runtime's part
//! (`kairos::sched::worker::timers`); this type only makes the hand-over sound.
//!
//! ## Invariants
//!
//! - The driver (and the links of every task in it) is touched only by the thread whose
//!   CAS set `held`, between that CAS and its release store; the Acquire/Release pair
//!   orders each holder's accesses after the previous holder's.
//! - After `close` returns, no thread touches the driver again.
//! - A task in the wheel is taken out by exactly one holder (`TimerDriver::fire`,
//!   `remove` or `cancel_all`), so it fires once or is cancelled once.
//!
//! ## Cost
//!
//! For the owner, one uncontended CAS and one store per access (the wheel's own work is
//! unchanged, O(1) per insert and cancel). The flag is on the wheel's own line, which a
//! helper writes only when it takes the wheel over.
//!
//! Modelled in `loom-tests/tests/wheel_handover.rs` (owner advance vs helper fire vs
//! cancel vs shutdown: every timer fires exactly once or is cancelled exactly once).

use core::fmt;

use crate::sync::atomic::{AtomicBool, Ordering::*};
use crate::sync::cell::UnsafeCell;
use crate::timer::TimerDriver;

/// What the ownership flag guards: the driver and whether shutdown closed it.
#[derive(Debug, Default)]
struct Slot {
    timers: TimerDriver,
    closed: bool,
}

/// A worker's timer driver, held by its owner or, while the owner is busy, by a helper
/// (see the module docs).
///
/// # Examples
///
/// ```
/// use kairos_rt_core::shared_wheel::SharedWheel;
///
/// let wheel = SharedWheel::new();
/// assert_eq!(wheel.hold(|timers| timers.len()), Some(0));
/// assert_eq!(wheel.try_hold(|timers| timers.is_empty()), Some(true));
/// wheel.close(|timers| assert!(timers.is_empty()));
/// assert_eq!(wheel.hold(|timers| timers.len()), None, "closed: nobody touches it again");
/// ```
pub struct SharedWheel {
    held: AtomicBool,
    slot: UnsafeCell<Slot>,
}

// SAFETY: the slot is reached only by the thread that set `held` (see the invariants), and
// what it holds (task cells) is `Send` and `Sync`; the raw pointers in the driver do not
// tie it to a thread.
unsafe impl Send for SharedWheel {}
// SAFETY: as above: `held` gives one thread at a time access to the slot.
unsafe impl Sync for SharedWheel {}

/// Releases the flag when dropped (also if the holder's closure panics).
struct ReleaseOnDrop<'a>(&'a AtomicBool);

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Release);
    }
}

impl SharedWheel {
    /// An empty wheel, held by nobody.
    pub fn new() -> SharedWheel {
        SharedWheel { held: AtomicBool::new(false), slot: UnsafeCell::new(Slot::default()) }
    }

    fn try_acquire(&self) -> bool {
        self.held.compare_exchange(false, true, Acquire, Relaxed).is_ok()
    }

    /// Runs `f` on the slot; the caller set `held`.
    fn run<R>(&self, f: impl FnOnce(&mut Slot) -> R) -> R {
        let _release = ReleaseOnDrop(&self.held);
        // SAFETY: this thread's CAS set `held` and `_release` clears it only after `f`
        // returns: no other thread reaches the slot meanwhile (the module's invariants).
        self.slot.with_mut(|slot| f(unsafe { &mut *slot }))
    }

    /// The owner's access: waits (yielding) while a helper holds the wheel, then runs `f`
    /// on the driver. `None` once the wheel is closed.
    ///
    /// Must not be called again from inside `f` on the same thread (it would wait for
    /// itself): the runtime tracks whether its worker already holds the wheel.
    pub fn hold<R>(&self, f: impl FnOnce(&mut TimerDriver) -> R) -> Option<R> {
        while !self.try_acquire() {
            crate::sync::thread::yield_now();
        }
        self.run(|slot| (!slot.closed).then(|| f(&mut slot.timers)))
    }

    /// A helper's access: runs `f` on the driver if nobody holds it and it is not closed.
    pub fn try_hold<R>(&self, f: impl FnOnce(&mut TimerDriver) -> R) -> Option<R> {
        if !self.try_acquire() {
            return None;
        }
        self.run(|slot| (!slot.closed).then(|| f(&mut slot.timers)))
    }

    /// Shutdown: waits like [`hold`](Self::hold), runs `f` (the last drain), and closes
    /// the wheel: later accesses get `None`. A closed wheel runs `f` on its (empty) driver
    /// again.
    pub fn close<R>(&self, f: impl FnOnce(&mut TimerDriver) -> R) -> R {
        while !self.try_acquire() {
            crate::sync::thread::yield_now();
        }
        self.run(|slot| {
            let r = f(&mut slot.timers);
            slot.closed = true;
            r
        })
    }
}

impl Default for SharedWheel {
    fn default() -> SharedWheel {
        SharedWheel::new()
    }
}

impl fmt::Debug for SharedWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedWheel").field("held", &self.held.load(Relaxed)).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_helper_is_refused_while_the_owner_holds_it() {
        let wheel = SharedWheel::new();
        let inner = wheel.hold(|_| wheel.try_hold(|_| ()));
        assert_eq!(inner, Some(None), "held by the owner: the helper backs off");
        assert_eq!(wheel.try_hold(|_| ()), Some(()), "released after the owner's access");
    }

    #[test]
    fn a_panicking_holder_releases_the_wheel() {
        let wheel = SharedWheel::new();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| wheel.hold(|_| panic!("boom"))));
        assert!(r.is_err());
        assert_eq!(wheel.try_hold(|_| 1), Some(1));
    }

    #[test]
    fn close_runs_the_last_drain_then_refuses_everyone() {
        let wheel = SharedWheel::new();
        assert_eq!(wheel.close(|t| t.len()), 0);
        assert_eq!(wheel.hold(|_| ()), None);
        assert_eq!(wheel.try_hold(|_| ()), None);
    }
}
