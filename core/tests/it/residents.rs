//! Residents: ID numbers with their check digit, birth date from the ID, phone formats,
//! update, delete and list order.

use gridline_core::protocol::OpKind;
use gridline_core::{EntityKind, NewResident, ResidentPatch};
use serde_json::json;

use crate::support::*;

fn new_resident(household: &str) -> NewResident {
    NewResident { household_id: household.into(), name: "王芳".into(), relation: "配偶".into(), ..Default::default() }
}

#[test]
fn resident_with_id_number_takes_birth_date_from_it() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let id = id_number("44070319850612002");
    let n = fx.pending().len();
    let r = fx
        .store
        .create_resident(NewResident {
            id_number: Some(format!(" {} ", id.to_lowercase())),
            phone: Some("+86 139 2345 6789".into()),
            tags: vec!["veteran".into()],
            notes: "退役军人".into(),
            ..new_resident(&h.id)
        })
        .unwrap();
    assert_eq!(r.household_id, h.id);
    assert_eq!(r.building_id, fx.b1);
    assert_eq!(r.grid_id, GRID1);
    assert_eq!(r.name, "王芳");
    assert_eq!(r.id_number.as_deref(), Some(id.as_str()));
    assert_eq!(r.birth_date.as_deref(), Some("1985-06-12"));
    assert_eq!(r.phone.as_deref(), Some("13923456789"));
    assert_eq!(r.tags, vec!["veteran"]);
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].entity, ops[0].kind), (EntityKind::Resident, OpKind::Create));
    assert_eq!(ops[0].fields["birth_date"], json!("1985-06-12"));
    assert_eq!(ops[0].fields["id_number"], json!(id));
}

#[test]
fn id_number_ending_in_x_is_accepted_and_upper_cased() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let r = fx
        .store
        .create_resident(NewResident { id_number: Some("11010519491231002x".into()), ..new_resident(&h.id) })
        .unwrap();
    assert_eq!(r.id_number.as_deref(), Some("11010519491231002X"));
    assert_eq!(r.birth_date.as_deref(), Some("1949-12-31"));
}

#[test]
fn explicit_birth_date_without_id_is_kept() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let r = fx.store.create_resident(NewResident { birth_date: Some("2016-02-29".into()), ..new_resident(&h.id) }).unwrap();
    assert_eq!(r.birth_date.as_deref(), Some("2016-02-29"));
    assert_eq!(r.id_number, None);
    let r = fx.store.create_resident(new_resident(&h.id)).unwrap();
    assert_eq!(r.birth_date, None);
}

#[test]
fn a_birth_date_after_today_is_refused_given_or_carried_by_the_id_number() {
    // The fixture's clock: 2025-03-01 08:00 UTC.
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let born = |d: &str| NewResident { birth_date: Some(d.into()), ..new_resident(&h.id) };
    let err = assert_writes_nothing(&fx, || fx.store.create_resident(born("2025-03-02")));
    assert_invalid::<()>(Err(err), "birth_date", "2025-03-02");
    fx.store.create_resident(born("2025-03-01")).unwrap();
    let future_id = id_number("44070320990101001");
    let err = assert_writes_nothing(&fx, || fx.store.create_resident(NewResident { id_number: Some(future_id.clone()), ..new_resident(&h.id) }));
    assert_invalid::<()>(Err(err), "id_number", &future_id);
    // At 20:00 UTC it is already 2 March in Beijing: a child born there this morning is taken.
    fx.clock.advance(12 * HOUR);
    let r = fx.store.create_resident(born("2025-03-02")).unwrap();
    assert_eq!(r.birth_date.as_deref(), Some("2025-03-02"));
    let err = assert_writes_nothing(&fx, || fx.store.update_resident(&r.id, ResidentPatch { birth_date: Some("2030-01-01".into()), ..Default::default() }));
    assert_invalid::<()>(Err(err), "birth_date", "");
}

