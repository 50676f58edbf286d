//! Stress (issue 4): many tasks from several threads with random priorities, delays,
//! cancels, panics, nested spawns and futures, priority changes and deadlines (issue 5),
//! with a shutdown in the middle. Afterwards
//! the report balances exactly, matches the number of spawn calls made, no task ran twice,
//! and every captured object is dropped.
//!
//! Two more endings (issue 19): `shutdown_timeout` giving up on a worker held by a gate,
//! and `shutdown()` from inside one of the runtime's own tasks. After each, every kept
//! handle resolves, every captured object is dropped and the runtime's shared state is
//! freed.
//!
//! Size: `KAIROS_STRESS_TASKS` outside submissions in total (default 1,000,000, about half
//! of which are made before the shutdown stops them; nested spawns and sleeps come on top);
//! the two extra endings use a tenth of it each.

mod common;

use common::*;
use kairos_rt::{Handle, JoinError, JoinHandle, Priority, Runtime, Task};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Keeps the thousands of intended panics from printing (a backtrace each, when
/// RUST_BACKTRACE is set); any other panic still goes to the default hook.
fn quiet_intended_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = panic_message(info.payload());
            if !msg.starts_with("stress panic") {
                default(info);
            }
        }));
    });
}

fn stress_tasks() -> usize {
    std::env::var("KAIROS_STRESS_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000)
}

/// Shared bookkeeping of one stress run.
struct Ctx {
    live: &'static Live,
    /// Per-task run counters, indexed by task id.
    runs: Vec<AtomicU8>,
    next_id: AtomicUsize,
    /// Every call that submits a task (spawn*, try_spawn), from anywhere.
    calls: AtomicU64,
    /// Every call that asks for one of the runtime's own timers (sleep, timeout).
    timer_calls: AtomicU64,
    /// Panicking bodies that started (each is exactly one `panicked` in the report).
    panics_ran: AtomicU64,
    /// `cancel()` calls that returned true, by task id.
    cancelled_ids: std::sync::Mutex<Vec<usize>>,
    /// Closures handed back by `try_spawn`, by task id.
    handed_back: AtomicU64,
}

impl Ctx {
    fn new(outside: usize) -> Arc<Ctx> {
        Arc::new(Ctx {
            live: Live::leak(),
            runs: (0..outside * 3).map(|_| AtomicU8::new(0)).collect(),
            next_id: AtomicUsize::new(0),
            calls: AtomicU64::new(0),
            timer_calls: AtomicU64::new(0),
            panics_ran: AtomicU64::new(0),
            cancelled_ids: std::sync::Mutex::new(Vec::new()),
            handed_back: AtomicU64::new(0),
        })
    }

    fn id(&self) -> Option<usize> {
        let id = self.next_id.fetch_add(1, SeqCst);
        (id < self.runs.len()).then_some(id)
    }

    fn ran(&self, id: usize) {
        let before = self.runs[id].fetch_add(1, SeqCst);
        assert_eq!(before, 0, "task {id} ran twice");
    }

    fn call(&self) {
        self.calls.fetch_add(1, SeqCst);
    }

    fn timer_call(&self) {
        self.timer_calls.fetch_add(1, SeqCst);
    }
}

/// What a kept handle was, to check its result against the run counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Closure,
    Panic,
    Future,
    /// An hour-long timer: never runs in these tests.
    NeverTimer,
    /// A future pending forever.
    NeverFuture,
    /// A closure with a deadline: it ran, or it expired unrun.
    Deadline,
}

struct Kept {
    id: usize,
    kind: Kind,
    handle: JoinHandle<usize>,
}

fn priority(r: &mut fastrand::Rng) -> Priority {
    Priority::new(r.u8(0..64)).unwrap()
}

/// A plain body: counts its run, holds a tracked guard.
fn body(ctx: Arc<Ctx>, id: usize) -> impl FnOnce() -> usize + Send + 'static {
    let guard = Tracked::new(ctx.live);
    move || {
        let _g = guard;
        ctx.ran(id);
        id
    }
}

