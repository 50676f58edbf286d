//! `spawn_process`: output and status, the kill at the timeout, errors, the concurrency
//! cap, and no leaked child when the task is dropped.
#![cfg(unix)]

use kairos_rt::{Priority, ProcessOutput, Runtime};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(20);

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

fn runtime(workers: usize, max_processes: usize) -> Runtime {
    Runtime::builder().workers(workers).max_processes(max_processes).build().unwrap()
}

/// A fresh, empty directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kairos-process-{name}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits (bounded) for `file` to hold a pid written by a script, and returns it.
fn read_pid(file: &Path) -> String {
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(file) {
            let pid = s.trim().to_owned();
            if !pid.is_empty() {
                return pid;
            }
        }
        assert!(Instant::now() < give_up, "the child never wrote its pid");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn alive(pid: &str) -> bool {
    Command::new("kill").args(["-0", pid]).stderr(std::process::Stdio::null()).status().unwrap().success()
}

fn run(rt: &Runtime, cmd: Command, timeout: Duration) -> ProcessOutput {
    rt.spawn_process(Priority::NORMAL, cmd, timeout).join().unwrap().unwrap()
}

#[test]
fn captures_stdout_stderr_and_exit_code() {
    let rt = runtime(2, 2);
    let out = run(&rt, sh("printf hello; printf err >&2; exit 3"), LONG);
    assert_eq!(out.stdout, b"hello");
    assert_eq!(out.stderr, b"err");
    assert_eq!(out.code(), Some(3));
    assert!(!out.status.success());
    assert!(!out.success());
    assert!(!out.timed_out);

    let ok = run(&rt, sh("echo fine"), LONG);
    assert!(ok.success());
    assert_eq!(ok.stdout_lossy(), "fine\n");
    assert!(ok.stderr.is_empty());
    assert!(rt.shutdown().is_balanced());
}

#[test]
fn large_output_on_both_pipes_does_not_deadlock() {
    // Far more than a pipe buffer on each stream, stderr first: a sequential reader of
    // stdout would leave the child blocked on a full stderr pipe.
    let rt = runtime(1, 1);
    let out = run(&rt, sh("head -c 300000 /dev/zero >&2; head -c 200000 /dev/zero"), LONG);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stderr.len(), 300_000);
    assert_eq!(out.stdout.len(), 200_000);
}

#[test]
fn kills_at_the_timeout() {
    let rt = runtime(2, 2);
    let start = Instant::now();
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let out = run(&rt, cmd, Duration::from_millis(100));
    // Generous: only fails if the kill did not happen.
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
    assert!(out.timed_out);
    assert!(!out.status.success());
    assert!(!out.success());
    assert_eq!(out.code(), None, "killed by a signal");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(9));
    }
    assert!(out.elapsed >= Duration::from_millis(100));
}

#[test]
fn output_written_before_the_kill_is_kept() {
    let rt = runtime(1, 1);
    let out = run(&rt, sh("printf before; exec sleep 30"), Duration::from_millis(100));
    assert!(out.timed_out);
    assert_eq!(out.stdout, b"before");
}

#[test]
fn missing_program_is_a_start_failure() {
    let rt = runtime(1, 1);
    let err = rt
        .spawn_process(Priority::NORMAL, Command::new("kairos-no-such-program"), LONG)
        .join()
        .unwrap()
        .unwrap_err();
    assert!(err.is_start_failure());
    assert!(!err.is_invalid_timeout());
    assert_eq!(err.program(), "kairos-no-such-program");
    let msg = err.to_string();
    assert_eq!(msg, "could not start `kairos-no-such-program`", "the io error is the source, not repeated");
    assert_eq!(err.io_error().unwrap().kind(), std::io::ErrorKind::NotFound);
    let source = std::error::Error::source(&err).expect("the io::Error is the source");
    assert!(source.downcast_ref::<std::io::Error>().is_some());
    // The slot was given back: a later process still runs with a cap of one.
    assert!(run(&rt, Command::new("true"), LONG).success());
}

