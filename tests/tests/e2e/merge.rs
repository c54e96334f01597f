//! Field-level merge of concurrent offline edits (DESIGN.md sync rule 5).

use gridline_core::sync::TransportError;
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

#[test]
fn an_edit_after_a_push_whose_pull_never_came_still_meets_what_others_wrote_meanwhile() {
    let city = start_city();
    let a = city.device("gw1");
    let b = city.device("gw1");
    a.sync().expect("bootstrap a");
    b.sync().expect("bootstrap b");
    let h = city.households[&city.b("B1A")][2].clone();
    // b's note reaches the server; a has not seen it.
    b.store.update_household(&h, HouseholdPatch { notes: Some("乙：独居老人，每周探访".into()), ..Default::default() }).expect("b edit");
    b.sync().expect("b sync");
    // a's edit of another field is pushed and acknowledged, then the signal goes.
    let before = field(find(&a.rows(EntityKind::Household), &h).expect("row"), "member_count").as_i64().expect("member count");
    let count = before % 9 + 1;
    a.store.update_household(&h, HouseholdPatch { member_count: Some(count as u32), ..Default::default() }).expect("a edit");
    assert_eq!(a.pending(), 1);
    let push_only = BeforePull::new(&a.transport, || Err(TransportError::Network("signal lost".into())));
    assert!(a.sync_via(&push_only, &opts()).is_err(), "the pull failed");
    assert_eq!(a.pending(), 0, "the push was acknowledged");
    // a now writes the note over a value it never saw: the later arrival wins, and b's note is
    // kept as a conflict (the acknowledgement of a's first edit did not make the row look as
    // new as the server's).
    a.store.update_household(&h, HouseholdPatch { notes: Some("甲：已搬走".into()), ..Default::default() }).expect("a second edit");
    a.sync().expect("a sync");
    b.sync().expect("b sync again");
    let conflicts = city.server().state().service.storage().conflicts(100).expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{conflicts:#?}");
    let c = &conflicts[0].conflict;
    assert_eq!((c.entity_id.as_str(), c.field.as_str()), (h.as_str(), "notes"));
    assert_eq!(c.lost_value, serde_json::json!("乙：独居老人，每周探访"));
    assert_eq!(c.kept_value, serde_json::json!("甲：已搬走"));
    assert_eq!((c.lost_writer.as_str(), c.kept_writer.as_str()), (b.device_id().as_str(), a.device_id().as_str()));
    let server = city.fresh_dump("sup");
    for (who, rows) in [("server", server[&EntityKind::Household].clone()), ("a", a.rows(EntityKind::Household)), ("b", b.rows(EntityKind::Household))] {
        let row = find(&rows, &h).expect("row");
        assert_eq!((field(row, "notes"), field(row, "member_count")), (&serde_json::json!("甲：已搬走"), &serde_json::json!(count)), "{who}");
    }
    assert_eq!(find(&a.rows(EntityKind::Household), &h), find(&b.rows(EntityKind::Household), &h), "devices agree, version included");
}
