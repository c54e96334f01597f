//! Outbox invariants: ops written with their rows, strictly increasing device_seq (also after
//! acknowledged ops leave), bounded batches, per-op results, nothing ever lost.

use gridline_core::outbox::{self, Recorded};
use gridline_core::protocol::{Change, Op, OpKind, OpResult, OpStatus};
use gridline_core::record;
use gridline_core::{EntityKind, EventKind, HouseholdPatch};

use crate::support::*;

fn result(op: &Op, status: OpStatus, version: Option<i64>) -> OpResult {
    OpResult { op_id: op.op_id.clone(), status, version, code: None, reason: None, conflicts: vec![], current: None }
}

fn rejected(op: &Op, code: &str, reason: &str) -> OpResult {
    OpResult {
        op_id: op.op_id.clone(),
        status: OpStatus::Rejected,
        version: None,
        code: Some(code.into()),
        reason: Some(reason.into()),
        conflicts: vec![],
        current: None,
    }
}

fn record(fx: &Fx, results: &[OpResult]) -> Recorded {
    fx.store.write(|tx| outbox::record_results(tx, results, fx.store.now_ms())).unwrap()
}

fn set_cursor(fx: &Fx, c: i64) {
    fx.store.write(|tx| Ok(tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('pull_cursor', ?1)", [c.to_string()])?)).unwrap();
}

fn cursor(fx: &Fx) -> i64 {
    fx.store.meta("pull_cursor").unwrap().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0)
}

fn assert_strictly_increasing(ops: &[Op]) {
    for w in ops.windows(2) {
        assert!(w[0].device_seq < w[1].device_seq, "{} !< {}", w[0].device_seq, w[1].device_seq);
    }
}

#[test]
fn pending_ops_are_in_device_seq_order_with_unique_ids() {
    let fx = fx();
    for i in 0..5 {
        fx.household(&fx.b1, &format!("{i}01"), "住户", None);
    }
    let ops = fx.pending();
    assert_eq!(ops.len() as u64, fx.store.pending_ops().unwrap());
    assert_eq!(ops.len(), 3 + 5, "three buildings of the fixture, five households");
    assert_strictly_increasing(&ops);
    let mut ids: Vec<_> = ops.iter().map(|o| o.op_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), ops.len());
    assert!(ops.iter().all(|o| o.op_id.len() == 36 && uuid_version(&o.op_id) == '7'));
}

fn uuid_version(id: &str) -> char {
    id.chars().nth(14).unwrap()
}

#[test]
fn device_seq_keeps_increasing_after_acknowledged_ops_are_deleted() {
    let fx = fx();
    let h = fx.household(&fx.b1, "101", "张伟", None);
    let all = fx.pending();
    let max_seq = all.last().unwrap().device_seq;
    let results: Vec<_> = all.iter().map(|o| result(o, OpStatus::Applied, Some(10))).collect();
    assert_eq!(record(&fx, &results), Recorded { acknowledged: all.len(), rejected: 0, unknown: 0 });
    assert_eq!(fx.store.pending_ops().unwrap(), 0);

    fx.store.update_household(&h.id, HouseholdPatch { notes: Some("新".into()), ..Default::default() }).unwrap();
    let next = fx.pending();
    assert_eq!(next.len(), 1);
    assert!(next[0].device_seq > max_seq, "{} reused a seq <= {max_seq}", next[0].device_seq);
    // The acknowledged version became the row's base version.
    assert_eq!(next[0].base_version, 10);
    assert_eq!(fx.store.household(&h.id).unwrap().version, 10);
}

