//! The side-by-side peer: **apalis-redis** 1.x (the Rust job queue on Redis users would
//! pick instead), on the same `redis-server`, with the same no-op body, the same number
//! of processes (1 or 3), each a tokio runtime with 2 worker threads and `concurrency(32)`
//! (the kairos nodes' `--workers 2` and default claim limit). apalis has no priorities:
//! it runs FIFO.
//!
//! The binary is `apalis-peer` (`src/bin/apalis_peer.rs`, cargo feature `apalis`, so its
//! tokio/redis/tower dependencies stay out of every default build). In full mode the
//! scenario builds it on demand (`cargo build --release -p kairos-bench --features apalis
//! --bin apalis-peer`; the first build took ~7 min on a loaded 2-core VM, ~15 s after);
//! in quick mode it uses a binary already built, or notes how to build it.
//!
//! **How it is fed.** apalis-redis 1.0 stores every pushed job as *scheduled*, and its
//! fetch script promotes every due scheduled job with one Lua `unpack`: with more than
//! ~8,000 due at once the script fails ("too many results to unpack") and the worker
//! exits. So the workers start first and the jobs are pushed while they run, 1,000 per
//! call, the filler waiting while more than 4,000 are due (so the workers never starve
//! and the script never fails); the rate is taken between 10% and 90% of
//! `SCARD apalis-bench:done`, as for kairos. Not like for like, then: kairos's nodes drain
//! a queue filled before their window, while apalis shares its window's cores and Redis
//! with the filler (1,000 jobs per call, a `ZCARD` every 1 ms while more than 4,000 are
//! due), which lowers its rate and leans `kairos_vs_apalis` kairos's way by that share;
//! the report says so beside the ratio.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{built_binary, RedisProc};

/// The `apalis-peer` binary (see the module docs).
pub fn binary(build: bool) -> Result<PathBuf, String> {
    built_binary("KAIROS_APALIS_BIN", "apalis-peer", &["-p", "kairos-bench", "--features", "apalis"], build)
}

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Processing rate (jobs/s) of `n` apalis worker processes on `total` no-op jobs.
pub fn process_rate(bin: &std::path::Path, redis: &RedisProc, n: usize, total: u64) -> Result<f64, String> {
    let url = redis.url();
    let spawn = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))
    };
    let workers = Killed((0..n).map(|_| spawn(&["work", &url])).collect::<Result<_, _>>()?);
    std::thread::sleep(Duration::from_millis(500)); // let them register
    let mut filler = spawn(&["fill", &url, &total.to_string()])?;
    let mut conn = redis.conn()?;
    let done = |conn: &mut redis::Connection| -> Result<u64, String> {
        redis::cmd("SCARD").arg("apalis-bench:done").query(conn).map_err(|e| format!("SCARD: {e}"))
    };
    let (lo, hi) = (total / 10, total * 9 / 10);
    let mut t_lo = None;
    let until = Instant::now() + Duration::from_secs(120);
    let mut workers = workers;
    loop {
        let d = done(&mut conn)?;
        if t_lo.is_none() && d >= lo {
            t_lo = Some((Instant::now(), d));
        }
        if d >= hi {
            break;
        }
        for w in &mut workers.0 {
            if let Ok(Some(st)) = w.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = w.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(format!("an apalis worker exited ({st}) at {d} of {total} done: {}", err.trim()));
            }
        }
        if Instant::now() > until {
            return Err(format!("apalis: {d} of {total} done after 120 s"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = filler.wait();
    let (t0, d0) = t_lo.ok_or("apalis: no progress measured")?;
    let d1 = done(&mut conn)?;
    Ok((d1 - d0) as f64 / t0.elapsed().as_secs_f64())
}
