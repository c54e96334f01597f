//! The shared fixture: an in-memory store driven by a `ManualClock`, a small area tree
//! (city → district → street → community → two grids), two departments, three buildings and
//! a principal of every role, plus helpers to snapshot what a store holds.

use std::collections::BTreeMap;
use std::sync::Arc;

use gridline_core::outbox;
use gridline_core::protocol::Op;
use gridline_core::record::{self, Row};
use gridline_core::{
    Area, Building, Department, EntityKind, Error, Household, ManualClock, NewBuilding, NewHousehold, NewResident,
    Principal, ReferenceData, Resident, Role, Scope, Store,
};

/// 2025-03-01 08:00:00 UTC.
pub const T0: i64 = 1_740_816_000_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;

pub const CITY: &str = "area-city";
pub const DISTRICT: &str = "area-district";
pub const STREET: &str = "area-street";
pub const COMMUNITY: &str = "area-community";
pub const GRID1: &str = "area-grid-1";
pub const GRID2: &str = "area-grid-2";
pub const DEPT_A: &str = "dept-housing";
pub const DEPT_B: &str = "dept-city-management";

/// A store with reference data, buildings and one principal per role.
pub struct Fx {
    pub store: Store,
    pub clock: ManualClock,
    /// Building in grid 1 whose head is `head`.
    pub b1: String,
    /// Another building in grid 1 (not the head's).
    pub b2: String,
    /// A building in grid 2.
    pub b3: String,
}

fn area(id: &str, parent: Option<&str>, kind: &str, code: &str, name: &str) -> Area {
    Area {
        id: id.into(),
        version: 1,
        parent_id: parent.map(Into::into),
        kind: kind.into(),
        code: code.into(),
        name: name.into(),
    }
}

/// The reference data every fixture store holds.
pub fn reference() -> ReferenceData {
    ReferenceData {
        areas: vec![
            area(CITY, None, "city", "JM", "江门市"),
            area(DISTRICT, Some(CITY), "district", "JM-PJ", "蓬江区"),
            area(STREET, Some(DISTRICT), "street", "JM-PJ-BJ", "白沙街道"),
            area(COMMUNITY, Some(STREET), "community", "JM-PJ-BJ-XY", "新元社区"),
            area(GRID1, Some(COMMUNITY), "grid", "JM-PJ-BJ-XY-G01", "第一网格"),
            area(GRID2, Some(COMMUNITY), "grid", "JM-PJ-BJ-XY-G02", "第二网格"),
        ],
        departments: vec![
            Department { id: DEPT_A.into(), version: 1, code: "ZJ".into(), name: "住建局".into() },
            Department { id: DEPT_B.into(), version: 1, code: "CG".into(), name: "城管局".into() },
        ],
        categories: vec![],
    }
}

pub fn principal(user: &str, role: Role, areas: &[&str], buildings: &[&str], depts: &[&str]) -> Principal {
    let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
    Principal {
        user_id: user.into(),
        role,
        scope: Scope { area_ids: v(areas), building_ids: v(buildings), department_ids: v(depts) },
    }
}

pub fn admin() -> Principal {
    principal("u-admin", Role::Admin, &[], &[], &[])
}
pub fn supervisor() -> Principal {
    principal("u-supervisor", Role::Supervisor, &[COMMUNITY], &[], &[])
}
pub fn worker1() -> Principal {
    principal("u-worker-1", Role::GridWorker, &[GRID1], &[], &[])
}
pub fn worker2() -> Principal {
    principal("u-worker-2", Role::GridWorker, &[GRID2], &[], &[])
}
pub fn handler() -> Principal {
    principal("u-handler", Role::DepartmentHandler, &[], &[], &[DEPT_A])
}

/// Makes a store with reference data and three buildings; the acting user is grid worker 1.
pub fn store_with(clock: ManualClock, store: Store) -> Fx {
    store.seed_reference(&reference()).unwrap();
    store.set_principal(&supervisor()).unwrap();
    let mk = |grid: &str, name: &str, address: &str| {
        store
            .create_building(NewBuilding {
                grid_id: grid.into(),
                name: name.into(),
                address: address.into(),
                floors: Some(6),
            })
            .unwrap()
            .id
    };
    let b1 = mk(GRID1, "翠苑小区3栋", "建设路88号翠苑小区3栋");
    let b2 = mk(GRID1, "翠苑小区5栋", "建设路88号翠苑小区5栋");
    let b3 = mk(GRID2, "金湾花园1栋", "迎宾大道12号金湾花园1栋");
    store.set_principal(&worker1()).unwrap();
    Fx { store, clock, b1, b2, b3 }
}

