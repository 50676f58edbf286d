//! `spawn_blocking`: the public face of the blocking pool (`sched::blocking`, which states
//! its protocol), on [`Handle`] and [`Runtime`].

use crate::runtime::error::SpawnError;
use crate::sched::spawn::{Admit, Refusal};
use crate::{Handle, Runtime};
use kairos_rt_core::task::{Closure, JoinHandle};
use kairos_rt_core::Priority;

impl Handle {
    /// Runs `f` on the runtime's blocking pool, never on a worker: for code that blocks
    /// its thread (a synchronous HTTP or database client, file I/O, a long computation
    /// that cannot yield). The workers go on running tasks, so a blocking call never
    /// delays a `HIGHEST` task behind it.
    ///
    /// The pool starts a thread when a job finds no idle one, up to
    /// [`Builder::max_blocking_threads`](crate::Builder::max_blocking_threads) (default
    /// 512); beyond that, jobs wait most urgent first (then in arrival order). A thread
    /// idle for [`Builder::blocking_keep_alive`](crate::Builder::blocking_keep_alive)
    /// (default 10 s) exits. [`pending`](Self::pending) counts queued jobs
    /// ([`PendingSnapshot::blocking_queued`](crate::PendingSnapshot::blocking_queued)),
    /// [`metrics`](Self::metrics) shows queued, running and threads.
    ///
    /// The handle is the same [`JoinHandle`] as for [`spawn`](Self::spawn): join it, await
    /// it in a future, or cancel a job that has not started. Its
    /// [`set_priority`](JoinHandle::set_priority) returns `false`: a blocking job keeps
    /// its level. [`max_pending`](crate::Builder::max_pending) counts queued jobs like
    /// other waiting tasks (this call waits for room like `spawn`).
    ///
    /// At shutdown, queued jobs still run (like queued closures) and shutdown waits for
    /// running ones; a call that never returns cannot be stopped, so
    /// [`Runtime::shutdown`] would wait forever: use
    /// [`shutdown_timeout`](Runtime::shutdown_timeout), whose report counts it (and the
    /// jobs queued behind it) as `unfinished`. On a runtime that is shut down, the
    /// returned handle's result is a shutdown error.
    ///
    /// # Panics
    ///
    /// If the pool has no thread and the OS refuses to start one (as
    /// [`std::thread::spawn`] panics then): the job would have no thread to run it.
    /// [`try_spawn_blocking`](Self::try_spawn_blocking) hands the closure back instead
    /// ([`SpawnError::is_no_thread`]). While the pool has a thread, a refused extra
    /// thread is no error: the job waits for the threads there are, and the next spawn
    /// tries to start one again.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let h = rt.handle().spawn_blocking(Priority::NORMAL, || {
    ///     std::thread::sleep(std::time::Duration::from_millis(5)); // stands for a blocking call
    ///     std::thread::current().name().map(str::to_owned)
    /// });
    /// // The worker stays free meanwhile.
    /// assert_eq!(rt.spawn(Priority::HIGHEST, || "urgent").join().unwrap(), "urgent");
    /// assert_eq!(h.join().unwrap().as_deref(), Some("kairos-worker-blocking"));
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_blocking<F, T>(&self, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.shared.submit_blocking(Closure(f), priority, Admit::Wait) {
            Ok(h) => h,
            Err(Refusal::NoThread(_, e)) => {
                panic!("spawn_blocking: the blocking pool has no thread and the OS refused to start one: {e}")
            }
            Err(_) => self.refused(),
        }
    }

    /// Like [`spawn_blocking`](Self::spawn_blocking), but never waits for room: a refused
    /// closure comes back inside the error, when the runtime is shut down
    /// ([`is_shutdown`](SpawnError::is_shutdown)), with
    /// [`Builder::max_pending`](crate::Builder::max_pending), full
    /// ([`is_full`](SpawnError::is_full)), or when the pool has no thread and the OS
    /// refuses to start one ([`is_no_thread`](SpawnError::is_no_thread), where
    /// [`spawn_blocking`](Self::spawn_blocking) panics).
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// assert_eq!(handle.try_spawn_blocking(Priority::LOW, || 3).unwrap().join().unwrap(), 3);
    /// drop(rt.shutdown());
    /// assert!(handle.try_spawn_blocking(Priority::LOW, || 3).unwrap_err().is_shutdown());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn try_spawn_blocking<F, T>(&self, priority: Priority, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.shared
            .submit_blocking(Closure(f), priority, Admit::Try)
            .map_err(|r| r.into_spawn_error(|Closure(f)| f))
    }
}

impl Runtime {
    /// See [`Handle::spawn_blocking`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.spawn_blocking(kairos_rt::Priority::NORMAL, || std::fs::metadata(".").is_ok());
    /// assert!(h.join().unwrap());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn spawn_blocking<F, T>(&self, priority: Priority, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn_blocking(priority, f)
    }

    /// See [`Handle::try_spawn_blocking`].
    ///
    /// ```
    /// # let rt = kairos_rt::Runtime::builder().workers(1).build()?;
    /// let h = rt.try_spawn_blocking(kairos_rt::Priority::NORMAL, || 2 + 2).unwrap();
    /// assert_eq!(h.join().unwrap(), 4);
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn try_spawn_blocking<F, T>(&self, priority: Priority, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.try_spawn_blocking(priority, f)
    }
}