/// A body that spawns 1-3 children (some timed) from inside the task.
fn nested(ctx: Arc<Ctx>, id: usize, seed: u64) -> impl FnOnce() -> usize + Send + 'static {
    let guard = Tracked::new(ctx.live);
    move || {
        let _g = guard;
        ctx.ran(id);
        let mut r = fastrand::Rng::with_seed(seed);
        for _ in 0..r.usize(1..4) {
            let Some(child) = ctx.id() else { break };
            ctx.call();
            if r.bool() {
                drop(kairos_rt::spawn(priority(&mut r), body(ctx.clone(), child)));
            } else {
                let h = kairos_rt::try_current().expect("inside a task");
                let d = Duration::from_micros(r.u64(0..1_000));
                drop(h.spawn_after(d, priority(&mut r), body(ctx.clone(), child)));
            }
        }
        id
    }
}

/// A future with yields, maybe a sleep, maybe a child it awaits, maybe a timeout.
async fn future_body(ctx: Arc<Ctx>, id: usize, seed: u64) -> usize {
    let _g = Tracked::new(ctx.live);
    ctx.ran(id);
    let mut r = fastrand::Rng::with_seed(seed);
    for _ in 0..r.u32(0..3) {
        kairos_rt::yield_now().await;
    }
    if r.u8(0..3) == 0 {
        ctx.timer_call();
        kairos_rt::sleep(Duration::from_micros(r.u64(0..500))).await;
    }
    if r.u8(0..4) == 0 {
        if let Some(child) = ctx.id() {
            ctx.call();
            let _ = kairos_rt::spawn(priority(&mut r), body(ctx.clone(), child)).await;
        }
    }
    if r.u8(0..6) == 0 {
        ctx.timer_call(); // the timeout's own sleep
        let _ = kairos_rt::timeout(Duration::from_micros(r.u64(0..300)), kairos_rt::yield_now()).await;
    }
    id
}

/// Submits `quota` tasks of random kinds from one thread; stops early once the runtime
/// is seen shut down (after one last, refused, submission).
fn submitter(
    handle: Handle,
    ctx: Arc<Ctx>,
    quota: usize,
    seed: u64,
    keep_one_in: u8,
    submitted: Arc<AtomicUsize>,
) -> Vec<Kept> {
    let mut r = fastrand::Rng::with_seed(seed);
    let mut kept = Vec::new();
    for _ in 0..quota {
        let closed = handle.is_shutdown();
        let Some(id) = ctx.id() else { break };
        let p = priority(&mut r);
        ctx.call();
        let roll = r.u8(0..100);
        let (kind, h): (Kind, JoinHandle<usize>) = match roll {
            0..44 => {
                let h = handle.spawn(p, body(ctx.clone(), id));
                if r.u8(0..8) == 0 {
                    // Queued or already running: either answer is fine, it runs once.
                    let _ = h.set_priority(priority(&mut r));
                }
                (Kind::Closure, h)
            }
            44..50 => {
                let by = std::time::Instant::now() + Duration::from_micros(r.u64(0..200));
                match handle.spawn_with(Task::new(body(ctx.clone(), id)).priority(p).deadline(by)) {
                    Ok(h) => {
                        ctx.timer_call(); // the deadline's expiry timer
                        (Kind::Deadline, h)
                    }
                    Err(e) => {
                        assert!(e.is_shutdown(), "{e}");
                        ctx.handed_back.fetch_add(1, SeqCst);
                        drop(e.into_inner());
                        submitted.fetch_add(1, SeqCst);
                        if closed {
                            break;
                        }
                        continue;
                    }
                }
            }
            50..62 => {
                let d = Duration::from_micros(r.u64(0..2_000));
                (Kind::Closure, handle.spawn_after(d, p, body(ctx.clone(), id)))
            }
            62..64 => {
                (Kind::NeverTimer, handle.spawn_after(Duration::from_secs(3600), p, body(ctx.clone(), id)))
            }
            64..70 => {
                let d = Duration::from_micros(r.u64(0..3_000));
                let h = if r.bool() {
                    handle.spawn(p, body(ctx.clone(), id))
                } else {
                    handle.spawn_after(d, p, body(ctx.clone(), id))
                };
                if h.cancel() {
                    ctx.cancelled_ids.lock().unwrap().push(id);
                }
                (Kind::Closure, h)
            }
            70..73 => {
                let c = ctx.clone();
                let guard = Tracked::new(ctx.live);
                let h = handle.spawn(p, move || -> usize {
                    let _g = guard;
                    c.ran(id);
                    c.panics_ran.fetch_add(1, SeqCst);
                    panic!("stress panic {id}")
                });
                (Kind::Panic, h)
            }
            73..80 => (Kind::Closure, handle.spawn(p, nested(ctx.clone(), id, r.u64(..)))),
            80..92 => (Kind::Future, handle.spawn_future(p, future_body(ctx.clone(), id, r.u64(..)))),
            92..94 => {
                let guard = Tracked::new(ctx.live);
                let c = ctx.clone();
                let h = handle.spawn_future(p, async move {
                    let _g = guard;
                    c.ran(id);
                    std::future::pending::<()>().await;
                    id
                });
                (Kind::NeverFuture, h)
            }
            _ => match handle.try_spawn(p, body(ctx.clone(), id)) {
                Ok(h) => (Kind::Closure, h),
                Err(e) => {
                    ctx.handed_back.fetch_add(1, SeqCst);
                    drop(e.into_inner());
                    submitted.fetch_add(1, SeqCst);
                    if closed {
                        break;
                    }
                    continue;
                }
            },
        };
        if r.u8(0..keep_one_in) == 0 {
            kept.push(Kept { id, kind, handle: h });
        }
        submitted.fetch_add(1, SeqCst);
        if closed {
            break;
        }
    }
    kept
}

