//! [`NodeReport`]: what a node did with every job it claimed.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What one node did, returned by [`RunningNode::shutdown`](crate::RunningNode::shutdown).
/// Every job the node claimed is counted exactly once in the fields after `claimed`.
///
/// ```
/// let r = kairos_cluster::NodeReport::default();
/// assert!(r.is_balanced());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    /// The node's id.
    pub node: String,
    /// Jobs claimed from Redis.
    pub claimed: u64,
    /// Completed and acknowledged.
    pub completed: u64,
    /// Failed and rescheduled in Redis for another attempt.
    pub retried: u64,
    /// Failed for good (or unknown kind, bad payload): in the dead set.
    pub dead: u64,
    /// Claimed but not started before the node stopped: handed back to ready.
    pub handed_back: u64,
    /// Outcomes Redis refused because the node had lost the job's lease meanwhile (the
    /// job was recovered and ran elsewhere; fencing kept this node from overwriting it).
    pub refused: u64,
    /// Jobs whose outcome never reached Redis (still running at the end of the grace, or
    /// Redis unreachable at the end): their leases run out and another node runs them.
    pub unacked: u64,
    /// Handler panics (each also counted as a failure above).
    pub panicked: u64,
    /// Lease renewals Redis refused (the lease had already run out).
    pub leases_lost: u64,
}

impl NodeReport {
    /// True if every claimed job is accounted for exactly once.
    pub fn is_balanced(&self) -> bool {
        self.claimed
            == self.completed + self.retried + self.dead + self.handed_back + self.refused + self.unacked
    }
}

impl std::fmt::Display for NodeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {}: claimed {}, completed {}, retried {}, dead {}, handed back {}, refused (lost lease) {}, \
             unacked {}, panics {}, lease renewals refused {}",
            self.node,
            self.claimed,
            self.completed,
            self.retried,
            self.dead,
            self.handed_back,
            self.refused,
            self.unacked,
            self.panicked,
            self.leases_lost
        )
    }
}

/// The live counters behind a report.
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub claimed: AtomicU64,
    pub completed: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    pub handed_back: AtomicU64,
    pub refused: AtomicU64,
    pub unacked: AtomicU64,
    pub panicked: AtomicU64,
    pub leases_lost: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self, node: &str) -> NodeReport {
        NodeReport {
            node: node.to_string(),
            claimed: self.claimed.load(Relaxed),
            completed: self.completed.load(Relaxed),
            retried: self.retried.load(Relaxed),
            dead: self.dead.load(Relaxed),
            handed_back: self.handed_back.load(Relaxed),
            refused: self.refused.load(Relaxed),
            unacked: self.unacked.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
            leases_lost: self.leases_lost.load(Relaxed),
        }
    }
}
