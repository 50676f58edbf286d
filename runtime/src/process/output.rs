//! What a process run produced: [`ProcessOutput`] and how the run ended, [`ProcessEnd`].

use super::capture::Capture;
use std::process::ExitStatus;
use std::time::Duration;

/// How an OS process run by [`Handle::spawn_process`](crate::Handle::spawn_process) ended: its exit status and
/// captured output.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use kairos_rt::{Priority, Runtime};
/// use std::process::Command;
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build().unwrap();
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "printf hello; exit 3"]);
/// let out = rt.spawn_process(Priority::NORMAL, cmd, Duration::from_secs(10)).join().unwrap().unwrap();
/// assert_eq!(out.stdout, b"hello");
/// assert_eq!(out.code(), Some(3));
/// assert!(!out.timed_out);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessOutput {
    /// The exit status. After a kill at the timeout it tells that the process was killed
    /// (on Unix, by `SIGKILL`: no exit code, not a success).
    pub status: ExitStatus,
    /// What the process wrote to its standard output, up to the cap
    /// ([`ProcessTask::max_output`](crate::ProcessTask::max_output), 1 MiB by default); what was read by the end of the
    /// run, if `timed_out`.
    pub stdout: Vec<u8>,
    /// What the process wrote to its standard error (likewise).
    pub stderr: Vec<u8>,
    /// Bytes of standard output read past the cap and dropped (0: `stdout` is complete,
    /// as far as it was read).
    pub stdout_dropped: u64,
    /// Bytes of standard error read past the cap and dropped.
    pub stderr_dropped: u64,
    /// The timeout elapsed before the run finished (`end` is not [`ProcessEnd::Exited`]):
    /// the output may be incomplete.
    pub timed_out: bool,
    /// How the run ended: by itself, or killed at the timeout, and what was killed.
    pub end: ProcessEnd,
    /// From the start of the process to its exit (or, if it was not seen to exit, to
    /// the end of the run). Time spent waiting for a slot is not included.
    pub elapsed: Duration,
}

/// How a run of [`Handle::spawn_process`](crate::Handle::spawn_process) ended, from the
/// runtime's side; [`ProcessOutput::status`] says how the process itself exited.
///
/// A run *finishes* when the process has exited and both its output pipes are closed
/// (every process that held them has closed them or exited). Whatever way it ends, on
/// Linux anything still running in the process's group is then killed (see the module
/// docs); that sweep after an `Exited` run is not reported, as the kernel does not say
/// whether the group still had members.
///
/// # Examples
///
/// ```
/// # #[cfg(target_os = "linux")] {
/// use kairos_rt::{ProcessEnd, ProcessTask, Runtime};
/// use std::process::Command;
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build().unwrap();
/// // The shell exits at once, but the job it left behind holds the output open.
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "(sleep 30) & echo parent-exits"]);
/// let out = rt.spawn_process_with(ProcessTask::new(cmd, Duration::from_secs(1))).join().unwrap().unwrap();
/// assert_eq!(out.end, ProcessEnd::OutputHeldAtTimeout);
/// assert_eq!(out.code(), Some(0), "the shell's own exit");
/// assert!(out.timed_out);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProcessEnd {
    /// The process exited on its own and its output closed before the timeout.
    Exited,
    /// The process still ran at the timeout: it was killed (on Linux with its whole
    /// process group). [`ProcessOutput::status`] shows the kill (`SIGKILL`), unless the
    /// process exited on its own in the instant between the check and the kill.
    KilledAtTimeout,
    /// The process had exited on its own before the timeout ([`ProcessOutput::status`]
    /// is its real exit), but processes it started still held its output open at the
    /// timeout. On Linux its process group was killed then (what left the group is not
    /// reached; the runtime closes its ends of the pipes after a short grace and returns
    /// what it read); elsewhere they are left running.
    OutputHeldAtTimeout,
}

impl ProcessOutput {
    /// The outcome of a run that ended as `end`, with the child's `status` and the
    /// stdout and stderr captures.
    pub(super) fn new(
        status: ExitStatus,
        captures: [Capture; 2],
        end: ProcessEnd,
        elapsed: Duration,
    ) -> ProcessOutput {
        let [mut out, mut err] = captures;
        let (stdout, stdout_dropped) = out.take();
        let (stderr, stderr_dropped) = err.take();
        let timed_out = end != ProcessEnd::Exited;
        ProcessOutput { status, stdout, stderr, stdout_dropped, stderr_dropped, timed_out, end, elapsed }
    }

    /// The process exited successfully (status zero) and was not killed at the timeout.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let out = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::from_secs(10));
    /// assert!(out.join().unwrap().unwrap().success());
    /// # }
    /// ```
    pub fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    /// Output past the cap was dropped, on either stream (see
    /// [`stdout_dropped`](Self::stdout_dropped)).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// # use kairos_rt::{ProcessTask, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let mut cmd = Command::new("echo");
    /// cmd.arg("hello");
    /// let task = ProcessTask::new(cmd, Duration::from_secs(10)).max_output(2);
    /// let out = rt.spawn_process_with(task).join().unwrap().unwrap();
    /// assert_eq!((&out.stdout[..], out.stdout_dropped), (&b"he"[..], 4));
    /// assert!(out.truncated());
    /// # }
    /// ```
    pub fn truncated(&self) -> bool {
        self.stdout_dropped > 0 || self.stderr_dropped > 0
    }

    /// The exit code, if the process exited by itself (`None` if a signal ended it).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let out = rt.spawn_process(Priority::NORMAL, Command::new("false"), Duration::from_secs(10));
    /// assert_eq!(out.join().unwrap().unwrap().code(), Some(1));
    /// # }
    /// ```
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// The standard output as text (invalid UTF-8 replaced by `U+FFFD`).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let mut cmd = Command::new("echo");
    /// cmd.arg("hi");
    /// let out = rt.spawn_process(Priority::NORMAL, cmd, Duration::from_secs(10));
    /// assert_eq!(out.join().unwrap().unwrap().stdout_lossy(), "hi\n");
    /// # }
    /// ```
    pub fn stdout_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// The standard error as text (invalid UTF-8 replaced by `U+FFFD`).
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo oops >&2"]);
    /// let out = rt.spawn_process(Priority::NORMAL, cmd, Duration::from_secs(10));
    /// assert_eq!(out.join().unwrap().unwrap().stderr_lossy(), "oops\n");
    /// # }
    /// ```
    pub fn stderr_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}
