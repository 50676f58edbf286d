//! Process jobs: OS commands as kairos tasks, each under a timeout, at most two at once,
//! in priority order.
//!
//! ```sh
//! cargo run --release -p kairos-rt --example process_jobs
//! ```
//!
//! [`Handle::spawn_process`](kairos_rt::Handle::spawn_process) starts a command and
//! collects its exit status and output without holding a worker while it runs (on Linux
//! one driver thread watches every child). [`Builder::max_processes`](kairos_rt::Builder::max_processes)
//! caps how many run at once; waiting jobs start in priority order. A job past its
//! timeout is killed (with its process group) and reported `timed_out`. A process that
//! fails is not an error (its status is in the output); an error means it could not run
//! at all, such as a program that does not exist.

#[cfg(unix)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use kairos_rt::{Priority, ProcessTask, Runtime};
    use std::process::Command;
    use std::time::{Duration, Instant};

    let rt = Runtime::builder().workers(2).max_processes(2).build()?;
    let sh = |script: &str| {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    };
    let started = Instant::now();

    // Two batch exports take both process slots (0.2 s and 0.4 s)...
    let exports: Vec<_> = [2, 4]
        .map(|tenths| {
            let script = format!("sleep 0.{tenths}; echo export of 0.{tenths} s done");
            rt.spawn_process(Priority::LOW, sh(&script), Duration::from_secs(10))
        })
        .into_iter()
        .collect();
    std::thread::sleep(Duration::from_millis(50)); // (for the demo: let them start)
                                                   // ...so everything below waits for a slot. The first slot to free up (at 0.2 s) goes
                                                   // to the health check, the most urgent, although it was queued after the cleanup;
                                                   // the cleanup (LOWEST) starts only after the NORMAL jobs below have had theirs.
    let cleanup = rt.spawn_process(Priority::LOWEST, sh("echo cleanup done"), Duration::from_secs(10));
    let health = rt.spawn_process(Priority::HIGHEST, sh("echo healthy"), Duration::from_secs(10));
    // A job that hangs: killed at its 100 ms timeout.
    let hung = rt.spawn_process(Priority::NORMAL, sh("sleep 30"), Duration::from_millis(100));
    // A job that fails: its exit code and stderr are in the output.
    let failing =
        rt.spawn_process(Priority::NORMAL, sh("echo 'disk full' >&2; exit 3"), Duration::from_secs(10));
    // A chatty job: keep the first 16 bytes of its output, count the rest.
    let chatty = rt.spawn_process_with(
        ProcessTask::new(sh("yes kairos | head -c 100000"), Duration::from_secs(10)).max_output(16),
    );
    // A program that does not exist: an error, not an output.
    let missing =
        rt.spawn_process(Priority::NORMAL, Command::new("no-such-program-kairos"), Duration::from_secs(1));

    let health = health.join()??;
    println!("{} at {:.1?}", health.stdout_lossy().trim(), started.elapsed());
    let cleanup = cleanup.join()??;
    println!("{} at {:.1?}", cleanup.stdout_lossy().trim(), started.elapsed());
    for export in exports {
        println!("{}", export.join()??.stdout_lossy().trim());
    }
    let hung = hung.join()??;
    println!("hung job: timed out = {}, killed after {:.1?}", hung.timed_out, hung.elapsed);
    let failing = failing.join()??;
    println!("failing job: exit code {:?}, stderr {:?}", failing.code(), failing.stderr_lossy().trim());
    let chatty = chatty.join()??;
    println!("chatty job: kept {:?}, dropped {} bytes", chatty.stdout_lossy(), chatty.stdout_dropped);
    match missing.join()? {
        Ok(out) => println!("unexpected: {out:?}"),
        Err(e) => println!("missing program: {e}"),
    }

    let report = rt.shutdown();
    println!("shutdown: {report}");
    assert!(report.is_balanced());
    Ok(())
}

#[cfg(not(unix))]
fn main() {
    println!("this example runs `sh` commands; it needs a Unix system");
}
