//! Push: checks a batch's shape, then applies it op by op in one transaction with a result per
//! op (DESIGN.md sync rules 3, 4, 5, 7): idempotency, scope and role from the token, field-level
//! merge against `base_version`, incident events through the state machine, clock skew.

use std::sync::Arc;

use serde_json::Value;

use gridline_core::access::{Action, Principal, ScopeKeys};
use gridline_core::incident_flow::{self, EventKind, IncidentStatus};
use gridline_core::protocol::{Op, OpKind, OpResult, OpStatus, PushRequest, PushResponse};
use gridline_core::record::{self, Fields};
use gridline_core::EntityKind;

use super::{area_path, Service};
use crate::error::AppError;
use crate::storage::{AppliedOp, AreaParents, BatchTx, ChangeEntry, ConflictRecord, StoreError, SyncLogEntry};

/// Who a batch comes from.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// An enrolled device: every op is checked against the principal.
    Device(&'a str),
    /// The server itself (seeding, imports): may write reference data; still idempotent.
    Server,
}

impl Origin<'_> {
    fn writer(&self) -> &str {
        match self {
            Origin::Device(d) => d,
            Origin::Server => "server",
        }
    }
}

/// Longest accepted record id.
const MAX_ID_CHARS: usize = 64;

/// A refusal of one op.
struct Refusal {
    code: &'static str,
    reason: String,
}

fn refuse(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal { code, reason: reason.into() }
}

/// Checks the shape of every op before anything is written: known fields of the right type,
/// a sane id, a kind that fits the entity. A malformed op fails the whole request (422), so
/// bad input changes nothing.
pub(crate) fn check_shape(ops: &[Op]) -> Result<(), AppError> {
    for (i, op) in ops.iter().enumerate() {
        let bad = |en: String, zh: String| Err(AppError::invalid_body(format!("op {i}: {en}"), format!("第{}条操作：{zh}", i + 1)));
        if op.op_id.is_empty() || op.op_id.chars().count() > MAX_ID_CHARS {
            return bad("op_id must be 1-64 characters".into(), "操作编号无效".into());
        }
        if op.entity_id.is_empty() || op.entity_id.chars().count() > MAX_ID_CHARS {
            return bad("entity_id must be 1-64 characters".into(), "记录编号无效".into());
        }
        let (kind, fields) = match op.kind {
            OpKind::Event => {
                if op.entity != EntityKind::Incident {
                    return bad("events apply to incidents only".into(), "只有事件可以追加事件记录".into());
                }
                let id_ok = op.fields.get("id").and_then(Value::as_str).is_some_and(|s| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS);
                if !id_ok {
                    return bad("event needs a string id".into(), "事件记录缺少编号".into());
                }
                let mut f = op.fields.clone();
                f.remove("id");
                (EntityKind::IncidentEvent, f)
            }
            OpKind::Delete => (op.entity, Fields::new()),
            _ => (op.entity, op.fields.clone()),
        };
        if let Err(e) = record::check_fields(kind, &fields) {
            let (en, zh) = match e {
                gridline_core::Error::Invalid { field, reason } => {
                    (format!("field `{field}` of {} is unknown or mistyped", kind.as_str()), format!("字段「{field}」{reason}"))
                }
                other => (other.to_string(), "字段无效".into()),
            };
            return bad(en, zh);
        }
    }
    Ok(())
}

/// Per-batch view of the area tree: the shared cache, reloaded inside the transaction after
/// the batch itself wrote areas.
struct Areas<'s> {
    service: &'s Service,
    current: Option<Arc<AreaParents>>,
    dirty: bool,
}

impl Areas<'_> {
    fn path(&mut self, tx: &mut dyn BatchTx, area: Option<&str>) -> Result<Vec<String>, StoreError> {
        let Some(area) = area else { return Ok(Vec::new()) };
        if self.current.is_none() {
            self.current = Some(if self.dirty { Arc::new(tx.area_parents()?) } else { self.service.area_parents()? });
        }
        Ok(area_path(self.current.as_ref().map(|a| a.as_ref()).unwrap_or(&Default::default()), area))
    }
}

