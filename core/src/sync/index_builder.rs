//! A first pull's search index, built on a second thread while the pull's pages are applied.
//!
//! A pull from cursor 0 brings the whole register, and one index built at its end costs less
//! than indexing it page by page (merge.rs). Built after the last page, though, it runs on one
//! core while the other idles (about 1 s for 100,000 households). So on a file store the
//! builder indexes beside the pull: after each page commits, it reads the rows that page added
//! (a rowid range, on its own read connection) and indexes them into search tables of the same
//! definition in a scratch database of its own, all in one transaction there. When the last page
//! has committed, it copies its tables' contents over the store's search tables in one
//! transaction of its own connection, and the writer then re-indexes the rows that changed
//! after the builder read them and those written after the last page (the store's writes go
//! on while the builder finishes).
//!
//! Those rows are found by temporary triggers on the writer connection, which every write of
//! the store goes through: an update of an indexed text field or a delete records the rowid in
//! `temp.index_dirty`. How far the builder has been sent is kept in `temp.index_sent`, written
//! in the page's own transaction, so a page that rolls back moves nothing; a delete of the
//! highest rows also records how low the highest rowid fell, since new rows then take rowids
//! the builder has passed, and those rows are added to the dirty ones before each page's range
//! is sent and at the end.
//!
//! The copy is made by another connection than the store's so that the FTS5 tables of the
//! store's connections see the change (FTS5 caches an index's structure per connection until
//! `PRAGMA data_version` says another connection committed). The deferred-index mark stays set
//! until the writer's last step: a store killed before it rebuilds the index when it opens, and
//! any failure of the builder ends in the same rebuild.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

use rusqlite::types::Value;
use rusqlite::{params, Connection};

use crate::db;
use crate::entities::EntityKind;
use crate::error::Result;
use crate::search::{self, RowMarks};
use crate::store::Store;

use super::merge::INDEX_DEFERRED;

/// Kind numbers in `temp.index_sent` and `temp.index_dirty`.
const HOUSEHOLDS: i64 = 0;
const RESIDENTS: i64 = 1;

/// The indexed kinds with their numbers in the writer's bookkeeping.
const TRACKED: [(i64, EntityKind); 2] = [(HOUSEHOLDS, EntityKind::Household), (RESIDENTS, EntityKind::Resident)];

/// The writer's bookkeeping while a builder runs (temporary: this connection only). `upto` is
/// how far the builder has been sent; `low` is the table's highest rowid when it was last sent,
/// lowered by deletes of the highest rows: new rows take the rowids above it, and those up to
/// `upto` the builder will not read. Per indexed kind, a trigger notes a row the builder has
/// read when a field of its search document changes (the fields `search` indexes), another
/// when it is deleted.
fn tracking_sql() -> String {
    let mut sql = String::from(
        "CREATE TEMP TABLE IF NOT EXISTS index_sent (kind INTEGER PRIMARY KEY, upto INTEGER NOT NULL, low INTEGER NOT NULL);
         CREATE TEMP TABLE IF NOT EXISTS index_dirty (kind INTEGER NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (kind, row)) WITHOUT ROWID;",
    );
    for (kind, entity) in TRACKED {
        let (name, table, fields) = (entity.as_str(), entity.table(), search::indexed_fields(entity).join(", "));
        let read = format!("old.rowid <= (SELECT upto FROM index_sent WHERE kind = {kind})");
        sql += &format!(
            "
            INSERT OR IGNORE INTO index_sent (kind, upto, low) VALUES ({kind}, 0, 0);
            CREATE TEMP TRIGGER IF NOT EXISTS index_dirty_{name}_update AFTER UPDATE OF {fields} ON main.{table} WHEN {read}
                BEGIN INSERT OR IGNORE INTO index_dirty (kind, row) VALUES ({kind}, old.rowid); END;
            CREATE TEMP TRIGGER IF NOT EXISTS index_dirty_{name}_delete AFTER DELETE ON main.{table} WHEN {read}
                BEGIN
                    INSERT OR IGNORE INTO index_dirty (kind, row) VALUES ({kind}, old.rowid);
                    UPDATE index_sent SET low = min(low, (SELECT coalesce(max(rowid), 0) FROM main.{table})) WHERE kind = {kind};
                END;"
        );
    }
    sql
}

