//! A deterministic many-device fault simulator (docs/simulator.md).
//!
//! One seeded generator drives everything: which device does what (random domain operations
//! through the core API), when it syncs and through which network faults (requests and
//! responses dropped, requests duplicated, delayed and delivered out of order), offline
//! periods, clock skew of days, device app restarts and crashes, server restarts and scope
//! changes. After every round all online devices sync fully and the invariants of `check.rs`
//! are checked; a failure names the seed, and `simulate --seed S` replays it.

pub mod check;
pub mod device;
pub mod faults;
pub mod ops;
pub mod proc;
pub mod world;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gridline_core::sync::{CancelToken, HttpTransport, SyncOptions, Transport};
use gridline_core::{Role, Store};

use device::{SimDevice, SkewClock};
use faults::{deliver, FaultRates, FaultTransport};
use ops::Outcome;
use world::{World, SIM_USERS};

use crate::{Rng, PASSWORD};

/// What a run looks like.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub devices: usize,
    pub rounds: usize,
    /// Device actions per round.
    pub steps: usize,
    /// Directory of `sim-server` and `sim-device`: when set, the server runs as a child
    /// process (SIGKILLed and restarted, mid-push aborts) and devices crash in child processes.
    pub exe_dir: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig { devices: 6, rounds: 4, steps: 30, exe_dir: None }
    }
}

macro_rules! counters {
    ($($field:ident: $label:literal,)*) => {
        /// Counts of what a run did and injected.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct FaultStats {
            $(pub $field: u64,)*
        }

        impl FaultStats {
            /// (label, count) in table order.
            pub fn rows(&self) -> Vec<(&'static str, u64)> {
                vec![$(($label, self.$field),)*]
            }
            /// Adds another run's counts.
            pub fn add(&mut self, o: &FaultStats) {
                $(self.$field += o.$field;)*
            }
        }
    };
}

counters! {
    seeds: "seeds",
    rounds: "rounds",
    ops_committed: "ops committed on devices",
    ops_refused_locally: "ops refused locally",
    ops_rejected: "ops rejected by the server",
    syncs: "syncs",
    syncs_failed: "syncs failed (faults)",
    requests_dropped: "requests dropped",
    responses_dropped: "responses dropped",
    duplicated: "requests duplicated",
    delayed: "requests delayed",
    reordered: "requests delivered out of order",
    server_restarts: "server restarts (in-process)",
    server_kills: "server SIGKILLs (child)",
    server_aborts_mid_push: "server aborts mid-push",
    device_restarts: "device app restarts",
    device_crashes: "device SIGKILL crashes",
    scope_changes: "scope changes",
    clock_skews: "clock skews set",
    offline_periods: "offline periods",
}

impl FaultStats {
    /// The summary table.
    pub fn table(&self) -> String {
        let mut s = format!("{:<32} {:>12}\n", "fault / event", "count");
        for (k, v) in self.rows() {
            s.push_str(&format!("{k:<32} {v:>12}\n"));
        }
        s
    }
}

/// A failed run: the seed, where, and every violated invariant.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    /// The run used real processes.
    pub process: bool,
    pub round: usize,
    pub problems: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.process { 1 } else { 0 };
        writeln!(f, "seed {} failed in round {} (replay: simulate --seed {} --process-every {mode}):", self.seed, self.round, self.seed)?;
        for p in self.problems.iter().take(20) {
            writeln!(f, "  {p}")?;
        }
        if self.problems.len() > 20 {
            writeln!(f, "  … and {} more", self.problems.len() - 20)?;
        }
        Ok(())
    }
}

fn fast_opts(rng: &mut Rng) -> SyncOptions {
    SyncOptions {
        batch_ops: 1 + rng.below(6),
        page_size: 5 + rng.below(40) as u32,
        max_attempts: 1 + rng.below(3) as u32,
        base_backoff: Duration::ZERO,
        max_backoff: Duration::ZERO,
        ..SyncOptions::default()
    }
}

const DAY: i64 = 86_400_000;

fn random_skew(rng: &mut Rng) -> i64 {
    match rng.below(3) {
        0 => 0,
        1 => (1 + rng.below(90) as i64) * DAY,
        _ => -(1 + rng.below(90) as i64) * DAY,
    }
}

struct Sim {
    seed: u64,
    cfg: SimConfig,
    rng: Rng,
    world: World,
    devices: Vec<SimDevice>,
    stats: Arc<Mutex<FaultStats>>,
    /// The server's mid-push fault point is armed.
    armed: bool,
}

