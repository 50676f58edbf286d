//! `kairos-profiles`: heap profiles of the main scenarios, with a leak check.
//!
//! ```text
//! cargo run --release -p kairos-profiles [-- --scenario spawn|fanout|timers|all]
//!           [--peer kairos|tokio|rayon-core|heap-pool] [--tasks N] [--workers N]
//! cargo run --release -p kairos-profiles --features dhat-heap [-- same flags]
//! ```
//!
//! For each scenario the binary runs one warm-up cycle (build the runtime, run a few tasks
//! and timers, shut down: so one-time statics of std and the runtime are not mistaken for
//! leaks), takes a baseline of the heap, then:
//!
//! - `spawn`: N empty tasks submitted from outside, until all ran;
//! - `fanout`: one task spawns N children from inside;
//! - `timers`: N timed tasks due in an hour kept pending (bytes per pending task), then all
//!   cancelled;
//!
//! and shuts the runtime down. It prints bytes and blocks allocated per task, the peak of
//! live bytes (and per task), bytes per pending timed task, and the bytes still live after
//! shutdown. **Leak check**: for kairos, any byte still live after `shutdown` (beyond the
//! baseline) makes the binary print `LEAK` and exit with status 1. Other peers are reported
//! but not judged (rayon-core, for one, lets its threads exit after the pool is dropped).
//!
//! Heap figures come from `dhat::HeapStats` with `--features dhat-heap` (and a
//! `dhat-<scenario>-<peer>.json` file to open in DHAT's viewer), otherwise from
//! `kairos_bench::alloc::CountingAlloc`, which counts over mimalloc by default or over the
//! system allocator with `KAIROS_BENCH_ALLOC=system`. See `profiles/README.md`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use kairos_bench::measure::{rss_bytes, Completion};
use kairos_bench::{Peer, PeerConfig, PeerKind, Prio};

#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[cfg(not(feature = "dhat-heap"))]
#[global_allocator]
static ALLOC: kairos_bench::alloc::CountingAlloc = kairos_bench::alloc::CountingAlloc;

/// Heap counters, from whichever allocator this build uses.
#[derive(Clone, Copy, Debug, Default)]
struct Heap {
    live_bytes: i64,
    total_bytes: u64,
    total_blocks: u64,
    peak_bytes: i64,
}

#[cfg(feature = "dhat-heap")]
fn heap() -> Heap {
    let s = dhat::HeapStats::get();
    Heap {
        live_bytes: s.curr_bytes as i64,
        total_bytes: s.total_bytes,
        total_blocks: s.total_blocks,
        peak_bytes: s.max_bytes as i64,
    }
}

#[cfg(not(feature = "dhat-heap"))]
fn heap() -> Heap {
    let s = kairos_bench::alloc::heap_stats();
    Heap {
        live_bytes: s.live_bytes,
        total_bytes: s.total_bytes,
        total_blocks: s.total_blocks,
        peak_bytes: kairos_bench::alloc::peak_bytes(),
    }
}

fn reset_peak() {
    #[cfg(not(feature = "dhat-heap"))]
    kairos_bench::alloc::reset_peak();
}

fn allocator_name() -> &'static str {
    if cfg!(feature = "dhat-heap") {
        "dhat (over the system allocator)"
    } else {
        match kairos_bench::alloc::current() {
            kairos_bench::alloc::AllocKind::System => "counting, over the system allocator",
            kairos_bench::alloc::AllocKind::Mimalloc => "counting, over mimalloc",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    Spawn,
    Fanout,
    Timers,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Spawn, Scenario::Fanout, Scenario::Timers];

    fn name(self) -> &'static str {
        match self {
            Scenario::Spawn => "spawn",
            Scenario::Fanout => "fanout",
            Scenario::Timers => "timers",
        }
    }

    fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

