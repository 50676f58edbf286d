//! [`ScheduleError`]: why a schedule could not be made or started.
//!
//! Every bad input to a schedule is refused here, at creation, with a message that says
//! what was wrong; nothing about a schedule can fail later inside a worker.

use std::fmt;

/// Why a [`Schedule`](crate::Schedule) or an [`Interval`](crate::time::Interval) could not
/// be made, or a schedule could not be started.
///
/// The `Display` text says what was wrong and, for a cron expression, which field.
///
/// ```
/// use kairos_rt::Schedule;
/// use std::time::Duration;
///
/// let err = Schedule::every(Duration::ZERO).unwrap_err();
/// assert!(err.is_invalid());
/// assert!(err.to_string().contains("zero"), "{err}");
///
/// let err = Schedule::cron("0 0 31 2 *").unwrap_err();
/// assert!(err.to_string().contains("never"), "{err}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    /// Bad input: the message says what and why.
    Invalid(String),
    /// The runtime is shut down; the schedule was not started.
    Shutdown,
}

impl ScheduleError {
    pub(crate) fn invalid(message: impl Into<String>) -> ScheduleError {
        ScheduleError { kind: Kind::Invalid(message.into()) }
    }

    pub(crate) fn shutdown() -> ScheduleError {
        ScheduleError { kind: Kind::Shutdown }
    }

    /// Whether the schedule itself was bad input (a zero period, an invalid or
    /// never-firing cron expression, an unknown time zone, ...).
    ///
    /// ```
    /// assert!(kairos_rt::Schedule::cron("61 * * * *").unwrap_err().is_invalid());
    /// ```
    pub fn is_invalid(&self) -> bool {
        matches!(self.kind, Kind::Invalid(_))
    }

    /// Whether the schedule was refused because its runtime is shut down.
    ///
    /// ```
    /// use kairos_rt::{Priority, Runtime, Schedule};
    /// use std::time::Duration;
    ///
    /// let rt = Runtime::builder().workers(1).build()?;
    /// let handle = rt.handle();
    /// drop(rt.shutdown());
    /// let every = Schedule::every(Duration::from_secs(1)).unwrap();
    /// assert!(handle.spawn_recurring(every, Priority::NORMAL, || ()).unwrap_err().is_shutdown());
    /// # Ok::<(), kairos_rt::BuildError>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        matches!(self.kind, Kind::Shutdown)
    }
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Invalid(message) => write!(f, "invalid schedule: {message}"),
            Kind::Shutdown => f.write_str("the runtime is shut down; the schedule was not started"),
        }
    }
}

impl std::error::Error for ScheduleError {}
