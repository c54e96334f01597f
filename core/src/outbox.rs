//! The outbox: one op per local mutation, written in the mutation's transaction, leaving only
//! with a result from the server (DESIGN.md sync rules 1–3).

use std::borrow::Cow;
use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::protocol::{Op, OpKind, OpResult, OpStatus};
use crate::record::Fields;

/// Appends an op; returns it with its `op_id` and `device_seq`.
pub(crate) fn append(
    tx: &Connection,
    entity: EntityKind,
    entity_id: &str,
    kind: OpKind,
    fields: Fields,
    base_version: i64,
    device_time: i64,
) -> Result<Op> {
    let json = serde_json::to_string(&fields)?;
    let (op_id, device_seq) = append_json(tx, entity, entity_id, kind, &json, base_version, device_time)?;
    Ok(Op { op_id, device_seq, entity, entity_id: entity_id.to_owned(), kind, fields, base_version, device_time })
}

/// Appends an op whose fields are already JSON (an object of the changed fields, as a field map
/// serializes); returns its `op_id` and `device_seq`. For bulk paths that build no field map.
pub(crate) fn append_json(
    tx: &Connection,
    entity: EntityKind,
    entity_id: &str,
    kind: OpKind,
    fields_json: &str,
    base_version: i64,
    device_time: i64,
) -> Result<(String, i64)> {
    let op_id = uuid::Uuid::now_v7().to_string();
    tx.prepare_cached(
        "INSERT INTO outbox (op_id, entity, entity_id, kind, fields, base_version, device_time) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![op_id, entity.as_str(), entity_id, kind.as_str(), fields_json, base_version, device_time])?;
    Ok((op_id, tx.last_insert_rowid()))
}

fn read_op(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Op, usize)> {
    let entity: String = r.get(2)?;
    let kind: String = r.get(4)?;
    let fields: String = r.get(5)?;
    let bad = |what: &str| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, format!("bad outbox {what}").into())
    };
    let op = Op {
        device_seq: r.get(0)?,
        op_id: r.get(1)?,
        entity: EntityKind::parse(&entity).ok_or_else(|| bad("entity"))?,
        entity_id: r.get(3)?,
        kind: OpKind::parse(&kind).ok_or_else(|| bad("kind"))?,
        fields: serde_json::from_str(&fields).map_err(|_| bad("fields"))?,
        base_version: r.get(6)?,
        device_time: r.get(7)?,
    };
    // Approximate wire size: the JSON fields plus the fixed envelope.
    Ok((op, fields.len() + 160))
}

const SELECT: &str =
    "SELECT device_seq, op_id, entity, entity_id, kind, fields, base_version, device_time FROM outbox";

/// Number of ops waiting to be pushed.
pub fn pending_count(conn: &Connection) -> Result<u64> {
    Ok(conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as u64)
}

/// Every pending op in `device_seq` order.
pub fn pending(conn: &Connection) -> Result<Vec<Op>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} ORDER BY device_seq"))?;
    let ops = stmt.query_map([], |r| read_op(r).map(|(op, _)| op))?.collect::<Result<_, _>>()?;
    Ok(ops)
}

/// Pending ops touching one record, in order (re-applied over pulled rows).
pub(crate) fn pending_for(conn: &Connection, entity: EntityKind, entity_id: &str) -> Result<Vec<Op>> {
    let mut stmt =
        conn.prepare_cached(&format!("{SELECT} WHERE entity = ?1 AND entity_id = ?2 ORDER BY device_seq"))?;
    let ops = stmt
        .query_map(params![entity.as_str(), entity_id], |r| read_op(r).map(|(op, _)| op))?
        .collect::<Result<_, _>>()?;
    Ok(ops)
}

/// The records that have pending ops, by entity and id.
pub(crate) type PendingRecords = std::collections::HashSet<(EntityKind, String)>;

/// Every record with at least one pending op (read once per pulled page).
pub(crate) fn pending_records(conn: &Connection) -> Result<PendingRecords> {
    let mut stmt = conn.prepare_cached("SELECT DISTINCT entity, entity_id FROM outbox")?;
    let mut rows = stmt.query([])?;
    let mut out = PendingRecords::new();
    while let Some(r) = rows.next()? {
        let entity: String = r.get(0)?;
        if let Some(e) = EntityKind::parse(&entity) {
            out.insert((e, r.get(1)?));
        }
    }
    Ok(out)
}

/// The next batch: the oldest ops, at most `max_ops` of them and about `max_bytes` on the wire.
/// The first op is always included, however large, so one big op cannot block the queue.
pub fn next_batch(conn: &Connection, max_ops: usize, max_bytes: usize) -> Result<Vec<Op>> {
    batch_after(conn, 0, max_ops, max_bytes)
}

/// [`next_batch`] of the ops after `device_seq` `after` (the batch that follows one in flight).
pub fn batch_after(conn: &Connection, after: i64, max_ops: usize, max_bytes: usize) -> Result<Vec<Op>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE device_seq > ?1 ORDER BY device_seq LIMIT ?2"))?;
    let mut rows = stmt.query([after, max_ops.max(1) as i64])?;
    let mut out = Vec::new();
    let mut bytes = 0;
    while let Some(r) = rows.next()? {
        let (op, size) = read_op(r)?;
        if !out.is_empty() && bytes + size > max_bytes {
            break;
        }
        bytes += size;
        out.push(op);
    }
    Ok(out)
}

