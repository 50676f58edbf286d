//! The producer's side against a real Redis: enqueue, batches, idempotency, status,
//! cancel, counts, bad input, connection errors.

mod common;

use common::RedisServer;
use kairos_cluster::{CancelOutcome, Client, Job, JobId, JobState, QueueName};
use kairos_rt::{Priority, RetryPolicy};
use std::time::Duration;

#[test]
fn enqueue_then_status_says_ready_with_what_was_given() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("q1").unwrap();
    let id = q.enqueue(Job::new("mail").payload(b"hi".to_vec()).priority(Priority::HIGH)).unwrap();
    let s = q.status(id).unwrap().expect("the job exists");
    assert_eq!(
        (s.state, s.kind.as_str(), s.priority, s.attempts),
        (JobState::Ready, "mail", Some(Priority::HIGH), 0)
    );
    let c = q.counts().unwrap();
    assert_eq!((c.ready, c.delayed, c.running, c.total_enqueued), (1, 0, 0, 1));
    assert_eq!(c.ready_by_priority.get(&Priority::HIGH.level()), Some(&1));
}

#[test]
fn a_delayed_job_waits_in_the_delayed_set() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("q").unwrap();
    let id = q.enqueue(Job::new("k").after(Duration::from_secs(3600))).unwrap();
    let s = q.status(id).unwrap().unwrap();
    assert_eq!(s.state, JobState::Delayed);
    assert!(s.due_ms.unwrap() >= s.created_ms + 3_600_000);
    assert_eq!(q.counts().unwrap().delayed, 1);
}

#[test]
fn a_batch_is_one_step_in_order_and_ids_increase() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("q").unwrap();
    let jobs: Vec<Job> = (0..100).map(|i| Job::new("k").payload(vec![i as u8])).collect();
    let out = q.enqueue_batch(&jobs).unwrap();
    assert_eq!(out.len(), 100);
    assert!(out.windows(2).all(|w| w[0].id < w[1].id));
    assert!(out.iter().all(|e| !e.duplicate));
    assert_eq!(q.counts().unwrap().ready, 100);
}

/// Ids from 1e14 up are written as integers (Lua's `tostring` printed them as `1e+14`,
/// and a batch's jobs then shared one key and overwrote each other).
#[test]
fn ids_past_1e14_stay_distinct_integers() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("big").unwrap();
    let _: () = redis::cmd("SET")
        .arg("kairos:{big}:ids")
        .arg(99_999_999_999_998u64)
        .query(&mut redis.conn())
        .unwrap();
    let jobs: Vec<Job> = (0..4).map(|i| Job::new(format!("k{i}"))).collect();
    let out = q.enqueue_batch(&jobs).unwrap();
    let ids: Vec<u64> = out.iter().map(|e| e.id.0).collect();
    assert_eq!(ids, [99_999_999_999_999, 100_000_000_000_000, 100_000_000_000_001, 100_000_000_000_002]);
    for (i, e) in out.iter().enumerate() {
        let s = q.status(e.id).unwrap().expect("each job has its own hash");
        assert_eq!(s.kind, format!("k{i}"), "{s:?}");
    }
    assert_eq!(q.counts().unwrap().ready, 4);
}

#[test]
fn an_idempotency_key_returns_the_first_id() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("q").unwrap();
    let a = q.enqueue(Job::new("k").idempotency_key("order-1")).unwrap();
    let b = q
        .enqueue_batch(&[Job::new("k").idempotency_key("order-1"), Job::new("k").idempotency_key("order-2")])
        .unwrap();
    assert_eq!(b[0].id, a);
    assert!(b[0].duplicate);
    assert_ne!(b[1].id, a);
    assert!(!b[1].duplicate);
    assert_eq!(q.counts().unwrap().total_enqueued, 2);
}

#[test]
fn an_idempotency_key_is_forgotten_after_its_window() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("q").unwrap();
    let a = q.enqueue(Job::new("k").idempotency_key_for("x", Duration::from_millis(1))).unwrap();
    common::eventually("the key expires", || {
        let b = q.enqueue(Job::new("k").idempotency_key_for("x", Duration::from_millis(1))).unwrap();
        b != a
    });
}

#[test]
fn cancel_ends_a_waiting_job_and_says_what_it_did() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("q").unwrap();
    let ready = q.enqueue(Job::new("k")).unwrap();
    let delayed = q.enqueue(Job::new("k").after(Duration::from_secs(60))).unwrap();
    assert_eq!(q.cancel(ready).unwrap(), CancelOutcome::Cancelled);
    assert_eq!(q.cancel(delayed).unwrap(), CancelOutcome::Cancelled);
    // Idempotent: a second cancel (or a retry after a lost reply) says the same.
    assert_eq!(q.cancel(ready).unwrap(), CancelOutcome::Cancelled);
    assert_eq!(q.cancel(JobId(999)).unwrap(), CancelOutcome::NotFound);
    assert_eq!(q.status(ready).unwrap().unwrap().state, JobState::Cancelled);
    let c = q.counts().unwrap();
    assert_eq!((c.ready, c.delayed, c.total_cancelled, c.finished_kept), (0, 0, 2, 2));
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let redis = RedisServer::start();
    let client = Client::connect(&redis.url()).unwrap();
    for bad in ["", "a{b", "a}b", "with space", "ünï", &"x".repeat(129)] {
        let e = client.queue(bad).unwrap_err();
        assert!(e.is_bad_queue_name(), "{bad:?}: {e}");
    }
    assert!(QueueName::new("ok-name_1.2:3").is_ok());
    let q = client.queue("q").unwrap().with_max_payload(10);
    let e = q.enqueue(Job::new("k").payload(vec![0; 11])).unwrap_err();
    assert!(e.is_bad_job() && e.to_string().contains("11 bytes"), "{e}");
    let e = q.enqueue(Job::new("")).unwrap_err();
    assert!(e.is_bad_job(), "{e}");
    let e = q
        .enqueue(Job::new("k").retry(RetryPolicy::fixed(Duration::from_millis(1)).max_attempts(0)))
        .unwrap_err();
    assert!(e.is_bad_job() && e.to_string().contains("max_attempts"), "{e}");
    let e = q.enqueue(Job::new("k").idempotency_key("")).unwrap_err();
    assert!(e.is_bad_job(), "{e}");
    // A refused job in a batch refuses the batch before anything is sent.
    let e = q.enqueue_batch(&[Job::new("k"), Job::new("k").payload(vec![0; 50])]).unwrap_err();
    assert!(e.is_bad_job());
    assert_eq!(q.counts().unwrap().total_enqueued, 0);
}

