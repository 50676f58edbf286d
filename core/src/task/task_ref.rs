//! An owned, counted reference to a task cell.

use super::header::Header;
use super::state::Snapshot;
use super::RunResult;
use crate::Priority;
use core::ptr::NonNull;

/// One counted reference to a task. Dropping it releases the reference; the last one
/// frees the cell.
///
/// A `TaskRef` in a run queue is the queue's reference: [`TaskRef::run`] consumes it.
///
/// A queue entry also carries the *epoch* it was made for in the pointer's low bits
/// (headers are 8-byte aligned): see the state word's docs on priority changes.
pub struct TaskRef {
    tagged: NonNull<Header>,
}

/// The pointer bits that carry the epoch.
const EPOCH_TAG: usize = 0b111;

const _: () = assert!(core::mem::align_of::<Header>() > EPOCH_TAG);
const _: () = assert!(super::state::MAX_EPOCH as usize <= EPOCH_TAG);

// SAFETY: tasks are built only from `Send` bodies and outputs, and all shared access to a
// cell goes through the atomic state word, which hands the stage to one thread at a time.
unsafe impl Send for TaskRef {}
// SAFETY: `&TaskRef` only exposes the header's atomics and immutable fields.
unsafe impl Sync for TaskRef {}

impl TaskRef {
    /// Wraps a pointer that carries one reference.
    ///
    /// # Safety
    /// `ptr` points to a live task cell and the caller gives up one counted reference.
    /// The epoch is 0; stamp another with [`TaskRef::with_epoch`].
    #[inline]
    pub unsafe fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef { tagged: ptr }
    }

    /// Gives up the reference as a raw pointer (undo with [`TaskRef::from_raw`]); the
    /// epoch stamp is dropped.
    #[inline]
    pub fn into_raw(self) -> NonNull<Header> {
        let ptr = self.as_ptr();
        core::mem::forget(self);
        ptr
    }

    /// The same reference stamped with `epoch` (the entry is live while the task's epoch
    /// is `epoch`).
    #[inline]
    pub fn with_epoch(self, epoch: u8) -> TaskRef {
        let ptr = self.into_raw();
        TaskRef { tagged: ptr.map_addr(|a| a | (epoch as usize & EPOCH_TAG)) }
    }

    /// The same reference stamped with the task's current epoch: for entries made by a
    /// wake-up, which cannot race a priority change (those happen only before the start).
    #[inline]
    pub fn stamped(self) -> TaskRef {
        let epoch = self.snapshot().epoch();
        self.with_epoch(epoch)
    }

    /// The epoch this entry was stamped with.
    #[inline]
    pub fn epoch(&self) -> u8 {
        (self.tagged.addr().get() & EPOCH_TAG) as u8
    }

    /// The header.
    #[inline]
    pub fn header(&self) -> &Header {
        // SAFETY: the reference we hold keeps the cell alive.
        unsafe { self.as_ptr().as_ref() }
    }

    /// The wheel links of this task's cell (valid while this reference lives).
    ///
    /// # Panics
    /// If the cell has none ([`Header::has_links`]): only timed tasks (and sampled ready
    /// ones) have links, and only those reach a wheel or an inbox.
    #[inline]
    pub fn timer_links(&self) -> NonNull<crate::wheel::TimerLinks> {
        assert!(self.header().has_links(), "a wheel or inbox was handed a task without timer links");
        // SAFETY: the reference we hold keeps the cell alive, and it has links.
        unsafe { Header::timer_links(self.as_ptr()) }
    }

    /// The header pointer (valid while this reference lives).
    #[inline]
    pub fn as_ptr(&self) -> NonNull<Header> {
        // SAFETY: clearing the tag bits of a non-null, 8-aligned header address leaves it
        // non-null (the untagged address is the header's).
        self.tagged.map_addr(|a| unsafe { core::num::NonZeroUsize::new_unchecked(a.get() & !EPOCH_TAG) })
    }

    /// The current state.
    #[inline]
    pub fn snapshot(&self) -> Snapshot {
        self.header().state.load()
    }

    /// The task's priority.
    #[inline]
    pub fn priority(&self) -> Priority {
        self.snapshot().priority()
    }

    /// Runs (or polls) the task; consumes this reference, which must be a run queue's.
    #[inline]
    pub fn run(self) -> RunResult {
        self.run_observed(&mut || {})
    }

    /// Like [`run`](Self::run), and calls `on_first_run` once the task is claimed for its
    /// first run, before its body starts (a runtime's "started" accounting).
    #[inline]
    pub fn run_observed(self, on_first_run: &mut dyn FnMut()) -> RunResult {
        let epoch = self.epoch();
        let ptr = self.into_raw();
        // SAFETY: `ptr` carries the queue's reference, which `run` takes over.
        unsafe { (ptr.as_ref().vtable.run)(ptr, epoch, on_first_run) }
    }

    /// Cancels the task with `outcome` if it has not started; true if it did.
    pub fn cancel(&self, outcome: super::Outcome) -> bool {
        // SAFETY: the reference we hold keeps the cell alive during the call.
        unsafe { (self.header().vtable.cancel)(self.as_ptr(), outcome) }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        self.header().state.ref_inc();
        TaskRef { tagged: self.tagged }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference; if it was the last, nobody else can reach the cell.
        unsafe { release(self.as_ptr()) }
    }
}

impl core::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TaskRef")
            .field("ptr", &self.as_ptr())
            .field("epoch", &self.epoch())
            .field("state", &self.snapshot())
            .finish()
    }
}

/// Releases one reference to the cell at `ptr`, freeing it if it was the last.
///
/// # Safety
/// The caller owns one counted reference to a live cell and gives it up.
pub(crate) unsafe fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the cell alive until the decrement.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: that was the last reference: nobody else can reach the cell.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}
