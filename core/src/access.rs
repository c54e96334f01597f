//! Who may do what, where: the role and scope rules that the device applies up front and the
//! server enforces on every pushed op and every pulled row (DESIGN.md sync rule 7).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::entities::EntityKind;
use crate::incident_flow::{EventKind, Role};

/// The user a device acts for: set at enrollment, replaced by sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: Role,
    /// Where the user may act.
    pub scope: Scope,
}

/// A user's scope: area subtrees, single buildings (building heads) and departments (handlers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Area ids; each covers its whole subtree.
    #[serde(default)]
    pub area_ids: Vec<String>,
    /// Building ids (building heads).
    #[serde(default)]
    pub building_ids: Vec<String>,
    /// Department ids (department handlers).
    #[serde(default)]
    pub department_ids: Vec<String>,
}

/// The kinds of id a scope is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// `area_ids`: area subtrees.
    Areas,
    /// `building_ids`: single buildings.
    Buildings,
    /// `department_ids`: departments.
    Departments,
}

impl ScopeKind {
    /// Every kind, in the order of [`Scope`]'s fields.
    pub const ALL: [ScopeKind; 3] = [ScopeKind::Areas, ScopeKind::Buildings, ScopeKind::Departments];

    /// The scope field's name.
    pub fn field(self) -> &'static str {
        match self {
            ScopeKind::Areas => "area_ids",
            ScopeKind::Buildings => "building_ids",
            ScopeKind::Departments => "department_ids",
        }
    }

    /// The kind of record the ids name.
    pub fn entity(self) -> EntityKind {
        match self {
            ScopeKind::Areas => EntityKind::Area,
            ScopeKind::Buildings => EntityKind::Building,
            ScopeKind::Departments => EntityKind::Department,
        }
    }

    /// The scope's ids of this kind.
    pub fn ids(self, scope: &Scope) -> &[String] {
        match self {
            ScopeKind::Areas => &scope.area_ids,
            ScopeKind::Buildings => &scope.building_ids,
            ScopeKind::Departments => &scope.department_ids,
        }
    }

    /// The kind of scope a role is granted by ([`Principal::can_read`] and
    /// [`Principal::check_write`] look at no other); None for admins, who see everything.
    pub fn of_role(role: Role) -> Option<ScopeKind> {
        match role {
            Role::GridWorker | Role::Supervisor => Some(ScopeKind::Areas),
            Role::BuildingHead => Some(ScopeKind::Buildings),
            Role::DepartmentHandler => Some(ScopeKind::Departments),
            Role::Admin => None,
        }
    }
}

/// A scope that does not fit its role, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeProblem {
    /// The scope field at fault (`area_ids`, `building_ids`, `department_ids`).
    pub field: &'static str,
    /// What is wrong, in English.
    pub message: String,
    /// What is wrong, in Simplified Chinese.
    pub message_zh: String,
}

/// Checks that a user's scope fits their role: the role's kind of ids, at least one, none empty
/// or repeated, and no ids of a kind the role ignores (they would grant nothing, and whoever
/// gave them meant something else). Admins are given no scope. Whether the ids exist is the
/// caller's to check.
pub fn check_scope(role: Role, scope: &Scope) -> Result<(), ScopeProblem> {
    let needed = ScopeKind::of_role(role);
    let problem = |kind: ScopeKind, message: String, message_zh: String| ScopeProblem { field: kind.field(), message, message_zh };
    // Ids of a kind the role ignores first: they say most about what was meant.
    if let Some(kind) = ScopeKind::ALL.into_iter().find(|k| Some(*k) != needed && !k.ids(scope).is_empty()) {
        let granted = match needed {
            Some(k) => format!("{}的范围按{}指定", role.label_zh(), k.entity().label_zh()),
            None => format!("{}可见全部数据", role.label_zh()),
        };
        return Err(problem(
            kind,
            format!("role {} is not given {}", role.as_str(), kind.field()),
            format!("{granted}，不能指定{}", kind.entity().label_zh()),
        ));
    }
    let Some(kind) = needed else { return Ok(()) };
    let (ids, label) = (kind.ids(scope), kind.entity().label_zh());
    if ids.is_empty() {
        return Err(problem(
            kind,
            format!("role {} needs at least one id in {}", role.as_str(), kind.field()),
            format!("{}至少要指定一个{label}", role.label_zh()),
        ));
    }
    if ids.iter().any(|id| id.trim().is_empty()) {
        return Err(problem(kind, format!("{} holds an empty id", kind.field()), format!("{label}编号不能为空")));
    }
    if let Some(id) = ids.iter().enumerate().find_map(|(i, id)| ids[..i].contains(id).then_some(id)) {
        return Err(problem(kind, format!("{} names {id} twice", kind.field()), format!("{label}「{id}」重复指定")));
    }
    Ok(())
}

