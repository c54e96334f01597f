//! The simulator's fixed seed set: most seeds in-process, some with real process kills
//! (server SIGKILLs and mid-push aborts, device SIGKILLs mid-write and mid-sync).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use gridline_e2e::sim::{run_seed_caught, FaultStats, Failure, SimConfig};

/// Where `sim-server` and `sim-device` were built (Cargo builds them for this test).
pub fn helper_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sim-server")).parent().expect("bin dir").to_path_buf()
}

/// Runs `seeds` on two threads; returns the summed stats, or every failure.
fn run_all(seeds: Vec<u64>, cfg: &SimConfig) -> Result<FaultStats, Vec<Failure>> {
    let next = AtomicU64::new(0);
    let total = Mutex::new(FaultStats::default());
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                let Some(&seed) = seeds.get(i) else { break };
                match run_seed_caught(seed, cfg) {
                    Ok(st) => total.lock().expect("lock").add(&st),
                    Err(f) => failed.lock().expect("lock").push(f),
                }
            });
        }
    });
    let failed = failed.into_inner().expect("lock");
    if failed.is_empty() {
        Ok(total.into_inner().expect("lock"))
    } else {
        Err(failed)
    }
}

fn report(what: &str, r: Result<FaultStats, Vec<Failure>>) -> FaultStats {
    match r {
        Ok(st) => {
            println!("{what}:\n{}", st.table());
            st
        }
        Err(f) => {
            let text: Vec<String> = f.iter().map(|f| f.to_string()).collect();
            panic!("{what}: {} seeds failed:\n{}", f.len(), text.join("\n"));
        }
    }
}

#[test]
fn fixed_seeds_in_process_keep_every_invariant() {
    let st = report("in-process seeds 0..100", run_all((0..100).collect(), &SimConfig::default()));
    assert_eq!(st.seeds, 100);
    // The faults were really injected (a run without them would prove nothing).
    for (name, n) in [
        ("requests dropped", st.requests_dropped),
        ("responses dropped", st.responses_dropped),
        ("duplicated", st.duplicated),
        ("reordered", st.reordered),
        ("server restarts", st.server_restarts),
        ("device restarts", st.device_restarts),
        ("scope changes", st.scope_changes),
        ("rejected ops", st.ops_rejected),
    ] {
        assert!(n > 0, "no {name} in the whole seed set");
    }
}

#[test]
fn fixed_seeds_with_process_kills_keep_every_invariant() {
    let cfg = SimConfig { exe_dir: Some(helper_dir()), ..SimConfig::default() };
    let st = report("process seeds 1000..1008", run_all((1000..1008).collect(), &cfg));
    assert!(st.server_kills > 0 && st.server_aborts_mid_push > 0, "server kills: {st:?}");
    assert!(st.device_crashes > 0, "device crashes: {st:?}");
}