#[test]
fn birth_date_contradicting_the_id_number_is_refused() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let id = id_number("44070319850612002");
    let err = assert_writes_nothing(&fx, || {
        fx.store.create_resident(NewResident {
            id_number: Some(id.clone()),
            birth_date: Some("1990-01-01".into()),
            ..new_resident(&h.id)
        })
    });
    assert_invalid::<()>(Err(err), "birth_date", "1990-01-01");
    // The same date as the ID's is fine.
    let r = fx
        .store
        .create_resident(NewResident { id_number: Some(id), birth_date: Some("1985-06-12".into()), ..new_resident(&h.id) })
        .unwrap();
    assert_eq!(r.birth_date.as_deref(), Some("1985-06-12"));
}

#[test]
fn a_birth_date_alone_must_agree_with_the_kept_id_number() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let r = fx.store.create_resident(NewResident { id_number: Some(id_number("44070319850612002")), ..new_resident(&h.id) }).unwrap();
    let err = assert_writes_nothing(&fx, || {
        fx.store.update_resident(&r.id, ResidentPatch { birth_date: Some("1990-01-01".into()), ..Default::default() })
    });
    assert_invalid::<()>(Err(err), "birth_date", "1990-01-01");
    // Clearing the ID number in the same patch frees the birth date.
    let r = fx
        .store
        .update_resident(&r.id, ResidentPatch { id_number: Some(String::new()), birth_date: Some("1990-01-01".into()), ..Default::default() })
        .unwrap();
    assert_eq!((r.id_number, r.birth_date.as_deref()), (None, Some("1990-01-01")));
}

#[test]
fn bad_id_numbers_are_refused_without_echoing_them() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let good = id_number("44070319850612002");
    let wrong_check = format!("{}{}", &good[..17], if good.ends_with('1') { '2' } else { '1' });
    let bad_date = id_number("44070319850230002");
    let bad_region = id_number("99070319850612002");
    for bad in [wrong_check.as_str(), &good[..17], bad_date.as_str(), bad_region.as_str(), "4407031985061200AB"] {
        let err = assert_writes_nothing(&fx, || {
            fx.store.create_resident(NewResident { id_number: Some(bad.into()), ..new_resident(&h.id) })
        });
        let reason = assert_invalid::<()>(Err(err), "id_number", bad);
        // Not even a long run of its digits.
        assert!(!reason.contains(&bad[..6]), "{reason}");
    }
    let err = fx.store.create_resident(NewResident { id_number: Some(wrong_check.clone()), ..new_resident(&h.id) }).unwrap_err();
    assert!(err.to_string().contains("id_number"));
    assert!(!err.to_string().contains(&wrong_check));
}

#[test]
fn phones_accept_mobile_and_landline_formats_and_store_them_normalised() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    for (input, stored) in [
        ("13800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0750-3123456", "07503123456"),
        ("010-62345678-123", "01062345678-123"),
        ("020 8888 8888", "02088888888"),
        ("010-62345678转8", "01062345678-8"),
    ] {
        let r = fx.store.create_resident(NewResident { phone: Some(input.into()), ..new_resident(&h.id) }).unwrap();
        assert_eq!(r.phone.as_deref(), Some(stored), "{input}");
    }
    for bad in ["12800138000", "1380013800", "010-0234567", "+85212345678", "13800138000转1", "tel-abc"] {
        let err = assert_writes_nothing(&fx, || {
            fx.store.create_resident(NewResident { phone: Some(bad.into()), ..new_resident(&h.id) })
        });
        assert_invalid::<()>(Err(err), "phone", bad);
    }
}

