//! The keeper: the node's second thread. It delivers outcomes to Redis in batches (ACK),
//! renews the leases of held jobs (EXTEND, every third of a lease), and keeps the node's
//! heartbeat (every second).
//!
//! - **Batching**: it takes every outcome waiting in the channel (up to
//!   [`MAX_BATCH`]) and sends them in one ACK, so a busy node makes one round trip per
//!   batch, not per job; an idle one sends each outcome as soon as it arrives.
//! - **Leases before acks**: renewals run on their own schedule, before any ack, so a
//!   batch that keeps failing never lets running jobs' leases run out; a renewal that
//!   fails is tried again after the backoff, not a third of a lease later.
//! - **Nothing dropped**: an outcome is removed from `pending` only when Redis answered
//!   it (applied or refused); on a lost connection, or a refusal for a passing reason
//!   (Redis loading its data, out of memory, busy with a script, in a failover:
//!   `transient`), the batch is kept and sent again after a backoff. ACK is safe to repeat: an applied outcome changed the job's state, so a
//!   second delivery is refused by the fencing check instead of applied twice (the node
//!   then counts it `refused`, and the queue's `stale` counter counts it too: a reply
//!   lost in transit looks like a late ack). A batch Redis itself keeps refusing three
//!   times is sent one outcome at a time; an outcome refused alone, for what it is, is
//!   set aside (`unacked`): its job's lease runs out and another attempt runs it.
//! - **Exit**: once the node is stopping, the fetcher has exited and no job is running,
//!   it delivers what is pending (trying until the node's stop deadline) and says goodbye
//!   (the node leaves the live-node set). What it could not deliver is counted `unacked`.

use super::state::{NodeState, Outcome, Token, Verdict};
use crate::connection::{transient, Client, Conn};
use crate::job::JobId;
use crate::queue_name::QueueName;
use crate::scripts::SCRIPTS;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most outcomes sent in one ACK.
pub(crate) const MAX_BATCH: usize = 512;
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Keeper {
    pub state: Arc<NodeState>,
    pub client: Client,
    pub queue: QueueName,
    pub outcomes: Receiver<Outcome>,
    /// Set by the node once the fetcher has exited.
    pub fetcher_done: Arc<AtomicBool>,
    /// Set by the node: when to give up delivering.
    pub give_up_at: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl Keeper {
    pub(crate) fn run(self) {
        let prefix = self.queue.prefix();
        let mut conn: Option<Conn> = None;
        let mut pending: Vec<Outcome> = Vec::new();
        let renew_every = self.state.config.lease / 3;
        let mut next_renew = Instant::now() + renew_every;
        let mut next_beat = Instant::now();
        let mut backoff = Duration::from_millis(10);
        let mut retry_at = Instant::now();
        let mut failed_batches = 0u32;
        loop {
            let now = Instant::now();
            let finishing = self.fetcher_done.load(SeqCst) && self.state.running.load(SeqCst) == 0;
            if finishing {
                pending.extend(self.outcomes.try_iter());
                let deadline = *self.give_up_at.lock().unwrap_or_else(|p| p.into_inner());
                let out_of_time = deadline.is_some_and(|d| now >= d);
                if pending.is_empty() || out_of_time {
                    self.state.counters.unacked.fetch_add(pending.len() as u64, SeqCst);
                    if let Some(c) = conn.as_mut() {
                        let _ = heartbeat(c, &prefix, &self.state, true);
                    } else if let Ok(mut c) = self.client.conn() {
                        let _ = heartbeat(&mut c, &prefix, &self.state, true);
                    }
                    return;
                }
            } else if pending.is_empty() {
                let wake =
                    next_renew.min(next_beat).saturating_duration_since(now).min(Duration::from_millis(50));
                match self.outcomes.recv_timeout(wake) {
                    Ok(o) => pending.push(o),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wake),
                }
            }
            pending.extend(self.outcomes.try_iter().take(MAX_BATCH.saturating_sub(pending.len())));

            if Instant::now() < retry_at {
                std::thread::sleep(
                    retry_at.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)),
                );
                continue;
            }
            if conn.is_none() {
                conn = self.client.conn().ok();
            }
            let Some(c) = conn.as_mut() else {
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            };
            // Leases first, whatever happens to the acks: a batch that keeps failing
            // must not let the running jobs' leases run out.
            let mut ok = true;
            if Instant::now() >= next_renew {
                ok = renew(c, &prefix, &self.state).is_ok();
                // A failed renewal is tried again after the backoff (10 ms at first), on
                // a new connection: waiting for the next third would leave one more
                // failure between the jobs and the end of their leases.
                next_renew = if ok { Instant::now() + renew_every } else { Instant::now() };
            }
            if ok && !pending.is_empty() {
                let batch = pending.len().min(MAX_BATCH);
                match ack(c, &prefix, &self.state, &pending[..batch]) {
                    Ok(answers) => {
                        self.count(&pending[..batch], &answers);
                        pending.drain(..batch);
                        failed_batches = 0;
                    }
                    Err(e) if transient(&e) => {
                        eprintln!("kairos-cluster node {}: ack failed ({e}); retrying", self.state.node_id);
                        ok = false;
                    }
                    Err(e) => {
                        // Redis answered with an error: one outcome may be poison (a
                        // result over Redis's limits, say). After a few tries, send them
                        // one by one and set aside those Redis keeps refusing: their jobs'
                        // leases run out and they are recovered, so nothing is lost.
                        failed_batches += 1;
                        eprintln!("kairos-cluster node {}: ack refused by Redis ({e})", self.state.node_id);
                        if failed_batches >= 3 {
                            let batch: Vec<Outcome> = pending.drain(..batch).collect();
                            // Refused for a passing reason: sent again, never set aside.
                            let mut again = Vec::new();
                            for o in batch {
                                match ack(c, &prefix, &self.state, std::slice::from_ref(&o)) {
                                    Ok(a) => self.count(std::slice::from_ref(&o), &a),
                                    Err(e) if transient(&e) => again.push(o),
                                    Err(_) => {
                                        self.forget(&o);
                                        self.state.counters.unacked.fetch_add(1, SeqCst);
                                    }
                                }
                            }
                            ok = again.is_empty();
                            pending.splice(0..0, again);
                            failed_batches = 0;
                        } else {
                            ok = false;
                        }
                    }
                }
            }
            if ok && Instant::now() >= next_beat {
                // The heartbeat also trims retention (an empty ack), so records that
                // end without an ack (cancelled, expired) are trimmed too.
                ok = heartbeat(c, &prefix, &self.state, false).is_ok()
                    && ack(c, &prefix, &self.state, &[]).is_ok();
                next_beat = Instant::now() + HEARTBEAT_EVERY;
            }
            if ok {
                backoff = Duration::from_millis(10);
            } else {
                conn = None;
                retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }

    /// Stops renewing `o`'s job, unless the node holds it again under a newer token.
    fn forget(&self, o: &Outcome) {
        let mut held = self.state.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(&o.id) == Some(&o.token) {
            held.remove(&o.id);
        }
    }

    /// Counts Redis's answers and forgets the jobs they settle. An answer settles only
    /// its own claim: if the node lost the job's lease and claimed it again, the new
    /// claim (a newer token) stays held and renewed.
    fn count(&self, batch: &[Outcome], answers: &[i64]) {
        let c = &self.state.counters;
        for (o, &a) in batch.iter().zip(answers) {
            self.forget(o);
            let counter = if a != 1 {
                &c.refused
            } else {
                match o.verdict {
                    Verdict::Completed(_) => &c.completed,
                    Verdict::RetryAfterMs(..) => &c.retried,
                    Verdict::Dead(_) => &c.dead,
                    Verdict::HandBack => &c.handed_back,
                }
            };
            counter.fetch_add(1, SeqCst);
        }
    }
}

