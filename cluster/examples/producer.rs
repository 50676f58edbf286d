//! A producer: enqueues payment jobs at mixed priorities (some delayed, all with retries),
//! then waits for each outcome.
//!
//! ```sh
//! cargo run -p kairos-cluster --example node       # in one terminal (or several)
//! cargo run -p kairos-cluster --example producer   # in another
//! ```
//!
//! Redis is `$KAIROS_REDIS` or redis://127.0.0.1:6379/.

use kairos_cluster::{Client, Job};
use kairos_rt::{Priority, RetryPolicy};
use std::time::Duration;

fn main() -> Result<(), kairos_cluster::Error> {
    let url = std::env::var("KAIROS_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let queue = Client::connect(&url)?.queue("payments")?;
    let retry = RetryPolicy::exponential(Duration::from_millis(100), Duration::from_secs(5)).max_attempts(4);
    let jobs: Vec<Job> = (0..20)
        .map(|i| {
            let job = Job::new("charge")
                .payload(format!("order-{i}").into_bytes())
                .priority(if i % 5 == 0 { Priority::HIGH } else { Priority::NORMAL })
                .retry(retry.clone())
                .idempotency_key(format!("charge-order-{i}"));
            if i % 4 == 0 {
                job.after(Duration::from_millis(500))
            } else {
                job
            }
        })
        .collect();
    let ids = queue.enqueue_batch(&jobs)?;
    println!("enqueued {} jobs on {url}", ids.len());
    for e in ids {
        let s = queue.wait(e.id, Duration::from_secs(60))?;
        let result = s.result.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
        println!("job {:>4}: {:<9} after {} attempt(s) {}", e.id, s.state.as_str(), s.attempts, result);
    }
    let c = queue.counts()?;
    println!(
        "queue: {} completed, {} dead, {} retried, {} live nodes",
        c.total_completed, c.total_dead, c.total_retried, c.nodes
    );
    Ok(())
}
