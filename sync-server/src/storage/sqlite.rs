//! The embedded default storage: one SQLite file in the data dir (WAL), one writer connection
//! (which also orders the change sequence) and a few readers beside it.
//!
//! Schema: the core's migration 001 (the entity tables, identical to a device's, numbered by
//! `PRAGMA user_version`) plus the server's own migrations, numbered in the one-row table
//! `server_schema`. The core's search index (002) is not needed on the server and not applied.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use gridline_core::access::Scope;
use gridline_core::{EntityKind, Role};

use super::sqlite_accounts as accounts;
use super::sqlite_batch::SqliteBatch;
use super::sqlite_writer::{in_savepoint, GroupWriter, SyncWal};
use super::*;

/// The server's own migrations; a shipped one is never edited, only appended to.
const SERVER_MIGRATIONS: &[(&str, &str)] = &[
    ("s001_server", include_str!("migrations/s001_server.sql")),
    ("s002_moved_rows", include_str!("migrations/s002_moved_rows.sql")),
    ("s003_change_log", include_str!("migrations/s003_change_log.sql")),
    ("s004_scope_history", include_str!("migrations/s004_scope_history.sql")),
    ("s005_attachments", include_str!("migrations/s005_attachments.sql")),
    ("s006_console_sessions", include_str!("migrations/s006_console_sessions.sql")),
    ("s007_change_log_time_index", include_str!("migrations/s007_change_log_time_index.sql")),
    ("s008_applied_ops_status", include_str!("migrations/s008_applied_ops_status.sql")),
    ("s009_server_register_indexes", include_str!("migrations/s009_server_register_indexes.sql")),
    ("s010_move_history", include_str!("migrations/s010_move_history.sql")),
];

