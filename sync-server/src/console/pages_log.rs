//! Console pages about synced changes: the activity log and each record's history, devices'
//! sync history (pushes, pulls, rejected ops) and the conflicts list.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use gridline_core::access::{mask_fields, ScopeKeys};
use gridline_core::record::Fields;
use gridline_core::{EntityKind, Role};

use super::html::{self, esc, url};
use super::pages::{blocking, cells_with_link, csv, csv_link, date_range, opt_param, param, render, visible_grids, wants_csv, Params};
use super::{CResult, ConsoleError, ScopeView, Sess};
use crate::storage::console::{ChangeQuery, ChangeRow};
use crate::storage::UserRecord;
use crate::AppState;

/// Whether the user may see a change, judged by the keys the record had.
fn can_see(scope: &ScopeView, c: &ChangeRow) -> bool {
    let Some(entity) = EntityKind::parse(&c.entity) else { return false };
    let keys = ScopeKeys { area_id: c.area_id.clone(), department_id: c.department_id.clone(), ..ScopeKeys::default() };
    scope.principal.can_read_keys(entity, &keys, &scope.parents)
}

/// The changed fields as text, personal ones masked unless the role may see them.
fn what_changed(scope: &ScopeView, c: &ChangeRow) -> String {
    let mut f: Fields = serde_json::from_str(&c.fields_json).unwrap_or_default();
    if !scope.principal.sees_personal_data() {
        if let Some(e) = EntityKind::parse(&c.entity) {
            mask_fields(e, &mut f);
        }
    }
    f.remove("id");
    f.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) if k == "at" || k.ends_with("_at") => n.as_i64().map(html::datetime).unwrap_or_else(|| n.to_string()),
                serde_json::Value::Array(a) if k == "points" => format!("{}个轨迹点", a.len()),
                other => other.to_string(),
            };
            format!("{k}={shown}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn user_names(users: &[UserRecord]) -> HashMap<String, String> {
    users
        .iter()
        .map(|u| (u.id.clone(), if u.display_name.is_empty() { u.username.clone() } else { format!("{}（{}）", u.display_name, u.username) }))
        .collect()
}

const CHANGE_HEAD: &[&str] = &["序号", "服务器时间", "设备时间", "用户", "设备", "对象", "操作", "修改内容"];

fn change_raw(scope: &ScopeView, c: &ChangeRow, users: &HashMap<String, String>, devices: &HashMap<String, String>) -> Vec<String> {
    let entity = EntityKind::parse(&c.entity).map(|e| e.label_zh()).unwrap_or("");
    let kind = match c.kind.as_str() {
        "create" => "新建".to_owned(),
        "update" => "修改".to_owned(),
        "delete" => "删除".to_owned(),
        "event" => format!("事件：{}", c.event_kind.as_deref().and_then(gridline_core::EventKind::parse).map(|k| k.label_zh()).unwrap_or("")),
        k => k.to_owned(),
    };
    vec![
        c.seq.to_string(),
        html::datetime(c.at),
        html::datetime(c.device_time),
        users.get(&c.user_id).cloned().unwrap_or_else(|| c.user_id.clone()),
        devices.get(&c.device_id).cloned().unwrap_or_else(|| c.device_id.clone()),
        format!("{entity} {}", html::short_id(&c.entity_id)),
        kind,
        what_changed(scope, c),
    ]
}

fn change_cells(raw: &[String], c: &ChangeRow) -> Vec<String> {
    let mut cells: Vec<String> = raw.iter().map(|x| esc(x)).collect();
    cells[4] = format!("<a href=\"/console/devices/{}\">{}</a>", url(&c.device_id), esc(&raw[4]));
    cells[5] = format!("<a href=\"/console/history/{}/{}\">{}</a>", url(&c.entity), url(&c.entity_id), esc(&raw[5]));
    cells[7] = format!("<pre>{}</pre>", esc(&raw[7]));
    cells
}

fn scoped_changes(scope: &ScopeView) -> ChangeQuery {
    let mut q = ChangeQuery::default();
    match scope.principal.role {
        Role::Admin => {}
        Role::DepartmentHandler => q.departments = Some(scope.principal.scope.department_ids.clone()),
        _ => q.areas = Some(scope.areas.clone().unwrap_or_default()),
    }
    q
}