#[test]
fn next_batch_honours_count_and_byte_bounds_and_always_returns_one_op() {
    let fx = fx();
    for i in 0..10 {
        fx.household(&fx.b1, &format!("{i}01"), "住户", None);
    }
    let all = fx.pending();
    let batch = |n, bytes| fx.store.read(|c| outbox::next_batch(c, n, bytes)).unwrap();

    let b = batch(4, usize::MAX);
    assert_eq!(b, all[..4].to_vec());
    assert_eq!(batch(100, usize::MAX), all);
    // Zero limits still make progress: the oldest op alone.
    assert_eq!(batch(0, usize::MAX), all[..1].to_vec());
    assert_eq!(batch(100, 0), all[..1].to_vec());
    assert_eq!(batch(100, 1), all[..1].to_vec());

    // A byte budget of about three household ops.
    let size = |op: &Op| serde_json::to_string(&op.fields).unwrap().len() + 160;
    let household_op = size(&all[5]);
    let budget: usize = all[..3].iter().map(size).sum::<usize>() + household_op / 2;
    let b = batch(100, budget);
    assert_eq!(b, all[..3].to_vec());
    // Every batch is a prefix in device_seq order.
    for n in 1..all.len() {
        let b = batch(n, usize::MAX);
        assert_eq!(b.len(), n);
        assert_strictly_increasing(&b);
    }
    // Reading does not consume.
    assert_eq!(fx.pending(), all);

    fx.store.write(|tx| {
        tx.execute("DELETE FROM outbox", [])?;
        Ok(())
    }).unwrap();
    assert!(batch(10, 10_000).is_empty());
}

#[test]
fn results_acknowledge_reject_or_keep_each_op_and_lose_nothing() {
    results_scenario(false);
}

/// The same with the sent batch at hand, as the sync client records it: acknowledged ops are
/// removed by their `device_seq`, with the same outcome.
#[test]
fn results_recorded_with_the_sent_batch_at_hand_do_the_same() {
    results_scenario(true);
}

fn results_scenario(with_sent: bool) {
    let fx = fx();
    let h = fx.household(&fx.b1, "101", "张伟", None);
    let i = fx.store.report_incident(crate::incidents::new_incident(GRID1, "dispute")).unwrap();
    fx.store.add_incident_event(&i.id, crate::incidents::ev(EventKind::Note, "已电话联系")).unwrap();
    let all = fx.pending();
    assert_eq!(all.len(), 6);
    // [b1, b2, b3, household, incident, note event]
    let event_op = &all[5];
    assert_eq!(event_op.kind, OpKind::Event);
    let event_id = event_op.fields["id"].as_str().unwrap().to_owned();
    let sent = if with_sent { all.clone() } else { Vec::new() };
    let record = |fx: &Fx, results: &[OpResult]| -> Recorded {
        fx.store.write(|tx| outbox::record_results_of(tx, &sent, results, fx.store.now_ms())).unwrap()
    };

    let results = vec![
        result(&all[0], OpStatus::Applied, Some(101)),
        result(&all[1], OpStatus::Duplicate, Some(102)),
        result(&all[2], OpStatus::Merged, Some(103)),
        rejected(&all[3], "out_of_scope", "该住户不在您的管辖范围内"),
        // all[4] has no result: it stays.
        result(event_op, OpStatus::Applied, Some(106)),
        OpResult { op_id: "not-in-the-outbox".into(), ..result(&all[0], OpStatus::Applied, Some(1)) },
    ];
    let rec = record(&fx, &results);
    assert_eq!(rec, Recorded { acknowledged: 4, rejected: 1, unknown: 1 });

    let left = fx.pending();
    assert_eq!(left, vec![all[4].clone()]);
    let rej = fx.store.rejected_ops().unwrap();
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].op.op_id, all[3].op_id);
    assert_eq!(rej[0].op.entity_id, h.id);
    assert_eq!(rej[0].op.fields, all[3].fields);
    assert_eq!(rej[0].op.device_seq, all[3].device_seq);
    assert_eq!(rej[0].op, all[3], "the rejected list keeps the op exactly as it was sent");
    assert_eq!(rej[0].code, "out_of_scope");
    assert_eq!(rej[0].reason, "该住户不在您的管辖范围内");
    assert_eq!(rej[0].rejected_at, T0);
    // Every op is somewhere: acknowledged, rejected or still pending.
    assert_eq!(rec.acknowledged + rej.len() + left.len(), all.len());

    // Versions from the server land on the rows (the event's on the event row).
    assert_eq!(fx.building(&fx.b1).version, 101);
    assert_eq!(fx.building(&fx.b3).version, 103);
    let ev = fx.store.incident_timeline(&i.id).unwrap().into_iter().find(|e| e.id == event_id).unwrap();
    assert_eq!(ev.version, 106);
    // The refused row leaves the device (the server does not have it); the rejected list keeps
    // the op with every field for the user to see.
    assert!(fx.store.household(&h.id).is_err(), "a refused create is undone locally");

    // Recording the same results again changes nothing.
    let again = record(&fx, &results);
    assert_eq!(again, Recorded { acknowledged: 0, rejected: 0, unknown: 6 });
    assert_eq!(fx.pending(), vec![all[4].clone()]);
    assert_eq!(fx.store.rejected_ops().unwrap().len(), 1);

    // A rejection without code or reason still lands in the list; the user can dismiss it.
    let bare = OpResult { code: None, reason: None, ..rejected(&all[4], "", "") };
    assert_eq!(record(&fx, &[bare]).rejected, 1);
    let rej = fx.store.rejected_ops().unwrap();
    assert_eq!(rej.len(), 2);
    assert_eq!(rej[1].code, "rejected");
    assert!(fx.store.write(|tx| outbox::dismiss_rejected(tx, &all[3].op_id)).unwrap());
    assert!(!fx.store.write(|tx| outbox::dismiss_rejected(tx, &all[3].op_id)).unwrap());
    assert_eq!(fx.store.rejected_ops().unwrap().len(), 1);
    assert_eq!(fx.store.pending_ops().unwrap(), 0);
}

