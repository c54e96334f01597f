//! The field work's data as foreign records: incidents and their timelines, patrols, visits and
//! tasks. Each is the core's own type declared with `#[uniffi::remote]`, as in `register.rs`.

use gridline_core::{
    AssignmentStatus, EventKind, GpsPoint, Incident, IncidentEvent, IncidentFilter, IncidentStatus, NewEvent,
    NewIncident, NewTask, NewVisit, Patrol, Role, Task, TaskAssignment, TaskTarget, Visit,
};

/// The status of an incident, derived from its timeline by the shared state machine.
#[uniffi::remote(Enum)]
pub enum IncidentStatus {
    /// Reported, waiting to be dispatched (待派遣).
    Reported,
    /// Dispatched to a department, not yet accepted (已派遣).
    Dispatched,
    /// Accepted by the department, being handled (处理中).
    Accepted,
    /// Returned by the department (已退回).
    Returned,
    /// Resolved, waiting for verification (已办结待核查).
    Resolved,
    /// Resolution verified by a supervisor (已核查).
    Verified,
    /// Closed (已结案).
    Closed,
    /// Escalated to a higher level (已上报上级).
    Escalated,
}

/// The kind of an event on an incident's timeline.
#[uniffi::remote(Enum)]
pub enum EventKind {
    /// Reported (always the first event).
    Reported,
    /// Dispatched to a department.
    Dispatched,
    /// Accepted by the department.
    Accepted,
    /// Returned by the department, with a reason.
    Returned,
    /// A progress note from the handler.
    Progress,
    /// A free note; does not change the status.
    Note,
    /// Resolved (by the handler, or on the spot by the grid worker).
    Resolved,
    /// The fix was confirmed with the resident; does not change the status.
    Confirmed,
    /// A supervisor verified the resolution.
    Verified,
    /// A supervisor reopened the incident.
    Reopened,
    /// Closed.
    Closed,
    /// Escalated to a higher level.
    Escalated,
}

/// An incident (事件), with `overdue` derived when read.
#[uniffi::remote(Record)]
pub struct Incident {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
    pub version: i64,
    /// Category code.
    pub category: String,
    /// Severity code (see `severities()`).
    pub severity: String,
    /// Grid.
    pub grid_id: String,
    /// Building, if any.
    pub building_id: Option<String>,
    /// Household, if any.
    pub household_id: Option<String>,
    /// Latitude.
    pub lat: Option<f64>,
    /// Longitude.
    pub lng: Option<f64>,
    /// Where, in words.
    pub location_text: String,
    /// What happened.
    pub description: String,
    /// Photo hashes (SHA-256 hex).
    pub photos: Vec<String>,
    /// Reporter's user id.
    pub reporter_id: String,
    /// Reporter's role.
    pub reporter_role: Role,
    /// When it was reported (device time, ms).
    pub reported_at: i64,
    /// Current status (derived from the timeline).
    pub status: IncidentStatus,
    /// Department it is dispatched to.
    pub department_id: Option<String>,
    /// The department must accept by then (ms).
    pub response_due_at: Option<i64>,
    /// Must be resolved by then (ms).
    pub resolve_due_at: Option<i64>,
    /// Time of the last event (ms).
    pub updated_at: i64,
    /// Open and past a deadline.
    pub overdue: bool,
}

/// One event of an incident's timeline.
#[uniffi::remote(Record)]
pub struct IncidentEvent {
    /// Id (the incident's id for the `Reported` event).
    pub id: String,
    /// Server version (0 until the server has it).
    pub version: i64,
    /// Incident.
    pub incident_id: String,
    /// What happened.
    pub kind: EventKind,
    /// Who.
    pub actor_id: String,
    /// In which role.
    pub actor_role: Role,
    /// When (device time, ms).
    pub at: i64,
    /// Note, reason or evidence text.
    pub note: String,
    /// Department (dispatch).
    pub department_id: Option<String>,
    /// Deadline set by a dispatch (ms).
    pub deadline_at: Option<i64>,
}

/// Input of an incident report (also used to edit what was reported).
#[uniffi::remote(Record)]
pub struct NewIncident {
    /// Category code (see `categories()`).
    pub category: String,
    /// Severity code; empty means `normal`.
    #[uniffi(default)]
    pub severity: String,
    /// Grid; may be empty when a building or household is given.
    #[uniffi(default)]
    pub grid_id: String,
    /// Building.
    #[uniffi(default)]
    pub building_id: Option<String>,
    /// Household.
    #[uniffi(default)]
    pub household_id: Option<String>,
    /// Latitude.
    #[uniffi(default)]
    pub lat: Option<f64>,
    /// Longitude.
    #[uniffi(default)]
    pub lng: Option<f64>,
    /// Where, in words.
    #[uniffi(default)]
    pub location_text: String,
    /// What happened.
    pub description: String,
    /// Photo hashes.
    #[uniffi(default)]
    pub photos: Vec<String>,
}

