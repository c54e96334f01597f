//! SQLite connections: pragmas, migrations keyed on `PRAGMA user_version`.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::Result;

/// Numbered migrations; a shipped migration is never edited, only appended to.
pub const MIGRATIONS: &[(&str, &str)] = &[
    ("001_init", include_str!("migrations/001_init.sql")),
    ("002_search", include_str!("migrations/002_search.sql")),
    ("003_attachments", include_str!("migrations/003_attachments.sql")),
    ("004_search_rowids_only", include_str!("migrations/004_search_rowids_only.sql")),
];

/// A migration's code step, run after its SQL in the same transaction (version it belongs to).
fn migration_code(version: u32, conn: &Connection) -> Result<()> {
    match version {
        // The search tables were made again: fill them from the register.
        4 => crate::search::rebuild(conn),
        _ => Ok(()),
    }
}

/// The schema version a fully migrated store has.
pub fn latest_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Pages the WAL may grow to before a write folds it into the database file.
pub const WAL_AUTOCHECKPOINT_PAGES: i64 = 4000;

fn configure(conn: &Connection, file: bool) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    if file {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: a user's write is on disk when the call returns, even across power loss.
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Fold the WAL into the database every 4,000 pages (16 MiB) instead of 1,000: a
        // checkpoint syncs the database file on the writer's path, and at the default a screen's
        // single edits met one every ~125 writes. A sync folds it at its end (Store::sync).
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    }
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens the writer connection on a file and migrates it to `target` (normally the latest).
pub fn open_writer(path: &Path, target: u32) -> Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn, true)?;
    migrate(&conn, target)?;
    Ok(conn)
}

/// Opens a read-only connection beside the writer.
pub fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    configure(&conn, false)?;
    Ok(conn)
}

/// Opens an in-memory database migrated to `target`.
pub fn open_memory(target: u32) -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    configure(&conn, false)?;
    migrate(&conn, target)?;
    Ok(conn)
}

/// Current `user_version`.
pub fn schema_version(conn: &Connection) -> Result<u32> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Applies every migration above the current version up to `target`, each in its own transaction.
pub fn migrate(conn: &Connection, target: u32) -> Result<()> {
    let current = schema_version(conn)?;
    for (i, (_, sql)) in MIGRATIONS.iter().enumerate().take(target as usize).skip(current as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        migration_code((i + 1) as u32, &tx)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema as SQLite sees it (sorted `sqlite_master` entries): for migration tests.
pub fn schema_dump(conn: &Connection) -> Result<Vec<(String, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT type, name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
