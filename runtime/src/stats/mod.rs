//! Statistics: what the runtime counts and samples, and the rules for counting it.
//!
//! This folder is a leaf: it depends on nothing else in the crate, and everything that
//! counts a task or reads a count goes through it.
//!
//! - [`accounting`]: every accounting rule: which counter each way a task is submitted
//!   or ends bumps (closure, future, runtime timer, at shutdown), in one table;
//! - [`counters`]: every task is counted once as admitted and once by outcome
//!   ([`Count`]; the runtime's own timers in counters of their own, and refusals for room
//!   outside both balances), per worker without contention, summed by a snapshot
//!   ([`Totals`]).
//! - [`latency`]: one task in 64 has its submit-to-start latency recorded into its
//!   worker's histogram.
//! - [`retry`]: the retry gauges (waiting, retried, exhausted).
//! - [`schedules`]: the recurring schedules' snapshot, read through their census.

pub(crate) mod accounting;
pub(crate) mod counters;
pub(crate) mod latency;
pub(crate) mod retry;
pub(crate) mod schedules;

pub(crate) use counters::{Count, Counters, Totals};
pub(crate) use latency::LatencySampler;
pub(crate) use retry::{RetryCounts, RetryGauges};
pub(crate) use schedules::{ScheduleCensus, SchedulesSnapshot};
