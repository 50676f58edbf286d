//! A one-permit parker for threads that wait: workers, `block_on`, blocking joins.
//!
//! `unpark` leaves a permit; `park` consumes it or sleeps until one arrives (or the
//! timeout passes). A permit left before `park` is never lost, which is what makes the
//! callers' "publish state, then unpark" / "check state, then park" protocols free of
//! lost wake-ups. Spurious returns are allowed; callers re-check their condition.

use crate::sync::{lock, Arc, Condvar, Mutex};
use std::task::{Wake, Waker};
use std::time::Duration;

/// A one-permit parker (see the module docs).
#[derive(Debug, Default)]
pub struct Parker {
    permit: Mutex<bool>,
    cond: Condvar,
}

impl Parker {
    /// A parker with no permit.
    pub fn new() -> Parker {
        Parker { permit: Mutex::new(false), cond: Condvar::new() }
    }

    /// Sleeps until a permit is available, then consumes it.
    pub fn park(&self) {
        let mut permit = lock(&self.permit);
        while !*permit {
            permit = match self.cond.wait(permit) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
        *permit = false;
    }

    /// Like [`park`](Self::park) but gives up after `timeout`; true if a permit was consumed.
    pub fn park_timeout(&self, timeout: Duration) -> bool {
        let mut permit = lock(&self.permit);
        if !*permit {
            permit = match self.cond.wait_timeout(permit, timeout) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        let had = *permit;
        *permit = false;
        had
    }

    /// Leaves a permit and wakes the parked thread, if any.
    pub fn unpark(&self) {
        let mut permit = lock(&self.permit);
        *permit = true;
        drop(permit);
        self.cond.notify_one();
    }
}

/// A waker that unparks a [`Parker`].
#[derive(Debug)]
pub struct ParkWaker(pub Arc<Parker>);

impl Wake for ParkWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

impl ParkWaker {
    /// A `Waker` that unparks `parker`.
    pub fn waker(parker: Arc<Parker>) -> Waker {
        Waker::from(std::sync::Arc::new(ParkWaker(parker)))
    }
}
