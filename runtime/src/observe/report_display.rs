//! `Display` for [`ShutdownReport`]: one line a person reads at the end of a program.
//!
//! Format: `<submitted> tasks: <completed> completed[, <n> <outcome>]...[; <n> runtime
//! timers (<n> fired, ...)]; <balance>; shut down in <elapsed>`. Outcomes whose count is
//! zero are left out (completed is always shown), and so are the runtime's own timers
//! when there were none; then whether `shutdown_timeout` stopped waiting and how many
//! workers and blocking threads were not waited for, `balanced` if the counts balance, or what does not
//! (`NOT BALANCED: ...`).

use super::ShutdownReport;
use std::fmt;

impl fmt::Display for ShutdownReport {
    /// A one-line summary: the counts that are not zero, whether they balance, and how
    /// long shutdown took.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// rt.spawn(Priority::NORMAL, || ()).join().unwrap();
    /// rt.spawn_after(Duration::from_secs(3600), Priority::LOW, || ());
    /// let line = rt.shutdown().to_string();
    /// assert!(line.starts_with("2 tasks: 1 completed, 1 timer dropped; balanced; shut down in "), "{line}");
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
        write!(
            f,
            "{} {}: {} completed",
            self.submitted,
            plural(self.submitted, "task", "tasks"),
            self.completed
        )?;
        let others = [
            (self.panicked, "panicked", "panicked"),
            (self.cancelled, "cancelled", "cancelled"),
            (self.expired, "expired", "expired"),
            (self.run_timeouts, "timed out", "timed out"),
            (self.timers_dropped, "timer dropped", "timers dropped"),
            (self.futures_dropped, "future dropped", "futures dropped"),
            (self.rejected, "rejected", "rejected"),
            (self.unfinished, "unfinished", "unfinished"),
        ];
        for (n, one, many) in others {
            if n > 0 {
                write!(f, ", {n} {}", plural(n, one, many))?;
            }
        }
        let timers = &self.runtime_timers;
        if timers.submitted > 0 {
            write!(f, "; {} runtime {}", timers.submitted, plural(timers.submitted, "timer", "timers"))?;
            let parts = [
                (timers.fired, "fired"),
                (timers.cancelled, "cancelled"),
                (timers.dropped, "dropped"),
                (timers.refused, "refused"),
            ];
            let mut sep = " (";
            for (n, what) in parts {
                if n > 0 {
                    write!(f, "{sep}{n} {what}")?;
                    sep = ", ";
                }
            }
            if sep == ", " {
                f.write_str(")")?;
            }
        }
        if self.timed_out {
            f.write_str("; shutdown_timeout stopped waiting")?;
        }
        if self.unjoined_workers > 0 {
            let n = self.unjoined_workers as u64;
            write!(f, "; {n} {} not waited for", plural(n, "worker", "workers"))?;
        }
        if self.unjoined_blocking_threads > 0 {
            let n = self.unjoined_blocking_threads as u64;
            write!(f, "; {n} blocking {} not waited for", plural(n, "thread", "threads"))?;
        }
        if self.is_balanced() {
            f.write_str("; balanced")?;
        }
        for problem in self.imbalances() {
            write!(f, "; NOT BALANCED: {problem}")?;
        }
        write!(f, "; shut down in {:.1?}", self.elapsed)
    }
}

impl ShutdownReport {
    /// What keeps the counts from balancing, in words (nothing for a balanced report).
    fn imbalances(&self) -> Vec<String> {
        let plural = |n: u64, what: &str| if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") };
        let mut problems = Vec::new();
        let accounted = self.accounted();
        let all_waited_for = self.unjoined_workers + self.unjoined_blocking_threads == 0;
        if accounted < self.submitted {
            problems.push(format!("{} missing", plural(self.submitted - accounted, "task")));
        } else if accounted > self.submitted {
            problems.push(format!("{} counted twice", plural(accounted - self.submitted, "task")));
        } else if all_waited_for && self.unfinished > 0 {
            problems.push(format!("{} unfinished although every thread was waited for", self.unfinished));
        } else if self.unjoined_workers == 0 && self.unfinished != self.blocking_unfinished {
            problems.push(format!(
                "{} unfinished but {} left in the blocking pool",
                self.unfinished, self.blocking_unfinished
            ));
        }
        let timers = &self.runtime_timers;
        if timers.ended() > timers.submitted {
            problems.push(format!(
                "{} counted twice",
                plural(timers.ended() - timers.submitted, "runtime timer")
            ));
        } else if all_waited_for && timers.unaccounted() > 0 {
            problems.push(format!("{} unaccounted", plural(timers.unaccounted(), "runtime timer")));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report() -> ShutdownReport {
        ShutdownReport { elapsed: Duration::from_micros(12_345), ..ShutdownReport::default() }
    }

    #[test]
    fn an_empty_runtime() {
        assert_eq!(report().to_string(), "0 tasks: 0 completed; balanced; shut down in 12.3ms");
    }

    #[test]
    fn every_outcome_that_happened_is_named_and_zeros_are_left_out() {
        let r = ShutdownReport {
            submitted: 18,
            completed: 10,
            panicked: 1,
            cancelled: 2,
            expired: 0,
            run_timeouts: 1,
            timers_dropped: 1,
            futures_dropped: 2,
            rejected: 1,
            ..report()
        };
        assert!(r.is_balanced());
        assert_eq!(
            r.to_string(),
            "18 tasks: 10 completed, 1 panicked, 2 cancelled, 1 timed out, 1 timer dropped, \
             2 futures dropped, 1 rejected; balanced; shut down in 12.3ms"
        );
    }

    #[test]
    fn a_timed_out_shutdown_says_so_and_counts_the_unfinished() {
        let r = ShutdownReport {
            submitted: 5,
            completed: 2,
            unfinished: 3,
            timed_out: true,
            unjoined_workers: 1,
            unjoined_blocking_threads: 2,
            ..report()
        };
        assert_eq!(
            r.to_string(),
            "5 tasks: 2 completed, 3 unfinished; shutdown_timeout stopped waiting; 1 worker not waited for; \
             2 blocking threads not waited for; balanced; shut down in 12.3ms"
        );
    }

    #[test]
    fn runtime_timers_are_summed_apart() {
        let mut r = ShutdownReport { submitted: 1, completed: 1, ..report() };
        r.runtime_timers.submitted = 5;
        r.runtime_timers.fired = 3;
        r.runtime_timers.cancelled = 2;
        assert_eq!(
            r.to_string(),
            "1 task: 1 completed; 5 runtime timers (3 fired, 2 cancelled); balanced; shut down in 12.3ms"
        );
        r.runtime_timers.cancelled = 1;
        assert!(
            r.to_string().ends_with("; NOT BALANCED: 1 runtime timer unaccounted; shut down in 12.3ms"),
            "{r}"
        );
    }

    #[test]
    fn counts_that_do_not_balance_are_flagged() {
        let missing = ShutdownReport { submitted: 4, completed: 3, ..report() };
        assert!(missing.to_string().contains("; NOT BALANCED: 1 task missing;"), "{missing}");
        let twice = ShutdownReport { submitted: 1, completed: 3, ..report() };
        assert!(twice.to_string().contains("; NOT BALANCED: 2 tasks counted twice;"), "{twice}");
        let lost = ShutdownReport { submitted: 1, unfinished: 1, ..report() };
        assert!(
            lost.to_string().contains("NOT BALANCED: 1 unfinished although every thread was waited for"),
            "{lost}"
        );
        assert!(!lost.to_string().contains("; balanced"), "{lost}");
    }
}