struct Opts {
    scenarios: Vec<Scenario>,
    peer: PeerKind,
    tasks: u64,
    workers: usize,
    /// Leak 1 KiB per cycle on purpose, to show that the leak check fails.
    inject_leak: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        scenarios: Scenario::ALL.to_vec(),
        peer: PeerKind::Kairos,
        tasks: 100_000,
        workers: 2,
        inject_leak: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--scenario" => {
                let v = val()?;
                o.scenarios = if v == "all" {
                    Scenario::ALL.to_vec()
                } else {
                    v.split(',')
                        .map(|s| Scenario::parse(s).ok_or_else(|| format!("unknown scenario `{s}`")))
                        .collect::<Result<_, _>>()?
                };
            }
            "--peer" => {
                let v = val()?;
                o.peer = PeerKind::parse(&v).ok_or_else(|| format!("unknown peer `{v}`"))?;
            }
            "--tasks" => {
                let v = val()?;
                o.tasks = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("bad --tasks `{v}`"))?;
            }
            "--workers" => {
                let v = val()?;
                o.workers = v.parse().ok().filter(|&n| n > 0).ok_or_else(|| format!("bad --workers `{v}`"))?;
            }
            "--inject-leak" => o.inject_leak = true,
            "-h" | "--help" => {
                return Err("usage: kairos-profiles [--scenario spawn|fanout|timers|all] \
                            [--peer kairos|tokio|rayon-core|heap-pool] [--tasks N] [--workers N] [--inject-leak]"
                    .into())
            }
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    Ok(o)
}

/// What one scenario measured.
struct Profile {
    tasks: u64,
    bytes_per_task: f64,
    blocks_per_task: f64,
    peak_bytes: i64,
    pending_bytes_per_task: Option<f64>,
    rss_per_task: Option<f64>,
    /// Live bytes above the baseline after the measured run's shutdown.
    live_after_shutdown: i64,
    /// Live bytes above that after `EXTRA_CYCLES` more build/run/shutdown cycles.
    growth_per_cycle: i64,
    shutdown: String,
}

/// Lifecycles run after the measured one to tell a leak (grows each cycle) from memory
/// retained once per process (see [`flush_epoch_garbage`]).
const EXTRA_CYCLES: usize = 2;

/// The most bytes a non-growing residue may hold: one crossbeam-deque buffer retired to
/// crossbeam-epoch's collector (512 slots x 8 bytes + its header).
const RESIDUE_LIMIT: i64 = 8 * 1024;

fn wait(done: &Completion, n: u64) -> Result<(), String> {
    done.wait(n, Duration::from_secs(120))
        .map(|_| ())
        .ok_or_else(|| format!("timed out: {} of {n} tasks done", done.count()))
}

/// Lets crossbeam-epoch free what it deferred. crossbeam-deque (used by kairos and
/// rayon-core) frees a replaced deque buffer only when the global epoch has advanced past
/// every thread that might still read it; buffers retired by workers that have since exited
/// wait in the global collector until some thread pins and flushes. That memory is neither
/// the runtime's nor leaked, so the leak check collects it first (a pin + flush advances
/// the epoch once no other thread is pinned, and frees a bounded number of bags per call).
fn flush_epoch_garbage() {
    for _ in 0..1_024 {
        crossbeam_epoch::pin().flush();
    }
}

/// One warm-up cycle: start the runtime's lazy statics, std's and the allocator's.
fn warm_up<P: Peer>(workers: usize, done: &'static Completion) -> Result<(), String> {
    let peer = P::build(&PeerConfig::new(workers))?;
    for _ in 0..1_000 {
        peer.spawn(Prio::NORMAL, move || done.hit());
    }
    peer.spawn(Prio::NORMAL, move || P::spawn_inside(Prio::NORMAL, move || done.hit()));
    let mut n = 1_001;
    if P::supports(kairos_bench::Feature::Timers) {
        let h = peer.spawn_at(Instant::now() + Duration::from_millis(1), Prio::NORMAL, move || done.hit());
        let far = peer.spawn_at(Instant::now() + Duration::from_secs(3600), Prio::NORMAL, || {});
        P::cancel(&far);
        drop((h, far));
        n += 1;
    }
    wait(done, n)?;
    peer.shutdown();
    // Registers this thread with crossbeam-epoch (a one-time allocation) and collects the
    // warm-up's garbage, both before the baseline.
    flush_epoch_garbage();
    Ok(())
}

