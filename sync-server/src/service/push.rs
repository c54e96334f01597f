//! Push: checks a batch's shape, then applies it op by op in one transaction with a result per
//! op (DESIGN.md sync rules 3, 4, 5, 7): idempotency, scope and role from the token, field-level
//! merge against `base_version`, incident events through the state machine, clock skew.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;
use serde_json::Value;

use gridline_core::access::{self, Action, Principal, ScopeKeys};
use gridline_core::incident_flow::{self, EventKind, IncidentStatus};
use gridline_core::protocol::{Change, Op, OpKind, OpResult, OpStatus, PushRequest, PushResponse};
use gridline_core::record::{self, Fields};
use gridline_core::EntityKind;

use super::{area_path, Service};
use crate::auth::Authed;
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
pub(crate) const MAX_ID_CHARS: usize = 64;

/// A refusal of one op.
struct Refusal {
    code: &'static str,
    reason: String,
}

fn refuse(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal { code, reason: reason.into() }
}

/// What can be worked out about an op from the op alone, done before the batch takes the
/// writer (which every device's batches queue for) so the writer's turn is spent on the store.
struct Prepared {
    /// The op's fields as the change log keeps them.
    fields_json: String,
    /// For a create of a record without derived fields: whether the row it writes reads back
    /// on a device (the same check [`readable`] makes after the write).
    create_readable: Option<Result<(), Refusal>>,
}

impl Prepared {
    fn of(incoming: &Incoming) -> Result<Prepared, StoreError> {
        let Incoming::Op(op) = incoming else { return Ok(Prepared { fields_json: String::new(), create_readable: None }) };
        let create_readable = (op.kind == OpKind::Create && !has_derived(op.entity))
            .then(|| readable_fields(op.entity, &op.entity_id, 0, op.fields.clone()));
        Ok(Prepared { fields_json: serde_json::to_string(&op.fields)?, create_readable })
    }
}

/// One op of a batch as received: decoded and well-formed, or refused before any rule ran.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// A well-formed op.
    Op(Op),
    /// An op that could not be decoded or has the wrong shape (DESIGN.md sync rule 3: it is
    /// rejected on its own and does not block the rest of the queue).
    Malformed(MalformedOp),
}

/// A refused op: what could be read of it, and why it is refused.
#[derive(Debug, Clone)]
pub struct MalformedOp {
    /// Its `op_id` when it had a usable one, else empty (the result is then matched by position).
    pub op_id: String,
    /// Its `device_time` when readable, else 0.
    pub device_time: i64,
    /// English reason (never quotes values).
    pub reason: String,
    /// Chinese reason.
    pub reason_zh: String,
}

impl Incoming {
    fn op_id(&self) -> &str {
        match self {
            Incoming::Op(op) => &op.op_id,
            Incoming::Malformed(m) => &m.op_id,
        }
    }
}

pub(crate) fn id_ok(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_ID_CHARS
}

/// Checks the shape of one op before anything is written: known fields of the right type, a
/// sane id, a kind that fits the entity. Returns the English and Chinese reasons.
pub(crate) fn check_op_shape(op: &Op) -> Result<(), (String, String)> {
    if !id_ok(&op.op_id) {
        return Err(("op_id must be 1-64 characters".into(), "操作编号无效".into()));
    }
    if !id_ok(&op.entity_id) {
        return Err(("entity_id must be 1-64 characters".into(), "记录编号无效".into()));
    }
    if op.base_version < 0 || op.device_seq < 0 {
        return Err(("base_version and device_seq must not be negative".into(), "版本号或序号不能为负数".into()));
    }
    // Checked where they are; only an event's fields are copied (its `id` is not a field).
    let (kind, fields) = match op.kind {
        OpKind::Event => {
            if op.entity != EntityKind::Incident {
                return Err(("events apply to incidents only".into(), "只有事件可以追加事件记录".into()));
            }
            if !op.fields.get("id").and_then(Value::as_str).is_some_and(id_ok) {
                return Err(("event needs a string id".into(), "事件记录缺少编号".into()));
            }
            let mut f = op.fields.clone();
            f.remove("id");
            (EntityKind::IncidentEvent, Cow::Owned(f))
        }
        OpKind::Delete => (op.entity, Cow::Owned(Fields::new())),
        _ => (op.entity, Cow::Borrowed(&op.fields)),
    };
    record::check_fields(kind, &fields).map_err(|e| match e {
        gridline_core::Error::Invalid { field, reason } => {
            (format!("field `{field}` of {} is unknown or mistyped", kind.as_str()), format!("字段「{field}」{reason}"))
        }
        other => (other.to_string(), "字段无效".into()),
    })?;
    // The app's own rules for single values (phone shapes, the ID check digit, tag codes): a
    // value no device would have accepted is refused, not stored.
    gridline_core::input::check_values(kind, &fields).map_err(|e| match e {
        gridline_core::Error::Invalid { field, reason } => {
            (format!("field `{field}` of {} has a value the app does not accept", kind.as_str()), format!("字段「{field}」{reason}"))
        }
        other => (other.to_string(), "字段无效".into()),
    })
}

