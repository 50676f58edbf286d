//! Model test: the timing wheel against a reference `BTreeMap` keyed by `(due, insert
//! sequence number)`, under random sequences of insert, remove, poll, poll at
//! `next_expiration`, drain-to-now and `pop_any`.
//!
//! The reference's order is the wheel's promised order: non-decreasing due, equal dues in
//! insertion order. Every single `poll` must return exactly the reference's first entry
//! (or `None` exactly when that entry is not due), and after every operation `len`,
//! `elapsed` and every node's `is_linked` must agree with the reference.

use std::collections::BTreeMap;
use std::ptr::NonNull;

use kairos_rt_core::wheel::{TimerLinks, TimingWheel};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// How an inserted node's due tick relates to the clock.
#[derive(Clone, Debug)]
enum Due {
    /// `elapsed - n` (saturating): already expired.
    Past(u64),
    /// `elapsed + n`; `n == 0` is rejected as expired.
    Ahead(u64),
    /// `elapsed + 64^k + offset` with `offset` in -1..=1: level boundaries.
    Boundary(u32, i64),
    /// `u64::MAX`: never expires.
    Never,
}

/// How far a poll moves `now` from the clock.
#[derive(Clone, Debug)]
enum Advance {
    /// `elapsed - n` (saturating): a poll into the past.
    Back(u64),
    /// `elapsed + n`.
    Forward(u64),
    /// `elapsed + 64^k + offset`.
    Boundary(u32, i64),
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Due),
    /// Remove the linked node at this index of the reference order.
    Remove(Index),
    /// One `poll(now)` call.
    Poll(Advance),
    /// One `poll(next_expiration())` call.
    PollNextExpiration,
    /// `poll(now)` until it returns `None`.
    Drain(Advance),
    PopAny,
}

fn boundary() -> impl Strategy<Value = (u32, i64)> {
    (1u32..=10, -1i64..=1)
}

fn due() -> impl Strategy<Value = Due> {
    prop_oneof![
        1 => (0u64..3).prop_map(Due::Past),
        1 => Just(Due::Ahead(0)),
        6 => (1u64..=70).prop_map(Due::Ahead),
        2 => (1u64..=10_000).prop_map(Due::Ahead),
        4 => boundary().prop_map(|(k, o)| Due::Boundary(k, o)),
        // Large: a random value of a random bit width, up to the whole of `u64`.
        2 => (0u32..64).prop_flat_map(|bits| 0..=(u64::MAX >> bits)).prop_map(Due::Ahead),
        1 => Just(Due::Never),
    ]
}

fn advance() -> impl Strategy<Value = Advance> {
    prop_oneof![
        1 => (0u64..100).prop_map(Advance::Back),
        8 => (0u64..=70).prop_map(Advance::Forward),
        3 => (0u64..=10_000).prop_map(Advance::Forward),
        3 => boundary().prop_map(|(k, o)| Advance::Boundary(k, o)),
        // Huge, but mostly leaving room below `u64::MAX`.
        1 => (0u32..48).prop_map(|bits| Advance::Forward(1 << bits)),
        // Rarely, anywhere at all (usually to near the end of time).
        1 => any::<u64>().prop_map(Advance::Forward),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => due().prop_map(Op::Insert),
        3 => any::<Index>().prop_map(Op::Remove),
        5 => advance().prop_map(Op::Poll),
        3 => Just(Op::PollNextExpiration),
        2 => advance().prop_map(Op::Drain),
        1 => Just(Op::PopAny),
    ]
}

fn offset(base: u64, k: u32, off: i64) -> u64 {
    base.saturating_add(1u64 << (6 * k)).saturating_add_signed(off)
}

