//! A real `redis-server` for tests: started on a free loopback port in a temporary
//! directory, so a test can kill it, restart it on the same port and data, and turn AOF
//! persistence on.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the server keeps data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    /// Nothing on disk.
    None,
    /// AOF with `appendfsync always`.
    AofAlways,
    /// AOF with `appendfsync everysec`.
    AofEverySec,
}

pub struct RedisServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    persistence: Persistence,
    extra: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().unwrap().port()
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(Persistence::None, &[])
    }

    pub fn start_with(persistence: Persistence, extra: &[&str]) -> RedisServer {
        let mut s = RedisServer {
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory"),
            persistence,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        s.spawn();
        s
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn_once(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port").arg(self.port.to_string());
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--daemonize", "no"]);
        cmd.arg("--dir").arg(self.dir.path());
        match self.persistence {
            Persistence::None => cmd.args(["--appendonly", "no"]),
            Persistence::AofAlways => cmd.args(["--appendonly", "yes", "--appendfsync", "always"]),
            Persistence::AofEverySec => cmd.args(["--appendonly", "yes", "--appendfsync", "everysec"]),
        };
        cmd.args(&self.extra);
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not on PATH: the cluster tests start their own Redis. Install it \
                 (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`)"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        self.wait_ready();
    }

    /// Starts the server, on a new free port if another process took this one between
    /// `free_port` and the server's bind (then the server that answers is not ours: two
    /// tests would share one Redis).
    fn spawn(&mut self) {
        for _ in 0..20 {
            self.spawn_once();
            let ours = match self.answering_pid() {
                Some(pid) => pid == self.pid(),
                // A server with a password answers INFO with NOAUTH: ours if it still runs
                // (a server that lost the port race exits at once).
                None => {
                    std::thread::sleep(Duration::from_millis(200));
                    matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
                }
            };
            if ours {
                return;
            }
            self.kill();
            self.port = free_port();
        }
        panic!("could not start a redis-server of our own on a free port in 20 tries");
    }

    /// The pid of the server answering on our port.
    fn answering_pid(&self) -> Option<u32> {
        let mut c = redis::Client::open(self.url()).ok()?.get_connection().ok()?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut c).ok()?;
        info.lines().find_map(|l| l.strip_prefix("process_id:")).and_then(|p| p.trim().parse().ok())
    }

    fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(c) = redis::Client::open(self.url()) {
                if let Ok(mut conn) = c.get_connection_with_timeout(Duration::from_millis(200)) {
                    // With AOF, the server answers LOADING until the file is read; with
                    // a password, NOAUTH (it is up).
                    match redis::cmd("PING").query::<String>(&mut conn) {
                        Ok(_) => return,
                        Err(e) if e.code() == Some("NOAUTH") => return,
                        Err(_) => {}
                    }
                }
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return; // exited at start (the port was taken): `spawn` tries another
            }
            assert!(Instant::now() < until, "redis-server did not answer PING within 20 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no shutdown save, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory (AOF, if on, is replayed).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn_once();
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A plain connection for checks.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A fresh Redis, queue `jobs` on it, and a runtime of `workers` workers.
pub fn setup(workers: usize) -> (RedisServer, kairos_cluster::Queue, kairos_rt::Runtime) {
    let redis = RedisServer::start();
    let q = kairos_cluster::Client::connect(&redis.url()).unwrap().queue("jobs").unwrap();
    let rt = kairos_rt::Runtime::builder().workers(workers).build().unwrap();
    (redis, q, rt)
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after 60 s (a hang guard,
/// not a timing assertion: every caller's condition is expected within milliseconds).
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < until, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A Redis Cluster of `n` masters (no replicas) on free loopback ports, made with
/// `redis-cli --cluster create`.
pub struct RedisCluster {
    pub servers: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start(n: usize) -> RedisCluster {
        RedisCluster::start_with(n, Persistence::None, &[])
    }

    /// A cluster whose masters keep their data as `persistence` says; `extra` arguments
    /// go to every `redis-server`.
    pub fn start_with(n: usize, persistence: Persistence, extra: &[&str]) -> RedisCluster {
        let servers: Vec<RedisServer> = (0..n)
            .map(|_| {
                let dir = tempfile::tempdir().expect("temporary directory");
                let conf = dir.path().join("nodes.conf");
                let conf = conf.to_str().expect("a UTF-8 path").to_string();
                let mut s = RedisServer {
                    port: free_port(),
                    dir,
                    persistence,
                    extra: ["--cluster-enabled", "yes", "--cluster-config-file", &conf]
                        .iter()
                        .chain(extra)
                        .map(|s| s.to_string())
                        .collect(),
                    child: None,
                };
                s.spawn();
                s
            })
            .collect();
        let mut cmd = Command::new("redis-cli");
        cmd.arg("--cluster").arg("create");
        for s in &servers {
            cmd.arg(format!("127.0.0.1:{}", s.port));
        }
        cmd.args(["--cluster-replicas", "0", "--cluster-yes"]).stdout(Stdio::null()).stderr(Stdio::null());
        let status = cmd.status().expect("redis-cli is installed with redis-server");
        assert!(status.success(), "redis-cli --cluster create failed: {status}");
        let c = RedisCluster { servers };
        // Wait until every node agrees the cluster is up.
        c.wait_ok();
        c
    }

    /// Waits until every running master says `cluster_state:ok`.
    pub fn wait_ok(&self) {
        for s in self.servers.iter().filter(|s| s.child.is_some()) {
            eventually("cluster_state:ok", || {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut s.conn()).unwrap_or_default();
                info.contains("cluster_state:ok")
            });
        }
    }

    /// The index in `servers` of the master that serves `key`'s slot.
    pub fn owner_of(&self, key: &str) -> usize {
        let s = self.servers.iter().find(|s| s.child.is_some()).expect("a running master");
        let slot: i64 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut s.conn()).unwrap();
        let ranges: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut s.conn()).unwrap();
        for range in ranges {
            let redis::Value::Array(r) = range else { continue };
            let (Some(redis::Value::Int(lo)), Some(redis::Value::Int(hi)), Some(redis::Value::Array(m))) =
                (r.first(), r.get(1), r.get(2))
            else {
                continue;
            };
            if (*lo..=*hi).contains(&slot) {
                if let Some(redis::Value::Int(port)) = m.get(1) {
                    return self
                        .servers
                        .iter()
                        .position(|s| i64::from(s.port) == *port)
                        .expect("a known port");
                }
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// The seed URLs, comma-separated, as `Client::connect` takes them.
    pub fn url(&self) -> String {
        self.servers.iter().map(|s| s.url()).collect::<Vec<_>>().join(",")
    }
}
