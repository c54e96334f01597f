//! Property: for random sequences of mutations, the outbox holds exactly the ops of the
//! successful calls, in call order with strictly increasing device_seq, and replaying it into
//! an empty store with the same reference data reproduces every row.

use std::sync::Arc;

use gridline_core::mutate::apply_op;
use gridline_core::protocol::{Op, OpKind};
use gridline_core::{
    outbox, record, BuildingPatch, EntityKind, EventKind, GpsPoint, HouseholdPatch, IncidentStatus, ManualClock,
    NewEvent, NewIncident, NewResident, NewTask, NewVisit, Principal, ResidentPatch, Store, TaskTarget,
};
use proptest::prelude::*;

use crate::support::*;

/// One step of a random session. Indexes pick among the records created so far (modulo).
#[derive(Debug, Clone)]
enum Step {
    CreateHousehold { building: usize, room: u16, name: usize, phone: bool },
    CreateHouseholds { count: usize, bad_at: Option<usize> },
    UpdateHousehold { pick: usize, notes: usize, members: u32 },
    MoveHousehold { pick: usize, building: usize },
    DeleteHousehold { pick: usize },
    CreateResident { pick: usize, name: usize, with_id: bool },
    UpdateResident { pick: usize, name: usize },
    DeleteResident { pick: usize },
    ReportIncident { category: usize, grid: usize, building: Option<usize> },
    /// As `who`, an event the state machine allows now (`allowed`), or any event.
    IncidentEvent { pick: usize, who: usize, event: usize, allowed: bool },
    EditIncident { pick: usize, category: usize, severity: usize },
    UpdateBuilding { building: usize, floors: u32 },
    CreateTask { grids: usize },
    SubmitEvidence { pick: usize },
    Review { pick: usize, approve: bool },
    StartPatrol { grid: usize },
    AddPoints { pick: usize, n: usize },
    EndPatrol { pick: usize },
    Visit { pick: usize, raise: Option<bool> },
    Advance { ms: u32 },
    As { who: usize },
}

const NAMES: &[&str] = &["王芳", "李明", "张伟", "欧阳娜娜", "陈", "刘洋洋"];
/// Mostly real categories; "nonsense" makes the call fail (and write nothing).
const CATEGORIES: &[&str] = &["dispute", "safety_hazard", "environment", "public_facility", "fire_hazard", "other", "nonsense"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 100..999u16, 0..6usize, any::<bool>())
            .prop_map(|(building, room, name, phone)| Step::CreateHousehold { building, room, name, phone }),
        1 => (1..4usize, proptest::option::of(0..6usize)).prop_map(|(count, bad_at)| Step::CreateHouseholds { count, bad_at }),
        2 => (any::<usize>(), 0..3usize, prop_oneof![9 => 1..5u32, 1 => Just(0u32)]).prop_map(|(pick, notes, members)| Step::UpdateHousehold { pick, notes, members }),
        1 => (any::<usize>(), 0..3usize).prop_map(|(pick, building)| Step::MoveHousehold { pick, building }),
        1 => any::<usize>().prop_map(|pick| Step::DeleteHousehold { pick }),
        3 => (any::<usize>(), 0..6usize, any::<bool>()).prop_map(|(pick, name, with_id)| Step::CreateResident { pick, name, with_id }),
        1 => (any::<usize>(), 0..6usize).prop_map(|(pick, name)| Step::UpdateResident { pick, name }),
        1 => any::<usize>().prop_map(|pick| Step::DeleteResident { pick }),
        3 => (0..CATEGORIES.len(), 0..3usize, proptest::option::of(0..3usize))
            .prop_map(|(category, grid, building)| Step::ReportIncident { category, grid: grid / 2, building }),
        6 => (any::<usize>(), prop_oneof![3 => Just(0usize), 3 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)], any::<usize>(), proptest::bool::weighted(0.8))
            .prop_map(|(pick, who, event, allowed)| Step::IncidentEvent { pick, who, event, allowed }),
        1 => (any::<usize>(), 0..CATEGORIES.len(), 0..4usize)
            .prop_map(|(pick, category, severity)| Step::EditIncident { pick, category, severity }),
        1 => (0..3usize, 1..4u32).prop_map(|(building, floors)| Step::UpdateBuilding { building, floors }),
        1 => (1..4usize).prop_map(|grids| Step::CreateTask { grids }),
        1 => any::<usize>().prop_map(|pick| Step::SubmitEvidence { pick }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, approve)| Step::Review { pick, approve }),
        1 => (0..2usize).prop_map(|grid| Step::StartPatrol { grid }),
        2 => (any::<usize>(), 1..4usize).prop_map(|(pick, n)| Step::AddPoints { pick, n }),
        1 => any::<usize>().prop_map(|pick| Step::EndPatrol { pick }),
        2 => (any::<usize>(), proptest::option::of(any::<bool>())).prop_map(|(pick, raise)| Step::Visit { pick, raise }),
        1 => (1..3_600_000u32).prop_map(|ms| Step::Advance { ms }),
        2 => prop_oneof![3 => Just(0usize), 2 => Just(1usize), 1 => Just(2usize), 1 => Just(3usize)].prop_map(|who| Step::As { who }),
    ]
}