/// What [`record_results`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Ops acknowledged (applied, duplicate or merged) and removed.
    pub acknowledged: usize,
    /// Ops moved to the rejected list.
    pub rejected: usize,
    /// Results naming an op the outbox does not hold (already recorded): ignored.
    pub unknown: usize,
}

/// Records the server's per-op results: acknowledged ops leave the outbox, rejected ops move
/// to the rejected list. Ops without a result stay, to be sent again.
pub fn record_results(tx: &Transaction<'_>, results: &[OpResult], now: i64) -> Result<Recorded> {
    record_results_of(tx, &[], results, now)
}

/// [`record_results`] for a batch whose ops are at hand (`sent`, as read by [`next_batch`]): an
/// acknowledged op is removed by its `device_seq` without reading it back (outbox ops never
/// change once written). A result for an op not in `sent` is looked up in the outbox, as the
/// rejected ones are.
pub fn record_results_of(tx: &Transaction<'_>, sent: &[Op], results: &[OpResult], now: i64) -> Result<Recorded> {
    let sent: HashMap<&str, &Op> = sent.iter().map(|op| (op.op_id.as_str(), op)).collect();
    let mut rec = Recorded::default();
    for res in results {
        let Some(op) = op_of(tx, &sent, &res.op_id)? else {
            rec.unknown += 1;
            continue;
        };
        // Out of the outbox first: putting a rejected op's record back re-applies what is still
        // pending on it, and this op no longer is.
        if tx.prepare_cached("DELETE FROM outbox WHERE device_seq = ?1")?.execute([op.device_seq])? == 0 {
            // Recorded already (a result repeated in the answer).
            rec.unknown += 1;
            continue;
        }
        match res.status {
            OpStatus::Applied | OpStatus::Duplicate | OpStatus::Merged => {
                // A record this device made (a create, an event) is on the server at the op's
                // version: nobody else can have changed it before. An update's version is not
                // taken: changes made by others since the row's version here came before it, and
                // until a pull brings them the row's version stays the one it was read at — the
                // base of the next edit, so that the server finds a field someone else wrote
                // meanwhile (rule 5: kept as a conflict, not overwritten silently).
                let own = match op.kind {
                    OpKind::Create => Some((op.entity, op.entity_id.as_str())),
                    // An event op's version is its event's.
                    OpKind::Event => Some((
                        EntityKind::IncidentEvent,
                        op.fields.get("id").and_then(serde_json::Value::as_str).unwrap_or(&op.entity_id),
                    )),
                    OpKind::Update | OpKind::Delete => None,
                };
                if let (Some((entity, id)), Some(v)) = (own, res.version) {
                    crate::record::set_version(tx, entity, id, v)?;
                }
                rec.acknowledged += 1;
            }
            OpStatus::Rejected => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO rejected_ops (op_id, device_seq, entity, entity_id, kind, fields, \
                     base_version, device_time, code, reason, rejected_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )?
                .execute(params![
                    op.op_id,
                    op.device_seq,
                    op.entity.as_str(),
                    op.entity_id,
                    op.kind.as_str(),
                    serde_json::to_string(&op.fields)?,
                    op.base_version,
                    op.device_time,
                    res.code.as_deref().unwrap_or("rejected"),
                    res.reason.as_deref().unwrap_or(""),
                    now
                ])?;
                crate::sync::merge::revert_rejected(tx, &op, res.code.as_deref().unwrap_or_default(), res.current.as_deref())?;
                rec.rejected += 1;
            }
        }
    }
    Ok(rec)
}

/// The op a result names: the one at hand in the batch sent, else as the outbox holds it (an op
/// never changes once written); None when the outbox no longer holds it.
fn op_of<'a>(tx: &Transaction<'_>, sent: &HashMap<&str, &'a Op>, op_id: &str) -> Result<Option<Cow<'a, Op>>> {
    if let Some(op) = sent.get(op_id) {
        return Ok(Some(Cow::Borrowed(*op)));
    }
    let mut stmt = tx.prepare_cached(&format!("{SELECT} WHERE op_id = ?1"))?;
    Ok(stmt.query_row([op_id], |r| read_op(r).map(|(op, _)| op)).optional()?.map(Cow::Owned))
}

/// An op the server refused, kept for the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RejectedOp {
    /// The op as it was sent.
    pub op: Op,
    /// Machine code of the refusal.
    pub code: String,
    /// Why (Simplified Chinese).
    pub reason: String,
    /// When the device learned of it.
    pub rejected_at: i64,
}

/// The rejected list, oldest first.
pub fn rejected(conn: &Connection) -> Result<Vec<RejectedOp>> {
    let mut stmt = conn.prepare_cached(
        "SELECT device_seq, op_id, entity, entity_id, kind, fields, base_version, device_time, code, reason, rejected_at \
         FROM rejected_ops ORDER BY device_seq",
    )?;
    let rows = stmt.query_map([], |r| {
        let (op, _) = read_op(r)?;
        Ok(RejectedOp { op, code: r.get(8)?, reason: r.get(9)?, rejected_at: r.get(10)? })
    })?;
    rows.collect::<Result<_, _>>().map_err(Error::from)
}

/// Removes one entry of the rejected list (the user has seen it).
pub fn dismiss_rejected(tx: &Connection, op_id: &str) -> Result<bool> {
    Ok(tx.execute("DELETE FROM rejected_ops WHERE op_id = ?1", [op_id])? > 0)
}
