//! Join handles, join errors, and the table of join wakers.
//!
//! ## Why a side table
//!
//! A task cell has no slot for the waker of a task awaiting it: that would cost every
//! task 8-16 bytes for a feature most fire-and-forget jobs never use. Instead a joiner
//! that must wait stores its waker in one of [`SHARDS`] mutex-protected shards keyed by
//! the cell's address, then sets `JOIN_WAITING` in the state word.
//!
//! Protocol (no lost wake-up, no stale entry):
//! - joiner: lock shard → insert or replace its entry → `set_join_waiting` (fetch-or)
//!   → if that reports `COMPLETE`, remove the entry and read the outcome → unlock;
//! - completer: `transition_to_complete` (CAS) → if it saw `JOIN_WAITING`, lock the shard,
//!   remove the entry, unlock, wake it. The completer keeps its task reference until
//!   then, so the address cannot be reused by another task meanwhile;
//! - a handle dropped while `JOIN_WAITING` removes its own entry before releasing its
//!   reference.
//!
//! The shard lock is taken only by a joiner that has to wait and by the completer of a
//! task with such a joiner; spawning and running tasks never touch it.

use super::header::Header;
use super::state::{JoinWait, Outcome, Reprioritized, Snapshot};
use super::TaskId;
use super::TaskRef;
use crate::park::{ParkWaker, Parker};
use crate::sync::{lock, Arc, Mutex};
use core::any::Any;
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};

/// Number of join-waker table shards.
pub const SHARDS: usize = 64;

/// One shard: the waiting joiners' wakers, keyed by cell address.
type Shard = crossbeam_utils::CachePadded<Mutex<Vec<(usize, Waker)>>>;

struct Table {
    shards: [Shard; SHARDS],
}

impl Table {
    fn new() -> Table {
        Table { shards: core::array::from_fn(|_| crossbeam_utils::CachePadded::new(Mutex::new(Vec::new()))) }
    }
    fn shard(&self, ptr: NonNull<Header>) -> &Mutex<Vec<(usize, Waker)>> {
        let addr = ptr.as_ptr() as usize;
        &self.shards[(addr >> 6) % SHARDS]
    }
}

#[cfg(not(loom))]
fn table() -> &'static Table {
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    TABLE.get_or_init(Table::new)
}

#[cfg(loom)]
fn table() -> &'static Table {
    loom::lazy_static! {
        static ref TABLE: Table = Table::new();
    }
    &TABLE
}

/// Wakes (and forgets) the joiner of the task at `ptr`. Called by the completer, which
/// still holds a reference.
pub(crate) fn wake_joiner(ptr: NonNull<Header>) {
    let key = ptr.as_ptr() as usize;
    let waker = {
        let mut shard = lock(table().shard(ptr));
        let pos = shard.iter().position(|(k, _)| *k == key);
        pos.map(|i| shard.swap_remove(i).1)
    };
    if let Some(w) = waker {
        w.wake();
    }
}

fn remove_entry(ptr: NonNull<Header>) {
    let key = ptr.as_ptr() as usize;
    let mut shard = lock(table().shard(ptr));
    if let Some(i) = shard.iter().position(|(k, _)| *k == key) {
        let (_, w) = shard.swap_remove(i);
        drop(shard);
        drop(w);
    }
}

/// Where a task is in its life: [`JoinHandle::status`].
///
/// ```
/// use kairos_rt::{Priority, Runtime, TaskStatus};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
/// assert_eq!(later.status(), TaskStatus::Timed);
/// later.cancel();
/// assert_eq!(later.status(), TaskStatus::Cancelled);
/// let now = rt.spawn(Priority::NORMAL, || ());
/// while !now.is_finished() {
///     std::thread::yield_now();
/// }
/// assert_eq!(now.status(), TaskStatus::Done);
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskStatus {
    /// Waiting in a run queue for a worker.
    Pending,
    /// Waiting for its due time in a timing wheel.
    Timed,
    /// A worker is running it, or (a future) it started and waits for a wake-up, such as
    /// a retry waiting for its next attempt.
    Running,
    /// It returned its output.
    Done,
    /// It panicked, or (a future) ran past its run timeout.
    Failed,
    /// It was cancelled through its handle, dropped at shutdown, or refused.
    Cancelled,
    /// Its deadline passed before it started; it never ran.
    Expired,
}

