//! [`Injector`]: the multi-producer, multi-consumer FIFO that submissions from outside a
//! worker go through, with crossbeam-deque's `Injector` interface, built on
//! crossbeam-queue's [`SegQueue`].
//!
//! ## Why not crossbeam-deque's `Injector`
//!
//! Both are linked lists of blocks, and a push that fills a block allocates the next one
//! in the pushing thread. crossbeam-deque's blocks hold 63 slots, a bit over 1 KB; glibc
//! serves a request of 1 KB or more from its large bins and first *consolidates* every
//! fast-bin chunk of the arena. Under a flood of short tasks those fast bins hold the
//! thousands of task cells the workers have freed, so once in 63 pushes a submission
//! stalled for 100-225 us (issue 20: the HIGHEST probe's p99 under glibc was 140-300 us,
//! 16-36 us under mimalloc). `SegQueue`'s blocks hold 31 slots (504 bytes for a pointer):
//! a small-bin request, which glibc serves without consolidating.
//!
//! Measured (bench `priority`, quick mode, 5 rounds, 2 workers): probe wait p99 under
//! glibc 299 us (202-415) with crossbeam-deque's injector, 25.8 us (17.5-46.9) with this
//! one; under mimalloc 31 us and 30 us.
//!
//! ## Cost
//!
//! crossbeam-deque's batch steal claims a whole run of slots with one CAS; `SegQueue` has
//! no batch pop, so a batch here is one CAS per item. Counted by callgrind on the bench's
//! `spawn` case (250k empty tasks from outside, 2 workers): 75 more instructions per task
//! (252.8 M to 271.7 M in all, +7.5%), all on the workers' side; pushes cost the same.
//! Not asking for the length before a batch (below) took back 20 of them (266.7 M); in
//! 5 paired runs of the 1M spawn the rate was then the same as with crossbeam-deque's
//! injector (medians 8.28 and 8.15 M/s, both 1.66x rayon-core), and the open-loop cases
//! used less CPU (quick, 2 runs: 0.34-0.37 cores at 50k/s and 0.73-0.74 at 200k/s,
//! against 0.54-0.58 and 0.89-0.99 when a batch took half), with a longer tail at 200k/s
//! (p99 29-46 us against 13-14 us): one worker takes a short backlog whole. An injector
//! of our own with small blocks and a one-CAS batch claim would take back the rest; it
//! needs its own block-reclamation protocol and loom model.
//!
//! ## Protocol and invariants
//!
//! Every operation is a sequence of `SegQueue` pushes and pops, each of which is
//! linearizable and lock-free (crossbeam's own, tested by crossbeam). So every pushed item
//! is taken exactly once, and items from one producer leave in push order. A batch steal
//! is not atomic: it pops up to [`MAX_BATCH`] items one at a time, and other consumers may
//! take items between them; no caller relies on a batch being contiguous. Under
//! `--cfg loom` the [`deque`](super::deque) module swaps this type for its lock-based
//! stand-in.

use crossbeam_deque::{Steal, Worker};
use crossbeam_queue::SegQueue;

/// Most items one batch steal moves (crossbeam-deque's own bound). The batch does not
/// ask the queue's length first: `SegQueue::len` reads the tail index, the cache line the
/// submitting thread writes at every push.
pub const MAX_BATCH: usize = 32;

/// A multi-producer, multi-consumer FIFO queue with batch steals into a [`Worker`].
///
/// # Examples
///
/// ```
/// use kairos_rt_core::sync::deque::{Injector, Steal, Worker};
///
/// let injector = Injector::new();
/// for i in 0..5 {
///     injector.push(i);
/// }
/// let local = Worker::new_fifo();
/// assert_eq!(injector.steal_batch_and_pop(&local), Steal::Success(0));
/// assert_eq!(local.pop(), Some(1));
/// assert_eq!(injector.len() + local.len(), 3);
/// ```
pub struct Injector<T> {
    queue: SegQueue<T>,
}

impl<T> Default for Injector<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Injector<T> {
    /// An empty injector (allocates nothing until the first push).
    pub fn new() -> Self {
        Injector { queue: SegQueue::new() }
    }

    /// Pushes `item` onto the back.
    #[inline]
    pub fn push(&self, item: T) {
        self.queue.push(item);
    }

    /// Takes the item at the front.
    #[inline]
    pub fn steal(&self) -> Steal<T> {
        match self.queue.pop() {
            Some(item) => Steal::Success(item),
            None => Steal::Empty,
        }
    }

