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
pub struct TaskRef {
    ptr: NonNull<Header>,
}

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
    pub unsafe fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef { ptr }
    }

    /// Gives up the reference as a raw pointer (undo with [`TaskRef::from_raw`]).
    pub fn into_raw(self) -> NonNull<Header> {
        let ptr = self.ptr;
        core::mem::forget(self);
        ptr
    }

    /// The header.
    pub fn header(&self) -> &Header {
        // SAFETY: the reference we hold keeps the cell alive.
        unsafe { self.ptr.as_ref() }
    }

    /// The header pointer (valid while this reference lives).
    pub fn as_ptr(&self) -> NonNull<Header> {
        self.ptr
    }

    /// The current state.
    pub fn snapshot(&self) -> Snapshot {
        self.header().state.load()
    }

    /// The task's priority.
    pub fn priority(&self) -> Priority {
        self.snapshot().priority()
    }

    /// Runs (or polls) the task; consumes this reference, which must be a run queue's.
    pub fn run(self) -> RunResult {
        let ptr = self.into_raw();
        // SAFETY: `ptr` carries the queue's reference, which `run` takes over.
        unsafe { (ptr.as_ref().vtable.run)(ptr) }
    }

    /// Cancels the task with `outcome` if it has not started; true if it did.
    pub fn cancel(&self, outcome: super::Outcome) -> bool {
        // SAFETY: the reference we hold keeps the cell alive during the call.
        unsafe { (self.header().vtable.cancel)(self.ptr, outcome) }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        self.header().state.ref_inc();
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference; if it was the last, nobody else can reach the cell.
        unsafe { release(self.ptr) }
    }
}

impl core::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TaskRef").field("ptr", &self.ptr).field("state", &self.snapshot()).finish()
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
