//! Regressions from a review of the first version: each test failed on it.

mod common;

use common::{eventually, setup, RedisServer};
use kairos_cluster::{Client, Job, JobId, JobState, Node};
use kairos_rt::{RetryPolicy, Runtime};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn an_acl_without_the_wake_channel_fails_the_node_at_start_and_never_an_enqueue_after_its_writes() {
    let redis = RedisServer::start();
    let mut admin = redis.conn();
    // Keys allowed, channels not (Redis 7's default for new users is resetchannels).
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("kq")
        .arg("on")
        .arg(">pw")
        .arg("resetchannels")
        .arg("~kairos:*")
        .arg("+@all")
        .query(&mut admin)
        .unwrap();
    let q =
        Client::connect(&format!("redis://kq:pw@127.0.0.1:{}/", redis.port)).unwrap().queue("acl").unwrap();
    let id =
        q.enqueue(Job::new("k")).expect("the wake-up is a hint: a refused PUBLISH does not fail the enqueue");
    assert_eq!(q.counts().unwrap().total_enqueued, 1);
    assert_eq!(q.status(id).unwrap().unwrap().state, JobState::Ready);
    let rt = Runtime::builder().workers(1).build().unwrap();
    let e = Node::builder(q, rt.handle()).handler("k", |_| Ok(Vec::new())).start().unwrap_err();
    assert!(e.is_forbidden(), "{e}");
    assert!(e.to_string().contains("wake"), "{e}");
}