/// Records written by a successful call, in order, as (entity, op kind, entity id) of the ops expected.
type Expect = Vec<(EntityKind, OpKind, String)>;

struct Session {
    fx: Fx,
    households: Vec<String>,
    residents: Vec<String>,
    incidents: Vec<String>,
    patrols: Vec<String>,
    assignments: Vec<String>,
    expected: Expect,
}

fn pick(v: &[String], i: usize) -> Option<&String> {
    (!v.is_empty()).then(|| &v[i % v.len()])
}

impl Session {
    fn who(&self, i: usize) -> Principal {
        [worker1(), supervisor(), handler(), self.fx.head()][i % 4].clone()
    }

    fn buildings(&self) -> [String; 3] {
        [self.fx.b1.clone(), self.fx.b2.clone(), self.fx.b3.clone()]
    }

    fn residents_of(&self, h: &str) -> Vec<String> {
        let mut v: Vec<String> = self.fx.store.residents_of(h).unwrap().into_iter().map(|r| r.id).collect();
        v.sort();
        v
    }

    /// Runs one step; on success records the ops it must have queued.
    fn run(&mut self, s: &Step) {
        let store = &self.fx.store;
        let before = self.fx.pending().len();
        // Steps that act as someone in particular hand the device back afterwards.
        let acting = store.principal().unwrap();
        let mut exp: Expect = Vec::new();
        let ok = match s.clone() {
            Step::CreateHousehold { building, room, name, phone } => {
                let b = &self.buildings()[building];
                let new = new_household(b, &room.to_string(), NAMES[name], phone.then_some("13812345678"));
                store.create_household(new).map(|h| {
                    exp.push((EntityKind::Household, OpKind::Create, h.id.clone()));
                    self.households.push(h.id);
                })
            }
            Step::CreateHouseholds { count, bad_at } => {
                let b = &self.fx.b1;
                let mut news: Vec<_> = (0..count).map(|i| new_household(b, &format!("9{i}"), "批量", None)).collect();
                if let Some(bad) = bad_at.filter(|b| *b < count) {
                    news[bad].member_count = 0;
                }
                store.create_households(news).map(|ids| {
                    for id in ids {
                        exp.push((EntityKind::Household, OpKind::Create, id.clone()));
                        self.households.push(id);
                    }
                })
            }
            Step::UpdateHousehold { pick: p, notes, members } => {
                let Some(h) = pick(&self.households, p).cloned() else { return };
                let old = store.household(&h).ok();
                let patch = HouseholdPatch {
                    notes: Some(["", "常住", "出租"][notes].into()),
                    member_count: Some(members),
                    ..Default::default()
                };
                store.update_household(&h, patch).map(|new| {
                    if old.as_ref().is_some_and(|o| o.notes != new.notes || o.member_count != new.member_count) {
                        exp.push((EntityKind::Household, OpKind::Update, h.clone()));
                    }
                })
            }
            Step::MoveHousehold { pick: p, building } => {
                let Some(h) = pick(&self.households, p).cloned() else { return };
                let old = store.household(&h).ok();
                let residents = self.residents_of(&h);
                let target = self.buildings()[building].clone();
                store.update_household(&h, HouseholdPatch { building_id: Some(target.clone()), ..Default::default() }).map(|_| {
                    if old.as_ref().is_some_and(|o| o.building_id != target) {
                        exp.push((EntityKind::Household, OpKind::Update, h.clone()));
                        for r in residents {
                            exp.push((EntityKind::Resident, OpKind::Update, r));
                        }
                    }
                })
            }
            Step::DeleteHousehold { pick: p } => {
                let Some(h) = pick(&self.households, p).cloned() else { return };
                let residents = self.residents_of(&h);
                store.delete_household(&h).map(|_| {
                    for r in &residents {
                        exp.push((EntityKind::Resident, OpKind::Delete, r.clone()));
                    }
                    exp.push((EntityKind::Household, OpKind::Delete, h.clone()));
                    self.households.retain(|x| *x != h);
                    self.residents.retain(|x| !residents.contains(x));
                })
            }
            Step::CreateResident { pick: p, name, with_id } => {
                let Some(h) = pick(&self.households, p).cloned() else { return };
                let id_number = with_id.then(|| id_number(&format!("440703198{}0612002", name % 10)));
                let new = NewResident { household_id: h, name: NAMES[name].into(), id_number, ..Default::default() };
                store.create_resident(new).map(|r| {
                    exp.push((EntityKind::Resident, OpKind::Create, r.id.clone()));
                    self.residents.push(r.id);
                })
            }
            Step::UpdateResident { pick: p, name } => {
                let Some(r) = pick(&self.residents, p).cloned() else { return };
                let old = store.resident(&r).ok();
                store.update_resident(&r, ResidentPatch { name: Some(NAMES[name].into()), ..Default::default() }).map(|new| {
                    if old.is_some_and(|o| o.name != new.name) {
                        exp.push((EntityKind::Resident, OpKind::Update, r.clone()));
                    }
                })
            }
            Step::DeleteResident { pick: p } => {
                let Some(r) = pick(&self.residents, p).cloned() else { return };
                store.delete_resident(&r).map(|_| {
                    exp.push((EntityKind::Resident, OpKind::Delete, r.clone()));
                    self.residents.retain(|x| *x != r);
                })
            }
            Step::ReportIncident { category, grid, building } => {
                let new = NewIncident {
                    category: CATEGORIES[category].into(),
                    grid_id: if building.is_some() { String::new() } else { [GRID1, GRID2][grid].into() },
                    building_id: building.map(|b| self.buildings()[b].clone()),
                    description: "随机事件".into(),
                    ..Default::default()
                };
                store.report_incident(new).map(|i| {
                    exp.push((EntityKind::Incident, OpKind::Create, i.id.clone()));
                    self.incidents.push(i.id);
                })
            }
            Step::IncidentEvent { pick: p, who, event, allowed } => {
                let Some(i) = pick(&self.incidents, p).cloned() else { return };
                self.fx.act_as(&self.who(who));
                let kinds = if allowed { store.allowed_incident_events(&i).unwrap() } else { EventKind::ALL.to_vec() };
                let Some(&kind) = kinds.get(event % kinds.len().max(1)) else { return };
                let e = NewEvent {
                    kind,
                    note: "说明".into(),
                    department_id: (kind == EventKind::Dispatched).then(|| DEPT_A.to_owned()),
                    deadline_at: None,
                };
                store.add_incident_event(&i, e).map(|_| exp.push((EntityKind::Incident, OpKind::Event, i.clone())))
            }
            Step::EditIncident { pick: p, category, severity } => {
                let Some(i) = pick(&self.incidents, p).cloned() else { return };
                let Ok(old) = store.incident(&i) else { return };
                let new = NewIncident {
                    category: CATEGORIES[category].into(),
                    severity: ["low", "normal", "high", "urgent"][severity].into(),
                    grid_id: old.grid_id.clone(),
                    building_id: old.building_id.clone(),
                    household_id: old.household_id.clone().filter(|h| self.households.contains(h)),
                    description: old.description.clone(),
                    ..Default::default()
                };
                store.update_incident(&i, new).map(|n| {
                    if n.category != old.category || n.severity != old.severity || n.household_id != old.household_id {
                        exp.push((EntityKind::Incident, OpKind::Update, i.clone()));
                    }
                })
            }
            Step::UpdateBuilding { building, floors } => {
                let b = self.buildings()[building].clone();
                let old = self.fx.building(&b);
                let patch = BuildingPatch {
                    floors: Some(floors),
                    address: Some(format!("{}{}", old.address.trim_end_matches('甲'), if floors % 2 == 0 { "甲" } else { "" })),
                    ..Default::default()
                };
                store.update_building(&b, patch).map(|new| {
                    if new != old {
                        exp.push((EntityKind::Building, OpKind::Update, b.clone()));
                    }
                })
            }
            Step::CreateTask { grids } => {
                self.fx.act_as(&supervisor());
                let targets = [GRID1, GRID2, GRID1][..grids]
                    .iter()
                    .enumerate()
                    .map(|(k, g)| TaskTarget { grid_id: g.to_string(), assignee_id: (k == 2).then(|| "u-worker-1".into()) })
                    .collect();
                let new = NewTask {
                    area_id: COMMUNITY.into(),
                    title: "排查".into(),
                    description: String::new(),
                    due_at: store.now_ms() + DAY,
                    targets,
                };
                store.create_task(new).map(|t| {
                    exp.push((EntityKind::Task, OpKind::Create, t.id.clone()));
                    for a in store.task_assignments(&t.id).unwrap() {
                        self.assignments.push(a.id);
                    }
                    // Assignment ids are new: take them from the ops, in order.
                    let ops = self.fx.ops_since(before + 1);
                    for o in ops {
                        exp.push((EntityKind::TaskAssignment, OpKind::Create, o.entity_id));
                    }
                })
            }
            Step::SubmitEvidence { pick: p } => {
                let Some(a) = pick(&self.assignments, p).cloned() else { return };
                self.fx.act_as(&worker1());
                store
                    .submit_task_evidence(&a, "已完成", vec![photo(3)])
                    .map(|_| exp.push((EntityKind::TaskAssignment, OpKind::Update, a.clone())))
            }
            Step::Review { pick: p, approve } => {
                let Some(a) = pick(&self.assignments, p).cloned() else { return };
                self.fx.act_as(&supervisor());
                store
                    .review_task_assignment(&a, approve, "复核")
                    .map(|_| exp.push((EntityKind::TaskAssignment, OpKind::Update, a.clone())))
            }
            Step::StartPatrol { grid } => store.start_patrol([GRID1, GRID2][grid], "").map(|p| {
                exp.push((EntityKind::Patrol, OpKind::Create, p.id.clone()));
                self.patrols.push(p.id);
            }),
            Step::AddPoints { pick: p, n } => {
                let Some(pid) = pick(&self.patrols, p).cloned() else { return };
                let now = store.now_ms();
                let points = (0..n)
                    .map(|k| GpsPoint { lat: 22.5 + k as f64 * 0.001, lng: 113.08, at: now + k as i64, accuracy_m: None })
                    .collect();
                store.add_patrol_points(&pid, points).map(|_| {
                    // The track chunk's id is new: take it from the op itself.
                    let last = self.fx.pending().pop().unwrap();
                    exp.push((EntityKind::PatrolTrack, OpKind::Create, last.entity_id));
                })
            }
            Step::EndPatrol { pick: p } => {
                let Some(pid) = pick(&self.patrols, p).cloned() else { return };
                store.end_patrol(&pid).map(|_| exp.push((EntityKind::Patrol, OpKind::Update, pid.clone())))
            }
            Step::Visit { pick: p, raise } => {
                let Some(h) = pick(&self.households, p).cloned() else { return };
                let raise_incident = raise.map(|valid| NewIncident {
                    category: if valid { "resident_request" } else { "nonsense" }.into(),
                    description: "走访发现".into(),
                    ..Default::default()
                });
                store.record_visit(NewVisit { household_id: h, purpose: "走访".into(), raise_incident, ..Default::default() }).map(|v| {
                    if let Some(i) = &v.incident_id {
                        exp.push((EntityKind::Incident, OpKind::Create, i.clone()));
                        self.incidents.push(i.clone());
                    }
                    exp.push((EntityKind::Visit, OpKind::Create, v.id));
                })
            }
            Step::Advance { ms } => {
                self.fx.clock.advance(ms as i64);
                return;
            }
            Step::As { who } => {
                let p = self.who(who);
                self.fx.act_as(&p);
                return;
            }
        };
        self.fx.act_as(&acting);
        let got: Expect = self.fx.ops_since(before).into_iter().map(|o| (o.entity, o.kind, o.entity_id)).collect();
        match ok {
            Ok(()) => {
                assert_eq!(got, exp, "ops of {s:?}");
                self.expected.extend(exp);
            }
            Err(e) => {
                assert!(got.is_empty(), "failed call {s:?} ({e:?}) queued ops");
                assert!(
                    !matches!(e, gridline_core::Error::Sqlite(_) | gridline_core::Error::Corrupt(_)),
                    "{s:?} failed in storage: {e:?}"
                );
            }
        }
    }
}

