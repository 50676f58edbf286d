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
//! - The [`Child`] lives in a mutex. It is reaped only through `Child::try_wait` (or
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
//!   `try_wait` under the mutex with short, growing sleeps ([`MAX_POLL`]).
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
//! only if the child is stuck in the kernel (uninterruptible sleep). If the kill itself
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
//!   invariants above, as it breaks [`Child::wait`]: the exit status is then lost (an
//!   I/O error), and a kill could reach a recycled pid.

use crate::{Handle, Runtime};
use kairos_core::task::JoinHandle;
use kairos_core::Priority;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long, after a timed-out child was killed and reaped, its pipes may take to reach
/// end of file before the run resolves with the output read so far.
pub(crate) const DRAIN_GRACE: Duration = Duration::from_millis(100);

/// The longest sleep between two `try_wait` polls of the reaper when it cannot block
/// (not Linux, or `waitid` failed).
pub(crate) const MAX_POLL: Duration = Duration::from_millis(10);

/// Stack size of the helper threads (they hold an 8 KiB buffer at most).
const HELPER_STACK: usize = 64 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks but allocation; recover rather than
    // spread a poison panic into a worker.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// The limiter.

/// A waiter's place: most urgent level first, then arrival order.
type WaitKey = (Reverse<u8>, u64);

#[derive(Debug, Default)]
struct LimiterState {
    /// Slots in use, counting slots handed to a waiter that has not yet taken them.
    running: usize,
    /// Arrival counter for `WaitKey`.
    next_seq: u64,
    /// Waiters without a slot, in service order.
    waiters: BTreeMap<WaitKey, Waker>,
    /// Waiters a slot was handed to, until they take it (or are dropped).
    granted: HashSet<WaitKey>,
}

/// Caps how many child processes a runtime runs at once.
///
/// An asynchronous semaphore whose waiters are served by priority, then in arrival
/// order; a freed slot goes straight to the next waiter.
#[derive(Debug)]
pub(crate) struct ProcessLimiter {
    max: usize,
    state: Mutex<LimiterState>,
}

impl ProcessLimiter {
    /// A limiter letting `max` processes run at once (`max >= 1`, checked by the builder).
    pub(crate) fn new(max: usize) -> ProcessLimiter {
        ProcessLimiter { max, state: Mutex::new(LimiterState::default()) }
    }

    /// The cap.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Slots in use (handed-over slots included).
    #[cfg(test)]
    fn running(&self) -> usize {
        lock(&self.state).running
    }

    /// Waits, without blocking the thread, for a slot; `priority` orders the waiters.
    fn acquire(self: &Arc<Self>, priority: Priority) -> Acquire {
        Acquire { limiter: self.clone(), priority, key: None, done: false }
    }

