//! The state a node's two threads and its running jobs share, and the path of one claimed
//! job: spawned on the runtime at its priority, run (or handed back if the node is
//! stopping), judged (completed, retry after a backoff, dead), and sent to the keeper.
//!
//! Invariants:
//! - `held` has exactly the jobs this node claimed and has not had an answer for from
//!   Redis; the keeper renews their leases and removes them when their ack is answered.
//! - `running` counts claimed jobs whose outcome has not been produced yet; a job's slot
//!   is freed (and the fetcher woken) the moment its outcome is produced, even before its
//!   ack reaches Redis.
//! - Every claimed job produces exactly one outcome: the task's guard produces "handed
//!   back" if the task is dropped without running (a runtime that refused or dropped it).
//! - A job waiting in the runtime's queues has a [`Start`] flag in `queued`, taken once:
//!   by its task as it starts (then it runs, or hands back if the node is stopping), or
//!   by the node's stop ([`NodeState::hand_back_queued`]), which hands it back at once
//!   (its task then does nothing), so a job that never started is never left to its
//!   lease, however long the running ones hold the workers.

use super::handler::{run_sync, CatchPanic, Handler, JobContext, RunEnd};
use super::report::Counters;
use super::NodeConfig;
use crate::job::JobId;
use crate::retry_spec;
use crossbeam_channel::Sender;
use kairos_rt::{Priority, RetryPolicy};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};

/// What Redis is told about one job (ACK's verdicts, see `scripts/ack.lua`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Completed(Vec<u8>),
    /// Another attempt after this many ms, at this priority if the policy names one
    /// ([`RetryPolicy::retry_priority`](kairos_rt::RetryPolicy::retry_priority)).
    RetryAfterMs(u64, Option<Priority>, String),
    Dead(String),
    HandBack,
}

/// A claim's fencing token: the job's attempt counter, which CLAIM raised (Redis's `a`),
/// and the serial number of the CLAIM call on this node (its `cs`), counted from a random
/// start for each run of the node, so unique for its life and, but for a chance of about
/// one in 2^64 per claim, across runs of nodes with the same id. ACK and EXTEND apply only while the job's hash still holds both (and
/// this node's id): the attempt tells this claim from a later one of the same job, and
/// the serial tells it from a claim of *another* job with the same id, after Redis lost
/// its data (restarted empty, ids start again at 1) while this node ran the old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub attempt: u64,
    pub claim: u64,
}

/// One job's outcome on its way to Redis.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub id: JobId,
    pub token: Token,
    pub verdict: Verdict,
}

/// A job as CLAIM returned it.
#[derive(Debug, Clone)]
pub(crate) struct Claimed {
    pub id: JobId,
    pub token: Token,
    pub kind: String,
    pub payload: Vec<u8>,
    pub priority: Priority,
    pub failures: u32,
    pub retry: String,
}

pub(crate) struct NodeState {
    pub node_id: String,
    pub queue: String,
    pub config: NodeConfig,
    pub handlers: HashMap<String, Handler>,
    pub runtime: kairos_rt::Handle,
    pub held: Mutex<HashMap<JobId, Token>>,
    /// The claimed jobs whose tasks have not started, with their [`Start`] flags.
    pub queued: Mutex<HashMap<JobId, (Token, Arc<Start>)>>,
    /// The last CLAIM call's serial (see [`Token`]): a random start, plus one per call.
    pub claims: AtomicU64,
    pub running: AtomicUsize,
    /// `true` once the node gave up on jobs still running at the end of its grace: their
    /// outcomes are then dropped (they were counted `unacked`; their leases run out).
    pub slot_freed: (Mutex<bool>, Condvar),
    pub stopping: AtomicBool,
    pub outcomes: Sender<Outcome>,
    pub counters: Counters,
}

impl NodeState {
    /// Free slots now.
    pub(crate) fn free_slots(&self) -> usize {
        self.config.concurrency.saturating_sub(self.running.load(SeqCst))
    }

