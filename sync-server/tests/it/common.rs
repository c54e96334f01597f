//! Test fixtures: a small seeded world in a temp data dir, and request helpers over `oneshot`.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use gridline_core::access::{Principal, Scope};
use gridline_core::protocol::{Change, Op, OpKind, PullResponse, PushRequest, PushResponse, PROTOCOL_VERSION};
use gridline_core::record::Fields;
use gridline_core::{EntityKind, Role};
use gridline_server::service::Origin;
use gridline_server::{app, AppState, Config, UserSpec};

pub const PASSWORD: &str = "pass-1234";

pub struct World {
    pub _dir: tempfile::TempDir,
    pub state: AppState,
    pub app: Router,
}

pub fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

pub fn op(entity: EntityKind, id: &str, kind: OpKind, f: Value, base: i64) -> Op {
    Op {
        op_id: uuid::Uuid::now_v7().to_string(),
        device_seq: 0,
        entity,
        entity_id: id.to_owned(),
        kind,
        fields: fields(f),
        base_version: base,
        device_time: now_ms(),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn household(building: &str, grid: &str, room: &str, phone: &str) -> Value {
    json!({"building_id": building, "grid_id": grid, "room": room, "address": format!("测试路1号{room}房"),
           "head_name": "测试户主", "phone": phone, "member_count": 2, "care_tags": [], "notes": ""})
}

pub fn incident(grid: &str, building: Option<&str>) -> Value {
    json!({"category": "environment", "severity": "normal", "grid_id": grid, "building_id": building,
           "household_id": null, "lat": null, "lng": null, "location_text": "楼下", "description": "垃圾堆放",
           "photos": [], "reporter_id": "x", "reporter_role": "grid_worker", "reported_at": now_ms()})
}

pub fn event(id: &str, kind: &str, note: &str, dept: Option<&str>) -> Value {
    json!({"id": id, "incident_id": "", "kind": kind, "actor_id": "forged", "actor_role": "admin", "at": now_ms(),
           "note": note, "department_id": dept, "deadline_at": null})
}

impl World {
    /// City JM → community COM → grids G1, G2; buildings B1, B2 in G1 and B3 in G2; a household
    /// in each (H1, H2, H3) and resident R1 in H1; departments D1, D2; one user per role.
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = AppState::open(dir.path(), Config::for_tests()).expect("open state");
        World::seeded(dir, state)
    }

    /// The same data dir opened again by a new server process (in-memory state is lost).
    pub fn restarted(self) -> World {
        let World { _dir, state, app: old } = self;
        drop(old);
        drop(state);
        let state = AppState::open(_dir.path(), Config::for_tests()).expect("reopen state");
        World { app: app(state.clone()), state, _dir }
    }

    /// Stops the server: its data dir, with nothing holding the database open.
    pub fn stopped(self) -> tempfile::TempDir {
        let World { _dir, state, app } = self;
        drop(app);
        drop(state);
        _dir
    }

    /// A server started on a data dir a stopped world left.
    pub fn reopened(dir: tempfile::TempDir) -> World {
        let state = AppState::open(dir.path(), Config::for_tests()).expect("reopen state");
        World { app: app(state.clone()), state, _dir: dir }
    }

    /// The same world on a clock the test drives.
    pub fn with_clock(clock: &gridline_core::ManualClock) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = gridline_server::SqliteStorage::open(dir.path()).expect("open storage");
        let state = AppState::with_clock(std::sync::Arc::new(storage), std::sync::Arc::new(clock.clone()), Config::for_tests());
        World::seeded(dir, state)
    }

    fn seeded(dir: tempfile::TempDir, state: AppState) -> World {
        let w = World { app: app(state.clone()), state, _dir: dir };
        let mut ops = vec![
            op(EntityKind::Area, "JM", OpKind::Create, json!({"parent_id": null, "kind": "city", "code": "JM", "name": "江门市"}), 0),
            op(EntityKind::Area, "COM", OpKind::Create, json!({"parent_id": "JM", "kind": "community", "code": "COM", "name": "测试社区"}), 0),
            op(EntityKind::Area, "G1", OpKind::Create, json!({"parent_id": "COM", "kind": "grid", "code": "G1", "name": "第1网格"}), 0),
            op(EntityKind::Area, "G2", OpKind::Create, json!({"parent_id": "COM", "kind": "grid", "code": "G2", "name": "第2网格"}), 0),
            op(EntityKind::Department, "D1", OpKind::Create, json!({"code": "D1", "name": "城管局"}), 0),
            op(EntityKind::Department, "D2", OpKind::Create, json!({"code": "D2", "name": "住建局"}), 0),
        ];
        for (b, g) in [("B1", "G1"), ("B2", "G1"), ("B3", "G2")] {
            ops.push(op(EntityKind::Building, b, OpKind::Create,
                json!({"grid_id": g, "name": format!("{b}栋"), "address": "测试路1号", "floors": 6, "head_user_id": null}), 0));
        }
        for (h, b, g) in [("H1", "B1", "G1"), ("H2", "B2", "G1"), ("H3", "B3", "G2")] {
            ops.push(op(EntityKind::Household, h, OpKind::Create, household(b, g, "101", "13800138000"), 0));
        }
        ops.push(op(EntityKind::Resident, "R1", OpKind::Create, json!({"household_id": "H1", "building_id": "B1", "grid_id": "G1",
            "name": "测试居民", "id_number": "440703199001011239", "phone": "13900139000", "birth_date": null,
            "relation": "户主", "tags": [], "notes": ""}), 0));
        w.server_push(ops);
        let users: [(&str, Role, Scope); 5] = [
            ("admin", Role::Admin, Scope::default()),
            ("gw", Role::GridWorker, Scope { area_ids: vec!["G1".into()], ..Scope::default() }),
            ("bh", Role::BuildingHead, Scope { building_ids: vec!["B1".into()], ..Scope::default() }),
            ("sup", Role::Supervisor, Scope { area_ids: vec!["COM".into()], ..Scope::default() }),
            ("dh", Role::DepartmentHandler, Scope { department_ids: vec!["D1".into()], ..Scope::default() }),
        ];
        for (name, role, scope) in users {
            w.state.service.add_user(&UserSpec { username: name.into(), password: PASSWORD.into(), role, scope, display_name: String::new() })
                .expect("add user");
        }
        w
    }

    pub fn admin(&self) -> Principal {
        Principal { user_id: "server".into(), role: Role::Admin, scope: Scope::default() }
    }

    pub fn server_push(&self, ops: Vec<Op>) -> PushResponse {
        let req = PushRequest { protocol: PROTOCOL_VERSION, ops, sent_at: now_ms(), scope_epoch: None };
        let resp = self.state.service.push(&self.admin(), Origin::Server, &req).expect("server push");
        for r in &resp.results {
            assert_ne!(r.status, gridline_core::protocol::OpStatus::Rejected, "seed op rejected: {r:?}");
        }
        resp
    }

    /// The server version of a record (what a device that pulled it would send as base).
    pub fn version(&self, id: &str) -> i64 {
        let page = self.state.service.storage().feed(0, usize::MAX, usize::MAX, &|_, _| true).expect("feed");
        page.rows.iter().rev().find(|r| r.id == id).map(|r| r.seq).expect("record exists")
    }

    pub fn fingerprint(&self) -> String {
        self.state.service.storage().fingerprint().expect("fingerprint")
    }

    pub async fn send(&self, req: Request<Body>) -> axum::response::Response {
        self.app.clone().oneshot(req).await.expect("infallible")
    }

    pub async fn call(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut b = Request::post(path).header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = self.send(b.body(Body::from(body.to_string())).expect("request")).await;
        read_json(resp).await
    }

    pub async fn enroll(&self, username: &str) -> String {
        let (status, body) = self
            .call("/v1/enroll", None, json!({"protocol": PROTOCOL_VERSION, "username": username, "password": PASSWORD, "device_name": "test"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    pub async fn push(&self, token: &str, ops: &[Op]) -> PushResponse {
        self.push_under(token, ops, None).await
    }

    /// Pushes as a device that holds scope epoch `epoch`.
    pub async fn push_under(&self, token: &str, ops: &[Op], epoch: Option<i64>) -> PushResponse {
        let body = json!({"protocol": PROTOCOL_VERSION, "ops": ops, "sent_at": now_ms(), "scope_epoch": epoch});
        let (status, body) = self.call("/v1/push", Some(token), body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("push response")
    }

    pub async fn pull(&self, token: &str, cursor: i64, limit: u32, epoch: Option<i64>) -> PullResponse {
        let (status, body) = self
            .call("/v1/pull", Some(token), json!({"protocol": PROTOCOL_VERSION, "cursor": cursor, "limit": limit, "scope_epoch": epoch}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).expect("pull response")
    }

    /// Pulls every page from 0; returns the changes.
    pub async fn pull_all(&self, token: &str) -> Vec<Change> {
        let mut cursor = 0;
        let mut out = Vec::new();
        loop {
            let page = self.pull(token, cursor, 1000, None).await;
            out.extend(page.changes);
            cursor = page.next_cursor;
            if !page.has_more {
                return out;
            }
        }
    }
}

pub async fn read_json(resp: axum::response::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let v = serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

pub fn ids(changes: &[Change], entity: EntityKind) -> Vec<String> {
    let mut v: Vec<String> = changes.iter().filter(|c| c.entity == entity && !c.deleted).map(|c| c.id.clone()).collect();
    v.sort();
    v
}
