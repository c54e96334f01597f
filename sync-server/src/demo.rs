//! The demo city: Jiangmen's area tree, departments, categories, buildings, ~5,000 households
//! with residents, users of every role, and weeks of history (`demo_history`). All data comes from the
//! core's deterministic `sample` generator (invented people) and is written through the same
//! push path as devices' ops, as the server, so every row has a sequence and is in the feed.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::{json, Value};

use gridline_core::access::{Principal, Scope};
use gridline_core::areas::DEFAULT_CATEGORIES;
use gridline_core::protocol::{Op, OpKind, OpStatus, PushRequest, PROTOCOL_VERSION};
use gridline_core::record::Fields;
use gridline_core::sample::{self, AreaSeed, Rng};
use gridline_core::{EntityKind, Role};

use std::collections::HashMap;
use std::sync::Arc;

use gridline_core::{Clock, ManualClock};

use crate::demo_history::{simulate, Actor, GridInfo, World};
use crate::error::AppError;
use crate::service::{Origin, Service, UserSpec};

/// Departments incidents are dispatched to (codes and names as in Jiangmen's public listing).
const DEPARTMENTS: &[(&str, &str)] = &[
    ("urban_mgmt", "城市管理和综合执法局"),
    ("housing", "住房和城乡建设局"),
    ("civil_affairs", "民政局"),
    ("police", "公安派出所"),
    ("fire", "消防救援大队"),
    ("market", "市场监督管理局"),
    ("ecology", "生态环境局"),
    ("water", "水务局"),
    ("power", "供电局"),
    ("emergency", "应急管理局"),
    ("justice", "司法所（人民调解）"),
];

/// Grids that get buildings and households.
const POPULATED_GRIDS: usize = 24;
/// Households per building (about).
const HOUSEHOLDS_PER_BUILDING: usize = 48;
const DAY_MS: i64 = 86_400_000;
/// Seed of the generator: the same demo city every time.
const SEED: u64 = 20_240_501;

/// A demo login.
#[derive(Debug, Clone)]
pub struct Credential {
    /// Login name.
    pub username: &'static str,
    /// Password.
    pub password: &'static str,
    /// Role.
    pub role: Role,
    /// Where they work, for the printout.
    pub scope_note: String,
}

/// A JSON object as a field map (anything else: empty).
pub(crate) fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

/// A new UUIDv7 id.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Collects ops and pushes them in batches as the server, acting as `who`.
struct Seeder<'a> {
    service: &'a Service,
    ops: Vec<Op>,
    rejected: usize,
}

impl Seeder<'_> {
    fn add(&mut self, entity: EntityKind, id: &str, kind: OpKind, f: Value) {
        let n = self.ops.len() as i64;
        self.ops.push(Op {
            op_id: new_id(),
            device_seq: n,
            entity,
            entity_id: id.to_owned(),
            kind,
            fields: fields(f),
            base_version: 0,
            device_time: self.service.now_ms(),
        });
    }

    fn flush(&mut self, who: &Principal) -> Result<(), AppError> {
        let ops = std::mem::take(&mut self.ops);
        for chunk in ops.chunks(self.service.config().max_ops_per_batch) {
            let req = PushRequest { protocol: PROTOCOL_VERSION, ops: chunk.to_vec(), sent_at: self.service.now_ms(), scope_epoch: None };
            let resp = self.service.push(who, Origin::Server, &req)?;
            self.rejected += resp.results.iter().filter(|r| r.status == OpStatus::Rejected).count();
        }
        Ok(())
    }
}

