//! The authorization matrix: every role × entity kind × action × (in scope, out of scope, another
//! user's record), pushed through the HTTP API, and every role × entity kind × (in, out) pulled.
//!
//! The expected cells are written out below, from DESIGN.md ("Where each user meets it", Domain,
//! Sync rule 7) and, for incident events, from the one state machine it names:
//! - grid worker (网格员): the register, incidents, patrols and visits of their grid; submits
//!   evidence for their own task assignments; sees tasks issued to their grid or above it;
//! - building head (楼长): reports incidents in their building and follows them; may touch only
//!   the non-personal household and resident fields of their building; sees personal data masked;
//! - supervisor (督导): everything of the register and field work in their area; issues and
//!   reviews tasks; dispatches, verifies, closes incidents;
//! - department handler (部门承办人): only incidents dispatched to their department, with their
//!   whole timeline (including what was written before the dispatch); accepts, returns, reports
//!   progress and resolves them;
//! - admin: everything, except what nobody does from a device (reference data, deleting an
//!   incident, writing timeline rows directly).
//!
//! Patrols, patrol tracks and visits are the worker's own record: nobody creates or edits one in
//! another worker's name. The test fails on the first differing cell and prints all of them.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use gridline_core::access::Scope;
use gridline_core::protocol::{Op, OpKind, OpStatus};
use gridline_core::record::Fields;
use gridline_core::{EntityKind, Role};
use gridline_server::service::Origin;
use gridline_server::{app, AppState, Config, UserSpec};

use crate::common::*;

/// Push cells: `kind.action` then one cell per role (grid worker, building head, supervisor,
/// department handler, admin); a cell is `in/out` or `in/out/other` (the record of another
/// worker in the user's own scope). A = applied, O = out_of_scope, R = role_not_allowed,
/// T = transition_refused (the state machine).
const PUSH: &str = "
# kind.action               gw      bh      sup     dh      admin
area.create                 R/R     R/R     R/R     R/R     R/R
area.update                 R/R     R/R     R/R     R/R     R/R
area.delete                 R/R     R/R     R/R     R/R     R/R
department.create           R/R     R/R     R/R     R/R     R/R
department.update           R/R     R/R     R/R     R/R     R/R
department.delete           R/R     R/R     R/R     R/R     R/R
category.create             R/R     R/R     R/R     R/R     R/R
category.update             R/R     R/R     R/R     R/R     R/R
category.delete             R/R     R/R     R/R     R/R     R/R
building.create             A/O     R/R     A/O     R/R     A/A
building.update             A/O     R/R     A/O     R/R     A/A
building.delete             R/R     R/R     A/O     R/R     A/A
household.create            A/O     R/R     A/O     R/R     A/A
household.update            A/O     A/O     A/O     R/R     A/A
household.delete            A/O     R/R     A/O     R/R     A/A
resident.create             A/O     R/R     A/O     R/R     A/A
resident.update             A/O     A/O     A/O     R/R     A/A
resident.delete             A/O     R/R     A/O     R/R     A/A
incident.create             A/O     A/O     A/O     R/R     A/A
incident.update             A/O     R/R     A/O     R/R     A/A
incident.delete             R/R     R/R     R/R     R/R     R/R
incident_event.create       R/R     R/R     R/R     R/R     R/R
incident_event.update       R/R     R/R     R/R     R/R     R/R
incident_event.delete       R/R     R/R     R/R     R/R     R/R
patrol.create               A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
patrol.update               A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
patrol.delete               A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
patrol_track.create         A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
patrol_track.update         A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
patrol_track.delete         A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
visit.create                A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
visit.update                A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
visit.delete                A/O/R   R/R/R   A/O/R   R/R/R   A/A/A
task.create                 R/R     R/R     A/O     R/R     A/A
task.update                 R/R     R/R     A/O     R/R     A/A
task.delete                 R/R     R/R     A/O     R/R     A/A
task_assignment.create      R/R/R   R/R/R   A/O/A   R/R/R   A/A/A
task_assignment.update      A/O/R   R/R/R   A/O/A   R/R/R   A/A/A
task_assignment.delete      R/R/R   R/R/R   A/O/A   R/R/R   A/A/A
";

