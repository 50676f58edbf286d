//! Recurring work: [`Schedule`]s (every period, or cron in a time zone) run by
//! [`Handle::spawn_recurring`](crate::Handle::spawn_recurring) as timed tasks at their
//! priority, and tokio-style [`Interval`](crate::time::Interval)s for futures.
//!
//! A layer on the runtime's public spawning API: each firing is an ordinary timed task
//! (`Handle::spawn_at`, entered with its tick already worked out), so recurring work
//! shares the timing wheels, the priorities and the shutdown accounting of everything
//! else.
//!
//! - `schedule.rs`: the [`Schedule`] value; `schedule/ticks.rs`: its pure tick functions.
//! - `rules.rs`: [`Overlap`] and [`OnPanic`], the rules for a run that overlaps or panics.
//! - `cron.rs`: cron expressions and time zones (croner, chrono-tz).
//! - `handle.rs`: the [`Recurring`] handle and `spawn_recurring`.
//! - `firing.rs`: the firing loop (its protocol is there).
//! - `nanos.rs`: ticks as nanoseconds since the Unix epoch, as the firing loop carries them.
//! - `census.rs`: the per-runtime tally behind [`Handle::schedules`](crate::Handle::schedules),
//!   `pending()`, `metrics()` and the shutdown report.
//!
//! [`MissedTickBehavior`] (the rule after missed ticks) and [`ScheduleError`] live in
//! `time/`, shared with intervals, and are re-exported here.

mod census;
mod cron;
mod firing;
mod handle;
mod nanos;
mod rules;
mod schedule;

pub use crate::stats::schedules::SchedulesSnapshot;
pub use crate::time::MissedTickBehavior;
pub use crate::time::ScheduleError;
pub use handle::{spawn_recurring, Recurring};
pub use rules::{OnPanic, Overlap};
pub use schedule::{Schedule, Ticks};
