//! `Schedule` on a fixed clock: ticks, bounds, missed-tick policies, cron in time zones
//! across daylight-saving jumps, and bad input. Pure functions, no runtime, no waiting.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use kairos_rt::time::interval;
use kairos_rt::{MissedTickBehavior, Schedule};
use std::time::Duration;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Berlin.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().unwrap().with_timezone(&Utc)
}

/// The first `n` ticks of cron `expr` on Berlin's wall clock, from `from`.
fn berlin_ticks(expr: &str, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    Schedule::cron_in(expr, "Europe/Berlin").unwrap().ticks(from).take(n).collect()
}

/// `[h:m, ...]` on day `d` of month `mo` of 2026, in UTC.
fn utc_times(mo: u32, d: u32, hm: &[(u32, u32)]) -> Vec<DateTime<Utc>> {
    hm.iter().map(|&(h, m)| utc(2026, mo, d, h, m, 0)).collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn every_ticks_from_its_start_without_drift() {
    let t0 = utc(2026, 1, 1, 0, 0, 0);
    let s = Schedule::every(secs(10)).unwrap();
    let ticks: Vec<_> = s.ticks(t0).take(4).collect();
    assert_eq!(ticks, [t0, t0 + secs(10), t0 + secs(20), t0 + secs(30)]);
    // A firing that started 7 s late still schedules the grid's next tick.
    assert_eq!(s.next_tick(t0 + secs(10), t0 + secs(17)), Some(t0 + secs(20)));
}

#[test]
fn starting_at_in_the_past_starts_at_the_first_grid_tick_not_in_the_past() {
    let t0 = utc(2026, 1, 1, 0, 0, 0);
    let s = Schedule::every(secs(10)).unwrap().starting_at(t0);
    assert_eq!(s.first_tick(t0 + secs(25)), Some(t0 + secs(30)));
    assert_eq!(s.first_tick(t0 + secs(30)), Some(t0 + secs(30)));
    assert_eq!(s.first_tick(t0 - secs(5)), Some(t0), "a future start is the first tick");
    assert_eq!(s.next_after(t0 - secs(5)), Some(t0));
    assert_eq!(s.next_after(t0), Some(t0 + secs(10)));
}

#[test]
fn times_and_until_bound_the_ticks() {
    let t0 = utc(2026, 1, 1, 0, 0, 0);
    let every = Schedule::every(secs(10)).unwrap();
    assert_eq!(every.clone().times(3).ticks(t0).count(), 3);
    let until = every.clone().starting_at(t0).until(t0 + secs(30));
    assert_eq!(
        until.ticks(t0).collect::<Vec<_>>(),
        [t0, t0 + secs(10), t0 + secs(20), t0 + secs(30)],
        "inclusive"
    );
    assert_eq!(until.next_after(t0 + secs(30)), None);
    assert_eq!(until.next_tick(t0 + secs(20), t0 + secs(55)), None, "the skip lands past until");
    assert_eq!(every.clone().until(t0 - secs(1)).first_tick(t0), None);
    let both = every.starting_at(t0).until(t0 + secs(100)).times(2);
    assert_eq!(both.ticks(t0).count(), 2);
}

#[test]
fn missed_ticks_follow_the_policy_for_every() {
    let t0 = utc(2026, 1, 1, 0, 0, 0);
    let late = t0 + secs(35); // the firing of t0 began 35 s late: ticks 10, 20, 30 missed
    let with = |b| Schedule::every(secs(10)).unwrap().missed_tick(b);
    // Burst: every missed tick fires, one after another, until caught up.
    let burst = with(MissedTickBehavior::Burst);
    let mut tick = t0;
    let mut fired = vec![];
    for _ in 0..5 {
        tick = burst.next_tick(tick, late).unwrap();
        fired.push(tick);
    }
    assert_eq!(fired, [t0 + secs(10), t0 + secs(20), t0 + secs(30), t0 + secs(40), t0 + secs(50)]);
    assert_eq!(with(MissedTickBehavior::Delay).next_tick(t0, late), Some(t0 + secs(45)), "the grid moves");
    assert_eq!(with(MissedTickBehavior::Skip).next_tick(t0, late), Some(t0 + secs(40)), "the grid stays");
    assert_eq!(Schedule::every(secs(1)).unwrap().missed_tick_behavior(), MissedTickBehavior::Skip, "default");
    // Less than a period late is not a miss, for every policy.
    for b in [MissedTickBehavior::Burst, MissedTickBehavior::Delay, MissedTickBehavior::Skip] {
        assert_eq!(with(b).next_tick(t0, t0 + secs(9)), Some(t0 + secs(10)), "{b:?}");
    }
}

#[test]
fn missed_ticks_follow_the_policy_for_cron() {
    let hourly = |b| Schedule::cron("0 * * * *").unwrap().missed_tick(b);
    let tick = utc(2026, 1, 1, 10, 0, 0);
    let late = utc(2026, 1, 1, 13, 30, 0);
    assert_eq!(hourly(MissedTickBehavior::Burst).next_tick(tick, late), Some(utc(2026, 1, 1, 11, 0, 0)));
    assert_eq!(hourly(MissedTickBehavior::Skip).next_tick(tick, late), Some(utc(2026, 1, 1, 14, 0, 0)));
    assert_eq!(hourly(MissedTickBehavior::Delay).next_tick(tick, late), Some(utc(2026, 1, 1, 14, 0, 0)));
    assert_eq!(
        hourly(MissedTickBehavior::Skip).next_tick(tick, utc(2026, 1, 1, 10, 59, 0)),
        Some(utc(2026, 1, 1, 11, 0, 0))
    );
}

#[test]
fn cron_takes_five_or_six_fields() {
    let now = utc(2026, 1, 1, 12, 0, 30);
    assert_eq!(Schedule::cron("*/15 * * * *").unwrap().next_after(now), Some(utc(2026, 1, 1, 12, 15, 0)));
    assert_eq!(Schedule::cron("*/20 * * * * *").unwrap().next_after(now), Some(utc(2026, 1, 1, 12, 0, 40)));
    assert_eq!(Schedule::cron("0 9 * * MON").unwrap().next_after(now), Some(utc(2026, 1, 5, 9, 0, 0)));
    // 29 February fires in leap years only, and is not refused.
    assert_eq!(Schedule::cron("0 0 29 2 *").unwrap().next_after(now), Some(utc(2028, 2, 29, 0, 0, 0)));
}

#[test]
fn cron_reads_the_wall_clock_of_its_time_zone() {
    let nightly = Schedule::cron_in("0 2 * * *", "Europe/Berlin").unwrap();
    assert_eq!(nightly.time_zone(), Some("Europe/Berlin"));
    // Winter (UTC+1) and summer (UTC+2).
    assert_eq!(nightly.next_after(utc(2026, 1, 10, 12, 0, 0)), Some(utc(2026, 1, 11, 1, 0, 0)));
    assert_eq!(nightly.next_after(utc(2026, 7, 10, 12, 0, 0)), Some(utc(2026, 7, 11, 0, 0, 0)));
}

#[test]
fn a_fixed_time_job_in_a_skipped_hour_runs_once_after_the_gap() {
    // 29 March 2026, Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    let ticks = berlin_ticks("30 2 * * *", berlin(2026, 3, 28, 12, 0), 2);
    assert_eq!(ticks, [berlin(2026, 3, 29, 3, 0), berlin(2026, 3, 30, 2, 30)]);
    assert_eq!(ticks[0], utc(2026, 3, 29, 1, 0, 0));
}

#[test]
fn a_wildcard_job_loses_the_occurrences_in_a_skipped_hour() {
    // 01:00, 01:30 (CET), then 03:00, 03:30 (CEST): one real hour, no 02:xx.
    let ticks = berlin_ticks("*/30 * * * *", berlin(2026, 3, 29, 1, 0), 4);
    assert_eq!(ticks, utc_times(3, 29, &[(0, 0), (0, 30), (1, 0), (1, 30)]));
}

#[test]
fn a_fixed_time_job_in_a_repeated_hour_runs_once() {
    // 25 October 2026, Berlin: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    let ticks = berlin_ticks("30 2 * * *", utc(2026, 10, 24, 12, 0, 0), 2);
    assert_eq!(ticks, [utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0)], "first pass only");
}