/// Incident events, each on an incident in the status where the event is meant to happen
/// (see [`prep`]); the in-scope incident is dispatched to the handler's department, the
/// handler's out-of-scope one to another department.
const EVENTS: &str = "
# event                     gw      bh      sup     dh      admin
reported                    T/O     T/O     T/O     T/O     T/T
dispatched                  T/O     T/O     A/O     T/O     A/A
accepted                    T/O     T/O     T/O     A/O     A/A
returned                    T/O     T/O     T/O     A/O     A/A
progress                    T/O     T/O     T/O     A/O     A/A
note                        A/O     A/O     A/O     A/O     A/A
resolved                    T/O     T/O     T/O     A/O     A/A
resolved_on_the_spot        A/O     T/O     T/O     O/O     T/T
confirmed                   A/O     A/O     A/O     T/O     A/A
verified                    T/O     T/O     A/O     T/O     A/A
reopened                    T/O     T/O     A/O     T/O     A/A
closed                      T/O     T/O     A/O     T/O     A/A
escalated                   T/O     T/O     A/O     T/O     A/A
";

/// Pull cells per role: `in/out`. S = pulled as stored, M = pulled with personal fields masked,
/// H = not pulled. `task@community` is a task issued to the community above the grid;
/// `incident_event` is the `reported` event, written before the incident was dispatched.
const PULL: &str = "
# kind                      gw      bh      sup     dh      admin
area                        S/S     S/S     S/S     S/S     S/S
department                  S/S     S/S     S/S     S/S     S/S
category                    S/S     S/S     S/S     S/S     S/S
building                    S/H     S/H     S/H     H/H     S/S
household                   S/H     M/H     S/H     H/H     S/S
resident                    S/H     M/H     S/H     H/H     S/S
incident                    S/H     S/H     S/H     S/H     S/S
incident_event              S/H     S/H     S/H     S/H     S/S
patrol                      S/H     H/H     S/H     H/H     S/S
patrol_track                S/H     H/H     S/H     H/H     S/S
visit                       S/H     H/H     S/H     H/H     S/S
task                        S/H     H/H     S/H     H/H     S/S
task@community              S/S     H/H     S/H     H/H     S/S
task_assignment             S/H     H/H     S/H     H/H     S/S
";