/// Checks a create of a record without derived fields (reference data the server writes itself)
/// as the writer will: its shape, then that its row reads back on a device. Lets a caller that
/// must write all or nothing refuse the whole lot before any of it is pushed.
pub(crate) fn check_plain_create(op: &Op) -> Result<(), (String, String)> {
    check_op_shape(op)?;
    debug_assert!(op.kind == OpKind::Create && !has_derived(op.entity));
    readable_fields(op.entity, &op.entity_id, 0, op.fields.clone())
        .map_err(|r| (format!("the {} would not read back on a device", op.entity.as_str()), r.reason))
}

/// Checks one decoded op; a malformed one keeps its id so its rejection can be stored.
pub fn checked(op: Op) -> Incoming {
    match check_op_shape(&op) {
        Ok(()) => Incoming::Op(op),
        Err((reason, reason_zh)) => Incoming::Malformed(MalformedOp {
            op_id: if id_ok(&op.op_id) { op.op_id } else { String::new() },
            device_time: op.device_time,
            reason,
            reason_zh,
        }),
    }
}

/// Decodes one op of a batch from its raw JSON, op by op, so that one malformed op is refused
/// alone (its index `i` names it in the reason). Decoded from the text straight into an [`Op`];
/// only a refused op is read again as a JSON value, for the id and time its rejection keeps.
pub fn decode_op(i: usize, raw: &RawValue) -> Incoming {
    match serde_json::from_str::<Op>(raw.get()) {
        Ok(op) => match checked(op) {
            Incoming::Malformed(m) => Incoming::Malformed(MalformedOp { reason: format!("op {i}: {}", m.reason), ..m }),
            ok => ok,
        },
        Err(e) => {
            let raw: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let op_id = raw.get("op_id").and_then(Value::as_str).filter(|s| id_ok(s)).unwrap_or_default().to_owned();
            let device_time = raw.get("device_time").and_then(Value::as_i64).unwrap_or(0);
            Incoming::Malformed(MalformedOp {
                op_id,
                device_time,
                reason: format!("op {i}: {}", crate::wire::describe_serde_error(&e)),
                reason_zh: "操作格式与接口不符（未知字段、类型错误或未知的记录类型）".into(),
            })
        }
    }
}

/// Per-batch view of the area tree: the shared cache, reloaded inside the transaction after
/// the batch itself wrote areas.
struct Areas<'s> {
    service: &'s Service,
    current: Option<Arc<AreaParents>>,
    dirty: bool,
    /// Paths from an area up to the root, as the batch's ops asked for them (a batch is
    /// mostly one grid's).
    paths: HashMap<String, Vec<String>>,
}

impl Areas<'_> {
    fn new(service: &Service) -> Areas<'_> {
        Areas { service, current: None, dirty: false, paths: HashMap::new() }
    }

    /// The batch wrote an area: the tree and the paths are read again.
    fn changed(&mut self) {
        self.dirty = true;
        self.current = None;
        self.paths.clear();
    }

    /// The jurisdiction tree as this batch has it (re-read after the batch wrote areas).
    fn tree(&mut self, tx: &mut dyn BatchTx) -> Result<Arc<AreaParents>, StoreError> {
        if let Some(t) = &self.current {
            return Ok(t.clone());
        }
        let t = if self.dirty { Arc::new(tx.area_parents()?) } else { self.service.area_parents()? };
        self.current = Some(t.clone());
        Ok(t)
    }

    fn path(&mut self, tx: &mut dyn BatchTx, area: Option<&str>) -> Result<&[String], StoreError> {
        let Some(area) = area else { return Ok(&[]) };
        if !self.paths.contains_key(area) {
            let path = area_path(&*self.tree(tx)?, area);
            self.paths.insert(area.to_owned(), path);
        }
        Ok(&self.paths[area])
    }
}

