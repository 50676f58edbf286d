//! The process driver (Linux): one thread for every child of every runtime in the
//! program, which reads all their output pipes and sees them exit.
//!
//! ## Protocol
//!
//! - The children live in one registry (a `static` mutex), each under a token. An entry
//!   owns its child's non-blocking pipe read ends and, if the kernel gives one, a pidfd
//!   (`pidfd_open`, Linux 5.3): it becomes readable when the child exits.
//! - The driver thread loops: under the lock, it lists the open fds (a wake-up eventfd,
//!   each entry's pipes, each pidfd of a child not yet seen to exit) with their tokens;
//!   it polls them without the lock; then under the lock it serves each ready fd *only
//!   if its token is still registered*. An fd is closed only by removing its entry (or,
//!   at end of file, by the driver), under the lock, so the driver never reads from an
//!   fd that was closed and reused meanwhile; a stale number in a poll set is harmless
//!   (poll consumes nothing) and the removal's wake-up rebuilds the set.
//! - Serving a pipe reads it until it would block (at most [`READ_BUDGET`] per round,
//!   so one noisy child cannot starve the others) into the entry's [`Capture`], which
//!   keeps the head up to the cap and counts the rest: pipes are drained past the cap.
//!   At end of file (or an error, kept for the owner) the read end is closed.
//! - Exit is seen from the pidfd, or, without one, by `waitid(P_PID, pid, WEXITED |
//!   WNOHANG | WNOWAIT)` polls every [`EXIT_POLL`] at most. Neither reaps: the child
//!   stays a zombie, owned by the task's `Running`, which reaps it (see the parent
//!   module). The `waitid` call runs under the lock on a registered entry, and the owner
//!   removes the entry before it reaps, so the pid is still our unreaped child.
//! - Every change wakes the waker the owner left in the entry (checked and registered
//!   under the same lock: no lost wake-up). Wakers run outside the lock, each under
//!   `catch_unwind`: a waker is the owner runtime's code, and one that panics (a task
//!   woken as its runtime goes away) must not stop the driver of every other child. Any
//!   other panic restarts the loop.
//! - An *orphan* entry holds a `Child` whose owner could not kill it (see
//!   [`Watch::orphan`]): the driver reaps it when it exits and removes the entry.
//! - The thread is started by the first registration and exits after [`LINGER`] with no
//!   entry; `running` (under the lock) says whether it runs, so a registration either
//!   finds it running (and wakes it) or starts a new one.

use super::capture::Capture;
use super::lock;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The longest wait between two `waitid` polls of a child without a pidfd.
pub(super) const EXIT_POLL: Duration = Duration::from_millis(10);

/// How long the driver thread stays with no child before it exits.
const LINGER: Duration = Duration::from_secs(1);

/// Bytes read from one pipe per round before the driver serves the others.
const READ_BUDGET: usize = 256 * 1024;

/// Stack of the driver thread (it holds a 64 KiB buffer on the heap).
const STACK: usize = 128 * 1024;

/// One output stream of a child.
#[derive(Debug)]
struct Stream {
    /// The pipe's read end; `None` once at end of file, failed, or closed by the owner.
    pipe: Option<File>,
    capture: Capture,
    error: Option<io::Error>,
}

#[derive(Debug)]
struct Entry {
    pid: libc::pid_t,
    pidfd: Option<File>,
    exited_at: Option<Instant>,
    streams: [Stream; 2],
    waker: Option<Waker>,
    /// A child the driver must reap once it exits (its owner is gone).
    orphan: Option<Child>,
}

impl Entry {
    fn exited(&self) -> bool {
        self.exited_at.is_some()
    }

    fn output_closed(&self) -> bool {
        self.streams.iter().all(|s| s.pipe.is_none())
    }
}

#[derive(Debug)]
struct Registry {
    entries: BTreeMap<u64, Entry>,
    next_token: u64,
    /// The driver's wake-up eventfd, made once and kept.
    wake: Option<File>,
    /// A driver thread runs.
    running: bool,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { entries: BTreeMap::new(), next_token: 0, wake: None, running: false });

/// What the owner of a child waits for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Until {
    /// The child has exited (still unreaped).
    Exited,
    /// Both output pipes are closed (end of file or error).
    OutputClosed,
    /// Both.
    Finished,
}

/// What the driver collected for a child, handed over when its watch is closed.
#[derive(Debug)]
pub(super) struct Collected {
    pub(super) exited_at: Option<Instant>,
    /// stdout, stderr.
    pub(super) captures: [Capture; 2],
    /// The first read error, if any.
    pub(super) error: Option<io::Error>,
}

