//! The public face of a runtime: [`Runtime`] (owns the worker threads; spawns onto them
//! like its [`Handle`], and shuts them down), [`Builder`] (checks the settings, starts the
//! threads) and [`Handle`] (spawns from anywhere), plus the runtime's own errors.
//!
//! This folder holds no scheduling logic: every spawn is handed to `sched::spawn`, the
//! shutdown to `sched::shutdown` (which numbers its steps), and readings come from
//! `observe`. Rules: a `Handle` never keeps the runtime's threads alive (they belong to
//! the `Runtime`, which shuts them down when dropped); a refused spawn always gives a
//! result (a handle whose result is a shutdown error, or the body back in a
//! `SpawnError`), never a panic.

use crate::observe::{MetricsSnapshot, PendingSnapshot, ShutdownReport};
use crate::runtime::error::SpawnError;
mod blocking;
mod builder;
pub(crate) mod error;
mod handle;

pub use builder::Builder;
pub use handle::Handle;

use kairos_rt_core::task::JoinHandle;
use kairos_rt_core::Priority;
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// A kairos runtime: worker threads running closures and futures in priority order,
/// now or at a given time.
///
/// Create one with [`Runtime::new`] or [`Runtime::builder`]. Dropping it shuts it down
/// like [`shutdown`](Runtime::shutdown) and discards the report (also from inside one of
/// its own tasks: see [`shutdown`](Runtime::shutdown) for what each ending does).
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(2).build()?;
/// let answer = rt.spawn(Priority::NORMAL, || 6 * 7);
/// let later = rt.spawn_after(Duration::from_millis(5), Priority::HIGH, || "later");
/// let fut = rt.spawn_future(Priority::LOW, async {
///     kairos_rt::sleep(Duration::from_millis(1)).await;
///     7
/// });
/// assert_eq!(answer.join().unwrap(), 42);
/// assert_eq!(later.join().unwrap(), "later");
/// assert_eq!(rt.block_on(fut).unwrap(), 7);
/// let report = rt.shutdown();
/// assert!(report.is_balanced());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct Runtime {
    pub(crate) handle: Handle,
    pub(crate) threads: Vec<std::thread::JoinHandle<()>>,
    shut_down: bool,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.handle.shared.num_workers())
            .field("shut_down", &self.shut_down)
            .finish()
    }
}

