//! Patrols (start, GPS points, distance, end, list) and visits (with and without an incident
//! raised in the same transaction).

use gridline_core::patrols::haversine_m;
use gridline_core::protocol::OpKind;
use gridline_core::{EntityKind, Error, GpsPoint, IncidentStatus, NewIncident, NewVisit};

use crate::support::*;

fn pt(lat: f64, lng: f64, at: i64) -> GpsPoint {
    GpsPoint { lat, lng, at, accuracy_m: Some(5.0) }
}

/// One kilometre of latitude is 1/111.195 degrees (mean Earth radius 6,371 km).
const KM_LAT: f64 = 1.0 / 111.194_926_6;

#[test]
fn patrol_start_points_distance_end() {
    let fx = fx();
    let n = fx.pending().len();
    let p = fx.store.start_patrol(GRID1, "例行巡查").unwrap();
    assert_eq!(p.grid_id, GRID1);
    assert_eq!(p.worker_id, "u-worker-1");
    assert_eq!(p.started_at, T0);
    assert_eq!(p.ended_at, None);
    assert_eq!(p.distance_m, 0.0);
    assert_eq!(p.note, "例行巡查");

    // Two points one kilometre apart (north-south), given out of order in time.
    let p = fx
        .store
        .add_patrol_points(&p.id, vec![pt(22.5 + KM_LAT, 113.08, T0 + 600_000), pt(22.5, 113.08, T0 + 1_000)])
        .unwrap();
    assert!((p.distance_m - 1000.0).abs() < 1.0, "{}", p.distance_m);

    // A second chunk continues the track: 1 km east at that latitude, roughly.
    let east = pt(22.5 + KM_LAT, 113.08 + KM_LAT / (22.5f64 + KM_LAT).to_radians().cos(), T0 + 1_200_000);
    let p = fx.store.add_patrol_points(&p.id, vec![east]).unwrap();
    assert!((p.distance_m - 2000.0).abs() < 2.0, "{}", p.distance_m);
    let track = fx.store.patrol_track(&p.id).unwrap();
    assert_eq!(track.iter().map(|p| p.at).collect::<Vec<_>>(), vec![T0 + 1_000, T0 + 600_000, T0 + 1_200_000]);

    fx.clock.advance(HOUR);
    let ended = fx.store.end_patrol(&p.id).unwrap();
    assert_eq!(ended.ended_at, Some(T0 + HOUR));
    assert_eq!(ended.distance_m, p.distance_m);

    // One op per call: create, two track chunks, end.
    let ops = fx.ops_since(n);
    let shape: Vec<_> = ops.iter().map(|o| (o.entity, o.kind)).collect();
    assert_eq!(
        shape,
        vec![
            (EntityKind::Patrol, OpKind::Create),
            (EntityKind::PatrolTrack, OpKind::Create),
            (EntityKind::PatrolTrack, OpKind::Create),
            (EntityKind::Patrol, OpKind::Update),
        ]
    );
    assert!(!ops[0].fields.contains_key("distance_m"));
    assert_eq!(ops[1].fields["points"].as_array().unwrap().len(), 2);
    assert_eq!(ops[3].fields.keys().collect::<Vec<_>>(), vec!["ended_at"]);

    // An ended patrol takes no more points and cannot end twice.
    let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points(&p.id, vec![pt(22.6, 113.1, T0 + 2 * HOUR)]));
    assert!(matches!(&err, Error::Conflict { reason } if reason.contains("已结束")), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.end_patrol(&p.id));
    assert!(matches!(&err, Error::Conflict { reason } if reason.contains("已结束")), "{err:?}");
}

#[test]
fn haversine_matches_known_distances() {
    assert!((haversine_m((22.5, 113.08), (22.5 + KM_LAT, 113.08)) - 1000.0).abs() < 0.5);
    // Beijing Tiananmen to Shanghai People's Square: about 1,067 km.
    let d = haversine_m((39.9087, 116.3975), (31.2304, 121.4737));
    assert!((1_060_000.0..1_075_000.0).contains(&d), "{d}");
    assert_eq!(haversine_m((10.0, 10.0), (10.0, 10.0)), 0.0);
}

