//! Console pages: the dashboard, incidents (list, detail, actions forms), tasks, patrols and the
//! household register. Every list can be exported as CSV (`?format=csv`).

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;

use gridline_core::access::mask_fields;
use gridline_core::incident_flow::{self, EventKind, IncidentStatus};
use gridline_core::AssignmentStatus;
use gridline_core::record::{Fields, Row};
use gridline_core::{EntityKind, GpsPoint, Role};

use super::html::{self, esc, url};
use super::{CResult, ConsoleError, ScopeView, Sess};
use crate::service::stats::{Names, Report};
use crate::storage::console::{IncidentQuery, RowsIn};
use crate::AppState;

/// Query parameters.
pub(super) type Params = HashMap<String, String>;

pub(super) fn param<'a>(p: &'a Params, k: &str) -> &'a str {
    p.get(k).map(|s| s.trim()).unwrap_or_default()
}

pub(super) fn opt_param(p: &Params, k: &str) -> Option<String> {
    Some(param(p, k).to_owned()).filter(|s| !s.is_empty())
}

/// A date parameter, or a 400 naming the field.
pub(super) fn date_param(p: &Params, k: &str, label: &str) -> CResult<Option<i64>> {
    match opt_param(p, k) {
        None => Ok(None),
        Some(s) => html::parse_date(&s).map(Some).ok_or_else(|| ConsoleError::Bad(format!("「{label}」日期格式应为 年-月-日，例如 2024-05-01"))),
    }
}

/// The `from` and `to` days of a list's filter as a time range: from the start of `from` to
/// the end of `to` (each open when absent); refused when `to` is before `from`, which would
/// only ever list nothing.
pub(super) fn date_range(p: &Params) -> CResult<(Option<i64>, Option<i64>)> {
    let from = date_param(p, "from", "开始日期")?;
    let to = date_param(p, "to", "结束日期")?.map(|t| t + 86_400_000);
    if let (Some(f), Some(t)) = (from, to) {
        if t <= f {
            return Err(ConsoleError::Bad("结束日期须晚于开始日期".into()));
        }
    }
    Ok((from, to))
}

pub(super) fn s<'a>(f: &'a Fields, k: &str) -> &'a str {
    f.get(k).and_then(Value::as_str).unwrap_or_default()
}

pub(super) fn i(f: &Fields, k: &str) -> Option<i64> {
    f.get(k).and_then(Value::as_i64)
}

/// Runs blocking storage work off the async runtime.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> CResult<T> + Send + 'static) -> CResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// A page response.
pub(super) fn render(sess: &Sess, path: &str, title: &str, body: &str) -> Response {
    let who = sess.who();
    Html(html::page(title, Some(&sess.chrome(&who, path)), body)).into_response()
}

/// A CSV download (UTF-8 with BOM so spreadsheet programs read the Chinese correctly).
pub(super) fn csv(name: &str, head: &[&str], rows: &[Vec<String>]) -> Response {
    let cell = html::csv_cell;
    let mut out = String::from("\u{feff}");
    out.push_str(&head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(","));
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\""))],
        out,
    )
        .into_response()
}

/// Escapes every cell, then turns column `col` of each row into a link to `href(row index)`.
pub(super) fn cells_with_link(raw: &[Vec<String>], col: Option<usize>, href: impl Fn(usize) -> String) -> Vec<Vec<String>> {
    raw.iter()
        .enumerate()
        .map(|(i, r)| {
            let mut c: Vec<String> = r.iter().map(|x| esc(x)).collect();
            if let Some(col) = col {
                c[col] = format!("<a href=\"{}\">{}</a>", esc(&href(i)), esc(&r[col]));
            }
            c
        })
        .collect()
}

pub(super) fn wants_csv(p: &Params) -> bool {
    param(p, "format") == "csv"
}

/// Link to the same page as CSV.
pub(super) fn csv_link(path: &str, p: &Params) -> String {
    let mut q: Vec<String> = p.iter().filter(|(k, _)| *k != "format").map(|(k, v)| format!("{}={}", url(k), url(v))).collect();
    q.sort();
    q.push("format=csv".into());
    format!("<a class=\"btn secondary\" href=\"{path}?{}\">导出CSV</a>", esc(&q.join("&")))
}

/// Grids the user may see, as (id, name) sorted by name.
pub(super) fn visible_grids(scope: &ScopeView, names: &Names) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = names
        .areas
        .iter()
        .filter(|(id, a)| a.2 == "grid" && scope.areas.as_ref().is_none_or(|s| s.contains(id)))
        .map(|(id, a)| (id.clone(), a.0.clone()))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

fn status_tag(status: &str, overdue: bool) -> String {
    let label = IncidentStatus::parse(status).map(|s| s.label_zh()).unwrap_or(status);
    let class = match status {
        "closed" | "verified" => "green",
        "resolved" => "",
        "escalated" | "returned" => "amber",
        _ => "",
    };
    let mut h = format!("<span class=\"tag {class}\">{}</span>", esc(label));
    if overdue {
        h.push_str(" <span class=\"tag red\">超期</span>");
    }
    h
}

