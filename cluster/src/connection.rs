//! Connecting to Redis: URLs, single servers and clusters, the checks made at connect,
//! and one reconnecting connection per user.
//!
//! A URL is `redis://[user:pass@]host:port[/db]`, `rediss://...` (TLS, with the crate's
//! `tls` feature), or `redis+unix:///path/to.sock[?db=N&pass=P]`. Several `redis://` URLs
//! separated by commas are the seed nodes of a Redis Cluster.
//!
//! At connect the client pings the server and loads every script, so a wrong password, an
//! ACL that forbids a command, or a Redis without scripting is a clear [`Error`] then,
//! not a failure at the first job.

use crate::error::{Error, ErrorKind, Result};
use crate::scripts::SCRIPTS;
use redis::{ConnectionLike, RedisResult, Value};
use std::sync::Mutex;
use std::time::Duration;

/// How long a connection attempt may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a command may wait for its reply (beyond any time it asks Redis to block)
/// before the server counts as unresponsive (paused, or behind a network that drops
/// packets): the call fails and its connection is dropped, instead of waiting for ever.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Where Redis is: one server, or the seed nodes of a cluster.
#[derive(Clone)]
pub(crate) enum Target {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

/// A live connection to a single server or to a cluster.
pub(crate) enum Conn {
    Single(redis::Connection),
    Cluster(Box<redis::cluster::ClusterConnection>),
}

impl Conn {
    /// How long a command on this connection waits for its reply (and for its request to
    /// be written) before it fails: [`COMMAND_TIMEOUT`], or more around a command that
    /// asks Redis to block.
    pub(crate) fn set_reply_timeout(&self, timeout: Duration) -> RedisResult<()> {
        match self {
            Conn::Single(c) => {
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))
            }
            Conn::Cluster(c) => {
                c.set_read_timeout(Some(timeout))?;
                c.set_write_timeout(Some(timeout))
            }
        }
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }
    fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }
    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
    fn check_connection(&mut self) -> bool {
        match self {
            Conn::Single(c) => c.check_connection(),
            Conn::Cluster(c) => c.check_connection(),
        }
    }
    fn is_open(&self) -> bool {
        match self {
            Conn::Single(c) => c.is_open(),
            Conn::Cluster(c) => c.is_open(),
        }
    }
}

/// A parsed, reachable Redis: what every [`Queue`](crate::Queue) and
/// [`Node`](crate::Node) talks to. Cheap to clone (clones share nothing but the URL and
/// settings; each opens its own connections).
///
/// ```no_run
/// use kairos_cluster::Client;
///
/// let client = Client::connect("redis://127.0.0.1:6379/")?;
/// let queue = client.queue("emails")?;
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    url: String,
    target: Target,
    /// The seed URLs as given (passwords included), for the subscriber.
    seeds: Vec<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.target {
            Target::Single(_) => "single",
            Target::Cluster(_) => "cluster",
        };
        f.debug_struct("Client").field("url", &redact(&self.url)).field("kind", &kind).finish()
    }
}

/// `url` with any password replaced by `***` (`user:pass@` and a `pass=` query
/// parameter), for messages and `Debug`.
pub(crate) fn redact(url: &str) -> String {
    url.split(',')
        .map(redact_query)
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let cred = &u[s + 3..at];
                match cred.find(':') {
                    Some(c) => format!("{}{}:***{}", &u[..s + 3], &cred[..c], &u[at..]),
                    None => u.to_string(),
                }
            }
            _ => u.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `u` with the value of a `pass=` query parameter replaced by `***`.
fn redact_query(u: &str) -> String {
    let Some(q) = u.find('?') else { return u.to_string() };
    let params: Vec<String> = u[q + 1..]
        .split('&')
        .map(|p| {
            if p.starts_with("pass=") || p.starts_with("password=") {
                format!("{}=***", &p[..p.find('=').unwrap()])
            } else {
                p.to_string()
            }
        })
        .collect();
    format!("{}?{}", &u[..q], params.join("&"))
}

