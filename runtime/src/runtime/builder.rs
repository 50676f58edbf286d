//! [`Builder`]: how a [`Runtime`] is configured.

use crate::config::blocking::{BlockingConfig, DEFAULT_BLOCKING_KEEP_ALIVE, DEFAULT_MAX_BLOCKING_THREADS};
use crate::config::io::IoDriver;
use crate::config::{
    ticks_of_slack, Aging, BuilderConfig, Hook, DEFAULT_DENSE_TIMER_SLACK, MAX_DENSE_TIMER_SLACK,
};
use crate::sched::shared::Shared;
use crate::sched::worker::WorkerCtx;
use crate::{BuildError, Handle, Runtime};
use kairos_rt_core::queue::RunQueue;
use kairos_rt_core::task::state::{MAX_HOMES, MAX_OWNERS};
use std::fmt;
use std::time::Duration;

/// Builds a [`Runtime`] with custom settings.
///
/// Defaults: one worker per available CPU, threads named `kairos-worker-N`, the standard
/// library's default stack size, a 50 µs spin before an idle worker parks, a blocking
/// pool of up to 512 threads kept 10 s when idle, and no tokio reactor (feature `tokio`).
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
/// use std::time::Duration;
///
/// let rt = Runtime::builder()
///     .workers(2)
///     .thread_name("jobs")
///     .spin_before_park(Duration::from_micros(20))
///     .on_thread_start(|| println!("worker up"))
///     .build()?;
/// assert_eq!(rt.spawn(Priority::NORMAL, || 1 + 1).join().unwrap(), 2);
/// # Ok::<(), kairos_rt::BuildError>(())
/// ```
pub struct Builder {
    workers: Option<usize>,
    thread_name: String,
    stack_size: Option<usize>,
    on_thread_start: Option<Hook>,
    on_thread_stop: Option<Hook>,
    spin_before_park: Duration,
    dense_timer_slack: Duration,
    max_processes: Option<usize>,
    max_pending: Option<usize>,
    aging: Option<Aging>,
    lifo: bool,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    #[cfg(feature = "tokio")]
    tokio: Option<TokioSource>,
}

/// Where the tokio reactor comes from (`tokio` feature).
#[cfg(feature = "tokio")]
#[derive(Debug)]
enum TokioSource {
    Given(tokio::runtime::Handle),
    Owned,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut f = f.debug_struct("Builder");
        f.field("workers", &self.workers)
            .field("thread_name", &self.thread_name)
            .field("stack_size", &self.stack_size)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .field("on_thread_stop", &self.on_thread_stop.is_some())
            .field("spin_before_park", &self.spin_before_park)
            .field("dense_timer_slack", &self.dense_timer_slack)
            .field("max_processes", &self.max_processes)
            .field("max_pending", &self.max_pending)
            .field("aging", &self.aging)
            .field("lifo", &self.lifo)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("blocking_keep_alive", &self.blocking_keep_alive);
        #[cfg(feature = "tokio")]
        f.field("tokio", &self.tokio);
        f.finish()
    }
}

