//! loom models of the lock-free protocols of `kairos-rt-core` (and the runtime sequences
//! that `kairos` builds from them).
//!
//! This library is empty: the models live in `tests/*.rs`, one file per protocol family,
//! and compile only under `--cfg loom` (a normal `cargo test --workspace` builds and
//! runs nothing here). Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release -p kairos-loom --target-dir target/loom
//! ```
//!
//! - `tests/task_state.rs`: the task state word (run vs cancel, complete vs join, wake
//!   while running, wake after complete, last reference frees);
//! - `tests/submission.rs`: injectors and run queues (every task taken exactly once);
//! - `tests/park.rs`: the sleep/wake protocol (no lost wake-up, with and without a timer
//!   deadline);
//! - `tests/timers.rs`: remote timer registration and cancel vs expiry;
//! - `tests/shutdown.rs`: the intake gate (a submission is refused or queued, never lost).
//!
//! `tests/park.rs` also holds one `#[ignore]`d model, `..._without_fence_after_push`: the
//! same protocol with `Shared::push_injected` exactly as written, where loom finds a lost
//! wake-up (see its docs). Run it with `-- --ignored`.
//!
//! `tests/common/mod.rs` holds the shared test doubles: a counting [`Schedule`] mock whose
//! drop marks the task cell as freed, drop counters, and a counting waker.
//!
//! [`Schedule`]: kairos_rt_core::task::Schedule
