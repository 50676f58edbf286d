//! Helpers shared by the integration tests: gates that hold a worker, bounded waits, drop
//! trackers and panic-message extraction. Every wait here is bounded so a broken runtime
//! fails a test instead of hanging the suite.
#![allow(dead_code)]

use kairos_rt::{JoinError, JoinHandle, Priority, Runtime};
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long any single wait may take before the test gives up (generous: debug builds on a
/// noisy 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn runtime(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().expect("build runtime")
}

/// A task that occupies one worker until released.
pub struct Gate {
    release: mpsc::Sender<()>,
    pub handle: JoinHandle<()>,
}

impl Gate {
    /// Spawns the gate task at `priority` and waits until it is running.
    pub fn hold(rt: &Runtime, priority: Priority) -> Gate {
        let (started_tx, started_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let handle = rt.spawn(priority, move || {
            started_tx.send(()).unwrap();
            release_rx.recv_timeout(PATIENCE).expect("gate never released");
        });
        started_rx.recv_timeout(PATIENCE).expect("gate task never started");
        Gate { release, handle }
    }

    pub fn open(self) -> JoinHandle<()> {
        let _ = self.release.send(());
        self.handle
    }
}

/// Polls `cond` until it holds or `PATIENCE` passes; returns whether it held.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    cond()
}

/// Joins `h` on a helper thread; `None` if it did not finish within `PATIENCE`.
pub fn join_within<T: Send + 'static>(h: JoinHandle<T>) -> Option<Result<T, JoinError>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(h.join());
    });
    rx.recv_timeout(PATIENCE).ok()
}

/// Joins `h`, panicking with a clear message if it hangs.
pub fn join<T: Send + 'static>(h: JoinHandle<T>) -> Result<T, JoinError> {
    join_within(h).expect("join did not finish in time")
}

/// Runs `f` on a helper thread; `None` if it did not return within `PATIENCE`.
pub fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(PATIENCE).ok()
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_string()
    }
}

/// Sets its flag when dropped.
pub struct DropFlag(pub Arc<AtomicBool>);

impl DropFlag {
    pub fn new() -> (DropFlag, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        (DropFlag(flag.clone()), flag)
    }
}

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A live-object counter: each `Tracked` adds one while it lives.
#[derive(Debug, Default)]
pub struct Live {
    pub live: AtomicIsize,
    pub created: AtomicUsize,
    pub dropped: AtomicUsize,
}

impl Live {
    pub fn leak() -> &'static Live {
        Box::leak(Box::default())
    }
    pub fn now(&self) -> isize {
        self.live.load(SeqCst)
    }
}

/// One live object of a `Live` counter.
#[derive(Debug)]
pub struct Tracked(&'static Live);

impl Tracked {
    pub fn new(live: &'static Live) -> Tracked {
        live.live.fetch_add(1, SeqCst);
        live.created.fetch_add(1, SeqCst);
        Tracked(live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, SeqCst);
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

/// A future that stores its waker for the test to use and completes once `fire` is set.
/// With nobody setting `fire`, it waits forever (like a channel that never sends).
#[derive(Clone, Default)]
pub struct Signal {
    pub fired: Arc<AtomicBool>,
    pub waker: Arc<Mutex<Option<Waker>>>,
    pub polls: Arc<AtomicUsize>,
}

impl Signal {
    pub fn wait(&self) -> SignalWait {
        SignalWait(self.clone())
    }
    pub fn fire(&self) {
        self.fired.store(true, SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }
    pub fn has_waker(&self) -> bool {
        self.waker.lock().unwrap().is_some()
    }
}

pub struct SignalWait(Signal);

impl Future for SignalWait {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.polls.fetch_add(1, SeqCst);
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.fired.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Order recorder shared by tasks.
pub type Log<T> = Arc<Mutex<Vec<T>>>;

pub fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

/// A waker that does nothing (for polling a handle once by hand).
pub fn noop_waker() -> Waker {
    Waker::noop().clone()
}

/// A runtime of `workers` workers, and a flag set once its shared state is freed: its
/// `on_thread_stop` hook, which that state owns, holds a `DropFlag`.
pub fn runtime_with_freed_flag(workers: usize) -> (Runtime, Arc<AtomicBool>) {
    let (flag, freed) = DropFlag::new();
    let rt = Runtime::builder()
        .workers(workers)
        .on_thread_stop(move || {
            let _ = &flag;
        })
        .build()
        .expect("build runtime");
    (rt, freed)
}
