//! A node: runs `charge` jobs on a kairos runtime (a third of attempts fail, to show
//! retries waiting in Redis) until Ctrl-C, then stops gracefully and prints its report.
//!
//! ```sh
//! cargo run -p kairos-cluster --example node
//! ```

use kairos_cluster::{Client, JobError, Node};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("KAIROS_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let queue = Client::connect(&url)?.queue("payments")?;
    let rt = kairos_rt::Runtime::builder().workers(2).build()?;
    let node = Node::builder(queue, rt.handle())
        .concurrency(16)
        .lease(Duration::from_secs(10))
        .handler("charge", |job| {
            let order = job.text()?;
            if fastrand::u8(..3) == 0 {
                return Err(JobError::retry(format!("{order}: payment API timed out")));
            }
            Ok(format!("charged {order} on attempt {}", job.attempt).into_bytes())
        })
        .start()?;
    println!("node {} running; Ctrl-C to stop", node.id());
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })?;
    let _ = rx.recv();
    let report = node.shutdown(Duration::from_secs(30));
    println!("{report}");
    rt.shutdown();
    Ok(())
}
