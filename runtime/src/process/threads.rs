//! One running child outside Linux, with its helper threads: a *reaper* that waits for
//! the child to exit and reaps it, and one reader per pipe that appends to a capped
//! [`Capture`] until end of file (both pipes drained at once, and past the cap, so the
//! child never blocks on a full pipe).
//!
//! No process groups here: only the child is killed, and a reader stays blocked while
//! something the child left behind holds its pipe (the run still resolves after the
//! timeout and [`DRAIN_GRACE`]).
//!
//! Killing without the pid-reuse race: the `Child` lives in a mutex; it is reaped only
//! through `Child::try_wait` (or `Child::wait`) under that mutex, by the reaper (or, when
//! the reaper could not start, by the owner's drop), which records the status under the
//! same lock; it is killed only under that mutex while no status is recorded, so every
//! signal reaches our own, not yet reaped, child. The reaper polls `try_wait` with short,
//! growing sleeps ([`MAX_POLL`]) and never blocks holding the lock.

use super::capture::Capture;
use super::{lock, ProcessEnd, ProcessError, ProcessOutput, DRAIN_GRACE};
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The longest sleep between two `try_wait` polls of the reaper.
pub(crate) const MAX_POLL: Duration = Duration::from_millis(10);

/// Stack size of the helper threads (they hold an 8 KiB buffer at most).
const HELPER_STACK: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Pipe {
    capture: Capture,
    /// At end of file, or failed.
    done: bool,
    error: Option<io::Error>,
}

#[derive(Debug)]
pub(super) struct State {
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
    pub(super) fn reaped(&self) -> bool {
        self.status.is_some()
    }

    pub(super) fn finished(&self) -> bool {
        self.reaped() && self.pipes.iter().all(|p| p.done)
    }

    /// Kills the child. The caller holds the lock and saw `!self.reaped()`: the child's
    /// pid is still ours (an unreaped child keeps it), so no signal can reach a recycled
    /// pid.
    fn kill_unreaped(&mut self) -> io::Result<()> {
        debug_assert!(!self.reaped());
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
pub(super) struct Running {
    shared: Arc<Shared>,
    program: String,
    started: Instant,
}

impl Running {
    /// Starts the child and its helper threads, keeping at most `cap` bytes per stream.
    pub(super) fn start(command: &mut Command, program: String, cap: usize) -> Result<Running, ProcessError> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| ProcessError::start(&program, e))?;
        let out = child.stdout.take();
        let err = child.stderr.take();
        let state = State {
            child,
            status: None,
            exited_at: None,
            reaper: true,
            pipes: [
                Pipe { capture: Capture::new(cap), ..Pipe::default() },
                Pipe { capture: Capture::new(cap), ..Pipe::default() },
            ],
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
        if let Err(e) = helper("kairos-process-reaper").spawn(move || reap(&shared)) {
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

    /// Waits until the child is reaped and its output closed, or `timeout`; then kills
    /// it if it still runs, waits until reaped, and returns the outcome.
    pub(super) async fn run(self, timeout: Duration) -> Result<ProcessOutput, ProcessError> {
        let finished = crate::timeout(timeout, self.until(State::finished)).await.is_ok();
        let end = if finished {
            ProcessEnd::Exited
        } else {
            let mut st = lock(&self.shared.state);
            if st.reaped() {
                ProcessEnd::OutputHeldAtTimeout
            } else {
                if let Err(e) = st.kill_unreaped() {
                    return Err(ProcessError::io(&self.program, "kill", e));
                }
                ProcessEnd::KilledAtTimeout
            }
        };
        if !finished {
            self.until(State::reaped).await;
            let _ = crate::timeout(DRAIN_GRACE, self.until(State::finished)).await;
        }
        self.finish(end)
    }

    /// The result, once reaped (output as read so far).
    fn finish(&self, end: ProcessEnd) -> Result<ProcessOutput, ProcessError> {
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
        let captures = [std::mem::take(&mut st.pipes[0].capture), std::mem::take(&mut st.pipes[1].capture)];
        Ok(ProcessOutput::new(status, captures, end, elapsed))
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
pub(super) struct Until<'a> {
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

/// The reaper thread: polls for the child's exit, reaping it under the lock, and
/// sleeps without the lock between polls.
fn reap(shared: &Shared) {
    let mut pause = Duration::from_micros(100);
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

/// A reader thread: appends pipe `i` to the shared buffer until end of file.
fn read_pipe(shared: &Shared, i: usize, mut pipe: Box<dyn Read + Send>) {
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => break shared.update(|st| st.pipes[i].done = true),
            Ok(n) => lock(&shared.state).pipes[i].capture.push(&buf[..n]),
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
