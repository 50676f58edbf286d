//! Work-stealing deques: `crossbeam-deque`'s `Worker` and `Stealer` and kairos's own
//! [`Injector`] (see [`injector`](super::injector) for why) normally, a loom-visible
//! stand-in under loom.
//!
//! The stand-in keeps crossbeam's interface (`Worker`, `Stealer`, `Injector`, [`Steal`])
//! and its guarantees that matter to kairos: every pushed item is taken exactly once, by
//! `pop` on the owner or by a `steal*` anywhere. It does not model crossbeam's internal
//! memory orderings (those are crossbeam's own, tested by crossbeam); it makes each queue
//! operation a synchronisation point that loom can interleave with kairos's own atomics.
//! Batch steals move at most `LOOM_BATCH` items so that models stay small.

pub use crossbeam_deque::Steal;

#[cfg(not(loom))]
pub use super::injector::Injector;
#[cfg(not(loom))]
pub use crossbeam_deque::{Stealer, Worker};

#[cfg(loom)]
pub use loom_queue::{Injector, Stealer, Worker};

/// Largest batch a loom stand-in steal moves.
#[cfg(loom)]
pub const LOOM_BATCH: usize = 2;

#[cfg(loom)]
mod loom_queue {
    use super::{Steal, LOOM_BATCH};
    use crate::sync::{lock, Arc, Mutex, MutexGuard};
    use std::collections::VecDeque;

    /// Owner side of a FIFO deque (loom stand-in).
    pub struct Worker<T> {
        inner: Arc<Mutex<VecDeque<T>>>,
    }

    /// Thief side of a [`Worker`] (loom stand-in).
    pub struct Stealer<T> {
        inner: Arc<Mutex<VecDeque<T>>>,
    }

    /// Multi-producer multi-consumer queue (loom stand-in).
    pub struct Injector<T> {
        inner: Mutex<VecDeque<T>>,
    }

    impl<T> Clone for Stealer<T> {
        fn clone(&self) -> Self {
            Stealer { inner: self.inner.clone() }
        }
    }

    impl<T> std::fmt::Debug for Worker<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Worker { .. }")
        }
    }
    impl<T> std::fmt::Debug for Stealer<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Stealer { .. }")
        }
    }
    impl<T> std::fmt::Debug for Injector<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Injector { .. }")
        }
    }

    /// Takes a batch from `src` (whose lock the caller holds, and gives up), then puts all
    /// but the first into `dest` under its own lock: never both locks at once, so two
    /// workers stealing from each other cannot deadlock (crossbeam takes no lock at all;
    /// the batch is in neither queue meanwhile, as in crossbeam between its two steps).
    fn move_batch<T>(mut src: MutexGuard<'_, VecDeque<T>>, dest: &Worker<T>) -> Steal<T> {
        let Some(first) = src.pop_front() else {
            return Steal::Empty;
        };
        let extra = (src.len() / 2).min(LOOM_BATCH - 1);
        let batch: Vec<T> = (0..extra).filter_map(|_| src.pop_front()).collect();
        drop(src);
        if !batch.is_empty() {
            lock(&dest.inner).extend(batch);
        }
        Steal::Success(first)
    }

    impl<T> Worker<T> {
        /// A FIFO worker queue.
        pub fn new_fifo() -> Self {
            Worker { inner: Arc::new(Mutex::new(VecDeque::new())) }
        }
        /// A LIFO worker queue (the stand-in is FIFO for steals, LIFO for pops).
        pub fn new_lifo() -> Self {
            Self::new_fifo()
        }
        /// A thief handle.
        pub fn stealer(&self) -> Stealer<T> {
            Stealer { inner: self.inner.clone() }
        }
        /// Pushes onto the back.
        pub fn push(&self, item: T) {
            lock(&self.inner).push_back(item);
        }
        /// Pops from the front.
        pub fn pop(&self) -> Option<T> {
            lock(&self.inner).pop_front()
        }
        /// Whether the queue is empty.
        pub fn is_empty(&self) -> bool {
            lock(&self.inner).is_empty()
        }
        /// Number of items.
        pub fn len(&self) -> usize {
            lock(&self.inner).len()
        }
    }

    impl<T> Stealer<T> {
        /// Steals one item from the front.
        pub fn steal(&self) -> Steal<T> {
            match lock(&self.inner).pop_front() {
                Some(item) => Steal::Success(item),
                None => Steal::Empty,
            }
        }
        /// Steals a batch into `dest` and pops one of it.
        pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            if Arc::ptr_eq(&self.inner, &dest.inner) {
                return self.steal();
            }
            move_batch(lock(&self.inner), dest)
        }
        /// Whether the queue is empty.
        pub fn is_empty(&self) -> bool {
            lock(&self.inner).is_empty()
        }
        /// Number of items.
        pub fn len(&self) -> usize {
            lock(&self.inner).len()
        }
    }

    impl<T> Default for Injector<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> Injector<T> {
        /// An empty injector.
        pub fn new() -> Self {
            Injector { inner: Mutex::new(VecDeque::new()) }
        }
        /// Pushes onto the back.
        pub fn push(&self, item: T) {
            lock(&self.inner).push_back(item);
        }
        /// Steals one item from the front.
        pub fn steal(&self) -> Steal<T> {
            match lock(&self.inner).pop_front() {
                Some(item) => Steal::Success(item),
                None => Steal::Empty,
            }
        }
        /// Steals a batch into `dest` and pops one of it.
        pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            move_batch(lock(&self.inner), dest)
        }
        /// The same for a LIFO `dest` (the stand-in's workers are FIFO: no difference).
        pub fn steal_batch_and_pop_lifo(&self, dest: &Worker<T>) -> Steal<T> {
            self.steal_batch_and_pop(dest)
        }
        /// [`steal_batch`](Self::steal_batch) for a LIFO `dest` (no difference here).
        pub fn steal_batch_lifo(&self, dest: &Worker<T>) -> Steal<()> {
            self.steal_batch(dest)
        }
        /// Steals a batch (oldest first) into the back of `dest`.
        pub fn steal_batch(&self, dest: &Worker<T>) -> Steal<()> {
            let mut src = lock(&self.inner);
            if src.is_empty() {
                return Steal::Empty;
            }
            let n = src.len().div_ceil(2).min(LOOM_BATCH);
            let mut d = lock(&dest.inner);
            for _ in 0..n {
                if let Some(item) = src.pop_front() {
                    d.push_back(item);
                }
            }
            Steal::Success(())
        }
        /// Whether the queue is empty.
        pub fn is_empty(&self) -> bool {
            lock(&self.inner).is_empty()
        }
        /// Number of items.
        pub fn len(&self) -> usize {
            lock(&self.inner).len()
        }
    }
}