/// Whether an incident row is overdue now (deadlines as derived from its timeline).
pub(super) fn is_overdue(f: &Fields, now: i64) -> bool {
    let status = IncidentStatus::parse(s(f, "status")).unwrap_or(IncidentStatus::Reported);
    incident_flow::overdue(status, now, i(f, "response_due_at"), i(f, "resolve_due_at"))
}

/// The incident query limited to the user's scope.
fn scoped_incidents(scope: &ScopeView) -> IncidentQuery {
    let p = &scope.principal;
    let mut q = IncidentQuery::default();
    match p.role {
        Role::Admin => {}
        Role::Supervisor | Role::GridWorker => q.grids = scope.areas.clone(),
        Role::BuildingHead => q.buildings = Some(p.scope.building_ids.clone()),
        Role::DepartmentHandler => q.departments = Some(p.scope.department_ids.clone()),
    }
    q
}

/// The longest range the statistics are worked out for, in days.
const MAX_STATS_DAYS: i64 = 366;

async fn dashboard(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let now = st.service.now_ms();
    let to = date_param(&p, "to", "结束日期")?.map(|t| t + 86_400_000).unwrap_or(crate::service::stats::day_start(now) + 86_400_000);
    let from = date_param(&p, "from", "开始日期")?.unwrap_or(to - 28 * 86_400_000);
    if to <= from {
        return Err(ConsoleError::Bad("结束日期须晚于开始日期".into()));
    }
    // The statistics read every incident created in the range, with its timeline: a year at
    // most (a city's year is ~170,000 requests; 1970 to 9999 would be every one ever, each view).
    if to - from > MAX_STATS_DAYS * 86_400_000 {
        return Err(ConsoleError::Bad(format!("统计区间最长{MAX_STATS_DAYS}天，请缩小日期范围")));
    }
    let service = st.service.clone();
    let principal = sess.scope.principal.clone();
    let q = scoped_incidents(&sess.scope);
    let (report, names, open) = blocking(move || {
        let report = service.stats(&principal, from, to)?;
        let names = service.names()?;
        let open = service.storage().console().incidents(&IncidentQuery { limit: 20_000, open_only: true, overdue_at: Some(now), ..q })?;
        Ok((report, names, open))
    })
    .await?;
    if wants_csv(&p) {
        return Ok(csv("statistics", STATS_HEAD, &stats_rows(&report)));
    }
    let mut overdue: Vec<&(Row, i64)> = open
        .iter()
        .filter(|(r, _)| is_overdue(&r.fields, now) && sess.scope.can_read(EntityKind::Incident, &r.id, &r.fields))
        .collect();
    overdue.sort_by_key(|(r, _)| i(&r.fields, "resolve_due_at").unwrap_or(i64::MAX));
    let t = &report.total;
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>总览</h1><form class=\"filters\" method=\"get\"><label>开始日期<input type=\"date\" name=\"from\" value=\"{}\"></label>\
         <label>结束日期<input type=\"date\" name=\"to\" value=\"{}\"></label><button type=\"submit\">统计</button>{}</form>",
        html::date(from),
        html::date(to - 1),
        csv_link("/console/", &p)
    );
    let _ = write!(b, "<div class=\"panel\"><h2 style=\"margin-top:0\">当前超期事件 <span class=\"tag red\">{}</span> <span class=\"muted\" style=\"font-size:12px;font-weight:normal\">不限统计期，按办结期限排序</span></h2>", overdue.len());
    let rows: Vec<Vec<String>> = overdue.iter().take(15).map(|(r, at)| incident_cells(r, *at, &names, now, true)).collect();
    b.push_str(&html::table(INCIDENT_HEAD, &rows));
    if overdue.len() > 15 {
        let _ = write!(b, "<p><a href=\"/console/incidents?overdue=1\">查看全部{}条超期事件 →</a></p>", overdue.len());
    }
    b.push_str("</div><div class=\"cards\">");
    b.push_str(&html::card("受理事件", &t.received.to_string(), "统计期内上报到服务器", false));
    b.push_str(&html::card("按时响应率", &html::pct(t.response_rate()), &format!("{}/{} 件派遣事件", t.responded_in_time, t.dispatched), false));
    b.push_str(&html::card("办结率", &html::pct(t.resolution_rate()), &format!("{}/{} 件", t.resolved, t.received), false));
    b.push_str(&html::card("办结用时中位数", &html::duration(t.median_resolve_ms), "从受理到办结", false));
    b.push_str(&html::card("办结用时P90", &html::duration(t.p90_resolve_ms), "90%的事件在此之内", false));
    b.push_str(&html::card("超期事件", &t.overdue.to_string(), "统计期内受理、目前超期", t.overdue > 0));
    b.push_str(&html::card("走访覆盖率", &html::pct(t.coverage()), &format!("{}/{} 户", t.visited_households, t.households), false));
    b.push_str("</div>");
    let _ = write!(b, "<div class=\"grid2\" style=\"margin-top:16px\"><div class=\"panel\"><h2 style=\"margin-top:0\">每日受理与办结</h2>{}</div>", html::bars_chart(&report.per_day, "每日受理与办结"));
    let areas = if report.by_community.len() > 1 { &report.by_community } else { &report.by_grid };
    let rate_rows: Vec<(String, Option<f64>, String)> =
        areas.iter().take(16).map(|g| (g.label.clone(), g.stats.resolution_rate(), format!("({}件)", g.stats.received))).collect();
    let _ = write!(b, "<div class=\"panel\"><h2 style=\"margin-top:0\">办结率（按{}）</h2>{}</div></div>", if report.by_community.len() > 1 { "社区" } else { "网格" }, html::rate_chart(&rate_rows, "办结率"));
    let dept_rows: Vec<(String, Option<f64>, String)> =
        report.by_department.iter().map(|g| (g.label.clone(), g.stats.response_rate(), format!("({}件)", g.stats.dispatched))).collect();
    let cov_rows: Vec<(String, Option<f64>, String)> =
        report.by_grid.iter().filter(|g| g.stats.households > 0).take(16).map(|g| (g.label.clone(), g.stats.coverage(), format!("({}户)", g.stats.households))).collect();
    let _ = write!(b, "<div class=\"grid2\"><div class=\"panel\"><h2 style=\"margin-top:0\">部门按时响应率</h2>{}</div><div class=\"panel\"><h2 style=\"margin-top:0\">网格走访覆盖率</h2>{}</div></div>",
        html::rate_chart(&dept_rows, "部门按时响应率"), html::rate_chart(&cov_rows, "走访覆盖率"));
    for (title, groups) in [("按网格", &report.by_grid), ("按社区", &report.by_community), ("按部门", &report.by_department), ("按类别", &report.by_category)] {
        let rows: Vec<Vec<String>> = groups.iter().map(|g| stats_cells(&g.label, &g.stats).into_iter().map(|c| esc(&c)).collect()).collect();
        let _ = write!(b, "<div class=\"panel\"><h2 style=\"margin-top:0\">{title}</h2>{}</div>", html::table(&STATS_HEAD[1..], &rows));
    }
    Ok(render(&sess, "/console/", "总览", &b))
}

