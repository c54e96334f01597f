//! Statistics from server times against hand-computed values on a small fixed data set.

use serde_json::json;

use gridline_core::access::{Principal, Scope};
use gridline_core::protocol::{Op, OpKind, PushRequest, PROTOCOL_VERSION};
use gridline_core::{EntityKind, ManualClock, Role};
use gridline_server::service::stats::{Group, Report};
use gridline_server::service::Origin;

use crate::common::*;

const T0: i64 = 1_714_492_800_000; // 2024-05-01 00:00 Beijing time
const H: i64 = 3_600_000;
const D: i64 = 24 * H;

struct Fixture {
    w: World,
    clock: ManualClock,
}

impl Fixture {
    fn principal(&self, user: &str) -> Principal {
        self.w.state.service.principal_of(user).unwrap().unwrap()
    }

    /// Pushes one op as `user` from their device with the server clock at `at`.
    fn at(&self, at: i64, user: &str, op: Op) {
        self.clock.set(at);
        let who = self.principal(user);
        let req = PushRequest { protocol: PROTOCOL_VERSION, ops: vec![op], sent_at: at, scope_epoch: None };
        let resp = self.w.state.service.push(&who, Origin::Device(&format!("dev-{user}")), &req).unwrap();
        assert_ne!(resp.results[0].status, gridline_core::protocol::OpStatus::Rejected, "{:?}", resp.results[0]);
    }

    fn event(&self, at: i64, user: &str, incident: &str, kind: &str, note: &str, dept: Option<&str>) {
        self.at(at, user, op(EntityKind::Incident, incident, OpKind::Event, event(&uuid::Uuid::now_v7().to_string(), kind, note, dept), 0));
    }

    fn report(&self, at: i64, id: &str, grid: &str, category: &str) {
        let mut f = incident(grid, None);
        f["category"] = json!(category);
        // Device clocks are deliberately wrong: statistics must use server times only.
        f["reported_at"] = json!(at - 5 * D);
        let user = if grid == "G1" { "gw" } else { "sup" };
        self.at(at, user, op(EntityKind::Incident, id, OpKind::Create, f, 0));
    }
}

/// The data set (server times after T0):
/// - A environment G1: received 1h, dispatched D1 2h, accepted 3h (in time), resolved 25h
///   (24h to resolve), verified, closed;
/// - B environment G1: received 2h, dispatched D1 3h, accepted 30h (late: due 27h), resolved
///   50h (48h);
/// - C fire_hazard G2: received 4h, dispatched D2 5h, never accepted (due 7h);
/// - D environment G1: received 5h, resolved on the spot by the grid worker 7h (2h);
/// - E environment G1: received 6h, nothing since (resolve due 5 days later);
/// - F environment G1: received 3 days later (outside the first day);
/// - visits of H1 (twice) on day 1 and of H2 on day 4; households H1, H2 in G1, H3 in G2.
fn fixture() -> Fixture {
    let clock = ManualClock::new(T0 - D);
    let w = World::with_clock(&clock);
    w.server_push(vec![
        op(EntityKind::Category, "environment", OpKind::Create, json!({"name": "环境卫生", "response_hours": 24, "resolve_days": 5}), 0),
        op(EntityKind::Category, "fire_hazard", OpKind::Create, json!({"name": "消防隐患", "response_hours": 2, "resolve_days": 3}), 0),
    ]);
    let f = Fixture { w, clock };
    f.report(T0 + H, "A", "G1", "environment");
    f.report(T0 + 2 * H, "B", "G1", "environment");
    f.event(T0 + 2 * H, "sup", "A", "dispatched", "", Some("D1"));
    f.event(T0 + 3 * H, "dh", "A", "accepted", "", None);
    f.event(T0 + 3 * H, "sup", "B", "dispatched", "", Some("D1"));
    f.report(T0 + 4 * H, "C", "G2", "fire_hazard");
    f.report(T0 + 5 * H, "D", "G1", "environment");
    f.event(T0 + 5 * H, "sup", "C", "dispatched", "", Some("D2"));
    f.report(T0 + 6 * H, "E", "G1", "environment");
    f.event(T0 + 7 * H, "gw", "D", "resolved", "就地解决", None);
    let gw = f.principal("gw").user_id;
    for (t, h) in [(T0 + 8 * H, "H1"), (T0 + 9 * H, "H1"), (T0 + 3 * D + H, "H2")] {
        f.at(t, "gw", op(EntityKind::Visit, &uuid::Uuid::now_v7().to_string(), OpKind::Create, json!({"household_id": h, "grid_id": "G1",
            "worker_id": gw, "visited_at": t - 7 * D, "purpose": "走访", "notes": "", "findings": "", "incident_id": null}), 0));
    }
    f.event(T0 + 25 * H, "dh", "A", "resolved", "已处理", None);
    f.event(T0 + 26 * H, "sup", "A", "verified", "", None);
    f.event(T0 + 27 * H, "sup", "A", "closed", "", None);
    f.event(T0 + 30 * H, "dh", "B", "accepted", "", None);
    f.event(T0 + 50 * H, "dh", "B", "resolved", "已处理", None);
    f.report(T0 + 3 * D, "F", "G1", "environment");
    f.clock.set(T0 + 10 * D);
    f
}

