//! One simulated device: its own database file, a skewed clock, its token, the record of every
//! op it committed (the ground truth the invariants check against), and requests the network
//! still holds for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use gridline_core::protocol::OpKind;
use gridline_core::sync::HttpTransport;
use gridline_core::{Clock, EntityKind, Role, Store, SystemClock};

use super::faults::Held;

/// The system clock shifted by an offset that can change (a phone whose clock is days off).
#[derive(Debug, Clone, Default)]
pub struct SkewClock(pub Arc<AtomicI64>);

impl SkewClock {
    pub fn new(offset_ms: i64) -> Self {
        SkewClock(Arc::new(AtomicI64::new(offset_ms)))
    }
    pub fn offset(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn set_offset(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst)
    }
}

impl Clock for SkewClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset()
    }
}

/// An op the device committed (its write transaction returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub op_id: String,
    pub entity: EntityKind,
    pub entity_id: String,
    pub kind: OpKind,
}

/// Outbox ops with `device_seq > after`, in order: (seq, op).
pub fn outbox_after(store: &Store, after: i64) -> gridline_core::Result<Vec<(i64, Committed)>> {
    store.read(|c| {
        let mut stmt = c.prepare_cached("SELECT device_seq, op_id, entity, entity_id, kind FROM outbox WHERE device_seq > ?1 ORDER BY device_seq")?;
        let rows = stmt.query_map([after], |r| {
            let entity: String = r.get(2)?;
            let kind: String = r.get(4)?;
            Ok((
                r.get::<_, i64>(0)?,
                Committed {
                    op_id: r.get(1)?,
                    entity: EntityKind::parse(&entity).unwrap_or(EntityKind::Household),
                    entity_id: r.get(3)?,
                    kind: OpKind::parse(&kind).unwrap_or(OpKind::Update),
                },
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    })
}

/// Op ids in the outbox.
pub fn outbox_ids(store: &Store) -> gridline_core::Result<Vec<String>> {
    Ok(outbox_after(store, 0)?.into_iter().map(|(_, c)| c.op_id).collect())
}

pub struct SimDevice {
    pub idx: usize,
    pub user: String,
    pub role: Role,
    pub dir: tempfile::TempDir,
    pub store: Option<Store>,
    pub clock: SkewClock,
    pub token: String,
    pub device_id: String,
    /// Every op the device committed, by op id.
    pub committed: BTreeMap<String, Committed>,
    /// Highest outbox `device_seq` already copied into `committed`.
    pub seen_seq: i64,
    /// Requests the network holds back for this device.
    pub held: Mutex<Vec<Held>>,
    /// Rounds it stays offline (0: online).
    pub offline_rounds: u32,
    pub transport: HttpTransport,
}

impl SimDevice {
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("device.db")
    }
    pub fn store(&self) -> &Store {
        self.store.as_ref().expect("device store open")
    }
    /// Opens the database again (after a crash or an app restart).
    pub fn reopen(&mut self) -> gridline_core::Result<()> {
        self.store = None;
        self.store = Some(Store::open_with_clock(self.db_path(), Arc::new(self.clock.clone()))?);
        Ok(())
    }
    /// Copies ops committed since the last look into `committed`.
    pub fn note_commits(&mut self) -> gridline_core::Result<usize> {
        let new = outbox_after(self.store(), self.seen_seq)?;
        let n = new.len();
        for (seq, c) in new {
            self.seen_seq = self.seen_seq.max(seq);
            self.committed.insert(c.op_id.clone(), c);
        }
        Ok(n)
    }
    /// `PRAGMA integrity_check` of the device database.
    pub fn integrity(&self) -> String {
        integrity(self.store())
    }
}

/// `PRAGMA integrity_check` of a store ("ok" when sound).
pub fn integrity(store: &Store) -> String {
    store
        .read(|c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let lines: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(lines.join("; "))
        })
        .unwrap_or_else(|e| format!("integrity check failed to run: {e}"))
}

/// The database file path of a store dir.
pub fn db_file(dir: &Path) -> PathBuf {
    dir.join("device.db")
}