const STATS_HEAD: &[&str] = &["分组", "名称", "受理", "按时响应率", "办结率", "办结用时中位数", "办结用时P90", "超期", "走访覆盖率"];

fn stats_cells(label: &str, s: &crate::service::stats::Stats) -> Vec<String> {
    vec![
        label.to_owned(),
        s.received.to_string(),
        html::pct(s.response_rate()),
        html::pct(s.resolution_rate()),
        html::duration(s.median_resolve_ms),
        html::duration(s.p90_resolve_ms),
        s.overdue.to_string(),
        html::pct(s.coverage()),
    ]
}

fn stats_rows(r: &Report) -> Vec<Vec<String>> {
    let mut rows = vec![[vec!["合计".to_owned()], stats_cells("全部", &r.total)].concat()];
    for (kind, groups) in [("网格", &r.by_grid), ("社区", &r.by_community), ("部门", &r.by_department), ("类别", &r.by_category)] {
        rows.extend(groups.iter().map(|g| [vec![kind.to_owned()], stats_cells(&g.label, &g.stats)].concat()));
    }
    rows
}

const INCIDENT_HEAD: &[&str] = &["受理时间", "类别", "网格", "状态", "承办部门", "办结期限", "描述"];

fn incident_raw(r: &Row, received: i64, names: &Names, now: i64) -> Vec<String> {
    let f = &r.fields;
    let overdue = is_overdue(f, now);
    vec![
        html::datetime(received),
        names.categories.get(s(f, "category")).map(|c| c.0.clone()).unwrap_or_else(|| s(f, "category").to_owned()),
        names.area(s(f, "grid_id")),
        format!("{}{}", IncidentStatus::parse(s(f, "status")).map(|s| s.label_zh()).unwrap_or(""), if overdue { "（超期）" } else { "" }),
        names.departments.get(s(f, "department_id")).cloned().unwrap_or_default(),
        html::opt_datetime(i(f, "resolve_due_at")),
        s(f, "description").chars().take(60).collect(),
    ]
}

fn incident_cells(r: &Row, received: i64, names: &Names, now: i64, _dash: bool) -> Vec<String> {
    let raw = incident_raw(r, received, names, now);
    let mut cells: Vec<String> = raw.iter().map(|c| esc(c)).collect();
    cells[0] = format!("<a href=\"/console/incidents/{}\">{}</a>", url(&r.id), esc(&raw[0]));
    cells[3] = status_tag(s(&r.fields, "status"), is_overdue(&r.fields, now));
    cells
}

