//! The server side of a simulation: the seeded city with extra users, the server either on a
//! thread of this process or as a child process (`sim-server serve`, killed with SIGKILL and
//! restarted on the same data dir), scope changes, and read access to the server's database.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use gridline_core::access::{Principal, Scope};
use gridline_core::Role;
use gridline_server::service::{ABORT_AFTER_OPS_ENV, FAULT_HANG_ENV};
use gridline_server::{SqliteStorage, Storage, UserSpec};

use crate::{start_city_in, City, G2, G3, PASSWORD};
use gridline_server::Config;

/// The users devices are enrolled for, in the order devices are handed out.
pub const SIM_USERS: &[&str] = &["gw1", "bh1", "sup", "gw2", "dh", "gw3", "bh2", "sup2"];

/// A scope a user had from a server sequence on.
#[derive(Debug, Clone)]
pub struct ScopeSpan {
    pub from_seq: i64,
    pub principal: Principal,
}

pub struct World {
    pub city: City,
    /// The server as a child process (process-fault runs).
    pub child: Option<Child>,
    /// Directory of the helper binaries (`sim-server`, `sim-device`); None: in-process only.
    pub exe_dir: Option<PathBuf>,
    /// Scope history by username.
    pub scopes: BTreeMap<String, Vec<ScopeSpan>>,
}

/// A scratch directory, on tmpfs (`/dev/shm`) when there is one: a process crash (SIGKILL)
/// loses nothing a disk would keep, and the many `fsync`s of small durable transactions cost
/// nothing there. Power loss is not what the simulator models.
pub fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("gridline-sim").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("temp dir")
}