/// The wheel, the nodes it may hold, and the reference model.
struct Harness {
    /// Node storage with stable addresses (boxed: the wheel holds node addresses, which a
    /// growing `Vec<TimerLinks>` would move). The wheel never touches nodes when dropped.
    #[allow(clippy::vec_box)]
    arena: Vec<Box<TimerLinks>>,
    /// Arena indices of unlinked nodes, reused by inserts.
    free: Vec<usize>,
    wheel: TimingWheel,
    /// `(due, sequence) -> arena index` of every node that should be linked.
    model: BTreeMap<(u64, u64), usize>,
    /// The model key of each arena node, `None` while unlinked.
    keys: Vec<Option<(u64, u64)>>,
    /// The clock the wheel should show.
    elapsed: u64,
    next_seq: u64,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            arena: Vec::new(),
            free: Vec::new(),
            wheel: TimingWheel::new(),
            model: BTreeMap::new(),
            keys: Vec::new(),
            elapsed: 0,
            next_seq: 0,
        }
    }

    fn ptr(&self, index: usize) -> NonNull<TimerLinks> {
        NonNull::from(&*self.arena[index])
    }

    fn index_of(&self, node: NonNull<TimerLinks>) -> usize {
        self.arena
            .iter()
            .position(|n| std::ptr::eq(&**n, node.as_ptr()))
            .expect("wheel returned a pointer that is not an arena node")
    }

    fn now(&self, advance: &Advance) -> u64 {
        match *advance {
            Advance::Back(n) => self.elapsed.saturating_sub(n),
            Advance::Forward(n) => self.elapsed.saturating_add(n),
            Advance::Boundary(k, o) => offset(self.elapsed, k, o),
        }
    }

    fn insert(&mut self, due: &Due) -> Result<(), TestCaseError> {
        let due = match *due {
            Due::Past(n) => self.elapsed.saturating_sub(n),
            Due::Ahead(n) => self.elapsed.saturating_add(n),
            Due::Boundary(k, o) => offset(self.elapsed, k, o),
            Due::Never => u64::MAX,
        };
        let index = self.free.pop().unwrap_or_else(|| {
            self.arena.push(Box::new(TimerLinks::new()));
            self.keys.push(None);
            self.arena.len() - 1
        });
        let node = self.ptr(index);
        // SAFETY: the node is unlinked (free list) and lives in the arena, which outlives
        // every use of the wheel; this test is single-threaded.
        let result = unsafe {
            TimerLinks::set_due(node, due);
            self.wheel.insert(node)
        };
        if due <= self.elapsed {
            prop_assert_eq!(result, Err(node), "due {} at elapsed {}", due, self.elapsed);
            self.free.push(index);
        } else {
            prop_assert_eq!(result, Ok(()), "due {} at elapsed {}", due, self.elapsed);
            let key = (due, self.next_seq);
            self.next_seq += 1;
            self.model.insert(key, index);
            self.keys[index] = Some(key);
        }
        Ok(())
    }

    fn remove(&mut self, which: &Index) {
        if self.model.is_empty() {
            return;
        }
        let (&key, &index) = self.model.iter().nth(which.index(self.model.len())).unwrap();
        // SAFETY: the model says the node is linked in this wheel.
        unsafe { self.wheel.remove(self.ptr(index)) };
        self.model.remove(&key);
        self.keys[index] = None;
        self.free.push(index);
    }

    /// One `poll(now)`, checked against the model.
    fn poll(&mut self, now: u64) -> Result<Option<usize>, TestCaseError> {
        let effective = now.max(self.elapsed);
        let got = self.wheel.poll(now);
        match self.model.first_key_value().map(|(&k, &i)| (k, i)) {
            Some((key, index)) if key.0 <= effective => {
                prop_assert_eq!(
                    got.map(|n| self.index_of(n)),
                    Some(index),
                    "poll({}) from elapsed {}: expected node due {}",
                    now,
                    self.elapsed,
                    key.0
                );
                self.model.remove(&key);
                self.keys[index] = None;
                self.free.push(index);
                self.elapsed = key.0;
                Ok(Some(index))
            }
            first => {
                prop_assert!(
                    got.is_none(),
                    "poll({}) from elapsed {} returned a node due {}; model first: {:?}",
                    now,
                    self.elapsed,
                    // SAFETY: a returned node is unlinked and ours.
                    got.map(|n| unsafe { TimerLinks::due(n) }).unwrap_or_default(),
                    first.map(|(k, _)| k)
                );
                self.elapsed = effective;
                Ok(None)
            }
        }
    }

    fn poll_next_expiration(&mut self) -> Result<(), TestCaseError> {
        let Some(bound) = self.wheel.next_expiration() else {
            prop_assert!(self.model.is_empty());
            return Ok(());
        };
        let polled = self.poll(bound)?;
        if polled.is_none() {
            // Progress without a node means a cascade: the bound must have risen.
            let after = self.wheel.next_expiration();
            prop_assert!(after > Some(bound), "no progress at {}: now {:?}", bound, after);
        }
        Ok(())
    }

    fn drain(&mut self, now: u64) -> Result<(), TestCaseError> {
        let expected = self.model.range(..=(now.max(self.elapsed), u64::MAX)).count();
        let mut popped = 0;
        while self.poll(now)?.is_some() {
            popped += 1;
            prop_assert!(popped <= expected, "drain to {} popped too many", now);
        }
        prop_assert_eq!(popped, expected);
        Ok(())
    }

    fn pop_any(&mut self) -> Result<(), TestCaseError> {
        match self.wheel.pop_any() {
            None => prop_assert!(self.model.is_empty()),
            Some(node) => {
                let index = self.index_of(node);
                let key = self.keys[index].take();
                prop_assert!(key.is_some(), "pop_any returned an unlinked node");
                self.model.remove(&key.unwrap());
                self.free.push(index);
            }
        }
        Ok(())
    }

    /// `len`, `elapsed`, `is_linked` of every node, and the `next_expiration` bound.
    fn check(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.wheel.len(), self.model.len());
        prop_assert_eq!(self.wheel.is_empty(), self.model.is_empty());
        prop_assert_eq!(self.wheel.elapsed(), self.elapsed);
        for (index, key) in self.keys.iter().enumerate() {
            // SAFETY: arena node; the harness is the wheel's owner and single-threaded.
            let linked = unsafe { TimerLinks::is_linked(self.ptr(index)) };
            prop_assert_eq!(linked, key.is_some(), "node {} linked state", index);
        }
        match (self.wheel.next_expiration(), self.model.first_key_value()) {
            (None, None) => {}
            (Some(bound), Some((&(due, _), _))) => {
                prop_assert!(bound >= self.elapsed && bound <= due, "bound {} due {}", bound, due);
            }
            (bound, first) => prop_assert!(false, "next_expiration {:?}, model {:?}", bound, first),
        }
        Ok(())
    }

    /// Drains with `pop_any`: every linked node exactly once, then nothing.
    fn finish(mut self) -> Result<(), TestCaseError> {
        while !self.model.is_empty() {
            self.pop_any()?;
            self.check()?;
        }
        prop_assert_eq!(self.wheel.pop_any(), None);
        Ok(())
    }
}

