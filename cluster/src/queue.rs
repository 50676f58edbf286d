//! The producer's side of a queue: enqueue, cancel, status, counts, wait, dead letters.
//! No runtime is needed; every call is one round trip (one script or one read).

use crate::connection::{Client, Reconnecting};
use crate::counts::QueueCounts;
use crate::error::{Error, ErrorKind, Result};
use crate::job::{Job, JobId, JobState, JobStatus, DEFAULT_MAX_PAYLOAD};
use crate::queue_name::QueueName;
use crate::scripts::SCRIPTS;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One queue in Redis, as a producer (or an operator) sees it. Cloning it opens a second
/// connection on first use; one `Queue` may be shared by threads (calls take turns on its
/// connection).
///
/// ```no_run
/// use kairos_cluster::{Client, Job};
/// use kairos_rt::Priority;
/// use std::time::Duration;
///
/// let queue = Client::connect("redis://127.0.0.1:6379/")?.queue("emails")?;
/// let id = queue.enqueue(Job::new("send").payload(b"hello".to_vec()).priority(Priority::HIGH))?;
/// let status = queue.wait(id, Duration::from_secs(30))?;
/// println!("job {id} ended {:?}", status.state);
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
pub struct Queue {
    name: QueueName,
    prefix: String,
    conn: Reconnecting,
    max_payload: usize,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("name", &self.name.as_str())
            .field("redis", &self.conn.client().url())
            .field("max_payload", &self.max_payload)
            .finish()
    }
}

/// How a queue's calls name it in their errors.
fn scope_of(name: &QueueName) -> String {
    format!("queue {:?}", name.as_str())
}

impl Clone for Queue {
    fn clone(&self) -> Queue {
        Queue {
            name: self.name.clone(),
            prefix: self.prefix.clone(),
            conn: Reconnecting::new(self.conn.client().clone(), scope_of(&self.name)),
            max_payload: self.max_payload,
        }
    }
}

/// What one enqueue did.
///
/// ```no_run
/// # use kairos_cluster::Job;
/// # let queue = kairos_cluster::Client::connect("redis://127.0.0.1/")?.queue("q")?;
/// let out = queue.enqueue_batch(&[Job::new("mail").idempotency_key("welcome-42"), Job::new("mail")])?;
/// if out[0].duplicate {
///     println!("welcome mail already queued as job {}", out[0].id);
/// }
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Enqueued {
    /// The job's id (the first job's, for a duplicate).
    pub id: JobId,
    /// True if the idempotency key was already taken, so nothing new was enqueued.
    pub duplicate: bool,
}

/// A node as its heartbeat describes it ([`Queue::nodes`]).
///
/// ```no_run
/// # let queue = kairos_cluster::Client::connect("redis://127.0.0.1/")?.queue("q")?;
/// for n in queue.nodes()? {
///     println!("{} runs {} jobs", n.id, n.about["running"]);
/// }
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NodeInfo {
    /// The node's id.
    pub id: String,
    /// Its heartbeat runs out at this instant (Redis's clock, epoch ms) unless renewed.
    pub alive_until_ms: u64,
    /// What it said of itself: `pid`, `running`, `held`, `concurrency`, `workers`.
    pub about: serde_json::Value,
}

/// What [`Queue::cancel`] did.
///
/// ```no_run
/// # use kairos_cluster::{CancelOutcome, Job};
/// # use std::time::Duration;
/// # let queue = kairos_cluster::Client::connect("redis://127.0.0.1/")?.queue("q")?;
/// let id = queue.enqueue(Job::new("reminder").after(Duration::from_secs(3600)))?;
/// assert_eq!(queue.cancel(id)?, CancelOutcome::Cancelled);
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job is cancelled and will never start: it was delayed or ready, or an earlier
    /// cancel had already ended it (a cancel is idempotent, so a call that Redis applied
    /// but whose reply was lost, and that was sent again, still reports `Cancelled`).
    Cancelled,
    /// A node is running it; it is not interrupted.
    Running,
    /// It had already reached another final state (completed, dead or expired).
    AlreadyFinished,
    /// No such job (never enqueued, or its record was trimmed after retention).
    NotFound,
}

/// How many dead entries one REQUEUE step looks at (`scripts/requeue.lua`).
const REQUEUE_STEP: u64 = 10_000;

impl Queue {
    pub(crate) fn new(client: Client, name: QueueName) -> Result<Queue> {
        Ok(Queue {
            prefix: name.prefix(),
            conn: Reconnecting::new(client, scope_of(&name)),
            name,
            max_payload: DEFAULT_MAX_PAYLOAD,
        })
    }

    /// Refuse payloads over `bytes` (default [`DEFAULT_MAX_PAYLOAD`], 1 MiB).
    pub fn with_max_payload(mut self, bytes: usize) -> Queue {
        self.max_payload = bytes;
        self
    }

    /// The queue's name.
    pub fn name(&self) -> &QueueName {
        &self.name
    }

