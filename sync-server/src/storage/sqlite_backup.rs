//! Backups of the embedded database while the server runs: a consistent snapshot written with
//! `VACUUM INTO` from a read-only connection (a reader: the server's writer goes on meanwhile),
//! checked, synced to disk and only then given its name, so a backup file that exists is whole.
//!
//! A restore puts a backup in place of a stopped server's database. The changes accepted after
//! the backup are gone from the server, but devices that pulled them hold cursors past the
//! backup's sequence: pulling from there they would miss the changes the server numbers anew.
//! So a restore moves the sequence far past any cursor ([`RESTORE_GAP`]) and sets the tombstone
//! horizon there: every device's next pull is told to re-bootstrap (its outbox is kept and
//! pushed first), and it ends up with exactly what the server holds.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::sqlite::DB_FILE;
use super::{StoreError, StoreResult};

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The last change sequence in the backup.
    pub seq: i64,
    /// Users in the backup.
    pub users: i64,
    /// The backup file's size in bytes.
    pub bytes: u64,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Removes a file if it is there.
fn remove_if_present(path: &Path) -> StoreResult<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(backend(e)),
    }
}

/// Syncs a file, or a directory's entries, to disk.
fn sync_path(path: &Path) -> StoreResult<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(backend)
}

/// How far a restore moves the change sequence past the backup's: more changes than a server
/// accepts between two backups (a million a day would take over two thousand years), so every
/// cursor a device holds is below it.
pub const RESTORE_GAP: i64 = 1_000_000_000_000;

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreInfo {
    /// The backup's last change sequence.
    pub backup_seq: i64,
    /// The sequence the server goes on from (also the tombstone horizon).
    pub seq: i64,
    /// Where the database that was replaced now is (None: the data dir had none).
    pub replaced: Option<PathBuf>,
}

/// How a restore ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// The backup is the server's database now.
    Done(RestoreInfo),
    /// A server has the database open (its exclusive lock was not granted): nothing changed.
    ServerRunning,
}

/// Puts the backup `from` in place of `<data_dir>/gridline.sqlite`, which is kept beside it as
/// `gridline.sqlite.before-restore-<ms>`. Nothing changes while a server has the database open,
/// or if the backup is not a whole database of this server (an error).
pub fn restore(data_dir: &Path, from: &Path, now_ms: i64) -> StoreResult<Restored> {
    let info = check(from)?;
    let db = data_dir.join(DB_FILE);
    let staged = data_dir.join(format!("{DB_FILE}.restoring"));
    std::fs::create_dir_all(data_dir).map_err(backend)?;
    std::fs::copy(from, &staged).map_err(backend)?;
    let seq = info.seq + RESTORE_GAP;
    {
        let mut c = Connection::open(&staged)?;
        let tx = c.transaction()?;
        tx.execute("UPDATE seq_counter SET value = ?1 WHERE id = 1", [seq])?;
        tx.execute(
            "INSERT INTO server_meta (key, value) VALUES ('tombstone_horizon', ?1) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [seq.to_string()],
        )?;
        tx.commit()?;
    }
    sync_path(&staged)?;
    let replaced = if db.exists() {
        // A server with the database open keeps the exclusive lock from being granted. Closing
        // this connection, the last one, folds any WAL a crash left into the file moved aside.
        let c = Connection::open(&db)?;
        let locked = c
            .pragma_update(None, "locking_mode", "EXCLUSIVE")
            .and_then(|()| c.execute_batch("BEGIN EXCLUSIVE; COMMIT;"));
        if let Err(e) = locked {
            let _ = std::fs::remove_file(&staged);
            return match e {
                rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => Ok(Restored::ServerRunning),
                e => Err(e.into()),
            };
        }
        drop(c);
        let aside = data_dir.join(format!("{DB_FILE}.before-restore-{now_ms}"));
        std::fs::rename(&db, &aside).map_err(backend)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = db.as_os_str().to_owned();
            side.push(suffix);
            remove_if_present(Path::new(&side))?;
        }
        Some(aside)
    } else {
        None
    };
    if let Err(e) = std::fs::rename(&staged, &db) {
        // Put the database that was there back.
        if let Some(aside) = &replaced {
            let _ = std::fs::rename(aside, &db);
        }
        return Err(backend(e));
    }
    sync_path(data_dir)?;
    Ok(Restored::Done(RestoreInfo { backup_seq: info.seq, seq, replaced }))
}

/// Writes a consistent copy of `<data_dir>/gridline.sqlite` to `to`, which must not exist yet.
/// The copy is written beside `to` under a `.partial` name, checked (`PRAGMA quick_check`),
/// synced, and renamed to `to`; an interrupted backup leaves at most the `.partial` file, which
/// the next backup replaces.
pub fn backup(data_dir: &Path, to: &Path) -> StoreResult<BackupInfo> {
    let src = data_dir.join(DB_FILE);
    if !src.is_file() {
        return Err(StoreError::Backend(format!("no database in {}", data_dir.display())));
    }
    if to.exists() {
        return Err(StoreError::AlreadyExists);
    }
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    remove_if_present(&partial)?;
    let conn = Connection::open_with_flags(&src, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = partial.to_str().ok_or_else(|| StoreError::Backend("the backup path is not valid UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    drop(conn);
    let info = check(&partial)?;
    // The register is personal data: the backup is readable by its owner only.
    std::fs::set_permissions(&partial, std::os::unix::fs::PermissionsExt::from_mode(0o600)).map_err(backend)?;
    // SQLite does not sync the file VACUUM INTO writes: the backup is synced before it is named,
    // and the directory after, so the name never points at a file the disk does not hold.
    sync_path(&partial)?;
    std::fs::rename(&partial, to).map_err(backend)?;
    let dir = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    sync_path(dir)?;
    Ok(info)
}

/// Opens a written backup and checks it reads as a whole database of this server.
fn check(path: &Path) -> StoreResult<BackupInfo> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let ok: String = c.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if ok != "ok" {
        return Err(StoreError::Backend(format!("the backup failed its check: {ok}")));
    }
    let seq = super::sqlite::last_seq(&c)?;
    let users = c.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?;
    let bytes = std::fs::metadata(path).map_err(backend)?.len();
    Ok(BackupInfo { seq, users, bytes })
}