impl Sim {
    fn stat(&self, f: impl FnOnce(&mut FaultStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()));
    }

    fn url(&self) -> String {
        self.world.city.url()
    }

    fn enroll(&mut self, idx: usize) -> SimDevice {
        let user = SIM_USERS[idx % SIM_USERS.len()];
        let dir = world::scratch_dir();
        let clock = SkewClock::new(random_skew(&mut self.rng));
        let store = Store::open_with_clock(device::db_file(dir.path()), Arc::new(clock.clone())).expect("open store");
        let enroller = HttpTransport::new(&self.url()).expect("transport");
        let token = store.enroll(&enroller, user, PASSWORD, &format!("sim-{idx}")).expect("enroll");
        let device_id = store.sync_status().expect("status").device_id.expect("device id");
        let role = store.principal().map(|p| p.role).unwrap_or(Role::GridWorker);
        let transport = HttpTransport::new(&self.url()).expect("transport").with_token(&token);
        SimDevice {
            idx,
            user: user.to_owned(),
            role,
            dir,
            store: Some(store),
            clock,
            token,
            device_id,
            committed: BTreeMap::new(),
            seen_seq: 0,
            held: Mutex::new(Vec::new()),
            offline_rounds: 0,
            transport,
        }
    }

    /// One sync of device `i` through the faulty network.
    fn faulty_sync(&mut self, i: usize) {
        let rates = FaultRates::random(&mut self.rng);
        let opts = fast_opts(&mut self.rng);
        let fseed = self.rng.next_u64();
        let d = &self.devices[i];
        let t = FaultTransport { inner: &d.transport, rates, rng: Mutex::new(Rng(fseed)), held: &d.held, stats: &self.stats };
        let r = d.store().sync(&t, &opts, &|_| {}, &CancelToken::new());
        self.stat(|s| {
            s.syncs += 1;
            match &r {
                Ok(rep) => s.ops_rejected += rep.rejected,
                Err(_) => s.syncs_failed += 1,
            }
        });
    }

    /// A sync with no faults, retried a few times; an error is a failure of the run.
    fn full_sync(&self, i: usize) -> Result<(), String> {
        let d = &self.devices[i];
        let opts = SyncOptions { max_attempts: 4, base_backoff: Duration::from_millis(20), max_backoff: Duration::from_millis(100), ..SyncOptions::default() };
        let mut last = None;
        for _ in 0..3 {
            match d.store().sync(&d.transport as &dyn Transport, &opts, &|_| {}, &CancelToken::new()) {
                Ok(r) => {
                    self.stat(|s| {
                        s.syncs += 1;
                        s.ops_rejected += r.rejected;
                    });
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(format!("device {} ({}) cannot complete a clean sync: {:?}", i, d.user, last))
    }

    fn step(&mut self) -> Result<(), String> {
        let i = self.rng.below(self.devices.len());
        let roll = self.rng.below(100);
        let process = self.cfg.exe_dir.is_some();
        match roll {
            0..=54 => {
                let mut rng = Rng(self.rng.next_u64());
                let out = ops::random_op(self.devices[i].store(), &mut rng);
                let d = &mut self.devices[i];
                let n = d.note_commits().map_err(|e| e.to_string())? as u64;
                match out {
                    Outcome::Done(_) => self.stat(|s| s.ops_committed += n),
                    Outcome::Refused(_) => self.stat(|s| s.ops_refused_locally += 1),
                    Outcome::Skipped => {}
                }
            }
            55..=79 if self.devices[i].offline_rounds == 0 => self.faulty_sync(i),
            80..=84 => {
                if process && self.rng.below(2) == 0 && self.devices[i].offline_rounds == 0 {
                    let exe = self.cfg.exe_dir.clone().expect("exe dir");
                    let url = self.url();
                    let mut rng = Rng(self.rng.next_u64());
                    let r = proc::crash_device(&exe, &mut self.devices[i], &url, &mut rng)?;
                    self.stat(|s| {
                        s.device_crashes += 1;
                        s.ops_committed += r.committed as u64;
                    });
                } else {
                    let d = &mut self.devices[i];
                    d.reopen().map_err(|e| format!("reopen device {i}: {e}"))?;
                    let ok = d.integrity();
                    if ok != "ok" {
                        return Err(format!("inv5: integrity_check after restart of device {i}: {ok}"));
                    }
                    self.stat(|s| s.device_restarts += 1);
                }
            }
            85..=88 => {
                if process {
                    let abort = (self.rng.below(2) == 0).then(|| 1 + self.rng.below(12) as u64);
                    self.world.restart(abort);
                    self.armed = abort.is_some();
                    self.stat(|s| s.server_kills += 1);
                } else {
                    self.world.restart(None);
                    self.stat(|s| s.server_restarts += 1);
                }
            }
            89..=92 => {
                self.devices[i].clock.set_offset(random_skew(&mut self.rng));
                self.stat(|s| s.clock_skews += 1);
            }
            93..=95 if self.devices[i].offline_rounds == 0 => {
                self.devices[i].offline_rounds = 1 + self.rng.below(2) as u32;
                self.stat(|s| s.offline_periods += 1);
            }
            _ => {}
        }
        if self.armed && self.world.child_died() {
            self.stat(|s| s.server_aborts_mid_push += 1);
            self.world.restart(None);
            self.armed = false;
        }
        Ok(())
    }

    /// End of a round: stray requests arrive, online devices sync fully, invariants hold.
    fn settle(&mut self, since_seq: i64, last: bool) -> Vec<String> {
        if self.world.ensure_clean_server(self.armed) && self.armed {
            self.stat(|s| s.server_aborts_mid_push += 1);
        }
        self.armed = false;
        for d in &mut self.devices {
            if last {
                d.offline_rounds = 0;
            }
        }
        for d in &self.devices {
            let held: Vec<_> = std::mem::take(&mut *d.held.lock().unwrap_or_else(|p| p.into_inner()));
            for h in &held {
                deliver(&d.transport, h);
            }
            if !held.is_empty() {
                self.stat(|s| s.reordered += held.len() as u64);
            }
        }
        let online: Vec<usize> = (0..self.devices.len()).filter(|&i| self.devices[i].offline_rounds == 0).collect();
        let mut bad = Vec::new();
        // Twice: the first pass pushes everything, the second pulls what the others pushed.
        for _ in 0..2 {
            for &i in &online {
                if let Err(e) = self.full_sync(i) {
                    bad.push(e);
                }
            }
        }
        if !bad.is_empty() {
            return bad;
        }
        bad.extend(check::ops_once(&self.world, &self.devices));
        let synced: Vec<&SimDevice> = online.iter().map(|&i| &self.devices[i]).collect();
        bad.extend(check::converged(&self.world, &synced));
        bad.extend(check::in_scope(&self.world, &self.devices, since_seq));
        for d in &mut self.devices {
            d.offline_rounds = d.offline_rounds.saturating_sub(1);
        }
        bad
    }

    fn run(&mut self) -> Result<(), Failure> {
        for i in 0..self.cfg.devices {
            let d = self.enroll(i);
            self.devices.push(d);
        }
        let bad = self.settle(0, false);
        if !bad.is_empty() {
            return Err(Failure { seed: self.seed, process: self.cfg.exe_dir.is_some(), round: 0, problems: bad });
        }
        for round in 1..=self.cfg.rounds {
            self.stat(|s| s.rounds += 1);
            if self.rng.below(4) == 0 {
                let (user, scope) = self.world.scope_move(self.rng.below(2));
                self.world.set_scope(user, scope);
                self.stat(|s| s.scope_changes += 1);
            }
            let since = self.world.max_seq();
            for _ in 0..self.cfg.steps {
                if let Err(e) = self.step() {
                    return Err(Failure { seed: self.seed, process: self.cfg.exe_dir.is_some(), round, problems: vec![e] });
                }
            }
            let bad = self.settle(since, round == self.cfg.rounds);
            if !bad.is_empty() {
                return Err(Failure { seed: self.seed, process: self.cfg.exe_dir.is_some(), round, problems: bad });
            }
        }
        Ok(())
    }
}

/// Runs one seed; returns what it injected, or the violated invariants.
pub fn run_seed(seed: u64, cfg: &SimConfig) -> Result<FaultStats, Failure> {
    let mut rng = Rng(seed ^ 0x5eed_0f9a_1d11_e5e5);
    // Device count and shape vary a little by seed.
    let cfg = SimConfig { devices: cfg.devices.max(1), ..cfg.clone() };
    let _ = rng.next_u64();
    let world = World::start(cfg.exe_dir.clone());
    let mut sim = Sim { seed, cfg, rng, world, devices: Vec::new(), stats: Arc::new(Mutex::new(FaultStats::default())), armed: false };
    let r = sim.run();
    let mut stats = sim.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
    stats.seeds = 1;
    r.map(|_| stats)
}

/// Runs one seed, turning a panic into a failure that names the seed.
pub fn run_seed_caught(seed: u64, cfg: &SimConfig) -> Result<FaultStats, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed(seed, cfg))) {
        Ok(r) => r,
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            Err(Failure { seed, process: cfg.exe_dir.is_some(), round: 0, problems: vec![format!("panicked: {msg}")] })
        }
    }
}
