//! `spawn_process`: output and status, the kill at the timeout, errors, the concurrency
//! cap, and no leaked child when the task is dropped.
#![cfg(unix)]

use kairos_rt::{Priority, ProcessEnd, ProcessOutput, ProcessTask, Runtime};
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

/// A shell snippet that writes `what` (such as `$$` or `$!`) to `file` atomically, for
/// [`read_pid`].
fn save(what: &str, file: &Path) -> String {
    format!("echo {what} > \"{f}.tmp\"; mv \"{f}.tmp\" \"{f}\"", f = file.display())
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
    assert_eq!(out.end, ProcessEnd::Exited);
    assert!(!out.truncated());

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
    assert_eq!(out.end, ProcessEnd::KilledAtTimeout);
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
    let script = format!("{}; exec sleep 30", save("$$", &pid_file));
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
    let script = format!("{}; exec sleep 30", save("$$", &pid_file));
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
    let script = format!("sleep 30 & {}; printf started; wait; echo never", save("$!", &pid_file));
    let out = run(&rt, sh(&script), Duration::from_millis(300));
    assert!(out.timed_out);
    assert_eq!(out.end, ProcessEnd::KilledAtTimeout);
    assert_eq!(out.stdout, b"started");
    let grandchild = read_pid(&pid_file);
    assert!(wait_dead(&grandchild), "the child's own child {grandchild} survived the kill");
    let _ = std::fs::remove_dir_all(dir);
}

/// Waits (bounded, a hang guard only) until `pid` is gone or a zombie.
#[cfg(target_os = "linux")]
fn wait_dead(pid: &str) -> bool {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !dead(pid) && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(5));
    }
    dead(pid)
}

/// A script whose shell starts `job` in the background, writes the job's pid to
/// `pid_file`, prints `parent-exits` and exits at once, leaving the job behind.
#[cfg(target_os = "linux")]
fn leaves_behind(job: &str, pid_file: &Path) -> Command {
    sh(&format!("{job} & {}; echo parent-exits", save("$!", pid_file)))
}

#[cfg(target_os = "linux")]
#[test]
fn a_job_left_behind_holding_the_pipes_is_killed_at_the_timeout() {
    // The case: the shell exits at once, its background job keeps the pipes open
    // and sleeps 30 s. At the timeout the job must die with its group. (The timeout only
    // has to leave the shell time to exit first, even on a loaded machine.)
    let rt = runtime(1, 1);
    let dir = temp_dir("left-behind");
    let pid_file = dir.join("pid");
    let h =
        rt.spawn_process(Priority::NORMAL, leaves_behind("(sleep 30)", &pid_file), Duration::from_secs(1));
    let out = h.join().unwrap().unwrap();
    let job = read_pid(&pid_file);
    assert!(out.timed_out);
    assert_eq!(out.end, ProcessEnd::OutputHeldAtTimeout, "{out:?}");
    assert_eq!(out.code(), Some(0), "the shell exited on its own: {out:?}");
    assert_eq!(out.stdout, b"parent-exits\n");
    assert!(wait_dead(&job), "the job {job} the shell left behind survived the timeout");
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(target_os = "linux")]
#[test]
fn a_job_left_behind_is_killed_when_the_run_ends() {
    // The job does not hold the pipes: the run ends when the shell exits, and what the
    // shell left in its group is killed then.
    let rt = runtime(1, 1);
    let dir = temp_dir("swept");
    let pid_file = dir.join("pid");
    let out = run(&rt, leaves_behind("sleep 30 >/dev/null 2>&1", &pid_file), LONG);
    let job = read_pid(&pid_file);
    assert!(!out.timed_out);
    assert_eq!(out.end, ProcessEnd::Exited);
    assert!(out.success(), "{out:?}");
    assert!(wait_dead(&job), "the job {job} outlived the run");
    let _ = std::fs::remove_dir_all(dir);
}

/// Starts a shell that leaves `(sleep 30)` behind holding its pipes and exits; returns
/// the handle and the pids of the shell and the job once the shell is gone.
#[cfg(target_os = "linux")]
fn start_and_let_the_leader_exit(
    rt: &Runtime,
    dir: &Path,
) -> (kairos_rt::JoinHandle<Result<ProcessOutput, kairos_rt::ProcessError>>, String) {
    let pid_file = dir.join("pid");
    let leader_file = dir.join("leader");
    let script =
        format!("{}; (sleep 30) & {}; echo parent-exits", save("$$", &leader_file), save("$!", &pid_file));
    let h = rt.spawn_process(Priority::NORMAL, sh(&script), Duration::from_secs(60));
    let job = read_pid(&pid_file);
    let leader = read_pid(&leader_file);
    assert!(wait_dead(&leader), "the shell {leader} did not exit");
    assert!(!dead(&job));
    (h, job)
}