/// Starts `threads` submitter threads sharing `total` submissions (seeds `seed`,
/// `seed + 1`, ...); returns them and the shared count of submissions made so far.
fn start_submitters(
    rt: &Runtime,
    ctx: &Arc<Ctx>,
    (threads, total, seed, keep_one_in): (usize, usize, u64, u8),
) -> (Vec<std::thread::JoinHandle<Vec<Kept>>>, Arc<AtomicUsize>) {
    let submitted = Arc::new(AtomicUsize::new(0));
    let subs = (0..threads)
        .map(|t| {
            let (handle, ctx, submitted) = (rt.handle(), ctx.clone(), submitted.clone());
            std::thread::spawn(move || {
                submitter(handle, ctx, total / threads, seed + t as u64, keep_one_in, submitted)
            })
        })
        .collect();
    (subs, submitted)
}

fn check_kept(ctx: &Ctx, kept: Vec<Kept>) -> (usize, usize) {
    let (mut ok, mut err) = (0, 0);
    for Kept { id, kind, handle } in kept {
        assert!(handle.is_finished(), "task {id} unfinished after shutdown");
        let runs = ctx.runs[id].load(SeqCst);
        // Finished, so this does not block.
        let result: Result<usize, JoinError> = handle.join();
        match (&result, kind) {
            (Ok(v), _) => {
                assert_eq!((*v, runs), (id, 1), "{kind:?} {id}");
                ok += 1;
            }
            (Err(e), Kind::Panic) if e.is_panic() => assert_eq!(runs, 1),
            (Err(e), Kind::Closure | Kind::Panic | Kind::NeverTimer) => {
                assert!(e.is_cancelled() || e.is_shutdown(), "{kind:?} {id}: {e:?}");
                assert_eq!(runs, 0, "{kind:?} {id} ran but its handle says {e:?}");
                err += 1;
            }
            (Err(e), Kind::Deadline) => {
                assert!(e.is_expired() || e.is_shutdown(), "deadline {id}: {e:?}");
                assert_eq!(runs, 0, "deadline task {id} ran but its handle says {e:?}");
                err += 1;
            }
            (Err(e), Kind::Future | Kind::NeverFuture) => {
                // A future may have started before it was cancelled or dropped.
                assert!(e.is_cancelled() || e.is_shutdown() || e.is_panic(), "{e:?}");
                err += 1;
            }
        }
    }
    (ok, err)
}

