//! Console actions. Each one becomes ops pushed through the same service path as a device's
//! (`Service::push` with the user's principal and their console device), so the scope rules,
//! the state machine, the change log and every device's pull feed treat it like any other op.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use gridline_core::incident_flow::EventKind;
use gridline_core::protocol::{Op, OpKind, OpResult, OpStatus, PushRequest, PROTOCOL_VERSION};
use gridline_core::{EntityKind, Role};

use super::html::{self, url};
use super::pages::blocking;
use super::{CResult, ConsoleError, ConsoleForm, ScopeView, Sess};
use crate::demo::fields;
use crate::service::{area_path, Origin};
use crate::AppState;

type FormData = Vec<(String, String)>;

fn field<'a>(form: &'a FormData, k: &str) -> &'a str {
    form.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).unwrap_or_default()
}

fn new_op(entity: EntityKind, id: &str, kind: OpKind, f: Value, base: i64, now: i64) -> Op {
    Op { op_id: uuid::Uuid::now_v7().to_string(), device_seq: 0, entity, entity_id: id.to_owned(), kind, fields: fields(f), base_version: base, device_time: now }
}

/// Pushes ops as the session's user from their console device; a refused op becomes a 403
/// (out of scope) or a 422 page with the rule's reason, and nothing after it is sent.
fn push(st: &AppState, sess: &SessLite, ops: Vec<Op>) -> CResult<Vec<OpResult>> {
    let req = PushRequest { protocol: PROTOCOL_VERSION, ops, sent_at: st.service.now_ms(), scope_epoch: None };
    let resp = st.service.push(&sess.principal, Origin::Device(&sess.device_id), &req)?;
    if let Some(r) = resp.results.iter().find(|r| r.status == OpStatus::Rejected) {
        let reason = r.reason.clone().unwrap_or_default();
        return Err(match r.code.as_deref() {
            Some("out_of_scope") => ConsoleError::Forbidden(reason),
            _ => ConsoleError::Refused(reason),
        });
    }
    Ok(resp.results)
}

/// What the blocking part needs of a session.
struct SessLite {
    principal: gridline_core::access::Principal,
    device_id: String,
}

fn lite(sess: &Sess) -> SessLite {
    SessLite { principal: sess.scope.principal.clone(), device_id: sess.device_id.clone() }
}

async fn incident_event(State(st): State<AppState>, sess: Sess, Path(id): Path<String>, ConsoleForm(form): ConsoleForm) -> CResult<Response> {
    sess.check_csrf(&form)?;
    let kind = EventKind::parse(field(&form, "kind")).filter(|k| *k != EventKind::Reported).ok_or_else(|| ConsoleError::Bad("「操作」取值无效".into()))?;
    let note: String = field(&form, "note").chars().take(2000).collect();
    let dept = Some(field(&form, "department_id").to_owned()).filter(|d| !d.is_empty());
    let now = st.service.now_ms();
    let deadline = match field(&form, "deadline_days") {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(n) if (1..=365).contains(&n) => Some(now + n * 86_400_000),
            _ => return Err(ConsoleError::Bad("「办结时限」应为1到365之间的天数".into())),
        },
    };
    if kind == EventKind::Dispatched && dept.is_none() {
        return Err(ConsoleError::Bad("请选择承办部门".into()));
    }
    let s = lite(&sess);
    let scope = sess.scope;
    let st2 = st.clone();
    let id2 = id.clone();
    blocking(move || {
        let row = st2.service.storage().console().record(EntityKind::Incident, &id2)?.ok_or(ConsoleError::NotFound)?;
        if !scope.can_read(EntityKind::Incident, &row.id, &row.fields) {
            return Err(ScopeView::forbidden());
        }
        let op = new_op(EntityKind::Incident, &id2, OpKind::Event, json!({"id": uuid::Uuid::now_v7().to_string(), "kind": kind.as_str(),
            "at": now, "note": note, "department_id": if kind == EventKind::Dispatched { dept } else { None },
            "deadline_at": if kind == EventKind::Dispatched { deadline } else { None }}), row.version, now);
        push(&st2, &s, vec![op]).map(|_| ())
    })
    .await?;
    Ok(Redirect::to(&format!("/console/incidents/{}?ok=1", url(&id))).into_response())
}

async fn restore_conflict(State(st): State<AppState>, sess: Sess, Path(id): Path<String>, ConsoleForm(form): ConsoleForm) -> CResult<Response> {
    sess.check_csrf(&form)?;
    // Conflicts are numbered; anything else names none.
    let id: i64 = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let s = lite(&sess);
    let scope = sess.scope;
    let st2 = st.clone();
    blocking(move || {
        let c = st2.service.storage().console();
        let row = c.conflict_rows(100_000)?.into_iter().find(|r| r.stored.id == id).ok_or(ConsoleError::NotFound)?;
        if row.restored_at.is_some() {
            return Err(ConsoleError::Refused("该冲突已恢复过".into()));
        }
        let k = &row.stored.conflict;
        let rec = c.record(k.entity, &k.entity_id)?.ok_or_else(|| ConsoleError::Refused("记录已被删除，无法恢复".into()))?;
        if !scope.can_read(k.entity, &rec.id, &rec.fields) {
            return Err(ScopeView::forbidden());
        }
        let now = st2.service.now_ms();
        let op = new_op(k.entity, &k.entity_id, OpKind::Update, json!({ k.field.clone(): k.lost_value.clone() }), rec.version, now);
        push(&st2, &s, vec![op])?;
        c.mark_conflict_restored(id, now)?;
        Ok(())
    })
    .await?;
    Ok(Redirect::to("/console/conflicts").into_response())
}

