//! What the `cluster` table quotes beside each figure: the reference document's Go + Redis
//! scheduler, BullMQ, Sidekiq and `redis-benchmark` (from `shared/ANCHORS.md`), and the
//! bar of issue 23.

/// Published figures for a `cluster` metric key.
pub fn lookup(key: &str) -> Option<&'static str> {
    Some(match key {
        "redis_ops_per_s" => "redis-benchmark ~110-150k ops/s on this VM kind",
        "redis_ops_pipelined_per_s" => "redis-benchmark 300-900k ops/s with -P 16",
        "enqueue_one_per_s" => "Go+Redis 1,047/s per node, 2,891/s on 3; BullMQ add() ~7,500/s; bar >= 8,000/s",
        "enqueue_batch_per_s" => "BullMQ addBulk ~52,000/s; bar >= 50,000/s",
        "mem_per_job_b" => "Go+Redis 2 MB per 1,000 tasks; BullMQ ~2 KB per kept job; bar <= 300 B",
        "process_per_s" => "Go+Redis 2,500/s (5 workers), 7,500/s on 3 nodes; BullMQ ~18,000/s; Sidekiq 23,500/s; bar (3 nodes) >= 20,000/s",
        "process_pct_of_redis" => "BullMQ and Sidekiq: 12-20% of Redis's unpipelined rate",
        "e2e_1k_p50" | "e2e_5k_p50" => "Go+Redis submission p50 < 5 ms",
        "e2e_1k_p95" | "e2e_5k_p95" => "Go+Redis submission p95 < 15 ms",
        "e2e_1k_p99" => "Go+Redis submission p99 < 50 ms",
        "e2e_5k_p99" => "Go+Redis p99 < 50 ms; bar <= 5 ms",
        "e2e_1k_p99.9" | "e2e_5k_p99.9" => "Go+Redis p99.9 < 100 ms",
        "delayed_late_p99" => "BullMQ users report 100 ms - 5 s; bar <= 10 ms",
        "kairos_vs_apalis" => "bar (3 nodes) >= 2x apalis-redis",
        "kill_lost" => "Go+Redis: 0% data loss; bar 0",
        "kill_recovery_ms" => "Go+Redis: node failure recovery 15 s; bar lease + 1 s = 2,000 ms",
        "redis_kill_always_lost" => "Go+Redis: \"0% data loss (Redis persistence)\"; bar 0",
        _ => return None,
    })
}