impl TaskStatus {
    /// The status a state word shows.
    #[doc(hidden)]
    pub fn of(snap: Snapshot) -> TaskStatus {
        // A canceller's claim writes the outcome with `RUNNING` before `COMPLETE`.
        let claimed = snap.is_running() && !snap.is_started();
        if snap.is_complete() || claimed {
            return match snap.outcome() {
                Outcome::Output => TaskStatus::Done,
                Outcome::Panicked | Outcome::TimedOut => TaskStatus::Failed,
                Outcome::Cancelled | Outcome::Shutdown => TaskStatus::Cancelled,
                Outcome::Expired => TaskStatus::Expired,
            };
        }
        if snap.is_running() || snap.is_started() {
            TaskStatus::Running
        } else if snap.is_timed() {
            TaskStatus::Timed
        } else {
            TaskStatus::Pending
        }
    }
}

/// Why a task did not produce its output.
///
/// ```
/// use kairos_rt::{JoinError, Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let h = rt.spawn(Priority::NORMAL, || -> u32 { panic!("bad input") });
/// let id = h.id();
/// let err: JoinError = h.join().unwrap_err();
/// assert!(err.is_panic());
/// assert_eq!(err.id(), id);
/// assert_eq!(err.to_string(), format!("task {id} panicked: bad input"));
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct JoinError {
    id: TaskId,
    repr: Repr,
}

enum Repr {
    Cancelled,
    Shutdown,
    Expired,
    TimedOut,
    Panic(Box<dyn Any + Send + 'static>),
}

impl JoinError {
    pub(crate) fn cancelled(id: TaskId) -> JoinError {
        JoinError { id, repr: Repr::Cancelled }
    }
    /// The error of a task refused or dropped because its runtime shut down.
    #[doc(hidden)]
    pub fn shutdown(id: TaskId) -> JoinError {
        JoinError { id, repr: Repr::Shutdown }
    }
    pub(crate) fn expired(id: TaskId) -> JoinError {
        JoinError { id, repr: Repr::Expired }
    }
    pub(crate) fn timed_out(id: TaskId) -> JoinError {
        JoinError { id, repr: Repr::TimedOut }
    }
    pub(crate) fn panicked(id: TaskId, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError { id, repr: Repr::Panic(payload) }
    }

    /// The task was cancelled through its handle: a closure before it ran, a future
    /// before it completed.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// assert!(later.cancel());
    /// assert!(later.join().unwrap_err().is_cancelled());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }
    /// The task's deadline passed before it started, so it never ran.
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let stale = rt.spawn_with(Task::new(|| ()).deadline(Instant::now() - Duration::from_secs(1))).unwrap();
    /// assert!(stale.join().unwrap_err().is_expired());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_expired(&self) -> bool {
        matches!(self.repr, Repr::Expired)
    }
    /// The task (a future) ran past its run timeout and was dropped at a poll point.
    ///
    /// ```
    /// use kairos_rt::{Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let slow = Task::future(async { kairos_rt::sleep(Duration::from_secs(60)).await }).timeout(Duration::from_millis(2));
    /// assert!(rt.spawn_with(slow).unwrap().join().unwrap_err().is_timed_out());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_timed_out(&self) -> bool {
        matches!(self.repr, Repr::TimedOut)
    }
    /// The task panicked; the payload is in [`into_panic`](Self::into_panic).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn(Priority::NORMAL, || panic!("boom"));
    /// assert!(h.join().unwrap_err().is_panic());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }
    /// The runtime shut down before the task ran (or refused it because it was shut down).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// rt.shutdown(); // drops timed tasks that are not due
    /// assert!(later.join().unwrap_err().is_shutdown());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self.repr, Repr::Shutdown)
    }
    /// The id of the task.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn(Priority::NORMAL, || panic!("boom"));
    /// let id = h.id();
    /// assert_eq!(h.join().unwrap_err().id(), id);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn id(&self) -> TaskId {
        self.id
    }
    /// The panic payload, or the error back if it is not a panic.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let panicked = rt.spawn(Priority::NORMAL, || std::panic::panic_any(7_u32)).join().unwrap_err();
    /// assert_eq!(panicked.try_into_panic().unwrap().downcast_ref::<u32>(), Some(&7));
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// later.cancel();
    /// let cancelled = later.join().unwrap_err();
    /// assert!(cancelled.try_into_panic().unwrap_err().is_cancelled());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p),
            _ => Err(self),
        }
    }
    /// The panic payload. Panics if the error is not a panic; check
    /// [`is_panic`](Self::is_panic) first, or use [`try_into_panic`](Self::try_into_panic).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let err = rt.spawn(Priority::NORMAL, || panic!("boom")).join().unwrap_err();
    /// assert!(err.is_panic());
    /// assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"boom"));
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(p) => p,
            Err(e) => panic!("JoinError::into_panic called on an error that is not a panic: {e}"),
        }
    }
    fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(p) => {
                p.downcast_ref::<&str>().copied().or_else(|| p.downcast_ref::<String>().map(|s| s.as_str()))
            }
            _ => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled through its handle", self.id),
            Repr::Shutdown => write!(f, "task {} did not run: its runtime was shut down", self.id),
            Repr::Expired => write!(f, "task {} expired: its deadline passed before it started", self.id),
            Repr::TimedOut => {
                write!(f, "task {} timed out: it ran past its run timeout and was dropped", self.id)
            }
            Repr::Panic(_) => match self.panic_message() {
                Some(m) => write!(f, "task {} panicked: {m}", self.id),
                None => write!(f, "task {} panicked", self.id),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.repr {
            Repr::Cancelled => "Cancelled",
            Repr::Shutdown => "Shutdown",
            Repr::Expired => "Expired",
            Repr::TimedOut => "TimedOut",
            Repr::Panic(_) => "Panic",
        };
        let mut d = f.debug_struct("JoinError");
        d.field("id", &self.id).field("kind", &kind);
        if let Some(m) = self.panic_message() {
            d.field("message", &m);
        }
        d.finish()
    }
}

