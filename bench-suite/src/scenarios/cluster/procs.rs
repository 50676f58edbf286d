//! The processes of the `cluster` scenario: a `redis-server` of its own, `kairos-cluster`
//! node and producer processes, and what `/proc` and `INFO` say about them.
//!
//! - [`RedisProc`]: `redis-server` from `PATH` on a free loopback port, in a fresh temporary
//!   directory, with or without AOF; it can be SIGKILLed and restarted on the same port
//!   and data. Dropping it kills it and removes the directory.
//! - [`cluster_binary`]: where the `kairos-cluster` binary is (see the function).
//! - [`Worker`]: one `kairos-cluster worker` process; SIGKILL, or SIGTERM and its JSON report.
//! - [`cpu_ticks`]: a process's user + system CPU from `/proc/<pid>/stat`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How a [`RedisProc`] keeps its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aof {
    /// No persistence.
    Off,
    /// AOF, `appendfsync always`.
    Always,
    /// AOF, `appendfsync everysec`.
    EverySec,
}

/// A `redis-server` started by the scenario.
#[derive(Debug)]
pub struct RedisProc {
    /// Its loopback port.
    pub port: u16,
    dir: PathBuf,
    aof: Aof,
    child: Option<Child>,
}

/// Whether `redis-server` can be started from `PATH`.
pub fn redis_available() -> bool {
    Command::new("redis-server").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free loopback port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl RedisProc {
    /// Starts a server and waits until it answers `PING`.
    pub fn start(aof: Aof) -> Result<RedisProc, String> {
        let dir = std::env::temp_dir().join(format!(
            "kairos-bench-redis-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let mut r = RedisProc { port: free_port()?, dir, aof, child: None };
        r.spawn()?;
        Ok(r)
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "no",
        ]);
        cmd.arg("--dir").arg(&self.dir);
        match self.aof {
            Aof::Off => cmd.args(["--appendonly", "no"]),
            Aof::Always => cmd.args(["--appendonly", "yes", "--appendfsync", "always"]),
            Aof::EverySec => cmd.args(["--appendonly", "yes", "--appendfsync", "everysec"]),
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.child = Some(cmd.spawn().map_err(|e| format!("redis-server: {e}"))?);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut c) = self.conn() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > until {
                return Err(format!("redis-server on port {} did not answer PING within 20 s", self.port));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A plain connection.
    pub fn conn(&self) -> Result<redis::Connection, String> {
        let c = redis::Client::open(self.url()).map_err(|e| e.to_string())?;
        c.get_connection_with_timeout(Duration::from_secs(2)).map_err(|e| format!("{}: {e}", self.url()))
    }

    /// SIGKILL, as a crash: no shutdown save.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills it and starts it again on the same port and directory (the AOF, if on, is
    /// replayed before it answers).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    /// A field of `INFO <section>` as a number.
    pub fn info_field(&self, section: &str, field: &str) -> Result<f64, String> {
        let text: String =
            redis::cmd("INFO").arg(section).query(&mut self.conn()?).map_err(|e| format!("INFO: {e}"))?;
        info_value(&text, field).ok_or_else(|| format!("INFO {section} has no numeric field {field}"))
    }

    /// Total microseconds Redis spent in scripts (`EVALSHA` and `EVAL`) and calls of them,
    /// from `INFO commandstats`.
    pub fn script_usec(&self) -> Result<(f64, f64), String> {
        let text: String =
            redis::cmd("INFO").arg("commandstats").query(&mut self.conn()?).map_err(|e| e.to_string())?;
        Ok(script_usec(&text))
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `field:value` in `INFO` text, as a number.
pub fn info_value(text: &str, field: &str) -> Option<f64> {
    text.lines().find_map(|l| l.trim().strip_prefix(field)?.strip_prefix(':')?.parse().ok())
}

/// `(usec, calls)` of `cmdstat_evalsha` + `cmdstat_eval` lines of `INFO commandstats`.
pub fn script_usec(text: &str) -> (f64, f64) {
    let mut usec = 0.0;
    let mut calls = 0.0;
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("cmdstat_evalsha:").or_else(|| l.strip_prefix("cmdstat_eval:"))
        else {
            continue;
        };
        for kv in rest.trim().split(',') {
            match kv.split_once('=') {
                Some(("usec", v)) => usec += v.parse::<f64>().unwrap_or(0.0),
                Some(("calls", v)) => calls += v.parse::<f64>().unwrap_or(0.0),
                _ => {}
            }
        }
    }
    (usec, calls)
}

/// The `kairos-cluster` binary: `$KAIROS_CLUSTER_BIN` if set; otherwise, when run under
/// cargo (`$CARGO` is set, as `cargo run` does), `cargo build --release -p kairos-cluster
/// --bin kairos-cluster` first (a no-op when it is up to date, so the binary always
/// matches the source), then the file of that name next to this executable
/// (`target/release/`).
pub fn cluster_binary() -> Result<PathBuf, String> {
    built_binary("KAIROS_CLUSTER_BIN", "kairos-cluster", &["-p", "kairos-cluster"], true)
}

/// A binary of this workspace: `$<env>` if set; else, if `build` and `$CARGO` is set,
/// `cargo build [--release] <cargo_args> --bin <name>` first; then `<name>` next to this
/// executable.
pub fn built_binary(env: &str, name: &str, cargo_args: &[&str], build: bool) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let dir = exe.parent().ok_or("own executable has no directory")?;
    if let Some(cargo) = std::env::var_os("CARGO").filter(|_| build) {
        let profile = if cfg!(debug_assertions) { None } else { Some("--release") };
        let status = Command::new(cargo)
            .args(["build", "-q"])
            .args(cargo_args)
            .args(["--bin", name])
            .args(profile)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("cargo build {}: {e}", cargo_args.join(" ")))?;
        if !status.success() {
            return Err(format!("cargo build {} --bin {name} failed: {status}", cargo_args.join(" ")));
        }
    }
    let bin = dir.join(name);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found: run `cargo build --release {} --bin {name}` or set {env}",
            bin.display(),
            cargo_args.join(" ")
        ))
    }
}

