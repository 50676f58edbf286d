//! `cluster`: kairos-cluster as whole processes over real sockets: one `redis-server`,
//! `kairos-cluster worker` node processes (2 runtime workers each) and producer
//! processes, all started by the scenario.
//!
//! | case | module | figures |
//! | --- | --- | --- |
//! | `1 node`, `3 nodes` | [`nodes`] | Redis ceiling; enqueue one at a time and batched; Redis memory per pending job; processing rate of `noop` jobs from a full queue; CPU per job (nodes, Redis, Redis in scripts); enqueue-to-start p50/p95/p99/p99.9 at 1,000/s and 5,000/s offered; delayed-job lateness p50/p99; HIGHEST probe wait behind a LOWEST flood |
//! | (in `1 node`, `3 nodes`) | [`apalis`] | apalis-redis on the same Redis, same body, same process and thread counts (FIFO: no priorities) |
//! | `faults` | [`faults`] | node SIGKILL (lost, run twice, recovery time); Redis SIGKILL with `appendfsync always` and `everysec` (acknowledged enqueues lost, loss window) |
//!
//! Only the `kairos` peer runs it (the in-process peers have no Redis queue): the table's
//! other columns say "n/s". Without `redis-server` on `PATH` every case reports
//! "not run: redis-server not found" and the other scenarios run as usual.
//!
//! **The binary.** Node and producer processes are the `kairos-cluster` binary, found by
//! [`procs::cluster_binary`]: `$KAIROS_CLUSTER_BIN`, else (under `cargo run`, which sets
//! `$CARGO`) `cargo build --release -p kairos-cluster --bin kairos-cluster` then the file
//! next to this executable in `target/release/`. The bench crate depends on
//! `kairos-cluster` (the library) so both build from the same sources; cargo cannot yet
//! depend on another package's binary, hence the build step.

pub mod apalis;
pub mod ceiling;
pub mod faults;
pub mod load;
pub mod nodes;
pub mod procs;
pub mod published;

use super::{CaseResult, Ctx, Skip};
use crate::peers::{Peer, PeerKind};

/// The payload of the throughput and memory jobs: 16 bytes.
pub const PAYLOAD_16: &str = "0123456789abcdef";

/// The cases (the same in quick and full mode; quick mode uses smaller counts).
pub const CASES: [&str; 3] = ["1 node", "3 nodes", "faults"];

/// Runs case `ctx` (only for the kairos peer).
pub fn run<P: Peer>(ctx: &Ctx) -> Result<CaseResult, Skip> {
    if P::KIND != PeerKind::Kairos {
        return Err(Skip::NotSupported(format!(
            "{} is an in-process runtime: the cluster scenario runs kairos-cluster processes on Redis",
            P::KIND
        )));
    }
    if !procs::redis_available() {
        return Err(Skip::NotSupported("not run: redis-server not found".into()));
    }
    let bin = procs::cluster_binary().map_err(Skip::Failed)?;
    match ctx.case.as_str() {
        "1 node" => nodes::run(ctx, &bin, 1),
        "3 nodes" => nodes::run(ctx, &bin, 3),
        "faults" => faults::run(ctx, &bin),
        other => Err(Skip::Failed(format!("unknown cluster case {other:?}"))),
    }
}