    /// The client it talks through.
    pub fn client(&self) -> &Client {
        self.conn.client()
    }

    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Enqueues one job and returns its id (the first job's id if its idempotency key
    /// was taken).
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_job`] for a job refused before reaching Redis (payload over the
    /// cap, invalid retry policy, empty kind); a Redis error otherwise. A job without an
    /// idempotency key is not sent twice on a lost connection: the error is returned and
    /// the job may or may not be in Redis (give jobs keys where that matters).
    pub fn enqueue(&self, job: Job) -> Result<JobId> {
        Ok(self.enqueue_batch(std::slice::from_ref(&job))?[0].id)
    }

    /// Enqueues `jobs` in one round trip and one atomic step, in order.
    ///
    /// # Errors
    ///
    /// As [`enqueue`](Self::enqueue); a refused job refuses the whole batch before anything
    /// is sent.
    pub fn enqueue_batch(&self, jobs: &[Job]) -> Result<Vec<Enqueued>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::with_capacity(jobs.len() * 8);
        for job in jobs {
            args.extend(job.to_args(self.max_payload)?);
        }
        let repeatable = jobs.iter().all(Job::is_idempotent);
        let raw: Vec<(u64, u8)> = self.conn.with("enqueue", repeatable, |c| {
            let mut inv = SCRIPTS.enqueue.key(&self.prefix);
            for a in &args {
                inv.arg(a.as_slice());
            }
            inv.invoke(c)
        })?;
        Ok(raw.into_iter().map(|(id, dup)| Enqueued { id: JobId(id), duplicate: dup == 1 }).collect())
    }

    /// Cancels a job that has not started.
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn cancel(&self, id: JobId) -> Result<CancelOutcome> {
        let r: i64 = self.conn.with(&format!("cancel of job {}", id.0), true, |c| {
            SCRIPTS.cancel.key(&self.prefix).arg(id.0).arg("1").invoke(c)
        })?;
        Ok(match r {
            1 => CancelOutcome::Cancelled,
            2 => CancelOutcome::Running,
            0 => CancelOutcome::AlreadyFinished,
            _ => CancelOutcome::NotFound,
        })
    }

    /// What Redis knows of job `id`; `None` if there is no such job (or its record was
    /// trimmed after its retention).
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn status(&self, id: JobId) -> Result<Option<JobStatus>> {
        let key = format!("{}j:{}", self.prefix, id.0);
        let h: HashMap<String, Vec<u8>> = self
            .conn
            .with(&format!("status of job {}", id.0), true, |c| redis::cmd("HGETALL").arg(&key).query(c))?;
        if h.is_empty() {
            return Ok(None);
        }
        Ok(JobStatus::from_hash(id, &h))
    }

    /// Blocks until job `id` reaches a final state, or `timeout` passes. It follows the
    /// queue's event stream from before its first look at the job, so it wakes as soon as
    /// a node reports (with the node's events on, the default; without them it looks at
    /// the job every 100 ms).
    ///
    /// # Errors
    ///
    /// [`Error::is_wait_timed_out`] if the job is still live at the timeout;
    /// [`Error::is_bad_job`] if there is no such job; a Redis error.
    pub fn wait(&self, id: JobId, timeout: Duration) -> Result<JobStatus> {
        let until = crate::deadline::deadline_after(timeout);
        let ev_key = format!("{}ev", self.prefix);
        // Where the stream stands before the first status read: an event written after
        // that read is after this id, so no report between two reads goes unseen ("$"
        // would only see those after each XREAD began).
        let mut last = self.last_event_id_for(&format!("wait for job {id}"))?;
        loop {
            let left = match self.final_status_or_time_left(id, until)? {
                Ok(status) => return Ok(status),
                Err(left) => left,
            };
            // Block on the stream for news (any job's), at most 100 ms at a time, then
            // read the status again.
            let block = left.min(Duration::from_millis(100)).as_millis().max(1) as u64;
            let reply: redis::Value = self.conn.with(&format!("wait for job {id}"), true, |c| {
                redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(block)
                    .arg("COUNT")
                    .arg(100)
                    .arg("STREAMS")
                    .arg(&ev_key)
                    .arg(&last)
                    .query(c)
            })?;
            if let Some(id) = crate::events::last_id(&reply) {
                last = id;
            }
        }
    }

    /// [`wait`](Self::wait) for a future on a kairos runtime: it checks the job's status,
    /// then sleeps on the runtime's timer (1 ms, doubling to 50 ms) between checks, so it
    /// holds no worker while it waits (each check is one short blocking round trip).
    ///
    /// ```no_run
    /// # use kairos_cluster::{Client, Job};
    /// # use std::time::Duration;
    /// let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
    /// let queue = Client::connect("redis://127.0.0.1/")?.queue("q")?;
    /// let id = queue.enqueue(Job::new("noop"))?;
    /// let status = rt.block_on(queue.wait_async(id, Duration::from_secs(10)))?;
    /// # Ok::<(), kairos_cluster::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Panics
    ///
    /// Outside a kairos task or `block_on` (it needs the runtime's timer).
    pub async fn wait_async(&self, id: JobId, timeout: Duration) -> Result<JobStatus> {
        let until = crate::deadline::deadline_after(timeout);
        let mut pause = Duration::from_millis(1);
        loop {
            let left = match self.final_status_or_time_left(id, until)? {
                Ok(status) => return Ok(status),
                Err(left) => left,
            };
            kairos_rt::sleep(pause.min(left)).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// The nodes registered on this queue with their last heartbeat's description (pid,
    /// jobs running and held, concurrency, workers), most recent deadline last.
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let (ids, info): (Vec<(String, u64)>, HashMap<String, String>) =
            self.conn.with("nodes", true, |c| {
                redis::pipe()
                    .cmd("ZRANGE")
                    .arg(format!("{}nodes", self.prefix))
                    .arg(0)
                    .arg(-1)
                    .arg("WITHSCORES")
                    .cmd("HGETALL")
                    .arg(format!("{}nodes-info", self.prefix))
                    .query(c)
            })?;
        Ok(ids
            .into_iter()
            .map(|(id, alive_until_ms)| {
                let about = info
                    .get(&id)
                    .and_then(|j| serde_json::from_str(j).ok())
                    .unwrap_or(serde_json::Value::Null);
                NodeInfo { id, alive_until_ms, about }
            })
            .collect())
    }

    /// One step of a wait: the job's status if it is final, or the time left before
    /// `until`; an error if there is no such job or no time is left.
    fn final_status_or_time_left(&self, id: JobId, until: Instant) -> Result<Result<JobStatus, Duration>> {
        match self.status(id)? {
            None => Err(Error::new(ErrorKind::BadJob { why: format!("no job {id} in queue {}", self.name) })),
            Some(s) if s.state.is_final() => Ok(Ok(s)),
            Some(_) => match until.saturating_duration_since(Instant::now()) {
                left if left.is_zero() => Err(Error::new(ErrorKind::WaitTimedOut { id: id.0 })),
                left => Ok(Err(left)),
            },
        }
    }

    /// Counts by state and by priority, live nodes, and the exact cumulative counters.
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn counts(&self) -> Result<QueueCounts> {
        let raw: Vec<redis::Value> =
            self.conn.with("counts", true, |c| SCRIPTS.counts.key(&self.prefix).invoke(c))?;
        QueueCounts::parse(&raw).ok_or_else(|| {
            Error::new(ErrorKind::Redis {
                url: self.client().url().into(),
                what: "counts (bad reply)".into(),
            })
        })
    }

    /// Up to `limit` dead jobs, oldest first, with their last errors. A member of the dead
    /// set that is no job id (CLAIM dead-letters whatever the ready set held that is no
    /// job) is left out, and counts against `limit`.
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn dead(&self, limit: usize) -> Result<Vec<JobStatus>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = format!("{}dead", self.prefix);
        let members: Vec<String> = self.conn.with("dead", true, |c| {
            // The last index; -1 (the end) for a limit past i64's range.
            let last = i64::try_from(limit - 1).unwrap_or(-1);
            redis::cmd("ZRANGE").arg(&key).arg(0).arg(last).query(c)
        })?;
        let mut out = Vec::with_capacity(members.len());
        // A member that is no job id (CLAIM dead-letters whatever the ready set held that
        // is no job) has no status to show: it is left out.
        for id in members.iter().filter_map(|m| m.parse().ok()) {
            if let Some(s) = self.status(JobId(id))? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Moves dead jobs back to ready (all of them if `ids` is empty), with their failure
    /// counts reset. Returns how many moved. Dead entries that are no job (see
    /// [`dead`](Self::dead)) stay where they are. All of them are moved 10,000 per atomic
    /// step.
    ///
    /// # Errors
    ///
    /// A Redis error (the steps before it were applied).
    pub fn requeue_dead(&self, ids: &[JobId]) -> Result<u64> {
        if !ids.is_empty() {
            let (moved, _kept): (u64, u64) = self.conn.with("requeue", true, |c| {
                let mut inv = SCRIPTS.requeue.key(&self.prefix);
                for id in ids {
                    inv.arg(id.0);
                }
                inv.invoke(c)
            })?;
            return Ok(moved);
        }
        // Each step looks at the dead set from `rank` on; what it keeps stays in front.
        let (mut total, mut rank) = (0, 0u64);
        loop {
            let (moved, kept): (u64, u64) = self
                .conn
                .with("requeue", true, |c| SCRIPTS.requeue.key(&self.prefix).arg("*").arg(rank).invoke(c))?;
            total += moved;
            rank += kept;
            if moved + kept < REQUEUE_STEP {
                return Ok(total);
            }
        }
    }

    /// The live state of job `id`, if it has one (`None` for final or unknown jobs).
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn live_state(&self, id: JobId) -> Result<Option<JobState>> {
        Ok(self.status(id)?.map(|s| s.state).filter(|s| !s.is_final()))
    }

    /// How many times the built-in `record` kind ran each job (`{queue}:record`).
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn records(&self) -> Result<HashMap<u64, u64>> {
        let key = self.name.record_key();
        self.conn.with("records", true, |c| redis::cmd("HGETALL").arg(&key).query(c))
    }

    pub(crate) fn conn(&self) -> &Reconnecting {
        &self.conn
    }
}
