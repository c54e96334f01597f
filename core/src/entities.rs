//! The synced entity kinds, their tables and fields: the one description that outbox replay,
//! pull apply, canonical dumps and the server's generic storage all share.

use serde::{Deserialize, Serialize};

/// A kind of synced record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A node of the jurisdiction tree (city → … → grid).
    Area,
    /// A department incidents are dispatched to.
    Department,
    /// An incident category with its deadlines.
    Category,
    /// A building in a grid.
    Building,
    /// A household (户) in a building.
    Household,
    /// A resident (人口) in a household.
    Resident,
    /// An incident (事件).
    Incident,
    /// One event of an incident's timeline (append-only).
    IncidentEvent,
    /// A patrol (巡查) session.
    Patrol,
    /// A chunk of GPS points of a patrol.
    PatrolTrack,
    /// A household visit (走访).
    Visit,
    /// A task (任务) issued by a supervisor.
    Task,
    /// One assignee's part of a task, with evidence and review.
    TaskAssignment,
}

/// How a field is stored in SQLite and carried in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// TEXT ↔ JSON string.
    Text,
    /// INTEGER ↔ JSON integer.
    Int,
    /// REAL ↔ JSON number.
    Real,
    /// TEXT holding JSON ↔ JSON array or object.
    Json,
}

/// One column of an entity table (besides `id` and `version`).
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// Column and JSON name.
    pub name: &'static str,
    /// Storage type.
    pub ty: FieldType,
    /// May be NULL / absent.
    pub nullable: bool,
    /// Personal data (ID numbers, phones): masked for roles that do not need it.
    pub personal: bool,
    /// Derived by the core (e.g. an incident's status): never written by an update op.
    pub derived: bool,
}

const fn f(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec { name, ty, nullable: false, personal: false, derived: false }
}
const fn opt(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec { name, ty, nullable: true, personal: false, derived: false }
}
const fn personal(name: &'static str) -> FieldSpec {
    FieldSpec { name, ty: FieldType::Text, nullable: true, personal: true, derived: false }
}
const fn derived(name: &'static str, ty: FieldType) -> FieldSpec {
    FieldSpec { name, ty, nullable: true, personal: false, derived: true }
}

use FieldType::{Int, Json, Real, Text};

const AREA: &[FieldSpec] = &[opt("parent_id", Text), f("kind", Text), f("code", Text), f("name", Text)];
const DEPARTMENT: &[FieldSpec] = &[f("code", Text), f("name", Text)];
const CATEGORY: &[FieldSpec] = &[f("name", Text), f("response_hours", Int), f("resolve_days", Int)];
const BUILDING: &[FieldSpec] = &[
    f("grid_id", Text),
    f("name", Text),
    f("address", Text),
    opt("floors", Int),
    opt("head_user_id", Text),
];
const HOUSEHOLD: &[FieldSpec] = &[
    f("building_id", Text),
    f("grid_id", Text),
    f("room", Text),
    f("address", Text),
    f("head_name", Text),
    personal("phone"),
    f("member_count", Int),
    f("care_tags", Json),
    f("notes", Text),
];
const RESIDENT: &[FieldSpec] = &[
    f("household_id", Text),
    f("building_id", Text),
    f("grid_id", Text),
    f("name", Text),
    personal("id_number"),
    personal("phone"),
    opt("birth_date", Text),
    f("relation", Text),
    f("tags", Json),
    f("notes", Text),
];
const INCIDENT: &[FieldSpec] = &[
    f("category", Text),
    f("severity", Text),
    f("grid_id", Text),
    opt("building_id", Text),
    opt("household_id", Text),
    opt("lat", Real),
    opt("lng", Real),
    f("location_text", Text),
    f("description", Text),
    f("photos", Json),
    f("reporter_id", Text),
    f("reporter_role", Text),
    f("reported_at", Int),
    derived("status", Text),
    derived("department_id", Text),
    derived("response_due_at", Int),
    derived("resolve_due_at", Int),
    derived("updated_at", Int),
];
const INCIDENT_EVENT: &[FieldSpec] = &[
    f("incident_id", Text),
    f("kind", Text),
    f("actor_id", Text),
    f("actor_role", Text),
    f("at", Int),
    f("note", Text),
    opt("department_id", Text),
    opt("deadline_at", Int),
];
const PATROL: &[FieldSpec] = &[
    f("grid_id", Text),
    f("worker_id", Text),
    f("started_at", Int),
    opt("ended_at", Int),
    derived("distance_m", Real),
    f("note", Text),
];
const PATROL_TRACK: &[FieldSpec] =
    &[f("patrol_id", Text), f("grid_id", Text), f("points", Json)];
