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
//! - `tests/policies.rs`: priority change vs run, and the other per-task policies;
//! - `tests/submission.rs`: injectors and run queues (every task taken exactly once);
//! - `tests/push_local.rs`: a worker's push onto its own queue vs a peer going to sleep;
//! - `tests/batch_steal.rs`: a batch stolen from the injectors by a worker outside a
//!   search vs a searcher going to sleep (the batch is in neither queue for a moment);
//! - `tests/searcher_hand_off.rs`: the last searcher to stop looks for work a submitter
//!   left to it (trusting the searcher, it woke nobody) and wakes a sleeper for it;
//! - `tests/park.rs`: the sleep/wake protocol and the park door (no lost wake-up, with
//!   and without a timer deadline);
//! - `tests/timer_inbox.rs`, `tests/timers.rs`: remote timer registration and cancel
//!   vs expiry;
//! - `tests/wheel_handover.rs`, `tests/wake_to_help.rs`: a free worker firing a busy
//!   worker's timers, and waking to do so;
//! - `tests/shutdown.rs`, `tests/late_push.rs`, `tests/last_out.rs`: the intake gate,
//!   the final drain vs a late push, and who runs that drain.
//!
//! Broken variants of the protocols are kept beside them as `should_panic` models, so
//! the models are seen to fail when a fence or a step is removed. `tests/wake_to_help.rs`
//! holds one `#[ignore]`d variant that aborts while unwinding; run it alone with
//! `-- --ignored --exact` (see its docs).
//!
//! `tests/common/mod.rs` holds the shared test doubles: a counting [`Schedule`] mock whose
//! drop marks the task cell as freed, drop counters, and a counting waker.
//!
//! [`Schedule`]: kairos_rt_core::task::Schedule