fn dump_all(store: &Store) -> Vec<(EntityKind, Vec<record::Row>)> {
    EntityKind::ALL.iter().map(|&k| (k, store.read(|c| record::dump(c, k)).unwrap())).collect()
}

fn replay(ops: &[Op]) -> Store {
    let clock = ManualClock::new(0);
    let store = Store::open_in_memory_with_clock(Arc::new(clock)).unwrap();
    store.seed_reference(&reference()).unwrap();
    store
        .write(|tx| {
            for op in ops {
                apply_op(tx, op)?;
            }
            Ok(())
        })
        .unwrap();
    store
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn outbox_holds_one_op_per_written_record_and_replays_to_the_same_rows(steps in proptest::collection::vec(step(), 1..50)) {
        let mut s = Session {
            fx: fx(),
            households: vec![],
            residents: vec![],
            incidents: vec![],
            patrols: vec![],
            assignments: vec![],
            expected: vec![],
        };
        // The fixture's three buildings.
        s.expected = s.fx.pending().into_iter().map(|o| (o.entity, o.kind, o.entity_id)).collect();
        for step in &steps {
            s.run(step);
        }
        let ops = s.fx.pending();
        let got: Expect = ops.iter().map(|o| (o.entity, o.kind, o.entity_id.clone())).collect();
        prop_assert_eq!(&got, &s.expected);
        for w in ops.windows(2) {
            prop_assert!(w[0].device_seq < w[1].device_seq);
        }
        prop_assert_eq!(s.fx.store.read(outbox::pending_count).unwrap() as usize, ops.len());

        let replayed = replay(&ops);
        let (a, b) = (dump_all(&s.fx.store), dump_all(&replayed));
        for ((kind, rows_a), (_, rows_b)) in a.iter().zip(&b) {
            prop_assert_eq!(rows_a, rows_b, "{:?} differs after replay", kind);
        }
        // Replaying also rebuilds the search index.
        if let Some(h) = s.households.first() {
            let name = s.fx.store.household(h).unwrap().head_name;
            let mut x: Vec<String> = s.fx.store.search(&name, 500).unwrap().into_iter().map(|h| h.id).collect();
            let mut y: Vec<String> = replayed.search(&name, 500).unwrap().into_iter().map(|h| h.id).collect();
            x.sort();
            y.sort();
            prop_assert_eq!(x, y);
        }
        // Every row read as the server's feed sends it (JSON written from the stored values)
        // decodes on a device to exactly the row `record::get` reads (floats included: JSON
        // numbers are parsed to the nearest double, so they round-trip).
        for (kind, rows) in &a {
            for row in rows {
                let (version, json) = s.fx.store.read(|c| record::get_json(c, *kind, &row.id)).unwrap().unwrap();
                let sent: record::Fields = serde_json::from_str(&json).unwrap();
                prop_assert_eq!((version, &sent), (row.version, &row.fields), "{:?} {} as JSON: {}", kind, row.id, json);
            }
        }
        // Incidents reached statuses the state machine allows.
        for i in &s.incidents {
            let inc = s.fx.store.incident(i).unwrap();
            prop_assert!(IncidentStatus::ALL.contains(&inc.status));
        }
    }
}