/// The tombstone horizon as `c` sees it (0 before any purge).
pub(super) fn tombstone_horizon(c: &Connection) -> StoreResult<i64> {
    let v: Option<String> =
        c.query_row("SELECT value FROM server_meta WHERE key = 'tombstone_horizon'", [], |r| r.get(0)).optional()?;
    Ok(v.and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// The file name inside the data dir.
pub const DB_FILE: &str = "gridline.sqlite";

/// SQLite storage.
pub struct SqliteStorage {
    path: PathBuf,
    /// The writer connection, with group commit (it tells the checkpointer of each commit and
    /// ends it when dropped).
    writer: GroupWriter,
    readers: Mutex<Vec<Connection>>,
    checkpointer: Option<JoinHandle<()>>,
}

/// WAL pages at which the writer folds the WAL into the database itself: only reached when the
/// checkpointer falls behind (64 MiB; the core's own stores use 4,000).
const WRITER_CHECKPOINT_PAGES: i64 = 16_000;

/// The checkpointer waits this long after each checkpoint, so that commits meanwhile are folded
/// in together (a page written by many commits is copied once).
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(200);

/// Folds the WAL into the database file on its own connection and thread, so that a push's
/// commit does not also copy pages and sync the database file (SQLite's automatic checkpoint
/// runs inside the commit that crosses the threshold). A passive checkpoint never blocks the
/// writer or the readers; it stops at a page a reader still needs and goes on at the next one.
/// Ends when the storage is dropped.
fn checkpointer(conn: Connection, committed: Receiver<()>) {
    let mut pending = false;
    loop {
        if !pending && committed.recv().is_err() {
            return;
        }
        pending = false;
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint failed; the writer's own checkpoint remains");
        }
        // Commits meanwhile are folded in by the next checkpoint, together.
        let until = Instant::now() + CHECKPOINT_PAUSE;
        loop {
            match committed.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(()) => pending = true,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// Syncs the database's WAL file (`<db>-wal`) to disk through a handle of its own: `fdatasync`
/// flushes the file whichever handle wrote it. The handle is opened on first use (the WAL
/// exists once the first commit wrote it) and again should the file be another one by then.
fn wal_sync(db: &Path) -> SyncWal {
    use std::os::unix::fs::MetadataExt;
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    let wal = PathBuf::from(name);
    let handle: Mutex<Option<(std::fs::File, u64)>> = Mutex::new(None);
    Box::new(move || {
        let ino = std::fs::metadata(&wal)?.ino();
        let mut h = lock(&handle);
        if h.as_ref().map(|(_, i)| *i) != Some(ino) {
            let f = std::fs::File::open(&wal)?;
            let i = f.metadata()?.ino();
            *h = Some((f, i));
        }
        h.as_ref().expect("opened above").0.sync_data()
    })
}

/// The last change sequence given out (0 before the first change).
pub(super) fn last_seq(c: &Connection) -> StoreResult<i64> {
    Ok(c.prepare_cached("SELECT value FROM seq_counter WHERE id = 1")?.query_row([], |r| r.get(0))?)
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves SQLite consistent (the transaction rolls back).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for SqliteStorage {
    fn drop(&mut self) {
        // The checkpointer ends and closes its connection before the writer's and the readers'
        // close: the last connection to close folds the WAL in, as it did before there was one.
        self.writer.close();
        if let Some(h) = self.checkpointer.take() {
            let _ = h.join();
        }
    }
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) `<data_dir>/gridline.sqlite`.
    pub fn open(data_dir: &Path) -> StoreResult<SqliteStorage> {
        Self::open_syncing(data_dir, wal_sync(&data_dir.join(DB_FILE)))
    }

    /// [`SqliteStorage::open`] with the writer's commits made durable by `sync`.
    fn open_syncing(data_dir: &Path, sync: SyncWal) -> StoreResult<SqliteStorage> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Backend(e.to_string()))?;
        let path = data_dir.join(DB_FILE);
        // The core opens with WAL, synchronous=FULL, foreign keys and a busy timeout; only its
        // migration 001 is applied. Then the writer commits with synchronous=NORMAL and syncs
        // the WAL itself, beside the next group's work (see `sqlite_writer`): an acknowledged
        // batch still survives power loss.
        let conn = gridline_core::db::open_writer(&path, 1)?;
        migrate_server(&conn)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Per-op savepoints journal in memory, not in a temp file; a larger page cache keeps
        // the hot index pages of a busy server resident.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.set_prepared_statement_cache_capacity(128);
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        let (committed, rx) = sync_channel(1);
        let cp = Connection::open(&path)?;
        cp.busy_timeout(Duration::from_secs(5))?;
        let checkpointer = std::thread::Builder::new()
            .name("gridline-checkpoint".into())
            .spawn(move || checkpointer(cp, rx))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(SqliteStorage {
            path,
            writer: GroupWriter::new(conn, sync, committed),
            readers: Mutex::new(Vec::new()),
            checkpointer: Some(checkpointer),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = match lock(&self.readers).pop() {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c.set_prepared_statement_cache_capacity(128);
                c
            }
        };
        let out = {
            let tx = conn.unchecked_transaction()?;
            let out = f(&tx);
            drop(tx);
            out
        };
        let mut pool = lock(&self.readers);
        if pool.len() < 8 {
            pool.push(conn);
        }
        drop(pool);
        // What was read may include a commit not yet on disk: it leaves once it is.
        self.writer.wait_synced()?;
        out
    }

    /// Runs `f` on the writer, atomically, and returns once it is committed (possibly in one
    /// commit with concurrent writes: see `sqlite_writer`).
    pub(super) fn write<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.writer.member(|conn| in_savepoint(conn, f))
    }
}

fn migrate_server(conn: &Connection) -> StoreResult<()> {
    migrate_server_to(conn, SERVER_MIGRATIONS.len())
}

/// Applies the server migrations after the store's current one, up to number `last`.
fn migrate_server_to(conn: &Connection, last: usize) -> StoreResult<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS server_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)")?;
    let current: i64 =
        conn.query_row("SELECT version FROM server_schema WHERE id = 1", [], |r| r.get(0)).optional()?.unwrap_or(0);
    for (i, (name, sql)) in SERVER_MIGRATIONS.iter().enumerate().take(last).skip(current as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO server_schema (id, version) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET version = excluded.version",
            [(i + 1) as i64],
        )?;
        tx.commit()?;
        tracing::info!(migration = name, "applied server migration");
    }
    Ok(())
}

