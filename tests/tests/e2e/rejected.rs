//! A rejected op leaves no trace on the device: its local effect is undone, so the device
//! converges to the server's state (found by the simulator: a refused incident event stayed
//! on the device forever as a local-only timeline entry).

use gridline_core::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use gridline_core::sync::{SyncOptions, Transport, TransportError};
use gridline_core::{EntityKind, EventKind, HouseholdPatch, NewEvent, NewHousehold, NewIncident};
use gridline_e2e::*;

fn resolve(d: &Device, incident: &str, note: &str) {
    d.store
        .add_incident_event(incident, NewEvent { kind: EventKind::Resolved, note: note.into(), department_id: None, deadline_at: None })
        .expect("resolve locally");
}

/// Two phones of one worker resolve the same incident on the spot while offline; A reaches
/// the server first (and pulls), B has not synced since. Returns (A, B, incident id).
fn resolved_twice(city: &City) -> (Device, Device, String) {
    let (a, b) = (city.device("gw1"), city.device("gw1"));
    a.sync().expect("bootstrap a");
    let inc = a
        .store
        .report_incident(NewIncident { category: "environment".into(), building_id: Some(city.b("B1A")), description: "楼道堆放杂物".into(), ..Default::default() })
        .expect("report")
        .id;
    a.sync().expect("push the report");
    b.sync().expect("bootstrap b");
    resolve(&a, &inc, "已清理");
    resolve(&b, &inc, "已清理完毕");
    a.sync().expect("a pushes");
    (a, b, inc)
}

#[test]
fn a_refused_incident_event_is_removed_from_the_device_and_the_status_follows_the_server() {
    let city = start_city();
    let (a, b, _) = resolved_twice(&city);
    b.sync().expect("b pushes and pulls");

    let rejected = b.store.rejected_ops().expect("rejected list");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].code, "transition_refused");
    let events = b.rows(EntityKind::IncidentEvent);
    assert!(events.iter().all(|e| e.version > 0), "no local-only event left: {events:#?}");
    assert_eq!(events.iter().filter(|e| field(e, "kind") == "resolved").count(), 1);
    assert_eq!(b.dump(), city.fresh_dump("gw1"), "b equals the server's view");
    assert_eq!(a.dump(), b.dump());
}

#[test]
fn a_rejected_edit_of_an_old_record_is_put_back_from_the_servers_copy_without_pulling_again() {
    // The rejection carries the record as the server has it, so the device does not move its
    // pull cursor back to the version it knew (which re-pulled everything changed since).
    let city = start_city();
    let (a, b) = (city.device("gw1"), city.device("gw1"));
    a.sync().expect("bootstrap a");
    b.sync().expect("bootstrap b");
    let old = city.households[&city.b("B1A")][0].clone();
    for i in 0..30 {
        b.store
            .create_household(NewHousehold { building_id: city.b("B1B"), room: format!("6{i:02}"), head_name: format!("新住户{i}"), member_count: 2, ..Default::default() })
            .expect("create");
    }
    b.sync().expect("b pushes thirty households");
    assert_eq!(a.sync().expect("a catches up").pulled, 30);

    // B deletes a seeded household; A, not yet told, edits it.
    b.store.delete_household(&old).expect("delete");
    b.sync().expect("b pushes the delete");
    a.store.update_household(&old, HouseholdPatch { notes: Some("已走访".into()), ..Default::default() }).expect("edit");
    let r = a.sync().expect("a syncs");
    assert_eq!((r.pushed, r.rejected), (0, 1), "{r:?}");
    assert_eq!(r.pulled, 1, "only the delete's own feed entry, not everything since the seed: {r:?}");
    let rejected = a.store.rejected_ops().expect("rejected list");
    assert_eq!(rejected[0].code, "not_found", "{:?}", rejected[0]);
    assert!(find(&a.rows(EntityKind::Household), &old).is_none(), "the deleted household is gone from A");
    assert_eq!(a.dump(), city.fresh_dump("gw1"), "a equals the server's view");
}

/// Pushes go through; every pull fails (signal lost right after the push).
struct NoPull<'a>(&'a dyn Transport);

impl Transport for NoPull<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.0.push(req)
    }
    fn pull(&self, _: &PullRequest) -> Result<PullResponse, TransportError> {
        Err(TransportError::Network("signal lost".into()))
    }
}

#[test]
fn a_rejected_event_is_undone_as_soon_as_the_push_is_answered() {
    // The rejection carries the incident as the server has it, which replaces the device's
    // row before any pull (here none succeeds).
    let city = start_city();
    let (a, b, inc) = resolved_twice(&city);
    let server_copy = find(&a.rows(EntityKind::Incident), &inc).expect("a has it").clone();

    let r = b.sync_via(&NoPull(&b.transport), &SyncOptions { max_attempts: 1, ..opts() });
    assert!(r.is_err(), "the pull is cut off");
    let rejected = b.store.rejected_ops().expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].code, "transition_refused", "{:?}", rejected[0]);
    let now = find(&b.rows(EntityKind::Incident), &inc).expect("still there").clone();
    assert_eq!((now.version, &now.fields), (server_copy.version, &server_copy.fields), "the server's copy is back");
    b.sync().expect("sync");
    assert_eq!(b.dump(), city.fresh_dump("gw1"), "b equals the server's view");
}
