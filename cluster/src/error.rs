//! The one error type of the crate: what went wrong, and against which Redis.

use std::fmt;

/// What went wrong in a call to Redis or with its input. Its `Display` names the Redis
/// URL where one was involved and says what to do where there is something to do.
///
/// ```
/// use kairos_cluster::Client;
///
/// // Nothing listens on port 1: the error names the URL.
/// let err = Client::connect("redis://127.0.0.1:1/").unwrap_err();
/// assert!(err.is_unreachable());
/// assert!(err.to_string().contains("redis://127.0.0.1:1/"), "{err}");
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    source: Option<redis::RedisError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The URL could not be parsed or names an unsupported scheme.
    BadUrl { url: String, why: String },
    /// No connection could be made (refused, timed out, name not found).
    Unreachable { url: String },
    /// The server refused our credentials.
    Auth { url: String },
    /// The server refuses a command we need (ACL), or has no scripting.
    Forbidden { url: String, what: String },
    /// A call failed after connecting (connection lost, server error).
    Redis { url: String, what: String },
    /// A queue name that would break the key layout.
    BadQueueName { name: String, why: &'static str },
    /// A job that cannot be enqueued as given.
    BadJob { why: String },
    /// A node or wait configuration that makes no sense.
    BadConfig { why: String },
    /// `wait` gave up before the job finished.
    WaitTimedOut { id: u64 },
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind, source: None }
    }

    pub(crate) fn with_source(kind: ErrorKind, source: redis::RedisError) -> Error {
        Error { kind, source: Some(source) }
    }

    /// Classifies a Redis error met while talking to `url` during `what`.
    pub(crate) fn from_redis(url: &str, what: &str, e: redis::RedisError) -> Error {
        let url = url.to_string();
        let code = e.code().unwrap_or("");
        let kind = if code == "NOPERM" {
            ErrorKind::Forbidden { url, what: format!("{what}: {}", e.detail().unwrap_or("no permission")) }
        } else if code == "WRONGPASS"
            || code == "NOAUTH"
            || e.kind() == redis::ErrorKind::AuthenticationFailed
        {
            ErrorKind::Auth { url }
        } else if e.is_connection_refusal() || (e.is_io_error() && what == "connect") {
            ErrorKind::Unreachable { url }
        } else {
            ErrorKind::Redis { url, what: what.to_string() }
        };
        Error::with_source(kind, e)
    }

    /// True if no connection to Redis could be made (refused, timed out, unknown host).
    pub fn is_unreachable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unreachable { .. })
    }

    /// True if the server refused the credentials (`WRONGPASS`, `NOAUTH`).
    pub fn is_auth(&self) -> bool {
        matches!(self.kind, ErrorKind::Auth { .. })
    }

    /// True if the server refuses a command the queue needs (an ACL rule, or scripting
    /// disabled).
    pub fn is_forbidden(&self) -> bool {
        matches!(self.kind, ErrorKind::Forbidden { .. })
    }

    /// True if the URL could not be used.
    pub fn is_bad_url(&self) -> bool {
        matches!(self.kind, ErrorKind::BadUrl { .. })
    }

    /// True if a queue name was refused.
    pub fn is_bad_queue_name(&self) -> bool {
        matches!(self.kind, ErrorKind::BadQueueName { .. })
    }

    /// True if a job was refused before reaching Redis (payload too large, bad retry
    /// policy, priority out of range...).
    pub fn is_bad_job(&self) -> bool {
        matches!(self.kind, ErrorKind::BadJob { .. })
    }

    /// True if a configuration value was refused.
    pub fn is_bad_config(&self) -> bool {
        matches!(self.kind, ErrorKind::BadConfig { .. })
    }

    /// True if a [`Queue::wait`](crate::Queue::wait) gave up before the job finished.
    pub fn is_wait_timed_out(&self) -> bool {
        matches!(self.kind, ErrorKind::WaitTimedOut { .. })
    }

    /// True if the error came from Redis after connecting (a lost connection, a server
    /// error). Whether trying again may help: [`is_transient`](Self::is_transient).
    pub fn is_redis(&self) -> bool {
        matches!(self.kind, ErrorKind::Redis { .. })
    }

    /// True if the same call may succeed later: Redis could not be reached, or the
    /// connection failed, or the server refused for a passing reason (loading its data,
    /// out of memory, busy with a script, in a failover, short of replicas, a failed
    /// snapshot). False for a refusal that will not pass by itself (a database index it
    /// does not have, a script it rejects, a key of the wrong type, bad credentials).
    ///
    /// ```
    /// use kairos_cluster::Client;
    ///
    /// let err = Client::connect("redis://127.0.0.1:1/").unwrap_err();
    /// assert!(err.is_transient()); // nothing listens there yet
    /// ```
    pub fn is_transient(&self) -> bool {
        match &self.kind {
            ErrorKind::Unreachable { .. } => true,
            ErrorKind::Redis { .. } => self.source.as_ref().is_some_and(crate::connection::transient),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::BadUrl { url, why } => write!(f, "cannot use Redis URL {url:?}: {why}"),
            ErrorKind::Unreachable { url } => match &self.source {
                Some(src) => write!(f, "cannot reach Redis at {url} ({src}): is redis-server running there?"),
                None => write!(f, "cannot reach Redis at {url}: is redis-server running there?"),
            },
            ErrorKind::Auth { url } => {
                write!(f, "Redis at {url} refused the credentials: check the user and password in the URL")
            }
            ErrorKind::Forbidden { url, what } => write!(
                f,
                "Redis at {url} refuses a command kairos-cluster needs ({what}): the user needs EVALSHA, \
                 SCRIPT, PUBLISH, SUBSCRIBE and the hash, sorted set and stream commands on keys \
                 kairos:{{q}}:* and {{q}}:record, and the channel kairos:{{q}}:wake, for each queue q"
            ),
            ErrorKind::Redis { url, what } => write!(f, "Redis at {url} failed during {what}"),
            ErrorKind::BadQueueName { name, why } => write!(f, "queue name {name:?} refused: {why}"),
            ErrorKind::BadJob { why } => write!(f, "job refused: {why}"),
            ErrorKind::BadConfig { why } => write!(f, "configuration refused: {why}"),
            ErrorKind::WaitTimedOut { id } => write!(f, "job {id} had not finished when the wait ran out"),
        }?;
        if let Some(src) = &self.source {
            if !matches!(self.kind, ErrorKind::Unreachable { .. }) {
                write!(f, " ({src})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
