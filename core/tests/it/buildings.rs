//! Buildings: create, read, list, update, delete (only when empty), validation.

use gridline_core::protocol::OpKind;
use gridline_core::{BuildingPatch, EntityKind, Error, NewBuilding};
use serde_json::json;

use crate::support::*;

fn new_building(grid: &str) -> NewBuilding {
    NewBuilding { grid_id: grid.into(), name: "翠苑小区7栋".into(), address: "建设路88号翠苑小区7栋".into(), floors: Some(11) }
}

#[test]
fn create_building_in_own_grid_queues_a_create_op() {
    let fx = fx();
    let n = fx.pending().len();
    let b = fx.store.create_building(new_building(GRID1)).unwrap();
    assert_eq!(b.grid_id, GRID1);
    assert_eq!(b.name, "翠苑小区7栋");
    assert_eq!(b.address, "建设路88号翠苑小区7栋");
    assert_eq!(b.floors, Some(11));
    assert_eq!(b.head_user_id, None);
    assert_eq!(fx.building(&b.id), b);
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].entity, ops[0].kind, ops[0].entity_id.clone()), (EntityKind::Building, OpKind::Create, b.id.clone()));
    assert_eq!(ops[0].fields["floors"], json!(11));
    assert_eq!(ops[0].fields["head_user_id"], json!(null));
}

#[test]
fn buildings_are_listed_by_grid_and_name() {
    let fx = fx();
    let names: Vec<_> = fx.store.buildings_in_grid(GRID1).unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, vec!["翠苑小区3栋", "翠苑小区5栋"]);
    let in2: Vec<_> = fx.store.buildings_in_grid(GRID2).unwrap().into_iter().map(|b| b.id).collect();
    assert_eq!(in2, vec![fx.b3.clone()]);
    assert!(fx.store.buildings_in_grid(COMMUNITY).unwrap().is_empty());
}

#[test]
fn building_validation_writes_nothing() {
    let fx = fx();
    let cases: Vec<(NewBuilding, &str)> = vec![
        (NewBuilding { grid_id: "nope".into(), ..new_building(GRID1) }, "grid_id"),
        // A community is an area but not a grid.
        (NewBuilding { grid_id: COMMUNITY.into(), ..new_building(GRID1) }, "grid_id"),
        (NewBuilding { name: " ".into(), ..new_building(GRID1) }, "name"),
        (NewBuilding { address: "".into(), ..new_building(GRID1) }, "address"),
        (NewBuilding { floors: Some(0), ..new_building(GRID1) }, "floors"),
        (NewBuilding { floors: Some(201), ..new_building(GRID1) }, "floors"),
    ];
    for (new, field) in cases {
        let err = assert_writes_nothing(&fx, || fx.store.create_building(new.clone()));
        assert_invalid::<()>(Err(err), field, "");
    }
}

#[test]
fn update_building_sends_changed_fields_and_can_set_and_clear_the_head() {
    let fx = fx();
    let n = fx.pending().len();
    let b = fx
        .store
        .update_building(&fx.b1, BuildingPatch { floors: Some(7), head_user_id: Some("u-head-1".into()), name: Some("翠苑小区3栋".into()), ..Default::default() })
        .unwrap();
    assert_eq!(b.floors, Some(7));
    assert_eq!(b.head_user_id.as_deref(), Some("u-head-1"));
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    let mut keys: Vec<_> = ops[0].fields.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["floors", "head_user_id"]);

    let b = fx.store.update_building(&fx.b1, BuildingPatch { head_user_id: Some("".into()), ..Default::default() }).unwrap();
    assert_eq!(b.head_user_id, None);

    let err = assert_writes_nothing(&fx, || fx.store.update_building(&fx.b1, BuildingPatch { floors: Some(0), ..Default::default() }));
    assert_invalid::<()>(Err(err), "floors", "");
    let err = assert_writes_nothing(&fx, || fx.store.update_building("missing", BuildingPatch { floors: Some(3), ..Default::default() }));
    assert!(matches!(err, Error::NotFound { entity: EntityKind::Building }));
}

#[test]
fn only_empty_buildings_can_be_deleted_and_only_by_supervisors() {
    let fx = fx();
    let h = fx.household(&fx.b2, "101", "刘洋", None);
    // Grid workers may create and edit buildings, not delete them.
    let err = assert_writes_nothing(&fx, || fx.store.delete_building(&fx.b1));
    assert!(matches!(err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");

    fx.act_as(&supervisor());
    let err = assert_writes_nothing(&fx, || fx.store.delete_building(&fx.b2));
    assert_invalid::<()>(Err(err), "id", "");
    let n = fx.pending().len();
    fx.store.delete_building(&fx.b1).unwrap();
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].entity, ops[0].kind), (EntityKind::Building, OpKind::Delete));
    assert!(matches!(fx.store.building(&fx.b1), Err(Error::NotFound { .. })));
    fx.act_as(&worker1());
    fx.store.delete_household(&h.id).unwrap();
    fx.act_as(&supervisor());
    fx.store.delete_building(&fx.b2).unwrap();
    assert!(fx.store.buildings_in_grid(GRID1).unwrap().is_empty());
}

#[test]
fn buildings_outside_the_workers_grid_are_out_of_scope() {
    let fx = fx();
    let err = assert_writes_nothing(&fx, || fx.store.create_building(new_building(GRID2)));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.update_building(&fx.b3, BuildingPatch { floors: Some(9), ..Default::default() }));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
}