fn group<'a>(groups: &'a [Group], key: &str) -> &'a Group {
    groups.iter().find(|g| g.key == key).unwrap_or_else(|| panic!("no group {key}"))
}

fn stats(f: &Fixture, user: &str, from: i64, to: i64) -> Report {
    f.w.state.service.stats(&f.principal(user), from, to).unwrap()
}

#[test]
fn statistics_match_hand_computed_values() {
    let f = fixture();
    let r = stats(&f, "sup", T0, T0 + D);
    let t = &r.total;
    assert_eq!(t.received, 5);
    assert_eq!((t.responded_in_time, t.dispatched), (1, 3), "A in time; B late; C past its deadline");
    assert_eq!(t.response_rate(), Some(1.0 / 3.0));
    assert_eq!(t.resolved, 3, "A, B, D");
    assert_eq!(t.resolution_rate(), Some(0.6));
    assert_eq!(t.median_resolve_ms, Some(24 * H));
    assert_eq!(t.p90_resolve_ms, Some(48 * H));
    assert_eq!(t.overdue, 2, "C (not accepted in time, past resolve deadline) and E");
    assert_eq!((t.visited_households, t.households), (1, 3));
    let g1 = &group(&r.by_grid, "G1").stats;
    assert_eq!((g1.received, g1.dispatched, g1.responded_in_time, g1.resolved, g1.overdue), (4, 2, 1, 3, 1));
    assert_eq!((g1.visited_households, g1.households), (1, 2));
    let g2 = &group(&r.by_grid, "G2").stats;
    assert_eq!((g2.received, g2.dispatched, g2.responded_in_time, g2.resolved, g2.overdue), (1, 1, 0, 0, 1));
    assert_eq!(g2.coverage(), Some(0.0));
    assert_eq!(group(&r.by_community, "COM").stats.received, 5);
    let d1 = &group(&r.by_department, "D1").stats;
    assert_eq!((d1.received, d1.responded_in_time, d1.dispatched, d1.resolved), (2, 1, 2, 2));
    assert_eq!((d1.median_resolve_ms, d1.p90_resolve_ms), (Some(36 * H), Some(48 * H)));
    assert_eq!(group(&r.by_department, "D2").stats.response_rate(), Some(0.0));
    assert_eq!(group(&r.by_category, "environment").stats.received, 4);
    assert_eq!(group(&r.by_category, "fire_hazard").stats.overdue, 1);
    // Per day: all five on the first day, three of them resolved.
    assert_eq!(r.per_day.first(), Some(&(T0, 5, 3)));
    // A wider range takes F (received on day 4) and the day-4 visit of H2.
    let r = stats(&f, "sup", T0, T0 + 5 * D);
    assert_eq!(r.total.received, 6);
    assert_eq!(r.total.overdue, 3, "F is past its 5-day deadline at day 10 too");
    assert_eq!((r.total.visited_households, r.total.households), (2, 3));
    // An empty range.
    let r = stats(&f, "sup", T0 + 6 * D, T0 + 7 * D);
    assert_eq!(r.total.received, 0);
    assert_eq!(r.total.resolution_rate(), None);
}

#[test]
fn statistics_follow_the_callers_scope() {
    let f = fixture();
    // The handler of D1 sees A and B only, and no register coverage.
    let t = stats(&f, "dh", T0, T0 + D).total;
    assert_eq!((t.received, t.resolved, t.households), (2, 2, 0));
    // The grid worker of G1 sees G1.
    let t = stats(&f, "gw", T0, T0 + D).total;
    assert_eq!((t.received, t.households), (4, 2));
    let other = Principal { user_id: "x".into(), role: Role::Supervisor, scope: Scope { area_ids: vec!["ELSEWHERE".into()], ..Scope::default() } };
    let t = f.w.state.service.stats(&other, T0, T0 + D).unwrap().total;
    assert_eq!((t.received, t.households), (0, 0));
    assert!(f.w.state.service.stats(&other, T0, T0).is_err(), "an empty range is bad input");
}
