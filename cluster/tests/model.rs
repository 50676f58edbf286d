//! Model-based test: random sequences of enqueue, claim, ack (complete, retry now or
//! later, dead, hand back; with right and stale tokens), extend, lease expiry, promotion
//! of delayed jobs and cancel, driven through the real Lua scripts against a real Redis,
//! each step checked against a plain model of the states.
//!
//! Time is made deterministic: a lease "runs out" or a delayed job "comes due" when the
//! test sets its score in `active` / `delayed` to a past instant (its id, so the order
//! among several is known), never by waiting.

mod common;

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

/// The claim serial of every CLAIM here (the model follows attempt counters; a serial
/// that differs is `scripts/tests.rs`'s business).
const SERIAL: u64 = 7;
const COMMON: &str = include_str!("../src/scripts/common.lua");
fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{COMMON}\n{body}"))
}

const MAX_LOST: u32 = 2;

#[derive(Clone, Debug, PartialEq)]
enum St {
    Delayed,
    Ready { seq: u64 },
    Active { node: usize, token: u64, expired: bool },
    Completed,
    Dead,
    Cancelled,
}

#[derive(Clone, Debug)]
struct MJob {
    pri: u8,
    st: St,
    claims: u64,
    failures: u32,
    lost: u32,
    due_marked: bool,
}

#[derive(Default, Debug)]
struct Model {
    jobs: BTreeMap<u64, MJob>,
    next_id: u64,
    seq: u64,
    stale: u64,
    retried: u64,
    recovered: u64,
    handed_back: u64,
}

impl Model {
    fn make_ready(&mut self, id: u64) {
        self.seq += 1;
        self.jobs.get_mut(&id).unwrap().st = St::Ready { seq: self.seq };
    }
    fn count(&self, f: impl Fn(&St) -> bool) -> u64 {
        self.jobs.values().filter(|j| f(&j.st)).count() as u64
    }
}

