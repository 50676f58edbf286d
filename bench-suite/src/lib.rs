//! # kairos-bench
//!
//! The scenario runner and the criterion micro benchmarks that put kairos side by side
//! with its peers: tokio's multi-thread runtime, rayon-core's `ThreadPool`, and
//! [`peers::heap_pool::HeapPool`], the classic `Mutex<BinaryHeap>` + `Condvar` scheduler.
//!
//! ## How a run is organised
//!
//! - The binary (`src/main.rs`) is the **runner**: it parses [`args::Options`], and for every
//!   (scenario, case, round, peer) re-executes itself as a child process with the hidden
//!   `__run` subcommand ([`child`]), so that each run starts from a fresh heap and its memory
//!   figures are clean. The child builds one peer, runs one case of one scenario and prints
//!   one JSON line ([`scenarios::RunOutput`]).
//! - The parent ([`runner`]) collects the lines, takes medians over rounds, prints a table per
//!   scenario and writes `target/kairos-report/{report.md, report.json, *.svg}` ([`report`]).
//! - Every peer sits behind the same trait, [`peers::Peer`]; every scenario is a generic
//!   function over it, so every peer runs the same code, the same task body
//!   ([`measure::Completion::hit`]) and the same allocator ([`alloc::BenchAlloc`]).
//!
//! The library sets no global allocator; the binaries do.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod alloc;
pub mod args;
pub mod child;
pub mod machine;
pub mod measure;
pub mod peers;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod wake_floor;

pub use peers::{Feature, Peer, PeerConfig, PeerKind, Prio};
