//! The cap on concurrently running processes: an async semaphore whose waiters are
//! served by priority, then arrival.
//!
//! A leaf: it depends on nothing else in the crate (only on `kairos_rt_core::Priority`),
//! so that the scheduler's shared state can own the runtime's limiter without naming the
//! `process` module that takes slots from it (`process/mod.rs`, step 2 of a run).
//!
//! The protocol, under one lock (`LimiterState`):
//!
//! - **Take**: a slot is taken at once only if no one waits and fewer than `max` are in
//!   use; otherwise the taker joins the wait list, keyed by (most urgent level first,
//!   arrival), and waits.
//! - **Give back** (a [`Permit`]'s drop): the slot goes *straight to the first waiter*
//!   (it moves to `granted` and is woken; `running` does not drop), so a newcomer never
//!   overtakes a waiter; with no waiter, `running` drops by one.
//! - **Drop a waiter**: a waiter that is dropped before it took a slot handed to it
//!   passes that slot on, as if it had taken and released it; one still waiting just
//!   leaves the list.
//!
//! Invariant: `running` counts the permits alive plus the slots in `granted`, and never
//! exceeds `max`.

use kairos_rt_core::Priority;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding this lock but allocation; recover rather than spread
    // a poison panic into a worker.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A waiter's place: most urgent level first, then arrival order.
type WaitKey = (Reverse<u8>, u64);

#[derive(Debug, Default)]
struct LimiterState {
    /// Slots in use, counting slots handed to a waiter that has not yet taken them.
    running: usize,
    /// Arrival counter for `WaitKey`.
    next_seq: u64,
    /// Waiters without a slot, in service order.
    waiters: BTreeMap<WaitKey, Waker>,
    /// Waiters a slot was handed to, until they take it (or are dropped).
    granted: HashSet<WaitKey>,
}

/// Caps how many child processes a runtime runs at once.
///
/// An asynchronous semaphore whose waiters are served by priority, then in arrival
/// order; a freed slot goes straight to the next waiter.
#[derive(Debug)]
pub(crate) struct ProcessLimiter {
    max: usize,
    state: Mutex<LimiterState>,
}

impl ProcessLimiter {
    /// A limiter letting `max` processes run at once (`max >= 1`, checked by the builder).
    pub(crate) fn new(max: usize) -> ProcessLimiter {
        ProcessLimiter { max, state: Mutex::new(LimiterState::default()) }
    }

    /// The cap.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Slots in use (handed-over slots included).
    #[cfg(test)]
    fn running(&self) -> usize {
        lock(&self.state).running
    }

    /// Waits, without blocking the thread, for a slot; `priority` orders the waiters.
    pub(crate) fn acquire(self: &Arc<Self>, priority: Priority) -> Acquire {
        Acquire { limiter: self.clone(), priority, key: None, done: false }
    }