async fn incidents(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let now = st.service.now_ms();
    let mut q = scoped_incidents(&sess.scope);
    let status = opt_param(&p, "status");
    if let Some(s) = &status {
        if IncidentStatus::parse(s).is_none() {
            return Err(ConsoleError::Bad("「状态」取值无效".into()));
        }
    }
    q.status = status;
    q.category = opt_param(&p, "category");
    q.department = opt_param(&p, "department");
    (q.from, q.to) = date_range(&p)?;
    let grid = opt_param(&p, "grid");
    let overdue_only = param(&p, "overdue") == "1";
    q.open_only = overdue_only;
    q.overdue_at = overdue_only.then_some(now);
    let csv_out = wants_csv(&p);
    q.limit = if csv_out || overdue_only { 50_000 } else { 500 };
    let service = st.service.clone();
    let (rows, names) = blocking(move || {
        let names = service.names()?;
        if let Some(g) = grid {
            // The chosen area and everything under it, within the caller's scope.
            let parents = service.area_parents()?;
            let under: Vec<String> = parents.keys().filter(|a| crate::service::area_path(&parents, a).contains(&g)).cloned().collect();
            q.grids = Some(match q.grids.take() {
                Some(mine) => under.into_iter().filter(|a| mine.contains(a)).collect(),
                None => under,
            });
        }
        Ok((service.storage().console().incidents(&q)?, names))
    })
    .await?;
    let rows: Vec<&(Row, i64)> = rows
        .iter()
        .filter(|(r, _)| sess.scope.can_read(EntityKind::Incident, &r.id, &r.fields))
        .filter(|(r, _)| !overdue_only || is_overdue(&r.fields, now))
        .collect();
    if csv_out {
        let mut head = vec!["编号"];
        head.extend_from_slice(INCIDENT_HEAD);
        let out: Vec<Vec<String>> = rows.iter().map(|(r, at)| [vec![r.id.clone()], incident_raw(r, *at, &names, now)].concat()).collect();
        return Ok(csv("incidents", &head, &out));
    }
    let statuses: Vec<(String, String)> = IncidentStatus::ALL.iter().map(|s| (s.as_str().to_owned(), s.label_zh().to_owned())).collect();
    let mut cats: Vec<(String, String)> = names.categories.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect();
    cats.sort();
    let mut depts: Vec<(String, String)> = names.departments.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    depts.sort();
    let grids = visible_grids(&sess.scope, &names);
    let mut b = String::from("<h1>事件</h1><form class=\"filters\" method=\"get\" id=\"incident-filters\">");
    let _ = write!(b, "<label>状态<select name=\"status\">{}</select></label>", html::options(&statuses, param(&p, "status"), Some("全部")));
    let _ = write!(b, "<label>网格<select name=\"grid\">{}</select></label>", html::options(&grids, param(&p, "grid"), Some("全部")));
    let _ = write!(b, "<label>类别<select name=\"category\">{}</select></label>", html::options(&cats, param(&p, "category"), Some("全部")));
    let _ = write!(b, "<label>承办部门<select name=\"department\">{}</select></label>", html::options(&depts, param(&p, "department"), Some("全部")));
    let _ = write!(b, "<label>受理自<input type=\"date\" name=\"from\" value=\"{}\"></label>", esc(param(&p, "from")));
    let _ = write!(b, "<label>受理至<input type=\"date\" name=\"to\" value=\"{}\"></label>", esc(param(&p, "to")));
    let _ = write!(b, "<label>超期<select name=\"overdue\">{}</select></label>", html::options(&[("1".into(), "仅超期".into())], param(&p, "overdue"), Some("全部")));
    let _ = write!(b, "<button type=\"submit\">筛选</button>{}</form>", csv_link("/console/incidents", &p));
    let _ = write!(b, "<p class=\"muted\" id=\"result-count\">共 {} 条{}</p>", rows.len(), if rows.len() >= 500 && !overdue_only { "（仅显示最近500条，可导出全部）" } else { "" });
    let cells: Vec<Vec<String>> = rows.iter().map(|(r, at)| incident_cells(r, *at, &names, now, false)).collect();
    b.push_str(&html::table(INCIDENT_HEAD, &cells));
    Ok(render(&sess, "/console/incidents", "事件", &b))
}

