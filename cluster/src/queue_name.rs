//! Queue names and the key layout they produce.
//!
//! Every key of queue `q` starts with `kairos:{q}:`. The braces are a Redis Cluster hash
//! tag: all of a queue's keys hash to one slot, so each Lua script touches one slot, and
//! many queues spread over a cluster. Keys under the prefix:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `ready` | sorted set | jobs to run now, score `(63 - priority) * 2^46 + seq` |
//! | `delayed` | sorted set | jobs waiting for their due time (score: epoch ms) |
//! | `active` | sorted set | jobs held by a node, score: lease deadline (epoch ms) |
//! | `done` | sorted set | completed, cancelled and expired jobs kept for retention |
//! | `dead` | sorted set | jobs that failed for good, with their last error |
//! | `j:<id>` | hash | one job: kind, payload, priority, state, attempts, ... |
//! | `i:<key>` | string | an idempotency key, expiring after its window |
//! | `ids`, `seq` | string | job id counter, ready-order counter |
//! | `stats` | hash | exact cumulative counters (enqueued, completed, dead, ...) |
//! | `ev` | stream | events (completed, retry, dead, cancelled, expired, recovered), ~10,000 kept |
//! | `nodes`, `nodes-info` | sorted set, hash | live nodes by heartbeat deadline, what each said of itself |
//! | `wake` | pub/sub channel | "something may be ready sooner than you think" |
//! | `s:<name>`, `scheds`, `sched-next` | hash, hash, sorted set | a recurring schedule (spec, job template, firings), the names, the next ticks |
//!
//! `{q}:record` (outside the prefix, same hash tag) is the hash the built-in `record` kind
//! counts runs in.

use crate::error::{Error, ErrorKind, Result};

/// A validated queue name: 1 to 128 bytes of ASCII letters, digits and `-_.:`; no braces
/// (they would break the hash tag), no spaces or control characters.
///
/// ```
/// use kairos_cluster::QueueName;
///
/// assert_eq!(QueueName::new("emails.high")?.as_str(), "emails.high");
/// assert!(QueueName::new("bad{name}").unwrap_err().is_bad_queue_name());
/// assert!(QueueName::new("").is_err());
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueName(String);

impl QueueName {
    /// Checks `name` against the rules above.
    ///
    /// # Errors
    ///
    /// [`Error::is_bad_queue_name`], with the rule broken in the message.
    pub fn new(name: &str) -> Result<QueueName> {
        let refuse = |why| Err(Error::new(ErrorKind::BadQueueName { name: name.to_string(), why }));
        if name.is_empty() {
            return refuse("it is empty");
        }
        if name.len() > 128 {
            return refuse("it is longer than 128 bytes");
        }
        if name.contains(['{', '}']) {
            return refuse("braces would break the {hash tag} that keeps a queue in one cluster slot");
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
            return refuse("only ASCII letters, digits and - _ . : are allowed");
        }
        Ok(QueueName(name.to_string()))
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix every key of this queue starts with: `kairos:{name}:`.
    pub fn prefix(&self) -> String {
        format!("kairos:{{{}}}:", self.0)
    }

    /// The hash the built-in `record` kind counts runs in: `{name}:record`.
    pub fn record_key(&self) -> String {
        format!("{{{}}}:record", self.0)
    }

    /// The list the built-in `stamp` kind appends its start delays to: `{name}:stamps`.
    ///
    /// ```
    /// let q = kairos_cluster::QueueName::new("jobs").unwrap();
    /// assert_eq!(q.stamp_key(), "{jobs}:stamps");
    /// ```
    pub fn stamp_key(&self) -> String {
        format!("{{{}}}:stamps", self.0)
    }

    /// The pub/sub channel that wakes idle nodes.
    pub(crate) fn wake_channel(&self) -> String {
        format!("{}wake", self.prefix())
    }
}

impl std::fmt::Display for QueueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
