//! Households: create (single and batch), read, list, update (changed fields only), delete
//! with its residents, and validation that writes nothing.

use gridline_core::protocol::OpKind;
use gridline_core::{EntityKind, HouseholdPatch, NewHousehold};
use serde_json::json;

use crate::support::*;

#[test]
fn create_household_stores_row_and_queues_one_create_op() {
    let fx = fx();
    let before = fx.pending().len();
    let h = fx
        .store
        .create_household(NewHousehold {
            building_id: fx.b1.clone(),
            room: " 502 ".into(),
            head_name: "王建国".into(),
            phone: Some("138-0013-8000".into()),
            member_count: 4,
            care_tags: vec!["elderly_alone".into(), "low_income".into(), "elderly_alone".into()],
            notes: "独居老人，每周探访".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(h.building_id, fx.b1);
    assert_eq!(h.grid_id, GRID1);
    assert_eq!(h.room, "502");
    // An empty address is the building's address plus the room.
    assert_eq!(h.address, "建设路88号翠苑小区3栋502");
    assert_eq!(h.head_name, "王建国");
    assert_eq!(h.phone.as_deref(), Some("13800138000"));
    assert_eq!(h.member_count, 4);
    assert_eq!(h.care_tags, vec!["elderly_alone", "low_income"]);
    assert_eq!(h.notes, "独居老人，每周探访");
    assert_eq!(h.version, 0);
    assert_eq!(fx.store.household(&h.id).unwrap(), h);

    let ops = fx.ops_since(before);
    assert_eq!(ops.len(), 1);
    let op = &ops[0];
    assert_eq!((op.entity, op.kind, op.entity_id.as_str()), (EntityKind::Household, OpKind::Create, h.id.as_str()));
    assert_eq!(op.base_version, 0);
    assert_eq!(op.device_time, T0);
    assert_eq!(op.fields["room"], json!("502"));
    assert_eq!(op.fields["phone"], json!("13800138000"));
    assert_eq!(op.fields["grid_id"], json!(GRID1));
    assert_eq!(op.fields["care_tags"], json!(["elderly_alone", "low_income"]));
    assert_eq!(op.fields.len(), EntityKind::Household.fields().len());
}

#[test]
fn explicit_address_is_kept() {
    let fx = fx();
    let h = fx
        .store
        .create_household(NewHousehold { address: "建设路88号翠苑小区3栋底商2号".into(), ..new_household(&fx.b1, "商2", "李梅", None) })
        .unwrap();
    assert_eq!(h.address, "建设路88号翠苑小区3栋底商2号");
    assert_eq!(h.phone, None);
}

#[test]
fn households_are_listed_by_building_and_by_grid() {
    let fx = fx();
    let h302 = fx.household(&fx.b1, "302", "张伟", None);
    let h101 = fx.household(&fx.b1, "101", "刘洋", None);
    let h201 = fx.household(&fx.b2, "201", "陈静", None);
    fx.act_as(&worker2());
    let other = fx.household(&fx.b3, "101", "黄磊", None);

    let ids = |v: Vec<gridline_core::Household>| v.into_iter().map(|h| h.id).collect::<Vec<_>>();
    assert_eq!(ids(fx.store.households_in_building(&fx.b1).unwrap()), vec![h101.id.clone(), h302.id.clone()]);
    let mut in_grid1 = ids(fx.store.households_in_grid(GRID1).unwrap());
    in_grid1.sort();
    let mut expected = vec![h101.id, h302.id, h201.id];
    expected.sort();
    assert_eq!(in_grid1, expected);
    assert_eq!(ids(fx.store.households_in_grid(GRID2).unwrap()), vec![other.id]);
    assert!(fx.store.households_in_building("no-such-building").unwrap().is_empty());
}

#[test]
fn batch_create_writes_every_household_with_one_op_each() {
    let fx = fx();
    let before = fx.pending().len();
    let news: Vec<_> = (1..=5).map(|i| new_household(&fx.b1, &format!("{i}01"), &format!("住户{i}"), None)).collect();
    let ids = fx.store.create_households(news).unwrap();
    assert_eq!(ids.len(), 5);
    let ops = fx.ops_since(before);
    assert_eq!(ops.iter().map(|o| o.entity_id.clone()).collect::<Vec<_>>(), ids);
    assert!(ops.iter().all(|o| o.kind == OpKind::Create && o.entity == EntityKind::Household));
    assert_eq!(fx.store.households_in_building(&fx.b1).unwrap().len(), 5);
}

#[test]
fn batch_create_is_all_or_nothing_and_names_the_failing_index() {
    let fx = fx();
    fx.household(&fx.b1, "101", "已有住户", None);
    let mut news: Vec<_> = (0..4).map(|i| new_household(&fx.b1, &format!("{i}02"), "赵六", None)).collect();
    news[2].phone = Some("12345".into());
    let err = assert_writes_nothing(&fx, || fx.store.create_households(news.clone()));
    assert_invalid::<()>(Err(err), "[2].phone", "12345");

    news[2].phone = None;
    news[3].member_count = 0;
    let err = assert_writes_nothing(&fx, || fx.store.create_households(news.clone()));
    assert_invalid::<()>(Err(err), "[3].member_count", "");

    news[3].member_count = 1;
    news[0].building_id = "missing".into();
    let err = assert_writes_nothing(&fx, || fx.store.create_households(news.clone()));
    assert_invalid::<()>(Err(err), "[0].building_id", "missing");
}

#[test]
fn household_validation_names_the_field_and_writes_nothing() {
    let fx = fx();
    let ok = || new_household(&fx.b1, "502", "王芳", Some("13800138000"));
    let cases: Vec<(NewHousehold, &str, &str)> = vec![
        (NewHousehold { room: "  ".into(), ..ok() }, "room", ""),
        (NewHousehold { room: "1".repeat(33), ..ok() }, "room", ""),
        (NewHousehold { head_name: "".into(), ..ok() }, "head_name", ""),
        (NewHousehold { phone: Some("1380013800".into()), ..ok() }, "phone", "1380013800"),
        (NewHousehold { phone: Some("010-1234".into()), ..ok() }, "phone", "010-1234"),
        (NewHousehold { member_count: 0, ..ok() }, "member_count", ""),
        (NewHousehold { member_count: 100, ..ok() }, "member_count", "100"),
        (NewHousehold { care_tags: vec!["vip".into()], ..ok() }, "care_tags", "vip"),
        (NewHousehold { notes: "记".repeat(2001), ..ok() }, "notes", ""),
        (NewHousehold { building_id: "nope".into(), ..ok() }, "building_id", "nope"),
        (NewHousehold { address: "路".repeat(201), ..ok() }, "address", ""),
    ];
    for (new, field, value) in cases {
        let err = assert_writes_nothing(&fx, || fx.store.create_household(new.clone()));
        assert_invalid::<()>(Err(err), field, value);
    }
}

#[test]
fn update_writes_only_changed_fields_into_its_op() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", Some("13800138000"));
    let before = fx.pending().len();
    let updated = fx
        .store
        .update_household(
            &h.id,
            HouseholdPatch {
                // Same values as stored: not part of the op.
                room: Some("502".into()),
                head_name: Some("王建国".into()),
                // Changed.
                member_count: Some(5),
                notes: Some("新增一名租客".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(updated.member_count, 5);
    assert_eq!(updated.notes, "新增一名租客");
    assert_eq!(updated.room, "502");
    let ops = fx.ops_since(before);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].kind, OpKind::Update);
    assert_eq!(ops[0].entity_id, h.id);
    let mut keys: Vec<_> = ops[0].fields.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["member_count", "notes"]);
    assert_eq!(ops[0].fields["member_count"], json!(5));
    assert!(ops[0].device_seq > fx.pending()[before - 1].device_seq);
}

#[test]
fn update_with_identical_values_writes_no_op() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", Some("13800138000"));
    let before = fx.snapshot();
    let same = fx
        .store
        .update_household(
            &h.id,
            HouseholdPatch {
                room: Some("502".into()),
                phone: Some("138 0013 8000".into()),
                member_count: Some(3),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(same, h);
    assert_eq!(fx.snapshot(), before);
    fx.store.update_household(&h.id, HouseholdPatch::default()).unwrap();
    assert_eq!(fx.snapshot(), before);
}

#[test]
fn empty_phone_removes_it() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", Some("13800138000"));
    let n = fx.pending().len();
    let h = fx.store.update_household(&h.id, HouseholdPatch { phone: Some("".into()), ..Default::default() }).unwrap();
    assert_eq!(h.phone, None);
    let op = &fx.ops_since(n)[0];
    assert_eq!(op.fields.get("phone"), Some(&serde_json::Value::Null));
}

#[test]
fn invalid_update_writes_nothing() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let err = assert_writes_nothing(&fx, || {
        fx.store.update_household(&h.id, HouseholdPatch { phone: Some("555".into()), notes: Some("x".into()), ..Default::default() })
    });
    assert_invalid::<()>(Err(err), "phone", "555");
    let err = assert_writes_nothing(&fx, || {
        fx.store.update_household(&h.id, HouseholdPatch { care_tags: Some(vec!["unknown".into()]), ..Default::default() })
    });
    assert_invalid::<()>(Err(err), "care_tags", "unknown");
    let err = assert_writes_nothing(&fx, || {
        fx.store.update_household(&h.id, HouseholdPatch { building_id: Some("gone".into()), ..Default::default() })
    });
    assert_invalid::<()>(Err(err), "building_id", "gone");
    let err = assert_writes_nothing(&fx, || fx.store.update_household("no-such-id", HouseholdPatch { notes: Some("x".into()), ..Default::default() }));
    assert!(matches!(err, gridline_core::Error::NotFound { entity: EntityKind::Household }), "{err:?}");
}

