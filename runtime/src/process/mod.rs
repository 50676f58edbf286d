//! OS processes as tasks: [`Handle::spawn_process`](crate::Handle::spawn_process) and
//! [`Handle::spawn_process_with`](crate::Handle::spawn_process_with).
//!
//! A job that must be killable while it runs is an OS process: the runtime starts it,
//! captures its output (up to a cap), kills it at a timeout, and resolves the task to a
//! [`ProcessOutput`]. No worker thread ever blocks on the child, and when the task
//! resolves, nothing the child started in its process group is left running (Linux).
//!
//! ## The run, step by step (Linux)
//!
//! 1. **Validate.** A zero timeout is refused at once with
//!    [`ProcessError::is_invalid_timeout`] (the process is never started).
//! 2. **Take a slot** from the runtime's [`ProcessLimiter`] (`Builder::max_processes`; the limiter
//!    is a leaf module, `limiter.rs`, so that the scheduler can own it).
//!    The wait is asynchronous: a waiter is parked in a wait list ordered by priority,
//!    then arrival, and the task is re-queued at its priority when its turn comes. A
//!    freed slot is *handed over* to the first waiter (the count of running processes
//!    does not drop), so a newcomer never overtakes a waiter. The slot is a guard: it is
//!    released on every path, including the drop of the task's future mid-wait (a slot
//!    already handed to a dropped waiter is passed on) and a panic.
//! 3. **Start** the child as the leader of a new process group (its id is the child's
//!    pid; this replaces any `process_group` set on the command), stdin null,
//!    stdout/stderr piped. The clock for the timeout and [`ProcessOutput::elapsed`]
//!    starts here. The pipes (made non-blocking) and a pidfd of the child go to the
//!    [`driver`]: **one thread for all children of all runtimes** in the program, which
//!    polls every pipe and pidfd, keeps the first `max_output` bytes of each stream and
//!    counts the rest (it drains past the cap, so a child never blocks on a full pipe,
//!    and both pipes are drained at once, so no child deadlocks on the other), and sees
//!    each child exit *without reaping it*. The start (`Command::spawn`: fork and exec)
//!    runs on the worker that polls the task, typically tens to hundreds of µs.
//! 4. **Wait** for "exited and both pipes at end of file", raced against the runtime's
//!    timer ([`timeout`](crate::timeout)). The driver wakes the task through a waker it
//!    keeps beside the entry, under the same lock, so no wake-up is lost.
//! 5. **End**, whichever way the wait ended: send `SIGKILL` to the child's process group
//!    (at the timeout this kills the child and its jobs; after a normal exit it sweeps
//!    whatever the child left running in the group), and to the child itself if it
//!    still ran at the timeout (it may have left its group). Wait (asynchronously) for
//!    the driver to see it exit; after a timeout, give the pipes a short grace
//!    ([`DRAIN_GRACE`]) to reach end of file (the group's death closes the copies it
//!    held); then close the pipes, reap the child and resolve. [`ProcessEnd`] says which
//!    way it went: exited on its own, killed at the timeout, or exited on its own with
//!    its output still held open at the timeout by what it left behind (then killed).
//!
//! ## Killing without the pid-reuse race
//!
//! A group is signalled by its id, which is the leader's pid; once the leader is reaped,
//! that pid (and so the group id, when the group empties) may be reused by an unrelated
//! process. The invariant: **the leader is reaped only after its group was signalled
//! for the last time.** An unreaped child, zombie or not, keeps its pid, and the kernel
//! does not reuse a pid that still names a process or a group, so `kill(-pid)` while
//! the leader is unreaped reaches only our group. How it holds:
//!
//! - The [`Child`](std::process::Child) is owned by the task's `Running` alone; only
//!   `Running::run` (after step 5's kill) and `Running`'s drop (after its kill) reap it.
//! - The driver never reaps. It learns of the exit from the pidfd (readable at exit, a
//!   handle to the process, not a pid), or, where the kernel has no `pidfd_open`, from
//!   `waitid(P_PID, pid, WEXITED | WNOHANG | WNOWAIT)` (which leaves the child waitable)
//!   every [`EXIT_POLL`](driver::EXIT_POLL); that call runs under the driver's lock on a
//!   registered entry, and the owner removes the entry before it reaps, so the pid is
//!   ours during the call.
//!
//! No `PR_SET_CHILD_SUBREAPER` (a program-wide setting a library must not take) and no
//! `SIGCHLD` handler are used: the program's other children are untouched.
//!
//! ## Cancellation and shutdown
//!
//! If the task's future is dropped mid-run (its handle cancelled it, a run timeout
//! dropped it, or the runtime shut down), the drop kills the group and the child, closes
//! the pipes, and *blocks until it has reaped the child*, so nothing in the group
//! outlives the task and no zombie is left, even when the child had already exited and
//! only its jobs ran. A child killed with `SIGKILL` exits at once, so the block is short;
//! it lasts longer only if the child is stuck in the kernel (uninterruptible sleep); the
//! thread that drops the future (a worker, or the thread running shutdown) waits that
//! long. If the kill itself fails (the child changed its user id, say), the drop does
//! not wait: the child is handed to the driver, which reaps it when it exits.
//!
//! ## What this does not cover
//!
//! - Descendants that left the child's process group (`setsid`, `setpgid`) are not
//!   killed. If one keeps the child's stdout or stderr open, the run ends at the timeout
//!   with what was read, and the runtime closes its ends of the pipes.
//! - A Ctrl-C at the terminal reaches this program but not the child, which is not in
//!   the terminal's foreground group.
//! - Code elsewhere in the program that reaps children it did not start (`SIGCHLD` set
//!   to `SIG_IGN`, which makes the kernel reap them, or `waitpid(-1, ..)`) breaks the
//!   invariants above, as it breaks [`Child::wait`](std::process::Child::wait): the exit
//!   status is then lost (an I/O error), and a kill could reach a recycled pid.
//! - Outside Linux (`threads.rs`): no process groups and no driver; each running
//!   process has a reaper thread and a reader thread per pipe (the output cap holds),
//!   only the child is killed, and readers stay blocked while what the child left
//!   behind holds its pipes.

