//! Applying pulled pages: rows upserted, tombstones applied, the page's cursor saved in the
//! same transaction, and pending local edits re-applied on top (DESIGN.md sync rule 6).

use rusqlite::Connection;

use crate::entities::EntityKind;
use crate::error::Result;
use crate::outbox::PendingRecords;
use crate::protocol::{Change, OpKind};
use crate::store::meta_set;
use crate::{mutate, outbox, record, search};

/// Meta key of the pull cursor.
pub(crate) const CURSOR: &str = "pull_cursor";
/// Meta key of the scope epoch the rows were pulled under.
pub(crate) const SCOPE_EPOCH: &str = "scope_epoch";

/// Applies one page and its cursor. Returns whether areas changed (the area cache is stale).
///
/// The bulk path of a pull: each row is upserted with the fields the page carries (no re-read),
/// a row new on this device gets its search entry without a delete first, and the outbox is
/// consulted once per page (only records with pending ops re-apply them).
pub(crate) fn apply_page(conn: &Connection, changes: &[Change], next_cursor: i64) -> Result<bool> {
    let mut areas_changed = false;
    let pending = outbox::pending_records(conn)?;
    for c in changes {
        areas_changed |= c.entity == EntityKind::Area;
        let indexed = search::indexes(c.entity);
        if c.deleted {
            if indexed {
                search::on_write(conn, c.entity, &c.id, None, false)?;
            }
            record::delete(conn, c.entity, &c.id)?;
        } else if indexed {
            let before = search::rowid(conn, c.entity, &c.id)?;
            record::upsert(conn, c.entity, &c.id, c.seq, &c.fields)?;
            let rowid = before.unwrap_or_else(|| conn.last_insert_rowid());
            search::index_row(conn, c.entity, rowid, Some(&c.fields), before.is_none())?;
        } else {
            record::upsert(conn, c.entity, &c.id, c.seq, &c.fields)?;
        }
        if !pending.is_empty() {
            reapply_pending(conn, c, &pending)?;
        }
    }
    meta_set(conn, CURSOR, &next_cursor.to_string())?;
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

/// Removes every synced row (not the outbox, the rejected list or meta): before re-pulling
/// under a new scope. The caller pushes the outbox first.
pub(crate) fn purge_synced(conn: &Connection) -> Result<()> {
    for kind in EntityKind::ALL {
        conn.execute(&format!("DELETE FROM {}", kind.table()), [])?;
    }
    for fts in ["household_fts", "resident_fts"] {
        conn.execute(&format!("DELETE FROM {fts}"), [])?;
    }
    meta_set(conn, CURSOR, "0")?;
    Ok(())
}
