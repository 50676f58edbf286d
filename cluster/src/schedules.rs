//! Recurring jobs across nodes: a [`Schedule`] (from `kairos_rt`, the same type the
//! in-process `spawn_recurring` takes) registered in a queue enqueues its job once per
//! tick, however many nodes run, and survives node restarts.
//!
//! ## Protocol
//!
//! - `Queue::schedule` stores the schedule's spec and the job template in hash
//!   `s:<name>` and its first tick (computed by the caller from the schedule) in the
//!   sorted set `sched-next` (score: epoch ms).
//! - CLAIM lists the schedules whose tick is due, and counts the earliest tick among the
//!   instants the node sleeps until, so an idle node wakes at the tick.
//! - For each, the node rebuilds the [`Schedule`] from its spec, computes the tick after
//!   the due one (`Schedule::next_tick`, with the schedule's missed-tick policy, against
//!   Redis's clock), and runs FIRE with the due tick it saw. FIRE enqueues the job and
//!   moves `sched-next` on only if the schedule's tick still equals the one the node
//!   saw: of several nodes firing the same tick, exactly one enqueues.
//! - Jitter delays the firing's job (it waits in the delayed set), never the grid.
//!
//! What does not carry over from in-process schedules: the overlap rule (each firing is
//! an independent job; give it a start deadline to drop firings that wait too long) and
//! `OnPanic` (a failing job follows its retry policy). The spec is stored as JSON, so a
//! node rebuilds exactly the grid the producer registered.

use crate::error::{Error, ErrorKind, Result};
use crate::job::Job;
use crate::queue::Queue;
use crate::scripts::SCRIPTS;
use chrono::{DateTime, TimeZone, Utc};
use kairos_rt::{MissedTickBehavior, Schedule};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// A schedule as stored in Redis: enough to rebuild its grid on any node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ScheduleSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    every_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tz: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until_ms: Option<i64>,
    jitter_ms: u64,
    missed: String,
}

impl ScheduleSpec {
    fn of(s: &Schedule) -> Result<ScheduleSpec> {
        let bad = |why: String| Error::new(ErrorKind::BadJob { why });
        s.validate().map_err(|e| bad(format!("schedule: {e}")))?;
        let every_ns = match s.period() {
            // Ticks are kept in whole milliseconds (Redis's clock): a period with a
            // fraction of one would fire off its grid, or, under 1 ms, never move on.
            Some(p) if p.subsec_nanos() % 1_000_000 != 0 => {
                return Err(bad(format!(
                    "schedule: a period of {p:?} is not a whole number of milliseconds, the cluster's tick"
                )))
            }
            Some(p) => {
                Some(u64::try_from(p.as_nanos()).map_err(|_| bad("schedule: period too long".into()))?)
            }
            None => None,
        };
        Ok(ScheduleSpec {
            every_ns,
            cron: s.cron_expression().map(str::to_string),
            tz: s.time_zone().map(str::to_string),
            until_ms: s.until_time().map(|t| t.timestamp_millis()),
            jitter_ms: s.max_jitter().as_millis().min(u64::MAX as u128) as u64,
            missed: match s.missed_tick_behavior() {
                MissedTickBehavior::Burst => "burst",
                MissedTickBehavior::Delay => "delay",
                MissedTickBehavior::Skip => "skip",
            }
            .to_string(),
        })
    }

    /// The schedule this spec describes; `None` if the spec is not one (edited by hand).
    pub(crate) fn build(&self) -> Option<Schedule> {
        let mut s = match (self.every_ns, &self.cron) {
            (Some(ns), None) => Schedule::every(Duration::from_nanos(ns)).ok()?,
            (None, Some(expr)) => match &self.tz {
                Some(tz) => Schedule::cron_in(expr, tz).ok()?,
                None => Schedule::cron(expr).ok()?,
            },
            _ => return None,
        };
        if let Some(ms) = self.until_ms {
            s = s.until(Utc.timestamp_millis_opt(ms).single()?);
        }
        let missed = match self.missed.as_str() {
            "burst" => MissedTickBehavior::Burst,
            "delay" => MissedTickBehavior::Delay,
            "skip" => MissedTickBehavior::Skip,
            _ => return None,
        };
        Some(s.missed_tick(missed))
    }

    pub(crate) fn jitter_ms(&self) -> u64 {
        self.jitter_ms
    }
}

/// Epoch milliseconds as a UTC time.
pub(crate) fn utc_of_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// One registered schedule, as [`Queue::schedules`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleInfo {
    /// Its name in the queue.
    pub name: String,
    /// The job kind it enqueues.
    pub kind: String,
    /// Its next tick (epoch ms); `None` once it has no more.
    pub next_tick_ms: Option<u64>,
    /// How many times it fired.
    pub fired: u64,
    /// Its spec as stored (JSON).
    pub spec: String,
    /// Why it ended early, if a node found its stored job template corrupt (a field
    /// written by hand that no job could be made of); it fires no more.
    pub broken: Option<String>,
}

