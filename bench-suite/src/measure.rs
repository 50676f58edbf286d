//! Measuring tools shared by every scenario and every peer.
//!
//! - [`Completion`]: the **task body** of the throughput scenarios. Each task adds one to a
//!   per-thread, cache-padded slot (`fetch_add(1, Release)`, uncontended: ~3 ns), so the
//!   counter itself never becomes the bottleneck; the waiting thread sums the slots every
//!   50-100 us (sleeping in between, so it does not steal a core from the workers).
//!   Completion is thus detected at most ~0.1 ms late, which is under 1% of every timed run.
//! - [`Samples`]: one pre-allocated atomic slot per task for a latency in nanoseconds,
//!   turned into an `hdrhistogram` afterwards, so recording costs one relaxed store.
//! - [`rss_bytes`], [`peak_rss_bytes`] (from `/proc/self/statm` and `/proc/self/status`),
//!   [`cpu_time`] and [`thread_cpu_time`] (from `getrusage`), [`spin_for`] (busy work of a
//!   fixed duration, measured with `Instant`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Number of slots of a [`Completion`] (threads beyond this share slots, still correctly).
const SLOTS: usize = 16;

/// One counter slot on its own cache line (128 bytes: two lines, against adjacent-line
/// prefetching).
#[repr(align(128))]
#[derive(Default)]
struct Slot(AtomicU64);

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline(always)]
fn thread_slot() -> usize {
    THREAD_SLOT.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            v
        } else {
            let v = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % SLOTS;
            s.set(v);
            v
        }
    })
}

/// A striped completion counter: the task body of every throughput scenario, identical for
/// all peers (see the module docs).
///
/// Scenarios leak one per run (`Completion::leak()`) so that a task captures a plain
/// `&'static Completion` (8 bytes) instead of cloning an `Arc`, whose shared reference count
/// would itself be a contended cache line.
pub struct Completion {
    slots: [Slot; SLOTS],
}

impl Default for Completion {
    fn default() -> Self {
        Completion { slots: std::array::from_fn(|_| Slot::default()) }
    }
}

impl std::fmt::Debug for Completion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion").field("count", &self.count()).finish()
    }
}

impl Completion {
    /// A new counter that lives for the rest of the process.
    pub fn leak() -> &'static Completion {
        Box::leak(Box::default())
    }

    /// Counts one finished task (the task body).
    #[inline(always)]
    pub fn hit(&self) {
        self.slots[thread_slot()].0.fetch_add(1, Ordering::Release);
    }

    /// Tasks counted so far. Everything a task wrote before its `hit` is visible once
    /// `count()` includes it.
    pub fn count(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Acquire)).sum()
    }

    /// Blocks until `count() >= target` and returns the instant that was observed, or
    /// `None` when `timeout` passes first. Polls: spins with `yield_now` for the first
    /// 20 us, then sleeps 50 us between looks.
    pub fn wait(&self, target: u64, timeout: Duration) -> Option<Instant> {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            if self.count() >= target {
                return Some(Instant::now());
            }
            let now = Instant::now();
            if now - start > timeout {
                return None;
            }
            if spins < 64 && now - start < Duration::from_micros(20) {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
    }

    /// Like [`Completion::wait`] but spins (`yield_now`) all the time: for the micro
    /// benchmarks, whose batches last microseconds.
    pub fn wait_spin(&self, target: u64) {
        while self.count() < target {
            std::thread::yield_now();
        }
    }
}

/// One latency slot per task, in nanoseconds; `u64::MAX` marks "not recorded".
pub struct Samples {
    vals: Box<[AtomicU64]>,
}

impl std::fmt::Debug for Samples {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Samples").field("len", &self.vals.len()).finish()
    }
}