const ROLES: [&str; 5] = ["gw", "bh", "sup", "dh", "admin"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sc {
    In,
    Out,
    Other,
}

/// Where a record sits: grid, its community, building, a household there, a department.
#[derive(Debug, Clone, Copy)]
struct Place {
    name: &'static str,
    grid: &'static str,
    community: &'static str,
    building: &'static str,
    dept: &'static str,
}

const P1: Place = Place { name: "p1", grid: "G1", community: "COM1", building: "B1", dept: "D1" };
const P2: Place = Place { name: "p2", grid: "G1", community: "COM1", building: "B2", dept: "D1" };
const P3: Place = Place { name: "p3", grid: "G2", community: "COM1", building: "B3", dept: "D1" };
const P4: Place = Place { name: "p4", grid: "G3", community: "COM2", building: "B4", dept: "D1" };
const P5: Place = Place { name: "p5", grid: "G1", community: "COM1", building: "B1", dept: "D2" };
const PLACES: [Place; 5] = [P1, P2, P3, P4, P5];

/// Each role's in-scope and out-of-scope place: the grid worker works G1, the building head B1,
/// the supervisor COM1 (G1, G2), the handler department D1.
fn place(role: &str, sc: Sc) -> Place {
    match (role, sc) {
        (_, Sc::In | Sc::Other) => P1,
        ("gw", Sc::Out) => P3,
        ("bh", Sc::Out) => P2,
        ("dh", Sc::Out) => P5,
        _ => P4,
    }
}

impl Place {
    fn household(&self) -> String {
        format!("H-{}", self.name)
    }
    fn incident(&self) -> String {
        format!("I-{}", self.name)
    }
    fn task(&self) -> String {
        format!("T-{}", self.name)
    }
}

fn obj(v: Value) -> Fields {
    fields(v)
}

/// Fields of a new record of `kind` at `p`, owned by `owner`; `extra` names the parent patrol of
/// a track.
fn new_fields(kind: EntityKind, id: &str, p: &Place, owner: &str, patrol: Option<&str>) -> Fields {
    let now = now_ms();
    obj(match kind {
        EntityKind::Area => json!({"parent_id": p.grid, "kind": "grid", "code": id, "name": "新网格"}),
        EntityKind::Department => json!({"code": id, "name": "新部门"}),
        EntityKind::Category => json!({"name": "新类别", "response_hours": 24, "resolve_days": 15}),
        EntityKind::Building => json!({"grid_id": p.grid, "name": "新楼", "address": "测试路9号", "floors": 6, "head_user_id": null}),
        EntityKind::Household => household(p.building, p.grid, "909", "13800138000"),
        EntityKind::Resident => json!({"household_id": p.household(), "building_id": p.building, "grid_id": p.grid, "name": "测试居民",
            "id_number": "440703199001011239", "phone": "13900139000", "birth_date": null, "relation": "子女", "tags": [], "notes": ""}),
        EntityKind::Incident => incident(p.grid, Some(p.building)),
        EntityKind::IncidentEvent => json!({"incident_id": p.incident(), "kind": "note", "actor_id": owner, "actor_role": "admin",
            "at": now, "note": "直接写入", "department_id": null, "deadline_at": null}),
        EntityKind::Patrol => json!({"grid_id": p.grid, "worker_id": owner, "started_at": now, "ended_at": null, "note": ""}),
        EntityKind::PatrolTrack => json!({"patrol_id": patrol.unwrap_or_default(), "grid_id": p.grid,
            "points": [{"lat": 22.58, "lng": 113.08, "at": now}]}),
        EntityKind::Visit => json!({"household_id": p.household(), "grid_id": p.grid, "worker_id": owner, "visited_at": now,
            "purpose": "日常走访", "notes": "", "findings": "", "incident_id": null}),
        EntityKind::Task => json!({"area_id": p.grid, "title": "入户核查", "description": "", "due_at": now + 86_400_000,
            "issued_by": "sup", "issued_at": now}),
        EntityKind::TaskAssignment => json!({"task_id": p.task(), "grid_id": p.grid, "assignee_id": owner, "status": "pending",
            "evidence_text": "", "evidence_photos": [], "submitted_at": null, "review_note": "", "reviewed_at": null}),
    })
}

/// The field an update cell changes: one the role would change if it may touch the record at all.
fn update_fields(kind: EntityKind) -> Fields {
    obj(match kind {
        EntityKind::Area | EntityKind::Department | EntityKind::Category | EntityKind::Building => json!({"name": "改名"}),
        EntityKind::Household | EntityKind::Resident => json!({"notes": "更新备注"}),
        EntityKind::Incident => json!({"description": "补充描述"}),
        EntityKind::IncidentEvent => json!({"note": "改写"}),
        EntityKind::Patrol => json!({"note": "巡查备注"}),
        EntityKind::PatrolTrack => json!({"points": []}),
        EntityKind::Visit => json!({"notes": "走访备注"}),
        EntityKind::Task => json!({"title": "新标题"}),
        EntityKind::TaskAssignment => json!({"evidence_text": "已完成"}),
    })
}

fn admin_op(kind: EntityKind, id: &str, op_kind: OpKind, f: Fields) -> Op {
    Op { fields: f, ..op(kind, id, op_kind, json!({}), 0) }
}

fn ev(incident: &str, kind: &str, dept: Option<&str>) -> Op {
    let id = format!("{incident}-{kind}-{}", uuid::Uuid::now_v7());
    admin_op(EntityKind::Incident, incident, OpKind::Event, obj(event(&id, kind, "说明", dept)))
}

/// The events that bring an incident to the status where `event` is meant to happen.
fn prep(event: &str) -> &'static [&'static str] {
    match event {
        "dispatched" => &["dispatched", "returned"],
        "progress" | "resolved" => &["dispatched", "accepted"],
        "confirmed" | "verified" | "reopened" => &["dispatched", "accepted", "resolved"],
        "closed" => &["dispatched", "accepted", "resolved", "verified"],
        "resolved_on_the_spot" => &[],
        _ => &["dispatched"],
    }
}

struct Matrix {
    _dir: tempfile::TempDir,
    state: AppState,
    world: World,
    users: BTreeMap<&'static str, String>,
}

impl Matrix {
    fn server(&self, ops: Vec<Op>) {
        let who = self.world.admin();
        let req = gridline_core::protocol::PushRequest { protocol: 1, ops, sent_at: now_ms(), scope_epoch: None };
        let resp = self.state.service.push(&who, Origin::Server, &req).expect("server push");
        for r in &resp.results {
            assert_ne!(r.status, OpStatus::Rejected, "fixture refused: {r:?}");
        }
    }
}

