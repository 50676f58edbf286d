//! The *policed body*: what a [`Task`] spawned with policies runs. It checks the start
//! deadline at the first run (a task never starts past it), drops the expiry timer's
//! link (`expiry.rs`) when the task starts, and arms and polls a future's run timeout;
//! see the parent module's "How the policies run".

use super::super::expiry::ExpiryLink;
use super::{Settings, Task};
use crate::Sleep;
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{Abort, Body};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

impl<B> Task<B> {
    /// The task's body wrapped in its policies, and the settings to rebuild the task
    /// from if the spawn is refused. A closure's run timeout becomes a start deadline.
    pub(super) fn policed(self) -> (Policed<B>, Settings)
    where
        B: Body,
    {
        let Task { body, priority, start, deadline, timeout } = self;
        let settings = Settings { priority, start, deadline, timeout };
        let mut start_by = deadline;
        let mut run_timeout = None;
        match timeout {
            Some(t) if B::IS_FUTURE => run_timeout = Some(t),
            Some(t) => {
                // Beyond `Instant`'s range, there is no deadline at all.
                if let Some(at) = Instant::now().checked_add(t) {
                    start_by = Some(start_by.map_or(at, |d| d.min(at)));
                }
            }
            None => {}
        }
        (Policed { inner: body, start_by, run_timeout, timer: None, expiry: None, started: false }, settings)
    }
}

/// The body of a task spawned with policies (see the module docs).
pub(super) struct Policed<B> {
    pub(super) inner: B,
    start_by: Option<Instant>,
    run_timeout: Option<Duration>,
    timer: Option<Sleep>,
    /// The expiry timer's link (a task with a deadline): taken at the first run, which
    /// cancels the timer (see `expiry.rs`).
    expiry: Option<Arc<ExpiryLink>>,
    started: bool,
}

impl<B> Policed<B> {
    /// For a task with a start deadline: a new expiry link, kept by the body, and the
    /// deadline, for the spawner to `expiry::arm` once the task is spawned.
    pub(super) fn link_expiry(&mut self) -> Option<(Instant, Arc<ExpiryLink>)> {
        let deadline = self.start_by?;
        let link = Arc::new(ExpiryLink::default());
        self.expiry = Some(link.clone());
        Some((deadline, link))
    }
}

// SAFETY: delegates to the inner body's `run`, which follows the contract. On expiry a
// closure's inner body is moved out and dropped, and the remaining fields need no drop
// (`timer` is only ever armed for futures, `expiry` is taken at the first run), so the
// body is gone after the call as the contract requires; a future's body stays in place
// for the harness to drop.
unsafe impl<B: Body> Body for Policed<B> {
    type Output = B::Output;
    const IS_FUTURE: bool = B::IS_FUTURE;
    const STARTS_AT_SHUTDOWN: bool = B::STARTS_AT_SHUTDOWN;

    unsafe fn run(this: *mut Self, cx: &mut Context<'_>) -> Poll<Result<B::Output, Abort>> {
        // SAFETY: the caller owns the initialised body exclusively for this call.
        let me = unsafe { &mut *this };
        if !me.started {
            me.started = true;
            // The task has started (or is about to expire here): its expiry timer goes.
            drop(me.expiry.take());
            if me.start_by.is_some_and(|d| Instant::now() > d) {
                if !B::IS_FUTURE {
                    // SAFETY: a closure body must be gone after `run`: move it out, drop it.
                    drop(unsafe { core::ptr::addr_of_mut!(me.inner).read() });
                }
                return Poll::Ready(Err(Abort::Expired));
            }
            if B::IS_FUTURE {
                if let Some(limit) = me.run_timeout {
                    me.timer = Some(crate::sleep(limit));
                }
            }
        }
        if let Some(timer) = me.timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                return Poll::Ready(Err(Abort::TimedOut));
            }
        }
        // SAFETY: `inner` is initialised and owned by this call, per our own contract.
        unsafe { B::run(core::ptr::addr_of_mut!(me.inner), cx) }
    }
}
