//! Generic reads and writes of entity rows as JSON field maps, driven by [`crate::entities`].
//!
//! Domain modules validate and build field maps; this module is the only place that turns
//! them into SQL, so outbox replay, pull apply and local writes all store rows the same way.

use std::sync::OnceLock;

use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{params_from_iter, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::entities::{EntityKind, FieldSpec, FieldType};
use crate::error::{Error, Result};

/// A set of fields of one record, by field name.
pub type Fields = Map<String, Value>;

/// One stored record: id, server version and all its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Record id (UUIDv7 text, or a code for reference data).
    pub id: String,
    /// Server sequence of the row's last change (0 = not yet on the server).
    pub version: i64,
    /// Every field, NULLs as JSON null.
    pub fields: Fields,
}

/// Converts one JSON value into the SQLite value for `spec`, checking its type. Text is bound
/// by reference (no copy per field and row); JSON fields are serialized.
pub fn to_sql<'v>(spec: &FieldSpec, v: &'v Value) -> Result<ToSqlOutput<'v>> {
    let wrong = |what: &str| Error::invalid(spec.name, format!("类型错误：应为{what}"));
    Ok(match (spec.ty, v) {
        (_, Value::Null) if spec.nullable => ToSqlOutput::Borrowed(ValueRef::Null),
        (_, Value::Null) => return Err(Error::invalid(spec.name, "不能为空")),
        (FieldType::Text, Value::String(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        (FieldType::Text, _) => return Err(wrong("文本")),
        (FieldType::Int, Value::Number(n)) => match n.as_i64() {
            Some(i) => ToSqlOutput::Owned(SqlValue::Integer(i)),
            None => return Err(wrong("整数")),
        },
        (FieldType::Int, _) => return Err(wrong("整数")),
        (FieldType::Real, Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() => ToSqlOutput::Owned(SqlValue::Real(x)),
            _ => return Err(wrong("数字")),
        },
        (FieldType::Real, _) => return Err(wrong("数字")),
        (FieldType::Json, Value::Array(_) | Value::Object(_)) => ToSqlOutput::Owned(SqlValue::Text(v.to_string())),
        (FieldType::Json, _) => return Err(wrong("数组或对象")),
    })
}

/// Longest text value of any field, in characters (the longest the app takes is 4,000).
pub const MAX_TEXT_CHARS: usize = 4000;
/// Largest JSON field (a chunk of patrol track points), serialized.
pub const MAX_JSON_BYTES: usize = 1 << 20;
/// Deepest nesting of a JSON field (a list of points is 2 deep).
pub const MAX_JSON_DEPTH: usize = 4;

fn json_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Checks that every key of `fields` is a known field of `kind` with a value of the right type
/// and a sane size.
pub fn check_fields(kind: EntityKind, fields: &Fields) -> Result<()> {
    for (name, v) in fields {
        let spec = kind
            .field(name)
            .ok_or_else(|| Error::invalid(name.as_str(), format!("「{}」没有这个字段", kind.label_zh())))?;
        let too_large = match to_sql(spec, v)? {
            ToSqlOutput::Borrowed(ValueRef::Text(text)) => {
                // Bytes first: a text within the limit in bytes is within it in characters.
                text.len() > MAX_TEXT_CHARS && v.as_str().is_some_and(|s| s.chars().count() > MAX_TEXT_CHARS)
            }
            ToSqlOutput::Owned(SqlValue::Text(json)) => json.len() > MAX_JSON_BYTES || json_depth(v) > MAX_JSON_DEPTH,
            _ => false,
        };
        if too_large {
            return Err(match spec.ty {
                FieldType::Json => Error::invalid(spec.name, "内容过大或层级过深"),
                _ => Error::invalid(spec.name, format!("内容过长（最多{MAX_TEXT_CHARS}字）")),
            });
        }
    }
    Ok(())
}

/// Checks that a stored row of `kind` reads back as the record the app works with (enum values
/// it knows, JSON fields of the right shape). The server refuses a write that would leave a row
/// no device can read.
pub fn check_readable(kind: EntityKind, row: Row) -> Result<()> {
    use crate::{areas, buildings, households, incidents, patrols, tasks};
    let read = match kind {
        EntityKind::Area => typed::<areas::Area>(row).map(drop),
        EntityKind::Department => typed::<areas::Department>(row).map(drop),
        EntityKind::Category => typed::<areas::Category>(row).map(drop),
        EntityKind::Building => typed::<buildings::Building>(row).map(drop),
        EntityKind::Household => typed::<households::Household>(row).map(drop),
        EntityKind::Resident => typed::<households::Resident>(row).map(drop),
        EntityKind::Incident => typed::<incidents::Incident>(row).map(drop),
        EntityKind::IncidentEvent => typed::<incidents::IncidentEvent>(row).map(drop),
        EntityKind::Patrol => typed::<patrols::Patrol>(row).map(drop),
        EntityKind::PatrolTrack => {
            serde_json::from_value::<Vec<patrols::GpsPoint>>(row.fields.get("points").cloned().unwrap_or(Value::Null))
                .map(drop)
                .map_err(Error::from)
        }
        EntityKind::Visit => typed::<patrols::Visit>(row).map(drop),
        EntityKind::Task => typed::<tasks::Task>(row).map(drop),
        EntityKind::TaskAssignment => typed::<tasks::TaskAssignment>(row).map(drop),
    };
    // serde's message may quote the value: it is not passed on.
    read.map_err(|_| Error::invalid("record", format!("「{}」的内容无法识别（未知的取值或结构）", kind.label_zh())))
}

fn from_sql(spec: &FieldSpec, row: &rusqlite::Row<'_>, idx: usize) -> Result<Value> {
    Ok(match spec.ty {
        FieldType::Text => row.get::<_, Option<String>>(idx)?.map(Value::String).unwrap_or(Value::Null),
        FieldType::Int => row.get::<_, Option<i64>>(idx)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Real => row.get::<_, Option<f64>>(idx)?.map(Value::from).unwrap_or(Value::Null),
        FieldType::Json => match row.get::<_, Option<String>>(idx)? {
            Some(s) => serde_json::from_str(&s)?,
            None => Value::Null,
        },
    })
}

struct Sql {
    insert: String,
    /// The insert without the derived columns, so that they take their column defaults.
    insert_underived: String,
    upsert: String,
    select: String,
    select_all: String,
}

fn sql(kind: EntityKind) -> &'static Sql {
    static CACHE: OnceLock<Vec<Sql>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        EntityKind::ALL
            .iter()
            .map(|k| {
                let t = k.table();
                let cols: Vec<&str> = k.fields().iter().map(|f| f.name).collect();
                let names = cols.join(", ");
                let marks = vec!["?"; cols.len() + 2].join(", ");
                let sets: Vec<String> = cols.iter().map(|c| format!("{c} = excluded.{c}")).collect();
                let underived: Vec<&str> = k.fields().iter().filter(|f| !f.derived).map(|f| f.name).collect();
                Sql {
                    insert: format!("INSERT INTO {t} (id, version, {names}) VALUES ({marks})"),
                    insert_underived: format!(
                        "INSERT INTO {t} (id, version, {}) VALUES ({})",
                        underived.join(", "),
                        vec!["?"; underived.len() + 2].join(", ")
                    ),
                    upsert: format!(
                        "INSERT INTO {t} (id, version, {names}) VALUES ({marks}) \
                         ON CONFLICT(id) DO UPDATE SET version = excluded.version, {}",
                        sets.join(", ")
                    ),
                    select: format!("SELECT id, version, {names} FROM {t} WHERE id = ?"),
                    select_all: format!("SELECT id, version, {names} FROM {t} ORDER BY id"),
                }
            })
            .collect()
    });
    &all[EntityKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)]
}