/// Rows the builder will not read although they may be new to it: those that took rowids at or
/// below what it was sent (after the highest rows were deleted), and with `all` (the builder
/// has stopped) also those above. They join the dirty rows, which the writer indexes at the end.
/// No trigger on inserts: it would run for every row of the pull.
fn note_unread(conn: &Connection, all: bool) -> Result<()> {
    let above = if all { "" } else { " AND rowid <= (SELECT upto FROM temp.index_sent WHERE kind = ?1)" };
    for (kind, entity) in TRACKED {
        let table = entity.table();
        conn.prepare_cached(&format!(
            "INSERT OR IGNORE INTO temp.index_dirty (kind, row) SELECT ?1, rowid FROM main.{table} \
             WHERE rowid > (SELECT low FROM temp.index_sent WHERE kind = ?1){above}"
        ))?
        .execute([kind])?;
    }
    Ok(())
}

/// Drops the writer's bookkeeping (after the builder's last step, or when it was given up).
pub(crate) fn forget(conn: &Connection) -> Result<()> {
    let mut sql = String::new();
    for (_, entity) in TRACKED {
        let name = entity.as_str();
        sql += &format!(
            "DROP TRIGGER IF EXISTS temp.index_dirty_{name}_update; DROP TRIGGER IF EXISTS temp.index_dirty_{name}_delete;"
        );
    }
    conn.execute_batch(&(sql + "DROP TABLE IF EXISTS temp.index_sent; DROP TABLE IF EXISTS temp.index_dirty;"))?;
    Ok(())
}

/// The store's search tables.
const INDEXED_TABLES: [&str; 2] = ["household_fts", "resident_fts"];

/// The shadow tables of an FTS5 table that hold its index (`_config` is made the same in both).
const SHADOWS: [&str; 3] = ["data", "idx", "docsize"];

enum Msg {
    /// Rows up to these rowids are committed: index them.
    Upto(RowMarks),
    /// The pull is over: copy the index into the store.
    Finish,
}

/// A running builder; dropping it without [`IndexBuilder::finish`] gives it up.
pub(crate) struct IndexBuilder {
    to: Option<Sender<Msg>>,
    thread: Option<JoinHandle<Result<bool>>>,
}

impl IndexBuilder {
    /// Starts a builder for the store in the file at `path` (None for a path SQLite could not
    /// be given as text: that pull rebuilds at its end instead).
    pub(crate) fn start(path: &Path) -> Option<IndexBuilder> {
        path.to_str()?;
        let (to, from) = channel();
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new().name("gridline-index".into()).spawn(move || build(path, from)).ok();
        Some(IndexBuilder { to: Some(to), thread })
    }

    /// In the transaction of a page: sets up the writer's bookkeeping (first page) and moves
    /// the builder's range to the rows there are now. Returns the marks to send once the
    /// transaction has committed.
    pub(crate) fn advance(conn: &Connection) -> Result<RowMarks> {
        conn.execute_batch(&tracking_sql())?;
        note_unread(conn, false)?;
        let marks = RowMarks::current(conn)?;
        let mut set = conn.prepare_cached("UPDATE temp.index_sent SET upto = max(upto, ?2), low = ?2 WHERE kind = ?1")?;
        set.execute([HOUSEHOLDS, marks.households])?;
        set.execute([RESIDENTS, marks.residents])?;
        Ok(marks)
    }

    /// After the page's transaction committed: the builder may index up to `marks`.
    pub(crate) fn committed(&self, marks: RowMarks) {
        if let Some(to) = &self.to {
            // A builder that has stopped is replaced by the rebuild when the pull ends.
            let _ = to.send(Msg::Upto(marks));
        }
    }

