//! rayon-core's `ThreadPool` as a peer.
//!
//! A task is `ThreadPool::spawn(f)` from outside and `rayon_core::spawn(f)` from inside a
//! worker (which pushes onto the worker's own deque). rayon-core has no priorities (the
//! argument is ignored), no timed tasks, no handles, no cancellation and no bounded queue;
//! scenarios that need those say "not supported" for it. Its "spawn + join" is
//! `ThreadPool::install`.

use std::time::{Duration, Instant};

use super::{unsupported, Feature, Peer, PeerConfig, PeerKind, Prio};

/// A rayon-core `ThreadPool` with `num_threads(n)`.
pub struct RayonPeer {
    pool: rayon_core::ThreadPool,
}

impl Peer for RayonPeer {
    const KIND: PeerKind = PeerKind::Rayon;
    type Handle = ();

    fn build(cfg: &PeerConfig) -> Result<Self, String> {
        if cfg.max_pending.is_some() {
            return Err("rayon-core has no bounded submission queue".into());
        }
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(cfg.workers)
            .thread_name(|i| format!("rayon-{i}"))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(RayonPeer { pool })
    }

    fn supports(_feature: Feature) -> bool {
        false
    }

    #[inline]
    fn spawn<F: FnOnce() + Send + 'static>(&self, _prio: Prio, f: F) {
        self.pool.spawn(f);
    }

    fn spawn_handle<F: FnOnce() + Send + 'static>(&self, _prio: Prio, _f: F) {
        unsupported(Self::KIND, Feature::Handles)
    }

    fn spawn_at<F: FnOnce() + Send + 'static>(&self, _due: Instant, _prio: Prio, _f: F) {
        unsupported(Self::KIND, Feature::Timers)
    }

    fn try_spawn<F: FnOnce() + Send + 'static>(&self, _prio: Prio, _f: F) -> bool {
        unsupported(Self::KIND, Feature::Bounded)
    }

    #[inline]
    fn spawn_inside<F: FnOnce() + Send + 'static>(_prio: Prio, f: F) {
        rayon_core::spawn(f);
    }

    fn spawn_at_inside<F: FnOnce() + Send + 'static>(_due: Instant, _prio: Prio, _f: F) {
        unsupported(Self::KIND, Feature::Timers)
    }

    fn cancel(_h: &()) -> bool {
        unsupported(Self::KIND, Feature::Cancel)
    }

    fn is_finished(_h: &()) -> bool {
        unsupported(Self::KIND, Feature::Handles)
    }

    fn set_priority(_h: &(), _prio: Prio) -> bool {
        unsupported(Self::KIND, Feature::SetPriority)
    }

    fn spawn_every<F: Fn() + Send + Sync + 'static>(
        &self,
        _first: Instant,
        _period: Duration,
        _prio: Prio,
        _f: F,
    ) {
        unsupported(Self::KIND, Feature::Recurring)
    }

    fn join(&self, _h: ()) {
        unsupported(Self::KIND, Feature::Handles)
    }

    fn run_and_wait<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.pool.install(f);
    }

    fn shutdown(self) -> String {
        // Dropping the pool lets queued jobs finish; threads exit on their own.
        drop(self.pool);
        "shutdown: pool dropped".into()
    }
}
