//! [`TimerInbox`]: how timed tasks from other threads reach a worker's wheel, with no
//! allocation of its own.
//!
//! Only the worker that owns a wheel may link tasks into it, so a thread that registers a
//! timed task with another worker pushes it into that worker's inbox, and the owner takes
//! the inbox's whole content into its wheel later. The inbox is intrusive: it links tasks
//! through the `next` field of their own [`TimerLinks`], which a task in transit does not
//! use otherwise. A queue of entries allocated per push (such as a crossbeam `Injector`)
//! would cost 16 bytes and a share of a block allocation per timer; this costs nothing.
//!
//! ## Protocol
//!
//! The inbox is a Treiber stack whose consumer takes everything at once:
//!
//! - **push** (any thread): write the task's `next` = the current head, then CAS the head
//!   from that value to the task (`SeqCst`, `Release` included: publishes `next` and the
//!   task). Retry with the new head on failure.
//! - **take** (any thread; the runtime takes from the owner, or from shutdown once the
//!   owner exited): swap the head with null (`SeqCst`, `Acquire` included: sees every
//!   `next` written before the CAS that published each node), then walk the taken list,
//!   reversing it so tasks come out in push order (oldest first, like the run queues),
//!   and reset each `next` to null before handing the task back. Concurrent takes are
//!   safe: each swap takes a disjoint list.
//!
//! There is no ABA problem: no one pops single nodes, a take swaps the head with null,
//! so a pusher's CAS either links onto the exact list it read or fails.
//!
//! ## Invariants
//!
//! - A node in the inbox holds one counted reference of its task (the lineage reference,
//!   see [`timer`](crate::timer)), given up by `push` and handed back by `take`.
//! - A node's `prev` stays null throughout, so [`TimerLinks::is_linked`] reads false and a
//!   cancellation message processed before the node is taken finds nothing to unlink (the
//!   insert then sees the task claimed, see [`TimerDriver::insert`](crate::timer::TimerDriver::insert)).
//! - Between push and take only the inbox touches `next`; the pusher writes it before the
//!   node is published and the owner after it took the list.
//!
//! Modelled in `loom-tests/tests/timer_inbox.rs` (concurrent pushes against takes: every
//! task comes out once, in push order per pusher) and in `park.rs` (as the runtime uses it).

use core::fmt;
use core::ptr::{self, NonNull};

use crate::sync::atomic::{AtomicPtr, Ordering::SeqCst};
use crate::task::{Header, TaskRef};
use crate::wheel::TimerLinks;

/// An intrusive inbox of timed tasks: any thread pushes, any thread takes everything at
/// once (see the module docs).
///
/// # Examples
///
/// ```
/// use kairos_rt_core::task::{allocate, Closure, Outcome, Schedule, TaskOptions, TaskRef};
/// use kairos_rt_core::timer_inbox::TimerInbox;
/// use kairos_rt_core::Priority;
///
/// struct Unused;
/// impl Schedule for Unused {
///     fn schedule(&self, _: TaskRef) {}
///     fn timer_cancelled(&self, _: TaskRef) {}
///     fn future_completed(&self, _: &TaskRef, _: Outcome) {}
/// }
///
/// let inbox = TimerInbox::new();
/// for due in [5, 7] {
///     let (task, _) = allocate(Closure(|| ()), None::<Unused>, TaskOptions::timed(Priority::NORMAL, due));
///     inbox.push(task);
/// }
/// assert!(!inbox.is_empty());
/// let taken: Vec<TaskRef> = inbox.take().collect();
/// assert_eq!(taken.len(), 2);
/// assert!(inbox.is_empty());
/// ```
pub struct TimerInbox {
    /// The most recently pushed node's links (null: empty).
    head: AtomicPtr<TimerLinks>,
}

// SAFETY: the inbox only holds task references (which are `Send` and `Sync`) behind
// atomics; the protocol gives each node's `next` to one thread at a time.
unsafe impl Send for TimerInbox {}
// SAFETY: as above.
unsafe impl Sync for TimerInbox {}

impl TimerInbox {
    /// An empty inbox.
    pub fn new() -> TimerInbox {
        TimerInbox { head: AtomicPtr::new(ptr::null_mut()) }
    }

    /// Pushes a timed task (its lineage reference) for the owner to take. Its links must
    /// be in no wheel and no other inbox.
    #[inline]
    pub fn push(&self, task: TaskRef) {
        let node = task.timer_links();
        let _ = task.into_raw();
        let mut head = self.head.load(SeqCst);
        loop {
            // SAFETY: the node is ours until the CAS below publishes it: it is in no wheel
            // and no inbox (caller's contract), and the reference it carries keeps it alive.
            unsafe { TimerLinks::set_inbox_next(node, head) };
            match self.head.compare_exchange_weak(head, node.as_ptr(), SeqCst, SeqCst) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Whether the inbox looks empty (a `SeqCst` load of the head: the owner's re-check
    /// before it parks, see the runtime's `push_timer_inbox`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.load(SeqCst).is_null()
    }

    /// Takes every task pushed so far, oldest first. Any thread may call it; concurrent
    /// takes get disjoint batches.
    pub fn take(&self) -> Taken {
        let mut node = self.head.swap(ptr::null_mut(), SeqCst);
        // Reverse the newest-first list into push order.
        let mut reversed: *mut TimerLinks = ptr::null_mut();
        while let Some(n) = NonNull::new(node) {
            // SAFETY: the swap took the list: its nodes are live (each holds a reference)
            // and their `next` fields are ours alone now.
            unsafe {
                node = TimerLinks::inbox_next(n);
                TimerLinks::set_inbox_next(n, reversed);
            }
            reversed = n.as_ptr();
        }
        Taken { next: reversed }
    }
}

impl Default for TimerInbox {
    fn default() -> TimerInbox {
        TimerInbox::new()
    }
}

impl fmt::Debug for TimerInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerInbox").field("empty", &self.is_empty()).finish()
    }
}