async fn create_task(State(st): State<AppState>, sess: Sess, ConsoleForm(form): ConsoleForm) -> CResult<Response> {
    sess.check_csrf(&form)?;
    if !matches!(sess.user.role, Role::Supervisor | Role::Admin) {
        return Err(ConsoleError::Forbidden("只有督导可以下发任务".into()));
    }
    let title = field(&form, "title").to_owned();
    if title.is_empty() || title.chars().count() > 100 {
        return Err(ConsoleError::Bad("「标题」不能为空，最多100字".into()));
    }
    let description: String = field(&form, "description").chars().take(4000).collect();
    let now = st.service.now_ms();
    let due = html::parse_date(field(&form, "due")).map(|d| d + 86_400_000 - 1).ok_or_else(|| ConsoleError::Bad("「截止日期」格式应为 年-月-日".into()))?;
    if due <= now {
        return Err(ConsoleError::Bad("「截止日期」应晚于今天".into()));
    }
    let grids: Vec<String> = form.iter().filter(|(k, v)| k == "grid" && !v.is_empty()).map(|(_, v)| v.clone()).collect();
    let workers: Vec<String> = form.iter().filter(|(k, v)| k == "worker" && !v.is_empty()).map(|(_, v)| v.clone()).collect();
    if grids.is_empty() && workers.is_empty() {
        return Err(ConsoleError::Bad("请至少选择一个网格或网格员".into()));
    }
    let s = lite(&sess);
    let scope = sess.scope;
    let st2 = st.clone();
    let task_id = uuid::Uuid::now_v7().to_string();
    let tid = task_id.clone();
    blocking(move || {
        let users = st2.service.storage().users()?;
        let names = st2.service.names()?;
        if grids.iter().any(|g| names.areas.get(g).is_none_or(|a| a.2 != "grid")) {
            return Err(ConsoleError::Bad("所选网格不存在".into()));
        }
        let mut targets: Vec<(String, Option<String>)> = grids.into_iter().map(|g| (g, None)).collect();
        for w in workers {
            let u = users.iter().find(|u| u.id == w && u.role == Role::GridWorker).ok_or_else(|| ConsoleError::Bad("所选网格员不存在".into()))?;
            let g = u.scope.area_ids.first().ok_or_else(|| ConsoleError::Bad("所选网格员没有负责的网格".into()))?;
            targets.push((g.clone(), Some(u.id.clone())));
        }
        // The task belongs to the smallest scope area that holds every target.
        let paths: Vec<Vec<String>> = targets.iter().map(|(g, _)| area_path(&scope.parents, g)).collect();
        let area = match scope.principal.role {
            Role::Admin => paths[0].last().cloned(),
            _ => scope.principal.scope.area_ids.iter().find(|a| paths.iter().all(|p| p.contains(a))).cloned(),
        }
        .ok_or_else(|| ConsoleError::Forbidden("所选网格不在您的管辖范围内".into()))?;
        let mut ops = vec![new_op(EntityKind::Task, &tid, OpKind::Create, json!({"area_id": area, "title": title, "description": description,
            "due_at": due, "issued_by": scope.principal.user_id, "issued_at": now}), 0, now)];
        for (g, a) in targets {
            ops.push(new_op(EntityKind::TaskAssignment, &uuid::Uuid::now_v7().to_string(), OpKind::Create, json!({"task_id": tid, "grid_id": g,
                "assignee_id": a, "status": "pending", "evidence_text": "", "evidence_photos": [], "submitted_at": null, "review_note": "", "reviewed_at": null}), 0, now));
        }
        push(&st2, &s, ops).map(|_| ())
    })
    .await?;
    Ok(Redirect::to(&format!("/console/tasks/{}", url(&task_id))).into_response())
}

async fn review_assignment(State(st): State<AppState>, sess: Sess, Path(id): Path<String>, ConsoleForm(form): ConsoleForm) -> CResult<Response> {
    sess.check_csrf(&form)?;
    let approve = match field(&form, "decision") {
        "approve" => true,
        "return" => false,
        _ => return Err(ConsoleError::Bad("「审核结果」取值无效".into())),
    };
    let note: String = field(&form, "note").chars().take(1000).collect();
    if !approve && note.is_empty() {
        return Err(ConsoleError::Bad("退回时请填写原因".into()));
    }
    let s = lite(&sess);
    let scope = sess.scope;
    let st2 = st.clone();
    let task = blocking(move || {
        let row = st2.service.storage().console().record(EntityKind::TaskAssignment, &id)?.ok_or(ConsoleError::NotFound)?;
        if !scope.can_read(EntityKind::TaskAssignment, &row.id, &row.fields) {
            return Err(ScopeView::forbidden());
        }
        if row.fields.get("status").and_then(Value::as_str) != Some("submitted") {
            return Err(ConsoleError::Refused("只能审核已提交的任务".into()));
        }
        let now = st2.service.now_ms();
        let op = new_op(EntityKind::TaskAssignment, &id, OpKind::Update, json!({"status": if approve { "approved" } else { "returned" },
            "review_note": note, "reviewed_at": now}), row.version, now);
        push(&st2, &s, vec![op])?;
        Ok(row.fields.get("task_id").and_then(Value::as_str).unwrap_or_default().to_owned())
    })
    .await?;
    Ok(Redirect::to(&format!("/console/tasks/{}", url(&task))).into_response())
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/console/incidents/{id}/events", post(incident_event))
        .route("/console/conflicts/{id}/restore", post(restore_conflict))
        .route("/console/tasks", post(create_task))
        .route("/console/assignments/{id}/review", post(review_assignment))
}
