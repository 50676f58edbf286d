//! `spawn_recurring` on a real runtime: counts, order, overlap rules, panics, cancel,
//! missed ticks, shutdown accounting. Assertions are on counts and order; waits are
//! bounded (`wait_until`), never timing bounds.

mod common;

use common::{runtime, wait_until, Gate, PATIENCE};
use kairos_rt::time::{interval, interval_at, MissedTickBehavior as IntervalMissed};
use kairos_rt::{MissedTickBehavior, OnPanic, Overlap, Priority, Recurring, Schedule};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

fn every(d: Duration) -> Schedule {
    Schedule::every(d).unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A body that counts its starts, tracks how many runs overlap, and blocks while `hold`.
#[derive(Default)]
struct Probe {
    starts: AtomicU64,
    running: AtomicU64,
    max_running: AtomicU64,
    hold: AtomicBool,
}

impl Probe {
    fn held() -> Arc<Probe> {
        let p = Arc::new(Probe::default());
        p.hold.store(true, SeqCst);
        p
    }

    fn body(self: &Arc<Probe>) -> impl Fn() + Send + Sync + 'static {
        let p = self.clone();
        move || {
            p.starts.fetch_add(1, SeqCst);
            let now = p.running.fetch_add(1, SeqCst) + 1;
            p.max_running.fetch_max(now, SeqCst);
            let deadline = Instant::now() + PATIENCE;
            while p.hold.load(SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(100));
            }
            p.running.fetch_sub(1, SeqCst);
        }
    }

    fn starts(&self) -> u64 {
        self.starts.load(SeqCst)
    }
}

fn finish(job: &Recurring) {
    assert!(wait_until(|| job.is_finished()), "schedule never finished: {job:?}");
}

