//! Incidents (事件): reporting, the append-only timeline, status derived by the state machine,
//! deadlines per category and the derived `overdue` flag.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::Action;
use crate::areas::category;
use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::households::into_fields;
use crate::incident_flow::{self, CategoryDeadline, EventKind, IncidentStatus, Role};
use crate::input;
use crate::mutate::Writer;
use crate::protocol::OpKind;
use crate::record::{self, Fields};
use crate::store::Store;

/// Severity levels.
pub const SEVERITIES: &[(&str, &str)] = &[("low", "一般"), ("normal", "较重"), ("high", "严重"), ("urgent", "紧急")];

/// An incident as stored, with `overdue` derived at read time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Category code.
    pub category: String,
    /// Severity code (see [`SEVERITIES`]).
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
    /// When it was reported (device time).
    pub reported_at: i64,
    /// Current status (derived from the timeline).
    pub status: IncidentStatus,
    /// Department it is dispatched to.
    pub department_id: Option<String>,
    /// The department must accept by then.
    pub response_due_at: Option<i64>,
    /// Must be resolved by then.
    pub resolve_due_at: Option<i64>,
    /// Time of the last event.
    pub updated_at: i64,
    /// Derived: open and past a deadline.
    #[serde(default)]
    pub overdue: bool,
}

/// One timeline event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEvent {
    /// Id (the incident's id for the `reported` event).
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Incident.
    pub incident_id: String,
    /// What happened.
    pub kind: EventKind,
    /// Who.
    pub actor_id: String,
    /// In which role.
    pub actor_role: Role,
    /// When (device time).
    pub at: i64,
    /// Note, reason or evidence text.
    pub note: String,
    /// Department (dispatch).
    pub department_id: Option<String>,
    /// Deadline set by a dispatch.
    pub deadline_at: Option<i64>,
}

/// Input of a new incident report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewIncident {
    /// Category code.
    pub category: String,
    /// Severity code; empty means `normal`.
    #[serde(default)]
    pub severity: String,
    /// Grid; may be empty when a building or household is given.
    #[serde(default)]
    pub grid_id: String,
    /// Building.
    #[serde(default)]
    pub building_id: Option<String>,
    /// Household.
    #[serde(default)]
    pub household_id: Option<String>,
    /// Latitude.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude.
    #[serde(default)]
    pub lng: Option<f64>,
    /// Where, in words.
    #[serde(default)]
    pub location_text: String,
    /// What happened.
    pub description: String,
    /// Photo hashes.
    #[serde(default)]
    pub photos: Vec<String>,
}

/// Input of a timeline event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Event kind (not `reported`: that is the report itself).
    pub kind: EventKind,
    /// Note, reason or evidence.
    #[serde(default)]
    pub note: String,
    /// Department, for a dispatch.
    #[serde(default)]
    pub department_id: Option<String>,
    /// Resolve deadline, for a dispatch (default: the category's).
    #[serde(default)]
    pub deadline_at: Option<i64>,
}

/// Filter of the incident list; empty fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentFilter {
    /// Any of these statuses.
    #[serde(default)]
    pub statuses: Vec<IncidentStatus>,
    /// Grid.
    #[serde(default)]
    pub grid_id: Option<String>,
    /// Category.
    #[serde(default)]
    pub category: Option<String>,
    /// Building.
    #[serde(default)]
    pub building_id: Option<String>,
    /// Only overdue ones.
    #[serde(default)]
    pub overdue_only: bool,
    /// At most this many (0: 200).
    #[serde(default)]
    pub limit: u32,
}

