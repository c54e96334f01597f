//! Households (户) and their residents (人口): the register a grid worker keeps current.

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Action, ScopeKeys};
use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::input::{self, CARE_TAGS};
use crate::mutate::Writer;
use crate::protocol::OpKind;
use crate::record::{self, Fields};
use crate::store::Store;

/// A household as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    /// Id (UUIDv7).
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Its building.
    pub building_id: String,
    /// Its grid (the building's).
    pub grid_id: String,
    /// Room number, e.g. "502".
    pub room: String,
    /// Full address.
    pub address: String,
    /// Head of household.
    pub head_name: String,
    /// Contact phone (personal data).
    pub phone: Option<String>,
    /// Number of members.
    pub member_count: i64,
    /// Care tags (codes of [`crate::CARE_TAGS`]).
    pub care_tags: Vec<String>,
    /// Notes.
    pub notes: String,
}

/// Input of a new household.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewHousehold {
    /// Building the household lives in.
    pub building_id: String,
    /// Room number.
    pub room: String,
    /// Full address; empty means "the building's address + room".
    #[serde(default)]
    pub address: String,
    /// Head of household.
    pub head_name: String,
    /// Contact phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Number of members (≥ 1).
    pub member_count: u32,
    /// Care tags.
    #[serde(default)]
    pub care_tags: Vec<String>,
    /// Notes.
    #[serde(default)]
    pub notes: String,
}

/// A change to a household: `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HouseholdPatch {
    /// Move to another building (same or another grid in scope).
    pub building_id: Option<String>,
    /// New room.
    pub room: Option<String>,
    /// New address.
    pub address: Option<String>,
    /// New head of household.
    pub head_name: Option<String>,
    /// New phone; `Some("")` removes it.
    pub phone: Option<String>,
    /// New member count.
    pub member_count: Option<u32>,
    /// New care tags (replaces the list).
    pub care_tags: Option<Vec<String>>,
    /// New notes.
    pub notes: Option<String>,
}

/// A resident as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resident {
    /// Id (UUIDv7).
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Household.
    pub household_id: String,
    /// The household's building.
    pub building_id: String,
    /// The household's grid.
    pub grid_id: String,
    /// Name.
    pub name: String,
    /// 18-character resident ID number (personal data).
    pub id_number: Option<String>,
    /// Phone (personal data).
    pub phone: Option<String>,
    /// Birth date `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Relation to the head (户主, 配偶, 子女, …).
    pub relation: String,
    /// Tags (care tag codes).
    pub tags: Vec<String>,
    /// Notes.
    pub notes: String,
}

/// Input of a new resident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewResident {
    /// Household.
    pub household_id: String,
    /// Name.
    pub name: String,
    /// ID number.
    #[serde(default)]
    pub id_number: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Birth date; when empty and an ID number is given, taken from it.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// Relation to the head.
    #[serde(default)]
    pub relation: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Notes.
    #[serde(default)]
    pub notes: String,
}

/// A change to a resident: `None` leaves a field as it is; `Some("")` clears an optional one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResidentPatch {
    /// New name.
    pub name: Option<String>,
    /// New ID number.
    pub id_number: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// New birth date.
    pub birth_date: Option<String>,
    /// New relation.
    pub relation: Option<String>,
    /// New tags.
    pub tags: Option<Vec<String>>,
    /// New notes.
    pub notes: Option<String>,
}

fn opt_value(v: Option<String>) -> Value {
    v.map(Value::String).unwrap_or(Value::Null)
}

/// The grid and address of a building.
fn building_of(w: &Writer<'_>, building_id: &str) -> Result<(String, String)> {
    w.tx.prepare_cached("SELECT grid_id, address FROM buildings WHERE id = ?1")?
        .query_row([building_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| Error::invalid("building_id", "楼栋不存在"))
}

/// A validated new household as its op carries it. Fields are declared in the order a field map
/// serializes them (by name), so the op's JSON is the same as the generic write path makes.
#[derive(Serialize)]
struct NewHouseholdRow<'a> {
    address: String,
    building_id: &'a str,
    care_tags: Vec<String>,
    grid_id: &'a str,
    head_name: String,
    member_count: u32,
    notes: String,
    phone: Option<String>,
    room: String,
}

/// Field names of a household create (every field is sent).
const HOUSEHOLD_CREATE_FIELDS: &[&str] =
    &["address", "building_id", "care_tags", "grid_id", "head_name", "member_count", "notes", "phone", "room"];

