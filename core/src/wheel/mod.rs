//! Hierarchical timing wheel ([`TimingWheel`]) over intrusive nodes ([`TimerLinks`]).
//!
//! Varghese & Lauck's hierarchical wheel with occupancy bitmaps and lazy cascading, the
//! shape tokio and the Linux kernel use. One wheel belongs to one worker; it is
//! single-threaded and uses no atomics. Ticks are abstract `u64` units chosen by the caller.
//!
//! # Data structure
//!
//! - 11 levels of 64 slots (`level.rs`); a slot of level `l` spans `64^l` ticks, so level
//!   `l` indexes the 6-bit digit `l` of a tick and 11 levels cover all of `u64` (the top
//!   level uses 16 slots).
//! - Each slot is a FIFO doubly-linked list (`list.rs`) of caller-owned [`TimerLinks`]: the
//!   wheel holds `head`/`tail`, each node holds `next`/`prev` and its `due` tick, and the
//!   two end nodes carry an odd *end tag* naming their slot instead of a pointer
//!   (`links.rs`). Removal therefore never needs the clock or a search.
//! - One `u64` occupancy bitmap per level (bit `s` set iff slot `s` is non-empty).
//! - The clock `elapsed` and the node count `len`.
//!
//! The 11 levels (about 11 KiB) are allocated once, in [`TimingWheel::new`]; after that the
//! wheel never allocates and never frees: it only links and unlinks memory the caller owns.
//!
//! # Invariant
//!
//! Let `e = elapsed()`. Every linked node with due tick `d` has `d >= e` and sits in level
//! `L = level_for(e, d)`, the digit of the most significant bit in which `e` and `d` differ
//! (0 if `d == e`), at slot `digit_L(d)`. Hence:
//!
//! 1. `d` shares every digit above `L` with `e`, so the slot's *start* (the digits of `e`
//!    above `L`, then the slot number, then zeros) satisfies `e <= start <= d`; `start == e`
//!    only for the level-0 slot of `e` itself, which holds the nodes with `d == e` (due, not
//!    yet returned).
//! 2. Every slot start at level `L` is below the next multiple of `64^(L+1)` above `e`, and
//!    every slot start at level `L + 1` is at or above it. So the smallest start of all is
//!    that of the lowest occupied slot of the lowest non-empty level: a few bit scans.
//! 3. All nodes with the same due tick are in the same slot.
//!
//! # Algorithm
//!
//! - **insert** rejects `d <= e` (the caller runs the task now); otherwise it appends the
//!   node to slot `digit_L(d)` of level `level_for(e, d)`.
//! - **remove** splices the node out; if it was an end of its list, its end tag names the
//!   slot, whose `head`/`tail` and occupancy bit are fixed up.
//! - **poll(now)** repeatedly looks at the slot with the smallest start `s`. If `s > now` (or
//!   the wheel is empty) it sets `e = now` and returns `None`. Otherwise it sets `e = s`;
//!   a level-0 slot then holds only nodes due exactly at `s`, and its head is returned; a
//!   higher slot is *cascaded*: each of its nodes, in order, is relinked at
//!   `level_for(s, d)`, a strictly lower level because `d` shares digit `L` and above with
//!   `s`. Cascading is lazy: a slot is redistributed only when the clock reaches its start.
//!
//! Moving `e` forward to `s` or `now`, never past the smallest start, keeps every other
//! node where the invariant wants it: for a node in slot start `s' > e_new` of level `L'`,
//! `e_old <= e_new < s' <= d`, so `e_new` still shares the digits above `L'` with `d` and
//! still differs from it in digit `L'`.
//!
//! # Order
//!
//! Across calls, [`poll`](TimingWheel::poll) returns nodes in non-decreasing due order, also
//! with inserts in between (an accepted insert has `d > e`, and every node returned so far
//! had due `<= e`). Nodes with equal due come back exactly in the order of their successful
//! inserts: by (3) they always share a slot, lists are FIFO, and a cascade moves a slot's
//! nodes in order into lower slots that cannot already hold a node of that due. A node
//! removed and inserted again counts as a new insert. [`pop_any`](TimingWheel::pop_any)
//! promises no order.
//!
//! # Complexity
//!
//! | operation | cost |
//! | --- | --- |
//! | `new` | one allocation of about 11 KiB |
//! | `insert`, `remove`, `len`, `TimerLinks` accessors | O(1) |
//! | `next_expiration`, `pop_any` | O(levels): up to 11 bitmap tests and one `trailing_zeros` |
//! | `poll` | O(levels) per slot visited, plus O(1) per node returned or cascaded |
//!
//! Each slot `poll` visits either yields a node or cascades at least one node to a strictly
//! lower level, so a node is cascaded at most 10 times in its life: amortised O(1) work per
//! node plus O(levels) bit scans. Empty slots are skipped by the bitmaps, so a `poll` across
//! a gap of any length costs no more than one across a short gap.
//!
//! # Ownership protocol
//!
//! From a successful `insert` until `poll`/`pop_any` returns the node or `remove` takes it
//! out, the wheel has exclusive use of the node's links (the `insert` contract). The wheel
//! dereferences node pointers only inside `&mut self` methods, so whoever owns the wheel
//! (one worker) is the only thread that touches linked nodes. Dropping a wheel that still
//! holds nodes leaves them marked linked: drain it with `pop_any` first.