#[test]
fn moving_a_household_moves_its_residents_with_their_own_ops() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let r1 = fx.resident(&h.id, "王建国", None, None);
    let r2 = fx.resident(&h.id, "李秀英", None, None);
    let n = fx.pending().len();
    let moved = fx.store.update_household(&h.id, HouseholdPatch { building_id: Some(fx.b2.clone()), ..Default::default() }).unwrap();
    assert_eq!(moved.building_id, fx.b2);
    assert_eq!(moved.grid_id, GRID1);
    for r in [&r1, &r2] {
        assert_eq!(fx.store.resident(&r.id).unwrap().building_id, fx.b2);
    }
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 3);
    assert_eq!((ops[0].entity, ops[0].entity_id.as_str()), (EntityKind::Household, h.id.as_str()));
    // The grid did not change: only the building is in the op.
    assert_eq!(ops[0].fields.keys().collect::<Vec<_>>(), vec!["building_id"]);
    let mut resident_ids: Vec<_> = ops[1..].iter().map(|o| o.entity_id.clone()).collect();
    resident_ids.sort();
    let mut expected = vec![r1.id.clone(), r2.id.clone()];
    expected.sort();
    assert_eq!(resident_ids, expected);
    assert!(ops[1..].iter().all(|o| o.entity == EntityKind::Resident && o.kind == OpKind::Update));

    // Moving into another grid carries the grid along (supervisor: both grids in scope).
    fx.act_as(&supervisor());
    let moved = fx.store.update_household(&h.id, HouseholdPatch { building_id: Some(fx.b3.clone()), ..Default::default() }).unwrap();
    assert_eq!(moved.grid_id, GRID2);
    assert_eq!(fx.store.resident(&r1.id).unwrap().grid_id, GRID2);
}