const INSERT_HOUSEHOLD: &str = "INSERT INTO households (id, version, building_id, grid_id, room, address, head_name, \
     phone, member_count, care_tags, notes) VALUES (?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// Buildings seen in one batch: grid, address, and whether the user may create households there.
type BuildingCache = std::collections::HashMap<String, (String, String, bool)>;

/// The write path of one new household, specialised for batches: the same validation (in the
/// same order), scope check, row, search entry and op as [`Writer::create`] with a field map,
/// without building one per row; each building is looked up and checked once per batch.
fn create_household_row(w: &Writer<'_>, buildings: &mut BuildingCache, n: &NewHousehold) -> Result<String> {
    let room = input::text("room", &n.room, 32)?;
    if !buildings.contains_key(&n.building_id) {
        let (grid_id, address) = building_of(w, &n.building_id)?;
        buildings.insert(n.building_id.clone(), (grid_id, address, false));
    }
    let (grid_id, building_address, checked) = &buildings[&n.building_id];
    let address = if n.address.trim().is_empty() {
        format!("{building_address}{room}")
    } else {
        input::text("address", &n.address, 200)?
    };
    input::member_count(n.member_count.into())?;
    let head_name = input::text("head_name", &n.head_name, 50)?;
    let phone = input::phone("phone", n.phone.as_deref())?;
    let care_tags = input::tags("care_tags", &n.care_tags, CARE_TAGS)?;
    let notes = input::free_text("notes", &n.notes, 2000)?;
    let row = NewHouseholdRow { address, building_id: &n.building_id, care_tags, grid_id, head_name, member_count: n.member_count, notes, phone, room };
    if !checked {
        let keys = ScopeKeys { area_id: Some(grid_id.clone()), building_id: Some(n.building_id.clone()), ..Default::default() };
        w.check_keys(EntityKind::Household, &keys, Action::Create, HOUSEHOLD_CREATE_FIELDS)?;
    }
    let id = uuid::Uuid::now_v7().to_string();
    w.tx.prepare_cached(INSERT_HOUSEHOLD)?.execute(rusqlite::params![
        id,
        row.building_id,
        row.grid_id,
        row.room,
        row.address,
        row.head_name,
        row.phone,
        row.member_count,
        serde_json::to_string(&row.care_tags)?,
        row.notes
    ])?;
    let rowid = w.tx.last_insert_rowid();
    let doc = crate::search::household_doc(&row.head_name, &row.room, &row.address, row.phone.as_deref().unwrap_or_default());
    crate::search::index_new_household(w.tx, rowid, &doc)?;
    let json = serde_json::to_string(&row)?;
    crate::outbox::append_json(w.tx, EntityKind::Household, &id, OpKind::Create, &json, 0, w.now)?;
    if !checked {
        if let Some(b) = buildings.get_mut(&n.building_id) {
            b.2 = true;
        }
    }
    Ok(id)
}

pub(crate) fn into_fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

/// Prefixes the field of an `Invalid` error with the index of the item in a batch.
fn at_index(i: usize, e: Error) -> Error {
    match e {
        Error::Invalid { field, reason } => Error::Invalid { field: format!("[{i}].{field}"), reason },
        other => other,
    }
}

impl Store {
    /// Creates a household.
    pub fn create_household(&self, new: NewHousehold) -> Result<Household> {
        let id = self.insert_households(vec![new], false)?.remove(0);
        self.household(&id)
    }

    /// Creates many households in one transaction (all or nothing) and returns their ids.
    /// A failing item is named by its index, e.g. field `[17].phone`.
    pub fn create_households(&self, news: Vec<NewHousehold>) -> Result<Vec<String>> {
        self.insert_households(news, true)
    }

