//! The closed loop across devices: every (status, event) edge of the incident state machine is
//! taken by the device of a role that may take it — a grid worker or building head reports,
//! notes, resolves on the spot and confirms; the supervisor dispatches, verifies, reopens,
//! closes and escalates; the department handler accepts, returns, records progress and
//! resolves. Each step is synced before the next device pulls it, so every device judges the
//! event against the status it received from the server. The test checks its own coverage
//! against the state machine's table, so a new edge without a walk here fails it.

use std::collections::HashSet;

use gridline_core::incident_flow::{transition, IncidentStatus};
use gridline_core::{EventKind, NewEvent, NewIncident, Role};
use gridline_e2e::*;

struct Loop {
    city: City,
    devices: Vec<(&'static str, Device)>,
    covered: HashSet<(Option<IncidentStatus>, EventKind)>,
}

impl Loop {
    fn new() -> Loop {
        let city = start_city();
        let devices: Vec<_> = ["gw1", "bh1", "sup", "dh"].into_iter().map(|u| (u, city.device(u))).collect();
        for (_, d) in &devices {
            d.sync().expect("bootstrap");
        }
        Loop { city, devices, covered: HashSet::new() }
    }

    fn dev(&self, user: &str) -> &Device {
        &self.devices.iter().find(|(u, _)| *u == user).expect("device").1
    }

    fn report(&mut self, user: &str) -> String {
        let d = self.dev(user);
        let inc = d
            .store
            .report_incident(NewIncident {
                category: "public_facility".into(),
                building_id: Some(self.city.b("B1A")),
                description: "单元门禁损坏".into(),
                ..Default::default()
            })
            .expect("report");
        d.sync().expect("push report");
        self.covered.insert((None, EventKind::Reported));
        inc.id
    }

    /// `user` pulls, checks the status it sees, applies `kind`, pushes; returns the new status.
    fn step(&mut self, user: &str, id: &str, kind: EventKind, want: IncidentStatus) {
        let d = self.dev(user);
        d.sync().expect("pull before the step");
        let before = d.store.incident(id).unwrap_or_else(|e| panic!("{user} cannot see the incident: {e}")).status;
        assert!(
            d.store.allowed_incident_events(id).expect("allowed").contains(&kind),
            "{user} is not offered {kind:?} in {before:?}"
        );
        let department_id = (kind == EventKind::Dispatched).then(|| DEPT.to_owned());
        let note = format!("{}：{}", kind.label_zh(), user);
        let after = d.store.add_incident_event(id, NewEvent { kind, note, department_id, deadline_at: None }).expect("event").status;
        assert_eq!(after, want, "{user} {kind:?} from {before:?}");
        let r = d.sync().expect("push the step");
        assert_eq!(r.rejected, 0, "the server accepted {user}'s {kind:?} from {before:?}");
        self.covered.insert((Some(before), kind));
    }

    fn walk(&mut self, reporter: &str, steps: &[(&str, EventKind, IncidentStatus)]) -> String {
        let id = self.report(reporter);
        for &(user, kind, want) in steps {
            self.step(user, &id, kind, want);
        }
        id
    }
}

#[test]
fn every_edge_of_the_state_machine_is_walked_across_devices() {
    use EventKind as E;
    use IncidentStatus as S;
    let mut l = Loop::new();
    // The full loop: dispatch, accept, progress, resolve, confirm with the resident, verify, close.
    let main = l.walk(
        "gw1",
        &[
            ("gw1", E::Note, S::Reported),
            ("sup", E::Dispatched, S::Dispatched),
            ("dh", E::Note, S::Dispatched),
            ("dh", E::Accepted, S::Accepted),
            ("dh", E::Progress, S::Accepted),
            ("sup", E::Note, S::Accepted),
            ("dh", E::Resolved, S::Resolved),
            ("gw1", E::Confirmed, S::Resolved),
            ("bh1", E::Note, S::Resolved),
            ("sup", E::Verified, S::Verified),
            ("gw1", E::Confirmed, S::Verified),
            ("sup", E::Note, S::Verified),
            ("sup", E::Closed, S::Closed),
            ("sup", E::Reopened, S::Reported),
        ],
    );
    // Returned twice (from dispatched and from accepted), re-dispatched, escalated from every
    // status that allows it, dispatched from escalated, reopened after resolution.
    l.walk(
        "bh1",
        &[
            ("sup", E::Dispatched, S::Dispatched),
            ("dh", E::Returned, S::Returned),
            ("sup", E::Note, S::Returned),
            ("sup", E::Dispatched, S::Dispatched),
            ("dh", E::Accepted, S::Accepted),
            ("dh", E::Returned, S::Returned),
            ("sup", E::Escalated, S::Escalated),
            ("sup", E::Note, S::Escalated),
            ("sup", E::Dispatched, S::Dispatched),
            ("sup", E::Escalated, S::Escalated),
            ("sup", E::Dispatched, S::Dispatched),
            ("dh", E::Accepted, S::Accepted),
            ("sup", E::Escalated, S::Escalated),
            ("sup", E::Dispatched, S::Dispatched),
            ("dh", E::Accepted, S::Accepted),
            ("dh", E::Resolved, S::Resolved),
            ("sup", E::Reopened, S::Reported),
            ("sup", E::Escalated, S::Escalated),
        ],
    );
    // On-the-spot resolution by the grid worker, reopened after verification, then closed as
    // invalid straight from reported.
    l.walk(
        "gw1",
        &[
            ("gw1", E::Resolved, S::Resolved),
            ("sup", E::Verified, S::Verified),
            ("sup", E::Reopened, S::Reported),
            ("sup", E::Closed, S::Closed),
        ],
    );

    // Coverage: every (status, event) pair some role may take was taken.
    let mut edges = HashSet::new();
    for status in std::iter::once(None).chain(S::ALL.into_iter().map(Some)) {
        for event in E::ALL {
            if Role::ALL.iter().any(|&r| transition(status, event, r).is_ok()) {
                edges.insert((status, event));
            }
        }
    }
    let missing: Vec<_> = edges.difference(&l.covered).collect();
    assert!(missing.is_empty(), "edges not walked: {missing:?}");

    // Everyone converges on the server's view, and every device shows the same timeline.
    for (user, d) in &l.devices {
        d.sync().expect("final sync");
        assert_dumps_eq(user, &d.dump(), &l.city.fresh_dump(user));
    }
    let server_len = l.dev("sup").store.incident_timeline(&main).expect("timeline").len();
    assert_eq!(server_len, 15, "report + 14 events");
    for user in ["gw1", "bh1", "dh"] {
        let tl = l.dev(user).store.incident_timeline(&main).expect("timeline");
        assert_eq!(tl.len(), server_len, "{user} sees the whole timeline");
    }
}
