//! The incident state machine: roles, statuses, timeline events, the one
//! transition table that both device and server run, payload checks and
//! deadline (overdue) rules. Pure code: no storage, no clock.

use std::fmt;

/// Defines a fieldless enum with a stable snake_case wire name and a
/// Chinese label per variant, plus `ALL`, `as_str`, `parse` and `label_zh`.
macro_rules! labelled_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => ($wire:literal, $zh:literal),
            )+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [Self; [$($wire),+].len()] = [$(Self::$variant),+];

            /// The stable snake_case name used on the wire and in storage.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// Parses the snake_case name produced by `as_str`.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// The Simplified Chinese label shown to users.
            pub fn label_zh(&self) -> &'static str {
                match self {
                    $(Self::$variant => $zh,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

labelled_enum! {
    /// The role a user acts in; it comes from the server-issued token.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Role {
        /// Full-time grid worker (专职网格员).
        GridWorker => ("grid_worker", "专职网格员"),
        /// Volunteer building head (志愿楼长).
        BuildingHead => ("building_head", "志愿楼长"),
        /// Grid manager / supervisor at community, street or district level.
        Supervisor => ("supervisor", "网格管理员/督导"),
        /// Handler in a department that incidents are dispatched to.
        DepartmentHandler => ("department_handler", "部门承办人"),
        /// System administrator.
        Admin => ("admin", "系统管理员"),
    }
}

labelled_enum! {
    /// The status of an incident, derived from its timeline.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum IncidentStatus {
        /// Reported, waiting to be dispatched.
        Reported => ("reported", "待派遣"),
        /// Dispatched to a department, not yet accepted.
        Dispatched => ("dispatched", "已派遣"),
        /// Accepted by the department, being handled.
        Accepted => ("accepted", "处理中"),
        /// Returned by the department (wrong department, not its duty, ...).
        Returned => ("returned", "已退回"),
        /// Resolved by the handler, waiting for verification.
        Resolved => ("resolved", "已办结待核查"),
        /// Resolution verified by a supervisor.
        Verified => ("verified", "已核查"),
        /// Closed for good (may still be reopened by a supervisor).
        Closed => ("closed", "已结案"),
        /// Escalated to a higher level.
        Escalated => ("escalated", "已上报上级"),
    }
}

labelled_enum! {
    /// The kind of an event appended to an incident's timeline.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EventKind {
        /// The incident is reported (always the first event).
        Reported => ("reported", "上报"),
        /// Dispatched to a department.
        Dispatched => ("dispatched", "派遣"),
        /// Accepted by the department.
        Accepted => ("accepted", "受理"),
        /// Returned by the department, with a reason.
        Returned => ("returned", "退回"),
        /// A progress note from the handler.
        Progress => ("progress", "进展"),
        /// A free note; does not change the status.
        Note => ("note", "备注"),
        /// Resolved (by the handler, or on the spot by the grid worker).
        Resolved => ("resolved", "办结"),
        /// The fix was confirmed with the resident; does not change the status.
        Confirmed => ("confirmed", "确认"),
        /// A supervisor verified the resolution.
        Verified => ("verified", "核查通过"),
        /// A supervisor reopened the incident; it goes back to the dispatch queue.
        Reopened => ("reopened", "重新办理"),
        /// Closed.
        Closed => ("closed", "结案"),
        /// Escalated to a higher level.
        Escalated => ("escalated", "上报上级"),
    }
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionErrorKind {
    /// No role may apply this event in this status.
    NotAllowedInStatus,
    /// Some role may apply this event in this status, but not this one.
    RoleNotAllowed,
}

/// A refused transition: which event, by which role, in which status, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransitionError {
    /// The status before the event (`None`: the incident does not exist yet).
    pub status: Option<IncidentStatus>,
    /// The refused event.
    pub event: EventKind,
    /// The role that tried it.
    pub role: Role,
    /// Why it was refused.
    pub kind: TransitionErrorKind,
}

