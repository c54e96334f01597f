//! Scope from the server (DESIGN.md sync rule 7): what a building head may pull and write, and
//! a grid worker moved to another grid.

use gridline_core::{EntityKind, HouseholdPatch, Role, Scope};
use gridline_e2e::*;
use gridline_server::Config;

#[test]
fn building_head_pulls_only_their_building() {
    let city = start_city();
    let bh = city.device("bh1");
    bh.sync().expect("sync");
    let b1a = city.b("B1A");
    let mut got: Vec<_> = bh.rows(EntityKind::Household).into_iter().map(|r| r.id).collect();
    got.sort();
    let mut want = city.households[&b1a].clone();
    want.sort();
    assert_eq!(got, want, "exactly the households of B1A");
    let all = city.fresh_dump("admin");
    assert_eq!(all[&EntityKind::Household].len(), 12, "the server holds more");
    assert!(bh.rows(EntityKind::Building).iter().all(|r| r.id == b1a), "no other building reaches the device");
}

#[test]
fn building_head_write_outside_is_rejected_and_does_not_block_the_queue() {
    // Without a grace period for ops written under a replaced scope, the narrowing below
    // leaves the device with one op its user may no longer make.
    let city = start_city_with(Config { prior_scope_grace_ms: 0, ..Config::for_tests() });
    let svc = &city.server().state().service;
    let b1a = city.b("B1A");
    let b1b = city.b("B1B");
    let wide = Scope { building_ids: vec![b1a.clone(), b1b.clone()], ..Scope::default() };
    svc.set_scope("bh1", Role::BuildingHead, &wide).expect("widen");
    let bh = city.device("bh1");
    bh.sync().expect("bootstrap");
    let outside = city.households[&b1b][0].clone();
    let inside = city.households[&b1a][0].clone();
    // Offline: an edit in B1B first, then one in B1B's neighbour B1A; meanwhile the scope is
    // narrowed on the server to B1A only.
    bh.store.update_household(&outside, HouseholdPatch { notes: Some("越权修改".into()), ..Default::default() }).expect("edit b1b");
    bh.store.update_household(&inside, HouseholdPatch { member_count: Some(6), ..Default::default() }).expect("edit b1a");
    let narrow = Scope { building_ids: vec![b1a.clone()], ..Scope::default() };
    svc.set_scope("bh1", Role::BuildingHead, &narrow).expect("narrow");

    let r = bh.sync().expect("sync");
    assert_eq!((r.pushed, r.rejected), (1, 1), "{r:?}");
    assert_eq!(bh.pending(), 0);
    let rejected = bh.store.rejected_ops().expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].op.entity_id, outside);
    assert_eq!(rejected[0].code, "out_of_scope", "{:?}", rejected[0]);
    assert!(!rejected[0].reason.is_empty(), "a reason the user can read");
    assert_eq!(bh.store.sync_status().expect("status").rejected_ops, 1);

    let server = city.fresh_dump("admin");
    let hh = &server[&EntityKind::Household];
    assert_eq!(field(find(hh, &outside).expect("outside"), "notes"), "", "the refused edit changed nothing");
    assert_eq!(field(find(hh, &inside).expect("inside"), "member_count"), 6, "the later valid op was applied");
    // The device now holds only B1A.
    assert!(bh.rows(EntityKind::Household).iter().all(|r| field(r, "building_id") == b1a.as_str()));
    assert_eq!(bh.dump(), city.fresh_dump("bh1"));
}

#[test]
fn grid_worker_moved_to_another_grid_pushes_first_then_loses_old_rows() {
    let city = start_city();
    let svc = &city.server().state().service;
    let gw = city.device("gw2");
    gw.sync().expect("bootstrap");
    let b2 = city.b("B2");
    assert_eq!(gw.rows(EntityKind::Household).len(), 3);
    let h = city.households[&b2][0].clone();
    gw.store.update_household(&h, HouseholdPatch { notes: Some("调岗前最后一次走访".into()), ..Default::default() }).expect("edit");
    // Moved from G2 to G3 before the device syncs.
    svc.set_scope("gw2", Role::GridWorker, &Scope { area_ids: vec![G3.into()], ..Scope::default() }).expect("move");

    let r = gw.sync().expect("sync");
    assert!(r.scope_changed, "{r:?}");
    assert_eq!(gw.pending(), 0);
    // The edit was written under the old scope and pushed before the device learned of the move:
    // the server judged it by the scope it was made under, so it is on the server, not rejected.
    assert!(gw.store.rejected_ops().expect("rejected").is_empty());
    assert_eq!(r.rejected, 0);
    let server = city.fresh_dump("admin");
    assert_eq!(field(find(&server[&EntityKind::Household], &h).expect("row"), "notes"), "调岗前最后一次走访");
    // A later edit of the old grid from this device is judged by the new scope (and refused
    // on the device already: the row is gone).
    assert!(gw.store.update_household(&h, HouseholdPatch { notes: Some("调岗之后".into()), ..Default::default() }).is_err());
    let hh = gw.rows(EntityKind::Household);
    assert!(hh.iter().all(|r| field(r, "grid_id") == G3), "old grid purged: {hh:#?}");
    let mut got: Vec<_> = hh.into_iter().map(|r| r.id).collect();
    got.sort();
    let mut want = city.households[&city.b("B3")].clone();
    want.sort();
    assert_eq!(got, want, "the new grid pulled");
    assert_eq!(gw.store.principal().expect("principal").scope.area_ids, vec![G3.to_string()]);
    assert_eq!(gw.dump(), city.fresh_dump("gw2"));
}
