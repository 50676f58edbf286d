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
