//! Incidents: reporting with its references, the timeline through the state machine, derived
//! status and deadlines, overdue with a manual clock, list filters, edits and refusals.

use gridline_core::incident_flow::TransitionErrorKind;
use gridline_core::protocol::OpKind;
use gridline_core::{
    EntityKind, Error, EventKind, Incident, IncidentFilter, IncidentStatus, NewEvent, NewIncident, Role,
};
use serde_json::json;

use crate::support::*;

pub fn new_incident(grid: &str, category: &str) -> NewIncident {
    NewIncident {
        category: category.into(),
        grid_id: grid.into(),
        description: "楼道堆放杂物，堵塞消防通道".into(),
        ..Default::default()
    }
}

pub fn ev(kind: EventKind, note: &str) -> NewEvent {
    NewEvent { kind, note: note.into(), department_id: None, deadline_at: None }
}

pub fn dispatch(dept: &str) -> NewEvent {
    NewEvent { kind: EventKind::Dispatched, note: "请尽快处理".into(), department_id: Some(dept.into()), deadline_at: None }
}

#[test]
fn report_with_household_derives_building_and_grid_and_starts_the_timeline() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let n = fx.pending().len();
    let i = fx
        .store
        .report_incident(NewIncident {
            category: "safety_hazard".into(),
            severity: "high".into(),
            household_id: Some(h.id.clone()),
            lat: Some(22.5787),
            lng: Some(113.0815),
            location_text: "3栋2单元楼道".into(),
            description: "电动车在楼道内充电".into(),
            photos: vec![photo(1), photo(2)],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(i.category, "safety_hazard");
    assert_eq!(i.severity, "high");
    assert_eq!(i.grid_id, GRID1);
    assert_eq!(i.building_id.as_deref(), Some(fx.b1.as_str()));
    assert_eq!(i.household_id.as_deref(), Some(h.id.as_str()));
    assert_eq!((i.lat, i.lng), (Some(22.5787), Some(113.0815)));
    assert_eq!(i.location_text, "3栋2单元楼道");
    assert_eq!(i.photos, vec![photo(1), photo(2)]);
    assert_eq!(i.reporter_id, "u-worker-1");
    assert_eq!(i.reporter_role, Role::GridWorker);
    assert_eq!(i.reported_at, T0);
    assert_eq!(i.status, IncidentStatus::Reported);
    assert_eq!(i.department_id, None);
    assert_eq!(i.response_due_at, None);
    // safety_hazard: resolve within 3 days.
    assert_eq!(i.resolve_due_at, Some(T0 + 3 * DAY));
    assert_eq!(i.updated_at, T0);
    assert!(!i.overdue);

    let timeline = fx.store.incident_timeline(&i.id).unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0].id, i.id);
    assert_eq!(timeline[0].kind, EventKind::Reported);
    assert_eq!(timeline[0].actor_id, "u-worker-1");
    assert_eq!(timeline[0].at, T0);

    // One op: the create. Its fields carry no derived field.
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].entity, ops[0].kind, ops[0].entity_id.clone()), (EntityKind::Incident, OpKind::Create, i.id.clone()));
    for derived in ["status", "department_id", "response_due_at", "resolve_due_at", "updated_at"] {
        assert!(!ops[0].fields.contains_key(derived), "{derived}");
    }
    assert_eq!(ops[0].fields["severity"], json!("high"));
}

#[test]
fn report_with_grid_only_defaults_severity_to_normal() {
    let fx = fx();
    let i = fx.store.report_incident(new_incident(GRID1, "environment")).unwrap();
    assert_eq!(i.severity, "normal");
    assert_eq!(i.building_id, None);
    assert_eq!(i.household_id, None);
    assert_eq!(i.resolve_due_at, Some(T0 + 5 * DAY));
    let b = fx.store.report_incident(NewIncident { grid_id: String::new(), building_id: Some(fx.b2.clone()), ..new_incident("", "dispute") }).unwrap();
    assert_eq!(b.grid_id, GRID1);
    assert_eq!(b.building_id.as_deref(), Some(fx.b2.as_str()));
}

