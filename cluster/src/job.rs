//! What a producer enqueues ([`Job`]) and what Redis says of a job later ([`JobStatus`]).

use crate::error::{Error, ErrorKind, Result};
use kairos_rt::{Priority, RetryPolicy};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A job's id in its queue: a number from the queue's own counter, never reused.
///
/// ```
/// use kairos_cluster::JobId;
/// assert_eq!(JobId(42).to_string(), "42");
/// assert!(JobId(1) < JobId(2), "ids grow in enqueue order");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a job is in its life. The first three are live; the other four are final.
///
/// ```text
///  enqueue ──> delayed ──(due)──> ready ──(claim)──> active ──(ack)──> completed
///                 ^                 ^  ^                │  │
///                 └──(retry later)──┼──┼────────────────┘  ├─(failed for good)─> dead
///                                   │  └─(lease expired)───┘
///  cancel (delayed or ready) ─> cancelled      past start deadline at claim ─> expired
/// ```
///
/// ```
/// use kairos_cluster::JobState;
/// assert!(JobState::Dead.is_final() && !JobState::Delayed.is_final());
/// assert_eq!(JobState::Completed.as_str(), "completed");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for its due time (a delayed job, or a retry waiting for its backoff).
    Delayed,
    /// Waiting for a node.
    Ready,
    /// Held by a node under a lease.
    Active,
    /// Ran and succeeded.
    Completed,
    /// Failed on its last allowed attempt (or with a fatal error, or was malformed); kept
    /// in the dead set until requeued or trimmed.
    Dead,
    /// Cancelled before it started.
    Cancelled,
    /// Reached a node after its start deadline, so it was not started (again: a retry
    /// whose deadline passed during its backoff ends here too).
    Expired,
}

impl JobState {
    pub(crate) fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "delayed" => JobState::Delayed,
            "ready" => JobState::Ready,
            "active" => JobState::Active,
            "completed" => JobState::Completed,
            "dead" => JobState::Dead,
            "cancelled" => JobState::Cancelled,
            "expired" => JobState::Expired,
            _ => return None,
        })
    }

    /// The name used in Redis and in `stats`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Delayed => "delayed",
            JobState::Ready => "ready",
            JobState::Active => "active",
            JobState::Completed => "completed",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
            JobState::Expired => "expired",
        }
    }

    /// True for the four states a job never leaves (unless a dead job is requeued).
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Completed | JobState::Dead | JobState::Cancelled | JobState::Expired)
    }
}

/// When a job may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum When {
    Now,
    /// After a delay, measured on Redis's clock from when Redis receives the job.
    After(Duration),
    /// At a wall-clock time (compared with Redis's clock).
    At(SystemTime),
}

/// A job to enqueue: a kind (which handler runs it), an opaque payload, a priority, and
/// optionally a due time, a retry policy, a start deadline and an idempotency key.
///
/// ```
/// use kairos_cluster::Job;
/// use kairos_rt::{Priority, RetryPolicy};
/// use std::time::Duration;
///
/// let job = Job::new("send-email")
///     .payload(b"{\"to\":\"a@example.com\"}".to_vec())
///     .priority(Priority::HIGH)
///     .after(Duration::from_secs(30))
///     .retry(RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60)).max_attempts(5))
///     .deadline_after(Duration::from_secs(600))
///     .idempotency_key("welcome-mail-user-42");
/// assert_eq!(job.kind(), "send-email");
/// ```
#[derive(Clone, Debug)]
pub struct Job {
    kind: String,
    payload: Vec<u8>,
    priority: Priority,
    when: When,
    deadline: Option<When>,
    retry: Option<RetryPolicy>,
    idempotency: Option<(String, Duration)>,
}

/// How long an idempotency key is remembered unless [`Job::idempotency_key_for`] says.
pub const DEFAULT_IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The largest payload a [`Queue`](crate::Queue) accepts unless told otherwise.
pub const DEFAULT_MAX_PAYLOAD: usize = 1 << 20;

