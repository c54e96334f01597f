//! Codes and their Chinese labels for pickers and badges: care tags, severities, roles,
//! incident statuses, event kinds and task assignment statuses.

use gridline_core::incidents::SEVERITIES;
use gridline_core::{AssignmentStatus, EventKind, IncidentStatus, Role, CARE_TAGS};

/// A code with the label shown for it.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Label {
    /// Stable code (stored and sent).
    pub code: String,
    /// Simplified Chinese label.
    pub label: String,
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs.iter().map(|(code, label)| Label { code: (*code).into(), label: (*label).into() }).collect()
}

/// Care tags a household or resident may carry (独居老人, 低保户, …).
#[uniffi::export]
pub fn care_tags() -> Vec<Label> {
    labels(CARE_TAGS)
}

/// Incident severities, lowest first.
#[uniffi::export]
pub fn severities() -> Vec<Label> {
    labels(SEVERITIES)
}

/// The Chinese name of a role.
#[uniffi::export]
pub fn role_label(role: Role) -> String {
    role.label_zh().into()
}

/// The Chinese name of an incident status.
#[uniffi::export]
pub fn incident_status_label(status: IncidentStatus) -> String {
    status.label_zh().into()
}

/// The Chinese name of a task assignment's status (待提交, 待审核, 已通过, 已退回).
#[uniffi::export]
pub fn assignment_status_label(status: AssignmentStatus) -> String {
    status.label_zh().into()
}

/// The Chinese name of an incident event kind (the label of its button).
#[uniffi::export]
pub fn event_kind_label(kind: EventKind) -> String {
    kind.label_zh().into()
}
