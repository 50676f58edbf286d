//! Nodes against a real Redis: running, priority order, retries in Redis, dead letters,
//! expiry, fencing, graceful stop, retention, events, the built-in kinds.

mod common;

use common::{eventually, setup, RedisServer};
use kairos_cluster::{Client, Job, JobError, JobId, JobState, Node, NodeBuilder, Queue, RunningNode};
use kairos_rt::{Priority, RetryPolicy, Runtime};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn node(q: &Queue, rt: &Runtime) -> NodeBuilder {
    Node::builder(q.clone(), rt.handle()).lease(Duration::from_secs(5))
}

#[test]
fn a_node_runs_jobs_and_keeps_their_results() {
    let (_redis, q, rt) = setup(2);
    let n = node(&q, &rt)
        .handler("double", |job| Ok(job.payload.iter().map(|b| b * 2).collect()))
        .start()
        .unwrap();
    let ids: Vec<JobId> =
        (1..=20u8).map(|i| q.enqueue(Job::new("double").payload(vec![i])).unwrap()).collect();
    for (i, id) in ids.iter().enumerate() {
        let s = q.wait(*id, WAIT).unwrap();
        assert_eq!(s.state, JobState::Completed);
        assert_eq!(s.result.as_deref(), Some(&[(i as u8 + 1) * 2][..]));
        assert_eq!(s.attempts, 1);
    }
    let report = n.shutdown(WAIT);
    assert!(report.is_balanced(), "{report}");
    assert_eq!((report.claimed, report.completed), (20, 20));
    let c = q.counts().unwrap();
    assert_eq!((c.total_completed, c.ready, c.running, c.nodes), (20, 0, 0, 0));
}