fn full_params<'a>(kind: EntityKind, id: &'a str, version: i64, fields: &'a Fields) -> Result<Vec<ToSqlOutput<'a>>> {
    let mut params = Vec::with_capacity(kind.fields().len() + 2);
    params.push(ToSqlOutput::Borrowed(ValueRef::Text(id.as_bytes())));
    params.push(ToSqlOutput::Owned(SqlValue::Integer(version)));
    for spec in kind.fields() {
        params.push(to_sql(spec, fields.get(spec.name).unwrap_or(&Value::Null))?);
    }
    Ok(params)
}

/// Inserts a new row; every non-nullable field must be present. When no derived field is
/// given (a local create or its op), the derived columns take their defaults (e.g. a new
/// patrol's distance is 0) until the core computes them.
pub fn insert(conn: &Connection, kind: EntityKind, id: &str, version: i64, fields: &Fields) -> Result<()> {
    let given = |f: &FieldSpec| fields.get(f.name).is_some_and(|v| !v.is_null());
    if kind.fields().iter().any(|f| f.derived && given(f)) {
        let params = full_params(kind, id, version, fields)?;
        conn.prepare_cached(&sql(kind).insert)?.execute(params_from_iter(params))?;
        return Ok(());
    }
    let mut params = Vec::with_capacity(kind.fields().len() + 2);
    params.push(ToSqlOutput::Borrowed(ValueRef::Text(id.as_bytes())));
    params.push(ToSqlOutput::Owned(SqlValue::Integer(version)));
    for spec in kind.fields().iter().filter(|f| !f.derived) {
        params.push(to_sql(spec, fields.get(spec.name).unwrap_or(&Value::Null))?);
    }
    conn.prepare_cached(&sql(kind).insert_underived)?.execute(params_from_iter(params))?;
    Ok(())
}

