//! The part of every task cell that code outside the cell's concrete type can see.
//!
//! A cell is `#[repr(C)]` with the [`Header`] first, so a `NonNull<Header>` is a
//! type-erased pointer to any cell; the [`Vtable`] recovers the concrete type. The
//! header holds the state word, the vtable, and the timing-wheel links, so a timed task
//! needs no allocation beyond its cell.

use super::state::{Outcome, State};
use super::RunResult;
use crate::wheel::TimerLinks;
use core::ptr::NonNull;

/// Type-erased operations on one concrete cell type.
pub(crate) struct Vtable {
    /// Runs or polls the task, consuming the caller's queue reference (an entry stamped
    /// with the given epoch); calls the hook before the body's first run.
    pub run: unsafe fn(NonNull<Header>, u8, &mut dyn FnMut()) -> RunResult,
    /// Drops whatever the stage holds, the scheduler, and frees the cell.
    pub dealloc: unsafe fn(NonNull<Header>),
    /// Claims and cancels the task with the given outcome (`Cancelled` or `Shutdown`).
    pub cancel: unsafe fn(NonNull<Header>, Outcome) -> bool,
    /// Moves the outcome into `*mut Result<Output, JoinError>`.
    pub read_outcome: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the outcome in place (the handle goes away without reading it).
    pub drop_outcome: unsafe fn(NonNull<Header>),
    /// Hands a woken task to its scheduler.
    pub schedule: unsafe fn(NonNull<Header>),
    /// Whether the body is a future (it can be woken and polled again).
    pub is_future: bool,
}

/// The header at the start of every task cell.
#[repr(C)]
pub struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) timer: TimerLinks,
}

impl Header {
    /// The state word.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the body is a future.
    pub fn is_future(&self) -> bool {
        self.vtable.is_future
    }

    /// The wheel links of the task at `header`.
    pub fn timer_links(header: NonNull<Header>) -> NonNull<TimerLinks> {
        // SAFETY: `timer` is a field of a live header, so the projection stays in bounds.
        unsafe { NonNull::new_unchecked(core::ptr::addr_of_mut!((*header.as_ptr()).timer)) }
    }

    /// The header that embeds the wheel links at `links`.
    ///
    /// # Safety
    /// `links` must have been obtained from [`Header::timer_links`].
    pub unsafe fn from_timer_links(links: NonNull<TimerLinks>) -> NonNull<Header> {
        let offset = core::mem::offset_of!(Header, timer);
        // SAFETY: by the caller's contract `links` points `offset` bytes into a header.
        unsafe { NonNull::new_unchecked(links.as_ptr().byte_sub(offset).cast::<Header>()) }
    }
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header").field("state", &self.state).finish_non_exhaustive()
    }
}
