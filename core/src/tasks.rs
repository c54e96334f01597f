//! Tasks (任务下发): a supervisor issues a task to grids or workers with a due date; each
//! assignee submits evidence; the supervisor approves or returns it with a reason.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::households::into_fields;
use crate::incident_flow::Role;
use crate::input;
use crate::mutate::Writer;
use crate::record::{self, Fields};
use crate::store::{area_path, Store};

/// Status of one assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    /// Waiting for evidence.
    Pending,
    /// Evidence submitted, waiting for review.
    Submitted,
    /// Approved by the supervisor.
    Approved,
    /// Returned with a reason; evidence must be submitted again.
    Returned,
}

impl AssignmentStatus {
    /// Every status with its wire code and Chinese label.
    const ALL: [(AssignmentStatus, &'static str, &'static str); 4] = [
        (AssignmentStatus::Pending, "pending", "待提交"),
        (AssignmentStatus::Submitted, "submitted", "待审核"),
        (AssignmentStatus::Approved, "approved", "已通过"),
        (AssignmentStatus::Returned, "returned", "已退回"),
    ];

    /// The status with this wire code.
    pub fn from_code(code: &str) -> Option<AssignmentStatus> {
        Self::ALL.iter().find(|(_, c, _)| *c == code).map(|(s, _, _)| *s)
    }

    /// The status's Chinese label (badges, the console).
    pub fn label_zh(self) -> &'static str {
        Self::ALL.iter().find(|(s, _, _)| *s == self).map(|(_, _, l)| *l).unwrap_or_default()
    }
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Area the task belongs to (the issuing supervisor's).
    pub area_id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Due date (ms).
    pub due_at: i64,
    /// Issuing supervisor.
    pub issued_by: String,
    /// When issued.
    pub issued_at: i64,
}

/// One assignee's part of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskAssignment {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Task.
    pub task_id: String,
    /// Grid assigned.
    pub grid_id: String,
    /// Worker assigned (None: whoever works the grid).
    pub assignee_id: Option<String>,
    /// Status.
    pub status: AssignmentStatus,
    /// Evidence text.
    pub evidence_text: String,
    /// Evidence photo hashes.
    pub evidence_photos: Vec<String>,
    /// When evidence was submitted.
    pub submitted_at: Option<i64>,
    /// Supervisor's review note.
    pub review_note: String,
    /// When reviewed.
    pub reviewed_at: Option<i64>,
}

/// Who a task goes to: a grid, optionally a named worker in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTarget {
    /// Grid.
    pub grid_id: String,
    /// Worker, if the task is for one person.
    #[serde(default)]
    pub assignee_id: Option<String>,
}

/// Input of a new task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// Area the task belongs to.
    pub area_id: String,
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Due date (ms).
    pub due_at: i64,
    /// Targets (at least one).
    pub targets: Vec<TaskTarget>,
}

