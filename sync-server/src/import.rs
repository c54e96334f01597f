//! Loading a city's reference data into a server: the jurisdiction tree (city → divisions →
//! … → grids), the departments incidents are dispatched to and the incident categories with
//! their deadlines. Devices cannot write these (they are the server's), so a server that is not
//! the demo gets them from a file, in the shape of `shared/data/jiangmen.json`:
//!
//! ```json
//! {"city": {"code": "JM", "name": "江门市"},
//!  "divisions": [{"code": "JM-PJ", "name": "蓬江区", "kind": "district", "children": [ … ]}],
//!  "departments": [{"code": "urban_mgmt", "name": "城市管理和综合执法局"}],
//!  "incident_categories": [{"code": "dispute", "name": "矛盾纠纷", "response_hours": 24, "resolve_days": 15}]}
//! ```
//!
//! Codes are the records' ids. A record already held is left as it is (a file can be imported
//! again after it grew); the whole file is checked before anything is written.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::json;

use gridline_core::access::{Principal, Scope};
use gridline_core::protocol::{Op, OpKind, OpStatus, PushRequest, PROTOCOL_VERSION};
use gridline_core::{EntityKind, Role};

use crate::demo::{fields as demo_fields, new_id};
use crate::error::AppError;
use crate::service::{check_plain_create, Origin, Service, MAX_ID_CHARS};

#[derive(Debug, Deserialize)]
struct CityFile {
    city: Option<Node>,
    #[serde(default)]
    divisions: Vec<Node>,
    #[serde(default)]
    departments: Vec<Named>,
    #[serde(default)]
    incident_categories: Vec<CategorySpec>,
}

#[derive(Debug, Deserialize)]
struct Node {
    code: String,
    name: String,
    kind: Option<String>,
    #[serde(default)]
    children: Vec<Node>,
}

#[derive(Debug, Deserialize)]
struct Named {
    code: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct CategorySpec {
    code: String,
    name: String,
    response_hours: i64,
    resolve_days: i64,
}

/// What an import wrote, per kind: (new, already held).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Areas.
    pub areas: (usize, usize),
    /// Departments.
    pub departments: (usize, usize),
    /// Incident categories.
    pub categories: (usize, usize),
}

fn bad(path: &str, en: &str, zh: &str) -> AppError {
    AppError::bad_request(format!("{path}: {en}"), format!("「{path}」{zh}"))
}

/// Checks one record's code and name (non-empty, trimmed, the code unused so far).
fn check_named(path: &str, code: &str, name: &str, seen: &mut HashSet<String>) -> Result<(), AppError> {
    if code.trim().is_empty() || code.trim() != code {
        return Err(bad(&format!("{path}.code"), "must be non-empty without surrounding spaces", "编码不能为空，前后不能有空格"));
    }
    if code.chars().count() > MAX_ID_CHARS {
        return Err(bad(&format!("{path}.code"), &format!("must be at most {MAX_ID_CHARS} characters"), &format!("编码最多{MAX_ID_CHARS}个字符")));
    }
    if name.trim().is_empty() {
        return Err(bad(&format!("{path}.name"), "must not be empty", "名称不能为空"));
    }
    if !seen.insert(code.to_owned()) {
        return Err(bad(&format!("{path}.code"), &format!("{code} appears twice"), &format!("编码 {code} 重复")));
    }
    Ok(())
}

/// The areas of a tree as (place in the file, id, parent, kind, name), parents first, checked.
fn flatten(
    node: &Node,
    path: &str,
    parent: Option<&str>,
    default_kind: Option<&str>,
    seen: &mut HashSet<String>,
    out: &mut Vec<(String, String, Option<String>, String, String)>,
) -> Result<(), AppError> {
    check_named(path, &node.code, &node.name, seen)?;
    let kind = match (node.kind.as_deref().map(str::trim), default_kind) {
        (Some(k), _) if !k.is_empty() => k.to_owned(),
        (_, Some(d)) => d.to_owned(),
        _ => return Err(bad(&format!("{path}.kind"), "must name the level (district, street, community, grid, …)", "须注明层级（区、街道、社区、网格等）")),
    };
    out.push((path.to_owned(), node.code.clone(), parent.map(str::to_owned), kind, node.name.clone()));
    for (i, child) in node.children.iter().enumerate() {
        flatten(child, &format!("{path}.children[{i}]"), Some(&node.code), None, seen, out)?;
    }
    Ok(())
}