/// Figures of one build/run/shutdown cycle.
struct Cycle {
    built: Heap,
    after: Heap,
    pending: Option<f64>,
    rss_per_task: Option<f64>,
    /// Live bytes after shutdown (the shutdown text excluded).
    live_end: i64,
    peak_end: i64,
    shutdown: String,
}

fn cycle<P: Peer>(
    s: Scenario,
    tasks: u64,
    workers: usize,
    inject_leak: bool,
    done: &'static Completion,
    handles: &mut [Option<P::Handle>],
) -> Result<Cycle, String> {
    let target = done.count() + tasks;
    let peer = P::build(&PeerConfig::new(workers))?;
    if inject_leak {
        std::mem::forget(vec![0u8; 1024]);
    }
    let built = heap();
    let mut pending = None;
    let mut rss_per_task = None;
    match s {
        Scenario::Spawn => {
            for _ in 0..tasks {
                peer.spawn(Prio::NORMAL, move || done.hit());
            }
            wait(done, target)?;
        }
        Scenario::Fanout => {
            peer.spawn(Prio::NORMAL, move || {
                for _ in 0..tasks {
                    P::spawn_inside(Prio::NORMAL, move || done.hit());
                }
            });
            wait(done, target)?;
        }
        Scenario::Timers => {
            let rss0 = rss_bytes();
            let h0 = heap();
            let due = Instant::now() + Duration::from_secs(3600);
            for slot in handles.iter_mut() {
                *slot = Some(peer.spawn_at(due, Prio::NORMAL, move || done.hit()));
            }
            kairos_bench::scenarios::wait_quiet(Duration::from_secs(60));
            let h1 = heap();
            pending = Some((h1.live_bytes - h0.live_bytes) as f64 / tasks as f64);
            rss_per_task = Some(rss_bytes().saturating_sub(rss0) as f64 / tasks as f64);
            for h in handles.iter().flatten() {
                P::cancel(h);
            }
            handles.iter_mut().for_each(|h| *h = None);
        }
    }
    let after = heap();
    let shutdown = peer.shutdown();
    // Give threads that exit on their own (rayon-core) a moment; kairos joins its workers.
    if P::KIND != PeerKind::Kairos {
        std::thread::sleep(Duration::from_millis(100));
    }
    flush_epoch_garbage();
    let end = heap();
    Ok(Cycle {
        built,
        after,
        pending,
        rss_per_task,
        // The shutdown text is the one allocation of the cycle still meant to be live.
        live_end: end.live_bytes - shutdown.capacity() as i64,
        peak_end: end.peak_bytes,
        shutdown,
    })
}

fn profile<P: Peer>(s: Scenario, tasks: u64, workers: usize, inject_leak: bool) -> Result<Profile, String> {
    let warm = Completion::leak();
    let done = Completion::leak();
    warm_up::<P>(workers, warm)?;
    if s == Scenario::Timers && !P::supports(kairos_bench::Feature::Timers) {
        return Err(format!("{} has no timed tasks", P::KIND));
    }
    let mut handles: Vec<Option<P::Handle>> = Vec::new();
    if s == Scenario::Timers {
        handles.resize_with(tasks as usize, || None);
    }
    let base = heap();
    reset_peak();
    let c = cycle::<P>(s, tasks, workers, inject_leak, done, &mut handles)?;
    let live1 = c.live_end;
    let mut live_last = live1;
    for _ in 0..EXTRA_CYCLES {
        let more = cycle::<P>(s, tasks, workers, inject_leak, done, &mut handles)?;
        // The first cycle's shutdown text is still live here.
        live_last = more.live_end - c.shutdown.capacity() as i64;
    }
    drop(handles);
    Ok(Profile {
        tasks,
        bytes_per_task: (c.after.total_bytes - c.built.total_bytes) as f64 / tasks as f64,
        blocks_per_task: (c.after.total_blocks - c.built.total_blocks) as f64 / tasks as f64,
        peak_bytes: c.after.peak_bytes.max(c.peak_end) - base.live_bytes,
        pending_bytes_per_task: c.pending,
        rss_per_task: c.rss_per_task,
        live_after_shutdown: live1 - base.live_bytes,
        growth_per_cycle: (live_last - live1) / EXTRA_CYCLES as i64,
        shutdown: c.shutdown,
    })
}

