//! The scripts run on a real Redis, one call at a time: what a key of the wrong shape
//! (written by hand, or by an older version) does to a call. Every script reads before it
//! writes, so such a key fails a call with nothing written, or is set aside with its
//! reason, and never leaves a batch half applied.

use super::SCRIPTS;
use crate::test_redis::Server;
use redis::{Connection, RedisResult};

const P: &str = "kairos:{q}:";

/// The 8 ENQUEUE fields of a job of kind `k` due now, with an optional idempotency key.
fn job(idem: &str) -> Vec<String> {
    let window = if idem.is_empty() { "0" } else { "60000" };
    ["k", "payload", "10", "", "", "", idem, window].map(String::from).to_vec()
}

fn enqueue(c: &mut Connection, jobs: &[Vec<String>]) -> RedisResult<Vec<i64>> {
    SCRIPTS.enqueue.key(P).arg(jobs.concat()).invoke(c)
}

/// The claim serial of [`claim`]'s calls.
const SERIAL: &str = "1";

/// CLAIM as node `n` with a payload cap of 1 MiB, serial [`SERIAL`]: (id, attempt) of
/// each job taken.
fn claim(c: &mut Connection, max: usize) -> Vec<(String, String)> {
    claim_capped(c, max, 1 << 20)
}

/// CLAIM as node `n` with a payload cap of `cap` bytes.
fn claim_capped(c: &mut Connection, max: usize, cap: usize) -> Vec<(String, String)> {
    let v: Vec<redis::Value> = SCRIPTS
        .claim
        .key(P)
        .arg("n")
        .arg(max)
        .arg(60_000)
        .arg(3)
        .arg("0")
        .arg(cap)
        .arg(SERIAL)
        .invoke(c)
        .unwrap();
    let taken: usize = redis::from_redis_value(v[3].clone()).unwrap();
    (0..taken)
        .map(|j| {
            let at = 4 + j * 7;
            (
                redis::from_redis_value(v[at].clone()).unwrap(),
                redis::from_redis_value(v[at + 1].clone()).unwrap(),
            )
        })
        .collect()
}

/// Every key of the queue, sorted.
fn keys(c: &mut Connection) -> Vec<String> {
    let mut k: Vec<String> = redis::cmd("KEYS").arg(format!("{P}*")).query(c).unwrap();
    k.sort();
    k
}

fn hget(c: &mut Connection, key: &str, field: &str) -> Option<String> {
    redis::cmd("HGET").arg(format!("{P}{key}")).arg(field).query(c).unwrap()
}

/// Seen to fail before ENQUEUE read its keys first: the first job's hash and key were
/// written, the call failed at the second, and the resent batch found the first job a
/// duplicate of a job that was in no set and never ran.
#[test]
fn an_idempotency_key_of_the_wrong_type_fails_the_batch_with_nothing_written() {
    let s = Server::start();
    let mut c = s.conn();
    let _: () = redis::cmd("HSET").arg(format!("{P}i:bad")).arg("f").arg("v").query(&mut c).unwrap();
    let e = enqueue(&mut c, &[job("good"), job("bad")]).unwrap_err();
    assert!(e.to_string().contains("idempotency key") && e.to_string().contains("i:bad"), "{e}");
    assert_eq!(keys(&mut c), vec![format!("{P}i:bad")], "the refused call wrote something");

    let _: () = redis::cmd("DEL").arg(format!("{P}i:bad")).query(&mut c).unwrap();
    let out = enqueue(&mut c, &[job("good"), job("bad"), job("good")]).unwrap();
    assert_eq!(out[1], 0, "the first job is new");
    assert_eq!(out[3], 0, "the second job is new");
    assert_eq!((out[4], out[5]), (out[0], 1), "the batch's repeat of a key is a duplicate of its first");
    let ready: usize = redis::cmd("ZCARD").arg(format!("{P}ready")).query(&mut c).unwrap();
    assert_eq!(ready, 2);
}