/// A child's registration with the driver. Dropping it removes the entry and closes
/// the pipes.
#[derive(Debug)]
pub(super) struct Watch {
    token: u64,
}

impl Watch {
    /// Registers child `pid` with its pipes (made non-blocking here), keeping at most
    /// `cap` bytes per stream, and makes sure the driver thread runs.
    pub(super) fn register(pid: u32, pipes: [Option<OwnedFd>; 2], cap: usize) -> io::Result<Watch> {
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        let [out, err] = pipes;
        let stream = |fd: Option<OwnedFd>| -> io::Result<Stream> {
            let pipe = fd.map(|fd| set_nonblocking(&fd).map(|()| File::from(fd))).transpose()?;
            Ok(Stream { pipe, capture: Capture::new(cap), error: None })
        };
        let entry = Entry {
            pid,
            pidfd: exit_fd(pid),
            exited_at: None,
            streams: [stream(out)?, stream(err)?],
            waker: None,
            orphan: None,
        };
        let mut reg = lock(&REGISTRY);
        if reg.wake.is_none() {
            reg.wake = Some(eventfd()?);
        }
        let token = reg.next_token;
        reg.next_token += 1;
        reg.entries.insert(token, entry);
        if !reg.running {
            let spawned = std::thread::Builder::new()
                .name("kairos-process-driver".into())
                .stack_size(STACK)
                .spawn(drive);
            if let Err(e) = spawned {
                reg.entries.remove(&token);
                return Err(e);
            }
            reg.running = true;
        }
        wake(&reg);
        Ok(Watch { token })
    }

    /// Ready once `until` holds for this child; otherwise leaves `cx`'s waker for the
    /// driver.
    pub(super) fn poll_until(&self, until: Until, cx: &mut Context<'_>) -> Poll<()> {
        let mut reg = lock(&REGISTRY);
        let Some(e) = reg.entries.get_mut(&self.token) else { return Poll::Ready(()) };
        let holds = match until {
            Until::Exited => e.exited(),
            Until::OutputClosed => e.output_closed(),
            Until::Finished => e.exited() && e.output_closed(),
        };
        if holds {
            return Poll::Ready(());
        }
        match &mut e.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Whether the child has exited, asking the kernel now rather than waiting for the
    /// driver to notice.
    pub(super) fn exited_now(&self) -> io::Result<bool> {
        let mut reg = lock(&REGISTRY);
        let Some(e) = reg.entries.get_mut(&self.token) else { return Ok(true) };
        if !e.exited() && has_exited(e.pid)? {
            e.exited_at = Some(Instant::now());
        }
        Ok(e.exited())
    }

    /// Removes the entry, closing the pipes, and returns what was collected.
    pub(super) fn close(self) -> Collected {
        let entry = {
            let mut reg = lock(&REGISTRY);
            let entry = reg.entries.remove(&self.token);
            wake(&reg);
            entry
        };
        std::mem::forget(self);
        let Some(mut e) = entry else {
            return Collected { exited_at: None, captures: Default::default(), error: None };
        };
        let [out, err] = &mut e.streams;
        let error = out.error.take().or_else(|| err.error.take());
        let captures = [std::mem::take(&mut out.capture), std::mem::take(&mut err.capture)];
        Collected { exited_at: e.exited_at, captures, error }
    }

    /// Hands `child` (this watch's child, which its owner could not kill) to the driver,
    /// which reaps it once it exits; the pipes are closed now.
    pub(super) fn orphan(self, child: Child) {
        let mut reg = lock(&REGISTRY);
        if let Some(e) = reg.entries.get_mut(&self.token) {
            for s in &mut e.streams {
                s.pipe = None;
            }
            e.orphan = Some(child);
            wake(&reg);
        }
        drop(reg);
        std::mem::forget(self);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut reg = lock(&REGISTRY);
        if reg.entries.remove(&self.token).is_some() {
            wake(&reg);
        }
    }
}

/// Wakes the driver thread (to rebuild its poll set).
fn wake(reg: &Registry) {
    if let Some(mut fd) = reg.wake.as_ref() {
        // An eventfd write fails only if the counter would overflow: it is then
        // readable anyway.
        let _ = fd.write(&1u64.to_ne_bytes());
    }
}

/// Which fd of an entry a poll slot is.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Stream(usize),
    Exit,
}

/// The driver thread: runs [`serve`] until it returns (idle), starting it again if it
/// panics, so one failure cannot leave every child unserved (the registry's lock
/// recovers from poisoning).
fn drive() {
    while std::panic::catch_unwind(serve).is_err() {}
}

