//! The fetch loop: claim as many jobs as the node has free slots, start them, and sleep
//! until there may be more.
//!
//! ## When it sleeps and what wakes it
//!
//! - **No free slot**: it waits on `slot_freed`, which every finished job signals, and
//!   by the next due time (at most [`IDLE_POLL`]) claims nothing, to fire the recurring
//!   schedules that came due: a firing is an enqueue, which needs no slot.
//! - **Nothing ready**: CLAIM returns Redis's clock and the next instant something could
//!   change without an enqueue (the earliest delayed job's due time, or the earliest
//!   lease deadline of a running job, which may expire). The loop waits for that long
//!   (at most [`IDLE_POLL`]) on its subscriber connection, whose read timeout is that
//!   wait, so it wakes at the due time itself (sub-millisecond, not on a poll grid). A
//!   message on the queue's `wake` channel ends the wait early: ENQUEUE, ACK (a retry
//!   or a hand-back), CLAIM (a recovered lease) and REQUEUE publish one when the ready
//!   set was empty or the earliest due time moved earlier. The subscription is made
//!   before the first claim and kept, so no message sent after a claim is missed: a
//!   message that arrives while the loop is busy waits in the socket and ends the next
//!   wait at once.
//! - **Redis down**: it backs off (10 ms doubling to 2 s) and reconnects; jobs already
//!   held keep running, and the keeper keeps trying to deliver their outcomes.
//!
//! The wait is measured in Redis's clock (the due time minus CLAIM's `now`), so the node's
//! own clock does not matter.

use super::state::{Claimed, NodeState, Token};
use crate::connection::{transient, Client, Conn};
use crate::job::JobId;
use crate::queue_name::QueueName;
use crate::schedules::{utc_of_ms, ScheduleSpec};
use crate::scripts::SCRIPTS;
use kairos_rt::Priority;
use redis::Value;
use std::collections::HashMap;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest an idle node waits before claiming again, message or not.
pub(crate) const IDLE_POLL: Duration = Duration::from_secs(1);

/// The most jobs one claim takes (a node with more free slots claims again at once):
/// Redis refuses a ZPOPMIN count past its range, and one reply stays bounded.
const MAX_CLAIM: usize = 1000;

/// What one CLAIM returned.
struct ClaimReply {
    now_ms: i64,
    next_ms: i64,
    ready_left: i64,
    jobs: Vec<Claimed>,
    /// Recurring schedules whose tick is due: name, tick (epoch ms).
    due_schedules: Vec<(String, i64)>,
}