mod level;
mod links;
mod list;

#[cfg(test)]
mod tests;

use core::fmt;
use core::ptr::NonNull;

use level::{level_for, slot_for, slot_start, split_list_id, Level, LEVELS};
pub use links::TimerLinks;
use list::Position;

/// Hierarchical timing wheel: 11 levels of 64 slots, one occupancy bitmap per level, lazy
/// cascading. See the [module docs](self) for the invariant, ordering and costs.
///
/// It is `Send` (it moves with its owning worker) but not `Sync`:
///
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<kairos_rt_core::wheel::TimingWheel>();
/// ```
pub struct TimingWheel {
    /// The current tick; never decreases.
    elapsed: u64,
    /// Number of linked nodes.
    len: usize,
    /// The levels, boxed so that moving the wheel copies three words, not 11 KiB.
    levels: Box<[Level; LEVELS]>,
}

// SAFETY: the wheel holds raw pointers to caller-owned nodes, which makes it `!Send` by
// default. Those pointers are dereferenced only inside `&mut self` methods, and the
// `insert` contract gives the wheel exclusive use of a linked node's links until it hands
// the node back, so no other thread touches them while the wheel may; moving the wheel to
// another thread moves that exclusive access with it. The links are plain data with no
// thread affinity. (It stays `!Sync`: `&TimingWheel` from two threads is never needed.)
unsafe impl Send for TimingWheel {}

impl TimingWheel {
    /// An empty wheel with `elapsed() == 0`.
    pub fn new() -> TimingWheel {
        TimingWheel { elapsed: 0, len: 0, levels: Box::new([Level::EMPTY; LEVELS]) }
    }

    /// The wheel's current tick. It never decreases.
    #[inline]
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of nodes linked in the wheel.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if no node is linked in the wheel.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Links `node`, whose due tick was set with [`TimerLinks::set_due`]. O(1).
    ///
    /// Returns `Err(node)`, leaving it unlinked, iff its due tick is `<= self.elapsed()`:
    /// it has already expired and the caller should run it now. A due tick of `u64::MAX` is
    /// valid: such a node is returned only by `poll(u64::MAX)`, `pop_any` or `remove`.
    ///
    /// # Safety
    ///
    /// `node` is valid, not linked in any wheel, and stays valid and otherwise untouched
    /// until it is returned by [`poll`](Self::poll) or [`pop_any`](Self::pop_any), or
    /// removed with [`remove`](Self::remove).
    pub unsafe fn insert(&mut self, node: NonNull<TimerLinks>) -> Result<(), NonNull<TimerLinks>> {
        // SAFETY: `node` is valid and unlinked, so nobody else uses its links (contract).
        let due = unsafe {
            debug_assert!(!TimerLinks::is_linked(node), "insert of a linked node");
            TimerLinks::due(node)
        };
        if due <= self.elapsed {
            return Err(node);
        }
        // SAFETY: valid, unlinked, and ours from now on (contract); `due > elapsed`.
        unsafe { self.link(node, due) };
        self.len += 1;
        Ok(())
    }

    /// Unlinks a node linked in this wheel, leaving it unlinked with its due tick
    /// unchanged. O(1).
    ///
    /// # Safety
    ///
    /// `node` is linked in this wheel.
    pub unsafe fn remove(&mut self, node: NonNull<TimerLinks>) {
        // SAFETY: `node` is linked in this wheel (contract), so it and its neighbours are
        // live and exclusively ours; an end tag names the slot of this wheel it is in.
        unsafe {
            debug_assert!(TimerLinks::is_linked(node), "remove of an unlinked node");
            match list::position(node) {
                Position::Interior => list::unlink_interior(node),
                Position::End(id) => {
                    let (level, slot) = split_list_id(id);
                    self.levels[level].unlink(level, slot, node);
                }
            }
        }
        self.len -= 1;
    }

