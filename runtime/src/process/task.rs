//! [`ProcessTask`]: a command with its timeout and per-run settings, for
//! [`Handle::spawn_process_with`](crate::Handle::spawn_process_with).

use kairos_rt_core::Priority;
use std::process::Command;
use std::time::Duration;

/// An OS command to run as a task: the command, its timeout, and the settings of the
/// run (priority, output cap). Spawn it with
/// [`Handle::spawn_process_with`](crate::Handle::spawn_process_with).
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use kairos_rt::{Priority, ProcessTask, Runtime};
/// use std::process::Command;
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build().unwrap();
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "head -c 100000 /dev/zero"]);
/// let task = ProcessTask::new(cmd, Duration::from_secs(10)).priority(Priority::HIGH).max_output(1000);
/// let out = rt.spawn_process_with(task).join().unwrap().unwrap();
/// assert!(out.success());
/// assert_eq!((out.stdout.len(), out.stdout_dropped), (1000, 99_000));
/// # }
/// ```
#[derive(Debug)]
pub struct ProcessTask {
    pub(super) command: Command,
    pub(super) timeout: Duration,
    pub(super) priority: Priority,
    pub(super) max_output: usize,
}

impl ProcessTask {
    /// The output kept per stream unless [`max_output`](Self::max_output) says
    /// otherwise: 1 MiB.
    ///
    /// ```
    /// assert_eq!(kairos_rt::ProcessTask::DEFAULT_MAX_OUTPUT, 1 << 20);
    /// ```
    pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;

    /// `command`, killed if it runs longer than `timeout` (counted from its start;
    /// `Duration::MAX` for no limit, zero is refused when the task runs), at
    /// [`Priority::NORMAL`], keeping [`DEFAULT_MAX_OUTPUT`](Self::DEFAULT_MAX_OUTPUT)
    /// bytes per stream.
    ///
    /// ```
    /// # use kairos_rt::ProcessTask;
    /// # use std::{process::Command, time::Duration};
    /// let task = ProcessTask::new(Command::new("true"), Duration::from_secs(5));
    /// assert!(format!("{task:?}").contains("true"));
    /// ```
    pub fn new(command: Command, timeout: Duration) -> ProcessTask {
        ProcessTask { command, timeout, priority: Priority::NORMAL, max_output: Self::DEFAULT_MAX_OUTPUT }
    }

    /// The priority of the task, which also orders the waiters for a process slot.
    ///
    /// ```
    /// # use kairos_rt::{Priority, ProcessTask};
    /// # use std::{process::Command, time::Duration};
    /// let task = ProcessTask::new(Command::new("true"), Duration::from_secs(5)).priority(Priority::LOW);
    /// # let _ = task;
    /// ```
    pub fn priority(mut self, priority: Priority) -> ProcessTask {
        self.priority = priority;
        self
    }

    /// Keeps at most `bytes` of each of standard output and standard error; the rest is
    /// still read (so the process never blocks on a full pipe) and dropped, and the
    /// output counts it ([`ProcessOutput::stdout_dropped`](crate::ProcessOutput::stdout_dropped)).
    /// The first `bytes` are kept. `usize::MAX` keeps everything; 0 keeps nothing.
    ///
    /// ```
    /// # use kairos_rt::ProcessTask;
    /// # use std::{process::Command, time::Duration};
    /// let task = ProcessTask::new(Command::new("true"), Duration::from_secs(5)).max_output(64 << 10);
    /// # let _ = task;
    /// ```
    pub fn max_output(mut self, bytes: usize) -> ProcessTask {
        self.max_output = bytes;
        self
    }
}