/// What is being done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create a record.
    Create,
    /// Change fields of a record.
    Update,
    /// Delete a record.
    Delete,
    /// Append an incident event.
    Event(EventKind),
}

/// Where the record sits, as the caller's store knows it.
#[derive(Debug, Clone, Default)]
pub struct Target<'a> {
    /// The record's grid (or area, for tasks) and all its ancestors, nearest first.
    pub area_path: &'a [String],
    /// The record's building, if it has one.
    pub building_id: Option<&'a str>,
    /// The incident's department, for incidents and their events.
    pub department_id: Option<&'a str>,
    /// The user who owns the record (patrols, visits: the worker; assignments: the assignee).
    pub owner_id: Option<&'a str>,
    /// The jurisdiction tree, for rules that look down from the record's area (a task issued to
    /// a community reaches the grid workers of its grids). `None`: only `area_path` is known.
    pub tree: Option<&'a AreaParents>,
}

impl<'a> Target<'a> {
    /// The same target, with the jurisdiction tree known.
    pub fn with_tree(self, tree: &'a AreaParents) -> Self {
        Target { tree: Some(tree), ..self }
    }
}

/// Area id → parent id: the jurisdiction tree.
pub type AreaParents = HashMap<String, Option<String>>;

/// An area and its ancestors, nearest first (stops at unknown ids, cycles and runaway depth).
pub fn area_path(tree: &AreaParents, id: &str) -> Vec<String> {
    let mut out = vec![id.to_owned()];
    let mut cur = id;
    while let Some(Some(parent)) = tree.get(cur) {
        if out.len() > 16 || out.iter().any(|a| a == parent) {
            break;
        }
        out.push(parent.clone());
        cur = parent;
    }
    out
}

/// Why an action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyCode {
    /// The record is outside the user's scope.
    OutOfScope,
    /// The role may not do this to this kind of record.
    RoleNotAllowed,
    /// The role may not write this field (personal data or a derived field).
    FieldProtected,
}

impl DenyCode {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyCode::OutOfScope => "out_of_scope",
            DenyCode::RoleNotAllowed => "role_not_allowed",
            DenyCode::FieldProtected => "field_protected",
        }
    }
}

/// A refusal with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// Machine code.
    pub code: DenyCode,
    /// Reason in Simplified Chinese.
    pub reason_zh: String,
}

fn deny(code: DenyCode, reason_zh: impl Into<String>) -> Denied {
    Denied { code, reason_zh: reason_zh.into() }
}

/// Fields a building head may change (the rest of the register is the grid worker's).
const BUILDING_HEAD_WRITABLE: &[(EntityKind, &[&str])] = &[
    (EntityKind::Household, &["member_count", "care_tags", "notes"]),
    (EntityKind::Resident, &["tags", "notes"]),
];

/// Fields an assignee may change on their task assignment; the rest is the supervisor's.
const ASSIGNEE_WRITABLE: &[&str] = &["evidence_text", "evidence_photos", "submitted_at", "status"];

/// Fields a reporter or grid worker may change on an incident after reporting it.
const INCIDENT_EDITABLE: &[&str] =
    &["description", "location_text", "lat", "lng", "photos", "severity", "category", "building_id", "household_id"];

impl Principal {
    fn in_area(&self, t: &Target<'_>) -> bool {
        t.area_path.iter().any(|a| self.scope.area_ids.iter().any(|s| s == a))
    }
    /// The record's area lies above one of the user's areas (a task of the community reaches
    /// the workers of its grids).
    fn above_area(&self, t: &Target<'_>) -> bool {
        let (Some(tree), Some(area)) = (t.tree, t.area_path.first()) else { return false };
        self.scope.area_ids.iter().any(|mine| area_path(tree, mine).iter().any(|a| a == area))
    }
    fn in_building(&self, t: &Target<'_>) -> bool {
        t.building_id.is_some_and(|b| self.scope.building_ids.iter().any(|s| s == b))
    }
    fn in_department(&self, t: &Target<'_>) -> bool {
        t.department_id.is_some_and(|d| self.scope.department_ids.iter().any(|s| s == d))
    }

