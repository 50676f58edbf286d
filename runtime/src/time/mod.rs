//! Futures that wait: [`sleep`], [`sleep_until`], [`timeout`], [`yield_now`], and
//! tokio-style [`interval()`]s (`interval.rs`) with their [`MissedTickBehavior`]
//! (`missed_tick.rs`, shared with recurring schedules, which sit above this module).
//!
//! A sleep is a timed no-op task at [`Priority::HIGHEST`](crate::Priority::HIGHEST) in
//! the runtime's timing wheels (a `RuntimeTimer`, `sched/runtime_timer.rs`), awaited through
//! its join handle: it costs one small allocation, inherits the wheels' ~1 µs resolution
//! and O(1) cancellation, and dropping the `Sleep` cancels the timer at once. The
//! sleeping future itself is re-queued at its own priority when woken. Such timers are
//! the runtime's own: they are counted apart from user tasks
//! ([`MetricsSnapshot::runtime_timers`](crate::MetricsSnapshot::runtime_timers)), and a
//! pending one is not a pending task.
//!
//! ```
//! use kairos_rt::{Priority, Runtime};
//! use std::time::Duration;
//!
//! let rt = Runtime::builder().workers(1).build()?;
//! let h = rt.spawn_future(Priority::NORMAL, async {
//!     kairos_rt::time::sleep(Duration::from_millis(1)).await;
//!     kairos_rt::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await
//! });
//! assert!(h.join().unwrap().is_err(), "the timeout elapsed");
//! let report = rt.shutdown();
//! assert_eq!(report.runtime_timers.fired, 2); // the sleep's and the timeout's, not tasks
//! # Ok::<(), kairos_rt::BuildError>(())
//! ```

mod interval;
mod missed_tick;
mod schedule_error;

pub use crate::runtime::error::Elapsed;
use crate::with_current;
pub use interval::{interval, interval_at, Interval};
use kairos_rt_core::task::JoinHandle;
pub use missed_tick::MissedTickBehavior;
pub use schedule_error::ScheduleError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A future that completes at a given instant. Made by [`sleep`] and [`sleep_until`].
///
/// ```
/// use kairos_rt::{Priority, Runtime, Sleep};
/// use std::time::{Duration, Instant};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let h = rt.spawn_future(Priority::NORMAL, async {
///     let start = Instant::now();
///     let sleep: Sleep = kairos_rt::sleep(Duration::from_millis(2));
///     sleep.await;
///     start.elapsed()
/// });
/// assert!(h.join().unwrap() >= Duration::from_millis(2));
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    timer: JoinHandle<()>,
    /// The timer's handle has given its result (never polled again): `Some(true)` if the
    /// sleep ended, `Some(false)` if it waits for its task's shutdown.
    settled: Option<bool>,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).finish()
    }
}

impl Sleep {
    /// The instant this sleep completes at. For a sleep too long for an `Instant`
    /// (`kairos_rt::sleep(Duration::MAX)`), about 30 years from its start: such a sleep
    /// ends only when its runtime shuts down.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_future(Priority::NORMAL, async {
    ///     let at = Instant::now() + Duration::from_millis(2);
    ///     let sleep = kairos_rt::sleep_until(at);
    ///     assert_eq!(sleep.deadline(), at);
    ///     sleep.await;
    ///     Instant::now() >= at
    /// });
    /// assert!(h.join().unwrap());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Waits until `duration` has passed.
///
/// # Shutdown
///
/// Inside a task, a sleep made while its runtime shuts down never completes: shutdown
/// drops the task at this `.await` (so a `loop { work(); sleep(d).await }` cannot keep
/// shutdown waiting). In `Runtime::block_on` on a shut-down runtime, where no worker is
/// left to fire the timer, the sleep ends at once, early.
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`.
///
/// # Examples
///
/// ```
/// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// rt.block_on(async { kairos_rt::sleep(Duration::from_millis(2)).await });
/// assert!(start.elapsed() >= Duration::from_millis(2));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_for("sleep", "Handle::spawn_after (or run the future inside Runtime::block_on)", duration)
}

/// A `Sleep` of `duration` on the current runtime; `what` and `instead` name the caller
/// and its alternative in the panic message outside a runtime.
fn sleep_for(what: &str, instead: &str, duration: Duration) -> Sleep {
    let deadline = Instant::now().checked_add(duration).unwrap_or_else(far_future);
    let timer = with_current(what, instead, |h| h.timer(h.due_after(duration)));
    Sleep { deadline, timer, settled: None }
}