    /// The pull is over: the builder puts its index in the store, then the writer indexes the
    /// rows that changed after the builder read them or came after the last page, and clears
    /// the deferred mark. Should the builder have failed, the index is rebuilt the usual way.
    /// The store's writes go on meanwhile (a screen is not held up by the builder's last steps).
    pub(crate) fn finish(mut self, store: &Store) -> Result<()> {
        let built = self.stop(Some(Msg::Finish));
        store.write(|tx| {
            if matches!(built, Ok(true)) {
                note_unread(tx, true)?;
                let dirty: Vec<(i64, i64)> = tx
                    .prepare("SELECT kind, row FROM temp.index_dirty")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for (kind, rowid) in dirty {
                    let kind = if kind == HOUSEHOLDS { EntityKind::Household } else { EntityKind::Resident };
                    search::reindex_rowid(tx, kind, rowid)?;
                }
            } else {
                // The builder failed (its error is not the pull's: the rebuild makes it whole).
                search::rebuild(tx)?;
            }
            forget(tx)?;
            super::merge::restore_btree_indexes(tx)?;
            tx.execute("DELETE FROM meta WHERE key = ?1", [INDEX_DEFERRED])?;
            Ok(())
        })
    }

    /// Sends `last` (if any), closes the channel and waits for the thread: whether it copied
    /// its index into the store.
    fn stop(&mut self, last: Option<Msg>) -> Result<bool> {
        // Taking the sender closes the channel once `last` is in it.
        if let (Some(to), Some(msg)) = (self.to.take(), last) {
            let _ = to.send(msg);
        }
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Ok(false)),
            None => Ok(false),
        }
    }
}

impl Drop for IndexBuilder {
    fn drop(&mut self) {
        let _ = self.stop(None);
    }
}

/// The builder's thread: indexes each range it is sent; on `Finish`, copies its index into
/// the store and returns true; when the channel closes first, gives up and returns false.
fn build(path: PathBuf, from: Receiver<Msg>) -> Result<bool> {
    let scratch = scratch_path(&path);
    let built = build_in(&path, &scratch, from);
    // The scratch file is the builder's alone; it goes whatever happened.
    let _ = std::fs::remove_file(&scratch);
    built
}

/// Where the builder keeps its tables: a file beside the store (the app's own directory, which
/// a phone's temporary directory may not be), so a large register spills to disk instead of
/// growing in memory. Not journaled or synced: it is thrown away after the copy.
fn scratch_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-index");
    PathBuf::from(name)
}

/// Removes the scratch database of the store at `store`, if a builder left one (the app was
/// killed while it ran; the store found its index deferred when it opened).
pub(crate) fn remove_scratch(store: &Path) {
    let _ = std::fs::remove_file(scratch_path(store));
}

fn build_in(path: &Path, scratch: &Path, from: Receiver<Msg>) -> Result<bool> {
    let src = db::open_reader(path)?;
    // A file left by a builder that was killed is of no use.
    let _ = std::fs::remove_file(scratch);
    let idx = Connection::open(scratch)?;
    idx.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -32768;")?;
    make_tables(&src, &idx)?;
    idx.execute_batch("BEGIN")?;
    let mut done = RowMarks::default();
    loop {
        let upto = match from.recv() {
            Ok(Msg::Upto(m)) => m,
            Ok(Msg::Finish) => break,
            Err(_) => return Ok(false),
        };
        search::index_range(&src, &idx, done, upto)?;
        done = RowMarks { households: done.households.max(upto.households), residents: done.residents.max(upto.residents) };
    }
    idx.execute_batch("COMMIT")?;
    drop(src);
    copy_into(&idx, path)?;
    Ok(true)
}

