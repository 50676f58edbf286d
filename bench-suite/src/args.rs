//! Command-line parsing (hand-written: no dependency to compile).
//!
//! ```text
//! kairos-bench [--quick | --full] [--scenario NAME[,NAME...]]... [--peers P[,P...]]
//!              [--workers N] [--alloc mimalloc|system] [--rounds N] [--out DIR]
//!              [--no-plots] [--list] [--help]
//! kairos-bench __run --peer P --scenario NAME --case CASE --workers N --mode quick|full
//!              [--round R]          (internal: one run in a child process)
//! ```

use std::path::PathBuf;

use crate::alloc::AllocKind;
use crate::peers::PeerKind;
use crate::scenarios::{Mode, Scenario};

/// The hidden subcommand that runs one case in a child process.
pub const CHILD_SUBCOMMAND: &str = "__run";

/// Options of the runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Full or quick sizes.
    pub mode: Mode,
    /// Scenarios to run, in order.
    pub scenarios: Vec<Scenario>,
    /// Peers to run, in order.
    pub peers: Vec<PeerKind>,
    /// Worker threads per runtime.
    pub workers: usize,
    /// Allocator for every child process.
    pub alloc: AllocKind,
    /// Rounds per (peer, case); medians are quoted.
    pub rounds: u32,
    /// Report directory (default: `<target>/kairos-report`).
    pub out: Option<PathBuf>,
    /// Whether to draw SVG plots.
    pub plots: bool,
}

impl Options {
    /// Defaults for `mode`: every scenario, every peer, workers = available parallelism,
    /// mimalloc, 5 rounds (full) or 3 (quick).
    pub fn defaults(mode: Mode) -> Options {
        Options {
            mode,
            scenarios: Scenario::ALL.to_vec(),
            peers: PeerKind::ALL.to_vec(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            alloc: AllocKind::Mimalloc,
            rounds: default_rounds(mode),
            out: None,
            plots: true,
        }
    }
}

fn default_rounds(mode: Mode) -> u32 {
    mode.pick(5, 3)
}

/// Arguments of one child run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildArgs {
    /// Peer.
    pub peer: PeerKind,
    /// Scenario.
    pub scenario: Scenario,
    /// Case of the scenario.
    pub case: String,
    /// Worker threads.
    pub workers: usize,
    /// Full or quick sizes.
    pub mode: Mode,
    /// Round number, 0-based (reported back only).
    pub round: u32,
}

impl ChildArgs {
    /// The argument vector that [`parse`] turns back into `self`.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            CHILD_SUBCOMMAND.into(),
            "--peer".into(),
            self.peer.name().into(),
            "--scenario".into(),
            self.scenario.name().into(),
            "--case".into(),
            self.case.clone(),
            "--workers".into(),
            self.workers.to_string(),
            "--mode".into(),
            self.mode.name().into(),
            "--round".into(),
            self.round.to_string(),
        ]
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the suite.
    Run(Options),
    /// Run one case (child process).
    Child(ChildArgs),
    /// List scenarios and peers.
    List,
    /// Print usage.
    Help,
}

/// Usage text.
pub const USAGE: &str = "\
kairos-bench: kairos side by side with tokio, rayon-core and a binary-heap pool

USAGE:
    cargo run --release -p kairos-bench -- [OPTIONS]

OPTIONS:
    --quick               reduced sizes, 3 rounds: the whole suite in under 3 minutes
    --full                the published sizes (default), 5 rounds
    --scenario NAME       run only this scenario (repeat or comma-separate); see --list
    --peers LIST          peers to run, e.g. kairos,tokio (default: all)
    --workers N           worker threads per runtime (default: available parallelism)
    --alloc NAME          mimalloc (default) or system, for every peer
    --rounds N            rounds per peer and case; medians are quoted
    --out DIR             report directory (default: <target>/kairos-report)
    --no-plots            skip the SVG plots
    --list                list scenarios and peers
    -h, --help            this text

Writes report.md, report.json and SVG plots to the report directory.";

fn value<I: Iterator<Item = String>>(
    flag: &str,
    inline: Option<String>,
    it: &mut I,
) -> Result<String, String> {
    inline.or_else(|| it.next()).ok_or_else(|| format!("{flag} needs a value"))
}

fn list<T>(s: &str, what: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| parse(p).ok_or_else(|| format!("unknown {what} `{p}`")))
        .collect()
}

