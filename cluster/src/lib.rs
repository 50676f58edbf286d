//! # kairos-cluster
//!
//! Durable priority and delay queues in Redis, shared by many kairos nodes. Producers
//! (any process) enqueue jobs; nodes (processes running a [`kairos_rt::Runtime`]) claim
//! them in priority order and run them at their priority on all cores. A crash, a deploy
//! or `kill -9` loses nothing: Redis holds every job until a node reports its end.
//!
//! ```no_run
//! use kairos_cluster::{Client, Job, Node};
//! use kairos_rt::{Priority, RetryPolicy, Runtime};
//! use std::time::Duration;
//!
//! // A producer: no runtime needed.
//! let queue = Client::connect("redis://127.0.0.1:6379/")?.queue("payments")?;
//! let id = queue.enqueue(
//!     Job::new("charge")
//!         .payload(b"order-17".to_vec())
//!         .priority(Priority::HIGH)
//!         .retry(RetryPolicy::exponential(Duration::from_secs(1), Duration::from_secs(60)).max_attempts(5)),
//! )?;
//!
//! // A node: handlers by kind, on a kairos runtime.
//! let rt = Runtime::builder().workers(2).build().unwrap();
//! let node = Node::builder(queue.clone(), rt.handle())
//!     .handler("charge", |job| { /* call the payment API */ Ok(Vec::new()) })
//!     .start()?;
//! let status = queue.wait(id, Duration::from_secs(10))?;
//! assert!(status.state.is_final());
//! let report = node.shutdown(Duration::from_secs(30));
//! assert!(report.is_balanced());
//! # Ok::<(), kairos_cluster::Error>(())
//! ```
//!
//! ## The model
//!
//! A job is a hash in Redis and its id sits in exactly one of the queue's sets, which
//! says its state ([`JobState`]):
//!
//! ```text
//!  enqueue ──> delayed ──(due)──> ready ──(claim)──> active ──(ack)──> completed
//!                 ^                 ^  ^                │  │
//!                 └──(retry later)──┼──┼────────────────┘  ├─(failed for good)─> dead
//!                                   │  └─(lease expired)───┘
//!  cancel (delayed or ready) ─> cancelled      past start deadline at claim ─> expired
//! ```
//!
//! - **Priority**: the ready set is scored `(63 - priority) * 2^46 + sequence`, so every
//!   claim, on any node, takes the most urgent jobs, FIFO within a level. A node claims
//!   no more than it has free slots ([`NodeBuilder::concurrency`]), so it never sits on
//!   urgent work another node could start.
//! - **Time**: due times, leases and deadlines use Redis's clock (`TIME` inside the
//!   scripts), so clock skew between machines does not matter. An idle node sleeps until
//!   the next due job (to the millisecond) and is woken early by a pub/sub message when a
//!   sooner one arrives. Retries wait for their backoff in Redis's delayed set, never in a
//!   node's memory.
//! - **Leases and fencing**: a claim leases the job to the node for
//!   [`NodeBuilder::lease`]; the node renews leases of running jobs every third of it. A
//!   node that dies (or hangs, or loses Redis for longer than a lease) loses its leases:
//!   the next claim by any node puts those jobs back to ready. Each claim increments the
//!   job's attempt counter and records the serial number of the claim call on its node;
//!   the two are the lease's fencing token: an ack (or renewal) from a node whose lease
//!   was taken over carries an old attempt, and one from a run that began before Redis
//!   lost its data (a new job with the same id, attempt and node) an old serial; both are
//!   refused (counted in [`QueueCounts::total_stale_acks`] and the node's
//!   [`NodeReport::refused`]).
//! - **Atomic steps**: each state change is one Lua script (enqueue batch; claim = reap
//!   expired leases + promote due jobs + pop the most urgent + lease; ack batch; extend;
//!   cancel; requeue; release of what a claim whose reply was lost took), so no crash
//!   between two commands can leave a job in two states or in none.
//! - **Bounded memory**: finished records are kept for a retention (count and age, see
//!   [`NodeBuilder::keep_finished`]) and then deleted; the per-queue counters stay exact.
//! - **Keys**: every key of queue `q` shares the hash tag `{q}`, so a queue lives in one
//!   Redis Cluster slot and many queues spread over a cluster (give several URLs,
//!   comma-separated, to [`Client::connect`]). See [`QueueName`] for the layout.
//!
//! ## What is promised
//!
//! - **At least once.** A job whose node dies after running it but before its ack
//!   reached Redis runs again elsewhere. Handlers must be idempotent (or check
//!   [`JobContext::attempt`]). A job is never run by two nodes *under valid leases* at
//!   once, unless a node is paused longer than its lease (then the old node's result is
//!   refused, but its side effects happened).
//! - **Nothing acknowledged is lost** as long as Redis keeps what it acknowledged: with
//!   AOF and `appendfsync always` on a single primary, an enqueue that returned an id
//!   survives a Redis crash. With `appendfsync everysec` up to about a second of writes
//!   can be lost on a crash of the Redis host; without persistence, everything. Replicas
//!   are asynchronous: a failover can lose the last writes. A Redis that comes back
//!   empty numbers jobs from 1 again; the fencing token keeps a run from before (same
//!   id, attempt and node) from settling the new job with that id, but
//!   [`Queue::status`] of an old id then shows the new job.
//! - **A lost reply is not a lost lease.** The jobs a claim took whose reply never
//!   reached the node (the connection failed after Redis ran it) are handed back once
//!   the node reaches Redis again, or as it stops; the node remembers the last 1,000
//!   such claims, and if it dies first they wait for their leases.
//! - **Redis Cluster availability is Redis Cluster's.** While a master is down, the
//!   queues whose slot it serves refuse enqueues and claims with an error (nodes retry
//!   with backoff); queues on other masters keep working only with
//!   `cluster-require-full-coverage no` (with the default `yes`, every queue stops once
//!   the cluster marks the master failed, after `cluster-node-timeout`). A master that
//!   comes back on its AOF (`appendfsync always`) has lost nothing it acknowledged.
//! - **Every job ends** completed, dead, cancelled or expired, and Redis says which
//!   ([`Queue::status`], [`Queue::counts`], the event stream [`Queue::events`]).
//!
//! ## What Redis must be
//!
//! - Redis 6.2 or newer with Lua scripting, and `maxmemory-policy noeviction` (the
//!   default): an evicting policy deletes job records, and those jobs are lost or
//!   dead-lettered as corrupt.
//! - With ACLs, the user needs the scripting, hash, sorted-set, stream and pub/sub
//!   commands on keys `kairos:{q}:*` (and `{q}:record` for the `record` kind) and the
//!   channel `kairos:{q}:wake`, for each queue `q`; a node checks this when it starts.
//! - The scripts name only the queue's key prefix in `KEYS` and build the other keys of
//!   the queue from it; all of them share the queue's hash tag, so they live in one slot.
//!   Redis and Redis Cluster run this; a server that insists on every key being declared
//!   (some managed proxies) does not.
//!
//! ## Kinds and nodes
//!
//! Every node of a queue must handle every kind enqueued on it: a node that meets a kind
//! it has no handler for dead-letters the job with that reason (rather than hand it on and
//! on). Give kinds that run on different nodes queues of their own.
//!
//! ## The command-line tool
//!
//! `kairos-cluster worker | produce | stats | dead | events` (run it with `--help`): a node
//! with the built-in kinds (`noop`, `sleep`, `fail`, `record`, `stamp`, and `command` for programs
//! on its `--allow-command` list), a producer with periodic or gaussian arrivals, counts
//! (`--json`), dead letters, and the event stream.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

mod connection;
mod counts;
mod deadline;
mod error;
mod events;
mod job;
mod node;
mod queue;
mod queue_name;
mod retry_spec;
mod schedules;
mod scripts;
#[cfg(test)]
mod test_redis;

pub use connection::Client;
pub use counts::QueueCounts;
pub use error::{Error, Result};
pub use events::Event;
pub use job::{Job, JobId, JobState, JobStatus, DEFAULT_IDEMPOTENCY_WINDOW, DEFAULT_MAX_PAYLOAD};
pub use node::{
    BoxJobFuture, JobContext, JobError, JobResult, Node, NodeBuilder, NodeReport, RunningNode, MAX_LEASE,
};
pub use queue::{CancelOutcome, Enqueued, NodeInfo, Queue};
pub use queue_name::QueueName;
pub use schedules::ScheduleInfo;
