//! A rejected op leaves no trace on the device: its local effect is undone, so the device
//! converges to the server's state (found by the simulator: a refused incident event stayed
//! on the device forever as a local-only timeline entry).

use gridline_core::{EntityKind, EventKind, NewEvent, NewIncident};
use gridline_e2e::*;

fn resolve(d: &Device, incident: &str, note: &str) {
    d.store
        .add_incident_event(incident, NewEvent { kind: EventKind::Resolved, note: note.into(), department_id: None, deadline_at: None })
        .expect("resolve locally");
}

#[test]
fn a_refused_incident_event_is_removed_from_the_device_and_the_status_follows_the_server() {
    let city = start_city();
    let (a, b) = (city.device("gw1"), city.device("gw1"));
    a.sync().expect("bootstrap a");
    let inc = a
        .store
        .report_incident(NewIncident { category: "environment".into(), building_id: Some(city.b("B1A")), description: "楼道堆放杂物".into(), ..Default::default() })
        .expect("report")
        .id;
    a.sync().expect("push the report");
    b.sync().expect("bootstrap b");

    // Both phones resolve it on the spot while offline; A reaches the server first.
    resolve(&a, &inc, "已清理");
    resolve(&b, &inc, "已清理完毕");
    a.sync().expect("a pushes");
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