struct Ctx<'a, 's> {
    /// Scope keys of parent records read by this batch (a building for its households), so
    /// fifty households of one building read the building once; the entry of a record an op
    /// writes is dropped after that op.
    parents: HashMap<(EntityKind, String), Option<ScopeKeys>>,
    who: &'a Principal,
    /// The device's user as they were when the batch's ops were written, when that scope has
    /// since been replaced (see [`Service::push_from_device`]).
    prior: Option<&'a Principal>,
    origin: Origin<'a>,
    areas: Areas<'s>,
    now: i64,
    /// Server time − the device's when it sent the batch, when that is past the allowed skew
    /// (else 0): added to the device times that set deadlines.
    clock_offset: i64,
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
        let keys = self.keys(tx, entity, id, fields)?;
        let path = self.areas.path(tx, keys.area_id.as_deref())?;
        let target = keys.target(path);
        // An op the current scope refuses is judged again by the scope it was written under;
        // when both refuse, the old scope's reason is the one that explains it to its writer.
        let verdict = match (self.who.check_write(entity, action, &target, names), self.prior) {
            (Err(_), Some(prior)) => prior.check_write(entity, action, &target, names),
            (v, _) => v,
        };
        Ok(verdict.map_err(|d| Refusal { code: d.code.as_str(), reason: d.reason_zh }))
    }

    /// Moves the device time in `field` onto the server's clock (see [`Service::push`]).
    fn on_server_clock(&self, fields: &mut Fields, field: &str) {
        if self.clock_offset == 0 {
            return;
        }
        if let Some(t) = fields.get(field).and_then(Value::as_i64) {
            fields.insert(field.to_owned(), Value::from(t.saturating_add(self.clock_offset)));
        }
    }

    /// [`Principal::check_update_values`] for a device's update (the server's own writes are not
    /// judged).
    fn check_values(&self, entity: EntityKind, before: &Fields, changes: &Fields) -> Result<(), Refusal> {
        if matches!(self.origin, Origin::Server) {
            return Ok(());
        }
        self.who.check_update_values(entity, before, changes).map_err(|d| Refusal { code: d.code.as_str(), reason: d.reason_zh })
    }

    /// A record's scope keys, completed by its parent's (a household's building).
    fn keys(&mut self, tx: &mut dyn BatchTx, entity: EntityKind, id: &str, fields: &Fields) -> Result<ScopeKeys, StoreError> {
        let mut keys = ScopeKeys::of(entity, id, fields);
        if let Some((pk, pid)) = ScopeKeys::parent(entity, fields) {
            if let Some(parent) = self.parent(tx, pk, pid)? {
                keys.inherit(entity, &parent);
            }
        }
        Ok(keys)
    }

    /// The scope keys of a live parent record, None when it does not exist or was deleted; read
    /// once per batch (the entry of a record an op writes is dropped after that op).
    fn parent(&mut self, tx: &mut dyn BatchTx, pk: EntityKind, pid: String) -> Result<Option<ScopeKeys>, StoreError> {
        if let Some(known) = self.parents.get(&(pk, pid.clone())) {
            return Ok(known.clone());
        }
        let read = tx.load(pk, &pid)?.and_then(|r| r.fields).map(|f| ScopeKeys::of(pk, &pid, &f));
        self.parents.insert((pk, pid), read.clone());
        Ok(read)
    }

    /// A resident is registered in a household that exists: one created (or moved) into a
    /// household deleted meanwhile — another phone removed it while this one was offline — is
    /// refused, so no resident is left without its household (a deleted household's residents
    /// go with it, see `BatchTx::delete`).
    ///
    /// `changed` are the fields the op writes, `row` the resident as it will be. The resident's
    /// building and grid must be its household's as the server holds it: a household moved
    /// meanwhile (another phone moved it to another building or grid) would otherwise keep a
    /// resident where it no longer is, in the scope of those who no longer see the household.
    fn household_live(
        &mut self,
        tx: &mut dyn BatchTx,
        entity: EntityKind,
        changed: &Fields,
        row: &Fields,
    ) -> Result<Result<(), Refusal>, StoreError> {
        if entity != EntityKind::Resident || !["household_id", "building_id", "grid_id"].iter().any(|f| changed.contains_key(*f)) {
            return Ok(Ok(()));
        }
        let Some(household) = row.get("household_id").and_then(Value::as_str) else { return Ok(Ok(())) };
        let Some(keys) = self.parent(tx, EntityKind::Household, household.to_owned())? else {
            return Ok(Err(refuse("not_found", "所属住户不存在或已被删除")));
        };
        let text = |f: &str| row.get(f).and_then(Value::as_str);
        if text("building_id") != keys.building_id.as_deref() || text("grid_id") != keys.area_id.as_deref() {
            return Ok(Err(refuse("invalid", "所属住户已迁至其他楼栋或网格，请同步后重试")));
        }
        Ok(Ok(()))
    }

    /// The server's copy of the record a rejected op was about (an event op: its incident), as
    /// the op's user would pull it: masked for the role, a tombstone if it was deleted. None
    /// when there is no such record or the user may not read it. The device puts its row back
    /// from it instead of pulling again from the version it knew.
    fn current(&mut self, tx: &mut dyn BatchTx, op: &Op) -> Result<Option<Box<Change>>, StoreError> {
        let (entity, id) = (op.entity, op.entity_id.as_str());
        if matches!(self.origin, Origin::Server) || entity == EntityKind::IncidentEvent {
            return Ok(None);
        }
        let Some(stored) = tx.load(entity, id)? else { return Ok(None) };
        let change = |deleted, fields| Change { seq: stored.seq, entity, id: id.to_owned(), deleted, version: None, fields };
        // Only that the record is gone: the device named it itself.
        let Some(mut fields) = stored.fields else { return Ok(Some(Box::new(change(true, Fields::new())))) };
        let keys = self.keys(tx, entity, id, &fields)?;
        if !self.who.can_read_keys(entity, &keys, &*self.areas.tree(tx)?) {
            return Ok(None);
        }
        if !self.who.sees_personal_data() {
            access::mask_fields(entity, &mut fields);
        }
        Ok(Some(Box::new(change(false, fields))))
    }
}

