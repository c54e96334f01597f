//! One push batch on SQLite: row writes through the core's `record` functions (so server and
//! device store rows identically), change sequence, field versions, tombstones, idempotency.

use std::collections::HashMap;

use rusqlite::{params, CachedStatement, Connection, OptionalExtension};
use serde_json::Value;

use gridline_core::access::ScopeKeys;
use gridline_core::protocol::{Op, OpKind, OpResult, OpStatus};
use gridline_core::record::{self, Fields};
use gridline_core::EntityKind;

use super::*;

/// A feed entry's insert, shared by `PUT_META` and `CLAIM_META` (same columns, same parameters:
/// entity, id, seq, area, building, department, owner, writer).
macro_rules! insert_meta {
    () => {
        "INSERT INTO row_meta (entity, id, seq, deleted, area_id, building_id, department_id, owner_id, \
         created_seq, created_by) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7, ?3, ?8) "
    };
}

/// Inserts a feed entry or moves it to a new sequence. When the scope keys change, the old ones
/// are kept in `prev_*`, `moved` takes the move's sequence and `moved_before` the previous
/// move's, so devices that saw the record there can drop it (the keys before every move are in
/// `row_moves`, written by a trigger). (In `DO UPDATE`, bare column names are the old row's
/// values.)
const PUT_META: &str = concat!(
    insert_meta!(),
    "ON CONFLICT(entity, id) DO UPDATE SET seq = excluded.seq, deleted = 0, \
     moved_before = CASE WHEN area_id IS NOT excluded.area_id OR building_id IS NOT excluded.building_id \
         OR department_id IS NOT excluded.department_id OR owner_id IS NOT excluded.owner_id THEN moved ELSE moved_before END, \
     moved = CASE WHEN area_id IS NOT excluded.area_id OR building_id IS NOT excluded.building_id \
         OR department_id IS NOT excluded.department_id OR owner_id IS NOT excluded.owner_id THEN excluded.seq ELSE moved END, \
     prev_area_id = CASE WHEN area_id IS NOT excluded.area_id OR building_id IS NOT excluded.building_id \
         OR department_id IS NOT excluded.department_id OR owner_id IS NOT excluded.owner_id THEN area_id ELSE prev_area_id END, \
     prev_building_id = CASE WHEN area_id IS NOT excluded.area_id OR building_id IS NOT excluded.building_id \
         OR department_id IS NOT excluded.department_id OR owner_id IS NOT excluded.owner_id THEN building_id ELSE prev_building_id END, \
     prev_department_id = CASE WHEN area_id IS NOT excluded.area_id OR building_id IS NOT excluded.building_id \
         OR department_id IS NOT excluded.department_id OR owner_id IS NOT excluded.owner_id THEN department_id ELSE prev_department_id END, \
     prev_owner_id = CASE WHEN area_id IS NOT excluded.area_id OR building_id IS NOT excluded.building_id \
         OR department_id IS NOT excluded.department_id OR owner_id IS NOT excluded.owner_id THEN owner_id ELSE prev_owner_id END, \
     area_id = excluded.area_id, building_id = excluded.building_id, \
     department_id = excluded.department_id, owner_id = excluded.owner_id"
);

/// A deleted household's residents (read through `residents_household`).
pub(super) const RESIDENTS_OF_HOUSEHOLD: &str = "SELECT id FROM residents WHERE household_id = ?1 ORDER BY id";

/// The stored results of one device's ops whose ids lie between two ids (`prefetch_results`): one
/// seek, then the index in order. Op ids are UUIDv7, so a batch's ids span a short stretch of
/// the device's ops; the limit stops the read when they do not.
pub(super) const RESULTS_IN_RANGE: &str = "SELECT op_id, result_json, status, version FROM applied_ops \
     WHERE device_id = ?1 AND op_id BETWEEN ?2 AND ?3 ORDER BY op_id LIMIT ?4";
