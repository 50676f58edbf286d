//! # kairos-rt
//!
//! Add it as `kairos-rt = "0.1"` and import it as `kairos_rt` (the package name `kairos`
//! on crates.io belongs to an unrelated library).
//!
//! A multi-threaded, lock-free, work-stealing task runtime that runs very many small
//! jobs **in priority order, now or at a given time, on all cores**.
//!
//! - Every task has a [`Priority`] (64 levels); workers always run the most urgent work
//!   they can see, and urgent work submitted from outside never waits behind local bulk.
//! - Any task may have a due time ([`Runtime::spawn_after`], [`Runtime::spawn_at`]):
//!   it waits in a per-worker hierarchical timing wheel with ~1 µs resolution and O(1)
//!   insert and cancel, and costs no allocation beyond the task itself.
//! - Closures and futures alike; [`JoinHandle`]s can be joined, awaited or cancelled.
//! - Shutdown accounts for every task ([`ShutdownReport`]).
//!
//! It has no I/O reactor of its own (see [what kairos is not](#what-kairos-is-and-is-not)).
//!
//! # Quick start
//!
//! ```
//! use kairos_rt::{Priority, Runtime};
//! use std::time::Duration;
//!
//! let rt = Runtime::builder().workers(2).build()?;
//!
//! // Closures: now, later, at a priority.
//! let sum = rt.spawn(Priority::NORMAL, || (1..=10).sum::<u32>());
//! let retry = rt.spawn_after(Duration::from_millis(10), Priority::HIGH, || "retried");
//!
//! // Futures, with kairos's own timers and spawning inside tasks.
//! let job = rt.spawn_future(Priority::LOW, async {
//!     kairos_rt::sleep(Duration::from_millis(1)).await;
//!     let child = kairos_rt::spawn(Priority::HIGHEST, || 2);
//!     child.await.unwrap() * 21
//! });
//!
//! assert_eq!(sum.join().unwrap(), 55);
//! assert_eq!(retry.join().unwrap(), "retried");
//! assert_eq!(job.join().unwrap(), 42);
//!
//! let report = rt.shutdown();
//! // sum, retry, job and child; the sleep's timer is the runtime's own, counted apart.
//! assert_eq!(report.completed, 4);
//! assert_eq!(report.runtime_timers.fired, 1);
//! assert!(report.is_balanced());
//! # Ok::<(), kairos_rt::BuildError>(())
//! ```
//!
//! # Policies and observability
//!
//! - [`Task`] + [`Handle::spawn_with`]: deadlines (start-by; [`JoinError::is_expired`]),
//!   run timeouts for futures ([`JoinError::is_timed_out`]) and retries ([`RetryPolicy`],
//!   [`RetryOutcome`]) of closures and of async calls ([`Task::from_async`]).
//! - [`Handle::spawn_process`]: an OS command under a timeout and a concurrency cap.
//! - [`Builder::max_pending`]: backpressure ([`SpawnError::is_full`],
//!   [`Handle::spawn_async`]).
//! - [`Aging`] (on by default), [`JoinHandle::set_priority`],
//!   [`Builder::lifo_within_level`].
//! - [`Handle::pending`], [`JoinHandle::status`], [`Handle::metrics`] with
//!   [`MetricsSnapshot::to_prometheus`].
//!
//! ```
//! use kairos_rt::{Priority, RetryPolicy, Runtime, Task};
//! use std::time::{Duration, Instant};
//!
//! let rt = Runtime::builder().workers(2).max_pending(100_000).build()?;
//! let mut tries = 0;
//! let flaky = rt.spawn_with(
//!     Task::new(move || { tries += 1; if tries < 2 { Err("timeout") } else { Ok("paid") } })
//!         .priority(Priority::HIGH)
//!         .retry(RetryPolicy::exponential(Duration::from_millis(1), Duration::from_millis(20))),
//! ).unwrap();
//! let stale = rt.spawn_with(Task::new(|| ()).deadline(Instant::now() - Duration::from_secs(1))).unwrap();
//! assert_eq!(flaky.join().unwrap().result, Ok("paid"));
//! assert!(stale.join().unwrap_err().is_expired());
//! assert!(rt.metrics().to_prometheus().contains("kairos_tasks_expired_total 1"));
//! let report = rt.shutdown();
//! assert_eq!(report.expired, 1);
//! assert!(report.is_balanced());
//! # Ok::<(), kairos_rt::BuildError>(())
//! ```
//!
//! # Examples to copy
//!
//! `runtime/examples/`, each runs to completion in a second or so
//! (`cargo run --release -p kairos-rt --example NAME`):
//!
//! | example | what it shows |
//! |---|---|
//! | `quickstart` | priorities, delays, futures, cancellation, the shutdown report |
//! | `retry_http` | async payment calls to a flaky local HTTP service, retried with backoff and jitter ([`Task::from_async`]) |
//! | `backpressure` | [`Builder::max_pending`]: `spawn` blocks, `spawn_async` waits, `try_spawn` refuses |
//! | `process_jobs` | OS commands with timeouts and a concurrency cap ([`Handle::spawn_process`]) |
//! | `prometheus_metrics` | [`Handle::metrics`] served in Prometheus text format by a tiny HTTP endpoint |
//! | `recurring` | schedules: every period, cron in a time zone |
//! | `iot` | devices, priorities, deadlines, async retries, metrics, a balanced shutdown report |
//! | `tokio_io` (`--features tokio`), `smol_io` | network I/O from tokio's and smol's sockets inside kairos tasks |
//!
//! # What kairos is, and is not
//!
//! kairos **is** a scheduler of many small jobs by urgency and time, in one process: it
//! decides *which* job runs next (the most urgent ready one) and *when* a timed one is due,
//! runs closures and futures on a fixed set of worker threads, and accounts for every job.
//!
//! kairos **is not**:
//!
//! - **an I/O reactor.** It has none of its own: a future that waits on a socket is
//!   woken by the reactor that owns it (smol's runs as is; tokio's with the `tokio`
//!   feature). See [I/O](#io-what-kairos-is-and-is-not).
//! - **preemptive.** A running closure is never interrupted, whatever its priority: a
//!   long computation holds its worker until it returns. Split long work, or write it as
//!   a future that yields ([`yield_now`]). Blocking calls (a blocking HTTP client, file
//!   I/O) belong on the blocking pool ([`spawn_blocking`]), not on the workers.
//! - **durable.** Tasks live in memory: if the process dies, its queued tasks die with
//!   it. For jobs that must survive a crash and be shared by many machines, use
//!   `kairos-cluster` (durable queues in Redis).
//! - **a data-parallel library.** There is no `par_iter`; to split one big computation
//!   over all cores as fast as possible, rayon is the tool.
//!
//! # Choosing priorities
//!
//! A [`Priority`] is a level from 0 (least urgent) to 63 (most urgent). Workers always
//! run the most urgent ready task they can see; within one level, tasks run in the order
//! they were submitted (FIFO; [`Builder::lifo_within_level`] makes a worker run its own
//! spawns newest first). The named levels leave room between them:
//!
//! | constant | level | meant for |
//! |---|---|---|
//! | [`Priority::HIGHEST`] | 63 | control messages, alarms, health probes: must never wait behind anything |
//! | [`Priority::HIGH`] | 48 | latency-sensitive jobs: user-facing notifications, payments, retries with a deadline |
//! | [`Priority::NORMAL`] | 32 | ordinary jobs (the default) |
//! | [`Priority::LOW`] | 16 | bulk work: log shipping, aggregation, uploads |
//! | [`Priority::LOWEST`] | 0 | background work that may wait behind anything else |
//!
//! How to choose:
//!
//! - Start with the five constants; most programs need no others. Levels are strict
//!   order, not weights: a level runs only when every more urgent level is empty (or
//!   aging, below, lets it through), so put at the top only work that is small and
//!   rare enough not to starve the rest.
//! - Use a level in between (`Priority::new(40)?`) to order two kinds of work that share
//!   a band: a payment (49) before a notification (48), both before ordinary jobs. Only
//!   the order of levels matters, not their distance: 33 and 47 behave exactly alike
//!   between 32 and 48, except under aging.
//! - The level belongs to the task, not to its code: the same function can run at
//!   different levels, a retry can drop below fresh work
//!   ([`RetryPolicy::retry_priority`]), and a queued task can be moved
//!   ([`JoinHandle::set_priority`]).
//!
//! **Aging** (on by default, [`Aging`]) keeps a flood of urgent work from starving the
//! levels below it: each level has a waiting budget, `(64 - level)` ms by default (64 ms
//! for `LOWEST`, 32 ms for `NORMAL`, 1 ms for `HIGHEST`), and a level that has waited
//! longer than its budget gets one task served ahead of the more urgent ones, then its
//! clock restarts. So under a flood the levels below still move, at about one task per
//! worker per budget, and the lower the level, the longer its budget. Aging changes no
//! task's priority, and without a flood it never acts. [`Aging::linear`] sets another
//! step; [`Builder::no_aging`] gives strict order.
//!
//! # kairos, tokio or rayon?
//!
//! | you have | choose | because |
//! |---|---|---|
//! | many small jobs of different urgency (device messages, payments, notifications, bulk work) | **kairos** | urgent work overtakes bulk work at once; tokio and rayon run tasks in arrival order only |
//! | jobs due later, in volume (retries, reminders, timeouts: up to millions pending) | **kairos** | per-worker timing wheels: O(1) insert and cancel, ~1 µs ticks, no allocation beyond the task |
//! | jobs with policies (retries with backoff, deadlines, backpressure, OS processes, schedules) and an account of how each one ended | **kairos** | built in, counted in the metrics and the [`ShutdownReport`] |
//! | a network server or client: many sockets, equal urgency, the hyper/tonic/sqlx ecosystem | **tokio** | its reactor and ecosystem are the point; kairos adds priorities on top (the `tokio` feature) but does not replace them |
//! | one big computation to finish as fast as possible (`par_iter`, fork-join) | **rayon** | data parallelism with work splitting; no priorities or timers needed |
//!
//! They combine: a kairos task may call into rayon for a parallel step, or await tokio
//! sockets (with the `tokio` feature). The bench suite (`cargo run --release -p
//! kairos-bench -- --quick`) measures kairos against tokio, rayon-core and a classic
//! `Mutex<BinaryHeap>` pool on the same task bodies: spawn rates, timers, latency, and a
//! `HIGHEST` task submitted behind a flood of `LOWEST` work, which kairos starts within
//! a fraction of a millisecond while the peers without priorities make it wait for the
//! flood.
//!
//! # Inside tasks
//!
//! [`spawn`], [`spawn_future`], [`sleep`], [`sleep_until`] and [`timeout`] find the
//! runtime of the task (or `block_on`) they are called from, and panic with a message
//! that says what to use instead when called elsewhere. [`yield_now`] needs no runtime.
//!
//! # I/O: what kairos is and is not
//!
//! kairos is a scheduler, **not an I/O reactor**: it has no event loop of its own for
//! sockets, files or signals. A future waiting for I/O is woken by whichever reactor owns
//! the socket, and kairos then queues it again at its priority. So async I/O crates work
//! inside kairos tasks, and run at kairos priorities, as long as their reactor runs:
//!
//! - **smol / async-io crates** (`async-net`, `async-fs`, `async-process`, and the
//!   clients built on `async-io`) need **no setup and no feature**: `async-io` runs its
//!   own reactor thread, started the first time it is used.
//! - **tokio-based crates** (`tokio::net`, `tokio::time`, reqwest, tonic, sqlx, the
//!   `redis` crate's async API, ...) need a tokio reactor in their thread's context, or
//!   they panic with "there is no reactor running, must be called from the context of a
//!   Tokio 1.x runtime". Turn on the **`tokio` feature** and either let kairos own a
//!   small tokio runtime (`Builder::enable_tokio`: one extra thread, mostly asleep in
//!   the reactor) or give it the handle of one you have (`Builder::tokio_handle`, a
//!   multi-thread runtime). Its reactor and timers are then entered on every worker,
//!   every blocking thread and inside [`Runtime::block_on`], so those crates work
//!   everywhere kairos runs your code, and `tokio::spawn` reaches that tokio runtime.
//! - **Blocking calls** (a synchronous HTTP or database client, `std::fs`, a long
//!   computation that cannot yield) belong on the blocking pool, not on a worker:
//!   [`spawn_blocking`] / [`Handle::spawn_blocking`] run them on separate, bounded threads
//!   in priority order ([`Builder::max_blocking_threads`],
//!   [`Builder::blocking_keep_alive`]), so they never hold a worker and never delay
//!   urgent tasks.
//!
//! With the `tokio` feature (`cargo run -p kairos-rt --features tokio --example tokio_io`):
//!
#![cfg_attr(feature = "tokio", doc = "```")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! use kairos_rt::{Priority, Runtime};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let rt = Runtime::builder().workers(2).enable_tokio().build()?;
//! let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
//! let addr = listener.local_addr()?;
//! let server = rt.spawn_future(Priority::LOW, async move {
//!     let (mut conn, _) = listener.accept().await?;
//!     let mut buf = [0u8; 4];
//!     conn.read_exact(&mut buf).await?;
//!     conn.write_all(&buf).await
//! });
//! let client = rt.spawn_future(Priority::HIGH, async move {
//!     let mut conn = tokio::net::TcpStream::connect(addr).await?;
//!     conn.write_all(b"ping").await?;
//!     let mut back = [0u8; 4];
//!     conn.read_exact(&mut back).await?;
//!     Ok::<_, std::io::Error>(back)
//! });
//! assert_eq!(&client.join().unwrap()?, b"ping");
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With smol's `async-net`, no feature (`cargo run -p kairos-rt --example smol_io`):
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use kairos_rt::{Priority, Runtime};
//!
//! let rt = Runtime::builder().workers(2).build()?;
//! let listener = rt.block_on(async_net::TcpListener::bind("127.0.0.1:0"))?;
//! let addr = listener.local_addr()?;
//! let server = rt.spawn_future(Priority::LOW, async move {
//!     let (mut conn, _) = listener.accept().await?;
//!     let mut buf = [0u8; 4];
//!     conn.read_exact(&mut buf).await?;
//!     conn.write_all(&buf).await
//! });
//! let client = rt.spawn_future(Priority::HIGH, async move {
//!     let mut conn = async_net::TcpStream::connect(addr).await?;
//!     conn.write_all(b"ping").await?;
//!     let mut back = [0u8; 4];
//!     conn.read_exact(&mut back).await?;
//!     Ok::<_, std::io::Error>(back)
//! });
//! assert_eq!(&client.join().unwrap()?, b"ping");
//! server.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! And a blocking call, off the workers:
//!
//! ```
//! use kairos_rt::{Priority, Runtime};
//!
//! let rt = Runtime::builder().workers(2).max_blocking_threads(8).build()?;
//! let file = rt.spawn_blocking(Priority::HIGH, || std::fs::read_to_string("Cargo.toml"));
//! assert!(file.join().unwrap().is_ok());
//! # Ok::<(), kairos_rt::BuildError>(())
//! ```
//!
//! What kairos does not do for I/O: it does not make a blocking call non-blocking (a
//! closure that blocks on a worker still holds it: use the blocking pool), it does not
//! interrupt a blocking call at shutdown (the report counts one that never returns as
//! `unfinished` under [`Runtime::shutdown_timeout`]), and it does not run tokio tasks
//! spawned with `tokio::spawn` (tokio does, outside kairos's priorities and accounting).
//!
//! # Modules
//!
//! The everyday names are at the crate root (as in the examples above); the public
//! modules group them, as tokio does: [`task`] (the task types, the [`Task`] builder and
//! retry policies), [`time`] (sleeps, timeouts, yields), [`metrics`] (pending counts,
//! metrics snapshots, the shutdown report), [`process`] (OS commands) and [`error`]
//! (every error type). Implementation types that appear in signatures ([`Spawnable`](task::Spawnable),
//! [`Closure`](task::Closure), [`FutureBody`](task::FutureBody), [`AsyncFn`](task::AsyncFn)) are only under [`task`].
//!
//! **`try_` means one thing**: a `try_spawn*` never waits for room. With
//! [`Builder::max_pending`] it refuses a task at the limit ([`SpawnError::is_full`])
//! where the plain name would wait (`spawn`, `spawn_with`); the refused body comes back
//! inside the error. Anything that can be refused returns a `Result`, with or without
//! `try_` (`spawn_with` also returns one, for an invalid policy or a shut-down runtime).
//!
//! # Architecture
//!
//! `runtime/src` is layered; each layer uses only the layers below it
//! (`python3 scripts/module-cycles.py` checks that no two top-level modules, nor a module
//! and the free functions of `lib.rs`, import each other, directly or through others;
//! CI runs it):
//!
//! ```text
//!  features     task/ (Task builder, retry policy and loop)  process/ (OS commands)
//!               recurring/ (schedules)
//!                   |
//!  public API   time/ (sleep, timeout, interval)  lib.rs (spawn, try_current, ...; the
//!                   |                              error, metrics, process modules)
//!               runtime/ (Runtime, Builder, Handle, BuildError, SpawnError)
//!                   |
//!  reading      observe/ (pending, metrics snapshot, Prometheus text, shutdown report)
//!                   |
//!  scheduler    sched/ (shared.rs, spawn.rs, shutdown.rs, context.rs, registry.rs,
//!                       runtime_timer.rs, worker/: find.rs, timers.rs, park.rs,
//!                       aging, batching, spin)
//!                   |
//!  leaves       config/ (BuilderConfig, Aging)   clock/   stats/ (counters, latency, retry)
//!               limiter.rs (the process cap: owned by sched/, taken by process/)
//!                   |
//!  core         kairos_rt_core (task cells, run queues, injectors, wheels, idle, intake)
//! ```
//!
//! The path of a task, from spawn to run:
//!
//! ```text
//!  Handle::spawn            runtime/handle.rs   the public call
//!   -> Shared::submit       sched/spawn.rs      admission, intake, allocation
//!   -> Shared::route        sched/spawn.rs      a worker's own queue or wheel, or
//!   -> Shared::push_injected / push_timer_inbox  sched/shared.rs  from outside: the
//!                                               injectors, or a worker's timer inbox
//!   -> WorkerCtx::maintain_timers  sched/worker/timers.rs  a due timer -> the run queue
//!   -> WorkerCtx::next_task / search  sched/worker/find.rs  the most urgent task it sees
//!   -> WorkerCtx::run_task  sched/worker/mod.rs the body runs; the end is counted once
//!   (idle: WorkerCtx::park  sched/worker/park.rs  spin, then sleep until woken or due)
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, missing_debug_implementations)]