#[test]
fn a_key_of_the_wrong_type_in_a_claimed_batch_loses_none_of_the_others() {
    let (redis, q, rt) = setup(1);
    let ids: Vec<JobId> = (0..3).map(|_| q.enqueue(Job::new("k")).unwrap()).collect();
    let _: () = redis::cmd("SET")
        .arg(format!("kairos:{{jobs}}:j:{}", ids[1].0))
        .arg("garbage")
        .query(&mut redis.conn())
        .unwrap();
    let n = Node::builder(q.clone(), rt.handle())
        .concurrency(8)
        .handler("k", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    assert_eq!(q.wait(ids[0], WAIT).unwrap().state, JobState::Completed);
    assert_eq!(q.wait(ids[2], WAIT).unwrap().state, JobState::Completed);
    let c = q.counts().unwrap();
    assert_eq!((c.ready, c.running, c.dead, c.total_completed), (0, 0, 1, 2), "{c:?}");
    n.shutdown(WAIT);
}

#[test]
fn a_refused_late_ack_does_not_stop_the_renewal_of_the_same_jobs_newer_run() {
    let (redis, q, rt) = setup(2);
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<u32>();
    // One release per run, so the test says which run ends.
    let (release_tx, release_rx): (Vec<_>, Vec<_>) =
        (0..3).map(|_| crossbeam_channel::bounded::<()>(1)).unzip();
    let n = Node::builder(q.clone(), rt.handle())
        .concurrency(2)
        .lease(Duration::from_secs(1))
        .handler("k", move |job| {
            started_tx.send(job.attempt).unwrap();
            release_rx[job.attempt as usize - 1].recv().unwrap();
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    let id = q.enqueue(Job::new("k")).unwrap();
    assert_eq!(started_rx.recv_timeout(WAIT).unwrap(), 1);
    // Run 1's lease runs out (as if the keeper had stalled), and a wake-up makes the
    // node claim at once, so it takes the job again itself. A renewal landing between
    // the two undoes the expiry; then try again.
    let mut conn = redis.conn();
    let mut second = None;
    for _ in 0..50 {
        let _: () = redis::cmd("ZADD").arg("kairos:{jobs}:active").arg(0).arg(id.0).query(&mut conn).unwrap();
        let _: i64 = redis::cmd("PUBLISH").arg("kairos:{jobs}:wake").arg("1").query(&mut conn).unwrap();
        if let Ok(a) = started_rx.recv_timeout(Duration::from_millis(200)) {
            second = Some(a);
            break;
        }
    }
    assert_eq!(second, Some(2), "the node claimed the job again");
    release_tx[0].send(()).unwrap(); // run 1 ends; its ack is refused
    eventually("run 1's ack refused", || q.counts().unwrap().total_stale_acks == 1);
    // Run 2 goes on for several leases; its lease must stay renewed.
    std::thread::sleep(Duration::from_millis(2500));
    let s = q.status(id).unwrap().unwrap();
    assert_eq!((s.state, s.attempts), (JobState::Active, 2), "run 2 lost its lease: {s:?}");
    release_tx[1].send(()).unwrap();
    assert_eq!(q.wait(id, WAIT).unwrap().attempts, 2);
    n.shutdown(WAIT);
}

#[test]
fn an_async_handler_whose_closure_panics_fails_the_job_instead_of_handing_it_back_forever() {
    let (_redis, q, rt) = setup(1);
    let n = Node::builder(q.clone(), rt.handle())
        .handler_async("k", |job| {
            let n: u32 = job.json().unwrap(); // panics on a bad payload, before any future
            async move { Ok(n.to_string().into_bytes()) }
        })
        .start()
        .unwrap();
    let id = q.enqueue(Job::new("k").payload(b"not json".to_vec())).unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!((s.state, s.attempts), (JobState::Dead, 1));
    assert!(s.last_error.unwrap().contains("panicked"));
    assert_eq!(n.shutdown(WAIT).panicked, 1);
}

#[test]
fn a_node_whose_runtime_shut_down_stops_claiming_instead_of_looping() {
    let (_redis, q, rt) = setup(1);
    let n = Node::builder(q.clone(), rt.handle()).handler("k", |_| Ok(Vec::new())).start().unwrap();
    rt.shutdown();
    let id = q.enqueue(Job::new("k")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let s = q.status(id).unwrap().unwrap();
    assert!(s.attempts <= 1, "claimed {} times in a loop", s.attempts);
    let r = n.shutdown(WAIT);
    assert!(r.claimed <= 1, "{r}");
    assert_eq!(q.counts().unwrap().running, 0, "nothing stays leased");
}

#[test]
fn big_results_are_not_kept_and_long_errors_are_cut() {
    let (_redis, q, rt) = setup(1);
    let n = Node::builder(q.clone(), rt.handle())
        .max_result(4)
        .handler("big", |_| Ok(vec![1; 10]))
        .handler("small", |_| Ok(vec![1; 4]))
        .handler("loud", |_| Err("x".repeat(100_000).into()))
        .start()
        .unwrap();
    let big = q.enqueue(Job::new("big")).unwrap();
    let small = q.enqueue(Job::new("small")).unwrap();
    let loud = q.enqueue(Job::new("loud")).unwrap();
    let s = q.wait(big, WAIT).unwrap();
    assert_eq!((s.state, s.result), (JobState::Completed, None));
    assert_eq!(q.wait(small, WAIT).unwrap().result, Some(vec![1; 4]));
    let err = q.wait(loud, WAIT).unwrap().last_error.unwrap();
    assert!(err.len() < 4200 && err.contains("more bytes cut"), "{} bytes", err.len());
    n.shutdown(WAIT);
}

#[test]
fn records_that_end_without_an_ack_are_trimmed_too() {
    let (_redis, q, rt) = setup(1);
    let n = Node::builder(q.clone(), rt.handle())
        .keep_finished(5, Duration::from_secs(3600))
        .handler("k", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    for _ in 0..30 {
        let id = q.enqueue(Job::new("k").after(Duration::from_secs(3600))).unwrap();
        q.cancel(id).unwrap();
    }
    eventually("the heartbeat trims cancelled records", || q.counts().unwrap().finished_kept <= 5);
    assert_eq!(q.counts().unwrap().total_cancelled, 30);
    n.shutdown(WAIT);
}

#[test]
fn built_in_jobs_cannot_run_past_the_nodes_limit_and_commands_get_no_environment() {
    let (_redis, q, rt) = setup(1);
    std::env::set_var("KAIROS_TEST_SECRET", "s3cret");
    let n = Node::builder(q.clone(), rt.handle())
        .max_job_time(Duration::from_secs(1))
        .builtin_kinds(&["env".to_string()])
        .start()
        .unwrap();
    let long = q.enqueue(Job::new("sleep").payload(b"5000".to_vec())).unwrap();
    let s = q.wait(long, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead);
    assert!(s.last_error.unwrap().contains("limit"));
    let env =
        q.enqueue(Job::new("command").payload(br#"{"program":"env","timeout_ms":500}"#.to_vec())).unwrap();
    let out = String::from_utf8(q.wait(env, WAIT).unwrap().result.unwrap()).unwrap();
    assert!(!out.contains("s3cret"), "{out}");
    assert!(out.lines().all(|l| l.starts_with("PATH=")), "{out}");
    let slow_cmd =
        q.enqueue(Job::new("command").payload(br#"{"program":"env","timeout_ms":99999}"#.to_vec())).unwrap();
    assert_eq!(q.wait(slow_cmd, WAIT).unwrap().state, JobState::Dead);
    n.shutdown(WAIT);
}

#[test]
fn listing_zero_dead_jobs_lists_none() {
    let (_redis, q, rt) = setup(1);
    let n = Node::builder(q.clone(), rt.handle()).handler("k", |_| Err("no".into())).start().unwrap();
    let id = q.enqueue(Job::new("k").retry(RetryPolicy::fixed(Duration::ZERO).max_attempts(1))).unwrap();
    q.wait(id, WAIT).unwrap();
    assert!(q.dead(0).unwrap().is_empty());
    assert_eq!(q.dead(5).unwrap().len(), 1);
    n.shutdown(WAIT);
}
