//! Reference data: the jurisdiction tree, departments and incident categories. Filled by sync
//! (or by a seed in tests and demos) and read by screens; devices never write it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::entities::EntityKind;
use crate::error::Result;
use crate::households::into_fields;
use crate::incident_flow::CategoryDeadline;
use crate::record;
use crate::store::Store;

/// A node of the jurisdiction tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Parent area (None for the city).
    pub parent_id: Option<String>,
    /// city | district | county_city | street | town | community | village | grid.
    pub kind: String,
    /// Short code, e.g. `JM-JH-JN-XZ-G01`.
    pub code: String,
    /// Name.
    pub name: String,
}

/// A department incidents are dispatched to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Department {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
}

/// An incident category with its deadlines; the id is its code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Code, e.g. `safety_hazard`.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Hours a department has to accept a dispatched incident.
    pub response_hours: i64,
    /// Days from report to resolution.
    pub resolve_days: i64,
}

impl Category {
    /// The deadlines of this category.
    pub fn deadline(&self) -> CategoryDeadline {
        CategoryDeadline { response_hours: self.response_hours as u32, resolve_days: self.resolve_days as u32 }
    }
}

/// Default categories (this project's own defaults; the server may override them).
pub const DEFAULT_CATEGORIES: &[(&str, &str, i64, i64)] = &[
    ("dispute", "矛盾纠纷", 24, 15),
    ("safety_hazard", "安全隐患", 4, 3),
    ("fire_hazard", "消防隐患", 2, 3),
    ("environment", "环境卫生", 24, 5),
    ("public_facility", "市政设施", 24, 7),
    ("illegal_building", "违法建设", 48, 30),
    ("public_order", "治安问题", 2, 7),
    ("resident_request", "民生诉求", 24, 10),
    ("flood_weather", "防汛防风", 1, 2),
    ("other", "其他", 48, 15),
];

/// Reference data to load without a server (tests, demos).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceData {
    /// Areas, parents first.
    pub areas: Vec<Area>,
    /// Departments.
    pub departments: Vec<Department>,
    /// Categories (empty: the defaults).
    pub categories: Vec<Category>,
}

impl Store {
    /// Loads reference data directly (no outbox: it belongs to the server).
    pub fn seed_reference(&self, data: &ReferenceData) -> Result<()> {
        self.write(|tx| {
            for a in &data.areas {
                let f = into_fields(json!({"parent_id": a.parent_id, "kind": a.kind, "code": a.code, "name": a.name}));
                record::upsert(tx, EntityKind::Area, &a.id, a.version, &f)?;
            }
            for d in &data.departments {
                let f = into_fields(json!({"code": d.code, "name": d.name}));
                record::upsert(tx, EntityKind::Department, &d.id, d.version, &f)?;
            }
            for c in &data.categories {
                let f = into_fields(
                    json!({"name": c.name, "response_hours": c.response_hours, "resolve_days": c.resolve_days}),
                );
                record::upsert(tx, EntityKind::Category, &c.id, c.version, &f)?;
            }
            Ok(())
        })?;
        self.invalidate_areas();
        Ok(())
    }

    /// Children of an area (`None`: the roots), by code.
    pub fn areas(&self, parent_id: Option<&str>) -> Result<Vec<Area>> {
        let rows = self.read(|c| match parent_id {
            Some(p) => record::select_where(c, EntityKind::Area, "parent_id = ?1 ORDER BY code", &[&p]),
            None => record::select_where(c, EntityKind::Area, "parent_id IS NULL ORDER BY code", &[]),
        })?;
        rows.into_iter().map(record::typed).collect()
    }

    /// One area.
    pub fn area(&self, id: &str) -> Result<Area> {
        record::typed(self.read(|c| record::require(c, EntityKind::Area, id))?)
    }

    /// The grids the enrolled user works in (every grid under their scope areas), by code.
    pub fn my_grids(&self) -> Result<Vec<Area>> {
        let who = self.require_principal()?;
        let rows = self.read(|c| {
            let tree = self.area_tree(c)?;
            let grids = record::select_where(c, EntityKind::Area, "kind = 'grid' ORDER BY code", &[])?;
            Ok(grids
                .into_iter()
                .filter(|g| {
                    let path = crate::store::area_path(&tree, &g.id);
                    who.role == crate::Role::Admin || path.iter().any(|a| who.scope.area_ids.contains(a))
                })
                .collect::<Vec<_>>())
        })?;
        rows.into_iter().map(record::typed).collect()
    }

    /// All departments, by code.
    pub fn departments(&self) -> Result<Vec<Department>> {
        let rows = self.read(|c| record::select_where(c, EntityKind::Department, "1 ORDER BY code", &[]))?;
        rows.into_iter().map(record::typed).collect()
    }

    /// All categories: the server's where synced, the defaults otherwise.
    pub fn categories(&self) -> Result<Vec<Category>> {
        let rows = self.read(|c| record::select_where(c, EntityKind::Category, "1 ORDER BY id", &[]))?;
        let mut out: Vec<Category> = rows.into_iter().map(record::typed).collect::<Result<_>>()?;
        for (code, name, resp, res) in DEFAULT_CATEGORIES {
            if !out.iter().any(|c| c.id == *code) {
                out.push(Category {
                    id: code.to_string(),
                    version: 0,
                    name: name.to_string(),
                    response_hours: *resp,
                    resolve_days: *res,
                });
            }
        }
        Ok(out)
    }
}

/// The category `code` from the store or the defaults.
pub(crate) fn category(conn: &rusqlite::Connection, code: &str) -> Result<Option<Category>> {
    if let Some(row) = record::get(conn, EntityKind::Category, code)? {
        return Ok(Some(record::typed(row)?));
    }
    Ok(DEFAULT_CATEGORIES.iter().find(|c| c.0 == code).map(|(code, name, resp, res)| Category {
        id: code.to_string(),
        version: 0,
        name: name.to_string(),
        response_hours: *resp,
        resolve_days: *res,
    }))
}
