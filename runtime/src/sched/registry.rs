//! The registry of live futures, so that shutdown can cancel the ones that wait forever.
//!
//! A closure is always in a run queue, a wheel, or running, so the runtime can always
//! find it; a future that waits for a wake-up is nowhere but in its wakers. Each spawned
//! future therefore gets an entry here (holding one reference), removed when it reaches
//! its outcome. Entries live in shards keyed by the cell's address, so spawns on
//! different threads rarely share a lock. Closures never touch the registry.
//!
//! An entry is the only thing that keeps an idle future (and through its scheduler, the
//! runtime's shared state) alive while nobody holds a waker: shutdown must therefore end
//! every entry (`Shared::cancel_live_futures`), or the state and the future leak as a
//! reference cycle. A future's entry is removed by `Sched::future_completed` as it
//! completes, *before* its completion is published, so the one that removes it counts it.

use kairos_rt_core::sync::{lock, Mutex};
use kairos_rt_core::task::TaskRef;
use std::collections::HashMap;

const SHARDS: usize = 32;

/// One shard: live futures keyed by cell address.
type Shard = crossbeam_utils::CachePadded<Mutex<HashMap<usize, TaskRef>>>;

#[derive(Debug)]
pub(crate) struct Registry {
    shards: Box<[Shard]>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            shards: (0..SHARDS)
                .map(|_| crossbeam_utils::CachePadded::new(Mutex::new(HashMap::new())))
                .collect(),
        }
    }

    fn shard(&self, key: usize) -> &Mutex<HashMap<usize, TaskRef>> {
        &self.shards[(key >> 6) % SHARDS]
    }

    pub(crate) fn insert(&self, task: TaskRef) {
        let key = task.as_ptr().as_ptr() as usize;
        lock(self.shard(key)).insert(key, task);
    }

    /// Removes the entry of `task`; true if it was there.
    pub(crate) fn remove(&self, task: &TaskRef) -> bool {
        let key = task.as_ptr().as_ptr() as usize;
        let removed = lock(self.shard(key)).remove(&key);
        removed.is_some()
    }

    /// A clone of every entry, taken shard by shard (the caller cancels them outside the
    /// locks; each completion removes its own entry).
    pub(crate) fn snapshot(&self) -> Vec<TaskRef> {
        let mut all = Vec::new();
        for s in self.shards.iter() {
            all.extend(lock(s).values().cloned());
        }
        all
    }

    /// Takes every entry out (the caller cancels them outside the locks).
    pub(crate) fn drain(&self) -> Vec<TaskRef> {
        let mut all = Vec::new();
        for s in self.shards.iter() {
            all.extend(lock(s).drain().map(|(_, t)| t));
        }
        all
    }
}