mod clock;
mod config;
mod limiter;
mod observe;
mod recurring;
mod runtime;
mod sched;
mod stats;
pub mod task;
#[cfg(test)]
mod test_support;
pub mod time;

pub use config::Aging;

/// The most runtimes that can be alive at once in one process;
/// [`Builder::build`] fails with [`BuildError::is_too_many_runtimes`] beyond it.
///
/// Each live runtime holds one slot of a process-wide table through which a task's
/// handle finds its runtime again (`JoinHandle::set_priority`, the cancel of a timed
/// closure) without the task carrying a scheduler reference: a spawn costs no
/// reference-count update and a ready closure's cell stays 24 bytes. Each task names its
/// slot in 7 bits of its state word. A runtime's slot is freed when its shared state is
/// (see [`Runtime::shutdown`]), so only runtimes alive at the same time count.
///
/// ```
/// let rt = kairos_rt::Runtime::builder().workers(1).build()?;
/// assert!(kairos_rt::MAX_RUNTIMES >= 100);
/// # drop(rt);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub const MAX_RUNTIMES: usize = kairos_rt_core::task::state::MAX_HOMES;
pub use kairos_rt_core::{InvalidPriority, Priority};
pub use observe::{LatencySummary, LevelCounts, MetricsSnapshot, PendingSnapshot, ShutdownReport};
pub use process::{ProcessEnd, ProcessError, ProcessOutput, ProcessTask};
pub use recurring::{
    spawn_recurring, MissedTickBehavior, OnPanic, Overlap, Recurring, Schedule, ScheduleError,
    SchedulesSnapshot, Ticks,
};
pub use runtime::error::{BuildError, Elapsed, SpawnError};
pub use runtime::{Builder, Handle, Runtime};
pub use task::{BlockingTask, Jitter, RetryOutcome, RetryPolicy, RetryPolicyError, RetryTask, Task};
pub use task::{JoinError, JoinHandle, TaskId, TaskStatus};
pub use time::{sleep, sleep_until, timeout, yield_now, Sleep, Timeout, YieldNow};

