//! An IoT gateway on kairos: devices, priorities, deadlines, retries, metrics, and a
//! shutdown that accounts for every task.
//!
//! ```sh
//! cargo run --release -p kairos-rt --example iot
//! ```
//!
//! For about a second, 40 simulated devices each send a reading every 20 ms. The gateway
//! runs, by priority:
//!
//! | work                          | priority  | policy |
//! |-------------------------------|-----------|--------|
//! | alarms (a reading over 90)    | `HIGHEST` | handled first, whatever else waits |
//! | firmware checks (CPU-heavy)   | `HIGH`    | a burst of them, to load the workers |
//! | telemetry processing          | `NORMAL`  | a 15 ms deadline: a stale reading is dropped unrun (*expired*) |
//! | batch upload to the "cloud"   | `LOW`     | async, retried with exponential backoff (the cloud fails one call in three) |
//!
//! At the end it prints how long alarms waited, what expired, what was retried, the
//! metrics, and the shutdown report, which balances: every task submitted ended as
//! completed, expired, cancelled or dropped, and the report says which.

use kairos_rt::{Handle, Jitter, Priority, RetryPolicy, Runtime, Schedule, Task};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DEVICES: u32 = 40;

/// What the gateway counts.
#[derive(Default)]
struct Stats {
    alarms: AtomicU64,
    worst_alarm_wait_us: AtomicU64,
    processed: AtomicU64,
    uploaded: AtomicU64,
    cloud_calls: AtomicU32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = Runtime::builder().workers(2).thread_name("gateway").build()?;
    let stats = Arc::new(Stats::default());
    let batch: Arc<Mutex<Vec<f32>>> = Arc::default();

    // Devices: one recurring job each, every 20 ms, reading a sensor.
    let mut devices = Vec::new();
    for device in 0..DEVICES {
        let (handle, stats, batch) = (rt.handle(), stats.clone(), batch.clone());
        let tick = AtomicU32::new(0);
        let every = Schedule::every(Duration::from_millis(20))?;
        devices.push(rt.spawn_recurring(every, Priority::HIGH, move || {
            let reading = sensor(device, tick.fetch_add(1, Relaxed));
            on_reading(&handle, &stats, &batch, device, reading);
        })?);
    }

    // Uploads: every 100 ms, the readings gathered so far go to the cloud, retried.
    let (handle, s, b) = (rt.handle(), stats.clone(), batch.clone());
    let uploads: Arc<Mutex<Vec<_>>> = Arc::default();
    let u = uploads.clone();
    let uploader =
        rt.spawn_recurring(Schedule::every(Duration::from_millis(100))?, Priority::LOW, move || {
            let readings = Arc::new(std::mem::take(&mut *b.lock().unwrap()));
            if readings.is_empty() {
                return;
            }
            let s = s.clone();
            let upload =
                Task::from_async(move || upload(readings.clone(), s.clone())).priority(Priority::LOW).retry(
                    RetryPolicy::exponential(Duration::from_millis(5), Duration::from_millis(50))
                        .max_attempts(5)
                        .jitter(Jitter::Full),
                );
            if let Ok(h) = handle.spawn_with(upload) {
                u.lock().unwrap().push(h);
            }
        })?;

    // Half-way, a burst of firmware checks keeps both workers busy for a while.
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..60 {
        drop(rt.spawn(Priority::HIGH, || busy(Duration::from_millis(3))));
    }
    std::thread::sleep(Duration::from_millis(500));

    // Stop the devices and the uploader, then wait for the uploads already started.
    for device in &devices {
        device.cancel();
    }
    uploader.cancel();
    let mut retried_uploads = 0;
    for h in std::mem::take(&mut *uploads.lock().unwrap()) {
        let outcome = h.join()?;
        retried_uploads += u32::from(outcome.attempts > 1);
        if let Err(e) = outcome.result {
            println!("an upload gave up after {} attempts: {e}", outcome.attempts);
        }
    }

    let runs: u64 = devices.iter().map(|d| d.runs()).sum();
    let late: u64 = devices.iter().map(|d| d.missed() + d.skipped()).sum();
    println!("device readings: {runs} ({late} ticks missed or skipped: they came while the workers, or the machine, were busy)");
    let m = rt.metrics();
    println!("readings processed: {}", stats.processed.load(Relaxed));
    println!("stale readings dropped (expired): {}", m.expired);
    println!(
        "alarms: {} handled, the longest waited {} us",
        stats.alarms.load(Relaxed),
        stats.worst_alarm_wait_us.load(Relaxed)
    );
    println!(
        "uploads: {} readings in {} cloud calls; {retried_uploads} uploads needed a retry ({} retries)",
        stats.uploaded.load(Relaxed),
        stats.cloud_calls.load(Relaxed),
        m.retried
    );
    println!("readings gathered after the last upload: {}", batch.lock().unwrap().len());

    let report = rt.shutdown();
    println!("shutdown: {report}");
    assert!(report.is_balanced(), "{report:?}");
    Ok(())
}

/// A reading arrives: an alarm at once if it is over 90, else telemetry that is only
/// worth processing within 15 ms.
fn on_reading(handle: &Handle, stats: &Arc<Stats>, batch: &Arc<Mutex<Vec<f32>>>, device: u32, reading: f32) {
    let arrived = Instant::now();
    if reading > 90.0 {
        let stats = stats.clone();
        drop(handle.spawn(Priority::HIGHEST, move || {
            let waited = arrived.elapsed().as_micros() as u64;
            stats.worst_alarm_wait_us.fetch_max(waited, Relaxed);
            stats.alarms.fetch_add(1, Relaxed);
            // Here: page someone, close a valve...
            let _ = device;
        }));
    }
    let (stats, batch) = (stats.clone(), batch.clone());
    let telemetry = Task::new(move || {
        busy(Duration::from_micros(50)); // decode, filter, aggregate
        batch.lock().unwrap().push(reading);
        stats.processed.fetch_add(1, Relaxed);
    })
    .priority(Priority::NORMAL)
    .deadline(arrived + Duration::from_millis(15));
    drop(handle.spawn_with(telemetry));
}

/// The cloud's ingest call: 2 ms of "network", and every third call fails.
async fn upload(readings: Arc<Vec<f32>>, stats: Arc<Stats>) -> Result<usize, String> {
    kairos_rt::sleep(Duration::from_millis(2)).await;
    if stats.cloud_calls.fetch_add(1, Relaxed) % 3 == 0 {
        return Err("cloud answered 503".to_string());
    }
    stats.uploaded.fetch_add(readings.len() as u64, Relaxed);
    Ok(readings.len())
}

/// A deterministic fake sensor: mostly 20..80, now and then over 90.
fn sensor(device: u32, tick: u32) -> f32 {
    let x = device.wrapping_mul(2_654_435_761) ^ tick.wrapping_mul(40_503);
    if x % 97 == 0 {
        95.0
    } else {
        20.0 + (x % 60) as f32
    }
}

/// Stands for CPU work.
fn busy(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
