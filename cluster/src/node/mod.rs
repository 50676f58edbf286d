//! Nodes: processes that claim jobs from a queue and run them on a kairos runtime.
//!
//! A node is two threads plus the runtime it is given:
//!
//! ```text
//!            CLAIM (reap, promote, pop n, lease)         ACK batch / EXTEND / HEARTBEAT
//!  Redis  <──────────────────────────────  fetcher   keeper  ──────────────────────────> Redis
//!    │ wake (pub/sub)                         │          ^
//!    └────────────────────────────────────────┘          │ outcomes (channel)
//!                                             │ spawn at the job's priority
//!                                             v          │
//!                                     kairos runtime: handler runs on a worker
//! ```
//!
//! - [`fetcher`]: claims at most as many jobs as the node has free slots (`concurrency`
//!   minus the jobs running), so a node never hoards work another node could start, and
//!   priority order holds across nodes: every claim takes the most urgent ready jobs.
//! - [`state`]: a claimed job runs on the runtime at its own priority; its outcome
//!   (completed, retry after its backoff, dead) goes to the keeper; a job that reaches a
//!   worker after the node began stopping is handed back unstarted.
//! - [`keeper`]: delivers outcomes in batches, renews leases, heartbeats.
//!
//! A stop ([`RunningNode::shutdown`]) stops claiming, lets running jobs finish within a
//! grace, hands back what has not started, delivers every outcome, and returns a
//! [`NodeReport`] that accounts for every claimed job.

pub(crate) mod builtin;
mod fetcher;
mod handler;
mod keeper;
mod report;
mod state;

pub use handler::{BoxJobFuture, JobContext, JobError, JobResult};
pub use report::NodeReport;

use crate::connection::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::queue::Queue;
use crate::queue_name::QueueName;
use handler::Handler;
use state::NodeState;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A node's settings (see the [`NodeBuilder`] methods for each).
#[derive(Clone, Debug)]
pub(crate) struct NodeConfig {
    pub concurrency: usize,
    pub lease: Duration,
    pub max_lost_leases: u32,
    pub events: bool,
    pub keep_results: bool,
    pub keep_finished: u64,
    pub keep_finished_for: Duration,
    pub keep_dead: u64,
    pub keep_dead_for: Duration,
    pub max_payload: usize,
    pub max_result: usize,
    pub max_job_time: Duration,
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            concurrency: 32,
            lease: Duration::from_secs(30),
            max_lost_leases: 5,
            events: true,
            keep_results: true,
            keep_finished: 10_000,
            keep_finished_for: Duration::from_secs(3600),
            keep_dead: 100_000,
            keep_dead_for: Duration::from_secs(7 * 24 * 3600),
            max_payload: crate::job::DEFAULT_MAX_PAYLOAD,
            max_result: crate::job::DEFAULT_MAX_PAYLOAD,
            max_job_time: Duration::from_secs(600),
        }
    }
}

/// Builds a [`Node`]: the queue, the runtime, the handlers, the limits.
///
/// ```no_run
/// use kairos_cluster::{Client, JobError, Node};
/// use std::time::Duration;
///
/// let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
/// let queue = Client::connect("redis://127.0.0.1/")?.queue("emails")?;
/// let node = Node::builder(queue, rt.handle())
///     .concurrency(64)
///     .lease(Duration::from_secs(10))
///     .handler("send", |job| {
///         let to = job.text()?;
///         if to.is_empty() { return Err(JobError::fatal("no recipient")); }
///         Ok(Vec::new())
///     })
///     .start()?;
/// // ... later, on SIGTERM:
/// let report = node.shutdown(Duration::from_secs(30));
/// assert!(report.is_balanced());
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
pub struct NodeBuilder {
    queue: Queue,
    runtime: kairos_rt::Handle,
    config: NodeConfig,
    handlers: HashMap<String, Handler>,
    node_id: Option<String>,
}

impl std::fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<_> = self.handlers.keys().collect();
        kinds.sort();
        f.debug_struct("NodeBuilder")
            .field("queue", &self.queue)
            .field("config", &self.config)
            .field("kinds", &kinds)
            .finish()
    }
}

/// Entry point: [`Node::builder`] (see [`NodeBuilder`] for an example).
#[derive(Debug)]
pub struct Node;

impl Node {
    /// A builder for a node that runs jobs of `queue` on `runtime`.
    pub fn builder(queue: Queue, runtime: kairos_rt::Handle) -> NodeBuilder {
        let config = NodeConfig { concurrency: 2 * runtime.workers(), ..NodeConfig::default() };
        NodeBuilder { queue, runtime, config, handlers: HashMap::new(), node_id: None }
    }
}