#[test]
fn jobs_start_in_priority_order_fifo_within_a_level() {
    let (_redis, q, rt) = setup(1);
    let levels = [0u8, 63, 10, 10, 40, 0, 63, 10];
    let ids: Vec<(u8, JobId)> = levels
        .iter()
        .map(|&l| (l, q.enqueue(Job::new("rec").priority(Priority::new(l).unwrap())).unwrap()))
        .collect();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    let n = node(&q, &rt)
        .concurrency(1)
        .handler("rec", move |job| {
            o.lock().unwrap().push(job.id);
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    eventually("all ran", || order.lock().unwrap().len() == levels.len());
    let mut expected = ids.clone();
    expected.sort_by_key(|(l, id)| (std::cmp::Reverse(*l), *id));
    let expected: Vec<JobId> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(*order.lock().unwrap(), expected);
    assert!(n.shutdown(WAIT).is_balanced());
}

#[test]
fn a_failure_is_retried_after_its_backoff_in_redis_then_completes() {
    let (_redis, q, rt) = setup(2);
    let n = node(&q, &rt)
        .handler(
            "flaky",
            |job| if job.attempt < 3 { Err(JobError::retry("503")) } else { Ok(b"ok".to_vec()) },
        )
        .start()
        .unwrap();
    let policy = RetryPolicy::fixed(Duration::from_millis(20)).max_attempts(5);
    let id = q.enqueue(Job::new("flaky").retry(policy)).unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!((s.state, s.attempts, s.failures), (JobState::Completed, 3, 2));
    assert_eq!(s.last_error.as_deref(), Some("503"));
    let c = q.counts().unwrap();
    assert_eq!((c.total_retried, c.total_completed), (2, 1));
    let r = n.shutdown(WAIT);
    assert_eq!((r.retried, r.completed), (2, 1), "{r}");
}

/// Seen to fail before the stored retry spec kept the policy's retry priority: every
/// attempt ran at the job's own priority, the policy's silently dropped.
#[test]
fn retries_run_at_the_priority_their_policy_names() {
    let (_redis, q, rt) = setup(2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let n = node(&q, &rt)
        .handler("flaky", move |job| {
            s2.lock().unwrap().push(job.priority);
            if job.attempt < 3 {
                Err(JobError::retry("503"))
            } else {
                Ok(Vec::new())
            }
        })
        .start()
        .unwrap();
    // Retries due at once (straight back to ready) and after a backoff (through the
    // delayed set).
    for delay in [Duration::ZERO, Duration::from_millis(20)] {
        seen.lock().unwrap().clear();
        let policy = RetryPolicy::fixed(delay).max_attempts(5).retry_priority(Priority::LOW);
        let id = q.enqueue(Job::new("flaky").priority(Priority::HIGH).retry(policy)).unwrap();
        assert_eq!(q.wait(id, WAIT).unwrap().state, JobState::Completed);
        assert_eq!(*seen.lock().unwrap(), vec![Priority::HIGH, Priority::LOW, Priority::LOW], "{delay:?}");
    }
    n.shutdown(WAIT);
}

#[test]
fn attempts_run_out_into_the_dead_set_and_can_be_requeued() {
    let (_redis, q, rt) = setup(2);
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let f = fail.clone();
    let n = node(&q, &rt)
        .handler("x", move |_| if f.load(SeqCst) { Err("boom".into()) } else { Ok(Vec::new()) })
        .start()
        .unwrap();
    let once = q.enqueue(Job::new("x")).unwrap();
    let thrice =
        q.enqueue(Job::new("x").retry(RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(3))).unwrap();
    let s = q.wait(once, WAIT).unwrap();
    assert_eq!((s.state, s.attempts, s.last_error.as_deref()), (JobState::Dead, 1, Some("boom")));
    let s = q.wait(thrice, WAIT).unwrap();
    assert_eq!((s.state, s.attempts, s.failures), (JobState::Dead, 3, 3));
    let dead: Vec<JobId> = q.dead(10).unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(dead, vec![once, thrice]);
    fail.store(false, SeqCst);
    assert_eq!(q.requeue_dead(&[]).unwrap(), 2);
    assert_eq!(q.wait(once, WAIT).unwrap().state, JobState::Completed);
    assert_eq!(q.wait(thrice, WAIT).unwrap().state, JobState::Completed);
    assert!(n.shutdown(WAIT).is_balanced());
}

#[test]
fn a_fatal_error_a_panic_and_an_unknown_kind_are_dead_lettered_with_reasons() {
    let (_redis, q, rt) = setup(2);
    let n = node(&q, &rt)
        .handler("fatal", |_| Err(JobError::fatal("no such account")))
        .handler("panics", |_| panic!("handler bug"))
        .start()
        .unwrap();
    let retry = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(2);
    let fatal = q.enqueue(Job::new("fatal").retry(retry.clone())).unwrap();
    let panics = q.enqueue(Job::new("panics").retry(retry.clone())).unwrap();
    let retried = q.enqueue(Job::new("panics").retry(retry.retry_on_panic(true))).unwrap();
    let unknown = q.enqueue(Job::new("nobody-handles-this")).unwrap();
    let s = q.wait(fatal, WAIT).unwrap();
    assert_eq!((s.state, s.attempts), (JobState::Dead, 1), "a fatal error is not retried");
    // As in the runtime, a panic is retried only under `retry_on_panic(true)` (seen to
    // fail when the node retried every panic, whatever the policy said).
    let s = q.wait(panics, WAIT).unwrap();
    assert_eq!((s.state, s.attempts), (JobState::Dead, 1), "the policy does not retry panics");
    let why = s.last_error.unwrap();
    assert!(why.contains("handler bug") && why.contains("retry_on_panic"), "{why}");
    let s = q.wait(retried, WAIT).unwrap();
    assert_eq!((s.state, s.attempts), (JobState::Dead, 2), "the policy retries panics");
    assert!(s.last_error.unwrap().contains("handler bug"));
    let s = q.wait(unknown, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead);
    assert!(s.last_error.unwrap().contains("nobody-handles-this"));
    let r = n.shutdown(WAIT);
    assert_eq!(r.panicked, 3, "{r}");
    assert!(r.is_balanced(), "{r}");
}

#[test]
fn a_corrupt_job_hash_is_dead_lettered_and_the_node_goes_on() {
    let (redis, q, rt) = setup(2);
    let bad = q.enqueue(Job::new("ok")).unwrap();
    let mut conn = redis.conn();
    let _: () = redis::cmd("HSET")
        .arg(format!("kairos:{{jobs}}:j:{}", bad.0))
        .arg("pr")
        .arg("urgent!")
        .query(&mut conn)
        .unwrap();
    let good = q.enqueue(Job::new("ok")).unwrap();
    let n = node(&q, &rt).handler("ok", |_| Ok(Vec::new())).start().unwrap();
    let g = q.wait(good, WAIT).unwrap();
    assert_eq!(g.state, JobState::Completed, "{g:?}");
    let s = q.wait(bad, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead);
    assert!(s.last_error.unwrap().contains("pr (priority)"));
    n.shutdown(WAIT);
}

#[test]
fn a_job_past_its_start_deadline_expires_instead_of_running() {
    let (_redis, q, rt) = setup(1);
    let ran = Arc::new(AtomicU32::new(0));
    let id = q.enqueue(Job::new("k").deadline_after(Duration::from_millis(1))).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let r = ran.clone();
    let n = node(&q, &rt)
        .handler("k", move |_| {
            r.fetch_add(1, SeqCst);
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    assert_eq!(q.wait(id, WAIT).unwrap().state, JobState::Expired);
    assert_eq!(ran.load(SeqCst), 0);
    assert_eq!(q.counts().unwrap().total_expired, 1);
    n.shutdown(WAIT);
}

#[test]
fn a_delayed_job_is_not_claimed_before_it_is_due_and_runs_after() {
    let (_redis, q, rt) = setup(1);
    let n = node(&q, &rt).handler("k", |_| Ok(Vec::new())).start().unwrap();
    let later = q.enqueue(Job::new("k").after(Duration::from_secs(3600))).unwrap();
    let soon = q.enqueue(Job::new("k").after(Duration::from_millis(50))).unwrap();
    assert_eq!(q.wait(soon, WAIT).unwrap().state, JobState::Completed);
    assert_eq!(q.status(later).unwrap().unwrap().state, JobState::Delayed);
    n.shutdown(WAIT);
}

#[test]
fn a_node_that_lost_its_lease_has_its_ack_refused_and_the_job_runs_elsewhere() {
    let (redis, q, rt) = setup(2);
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let (started_tx, started_rx) = crossbeam_channel::bounded::<()>(1);
    // One slot: the first node cannot claim the job again itself while its run goes on.
    let first = node(&q, &rt)
        .node_id("first")
        .concurrency(1)
        .handler("slow", move |_| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok(b"first".to_vec())
        })
        .start()
        .unwrap();
    let id = q.enqueue(Job::new("slow")).unwrap();
    started_rx.recv_timeout(WAIT).unwrap();
    // The first node stops renewing (as if paused): make its lease run out now.
    let mut conn = redis.conn();
    let _: () = redis::cmd("ZADD").arg("kairos:{jobs}:active").arg(0).arg(id.0).query(&mut conn).unwrap();
    let rt2 = Runtime::builder().workers(1).build().unwrap();
    let second =
        node(&q, &rt2).node_id("second").handler("slow", |_| Ok(b"second".to_vec())).start().unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!((s.state, s.result.as_deref(), s.lost_leases), (JobState::Completed, Some(&b"second"[..]), 1));
    release_tx.send(()).unwrap();
    let r1 = first.shutdown(WAIT);
    assert_eq!((r1.claimed, r1.refused, r1.completed), (1, 1, 0), "{r1}");
    assert!(r1.is_balanced());
    assert_eq!(
        q.status(id).unwrap().unwrap().result.as_deref(),
        Some(&b"second"[..]),
        "the late ack changed nothing"
    );
    assert_eq!(q.counts().unwrap().total_stale_acks, 1);
    second.shutdown(WAIT);
}

/// A node claims no more jobs than its concurrency: with its 3 slots held by jobs that
/// wait for a release, the other 7 stay ready in Redis and no fourth handler starts
/// (the runtime has workers to spare for one); released, all 10 complete.
#[test]
fn a_node_claims_no_more_jobs_than_its_concurrency() {
    let (_redis, q, rt) = setup(5);
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    let (in_handler, most) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (inside, seen_most) = (in_handler.clone(), most.clone());
    let n = node(&q, &rt)
        .concurrency(3)
        .handler("k", move |_| {
            seen_most.fetch_max(inside.fetch_add(1, SeqCst) + 1, SeqCst);
            // Err only if the test failed and dropped the sender: return, do not hang.
            let _ = release_rx.recv();
            inside.fetch_sub(1, SeqCst);
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    // Dropped before the node if an assertion fails: the held handlers return at once.
    let release_tx = release_tx;
    let ids: Vec<JobId> = (0..10).map(|_| q.enqueue(Job::new("k")).unwrap()).collect();
    eventually("three jobs in their handlers", || in_handler.load(SeqCst) >= 3);
    assert_eq!((n.running(), in_handler.load(SeqCst)), (3, 3));
    let c = q.counts().unwrap();
    assert_eq!((c.running, c.ready), (3, 7), "{c:?}");
    for _ in 0..ids.len() {
        release_tx.send(()).unwrap();
    }
    for id in &ids {
        assert_eq!(q.wait(*id, WAIT).unwrap().state, JobState::Completed);
    }
    assert_eq!(most.load(SeqCst), 3, "more handlers ran at once than the node has slots");
    let r = n.shutdown(WAIT);
    assert_eq!((r.claimed, r.completed), (10, 10), "{r}");
    assert!(r.is_balanced(), "{r}");
}

/// A node of `jobs` slots with `jobs` jobs claimed, the first running and holding the
/// runtime's only worker until the returned sender releases it, the others queued behind
/// it. The receiver hears each job that starts (job 1 already heard).
fn job_1_holds_the_worker(
    q: &Queue,
    rt: &Runtime,
    jobs: usize,
    lease: Duration,
) -> (RunningNode, crossbeam_channel::Sender<()>, crossbeam_channel::Receiver<JobId>) {
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<JobId>();
    let n = node(q, rt)
        .lease(lease)
        .concurrency(jobs)
        .handler("k", move |job| {
            started_tx.send(job.id).unwrap();
            if job.id == JobId(1) {
                release_rx.recv().unwrap();
            }
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    for _ in 0..jobs {
        q.enqueue(Job::new("k")).unwrap();
    }
    assert_eq!(started_rx.recv_timeout(WAIT).unwrap(), JobId(1));
    eventually("all claimed", || n.running() == jobs);
    (n, release_tx, started_rx)
}

#[test]
fn a_stopping_node_finishes_what_runs_and_hands_back_what_has_not_started() {
    let (_redis, q, rt) = setup(1);
    let (n, release_tx, started_rx) = job_1_holds_the_worker(&q, &rt, 10, Duration::from_secs(5));
    // A stopping node announces it on the wake channel after it set its stop flag: release
    // the running job only then, so the others cannot start.
    let mut sub = redis::Client::open(q.client().url()).unwrap().get_connection().unwrap();
    let mut sub = sub.as_pubsub();
    sub.subscribe("kairos:{jobs}:wake").unwrap();
    let stopper = std::thread::spawn(move || n.shutdown(WAIT));
    while sub.get_message().unwrap().get_payload::<String>().unwrap() != "stop" {}
    release_tx.send(()).unwrap();
    let r = stopper.join().unwrap();
    assert_eq!((r.claimed, r.completed, r.handed_back), (10, 1, 9), "{r}");
    assert!(r.is_balanced());
    assert!(started_rx.try_iter().next().is_none(), "no job started after the stop");
    let c = q.counts().unwrap();
    assert_eq!((c.ready, c.running, c.total_handed_back, c.total_completed), (9, 0, 9, 1));
}

#[test]
fn finished_records_are_trimmed_but_the_counters_stay_exact() {
    let (_redis, q, rt) = setup(2);
    let n = node(&q, &rt)
        .keep_finished(5, Duration::from_secs(3600))
        .handler("k", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    let ids: Vec<JobId> = (0..40).map(|_| q.enqueue(Job::new("k")).unwrap()).collect();
    eventually("all completed", || q.counts().unwrap().total_completed == 40);
    n.shutdown(WAIT);
    let c = q.counts().unwrap();
    assert!(c.finished_kept <= 5, "{c:?}");
    // Records go oldest first (jobs that finished in the same millisecond in any order):
    // at most 5 are left, and those are whole.
    let kept: Vec<_> = ids.iter().filter_map(|id| q.status(*id).unwrap()).collect();
    assert!(!kept.is_empty() && kept.len() <= 5, "{} records kept", kept.len());
    assert!(kept.iter().all(|s| s.state == JobState::Completed && s.finished_ms.is_some()));
    assert_eq!(c.total_completed, 40);
}

#[test]
fn events_say_what_became_of_jobs() {
    let (_redis, q, rt) = setup(1);
    let n =
        node(&q, &rt).handler("ok", |_| Ok(Vec::new())).handler("bad", |_| Err("no".into())).start().unwrap();
    let a = q.enqueue(Job::new("ok")).unwrap();
    let b = q.enqueue(Job::new("bad")).unwrap();
    q.wait(a, WAIT).unwrap();
    q.wait(b, WAIT).unwrap();
    let ev = q.events("0", 100, Duration::from_millis(10)).unwrap();
    let seen: Vec<(JobId, &str)> = ev.iter().map(|e| (e.job, e.kind.as_str())).collect();
    assert!(seen.contains(&(a, "completed")), "{seen:?}");
    assert!(seen.contains(&(b, "dead")), "{seen:?}");
    n.shutdown(WAIT);
}

#[test]
fn the_command_kind_runs_only_allowed_programs_with_argv_never_a_shell() {
    let (_redis, q, rt) = setup(2);
    let n = node(&q, &rt).builtin_kinds(&["echo".to_string()]).start().unwrap();
    let ok = q
        .enqueue(Job::new("command").payload(br#"{"program":"echo","args":["$(id)", ";", "x"]}"#.to_vec()))
        .unwrap();
    let s = q.wait(ok, WAIT).unwrap();
    assert_eq!(s.state, JobState::Completed);
    assert_eq!(s.result.as_deref(), Some(&b"$(id) ; x\n"[..]), "arguments reach the program untouched");
    let forbidden =
        q.enqueue(Job::new("command").payload(br#"{"program":"sh","args":["-c","id"]}"#.to_vec())).unwrap();
    let s = q.wait(forbidden, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead);
    assert!(s.last_error.unwrap().contains("not on this node's allow-list"));
    let path = q.enqueue(Job::new("command").payload(br#"{"program":"/bin/echo"}"#.to_vec())).unwrap();
    assert_eq!(q.wait(path, WAIT).unwrap().state, JobState::Dead, "a path is not the allowed name");
    n.shutdown(WAIT);
}

#[test]
fn the_builtin_kinds_do_what_they_say() {
    let (_redis, q, rt) = setup(2);
    let n = node(&q, &rt).builtin_kinds(&[]).start().unwrap();
    let policy = RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(5);
    let ids = [
        q.enqueue(Job::new("noop")).unwrap(),
        q.enqueue(Job::new("sleep").payload(b"5".to_vec())).unwrap(),
        q.enqueue(Job::new("fail").payload(b"2".to_vec()).retry(policy)).unwrap(),
        q.enqueue(Job::new("record")).unwrap(),
    ];
    for id in ids {
        assert_eq!(q.wait(id, WAIT).unwrap().state, JobState::Completed, "job {id}");
    }
    assert_eq!(q.status(ids[2]).unwrap().unwrap().attempts, 3);
    assert_eq!(q.records().unwrap().get(&ids[3].0), Some(&1));
    n.shutdown(WAIT);
}

#[test]
fn the_stamp_kind_appends_start_minus_the_payload_instant() {
    let (redis, q, rt) = setup(2);
    let n = node(&q, &rt).builtin_kinds(&[]).start().unwrap();
    let now_us =
        || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    // An instant one hour ahead: the job starts long "before" it, a negative delay.
    let ahead = now_us() + 3_600_000_000;
    let before = now_us();
    let a = q.enqueue(Job::new("stamp").payload(before.to_string().into_bytes())).unwrap();
    let b = q.enqueue(Job::new("stamp").payload(ahead.to_string().into_bytes())).unwrap();
    let bad = q.enqueue(Job::new("stamp").payload(b"soon".to_vec())).unwrap();
    assert_eq!(q.wait(a, WAIT).unwrap().state, JobState::Completed);
    assert_eq!(q.wait(b, WAIT).unwrap().state, JobState::Completed);
    let after = now_us();
    let s = q.wait(bad, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead, "a payload that is not a number is refused");
    assert!(s.last_error.unwrap().contains("microseconds"));
    let mut stamps: Vec<i64> =
        redis::cmd("LRANGE").arg(q.name().stamp_key()).arg(0).arg(-1).query(&mut redis.conn()).unwrap();
    stamps.sort_unstable();
    assert_eq!(stamps.len(), 2, "{stamps:?}");
    assert!(stamps[0] < -3_000_000_000, "{stamps:?}");
    assert!((0..=after - before).contains(&stamps[1]), "{stamps:?} not within 0..={}", after - before);
    n.shutdown(WAIT);
}

#[test]
fn a_node_rides_out_a_redis_restart() {
    let mut redis = RedisServer::start_with(common::Persistence::AofAlways, &[]);
    let q = Client::connect(&redis.url()).unwrap().queue("jobs").unwrap();
    let rt = Runtime::builder().workers(2).build().unwrap();
    let n = node(&q, &rt).handler("k", |_| Ok(Vec::new())).start().unwrap();
    let a = q.enqueue(Job::new("k")).unwrap();
    assert_eq!(q.wait(a, WAIT).unwrap().state, JobState::Completed);
    redis.kill();
    std::thread::sleep(Duration::from_millis(300));
    let e = q.enqueue(Job::new("k")).unwrap_err();
    assert!(e.is_unreachable() || e.is_redis(), "{e}");
    redis.restart();
    let b = q.enqueue(Job::new("k")).unwrap();
    assert_eq!(q.wait(b, WAIT).unwrap().state, JobState::Completed);
    let r = n.shutdown(WAIT);
    assert!(r.is_balanced(), "{r}");
}

#[test]
fn bad_node_settings_are_refused() {
    let (_redis, q, rt) = setup(1);
    let e = node(&q, &rt).start().unwrap_err();
    assert!(e.is_bad_config() && e.to_string().contains("handler"), "{e}");
    let e = node(&q, &rt).concurrency(0).handler("k", |_| Ok(Vec::new())).start().unwrap_err();
    assert!(e.is_bad_config() && e.to_string().contains("concurrency"), "{e}");
    let e =
        node(&q, &rt).lease(Duration::from_millis(10)).handler("k", |_| Ok(Vec::new())).start().unwrap_err();
    assert!(e.is_bad_config() && e.to_string().contains("lease"), "{e}");
}

#[test]
fn a_payload_over_the_nodes_cap_is_dead_lettered_unrun() {
    let (_redis, q, rt) = setup(1);
    let ran = Arc::new(AtomicU32::new(0));
    let r = ran.clone();
    let n = node(&q, &rt)
        .max_payload(8)
        .handler("k", move |_| {
            r.fetch_add(1, SeqCst);
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    let big = q.enqueue(Job::new("k").payload(vec![7; 9])).unwrap();
    let small = q.enqueue(Job::new("k").payload(vec![7; 8])).unwrap();
    let s = q.wait(big, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead);
    assert!(s.last_error.unwrap().contains("9 bytes"));
    assert_eq!(q.wait(small, WAIT).unwrap().state, JobState::Completed);
    assert_eq!(ran.load(SeqCst), 1);
    n.shutdown(WAIT);
}

#[test]
fn live_nodes_are_listed_with_what_they_hold_and_leave_when_stopped() {
    let (_redis, q, rt) = setup(1);
    let n = node(&q, &rt).node_id("lister").concurrency(7).handler("k", |_| Ok(Vec::new())).start().unwrap();
    eventually("the heartbeat is in", || q.nodes().unwrap().iter().any(|i| i.id == "lister"));
    let info = q.nodes().unwrap().into_iter().find(|i| i.id == "lister").unwrap();
    assert_eq!(info.about["concurrency"], 7);
    assert_eq!(q.counts().unwrap().nodes, 1);
    n.shutdown(WAIT);
    assert!(q.nodes().unwrap().is_empty(), "a stopped node says goodbye");
    assert_eq!(q.counts().unwrap().nodes, 0);
}

#[test]
fn wait_async_follows_a_job_without_holding_a_worker() {
    let (_redis, q, rt) = setup(1);
    let n = node(&q, &rt).handler("k", |_| Ok(b"done".to_vec())).start().unwrap();
    let id = q.enqueue(Job::new("k").after(Duration::from_millis(30))).unwrap();
    // One worker: the job itself must run on it while the wait is pending.
    let s = rt.block_on(q.wait_async(id, WAIT)).unwrap();
    assert_eq!((s.state, s.result.as_deref()), (JobState::Completed, Some(&b"done"[..])));
    let e = rt.block_on(q.wait_async(JobId(12345), WAIT)).unwrap_err();
    assert!(e.is_bad_job());
    n.shutdown(WAIT);
}

#[test]
fn a_job_longer_than_its_lease_keeps_it_renewed_and_runs_once() {
    let (_redis, q, rt) = setup(2);
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let slow = move |_: &kairos_cluster::JobContext| {
        r.fetch_add(1, SeqCst);
        std::thread::sleep(Duration::from_millis(800));
        Ok(Vec::new())
    };
    // A second node is ready to take the job over if the lease ever ran out.
    let rt2 = Runtime::builder().workers(1).build().unwrap();
    let a = Node::builder(q.clone(), rt.handle())
        .lease(Duration::from_millis(200))
        .handler("slow", slow.clone())
        .start()
        .unwrap();
    let b = Node::builder(q.clone(), rt2.handle())
        .lease(Duration::from_millis(200))
        .handler("slow", slow)
        .start()
        .unwrap();
    let id = q.enqueue(Job::new("slow")).unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!((s.state, s.attempts, s.lost_leases), (JobState::Completed, 1, 0));
    assert_eq!(runs.load(SeqCst), 1);
    let (ra, rb) = (a.shutdown(WAIT), b.shutdown(WAIT));
    assert_eq!(ra.leases_lost + rb.leases_lost + ra.refused + rb.refused, 0, "{ra}\n{rb}");
}

#[test]
fn a_command_whose_output_is_over_the_result_cap_fails_instead_of_passing_a_partial_result() {
    let (_redis, q, rt) = setup(1);
    let n = node(&q, &rt).max_result(4).builtin_kinds(&["echo".to_string()]).start().unwrap();
    let id =
        q.enqueue(Job::new("command").payload(br#"{"program":"echo","args":["hello"]}"#.to_vec())).unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead);
    assert!(s.last_error.unwrap().contains("6 bytes"));
    let ok = q.enqueue(Job::new("command").payload(br#"{"program":"echo","args":["hi"]}"#.to_vec())).unwrap();
    let s = q.wait(ok, WAIT).unwrap();
    assert_eq!(s.result.as_deref(), Some(&b"hi\n"[..]), "{s:?}");
    n.shutdown(WAIT);
}

/// A result delivered while Redis refuses writes for a moment (out of memory under
/// `noeviction`, as while it loads its data after a restart) is sent again until Redis
/// takes it: the job completes once, on its first attempt, and nothing is set aside.
#[test]
fn a_result_refused_for_a_passing_reason_is_delivered_when_redis_takes_writes_again() {
    let (redis, q, rt) = setup(1);
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let n = node(&q, &rt)
        .handler("held", move |_| {
            r.fetch_add(1, SeqCst);
            started_tx.send(()).unwrap();
            let _ = release_rx.recv_timeout(WAIT);
            Ok(b"done".to_vec())
        })
        .start()
        .unwrap();
    let id = q.enqueue(Job::new("held")).unwrap();
    started_rx.recv_timeout(WAIT).expect("the job never started");
    let mut admin = redis.conn();
    let _: () =
        redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query(&mut admin).unwrap();
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1").query(&mut admin).unwrap();
    release_tx.send(()).unwrap();
    // Long enough for the keeper's three refused tries and more (about 70 ms).
    std::thread::sleep(Duration::from_millis(600));
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("0").query(&mut admin).unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!((s.state, s.attempts, s.lost_leases), (JobState::Completed, 1, 0), "{s:?}");
    assert_eq!(s.result.as_deref(), Some(&b"done"[..]));
    let report = n.shutdown(WAIT);
    assert_eq!(runs.load(SeqCst), 1, "the handler ran again: {report}");
    assert!(report.is_balanced(), "{report}");
    assert_eq!(report.unacked, 0, "{report}");
}

/// A schedule Redis cannot fire (its hash is not a hash) does not make an idle node spin
/// on it: the node tries it again after a backoff, and runs jobs meanwhile. (It made
/// about 3,000 script calls a second before; the bound below is on calls made, which a
/// slow machine only lowers.)
#[test]
fn a_schedule_that_cannot_fire_does_not_make_the_node_spin() {
    let (redis, q, rt) = setup(1);
    let mut conn = redis.conn();
    let _: () = redis::cmd("SET").arg("kairos:{jobs}:s:bad").arg("not a hash").query(&mut conn).unwrap();
    let _: () =
        redis::cmd("ZADD").arg("kairos:{jobs}:sched-next").arg(0).arg("bad").query(&mut conn).unwrap();
    let n = node(&q, &rt).handler("ok", |_| Ok(Vec::new())).start().unwrap();
    let id = q.enqueue(Job::new("ok")).unwrap();
    assert_eq!(q.wait(id, WAIT).unwrap().state, JobState::Completed);
    let calls = |conn: &mut redis::Connection| -> u64 {
        let info: String = redis::cmd("INFO").arg("commandstats").query(conn).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    };
    let before = calls(&mut conn);
    std::thread::sleep(Duration::from_secs(1));
    let made = calls(&mut conn) - before;
    assert!(made < 300, "{made} script calls in a second with one broken schedule due");
    n.shutdown(WAIT);
}

/// A node asked to stop while its Redis does not answer (paused with SIGSTOP: a frozen
/// VM, a network that drops packets) returns once its calls time out, instead of
/// waiting for ever on a reply that never comes (it hung before replies had a timeout).
#[test]
fn a_node_stops_while_its_redis_is_paused() {
    let (redis, q, rt) = setup(1);
    let n = node(&q, &rt).handler("ok", |_| Ok(Vec::new())).start().unwrap();
    let id = q.enqueue(Job::new("ok")).unwrap();
    assert_eq!(q.wait(id, WAIT).unwrap().state, JobState::Completed);
    let pid = redis.pid() as libc::pid_t;
    // SAFETY: kill(2) on our own child redis-server, with valid signal numbers.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(n.shutdown(Duration::from_secs(1)));
    });
    let stopped = rx.recv_timeout(Duration::from_secs(120));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    stopped.expect("the node's shutdown hung on a paused Redis");
}

/// A ready-set member that is no job id as ENQUEUE writes them (too many digits for an
/// id, or a leading zero that would alias another job) is dead-lettered on its own: the
/// jobs claimed with it run (one unreadable claim reply lost the whole batch, whose jobs
/// then died of lost leases without running).
#[test]
fn a_malformed_id_in_the_ready_set_does_not_take_its_batch_with_it() {
    let (redis, q, rt) = setup(2);
    let mut conn = redis.conn();
    // Each with a job hash that reads well, so only its id is wrong.
    for bad in ["99999999999999999999", "007"] {
        let key = format!("kairos:{{jobs}}:j:{bad}");
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg("k")
            .arg("ok")
            .arg("p")
            .arg("")
            .arg("pr")
            .arg(10)
            .query(&mut conn)
            .unwrap();
        let _: () = redis::cmd("ZADD").arg("kairos:{jobs}:ready").arg(0).arg(bad).query(&mut conn).unwrap();
    }
    let ids: Vec<JobId> = (0..3).map(|_| q.enqueue(Job::new("ok")).unwrap()).collect();
    let n = node(&q, &rt)
        .lease(Duration::from_millis(300))
        .max_lost_leases(2)
        .handler("ok", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    for id in ids {
        let s = q.wait(id, WAIT).unwrap();
        assert_eq!((s.state, s.attempts), (JobState::Completed, 1), "{s:?}");
    }
    let dead: i64 = redis::cmd("ZCARD").arg("kairos:{jobs}:dead").query(&mut conn).unwrap();
    assert_eq!(dead, 2, "the two malformed members");
    n.shutdown(WAIT);
}

/// A failure counter that is no integer on one job of an ACK batch (a hash edited by
/// hand) cannot make the ACK fail half way: every outcome of the batch is applied once.
/// (HINCRBY failed on it after the earlier outcomes were written; the batch, sent again,
/// was refused as stale, and the completed job ran again after its lease.)
#[test]
fn a_corrupt_failure_counter_does_not_break_an_ack_half_way() {
    let (redis, q, rt) = setup(2);
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    let runs = Arc::new(Mutex::new(Vec::new()));
    let r = runs.clone();
    let n = node(&q, &rt)
        .lease(Duration::from_secs(2))
        .handler("held", move |job| {
            r.lock().unwrap().push(job.payload.clone());
            if job.attempt == 1 {
                started_tx.send(()).unwrap();
                let _ = release_rx.recv_timeout(WAIT);
                if job.payload == b"fails" {
                    return Err(JobError::retry("once"));
                }
            }
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    let policy = RetryPolicy::fixed(Duration::from_millis(10)).max_attempts(3);
    let done = q.enqueue(Job::new("held").payload(b"done".to_vec())).unwrap();
    let fails = q.enqueue(Job::new("held").payload(b"fails".to_vec()).retry(policy)).unwrap();
    for _ in 0..2 {
        started_rx.recv_timeout(WAIT).expect("both jobs start");
    }
    let _: () = redis::cmd("HSET")
        .arg(format!("kairos:{{jobs}}:j:{}", fails.0))
        .arg("fl")
        .arg("x")
        .query(&mut redis.conn())
        .unwrap();
    release_tx.send(()).unwrap();
    release_tx.send(()).unwrap();
    let d = q.wait(done, WAIT).unwrap();
    assert_eq!((d.state, d.attempts, d.lost_leases), (JobState::Completed, 1, 0), "{d:?}");
    let f = q.wait(fails, WAIT).unwrap();
    assert_eq!((f.state, f.attempts, f.failures, f.lost_leases), (JobState::Completed, 2, 1, 0), "{f:?}");
    let report = n.shutdown(WAIT);
    assert_eq!(runs.lock().unwrap().len(), 3, "done once, fails twice: {report}");
    assert_eq!(report.unacked, 0, "{report}");
}

/// Claimed jobs that have not started when the node stops go back to ready at once:
/// before, with a long job holding the only worker past the grace, they were abandoned
/// with it (counted unacked), left active until their leases ran out, and each such stop
/// counted a lost lease against them (a job that never ran could end dead for it).
#[test]
fn jobs_not_started_when_the_node_stops_are_handed_back() {
    let (_redis, q, rt) = setup(1);
    let (n, release_tx, started_rx) = job_1_holds_the_worker(&q, &rt, 3, Duration::from_secs(30));
    // Job 1 holds the only worker past the grace: jobs 2 and 3 cannot start.
    let r = n.shutdown(Duration::from_millis(300));
    release_tx.send(()).unwrap();
    assert!(started_rx.try_iter().next().is_none(), "only job 1 ever started");
    assert_eq!((r.claimed, r.unacked, r.handed_back), (3, 1, 2), "{r}");
    let c = q.counts().unwrap();
    assert_eq!((c.ready, c.running), (2, 1), "{c:?}");
}

/// A requeued dead job gets its whole retry budget back: REQUEUE resets its failure and
/// lost-lease counts in Redis, so it runs `max_attempts` more times, not once.
#[test]
fn a_requeued_dead_job_gets_its_retry_budget_back() {
    let (redis, q, rt) = setup(2);
    let runs = Arc::new(AtomicU32::new(0));
    let start = |runs: &Arc<AtomicU32>| {
        let r = runs.clone();
        node(&q, &rt)
            .handler("x", move |_| {
                r.fetch_add(1, SeqCst);
                Err("boom".into())
            })
            .start()
            .unwrap()
    };
    let n = start(&runs);
    let id =
        q.enqueue(Job::new("x").retry(RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(2))).unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!((s.state, s.failures, runs.load(SeqCst)), (JobState::Dead, 2, 2));
    n.shutdown(WAIT);
    // A lost lease too (as if its node had crashed once), to be forgotten as well.
    let _: () = redis::cmd("HSET")
        .arg(format!("kairos:{{jobs}}:j:{}", id.0))
        .arg("lo")
        .arg(1)
        .query(&mut redis.conn())
        .unwrap();
    assert_eq!(q.requeue_dead(&[id]).unwrap(), 1);
    let s = q.status(id).unwrap().unwrap();
    assert_eq!(
        (s.state, s.failures, s.lost_leases, s.node.as_deref()),
        (JobState::Ready, 0, 0, None),
        "{s:?}"
    );
    let n = start(&runs);
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!(
        (s.state, s.failures, runs.load(SeqCst)),
        (JobState::Dead, 2, 4),
        "two more attempts, not one"
    );
    assert!(n.shutdown(WAIT).is_balanced());
}
