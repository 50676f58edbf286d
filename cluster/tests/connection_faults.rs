//! Redis faults, the errors that report them, and the command line's refusals: a
//! replica blink, a Redis restarted empty, a database Redis does not have, leases out of
//! range, errors that name what they were about (from a review; each test was seen to
//! fail before its fix).

mod common;

use common::{eventually, setup, RedisServer};
use kairos_cluster::{Client, Job, JobError, JobId, JobState, Node, Queue, MAX_LEASE};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);

/// Runs `kairos-cluster worker` on queue "q" with one worker and `args` until it exits,
/// or 30 s (a hang guard, not a timing assertion: it is killed then): its exit status
/// (`None`: killed) and what it wrote to stderr.
fn run_worker(args: &[&str]) -> (Option<std::process::ExitStatus>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kairos-cluster"))
        .args(["worker", "--queue", "q", "--workers", "1"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > until {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        child.kill().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A database index the server refuses is a permanent error: `worker` must exit with
/// it, not retry for ever as if Redis were still starting.
#[test]
fn a_worker_given_a_database_redis_refuses_exits_instead_of_retrying_for_ever() {
    let redis = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}/99", redis.port); // 16 databases by default
    let (status, stderr) = run_worker(&["--redis", &url]);
    assert!(
        status.is_some_and(|s| !s.success()),
        "worker still retrying after 30 s on a permanent error; stderr:\n{stderr}"
    );
}

/// NOREPLICAS (min-replicas-to-write not met: a replica blinked) is a passing refusal.
/// The keeper must keep the completed outcome and deliver it once Redis takes writes
/// again, not set it aside as poison so the job's lease runs out and it runs twice.
#[test]
fn an_ack_refused_with_noreplicas_is_delivered_later_not_set_aside() {
    let (redis, q, rt) = setup(2);
    let runs = Arc::new(Mutex::new(0u32));
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<()>();
    let (release_tx, release_rx) = crossbeam_channel::unbounded::<()>();
    let r = runs.clone();
    let node = Node::builder(q.clone(), rt.handle())
        .concurrency(1)
        .lease(Duration::from_secs(5))
        .handler("k", move |_| {
            let mut n = r.lock().unwrap();
            *n += 1;
            let first = *n == 1;
            drop(n);
            if first {
                started_tx.send(()).unwrap();
                let _ = release_rx.recv_timeout(Duration::from_secs(60));
            }
            Ok(b"done".to_vec())
        })
        .start()
        .unwrap();
    let id = q.enqueue(Job::new("k")).unwrap();
    started_rx.recv_timeout(WAIT).unwrap();
    let mut admin = redis.conn();
    let set = |admin: &mut redis::Connection, n: &str| {
        let _: () = redis::cmd("CONFIG").arg("SET").arg("min-replicas-to-write").arg(n).query(admin).unwrap();
    };
    set(&mut admin, "1"); // every write refused with NOREPLICAS for a moment
    release_tx.send(()).unwrap();
    std::thread::sleep(Duration::from_secs(1)); // the outage (the lease has 5 s)
    set(&mut admin, "0");
    let s = q.wait(id, WAIT).unwrap();
    let report = node.shutdown(WAIT);
    assert_eq!(s.state, JobState::Completed, "{s:?}");
    assert_eq!(*runs.lock().unwrap(), 1, "the job ran again after a brief NOREPLICAS: {s:?}; {report:?}");
}

/// Job ids restart at 1 in a Redis restarted empty. A run still going from before the
/// restart must not settle the new job that got its id (same id, same token 1, same
/// node): here the old run's result completes the new job, whose own fatal failure is
/// then refused as stale.
#[test]
fn an_ack_from_before_redis_restarted_empty_does_not_settle_the_new_job_with_its_id() {
    let mut redis = RedisServer::start(); // no persistence
    let q = Client::connect(&redis.url()).unwrap().queue("jobs").unwrap();
    let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
    let gates: Arc<Mutex<HashMap<String, crossbeam_channel::Receiver<()>>>> = Default::default();
    let mut release = HashMap::new();
    for p in ["old", "new"] {
        let (tx, rx) = crossbeam_channel::unbounded::<()>();
        gates.lock().unwrap().insert(p.to_string(), rx);
        release.insert(p, tx);
    }
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<String>();
    let g = gates.clone();
    let node = Node::builder(q.clone(), rt.handle())
        .concurrency(2)
        .lease(Duration::from_secs(30))
        .handler("k", move |job| {
            let p = job.text()?.to_string();
            started_tx.send(p.clone()).unwrap();
            let rx = g.lock().unwrap().get(&p).cloned().unwrap();
            let _ = rx.recv_timeout(Duration::from_secs(60));
            if p == "old" {
                Ok(b"result of the OLD job".to_vec())
            } else {
                Err(JobError::fatal("the new job failed"))
            }
        })
        .start()
        .unwrap();
    let old = q.enqueue(Job::new("k").payload(b"old".to_vec())).unwrap();
    assert_eq!(started_rx.recv_timeout(WAIT).unwrap(), "old");

    redis.kill();
    redis.restart(); // empty: no persistence
    let new = eventually_enqueue(&q, Job::new("k").payload(b"new".to_vec()));
    assert_eq!(new, old, "ids restart in an empty Redis (the premise of this test)");
    assert_eq!(started_rx.recv_timeout(WAIT).unwrap(), "new");

    release["old"].send(()).unwrap(); // the pre-restart run ends first
    eventually("the old run's outcome answered", || {
        q.status(new).unwrap().is_some_and(|s| s.state != JobState::Active)
            || q.counts().unwrap().total_stale_acks > 0
    });
    release["new"].send(()).unwrap();
    let s = q.wait(new, WAIT).unwrap();
    node.shutdown(WAIT);
    assert_eq!(
        s.state,
        JobState::Dead,
        "the new job was settled by the old run's ack: result {:?}",
        s.result.as_deref().map(String::from_utf8_lossy)
    );
}

fn eventually_enqueue(q: &kairos_cluster::Queue, job: Job) -> JobId {
    let until = Instant::now() + WAIT;
    loop {
        match q.enqueue(job.clone()) {
            Ok(id) => return id,
            Err(e) => assert!(Instant::now() < until, "Redis never came back: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// "Errors say what went wrong": a failed read names the queue and the job it was about.
#[test]
fn a_failed_status_read_names_the_queue_and_the_job() {
    let (redis, q, _rt) = setup(1);
    let _: () = redis::cmd("SET").arg("kairos:{jobs}:j:5").arg("x").query(&mut redis.conn()).unwrap();
    let e = q.status(JobId(5)).unwrap_err();
    let msg = e.to_string();
    let names_queue = msg.contains("jobs");
    let names_job = msg.contains("job 5") || msg.contains(":j:5");
    assert!(names_queue && names_job, "the message names neither the queue nor the job: {msg}");
}

/// `worker --lease-ms` has no upper bound: 18446744073709551615 ms (584 million years)
/// is taken silently, and a job held by such a node that dies is never recovered.
/// (`produce --delay-ms` and `schedule --every-ms` refuse values this far out.)
#[test]
fn a_worker_refuses_a_lease_no_node_could_ever_lose() {
    let redis = RedisServer::start();
    let (status, stderr) = run_worker(&["--redis", &redis.url(), "--lease-ms", "18446744073709551615"]);
    assert!(
        status.is_some_and(|s| !s.success()) && stderr.contains("lease"),
        "--lease-ms 18446744073709551615 accepted; stderr:\n{stderr}"
    );
}

/// A lease past [`MAX_LEASE`] is refused with why. (One whose milliseconds pass u64,
/// `Duration::from_secs(18446744073709552)` = 2^64 + 384 ms, was cut with `as u64` to a
/// 384 ms lease in Redis while the keeper renewed every third of the whole: the lease ran
/// out under a running job.)
#[test]
fn a_lease_over_the_maximum_is_refused_not_wrapped_to_a_short_one() {
    let (_redis, q, rt) = setup(1);
    for lease in [Duration::from_secs(18_446_744_073_709_552), MAX_LEASE + Duration::from_millis(1)] {
        let e = Node::builder(q.clone(), rt.handle())
            .lease(lease)
            .handler("k", |_| Ok(Vec::new()))
            .start()
            .unwrap_err();
        assert!(e.is_bad_config() && e.to_string().contains("lease"), "{e}");
    }
    let node = Node::builder(q.clone(), rt.handle())
        .lease(MAX_LEASE)
        .handler("k", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    node.shutdown(WAIT);
}

/// "Errors say what went wrong": a host name that does not resolve is not a server that
/// is down, but the message says only "is redis-server running there?".
#[test]
fn an_unresolvable_host_is_named_as_such() {
    let e = Client::connect("redis://no-such-host.invalid:6379/").unwrap_err();
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    assert!(
        lower.contains("resolve")
            || lower.contains("not known")
            || lower.contains("name")
            || lower.contains("dns"),
        "{msg}"
    );
}

/// A TCP proxy in front of a Redis that, once armed, lets the next CLAIM call (the only
/// script called with 7 arguments: an 11-element EVALSHA) through to Redis and then cuts
/// the connection before the reply reaches the node: Redis ran the claim, the node never
/// heard of what it took.
struct LossyProxy {
    port: u16,
    armed: Arc<AtomicBool>,
    cut_one: Arc<AtomicBool>,
    /// While set, connections are closed as soon as they are accepted (Redis unreachable).
    down: Arc<AtomicBool>,
}

impl LossyProxy {
    fn start(upstream: u16) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (armed, cut_one) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let (a, c) = (armed.clone(), cut_one.clone());
        let down = Arc::new(AtomicBool::new(false));
        let d = down.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                if d.load(SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let cut = Arc::new(AtomicBool::new(false));
                let (mut from, mut to, armed, cut_here) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap(), a.clone(), cut.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        let claim = buf[..n].starts_with(b"*11\r\n$7\r\nEVALSHA");
                        if claim && armed.swap(false, SeqCst) {
                            cut_here.store(true, SeqCst); // before Redis can answer
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                });
                let (mut from, mut to, cut_one) = (server, client, c.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 1 << 16];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        if cut.load(SeqCst) {
                            cut_one.store(true, SeqCst);
                            break;
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
            }
        });
        LossyProxy { port, armed, cut_one, down }
    }
}

/// A private Redis, a [`LossyProxy`] in front of it, and queue "q" reached directly (for
/// the test's own calls) and through the proxy (for the node under test).
fn proxied() -> (RedisServer, LossyProxy, Queue, Queue) {
    let redis = RedisServer::start();
    let proxy = LossyProxy::start(redis.port);
    let direct = Client::connect(&redis.url()).unwrap().queue("q").unwrap();
    let through_proxy =
        Client::connect(&format!("redis://127.0.0.1:{}/", proxy.port)).unwrap().queue("q").unwrap();
    (redis, proxy, direct, through_proxy)
}

/// A claim whose reply is lost (Redis ran it; the connection failed before the answer
/// came back) must not leave what it took to its lease: the node never saw those jobs,
/// so a lease ran out under a job that never started, counted a lost lease against it
/// (enough such blinks dead-letter a job that never ran), and delayed it a whole lease.
/// The node hands them back when it reaches Redis again.
#[test]
fn jobs_taken_by_a_claim_whose_reply_was_lost_are_handed_back_not_left_to_their_lease() {
    let (_redis, proxy, direct, through_proxy) = proxied();
    let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let node = Node::builder(through_proxy, rt.handle())
        .lease(Duration::from_secs(1))
        .handler("k", move |_| {
            r.fetch_add(1, SeqCst);
            Ok(Vec::new())
        })
        .start()
        .unwrap();
    let warm = direct.enqueue(Job::new("k")).unwrap();
    assert_eq!(direct.wait(warm, WAIT).unwrap().state, JobState::Completed);
    proxy.armed.store(true, SeqCst);
    let id = direct.enqueue(Job::new("k")).unwrap();
    let s = direct.wait(id, WAIT).unwrap();
    node.shutdown(WAIT);
    assert!(proxy.cut_one.load(SeqCst), "the premise: a claim's reply was cut");
    assert_eq!(s.state, JobState::Completed, "{s:?}");
    assert!(s.created_ms > 1_600_000_000_000, "a creation time in Redis's epoch ms: {s:?}");
    assert_eq!((s.attempts, s.lost_leases), (1, 0), "the lost claim counted against the job: {s:?}");
    assert_eq!(runs.load(SeqCst), 2, "the warm-up job and this one, once each");
    assert_eq!(direct.counts().unwrap().total_recovered, 0);
}

/// The same for `wait`, whose first step reads the event stream.
#[test]
fn a_failed_wait_names_the_queue_and_the_job() {
    let (redis, q, _rt) = setup(1);
    let _: () = redis::cmd("SET").arg("kairos:{jobs}:ev").arg("x").query(&mut redis.conn()).unwrap();
    let msg = q.wait(JobId(5), WAIT).unwrap_err().to_string();
    assert!(msg.contains("jobs") && msg.contains("job 5"), "the wait's error names neither: {msg}");
}

/// A node started again under the same id (`worker --node-id w` restarted) must not hand
/// back, when a claim of its own loses its reply, a job its previous run still holds (left
/// to its lease, as `shutdown` documents). Its claim serials counted from 1 again, so
/// RELEASE of its claim 1 took the job the earlier run claimed as 1: its attempt counter
/// lowered, no lost lease counted, run again at once beside the first run (from a review;
/// seen to fail). Serials now start at random.
#[test]
fn a_node_restarted_under_the_same_id_does_not_release_what_its_previous_run_holds() {
    let (_redis, proxy, direct, through_proxy) = proxied();
    // Enqueued before the first node starts: its first claim (serial 1) takes it.
    let id = direct.enqueue(Job::new("k")).unwrap();

    // The first run holds its worker until the end; a second run (after the lease ran
    // out: at-least-once) returns at once.
    let runs = Arc::new(AtomicU32::new(0));
    let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<()>();
    let handler = {
        let runs = runs.clone();
        move |_job: &kairos_cluster::JobContext| -> kairos_cluster::JobResult {
            if runs.fetch_add(1, SeqCst) == 0 {
                started_tx.send(()).unwrap();
                let _ = gate_rx.recv_timeout(WAIT);
            }
            Ok(Vec::new())
        }
    };

    let rt_a = kairos_rt::Runtime::builder().workers(2).build().unwrap();
    let node_a = Node::builder(direct.clone(), rt_a.handle())
        .node_id("w")
        .lease(Duration::from_secs(3))
        .handler("k", handler.clone())
        .start()
        .unwrap();
    started_rx.recv_timeout(WAIT).unwrap();
    // Its run outlives the grace: left to its lease.
    let report_a = node_a.shutdown(Duration::from_millis(200));
    assert_eq!(report_a.unacked, 1, "{report_a}");

    // The same id starts again; its first claim's reply is lost.
    proxy.armed.store(true, SeqCst);
    let rt_b = kairos_rt::Runtime::builder().workers(2).build().unwrap();
    let node_b = Node::builder(through_proxy, rt_b.handle())
        .node_id("w")
        .lease(Duration::from_secs(3))
        .handler("k", handler)
        .start()
        .unwrap();
    let s = direct.wait(id, WAIT).unwrap();
    node_b.shutdown(WAIT);
    gate_tx.send(()).unwrap();
    let counts = direct.counts().unwrap();
    assert!(proxy.cut_one.load(SeqCst), "premise: a claim's reply was cut");
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!(
        (s.attempts, s.lost_leases, counts.total_handed_back),
        (2, 1, 0),
        "the job the previous run held was handed back as never claimed: {s:?}"
    );
}

/// A node asked to stop while a hand-back is pending (in the fetcher's backoff after a
/// blink of a few seconds) still hands back what its lost claim took: its loop ended
/// without it, and the job waited its whole lease and counted a lost lease against a run
/// that never began (from a review; seen to fail).
#[test]
fn a_node_stopped_right_after_a_blink_still_hands_back_what_its_lost_claim_took() {
    let (_redis, proxy, direct, through_proxy) = proxied();
    let rt = kairos_rt::Runtime::builder().workers(2).build().unwrap();
    let node = Node::builder(through_proxy, rt.handle())
        .lease(Duration::from_secs(30))
        .handler("k", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    let warm = direct.enqueue(Job::new("k")).unwrap();
    assert!(direct.wait(warm, WAIT).is_ok());
    proxy.armed.store(true, SeqCst);
    let id = direct.enqueue(Job::new("k")).unwrap();
    eventually("the claim's reply cut", || proxy.cut_one.load(SeqCst));
    proxy.down.store(true, SeqCst); // a blink of a few seconds: the fetcher backs off to ~2 s
    std::thread::sleep(Duration::from_secs(4));
    proxy.down.store(false, SeqCst); // Redis answers again ...
    node.shutdown(Duration::from_secs(10)); // ... and the node is asked to stop
    let s = direct.status(id).unwrap().unwrap();
    assert_ne!(
        s.state,
        JobState::Active,
        "the job the lost claim took is left to its 30 s lease after the node stopped: {s:?}"
    );
}
