//! Instants on the UTC grid as nanoseconds since the Unix epoch (`i64`): how the firing
//! loop carries its ticks, so an `every` schedule's tick arithmetic is integer
//! arithmetic, with no calendar arithmetic per firing (chrono's date normalisation was
//! about half the instructions of a firing). Cron ticks go through the calendar as
//! `DateTime`s and are converted at the edges.
//!
//! Range: the years 1677 to 2262 (what `i64` nanoseconds hold); the runtime refuses a
//! schedule whose first tick lies beyond, and a later tick beyond it is never reached.

use chrono::{DateTime, Utc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `t` in nanoseconds since the Unix epoch, if within the years 1677 to 2262.
pub(crate) fn nanos_of(t: DateTime<Utc>) -> Option<i64> {
    t.timestamp_nanos_opt()
}

/// `t` in nanoseconds since the Unix epoch, saturated beyond the range.
pub(crate) fn nanos_saturating(t: DateTime<Utc>) -> i64 {
    nanos_of(t).unwrap_or(if t.timestamp() > 0 { i64::MAX } else { i64::MIN })
}

/// The time `ns` nanoseconds after the Unix epoch.
pub(crate) fn time_of(ns: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(ns)
}

/// The system time `ns` nanoseconds after the Unix epoch.
pub(crate) fn system_time_of(ns: i64) -> SystemTime {
    match u64::try_from(ns) {
        Ok(after) => UNIX_EPOCH + Duration::from_nanos(after),
        Err(_) => UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs()),
    }
}

/// The current time on the system clock, in nanoseconds since the Unix epoch.
pub(crate) fn now_nanos() -> i64 {
    nanos_saturating(Utc::now())
}

/// `to - from` as a `Duration`, zero if `to` is earlier.
pub(crate) fn gap(from: i64, to: i64) -> Duration {
    Duration::from_nanos(u64::try_from(i128::from(to) - i128::from(from)).unwrap_or(0))
}

/// `t` plus `d`, saturated at the end of the range.
pub(crate) fn plus(t: i64, d: Duration) -> i64 {
    t.saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// `t` minus `d`, saturated at the start of the range.
pub(crate) fn minus(t: i64, d: Duration) -> i64 {
    t.saturating_sub(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn conversions_round_trip() {
        let t = Utc.with_ymd_and_hms(2026, 3, 29, 1, 30, 0).unwrap() + chrono::TimeDelta::nanoseconds(7);
        let ns = nanos_of(t).unwrap();
        assert_eq!(time_of(ns), t);
        assert_eq!(system_time_of(ns), SystemTime::from(t));
        assert_eq!(system_time_of(-1_000_000_007), UNIX_EPOCH - Duration::from_nanos(1_000_000_007));
        assert_eq!(nanos_saturating(Utc.with_ymd_and_hms(2300, 1, 1, 0, 0, 0).unwrap()), i64::MAX);
        assert_eq!(nanos_saturating(Utc.with_ymd_and_hms(1600, 1, 1, 0, 0, 0).unwrap()), i64::MIN);
    }

    #[test]
    fn gaps_and_shifts_saturate() {
        assert_eq!(gap(10, 25), Duration::from_nanos(15));
        assert_eq!(gap(25, 10), Duration::ZERO);
        assert_eq!(gap(i64::MIN, i64::MAX), Duration::from_nanos(u64::MAX));
        assert_eq!(plus(i64::MAX - 1, Duration::from_nanos(5)), i64::MAX);
        assert_eq!(minus(i64::MIN + 1, Duration::from_secs(1)), i64::MIN);
        assert_eq!(minus(plus(100, Duration::from_nanos(7)), Duration::from_nanos(7)), 100);
    }
}