/// The longest lease [`NodeBuilder::lease`] takes: the jobs of a node that dies wait a
/// lease before another node may take them over, so a longer one could strand them for
/// good (a running job's lease is renewed, so this does not bound a job's run time).
pub const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);

impl NodeBuilder {
    /// How many jobs may be claimed and unfinished at once (default: twice the runtime's
    /// workers). The node claims no more than this, so the rest stay in Redis for other
    /// nodes, in priority order. Raise it for jobs that mostly wait (timers, processes,
    /// I/O); for short CPU-bound jobs a larger value buys throughput (fewer round trips
    /// per job) at the cost of jobs waiting inside this node rather than in Redis.
    pub fn concurrency(mut self, n: usize) -> NodeBuilder {
        self.config.concurrency = n;
        self
    }

    /// How long a claim holds a job before another node may take it over (default 30 s;
    /// from 100 ms to 24 h, [`MAX_LEASE`]). The node renews the leases of running jobs
    /// every third of this, so only a node that died, hung or lost Redis for longer than
    /// a lease loses its jobs; a job may run longer than its lease.
    pub fn lease(mut self, d: Duration) -> NodeBuilder {
        self.config.lease = d;
        self
    }

    /// After this many lost leases a job is dead-lettered instead of run again
    /// (default 5): a job that crashes its node every time must not crash them all.
    pub fn max_lost_leases(mut self, n: u32) -> NodeBuilder {
        self.config.max_lost_leases = n;
        self
    }

    /// Whether to write events to the queue's stream (default on).
    pub fn events(mut self, on: bool) -> NodeBuilder {
        self.config.events = on;
        self
    }

    /// Whether to keep handlers' result bytes in finished records (default on).
    pub fn keep_results(mut self, on: bool) -> NodeBuilder {
        self.config.keep_results = on;
        self
    }

    /// Retention of completed, cancelled and expired records: at most `count`, none older
    /// than `age` (default 10,000 and one hour); the oldest go first (records that
    /// finished within the same millisecond in no set order). Trimming happens as nodes
    /// acknowledge: each acknowledgement removes as many records as it finished, plus up
    /// to 100 older ones. The counters stay exact regardless.
    pub fn keep_finished(mut self, count: u64, age: Duration) -> NodeBuilder {
        self.config.keep_finished = count;
        self.config.keep_finished_for = age;
        self
    }

    /// Retention of dead records (default 100,000 and 7 days).
    pub fn keep_dead(mut self, count: u64, age: Duration) -> NodeBuilder {
        self.config.keep_dead = count;
        self.config.keep_dead_for = age;
        self
    }

    /// Jobs with a larger payload are dead-lettered unrun, with the reason (default
    /// [`DEFAULT_MAX_PAYLOAD`](crate::DEFAULT_MAX_PAYLOAD), 1 MiB): a producer that skipped
    /// the queue's own cap, or wrote Redis by hand, cannot make a node allocate without
    /// bound. The claim measures the payload in Redis, so an oversized one is never sent
    /// to the node.
    pub fn max_payload(mut self, bytes: usize) -> NodeBuilder {
        self.config.max_payload = bytes;
        self
    }

    /// Results larger than this are not kept in the job's record (the job still
    /// completes; default 1 MiB). Error messages are always cut to 4 KiB. The built-in
    /// `command` kind fails a job whose output is over it (set it before
    /// [`builtin_kinds`](Self::builtin_kinds)).
    pub fn max_result(mut self, bytes: usize) -> NodeBuilder {
        self.config.max_result = bytes;
        self
    }

    /// The longest a built-in `sleep` or `command` job may ask to run (its payload's
    /// milliseconds or `timeout_ms`; default 10 minutes): longer requests are dead-lettered,
    /// so whoever writes to the queue cannot hold a slot for ever. Set it before
    /// [`builtin_kinds`](Self::builtin_kinds).
    pub fn max_job_time(mut self, d: Duration) -> NodeBuilder {
        self.config.max_job_time = d;
        self
    }

    /// The node's id in Redis (default `<hostname>-<pid>-<random>`).
    pub fn node_id(mut self, id: impl Into<String>) -> NodeBuilder {
        self.node_id = Some(id.into());
        self
    }