/// City JM → COM1 (G1: B1, B2; G2: B3) and COM2 (G3: B4); departments D1, D2; at each place a
/// household, a resident, an incident (a note, then dispatched to the place's department), a
/// patrol with a track and a visit by the grid worker, a task of the grid, a task of its
/// community and an assignment.
fn matrix() -> Matrix {
    let dir = tempfile::tempdir().expect("temp dir");
    let state = AppState::open(dir.path(), Config::for_tests()).expect("state");
    let world_dir = tempfile::tempdir().expect("temp dir");
    let world = World { app: app(state.clone()), state: state.clone(), _dir: world_dir };
    let mut m = Matrix { _dir: dir, state, world, users: BTreeMap::new() };
    let area = |id: &str, parent: Option<&str>, kind: &str| {
        admin_op(EntityKind::Area, id, OpKind::Create, obj(json!({"parent_id": parent, "kind": kind, "code": id, "name": id})))
    };
    let mut ops = vec![
        area("JM", None, "city"),
        area("COM1", Some("JM"), "community"),
        area("COM2", Some("JM"), "community"),
        area("G1", Some("COM1"), "grid"),
        area("G2", Some("COM1"), "grid"),
        area("G3", Some("COM2"), "grid"),
        admin_op(EntityKind::Department, "D1", OpKind::Create, obj(json!({"code": "D1", "name": "城管局"}))),
        admin_op(EntityKind::Department, "D2", OpKind::Create, obj(json!({"code": "D2", "name": "住建局"}))),
        admin_op(EntityKind::Category, "environment", OpKind::Create, obj(json!({"name": "环境卫生", "response_hours": 24, "resolve_days": 15}))),
    ];
    for (b, g) in [("B1", "G1"), ("B2", "G1"), ("B3", "G2"), ("B4", "G3")] {
        ops.push(admin_op(EntityKind::Building, b, OpKind::Create,
            obj(json!({"grid_id": g, "name": b, "address": "测试路1号", "floors": 6, "head_user_id": null}))));
    }
    m.server(ops);
    let users: [(&'static str, Role, Scope); 6] = [
        ("gw", Role::GridWorker, Scope { area_ids: vec!["G1".into()], ..Scope::default() }),
        ("gw2", Role::GridWorker, Scope { area_ids: vec!["G1".into()], ..Scope::default() }),
        ("bh", Role::BuildingHead, Scope { building_ids: vec!["B1".into()], ..Scope::default() }),
        ("sup", Role::Supervisor, Scope { area_ids: vec!["COM1".into()], ..Scope::default() }),
        ("dh", Role::DepartmentHandler, Scope { department_ids: vec!["D1".into()], ..Scope::default() }),
        ("admin", Role::Admin, Scope::default()),
    ];
    for (name, role, scope) in users {
        let spec = UserSpec { username: name.into(), password: PASSWORD.into(), role, scope, display_name: String::new() };
        let u = m.state.service.add_user(&spec).expect("add user");
        m.users.insert(name, u.id);
    }
    let gw = m.users["gw"].clone();
    let mut ops = Vec::new();
    for p in PLACES {
        let n = p.name;
        ops.push(admin_op(EntityKind::Household, &p.household(), OpKind::Create, new_fields(EntityKind::Household, "", &p, &gw, None)));
        ops.push(admin_op(EntityKind::Resident, &format!("R-{n}"), OpKind::Create, new_fields(EntityKind::Resident, "", &p, &gw, None)));
        ops.push(admin_op(EntityKind::Incident, &p.incident(), OpKind::Create, new_fields(EntityKind::Incident, "", &p, &gw, None)));
        ops.push(ev(&p.incident(), "note", None));
        ops.push(ev(&p.incident(), "dispatched", Some(p.dept)));
        ops.push(admin_op(EntityKind::Patrol, &format!("PA-{n}"), OpKind::Create, new_fields(EntityKind::Patrol, "", &p, &gw, None)));
        let patrol = format!("PA-{n}");
        ops.push(admin_op(EntityKind::PatrolTrack, &format!("TR-{n}"), OpKind::Create,
            new_fields(EntityKind::PatrolTrack, "", &p, &gw, Some(&patrol))));
        ops.push(admin_op(EntityKind::Visit, &format!("V-{n}"), OpKind::Create, new_fields(EntityKind::Visit, "", &p, &gw, None)));
        ops.push(admin_op(EntityKind::Task, &p.task(), OpKind::Create, new_fields(EntityKind::Task, "", &p, &gw, None)));
        let mut at_community = new_fields(EntityKind::Task, "", &p, &gw, None);
        at_community.insert("area_id".into(), json!(p.community));
        ops.push(admin_op(EntityKind::Task, &format!("TC-{n}"), OpKind::Create, at_community));
        ops.push(admin_op(EntityKind::TaskAssignment, &format!("TA-{n}"), OpKind::Create,
            new_fields(EntityKind::TaskAssignment, "", &p, &gw, None)));
    }
    m.server(ops);
    m
}

/// Parses a table into (row name, role) → cells.
fn table(text: &str) -> BTreeMap<(String, &'static str), Vec<String>> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 1 + ROLES.len(), "table row: {line}");
        for (role, cell) in ROLES.iter().zip(&cols[1..]) {
            out.insert((cols[0].to_owned(), *role), cell.split('/').map(str::to_owned).collect());
        }
    }
    out
}