#[test]
fn zero_timeout_is_refused() {
    let rt = runtime(1, 1);
    let dir = temp_dir("zero");
    let marker = dir.join("ran");
    let cmd = sh(&format!("touch '{}'", marker.display()));
    let err = rt.spawn_process(Priority::NORMAL, cmd, Duration::ZERO).join().unwrap().unwrap_err();
    assert!(err.is_invalid_timeout());
    assert!(!err.is_start_failure());
    assert!(std::error::Error::source(&err).is_none());
    assert!(err.to_string().contains("timeout of zero"), "{err}");
    assert!(!marker.exists(), "the process must not be started");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_cap_keeps_processes_from_overlapping() {
    // More workers than the cap: only the cap can serialise them. An overlap makes the
    // second `mkdir` fail, and that process exits 99.
    let rt = runtime(4, 1);
    let dir = temp_dir("cap");
    let script = format!(
        "mkdir '{d}/running' || exit 99; echo start; sleep 0.2; echo end; rmdir '{d}/running'",
        d = dir.display()
    );
    let handles: Vec<_> = (0..3).map(|_| rt.spawn_process(Priority::NORMAL, sh(&script), LONG)).collect();
    for h in handles {
        let out = h.join().unwrap().unwrap();
        assert_eq!(out.code(), Some(0), "overlapping processes: {out:?}");
        assert_eq!(out.stdout, b"start\nend\n");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn waiting_processes_hold_no_worker() {
    // One worker, one slot: one process runs, one waits for the slot. A closure spawned
    // meanwhile still runs, and finishes before the waiting process can have.
    let rt = runtime(1, 1);
    let first = rt.spawn_process(Priority::HIGH, sh("sleep 0.3"), LONG);
    let second = rt.spawn_process(Priority::HIGH, sh("sleep 0.3"), LONG);
    let quick = rt.spawn(Priority::LOWEST, || 7);
    assert_eq!(quick.join().unwrap(), 7);
    assert!(!second.is_finished(), "the closure had to wait for the processes");
    assert!(first.join().unwrap().unwrap().success());
    assert!(second.join().unwrap().unwrap().success());
}

#[test]
fn shutdown_kills_and_reaps_the_child() {
    let rt = runtime(2, 2);
    let dir = temp_dir("shutdown");
    let pid_file = dir.join("pid");
    let script = format!("echo $$ > '{f}.tmp'; mv '{f}.tmp' '{f}'; exec sleep 30", f = pid_file.display());
    let h = rt.spawn_process(Priority::NORMAL, sh(&script), Duration::from_secs(60));
    let pid = read_pid(&pid_file);
    assert!(alive(&pid));
    let start = Instant::now();
    let report = rt.shutdown();
    assert!(start.elapsed() < Duration::from_secs(10), "shutdown took {:?}", start.elapsed());
    assert!(!alive(&pid), "the child {pid} outlived the runtime (or is an unreaped zombie)");
    assert!(h.join().unwrap_err().is_shutdown());
    assert!(report.is_balanced(), "{report:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn cancelling_the_task_kills_and_reaps_the_child() {
    let rt = runtime(1, 1);
    let dir = temp_dir("cancel");
    let pid_file = dir.join("pid");
    let script = format!("echo $$ > '{f}.tmp'; mv '{f}.tmp' '{f}'; exec sleep 30", f = pid_file.display());
    let h = rt.spawn_process(Priority::NORMAL, sh(&script), Duration::from_secs(60));
    let pid = read_pid(&pid_file);
    // The task waits for the child, so the cancel drops its future here (or, if a worker
    // is polling it at this instant, at its next idle point), killing the child.
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    assert!(!alive(&pid), "the child {pid} outlived its cancelled task");
    // The slot came back.
    assert!(run(&rt, Command::new("true"), LONG).success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_spawn_on_a_shut_down_runtime_is_refused() {
    let rt = runtime(1, 1);
    let handle = rt.handle();
    let _ = rt.shutdown();
    let err = handle.spawn_process(Priority::NORMAL, Command::new("true"), LONG).join().unwrap_err();
    assert!(err.is_shutdown());
}

/// Linux: whether `pid` is gone or a zombie (a reparented grandchild may wait for a
/// reaper that a container's init never runs).
#[cfg(target_os = "linux")]
fn dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[cfg(target_os = "linux")]
#[test]
fn the_kill_reaches_what_the_child_started() {
    // The shell forks `sleep` (a command follows it), so killing only the shell would
    // leave `sleep` running, holding the pipes.
    let rt = runtime(1, 1);
    let dir = temp_dir("group");
    let pid_file = dir.join("pid");
    let script = format!(
        "sleep 30 & echo $! > '{f}.tmp'; mv '{f}.tmp' '{f}'; printf started; wait; echo never",
        f = pid_file.display()
    );
    let out = run(&rt, sh(&script), Duration::from_millis(300));
    assert!(out.timed_out);
    assert_eq!(out.stdout, b"started");
    let grandchild = read_pid(&pid_file);
    let give_up = Instant::now() + Duration::from_secs(5);
    while !dead(&grandchild) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(dead(&grandchild), "the child's own child {grandchild} survived the kill");
    let _ = std::fs::remove_dir_all(dir);
}
