//! The `Store` entry point: one writer connection, a reader beside it, the enrolled user,
//! the clock, and the `read` / `write` closures every operation goes through.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::access::Principal;
use crate::clock::{Clock, SystemClock};
use crate::db;
use crate::error::{Error, Result};

/// Parent links of the area tree, cached in memory (areas change only through sync).
pub(crate) type AreaTree = crate::access::AreaParents;

/// The device's offline store.
pub struct Store {
    writer: Mutex<Connection>,
    reader: Option<Mutex<Connection>>,
    path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    principal: RwLock<Option<Principal>>,
    areas: RwLock<Option<Arc<AreaTree>>>,
    sync_gate: crate::sync::SyncGate,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves SQLite consistent (the transaction rolls back).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Opens (creating if needed) the store in a file, with the system clock.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with_clock(path, Arc::new(SystemClock))
    }

    /// Opens the store in a file with a given clock.
    pub fn open_with_clock(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let writer = db::open_writer(&path, db::latest_version())?;
        let reader = db::open_reader(&path)?;
        Self::build(writer, Some(reader), Some(path), clock)
    }

    /// An in-memory store (tests).
    pub fn open_in_memory() -> Result<Store> {
        Self::open_in_memory_with_clock(Arc::new(SystemClock))
    }

    /// An in-memory store with a given clock (tests).
    pub fn open_in_memory_with_clock(clock: Arc<dyn Clock>) -> Result<Store> {
        Self::build(db::open_memory(db::latest_version())?, None, None, clock)
    }

    fn build(mut writer: Connection, reader: Option<Connection>, path: Option<PathBuf>, clock: Arc<dyn Clock>) -> Result<Store> {
        let principal: Option<String> =
            writer.query_row("SELECT value FROM meta WHERE key = 'principal'", [], |r| r.get(0)).optional()?;
        let principal = principal.map(|s| serde_json::from_str(&s)).transpose()?;
        // Killed during a first pull: make the search index whole before anyone searches.
        if crate::sync::merge::index_deferred(&writer)? {
            let tx = writer.transaction()?;
            crate::sync::merge::finish_deferred_index(&tx)?;
            tx.commit()?;
            if let Some(p) = &path {
                // What an index builder killed with the app left behind.
                crate::sync::remove_index_scratch(p);
            }
        }
        Ok(Store {
            writer: Mutex::new(writer),
            reader: reader.map(Mutex::new),
            path,
            clock,
            principal: RwLock::new(principal),
            areas: RwLock::new(None),
            sync_gate: Default::default(),
        })
    }

    /// One sync of this store at a time (sync/client.rs).
    pub(crate) fn sync_gate(&self) -> &crate::sync::SyncGate {
        &self.sync_gate
    }

    /// The file this store lives in (None in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Now, from the store's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs `f` on a read connection (a consistent snapshot).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        match &self.reader {
            Some(r) => {
                let conn = lock(r);
                let tx = conn.unchecked_transaction()?;
                let out = f(&tx)?;
                tx.finish()?;
                Ok(out)
            }
            None => f(&lock(&self.writer)),
        }
    }

    /// Runs `f` in one write transaction; commits when it returns `Ok`, rolls back otherwise.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        in_transaction(&mut lock(&self.writer), f)
    }

    /// Folds the WAL into the database file without waiting for readers (a passive
    /// checkpoint); the end of a sync does it, so single edits rarely meet an automatic one.
    pub fn checkpoint(&self) -> Result<()> {
        if self.path.is_some() {
            let conn = lock(&self.writer);
            conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Like [`Store::write`], with relaxed durability for bulk applies of pulled pages: the
    /// transaction is atomic, but may be lost (never half-applied) on power loss.
    pub fn write_bulk<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        if self.path.is_some() {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        let result = in_transaction(&mut conn, f);
        if self.path.is_some() {
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        result
    }

    /// The user this device acts for, if one is enrolled.
    pub fn principal(&self) -> Option<Principal> {
        self.principal.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn require_principal(&self) -> Result<Principal> {
        self.principal().ok_or(Error::NotEnrolled)
    }

    /// Sets the device's user (enrollment, or a scope change reported by the server).
    pub fn set_principal(&self, p: &Principal) -> Result<()> {
        let json = serde_json::to_string(p)?;
        self.write(|tx| {
            tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('principal', ?1)", [&json])?;
            Ok(())
        })?;
        *self.principal.write().unwrap_or_else(|p| p.into_inner()) = Some(p.clone());
        Ok(())
    }

    /// A value of the device-local `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| meta_get(c, key))
    }

    /// Parent links of all areas, loaded once and cached until areas change.
    pub(crate) fn area_tree(&self, conn: &Connection) -> Result<Arc<AreaTree>> {
        if let Some(t) = self.areas.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(t.clone());
        }
        let mut stmt = conn.prepare("SELECT id, parent_id FROM areas")?;
        let tree: AreaTree =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        let tree = Arc::new(tree);
        *self.areas.write().unwrap_or_else(|p| p.into_inner()) = Some(tree.clone());
        Ok(tree)
    }

    /// Forgets the cached area tree (after areas were written).
    pub(crate) fn invalidate_areas(&self) {
        *self.areas.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Runs `f` in an immediate write transaction; commits on `Ok`, rolls back otherwise.
fn in_transaction<T>(conn: &mut Connection, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Reads a `meta` value.
pub(crate) fn meta_get(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

/// Writes a `meta` value.
pub(crate) fn meta_set(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?.execute([key, value])?;
    Ok(())
}

/// Ancestors of an area including itself, nearest first.
pub(crate) use crate::access::area_path;
