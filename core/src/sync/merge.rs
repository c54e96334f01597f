//! Applying pulled pages: rows upserted, tombstones applied, the page's cursor saved in the
//! same transaction, and pending local edits re-applied on top (DESIGN.md sync rule 6).

use rusqlite::Connection;

use crate::entities::EntityKind;
use crate::error::Result;
use crate::outbox::PendingRecords;
use crate::protocol::{Change, Op, OpKind};
use crate::store::{meta_get, meta_set};
use crate::{mutate, outbox, record, search};

/// Meta key of the pull cursor.
pub(crate) const CURSOR: &str = "pull_cursor";
/// Meta key of the scope epoch the rows were pulled under.
pub(crate) const SCOPE_EPOCH: &str = "scope_epoch";
/// Meta key set while a pull from cursor 0 (a first pull, or a re-pull after a purge) leaves
/// the search index to its end: built beside the pull on a file store (`index_builder`),
/// otherwise one rebuild ([`finish_deferred_index`]).
pub(crate) const INDEX_DEFERRED: &str = "search_index_deferred";

/// Applies one page and its cursor. Returns whether areas changed (the area cache is stale).
///
/// The bulk path of a pull: each row is upserted with the fields the page carries (no re-read),
/// a row new on this device gets its search entry without a delete first, and the outbox is
/// consulted once per page (only records with pending ops re-apply them).
///
/// With `index` false the page's rows get no search entries: the caller has marked the index
/// deferred ([`defer_index`]) and makes it whole when the pull ends.
pub(crate) fn apply_page(conn: &Connection, changes: &[Change], next_cursor: i64, index: bool) -> Result<bool> {
    let areas_changed = apply_changes(conn, changes, index)?;
    meta_set(conn, CURSOR, &next_cursor.to_string())?;
    Ok(areas_changed)
}

/// [`apply_page`] without a cursor (also a rejected op's record as the server sent it back).
fn apply_changes(conn: &Connection, changes: &[Change], index: bool) -> Result<bool> {
    let mut areas_changed = false;
    let pending = outbox::pending_records(conn)?;
    for c in changes {
        areas_changed |= c.entity == EntityKind::Area;
        // A row re-sent to new readers keeps its version (an incident's earlier events).
        let version = c.version.unwrap_or(c.seq);
        let indexed = index && search::indexes(c.entity);
        if c.deleted {
            if indexed {
                search::on_write(conn, c.entity, &c.id, None, false)?;
            }
            record::delete(conn, c.entity, &c.id)?;
        } else if indexed {
            let before = search::stored_entry(conn, c.entity, &c.id, &c.fields)?;
            record::upsert(conn, c.entity, &c.id, version, &c.fields)?;
            match before {
                // The upsert keeps the rowid, and the indexed text did not change.
                Some((_, true)) => {}
                Some((rowid, false)) => search::index_row(conn, c.entity, rowid, Some(&c.fields), false)?,
                None => search::index_row(conn, c.entity, conn.last_insert_rowid(), Some(&c.fields), true)?,
            }
        } else {
            record::upsert(conn, c.entity, &c.id, version, &c.fields)?;
        }
        if !pending.is_empty() {
            reapply_pending(conn, c, &pending)?;
        }
    }
    Ok(areas_changed)
}

