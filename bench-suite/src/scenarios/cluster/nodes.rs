//! The `1 node` and `3 nodes` cases: every figure of the cluster table for `n` node
//! processes (2 runtime workers each) on one Redis.
//!
//! Steps, on a fresh `redis-server` without persistence:
//! 1. the Redis ceiling (`redis-benchmark`, see [`super::ceiling`]), then `FLUSHALL`;
//! 2. enqueue: `n` `kairos-cluster produce` processes at once, first one job per round
//!    trip, then batches of 100, every job a `noop` with a 16-byte payload; the rate is
//!    the sum of each producer's own rate (`--json`);
//! 3. Redis memory per pending job: `INFO memory` `used_memory` after the fill minus
//!    before, over the jobs pending;
//! 4. processing: start the `n` nodes on the full queue; the rate is taken between 10% and
//!    90% completed (node start-up excluded), and so are the CPU figures (nodes and Redis
//!    from `/proc/<pid>/stat`, Redis's time inside the queue's scripts from
//!    `INFO commandstats`);
//! 5. enqueue-to-start latency at 1,000/s and 5,000/s offered (open loop, `stamp` jobs
//!    from this process, see [`super::load`]);
//! 6. lateness of delayed `stamp` jobs (due 100 ms - 1 s after their enqueue);
//! 7. a LOWEST flood of `noop` jobs, then HIGHEST `stamp` probes every 5 ms while it
//!    drains: how long an urgent job waits behind a backlog, on any node;
//! 8. SIGTERM to the nodes: their reports must balance;
//! 9. the peer, apalis-redis, on the same Redis after `FLUSHALL` (see [`super::apalis`]).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kairos_cluster::{Client, Job, Queue};
use kairos_rt::Priority;

use super::load::{delayed, open_loop, take_stamps, wait_completed};
use super::procs::{cpu_ticks, Aof, RedisProc, Worker};
use super::{ceiling, PAYLOAD_16};
use crate::scenarios::{Better, CaseResult, Ctx, Skip};

const QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 0.999];

fn failed(what: &str) -> impl Fn(String) -> Skip + '_ {
    move |e| Skip::Failed(format!("{what}: {e}"))
}