/// Default of [`super::Config::prior_scope_grace_ms`]: a week, long enough for a worker to be
/// back in signal range.
pub const PRIOR_SCOPE_GRACE_MS: i64 = 7 * 24 * 3600 * 1000;

impl Service {
    /// Applies a push batch from an enrolled device, each op checked on its own.
    ///
    /// Ops are judged by the user's current role and scope. A device that has not yet learned of
    /// a scope change (the request names an older epoch, one this device has not moved past)
    /// may still hold ops written offline under the old scope: within
    /// `Config::prior_scope_grace_ms` of the change, an op the old scope allowed is accepted too
    /// (DESIGN.md sync rule 7: the device pushes its outbox before it purges).
    ///
    /// `sent_at` is the device's clock when it sent the batch (see [`Service::push`] for what a
    /// clock far off the server's changes).
    pub fn push_from_device(
        &self,
        who: &Authed,
        scope_epoch: Option<i64>,
        sent_at: i64,
        ops: &[Incoming],
    ) -> Result<PushResponse, AppError> {
        let current = who.user.scope_epoch;
        let prior = match scope_epoch {
            Some(e) if e == current => {
                if who.epoch_seen != Some(current) {
                    self.storage.note_epoch_seen(&who.device_id, current)?;
                }
                None
            }
            Some(e) if e < current && who.epoch_seen.is_none_or(|seen| e >= seen) => self
                .storage
                .prior_scope(&who.user.id, e)?
                .filter(|p| self.now_ms() - p.ended_at < self.config.prior_scope_grace_ms)
                .map(|p| p.principal),
            _ => None,
        };
        self.push_checked(&who.user.principal(), prior.as_ref(), Origin::Device(&who.device_id), sent_at, ops)
    }

    /// Applies a push batch for `who` in one transaction, each op checked on its own: a
    /// malformed op is rejected on its own (and its rejection stored, so a retry gets it again),
    /// the others are applied.
    ///
    /// The device's clock is measured by `sent_at`, its time when it sent the batch: off the
    /// server's by more than `Config::max_clock_skew_ms`, the batch is flagged (DESIGN.md sync
    /// rule 4), and the times that set an incident's deadlines — a report's `reported_at`, an
    /// event's `at` — are moved by the measured difference, so a phone whose clock is days off
    /// does not move the deadlines supervisors are measured on. (An op's own `device_time` says
    /// when it was written, maybe hours before a sync after a morning offline: it does not
    /// measure the clock.)
    pub fn push(&self, who: &Principal, origin: Origin<'_>, req: &PushRequest) -> Result<PushResponse, AppError> {
        let ops: Vec<Incoming> = req.ops.iter().cloned().map(checked).collect();
        self.push_checked(who, None, origin, req.sent_at, &ops)
    }

