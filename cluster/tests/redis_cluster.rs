//! Queues spread over a Redis Cluster: each queue's keys share one hash tag (one slot), so
//! its scripts run on one master, and several queues land on several masters.

mod common;

use common::RedisCluster;
use kairos_cluster::{Client, Job, JobState, Node};
use kairos_rt::Runtime;
use std::collections::HashSet;
use std::time::Duration;

#[test]
fn queues_spread_over_a_cluster_and_every_job_completes() {
    let cluster = RedisCluster::start(3);
    let client = Client::connect(&cluster.url()).unwrap();
    assert!(client.is_cluster());
    let rt = Runtime::builder().workers(2).build().unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("queue-{i}")).collect();
    let mut nodes = Vec::new();
    let mut ids = Vec::new();
    for name in &names {
        let q = client.queue(name).unwrap();
        let batch: Vec<Job> = (0..50).map(|_| Job::new("k")).collect();
        ids.push((q.clone(), q.enqueue_batch(&batch).unwrap()));
        q.enqueue(Job::new("k").after(Duration::from_millis(20))).unwrap();
        nodes.push(Node::builder(q, rt.handle()).handler("k", |_| Ok(Vec::new())).start().unwrap());
    }
    for (q, batch) in &ids {
        for e in batch {
            assert_eq!(q.wait(e.id, Duration::from_secs(60)).unwrap().state, JobState::Completed);
        }
        common::eventually("the delayed job too", || q.counts().unwrap().total_completed == 51);
    }
    // The queues' slots are served by more than one master.
    let masters: HashSet<u16> = names
        .iter()
        .map(|n| {
            let key = format!("kairos:{{{n}}}:ready");
            cluster
                .servers
                .iter()
                .find(|s| {
                    let slot: i64 =
                        redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key).query(&mut s.conn()).unwrap();
                    let owner: Vec<redis::Value> =
                        redis::cmd("CLUSTER").arg("SLOTS").query(&mut s.conn()).unwrap();
                    owns(&owner, slot, s.port)
                })
                .expect("some master owns the slot")
                .port
        })
        .collect();
    assert!(masters.len() > 1, "8 queues all on one master: {masters:?}");
    for n in nodes {
        assert!(n.shutdown(Duration::from_secs(30)).is_balanced());
    }
}

/// True if CLUSTER SLOTS says the master on `port` serves `slot`.
fn owns(slots: &[redis::Value], slot: i64, port: u16) -> bool {
    slots.iter().any(|range| {
        let redis::Value::Array(r) = range else { return false };
        let (Some(redis::Value::Int(lo)), Some(redis::Value::Int(hi)), Some(redis::Value::Array(master))) =
            (r.first(), r.get(1), r.get(2))
        else {
            return false;
        };
        matches!(master.get(1), Some(redis::Value::Int(p)) if *p == i64::from(port))
            && (*lo..=*hi).contains(&slot)
    })
}
