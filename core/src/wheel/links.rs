//! [`TimerLinks`]: the intrusive node a timed task embeds in its header.
//!
//! A node is three words: `next`, `prev` and `due`, each in a facade
//! [`UnsafeCell`] because the wheel writes them through
//! shared `NonNull` pointers to memory it does not own.
//!
//! # Encoding of `next` and `prev`
//!
//! Each field holds one of:
//!
//! - null: the node is not linked (both fields are null together);
//! - a pointer to the neighbouring node in its slot list;
//! - an *end tag*: an odd pointer-sized value `(list << 1) | 1` that names the slot list
//!   (`level * 64 + slot`) the node is an end of. It is never dereferenced, and can never
//!   be mistaken for a node, which is at least 8-aligned.
//!
//! So a linked node always has a non-null `prev` (a neighbour, or the tag of its list if it
//! is the head), which makes [`TimerLinks::is_linked`] one load; and a node at either end
//! of a list knows which list it is in without the wheel computing it, which makes
//! removal O(1) and independent of the wheel's clock.

use core::fmt;
use core::ptr::{self, NonNull};

use crate::sync::cell::UnsafeCell;

/// Intrusive links embedded in each timed task's header.
///
/// 24 bytes in normal builds (two pointers and the `u64` due tick), `#[repr(C)]`. While
/// linked into a [`TimingWheel`](super::TimingWheel) the wheel owns the links: nobody else
/// may read or write them until the wheel hands the node back (from `poll` or `pop_any`)
/// or the owner of the wheel removes it with `remove`.
#[repr(C)]
pub struct TimerLinks {
    /// Next node in the slot list, the list's end tag if this is the tail, null if unlinked.
    next: UnsafeCell<*mut TimerLinks>,
    /// Previous node in the slot list, the list's end tag if this is the head, null if
    /// unlinked.
    prev: UnsafeCell<*mut TimerLinks>,
    /// The tick at which the node expires.
    due: UnsafeCell<u64>,
}

#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<TimerLinks>() == 24 || usize::BITS != 64);

/// A decoded `next`/`prev` field of a linked node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Link {
    /// A neighbouring node in the same list.
    Node(NonNull<TimerLinks>),
    /// The end of the list with this id (`level * 64 + slot`).
    End(usize),
}

impl Link {
    /// Encodes the link as the raw field value.
    #[inline]
    fn encode(self) -> *mut TimerLinks {
        match self {
            Link::Node(node) => node.as_ptr(),
            // An odd address is never that of a `TimerLinks` (alignment 8 on 64-bit,
            // at least 4 elsewhere): provenance-free, never dereferenced.
            Link::End(list) => ptr::null_mut::<u8>().wrapping_add((list << 1) | 1).cast::<TimerLinks>(),
        }
    }

    /// Decodes a non-null raw field value.
    #[inline]
    fn decode(raw: *mut TimerLinks) -> Link {
        debug_assert!(!raw.is_null(), "decoding the link of an unlinked node");
        let addr = raw as usize;
        if addr & 1 == 1 {
            Link::End(addr >> 1)
        } else {
            // SAFETY: non-null (asserted above; the wheel only decodes links of linked
            // nodes, whose fields are never null).
            Link::Node(unsafe { NonNull::new_unchecked(raw) })
        }
    }
}

impl TimerLinks {
    /// Unlinked links with due tick 0.
    pub fn new() -> TimerLinks {
        TimerLinks {
            next: UnsafeCell::new(ptr::null_mut()),
            prev: UnsafeCell::new(ptr::null_mut()),
            due: UnsafeCell::new(0),
        }
    }

    /// The node's due tick.
    ///
    /// # Safety
    ///
    /// `node` points to a live `TimerLinks` and the caller has exclusive access to it: no
    /// other thread uses the links concurrently (a wheel owner reading a node linked in its
    /// own wheel qualifies).
    #[inline]
    pub unsafe fn due(node: NonNull<TimerLinks>) -> u64 {
        // SAFETY: `node` is live and not accessed concurrently (caller's contract), so a
        // plain read of the cell cannot race.
        unsafe { node.as_ref().due.with(|p| *p) }
    }

    /// Sets the node's due tick, to be read by the next `insert`.
    ///
    /// # Safety
    ///
    /// `node` points to a live `TimerLinks` that is not linked in any wheel, and the caller
    /// has exclusive access to it.
    #[inline]
    pub unsafe fn set_due(node: NonNull<TimerLinks>, due: u64) {
        // SAFETY: exclusive access to a live node (caller's contract); it is unlinked, so no
        // wheel relies on the old value.
        unsafe {
            debug_assert!(!TimerLinks::is_linked(node), "set_due on a linked node");
            node.as_ref().due.with_mut(|p| *p = due);
        }
    }

