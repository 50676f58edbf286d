//! Real processes, real signals: a node process paused with SIGSTOP for longer than its
//! lease loses the job to another node; when it resumes (SIGCONT) its run is finished
//! but its ack is refused (fencing) and counted, so the job ends once, as the second
//! node left it.

mod common;

use common::{eventually, RedisServer};
use kairos_cluster::{Client, Job, JobState};
use std::process::{Child, Command, Stdio};

fn worker(url: &str, id: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kairos-cluster"))
        .args(["worker", "--redis", url, "--queue", "pause", "--workers", "2", "--concurrency", "1"])
        .args(["--lease-ms", "600", "--grace-secs", "30", "--json", "--node-id", id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the kairos-cluster binary")
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child, not yet reaped, with a valid signal number.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill({}, {sig})", child.id());
}

#[test]
fn a_node_paused_past_its_lease_loses_the_job_and_its_late_ack_is_refused() {
    let redis = RedisServer::start();
    let url = redis.url();
    let q = Client::connect(&url).unwrap().queue("pause").unwrap();
    let paused = worker(&url, "paused");
    // The job sleeps 1.5 s (2.5 leases) before it records its run.
    let id = q.enqueue(Job::new("record").payload(b"1500".to_vec())).unwrap();
    eventually("the first node holds the job", || {
        q.status(id)
            .unwrap()
            .is_some_and(|s| s.state == JobState::Active && s.node.as_deref() == Some("paused"))
    });
    signal(&paused, libc::SIGSTOP);
    let other = worker(&url, "other");
    eventually("the job completed on the other node", || {
        q.status(id).unwrap().is_some_and(|s| s.state == JobState::Completed)
    });
    let s = q.status(id).unwrap().unwrap();
    assert_eq!((s.attempts, s.lost_leases), (2, 1), "{s:?}");
    assert_eq!(q.records().unwrap().get(&id.0), Some(&1), "only the second node's run so far");

    signal(&paused, libc::SIGCONT);
    eventually("the paused node's late ack is refused", || q.counts().unwrap().total_stale_acks == 1);
    // Its handler did run to the end (at least once is the promise), but the job's state
    // is the second node's.
    assert_eq!(q.records().unwrap().get(&id.0), Some(&2));
    let s = q.status(id).unwrap().unwrap();
    assert_eq!((s.state, s.attempts), (JobState::Completed, 2), "{s:?}");
    let c = q.counts().unwrap();
    assert_eq!((c.total_completed, c.total_recovered, c.ready, c.running), (1, 1, 0, 0), "{c:?}");

    for (child, refused, completed) in [(paused, 1, 0), (other, 0, 1)] {
        signal(&child, libc::SIGTERM);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the report as JSON");
        assert_eq!(report["refused"].as_u64(), Some(refused), "{report}");
        assert_eq!(report["completed"].as_u64(), Some(completed), "{report}");
    }
}
