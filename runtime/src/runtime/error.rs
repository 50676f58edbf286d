//! The runtime's own errors: building a runtime ([`BuildError`]), spawning on one
//! ([`SpawnError`]), and timeouts ([`Elapsed`]). All of the crate's errors are gathered
//! in the public `kairos_rt::error` module.

use crate::sched::spawn::Refusal;
use std::fmt;

/// Why [`Builder::build`](crate::Builder::build) failed.
///
/// # Examples
///
/// ```
/// use kairos_rt::Runtime;
///
/// let err = Runtime::builder().workers(0).build().unwrap_err();
/// assert!(err.is_zero_workers());
/// assert_eq!(err.to_string(), "a runtime needs at least one worker: Builder::workers(0) is not allowed");
/// ```
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug)]
enum BuildErrorKind {
    ZeroWorkers,
    TooManyWorkers {
        requested: usize,
        max: usize,
    },
    Spawn(std::io::Error),
    ZeroLimit(&'static str),
    ZeroAging(kairos_rt_core::Priority),
    ThreadNameNul(String),
    ZeroStackSize,
    TooManyRuntimes {
        max: usize,
    },
    ZeroKeepAlive,
    DenseTimerSlackTooLong {
        given: std::time::Duration,
        max: std::time::Duration,
    },
    #[cfg(feature = "tokio")]
    TokioCurrentThread,
    #[cfg(feature = "tokio")]
    Tokio(std::io::Error),
}

impl BuildError {
    pub(crate) fn zero_workers() -> BuildError {
        BuildError { kind: BuildErrorKind::ZeroWorkers }
    }
    pub(crate) fn too_many_workers(requested: usize, max: usize) -> BuildError {
        BuildError { kind: BuildErrorKind::TooManyWorkers { requested, max } }
    }
    pub(crate) fn zero_limit(setting: &'static str) -> BuildError {
        BuildError { kind: BuildErrorKind::ZeroLimit(setting) }
    }
    pub(crate) fn zero_aging(level: kairos_rt_core::Priority) -> BuildError {
        BuildError { kind: BuildErrorKind::ZeroAging(level) }
    }
    pub(crate) fn spawn(e: std::io::Error) -> BuildError {
        BuildError { kind: BuildErrorKind::Spawn(e) }
    }
    pub(crate) fn thread_name_nul(prefix: String) -> BuildError {
        BuildError { kind: BuildErrorKind::ThreadNameNul(prefix) }
    }
    pub(crate) fn too_many_runtimes(max: usize) -> BuildError {
        BuildError { kind: BuildErrorKind::TooManyRuntimes { max } }
    }
    pub(crate) fn zero_stack_size() -> BuildError {
        BuildError { kind: BuildErrorKind::ZeroStackSize }
    }
    pub(crate) fn zero_keep_alive() -> BuildError {
        BuildError { kind: BuildErrorKind::ZeroKeepAlive }
    }
    pub(crate) fn dense_timer_slack_too_long(
        given: std::time::Duration,
        max: std::time::Duration,
    ) -> BuildError {
        BuildError { kind: BuildErrorKind::DenseTimerSlackTooLong { given, max } }
    }
    #[cfg(feature = "tokio")]
    pub(crate) fn tokio_current_thread() -> BuildError {
        BuildError { kind: BuildErrorKind::TokioCurrentThread }
    }
    #[cfg(feature = "tokio")]
    pub(crate) fn tokio(e: std::io::Error) -> BuildError {
        BuildError { kind: BuildErrorKind::Tokio(e) }
    }
    /// `Builder::blocking_keep_alive(Duration::ZERO)` was given.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    /// use std::time::Duration;
    ///
    /// let err = Runtime::builder().blocking_keep_alive(Duration::ZERO).build().unwrap_err();
    /// assert!(err.is_zero_keep_alive());
    /// ```
    pub fn is_zero_keep_alive(&self) -> bool {
        matches!(self.kind, BuildErrorKind::ZeroKeepAlive)
    }
    /// `Builder::dense_timer_slack` was given more than
    /// [`MAX_DENSE_TIMER_SLACK`](crate::Builder::MAX_DENSE_TIMER_SLACK).
    ///
    /// ```
    /// use kairos_rt::Runtime;
    /// use std::time::Duration;
    ///
    /// let err = Runtime::builder().dense_timer_slack(Duration::from_secs(1)).build().unwrap_err();
    /// assert!(err.is_dense_timer_slack_too_long());
    /// ```
    pub fn is_dense_timer_slack_too_long(&self) -> bool {
        matches!(self.kind, BuildErrorKind::DenseTimerSlackTooLong { .. })
    }
    /// The tokio settings were unusable (feature `tokio`): a handle of a current-thread
    /// tokio runtime, or the tokio runtime of `Builder::enable_tokio` could not start
    /// ([`source`](std::error::Error::source) has its error).
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// let current = tokio::runtime::Builder::new_current_thread().build()?;
    /// let err = Runtime::builder().workers(1).tokio_handle(current.handle().clone()).build().unwrap_err();
    /// assert!(err.is_tokio());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "tokio")]
    pub fn is_tokio(&self) -> bool {
        matches!(self.kind, BuildErrorKind::TokioCurrentThread | BuildErrorKind::Tokio(_))
    }
    /// The OS refused to start a worker thread; [`source`](std::error::Error::source)
    /// has its error.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// // A 1 PiB stack is more than the address space holds: the OS cannot start the thread.
    /// # #[cfg(target_os = "linux")] {
    /// let err = Runtime::builder().workers(1).thread_stack_size(1 << 50).build().unwrap_err();
    /// assert!(err.is_spawn());
    /// assert!(std::error::Error::source(&err).is_some());
    /// # }
    /// ```
    pub fn is_spawn(&self) -> bool {
        matches!(self.kind, BuildErrorKind::Spawn(_))
    }
    /// A thread setting was unusable: a name prefix with a NUL byte, or a stack size of 0.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// assert!(Runtime::builder().thread_name("jobs\0").build().unwrap_err().is_bad_thread_setting());
    /// assert!(Runtime::builder().thread_stack_size(0).build().unwrap_err().is_bad_thread_setting());
    /// ```
    pub fn is_bad_thread_setting(&self) -> bool {
        matches!(self.kind, BuildErrorKind::ThreadNameNul(_) | BuildErrorKind::ZeroStackSize)
    }
    /// The worker count was zero.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// assert!(Runtime::builder().workers(0).build().unwrap_err().is_zero_workers());
    /// ```
    pub fn is_zero_workers(&self) -> bool {
        matches!(self.kind, BuildErrorKind::ZeroWorkers)
    }
    /// A limit (such as `max_processes` or `max_pending`) was zero.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// assert!(Runtime::builder().max_pending(0).build().unwrap_err().is_zero_limit());
    /// assert!(Runtime::builder().max_processes(0).build().unwrap_err().is_zero_limit());
    /// ```
    pub fn is_zero_limit(&self) -> bool {
        matches!(self.kind, BuildErrorKind::ZeroLimit(_))
    }
    /// An aging budget was zero.
    ///
    /// ```
    /// use kairos_rt::{Aging, Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let aging = Aging::default().with_budget(Priority::LOW, Duration::ZERO);
    /// assert!(Runtime::builder().aging(aging).build().unwrap_err().is_zero_aging());
    /// ```
    pub fn is_zero_aging(&self) -> bool {
        matches!(self.kind, BuildErrorKind::ZeroAging(_))
    }
    /// The worker count was above the maximum.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// assert!(Runtime::builder().workers(100_000).build().unwrap_err().is_too_many_workers());
    /// ```
    pub fn is_too_many_workers(&self) -> bool {
        matches!(self.kind, BuildErrorKind::TooManyWorkers { .. })
    }
    /// [`MAX_RUNTIMES`](crate::MAX_RUNTIMES) runtimes were alive in this process already.
    ///
    /// ```
    /// use kairos_rt::{Runtime, MAX_RUNTIMES};
    ///
    /// let mut alive = Vec::new();
    /// let mut refused = None;
    /// for _ in 0..=MAX_RUNTIMES {
    ///     match Runtime::builder().workers(1).build() {
    ///         Ok(rt) => alive.push(rt),
    ///         Err(e) => refused = Some(e),
    ///     }
    /// }
    /// assert_eq!(alive.len(), MAX_RUNTIMES);
    /// assert!(refused.unwrap().is_too_many_runtimes());
    /// for rt in alive {
    ///     rt.shutdown();
    /// }
    /// ```
    pub fn is_too_many_runtimes(&self) -> bool {
        matches!(self.kind, BuildErrorKind::TooManyRuntimes { .. })
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::ZeroWorkers => {
                f.write_str("a runtime needs at least one worker: Builder::workers(0) is not allowed")
            }
            BuildErrorKind::TooManyWorkers { requested, max } => {
                write!(f, "Builder::workers({requested}) is above the maximum of {max} workers")
            }
            // The io error is the `source`, not repeated here.
            BuildErrorKind::Spawn(_) => f.write_str("the OS could not start a worker thread"),
            BuildErrorKind::ThreadNameNul(prefix) => write!(
                f,
                "Builder::thread_name({prefix:?}) contains a NUL byte, which a thread name cannot hold"
            ),
            BuildErrorKind::ZeroStackSize => f.write_str(
                "Builder::thread_stack_size(0) is not a stack size; give one in bytes (sizes below the \
                 platform's minimum are raised to it)",
            ),
            BuildErrorKind::ZeroAging(level) => write!(
                f,
                "the aging budget of priority {} is zero, which would put that level ahead of every \
                 other at every check; give it a positive budget or use Builder::no_aging()",
                level.level()
            ),
            BuildErrorKind::TooManyRuntimes { max } => write!(
                f,
                "{max} kairos runtimes are alive in this process already, the most there can be; \
                 shut one down (its state is freed once its last Handle, JoinHandle of a future, \
                 or waker is gone) before building another"
            ),
            BuildErrorKind::ZeroKeepAlive => f.write_str(
                "Builder::blocking_keep_alive(Duration::ZERO) would end every idle blocking thread at \
                 once, so each burst of blocking jobs starts its threads again; give a positive duration",
            ),
            BuildErrorKind::DenseTimerSlackTooLong { given, max } => write!(
                f,
                "Builder::dense_timer_slack({given:?}) is above the maximum of {max:?}: a worker firing \
                 timers densely would hold each one up to that long past its due time, past the point where \
                 its peers step in to fire them; give at most {max:?}"
            ),
            #[cfg(feature = "tokio")]
            BuildErrorKind::TokioCurrentThread => f.write_str(
                "Builder::tokio_handle was given the handle of a current-thread tokio runtime, whose reactor \
                 runs only inside its own block_on, so kairos tasks waiting for its I/O would hang; give the \
                 handle of a multi-thread tokio runtime, or use Builder::enable_tokio()",
            ),
            #[cfg(feature = "tokio")]
            BuildErrorKind::Tokio(_) => f.write_str("the tokio runtime of Builder::enable_tokio could not start"),
            BuildErrorKind::ZeroLimit(setting) => {
                write!(f, "Builder::{setting}(0) would admit nothing; use a limit of at least 1")
            }
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            BuildErrorKind::Spawn(e) => Some(e),
            #[cfg(feature = "tokio")]
            BuildErrorKind::Tokio(e) => Some(e),
            _ => None,
        }
    }
}

