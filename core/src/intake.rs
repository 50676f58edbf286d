//! The intake gate: lets submissions from non-worker threads in until shutdown closes
//! it, and lets shutdown wait until every submission that got in has landed in a queue.
//!
//! One atomic word packs a `CLOSED` bit and the number of submissions in flight.
//!
//! - [`Intake::begin`]: `fetch_add(1)`; if `CLOSED` was already set, `fetch_sub(1)` and
//!   refuse. Otherwise the caller pushes its task and calls [`Intake::end`].
//! - [`Intake::close`]: `fetch_or(CLOSED)`, then wait until the in-flight count is zero.
//!
//! Both sides are read-modify-writes of one word, so each submission either saw
//! `CLOSED` (refused, nothing pushed) or was counted before `close` set it (and `close`
//! waits for its `end`, which comes after its push). After `close` returns, no outside
//! submission can reach a queue: the proof the shutdown accounting rests on.

use crate::sync::atomic::{AtomicUsize, Ordering::*};

const CLOSED: usize = 1 << 63;

/// The intake gate (see the module docs).
#[derive(Debug, Default)]
pub struct Intake {
    word: AtomicUsize,
}

impl Intake {
    /// An open gate.
    pub fn new() -> Intake {
        Intake { word: AtomicUsize::new(0) }
    }

    /// Whether the gate is closed.
    pub fn is_closed(&self) -> bool {
        self.word.load(Acquire) & CLOSED != 0
    }

    /// Enters; false (and nothing to undo) if the gate is closed.
    #[must_use]
    pub fn begin(&self) -> bool {
        let prev = self.word.fetch_add(1, AcqRel);
        if prev & CLOSED != 0 {
            self.word.fetch_sub(1, AcqRel);
            return false;
        }
        true
    }

    /// Leaves, after the submission's push.
    pub fn end(&self) {
        self.word.fetch_sub(1, AcqRel);
    }

    /// Closes the gate and waits until every admitted submission has ended.
    pub fn close(&self) {
        self.word.fetch_or(CLOSED, AcqRel);
        while self.word.load(Acquire) & !CLOSED != 0 {
            crate::sync::thread::yield_now();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn closed_gate_refuses_and_open_gate_admits() {
        let gate = Intake::new();
        assert!(gate.begin());
        gate.end();
        gate.close();
        assert!(gate.is_closed());
        assert!(!gate.begin());
        gate.close();
    }
}
