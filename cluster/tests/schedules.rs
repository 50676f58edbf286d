//! Recurring jobs across nodes: each tick enqueues its job once however many nodes run,
//! and the schedule outlives the nodes.

mod common;

use common::{eventually, RedisServer};
use kairos_cluster::{Client, Job, Node, Queue, RunningNode};
use kairos_rt::{Priority, Runtime, Schedule};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn node(q: &Queue, rt: &Runtime, runs: &Arc<AtomicU64>) -> RunningNode {
    let r = runs.clone();
    Node::builder(q.clone(), rt.handle())
        .handler("tick", move |_| {
            r.fetch_add(1, SeqCst);
            Ok(Vec::new())
        })
        .start()
        .unwrap()
}

#[test]
fn each_tick_enqueues_once_however_many_nodes_run() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    let rt = Runtime::builder().workers(2).build().unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    let nodes: Vec<RunningNode> = (0..3).map(|_| node(&q, &rt, &runs)).collect();
    let every = Schedule::every(Duration::from_millis(20)).unwrap().times(25);
    q.schedule("fast", &every, Job::new("tick").priority(Priority::HIGH)).unwrap();
    eventually("25 firings ran", || q.counts().unwrap().total_completed == 25);
    // The schedule is over: no 26th firing, whatever the nodes do next.
    std::thread::sleep(Duration::from_millis(200));
    let c = q.counts().unwrap();
    assert_eq!((c.total_scheduled, c.total_enqueued, c.total_completed), (25, 25, 25), "{c:?}");
    assert_eq!(runs.load(SeqCst), 25);
    let info = q.schedules().unwrap();
    assert_eq!(info.len(), 1);
    assert_eq!((info[0].name.as_str(), info[0].fired, info[0].next_tick_ms), ("fast", 25, None));
    for n in nodes {
        assert!(n.shutdown(WAIT).is_balanced());
    }
}

#[test]
fn a_schedule_outlives_its_nodes_and_can_be_removed() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    q.schedule("beat", &Schedule::every(Duration::from_millis(10)).unwrap(), Job::new("tick")).unwrap();
    let first = node(&q, &rt, &runs);
    eventually("a few firings", || runs.load(SeqCst) >= 3);
    first.shutdown(WAIT);
    let before = q.schedules().unwrap()[0].fired;
    // A new node (a restart) carries the same schedule on.
    let second = node(&q, &rt, &runs);
    eventually("it fires again after the restart", || q.schedules().unwrap()[0].fired > before);
    assert!(q.unschedule("beat").unwrap());
    assert!(!q.unschedule("beat").unwrap());
    let fired = q.counts().unwrap().total_scheduled;
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(q.counts().unwrap().total_scheduled, fired, "no firing after unschedule");
    assert!(q.schedules().unwrap().is_empty());
    second.shutdown(WAIT);
}

#[test]
fn a_cron_schedule_in_a_time_zone_is_stored_and_rebuilt() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    let nightly = Schedule::cron_in("0 2 * * *", "Europe/Paris").unwrap();
    q.schedule("nightly", &nightly, Job::new("report")).unwrap();
    let info = &q.schedules().unwrap()[0];
    assert!(info.spec.contains("Europe/Paris") && info.spec.contains("0 2 * * *"), "{}", info.spec);
    let next = info.next_tick_ms.unwrap();
    let now = q.counts().unwrap().now_ms;
    assert!(next > now && next <= now + 25 * 3600 * 1000, "the next 02:00 in Paris is within a day");
}

#[test]
fn bad_schedules_and_templates_are_refused() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    let s = Schedule::every(Duration::from_secs(1)).unwrap();
    let e = q.schedule("x", &s, Job::new("k").after(Duration::from_secs(1))).unwrap_err();
    assert!(e.is_bad_job() && e.to_string().contains("after()"), "{e}");
    let e = q.schedule("x", &s, Job::new("k").idempotency_key("once")).unwrap_err();
    assert!(e.is_bad_job(), "{e}");
    let e = q.schedule("x", &s, Job::new("k").deadline_at(std::time::SystemTime::now())).unwrap_err();
    assert!(e.is_bad_job() && e.to_string().contains("deadline_after"), "{e}");
    let e = q.schedule("bad name", &s, Job::new("k")).unwrap_err();
    assert!(e.is_bad_job(), "{e}");
    let e = q.schedule("x", &s.clone().times(0), Job::new("k")).unwrap_err();
    assert!(e.is_bad_job(), "{e}");
    let past = chrono::Utc::now() - chrono::Duration::hours(1);
    let e = q.schedule("x", &s.until(past), Job::new("k")).unwrap_err();
    assert!(e.is_bad_job() && e.to_string().contains("no tick left"), "{e}");
    assert!(q.schedules().unwrap().is_empty());
}