#[test]
fn report_validation_names_the_field_and_writes_nothing() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let ok = || new_incident(GRID1, "dispute");
    let cases: Vec<(NewIncident, &str)> = vec![
        (NewIncident { category: "ufo".into(), ..ok() }, "category"),
        (NewIncident { severity: "apocalyptic".into(), ..ok() }, "severity"),
        (NewIncident { grid_id: "nowhere".into(), ..ok() }, "grid_id"),
        (NewIncident { grid_id: COMMUNITY.into(), ..ok() }, "grid_id"),
        (NewIncident { grid_id: String::new(), ..ok() }, "grid_id"),
        (NewIncident { building_id: Some("missing".into()), ..ok() }, "building_id"),
        // Building 3 lies in grid 2.
        (NewIncident { building_id: Some(fx.b3.clone()), ..ok() }, "building_id"),
        (NewIncident { household_id: Some("missing".into()), ..ok() }, "household_id"),
        (NewIncident { household_id: Some(h.id.clone()), building_id: Some(fx.b2.clone()), ..ok() }, "household_id"),
        (NewIncident { lat: Some(22.5), ..ok() }, "lng"),
        (NewIncident { lng: Some(113.0), ..ok() }, "lat"),
        (NewIncident { lat: Some(91.0), lng: Some(113.0), ..ok() }, "lat"),
        (NewIncident { lat: Some(22.0), lng: Some(-181.0), ..ok() }, "lng"),
        (NewIncident { photos: vec!["not-a-hash".into()], ..ok() }, "photos"),
        // The same hash spelt in capitals names no photo any device or server holds.
        (NewIncident { photos: vec![photo(0xab).to_uppercase()], ..ok() }, "photos"),
        (NewIncident { photos: (0..21).map(photo).collect(), ..ok() }, "photos"),
        (NewIncident { description: "  ".into(), ..ok() }, "description"),
        (NewIncident { location_text: "位".repeat(201), ..ok() }, "location_text"),
    ];
    for (new, field) in cases {
        let err = assert_writes_nothing(&fx, || fx.store.report_incident(new.clone()));
        assert_invalid::<()>(Err(err), field, "");
    }
}

/// Appends `event` as `who` and checks the new status and the one event op it queued.
fn step(fx: &Fx, id: &str, who: &gridline_core::Principal, event: NewEvent, expect: IncidentStatus) -> Incident {
    fx.act_as(who);
    let n = fx.pending().len();
    let before = fx.store.incident(id).unwrap();
    let kind = event.kind;
    let i = fx.store.add_incident_event(id, event).unwrap();
    assert_eq!(i.status, expect, "{kind:?}");
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1, "{kind:?}");
    let op = &ops[0];
    assert_eq!((op.entity, op.kind, op.entity_id.as_str()), (EntityKind::Incident, OpKind::Event, id));
    assert_eq!(op.fields["kind"], json!(kind.as_str()));
    assert_eq!(op.fields["actor_id"], json!(who.user_id));
    assert_eq!(op.fields["actor_role"], json!(who.role.as_str()));
    assert_eq!(op.base_version, before.version);
    let event_id = op.fields["id"].as_str().unwrap();
    let last = fx.store.incident_timeline(id).unwrap().pop().unwrap();
    assert_eq!((last.id.as_str(), last.kind), (event_id, kind));
    i
}