struct Ctx<'a, 's> {
    who: &'a Principal,
    origin: Origin<'a>,
    areas: Areas<'s>,
    now: i64,
}

impl Ctx<'_, '_> {
    fn check(
        &mut self,
        tx: &mut dyn BatchTx,
        entity: EntityKind,
        id: &str,
        fields: &Fields,
        action: Action,
        names: &[&str],
    ) -> Result<Result<(), Refusal>, StoreError> {
        if matches!(self.origin, Origin::Server) {
            return Ok(Ok(()));
        }
        let keys = ScopeKeys::of(entity, id, fields);
        let path = self.areas.path(tx, keys.area_id.as_deref())?;
        Ok(self.who.check_write(entity, action, &keys.target(&path), names).map_err(|d| Refusal { code: d.code.as_str(), reason: d.reason_zh }))
    }
}

impl Service {
    /// Applies a push batch for `who` in one transaction. The request's shape must have been
    /// checked with [`check_shape`].
    pub fn push(&self, who: &Principal, origin: Origin<'_>, req: &PushRequest) -> Result<PushResponse, AppError> {
        check_shape(&req.ops)?;
        let now = self.now_ms();
        let mut results = Vec::with_capacity(req.ops.len());
        let mut skewed = false;
        let mut wrote_areas = false;
        let device = origin.writer().to_owned();
        self.storage.batch(&mut |tx| {
            results.clear();
            skewed = false;
            let mut ctx = Ctx { who, origin, areas: Areas { service: self, current: None, dirty: false }, now };
            for op in &req.ops {
                if let Some(prev) = tx.stored_result(&device, &op.op_id)? {
                    // A retry gets the same answer; what was applied is reported as a duplicate.
                    let status = if prev.status == OpStatus::Rejected { OpStatus::Rejected } else { OpStatus::Duplicate };
                    results.push(OpResult { status, ..prev });
                    continue;
                }
                let skew = (op.device_time - now).abs() > self.config.max_clock_skew_ms;
                skewed |= skew;
                tx.begin_op()?;
                let outcome = match apply_one(tx, &mut ctx, op) {
                    Ok(r) => r,
                    Err(StoreError::Invalid { field, reason }) => Err(refuse("invalid", format!("字段「{field}」{reason}"))),
                    Err(StoreError::NotFound) => Err(refuse("not_found", "记录不存在或已删除")),
                    Err(StoreError::AlreadyExists) => Err(refuse("already_exists", "该记录已存在")),
                    Err(e) => return Err(e),
                };
                let result = match outcome {
                    Ok((version, conflicts)) => {
                        tx.log_change(&ChangeEntry { at: now, device_id: &device, user_id: &who.user_id, op })?;
                        tx.end_op(true)?;
                        if op.entity == EntityKind::Area {
                            ctx.areas.dirty = true;
                            ctx.areas.current = None;
                            wrote_areas = true;
                        }
                        let status = if conflicts.is_empty() { OpStatus::Applied } else { OpStatus::Merged };
                        OpResult { op_id: op.op_id.clone(), status, version: Some(version), code: None, reason: None, conflicts }
                    }
                    Err(r) => {
                        tx.end_op(false)?;
                        OpResult {
                            op_id: op.op_id.clone(),
                            status: OpStatus::Rejected,
                            version: None,
                            code: Some(r.code.to_owned()),
                            reason: Some(r.reason),
                            conflicts: Vec::new(),
                        }
                    }
                };
                let rec = AppliedOp { device_id: &device, result: &result, device_time: op.device_time, received_at: now, skew_flagged: skew };
                tx.save_result(&op.op_id, &rec)?;
                results.push(result);
            }
            if let Origin::Device(d) = origin {
                let rejected = results.iter().filter(|r| r.status == OpStatus::Rejected).count() as i64;
                tx.log_sync(&SyncLogEntry { device_id: d.to_owned(), at: now, kind: "push", ops: req.ops.len() as i64, rejected })?;
            }
            Ok(())
        })?;
        if wrote_areas {
            self.invalidate_areas();
        }
        let rejected = results.iter().filter(|r| r.status == OpStatus::Rejected).count();
        if let Origin::Device(d) = origin {
            tracing::info!(device = d, ops = req.ops.len(), rejected, skewed, "push");
        }
        Ok(PushResponse { results, server_time: now, clock_skew_flagged: skewed })
    }
}