#[test]
fn stress_with_shutdown_in_the_middle() {
    quiet_intended_panics();
    let total = stress_tasks();
    let threads = 3;
    let ctx = Ctx::new(total);
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (subs, submitted) = start_submitters(&rt, &ctx, (threads, total, 1000, 8));
    assert!(wait_until(|| submitted.load(SeqCst) >= total / 2), "submitters stalled");
    // Hold shutdown open with a gate until the submitters have stopped, so every spawn
    // call lands before the report's snapshot (see the ignored
    // shutdown::shutdown_racing_spawns_from_other_threads_balances for the unheld race).
    let gate = Gate::hold(&rt, Priority::HIGHEST);
    let handle = rt.handle();
    let shutdown = std::thread::spawn(move || rt.shutdown());
    assert!(wait_until(|| handle.is_shutdown()));
    let kept: Vec<Kept> = subs.into_iter().flat_map(|s| s.join().unwrap()).collect();
    drop(gate.open());
    let report = within(move || shutdown.join().unwrap()).expect("shutdown hung");

    assert!(!report.timed_out, "{report:?}");
    assert_eq!(report.unfinished, 0, "{report:?}");
    assert!(report.is_balanced(), "{report:?}");
    assert_eq!(report.submitted, ctx.calls.load(SeqCst) + 1, "every spawn call is in the report: {report:?}");
    assert_eq!(report.runtime_timers.submitted, ctx.timer_calls.load(SeqCst), "every sleep: {report:?}");
    assert_eq!(report.panicked, ctx.panics_ran.load(SeqCst), "{report:?}");
    assert!(report.rejected >= threads as u64, "each submitter's last call was refused: {report:?}");
    assert!(report.rejected >= ctx.handed_back.load(SeqCst), "{report:?}");
    let cancelled = ctx.cancelled_ids.lock().unwrap().clone();
    assert!(report.cancelled >= cancelled.len() as u64, "{report:?}");
    assert!(report.timers_dropped > 0 && report.futures_dropped > 0, "the mix reached shutdown: {report:?}");
    for id in cancelled {
        assert_eq!(ctx.runs[id].load(SeqCst), 0, "task {id} ran although cancel returned true");
    }
    let ids = ctx.next_id.load(SeqCst).min(ctx.runs.len());
    let over = (0..ids).filter(|&i| ctx.runs[i].load(SeqCst) > 1).count();
    assert_eq!(over, 0, "tasks ran more than once");
    let (ok, _) = check_kept(&ctx, kept);
    assert!(ok > 0);
    assert!(wait_until(|| ctx.live.now() == 0), "{} captured objects never dropped", ctx.live.now());
    assert_eq!(ctx.live.created.load(SeqCst), ctx.live.dropped.load(SeqCst));
    eprintln!("stress: {report:?}");
}

/// Without a shutdown in the middle: every task submitted from outside that was not
/// cancelled and does not wait forever runs exactly once (all their handles are joined).
#[test]
fn stress_to_completion_runs_every_task_once() {
    quiet_intended_panics();
    let total = stress_tasks() / 4;
    let threads = 2;
    let ctx = Ctx::new(total);
    let rt = Runtime::builder().workers(2).build().unwrap();
    let (subs, _) = start_submitters(&rt, &ctx, (threads, total, 77, 1));
    let kept: Vec<Kept> = subs.into_iter().flat_map(|s| s.join().unwrap()).collect();
    let cancelled: std::collections::HashSet<usize> =
        ctx.cancelled_ids.lock().unwrap().iter().copied().collect();
    let (never, finite): (Vec<Kept>, Vec<Kept>) =
        kept.into_iter().partition(|k| matches!(k.kind, Kind::NeverTimer | Kind::NeverFuture));
    let c = ctx.clone();
    let joined = within(move || {
        let mut count = 0u64;
        for Kept { id, kind, handle } in finite {
            match handle.join() {
                Ok(v) => assert_eq!(v, id),
                Err(e) if kind == Kind::Panic => assert!(e.is_panic(), "{e:?}"),
                Err(e) if kind == Kind::Deadline => {
                    assert!(e.is_expired(), "{e:?}");
                    assert_eq!(c.runs[id].load(SeqCst), 0, "expired task {id} ran");
                    continue;
                }
                Err(e) => {
                    assert!(e.is_cancelled() && cancelled.contains(&id), "{kind:?} {id} failed: {e:?}")
                }
            }
            if !cancelled.contains(&id) {
                assert_eq!(c.runs[id].load(SeqCst), 1, "{kind:?} {id} did not run exactly once");
                count += 1;
            }
        }
        count
    })
    .expect("joining every task took too long");
    assert!(joined > 0);
    let report = within(move || rt.shutdown()).expect("shutdown hung");
    assert!(report.is_balanced() && report.unfinished == 0, "{report:?}");
    assert_eq!(report.submitted, ctx.calls.load(SeqCst), "{report:?}");
    assert_eq!(report.runtime_timers.submitted, ctx.timer_calls.load(SeqCst), "every sleep: {report:?}");
    assert_eq!(report.runtime_timers.refused, 0, "{report:?}");
    assert_eq!(report.rejected, 0, "{report:?}");
    assert_eq!(report.panicked, ctx.panics_ran.load(SeqCst), "{report:?}");
    let ids = ctx.next_id.load(SeqCst).min(ctx.runs.len());
    let over = (0..ids).filter(|&i| ctx.runs[i].load(SeqCst) > 1).count();
    assert_eq!(over, 0);
    for Kept { id, handle, .. } in never {
        let e = handle.join().unwrap_err();
        assert!(e.is_shutdown(), "{id}: {e:?}");
    }
    assert!(wait_until(|| ctx.live.now() == 0), "{} captured objects never dropped", ctx.live.now());
}

