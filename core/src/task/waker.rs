//! Wakers of future tasks: a waker is one counted reference to the task.
//!
//! Waking goes through [`State::wake`](super::state::State::wake): a task that is idle
//! becomes `SCHEDULED` and is handed to its scheduler; one that is running is marked
//! `NOTIFIED` and re-queued by its runner; one already scheduled or complete is left
//! alone. So a task is in at most one run queue at a time, however many wakers fire.

use super::header::Header;
use super::state::Wake;
use super::task_ref::release;
use core::ptr::NonNull;
use core::task::{RawWaker, RawWakerVTable, Waker};

static WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for the task at `header` that borrows the runner's reference (no count).
///
/// # Safety
/// The caller holds a reference for as long as the returned waker (not its clones) lives.
pub(crate) unsafe fn borrowed_waker(header: NonNull<Header>) -> core::mem::ManuallyDrop<Waker> {
    let raw = RawWaker::new(header.as_ptr() as *const (), &WAKER_VTABLE);
    // SAFETY: the vtable's functions follow the RawWaker contract for a counted task
    // pointer; ManuallyDrop keeps this borrowed waker from releasing a count it never took.
    core::mem::ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

fn header(ptr: *const ()) -> NonNull<Header> {
    // SAFETY: wakers are only ever built from non-null header pointers.
    unsafe { NonNull::new_unchecked(ptr as *mut Header) }
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    // SAFETY: a live waker holds (or borrows) a reference, so the cell is alive.
    unsafe { header(ptr).as_ref() }.state.ref_inc();
    RawWaker::new(ptr, &WAKER_VTABLE)
}

unsafe fn wake(ptr: *const ()) {
    let h = header(ptr);
    // SAFETY: this waker owns a reference, so the cell is alive.
    let hdr = unsafe { h.as_ref() };
    match hdr.state.wake_by_val() {
        // SAFETY: the waker's reference now belongs to the run queue.
        Wake::Schedule => unsafe { (hdr.vtable.schedule)(h) },
        // SAFETY: the waker's reference was released and was the last one.
        Wake::Nothing { last_ref: true } => unsafe { (hdr.vtable.dealloc)(h) },
        Wake::Nothing { last_ref: false } => {}
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    let h = header(ptr);
    // SAFETY: this waker holds or borrows a reference, so the cell is alive.
    let hdr = unsafe { h.as_ref() };
    if let Wake::Schedule = hdr.state.wake() {
        // SAFETY: `wake` added a reference for the run queue.
        unsafe { (hdr.vtable.schedule)(h) }
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: a counted waker gives up its reference.
    unsafe { release(header(ptr)) }
}