impl Store {
    /// Issues a task with one assignment per target (supervisors).
    pub fn create_task(&self, new: NewTask) -> Result<Task> {
        let who = self.require_principal()?;
        let id = uuid::Uuid::now_v7().to_string();
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            if new.targets.is_empty() {
                return Err(Error::invalid("targets", "至少选择一个网格或网格员"));
            }
            if new.due_at <= w.now {
                return Err(Error::invalid("due_at", "截止时间应晚于当前时间"));
            }
            if !record::exists(tx, EntityKind::Area, &new.area_id)? {
                return Err(Error::invalid("area_id", "区域不存在"));
            }
            let tree = self.area_tree(tx)?;
            let fields = into_fields(json!({
                "area_id": new.area_id,
                "title": input::text("title", &new.title, 100)?,
                "description": input::free_text("description", &new.description, 4000)?,
                "due_at": new.due_at,
                "issued_by": who.user_id,
                "issued_at": w.now,
            }));
            w.create(EntityKind::Task, &id, fields)?;
            let mut seen = std::collections::HashSet::new();
            for (i, t) in new.targets.iter().enumerate() {
                let under_task = area_path(&tree, &t.grid_id).contains(&new.area_id);
                // A grid, not the community itself: only a grid's workers see an assignment.
                let grid = record::get(tx, EntityKind::Area, &t.grid_id)?;
                if !under_task || grid.is_none_or(|g| g.fields.get("kind").and_then(|k| k.as_str()) != Some("grid")) {
                    return Err(Error::invalid(format!("targets[{i}].grid_id"), "网格不存在或不在任务区域内"));
                }
                let assignee = t.assignee_id.as_deref().map(str::trim).filter(|a| !a.is_empty());
                if assignee.is_some_and(|a| a.chars().count() > 64) {
                    return Err(Error::invalid(format!("targets[{i}].assignee_id"), "承办人编号无效"));
                }
                if !seen.insert((t.grid_id.as_str(), assignee)) {
                    return Err(Error::invalid(format!("targets[{i}]"), "同一网格、同一承办人重复分派"));
                }
                let f = into_fields(json!({
                    "task_id": id,
                    "grid_id": t.grid_id,
                    "assignee_id": assignee,
                    "status": AssignmentStatus::Pending,
                    "evidence_text": "",
                    "evidence_photos": [],
                    "submitted_at": null,
                    "review_note": "",
                    "reviewed_at": null,
                }));
                w.create(EntityKind::TaskAssignment, &uuid::Uuid::now_v7().to_string(), f)?;
            }
            Ok(())
        })?;
        record::typed(self.read(|c| record::require(c, EntityKind::Task, &id))?)
    }

    /// The assignments of the enrolled worker: theirs by name, and their grids' unnamed ones.
    pub fn my_assignments(&self) -> Result<Vec<TaskAssignment>> {
        let who = self.require_principal()?;
        let rows = self.read(|c| {
            let tree = self.area_tree(c)?;
            let all = record::select_where(c, EntityKind::TaskAssignment, "1 ORDER BY status, id", &[])?;
            Ok(all
                .into_iter()
                .filter(|r| match r.fields.get("assignee_id").and_then(Value::as_str) {
                    Some(a) => a == who.user_id,
                    None => {
                        let g = r.fields.get("grid_id").and_then(Value::as_str).unwrap_or_default();
                        who.role == Role::GridWorker && area_path(&tree, g).iter().any(|a| who.scope.area_ids.contains(a))
                    }
                })
                .collect::<Vec<_>>())
        })?;
        rows.into_iter().map(record::typed).collect()
    }

    /// One task.
    pub fn task(&self, id: &str) -> Result<Task> {
        record::typed(self.read(|c| record::require(c, EntityKind::Task, id))?)
    }

    /// The tasks on this device, the soonest due first.
    pub fn tasks(&self) -> Result<Vec<Task>> {
        let rows = self.read(|c| record::select_where(c, EntityKind::Task, "1 ORDER BY due_at, id", &[]))?;
        rows.into_iter().map(record::typed).collect()
    }

    /// The assignments of a task.
    pub fn task_assignments(&self, task_id: &str) -> Result<Vec<TaskAssignment>> {
        let rows = self.read(|c| {
            record::select_where(c, EntityKind::TaskAssignment, "task_id = ?1 ORDER BY grid_id, id", &[&task_id])
        })?;
        rows.into_iter().map(record::typed).collect()
    }

    /// Submits evidence for an assignment (the assignee).
    pub fn submit_task_evidence(&self, assignment_id: &str, text: &str, photos: Vec<String>) -> Result<TaskAssignment> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let a: TaskAssignment = record::typed(record::require(tx, EntityKind::TaskAssignment, assignment_id)?)?;
            if !matches!(a.status, AssignmentStatus::Pending | AssignmentStatus::Returned) {
                return Err(Error::Conflict { reason: "该任务已提交或已通过".into() });
            }
            input::photo_refs("evidence_photos", &photos.iter().map(String::as_str).collect::<Vec<_>>())?;
            let mut f = Fields::new();
            f.insert("evidence_text".into(), json!(input::text("evidence_text", text, 4000)?));
            f.insert("evidence_photos".into(), json!(photos));
            f.insert("status".into(), json!(AssignmentStatus::Submitted));
            f.insert("submitted_at".into(), json!(w.now));
            w.update(EntityKind::TaskAssignment, assignment_id, f).map(|_| ())
        })?;
        record::typed(self.read(|c| record::require(c, EntityKind::TaskAssignment, assignment_id))?)
    }

    /// Approves submitted evidence, or returns it with a reason (supervisors).
    pub fn review_task_assignment(&self, assignment_id: &str, approve: bool, note: &str) -> Result<TaskAssignment> {
        let who = self.require_principal()?;
        self.write(|tx| {
            let w = Writer::new(tx, self, &who);
            let a: TaskAssignment = record::typed(record::require(tx, EntityKind::TaskAssignment, assignment_id)?)?;
            if a.status != AssignmentStatus::Submitted {
                return Err(Error::Conflict { reason: "只能审核已提交的任务".into() });
            }
            let note = if approve { input::free_text("review_note", note, 1000)? } else { input::text("review_note", note, 1000)? };
            let mut f = Fields::new();
            let status = if approve { AssignmentStatus::Approved } else { AssignmentStatus::Returned };
            f.insert("status".into(), json!(status));
            f.insert("review_note".into(), json!(note));
            f.insert("reviewed_at".into(), json!(w.now));
            w.update(EntityKind::TaskAssignment, assignment_id, f).map(|_| ())
        })?;
        record::typed(self.read(|c| record::require(c, EntityKind::TaskAssignment, assignment_id))?)
    }
}