    /// Gives a slot back: to the first waiter if there is one, else to the pool.
    fn release(&self) {
        let waker = {
            let mut st = lock(&self.state);
            match st.waiters.pop_first() {
                Some((key, waker)) => {
                    st.granted.insert(key);
                    Some(waker)
                }
                None => {
                    st.running = st.running.saturating_sub(1);
                    None
                }
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A slot of the limiter, given back on drop.
#[derive(Debug)]
struct Permit(Arc<ProcessLimiter>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The future of [`ProcessLimiter::acquire`].
#[derive(Debug)]
struct Acquire {
    limiter: Arc<ProcessLimiter>,
    priority: Priority,
    /// Our place in the wait list, once we wait.
    key: Option<WaitKey>,
    /// The permit was returned: nothing to undo on drop.
    done: bool,
}

impl Future for Acquire {
    type Output = Permit;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Permit> {
        let this = &mut *self;
        let mut st = lock(&this.limiter.state);
        match this.key {
            None => {
                if st.waiters.is_empty() && st.running < this.limiter.max() {
                    st.running += 1;
                } else {
                    let key = (Reverse(this.priority.level()), st.next_seq);
                    st.next_seq += 1;
                    st.waiters.insert(key, cx.waker().clone());
                    this.key = Some(key);
                    return Poll::Pending;
                }
            }
            Some(key) => {
                if !st.granted.remove(&key) {
                    if let Some(w) = st.waiters.get_mut(&key) {
                        if !w.will_wake(cx.waker()) {
                            *w = cx.waker().clone();
                        }
                    }
                    return Poll::Pending;
                }
            }
        }
        drop(st);
        this.done = true;
        Poll::Ready(Permit(this.limiter.clone()))
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(key) = self.key.filter(|_| !self.done) else { return };
        let handed = {
            let mut st = lock(&self.limiter.state);
            st.waiters.remove(&key);
            st.granted.remove(&key)
        };
        if handed {
            // A slot was handed to us and we will never use it: pass it on.
            self.limiter.release();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Public types.

/// How an OS process run by [`Handle::spawn_process`] ended: its exit status and
/// captured output.
///
/// # Examples
///
/// ```
/// # #[cfg(unix)] {
/// use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
/// use kairos::{Priority, Runtime};
/// use std::process::Command;
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build().unwrap();
/// let cmd = Command::new("no-such-program-kairos");
/// let err = rt.spawn_process(Priority::NORMAL, cmd, Duration::from_secs(1)).join().unwrap().unwrap_err();
/// assert!(err.is_start_failure());
/// assert!(err.to_string().starts_with("could not start `no-such-program-kairos`: "));
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
    /// # use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
    /// # use kairos::{Priority, Runtime};
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
            ErrorKind::Start(e) => write!(f, "could not start `{program}`: {e}"),
            ErrorKind::Io { action, source } => write!(f, "could not {action} `{program}`: {source}"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

// ---------------------------------------------------------------------------------------
// Spawning.

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
    /// use kairos::{Priority, Runtime};
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
    /// use kairos::{Priority, Runtime};
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

// ---------------------------------------------------------------------------------------
// One running child and its helpers.

#[derive(Debug, Default)]
struct Pipe {
    buf: Vec<u8>,
    /// At end of file, or failed.
    done: bool,
    error: Option<io::Error>,
}

#[derive(Debug)]
struct State {
    child: Child,
    /// The reaping's result, recorded (once) by whoever reaped `child`, under the lock.
    status: Option<io::Result<ExitStatus>>,
    exited_at: Option<Instant>,
    /// A reaper thread runs (else `Running::drop` must reap).
    reaper: bool,
    /// stdout, stderr.
    pipes: [Pipe; 2],
    /// The task waiting on this state.
    waker: Option<Waker>,
}

impl State {
    fn reaped(&self) -> bool {
        self.status.is_some()
    }

    fn finished(&self) -> bool {
        self.reaped() && self.pipes.iter().all(|p| p.done)
    }

    /// Kills the child, and on Linux its process group. The caller holds the lock and
    /// saw `!self.reaped()`: the child's pid, which is also its group's id, is still
    /// ours (an unreaped child keeps it), so no signal can reach a recycled pid.
    fn kill_unreaped(&mut self) -> io::Result<()> {
        debug_assert!(!self.reaped());
        #[cfg(target_os = "linux")]
        if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: `kill` takes no pointers. `-pgid` names the group our child created
            // at spawn (`process_group(0)`), whose id is the child's pid, still held by the
            // unreaped child. If the child left that group, this fails with `ESRCH` or hits
            // only what stayed in it, and `Child::kill` below still reaches the child.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        self.child.kill()
    }

    /// Records the child's end; only the reaper (or a reaping drop) calls this.
    fn set_status(&mut self, status: io::Result<ExitStatus>) {
        self.status = Some(status);
        self.exited_at = Some(Instant::now());
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled on every change, for `Running::drop`'s blocking wait.
    changed: Condvar,
}

impl Shared {
    /// Changes the state, then wakes the task and any blocking waiter.
    fn update(&self, f: impl FnOnce(&mut State)) {
        let waker = {
            let mut st = lock(&self.state);
            f(&mut st);
            self.changed.notify_all();
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The task's side of a started child. Dropping it kills and reaps the child.
#[derive(Debug)]
struct Running {
    shared: Arc<Shared>,
    program: String,
    started: Instant,
}

impl Running {
    /// Starts the child and its helper threads.
    fn start(command: &mut Command, program: String) -> Result<Running, ProcessError> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group, so the kill reaches what it started too (see the docs).
        #[cfg(target_os = "linux")]
        std::os::unix::process::CommandExt::process_group(command, 0);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| ProcessError::start(&program, e))?;
        let pid = child.id();
        let out = child.stdout.take();
        let err = child.stderr.take();
        let state = State {
            child,
            status: None,
            exited_at: None,
            reaper: true,
            pipes: Default::default(),
            waker: None,
        };
        let running = Running {
            shared: Arc::new(Shared { state: Mutex::new(state), changed: Condvar::new() }),
            program,
            started,
        };
        let helper = |name: &str| std::thread::Builder::new().name(name.into()).stack_size(HELPER_STACK);
        let fail = |e| ProcessError::io(&running.program, "start a helper thread for", e);

        let shared = running.shared.clone();
        if let Err(e) = helper("kairos-process-reaper").spawn(move || reap(&shared, pid)) {
            // Nobody reaps: the drop (on our way out) kills and reaps inline.
            lock(&running.shared.state).reaper = false;
            return Err(fail(e));
        }
        for (i, pipe) in [out.map(|p| Box::new(p) as Box<dyn Read + Send>), err.map(|p| Box::new(p) as _)]
            .into_iter()
            .enumerate()
        {
            let Some(pipe) = pipe else {
                running.shared.update(|st| st.pipes[i].done = true);
                continue;
            };
            let shared = running.shared.clone();
            if let Err(e) = helper("kairos-process-reader").spawn(move || read_pipe(&shared, i, pipe)) {
                // The drop kills the child; the other reader then sees end of file.
                return Err(fail(e));
            }
        }
        Ok(running)
    }

    /// A future ready once `cond` holds.
    fn until(&self, cond: fn(&State) -> bool) -> Until<'_> {
        Until { shared: &self.shared, cond }
    }

    /// Kills the child unless it was reaped already (then there is nothing to kill).
    fn kill(&self) -> io::Result<()> {
        let mut st = lock(&self.shared.state);
        if st.reaped() {
            return Ok(());
        }
        st.kill_unreaped()
    }

    /// The result, once reaped (output as read so far).
    fn finish(&self, timed_out: bool) -> Result<ProcessOutput, ProcessError> {
        let mut st = lock(&self.shared.state);
        let elapsed = st.exited_at.map_or_else(|| self.started.elapsed(), |t| t - self.started);
        let status = match st.status.take() {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(ProcessError::io(&self.program, "wait for", e)),
            // Unreachable: both callers' paths wait until reaped first.
            None => {
                return Err(ProcessError::io(
                    &self.program,
                    "wait for",
                    io::Error::other("the process was not reaped"),
                ))
            }
        };
        // Keep `status` Some: the drop must not kill or wait again.
        st.status = Some(Ok(status));
        for p in &mut st.pipes {
            if let Some(e) = p.error.take() {
                return Err(ProcessError::io(&self.program, "read the output of", e));
            }
        }
        let stdout = std::mem::take(&mut st.pipes[0].buf);
        let stderr = std::mem::take(&mut st.pipes[1].buf);
        Ok(ProcessOutput { status, stdout, stderr, timed_out, elapsed })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut st = lock(&self.shared.state);
        if st.reaped() {
            return;
        }
        if st.kill_unreaped().is_err() {
            // The child cannot be killed by us; it may run for long. The reaper (if any)
            // reaps it when it exits; do not hold this thread until then.
            return;
        }
        if !st.reaper {
            // No reaper thread: reap here. SIGKILL was sent, so this returns promptly.
            let status = st.child.wait();
            st.set_status(status);
            return;
        }
        while !st.reaped() {
            st = self.shared.changed.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The future of [`Running::until`].
struct Until<'a> {
    shared: &'a Shared,
    cond: fn(&State) -> bool,
}

impl Future for Until<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Checking and registering under the lock that every update takes: an update
        // after the check finds the waker.
        let mut st = lock(&self.shared.state);
        if (self.cond)(&st) {
            return Poll::Ready(());
        }
        match &mut st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// The reaper thread: waits for the child to exit without holding the lock, then reaps
/// it under the lock.
fn reap(shared: &Shared, pid: u32) {
    // On Linux, block until the child has exited, leaving it unreaped; the first
    // `try_wait` below then reaps it. If this fails, fall back to polling.
    #[cfg(target_os = "linux")]
    let mut pause = if wait_exit_unreaped(pid).is_ok() { Duration::ZERO } else { Duration::from_micros(100) };
    #[cfg(not(target_os = "linux"))]
    let mut pause = {
        let _ = pid;
        Duration::from_micros(100)
    };
    loop {
        let done = {
            let mut st = lock(&shared.state);
            if st.reaped() {
                // Reaped by a drop that found no reaper: impossible while we run, but harmless.
                true
            } else {
                match st.child.try_wait() {
                    Ok(None) => false,
                    Ok(Some(status)) => {
                        st.set_status(Ok(status));
                        true
                    }
                    Err(e) => {
                        st.set_status(Err(e));
                        true
                    }
                }
            }
        };
        if done {
            shared.update(|_| {});
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).clamp(Duration::from_micros(100), MAX_POLL);
    }
}

/// Blocks until the child `pid` has exited, without reaping it.
#[cfg(target_os = "linux")]
fn wait_exit_unreaped(pid: u32) -> io::Result<()> {
    let id = libc::id_t::from(pid);
    loop {
        // SAFETY: `siginfo_t` is a plain C struct for which all-zero bytes are a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable `siginfo_t` for the duration of the call.
        // `WNOWAIT` leaves the child waitable, so `Child` still reaps it (and knows it).
        let r = unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A reader thread: appends pipe `i` to the shared buffer until end of file.
fn read_pipe(shared: &Shared, i: usize, mut pipe: Box<dyn Read + Send>) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break shared.update(|st| st.pipes[i].done = true),
            Ok(n) => lock(&shared.state).pipes[i].buf.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                break shared.update(|st| {
                    st.pipes[i].error = Some(e);
                    st.pipes[i].done = true;
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountWake(AtomicUsize);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(f: &mut Acquire, w: &Arc<CountWake>) -> Poll<Permit> {
        let waker = Waker::from(w.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn limiter_serves_waiters_by_priority_then_arrival() {
        let l = Arc::new(ProcessLimiter::new(1));
        let w = Arc::new(CountWake(AtomicUsize::new(0)));
        let mut first = l.acquire(Priority::LOWEST);
        let Poll::Ready(p0) = poll(&mut first, &w) else { panic!("a free slot is taken at once") };
        let mut low = l.acquire(Priority::LOW);
        let mut high_a = l.acquire(Priority::HIGH);
        let mut high_b = l.acquire(Priority::HIGH);
        assert!(poll(&mut low, &w).is_pending());
        assert!(poll(&mut high_a, &w).is_pending());
        assert!(poll(&mut high_b, &w).is_pending());
        drop(p0);
        assert_eq!(w.0.load(Ordering::SeqCst), 1);
        assert!(poll(&mut low, &w).is_pending());
        assert!(poll(&mut high_b, &w).is_pending());
        let Poll::Ready(p1) = poll(&mut high_a, &w) else { panic!("the slot went to the first HIGH") };
        // A newcomer does not overtake the waiters.
        let mut late = l.acquire(Priority::HIGHEST);
        drop(p1);
        assert!(poll(&mut late, &w).is_pending());
        let Poll::Ready(p2) = poll(&mut high_b, &w) else { panic!("then the second HIGH") };
        drop(p2);
        // `late` (HIGHEST) queued before this release; it now outranks `low`.
        assert!(poll(&mut low, &w).is_pending());
        let Poll::Ready(p3) = poll(&mut late, &w) else { panic!("then HIGHEST") };
        drop(p3);
        let Poll::Ready(p4) = poll(&mut low, &w) else { panic!("then LOW") };
        assert_eq!(l.running(), 1);
        drop(p4);
        assert_eq!(l.running(), 0);
    }

    #[test]
    fn dropped_waiter_passes_its_slot_on() {
        let l = Arc::new(ProcessLimiter::new(1));
        let w = Arc::new(CountWake(AtomicUsize::new(0)));
        let mut a = l.acquire(Priority::NORMAL);
        let Poll::Ready(pa) = poll(&mut a, &w) else { panic!() };
        let mut b = l.acquire(Priority::NORMAL);
        let mut c = l.acquire(Priority::NORMAL);
        assert!(poll(&mut b, &w).is_pending());
        assert!(poll(&mut c, &w).is_pending());
        drop(pa); // handed to b
        drop(b); // b never takes it: on to c
        let Poll::Ready(pc) = poll(&mut c, &w) else { panic!("c gets b's slot") };
        // A waiting (not granted) waiter that is dropped leaves no trace.
        let mut d = l.acquire(Priority::NORMAL);
        assert!(poll(&mut d, &w).is_pending());
        drop(d);
        drop(pc);
        assert_eq!(l.running(), 0);
        let mut e = l.acquire(Priority::NORMAL);
        assert!(poll(&mut e, &w).is_ready());
    }
}
