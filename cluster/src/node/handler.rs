//! Handlers: what a node runs for each job kind, what they are given ([`JobContext`]) and
//! how they say a job failed ([`JobError`]).

use crate::job::JobId;
use kairos_rt::Priority;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a handler is given: the job and where it runs.
///
/// ```no_run
/// # use kairos_cluster::{Client, JobError, Node};
/// # let rt = kairos_rt::Runtime::new().unwrap();
/// # let queue = Client::connect("redis://127.0.0.1/")?.queue("q")?;
/// #[derive(serde::Deserialize)]
/// struct Reading { device: String, celsius: f64 }
/// let node = Node::builder(queue, rt.handle())
///     .handler("reading", |job| {
///         let r: Reading = job.json()?;
///         if r.celsius > 90.0 {
///             return Err(JobError::retry(format!("{} overheating, attempt {}", r.device, job.attempt)));
///         }
///         Ok(Vec::new())
///     })
///     .start()?;
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct JobContext {
    /// The job's id in its queue.
    pub id: JobId,
    /// Its kind (the handler's name).
    pub kind: String,
    /// Its payload, as enqueued.
    pub payload: Vec<u8>,
    /// Its priority.
    pub priority: Priority,
    /// Which claim this is: 1 for the first; a retry, a recovery after a lost lease and a
    /// hand-back by a stopping node each count up. Handlers must be idempotent: delivery
    /// is at least once.
    pub attempt: u32,
    /// The queue's name.
    pub queue: String,
    /// The id of the node running it.
    pub node: String,
}

impl JobContext {
    /// The payload parsed as JSON.
    ///
    /// # Errors
    ///
    /// A fatal [`JobError`] (retrying cannot fix a payload) saying why it does not parse.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| JobError::fatal(format!("payload is not the expected JSON: {e}")))
    }

    /// The payload as UTF-8 text.
    ///
    /// # Errors
    ///
    /// A fatal [`JobError`] if it is not UTF-8.
    pub fn text(&self) -> Result<&str, JobError> {
        std::str::from_utf8(&self.payload).map_err(|e| JobError::fatal(format!("payload is not UTF-8: {e}")))
    }
}

/// Why a job failed, and whether another attempt could help.
///
/// ```
/// use kairos_cluster::JobError;
///
/// let e = JobError::retry("payment API answered 503");
/// assert!(e.is_retryable());
/// let e = JobError::fatal("unknown account");
/// assert!(!e.is_retryable());
/// assert_eq!(e.to_string(), "unknown account");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobError {
    message: String,
    retryable: bool,
}

impl JobError {
    /// A failure that another attempt may not repeat: retried under the job's policy.
    pub fn retry(message: impl Into<String>) -> JobError {
        JobError { message: message.into(), retryable: true }
    }

    /// A failure no retry can fix: the job goes to the dead set at once.
    pub fn fatal(message: impl Into<String>) -> JobError {
        JobError { message: message.into(), retryable: false }
    }

    /// True unless made with [`fatal`](Self::fatal).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for JobError {}

impl From<String> for JobError {
    fn from(s: String) -> JobError {
        JobError::retry(s)
    }
}

impl From<&str> for JobError {
    fn from(s: &str) -> JobError {
        JobError::retry(s)
    }
}

/// What a handler returns: result bytes (kept in the job's record) or an error.
pub type JobResult = Result<Vec<u8>, JobError>;

/// A boxed future of a job's result.
pub type BoxJobFuture = Pin<Box<dyn Future<Output = JobResult> + Send + 'static>>;

/// A registered handler: a closure run on a worker, or a future polled on the runtime.
#[derive(Clone)]
pub(crate) enum Handler {
    Sync(Arc<dyn Fn(&JobContext) -> JobResult + Send + Sync>),
    Async(Arc<dyn Fn(JobContext) -> BoxJobFuture + Send + Sync>),
}

/// How a run ended, panics included.
pub(crate) enum RunEnd {
    Returned(JobResult),
    Panicked(String),
}

pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    match p.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p.downcast_ref::<&str>().map_or_else(|| "a non-text panic".to_string(), |s| s.to_string()),
    }
}

/// Runs a sync handler, catching a panic.
pub(crate) fn run_sync(f: &(dyn Fn(&JobContext) -> JobResult + Send + Sync), ctx: &JobContext) -> RunEnd {
    match catch_unwind(AssertUnwindSafe(|| f(ctx))) {
        Ok(r) => RunEnd::Returned(r),
        Err(p) => RunEnd::Panicked(panic_message(p)),
    }
}

/// A future that turns a panic inside `inner`'s poll into [`RunEnd::Panicked`].
pub(crate) struct CatchPanic {
    pub(crate) inner: BoxJobFuture,
}

impl Future for CatchPanic {
    type Output = RunEnd;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RunEnd> {
        match catch_unwind(AssertUnwindSafe(|| self.inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(r)) => Poll::Ready(RunEnd::Returned(r)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(RunEnd::Panicked(panic_message(p))),
        }
    }
}
