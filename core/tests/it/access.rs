//! Role and scope rules as the device applies them, and masking of personal data on read.

use gridline_core::access::{mask, Action, DenyCode, Target};
use gridline_core::protocol::OpKind;
use gridline_core::{EntityKind, Error, EventKind, HouseholdPatch, NewResident, ResidentPatch, Role};

use crate::support::*;

#[test]
fn building_head_cannot_edit_a_residents_id_number() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let r = fx.resident(&h.id, "王建国", Some(&id_number("44070319600101001")), Some("13800138000"));
    fx.act_as(&fx.head());
    let err = assert_writes_nothing(&fx, || {
        fx.store.update_resident(&r.id, ResidentPatch { id_number: Some(id_number("44070319610101001")), ..Default::default() })
    });
    assert!(matches!(&err, Error::Forbidden { code: "field_protected", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.update_resident(&r.id, ResidentPatch { phone: Some("13900000000".into()), ..Default::default() }));
    assert!(matches!(&err, Error::Forbidden { code: "field_protected", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.update_resident(&r.id, ResidentPatch { name: Some("王建".into()), ..Default::default() }));
    assert!(matches!(&err, Error::Forbidden { code: "field_protected", .. }), "{err:?}");
    // Tags and notes are theirs to keep.
    let n = fx.pending().len();
    let r2 = fx.store.update_resident(&r.id, ResidentPatch { tags: Some(vec!["elderly_alone".into()]), ..Default::default() }).unwrap();
    assert_eq!(r2.tags, vec!["elderly_alone"]);
    assert_eq!(fx.ops_since(n).len(), 1);
}

#[test]
fn building_head_edits_household_notes_in_own_building_only() {
    let fx = fx();
    let mine = fx.household(&fx.b1, "502", "王建国", Some("13800138000"));
    let theirs = fx.household(&fx.b2, "101", "刘洋", None);
    fx.act_as(&fx.head());
    let n = fx.pending().len();
    let h = fx
        .store
        .update_household(&mine.id, HouseholdPatch { notes: Some("儿子每周回来".into()), member_count: Some(2), ..Default::default() })
        .unwrap();
    assert_eq!(h.notes, "儿子每周回来");
    assert_eq!(h.member_count, 2);
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].kind, ops[0].entity_id.clone()), (OpKind::Update, mine.id.clone()));

    let err = assert_writes_nothing(&fx, || fx.store.update_household(&theirs.id, HouseholdPatch { notes: Some("x".into()), ..Default::default() }));
    assert!(matches!(&err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.update_household(&mine.id, HouseholdPatch { head_name: Some("王二".into()), ..Default::default() }));
    assert!(matches!(&err, Error::Forbidden { code: "field_protected", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.update_household(&mine.id, HouseholdPatch { phone: Some("13900000000".into()), ..Default::default() }));
    assert!(matches!(&err, Error::Forbidden { code: "field_protected", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.create_household(new_household(&fx.b1, "503", "新户", None)));
    assert!(matches!(&err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.delete_household(&mine.id));
    assert!(matches!(&err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || {
        fx.store.create_resident(NewResident { household_id: mine.id.clone(), name: "新人".into(), ..Default::default() })
    });
    assert!(matches!(&err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
}

#[test]
fn grid_worker_outside_their_grid_is_out_of_scope() {
    let fx = fx();
    fx.act_as(&worker2());
    let far = fx.household(&fx.b3, "101", "黄磊", None);
    fx.act_as(&worker1());
    let near = fx.household(&fx.b1, "101", "张伟", None);
    let out = |err: Error| assert!(matches!(&err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
    out(assert_writes_nothing(&fx, || fx.store.create_household(new_household(&fx.b3, "102", "外人", None))));
    out(assert_writes_nothing(&fx, || fx.store.update_household(&far.id, HouseholdPatch { notes: Some("x".into()), ..Default::default() })));
    out(assert_writes_nothing(&fx, || fx.store.delete_household(&far.id)));
    out(assert_writes_nothing(&fx, || {
        fx.store.create_resident(NewResident { household_id: far.id.clone(), name: "某人".into(), ..Default::default() })
    }));
    // Moving a household of my grid into another grid takes it out of my scope: refused.
    out(assert_writes_nothing(&fx, || {
        fx.store.update_household(&near.id, HouseholdPatch { building_id: Some(fx.b3.clone()), ..Default::default() })
    }));
    out(assert_writes_nothing(&fx, || fx.store.report_incident(crate::incidents::new_incident(GRID2, "dispute"))));
}

#[test]
fn department_handler_cannot_write_the_register() {
    let fx = fx();
    let h = fx.household(&fx.b1, "101", "张伟", None);
    fx.act_as(&handler());
    let denied = |err: Error| assert!(matches!(&err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
    denied(assert_writes_nothing(&fx, || fx.store.create_household(new_household(&fx.b1, "102", "某", None))));
    denied(assert_writes_nothing(&fx, || fx.store.update_household(&h.id, HouseholdPatch { notes: Some("x".into()), ..Default::default() })));
    denied(assert_writes_nothing(&fx, || fx.store.start_patrol(GRID1, "")));
}

#[test]
fn personal_fields_are_masked_for_building_heads() {
    let fx = fx();
    let idn = id_number("44070319600101001");
    let h = fx.household(&fx.b1, "502", "王建国", Some("13800138000"));
    let r = fx.resident(&h.id, "王建国", Some(&idn), Some("13912345678"));

    // The grid worker and the supervisor see everything.
    for p in [worker1(), supervisor(), admin()] {
        fx.act_as(&p);
        assert_eq!(fx.store.household(&h.id).unwrap().phone.as_deref(), Some("13800138000"));
        assert_eq!(fx.store.resident(&r.id).unwrap().id_number.as_deref(), Some(idn.as_str()));
    }

    fx.act_as(&fx.head());
    let hh = fx.store.household(&h.id).unwrap();
    assert_eq!(hh.phone.as_deref(), Some("138****8000"));
    assert_eq!(hh.head_name, "王建国");
    let listed = fx.store.households_in_building(&fx.b1).unwrap();
    assert_eq!(listed[0].phone.as_deref(), Some("138****8000"));
    let rr = fx.store.resident(&r.id).unwrap();
    assert_eq!(rr.phone.as_deref(), Some("139****5678"));
    let masked_id = rr.id_number.unwrap();
    assert_eq!(masked_id, format!("440703********{}", &idn[14..]));
    assert_eq!(masked_id.chars().count(), 18);
    assert_eq!(fx.store.residents_of(&h.id).unwrap()[0].id_number.as_deref(), Some(masked_id.as_str()));
    // Not personal: shown as is.
    assert_eq!(rr.birth_date.as_deref(), Some("1960-01-01"));

    // Masking is on read only: the stored row keeps the real values.
    let row = fx.rows(EntityKind::Resident).into_iter().find(|x| x.id == r.id).unwrap();
    assert_eq!(row.fields["id_number"], serde_json::json!(idn));
}

#[test]
fn mask_keeps_a_short_prefix_and_suffix() {
    assert_eq!(mask("13800138000"), "138****8000");
    assert_eq!(mask("11010519491231002X"), "110105********002X");
    assert_eq!(mask("07503123456"), "075****3456");
    assert_eq!(mask("1234"), "****");
    assert_eq!(mask(""), "");
}

#[test]
fn derived_and_reference_fields_are_never_writable() {
    let path = [GRID1.to_owned(), COMMUNITY.to_owned()];
    let t = Target { area_path: &path, ..Default::default() };
    for p in [worker1(), supervisor(), admin()] {
        let d = p.check_write(EntityKind::Incident, Action::Update, &t, &["status"]).unwrap_err();
        assert_eq!(d.code, DenyCode::FieldProtected, "{:?}", p.role);
        let d = p.check_write(EntityKind::Patrol, Action::Update, &t, &["distance_m"]).unwrap_err();
        assert_eq!(d.code, DenyCode::FieldProtected);
        let d = p.check_write(EntityKind::Area, Action::Create, &t, &[]).unwrap_err();
        assert_eq!(d.code, DenyCode::RoleNotAllowed);
        let d = p.check_write(EntityKind::IncidentEvent, Action::Create, &t, &[]).unwrap_err();
        assert_eq!(d.code, DenyCode::RoleNotAllowed);
    }
    // Incidents are closed, never deleted.
    let d = supervisor().check_write(EntityKind::Incident, Action::Delete, &t, &[]).unwrap_err();
    assert_eq!(d.code, DenyCode::RoleNotAllowed);
    // Events: scope only (the state machine decides the role).
    assert!(worker1().check_write(EntityKind::Incident, Action::Event(EventKind::Note), &t, &[]).is_ok());
    let d = worker2().check_write(EntityKind::Incident, Action::Event(EventKind::Note), &t, &[]).unwrap_err();
    assert_eq!(d.code, DenyCode::OutOfScope);
    assert_eq!(DenyCode::FieldProtected.as_str(), "field_protected");
}

#[test]
fn read_rules_follow_role_and_scope() {
    let fx = fx();
    let head = fx.head();
    let path = [GRID1.to_owned(), COMMUNITY.to_owned(), STREET.to_owned()];
    let in_b1 = Target { area_path: &path, building_id: Some(&fx.b1), ..Default::default() };
    let in_b2 = Target { area_path: &path, building_id: Some(&fx.b2), ..Default::default() };
    let dispatched = Target { area_path: &path, department_id: Some(DEPT_A), ..Default::default() };
    assert!(head.can_read(EntityKind::Household, &in_b1));
    assert!(!head.can_read(EntityKind::Household, &in_b2));
    assert!(!head.can_read(EntityKind::Patrol, &in_b1));
    assert!(head.can_read(EntityKind::Area, &in_b2), "reference data is for everyone");
    assert!(worker1().can_read(EntityKind::Household, &in_b2));
    assert!(supervisor().can_read(EntityKind::Visit, &in_b2));
    let grid2 = [GRID2.to_owned(), COMMUNITY.to_owned()];
    assert!(!worker1().can_read(EntityKind::Household, &Target { area_path: &grid2, ..Default::default() }));
    assert!(handler().can_read(EntityKind::Incident, &dispatched));
    assert!(!handler().can_read(EntityKind::Incident, &in_b1));
    assert!(!handler().can_read(EntityKind::Household, &dispatched));
    assert!(!head.sees_personal_data());
    assert!(!handler().sees_personal_data());
    assert!(worker1().sees_personal_data());
    assert_eq!(head.role, Role::BuildingHead);
}

#[test]
fn my_grids_follow_the_scope() {
    let fx = fx();
    let ids = |v: Vec<gridline_core::Area>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(fx.store.my_grids().unwrap()), vec![GRID1]);
    fx.act_as(&supervisor());
    assert_eq!(ids(fx.store.my_grids().unwrap()), vec![GRID1, GRID2]);
    fx.act_as(&fx.head());
    assert!(fx.store.my_grids().unwrap().is_empty());
    assert_eq!(ids(fx.store.areas(None).unwrap()), vec![CITY]);
    assert_eq!(ids(fx.store.areas(Some(COMMUNITY)).unwrap()), vec![GRID1, GRID2]);
    assert_eq!(fx.store.area(GRID2).unwrap().kind, "grid");
    assert_eq!(fx.store.departments().unwrap().len(), 2);
    let cats = fx.store.categories().unwrap();
    assert_eq!(cats.len(), 10);
    let fire = cats.iter().find(|c| c.id == "fire_hazard").unwrap();
    assert_eq!((fire.response_hours, fire.resolve_days), (2, 3));
}

#[test]
fn the_enrolled_user_survives_in_the_store() {
    let fx = fx();
    assert_eq!(fx.store.principal(), Some(worker1()));
    fx.act_as(&fx.head());
    assert_eq!(fx.store.principal().unwrap().role, Role::BuildingHead);
    let stored = fx.store.meta("principal").unwrap().unwrap();
    assert!(stored.contains("building_head"));
}

#[test]
fn tasks_issued_above_a_grid_reach_its_workers() {
    use gridline_core::access::AreaParents;
    let mut tree = AreaParents::new();
    tree.insert(STREET.into(), None);
    tree.insert(COMMUNITY.into(), Some(STREET.into()));
    tree.insert(GRID1.into(), Some(COMMUNITY.into()));
    tree.insert(GRID2.into(), Some(COMMUNITY.into()));
    let at_community = [COMMUNITY.to_owned(), STREET.to_owned()];
    let t = Target { area_path: &at_community, ..Default::default() }.with_tree(&tree);
    assert!(worker1().can_read(EntityKind::Task, &t), "a community task reaches the grid's worker");
    assert!(supervisor().can_read(EntityKind::Task, &t));
    // Only tasks: the community's households are not the grid worker's.
    assert!(!worker1().can_read(EntityKind::Household, &t));
    // A task of another grid stays hidden.
    let at_grid2 = [GRID2.to_owned(), COMMUNITY.to_owned(), STREET.to_owned()];
    assert!(!worker1().can_read(EntityKind::Task, &Target { area_path: &at_grid2, ..Default::default() }.with_tree(&tree)));
}

#[test]
fn a_scope_fits_its_role_only_with_the_roles_own_kind_of_ids() {
    use gridline_core::access::{check_scope, Scope, ScopeKind};
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let of = |kind: ScopeKind, v: &[&str]| match kind {
        ScopeKind::Areas => Scope { area_ids: ids(v), ..Scope::default() },
        ScopeKind::Buildings => Scope { building_ids: ids(v), ..Scope::default() },
        ScopeKind::Departments => Scope { department_ids: ids(v), ..Scope::default() },
    };
    for role in Role::ALL {
        let own = ScopeKind::of_role(role);
        assert_eq!(own.is_none(), role == Role::Admin, "{role:?}");
        // Admins are given nothing; every other role needs its own kind.
        assert_eq!(check_scope(role, &Scope::default()).is_ok(), own.is_none(), "{role:?} with no scope");
        for kind in ScopeKind::ALL {
            let r = check_scope(role, &of(kind, &["X1", "X2"]));
            if Some(kind) == own {
                assert_eq!(r, Ok(()), "{role:?} with {kind:?}");
                for bad in [&["X1", "X1"][..], &["X1", ""], &[" "]] {
                    let p = check_scope(role, &of(kind, bad)).unwrap_err();
                    assert_eq!(p.field, kind.field(), "{role:?} {bad:?}");
                }
            } else {
                let p = r.unwrap_err();
                assert_eq!(p.field, kind.field(), "{role:?} given {kind:?}");
                assert!(p.message_zh.contains("不能指定"), "{}", p.message_zh);
            }
        }
    }
    // The rule agrees with what each role reads by: a building head is granted buildings.
    assert_eq!(ScopeKind::of_role(Role::BuildingHead), Some(ScopeKind::Buildings));
    assert_eq!(ScopeKind::of_role(Role::GridWorker), Some(ScopeKind::Areas));
    assert_eq!(ScopeKind::of_role(Role::Supervisor), Some(ScopeKind::Areas));
    assert_eq!(ScopeKind::of_role(Role::DepartmentHandler), Some(ScopeKind::Departments));
    assert_eq!(check_scope(Role::GridWorker, &of(ScopeKind::Areas, &[])).unwrap_err().message_zh, "专职网格员至少要指定一个区域");
}

#[test]
fn an_assignee_hands_in_their_assignment_and_the_review_stays_the_supervisors() {
    use gridline_core::access::{Principal, Scope};
    use serde_json::{json, Map, Value};
    let fields = |v: Value| -> Map<String, Value> { v.as_object().cloned().unwrap() };
    let who = |role| Principal { user_id: "u1".into(), role, scope: Scope::default() };
    let (worker, sup) = (who(Role::GridWorker), who(Role::Supervisor));
    let check = |p: &Principal, before: &str, changes: Value| {
        p.check_update_values(EntityKind::TaskAssignment, &fields(json!({"status": before})), &fields(changes)).map_err(|d| d.code)
    };
    // Handing in (again, once returned), with or without the status.
    for before in ["pending", "returned"] {
        assert_eq!(check(&worker, before, json!({"status": "submitted", "evidence_text": "已排查"})), Ok(()));
        assert_eq!(check(&worker, before, json!({"evidence_text": "草稿"})), Ok(()));
        for status in [json!("approved"), json!("returned"), json!("pending"), Value::Null] {
            assert_eq!(check(&worker, before, json!({"status": status})), Err(DenyCode::FieldProtected), "{before} → {status}");
        }
    }
    // Once handed in or approved it is not the worker's to change.
    for before in ["submitted", "approved"] {
        assert_eq!(check(&worker, before, json!({"evidence_text": "改"})), Err(DenyCode::RoleNotAllowed), "{before}");
    }
    // The supervisor's review, and every other record, are not judged here.
    assert_eq!(check(&sup, "submitted", json!({"status": "approved"})), Ok(()));
    assert_eq!(
        worker.check_update_values(EntityKind::Household, &fields(json!({"status": "x"})), &fields(json!({"status": "y"}))),
        Ok(())
    );
}