    /// A lower bound on the due tick of every linked node, such that `poll(t)` makes
    /// progress for every `t` at or above it: it returns a node, or cascades nodes to lower
    /// levels, after which this bound has risen. `None` when empty. O(levels) bit scans.
    ///
    /// It equals `elapsed()` only while nodes due at `elapsed()` are waiting to be polled.
    pub fn next_expiration(&self) -> Option<u64> {
        self.next_slot().map(|(_, _, start)| start)
    }

    /// Pops one node with due tick `<= now`, advancing `elapsed()` toward `now`.
    ///
    /// Nodes come back in non-decreasing due order across calls, and nodes with equal due
    /// in the order they were inserted (see the module docs). Returns `None` when no linked
    /// node is due by `now`; then `elapsed() == max(previous elapsed(), now)`. `now <
    /// elapsed()` is allowed and means `elapsed()`. A returned node is unlinked and no
    /// longer the wheel's. Amortised O(1) per node plus O(levels) bit scans per slot
    /// visited.
    pub fn poll(&mut self, now: u64) -> Option<NonNull<TimerLinks>> {
        let now = now.max(self.elapsed);
        while let Some((level, slot, start)) = self.next_slot() {
            if start > now {
                break;
            }
            // `start` is the smallest slot start, so moving the clock there keeps every
            // other node in place (module docs, "Algorithm").
            self.elapsed = start;
            if level == 0 {
                // SAFETY: the slot's nodes are linked in this wheel, hence live (insert
                // contract). They are all due exactly at `start`.
                let node = unsafe { self.levels[0].pop_front(0, slot) };
                debug_assert!(node.is_some(), "occupied bit set on an empty slot");
                self.len -= 1;
                return node;
            }
            self.cascade(level, slot);
        }
        self.elapsed = now;
        None
    }

    /// Unlinks and returns any one linked node (for shutdown), or `None` if empty.
    /// O(levels). `elapsed()` is unchanged.
    pub fn pop_any(&mut self) -> Option<NonNull<TimerLinks>> {
        let (level, slot) = self.first_occupied()?;
        // SAFETY: the slot's nodes are linked in this wheel, hence live (insert contract).
        let node = unsafe { self.levels[level].pop_front(level, slot) };
        debug_assert!(node.is_some(), "occupied bit set on an empty slot");
        self.len -= 1;
        node
    }

    /// Appends `node` to the slot the invariant assigns to `due` at the current clock.
    ///
    /// # Safety
    ///
    /// `node` is live, unlinked and now the wheel's; `due` is its due tick, `>= elapsed`.
    unsafe fn link(&mut self, node: NonNull<TimerLinks>, due: u64) {
        let level = level_for(self.elapsed, due);
        let slot = slot_for(level, due);
        // SAFETY: forwarded contract.
        unsafe { self.levels[level].push_back(level, slot, node) };
    }

    /// Redistributes every node of `slot` of `level` (> 0), whose start the clock has just
    /// reached, to lower levels, in list order.
    fn cascade(&mut self, level: usize, slot: usize) {
        // SAFETY: the slot's nodes are linked in this wheel, hence live and exclusively
        // ours (insert contract); each popped node is unlinked and relinked at once.
        while let Some(node) = unsafe { self.levels[level].pop_front(level, slot) } {
            // SAFETY: as above.
            unsafe {
                let due = TimerLinks::due(node);
                debug_assert!(level_for(self.elapsed, due) < level, "cascade went up");
                self.link(node, due);
            }
        }
    }

    /// The lowest occupied slot of the lowest non-empty level, as `(level, slot)`.
    fn first_occupied(&self) -> Option<(usize, usize)> {
        self.levels.iter().enumerate().find_map(|(level, l)| l.first_occupied().map(|slot| (level, slot)))
    }

    /// The slot with the smallest start, as `(level, slot, start)` (invariant, point 2).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let (level, slot) = self.first_occupied()?;
        let start = slot_start(self.elapsed, level, slot);
        debug_assert!(start >= self.elapsed, "occupied slot behind the clock");
        Some((level, slot, start))
    }
}

impl Default for TimingWheel {
    fn default() -> TimingWheel {
        TimingWheel::new()
    }
}

impl fmt::Debug for TimingWheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// A bitmap printed in hex.
        struct Bitmap(u64);
        impl fmt::Debug for Bitmap {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#018x}", self.0)
            }
        }
        /// The per-level occupancy bitmaps, level 0 first.
        struct Occupancy<'a>(&'a [Level; LEVELS]);
        impl fmt::Debug for Occupancy<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.iter().map(|level| Bitmap(level.occupied()))).finish()
            }
        }
        f.debug_struct("TimingWheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len)
            .field("occupied", &Occupancy(&self.levels))
            .finish()
    }
}