impl TransitionError {
    /// A user-facing explanation in Simplified Chinese.
    pub fn reason_zh(&self) -> String {
        use TransitionErrorKind as K;
        let (event, role) = (self.event.label_zh(), self.role.label_zh());
        match (self.kind, self.status.map(|s| s.label_zh())) {
            (K::NotAllowedInStatus, None) => format!("事件尚未上报，不能执行「{event}」"),
            (K::NotAllowedInStatus, Some(s)) => format!("事件状态为「{s}」，不能执行「{event}」"),
            (K::RoleNotAllowed, None) => format!("「{role}」无权执行「{event}」"),
            (K::RoleNotAllowed, Some(s)) => format!("「{role}」无权在「{s}」状态下执行「{event}」"),
        }
    }
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TransitionErrorKind as K;
        let (event, role) = (self.event, self.role);
        match (self.kind, self.status) {
            (K::NotAllowedInStatus, None) => {
                write!(
                    f,
                    "event `{event}` is not allowed before the incident is reported"
                )
            }
            (K::NotAllowedInStatus, Some(s)) => {
                write!(f, "event `{event}` is not allowed in status `{s}`")
            }
            (K::RoleNotAllowed, None) => {
                write!(f, "role `{role}` may not `{event}` a new incident")
            }
            (K::RoleNotAllowed, Some(s)) => {
                write!(
                    f,
                    "role `{role}` may not `{event}` an incident in status `{s}`"
                )
            }
        }
    }
}

impl std::error::Error for TransitionError {}

/// The transition table. `None` means refused; the kind of refusal is
/// worked out by [`transition`].
fn next_status(
    status: Option<IncidentStatus>,
    event: EventKind,
    role: Role,
) -> Option<IncidentStatus> {
    use EventKind as E;
    use IncidentStatus as S;
    use Role as R;

    let supervisor = matches!(role, R::Supervisor | R::Admin);
    let handler = matches!(role, R::DepartmentHandler | R::Admin);

    // Before the first event only `Reported` is possible, and it is only
    // possible there.
    let Some(status) = status else {
        let reporter = !matches!(role, R::DepartmentHandler);
        return (event == E::Reported && reporter).then_some(S::Reported);
    };

    match (event, status) {
        (E::Reported, _) => None,
        (E::Dispatched, S::Reported | S::Returned | S::Escalated) if supervisor => {
            Some(S::Dispatched)
        }
        (E::Accepted, S::Dispatched) if handler => Some(S::Accepted),
        (E::Returned, S::Dispatched | S::Accepted) if handler => Some(S::Returned),
        (E::Progress, S::Accepted) if handler => Some(S::Accepted),
        (E::Resolved, S::Accepted) if handler => Some(S::Resolved),
        // On-the-spot resolution (就地解决) by a grid worker.
        (E::Resolved, S::Reported) if role == R::GridWorker => Some(S::Resolved),
        (E::Verified, S::Resolved) if supervisor => Some(S::Verified),
        (E::Reopened, S::Resolved | S::Verified | S::Closed) if supervisor => Some(S::Reported),
        // From Reported: closing as invalid or duplicate (a reason is required).
        (E::Closed, S::Verified | S::Reported) if supervisor => Some(S::Closed),
        (E::Escalated, S::Reported | S::Returned | S::Dispatched | S::Accepted) if supervisor => {
            Some(S::Escalated)
        }
        (E::Note, s) if s != S::Closed => Some(s),
        (E::Confirmed, S::Resolved | S::Verified) if role != R::DepartmentHandler => Some(status),
        _ => None,
    }
}

