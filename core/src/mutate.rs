//! The one write path of local mutations: check role and scope, write the row, keep the search
//! index, append the outbox op — all inside the caller's transaction (DESIGN.md sync rule 1).
//! Also the op applier used by outbox replay and by re-applying pending edits over pulled rows.

use rusqlite::Connection;
use serde_json::Value;

use crate::access::{Action, Principal, ScopeKeys};
use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::protocol::{Op, OpKind};
use crate::record::{self, Fields};
use crate::store::{area_path, Store};

/// A mutation in progress: the transaction, who acts, and when.
pub(crate) struct Writer<'a> {
    pub tx: &'a Connection,
    pub store: &'a Store,
    pub who: &'a Principal,
    pub now: i64,
}

impl<'a> Writer<'a> {
    pub fn new(tx: &'a Connection, store: &'a Store, who: &'a Principal) -> Self {
        Writer { tx, store, who, now: store.now_ms() }
    }

    /// Checks `action` on a record with these fields against the user's role and scope.
    pub fn check(&self, kind: EntityKind, id: &str, fields: &Fields, action: Action, changed: &[&str]) -> Result<()> {
        let mut keys = ScopeKeys::of(kind, id, fields);
        if let Some((pk, pid)) = ScopeKeys::parent(kind, fields) {
            if let Some(parent) = record::get(self.tx, pk, &pid)? {
                keys.inherit(kind, &ScopeKeys::of(pk, &pid, &parent.fields));
            }
        }
        self.check_keys(kind, &keys, action, changed)
    }

    /// [`Writer::check`] for a record whose scope keys are already known.
    pub fn check_keys(&self, kind: EntityKind, keys: &ScopeKeys, action: Action, changed: &[&str]) -> Result<()> {
        let tree = self.store.area_tree(self.tx)?;
        let path = keys.area_id.as_deref().map(|a| area_path(&tree, a)).unwrap_or_default();
        self.who.check_write(kind, action, &keys.target(&path), changed)?;
        Ok(())
    }

    /// Creates a record: checks, inserts, indexes, and queues the op.
    pub fn create(&self, kind: EntityKind, id: &str, fields: Fields) -> Result<Op> {
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        self.check(kind, id, &fields, Action::Create, &names)?;
        record::insert(self.tx, kind, id, 0, &fields)?;
        after_insert(self.tx, kind, id)?;
        crate::search::on_write(self.tx, kind, id, Some(&fields), true)?;
        crate::outbox::append(self.tx, kind, id, OpKind::Create, fields, 0, self.now)
    }

    /// Updates the fields of `patch` that differ from the stored row. Returns `None` (and writes
    /// nothing) when nothing changes. The user must have the record in scope before and after.
    pub fn update(&self, kind: EntityKind, id: &str, patch: Fields) -> Result<Option<Op>> {
        let row = record::require(self.tx, kind, id)?;
        let changed: Fields = patch.into_iter().filter(|(k, v)| row.fields.get(k) != Some(v)).collect();
        if changed.is_empty() {
            return Ok(None);
        }
        record::check_fields(kind, &changed)?;
        let names: Vec<&str> = changed.keys().map(String::as_str).collect();
        self.check(kind, id, &row.fields, Action::Update, &names)?;
        let mut after = row.fields.clone();
        after.extend(changed.clone());
        self.check(kind, id, &after, Action::Update, &names)?;
        self.who.check_update_values(kind, &row.fields, &changed)?;
        record::update(self.tx, kind, id, &changed)?;
        if crate::search::touches_index(kind, &changed) {
            crate::search::on_write(self.tx, kind, id, Some(&after), false)?;
        }
        crate::outbox::append(self.tx, kind, id, OpKind::Update, changed, row.version, self.now).map(Some)
    }

    /// Deletes a record and queues the tombstone op.
    pub fn delete(&self, kind: EntityKind, id: &str) -> Result<Op> {
        let row = record::require(self.tx, kind, id)?;
        self.check(kind, id, &row.fields, Action::Delete, &[])?;
        crate::search::on_write(self.tx, kind, id, None, false)?;
        record::delete(self.tx, kind, id)?;
        crate::outbox::append(self.tx, kind, id, OpKind::Delete, Fields::new(), row.version, self.now)
    }
}

/// Applies an op to the local tables without checks (it was checked when it was made): used to
/// replay an outbox into another store and to re-apply pending edits over pulled rows.
pub fn apply_op(conn: &Connection, op: &Op) -> Result<()> {
    match op.kind {
        OpKind::Create => {
            if record::exists(conn, op.entity, &op.entity_id)? {
                record::update(conn, op.entity, &op.entity_id, &op.fields)?;
                after_update(conn, op.entity, &op.entity_id)?;
            } else {
                record::insert(conn, op.entity, &op.entity_id, 0, &op.fields)?;
                after_insert(conn, op.entity, &op.entity_id)?;
            }
            reindex(conn, op.entity, &op.entity_id)?;
        }
        OpKind::Update => {
            if record::update(conn, op.entity, &op.entity_id, &op.fields)? {
                after_update(conn, op.entity, &op.entity_id)?;
                if crate::search::touches_index(op.entity, &op.fields) {
                    reindex(conn, op.entity, &op.entity_id)?;
                }
            }
        }
        OpKind::Delete => {
            crate::search::on_write(conn, op.entity, &op.entity_id, None, false)?;
            record::delete(conn, op.entity, &op.entity_id)?;
        }
        OpKind::Event => {
            if op.entity != EntityKind::Incident {
                return Err(Error::invalid("entity", "只有事件可以追加事件记录"));
            }
            let event_id = op
                .fields
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::invalid("id", "缺少事件记录编号"))?;
            let mut fields = op.fields.clone();
            fields.remove("id");
            if !record::exists(conn, EntityKind::IncidentEvent, event_id)? {
                record::insert(conn, EntityKind::IncidentEvent, event_id, 0, &fields)?;
            }
            if record::exists(conn, EntityKind::Incident, &op.entity_id)? {
                crate::incidents::recompute(conn, &op.entity_id)?;
            }
        }
    }
    Ok(())
}

/// Rows derived from a newly inserted record (an incident's `reported` event and status,
/// a patrol's distance).
fn after_insert(conn: &Connection, kind: EntityKind, id: &str) -> Result<()> {
    match kind {
        EntityKind::Incident => crate::incidents::after_create(conn, id),
        EntityKind::PatrolTrack => crate::patrols::recompute_distance_of_track(conn, id),
        _ => Ok(()),
    }
}

/// Rows derived from a changed record: an incident's deadlines follow its category.
fn after_update(conn: &Connection, kind: EntityKind, id: &str) -> Result<()> {
    match kind {
        EntityKind::Incident => crate::incidents::recompute(conn, id),
        EntityKind::PatrolTrack => crate::patrols::recompute_distance_of_track(conn, id),
        _ => Ok(()),
    }
}

/// Re-reads a row and refreshes its search entry.
pub(crate) fn reindex(conn: &Connection, kind: EntityKind, id: &str) -> Result<()> {
    if crate::search::indexes(kind) {
        let row = record::get(conn, kind, id)?;
        crate::search::on_write(conn, kind, id, row.as_ref().map(|r| &r.fields), false)?;
    }
    Ok(())
}