pub mod error {
    //! Every error type of the crate: building a runtime ([`BuildError`]), spawning
    //! ([`SpawnError`]), joining a task ([`JoinError`]), a timeout ([`Elapsed`]), a bad
    //! priority ([`InvalidPriority`]) or retry policy ([`RetryPolicyError`]), and a child
    //! process ([`ProcessError`]). Each says what went wrong in its `Display` text.
    //!
    //! ```
    //! use kairos_rt::error::BuildError;
    //! use kairos_rt::Runtime;
    //!
    //! let err: BuildError = Runtime::builder().workers(0).build().unwrap_err();
    //! assert!(err.is_zero_workers());
    //! ```
    pub use crate::process::ProcessError;
    pub use crate::runtime::error::{BuildError, Elapsed, SpawnError};
    pub use crate::task::{JoinError, RetryPolicyError};
    pub use kairos_rt_core::InvalidPriority;
}

pub mod process {
    //! OS commands run as tasks: [`Handle::spawn_process`](crate::Handle::spawn_process)
    //! starts a [`Command`](std::process::Command) under a timeout and the runtime's cap
    //! on concurrent children ([`Builder::max_processes`](crate::Builder::max_processes)),
    //! and its handle resolves with the [`ProcessOutput`] or a [`ProcessError`] that says
    //! what went wrong (failed to start, timed out and killed, ...).
    //!
    //! ```no_run
    //! use kairos_rt::process::ProcessOutput;
    //! use kairos_rt::{Priority, Runtime};
    //! use std::process::Command;
    //! use std::time::Duration;
    //!
    //! let rt = Runtime::builder().workers(1).build()?;
    //! let h = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::from_secs(5));
    //! let out: ProcessOutput = h.join().unwrap().unwrap();
    //! assert!(out.status.success());
    //! # Ok::<(), kairos_rt::BuildError>(())
    //! ```

