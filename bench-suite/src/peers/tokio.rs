//! tokio's multi-thread runtime as a peer.
//!
//! A task is `async move { f() }`; a timed task is `async move { sleep_until(due).await;
//! f() }` (tokio's only way to run something later: the `Sleep` lives inside the task and
//! registers with the timer wheel at its first poll). Cancel is `JoinHandle::abort`, which
//! reports nothing, so [`Peer::cancel`] returns whether the task had not finished yet.
//! tokio has no priorities (FIFO; the priority argument is ignored), no bounded queue and
//! no way to change a task's priority.

use std::time::{Duration, Instant};

use super::{unsupported, Feature, Peer, PeerConfig, PeerKind, Prio};

/// tokio `Runtime` built with `new_multi_thread().worker_threads(n).enable_time()`.
pub struct TokioPeer {
    rt: tokio::runtime::Runtime,
}

impl Peer for TokioPeer {
    const KIND: PeerKind = PeerKind::Tokio;
    type Handle = tokio::task::JoinHandle<()>;

    fn build(cfg: &PeerConfig) -> Result<Self, String> {
        if cfg.max_pending.is_some() {
            return Err("tokio has no bounded submission queue".into());
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.workers)
            .enable_time()
            .build()
            .map_err(|e| e.to_string())?;
        Ok(TokioPeer { rt })
    }

    fn supports(feature: Feature) -> bool {
        matches!(feature, Feature::Timers | Feature::Handles | Feature::Cancel | Feature::Recurring)
    }

    #[inline]
    fn spawn<F: FnOnce() + Send + 'static>(&self, _prio: Prio, f: F) {
        drop(self.rt.spawn(async move { f() }));
    }

    fn spawn_handle<F: FnOnce() + Send + 'static>(&self, _prio: Prio, f: F) -> Self::Handle {
        self.rt.spawn(async move { f() })
    }

    fn spawn_at<F: FnOnce() + Send + 'static>(&self, due: Instant, _prio: Prio, f: F) -> Self::Handle {
        self.rt.spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            f()
        })
    }

    fn try_spawn<F: FnOnce() + Send + 'static>(&self, _prio: Prio, _f: F) -> bool {
        unsupported(Self::KIND, Feature::Bounded)
    }

    #[inline]
    fn spawn_inside<F: FnOnce() + Send + 'static>(_prio: Prio, f: F) {
        drop(tokio::spawn(async move { f() }));
    }

    fn spawn_at_inside<F: FnOnce() + Send + 'static>(due: Instant, _prio: Prio, f: F) {
        drop(tokio::spawn(async move {
            tokio::time::sleep_until(due.into()).await;
            f()
        }));
    }

    fn cancel(h: &Self::Handle) -> bool {
        let pending = !h.is_finished();
        h.abort();
        pending
    }

    fn spawn_every<F: Fn() + Send + Sync + 'static>(
        &self,
        first: Instant,
        period: Duration,
        _prio: Prio,
        f: F,
    ) {
        drop(self.rt.spawn(async move {
            let mut every = tokio::time::interval_at(first.into(), period);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                f();
            }
        }));
    }

    fn is_finished(h: &Self::Handle) -> bool {
        h.is_finished()
    }

    fn set_priority(_h: &Self::Handle, _prio: Prio) -> bool {
        unsupported(Self::KIND, Feature::SetPriority)
    }

    fn join(&self, h: Self::Handle) {
        let _ = self.rt.block_on(h);
    }

    fn run_and_wait<F: FnOnce() + Send + 'static>(&self, f: F) {
        let _ = self.rt.block_on(self.rt.spawn(async move { f() }));
    }

    fn shutdown(self) -> String {
        let m = self.rt.metrics();
        let alive = m.num_alive_tasks();
        self.rt.shutdown_timeout(Duration::from_secs(30));
        format!("shutdown: {alive} tasks alive")
    }
}