fn exe(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

impl World {
    /// The seeded city with the extra simulation users; with `exe_dir`, the server runs as a
    /// child process from the start.
    pub fn start(exe_dir: Option<PathBuf>) -> World {
        let city = start_city_in(scratch_dir(), Config::for_tests());
        let b = |n: &str| city.b(n);
        let area = |a: &str| Scope { area_ids: vec![a.into()], ..Scope::default() };
        for (name, role, scope) in [
            ("gw3", Role::GridWorker, area(G3)),
            ("bh2", Role::BuildingHead, Scope { building_ids: vec![b("B2")], ..Scope::default() }),
            ("sup2", Role::Supervisor, area("street")),
        ] {
            city.server()
                .add_user(&UserSpec { username: name.into(), password: PASSWORD.into(), role, scope, display_name: name.into() })
                .expect("add sim user");
        }
        let mut w = World { city, child: None, exe_dir, scopes: BTreeMap::new() };
        for u in w.storage().users().expect("users") {
            w.scopes.insert(u.username.clone(), vec![ScopeSpan { from_seq: 0, principal: u.principal() }]);
        }
        if w.exe_dir.is_some() {
            w.city.stop();
            w.spawn_child(None);
        }
        w
    }

    pub fn data_dir(&self) -> &Path {
        self.city.dir.path()
    }

    /// A short-lived handle on the server's storage (works beside a running server).
    pub fn storage(&self) -> SqliteStorage {
        SqliteStorage::open(self.data_dir()).expect("open server storage")
    }

    /// A plain connection to the server's database, for the invariant checks.
    pub fn db(&self) -> Connection {
        let c = Connection::open(self.data_dir().join(gridline_server::storage::sqlite::DB_FILE)).expect("open server db");
        c.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
        c
    }

    pub fn max_seq(&self) -> i64 {
        self.db().query_row("SELECT value FROM seq_counter WHERE id = 1", [], |r| r.get(0)).expect("max seq")
    }

    fn spawn_child(&mut self, abort_after_ops: Option<u64>) {
        self.spawn_child_with(abort_after_ops, false)
    }

    /// Starts the server child; with `hang`, the fault point hangs instead of aborting.
    pub fn spawn_child_with(&mut self, abort_after_ops: Option<u64>, hang: bool) {
        let dir = self.exe_dir.clone().expect("helper binaries");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.data_dir().join("server.log")).expect("server log");
        let mut cmd = Command::new(exe(&dir, "sim-server"));
        cmd.args(["serve", "--listen", &self.city.addr.to_string(), "--data-dir"])
            .arg(self.data_dir())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        match abort_after_ops {
            Some(k) => cmd.env(ABORT_AFTER_OPS_ENV, k.to_string()),
            None => cmd.env_remove(ABORT_AFTER_OPS_ENV),
        };
        if hang {
            cmd.env(FAULT_HANG_ENV, "1");
        } else {
            cmd.env_remove(FAULT_HANG_ENV);
        }
        let child = cmd.spawn().expect("spawn sim-server");
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(self.city.addr).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(20), "server child did not start listening");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server child with SIGKILL and waits for it.
    pub fn kill_child(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = c.kill();
        c.wait().ok()
    }

    /// The server child's log (stderr).
    pub fn server_log(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("server.log")).unwrap_or_default()
    }

    /// Whether the server child has exited on its own (a fault point fired). A process that
    /// no longer accepts connections is dying: it is waited for, so the answer does not depend
    /// on how fast the kernel reaps it.
    pub fn child_died(&mut self) -> bool {
        let addr = self.city.addr;
        match self.child.as_mut() {
            Some(c) => {
                if c.try_wait().expect("try_wait").is_some() {
                    return true;
                }
                if TcpStream::connect(addr).is_err() {
                    let _ = c.wait();
                    return true;
                }
                false
            }
            None => false,
        }
    }

    /// Kills the server abruptly (SIGKILL for a child) and starts it again on the same data
    /// dir; `abort_after_ops` arms the server's mid-push fault point (child only).
    pub fn restart(&mut self, abort_after_ops: Option<u64>) {
        if self.exe_dir.is_some() {
            self.kill_child();
            self.spawn_child(abort_after_ops);
        } else {
            self.city.stop();
            self.city.restart();
        }
    }

    /// Makes sure the server is up with no fault point armed.
    pub fn ensure_clean_server(&mut self, armed: bool) -> bool {
        if self.child.is_some() && (armed || self.child_died()) {
            self.restart(None);
            return true;
        }
        false
    }

    /// Replaces a user's scope (the storage's write that `gridline-server user set-scope` makes
    /// once the scope passed its checks) and records from which server sequence it holds.
    pub fn set_scope(&mut self, user: &str, scope: Scope) {
        let seq = self.max_seq();
        let s = self.storage();
        let rec = s.user_by_name(user).expect("user").expect("known user");
        s.set_scope(user, rec.role, &scope, gridline_core::Clock::now_ms(&gridline_core::SystemClock)).expect("set scope");
        let principal = s.user_by_name(user).expect("user").expect("known user").principal();
        self.scopes.entry(user.to_owned()).or_default().push(ScopeSpan { from_seq: seq, principal });
    }

    /// The scope a user had when the server handed out `seq`.
    pub fn principal_at(&self, user: &str, seq: i64) -> Option<&Principal> {
        self.scopes.get(user)?.iter().rev().find(|s| s.from_seq < seq).map(|s| &s.principal)
    }

    /// Every scope a user held at or before server sequence `seq`, newest first: an op written
    /// offline under a replaced scope is judged by that scope (within the server's grace period,
    /// far longer than a simulated run).
    pub fn principals_until(&self, user: &str, seq: i64) -> Vec<&Principal> {
        self.scopes.get(user).map(|v| v.iter().rev().filter(|s| s.from_seq < seq).map(|s| &s.principal).collect()).unwrap_or_default()
    }

    /// The current scope of a user.
    pub fn principal(&self, user: &str) -> Option<&Principal> {
        self.scopes.get(user)?.last().map(|s| &s.principal)
    }

    /// Scope moves the simulation makes: a grid worker between G2 and G3, a building head
    /// between B2 and B3. Returns (user, new scope).
    pub fn scope_move(&self, which: usize) -> (&'static str, Scope) {
        let cur = |u: &str| self.principal(u).map(|p| p.scope.clone()).unwrap_or_default();
        if which.is_multiple_of(2) {
            let to = if cur("gw3").area_ids.iter().any(|a| a == G3) { G2 } else { G3 };
            ("gw3", Scope { area_ids: vec![to.into()], ..Scope::default() })
        } else {
            let (b2, b3) = (self.city.b("B2"), self.city.b("B3"));
            let to = if cur("bh2").building_ids.contains(&b2) { b3 } else { b2 };
            ("bh2", Scope { building_ids: vec![to], ..Scope::default() })
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
