//! Push: results per op, idempotency, merge, scope and role checks, incident events.

use serde_json::json;

use axum::http::StatusCode;
use gridline_core::protocol::{OpKind, OpStatus, PROTOCOL_VERSION};
use gridline_core::EntityKind;

use crate::common::*;

#[tokio::test]
async fn same_batch_twice_is_applied_once() {
    let w = World::new();
    let token = w.enroll("gw").await;
    let ops = vec![
        op(EntityKind::Household, "H9", OpKind::Create, household("B1", "G1", "902", "13700137000"), 0),
        op(EntityKind::Household, "H9", OpKind::Update, json!({"notes": "新登记"}), 0),
        op(EntityKind::Household, "H1", OpKind::Update, json!({"member_count": 3}), w.version("H1")),
    ];
    let first = w.push(&token, &ops).await;
    assert!(first.results.iter().all(|r| r.status == OpStatus::Applied), "{:?}", first.results);
    let seq = w.state.service.storage().max_seq().unwrap();
    let second = w.push(&token, &ops).await;
    assert_eq!(second.results.len(), 3);
    for (a, b) in first.results.iter().zip(&second.results) {
        assert_eq!(b.status, OpStatus::Duplicate);
        assert_eq!(a.version, b.version);
        assert_eq!(a.op_id, b.op_id);
    }
    assert_eq!(w.state.service.storage().max_seq().unwrap(), seq, "nothing applied twice");
    // The same op twice in one batch: the second is a duplicate.
    let again = op(EntityKind::Household, "H9", OpKind::Update, json!({"notes": "再次"}), 0);
    let r = w.push(&token, &[again.clone(), again]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    assert_eq!(r.results[1].status, OpStatus::Duplicate);
}

/// Each op of a batch sees what the ops before it in the same batch wrote or undid (a record
/// created, one refused after it was written, an incident's `reported` event), and the next
/// batch, whose stored results are read in one go as it starts, sees all of it. A create finds
/// its id taken only after its scope and role checks, and a refused one takes no sequence.
#[tokio::test]
async fn within_one_batch_later_ops_see_what_earlier_ones_created_or_were_refused() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let note = |id: &str| op(EntityKind::Incident, "I5", OpKind::Event, event(id, "note", "已联系", None), 0);
    let r = w
        .push(&gw, &[
            // Refused after its row was written (no device could read it back): undone.
            op(EntityKind::Household, "H20", OpKind::Create, json!({"building_id": "B1", "grid_id": "G1"}), 0),
            op(EntityKind::Household, "H20", OpKind::Create, household("B1", "G1", "920", "13700137020"), 0),
            op(EntityKind::Household, "H20", OpKind::Create, household("B1", "G1", "921", "13700137021"), 0),
            op(EntityKind::Household, "H21", OpKind::Create, household("B3", "G2", "101", "13700137022"), 0),
            op(EntityKind::Incident, "I5", OpKind::Create, incident("G1", Some("B1")), 0),
            // The incident's `reported` event has the incident's id.
            note("I5"),
            note("E50"),
            note("E50"),
        ])
        .await;
    let codes: Vec<_> = r.results.iter().map(|r| r.code.clone().unwrap_or_else(|| "ok".into())).collect();
    assert_eq!(codes, ["invalid", "ok", "already_exists", "out_of_scope", "ok", "already_exists", "ok", "already_exists"]);
    let changes = w.pull_all(&gw).await;
    let h20 = changes.iter().find(|c| c.id == "H20").expect("H20 created");
    assert_eq!(h20.fields["room"], "920");
    assert!(!changes.iter().any(|c| c.id == "H21"));
    // The next batch finds them stored: creates refused, a resent op a duplicate.
    let again = r.results[1].op_id.clone();
    let mut resent = op(EntityKind::Household, "H20", OpKind::Create, household("B1", "G1", "920", "13700137020"), 0);
    resent.op_id = again;
    let r = w.push(&gw, &[resent, note("E50"), op(EntityKind::Household, "H20", OpKind::Create, household("B1", "G1", "922", "13700137023"), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Duplicate);
    let codes: Vec<_> = r.results[1..].iter().map(|r| r.code.clone().unwrap_or_else(|| "ok".into())).collect();
    assert_eq!(codes, ["already_exists", "already_exists"]);
    // A create reusing the id of a household in another grid is refused for its scope: the
    // answer says nothing about records outside it. Inside the scope the same id is taken.
    let r = w
        .push(&gw, &[
            op(EntityKind::Household, "H3", OpKind::Create, household("B3", "G2", "301", "13700137030"), 0),
            op(EntityKind::Household, "H3", OpKind::Create, household("B1", "G1", "301", "13700137030"), 0),
        ])
        .await;
    let codes: Vec<_> = r.results.iter().map(|r| r.code.as_deref()).collect();
    assert_eq!(codes, [Some("out_of_scope"), Some("already_exists")]);
    // A deleted record's id stays taken; a refused create writes nothing, not even a sequence.
    let r = w.push(&gw, &[op(EntityKind::Household, "H20", OpKind::Delete, json!({}), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    let seq = w.state.service.storage().max_seq().unwrap();
    let r = w.push(&gw, &[op(EntityKind::Household, "H20", OpKind::Create, household("B1", "G1", "923", "13700137024"), 0)]).await;
    assert_eq!(r.results[0].code.as_deref(), Some("already_exists"));
    assert_eq!(w.state.service.storage().max_seq().unwrap(), seq);
    assert!(!w.pull_all(&gw).await.iter().any(|c| c.id == "H20" && !c.deleted));
}

#[tokio::test]
async fn same_field_conflict_keeps_the_loser_and_different_fields_merge() {
    let w = World::new();
    let a = w.enroll("gw").await;
    let b = w.enroll("sup").await;
    let base = w.pull_all(&a).await.into_iter().find(|c| c.id == "H1").unwrap().seq;
    let ra = w.push(&a, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "甲的备注"}), base)]).await;
    assert_eq!(ra.results[0].status, OpStatus::Applied);
    let rb = w.push(&b, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "乙的备注"}), base)]).await;
    assert_eq!(rb.results[0].status, OpStatus::Merged);
    assert_eq!(rb.results[0].conflicts, vec!["notes".to_owned()]);
    let conflicts = w.state.service.storage().conflicts(10).unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].conflict.lost_value, json!("甲的备注"));
    assert_eq!(conflicts[0].conflict.kept_value, json!("乙的备注"));
    let row = w.pull_all(&a).await.into_iter().find(|c| c.id == "H1").unwrap();
    assert_eq!(row.fields["notes"], "乙的备注", "arrival order wins");

    // Different fields from the same base: both survive, no conflict.
    let base = row.seq;
    let ra = w.push(&a, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"member_count": 4}), base)]).await;
    let rb = w.push(&b, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"care_tags": ["elderly_alone"]}), base)]).await;
    assert_eq!(ra.results[0].status, OpStatus::Applied);
    assert_eq!(rb.results[0].status, OpStatus::Applied);
    let row = w.pull_all(&b).await.into_iter().find(|c| c.id == "H1").unwrap();
    assert_eq!(row.fields["member_count"], 4);
    assert_eq!(row.fields["care_tags"], json!(["elderly_alone"]));
    assert_eq!(w.state.service.storage().conflicts(10).unwrap().len(), 1);
}