    // The implementation, with its protocol docs (internal), in `process/mod.rs`.
    #[path = "mod.rs"]
    mod imp;

    pub use imp::{ProcessEnd, ProcessError, ProcessOutput, ProcessTask};
}

pub mod metrics {
    //! Looking at a runtime: what waits ([`PendingSnapshot`], from
    //! [`Handle::pending`](crate::Handle::pending)), counters and gauges
    //! ([`MetricsSnapshot`], from [`Handle::metrics`](crate::Handle::metrics), with
    //! Prometheus text and, with the `metrics` feature, the `metrics` crate facade), and
    //! how every task ended ([`ShutdownReport`], from
    //! [`Runtime::shutdown`](crate::Runtime::shutdown)).
    //!
    //! ```
    //! use kairos_rt::metrics::MetricsSnapshot;
    //! use kairos_rt::{Priority, Runtime};
    //!
    //! let rt = Runtime::builder().workers(1).build()?;
    //! rt.spawn(Priority::NORMAL, || ()).join().unwrap();
    //! let m: MetricsSnapshot = rt.metrics();
    //! assert_eq!(m.submitted, 1);
    //! # Ok::<(), kairos_rt::BuildError>(())
    //! ```
    pub use crate::observe::{
        LatencySummary, LevelCounts, MetricsSnapshot, PendingSnapshot, RuntimeTimerCounts, ShutdownReport,
    };
    pub use crate::stats::schedules::SchedulesSnapshot;
}