fn ack(c: &mut Conn, prefix: &str, state: &NodeState, batch: &[Outcome]) -> redis::RedisResult<Vec<i64>> {
    let cfg = &state.config;
    let mut inv = SCRIPTS.ack.key(prefix);
    // Retentions saturate: one past u64 milliseconds keeps records for ever (it was cut
    // with `as`, to a few hundred milliseconds for some values).
    inv.arg(&state.node_id)
        .arg(if cfg.events { "1" } else { "0" })
        .arg(cfg.keep_finished_for.as_millis().min(u128::from(u64::MAX)) as u64)
        .arg(cfg.keep_finished)
        .arg(cfg.keep_dead_for.as_millis().min(u128::from(u64::MAX)) as u64)
        .arg(cfg.keep_dead);
    for o in batch {
        inv.arg(o.id.0).arg(o.token.attempt).arg(o.token.claim);
        match &o.verdict {
            Verdict::Completed(r) => inv.arg("c").arg(r.as_slice()),
            Verdict::RetryAfterMs(ms, None, e) => inv.arg(format!("r{ms}")).arg(e.as_str()),
            Verdict::RetryAfterMs(ms, Some(p), e) => inv.arg(format!("r{ms}p{}", p.level())).arg(e.as_str()),
            Verdict::Dead(e) => inv.arg("d").arg(e.as_str()),
            Verdict::HandBack => inv.arg("h").arg(""),
        };
    }
    inv.invoke(c)
}

fn renew(c: &mut Conn, prefix: &str, state: &NodeState) -> redis::RedisResult<()> {
    let held: Vec<(JobId, Token)> =
        state.held.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(id, t)| (*id, *t)).collect();
    for chunk in held.chunks(MAX_BATCH) {
        let mut inv = SCRIPTS.extend.key(prefix);
        inv.arg(&state.node_id).arg(state.config.lease.as_millis() as u64);
        for (id, token) in chunk {
            inv.arg(id.0).arg(token.attempt).arg(token.claim);
        }
        let answers: Vec<i64> = inv.invoke(c)?;
        // A refused renewal means the lease had run out and the job was recovered: stop
        // renewing it (its ack will be refused too, and counted then).
        let mut held = state.held.lock().unwrap_or_else(|p| p.into_inner());
        for ((id, token), _) in chunk.iter().zip(&answers).filter(|(_, &a)| a != 1) {
            if held.get(id) == Some(token) {
                held.remove(id);
            }
            state.counters.leases_lost.fetch_add(1, SeqCst);
        }
    }
    Ok(())
}

fn heartbeat(c: &mut Conn, prefix: &str, state: &NodeState, leaving: bool) -> redis::RedisResult<i64> {
    let info = serde_json::json!({
        "pid": std::process::id(),
        "running": state.running.load(SeqCst),
        "held": state.held.lock().unwrap_or_else(|p| p.into_inner()).len(),
        "concurrency": state.config.concurrency,
        "workers": state.runtime.workers(),
    })
    .to_string();
    SCRIPTS
        .heartbeat
        .key(prefix)
        .arg(&state.node_id)
        .arg((HEARTBEAT_EVERY * 3).as_millis() as u64)
        .arg(info)
        .arg(if leaving { "1" } else { "0" })
        .invoke(c)
}
