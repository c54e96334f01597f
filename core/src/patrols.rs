//! Patrols (巡查) with their GPS tracks, and household visits (走访) that may raise an incident.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::Action;
use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::households::into_fields;
use crate::incidents::{incident_fields, NewIncident};
use crate::input;
use crate::mutate::Writer;
use crate::record::{self, Fields};
use crate::store::Store;

/// One GPS fix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GpsPoint {
    /// Latitude (WGS-84).
    pub lat: f64,
    /// Longitude.
    pub lng: f64,
    /// Device time of the fix (ms).
    pub at: i64,
    /// Reported accuracy in metres.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
}

/// A patrol session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patrol {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Grid patrolled.
    pub grid_id: String,
    /// Worker.
    pub worker_id: String,
    /// Start.
    pub started_at: i64,
    /// End (None while under way).
    pub ended_at: Option<i64>,
    /// Distance walked, metres (derived from the track).
    pub distance_m: f64,
    /// Note.
    pub note: String,
}

/// A household visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Household visited.
    pub household_id: String,
    /// Its grid.
    pub grid_id: String,
    /// Worker.
    pub worker_id: String,
    /// When.
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewVisit {
    /// Household.
    pub household_id: String,
    /// Purpose.
    pub purpose: String,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// Findings.
    #[serde(default)]
    pub findings: String,
    /// An incident to report from this visit (its household is the visited one).
    #[serde(default)]
    pub raise_incident: Option<NewIncident>,
}

/// Great-circle distance in metres.
pub fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_000.0_f64;
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let dla = la2 - la1;
    let dlo = (b.1 - a.1).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().asin()
}

/// Recomputes a patrol's distance from all its track chunks, points ordered by time.
pub fn recompute_distance(conn: &Connection, patrol_id: &str) -> Result<()> {
    let mut points: Vec<GpsPoint> = Vec::new();
    for t in record::select_where(conn, EntityKind::PatrolTrack, "patrol_id = ?1", &[&patrol_id])? {
        let chunk: Vec<GpsPoint> = serde_json::from_value(t.fields.get("points").cloned().unwrap_or(Value::Null))?;
        points.extend(chunk);
    }
    points.sort_by_key(|p| p.at);
    let d: f64 = points.windows(2).map(|w| haversine_m((w[0].lat, w[0].lng), (w[1].lat, w[1].lng))).sum();
    conn.prepare_cached("UPDATE patrols SET distance_m = ?1 WHERE id = ?2")?.execute(rusqlite::params![d, patrol_id])?;
    Ok(())
}