const VISIT: &[FieldSpec] = &[
    f("household_id", Text),
    f("grid_id", Text),
    f("worker_id", Text),
    f("visited_at", Int),
    f("purpose", Text),
    f("notes", Text),
    f("findings", Text),
    opt("incident_id", Text),
];
const TASK: &[FieldSpec] = &[
    f("area_id", Text),
    f("title", Text),
    f("description", Text),
    f("due_at", Int),
    f("issued_by", Text),
    f("issued_at", Int),
];
const TASK_ASSIGNMENT: &[FieldSpec] = &[
    f("task_id", Text),
    f("grid_id", Text),
    opt("assignee_id", Text),
    f("status", Text),
    f("evidence_text", Text),
    f("evidence_photos", Json),
    opt("submitted_at", Int),
    f("review_note", Text),
    opt("reviewed_at", Int),
];

impl EntityKind {
    /// Every kind, parents before children (the order a bootstrap applies them in).
    pub const ALL: [EntityKind; 13] = [
        EntityKind::Area,
        EntityKind::Department,
        EntityKind::Category,
        EntityKind::Building,
        EntityKind::Household,
        EntityKind::Resident,
        EntityKind::Incident,
        EntityKind::IncidentEvent,
        EntityKind::Patrol,
        EntityKind::PatrolTrack,
        EntityKind::Visit,
        EntityKind::Task,
        EntityKind::TaskAssignment,
    ];

    /// The wire name (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Area => "area",
            EntityKind::Department => "department",
            EntityKind::Category => "category",
            EntityKind::Building => "building",
            EntityKind::Household => "household",
            EntityKind::Resident => "resident",
            EntityKind::Incident => "incident",
            EntityKind::IncidentEvent => "incident_event",
            EntityKind::Patrol => "patrol",
            EntityKind::PatrolTrack => "patrol_track",
            EntityKind::Visit => "visit",
            EntityKind::Task => "task",
            EntityKind::TaskAssignment => "task_assignment",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The SQLite table holding this kind (same name on device and server).
    pub fn table(self) -> &'static str {
        match self {
            EntityKind::Area => "areas",
            EntityKind::Department => "departments",
            EntityKind::Category => "categories",
            EntityKind::Building => "buildings",
            EntityKind::Household => "households",
            EntityKind::Resident => "residents",
            EntityKind::Incident => "incidents",
            EntityKind::IncidentEvent => "incident_events",
            EntityKind::Patrol => "patrols",
            EntityKind::PatrolTrack => "patrol_tracks",
            EntityKind::Visit => "visits",
            EntityKind::Task => "tasks",
            EntityKind::TaskAssignment => "task_assignments",
        }
    }

    /// The fields (columns besides `id` and `version`).
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            EntityKind::Area => AREA,
            EntityKind::Department => DEPARTMENT,
            EntityKind::Category => CATEGORY,
            EntityKind::Building => BUILDING,
            EntityKind::Household => HOUSEHOLD,
            EntityKind::Resident => RESIDENT,
            EntityKind::Incident => INCIDENT,
            EntityKind::IncidentEvent => INCIDENT_EVENT,
            EntityKind::Patrol => PATROL,
            EntityKind::PatrolTrack => PATROL_TRACK,
            EntityKind::Visit => VISIT,
            EntityKind::Task => TASK,
            EntityKind::TaskAssignment => TASK_ASSIGNMENT,
        }
    }

    /// The field spec of `name`, if this kind has such a field.
    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// Reference data maintained by the server only; devices never write it.
    pub fn is_reference(self) -> bool {
        matches!(self, EntityKind::Area | EntityKind::Department | EntityKind::Category)
    }

    /// Chinese label for screens and error messages.
    pub fn label_zh(self) -> &'static str {
        match self {
            EntityKind::Area => "区域",
            EntityKind::Department => "部门",
            EntityKind::Category => "事件类别",
            EntityKind::Building => "楼栋",
            EntityKind::Household => "住户",
            EntityKind::Resident => "人口",
            EntityKind::Incident => "事件",
            EntityKind::IncidentEvent => "事件记录",
            EntityKind::Patrol => "巡查",
            EntityKind::PatrolTrack => "巡查轨迹",
            EntityKind::Visit => "走访",
            EntityKind::Task => "任务",
            EntityKind::TaskAssignment => "任务分派",
        }
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
