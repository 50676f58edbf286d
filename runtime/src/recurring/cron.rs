//! Cron expressions in a time zone: parsing (with errors that name the bad field) and the
//! next occurrence after an instant.
//!
//! Parsing and matching are `croner`'s (5 fields, or 6 with seconds first, or 7 with a
//! year last; names such as `MON` and `JAN`; `L`, `W`, `#`; `@daily` and friends).
//! Occurrences are computed on the wall clock of the schedule's zone (`chrono-tz`, the
//! IANA database) and returned as UTC instants.
//!
//! ## Daylight saving time (croner's rules, which follow Vixie cron)
//!
//! - A wall-clock time skipped by a jump forward (02:30 on the night clocks go from 02:00
//!   to 03:00): a fixed-time job (fixed second, minute and hour) runs at the first valid
//!   time after the gap, once; a job with a wildcard or step in those fields loses the
//!   occurrences inside the gap.
//! - A wall-clock time repeated by a jump back: a fixed-time job runs once, at the first
//!   pass; a wildcard or step job runs at each pass.
//!
//! ## Invariants
//!
//! - A `CronSpec` that exists fires at least once after the time it was made: an
//!   expression that can never fire (31 February) is refused by [`CronSpec::parse`].

use crate::time::ScheduleError;
use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;
use std::fmt;

/// A parsed cron expression and the time zone its wall clock is read in.
#[derive(Clone)]
pub(crate) struct CronSpec {
    expr: String,
    cron: Cron,
    zone: Tz,
}

impl fmt::Debug for CronSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CronSpec").field("expr", &self.expr).field("zone", &self.zone.name()).finish()
    }
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).build()
}

/// The name of field `index` of an expression with `count` fields.
fn field_name(count: usize, index: usize) -> &'static str {
    const FIVE: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];
    let offset = usize::from(count >= 6);
    if count >= 6 && index == 0 {
        "second"
    } else if index - offset < FIVE.len() {
        FIVE[index - offset]
    } else {
        "year"
    }
}

/// Which field of `expr` makes it fail: the first whose replacement by `*` makes the
/// rest parse. `None` when the count of fields is wrong or no single field is to blame.
fn locate_bad_field(expr: &str) -> Option<(usize, String)> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    if !(5..=7).contains(&fields.len()) {
        return None;
    }
    (0..fields.len()).find_map(|i| {
        let mut trial = fields.clone();
        trial[i] = "*";
        parser().parse(&trial.join(" ")).ok().map(|_| (i, fields[i].to_string()))
    })
}

impl CronSpec {
    /// Parses `expr` for the wall clock of `zone` (an IANA name such as
    /// `"Europe/Berlin"`, or `"UTC"`), and checks that it fires at least once after `now`.
    pub(crate) fn parse(expr: &str, zone: &str, now: DateTime<Utc>) -> Result<CronSpec, ScheduleError> {
        let zone: Tz = zone.parse().map_err(|_| {
            ScheduleError::invalid(format!(
                "unknown time zone {zone:?} (expected an IANA name such as \"Europe/Berlin\" or \"UTC\")"
            ))
        })?;
        let cron = parser().parse(expr).map_err(|e| {
            let count = expr.split_whitespace().count();
            match locate_bad_field(expr) {
                Some((i, text)) => ScheduleError::invalid(format!(
                    "cron expression {expr:?}: field {} ({}) {text:?}: {e}",
                    i + 1,
                    field_name(count, i)
                )),
                None if !(5..=7).contains(&count) && !expr.trim_start().starts_with('@') => {
                    ScheduleError::invalid(format!(
                        "cron expression {expr:?} has {count} fields; expected 5 (minute hour \
                         day-of-month month day-of-week), 6 (a second first) or 7 (a year last)"
                    ))
                }
                None => ScheduleError::invalid(format!("cron expression {expr:?}: {e}")),
            }
        })?;
        let spec = CronSpec { expr: expr.to_string(), cron, zone };
        if spec.next_after(now).is_none() {
            return Err(ScheduleError::invalid(format!(
                "cron expression {expr:?} never fires (no date matches it, such as 31 February)"
            )));
        }
        Ok(spec)
    }

    /// The first occurrence strictly after `t`, or `None` if there is none (before the
    /// year 5000).
    pub(crate) fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.search(t, false)
    }

    /// The first occurrence at or after `t`.
    pub(crate) fn next_at_or_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.search(t, true)
    }

    /// The last occurrence at or before `t`, if one lies within the years 1 to 5000.
    pub(crate) fn last_at_or_before(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (first, last) = search_bounds();
        if t < first {
            return None;
        }
        let local = t.min(last).with_timezone(&self.zone);
        let found = self.cron.find_previous_occurrence(&local, true).ok()?.with_timezone(&Utc);
        (found >= first).then_some(found)
    }

    /// Searches from `t`, kept within the years 1 to 5000: croner searches no further
    /// than 5000, and an instant at chrono's own limits has no local time in some zones
    /// (a search from there would panic). Before the year 1, the search starts at it.
    fn search(&self, t: DateTime<Utc>, inclusive: bool) -> Option<DateTime<Utc>> {
        let (first, last) = search_bounds();
        if t >= last {
            return None;
        }
        let (t, inclusive) = if t < first { (first, true) } else { (t, inclusive) };
        let local = t.with_timezone(&self.zone);
        self.cron.find_next_occurrence(&local, inclusive).ok().map(|d| d.with_timezone(&Utc))
    }

    /// The expression as given.
    pub(crate) fn expr(&self) -> &str {
        &self.expr
    }

    /// The time zone's IANA name.
    pub(crate) fn zone_name(&self) -> &'static str {
        self.zone.name()
    }
}

/// The years a cron search runs within: from the start of the year 1 to the start of the
/// year 5000 (UTC).
fn search_bounds() -> (DateTime<Utc>, DateTime<Utc>) {
    let year = |y| Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0).single().expect("a valid date");
    (year(1), year(5000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn errors_name_the_bad_field() {
        let e = CronSpec::parse("0 25 * * *", "UTC", now()).unwrap_err().to_string();
        assert!(e.contains("field 2 (hour) \"25\""), "{e}");
        let e = CronSpec::parse("0 0 * * FRX", "UTC", now()).unwrap_err().to_string();
        assert!(e.contains("field 5 (day of week)"), "{e}");
        let e = CronSpec::parse("0 0 *", "UTC", now()).unwrap_err().to_string();
        assert!(e.contains("has 3 fields"), "{e}");
        let e = CronSpec::parse("61 0 0 * * *", "UTC", now()).unwrap_err().to_string();
        assert!(e.contains("field 1 (second) \"61\""), "{e}");
    }

    #[test]
    fn field_names() {
        assert_eq!(field_name(5, 0), "minute");
        assert_eq!(field_name(5, 4), "day of week");
        assert_eq!(field_name(6, 0), "second");
        assert_eq!(field_name(6, 5), "day of week");
        assert_eq!(field_name(7, 6), "year");
    }
}