use std::future::Future;

/// Runs `f` with a handle to the current thread's runtime: borrowed on a worker (no
/// reference-count traffic on the spawn path), cloned inside `block_on`.
///
/// # Panics
///
/// Outside a kairos task or `block_on`, with a message naming `what` to use instead.
fn with_current<R>(what: &str, instead: &str, f: impl FnOnce(&Handle) -> R) -> R {
    let mut f = Some(f);
    if let Some(r) = sched::context::with_worker(|w| {
        w.map(|w| (f.take().expect("called once"))(Handle::from_shared(w.shared())))
    }) {
        return r;
    }
    match sched::context::current_shared() {
        Some(shared) => (f.take().expect("called once"))(&Handle { shared }),
        None => panic!(
            "kairos_rt::{what} must be called from inside a kairos task or Runtime::block_on; \
             outside a runtime, use {instead} instead"
        ),
    }
}

/// Spawns a closure onto the runtime running the current task.
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`; use [`Handle::spawn`] there.
///
/// ```
/// # use kairos_rt::{Priority, Runtime};
/// let rt = Runtime::builder().workers(2).build().unwrap();
/// let parent = rt.spawn(Priority::NORMAL, || kairos_rt::spawn(Priority::HIGH, || 7));
/// assert_eq!(parent.join().unwrap().join().unwrap(), 7);
/// ```
pub fn spawn<F, T>(priority: Priority, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    with_current("spawn", "Runtime::spawn or Handle::spawn", |h| h.spawn(priority, f))
}