#[test]
fn patrol_validation_writes_nothing() {
    let fx = fx();
    let err = assert_writes_nothing(&fx, || fx.store.start_patrol("nowhere", ""));
    assert_invalid::<()>(Err(err), "grid_id", "nowhere");
    let err = assert_writes_nothing(&fx, || fx.store.start_patrol(STREET, ""));
    assert_invalid::<()>(Err(err), "grid_id", "");
    let err = assert_writes_nothing(&fx, || fx.store.start_patrol(GRID1, &"注".repeat(501)));
    assert_invalid::<()>(Err(err), "note", "");
    let err = assert_writes_nothing(&fx, || fx.store.start_patrol(GRID2, ""));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");

    let p = fx.store.start_patrol(GRID1, "").unwrap();
    let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points(&p.id, vec![]));
    assert_invalid::<()>(Err(err), "points", "");
    let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points(&p.id, vec![pt(95.0, 113.0, T0)]));
    assert_invalid::<()>(Err(err), "points[0].lat", "");
    let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points(&p.id, vec![pt(22.0, 113.0, T0), pt(22.0, 200.0, T0)]));
    assert_invalid::<()>(Err(err), "points[1].lng", "");
    // An accuracy that is no distance, a fix time that is none.
    for accuracy in [-1.0, f64::NAN, f64::INFINITY, 1e9] {
        let bad = GpsPoint { accuracy_m: Some(accuracy), ..pt(22.0, 113.0, T0) };
        let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points(&p.id, vec![bad]));
        assert_invalid::<()>(Err(err), "points[0].accuracy_m", "");
    }
    for at in [0, -T0] {
        let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points(&p.id, vec![pt(22.0, 113.0, T0), pt(22.0, 113.0, at)]));
        assert_invalid::<()>(Err(err), "points[1].at", "");
    }
    // A GPS clock far off the phone's is not judged by it.
    fx.store.add_patrol_points(&p.id, vec![GpsPoint { accuracy_m: Some(8.5), ..pt(22.0, 113.0, T0 - 30 * DAY) }]).unwrap();
    let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points("missing", vec![pt(22.0, 113.0, T0)]));
    assert!(matches!(err, Error::NotFound { entity: EntityKind::Patrol }));
}