fn check_photos(photos: &[String]) -> Result<()> {
    input::photo_refs("photos", &photos.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Builds the fields of a new incident for the current user (validates everything).
pub(crate) fn incident_fields(w: &Writer<'_>, n: &NewIncident) -> Result<Fields> {
    if category(w.tx, &n.category)?.is_none() {
        return Err(Error::invalid("category", "未知的事件类别"));
    }
    let severity = if n.severity.trim().is_empty() { "normal" } else { n.severity.trim() };
    if !SEVERITIES.iter().any(|(c, _)| *c == severity) {
        return Err(Error::invalid("severity", "未知的紧急程度"));
    }
    let (mut grid, mut building) = (n.grid_id.trim().to_owned(), n.building_id.clone().filter(|b| !b.is_empty()));
    let household = n.household_id.clone().filter(|h| !h.is_empty());
    if let Some(h) = &household {
        let row = record::get(w.tx, EntityKind::Household, h)?.ok_or_else(|| Error::invalid("household_id", "住户不存在"))?;
        let s = |k: &str| row.fields.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        if building.as_ref().is_some_and(|b| *b != s("building_id")) {
            return Err(Error::invalid("household_id", "住户不在所选楼栋"));
        }
        building = Some(s("building_id"));
    }
    if let Some(b) = &building {
        let row = record::get(w.tx, EntityKind::Building, b)?.ok_or_else(|| Error::invalid("building_id", "楼栋不存在"))?;
        let g = row.fields.get("grid_id").and_then(Value::as_str).unwrap_or_default();
        if !grid.is_empty() && grid != g {
            return Err(Error::invalid("building_id", "楼栋不在所选网格"));
        }
        grid = g.to_owned();
    }
    let is_grid = record::get(w.tx, EntityKind::Area, &grid)?
        .is_some_and(|a| a.fields.get("kind").and_then(Value::as_str) == Some("grid"));
    if !is_grid {
        return Err(Error::invalid("grid_id", "网格不存在"));
    }
    input::location(n.lat, n.lng)?;
    check_photos(&n.photos)?;
    Ok(into_fields(json!({
        "category": n.category,
        "severity": severity,
        "grid_id": grid,
        "building_id": building,
        "household_id": household,
        "lat": n.lat,
        "lng": n.lng,
        "location_text": input::free_text("location_text", &n.location_text, 200)?,
        "description": input::text("description", &n.description, 2000)?,
        "photos": n.photos,
        "reporter_id": w.who.user_id,
        "reporter_role": w.who.role,
        "reported_at": w.now,
    })))
}

/// After an incident row is inserted: its `reported` event (id = the incident's) and status.
pub(crate) fn after_create(conn: &Connection, id: &str) -> Result<()> {
    let row = record::require(conn, EntityKind::Incident, id)?;
    if !record::exists(conn, EntityKind::IncidentEvent, id)? {
        let f = into_fields(json!({
            "incident_id": id,
            "kind": EventKind::Reported,
            "actor_id": row.fields.get("reporter_id"),
            "actor_role": row.fields.get("reporter_role"),
            "at": row.fields.get("reported_at"),
            "note": "",
            "department_id": null,
            "deadline_at": null,
        }));
        record::insert(conn, EntityKind::IncidentEvent, id, 0, &f)?;
    }
    recompute(conn, id)
}

/// The timeline in order: events the server has ordered (by version), then local ones.
pub(crate) fn timeline(conn: &Connection, incident_id: &str) -> Result<Vec<IncidentEvent>> {
    let rows = record::select_where(
        conn,
        EntityKind::IncidentEvent,
        "incident_id = ?1 ORDER BY version = 0, version, at, rowid",
        &[&incident_id],
    )?;
    rows.into_iter().map(record::typed).collect()
}

/// Derives status, department and deadlines of an incident from its timeline. Events the
/// state machine refuses (a local event overtaken by the server's) are skipped here; the
/// server will reject them when they are pushed.
pub fn recompute(conn: &Connection, incident_id: &str) -> Result<()> {
    let Some(row) = record::get(conn, EntityKind::Incident, incident_id)? else { return Ok(()) };
    let cat = row.fields.get("category").and_then(Value::as_str).unwrap_or_default();
    let deadline = category(conn, cat)?.map(|c| c.deadline()).unwrap_or(CategoryDeadline { response_hours: 24, resolve_days: 15 });
    let reported_at = row.fields.get("reported_at").and_then(Value::as_i64).unwrap_or(0);
    let mut status: Option<IncidentStatus> = None;
    let mut department: Option<String> = None;
    let mut response_due: Option<i64> = None;
    let mut resolve_due = Some(incident_flow::resolve_due(reported_at, &deadline));
    let mut updated = reported_at;
    for e in timeline(conn, incident_id)? {
        let Ok(next) = incident_flow::transition(status, e.kind, e.actor_role) else { continue };
        status = Some(next);
        updated = updated.max(e.at);
        if e.kind == EventKind::Dispatched {
            department = e.department_id.clone();
            response_due = Some(incident_flow::response_due(e.at, &deadline));
            if let Some(d) = e.deadline_at {
                resolve_due = Some(d);
            }
        }
    }
    let status = status.unwrap_or(IncidentStatus::Reported);
    conn.prepare_cached(
        "UPDATE incidents SET status = ?1, department_id = ?2, response_due_at = ?3, resolve_due_at = ?4, \
         updated_at = ?5 WHERE id = ?6",
    )?
    .execute(rusqlite::params![status.as_str(), department, response_due, resolve_due, updated, incident_id])?;
    Ok(())
}

fn typed_incident(row: record::Row, now: i64) -> Result<Incident> {
    let mut i: Incident = record::typed(row)?;
    i.overdue = incident_flow::overdue(i.status, now, i.response_due_at, i.resolve_due_at);
    Ok(i)
}

impl Store {
    /// Reports an incident; its timeline starts with a `reported` event.
    pub fn report_incident(&self, new: NewIncident) -> Result<Incident> {
        let who = self.require_principal()?;
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let fields = incident_fields(&w, &new)?;
            w.create(EntityKind::Incident, &id, fields).map(|_| ())
        })?;
        self.incident(&id)
    }

    /// Edits what was reported (description, location, photos, category, severity).
    pub fn update_incident(&self, id: &str, new: NewIncident) -> Result<Incident> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let mut f = incident_fields(&w, &new)?;
            for k in ["reporter_id", "reporter_role", "reported_at"] {
                f.remove(k);
            }
            w.update(EntityKind::Incident, id, f)?;
            recompute(tx, id)
        })?;
        self.incident(id)
    }

    /// Appends an event to an incident's timeline, if the state machine allows it for the
    /// user's role in the incident's current status.
    pub fn add_incident_event(&self, incident_id: &str, event: NewEvent) -> Result<Incident> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let row = record::require(tx, EntityKind::Incident, incident_id)?;
            w.check(EntityKind::Incident, incident_id, &row.fields, Action::Event(event.kind), &[])?;
            let status = row.fields.get("status").and_then(Value::as_str).and_then(IncidentStatus::parse);
            incident_flow::transition(status, event.kind, who.role)?;
            incident_flow::check_event_payload_in(status, event.kind, Some(&event.note), event.department_id.as_deref())
                .map_err(|e| Error::invalid(e.field, e.message_zh))?;
            let note = input::free_text("note", &event.note, 2000)?;
            let mut deadline_at = None;
            if event.kind == EventKind::Dispatched {
                let dept = event.department_id.as_deref().unwrap_or_default();
                if !record::exists(tx, EntityKind::Department, dept)? {
                    return Err(Error::invalid("department_id", "部门不存在"));
                }
                if let Some(d) = event.deadline_at {
                    if d <= w.now {
                        return Err(Error::invalid("deadline_at", "办结期限应晚于当前时间"));
                    }
                }
                deadline_at = event.deadline_at;
            }
            let event_id = uuid::Uuid::now_v7().to_string();
            let department = if event.kind == EventKind::Dispatched { event.department_id.clone() } else { None };
            let fields = into_fields(json!({
                "incident_id": incident_id,
                "kind": event.kind,
                "actor_id": who.user_id,
                "actor_role": who.role,
                "at": w.now,
                "note": note,
                "department_id": department,
                "deadline_at": deadline_at,
            }));
            record::insert(tx, EntityKind::IncidentEvent, &event_id, 0, &fields)?;
            recompute(tx, incident_id)?;
            let mut op_fields = fields;
            op_fields.insert("id".into(), json!(event_id));
            crate::outbox::append(tx, EntityKind::Incident, incident_id, OpKind::Event, op_fields, row.version, w.now)?;
            Ok(())
        })?;
        self.incident(incident_id)
    }

    /// One incident.
    pub fn incident(&self, id: &str) -> Result<Incident> {
        let row = self.read(|c| record::require(c, EntityKind::Incident, id))?;
        typed_incident(row, self.now_ms())
    }

    /// An incident's timeline, oldest first.
    pub fn incident_timeline(&self, id: &str) -> Result<Vec<IncidentEvent>> {
        self.read(|c| timeline(c, id))
    }

    /// The events the user could append now (for showing only the buttons that work).
    pub fn allowed_incident_events(&self, id: &str) -> Result<Vec<EventKind>> {
        let who = self.require_principal()?;
        let i = self.incident(id)?;
        Ok(incident_flow::allowed_events(Some(i.status), who.role)
            .into_iter()
            .filter(|k| *k != EventKind::Reported)
            .collect())
    }

    /// Incidents matching a filter, most recently changed first.
    pub fn incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>> {
        let now = self.now_ms();
        let mut clause = vec!["1".to_owned()];
        let mut params: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        if !filter.statuses.is_empty() {
            let marks: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| {
                    params.push(Box::new(s.as_str()));
                    format!("?{}", params.len())
                })
                .collect();
            clause.push(format!("status IN ({})", marks.join(",")));
        }
        for (col, v) in [("grid_id", &filter.grid_id), ("category", &filter.category), ("building_id", &filter.building_id)] {
            if let Some(v) = v {
                params.push(Box::new(v.clone()));
                clause.push(format!("{col} = ?{}", params.len()));
            }
        }
        if filter.overdue_only {
            params.push(Box::new(now));
            let n = params.len();
            clause.push(format!(
                "status NOT IN ('resolved','verified','closed') AND (resolve_due_at < ?{n} \
                 OR (status = 'dispatched' AND response_due_at < ?{n}))"
            ));
        }
        let limit = if filter.limit == 0 { 200 } else { filter.limit.min(1000) };
        let sql = format!("{} ORDER BY updated_at DESC, id LIMIT {limit}", clause.join(" AND "));
        let rows = self.read(|c| {
            let refs: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.as_ref()).collect();
            record::select_where(c, EntityKind::Incident, &sql, &refs)
        })?;
        rows.into_iter().map(|r| typed_incident(r, now)).collect()
    }
}
