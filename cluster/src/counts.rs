//! [`QueueCounts`]: one consistent reading of a queue (one script, one instant).

use redis::Value;
use serde::Serialize;
use std::collections::BTreeMap;

/// Counts of one queue, read atomically by [`Queue::counts`](crate::Queue::counts).
///
/// ```no_run
/// # let queue = kairos_cluster::Client::connect("redis://127.0.0.1/")?.queue("q")?;
/// let c = queue.counts()?;
/// println!("{} waiting ({} due later), {} running on {} nodes", c.ready, c.delayed, c.running, c.nodes);
/// println!("urgent backlog: {}", c.ready_by_priority.range(48..).map(|(_, n)| n).sum::<u64>());
/// # Ok::<(), kairos_cluster::Error>(())
/// ```
///
/// The live counts (`ready`, `delayed`, `running`) and the kept records (`dead`,
/// `finished_kept`) are set sizes now; the `total_*` counters are exact cumulative counts
/// since the queue was created, kept however many records retention has trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Redis's clock at the reading (epoch ms).
    pub now_ms: u64,
    /// Jobs waiting for a node.
    pub ready: u64,
    /// Jobs waiting for their due time (or a retry's backoff).
    pub delayed: u64,
    /// Jobs held by nodes under a lease.
    pub running: u64,
    /// Dead jobs kept for inspection or requeue.
    pub dead: u64,
    /// Completed, cancelled and expired records still kept.
    pub finished_kept: u64,
    /// Live nodes (heartbeat not run out).
    pub nodes: u64,
    /// Ever enqueued (duplicates by idempotency key not counted).
    pub total_enqueued: u64,
    /// Ever completed.
    pub total_completed: u64,
    /// Ever dead-lettered.
    pub total_dead: u64,
    /// Ever cancelled.
    pub total_cancelled: u64,
    /// Ever expired (start deadline passed).
    pub total_expired: u64,
    /// Failed attempts that were retried.
    pub total_retried: u64,
    /// Jobs put back to ready after their lease ran out (crashed or hung nodes).
    pub total_recovered: u64,
    /// Unstarted jobs handed back: by nodes that stopped, and by nodes whose claim's
    /// reply was lost (they hand back what that claim took once they reach Redis again).
    pub total_handed_back: u64,
    /// Acks refused because the node had lost the job's lease (fencing).
    pub total_stale_acks: u64,
    /// Jobs enqueued by recurring schedules.
    pub total_scheduled: u64,
    /// Ready jobs by priority level (only levels with jobs).
    pub ready_by_priority: BTreeMap<u8, u64>,
}

impl QueueCounts {
    /// Parses COUNTS's reply (see `scripts/counts.lua`).
    pub(crate) fn parse(raw: &[Value]) -> Option<QueueCounts> {
        let int = |v: &Value| -> Option<u64> {
            match v {
                Value::Int(i) => u64::try_from(*i).ok(),
                Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
                _ => None,
            }
        };
        let text = |v: &Value| match v {
            Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        };
        let mut c = QueueCounts {
            now_ms: int(raw.first()?)?,
            ready: int(raw.get(1)?)?,
            delayed: int(raw.get(2)?)?,
            running: int(raw.get(3)?)?,
            dead: int(raw.get(4)?)?,
            finished_kept: int(raw.get(5)?)?,
            nodes: int(raw.get(6)?)?,
            ..QueueCounts::default()
        };
        let mut i = 7;
        while text(raw.get(i)?)? != "|" {
            let field = text(&raw[i])?;
            let value = int(raw.get(i + 1)?)?;
            match field.as_str() {
                "enqueued" => c.total_enqueued = value,
                "completed" => c.total_completed = value,
                "dead" => c.total_dead = value,
                "cancelled" => c.total_cancelled = value,
                "expired" => c.total_expired = value,
                "retried" => c.total_retried = value,
                "recovered" => c.total_recovered = value,
                "handed_back" => c.total_handed_back = value,
                "stale" => c.total_stale_acks = value,
                "scheduled" => c.total_scheduled = value,
                _ => {}
            }
            i += 2;
        }
        for (level, v) in raw[i + 1..].iter().enumerate() {
            let n = int(v)?;
            if n > 0 {
                c.ready_by_priority.insert(level as u8, n);
            }
        }
        Some(c)
    }

    /// Jobs not yet in a final state: ready + delayed + running.
    pub fn live(&self) -> u64 {
        self.ready + self.delayed + self.running
    }
}