fn run_one(s: Scenario, o: &Opts) -> Result<bool, String> {
    #[cfg(feature = "dhat-heap")]
    let _profiler =
        dhat::Profiler::builder().file_name(format!("dhat-{}-{}.json", s.name(), o.peer.name())).build();
    let p = kairos_bench::with_peer!(o.peer, P => profile::<P>(s, o.tasks, o.workers, o.inject_leak))?;
    let per = |v: f64| format!("{v:.1}");
    println!(
        "== {} / {} ({} tasks, {} workers; {}) ==",
        s.name(),
        o.peer,
        p.tasks,
        o.workers,
        allocator_name()
    );
    println!("  bytes allocated per task      {:>10}", per(p.bytes_per_task));
    println!("  blocks allocated per task     {:>10.3}", p.blocks_per_task);
    println!(
        "  peak live bytes               {:>10}  ({} per task)",
        p.peak_bytes,
        per(p.peak_bytes as f64 / p.tasks as f64)
    );
    if let Some(b) = p.pending_bytes_per_task {
        println!("  heap bytes per pending task   {:>10}", per(b));
    }
    if let Some(b) = p.rss_per_task {
        println!("  RSS bytes per pending task    {:>10}", per(b));
    }
    println!("  live bytes after shutdown     {:>10}", p.live_after_shutdown);
    println!("  growth per further cycle      {:>10}", p.growth_per_cycle);
    println!("  {}", p.shutdown);
    // A leak is memory that stays live after shutdown *and* accumulates with each runtime
    // lifecycle. A constant residue after the first cycle (a few KiB at most) is memory
    // crossbeam-epoch keeps for deferred frees; it is reported but is not the runtime's.
    let leaked = p.growth_per_cycle > 0 || p.live_after_shutdown > RESIDUE_LIMIT;
    if leaked && o.peer == PeerKind::Kairos {
        println!(
            "  LEAK: {} bytes still live after shutdown, growing by {} per runtime lifecycle",
            p.live_after_shutdown, p.growth_per_cycle
        );
        return Ok(false);
    }
    if leaked {
        println!("  (not judged for {}: bytes still live may belong to threads still exiting)", o.peer);
    }
    Ok(true)
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kairos-profiles: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("note: debug build; use --release for representative figures");
    }
    // One scenario per process: a fresh heap (and, with dhat, one profile file) each.
    if o.scenarios.len() > 1 {
        let exe = std::env::current_exe().expect("own executable");
        let mut ok = true;
        for s in &o.scenarios {
            let status = std::process::Command::new(&exe)
                .args(["--scenario", s.name(), "--peer", o.peer.name()])
                .args(["--tasks", &o.tasks.to_string(), "--workers", &o.workers.to_string()])
                .args(o.inject_leak.then_some("--inject-leak"))
                .status();
            ok &= status.map(|st| st.success()).unwrap_or(false);
        }
        return if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    match run_one(o.scenarios[0], &o) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("kairos-profiles: {} / {}: {e}", o.scenarios[0].name(), o.peer);
            ExitCode::FAILURE
        }
    }
}