#[test]
fn a_failed_results_transaction_keeps_the_outbox() {
    let fx = fx();
    let all = fx.pending();
    let results: Vec<_> = all.iter().map(|o| result(o, OpStatus::Applied, Some(5))).collect();
    let err = fx
        .store
        .write(|tx| {
            outbox::record_results(tx, &results, 0)?;
            // The sync client fails after recording (e.g. applying the pulled page).
            Err::<(), _>(gridline_core::Error::Transport("connection reset".into()))
        })
        .unwrap_err();
    assert!(matches!(err, gridline_core::Error::Transport(_)));
    assert_eq!(fx.pending(), all);
    assert_eq!(fx.building(&fx.b1).version, 0);
}

#[test]
fn each_mutation_writes_its_row_and_op_together() {
    let fx = fx();
    let n = fx.pending().len();
    let h = fx.household(&fx.b1, "101", "张伟", None);
    let stored = fx.rows(EntityKind::Household);
    assert_eq!(stored.len(), 1);
    let op = &fx.ops_since(n)[0];
    // The op carries exactly the row's fields.
    assert_eq!(op.fields, stored[0].fields);
    assert_eq!(op.entity_id, h.id);
    let row = fx.store.read(|c| record::get(c, EntityKind::Household, &h.id)).unwrap().unwrap();
    assert_eq!(row.version, 0);
}

#[test]
fn a_rejection_undoes_the_op_locally_and_rewinds_the_pull_cursor_for_what_it_changed() {
    let fx = fx();
    let set_cursor = |c: i64| set_cursor(&fx, c);
    let cursor = || cursor(&fx);
    let h = fx.household(&fx.b1, "101", "张伟", None);
    let i = fx.store.report_incident(crate::incidents::new_incident(GRID1, "dispute")).unwrap();
    let all = fx.pending();
    let acks: Vec<OpResult> = all.iter().enumerate().map(|(k, op)| result(op, OpStatus::Applied, Some(40 + k as i64))).collect();
    record(&fx, &acks);
    let hv = fx.store.household(&h.id).unwrap().version;
    set_cursor(100);

    // A refused event: the local timeline entry goes, the status is derived again.
    let before = fx.store.incident(&i.id).unwrap();
    fx.store.add_incident_event(&i.id, crate::incidents::ev(EventKind::Note, "已电话联系")).unwrap();
    let ev = fx.pending().pop().unwrap();
    record(&fx, &[rejected(&ev, "transition_refused", "状态已变化")]);
    assert_eq!(fx.store.incident_timeline(&i.id).unwrap().len(), 1, "only the reported event is left");
    assert_eq!(fx.store.incident(&i.id).unwrap().status, before.status);
    assert_eq!(cursor(), before.version - 1, "the incident is fetched again");

    // A refused update: the cursor goes back before the version the edit was based on.
    set_cursor(100);
    fx.store.update_household(&h.id, HouseholdPatch { notes: Some("本地修改".into()), ..Default::default() }).unwrap();
    let up = fx.pending().pop().unwrap();
    assert_eq!(up.base_version, hv);
    record(&fx, &[rejected(&up, "field_protected", "不能修改")]);
    assert_eq!(cursor(), hv - 1, "the next pull brings the server's copy back");

    // A refused create of an id the server already holds: everything is fetched again.
    set_cursor(100);
    let h2 = fx.household(&fx.b1, "102", "李娜", None);
    let cr = fx.pending().pop().unwrap();
    record(&fx, &[rejected(&cr, "already_exists", "该住户已存在")]);
    assert!(fx.store.household(&h2.id).is_err());
    assert_eq!(cursor(), 0);
    assert_eq!(fx.store.rejected_ops().unwrap().len(), 3, "every refusal is in the list");
}

