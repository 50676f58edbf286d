//! `stats`, `dead` and `events`: what an operator reads.

use crate::args::{DeadArgs, EventsArgs, ScheduleArgs, StatsArgs, UnscheduleArgs};
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
            for s in queue.schedules()? {
                println!(
                    "  schedule {}: kind {}, fired {}, next tick {:?} ms, {}{}",
                    s.name,
                    s.kind,
                    s.fired,
                    s.next_tick_ms,
                    s.spec,
                    s.broken.map(|why| format!(", ended: {why}")).unwrap_or_default()
                );
            }
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
                    "  rates: enqueued {}  completed {}",
                    rate(c.total_enqueued, prev.total_enqueued, s),
                    rate(c.total_completed, prev.total_completed, s)
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

/// A counter's rate over `secs`; a counter that went down (its stats hash was reset, or
/// Redis restarted without its data) has no rate.
fn rate(now: u64, before: u64, secs: f64) -> String {
    match now.checked_sub(before) {
        Some(d) => format!("{:.0}/s", d as f64 / secs),
        None => "- (the counter was reset)".to_string(),
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
    // "$" is resolved once: given to every read, it would skip the events that came
    // between two reads.
    let mut from = if a.from == "$" { queue.last_event_id()? } else { a.from.clone() };
    let mut seen = 0u64;
    if a.count == Some(0) {
        return Ok(());
    }
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

pub fn schedule(a: ScheduleArgs) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Client::connect(&a.target.redis)?.queue(&a.target.queue)?;
    let mut s = match (a.every_ms, &a.cron, &a.tz) {
        (Some(ms), _, _) => kairos_rt::Schedule::every(Duration::from_millis(ms))?,
        (None, Some(expr), Some(tz)) => kairos_rt::Schedule::cron_in(expr, tz)?,
        (None, Some(expr), None) => kairos_rt::Schedule::cron(expr)?,
        (None, None, _) => return Err("give --every-ms or --cron".into()),
    };
    if let Some(n) = a.times {
        s = s.times(n);
    }
    let priority = kairos_rt::Priority::new(a.priority)?;
    let job = kairos_cluster::Job::new(a.kind).payload(a.payload.into_bytes()).priority(priority);
    queue.schedule(&a.name, &s, job)?;
    println!("schedule {:?} registered on queue {:?}", a.name, a.target.queue);
    Ok(())
}

pub fn unschedule(a: UnscheduleArgs) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Client::connect(&a.target.redis)?.queue(&a.target.queue)?;
    if queue.unschedule(&a.name)? {
        println!("schedule {:?} removed", a.name);
        Ok(())
    } else {
        Err(format!("no schedule {:?} on queue {:?}", a.name, a.target.queue).into())
    }
}

#[cfg(test)]
mod tests {
    use super::rate;

    /// Seen to panic (debug) or print 1.8e19/s (release) when a counter went down.
    #[test]
    fn a_counter_that_went_down_has_no_rate() {
        assert_eq!(rate(150, 50, 2.0), "50/s");
        assert_eq!(rate(5, 50, 1.0), "- (the counter was reset)");
    }
}
