//! The `Mutex<BinaryHeap>` + `Condvar` pool ([`crate::peers::heap_pool::HeapPool`]) as a peer. It
//! has every feature the scenarios ask for: priorities, timed tasks, handles, cancel,
//! priority change and a bounded queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{unsupported, Feature, Peer, PeerConfig, PeerKind, Prio};
use crate::peers::heap_pool::{HeapPool, TaskHandle};

/// A [`HeapPool`] with `cfg.workers` threads.
pub struct HeapPoolPeer {
    pool: HeapPool,
}

impl Peer for HeapPoolPeer {
    const KIND: PeerKind = PeerKind::HeapPool;
    type Handle = TaskHandle;

    fn build(cfg: &PeerConfig) -> Result<Self, String> {
        Ok(HeapPoolPeer { pool: HeapPool::new(cfg.workers, cfg.max_pending) })
    }

    fn supports(_feature: Feature) -> bool {
        true
    }

    #[inline]
    fn spawn<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) {
        self.pool.spawn(prio.0, f);
    }

    fn spawn_handle<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) -> TaskHandle {
        self.pool.spawn_handle(prio.0, f)
    }

    fn spawn_at<F: FnOnce() + Send + 'static>(&self, due: Instant, prio: Prio, f: F) -> TaskHandle {
        self.pool.spawn_at(due, prio.0, f)
    }

    fn try_spawn<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) -> bool {
        self.pool.try_spawn(prio.0, f)
    }

    #[inline]
    fn spawn_inside<F: FnOnce() + Send + 'static>(prio: Prio, f: F) {
        if !HeapPool::spawn_current(prio.0, f) {
            unsupported(Self::KIND, Feature::Handles)
        }
    }

    fn spawn_at_inside<F: FnOnce() + Send + 'static>(due: Instant, prio: Prio, f: F) {
        if !HeapPool::spawn_at_current(due, prio.0, f) {
            unsupported(Self::KIND, Feature::Handles)
        }
    }

    fn cancel(h: &TaskHandle) -> bool {
        h.cancel()
    }

    fn is_finished(h: &TaskHandle) -> bool {
        h.is_finished()
    }

    fn set_priority(h: &TaskHandle, prio: Prio) -> bool {
        h.set_priority(prio.0)
    }

    fn spawn_every<F: Fn() + Send + Sync + 'static>(
        &self,
        first: Instant,
        period: Duration,
        prio: Prio,
        f: F,
    ) {
        let f = Arc::new(f);
        drop(self.pool.spawn_at(first, prio.0, move || fire_and_reinsert(first, period, prio.0, f)));
    }

    fn join(&self, h: TaskHandle) {
        h.join();
    }

    fn run_and_wait<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.pool.spawn_handle(Prio::NORMAL.0, f).join();
    }

    fn shutdown(self) -> String {
        let s = self.pool.shutdown();
        format!("shutdown: {} completed, {} timed tasks dropped", s.completed, s.dropped_timed)
    }
}

/// One firing of a recurring task on the heap pool: runs `f`, then re-inserts itself as a
/// timed task for the next tick of the grid (`due + period`, or the first tick after now
/// when ticks were missed).
fn fire_and_reinsert<F: Fn() + Send + Sync + 'static>(due: Instant, period: Duration, prio: u8, f: Arc<F>) {
    f();
    let now = Instant::now();
    let mut next = due + period;
    if next <= now {
        let behind = now.duration_since(due).as_nanos() / period.as_nanos();
        next = due + period * (behind as u32 + 1);
    }
    HeapPool::spawn_at_current(next, prio, move || fire_and_reinsert(next, period, prio, f));
}