#[cfg(target_os = "linux")]
mod child;
#[cfg(not(target_os = "linux"))]
#[path = "threads.rs"]
mod child;
#[cfg(target_os = "linux")]
mod driver;

mod capture;
mod error;
mod output;
mod task;

pub use error::ProcessError;
pub use output::{ProcessEnd, ProcessOutput};
pub use task::ProcessTask;

use crate::limiter::ProcessLimiter;
use crate::{Handle, Runtime};
use child::Running;
use kairos_rt_core::task::JoinHandle;
use kairos_rt_core::Priority;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long, after a timed-out child's group was killed and the child seen to exit, its
/// pipes may take to reach end of file before the run resolves with the output read so
/// far.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks but allocation; recover rather than
    // spread a poison panic into a worker.
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// - The run ends when the process has exited and its stdout and stderr are closed.
    /// - `timeout` counts from the start of the process. When it elapses, the process is
    ///   killed and reaped, and the result has [`timed_out`](ProcessOutput::timed_out)
    ///   set (it is an `Ok`: the status shows the kill, [`end`](ProcessOutput::end) says
    ///   whether the process still ran or had exited, leaving its output held open).
    ///   `Duration::MAX` means no limit.
    /// - Errors ([`ProcessError`]): a zero timeout (refused, nothing is started), a
    ///   program that cannot start, or a failure to collect output or status.
    /// - On Linux the process leads a new process group, and the kill goes to the whole
    ///   group: what it started (such as the job of `sh -c 'job; ...'`) dies with it, also
    ///   when the process itself already exited. When the run ends without a timeout,
    ///   whatever the process left running in its group is killed too. A Ctrl-C at the
    ///   terminal no longer reaches it directly.
    /// - Dropping the task (cancelling it through its handle while it waits, a run
    ///   timeout, or the runtime shutting down) kills the process (and on Linux its
    ///   group) and reaps it before the drop returns.
    /// - On a runtime that is shut down, the handle's result is a shutdown
    ///   [`JoinError`](crate::JoinError).
    ///
    /// - Each of stdout and stderr keeps its first
    ///   [`ProcessTask::DEFAULT_MAX_OUTPUT`] bytes (1 MiB); the rest is read and dropped,
    ///   and counted in [`stdout_dropped`](ProcessOutput::stdout_dropped) (set another cap
    ///   with [`spawn_process_with`](Self::spawn_process_with)).
    ///
    /// No worker thread blocks on the child. On Linux one driver thread, shared by all
    /// runtimes, reads every child's output and sees it exit; elsewhere three helper
    /// threads per running process do. Starting it (`Command::spawn`) runs on a worker.
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
        self.spawn_process_with(ProcessTask::new(command, timeout).priority(priority))
    }

    /// Runs a [`ProcessTask`]: as [`spawn_process`](Self::spawn_process), with the
    /// task's priority and output cap.
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use kairos_rt::{ProcessTask, Runtime};
    /// use std::process::Command;
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build().unwrap();
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", "echo 0123456789; echo oops >&2"]);
    /// let task = ProcessTask::new(cmd, Duration::from_secs(10)).max_output(4);
    /// let out = rt.handle().spawn_process_with(task).join().unwrap().unwrap();
    /// assert_eq!((&out.stdout[..], out.stdout_dropped), (&b"0123"[..], 7));
    /// assert_eq!((&out.stderr[..], out.stderr_dropped), (&b"oops"[..], 1));
    /// # }
    /// ```
    pub fn spawn_process_with(&self, task: ProcessTask) -> JoinHandle<Result<ProcessOutput, ProcessError>> {
        let limiter = self.shared.process_limiter();
        let priority = task.priority;
        self.spawn_future(priority, run(limiter, task))
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

    /// See [`Handle::spawn_process_with`].
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use kairos_rt::{ProcessTask, Runtime};
    /// use std::{process::Command, time::Duration};
    ///
    /// let rt = Runtime::builder().workers(1).build().unwrap();
    /// let task = ProcessTask::new(Command::new("true"), Duration::from_secs(10));
    /// assert!(rt.spawn_process_with(task).join().unwrap().unwrap().success());
    /// # }
    /// ```
    pub fn spawn_process_with(&self, task: ProcessTask) -> JoinHandle<Result<ProcessOutput, ProcessError>> {
        self.handle.spawn_process_with(task)
    }
}

/// The task's future: slot, start, wait-or-kill, collect.
async fn run(limiter: Arc<ProcessLimiter>, task: ProcessTask) -> Result<ProcessOutput, ProcessError> {
    let ProcessTask { mut command, timeout, priority, max_output } = task;
    let program = command.get_program().to_string_lossy().into_owned();
    if timeout.is_zero() {
        return Err(ProcessError::invalid_timeout(program));
    }
    // Declared before `running`, so dropped after it: the slot outlives the child.
    let _permit = limiter.acquire(priority).await;
    let running = Running::start(&mut command, program, max_output)?;
    running.run(timeout).await
}