impl std::error::Error for JoinError {}

/// An owned permission to wait for a task's result or to cancel it.
///
/// A `JoinHandle<T>` is a [`Future`] of `Result<T, JoinError>`, and
/// [`join`](JoinHandle::join) blocks the calling thread for it. Dropping the handle
/// detaches the task: it still runs, and its output is dropped.
///
/// ```
/// use kairos_rt::{JoinHandle, Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let joined: JoinHandle<u32> = rt.spawn(Priority::NORMAL, || 1);
/// let awaited: JoinHandle<u32> = rt.spawn(Priority::NORMAL, || 2);
/// assert_eq!(joined.join().unwrap(), 1); // blocks this thread
/// assert_eq!(rt.block_on(awaited).unwrap(), 2); // a future
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct JoinHandle<T> {
    /// The task's header, or `None` for a task its runtime refused.
    task: Option<NonNull<Header>>,
    /// The task's id, made with the handle (see [`TaskId`]).
    id: TaskId,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves a `T: Send` out of the cell, through the state protocol.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the state word and cancels through atomic claims.
unsafe impl<T: Send> Sync for JoinHandle<T> {}
impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// Wraps a handle reference made by [`allocate`](super::allocate), giving the task a
    /// new [`TaskId`].
    ///
    /// # Safety
    /// `ptr` carries the handle's counted reference (`JOIN_INTEREST` set) to a cell whose
    /// output type is `T`.
    #[doc(hidden)]
    pub unsafe fn from_raw(ptr: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle { task: Some(ptr), id: TaskId::next(), _output: PhantomData }
    }

    /// A handle for a task that never existed because its runtime refused it: its
    /// result is a shutdown error. It has an id of its own, like any task.
    #[doc(hidden)]
    pub fn refused() -> JoinHandle<T> {
        JoinHandle { task: None, id: TaskId::next(), _output: PhantomData }
    }

    /// The task's header, or `None` for a refused task.
    fn task(&self) -> Option<NonNull<Header>> {
        self.task
    }

    /// The task's id: unique for the life of the process (see [`TaskId`]).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let (a, b) = (rt.spawn(Priority::NORMAL, || ()), rt.spawn(Priority::NORMAL, || ()));
    /// assert_ne!(a.id(), b.id());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// Whether the task has reached its final outcome (output, panic, cancellation).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// assert!(!later.is_finished());
    /// later.cancel();
    /// assert!(later.is_finished()); // cancelled is final
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        match self.task() {
            // SAFETY: the handle's reference keeps the cell alive.
            Some(p) => unsafe { p.as_ref() }.state.load().is_complete(),
            None => true,
        }
    }

    /// Cancels the task if it has not started, or (a future) while it waits at an
    /// `.await` between two polls: its closure or future is dropped at once and the
    /// handle's result becomes a cancellation error. Returns `true` if this call
    /// cancelled it, so the body will not run (again).
    ///
    /// A running closure cannot be interrupted (`false`). A future that is being polled
    /// right now is dropped at its next `.await` point, unless this poll completes it
    /// (`false` either way: it did start).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// assert!(later.cancel());
    /// assert!(!later.cancel(), "already cancelled");
    /// let done = rt.spawn(Priority::NORMAL, || ());
    /// while !done.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(!done.cancel(), "it ran");
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn cancel(&self) -> bool {
        match self.task() {
            // SAFETY: the handle's reference keeps the cell alive during the call.
            Some(p) => unsafe { (p.as_ref().vtable.cancel)(p, Outcome::Cancelled) },
            None => false,
        }
    }

    /// Moves a task that has not started to `priority`; it then runs at that level, once.
    /// Returns `false` once the task has started (or finished, or was cancelled), for a
    /// refused task, once its runtime began shutting down (kairos-rt refuses to build
    /// more than 127 runtimes alive at once, the most a task's state word can name), and after
    /// 7 changes of a task waiting in a run queue (each change of a queued task leaves a
    /// stale queue entry behind, and 7 is how many the task's state word can tell apart).
    ///
    /// A timed task keeps its due time and is queued at the new level when it comes
    /// due. A ready task gets a new queue entry at the new level; the old entry is skipped
    /// when a worker reaches it.
    ///
    /// With the `kairos` runtime: after `let h = rt.spawn_after(Duration::from_secs(1),
    /// Priority::LOW, job);`, `h.set_priority(Priority::HIGHEST)` changes its level; it
    /// still runs when due.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::LOW, || ());
    /// assert!(later.set_priority(Priority::HIGHEST)); // not started: moved
    /// let done = rt.spawn(Priority::NORMAL, || ());
    /// while !done.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert!(!done.set_priority(Priority::HIGH), "it has run");
    /// later.cancel();
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn set_priority(&self, priority: crate::Priority) -> bool {
        let Some(ptr) = self.task() else { return false };
        // SAFETY: the handle's reference keeps the cell alive during the call.
        let header = unsafe { ptr.as_ref() };
        let Some(home) = super::home::get(header.state.load().home()) else { return false };
        if !home.enter() {
            return false;
        }
        let changed = match header.state.reprioritize(priority) {
            Reprioritized::Unchanged | Reprioritized::Timed => true,
            Reprioritized::Requeue { epoch } => {
                // SAFETY: `reprioritize` took a reference for the new entry.
                let entry = unsafe { TaskRef::from_raw(ptr) }.with_epoch(epoch);
                home.requeue(entry);
                true
            }
            Reprioritized::Refused => false,
        };
        home.leave();
        changed
    }

    /// Where the task is in its life (see [`TaskStatus`]).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, TaskStatus};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ());
    /// assert_eq!(later.status(), TaskStatus::Timed);
    /// later.cancel();
    /// assert_eq!(later.status(), TaskStatus::Cancelled);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn status(&self) -> TaskStatus {
        let Some(ptr) = self.task() else { return TaskStatus::Cancelled };
        // SAFETY: the handle's reference keeps the cell alive.
        TaskStatus::of(unsafe { ptr.as_ref() }.state.load())
    }

    /// A counted reference to the task (`None` for a refused task): for a runtime part
    /// that must reach the task apart from this handle (a deadline's expiry timer). It
    /// keeps the cell, not the body, alive.
    #[doc(hidden)]
    pub fn task_ref(&self) -> Option<TaskRef> {
        self.task().map(|p| {
            // SAFETY: the handle's reference keeps the cell alive while the clone takes
            // one of its own; the borrowed view is never dropped.
            let borrowed = core::mem::ManuallyDrop::new(unsafe { TaskRef::from_raw(p) });
            TaskRef::clone(&borrowed)
        })
    }

    /// The raw header pointer, if the task exists.
    #[doc(hidden)]
    pub fn as_raw(&self) -> Option<NonNull<Header>> {
        self.task()
    }

    /// Blocks the current thread until the task finishes and returns its result.
    ///
    /// It first looks for the result for a few microseconds (a bounded backoff of spins
    /// and yields), then sleeps until the task's end wakes it: a short task's result is
    /// taken without the sleep and the wake-up.
    ///
    /// Do not call this from inside a task of the same runtime with all workers busy
    /// waiting on each other: like any blocking wait, it can deadlock. Prefer `.await`
    /// inside futures.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.spawn(Priority::NORMAL, || "done").join().unwrap(), "done");
    /// assert!(rt.spawn(Priority::NORMAL, || panic!("boom")).join().unwrap_err().is_panic());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn join(mut self) -> Result<T, JoinError> {
        // A short task's result often arrives within microseconds, and a thread put to
        // sleep takes a futex wake-up to come back (5-25 us on the project's VMs): look
        // for it with a bounded backoff first (about 130 spins, then 4 yields), which
        // costs a long wait a few microseconds of CPU.
        #[cfg(not(loom))]
        {
            let backoff = crossbeam_utils::Backoff::new();
            while !backoff.is_completed() && !self.is_finished() {
                backoff.snooze();
            }
        }
        let parker = Arc::new(Parker::new());
        let waker = ParkWaker::waker(parker.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = Pin::new(&mut self).poll(&mut cx) {
                return r;
            }
            parker.park();
        }
    }

    fn read(&mut self, ptr: NonNull<Header>) -> Result<T, JoinError> {
        let mut out = core::mem::MaybeUninit::<Result<T, JoinError>>::uninit();
        // SAFETY: the task is complete and its outcome not taken (checked by the caller);
        // `out` is a valid destination of the cell's output type `T`.
        unsafe { (ptr.as_ref().vtable.read_outcome)(ptr, out.as_mut_ptr().cast(), self.id) };
        // SAFETY: `read_outcome` initialised `out`.
        unsafe { out.assume_init() }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(ptr) = self.task() else {
            return Poll::Ready(Err(JoinError::shutdown(self.id())));
        };
        // SAFETY: the handle's reference keeps the cell alive.
        let header = unsafe { ptr.as_ref() };
        let snap = header.state.load();
        if snap.is_complete() {
            assert!(!snap.is_output_taken(), "JoinHandle polled after it returned its result");
            return Poll::Ready(self.read(ptr));
        }
        let key = ptr.as_ptr() as usize;
        let mut shard = lock(table().shard(ptr));
        match shard.iter_mut().find(|(k, _)| *k == key) {
            Some((_, w)) if w.will_wake(cx.waker()) => {}
            Some((_, w)) => *w = cx.waker().clone(),
            None => shard.push((key, cx.waker().clone())),
        }
        match header.state.set_join_waiting() {
            JoinWait::Registered => Poll::Pending,
            JoinWait::AlreadyComplete => {
                if let Some(i) = shard.iter().position(|(k, _)| *k == key) {
                    let (_, w) = shard.swap_remove(i);
                    drop(shard);
                    drop(w);
                } else {
                    drop(shard);
                }
                Poll::Ready(self.read(ptr))
            }
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let Some(ptr) = self.task() else { return };
        // SAFETY: the handle's reference keeps the cell alive until `drop_join_handle`.
        let header = unsafe { ptr.as_ref() };
        let snap = header.state.load();
        if snap.is_join_waiting() {
            remove_entry(ptr);
        }
        if snap.is_complete() && !snap.is_output_taken() {
            // SAFETY: complete with join interest: the handle owns the outcome.
            unsafe { (header.vtable.drop_outcome)(ptr) };
        }
        let (_, last) = header.state.drop_join_handle();
        if last {
            // SAFETY: the handle's reference was the last one.
            unsafe { (header.vtable.dealloc)(ptr) };
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id()).field("finished", &self.is_finished()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_join_handle_is_a_pointer_and_an_id() {
        // Two words: the cell stays in its size class (24 bytes for a ready closure) and
        // the id is paid for only by tasks that have a handle.
        assert_eq!(core::mem::size_of::<JoinHandle<u64>>(), 2 * core::mem::size_of::<usize>());
        assert_eq!(core::mem::size_of::<Option<JoinHandle<u64>>>(), 2 * core::mem::size_of::<usize>());
    }

    #[test]
    fn a_refused_handle_has_its_own_id_and_reports_shutdown() {
        let h = JoinHandle::<()>::refused();
        let id = h.id();
        assert_ne!(JoinHandle::<()>::refused().id(), id);
        assert!(h.is_finished());
        assert!(!h.cancel());
        assert!(h.as_raw().is_none());
        let err = h.join().unwrap_err();
        assert!(err.is_shutdown());
        assert_eq!(err.id(), id);
    }
}