impl Drop for TimerInbox {
    /// Releases the references of tasks still in the inbox.
    fn drop(&mut self) {
        self.take().for_each(drop);
    }
}

/// The tasks [`TimerInbox::take`] took, oldest first. Dropping it releases the references
/// of the tasks not yet iterated.
pub struct Taken {
    next: *mut TimerLinks,
}

impl Iterator for Taken {
    type Item = TaskRef;

    #[inline]
    fn next(&mut self) -> Option<TaskRef> {
        let node = NonNull::new(self.next)?;
        // SAFETY: the node belongs to the list `take` took and reversed; nobody else touches
        // its links, and it carries one reference, handed back below with `next` reset to
        // null (unlinked) as the wheel expects.
        unsafe {
            self.next = TimerLinks::inbox_next(node);
            TimerLinks::set_inbox_next(node, ptr::null_mut());
            Some(TaskRef::from_raw(Header::from_timer_links(node)))
        }
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        for task in self.by_ref() {
            drop(task);
        }
    }
}

impl fmt::Debug for Taken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Taken").field("done", &self.next.is_null()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::{allocate, Closure, Outcome, Schedule, TaskOptions};
    use crate::Priority;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    struct Unused;
    impl Schedule for Unused {
        fn schedule(&self, _: TaskRef) {}
        fn timer_cancelled(&self, _: TaskRef) {}
        fn future_completed(&self, _: &TaskRef, _: Outcome) {}
    }

    /// Counts drops of the closure it is captured by: the cell was freed.
    struct Freed(Arc<AtomicUsize>);
    impl Drop for Freed {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    fn timed(due: u64, freed: &Arc<AtomicUsize>) -> TaskRef {
        let f = Freed(freed.clone());
        let opts = TaskOptions::timed(Priority::NORMAL, due);
        allocate(Closure(move || drop(f)), None::<Unused>, opts).0
    }

    fn due(task: &TaskRef) -> u64 {
        // SAFETY: the test owns the task; its links are in no wheel.
        unsafe { TimerLinks::due(task.timer_links()) }
    }

    #[test]
    fn tasks_come_out_in_push_order_unlinked() {
        let freed = Arc::new(AtomicUsize::new(0));
        let inbox = TimerInbox::new();
        assert!(inbox.is_empty());
        for d in 1..=5 {
            inbox.push(timed(d, &freed));
        }
        let taken: Vec<TaskRef> = inbox.take().collect();
        assert_eq!(taken.iter().map(due).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        for t in &taken {
            let links = t.timer_links();
            // SAFETY: as in `due`.
            unsafe {
                assert!(TimerLinks::inbox_next(links).is_null(), "next is reset for the wheel");
                assert!(!TimerLinks::is_linked(links));
            }
        }
        assert!(inbox.is_empty());
        assert_eq!(inbox.take().count(), 0);
        drop(taken);
        assert_eq!(freed.load(Relaxed), 5);
    }

    #[test]
    fn pushes_after_a_take_form_a_new_batch() {
        let freed = Arc::new(AtomicUsize::new(0));
        let inbox = TimerInbox::new();
        inbox.push(timed(1, &freed));
        let first = inbox.take();
        inbox.push(timed(2, &freed));
        inbox.push(timed(3, &freed));
        assert_eq!(first.map(|t| due(&t)).collect::<Vec<_>>(), [1]);
        assert_eq!(inbox.take().map(|t| due(&t)).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(freed.load(Relaxed), 3);
    }

    #[test]
    fn dropping_the_inbox_or_a_partly_used_take_frees_every_task() {
        let freed = Arc::new(AtomicUsize::new(0));
        let inbox = TimerInbox::new();
        for d in 0..4 {
            inbox.push(timed(d, &freed));
        }
        let mut taken = inbox.take();
        drop(taken.next());
        drop(taken);
        assert_eq!(freed.load(Relaxed), 4);
        for d in 0..3 {
            inbox.push(timed(d, &freed));
        }
        drop(inbox);
        assert_eq!(freed.load(Relaxed), 7);
    }

    #[test]
    fn concurrent_pushers_lose_nothing_and_keep_their_order() {
        const PUSHERS: u64 = 4;
        const EACH: u64 = 5_000;
        let freed = Arc::new(AtomicUsize::new(0));
        let inbox = Arc::new(TimerInbox::new());
        let pushers: Vec<_> = (0..PUSHERS)
            .map(|p| {
                let (inbox, freed) = (inbox.clone(), freed.clone());
                std::thread::spawn(move || (0..EACH).for_each(|i| inbox.push(timed(p * EACH + i, &freed))))
            })
            .collect();
        let mut seen = Vec::new();
        while seen.len() < (PUSHERS * EACH) as usize {
            seen.extend(inbox.take().map(|t| due(&t)));
            std::thread::yield_now();
        }
        pushers.into_iter().for_each(|p| p.join().unwrap());
        assert!(inbox.is_empty());
        for p in 0..PUSHERS {
            let mine: Vec<u64> = seen.iter().copied().filter(|d| d / EACH == p).collect();
            assert_eq!(mine, (p * EACH..(p + 1) * EACH).collect::<Vec<_>>(), "pusher {p}");
        }
        assert_eq!(freed.load(Relaxed), (PUSHERS * EACH) as usize);
    }
}