/// Runs `n` producer processes at once; the sum of their rates.
fn produce(
    bin: &std::path::Path,
    url: &str,
    queue: &str,
    n: usize,
    count: u64,
    batch: usize,
) -> Result<f64, Skip> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(bin)
                .args(["produce", "--redis", url, "--queue", queue, "--json", "--payload", PAYLOAD_16])
                .args(["--count", &count.to_string(), "--batch", &batch.to_string()])
                .stdin(Stdio::null())
                .stderr(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| Skip::Failed(format!("kairos-cluster produce: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let mut total = 0.0;
    for c in children {
        let out = c.wait_with_output().map_err(|e| Skip::Failed(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|_| {
            Skip::Failed(format!("produce printed no summary: {}", String::from_utf8_lossy(&out.stderr)))
        })?;
        total += v["jobs_per_sec"].as_f64().unwrap_or(0.0);
    }
    Ok(total)
}

/// Runs the case with `n` nodes.
pub fn run(ctx: &Ctx, bin: &std::path::Path, n: usize) -> Result<CaseResult, Skip> {
    let quick = ctx.mode == crate::scenarios::Mode::Quick;
    let pick = |full: u64, q: u64| if quick { q } else { full };
    let mut r = CaseResult::default();
    let redis = RedisProc::start(Aof::Off).map_err(Skip::Failed)?;
    let url = redis.url();
    let mut conn = redis.conn().map_err(Skip::Failed)?;

    let (plain, piped) =
        ceiling::measure(redis.port, pick(200_000, 20_000), 50).map_err(failed("ceiling"))?;
    let _: () = redis::cmd("FLUSHALL").query(&mut conn).map_err(|e| Skip::Failed(e.to_string()))?;
    r.metric(
        "redis_ops_per_s",
        "Redis ceiling: SET/INCR ops/s, unpipelined (redis-benchmark, 50 clients)",
        "ops/s",
        plain,
        Better::Neither,
    );
    r.metric(
        "redis_ops_pipelined_per_s",
        "Redis ceiling: SET/INCR ops/s, pipelined -P 16",
        "ops/s",
        piped,
        Better::Neither,
    );

    let name = "bench";
    let q: Queue =
        Client::connect(&url).and_then(|c| c.queue(name)).map_err(|e| Skip::Failed(e.to_string()))?;
    let mem0 = redis.info_field("memory", "used_memory").map_err(Skip::Failed)?;
    let (one, batched) = (pick(10_000, 2_000), pick(100_000, 15_000));
    let one_rate = produce(bin, &url, name, n, one, 1)?;
    let batch_rate = produce(bin, &url, name, n, batched, 100)?;
    let total = (one + batched) * n as u64;
    let mem1 = redis.info_field("memory", "used_memory").map_err(Skip::Failed)?;
    let who = if n == 1 { "producer" } else { "producers, summed" };
    r.metric(
        "enqueue_one_per_s",
        &format!("enqueue, one per round trip ({n} {who}), jobs/s"),
        "jobs/s",
        one_rate,
        Better::Higher,
    );
    r.metric(
        "enqueue_batch_per_s",
        &format!("enqueue, batches of 100 ({n} {who}), jobs/s"),
        "jobs/s",
        batch_rate,
        Better::Higher,
    );
    r.metric(
        "mem_per_job_b",
        "Redis memory per pending job (16-byte payload)",
        "B",
        (mem1 - mem0) / total as f64,
        Better::Lower,
    );

    // Processing from the full queue.
    let workers: Vec<Worker> = (0..n)
        .map(|i| Worker::start(bin, &url, name, &format!("node-{i}"), 30_000))
        .collect::<Result<_, _>>()
        .map_err(Skip::Failed)?;
    let cpu = |ws: &[Worker]| -> Duration { ws.iter().filter_map(|w| cpu_ticks(w.pid())).sum() };
    let redis_pid = redis.pid().ok_or_else(|| Skip::Failed("redis is not running".into()))?;
    let (lo, hi) = (total / 10, total * 9 / 10);
    wait_completed(&q, lo, Duration::from_secs(60))?;
    let (t0, c0, rc0) = (Instant::now(), cpu(&workers), cpu_ticks(redis_pid).unwrap_or_default());
    let s0 = redis.script_usec().map_err(Skip::Failed)?;
    wait_completed(&q, hi, Duration::from_secs(120))?;
    let (dt, c1, rc1) = (t0.elapsed(), cpu(&workers), cpu_ticks(redis_pid).unwrap_or_default());
    let s1 = redis.script_usec().map_err(Skip::Failed)?;
    let jobs = (hi - lo) as f64;
    let rate = jobs / dt.as_secs_f64();
    r.metric(
        "process_per_s",
        &format!("processing noop jobs from a full queue, {n} node(s) x 2 workers, jobs/s"),
        "jobs/s",
        rate,
        Better::Higher,
    );
    r.metric(
        "process_pct_of_redis",
        "processing rate as % of the unpipelined Redis ceiling",
        "%",
        100.0 * rate / plain,
        Better::Higher,
    );
    r.metric(
        "node_cpu_us_per_job",
        "node CPU per job (all node processes)",
        "us",
        (c1 - c0).as_secs_f64() * 1e6 / jobs,
        Better::Lower,
    );
    r.metric(
        "redis_cpu_us_per_job",
        "Redis CPU per job",
        "us",
        (rc1 - rc0).as_secs_f64() * 1e6 / jobs,
        Better::Lower,
    );
    r.metric(
        "redis_script_us_per_job",
        "Redis time in the queue's scripts per job (INFO commandstats)",
        "us",
        (s1.0 - s0.0) / jobs,
        Better::Lower,
    );
    r.metric(
        "script_calls_per_job",
        "script calls per job (claim, ack, extend, heartbeat, counts)",
        "calls",
        (s1.1 - s0.1) / jobs,
        Better::Lower,
    );
    wait_completed(&q, total, Duration::from_secs(120))?;

    // Latency at fixed offered rates.
    let mut done = total;
    for (rate, label) in [(1_000.0, "1k"), (5_000.0, "5k")] {
        let sent = open_loop(&q, rate, if quick { 1.0 } else { 5.0 }, Priority::NORMAL)?;
        done += sent;
        wait_completed(&q, done, Duration::from_secs(60))?;
        let h = take_stamps(&mut conn, &q)?;
        r.latency(&format!("e2e_{label}"), &format!("enqueue to start at {label}/s offered"), &h, &QUANTILES);
    }

    // Delayed jobs.
    let nd = pick(5_000, 500);
    delayed(&q, nd, Duration::from_millis(if quick { 500 } else { 5_000 }), 100..1_000)?;
    done += nd;
    wait_completed(&q, done, Duration::from_secs(60))?;
    let h = take_stamps(&mut conn, &q)?;
    r.latency("delayed_late", "lateness of delayed jobs (start - due)", &h, &[0.5, 0.99]);

    // HIGHEST probes behind a LOWEST flood.
    let flood = pick(200_000, 15_000);
    let batch: Vec<Job> = (0..500)
        .map(|_| Job::new("noop").priority(Priority::LOWEST).payload(PAYLOAD_16.as_bytes().to_vec()))
        .collect();
    for _ in 0..flood / 500 {
        q.enqueue_batch(&batch).map_err(|e| Skip::Failed(format!("flood: {e}")))?;
    }
    done += flood;
    let mut probes = 0u64;
    while probes < 1_000 && q.counts().map_err(|e| Skip::Failed(e.to_string()))?.ready > 0 {
        probes += open_loop(&q, 200.0, 0.05, Priority::HIGHEST)?;
    }
    done += probes;
    wait_completed(&q, done, Duration::from_secs(120))?;
    let h = take_stamps(&mut conn, &q)?;
    r.latency(
        "probe_wait",
        &format!("HIGHEST probe wait behind a LOWEST flood of {flood}"),
        &h,
        &[0.5, 0.99],
    );
    r.note(format!("{probes} HIGHEST probes sent while a flood of {flood} LOWEST noop jobs drained"));

    for w in workers {
        let id = w.id.clone();
        match w.stop() {
            Some(rep) => r.note(format!(
                "{id}: claimed {} completed {} refused {} unacked {}",
                rep["claimed"], rep["completed"], rep["refused"], rep["unacked"]
            )),
            None => r.note(format!("{id}: printed no report at SIGTERM")),
        }
    }

    // The peer: apalis-redis on the same Redis, emptied first.
    let _: () = redis::cmd("FLUSHALL").query(&mut conn).map_err(|e| Skip::Failed(e.to_string()))?;
    match super::apalis::binary(!quick)
        .and_then(|b| super::apalis::process_rate(&b, &redis, n, pick(100_000, 8_000)))
    {
        Ok(peer) => {
            r.metric(
                "apalis_process_per_s",
                &format!("apalis-redis (FIFO, no priorities): processing noop jobs, {n} process(es) x 2 threads, jobs/s"),
                "jobs/s",
                peer,
                Better::Higher,
            );
            r.metric(
                "kairos_vs_apalis",
                "kairos-cluster processing rate / apalis-redis's (apalis fed while it runs: see note)",
                "x",
                rate / peer,
                Better::Higher,
            );
            r.note(
                "apalis-redis cannot be given its jobs up front (its fetch script fails with more than \
                 ~8,000 due at once), so a filler process pushes them during its window, on the same \
                 cores and Redis; kairos's nodes drain a queue filled before theirs. The filler's CPU \
                 and Redis calls count against apalis: the ratio is not like for like, and leans \
                 kairos's way by their share.",
            );
        }
        Err(e) => r.note(format!("apalis-redis not measured: {e}")),
    }
    Ok(r)
}