const STORED_RESULT: &str = "SELECT result_json, status, version FROM applied_ops WHERE device_id = ?1 AND op_id = ?2";
const SAVE_RESULT: &str = "INSERT INTO applied_ops (device_id, op_id, result_json, device_time, received_at, skew_flagged, status, version) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/// A new record's feed entry; nothing when one exists (a record of that id, or its tombstone).
const CLAIM_META: &str = concat!(insert_meta!(), "ON CONFLICT(entity, id) DO NOTHING");
const LOAD_META: &str = "SELECT seq, deleted, created_seq, created_by FROM row_meta WHERE entity = ?1 AND id = ?2";
const META_EXISTS: &str = "SELECT 1 FROM row_meta WHERE entity = ?1 AND id = ?2";
const LOG_CHANGE: &str = "INSERT INTO change_log (seq, first_seq, at, device_id, user_id, op_id, device_time, entity, entity_id, \
     kind, event_id, event_kind, area_id, department_id, fields_json) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// The statements every op of a batch runs, each taken from the connection's statement cache
/// once per batch rather than once per use: a cache look-up finds a statement by its SQL text,
/// and returning it puts it back the same way (look-ups and returns were ~9.5% of the writer's
/// profile samples in the ingest bench).
#[derive(Clone, Copy)]
enum Held {
    PutMeta,
    ClaimMeta,
    StoredResult,
    SaveResult,
    LoadMeta,
    MetaExists,
    LogChange,
}

impl Held {
    const COUNT: usize = 7;

    fn sql(self) -> &'static str {
        match self {
            Held::PutMeta => PUT_META,
            Held::ClaimMeta => CLAIM_META,
            Held::StoredResult => STORED_RESULT,
            Held::SaveResult => SAVE_RESULT,
            Held::LoadMeta => LOAD_META,
            Held::MetaExists => META_EXISTS,
            Held::LogChange => LOG_CHANGE,
        }
    }
}

/// A push batch inside the writer's transaction.
///
/// Ops are first applied without per-op savepoints (a savepoint journals every page an op
/// touches): an op refused before it wrote anything needs no undo. Only when an op must be
/// undone after it wrote (a constraint failure halfway) does the batch ask to be run again from
/// the start with a savepoint per op ([`SqliteBatch::wants_savepoints`]); the caller rolls the
/// batch's own savepoint back and repeats it, so the results are the same either way.
pub(super) struct SqliteBatch<'a> {
    tx: &'a Connection,
    /// The last sequence handed out (written back by `finish`).
    seq: i64,
    /// The last sequence handed out before the current op began: an op undone gives its
    /// sequences back; the change log records the op's first sequence.
    op_start: i64,
    /// Each op runs inside its own savepoint.
    savepoints: bool,
    /// The current op has written something.
    dirty: bool,
    /// An op had to be undone without a savepoint: run the batch again with savepoints.
    undo_needed: bool,
    /// Area and department of the feed entries the current op wrote (the change log's keys).
    /// (Mostly one to three, so a list: no hashing, and the look-up borrows the id.)
    op_keys: Vec<(EntityKind, String, Option<String>, Option<String>)>,
    /// The [`Held`] statements, once first used.
    held: [Option<CachedStatement<'a>>; Held::COUNT],
    /// What `prefetch_results` read: the device, and by op id the result stored when the batch
    /// began (None: nothing stored). An op id leaves when its result is saved in this batch.
    prefetched: Option<(String, HashMap<String, Option<OpResult>>)>,
}

/// `applied_ops.status` of an op applied as sent.
const APPLIED: &str = "applied";

/// An op result's status as stored in `applied_ops.status` (its wire name).
pub(super) fn status_str(s: OpStatus) -> &'static str {
    match s {
        OpStatus::Applied => APPLIED,
        OpStatus::Duplicate => "duplicate",
        OpStatus::Merged => "merged",
        OpStatus::Rejected => "rejected",
    }
}

