//! Pull: scope filter, masking, pages, tombstones, scope changes, re-bootstrap.

use serde_json::json;

use gridline_core::access::Scope;
use gridline_core::protocol::{OpKind, OpStatus};
use gridline_core::{EntityKind, Role};

use crate::common::*;

#[tokio::test]
async fn each_role_sees_only_its_scope_and_building_heads_see_masked_phones() {
    let w = World::new();
    let (bh, gw, sup) = (w.enroll("bh").await, w.enroll("gw").await, w.enroll("sup").await);
    let bh_rows = w.pull_all(&bh).await;
    assert_eq!(ids(&bh_rows, EntityKind::Household), ["H1"]);
    assert_eq!(ids(&bh_rows, EntityKind::Building), ["B1"]);
    assert_eq!(ids(&bh_rows, EntityKind::Area).len(), 4, "reference data goes to everyone");
    let h1 = bh_rows.iter().find(|c| c.id == "H1").unwrap();
    assert_eq!(h1.fields["phone"], "138****8000");
    let r1 = bh_rows.iter().find(|c| c.id == "R1").unwrap();
    assert_ne!(r1.fields["id_number"], "440703199001011239");
    assert!(r1.fields["id_number"].as_str().unwrap().contains('*'));
    let gw_rows = w.pull_all(&gw).await;
    assert_eq!(ids(&gw_rows, EntityKind::Household), ["H1", "H2"]);
    assert_eq!(gw_rows.iter().find(|c| c.id == "H1").unwrap().fields["phone"], "13800138000");
    assert_eq!(ids(&w.pull_all(&sup).await, EntityKind::Household), ["H1", "H2", "H3"]);
}

#[tokio::test]
async fn department_handler_sees_only_incidents_dispatched_to_it() {
    let w = World::new();
    let (gw, sup, dh) = (w.enroll("gw").await, w.enroll("sup").await, w.enroll("dh").await);
    w.push(&gw, &[
        op(EntityKind::Incident, "I1", OpKind::Create, incident("G1", Some("B1")), 0),
        op(EntityKind::Incident, "I2", OpKind::Create, incident("G1", None), 0),
        op(EntityKind::Incident, "I3", OpKind::Create, incident("G1", None), 0),
    ])
    .await;
    let r = w
        .push(&sup, &[
            op(EntityKind::Incident, "I1", OpKind::Event, event("E1", "dispatched", "", Some("D1")), 0),
            op(EntityKind::Incident, "I2", OpKind::Event, event("E2", "dispatched", "", Some("D2")), 0),
        ])
        .await;
    assert!(r.results.iter().all(|r| r.status == OpStatus::Applied));
    let rows = w.pull_all(&dh).await;
    assert_eq!(ids(&rows, EntityKind::Incident), ["I1"]);
    assert_eq!(ids(&rows, EntityKind::Household), Vec::<String>::new());
    assert!(ids(&rows, EntityKind::IncidentEvent).contains(&"E1".to_owned()));
    assert!(!ids(&rows, EntityKind::IncidentEvent).contains(&"E2".to_owned()));
}

#[tokio::test]
async fn pages_follow_the_cursor_and_cover_the_whole_feed() {
    let w = World::new();
    let admin = w.enroll("admin").await;
    let all = w.pull_all(&admin).await;
    let (mut cursor, mut paged, mut pages) = (0, Vec::new(), 0);
    loop {
        let p = w.pull(&admin, cursor, 4, None).await;
        assert!(p.changes.len() <= 4);
        assert!(p.next_cursor >= cursor);
        if let Some(last) = p.changes.last() {
            assert_eq!(last.seq, p.next_cursor);
        }
        paged.extend(p.changes);
        cursor = p.next_cursor;
        pages += 1;
        if !p.has_more {
            break;
        }
    }
    assert!(pages >= 4);
    assert_eq!(paged, all);
    assert!(paged.windows(2).all(|w| w[0].seq < w[1].seq));
    // Caught up: an empty last page.
    let p = w.pull(&admin, cursor, 4, None).await;
    assert!(p.changes.is_empty() && !p.has_more && p.next_cursor == cursor);
}

#[tokio::test]
async fn filtered_rows_still_advance_the_cursor() {
    let w = World::new();
    let bh = w.enroll("bh").await;
    let p = w.pull(&bh, 0, 1000, None).await;
    assert_eq!(p.next_cursor, w.state.service.storage().max_seq().unwrap(), "cursor = last seq examined");
}