/// Waits until `deadline` (completes at once if it has passed). Like [`sleep`], it ends
/// early when its runtime shuts down.
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`.
///
/// # Examples
///
/// ```
/// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
/// use std::time::{Duration, Instant};
/// let at = Instant::now() + Duration::from_millis(2);
/// rt.block_on(async { kairos_rt::sleep_until(at).await });
/// assert!(Instant::now() >= at);
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    let timer =
        with_current("sleep_until", "Handle::spawn_at (or run the future inside Runtime::block_on)", |h| {
            h.timer(h.due_at(deadline))
        });
    Sleep { deadline, timer, settled: None }
}

fn far_future() -> Instant {
    // About 30 years: only used for `Sleep::deadline` reporting of an overflowing sleep.
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.settled {
            Some(true) => return Poll::Ready(()),
            Some(false) => return Poll::Pending,
            None => {}
        }
        let ended = match Pin::new(&mut self.timer).poll(cx) {
            Poll::Pending => return Poll::Pending,
            // On a worker of a runtime that is shutting down, the task polling us is
            // being shut down too: shutdown cancels it at this `.await` (it claims every
            // unfinished future, idle or mid-poll). Ending the sleep instead would let a
            // loop of sleeps run forever.
            Poll::Ready(Err(e)) if e.is_shutdown() && crate::sched::context::on_closing_worker() => false,
            // Elsewhere (`block_on`, or a task of another runtime that goes on), a
            // shutdown error ends the sleep: its runtime is gone.
            Poll::Ready(_) => true,
        };
        self.settled = Some(ended);
        if ended {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        let _ = self.timer.cancel();
    }
}

/// Runs `fut`, giving up after `duration` with [`Elapsed`]. On a runtime that shut down
/// the timer ends at once (see [`sleep`]), so `Elapsed` then comes before `duration`.
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`.
///
/// ```
/// # let rt = kairos_rt::Runtime::builder().workers(1).build().unwrap();
/// use std::time::Duration;
/// let r = rt.block_on(async {
///     kairos_rt::timeout(Duration::from_millis(1), kairos_rt::sleep(Duration::from_secs(60))).await
/// });
/// assert!(r.is_err());
/// ```
pub fn timeout<F: Future>(duration: Duration, fut: F) -> Timeout<F> {
    let sleep = sleep_for("timeout", "Runtime::block_on around the timed future", duration);
    Timeout { fut: Box::pin(fut), sleep }
}

/// The future of [`timeout`].
///
/// ```
/// use kairos_rt::{Priority, Runtime, Timeout};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let h = rt.spawn_future(Priority::NORMAL, async {
///     let quick: Timeout<_> = kairos_rt::timeout(Duration::from_secs(60), async { 5 });
///     quick.await
/// });
/// assert_eq!(h.join().unwrap(), Ok(5));
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Timeout<F: Future> {
    fut: Pin<Box<F>>,
    sleep: Sleep,
}

impl<F: Future> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").field("deadline", &self.sleep.deadline).finish()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match Pin::new(&mut self.sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed::new())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Yields once to the scheduler: the task goes to the back of its priority level's
/// queue, so other tasks of that level run first. Needs no runtime: outside one, the
/// future just returns `Pending` once after waking its own waker.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let h = rt.spawn_future(Priority::NORMAL, async {
///     for _ in 0..3 {
///         kairos_rt::yield_now().await; // let queued work of this level run
///     }
///     "done"
/// });
/// assert_eq!(h.join().unwrap(), "done");
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
///
/// ```
/// use kairos_rt::{Priority, Runtime, YieldNow};
/// use std::sync::{Arc, Mutex};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let order = Arc::new(Mutex::new(Vec::new()));
/// let o = order.clone();
/// let h = rt.spawn_future(Priority::NORMAL, async move {
///     let o2 = o.clone();
///     kairos_rt::spawn(Priority::NORMAL, move || o2.lock().unwrap().push("other"));
///     let y: YieldNow = kairos_rt::yield_now();
///     y.await; // the other task, queued at the same level, runs first
///     o.lock().unwrap().push("yielder");
/// });
/// h.join().unwrap();
/// assert_eq!(*order.lock().unwrap(), ["other", "yielder"]);
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