    /// Whether this user may see a record of `entity` at `t` (pull filter and screens).
    pub fn can_read(&self, entity: EntityKind, t: &Target<'_>) -> bool {
        if entity.is_reference() {
            return true;
        }
        match self.role {
            Role::Admin => true,
            // Tasks are issued at community or street level and reach every grid below.
            Role::Supervisor | Role::GridWorker if entity == EntityKind::Task => self.in_area(t) || self.above_area(t),
            Role::Supervisor | Role::GridWorker => self.in_area(t),
            Role::BuildingHead => match entity {
                EntityKind::Building
                | EntityKind::Household
                | EntityKind::Resident
                | EntityKind::Incident
                | EntityKind::IncidentEvent => self.in_building(t),
                _ => false,
            },
            Role::DepartmentHandler => {
                matches!(entity, EntityKind::Incident | EntityKind::IncidentEvent) && self.in_department(t)
            }
        }
    }

    /// [`Principal::can_read`] for a record known by its scope keys, with the jurisdiction tree
    /// (the area path is worked out here): the check the pull feed, photo downloads and the
    /// console's pages share, so a screen never shows less or more than the phone receives.
    pub fn can_read_keys(&self, entity: EntityKind, keys: &ScopeKeys, tree: &AreaParents) -> bool {
        let path = keys.area_id.as_deref().map(|a| area_path(tree, a)).unwrap_or_default();
        self.can_read(entity, &keys.target(&path).with_tree(tree))
    }