fn code_letter(status: OpStatus, code: Option<&str>) -> String {
    match (status, code) {
        (OpStatus::Applied | OpStatus::Merged, _) => "A".into(),
        (OpStatus::Rejected, Some("out_of_scope")) => "O".into(),
        (OpStatus::Rejected, Some("role_not_allowed")) => "R".into(),
        (OpStatus::Rejected, Some("transition_refused")) => "T".into(),
        (OpStatus::Rejected, Some("field_protected")) => "F".into(),
        (s, c) => format!("{s:?}:{}", c.unwrap_or("-")),
    }
}

const SCOPES: [Sc; 3] = [Sc::In, Sc::Out, Sc::Other];

#[tokio::test]
async fn push_matrix_matches_the_design() {
    let m = matrix();
    let push_cells = table(PUSH);
    let event_cells = table(EVENTS);
    // Every kind × action is in the table, once.
    for kind in EntityKind::ALL {
        for action in ["create", "update", "delete"] {
            assert!(push_cells.contains_key(&(format!("{kind}.{action}"), "gw")), "{kind}.{action} missing from the table");
        }
    }
    let mut fixtures = Vec::new();
    let mut cells: Vec<(String, &'static str, Sc, String, Op)> = Vec::new();
    let mut n = 0;
    for ((row, role), want) in &push_cells {
        let (kind, action) = row.split_once('.').expect("kind.action");
        let kind = EntityKind::parse(kind).expect("known kind");
        for (sc, want) in SCOPES.iter().zip(want) {
            n += 1;
            let p = place(role, *sc);
            let owner = if *sc == Sc::Other { m.users["gw2"].clone() } else { m.users[role].clone() };
            let id = format!("{kind}-{n}");
            // A track needs a patrol of the owner at the place.
            let patrol = format!("PA-cell-{n}");
            if kind == EntityKind::PatrolTrack {
                fixtures.push(admin_op(EntityKind::Patrol, &patrol, OpKind::Create, new_fields(EntityKind::Patrol, "", &p, &owner, None)));
            }
            let f = new_fields(kind, &id, &p, &owner, Some(&patrol));
            let op = match action {
                "create" => admin_op(kind, &id, OpKind::Create, f),
                other => {
                    // The record exists before the user acts on it (the reported event of a fresh
                    // incident, for timeline rows).
                    let target = if kind == EntityKind::IncidentEvent {
                        fixtures.push(admin_op(EntityKind::Incident, &id, OpKind::Create, new_fields(EntityKind::Incident, "", &p, &owner, None)));
                        id.clone()
                    } else {
                        fixtures.push(admin_op(kind, &id, OpKind::Create, f));
                        id.clone()
                    };
                    let (k, flds) = if other == "update" { (OpKind::Update, update_fields(kind)) } else { (OpKind::Delete, Fields::new()) };
                    admin_op(kind, &target, k, flds)
                }
            };
            cells.push((row.clone(), role, *sc, want.clone(), op));
        }
    }
    for ((row, role), want) in &event_cells {
        for (sc, want) in SCOPES.iter().zip(want) {
            n += 1;
            let p = place(role, *sc);
            let id = format!("IE-{n}");
            fixtures.push(admin_op(EntityKind::Incident, &id, OpKind::Create, new_fields(EntityKind::Incident, "", &p, &m.users["gw"], None)));
            for step in prep(row) {
                fixtures.push(ev(&id, step, Some(p.dept)));
            }
            let kind = if row == "resolved_on_the_spot" { "resolved" } else { row.as_str() };
            cells.push((format!("event.{row}"), role, *sc, want.clone(), ev(&id, kind, Some(p.dept))));
        }
    }
    m.server(fixtures);

    let mut diffs = Vec::new();
    for role in ROLES {
        let token = m.world.enroll(role).await;
        let mine: Vec<&(String, &str, Sc, String, Op)> = cells.iter().filter(|c| c.1 == role).collect();
        let ops: Vec<Op> = mine.iter().map(|c| c.4.clone()).collect();
        let resp = m.world.push(&token, &ops).await;
        assert_eq!(resp.results.len(), ops.len());
        for ((row, _, sc, want, op), got) in mine.into_iter().zip(&resp.results) {
            assert_eq!(got.op_id, op.op_id);
            let got = code_letter(got.status, got.code.as_deref());
            if &got != want {
                diffs.push(format!("{role:>5} {row:<28} {sc:?}: want {want}, got {got}"));
            }
            if got != "A" {
                assert!(resp.results.iter().any(|r| r.op_id == op.op_id && r.reason.as_deref().is_some_and(|s| !s.is_empty())));
            }
        }
    }
    assert!(diffs.is_empty(), "{} cells differ from the design:\n{}", diffs.len(), diffs.join("\n"));
}

#[tokio::test]
async fn pull_matrix_matches_the_design() {
    let m = matrix();
    let cells = table(PULL);
    for kind in EntityKind::ALL {
        assert!(cells.contains_key(&(kind.to_string(), "gw")), "{kind} missing from the pull table");
    }
    let stored = m.world.pull_all(&m.world.enroll("admin").await).await;
    let latest = |changes: &[gridline_core::protocol::Change]| {
        let mut by_id = BTreeMap::new();
        for c in changes {
            by_id.insert((c.entity, c.id.clone()), c.clone());
        }
        by_id
    };
    let stored = latest(&stored);
    let mut diffs = Vec::new();
    for role in ROLES {
        let token = m.world.enroll(role).await;
        let seen = latest(&m.world.pull_all(&token).await);
        for ((row, r), want) in cells.iter().filter(|((_, r), _)| *r == role) {
            for (sc, want) in [Sc::In, Sc::Out].iter().zip(want) {
                let p = place(r, *sc);
                let n = p.name;
                let (kind, id) = match row.as_str() {
                    "area" => (EntityKind::Area, p.grid.to_owned()),
                    "department" => (EntityKind::Department, p.dept.to_owned()),
                    "category" => (EntityKind::Category, "environment".to_owned()),
                    "building" => (EntityKind::Building, p.building.to_owned()),
                    "household" => (EntityKind::Household, p.household()),
                    "resident" => (EntityKind::Resident, format!("R-{n}")),
                    "incident" => (EntityKind::Incident, p.incident()),
                    // The `reported` event has the incident's id.
                    "incident_event" => (EntityKind::IncidentEvent, p.incident()),
                    "patrol" => (EntityKind::Patrol, format!("PA-{n}")),
                    "patrol_track" => (EntityKind::PatrolTrack, format!("TR-{n}")),
                    "visit" => (EntityKind::Visit, format!("V-{n}")),
                    "task" => (EntityKind::Task, p.task()),
                    "task@community" => (EntityKind::Task, format!("TC-{n}")),
                    "task_assignment" => (EntityKind::TaskAssignment, format!("TA-{n}")),
                    other => panic!("unknown pull row {other}"),
                };
                let truth = stored.get(&(kind, id.clone())).filter(|c| !c.deleted).unwrap_or_else(|| panic!("{kind} {id} stored"));
                let got = match seen.get(&(kind, id.clone())).filter(|c| !c.deleted) {
                    None => "H",
                    Some(c) if c.fields == truth.fields => "S",
                    Some(c) => {
                        let mut masked = truth.fields.clone();
                        gridline_core::access::mask_fields(kind, &mut masked);
                        if c.fields == masked && masked != truth.fields { "M" } else { "?" }
                    }
                };
                if got != want {
                    diffs.push(format!("{role:>5} {row:<16} {sc:?}: want {want}, got {got}"));
                }
            }
        }
    }
    assert!(diffs.is_empty(), "{} cells differ from the design:\n{}", diffs.len(), diffs.join("\n"));
}
