//! The `faults` case: what a crash costs.
//!
//! - **Node SIGKILL**: 3 nodes (lease 1 s) on `record` jobs (100,000; 20,000 in quick
//!   mode). Once 30% are done, the jobs the victim holds are read from Redis (the active
//!   set and each job's node field), the victim is SIGKILLed and a new node process is
//!   started in its place. Figures: jobs lost (never recorded: must be 0), jobs run more
//!   than once (the record hash counts runs), and the time from the kill until every job
//!   the victim held had completed on another node (bar: lease + 1 s).
//! - **Redis SIGKILL**: a producer thread enqueues one job per round trip and keeps the id
//!   of every enqueue Redis acknowledged; Redis is SIGKILLed mid-stream and restarted on
//!   its AOF. Lost = acknowledged ids whose job hash is gone. With `appendfsync always`
//!   this must be 0; with `everysec` the loss window is lost / enqueue rate. (Killing the
//!   Redis *process* leaves its last `write(2)`s in the page cache, so `everysec` loses
//!   nothing here either; its window of up to ~1 s is for a crash of the host.)

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kairos_cluster::{Client, Job, JobId, Queue};

use super::load::wait_completed;
use super::procs::{Aof, RedisProc, Worker};
use crate::scenarios::{Better, CaseResult, Ctx, Skip};

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Skip {
    move |e| Skip::Failed(format!("{what}: {e}"))
}

/// Runs the case.
pub fn run(ctx: &Ctx, bin: &std::path::Path) -> Result<CaseResult, Skip> {
    let mut r = CaseResult::default();
    node_kill(ctx, bin, &mut r)?;
    for (aof, label) in [(Aof::Always, "always"), (Aof::EverySec, "everysec")] {
        redis_kill(aof, label, &mut r)?;
    }
    Ok(r)
}