    /// Gives a slot back: to the first waiter if there is one, else to the pool.
    fn release(&self) {
        let waker = {
            let mut st = lock(&self.state);
            match st.waiters.pop_first() {
                Some((key, waker)) => {
                    st.granted.insert(key);
                    Some(waker)
                }
                None => {
                    st.running = st.running.saturating_sub(1);
                    None
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A slot of the limiter, given back on drop.
#[derive(Debug)]
pub(crate) struct Permit(Arc<ProcessLimiter>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The future of [`ProcessLimiter::acquire`].
#[derive(Debug)]
pub(crate) struct Acquire {
    limiter: Arc<ProcessLimiter>,
    priority: Priority,
    /// Our place in the wait list, once we wait.
    key: Option<WaitKey>,
    /// The permit was returned: nothing to undo on drop.
    done: bool,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        let mut st = lock(&this.limiter.state);
        match this.key {
            None => {
                if st.waiters.is_empty() && st.running < this.limiter.max() {
                    st.running += 1;
                } else {
                    let key = (Reverse(this.priority.level()), st.next_seq);
                    st.next_seq += 1;
                    st.waiters.insert(key, cx.waker().clone());
                    this.key = Some(key);
                    return Poll::Pending;
                }
            }
            Some(key) => {
                if !st.granted.remove(&key) {
                    if let Some(w) = st.waiters.get_mut(&key) {
                        if !w.will_wake(cx.waker()) {
                            *w = cx.waker().clone();
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
        drop(st);
        this.done = true;
        Poll::Ready(Permit(this.limiter.clone()))
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(key) = self.key.filter(|_| !self.done) else { return };
        let handed = {
            let mut st = lock(&self.limiter.state);
            st.waiters.remove(&key);
            st.granted.remove(&key)
        };
        if handed {
            // A slot was handed to us and we will never use it: pass it on.
            self.limiter.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountWake(AtomicUsize);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(f: &mut Acquire, w: &Arc<CountWake>) -> Poll<Permit> {
        let waker = Waker::from(w.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn limiter_serves_waiters_by_priority_then_arrival() {
        let l = Arc::new(ProcessLimiter::new(1));
        let w = Arc::new(CountWake(AtomicUsize::new(0)));
        let mut first = l.acquire(Priority::LOWEST);
        let Poll::Ready(p0) = poll(&mut first, &w) else { panic!("a free slot is taken at once") };
        let mut low = l.acquire(Priority::LOW);
        let mut high_a = l.acquire(Priority::HIGH);
        let mut high_b = l.acquire(Priority::HIGH);
        assert!(poll(&mut low, &w).is_pending());
        assert!(poll(&mut high_a, &w).is_pending());
        assert!(poll(&mut high_b, &w).is_pending());
        drop(p0);
        assert_eq!(w.0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut low, &w).is_pending());
        assert!(poll(&mut high_b, &w).is_pending());
        let Poll::Ready(p1) = poll(&mut high_a, &w) else { panic!("the slot went to the first HIGH") };
        // A newcomer does not overtake the waiters.
        let mut late = l.acquire(Priority::HIGHEST);
        drop(p1);
        assert!(poll(&mut late, &w).is_pending());
        let Poll::Ready(p2) = poll(&mut high_b, &w) else { panic!("then the second HIGH") };
        drop(p2);
        // `late` (HIGHEST) queued before this release; it now outranks `low`.
        assert!(poll(&mut low, &w).is_pending());
        let Poll::Ready(p3) = poll(&mut late, &w) else { panic!("then HIGHEST") };
        drop(p3);
        let Poll::Ready(p4) = poll(&mut low, &w) else { panic!("then LOW") };
        assert_eq!(l.running(), 1);
        drop(p4);
        assert_eq!(l.running(), 0);
    }

    #[test]
    fn dropped_waiter_passes_its_slot_on() {
        let l = Arc::new(ProcessLimiter::new(1));
        let w = Arc::new(CountWake(AtomicUsize::new(0)));
        let mut a = l.acquire(Priority::NORMAL);
        let Poll::Ready(pa) = poll(&mut a, &w) else { panic!() };
        let mut b = l.acquire(Priority::NORMAL);
        let mut c = l.acquire(Priority::NORMAL);
        assert!(poll(&mut b, &w).is_pending());
        assert!(poll(&mut c, &w).is_pending());
        drop(pa); // handed to b
        drop(b); // b never takes it: on to c
        let Poll::Ready(pc) = poll(&mut c, &w) else { panic!("c gets b's slot") };
        // A waiting (not granted) waiter that is dropped leaves no trace.
        let mut d = l.acquire(Priority::NORMAL);
        assert!(poll(&mut d, &w).is_pending());
        drop(d);
        drop(pc);
        assert_eq!(l.running(), 0);
        let mut e = l.acquire(Priority::NORMAL);
        assert!(poll(&mut e, &w).is_ready());
    }
}