type Applied = Result<(i64, Vec<String>), Refusal>;

fn apply_one(tx: &mut dyn BatchTx, ctx: &mut Ctx<'_, '_>, op: &Op) -> Result<Applied, StoreError> {
    let (entity, id) = (op.entity, op.entity_id.as_str());
    if entity == EntityKind::IncidentEvent {
        return Ok(Err(refuse("role_not_allowed", "事件记录只能通过事件操作追加")));
    }
    let names: Vec<&str> = op.fields.keys().map(String::as_str).collect();
    let writer = ctx.origin.writer().to_owned();
    match op.kind {
        OpKind::Create => {
            if tx.exists(entity, id)? {
                return Ok(Err(refuse("already_exists", format!("该{}已存在", entity.label_zh()))));
            }
            let mut fields = op.fields.clone();
            if entity == EntityKind::Incident && matches!(ctx.origin, Origin::Device(_)) {
                // The reporter is whoever the token says.
                fields.insert("reporter_id".into(), Value::String(ctx.who.user_id.clone()));
                fields.insert("reporter_role".into(), Value::String(ctx.who.role.as_str().into()));
            }
            if let Err(r) = ctx.check(tx, entity, id, &fields, Action::Create, &names)? {
                return Ok(Err(r));
            }
            Ok(Ok((tx.create(entity, id, &fields, &writer)?, Vec::new())))
        }
        OpKind::Update => {
            let Some(stored) = tx.load(entity, id)? else { return Ok(Err(refuse("not_found", "记录不存在"))) };
            let Some(before) = stored.fields.clone() else { return Ok(Err(refuse("not_found", "记录已被删除"))) };
            if let Err(r) = ctx.check(tx, entity, id, &before, Action::Update, &names)? {
                return Ok(Err(r));
            }
            let mut after = before.clone();
            after.extend(op.fields.clone());
            if let Err(r) = ctx.check(tx, entity, id, &after, Action::Update, &names)? {
                return Ok(Err(r));
            }
            // Field-level merge: a field written since the device's base by someone else is a
            // conflict; this (later) arrival wins and the overwritten value is kept.
            let versions = tx.field_versions(entity, id)?;
            let mut lost = Vec::new();
            for (name, new) in &op.fields {
                let (seq, by) = match versions.get(name) {
                    Some(v) => (v.seq, v.writer.as_str()),
                    None => (stored.created_seq, stored.created_by.as_str()),
                };
                let old = before.get(name).cloned().unwrap_or(Value::Null);
                if seq > op.base_version && by != writer && old != *new {
                    lost.push((name.clone(), old, new.clone(), by.to_owned()));
                }
            }
            let seq = tx.update(entity, id, &op.fields, &writer)?;
            let mut conflicts = Vec::with_capacity(lost.len());
            for (field, lost_value, kept_value, lost_writer) in lost {
                tx.save_conflict(&ConflictRecord {
                    entity,
                    entity_id: id.to_owned(),
                    field: field.clone(),
                    lost_value,
                    kept_value,
                    lost_writer,
                    kept_writer: writer.clone(),
                    seq,
                    at: ctx.now,
                })?;
                conflicts.push(field);
            }
            Ok(Ok((seq, conflicts)))
        }
        OpKind::Delete => {
            let Some(stored) = tx.load(entity, id)? else { return Ok(Err(refuse("not_found", "记录不存在"))) };
            let Some(before) = stored.fields else { return Ok(Err(refuse("not_found", "记录已被删除"))) };
            if let Err(r) = ctx.check(tx, entity, id, &before, Action::Delete, &[])? {
                return Ok(Err(r));
            }
            Ok(Ok((tx.delete(entity, id)?, Vec::new())))
        }
        OpKind::Event => apply_event(tx, ctx, op),
    }
}