impl Client {
    /// Parses `url`, connects, pings, and loads the scripts.
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_url`] for a URL that cannot be used, [`Error::is_unreachable`] when
    /// nothing answers, [`Error::is_auth`] for refused credentials, and
    /// [`Error::is_forbidden`] when an ACL or a Redis without scripting refuses what the
    /// queues need. Each message names the URL (with the password hidden).
    pub fn connect(url: &str) -> Result<Client> {
        let client = Client::open(url)?;
        let mut conn = client.conn()?;
        client.check(&mut conn)?;
        Ok(client)
    }

    /// Parses `url` without connecting (a node started before its Redis uses this and
    /// keeps retrying).
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_url`].
    pub fn open(url: &str) -> Result<Client> {
        let shown = redact(url);
        let bad = |why: String| Error::new(ErrorKind::BadUrl { url: shown.clone(), why });
        let urls: Vec<&str> = url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
        if urls.is_empty() {
            return Err(bad("it is empty".into()));
        }
        for u in &urls {
            if u.starts_with("rediss://") && !cfg!(feature = "tls") {
                return Err(bad("rediss:// needs kairos-cluster built with its `tls` feature".into()));
            }
            if !(u.starts_with("redis://")
                || u.starts_with("rediss://")
                || u.starts_with("redis+unix://")
                || u.starts_with("unix://"))
            {
                return Err(bad("the scheme must be redis://, rediss:// or redis+unix://".into()));
            }
        }
        let target = if urls.len() == 1 {
            Target::Single(redis::Client::open(urls[0]).map_err(|e| bad(e.to_string()))?)
        } else {
            let c = redis::cluster::ClusterClient::builder(urls.iter().copied())
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(COMMAND_TIMEOUT)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            Target::Cluster(c)
        };
        Ok(Client { url: shown, target, seeds: urls.iter().map(|u| u.to_string()).collect() })
    }

    /// The URL, with any password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True if this client talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// A handle on queue `name` (no round trip).
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_queue_name`] for a name that would break the key layout.
    pub fn queue(&self, name: &str) -> Result<crate::Queue> {
        crate::Queue::new(self.clone(), crate::QueueName::new(name)?)
    }

    /// A new connection (no checks beyond the connection itself).
    pub(crate) fn conn(&self) -> Result<Conn> {
        let e = |e| Error::from_redis(&self.url, "connect", e);
        let conn = match &self.target {
            Target::Single(c) => Conn::Single(c.get_connection_with_timeout(CONNECT_TIMEOUT).map_err(e)?),
            Target::Cluster(c) => Conn::Cluster(Box::new(c.get_connection().map_err(e)?)),
        };
        conn.set_reply_timeout(COMMAND_TIMEOUT).map_err(e)?;
        Ok(conn)
    }

    /// A plain connection to one server that can subscribe: the server itself, or the
    /// first seed of a cluster (a cluster delivers every PUBLISH to every node).
    pub(crate) fn subscriber(&self) -> Result<redis::Connection> {
        let e = |e| Error::from_redis(&self.url, "connect", e);
        match &self.target {
            Target::Single(c) => c.get_connection_with_timeout(CONNECT_TIMEOUT).map_err(e),
            Target::Cluster(_) => {
                let mut last = None;
                for seed in &self.seeds {
                    match redis::Client::open(seed.as_str())
                        .and_then(|c| c.get_connection_with_timeout(CONNECT_TIMEOUT))
                    {
                        Ok(c) => return Ok(c),
                        Err(err) => last = Some(err),
                    }
                }
                Err(e(last.expect("a cluster has at least one seed")))
            }
        }
    }

    /// Pings and loads every script; classifies what fails.
    pub(crate) fn check(&self, conn: &mut Conn) -> Result<()> {
        redis::cmd("PING").query::<String>(conn).map_err(|e| Error::from_redis(&self.url, "connect", e))?;
        for s in SCRIPTS.all() {
            if let Err(e) = load(s, conn) {
                let scripting_off =
                    e.code() == Some("ERR") && e.detail().is_some_and(|d| d.contains("unknown command"));
                if scripting_off {
                    return Err(Error::with_source(
                        ErrorKind::Forbidden {
                            url: self.url.clone(),
                            what: "SCRIPT LOAD: no Lua scripting".into(),
                        },
                        e,
                    ));
                }
                return Err(Error::from_redis(&self.url, "SCRIPT LOAD", e));
            }
        }
        Ok(())
    }
}

fn load(s: &redis::Script, conn: &mut Conn) -> RedisResult<()> {
    match conn {
        Conn::Single(c) => s.prepare_invoke().load(c).map(drop),
        // A cluster loads scripts on the node that first needs them (EVALSHA falls back
        // to EVAL); here only check that scripting answers at all.
        Conn::Cluster(c) => {
            redis::cmd("SCRIPT").arg("EXISTS").arg(s.get_hash()).query::<Vec<i64>>(&mut **c).map(drop)
        }
    }
}

/// One connection that reconnects on its own: the first use, and the first use after a
/// failure, opens a new one. Shared by the callers of one [`Queue`](crate::Queue).
pub(crate) struct Reconnecting {
    client: Client,
    conn: Mutex<Option<Conn>>,
    /// What its calls are about (`queue "jobs"`), named in their errors.
    scope: String,
}

impl Reconnecting {
    /// A connection for calls about `scope` (a phrase such as `queue "jobs"`).
    pub(crate) fn new(client: Client, scope: String) -> Reconnecting {
        Reconnecting { client, conn: Mutex::new(None), scope }
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Runs `f` on the connection (opening one if needed), naming the step `what` and
    /// the scope in an error. A failure that leaves the connection unusable drops it, so the next call
    /// reconnects. When `repeatable` (the call does the same thing twice as once: a read,
    /// a cancel, an enqueue with an idempotency key), a call whose connection turns out
    /// to be dead (Redis restarted while it sat idle) is tried once more on a fresh one.
    pub(crate) fn with<T>(
        &self,
        what: &str,
        repeatable: bool,
        f: impl Fn(&mut Conn) -> RedisResult<T>,
    ) -> Result<T> {
        let mut slot = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        for attempt in 0..2 {
            if slot.is_none() {
                *slot = Some(self.client.conn()?);
            }
            let conn = slot.as_mut().expect("just set");
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let dropped = e.is_io_error() || e.is_connection_dropped() || !conn.is_open();
                    if dropped {
                        *slot = None;
                    }
                    if !(dropped && repeatable && attempt == 0) {
                        return Err(Error::from_redis(
                            &self.client.url,
                            &format!("{what} on {}", self.scope),
                            e,
                        ));
                    }
                }
            }
        }
        unreachable!("the loop returns")
    }
}

/// Whether Redis refused for a passing reason: the connection (dropped, refused, timed
/// out), or the server loading its data (`LOADING`), out of memory under `noeviction`
/// (`OOM`), busy with a script (`BUSY`), in a failover (`TRYAGAIN`, `CLUSTERDOWN`,
/// `MASTERDOWN`, `READONLY`), short of the replicas `min-replicas-to-write` asks for
/// (`NOREPLICAS`), or refusing writes since a snapshot failed (`MISCONF`, until the
/// disk is fixed): the same call may succeed later. The keeper sends outcomes
/// refused so again; the fetcher tries due schedules again.
pub(crate) fn transient(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.code().is_some_and(passing_code)
        || refused_inside_script(e)
}

/// The error codes of a refusal that passes by itself (see [`transient`]).
fn passing_code(code: &str) -> bool {
    matches!(
        code,
        "LOADING"
            | "OOM"
            | "BUSY"
            | "TRYAGAIN"
            | "CLUSTERDOWN"
            | "MASTERDOWN"
            | "READONLY"
            | "NOREPLICAS"
            | "MISCONF"
    )
}

/// Whether a script failed at a write that Redis refused for a passing reason. Redis 7
/// keeps the refusal's own code; Redis 6.2 checks a script's writes only as it runs them
/// and wraps the refusal in an `ERR Error running script (call to f_...):
/// @user_script:N: NOREPLICAS ...`, so the code is found in the text.
fn refused_inside_script(e: &redis::RedisError) -> bool {
    // Only Redis's own wrapper, read by its shape (user text quoted in another error,
    // an idempotency key say, could hold the same words):
    // `Error running script (call to f_<sha>): @user_script:<line>: <CODE> ...`.
    let Some(rest) = e.detail().and_then(|d| d.strip_prefix("Error running script (call to ")) else {
        return false;
    };
    let Some((_, after)) = rest.split_once("): @user_script:") else { return false };
    let Some((line, message)) = after.split_once(':') else { return false };
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let code = message.trim_start().trim_start_matches('-').split_whitespace().next().unwrap_or("");
    passing_code(code)
}