impl Builder {
    /// A builder with the defaults.
    ///
    /// ```
    /// use kairos_rt::{Builder, Priority};
    ///
    /// let rt = Builder::new().workers(1).build()?;
    /// assert_eq!(rt.spawn(Priority::NORMAL, || 1).join().unwrap(), 1);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn new() -> Builder {
        Builder {
            workers: None,
            thread_name: "kairos-worker".to_string(),
            stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            spin_before_park: Duration::from_micros(50),
            dense_timer_slack: DEFAULT_DENSE_TIMER_SLACK,
            max_processes: None,
            max_pending: None,
            aging: Some(Aging::default()),
            lifo: false,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            blocking_keep_alive: DEFAULT_BLOCKING_KEEP_ALIVE,
            #[cfg(feature = "tokio")]
            tokio: None,
        }
    }

    /// Number of worker threads (default: [`std::thread::available_parallelism`], or
    /// 1,024 on a machine with more CPUs than that). `0` is rejected by
    /// [`build`](Self::build), as is more than 1,024.
    ///
    /// ```
    /// let rt = kairos_rt::Runtime::builder().workers(2).build()?;
    /// assert_eq!(rt.workers(), 2);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self
    }

    /// Prefix of worker thread names; worker `i` is named `"{prefix}-{i}"`. A prefix
    /// with a NUL byte is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).thread_name("jobs").build()?;
    /// let name = rt.spawn(Priority::NORMAL, || std::thread::current().name().map(str::to_owned));
    /// assert_eq!(name.join().unwrap().as_deref(), Some("jobs-0"));
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// Stack size of each worker thread, in bytes (default: the platform's default for
    /// new threads). `0` is rejected by [`build`](Self::build); a size below the
    /// platform's minimum is raised to that minimum by `std`.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).thread_stack_size(4 << 20).build()?;
    /// // 1 MiB on the stack fits in the worker's 4 MiB.
    /// let h = rt.spawn(Priority::NORMAL, || std::hint::black_box([1u8; 1 << 20]).iter().map(|&b| b as u32).sum::<u32>());
    /// assert_eq!(h.join().unwrap(), 1 << 20);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Runs `f` on each worker thread when it starts, before it runs any task. A panic in
    /// `f` is caught and ignored: the worker goes on and runs tasks.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = started.clone();
    /// let rt = Runtime::builder()
    ///     .workers(2)
    ///     .on_thread_start(move || {
    ///         counter.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()?;
    /// rt.shutdown(); // joins the workers, so both have started
    /// assert_eq!(started.load(Ordering::SeqCst), 2);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_start = Some(std::sync::Arc::new(f));
        self
    }

    /// Runs `f` on each worker thread just before it exits. A panic in `f` is caught and
    /// ignored.
    ///
    /// ```
    /// use kairos_rt::Runtime;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let stopped = Arc::new(AtomicUsize::new(0));
    /// let counter = stopped.clone();
    /// let rt = Runtime::builder()
    ///     .workers(2)
    ///     .on_thread_stop(move || {
    ///         counter.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()?;
    /// assert_eq!(stopped.load(Ordering::SeqCst), 0);
    /// rt.shutdown(); // joins the workers
    /// assert_eq!(stopped.load(Ordering::SeqCst), 2);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Builder {
        self.on_thread_stop = Some(std::sync::Arc::new(f));
        self
    }

    /// How long an idle worker keeps looking for work (spinning, then yielding) before it
    /// parks. Longer lowers wake-up latency under bursty load and costs idle CPU right
    /// after a burst; `Duration::ZERO` parks at once. A spin also ends when the worker's
    /// next timed task is due, so the budget never delays a timer. `Duration::MAX` never
    /// parks: every idle worker spins (a whole core each, even with no work at all)
    /// until work, a due timer or shutdown comes.
    ///
    /// A worker spins only while at least half of its recent idle spells were short
    /// enough for this budget to cover: under a load whose gaps are longer than the
    /// budget (or when idle) it parks at once instead of paying for spins that end in a
    /// park anyway, and it spins again as soon as work comes back in bursts.
    ///
    /// Choosing it: a parked worker takes 10-15 µs to start after a wake-up, so tasks
    /// submitted from outside in bursts further apart than the budget wait about that
    /// long. A budget longer than those gaps keeps a worker spinning through them and
    /// the wait drops to about a microsecond, for CPU. Measured on a 2-core VM (2
    /// workers, empty tasks, 50k tasks/s submitted from one thread in bursts of about 4
    /// every ~80 µs; ranges over six 1-second rounds, of which one in each of the first
    /// two rows had a p99 above 60 µs):
    ///
    /// | budget | submit-to-start p50 | p99 | process CPU |
    /// | --- | --- | --- | --- |
    /// | 50 µs (default) | 12-16 µs | 26-33 µs | 0.56-0.65 cores |
    /// | 100 µs | 1.2-1.4 µs | 8-18 µs | 1.49-1.57 cores |
    /// | 200 µs | 1.2 µs | 7-16 µs | 1.72-1.75 cores |
    ///
    /// # Examples
    ///
    /// ```
    /// use kairos_rt::Runtime;
    /// use std::time::Duration;
    ///
    /// // Latency first: spin through gaps of up to 200 µs between bursts of work.
    /// let rt = Runtime::builder().spin_before_park(Duration::from_micros(200)).build()?;
    /// # drop(rt);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spin_before_park(mut self, budget: Duration) -> Builder {
        self.spin_before_park = budget;
        self
    }

    /// How late a worker that fires timers densely may fire them, so that it fires the
    /// ones due close together in one wake-up instead of waking for each (default
    /// [`DEFAULT_DENSE_TIMER_SLACK`](Self::DEFAULT_DENSE_TIMER_SLACK), 160 µs; at most
    /// [`MAX_DENSE_TIMER_SLACK`](Self::MAX_DENSE_TIMER_SLACK), 800 µs, or
    /// [`build`](Self::build) fails with
    /// [`is_dense_timer_slack_too_long`](crate::BuildError::is_dense_timer_slack_too_long)).
    /// It is kept in clock ticks of 1.024 µs, rounded down.
    ///
    /// A wheel is *dense* while it fires at least 20 timers per millisecond (about 20,000
    /// a second per worker: 100,000 recurring schedules of 1 s on 2 workers are); a light
    /// stream of timers is always waited for precisely (a little early, the rest yielded
    /// out) and this setting does not touch it. A dense worker parks until its own next
    /// deadline plus the slack and fires everything due by then, so its timers are late
    /// by up to the slack plus the OS wake-up, and each worker holding such timers wakes
    /// about once per slack instead of once per timer. `Duration::ZERO` wakes at each
    /// deadline, without the spin and without the early wake-up a light stream gets (a
    /// wake-up late by the OS's latency). The slack delays only the worker's own timers:
    /// work and messages wake a dense worker as any other, and its watch on its peers
    /// (it fires the due timers of a peer stuck in a long task) keeps its time.
    ///
    /// Choosing it: on a virtual machine each wake-up costs about 15 µs of CPU, so the
    /// wake-ups, not the timers, are most of what a dense timer load costs. Measured
    /// with the bench's `recurring` case (100,000 schedules of 1 s with phases spread over
    /// the second, 2 workers on a 2-core VM, 3 rounds each, the default changed in a local
    /// build; tokio's `interval` in the same bench: 15-17% of a core, lateness p50
    /// 1.13-1.15 ms, p99 2.4-2.9 ms):
    ///
    /// | slack | process CPU | lateness p50 | p90 | p99 |
    /// | --- | --- | --- | --- | --- |
    /// | 160 µs (default) | 28-32% | 105-109 µs | 190-199 µs | 0.35-0.71 ms |
    /// | 250 µs | 29-31% | 150-153 µs | 288-293 µs | 0.49-1.31 ms |
    /// | 350 µs | 24-26% | 198-199 µs | 376-381 µs | 0.51-0.67 ms |
    /// | 500 µs | 21-24% | 273-277 µs | 513-530 µs | 0.66-1.02 ms |
    ///
    /// Beyond that the wake-ups are no longer most of the cost (1 ms, above the maximum,
    /// gave 20-21%): the rest is per firing, a task cell allocated and freed for each.
    ///
    /// # Examples
    ///
    /// ```
    /// use kairos_rt::Runtime;
    /// use std::time::Duration;
    ///
    /// // 100k device polls a second that may run half a millisecond late: fewer wake-ups.
    /// let rt = Runtime::builder().dense_timer_slack(Duration::from_micros(500)).build()?;
    /// # drop(rt);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn dense_timer_slack(mut self, slack: Duration) -> Builder {
        self.dense_timer_slack = slack;
        self
    }

    /// The default of [`dense_timer_slack`](Self::dense_timer_slack).
    pub const DEFAULT_DENSE_TIMER_SLACK: Duration = DEFAULT_DENSE_TIMER_SLACK;

    /// The longest [`dense_timer_slack`](Self::dense_timer_slack) accepted. It stays
    /// below the millisecond after which a free worker fires the due timers of a peer
    /// between tasks, and below the window the density is counted in.
    pub const MAX_DENSE_TIMER_SLACK: Duration = MAX_DENSE_TIMER_SLACK;

    /// How many child processes started by
    /// [`spawn_process`](crate::Handle::spawn_process) run at once (default: the number
    /// of workers). Further processes wait, without holding a worker, in priority order.
    /// `0` is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use kairos_rt::Runtime;
    ///
    /// let rt = Runtime::builder().workers(2).max_processes(4).build()?;
    /// rt.shutdown();
    /// assert!(Runtime::builder().max_processes(0).build().unwrap_err().is_zero_limit());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn max_processes(mut self, n: usize) -> Builder {
        self.max_processes = Some(n);
        self
    }

    /// Bounds how many tasks may wait to start (queued, timed, or not yet polled) at
    /// once. Default: unbounded.
    ///
    /// Once `n` tasks wait:
    /// - [`try_spawn`](crate::Handle::try_spawn) returns an error whose
    ///   [`is_full`](crate::SpawnError::is_full) is true, with the closure inside;
    /// - [`spawn`](crate::Handle::spawn) and the other `spawn*` methods block the calling
    ///   thread until a task starts (or the runtime shuts down);
    /// - [`spawn_async`](crate::Handle::spawn_async) waits without blocking.
    ///
    /// Spawns made *on one of this runtime's worker threads* (from inside its tasks) or
    /// *blocking threads* (from inside a [`spawn_blocking`](crate::Handle::spawn_blocking)
    /// job) never block, since a thread waiting for room could be the one that would make
    /// it: they are admitted past the limit (and counted). A worker of another runtime blocks like
    /// any other thread. Use `try_spawn` or `spawn_async` inside tasks to respect it.
    ///
    /// The count is exact under concurrency and costs one compare-and-swap per spawn,
    /// and a decrement, a fence and a load per start; a start takes a lock only while
    /// submitters wait for room. `0` is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// let rt = Runtime::builder().workers(1).max_pending(10_000).build()?;
    /// assert_eq!(rt.spawn(Priority::NORMAL, || 1).join().unwrap(), 1);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn max_pending(mut self, n: usize) -> Builder {
        self.max_pending = Some(n);
        self
    }

    /// Sets the aging budgets (see [`Aging`]); on by default with [`Aging::default`].
    /// A zero budget is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use kairos_rt::{Aging, Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let aging = Aging::uniform(Duration::from_millis(5));
    /// let rt = Runtime::builder().workers(1).aging(aging).build()?;
    /// assert_eq!(rt.spawn(Priority::LOWEST, || "served").join().unwrap(), "served");
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn aging(mut self, aging: Aging) -> Builder {
        self.aging = Some(aging);
        self
    }

    /// Turns aging off: strict priority order, where a flood of urgent work can starve
    /// less urgent levels indefinitely.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).no_aging().build()?;
    /// assert_eq!(rt.spawn(Priority::LOW, || 1).join().unwrap(), 1);
    /// rt.shutdown();
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn no_aging(mut self) -> Builder {
        self.aging = None;
        self
    }

    /// Order within one priority level on each worker's own queue: FIFO (`false`, the
    /// default) or LIFO (`true`: a worker runs the task it queued last first, which keeps
    /// caches warm for fan-out work). Tasks submitted from outside the runtime, and
    /// tasks other workers steal, are always taken oldest first.
    ///
    /// LIFO trades fairness within a level for locality: while tasks running on a worker
    /// keep spawning (or waking) more tasks at their own level, that worker serves the
    /// newest first and its older tasks of the level wait until the chain stops or another
    /// worker steals them. Aging does not help here (it orders levels, not tasks within
    /// one). A future that yields goes behind everything at its level: always with FIFO;
    /// with LIFO, except on the fairness turn. Every 61st pick, when tasks from outside
    /// (submissions and yielded futures, which go through the same queue) wait at the
    /// level the worker serves, a batch of them goes on top of the worker's queue and runs
    /// next, oldest first: without that turn a worker serving a chain of its own spawns
    /// would never take outside work of its level, and a future that yielded may then run
    /// before tasks the worker queued earlier.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let rt = Runtime::builder().workers(1).lifo_within_level(true).build()?;
    /// let order = Arc::new(Mutex::new(Vec::new()));
    /// let o = order.clone();
    /// rt.spawn(Priority::NORMAL, move || {
    ///     // Spawned on the worker's own queue: with LIFO, the last one runs first.
    ///     for i in 0..3 {
    ///         let o = o.clone();
    ///         kairos_rt::spawn(Priority::NORMAL, move || o.lock().unwrap().push(i));
    ///     }
    /// })
    /// .join()
    /// .unwrap();
    /// rt.shutdown(); // runs every queued closure
    /// assert_eq!(*order.lock().unwrap(), [2, 1, 0]);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn lifo_within_level(mut self, lifo: bool) -> Builder {
        self.lifo = lifo;
        self
    }

    /// The most threads the blocking pool runs at once (default 512, as tokio's). Threads
    /// are started only when a [`spawn_blocking`](crate::Handle::spawn_blocking) job finds
    /// no idle one, and exit after [`blocking_keep_alive`](Self::blocking_keep_alive)
    /// without a job; at the cap, jobs wait in priority order (then arrival order).
    /// `0` is rejected by [`build`](Self::build).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder()
    ///     .workers(2)
    ///     .max_blocking_threads(16)
    ///     .blocking_keep_alive(Duration::from_secs(30))
    ///     .build()?;
    /// let h = rt.spawn_blocking(Priority::HIGH, || std::fs::metadata(".").is_ok());
    /// assert!(h.join().unwrap());
    /// assert!(Runtime::builder().max_blocking_threads(0).build().unwrap_err().is_zero_limit());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread waits for a job before it exits (default 10 s).
    /// [`Duration::ZERO`] is rejected by [`build`](Self::build) (every burst of blocking
    /// jobs would start its threads again); `Duration::MAX` keeps idle threads for good.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().blocking_keep_alive(Duration::from_millis(200)).build()?;
    /// assert!(rt.spawn_blocking(Priority::LOW, || 1 + 1).join().is_ok());
    /// let zero = Runtime::builder().blocking_keep_alive(Duration::ZERO).build();
    /// assert!(zero.unwrap_err().is_zero_keep_alive());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// Lends the reactor and timers of the tokio runtime behind `handle` to every kairos
    /// future: on the workers, on the blocking threads and inside
    /// [`block_on`](crate::Runtime::block_on), code that needs "a Tokio 1.x runtime"
    /// (`tokio::net`, `tokio::time`, reqwest, tonic, sqlx, the `redis` crate's async API)
    /// works, at kairos priorities. Feature `tokio`.
    ///
    /// The tokio runtime must be a multi-thread one (its threads drive the reactor; a
    /// current-thread runtime drives it only inside its own `block_on`, so kairos tasks
    /// waiting on it would hang): a current-thread handle is rejected by
    /// [`build`](Self::build). Keep that runtime alive as long as kairos uses it; once it
    /// shuts down, tokio I/O fails. `tokio::spawn` inside a kairos task spawns onto it.
    /// To let kairos own one, use [`enable_tokio`](Self::enable_tokio).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let tokio_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    /// let rt = Runtime::builder().workers(2).tokio_handle(tokio_rt.handle().clone()).build()?;
    /// let h = rt.spawn_future(Priority::HIGH, async {
    ///     tokio::time::sleep(std::time::Duration::from_millis(1)).await; // tokio's timer
    ///     "woken by tokio's timer driver"
    /// });
    /// assert_eq!(h.join().unwrap(), "woken by tokio's timer driver");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tokio")]
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Builder {
        self.tokio = Some(TokioSource::Given(handle));
        self
    }

    /// Like [`tokio_handle`](Self::tokio_handle), with a tokio runtime that the kairos
    /// runtime makes and owns: a multi-thread tokio runtime with **one** worker thread
    /// (named `"{thread_name}-tokio"`), with I/O and time enabled. That thread sleeps in
    /// the reactor (`epoll` on Linux) and wakes for each I/O event or tokio timer, which
    /// it turns into a wake-up of the kairos task waiting on it (queued at the task's
    /// priority); it also runs whatever is `tokio::spawn`ed. The cost: one mostly idle
    /// thread, and one extra thread hop per I/O event. The kairos runtime's shutdown stops
    /// it (without waiting; tasks left on tokio are dropped), once the workers and the
    /// blocking pool are done. Feature `tokio`.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(2).enable_tokio().build()?;
    /// // A tokio TCP listener and client, polled by kairos workers and by `block_on`.
    /// let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    /// let addr = listener.local_addr()?;
    /// let server = rt.spawn_future(Priority::NORMAL, async move { listener.accept().await.map(|_| ()) });
    /// rt.block_on(tokio::net::TcpStream::connect(addr))?;
    /// server.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tokio")]
    pub fn enable_tokio(mut self) -> Builder {
        self.tokio = Some(TokioSource::Owned);
        self
    }

    /// The I/O driver the settings ask for (with the `tokio` feature: a tokio handle).
    fn io_driver(&mut self) -> Result<IoDriver, BuildError> {
        #[cfg(feature = "tokio")]
        {
            use crate::config::io::TokioDriver;
            match self.tokio.take() {
                None => Ok(IoDriver::default()),
                Some(TokioSource::Given(h)) => match h.runtime_flavor() {
                    tokio::runtime::RuntimeFlavor::CurrentThread => Err(BuildError::tokio_current_thread()),
                    _ => Ok(TokioDriver::given(h).into_driver()),
                },
                Some(TokioSource::Owned) => TokioDriver::owned(&self.thread_name)
                    .map(TokioDriver::into_driver)
                    .map_err(BuildError::tokio),
            }
        }
        #[cfg(not(feature = "tokio"))]
        Ok(IoDriver::default())
    }

    /// Starts the workers.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if the worker count is 0 or above 1,024; if `max_processes`,
    /// `max_pending`, `max_blocking_threads`, `blocking_keep_alive` or an aging budget is
    /// 0; (feature `tokio`) if a tokio handle is of a current-thread runtime, or the
    /// tokio runtime of `enable_tokio` cannot start; if the thread name prefix holds a NUL byte
    /// or the stack size is 0; if [`MAX_RUNTIMES`](crate::MAX_RUNTIMES) runtimes are
    /// alive already (a runtime counts until its shared state is freed: see
    /// [`Runtime::shutdown`]); or if a thread cannot be spawned (the workers already
    /// started are stopped again).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// assert_eq!(rt.spawn(Priority::NORMAL, || "up").join().unwrap(), "up");
    /// rt.shutdown();
    /// assert!(Runtime::builder().workers(0).build().unwrap_err().is_zero_workers());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn build(mut self) -> Result<Runtime, BuildError> {
        let workers = match self.workers {
            Some(0) => return Err(BuildError::zero_workers()),
            Some(n) if n > MAX_OWNERS => return Err(BuildError::too_many_workers(n, MAX_OWNERS)),
            Some(n) => n,
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(MAX_OWNERS),
        };
        let max_processes = match self.max_processes {
            Some(0) => return Err(BuildError::zero_limit("max_processes")),
            Some(n) => n,
            None => workers,
        };
        if self.thread_name.contains('\0') {
            return Err(BuildError::thread_name_nul(self.thread_name));
        }
        if self.stack_size == Some(0) {
            return Err(BuildError::zero_stack_size());
        }
        if self.max_pending == Some(0) {
            return Err(BuildError::zero_limit("max_pending"));
        }
        if let Some(level) = self.aging.as_ref().and_then(Aging::zero_level) {
            return Err(BuildError::zero_aging(level));
        }
        if self.max_blocking_threads == 0 {
            return Err(BuildError::zero_limit("max_blocking_threads"));
        }
        if self.blocking_keep_alive.is_zero() {
            return Err(BuildError::zero_keep_alive());
        }
        if self.dense_timer_slack > MAX_DENSE_TIMER_SLACK {
            return Err(BuildError::dense_timer_slack_too_long(
                self.dense_timer_slack,
                MAX_DENSE_TIMER_SLACK,
            ));
        }
        let io = self.io_driver()?;
        let blocking = BlockingConfig {
            max_threads: self.max_blocking_threads,
            keep_alive: self.blocking_keep_alive,
            thread_name: self.thread_name.clone(),
            stack_size: self.stack_size,
        };
        let queues: Vec<RunQueue> = (0..workers).map(|_| RunQueue::with_order(self.lifo)).collect();
        let config = BuilderConfig {
            on_thread_start: self.on_thread_start,
            on_thread_stop: self.on_thread_stop,
            spin_before_park: self.spin_before_park,
            dense_timer_slack_ticks: ticks_of_slack(self.dense_timer_slack),
            max_processes,
            max_pending: self.max_pending,
            aging: self.aging,
            lifo: self.lifo,
            blocking,
            io,
        };
        let shared = Shared::new_arc(config, queues.iter().map(|q| q.stealers()).collect());
        if !shared.has_home() {
            return Err(BuildError::too_many_runtimes(MAX_HOMES));
        }
        let mut rt = Runtime::from_parts(Handle { shared: shared.clone() });
        for (index, queue) in queues.into_iter().enumerate() {
            let ctx = WorkerCtx::new(shared.clone(), index, queue);
            let mut b = std::thread::Builder::new().name(format!("{}-{index}", self.thread_name));
            if let Some(size) = self.stack_size {
                b = b.stack_size(size);
            }
            // The worker's unit of the shutdown's last-one-out count, taken before it can leave.
            shared.worker_arrives();
            match b.spawn(move || ctx.run()) {
                Ok(t) => rt.threads.push(t),
                Err(e) => {
                    shared.worker_not_started();
                    let _ = rt.shutdown();
                    return Err(BuildError::spawn(e));
                }
            }
        }
        Ok(rt)
    }
}