fn apply_event(tx: &mut dyn BatchTx, ctx: &mut Ctx<'_, '_>, op: &Op) -> Result<Applied, StoreError> {
    let incident_id = op.entity_id.as_str();
    let Some(stored) = tx.load(EntityKind::Incident, incident_id)? else {
        return Ok(Err(refuse("not_found", "事件不存在")));
    };
    let Some(incident) = stored.fields else { return Ok(Err(refuse("not_found", "事件已被删除"))) };
    let event_id = op.fields.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    if tx.exists(EntityKind::IncidentEvent, &event_id)? {
        return Ok(Err(refuse("already_exists", "该事件记录已存在")));
    }
    let text = |k: &str| op.fields.get(k).and_then(Value::as_str).map(str::to_owned);
    let Some(kind) = text("kind").as_deref().and_then(EventKind::parse) else {
        return Ok(Err(refuse("invalid", "未知的事件操作")));
    };
    if let Err(r) = ctx.check(tx, EntityKind::Incident, incident_id, &incident, Action::Event(kind), &[])? {
        return Ok(Err(r));
    }
    let status = incident.get("status").and_then(Value::as_str).and_then(IncidentStatus::parse);
    if let Err(e) = incident_flow::transition(status, kind, ctx.who.role) {
        return Ok(Err(refuse("transition_refused", e.reason_zh())));
    }
    let note = text("note").unwrap_or_default();
    let department = text("department_id").filter(|d| !d.is_empty());
    if let Err(p) = incident_flow::check_event_payload_in(status, kind, Some(&note), department.as_deref()) {
        return Ok(Err(refuse("invalid", p.message_zh)));
    }
    if kind == EventKind::Dispatched {
        let dept = department.as_deref().unwrap_or_default();
        if tx.load(EntityKind::Department, dept)?.is_none_or(|d| d.fields.is_none()) {
            return Ok(Err(refuse("invalid", "承办部门不存在")));
        }
    }
    let mut fields = op.fields.clone();
    fields.remove("id");
    // Who acted comes from the token, never from the device.
    fields.insert("incident_id".into(), Value::String(incident_id.to_owned()));
    fields.insert("actor_id".into(), Value::String(ctx.who.user_id.clone()));
    fields.insert("actor_role".into(), Value::String(ctx.who.role.as_str().into()));
    fields.entry("at").or_insert(Value::from(ctx.now));
    fields.entry("note").or_insert(Value::String(String::new()));
    if kind != EventKind::Dispatched {
        fields.insert("department_id".into(), Value::Null);
        fields.insert("deadline_at".into(), Value::Null);
    }
    let writer = ctx.origin.writer().to_owned();
    Ok(Ok((tx.append_event(incident_id, &event_id, &fields, &writer)?, Vec::new())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(entity: EntityKind, kind: OpKind, fields: Value) -> Op {
        Op {
            op_id: "o1".into(),
            device_seq: 1,
            entity,
            entity_id: "r1".into(),
            kind,
            fields: fields.as_object().cloned().unwrap_or_default(),
            base_version: 0,
            device_time: 0,
        }
    }

    #[test]
    fn shape_check_refuses_malformed_ops_before_any_write() {
        let ok = op(EntityKind::Household, OpKind::Update, json!({"notes": "x", "member_count": 2}));
        assert!(check_shape(std::slice::from_ref(&ok)).is_ok());
        let bad = [
            op(EntityKind::Household, OpKind::Update, json!({"nope": 1})),
            op(EntityKind::Household, OpKind::Update, json!({"member_count": "two"})),
            op(EntityKind::Household, OpKind::Event, json!({"id": "e1", "kind": "note"})),
            op(EntityKind::Incident, OpKind::Event, json!({"kind": "note"})),
            Op { entity_id: "x".repeat(65), ..ok.clone() },
            Op { op_id: String::new(), ..ok.clone() },
        ];
        for b in bad {
            let e = check_shape(&[ok.clone(), b.clone()]).unwrap_err();
            assert_eq!(e.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{b:?}");
            assert!(e.message_zh.starts_with("第2条操作"));
        }
        let event = op(EntityKind::Incident, OpKind::Event, json!({"id": "e1", "kind": "note", "note": "n"}));
        assert!(check_shape(&[event]).is_ok());
    }
}