#[test]
fn only_the_patrolling_worker_adds_points_and_ends_it() {
    let fx = fx();
    let p = fx.store.start_patrol(GRID1, "").unwrap();
    // Another grid worker of the same grid.
    fx.act_as(&principal("u-worker-1b", gridline_core::Role::GridWorker, &[GRID1], &[], &[]));
    let err = assert_writes_nothing(&fx, || fx.store.end_patrol(&p.id));
    assert!(matches!(err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.add_patrol_points(&p.id, vec![pt(22.5, 113.0, T0)]));
    assert!(matches!(err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
    fx.act_as(&worker2());
    let err = assert_writes_nothing(&fx, || fx.store.end_patrol(&p.id));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
}

#[test]
fn patrols_are_listed_newest_first_per_worker() {
    let fx = fx();
    let a = fx.store.start_patrol(GRID1, "上午").unwrap();
    fx.store.end_patrol(&a.id).unwrap();
    fx.clock.advance(HOUR);
    let b = fx.store.start_patrol(GRID1, "下午").unwrap();
    fx.act_as(&worker2());
    let c = fx.store.start_patrol(GRID2, "").unwrap();
    assert_eq!(fx.store.patrols(None).unwrap().into_iter().map(|p| p.id).collect::<Vec<_>>(), vec![c.id]);
    let mine: Vec<_> = fx.store.patrols(Some("u-worker-1")).unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(mine, vec![b.id, a.id]);
}

#[test]
fn visit_without_incident_writes_one_row_and_one_op() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let before = fx.snapshot();
    fx.clock.advance(5 * 60_000);
    let v = fx
        .store
        .record_visit(NewVisit {
            household_id: h.id.clone(),
            purpose: "关爱探访".into(),
            notes: "老人身体状况良好".into(),
            findings: "无".into(),
            raise_incident: None,
        })
        .unwrap();
    assert_eq!(v.household_id, h.id);
    assert_eq!(v.grid_id, GRID1);
    assert_eq!(v.worker_id, "u-worker-1");
    assert_eq!(v.visited_at, T0 + 5 * 60_000);
    assert_eq!(v.purpose, "关爱探访");
    assert_eq!(v.incident_id, None);
    let after = fx.snapshot();
    assert_eq!(after.count(EntityKind::Visit), before.count(EntityKind::Visit) + 1);
    assert_eq!(after.count(EntityKind::Incident), before.count(EntityKind::Incident));
    let ops = fx.ops_since(before.outbox.len());
    assert_eq!(ops.len(), 1);
    assert_eq!((ops[0].entity, ops[0].kind, ops[0].entity_id.clone()), (EntityKind::Visit, OpKind::Create, v.id.clone()));
    assert_eq!(fx.store.visits_of(&h.id).unwrap(), vec![v]);
}

#[test]
fn visit_raising_an_incident_writes_both_rows_and_both_ops() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let before = fx.snapshot();
    let v = fx
        .store
        .record_visit(NewVisit {
            household_id: h.id.clone(),
            purpose: "日常走访".into(),
            findings: "燃气管老化".into(),
            raise_incident: Some(NewIncident {
                category: "safety_hazard".into(),
                severity: "urgent".into(),
                description: "厨房燃气管老化漏气".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
    let iid = v.incident_id.clone().expect("an incident was raised");
    let i = fx.store.incident(&iid).unwrap();
    assert_eq!(i.household_id.as_deref(), Some(h.id.as_str()));
    assert_eq!(i.building_id.as_deref(), Some(fx.b1.as_str()));
    assert_eq!(i.grid_id, GRID1);
    assert_eq!(i.status, IncidentStatus::Reported);
    let after = fx.snapshot();
    assert_eq!(after.count(EntityKind::Visit), before.count(EntityKind::Visit) + 1);
    assert_eq!(after.count(EntityKind::Incident), before.count(EntityKind::Incident) + 1);
    assert_eq!(after.count(EntityKind::IncidentEvent), before.count(EntityKind::IncidentEvent) + 1);
    let ops = fx.ops_since(before.outbox.len());
    let shape: Vec<_> = ops.iter().map(|o| (o.entity, o.kind, o.entity_id.clone())).collect();
    assert_eq!(shape, vec![(EntityKind::Incident, OpKind::Create, iid), (EntityKind::Visit, OpKind::Create, v.id)]);
}

#[test]
fn visit_with_invalid_incident_writes_neither() {
    let fx = fx();
    let h = fx.household(&fx.b1, "502", "王建国", None);
    let visit = |incident: NewIncident| NewVisit {
        household_id: h.id.clone(),
        purpose: "日常走访".into(),
        raise_incident: Some(incident),
        ..Default::default()
    };
    let err = assert_writes_nothing(&fx, || {
        fx.store.record_visit(visit(NewIncident { category: "nonsense".into(), description: "x".into(), ..Default::default() }))
    });
    assert_invalid::<()>(Err(err), "category", "nonsense");
    let err = assert_writes_nothing(&fx, || {
        fx.store.record_visit(visit(NewIncident { category: "dispute".into(), description: " ".into(), ..Default::default() }))
    });
    assert_invalid::<()>(Err(err), "description", "");
    // The visit itself invalid.
    let err = assert_writes_nothing(&fx, || fx.store.record_visit(NewVisit { purpose: "".into(), ..visit(crate::incidents::new_incident(GRID1, "dispute")) }));
    assert_invalid::<()>(Err(err), "purpose", "");
    let err = assert_writes_nothing(&fx, || fx.store.record_visit(NewVisit { household_id: "gone".into(), purpose: "走访".into(), ..Default::default() }));
    assert_invalid::<()>(Err(err), "household_id", "gone");
    // Outside the worker's grid.
    fx.act_as(&worker2());
    let err = assert_writes_nothing(&fx, || fx.store.record_visit(NewVisit { household_id: h.id.clone(), purpose: "走访".into(), ..Default::default() }));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
}