#[test]
fn resident_validation_names_the_field() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let cases: Vec<(NewResident, &str, &str)> = vec![
        (NewResident { household_id: "missing".into(), ..new_resident(&h.id) }, "household_id", "missing"),
        (NewResident { name: " ".into(), ..new_resident(&h.id) }, "name", ""),
        (NewResident { birth_date: Some("2023-02-29".into()), ..new_resident(&h.id) }, "birth_date", "2023-02-29"),
        (NewResident { birth_date: Some("1990/01/01".into()), ..new_resident(&h.id) }, "birth_date", "1990/01/01"),
        (NewResident { tags: vec!["celebrity".into()], ..new_resident(&h.id) }, "tags", "celebrity"),
        (NewResident { relation: "亲".repeat(21), ..new_resident(&h.id) }, "relation", ""),
    ];
    for (new, field, value) in cases {
        let err = assert_writes_nothing(&fx, || fx.store.create_resident(new.clone()));
        assert_invalid::<()>(Err(err), field, value);
    }
}

#[test]
fn update_resident_sends_only_changes_and_keeps_birth_date_in_step_with_the_id() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let r = fx.resident(&h.id, "王芳", Some(&id_number("44070319850612002")), Some("13800138000"));
    let n = fx.pending().len();
    let r2 = fx
        .store
        .update_resident(&r.id, ResidentPatch { name: Some("王芳芳".into()), phone: Some("13800138000".into()), ..Default::default() })
        .unwrap();
    assert_eq!(r2.name, "王芳芳");
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].fields.keys().collect::<Vec<_>>(), vec!["name"]);
    assert_eq!(ops[0].base_version, 0);

    // A corrected ID number brings its birth date along.
    let n = fx.pending().len();
    let new_id = id_number("44070319870101002");
    let r3 = fx.store.update_resident(&r.id, ResidentPatch { id_number: Some(new_id.clone()), ..Default::default() }).unwrap();
    assert_eq!(r3.id_number.as_deref(), Some(new_id.as_str()));
    assert_eq!(r3.birth_date.as_deref(), Some("1987-01-01"));
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    let mut keys: Vec<_> = ops[0].fields.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["birth_date", "id_number"]);

    // Clearing the phone.
    let r4 = fx.store.update_resident(&r.id, ResidentPatch { phone: Some(String::new()), ..Default::default() }).unwrap();
    assert_eq!(r4.phone, None);

    // Invalid update (a wrong check digit): nothing written.
    let good = id_number("44070319900101002");
    let bad = format!("{}{}", &good[..17], if good.ends_with('1') { '2' } else { '1' });
    let err = assert_writes_nothing(&fx, || fx.store.update_resident(&r.id, ResidentPatch { id_number: Some(bad.clone()), ..Default::default() }));
    assert_invalid::<()>(Err(err), "id_number", &bad);
    // A birth date contradicting a new ID number.
    let err = assert_writes_nothing(&fx, || {
        fx.store.update_resident(&r.id, ResidentPatch { id_number: Some(good.clone()), birth_date: Some("1991-01-01".into()), ..Default::default() })
    });
    assert_invalid::<()>(Err(err), "birth_date", "1991-01-01");
}

#[test]
fn residents_are_listed_head_first_and_deleted_one_op_each() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let child = fx
        .store
        .create_resident(NewResident { relation: "子女".into(), birth_date: Some("2010-05-01".into()), ..new_resident(&h.id) })
        .unwrap();
    let head = fx
        .store
        .create_resident(NewResident { name: "王建国".into(), relation: "户主".into(), birth_date: Some("1960-01-01".into()), ..new_resident(&h.id) })
        .unwrap();
    let spouse = fx
        .store
        .create_resident(NewResident { relation: "配偶".into(), birth_date: Some("1962-03-04".into()), ..new_resident(&h.id) })
        .unwrap();
    let order: Vec<_> = fx.store.residents_of(&h.id).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(order, vec![head.id.clone(), spouse.id.clone(), child.id.clone()]);

    let n = fx.pending().len();
    fx.store.delete_resident(&child.id).unwrap();
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].entity, ops[0].kind, ops[0].entity_id.clone()), (EntityKind::Resident, OpKind::Delete, child.id.clone()));
    assert_eq!(fx.store.residents_of(&h.id).unwrap().len(), 2);
    assert!(matches!(fx.store.resident(&child.id), Err(gridline_core::Error::NotFound { entity: EntityKind::Resident })));
}