impl Runtime {
    /// A runtime with the default settings (one worker per CPU).
    ///
    /// # Errors
    ///
    /// If a worker thread cannot be spawned.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::new()?;
    /// assert!(rt.workers() >= 1);
    /// assert_eq!(rt.spawn(Priority::NORMAL, || "ran").join().unwrap(), "ran");
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn new() -> Result<Runtime, crate::BuildError> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// let rt = Runtime::builder().workers(2).build()?;
    /// assert_eq!(rt.workers(), 2);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_parts(handle: Handle) -> Runtime {
        Runtime { handle, threads: Vec::new(), shut_down: false }
    }

    /// A handle for spawning from other threads (`Clone + Send + Sync`).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// let from_thread = std::thread::spawn(move || handle.spawn(Priority::NORMAL, || 7).join().unwrap());
    /// assert_eq!(from_thread.join().unwrap(), 7);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// See [`Handle::spawn`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.spawn(kairos_rt::Priority::NORMAL, || 2 + 2).join().unwrap(), 4);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn<F, T>(&self, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(priority, f)
    }

    /// See [`Handle::try_spawn`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.try_spawn(kairos_rt::Priority::NORMAL, || 2 + 2).unwrap();
    /// assert_eq!(h.join().unwrap(), 4);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn try_spawn<F, T>(&self, priority: Priority, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.try_spawn(priority, f)
    }

    /// See [`Handle::spawn_after`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_after(std::time::Duration::from_millis(1), kairos_rt::Priority::NORMAL, || "later");
    /// assert_eq!(h.join().unwrap(), "later");
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_after<F, T>(&self, delay: Duration, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_after(delay, priority, f)
    }

    /// See [`Handle::spawn_at`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let at = std::time::Instant::now() + std::time::Duration::from_millis(1);
    /// assert!(rt.spawn_at(at, kairos_rt::Priority::NORMAL, move || std::time::Instant::now() >= at).join().unwrap());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_at<F, T>(&self, when: Instant, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_at(when, priority, f)
    }

    /// See [`Handle::spawn_future`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_future(kairos_rt::Priority::NORMAL, async { 40 + 2 });
    /// assert_eq!(h.join().unwrap(), 42);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_future<Fut>(&self, priority: Priority, fut: Fut) -> JoinHandle<Fut::Output>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.handle.spawn_future(priority, fut)
    }

    /// See [`Handle::block_on`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn(kairos_rt::Priority::NORMAL, || 21);
    /// assert_eq!(rt.block_on(async { h.await.unwrap() * 2 }), 42);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.handle.block_on(fut)
    }

    /// Number of worker threads.
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(2).build()?;
    /// assert_eq!(rt.workers(), 2);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn workers(&self) -> usize {
        self.handle.workers()
    }

    /// Stops intake, lets every queued ready closure run (whatever policy wraps it: a
    /// retried closure runs its first attempt, and is cancelled if it then waits for a
    /// backoff; see [`Task`](crate::Task)), cancels pending timed tasks
    /// and unfinished futures (their handles report
    /// [`is_shutdown`](crate::JoinError::is_shutdown)), joins the workers, and reports
    /// how every submitted task ended.
    ///
    /// The blocking pool ([`spawn_blocking`](Handle::spawn_blocking)) is stopped once the
    /// workers are joined: its queued jobs run, and shutdown waits for every blocking
    /// thread to finish its job and exit. A blocking call cannot be interrupted.
    ///
    /// A task or blocking call that never returns keeps this waiting forever; use
    /// [`shutdown_timeout`](Self::shutdown_timeout) to bound the wait.
    ///
    /// # How each ending resolves every handle and frees the runtime
    ///
    /// - **`shutdown()`, or dropping the `Runtime`** (which does the same and discards
    ///   the report), from any thread that is not one of its workers or blocking
    ///   threads: waits for every worker. Every handle has resolved when it returns, and
    ///   the report balances with nothing `unfinished`. From inside a blocking job, the
    ///   same except that the caller's own job is `unfinished` and its thread is counted
    ///   in `unjoined_blocking_threads`.
    /// - **[`shutdown_timeout`](Self::shutdown_timeout) that gives up**: see there; the
    ///   workers it could not wait for finish in the background.
    /// - **From inside one of its own tasks or hooks** (the `Runtime` moved into a task and
    ///   shut down or dropped there, or in [`Builder::on_thread_start`]): this works, it
    ///   is not refused. The caller's worker cannot be joined (it is running the
    ///   caller), so the shutdown waits for every *other* worker (or until the timeout),
    ///   cancels every future at once with [`is_shutdown`](crate::JoinError::is_shutdown)
    ///   (one being polled right then ends when its poll returns), and reports
    ///   `unjoined_workers: 1`, with what the caller's worker still holds (the calling
    ///   task itself, at least) as `unfinished` and `timed_out: false` (no timeout was
    ///   asked for). When the calling task returns, its worker runs the ready closures it
    ///   still holds, drops its timers and exits. Refusing (a panic) was the other
    ///   choice; it would turn a drop inside a task, a natural way to end a program,
    ///   into a panic inside `Drop` and leak the runtime.
    ///
    /// In every case the last worker to exit (or this call, if it comes after them)
    /// empties the registry of live futures and the queues, so the runtime's shared state
    /// is freed once the last [`Handle`], `JoinHandle` of a future, or waker of one of its
    /// futures is dropped, and its slot counts no more towards
    /// [`MAX_RUNTIMES`](crate::MAX_RUNTIMES). A task that never returns keeps its worker,
    /// and so the state, alive.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let done = rt.spawn(Priority::NORMAL, || ());
    /// done.join().unwrap();
    /// let later = rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
    /// let report = rt.shutdown();
    /// assert_eq!((report.submitted, report.completed, report.timers_dropped), (2, 1, 1));
    /// assert!(report.is_balanced(), "every task is accounted for: {report:?}");
    /// assert!(later.join().unwrap_err().is_shutdown());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_inner(None)
    }

    /// Like [`shutdown`](Self::shutdown), but stops waiting for the workers (and the
    /// blocking pool) after `timeout`. If it gives up (`timed_out` is set,
    /// `unjoined_workers` says on how many workers), it first cancels every future that
    /// is not being polled, so their handles resolve at once
    /// ([`is_shutdown`](crate::JoinError::is_shutdown)); a future being polled by a stuck
    /// worker ends when that poll returns. Closures still queued
    /// or running are counted as `unfinished`: the workers finish them in the background
    /// (running queued ready closures, dropping timers, as `shutdown` does) and exit,
    /// and the last of them frees what the runtime still holds. A blocking call still
    /// running is counted likewise (`unjoined_blocking_threads`), and its thread runs
    /// the blocking jobs still queued before it exits; those jobs, running and queued,
    /// are counted one by one in `blocking_unfinished`.
    /// `Duration::MAX` waits like [`shutdown`](Self::shutdown).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let (started, has_started) = std::sync::mpsc::channel();
    /// let (release, released) = std::sync::mpsc::channel::<()>();
    /// rt.spawn(Priority::NORMAL, move || {
    ///     started.send(()).unwrap();
    ///     let _ = released.recv(); // runs until released
    /// });
    /// has_started.recv().unwrap();
    /// let report = rt.shutdown_timeout(Duration::from_millis(1));
    /// assert!(report.timed_out && report.unfinished == 1, "{report:?}");
    /// release.send(()).unwrap(); // the worker finishes it in the background
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ShutdownReport {
        self.shutdown_inner(Some(timeout))
    }

    fn shutdown_inner(&mut self, timeout: Option<Duration>) -> ShutdownReport {
        let start = Instant::now();
        self.shut_down = true;
        let threads = std::mem::take(&mut self.threads);
        let waited = self.handle.shared.shut_down(threads, timeout, start);
        let mut report = ShutdownReport::from_totals(
            &waited.totals,
            waited.timed_out,
            waited.unjoined_workers,
            waited.unjoined_blocking_threads,
            start.elapsed(),
        );
        report.blocking_unfinished = waited.blocking_left;
        report.schedules = self.handle.shared.schedules_snapshot();
        report
    }
}

/// Observing (see `observe`).
impl Runtime {
    /// See [`Handle::pending`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_after(std::time::Duration::from_secs(60), kairos_rt::Priority::LOW, || ());
    /// # while rt.pending().timed() == 0 { std::thread::yield_now(); } // taken into a wheel
    /// assert_eq!(rt.pending().timed(), 1);
    /// # h.cancel();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn pending(&self) -> PendingSnapshot {
        self.handle.pending()
    }

    /// See [`Handle::metrics`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// rt.spawn(kairos_rt::Priority::NORMAL, || ()).join().unwrap();
    /// assert_eq!(rt.metrics().submitted, 1);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn metrics(&self) -> MetricsSnapshot {
        self.handle.metrics()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shut_down {
            let _ = self.shutdown_inner(None);
        }
    }
}