    fn push_checked(
        &self,
        who: &Principal,
        prior: Option<&Principal>,
        origin: Origin<'_>,
        sent_at: i64,
        ops: &[Incoming],
    ) -> Result<PushResponse, AppError> {
        let now = self.now_ms();
        // The server's own writes are on its clock.
        let clock_offset = match origin {
            Origin::Device(_) if (now - sent_at).abs() > self.config.max_clock_skew_ms => now - sent_at,
            _ => 0,
        };
        let mut results = Vec::with_capacity(ops.len());
        let mut skewed = false;
        let mut wrote_areas = false;
        let device = origin.writer().to_owned();
        let prepared: Vec<Prepared> = ops.iter().map(Prepared::of).collect::<Result<_, _>>()?;
        let op_ids: Vec<&str> = ops.iter().map(Incoming::op_id).filter(|id| !id.is_empty()).collect();
        self.storage.batch(&mut |tx| {
            results.clear();
            skewed = false;
            tx.prefetch_results(&device, &op_ids)?;
            let mut ctx =
                Ctx { parents: HashMap::new(), who, prior, origin, areas: Areas::new(self), now, clock_offset };
            for (incoming, pre) in ops.iter().zip(&prepared) {
                let op_id = incoming.op_id();
                if !op_id.is_empty() {
                    if let Some(prev) = tx.stored_result(&device, op_id)? {
                        // A retry gets the same answer; what was applied is reported as a duplicate.
                        // A rejection comes with the record as it is now.
                        let (status, current) = match (prev.status, incoming) {
                            (OpStatus::Rejected, Incoming::Op(op)) => (OpStatus::Rejected, ctx.current(tx, op)?),
                            (OpStatus::Rejected, Incoming::Malformed(_)) => (OpStatus::Rejected, None),
                            _ => (OpStatus::Duplicate, None),
                        };
                        results.push(OpResult { status, current, ..prev });
                        continue;
                    }
                }
                let skew = clock_offset != 0;
                skewed |= skew;
                let op = match incoming {
                    Incoming::Op(op) => op,
                    Incoming::Malformed(m) => {
                        let result = OpResult {
                            op_id: m.op_id.clone(),
                            status: OpStatus::Rejected,
                            version: None,
                            code: Some("invalid".into()),
                            reason: Some(m.reason_zh.clone()),
                            conflicts: Vec::new(),
                            current: None,
                        };
                        if !m.op_id.is_empty() {
                            let rec =
                                AppliedOp { device_id: &device, result: &result, device_time: m.device_time, received_at: now, skew_flagged: skew };
                            tx.save_result(&m.op_id, &rec)?;
                        }
                        results.push(result);
                        continue;
                    }
                };
                tx.begin_op()?;
                let outcome = match apply_one(tx, &mut ctx, op, pre) {
                    Ok(r) => r,
                    Err(StoreError::Invalid { field, reason }) => Err(refuse("invalid", format!("字段「{field}」{reason}"))),
                    Err(StoreError::NotFound) => Err(refuse("not_found", "记录不存在或已删除")),
                    Err(StoreError::AlreadyExists) => Err(refuse("already_exists", "该记录已存在")),
                    Err(e) => return Err(e),
                };
                let result = match outcome {
                    Ok((version, conflicts)) => {
                        tx.log_change(&ChangeEntry { at: now, device_id: &device, user_id: &who.user_id, op, fields_json: &pre.fields_json })?;
                        tx.end_op(true)?;
                        self.fault_point_op_applied();
                        if op.entity == EntityKind::Area {
                            ctx.areas.changed();
                            wrote_areas = true;
                        }
                        let status = if conflicts.is_empty() { OpStatus::Applied } else { OpStatus::Merged };
                        OpResult {
                            op_id: op.op_id.clone(),
                            status,
                            version: Some(version),
                            code: None,
                            reason: None,
                            conflicts,
                            current: None,
                        }
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
                            current: None,
                        }
                    }
                };
                // Whatever the op did to its record (or undid), a later op reads it afresh.
                ctx.parents.remove(&(op.entity, op.entity_id.clone()));
                // Stored without the record's copy: a retry is sent the record as it is then.
                let rec = AppliedOp { device_id: &device, result: &result, device_time: op.device_time, received_at: now, skew_flagged: skew };
                tx.save_result(&op.op_id, &rec)?;
                let current = if result.status == OpStatus::Rejected { ctx.current(tx, op)? } else { None };
                results.push(OpResult { current, ..result });
            }
            if let Origin::Device(d) = origin {
                let rejected = results.iter().filter(|r| r.status == OpStatus::Rejected).count() as i64;
                tx.log_sync(&SyncLogEntry { device_id: d.to_owned(), at: now, kind: "push", ops: ops.len() as i64, rejected })?;
            }
            Ok(())
        })?;
        if wrote_areas {
            self.invalidate_areas();
        }
        let rejected = results.iter().filter(|r| r.status == OpStatus::Rejected).count();
        if let Origin::Device(d) = origin {
            tracing::info!(device = d, ops = ops.len(), rejected, skewed, "push");
        }
        Ok(PushResponse { results, server_time: now, clock_skew_flagged: skewed })
    }
}

