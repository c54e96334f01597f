//! What the supervisors' console and the statistics read: the `ConsoleStore` trait and its row
//! types. Reads only; every console write goes through the push path like a device's op.

use std::collections::HashMap;

use gridline_core::record::Row;
use gridline_core::EntityKind;

use super::{StoreResult, StoredConflict};

/// An incident event with the server time it was applied.
#[derive(Debug, Clone)]
pub struct EventFact {
    /// Event kind (wire name).
    pub kind: String,
    /// Server time (ms) the event was applied.
    pub at: i64,
    /// Explicit resolve deadline set by a dispatch.
    pub deadline_at: Option<i64>,
}

/// An incident as the statistics see it.
#[derive(Debug, Clone)]
pub struct IncidentFact {
    /// Id.
    pub id: String,
    /// Category code.
    pub category: String,
    /// Grid.
    pub grid_id: String,
    /// Building.
    pub building_id: Option<String>,
    /// Current department.
    pub department_id: Option<String>,
    /// Current status (wire name).
    pub status: String,
    /// Server time (ms) the report reached the server.
    pub received_at: i64,
    /// Later events in server order, with server times.
    pub events: Vec<EventFact>,
}

/// Everything the statistics need for one date range.
#[derive(Debug, Clone, Default)]
pub struct StatsFacts {
    /// Incidents received in the range.
    pub incidents: Vec<IncidentFact>,
    /// Households per grid (the register as it is now).
    pub households_per_grid: HashMap<String, i64>,
    /// Distinct households visited per grid, by visits received in the range.
    pub visited_per_grid: HashMap<String, i64>,
}

/// Filters of the incident list. Empty vectors/`None` mean "any".
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    /// Grids the caller may see (`None`: all).
    pub grids: Option<Vec<String>>,
    /// Departments (for department handlers).
    pub departments: Option<Vec<String>>,
    /// Buildings (for building heads).
    pub buildings: Option<Vec<String>>,
    /// Status.
    pub status: Option<String>,
    /// Category code.
    pub category: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Only incidents still needing work (not resolved, verified or closed).
    pub open_only: bool,
    /// Only incidents overdue at this time (ms): open past their resolve deadline, or
    /// dispatched past their response deadline (`incident_flow::overdue`).
    pub overdue_at: Option<i64>,
    /// Received at or after (server ms).
    pub from: Option<i64>,
    /// Received before (server ms).
    pub to: Option<i64>,
    /// Most rows.
    pub limit: usize,
}

/// Records of `entity` whose grid is in `grids`, whose `time_field` is in `[from, to)`,
/// optionally of one `owner` (a patrol's or visit's worker).
#[derive(Debug, Clone)]
pub struct RowsIn<'a> {
    /// Kind.
    pub entity: EntityKind,
    /// Grids (`None`: any).
    pub grids: Option<&'a [String]>,
    /// The time field.
    pub time_field: &'static str,
    /// From (inclusive).
    pub from: i64,
    /// To (exclusive).
    pub to: i64,
    /// Owner.
    pub owner: Option<&'a str>,
    /// Most rows.
    pub limit: usize,
}

/// One row of the change log.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    /// Sequence (the op's version).
    pub seq: i64,
    /// Server time (ms).
    pub at: i64,
    /// Writer device (or `server`).
    pub device_id: String,
    /// User.
    pub user_id: String,
    /// Op id.
    pub op_id: String,
    /// Device clock (ms).
    pub device_time: i64,
    /// Kind of record.
    pub entity: String,
    /// Record id.
    pub entity_id: String,
    /// create / update / delete / event.
    pub kind: String,
    /// Event kind for events.
    pub event_kind: Option<String>,
    /// Event id for events.
    pub event_id: Option<String>,
    /// The record's grid/area.
    pub area_id: Option<String>,
    /// The record's department.
    pub department_id: Option<String>,
    /// The op's fields as sent (JSON object text).
    pub fields_json: String,
}

