//! The console's reads on SQLite: statistics facts joined with the change log's server times,
//! filtered lists, the activity log, sync history and conflicts.

use std::collections::HashMap;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use gridline_core::record::{self, Row};
use gridline_core::EntityKind;

use super::console::*;
use super::sqlite::SqliteStorage;
use super::{StoreError, StoreResult};

/// A JSON array of strings, for `IN (SELECT value FROM json_each(?))`.
fn json_list(v: &[String]) -> String {
    serde_json::Value::from(v.to_vec()).to_string()
}

fn check_field(entity: EntityKind, field: &str) -> StoreResult<()> {
    entity.field(field).map(|_| ()).ok_or_else(|| StoreError::Backend(format!("{entity} has no field {field}")))
}

/// The grid column of a kind (tasks belong to an area).
fn grid_column(entity: EntityKind) -> &'static str {
    match entity {
        EntityKind::Task => "area_id",
        _ => "grid_id",
    }
}

// The statistics read creates by server time, through the change log's partial time indexes
// (server migration s007). `INDEXED BY` holds the planner to them (without table statistics it
// would take the entity index and read every change of every incident ever); each query names
// `entity` and `kind = 'create'` as its index does, which SQLite needs to use a partial index.
const INCIDENTS_CREATED: &str =
    "SELECT i.id, i.category, i.grid_id, i.building_id, i.department_id, coalesce(i.status, 'reported'), r.at \
     FROM change_log r INDEXED BY change_log_incident_created_at JOIN incidents i ON i.id = r.entity_id \
     WHERE r.entity = 'incident' AND r.kind = 'create' AND r.at >= ?1 AND r.at < ?2 ORDER BY r.seq";
const EVENTS_OF_INCIDENTS_CREATED: &str = "SELECT r.entity_id, e.kind, c.at, e.deadline_at \
     FROM change_log r INDEXED BY change_log_incident_created_at \
     JOIN change_log c ON c.entity = 'incident' AND c.entity_id = r.entity_id AND c.kind = 'event' \
     JOIN incident_events e ON e.id = c.event_id \
     WHERE r.entity = 'incident' AND r.kind = 'create' AND r.at >= ?1 AND r.at < ?2 ORDER BY c.seq";
const VISITED_PER_GRID: &str = "SELECT v.grid_id, count(DISTINCT v.household_id) \
     FROM change_log r INDEXED BY change_log_visit_created_at JOIN visits v ON v.id = r.entity_id \
     WHERE r.entity = 'visit' AND r.kind = 'create' AND r.at >= ?1 AND r.at < ?2 GROUP BY v.grid_id";