fn positive(flag: &str, s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("{flag} needs a positive integer, got `{s}`")),
    }
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, String> {
    let mut it = args.into_iter().peekable();
    if it.peek().map(String::as_str) == Some(CHILD_SUBCOMMAND) {
        it.next();
        return parse_child(it).map(Command::Child);
    }
    let mut mode = None;
    let mut scenarios: Vec<Scenario> = Vec::new();
    let mut peers: Option<Vec<PeerKind>> = None;
    let mut workers = None;
    let mut alloc = None;
    let mut rounds = None;
    let mut out = None;
    let mut plots = true;
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--list" => return Ok(Command::List),
            "--quick" => mode = Some(Mode::Quick),
            "--full" => mode = Some(Mode::Full),
            "--no-plots" => plots = false,
            "--scenario" | "--scenarios" => {
                let v = value(&flag, inline, &mut it)?;
                let named = list(&v, "scenario", Scenario::parse)?;
                if named.is_empty() {
                    return Err("--scenario needs at least one scenario (see --list)".into());
                }
                for s in named {
                    if !scenarios.contains(&s) {
                        scenarios.push(s);
                    }
                }
            }
            "--peers" | "--peer" => {
                let v = value(&flag, inline, &mut it)?;
                let mut ps: Vec<PeerKind> = Vec::new();
                for p in list(&v, "peer", PeerKind::parse)? {
                    if !ps.contains(&p) {
                        ps.push(p);
                    }
                }
                if ps.is_empty() {
                    return Err("--peers needs at least one peer".into());
                }
                peers = Some(ps);
            }
            "--workers" => workers = Some(positive(&flag, &value(&flag, inline, &mut it)?)? as usize),
            "--rounds" => rounds = Some(positive(&flag, &value(&flag, inline, &mut it)?)? as u32),
            "--alloc" => {
                let v = value(&flag, inline, &mut it)?;
                alloc = Some(
                    AllocKind::parse(&v)
                        .ok_or_else(|| format!("--alloc: expected mimalloc or system, got `{v}`"))?,
                );
            }
            "--out" => out = Some(PathBuf::from(value(&flag, inline, &mut it)?)),
            other => return Err(format!("unknown argument `{other}` (see --help)")),
        }
    }
    let mode = mode.unwrap_or(Mode::Full);
    let mut o = Options::defaults(mode);
    if !scenarios.is_empty() {
        o.scenarios = scenarios;
    }
    if let Some(p) = peers {
        o.peers = p;
    }
    if let Some(w) = workers {
        o.workers = w;
    }
    if let Some(a) = alloc {
        o.alloc = a;
    }
    if let Some(r) = rounds {
        o.rounds = r;
    }
    o.out = out;
    o.plots = plots;
    Ok(Command::Run(o))
}

fn parse_child<I: Iterator<Item = String>>(mut it: I) -> Result<ChildArgs, String> {
    let (mut peer, mut scenario, mut case, mut workers, mut mode, mut round) =
        (None, None, None, None, None, 0);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--peer" => peer = Some(PeerKind::parse(&v).ok_or(format!("unknown peer `{v}`"))?),
            "--scenario" => scenario = Some(Scenario::parse(&v).ok_or(format!("unknown scenario `{v}`"))?),
            "--case" => case = Some(v),
            "--workers" => workers = Some(positive(&flag, &v)? as usize),
            "--mode" => {
                mode = Some(match v.as_str() {
                    "quick" => Mode::Quick,
                    "full" => Mode::Full,
                    _ => return Err(format!("unknown mode `{v}`")),
                })
            }
            "--round" => round = v.parse().map_err(|_| format!("bad round `{v}`"))?,
            other => return Err(format!("unknown child argument `{other}`")),
        }
    }
    let scenario = scenario.ok_or("--scenario is required")?;
    let mode = mode.unwrap_or(Mode::Full);
    Ok(ChildArgs {
        peer: peer.ok_or("--peer is required")?,
        scenario,
        case: case.unwrap_or_else(|| scenario.cases(mode)[0].clone()),
        workers: workers.unwrap_or(2),
        mode,
        round,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn run(s: &str) -> Options {
        match parse(args(s)).unwrap() {
            Command::Run(o) => o,
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_scenario_list_is_an_error_not_the_whole_suite() {
        for a in ["--scenario=", "--scenario ,", "--quick --scenario=,"] {
            match parse(args(a)) {
                Err(e) => assert!(e.contains("--scenario"), "{e}"),
                Ok(other) => panic!("`{a}` accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn defaults_run_everything_in_full_mode() {
        let o = run("");
        assert_eq!(o.mode, Mode::Full);
        assert_eq!(o.scenarios, Scenario::ALL.to_vec());
        assert_eq!(o.peers, PeerKind::ALL.to_vec());
        assert_eq!(o.alloc, AllocKind::Mimalloc);
        assert_eq!(o.rounds, 5);
        assert!(o.plots);
    }

    #[test]
    fn quick_smoke_command() {
        let o = run("--quick --scenario spawn");
        assert_eq!(o.mode, Mode::Quick);
        assert_eq!(o.scenarios, vec![Scenario::Spawn]);
        assert_eq!(o.rounds, 3);
    }

    #[test]
    fn lists_flags_and_inline_values() {
        let o = run("--scenario=spawn,timers --scenario latency --peers kairos,tokio,rayon \
             --workers 4 --alloc=system --rounds 3 --out /tmp/x --no-plots");
        assert_eq!(o.scenarios, vec![Scenario::Spawn, Scenario::Timers, Scenario::Latency]);
        assert_eq!(o.peers, vec![PeerKind::Kairos, PeerKind::Tokio, PeerKind::Rayon]);
        assert_eq!(o.workers, 4);
        assert_eq!(o.alloc, AllocKind::System);
        assert_eq!(o.rounds, 3);
        assert_eq!(o.out, Some(PathBuf::from("/tmp/x")));
        assert!(!o.plots);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(parse(args("--scenario nope")).is_err());
        assert!(parse(args("--peers glommio")).is_err());
        assert!(parse(args("--workers 0")).is_err());
        assert!(parse(args("--workers")).is_err());
        assert!(parse(args("--alloc jemalloc")).is_err());
        assert!(parse(args("--frobnicate")).is_err());
        assert_eq!(parse(args("--help")).unwrap(), Command::Help);
        assert_eq!(parse(args("--list")).unwrap(), Command::List);
    }

    #[test]
    fn child_args_round_trip() {
        let c = ChildArgs {
            peer: PeerKind::HeapPool,
            scenario: Scenario::Latency,
            case: "50k/s".into(),
            workers: 2,
            mode: Mode::Quick,
            round: 1,
        };
        assert_eq!(parse(c.to_args()).unwrap(), Command::Child(c));
        assert!(parse(args("__run --peer tokio")).is_err());
    }
}