pub(crate) fn recompute_distance_of_track(conn: &Connection, track_id: &str) -> Result<()> {
    let t = record::require(conn, EntityKind::PatrolTrack, track_id)?;
    let patrol = t.fields.get("patrol_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    recompute_distance(conn, &patrol)
}

impl Store {
    /// Starts a patrol of a grid by the enrolled worker.
    pub fn start_patrol(&self, grid_id: &str, note: &str) -> Result<Patrol> {
        let who = self.require_principal()?;
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let is_grid = record::get(tx, EntityKind::Area, grid_id)?
                .is_some_and(|a| a.fields.get("kind").and_then(Value::as_str) == Some("grid"));
            if !is_grid {
                return Err(Error::invalid("grid_id", "网格不存在"));
            }
            let fields = into_fields(json!({
                "grid_id": grid_id,
                "worker_id": who.user_id,
                "started_at": w.now,
                "ended_at": null,
                "note": input::free_text("note", note, 500)?,
            }));
            w.create(EntityKind::Patrol, &id, fields).map(|_| ())
        })?;
        self.patrol(&id)
    }

    /// Adds GPS points to a patrol under way (one op per call, however many points).
    pub fn add_patrol_points(&self, patrol_id: &str, points: Vec<GpsPoint>) -> Result<Patrol> {
        let who = self.require_principal()?;
        if points.is_empty() {
            return Err(Error::invalid("points", "没有轨迹点"));
        }
        if points.len() > 5000 {
            return Err(Error::invalid("points", "一次最多5000个轨迹点"));
        }
        input::gps_points(&points)?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let p = record::require(tx, EntityKind::Patrol, patrol_id)?;
            // The track is part of the patrol: only its worker extends it.
            w.check(EntityKind::Patrol, patrol_id, &p.fields, Action::Update, &[])?;
            if !p.fields.get("ended_at").is_none_or(Value::is_null) {
                return Err(Error::Conflict { reason: "巡查已结束".into() });
            }
            let fields = into_fields(json!({
                "patrol_id": patrol_id,
                "grid_id": p.fields.get("grid_id"),
                "points": points,
            }));
            let id = uuid::Uuid::now_v7().to_string();
            w.create(EntityKind::PatrolTrack, &id, fields).map(|_| ())
        })?;
        self.patrol(patrol_id)
    }

    /// Ends a patrol.
    pub fn end_patrol(&self, patrol_id: &str) -> Result<Patrol> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let p = record::require(tx, EntityKind::Patrol, patrol_id)?;
            if !p.fields.get("ended_at").is_none_or(Value::is_null) {
                return Err(Error::Conflict { reason: "巡查已结束".into() });
            }
            let mut f = Fields::new();
            f.insert("ended_at".into(), json!(w.now));
            w.update(EntityKind::Patrol, patrol_id, f).map(|_| ())
        })?;
        self.patrol(patrol_id)
    }

    /// One patrol.
    pub fn patrol(&self, id: &str) -> Result<Patrol> {
        record::typed(self.read(|c| record::require(c, EntityKind::Patrol, id))?)
    }

    /// The track of a patrol, ordered by time.
    pub fn patrol_track(&self, id: &str) -> Result<Vec<GpsPoint>> {
        let rows = self.read(|c| record::select_where(c, EntityKind::PatrolTrack, "patrol_id = ?1", &[&id]))?;
        let mut points: Vec<GpsPoint> = Vec::new();
        for r in rows {
            points.extend(serde_json::from_value::<Vec<GpsPoint>>(r.fields.get("points").cloned().unwrap_or(Value::Null))?);
        }
        points.sort_by_key(|p| p.at);
        Ok(points)
    }

    /// Patrols of a worker (None: the enrolled user), newest first.
    pub fn patrols(&self, worker_id: Option<&str>) -> Result<Vec<Patrol>> {
        let me = self.principal().map(|p| p.user_id).unwrap_or_default();
        let worker = worker_id.unwrap_or(&me).to_owned();
        let rows = self.read(|c| {
            record::select_where(c, EntityKind::Patrol, "worker_id = ?1 ORDER BY started_at DESC, id", &[&worker])
        })?;
        rows.into_iter().map(record::typed).collect()
    }

    /// Records a household visit, and reports an incident from it in the same transaction.
    pub fn record_visit(&self, new: NewVisit) -> Result<Visit> {
        let who = self.require_principal()?;
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let h = record::get(tx, EntityKind::Household, &new.household_id)?
                .ok_or_else(|| Error::invalid("household_id", "住户不存在"))?;
            let purpose = input::text("purpose", &new.purpose, 100)?;
            let notes = input::free_text("notes", &new.notes, 2000)?;
            let findings = input::free_text("findings", &new.findings, 2000)?;
            let mut incident_id = None;
            if let Some(ni) = &new.raise_incident {
                let mut ni = ni.clone();
                ni.household_id = Some(new.household_id.clone());
                let fields = incident_fields(&w, &ni)?;
                let iid = uuid::Uuid::now_v7().to_string();
                w.create(EntityKind::Incident, &iid, fields)?;
                incident_id = Some(iid);
            }
            let fields = into_fields(json!({
                "household_id": new.household_id,
                "grid_id": h.fields.get("grid_id"),
                "worker_id": who.user_id,
                "visited_at": w.now,
                "purpose": purpose,
                "notes": notes,
                "findings": findings,
                "incident_id": incident_id,
            }));
            w.create(EntityKind::Visit, &id, fields).map(|_| ())
        })?;
        record::typed(self.read(|c| record::require(c, EntityKind::Visit, &id))?)
    }

    /// Visits of a household, newest first.
    pub fn visits_of(&self, household_id: &str) -> Result<Vec<Visit>> {
        let rows = self.read(|c| {
            record::select_where(c, EntityKind::Visit, "household_id = ?1 ORDER BY visited_at DESC, id", &[&household_id])
        })?;
        rows.into_iter().map(record::typed).collect()
    }
}