/// Applies one event by one role to an incident in `status` (`None` when
/// the incident does not exist yet) and returns the new status, or why the
/// event is refused.
pub fn transition(
    status: Option<IncidentStatus>,
    event: EventKind,
    role: Role,
) -> Result<IncidentStatus, TransitionError> {
    if let Some(next) = next_status(status, event, role) {
        return Ok(next);
    }
    let some_role_may = Role::ALL
        .iter()
        .any(|&r| next_status(status, event, r).is_some());
    let kind = if some_role_may {
        TransitionErrorKind::RoleNotAllowed
    } else {
        TransitionErrorKind::NotAllowedInStatus
    };
    Err(TransitionError {
        status,
        event,
        role,
        kind,
    })
}

/// Folds a timeline (in order) into the current status. `Ok(None)` for an
/// empty timeline; on error, the index of the first refused event.
pub fn status_of(
    events: impl IntoIterator<Item = (EventKind, Role)>,
) -> Result<Option<IncidentStatus>, (usize, TransitionError)> {
    let mut status = None;
    for (index, (event, role)) in events.into_iter().enumerate() {
        status = Some(transition(status, event, role).map_err(|e| (index, e))?);
    }
    Ok(status)
}

/// The events `role` may apply in `status`, in `EventKind::ALL` order
/// (for screens to show only the actions that will work).
pub fn allowed_events(status: Option<IncidentStatus>, role: Role) -> Vec<EventKind> {
    EventKind::ALL
        .into_iter()
        .filter(|&e| next_status(status, e, role).is_some())
        .collect()
}

/// A required field missing from an event's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PayloadError {
    /// The missing field: `reason`, `note` or `department_id`.
    pub field: &'static str,
    /// A user-facing message in Simplified Chinese.
    pub message_zh: &'static str,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "required field `{}` is missing or blank", self.field)
    }
}

impl std::error::Error for PayloadError {}

fn is_blank(s: Option<&str>) -> bool {
    s.is_none_or(|s| s.trim().is_empty())
}

/// Checks the fields an event needs, independent of status:
/// `Returned`, `Reopened` and `Escalated` need a non-blank `reason`;
/// `Resolved` needs a non-blank `note` (the resolution or evidence text,
/// passed as `reason`); `Dispatched` needs a `department_id`.
/// See [`check_event_payload_in`] for the status-dependent rule on `Closed`.
pub fn check_event_payload(
    event: EventKind,
    reason: Option<&str>,
    department_id: Option<&str>,
) -> Result<(), PayloadError> {
    match event {
        EventKind::Returned | EventKind::Reopened | EventKind::Escalated if is_blank(reason) => {
            Err(PayloadError {
                field: "reason",
                message_zh: "请填写原因",
            })
        }
        EventKind::Resolved if is_blank(reason) => Err(PayloadError {
            field: "note",
            message_zh: "请填写办结情况说明",
        }),
        // A note or a progress report is its text: a blank one says nothing on the timeline.
        EventKind::Note | EventKind::Progress if is_blank(reason) => Err(PayloadError {
            field: "note",
            message_zh: "请填写内容",
        }),
        EventKind::Dispatched if is_blank(department_id) => Err(PayloadError {
            field: "department_id",
            message_zh: "请选择承办部门",
        }),
        _ => Ok(()),
    }
}

/// [`check_event_payload`] plus the rules that depend on the status before
/// the event: closing a `Reported` incident (as invalid or duplicate) needs
/// a non-blank `reason`.
pub fn check_event_payload_in(
    status: Option<IncidentStatus>,
    event: EventKind,
    reason: Option<&str>,
    department_id: Option<&str>,
) -> Result<(), PayloadError> {
    check_event_payload(event, reason, department_id)?;
    if event == EventKind::Closed && status == Some(IncidentStatus::Reported) && is_blank(reason) {
        return Err(PayloadError {
            field: "reason",
            message_zh: "未办理直接结案时请填写原因",
        });
    }
    Ok(())
}

/// Whether an incident still needs work (not Resolved, Verified or Closed).
pub fn is_open(status: IncidentStatus) -> bool {
    !matches!(
        status,
        IncidentStatus::Resolved | IncidentStatus::Verified | IncidentStatus::Closed
    )
}