/// Makes the store's two search tables in `idx` as the store has them: the definition read
/// from its schema and its settings (`_config`, but for FTS5's own version row) applied through
/// FTS5, so the contents copied back fit whatever migration made the store's tables.
fn make_tables(src: &Connection, idx: &Connection) -> Result<()> {
    for table in INDEXED_TABLES {
        let sql: String = src.query_row("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))?;
        idx.execute_batch(&sql)?;
        let mut settings = src.prepare(&format!("SELECT k, v FROM {table}_config WHERE k <> 'version'"))?;
        let mut rows = settings.query([])?;
        while let Some(r) = rows.next()? {
            let (key, value): (Value, Value) = (r.get(0)?, r.get(1)?);
            idx.execute(&format!("INSERT INTO {table} ({table}, rank) VALUES (?1, ?2)"), params![key, value])?;
        }
    }
    Ok(())
}

/// Replaces the store's search index with the one built in `idx`, in one transaction.
fn copy_into(idx: &Connection, path: &Path) -> Result<()> {
    idx.busy_timeout(std::time::Duration::from_secs(5))?;
    idx.execute("ATTACH DATABASE ?1 AS device", [path.to_str()])?;
    // Derived data: a copy lost to power loss leaves the deferred mark set, and the store
    // rebuilds the index when it opens.
    idx.pragma_update(Some("device"), "synchronous", "NORMAL")?;
    idx.execute_batch("BEGIN IMMEDIATE")?;
    let copied = (|| -> Result<()> {
        for table in INDEXED_TABLES {
            for shadow in SHADOWS {
                let name = format!("{table}_{shadow}");
                idx.execute(&format!("DELETE FROM device.{name}"), [])?;
                idx.execute(&format!("INSERT INTO device.{name} SELECT * FROM main.{name}"), [])?;
            }
        }
        Ok(())
    })();
    match copied {
        Ok(()) => idx.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = idx.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    idx.execute_batch("DETACH DATABASE device")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde_json::{json, Value};

    use super::*;
    use crate::protocol::Change;
    use crate::record;
    use crate::sync::merge::{apply_page, defer_index, finish_deferred_index, index_deferred};

    fn change(entity: EntityKind, id: String, seq: i64, fields: Value) -> Change {
        Change { seq, entity, id, deleted: false, version: None, fields: fields.as_object().cloned().unwrap() }
    }

    fn household(i: usize, seq: i64, name: &str) -> Change {
        change(EntityKind::Household, format!("h{i}"), seq, json!({
            "building_id": "b1", "grid_id": "g1", "room": format!("{}0{}", i % 9 + 1, i % 4 + 1),
            "address": format!("江海区白沙大道{}号{}0{}房", i % 7 + 1, i % 9 + 1, i % 4 + 1),
            "head_name": name, "phone": format!("138{:08}", i * 7919), "member_count": 3, "care_tags": [], "notes": "",
        }))
    }

    fn resident(i: usize, seq: i64, name: &str) -> Change {
        change(EntityKind::Resident, format!("r{i}"), seq, json!({
            "household_id": format!("h{}", i % 50 + 1), "building_id": "b1", "grid_id": "g1", "name": name,
            "id_number": "", "phone": format!("139{:08}", i * 104_729), "birth_date": null, "relation": "子女", "tags": [], "notes": "",
        }))
    }

    fn tombstone(entity: EntityKind, id: String, seq: i64) -> Change {
        Change { seq, entity, id, deleted: true, version: None, fields: Default::default() }
    }

    const SURNAMES: [char; 6] = ['王', '李', '张', '刘', '陈', '杨'];
    const GIVEN: [char; 8] = ['芳', '伟', '娜', '敏', '静', '丽', '强', '磊'];

    fn name(i: usize) -> String {
        format!("{}{}", SURNAMES[i % 6], GIVEN[(i / 6) % 8])
    }

    /// Every term of every document (current, and `old` ones no row should still be found by)
    /// matches exactly the rows whose current document has it; FTS5's own check passes.
    fn assert_index_is_the_rows(store: &Store, old: &BTreeSet<String>) {
        store.write(|c| {
            index_is_the_rows(c, old);
            Ok(())
        })
        .unwrap();
    }

    fn index_is_the_rows(conn: &Connection, old: &BTreeSet<String>) {
        for (kind, table) in [(EntityKind::Household, "household_fts"), (EntityKind::Resident, "resident_fts")] {
            let docs = search::documents(conn, kind).unwrap();
            let mut want: BTreeMap<String, BTreeSet<i64>> = old.iter().map(|t| (t.clone(), BTreeSet::new())).collect();
            for (rowid, doc) in &docs {
                for term in doc.split_whitespace() {
                    want.entry(term.to_owned()).or_default().insert(*rowid);
                }
            }
            let mut stmt = conn.prepare(&format!("SELECT rowid FROM {table} WHERE {table} MATCH ?1")).unwrap();
            for (term, rows) in &want {
                let got: BTreeSet<i64> =
                    stmt.query_map([format!("\"{term}\"")], |r| r.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap();
                assert_eq!(&got, rows, "{table}: rows found by {term}");
            }
            conn.execute(&format!("INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 0)"), []).unwrap();
        }
    }

    fn terms(conn: &Connection) -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        for kind in [EntityKind::Household, EntityKind::Resident] {
            for (_, doc) in search::documents(conn, kind).unwrap() {
                all.extend(doc.split_whitespace().map(str::to_owned));
            }
        }
        all
    }

    /// A store in a file of a fresh directory (kept alive with it).
    fn file_store() -> (tempfile::TempDir, std::path::PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let store = Store::open(&path).unwrap();
        (dir, path, store)
    }

    /// How many hits a search finds.
    fn found(store: &Store, q: &str) -> usize {
        store.read(|c| search::search(c, None, q, 100)).unwrap().len()
    }

    /// Temporary tables and triggers on the writer connection.
    fn temp_objects(store: &Store) -> i64 {
        store.write(|c| Ok(c.query_row("SELECT count(*) FROM sqlite_temp_master", [], |r| r.get(0))?)).unwrap()
    }

    /// The store's schema (`db::schema_dump`).
    fn schema(store: &Store) -> Vec<(String, String, String)> {
        store.read(crate::db::schema_dump).unwrap()
    }

    /// The schema is that of a store just made: the indexes a first pull dropped are back.
    fn assert_indexes_whole(store: &Store) {
        assert_eq!(schema(store), schema(&Store::open_in_memory().unwrap()));
    }

    /// One page of a pull with a builder beside it.
    fn page(store: &Store, builder: &IndexBuilder, changes: &[Change], cursor: i64) {
        let marks = store
            .write_bulk(|tx| {
                defer_index(tx)?;
                apply_page(tx, changes, cursor, false)?;
                IndexBuilder::advance(tx)
            })
            .unwrap();
        builder.committed(marks);
    }

    /// A first pull whose later pages rename, delete and add rows the builder may already have
    /// indexed (the highest rows deleted, so new ones reuse their rowids), with a local edit
    /// between pages: the index it leaves is exactly that of the rows, whichever way the
    /// builder's reads and the pages interleave.
    #[test]
    fn an_index_built_beside_a_pull_is_exactly_the_index_of_its_rows() {
        for pause in [None, Some(std::time::Duration::from_millis(150))] {
            let (_dir, path, store) = file_store();
            let builder = IndexBuilder::start(&path).unwrap();
            let first: Vec<Change> =
                (1..=60).map(|i| household(i, i as i64, &name(i))).chain((1..=40).map(|i| resident(i, 100 + i as i64, &name(i + 3)))).collect();
            page(&store, &builder, &first, 140);
            let during: Vec<String> = schema(&store).into_iter().map(|(_, name, _)| name).collect();
            let deferred = ["households_", "residents_", "incidents_", "visits_"];
            assert!(!during.iter().any(|n| deferred.iter().any(|t| n.starts_with(t))), "{during:?}");
            let old = store.read(|c| Ok(terms(c))).unwrap();
            if let Some(p) = pause {
                std::thread::sleep(p);
            }
            // A local edit between pages, as a screen makes it (indexed at once, deferred or not).
            store
                .write(|tx| {
                    let fields: record::Fields = json!({"head_name": "赵本地"}).as_object().cloned().unwrap();
                    record::update(tx, EntityKind::Household, "h20", &fields)?;
                    let row = record::get(tx, EntityKind::Household, "h20")?.unwrap();
                    search::on_write(tx, EntityKind::Household, "h20", Some(&row.fields), false)
                })
                .unwrap();
            let mut second: Vec<Change> = (1..=10).map(|i| household(i, 200 + i as i64, &format!("欧阳{}", GIVEN[i % 8]))).collect();
            second.extend([11, 12, 13, 60].map(|i| tombstone(EntityKind::Household, format!("h{i}"), 220 + i as i64)));
            second.extend((61..=70).map(|i| household(i, 300 + i as i64, &name(i))));
            second.extend((1..=5).map(|i| resident(i, 400 + i as i64, "司马光")));
            second.extend([20, 40].map(|i| tombstone(EntityKind::Resident, format!("r{i}"), 420 + i as i64)));
            second.extend((41..=45).map(|i| resident(i, 500 + i as i64, &name(i))));
            page(&store, &builder, &second, 600);
            page(&store, &builder, &[household(71, 700, "钱末页"), resident(46, 701, "孙末页")], 701);
            // Rows written after the last page, before the builder has finished, above its range.
            store.write(|tx| apply_page(tx, &[household(72, 702, "卫最后"), resident(47, 703, "蒋最后")], 703, false)).unwrap();
            builder.finish(&store).unwrap();

            assert!(!store.read(index_deferred).unwrap());
            assert_indexes_whole(&store);
            assert!(!scratch_path(&path).exists(), "the scratch database is removed");
            assert_eq!(temp_objects(&store), 0, "the writer's triggers and tables are gone");
            let reused: i64 =
                store.read(|c| Ok(c.query_row("SELECT rowid FROM households WHERE id = 'h61'", [], |r| r.get(0))?)).unwrap();
            assert_eq!(reused, 60, "the new household took the deleted highest row's rowid");
            assert_index_is_the_rows(&store, &old);
            // The store's own connections see the copied index, and keep it current afterwards.
            let hits = ["欧阳", "赵本地", "司马光", "钱末页", "孙末页", "卫最后", "蒋最后"].map(|q| found(&store, q));
            assert_eq!(hits, [10, 1, 5, 1, 1, 1, 1]);
            store
                .write(|tx| {
                    search::on_write(tx, EntityKind::Household, "h71", None, false)?;
                    record::delete(tx, EntityKind::Household, "h71")
                })
                .unwrap();
            assert_eq!(found(&store, "钱末页"), 0);
            assert_index_is_the_rows(&store, &old);
        }
    }

    /// Rows deleted before a pull began leave gaps in the rowids; once the highest rows go, a
    /// new row fills a gap below what the builder was sent, during a page or after the last one.
    /// Such rows are indexed too.
    #[test]
    fn a_row_inserted_into_an_old_gap_below_the_builders_range_is_indexed() {
        let (_dir, path, store) = file_store();
        let before: Vec<Change> = (1..=10).map(|i| household(i, i as i64, &name(i))).collect();
        store.write(|tx| apply_page(tx, &before, 10, true)).unwrap();
        let gone: Vec<Change> = (3..=9).map(|i| tombstone(EntityKind::Household, format!("h{i}"), 10 + i as i64)).collect();
        store.write(|tx| apply_page(tx, &gone, 19, true)).unwrap();
        let old = store.read(|c| Ok(terms(c))).unwrap();
        let builder = IndexBuilder::start(&path).unwrap();
        page(&store, &builder, &[household(100, 20, "吴首页")], 20);
        std::thread::sleep(std::time::Duration::from_millis(150));
        let last = [tombstone(EntityKind::Household, "h100".into(), 21), tombstone(EntityKind::Household, "h10".into(), 22), household(101, 23, "郑补位")];
        page(&store, &builder, &last, 23);
        let rowid = |id: &str| -> i64 {
            store.read(|c| Ok(c.query_row("SELECT rowid FROM households WHERE id = ?1", [id], |r| r.get(0))?)).unwrap()
        };
        assert_eq!(rowid("h101"), 3, "the new row took a rowid from the old gap");
        // And once more after the last page, before the builder is finished, with no delete.
        store.write(|tx| apply_page(tx, &[household(102, 24, "冯最后")], 24, false)).unwrap();
        assert_eq!(rowid("h102"), 4);
        builder.finish(&store).unwrap();
        assert_eq!((found(&store, "冯最后"), found(&store, "郑补位"), found(&store, "吴首页")), (1, 1, 0));
        assert_index_is_the_rows(&store, &old);
    }

    /// A pull that stops before its end gives the builder up: nothing is copied, and the usual
    /// rebuild makes the index whole and removes the writer's bookkeeping.
    #[test]
    fn a_builder_given_up_leaves_the_index_to_the_rebuild() {
        let (_dir, path, store) = file_store();
        let builder = IndexBuilder::start(&path).unwrap();
        page(&store, &builder, &(1..=30).map(|i| household(i, i as i64, &name(i))).collect::<Vec<_>>(), 30);
        drop(builder);
        assert!(!scratch_path(&path).exists(), "the scratch database is removed");
        assert_eq!(found(&store, &name(1)), 0, "not searchable before the rebuild");
        assert!(store.write_bulk(|tx| finish_deferred_index(tx)).unwrap());
        assert_indexes_whole(&store);
        assert!(found(&store, &name(1)) > 0);
        assert_eq!(temp_objects(&store), 0);
        assert_index_is_the_rows(&store, &BTreeSet::new());
    }

    /// A builder killed with the app leaves its scratch file and the deferred mark: the store
    /// opened again rebuilds the index and removes the file.
    #[test]
    fn a_store_reopened_after_a_killed_builder_removes_its_scratch_file() {
        let (_dir, path, store) = file_store();
        store.write(|tx| {
            defer_index(tx)?;
            apply_page(tx, &[household(1, 1, "王芳")], 1, false)
        })
        .unwrap();
        drop(store);
        std::fs::write(scratch_path(&path), b"left over").unwrap();
        let store = Store::open(&path).unwrap();
        assert!(!scratch_path(&path).exists());
        assert_eq!(found(&store, "王芳"), 1);
        assert_indexes_whole(&store);
    }

    /// The builder's tables are defined and set as the store's (their contents are copied across).
    #[test]
    fn the_builders_tables_are_the_stores() {
        let (_dir, _, store) = file_store();
        let dump = |c: &Connection| -> Vec<(String, String)> {
            let mut stmt = c.prepare("SELECT name, sql FROM sqlite_master WHERE name LIKE '%_fts%' ORDER BY name").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap()
        };
        let config = |c: &Connection| -> Vec<(String, String)> {
            let mut stmt = c.prepare("SELECT k, v FROM household_fts_config UNION ALL SELECT k, v FROM resident_fts_config").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, rusqlite::types::Value>(1).map(|v| format!("{v:?}"))?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let built = Connection::open_in_memory().unwrap();
        store.read(|c| make_tables(c, &built)).unwrap();
        let (mine, theirs) = store.write(|c| Ok((dump(c), config(c)))).unwrap();
        assert_eq!(dump(&built), mine);
        assert_eq!(config(&built), theirs);
        let shadows: BTreeSet<String> = mine.iter().map(|(n, _)| n.clone()).filter(|n| n.starts_with("household_fts_")).collect();
        let expected: BTreeSet<String> = SHADOWS.iter().chain(&["config"]).map(|s| format!("household_fts_{s}")).collect();
        assert_eq!(shadows, expected, "every shadow table but _config is copied");
    }
}