type Applied = Result<(i64, Vec<String>), Refusal>;

/// Refuses a write whose row would not read back on a device (an unknown status, a JSON field
/// of the wrong shape); the caller's savepoint undoes it.
///
/// `written` is the row's fields as the op left them (absent ones are null). For an entity
/// without derived fields that is exactly what reading the row back would give (values of a
/// checked type come back from SQLite unchanged), so it is checked in memory; the rows with
/// derived fields (incidents, patrol tracks) are read back.
fn readable(
    tx: &mut dyn BatchTx,
    entity: EntityKind,
    id: &str,
    seq: i64,
    written: Fields,
) -> Result<Result<(), Refusal>, StoreError> {
    if !has_derived(entity) {
        return Ok(readable_fields(entity, id, seq, written));
    }
    let Some(fields) = tx.row(entity, id)? else { return Ok(Ok(())) };
    Ok(check_row(entity, record::Row { id: id.to_owned(), version: seq, fields }))
}

/// Whether some field of `entity`'s rows is derived by the store (not as written).
fn has_derived(entity: EntityKind) -> bool {
    entity.fields().iter().any(|f| f.derived)
}

/// [`readable`] for a record without derived fields: its row is `written` with absent fields
/// null (values of a checked type come back from SQLite unchanged), checked in memory.
fn readable_fields(entity: EntityKind, id: &str, seq: i64, mut written: Fields) -> Result<(), Refusal> {
    for f in entity.fields() {
        written.entry(f.name).or_insert(Value::Null);
    }
    check_row(entity, record::Row { id: id.to_owned(), version: seq, fields: written })
}

/// A resident's dates as an op writes them (`changed`): not after today by the server's clock
/// ([`gridline_core::input::born_by`]); and, for an update that writes the birth date or the ID
/// number, agreeing with each other as the resident will be (`after`: a birth date edited on a
/// device that does not see the ID number cannot be checked there). A create's own fields were
/// checked to agree with its values.
fn resident_dates(entity: EntityKind, changed: &Fields, after: Option<&Fields>, now: i64) -> Result<(), Refusal> {
    if entity != EntityKind::Resident {
        return Ok(());
    }
    gridline_core::input::born_by(changed, now).map_err(field_refusal)?;
    match after {
        Some(row) if changed.contains_key("id_number") || changed.contains_key("birth_date") => {
            gridline_core::input::resident_dates_agree(row).map_err(field_refusal)
        }
        _ => Ok(()),
    }
}

/// A refusal naming the field a core rule found wrong.
fn field_refusal(e: gridline_core::Error) -> Refusal {
    match e {
        gridline_core::Error::Invalid { field, reason } => refuse("invalid", format!("字段「{field}」{reason}")),
        _ => refuse("invalid", "字段无效"),
    }
}

fn check_row(entity: EntityKind, row: record::Row) -> Result<(), Refusal> {
    record::check_readable(entity, row).map_err(|e| match e {
        gridline_core::Error::Invalid { reason, .. } => refuse("invalid", reason),
        _ => refuse("invalid", "记录内容无法识别"),
    })
}

