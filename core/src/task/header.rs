//! The part of every task cell that code outside the cell's concrete type can see.
//!
//! A cell is `#[repr(C)]` with the [`Header`] first, so a `NonNull<Header>` is a
//! type-erased pointer to any cell; the [`Vtable`] recovers the concrete type. The
//! header holds the state word and the vtable. A cell that may enter a wheel (a timed
//! task, or a ready one carrying a latency sample's submit tick) has the timing-wheel
//! links right after the header, so a timed task needs no allocation beyond its cell;
//! other ready tasks carry no links at all.

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
    /// Moves the outcome into `*mut Result<Output, JoinError>`; an error carries the
    /// given task id (the handle's).
    pub read_outcome: unsafe fn(NonNull<Header>, *mut (), super::TaskId),
    /// Drops the outcome in place (the handle goes away without reading it).
    pub drop_outcome: unsafe fn(NonNull<Header>),
    /// Hands a woken task to its scheduler.
    pub schedule: unsafe fn(NonNull<Header>),
    /// Whether the body is a future (it can be woken and polled again).
    pub is_future: bool,
    /// Whether the cell has wheel links after its header.
    pub has_links: bool,
    /// [`Body::STARTS_AT_SHUTDOWN`](super::Body::STARTS_AT_SHUTDOWN) of the body.
    pub starts_at_shutdown: bool,
    /// [`Body::IS_RUNTIME_TIMER`](super::Body::IS_RUNTIME_TIMER) of the body.
    pub is_runtime_timer: bool,
}

/// The header at the start of every task cell.
#[repr(C)]
pub struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
}

/// Where a cell's wheel links sit, if it has them: right after the header (the cell is
/// `#[repr(C)]` and the links' alignment divides this offset, so there is no padding).
const LINKS_OFFSET: usize = core::mem::size_of::<Header>();
const _: () = assert!(
    LINKS_OFFSET % core::mem::align_of::<TimerLinks>() == 0,
    "the links follow the header with no padding"
);

impl Header {
    /// The state word.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether the body is a future.
    pub fn is_future(&self) -> bool {
        self.vtable.is_future
    }

    /// Whether a runtime shutting down polls this future if it was never started (see
    /// [`Body::STARTS_AT_SHUTDOWN`](super::Body::STARTS_AT_SHUTDOWN)).
    pub fn starts_at_shutdown(&self) -> bool {
        self.vtable.starts_at_shutdown
    }

    /// Whether the task is one of the runtime's own timers, counted apart from user
    /// tasks (see [`Body::IS_RUNTIME_TIMER`](super::Body::IS_RUNTIME_TIMER)).
    pub fn is_runtime_timer(&self) -> bool {
        self.vtable.is_runtime_timer
    }

    /// Whether the cell has wheel links: a timed task's cell, or a ready task's that
    /// carries a latency sample. Other ready tasks have none (their cells are 24 bytes
    /// smaller: 24 instead of 48 with an 8-byte closure).
    pub fn has_links(&self) -> bool {
        self.vtable.has_links
    }

    /// The wheel links of the task at `header`.
    ///
    /// # Safety
    /// `header` must point to a live cell that [has links](Self::has_links).
    pub unsafe fn timer_links(header: NonNull<Header>) -> NonNull<TimerLinks> {
        // SAFETY: by the caller's contract the cell is live and has links, which sit
        // `LINKS_OFFSET` bytes into it (see `cell::Cell`).
        unsafe {
            debug_assert!(header.as_ref().has_links(), "wheel links of a cell that has none");
            header.byte_add(LINKS_OFFSET).cast::<TimerLinks>()
        }
    }

    /// The tick the task's submit-to-start latency is measured from, or 0 if the task is
    /// not sampled. A sampled ready task carries its submit tick (set at allocation from
    /// [`TaskOptions::sample_tick`](super::TaskOptions::sample_tick)); a timed task keeps
    /// its due tick when it leaves the wheel, unless the runtime
    /// [clears](Self::clear_latency_sample) it. The tick lives in the wheel links, which
    /// are otherwise unused once the task is out of any wheel; a cell without links has
    /// no sample.
    ///
    /// # Safety
    /// `header` must point to a live cell that is in no wheel, and the caller must have
    /// exclusive access to its links (a worker that claimed the task for a run does).
    pub unsafe fn latency_sample(header: NonNull<Header>) -> u64 {
        // SAFETY: the cell is live (caller's contract); if it has links, they are in no
        // wheel and only the caller touches them.
        unsafe {
            if header.as_ref().has_links() {
                TimerLinks::due(Header::timer_links(header))
            } else {
                0
            }
        }
    }

    /// Marks a task that has links as not sampled (see
    /// [`latency_sample`](Self::latency_sample)).
    ///
    /// # Safety
    /// `header` must point to a live cell that [has links](Self::has_links), is in no
    /// wheel, and whose links only the caller accesses.
    pub unsafe fn clear_latency_sample(header: NonNull<Header>) {
        // SAFETY: the cell is live, has links, and they are unlinked and exclusively ours
        // (caller's contract), as `set_due` requires.
        unsafe { TimerLinks::set_due(Header::timer_links(header), 0) }
    }

    /// The header of the cell whose wheel links are at `links`.
    ///
    /// # Safety
    /// `links` must have been obtained from [`Header::timer_links`].
    pub unsafe fn from_timer_links(links: NonNull<TimerLinks>) -> NonNull<Header> {
        // SAFETY: by the caller's contract `links` points `LINKS_OFFSET` bytes into a cell.
        unsafe { links.byte_sub(LINKS_OFFSET).cast::<Header>() }
    }
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header").field("state", &self.state).finish_non_exhaustive()
    }
}
