//! Field-level merge of concurrent offline edits (DESIGN.md sync rule 5).

use gridline_core::{EntityKind, HouseholdPatch};
use gridline_e2e::*;

#[test]
fn different_fields_of_one_household_both_survive() {
    let city = start_city();
    let a = city.device("gw1");
    let b = city.device("sup");
    a.sync().expect("bootstrap a");
    b.sync().expect("bootstrap b");
    let h = city.households[&city.b("B1A")][0].clone();
    a.store.update_household(&h, HouseholdPatch { member_count: Some(7), ..Default::default() }).expect("a edit");
    b.store.update_household(&h, HouseholdPatch { notes: Some("需要定期探访".into()), ..Default::default() }).expect("b edit");
    a.sync().expect("a sync");
    b.sync().expect("b sync");
    a.sync().expect("a sync again");
    assert!(city.server().state().service.storage().conflicts(100).expect("conflicts").is_empty(), "no conflict for disjoint fields");
    let server = city.fresh_dump("admin");
    for (who, rows) in [("server", server[&EntityKind::Household].clone()), ("a", a.rows(EntityKind::Household)), ("b", b.rows(EntityKind::Household))] {
        let row = find(&rows, &h).unwrap_or_else(|| panic!("{who}: household missing"));
        assert_eq!(field(row, "member_count"), 7, "{who}: a's edit survives");
        assert_eq!(field(row, "notes"), "需要定期探访", "{who}: b's edit survives");
    }
    assert_eq!(find(&a.rows(EntityKind::Household), &h), find(&b.rows(EntityKind::Household), &h), "devices agree, version included");
}

#[test]
fn same_field_later_arrival_wins_and_loser_is_a_conflict() {
    let city = start_city();
    let a = city.device("gw1");
    let b = city.device("gw1");
    a.sync().expect("bootstrap a");
    b.sync().expect("bootstrap b");
    let h = city.households[&city.b("B1B")][1].clone();
    a.store.update_household(&h, HouseholdPatch { notes: Some("甲：已搬走".into()), ..Default::default() }).expect("a edit");
    b.store.update_household(&h, HouseholdPatch { notes: Some("乙：仍在住".into()), ..Default::default() }).expect("b edit");
    let first = a.sync().expect("a sync");
    assert_eq!(first.pushed, 1);
    let second = b.sync().expect("b sync (arrives later)");
    assert_eq!(second.pushed, 1);
    assert_eq!(second.rejected, 0, "a conflict is a merge, not a rejection");
    a.sync().expect("a sync again");

    let server = city.fresh_dump("sup");
    for (who, rows) in [("server", server[&EntityKind::Household].clone()), ("a", a.rows(EntityKind::Household)), ("b", b.rows(EntityKind::Household))] {
        assert_eq!(field(find(&rows, &h).expect("row"), "notes"), "乙：仍在住", "{who}: the later arrival wins");
    }
    let conflicts = city.server().state().service.storage().conflicts(100).expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    let c = &conflicts[0].conflict;
    assert_eq!(c.entity, EntityKind::Household);
    assert_eq!(c.entity_id, h);
    assert_eq!(c.field, "notes");
    assert_eq!(c.lost_value, serde_json::json!("甲：已搬走"));
    assert_eq!(c.kept_value, serde_json::json!("乙：仍在住"));
    assert_eq!(c.lost_writer, a.device_id());
    assert_eq!(c.kept_writer, b.device_id());
    assert_eq!(a.pending() + b.pending(), 0);
}