/// One `kairos-cluster worker` process.
#[derive(Debug)]
pub struct Worker {
    child: Child,
    /// Its node id.
    pub id: String,
}

impl Worker {
    /// Starts a node with 2 runtime workers (`--workers 2`), the default concurrency, and
    /// a lease of `lease_ms`.
    pub fn start(bin: &Path, url: &str, queue: &str, id: &str, lease_ms: u64) -> Result<Worker, String> {
        let child = Command::new(bin)
            .args(["worker", "--redis", url, "--queue", queue, "--workers", "2", "--json", "--node-id", id])
            .args(["--lease-ms", &lease_ms.to_string(), "--grace-secs", "10"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        Ok(Worker { child, id: id.to_string() })
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then its JSON report (`None` if it printed none).
    pub fn stop(self) -> Option<serde_json::Value> {
        // SAFETY: kill(2) on our own child, not yet reaped (we own `self.child`), with a
        // valid signal number.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let out = self.child.wait_with_output().ok()?;
        serde_json::from_slice(&out.stdout).ok()
    }
}

/// User + system CPU of process `pid` so far, from `/proc/<pid>/stat` (fields 14 and 15).
pub fn cpu_ticks(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_micros(ticks * 1_000_000 / hz))
}

/// Microseconds since the Unix epoch, the clock the `stamp` kind compares against.
pub fn wall_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_info_and_commandstats() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n";
        assert_eq!(info_value(info, "used_memory"), Some(1048576.0));
        assert_eq!(info_value(info, "used_memory_peak"), None);
        let cs = "cmdstat_evalsha:calls=10,usec=250,usec_per_call=25.00,rejected_calls=0\r\n\
                  cmdstat_eval:calls=2,usec=50,usec_per_call=25.00\r\ncmdstat_get:calls=9,usec=9\r\n";
        assert_eq!(script_usec(cs), (300.0, 12.0));
    }

    #[test]
    fn reads_own_cpu_from_proc() {
        let t0 = cpu_ticks(std::process::id()).expect("/proc/self/stat on Linux");
        crate::measure::spin_for(Duration::from_millis(60));
        let t1 = cpu_ticks(std::process::id()).unwrap();
        assert!(t1 > t0, "{t0:?} -> {t1:?}");
    }
}
