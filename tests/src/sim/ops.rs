//! Random domain operations through the core API, chosen by role from what the device holds:
//! households and residents created, edited and deleted, incidents reported and moved through
//! their timeline, patrols, visits, tasks issued, evidence submitted and reviewed.

use serde_json::Value;

use gridline_core::areas::DEFAULT_CATEGORIES;
use gridline_core::record::{self, Row};
use gridline_core::{
    AssignmentStatus, EntityKind, EventKind, GpsPoint, HouseholdPatch, NewEvent, NewHousehold, NewIncident, NewResident,
    NewTask, NewVisit, ResidentPatch, Role, Store, TaskTarget, CARE_TAGS,
};

use crate::{Rng, DEPT};

/// What one random operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The store accepted it (one or more outbox ops committed).
    Done(&'static str),
    /// The store refused it (validation, role, state machine): nothing written.
    Refused(&'static str),
    /// Nothing to do it on (no suitable record on the device).
    Skipped,
}

fn rows(store: &Store, kind: EntityKind) -> Vec<Row> {
    let mut v = store.read(|c| record::dump(c, kind)).unwrap_or_default();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

fn pick<'a>(rng: &mut Rng, v: &'a [Row]) -> Option<&'a Row> {
    (!v.is_empty()).then(|| &v[rng.below(v.len())])
}

/// A random row of `v`, owned.
fn pick_row_of(rng: &mut Rng, v: &[Row]) -> Option<Row> {
    pick(rng, v).cloned()
}

/// A random record of `kind` on the device.
fn pick_row(store: &Store, rng: &mut Rng, kind: EntityKind) -> Option<Row> {
    pick_row_of(rng, &rows(store, kind))
}

fn s<'a>(r: &'a Row, f: &str) -> &'a str {
    r.fields.get(f).and_then(Value::as_str).unwrap_or_default()
}

const NOTES: &[&str] = &["走访正常", "老人独居，需关注", "已登记水电表", "楼道堆放杂物", "租户更换", "门禁损坏"];
const NAMES: &[&str] = &["陈建华", "林小红", "黄志强", "梁美玲", "吴国庆", "谢晓峰", "何丽娟", "罗振宇"];

fn text(rng: &mut Rng, from: &[&str], tag: u64) -> String {
    format!("{}#{tag}", from[rng.below(from.len())])
}

fn phone(rng: &mut Rng) -> String {
    format!("139{:08}", rng.next_u64() % 100_000_000)
}

fn care_tags(rng: &mut Rng) -> Vec<String> {
    (0..rng.below(3)).map(|_| CARE_TAGS[rng.below(CARE_TAGS.len())].0.to_owned()).collect()
}

/// Runs one random operation fitting the device's role.
pub fn random_op(store: &Store, rng: &mut Rng) -> Outcome {
    let Some(who) = store.principal() else { return Outcome::Skipped };
    let menu: &[&'static str] = match who.role {
        Role::GridWorker => &[
            "household.create", "household.update", "household.update", "household.delete", "resident.create",
            "resident.update", "resident.delete", "incident.report", "incident.event", "incident.event",
            "incident.update", "patrol", "visit", "task.evidence",
        ],
        Role::BuildingHead => &["household.update", "resident.update", "incident.report", "incident.event"],
        Role::Supervisor => &[
            "household.create", "household.update", "incident.event", "incident.event", "incident.report",
            "task.create", "task.review",
        ],
        Role::DepartmentHandler => &["incident.event"],
        Role::Admin => &["household.update"],
    };
    let what = menu[rng.below(menu.len())];
    let tag = rng.next_u64() % 10_000;
    let r = match what {
        "household.create" => create_household(store, rng, tag),
        "household.update" => update_household(store, rng, who.role, tag),
        "household.delete" => pick_row(store, rng, EntityKind::Household).map(|h| store.delete_household(&h.id)),
        "resident.create" => pick_row(store, rng, EntityKind::Household).map(|h| {
            store
                .create_resident(NewResident {
                    household_id: h.id,
                    name: text(rng, NAMES, tag),
                    phone: Some(phone(rng)),
                    relation: "家属".into(),
                    tags: care_tags(rng),
                    ..Default::default()
                })
                .map(|_| ())
        }),
        "resident.update" => pick_row(store, rng, EntityKind::Resident).map(|r| {
            let patch = if who.role == Role::BuildingHead || rng.below(2) == 0 {
                ResidentPatch { notes: Some(text(rng, NOTES, tag)), tags: Some(care_tags(rng)), ..Default::default() }
            } else {
                ResidentPatch { phone: Some(phone(rng)), name: Some(text(rng, NAMES, tag)), ..Default::default() }
            };
            store.update_resident(&r.id, patch).map(|_| ())
        }),
        "resident.delete" => pick_row(store, rng, EntityKind::Resident).map(|r| store.delete_resident(&r.id)),
        "incident.report" => report_incident(store, rng, tag),
        "incident.update" => pick_row(store, rng, EntityKind::Incident).map(|i| {
            let new = NewIncident {
                category: s(&i, "category").to_owned(),
                grid_id: s(&i, "grid_id").to_owned(),
                building_id: i.fields.get("building_id").and_then(Value::as_str).map(str::to_owned),
                household_id: i.fields.get("household_id").and_then(Value::as_str).map(str::to_owned),
                description: format!("补充说明#{tag}"),
                severity: ["normal", "urgent"][rng.below(2)].into(),
                ..Default::default()
            };
            store.update_incident(&i.id, new).map(|_| ())
        }),
        "incident.event" => incident_event(store, rng, tag),
        "patrol" => patrol(store, rng, tag),
        "visit" => pick_row(store, rng, EntityKind::Household).map(|h| {
            store
                .record_visit(NewVisit {
                    household_id: h.id,
                    purpose: "例行走访".into(),
                    notes: text(rng, NOTES, tag),
                    findings: String::new(),
                    raise_incident: None,
                })
                .map(|_| ())
        }),
        "task.create" => {
            let grids: Vec<Row> = rows(store, EntityKind::Area).into_iter().filter(|a| s(a, "kind") == "grid").collect();
            let in_scope: Vec<Row> = grids.into_iter().filter(|g| who.scope.area_ids.iter().any(|a| a == &g.id || a == s(g, "parent_id"))).collect();
            pick(rng, &in_scope).map(|g| {
                store
                    .create_task(NewTask {
                        area_id: g.id.clone(),
                        title: format!("排查任务#{tag}"),
                        description: "请核实辖区情况".into(),
                        due_at: store.now_ms() + 7 * 86_400_000,
                        targets: vec![TaskTarget { grid_id: g.id.clone(), assignee_id: None }],
                    })
                    .map(|_| ())
            })
        }
        "task.evidence" => {
            let mine: Vec<_> = store.my_assignments().unwrap_or_default();
            let open: Vec<_> = mine.iter().filter(|a| matches!(a.status, AssignmentStatus::Pending | AssignmentStatus::Returned)).collect();
            (!open.is_empty()).then(|| {
                let a = open[rng.below(open.len())];
                store.submit_task_evidence(&a.id, &format!("已完成排查#{tag}"), Vec::new()).map(|_| ())
            })
        }
        "task.review" => {
            let subs: Vec<Row> = rows(store, EntityKind::TaskAssignment).into_iter().filter(|a| s(a, "status") == "submitted").collect();
            pick_row_of(rng, &subs).map(|a| store.review_task_assignment(&a.id, rng.below(3) > 0, "已审核").map(|_| ()))
        }
        _ => None,
    };
    match r {
        Some(Ok(())) => Outcome::Done(what),
        Some(Err(_)) => Outcome::Refused(what),
        None => Outcome::Skipped,
    }
}