async fn incident_detail(State(st): State<AppState>, sess: Sess, Path(id): Path<String>, Query(p): Query<Params>) -> CResult<Response> {
    let service = st.service.clone();
    let id2 = id.clone();
    let (row, events, changes, names, received) = blocking(move || {
        let c = service.storage().console();
        let row = c.record(EntityKind::Incident, &id2)?.ok_or(ConsoleError::NotFound)?;
        let events = c.records_by(EntityKind::IncidentEvent, "incident_id", &id2)?;
        let changes = c.changes(&crate::storage::console::ChangeQuery { entity: Some("incident".into()), entity_id: Some(id2.clone()), limit: 1000, ..Default::default() })?;
        let received = c.received_at(EntityKind::Incident, &id2)?;
        let uploaded: Vec<String> = photo_hashes(&row.fields)
            .into_iter()
            .filter(|h| service.storage().attachment_status(h).is_ok_and(|st| st.complete))
            .collect();
        Ok((row, events, changes, service.names()?, (received, uploaded)))
    })
    .await?;
    let (received, uploaded) = received;
    if !sess.scope.can_read(EntityKind::Incident, &row.id, &row.fields) {
        return Err(ScopeView::forbidden());
    }
    let now = st.service.now_ms();
    let f = &row.fields;
    let status = IncidentStatus::parse(s(f, "status")).unwrap_or(IncidentStatus::Reported);
    let server_time: HashMap<&str, (i64, &str)> = changes
        .iter()
        .filter_map(|c| match (c.kind.as_str(), &c.event_id) {
            ("event", Some(e)) => Some((e.as_str(), (c.at, c.device_id.as_str()))),
            ("create", _) => Some((row.id.as_str(), (c.at, c.device_id.as_str()))),
            _ => None,
        })
        .collect();
    let cat = names.categories.get(s(f, "category")).map(|c| c.0.clone()).unwrap_or_default();
    let mut b = String::new();
    let _ = write!(b, "<h1>事件详情 · {} {}</h1>", esc(&cat), status_tag(status.as_str(), is_overdue(f, now)));
    if param(&p, "ok") == "1" {
        b.push_str("<div class=\"ok\">操作已提交并同步到各终端。</div>");
    }
    b.push_str("<div class=\"grid2\"><div class=\"panel\"><h2 style=\"margin-top:0\">基本信息</h2>");
    let sev = gridline_core::incidents::SEVERITIES.iter().find(|(k, _)| *k == s(f, "severity")).map(|x| x.1).unwrap_or("");
    let location = match (f.get("lat").and_then(Value::as_f64), f.get("lng").and_then(Value::as_f64)) {
        (Some(la), Some(ln)) => format!("{la:.5}, {ln:.5}"),
        _ => "未定位".into(),
    };
    // The place as the reporter described it, then the coordinates; without a description,
    // the coordinates alone (no empty first line).
    let place = match s(f, "location_text").trim() {
        "" => format!("<span class=\"muted\">{}</span>", esc(&location)),
        text => format!("{}<br><span class=\"muted\">{}</span>", esc(text), esc(&location)),
    };
    let photos = photo_hashes(f);
    let photo_cell = |h: &String| {
        if uploaded.contains(h) {
            let src = format!("/console/incidents/{}/photos/{}", url(&row.id), url(h));
            format!("<a href=\"{src}\"><img src=\"{src}\" alt=\"现场照片\" style=\"max-width:160px;max-height:120px;margin:2px\"></a>")
        } else {
            format!("<code>{}</code> <span class=\"muted\">（尚未上传）</span>", esc(&h.chars().take(12).collect::<String>()))
        }
    };
    let info: Vec<Vec<String>> = vec![
        vec!["编号".into(), esc(&row.id)],
        vec!["描述".into(), esc(s(f, "description"))],
        vec!["紧急程度".into(), esc(sev)],
        vec!["网格".into(), esc(&names.area(s(f, "grid_id")))],
        vec!["位置".into(), place],
        vec!["上报时间（设备）".into(), html::opt_datetime(i(f, "reported_at"))],
        vec!["受理时间（服务器）".into(), html::opt_datetime(received)],
        vec!["承办部门".into(), esc(&names.departments.get(s(f, "department_id")).cloned().unwrap_or_else(|| "—".into()))],
        vec!["响应期限".into(), html::opt_datetime(i(f, "response_due_at"))],
        vec!["办结期限".into(), html::opt_datetime(i(f, "resolve_due_at"))],
        vec!["照片".into(), if photos.is_empty() { "无".into() } else { photos.iter().map(photo_cell).collect::<Vec<_>>().join(" ") }],
    ];
    b.push_str(&html::table(&["项目", "内容"], &info));
    let _ = write!(b, "<p><a href=\"/console/history/incident/{}\">查看该记录的完整修改历史 →</a></p></div>", url(&row.id));
    b.push_str("<div class=\"panel\"><h2 style=\"margin-top:0\">处理时间线</h2><ol class=\"timeline\">");
    let mut events = events;
    events.sort_by_key(|e| if e.id == row.id { 0 } else { e.version });
    for e in &events {
        let ef = &e.fields;
        let kind = EventKind::parse(s(ef, "kind")).map(|k| k.label_zh()).unwrap_or("");
        let role = Role::parse(s(ef, "actor_role")).map(|r| r.label_zh()).unwrap_or("");
        let (srv, dev) = server_time.get(e.id.as_str()).map(|(a, d)| (html::datetime(*a), *d)).unwrap_or(("—".into(), ""));
        let dept = names.departments.get(s(ef, "department_id")).map(|d| format!(" → {}", esc(d))).unwrap_or_default();
        let _ = write!(b, "<li><b>{}</b>{dept} <span class=\"muted\">{}</span><br>{}<div class=\"muted\" style=\"font-size:12px\">设备时间 {} · 服务器时间 {} · 设备 {}</div></li>",
            esc(kind), esc(role), esc(s(ef, "note")), html::opt_datetime(i(ef, "at")), srv, esc(html::short_id(dev)));
    }
    b.push_str("</ol></div></div>");
    b.push_str(&action_forms(&sess, &row.id, status, &names));
    Ok(render(&sess, "/console/incidents", "事件详情", &b))
}

/// One form per event the user's role may append now (the state machine decides).
fn action_forms(sess: &Sess, id: &str, status: IncidentStatus, names: &Names) -> String {
    let allowed: Vec<EventKind> = incident_flow::allowed_events(Some(status), sess.user.role)
        .into_iter()
        .filter(|e| !matches!(e, EventKind::Reported | EventKind::Note | EventKind::Confirmed))
        .collect();
    if allowed.is_empty() {
        return "<div class=\"panel muted\">当前状态下您没有可执行的操作。</div>".into();
    }
    let mut depts: Vec<(String, String)> = names.departments.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    depts.sort();
    let mut b = String::from("<div class=\"panel actions\"><h2 style=\"margin-top:0\">处理</h2>");
    for e in allowed {
        let needs_reason = matches!(e, EventKind::Returned | EventKind::Reopened | EventKind::Escalated | EventKind::Resolved)
            || (e == EventKind::Closed && status == IncidentStatus::Reported);
        let _ = write!(b, "<form method=\"post\" action=\"/console/incidents/{}/events\" data-action=\"{}\">{}<input type=\"hidden\" name=\"kind\" value=\"{}\">",
            url(id), e.as_str(), html::csrf_input(&sess.csrf), e.as_str());
        if e == EventKind::Dispatched {
            let _ = write!(b, "<label>承办部门 <select name=\"department_id\" required>{}</select></label> <label>办结时限（天，可空）<input name=\"deadline_days\" type=\"number\" min=\"1\" max=\"365\" style=\"width:70px\"></label> ",
                html::options(&depts, "", Some("请选择")));
        }
        let placeholder = if needs_reason { "必填：原因或说明" } else { "备注（可空）" };
        let _ = write!(b, "<input name=\"note\" placeholder=\"{placeholder}\" {} style=\"width:220px\"> <button type=\"submit\">{}</button></form>",
            if needs_reason { "required" } else { "" }, e.label_zh());
    }
    b.push_str("</div>");
    b
}

