//! Tests of the tick arithmetic's internal forms (`schedule/ticks.rs`): missed counts,
//! ticks during a run, and the integer path against the calendar path.

use super::super::nanos::nanos_of;
use super::Schedule;
use crate::time::MissedTickBehavior;
use chrono::TimeZone;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[test]
fn ticks_past_until_are_not_counted_as_missed() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let s = |d: u64| t0 + Duration::from_secs(d);
    let every = Schedule::every(Duration::from_secs(10)).unwrap().starting_at(t0).until(s(30));
    // The firing of 10 s began at 55 s: only 20 s and 30 s were missed.
    assert_eq!(every.next_tick_counting(s(10), s(55)), (None, 2));
    assert_eq!(every.next_tick_counting(s(10), s(25)), (Some(s(30)), 1));
    let cron = Schedule::cron("* * * * * *").unwrap().until(s(3));
    assert_eq!(cron.next_tick_counting(s(0), s(10)), (None, 3));
}

#[test]
fn ticks_through_counts_the_ticks_that_came_during_a_run() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let at = |d: u64| t0 + Duration::from_secs(d);
    let s = |d: u64| nanos_of(at(d)).unwrap();
    let every = Schedule::every(Duration::from_secs(10)).unwrap();
    assert_eq!(every.ticks_through(s(10), s(35), u64::MAX), (3, s(30)));
    assert_eq!(every.ticks_through(s(10), s(35), 2), (2, s(20)), "limited by times");
    assert_eq!(every.clone().until(at(20)).ticks_through(s(10), s(35), u64::MAX), (2, s(20)));
    let cron = Schedule::cron("*/10 * * * * *").unwrap();
    assert_eq!(cron.ticks_through(s(10), s(35), u64::MAX), (3, s(30)));
}

/// Seen to fail when the count stopped at its cap: after a run that outlasted 20,000
/// ticks of a cron schedule, `QueueOne` ran the 10,000th tick (hours in the past) and
/// then again for the rest, instead of once for the last.
#[test]
fn ticks_through_finds_the_last_tick_past_the_count_cap() {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let s = |d: u64| nanos_of(t0 + Duration::from_secs(d)).unwrap();
    let every_second = Schedule::cron("* * * * * *").unwrap();
    assert_eq!(every_second.ticks_through(s(0), s(20_000), u64::MAX), (10_000, s(20_000)));
    // Exactly at the cap, and limited by `times` below it: as before.
    assert_eq!(every_second.ticks_through(s(0), s(9_999), u64::MAX), (10_000, s(9_999)));
    assert_eq!(every_second.ticks_through(s(0), s(20_000), 5), (5, s(4)));
}

/// The firing loop's integer path gives the calendar path's ticks and misses, for
/// every missed-tick behavior, with and without `until`, for `every` and cron grids.
#[test]
fn next_tick_counting_ns_agrees_with_the_calendar() {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 0).unwrap();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let ns = |t: DateTime<Utc>| nanos_of(t).unwrap();
    let grids = [
        Schedule::every(Duration::from_millis(700)).unwrap(),
        Schedule::every(Duration::from_secs(1)).unwrap().starting_at(at(300)),
        Schedule::cron_in("*/2 * * * * *", "Europe/Berlin").unwrap(),
    ];
    for grid in grids {
        for missed in [MissedTickBehavior::Burst, MissedTickBehavior::Delay, MissedTickBehavior::Skip] {
            for until in [None, Some(at(2_500)), Some(at(100))] {
                let mut s = grid.clone().missed_tick(missed);
                if let Some(until) = until {
                    s = s.until(until);
                }
                for (tick, now) in [(0, 0), (0, 650), (0, 701), (0, 5_000), (700, 2_600), (1_400, 900)] {
                    let (next, n) = s.next_tick_counting(at(tick), at(now));
                    assert_eq!(
                        s.next_tick_counting_ns(ns(at(tick)), ns(at(now))),
                        (next.map(ns), n),
                        "{s:?} tick {tick} now {now}"
                    );
                }
            }
        }
    }
}