#[test]
fn times_n_runs_exactly_n_times_in_order_then_finishes() {
    let rt = runtime(2);
    let log = Arc::new(Mutex::new(Vec::new()));
    let n = Arc::new(AtomicU64::new(0));
    let (l, c) = (log.clone(), n.clone());
    let job = rt
        .spawn_recurring(
            every(Duration::from_micros(200)).times(5).missed_tick(MissedTickBehavior::Burst),
            Priority::NORMAL,
            move || {
                l.lock().unwrap().push(c.fetch_add(1, SeqCst));
            },
        )
        .unwrap();
    finish(&job);
    assert_eq!(*log.lock().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!((job.runs(), job.skipped(), job.panicked()), (5, 0, 0));
    assert_eq!(job.next_due(), None);
    assert!(!job.cancel(), "already finished");
    let report = rt.shutdown();
    assert_eq!(report.completed, 5, "one task per firing: {report:?}");
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn until_stops_the_schedule() {
    let rt = runtime(2);
    let start = SystemTime::now() + ms(5);
    let s = every(ms(1)).starting_at(start).until(start + ms(3));
    let job = rt.spawn_recurring(s, Priority::NORMAL, || ()).unwrap();
    assert_eq!(job.next_due(), Some(start));
    finish(&job);
    // Ticks at 0, 1, 2, 3 ms past start; on a noisy machine some may be dropped as
    // missed (Skip) or skipped (a run preempted across a tick).
    assert_eq!(job.runs() + job.missed() + job.skipped(), 4, "{job:?}");
}

#[test]
fn overlap_skip_never_runs_twice_at_once_and_counts_skips() {
    let rt = runtime(2);
    let probe = Probe::held();
    let job = rt.spawn_recurring(every(ms(1)), Priority::NORMAL, probe.body()).unwrap();
    assert!(wait_until(|| probe.starts() == 1));
    std::thread::sleep(ms(10)); // about 10 ticks come while the run is held
                                // Nothing piles up: while the run goes on, not even a firing is pending.
    assert_eq!(rt.pending().total(), 0, "{:?}", rt.pending());
    assert!(job.next_due().is_some() && !job.is_finished());
    probe.hold.store(false, SeqCst);
    assert!(wait_until(|| job.runs() >= 3), "{job:?}");
    assert!(job.cancel());
    finish(&job);
    assert!(job.skipped() >= 9, "the ticks during the held run: {job:?}");
    assert_eq!(probe.max_running.load(SeqCst), 1);
    assert_eq!(probe.starts(), job.runs());
}

#[test]
fn overlap_queue_one_runs_one_queued_tick_after_the_slow_run() {
    let rt = runtime(2);
    let probe = Probe::held();
    let s = every(ms(1)).overlap(Overlap::QueueOne).times(10);
    let job = rt.spawn_recurring(s, Priority::NORMAL, probe.body()).unwrap();
    assert!(wait_until(|| probe.starts() == 1));
    std::thread::sleep(ms(20)); // all 10 ticks come while the first run is held
    assert_eq!(job.runs(), 1);
    probe.hold.store(false, SeqCst);
    finish(&job);
    // 1 ran, 1 was queued and ran after it, the rest were skipped. On a loaded machine
    // the 20 ms may not cover every tick, and a tick after the release runs too; a
    // firing that starts more than a period late drops ticks as missed, which `times`
    // does not count: count every tick once rather than assume the clock.
    assert!(job.runs() >= 2, "the queued tick ran after the slow run: {job:?}");
    assert_eq!(job.runs(), probe.starts(), "{job:?}");
    assert_eq!(job.runs() + job.skipped(), 10, "times(10): ticks that ran or were skipped: {job:?}");
    assert_eq!(probe.max_running.load(SeqCst), 1);
}

#[test]
fn overlap_concurrent_starts_a_run_at_every_tick() {
    let rt = runtime(3);
    let probe = Probe::held();
    let s = every(ms(1)).overlap(Overlap::Concurrent).times(2);
    let job = rt.spawn_recurring(s, Priority::NORMAL, probe.body()).unwrap();
    assert!(wait_until(|| probe.running.load(SeqCst) == 2), "{job:?}");
    assert_eq!(job.skipped(), 0);
    assert!(!job.is_finished(), "runs are still going");
    probe.hold.store(false, SeqCst);
    finish(&job);
    assert_eq!(probe.max_running.load(SeqCst), 2);
}

#[test]
fn cancel_stops_a_queued_run_from_starting() {
    let rt = runtime(2);
    let probe = Probe::held();
    let job =
        rt.spawn_recurring(every(ms(1)).overlap(Overlap::QueueOne), Priority::NORMAL, probe.body()).unwrap();
    assert!(wait_until(|| probe.starts() == 1));
    std::thread::sleep(ms(5)); // ticks come: one would be queued
    assert!(job.cancel(), "a run is going: the schedule is live");
    probe.hold.store(false, SeqCst);
    finish(&job);
    assert_eq!((job.runs(), probe.starts()), (1, 1), "the queued run must not start after cancel");
    assert_eq!(rt.pending().total(), 0);
}

#[test]
fn no_run_starts_after_cancel_returns_true() {
    let rt = runtime(2);
    let started = Arc::new(AtomicU64::new(0));
    let mut jobs = Vec::new();
    for i in 0..200u64 {
        let started = started.clone();
        let overlap = if i % 2 == 0 { Overlap::Concurrent } else { Overlap::Skip };
        let s = every(Duration::from_micros(50 + i)).overlap(overlap);
        jobs.push(
            rt.spawn_recurring(s, Priority::NORMAL, move || {
                started.fetch_add(1, SeqCst);
            })
            .unwrap(),
        );
    }
    assert!(wait_until(|| jobs.iter().all(|j| j.runs() > 0)));
    let at_cancel: Vec<u64> = jobs
        .iter()
        .map(|j| {
            assert!(j.cancel());
            j.runs()
        })
        .collect();
    for j in &jobs {
        finish(j);
    }
    std::thread::sleep(ms(5)); // room for a wrongly started run to show up
    let after: Vec<u64> = jobs.iter().map(Recurring::runs).collect();
    assert_eq!(at_cancel, after, "a run started after cancel returned true");
    assert_eq!(started.load(SeqCst), after.iter().sum::<u64>());
    let report = rt.shutdown();
    assert!(report.is_balanced(), "{report:?}");
}

#[test]
fn a_panicking_run_is_counted_and_the_schedule_goes_on() {
    let rt = runtime(2);
    // Concurrent + Burst: every tick starts a run, however slow a panic is to unwind.
    let s = every(Duration::from_micros(300))
        .times(3)
        .overlap(Overlap::Concurrent)
        .missed_tick(MissedTickBehavior::Burst);
    let job = rt.spawn_recurring(s, Priority::NORMAL, || panic!("boom")).unwrap();
    finish(&job);
    assert_eq!((job.runs(), job.panicked()), (3, 3));
    let report = rt.shutdown();
    // 3 firings and the 2 relays that spawned the next ones (Concurrent); the panics were
    // caught by the schedule, so no task panicked.
    assert_eq!((report.completed, report.panicked), (5, 0), "{report:?}");
}

#[test]
fn on_panic_stop_stops_at_the_first_panic() {
    let rt = runtime(2);
    let s = every(Duration::from_micros(300)).on_panic(OnPanic::Stop);
    let job = rt.spawn_recurring(s, Priority::NORMAL, || panic!("boom")).unwrap();
    finish(&job);
    assert_eq!((job.runs(), job.panicked()), (1, 1));
    assert!(!job.cancel(), "already stopped");
}

#[test]
fn missed_ticks_skip_drops_them_and_burst_fires_them() {
    for policy in [MissedTickBehavior::Skip, MissedTickBehavior::Burst] {
        let rt = runtime(1);
        let gate = Gate::hold(&rt, Priority::HIGHEST);
        let s = every(ms(1)).missed_tick(policy).times(20);
        let job = rt.spawn_recurring(s, Priority::NORMAL, || ()).unwrap();
        std::thread::sleep(ms(20)); // the only worker is held: 20 ticks go by
        common::join(gate.open()).unwrap();
        assert!(job.max_lateness() >= Duration::ZERO);
        if policy == MissedTickBehavior::Burst {
            finish(&job);
            assert_eq!((job.runs(), job.missed(), job.skipped()), (20, 0, 0), "every tick fired: {job:?}");
        } else {
            assert!(wait_until(|| job.runs() >= 2), "{policy:?}: {job:?}");
            assert!(job.missed() >= 19, "{policy:?}: {job:?}");
            assert!(job.cancel());
        }
        assert!(job.max_lateness() > Duration::ZERO, "the first firing was late");
    }
}

#[test]
fn set_priority_and_next_due() {
    let rt = runtime(1);
    let start = SystemTime::now() + Duration::from_secs(3600);
    let job = rt.spawn_recurring(every(ms(10)).starting_at(start), Priority::LOW, || ()).unwrap();
    assert_eq!(job.next_due(), Some(start));
    assert!(wait_until(|| rt.pending().at(Priority::LOW).timed == 1), "{:?}", rt.pending());
    assert!(job.set_priority(Priority::HIGH));
    assert_eq!(job.priority(), Priority::HIGH);
    assert!(job.cancel());
    assert!(!job.set_priority(Priority::LOW));
    assert_eq!(job.next_due(), None);
}

#[test]
fn set_priority_applies_to_the_next_firings() {
    let rt = runtime(1);
    let probe = Probe::held();
    let hourly = every(Duration::from_secs(3600));
    let job = rt.spawn_recurring(hourly, Priority::LOW, probe.body()).unwrap();
    assert!(wait_until(|| probe.starts() == 1), "the first tick is now");
    assert!(job.set_priority(Priority::HIGH), "live while its run goes on");
    probe.hold.store(false, SeqCst);
    // The run ends and spawns the next firing (in an hour) at the new priority.
    assert!(wait_until(|| rt.pending().at(Priority::HIGH).timed == 1), "{:?}", rt.pending());
    assert_eq!(rt.pending().at(Priority::LOW).timed, 0);
    assert!(job.cancel());
}

#[test]
fn dropping_the_handle_detaches() {
    let rt = runtime(2);
    let n = Arc::new(AtomicU64::new(0));
    let c = n.clone();
    drop(rt.spawn_recurring(
        every(Duration::from_micros(200)).times(4).missed_tick(MissedTickBehavior::Burst),
        Priority::NORMAL,
        move || {
            c.fetch_add(1, SeqCst);
        },
    ));
    assert!(wait_until(|| n.load(SeqCst) == 4));
    assert!(wait_until(|| rt.handle().schedules().finished == 1));
    let s = rt.handle().schedules();
    assert_eq!((s.active, s.runs), (0, 4), "{s:?}");
}

#[test]
fn spawn_recurring_from_inside_a_task() {
    let rt = runtime(2);
    let n = Arc::new(AtomicU64::new(0));
    let c = n.clone();
    let job = rt.spawn(Priority::NORMAL, move || {
        kairos_rt::spawn_recurring(
            every(Duration::from_micros(100)).times(3).missed_tick(MissedTickBehavior::Burst),
            Priority::HIGH,
            move || {
                c.fetch_add(1, SeqCst);
            },
        )
        .unwrap()
    });
    let job = common::join(job).unwrap();
    finish(&job);
    assert_eq!(n.load(SeqCst), 3);
}

#[test]
fn shutdown_stops_schedules_and_accounts_for_every_firing() {
    let rt = runtime(2);
    let handle = rt.handle();
    let daily = rt.spawn_recurring(Schedule::cron("@daily").unwrap(), Priority::LOW, || ()).unwrap();
    let three = rt
        .spawn_recurring(
            every(Duration::from_micros(100)).times(3).missed_tick(MissedTickBehavior::Burst),
            Priority::NORMAL,
            || (),
        )
        .unwrap();
    finish(&three);
    let before = handle.schedules();
    assert_eq!((before.active, before.finished, before.runs), (1, 1, 3), "{before:?}");
    assert!(before.next_due.is_some());
    let report = rt.shutdown();
    assert_eq!(
        (report.completed, report.timers_dropped),
        (3, 1),
        "3 firings ran, the daily one was pending: {report:?}"
    );
    assert!(report.is_balanced(), "{report:?}");
    assert!(daily.is_finished() && daily.next_due().is_none());
    assert!(!daily.cancel(), "shutdown already stopped it");
    let after = handle.schedules();
    assert_eq!((after.active, after.finished, after.next_due), (0, 2, None), "{after:?}");
    let text = after.to_prometheus();
    assert!(
        text.contains("kairos_schedule_runs_total 3\n") && text.contains("kairos_schedules_finished 2\n"),
        "{text}"
    );
    let refused = handle.spawn_recurring(every(ms(1)), Priority::LOW, || ()).unwrap_err();
    assert!(refused.is_shutdown(), "{refused}");
}

#[test]
fn a_bad_schedule_is_refused_at_spawn_not_in_a_worker() {
    let rt = runtime(1);
    let err = rt.spawn_recurring(every(ms(1)).times(0), Priority::LOW, || ()).unwrap_err();
    assert!(err.is_invalid() && err.to_string().contains("times(0)"), "{err}");
    let past = SystemTime::now() - Duration::from_secs(10);
    let err = rt.spawn_recurring(every(ms(1)).until(past), Priority::LOW, || ()).unwrap_err();
    assert!(err.is_invalid(), "{err}");
    let report = rt.shutdown();
    assert_eq!(report.submitted, 0);
}

#[test]
fn interval_ticks_on_its_grid_with_tokio_policies() {
    let rt = runtime(1);
    let ticks = rt.block_on(async {
        let start = Instant::now();
        let mut every = interval_at(start, ms(1)).unwrap();
        let mut ticks = vec![];
        for _ in 0..4 {
            ticks.push(every.tick().await - start);
        }
        ticks
    });
    assert_eq!(ticks, [ms(0), ms(1), ms(2), ms(3)], "each tick is its grid instant");
    // Missed ticks (as tokio): the late tick returns at once; then Burst returns each
    // missed one, Skip jumps to the first tick of the grid after now.
    let (burst, skip) = rt.block_on(async {
        let mut b = interval(ms(1)).unwrap();
        let mut s = interval(ms(1)).unwrap();
        s.set_missed_tick_behavior(IntervalMissed::Skip);
        let (b0, s0) = (b.tick().await, s.tick().await);
        kairos_rt::sleep(ms(10)).await;
        let late = (b.tick().await - b0, s.tick().await - s0);
        assert_eq!(late, (ms(1), ms(1)), "the late tick is the next of the grid");
        (b.tick().await - b0, s.tick().await - s0)
    });
    assert_eq!(burst, ms(2), "Burst: the next missed tick");
    assert!(skip >= ms(10), "Skip: a tick of the grid after now, got {skip:?}");
    assert_eq!(skip.as_nanos() % ms(1).as_nanos(), 0, "on the grid: {skip:?}");
}

#[test]
fn no_firing_starts_before_its_tick_on_the_wall_clock() {
    let rt = runtime(2);
    let early = Arc::new(AtomicU64::new(0));
    let period = Duration::from_micros(700);
    let jobs: Vec<_> = (0..100u64)
        .map(|i| {
            let start = SystemTime::now() + ms(2) + Duration::from_micros(i * 7);
            let (early, k) = (early.clone(), AtomicU64::new(0));
            let s = every(period).starting_at(start).times(3).missed_tick(MissedTickBehavior::Burst);
            rt.spawn_recurring(s, Priority::NORMAL, move || {
                // Burst: run k is tick k.
                let tick = start + period * k.fetch_add(1, SeqCst) as u32;
                if SystemTime::now() < tick {
                    early.fetch_add(1, SeqCst);
                }
            })
            .unwrap()
        })
        .collect();
    for j in &jobs {
        finish(j);
        assert_eq!(j.runs(), 3);
    }
    assert_eq!(early.load(SeqCst), 0, "a firing started before its tick");
}

/// A schedule that first fires in an hour, on the grid of `period`.
fn in_an_hour(period: Duration) -> (Schedule, SystemTime) {
    let at = SystemTime::now() + Duration::from_secs(3600);
    (every(period).starting_at(at), at)
}

#[test]
fn pending_shows_how_many_schedules_and_the_next_due() {
    let rt = runtime(1);
    assert_eq!((rt.pending().schedules(), rt.pending().next_schedule_due()), (0, None));
    let (later, later_at) = in_an_hour(Duration::from_secs(60));
    let (sooner, sooner_at) = in_an_hour(Duration::from_secs(60));
    let sooner = sooner.starting_at(sooner_at - Duration::from_secs(60));
    let a = rt.spawn_recurring(later, Priority::LOW, || ()).unwrap();
    let b = rt.spawn_recurring(sooner, Priority::HIGH, || ()).unwrap();
    let p = rt.pending();
    assert_eq!(p.schedules(), 2, "{p}");
    assert_eq!(p.next_schedule_due(), Some(sooner_at - Duration::from_secs(60)), "the sooner of the two");
    assert!(p.to_string().ends_with("; 2 schedules"), "{p}");
    assert!(b.cancel());
    let p = rt.pending();
    assert_eq!((p.schedules(), p.next_schedule_due()), (1, Some(later_at)), "{p}");
    assert!(a.cancel());
    assert_eq!((rt.pending().schedules(), rt.pending().next_schedule_due()), (0, None));
}

#[test]
fn metrics_count_firings_skips_and_lateness() {
    let rt = runtime(2);
    let three = rt
        .spawn_recurring(
            every(Duration::from_micros(100)).times(3).missed_tick(MissedTickBehavior::Burst),
            Priority::NORMAL,
            || (),
        )
        .unwrap();
    // A run that holds its worker over many ticks of a 1 ms grid: the ticks during it
    // are skipped by the overlap rule.
    let probe = Probe::held();
    let slow = rt.spawn_recurring(every(ms(1)).times(2), Priority::NORMAL, probe.body()).unwrap();
    finish(&three);
    assert!(wait_until(|| probe.starts.load(SeqCst) == 1));
    std::thread::sleep(ms(5));
    probe.hold.store(false, SeqCst);
    finish(&slow);
    let m = rt.metrics();
    let s = m.schedules;
    assert_eq!((s.active, s.finished, s.exhausted), (0, 2, 2), "{s:?}");
    assert_eq!(s.runs, 3 + slow.runs(), "{s:?}");
    assert!(s.skipped >= 1 && s.skipped == slow.skipped(), "the held run skipped ticks: {s:?}");
    assert_eq!(s.firings, s.firings_run, "every firing ran: {s:?}");
    assert!(s.max_lateness > Duration::ZERO && s.mean_lateness <= s.max_lateness, "{s:?}");
    let text = m.to_prometheus();
    for expected in [
        format!("\nkairos_schedule_runs_total {}\n", s.runs),
        format!("\nkairos_schedule_skipped_total {}\n", s.skipped),
        format!("\nkairos_schedule_firings_total{{outcome=\"run\"}} {}\n", s.firings_run),
        "\nkairos_schedules_stopped{reason=\"exhausted\"} 2\n".to_string(),
    ] {
        assert!(text.contains(&expected), "{expected:?} missing from\n{text}");
    }
    assert!(m.to_string().contains("schedules: 0 active, 2 finished"), "{m}");
}

#[test]
fn the_shutdown_report_accounts_for_schedules_stopped_and_every_firing() {
    let rt = runtime(2);
    // Two pending at shutdown (one detached: its state goes when shutdown drops its
    // firing), one cancelled while pending, one out of ticks, one stopped by a panic, one
    // `Concurrent` (whose relays are tasks too).
    let (daily, _) = in_an_hour(Duration::from_secs(86_400));
    let kept = rt.spawn_recurring(daily.clone(), Priority::LOW, || ()).unwrap();
    drop(rt.spawn_recurring(daily.clone(), Priority::LOW, || ()).unwrap());
    let cancelled = rt.spawn_recurring(daily, Priority::LOW, || ()).unwrap();
    assert!(cancelled.cancel());
    let burst = |s: Schedule| s.times(3).missed_tick(MissedTickBehavior::Burst);
    let three =
        rt.spawn_recurring(burst(every(Duration::from_micros(100))), Priority::NORMAL, || ()).unwrap();
    let concurrent = burst(every(Duration::from_micros(100))).overlap(Overlap::Concurrent);
    let concurrent = rt.spawn_recurring(concurrent, Priority::NORMAL, || ()).unwrap();
    let panics = every(ms(1)).on_panic(OnPanic::Stop);
    let panics = rt.spawn_recurring(panics, Priority::NORMAL, || panic!("a failing run")).unwrap();
    for job in [&three, &concurrent, &panics] {
        finish(job);
    }
    let report = rt.shutdown();
    let s = report.schedules;
    assert_eq!((s.active, s.finished), (0, 6), "{s:?}");
    assert_eq!((s.stopped_by_shutdown, s.cancelled, s.exhausted, s.stopped_by_panic), (2, 1, 2, 1), "{s:?}");
    assert_eq!((s.runs, s.panicked), (3 + 3 + 1, 1), "{s:?}");
    // Every task of this runtime is a schedule's: the report's counts are theirs.
    assert_eq!(s.firings, 2 + 1 + 3 + (3 + 2) + 1, "firings and relays: {s:?}");
    assert_eq!(s.firings, report.submitted, "{report:?}");
    assert_eq!(s.firings_run, report.completed, "{report:?}");
    assert_eq!(s.firings_cancelled, report.cancelled, "{report:?}");
    assert_eq!((s.firings_dropped, report.timers_dropped), (2, 2), "{report:?}");
    assert!(s.firings_balance() && report.is_balanced(), "{report:?}");
    assert!(kept.is_finished() && !kept.cancel());
}

/// A stop that comes after shutdown dropped the pending firing (here `cancel`, once a
/// `shutdown_timeout` gave up on a worker held by the first run): that firing is counted
/// as dropped, and the census's firings still balance.
#[test]
fn a_cancel_after_shutdown_dropped_the_pending_firing_keeps_the_firings_balanced() {
    let rt = runtime(2);
    let handle = rt.handle();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let first = AtomicBool::new(true);
    let hourly = every(Duration::from_secs(3600)).overlap(Overlap::Concurrent);
    let job = rt
        .spawn_recurring(hourly, Priority::NORMAL, move || {
            if first.swap(false, SeqCst) {
                started_tx.send(()).unwrap();
                let _ = release_rx.lock().unwrap().recv_timeout(PATIENCE);
            }
        })
        .unwrap();
    started_rx.recv_timeout(PATIENCE).expect("the first run never started");
    // The first firing, its relay and the next firing (an hour away, in a wheel).
    assert!(wait_until(|| handle.schedules().firings == 3), "{:?}", handle.schedules());
    let _ = rt.shutdown_timeout(ms(50));
    let _ = job.cancel();
    release_tx.send(()).unwrap();
    assert!(wait_until(|| job.is_finished()));
    let s = handle.schedules();
    assert_eq!((s.firings, s.firings_run), (3, 2), "{s:?}");
    assert_eq!(s.firings_dropped + s.firings_cancelled, 1, "the pending firing: {s:?}");
    assert!(s.firings_balance(), "{s:?}");
}

/// A `spawn_recurring` waiting for room under `max_pending` when shutdown comes is
/// refused: an error, and no schedule or firing in the census.
#[test]
fn a_schedule_refused_while_it_waits_for_room_is_an_error_and_not_counted() {
    let rt = kairos_rt::Runtime::builder().workers(1).max_pending(1).build().unwrap();
    let handle = rt.handle();
    let gate = common::Gate::hold(&rt, Priority::HIGHEST);
    let filler = rt.spawn(Priority::LOW, || ());
    let spawner = {
        let handle = handle.clone();
        std::thread::spawn(move || {
            handle.spawn_recurring(every(Duration::from_secs(3600)), Priority::LOW, || ())
        })
    };
    // Give the spawner time to wait for room (if it has not, it is refused at once:
    // the same outcome), then shut down with the gate opened a moment later.
    std::thread::sleep(ms(50));
    let opener = std::thread::spawn(move || {
        std::thread::sleep(ms(50));
        gate.open()
    });
    let report = rt.shutdown();
    let refused =
        spawner.join().unwrap().map(|_| ()).expect_err("a refused schedule was returned as spawned");
    assert!(refused.is_shutdown(), "{refused}");
    drop((opener.join().unwrap(), filler));
    let s = handle.schedules();
    assert_eq!((s.active, s.finished, s.firings), (0, 0, 0), "{s:?}");
    assert!(report.is_balanced(), "{report:?}");
}

/// Under `QueueOne`, while the queued run of the last tick that came during a long run
/// goes on, `next_due` is the tick after it, not one the rule skipped.
#[test]
fn next_due_during_a_queued_run_is_the_tick_after_it() {
    let rt = runtime(2);
    let t0 = SystemTime::now() + ms(100);
    let period = ms(50);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let schedule = every(period).starting_at(t0).overlap(Overlap::QueueOne);
    let job = rt
        .spawn_recurring(schedule, Priority::NORMAL, move || {
            started_tx.send(()).unwrap();
            let _ = release_rx.lock().unwrap().recv_timeout(PATIENCE);
        })
        .unwrap();
    started_rx.recv_timeout(PATIENCE).expect("the first run never started");
    // Hold the first run until the ticks at t0 + 50, 100 and 150 ms have come.
    assert!(wait_until(|| SystemTime::now() >= t0 + ms(170)));
    release_tx.send(()).unwrap();
    started_rx.recv_timeout(PATIENCE).expect("the queued run never started");
    let during = job.next_due();
    assert!(job.cancel());
    release_tx.send(()).unwrap();
    finish(&job);
    // The ticks at 50 and 100 ms at least were skipped (more if the release came late);
    // the queued run is of the tick after them, and the next is the one after that (it
    // read the first skipped tick, 50 ms, before the fix).
    let skipped = job.skipped();
    assert!(job.runs() == 2 && skipped >= 2, "{job:?}");
    assert_eq!(during, Some(t0 + period * (skipped as u32 + 2)), "next_due during the queued run");
}

/// A cron schedule anchored at the ends of what chrono can hold is refused or has no
/// tick; none of it panics.
#[test]
fn cron_at_the_ends_of_time_does_not_panic() {
    use chrono::{DateTime, Utc};
    let rt = runtime(1);
    let late = Schedule::cron_in("0 0 * * *", "Asia/Tokyo").unwrap().starting_at(DateTime::<Utc>::MAX_UTC);
    assert_eq!(late.first_tick(Utc::now()), None);
    assert!(rt.spawn_recurring(late, Priority::LOW, || ()).is_err());
    let early = Schedule::cron_in("0 0 * * *", "America/New_York").unwrap();
    let first = early.first_tick(DateTime::<Utc>::MIN_UTC).expect("a tick in the year 1");
    assert!(early.next_after(DateTime::<Utc>::MIN_UTC).is_some_and(|t| t >= first));
}

/// An `every` schedule anchored centuries ago still has its grid: its first tick is the
/// next multiple of the period from the anchor.
#[test]
fn an_every_schedule_anchored_centuries_ago_still_ticks() {
    use chrono::{TimeZone, Utc};
    let anchor = Utc.with_ymd_and_hms(1700, 1, 1, 0, 0, 0).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap() + chrono::TimeDelta::milliseconds(300);
    let s = every(Duration::from_secs(1)).starting_at(anchor);
    assert_eq!(s.first_tick(now), Some(Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 1).unwrap()));
    assert_eq!(s.next_after(now), Some(Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 1).unwrap()));
    let rt = runtime(1);
    let job = rt.spawn_recurring(s, Priority::LOW, || ()).expect("an old anchor is a valid schedule");
    assert!(job.next_due().is_some());
}

/// `Interval::reset` with a period too long for an `Instant` does not panic: the
/// interval never ticks again, as `tick` already did for one.
#[test]
fn resetting_an_interval_of_the_longest_period_does_not_panic() {
    let mut forever = interval(Duration::MAX).unwrap();
    forever.reset();
    assert!(forever.next_tick() > Instant::now() + Duration::from_secs(86_400 * 365));
}