async fn activity(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let mut q = scoped_changes(&sess.scope);
    q.user_id = opt_param(&p, "user");
    q.area = opt_param(&p, "grid");
    q.entity = opt_param(&p, "entity");
    if q.entity.as_deref().is_some_and(|e| EntityKind::parse(e).is_none()) {
        return Err(ConsoleError::Bad("「对象类型」取值无效".into()));
    }
    (q.from, q.to) = date_range(&p)?;
    let csv_out = wants_csv(&p);
    q.limit = if csv_out { 100_000 } else { 300 };
    let service = st.service.clone();
    let (rows, users, devices, names) = blocking(move || {
        let c = service.storage().console();
        Ok((c.changes(&q)?, service.storage().users()?, c.all_devices()?, service.names()?))
    })
    .await?;
    let unames = user_names(&users);
    let dnames: HashMap<String, String> = devices.iter().map(|d| (d.id.clone(), format!("{} {}", d.name, html::short_id(&d.id)))).collect();
    let rows: Vec<&ChangeRow> = rows.iter().filter(|c| can_see(&sess.scope, c)).collect();
    let raw: Vec<Vec<String>> = rows.iter().map(|c| change_raw(&sess.scope, c, &unames, &dnames)).collect();
    if csv_out {
        return Ok(csv("activity", CHANGE_HEAD, &raw));
    }
    let people: Vec<(String, String)> = users
        .iter()
        .filter(|u| sess.scope.areas.as_ref().is_none_or(|a| u.scope.area_ids.iter().any(|x| a.contains(x))))
        .map(|u| (u.id.clone(), unames.get(&u.id).cloned().unwrap_or_default()))
        .collect();
    let kinds: Vec<(String, String)> = EntityKind::ALL.iter().map(|k| (k.as_str().to_owned(), k.label_zh().to_owned())).collect();
    let grids = visible_grids(&sess.scope, &names);
    let mut b = String::from("<h1>操作日志</h1><form class=\"filters\" method=\"get\">");
    let _ = write!(b, "<label>人员<select name=\"user\">{}</select></label>", html::options(&people, param(&p, "user"), Some("全部")));
    let _ = write!(b, "<label>网格<select name=\"grid\">{}</select></label>", html::options(&grids, param(&p, "grid"), Some("全部")));
    let _ = write!(b, "<label>对象类型<select name=\"entity\">{}</select></label>", html::options(&kinds, param(&p, "entity"), Some("全部")));
    let _ = write!(b, "<label>自<input type=\"date\" name=\"from\" value=\"{}\"></label><label>至<input type=\"date\" name=\"to\" value=\"{}\"></label>",
        esc(param(&p, "from")), esc(param(&p, "to")));
    let _ = write!(b, "<button type=\"submit\">筛选</button>{}</form><p class=\"muted\">显示最近 {} 条（导出可得全部）。服务器时间用于排序与统计；设备时间仅供参考。</p>",
        csv_link("/console/activity", &p), rows.len());
    let cells: Vec<Vec<String>> = raw.iter().zip(&rows).map(|(r, c)| change_cells(r, c)).collect();
    b.push_str(&html::table(CHANGE_HEAD, &cells));
    Ok(render(&sess, "/console/activity", "操作日志", &b))
}

async fn history(State(st): State<AppState>, sess: Sess, Path((entity, id)): Path<(String, String)>, Query(p): Query<Params>) -> CResult<Response> {
    let kind = EntityKind::parse(&entity).ok_or(ConsoleError::NotFound)?;
    let service = st.service.clone();
    let id2 = id.clone();
    let (record, rows, users, devices) = blocking(move || {
        let c = service.storage().console();
        let q = ChangeQuery { entity: Some(kind.as_str().into()), entity_id: Some(id2.clone()), limit: 10_000, ..Default::default() };
        Ok((c.record(kind, &id2)?, c.changes(&q)?, service.storage().users()?, c.all_devices()?))
    })
    .await?;
    let allowed = match &record {
        Some(r) => sess.scope.can_read(kind, &r.id, &r.fields),
        // A deleted record: judged by the keys it had at its last change.
        None => rows.first().is_some_and(|c| can_see(&sess.scope, c)),
    };
    if rows.is_empty() && record.is_none() {
        return Err(ConsoleError::NotFound);
    }
    if !allowed {
        return Err(ScopeView::forbidden());
    }
    let unames = user_names(&users);
    let dnames: HashMap<String, String> = devices.iter().map(|d| (d.id.clone(), format!("{} {}", d.name, html::short_id(&d.id)))).collect();
    let raw: Vec<Vec<String>> = rows.iter().map(|c| change_raw(&sess.scope, c, &unames, &dnames)).collect();
    if wants_csv(&p) {
        return Ok(csv("history", CHANGE_HEAD, &raw));
    }
    let mut b = format!("<h1>修改历史 · {} {}</h1><p>{}{}</p>", kind.label_zh(), esc(&id), csv_link(&format!("/console/history/{}/{}", url(&entity), url(&id)), &p),
        if kind == EntityKind::Incident { format!(" <a class=\"btn secondary\" href=\"/console/incidents/{}\">事件详情</a>", url(&id)) } else { String::new() });
    let cells: Vec<Vec<String>> = raw.iter().zip(&rows).map(|(r, c)| change_cells(r, c)).collect();
    b.push_str(&html::table(CHANGE_HEAD, &cells));
    Ok(render(&sess, "/console/activity", "修改历史", &b))
}