/// Seen to fail before ACK put a job with a priority that is no number back at 0: the
/// script failed at the retry, and the completion after it in the batch was lost.
#[test]
fn a_retry_whose_priority_is_corrupt_does_not_fail_the_rest_of_the_ack() {
    let s = Server::start();
    let mut c = s.conn();
    enqueue(&mut c, &[job(""), job("")]).unwrap();
    let taken = claim(&mut c, 2);
    assert_eq!(taken.len(), 2);
    let (a, b) = (&taken[0], &taken[1]);
    let _: () = redis::cmd("HSET").arg(format!("{P}j:{}", b.0)).arg("pr").arg("x").query(&mut c).unwrap();
    let applied: Vec<i64> = SCRIPTS
        .ack
        .key(P)
        .arg(&["n", "0", "60000", "100", "60000", "100"])
        .arg(&[b.0.as_str(), &b.1, SERIAL, "r0", "boom"])
        .arg(&[a.0.as_str(), &a.1, SERIAL, "c", ""])
        .invoke(&mut c)
        .unwrap();
    assert_eq!(applied, vec![1, 1]);
    assert_eq!(hget(&mut c, &format!("j:{}", a.0), "st").as_deref(), Some("completed"));
    assert_eq!(hget(&mut c, &format!("j:{}", b.0), "st").as_deref(), Some("ready"));
    // The next claim sets the corrupt job aside, with why.
    assert!(claim(&mut c, 2).is_empty());
    assert_eq!(hget(&mut c, &format!("j:{}", b.0), "st").as_deref(), Some("dead"));
    let why = hget(&mut c, &format!("j:{}", b.0), "err").unwrap();
    assert!(why.contains("pr"), "{why}");
}