/// How a stress run ends (issue 19): each must resolve every handle and free everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// `shutdown_timeout` gives up on a worker held by a gate, which is released after.
    TimeoutGivesUp,
    /// `shutdown()` called inside one of the runtime's own tasks.
    FromInside,
}

/// Submitters run; the runtime ends as `ending` says while they still submit; then every
/// kept handle must resolve, every captured object be dropped and the runtime be freed.
fn stress_ending(ending: Ending) {
    quiet_intended_panics();
    let total = stress_tasks() / 10;
    let threads = 2;
    let ctx = Ctx::new(total);
    let (rt, freed) = runtime_with_freed_flag(2);
    let (subs, submitted) = start_submitters(&rt, &ctx, (threads, total, 500, 4));
    assert!(wait_until(|| submitted.load(SeqCst) >= total / 4), "submitters stalled");
    let handle = rt.handle();
    let report = match ending {
        Ending::TimeoutGivesUp => {
            let gate = Gate::hold(&rt, Priority::HIGHEST);
            let report = within(move || rt.shutdown_timeout(Duration::from_millis(1))).expect("hung");
            assert!(report.timed_out && report.unjoined_workers >= 1, "{report:?}");
            drop(gate.open());
            report
        }
        Ending::FromInside => {
            let (tx, rx) = std::sync::mpsc::channel();
            drop(handle.spawn(Priority::HIGHEST, move || tx.send(rt.shutdown()).unwrap()));
            let report = rx.recv_timeout(PATIENCE).expect("shutdown from inside hung");
            assert!(!report.timed_out && report.unjoined_workers == 1, "{report:?}");
            report
        }
    };
    assert!(report.is_balanced(), "{report:?}");
    let kept: Vec<Kept> = subs.into_iter().flat_map(|s| s.join().unwrap()).collect();
    drop(handle);
    assert!(
        wait_until(|| kept.iter().all(|k| k.handle.is_finished())),
        "{:?}: {} kept handles never resolved",
        ending,
        kept.iter().filter(|k| !k.handle.is_finished()).count()
    );
    let (ok, err) = check_kept(&ctx, kept);
    assert!(ok + err > 0);
    assert!(
        wait_until(|| ctx.live.now() == 0),
        "{ending:?}: {} captured objects never dropped",
        ctx.live.now()
    );
    assert!(wait_until(|| freed.load(SeqCst)), "{ending:?}: the runtime's state was never freed");
    let ids = ctx.next_id.load(SeqCst).min(ctx.runs.len());
    assert_eq!((0..ids).filter(|&i| ctx.runs[i].load(SeqCst) > 1).count(), 0, "tasks ran more than once");
    eprintln!("stress {ending:?}: {report:?}");
}

#[test]
fn stress_ending_with_a_shutdown_timeout_that_gives_up() {
    stress_ending(Ending::TimeoutGivesUp);
}

#[test]
fn stress_ending_with_a_shutdown_from_inside_a_task() {
    stress_ending(Ending::FromInside);
}