#[derive(Clone, Debug)]
enum Op {
    Enqueue { pri: u8, delayed: bool },
    Claim { node: usize, n: usize },
    Ack { node: usize, pick: usize, verdict: u8, stale: bool },
    Extend { node: usize, pick: usize },
    Expire { pick: usize },
    Promote { pick: usize },
    Cancel { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..64, any::<bool>()).prop_map(|(pri, delayed)| Op::Enqueue { pri: pri % 4 * 20, delayed }),
        3 => (0usize..2, 1usize..4).prop_map(|(node, n)| Op::Claim { node, n }),
        3 => (0usize..2, any::<usize>(), 0u8..5, prop::bool::weighted(0.2))
            .prop_map(|(node, pick, verdict, stale)| Op::Ack { node, pick, verdict, stale }),
        1 => (0usize..2, any::<usize>()).prop_map(|(node, pick)| Op::Extend { node, pick }),
        2 => any::<usize>().prop_map(|pick| Op::Expire { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Promote { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
    ]
}

fn run(url: &str, ops: Vec<Op>) -> Result<(), TestCaseError> {
    static CASE: AtomicU32 = AtomicU32::new(0);
    let p = format!("kairos:{{m{}}}:", CASE.fetch_add(1, Ordering::SeqCst));
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    let (enqueue, claim, ack) = (
        script(include_str!("../src/scripts/enqueue.lua")),
        script(include_str!("../src/scripts/claim.lua")),
        script(include_str!("../src/scripts/ack.lua")),
    );
    let (extend, cancel) = (
        script(include_str!("../src/scripts/extend.lua")),
        script(include_str!("../src/scripts/cancel.lua")),
    );
    let node_name = |n: usize| format!("node{n}");
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Enqueue { pri, delayed } => {
                let due = if delayed { "d100000000" } else { "" };
                let r: Vec<u64> = enqueue
                    .key(&p)
                    .arg("k")
                    .arg("")
                    .arg(pri)
                    .arg(due)
                    .arg("")
                    .arg("")
                    .arg("")
                    .arg(0)
                    .invoke(&mut c)
                    .unwrap();
                m.next_id += 1;
                prop_assert_eq!(r[0], m.next_id);
                m.jobs.insert(
                    m.next_id,
                    MJob { pri, st: St::Delayed, claims: 0, failures: 0, lost: 0, due_marked: false },
                );
                if !delayed {
                    m.make_ready(m.next_id);
                }
            }
            Op::Claim { node, n } => {
                let r: Vec<redis::Value> = claim
                    .key(&p)
                    .arg(node_name(node))
                    .arg(n)
                    .arg(60_000)
                    .arg(MAX_LOST)
                    .arg("0")
                    .arg(1 << 20)
                    .arg(SERIAL)
                    .invoke(&mut c)
                    .unwrap();
                // Model: reap expired leases in id order, promote due jobs in id order, pop.
                let ids: Vec<u64> = m.jobs.keys().copied().collect();
                for id in &ids {
                    let j = m.jobs.get_mut(id).unwrap();
                    if let St::Active { expired: true, .. } = j.st {
                        j.lost += 1;
                        if j.lost > MAX_LOST {
                            j.st = St::Dead;
                        } else {
                            m.recovered += 1;
                            m.make_ready(*id);
                        }
                    }
                }
                for id in &ids {
                    let j = m.jobs.get_mut(id).unwrap();
                    if j.st == St::Delayed && j.due_marked {
                        j.due_marked = false;
                        m.make_ready(*id);
                    }
                }
                let mut ready: Vec<(u8, u64, u64)> = m
                    .jobs
                    .iter()
                    .filter_map(|(id, j)| match j.st {
                        St::Ready { seq } => Some((63 - j.pri, seq, *id)),
                        _ => None,
                    })
                    .collect();
                ready.sort();
                let mut expected = Vec::new();
                for (_, _, id) in ready.into_iter().take(n) {
                    let j = m.jobs.get_mut(&id).unwrap();
                    j.claims += 1;
                    j.st = St::Active { node, token: j.claims, expired: false };
                    expected.push((id, j.claims));
                }
                let n_jobs: usize = redis::from_redis_value(r[3].clone()).unwrap();
                let got: Vec<(u64, u64)> = r[4..4 + 7 * n_jobs]
                    .chunks(7)
                    .map(|f| {
                        (
                            redis::from_redis_value::<u64>(f[0].clone()).unwrap(),
                            redis::from_redis_value::<u64>(f[1].clone()).unwrap(),
                        )
                    })
                    .collect();
                prop_assert_eq!(got, expected);
            }
            Op::Ack { node, pick, verdict, stale } => {
                // Mostly jobs that are running (the interesting case), sometimes any.
                let active: Vec<u64> = m
                    .jobs
                    .iter()
                    .filter(|(_, j)| matches!(j.st, St::Active { .. }))
                    .map(|(id, _)| *id)
                    .collect();
                let id = if !active.is_empty() && pick % 5 != 0 {
                    active[pick / 5 % active.len()]
                } else {
                    match m.jobs.keys().nth(pick % m.jobs.len().max(1)) {
                        Some(id) => *id,
                        None => continue,
                    }
                };
                let j = &m.jobs[&id];
                let token = j.claims + u64::from(stale);
                let v = ["c", "r0", "r100000000", "d", "h"][verdict as usize];
                let r: Vec<i64> = ack
                    .key(&p)
                    .arg(node_name(node))
                    .arg("0")
                    .arg(3_600_000)
                    .arg(1000)
                    .arg(3_600_000)
                    .arg(1000)
                    .arg(id)
                    .arg(token)
                    .arg(SERIAL)
                    .arg(v)
                    .arg("e")
                    .invoke(&mut c)
                    .unwrap();
                let j = m.jobs.get_mut(&id).unwrap();
                let ok = matches!(j.st, St::Active { node: n, token: t, .. } if n == node && t == token);
                prop_assert_eq!(r[0] == 1, ok, "ack of {} by {} ({:?}) token {}", id, node, j.st, token);
                if !ok {
                    m.stale += 1;
                    continue;
                }
                match v {
                    "c" => j.st = St::Completed,
                    "r0" => {
                        j.failures += 1;
                        m.retried += 1;
                        m.make_ready(id);
                    }
                    "r100000000" => {
                        j.failures += 1;
                        m.retried += 1;
                        j.st = St::Delayed;
                    }
                    "d" => {
                        j.failures += 1;
                        j.st = St::Dead;
                    }
                    _ => {
                        m.handed_back += 1;
                        m.make_ready(id);
                    }
                }
            }
            Op::Extend { node, pick } => {
                let Some((&id, j)) = m.jobs.iter().nth(pick % m.jobs.len().max(1)) else { continue };
                let r: Vec<i64> = extend
                    .key(&p)
                    .arg(node_name(node))
                    .arg(60_000)
                    .arg(id)
                    .arg(j.claims)
                    .arg(SERIAL)
                    .invoke(&mut c)
                    .unwrap();
                let j = m.jobs.get_mut(&id).unwrap();
                let ok = matches!(j.st, St::Active { node: n, .. } if n == node);
                prop_assert_eq!(r[0] == 1, ok);
                if let St::Active { expired, .. } = &mut j.st {
                    if ok {
                        *expired = false;
                    }
                }
            }
            Op::Expire { pick } => {
                let mut active: Vec<(&u64, &mut MJob)> =
                    m.jobs.iter_mut().filter(|(_, j)| matches!(j.st, St::Active { .. })).collect();
                let len = active.len().max(1);
                let Some((&id, j)) = active.drain(..).nth(pick % len) else { continue };
                if let St::Active { expired, .. } = &mut j.st {
                    *expired = true;
                    let _: () = redis::cmd("ZADD")
                        .arg(format!("{p}active"))
                        .arg("XX")
                        .arg(id)
                        .arg(id)
                        .query(&mut c)
                        .unwrap();
                }
            }
            Op::Promote { pick } => {
                let mut delayed: Vec<(&u64, &mut MJob)> =
                    m.jobs.iter_mut().filter(|(_, j)| j.st == St::Delayed).collect();
                let len = delayed.len().max(1);
                let Some((&id, j)) = delayed.drain(..).nth(pick % len) else { continue };
                if j.st == St::Delayed {
                    j.due_marked = true;
                    let _: () = redis::cmd("ZADD")
                        .arg(format!("{p}delayed"))
                        .arg("XX")
                        .arg(id)
                        .arg(id)
                        .query(&mut c)
                        .unwrap();
                }
            }
            Op::Cancel { pick } => {
                let len = m.jobs.len().max(1);
                let Some((&id, j)) = m.jobs.iter_mut().nth(pick % len) else { continue };
                let r: i64 = cancel.key(&p).arg(id).arg("0").invoke(&mut c).unwrap();
                let expected = match j.st {
                    St::Delayed | St::Ready { .. } => {
                        j.st = St::Cancelled;
                        j.due_marked = false;
                        1
                    }
                    St::Active { .. } => 2,
                    // Idempotent: an earlier cancel ended it.
                    St::Cancelled => 1,
                    _ => 0,
                };
                prop_assert_eq!(r, expected);
            }
        }
        // After every step, the sets and counters agree with the model.
        let zcard = |c: &mut redis::Connection, k: &str| -> u64 {
            redis::cmd("ZCARD").arg(format!("{p}{k}")).query(c).unwrap()
        };
        prop_assert_eq!(zcard(&mut c, "ready"), m.count(|s| matches!(s, St::Ready { .. })));
        prop_assert_eq!(zcard(&mut c, "delayed"), m.count(|s| *s == St::Delayed));
        prop_assert_eq!(zcard(&mut c, "active"), m.count(|s| matches!(s, St::Active { .. })));
        prop_assert_eq!(zcard(&mut c, "dead"), m.count(|s| *s == St::Dead));
        prop_assert_eq!(zcard(&mut c, "done"), m.count(|s| matches!(s, St::Completed | St::Cancelled)));
        let stats: BTreeMap<String, u64> =
            redis::cmd("HGETALL").arg(format!("{p}stats")).query(&mut c).unwrap();
        let stat = |k: &str| stats.get(k).copied().unwrap_or(0);
        prop_assert_eq!(stat("stale"), m.stale);
        prop_assert_eq!(stat("retried"), m.retried);
        prop_assert_eq!(stat("recovered"), m.recovered);
        prop_assert_eq!(stat("handed_back"), m.handed_back);
        prop_assert_eq!(stat("completed"), m.count(|s| *s == St::Completed));
        prop_assert_eq!(stat("dead"), m.count(|s| *s == St::Dead));
        prop_assert_eq!(stat("cancelled"), m.count(|s| *s == St::Cancelled));
        for (id, j) in &m.jobs {
            let (st, a): (Option<String>, Option<u64>) =
                redis::cmd("HMGET").arg(format!("{p}j:{id}")).arg("st").arg("a").query(&mut c).unwrap();
            let want = match j.st {
                St::Delayed => "delayed",
                St::Ready { .. } => "ready",
                St::Active { .. } => "active",
                St::Completed => "completed",
                St::Dead => "dead",
                St::Cancelled => "cancelled",
            };
            prop_assert_eq!(st.as_deref(), Some(want), "job {}", id);
            prop_assert_eq!(a.unwrap_or(0), j.claims, "job {} attempts", id);
        }
    }
    Ok(())
}

/// One server for all cases, owned by the test so it stops with it (a server in a static
/// would outlive the test process).
#[test]
fn the_scripts_follow_the_model() {
    let server = common::RedisServer::start();
    let url = server.url();
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig { cases: 96, ..ProptestConfig::default() });
    let result = runner.run(&prop::collection::vec(op(), 1..60), |ops| run(&url, ops));
    drop(server);
    if let Err(e) = result {
        panic!("{e}");
    }
}
