//! [`RuntimeTimer`]: the body of the runtime's own timers, the no-op task behind every
//! [`Sleep`](crate::Sleep) (and so every `timeout`, run-timeout limit, retry backoff and
//! interval tick).
//!
//! It does nothing when it runs; it exists so that its cell's vtable says
//! [`Body::IS_RUNTIME_TIMER`]: the counters (`stats::counters`), the timed-task gauges
//! and [`ShutdownReport`](crate::ShutdownReport) then count it apart from user tasks.

use kairos_rt_core::task::{Abort, Body};
use std::task::{Context, Poll};

/// The no-op body of one of the runtime's own timers.
#[derive(Debug)]
pub(crate) struct RuntimeTimer;

// SAFETY: a closure-like body (`IS_FUTURE == false`) with nothing to move out: `run`
// returns `Ready` at once, and the zero-sized body needs no drop, so it is gone after the
// call as the contract requires.
unsafe impl Body for RuntimeTimer {
    type Output = ();
    const IS_FUTURE: bool = false;
    const IS_RUNTIME_TIMER: bool = true;

    #[inline]
    unsafe fn run(_this: *mut Self, _cx: &mut Context<'_>) -> Poll<Result<(), Abort>> {
        Poll::Ready(Ok(()))
    }
}

/// One of the runtime's own timers that does something when it fires: a deadline's
/// expiry (`task::expiry`). Counted like [`RuntimeTimer`].
pub(crate) struct RuntimeTimerAction<F>(pub(crate) F);

impl<F> std::fmt::Debug for RuntimeTimerAction<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RuntimeTimerAction(..)")
    }
}

// SAFETY: a closure-like body (`IS_FUTURE == false`): `run` moves the closure out of the
// initialised body it is given (the caller gives it up to this call) and calls it, so
// nothing is left to drop after the call, as the contract requires.
unsafe impl<F: FnOnce() + Send + 'static> Body for RuntimeTimerAction<F> {
    type Output = ();
    const IS_FUTURE: bool = false;
    const IS_RUNTIME_TIMER: bool = true;

    #[inline]
    unsafe fn run(this: *mut Self, _cx: &mut Context<'_>) -> Poll<Result<(), Abort>> {
        // SAFETY: the caller owns an initialised body and gives it up to this call.
        let RuntimeTimerAction(f) = unsafe { this.read() };
        f();
        Poll::Ready(Ok(()))
    }
}