/// A schedule whose job carries a payload that is not UTF-8 (payloads are opaque bytes)
/// is listed like any other.
#[test]
fn a_schedule_with_a_binary_payload_is_listed() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("bin").unwrap();
    let every = Schedule::every(Duration::from_secs(60)).unwrap();
    q.schedule("bin", &every, Job::new("k").payload(vec![0xff, 0xfe])).unwrap();
    let listed = q.schedules().expect("the schedules are listed");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].name.as_str(), listed[0].kind.as_str()), ("bin", "k"), "{listed:?}");
}

/// A schedule whose stored template was spoiled by hand ends, says why, and stops none
/// of the others: before, its FIRE failed after moving the schedule on (a job hash in no
/// set, never run), and a `fired` that was no count failed every firing after it.
#[test]
fn a_schedule_spoiled_by_hand_ends_with_why_and_the_others_fire_on() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    let every = Schedule::every(Duration::from_millis(10)).unwrap();
    // "a-bad" sorts first, so it is the first due schedule a node fires.
    q.schedule("a-bad", &every, Job::new("tick").deadline_after(Duration::from_secs(5))).unwrap();
    q.schedule("b-good", &every, Job::new("tick")).unwrap();
    let _: () = redis::cmd("HSET")
        .arg("kairos:{cron}:s:a-bad")
        .arg("dl")
        .arg("soon")
        .arg("fired")
        .arg("many")
        .query(&mut redis.conn())
        .unwrap();
    let n = node(&q, &rt, &runs);
    eventually("the sound schedule fires on", || {
        q.schedules().unwrap().iter().any(|s| s.name == "b-good" && s.fired >= 5)
    });
    let bad = q.schedules().unwrap().into_iter().find(|s| s.name == "a-bad").unwrap();
    assert_eq!(bad.next_tick_ms, None, "{bad:?}");
    assert!(bad.broken.as_deref().is_some_and(|why| why.contains("field dl")), "{bad:?}");
    assert!(n.shutdown(WAIT).is_balanced());
    // Every job written was enqueued: none half written, in no set.
    let c = q.counts().unwrap();
    let jobs: Vec<String> = redis::cmd("KEYS").arg("kairos:{cron}:j:*").query(&mut redis.conn()).unwrap();
    assert_eq!(jobs.len() as u64, c.total_enqueued, "{c:?}");
}

/// Before: due schedules were only fired by a claim, and a node with every slot busy
/// did not claim: while it was saturated, no tick fired at all.
#[test]
fn schedules_fire_while_every_slot_of_the_node_is_busy() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (release_tx, release_rx) = crossbeam_channel::bounded::<()>(1);
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<()>();
    let n = Node::builder(q.clone(), rt.handle())
        .concurrency(1)
        .handler("long", move |_| {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            Ok(Vec::new())
        })
        .handler("tick", |_| Ok(Vec::new()))
        .start()
        .unwrap();
    q.enqueue(Job::new("long")).unwrap();
    started_rx.recv_timeout(WAIT).unwrap();
    q.schedule("beat", &Schedule::every(Duration::from_millis(50)).unwrap(), Job::new("tick")).unwrap();
    eventually("ticks fire while the only slot is busy", || q.counts().unwrap().total_scheduled >= 3);
    release_tx.send(()).unwrap();
    n.shutdown(WAIT);
}

/// Before: the spec was read with an HGET that failed on a key of another type, which
/// failed the firing of every due schedule, for good.
#[test]
fn a_schedule_key_that_is_no_hash_stops_none_of_the_others() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    let rt = Runtime::builder().workers(1).build().unwrap();
    let every = Schedule::every(Duration::from_millis(10)).unwrap();
    q.schedule("a-bad", &every, Job::new("tick")).unwrap();
    q.schedule("b-good", &every, Job::new("tick")).unwrap();
    let mut c = redis.conn();
    let _: () = redis::cmd("DEL").arg("kairos:{cron}:s:a-bad").query(&mut c).unwrap();
    let _: () = redis::cmd("SET").arg("kairos:{cron}:s:a-bad").arg("x").query(&mut c).unwrap();
    let n = node(&q, &rt, &Arc::new(AtomicU64::new(0)));
    eventually("the sound schedule fires on", || q.counts().unwrap().total_scheduled >= 5);
    n.shutdown(WAIT);
}

/// Before: ticks were kept in whole milliseconds and periods were not: 1.5 ms fired every
/// 1 ms, and 0.5 ms never moved past its first tick (fired for ever). Now refused.
#[test]
fn a_period_that_is_no_whole_number_of_milliseconds_is_refused() {
    let redis = RedisServer::start();
    let q = Client::connect(&redis.url()).unwrap().queue("cron").unwrap();
    for us in [1500, 500] {
        let every = Schedule::every(Duration::from_micros(us)).unwrap();
        let e = q.schedule("s", &every, Job::new("tick")).unwrap_err();
        assert!(e.is_bad_job() && e.to_string().contains("whole number of milliseconds"), "{e}");
    }
    q.schedule("s", &Schedule::every(Duration::from_millis(2)).unwrap(), Job::new("tick")).unwrap();
}