/// Users whose devices the caller may inspect: admins all; others users sharing their areas.
fn visible_user(scope: &ScopeView, u: &UserRecord) -> bool {
    u.id == scope.principal.user_id
        || match &scope.areas {
            None => true,
            Some(a) => scope.principal.role == Role::Supervisor && u.scope.area_ids.iter().any(|x| a.contains(x)),
        }
}

async fn devices(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let service = st.service.clone();
    let (devices, users) = blocking(move || Ok((service.storage().console().all_devices()?, service.storage().users()?))).await?;
    let by_id: HashMap<&str, &UserRecord> = users.iter().map(|u| (u.id.as_str(), u)).collect();
    let head = ["设备", "用户", "角色", "登记时间", "最近同步", "状态"];
    let list: Vec<_> = devices.iter().filter(|d| by_id.get(d.user_id.as_str()).is_some_and(|u| visible_user(&sess.scope, u))).collect();
    let raw: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let role = by_id.get(d.user_id.as_str()).map(|u| u.role.label_zh()).unwrap_or("");
            vec![format!("{} {}", d.name, html::short_id(&d.id)), d.username.clone(), role.to_owned(), html::datetime(d.created_at),
                html::opt_datetime(d.last_seen_at), if d.revoked_at.is_some() { "已注销".into() } else { "正常".into() }]
        })
        .collect();
    if wants_csv(&p) {
        return Ok(csv("devices", &head, &raw));
    }
    let cells = cells_with_link(&raw, Some(0), |i| format!("/console/devices/{}", url(&list[i].id)));
    let b = format!("<h1>设备同步</h1><p>{}</p>{}", csv_link("/console/devices", &p), html::table(&head, &cells));
    Ok(render(&sess, "/console/devices", "设备同步", &b))
}

async fn device_detail(State(st): State<AppState>, sess: Sess, Path(id): Path<String>, Query(p): Query<Params>) -> CResult<Response> {
    let service = st.service.clone();
    let id2 = id.clone();
    let (devices, users, log, rejected) = blocking(move || {
        let c = service.storage().console();
        Ok((c.all_devices()?, service.storage().users()?, c.sync_log(&id2, 500)?, c.rejected_ops(&id2, 500)?))
    })
    .await?;
    let d = devices.iter().find(|d| d.id == id).ok_or(ConsoleError::NotFound)?;
    let u = users.iter().find(|u| u.id == d.user_id).ok_or(ConsoleError::NotFound)?;
    if !visible_user(&sess.scope, u) {
        return Err(ScopeView::forbidden());
    }
    let head = ["服务器时间", "类型", "条数", "被拒绝"];
    let raw: Vec<Vec<String>> = log
        .iter()
        .map(|l| vec![html::datetime(l.at), if l.kind == "push" { "上传".into() } else { "下载".into() }, l.ops.to_string(), l.rejected.to_string()])
        .collect();
    if wants_csv(&p) {
        return Ok(csv("sync-history", &head, &raw));
    }
    let mut b = format!("<h1>设备 · {} {}</h1><p class=\"muted\">用户 {} · 登记于 {} · 最近同步 {}</p><p>{} <a class=\"btn secondary\" href=\"/console/activity?user={}\">该用户的操作</a></p>",
        esc(&d.name), esc(&d.id), esc(&d.username), html::datetime(d.created_at), html::opt_datetime(d.last_seen_at), csv_link(&format!("/console/devices/{}", url(&id)), &p), url(&d.user_id));
    let _ = write!(b, "<div class=\"grid2\"><div class=\"panel\"><h2 style=\"margin-top:0\">同步记录</h2>{}</div>", html::table(&head, &cells_with_link(&raw, None, |_| String::new())));
    let rrows: Vec<Vec<String>> = rejected
        .iter()
        .map(|r| vec![html::datetime(r.received_at), html::datetime(r.device_time), esc(html::short_id(&r.op_id)), esc(&r.code), esc(&r.reason)])
        .collect();
    let _ = write!(b, "<div class=\"panel\"><h2 style=\"margin-top:0\">被拒绝的操作</h2>{}</div></div>", html::table(&["服务器时间", "设备时间", "操作", "代码", "原因"], &rrows));
    Ok(render(&sess, "/console/devices", "设备同步", &b))
}

