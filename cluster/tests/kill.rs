//! Real processes, real signals: a node process killed with SIGKILL mid-run loses no job,
//! and another node runs what it held once its leases run out.

mod common;

use common::{eventually, RedisServer};
use kairos_cluster::{Client, Job, JobId};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};

fn worker(url: &str, queue: &str, id: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kairos-cluster"))
        .args(["worker", "--redis", url, "--queue", queue, "--workers", "2", "--concurrency", "16"])
        .args(["--lease-ms", "1000", "--grace-secs", "30", "--json", "--node-id", id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the kairos-cluster binary")
}

#[test]
fn a_node_killed_with_sigkill_loses_nothing() {
    let redis = RedisServer::start();
    let url = redis.url();
    let q = Client::connect(&url).unwrap().queue("kill").unwrap();
    let jobs: Vec<Job> = (0..2000).map(|_| Job::new("record").payload(b"20".to_vec())).collect();
    let ids: Vec<JobId> = q.enqueue_batch(&jobs).unwrap().into_iter().map(|e| e.id).collect();

    let mut victim = worker(&url, "kill", "victim");
    let survivor = worker(&url, "kill", "survivor");
    eventually("some jobs done and the victim holding some", || {
        let victim_holds =
            q.nodes().unwrap().iter().any(|n| n.id == "victim" && n.about["held"].as_u64() > Some(0));
        victim_holds && q.counts().unwrap().total_completed >= 100
    });
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();

    eventually("every job completed", || q.counts().unwrap().total_completed == 2000);
    let c = q.counts().unwrap();
    assert_eq!((c.ready, c.delayed, c.running, c.dead), (0, 0, 0, 0), "{c:?}");
    eprintln!("after the kill: {} jobs recovered from the victim's leases", c.total_recovered);

    // Every job ran at least once; a job ran twice only if the victim held it when it
    // died (then its lease ran out and it was recovered).
    let records: HashMap<u64, u64> = q.records().unwrap();
    let missing: Vec<&JobId> = ids.iter().filter(|id| !records.contains_key(&id.0)).collect();
    assert!(missing.is_empty(), "jobs never ran: {missing:?}");
    let twice = records.values().filter(|&&n| n > 1).count() as u64;
    assert!(c.total_recovered > 0, "the victim held jobs when it died; they were recovered");
    assert!(
        twice <= c.total_recovered,
        "{twice} jobs ran twice but only {} were recovered",
        c.total_recovered
    );

    unsafe_sigterm(&survivor);
    let out = survivor.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report as JSON");
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        n("claimed"),
        n("completed") + n("retried") + n("dead") + n("handed_back") + n("refused") + n("unacked")
    );
    assert!(n("completed") > 0);
}

/// Sends SIGTERM to a child (std only offers SIGKILL).
fn unsafe_sigterm(child: &Child) {
    // SAFETY: kill(2) with a pid we own (the child is not yet reaped) and a valid signal.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(r, 0);
}
