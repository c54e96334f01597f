//! Device crashes in a real process: `sim-device` opens a device's database, does random work
//! and syncs, and kills itself with SIGKILL at a chosen point — inside a write transaction,
//! right after the server answered a push (before the device recorded the results), or right
//! after a pull page arrived (before it was applied). It logs every committed op id (after the
//! commit returned) and every result it received to a file the parent reads, so the parent
//! knows exactly what the outbox must hold when the database is reopened (invariant 5).

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use gridline_core::protocol::{OpKind, PullRequest, PullResponse, PushRequest, PushResponse};
use gridline_core::record;
use gridline_core::sync::{CancelToken, HttpTransport, SyncOptions, Transport, TransportError};
use gridline_core::{EntityKind, Store};

use super::device::{outbox_after, outbox_ids, Committed, SimDevice, SkewClock};
use super::ops::{random_op, Outcome};
use crate::Rng;

/// Where the device process kills itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillAt {
    /// Inside the write transaction of its `n`-th operation (0-based), before the commit.
    Write(usize),
    /// After the server answered its `n`-th push (1-based), before the results are recorded.
    Push(usize),
    /// After its `n`-th pull page arrived (1-based), before it is applied.
    Pull(usize),
}

impl KillAt {
    fn arg(self) -> String {
        match self {
            KillAt::Write(n) => format!("write:{n}"),
            KillAt::Push(n) => format!("push:{n}"),
            KillAt::Pull(n) => format!("pull:{n}"),
        }
    }
    fn parse(s: &str) -> Option<KillAt> {
        let (k, n) = s.split_once(':')?;
        let n = n.parse().ok()?;
        match k {
            "write" => Some(KillAt::Write(n)),
            "push" => Some(KillAt::Push(n)),
            "pull" => Some(KillAt::Pull(n)),
            _ => None,
        }
    }
}

/// Sends SIGKILL to this process and waits for it.
fn kill_self() -> ! {
    let _ = Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

struct Log(Mutex<std::fs::File>);

impl Log {
    fn line(&self, s: &str) {
        let mut f = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(f, "{s}");
        let _ = f.sync_data();
    }
}

/// Forwards to the server and logs every result; dies at the chosen push or pull.
struct KillTransport<'a> {
    inner: &'a dyn Transport,
    kill: KillAt,
    pushes: AtomicUsize,
    pulls: AtomicUsize,
    log: &'a Log,
}

impl Transport for KillTransport<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let resp = self.inner.push(req)?;
        let n = self.pushes.fetch_add(1, Ordering::SeqCst) + 1;
        if self.kill == KillAt::Push(n) {
            kill_self();
        }
        for r in &resp.results {
            self.log.line(&format!("result {}", r.op_id));
        }
        Ok(resp)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        let resp = self.inner.pull(req)?;
        let n = self.pulls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.kill == KillAt::Pull(n) {
            kill_self();
        }
        Ok(resp)
    }
}

/// A household edit as the core's write path makes it (the row changed, an outbox op queued,
/// in one transaction), killed before the transaction commits.
fn die_mid_write(store: &Store, log: &Log) {
    let households = store.read(|c| record::dump(c, EntityKind::Household)).unwrap_or_default();
    let Some(h) = households.first() else { return };
    let mut fields = record::Fields::new();
    fields.insert("notes".into(), json!("写入中断电"));
    let op_id = format!("uncommitted-{}", std::process::id());
    let _: gridline_core::Result<()> = store.write(|tx| {
        record::update(tx, EntityKind::Household, &h.id, &fields)?;
        tx.execute(
            "INSERT INTO outbox (op_id, entity, entity_id, kind, fields, base_version, device_time) \
             VALUES (?1, 'household', ?2, 'update', ?3, ?4, ?5)",
            rusqlite::params![op_id, h.id, serde_json::to_string(&fields)?, h.version, store.now_ms()],
        )?;
        log.line(&format!("uncommitted {op_id}"));
        kill_self();
    });
}

/// The `sim-device` process: `sim-device DB URL TOKEN SKEW_MS SEED OPS KILL LOG`.
pub fn device_main(args: &[String]) -> Result<(), String> {
    let [db, url, token, skew, seed, ops, kill, log] = args else {
        return Err("usage: sim-device DB URL TOKEN SKEW_MS SEED OPS KILL(write:N|push:N|pull:N) LOG".into());
    };
    let num = |s: &str| s.parse::<i64>().map_err(|e| format!("bad number {s}: {e}"));
    let kill = KillAt::parse(kill).ok_or("bad kill point")?;
    let log = Log(Mutex::new(std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| e.to_string())?));
    let store = Store::open_with_clock(db, Arc::new(SkewClock::new(num(skew)?))).map_err(|e| e.to_string())?;
    let mut rng = Rng(seed.parse::<u64>().map_err(|e| format!("bad seed {seed}: {e}"))?);
    let mut seen = outbox_after(&store, 0).map_err(|e| e.to_string())?.last().map(|(s, _)| *s).unwrap_or(0);
    for i in 0..num(ops)? as usize {
        if kill == KillAt::Write(i) {
            die_mid_write(&store, &log);
        }
        if let Outcome::Done(_) = random_op(&store, &mut rng) {
            for (s, c) in outbox_after(&store, seen).map_err(|e| e.to_string())? {
                seen = s;
                log.line(&format!("commit {} {} {} {}", c.op_id, c.kind.as_str(), c.entity.as_str(), c.entity_id));
            }
        }
    }
    if let KillAt::Write(_) = kill {
        die_mid_write(&store, &log);
    }
    let inner = HttpTransport::new(url).map_err(|e| e.to_string())?.with_token(token);
    let t = KillTransport { inner: &inner, kill, pushes: AtomicUsize::new(0), pulls: AtomicUsize::new(0), log: &log };
    let opts = SyncOptions { batch_ops: 3, max_attempts: 2, base_backoff: std::time::Duration::ZERO, ..SyncOptions::default() };
    let _ = store.sync(&t, &opts, &|_| {}, &CancelToken::new());
    // The kill point was not reached (the sync ended first, or failed): crash now.
    kill_self();
}