    /// Hands `job` to the runtime at its priority.
    pub(crate) fn start(self: &Arc<Self>, job: Claimed) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id, job.token);
        self.running.fetch_add(1, SeqCst);
        let start = Arc::new(Start::default());
        self.queued.lock().unwrap_or_else(|p| p.into_inner()).insert(job.id, (job.token, start.clone()));
        let guard = OutcomeGuard { state: self.clone(), id: job.id, token: job.token, start, sent: false };
        let priority = job.priority;
        match self.handlers.get(&job.kind).cloned() {
            None => {
                // Judged here, at once: the job is taken from `queued` as if started.
                let why = format!("no handler for kind {:?} on node {}", job.kind, self.node_id);
                if let Some(guard) = guard.started() {
                    guard.send(Verdict::Dead(why));
                }
            }
            Some(Handler::Sync(f)) => {
                let ctx = self.context(&job);
                drop(self.runtime.spawn(priority, move || {
                    let Some(guard) = guard.started() else { return };
                    if guard.state.stopping.load(SeqCst) {
                        return guard.send(Verdict::HandBack);
                    }
                    let end = run_sync(&*f, &ctx);
                    let verdict = guard.state.judge(&job, end);
                    guard.send(verdict);
                }));
            }
            Some(Handler::Async(f)) => {
                let ctx = self.context(&job);
                drop(self.runtime.spawn_future(priority, async move {
                    let Some(guard) = guard.started() else { return };
                    if guard.state.stopping.load(SeqCst) {
                        return guard.send(Verdict::HandBack);
                    }
                    // The closure that makes the future may panic too (a payload it
                    // unwraps): that is the handler failing, like a panic in the future.
                    let end = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(ctx))) {
                        Ok(inner) => CatchPanic { inner }.await,
                        Err(p) => RunEnd::Panicked(super::handler::panic_message(p)),
                    };
                    let verdict = guard.state.judge(&job, end);
                    guard.send(verdict);
                }));
            }
        }
    }

    fn context(&self, job: &Claimed) -> JobContext {
        JobContext {
            id: job.id,
            kind: job.kind.clone(),
            payload: job.payload.clone(),
            priority: job.priority,
            attempt: job.token.attempt.min(u32::MAX as u64) as u32,
            queue: self.queue.clone(),
            node: self.node_id.clone(),
        }
    }

    /// Turns a run's end into what Redis should do: completed, another attempt after the
    /// job's backoff (its retry policy; none means one attempt), or dead.
    fn judge(&self, job: &Claimed, end: RunEnd) -> Verdict {
        let policy = if job.retry.is_empty() { None } else { retry_spec::decode(&job.retry) };
        let mut panicked = false;
        let (message, retryable) = match end {
            RunEnd::Returned(Ok(bytes)) => {
                // A result over the cap is not kept (the job still completed): Redis
                // memory stays bounded and the ack stays deliverable.
                let keep = if self.config.keep_results && bytes.len() <= self.config.max_result {
                    bytes
                } else {
                    Vec::new()
                };
                return Verdict::Completed(keep);
            }
            RunEnd::Returned(Err(e)) => (e.message().to_string(), e.is_retryable()),
            RunEnd::Panicked(msg) => {
                self.counters.panicked.fetch_add(1, SeqCst);
                panicked = true;
                // Retried only if the policy says so (`RetryPolicy::retry_on_panic`,
                // off by default, as in the runtime).
                (format!("handler panicked: {msg}"), policy.as_ref().is_some_and(RetryPolicy::retries_panics))
            }
        };
        let message = cap_message(message);
        let failures = job.failures + 1;
        match policy {
            Some(p) if retryable && failures < p.attempts_limit() => {
                let delay = retry_spec::jittered_delay(&p, failures + 1);
                Verdict::RetryAfterMs(delay.as_millis().min(1 << 50) as u64, p.retries_at(), message)
            }
            None if !job.retry.is_empty() => {
                Verdict::Dead(format!("{message} (and its retry spec {:?} is corrupt)", job.retry))
            }
            Some(_) if panicked && !retryable => {
                Verdict::Dead(format!("{message} (panics are not retried: RetryPolicy::retry_on_panic)"))
            }
            _ if !retryable => Verdict::Dead(format!("{message} (fatal)")),
            _ => Verdict::Dead(message),
        }
    }
}