async fn tasks(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let service = st.service.clone();
    let (tasks, assignments, names, users) = blocking(move || {
        let c = service.storage().console();
        Ok((c.all(EntityKind::Task)?, c.all(EntityKind::TaskAssignment)?, service.names()?, service.storage().users()?))
    })
    .await?;
    let mut tasks: Vec<Row> = tasks.into_iter().filter(|t| sess.scope.can_read(EntityKind::Task, &t.id, &t.fields)).collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(i(&t.fields, "issued_at")));
    let now = st.service.now_ms();
    let mut per_task: HashMap<&str, [u32; 4]> = HashMap::new();
    for a in &assignments {
        let e = per_task.entry(s(&a.fields, "task_id")).or_default();
        let k = match s(&a.fields, "status") { "pending" => 0, "submitted" => 1, "approved" => 2, _ => 3 };
        e[k] += 1;
    }
    let head = ["下发时间", "任务", "区域", "截止", "待提交", "待审核", "已通过", "已退回"];
    let raw: Vec<Vec<String>> = tasks
        .iter()
        .map(|t| {
            let c = per_task.get(t.id.as_str()).copied().unwrap_or_default();
            let due = i(&t.fields, "due_at");
            let late = due.is_some_and(|d| d < now) && c[0] + c[3] > 0;
            vec![html::opt_datetime(i(&t.fields, "issued_at")), s(&t.fields, "title").to_owned(), names.area(s(&t.fields, "area_id")),
                format!("{}{}", html::opt_datetime(due), if late { "（已过期）" } else { "" }), c[0].to_string(), c[1].to_string(), c[2].to_string(), c[3].to_string()]
        })
        .collect();
    if wants_csv(&p) {
        return Ok(csv("tasks", &head, &raw));
    }
    let cells = cells_with_link(&raw, Some(1), |i| format!("/console/tasks/{}", url(&tasks[i].id)));
    let mut b = format!("<h1>任务下发</h1><p>{}</p>", csv_link("/console/tasks", &p));
    b.push_str(&html::table(&head, &cells));
    if matches!(sess.user.role, Role::Supervisor | Role::Admin) {
        let grids = visible_grids(&sess.scope, &names);
        let workers: Vec<(String, String)> = users
            .iter()
            .filter(|u| u.role == Role::GridWorker)
            .filter(|u| sess.scope.areas.as_ref().is_none_or(|a| u.scope.area_ids.iter().any(|x| a.contains(x))))
            .map(|u| (u.id.clone(), format!("{}（{}）", if u.display_name.is_empty() { &u.username } else { &u.display_name }, u.scope.area_ids.iter().map(|g| names.area(g)).collect::<Vec<_>>().join("、"))))
            .collect();
        let _ = write!(b, "<div class=\"panel\" style=\"margin-top:16px\"><h2 style=\"margin-top:0\">下发新任务</h2><form method=\"post\" action=\"/console/tasks\">{}\
            <p><label>标题 <input name=\"title\" required maxlength=\"100\" style=\"width:320px\"></label> <label>截止日期 <input type=\"date\" name=\"due\" required></label></p>\
            <p><label>说明<br><textarea name=\"description\" rows=\"3\" style=\"width:100%\"></textarea></label></p><p>下发到网格：",
            html::csrf_input(&sess.csrf));
        for (g, n) in grids.iter().take(200) {
            let _ = write!(b, "<label style=\"margin-right:10px\"><input type=\"checkbox\" name=\"grid\" value=\"{}\"> {}</label>", esc(g), esc(n));
        }
        b.push_str("</p><p>或指定网格员：");
        for (u, n) in &workers {
            let _ = write!(b, "<label style=\"margin-right:10px\"><input type=\"checkbox\" name=\"worker\" value=\"{}\"> {}</label>", esc(u), esc(n));
        }
        b.push_str("</p><button type=\"submit\">下发</button></form></div>");
    }
    Ok(render(&sess, "/console/tasks", "任务", &b))
}