fn demo_credentials(grid: &AreaSeed, community: &AreaSeed, community2: &AreaSeed, building_name: &str) -> Vec<Credential> {
    vec![
        Credential { username: "admin", password: "Admin#2024", role: Role::Admin, scope_note: "全市".into() },
        Credential { username: "supervisor", password: "Super#2024", role: Role::Supervisor, scope_note: community.name.clone() },
        Credential { username: "supervisor2", password: "Super2#2024", role: Role::Supervisor, scope_note: community2.name.clone() },
        Credential { username: "gridworker", password: "Grid#2024", role: Role::GridWorker, scope_note: grid.name.clone() },
        Credential { username: "buildinghead", password: "Build#2024", role: Role::BuildingHead, scope_note: building_name.to_owned() },
        Credential { username: "handler", password: "Dept#2024", role: Role::DepartmentHandler, scope_note: DEPARTMENTS[0].1.into() },
    ]
}

/// Password of the extra demo users (a grid worker per grid, a supervisor per community, a
/// handler per department), printed as a pattern.
const EXTRA_PASSWORD: &str = "Demo#2024";
/// Days of history.
const HISTORY_DAYS: i64 = 42;

/// The demo users as they are created, each with a device.
struct Roster {
    actors: Vec<Actor>,
    by_name: HashMap<String, usize>,
    enrolled_at: i64,
}

impl Roster {
    fn enroll(&mut self, svc: &Service, username: String, password: &str, role: Role, scope: Scope, name: String) -> Result<usize, AppError> {
        let u = svc.add_user(&UserSpec { username: username.clone(), password: password.into(), role, scope, display_name: name })?;
        let device = new_id();
        let label = match role {
            Role::Supervisor | Role::DepartmentHandler | Role::Admin => crate::console::CONSOLE_DEVICE_NAME,
            _ => "演示手机",
        };
        svc.storage().add_device(&crate::storage::NewDevice {
            id: device.clone(),
            user_id: u.id.clone(),
            token_hash: crate::auth::token_hash(&crate::auth::new_token()),
            name: label.into(),
            created_at: self.enrolled_at,
            expires_at: None,
        })?;
        self.actors.push(Actor { who: u.principal(), device_id: device });
        self.by_name.insert(username, self.actors.len() - 1);
        Ok(self.actors.len() - 1)
    }

    fn get(&self, name: &str) -> usize {
        self.by_name.get(name).copied().unwrap_or_default()
    }
}

fn scope_of(role: Role, area: &str) -> Scope {
    match role {
        Role::DepartmentHandler => Scope { department_ids: vec![area.to_owned()], ..Scope::default() },
        _ => Scope { area_ids: vec![area.to_owned()], ..Scope::default() },
    }
}

/// Seeds the demo city unless the data dir already holds data; returns the demo logins.
pub fn seed_if_empty(service: &Service, households: usize) -> Result<Vec<Credential>, AppError> {
    let areas = sample::demo_areas(4, 2);
    let grids: Vec<&AreaSeed> = areas.iter().filter(|a| a.kind == "grid").take(POPULATED_GRIDS).collect();
    let Some(first_grid) = grids.first().copied() else {
        return Err(AppError::internal(&"demo area tree has no grids"));
    };
    let community_of = |g: &AreaSeed| areas.iter().find(|a| Some(&a.code) == g.parent_code.as_ref()).unwrap_or(first_grid);
    let community = community_of(first_grid);
    let community2 = grids.iter().map(|g| community_of(g)).find(|c| c.code != community.code).unwrap_or(community);
    if service.storage().max_seq()? > 0 {
        tracing::info!("data dir already seeded; serving it as is");
        return Ok(demo_credentials(first_grid, community, community2, "（已有数据）"));
    }
    let started = std::time::Instant::now();
    service.storage().set_bulk_load(true)?;
    let seeded = seed_all(service, households, &areas, &grids, first_grid, community, community2);
    service.storage().set_bulk_load(false)?;
    let creds = seeded?;
    tracing::info!(households, seq = service.storage().max_seq()?, ms = started.elapsed().as_millis() as u64, "demo city seeded");
    Ok(creds)
}

