//! `iot`: simulated IoT devices feeding the runtime (the asyncio + heapq IoT scheduler's
//! table: 10,000 tasks in ~1.8 s, ~5,555 tasks/s, ~125 MB peak for 5,000 tasks, 15-30 ms
//! average latency, 8-12% CPU).
//!
//! The message stream is generated up front, seeded, the same for every peer: D devices
//! (1,000) each send at R messages/s (5/s, so 5,000 messages/s in all) from a random phase,
//! with gaussian jitter (sigma = 20% of the interval) on every arrival. Each message has a
//! priority from a fixed mix (5% alert `HIGHEST`, 15% control `HIGH`, 60% telemetry
//! `NORMAL`, 20% logs `LOW`), and 10% of them are delayed by 10-100 ms (a retry or a
//! scheduled command): those are submitted as timed tasks. A message's body does a little
//! work (a 64-round hash of device and sequence number, ~100 ns) and records its latency:
//! start minus arrival, or minus due time for delayed ones.
//!
//! Case `1000 devices` (the device count), two phases in one process:
//! 1. **burst**: 10,000 immediate messages submitted back to back: scheduling time and
//!    tasks/s from the first submission until all ran;
//! 2. **paced**: the devices run in real time for the window (2 s; 0.5 s quick); a gateway
//!    thread (the main thread) submits each message at its arrival time. Figures: average
//!    and p99 latency, and the CPU the runtime used (process CPU minus the gateway's own),
//!    as % of one core.
//!
//! Case `memory`: 5,000 messages delayed by 10 s kept pending: the RSS and heap bytes they
//! add (the "peak memory for 5,000 tasks" figure; this case runs with the counting
//! allocator) and the process's peak RSS.
//!
//! Needs timed tasks and cancellation: "not supported" for rayon-core.

use std::time::{Duration, Instant};

use super::{require, wait_done, wait_quiet, warm_up, Better, CaseResult, Ctx, Skip};
use crate::alloc::{counting, heap_stats};
use crate::measure::{cpu_time, peak_rss_bytes, rss_bytes, thread_cpu_time, Completion, Samples};
use crate::peers::{Feature, Peer, Prio};

/// One simulated message.
#[derive(Clone, Copy, Debug)]
struct Message {
    /// Arrival, from the start of the paced phase.
    at: Duration,
    device: u32,
    seq: u32,
    prio: Prio,
    /// Extra delay before it may run (delayed messages).
    delay: Option<Duration>,
}

/// The work a message does: a 64-round hash (~100 ns).
#[inline(never)]
fn process(device: u32, seq: u32) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ ((device as u64) << 32 | seq as u64);
    for _ in 0..64 {
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    }
    std::hint::black_box(h)
}

