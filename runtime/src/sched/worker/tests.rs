//! The worker's `tracing` spans and events reach a subscriber.

use crate::{Priority, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

static TASK_SPANS: AtomicUsize = AtomicUsize::new(0);
static SPAWNED_EVENTS: AtomicUsize = AtomicUsize::new(0);

/// Counts kairos's task spans and spawn events, process-wide.
struct Counting;

impl Subscriber for Counting {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.metadata().name() == "kairos.task" {
            TASK_SPANS.fetch_add(1, SeqCst);
        }
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        // The spawn event is the one with a `timed` field.
        if event.metadata().fields().field("timed").is_some() {
            SPAWNED_EVENTS.fetch_add(1, SeqCst);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn task_lifecycle_spans_and_events_reach_the_subscriber() {
    tracing::subscriber::set_global_default(Counting).expect("the only global subscriber");
    let rt = Runtime::builder().workers(2).build().unwrap();
    for _ in 0..10 {
        rt.spawn(Priority::NORMAL, || ()).join().unwrap();
    }
    rt.shutdown();
    assert!(TASK_SPANS.load(SeqCst) >= 10, "{} task spans", TASK_SPANS.load(SeqCst));
    assert!(SPAWNED_EVENTS.load(SeqCst) >= 10, "{} spawn events", SPAWNED_EVENTS.load(SeqCst));
}