/// A stored op result from its `applied_ops` row: the JSON when there is one, else an op
/// applied as sent at `version` (see `save_result`).
fn decode_result(op_id: &str, json: &str, status: Option<&str>, version: Option<i64>) -> StoreResult<OpResult> {
    if !json.is_empty() {
        return Ok(serde_json::from_str(json)?);
    }
    match (status, version) {
        (Some(APPLIED), Some(v)) => Ok(OpResult {
            op_id: op_id.to_owned(),
            status: OpStatus::Applied,
            version: Some(v),
            code: None,
            reason: None,
            conflicts: Vec::new(),
            current: None,
        }),
        _ => Err(StoreError::Backend(format!("stored result of op {op_id} has neither JSON nor an applied version"))),
    }
}

/// Every stored op result of a server database, as `(device id, op id, result)`: for checks that
/// read a server's file directly (the simulator's invariants).
pub fn stored_results(conn: &Connection) -> StoreResult<Vec<(String, String, OpResult)>> {
    let mut stmt = conn.prepare("SELECT device_id, op_id, result_json, status, version FROM applied_ops")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?, r.get(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (device, op_id, json, status, version) = row?;
        let result = decode_result(&op_id, &json, status.as_deref(), version)?;
        out.push((device, op_id, result));
    }
    Ok(out)
}

/// Returned (and then discarded) when a batch without savepoints meets an op to undo.
const UNDO_NEEDED: &str = "batch must be repeated with per-op savepoints";

impl<'a> SqliteBatch<'a> {
    pub(super) fn begin(tx: &'a Connection, savepoints: bool) -> StoreResult<Self> {
        let seq = super::sqlite::last_seq(tx)?;
        Ok(SqliteBatch {
            tx,
            seq,
            op_start: seq,
            savepoints,
            dirty: false,
            undo_needed: false,
            op_keys: Vec::new(),
            held: Default::default(),
            prefetched: None,
        })
    }