#[cfg(target_os = "linux")]
#[test]
fn shutdown_kills_the_group_after_the_leader_exited() {
    let rt = runtime(2, 2);
    let dir = temp_dir("shutdown-group");
    let (h, job) = start_and_let_the_leader_exit(&rt, &dir);
    let report = rt.shutdown();
    assert!(h.join().unwrap_err().is_shutdown());
    assert!(report.is_balanced(), "{report:?}");
    assert!(wait_dead(&job), "the job {job} outlived the runtime");
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(target_os = "linux")]
#[test]
fn cancel_kills_the_group_after_the_leader_exited() {
    let rt = runtime(1, 1);
    let dir = temp_dir("cancel-group");
    let (h, job) = start_and_let_the_leader_exit(&rt, &dir);
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    assert!(wait_dead(&job), "the job {job} outlived its cancelled task");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn output_past_the_default_cap_is_dropped_and_counted() {
    let rt = runtime(1, 1);
    let out = run(&rt, sh("head -c 3000000 /dev/zero; printf tail >&2"), LONG);
    assert!(out.success(), "the pipe was drained past the cap: {:?}", out.status);
    assert_eq!(out.stdout.len(), 1 << 20, "1 MiB kept per stream by default");
    assert_eq!(out.stdout_dropped, 3_000_000 - (1 << 20));
    assert_eq!(out.stderr, b"tail");
    assert_eq!(out.stderr_dropped, 0);
    assert!(out.truncated());
}

#[test]
fn the_output_cap_is_set_per_process() {
    let rt = runtime(1, 2);
    let script = "printf 0123456789; printf abcdef >&2";
    let spawn = |cap| rt.spawn_process_with(ProcessTask::new(sh(script), LONG).max_output(cap));
    let (small, none, all) = (spawn(4), spawn(0), spawn(usize::MAX));
    let small = small.join().unwrap().unwrap();
    assert_eq!((&small.stdout[..], small.stdout_dropped), (&b"0123"[..], 6));
    assert_eq!((&small.stderr[..], small.stderr_dropped), (&b"abcd"[..], 2));
    let none = none.join().unwrap().unwrap();
    assert_eq!((none.stdout.len(), none.stdout_dropped, none.stderr_dropped), (0, 10, 6));
    let all = all.join().unwrap().unwrap();
    assert_eq!((&all.stdout[..], all.stdout_dropped), (&b"0123456789"[..], 0));
    assert!(!all.truncated());
    let big =
        rt.spawn_process_with(ProcessTask::new(sh("head -c 3000000 /dev/zero"), LONG).max_output(usize::MAX));
    assert_eq!(big.join().unwrap().unwrap().stdout.len(), 3_000_000, "no cap: everything is kept");
}

#[cfg(target_os = "linux")]
#[test]
fn pipes_held_outside_the_group_are_closed_and_the_run_resolves() {
    // A job that left the group (setsid) is out of reach: at the timeout the runtime
    // closes its ends of the pipes and resolves with what it read.
    let rt = runtime(1, 1);
    let dir = temp_dir("setsid");
    let pid_file = dir.join("pid");
    let script = format!("setsid sh -c '{}; exec sleep 30' & echo parent-exits", save("$$", &pid_file));
    let out = run(&rt, sh(&script), Duration::from_secs(1));
    let outsider = read_pid(&pid_file);
    assert_eq!(out.end, ProcessEnd::OutputHeldAtTimeout);
    assert_eq!(out.stdout, b"parent-exits\n");
    assert!(!dead(&outsider), "a process outside the group is not killed (documented)");
    let _ = Command::new("kill").args(["-9", &outsider]).status();
    let _ = std::fs::remove_dir_all(dir);
}

/// The `Threads:` line of `/proc/self/status`.
#[cfg(target_os = "linux")]
fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line["Threads:".len()..].trim().parse().unwrap()
}

/// Run alone in a child test process by `running_processes_cost_at_most_one_thread`
/// (other tests' threads would skew the count): prints the thread count with a runtime
/// and no process, then with `KAIROS_PROCESS_PROBE` processes running.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "a probe run by running_processes_cost_at_most_one_thread"]
fn thread_count_probe() {
    let n: usize = std::env::var("KAIROS_PROCESS_PROBE").map_or(20, |s| s.parse().unwrap());
    let rt = runtime(1, n);
    let dir = temp_dir("probe");
    let before = thread_count();
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let script = format!("touch '{}/{i}'; exec sleep 30", dir.display());
            rt.spawn_process(Priority::NORMAL, sh(&script), Duration::from_secs(60))
        })
        .collect();
    let give_up = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&dir).unwrap().count() < n {
        assert!(Instant::now() < give_up, "the processes did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let during = thread_count();
    println!("threads: {before} with the runtime alone, {during} with {n} processes running");
    drop(handles);
    let _ = rt.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(target_os = "linux")]
#[test]
fn running_processes_cost_at_most_one_thread() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["thread_count_probe", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("KAIROS_PROCESS_PROBE", "20")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the probe failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    let line = text.lines().find_map(|l| l.split_once("threads: ")).expect("the probe's count").1;
    let counts: Vec<usize> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    let (before, during) = (counts[0], counts[1]);
    assert!(during <= before + 1, "20 running processes cost {} threads: {line}", during - before);
}