    /// Creates households in one transaction; `indexed` prefixes error fields with the item's index.
    fn insert_households(&self, news: Vec<NewHousehold>, indexed: bool) -> Result<Vec<String>> {
        let who = self.require_principal()?;
        let name_item = |i: usize, e: Error| if indexed { at_index(i, e) } else { e };
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let mut ids = Vec::with_capacity(news.len());
            let mut buildings = BuildingCache::new();
            for (i, n) in news.iter().enumerate() {
                ids.push(create_household_row(&w, &mut buildings, n).map_err(|e| name_item(i, e))?);
            }
            Ok(ids)
        })
    }

    /// Changes a household; only fields that differ are written and sent.
    pub fn update_household(&self, id: &str, patch: HouseholdPatch) -> Result<Household> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let mut f = Fields::new();
            if let Some(b) = &patch.building_id {
                let (grid_id, _) = building_of(&w, b)?;
                f.insert("building_id".into(), json!(b));
                f.insert("grid_id".into(), json!(grid_id));
            }
            if let Some(v) = &patch.room {
                f.insert("room".into(), json!(input::text("room", v, 32)?));
            }
            if let Some(v) = &patch.address {
                f.insert("address".into(), json!(input::text("address", v, 200)?));
            }
            if let Some(v) = &patch.head_name {
                f.insert("head_name".into(), json!(input::text("head_name", v, 50)?));
            }
            if let Some(v) = &patch.phone {
                f.insert("phone".into(), opt_value(input::phone("phone", Some(v))?));
            }
            if let Some(v) = patch.member_count {
                input::member_count(v.into())?;
                f.insert("member_count".into(), json!(v));
            }
            if let Some(v) = &patch.care_tags {
                f.insert("care_tags".into(), json!(input::tags("care_tags", v, CARE_TAGS)?));
            }
            if let Some(v) = &patch.notes {
                f.insert("notes".into(), json!(input::free_text("notes", v, 2000)?));
            }
            w.update(EntityKind::Household, id, f)?;
            if patch.building_id.is_some() {
                // Residents follow their household into the new building and grid.
                let h = record::require(tx, EntityKind::Household, id)?;
                let follow: Fields = ["building_id", "grid_id"]
                    .iter()
                    .map(|k| (k.to_string(), h.fields.get(*k).cloned().unwrap_or(Value::Null)))
                    .collect();
                for r in resident_ids(tx, id)? {
                    w.update(EntityKind::Resident, &r, follow.clone())?;
                }
            }
            Ok(())
        })?;
        self.household(id)
    }

    /// Deletes a household and its residents (each with its own op).
    pub fn delete_household(&self, id: &str) -> Result<()> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            for r in resident_ids(tx, id)? {
                w.delete(EntityKind::Resident, &r)?;
            }
            w.delete(EntityKind::Household, id)?;
            Ok(())
        })
    }

    /// One household, personal fields masked for roles that may not see them.
    pub fn household(&self, id: &str) -> Result<Household> {
        let row = self.read(|c| record::require(c, EntityKind::Household, id))?;
        self.typed_masked(EntityKind::Household, row)
    }

    /// Households of a building, by room.
    pub fn households_in_building(&self, building_id: &str) -> Result<Vec<Household>> {
        let rows = self.read(|c| {
            record::select_where(c, EntityKind::Household, "building_id = ?1 ORDER BY room, id", &[&building_id])
        })?;
        rows.into_iter().map(|r| self.typed_masked(EntityKind::Household, r)).collect()
    }

    /// Households of a grid, by building and room.
    pub fn households_in_grid(&self, grid_id: &str) -> Result<Vec<Household>> {
        let rows = self.read(|c| {
            record::select_where(c, EntityKind::Household, "grid_id = ?1 ORDER BY building_id, room, id", &[&grid_id])
        })?;
        rows.into_iter().map(|r| self.typed_masked(EntityKind::Household, r)).collect()
    }

    /// Adds a resident to a household.
    pub fn create_resident(&self, new: NewResident) -> Result<Resident> {
        let who = self.require_principal()?;
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let h = record::get(tx, EntityKind::Household, &new.household_id)?
                .ok_or_else(|| Error::invalid("household_id", "住户不存在"))?;
            let id_number = input::resident_id("id_number", new.id_number.as_deref())?;
            let birth = birth_date_with_id(id_number.as_deref(), input::date("birth_date", new.birth_date.as_deref())?)?;
            let fields = into_fields(json!({
                "household_id": new.household_id,
                "building_id": h.fields.get("building_id"),
                "grid_id": h.fields.get("grid_id"),
                "name": input::text("name", &new.name, 50)?,
                "id_number": opt_value(id_number),
                "phone": opt_value(input::phone("phone", new.phone.as_deref())?),
                "birth_date": opt_value(birth),
                "relation": input::free_text("relation", &new.relation, 20)?,
                "tags": input::tags("tags", &new.tags, CARE_TAGS)?,
                "notes": input::free_text("notes", &new.notes, 2000)?,
            }));
            input::born_by(&fields, w.now)?;
            w.create(EntityKind::Resident, &id, fields)?;
            Ok(())
        })?;
        self.resident(&id)
    }

    /// Changes a resident.
    pub fn update_resident(&self, id: &str, patch: ResidentPatch) -> Result<Resident> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let mut f = Fields::new();
            if let Some(v) = &patch.name {
                f.insert("name".into(), json!(input::text("name", v, 50)?));
            }
            let id_number = match &patch.id_number {
                Some(v) => Some(input::resident_id("id_number", Some(v))?),
                None => None,
            };
            if let Some(v) = &id_number {
                f.insert("id_number".into(), opt_value(v.clone()));
            }
            if let Some(v) = &patch.phone {
                f.insert("phone".into(), opt_value(input::phone("phone", Some(v))?));
            }
            let birth = match &patch.birth_date {
                Some(v) => Some(input::date("birth_date", Some(v))?),
                None => None,
            };
            match (id_number.flatten(), birth) {
                // A new ID number brings its birth date along, or must agree with the one given.
                (Some(idn), b) => {
                    f.insert("birth_date".into(), opt_value(birth_date_with_id(Some(&idn), b.flatten())?));
                }
                (None, Some(b)) => {
                    // A birth date alone must agree with the ID number kept (unless that is
                    // being cleared, or is masked on this device).
                    let kept = match patch.id_number {
                        Some(_) => None,
                        None => record::require(tx, EntityKind::Resident, id)?
                            .fields
                            .get("id_number")
                            .and_then(|v| v.as_str().map(str::to_owned)),
                    };
                    f.insert("birth_date".into(), opt_value(birth_date_with_id(kept.as_deref(), b)?));
                }
                (None, None) => {}
            }
            if let Some(v) = &patch.relation {
                f.insert("relation".into(), json!(input::free_text("relation", v, 20)?));
            }
            if let Some(v) = &patch.tags {
                f.insert("tags".into(), json!(input::tags("tags", v, CARE_TAGS)?));
            }
            if let Some(v) = &patch.notes {
                f.insert("notes".into(), json!(input::free_text("notes", v, 2000)?));
            }
            input::born_by(&f, w.now)?;
            w.update(EntityKind::Resident, id, f)?;
            Ok(())
        })?;
        self.resident(id)
    }

    /// Removes a resident.
    pub fn delete_resident(&self, id: &str) -> Result<()> {
        let who = self.require_principal()?;
        self.write(|tx| Writer::new(tx, self, &who).delete(EntityKind::Resident, id).map(|_| ()))
    }

    /// One resident, personal fields masked for roles that may not see them.
    pub fn resident(&self, id: &str) -> Result<Resident> {
        let row = self.read(|c| record::require(c, EntityKind::Resident, id))?;
        self.typed_masked(EntityKind::Resident, row)
    }

    /// Residents of a household, head first.
    pub fn residents_of(&self, household_id: &str) -> Result<Vec<Resident>> {
        let rows = self.read(|c| {
            record::select_where(
                c,
                EntityKind::Resident,
                "household_id = ?1 ORDER BY relation <> '户主', birth_date, id",
                &[&household_id],
            )
        })?;
        rows.into_iter().map(|r| self.typed_masked(EntityKind::Resident, r)).collect()
    }

    /// Converts a row to its typed form, masking personal fields the user may not see.
    pub(crate) fn typed_masked<T: serde::de::DeserializeOwned>(&self, kind: EntityKind, mut row: record::Row) -> Result<T> {
        if !self.principal().is_none_or(|p| p.sees_personal_data()) {
            crate::access::mask_fields(kind, &mut row.fields);
        }
        record::typed(row)
    }
}

/// The birth date of a resident: the one in their ID number, which a given date must match.
pub(crate) fn birth_date_with_id(id_number: Option<&str>, given: Option<String>) -> Result<Option<String>> {
    let from_id = id_number
        .and_then(crate::validate::resident_id_birth_date)
        .map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
    match (from_id, given) {
        (Some(a), Some(b)) if a != b => Err(Error::invalid("birth_date", "出生日期与身份证号不一致")),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

fn resident_ids(conn: &rusqlite::Connection, household_id: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM residents WHERE household_id = ?1 ORDER BY id")?;
    let ids = stmt.query_map([household_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(ids)
}