    /// A [`Held`] statement, prepared (or taken from the cache) on its first use in the batch.
    fn held(&mut self, h: Held) -> StoreResult<&mut CachedStatement<'a>> {
        let slot = &mut self.held[h as usize];
        if slot.is_none() {
            *slot = Some(self.tx.prepare_cached(h.sql())?);
        }
        Ok(slot.as_mut().expect("prepared above"))
    }

    /// How many op ids `prefetch_results` answers for (None: each is looked up on its own).
    #[cfg(test)]
    pub(super) fn prefetched_ops(&self) -> Option<usize> {
        self.prefetched.as_ref().map(|(_, results)| results.len())
    }

    /// Whether the batch stopped because an op needs a savepoint to be undone.
    pub(super) fn wants_savepoints(&self) -> bool {
        self.undo_needed
    }

    pub(super) fn finish(self) -> StoreResult<()> {
        self.tx.prepare_cached("UPDATE seq_counter SET value = ?1 WHERE id = 1")?.execute([self.seq])?;
        Ok(())
    }

    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }

    /// Scope keys of a stored record, completed by its parent's (an event carries its
    /// incident's keys, a track its patrol's owner).
    fn keys_of(&self, entity: EntityKind, id: &str) -> StoreResult<ScopeKeys> {
        let Some(row) = record::get(self.tx, entity, id)? else { return Ok(ScopeKeys::default()) };
        let mut keys = ScopeKeys::of(entity, id, &row.fields);
        if let Some((pk, pid)) = ScopeKeys::parent(entity, &row.fields) {
            keys.inherit(entity, &self.keys_of(pk, &pid)?);
        }
        Ok(keys)
    }

    /// Inserts or moves the feed entry of a live record to `seq`.
    fn put_meta(&mut self, entity: EntityKind, id: &str, seq: i64, writer: &str) -> StoreResult<()> {
        let k = self.keys_of(entity, id)?;
        self.put_meta_keys(entity, id, seq, writer, &k)
    }

    fn put_meta_keys(&mut self, entity: EntityKind, id: &str, seq: i64, writer: &str, k: &ScopeKeys) -> StoreResult<()> {
        self.write_meta(Held::PutMeta, entity, id, seq, writer, k)?;
        Ok(())
    }

    /// Writes the feed entry of a record being created; false (writing nothing) when the id has
    /// one already. The existence check and the insert are one look-up in the feed's key.
    fn claim_meta(&mut self, entity: EntityKind, id: &str, seq: i64, writer: &str, k: &ScopeKeys) -> StoreResult<bool> {
        self.write_meta(Held::ClaimMeta, entity, id, seq, writer, k)
    }

    /// Runs one of the feed-entry inserts and, if it wrote, notes the keys for the change log.
    fn write_meta(&mut self, h: Held, entity: EntityKind, id: &str, seq: i64, writer: &str, k: &ScopeKeys) -> StoreResult<bool> {
        let n = self
            .held(h)?
            .execute(params![entity.as_str(), id, seq, k.area_id, k.building_id, k.department_id, k.owner_id, writer])?;
        if n > 0 {
            self.op_keys.push((entity, id.to_owned(), k.area_id.clone(), k.department_id.clone()));
        }
        Ok(n > 0)
    }

    /// After an incident moved (dispatched to a department, moved to another building), its
    /// timeline moves with it: each event whose feed entry still carries other keys gets a new
    /// place in the feed under the incident's keys, so whoever sees the incident now also
    /// receives the events written before (a department gets the report that was dispatched
    /// to it). The events keep their versions: those order the timeline.
    fn rekey_events(&mut self, incident_id: &str, writer: &str) -> StoreResult<()> {
        let k = self.keys_of(EntityKind::Incident, incident_id)?;
        let stale: Vec<String> = self
            .tx
            .prepare_cached(
                "SELECT m.id FROM incident_events e JOIN row_meta m ON m.entity = 'incident_event' AND m.id = e.id \
                 WHERE e.incident_id = ?1 AND m.deleted = 0 AND (m.area_id IS NOT ?2 OR m.building_id IS NOT ?3 \
                 OR m.department_id IS NOT ?4 OR m.owner_id IS NOT ?5) ORDER BY e.version",
            )?
            .query_map(params![incident_id, k.area_id, k.building_id, k.department_id, k.owner_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in stale {
            let seq = self.next_seq();
            self.put_meta_keys(EntityKind::IncidentEvent, &id, seq, writer, &k)?;
        }
        Ok(())
    }

    /// Gives a live record a new sequence (its derived fields changed) so the feed carries it.
    fn touch(&mut self, entity: EntityKind, id: &str, writer: &str) -> StoreResult<i64> {
        let seq = self.next_seq();
        record::set_version(self.tx, entity, id, seq)?;
        self.put_meta(entity, id, seq, writer)?;
        Ok(seq)
    }
}

impl BatchTx for SqliteBatch<'_> {
    fn prefetch_results(&mut self, device_id: &str, op_ids: &[&str]) -> StoreResult<()> {
        let (Some(first), Some(last)) = (op_ids.iter().min(), op_ids.iter().max()) else { return Ok(()) };
        let mut results: HashMap<String, Option<OpResult>> = op_ids.iter().map(|id| ((*id).to_owned(), None)).collect();
        // Ops of the device in the range that are not in the batch: a few are read past, many
        // (ids not in time order) end the prefetch, and each op is looked up on its own.
        let limit = results.len() + 64;
        let mut stmt = self.tx.prepare_cached(RESULTS_IN_RANGE)?;
        let mut rows = stmt.query(params![device_id, first, last, limit as i64])?;
        let mut read = 0;
        while let Some(r) = rows.next()? {
            read += 1;
            let op_id: String = r.get(0)?;
            if let Some(slot) = results.get_mut(&op_id) {
                let (json, status): (String, Option<String>) = (r.get(1)?, r.get(2)?);
                *slot = Some(decode_result(&op_id, &json, status.as_deref(), r.get(3)?)?);
            }
        }
        self.prefetched = (read < limit).then(|| (device_id.to_owned(), results));
        Ok(())
    }

    fn stored_result(&mut self, device_id: &str, op_id: &str) -> StoreResult<Option<OpResult>> {
        if let Some((device, results)) = &self.prefetched {
            if let Some(known) = results.get(op_id).filter(|_| device == device_id) {
                return Ok(known.clone());
            }
        }
        let stored: Option<(String, Option<String>, Option<i64>)> = self
            .held(Held::StoredResult)?
            .query_row([device_id, op_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        stored.map(|(json, status, version)| decode_result(op_id, &json, status.as_deref(), version)).transpose()
    }

    fn save_result(&mut self, op_id: &str, rec: &AppliedOp<'_>) -> StoreResult<()> {
        let r = rec.result;
        // An op applied as sent is said in full by its status and version.
        let plain = r.status == OpStatus::Applied
            && r.version.is_some()
            && r.code.is_none()
            && r.reason.is_none()
            && r.conflicts.is_empty()
            && r.current.is_none();
        let json = if plain { String::new() } else { serde_json::to_string(r)? };
        if let Some((device, results)) = &mut self.prefetched {
            if device == rec.device_id {
                results.remove(op_id);
            }
        }
        self.held(Held::SaveResult)?
            .execute(params![
                rec.device_id,
                op_id,
                json,
                rec.device_time,
                rec.received_at,
                rec.skew_flagged as i64,
                status_str(r.status),
                r.version
            ])?;
        Ok(())
    }

    fn load(&mut self, entity: EntityKind, id: &str) -> StoreResult<Option<StoredRow>> {
        let meta: Option<(i64, i64, i64, String)> = self
            .held(Held::LoadMeta)?
            .query_row([entity.as_str(), id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let row = record::get(self.tx, entity, id)?;
        Ok(match (meta, row) {
            (Some((seq, deleted, created_seq, created_by)), row) => Some(StoredRow {
                fields: if deleted != 0 { None } else { row.map(|r| r.fields) },
                seq,
                created_seq,
                created_by,
            }),
            // A row without feed entry (never the case for rows written by this server).
            (None, Some(r)) => Some(StoredRow { fields: Some(r.fields), seq: r.version, created_seq: r.version, created_by: String::new() }),
            (None, None) => None,
        })
    }

    fn row(&mut self, entity: EntityKind, id: &str) -> StoreResult<Option<Fields>> {
        Ok(record::get(self.tx, entity, id)?.map(|r| r.fields))
    }

    fn field_versions(&mut self, entity: EntityKind, id: &str) -> StoreResult<HashMap<String, FieldVersion>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT field, seq, writer FROM field_versions WHERE entity = ?1 AND id = ?2")?;
        let rows = stmt.query_map([entity.as_str(), id], |r| {
            Ok((r.get::<_, String>(0)?, FieldVersion { seq: r.get(1)?, writer: r.get(2)? }))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn area_parents(&mut self) -> StoreResult<AreaParents> {
        super::sqlite::load_area_parents(self.tx)
    }

    fn begin_op(&mut self) -> StoreResult<()> {
        self.op_start = self.seq;
        self.dirty = false;
        self.op_keys.clear();
        if self.savepoints {
            self.tx.prepare_cached("SAVEPOINT op")?.execute([])?;
        }
        Ok(())
    }

    fn end_op(&mut self, keep: bool) -> StoreResult<()> {
        if !self.savepoints {
            if !keep && self.dirty {
                self.undo_needed = true;
                return Err(StoreError::Backend(UNDO_NEEDED.into()));
            }
            return Ok(());
        }
        if !keep {
            self.tx.prepare_cached("ROLLBACK TO op")?.execute([])?;
            // A refused op leaves no trace, not even a gap in the sequence.
            self.seq = self.op_start;
        }
        self.tx.prepare_cached("RELEASE op")?.execute([])?;
        Ok(())
    }

    fn exists(&mut self, entity: EntityKind, id: &str) -> StoreResult<bool> {
        Ok(self
            .held(Held::MetaExists)?
            .query_row([entity.as_str(), id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    fn create(&mut self, entity: EntityKind, id: &str, fields: &Fields, writer: &str) -> StoreResult<i64> {
        let seq = match entity {
            // Rows with derived rows or fields go through the core's own op applier, so the
            // server derives exactly what a device derives (an incident's `reported` event and
            // status; a patrol's distance), and their keys are read back from what was stored
            // (an incident's department; an event's and a track's come from their parent).
            EntityKind::Incident | EntityKind::PatrolTrack | EntityKind::IncidentEvent => {
                if self.exists(entity, id)? {
                    return Err(StoreError::AlreadyExists);
                }
                self.dirty = true;
                let seq = self.next_seq();
                if entity == EntityKind::IncidentEvent {
                    record::insert(self.tx, entity, id, seq, fields)?;
                } else {
                    let op = Op {
                        op_id: String::new(),
                        device_seq: 0,
                        entity,
                        entity_id: id.to_owned(),
                        kind: OpKind::Create,
                        fields: fields.clone(),
                        base_version: 0,
                        device_time: 0,
                    };
                    gridline_core::mutate::apply_op(self.tx, &op)?;
                    record::set_version(self.tx, entity, id, seq)?;
                }
                self.put_meta(entity, id, seq, writer)?;
                seq
            }
            // The feed entry first: written only if the id has none, it is the existence check.
            _ => {
                let seq = self.seq + 1;
                if !self.claim_meta(entity, id, seq, writer, &ScopeKeys::of(entity, id, fields))? {
                    return Err(StoreError::AlreadyExists);
                }
                self.dirty = true;
                self.seq = seq;
                record::insert(self.tx, entity, id, seq, fields)?;
                seq
            }
        };
        match entity {
            EntityKind::Incident => {
                // The `reported` event has the incident's id and its own place in the feed.
                self.touch(EntityKind::IncidentEvent, id, writer)?;
            }
            EntityKind::PatrolTrack => {
                let patrol = fields.get("patrol_id").and_then(Value::as_str).unwrap_or_default().to_owned();
                if record::exists(self.tx, EntityKind::Patrol, &patrol)? {
                    self.touch(EntityKind::Patrol, &patrol, writer)?;
                }
            }
            _ => {}
        }
        Ok(seq)
    }

    fn update(&mut self, entity: EntityKind, id: &str, fields: &Fields, writer: &str) -> StoreResult<i64> {
        self.dirty = true;
        let seq = self.next_seq();
        if !record::update(self.tx, entity, id, fields)? {
            return Err(StoreError::NotFound);
        }
        record::set_version(self.tx, entity, id, seq)?;
        if entity == EntityKind::Incident {
            // Category changes move deadlines.
            gridline_core::incidents::recompute(self.tx, id)?;
        }
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO field_versions (entity, id, field, seq, writer) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT(entity, id, field) DO UPDATE SET seq = excluded.seq, writer = excluded.writer",
        )?;
        for name in fields.keys() {
            stmt.execute(params![entity.as_str(), id, name, seq, writer])?;
        }
        self.put_meta(entity, id, seq, writer)?;
        if entity == EntityKind::Incident {
            self.rekey_events(id, writer)?;
        }
        Ok(seq)
    }

    fn delete(&mut self, entity: EntityKind, id: &str) -> StoreResult<i64> {
        if entity == EntityKind::Household {
            // Its residents go with it, each with its own tombstone, as on the device that
            // deleted it — including any another device added that this one never saw.
            let residents: Vec<String> = self
                .tx
                .prepare_cached(RESIDENTS_OF_HOUSEHOLD)?
                .query_map([id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for r in residents {
                self.delete(EntityKind::Resident, &r)?;
            }
        }
        self.dirty = true;
        let seq = self.next_seq();
        if !record::delete(self.tx, entity, id)? {
            return Err(StoreError::NotFound);
        }
        // The tombstone keeps the keys it had, so the pull filter can still route it.
        let n = self
            .tx
            .prepare_cached("UPDATE row_meta SET seq = ?1, deleted = 1 WHERE entity = ?2 AND id = ?3")?
            .execute(params![seq, entity.as_str(), id])?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.tx
            .prepare_cached("DELETE FROM field_versions WHERE entity = ?1 AND id = ?2")?
            .execute([entity.as_str(), id])?;
        Ok(seq)
    }

    fn append_event(&mut self, incident_id: &str, event_id: &str, fields: &Fields, writer: &str) -> StoreResult<i64> {
        self.dirty = true;
        let seq = self.next_seq();
        // The event's version is its place in the server's order of the timeline.
        record::insert(self.tx, EntityKind::IncidentEvent, event_id, seq, fields)?;
        gridline_core::incidents::recompute(self.tx, incident_id)?;
        let incident_seq = self.touch(EntityKind::Incident, incident_id, writer)?;
        // The event's feed entry carries the incident's keys after the event (e.g. a dispatch
        // makes it visible to the department).
        self.put_meta(EntityKind::IncidentEvent, event_id, seq, writer)?;
        self.rekey_events(incident_id, writer)?;
        Ok(incident_seq)
    }

    fn save_conflict(&mut self, c: &ConflictRecord) -> StoreResult<()> {
        self.dirty = true;
        self.tx
            .prepare_cached(
                "INSERT INTO conflicts (entity, entity_id, field, lost_value_json, kept_value_json, lost_device, \
                 kept_device, seq, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                c.entity.as_str(),
                c.entity_id,
                c.field,
                c.lost_value.to_string(),
                c.kept_value.to_string(),
                c.lost_writer,
                c.kept_writer,
                c.seq,
                c.at
            ])?;
        Ok(())
    }

    fn log_change(&mut self, c: &ChangeEntry<'_>) -> StoreResult<()> {
        let op = c.op;
        // The keys the op's own feed entry got, when it wrote one; else as stored (a delete).
        let written = self.op_keys.iter().rposition(|(entity, id, ..)| *entity == op.entity && *id == op.entity_id);
        let keys = match written {
            Some(i) => {
                let (_, _, area, department) = self.op_keys.swap_remove(i);
                Some((area, department))
            }
            None => self
                .tx
                .prepare_cached("SELECT area_id, department_id FROM row_meta WHERE entity = ?1 AND id = ?2")?
                .query_row([op.entity.as_str(), op.entity_id.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
        };
        let (area, department) = keys.unwrap_or_default();
        let (event_id, event_kind) = if op.kind == OpKind::Event {
            let s = |k: &str| op.fields.get(k).and_then(Value::as_str).map(str::to_owned);
            (s("id"), s("kind"))
        } else {
            (None, None)
        };
        let (seq, first_seq) = (self.seq, self.op_start + 1);
        self.held(Held::LogChange)?
            .execute(params![
                seq,
                first_seq,
                c.at,
                c.device_id,
                c.user_id,
                op.op_id,
                op.device_time,
                op.entity.as_str(),
                op.entity_id,
                op.kind.as_str(),
                event_id,
                event_kind,
                area,
                department,
                c.fields_json
            ])?;
        Ok(())
    }

    fn log_sync(&mut self, e: &SyncLogEntry) -> StoreResult<()> {
        super::sqlite::write_sync_log(self.tx, e)
    }
}
