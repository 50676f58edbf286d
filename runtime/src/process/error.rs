//! Why a process run produced no [`ProcessOutput`](super::ProcessOutput): the error type
//! and its constructors.

use std::fmt;
use std::io;

/// Why [`Handle::spawn_process`](crate::Handle::spawn_process) produced no [`ProcessOutput`](super::ProcessOutput).
///
/// A process that ran and failed, or was killed at its timeout, is *not* an error: its
/// status is in the output. This error means the run itself could not happen or
/// complete: the timeout was zero, the program could not be started, or the runtime
/// could not collect the output or the exit status.
///
/// # Examples
///
/// ```
/// use kairos_rt::{Priority, Runtime};
/// use std::process::Command;
/// use std::time::Duration;
///
/// let rt = Runtime::builder().workers(1).build().unwrap();
/// let cmd = Command::new("no-such-program-kairos");
/// let err = rt.spawn_process(Priority::NORMAL, cmd, Duration::from_secs(1)).join().unwrap().unwrap_err();
/// assert!(err.is_start_failure());
/// assert_eq!(err.to_string(), "could not start `no-such-program-kairos`");
/// // Why: the io::Error is the source.
/// assert!(std::error::Error::source(&err).is_some());
/// ```
#[derive(Debug)]
pub struct ProcessError {
    program: String,
    kind: ErrorKind,
}

#[derive(Debug)]
enum ErrorKind {
    InvalidTimeout,
    Start(io::Error),
    /// `action` completes "could not {action} `program`".
    Io {
        action: &'static str,
        source: io::Error,
    },
}

impl ProcessError {
    pub(super) fn invalid_timeout(program: String) -> ProcessError {
        ProcessError { program, kind: ErrorKind::InvalidTimeout }
    }

    pub(super) fn start(program: &str, e: io::Error) -> ProcessError {
        ProcessError { program: program.to_owned(), kind: ErrorKind::Start(e) }
    }

    pub(super) fn io(program: &str, action: &'static str, source: io::Error) -> ProcessError {
        ProcessError { program: program.to_owned(), kind: ErrorKind::Io { action, source } }
    }

    /// The program could not be started (not found, not executable, ...); the cause is
    /// in [`io_error`](Self::io_error).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("/nonexistent/x"), Duration::from_secs(1));
    /// let err = h.join().unwrap().unwrap_err();
    /// assert!(err.is_start_failure());
    /// assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
    /// ```
    pub fn is_start_failure(&self) -> bool {
        matches!(self.kind, ErrorKind::Start(_))
    }

    /// The timeout was zero, which is refused: the process was not started.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::ZERO);
    /// assert!(h.join().unwrap().unwrap_err().is_invalid_timeout());
    /// ```
    pub fn is_invalid_timeout(&self) -> bool {
        matches!(self.kind, ErrorKind::InvalidTimeout)
    }

    /// The process started, but the runtime could not start a helper thread for it,
    /// read its output, wait for it or kill it (see [`io_error`](Self::io_error)). The
    /// process was killed (if it still ran) and reaped where possible.
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::ZERO);
    /// assert!(!h.join().unwrap().unwrap_err().is_io_failure());
    /// ```
    pub fn is_io_failure(&self) -> bool {
        matches!(self.kind, ErrorKind::Io { .. })
    }

    /// The program, as given to [`Command::new`](std::process::Command::new) (lossily converted to text).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("frobnicate"), Duration::ZERO);
    /// assert_eq!(h.join().unwrap().unwrap_err().program(), "frobnicate");
    /// ```
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The underlying I/O error, if there is one (same as
    /// [`source`](std::error::Error::source), typed).
    ///
    /// ```
    /// # use kairos_rt::{Priority, Runtime};
    /// # use std::{process::Command, time::Duration};
    /// # let rt = Runtime::builder().workers(1).build().unwrap();
    /// let h = rt.spawn_process(Priority::NORMAL, Command::new("true"), Duration::ZERO);
    /// assert!(h.join().unwrap().unwrap_err().io_error().is_none());
    /// ```
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.kind {
            ErrorKind::InvalidTimeout => None,
            ErrorKind::Start(e) | ErrorKind::Io { source: e, .. } => Some(e),
        }
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let program = &self.program;
        match &self.kind {
            ErrorKind::InvalidTimeout => write!(
                f,
                "spawn_process(`{program}`) was given a timeout of zero, which would kill the process \
                 before it starts; pass a positive timeout (Duration::MAX for no limit)"
            ),
            // The io error is the `source`, not repeated here.
            ErrorKind::Start(_) => write!(f, "could not start `{program}`"),
            ErrorKind::Io { action, .. } => write!(f, "could not {action} `{program}`"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io_error().map(|e| e as &(dyn std::error::Error + 'static))
    }
}