/// Inserts or replaces a whole row (pull apply).
pub fn upsert(conn: &Connection, kind: EntityKind, id: &str, version: i64, fields: &Fields) -> Result<()> {
    let params = full_params(kind, id, version, fields)?;
    conn.prepare_cached(&sql(kind).upsert)?.execute(params_from_iter(params))?;
    Ok(())
}

/// Updates the given fields of a row. Returns false when the row does not exist.
pub fn update(conn: &Connection, kind: EntityKind, id: &str, fields: &Fields) -> Result<bool> {
    if fields.is_empty() {
        return exists(conn, kind, id);
    }
    let mut sets = Vec::with_capacity(fields.len());
    let mut params = Vec::with_capacity(fields.len() + 1);
    for (name, v) in fields {
        let spec = kind
            .field(name)
            .ok_or_else(|| Error::invalid(name.as_str(), format!("「{}」没有这个字段", kind.label_zh())))?;
        sets.push(format!("{} = ?", spec.name));
        params.push(to_sql(spec, v)?);
    }
    params.push(ToSqlOutput::Borrowed(ValueRef::Text(id.as_bytes())));
    let q = format!("UPDATE {} SET {} WHERE id = ?", kind.table(), sets.join(", "));
    Ok(conn.prepare_cached(&q)?.execute(params_from_iter(params))? > 0)
}

/// Sets the server version of a row.
pub fn set_version(conn: &Connection, kind: EntityKind, id: &str, version: i64) -> Result<()> {
    let q = format!("UPDATE {} SET version = max(version, ?) WHERE id = ?", kind.table());
    conn.prepare_cached(&q)?.execute(rusqlite::params![version, id])?;
    Ok(())
}

/// Deletes a row. Returns false when it did not exist.
pub fn delete(conn: &Connection, kind: EntityKind, id: &str) -> Result<bool> {
    let q = format!("DELETE FROM {} WHERE id = ?", kind.table());
    Ok(conn.prepare_cached(&q)?.execute([id])? > 0)
}

/// Whether a row exists.
pub fn exists(conn: &Connection, kind: EntityKind, id: &str) -> Result<bool> {
    let q = format!("SELECT 1 FROM {} WHERE id = ?", kind.table());
    Ok(conn.prepare_cached(&q)?.query_row([id], |_| Ok(())).optional()?.is_some())
}

fn read_row(kind: EntityKind, row: &rusqlite::Row<'_>) -> Result<Row> {
    let mut fields = Map::new();
    for (i, spec) in kind.fields().iter().enumerate() {
        fields.insert(spec.name.to_owned(), from_sql(spec, row, i + 2)?);
    }
    Ok(Row { id: row.get(0)?, version: row.get(1)?, fields })
}

