//! The peers: one small trait, [`Peer`], and one implementation per runtime.
//!
//! | peer | module | priorities | timed tasks | cancel | bounded queue | priority change |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | kairos | [`kairos`] | yes | yes | yes | `Builder::max_pending` | `JoinHandle::set_priority` |
//! | tokio multi-thread | [`tokio`] | no (FIFO) | `sleep_until` inside a task | `abort` | no | no |
//! | rayon-core `ThreadPool` | [`rayon`] | no (FIFO) | no | no | no | no |
//! | heap pool | [`heap`] | yes | yes | yes | yes | yes |
//!
//! Recurring work ([`Peer::spawn_every`]): kairos `spawn_recurring` (a timed task per
//! firing), tokio an `interval` in one task per schedule, the heap pool a timed task that
//! re-inserts itself; rayon-core has none.
//!
//! Scenarios are generic over `P: Peer`, so every peer runs the same scenario code and the
//! same task body. A scenario that needs a [`Feature`] a peer lacks checks
//! [`Peer::supports`] first and reports "not supported" instead of faking it; peers without
//! priorities still run the priority scenarios (their priorities are ignored), which is
//! exactly the gap the figures show.
//!
//! Methods that belong to a feature a peer does not support panic with a clear message:
//! a scenario that calls them without checking is a bug in the scenario.

use std::fmt;
use std::time::{Duration, Instant};

pub mod heap;
pub mod heap_pool;
pub mod kairos;
pub mod rayon;
pub mod tokio;

/// A task priority, `0` (lowest) to `63` (highest): the same scale as `kairos_rt::Priority`.
/// Peers without priorities ignore it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prio(pub u8);

impl Prio {
    /// Level 0.
    pub const LOWEST: Prio = Prio(0);
    /// Level 16.
    pub const LOW: Prio = Prio(16);
    /// Level 32.
    pub const NORMAL: Prio = Prio(32);
    /// Level 48.
    pub const HIGH: Prio = Prio(48);
    /// Level 63.
    pub const HIGHEST: Prio = Prio(63);
}

/// Something a scenario may need from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Tasks run in priority order.
    Priorities,
    /// Tasks can be scheduled for a later instant (`spawn_at`).
    Timers,
    /// A spawned task returns a handle (`spawn_handle`, `is_finished`, `join`).
    Handles,
    /// A pending task can be cancelled through its handle.
    Cancel,
    /// A pending task's priority can be changed through its handle.
    SetPriority,
    /// Submission can be bounded (`PeerConfig::max_pending` + `try_spawn`).
    Bounded,
    /// Recurring work (`spawn_every`), by the peer's own means.
    Recurring,
}

impl Feature {
    /// A short human name.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Priorities => "priorities",
            Feature::Timers => "timed tasks",
            Feature::Handles => "join handles",
            Feature::Cancel => "cancellation",
            Feature::SetPriority => "priority change of a pending task",
            Feature::Bounded => "a bounded submission queue",
            Feature::Recurring => "recurring work",
        }
    }
}

/// How a scenario wants its peer built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// Worker threads.
    pub workers: usize,
    /// Bound on pending tasks (`None`: unbounded). Requires [`Feature::Bounded`].
    pub max_pending: Option<usize>,
}

impl PeerConfig {
    /// `workers` threads, unbounded.
    pub fn new(workers: usize) -> Self {
        PeerConfig { workers, max_pending: None }
    }
}

/// The peers, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerKind {
    /// The kairos runtime.
    Kairos,
    /// tokio's multi-thread runtime.
    Tokio,
    /// rayon-core's `ThreadPool`.
    Rayon,
    /// The `Mutex<BinaryHeap>` + `Condvar` pool ([`crate::peers::heap_pool`]).
    HeapPool,
}

