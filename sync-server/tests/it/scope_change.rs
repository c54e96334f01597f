//! Ops written offline under a scope that has since been replaced (DESIGN.md sync rule 7): judged
//! by the scope they were made under, for a device that has not yet learned of the change, within
//! the grace period; by the current scope otherwise.

use serde_json::json;

use gridline_core::access::Scope;
use gridline_core::clock::ManualClock;
use gridline_core::protocol::{OpKind, OpStatus};
use gridline_core::{EntityKind, Role};
use gridline_server::service::PRIOR_SCOPE_GRACE_MS;

use crate::common::*;

fn move_gw_to_g2(w: &World) -> i64 {
    let g2 = Scope { area_ids: vec!["G2".into()], ..Scope::default() };
    w.state.service.set_scope("gw", Role::GridWorker, &g2).expect("set scope").expect("user exists")
}

fn edit(w: &World, id: &str, note: &str) -> gridline_core::protocol::Op {
    op(EntityKind::Household, id, OpKind::Update, json!({ "notes": note }), w.version(id))
}

fn codes(r: &gridline_core::protocol::PushResponse) -> Vec<(OpStatus, Option<String>)> {
    r.results.iter().map(|r| (r.status, r.code.clone())).collect()
}

#[tokio::test]
async fn ops_made_before_a_move_are_judged_by_the_old_scope_until_the_device_learns_the_new_one() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    assert_eq!(move_gw_to_g2(&w), 2);
    // Written offline in G1 under epoch 1; the device has not pulled since.
    let r = w.push_under(&gw, &[edit(&w, "H1", "调岗前走访"), edit(&w, "H3", "新网格")], Some(1)).await;
    assert_eq!(codes(&r), [(OpStatus::Applied, None), (OpStatus::Applied, None)], "old-grid edit and new-grid edit both land");
    // Without naming an epoch the same kind of op is judged by the new scope only.
    let r = w.push_under(&gw, &[edit(&w, "H2", "未注明")], None).await;
    assert_eq!(codes(&r), [(OpStatus::Rejected, Some("out_of_scope".into()))]);
    // Once the device has presented the new epoch, it cannot fall back to the old one.
    let page = w.pull(&gw, 1, 10, Some(2)).await;
    assert!(!page.scope_changed);
    let r = w.push_under(&gw, &[edit(&w, "H2", "学会新范围之后")], Some(1)).await;
    assert_eq!(codes(&r), [(OpStatus::Rejected, Some("out_of_scope".into()))]);
}

#[tokio::test]
async fn a_device_enrolled_after_the_move_cannot_claim_the_old_scope() {
    let w = World::new();
    move_gw_to_g2(&w);
    let fresh = w.enroll("gw").await;
    let r = w.push_under(&fresh, &[edit(&w, "H1", "新设备")], Some(1)).await;
    assert_eq!(codes(&r), [(OpStatus::Rejected, Some("out_of_scope".into()))]);
    // Epochs the user never had are no key to anything either.
    let r = w.push_under(&fresh, &[edit(&w, "H1", "虚构")], Some(0)).await;
    assert_eq!(codes(&r), [(OpStatus::Rejected, Some("out_of_scope".into()))]);
    let other = w.enroll("bh").await;
    let r = w.push_under(&other, &[edit(&w, "H2", "别人的范围")], Some(1)).await;
    assert_eq!(codes(&r), [(OpStatus::Rejected, Some("out_of_scope".into()))]);
}

#[tokio::test]
async fn the_old_scope_expires_after_the_grace_period() {
    let clock = ManualClock::new(now_ms());
    let w = World::with_clock(&clock);
    let gw = w.enroll("gw").await;
    move_gw_to_g2(&w);
    clock.advance(PRIOR_SCOPE_GRACE_MS + 1);
    let r = w.push_under(&gw, &[edit(&w, "H1", "太晚了")], Some(1)).await;
    assert_eq!(codes(&r), [(OpStatus::Rejected, Some("out_of_scope".into()))]);
    let admin = w.enroll("admin").await;
    let h1 = w.pull_all(&admin).await.into_iter().rfind(|c| c.id == "H1").expect("H1");
    assert_ne!(h1.fields["notes"], json!("太晚了"), "nothing written");
}

#[tokio::test]
async fn a_role_change_keeps_the_old_roles_rules_for_old_ops_only() {
    let w = World::new();
    let bh = w.enroll("bh").await;
    // The building head of B1 becomes the building head of B3.
    let b3 = Scope { building_ids: vec!["B3".into()], ..Scope::default() };
    w.state.service.set_scope("bh", Role::BuildingHead, &b3).expect("set scope");
    // The old scope allowed notes in B1 but never the protected ID number, under either scope.
    let r = w
        .push_under(
            &bh,
            &[edit(&w, "H1", "本楼旧事"), op(EntityKind::Resident, "R1", OpKind::Update, json!({"id_number": "440703199001019994"}), 0)],
            Some(1),
        )
        .await;
    assert_eq!(codes(&r)[0], (OpStatus::Applied, None));
    assert_eq!(codes(&r)[1], (OpStatus::Rejected, Some("field_protected".into())));
}
