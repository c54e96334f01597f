//! Tasks: a supervisor issues a task with assignments; workers see theirs, submit evidence;
//! the supervisor approves or returns it.

use gridline_core::protocol::OpKind;
use gridline_core::{AssignmentStatus, EntityKind, Error, NewTask, TaskTarget};

use crate::support::*;

fn new_task(targets: Vec<TaskTarget>) -> NewTask {
    NewTask {
        area_id: COMMUNITY.into(),
        title: "消防通道排查".into(),
        description: "逐栋检查楼道堆物".into(),
        due_at: T0 + 7 * DAY,
        targets,
    }
}

fn target(grid: &str, who: Option<&str>) -> TaskTarget {
    TaskTarget { grid_id: grid.into(), assignee_id: who.map(Into::into) }
}

#[test]
fn create_task_with_assignments_queues_one_op_per_row() {
    let fx = fx();
    fx.act_as(&supervisor());
    let n = fx.pending().len();
    let t = fx.store.create_task(new_task(vec![target(GRID1, Some("u-worker-1")), target(GRID2, None)])).unwrap();
    assert_eq!(t.area_id, COMMUNITY);
    assert_eq!(t.title, "消防通道排查");
    assert_eq!(t.due_at, T0 + 7 * DAY);
    assert_eq!(t.issued_by, "u-supervisor");
    assert_eq!(t.issued_at, T0);
    let assignments = fx.store.task_assignments(&t.id).unwrap();
    assert_eq!(assignments.len(), 2);
    assert_eq!(assignments[0].grid_id, GRID1);
    assert_eq!(assignments[0].assignee_id.as_deref(), Some("u-worker-1"));
    assert_eq!(assignments[1].grid_id, GRID2);
    assert_eq!(assignments[1].assignee_id, None);
    assert!(assignments.iter().all(|a| a.status == AssignmentStatus::Pending && a.submitted_at.is_none()));
    let ops = fx.ops_since(n);
    let shape: Vec<_> = ops.iter().map(|o| (o.entity, o.kind)).collect();
    assert_eq!(
        shape,
        vec![
            (EntityKind::Task, OpKind::Create),
            (EntityKind::TaskAssignment, OpKind::Create),
            (EntityKind::TaskAssignment, OpKind::Create),
        ]
    );
}