/// Appends a sync log line and notes the device as seen.
pub(super) fn write_sync_log(c: &Connection, e: &SyncLogEntry) -> StoreResult<()> {
    c.prepare_cached("INSERT INTO sync_log (device_id, at, kind, ops, rejected) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![e.device_id, e.at, e.kind, e.ops, e.rejected])?;
    c.prepare_cached("UPDATE devices SET last_seen_at = ?1 WHERE id = ?2")?.execute(params![e.at, e.device_id])?;
    Ok(())
}

/// Reads the jurisdiction tree from the `areas` table.
pub(super) fn load_area_parents(conn: &Connection) -> StoreResult<AreaParents> {
    let mut stmt = conn.prepare_cached("SELECT id, parent_id FROM areas")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Storage for SqliteStorage {
    fn add_user(&self, u: &NewUser) -> StoreResult<UserRecord> {
        let id = uuid::Uuid::now_v7().to_string();
        let scope_json = serde_json::to_string(&u.scope)?;
        self.write(|c| accounts::add_user(c, &id, u, &scope_json))?;
        self.user_by_name(&u.username)?.ok_or(StoreError::NotFound)
    }

    fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.read(|c| accounts::user_by_name(c, username))
    }

    fn users(&self) -> StoreResult<Vec<UserRecord>> {
        self.read(accounts::users)
    }

    fn set_disabled(&self, username: &str, disabled: bool) -> StoreResult<bool> {
        self.write(|c| accounts::set_disabled(c, username, disabled))
    }

    fn set_scope(&self, username: &str, role: Role, scope: &Scope, at: i64) -> StoreResult<Option<i64>> {
        let scope_json = serde_json::to_string(scope)?;
        self.write(|c| accounts::set_scope(c, username, role, &scope_json, at))
    }

    fn prior_scope(&self, user_id: &str, epoch: i64) -> StoreResult<Option<PriorScope>> {
        self.read(|c| accounts::prior_scope(c, user_id, epoch))
    }

    fn attachment_status(&self, sha256: &str) -> StoreResult<gridline_core::protocol::AttachmentStatus> {
        self.read(|c| super::sqlite_attachments::status(c, sha256))
    }

    fn put_attachment_chunk(&self, chunk: &NewChunk<'_>) -> StoreResult<ChunkOutcome> {
        self.write(|c| super::sqlite_attachments::put_chunk(c, chunk))
    }

    fn attachment(&self, sha256: &str) -> StoreResult<Option<StoredAttachment>> {
        self.read(|c| super::sqlite_attachments::get(c, sha256))
    }

    fn note_epoch_seen(&self, device_id: &str, epoch: i64) -> StoreResult<()> {
        self.write(|c| accounts::note_epoch_seen(c, device_id, epoch))
    }

    fn add_device(&self, d: &NewDevice) -> StoreResult<()> {
        self.write(|c| accounts::add_device(c, d))
    }

    fn reenroll_device(&self, d: &NewDevice) -> StoreResult<bool> {
        self.write(|c| accounts::reenroll_device(c, d))
    }

    fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceAuth>> {
        self.read(|c| accounts::device_by_token(c, token_hash))
    }

    fn devices(&self, user_id: &str) -> StoreResult<Vec<DeviceInfo>> {
        self.read(|c| accounts::devices(c, user_id))
    }

    fn revoke_device(&self, device_id: &str, at: i64) -> StoreResult<bool> {
        self.write(|c| accounts::revoke_device(c, device_id, at))
    }

    fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool> {
        self.write(|c| accounts::set_password(c, username, password_hash))
    }

    fn put_session(&self, s: &ConsoleSession, now: i64) -> StoreResult<()> {
        self.write(|c| accounts::put_session(c, s, now))
    }

    fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<ConsoleSession>> {
        self.read(|c| accounts::session(c, token_hash, now))
    }

    fn touch_session(&self, token_hash: &str, expires_at: i64) -> StoreResult<()> {
        self.write(|c| accounts::touch_session(c, token_hash, expires_at))
    }

    fn end_session(&self, token_hash: &str) -> StoreResult<()> {
        self.write(|c| accounts::end_session(c, token_hash))
    }

    fn batch(&self, f: &mut dyn FnMut(&mut dyn BatchTx) -> StoreResult<()>) -> StoreResult<()> {
        self.writer.member(|conn| {
            // First without per-op savepoints; again with them if an op had to be undone.
            let mut savepoints = false;
            loop {
                let sp = conn.savepoint()?;
                let mut b = SqliteBatch::begin(&sp, savepoints)?;
                match f(&mut b) {
                    Ok(()) => {
                        b.finish()?;
                        sp.commit()?;
                        return Ok(());
                    }
                    // Dropping `sp` rolls the attempt back.
                    Err(_) if !savepoints && b.wants_savepoints() => savepoints = true,
                    Err(e) => return Err(e),
                }
            }
        })
    }

    fn feed(&self, cursor: i64, limit: usize, max_scan: usize, visible: &VisibleFn<'_>) -> StoreResult<FeedPage> {
        self.read(|c| super::sqlite_feed::page(c, cursor, limit, max_scan, visible))
    }

    fn area_parents(&self) -> StoreResult<AreaParents> {
        self.read(load_area_parents)
    }

    fn tombstone_horizon(&self) -> StoreResult<i64> {
        self.read(tombstone_horizon)
    }

    fn purge_tombstones(&self, up_to_seq: i64) -> StoreResult<u64> {
        self.write(|c| {
            // Never past the last change: a horizon ahead of it would send every device with a
            // cursor below it back to a full re-pull on every sync, until the sequence got there.
            let up_to_seq = up_to_seq.min(last_seq(c)?);
            let n = c.execute("DELETE FROM row_meta WHERE deleted = 1 AND seq <= ?1", [up_to_seq])?;
            // A device behind the horizon starts over, so moves up to it are not asked about.
            c.execute("DELETE FROM row_moves WHERE seq <= ?1", [up_to_seq])?;
            c.execute(
                "INSERT INTO server_meta (key, value) VALUES ('tombstone_horizon', ?1) \
                 ON CONFLICT(key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
                [up_to_seq.to_string()],
            )?;
            Ok(n as u64)
        })
    }

    fn conflicts(&self, limit: usize) -> StoreResult<Vec<StoredConflict>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, entity, entity_id, field, lost_value_json, kept_value_json, lost_device, kept_device, seq, at \
                 FROM conflicts ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt
                .query_map([limit as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, entity, entity_id, field, lost, kept, lost_writer, kept_writer, seq, at)| {
                    let entity =
                        EntityKind::parse(&entity).ok_or_else(|| StoreError::Backend("stored entity is unknown".into()))?;
                    Ok(StoredConflict {
                        id,
                        conflict: ConflictRecord {
                            entity,
                            entity_id,
                            field,
                            lost_value: serde_json::from_str(&lost)?,
                            kept_value: serde_json::from_str(&kept)?,
                            lost_writer,
                            kept_writer,
                            seq,
                            at,
                        },
                    })
                })
                .collect()
        })
    }

    fn log_sync(&self, e: &SyncLogEntry) -> StoreResult<()> {
        self.write(|c| write_sync_log(c, e))
    }

    fn max_seq(&self) -> StoreResult<i64> {
        self.read(last_seq)
    }

    fn health(&self) -> StoreResult<()> {
        self.writer.check_broken()
    }

    fn set_bulk_load(&self, on: bool) -> StoreResult<()> {
        self.writer.exclusive(|conn| {
            conn.pragma_update(None, "synchronous", if on { "OFF" } else { "NORMAL" })?;
            self.writer.set_unsynced(on)?;
            if !on {
                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
            }
            Ok(())
        })
    }

    fn console(&self) -> &dyn ConsoleStore {
        self
    }

    fn fingerprint(&self) -> StoreResult<String> {
        let mut h = Sha256::new();
        // The sync log and console sessions are bookkeeping, not data.
        for (table, d) in self.table_digests()?.into_iter().filter(|(t, _)| t != "sync_log" && t != "console_sessions") {
            h.update(format!("{table}|{}|{}\n", d.rows, d.sha256).as_bytes());
        }
        Ok(hex::encode(h.finalize()))
    }

    fn table_digests(&self) -> StoreResult<BTreeMap<String, TableDigest>> {
        self.read(|c| {
            let tables: Vec<String> = c
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let mut out = BTreeMap::new();
            for t in tables {
                let mut h = Sha256::new();
                let mut rows = 0i64;
                // Every column in order, rows in key order: a canonical text of the table.
                let mut stmt = c.prepare(&format!("SELECT * FROM \"{t}\" ORDER BY 1, 2"))?;
                let n = stmt.column_count();
                let mut q = stmt.query([])?;
                while let Some(r) = q.next()? {
                    rows += 1;
                    for i in 0..n {
                        let v: rusqlite::types::Value = r.get(i)?;
                        h.update(format!("{v:?}|").as_bytes());
                    }
                    h.update(b"\n");
                }
                out.insert(t, TableDigest { rows, sha256: hex::encode(h.finalize()) });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use gridline_core::protocol::{OpResult, OpStatus};

    use super::*;
    use crate::storage::console::ConsoleStore;

    fn result(op_id: &str, status: OpStatus, version: Option<i64>) -> OpResult {
        OpResult { op_id: op_id.into(), status, version, code: None, reason: None, conflicts: Vec::new(), current: None }
    }

    fn rejected(op_id: &str, reason: &str) -> OpResult {
        OpResult { code: Some("out_of_scope".into()), reason: Some(reason.into()), ..result(op_id, OpStatus::Rejected, None) }
    }

    fn save(s: &SqliteStorage, r: &OpResult, at: i64) {
        s.write(|c| {
            let rec = AppliedOp { device_id: "d1", result: r, device_time: at, received_at: at, skew_flagged: false };
            SqliteBatch::begin(c, false)?.save_result(&r.op_id, &rec)
        })
        .unwrap();
    }

    fn stored(s: &SqliteStorage, op_id: &str) -> Option<OpResult> {
        s.write(|c| SqliteBatch::begin(c, false)?.stored_result("d1", op_id)).unwrap()
    }

    /// A batch's stored results, read as one range of the device's ops, answer exactly as
    /// look-ups op by op do: for the batch's device only, with an op saved in the batch found by
    /// a later look-up in it; and when the range holds many other ops of the device (ids not in
    /// time order), each op is looked up on its own.
    #[test]
    fn results_read_for_a_whole_batch_answer_as_lookups_op_by_op_do() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        for i in 0..200 {
            save(&s, &result(&format!("op-{i:03}"), OpStatus::Applied, Some(i)), 1_000);
        }
        save(&s, &rejected("op-011r", "不在辖区内"), 1_000);
        s.write(|c| {
            let mut b = SqliteBatch::begin(c, false)?;
            b.prefetch_results("d1", &["op-010", "op-012", "op-011r", "op-011x"])?;
            assert_eq!(b.prefetched_ops(), Some(4));
            assert_eq!(b.stored_result("d1", "op-010")?, Some(result("op-010", OpStatus::Applied, Some(10))));
            assert_eq!(b.stored_result("d1", "op-011r")?, Some(rejected("op-011r", "不在辖区内")));
            assert_eq!(b.stored_result("d1", "op-011x")?, None);
            assert_eq!(b.stored_result("d2", "op-010")?, None, "another device's op of the same id");
            let new = result("op-011x", OpStatus::Applied, Some(500));
            b.save_result("op-011x", &AppliedOp { device_id: "d1", result: &new, device_time: 1, received_at: 1, skew_flagged: false })?;
            assert_eq!(b.stored_result("d1", "op-011x")?, Some(new));

            let mut b = SqliteBatch::begin(c, false)?;
            b.prefetch_results("d1", &["op-000", "op-199", "new"])?;
            assert_eq!(b.prefetched_ops(), None, "the range holds 201 of the device's ops: not read as one");
            assert_eq!(b.stored_result("d1", "op-199")?, Some(result("op-199", OpStatus::Applied, Some(199))));
            assert_eq!(b.stored_result("d1", "new")?, None);
            Ok(())
        })
        .unwrap();
    }

    /// Every result reads back as it was saved; only one applied as sent is stored without JSON.
    #[test]
    fn a_stored_result_reads_back_as_saved_and_a_plain_one_is_stored_without_json() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let merged = OpResult { conflicts: vec!["phone".into()], ..result("op-m", OpStatus::Merged, Some(8)) };
        let results = [result("op-a", OpStatus::Applied, Some(7)), merged, rejected("op-r", "不在辖区内")];
        for (i, r) in results.iter().enumerate() {
            save(&s, r, 1_000 + i as i64);
        }
        for r in &results {
            assert_eq!(stored(&s, &r.op_id).as_ref(), Some(r));
        }
        assert_eq!(stored(&s, "op-unknown"), None);
        let json: Vec<(String, String, Option<String>)> = s
            .read(|c| {
                let mut stmt = c.prepare("SELECT op_id, result_json, status FROM applied_ops ORDER BY op_id")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap();
        assert_eq!(json[0], ("op-a".into(), String::new(), Some("applied".into())));
        assert!(json[1].1.contains("phone") && json[1].2.as_deref() == Some("merged"));
        assert!(json[2].1.contains("out_of_scope") && json[2].2.as_deref() == Some("rejected"));
        let listed = s.rejected_ops("d1", 10).unwrap();
        assert_eq!(listed.iter().map(|r| (r.op_id.as_str(), r.code.as_str(), r.reason.as_str())).collect::<Vec<_>>(), [(
            "op-r",
            "out_of_scope",
            "不在辖区内"
        )]);
    }

    /// The stored status names are the wire's, which the migration's backfill and the console's
    /// query of rejected ops read.
    #[test]
    fn stored_status_names_are_the_wire_names() {
        for s in [OpStatus::Applied, OpStatus::Duplicate, OpStatus::Merged, OpStatus::Rejected] {
            assert_eq!(serde_json::to_value(s).unwrap(), super::super::sqlite_batch::status_str(s));
        }
    }

    /// A store from before server migration s008 (results as JSON only) upgrades in place: its
    /// results read back unchanged, its rejections are listed through the new index, and the
    /// results saved after the upgrade beside them too.
    #[test]
    fn results_stored_before_the_status_columns_read_back_after_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let old = [result("op-a", OpStatus::Applied, Some(3)), rejected("op-r", "只能修改本楼住户")];
        {
            let conn = gridline_core::db::open_writer(&dir.path().join(DB_FILE), 1).unwrap();
            migrate_server_to(&conn, 7).unwrap();
            for (i, r) in old.iter().enumerate() {
                conn.execute(
                    "INSERT INTO applied_ops (device_id, op_id, result_json, device_time, received_at) VALUES ('d1', ?1, ?2, ?3, ?3)",
                    params![r.op_id, serde_json::to_string(r).unwrap(), 100 + i as i64],
                )
                .unwrap();
            }
        }
        let s = SqliteStorage::open(dir.path()).unwrap();
        for r in &old {
            assert_eq!(stored(&s, &r.op_id).as_ref(), Some(r));
        }
        save(&s, &rejected("op-r2", "记录已删除"), 200);
        let listed: Vec<String> = s.rejected_ops("d1", 10).unwrap().into_iter().map(|r| r.op_id).collect();
        assert_eq!(listed, ["op-r2", "op-r"]);
        let plan = plan(&s, super::super::sqlite_console::REJECTED_OPS, params!["d1", 10]);
        assert!(plan.iter().any(|p| p.contains("applied_ops_rejected")), "{plan:#?}");
    }

    /// The steps of `EXPLAIN QUERY PLAN` for `sql` with `params`.
    fn plan(s: &SqliteStorage, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        s.read(|c| {
            let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(params, |r| r.get::<_, String>(3))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap()
    }

    fn indexes_of(s: &SqliteStorage, table: &str) -> Vec<String> {
        s.read(|c| {
            let mut stmt = c.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 ORDER BY name")?;
            let rows = stmt.query_map([table], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap()
    }

    /// Server migration s009: a store made before it loses the devices' indexes of households
    /// by building and of residents by grid (which no server read uses) and keeps the ones the
    /// server reads through: households by grid (the dashboard's count per grid) and residents
    /// by household (a deleted household's residents).
    #[test]
    fn the_server_keeps_no_index_of_households_by_building_or_residents_by_grid() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = gridline_core::db::open_writer(&dir.path().join(DB_FILE), 1).unwrap();
            migrate_server_to(&conn, 8).unwrap();
            let n: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master WHERE name IN ('households_building', 'residents_grid')", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(n, 2, "the devices' schema has them");
        }
        let s = SqliteStorage::open(dir.path()).unwrap();
        assert_eq!(indexes_of(&s, "households"), ["households_grid", "sqlite_autoindex_households_1"]);
        assert_eq!(indexes_of(&s, "residents"), ["residents_household", "sqlite_autoindex_residents_1"]);
        let per_grid = plan(&s, super::super::sqlite_console::HOUSEHOLDS_PER_GRID, []);
        assert!(per_grid.iter().any(|p| p.contains("households_grid")), "{per_grid:#?}");
        let cascade = plan(&s, super::super::sqlite_batch::RESIDENTS_OF_HOUSEHOLD, ["h1"]);
        assert!(cascade.iter().any(|p| p.contains("residents_household")), "{cascade:#?}");
    }

    /// Server migration s010: a record moved before it keeps its one known move (the keys before
    /// it, at the record's sequence); from then on the trigger records every change of a record's
    /// keys, and nothing for an update that leaves them; a purge forgets moves up to its horizon.
    #[test]
    fn moves_are_kept_from_before_the_history_and_recorded_from_then_on() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = gridline_core::db::open_writer(&dir.path().join(DB_FILE), 1).unwrap();
            migrate_server_to(&conn, 9).unwrap();
            conn.execute_batch(
                "INSERT INTO row_meta (entity, id, seq, area_id, building_id, created_seq, created_by, moved, prev_area_id, prev_building_id) \
                 VALUES ('incident', 'I1', 7, 'G1', 'B2', 3, 'd1', 1, 'G1', 'B1'); \
                 INSERT INTO row_meta (entity, id, seq, area_id, building_id, created_seq, created_by) VALUES ('household', 'H1', 8, 'G1', 'B1', 8, 'd1'); \
                 UPDATE seq_counter SET value = 10;",
            )
            .unwrap();
        }
        let s = SqliteStorage::open(dir.path()).unwrap();
        let moves = |s: &SqliteStorage| -> Vec<(String, i64, Option<String>)> {
            s.read(|c| {
                let mut stmt = c.prepare("SELECT id, seq, building_id FROM row_moves ORDER BY seq")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .unwrap()
        };
        assert_eq!(moves(&s), [("I1".to_owned(), 7, Some("B1".to_owned()))]);
        s.write(|c| {
            c.execute_batch(
                "UPDATE row_meta SET seq = 9, building_id = 'B1' WHERE id = 'H1'; \
                 UPDATE row_meta SET seq = 10, building_id = 'B3' WHERE id = 'H1';",
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(moves(&s), [("I1".to_owned(), 7, Some("B1".to_owned())), ("H1".to_owned(), 10, Some("B1".to_owned()))]);
        assert_eq!(s.feed(0, 10, 100, &|_, _| true).unwrap().horizon, 0);
        s.purge_tombstones(8).unwrap();
        assert_eq!(moves(&s), [("H1".to_owned(), 10, Some("B1".to_owned()))]);
        // A page carries the horizon of its own snapshot (the pull checks it against the cursor).
        assert_eq!(s.feed(0, 10, 100, &|_, _| true).unwrap().horizon, 8);
    }

    /// A batch reads its ops' stored results in one go: one seek into the device's ops by
    /// primary key, then the range of its op ids in key order (no sort).
    #[test]
    fn a_batch_reads_its_stored_results_as_one_range_of_the_primary_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let p = plan(&s, super::super::sqlite_batch::RESULTS_IN_RANGE, rusqlite::params!["d1", "a", "b", 10]);
        assert_eq!(p, ["SEARCH applied_ops USING PRIMARY KEY (device_id=? AND op_id>? AND op_id<?)"]);
    }

    /// What a reader reads leaves the server only once it is on disk: a read that may have
    /// seen a commit not yet synced returns after its sync.
    #[test]
    fn a_read_that_may_have_seen_an_unsynced_commit_returns_after_its_sync() {
        use std::sync::atomic::Ordering;
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let (sync, gate) = super::super::sqlite_writer::gate::gated();
        let s = Arc::new(SqliteStorage::open_syncing(dir.path(), sync).unwrap());
        // Migrations ran before the writer's first group; none has been synced yet.
        let s_w = s.clone();
        let writer = std::thread::spawn(move || {
            s_w.write(|c| Ok(c.execute("INSERT INTO server_meta (key, value) VALUES ('k', 'v')", [])?)).map(|_| ())
        });
        gate.started.recv_timeout(std::time::Duration::from_secs(30)).expect("the commit was never synced");
        let (tx, read) = std::sync::mpsc::channel();
        let s_r = s.clone();
        std::thread::spawn(move || {
            let v = s_r.read(|c| Ok(c.query_row("SELECT value FROM server_meta WHERE key = 'k'", [], |r| r.get::<_, String>(0))?));
            tx.send(v).unwrap();
        });
        assert!(read.recv_timeout(std::time::Duration::from_millis(300)).is_err(), "the read left before the sync");
        drop(gate.release);
        assert_eq!(read.recv_timeout(std::time::Duration::from_secs(30)).expect("the read hung").unwrap(), "v");
        writer.join().unwrap().unwrap();
        assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
    }

    /// After a failed sync the storage says so (`/healthz` answers 503) and refuses writes and
    /// reads; what it holds is read again by a restart.
    #[test]
    fn after_a_failed_sync_the_storage_is_unhealthy_and_a_restart_reads_what_is_on_disk() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let (sync, gate) = super::super::sqlite_writer::gate::gated();
        drop(gate.release);
        let s = SqliteStorage::open_syncing(dir.path(), sync).unwrap();
        let put = |s: &SqliteStorage, k: &str| s.write(|c| Ok(c.execute("INSERT INTO server_meta (key, value) VALUES (?1, 'v')", [k])?));
        put(&s, "before").unwrap();
        s.health().unwrap();
        gate.fail.store(true, Ordering::SeqCst);
        assert!(put(&s, "during").is_err());
        assert!(s.health().is_err());
        assert!(s.read(|c| Ok(c.query_row("SELECT count(*) FROM server_meta", [], |r| r.get::<_, i64>(0))?)).is_err());
        drop(s);
        let s = SqliteStorage::open(dir.path()).unwrap();
        s.health().unwrap();
        let keys: Vec<String> = s
            .read(|c| Ok(c.prepare("SELECT key FROM server_meta WHERE value = 'v' ORDER BY key")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?))
            .unwrap();
        assert_eq!(keys, ["before", "during"], "a process restart keeps what the OS had (a power cut might not)");
    }
}
