//! `queue-ops`: the distributed scheduler's operation table, on a runtime's pending tasks.
//!
//! The "queue" is the set of pending timed tasks (due in an hour, so they stay queued), and
//! the operations map to handle calls: **add** = `spawn_at`, **remove** = cancel,
//! **get-by-id** = `is_finished` through the handle, **update** = change the priority of a
//! pending task. Each operation is run N times (100k; 20k quick) and reported in ns per op:
//!
//! - add, get-by-id, update, remove: one thread, back to back;
//! - concurrent add / concurrent remove: one thread per worker, each on its own share,
//!   wall time divided by N (the aggregate cost per op);
//! - mixed: N random operations (40% add, 30% get-by-id, 30% remove of a random live task),
//!   the same seeded sequence for every peer (update is left out so peers without it run
//!   the same mix);
//! - submission latency: N adds each timed with `Instant` (adds ~30 ns of clock reads):
//!   p50/p95/p99/p99.9;
//!
//! **Case `memory`**: 100k pending timed tasks: RSS and heap bytes per 1,000 (this case
//! runs with the counting allocator, so its figures are not skewed by memory the allocator
//! reuses, and the counters' cost stays out of the ns/op figures).
//!
//! **Case `burst`**: the peer is built with a bound of 10,000 pending tasks; the main thread
//! offers 30,000 tasks of 20 us work back to back with `try_spawn`. Figures: accepted,
//! rejected, pending tasks when the first rejection came, offer rate. Needs a bounded queue.
//!
//! Published: the distributed scheduler's queue add 1,047 ns/op, remove 1,156, get-by-id
//! 234, update 2,456, concurrent add 3,123, concurrent remove 4,567, mixed 7,890; submission
//! p50 < 5 ms, p99 < 50 ms; 2 MB per 1,000 tasks; backpressure at 10,000 pending.

use std::time::{Duration, Instant};

use super::{require, wait_done, wait_quiet, warm_up, Better, CaseResult, Ctx, Skip};
use crate::alloc::{counting, heap_stats};
use crate::measure::{new_histogram, rss_bytes, spin_for, Completion};
use crate::peers::{Feature, Peer, Prio};

/// Runs the case.
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    match ctx.case.as_str() {
        "burst" => burst::<P>(ctx),
        "memory" => memory::<P>(ctx),
        _ => ops::<P>(ctx),
    }
}

fn per_op(r: &mut CaseResult, key: &str, label: &str, d: Duration, n: usize) {
    r.metric(key, label, "ns/op", d.as_nanos() as f64 / n as f64, Better::Lower);
}

fn ops<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    require::<P>(&[Feature::Timers, Feature::Cancel, Feature::Handles])?;
    let n = ctx.case_count(100_000) as usize;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;
    let done = Completion::leak();
    let far = Instant::now() + Duration::from_secs(3600);
    let due = |i: usize| far + Duration::from_micros(i as u64 % 1_000_000);
    let mut r = CaseResult::default();

    // add / get / update / remove.
    let mut handles: Vec<Option<P::Handle>> = Vec::with_capacity(n);
    handles.resize_with(n, || None);
    let t = Instant::now();
    for (i, h) in handles.iter_mut().enumerate() {
        *h = Some(peer.spawn_at(due(i), Prio::NORMAL, move || done.hit()));
    }
    per_op(&mut r, "add_ns", "add", t.elapsed(), n);

    let t = Instant::now();
    let mut finished = 0usize;
    for h in handles.iter().flatten() {
        finished += P::is_finished(h) as usize;
    }
    per_op(&mut r, "get_ns", "get-by-id", t.elapsed(), n);
    std::hint::black_box(finished);

    if P::supports(Feature::SetPriority) {
        let t = Instant::now();
        for h in handles.iter().flatten() {
            P::set_priority(h, Prio::HIGH);
        }
        per_op(&mut r, "update_ns", "update (priority change)", t.elapsed(), n);
    } else {
        r.note(format!("update: {} cannot change a pending task's priority", P::KIND));
    }

    let t = Instant::now();
    for h in handles.iter().flatten() {
        P::cancel(h);
    }
    per_op(&mut r, "remove_ns", "remove (cancel)", t.elapsed(), n);
    drop(handles);

    // Concurrent add, then concurrent remove.
    let threads = ctx.workers.max(2);
    let share = n / threads;
    let mut shares: Vec<Vec<P::Handle>> = (0..threads).map(|_| Vec::with_capacity(share)).collect();
    let t = Instant::now();
    std::thread::scope(|s| {
        for (k, v) in shares.iter_mut().enumerate() {
            let peer = &peer;
            s.spawn(move || {
                for i in 0..share {
                    v.push(peer.spawn_at(due(k * share + i), Prio::NORMAL, move || done.hit()));
                }
            });
        }
    });
    per_op(&mut r, "concurrent_add_ns", "concurrent add", t.elapsed(), share * threads);
    let t = Instant::now();
    std::thread::scope(|s| {
        for v in shares.iter_mut() {
            s.spawn(move || {
                for h in v.iter() {
                    P::cancel(h);
                }
            });
        }
    });
    per_op(&mut r, "concurrent_remove_ns", "concurrent remove", t.elapsed(), share * threads);
    drop(shares);

    // Mixed.
    let mut rng = fastrand::Rng::with_seed(0x313);
    let ops: Vec<(u32, usize)> = (0..n).map(|_| (rng.u32(0..100), rng.usize(..))).collect();
    let mut live: Vec<P::Handle> = Vec::with_capacity(n);
    for i in 0..n / 2 {
        live.push(peer.spawn_at(due(i), Prio::NORMAL, move || done.hit()));
    }
    let t = Instant::now();
    let mut hits = 0usize;
    for (i, &(op, pick)) in ops.iter().enumerate() {
        if op < 40 || live.is_empty() {
            live.push(peer.spawn_at(due(i), Prio::NORMAL, move || done.hit()));
        } else if op < 70 {
            hits += P::is_finished(&live[pick % live.len()]) as usize;
        } else {
            let h = live.swap_remove(pick % live.len());
            P::cancel(&h);
        }
    }
    per_op(&mut r, "mixed_ns", "mixed (40% add, 30% get, 30% remove)", t.elapsed(), n);
    std::hint::black_box(hits);
    for h in &live {
        P::cancel(h);
    }
    drop(live);

    // Submission latency.
    let mut hist = new_histogram();
    let mut keep: Vec<P::Handle> = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        let h = peer.spawn_at(due(i), Prio::NORMAL, move || done.hit());
        hist.saturating_record(t.elapsed().as_nanos().max(1) as u64);
        keep.push(h);
    }
    for q in [0.5, 0.95, 0.99, 0.999] {
        let name = super::quantile_name(q);
        r.metric(
            &format!("submit_{name}_us"),
            &format!("submission {name}"),
            "us",
            hist.value_at_quantile(q) as f64 / 1000.0,
            Better::Lower,
        );
    }
    for h in &keep {
        P::cancel(h);
    }
    drop(keep);

    if done.count() > 0 {
        r.note(format!("{} queued tasks ran although due in an hour", done.count()));
    }
    r.note(peer.shutdown());
    Ok(r)
}

