//! `kairos-cluster`: run a node, produce jobs, read counts, dead letters and events.
//!
//! ```text
//! kairos-cluster worker  --redis URL --queue Q [--concurrency N] [--lease-ms MS] [--allow-command PROG]...
//! kairos-cluster produce --redis URL --queue Q --count N [--kind K] [--rate R | --period SECS [--gauss --sigma SECS]]
//!                        [--priority LO..HI] [--delay-ms LO..HI] [--payload P] [--batch B]
//! kairos-cluster stats   --redis URL --queue Q [--json] [--watch]
//! kairos-cluster dead    --redis URL --queue Q [--requeue]
//! kairos-cluster events  --redis URL --queue Q [--from ID]
//! kairos-cluster schedule --redis URL --queue Q --name N (--every-ms MS | --cron EXPR [--tz ZONE]) --kind K
//! kairos-cluster unschedule --redis URL --queue Q --name N
//! ```

mod args;
mod produce;
mod show;
mod worker;

use clap::Parser;

fn main() {
    let cli = args::Cli::parse();
    let result = match cli.command {
        args::Command::Worker(a) => worker::run(a),
        args::Command::Produce(a) => produce::run(a),
        args::Command::Stats(a) => show::stats(a),
        args::Command::Dead(a) => show::dead(a),
        args::Command::Events(a) => show::events(a),
        args::Command::Schedule(a) => show::schedule(a),
        args::Command::Unschedule(a) => show::unschedule(a),
    };
    if let Err(e) = result {
        eprintln!("kairos-cluster: {e}");
        std::process::exit(1);
    }
}
