//! The command line, parsed by clap.

use clap::{Args, Parser, Subcommand};
use std::ops::RangeInclusive;

/// Durable priority and delay queues in Redis, run by kairos nodes.
#[derive(Debug, Parser)]
#[command(name = "kairos-cluster", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node with the built-in kinds (noop, sleep, fail, record, stamp, command) until
    /// SIGTERM or Ctrl-C, then drain gracefully and print the node's report.
    Worker(WorkerArgs),
    /// Enqueue jobs at a rate, periodically, or with gaussian inter-arrival times.
    Produce(ProduceArgs),
    /// Counts by state and by priority, live nodes, rates.
    Stats(StatsArgs),
    /// List dead jobs with their last errors, or requeue them.
    Dead(DeadArgs),
    /// Follow the queue's event stream.
    Events(EventsArgs),
    /// Register (or replace) a recurring schedule: its job is enqueued once per tick,
    /// whichever nodes run the queue.
    Schedule(ScheduleArgs),
    /// Remove a recurring schedule.
    Unschedule(UnscheduleArgs),
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(flatten)]
    pub target: Target,
    /// The schedule's name in the queue.
    #[arg(long)]
    pub name: String,
    /// Fire every this many milliseconds.
    #[arg(long, conflicts_with = "cron", required_unless_present = "cron")]
    pub every_ms: Option<u64>,
    /// Fire on a cron expression (5 fields, or 6 with seconds first).
    #[arg(long)]
    pub cron: Option<String>,
    /// IANA time zone of the cron expression (default UTC).
    #[arg(long, requires = "cron")]
    pub tz: Option<String>,
    /// Stop after this many firings.
    #[arg(long)]
    pub times: Option<u64>,
    /// Job kind.
    #[arg(long)]
    pub kind: String,
    /// Job payload text.
    #[arg(long, default_value = "")]
    pub payload: String,
    /// Job priority (0 lowest, 63 highest).
    #[arg(long, default_value_t = 32)]
    pub priority: u8,
}

#[derive(Debug, Args)]
pub struct UnscheduleArgs {
    #[command(flatten)]
    pub target: Target,
    /// The schedule's name.
    #[arg(long)]
    pub name: String,
}

/// Where the queue is.
#[derive(Debug, Args)]
pub struct Target {
    /// Redis URL: redis://[user:pass@]host:port[/db], rediss://..., redis+unix:///path;
    /// several redis:// URLs separated by commas for a Redis Cluster.
    #[arg(long, env = "KAIROS_REDIS", default_value = "redis://127.0.0.1:6379/")]
    pub redis: String,
    /// Queue name (ASCII letters, digits and - _ . :).
    #[arg(long)]
    pub queue: String,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub target: Target,
    /// Jobs claimed and unfinished at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Lease length in milliseconds, 100 to 86400000 (24 h): renewed every third of it
    /// while a job runs; a node that dies holds its jobs this long.
    #[arg(long, default_value_t = 30_000)]
    pub lease_ms: u64,
    /// Worker threads of the node's kairos runtime (default: available cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// How many `command` jobs may run their process at once (default: the worker count);
    /// further ones wait without holding a worker, in priority order.
    #[arg(long)]
    pub max_processes: Option<usize>,
    /// A program the `command` kind may run (repeat for several). None: `command` jobs
    /// are dead-lettered.
    #[arg(long = "allow-command", value_name = "PROG")]
    pub allow_command: Vec<String>,
    /// Seconds running jobs get to finish after SIGTERM before they are left to their
    /// leases.
    #[arg(long, default_value_t = 30)]
    pub grace_secs: u64,
    /// The node's id (default: host-pid-random).
    #[arg(long)]
    pub node_id: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub target: Target,
    /// How many jobs.
    #[arg(long)]
    pub count: u64,
    /// Job kind.
    #[arg(long, default_value = "noop")]
    pub kind: String,
    /// Jobs per second, evenly spaced (default: as fast as Redis takes them).
    #[arg(long, conflicts_with = "period")]
    pub rate: Option<f64>,
    /// Seconds between jobs (the reference producer's periodic mode).
    #[arg(long)]
    pub period: Option<f64>,
    /// Gaussian inter-arrival times around --period, with --sigma.
    #[arg(long, requires = "period")]
    pub gauss: bool,
    /// Standard deviation of the gaussian inter-arrival time, in seconds.
    #[arg(long, requires = "gauss")]
    pub sigma: Option<f64>,
    /// Priority, or a range LO..HI drawn uniformly (0 lowest, 63 highest).
    #[arg(long, default_value = "32", value_parser = parse_range::<u8>)]
    pub priority: RangeInclusive<u8>,
    /// Delay in ms, or a range LO..HI drawn uniformly.
    #[arg(long, default_value = "0", value_parser = parse_range::<u64>)]
    pub delay_ms: RangeInclusive<u64>,
    /// Payload text.
    #[arg(long, default_value = "")]
    pub payload: String,
    /// Jobs per round trip (enqueued as one batch).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Print the summary as JSON (and no progress bar).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub target: Target,
    /// One JSON object: ready, delayed, running, completed, dead, cancelled, expired,
    /// nodes, ... (integers).
    #[arg(long)]
    pub json: bool,
    /// Refresh every second, with rates.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct DeadArgs {
    #[command(flatten)]
    pub target: Target,
    /// Move every dead job back to ready.
    #[arg(long)]
    pub requeue: bool,
    /// How many to list.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub target: Target,
    /// Start after this stream id ("0": the oldest kept; default: only new events).
    #[arg(long, default_value = "$")]
    pub from: String,
    /// Stop after this many events (default: follow until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
}

/// Parses `N` or `LO..HI` (inclusive).
pub fn parse_range<T>(s: &str) -> Result<RangeInclusive<T>, String>
where
    T: std::str::FromStr + PartialOrd + Copy,
{
    let parse = |p: &str| p.trim().parse::<T>().map_err(|_| format!("{p:?} is not a number"));
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (parse(a)?, parse(b.trim_start_matches('='))?),
        None => {
            let v = parse(s)?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(format!("{s:?}: the low end is above the high end"));
    }
    Ok(lo..=hi)
}