impl PeerKind {
    /// All peers, in report order.
    pub const ALL: [PeerKind; 4] = [PeerKind::Kairos, PeerKind::Tokio, PeerKind::Rayon, PeerKind::HeapPool];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Kairos => "kairos",
            PeerKind::Tokio => "tokio",
            PeerKind::Rayon => "rayon-core",
            PeerKind::HeapPool => "heap-pool",
        }
    }

    /// Parses a peer name (`kairos`, `tokio`, `rayon-core`/`rayon`, `heap-pool`/`heap`).
    pub fn parse(s: &str) -> Option<PeerKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "kairos" => Some(PeerKind::Kairos),
            "tokio" => Some(PeerKind::Tokio),
            "rayon" | "rayon-core" | "rayon_core" => Some(PeerKind::Rayon),
            "heap" | "heap-pool" | "heap_pool" | "heappool" => Some(PeerKind::HeapPool),
            _ => None,
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A task runtime as the scenarios see it. See the module docs.
pub trait Peer: Sized + Sync + 'static {
    /// Which peer this is.
    const KIND: PeerKind;

    /// What [`Peer::spawn_handle`] and [`Peer::spawn_at`] return.
    type Handle: Send + 'static;

    /// Builds the runtime with `cfg.workers` worker threads; an error when `cfg` asks for
    /// something the peer cannot do (a bound on pending tasks, say).
    fn build(cfg: &PeerConfig) -> Result<Self, String>;

    /// Whether the peer has `feature`.
    fn supports(feature: Feature) -> bool;

    /// Submits a detached task from outside the runtime.
    fn spawn<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F);

    /// Submits a task from outside and returns its handle. Needs [`Feature::Handles`].
    fn spawn_handle<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) -> Self::Handle;

    /// Submits a task that runs at `due` (at once if `due` has passed). Needs
    /// [`Feature::Timers`].
    fn spawn_at<F: FnOnce() + Send + 'static>(&self, due: Instant, prio: Prio, f: F) -> Self::Handle;

    /// Submits a detached task unless the bound on pending tasks is reached; `false` when it
    /// was rejected (the closure is dropped). Needs [`Feature::Bounded`].
    fn try_spawn<F: FnOnce() + Send + 'static>(&self, prio: Prio, f: F) -> bool;

    /// Submits a detached task from inside a task of this peer (onto the runtime that runs
    /// the caller), the runtime's own fast path for nested spawns.
    fn spawn_inside<F: FnOnce() + Send + 'static>(prio: Prio, f: F);

    /// Submits a detached task that runs at `due`, from inside a task of this peer (onto
    /// the runtime that runs the caller, by the peer's own means for a nested timed spawn).
    /// Needs [`Feature::Timers`].
    fn spawn_at_inside<F: FnOnce() + Send + 'static>(due: Instant, prio: Prio, f: F);

    /// Cancels a pending task; `true` when it will not run. Needs [`Feature::Cancel`].
    fn cancel(h: &Self::Handle) -> bool;

    /// Whether the task finished (ran, panicked or was cancelled). Needs
    /// [`Feature::Handles`].
    fn is_finished(h: &Self::Handle) -> bool;

    /// Changes the priority of a pending task; `true` when it took effect. Needs
    /// [`Feature::SetPriority`].
    fn set_priority(h: &Self::Handle, prio: Prio) -> bool;

    /// Runs `f` at `first` and then every `period`, at `prio`, until shutdown, by the
    /// peer's own means for recurring work; ticks missed while the runtime was busy are
    /// skipped (the next tick stays on the grid). Needs [`Feature::Recurring`].
    fn spawn_every<F: Fn() + Send + Sync + 'static>(
        &self,
        first: Instant,
        period: Duration,
        prio: Prio,
        f: F,
    );

    /// Blocks until the task finished. Needs [`Feature::Handles`].
    fn join(&self, h: Self::Handle);

    /// Runs `f` on a worker and waits for it: the peer's cheapest "spawn + join".
    fn run_and_wait<F: FnOnce() + Send + 'static>(&self, f: F);

    /// Shuts the runtime down (pending timed tasks are dropped) and returns a one-line
    /// account of it for the report's notes.
    fn shutdown(self) -> String;
}

/// Panics for a method of a feature the peer lacks.
#[track_caller]
pub(crate) fn unsupported(peer: PeerKind, feature: Feature) -> ! {
    panic!("{peer} has no {}: the scenario should have checked Peer::supports", feature.name())
}

/// Runs `body` with the concrete peer type named by `kind`:
/// `with_peer!(kind, P => expr)` evaluates `expr` with `P` bound to the peer's type.
#[macro_export]
macro_rules! with_peer {
    ($kind:expr, $p:ident => $body:expr) => {{
        match $kind {
            $crate::peers::PeerKind::Kairos => {
                type $p = $crate::peers::kairos::KairosPeer;
                $body
            }
            $crate::peers::PeerKind::Tokio => {
                type $p = $crate::peers::tokio::TokioPeer;
                $body
            }
            $crate::peers::PeerKind::Rayon => {
                type $p = $crate::peers::rayon::RayonPeer;
                $body
            }
            $crate::peers::PeerKind::HeapPool => {
                type $p = $crate::peers::heap::HeapPoolPeer;
                $body
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names_round_trip() {
        for k in PeerKind::ALL {
            assert_eq!(PeerKind::parse(k.name()), Some(k));
        }
        assert_eq!(PeerKind::parse("rayon"), Some(PeerKind::Rayon));
        assert_eq!(PeerKind::parse("heap"), Some(PeerKind::HeapPool));
        assert_eq!(PeerKind::parse("glommio"), None);
    }
}
