//! OS processes as tasks: [`Handle::spawn_process`](crate::Handle::spawn_process).
//!
//! (Skeleton: the limiter's internals and `run_process` are filled in by the process work.)

/// Caps how many child processes a runtime runs at once.
#[derive(Debug)]
pub(crate) struct ProcessLimiter {
    max: usize,
}

impl ProcessLimiter {
    /// A limiter letting `max` processes run at once (`max >= 1`, checked by the builder).
    pub(crate) fn new(max: usize) -> ProcessLimiter {
        ProcessLimiter { max }
    }

    /// The cap.
    pub(crate) fn max(&self) -> usize {
        self.max
    }
}