#[test]
fn full_lifecycle_derives_status_department_and_deadlines() {
    let fx = fx();
    let i = fx.store.report_incident(new_incident(GRID1, "safety_hazard")).unwrap();
    fx.clock.advance(HOUR);
    let d = step(&fx, &i.id, &supervisor(), dispatch(DEPT_A), IncidentStatus::Dispatched);
    assert_eq!(d.department_id.as_deref(), Some(DEPT_A));
    // safety_hazard: accept within 4 hours of dispatch.
    assert_eq!(d.response_due_at, Some(T0 + HOUR + 4 * HOUR));
    assert_eq!(d.resolve_due_at, Some(T0 + 3 * DAY));
    assert_eq!(d.updated_at, T0 + HOUR);
    fx.clock.advance(HOUR);
    step(&fx, &i.id, &handler(), ev(EventKind::Accepted, ""), IncidentStatus::Accepted);
    step(&fx, &i.id, &handler(), ev(EventKind::Progress, "已联系物业"), IncidentStatus::Accepted);
    fx.clock.advance(HOUR);
    step(&fx, &i.id, &handler(), ev(EventKind::Resolved, "杂物已清理"), IncidentStatus::Resolved);
    step(&fx, &i.id, &worker1(), ev(EventKind::Confirmed, "居民确认"), IncidentStatus::Resolved);
    step(&fx, &i.id, &supervisor(), ev(EventKind::Verified, ""), IncidentStatus::Verified);
    let closed = step(&fx, &i.id, &supervisor(), ev(EventKind::Closed, ""), IncidentStatus::Closed);
    assert_eq!(closed.updated_at, T0 + 3 * HOUR);
    let kinds: Vec<_> = fx.store.incident_timeline(&i.id).unwrap().into_iter().map(|e| e.kind).collect();
    use EventKind::*;
    assert_eq!(kinds, vec![Reported, Dispatched, Accepted, Progress, Resolved, Confirmed, Verified, Closed]);

    // Reopen goes back to the dispatch queue.
    let r = step(&fx, &i.id, &supervisor(), ev(Reopened, "居民反映问题复发"), IncidentStatus::Reported);
    assert_eq!(r.department_id.as_deref(), Some(DEPT_A));
}

#[test]
fn returned_incident_can_be_dispatched_again_with_its_own_deadline() {
    let fx = fx();
    let i = fx.store.report_incident(new_incident(GRID1, "public_facility")).unwrap();
    step(&fx, &i.id, &supervisor(), dispatch(DEPT_A), IncidentStatus::Dispatched);
    step(&fx, &i.id, &handler(), ev(EventKind::Returned, "不属于本部门职责"), IncidentStatus::Returned);
    let deadline = T0 + 2 * DAY;
    let again = step(
        &fx,
        &i.id,
        &supervisor(),
        NewEvent { deadline_at: Some(deadline), ..dispatch(DEPT_B) },
        IncidentStatus::Dispatched,
    );
    assert_eq!(again.department_id.as_deref(), Some(DEPT_B));
    assert_eq!(again.resolve_due_at, Some(deadline));
    // The first department no longer holds it.
    fx.act_as(&handler());
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Accepted, "")));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
}

#[test]
fn on_the_spot_resolution_and_escalation() {
    let fx = fx();
    let i = fx.store.report_incident(new_incident(GRID1, "environment")).unwrap();
    step(&fx, &i.id, &worker1(), ev(EventKind::Note, "已通知保洁"), IncidentStatus::Reported);
    step(&fx, &i.id, &worker1(), ev(EventKind::Resolved, "现场清理完毕"), IncidentStatus::Resolved);

    let j = fx.store.report_incident(new_incident(GRID1, "illegal_building")).unwrap();
    step(&fx, &j.id, &supervisor(), ev(EventKind::Escalated, "需区级协调"), IncidentStatus::Escalated);
    step(&fx, &j.id, &supervisor(), dispatch(DEPT_B), IncidentStatus::Dispatched);
}

