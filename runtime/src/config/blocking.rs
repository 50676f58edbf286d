//! The blocking pool's settings ([`BlockingConfig`]): what
//! [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads) and
//! [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive) set, checked by
//! the builder (a cap of at least 1, a keep-alive above zero) before any thread starts.

use std::time::Duration;

/// The default cap on blocking threads (tokio's default too, so code moved from
/// `tokio::task::spawn_blocking` sees the same bound).
pub(crate) const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;

/// The default time an idle blocking thread waits for a job before it exits.
pub(crate) const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// How the blocking pool grows and shrinks.
#[derive(Clone, Debug)]
pub(crate) struct BlockingConfig {
    /// At most this many blocking threads run at once (`>= 1`).
    pub(crate) max_threads: usize,
    /// An idle blocking thread exits after this long without a job (`> 0`).
    pub(crate) keep_alive: Duration,
    /// Blocking threads are named `"{thread_name}-blocking"`.
    pub(crate) thread_name: String,
    /// The workers' stack size, if one was set; blocking threads use it too.
    pub(crate) stack_size: Option<usize>,
}

impl Default for BlockingConfig {
    fn default() -> Self {
        BlockingConfig {
            max_threads: DEFAULT_MAX_BLOCKING_THREADS,
            keep_alive: DEFAULT_BLOCKING_KEEP_ALIVE,
            thread_name: "kairos-worker".to_string(),
            stack_size: None,
        }
    }
}
