//! Waiting for room under `Builder::max_pending`: the submitters that found the runtime
//! full, and the wake-ups a task leaving the waiting state sends them.
//!
//! ## Protocol
//!
//! - **Waiter**: listen (its listener is in the event's list), count itself in `waiters`,
//!   `SeqCst` fence, then try for a unit again; wait only if that fails, and uncount
//!   itself when the wait ends or is dropped ([`Counted`]).
//! - **Releaser** (`Shared::left_waiting`): give the unit back, `SeqCst` fence, and notify
//!   only if `waiters` is not zero.
//!
//! The two fences make it the store-buffer pattern: either the releaser reads the
//! waiter's count (and its listener, inserted before, gets the notification), or the
//! waiter's retry sees the unit given back. So a task start costs a fence and a load,
//! not the event's lock, while nobody waits.
//!
//! Blocked threads ([`Handle::spawn`](crate::Handle::spawn) and the like) and
//! [`spawn_async`](crate::Handle::spawn_async) futures listen on two events, and a
//! release notifies one more listener of each: a `spawn_async` future that was polled
//! once and is then kept without being polled again holds the notification it received
//! (as a tokio semaphore's acquire future holds its place), and on one shared event it
//! would have taken a blocked thread's wake-up, leaving the thread asleep with room free
//! once the runtime went quiet. Such a future can still delay other `spawn_async`
//! futures until the next release or until it is dropped (its notification then passes
//! on).

use event_listener::{Event, EventListener, IntoNotification};
use kairos_rt_core::sync::atomic::{fence, AtomicUsize, Ordering::*};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The submitters waiting for room, by kind, and how many there are.
#[derive(Debug, Default)]
pub(crate) struct Room {
    threads: Event,
    futures: Event,
    waiters: AtomicUsize,
}

impl Room {
    /// A unit was given back: wakes one more waiting thread and one more waiting future,
    /// if any waits (see the module docs).
    #[inline]
    pub(crate) fn released(&self) {
        fence(SeqCst);
        if self.waiters.load(Relaxed) != 0 {
            self.threads.notify(1.additional());
            self.futures.notify(1.additional());
        }
    }

    /// Shutdown: wakes every waiter (each then finds the runtime closed).
    pub(crate) fn close(&self) {
        self.threads.notify(usize::MAX);
        self.futures.notify(usize::MAX);
    }

    /// A blocked thread's listener, counted; try for a unit again before waiting on it.
    pub(crate) fn listen_thread(&self) -> (EventListener, Counted<'_>) {
        let listener = self.threads.listen();
        (listener, self.count())
    }

    /// A `spawn_async` future's listener, counted while it lives; try for a unit again
    /// before awaiting it.
    pub(crate) fn listen_future(&self) -> RoomListener<'_> {
        let listener = self.futures.listen();
        RoomListener { listener, _counted: self.count() }
    }

    fn count(&self) -> Counted<'_> {
        self.waiters.fetch_add(1, SeqCst);
        fence(SeqCst);
        Counted { waiters: &self.waiters }
    }
}

/// A waiter counted in [`Room`]'s `waiters` until dropped.
#[derive(Debug)]
pub(crate) struct Counted<'a> {
    waiters: &'a AtomicUsize,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.waiters.fetch_sub(1, Relaxed);
    }
}

/// A `spawn_async` future's wait for room: ready when notified; counted until dropped.
#[derive(Debug)]
pub(crate) struct RoomListener<'a> {
    listener: EventListener,
    _counted: Counted<'a>,
}

impl Future for RoomListener<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.listener).poll(cx)
    }
}