#[test]
fn events_the_state_machine_refuses_write_nothing() {
    let fx = fx();
    let i = fx.store.report_incident(new_incident(GRID1, "dispute")).unwrap();

    // A second `reported`.
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Reported, "")));
    match err {
        Error::Transition(t) => {
            assert_eq!(t.kind, TransitionErrorKind::NotAllowedInStatus);
            assert_eq!(t.status, Some(IncidentStatus::Reported));
        }
        other => panic!("{other:?}"),
    }
    // A grid worker may not dispatch.
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, dispatch(DEPT_A)));
    match err {
        Error::Transition(t) => {
            assert_eq!((t.kind, t.event, t.role), (TransitionErrorKind::RoleNotAllowed, EventKind::Dispatched, Role::GridWorker));
        }
        other => panic!("{other:?}"),
    }
    // Verify before resolve.
    fx.act_as(&supervisor());
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Verified, "")));
    assert!(matches!(err, Error::Transition(t) if t.kind == TransitionErrorKind::NotAllowedInStatus));
    // Closing an unhandled incident needs a reason.
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Closed, " ")));
    assert_invalid::<()>(Err(err), "reason", "");
    // Dispatch needs a known department and a future deadline.
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Dispatched, "")));
    assert_invalid::<()>(Err(err), "department_id", "");
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, dispatch("dept-unknown")));
    assert_invalid::<()>(Err(err), "department_id", "dept-unknown");
    let err = assert_writes_nothing(&fx, || {
        fx.store.add_incident_event(&i.id, NewEvent { deadline_at: Some(T0 - 1), ..dispatch(DEPT_A) })
    });
    assert_invalid::<()>(Err(err), "deadline_at", "");

    fx.act_as(&handler());
    // Not yet dispatched to the handler's department.
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Accepted, "")));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");

    fx.act_as(&supervisor());
    fx.store.add_incident_event(&i.id, dispatch(DEPT_A)).unwrap();
    fx.act_as(&handler());
    // Return needs a reason; resolve before accepting is refused.
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Returned, "")));
    assert_invalid::<()>(Err(err), "reason", "");
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Resolved, "已处理")));
    assert!(matches!(err, Error::Transition(t) if t.status == Some(IncidentStatus::Dispatched)));
    fx.store.add_incident_event(&i.id, ev(EventKind::Accepted, "")).unwrap();
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Resolved, "")));
    assert_invalid::<()>(Err(err), "note", "");
    assert_eq!(fx.store.incident(&i.id).unwrap().status, IncidentStatus::Accepted);

    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event("missing", ev(EventKind::Note, "x")));
    assert!(matches!(err, Error::NotFound { entity: EntityKind::Incident }));
}

#[test]
fn allowed_events_follow_role_and_status() {
    let fx = fx();
    let i = fx.store.report_incident(new_incident(GRID1, "dispute")).unwrap();
    use EventKind::*;
    assert_eq!(fx.store.allowed_incident_events(&i.id).unwrap(), vec![Note, Resolved]);
    fx.act_as(&supervisor());
    assert_eq!(fx.store.allowed_incident_events(&i.id).unwrap(), vec![Dispatched, Note, Closed, Escalated]);
    fx.store.add_incident_event(&i.id, dispatch(DEPT_A)).unwrap();
    fx.act_as(&handler());
    assert_eq!(fx.store.allowed_incident_events(&i.id).unwrap(), vec![Accepted, Returned, Note]);
}

