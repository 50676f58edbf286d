//! [`List`]: the FIFO doubly-linked list of [`TimerLinks`] behind one wheel slot.
//!
//! The list itself is only `head` and `tail`; the nodes carry `next`/`prev`, and the two
//! end nodes carry the list's id as an end tag (see [`links`](super::links)). Invariants,
//! for a list with id `id`:
//!
//! - empty iff `head` and `tail` are both `None`;
//! - `head.prev == End(id)`, `tail.next == End(id)`, and every other `prev`/`next` names
//!   the adjacent node, so that following `next` from `head` reaches `tail`;
//! - every node in it is linked in no other list.
//!
//! Every operation is O(1).

use core::ptr::NonNull;

use super::links::{Link, TimerLinks};

/// The nodes of one slot, oldest first.
#[derive(Clone, Copy, Debug)]
pub(super) struct List {
    head: Option<NonNull<TimerLinks>>,
    tail: Option<NonNull<TimerLinks>>,
}

impl List {
    /// The empty list.
    pub(super) const EMPTY: List = List { head: None, tail: None };

    /// True if no node is in the list.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// Appends `node` at the tail.
    ///
    /// # Safety
    ///
    /// `self` is the list with id `id`; `node` is live, unlinked, and from now on owned by
    /// the wheel that owns this list.
    #[inline]
    pub(super) unsafe fn push_back(&mut self, id: usize, node: NonNull<TimerLinks>) {
        // SAFETY: `node` is live and ours (caller's contract); `tail`, if any, is a live
        // node of this list (list invariant), so the wheel has exclusive access to it.
        unsafe {
            TimerLinks::set_next(node, Link::End(id));
            match self.tail {
                Some(tail) => {
                    TimerLinks::set_prev(node, Link::Node(tail));
                    TimerLinks::set_next(tail, Link::Node(node));
                }
                None => {
                    TimerLinks::set_prev(node, Link::End(id));
                    self.head = Some(node);
                }
            }
        }
        self.tail = Some(node);
    }

    /// Unlinks and returns the head (the oldest node), marked unlinked.
    ///
    /// # Safety
    ///
    /// `self` is the list with id `id`, and all its nodes are live.
    #[inline]
    pub(super) unsafe fn pop_front(&mut self, id: usize) -> Option<NonNull<TimerLinks>> {
        let head = self.head?;
        // SAFETY: `head` and its successor are live nodes of this list (caller's contract,
        // list invariant), exclusively the wheel's.
        unsafe {
            match TimerLinks::next(head) {
                Link::Node(next) => {
                    TimerLinks::set_prev(next, Link::End(id));
                    self.head = Some(next);
                }
                Link::End(end) => {
                    debug_assert_eq!(end, id, "tail tagged with another list's id");
                    self.head = None;
                    self.tail = None;
                }
            }
            TimerLinks::clear(head);
        }
        Some(head)
    }

    /// Unlinks `node`, which is in this list, and marks it unlinked.
    ///
    /// # Safety
    ///
    /// `self` is the list with id `id`, all its nodes are live, and `node` is one of them.
    #[inline]
    pub(super) unsafe fn unlink(&mut self, id: usize, node: NonNull<TimerLinks>) {
        // SAFETY: `node` and its neighbours are live nodes of this list (caller's
        // contract, list invariant), exclusively the wheel's.
        unsafe {
            let prev = TimerLinks::prev(node);
            let next = TimerLinks::next(node);
            match next {
                Link::Node(next) => TimerLinks::set_prev(next, prev),
                Link::End(end) => {
                    debug_assert_eq!(end, id, "node is the tail of another list");
                    self.tail = match prev {
                        Link::Node(prev) => Some(prev),
                        Link::End(_) => None,
                    };
                }
            }
            match prev {
                Link::Node(prev) => TimerLinks::set_next(prev, next),
                Link::End(end) => {
                    debug_assert_eq!(end, id, "node is the head of another list");
                    self.head = match next {
                        Link::Node(next) => Some(next),
                        Link::End(_) => None,
                    };
                }
            }
            TimerLinks::clear(node);
        }
    }
}

/// Where a linked node sits in its list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Position {
    /// Both neighbours are nodes: unlinking it touches only them, never the list.
    Interior,
    /// The node is the head or tail (or both) of the list with this id.
    End(usize),
}

/// Tells whether a linked node is an end of its list (and of which), from its own links.
///
/// # Safety
///
/// `node` is live and linked in a wheel whose owner is the caller.
#[inline]
pub(super) unsafe fn position(node: NonNull<TimerLinks>) -> Position {
    // SAFETY: live, linked, exclusively the wheel's (caller's contract).
    let (prev, next) = unsafe { (TimerLinks::prev(node), TimerLinks::next(node)) };
    match (prev, next) {
        (Link::End(id), _) | (_, Link::End(id)) => Position::End(id),
        (Link::Node(_), Link::Node(_)) => Position::Interior,
    }
}

/// Unlinks an interior node (see [`Position::Interior`]) and marks it unlinked; its list's
/// `head` and `tail` are unaffected.
///
/// # Safety
///
/// `node` is live, linked in a wheel whose owner is the caller, and interior.
#[inline]
pub(super) unsafe fn unlink_interior(node: NonNull<TimerLinks>) {
    // SAFETY: `node` and both neighbours are live nodes of one list (caller's contract,
    // list invariant), exclusively the wheel's.
    unsafe {
        match (TimerLinks::prev(node), TimerLinks::next(node)) {
            (Link::Node(prev), Link::Node(next)) => {
                TimerLinks::set_next(prev, Link::Node(next));
                TimerLinks::set_prev(next, Link::Node(prev));
            }
            _ => unreachable!("unlink_interior on an end node"),
        }
        TimerLinks::clear(node);
    }
}
