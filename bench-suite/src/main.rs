//! `kairos-bench`: the scenario runner. See the crate docs of `kairos_bench` and
//! `cargo run --release -p kairos-bench -- --help`.

use kairos_bench::args::{self, Command, USAGE};
use kairos_bench::peers::PeerKind;
use kairos_bench::scenarios::{Mode, Scenario};

/// mimalloc, or the system allocator when `KAIROS_BENCH_ALLOC=system` (the runner sets it
/// for every child from `--alloc`); see `kairos_bench::alloc`.
#[global_allocator]
static GLOBAL: kairos_bench::alloc::BenchAlloc = kairos_bench::alloc::BenchAlloc;

fn main() {
    match args::parse(std::env::args().skip(1)) {
        Ok(Command::Child(c)) => kairos_bench::child::main(&c),
        Ok(Command::Help) => println!("{USAGE}"),
        Ok(Command::List) => {
            println!("scenarios (--scenario NAME):");
            for s in Scenario::ALL {
                println!(
                    "  {:<16} {}  [cases: {} | quick: {}]",
                    s.name(),
                    s.about(),
                    s.cases(Mode::Full).join(", "),
                    s.cases(Mode::Quick).join(", ")
                );
            }
            println!("peers (--peers a,b):");
            for p in PeerKind::ALL {
                println!("  {}", p.name());
            }
        }
        Ok(Command::Run(opts)) => {
            if let Err(e) = kairos_bench::runner::run(&opts) {
                eprintln!("kairos-bench: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("kairos-bench: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    }
}