#[tokio::test]
async fn building_head_out_of_scope_is_rejected_without_blocking_the_batch() {
    let w = World::new();
    let bh = w.enroll("bh").await;
    let ops = vec![
        op(EntityKind::Household, "H2", OpKind::Update, json!({"notes": "别的楼"}), 0),
        op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "本楼"}), w.version("H1")),
        op(EntityKind::Resident, "R1", OpKind::Update, json!({"id_number": "440703199001019994"}), 0),
        op(EntityKind::Household, "H1", OpKind::Update, json!({"building_id": "B2"}), 0),
    ];
    let r = w.push(&bh, &ops).await;
    let codes: Vec<_> = r.results.iter().map(|r| (r.status, r.code.clone())).collect();
    assert_eq!(codes[0], (OpStatus::Rejected, Some("out_of_scope".into())));
    assert!(r.results[0].reason.as_deref().unwrap().contains("管辖范围"));
    assert_eq!(codes[1], (OpStatus::Applied, None));
    assert_eq!(codes[2], (OpStatus::Rejected, Some("field_protected".into())));
    assert_eq!(codes[3].0, OpStatus::Rejected);
    // A rejected op retried gets the same rejection.
    let again = w.push(&bh, &ops[..2]).await;
    assert_eq!(again.results[0].status, OpStatus::Rejected);
    assert_eq!(again.results[0].code.as_deref(), Some("out_of_scope"));
    assert_eq!(again.results[1].status, OpStatus::Duplicate);
}

