//! [`Runtime`] (owns the workers) and [`Handle`] (spawns onto them from anywhere).
//!
//! ## Submission paths
//!
//! - From one of this runtime's workers: the task goes onto that worker's own queue (or
//!   its own wheel, if timed): no shared atomics beyond the task's own.
//! - From any other thread: through the intake counter (see `shared`), then onto the
//!   per-level injectors with a wake-up if a worker sleeps, or, if timed, into a random
//!   worker's timer inbox (a sleeping owner is woken: see `Shared::push_timer_remote`).
//!
//! With `Builder::max_pending`, admission comes first: [`Admit::Try`] refuses at the
//! limit, [`Admit::Wait`] blocks an outside caller until a task starts (never while it
//! holds the intake gate, which shutdown drains) and admits a worker's spawn at once.

use crate::error::SpawnError;
use crate::observe::ShutdownReport;
use crate::sched::context;
use crate::sched::shared::{Sched, Shared};
use crate::sched::worker::WorkerCtx;
use crate::stats::Count;
use crate::Builder;
use event_listener::Listener;
use kairos_rt_core::admission::Admission;
use kairos_rt_core::park::{ParkWaker, Parker};
use kairos_rt_core::sync::atomic::Ordering::{Relaxed, SeqCst};
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{
    allocate, carries_scheduler, Body, Closure, FutureBody, JoinHandle, TaskId, TaskOptions,
};
use kairos_rt_core::timer::cancel_for_shutdown;
use kairos_rt_core::Priority;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A kairos runtime: worker threads running closures and futures in priority order,
/// now or at a given time.
///
/// Create one with [`Runtime::new`] or [`Runtime::builder`]. Dropping it shuts it down
/// like [`shutdown`](Runtime::shutdown) and discards the report.
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

/// A cheap, cloneable reference to a [`Runtime`] for spawning from any thread.
///
/// A handle keeps working after its runtime shut down: every spawn is then refused
/// (`spawn*` return handles whose result is a shutdown error; `try_spawn` hands the
/// closure back).
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(2).build()?;
/// let handle = rt.handle();
/// let from_a_thread = std::thread::spawn(move || handle.spawn(Priority::HIGH, || 6 * 7).join());
/// assert_eq!(from_a_thread.join().unwrap().unwrap(), 42);
///
/// let handle = rt.handle();
/// drop(rt.shutdown());
/// assert!(handle.spawn(Priority::HIGH, || ()).join().unwrap_err().is_shutdown());
/// assert!(handle.try_spawn(Priority::HIGH, || ()).unwrap_err().is_shutdown());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.handle.shared.num_workers())
            .field("shut_down", &self.shut_down)
            .finish()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.num_workers())
            .field("closed", &self.shared.is_closed())
            .finish()
    }
}

pub(crate) enum Due {
    Now,
    At(u64),
}

/// What a spawn does when `max_pending` tasks already wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Refuse with `Full`.
    Try,
    /// Take no admission unit: the runtime's own timers (a sleep of a future that is
    /// already running), which must never wait for room nor take it from user tasks.
    Exempt,
    /// Block until there is room (outside the runtime); admit at once on a worker.
    Wait,
}