/// Filters of the change log. `None` means "any".
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    /// Areas the caller may see (`None`: all).
    pub areas: Option<Vec<String>>,
    /// Departments the caller may see (handlers).
    pub departments: Option<Vec<String>>,
    /// User.
    pub user_id: Option<String>,
    /// Device.
    pub device_id: Option<String>,
    /// Grid/area.
    pub area: Option<String>,
    /// Kind of record.
    pub entity: Option<String>,
    /// One record (its whole history, events included).
    pub entity_id: Option<String>,
    /// Server time at or after.
    pub from: Option<i64>,
    /// Server time before.
    pub to: Option<i64>,
    /// Most rows.
    pub limit: usize,
}

/// A device with its owner, for the sync history.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    /// Device id.
    pub id: String,
    /// Owner id.
    pub user_id: String,
    /// Owner login.
    pub username: String,
    /// Label.
    pub name: String,
    /// Enrolled at.
    pub created_at: i64,
    /// Last push or pull.
    pub last_seen_at: Option<i64>,
    /// Revoked at.
    pub revoked_at: Option<i64>,
}

/// One push or pull of a device.
#[derive(Debug, Clone)]
pub struct SyncLogRow {
    /// Server time.
    pub at: i64,
    /// push / pull.
    pub kind: String,
    /// Ops pushed or changes pulled.
    pub ops: i64,
    /// Ops rejected.
    pub rejected: i64,
}

/// An op the server rejected.
#[derive(Debug, Clone)]
pub struct RejectedRow {
    /// Op id.
    pub op_id: String,
    /// Server time.
    pub received_at: i64,
    /// Device clock.
    pub device_time: i64,
    /// Machine code.
    pub code: String,
    /// Reason (Chinese).
    pub reason: String,
}

/// A conflict with its restore state.
#[derive(Debug, Clone)]
pub struct ConflictRow {
    /// The conflict.
    pub stored: StoredConflict,
    /// When it was restored, if it was.
    pub restored_at: Option<i64>,
}

/// Reads for the console and the statistics.
pub trait ConsoleStore: Send + Sync {
    /// Facts for the statistics over `[from, to)` (server time).
    fn stats_facts(&self, from: i64, to: i64) -> StoreResult<StatsFacts>;
    /// Every row of a small kind (areas, departments, categories, tasks).
    fn all(&self, entity: EntityKind) -> StoreResult<Vec<Row>>;
    /// One record.
    fn record(&self, entity: EntityKind, id: &str) -> StoreResult<Option<Row>>;
    /// Whether a record of that id was deleted (its tombstone is held): the id cannot be
    /// created again.
    fn deleted(&self, entity: EntityKind, id: &str) -> StoreResult<bool>;
    /// Records whose `field` equals `value` (`field` must be a field of `entity`).
    fn records_by(&self, entity: EntityKind, field: &str, value: &str) -> StoreResult<Vec<Row>>;
    /// Records in a time range (see [`RowsIn`]), newest first.
    fn records_in(&self, q: &RowsIn<'_>) -> StoreResult<Vec<Row>>;
    /// Incidents matching `q`, newest received first, each with its server receive time.
    fn incidents(&self, q: &IncidentQuery) -> StoreResult<Vec<(Row, i64)>>;
    /// Server receive time of a record's creation.
    fn received_at(&self, entity: EntityKind, id: &str) -> StoreResult<Option<i64>>;
    /// Changes matching `q`, newest first.
    fn changes(&self, q: &ChangeQuery) -> StoreResult<Vec<ChangeRow>>;
    /// Every device, with its user.
    fn all_devices(&self) -> StoreResult<Vec<DeviceRow>>;
    /// A device's pushes and pulls, newest first.
    fn sync_log(&self, device_id: &str, limit: usize) -> StoreResult<Vec<SyncLogRow>>;
    /// A device's rejected ops, newest first.
    fn rejected_ops(&self, device_id: &str, limit: usize) -> StoreResult<Vec<RejectedRow>>;
    /// Conflicts with their restore state, newest first.
    fn conflict_rows(&self, limit: usize) -> StoreResult<Vec<ConflictRow>>;
    /// Marks a conflict restored. False when there is no such conflict or it was restored.
    fn mark_conflict_restored(&self, id: i64, at: i64) -> StoreResult<bool>;
}
