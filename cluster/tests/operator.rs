//! What an operator's calls and tools do with large or odd input: every dead job
//! requeued however many there are, waits and grace periods "for ever", a follow of the
//! event stream that misses nothing, dead-set entries that are no job. From a review;
//! each test failed before its fix.

mod common;

use common::{eventually, setup, RedisServer};
use kairos_cluster::{Client, Job, JobError, JobState, Node};
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_kairos-cluster");

/// Before: one REQUEUE step of 10,000, and `dead --requeue` ("Move every dead job back
/// to ready") said "requeued 10000 dead jobs" and left the rest dead.
#[test]
fn dead_requeue_moves_every_dead_job_and_leaves_what_is_no_job() {
    let (redis, q, _rt) = setup(1);
    let jobs: Vec<Job> = (0..10_001).map(|_| Job::new("k")).collect();
    for chunk in jobs.chunks(2000) {
        q.enqueue_batch(chunk).unwrap();
    }
    // All of them dead (as a node leaves them after their last attempt), behind an entry
    // that is no job, which must stay dead.
    let moved: i64 = redis::cmd("EVAL")
        .arg(
            "local ids = redis.call('ZRANGE', KEYS[1], 0, -1) \
             for i, id in ipairs(ids) do redis.call('ZADD', KEYS[2], i, id) end \
             redis.call('DEL', KEYS[1]) redis.call('ZADD', KEYS[2], 0, 'junk') return #ids",
        )
        .arg(2)
        .arg("kairos:{jobs}:ready")
        .arg("kairos:{jobs}:dead")
        .query(&mut redis.conn())
        .unwrap();
    assert_eq!(moved, 10_001);
    let out = Command::new(BIN)
        .args(["dead", "--redis", &redis.url(), "--queue", "jobs", "--requeue"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "requeued 10001 dead jobs");
    let c = q.counts().unwrap();
    assert_eq!((c.dead, c.ready), (1, 10_001), "{c:?}");
}

/// Before: REQUEUE took a dead entry with no job hash for a job (a missing hash reads as
/// nils, not as no hash): it went to ready with a new hash, and the next CLAIM
/// dead-lettered and counted it again.
#[test]
fn requeueing_a_dead_entry_that_is_no_job_requeues_nothing() {
    let (redis, q, rt) = setup(1);
    let _: () =
        redis::cmd("ZADD").arg("kairos:{jobs}:ready").arg(0).arg("junk").query(&mut redis.conn()).unwrap();
    let n = Node::builder(q.clone(), rt.handle()).handler("k", |_| Ok(Vec::new())).start().unwrap();
    eventually("junk dead-lettered", || q.counts().unwrap().dead == 1);
    n.shutdown(WAIT);
    let moved = q.requeue_dead(&[]).unwrap();
    let exists: bool = redis::cmd("EXISTS").arg("kairos:{jobs}:j:junk").query(&mut redis.conn()).unwrap();
    let c = q.counts().unwrap();
    assert_eq!((moved, c.dead, c.ready, exists), (0, 1, 0, false), "{c:?}");
}

/// Before: `Instant::now() + Duration::MAX` panicked, even for a job already final.
#[test]
fn waiting_without_a_bound_does_not_panic() {
    let (_redis, q, _rt) = setup(1);
    let id = q.enqueue(Job::new("k").after(Duration::from_secs(3600))).unwrap();
    q.cancel(id).unwrap();
    assert_eq!(q.wait(id, Duration::MAX).unwrap().state, JobState::Cancelled);
}

/// Before: the worker accepted the grace and panicked on it at Ctrl-C, with no report.
#[test]
fn a_worker_with_an_endless_grace_stops_cleanly() {
    let redis = RedisServer::start();
    let mut child = Command::new(BIN)
        .args(["worker", "--redis", &redis.url(), "--queue", "jobs", "--grace-secs", &u64::MAX.to_string()])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let q = Client::connect(&redis.url()).unwrap().queue("jobs").unwrap();
    eventually("the worker is up", || q.nodes().unwrap().len() == 1);
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success() && !err.contains("panicked"), "{status:?}: {err}");
}

/// Before: `kairos-cluster events` read from "$" until a first event came, so an event
/// added between two of its reads (after one came back empty) was never printed. The
/// tool is frozen while its read times out and the event comes.
#[test]
fn following_the_events_misses_none_after_a_quiet_read() {
    let (redis, q, _rt) = setup(1);
    let child = Command::new(BIN)
        .args(["events", "--redis", &redis.url(), "--queue", "jobs", "--count", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    // Wait until its read blocks in Redis.
    eventually("the tool blocks on the stream", || {
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut redis.conn()).unwrap();
        list.lines().any(|l| l.contains("cmd=xread"))
    });
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    // Its one-second read ends empty in Redis meanwhile; then one event.
    std::thread::sleep(Duration::from_millis(1500));
    let id = q.enqueue(Job::new("k").after(Duration::from_secs(3600))).unwrap();
    q.cancel(id).unwrap();
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    // It ends after one event; if it missed it, it follows for ever: stop it after 20 s.
    let mut child = child;
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("cancelled\tjob {id}")), "the event was missed: {text:?}");
}

/// Before: `dead(usize::MAX)` became `ZRANGE dead 0 -2` and left the newest out.
#[test]
fn listing_dead_jobs_without_a_limit_lists_them_all() {
    let (_redis, q, rt) = setup(1);
    let n =
        Node::builder(q.clone(), rt.handle()).handler("k", |_| Err(JobError::fatal("no"))).start().unwrap();
    let id = q.enqueue(Job::new("k")).unwrap();
    assert_eq!(q.wait(id, WAIT).unwrap().state, JobState::Dead);
    assert_eq!(q.dead(5).unwrap().len(), 1);
    assert_eq!(q.dead(usize::MAX).unwrap().len(), 1, "dead(usize::MAX) left the dead job out");
    n.shutdown(WAIT);
}

/// Before: a `stamp` payload far in the past overflowed the subtraction: a panic in the
/// handler (debug), a garbage delay pushed (release).
#[test]
fn a_stamp_instant_out_of_range_is_a_clear_error() {
    let (_redis, q, rt) = setup(1);
    let n = Node::builder(q.clone(), rt.handle()).builtin_kinds(&[]).start().unwrap();
    let id = q.enqueue(Job::new("stamp").payload(i64::MIN.to_string().into_bytes())).unwrap();
    let s = q.wait(id, WAIT).unwrap();
    assert_eq!(s.state, JobState::Dead);
    let err = s.last_error.unwrap_or_default();
    assert!(err.contains("out of range") && !err.contains("panicked"), "{err}");
    assert_eq!(n.shutdown(WAIT).panicked, 0);
}

/// Before: the claim asked Redis for `usize::MAX` jobs, which ZPOPMIN refuses: the node
/// started, and every claim failed, for good.
#[test]
fn a_node_with_unlimited_concurrency_runs_jobs() {
    let (_redis, q, rt) = setup(1);
    let id = q.enqueue(Job::new("k")).unwrap();
    let n = Node::builder(q.clone(), rt.handle())
        .concurrency(usize::MAX)
        .handler("k", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    assert_eq!(q.wait(id, WAIT).unwrap().state, JobState::Completed);
    assert!(n.shutdown(WAIT).is_balanced());
}