/// Whether this (non-worker) thread's next spawn is sampled for the submit-to-start
/// latency: 1 in `SAMPLE_EVERY`, by a per-thread counter.
fn next_sample_here() -> bool {
    thread_local! {
        static SPAWNS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    SPAWNS.with(crate::stats::latency::next_sample)
}

/// Why a submission was refused; the body comes back.
pub(crate) enum Refusal<B> {
    Shutdown(B),
    Full(B, usize),
}

impl<B> Refusal<B> {
    pub(crate) fn into_spawn_error<F>(self, f: impl FnOnce(B) -> F) -> SpawnError<F> {
        match self {
            Refusal::Shutdown(b) => SpawnError::shutdown(f(b)),
            Refusal::Full(b, limit) => SpawnError::full(f(b), limit),
        }
    }
}

impl Handle {
    /// When a task for `when` is due: `Now` for a tick that has already begun (so a
    /// past instant is ready work, run by any free worker and by shutdown's drain), else
    /// `At(tick)`.
    pub(crate) fn due_at(&self, when: Instant) -> Due {
        let tick = self.shared.clock.due_tick(when);
        if self.shared.clock.has_begun(tick) {
            Due::Now
        } else {
            Due::At(tick)
        }
    }

    /// When a task for `delay` from now is due: `Now` for zero, else `At(tick)`, a tick
    /// after the current one (due ticks round up, the current tick rounds down), so the
    /// clock is read once, not again to compare.
    pub(crate) fn due_after(&self, delay: Duration) -> Due {
        if delay.is_zero() {
            return Due::Now;
        }
        Due::At(self.shared.clock.due_after(delay))
    }

    pub(crate) fn refused<T>(&self) -> JoinHandle<T> {
        // One sequence for the whole process, so refused ids of two runtimes never meet.
        static REFUSED_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        JoinHandle::refused(TaskId::refused(REFUSED_SEQ.fetch_add(1, Relaxed)))
    }

    /// Submits `body`; hands it back if intake is closed, or if full and `admit` says so.
    pub(crate) fn submit<B: Body>(
        &self,
        body: B,
        priority: Priority,
        due: Due,
        admit: Admit,
    ) -> Result<JoinHandle<B::Output>, Refusal<B>> {
        context::with_worker(|w| {
            let local = w.filter(|w| Arc::ptr_eq(w.shared(), &self.shared));
            self.submit_from(local, body, priority, due, admit)
        })
    }

    /// Takes one admission unit (with `max_pending`); false if refused for `Try` at the
    /// limit, or if the runtime closed while an outside `Wait` was blocked.
    #[inline]
    fn admit(&self, local: bool, admit: Admit) -> bool {
        let Some(limit) = &self.shared.admission else { return true };
        match admit {
            Admit::Exempt => true,
            _ if limit.try_acquire() => true,
            Admit::Try => false,
            Admit::Wait => self.wait_for_room(limit, local),
        }
    }

    /// The timer behind a [`Sleep`](crate::Sleep): a no-op HIGHEST task due at `due`,
    /// exempt from `max_pending` (it holds no unit, so its start releases none).
    pub(crate) fn timer(&self, due: Due) -> JoinHandle<()> {
        self.submit(Closure(|| ()), Priority::HIGHEST, due, Admit::Exempt).unwrap_or_else(|_| self.refused())
    }

    /// A `Wait` spawn at the limit: a worker is admitted at once over the limit (it must
    /// not block the queue it would wait on); another thread blocks until a unit comes
    /// back, or until the runtime closes (false).
    #[cold]
    fn wait_for_room(&self, limit: &Admission, local: bool) -> bool {
        let shared = &self.shared;
        if local {
            shared.admit_forced();
            return true;
        }
        // Listen before each check, so a unit released between the check and the wait
        // still wakes us.
        loop {
            let room = shared.room.listen();
            if limit.try_acquire() {
                return true;
            }
            if shared.is_closed() {
                return false;
            }
            room.wait();
        }
    }

    fn submit_from<B: Body>(
        &self,
        local: Option<&WorkerCtx>,
        body: B,
        priority: Priority,
        due: Due,
        admit: Admit,
    ) -> Result<JoinHandle<B::Output>, Refusal<B>> {
        let shared = &self.shared;
        let count = |kind| match local {
            Some(w) => w.remote().counters.bump_owned(kind),
            None => shared.counters.add_shared(kind, 1),
        };
        if !self.admit(local.is_some(), admit) {
            if shared.is_closed() {
                count(Count::Rejected);
                return Err(Refusal::Shutdown(body));
            }
            let limit = shared.admission.as_ref().map_or(0, |a| a.limit());
            return Err(Refusal::Full(body, limit));
        }
        let admitted = match local {
            Some(_) => !shared.is_closed(),
            None => shared.intake.begin(),
        };
        let holds_unit = shared.admission.is_some() && admit != Admit::Exempt;
        // One counter per spawn, so a report taken mid-race still balances.
        if !admitted {
            if holds_unit {
                shared.left_waiting();
            }
            count(Count::Rejected);
            return Err(Refusal::Shutdown(body));
        }
        count(Count::Admitted);
        let due = match due {
            Due::At(t) => Some(t),
            Due::Now => None,
        };
        // The wheel a timed task goes to: this worker's, or one chosen for a remote insert.
        let owner = match (due, local) {
            (None, _) => 0,
            (Some(_), Some(w)) => w.index(),
            (Some(_), None) => shared.timer_owner(),
        };
        // A sampled ready task keeps its submit tick in wheel links it otherwise would not
        // have; the worker reads it back at the first run (0 means "not sampled", hence
        // the `max(1)`). Timed tasks are sampled when they leave the wheel instead.
        let sampled = due.is_none()
            && match local {
                Some(w) => w.next_sample(),
                None => next_sample_here(),
            };
        let sample_tick = if sampled { shared.clock.now_tick().max(1) } else { 0 };
        let opts =
            TaskOptions { priority, due, join: true, home: shared.home_slot, holds_unit, owner, sample_tick };
        let sched = carries_scheduler::<B>(&opts).then(|| Sched(shared.clone()));
        let (task, join) = allocate(body, sched, opts);
        #[cfg(feature = "tracing")]
        tracing::debug!(
            task = task.as_ptr().as_ptr() as usize,
            priority = priority.level(),
            timed = due.is_some(),
            "kairos.task.spawned"
        );
        if B::IS_FUTURE {
            shared.registry.insert(task.clone());
        }
        match (due, local) {
            (Some(_), Some(w)) => w.insert_timer(task),
            (Some(due), None) => shared.push_timer_remote(owner, task, due),
            (None, Some(w)) => w.push_local(task),
            (None, None) => shared.push_remote(task),
        }
        if local.is_none() {
            shared.intake.end();
        }
        Ok(self.wrap(join))
    }

    fn wrap<T>(&self, join: Option<std::ptr::NonNull<kairos_rt_core::task::Header>>) -> JoinHandle<T> {
        match join {
            // SAFETY: `allocate` with `join: true` returns the handle's counted reference
            // to a cell whose output type is `T` (the body's output).
            Some(ptr) => unsafe { JoinHandle::from_raw(ptr) },
            None => self.refused(),
        }
    }

    /// Runs `f` as soon as a worker is free, in priority order.
    ///
    /// On a runtime that is shut down, the task is refused and the returned handle's
    /// result is an error whose [`is_shutdown`](crate::JoinError::is_shutdown) is true;
    /// use [`try_spawn`](Self::try_spawn) to get the closure back instead.
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
    /// # let handle = rt.handle();
    /// let h = handle.spawn(kairos_rt::Priority::HIGH, || "urgent");
    /// assert_eq!(h.join().unwrap(), "urgent");
    /// ```
    pub fn spawn<F, T>(&self, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Closure(f), priority, Due::Now, Admit::Wait).unwrap_or_else(|_| self.refused())
    }

    /// Like [`spawn`](Self::spawn), but waits for room without blocking when
    /// [`Builder::max_pending`](crate::Builder::max_pending) tasks already wait.
    ///
    /// On a runtime that is shut down, the returned handle's result is a shutdown error.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// let rt = Runtime::builder().workers(1).max_pending(2).build().unwrap();
    /// let handle = rt.handle();
    /// let h = rt.block_on(async move { handle.spawn_async(Priority::NORMAL, || 7).await });
    /// assert_eq!(h.join().unwrap(), 7);
    /// ```
    pub async fn spawn_async<F, T>(&self, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let mut body = Closure(f);
        let mut room = None;
        loop {
            match self.submit(body, priority, Due::Now, Admit::Try) {
                Ok(h) => return h,
                Err(Refusal::Shutdown(_)) => return self.refused(),
                Err(Refusal::Full(b, _)) => {
                    body = b;
                    match room.take() {
                        // Listen first, then try again, then wait: no wake-up is missed.
                        None => room = Some(self.shared.room.listen()),
                        Some(listener) => listener.await,
                    }
                }
            }
        }
    }

    /// Like [`spawn`](Self::spawn), but a refused closure comes back inside the error:
    /// when the runtime is shut down ([`is_shutdown`](SpawnError::is_shutdown)) or, with
    /// [`Builder::max_pending`](crate::Builder::max_pending), full
    /// ([`is_full`](SpawnError::is_full)). It never blocks.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// let rt = Runtime::builder().workers(1).build().unwrap();
    /// let handle = rt.handle();
    /// drop(rt.shutdown());
    /// let err = handle.try_spawn(Priority::NORMAL, || 5).unwrap_err();
    /// assert!(err.is_shutdown());
    /// assert_eq!((err.into_inner())(), 5);
    /// ```
    pub fn try_spawn<F, T>(&self, priority: Priority, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Closure(f), priority, Due::Now, Admit::Try)
            .map_err(|r| r.into_spawn_error(|Closure(f)| f))
    }

    /// Runs `f` once `delay` has passed, at `priority`.
    ///
    /// The timer resolution is about a microsecond. A delay so long that the due time
    /// would be more than ~584 years after the runtime started (such as
    /// `Duration::MAX`) never comes due: the task waits until it is cancelled or the
    /// runtime shuts down (then its result is a shutdown error). It never panics or
    /// overflows.
    ///
    /// ```
    /// use kairos_rt::Priority;
    /// use std::time::{Duration, Instant};
    ///
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
    /// # let handle = rt.handle();
    /// let start = Instant::now();
    /// let h = handle.spawn_after(Duration::from_millis(2), Priority::HIGH, move || start.elapsed());
    /// assert!(h.join().unwrap() >= Duration::from_millis(2), "never early");
    /// ```
    pub fn spawn_after<F, T>(&self, delay: Duration, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let due = self.due_after(delay);
        self.submit(Closure(f), priority, due, Admit::Wait).unwrap_or_else(|_| self.refused())
    }

    /// Runs `f` at `when` (or now, if `when` has passed), at `priority`.
    ///
    /// Whether `when` has passed is decided without a precise clock read unless `when`
    /// is within a few kernel ticks of now: on Linux a read of `CLOCK_MONOTONIC_COARSE`
    /// (a fraction of the cost, never ahead of the precise clock) answers first, so
    /// scheduling many far-off tasks stays cheap.
    ///
    /// An instant more than ~584 years after the runtime started never comes due, as
    /// for [`spawn_after`](Self::spawn_after): the task waits until it is cancelled or
    /// the runtime shuts down.
    ///
    /// ```
    /// use kairos_rt::Priority;
    /// use std::time::{Duration, Instant};
    ///
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
    /// # let handle = rt.handle();
    /// let at = Instant::now() + Duration::from_millis(2);
    /// let h = handle.spawn_at(at, Priority::LOW, move || Instant::now() >= at);
    /// assert!(h.join().unwrap(), "never before `at`");
    ///
    /// // An instant that has passed: ready work, run now.
    /// let earlier = Instant::now();
    /// let h = handle.spawn_at(earlier, Priority::LOW, || "now");
    /// assert_eq!(h.join().unwrap(), "now");
    /// ```
    pub fn spawn_at<F, T>(&self, when: Instant, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let due = self.due_at(when);
        self.submit(Closure(f), priority, due, Admit::Wait).unwrap_or_else(|_| self.refused())
    }

    /// Polls `fut` on the workers at `priority` until it completes. Every time it is
    /// woken, it is queued again at its priority. At shutdown an unfinished future is
    /// dropped and its handle reports [`is_shutdown`](crate::JoinError::is_shutdown).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let h = rt.handle().spawn_future(Priority::NORMAL, async {
    ///     kairos_rt::sleep(Duration::from_millis(1)).await;
    ///     7
    /// });
    /// assert_eq!(h.join().unwrap(), 7);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_future<Fut>(&self, priority: Priority, fut: Fut) -> JoinHandle<Fut::Output>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.submit(FutureBody(fut), priority, Due::Now, Admit::Wait).unwrap_or_else(|_| self.refused())
    }

    /// Runs `fut` to completion on the calling thread, blocking it; inside, `kairos_rt::spawn`,
    /// `kairos_rt::sleep` and friends use this runtime.
    ///
    /// # Panics
    ///
    /// When called from a worker thread of any kairos runtime: blocking a worker would
    /// stall every task queued behind it. Inside a task, `.await` the future, or spawn it
    /// with [`spawn_future`](Self::spawn_future) and keep the handle.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let sum = rt.handle().block_on(async {
    ///     let child = kairos_rt::spawn(Priority::HIGH, || 40); // onto this runtime
    ///     child.await.unwrap() + 2
    /// });
    /// assert_eq!(sum, 42);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        if context::on_worker_thread() {
            panic!(
                "kairos: block_on was called from inside a kairos task; blocking a worker thread \
                 would stall the runtime. Use `.await` on the future instead, or spawn it with \
                 `spawn_future` and await its JoinHandle."
            );
        }
        let _enter = context::enter(self.shared.clone());
        let parker = Arc::new(Parker::new());
        let waker = ParkWaker::waker(parker.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = pin!(fut);
        loop {
            if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                return v;
            }
            parker.park();
        }
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// Whether the runtime has begun shutting down (every spawn is refused).
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_closed()
    }
}

