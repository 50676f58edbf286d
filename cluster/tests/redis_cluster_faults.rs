//! A master of a Redis Cluster SIGKILLed and restarted on its AOF (`appendfsync always`):
//! nothing acknowledged is lost. Meanwhile the queues whose slot it served refuse
//! enqueues with an error, and (with `cluster-require-full-coverage no`) the queues on the
//! other masters keep working. With the default `cluster-require-full-coverage yes`,
//! every queue stops once the other masters mark the dead one failed
//! (`cluster-node-timeout`, 15 s by default); kairos adds no availability of its own to
//! Redis Cluster's.

mod common;

use common::{Persistence, RedisCluster};
use kairos_cluster::{Client, Job, JobId, JobState, Node, Queue};
use kairos_rt::Runtime;
use std::time::Duration;

#[test]
fn a_master_killed_and_restarted_with_aof_loses_nothing_acknowledged() {
    let mut cluster =
        RedisCluster::start_with(3, Persistence::AofAlways, &["--cluster-require-full-coverage", "no"]);
    let client = Client::connect(&cluster.url()).unwrap();
    let names: Vec<String> = (0..8).map(|i| format!("queue-{i}")).collect();
    let queues: Vec<Queue> = names.iter().map(|n| client.queue(n).unwrap()).collect();
    let owners: Vec<usize> =
        names.iter().map(|n| cluster.owner_of(&format!("kairos:{{{n}}}:ready"))).collect();
    let victim = owners[0];
    let survivor_q = owners.iter().position(|&o| o != victim).expect("8 queues on more than one master");

    let mut acked: Vec<(usize, JobId)> = Vec::new();
    for (i, q) in queues.iter().enumerate() {
        let batch: Vec<Job> = (0..50).map(|_| Job::new("k")).collect();
        acked.extend(q.enqueue_batch(&batch).unwrap().into_iter().map(|e| (i, e.id)));
        acked.push((i, q.enqueue(Job::new("k").after(Duration::from_millis(300))).unwrap()));
    }

    cluster.servers[victim].kill();
    // Meanwhile: the dead master's queue refuses with an error; another master's queue works.
    let e = queues[0].enqueue(Job::new("k")).unwrap_err();
    eprintln!("enqueue on the dead master's queue: {e}");
    acked.push((survivor_q, queues[survivor_q].enqueue(Job::new("k")).unwrap()));

    cluster.servers[victim].restart();
    cluster.wait_ok();
    // After the restart, the queue takes jobs again.
    let client = Client::connect(&cluster.url()).unwrap();
    let queues: Vec<Queue> = names.iter().map(|n| client.queue(n).unwrap()).collect();
    common::eventually("the restarted master's queue takes enqueues", || {
        queues[0].enqueue(Job::new("k")).is_ok()
    });

    let rt = Runtime::builder().workers(2).build().unwrap();
    let nodes: Vec<_> = queues
        .iter()
        .map(|q| Node::builder(q.clone(), rt.handle()).handler("k", |_| Ok(Vec::new())).start().unwrap())
        .collect();
    for (i, id) in &acked {
        let s = queues[*i].wait(*id, Duration::from_secs(60)).unwrap();
        assert_eq!(s.state, JobState::Completed, "queue {i} job {id}: an acknowledged job was lost");
    }
    for n in nodes {
        assert!(n.shutdown(Duration::from_secs(30)).is_balanced());
    }
}