#[test]
fn task_validation_writes_nothing() {
    let fx = fx();
    fx.act_as(&supervisor());
    let err = assert_writes_nothing(&fx, || fx.store.create_task(new_task(vec![])));
    assert_invalid::<()>(Err(err), "targets", "");
    let err = assert_writes_nothing(&fx, || fx.store.create_task(NewTask { due_at: T0, ..new_task(vec![target(GRID1, None)]) }));
    assert_invalid::<()>(Err(err), "due_at", "");
    let err = assert_writes_nothing(&fx, || fx.store.create_task(NewTask { title: " ".into(), ..new_task(vec![target(GRID1, None)]) }));
    assert_invalid::<()>(Err(err), "title", "");
    let err = assert_writes_nothing(&fx, || fx.store.create_task(NewTask { area_id: "nowhere".into(), ..new_task(vec![target(GRID1, None)]) }));
    assert_invalid::<()>(Err(err), "area_id", "");
    // The second target is not a grid under the task's area: the task and the first assignment roll back.
    let err = assert_writes_nothing(&fx, || fx.store.create_task(new_task(vec![target(GRID1, None), target("elsewhere", None)])));
    assert_invalid::<()>(Err(err), "targets[1].grid_id", "");
    let err = assert_writes_nothing(&fx, || {
        fx.store.create_task(NewTask { area_id: GRID1.into(), ..new_task(vec![target(GRID2, None)]) })
    });
    assert_invalid::<()>(Err(err), "targets[0].grid_id", "");
    // The task's community is not a grid (no worker would see the assignment); the same grid
    // and assignee twice is one assignment too many; an assignee id is an id.
    let err = assert_writes_nothing(&fx, || fx.store.create_task(new_task(vec![target(COMMUNITY, None)])));
    assert_invalid::<()>(Err(err), "targets[0].grid_id", "");
    let err = assert_writes_nothing(&fx, || {
        fx.store.create_task(new_task(vec![target(GRID1, Some("u-worker-1")), target(GRID2, None), target(GRID1, Some(" u-worker-1 "))]))
    });
    assert_invalid::<()>(Err(err), "targets[2]", "");
    let long = "u".repeat(65);
    let err = assert_writes_nothing(&fx, || fx.store.create_task(new_task(vec![target(GRID1, Some(&long))])));
    assert_invalid::<()>(Err(err), "targets[0].assignee_id", "");
    // Only supervisors issue tasks.
    fx.act_as(&worker1());
    let err = assert_writes_nothing(&fx, || fx.store.create_task(NewTask { area_id: GRID1.into(), ..new_task(vec![target(GRID1, None)]) }));
    assert!(matches!(err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
}

#[test]
fn my_assignments_submit_evidence_then_review() {
    let fx = fx();
    fx.act_as(&supervisor());
    let t = fx
        .store
        .create_task(new_task(vec![
            target(GRID1, Some("u-worker-1")),
            target(GRID1, Some("u-someone-else")),
            target(GRID1, None),
            target(GRID2, None),
        ]))
        .unwrap();

    fx.act_as(&worker1());
    let mine = fx.store.my_assignments().unwrap();
    assert_eq!(mine.len(), 2, "named to me, and my grid's unnamed one");
    assert!(mine.iter().all(|a| a.task_id == t.id && a.grid_id == GRID1));
    assert!(mine.iter().all(|a| a.assignee_id.as_deref().is_none_or(|w| w == "u-worker-1")));
    let named = mine.iter().find(|a| a.assignee_id.is_some()).unwrap().clone();

    fx.clock.advance(DAY);
    let n = fx.pending().len();
    let a = fx.store.submit_task_evidence(&named.id, "已检查6栋楼，清理堆物3处", vec![photo(1), photo(2)]).unwrap();
    assert_eq!(a.status, AssignmentStatus::Submitted);
    assert_eq!(a.evidence_text, "已检查6栋楼，清理堆物3处");
    assert_eq!(a.evidence_photos, vec![photo(1), photo(2)]);
    assert_eq!(a.submitted_at, Some(T0 + DAY));
    let ops = fx.ops_since(n);
    assert_eq!(ops.len(), 1);
    let mut keys: Vec<_> = ops[0].fields.keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, vec!["evidence_photos", "evidence_text", "status", "submitted_at"]);

    // Submitted twice: refused.
    let err = assert_writes_nothing(&fx, || fx.store.submit_task_evidence(&named.id, "再交一次", vec![]));
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");

    // The supervisor returns it with a reason (required), the worker resubmits, it is approved.
    fx.act_as(&supervisor());
    let err = assert_writes_nothing(&fx, || fx.store.review_task_assignment(&named.id, false, " "));
    assert_invalid::<()>(Err(err), "review_note", "");
    let r = fx.store.review_task_assignment(&named.id, false, "缺少5栋照片").unwrap();
    assert_eq!(r.status, AssignmentStatus::Returned);
    assert_eq!(r.review_note, "缺少5栋照片");
    assert_eq!(r.reviewed_at, Some(T0 + DAY));
    fx.act_as(&worker1());
    let a = fx.store.submit_task_evidence(&named.id, "补充5栋照片", vec![photo(3)]).unwrap();
    assert_eq!(a.status, AssignmentStatus::Submitted);
    fx.act_as(&supervisor());
    let ok = fx.store.review_task_assignment(&named.id, true, "").unwrap();
    assert_eq!(ok.status, AssignmentStatus::Approved);
    let err = assert_writes_nothing(&fx, || fx.store.review_task_assignment(&named.id, true, ""));
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

#[test]
fn evidence_rules_and_assignee_rules() {
    let fx = fx();
    fx.act_as(&supervisor());
    let t = fx
        .store
        .create_task(new_task(vec![target(GRID1, Some("u-someone-else")), target(GRID2, None), target(GRID1, None)]))
        .unwrap();
    let all = fx.store.task_assignments(&t.id).unwrap();
    let others = all.iter().find(|a| a.assignee_id.is_some()).unwrap();
    let grid2 = all.iter().find(|a| a.grid_id == GRID2).unwrap();
    let open = all.iter().find(|a| a.grid_id == GRID1 && a.assignee_id.is_none()).unwrap();

    fx.act_as(&worker1());
    let err = assert_writes_nothing(&fx, || fx.store.submit_task_evidence(&others.id, "完成", vec![]));
    assert!(matches!(err, Error::Forbidden { code: "role_not_allowed", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.submit_task_evidence(&grid2.id, "完成", vec![]));
    assert!(matches!(err, Error::Forbidden { code: "out_of_scope", .. }), "{err:?}");
    let err = assert_writes_nothing(&fx, || fx.store.submit_task_evidence(&open.id, "", vec![]));
    assert_invalid::<()>(Err(err), "evidence_text", "");
    let err = assert_writes_nothing(&fx, || fx.store.submit_task_evidence(&open.id, "完成", vec!["abc".into()]));
    assert_invalid::<()>(Err(err), "evidence_photos", "abc");
    let err = assert_writes_nothing(&fx, || fx.store.submit_task_evidence(&open.id, "完成", vec![photo(0xcd).to_uppercase()]));
    assert_invalid::<()>(Err(err), "evidence_photos", "");
    // Workers cannot review.
    let a = fx.store.submit_task_evidence(&open.id, "完成", vec![]).unwrap();
    let err = assert_writes_nothing(&fx, || fx.store.review_task_assignment(&a.id, true, ""));
    assert!(matches!(err, Error::Forbidden { code: "field_protected", .. }), "{err:?}");
}

#[test]
fn assignment_statuses_have_their_wire_code_and_chinese_label() {
    use gridline_core::AssignmentStatus as S;
    for (s, code, label) in [(S::Pending, "pending", "待提交"), (S::Submitted, "submitted", "待审核"), (S::Approved, "approved", "已通过"), (S::Returned, "returned", "已退回")] {
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(code), "the code is the wire name");
        assert_eq!(S::from_code(code), Some(s));
        assert_eq!(s.label_zh(), label);
    }
    assert_eq!(S::from_code("done"), None);
}
