//! Helpers the crate's unit tests share.

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
