//! Helpers the crate's unit tests share.

use crate::config::BuilderConfig;
use crate::sched::shared::Shared;
use crate::{Handle, Runtime};
use kairos_rt_core::queue::RunQueue;
use kairos_rt_core::sync::Arc;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits for a condition before it gives up.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `cond` every millisecond for up to [`PATIENCE`]; returns whether it held.
pub(crate) fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// A runtime of `workers` workers whose threads never start: the test plays their parts
/// in the idle protocol by hand, with the workers' run queues returned to it (queue `i`
/// is worker `i`'s: its peers steal from it through `Shared`).
pub(crate) fn runtime_without_threads(workers: usize) -> (Runtime, Arc<Shared>, Vec<RunQueue>) {
    runtime_without_threads_with(workers, |_| {})
}

/// [`runtime_without_threads`] with its configuration changed by `configure` first (the
/// defaults: no spin, no aging, no limits).
pub(crate) fn runtime_without_threads_with(
    workers: usize,
    configure: impl FnOnce(&mut BuilderConfig),
) -> (Runtime, Arc<Shared>, Vec<RunQueue>) {
    let mut config = BuilderConfig {
        on_thread_start: None,
        on_thread_stop: None,
        spin_before_park: Duration::ZERO,
        dense_timer_slack_ticks: 0,
        max_processes: 1,
        max_pending: None,
        aging: None,
        lifo: false,
        blocking: Default::default(),
        io: Default::default(),
    };
    configure(&mut config);
    let queues: Vec<RunQueue> = (0..workers).map(|_| RunQueue::with_order(false)).collect();
    let shared = Shared::new_arc(config, queues.iter().map(|q| q.stealers()).collect());
    (Runtime::from_parts(Handle { shared: shared.clone() }), shared, queues)
}