#[allow(clippy::too_many_arguments)]
fn seed_all(
    service: &Service,
    households: usize,
    areas: &[AreaSeed],
    grids: &[&AreaSeed],
    first_grid: &AreaSeed,
    community: &AreaSeed,
    community2: &AreaSeed,
) -> Result<Vec<Credential>, AppError> {
    let community_of = |g: &AreaSeed| areas.iter().find(|a| Some(&a.code) == g.parent_code.as_ref()).unwrap_or(first_grid);
    let phase = std::time::Instant::now();
    // The history is played on a manual clock through a service sharing the storage, so server
    // times span the weeks before now. Extra users get cheap hashes (throwaway demo accounts).
    let now = service.now_ms();
    let history_start = crate::service::stats::day_start(now) - HISTORY_DAYS * DAY_MS;
    let clock = ManualClock::new(history_start - 2 * DAY_MS);
    let hist_config = crate::Config { hash_cost: crate::auth::HashCost::Cheap, ..service.config().clone() };
    let hist = Service::new(service.storage_arc(), Arc::new(clock.clone()), hist_config);
    let server = Principal { user_id: "server".into(), role: Role::Admin, scope: Scope::default() };
    let mut s = Seeder { service: &hist, ops: Vec::new(), rejected: 0 };

    // Reference data: ids are the codes.
    for a in areas {
        s.add(EntityKind::Area, &a.code, OpKind::Create, json!({"parent_id": a.parent_code, "kind": a.kind, "code": a.code, "name": a.name}));
    }
    for (code, name) in DEPARTMENTS {
        s.add(EntityKind::Department, code, OpKind::Create, json!({"code": code, "name": name}));
    }
    for (code, name, resp, res) in DEFAULT_CATEGORIES {
        s.add(EntityKind::Category, code, OpKind::Create, json!({"name": name, "response_hours": resp, "resolve_days": res}));
    }

    // Buildings and households, spread over the populated grids.
    let by_code: HashMap<&str, &AreaSeed> = areas.iter().map(|a| (a.code.as_str(), a)).collect();
    let name_path = |grid: &AreaSeed| {
        let mut names = Vec::new();
        let mut cur = grid.parent_code.as_deref();
        while let Some(code) = cur {
            let Some(a) = by_code.get(code) else { break };
            names.push(a.name.clone());
            cur = a.parent_code.as_deref();
        }
        names.reverse();
        names.concat()
    };
    let mut rng = Rng::new(SEED);
    let buildings_total = households.div_ceil(HOUSEHOLDS_PER_BUILDING).max(1);
    let per_grid = buildings_total.div_ceil(grids.len());
    let mut left = households;
    let mut first_building: Option<(String, String)> = None;
    let mut household_ids: Vec<(String, String, String)> = Vec::new();
    for grid in grids {
        for b in sample::demo_buildings(&mut rng, &grid.code, &name_path(grid), per_grid) {
            if left == 0 {
                break;
            }
            let bid = new_id();
            first_building.get_or_insert_with(|| (bid.clone(), b.name.clone()));
            s.add(EntityKind::Building, &bid, OpKind::Create, json!({"grid_id": grid.code, "name": b.name,
                "address": b.address, "floors": b.floors, "head_user_id": null}));
            let n = left.min(HOUSEHOLDS_PER_BUILDING);
            left -= n;
            for h in sample::demo_households(&mut rng, &b, n) {
                let hid = new_id();
                s.add(EntityKind::Household, &hid, OpKind::Create, json!({"building_id": bid, "grid_id": grid.code,
                    "room": h.room, "address": h.address, "head_name": h.head_name, "phone": h.phone,
                    "member_count": h.member_count, "care_tags": h.care_tags, "notes": h.notes}));
                for r in sample::demo_residents(&mut rng, &h) {
                    s.add(EntityKind::Resident, &new_id(), OpKind::Create, json!({"household_id": hid, "building_id": bid,
                        "grid_id": grid.code, "name": r.name, "id_number": r.id_number, "phone": r.phone,
                        "birth_date": r.birth_date, "relation": r.relation, "tags": [], "notes": ""}));
                }
                household_ids.push((hid, bid.clone(), grid.code.clone()));
            }
        }
    }
    s.flush(&server)?;
    let (head_building, head_building_name) = first_building.unwrap_or_default();

    // The printed logins (real password hashes), then a worker per grid, a supervisor per
    // community and a handler per department, each with a device.
    let creds = demo_credentials(first_grid, community, community2, &head_building_name);
    let mut roster = Roster { actors: Vec::new(), by_name: HashMap::new(), enrolled_at: history_start - DAY_MS };
    for c in &creds {
        let scope = match c.role {
            Role::GridWorker => scope_of(c.role, &first_grid.code),
            Role::Supervisor if c.username == "supervisor2" => scope_of(c.role, &community2.code),
            Role::Supervisor => scope_of(c.role, &community.code),
            Role::BuildingHead => Scope { building_ids: vec![head_building.clone()], ..Scope::default() },
            Role::DepartmentHandler => scope_of(c.role, DEPARTMENTS[0].0),
            Role::Admin => Scope::default(),
        };
        roster.enroll(service, c.username.into(), c.password, c.role, scope, format!("演示{}", c.role.label_zh()))?;
    }
    let mut handlers: HashMap<&'static str, usize> = HashMap::new();
    handlers.insert(DEPARTMENTS[0].0, roster.get("handler"));
    for (code, name) in &DEPARTMENTS[1..] {
        handlers.insert(code, roster.enroll(&hist, format!("handler_{code}"), EXTRA_PASSWORD, Role::DepartmentHandler, scope_of(Role::DepartmentHandler, code), format!("{name}承办人"))?);
    }
    let mut supervisors: HashMap<String, usize> = HashMap::new();
    supervisors.insert(community.code.clone(), roster.get("supervisor"));
    supervisors.insert(community2.code.clone(), roster.get("supervisor2"));
    tracing::info!(ms = phase.elapsed().as_millis() as u64, "demo register and users seeded");
    let mut world_grids = Vec::new();
    for (n, grid) in grids.iter().enumerate() {
        let hh: Vec<(String, String)> = household_ids.iter().filter(|h| h.2 == grid.code).map(|h| (h.0.clone(), h.1.clone())).collect();
        if hh.is_empty() {
            continue;
        }
        let c = community_of(grid);
        let sup = match supervisors.get(&c.code) {
            Some(&i) => i,
            None => {
                let i = roster.enroll(&hist, format!("sup_{}", supervisors.len() + 1), EXTRA_PASSWORD, Role::Supervisor, scope_of(Role::Supervisor, &c.code), format!("{}督导", c.name))?;
                supervisors.insert(c.code.clone(), i);
                i
            }
        };
        let worker = if n == 0 {
            roster.get("gridworker")
        } else {
            roster.enroll(&hist, format!("grid{:02}", n + 1), EXTRA_PASSWORD, Role::GridWorker, scope_of(Role::GridWorker, &grid.code), format!("{}网格员", grid.name))?
        };
        let centre = (22.58 + 0.012 * (n / 6) as f64, 113.05 + 0.014 * (n % 6) as f64);
        world_grids.push(GridInfo { code: grid.code.clone(), worker, supervisor: sup, households: hh, centre });
    }
    if let Some(bh) = roster.actors.get(roster.get("buildinghead")) {
        s.add(EntityKind::Building, &head_building, OpKind::Update, json!({"head_user_id": bh.who.user_id}));
        s.flush(&server)?;
    }
    let Roster { actors, by_name, .. } = roster;
    let world = World { actors, grids: world_grids, handlers };
    // The history ends a little before now; the last minutes hold the phones' conflicting edits,
    // so server times keep the order of the sequence.
    let (applied, rejected) = simulate(&hist, &clock, &world, &mut rng, history_start, now - 20 * 60_000)?;
    seed_conflicts(&hist, &clock, &world, &by_name, &household_ids, &head_building, now - 15 * 60_000)?;
    service.invalidate_areas();
    tracing::info!(history_ops = applied, history_rejected = rejected, ms = phase.elapsed().as_millis() as u64, "demo history played");
    Ok(creds)
}

