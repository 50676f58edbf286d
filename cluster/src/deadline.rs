//! Deadlines from caller-given durations, which may be as long as `Duration::MAX`
//! ("wait for ever"): `Instant + Duration` panics past the clock's range.

use std::time::{Duration, Instant};

/// A century: beyond any wait a process makes, and within every platform's `Instant`.
const FOR_EVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `timeout` from now; a timeout too long to add (such as `Duration::MAX`) is a wait
/// for ever, taken as a century.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).or_else(|| now.checked_add(FOR_EVER)).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_timeout_gives_a_deadline() {
        let now = Instant::now();
        assert!(deadline_after(Duration::MAX) >= now + FOR_EVER);
        let d = deadline_after(Duration::from_secs(5));
        assert!(d >= now + Duration::from_secs(5) && d < now + FOR_EVER);
    }
}
