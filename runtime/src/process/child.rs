//! One running child on Linux, from its task's side: start it in its own process
//! group, wait for the driver to see it finish (or the timeout), kill its group, reap
//! it (see the parent module's protocol; the [`driver`](super::driver) reads and
//! watches).

use super::driver::{Until, Watch};
use super::{ProcessEnd, ProcessError, ProcessOutput, DRAIN_GRACE};
use std::future::{poll_fn, Future};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::task::Poll;
use std::time::{Duration, Instant};

/// A started child. It is reaped only by [`run`](Self::run) or the drop, after its
/// process group was signalled: until then the unreaped child (a zombie once it
/// exited) holds its pid, which is its group's id, so no signal reaches a recycled id.
#[derive(Debug)]
pub(super) struct Running {
    /// `None` once reaped (or handed to the driver to reap).
    child: Option<Child>,
    /// `None` once closed (or if registration failed).
    watch: Option<Watch>,
    program: String,
    started: Instant,
}

impl Running {
    /// Starts `command` as the leader of a new process group, with stdin null and
    /// stdout/stderr piped to the driver, which keeps at most `cap` bytes of each.
    pub(super) fn start(command: &mut Command, program: String, cap: usize) -> Result<Running, ProcessError> {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.process_group(0);
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| ProcessError::start(&program, e))?;
        let pipes = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
        let pid = child.id();
        let mut running = Running { child: Some(child), watch: None, program, started };
        match Watch::register(pid, pipes, cap) {
            Ok(watch) => running.watch = Some(watch),
            // The drop kills and reaps the child.
            Err(e) => return Err(ProcessError::io(&running.program, "start the process driver for", e)),
        }
        Ok(running)
    }

    fn until(&self, until: Until) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| match &self.watch {
            Some(watch) => watch.poll_until(until, cx),
            None => Poll::Ready(()),
        })
    }

    /// Waits until the child has exited and its output is closed, or `timeout`; kills
    /// its group (a sweep, if it finished), reaps it, and returns the outcome.
    pub(super) async fn run(mut self, timeout: Duration) -> Result<ProcessOutput, ProcessError> {
        let finished = crate::timeout(timeout, self.until(Until::Finished)).await.is_ok();
        let end = match (finished, self.watch.as_ref().map(Watch::exited_now)) {
            (true, _) => ProcessEnd::Exited,
            (false, Some(Ok(true)) | None) => ProcessEnd::OutputHeldAtTimeout,
            (false, Some(Ok(false))) => ProcessEnd::KilledAtTimeout,
            (false, Some(Err(e))) => return Err(ProcessError::io(&self.program, "wait for", e)),
        };
        if let Some(child) = &self.child {
            kill_group(child);
        }
        if end == ProcessEnd::KilledAtTimeout {
            // It may have left its group.
            if let Some(Err(e)) = self.child.as_mut().map(Child::kill) {
                return Err(ProcessError::io(&self.program, "kill", e));
            }
        }
        self.until(Until::Exited).await;
        if !finished {
            // The kill closed the pipes of all the group; what left it may hold them.
            let _ = crate::timeout(DRAIN_GRACE, self.until(Until::OutputClosed)).await;
        }
        let collected = self.watch.take().map(Watch::close);
        let reaped = self.child.take().map(|mut c| c.wait());
        let (Some(collected), Some(reaped)) = (collected, reaped) else {
            unreachable!("`run` owns the child and its watch until here")
        };
        let status = reaped.map_err(|e| ProcessError::io(&self.program, "wait for", e))?;
        if let Some(e) = collected.error {
            return Err(ProcessError::io(&self.program, "read the output of", e));
        }
        let elapsed = collected.exited_at.map_or_else(|| self.started.elapsed(), |t| t - self.started);
        Ok(ProcessOutput::new(status, collected.captures, end, elapsed))
    }
}

/// Sends `SIGKILL` to the process group of `child`, which the caller has not reaped.
fn kill_group(child: &Child) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else { return };
    // SAFETY: `kill` takes no pointer. `-pgid` names the group the child created at spawn
    // (`process_group(0)`), whose id is the child's pid: the child is not reaped (the
    // caller holds it unreaped), so that id is still held by it and cannot name another
    // group. ESRCH (the child left the group, now empty) and EPERM (nothing in it may be
    // signalled) leave nothing to do here.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

impl Drop for Running {
    /// The task was dropped mid-run (cancel, run timeout, shutdown): kill the group and
    /// the child, close the pipes, and reap the child before returning (`SIGKILL` makes
    /// that prompt). A child that cannot be killed is handed to the driver, which reaps
    /// it when it exits.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        kill_group(&child);
        let killed = child.kill();
        match (killed, self.watch.take()) {
            (Err(_), Some(watch)) => watch.orphan(child),
            // Not killable and not watched (the driver could not start): left unreaped.
            (Err(_), None) => {}
            (Ok(()), watch) => {
                drop(watch);
                let _ = child.wait();
            }
        }
    }
}
