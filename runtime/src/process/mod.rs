//! OS processes as tasks: [`Handle::spawn_process`](crate::Handle::spawn_process).
//!
//! A job that must be killable while it runs is an OS process: the runtime starts it,
//! captures its output, kills it at a timeout, and resolves the task to a
//! [`ProcessOutput`]. No worker thread ever blocks on the child.
//!
//! ## The run, step by step
//!
//! 1. **Validate.** A zero timeout is refused at once with
//!    [`ProcessError::is_invalid_timeout`] (the process is never started).
//! 2. **Take a slot** from the runtime's [`ProcessLimiter`] (`Builder::max_processes`).
//!    The wait is asynchronous: a waiter is parked in a wait list ordered by priority,
//!    then arrival, and the task is re-queued at its priority when its turn comes. A
//!    freed slot is *handed over* to the first waiter (the count of running processes
//!    does not drop), so a newcomer never overtakes a waiter. The slot is a guard: it is
//!    released on every path, including the drop of the task's future mid-wait (a slot
//!    already handed to a dropped waiter is passed on) and a panic.
//! 3. **Start** the child with stdin null and stdout/stderr piped. The clock for the
//!    timeout and [`ProcessOutput::elapsed`] starts here. Three small helper threads
//!    take over: one *reaper* that waits for the child to exit and reaps it, and one
//!    reader per pipe that appends to a shared buffer until end of file. Both pipes are
//!    drained concurrently, so a child that fills one pipe while the other is read
//!    never deadlocks. The cap bounds these threads (three per running process).
//!    The start itself (`Command::spawn`: fork and exec, and the helper threads' spawns)
//!    runs on the worker that polls the task and holds it for that long, typically tens
//!    to hundreds of microseconds.
//! 4. **Wait** for "reaped and both pipes at end of file", raced against the runtime's
//!    timer ([`timeout`](crate::timeout)). The helpers wake the task through a waker
//!    slot kept beside the state, under the same mutex, so no wake-up is lost.
//! 5. **At the timeout**, kill the child, wait (asynchronously) until the reaper has
//!    reaped it, then give the pipes a short grace ([`DRAIN_GRACE`]) to deliver what the
//!    child wrote before it died, and resolve with `timed_out == true`.
//!
//! ## Killing without the pid-reuse race
//!
//! Signalling a pid is only safe while the child is *unreaped*: a zombie keeps its pid,
//! so the pid cannot name an unrelated process. The invariants:
//!
//! - The [`Child`](std::process::Child) lives in a mutex. It is reaped only through `Child::try_wait` (or
//!   `Child::wait`), under that mutex, and only by the reaper thread (or, when the
//!   reaper thread could not be started, by the owner's drop, which then plays its
//!   part). The exit status is recorded under the same lock.
//! - It is killed (through `Child::kill`, and on Linux through its process group, see
//!   below) only under that mutex, and only while no status is recorded. `Child::kill`
//!   itself never signals a child that `Child` already reaped. So every signal reaches
//!   our own, not yet reaped, child.
//! - The reaper does not hold the mutex while it blocks. On Linux it first waits with
//!   `waitid(P_PID, pid, WEXITED | WNOWAIT)`, which returns once the child has exited
//!   but leaves it a zombie (the pid stays ours, as no one else reaps it), then reaps it
//!   with `try_wait` under the mutex. Elsewhere, or if `waitid` fails, it polls
//!   `try_wait` under the mutex with short, growing sleeps ([`MAX_POLL`](child::MAX_POLL)).
//!
//! This is why the reaper owns reaping rather than a plain blocking `Child::wait`: that
//! call needs the child exclusively for as long as the process runs, and signalling the
//! bare pid from another thread meanwhile could hit a recycled pid.
//!
//! ## Cancellation and shutdown
//!
//! If the task's future is dropped mid-run (its handle cancelled it, a run timeout
//! dropped it, or the runtime shut down), the drop kills the child and *blocks until
//! the reaper has reaped it*, so no child outlives its task and no zombie is left. A
//! child killed with `SIGKILL` exits at once, so the block is short; it lasts longer
//! only if the child is stuck in the kernel (uninterruptible sleep); the thread that
//! drops the future (a worker, or the thread running shutdown) waits that long. If the kill itself
//! fails (the child changed its user id, say), the drop does not wait: the reaper
//! reaps the child whenever it exits.
//!
//! ## Process groups (Linux)
//!
//! On Linux the child is started as the leader of a new process group (its id is the
//! child's pid; this replaces any `process_group` set on the command), and a kill goes
//! to the whole group, then to the child through `Child::kill`. So `sh -c 'job'`, whose
//! shell may fork `job` rather than exec it, is killed with its job, and the job cannot
//! hold the pipes open past the kill. The group is signalled only under the same rule as
//! the child (unreaped, under the lock): the unreaped leader holds the group's id. The
//! cost: the child is not in the terminal's foreground group, so a Ctrl-C at the
//! terminal reaches this program but not the child. Elsewhere only the child is killed.
//!
//! ## What this does not cover
//!
//! - Descendants that left the child's process group (or, outside Linux, any
//!   descendants) are not killed. If one keeps the child's stdout or stderr open, the
//!   run ends at the timeout (`timed_out`, with the child's real exit status and the
//!   output read so far), and the reader threads end when it closes the pipes. The same
//!   holds for descendants still running after the child itself exited: the child is
//!   then reaped, so its group id is no longer pinned and is not signalled.
//! - Output is buffered in memory in full, like [`Command::output`].
//! - Code elsewhere in the program that reaps children it did not start (`SIGCHLD` set
//!   to `SIG_IGN`, which makes the kernel reap them, or `waitpid(-1, ..)`) breaks the
//!   invariants above, as it breaks [`Child::wait`](std::process::Child::wait): the exit
//!   status is then lost (an I/O error), and a kill could reach a recycled pid.