#[cfg(test)]
mod tests {
    use super::{redact, transient};

    /// Redis 6.2 wraps a refusal met inside a script in `ERR Error running script`.
    #[test]
    fn a_passing_refusal_inside_a_script_is_transient_on_redis_6_too() {
        // As the server sends it: `-ERR <detail>`.
        let wrapped = |detail: &str| -> redis::RedisError {
            match redis::parse_redis_value(format!("-ERR {detail}\r\n").as_bytes()).unwrap() {
                redis::Value::ServerError(e) => e.into(),
                other => panic!("not an error reply: {other:?}"),
            }
        };
        let replicas = wrapped("Error running script (call to f_3e1a): @user_script:12: NOREPLICAS Not enough good replicas to write.");
        assert!(transient(&replicas), "{replicas}");
        let misconf = wrapped("Error running script (call to f_3e1a): @user_script:9: -MISCONF Redis is configured to save RDB snapshots");
        assert!(transient(&misconf), "{misconf}");
        let wrong_type = wrapped("Error running script (call to f_3e1a): @user_script:3: WRONGTYPE Operation against a key holding the wrong kind of value");
        assert!(!transient(&wrong_type), "{wrong_type}");
        let plain = wrapped("unknown command 'FOO'");
        assert!(!transient(&plain), "{plain}");
        // User text holding the words is not the wrapper (from a review).
        let quoted = wrapped("idempotency key kairos:{q}:i:Error running script BUSY holds no job id");
        assert!(!transient(&quoted), "{quoted}");
        let quoted = wrapped("Error running script BUSY");
        assert!(!transient(&quoted), "{quoted}");
        let quoted = wrapped("Error running script (call to f_3e1a): @user_script:3: WRONGTYPE key i:OOM");
        assert!(!transient(&quoted), "{quoted}");
    }

    #[test]
    fn passwords_are_hidden_wherever_the_url_carries_them() {
        assert_eq!(redact("redis://u:secret@h:1/"), "redis://u:***@h:1/");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?db=0&pass=secret"),
            "redis+unix:///tmp/r.sock?db=0&pass=***"
        );
        assert_eq!(redact("redis://:a@h:1/,redis://:b@h:2/"), "redis://:***@h:1/,redis://:***@h:2/");
        assert_eq!(redact("redis://h:1/"), "redis://h:1/");
    }
}