pub(crate) fn run(state: Arc<NodeState>, client: Client, queue: QueueName) {
    let prefix = queue.prefix();
    let mut conn: Option<Conn> = None;
    let mut sub: Option<redis::Connection> = None;
    let mut backoff = Duration::from_millis(10);
    let mut warned = false;
    // Due schedules that fired nothing (a failure, or a schedule Redis will not move on)
    // are tried again only after a backoff, so they cannot make the loop spin; claims go
    // on meanwhile.
    let (mut fire_again_at, mut fire_backoff) = (Instant::now(), Duration::from_millis(10));
    let mut specs: HashMap<String, Option<ScheduleSpec>> = HashMap::new();
    // With every slot busy, the loop still claims (nothing) by this time to fire the
    // recurring schedules that came due: a firing is an enqueue, it needs no slot.
    let mut busy_check_at = Instant::now();
    // Serials of CLAIM calls that failed without a reply: Redis may have run them.
    let mut unanswered: Vec<u64> = Vec::new();
    while !state.stopping.load(SeqCst) {
        if state.runtime.is_shutdown() {
            // Nothing claimed now could run: stop claiming (what is held is handed back
            // as its tasks are dropped) rather than claim and hand back in a loop.
            eprintln!(
                "kairos-cluster node {}: its runtime has shut down; the node stops claiming",
                state.node_id
            );
            break;
        }
        let free = state.free_slots();
        if free == 0 && Instant::now() < busy_check_at {
            wait_for_slot(&state, busy_check_at);
            continue;
        }
        if sub.is_none() {
            sub = match subscribe(&client, &queue) {
                Ok(s) => Some(s),
                Err(e) => {
                    if !warned {
                        eprintln!(
                            "kairos-cluster node {}: cannot subscribe to the wake channel ({e}); polling every {:?} instead",
                            state.node_id,
                            IDLE_POLL
                        );
                        warned = true;
                    }
                    None
                }
            };
        }
        if conn.is_none() {
            conn = client.conn().ok();
        }
        // Hand back first what unanswered claims took (see `release`).
        let released = match conn.as_mut() {
            Some(c) if !unanswered.is_empty() => hand_back_unanswered(c, &prefix, &state, &mut unanswered),
            _ => Ok(()),
        };
        let serial = state.claims.fetch_add(1, Relaxed).wrapping_add(1);
        let claimed = match released {
            Ok(()) => conn.as_mut().map(|c| claim(c, &prefix, &state, free, serial)),
            Err(e) => Some(Err(e)),
        };
        let mut reply = match claimed {
            Some(Ok(r)) => r,
            failed => {
                if let Some(Err(e)) = failed {
                    eprintln!(
                        "kairos-cluster node {}: claim failed ({e}); retrying in {backoff:?}",
                        state.node_id
                    );
                    // Redis may have run it and the reply been lost.
                    if unanswered.len() == MAX_UNANSWERED {
                        unanswered.remove(0);
                    }
                    unanswered.push(serial);
                }
                conn = None;
                sub = None;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(10);
        let got = reply.jobs.len();
        state.counters.claimed.fetch_add(got as u64, SeqCst);
        for job in std::mem::take(&mut reply.jobs) {
            state.start(job);
        }
        let schedules_due = !reply.due_schedules.is_empty();
        if schedules_due && Instant::now() >= fire_again_at {
            // A failure here is retried at a later claim (the tick stays due).
            match conn.as_mut().map(|c| fire_due(c, &prefix, &state, &reply, &mut specs)) {
                Some(Ok(fired)) if fired > 0 => {
                    fire_backoff = Duration::from_millis(10);
                    continue;
                }
                failed => {
                    if let Some(Err(e)) = failed {
                        eprintln!(
                            "kairos-cluster node {}: firing due schedules failed ({e}); retrying in {fire_backoff:?}",
                            state.node_id
                        );
                    }
                    fire_again_at = Instant::now() + fire_backoff;
                    fire_backoff = (fire_backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        let mut wait = if reply.next_ms < 0 {
            IDLE_POLL
        } else {
            Duration::from_millis((reply.next_ms - reply.now_ms).max(0) as u64).min(IDLE_POLL)
        };
        if schedules_due {
            // The due schedule's tick is in the past: wait for the retry instead.
            wait = wait.max(fire_again_at.saturating_duration_since(Instant::now()));
        }
        if free == 0 {
            // Every slot busy: wait for one, and claim (nothing) again by the next due
            // time to fire what comes due meanwhile.
            busy_check_at = Instant::now() + wait.max(Duration::from_millis(1));
            continue;
        }
        if got == free || reply.ready_left > 0 {
            continue;
        }
        if !wait.is_zero() {
            if let Some(s) = sub.as_mut() {
                if !wait_for_message(s, wait) {
                    sub = None;
                }
            } else {
                std::thread::sleep(wait.min(Duration::from_millis(50)));
            }
        }
    }
    // Stopping with claims unanswered (a stop during the backoff after a lost reply):
    // one last try to hand back what they took, or those jobs wait for their leases.
    if !unanswered.is_empty() {
        let released = conn
            .take()
            .or_else(|| client.conn().ok())
            .map(|mut c| hand_back_unanswered(&mut c, &prefix, &state, &mut unanswered));
        if let Some(Err(e)) = released {
            eprintln!(
                "kairos-cluster node {}: could not hand back the jobs of {} unanswered claim(s) ({e}); they wait for their leases",
                state.node_id,
                unanswered.len()
            );
        }
    }
}

/// Waits until a slot frees, the node stops, or `until` (at most 100 ms at a time).
fn wait_for_slot(state: &NodeState, until: Instant) {
    let (lock, cv) = &state.slot_freed;
    let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
    if state.free_slots() == 0 && !state.stopping.load(SeqCst) {
        let wait = until.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
        let _ = cv.wait_timeout(guard, wait);
    }
}

/// A connection subscribed to the queue's wake channel (without one, the loop polls).
pub(crate) fn subscribe(client: &Client, queue: &QueueName) -> crate::Result<redis::Connection> {
    let url = client.url().to_string();
    let err = |e| crate::Error::from_redis(&url, "SUBSCRIBE to the wake channel", e);
    let mut c = client.subscriber()?;
    let cmd = redis::cmd("SUBSCRIBE").arg(queue.wake_channel()).get_packed_command();
    c.send_packed_command(&cmd).map_err(err)?;
    c.set_read_timeout(Some(Duration::from_secs(5))).map_err(err)?;
    match c.recv_response().map_err(err)? {
        // An ACL without the channel answers with an error instead of the confirmation.
        redis::Value::ServerError(e) => Err(err(e.into())),
        _ => Ok(c),
    }
}

/// Waits up to `wait` for a message (any message ends the wait). True if a message came;
/// false if the wait timed out or the connection broke: either way the connection must
/// be made again. After a read timeout, redis-rs's `recv_response` takes the next thing
/// read for a late reply to a command and silently skips it: on a subscribed connection
/// that is the next wake message, which would leave the node asleep until its next idle
/// poll (up to [`IDLE_POLL`]) with jobs ready. The loop subscribes again before its next
/// claim, so no message published after that claim is missed.
fn wait_for_message(sub: &mut redis::Connection, wait: Duration) -> bool {
    if sub.set_read_timeout(Some(wait)).is_err() {
        return false;
    }
    sub.recv_response().is_ok()
}

/// How many unanswered claims the fetcher remembers while it cannot reach Redis (one per
/// failed attempt, at most one every 2 s once backed off: 33 minutes of outage); the jobs
/// of older ones wait for their leases instead.
const MAX_UNANSWERED: usize = 1000;

/// Hands back the jobs that the CLAIM calls numbered `serials` took, if Redis ran them
/// and their replies were lost (`scripts/release.lua`): they go back to ready at once,
/// not after a lease, and no lost lease is counted against them. Returns how many.
fn release(conn: &mut Conn, prefix: &str, state: &NodeState, serials: &[u64]) -> redis::RedisResult<u64> {
    let mut inv = SCRIPTS.release.key(prefix);
    inv.arg(&state.node_id);
    for s in serials {
        inv.arg(*s);
    }
    inv.invoke(conn)
}

/// [`release`]s what the unanswered claims took, says so if it found any, and forgets
/// them. Not in the node's report: those jobs were never counted claimed here.
fn hand_back_unanswered(
    conn: &mut Conn,
    prefix: &str,
    state: &NodeState,
    unanswered: &mut Vec<u64>,
) -> redis::RedisResult<()> {
    let n = release(conn, prefix, state, unanswered)?;
    if n > 0 {
        eprintln!(
            "kairos-cluster node {}: handed back {n} job(s) taken by claims whose replies were lost",
            state.node_id
        );
    }
    unanswered.clear();
    Ok(())
}

/// CLAIM up to `max` jobs as call number `serial` of this node (the second half of each
/// claimed job's fencing token, `Token`).
fn claim(
    conn: &mut Conn,
    prefix: &str,
    state: &NodeState,
    max: usize,
    serial: u64,
) -> redis::RedisResult<ClaimReply> {
    let cfg = &state.config;
    let raw: Vec<Value> = SCRIPTS
        .claim
        .key(prefix)
        .arg(&state.node_id)
        .arg(max.min(MAX_CLAIM))
        .arg(cfg.lease.as_millis() as u64)
        .arg(cfg.max_lost_leases)
        .arg(if cfg.events { "1" } else { "0" })
        .arg(cfg.max_payload)
        .arg(serial)
        .invoke(conn)?;
    parse_claim(&raw, serial)
        .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::Parse, "unexpected CLAIM reply")))
}

fn parse_claim(raw: &[Value], serial: u64) -> Option<ClaimReply> {
    let int = |v: &Value| -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    };
    let bytes = |v: &Value| -> Option<Vec<u8>> {
        match v {
            Value::BulkString(b) => Some(b.clone()),
            Value::Int(i) => Some(i.to_string().into_bytes()),
            _ => None,
        }
    };
    let mut reply = ClaimReply {
        now_ms: int(raw.first()?)?,
        next_ms: int(raw.get(1)?)?,
        ready_left: int(raw.get(2)?)?,
        jobs: Vec::new(),
        due_schedules: Vec::new(),
    };
    let n_jobs = usize::try_from(int(raw.get(3)?)?).ok()?;
    let jobs_end = 4 + 7 * n_jobs;
    for f in raw.get(4..jobs_end)?.chunks(7) {
        reply.jobs.push(Claimed {
            id: JobId(int(&f[0])? as u64),
            token: Token { attempt: int(&f[1])? as u64, claim: serial },
            kind: String::from_utf8_lossy(&bytes(&f[2])?).into_owned(),
            payload: bytes(&f[3])?,
            priority: Priority::new(int(&f[4])? as u8).ok()?,
            failures: int(&f[5])? as u32,
            retry: String::from_utf8_lossy(&bytes(&f[6])?).into_owned(),
        });
    }
    let n_sched = usize::try_from(int(raw.get(jobs_end)?)?).ok()?;
    for pair in raw.get(jobs_end + 1..jobs_end + 1 + 2 * n_sched)?.chunks(2) {
        let name = String::from_utf8_lossy(&bytes(&pair[0])?).into_owned();
        let tick = match &pair[1] {
            Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse::<f64>().ok()? as i64,
            other => int(other)?,
        };
        reply.due_schedules.push((name, tick));
    }
    Some(reply)
}

/// Fires every due schedule of `reply`: computes the tick after the due one from the
/// schedule's spec (parsed once per spec text) and Redis's clock, and runs FIRE, which
/// enqueues the job only if no other node fired that tick first. A spec that does not
/// parse ends its schedule (FIRE with no next tick) after one last firing.
fn fire_due(
    conn: &mut Conn,
    prefix: &str,
    state: &NodeState,
    reply: &ClaimReply,
    specs: &mut HashMap<String, Option<ScheduleSpec>>,
) -> redis::RedisResult<u64> {
    let now = utc_of_ms(reply.now_ms);
    let mut fired = 0;
    for (name, tick) in &reply.due_schedules {
        // A key that is no hash, or a spec that is no text, reads as no spec: FIRE then
        // ends that schedule with the reason. Only a passing failure fails the call.
        let text: Option<String> =
            match redis::cmd("HGET").arg(format!("{prefix}s:{name}")).arg("spec").query(conn) {
                Ok(text) => text,
                Err(e) if transient(&e) => return Err(e),
                Err(_) => None,
            };
        let text = text.unwrap_or_default();
        let spec = specs
            .entry(text.clone())
            .or_insert_with(|| serde_json::from_str::<ScheduleSpec>(&text).ok())
            .clone();
        let schedule = spec.as_ref().and_then(ScheduleSpec::build);
        let next = match (schedule, utc_of_ms(*tick), now) {
            (Some(s), Some(t), Some(now)) => s.next_tick(t, now).map_or(-1, |n| n.timestamp_millis()),
            _ => {
                eprintln!(
                    "kairos-cluster node {}: schedule {name:?} has a spec that does not parse; it ends",
                    state.node_id
                );
                -1
            }
        };
        let jitter = spec.map_or(0, |s| s.jitter_ms());
        let jitter = if jitter > 0 { fastrand::u64(0..=jitter) } else { 0 };
        let id: i64 = SCRIPTS
            .fire
            .key(prefix)
            .arg(name)
            .arg(*tick)
            .arg(next)
            .arg(jitter)
            .arg(if state.config.events { "1" } else { "0" })
            .invoke(conn)?;
        if id < 0 {
            let why: Option<String> =
                redis::cmd("HGET").arg(format!("{prefix}s:{name}")).arg("err").query(conn).unwrap_or(None);
            eprintln!(
                "kairos-cluster node {}: schedule {name:?} ended: {}",
                state.node_id,
                why.as_deref().unwrap_or("its job template in Redis is corrupt")
            );
        }
        fired += u64::from(id > 0);
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_redis::Server;

    /// A wake message published after a timed-out wait must end the next wait. Seen to
    /// fail (the message skipped, the node asleep until the idle poll) when a timed-out
    /// wait kept its connection.
    #[test]
    fn a_wake_after_a_timed_out_wait_is_not_lost() {
        let s = Server::start();
        let client = Client::connect(&s.url()).unwrap();
        let queue = QueueName::new("wake").unwrap();
        let mut publisher = s.conn();
        let mut sub = subscribe(&client, &queue).ok();
        for round in 0..3 {
            // Nothing published: the wait times out, and the loop's rule applies.
            if !wait_for_message(sub.as_mut().unwrap(), Duration::from_millis(20)) {
                sub = subscribe(&client, &queue).ok();
            }
            let _: i64 =
                redis::cmd("PUBLISH").arg(queue.wake_channel()).arg("1").query(&mut publisher).unwrap();
            // The next read on the loop's connection is that message (30 s: a hang guard;
            // it is already in the socket).
            let c = sub.as_mut().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let got = c.recv_response();
            let text = format!("{got:?}");
            assert!(
                got.is_ok() && text.contains("message") && text.contains("wake"),
                "round {round}: the wake message published after a timed-out wait was lost: {text}"
            );
        }
    }
}