pub fn fx() -> Fx {
    let clock = ManualClock::new(T0);
    let store = Store::open_in_memory_with_clock(Arc::new(clock.clone())).unwrap();
    store_with(clock, store)
}

impl Fx {
    /// The head of building 1.
    pub fn head(&self) -> Principal {
        principal("u-head-1", Role::BuildingHead, &[], &[&self.b1], &[])
    }

    pub fn act_as(&self, p: &Principal) {
        self.store.set_principal(p).unwrap();
    }

    /// Creates a household in `building` as the current user.
    pub fn household(&self, building: &str, room: &str, head_name: &str, phone: Option<&str>) -> Household {
        self.store.create_household(new_household(building, room, head_name, phone)).unwrap()
    }

    pub fn resident(&self, household: &str, name: &str, id_number: Option<&str>, phone: Option<&str>) -> Resident {
        self.store
            .create_resident(NewResident {
                household_id: household.into(),
                name: name.into(),
                id_number: id_number.map(Into::into),
                phone: phone.map(Into::into),
                relation: "户主".into(),
                ..Default::default()
            })
            .unwrap()
    }

    pub fn building(&self, id: &str) -> Building {
        self.store.building(id).unwrap()
    }

    pub fn snapshot(&self) -> Snapshot {
        snapshot(&self.store)
    }

    pub fn pending(&self) -> Vec<Op> {
        self.store.read(outbox::pending).unwrap()
    }

    /// The ops queued after the first `before` ones.
    pub fn ops_since(&self, before: usize) -> Vec<Op> {
        self.pending().into_iter().skip(before).collect()
    }

    pub fn rows(&self, kind: EntityKind) -> Vec<Row> {
        self.store.read(|c| record::dump(c, kind)).unwrap()
    }
}

pub fn new_household(building: &str, room: &str, head_name: &str, phone: Option<&str>) -> NewHousehold {
    NewHousehold {
        building_id: building.into(),
        room: room.into(),
        head_name: head_name.into(),
        phone: phone.map(Into::into),
        member_count: 3,
        ..Default::default()
    }
}

/// Every row of every kind, the outbox and the rejected list: to prove a failed call wrote nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub rows: BTreeMap<EntityKind, Vec<Row>>,
    pub outbox: Vec<Op>,
    pub rejected: usize,
}

pub fn snapshot(store: &Store) -> Snapshot {
    store
        .read(|c| {
            let mut rows = BTreeMap::new();
            for k in EntityKind::ALL {
                rows.insert(k, record::dump(c, k)?);
            }
            Ok(Snapshot { rows, outbox: outbox::pending(c)?, rejected: outbox::rejected(c)?.len() })
        })
        .unwrap()
}

impl Snapshot {
    pub fn count(&self, kind: EntityKind) -> usize {
        self.rows[&kind].len()
    }
}

/// Asserts `r` is `Error::Invalid` on `field`, whose reason does not echo `value`; returns the reason.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(r: gridline_core::Result<T>, field: &str, value: &str) -> String {
    match r {
        Err(Error::Invalid { field: f, reason }) => {
            assert_eq!(f, field, "wrong field (reason: {reason})");
            assert!(!reason.is_empty());
            if !value.trim().is_empty() {
                assert!(!reason.contains(value.trim()), "reason {reason:?} echoes the value");
            }
            reason
        }
        other => panic!("expected Invalid on `{field}`, got {other:?}"),
    }
}

/// Runs `f`, which must fail, and asserts the store is exactly as before.
#[track_caller]
pub fn assert_writes_nothing<T: std::fmt::Debug>(fx: &Fx, f: impl FnOnce() -> gridline_core::Result<T>) -> Error {
    let before = fx.snapshot();
    let err = f().expect_err("the call should fail");
    assert_eq!(fx.snapshot(), before, "a failed call changed the store ({err:?})");
    err
}

/// Completes 17 digits into an 18-character resident ID with its ISO 7064 MOD 11-2 check.
pub fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.chars().zip(W).map(|(c, w)| c.to_digit(10).unwrap() * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

/// A valid 64-hex-digit photo hash.
pub fn photo(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}
