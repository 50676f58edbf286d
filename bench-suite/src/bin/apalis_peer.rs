//! `apalis-peer`: the apalis-redis side of the `cluster` scenario (built only with the
//! `apalis` feature; the scenario builds it on demand, see
//! `kairos_bench::scenarios::cluster::apalis`).
//!
//! - `apalis-peer fill URL N`: pushes N jobs (a 16-byte `String`, JSON-encoded by apalis)
//!   to queue `apalis-bench`, 1,000 per `push_stream` call (apalis-redis batches each
//!   call into one script), waiting while more than 4,000 are due and not yet promoted
//!   (apalis-redis 1.0 fails past ~8,000), and prints `{"pushed": N, "seconds": S}`.
//! - `apalis-peer work URL`: one worker process, tokio with 2 worker threads (the kairos
//!   nodes' `--workers 2`), `concurrency(32)` (the kairos nodes' default claim limit),
//!   a no-op handler; runs until killed. Progress is read by the bench with
//!   `SCARD apalis-bench:done`.
//!
//! apalis has no priorities: its queue is FIFO.

use apalis::prelude::*;
use apalis_redis::{Config, RedisStorage};

async fn noop(_job: String) -> Result<(), BoxDynError> {
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: apalis-peer fill URL N | apalis-peer work URL";
    let (Some(mode), Some(url)) = (args.get(1).cloned(), args.get(2).cloned()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result: Result<(), String> = rt.block_on(async {
        let conn = apalis_redis::connect(url.as_str()).await.map_err(|e| format!("{url}: {e}"))?;
        let config = Config::default().queue("apalis-bench");
        let mut storage: RedisStorage<String, _> = RedisStorage::new(conn).with_config(config);
        match mode.as_str() {
            "fill" => {
                let n: usize = args.get(3).and_then(|n| n.parse().ok()).ok_or(usage)?;
                let t = std::time::Instant::now();
                let mut left = n;
                while left > 0 {
                    // Keep the due set under apalis-redis's unpack limit (see the scenario).
                    loop {
                        let due: u64 = redis::cmd("ZCARD")
                            .arg("apalis-bench:scheduled")
                            .query_async(storage.get_connection())
                            .await
                            .map_err(|e| format!("ZCARD: {e}"))?;
                        if due <= 4_000 {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    let k = left.min(1_000);
                    let jobs = (0..k).map(|_| "0123456789abcdef".to_string());
                    storage
                        .push_stream(&mut futures::stream::iter(jobs))
                        .await
                        .map_err(|e| format!("push: {e:?}"))?;
                    left -= k;
                }
                println!("{{\"pushed\":{n},\"seconds\":{}}}", t.elapsed().as_secs_f64());
                Ok(())
            }
            "work" => {
                let worker = WorkerBuilder::new(format!("apalis-{}", std::process::id()))
                    .backend(storage)
                    .concurrency(32)
                    .build(noop);
                worker.run().await.map_err(|e| format!("worker: {e:?}"))
            }
            _ => Err(usage.to_string()),
        }
    });
    if let Err(e) = result {
        eprintln!("apalis-peer: {e}");
        std::process::exit(1);
    }
}