async fn conflicts(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let service = st.service.clone();
    let (rows, records, devices) = blocking(move || {
        let c = service.storage().console();
        let rows = c.conflict_rows(500)?;
        let mut records = HashMap::new();
        for r in &rows {
            let k = &r.stored.conflict;
            if let Some(row) = c.record(k.entity, &k.entity_id)? {
                records.insert((k.entity, k.entity_id.clone()), row);
            }
        }
        Ok((rows, records, c.all_devices()?))
    })
    .await?;
    let dnames: HashMap<&str, String> = devices.iter().map(|d| (d.id.as_str(), format!("{}（{}）", d.username, d.name))).collect();
    let see = sess.scope.principal.sees_personal_data();
    let visible: Vec<_> = rows
        .iter()
        .filter(|r| records.get(&(r.stored.conflict.entity, r.stored.conflict.entity_id.clone())).is_some_and(|row| sess.scope.can_read(row_kind(r), &row.id, &row.fields)))
        .collect();
    let show = |entity: EntityKind, field: &str, v: &serde_json::Value| {
        let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
        if !see && entity.field(field).is_some_and(|f| f.personal) { gridline_core::access::mask(&text) } else { text }
    };
    let head = ["时间", "对象", "字段", "被覆盖的值", "保留的值", "被覆盖方", "保留方", "状态"];
    let raw: Vec<Vec<String>> = visible
        .iter()
        .map(|r| {
            let c = &r.stored.conflict;
            vec![html::datetime(c.at), format!("{} {}", c.entity.label_zh(), c.entity_id), c.field.clone(), show(c.entity, &c.field, &c.lost_value),
                show(c.entity, &c.field, &c.kept_value), dnames.get(c.lost_writer.as_str()).cloned().unwrap_or_else(|| c.lost_writer.clone()),
                dnames.get(c.kept_writer.as_str()).cloned().unwrap_or_else(|| c.kept_writer.clone()),
                r.restored_at.map(|t| format!("已恢复 {}", html::datetime(t))).unwrap_or_else(|| "未处理".into())]
        })
        .collect();
    if wants_csv(&p) {
        return Ok(csv("conflicts", &head, &raw));
    }
    let can_restore = !matches!(sess.user.role, Role::DepartmentHandler | Role::BuildingHead);
    let cells: Vec<Vec<String>> = raw
        .iter()
        .zip(&visible)
        .map(|(r, c)| {
            let mut cells: Vec<String> = r.iter().map(|x| esc(x)).collect();
            let k = &c.stored.conflict;
            cells[1] = format!("<a href=\"/console/history/{}/{}\">{}</a>", url(k.entity.as_str()), url(&k.entity_id), esc(&r[1]));
            if c.restored_at.is_none() && can_restore {
                cells[7] = format!("<form method=\"post\" action=\"/console/conflicts/{}/restore\">{}<button type=\"submit\">恢复被覆盖的值</button></form>", c.stored.id, html::csrf_input(&sess.csrf));
            }
            cells
        })
        .collect();
    let b = format!("<h1>冲突</h1><p class=\"muted\">两台设备同时修改同一字段时，后到达服务器的修改生效，被覆盖的值保存在此，可一键恢复（恢复也作为一次修改同步到各终端）。</p><p>{}</p>{}",
        csv_link("/console/conflicts", &p), html::table(&head, &cells));
    Ok(render(&sess, "/console/conflicts", "冲突", &b))
}

fn row_kind(r: &crate::storage::console::ConflictRow) -> EntityKind {
    r.stored.conflict.entity
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/console/activity", get(activity))
        .route("/console/history/{entity}/{id}", get(history))
        .route("/console/devices", get(devices))
        .route("/console/devices/{id}", get(device_detail))
        .route("/console/conflicts", get(conflicts))
}
