//! Tasks across devices (任务下发): the supervisor issues a community task to two grids, one
//! of them to a named worker; the workers see it after sync, submit evidence offline; the
//! supervisor approves one and returns the other with a reason; the worker resubmits and it is
//! approved. Everyone converges.

use gridline_core::{AssignmentStatus, NewTask, TaskTarget};
use gridline_e2e::*;

#[test]
fn a_task_is_issued_answered_returned_and_approved_across_devices() {
    let city = start_city();
    let sup = city.device("sup");
    let gw1 = city.device("gw1");
    let gw2 = city.device("gw2");
    for d in [&sup, &gw1, &gw2] {
        d.sync().expect("bootstrap");
    }
    let gw2_id = gw2.store.principal().expect("enrolled").user_id;
    let due = sup.store.now_ms() + 7 * 24 * 3600 * 1000;
    let task = sup
        .store
        .create_task(NewTask {
            area_id: C1.into(),
            title: "汛前排水设施排查".into(),
            description: "检查各楼栋雨水井".into(),
            due_at: due,
            targets: vec![
                TaskTarget { grid_id: G1.into(), assignee_id: None },
                TaskTarget { grid_id: G2.into(), assignee_id: Some(gw2_id.clone()) },
            ],
        })
        .expect("issue");
    sup.sync().expect("push task");

    // Each worker sees their own assignment and the task it belongs to.
    for (d, grid) in [(&gw1, G1), (&gw2, G2)] {
        d.sync().expect("pull task");
        let mine = d.store.my_assignments().expect("assignments");
        assert_eq!(mine.len(), 1, "{}: {mine:?}", d.user);
        assert_eq!(mine[0].grid_id, grid);
        assert_eq!(mine[0].status, AssignmentStatus::Pending);
        let t = d.store.task(&mine[0].task_id).expect("the task is on the device");
        assert_eq!((t.title.as_str(), t.due_at), ("汛前排水设施排查", due));
    }
    assert_eq!(gw2.store.my_assignments().expect("mine")[0].assignee_id.as_deref(), Some(gw2_id.as_str()));

    // Evidence written offline, then synced.
    let a1 = gw1.store.my_assignments().expect("mine")[0].id.clone();
    let a2 = gw2.store.my_assignments().expect("mine")[0].id.clone();
    gw1.store.submit_task_evidence(&a1, "1栋、2栋雨水井已清理", vec![]).expect("evidence 1");
    gw2.store.submit_task_evidence(&a2, "已检查", vec![]).expect("evidence 2");
    gw1.sync().expect("push evidence 1");
    gw2.sync().expect("push evidence 2");

    // The supervisor reviews: approves one, returns the other with a reason.
    sup.sync().expect("pull evidence");
    let by_grid = |grid: &str| sup.store.task_assignments(&task.id).expect("assignments").into_iter().find(|a| a.grid_id == grid).expect("assignment");
    assert_eq!(by_grid(G1).status, AssignmentStatus::Submitted);
    assert_eq!(by_grid(G1).evidence_text, "1栋、2栋雨水井已清理");
    sup.store.review_task_assignment(&a1, true, "").expect("approve");
    assert!(sup.store.review_task_assignment(&a2, false, "").is_err(), "a return needs a reason");
    sup.store.review_task_assignment(&a2, false, "请附上3栋的情况").expect("return");
    sup.sync().expect("push reviews");

    // The returned worker sees why, resubmits; the supervisor approves.
    gw2.sync().expect("pull review");
    let mine = &gw2.store.my_assignments().expect("mine")[0];
    assert_eq!((mine.status, mine.review_note.as_str()), (AssignmentStatus::Returned, "请附上3栋的情况"));
    gw2.store.submit_task_evidence(&a2, "3栋雨水井已疏通", vec![]).expect("resubmit");
    gw2.sync().expect("push resubmission");
    sup.sync().expect("pull resubmission");
    assert_eq!(by_grid(G2).status, AssignmentStatus::Submitted);
    sup.store.review_task_assignment(&a2, true, "").expect("approve");
    sup.sync().expect("push approval");

    for d in [&sup, &gw1, &gw2] {
        d.sync().expect("final sync");
        assert_eq!(d.store.sync_status().expect("status").rejected_ops, 0, "{}", d.user);
        assert_dumps_eq(&d.user, &d.dump(), &city.fresh_dump(&d.user));
    }
    assert!(sup.store.task_assignments(&task.id).expect("all").iter().all(|a| a.status == AssignmentStatus::Approved));
    // A worker of G1 does not receive G2's assignment.
    assert!(gw1.store.task_assignments(&task.id).expect("gw1 view").iter().all(|a| a.grid_id == G1));
}