/// A task that the runtime refused, with the task handed back so nothing is lost.
///
/// Made by [`Handle::try_spawn`](crate::Handle::try_spawn) and
/// [`Handle::spawn_with`](crate::Handle::spawn_with).
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let handle = rt.handle();
/// drop(rt.shutdown());
/// let err = handle.try_spawn(Priority::NORMAL, || "mine").unwrap_err();
/// assert!(err.is_shutdown() && !err.is_full());
/// let f = err.into_inner(); // nothing is lost: run it elsewhere
/// assert_eq!(f(), "mine");
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct SpawnError<F> {
    task: F,
    kind: SpawnErrorKind,
}

#[derive(Debug)]
enum SpawnErrorKind {
    Shutdown,
    Full { limit: usize },
    Invalid(String),
    NoThread(std::io::Error),
}

impl<F> SpawnError<F> {
    pub(crate) fn shutdown(task: F) -> SpawnError<F> {
        SpawnError { task, kind: SpawnErrorKind::Shutdown }
    }
    pub(crate) fn full(task: F, limit: usize) -> SpawnError<F> {
        SpawnError { task, kind: SpawnErrorKind::Full { limit } }
    }
    pub(crate) fn invalid(task: F, why: String) -> SpawnError<F> {
        SpawnError { task, kind: SpawnErrorKind::Invalid(why) }
    }
    pub(crate) fn no_thread(task: F, e: std::io::Error) -> SpawnError<F> {
        SpawnError { task, kind: SpawnErrorKind::NoThread(e) }
    }
    /// The runtime is shut down (or shutting down) and takes no new tasks.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// rt.shutdown();
    /// assert!(handle.try_spawn(Priority::NORMAL, || ()).unwrap_err().is_shutdown());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self.kind, SpawnErrorKind::Shutdown)
    }
    /// As many tasks as [`Builder::max_pending`](crate::Builder::max_pending) allows are
    /// waiting to start; try again once some have started.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).max_pending(1).build()?;
    /// let later = rt.spawn_after(Duration::from_secs(60), Priority::NORMAL, || ()); // waits: the one slot
    /// let err = rt.try_spawn(Priority::NORMAL, || ()).unwrap_err();
    /// assert!(err.is_full());
    /// assert!(later.cancel());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self.kind, SpawnErrorKind::Full { .. })
    }
    /// The task's settings are invalid (such as a retry policy with `max_attempts(0)`);
    /// the message says which.
    ///
    /// ```
    /// use kairos_rt::{RetryPolicy, Runtime, Task};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let never = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(0);
    /// let err = rt.spawn_with(Task::new(|| Ok::<_, ()>(())).retry(never)).unwrap_err();
    /// assert!(err.is_invalid());
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_invalid(&self) -> bool {
        matches!(self.kind, SpawnErrorKind::Invalid(_))
    }
    /// A blocking job ([`try_spawn_blocking`](crate::Handle::try_spawn_blocking), or a
    /// [`Task::blocking`](crate::Task::blocking) given to `spawn_with`) was refused
    /// because the blocking pool had no thread and the OS refused to start one (too many
    /// threads, out of memory); [`source`](std::error::Error::source) has the OS error.
    /// Nothing was queued or counted: run the closure elsewhere, or try again later.
    /// While the pool has a thread, a refused extra thread refuses nothing: the job
    /// waits for the threads there are.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// match rt.try_spawn_blocking(Priority::NORMAL, || 2 + 2) {
    ///     Ok(job) => assert_eq!(job.join().unwrap(), 4),
    ///     // The OS would not start a thread: the closure is back, nothing is lost.
    ///     Err(e) if e.is_no_thread() => assert_eq!((e.into_inner())(), 4),
    ///     Err(e) => panic!("{e}"),
    /// }
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_no_thread(&self) -> bool {
        matches!(self.kind, SpawnErrorKind::NoThread(_))
    }
    /// The refused closure (or task), back to the caller.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// rt.shutdown();
    /// let f = handle.try_spawn(Priority::NORMAL, || 6 * 7).unwrap_err().into_inner();
    /// assert_eq!(f(), 42);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn into_inner(self) -> F {
        self.task
    }
    /// Turns the error into one for another form of the same task.
    pub(crate) fn map<G>(self, f: impl FnOnce(F) -> G) -> SpawnError<G> {
        SpawnError { task: f(self.task), kind: self.kind }
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SpawnErrorKind::Shutdown => {
                f.write_str("the runtime is shut down and takes no new tasks; the task is handed back")
            }
            SpawnErrorKind::Full { limit } => write!(
                f,
                "the runtime is full: {limit} tasks wait to start (Builder::max_pending); \
                 the task is handed back"
            ),
            SpawnErrorKind::Invalid(why) => write!(f, "the task was refused: {why}; the task is handed back"),
            // The io error is the `source`, not repeated here.
            SpawnErrorKind::NoThread(_) => f.write_str(
                "the blocking pool has no thread and the OS refused to start one; the task is handed back",
            ),
        }
    }
}

impl<F> std::error::Error for SpawnError<F> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SpawnErrorKind::NoThread(e) => Some(e),
            _ => None,
        }
    }
}

/// The error of [`timeout`](crate::timeout) when the time ran out first.
///
/// ```
/// use kairos_rt::{Elapsed, Runtime};
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let r = rt.block_on(async { kairos_rt::timeout(Duration::from_millis(1), std::future::pending::<()>()).await });
/// let err: Elapsed = r.unwrap_err();
/// assert_eq!(err.to_string(), "deadline elapsed before the future completed");
/// rt.shutdown();
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    pub(crate) fn new() -> Elapsed {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed before the future completed")
    }
}

impl std::error::Error for Elapsed {}

/// A refused submission as the error a `try_spawn*` returns.
impl<B> Refusal<B> {
    pub(crate) fn into_spawn_error<F>(self, f: impl FnOnce(B) -> F) -> SpawnError<F> {
        match self {
            Refusal::Shutdown(b) => SpawnError::shutdown(f(b)),
            Refusal::Full(b, limit) => SpawnError::full(f(b), limit),
            Refusal::NoThread(b, e) => SpawnError::no_thread(f(b), e),
        }
    }
}
