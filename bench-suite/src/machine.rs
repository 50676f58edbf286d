//! Where the report goes, and what it says about the machine and the versions measured.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::wake_floor::WakeFloor;

/// The machine a report was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// Physical memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Target OS and architecture.
    pub os: String,
    /// How long the OS takes to wake a sleeping thread, measured by the runner before the
    /// scenarios ([`crate::wake_floor`]); `None` in reports made before it was measured.
    #[serde(default)]
    pub wake_floor: Option<WakeFloor>,
}

impl Machine {
    /// Reads the current machine.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "unknown".into()),
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            wake_floor: None,
        }
    }
}

/// Versions of everything measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    /// kairos (the workspace version).
    pub kairos: String,
    /// tokio, from `Cargo.lock`.
    pub tokio: String,
    /// rayon-core, from `Cargo.lock`.
    pub rayon_core: String,
    /// mimalloc, from `Cargo.lock`.
    pub mimalloc: String,
    /// `rustc --version` (at report time), or "unknown".
    pub rustc: String,
    /// Debug or release build of the runner.
    pub profile: String,
}

const CARGO_LOCK: &str = include_str!("../../Cargo.lock");

/// The version of `package` in a `Cargo.lock` text (the first entry with that name).
pub fn locked_version(lock: &str, package: &str) -> Option<String> {
    let needle = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == needle {
            let v = lines.next()?.trim();
            return v.strip_prefix("version = \"").and_then(|v| v.strip_suffix('"')).map(String::from);
        }
    }
    None
}

impl Versions {
    /// The versions of this build.
    pub fn detect() -> Versions {
        let lock = |p: &str| locked_version(CARGO_LOCK, p).unwrap_or_else(|| "unknown".into());
        let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Versions {
            kairos: lock("kairos-rt"),
            tokio: lock("tokio"),
            rayon_core: lock("rayon-core"),
            mimalloc: lock("mimalloc"),
            rustc,
            profile: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
        }
    }
}

/// The workspace's `target/` directory: `$CARGO_TARGET_DIR` if set; else the nearest
/// ancestor of the running executable that holds cargo's `CACHEDIR.TAG`; else `target/`
/// beside the workspace's `Cargo.lock`, found by walking up from this crate's manifest
/// directory; else `./target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() { dir } else { std::env::current_dir().unwrap_or_default().join(dir) };
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.ancestors().skip(1).find(|d| d.join("CACHEDIR.TAG").is_file()) {
            return dir.to_path_buf();
        }
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(ws) = manifest.ancestors().find(|d| d.join("Cargo.lock").is_file()) {
        return ws.join("target");
    }
    PathBuf::from("target")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_report_names_the_kairos_version() {
        let v = Versions::detect();
        assert_ne!(v.kairos, "unknown", "the report would say `kairos unknown`: {v:?}");
    }

    use super::*;

    #[test]
    fn reads_versions_from_a_lock_file() {
        let lock = "[[package]]\nname = \"tokio\"\nversion = \"1.2.3\"\nsource = \"x\"\n\n\
                    [[package]]\nname = \"tokio-macros\"\nversion = \"9.9.9\"\n";
        assert_eq!(locked_version(lock, "tokio").as_deref(), Some("1.2.3"));
        assert_eq!(locked_version(lock, "tokio-macros").as_deref(), Some("9.9.9"));
        assert_eq!(locked_version(lock, "rayon-core"), None);
        assert!(locked_version(CARGO_LOCK, "rayon-core").is_some());
    }

    #[test]
    fn target_dir_is_absolute_or_named_target() {
        let d = target_dir();
        assert!(d.is_absolute() || d.ends_with("target"));
    }
}
