//! Which workers sleep and which search, and how a wake-up is never lost.
//!
//! ## State
//!
//! `state` packs two counts: workers *searching* (looking for work to steal, at most half
//! of all workers) and workers *sleeping* (registered in `sleepers`). `sleepers` (a
//! mutex-protected stack of worker indices) is touched only on the slow paths: going to
//! sleep, waking a sleeper.
//!
//! ## No lost wake-up
//!
//! - A submitter pushes its task, issues a `SeqCst` fence, then [`Idle::notify_one`]
//!   reads `state`: if nobody searches and somebody sleeps, it pops a sleeper under the
//!   lock, counts it as searching, and unparks it.
//! - A worker going to sleep registers in `sleepers` and bumps the sleeping count (under
//!   the lock, `SeqCst`), issues a `SeqCst` fence, then re-checks every queue it could
//!   be handed work through. Only if all are empty does it park.
//!
//! By the two fences, either the submitter sees the sleeper (and wakes it), or the
//! sleeper's re-check sees the task. A submitter that sees a *searching* worker skips the
//! wake-up: that searcher re-checks the queues before it can go to sleep (it leaves the
//! searching count first, with the same fence discipline), so it finds the task, unless
//! another worker moves it meanwhile. Three duties of the runtime cover those moves:
//!
//! - whoever moves a batch into its own queue outside a search (a steal from the
//!   injectors or a peer, timers fired from a wheel) looks at the sleepers after it, as
//!   a submitter does (`RunQueue::filled_then_wants_notify`): the batch is in neither
//!   queue for a moment, and a re-check in that moment sees nothing;
//! - the last searcher to leave the searchers looks again (queues, and timer messages to
//!   busy peers) and wakes a sleeper for what it did not take: submitters that saw it
//!   searching left that work to it;
//! - a worker that clears an injector level's occupancy bit and finds the level refilled
//!   takes the level itself (`Injectors`): a re-check that read the bit while it was
//!   clear missed that task.
//!
//! The [`Parker`](crate::park::Parker) keeps a permit given before `park`, so an
//! unpark racing with the decision to park is not lost either.
//!
//! ## Extra wake-ups
//!
//! Trusting a searcher to find the work is right while it runs, but the OS can deschedule
//! a searcher for a whole time slice (milliseconds on a loaded 2-core machine), and every
//! submitter would skip its wake-up meanwhile. So a caller that sees work piling up (the
//! runtime: a few tasks of one level queued behind a searcher) may wake a sleeper anyway with
//! [`Idle::notify_one_despite_searchers`]. Extra wake-ups cost time, never correctness.

use crate::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::sync::{lock, Mutex};

const SEARCHING_ONE: usize = 1;
const SLEEPING_ONE: usize = 1 << 32;
const COUNT_MASK: usize = (1 << 32) - 1;

/// Sleeping and searching workers (see the module docs).
#[derive(Debug)]
pub struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

impl Idle {
    /// Bookkeeping for `workers` workers, all awake and none searching.
    pub fn new(workers: usize) -> Idle {
        Idle { state: AtomicUsize::new(0), sleepers: Mutex::new(Vec::with_capacity(workers)), workers }
    }

    fn searching(s: usize) -> usize {
        s & COUNT_MASK
    }

    fn sleeping(s: usize) -> usize {
        s >> 32
    }

    /// Whether a wake-up looks useful: nobody searches and somebody sleeps. A cheap
    /// pre-check; [`notify_one`](Self::notify_one) decides under the lock.
    pub fn wants_notify(&self) -> bool {
        let s = self.state.load(SeqCst);
        Self::searching(s) == 0 && Self::sleeping(s) > 0
    }