/// What a device crash did, for the summary.
#[derive(Debug, Default)]
pub struct CrashReport {
    pub committed: usize,
}

fn exe(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the device in a child process until it kills itself, reopens the database and checks
/// invariant 5: `PRAGMA integrity_check` passes and the outbox holds exactly the ops committed
/// and not yet answered. Committed ops are added to the device's record.
pub fn crash_device(exe_dir: &Path, dev: &mut SimDevice, url: &str, rng: &mut Rng) -> Result<CrashReport, String> {
    let before: BTreeSet<String> = outbox_ids(dev.store()).map_err(|e| e.to_string())?.into_iter().collect();
    let ops = 1 + rng.below(6);
    let kill = match rng.below(3) {
        0 if dev.role != gridline_core::Role::DepartmentHandler => KillAt::Write(rng.below(ops + 1)),
        1 => KillAt::Pull(1 + rng.below(2)),
        _ => KillAt::Push(1 + rng.below(3)),
    };
    let log_path = dev.dir.path().join(format!("crash-{}.log", rng.next_u64()));
    dev.store = None;
    let out = Command::new(exe(exe_dir, "sim-device"))
        .arg(dev.db_path())
        .args([url, &dev.token, &dev.clock.offset().to_string(), &rng.next_u64().to_string(), &ops.to_string(), &kill.arg()])
        .arg(&log_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("spawn sim-device: {e}"))?;
    dev.reopen().map_err(|e| format!("inv5: reopen after crash failed: {e}"))?;
    if out.status.signal() != Some(9) {
        return Err(format!("sim-device did not die by SIGKILL ({:?}): {}", out.status, String::from_utf8_lossy(&out.stderr)));
    }
    let integrity = dev.integrity();
    if integrity != "ok" {
        return Err(format!("inv5: integrity_check after crash ({kill:?}): {integrity}"));
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut committed = Vec::new();
    let mut answered = BTreeSet::new();
    let mut uncommitted = None;
    for line in log.lines() {
        match line.split_once(' ') {
            Some(("commit", rest)) => {
                let parts: Vec<&str> = rest.split(' ').collect();
                let [id, kind, entity, entity_id] = parts[..] else { return Err(format!("bad crash log line {line:?}")) };
                let (Some(kind), Some(entity)) = (OpKind::parse(kind), EntityKind::parse(entity)) else {
                    return Err(format!("bad crash log line {line:?}"));
                };
                committed.push(Committed { op_id: id.to_owned(), entity, entity_id: entity_id.to_owned(), kind });
            }
            Some(("result", id)) => {
                answered.insert(id.to_owned());
            }
            Some(("uncommitted", id)) => uncommitted = Some(id.to_owned()),
            _ => return Err(format!("bad crash log line {line:?}")),
        }
    }
    let mut want: BTreeSet<String> = before.iter().cloned().chain(committed.iter().map(|c| c.op_id.clone())).collect();
    want.retain(|id| !answered.contains(id));
    let now = outbox_after(dev.store(), 0).map_err(|e| e.to_string())?;
    let got: BTreeSet<String> = now.iter().map(|(_, c)| c.op_id.clone()).collect();
    if got != want {
        return Err(format!(
            "inv5: after a crash at {kill:?} the outbox holds {} ops, {} expected (extra {:?}, missing {:?})",
            got.len(),
            want.len(),
            got.difference(&want).collect::<Vec<_>>(),
            want.difference(&got).collect::<Vec<_>>()
        ));
    }
    if let Some(u) = uncommitted {
        if got.contains(&u) {
            return Err(format!("inv5: the op of the write killed before commit is in the outbox ({u})"));
        }
    }
    let n = committed.len();
    for c in committed {
        dev.committed.insert(c.op_id.clone(), c);
    }
    dev.seen_seq = dev.seen_seq.max(max_outbox_seq(dev.store()));
    Ok(CrashReport { committed: n })
}

/// The highest outbox sequence ever handed out (AUTOINCREMENT keeps it in `sqlite_sequence`).
fn max_outbox_seq(store: &Store) -> i64 {
    store
        .read(|c| Ok(c.query_row("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'", [], |r| r.get(0))?))
        .unwrap_or(0)
}
