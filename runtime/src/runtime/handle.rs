//! [`Handle`]: spawns onto a runtime from anywhere. Every spawn goes through
//! `sched::spawn` (admission, intake, routing); this file is the public face of it.

use crate::observe::{MetricsSnapshot, PendingSnapshot};
use crate::runtime::error::SpawnError;
use crate::sched::context;
use crate::sched::runtime_timer::RuntimeTimer;
use crate::sched::shared::Shared;
use crate::sched::spawn::{refused, Admit, Due, Refusal};
use kairos_rt_core::park::{ParkWaker, Parker};
use kairos_rt_core::sync::Arc;
use kairos_rt_core::task::{Body, Closure, FutureBody, JoinHandle};
use kairos_rt_core::Priority;
use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A cheap, cloneable reference to a [`Runtime`](crate::Runtime) for spawning from any thread.
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
#[repr(transparent)] // For `from_shared`.
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.num_workers())
            .field("closed", &self.shared.is_closed())
            .finish()
    }
}

impl Handle {
    /// Borrows `shared` as a handle, without touching its reference count (the spawn
    /// path of a worker: `kairos_rt::spawn` inside a task).
    pub(crate) fn from_shared(shared: &Arc<Shared>) -> &Handle {
        // SAFETY: `Handle` is `repr(transparent)` over its only field, an `Arc<Shared>`,
        // so both have the same layout and validity; the returned reference borrows
        // `shared` for its own lifetime.
        unsafe { &*(shared as *const Arc<Shared>).cast::<Handle>() }
    }

    /// See [`Shared::due_at`].
    pub(crate) fn due_at(&self, when: Instant) -> Due {
        self.shared.due_at(when)
    }

    /// See [`Shared::due_after`].
    pub(crate) fn due_after(&self, delay: Duration) -> Due {
        self.shared.due_after(delay)
    }

    /// A handle whose result is a shutdown error.
    pub(crate) fn refused<T>(&self) -> JoinHandle<T> {
        refused()
    }

    /// Submits `body` (see `sched::spawn`); hands it back if intake is closed, or if
    /// full and `admit` says so.
    pub(crate) fn submit<B: Body>(
        &self,
        body: B,
        priority: Priority,
        due: Due,
        admit: Admit,
    ) -> Result<JoinHandle<B::Output>, Refusal<B>> {
        self.shared.submit(body, priority, due, admit)
    }

    /// The timer behind a [`Sleep`](crate::Sleep): a no-op HIGHEST task due at `due`,
    /// exempt from `max_pending` (it holds no unit, so its start releases none), counted
    /// as one of the runtime's own timers, not as a user task.
    pub(crate) fn timer(&self, due: Due) -> JoinHandle<()> {
        self.submit(RuntimeTimer, Priority::HIGHEST, due, Admit::Exempt).unwrap_or_else(|_| self.refused())
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
            // A wait for room is no refusal: `TryWaiting` does not count one.
            match self.submit(body, priority, Due::Now, Admit::TryWaiting) {
                Ok(h) => return h,
                // `NoThread` is the blocking pool's only.
                Err(Refusal::Shutdown(_) | Refusal::NoThread(..)) => return self.refused(),
                Err(Refusal::Full(b, _)) => {
                    body = b;
                    match room.take() {
                        // Listen first, then try again, then wait: no wake-up is missed.
                        None => room = Some(self.shared.listen_for_room()),
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
        self.spawn_due(self.due_at(when), priority, f)
    }

    /// [`spawn_at`](Self::spawn_at) with the due tick already worked out (recurring
    /// firings, which know the time).
    pub(crate) fn spawn_due<F, T>(&self, due: Due, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.try_spawn_due(due, priority, f).unwrap_or_else(|| self.refused())
    }

    /// [`spawn_due`](Self::spawn_due), or `None` when the runtime refused the task
    /// (shut down), with no task made: for callers that must tell a refusal from a task
    /// cancelled later (the recurring firing loop).
    pub(crate) fn try_spawn_due<F, T>(&self, due: Due, priority: Priority, f: F) -> Option<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit(Closure(f), priority, due, Admit::Wait).ok()
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
        let _io = self.shared.enter_io();
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
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(2).build()?;
    /// assert_eq!(rt.handle().workers(), 2);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn workers(&self) -> usize {
        self.shared.num_workers()
    }

    /// Whether the runtime has begun shutting down (every spawn is refused).
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// assert!(!handle.is_shutdown());
    /// rt.shutdown();
    /// assert!(handle.is_shutdown());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_closed()
    }
}

/// Observing (see `observe`).
impl Handle {
    /// What waits to run: ready tasks and timed tasks per priority level, tasks waiting
    /// for a retry, [`spawn_blocking`](Self::spawn_blocking) jobs waiting for a blocking
    /// thread (and how many run), and the next due time (a lower bound: the wheels report
    /// the start of the coarse slot that holds a far-off timer, so no timer is due before
    /// it). The runtime's own timers (behind sleeps, timeouts and backoffs) are counted
    /// apart, not in the total; [`PendingSnapshot`] states what is counted and the bound
    /// it keeps.
    ///
    /// Counts are gathered without stopping the workers: exact when the runtime is
    /// quiescent, approximate while tasks move. Timed tasks submitted from outside the
    /// runtime are counted once a worker has taken them into its wheel (a sleeping worker is
    /// woken for that, so this takes one scheduling pass). A ready task whose priority changed may be counted at both
    /// levels until a worker skips its old queue entry.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::LOW, || ());
    /// # // The worker publishes its gauges, then its next due tick: wait for both.
    /// # while rt.pending().timed() == 0 || rt.pending().next_due().is_none() { std::thread::yield_now(); }
    /// let p = rt.pending();
    /// assert_eq!(p.timed(), 1);
    /// assert_eq!(p.at(Priority::LOW).timed, 1);
    /// assert_eq!(p.total(), p.ready() + p.timed() + p.retry_waiting());
    /// assert!(p.next_due().is_some());
    /// later.cancel();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn pending(&self) -> PendingSnapshot {
        self.shared.pending_snapshot()
    }

    /// A snapshot of the runtime's counters and gauges (see [`MetricsSnapshot`]), with
    /// [`to_prometheus`](MetricsSnapshot::to_prometheus) for export.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(2).build()?;
    /// rt.spawn(Priority::NORMAL, || ()).join().unwrap();
    /// let m = rt.metrics();
    /// assert_eq!(m.submitted, 1);
    /// assert!(m.to_prometheus().contains("kairos_tasks_submitted_total 1"));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared.metrics_snapshot()
    }
}