#[test]
fn overdue_is_derived_from_deadlines_and_the_clock() {
    let fx = fx();
    // safety_hazard: respond in 4 hours, resolve in 3 days.
    let a = fx.store.report_incident(new_incident(GRID1, "safety_hazard")).unwrap();
    // dispute: resolve in 15 days.
    let b = fx.store.report_incident(new_incident(GRID1, "dispute")).unwrap();
    let overdue_ids = || {
        let mut v: Vec<_> = fx
            .store
            .incidents(&IncidentFilter { overdue_only: true, ..Default::default() })
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        v.sort();
        v
    };
    assert!(overdue_ids().is_empty());

    // Dispatched and not accepted within the response time: overdue.
    fx.act_as(&supervisor());
    fx.store.add_incident_event(&a.id, dispatch(DEPT_A)).unwrap();
    fx.clock.advance(4 * HOUR);
    assert!(!fx.store.incident(&a.id).unwrap().overdue, "exactly at the deadline is not overdue");
    fx.clock.advance(1);
    assert!(fx.store.incident(&a.id).unwrap().overdue);
    assert_eq!(overdue_ids(), vec![a.id.clone()]);

    // Accepting clears the response deadline; the resolve deadline is still ahead.
    fx.act_as(&handler());
    fx.store.add_incident_event(&a.id, ev(EventKind::Accepted, "")).unwrap();
    assert!(!fx.store.incident(&a.id).unwrap().overdue);
    assert!(overdue_ids().is_empty());

    // Past the resolve deadline of `a` (3 days) but not of `b` (15 days).
    fx.clock.set(T0 + 3 * DAY + 1);
    assert!(fx.store.incident(&a.id).unwrap().overdue);
    assert!(!fx.store.incident(&b.id).unwrap().overdue);
    assert_eq!(overdue_ids(), vec![a.id.clone()]);

    // Resolved incidents are never overdue.
    fx.store.add_incident_event(&a.id, ev(EventKind::Resolved, "已整改")).unwrap();
    assert!(!fx.store.incident(&a.id).unwrap().overdue);
    assert!(overdue_ids().is_empty());

    fx.clock.set(T0 + 16 * DAY);
    assert_eq!(overdue_ids(), vec![b.id.clone()]);
    assert!(fx.store.incidents(&IncidentFilter::default()).unwrap().iter().all(|i| i.overdue == (i.id == b.id)));
}

#[test]
fn incidents_filter_by_status_grid_category_building_and_limit() {
    let fx = fx();
    let a = fx.store.report_incident(new_incident(GRID1, "dispute")).unwrap();
    fx.clock.advance(1000);
    let b = fx.store.report_incident(NewIncident { building_id: Some(fx.b1.clone()), ..new_incident(GRID1, "environment") }).unwrap();
    fx.clock.advance(1000);
    fx.act_as(&worker2());
    let c = fx.store.report_incident(new_incident(GRID2, "environment")).unwrap();
    fx.clock.advance(1000);
    fx.act_as(&supervisor());
    fx.store.add_incident_event(&a.id, dispatch(DEPT_A)).unwrap();

    let ids = |f: IncidentFilter| fx.store.incidents(&f).unwrap().into_iter().map(|i| i.id).collect::<Vec<_>>();
    // Most recently changed first.
    assert_eq!(ids(IncidentFilter::default()), vec![a.id.clone(), c.id.clone(), b.id.clone()]);
    assert_eq!(ids(IncidentFilter { statuses: vec![IncidentStatus::Dispatched], ..Default::default() }), vec![a.id.clone()]);
    assert_eq!(
        ids(IncidentFilter { statuses: vec![IncidentStatus::Reported, IncidentStatus::Closed], ..Default::default() }),
        vec![c.id.clone(), b.id.clone()]
    );
    assert_eq!(ids(IncidentFilter { grid_id: Some(GRID2.into()), ..Default::default() }), vec![c.id.clone()]);
    assert_eq!(ids(IncidentFilter { category: Some("environment".into()), ..Default::default() }), vec![c.id.clone(), b.id.clone()]);
    assert_eq!(
        ids(IncidentFilter { category: Some("environment".into()), grid_id: Some(GRID1.into()), ..Default::default() }),
        vec![b.id.clone()]
    );
    assert_eq!(ids(IncidentFilter { building_id: Some(fx.b1.clone()), ..Default::default() }), vec![b.id.clone()]);
    assert_eq!(ids(IncidentFilter { limit: 2, ..Default::default() }), vec![a.id.clone(), c.id.clone()]);
    assert!(ids(IncidentFilter { category: Some("fire_hazard".into()), ..Default::default() }).is_empty());
}

