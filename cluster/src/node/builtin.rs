//! The built-in job kinds the `kairos-cluster worker` tool runs (and any node may add
//! with [`NodeBuilder::builtin_kinds`](super::NodeBuilder::builtin_kinds)):
//!
//! | kind | payload | does |
//! | --- | --- | --- |
//! | `noop` | ignored | nothing |
//! | `sleep` | milliseconds, as text | waits that long on the runtime's timer (no thread held) |
//! | `fail` | N, as text | fails (retryably) while its attempt number is at most N |
//! | `record` | empty, or milliseconds as text | waits that long (if given), then adds 1 to field `<job id>` of hash `{queue}:record`, so a checker can count runs |
//! | `stamp` | a wall-clock instant, microseconds since the Unix epoch, as text | appends `start - instant` (signed microseconds, read from the node's `SystemTime` when the handler starts) to the list `{queue}:stamps`: with the instant set by the producer at submission (or to the due time), a benchmark reads enqueue-to-start latency (or lateness) of every job; producer and node must share a clock (same host) |
//! | `command` | JSON `{"program": "...", "args": [...], "timeout_ms": N}` | runs an allowed program (argv, never a shell) under `spawn_process`, with the node's process cap; fails if it exits non-zero or times out |
//!
//! `command` runs only programs named exactly as on the node's allow-list: anyone who can
//! write to the queue can ask, but only the node's owner decides what may run. The
//! arguments come from the payload, so allow only programs whose every argument list is
//! harmless: allowing `sh`, `bash`, `python`, `env`, `xargs`, `find`, `curl` or the like
//! lets any producer run anything. The program runs with an empty environment but for
//! `PATH`. `sleep`, `record` and `command` refuse to run longer than the node's
//! [`max_job_time`](super::NodeBuilder::max_job_time).

use super::{JobContext, JobError, NodeBuilder};
use crate::connection::{Client, Conn};
use kairos_rt::ProcessTask;
use serde::Deserialize;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The payload of a `command` job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandJob {
    program: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    60_000
}