    /// Runs jobs of `kind` with `f` on a worker of the runtime. `f` returns the result
    /// bytes, or a [`JobError`]. A panic is caught and fails the job; it is retried only
    /// if the job's policy says so ([`RetryPolicy::retry_on_panic`](kairos_rt::RetryPolicy::retry_on_panic),
    /// off by default: a panic is a bug, which another attempt seldom fixes).
    pub fn handler<F>(mut self, kind: impl Into<String>, f: F) -> NodeBuilder
    where
        F: Fn(&JobContext) -> JobResult + Send + Sync + 'static,
    {
        self.handlers.insert(kind.into(), Handler::Sync(Arc::new(f)));
        self
    }

    /// Runs jobs of `kind` as futures made by `f`, polled on the runtime (for handlers
    /// that wait: timers, processes, other tasks).
    pub fn handler_async<F, Fut>(mut self, kind: impl Into<String>, f: F) -> NodeBuilder
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        let f = Arc::new(f);
        self.handlers
            .insert(kind.into(), Handler::Async(Arc::new(move |ctx| Box::pin(f(ctx)) as BoxJobFuture)));
        self
    }

    /// Registers the built-in kinds `noop`, `sleep`, `fail`, `record` and `stamp` (see the crate
    /// docs), and `command` for the programs in `allowed_programs` only.
    pub fn builtin_kinds(self, allowed_programs: &[String]) -> NodeBuilder {
        builtin::register(self, allowed_programs)
    }

    pub(crate) fn queue(&self) -> &Queue {
        &self.queue
    }

    pub(crate) fn job_time_limit(&self) -> Duration {
        self.config.max_job_time
    }

    pub(crate) fn result_limit(&self) -> usize {
        self.config.max_result
    }

    /// Checks the settings, connects, and starts the node's two threads.
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_config`] for a zero concurrency, a lease under 100 ms, no handler,
    /// or zero lost leases; a connection error if Redis cannot be reached now;
    /// [`Error::is_forbidden`] if an ACL refuses the scripts or the queue's wake channel
    /// (a node needs `~kairos:{q}:*`, `~{q}:record` for the `record` kind, and
    /// `&kairos:{q}:wake`).
    pub fn start(self) -> Result<RunningNode> {
        let bad = |why: &str| Err(Error::new(ErrorKind::BadConfig { why: why.to_string() }));
        if self.config.concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if self.config.lease < Duration::from_millis(100) {
            return bad("a lease must be at least 100 ms (it is renewed every third of it)");
        }
        if self.config.lease > MAX_LEASE {
            return bad(&format!(
                "a lease of {:?} is over the 24 h maximum: the jobs of a node that dies wait a lease \
                 before another node takes them (a job may run longer than its lease: it is renewed)",
                self.config.lease
            ));
        }
        if self.config.max_lost_leases == 0 {
            return bad("max_lost_leases must be at least 1");
        }
        if self.handlers.is_empty() {
            return bad("a node needs at least one handler");
        }
        let client = self.queue.client().clone();
        let mut conn = client.conn()?;
        client.check(&mut conn)?;
        // The wake channel too: an ACL that allows the keys but not the channel would
        // otherwise leave the node polling without a word.
        let wake = self.queue.name().wake_channel();
        redis::cmd("PUBLISH")
            .arg(&wake)
            .arg("hello")
            .query::<i64>(&mut conn)
            .map_err(|e| Error::from_redis(client.url(), "PUBLISH to the wake channel", e))?;
        drop(fetcher::subscribe(&client, self.queue.name())?);
        drop(conn);
        let node_id = self.node_id.unwrap_or_else(default_node_id);
        let (tx, rx) = crossbeam_channel::unbounded();
        let state = Arc::new(NodeState {
            node_id: node_id.clone(),
            queue: self.queue.name().as_str().to_string(),
            config: self.config,
            handlers: self.handlers,
            runtime: self.runtime,
            held: Mutex::new(HashMap::new()),
            queued: Mutex::new(HashMap::new()),
            // A random start: the serials of two runs of a node with the same id (restarted
            // under `--node-id`) do not meet, so a run never releases what an earlier one
            // still holds (see `Token`).
            claims: AtomicU64::new(fastrand::u64(..)),
            running: AtomicUsize::new(0),
            slot_freed: (Mutex::new(false), Condvar::new()),
            stopping: AtomicBool::new(false),
            outcomes: tx,
            counters: Default::default(),
        });
        let name: QueueName = self.queue.name().clone();
        let fetcher_done = Arc::new(AtomicBool::new(false));
        let give_up_at = Arc::new(Mutex::new(None));
        let keeper = keeper::Keeper {
            state: state.clone(),
            client: client.clone(),
            queue: name.clone(),
            outcomes: rx,
            fetcher_done: fetcher_done.clone(),
            give_up_at: give_up_at.clone(),
        };
        let keeper = spawn_thread(format!("kairos-keeper-{}", name), move || keeper.run())?;
        let st = state.clone();
        let (c, q) = (client.clone(), name.clone());
        let fetcher = spawn_thread(format!("kairos-fetch-{}", name), move || fetcher::run(st, c, q))?;
        Ok(RunningNode {
            state,
            client,
            queue: name,
            fetcher: Some(fetcher),
            keeper: Some(keeper),
            fetcher_done,
            give_up_at,
        })
    }
}

fn spawn_thread(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map_err(|e| Error::new(ErrorKind::BadConfig { why: format!("cannot start a node thread: {e}") }))
}

fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}-{:04x}", std::process::id(), fastrand::u16(..))
}

/// A started node. Stop it with [`shutdown`](Self::shutdown) to get its report; dropping
/// it stops it the same way with a 30 s grace.
///
/// ```no_run
/// # use kairos_cluster::{Client, Node};
/// # use std::time::Duration;
/// # let rt = kairos_rt::Runtime::new().unwrap();
/// # let queue = Client::connect("redis://127.0.0.1/")?.queue("q")?;
/// let node = Node::builder(queue, rt.handle()).handler("noop", |_| Ok(Vec::new())).start()?;
/// println!("{} running {} jobs; so far: {}", node.id(), node.running(), node.report());
/// let report = node.shutdown(Duration::from_secs(30));
/// assert!(report.is_balanced());
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
pub struct RunningNode {
    state: Arc<NodeState>,
    client: Client,
    queue: QueueName,
    fetcher: Option<JoinHandle<()>>,
    keeper: Option<JoinHandle<()>>,
    fetcher_done: Arc<AtomicBool>,
    give_up_at: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode")
            .field("node", &self.state.node_id)
            .field("queue", &self.queue.as_str())
            .field("running", &self.state.running.load(SeqCst))
            .finish()
    }
}