#[test]
fn a_wildcard_job_runs_at_both_passes_of_a_repeated_hour() {
    // 02:00 and 02:30 CEST (00:00, 00:30 UTC), then again in CET (01:00, 01:30 UTC).
    let ticks = berlin_ticks("0,30 2 * * *", utc(2026, 10, 24, 12, 0, 0), 4);
    assert_eq!(ticks, utc_times(10, 25, &[(0, 0), (0, 30), (1, 0), (1, 30)]));
}

#[test]
fn bad_input_is_an_error_that_says_what_is_wrong() {
    let msg = |r: Result<Schedule, kairos_rt::ScheduleError>| r.unwrap_err().to_string();
    assert!(msg(Schedule::every(Duration::ZERO)).contains("period is zero"));
    assert!(msg(Schedule::every(Duration::MAX)).contains("too long"));
    let e = msg(Schedule::cron("0 0 32 * *"));
    assert!(e.contains("field 3 (day of month) \"32\""), "{e}");
    let e = msg(Schedule::cron("0 0 * * * * * *"));
    assert!(e.contains("8 fields"), "{e}");
    let e = msg(Schedule::cron("*/0 * * * *"));
    assert!(e.contains("field 1 (minute)") && e.contains("zero"), "{e}");
    let e = msg(Schedule::cron("0 0 31 2 *"));
    assert!(e.contains("never fires"), "{e}");
    let e = msg(Schedule::cron("0 0 30 2 *"));
    assert!(e.contains("never fires"), "{e}");
    let e = msg(Schedule::cron_in("0 2 * * *", "Europe/Atlantis"));
    assert!(e.contains("unknown time zone \"Europe/Atlantis\""), "{e}");
    let e = msg(Schedule::cron(""));
    assert!(e.contains("cron expression"), "{e}");

    let t0 = utc(2026, 1, 1, 0, 0, 0);
    let every = Schedule::every(secs(1)).unwrap();
    assert!(every.clone().times(0).validate().unwrap_err().to_string().contains("times(0)"));
    assert!(every.clone().starting_at(t0).until(t0 - secs(1)).validate().is_err());
    assert!(every.clone().jitter(secs(1)).validate().unwrap_err().to_string().contains("jitter"));
    assert!(every.jitter(Duration::from_millis(999)).validate().is_ok());
    assert!(interval(Duration::ZERO).unwrap_err().is_invalid());
}

#[test]
fn a_schedule_is_a_plain_shareable_value() {
    fn plain<T: Clone + std::fmt::Debug + Send + Sync + 'static>(_: &T) {}
    let s = Schedule::cron_in("0 2 * * *", "Europe/Berlin").unwrap();
    plain(&s);
    let text = format!("{s:?}");
    assert!(text.contains("0 2 * * *") && text.contains("Europe/Berlin"), "{text}");
}