/// A couple of concurrent edits and refused ops from phones, so the conflicts page and the sync
/// history have something to show.
fn seed_conflicts(
    hist: &Service,
    clock: &ManualClock,
    w: &World,
    by_name: &HashMap<String, usize>,
    households: &[(String, String, String)],
    head_building: &str,
    start: i64,
) -> Result<(), AppError> {
    let (gw, bh) = (&w.actors[by_name["gridworker"]], &w.actors[by_name["buildinghead"]]);
    let in_building: Vec<&(String, String, String)> = households.iter().filter(|h| h.1 == head_building).take(2).collect();
    let push = |a: &Actor, ops: Vec<Op>| hist.push(&a.who, Origin::Device(&a.device_id), &PushRequest { protocol: PROTOCOL_VERSION, ops, sent_at: clock.now_ms(), scope_epoch: None });
    let op = |id: &str, f: Value, base: i64, at: i64| Op { op_id: new_id(), device_seq: 0, entity: EntityKind::Household, entity_id: id.to_owned(),
        kind: OpKind::Update, fields: fields(f), base_version: base, device_time: at };
    for (n, h) in in_building.iter().enumerate() {
        let t = start + n as i64 * 4 * 60_000;
        clock.set(t);
        let base = hist.storage().console().record(EntityKind::Household, &h.0)?.map(|r| r.version).unwrap_or(0);
        push(gw, vec![op(&h.0, json!({"notes": "户主腿脚不便，走访请提前电话联系"}), base, t - 240_000)])?;
        clock.set(t + 60_000);
        push(bh, vec![op(&h.0, json!({"notes": "子女每周回来探望"}), base, t - 120_000),
            op(&h.0, json!({"phone": "13800000000"}), base, t - 60_000)])?;
    }
    let t = start + 10 * 60_000;
    clock.set(t);
    if let Some(g) = w.grids.first() {
        // A grid worker may not verify: the state machine refuses it.
        let inc = hist.storage().console().incidents(&crate::storage::console::IncidentQuery { grids: Some(vec![g.code.clone()]), status: Some("resolved".into()), limit: 1, ..Default::default() })?;
        if let Some((row, _)) = inc.first() {
            let ev = Op { op_id: new_id(), device_seq: 0, entity: EntityKind::Incident, entity_id: row.id.clone(), kind: OpKind::Event,
                fields: fields(json!({"id": new_id(), "kind": "verified", "at": t - 60_000, "note": "", "department_id": null, "deadline_at": null})),
                base_version: row.version, device_time: t - 60_000 };
            push(gw, vec![ev])?;
        }
    }
    Ok(())
}

/// Prints where the demo listens and how to log in (demo passwords only).
pub fn print_credentials(creds: &[Credential], listen: SocketAddr, data_dir: &Path) {
    println!();
    println!("Gridline 演示城市（江门市）— 数据目录 {} (demo city, data dir)", data_dir.display());
    println!("  接口 API:       http://{listen}/v1/  （接口说明 http://{listen}/v1/openapi.json，健康检查 http://{listen}/healthz）");
    println!("  登录账号（设备以协议版本 {PROTOCOL_VERSION} 调用 POST /v1/enroll）:");
    for c in creds {
        println!("    {:<14} {:<12} {:<8} {}", c.username, c.password, c.role.label_zh(), c.scope_note);
    }
    println!("    另有 grid02…grid24（每个网格一名网格员）、sup_3…（每个社区一名督导）、handler_<部门编码>（各部门承办人），密码均为 {EXTRA_PASSWORD}");
    println!("  控制台 Console: http://{listen}/console/  （以 supervisor / Super#2024 登录）");
    println!();
}