#[test]
fn connection_errors_name_the_url_and_say_what_is_wrong() {
    let e = Client::connect("redis://127.0.0.1:1/").unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().contains("redis://127.0.0.1:1/"), "{e}");
    let e = Client::connect("http://127.0.0.1/").unwrap_err();
    assert!(e.is_bad_url(), "{e}");

    let redis = RedisServer::start_with(common::Persistence::None, &["--requirepass", "s3cret"]);
    let url = format!("redis://:wrong@127.0.0.1:{}/", redis.port);
    let e = Client::connect(&url).unwrap_err();
    assert!(e.is_auth(), "{e}");
    assert!(!e.to_string().contains("wrong"), "the password is hidden: {e}");
    assert!(Client::connect(&format!("redis://:s3cret@127.0.0.1:{}/", redis.port)).is_ok());
}

#[test]
fn an_acl_that_forbids_scripts_is_a_clear_error_at_connect() {
    let redis = RedisServer::start();
    let mut admin = redis.conn();
    let _: () = redis::cmd("ACL")
        .arg("SETUSER")
        .arg("limited")
        .arg("on")
        .arg(">pw")
        .arg("~*")
        .arg("+@all")
        .arg("-evalsha")
        .arg("-eval")
        .arg("-script")
        .query(&mut admin)
        .unwrap();
    let e = Client::connect(&format!("redis://limited:pw@127.0.0.1:{}/", redis.port)).unwrap_err();
    assert!(e.is_forbidden(), "{e}");
    assert!(e.to_string().contains("EVALSHA"), "{e}");
}

#[test]
fn counts_and_status_survive_a_redis_restart_with_aof() {
    let mut redis = RedisServer::start_with(common::Persistence::AofAlways, &[]);
    let q = Client::connect(&redis.url()).unwrap().queue("q").unwrap();
    let ids: Vec<JobId> = (0..50).map(|_| q.enqueue(Job::new("k")).unwrap()).collect();
    redis.restart();
    // The queue's connection died with the server; reads reconnect by themselves.
    let c = q.counts().unwrap();
    assert_eq!((c.ready, c.total_enqueued), (50, 50));
    assert!(ids.iter().all(|id| q.status(*id).unwrap().is_some()));
}

/// `kairos-cluster produce` refuses arguments it cannot honour with a reason, instead of
/// panicking (a gap beyond what a `Duration` holds) or reserving memory for a huge count.
#[test]
fn the_producer_tool_refuses_bad_arguments_with_a_reason() {
    let redis = RedisServer::start();
    let url = redis.url();
    for (args, says) in [
        (&["--rate", "1e-300"][..], "--rate"),
        (&["--period", "1e300"][..], "--period"),
        (&["--period", "1", "--gauss", "--sigma", "1e300"][..], "--sigma"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kairos-cluster"))
            .args(["produce", "--redis", &url, "--queue", "bad", "--count", "1"])
            .args(args)
            .output()
            .expect("run the kairos-cluster binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
    // A huge count is accepted (and would run for ages): it reserves nothing up front.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kairos-cluster"))
        .args(["produce", "--redis", &url, "--queue", "big", "--count", "18446744073709551615", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the kairos-cluster binary");
    let q = Client::connect(&url).unwrap().queue("big").unwrap();
    common::eventually("the producer enqueues", || q.counts().unwrap().total_enqueued > 0);
    assert!(child.try_wait().unwrap().is_none(), "the producer exited early");
    child.kill().unwrap();
    let _ = child.wait();
}

/// A member of the dead set that is no job id (CLAIM dead-letters whatever the ready set
/// held that is no job) does not stop `dead()` from listing the dead jobs.
#[test]
fn a_dead_set_member_that_is_no_job_id_is_left_out_of_the_listing() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("d").unwrap();
    let job = q.enqueue(Job::new("k")).unwrap();
    let mut conn = redis.conn();
    let _: () = redis::cmd("ZADD").arg("kairos:{d}:dead").arg(0).arg("abc").query(&mut conn).unwrap();
    let _: () = redis::cmd("ZADD").arg("kairos:{d}:dead").arg(1).arg(job.0).query(&mut conn).unwrap();
    let listed = q.dead(10).expect("the dead jobs are listed");
    assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [job], "{listed:?}");
}