impl Job {
    /// A job of `kind`, empty payload, [`Priority::NORMAL`], due now, one attempt.
    pub fn new(kind: impl Into<String>) -> Job {
        Job {
            kind: kind.into(),
            payload: Vec::new(),
            priority: Priority::NORMAL,
            when: When::Now,
            deadline: None,
            retry: None,
            idempotency: None,
        }
    }

    /// The payload: opaque bytes handed to the handler.
    pub fn payload(mut self, bytes: impl Into<Vec<u8>>) -> Job {
        self.payload = bytes.into();
        self
    }

    /// The payload as the JSON form of `value`.
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_job`] if `value` cannot be serialized.
    ///
    /// ```
    /// #[derive(serde::Serialize)]
    /// struct Mail { to: String }
    /// let job = kairos_cluster::Job::new("mail").json(&Mail { to: "a@example.com".into() })?;
    /// # Ok::<(), kairos_cluster::Error>(())
    /// ```
    pub fn json<T: serde::Serialize>(self, value: &T) -> Result<Job> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::new(ErrorKind::BadJob { why: format!("payload does not serialize: {e}") }))?;
        Ok(self.payload(bytes))
    }

    /// The priority: more urgent jobs are claimed first, across every node.
    pub fn priority(mut self, p: Priority) -> Job {
        self.priority = p;
        self
    }

    /// Due `delay` after Redis receives the job (Redis's clock, so node clocks do not
    /// matter).
    pub fn after(mut self, delay: Duration) -> Job {
        self.when = When::After(delay);
        self
    }

    /// Due at wall-clock time `t` (compared with Redis's clock).
    pub fn at(mut self, t: SystemTime) -> Job {
        self.when = When::At(t);
        self
    }

    /// Retries on failure under `policy`; the backoff waits in Redis, not in a node. All
    /// of the policy is kept: its delays, attempt limit, jitter, panic rule and the
    /// priority of its retries ([`RetryPolicy::retry_priority`], which then becomes the
    /// job's priority).
    pub fn retry(mut self, policy: RetryPolicy) -> Job {
        self.retry = Some(policy);
        self
    }

    /// The job must start within `d` of being enqueued, or it ends `expired`.
    pub fn deadline_after(mut self, d: Duration) -> Job {
        self.deadline = Some(When::After(d));
        self
    }

    /// The job must start before wall-clock time `t`, or it ends `expired`.
    pub fn deadline_at(mut self, t: SystemTime) -> Job {
        self.deadline = Some(When::At(t));
        self
    }

    /// A second enqueue with the same key within [`DEFAULT_IDEMPOTENCY_WINDOW`] returns the
    /// first job's id and enqueues nothing.
    pub fn idempotency_key(self, key: impl Into<String>) -> Job {
        self.idempotency_key_for(key, DEFAULT_IDEMPOTENCY_WINDOW)
    }

    /// [`idempotency_key`](Self::idempotency_key) with its own window.
    pub fn idempotency_key_for(mut self, key: impl Into<String>, window: Duration) -> Job {
        self.idempotency = Some((key.into(), window));
        self
    }

    /// The job's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// True if enqueueing this job twice has the effect of once.
    pub(crate) fn is_idempotent(&self) -> bool {
        self.idempotency.is_some()
    }

    /// The 8 script arguments of ENQUEUE (see `scripts/enqueue.lua`), after checks.
    pub(crate) fn to_args(&self, max_payload: usize) -> Result<[Vec<u8>; 8]> {
        let bad = |why: String| Err(Error::new(ErrorKind::BadJob { why }));
        if self.kind.is_empty() || self.kind.len() > 200 {
            return bad(format!("kind {:?} must be 1 to 200 bytes", self.kind));
        }
        if self.payload.len() > max_payload {
            return bad(format!(
                "payload of {} bytes is over the queue's cap of {max_payload} bytes",
                self.payload.len()
            ));
        }
        if let Some(p) = &self.retry {
            if let Err(e) = p.validate() {
                return bad(format!("retry policy: {e}"));
            }
        }
        let when = |w: &When| -> Result<Vec<u8>> {
            Ok(match w {
                When::Now => Vec::new(),
                When::After(d) => format!("d{}", millis(*d)?).into_bytes(),
                When::At(t) => {
                    let since = t.duration_since(UNIX_EPOCH).map_err(|_| {
                        Error::new(ErrorKind::BadJob {
                            why: "a time before 1970 cannot be a due time".into(),
                        })
                    })?;
                    format!("a{}", millis(since)?).into_bytes()
                }
            })
        };
        let (key, window) = match &self.idempotency {
            Some((k, w)) => {
                if k.is_empty() {
                    return bad("an idempotency key must not be empty".into());
                }
                if w.is_zero() {
                    return bad("an idempotency window must be longer than zero".into());
                }
                (k.clone().into_bytes(), millis(*w)?.max(1).to_string().into_bytes())
            }
            None => (Vec::new(), b"0".to_vec()),
        };
        Ok([
            self.kind.clone().into_bytes(),
            self.payload.clone(),
            self.priority.level().to_string().into_bytes(),
            when(&self.when)?,
            self.deadline.as_ref().map(when).transpose()?.unwrap_or_default(),
            self.retry.as_ref().map(crate::retry_spec::encode).unwrap_or_default().into_bytes(),
            key,
            window,
        ])
    }
}