impl Queue {
    /// Registers (or replaces) recurring schedule `name`: from its first tick on, `job`
    /// is enqueued once per tick of `schedule`, whichever nodes run the queue, until the
    /// schedule ends or [`unschedule`](Self::unschedule) removes it. Replacing a schedule
    /// restarts its grid and its firing count.
    ///
    /// ```no_run
    /// use kairos_cluster::{Client, Job};
    /// use kairos_rt::{Priority, Schedule};
    /// use std::time::Duration;
    ///
    /// let queue = Client::connect("redis://127.0.0.1/")?.queue("reports")?;
    /// // Every night at 02:00 in Paris, at high priority; every 10 s, a metrics flush.
    /// let nightly = Schedule::cron_in("0 2 * * *", "Europe/Paris").unwrap();
    /// queue.schedule("nightly-report", &nightly, Job::new("report").priority(Priority::HIGH))?;
    /// let flush = Schedule::every(Duration::from_secs(10)).unwrap();
    /// queue.schedule("metrics-flush", &flush, Job::new("flush"))?;
    /// # Ok::<(), kairos_cluster::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_job`] for an invalid schedule, a period that is not a whole number
    /// of milliseconds (the cluster keeps ticks in Redis's milliseconds), a schedule with
    /// no tick left, a job
    /// with a due time (`after`/`at`: a scheduled job is due at its ticks), an absolute
    /// deadline (`deadline_at`: use `deadline_after`, counted from each firing) or an
    /// idempotency key (each firing is a new job); a Redis error.
    pub fn schedule(&self, name: &str, schedule: &Schedule, job: Job) -> Result<()> {
        let bad = |why: &str| Err(Error::new(ErrorKind::BadJob { why: why.to_string() }));
        crate::QueueName::new(name).map_err(|_| {
            Error::new(ErrorKind::BadJob {
                why: format!("schedule name {name:?}: 1 to 128 ASCII letters, digits and - _ . :"),
            })
        })?;
        let spec = ScheduleSpec::of(schedule)?;
        let [kind, payload, pri, due, deadline, retry, idem, _] = job.to_args(self.max_payload())?;
        if !due.is_empty() {
            return bad("a scheduled job is due at its schedule's ticks: give it no after() or at()");
        }
        if deadline.first() == Some(&b'a') {
            return bad("a scheduled job's deadline must be relative to each firing: use deadline_after()");
        }
        if !idem.is_empty() {
            return bad("each firing is a new job: a scheduled job takes no idempotency key");
        }
        let now = self.redis_now()?;
        let Some(first) = schedule.first_tick(now) else {
            return bad("the schedule has no tick left (its until() has passed)");
        };
        let times = schedule.max_firings().map(|n| n.to_string()).unwrap_or_default();
        let spec_json = serde_json::to_string(&spec).expect("a spec serializes");
        self.conn().with("schedule", true, |c| {
            SCRIPTS
                .schedule
                .key(self.prefix())
                .arg(name)
                .arg("set")
                .arg(first.timestamp_millis())
                .arg(&spec_json)
                .arg(&kind)
                .arg(&payload)
                .arg(&pri)
                .arg(&deadline)
                .arg(&retry)
                .arg(&times)
                .invoke::<i64>(c)
        })?;
        Ok(())
    }

    /// Removes schedule `name`: no firing starts after this returns (jobs it already
    /// enqueued run as usual). Returns false if there was no such schedule.
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn unschedule(&self, name: &str) -> Result<bool> {
        let n: i64 = self.conn().with("unschedule", true, |c| {
            SCRIPTS.schedule.key(self.prefix()).arg(name).arg("del").invoke(c)
        })?;
        Ok(n > 0)
    }

    /// The schedules registered in this queue, with their next ticks and firing counts.
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn schedules(&self) -> Result<Vec<ScheduleInfo>> {
        let next: Vec<(String, f64)> = self.conn().with("schedules", true, |c| {
            redis::cmd("ZRANGE")
                .arg(format!("{}sched-next", self.prefix()))
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(c)
        })?;
        let next: HashMap<String, f64> = next.into_iter().collect();
        let names: HashMap<String, String> = self.conn().with("schedules", true, |c| {
            redis::cmd("HGETALL").arg(format!("{}scheds", self.prefix())).query(c)
        })?;
        let mut out = Vec::new();
        for (name, kind) in names {
            let key = format!("{}s:{name}", self.prefix());
            // Only the fields shown: the payload is opaque bytes, not text.
            let (fired, spec, broken): (Option<String>, Option<String>, Option<String>) =
                self.conn().with("schedules", true, |c| {
                    redis::cmd("HMGET").arg(&key).arg("fired").arg("spec").arg("err").query(c)
                })?;
            out.push(ScheduleInfo {
                next_tick_ms: next.get(&name).map(|t| *t as u64),
                kind,
                fired: fired.and_then(|f| f.parse().ok()).unwrap_or(0),
                spec: spec.unwrap_or_default(),
                broken,
                name,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Redis's clock, as a UTC time.
    fn redis_now(&self) -> Result<DateTime<Utc>> {
        let (s, us): (i64, i64) = self.conn().with("TIME", true, |c| redis::cmd("TIME").query(c))?;
        Ok(utc_of_ms(s * 1000 + us / 1000).expect("Redis's clock is a valid time"))
    }
}