/// Imports the reference data of a city file (JSON text). The whole file is checked first: one
/// that fails a check writes nothing, and the error names the place in the file.
pub fn import_reference(service: &Service, text: &str) -> Result<Imported, AppError> {
    let file: CityFile = serde_json::from_str(text)
        .map_err(|e| AppError::bad_request(format!("the file is not a city file: {e}"), format!("文件格式不符：{e}")))?;
    let mut seen = HashSet::new();
    let mut areas = Vec::new();
    match &file.city {
        Some(city) => {
            flatten(city, "city", None, Some("city"), &mut seen, &mut areas)?;
            for (i, d) in file.divisions.iter().enumerate() {
                flatten(d, &format!("divisions[{i}]"), Some(&city.code), None, &mut seen, &mut areas)?;
            }
        }
        None if !file.divisions.is_empty() => {
            return Err(bad("city", "is needed above the divisions", "缺少市级节点（divisions 的上级）"));
        }
        None => {}
    }
    let mut dept_codes = HashSet::new();
    for (i, d) in file.departments.iter().enumerate() {
        check_named(&format!("departments[{i}]"), &d.code, &d.name, &mut dept_codes)?;
    }
    let mut cat_codes = HashSet::new();
    for (i, c) in file.incident_categories.iter().enumerate() {
        let path = format!("incident_categories[{i}]");
        check_named(&path, &c.code, &c.name, &mut cat_codes)?;
        for (field, v) in [("response_hours", c.response_hours), ("resolve_days", c.resolve_days)] {
            if v <= 0 {
                return Err(bad(&format!("{path}.{field}"), "must be a positive whole number", "须为正整数"));
            }
        }
    }

    let console = service.storage().console();
    let mut report = Imported::default();
    let mut ops = Vec::new();
    let mut add = |path: &str, entity: EntityKind, id: &str, fields: serde_json::Value, count: &mut (usize, usize)| -> Result<(), AppError> {
        if console.record(entity, id)?.is_some() {
            count.1 += 1;
            return Ok(());
        }
        // A deleted record's id stays taken (its tombstone replicates): the writer would refuse it.
        if console.deleted(entity, id)? {
            return Err(bad(&format!("{path}.code"), &format!("{id} belonged to a record that was deleted"), &format!("编码 {id} 属于已删除的记录，不能再用")));
        }
        count.0 += 1;
        let op = Op {
            op_id: new_id(),
            device_seq: ops.len() as i64,
            entity,
            entity_id: id.to_owned(),
            kind: OpKind::Create,
            fields: demo_fields(fields),
            base_version: 0,
            device_time: service.now_ms(),
        };
        // What the writer would refuse (a code or a name too long) is refused here, with its
        // place in the file, before anything is written.
        check_plain_create(&op).map_err(|(en, zh)| bad(path, &en, &zh))?;
        ops.push((path.to_owned(), op));
        Ok(())
    };
    for (path, code, parent, kind, name) in &areas {
        let f = json!({"parent_id": parent, "kind": kind, "code": code, "name": name});
        add(path, EntityKind::Area, code, f, &mut report.areas)?;
    }
    for (i, d) in file.departments.iter().enumerate() {
        let f = json!({"code": d.code, "name": d.name});
        add(&format!("departments[{i}]"), EntityKind::Department, &d.code, f, &mut report.departments)?;
    }
    for (i, c) in file.incident_categories.iter().enumerate() {
        let f = json!({"name": c.name, "response_hours": c.response_hours, "resolve_days": c.resolve_days});
        add(&format!("incident_categories[{i}]"), EntityKind::Category, &c.code, f, &mut report.categories)?;
    }
    if ops.is_empty() {
        return Ok(report);
    }
    // One push, so one transaction: the import is written whole (a device's batch limit is
    // for the wire, not for the server's own writes).
    let server = Principal { user_id: "server".into(), role: Role::Admin, scope: Scope::default() };
    let (paths, ops): (Vec<String>, Vec<Op>) = ops.into_iter().unzip();
    let req = PushRequest { protocol: PROTOCOL_VERSION, ops, sent_at: service.now_ms(), scope_epoch: None };
    let resp = service.push(&server, Origin::Server, &req)?;
    if let Some((path, r)) = paths.iter().zip(&resp.results).find(|(_, r)| r.status == OpStatus::Rejected) {
        // Not expected after the checks above; said as it is, with the way out.
        let reason = r.reason.clone().unwrap_or_default();
        return Err(AppError::bad_request(
            format!("{path}: refused ({reason}); the file's other new records were written, and importing it again after the fix adds the rest"),
            format!("「{path}」未能写入：{reason}；文件中其余新记录已写入，改正后再次导入即可补齐"),
        ));
    }
    Ok(report)
}