mod child;
mod limiter;

pub(crate) use limiter::ProcessLimiter;

use crate::{Handle, Runtime};
use child::{Running, State};
use kairos_rt_core::task::JoinHandle;
use kairos_rt_core::Priority;
use std::fmt;
use std::io;
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long, after a timed-out child was killed and reaped, its pipes may take to reach
/// end of file before the run resolves with the output read so far.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks but allocation; recover rather than
    // spread a poison panic into a worker.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How an OS process run by [`Handle::spawn_process`] ended: its exit status and
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
    /// Everything the process wrote to its standard output (what was read by the end of
    /// the run, if `timed_out`).
    pub stdout: Vec<u8>,
    /// Everything the process wrote to its standard error (likewise).
    pub stderr: Vec<u8>,
    /// The timeout elapsed before the run finished: the process was killed if it still
    /// ran (its output may be incomplete).
    pub timed_out: bool,
    /// From the start of the process to its exit (or, if it was not seen to exit, to
    /// the end of the run). Time spent waiting for a slot is not included.
    pub elapsed: Duration,
}

impl ProcessOutput {
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

/// Why [`Handle::spawn_process`] produced no [`ProcessOutput`].
///
/// A process that ran and failed, or was killed at its timeout, is *not* an error: its
/// status is in the output. This error means the run itself could not happen or
/// complete: the timeout was zero, the program could not be started, or the runtime
/// could not collect the output or the exit status.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
/// use std::process::Command;
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build().unwrap();
/// let cmd = Command::new("no-such-program-kairos");
/// let err = rt.spawn_process(Priority::NORMAL, cmd, Duration::from_secs(1)).join().unwrap().unwrap_err();
/// assert!(err.is_start_failure());
/// assert_eq!(err.to_string(), "could not start `no-such-program-kairos`");
/// // Why: the io::Error is the source.
/// assert!(std::error::Error::source(&err).is_some());
/// ```
#[derive(Debug)]
pub struct ProcessError {
    program: String,
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    InvalidTimeout,
    Start(io::Error),
    /// `action` completes "could not {action} `program`".
    Io {
        action: &'static str,
        source: io::Error,
    },
}

impl ProcessError {
    fn invalid_timeout(program: String) -> ProcessError {
        ProcessError { program, kind: ErrorKind::InvalidTimeout }
    }

    fn start(program: &str, e: io::Error) -> ProcessError {
        ProcessError { program: program.to_owned(), kind: ErrorKind::Start(e) }
    }

    fn io(program: &str, action: &'static str, source: io::Error) -> ProcessError {
        ProcessError { program: program.to_owned(), kind: ErrorKind::Io { action, source } }
    }

    /// The program could not be started (not found, not executable, ...); the cause is
    /// in [`io_error`](Self::io_error).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("/nonexistent/x"), Duration::from_secs(1));
    /// let err = h.join().unwrap().unwrap_err();
    /// assert!(err.is_start_failure());
    /// assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn is_start_failure(&self) -> bool {
        matches!(self.kind, ErrorKind::Start(_))
    }