    /// Takes the front item to return, and moves up to [`MAX_BATCH`] - 1 more onto the
    /// back of `dest`, oldest first (all of a shorter queue: a peer that finds the
    /// injector empty steals from `dest`'s owner instead).
    pub fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
        self.batch_and_pop(dest, false)
    }

    /// Moves up to [`MAX_BATCH`] items (at least one) onto the back of `dest`, oldest
    /// first.
    pub fn steal_batch(&self, dest: &Worker<T>) -> Steal<()> {
        self.batch(dest, false)
    }

    /// [`steal_batch_and_pop`](Self::steal_batch_and_pop) into a LIFO `dest`: the batch
    /// is pushed newest first, so `dest`'s owner still pops it oldest first (as
    /// crossbeam-deque's own injector does for a LIFO destination).
    pub fn steal_batch_and_pop_lifo(&self, dest: &Worker<T>) -> Steal<T> {
        self.batch_and_pop(dest, true)
    }

    /// [`steal_batch`](Self::steal_batch) into a LIFO `dest`: pushed newest first, so
    /// popped oldest first.
    pub fn steal_batch_lifo(&self, dest: &Worker<T>) -> Steal<()> {
        self.batch(dest, true)
    }

    fn batch_and_pop(&self, dest: &Worker<T>, lifo: bool) -> Steal<T> {
        let Some(first) = self.queue.pop() else {
            return Steal::Empty;
        };
        self.move_into(dest, MAX_BATCH - 1, lifo);
        Steal::Success(first)
    }

    fn batch(&self, dest: &Worker<T>, lifo: bool) -> Steal<()> {
        match self.move_into(dest, MAX_BATCH, lifo) {
            0 => Steal::Empty,
            _ => Steal::Success(()),
        }
    }

    /// Moves up to `n` items onto `dest` in the order its owner pops them oldest first:
    /// onto the back, oldest first, or for a `lifo` worker newest first (that batch waits
    /// in a vector on the way: one allocation per batch, on LIFO queues only). Returns
    /// how many.
    fn move_into(&self, dest: &Worker<T>, n: usize, lifo: bool) -> usize {
        if !lifo {
            return (0..n).map_while(|_| self.queue.pop().map(|item| dest.push(item))).count();
        }
        let batch: Vec<T> = (0..n).map_while(|_| self.queue.pop()).collect();
        let moved = batch.len();
        batch.into_iter().rev().for_each(|item| dest.push(item));
        moved
    }

    /// Whether the queue is empty right now.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Number of items right now (exact when nothing runs concurrently).
    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

impl<T> core::fmt::Debug for Injector<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Injector").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seen to fail (popped 0, then 4, 3, 2, 1) when a batch was pushed oldest first into
    /// a LIFO worker: crossbeam-deque's own injector pops such a batch oldest first.
    #[test]
    fn a_batch_into_a_lifo_worker_is_popped_oldest_first() {
        let injector = Injector::new();
        for i in 0..5 {
            injector.push(i);
        }
        let local = Worker::new_lifo();
        assert_eq!(injector.steal_batch_and_pop_lifo(&local), Steal::Success(0));
        assert_eq!(std::iter::from_fn(|| local.pop()).collect::<Vec<_>>(), [1, 2, 3, 4]);
        for i in 5..8 {
            injector.push(i);
        }
        assert_eq!(injector.steal_batch_lifo(&local), Steal::Success(()));
        assert_eq!(std::iter::from_fn(|| local.pop()).collect::<Vec<_>>(), [5, 6, 7]);
    }

    #[test]
    fn every_item_is_taken_once_in_push_order() {
        let injector = Injector::new();
        for i in 0..1000 {
            injector.push(i);
        }
        let local = Worker::new_fifo();
        let mut seen = Vec::new();
        loop {
            match injector.steal_batch_and_pop(&local) {
                Steal::Success(first) => {
                    seen.push(first);
                    while let Some(i) = local.pop() {
                        seen.push(i);
                    }
                }
                Steal::Empty => break,
                Steal::Retry => unreachable!("a SegQueue pop never asks to retry"),
            }
        }
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert!(injector.is_empty());
    }

    #[test]
    fn a_batch_takes_what_is_there_up_to_max_batch() {
        let injector = Injector::new();
        for i in 0..9 {
            injector.push(i);
        }
        let local = Worker::new_fifo();
        assert_eq!(injector.steal_batch(&local), Steal::Success(()));
        assert_eq!(local.len(), 9);
        assert!(injector.is_empty());
        for i in 0..200 {
            injector.push(i);
        }
        let local = Worker::new_fifo();
        assert_eq!(injector.steal_batch_and_pop(&local), Steal::Success(0));
        assert_eq!(local.len(), MAX_BATCH - 1);
        assert_eq!(local.pop(), Some(1));
        assert_eq!(injector.len(), 200 - MAX_BATCH);
    }

    #[test]
    fn concurrent_producers_and_consumers_lose_nothing() {
        use std::sync::atomic::{AtomicUsize, Ordering::*};
        let injector = Injector::new();
        let (taken, sum, producing) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(2));
        const PER: usize = 20_000;
        std::thread::scope(|s| {
            for p in 0..2 {
                let (injector, producing) = (&injector, &producing);
                s.spawn(move || {
                    for i in 0..PER {
                        injector.push(p * PER + i + 1);
                    }
                    producing.fetch_sub(1, Release);
                });
            }
            for _ in 0..2 {
                let (injector, taken, sum, producing) = (&injector, &taken, &sum, &producing);
                s.spawn(move || {
                    let local = Worker::new_fifo();
                    // Until the producers are done and a steal after that finds nothing
                    // (a lost task then fails the counts below instead of hanging).
                    loop {
                        let done = producing.load(Acquire) == 0;
                        match injector.steal_batch_and_pop(&local) {
                            Steal::Success(first) => {
                                let (mut n, mut s) = (1, first);
                                while let Some(i) = local.pop() {
                                    n += 1;
                                    s += i;
                                }
                                sum.fetch_add(s, Relaxed);
                                taken.fetch_add(n, Relaxed);
                            }
                            Steal::Empty if done => break,
                            _ => std::hint::spin_loop(),
                        }
                    }
                });
            }
        });
        assert_eq!(taken.into_inner(), 2 * PER, "every task taken once");
        assert_eq!(sum.into_inner(), (1..=2 * PER).sum::<usize>());
    }
}
