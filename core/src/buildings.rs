//! Buildings in a grid, with their optional volunteer building head.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::households::into_fields;
use crate::input;
use crate::mutate::Writer;
use crate::record::{self, Fields};
use crate::store::Store;

/// A building as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Building {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Its grid.
    pub grid_id: String,
    /// Name, e.g. "翠苑小区3栋".
    pub name: String,
    /// Address.
    pub address: String,
    /// Number of floors.
    pub floors: Option<i64>,
    /// The volunteer building head (a user id).
    pub head_user_id: Option<String>,
}

/// Input of a new building.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewBuilding {
    /// Grid.
    pub grid_id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Floors.
    #[serde(default)]
    pub floors: Option<u32>,
}

/// A change to a building.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildingPatch {
    /// New name.
    pub name: Option<String>,
    /// New address.
    pub address: Option<String>,
    /// New floor count.
    pub floors: Option<u32>,
    /// New building head (`Some("")` removes).
    pub head_user_id: Option<String>,
}

fn floors(v: Option<u32>) -> Result<Option<u32>> {
    match v {
        Some(0) | Some(201..) => Err(Error::invalid("floors", "楼层数应在1到200之间")),
        v => Ok(v),
    }
}

impl Store {
    /// Creates a building in a grid.
    pub fn create_building(&self, new: NewBuilding) -> Result<Building> {
        let who = self.require_principal()?;
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|tx| {
            let grid = record::get(tx, EntityKind::Area, &new.grid_id)?
                .filter(|a| a.fields.get("kind").and_then(|k| k.as_str()) == Some("grid"))
                .ok_or_else(|| Error::invalid("grid_id", "网格不存在"))?;
            let fields = into_fields(json!({
                "grid_id": grid.id,
                "name": input::text("name", &new.name, 100)?,
                "address": input::text("address", &new.address, 200)?,
                "floors": floors(new.floors)?,
                "head_user_id": null,
            }));
            Writer::new(tx, self, &who).create(EntityKind::Building, &id, fields).map(|_| ())
        })?;
        self.building(&id)
    }

    /// Changes a building.
    pub fn update_building(&self, id: &str, patch: BuildingPatch) -> Result<Building> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let mut f = Fields::new();
            if let Some(v) = &patch.name {
                f.insert("name".into(), json!(input::text("name", v, 100)?));
            }
            if let Some(v) = &patch.address {
                f.insert("address".into(), json!(input::text("address", v, 200)?));
            }
            if patch.floors.is_some() {
                f.insert("floors".into(), json!(floors(patch.floors)?));
            }
            if let Some(v) = &patch.head_user_id {
                f.insert("head_user_id".into(), if v.trim().is_empty() { json!(null) } else { json!(v.trim()) });
            }
            Writer::new(tx, self, &who).update(EntityKind::Building, id, f).map(|_| ())
        })?;
        self.building(id)
    }

    /// Deletes an empty building (households must be moved or deleted first).
    pub fn delete_building(&self, id: &str) -> Result<()> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let n: i64 = tx.query_row("SELECT count(*) FROM households WHERE building_id = ?1", [id], |r| r.get(0))?;
            if n > 0 {
                return Err(Error::invalid("id", "楼栋内还有住户，不能删除"));
            }
            Writer::new(tx, self, &who).delete(EntityKind::Building, id).map(|_| ())
        })
    }

    /// One building.
    pub fn building(&self, id: &str) -> Result<Building> {
        record::typed(self.read(|c| record::require(c, EntityKind::Building, id))?)
    }

    /// Buildings of a grid, by name.
    pub fn buildings_in_grid(&self, grid_id: &str) -> Result<Vec<Building>> {
        let rows = self.read(|c| {
            record::select_where(c, EntityKind::Building, "grid_id = ?1 ORDER BY name, id", &[&grid_id])
        })?;
        rows.into_iter().map(record::typed).collect()
    }
}