fn apply_one(tx: &mut dyn BatchTx, ctx: &mut Ctx<'_, '_>, op: &Op, pre: &Prepared) -> Result<Applied, StoreError> {
    let (entity, id) = (op.entity, op.entity_id.as_str());
    if entity == EntityKind::IncidentEvent {
        return Ok(Err(refuse("role_not_allowed", "事件记录只能通过事件操作追加")));
    }
    let names: Vec<&str> = op.fields.keys().map(String::as_str).collect();
    let writer = ctx.origin.writer().to_owned();
    match op.kind {
        OpKind::Create => {
            let mut fields = Cow::Borrowed(&op.fields);
            if entity == EntityKind::Incident && matches!(ctx.origin, Origin::Device(_)) {
                // The reporter is whoever the token says.
                let f = fields.to_mut();
                f.insert("reporter_id".into(), Value::String(ctx.who.user_id.clone()));
                f.insert("reporter_role".into(), Value::String(ctx.who.role.as_str().into()));
                ctx.on_server_clock(f, "reported_at");
            }
            if let Err(r) = ctx.check(tx, entity, id, &fields, Action::Create, &names)? {
                return Ok(Err(r));
            }
            if let Err(r) = ctx.household_live(tx, entity, &fields, &fields)? {
                return Ok(Err(r));
            }
            if let Err(r) = resident_dates(entity, &fields, None, ctx.now) {
                return Ok(Err(r));
            }
            // Whether the id is taken is found out by writing the record (nothing is written
            // when it is).
            let seq = match tx.create(entity, id, &fields, &writer) {
                Err(StoreError::AlreadyExists) => {
                    return Ok(Err(refuse("already_exists", format!("该{}已存在", entity.label_zh()))))
                }
                seq => seq?,
            };
            let check = match &pre.create_readable {
                // Checked before the batch took the writer, on the same fields.
                Some(Ok(())) => Ok(()),
                Some(Err(r)) => Err(refuse(r.code, r.reason.clone())),
                None => readable(tx, entity, id, seq, fields.into_owned())?,
            };
            if let Err(r) = check {
                return Ok(Err(r));
            }
            Ok(Ok((seq, Vec::new())))
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
            if let Err(r) = ctx.check_values(entity, &before, &op.fields) {
                return Ok(Err(r));
            }
            if let Err(r) = ctx.household_live(tx, entity, &op.fields, &after)? {
                return Ok(Err(r));
            }
            if let Err(r) = resident_dates(entity, &op.fields, Some(&after), ctx.now) {
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
            if let Err(r) = readable(tx, entity, id, seq, after)? {
                return Ok(Err(r));
            }
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
    ctx.on_server_clock(&mut fields, "at");
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
    fn malformed_ops_are_refused_one_by_one() {
        let ok = op(EntityKind::Household, OpKind::Update, json!({"notes": "x", "member_count": 2}));
        assert!(check_op_shape(&ok).is_ok());
        let bad = [
            op(EntityKind::Household, OpKind::Update, json!({"nope": 1})),
            op(EntityKind::Household, OpKind::Update, json!({"member_count": "two"})),
            op(EntityKind::Household, OpKind::Event, json!({"id": "e1", "kind": "note"})),
            op(EntityKind::Incident, OpKind::Event, json!({"kind": "note"})),
            Op { entity_id: "x".repeat(65), ..ok.clone() },
            Op { op_id: String::new(), ..ok.clone() },
        ];
        for b in bad {
            let raw = serde_json::value::to_raw_value(&b).unwrap();
            match decode_op(1, &raw) {
                Incoming::Malformed(m) => {
                    assert!(m.reason.starts_with("op 1:"), "{m:?}");
                    assert_eq!(m.op_id, if b.op_id.is_empty() { "" } else { "o1" });
                }
                Incoming::Op(o) => panic!("accepted {o:?}"),
            }
        }
        let mut raw = serde_json::to_value(&ok).unwrap();
        raw["entity"] = json!("spaceship");
        raw["device_time"] = json!(7);
        let Incoming::Malformed(m) = decode_op(0, &serde_json::value::to_raw_value(&raw).unwrap()) else { panic!("unknown entity accepted") };
        assert_eq!((m.op_id.as_str(), m.device_time), ("o1", 7));
        let event = op(EntityKind::Incident, OpKind::Event, json!({"id": "e1", "kind": "note", "note": "n"}));
        assert!(matches!(decode_op(0, &serde_json::value::to_raw_value(&event).unwrap()), Incoming::Op(_)));
    }
}