#[test]
fn delete_household_cascades_residents_with_one_op_each() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let other = fx.household(&fx.b1, "503", "邻居", None);
    let r1 = fx.resident(&h.id, "王建国", None, None);
    let r2 = fx.resident(&h.id, "王小明", None, None);
    let keep = fx.resident(&other.id, "邻居", None, None);
    let n = fx.pending().len();
    fx.store.delete_household(&h.id).unwrap();

    assert!(matches!(fx.store.household(&h.id), Err(gridline_core::Error::NotFound { .. })));
    assert!(fx.store.residents_of(&h.id).unwrap().is_empty());
    assert_eq!(fx.store.residents_of(&other.id).unwrap().len(), 1);
    assert_eq!(fx.store.resident(&keep.id).unwrap().name, "邻居");

    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 3);
    assert!(ops.iter().all(|o| o.kind == OpKind::Delete && o.fields.is_empty()));
    let mut res: Vec<_> = ops[..2].iter().map(|o| (o.entity, o.entity_id.clone())).collect();
    res.sort();
    let mut expected = vec![(EntityKind::Resident, r1.id), (EntityKind::Resident, r2.id)];
    expected.sort();
    assert_eq!(res, expected);
    assert_eq!((ops[2].entity, ops[2].entity_id.clone()), (EntityKind::Household, h.id.clone()));

    // Deleting it again: not found, nothing written.
    let err = assert_writes_nothing(&fx, || fx.store.delete_household(&h.id));
    assert!(matches!(err, gridline_core::Error::NotFound { entity: EntityKind::Household }));
}

#[test]
fn mutations_without_an_enrolled_user_are_refused() {
    let store = gridline_core::Store::open_in_memory().unwrap();
    store.seed_reference(&reference()).unwrap();
    let err = store.create_household(new_household("b", "1", "某", None)).unwrap_err();
    assert!(matches!(err, gridline_core::Error::NotEnrolled), "{err:?}");
    assert_eq!(store.pending_ops().unwrap(), 0);
}