/// Spawns a future onto the runtime running the current task.
///
/// # Panics
///
/// Outside a kairos task or `Runtime::block_on`; use [`Handle::spawn_future`] there.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let h = rt.spawn_future(Priority::NORMAL, async {
///     let child = kairos_rt::spawn_future(Priority::HIGH, async { 40 });
///     child.await.unwrap() + 2
/// });
/// assert_eq!(h.join().unwrap(), 42);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn spawn_future<Fut>(priority: Priority, fut: Fut) -> JoinHandle<Fut::Output>
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    with_current("spawn_future", "Runtime::spawn_future or Handle::spawn_future", |h| {
        h.spawn_future(priority, fut)
    })
}

/// Runs a blocking closure on the blocking pool of the runtime running the current task
/// (see [`Handle::spawn_blocking`]); inside a future, `.await` the handle.
///
/// # Panics
///
/// Outside a kairos task, a blocking job or `Runtime::block_on`; use
/// [`Handle::spawn_blocking`] there.
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// let rt = Runtime::builder().workers(1).build()?;
/// let h = rt.spawn_future(Priority::NORMAL, async {
///     let read = kairos_rt::spawn_blocking(Priority::HIGH, || std::fs::read_dir(".").map(|d| d.count()));
///     read.await.unwrap().unwrap() // the worker ran other tasks meanwhile
/// });
/// assert!(h.join().unwrap() > 0);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn spawn_blocking<F, T>(priority: Priority, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    with_current("spawn_blocking", "Runtime::spawn_blocking or Handle::spawn_blocking", |h| {
        h.spawn_blocking(priority, f)
    })
}

/// A handle to the runtime running the current task, if any.
///
/// ```
/// use kairos_rt::{Priority, Runtime};
///
/// assert!(kairos_rt::try_current().is_none(), "not inside a task");
/// let rt = Runtime::builder().workers(1).build()?;
/// let inside = rt.spawn(Priority::NORMAL, || kairos_rt::try_current().is_some());
/// assert!(inside.join().unwrap());
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub fn try_current() -> Option<Handle> {
    sched::context::current_shared().map(|shared| Handle { shared })
}