impl Samples {
    /// `n` empty slots that live for the rest of the process (touched now, so the pages are
    /// resident before any measurement).
    pub fn leak(n: usize) -> &'static Samples {
        let vals: Box<[AtomicU64]> = (0..n).map(|_| AtomicU64::new(u64::MAX)).collect();
        Box::leak(Box::new(Samples { vals }))
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.vals.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }

    /// Records `ns` in slot `i`.
    #[inline(always)]
    pub fn record(&self, i: usize, ns: u64) {
        self.vals[i].store(ns, Ordering::Relaxed);
    }

    /// Records the time from `since` to now in slot `i` (0 if `since` is in the future).
    #[inline(always)]
    pub fn record_since(&self, i: usize, since: Instant) {
        let ns = Instant::now().saturating_duration_since(since).as_nanos() as u64;
        self.record(i, ns);
    }

    /// The recorded values (slots never written are skipped).
    pub fn values(&self) -> Vec<u64> {
        self.vals.iter().map(|v| v.load(Ordering::Relaxed)).filter(|&v| v != u64::MAX).collect()
    }

    /// The recorded values of slots `range`, as a histogram.
    pub fn histogram_of(&self, range: std::ops::Range<usize>) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in &self.vals[range] {
            let v = v.load(Ordering::Relaxed);
            if v != u64::MAX {
                h.saturating_record(v.max(1));
            }
        }
        h
    }

    /// All recorded values as a histogram.
    pub fn histogram(&self) -> Histogram<u64> {
        self.histogram_of(0..self.vals.len())
    }
}

/// A histogram of nanosecond values from 1 ns to 1 hour, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

/// Points of a latency CDF: `(quantile, value)` at quantiles that are evenly spaced in
/// "nines" (0, 0.5, 0.9, 0.99, 0.999 ... and in between), plus the maximum.
pub fn cdf_points(h: &Histogram<u64>, scale: f64) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    // -log10(1 - q) from 0 to 4 in steps of 0.1.
    let max_nines = (h.len() as f64).log10().min(5.0);
    let mut nines = 0.0f64;
    while nines <= max_nines + 1e-9 {
        let q = 1.0 - 10f64.powf(-nines);
        out.push((q, h.value_at_quantile(q) as f64 / scale));
        nines += 0.1;
    }
    out.push((1.0, h.max() as f64 / scale));
    out
}

/// Bytes of resident memory of this process (`/proc/self/statm`, field 2).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * page_size()
}

/// Peak resident memory of this process (`VmHWM` in `/proc/self/status`), in bytes.
pub fn peak_rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 {
        v as u64
    } else {
        4096
    }
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage; `who` is RUSAGE_SELF or RUSAGE_THREAD.
    unsafe { libc::getrusage(who, &mut ru) };
    ru
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// User + system CPU time used by the whole process so far.
pub fn cpu_time() -> Duration {
    let ru = rusage(libc::RUSAGE_SELF);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// User + system CPU time used by the calling thread so far.
pub fn thread_cpu_time() -> Duration {
    let ru = rusage(libc::RUSAGE_THREAD);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Voluntary + involuntary context switches of the whole process so far.
pub fn context_switches() -> u64 {
    let ru = rusage(libc::RUSAGE_SELF);
    (ru.ru_nvcsw + ru.ru_nivcsw) as u64
}

/// Busy work for `d` (the "20 us task" of the priority scenario): spins on `Instant::now`.
#[inline(never)]
pub fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Median of `v` (mean of the two middle values for even lengths); `None` when empty.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_counts_across_threads() {
        let c = Completion::leak();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.hit();
                    }
                });
            }
        });
        assert_eq!(c.count(), 4000);
        assert!(c.wait(4000, Duration::from_secs(10)).is_some());
        assert!(c.wait(4001, Duration::from_millis(1)).is_none());
    }

    #[test]
    fn samples_skip_unrecorded_slots() {
        let s = Samples::leak(4);
        s.record(0, 10);
        s.record(2, 30);
        assert_eq!(s.values(), vec![10, 30]);
        let h = s.histogram();
        assert_eq!(h.len(), 2);
        assert!(h.max() >= 30);
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn cdf_is_monotonic() {
        let mut h = new_histogram();
        for v in 1..10_000u64 {
            h.record(v).unwrap();
        }
        let pts = cdf_points(&h, 1.0);
        assert!(pts.len() > 10);
        assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }

    #[test]
    fn proc_figures_are_positive_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss_bytes() > 0);
            assert!(peak_rss_bytes() >= rss_bytes() / 2);
        }
    }
}
