//! `kairos-cluster produce`: the reference producer (periodic or gaussian arrivals, or a
//! fixed rate, or as fast as Redis takes them), with a progress bar and the enqueue
//! round-trip latency.

use crate::args::ProduceArgs;
use kairos_cluster::{Client, Job};
use kairos_rt::Priority;
use std::time::{Duration, Instant};

pub fn run(a: ProduceArgs) -> Result<(), Box<dyn std::error::Error>> {
    if *a.priority.end() > 63 {
        return Err(format!(
            "--priority {}..{}: levels go from 0 to 63",
            a.priority.start(),
            a.priority.end()
        )
        .into());
    }
    if a.count == 0 {
        return Err("--count must be at least 1".into());
    }
    if a.batch == 0 {
        return Err("--batch must be at least 1".into());
    }
    for (name, v) in [("--rate", a.rate), ("--period", a.period), ("--sigma", a.sigma)] {
        if let Some(v) = v {
            if !(v.is_finite() && v >= 0.0) || (name != "--sigma" && v == 0.0) {
                return Err(format!("{name} {v}: must be a positive number").into());
            }
        }
    }
    // The gap between jobs: at most a day (so the schedule stays within what a clock holds).
    let longest = MAX_GAP.as_secs_f64();
    if let Some(r) = a.rate.filter(|&r| 1.0 / r > longest) {
        return Err(format!("--rate {r}: at least one job a day (1/{longest})").into());
    }
    for (name, v) in [("--period", a.period), ("--sigma", a.sigma)] {
        if let Some(v) = v.filter(|&v| v > longest) {
            return Err(format!("{name} {v}: at most {longest} s (a day)").into());
        }
    }
    let queue = Client::connect(&a.target.redis)?.queue(&a.target.queue)?;
    let gap = |_: u64| -> Duration {
        let secs = match (a.rate, a.period, a.gauss) {
            (Some(r), _, _) => 1.0 / r,
            (None, Some(p), true) => (p + a.sigma.unwrap_or(p / 4.0) * standard_normal()).max(0.0),
            (None, Some(p), false) => p,
            (None, None, _) => 0.0,
        };
        // Within a day by the checks above, but for a gaussian tail beyond it.
        Duration::try_from_secs_f64(secs).unwrap_or(MAX_GAP).min(MAX_GAP)
    };
    let bar = if a.json {
        indicatif::ProgressBar::hidden()
    } else {
        let bar = indicatif::ProgressBar::new(a.count);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} jobs, {per_sec}, eta {eta}")
                .expect("a valid template"),
        );
        bar
    };
    // One sample per round trip, grown as they come (a huge --count must not reserve
    // memory up front).
    let mut latencies_us: Vec<u64> = Vec::with_capacity((a.count / a.batch as u64).min(1 << 16) as usize + 1);
    let start = Instant::now();
    let mut next = start;
    let mut sent = 0u64;
    while sent < a.count {
        let n = (a.count - sent).min(a.batch as u64);
        let jobs: Vec<Job> = (0..n)
            .map(|_| {
                let p = Priority::new(fastrand::u8(a.priority.clone())).expect("checked above");
                let mut job = Job::new(a.kind.clone()).priority(p).payload(a.payload.clone().into_bytes());
                let d = fastrand::u64(a.delay_ms.clone());
                if d > 0 {
                    job = job.after(Duration::from_millis(d));
                }
                job
            })
            .collect();
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let t = Instant::now();
        queue.enqueue_batch(&jobs)?;
        latencies_us.push(t.elapsed().as_micros() as u64);
        sent += n;
        bar.inc(n);
        for i in 0..n {
            next += gap(sent.saturating_add(i));
        }
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    let pct = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q).round() as usize];
    let summary = serde_json::json!({
        "enqueued": sent,
        "seconds": elapsed,
        "jobs_per_sec": sent as f64 / elapsed.max(1e-9),
        "round_trips": latencies_us.len(),
        "rtt_p50_us": pct(0.50),
        "rtt_p95_us": pct(0.95),
        "rtt_p99_us": pct(0.99),
    });
    if a.json {
        println!("{summary}");
    } else {
        println!(
            "enqueued {sent} jobs in {elapsed:.2} s ({:.0} jobs/s); round trip p50 {} us, p95 {} us, p99 {} us",
            sent as f64 / elapsed.max(1e-9),
            pct(0.50),
            pct(0.95),
            pct(0.99)
        );
    }
    Ok(())
}

/// The longest gap between two jobs a producer accepts.
const MAX_GAP: Duration = Duration::from_secs(86_400);

/// A standard normal sample (Box-Muller).
fn standard_normal() -> f64 {
    let u1 = fastrand::f64().max(f64::MIN_POSITIVE);
    let u2 = fastrand::f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
