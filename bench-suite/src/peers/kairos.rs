//! kairos as a peer: the runtime under test, through its public API only.
//!
//! A task is `Runtime::spawn(priority, f)` (the `JoinHandle` is dropped for detached
//! tasks); a timed task is `Runtime::spawn_at(due, priority, f)`; from inside a task,
//! `kairos_rt::spawn`. Cancel, `is_finished` and `join` go through the `JoinHandle`.
//!
//! Bounded submission is `Builder::max_pending` with `try_spawn` (`SpawnError::is_full`);
//! priority change of a pending task is `JoinHandle::set_priority`. Aging is on, as by
//! default.

use std::time::{Duration, Instant, SystemTime};

use super::{Feature, Peer, PeerConfig, PeerKind, Prio};

/// A `kairos_rt::Runtime` with `cfg.workers` workers and default settings otherwise.
pub struct KairosPeer {
    rt: kairos_rt::Runtime,
}

#[inline]
fn priority(p: Prio) -> kairos_rt::Priority {
    kairos_rt::Priority::new(p.0).expect("bench priorities are 0..=63")
}

impl Peer for KairosPeer {
    const KIND: PeerKind = PeerKind::Kairos;
    type Handle = kairos_rt::JoinHandle<()>;

    fn build(cfg: &PeerConfig) -> Result<Self, String> {
        let mut builder = kairos_rt::Runtime::builder().workers(cfg.workers);
        if let Some(n) = cfg.max_pending {
            builder = builder.max_pending(n);
        }
        let rt = builder.build().map_err(|e| e.to_string())?;
        Ok(KairosPeer { rt })
    }

    fn supports(feature: Feature) -> bool {
        match feature {
            Feature::Priorities
            | Feature::Timers
            | Feature::Handles
            | Feature::Cancel
            | Feature::SetPriority
            | Feature::Bounded
            | Feature::Recurring => true,
        }
    }

    #[inline]
    fn spawn<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) {
        drop(self.rt.spawn(priority(prio), f));
    }

    fn spawn_handle<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) -> Self::Handle {
        self.rt.spawn(priority(prio), f)
    }

    fn spawn_at<F: FnOnce() + Send + 'static>(&self, due: Instant, prio: Prio, f: F) -> Self::Handle {
        self.rt.spawn_at(due, priority(prio), f)
    }

    fn try_spawn<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) -> bool {
        match self.rt.try_spawn(priority(prio), f) {
            Ok(_) => true,
            Err(e) if e.is_full() => false,
            Err(e) => panic!("{e}"),
        }
    }

    #[inline]
    fn spawn_inside<F: FnOnce() + Send + 'static>(prio: Prio, f: F) {
        drop(kairos_rt::spawn(priority(prio), f));
    }

    fn spawn_at_inside<F: FnOnce() + Send + 'static>(due: Instant, prio: Prio, f: F) {
        let handle = kairos_rt::try_current().expect("spawn_at_inside: not inside a kairos task");
        drop(handle.spawn_at(due, priority(prio), f));
    }

    fn cancel(h: &Self::Handle) -> bool {
        h.cancel()
    }

    fn is_finished(h: &Self::Handle) -> bool {
        h.is_finished()
    }

    fn set_priority(h: &Self::Handle, prio: Prio) -> bool {
        h.set_priority(priority(prio))
    }

    fn spawn_every<F: Fn() + Send + Sync + 'static>(
        &self,
        first: Instant,
        period: Duration,
        prio: Prio,
        f: F,
    ) {
        // Read the monotonic clock first: the wall-clock start is then never before `first`.
        let now = Instant::now();
        let start = SystemTime::now() + first.saturating_duration_since(now);
        let every = kairos_rt::Schedule::every(period).expect("a non-zero period").starting_at(start);
        drop(self.rt.spawn_recurring(every, priority(prio), f).expect("a runtime that runs"));
    }

    fn join(&self, h: Self::Handle) {
        let _ = h.join();
    }

    fn run_and_wait<F: FnOnce() + Send + 'static>(&self, f: F) {
        let _ = self.rt.spawn(kairos_rt::Priority::NORMAL, f).join();
    }

    fn shutdown(self) -> String {
        let r = self.rt.shutdown();
        let mut note = format!(
            "shutdown: {} submitted, {} completed, {} cancelled, {} timers dropped, {} panicked, \
             {} rejected, {} expired, {} runtime timers (sleeps, not tasks); balanced: {}",
            r.submitted,
            r.completed,
            r.cancelled,
            r.timers_dropped,
            r.panicked,
            r.rejected,
            r.expired,
            r.runtime_timers.submitted,
            r.is_balanced()
        );
        let s = &r.schedules;
        if s.finished > 0 {
            // The recurring scenario: how every tick went, and that nothing piled up (at
            // most one firing per schedule was left pending at shutdown).
            note += &format!(
                "; schedules: {} stopped by shutdown, {} runs, {} ticks skipped by overlap, {} missed, \
                 firings {} = {} run + {} dropped pending (balanced: {}), lateness mean {:?} max {:?}",
                s.stopped_by_shutdown,
                s.runs,
                s.skipped,
                s.missed,
                s.firings,
                s.firings_run,
                s.firings_dropped,
                s.firings_balance(),
                s.mean_lateness,
                s.max_lateness
            );
        }
        note
    }
}