/// Reads one row.
pub fn get(conn: &Connection, kind: EntityKind, id: &str) -> Result<Option<Row>> {
    let mut stmt = conn.prepare_cached(&sql(kind).select)?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(r) => Ok(Some(read_row(kind, r)?)),
        None => Ok(None),
    }
}

/// Reads one row as its server version and its fields serialized as a JSON object, written
/// straight from the stored values (no field map): what the server's change feed sends. Values
/// read as [`get`] reads them (a JSON field must hold valid JSON); `None` when there is no row.
pub fn get_json(conn: &Connection, kind: EntityKind, id: &str) -> Result<Option<(i64, String)>> {
    let mut stmt = conn.prepare_cached(&sql(kind).select)?;
    let mut rows = stmt.query([id])?;
    let Some(r) = rows.next()? else { return Ok(None) };
    let mut out = Vec::with_capacity(512);
    out.push(b'{');
    for (i, spec) in kind.fields().iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, spec.name)?;
        out.push(b':');
        write_json_value(&mut out, spec, i + 2, r.get_ref(i + 2)?)?;
    }
    out.push(b'}');
    // Every piece written is UTF-8 (checked text, serde's output, checked JSON).
    let json = String::from_utf8(out).map_err(|e| Error::from(rusqlite::Error::Utf8Error(0, e.utf8_error())))?;
    Ok(Some((r.get(1)?, json)))
}

/// One stored value as JSON, with [`from_sql`]'s types and errors.
fn write_json_value(out: &mut Vec<u8>, spec: &FieldSpec, column: usize, v: ValueRef<'_>) -> Result<()> {
    let wrong = || Error::from(rusqlite::Error::InvalidColumnType(column, spec.name.to_owned(), v.data_type()));
    match (spec.ty, v) {
        (_, ValueRef::Null) => out.extend_from_slice(b"null"),
        (FieldType::Text, ValueRef::Text(t)) => {
            serde_json::to_writer(&mut *out, std::str::from_utf8(t).map_err(|_| wrong())?)?;
        }
        (FieldType::Int, ValueRef::Integer(n)) => serde_json::to_writer(&mut *out, &n)?,
        // As `Value::from(f64)`: finite numbers as floats, others as null.
        (FieldType::Real, ValueRef::Real(x)) => serde_json::to_writer(&mut *out, &x)?,
        (FieldType::Real, ValueRef::Integer(n)) => serde_json::to_writer(&mut *out, &(n as f64))?,
        (FieldType::Json, ValueRef::Text(t)) => {
            // Checked, not rebuilt: stored JSON is spliced in as it is.
            let raw: &serde_json::value::RawValue = serde_json::from_slice(t)?;
            out.extend_from_slice(raw.get().as_bytes());
        }
        _ => return Err(wrong()),
    }
    Ok(())
}

/// Reads one row or fails with [`Error::NotFound`].
pub fn require(conn: &Connection, kind: EntityKind, id: &str) -> Result<Row> {
    get(conn, kind, id)?.ok_or(Error::NotFound { entity: kind })
}

/// Reads rows with a `WHERE` clause over the entity table (the clause is code, never input).
pub fn select_where(
    conn: &Connection,
    kind: EntityKind,
    clause: &str,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Row>> {
    let cols: Vec<&str> = kind.fields().iter().map(|f| f.name).collect();
    let q = format!("SELECT id, version, {} FROM {} WHERE {clause}", cols.join(", "), kind.table());
    let mut stmt = conn.prepare_cached(&q)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(read_row(kind, r)?);
    }
    Ok(out)
}

/// Every row of a kind ordered by id: a canonical dump for comparisons.
pub fn dump(conn: &Connection, kind: EntityKind) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(&sql(kind).select_all)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(read_row(kind, r)?);
    }
    Ok(out)
}

/// Typed view of a row: `id` and `version` merged into the fields, then deserialized.
pub fn typed<T: serde::de::DeserializeOwned>(row: Row) -> Result<T> {
    let mut m = row.fields;
    m.insert("id".into(), Value::String(row.id));
    m.insert("version".into(), Value::from(row.version));
    Ok(serde_json::from_value(Value::Object(m))?)
}