    /// Wakes one sleeping worker if nobody is searching. Returns the index to unpark.
    /// The caller has pushed its work and issued a `SeqCst` fence.
    pub fn notify_one(&self) -> Option<usize> {
        if !self.wants_notify() {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if Self::searching(self.state.load(SeqCst)) > 0 {
            return None;
        }
        Self::take_sleeper(&mut sleepers, &self.state)
    }

    /// Whether any worker sleeps (one load; a hint for callers that weigh a forced wake).
    pub fn has_sleepers(&self) -> bool {
        Self::sleeping(self.state.load(SeqCst)) > 0
    }

    /// Wakes one sleeping worker even though others search. Returns the index to unpark.
    ///
    /// For work piling up behind a searcher: a searcher the OS has descheduled still
    /// counts as searching, so [`notify_one`](Self::notify_one) would hold every wake-up
    /// back until it runs again (a whole time slice, milliseconds, on a loaded machine).
    /// The caller decides when the backlog justifies the extra wake-up.
    pub fn notify_one_despite_searchers(&self) -> Option<usize> {
        if !self.has_sleepers() {
            return None;
        }
        Self::take_sleeper(&mut lock(&self.sleepers), &self.state)
    }

    /// Pops a sleeper (under the `sleepers` lock) and counts it as searching.
    fn take_sleeper(sleepers: &mut Vec<usize>, state: &AtomicUsize) -> Option<usize> {
        let index = sleepers.pop()?;
        state.fetch_add(SEARCHING_ONE, SeqCst);
        state.fetch_sub(SLEEPING_ONE, SeqCst);
        Some(index)
    }

    /// Wakes every sleeping worker (shutdown). Returns their indices.
    pub fn notify_all(&self) -> Vec<usize> {
        let mut sleepers = lock(&self.sleepers);
        let all: Vec<usize> = sleepers.drain(..).collect();
        self.state.fetch_add(SEARCHING_ONE * all.len(), SeqCst);
        self.state.fetch_sub(SLEEPING_ONE * all.len(), SeqCst);
        all
    }

    /// A worker with nothing local wants to search; refused when half already do.
    pub fn try_start_searching(&self) -> bool {
        let s = self.state.load(SeqCst);
        if 2 * Self::searching(s) >= self.workers.max(2) {
            return false;
        }
        self.state.fetch_add(SEARCHING_ONE, SeqCst);
        true
    }

    /// A searcher stops searching. Returns true if it was the last searcher.
    pub fn stop_searching(&self) -> bool {
        let prev = self.state.fetch_sub(SEARCHING_ONE, SeqCst);
        Self::searching(prev) == 1
    }

    /// A worker registers as sleeping (leaving the searchers if it was one).
    /// The caller must then fence and re-check for work before parking.
    pub fn register_sleeper(&self, index: usize, was_searching: bool) {
        let mut sleepers = lock(&self.sleepers);
        sleepers.push(index);
        self.state.fetch_add(SLEEPING_ONE, SeqCst);
        if was_searching {
            self.state.fetch_sub(SEARCHING_ONE, SeqCst);
        }
    }

    /// A worker that registered as sleeping is awake again. Returns true if a notifier
    /// had already taken it off the list (it is then counted as searching).
    pub fn unregister_sleeper(&self, index: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_sub(SLEEPING_ONE, SeqCst);
                false
            }
            None => true,
        }
    }

    /// Number of workers searching right now.
    pub fn num_searching(&self) -> usize {
        Self::searching(self.state.load(SeqCst))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn notify_wakes_a_sleeper_only_when_nobody_searches() {
        let idle = Idle::new(2);
        assert_eq!(idle.notify_one(), None, "nobody sleeps");
        idle.register_sleeper(1, false);
        assert!(idle.try_start_searching());
        assert_eq!(idle.notify_one(), None, "a searcher will find the work");
        assert!(idle.stop_searching());
        assert_eq!(idle.notify_one(), Some(1));
        assert!(idle.unregister_sleeper(1), "the notifier took it off the list");
        assert_eq!(idle.num_searching(), 1, "the woken worker counts as searching");
    }

    #[test]
    fn a_forced_notify_wakes_a_sleeper_past_a_searcher() {
        let idle = Idle::new(2);
        assert_eq!(idle.notify_one_despite_searchers(), None, "nobody sleeps");
        idle.register_sleeper(1, false);
        assert!(idle.try_start_searching());
        assert_eq!(idle.notify_one(), None);
        assert_eq!(idle.notify_one_despite_searchers(), Some(1));
        assert_eq!(idle.num_searching(), 2, "the woken worker counts as searching too");
        assert!(!idle.has_sleepers());
        assert!(idle.unregister_sleeper(1));
    }

    #[test]
    fn at_most_half_the_workers_search() {
        let idle = Idle::new(4);
        assert!(idle.try_start_searching());
        assert!(idle.try_start_searching());
        assert!(!idle.try_start_searching());
    }

    #[test]
    fn a_sleeper_that_wakes_by_itself_unregisters() {
        let idle = Idle::new(2);
        idle.register_sleeper(0, false);
        assert!(!idle.unregister_sleeper(0));
        assert_eq!(idle.notify_one(), None);
    }
}
