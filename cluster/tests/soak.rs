//! Soak: 3 node processes on record and fail jobs with random priorities and delays, while
//! a random node is SIGKILLed and restarted every 2 s, Redis is paused (`CLIENT PAUSE`)
//! once for longer than a lease, and Redis itself is SIGKILLed and restarted once (AOF,
//! `appendfsync always`). At the end: every job ran at least once (the record hash), none
//! is left in a non-final state, nothing is dead, duplicates are no more than the jobs
//! recovered from lost leases plus retries, and `kairos-cluster stats --json` agrees with
//! the record and with `Queue::counts`.
//!
//! The short form (`cargo test`) runs 3,000 record jobs for about 12 s of chaos. The long
//! form: `KAIROS_SOAK_LONG=1 cargo test --release -p kairos-cluster --test soak -- --nocapture`
//! (100,000 record jobs, 90 s of chaos).

mod common;

use common::{eventually, Persistence, RedisServer};
use kairos_cluster::{Client, Job, JobId};
use kairos_rt::{Priority, RetryPolicy};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEASE_MS: u64 = 500;

fn worker(url: &str, id: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kairos-cluster"))
        .args(["worker", "--redis", url, "--queue", "soak", "--workers", "2", "--concurrency", "16"])
        .args(["--lease-ms", &LEASE_MS.to_string(), "--grace-secs", "10", "--json", "--node-id", id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the kairos-cluster binary")
}

fn stats_json(url: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kairos-cluster"))
        .args(["stats", "--redis", url, "--queue", "soak", "--json"])
        .output()
        .expect("run kairos-cluster stats");
    assert!(out.status.success(), "stats: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stats --json prints one JSON object")
}

#[test]
fn three_nodes_survive_kills_a_pause_and_a_redis_restart_without_losing_a_job() {
    let long = std::env::var_os("KAIROS_SOAK_LONG").is_some();
    let (n_record, n_fail, chaos) =
        if long { (100_000, 2_000, Duration::from_secs(90)) } else { (3_000, 200, Duration::from_secs(12)) };
    let mut redis = RedisServer::start_with(Persistence::AofAlways, &[]);
    let url = redis.url();
    let q = Client::connect(&url).unwrap().queue("soak").unwrap();
    let seed = fastrand::u64(..);
    eprintln!("soak seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    // Most jobs are due at random instants over the first two thirds of the chaos, so
    // jobs are running at every kill, at the pause and at the restart.
    let spread_ms = chaos.as_millis() as u64 * 2 / 3;
    let job = |rng: &mut fastrand::Rng, kind: &str, payload: String| {
        let mut j =
            Job::new(kind).priority(Priority::new(rng.u8(0..=63)).unwrap()).payload(payload.into_bytes());
        if rng.u8(0..10) < 8 {
            j = j.after(Duration::from_millis(rng.u64(1..spread_ms)));
        }
        j
    };
    // Retries for every job: a record job's HINCRBY fails while Redis restarts, and a job
    // without retries would be dead-lettered on that first failure.
    let retry = RetryPolicy::fixed(Duration::from_millis(20)).max_attempts(20);
    let jobs: Vec<Job> = (0..n_record)
        .map(|_| {
            let ms = rng.u64(0..40);
            job(&mut rng, "record", if ms == 0 { String::new() } else { ms.to_string() }).retry(retry.clone())
        })
        .collect();
    let fails: Vec<Job> = (0..n_fail)
        .map(|_| {
            let n = rng.u32(1..=3);
            job(&mut rng, "fail", n.to_string()).retry(retry.clone())
        })
        .collect();
    let mut record_ids: Vec<JobId> = Vec::new();
    for chunk in jobs.chunks(1_000) {
        record_ids.extend(q.enqueue_batch(chunk).unwrap().into_iter().map(|e| e.id));
    }
    q.enqueue_batch(&fails).unwrap();

    let mut nodes: Vec<(String, Child)> =
        (0..3).map(|i| (format!("n{i}"), worker(&url, &format!("n{i}")))).collect();
    let start = Instant::now();
    let (mut paused, mut restarted, mut kills, mut generation) = (false, false, 0u32, 0u32);
    while start.elapsed() < chaos {
        std::thread::sleep(Duration::from_millis(2_000));
        let i = fastrand::usize(0..nodes.len());
        nodes[i].1.kill().unwrap(); // SIGKILL
        nodes[i].1.wait().unwrap();
        generation += 1;
        let id = format!("n{i}-{generation}");
        nodes[i] = (id.clone(), worker(&url, &id));
        kills += 1;
        let t = start.elapsed();
        if !paused && t > chaos / 3 {
            // Longer than a lease: every lease held now runs out while Redis is paused.
            let _: () = redis::cmd("CLIENT")
                .arg("PAUSE")
                .arg(LEASE_MS * 3)
                .arg("ALL")
                .query(&mut redis.conn())
                .unwrap();
            paused = true;
        } else if !restarted && t > chaos * 2 / 3 {
            redis.restart(); // SIGKILL, then replay the AOF
            restarted = true;
        }
    }
    assert!(
        paused && restarted && kills >= 3,
        "chaos too short: paused {paused}, restarted {restarted}, kills {kills}"
    );

    let total = (n_record + n_fail) as u64;
    eventually("every job final", || {
        let c = q.counts().unwrap();
        c.ready + c.delayed + c.running == 0 && c.total_completed + c.total_dead == total
    });
    let c = q.counts().unwrap();
    let dead: Vec<String> = q
        .dead(20)
        .unwrap()
        .into_iter()
        .map(|s| format!("{} {} attempts {}: {}", s.id, s.kind, s.attempts, s.last_error.unwrap_or_default()))
        .collect();
    assert_eq!((c.total_completed, c.total_dead, c.dead), (total, 0, 0), "{c:?}; dead: {dead:#?}");
    let records: HashMap<u64, u64> = q.records().unwrap();
    let never: Vec<&JobId> = record_ids.iter().filter(|id| !records.contains_key(&id.0)).collect();
    assert!(never.is_empty(), "{} jobs never ran, e.g. {:?}", never.len(), &never[..never.len().min(10)]);
    assert_eq!(records.len(), n_record, "the record hash counts only our record jobs");
    let extra_runs: u64 = records.values().map(|&n| n - 1).sum();
    // A record job runs again only after its lease was lost (recovered) or after its
    // HINCRBY's reply was lost to the Redis kill (a retry).
    assert!(
        extra_runs <= c.total_recovered + c.total_retried,
        "{extra_runs} extra runs, but only {} recovered and {} retried",
        c.total_recovered,
        c.total_retried
    );
    let s = stats_json(&url);
    for (field, want) in
        [("ready", 0), ("delayed", 0), ("running", 0), ("completed", total), ("dead", 0), ("cancelled", 0)]
    {
        assert_eq!(s[field].as_u64(), Some(want), "stats --json {field}: {s}");
    }
    assert_eq!(s["recovered"].as_u64(), Some(c.total_recovered), "{s}");
    eprintln!(
        "soak: {n_record} record + {n_fail} fail jobs, {kills} node kills, 1 pause, 1 Redis restart: \
         {} recovered, {} retried, {} stale acks, {extra_runs} extra runs",
        c.total_recovered, c.total_retried, c.total_stale_acks
    );
    for (_, mut child) in nodes {
        let _ = child.kill();
        let _ = child.wait();
    }
}