    /// Whether personal fields (ID numbers, phones) are shown to this role unmasked.
    pub fn sees_personal_data(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Supervisor | Role::GridWorker)
    }

    /// Checks one write. `fields` are the names the op changes (for updates: only those).
    pub fn check_write(
        &self,
        entity: EntityKind,
        action: Action,
        t: &Target<'_>,
        fields: &[&str],
    ) -> Result<(), Denied> {
        let label = entity.label_zh();
        if entity.is_reference() {
            return Err(deny(DenyCode::RoleNotAllowed, format!("{label}由服务器维护，设备不能修改")));
        }
        if let Some(f) = fields.iter().find(|f| entity.field(f).is_some_and(|s| s.derived)) {
            return Err(deny(DenyCode::FieldProtected, format!("字段「{f}」由系统计算，不能直接修改")));
        }
        let role = self.role;
        let out_of_scope = || deny(DenyCode::OutOfScope, format!("该{label}不在您的管辖范围内"));
        let not_role =
            || deny(DenyCode::RoleNotAllowed, format!("{}不能对{label}执行此操作", role.label_zh()));
        let area_ok = self.in_area(t);
        match (entity, role) {
            // Events are appended through their incident (the state machine decides), and
            // incidents have rules of their own: these hold for admins too.
            (EntityKind::IncidentEvent, _) => Err(not_role()),
            (EntityKind::Incident, _) => self.check_incident(action, t, fields, area_ok),
            (_, Role::Admin) => Ok(()),
            (EntityKind::Building, Role::GridWorker | Role::Supervisor) => match action {
                Action::Create | Action::Update => area_ok.then_some(()).ok_or_else(out_of_scope),
                Action::Delete if role == Role::Supervisor => area_ok.then_some(()).ok_or_else(out_of_scope),
                _ => Err(not_role()),
            },
            (EntityKind::Household | EntityKind::Resident, Role::GridWorker | Role::Supervisor) => {
                match action {
                    Action::Event(_) => Err(not_role()),
                    _ => area_ok.then_some(()).ok_or_else(out_of_scope),
                }
            }
            (EntityKind::Household | EntityKind::Resident, Role::BuildingHead) => {
                if action != Action::Update {
                    return Err(not_role());
                }
                if !self.in_building(t) {
                    return Err(out_of_scope());
                }
                let allowed = BUILDING_HEAD_WRITABLE.iter().find(|(k, _)| *k == entity).map(|(_, f)| *f).unwrap_or(&[]);
                match fields.iter().find(|f| !allowed.contains(f)) {
                    Some(f) => Err(deny(DenyCode::FieldProtected, format!("志愿楼长不能修改字段「{f}」"))),
                    None => Ok(()),
                }
            }
            (EntityKind::Patrol | EntityKind::PatrolTrack | EntityKind::Visit, Role::GridWorker | Role::Supervisor) => {
                if !area_ok {
                    return Err(out_of_scope());
                }
                // A patrol, its track and a visit are the worker's own record: nobody writes one
                // in another worker's name (for a track: on another worker's patrol).
                match action {
                    Action::Create | Action::Update | Action::Delete if t.owner_id == Some(self.user_id.as_str()) => Ok(()),
                    Action::Create => Err(deny(DenyCode::RoleNotAllowed, format!("只能记录自己的{label}"))),
                    Action::Update | Action::Delete => {
                        Err(deny(DenyCode::RoleNotAllowed, format!("只能修改自己的{label}")))
                    }
                    Action::Event(_) => Err(not_role()),
                }
            }
            (EntityKind::Task, Role::Supervisor) => match action {
                Action::Event(_) => Err(not_role()),
                _ => area_ok.then_some(()).ok_or_else(out_of_scope),
            },
            (EntityKind::TaskAssignment, Role::Supervisor) => match action {
                Action::Event(_) => Err(not_role()),
                _ => area_ok.then_some(()).ok_or_else(out_of_scope),
            },
            (EntityKind::TaskAssignment, Role::GridWorker) => {
                if action != Action::Update {
                    return Err(not_role());
                }
                if !area_ok {
                    return Err(out_of_scope());
                }
                if t.owner_id.is_some_and(|o| o != self.user_id) {
                    return Err(deny(DenyCode::RoleNotAllowed, "只能提交分派给自己的任务"));
                }
                match fields.iter().find(|f| !ASSIGNEE_WRITABLE.contains(f)) {
                    Some(f) => Err(deny(DenyCode::FieldProtected, format!("任务承办人不能修改字段「{f}」"))),
                    None => Ok(()),
                }
            }
            _ => Err(not_role()),
        }
    }

    /// Checks what an update writes where the names of the fields it changes do not decide (run
    /// after [`Principal::check_write`], on the stored row and the changes): an assignee hands in
    /// their assignment (status to `submitted`, while it is pending or was returned) and does no
    /// more to it; approving and returning it is the supervisor's review. A grid worker changes
    /// an incident's category (which sets its deadlines) only while it waits to be dispatched:
    /// later, a new category would move a deadline that is running, or clear an overdue flag.
    pub fn check_update_values(
        &self,
        entity: EntityKind,
        before: &serde_json::Map<String, serde_json::Value>,
        changes: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Denied> {
        if self.role != Role::GridWorker {
            return Ok(());
        }
        if entity == EntityKind::Incident {
            let reported = before.get("status").and_then(|v| v.as_str()).is_none_or(|s| s == "reported");
            if changes.contains_key("category") && !reported {
                return Err(deny(DenyCode::FieldProtected, "事件派遣后类别只能由督导修改（类别决定办理时限）"));
            }
            return Ok(());
        }
        if entity != EntityKind::TaskAssignment {
            return Ok(());
        }
        if !matches!(before.get("status").and_then(|v| v.as_str()), Some("pending" | "returned")) {
            return Err(deny(DenyCode::RoleNotAllowed, "该任务已提交或已通过，承办人不能再修改"));
        }
        match changes.get("status") {
            Some(v) if v.as_str() != Some("submitted") => {
                Err(deny(DenyCode::FieldProtected, "任务承办人只能提交任务，审核由督导完成"))
            }
            _ => Ok(()),
        }
    }

    fn check_incident(&self, action: Action, t: &Target<'_>, fields: &[&str], area_ok: bool) -> Result<(), Denied> {
        let out_of_scope = || deny(DenyCode::OutOfScope, "该事件不在您的管辖范围内");
        let not_role = || deny(DenyCode::RoleNotAllowed, format!("{}不能对事件执行此操作", self.role.label_zh()));
        let in_scope = match self.role {
            Role::Admin => true,
            Role::Supervisor | Role::GridWorker => area_ok,
            Role::BuildingHead => self.in_building(t),
            Role::DepartmentHandler => self.in_department(t),
        };
        match action {
            Action::Create => match self.role {
                Role::DepartmentHandler => Err(not_role()),
                _ if in_scope => Ok(()),
                _ => Err(out_of_scope()),
            },
            Action::Update => match self.role {
                Role::GridWorker | Role::Supervisor | Role::Admin => {
                    if !in_scope {
                        return Err(out_of_scope());
                    }
                    match fields.iter().find(|f| !INCIDENT_EDITABLE.contains(f)) {
                        Some(f) => Err(deny(DenyCode::FieldProtected, format!("事件字段「{f}」不能直接修改"))),
                        None => Ok(()),
                    }
                }
                _ => Err(not_role()),
            },
            Action::Delete => Err(deny(DenyCode::RoleNotAllowed, "事件不能删除，请结案")),
            // The state machine decides which role may append which event; scope is checked here.
            Action::Event(_) => in_scope.then_some(()).ok_or_else(out_of_scope),
        }
    }
}