/// The driver's loop (see the module docs); returns once idle for [`LINGER`].
fn serve() {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut slots: Vec<(u64, Slot)> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut idle_timeouts = 0;
    loop {
        let (timeout, poll_exits) = {
            let mut reg = lock(&REGISTRY);
            if reg.entries.is_empty() && idle_timeouts > 0 {
                reg.running = false;
                return;
            }
            fds.clear();
            slots.clear();
            let wake_fd = reg.wake.as_ref().map_or(-1, AsRawFd::as_raw_fd);
            fds.push(libc::pollfd { fd: wake_fd, events: libc::POLLIN, revents: 0 });
            let mut poll_exits = false;
            for (&token, e) in &reg.entries {
                if !e.exited() {
                    match &e.pidfd {
                        Some(f) => {
                            fds.push(libc::pollfd { fd: f.as_raw_fd(), events: libc::POLLIN, revents: 0 });
                            slots.push((token, Slot::Exit));
                        }
                        None => poll_exits = true,
                    }
                }
                for (i, s) in e.streams.iter().enumerate() {
                    if let Some(p) = &s.pipe {
                        fds.push(libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 });
                        slots.push((token, Slot::Stream(i)));
                    }
                }
            }
            let timeout = if poll_exits {
                EXIT_POLL
            } else if reg.entries.is_empty() {
                LINGER
            } else {
                Duration::MAX
            };
            (timeout, poll_exits)
        };
        let n = poll(&mut fds, timeout);
        idle_timeouts = if n == 0 && slots.is_empty() { idle_timeouts + 1 } else { 0 };
        let mut wakers = Vec::new();
        {
            let mut reg = lock(&REGISTRY);
            if fds[0].revents != 0 {
                if let Some(mut fd) = reg.wake.as_ref() {
                    let _ = fd.read(&mut [0u8; 8]);
                }
            }
            for (pfd, &(token, slot)) in fds[1..].iter().zip(&slots) {
                if pfd.revents == 0 {
                    continue;
                }
                // Only a registered entry's fd is served: a removed one may have been
                // closed and its number reused.
                let Some(e) = reg.entries.get_mut(&token) else { continue };
                match slot {
                    Slot::Stream(i) => drain(&mut e.streams[i], &mut buf),
                    Slot::Exit => e.exited_at = e.exited_at.or_else(|| Some(Instant::now())),
                }
                wakers.extend(e.waker.take());
            }
            if poll_exits {
                for e in reg.entries.values_mut().filter(|e| e.pidfd.is_none() && !e.exited()) {
                    // An error (ECHILD: someone else reaped it) also ends the wait; the
                    // owner's reap then reports it.
                    if has_exited(e.pid).unwrap_or(true) {
                        e.exited_at = Some(Instant::now());
                        wakers.extend(e.waker.take());
                    }
                }
            }
            reg.entries.retain(|_, e| match (&mut e.orphan, e.exited_at) {
                (Some(child), Some(_)) => {
                    // Exited: reaping returns at once.
                    let _ = child.wait();
                    false
                }
                _ => true,
            });
        }
        for w in wakers {
            // A waker is foreign code (its runtime's): if it panics (its runtime is gone,
            // say), the other children are still served.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()));
        }
    }
}

/// Reads `s`'s pipe until it would block, up to [`READ_BUDGET`]; closes it at end of
/// file or on an error.
fn drain(s: &mut Stream, buf: &mut [u8]) {
    let Some(pipe) = s.pipe.as_mut() else { return };
    let mut budget = READ_BUDGET;
    while budget > 0 {
        match pipe.read(buf) {
            Ok(0) => {
                s.pipe = None;
                return;
            }
            Ok(n) => {
                s.capture.push(&buf[..n]);
                budget = budget.saturating_sub(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                s.error = Some(e);
                s.pipe = None;
                return;
            }
        }
    }
}

/// `poll(2)` on `fds` for at most `timeout` (`Duration::MAX`: no limit); the number of
/// ready fds (0 on a timeout or an interruption).
fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> usize {
    let ms =
        if timeout == Duration::MAX { -1 } else { i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX) };
    let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, writable array of `nfds` `pollfd`s for the whole call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), nfds, ms) };
    // Negative only on EINTR (or ENOMEM): the loop polls again.
    usize::try_from(r).unwrap_or(0)
}

/// Makes `fd` non-blocking.
fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: `fcntl` with `F_GETFL` takes no pointer; `fd` is open for the call.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above, `F_SETFL` takes an integer argument.
    if flags < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A non-blocking, close-on-exec eventfd.