    /// True while the node sits in a wheel. O(1). Reads only `prev`.
    ///
    /// # Safety
    ///
    /// `node` points to a live `TimerLinks` and no other thread writes its `prev`
    /// concurrently (a node in transit in a timer inbox qualifies: only its `next` is in
    /// use there).
    #[inline]
    pub unsafe fn is_linked(node: NonNull<TimerLinks>) -> bool {
        // SAFETY: live, not accessed concurrently (caller's contract). A linked node's
        // `prev` is a neighbour or an end tag, never null; an unlinked node's is null.
        unsafe { !node.as_ref().prev.with(|p| *p).is_null() }
    }

    /// Reads `next` of a linked node.
    ///
    /// # Safety
    ///
    /// `node` is live, linked, and exclusively accessed by the wheel that holds it.
    #[inline]
    pub(super) unsafe fn next(node: NonNull<TimerLinks>) -> Link {
        // SAFETY: live and exclusively ours (caller's contract).
        Link::decode(unsafe { node.as_ref().next.with(|p| *p) })
    }

    /// Reads `prev` of a linked node.
    ///
    /// # Safety
    ///
    /// As for [`TimerLinks::next`].
    #[inline]
    pub(super) unsafe fn prev(node: NonNull<TimerLinks>) -> Link {
        // SAFETY: live and exclusively ours (caller's contract).
        Link::decode(unsafe { node.as_ref().prev.with(|p| *p) })
    }

    /// Writes `next`.
    ///
    /// # Safety
    ///
    /// `node` is live and exclusively accessed by the wheel (it is linked in it, or being
    /// linked into it).
    #[inline]
    pub(super) unsafe fn set_next(node: NonNull<TimerLinks>, link: Link) {
        // SAFETY: live and exclusively ours (caller's contract).
        unsafe { node.as_ref().next.with_mut(|p| *p = link.encode()) }
    }

    /// Writes `prev`.
    ///
    /// # Safety
    ///
    /// As for [`TimerLinks::set_next`].
    #[inline]
    pub(super) unsafe fn set_prev(node: NonNull<TimerLinks>, link: Link) {
        // SAFETY: live and exclusively ours (caller's contract).
        unsafe { node.as_ref().prev.with_mut(|p| *p = link.encode()) }
    }

    /// Marks the node unlinked (both links null). Its due tick is kept.
    ///
    /// # Safety
    ///
    /// As for [`TimerLinks::set_next`]; the node has already been spliced out of its list.
    #[inline]
    pub(super) unsafe fn clear(node: NonNull<TimerLinks>) {
        // SAFETY: live and exclusively ours (caller's contract).
        unsafe {
            let links = node.as_ref();
            links.next.with_mut(|p| *p = ptr::null_mut());
            links.prev.with_mut(|p| *p = ptr::null_mut());
        }
    }
}

/// The `next` field doubles as the link of a [`TimerInbox`](crate::timer_inbox::TimerInbox)
/// while the task travels to its owner's wheel. `prev` stays null all along, so such a node
/// reads as not linked in any wheel.
impl TimerLinks {
    /// Reads the inbox link (`next`) of a node in a taken inbox list.
    ///
    /// # Safety
    ///
    /// `node` is live, in no wheel, and the caller has exclusive access to its `next`
    /// (it took the list the node is in, or is pushing the node).
    #[inline]
    pub(crate) unsafe fn inbox_next(node: NonNull<TimerLinks>) -> *mut TimerLinks {
        // SAFETY: live and exclusively ours (caller's contract).
        unsafe { node.as_ref().next.with(|p| *p) }
    }

    /// Writes the inbox link (`next`).
    ///
    /// # Safety
    ///
    /// As for [`TimerLinks::inbox_next`].
    #[inline]
    pub(crate) unsafe fn set_inbox_next(node: NonNull<TimerLinks>, next: *mut TimerLinks) {
        // SAFETY: live and exclusively ours (caller's contract).
        unsafe { node.as_ref().next.with_mut(|p| *p = next) }
    }
}

impl Default for TimerLinks {
    fn default() -> TimerLinks {
        TimerLinks::new()
    }
}

impl fmt::Debug for TimerLinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Reads only this node's own words (never follows a pointer). `TimerLinks` is
        // neither `Send` nor `Sync`, so `&self` here cannot race with a wheel on another
        // thread; whoever embeds it in a shared header must uphold that in its own `Debug`.
        let linked = self.prev.with(|p| {
            // SAFETY: `p` points into `self`, alive for this borrow; no concurrent writer
            // (see above).
            !unsafe { *p }.is_null()
        });
        let due = self.due.with(|p| {
            // SAFETY: as above.
            unsafe { *p }
        });
        f.debug_struct("TimerLinks").field("due", &due).field("linked", &linked).finish()
    }
}