/// Case `memory`: 100k pending timed tasks (handles kept in a pre-touched `Vec`), measured
/// as RSS and as heap bytes (this case runs with the counting allocator).
fn memory<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    require::<P>(&[Feature::Timers, Feature::Cancel])?;
    let n = 100_000usize;
    let peer: P = ctx.build(None)?;
    warm_up(&peer, 10_000)?;
    let done = Completion::leak();
    let far = Instant::now() + Duration::from_secs(3600);
    let mut handles: Vec<Option<P::Handle>> = Vec::with_capacity(n);
    handles.resize_with(n, || None);
    wait_quiet(Duration::from_secs(10));
    let rss0 = rss_bytes();
    let heap0 = heap_stats();
    for (i, h) in handles.iter_mut().enumerate() {
        let due = far + Duration::from_micros(i as u64);
        *h = Some(peer.spawn_at(due, Prio::NORMAL, move || done.hit()));
    }
    wait_quiet(Duration::from_secs(30));
    let rss1 = rss_bytes();
    let heap1 = heap_stats();
    for h in handles.iter().flatten() {
        P::cancel(h);
    }
    drop(handles);
    let mut r = CaseResult::default();
    let per_1000 = 1000.0 / n as f64 / 1024.0;
    r.metric(
        "kb_per_1000",
        "RSS per 1,000 pending tasks",
        "KiB",
        rss1.saturating_sub(rss0) as f64 * per_1000,
        Better::Lower,
    );
    if counting() {
        r.metric(
            "heap_kb_per_1000",
            "heap per 1,000 pending tasks",
            "KiB",
            (heap1.live_bytes - heap0.live_bytes) as f64 * per_1000,
            Better::Lower,
        );
    }
    r.note(peer.shutdown());
    Ok(r)
}

fn burst<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    let bound = 10_000usize;
    let offered = 30_000usize;
    let peer: P = ctx.build(Some(bound))?;
    warm_up(&peer, 10_000)?;
    let done = Completion::leak();
    let mut accepted = 0u64;
    let mut first_reject_pending: Option<u64> = None;
    let t = Instant::now();
    for _ in 0..offered {
        let ok = peer.try_spawn(Prio::NORMAL, move || {
            spin_for(Duration::from_micros(20));
            done.hit();
        });
        if ok {
            accepted += 1;
        } else if first_reject_pending.is_none() {
            first_reject_pending = Some(accepted - done.count());
        }
    }
    let offer = t.elapsed();
    wait_done(done, accepted, Duration::from_secs(60), "queue-ops burst")?;

    let mut r = CaseResult::default();
    r.metric(
        "burst_offer_per_s",
        "burst offer rate",
        "tasks/s",
        offered as f64 / offer.as_secs_f64(),
        Better::Higher,
    );
    r.metric("burst_accepted", "accepted", "tasks", accepted as f64, Better::Neither);
    r.metric(
        "burst_rejected",
        "rejected (queue full)",
        "tasks",
        (offered as u64 - accepted) as f64,
        Better::Neither,
    );
    if let Some(p) = first_reject_pending {
        r.metric(
            "burst_first_reject_pending",
            "pending when the first rejection came",
            "tasks",
            p as f64,
            Better::Neither,
        );
    }
    r.note(peer.shutdown());
    Ok(r)
}
