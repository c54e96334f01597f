//! The demo city: Jiangmen's area tree, departments, categories, buildings, ~5,000 households
//! with residents, incidents in every state, and one user of every role. All data comes from the
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
/// Incidents seeded.
const INCIDENTS: usize = 80;
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

fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

fn new_id() -> String {
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

fn demo_credentials(grid: &AreaSeed, community: &AreaSeed, building_name: &str) -> Vec<Credential> {
    vec![
        Credential { username: "admin", password: "Admin#2024", role: Role::Admin, scope_note: "全市".into() },
        Credential { username: "supervisor", password: "Super#2024", role: Role::Supervisor, scope_note: community.name.clone() },
        Credential { username: "gridworker", password: "Grid#2024", role: Role::GridWorker, scope_note: grid.name.clone() },
        Credential { username: "buildinghead", password: "Build#2024", role: Role::BuildingHead, scope_note: building_name.to_owned() },
        Credential { username: "handler", password: "Dept#2024", role: Role::DepartmentHandler, scope_note: DEPARTMENTS[0].1.into() },
    ]
}

/// Seeds the demo city unless the data dir already holds data; returns the demo logins.
pub fn seed_if_empty(service: &Service, households: usize) -> Result<Vec<Credential>, AppError> {
    let areas = sample::demo_areas(4, 2);
    let grids: Vec<&AreaSeed> = areas.iter().filter(|a| a.kind == "grid").take(POPULATED_GRIDS).collect();
    let Some(first_grid) = grids.first().copied() else {
        return Err(AppError::internal(&"demo area tree has no grids"));
    };
    let community = areas
        .iter()
        .find(|a| Some(&a.code) == first_grid.parent_code.as_ref())
        .unwrap_or(first_grid);
    if service.storage().max_seq()? > 0 {
        tracing::info!("data dir already seeded; serving it as is");
        let building = "（已有数据）";
        return Ok(demo_credentials(first_grid, community, building));
    }
    let started = std::time::Instant::now();
    let server = Principal { user_id: "server".into(), role: Role::Admin, scope: Scope::default() };
    let mut s = Seeder { service, ops: Vec::new(), rejected: 0 };

    // Reference data: ids are the codes.
    for a in &areas {
        s.add(EntityKind::Area, &a.code, OpKind::Create, json!({"parent_id": a.parent_code, "kind": a.kind, "code": a.code, "name": a.name}));
    }
    for (code, name) in DEPARTMENTS {
        s.add(EntityKind::Department, code, OpKind::Create, json!({"code": code, "name": name}));
    }
    for (code, name, resp, res) in DEFAULT_CATEGORIES {
        s.add(EntityKind::Category, code, OpKind::Create, json!({"name": name, "response_hours": resp, "resolve_days": res}));
    }

    // Buildings and households, spread over the populated grids.
    let by_code: std::collections::HashMap<&str, &AreaSeed> = areas.iter().map(|a| (a.code.as_str(), a)).collect();
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
    let mut building_grid: Vec<(String, String)> = Vec::new();
    let mut household_ids: Vec<(String, String, String)> = Vec::new();
    for grid in &grids {
        for b in sample::demo_buildings(&mut rng, &grid.code, &name_path(grid), per_grid) {
            if left == 0 {
                break;
            }
            let bid = new_id();
            first_building.get_or_insert_with(|| (bid.clone(), b.name.clone()));
            s.add(EntityKind::Building, &bid, OpKind::Create, json!({"grid_id": grid.code, "name": b.name,
                "address": b.address, "floors": b.floors, "head_user_id": null}));
            building_grid.push((bid.clone(), grid.code.clone()));
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

    // One user of every role.
    let creds = demo_credentials(first_grid, community, &head_building_name);
    let mut users = std::collections::HashMap::new();
    for c in &creds {
        let scope = match c.role {
            Role::GridWorker => Scope { area_ids: vec![first_grid.code.clone()], ..Scope::default() },
            Role::Supervisor => Scope { area_ids: vec![community.code.clone()], ..Scope::default() },
            Role::BuildingHead => Scope { building_ids: vec![head_building.clone()], ..Scope::default() },
            Role::DepartmentHandler => Scope { department_ids: vec![DEPARTMENTS[0].0.into()], ..Scope::default() },
            Role::Admin => Scope::default(),
        };
        let display_name = format!("演示{}", c.role.label_zh());
        let u = service.add_user(&UserSpec { username: c.username.into(), password: c.password.into(), role: c.role, scope, display_name })?;
        users.insert(c.role, u.principal());
    }
    if let Some(bh) = users.get(&Role::BuildingHead) {
        s.add(EntityKind::Building, &head_building, OpKind::Update, json!({"head_user_id": bh.user_id}));
        s.flush(&server)?;
    }

    seed_incidents(&mut s, &mut rng, &users, &household_ids)?;
    tracing::info!(
        households,
        buildings = building_grid.len(),
        seq = service.storage().max_seq()?,
        rejected = s.rejected,
        ms = started.elapsed().as_millis() as u64,
        "demo city seeded"
    );
    Ok(creds)
}

/// Incidents in the populated grids, walked through the state machine by the right roles.
fn seed_incidents(
    s: &mut Seeder<'_>,
    rng: &mut Rng,
    users: &std::collections::HashMap<Role, Principal>,
    households: &[(String, String, String)],
) -> Result<(), AppError> {
    let (Some(gw), Some(sup), Some(dh)) = (users.get(&Role::GridWorker), users.get(&Role::Supervisor), users.get(&Role::DepartmentHandler))
    else {
        return Ok(());
    };
    if households.is_empty() {
        return Ok(());
    }
    let now = s.service.now_ms();
    let day = 86_400_000i64;
    // (incident id, how far along: 0 reported … 5 closed)
    let mut plan = Vec::new();
    for i in 0..INCIDENTS {
        let (hid, bid, grid) = &households[rng.below(households.len() as u64) as usize];
        let (cat, ..) = DEFAULT_CATEGORIES[rng.below(DEFAULT_CATEGORIES.len() as u64) as usize];
        let id = new_id();
        let with_household = rng.chance(0.5);
        let severity = ["low", "normal", "high", "urgent"][rng.below(4) as usize];
        s.add(EntityKind::Incident, &id, OpKind::Create, json!({"category": cat,
            "severity": severity,
            "grid_id": grid, "building_id": bid, "household_id": if with_household { Some(hid) } else { None },
            "lat": null, "lng": null, "location_text": "", "description": sample::incident_description(rng, cat),
            "photos": [], "reporter_id": gw.user_id, "reporter_role": gw.role.as_str(),
            "reported_at": now - rng.range_i64(1, 20) * day}));
        plan.push((id, i % 6));
    }
    s.flush(gw)?;
    let event = |s: &mut Seeder<'_>, id: &str, kind: &str, note: &str, dept: Option<&str>| {
        s.add(EntityKind::Incident, id, OpKind::Event, json!({"id": new_id(), "kind": kind, "at": s.service.now_ms(),
            "note": note, "department_id": dept, "deadline_at": null}));
    };
    // Dispatch most to the demo handler's department, some elsewhere.
    for (n, (id, stage)) in plan.iter().enumerate() {
        if *stage >= 1 {
            let dept = if n % 3 == 0 { DEPARTMENTS[1 + n % (DEPARTMENTS.len() - 1)].0 } else { DEPARTMENTS[0].0 };
            event(s, id, "dispatched", "请尽快处置", Some(dept));
        }
    }
    s.flush(sup)?;
    for (id, stage) in &plan {
        if *stage >= 2 {
            event(s, id, "accepted", "", None);
        }
        if *stage >= 3 {
            event(s, id, "resolved", "已现场处置完毕", None);
        }
    }
    // Server-side seeding skips scope checks, so the one demo handler stands in for every department.
    s.flush(dh)?;
    for (id, stage) in &plan {
        if *stage >= 4 {
            event(s, id, "verified", "", None);
        }
        if *stage >= 5 {
            event(s, id, "closed", "", None);
        }
    }
    s.flush(sup)
}

/// Prints where the demo listens and how to log in (demo passwords only).
pub fn print_credentials(creds: &[Credential], listen: SocketAddr, data_dir: &Path) {
    println!();
    println!("Gridline demo city (江门市) — data in {}", data_dir.display());
    println!("  API:      http://{listen}/v1/  (OpenAPI: http://{listen}/v1/openapi.json, health: http://{listen}/healthz)");
    println!("  Logins (POST /v1/enroll with protocol {PROTOCOL_VERSION}):");
    for c in creds {
        println!("    {:<14} {:<12} {:<20} {}", c.username, c.password, c.role.as_str(), c.scope_note);
    }
    println!();
}