pub(crate) fn register(builder: NodeBuilder, allowed: &[String]) -> NodeBuilder {
    let client = builder.queue().client().clone();
    let record_key = builder.queue().name().record_key();
    let stamp_key = builder.queue().name().stamp_key();
    let record_redis = PooledRedis { client, pool: Arc::new(Mutex::new(Vec::new())) };
    let stamp_redis = record_redis.clone();
    let allowed: Arc<Vec<String>> = Arc::new(allowed.to_vec());
    let max_output = builder.result_limit();
    let max_ms = builder.job_time_limit().as_millis().min(u64::MAX as u128) as u64;
    let too_long = move |what: &str, ms: u64| -> Result<(), JobError> {
        if ms > max_ms {
            return Err(JobError::fatal(format!("{what}: {ms} ms is over this node's limit of {max_ms} ms")));
        }
        Ok(())
    };
    builder
        .handler("noop", |_| Ok(Vec::new()))
        .handler_async("sleep", move |job: JobContext| async move {
            let ms: u64 = job
                .text()?
                .trim()
                .parse()
                .map_err(|_| JobError::fatal("sleep: payload must be milliseconds"))?;
            too_long("sleep", ms)?;
            kairos_rt::sleep(Duration::from_millis(ms)).await;
            Ok(Vec::new())
        })
        .handler("fail", |job| {
            let n: u32 =
                job.text()?.trim().parse().map_err(|_| JobError::fatal("fail: payload must be a count"))?;
            if job.attempt <= n {
                return Err(JobError::retry(format!(
                    "fail: attempt {} of the first {n} fails by design",
                    job.attempt
                )));
            }
            Ok(Vec::new())
        })
        .handler_async("record", move |job: JobContext| {
            let (redis, record_key) = (record_redis.clone(), record_key.clone());
            async move {
                let text = job.text()?.trim();
                if !text.is_empty() {
                    let ms: u64 = text
                        .parse()
                        .map_err(|_| JobError::fatal("record: payload must be empty or milliseconds"))?;
                    too_long("record", ms)?;
                    kairos_rt::sleep(Duration::from_millis(ms)).await;
                }
                redis.query("record", redis::cmd("HINCRBY").arg(&record_key).arg(job.id.0).arg(1))?;
                Ok(Vec::new())
            }
        })
        .handler("stamp", move |job| {
            let start_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
            let at_us: i64 =
                job.text()?.trim().parse().map_err(|_| {
                    JobError::fatal("stamp: payload must be microseconds since the Unix epoch")
                })?;
            let delay = start_us.checked_sub(at_us).ok_or_else(|| {
                JobError::fatal(format!("stamp: instant {at_us} us is out of range (the delay overflows)"))
            })?;
            stamp_redis.query("stamp", redis::cmd("RPUSH").arg(&stamp_key).arg(delay))?;
            Ok(Vec::new())
        })
        .handler_async("command", move |job: JobContext| {
            let allowed = allowed.clone();
            async move {
                let spec: CommandJob = serde_json::from_slice(&job.payload)
                    .map_err(|e| JobError::fatal(format!("command: bad payload: {e}")))?;
                if !allowed.iter().any(|a| a == &spec.program) {
                    return Err(JobError::fatal(format!(
                        "command: program {:?} is not on this node's allow-list",
                        spec.program
                    )));
                }
                if spec.timeout_ms == 0 {
                    return Err(JobError::fatal("command: timeout_ms must be at least 1"));
                }
                too_long("command", spec.timeout_ms)?;
                let mut cmd = Command::new(&spec.program);
                // The program gets its argv and PATH only: nothing of the node's
                // environment (which may hold the Redis URL and its password).
                cmd.args(&spec.args).env_clear();
                if let Some(path) = std::env::var_os("PATH") {
                    cmd.env("PATH", path);
                }
                let handle = kairos_rt::try_current().ok_or_else(|| JobError::retry("command: no runtime"))?;
                let task = ProcessTask::new(cmd, Duration::from_millis(spec.timeout_ms))
                    .priority(job.priority)
                    .max_output(max_output);
                let out = handle
                    .spawn_process_with(task)
                    .await
                    .map_err(|e| JobError::retry(format!("command: task failed: {e}")))?
                    .map_err(|e| JobError::retry(format!("command: {e}")))?;
                if out.timed_out {
                    return Err(JobError::retry(format!(
                        "command: {} timed out after {} ms ({:?})",
                        spec.program, spec.timeout_ms, out.end
                    )));
                }
                if !out.success() {
                    return Err(JobError::retry(format!(
                        "command: {} exited with {:?}: {}",
                        spec.program,
                        out.code(),
                        out.stderr_lossy().trim()
                    )));
                }
                if out.stdout_dropped > 0 {
                    // A partial result would pass for the whole one: say so instead.
                    return Err(JobError::fatal(format!(
                        "command: {} wrote {} bytes to stdout, over this node's max_result of {max_output} bytes",
                        spec.program,
                        out.stdout.len() as u64 + out.stdout_dropped
                    )));
                }
                Ok(out.stdout)
            }
        })
}

/// Connections for the built-in kinds' one-command round trips, reused across jobs.
#[derive(Clone)]
struct PooledRedis {
    client: Client,
    pool: Arc<Mutex<Vec<Conn>>>,
}

impl PooledRedis {
    /// Runs `cmd` on a pooled connection (one short blocking round trip on the worker); a
    /// Redis error is a retryable failure of the job, named after `kind`.
    fn query(&self, kind: &str, cmd: &redis::Cmd) -> Result<i64, JobError> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match taken {
            Some(c) => c,
            None => self.client.conn().map_err(|e| JobError::retry(format!("{kind}: {e}")))?,
        };
        match cmd.query::<i64>(&mut conn) {
            Ok(v) => {
                self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
                Ok(v)
            }
            Err(e) => Err(JobError::retry(format!("{kind}: {e}"))),
        }
    }
}
