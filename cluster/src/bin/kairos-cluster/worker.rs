//! `kairos-cluster worker`: a node with the built-in kinds, drained on SIGTERM or Ctrl-C.

use crate::args::WorkerArgs;
use kairos_cluster::{Client, Node};
use std::sync::mpsc;
use std::time::Duration;

pub fn run(a: WorkerArgs) -> Result<(), Box<dyn std::error::Error>> {
    let queue = Client::open(&a.target.redis)?.queue(&a.target.queue)?;
    let mut rt = kairos_rt::Runtime::builder().thread_name("kairos-cluster-worker");
    if let Some(w) = a.workers {
        rt = rt.workers(w);
    }
    if let Some(n) = a.max_processes {
        rt = rt.max_processes(n);
    }
    let rt = rt.build()?;
    let (stop_tx, stop_rx) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })?;
    let builder = || {
        let b = Node::builder(queue.clone(), rt.handle())
            .concurrency(a.concurrency)
            .lease(Duration::from_millis(a.lease_ms))
            .builtin_kinds(&a.allow_command);
        match &a.node_id {
            Some(id) => b.node_id(id.clone()),
            None => b,
        }
    };
    // Redis may come up after the node: keep trying (with backoff) until it answers or a
    // signal says stop; a bad setting, or a refusal that will not pass by itself (a
    // database index Redis does not have), fails at once.
    let mut wait = Duration::from_millis(100);
    let node = loop {
        match builder().start() {
            Ok(n) => break n,
            Err(e) if e.is_transient() => {
                eprintln!("kairos-cluster worker: {e}; retrying in {wait:?}");
                if stop_rx.recv_timeout(wait).is_ok() {
                    return Ok(());
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    };
    eprintln!("kairos-cluster worker: node {} running on queue {:?}", node.id(), a.target.queue);
    let _ = stop_rx.recv();
    eprintln!("kairos-cluster worker: stopping (grace {} s)", a.grace_secs);
    let report = node.shutdown(Duration::from_secs(a.grace_secs));
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report}");
    }
    rt.shutdown();
    Ok(())
}