fn gauss(rng: &mut fastrand::Rng) -> f64 {
    // Box-Muller.
    let u1 = rng.f64().max(1e-12);
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn pick_prio(rng: &mut fastrand::Rng) -> Prio {
    match rng.u32(0..100) {
        0..=4 => Prio::HIGHEST,
        5..=19 => Prio::HIGH,
        20..=79 => Prio::NORMAL,
        _ => Prio::LOW,
    }
}

/// The paced stream: `devices` devices at `rate` msg/s each for `window`, sorted by arrival.
fn stream(devices: u32, rate: f64, window: Duration, seed: u64) -> Vec<Message> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let interval = 1.0 / rate;
    let mut out = Vec::new();
    for device in 0..devices {
        let phase = rng.f64() * interval;
        let mut seq = 0u32;
        loop {
            let t = phase + seq as f64 * interval + gauss(&mut rng) * 0.2 * interval;
            if phase + seq as f64 * interval >= window.as_secs_f64() {
                break;
            }
            let delay = (rng.u32(0..100) < 10).then(|| Duration::from_micros(rng.u64(10_000..=100_000)));
            out.push(Message {
                at: Duration::from_secs_f64(t.max(0.0)),
                device,
                seq,
                prio: pick_prio(&mut rng),
                delay,
            });
            seq += 1;
        }
    }
    out.sort_by_key(|m| m.at);
    out
}

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    require::<P>(&[Feature::Timers, Feature::Cancel])?;
    if ctx.case == "memory" {
        return memory::<P>(ctx);
    }
    let devices = ctx.case_count(1_000) as u32;
    let rate = 5.0;
    let window = Duration::from_secs_f64(ctx.mode.pick(2.0, 0.5));
    let burst_n = 10_000u32;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;
    let mut r = CaseResult::default();
    let mut rng = fastrand::Rng::with_seed(0x107);

    // 1. Burst of 10,000 immediate messages.
    let done = Completion::leak();
    let prios: Vec<Prio> = (0..burst_n).map(|_| pick_prio(&mut rng)).collect();
    let t0 = Instant::now();
    for (seq, &p) in prios.iter().enumerate() {
        let (device, seq) = (seq as u32 % devices.max(1), seq as u32);
        peer.spawn(p, move || {
            process(device, seq);
            done.hit();
        });
    }
    let sched = t0.elapsed();
    let end = wait_done(done, burst_n as u64, Duration::from_secs(60), "iot burst")?;
    r.metric(
        "burst_sched_ms",
        "scheduling time, 10,000 messages",
        "ms",
        sched.as_secs_f64() * 1e3,
        Better::Lower,
    );
    r.metric(
        "burst_tasks_per_s",
        "tasks/s, 10,000 messages until all ran",
        "tasks/s",
        burst_n as f64 / (end - t0).as_secs_f64(),
        Better::Higher,
    );

    // 2. Paced devices.
    let msgs = stream(devices, rate, window, 0x0010_7107);
    let n = msgs.len();
    let samples = Samples::leak(n);
    let done = Completion::leak();
    let cpu0 = cpu_time();
    let gw0 = thread_cpu_time();
    let start = Instant::now() + Duration::from_millis(5);
    for (i, m) in msgs.iter().copied().enumerate() {
        let arrival = start + m.at;
        let now = Instant::now();
        if arrival > now {
            std::thread::sleep(arrival - now);
        }
        let Message { device, seq, prio, .. } = m;
        match m.delay {
            Some(d) => {
                let due = arrival + d;
                drop(peer.spawn_at(due, prio, move || {
                    samples.record_since(i, due);
                    process(device, seq);
                    done.hit();
                }));
            }
            None => peer.spawn(prio, move || {
                samples.record_since(i, arrival);
                process(device, seq);
                done.hit();
            }),
        }
    }
    let end = wait_done(done, n as u64, Duration::from_secs(60), "iot paced")?;
    let wall = end - start;
    let runtime_cpu = (cpu_time() - cpu0).saturating_sub(thread_cpu_time() - gw0);
    let h = samples.histogram();
    r.metric("paced_tasks", "messages in the paced phase", "tasks", n as f64, Better::Neither);
    r.metric(
        "avg_latency_us",
        "average latency (arrival or due to start)",
        "us",
        h.mean() / 1000.0,
        Better::Lower,
    );
    r.latency("latency", "message latency", &h, &[0.5, 0.99, 1.0]);
    r.metric(
        "runtime_cpu_pct",
        "runtime CPU, % of one core",
        "%",
        100.0 * runtime_cpu.as_secs_f64() / wall.as_secs_f64(),
        Better::Lower,
    );
    r.metric("peak_rss_mb", "process peak RSS (VmHWM)", "MB", peak_rss_bytes() as f64 / 1e6, Better::Lower);
    r.note(peer.shutdown());
    Ok(r)
}

/// Case `memory`: 5,000 messages delayed by 10 s kept pending; RSS and heap bytes they
/// add (this case runs with the counting allocator), and the process's peak RSS.
fn memory<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let devices = 1_000u32;
    let mem_n = 5_000usize;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;
    let mut r = CaseResult::default();
    let mut rng = fastrand::Rng::with_seed(0x107);
    let mut handles: Vec<Option<P::Handle>> = Vec::with_capacity(mem_n);
    handles.resize_with(mem_n, || None);
    wait_quiet(Duration::from_secs(10));
    let rss0 = rss_bytes();
    let heap0 = heap_stats();
    let later = Instant::now() + Duration::from_secs(10);
    for (i, h) in handles.iter_mut().enumerate() {
        let (device, seq) = (i as u32 % devices, i as u32);
        *h = Some(peer.spawn_at(later, pick_prio(&mut rng), move || {
            process(device, seq);
        }));
    }
    wait_quiet(Duration::from_secs(10));
    let rss1 = rss_bytes();
    let heap1 = heap_stats();
    for h in handles.iter().flatten() {
        P::cancel(h);
    }
    drop(handles);
    r.metric(
        "mem_5000_kb",
        "RSS added by 5,000 pending messages",
        "KiB",
        rss1.saturating_sub(rss0) as f64 / 1024.0,
        Better::Lower,
    );
    if counting() {
        r.metric(
            "heap_5000_kb",
            "heap added by 5,000 pending messages",
            "KiB",
            (heap1.live_bytes - heap0.live_bytes) as f64 / 1024.0,
            Better::Lower,
        );
    }
    r.metric("peak_rss_mb", "process peak RSS (VmHWM)", "MB", peak_rss_bytes() as f64 / 1e6, Better::Lower);
    r.note(peer.shutdown());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_is_sorted_seeded_and_mixed() {
        let a = stream(100, 5.0, Duration::from_secs(1), 7);
        let b = stream(100, 5.0, Duration::from_secs(1), 7);
        assert_eq!(a.len(), b.len());
        assert!((450..=550).contains(&a.len()), "about 500 messages: {}", a.len());
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        let delayed = a.iter().filter(|m| m.delay.is_some()).count();
        assert!(delayed > 0 && delayed < a.len() / 4);
        assert!(a.iter().any(|m| m.prio == Prio::HIGHEST));
        assert!(a.iter().any(|m| m.prio == Prio::LOW));
    }
}
