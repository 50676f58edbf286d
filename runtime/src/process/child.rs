//! One running child and its helper threads: the reaper and the pipe readers (see the
//! parent module's steps 3-5 and its rules for killing without the pid-reuse race).

use super::{lock, ProcessError, ProcessOutput};
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The longest sleep between two `try_wait` polls of the reaper when it cannot block
/// (not Linux, or `waitid` failed).
pub(crate) const MAX_POLL: Duration = Duration::from_millis(10);

/// Stack size of the helper threads (they hold an 8 KiB buffer at most).
const HELPER_STACK: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Pipe {
    buf: Vec<u8>,
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
pub(super) struct Running {
    shared: Arc<Shared>,
    pub(super) program: String,
    started: Instant,
}

impl Running {
    /// Starts the child and its helper threads.
    pub(super) fn start(command: &mut Command, program: String) -> Result<Running, ProcessError> {
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
    pub(super) fn until(&self, cond: fn(&State) -> bool) -> Until<'_> {
        Until { shared: &self.shared, cond }
    }

    /// Kills the child unless it was reaped already (then there is nothing to kill).
    pub(super) fn kill(&self) -> io::Result<()> {
        let mut st = lock(&self.shared.state);
        if st.reaped() {
            return Ok(());
        }
        st.kill_unreaped()
    }

    /// The result, once reaped (output as read so far).
    pub(super) fn finish(&self, timed_out: bool) -> Result<ProcessOutput, ProcessError> {
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