#[test]
fn editing_a_report_sends_changed_fields_and_recomputes_deadlines() {
    let fx = fx();
    let i = fx.store.report_incident(new_incident(GRID1, "dispute")).unwrap();
    assert_eq!(i.resolve_due_at, Some(T0 + 15 * DAY));
    let n = fx.pending().len();
    let edited = fx
        .store
        .update_incident(&i.id, NewIncident { severity: "urgent".into(), photos: vec![photo(7)], ..new_incident(GRID1, "fire_hazard") })
        .unwrap();
    assert_eq!(edited.category, "fire_hazard");
    assert_eq!(edited.severity, "urgent");
    assert_eq!(edited.photos, vec![photo(7)]);
    assert_eq!(edited.resolve_due_at, Some(T0 + 3 * DAY));
    assert_eq!(edited.reported_at, T0);
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    let mut keys: Vec<_> = ops[0].fields.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["category", "photos", "severity"]);

    // Building heads may not edit a report; nothing is written.
    fx.act_as(&fx.head());
    let err = assert_writes_nothing(&fx, || fx.store.update_incident(&i.id, new_incident(GRID1, "other")));
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");

    // Once dispatched, its deadlines run: the grid worker no longer changes the category that
    // sets them (a later one could clear an overdue flag); the rest of the report they may.
    fx.act_as(&supervisor());
    fx.store.add_incident_event(&i.id, dispatch(DEPT_A)).unwrap();
    fx.act_as(&worker1());
    let err = assert_writes_nothing(&fx, || fx.store.update_incident(&i.id, NewIncident { severity: "urgent".into(), ..new_incident(GRID1, "dispute") }));
    assert!(matches!(err, Error::Forbidden { code: "field_protected", .. }), "{err:?}");
    let kept = fx.store.update_incident(&i.id, NewIncident { severity: "normal".into(), photos: vec![photo(7)], ..new_incident(GRID1, "fire_hazard") });
    assert_eq!(kept.unwrap().severity, "normal");
    // The supervisor may.
    fx.act_as(&supervisor());
    let moved = fx.store.update_incident(&i.id, NewIncident { severity: "normal".into(), photos: vec![photo(7)], ..new_incident(GRID1, "dispute") }).unwrap();
    assert_eq!(moved.category, "dispute");
}

#[test]
fn building_head_reports_in_own_building_only() {
    let fx = fx();
    let head = fx.head();
    fx.act_as(&head);
    let i = fx
        .store
        .report_incident(NewIncident { building_id: Some(fx.b1.clone()), ..new_incident("", "public_facility") })
        .unwrap();
    assert_eq!(i.reporter_role, Role::BuildingHead);
    assert_eq!(i.grid_id, GRID1);
    let err = assert_writes_nothing(&fx, || {
        fx.store.report_incident(NewIncident { building_id: Some(fx.b2.clone()), ..new_incident("", "public_facility") })
    });
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.report_incident(new_incident(GRID1, "dispute")));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
    // A building head may add a note and confirm, but not resolve.
    step(&fx, &i.id, &head, ev(EventKind::Note, "灯还是不亮"), IncidentStatus::Reported);
    let err = assert_writes_nothing(&fx, || fx.store.add_incident_event(&i.id, ev(EventKind::Resolved, "修好了")));
    assert!(matches!(err, Error::Transition(t) if t.kind == TransitionErrorKind::RoleNotAllowed));
}