/// Who took a queued job: its task, as it started, or the node's stop, which handed it
/// back. Taken once (compare-and-swap from `QUEUED`).
#[derive(Debug, Default)]
pub(crate) struct Start(AtomicU8);

impl Start {
    const QUEUED: u8 = 0;
    const STARTED: u8 = 1;
    const HANDED_BACK: u8 = 2;

    fn take(&self, to: u8) -> bool {
        self.0.compare_exchange(Self::QUEUED, to, SeqCst, SeqCst).is_ok()
    }
}

impl NodeState {
    /// The stop's part of the [`Start`] protocol: every claimed job whose task has not
    /// started is handed back now (a task that starts later does nothing), so it goes
    /// back to ready at once, however long the running jobs keep the workers.
    pub(crate) fn hand_back_queued(&self) {
        let queued: Vec<(JobId, (Token, Arc<Start>))> =
            self.queued.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        for (id, (token, start)) in queued {
            if start.take(Start::HANDED_BACK) {
                self.deliver(id, token, Verdict::HandBack);
            }
        }
    }

    /// Produces job `id`'s outcome: to the keeper, and its slot freed; dropped if the
    /// node abandoned its running jobs.
    fn deliver(&self, id: JobId, token: Token, verdict: Verdict) {
        let (lock, cv) = &self.slot_freed;
        let abandoned = lock.lock().unwrap_or_else(|p| p.into_inner());
        if *abandoned {
            return;
        }
        // The keeper outlives every job that is not abandoned (it exits only once
        // `running` is zero), so the channel is open.
        let _ = self.outcomes.send(Outcome { id, token, verdict });
        self.running.fetch_sub(1, SeqCst);
        drop(abandoned);
        cv.notify_all();
    }
}

/// Sends exactly one outcome for its job: the one given, or "handed back" if dropped
/// unsent (the task never ran); none if the node's stop handed the job back first.
struct OutcomeGuard {
    state: Arc<NodeState>,
    id: JobId,
    token: Token,
    start: Arc<Start>,
    sent: bool,
}

impl OutcomeGuard {
    /// The task starts: takes the job, or `None` (and no outcome from this guard) if the
    /// node's stop handed it back already.
    fn started(mut self) -> Option<OutcomeGuard> {
        let mine = self.start.take(Start::STARTED);
        self.forget_queued();
        if !mine {
            self.sent = true;
            return None;
        }
        Some(self)
    }

    /// Takes this job's entry out of `queued` (if it is still this claim's).
    fn forget_queued(&self) {
        let mut queued = self.state.queued.lock().unwrap_or_else(|p| p.into_inner());
        if queued.get(&self.id).is_some_and(|(_, s)| Arc::ptr_eq(s, &self.start)) {
            queued.remove(&self.id);
        }
    }

    fn send(mut self, verdict: Verdict) {
        self.sent = true;
        self.state.deliver(self.id, self.token, verdict);
    }
}

impl Drop for OutcomeGuard {
    fn drop(&mut self) {
        if self.sent {
            return;
        }
        // Dropped unsent: the task never ran (the runtime refused or dropped it), or
        // something panicked past the handler's own guard. A hand-back must not be the
        // answer to a panic, or a job that always panics would come back forever. A job
        // the node's stop handed back has its outcome already.
        let never_started = self.start.take(Start::HANDED_BACK);
        self.forget_queued();
        let verdict = if never_started {
            Verdict::HandBack
        } else if self.start.0.load(SeqCst) == Start::STARTED {
            Verdict::RetryAfterMs(1000, None, "the node panicked while running the job".into())
        } else {
            return;
        };
        self.state.deliver(self.id, self.token, verdict);
    }
}

/// The longest error message kept in Redis (in the job's record and in its event).
pub(crate) const MAX_ERROR_BYTES: usize = 4096;

/// `m` cut to [`MAX_ERROR_BYTES`] at a character boundary, saying how much was cut.
pub(crate) fn cap_message(mut m: String) -> String {
    if m.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !m.is_char_boundary(end) {
            end -= 1;
        }
        let cut = m.len() - end;
        m.truncate(end);
        m.push_str(&format!("... ({cut} more bytes cut)"));
    }
    m
}
