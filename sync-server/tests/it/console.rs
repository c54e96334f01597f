//! The web console over HTTP (`oneshot`): login, session cookie, CSRF, rate limit, scope 403s,
//! actions reaching devices' pull feeds through the push path, and CSV masking.

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use serde_json::json;

use gridline_core::access::Scope;
use gridline_core::protocol::OpKind;
use gridline_core::{EntityKind, Role};
use gridline_server::UserSpec;

use crate::common::*;

/// A logged-in browser: its cookies and the session's CSRF token.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

fn set_cookie(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.to_owned())
}

fn cookie_value(set: &str) -> String {
    set.split(';').next().unwrap_or_default().split_once('=').map(|(_, v)| v.to_owned()).unwrap_or_default()
}

fn hidden_csrf(body: &str) -> String {
    let i = body.find("name=\"_csrf\" value=\"").expect("csrf field") + 20;
    body[i..i + 64].to_owned()
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", url_enc(v))).collect::<Vec<_>>().join("&")
}

fn url_enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

pub async fn get(w: &World, path: &str, cookie: &str) -> (StatusCode, HeaderMap, String) {
    let req = Request::get(path).header(header::COOKIE, cookie).body(Body::empty()).expect("request");
    let resp = w.send(req).await;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, headers, String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn post(w: &World, path: &str, cookie: &str, body: String) -> (StatusCode, HeaderMap, String) {
    let req = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .expect("request");
    let resp = w.send(req).await;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    (status, headers, String::from_utf8_lossy(&bytes).into_owned())
}

/// GETs the login page and posts the credentials; returns the response of the POST and the
/// login cookie used.
async fn try_login(w: &World, user: &str, password: &str) -> (StatusCode, HeaderMap, String) {
    let (status, h, body) = get(w, "/console/login", "").await;
    assert_eq!(status, StatusCode::OK);
    let login_cookie = cookie_value(&set_cookie(&h, "gl_login_csrf").expect("login csrf cookie"));
    let token = hidden_csrf(&body);
    assert_eq!(token, login_cookie, "double-submit token");
    post(w, "/console/login", &format!("gl_login_csrf={login_cookie}"), form(&[("_csrf", &token), ("username", user), ("password", password)])).await
}

pub async fn login(w: &World, user: &str) -> Browser {
    let (status, h, body) = try_login(w, user, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let session = set_cookie(&h, "gl_session").expect("session cookie");
    let cookie = format!("gl_session={}", cookie_value(&session));
    let (status, _, page) = get(w, "/console/", &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    Browser { csrf: hidden_csrf(&page), cookie }
}

/// A second community COM2 with grid G3, building B4, household H4, an incident I2 there, and
/// a supervisor `sup2` of COM2. Returns the id of an incident I1 in G1 and of I2.
pub fn two_communities(w: &World) -> (String, String) {
    w.server_push(vec![
        op(EntityKind::Area, "COM2", OpKind::Create, json!({"parent_id": "JM", "kind": "community", "code": "COM2", "name": "第二社区"}), 0),
        op(EntityKind::Area, "G3", OpKind::Create, json!({"parent_id": "COM2", "kind": "grid", "code": "G3", "name": "第3网格"}), 0),
        op(EntityKind::Building, "B4", OpKind::Create, json!({"grid_id": "G3", "name": "B4栋", "address": "测试路2号", "floors": 6, "head_user_id": null}), 0),
        op(EntityKind::Household, "H4", OpKind::Create, household("B4", "G3", "201", "13700137000"), 0),
        op(EntityKind::Incident, "I1", OpKind::Create, incident("G1", Some("B1")), 0),
        op(EntityKind::Incident, "I2", OpKind::Create, incident("G3", Some("B4")), 0),
    ]);
    w.state
        .service
        .add_user(&UserSpec { username: "sup2".into(), password: PASSWORD.into(), role: Role::Supervisor,
            scope: Scope { area_ids: vec!["COM2".into()], ..Scope::default() }, display_name: String::new() })
        .expect("add sup2");
    ("I1".into(), "I2".into())
}

async fn act(w: &World, b: &Browser, incident: &str, pairs: &[(&str, &str)]) -> (StatusCode, String) {
    let mut all = vec![("_csrf", b.csrf.as_str())];
    all.extend_from_slice(pairs);
    let (status, _, body) = post(w, &format!("/console/incidents/{incident}/events"), &b.cookie, form(&all)).await;
    (status, body)
}

#[tokio::test]
async fn login_sets_a_strict_httponly_session_and_pages_need_it() {
    let w = World::new();
    let (status, h, _) = get(&w, "/console/", "").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h.get(header::LOCATION).unwrap(), "/console/login");
    let (status, h, _) = try_login(&w, "sup", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = set_cookie(&h, "gl_session").unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "plain HTTP (a local demo): a Secure cookie would never come back: {session}");
    // Behind an HTTPS reverse proxy the cookies are Secure.
    let req = Request::get("/console/login").header("x-forwarded-proto", "https").body(Body::empty()).unwrap();
    let resp = w.send(req).await;
    let login_cookie = set_cookie(resp.headers(), "gl_login_csrf").unwrap();
    assert!(login_cookie.ends_with("; Secure") && login_cookie.contains("HttpOnly"), "{login_cookie}");
    let id = cookie_value(&session);
    assert_eq!(id.len(), 64);
    // A made-up session id is not a session.
    let (status, _, _) = get(&w, "/console/incidents", &format!("gl_session={}", "0".repeat(64))).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, body) = get(&w, "/console/incidents", &format!("gl_session={id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("事件") && body.contains("筛选"));
    // Logging out ends the session.
    let b = Browser { csrf: hidden_csrf(&body), cookie: format!("gl_session={id}") };
    let (status, _, _) = post(&w, "/console/logout", &b.cookie, form(&[("_csrf", &b.csrf)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_session_outlives_a_server_restart_and_ends_by_idling_or_a_disabled_user() {
    let w = World::new();
    let b = login(&w, "sup").await;
    // The server is restarted (an upgrade): the supervisor is still signed in, same CSRF token.
    let w = w.restarted();
    let (status, _, body) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(hidden_csrf(&body), b.csrf);
    // A disabled user's session ends at their next page.
    assert!(w.state.service.storage().set_disabled("sup", true).unwrap());
    let (status, h, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h.get(header::LOCATION).unwrap(), "/console/login");
    assert!(w.state.service.storage().set_disabled("sup", false).unwrap());
    let (status, _, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "ended, not merely refused while disabled");
    // The console's device revoked (`revoke-device`): its sessions end too.
    let b = login(&w, "sup").await;
    let sup_id = w.state.service.storage().user_by_name("sup").unwrap().unwrap().id;
    let console = w.state.service.storage().devices(&sup_id).unwrap().into_iter().find(|d| d.revoked_at.is_none()).expect("console device");
    assert!(w.state.service.storage().revoke_device(&console.id, now_ms()).unwrap());
    let (status, h, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h.get(header::LOCATION).unwrap(), "/console/login");
    let b = login(&w, "sup").await;
    let (status, _, body) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::OK, "a new login gets a new console device: {body}");

    // Idle expiry, eight hours, moved forward by use.
    let clock = gridline_core::ManualClock::new(now_ms());
    let w = World::with_clock(&clock);
    let b = login(&w, "sup").await;
    clock.advance(7 * 3_600_000);
    let (status, _, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::OK, "seven idle hours: still signed in, and the expiry moves");
    clock.advance(7 * 3_600_000);
    let (status, _, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::OK, "seven hours after the last page");
    clock.advance(8 * 3_600_000 + 1);
    let (status, h, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "eight idle hours: signed out");
    assert_eq!(h.get(header::LOCATION).unwrap(), "/console/login");
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_rate_limited() {
    let w = World::new();
    for _ in 0..5 {
        let (status, h, body) = try_login(&w, "sup", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(set_cookie(&h, "gl_session").is_none());
        assert!(body.contains("用户名或密码错误"));
    }
    // Even the right password is refused now, for this user from this address.
    let (status, h, body) = try_login(&w, "sup", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(set_cookie(&h, "gl_session").is_none());
    // Other users are not affected.
    let (status, _, _) = try_login(&w, "admin", PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let w = World::new();
    let (i1, _) = two_communities(&w);
    // The login form needs its double-submit token too.
    let (status, _, _) = post(&w, "/console/login", "", form(&[("username", "sup"), ("password", PASSWORD)])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let b = login(&w, "sup").await;
    let before = w.fingerprint();
    let dispatch = form(&[("kind", "dispatched"), ("department_id", "D1"), ("note", "")]);
    let (status, _, body) = post(&w, &format!("/console/incidents/{i1}/events"), &b.cookie, dispatch.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("CSRF"));
    let (status, _, _) = post(&w, &format!("/console/incidents/{i1}/events"), &b.cookie, format!("_csrf={}&{dispatch}", "f".repeat(64))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = post(&w, "/console/tasks", &b.cookie, form(&[("title", "t"), ("due", "2099-01-01"), ("grid", "G1")])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.fingerprint(), before);
}

#[tokio::test]
async fn a_supervisor_cannot_open_or_act_on_another_communitys_records() {
    let w = World::new();
    let (i1, i2) = two_communities(&w);
    let b = login(&w, "sup2").await;
    let (status, _, body) = get(&w, &format!("/console/incidents/{i1}"), &b.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("管辖范围"));
    let (status, _, _) = get(&w, &format!("/console/history/incident/{i1}"), &b.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(&w, "/console/history/household/H1", &b.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let before = w.fingerprint();
    let (status, _) = act(&w, &b, &i1, &[("kind", "dispatched"), ("department_id", "D1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.fingerprint(), before);
    // Their own community's incident opens; the list shows only theirs.
    let (status, _, _) = get(&w, &format!("/console/incidents/{i2}"), &b.cookie).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, list) = get(&w, "/console/incidents?format=csv", &b.cookie).await;
    assert!(list.contains(&i2) && !list.contains(&i1), "{list}");
    // A department handler sees only incidents dispatched to their department.
    let dh = login(&w, "dh").await;
    let (status, _, _) = get(&w, &format!("/console/incidents/{i1}"), &dh.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_actions_walk_the_loop_and_reach_devices_pull_feeds() {
    let w = World::new();
    let (i1, _) = two_communities(&w);
    let dh_token = w.enroll("dh").await;
    assert!(w.pull_all(&dh_token).await.iter().all(|c| c.id != i1), "not visible before dispatch");
    let sup = login(&w, "sup").await;
    // The state machine's payload rule: a dispatch needs a department.
    let (status, _) = act(&w, &sup, &i1, &[("kind", "dispatched")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A refused transition is shown with the rule's reason and changes nothing.
    let before = w.state.service.storage().max_seq().unwrap();
    let (status, body) = act(&w, &sup, &i1, &[("kind", "verified")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("核查"), "{body}");
    assert_eq!(w.state.service.storage().max_seq().unwrap(), before, "no record changed");
    let (status, _) = act(&w, &sup, &i1, &[("kind", "dispatched"), ("department_id", "D1"), ("deadline_days", "3"), ("note", "请处理")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // The handler's device pulls the incident, dispatched to D1, with the console's event.
    let changes = w.pull_all(&dh_token).await;
    let inc = changes.iter().find(|c| c.entity == EntityKind::Incident && c.id == i1).expect("incident in handler's feed");
    assert_eq!(inc.fields["status"], "dispatched");
    assert_eq!(inc.fields["department_id"], "D1");
    let sup_id = w.state.service.principal_of("sup").unwrap().unwrap().user_id;
    assert!(changes.iter().any(|c| c.entity == EntityKind::IncidentEvent && c.fields["kind"] == "dispatched" && c.fields["actor_id"] == sup_id.as_str()));
    // The handler accepts and resolves in the console; the supervisor verifies and closes.
    let dh = login(&w, "dh").await;
    assert_eq!(act(&w, &dh, &i1, &[("kind", "accepted")]).await.0, StatusCode::SEE_OTHER);
    let (status, body) = act(&w, &dh, &i1, &[("kind", "resolved")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "resolving needs a note");
    assert!(body.contains("办结情况"), "{body}");
    assert_eq!(act(&w, &dh, &i1, &[("kind", "resolved"), ("note", "已清理")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &dh, &i1, &[("kind", "closed")]).await.0, StatusCode::UNPROCESSABLE_ENTITY, "handlers may not close");
    assert_eq!(act(&w, &sup, &i1, &[("kind", "reopened"), ("note", "居民反映未解决")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &sup, &i1, &[("kind", "escalated"), ("note", "需上级协调")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &sup, &i1, &[("kind", "dispatched"), ("department_id", "D1")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &dh, &i1, &[("kind", "accepted")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &dh, &i1, &[("kind", "resolved"), ("note", "已返工")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &sup, &i1, &[("kind", "verified")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &sup, &i1, &[("kind", "closed")]).await.0, StatusCode::SEE_OTHER);
    let gw_token = w.enroll("gw").await;
    let changes = w.pull_all(&gw_token).await;
    let inc = changes.iter().rev().find(|c| c.entity == EntityKind::Incident && c.id == i1).unwrap();
    assert_eq!(inc.fields["status"], "closed");
    let kinds: Vec<String> = {
        let mut ev: Vec<_> = changes.iter().filter(|c| c.entity == EntityKind::IncidentEvent && c.fields["incident_id"] == i1.as_str()).collect();
        ev.sort_by_key(|c| c.version.unwrap_or(c.seq));
        ev.iter().map(|c| c.fields["kind"].as_str().unwrap_or_default().to_owned()).collect()
    };
    assert_eq!(kinds, ["reported", "dispatched", "accepted", "resolved", "reopened", "escalated", "dispatched", "accepted", "resolved", "verified", "closed"]);
    // The detail page shows the whole timeline; the activity log names the console device.
    let (_, _, page) = get(&w, &format!("/console/incidents/{i1}"), &sup.cookie).await;
    assert!(page.contains("重新办理") && page.contains("核查通过") && page.contains("服务器时间"));
    let (_, _, log) = get(&w, "/console/activity?entity=incident&format=csv", &sup.cookie).await;
    assert!(log.contains("网页控制台") && log.contains("事件：结案"), "{log}");
}

#[tokio::test]
async fn csv_exports_mask_personal_fields_for_roles_that_may_not_see_them() {
    let w = World::new();
    let sup = login(&w, "sup").await;
    let (status, h, csv) = get(&w, "/console/households?grid=G1&format=csv", &sup.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.get(header::CONTENT_TYPE).unwrap().to_str().unwrap().starts_with("text/csv"));
    assert!(csv.contains("13800138000"), "{csv}");
    let bh = login(&w, "bh").await;
    let (_, _, csv) = get(&w, "/console/households?grid=G1&format=csv", &bh.cookie).await;
    assert!(!csv.contains("13800138000"), "{csv}");
    assert!(csv.contains("138****8000"), "{csv}");
    // Only the building head's own building: H1 (B1), not H2 (B2).
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // The activity log masks phones in what changed, too.
    let gw = w.enroll("gw").await;
    w.push(&gw, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"phone": "13912345678"}), w.version("H1"))]).await;
    let (_, _, log) = get(&w, "/console/activity?format=csv", &sup.cookie).await;
    assert!(log.contains("13912345678"));
}

#[tokio::test]
async fn conflicts_are_restored_through_the_push_path() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let base = w.version("H1");
    w.push(&gw, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "甲"}), base)]).await;
    let sup_dev = w.enroll("sup").await;
    let r = w.push(&sup_dev, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "乙"}), base)]).await;
    assert_eq!(r.results[0].conflicts, ["notes"]);
    let sup = login(&w, "sup").await;
    let (_, _, page) = get(&w, "/console/conflicts", &sup.cookie).await;
    let i = page.find("/console/conflicts/").expect("restore form") + "/console/conflicts/".len();
    let id: String = page[i..].chars().take_while(|c| c.is_ascii_digit()).collect();
    let (status, _, _) = post(&w, &format!("/console/conflicts/{id}/restore"), &sup.cookie, form(&[])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _, _) = post(&w, &format!("/console/conflicts/{id}/restore"), &sup.cookie, form(&[("_csrf", &sup.csrf)])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let changes = w.pull_all(&gw).await;
    let h1 = changes.iter().rev().find(|c| c.id == "H1").unwrap();
    assert_eq!(h1.fields["notes"], "甲");
    let (status, _, _) = post(&w, &format!("/console/conflicts/{id}/restore"), &sup.cookie, form(&[("_csrf", &sup.csrf)])).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "restored once only");
}

#[tokio::test]
async fn tasks_are_issued_reviewed_and_returned_with_a_reason() {
    let w = World::new();
    let sup = login(&w, "sup").await;
    let (status, _, body) = post(&w, "/console/tasks", &sup.cookie, form(&[("_csrf", &sup.csrf), ("title", "防汛排查"), ("due", "2001-01-01"), ("grid", "G1")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, _) = post(&w, "/console/tasks", &sup.cookie, form(&[("_csrf", &sup.csrf), ("title", "防汛排查"), ("due", "2099-01-01"), ("grid", "COM")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a community is not a grid");
    let (status, h, _) = post(&w, "/console/tasks", &sup.cookie, form(&[("_csrf", &sup.csrf), ("title", "防汛排查"), ("due", "2099-01-01"), ("grid", "G1"), ("grid", "G2")])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let task_page = h.get(header::LOCATION).unwrap().to_str().unwrap().to_owned();
    // The grid worker's device receives its assignment and submits evidence.
    let gw = w.enroll("gw").await;
    let changes = w.pull_all(&gw).await;
    let a = changes.iter().find(|c| c.entity == EntityKind::TaskAssignment && c.fields["grid_id"] == "G1").expect("assignment for G1");
    assert!(!changes.iter().any(|c| c.entity == EntityKind::TaskAssignment && c.fields["grid_id"] == "G2"), "G2 is not the worker's");
    // Approving their own assignment is the supervisor's review, not the worker's: refused,
    // as is any other status, while it is pending.
    let upd = |fields: serde_json::Value, base: i64| op(EntityKind::TaskAssignment, &a.id, OpKind::Update, fields, base);
    for status in ["approved", "returned", "pending"] {
        let r = w.push(&gw, &[upd(json!({"status": status, "evidence_text": "已排查"}), a.seq)]).await;
        assert_eq!(r.results[0].status, gridline_core::protocol::OpStatus::Rejected, "{status}");
        assert_eq!(r.results[0].code.as_deref(), Some("field_protected"), "{status}: {:?}", r.results[0]);
    }
    let r = w.push(&gw, &[upd(json!({"status": "submitted", "evidence_text": "已排查", "submitted_at": now_ms()}), a.seq)]).await;
    assert_ne!(r.results[0].status, gridline_core::protocol::OpStatus::Rejected, "{:?}", r.results[0]);
    // Handed in, it is the supervisor's until returned: the worker can neither change the
    // evidence under review nor approve it now.
    for fields in [json!({"evidence_text": "改过的"}), json!({"status": "approved"})] {
        let r = w.push(&gw, &[upd(fields.clone(), r.results[0].version.unwrap_or_default())]).await;
        assert_eq!(r.results[0].status, gridline_core::protocol::OpStatus::Rejected, "{fields}");
        assert_eq!(r.results[0].code.as_deref(), Some("role_not_allowed"), "{fields}: {:?}", r.results[0]);
    }
    let review = format!("/console/assignments/{}/review", a.id);
    let (status, _, _) = post(&w, &review, &sup.cookie, form(&[("_csrf", &sup.csrf), ("decision", "return")])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "returning needs a reason");
    let (status, _, _) = post(&w, &review, &sup.cookie, form(&[("_csrf", &sup.csrf), ("decision", "return"), ("note", "请补充照片")])).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let changes = w.pull_all(&gw).await;
    let a2 = changes.iter().rev().find(|c| c.id == a.id).unwrap();
    assert_eq!(a2.fields["status"], "returned");
    assert_eq!(a2.fields["review_note"], "请补充照片");
    let (_, _, page) = get(&w, &task_page, &sup.cookie).await;
    assert!(page.contains("已退回") && page.contains("请补充照片"));
    // Returned, it is the worker's again to hand in once more.
    let r = w.push(&gw, &[upd(json!({"status": "submitted", "evidence_text": "已补充照片"}), a2.seq)]).await;
    assert_ne!(r.results[0].status, gridline_core::protocol::OpStatus::Rejected, "{:?}", r.results[0]);
}

#[tokio::test]
async fn every_path_across_devices_and_the_console() {
    let w = World::new();
    let (gw, dh_dev) = (w.enroll("gw").await, w.enroll("dh").await);
    let (sup, dh) = (login(&w, "sup").await, login(&w, "dh").await);
    let report = |id: &str| op(EntityKind::Incident, id, OpKind::Create, incident("G1", Some("B1")), 0);
    let ev = |incident: &str, kind: &str, note: &str| op(EntityKind::Incident, incident, OpKind::Event, event(&uuid::Uuid::now_v7().to_string(), kind, note, None), 0);
    let status = |changes: &[gridline_core::protocol::Change], id: &str| {
        changes.iter().rev().find(|c| c.entity == EntityKind::Incident && c.id == id).map(|c| c.fields["status"].as_str().unwrap_or_default().to_owned())
    };
    let applied = |r: gridline_core::protocol::PushResponse| {
        assert!(r.results.iter().all(|x| x.status != gridline_core::protocol::OpStatus::Rejected), "{:?}", r.results);
    };
    // Returned by the department from a phone, re-dispatched and finished in the console, with a
    // progress note from the phone and the resident's confirmation from the grid worker's phone.
    applied(w.push(&gw, &[report("X1")]).await);
    assert_eq!(act(&w, &sup, "X1", &[("kind", "dispatched"), ("department_id", "D1")]).await.0, StatusCode::SEE_OTHER);
    applied(w.push(&dh_dev, &[ev("X1", "returned", "不属于本部门")]).await);
    assert_eq!(status(&w.pull_all(&gw).await, "X1").as_deref(), Some("returned"));
    assert_eq!(act(&w, &sup, "X1", &[("kind", "dispatched"), ("department_id", "D1")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &dh, "X1", &[("kind", "accepted")]).await.0, StatusCode::SEE_OTHER);
    applied(w.push(&dh_dev, &[ev("X1", "progress", "已派人")]).await);
    assert_eq!(act(&w, &dh, "X1", &[("kind", "progress"), ("note", "材料已到")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &dh, "X1", &[("kind", "resolved"), ("note", "已修复")]).await.0, StatusCode::SEE_OTHER);
    applied(w.push(&gw, &[ev("X1", "confirmed", "居民确认")]).await);
    assert_eq!(act(&w, &sup, "X1", &[("kind", "verified")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &sup, "X1", &[("kind", "closed")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(status(&w.pull_all(&dh_dev).await, "X1").as_deref(), Some("closed"));
    // Closed as a duplicate straight from the report: the console insists on a reason.
    applied(w.push(&gw, &[report("X2")]).await);
    assert_eq!(act(&w, &sup, "X2", &[("kind", "closed")]).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(act(&w, &sup, "X2", &[("kind", "closed"), ("note", "重复上报")]).await.0, StatusCode::SEE_OTHER);
    // Resolved on the spot by the grid worker's phone, verified in the console, then reopened.
    applied(w.push(&gw, &[report("X3"), ev("X3", "resolved", "现场已处理")]).await);
    assert_eq!(act(&w, &sup, "X3", &[("kind", "verified")]).await.0, StatusCode::SEE_OTHER);
    assert_eq!(act(&w, &sup, "X3", &[("kind", "reopened")]).await.0, StatusCode::UNPROCESSABLE_ENTITY, "reopening needs a reason");
    assert_eq!(act(&w, &sup, "X3", &[("kind", "reopened"), ("note", "居民反映未解决")]).await.0, StatusCode::SEE_OTHER);
    let changes = w.pull_all(&gw).await;
    assert_eq!(status(&changes, "X2").as_deref(), Some("closed"));
    assert_eq!(status(&changes, "X3").as_deref(), Some("reported"));
    // The phone's own refused transition is in its device's sync history.
    let r = w.push(&gw, &[ev("X3", "verified", "")]).await;
    assert_eq!(r.results[0].status, gridline_core::protocol::OpStatus::Rejected);
    let (_, _, devices) = get(&w, "/console/devices", &sup.cookie).await;
    let rows: Vec<&str> = devices.split("/console/devices/").skip(1).collect();
    let mut found = false;
    for r in rows {
        let id: String = r.chars().take_while(|c| *c != '"').collect();
        let (status, _, page) = get(&w, &format!("/console/devices/{id}"), &sup.cookie).await;
        assert_eq!(status, StatusCode::OK);
        found |= page.contains("transition_refused");
    }
    assert!(found, "the rejected op with its code is on a device page");
}

#[tokio::test]
async fn the_overdue_list_holds_what_is_past_its_deadline_and_nothing_else() {
    let clock = gridline_core::ManualClock::new(now_ms());
    let w = World::with_clock(&clock);
    let gw = w.enroll("gw").await;
    // Environment reports: a response within 24 hours of dispatch, resolved within 5 days.
    w.server_push(["A", "B", "C"].iter().map(|id| op(EntityKind::Incident, id, OpKind::Create, incident("G1", Some("B1")), 0)).collect());
    let sup = login(&w, "sup").await;
    assert_eq!(act(&w, &sup, "B", &[("kind", "dispatched"), ("department_id", "D1")]).await.0, StatusCode::SEE_OTHER);
    let r = w.push(&gw, &[op(EntityKind::Incident, "C", OpKind::Event, event("EC", "resolved", "已清理", None), 0)]).await;
    assert_eq!(r.results[0].status, gridline_core::protocol::OpStatus::Applied, "{:?}", r.results);
    // Signed in afresh each time: days pass between the looks (sessions idle out in 8 hours).
    let overdue = || async {
        let sup = login(&w, "sup").await;
        let (status, _, csv) = get(&w, "/console/incidents?format=csv&overdue=1", &sup.cookie).await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        let mut ids: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap_or_default().to_owned()).collect();
        ids.sort();
        ids
    };
    assert_eq!(overdue().await, Vec::<String>::new());
    // Two days on: B, dispatched, was not taken up within a day.
    clock.advance(2 * 86_400_000);
    assert_eq!(overdue().await, ["B"]);
    // Six days on: A and B are past the five days to resolve; C was resolved in time.
    clock.advance(4 * 86_400_000);
    assert_eq!(overdue().await, ["A", "B"]);
}

#[tokio::test]
async fn incident_list_filters_and_patrol_day() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let mut fire = incident("G2", None);
    fire["category"] = json!("fire_hazard");
    w.server_push(vec![
        op(EntityKind::Incident, "E1", OpKind::Create, incident("G1", Some("B1")), 0),
        op(EntityKind::Incident, "F1", OpKind::Create, fire, 0),
    ]);
    let sup = login(&w, "sup").await;
    assert_eq!(act(&w, &sup, "E1", &[("kind", "dispatched"), ("department_id", "D2")]).await.0, StatusCode::SEE_OTHER);
    let list = |q: &'static str| {
        let cookie = sup.cookie.clone();
        let w = &w;
        async move {
            let (status, _, csv) = get(w, &format!("/console/incidents?format=csv&{q}"), &cookie).await;
            assert_eq!(status, StatusCode::OK, "{q}: {csv}");
            let mut ids: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap_or_default().to_owned()).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(list("").await, ["E1", "F1"]);
    assert_eq!(list("category=fire_hazard").await, ["F1"]);
    assert_eq!(list("status=dispatched").await, ["E1"]);
    assert_eq!(list("department=D2").await, ["E1"]);
    assert_eq!(list("grid=G2").await, ["F1"]);
    assert_eq!(list("grid=COM").await, ["E1", "F1"]);
    assert_eq!(list("overdue=1").await, Vec::<String>::new());
    assert_eq!(list("from=2000-01-01&to=2000-01-02").await, Vec::<String>::new());
    assert_eq!(list("from=2000-01-01").await, ["E1", "F1"]);
    let (status, _, body) = get(&w, "/console/incidents?from=2024-13-01", &sup.cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("开始日期"), "the page names the field");
    let (status, _, _) = get(&w, "/console/incidents?status=nonsense", &sup.cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A patrol with a track and a visit shows on the worker's day.
    let gw_id = w.state.service.principal_of("gw").unwrap().unwrap().user_id;
    let t = now_ms();
    let r = w.push(&gw, &[
        op(EntityKind::Patrol, "P1", OpKind::Create, json!({"grid_id": "G1", "worker_id": gw_id, "started_at": t, "ended_at": null, "note": ""}), 0),
        op(EntityKind::PatrolTrack, "T1", OpKind::Create, json!({"patrol_id": "P1", "grid_id": "G1", "points": [
            {"lat": 22.58, "lng": 113.08, "at": t}, {"lat": 22.581, "lng": 113.081, "at": t + 60_000}]}), 0),
        op(EntityKind::Visit, "V1", OpKind::Create, json!({"household_id": "H1", "grid_id": "G1", "worker_id": gw_id, "visited_at": t,
            "purpose": "独居老人探访", "notes": "", "findings": "身体良好", "incident_id": null}), 0),
    ]).await;
    assert!(r.results.iter().all(|x| x.status != gridline_core::protocol::OpStatus::Rejected), "{:?}", r.results);
    let day = gridline_server::console::html::date(t);
    let (status, _, page) = get(&w, &format!("/console/patrols?worker={gw_id}&day={day}"), &sup.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<polyline") && page.contains("独居老人探访") && page.contains("1 次巡查"), "{page}");
    let (_, _, other_day) = get(&w, &format!("/console/patrols?worker={gw_id}&day=2001-01-01"), &sup.cookie).await;
    assert!(!other_day.contains("<polyline"));
}

#[tokio::test]
async fn an_incident_shows_its_place_and_coordinates_without_an_empty_line() {
    let w = World::new();
    two_communities(&w);
    let mut described = incident("G1", Some("B1"));
    (described["lat"], described["lng"]) = (json!(22.57861), json!(113.05139));
    let mut bare = described.clone();
    bare["location_text"] = json!("  ");
    w.server_push(vec![
        op(EntityKind::Incident, "I6", OpKind::Create, described, 0),
        op(EntityKind::Incident, "I7", OpKind::Create, bare, 0),
    ]);
    let sup = login(&w, "sup").await;
    let (_, _, page) = get(&w, "/console/incidents/I6", &sup.cookie).await;
    assert!(page.contains("<td>楼下<br><span class=\"muted\">22.57861, 113.05139</span></td>"), "{page}");
    let (_, _, page) = get(&w, "/console/incidents/I7", &sup.cookie).await;
    assert!(page.contains("<td><span class=\"muted\">22.57861, 113.05139</span></td>"), "{page}");
}

#[tokio::test]
async fn incident_photos_show_for_those_who_may_read_the_incident() {
    let w = World::new();
    two_communities(&w);
    let photo = [[0xffu8, 0xd8, 0xff, 0xe0].as_slice(), &[9u8; 3000]].concat();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&photo));
    let mut with_photo = incident("G1", Some("B1"));
    with_photo["photos"] = json!([sha]);
    w.server_push(vec![op(EntityKind::Incident, "I5", OpKind::Create, with_photo, 0)]);
    let sup = login(&w, "sup").await;
    // Before the phone has uploaded it, the page says so.
    let (_, _, page) = get(&w, "/console/incidents/I5", &sup.cookie).await;
    assert!(page.contains("尚未上传") && !page.contains("<img"), "{page}");
    let gw = w.enroll("gw").await;
    let req = Request::put(format!("/v1/attachments/{sha}?offset=0&total={}", photo.len()))
        .header(header::AUTHORIZATION, format!("Bearer {gw}"))
        .header(header::CONTENT_TYPE, "image/jpeg")
        .body(Body::from(photo.clone()))
        .expect("request");
    assert_eq!(w.send(req).await.status(), StatusCode::OK);
    let (_, _, page) = get(&w, "/console/incidents/I5", &sup.cookie).await;
    let src = format!("/console/incidents/I5/photos/{sha}");
    assert!(page.contains(&format!("<img src=\"{src}\"")), "{page}");
    let req = Request::get(&src).header(header::COOKIE, &sup.cookie).body(Body::empty()).expect("request");
    let resp = w.send(req).await;
    assert_eq!((resp.status(), resp.headers()[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::OK, "image/jpeg"));
    assert_eq!(axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap().to_vec(), photo);
    // Another community's supervisor may not; nor may a photo be fetched through an incident
    // that does not reference it.
    let sup2 = login(&w, "sup2").await;
    assert_eq!(get(&w, &src, &sup2.cookie).await.0, StatusCode::FORBIDDEN);
    assert_eq!(get(&w, &format!("/console/incidents/I1/photos/{sha}"), &sup.cookie).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&w, &src, "").await.0, StatusCode::SEE_OTHER, "no session: to the login page");
}

#[tokio::test]
async fn a_task_issued_above_the_supervisors_community_shows_in_the_console_as_on_the_phone() {
    let w = World::new();
    two_communities(&w);
    let task = |id: &str, area: &str, title: &str| {
        op(EntityKind::Task, id, OpKind::Create,
            json!({"area_id": area, "title": title, "description": "", "due_at": now_ms() + 86_400_000, "issued_by": "server", "issued_at": now_ms()}), 0)
    };
    w.server_push(vec![task("T-CITY", "JM", "全市消防安全大检查"), task("T-COM2", "COM2", "第二社区环境整治")]);
    // The supervisor's phone receives the city's task (it reaches every grid below), not the
    // other community's.
    let dev = w.enroll("sup").await;
    let pulled = w.pull_all(&dev).await;
    assert!(pulled.iter().any(|c| c.id == "T-CITY"));
    assert!(!pulled.iter().any(|c| c.id == "T-COM2"));
    // The console shows the same.
    let sup = login(&w, "sup").await;
    let (status, _, page) = get(&w, "/console/tasks", &sup.cookie).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("全市消防安全大检查"), "the city's task is listed");
    assert!(!page.contains("第二社区环境整治"));
    let (status, _, _) = get(&w, "/console/tasks/T-CITY", &sup.cookie).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(&w, "/console/tasks/T-COM2", &sup.cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_new_password_replaces_the_old_one_and_ends_console_sessions() {
    let w = World::new();
    let b = login(&w, "sup").await;
    let other = login(&w, "gw").await;
    assert!(w.state.service.set_password("sup", "新的密码-2026").unwrap());
    // The session signed in with the old password has ended; another user's has not.
    let (status, _, _) = get(&w, "/console/incidents", &b.cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = get(&w, "/console/", &other.cookie).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = try_login(&w, "sup", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password no longer works");
    let (status, _, body) = try_login(&w, "sup", "新的密码-2026").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    // No such user, or a password shorter than 8 characters: refused, nothing changes.
    assert!(!w.state.service.set_password("nobody", "足够长的新密码-1").unwrap());
    let before = w.fingerprint();
    for short in ["", "1234567", "七个字的密码啊"] {
        let e = w.state.service.set_password("sup", short).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("password:"), "{}", e.message);
        assert!(e.message_zh.contains("密码至少"), "{}", e.message_zh);
    }
    assert_eq!(w.fingerprint(), before);
    let (status, _, _) = try_login(&w, "sup", "新的密码-2026").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the password set before still works");
}

#[tokio::test]
async fn list_filters_with_a_bad_value_or_a_range_that_ends_before_it_starts_are_refused_with_which_field() {
    let w = World::new();
    let sup = login(&w, "sup").await;
    for page in ["/console/", "/console/incidents", "/console/activity"] {
        for (query, says) in [
            ("from=2026-02-01&to=2026-01-31", "结束日期须晚于开始日期"),
            ("from=2026-13-45", "「开始日期」日期格式应为"),
            ("to=yesterday", "「结束日期」日期格式应为"),
        ] {
            let (status, _, body) = get(&w, &format!("{page}?{query}"), &sup.cookie).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{page}?{query}");
            assert!(body.contains(says), "{page}?{query}: {body}");
        }
        // One day is a range: from its start to its end.
        let (status, _, body) = get(&w, &format!("{page}?from=2026-01-31&to=2026-01-31"), &sup.cookie).await;
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
    }
    // The statistics cover a year at most (a leap year's 366 days included), not every
    // incident ever on each view.
    let (status, _, body) = get(&w, "/console/?from=1970-01-01&to=9999-12-31", &sup.cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("统计区间最长366天"), "{body}");
    let (status, _, body) = get(&w, "/console/?from=2024-01-01&to=2024-12-31", &sup.cookie).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = get(&w, "/console/incidents?status=bogus", &sup.cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("「状态」取值无效"), "{body}");
}

#[tokio::test]
async fn a_request_no_console_page_would_send_gets_a_console_page_not_framework_text() {
    let w = World::new();
    let sup = login(&w, "sup").await;
    let before = w.fingerprint();
    // A conflict is named by its number: anything else names none.
    let (status, _, body) = post(&w, "/console/conflicts/abc/restore", &sup.cookie, form(&[("_csrf", &sup.csrf)])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("页面或记录不存在"), "{body}");
    // A form sent as something else than a form.
    for path in ["/console/incidents/I1/events", "/console/tasks", "/console/conflicts/1/restore", "/console/logout"] {
        let req = Request::post(path)
            .header(header::COOKIE, &sup.cookie)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!("{{\"_csrf\": \"{}\"}}", sup.csrf)))
            .expect("request");
        let resp = w.send(req).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        let body = String::from_utf8_lossy(&bytes);
        assert!(body.contains("提交的表单无法识别"), "{path}: {body}");
    }
    assert_eq!(w.fingerprint(), before);
    let (status, _, _) = get(&w, "/console/", &sup.cookie).await;
    assert_eq!(status, StatusCode::OK, "still logged in");
}