async fn task_detail(State(st): State<AppState>, sess: Sess, Path(id): Path<String>) -> CResult<Response> {
    let service = st.service.clone();
    let id2 = id.clone();
    let (task, assignments, names) = blocking(move || {
        let c = service.storage().console();
        let t = c.record(EntityKind::Task, &id2)?.ok_or(ConsoleError::NotFound)?;
        Ok((t, c.records_by(EntityKind::TaskAssignment, "task_id", &id2)?, service.names()?))
    })
    .await?;
    if !sess.scope.can_read(EntityKind::Task, &task.id, &task.fields) {
        return Err(ScopeView::forbidden());
    }
    let f = &task.fields;
    let mut b = format!("<h1>任务 · {}</h1><div class=\"panel\"><p>{}</p><p class=\"muted\">下发 {} · 截止 {}</p></div>",
        esc(s(f, "title")), esc(s(f, "description")), html::opt_datetime(i(f, "issued_at")), html::opt_datetime(i(f, "due_at")));
    let reviewer = matches!(sess.user.role, Role::Supervisor | Role::Admin);
    let rows: Vec<Vec<String>> = assignments
        .iter()
        .filter(|a| sess.scope.can_read(EntityKind::TaskAssignment, &a.id, &a.fields))
        .map(|a| {
            let af = &a.fields;
            let status = s(af, "status");
            let status = AssignmentStatus::from_code(status).map(AssignmentStatus::label_zh).unwrap_or(status);
            let review = if reviewer && s(af, "status") == "submitted" {
                format!("<form method=\"post\" action=\"/console/assignments/{}/review\">{}<input name=\"note\" placeholder=\"退回时必填原因\"> \
                    <button name=\"decision\" value=\"approve\">通过</button> <button name=\"decision\" value=\"return\" class=\"secondary\">退回</button></form>",
                    url(&a.id), html::csrf_input(&sess.csrf))
            } else {
                esc(s(af, "review_note"))
            };
            vec![esc(&names.area(s(af, "grid_id"))), esc(status), esc(s(af, "evidence_text")), html::opt_datetime(i(af, "submitted_at")), review]
        })
        .collect();
    b.push_str(&html::table(&["网格", "状态", "提交的材料", "提交时间", "审核"], &rows));
    Ok(render(&sess, "/console/tasks", "任务", &b))
}

async fn patrols(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let now = st.service.now_ms();
    let day = date_param(&p, "day", "日期")?.unwrap_or_else(|| crate::service::stats::day_start(now));
    let worker = opt_param(&p, "worker");
    let service = st.service.clone();
    let grids = sess.scope.areas.clone();
    let w2 = worker.clone();
    let (patrols, tracks, visits, users, names) = blocking(move || {
        let c = service.storage().console();
        let end = day + 86_400_000;
        let q = RowsIn { entity: EntityKind::Patrol, grids: grids.as_deref(), time_field: "started_at", from: day, to: end, owner: w2.as_deref(), limit: 200 };
        let patrols = c.records_in(&q)?;
        let mut tracks = HashMap::new();
        for p in &patrols {
            tracks.insert(p.id.clone(), c.records_by(EntityKind::PatrolTrack, "patrol_id", &p.id)?);
        }
        let visits = c.records_in(&RowsIn { entity: EntityKind::Visit, time_field: "visited_at", limit: 500, ..q })?;
        Ok((patrols, tracks, visits, service.storage().users()?, service.names()?))
    })
    .await?;
    let user_name: HashMap<&str, &str> = users.iter().map(|u| (u.id.as_str(), if u.display_name.is_empty() { u.username.as_str() } else { u.display_name.as_str() })).collect();
    let patrols: Vec<&Row> = patrols.iter().filter(|r| sess.scope.can_read(EntityKind::Patrol, &r.id, &r.fields)).collect();
    let visits: Vec<&Row> = visits.iter().filter(|r| sess.scope.can_read(EntityKind::Visit, &r.id, &r.fields)).collect();
    let head = ["开始", "结束", "网格", "网格员", "里程（米）"];
    let raw: Vec<Vec<String>> = patrols
        .iter()
        .map(|r| vec![html::opt_datetime(i(&r.fields, "started_at")), html::opt_datetime(i(&r.fields, "ended_at")), names.area(s(&r.fields, "grid_id")),
            user_name.get(s(&r.fields, "worker_id")).copied().unwrap_or("").to_owned(), format!("{:.0}", r.fields.get("distance_m").and_then(Value::as_f64).unwrap_or(0.0))])
        .collect();
    if wants_csv(&p) {
        return Ok(csv("patrols", &head, &raw));
    }
    let workers: Vec<(String, String)> = users
        .iter()
        .filter(|u| u.role == Role::GridWorker && sess.scope.areas.as_ref().is_none_or(|a| u.scope.area_ids.iter().any(|x| a.contains(x))))
        .map(|u| (u.id.clone(), user_name.get(u.id.as_str()).copied().unwrap_or("").to_owned()))
        .collect();
    let mut b = format!("<h1>巡查</h1><form class=\"filters\" method=\"get\"><label>网格员<select name=\"worker\">{}</select></label>\
        <label>日期<input type=\"date\" name=\"day\" value=\"{}\"></label><button type=\"submit\">查看</button>{}</form>",
        html::options(&workers, worker.as_deref().unwrap_or(""), Some("全部")), html::date(day), csv_link("/console/patrols", &p));
    let mut segments = Vec::new();
    for r in &patrols {
        let mut pts: Vec<GpsPoint> = Vec::new();
        for t in tracks.get(&r.id).map(Vec::as_slice).unwrap_or(&[]) {
            pts.extend(serde_json::from_value::<Vec<GpsPoint>>(t.fields.get("points").cloned().unwrap_or(Value::Null)).unwrap_or_default());
        }
        pts.sort_by_key(|p| p.at);
        segments.push(pts.iter().map(|p| (p.lat, p.lng)).collect::<Vec<_>>());
    }
    let _ = write!(b, "<div class=\"grid2\"><div class=\"panel\"><h2 style=\"margin-top:0\">轨迹（{} 次巡查）</h2>{}</div><div class=\"panel\"><h2 style=\"margin-top:0\">巡查记录</h2>{}",
        patrols.len(), html::track_chart(&segments, &[]), html::table(&head, &cells_with_link(&raw, None, |_| String::new())));
    let vrows: Vec<Vec<String>> = visits
        .iter()
        .map(|v| vec![html::opt_datetime(i(&v.fields, "visited_at")), esc(s(&v.fields, "purpose")), esc(s(&v.fields, "findings")),
            esc(user_name.get(s(&v.fields, "worker_id")).copied().unwrap_or(""))])
        .collect();
    let _ = write!(b, "<h2>走访（{} 户次）</h2>{}</div></div>", visits.len(), html::table(&["时间", "目的", "发现", "网格员"], &vrows));
    Ok(render(&sess, "/console/patrols", "巡查", &b))
}