/// Input of a timeline event.
#[uniffi::remote(Record)]
pub struct NewEvent {
    /// Event kind (not `Reported`: that is the report itself).
    pub kind: EventKind,
    /// Note, reason or evidence.
    #[uniffi(default)]
    pub note: String,
    /// Department, for a dispatch.
    #[uniffi(default)]
    pub department_id: Option<String>,
    /// Resolve deadline for a dispatch (ms; default: the category's).
    #[uniffi(default)]
    pub deadline_at: Option<i64>,
}

/// Filter of the incident list; empty fields do not filter.
#[uniffi::remote(Record)]
pub struct IncidentFilter {
    /// Any of these statuses.
    #[uniffi(default)]
    pub statuses: Vec<IncidentStatus>,
    /// Grid.
    #[uniffi(default)]
    pub grid_id: Option<String>,
    /// Category.
    #[uniffi(default)]
    pub category: Option<String>,
    /// Building.
    #[uniffi(default)]
    pub building_id: Option<String>,
    /// Only overdue ones.
    #[uniffi(default)]
    pub overdue_only: bool,
    /// At most this many (0: 200).
    #[uniffi(default)]
    pub limit: u32,
}

/// One GPS fix.
#[uniffi::remote(Record)]
pub struct GpsPoint {
    /// Latitude (WGS-84).
    pub lat: f64,
    /// Longitude.
    pub lng: f64,
    /// Device time of the fix (ms).
    pub at: i64,
    /// Reported accuracy in metres.
    #[uniffi(default)]
    pub accuracy_m: Option<f64>,
}

/// A patrol (巡查) of a grid.
#[uniffi::remote(Record)]
pub struct Patrol {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
    pub version: i64,
    /// Grid patrolled.
    pub grid_id: String,
    /// Worker.
    pub worker_id: String,
    /// Start (ms).
    pub started_at: i64,
    /// End (null while under way).
    pub ended_at: Option<i64>,
    /// Distance walked, metres (derived from the track).
    pub distance_m: f64,
    /// Note.
    pub note: String,
}

/// A household visit (走访).
#[uniffi::remote(Record)]
pub struct Visit {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
    pub version: i64,
    /// Household visited.
    pub household_id: String,
    /// Its grid.
    pub grid_id: String,
    /// Worker.
    pub worker_id: String,
    /// When (ms).
    pub visited_at: i64,
    /// Purpose (e.g. 日常走访, 关爱探访).
    pub purpose: String,
    /// Notes.
    pub notes: String,
    /// Findings.
    pub findings: String,
    /// Incident raised during the visit.
    pub incident_id: Option<String>,
}

/// Input of a visit; `raise_incident` reports an incident in the same transaction.
#[uniffi::remote(Record)]
pub struct NewVisit {
    /// Household.
    pub household_id: String,
    /// Purpose.
    pub purpose: String,
    /// Notes.
    #[uniffi(default)]
    pub notes: String,
    /// Findings.
    #[uniffi(default)]
    pub findings: String,
    /// An incident to report from this visit (its household is the visited one).
    #[uniffi(default)]
    pub raise_incident: Option<NewIncident>,
}

/// Status of one task assignment.
#[uniffi::remote(Enum)]
pub enum AssignmentStatus {
    /// Waiting for evidence.
    Pending,
    /// Evidence submitted, waiting for review.
    Submitted,
    /// Approved by the supervisor.
    Approved,
    /// Returned with a reason; evidence must be submitted again.
    Returned,
}

/// A task (任务) issued by a supervisor.
#[uniffi::remote(Record)]
pub struct Task {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
    pub version: i64,
    /// Area the task belongs to.
    pub area_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Due date (ms).
    pub due_at: i64,
    /// Issuing supervisor.
    pub issued_by: String,
    /// When issued (ms).
    pub issued_at: i64,
}

/// One assignee's part of a task.
#[uniffi::remote(Record)]
pub struct TaskAssignment {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
    pub version: i64,
    /// Task.
    pub task_id: String,
    /// Grid assigned.
    pub grid_id: String,
    /// Worker assigned (null: whoever works the grid).
    pub assignee_id: Option<String>,
    /// Status.
    pub status: AssignmentStatus,
    /// Evidence text.
    pub evidence_text: String,
    /// Evidence photo hashes.
    pub evidence_photos: Vec<String>,
    /// When evidence was submitted (ms).
    pub submitted_at: Option<i64>,
    /// Supervisor's review note.
    pub review_note: String,
    /// When reviewed (ms).
    pub reviewed_at: Option<i64>,
}

/// Who a task goes to: a grid, optionally a named worker in it.
#[uniffi::remote(Record)]
pub struct TaskTarget {
    /// Grid.
    pub grid_id: String,
    /// Worker, if the task is for one person.
    #[uniffi(default)]
    pub assignee_id: Option<String>,
}

/// Input of a new task.
#[uniffi::remote(Record)]
pub struct NewTask {
    /// Area the task belongs to.
    pub area_id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[uniffi(default)]
    pub description: String,
    /// Due date (ms).
    pub due_at: i64,
    /// Targets (at least one).
    pub targets: Vec<TaskTarget>,
}
