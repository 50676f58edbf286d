//! `stats`, `dead` and `events`: what an operator reads.

use crate::args::{DeadArgs, EventsArgs, StatsArgs};
use kairos_cluster::{Client, QueueCounts};
use std::time::{Duration, Instant};

pub fn stats(a: StatsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Client::connect(&a.target.redis)?.queue(&a.target.queue)?;
    let mut last: Option<(Instant, QueueCounts)> = None;
    loop {
        let c = queue.counts()?;
        if a.json {
            println!("{}", json(&c));
        } else {
            if a.watch {
                print!("\x1b[2J\x1b[H");
            }
            println!("queue {:?} at {}", a.target.queue, a.target.redis);
            println!(
                "  ready {}  delayed {}  running {}  dead {}  nodes {}",
                c.ready, c.delayed, c.running, c.dead, c.nodes
            );
            println!(
                "  total: enqueued {}  completed {}  dead {}  cancelled {}  expired {}  retried {}  recovered {}  \
                 handed back {}  stale acks {}",
                c.total_enqueued,
                c.total_completed,
                c.total_dead,
                c.total_cancelled,
                c.total_expired,
                c.total_retried,
                c.total_recovered,
                c.total_handed_back,
                c.total_stale_acks
            );
            for n in queue.nodes()? {
                println!("  node {}: {}", n.id, n.about);
            }
            if !c.ready_by_priority.is_empty() {
                let levels: Vec<String> =
                    c.ready_by_priority.iter().rev().map(|(p, n)| format!("{p}:{n}")).collect();
                println!("  ready by priority (level:count): {}", levels.join(" "));
            }
            if let Some((t, prev)) = &last {
                let s = t.elapsed().as_secs_f64();
                println!(
                    "  rates: enqueued {:.0}/s  completed {:.0}/s",
                    (c.total_enqueued - prev.total_enqueued) as f64 / s,
                    (c.total_completed - prev.total_completed) as f64 / s
                );
            }
        }
        if !a.watch {
            return Ok(());
        }
        last = Some((Instant::now(), c));
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn json(c: &QueueCounts) -> serde_json::Value {
    serde_json::json!({
        "ready": c.ready,
        "delayed": c.delayed,
        "running": c.running,
        "completed": c.total_completed,
        "dead": c.dead,
        "cancelled": c.total_cancelled,
        "expired": c.total_expired,
        "nodes": c.nodes,
        "enqueued": c.total_enqueued,
        "retried": c.total_retried,
        "recovered": c.total_recovered,
        "handed_back": c.total_handed_back,
        "stale_acks": c.total_stale_acks,
        "dead_total": c.total_dead,
        "finished_kept": c.finished_kept,
        "ready_by_priority": c.ready_by_priority,
    })
}

pub fn dead(a: DeadArgs) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Client::connect(&a.target.redis)?.queue(&a.target.queue)?;
    if a.requeue {
        let n = queue.requeue_dead(&[])?;
        println!("requeued {n} dead jobs");
        return Ok(());
    }
    for s in queue.dead(a.limit)? {
        println!("{}\t{}\tattempts {}\t{}", s.id, s.kind, s.attempts, s.last_error.unwrap_or_default());
    }
    Ok(())
}

pub fn events(a: EventsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Client::connect(&a.target.redis)?.queue(&a.target.queue)?;
    let mut from = a.from.clone();
    let mut seen = 0u64;
    loop {
        for e in queue.events(&from, 100, Duration::from_secs(1))? {
            println!("{}\t{}\tjob {}\t{}", e.stream_id, e.kind, e.job, e.error.as_deref().unwrap_or(""));
            from = e.stream_id;
            seen += 1;
            if a.count.is_some_and(|c| seen >= c) {
                return Ok(());
            }
        }
    }
}