fn create_household(store: &Store, rng: &mut Rng, tag: u64) -> Option<gridline_core::Result<()>> {
    let b = pick(rng, &rows(store, EntityKind::Building))?.id.clone();
    Some(
        store
            .create_household(NewHousehold {
                building_id: b,
                room: format!("{}{:02}", 1 + rng.below(9), 1 + rng.below(4)),
                head_name: text(rng, NAMES, tag),
                phone: Some(phone(rng)),
                member_count: 1 + rng.below(6) as u32,
                care_tags: care_tags(rng),
                notes: text(rng, NOTES, tag),
                ..Default::default()
            })
            .map(|_| ()),
    )
}

fn update_household(store: &Store, rng: &mut Rng, role: Role, tag: u64) -> Option<gridline_core::Result<()>> {
    let h = pick(rng, &rows(store, EntityKind::Household))?.id.clone();
    let patch = match rng.below(if role == Role::BuildingHead { 2 } else { 3 }) {
        0 => HouseholdPatch { notes: Some(text(rng, NOTES, tag)), ..Default::default() },
        1 => HouseholdPatch { member_count: Some(1 + rng.below(6) as u32), care_tags: Some(care_tags(rng)), ..Default::default() },
        _ => HouseholdPatch { phone: Some(phone(rng)), head_name: Some(text(rng, NAMES, tag)), ..Default::default() },
    };
    Some(store.update_household(&h, patch).map(|_| ()))
}

fn report_incident(store: &Store, rng: &mut Rng, tag: u64) -> Option<gridline_core::Result<()>> {
    let buildings = rows(store, EntityKind::Building);
    let b = pick(rng, &buildings)?;
    let category = DEFAULT_CATEGORIES[rng.below(DEFAULT_CATEGORIES.len())].0;
    Some(
        store
            .report_incident(NewIncident {
                category: category.into(),
                grid_id: s(b, "grid_id").to_owned(),
                building_id: Some(b.id.clone()),
                description: format!("楼道发现问题#{tag}"),
                ..Default::default()
            })
            .map(|_| ()),
    )
}

fn incident_event(store: &Store, rng: &mut Rng, tag: u64) -> Option<gridline_core::Result<()>> {
    let i = pick(rng, &rows(store, EntityKind::Incident))?.id.clone();
    let allowed = store.allowed_incident_events(&i).ok()?;
    if allowed.is_empty() {
        return None;
    }
    let kind = allowed[rng.below(allowed.len())];
    let department_id = (kind == EventKind::Dispatched).then(|| [DEPT, "housing"][rng.below(2)].to_owned());
    Some(store.add_incident_event(&i, NewEvent { kind, note: format!("处理记录#{tag}"), department_id, deadline_at: None }).map(|_| ()))
}

fn patrol(store: &Store, rng: &mut Rng, tag: u64) -> Option<gridline_core::Result<()>> {
    let grid = pick(rng, &rows(store, EntityKind::Building))?.fields.get("grid_id")?.as_str()?.to_owned();
    let run = || -> gridline_core::Result<()> {
        let p = store.start_patrol(&grid, &format!("日常巡查#{tag}"))?;
        let now = store.now_ms();
        let points: Vec<GpsPoint> = (0..3)
            .map(|k| GpsPoint { lat: 22.58 + k as f64 * 0.001, lng: 113.08 + (tag % 7) as f64 * 0.0005, at: now + k * 60_000, accuracy_m: None })
            .collect();
        store.add_patrol_points(&p.id, points)?;
        store.end_patrol(&p.id).map(|_| ())
    };
    Some(run())
}