/// Masks every personal field of a record of `entity` in place.
pub fn mask_fields(entity: EntityKind, fields: &mut crate::record::Fields) {
    for spec in entity.fields().iter().filter(|f| f.personal) {
        if let Some(serde_json::Value::String(s)) = fields.get_mut(spec.name) {
            *s = mask(s);
        }
    }
}

/// Masks a personal value for roles that may not see it: keeps a short prefix and suffix.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let (keep_head, keep_tail) = match n {
        0..=4 => (0, 0),
        5..=11 => (3, 4.min(n - 3)),
        _ => (6, 4),
    };
    let mut out: String = chars[..keep_head].iter().collect();
    out.extend(std::iter::repeat_n('*', n - keep_head - keep_tail));
    out.extend(&chars[n - keep_tail..]);
    out
}

/// The scope-relevant facts of a record, read from its fields (device and server alike).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeKeys {
    /// The grid (or, for tasks, the area) the record belongs to.
    pub area_id: Option<String>,
    /// Its building.
    pub building_id: Option<String>,
    /// Its department (incidents).
    pub department_id: Option<String>,
    /// Its owner (patrols, visits: the worker; assignments: the assignee).
    pub owner_id: Option<String>,
}

impl ScopeKeys {
    /// Extracts the keys of a record of `entity` with id `id` from its fields.
    pub fn of(entity: EntityKind, id: &str, fields: &crate::record::Fields) -> ScopeKeys {
        let s = |name: &str| fields.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        ScopeKeys {
            area_id: match entity {
                EntityKind::Task => s("area_id"),
                EntityKind::Area => Some(id.to_owned()),
                _ => s("grid_id"),
            },
            building_id: match entity {
                EntityKind::Building => Some(id.to_owned()),
                _ => s("building_id"),
            },
            department_id: s("department_id"),
            owner_id: match entity {
                EntityKind::Patrol | EntityKind::Visit => s("worker_id"),
                EntityKind::TaskAssignment => s("assignee_id"),
                _ => None,
            },
        }
    }

    /// The record whose keys complete this one's, if any: an incident event sits where its
    /// incident sits; a patrol track belongs to its patrol's worker. Device and server load that
    /// record and pass its keys to [`ScopeKeys::inherit`].
    pub fn parent(entity: EntityKind, fields: &crate::record::Fields) -> Option<(EntityKind, String)> {
        let s = |name: &str| fields.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        match entity {
            EntityKind::IncidentEvent => s("incident_id").map(|id| (EntityKind::Incident, id)),
            EntityKind::PatrolTrack => s("patrol_id").map(|id| (EntityKind::Patrol, id)),
            _ => None,
        }
    }

    /// Completes the keys of a record of `entity` with its [`ScopeKeys::parent`]'s.
    pub fn inherit(&mut self, entity: EntityKind, parent: &ScopeKeys) {
        match entity {
            EntityKind::IncidentEvent => *self = parent.clone(),
            EntityKind::PatrolTrack => self.owner_id = parent.owner_id.clone(),
            _ => {}
        }
    }

    /// A [`Target`] over these keys, with the area's ancestor path already resolved.
    pub fn target<'a>(&'a self, area_path: &'a [String]) -> Target<'a> {
        Target {
            area_path,
            building_id: self.building_id.as_deref(),
            department_id: self.department_id.as_deref(),
            owner_id: self.owner_id.as_deref(),
            tree: None,
        }
    }
}
