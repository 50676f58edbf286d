//! The queue's event stream (`kairos:{q}:ev`, about the last 10,000 events): what became
//! of jobs, for any process that wants to know without polling each job.

use crate::connection::COMMAND_TIMEOUT;
use crate::error::Result;
use crate::job::JobId;
use crate::queue::Queue;
use redis::Value;
use std::time::Duration;

/// One event: a job completed, was retried, died, was cancelled, expired, or was
/// recovered after its node lost the lease. See [`Queue::events`] for an example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The stream entry id (`<ms>-<seq>`), to resume from.
    pub stream_id: String,
    /// `completed`, `retry`, `dead`, `cancelled`, `expired` or `recovered`.
    pub kind: String,
    /// The job.
    pub job: JobId,
    /// The error, for `retry` and `dead`.
    pub error: Option<String>,
}

/// The id of the last entry in an XREAD reply, if any.
pub(crate) fn last_id(reply: &Value) -> Option<String> {
    parse(reply).last().map(|e| e.stream_id.clone())
}

/// The entries of an XREAD reply for one stream.
fn parse(reply: &Value) -> Vec<Event> {
    let mut out = Vec::new();
    let streams = match reply {
        Value::Array(s) => s.as_slice(),
        Value::Map(m) => return m.iter().flat_map(|(_, v)| entries(v)).collect(),
        _ => return out,
    };
    for s in streams {
        if let Value::Array(pair) = s {
            if let Some(v) = pair.get(1) {
                out.extend(entries(v));
            }
        }
    }
    out
}

fn entries(v: &Value) -> Vec<Event> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let mut out = Vec::new();
    let Value::Array(list) = v else { return out };
    for e in list {
        let Value::Array(parts) = e else { continue };
        let (Some(id), Some(Value::Array(fields))) = (parts.first().and_then(text), parts.get(1)) else {
            continue;
        };
        let mut ev = Event { stream_id: id, kind: String::new(), job: JobId(0), error: None };
        for kv in fields.chunks(2) {
            let (Some(k), Some(val)) = (kv.first().and_then(text), kv.get(1).and_then(text)) else {
                continue;
            };
            match k.as_str() {
                "e" => ev.kind = val,
                "id" => ev.job = JobId(val.parse().unwrap_or(0)),
                "err" => ev.error = Some(val),
                _ => {}
            }
        }
        out.push(ev);
    }
    out
}

impl Queue {
    /// The stream id of the newest event (`"0-0"` if there is none): where to start
    /// following only the events to come, with [`events`](Self::events). (Passing `"$"`
    /// to each call instead would miss the events that come between two calls.)
    ///
    /// ```no_run
    /// # let queue = kairos_cluster::Client::connect("redis://127.0.0.1/")?.queue("q")?;
    /// let from = queue.last_event_id()?;
    /// let next = queue.events(&from, 100, std::time::Duration::from_secs(1))?;
    /// # Ok::<(), kairos_cluster::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn last_event_id(&self) -> Result<String> {
        self.last_event_id_for("events")
    }

    /// [`last_event_id`](Self::last_event_id), naming the step `what` in an error.
    pub(crate) fn last_event_id_for(&self, what: &str) -> Result<String> {
        let key = format!("{}ev", self.prefix());
        let last: Vec<(String, Vec<Value>)> = self.conn().with(what, true, |c| {
            redis::cmd("XREVRANGE").arg(&key).arg("+").arg("-").arg("COUNT").arg(1).query(c)
        })?;
        Ok(last.into_iter().next().map_or_else(|| "0-0".to_string(), |(id, _)| id))
    }

    /// Reads the events after stream id `after` (`"0"` for the oldest kept,
    /// [`last_event_id`](Self::last_event_id) for only those to come), waiting up to
    /// `block` for the first one; at most `count`.
    ///
    /// ```no_run
    /// # let queue = kairos_cluster::Client::connect("redis://127.0.0.1/")?.queue("q")?;
    /// let mut from = queue.last_event_id()?;
    /// loop {
    ///     for e in queue.events(&from, 100, std::time::Duration::from_secs(1))? {
    ///         println!("job {} {}", e.job, e.kind);
    ///         from = e.stream_id;
    ///     }
    /// }
    /// # Ok::<(), kairos_cluster::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A Redis error.
    pub fn events(&self, after: &str, count: usize, block: Duration) -> Result<Vec<Event>> {
        let key = format!("{}ev", self.prefix());
        let ms = block.as_millis().clamp(1, u64::MAX as u128) as u64;
        let reply: Value = self.conn().with("events", true, |c| {
            // The reply may take the whole block: wait for it that long, and more.
            let timeout = Duration::from_millis(ms).saturating_add(COMMAND_TIMEOUT);
            c.set_reply_timeout(timeout)?;
            let reply = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(count.max(1))
                .arg("BLOCK")
                .arg(ms)
                .arg("STREAMS")
                .arg(&key)
                .arg(after)
                .query(c);
            c.set_reply_timeout(COMMAND_TIMEOUT)?;
            reply
        })?;
        Ok(parse(&reply))
    }
}
