//! Load the `cluster` scenario puts on a queue from inside the bench process: open-loop
//! `stamp` jobs (enqueue-to-start latency), delayed `stamp` jobs (lateness), a LOWEST
//! flood with HIGHEST probes, and reading the stamps back.
//!
//! Every `stamp` job carries an instant in microseconds since the Unix epoch; the node
//! appends `start - instant` to `{queue}:stamps` when the handler starts (see
//! `kairos_cluster`'s built-in kinds). Producer and nodes run on this host, so they read
//! the same clock. For open-loop jobs the instant is the **intended** send time (start +
//! i / rate), so a producer that falls behind shows up as latency instead of hiding it.

use std::time::{Duration, Instant, UNIX_EPOCH};

use hdrhistogram::Histogram;
use kairos_cluster::{Job, Queue};
use kairos_rt::Priority;

use super::procs::wall_us;
use crate::scenarios::Skip;

fn fail(what: &str) -> impl Fn(kairos_cluster::Error) -> Skip + '_ {
    move |e| Skip::Failed(format!("{what}: {e}"))
}

/// Sleeps (then spins for the last 200 us) until `t`.
fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now + Duration::from_micros(200) {
        std::thread::sleep(t - now - Duration::from_micros(200));
    }
    while Instant::now() < t {
        std::hint::spin_loop();
    }
}

/// Waits until the queue's completed total reaches `target` (or `timeout`).
pub fn wait_completed(q: &Queue, target: u64, timeout: Duration) -> Result<(), Skip> {
    let until = Instant::now() + timeout;
    loop {
        let c = q.counts().map_err(fail("counts"))?;
        if c.total_completed >= target {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(Skip::Failed(format!(
                "gave up after {timeout:?}: {} of {target} jobs completed ({c:?})",
                c.total_completed
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Enqueues `rate * secs` `stamp` jobs one at a time at `rate` per second (open loop).
/// Returns how many.
pub fn open_loop(q: &Queue, rate: f64, secs: f64, priority: Priority) -> Result<u64, Skip> {
    let n = (rate * secs).round() as u64;
    let (t0, w0) = (Instant::now(), wall_us());
    for i in 0..n {
        let offset = Duration::from_secs_f64(i as f64 / rate);
        sleep_until(t0 + offset);
        let intended = w0 + offset.as_micros() as i64;
        q.enqueue(Job::new("stamp").priority(priority).payload(intended.to_string().into_bytes()))
            .map_err(fail("open-loop enqueue"))?;
    }
    Ok(n)
}

/// Enqueues `n` delayed `stamp` jobs over about `spread`, each due at a random instant
/// `delay` later (`at`, whole milliseconds), its payload that due instant.
pub fn delayed(q: &Queue, n: u64, spread: Duration, delay_ms: std::ops::Range<u64>) -> Result<(), Skip> {
    let t0 = Instant::now();
    for i in 0..n {
        sleep_until(t0 + spread.mul_f64(i as f64 / n as f64));
        let due_ms = (wall_us() / 1000) as u64 + fastrand::u64(delay_ms.clone());
        let at = UNIX_EPOCH + Duration::from_millis(due_ms);
        let job = Job::new("stamp").at(at).payload((due_ms * 1000).to_string().into_bytes());
        q.enqueue(job).map_err(fail("delayed enqueue"))?;
    }
    Ok(())
}

/// Reads and clears the queue's stamps: a histogram of nanoseconds (negative delays,
/// impossible unless the clock stepped, count as 0).
pub fn take_stamps(conn: &mut redis::Connection, q: &Queue) -> Result<Histogram<u64>, Skip> {
    let key = q.name().stamp_key();
    let v: Vec<i64> = redis::cmd("LRANGE")
        .arg(&key)
        .arg(0)
        .arg(-1)
        .query(conn)
        .map_err(|e| Skip::Failed(format!("LRANGE {key}: {e}")))?;
    let _: i64 = redis::cmd("DEL").arg(&key).query(conn).map_err(|e| Skip::Failed(e.to_string()))?;
    let mut h = crate::measure::new_histogram();
    for us in v {
        h.saturating_record(us.max(0) as u64 * 1000);
    }
    Ok(h)
}
