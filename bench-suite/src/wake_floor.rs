//! The machine's wake-up floor: how long one OS thread takes to wake another.
//!
//! A runtime whose workers sleep when there is no work (every peer here) cannot start a
//! task submitted in a quiet spell sooner than the OS can wake a sleeping thread. The
//! open-loop latency figures sit on top of that floor, so the report prints it beside
//! them: a bar below the floor can only be met by workers that spin instead of sleeping.
//!
//! How: one thread sleeps in [`std::thread::park`]; the measuring thread, every ~100 us
//! (a `thread::sleep`, so the sleeper is surely parked), stamps the time and calls
//! [`Thread::unpark`](std::thread::Thread::unpark). The sleeper records `woken - stamp`
//! (the **wake-up**); the measuring thread records how long `unpark` itself took (the
//! **waker's cost**, paid by whoever wakes a worker). Both are futex operations on Linux,
//! the same ones under `Condvar`, tokio's and rayon-core's sleepers and kairos' parker.
//! A wake-up that returns without a new stamp (spurious) is not counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// What [`measure`] found, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WakeFloor {
    /// Wake-ups counted.
    pub samples: u64,
    /// From the waker's stamp until the sleeper runs: median.
    pub wake_p50_us: f64,
    /// From the waker's stamp until the sleeper runs: 99th percentile.
    pub wake_p99_us: f64,
    /// Time spent inside `unpark` by the waker: median.
    pub unpark_p50_us: f64,
}

impl WakeFloor {
    /// One line for the report, e.g. "bare OS wake-up (a thread in `thread::park`,
    /// unparked by another) p50 2.6 us, p99 11.2 us; the `unpark` call costs the waker
    /// 4.0 us (2000 samples)".
    pub fn describe(&self) -> String {
        format!(
            "bare OS wake-up (a thread in `thread::park`, unparked by another) p50 {:.1} us, p99 {:.1} us; \
             the `unpark` call costs the waker {:.1} us ({} samples)",
            self.wake_p50_us, self.wake_p99_us, self.unpark_p50_us, self.samples
        )
    }
}

/// Wakes a parked thread `wakes` times, ~100 us apart (see the module docs).
///
/// ```
/// let floor = kairos_bench::wake_floor::measure(20);
/// assert!(floor.samples <= 20);
/// assert!(floor.wake_p50_us <= floor.wake_p99_us);
/// ```
pub fn measure(wakes: u32) -> WakeFloor {
    let epoch = Instant::now();
    let stamp = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicBool::new(false));
    let sleeper = {
        let (stamp, stop, ready) = (stamp.clone(), stop.clone(), ready.clone());
        std::thread::Builder::new()
            .name("wake-floor".into())
            .spawn(move || {
                let mut woken = histogram();
                let mut last = 0;
                ready.store(true, Release);
                while !stop.load(Acquire) {
                    std::thread::park();
                    let now = nanos_since(epoch);
                    let sent = stamp.load(Acquire);
                    if sent != last && sent != 0 {
                        last = sent;
                        woken.saturating_record(now.saturating_sub(sent));
                    }
                }
                woken
            })
            .expect("spawning the wake-floor thread")
    };
    let target = sleeper.thread().clone();
    // Thread start-up is not a wake-up: stamp only once the sleeper is in its loop.
    while !ready.load(Acquire) {
        std::thread::yield_now();
    }
    let mut unpark = histogram();
    for _ in 0..wakes {
        std::thread::sleep(Duration::from_micros(100));
        stamp.store(nanos_since(epoch), Release);
        let t0 = Instant::now();
        target.unpark();
        unpark.saturating_record(t0.elapsed().as_nanos() as u64);
    }
    stop.store(true, Release);
    target.unpark();
    let woken = sleeper.join().expect("the wake-floor thread panicked");
    let us =
        |h: &Histogram<u64>, q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e3 };
    WakeFloor {
        samples: woken.len(),
        wake_p50_us: us(&woken, 0.5),
        wake_p99_us: us(&woken, 0.99),
        unpark_p50_us: us(&unpark, 0.5),
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 10_000_000_000, 3).expect("valid histogram bounds")
}

fn nanos_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_wake_up_at_most_once_and_describes_it() {
        let floor = measure(50);
        // Every stamp is new, so a spurious return never adds a sample, and the sleeper
        // is in its loop before the first stamp, so at least one wake-up is counted.
        assert!(floor.samples <= 50, "counted a wake-up twice: {floor:?}");
        assert!(floor.samples > 0, "no wake-up was counted: {floor:?}");
        assert!(floor.unpark_p50_us > 0.0, "the unpark calls were not timed: {floor:?}");
        let line = floor.describe();
        assert!(line.contains(&format!("{} samples", floor.samples)), "{line}");
    }
}