/// Deadlines configured for an incident category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CategoryDeadline {
    /// Hours a department has to accept a dispatched incident.
    pub response_hours: u32,
    /// Days from the report until the incident must be resolved.
    pub resolve_days: u32,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// When a department must have accepted an incident dispatched at
/// `dispatched_at_ms` (milliseconds since the Unix epoch).
pub fn response_due(dispatched_at_ms: i64, d: &CategoryDeadline) -> i64 {
    dispatched_at_ms.saturating_add(i64::from(d.response_hours) * HOUR_MS)
}

/// When an incident reported at `reported_at_ms` (milliseconds since the
/// Unix epoch) must be resolved.
pub fn resolve_due(reported_at_ms: i64, d: &CategoryDeadline) -> i64 {
    reported_at_ms.saturating_add(i64::from(d.resolve_days) * DAY_MS)
}

/// Whether an incident is overdue at `now_ms`: it is open and past its
/// resolve deadline, or dispatched but not accepted past its response
/// deadline. Being exactly at a deadline is not overdue.
pub fn overdue(
    status: IncidentStatus,
    now_ms: i64,
    response_due_ms: Option<i64>,
    resolve_due_ms: Option<i64>,
) -> bool {
    let past = |due: Option<i64>| due.is_some_and(|d| now_ms > d);
    (is_open(status) && past(resolve_due_ms))
        || (status == IncidentStatus::Dispatched && past(response_due_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use EventKind as E;
    use IncidentStatus as S;
    use Role as R;

    const GW: R = R::GridWorker;
    const BH: R = R::BuildingHead;
    const SV: R = R::Supervisor;
    const DH: R = R::DepartmentHandler;
    const AD: R = R::Admin;
    const ANY: &[R] = &[GW, BH, SV, DH, AD];
    const SUP: &[R] = &[SV, AD];
    const HND: &[R] = &[DH, AD];
    const REP: &[R] = &[GW, BH, SV, AD];

    /// The expected table, written out independently of `next_status`:
    /// (status before, event, roles allowed, status after).
    const EXPECTED: &[(Option<S>, E, &[R], S)] = &[
        (None, E::Reported, REP, S::Reported),
        (Some(S::Reported), E::Dispatched, SUP, S::Dispatched),
        (Some(S::Returned), E::Dispatched, SUP, S::Dispatched),
        (Some(S::Escalated), E::Dispatched, SUP, S::Dispatched),
        (Some(S::Dispatched), E::Accepted, HND, S::Accepted),
        (Some(S::Dispatched), E::Returned, HND, S::Returned),
        (Some(S::Accepted), E::Returned, HND, S::Returned),
        (Some(S::Accepted), E::Progress, HND, S::Accepted),
        (Some(S::Accepted), E::Resolved, HND, S::Resolved),
        (Some(S::Reported), E::Resolved, &[GW], S::Resolved),
        (Some(S::Resolved), E::Verified, SUP, S::Verified),
        (Some(S::Resolved), E::Reopened, SUP, S::Reported),
        (Some(S::Verified), E::Reopened, SUP, S::Reported),
        (Some(S::Closed), E::Reopened, SUP, S::Reported),
        (Some(S::Verified), E::Closed, SUP, S::Closed),
        (Some(S::Reported), E::Closed, SUP, S::Closed),
        (Some(S::Reported), E::Escalated, SUP, S::Escalated),
        (Some(S::Returned), E::Escalated, SUP, S::Escalated),
        (Some(S::Dispatched), E::Escalated, SUP, S::Escalated),
        (Some(S::Accepted), E::Escalated, SUP, S::Escalated),
        (Some(S::Reported), E::Note, ANY, S::Reported),
        (Some(S::Dispatched), E::Note, ANY, S::Dispatched),
        (Some(S::Accepted), E::Note, ANY, S::Accepted),
        (Some(S::Returned), E::Note, ANY, S::Returned),
        (Some(S::Resolved), E::Note, ANY, S::Resolved),
        (Some(S::Verified), E::Note, ANY, S::Verified),
        (Some(S::Escalated), E::Note, ANY, S::Escalated),
        (Some(S::Resolved), E::Confirmed, REP, S::Resolved),
        (Some(S::Verified), E::Confirmed, REP, S::Verified),
    ];

    fn expected_map() -> HashMap<(Option<S>, E, R), S> {
        let mut map = HashMap::new();
        for &(from, event, roles, to) in EXPECTED {
            for &role in roles {
                let dup = map.insert((from, event, role), to);
                assert!(dup.is_none(), "duplicate row {from:?} {event:?} {role:?}");
            }
        }
        map
    }

    fn all_statuses() -> Vec<Option<S>> {
        std::iter::once(None).chain(S::ALL.map(Some)).collect()
    }

    #[test]
    fn transition_matches_expected_table_exhaustively() {
        let expected = expected_map();
        let possible: HashSet<(Option<S>, E)> = expected.keys().map(|&(s, e, _)| (s, e)).collect();
        let mut allowed = 0;
        for status in all_statuses() {
            for event in E::ALL {
                for role in R::ALL {
                    let got = transition(status, event, role);
                    match expected.get(&(status, event, role)) {
                        Some(&to) => {
                            assert_eq!(got, Ok(to), "{status:?} {event:?} {role:?}");
                            allowed += 1;
                        }
                        None => {
                            let err = got.expect_err(&format!("{status:?} {event:?} {role:?}"));
                            let kind = if possible.contains(&(status, event)) {
                                TransitionErrorKind::RoleNotAllowed
                            } else {
                                TransitionErrorKind::NotAllowedInStatus
                            };
                            assert_eq!(
                                err,
                                TransitionError {
                                    status,
                                    event,
                                    role,
                                    kind
                                }
                            );
                        }
                    }
                }
            }
        }
        assert_eq!(allowed, expected.len());
        assert_eq!(allowed, 84);
    }

    #[test]
    fn enum_names_round_trip() {
        for r in R::ALL {
            assert_eq!(R::parse(r.as_str()), Some(r));
            assert!(!r.label_zh().is_empty());
        }
        for s in S::ALL {
            assert_eq!(S::parse(s.as_str()), Some(s));
            assert!(!s.label_zh().is_empty());
        }
        for e in E::ALL {
            assert_eq!(E::parse(e.as_str()), Some(e));
            assert!(!e.label_zh().is_empty());
        }
        assert_eq!(R::parse("Admin"), None);
        assert_eq!(R::DepartmentHandler.as_str(), "department_handler");
        assert_eq!(S::Escalated.label_zh(), "已上报上级");
        assert_eq!(E::Reopened.label_zh(), "重新办理");
        assert_eq!((R::ALL.len(), S::ALL.len(), E::ALL.len()), (5, 8, 12));
    }

    #[test]
    fn error_messages() {
        let e = transition(Some(S::Closed), E::Dispatched, SV).unwrap_err();
        assert_eq!(
            e.to_string(),
            "event `dispatched` is not allowed in status `closed`"
        );
        assert_eq!(e.reason_zh(), "事件状态为「已结案」，不能执行「派遣」");

        let e = transition(Some(S::Reported), E::Dispatched, BH).unwrap_err();
        assert_eq!(
            e.to_string(),
            "role `building_head` may not `dispatched` an incident in status `reported`"
        );
        assert_eq!(
            e.reason_zh(),
            "「志愿楼长」无权在「待派遣」状态下执行「派遣」"
        );

        let e = transition(None, E::Note, GW).unwrap_err();
        assert_eq!(e.kind, TransitionErrorKind::NotAllowedInStatus);
        assert_eq!(e.reason_zh(), "事件尚未上报，不能执行「备注」");

        let e = transition(None, E::Reported, DH).unwrap_err();
        assert_eq!(e.kind, TransitionErrorKind::RoleNotAllowed);
        assert_eq!(
            e.to_string(),
            "role `department_handler` may not `reported` a new incident"
        );

        let e = transition(Some(S::Accepted), E::Reported, AD).unwrap_err();
        assert_eq!(e.kind, TransitionErrorKind::NotAllowedInStatus);
        let _: &dyn std::error::Error = &e;
    }

    /// Folds a timeline written as `event@role` steps separated by spaces.
    fn run(timeline: &str) -> Result<Option<S>, (usize, TransitionError)> {
        status_of(timeline.split_whitespace().map(|step| {
            let (event, role) = step.split_once('@').unwrap();
            (E::parse(event).unwrap(), R::parse(role).unwrap())
        }))
    }

    const HAPPY: &str = "reported@grid_worker dispatched@supervisor \
        accepted@department_handler progress@department_handler \
        resolved@department_handler confirmed@grid_worker verified@supervisor closed@supervisor";

    #[test]
    fn status_of_paths() {
        assert_eq!(run(""), Ok(None));
        assert_eq!(run(HAPPY), Ok(Some(S::Closed)));
        let returned = "reported@building_head dispatched@supervisor returned@department_handler \
            note@supervisor dispatched@admin accepted@department_handler";
        assert_eq!(run(returned), Ok(Some(S::Accepted)));
        let reopen = format!("{HAPPY} reopened@supervisor");
        assert_eq!(run(&reopen), Ok(Some(S::Reported)));
        let reopen = format!("{reopen} dispatched@supervisor accepted@department_handler");
        assert_eq!(run(&reopen), Ok(Some(S::Accepted)));
        let escalate = "reported@grid_worker dispatched@supervisor accepted@department_handler \
            escalated@supervisor";
        assert_eq!(run(escalate), Ok(Some(S::Escalated)));
        assert_eq!(
            run(&format!("{escalate} dispatched@admin")),
            Ok(Some(S::Dispatched))
        );
        let on_the_spot = "reported@grid_worker resolved@grid_worker confirmed@building_head";
        assert_eq!(run(on_the_spot), Ok(Some(S::Resolved)));
        assert_eq!(
            run(&format!("{on_the_spot} verified@supervisor")),
            Ok(Some(S::Verified))
        );
    }

    #[test]
    fn status_of_reports_first_bad_index() {
        // Resolved before the department accepted it, then a bad close.
        let bad = "reported@grid_worker dispatched@supervisor resolved@department_handler \
            closed@building_head";
        let (index, err) = run(bad).unwrap_err();
        assert_eq!(index, 2);
        assert_eq!(err.status, Some(S::Dispatched));
        assert_eq!(err.event, E::Resolved);
        assert_eq!(err.kind, TransitionErrorKind::NotAllowedInStatus);

        let (index, err) = run("note@grid_worker").unwrap_err();
        assert_eq!((index, err.status), (0, None));
        let (index, err) = run("reported@grid_worker reported@grid_worker").unwrap_err();
        assert_eq!((index, err.status), (1, Some(S::Reported)));
        let (index, err) = run(&format!("{HAPPY} note@grid_worker")).unwrap_err();
        assert_eq!(
            (index, err.kind),
            (8, TransitionErrorKind::NotAllowedInStatus)
        );
    }

    #[test]
    fn allowed_events_agree_with_transition() {
        for status in all_statuses() {
            for role in R::ALL {
                let listed = allowed_events(status, role);
                for event in E::ALL {
                    let ok = transition(status, event, role).is_ok();
                    assert_eq!(listed.contains(&event), ok, "{status:?} {role:?} {event:?}");
                }
            }
        }
        assert_eq!(allowed_events(None, GW), vec![E::Reported]);
        assert_eq!(allowed_events(Some(S::Closed), BH), Vec::<E>::new());
        assert_eq!(allowed_events(Some(S::Closed), SV), vec![E::Reopened]);
        assert_eq!(
            allowed_events(Some(S::Reported), GW),
            vec![E::Note, E::Resolved]
        );
    }

    #[test]
    fn payload_checks() {
        for event in [E::Returned, E::Reopened, E::Escalated] {
            for reason in [None, Some(""), Some("  \n")] {
                let err = check_event_payload(event, reason, None).unwrap_err();
                assert_eq!(err.field, "reason");
            }
            assert!(check_event_payload(event, Some("不属于本部门职责"), None).is_ok());
        }
        let err = check_event_payload(E::Resolved, Some(" "), None).unwrap_err();
        assert_eq!(err.field, "note");
        assert_eq!(err.to_string(), "required field `note` is missing or blank");
        assert!(check_event_payload(E::Resolved, Some("已清理"), None).is_ok());

        let err = check_event_payload(E::Dispatched, Some("x"), None).unwrap_err();
        assert_eq!(err.field, "department_id");
        assert!(check_event_payload(E::Dispatched, None, Some(" ")).is_err());
        assert!(check_event_payload(E::Dispatched, None, Some("dept-1")).is_ok());

        for event in [E::Note, E::Progress] {
            for note in [None, Some(""), Some(" \t")] {
                assert_eq!(check_event_payload(event, note, None).unwrap_err().field, "note", "{event:?}");
            }
            assert!(check_event_payload(event, Some("已电话联系住户"), None).is_ok());
        }
        let needs_nothing = [E::Reported, E::Accepted, E::Confirmed];
        for event in needs_nothing.into_iter().chain([E::Verified, E::Closed]) {
            assert!(check_event_payload(event, None, None).is_ok(), "{event:?}");
        }

        assert!(check_event_payload_in(Some(S::Verified), E::Closed, None, None).is_ok());
        let err = check_event_payload_in(Some(S::Reported), E::Closed, Some(""), None).unwrap_err();
        assert_eq!(err.field, "reason");
        assert!(
            check_event_payload_in(Some(S::Reported), E::Closed, Some("重复上报"), None).is_ok()
        );
        assert!(check_event_payload_in(Some(S::Reported), E::Dispatched, None, None).is_err());
    }

    #[test]
    fn open_statuses() {
        let open: Vec<S> = S::ALL.into_iter().filter(|&s| is_open(s)).collect();
        let expected = [S::Reported, S::Dispatched, S::Accepted, S::Returned];
        assert_eq!(open, [&expected[..], &[S::Escalated]].concat());
    }

    #[test]
    fn deadlines_and_overdue() {
        let d = CategoryDeadline {
            response_hours: 2,
            resolve_days: 3,
        };
        assert_eq!(response_due(1_000, &d), 1_000 + 2 * 3_600_000);
        assert_eq!(resolve_due(1_000, &d), 1_000 + 3 * 86_400_000);
        assert_eq!(response_due(i64::MAX - 1, &d), i64::MAX);

        let resp = Some(100);
        let res = Some(1_000);
        // Exactly at a deadline is not overdue.
        assert!(!overdue(S::Dispatched, 100, resp, res));
        assert!(overdue(S::Dispatched, 101, resp, res));
        assert!(!overdue(S::Accepted, 1_000, resp, res));
        assert!(overdue(S::Accepted, 1_001, resp, res));
        // Response deadline only matters until accepted.
        assert!(!overdue(S::Accepted, 101, resp, res));
        assert!(!overdue(S::Reported, 101, resp, res));
        // Closed-out statuses are never overdue.
        for s in [S::Resolved, S::Verified, S::Closed] {
            assert!(!overdue(s, i64::MAX, resp, res), "{s:?}");
        }
        for s in [S::Reported, S::Returned, S::Escalated] {
            assert!(overdue(s, 1_001, None, res), "{s:?}");
        }
        // No deadline set: never overdue.
        assert!(!overdue(S::Dispatched, i64::MAX, None, None));
    }
}
