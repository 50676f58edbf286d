//! A worker's park door: what the senders of timed tasks and cancels read to decide whom
//! to wake, and what the worker publishes as it parks.
//!
//! ## Protocol
//!
//! - **Sender** (a timed task into the owner's inbox, or a cancel into its cancel queue):
//!   push, then [`after_timer_push`](ParkDoor::after_timer_push) or
//!   [`after_cancel_push`](ParkDoor::after_cancel_push): `SeqCst` fence, read
//!   `parked_until`. Zero (the owner is awake, maybe busy in a long task): wake a peer
//!   ([`Knock::Peer`]) to take the message for it. Otherwise wake the owner
//!   ([`Knock::Owner`]) when the task is due before the owner would wake anyway, or when
//!   this is the first message of the owner's park (`inbox_wake_sent` read clear, then
//!   swapped set: a burst of far-off timers costs one wake-up per park).
//! - **Owner**, a plain park ([`close`](ParkDoor::close)): clear `inbox_wake_sent`,
//!   publish `parked_until`, `SeqCst` fence; then it re-checks its inbox and cancels and
//!   parks only if they are empty. A lingering park
//!   ([`close_lingering`](ParkDoor::close_lingering)) sets the flag instead (no wake-up
//!   is owed for a task due at or after its `parked_until`: it takes its inbox when the
//!   park ends). Awake again: [`open`](ParkDoor::open).
//!
//! The two fences order the sender's push against the owner's re-check: either the owner
//! sees the message, or the sender reads this park's `parked_until` and so the cleared
//! flag, and this sender or an earlier one of the same park unparks the owner. The flag
//! is cleared *before* `parked_until` is published (a clear after the fence could be
//! reordered past the re-check).
//!
//! The runtime (`Shared::push_timer_inbox`, `Sched::timer_cancelled`, `worker/park.rs`)
//! and the loom model `park.rs` call these same functions.

use crate::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering::*};

/// One worker's park door (see the module docs).
#[derive(Debug, Default)]
pub struct ParkDoor {
    /// The tick the worker sleeps until (`u64::MAX`: no timer), or 0 while awake.
    parked_until: AtomicU64,
    /// Set by the first sender that wakes the worker during one park (cleared by the
    /// worker before it publishes a plain park's `parked_until`); a lingering worker sets
    /// it itself.
    inbox_wake_sent: AtomicBool,
}

/// Whom a sender must wake after its push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Knock {
    /// Nobody: the owner wakes in time, or an earlier sender of this park woke it.
    Nobody,
    /// The owner, which parks.
    Owner,
    /// One sleeping peer: the owner is awake, maybe busy in a long task.
    Peer,
}

impl ParkDoor {
    /// An open door (the worker is awake).
    pub fn new() -> ParkDoor {
        ParkDoor::default()
    }

    /// The sender's side, after pushing a timed task due at tick `due` into the owner's
    /// inbox (see the module docs).
    pub fn after_timer_push(&self, due: u64) -> Knock {
        fence(SeqCst);
        let parked_until = self.parked_until.load(SeqCst);
        if parked_until == 0 {
            Knock::Peer
        } else if due < parked_until || self.first_to_wake() {
            Knock::Owner
        } else {
            Knock::Nobody
        }
    }

    /// The sender's side, after pushing a cancel into the owner's cancel queue: as for a
    /// far-off timer, the first message of a park wakes the owner.
    pub fn after_cancel_push(&self) -> Knock {
        self.after_timer_push(u64::MAX)
    }

    /// Whether this sender is the first of the owner's park to send it a wake-up: sets
    /// the flag and says whether it was clear. Read before it is swapped, so a burst of
    /// submissions during one park writes the flag's cache line once.
    fn first_to_wake(&self) -> bool {
        !self.inbox_wake_sent.load(Relaxed) && !self.inbox_wake_sent.swap(true, AcqRel)
    }

    /// The owner's plain park until tick `until` (`u64::MAX`: no timer): clear the flag,
    /// publish, fence. The caller re-checks its inbox and cancels next.
    pub fn close(&self, until: u64) {
        self.inbox_wake_sent.store(false, Relaxed);
        self.parked_until.store(until.max(1), SeqCst);
        fence(SeqCst);
    }

    /// The owner's lingering park until tick `until`: the flag set (no wake-up owed for a
    /// task due at or after `until`), publish, fence. The caller takes its inbox next.
    pub fn close_lingering(&self, until: u64) {
        self.inbox_wake_sent.store(true, Relaxed);
        self.parked_until.store(until.max(1), SeqCst);
        fence(SeqCst);
    }

    /// Lowers a lingering park's published end to `tick` (when the park really ends).
    pub fn lower(&self, tick: u64) {
        self.parked_until.store(tick.max(1), SeqCst);
    }

    /// The owner is awake again.
    pub fn open(&self) {
        self.parked_until.store(0, SeqCst);
    }

    /// The tick the worker sleeps until, or 0 while awake (`SeqCst`: for a protocol's
    /// re-read after its fence).
    pub fn parked_until(&self) -> u64 {
        self.parked_until.load(SeqCst)
    }

    /// [`parked_until`](Self::parked_until) as a hint (`Relaxed`: no ordering asked).
    pub fn parked_until_hint(&self) -> u64 {
        self.parked_until.load(Relaxed)
    }
}