fn node_kill(ctx: &Ctx, bin: &std::path::Path, r: &mut CaseResult) -> Result<(), Skip> {
    let n = ctx.mode.pick(100_000u64, 20_000);
    let lease_ms = 1_000;
    let redis = RedisProc::start(Aof::Off).map_err(Skip::Failed)?;
    let url = redis.url();
    let q: Queue = Client::connect(&url).and_then(|c| c.queue("faults")).map_err(err("connect"))?;
    let mut ids: Vec<JobId> = Vec::with_capacity(n as usize);
    let batch: Vec<Job> = (0..1_000).map(|_| Job::new("record")).collect();
    for _ in 0..n / 1_000 {
        ids.extend(q.enqueue_batch(&batch).map_err(err("enqueue"))?.into_iter().map(|e| e.id));
    }
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| Worker::start(bin, &url, "faults", &format!("node-{i}"), lease_ms))
        .collect::<Result<_, _>>()
        .map_err(Skip::Failed)?;
    wait_completed(&q, n * 3 / 10, Duration::from_secs(120))?;
    let mut conn = redis.conn().map_err(Skip::Failed)?;
    let victim = workers.remove(0);
    let prefix = q.name().prefix();
    let active: Vec<u64> = redis::cmd("ZRANGE")
        .arg(format!("{prefix}active"))
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .map_err(err("ZRANGE"))?;
    let mut pipe = redis::pipe();
    for id in &active {
        pipe.cmd("HGET").arg(format!("{prefix}j:{id}")).arg("n");
    }
    let owners: Vec<Option<String>> = pipe.query(&mut conn).map_err(err("HGET"))?;
    let held: Vec<u64> = active
        .iter()
        .zip(owners)
        .filter(|(_, o)| o.as_deref() == Some(&victim.id))
        .map(|(id, _)| *id)
        .collect();
    victim.kill();
    let killed = Instant::now();
    workers.push(Worker::start(bin, &url, "faults", "node-0-restarted", lease_ms).map_err(Skip::Failed)?);
    // Until every job the victim held has completed elsewhere (a finished record may
    // already be trimmed by retention: gone means finished).
    let mut pending: HashSet<u64> = held.iter().copied().collect();
    while !pending.is_empty() && killed.elapsed() < Duration::from_secs(60) {
        let mut pipe = redis::pipe();
        let list: Vec<u64> = pending.iter().copied().collect();
        for id in &list {
            pipe.cmd("HGET").arg(format!("{prefix}j:{id}")).arg("st");
        }
        let states: Vec<Option<String>> = pipe.query(&mut conn).map_err(err("HGET st"))?;
        for (id, st) in list.iter().zip(states) {
            if st.as_deref().is_none_or(|s| s == "completed") {
                pending.remove(id);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let recovered_in = killed.elapsed();
    wait_completed(&q, n, Duration::from_secs(180))?;
    let records = q.records().map_err(err("records"))?;
    let lost = ids.iter().filter(|id| !records.contains_key(&id.0)).count();
    let twice = records.values().filter(|&&c| c > 1).count();
    let c = q.counts().map_err(err("counts"))?;
    r.metric(
        "kill_jobs",
        "node SIGKILL: record jobs, 3 nodes (lease 1 s)",
        "jobs",
        n as f64,
        Better::Neither,
    );
    r.metric(
        "kill_held",
        "node SIGKILL: jobs the killed node held",
        "jobs",
        held.len() as f64,
        Better::Neither,
    );
    r.metric("kill_lost", "node SIGKILL: jobs lost (must be 0)", "jobs", lost as f64, Better::Lower);
    r.metric("kill_twice", "node SIGKILL: jobs run more than once", "jobs", twice as f64, Better::Lower);
    r.metric(
        "kill_recovery_ms",
        "node SIGKILL: kill until all its jobs completed elsewhere",
        "ms",
        recovered_in.as_secs_f64() * 1e3,
        Better::Lower,
    );
    if !pending.is_empty() {
        r.note(format!("{} of the killed node's jobs had not completed 60 s after the kill", pending.len()));
    }
    r.note(format!(
        "node kill: {} recovered from expired leases, {} stale acks refused; non-final left: ready {} delayed {} running {}",
        c.total_recovered, c.total_stale_acks, c.ready, c.delayed, c.running
    ));
    for w in workers {
        let _ = w.stop();
    }
    Ok(())
}

fn redis_kill(aof: Aof, label: &str, r: &mut CaseResult) -> Result<(), Skip> {
    let mut redis = RedisProc::start(aof).map_err(Skip::Failed)?;
    let url = redis.url();
    let q: Queue = Client::connect(&url).and_then(|c| c.queue("durable")).map_err(err("connect"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (q, stop) = (q.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            let t0 = Instant::now();
            while !stop.load(SeqCst) {
                match q.enqueue(Job::new("noop")) {
                    Ok(id) => acked.push(id.0),
                    Err(_) => break,
                }
            }
            (acked, t0.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    redis.kill();
    stop.store(true, SeqCst);
    let (acked, elapsed) = producer.join().map_err(|_| Skip::Failed("producer panicked".into()))?;
    redis.restart().map_err(Skip::Failed)?;
    let mut conn = redis.conn().map_err(Skip::Failed)?;
    let prefix = q.name().prefix();
    let mut lost = 0u64;
    for chunk in acked.chunks(1_000) {
        let mut pipe = redis::pipe();
        for id in chunk {
            pipe.cmd("EXISTS").arg(format!("{prefix}j:{id}"));
        }
        let exists: Vec<u8> = pipe.query(&mut conn).map_err(err("EXISTS"))?;
        lost += exists.iter().filter(|&&e| e == 0).count() as u64;
    }
    let rate = acked.len() as f64 / elapsed.as_secs_f64();
    r.metric(
        &format!("redis_kill_{label}_acked"),
        &format!("Redis SIGKILL, appendfsync {label}: enqueues acknowledged before the kill"),
        "jobs",
        acked.len() as f64,
        Better::Neither,
    );
    r.metric(
        &format!("redis_kill_{label}_lost"),
        &format!("Redis SIGKILL, appendfsync {label}: acknowledged enqueues lost"),
        "jobs",
        lost as f64,
        Better::Lower,
    );
    r.metric(
        &format!("redis_kill_{label}_window_ms"),
        &format!("Redis SIGKILL, appendfsync {label}: loss window (lost / enqueue rate)"),
        "ms",
        lost as f64 / rate * 1e3,
        Better::Lower,
    );
    r.metric(
        &format!("redis_{label}_enqueue_per_s"),
        &format!("enqueue rate, one per round trip, appendfsync {label}"),
        "jobs/s",
        rate,
        Better::Higher,
    );
    Ok(())
}