async fn households(State(st): State<AppState>, sess: Sess, Query(p): Query<Params>) -> CResult<Response> {
    let service = st.service.clone();
    let grid = opt_param(&p, "grid");
    let p2 = sess.scope.principal.clone();
    let (rows, names) = blocking(move || {
        let c = service.storage().console();
        let rows = match (&grid, p2.role) {
            (Some(g), _) => c.records_by(EntityKind::Household, "grid_id", g)?,
            (None, Role::BuildingHead) => {
                let mut v = Vec::new();
                for b in &p2.scope.building_ids {
                    v.extend(c.records_by(EntityKind::Household, "building_id", b)?);
                }
                v
            }
            (None, _) => Vec::new(),
        };
        Ok((rows, service.names()?))
    })
    .await?;
    let see = sess.scope.principal.sees_personal_data();
    let head = ["网格", "地址", "户主", "电话", "人数", "关怀标签"];
    let raw: Vec<Vec<String>> = rows
        .into_iter()
        .filter(|r| sess.scope.can_read(EntityKind::Household, &r.id, &r.fields))
        .map(|mut r| {
            if !see {
                mask_fields(EntityKind::Household, &mut r.fields);
            }
            let f = &r.fields;
            let tags: Vec<&str> = f.get("care_tags").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            vec![names.area(s(f, "grid_id")), s(f, "address").to_owned(), s(f, "head_name").to_owned(), s(f, "phone").to_owned(),
                i(f, "member_count").unwrap_or(0).to_string(), tags.join("、")]
        })
        .collect();
    if wants_csv(&p) {
        return Ok(csv("households", &head, &raw));
    }
    let grids = visible_grids(&sess.scope, &names);
    let mut b = format!("<h1>住户</h1><form class=\"filters\" method=\"get\"><label>网格<select name=\"grid\">{}</select></label><button type=\"submit\">查看</button>{}</form>",
        html::options(&grids, param(&p, "grid"), Some("请选择网格")), csv_link("/console/households", &p));
    if !see {
        b.push_str("<p class=\"muted\">您的角色不能查看完整的个人信息，电话等字段已脱敏。</p>");
    }
    b.push_str(&html::table(&head, &cells_with_link(&raw, None, |_| String::new())));
    Ok(render(&sess, "/console/households", "住户", &b))
}

/// The photo hashes an incident references.
fn photo_hashes(f: &Fields) -> Vec<String> {
    gridline_core::attachments::photo_hashes(EntityKind::Incident, f).map(str::to_owned).collect()
}

/// A photo of an incident, for whoever may read the incident (the photo's own hash is no key).
async fn incident_photo(State(st): State<AppState>, sess: Sess, Path((id, sha)): Path<(String, String)>) -> CResult<Response> {
    let service = st.service.clone();
    let (row, photo) = blocking(move || {
        let row = service.storage().console().record(EntityKind::Incident, &id)?.ok_or(ConsoleError::NotFound)?;
        if !photo_hashes(&row.fields).contains(&sha) {
            return Err(ConsoleError::NotFound);
        }
        let photo = service.storage().attachment(&sha)?.ok_or(ConsoleError::NotFound)?;
        Ok((row, photo))
    })
    .await?;
    if !sess.scope.can_read(EntityKind::Incident, &row.id, &row.fields) {
        return Err(ScopeView::forbidden());
    }
    Ok(([(header::CONTENT_TYPE, photo.mime), (header::CACHE_CONTROL, "private, max-age=86400".to_owned())], photo.data).into_response())
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/console/", get(dashboard))
        .route("/console/incidents", get(incidents))
        .route("/console/incidents/{id}", get(incident_detail))
        .route("/console/incidents/{id}/photos/{sha}", get(incident_photo))
        .route("/console/tasks", get(tasks))
        .route("/console/tasks/{id}", get(task_detail))
        .route("/console/patrols", get(patrols))
        .route("/console/households", get(households))
}