#[tokio::test]
async fn writes_to_missing_deleted_or_existing_records_and_reference_data_are_refused() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let admin = w.enroll("admin").await;
    let r = w
        .push(&gw, &[
            op(EntityKind::Household, "NOPE", OpKind::Update, json!({"notes": "x"}), 0),
            op(EntityKind::Household, "H1", OpKind::Create, household("B1", "G1", "101", "13800138000"), 0),
            op(EntityKind::Household, "H2", OpKind::Delete, json!({}), 0),
            op(EntityKind::Household, "H2", OpKind::Update, json!({"notes": "x"}), 0),
            op(EntityKind::Household, "H8", OpKind::Create, json!({"building_id": "B1", "grid_id": "G1"}), 0),
        ])
        .await;
    let codes: Vec<_> = r.results.iter().map(|r| r.code.clone().unwrap_or_else(|| "ok".into())).collect();
    assert_eq!(codes, ["not_found", "already_exists", "ok", "not_found", "invalid"]);
    let r = w.push(&admin, &[op(EntityKind::Area, "G1", OpKind::Update, json!({"name": "改名"}), 0)]).await;
    assert_eq!(r.results[0].code.as_deref(), Some("role_not_allowed"));
}

#[tokio::test]
async fn incident_events_follow_the_state_machine() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let sup = w.enroll("sup").await;
    let dh = w.enroll("dh").await;
    let r = w.push(&gw, &[op(EntityKind::Incident, "I1", OpKind::Create, incident("G1", Some("B1")), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    let ev = |id: &str, kind: &str, note: &str, dept: Option<&str>| op(EntityKind::Incident, "I1", OpKind::Event, event(id, kind, note, dept), 0);
    // A grid worker may not dispatch.
    let r = w.push(&gw, &[ev("E1", "dispatched", "", Some("D1"))]).await;
    assert_eq!(r.results[0].code.as_deref(), Some("transition_refused"));
    assert!(r.results[0].reason.as_deref().unwrap().contains("无权"));
    // The supervisor dispatches; the handler accepts, must explain a resolution, resolves.
    let r = w.push(&sup, &[ev("E2", "dispatched", "", Some("D1"))]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let r = w.push(&dh, &[ev("E3", "accepted", "", None), ev("E4", "resolved", "", None), ev("E5", "resolved", "已清理", None)]).await;
    let st: Vec<_> = r.results.iter().map(|r| r.code.clone().unwrap_or_else(|| "ok".into())).collect();
    assert_eq!(st, ["ok", "invalid", "ok"]);
    // Verify twice: the second is an impossible transition.
    let r = w.push(&sup, &[ev("E6", "verified", "", None), ev("E7", "verified", "", None)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    assert_eq!(r.results[1].code.as_deref(), Some("transition_refused"));
    let changes = w.pull_all(&sup).await;
    let inc = changes.iter().find(|c| c.id == "I1" && c.entity == EntityKind::Incident).unwrap();
    assert_eq!(inc.fields["status"], "verified");
    assert_eq!(inc.fields["department_id"], "D1");
    assert_eq!(inc.fields["reporter_role"], "grid_worker");
    let events: Vec<_> = changes.iter().filter(|c| c.entity == EntityKind::IncidentEvent).collect();
    assert_eq!(events.len(), 5, "reported + dispatched + accepted + resolved + verified");
    let e3 = events.iter().find(|c| c.id == "E3").unwrap();
    assert_eq!(e3.fields["actor_role"], "department_handler", "actor comes from the token");
    assert_ne!(e3.fields["actor_id"], "forged");
    assert!(events.iter().any(|c| c.id == "I1" && c.fields["kind"] == "reported"));
}

#[tokio::test]
async fn far_off_device_clock_is_flagged() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let push_sent_at = |ops: Vec<gridline_core::protocol::Op>, sent_at: i64| {
        let w = &w;
        let gw = gw.clone();
        async move {
            let (status, body) = w.call("/v1/push", Some(&gw), json!({"protocol": PROTOCOL_VERSION, "ops": ops, "sent_at": sent_at})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            serde_json::from_value::<gridline_core::protocol::PushResponse>(body).unwrap()
        }
    };
    // Written an hour ago, offline, and sent now from a clock that is right: not a skew.
    let mut o = op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "x"}), w.version("H1"));
    o.device_time -= 3_600_000;
    let r = push_sent_at(vec![o.clone()], now_ms()).await;
    assert!(!r.clock_skew_flagged);
    // Sent from a clock three days behind: flagged, and the times that set an incident's
    // deadlines are moved onto the server's clock (the row's and the timeline's).
    let behind = 3 * 86_400_000;
    let mut report = op(EntityKind::Incident, "I8", OpKind::Create, incident("G1", Some("B1")), 0);
    report.fields.insert("reported_at".into(), json!(now_ms() - behind));
    o.op_id = "skewed-op".into();
    let r = push_sent_at(vec![o, report], now_ms() - behind).await;
    assert!(r.clock_skew_flagged);
    assert_eq!((r.results[0].status, r.results[1].status), (OpStatus::Applied, OpStatus::Applied), "{:?}", r.results);
    let mut dispatch = op(EntityKind::Incident, "I8", OpKind::Event, event("E8", "dispatched", "", Some("D1")), 0);
    dispatch.fields.insert("at".into(), json!(now_ms() - behind));
    let sup = w.enroll("sup").await;
    let (status, body) = w.call("/v1/push", Some(&sup), json!({"protocol": PROTOCOL_VERSION, "ops": [dispatch], "sent_at": now_ms() - behind})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = w.pull_all(&sup).await;
    let i8 = rows.iter().rev().find(|c| c.id == "I8" && c.entity == EntityKind::Incident).expect("I8");
    let near_now = |v: &serde_json::Value| (v.as_i64().unwrap() - now_ms()).abs() < 60_000;
    assert!(near_now(&i8.fields["reported_at"]), "{:?}", i8.fields["reported_at"]);
    // The resolve deadline runs from the corrected report time (environment: five days).
    let due = i8.fields["resolve_due_at"].as_i64().unwrap();
    assert!((due - (now_ms() + 5 * 86_400_000)).abs() < 60_000, "{due}");
    let e8 = rows.iter().find(|c| c.id == "E8").expect("E8");
    assert!(near_now(&e8.fields["at"]), "{:?}", e8.fields["at"]);
    // The same report from a clock that is right keeps its time.
    let mut right = op(EntityKind::Incident, "I9", OpKind::Create, incident("G1", Some("B1")), 0);
    let written = now_ms() - 2 * 3_600_000;
    right.fields.insert("reported_at".into(), json!(written));
    assert!(!push_sent_at(vec![right], now_ms()).await.clock_skew_flagged);
    let i9 = w.pull_all(&sup).await.into_iter().rev().find(|c| c.id == "I9" && c.entity == EntityKind::Incident).expect("I9");
    assert_eq!(i9.fields["reported_at"], json!(written));
    // A stale base on a field someone else wrote since: merged, with the conflict listed.
    let r = w.push(&gw, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"room": "909"}), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Merged);
    assert_eq!(r.results[0].conflicts, ["room"]);
}

#[tokio::test]
async fn field_work_records_round_trip_with_derived_fields() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let sup = w.enroll("sup").await;
    let gw_id = w.state.service.storage().user_by_name("gw").unwrap().unwrap().id;
    let t0 = now_ms();
    let r = w
        .push(&gw, &[
            op(EntityKind::Patrol, "P1", OpKind::Create, json!({"grid_id": "G1", "worker_id": gw_id, "started_at": t0, "ended_at": null, "note": ""}), 0),
            op(EntityKind::PatrolTrack, "T1", OpKind::Create, json!({"patrol_id": "P1", "grid_id": "G1",
                "points": [{"lat": 22.58, "lng": 113.08, "at": t0}, {"lat": 22.59, "lng": 113.08, "at": t0 + 60_000}]}), 0),
            op(EntityKind::Visit, "V1", OpKind::Create, json!({"household_id": "H1", "grid_id": "G1", "worker_id": gw_id,
                "visited_at": t0, "purpose": "routine", "notes": "", "findings": "", "incident_id": null}), 0),
            op(EntityKind::Patrol, "P2", OpKind::Create, json!({"grid_id": "G2", "worker_id": gw_id, "started_at": t0, "ended_at": null, "note": ""}), 0),
            // Fixes no phone reports: a negative accuracy, a time that is none.
            op(EntityKind::PatrolTrack, "T2", OpKind::Create, json!({"patrol_id": "P1", "grid_id": "G1",
                "points": [{"lat": 22.58, "lng": 113.08, "at": t0, "accuracy_m": -3.0}]}), 0),
            op(EntityKind::PatrolTrack, "T3", OpKind::Create, json!({"patrol_id": "P1", "grid_id": "G1",
                "points": [{"lat": 22.58, "lng": 113.08, "at": 0}]}), 0),
        ])
        .await;
    let codes: Vec<_> = r.results.iter().map(|r| r.code.clone().unwrap_or_else(|| format!("{:?}", r.status))).collect();
    assert_eq!(codes, ["Applied", "Applied", "Applied", "out_of_scope", "invalid", "invalid"]);
    assert!(r.results[4].reason.as_deref().unwrap().contains("points[0].accuracy_m"), "{:?}", r.results[4]);
    let r = w
        .push(&sup, &[
            op(EntityKind::Task, "K1", OpKind::Create, json!({"area_id": "COM", "title": "消防检查", "description": "",
                "due_at": t0 + 86_400_000, "issued_by": "sup", "issued_at": t0}), 0),
            op(EntityKind::TaskAssignment, "A1", OpKind::Create, json!({"task_id": "K1", "grid_id": "G1", "assignee_id": gw_id,
                "status": "pending", "evidence_text": "", "evidence_photos": [], "submitted_at": null, "review_note": "", "reviewed_at": null}), 0),
        ])
        .await;
    assert!(r.results.iter().all(|r| r.status == OpStatus::Applied), "{:?}", r.results);
    let base = r.results[1].version.unwrap();
    let r = w.push(&gw, &[
        op(EntityKind::TaskAssignment, "A1", OpKind::Update, json!({"evidence_text": "已检查", "status": "submitted", "submitted_at": t0}), base),
        op(EntityKind::TaskAssignment, "A1", OpKind::Update, json!({"review_note": "自己批准"}), base),
    ]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    assert_eq!(r.results[1].code.as_deref(), Some("field_protected"));
    let rows = w.pull_all(&gw).await;
    let patrol = rows.iter().find(|c| c.id == "P1").unwrap();
    assert!(patrol.fields["distance_m"].as_f64().unwrap() > 1000.0, "distance derived on the server: {patrol:?}");
    let track = rows.iter().find(|c| c.id == "T1").unwrap();
    assert!(patrol.seq > track.seq, "the patrol moved in the feed when its distance changed");
    assert!(rows.iter().any(|c| c.id == "A1") && rows.iter().any(|c| c.id == "V1"));
    assert!(w.pull_all(&sup).await.iter().any(|c| c.id == "K1"));
}

#[tokio::test]
async fn a_birth_date_or_id_number_sent_alone_must_agree_with_the_stored_other_half() {
    let w = World::new();
    let token = w.enroll("gw").await;
    let upd = |f: serde_json::Value| op(EntityKind::Resident, "R1", OpKind::Update, f, w.version("R1"));
    let birth = |w: &World| {
        let page = w.state.service.storage().feed(0, usize::MAX, usize::MAX, &|_, _| true).expect("feed");
        page.rows.iter().rev().find(|r| r.id == "R1").map(|r| r.fields().expect("JSON")["birth_date"].clone()).expect("R1")
    };
    // R1's stored ID number 440703199001011239 carries 1990-01-01.
    let r = w.push(&token, &[upd(json!({"birth_date": "1991-01-01"})), upd(json!({"birth_date": "1990-01-01"}))]).await;
    assert_eq!(r.results[0].status, OpStatus::Rejected);
    assert_eq!(r.results[0].code.as_deref(), Some("invalid"));
    let reason = r.results[0].reason.as_deref().unwrap();
    assert!(reason.contains("birth_date") && reason.contains("身份证号") && !reason.contains("1991"), "{reason}");
    assert_eq!(r.results[1].status, OpStatus::Applied, "the agreeing date is taken, the queue is not blocked");
    assert_eq!(birth(&w), json!("1990-01-01"));
    // A new ID number alone must agree with the stored birth date; one that does is taken.
    let r = w.push(&token, &[upd(json!({"id_number": "11010519491231002X"})), upd(json!({"id_number": "440703199001019994"}))]).await;
    assert_eq!(r.results[0].status, OpStatus::Rejected);
    assert_eq!(r.results[0].code.as_deref(), Some("invalid"));
    assert_eq!(r.results[1].status, OpStatus::Applied);
    // Both sent together and agreeing: taken, whatever was stored.
    let r = w.push(&token, &[upd(json!({"id_number": "11010519491231002X", "birth_date": "1949-12-31"}))]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    assert_eq!(birth(&w), json!("1949-12-31"));
    // An edit of another field of a resident is not held to the rule.
    let r = w.push(&token, &[upd(json!({"notes": "复核过"}))]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
}

#[tokio::test]
async fn a_rejection_carries_the_record_as_its_user_would_pull_it() {
    let w = World::new();
    let bh = w.enroll("bh").await;
    let upd = |id: &str, entity, f: serde_json::Value| op(entity, id, OpKind::Update, f, w.version(id));
    let ops = [
        // Refused (a building head may not write a birth date): R1 comes back, masked for them.
        upd("R1", EntityKind::Resident, json!({"birth_date": "1990-01-01"})),
        // Refused outside their building: nothing of H3 is sent.
        upd("H3", EntityKind::Household, json!({"notes": "越界"})),
        // Refused, no such record.
        op(EntityKind::Household, "HX", OpKind::Update, json!({"notes": "无此户"}), 1),
    ];
    let r = w.push(&bh, &ops).await;
    assert!(r.results.iter().all(|x| x.status == OpStatus::Rejected), "{r:?}");
    let copy = r.results[0].current.as_deref().expect("R1's copy");
    assert_eq!((copy.entity, copy.id.as_str(), copy.deleted, copy.seq), (EntityKind::Resident, "R1", false, w.version("R1")));
    let pulled = w.pull_all(&bh).await.into_iter().find(|c| c.id == "R1").expect("bh pulls R1");
    assert_eq!(copy.fields, pulled.fields, "as the building head pulls it");
    assert_ne!(copy.fields["id_number"], json!("440703199001011239"), "masked");
    assert!(r.results[1].current.is_none() && r.results[2].current.is_none(), "{r:?}");
    // The same batch again: the stored answers, R1 as it is now.
    let again = w.push(&bh, &ops).await;
    assert_eq!(again.results[0].status, OpStatus::Rejected);
    assert_eq!(again.results[0].current.as_deref(), Some(copy));
    assert!(again.results[1].current.is_none());

    // Deleted meanwhile: a tombstone.
    let gw = w.enroll("gw").await;
    let edit = upd("H2", EntityKind::Household, json!({"notes": "已走访"}));
    w.server_push(vec![op(EntityKind::Household, "H2", OpKind::Delete, json!({}), 0)]);
    let r = w.push(&gw, &[edit]).await;
    assert_eq!(r.results[0].code.as_deref(), Some("not_found"));
    let gone = r.results[0].current.as_deref().expect("a tombstone");
    assert!(gone.deleted && gone.fields.is_empty() && gone.id == "H2", "{gone:?}");
}

#[tokio::test]
async fn a_household_goes_with_its_residents_and_none_is_added_to_one_that_is_gone() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let resident = |id: &str, household: &str| {
        let building = if household == "H2" { "B2" } else { "B1" };
        op(EntityKind::Resident, id, OpKind::Create, json!({"household_id": household, "building_id": building, "grid_id": "G1",
            "name": "新登记居民", "id_number": null, "phone": null, "birth_date": null, "relation": "子女", "tags": [], "notes": ""}), 0)
    };
    // A phone that knows only H1 deletes it; R1 and R2 (added by another phone) go with it.
    assert_eq!(w.push(&gw, &[resident("R2", "H1")]).await.results[0].status, OpStatus::Applied);
    let r = w.push(&gw, &[op(EntityKind::Household, "H1", OpKind::Delete, json!({}), w.version("H1"))]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied);
    let feed = w.pull_all(&gw).await;
    for id in ["H1", "R1", "R2"] {
        assert!(feed.iter().any(|c| c.id == id && c.deleted), "{id} has a tombstone");
    }
    // A resident added offline to the household deleted meanwhile is refused, with a reason.
    let r = w.push(&gw, &[resident("R3", "H1"), resident("R4", "NOPE"), resident("R5", "H2")]).await;
    let codes: Vec<_> = r.results.iter().map(|x| (x.status, x.code.as_deref())).collect();
    assert_eq!(codes, [(OpStatus::Rejected, Some("not_found")), (OpStatus::Rejected, Some("not_found")), (OpStatus::Applied, None)]);
    assert!(r.results[0].reason.as_deref().unwrap().contains("住户"));
    // Nor moved into one.
    let r = w.push(&gw, &[op(EntityKind::Resident, "R5", OpKind::Update, json!({"household_id": "H1"}), w.version("R5"))]).await;
    assert_eq!(r.results[0].code.as_deref(), Some("not_found"));
}

#[tokio::test]
async fn a_resident_goes_where_its_household_is_not_where_a_phone_last_saw_it() {
    let w = World::new();
    let (gw, sup) = (w.enroll("gw").await, w.enroll("sup").await);
    let resident = |id: &str, building: &str, grid: &str| {
        op(EntityKind::Resident, id, OpKind::Create, json!({"household_id": "H2", "building_id": building, "grid_id": grid,
            "name": "新登记居民", "id_number": null, "phone": null, "birth_date": null, "relation": "子女", "tags": [], "notes": ""}), 0)
    };
    // A resident must be in its household's building and grid.
    let r = w.push(&gw, &[resident("R7", "B1", "G1")]).await;
    assert_eq!((r.results[0].status, r.results[0].code.as_deref()), (OpStatus::Rejected, Some("invalid")));
    // The supervisor moves H2 from B2 (G1) to B3 (G2); the grid worker of G1, offline, adds a
    // resident to it where it was: refused with a reason, not left in G1 while its household
    // is in G2 (where the grid worker of G1 could not see it, nor a delete of the household
    // by G2's worker reach it through anyone's scope rules).
    let r = w.push(&sup, &[op(EntityKind::Household, "H2", OpKind::Update, json!({"building_id": "B3", "grid_id": "G2"}), w.version("H2"))]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let r = w.push(&gw, &[resident("R8", "B2", "G1")]).await;
    assert_eq!((r.results[0].status, r.results[0].code.as_deref()), (OpStatus::Rejected, Some("invalid")));
    assert!(r.results[0].reason.as_deref().unwrap().contains("已迁至"), "{:?}", r.results[0]);
    // Moving R1 into it, as the phone last saw it, is refused the same way.
    let r = w.push(&gw, &[op(EntityKind::Resident, "R1", OpKind::Update, json!({"household_id": "H2", "building_id": "B2"}), w.version("R1"))]).await;
    assert_eq!((r.results[0].status, r.results[0].code.as_deref()), (OpStatus::Rejected, Some("invalid")));
    let record = |id: &str| w.state.service.storage().console().record(EntityKind::Resident, id).unwrap();
    assert!(record("R8").is_none());
    assert_eq!(record("R1").expect("R1").fields["household_id"], "H1", "R1 stays where it was");
    // Where the household is now, by one whose scope holds it: applied.
    let r = w.push(&sup, &[resident("R9", "B3", "G2")]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
}

#[tokio::test]
async fn a_write_that_would_leave_a_row_no_device_can_read_is_refused_on_create_and_on_update() {
    let w = World::new();
    let admin = w.enroll("admin").await;
    let assignment = |status: &str| {
        json!({"task_id": "T1", "grid_id": "G1", "assignee_id": null, "status": status, "evidence_text": "",
            "evidence_photos": [], "submitted_at": null, "review_note": "", "reviewed_at": null})
    };
    let r = w
        .push(&admin, &[
            op(EntityKind::TaskAssignment, "TA1", OpKind::Create, assignment("pending"), 0),
            // A status no device knows.
            op(EntityKind::TaskAssignment, "TA2", OpKind::Create, assignment("almost_done"), 0),
        ])
        .await;
    let st: Vec<_> = r.results.iter().map(|r| (r.status, r.code.as_deref())).collect();
    assert_eq!(st, [(OpStatus::Applied, None), (OpStatus::Rejected, Some("invalid"))], "{:?}", r.results);
    let version = w.version("TA1");
    let upd = |f: serde_json::Value| op(EntityKind::TaskAssignment, "TA1", OpKind::Update, f, version);
    let r = w
        .push(&admin, &[
            upd(json!({"status": "almost_done"})),
            // A JSON field of the wrong shape: an object where a list of photo hashes belongs.
            upd(json!({"evidence_photos": {"photo": "p1"}})),
            // Photo references that name nothing: not a hash, a hash spelt in capitals.
            upd(json!({"evidence_photos": ["p1"]})),
            upd(json!({"evidence_photos": ["AB".repeat(32)]})),
            upd(json!({"evidence_text": "已核实"})),
        ])
        .await;
    let st: Vec<_> = r.results.iter().map(|r| (r.status, r.code.as_deref())).collect();
    let refused = (OpStatus::Rejected, Some("invalid"));
    assert_eq!(
        st,
        [refused, refused, refused, refused, (OpStatus::Applied, None)],
        "{:?}",
        r.results
    );
    let rows = w.pull_all(&admin).await;
    assert!(!rows.iter().any(|c| c.id == "TA2"), "the refused create left nothing");
    let ta1 = rows.iter().find(|c| c.id == "TA1").expect("TA1");
    assert_eq!((ta1.fields["status"].clone(), ta1.fields["evidence_photos"].clone()), (json!("pending"), json!([])));
    assert_eq!(ta1.fields["evidence_text"], "已核实");
}

#[tokio::test]
async fn a_resident_born_after_today_by_the_servers_clock_is_refused() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let resident = |id: &str, birth: &str| {
        op(EntityKind::Resident, id, OpKind::Create, json!({"household_id": "H1", "building_id": "B1", "grid_id": "G1",
            "name": "新登记居民", "id_number": null, "phone": null, "birth_date": birth, "relation": "子女", "tags": [], "notes": ""}), 0)
    };
    let r = w.push(&gw, &[resident("R6", "2999-01-01"), resident("R7", "2001-05-20")]).await;
    let st: Vec<_> = r.results.iter().map(|r| (r.status, r.code.as_deref())).collect();
    assert_eq!(st, [(OpStatus::Rejected, Some("invalid")), (OpStatus::Applied, None)], "{:?}", r.results);
    assert!(r.results[0].reason.as_deref().unwrap().contains("birth_date"), "{:?}", r.results[0]);
    let r = w.push(&gw, &[op(EntityKind::Resident, "R7", OpKind::Update, json!({"birth_date": "2999-01-01"}), w.version("R7"))]).await;
    assert_eq!((r.results[0].status, r.results[0].code.as_deref()), (OpStatus::Rejected, Some("invalid")));
}

#[tokio::test]
async fn a_grid_worker_changes_an_incidents_category_only_before_it_is_dispatched() {
    let w = World::new();
    let (gw, sup) = (w.enroll("gw").await, w.enroll("sup").await);
    w.push(&gw, &[op(EntityKind::Incident, "I7", OpKind::Create, incident("G1", Some("B1")), 0)]).await;
    let category = |c: &str| op(EntityKind::Incident, "I7", OpKind::Update, json!({"category": c}), w.version("I7"));
    let r = w.push(&gw, &[category("fire_hazard")]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let r = w.push(&sup, &[op(EntityKind::Incident, "I7", OpKind::Event, event("E7", "dispatched", "", Some("D1")), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results);
    let r = w.push(&gw, &[category("dispute"), op(EntityKind::Incident, "I7", OpKind::Update, json!({"severity": "urgent"}), w.version("I7"))]).await;
    let st: Vec<_> = r.results.iter().map(|r| (r.status, r.code.as_deref())).collect();
    assert_eq!(st, [(OpStatus::Rejected, Some("field_protected")), (OpStatus::Applied, None)], "{:?}", r.results);
    let r = w.push(&sup, &[category("dispute")]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "the supervisor may: {:?}", r.results);
}