#[test]
fn department_handlers_cannot_report() {
    let fx = fx();
    fx.act_as(&handler());
    let err = assert_writes_nothing(&fx, || fx.store.report_incident(new_incident(GRID1, "dispute")));
    assert!(matches!(err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
}

/// Drives a new incident (building 1, dispatched to department A on the way) into `status`.
fn incident_in(fx: &Fx, status: IncidentStatus) -> String {
    use EventKind::*;
    let sv = supervisor();
    let dh = handler();
    let path: Vec<(&gridline_core::Principal, EventKind)> = match status {
        IncidentStatus::Reported => {
            vec![(&sv, Dispatched), (&dh, Accepted), (&dh, Resolved), (&sv, Reopened)]
        }
        IncidentStatus::Dispatched => vec![(&sv, Dispatched)],
        IncidentStatus::Accepted => vec![(&sv, Dispatched), (&dh, Accepted)],
        IncidentStatus::Returned => vec![(&sv, Dispatched), (&dh, Returned)],
        IncidentStatus::Resolved => vec![(&sv, Dispatched), (&dh, Accepted), (&dh, Resolved)],
        IncidentStatus::Verified => vec![(&sv, Dispatched), (&dh, Accepted), (&dh, Resolved), (&sv, Verified)],
        IncidentStatus::Closed => {
            vec![(&sv, Dispatched), (&dh, Accepted), (&dh, Resolved), (&sv, Verified), (&sv, Closed)]
        }
        IncidentStatus::Escalated => vec![(&sv, Dispatched), (&sv, Escalated)],
    };
    fx.act_as(&worker1());
    let i = fx.store.report_incident(NewIncident { building_id: Some(fx.b1.clone()), ..new_incident("", "dispute") }).unwrap();
    for (who, kind) in path {
        fx.act_as(who);
        fx.store.add_incident_event(&i.id, full_event(kind)).unwrap();
    }
    let got = fx.store.incident(&i.id).unwrap();
    assert_eq!((got.status, got.department_id.as_deref()), (status, Some(DEPT_A)));
    i.id
}

/// An event with every payload field filled, so only the state machine can refuse it.
fn full_event(kind: EventKind) -> NewEvent {
    NewEvent { kind, note: "情况说明".into(), department_id: Some(DEPT_A.into()), deadline_at: None }
}

#[test]
fn every_status_event_and_role_goes_through_the_state_machine() {
    use gridline_core::incident_flow::transition;
    let fx = fx();
    let people = [worker1(), fx.head(), supervisor(), handler(), admin()];
    assert_eq!(people.iter().map(|p| p.role).collect::<Vec<_>>(), Role::ALL.to_vec());
    let (mut allowed, mut refused) = (0, 0);
    for status in IncidentStatus::ALL {
        for event in EventKind::ALL {
            for who in &people {
                let id = incident_in(&fx, status);
                fx.act_as(who);
                let ops_before = fx.store.pending_ops().unwrap();
                let timeline_before = fx.store.incident_timeline(&id).unwrap();
                let row_before = fx.store.incident(&id).unwrap();
                let got = fx.store.add_incident_event(&id, full_event(event));
                match transition(Some(status), event, who.role) {
                    Ok(next) => {
                        allowed += 1;
                        let i = got.unwrap_or_else(|e| panic!("{status:?} {event:?} {:?}: {e:?}", who.role));
                        assert_eq!(i.status, next, "{status:?} {event:?} {:?}", who.role);
                        assert_eq!(fx.store.pending_ops().unwrap(), ops_before + 1);
                        assert_eq!(fx.store.incident_timeline(&id).unwrap().len(), timeline_before.len() + 1);
                    }
                    Err(expected) => {
                        refused += 1;
                        match got {
                            Err(Error::Transition(t)) => assert_eq!(t, expected),
                            other => panic!("{status:?} {event:?} {:?}: expected a refusal, got {other:?}", who.role),
                        }
                        assert_eq!(fx.store.pending_ops().unwrap(), ops_before);
                        assert_eq!(fx.store.incident_timeline(&id).unwrap(), timeline_before);
                        assert_eq!(fx.store.incident(&id).unwrap(), row_before);
                    }
                }
            }
        }
    }
    assert_eq!(allowed + refused, 8 * 12 * 5);
    // The unit table of incident_flow counts 84 allowed rows; 4 of them are the report itself.
    assert_eq!(allowed, 80);
}