/// Milliseconds of `d`, refusing what Redis's doubles cannot hold exactly.
fn millis(d: Duration) -> Result<u64> {
    let ms = d.as_millis();
    if ms > (1u128 << 50) {
        return Err(Error::new(ErrorKind::BadJob {
            why: format!("{d:?} is too far away (more than 35,000 years)"),
        }));
    }
    Ok(ms as u64)
}

/// What Redis knows of one job, read by [`Queue::status`](crate::Queue::status).
///
/// ```no_run
/// # let queue = kairos_cluster::Client::connect("redis://127.0.0.1/")?.queue("q")?;
/// let id = queue.enqueue(kairos_cluster::Job::new("noop"))?;
/// if let Some(s) = queue.status(id)? {
///     println!("{:?} after {} attempts, last error {:?}", s.state, s.attempts, s.last_error);
/// }
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStatus {
    /// The job's id.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Its kind.
    pub kind: String,
    /// Its priority (`None` if the record's priority field is corrupt: such a job is
    /// dead-lettered with the reason in `last_error`).
    pub priority: Option<Priority>,
    /// How many times a node claimed it (each claim is one start).
    pub attempts: u32,
    /// How many attempts failed.
    pub failures: u32,
    /// How many leases ran out before the node answered (crashes, hangs).
    pub lost_leases: u32,
    /// The last error a handler reported, if any.
    pub last_error: Option<String>,
    /// The handler's result, kept while the finished record is retained.
    pub result: Option<Vec<u8>>,
    /// The node that holds it (while active) or last held it.
    pub node: Option<String>,
    /// When it was enqueued (Redis's clock, epoch ms).
    pub created_ms: u64,
    /// When it reached its final state (epoch ms).
    pub finished_ms: Option<u64>,
    /// When it is due, while delayed (epoch ms).
    pub due_ms: Option<u64>,
}

impl JobStatus {
    /// Builds a status from a job hash; `None` if the hash is missing or malformed.
    pub(crate) fn from_hash(id: JobId, h: &HashMap<String, Vec<u8>>) -> Option<JobStatus> {
        let text = |k: &str| h.get(k).map(|v| String::from_utf8_lossy(v).into_owned());
        let num = |k: &str| text(k).and_then(|v| v.parse::<u64>().ok());
        let state = JobState::parse(&text("st")?)?;
        let priority = num("pr").and_then(|p| u8::try_from(p).ok()).and_then(|p| Priority::new(p).ok());
        Some(JobStatus {
            id,
            state,
            kind: text("k").unwrap_or_default(),
            priority,
            attempts: num("a").unwrap_or(0) as u32,
            failures: num("fl").unwrap_or(0) as u32,
            lost_leases: num("lo").unwrap_or(0) as u32,
            last_error: text("err"),
            result: h.get("res").cloned(),
            node: text("n"),
            created_ms: num("c").unwrap_or(0),
            finished_ms: num("f"),
            due_ms: num("due"),
        })
    }
}
