//! The one door through which `kairos-rt-core` and `kairos` reach atomics, cells, locks,
//! threads and work-stealing deques.
//!
//! Normally everything here is `std` (and `crossbeam-deque` for the deques). Built with
//! `RUSTFLAGS="--cfg loom"`, every item is swapped for its [`loom`](https://docs.rs/loom)
//! counterpart so that the loom models in `loom-tests/` explore the real protocols, not
//! copies of them. crossbeam-deque is invisible to loom, so under `--cfg loom` the
//! [`deque`] module is a small lock-based queue with the same interface, built on loom's
//! `Mutex` so that every push, pop and steal is a visible synchronisation point.
//!
//! Invariant: no file in `kairos-rt-core` or `kairos` names `std::sync`, `std::thread`,
//! `std::cell::UnsafeCell` or `crossbeam_deque` directly for shared state; they go
//! through this module.

pub mod cell;
pub mod deque;
#[cfg(not(loom))]
pub mod injector;

#[cfg(not(loom))]
mod imp {
    pub use std::sync::{Arc, Condvar, Mutex, MutexGuard, WaitTimeoutResult};
    pub use std::thread;

    /// Atomics (std, or loom under `--cfg loom`).
    pub mod atomic {
        pub use std::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }

    /// Spin hints (std, or loom's yield under `--cfg loom`).
    pub mod hint {
        pub use std::hint::spin_loop;
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::sync::{Arc, Condvar, Mutex, MutexGuard, WaitTimeoutResult};
    pub use loom::thread;

    /// Atomics (std, or loom under `--cfg loom`).
    pub mod atomic {
        pub use loom::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }

    /// Spin hints: under loom a spin is a yield, so that models with spin loops terminate.
    pub mod hint {
        pub use loom::hint::spin_loop;
    }
}

pub use imp::*;

/// Locks a mutex, treating poisoning as impossible.
///
/// kairos never runs user code while holding one of its own locks, so a poisoned lock
/// means a bug in kairos itself; the data behind it is still consistent (every critical
/// section leaves it so before any call that could panic), so we take it anyway instead
/// of propagating a panic into a worker.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