/// Registers schedule `s` (every second, first tick at 1000 ms), then sets `field` of its
/// hash to `value` (removes it for `None`), and fires its first tick: FIRE's reply.
fn fire_with(c: &mut Connection, field: &str, value: Option<&str>) -> i64 {
    let _: i64 = SCRIPTS
        .schedule
        .key(P)
        .arg(&["s", "set", "1000", r#"{"every_ns":1000000000}"#, "k", "payload", "10", "d5000", "", ""])
        .invoke(c)
        .unwrap();
    let key = format!("{P}s:s");
    match value {
        Some(v) => redis::cmd("HSET").arg(key).arg(field).arg(v).query::<()>(c).unwrap(),
        None => redis::cmd("HDEL").arg(key).arg(field).query::<()>(c).unwrap(),
    }
    SCRIPTS.fire.key(P).arg(&["s", "1000", "2000", "0", "0"]).invoke(c).unwrap()
}

/// Seen to fail before FIRE checked the template first: a deadline that is no number
/// failed the script after it had moved the schedule on and written the job's hash, which
/// was in no set and never ran; a `fired` that is no count failed every firing of every
/// schedule the node fired after it.
#[test]
fn a_schedule_whose_template_is_corrupt_ends_with_why_and_writes_no_job() {
    let s = Server::start();
    let mut c = s.conn();
    // The control: a sound template fires a job, due now, with its deadline.
    let id = fire_with(&mut c, "fired", Some("0"));
    assert!(id > 0);
    assert_eq!(hget(&mut c, &format!("j:{id}"), "st").as_deref(), Some("ready"));
    assert!(hget(&mut c, &format!("j:{id}"), "dl").is_some());
    let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();

    for (field, value, why) in [
        ("dl", Some("dsoon"), "field dl"),
        ("pr", Some("x"), "field pr"),
        ("pr", Some("64"), "field pr"),
        ("fired", Some("many"), "field fired"),
        ("fired", Some("99999999999999999999"), "field fired"),
        ("k", None, "template missing"),
    ] {
        assert_eq!(fire_with(&mut c, field, value), -1, "{field}={value:?}");
        let left = keys(&mut c);
        assert!(!left.iter().any(|k| k.contains(":j:")), "{field}={value:?}: a job was written: {left:?}");
        let next: Option<f64> =
            redis::cmd("ZSCORE").arg(format!("{P}sched-next")).arg("s").query(&mut c).unwrap();
        assert_eq!(next, None, "{field}={value:?}: the schedule did not end");
        let err = hget(&mut c, "s:s", "err").unwrap_or_default();
        assert!(err.contains(why), "{field}={value:?}: {err}");
        let _: () = redis::cmd("FLUSHALL").query(&mut c).unwrap();
    }
}

/// Seen to fail when a level spanned 2^40 scores: from sequence number 2^40 on (1.1e12
/// jobs made ready, 13 days at a million a second), COUNTS showed every job one level
/// more urgent than its own.
#[test]
fn ready_counts_by_level_stay_exact_past_sequence_2_to_the_40() {
    let s = Server::start();
    let mut c = s.conn();
    let _: () = redis::cmd("SET").arg(format!("{P}seq")).arg((1u64 << 40) - 3).query(&mut c).unwrap();
    let jobs: Vec<Vec<String>> = (0..64u8)
        .map(|p| {
            let mut j = job("");
            j[2] = p.to_string();
            j
        })
        .collect();
    enqueue(&mut c, &jobs).unwrap();
    let v: Vec<redis::Value> = SCRIPTS.counts.key(P).invoke(&mut c).unwrap();
    let bar = v.iter().position(|x| matches!(x, redis::Value::BulkString(b) if b == b"|")).unwrap();
    let by_level: Vec<u64> =
        v[bar + 1..].iter().map(|x| redis::from_redis_value(x.clone()).unwrap()).collect();
    assert_eq!(by_level, vec![1; 64]);
    // And a claim takes them most urgent first.
    let taken = claim(&mut c, 64);
    let levels: Vec<String> =
        taken.iter().map(|(id, _)| hget(&mut c, &format!("j:{id}"), "pr").unwrap()).collect();
    assert_eq!(levels, (0..64u8).rev().map(|p| p.to_string()).collect::<Vec<_>>());
}

/// Seen to fail when the node measured payloads after the claim: a payload over its cap
/// was sent to it whole (a producer writing Redis by hand could make every claim
/// allocate hundreds of megabytes) before it was dead-lettered.
#[test]
fn a_payload_over_the_node_s_cap_never_leaves_redis() {
    let s = Server::start();
    let mut c = s.conn();
    let mut big = job("");
    big[1] = "x".repeat(100);
    let mut small = job("");
    small[1] = "y".repeat(8);
    let ids = enqueue(&mut c, &[big, small]).unwrap();
    let taken = claim_capped(&mut c, 2, 8);
    assert_eq!(taken.len(), 1, "only the job within the cap is taken");
    assert_eq!(taken[0].0, ids[2].to_string());
    let big_id = format!("j:{}", ids[0]);
    assert_eq!(hget(&mut c, &big_id, "st").as_deref(), Some("dead"));
    let why = hget(&mut c, &big_id, "err").unwrap();
    assert!(why.contains("100 bytes") && why.contains("cap of 8 bytes"), "{why}");
}

/// The fencing token is the attempt counter *and* the claim's serial: after Redis lost
/// its data, a new job can get an old one's id, attempt 1 and node, and an ack or lease
/// renewal from the old run (an earlier claim serial) must not touch it.
#[test]
fn an_ack_or_renewal_under_another_claim_serial_is_refused() {
    let s = Server::start();
    let mut c = s.conn();
    enqueue(&mut c, &[job("")]).unwrap();
    let created = hget(&mut c, "j:1", "c");
    let taken = claim(&mut c, 1);
    let (id, attempt) = (&taken[0].0, &taken[0].1);
    assert_eq!(hget(&mut c, &format!("j:{id}"), "c"), created, "the claim serial is no creation time");
    let renewed: Vec<i64> = SCRIPTS
        .extend
        .key(P)
        .arg(&["n", "60000", id.as_str(), attempt.as_str(), "2"])
        .invoke(&mut c)
        .unwrap();
    assert_eq!(renewed, vec![0], "a renewal under another serial");
    let ack = |c: &mut Connection, serial: &str| -> Vec<i64> {
        SCRIPTS
            .ack
            .key(P)
            .arg(&["n", "0", "60000", "100", "60000", "100"])
            .arg(&[id.as_str(), attempt.as_str(), serial, "c", ""])
            .invoke(c)
            .unwrap()
    };
    assert_eq!(ack(&mut c, "2"), vec![0], "an ack under another serial");
    assert_eq!(hget(&mut c, &format!("j:{id}"), "st").as_deref(), Some("active"));
    assert_eq!(ack(&mut c, SERIAL), vec![1]);
    assert_eq!(hget(&mut c, &format!("j:{id}"), "st").as_deref(), Some("completed"));
}

/// EXTEND renews a lease only under the job's current attempt: a run of an earlier
/// attempt (same node id and claim serial, as after a node restarted under its id) whose
/// lease was reaped and the job claimed again cannot keep the new run's lease alive.
#[test]
fn a_renewal_under_an_earlier_attempt_is_refused() {
    let s = Server::start();
    let mut c = s.conn();
    enqueue(&mut c, &[job("")]).unwrap();
    let first = claim(&mut c, 1);
    let (id, attempt) = (&first[0].0, &first[0].1);
    // Its lease runs out; the next claim (same node, same serial) reaps and retakes it.
    let _: () = redis::cmd("ZADD").arg(format!("{P}active")).arg(0).arg(id).query(&mut c).unwrap();
    let second = claim(&mut c, 1);
    assert_eq!(second, vec![(id.clone(), "2".to_string())]);
    let extend = |c: &mut Connection, attempt: &str| -> Vec<i64> {
        SCRIPTS.extend.key(P).arg(&["n", "60000", id.as_str(), attempt, SERIAL]).invoke(c).unwrap()
    };
    assert_eq!(extend(&mut c, attempt), vec![0], "a renewal under the earlier attempt");
    assert_eq!(extend(&mut c, "2"), vec![1], "the current attempt's renewal");
}

/// RELEASE hands back, as never claimed, the jobs that the named CLAIM calls of this node
/// took (their replies were lost), and nothing else.
#[test]
fn release_hands_back_what_the_unanswered_claims_took_and_nothing_else() {
    let s = Server::start();
    let mut c = s.conn();
    enqueue(&mut c, &[job(""), job(""), job("")]).unwrap();
    let lost = claim(&mut c, 2); // serial 1: its reply "lost"
    let kept: Vec<redis::Value> = SCRIPTS
        .claim
        .key(P)
        .arg("n")
        .arg(1)
        .arg(60_000)
        .arg(3)
        .arg("0")
        .arg(1 << 20)
        .arg("2")
        .invoke(&mut c)
        .unwrap();
    let kept_id: String = redis::from_redis_value(kept[4].clone()).unwrap();
    // Another node's claim under the same serial is not this node's.
    let released: u64 = SCRIPTS.release.key(P).arg(&["other", SERIAL]).invoke(&mut c).unwrap();
    assert_eq!(released, 0);
    let released: u64 = SCRIPTS.release.key(P).arg(&["n", SERIAL]).invoke(&mut c).unwrap();
    assert_eq!(released, 2);
    for (id, _) in &lost {
        let key = format!("j:{id}");
        assert_eq!(hget(&mut c, &key, "st").as_deref(), Some("ready"));
        assert_eq!(
            hget(&mut c, &key, "a").as_deref(),
            Some("0"),
            "the attempt that never ran is not counted"
        );
        assert_eq!(hget(&mut c, &key, "n"), None);
        assert_eq!(hget(&mut c, &key, "lo"), None, "no lost lease");
    }
    assert_eq!(hget(&mut c, &format!("j:{kept_id}"), "st").as_deref(), Some("active"));
    assert_eq!(hget(&mut c, "stats", "handed_back").as_deref(), Some("2"));
    // Claimed again, they run under a new token.
    assert_eq!(claim(&mut c, 5).len(), 2);
}
