//! `simulate`: runs the fault simulator over one seed (`--seed S`, replays a failure exactly)
//! or many (`--seeds N`: seeds 0..N), prints the failing seeds and a table of injected faults.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

use gridline_e2e::sim::{run_seed_caught, FaultStats, SimConfig};

/// Deterministic many-device fault simulator for Gridline sync.
#[derive(Debug, Parser)]
#[command(name = "simulate")]
struct Args {
    /// Run exactly this seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run seeds FROM..FROM+N.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed of `--seeds`.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// Devices per run.
    #[arg(long, default_value_t = 6)]
    devices: usize,
    /// Rounds per run.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Device actions per round.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Seeds divisible by this run with real processes (server and device SIGKILLs); 0: never.
    #[arg(long, default_value_t = 10)]
    process_every: u64,
    /// Stop at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let exe_dir: Option<PathBuf> = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from));
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (args.from..args.from + args.seeds).collect(),
    };
    let t0 = Instant::now();
    let mut total = FaultStats::default();
    let mut failed = Vec::new();
    for &seed in &seeds {
        let process = args.process_every > 0 && seed.is_multiple_of(args.process_every);
        let cfg = SimConfig {
            devices: args.devices,
            rounds: args.rounds,
            steps: args.steps,
            exe_dir: if process { exe_dir.clone() } else { None },
        };
        match run_seed_caught(seed, &cfg) {
            Ok(s) => total.add(&s),
            Err(f) => {
                eprintln!("{f}");
                failed.push(seed);
                if args.fail_fast {
                    break;
                }
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{}", total.table());
    println!("{} seeds run, {} failed, {:.1} s ({:.3} s per seed)", seeds.len(), failed.len(), secs, secs / seeds.len().max(1) as f64);
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        println!("failing seeds: {failed:?} (replay one with: simulate --seed S)");
        std::process::ExitCode::FAILURE
    }
}