fn eventfd() -> io::Result<File> {
    // SAFETY: `eventfd` takes no pointer.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by `eventfd`, is open, and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// A pidfd for `pid`, or `None` (old kernel, seccomp filter: exits are then polled).
fn exit_fd(pid: libc::pid_t) -> Option<File> {
    #[cfg(test)]
    if tests::NO_PIDFD.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    pidfd_open(pid).ok()
}

/// A pidfd (close-on-exec) for `pid`, an unreaped child of ours (so the pid names it).
fn pidfd_open(pid: libc::pid_t) -> io::Result<File> {
    // SAFETY: `pidfd_open(pid, 0)` takes no pointer; the caller's `pid` is its unreaped
    // child, so it cannot name a recycled process.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: `fd` was just returned by `pidfd_open`, is open, and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether child `pid` has exited, without reaping it. The caller guarantees `pid` is
/// its unreaped child (it holds the registry lock on a registered entry, or owns it).
pub(super) fn has_exited(pid: libc::pid_t) -> io::Result<bool> {
    let id = libc::id_t::try_from(pid).map_err(io::Error::other)?;
    loop {
        // SAFETY: `siginfo_t` is a plain C struct for which all-zero bytes are valid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable `siginfo_t` for the call. `WNOWAIT` leaves
        // the child waitable: its owner still reaps it.
        let r = unsafe {
            libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT)
        };
        if r == 0 {
            // SAFETY: `waitid` succeeded: `info` is zeroed (no child ready) or a
            // `SIGCHLD` record, whose `si_pid` field is the one read.
            return Ok(unsafe { info.si_pid() } != 0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::{Until, Watch};
    use crate::{Priority, ProcessEnd, Runtime};
    use std::os::fd::OwnedFd;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    use std::time::Duration;

    /// Makes the driver watch exits by `waitid` polling, as on a kernel without
    /// `pidfd_open` (the rest of this test binary then does too, which it tolerates).
    pub(crate) static NO_PIDFD: AtomicBool = AtomicBool::new(false);

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn exits_are_seen_without_a_pidfd() {
        NO_PIDFD.store(true, Ordering::Relaxed);
        let rt = Runtime::builder().workers(1).max_processes(2).build().unwrap();
        let run = |cmd, timeout| rt.spawn_process(Priority::NORMAL, cmd, timeout).join().unwrap().unwrap();
        let out = run(sh("printf out; exit 3"), Duration::from_secs(20));
        assert_eq!((out.code(), &out.stdout[..], out.end), (Some(3), &b"out"[..], ProcessEnd::Exited));
        let out = run(sh("exec sleep 30"), Duration::from_millis(50));
        assert_eq!(out.end, ProcessEnd::KilledAtTimeout);
        // Long enough for the shell to exit first, even on a loaded machine.
        let out = run(sh("(sleep 30) & echo parent-exits"), Duration::from_secs(1));
        assert_eq!((out.code(), out.end), (Some(0), ProcessEnd::OutputHeldAtTimeout));
        assert!(rt.shutdown().is_balanced());
    }

    /// Starts `script` and registers it with the driver.
    fn watched(script: &str) -> (Child, Watch) {
        let mut child =
            sh(script).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).spawn().unwrap();
        let pipes = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
        let watch = Watch::register(child.id(), pipes, 1024).unwrap();
        (child, watch)
    }

    struct Panics;
    impl Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("a waker whose runtime is gone (expected by this test)");
        }
    }

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    #[test]
    fn a_panicking_waker_does_not_stop_the_driver() {
        let dir = std::env::temp_dir().join(format!("kairos-driver-panic-{}", std::process::id()));
        let go = dir.join("go");
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(&go);
        // Runs until `go` exists, so the panicking waker is registered before it exits.
        let (mut first, first_watch) =
            watched(&format!("while [ ! -e '{}' ]; do sleep 0.01; done", go.display()));
        let panics = Waker::from(Arc::new(Panics));
        assert!(first_watch.poll_until(Until::Finished, &mut Context::from_waker(&panics)).is_pending());
        std::fs::write(&go, b"").unwrap();
        // The driver wakes (and survives) the panicking waker, then serves this child.
        let (mut second, second_watch) = watched("sleep 0.05; printf second");
        let unpark = Waker::from(Arc::new(Unpark(std::thread::current())));
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        while second_watch.poll_until(Until::Finished, &mut Context::from_waker(&unpark)) == Poll::Pending {
            assert!(std::time::Instant::now() < give_up, "the driver stopped serving children");
            std::thread::park_timeout(Duration::from_secs(1));
        }
        let collected = second_watch.close();
        let [mut out, _] = collected.captures;
        assert_eq!(out.take(), (b"second".to_vec(), 0));
        assert!(second.wait().unwrap().success());
        drop(first_watch);
        assert!(first.wait().unwrap().success());
        let _ = std::fs::remove_dir_all(dir);
    }
}