fn incident_facts(c: &Connection, from: i64, to: i64) -> StoreResult<Vec<IncidentFact>> {
    let mut stmt = c.prepare_cached(INCIDENTS_CREATED)?;
    let mut out: Vec<IncidentFact> = stmt
        .query_map([from, to], |r| {
            Ok(IncidentFact {
                id: r.get(0)?,
                category: r.get(1)?,
                grid_id: r.get(2)?,
                building_id: r.get(3)?,
                department_id: r.get(4)?,
                status: r.get(5)?,
                received_at: r.get(6)?,
                events: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let index: HashMap<String, usize> = out.iter().enumerate().map(|(i, f)| (f.id.clone(), i)).collect();
    let mut ev = c.prepare_cached(EVENTS_OF_INCIDENTS_CREATED)?;
    let rows = ev.query_map([from, to], |r| {
        Ok((r.get::<_, String>(0)?, EventFact { kind: r.get(1)?, at: r.get(2)?, deadline_at: r.get(3)? }))
    })?;
    for row in rows {
        let (id, fact) = row?;
        if let Some(&i) = index.get(&id) {
            out[i].events.push(fact);
        }
    }
    Ok(out)
}

fn grid_counts(c: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> StoreResult<HashMap<String, i64>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(p, |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn read_change(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChangeRow> {
    Ok(ChangeRow {
        seq: r.get(0)?,
        at: r.get(1)?,
        device_id: r.get(2)?,
        user_id: r.get(3)?,
        op_id: r.get(4)?,
        device_time: r.get(5)?,
        entity: r.get(6)?,
        entity_id: r.get(7)?,
        kind: r.get(8)?,
        event_kind: r.get(9)?,
        event_id: r.get(10)?,
        area_id: r.get(11)?,
        department_id: r.get(12)?,
        fields_json: r.get(13)?,
    })
}

/// Builds `AND …` clauses and their parameters.
#[derive(Default)]
struct Where {
    sql: String,
    params: Vec<SqlValue>,
}

impl Where {
    fn add(&mut self, clause: &str, v: impl Into<SqlValue>) {
        self.params.push(v.into());
        self.sql.push_str(&clause.replace('?', &format!("?{}", self.params.len())));
    }
    fn text(&mut self, clause: &str, v: &Option<String>) {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            self.add(clause, v.clone());
        }
    }
    fn int(&mut self, clause: &str, v: Option<i64>) {
        if let Some(v) = v {
            self.add(clause, v);
        }
    }
    fn list(&mut self, clause: &str, v: &Option<Vec<String>>) {
        if let Some(v) = v {
            self.add(clause, json_list(v));
        }
    }
}

impl ConsoleStore for SqliteStorage {
    fn stats_facts(&self, from: i64, to: i64) -> StoreResult<StatsFacts> {
        self.read(|c| {
            Ok(StatsFacts {
                incidents: incident_facts(c, from, to)?,
                households_per_grid: grid_counts(c, HOUSEHOLDS_PER_GRID, &[])?,
                visited_per_grid: grid_counts(
                    c,
                    VISITED_PER_GRID,
                    &[&from, &to],
                )?,
            })
        })
    }

    fn all(&self, entity: EntityKind) -> StoreResult<Vec<Row>> {
        self.read(|c| Ok(record::dump(c, entity)?))
    }

    fn record(&self, entity: EntityKind, id: &str) -> StoreResult<Option<Row>> {
        self.read(|c| Ok(record::get(c, entity, id)?))
    }

    fn deleted(&self, entity: EntityKind, id: &str) -> StoreResult<bool> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT 1 FROM row_meta WHERE entity = ?1 AND id = ?2 AND deleted = 1")?
                .query_row(params![entity.as_str(), id], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    fn records_by(&self, entity: EntityKind, field: &str, value: &str) -> StoreResult<Vec<Row>> {
        check_field(entity, field)?;
        self.read(|c| Ok(record::select_where(c, entity, &format!("{field} = ?1 ORDER BY version"), &[&value])?))
    }

    fn records_in(&self, q: &RowsIn<'_>) -> StoreResult<Vec<Row>> {
        let RowsIn { entity, grids, time_field, from, to, owner, limit } = *q;
        check_field(entity, time_field)?;
        let owner_col = match entity {
            EntityKind::Patrol | EntityKind::Visit => "worker_id",
            EntityKind::TaskAssignment => "assignee_id",
            _ => "NULL",
        };
        let grids_json = grids.map(json_list);
        let clause = format!(
            "{time_field} >= ?1 AND {time_field} < ?2 AND (?3 IS NULL OR {} IN (SELECT value FROM json_each(?3))) \
             AND (?4 IS NULL OR {owner_col} = ?4) ORDER BY {time_field} DESC LIMIT ?5",
            grid_column(entity)
        );
        self.read(|c| Ok(record::select_where(c, entity, &clause, &[&from, &to, &grids_json, &owner, &(limit as i64)])?))
    }

    fn incidents(&self, q: &IncidentQuery) -> StoreResult<Vec<(Row, i64)>> {
        let mut w = Where::default();
        w.list(" AND i.grid_id IN (SELECT value FROM json_each(?))", &q.grids);
        w.list(" AND i.department_id IN (SELECT value FROM json_each(?))", &q.departments);
        w.list(" AND i.building_id IN (SELECT value FROM json_each(?))", &q.buildings);
        w.text(" AND i.status = ?", &q.status);
        w.text(" AND i.category = ?", &q.category);
        w.text(" AND i.department_id = ?", &q.department);
        if q.open_only {
            w.sql.push_str(" AND coalesce(i.status, 'reported') NOT IN ('resolved', 'verified', 'closed')");
        }
        if let Some(now) = q.overdue_at {
            // incident_flow::overdue, in SQL: what is not overdue is not read.
            w.add(" AND ((coalesce(i.status, 'reported') NOT IN ('resolved', 'verified', 'closed') AND i.resolve_due_at < ?)", now);
            w.add(" OR (i.status = 'dispatched' AND i.response_due_at < ?))", now);
        }
        w.int(" AND r.at >= ?", q.from);
        w.int(" AND r.at < ?", q.to);
        let sql = format!(
            "SELECT i.id, r.at FROM incidents i JOIN change_log r ON r.entity = 'incident' AND r.entity_id = i.id \
             AND r.kind = 'create' WHERE 1 = 1{} ORDER BY r.at DESC, r.seq DESC LIMIT {}",
            w.sql,
            q.limit.max(1)
        );
        self.read(|c| {
            let ids: Vec<(String, i64)> = c
                .prepare(&sql)?
                .query_map(params_from_iter(w.params.iter()), |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(ids.len());
            for (id, at) in ids {
                if let Some(row) = record::get(c, EntityKind::Incident, &id)? {
                    out.push((row, at));
                }
            }
            Ok(out)
        })
    }

    fn received_at(&self, entity: EntityKind, id: &str) -> StoreResult<Option<i64>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT at FROM change_log WHERE entity = ?1 AND entity_id = ?2 AND kind = 'create'")?
                .query_row([entity.as_str(), id], |r| r.get(0))
                .optional()?)
        })
    }

    fn changes(&self, q: &ChangeQuery) -> StoreResult<Vec<ChangeRow>> {
        let mut w = Where::default();
        w.list(" AND area_id IN (SELECT value FROM json_each(?))", &q.areas);
        w.list(" AND department_id IN (SELECT value FROM json_each(?))", &q.departments);
        w.text(" AND user_id = ?", &q.user_id);
        w.text(" AND device_id = ?", &q.device_id);
        w.text(" AND area_id = ?", &q.area);
        w.text(" AND entity = ?", &q.entity);
        w.text(" AND entity_id = ?", &q.entity_id);
        w.int(" AND at >= ?", q.from);
        w.int(" AND at < ?", q.to);
        let sql = format!(
            "SELECT seq, at, device_id, user_id, op_id, device_time, entity, entity_id, kind, event_kind, event_id, \
             area_id, department_id, fields_json FROM change_log WHERE 1 = 1{} ORDER BY seq DESC LIMIT {}",
            w.sql,
            q.limit.max(1)
        );
        self.read(|c| Ok(c.prepare(&sql)?.query_map(params_from_iter(w.params.iter()), read_change)?.collect::<Result<_, _>>()?))
    }

    fn all_devices(&self) -> StoreResult<Vec<DeviceRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT d.id, d.user_id, u.username, d.name, d.created_at, d.last_seen_at, d.revoked_at \
                 FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.last_seen_at DESC NULLS LAST, d.id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(DeviceRow {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    username: r.get(2)?,
                    name: r.get(3)?,
                    created_at: r.get(4)?,
                    last_seen_at: r.get(5)?,
                    revoked_at: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn sync_log(&self, device_id: &str, limit: usize) -> StoreResult<Vec<SyncLogRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, kind, ops, rejected FROM sync_log WHERE device_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![device_id, limit as i64], |r| {
                Ok(SyncLogRow { at: r.get(0)?, kind: r.get(1)?, ops: r.get(2)?, rejected: r.get(3)? })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn rejected_ops(&self, device_id: &str, limit: usize) -> StoreResult<Vec<RejectedRow>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(REJECTED_OPS)?;
            let rows = stmt.query_map(params![device_id, limit as i64], |r| {
                Ok(RejectedRow { op_id: r.get(0)?, received_at: r.get(1)?, device_time: r.get(2)?, code: r.get(3)?, reason: r.get(4)? })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn conflict_rows(&self, limit: usize) -> StoreResult<Vec<ConflictRow>> {
        let list = super::Storage::conflicts(self, limit)?;
        let restored: HashMap<i64, Option<i64>> = self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT id, restored_at FROM conflicts ORDER BY id DESC LIMIT ?1")?;
            let rows = stmt.query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        Ok(list.into_iter().map(|s| ConflictRow { restored_at: restored.get(&s.id).copied().flatten(), stored: s }).collect())
    }

    fn mark_conflict_restored(&self, id: i64, at: i64) -> StoreResult<bool> {
        self.write(|c| Ok(c.execute("UPDATE conflicts SET restored_at = ?1 WHERE id = ?2 AND restored_at IS NULL", params![at, id])? > 0))
    }
}

/// The dashboard's household count per grid (read through `households_grid`).
pub(super) const HOUSEHOLDS_PER_GRID: &str = "SELECT grid_id, count(*) FROM households GROUP BY grid_id";

/// A device's rejected ops, newest first (through the partial index `applied_ops_rejected`).
pub(super) const REJECTED_OPS: &str = "SELECT op_id, received_at, device_time, coalesce(json_extract(result_json, '$.code'), ''), \
     coalesce(json_extract(result_json, '$.reason'), '') FROM applied_ops \
     WHERE device_id = ?1 AND status = 'rejected' ORDER BY received_at DESC LIMIT ?2";

#[cfg(test)]
mod tests {
    use super::*;

    /// The statistics' reads by time go through the partial indexes of server migration s007
    /// (a query that no longer names what its index covers fails to prepare).
    #[test]
    fn the_statistics_read_creates_by_time_through_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        s.read(|c| {
            for (sql, index) in [
                (INCIDENTS_CREATED, "change_log_incident_created_at"),
                (EVENTS_OF_INCIDENTS_CREATED, "change_log_incident_created_at"),
                (VISITED_PER_GRID, "change_log_visit_created_at"),
            ] {
                let plan: Vec<String> = c
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?
                    .query_map([0i64, 1], |r| r.get::<_, String>(3))?
                    .collect::<Result<_, _>>()?;
                assert!(plan.iter().any(|p| p.contains(index)), "{sql}\n{plan:#?}");
            }
            Ok(())
        })
        .unwrap();
    }
}