    /// The timeout was zero, which is refused: the process was not started.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::ZERO);
    /// assert!(h.join().unwrap().unwrap_err().is_invalid_timeout());
    /// ```
    pub fn is_invalid_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::InvalidTimeout)
    }

    /// The process started, but the runtime could not start a helper thread for it,
    /// read its output, wait for it or kill it (see [`io_error`](Self::io_error)). The
    /// process was killed (if it still ran) and reaped where possible.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::ZERO);
    /// assert!(!h.join().unwrap().unwrap_err().is_io_failure());
    /// ```
    pub fn is_io_failure(&self) -> bool {
        matches!(self.kind, ErrorKind::Io { .. })
    }

    /// The program, as given to [`Command::new`] (lossily converted to text).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("frobnicate"), Duration::ZERO);
    /// assert_eq!(h.join().unwrap().unwrap_err().program(), "frobnicate");
    /// ```
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The underlying I/O error, if there is one (same as
    /// [`source`](std::error::Error::source), typed).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::ZERO);
    /// assert!(h.join().unwrap().unwrap_err().io_error().is_none());
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            ErrorKind::InvalidTimeout => None,
            ErrorKind::Start(e) | ErrorKind::Io { source: e, .. } => Some(e),
        }
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = &self.program;
        match &self.kind {
            ErrorKind::InvalidTimeout => write!(
                f,
                "spawn_process(`{program}`) was given a timeout of zero, which would kill the process \
                 before it starts; pass a positive timeout (Duration::MAX for no limit)"
            ),
            // The io error is the `source`, not repeated here.
            ErrorKind::Start(_) => write!(f, "could not start `{program}`"),
            ErrorKind::Io { action, .. } => write!(f, "could not {action} `{program}`"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl Handle {
    /// Runs `command` as an OS process in a task at `priority`, at most
    /// [`Builder::max_processes`](crate::Builder::max_processes) at once, killing it if
    /// it runs longer than `timeout`; resolves to its exit status and output.
    ///
    /// - The process starts once the task runs and a slot is free. Waiting for a slot
    ///   holds no worker; waiters get slots by priority, then in arrival order.
    /// - Its stdin is null; stdout and stderr are captured (whatever `command` set for
    ///   the three streams is replaced).
    /// - `timeout` counts from the start of the process. When it elapses, the process is
    ///   killed and reaped, and the result has [`timed_out`](ProcessOutput::timed_out)
    ///   set (it is an `Ok`: the status shows the kill). `Duration::MAX` means no limit.
    /// - Errors ([`ProcessError`]): a zero timeout (refused, nothing is started), a
    ///   program that cannot start, or a failure to collect output or status.
    /// - On Linux the process leads a new process group, and the kill goes to the whole
    ///   group: what it started (such as the job of `sh -c 'job; ...'`) dies with it. A
    ///   Ctrl-C at the terminal then no longer reaches it directly.
    /// - Dropping the task (cancelling it through its handle while it waits, a run
    ///   timeout, or the runtime shutting down) kills the process and reaps it before
    ///   the drop returns.
    /// - On a runtime that is shut down, the handle's result is a shutdown
    ///   [`JoinError`](crate::JoinError).
    ///
    /// No worker thread blocks on the child: three helper threads per running process
    /// wait for it and read its output. Starting it (`Command::spawn`) runs on a worker.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use kairos_rt::{Priority, Runtime};
    /// use std::process::Command;
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(2).max_processes(4).build().unwrap();
    /// let handle = rt.handle();
    ///
    /// let mut quick = Command::new("sh");
    /// quick.args(["-c", "echo done"]);
    /// let out = handle.spawn_process(Priority::HIGH, quick, Duration::from_secs(10)).join().unwrap().unwrap();
    /// assert!(out.success());
    /// assert_eq!(out.stdout, b"done\n");
    ///
    /// let mut slow = Command::new("sleep");
    /// slow.arg("30");
    /// let out = handle.spawn_process(Priority::LOW, slow, Duration::from_millis(50)).join().unwrap().unwrap();
    /// assert!(out.timed_out);
    /// assert!(!out.status.success());
    /// # }
    /// ```
    pub fn spawn_process(
        &self,
        priority: Priority,
        command: Command,
        timeout: Duration,
    ) -> JoinHandle<Result<ProcessOutput, ProcessError>> {
        let limiter = self.shared.processes.clone();
        self.spawn_future(priority, run(limiter, priority, command, timeout))
    }
}

impl Runtime {
    /// See [`Handle::spawn_process`].
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use kairos_rt::{Priority, Runtime};
    /// use std::process::Command;
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build().unwrap();
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "printf out; printf err >&2; exit 2"]);
    /// let out = rt.spawn_process(Priority::NORMAL, cmd, Duration::from_secs(10)).join().unwrap().unwrap();
    /// assert_eq!((out.code(), &out.stdout[..], &out.stderr[..]), (Some(2), &b"out"[..], &b"err"[..]));
    /// # }
    /// ```
    pub fn spawn_process(
        &self,
        priority: Priority,
        command: Command,
        timeout: Duration,
    ) -> JoinHandle<Result<ProcessOutput, ProcessError>> {
        self.handle.spawn_process(priority, command, timeout)
    }
}

/// The task's future: slot, start, wait-or-kill, collect.
async fn run(
    limiter: Arc<ProcessLimiter>,
    priority: Priority,
    mut command: Command,
    timeout: Duration,
) -> Result<ProcessOutput, ProcessError> {
    let program = command.get_program().to_string_lossy().into_owned();
    if timeout.is_zero() {
        return Err(ProcessError::invalid_timeout(program));
    }
    // Declared before `running`, so dropped after it: the slot outlives the child.
    let _permit = limiter.acquire(priority).await;
    let running = Running::start(&mut command, program)?;
    let finished = crate::timeout(timeout, running.until(State::finished)).await.is_ok();
    if !finished {
        if let Err(e) = running.kill() {
            return Err(ProcessError::io(&running.program, "kill", e));
        }
        running.until(State::reaped).await;
        let _ = crate::timeout(DRAIN_GRACE, running.until(State::finished)).await;
    }
    running.finish(!finished)
}
