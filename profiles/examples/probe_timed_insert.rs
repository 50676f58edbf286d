//! Timed inserts from outside, the bench's `timers` shape: N tasks due in an hour (spread
//! over a minute), submitted by one thread into a 2-worker runtime over mimalloc. Prints,
//! per round, the submit loop's rate and what the whole process did meanwhile: CPU time
//! and context switches (`getrusage`, all threads), so the cost the workers add beside
//! the submitter shows.
//!
//! `cargo run --release -p kairos-profiles --example probe_timed_insert -- 1000000 5`

use kairos_rt::{Priority, Runtime};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Process CPU time (user + system) and context switches (voluntary + involuntary).
fn usage() -> (Duration, i64) {
    // SAFETY: `getrusage` writes the whole struct it is given; a zeroed `rusage` is a
    // valid value of it.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_nvcsw + ru.ru_nivcsw)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(1_000_000, |s| s.parse().expect("N"));
    let rounds: usize = args.next().map_or(5, |s| s.parse().expect("rounds"));
    let rt = Runtime::builder().workers(2).build().expect("runtime");
    let spread_ns = 60_000_000_000 / n as u64;
    for round in 0..rounds {
        let mut handles = Vec::with_capacity(n);
        std::thread::sleep(Duration::from_millis(50));
        let (cpu0, cs0) = usage();
        let base = Instant::now() + Duration::from_secs(3600);
        let t = Instant::now();
        for i in 0..n {
            let due = base + Duration::from_nanos(i as u64 * spread_ns);
            handles.push(rt.spawn_at(due, Priority::NORMAL, move || i));
        }
        let took = t.elapsed();
        let (cpu1, cs1) = usage();
        println!(
            "round {round}: insert {:.2}M/s  process CPU {:.0} ms over {:.0} ms  context switches {}",
            n as f64 / took.as_secs_f64() / 1e6,
            (cpu1 - cpu0).as_secs_f64() * 1e3,
            took.as_secs_f64() * 1e3,
            cs1 - cs0
        );
        assert_eq!(handles.iter().filter(|h| h.cancel()).count(), n);
    }
}