proptest! {
    #![proptest_config(Config {
        cases: 256,
        // Keep failures reproducible from the printed case, without writing files.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn wheel_matches_reference_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut h = Harness::new();
        for op in &ops {
            match op {
                Op::Insert(due) => h.insert(due)?,
                Op::Remove(which) => h.remove(which),
                Op::Poll(advance) => {
                    let now = h.now(advance);
                    h.poll(now)?;
                }
                Op::PollNextExpiration => h.poll_next_expiration()?,
                Op::Drain(advance) => {
                    let now = h.now(advance);
                    h.drain(now)?;
                }
                Op::PopAny => h.pop_any()?,
            }
            h.check()?;
        }
        h.finish()?;
    }
}

/// Many nodes on few distinct dues, so that FIFO order among equal dues is exercised hard
/// (and across cascades from several levels).
#[test]
fn equal_dues_keep_insertion_order_through_cascades() {
    let mut h = Harness::new();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for round in 0..2000u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Dues on a handful of ticks ahead; the clock creeps so nodes of one due are
        // inserted at several levels.
        let target = (round / 500 + 1) * 70_000 + (x % 4) * 4096;
        h.insert(&Due::Ahead(target.saturating_sub(h.elapsed))).unwrap();
        if round % 16 == 0 {
            h.poll(h.elapsed + (x % 300)).unwrap();
        }
        h.check().unwrap();
    }
    h.drain(u64::MAX - 1).unwrap();
    h.check().unwrap();
    h.finish().unwrap();
}