impl Runtime {
    /// A runtime with the default settings (one worker per CPU).
    ///
    /// # Errors
    ///
    /// If a worker thread cannot be spawned.
    pub fn new() -> Result<Runtime, crate::BuildError> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn from_parts(handle: Handle) -> Runtime {
        Runtime { handle, threads: Vec::new(), shut_down: false }
    }

    /// A handle for spawning from other threads (`Clone + Send + Sync`).
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// See [`Handle::spawn`].
    pub fn spawn<F, T>(&self, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(priority, f)
    }

    /// See [`Handle::try_spawn`].
    pub fn try_spawn<F, T>(&self, priority: Priority, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.try_spawn(priority, f)
    }

    /// See [`Handle::spawn_after`].
    pub fn spawn_after<F, T>(&self, delay: Duration, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_after(delay, priority, f)
    }

    /// See [`Handle::spawn_at`].
    pub fn spawn_at<F, T>(&self, when: Instant, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_at(when, priority, f)
    }

    /// See [`Handle::spawn_future`].
    pub fn spawn_future<Fut>(&self, priority: Priority, fut: Fut) -> JoinHandle<Fut::Output>
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.handle.spawn_future(priority, fut)
    }

    /// See [`Handle::block_on`].
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.handle.block_on(fut)
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.handle.workers()
    }

    /// Stops intake, lets every queued ready closure run, cancels pending timed tasks
    /// and unfinished futures (their handles report
    /// [`is_shutdown`](crate::JoinError::is_shutdown)), joins the workers, and reports
    /// how every submitted task ended.
    ///
    /// A task that never returns keeps this waiting forever; use
    /// [`shutdown_timeout`](Self::shutdown_timeout) to bound the wait.
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

    /// Like [`shutdown`](Self::shutdown), but stops waiting for the workers after
    /// `timeout`. Tasks still queued or running then are counted as `unfinished`
    /// (`timed_out` is set); the workers finish them in the background and exit.
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
        let shared = self.handle.shared.clone();
        shared.intake.close();
        shared.stopping.store(true, SeqCst);
        // Submitters blocked on a full runtime: they find it closed and give up.
        shared.room.notify(usize::MAX);
        let _ = shared.idle.notify_all();
        for r in shared.remotes.iter() {
            r.parker.unpark();
        }
        // A timeout too large to add (`Duration::MAX`) waits like `shutdown`.
        let deadline = timeout.and_then(|d| start.checked_add(d));
        let mut timed_out = false;
        let me = std::thread::current().id();
        for t in std::mem::take(&mut self.threads) {
            if t.thread().id() == me {
                // Dropped from inside one of its own tasks: that worker exits by itself.
                timed_out = true;
                continue;
            }
            match deadline {
                None => {
                    let _ = t.join();
                }
                Some(dl) => {
                    while !t.is_finished() && Instant::now() < dl {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    if t.is_finished() {
                        let _ = t.join();
                    } else {
                        timed_out = true;
                    }
                }
            }
        }
        if !timed_out {
            for task in shared.registry.drain() {
                shared.count_end(cancel_for_shutdown(&task), false, task.snapshot());
            }
            shared.drain_injectors();
            for r in shared.remotes.iter() {
                for t in r.timer_inbox.take() {
                    let outcome = cancel_for_shutdown(&t);
                    // A timed future is counted by the registry drain above.
                    if !t.header().is_future() {
                        shared.count_end(outcome, true, t.snapshot());
                    }
                }
                Shared::drain_queue(&r.timer_cancels, drop);
            }
            shared.closed.store(true, SeqCst);
        }
        let totals = shared.totals();
        let mut report = ShutdownReport {
            submitted: totals.get(Count::Admitted) + totals.get(Count::Rejected),
            completed: totals.get(Count::Completed),
            panicked: totals.get(Count::Panicked),
            cancelled: totals.get(Count::Cancelled),
            timers_dropped: totals.get(Count::TimerDropped),
            futures_dropped: totals.get(Count::FutureDropped),
            rejected: totals.get(Count::Rejected),
            expired: totals.get(Count::Expired),
            run_timeouts: totals.get(Count::TimedOut),
            unfinished: 0,
            timed_out,
            elapsed: start.elapsed(),
        };
        report.unfinished = report.submitted.saturating_sub(report.accounted());
        report
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shut_down {
            let _ = self.shutdown_inner(None);
        }
    }
}
