//! The submit-to-start latency sampler: which tasks are timed ([`next_sample`], one in
//! [`SAMPLE_EVERY`]) and the per-worker histogram they are recorded into
//! ([`LatencySampler`]), merged by a metrics read into a `LatencySummary`.
//!
//! Only [`LatencySampler::record`] is on the task hot path, for one task in
//! [`SAMPLE_EVERY`].

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

/// One task in this many has its submit-to-start latency recorded.
///
/// Tasks are picked by a per-thread counter ([`next_sample`]), never a shared one, so
/// the hot path pays one clock read and one uncontended lock only once per
/// `SAMPLE_EVERY` tasks on average. Latency percentiles are therefore estimated from a
/// sample; `LatencySummary::samples` counts the timed tasks, not all tasks.
pub(crate) const SAMPLE_EVERY: u32 = 64;

/// Advances a thread's sampling counter; true for 1 call in [`SAMPLE_EVERY`].
pub(crate) fn next_sample(counter: &std::cell::Cell<u32>) -> bool {
    let n = counter.get().wrapping_add(1);
    counter.set(n);
    n % SAMPLE_EVERY == 0
}

/// The highest latency a histogram tracks: 60 s. Longer latencies are recorded as 60 s.
pub(crate) const MAX_TRACKED_NANOS: u64 = 60_000_000_000;

/// Significant decimal digits kept by the latency histograms: 2 (1% precision, finer than
/// the clock's ~1 µs ticks for anything above 100 µs) keeps each histogram about 30 KiB
/// instead of about 216 KiB at 3, which matters with one per worker.
const SIGFIGS: u8 = 2;

/// An empty latency histogram of nanoseconds: 1 ns to 60 s at 2 significant figures
/// (about 30 KiB of counts).
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NANOS, SIGFIGS)
        .expect("1 ns..60 s at 2 significant figures is a valid range")
}

/// One worker's submit-to-start latency samples, on its own cache lines.
///
/// Only the owning worker records; a metrics read merges every worker's histogram under
/// the same (so almost never contended) lock.
pub(crate) struct LatencySampler {
    hist: CachePadded<Mutex<Histogram<u64>>>,
}

impl LatencySampler {
    /// An empty sampler (see [`new_histogram`]).
    pub(crate) fn new() -> Self {
        LatencySampler { hist: CachePadded::new(Mutex::new(new_histogram())) }
    }

    fn lock(&self) -> MutexGuard<'_, Histogram<u64>> {
        // A histogram is valid after any panic (there is none in recording anyway).
        self.hist.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records one latency in nanoseconds; values above 60 s count as 60 s.
    ///
    /// Called by the owning worker only.
    pub(crate) fn record(&self, nanos: u64) {
        self.lock().saturating_record(nanos);
    }

    /// Adds every sample recorded so far to `dst`.
    ///
    /// `dst` should come from [`new_histogram`]; if it tracks a narrower range, samples
    /// outside it are saturated instead of lost.
    pub(crate) fn merge_into(&self, dst: &mut Histogram<u64>) {
        let src = self.lock();
        if dst.add(&*src).is_err() {
            for v in src.iter_recorded() {
                dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
}

impl fmt::Debug for LatencySampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the histogram's own Debug: that prints every bucket.
        f.debug_struct("LatencySampler").field("samples", &self.lock().len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes the docs above quote.
    #[test]
    fn histogram_sizes_match_the_docs() {
        let kib = |sigfigs| {
            Histogram::<u64>::new_with_bounds(1, MAX_TRACKED_NANOS, sigfigs).unwrap().distinct_values() * 8
                / 1024
        };
        assert!((25..=35).contains(&kib(SIGFIGS)), "{} KiB", kib(SIGFIGS));
        assert!((200..=230).contains(&kib(3)), "{} KiB", kib(3));
    }
}