impl RunningNode {
    /// The node's id in Redis.
    pub fn id(&self) -> &str {
        &self.state.node_id
    }

    /// Counts so far (the node keeps running).
    pub fn report(&self) -> NodeReport {
        self.state.counters.snapshot(&self.state.node_id)
    }

    /// Jobs claimed and not finished right now.
    pub fn running(&self) -> usize {
        self.state.running.load(SeqCst)
    }

    /// Stops the node: no more claims; jobs not yet started are handed back to ready at
    /// once (even while running jobs hold every worker); running jobs get `grace` to
    /// finish; every outcome is delivered (tried until the
    /// grace ends). Jobs still running at the end are left to their leases (another node
    /// runs them again) and counted `unacked`.
    pub fn shutdown(mut self, grace: Duration) -> NodeReport {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> NodeReport {
        let deadline = crate::deadline::deadline_after(grace);
        *self.give_up_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(deadline);
        self.state.stopping.store(true, SeqCst);
        // Wake the fetcher if it waits for a message.
        if let Ok(mut c) = self.client.conn() {
            let _ = redis::cmd("PUBLISH").arg(self.queue.wake_channel()).arg("stop").query::<i64>(&mut c);
        }
        self.state.slot_freed.1.notify_all();
        if let Some(f) = self.fetcher.take() {
            let _ = f.join();
        }
        // Claimed jobs that have not started go back now (a job that starts after the
        // stop began hands itself back anyway): none waits for a worker the running
        // ones may hold past the grace, to be left to its lease.
        self.state.hand_back_queued();
        self.fetcher_done.store(true, SeqCst);
        while self.state.running.load(SeqCst) > 0 && Instant::now() < deadline {
            let (lock, cv) = &self.state.slot_freed;
            let g = lock.lock().unwrap_or_else(|p| p.into_inner());
            let _ = cv.wait_timeout(g, Duration::from_millis(20));
        }
        {
            // Jobs still running are abandoned: their outcomes will be dropped, their
            // leases run out, and another node runs them again.
            let mut abandoned = self.state.slot_freed.0.lock().unwrap_or_else(|p| p.into_inner());
            *abandoned = true;
            let still_running = self.state.running.swap(0, SeqCst);
            self.state.counters.unacked.fetch_add(still_running as u64, SeqCst);
        }
        if let Some(k) = self.keeper.take() {
            let _ = k.join();
        }
        self.state.counters.snapshot(&self.state.node_id)
    }
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        if self.fetcher.is_some() || self.keeper.is_some() {
            self.stop(Duration::from_secs(30));
        }
    }
}