#[test]
fn a_rejection_with_the_servers_copy_puts_the_record_back_and_keeps_the_cursor() {
    let fx = fx();
    let set_cursor = |c: i64| set_cursor(&fx, c);
    let cursor = || cursor(&fx);
    let h = fx.household(&fx.b1, "101", "张伟", None);
    let acks: Vec<OpResult> = fx.pending().iter().map(|op| result(op, OpStatus::Applied, Some(40))).collect();
    record(&fx, &acks);
    set_cursor(100);

    // Two edits offline; the server refuses the first and sends its copy, newer than the
    // device's (another phone renamed the head meanwhile).
    fx.store.update_household(&h.id, HouseholdPatch { notes: Some("本地修改".into()), ..Default::default() }).unwrap();
    fx.store.update_household(&h.id, HouseholdPatch { member_count: Some(5), ..Default::default() }).unwrap();
    let refused = fx.pending()[0].clone();
    let mut fields = fx.store.read(|c| record::get(c, EntityKind::Household, &h.id)).unwrap().unwrap().fields;
    fields.insert("notes".into(), "服务器上的备注".into());
    fields.insert("head_name".into(), "张伟明".into());
    fields.insert("member_count".into(), 3.into());
    let copy = |seq: i64, deleted: bool, fields| Box::new(Change { seq, entity: EntityKind::Household, id: h.id.clone(), deleted, version: None, fields });
    record(&fx, &[OpResult { current: Some(copy(90, false, fields.clone())), ..rejected(&refused, "invalid", "内容不合规") }]);
    let now = fx.store.household(&h.id).unwrap();
    assert_eq!((now.notes.as_str(), now.head_name.as_str(), now.version), ("服务器上的备注", "张伟明", 90), "the server's copy");
    assert_eq!(now.member_count, 5, "the edit still pending is applied over it");
    assert_eq!(fx.pending().len(), 1);
    assert_eq!(cursor(), 100, "nothing to pull again");
    assert!(fx.store.search("张伟明", 10).unwrap().iter().any(|hit| hit.id == h.id), "the search entry follows the copy");

    // A copy older than the row here (a rejection stored before this device pulled newer
    // changes) is not used: the cursor goes back to the version the edit was based on.
    fx.store.update_household(&h.id, HouseholdPatch { notes: Some("再次修改".into()), ..Default::default() }).unwrap();
    let refused = fx.pending().pop().unwrap();
    assert_eq!(refused.base_version, 90);
    record(&fx, &[OpResult { current: Some(copy(60, false, fields)), ..rejected(&refused, "invalid", "内容不合规") }]);
    assert_eq!(fx.store.household(&h.id).unwrap().version, 90);
    assert_eq!(cursor(), 89, "the next pull brings the record again");

    // A tombstone: deleted on the server, so deleted here, with its search entry.
    set_cursor(100);
    fx.store.update_household(&h.id, HouseholdPatch { notes: Some("第三次".into()), ..Default::default() }).unwrap();
    let pending: Vec<Op> = fx.pending();
    let results: Vec<OpResult> =
        pending.iter().map(|op| OpResult { current: Some(copy(95, true, Default::default())), ..rejected(op, "not_found", "记录已被删除") }).collect();
    record(&fx, &results);
    assert!(fx.store.household(&h.id).is_err(), "gone here too");
    assert!(fx.store.search("张伟明", 10).unwrap().is_empty());
    assert_eq!(cursor(), 100);
    assert_eq!(fx.pending().len(), 0);
}
