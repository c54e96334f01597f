//! `simulate`: runs the fault simulator over one seed (`--seed S`, replays a failure exactly)
//! or many (`--seeds N`: seeds 0..N), prints the failing seeds and a table of injected faults.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
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
    /// Seeds run at once (each seed is deterministic on its own).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Start no new seed after this many seconds (0: no limit); the summary covers the seeds run.
    #[arg(long, default_value_t = 0)]
    time_limit: u64,
    /// Print a progress line every N seeds (0: never).
    #[arg(long, default_value_t = 0)]
    progress: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let exe_dir: Option<PathBuf> = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from));
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (args.from..args.from + args.seeds).collect(),
    };
    let t0 = Instant::now();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let total = Mutex::new(FaultStats::default());
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..args.jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&seed) = seeds.get(i) else { break };
                if args.time_limit > 0 && t0.elapsed().as_secs() >= args.time_limit {
                    break;
                }
                done.fetch_add(1, Ordering::SeqCst);
                let process = args.process_every > 0 && seed.is_multiple_of(args.process_every);
                let cfg = SimConfig {
                    devices: args.devices,
                    rounds: args.rounds,
                    steps: args.steps,
                    exe_dir: if process { exe_dir.clone() } else { None },
                };
                match run_seed_caught(seed, &cfg) {
                    Ok(st) => total.lock().unwrap_or_else(|p| p.into_inner()).add(&st),
                    Err(f) => {
                        eprintln!("{f}");
                        failed.lock().unwrap_or_else(|p| p.into_inner()).push(seed);
                    }
                }
                if args.progress > 0 && (i as u64 + 1).is_multiple_of(args.progress) {
                    let n = failed.lock().unwrap_or_else(|p| p.into_inner()).len();
                    eprintln!("progress: {} seeds, {n} failed, {:.0} s", i + 1, t0.elapsed().as_secs_f64());
                }
            });
        }
    });
    let total = total.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort_unstable();
    let secs = t0.elapsed().as_secs_f64();
    println!("{}", total.table());
    let run = done.into_inner();
    if run < seeds.len() {
        println!("time limit: {run} of {} seeds run", seeds.len());
    }
    println!("{run} seeds run, {} failed, {:.1} s ({:.3} s per seed, {} at a time)", failed.len(), secs, secs / run.max(1) as f64, args.jobs.max(1));
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        println!("failing seeds: {failed:?} (replay one with: simulate --seed S --process-every {})", args.process_every);
        std::process::ExitCode::FAILURE
    }
}