/// Local edits not yet acknowledged win over the pulled row until the server has them.
fn reapply_pending(conn: &Connection, c: &Change, pending: &PendingRecords) -> Result<()> {
    let (entity, id) = match c.entity {
        // Events are separate rows; a pending event on the incident shows in its status.
        EntityKind::IncidentEvent => {
            let incident = c.fields.get("incident_id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            (EntityKind::Incident, incident)
        }
        e => (e, c.id.clone()),
    };
    if !pending.contains(&(entity, id.clone())) {
        return Ok(());
    }
    let pending = outbox::pending_for(conn, entity, &id)?;
    if pending.is_empty() {
        return Ok(());
    }
    let mut events = false;
    for op in &pending {
        match op.kind {
            OpKind::Event => events = true,
            _ if c.entity == EntityKind::IncidentEvent => {}
            _ => mutate::apply_op(conn, op)?,
        }
    }
    if events {
        crate::incidents::recompute(conn, &id)?;
    }
    Ok(())
}

/// Meta key holding, while a pull from cursor 0 runs, the SQL of the register's secondary
/// B-tree indexes it dropped (a JSON list): made again in one sort each when the pull ends
/// ([`restore_btree_indexes`]) instead of kept row by row.
pub(crate) const BTREE_DEFERRED: &str = "btree_indexes_deferred";

/// The tables a first pull fills by the thousand. Not `incident_events`: re-applying a pending
/// event recomputes its incident's status from them (through their index) during the pull.
const BULK_TABLES: &[&str] = &["households", "residents", "incidents", "visits"];

/// Marks the search index as deferred (in the transaction of the page that starts it): until
/// [`finish_deferred_index`] runs, rows pulled meanwhile are not searchable. The first time,
/// also drops the register's secondary B-tree indexes until the pull's last page
/// ([`restore_btree_indexes`]); the rows' own keys stay, so look-ups by id do not change.
pub(crate) fn defer_index(conn: &Connection) -> Result<()> {
    if meta_get(conn, BTREE_DEFERRED)?.is_none() {
        let mut sqls = Vec::new();
        let mut stmt = conn.prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY name",
        )?;
        for table in BULK_TABLES {
            let found: Vec<(String, String)> =
                stmt.query_map([table], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            for (name, sql) in found {
                conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
                sqls.push(sql);
            }
        }
        meta_set(conn, BTREE_DEFERRED, &serde_json::to_string(&sqls)?)?;
    }
    meta_set(conn, INDEX_DEFERRED, "1")
}

/// Makes again the B-tree indexes [`defer_index`] dropped, if it did; returns whether it did.
/// Run with a pull's last page, and wherever a deferred search index is made whole (a pull that
/// stopped halfway, a store opened after the app was killed during one).
pub(crate) fn restore_btree_indexes(conn: &Connection) -> Result<bool> {
    let Some(list) = meta_get(conn, BTREE_DEFERRED)? else { return Ok(false) };
    let sqls: Vec<String> = serde_json::from_str(&list)?;
    for sql in sqls {
        conn.execute_batch(&sql)?;
    }
    conn.execute("DELETE FROM meta WHERE key = ?1", [BTREE_DEFERRED])?;
    Ok(true)
}

/// Whether a pull has left the search index to a rebuild that has not run yet.
pub(crate) fn index_deferred(conn: &Connection) -> Result<bool> {
    Ok(meta_get(conn, INDEX_DEFERRED)?.is_some())
}

/// Rebuilds the search index from the register if a pull deferred it, and clears the mark;
/// returns whether it did. Run at the end of that pull on an in-memory store (a file store's
/// pull builds the index beside it: `index_builder`), when a sync stops before its end, and
/// when a store opens with the mark still set (the app was killed during its first pull).
///
/// One rebuild of a whole first pull costs less than indexing it page by page (no look-up of
/// each row's old entry, no segment flush and merge at every page's commit).
pub(crate) fn finish_deferred_index(conn: &Connection) -> Result<bool> {
    restore_btree_indexes(conn)?;
    if !index_deferred(conn)? {
        return Ok(false);
    }
    search::rebuild(conn)?;
    super::index_builder::forget(conn)?;
    conn.execute("DELETE FROM meta WHERE key = ?1", [INDEX_DEFERRED])?;
    Ok(true)
}

/// Undoes the local effect of an op the server rejected, so the device comes back to the
/// server's state (DESIGN.md sync rules 3 and 6): a row or event that exists only here (version
/// 0) is removed, and the record the op changed is put back from `current`, the server's copy
/// sent with the rejection (the op has already left the outbox; edits still pending on the
/// record are applied over it, as over a pulled row). Without a copy, or with one older than
/// the row here (a rejection stored before this device pulled newer changes), the pull cursor
/// is moved back instead so the next pull brings the record again (its feed entry is at or
/// after the version the device knew).
pub(crate) fn revert_rejected(conn: &Connection, op: &Op, code: &str, current: Option<&Change>) -> Result<()> {
    let local_only = |kind: EntityKind, id: &str| -> Result<Option<record::Row>> {
        Ok(record::get(conn, kind, id)?.filter(|r| r.version == 0))
    };
    let mut refetch_from = None;
    match op.kind {
        OpKind::Event => {
            let event_id = op.fields.get("id").and_then(|v| v.as_str()).unwrap_or_default();
            if local_only(EntityKind::IncidentEvent, event_id)?.is_some() {
                record::delete(conn, EntityKind::IncidentEvent, event_id)?;
            }
            if let Some(incident) = record::get(conn, EntityKind::Incident, &op.entity_id)? {
                crate::incidents::recompute(conn, &op.entity_id)?;
                refetch_from = Some(incident.version);
            }
        }
        OpKind::Create => {
            if let Some(row) = local_only(op.entity, &op.entity_id)? {
                search::on_write(conn, op.entity, &op.entity_id, None, false)?;
                record::delete(conn, op.entity, &op.entity_id)?;
                match op.entity {
                    EntityKind::Incident if local_only(EntityKind::IncidentEvent, &op.entity_id)?.is_some() => {
                        record::delete(conn, EntityKind::IncidentEvent, &op.entity_id)?;
                    }
                    EntityKind::PatrolTrack => {
                        if let Some(p) = row.fields.get("patrol_id").and_then(|v| v.as_str()) {
                            if record::exists(conn, EntityKind::Patrol, p)? {
                                crate::patrols::recompute_distance(conn, p)?;
                            }
                        }
                    }
                    _ => {}
                }
            }
            // A record of that id exists on the server: fetch everything again to get it.
            if code == "already_exists" {
                refetch_from = Some(0);
            }
        }
        OpKind::Update | OpKind::Delete => {
            let local = record::get(conn, op.entity, &op.entity_id)?.map(|r| r.version).unwrap_or(0);
            // Neither known to the server (its create was rejected too): nothing to fetch.
            refetch_from = match (op.base_version, local) {
                (0, 0) => None,
                (0, v) | (v, 0) => Some(v),
                (b, v) => Some(b.min(v)),
            };
        }
    }
    if let Some(c) = current {
        let here = record::get(conn, c.entity, &c.id)?.map_or(0, |r| r.version);
        if c.version.unwrap_or(c.seq) >= here {
            apply_changes(conn, std::slice::from_ref(c), true)?;
            return Ok(());
        }
    }
    if let Some(v) = refetch_from {
        let cursor = meta_get(conn, CURSOR)?.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
        let back = (v - 1).max(0);
        if back < cursor {
            meta_set(conn, CURSOR, &back.to_string())?;
        }
    }
    Ok(())
}

/// Removes every synced row (not the outbox, the rejected list or meta): before re-pulling
/// under a new scope. The caller pushes the outbox first.
pub(crate) fn purge_synced(conn: &Connection) -> Result<()> {
    for kind in EntityKind::ALL {
        conn.execute(&format!("DELETE FROM {}", kind.table()), [])?;
    }
    search::clear(conn)?;
    meta_set(conn, CURSOR, "0")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::record::Fields;
    use crate::store::Store;

    fn household(seq: i64, head_name: &str, notes: &str) -> Change {
        let fields = json!({
            "building_id": "b1", "grid_id": "g1", "room": "502", "address": "江海区白沙大道1号502",
            "head_name": head_name, "phone": "13812345678", "member_count": 3, "care_tags": [], "notes": notes,
        });
        Change { seq, entity: EntityKind::Household, id: "h1".into(), deleted: false, version: None, fields: fields.as_object().cloned().unwrap() }
    }

    fn found(store: &Store, q: &str) -> usize {
        store.read(|c| search::search(c, None, q, 10)).unwrap().len()
    }

    #[test]
    fn a_pulled_row_is_reindexed_only_when_its_indexed_text_changes() {
        let store = Store::open_in_memory().unwrap();
        store.write(|tx| apply_page(tx, &[household(1, "王芳", "")], 1, true)).unwrap();
        assert_eq!(found(&store, "王芳"), 1);
        // Same text, new notes and version: the entry is kept, still one hit.
        store.write(|tx| apply_page(tx, &[household(2, "王芳", "走访过")], 2, true)).unwrap();
        assert_eq!(found(&store, "王芳"), 1);
        assert_eq!(found(&store, "5678"), 1);
        // The name changes: the old name no longer finds the row, the new one does.
        store.write(|tx| apply_page(tx, &[household(3, "李明华", "走访过")], 3, true)).unwrap();
        assert_eq!(found(&store, "王芳"), 0);
        assert_eq!(found(&store, "明华"), 1);
        // Deleted: nothing finds it.
        let tombstone = Change { deleted: true, fields: Fields::new(), ..household(4, "", "") };
        store.write(|tx| apply_page(tx, &[tombstone], 4, true)).unwrap();
        assert_eq!(found(&store, "明华"), 0);
        assert_eq!(found(&store, "5678"), 0);
    }

    #[test]
    fn a_deferred_index_is_rebuilt_when_its_pull_ends_or_when_the_store_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.db");
        let store = Store::open(&path).unwrap();
        let second = Change { id: "h2".into(), ..household(2, "李明华", "") };
        // A first pull's page: rows stored, no search entries yet.
        store
            .write(|tx| {
                defer_index(tx)?;
                apply_page(tx, &[household(1, "王芳", "")], 1, false)
            })
            .unwrap();
        assert!(store.read(index_deferred).unwrap());
        assert_eq!(found(&store, "王芳"), 0, "not indexed until the pull ends");
        // The app dies here; the store opened again makes the index whole before any search.
        drop(store);
        let store = Store::open(&path).unwrap();
        assert!(!store.read(index_deferred).unwrap());
        assert_eq!(found(&store, "王芳"), 1);
        // A pull that ends: its last page's transaction rebuilds.
        store
            .write(|tx| {
                defer_index(tx)?;
                apply_page(tx, &[second], 2, false)?;
                finish_deferred_index(tx)
            })
            .unwrap();
        assert_eq!((found(&store, "王芳"), found(&store, "明华"), found(&store, "5678")), (1, 1, 2));
        assert!(!store.read(index_deferred).unwrap());
        // Nothing deferred: finishing is a no-op.
        assert!(!store.write(|tx| finish_deferred_index(tx)).unwrap());
    }
}