#[tokio::test]
async fn tombstones_replicate_within_scope() {
    let w = World::new();
    let (gw, bh) = (w.enroll("gw").await, w.enroll("bh").await);
    let gw_cursor = w.pull(&gw, 0, 1000, None).await.next_cursor;
    let bh_cursor = w.pull(&bh, 0, 1000, None).await.next_cursor;
    let r = w.push(&gw, &[op(EntityKind::Household, "H2", OpKind::Delete, json!({}), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    let p = w.pull(&gw, gw_cursor, 100, None).await;
    assert_eq!(p.changes.len(), 1);
    assert!(p.changes[0].deleted && p.changes[0].fields.is_empty() && p.changes[0].id == "H2");
    assert!(w.pull(&bh, bh_cursor, 100, None).await.changes.is_empty(), "not the building head's building");
    assert!(!ids(&w.pull_all(&gw).await, EntityKind::Household).contains(&"H2".to_owned()));

    // After a purge, a cursor older than the horizon must re-bootstrap. A purge asked for past
    // the last change stops at it: a device that caught up is not sent back to the start.
    let storage = w.state.service.storage();
    let last = storage.max_seq().unwrap();
    storage.purge_tombstones(last + 1000).unwrap();
    assert_eq!(storage.tombstone_horizon().unwrap(), last);
    let caught_up = w.pull(&gw, last, 100, None).await;
    assert!(!caught_up.rebootstrap && caught_up.changes.is_empty());
    let p = w.pull(&gw, gw_cursor, 100, None).await;
    assert!(p.rebootstrap && p.changes.is_empty());
    assert!(!w.pull(&gw, 0, 100, None).await.rebootstrap);
}

#[tokio::test]
async fn scope_change_is_signalled_and_the_new_scope_is_served() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let first = w.pull(&gw, 0, 1000, None).await;
    let epoch = first.scope_epoch;
    assert!(!w.pull(&gw, first.next_cursor, 1000, Some(epoch)).await.scope_changed);
    let new_scope = Scope { area_ids: vec!["G2".into()], ..Scope::default() };
    let e2 = w.state.service.set_scope("gw", Role::GridWorker, &new_scope).unwrap().unwrap();
    assert!(e2 > epoch);
    let p = w.pull(&gw, first.next_cursor, 1000, Some(epoch)).await;
    assert!(p.scope_changed);
    assert!(p.changes.is_empty());
    assert_eq!(p.scope_epoch, e2);
    assert_eq!(p.principal.scope, new_scope);
    let mut cursor = 0;
    let mut rows = Vec::new();
    loop {
        let p = w.pull(&gw, cursor, 1000, Some(e2)).await;
        assert!(!p.scope_changed);
        rows.extend(p.changes);
        cursor = p.next_cursor;
        if !p.has_more {
            break;
        }
    }
    assert_eq!(ids(&rows, EntityKind::Household), ["H3"]);
    // The token's new scope also governs writes.
    let r = w.push(&gw, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "x"}), 0)]).await;
    assert_eq!(r.results[0].code.as_deref(), Some("out_of_scope"));
}

#[tokio::test]
async fn a_record_moving_out_of_scope_reaches_old_holders_as_a_tombstone() {
    let w = World::new();
    let (gw, sup, dh) = (w.enroll("gw").await, w.enroll("sup").await, w.enroll("dh").await);
    w.push(&gw, &[op(EntityKind::Incident, "I1", OpKind::Create, incident("G1", Some("B1")), 0)]).await;
    w.push(&sup, &[op(EntityKind::Incident, "I1", OpKind::Event, event("E1", "dispatched", "", Some("D1")), 0)]).await;
    let seen = w.pull(&dh, 0, 1000, None).await;
    assert!(seen.changes.iter().any(|c| c.id == "I1" && !c.deleted));
    // The handler returns it; the supervisor dispatches it to another department.
    let r = w.push(&dh, &[op(EntityKind::Incident, "I1", OpKind::Event, event("E2", "returned", "不属本部门职责", None), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let r = w.push(&sup, &[op(EntityKind::Incident, "I1", OpKind::Event, event("E3", "dispatched", "", Some("D2")), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let p = w.pull(&dh, seen.next_cursor, 1000, None).await;
    let i1 = p.changes.iter().find(|c| c.id == "I1" && c.entity == EntityKind::Incident).expect("I1 in the feed");
    assert!(i1.deleted && i1.fields.is_empty());
    // The supervisor, whose scope still holds it, gets the row itself.
    let rows = w.pull_all(&sup).await;
    let i1 = rows.iter().find(|c| c.id == "I1" && c.entity == EntityKind::Incident).unwrap();
    assert!(!i1.deleted);
    assert_eq!(i1.fields["department_id"], "D2");
}

#[tokio::test]
async fn a_record_that_moved_twice_before_an_old_holder_pulled_still_reaches_it_as_a_tombstone() {
    let w = World::new();
    let (gw, sup, bh) = (w.enroll("gw").await, w.enroll("sup").await, w.enroll("bh").await);
    let r = w.push(&gw, &[op(EntityKind::Incident, "I9", OpKind::Create, incident("G1", Some("B1")), 0)]).await;
    let version = r.results[0].version.unwrap();
    let seen = w.pull(&bh, 0, 1000, None).await;
    assert!(seen.changes.iter().any(|c| c.id == "I9" && !c.deleted), "B1's head holds it");
    // It moves to B2 and is then dispatched (a second change of its scope keys) before the
    // head of B1 pulls again.
    let r = w.push(&gw, &[op(EntityKind::Incident, "I9", OpKind::Update, json!({"building_id": "B2"}), version)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let r = w.push(&sup, &[op(EntityKind::Incident, "I9", OpKind::Event, event("E9", "dispatched", "", Some("D1")), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let p = w.pull(&bh, seen.next_cursor, 1000, None).await;
    let i9 = p.changes.iter().find(|c| c.id == "I9" && c.entity == EntityKind::Incident).expect("I9 reaches B1's head");
    assert!(i9.deleted && i9.fields.is_empty(), "{i9:?}");
    // Pulled from after the first move, it is nothing to them (they never held it there): no
    // entry, or a tombstone of a row they do not have.
    let mid = r.results[0].version.unwrap() - 1;
    let p = w.pull(&bh, mid, 1000, None).await;
    assert!(p.changes.iter().all(|c| c.id != "I9" || c.deleted));
}
