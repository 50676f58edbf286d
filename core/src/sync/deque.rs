//! Work-stealing deques: `crossbeam-deque`'s `Worker` and `Stealer` and kairos's own
//! [`Injector`] (see [`injector`](super::injector) for why) normally, a loom-visible
//! stand-in under loom.
//!
//! The stand-in keeps crossbeam's interface (`Worker`, `Stealer`, `Injector`, [`Steal`])
//! and its guarantees that matter to kairos: every pushed item is taken exactly once, by
//! `pop` on the owner or by a `steal*` anywhere. It does not model crossbeam's internal
//! memory orderings (those are crossbeam's own, tested by crossbeam): each push, pop and
//! steal takes the queue's mutex, but a look (`is_empty`, `len`) reads a length published
//! with `Release` and read with `Acquire`, without the lock, as a real deque's look reads
//! its indices. So a look orders no more than a real one, and kairos's own fences around
//! pushes and looks (the idle protocol's) are what the models check. Batch steals move at
//! most `LOOM_BATCH` items, one queue's lock at a time (the batch is in neither queue
//! meanwhile), so that models stay small.

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
    use crate::sync::atomic::{AtomicUsize, Ordering::*};
    use crate::sync::{lock, Arc, Mutex};
    use std::collections::VecDeque;

    /// One stand-in queue: its items under a mutex, and its length published with
    /// `Release` after every change, which `is_empty` and `len` read with `Acquire`
    /// *without* the lock, as crossbeam's `is_empty` reads its indices. So a look at a
    /// queue is no lock handover: it orders nothing that a real deque's look would not,
    /// and a missing fence before or after a push or a look shows in the models.
    struct Shelf<T> {
        items: Mutex<VecDeque<T>>,
        len: AtomicUsize,
    }

    impl<T> Shelf<T> {
        fn new() -> Self {
            Shelf { items: Mutex::new(VecDeque::new()), len: AtomicUsize::new(0) }
        }
        /// Runs `f` on the items under the lock, then publishes the new length if it
        /// changed (a failed steal or pop writes nothing, as in a real deque).
        fn with<R>(&self, f: impl FnOnce(&mut VecDeque<T>) -> R) -> R {
            let mut items = lock(&self.items);
            let before = items.len();
            let r = f(&mut items);
            if items.len() != before {
                self.len.store(items.len(), Release);
            }
            r
        }
        fn is_empty(&self) -> bool {
            self.len.load(Acquire) == 0
        }
        fn len(&self) -> usize {
            self.len.load(Acquire)
        }
        fn steal(&self) -> Steal<T> {
            match self.with(|q| q.pop_front()) {
                Some(item) => Steal::Success(item),
                None => Steal::Empty,
            }
        }
    }

    /// Owner side of a FIFO deque (loom stand-in).
    pub struct Worker<T> {
        inner: Arc<Shelf<T>>,
    }

    /// Thief side of a [`Worker`] (loom stand-in).
    pub struct Stealer<T> {
        inner: Arc<Shelf<T>>,
    }

    /// Multi-producer multi-consumer queue (loom stand-in).
    pub struct Injector<T> {
        inner: Shelf<T>,
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

    /// Takes the first item and at most `extra` more from `src`, then puts the extra ones
    /// at the back of `dest`: one queue's lock at a time, so two workers stealing from each
    /// other cannot deadlock (crossbeam takes no lock at all), and the batch is in neither
    /// queue meanwhile, as in a real batch steal.
    fn move_batch<T>(src: &Shelf<T>, dest: &Shelf<T>, extra: impl FnOnce(usize) -> usize) -> Steal<T> {
        let taken = src.with(|q| {
            let first = q.pop_front()?;
            let extra = extra(q.len());
            Some((first, (0..extra).filter_map(|_| q.pop_front()).collect::<Vec<T>>()))
        });
        let Some((first, batch)) = taken else {
            return Steal::Empty;
        };
        if !batch.is_empty() {
            dest.with(|q| q.extend(batch));
        }
        Steal::Success(first)
    }

    /// Half of what is left after the first, at most `LOOM_BATCH - 1`.
    fn half_after_first(left: usize) -> usize {
        (left / 2).min(LOOM_BATCH - 1)
    }

    impl<T> Worker<T> {
        /// A FIFO worker queue.
        pub fn new_fifo() -> Self {
            Worker { inner: Arc::new(Shelf::new()) }
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
            self.inner.with(|q| q.push_back(item));
        }
        /// Pops from the front.
        pub fn pop(&self) -> Option<T> {
            self.inner.with(|q| q.pop_front())
        }
        /// Whether the queue is empty.
        pub fn is_empty(&self) -> bool {
            self.inner.is_empty()
        }
        /// Number of items.
        pub fn len(&self) -> usize {
            self.inner.len()
        }
    }

    impl<T> Stealer<T> {
        /// Steals one item from the front.
        pub fn steal(&self) -> Steal<T> {
            self.inner.steal()
        }
        /// Steals a batch into `dest` and pops one of it.
        pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            if Arc::ptr_eq(&self.inner, &dest.inner) {
                return self.steal();
            }
            move_batch(&self.inner, &dest.inner, half_after_first)
        }
        /// Whether the queue is empty.
        pub fn is_empty(&self) -> bool {
            self.inner.is_empty()
        }
        /// Number of items.
        pub fn len(&self) -> usize {
            self.inner.len()
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
            Injector { inner: Shelf::new() }
        }
        /// Pushes onto the back.
        pub fn push(&self, item: T) {
            self.inner.with(|q| q.push_back(item));
        }
        /// Steals one item from the front.
        pub fn steal(&self) -> Steal<T> {
            self.inner.steal()
        }
        /// Steals a batch into `dest` and pops one of it.
        pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
            move_batch(&self.inner, &dest.inner, half_after_first)
        }
        /// The same for a LIFO `dest` (the stand-in's workers are FIFO: no difference).
        pub fn steal_batch_and_pop_lifo(&self, dest: &Worker<T>) -> Steal<T> {
            self.steal_batch_and_pop(dest)
        }
        /// [`steal_batch`](Self::steal_batch) for a LIFO `dest` (no difference here).
        pub fn steal_batch_lifo(&self, dest: &Worker<T>) -> Steal<()> {
            self.steal_batch(dest)
        }
        /// Steals a batch (oldest first, half rounded up, at most `LOOM_BATCH`) into the
        /// back of `dest`.
        pub fn steal_batch(&self, dest: &Worker<T>) -> Steal<()> {
            let batch = self.inner.with(|q| {
                let n = q.len().div_ceil(2).min(LOOM_BATCH);
                (0..n).filter_map(|_| q.pop_front()).collect::<Vec<T>>()
            });
            if batch.is_empty() {
                return Steal::Empty;
            }
            dest.inner.with(|q| q.extend(batch));
            Steal::Success(())
        }
        /// Whether the queue is empty.
        pub fn is_empty(&self) -> bool {
            self.inner.is_empty()
        }
        /// Number of items.
        pub fn len(&self) -> usize {
            self.inner.len()
        }
    }
}
