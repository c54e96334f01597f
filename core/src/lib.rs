//! Gridline core: the offline store of a grid worker's world (register, incidents, patrols,
//! visits, tasks), its outbox, the role and scope rules, the incident state machine, Chinese
//! search, the wire protocol and the sync client.
#![warn(missing_docs)]

pub mod access;
pub mod attachments;
pub mod areas;
pub mod buildings;
pub mod clock;
pub mod db;
pub mod entities;
pub mod error;
pub mod households;
pub mod incident_flow;
pub mod incidents;
pub mod input;
pub mod mutate;
pub mod outbox;
pub mod patrols;
pub mod protocol;
pub mod record;
pub mod sample;
pub mod search;
pub mod store;
pub mod sync;
pub mod tasks;
pub mod validate;

pub use access::{Action, Principal, Scope};
pub use areas::{Area, Category, Department, ReferenceData};
pub use buildings::{Building, BuildingPatch, NewBuilding};
pub use clock::{Clock, ManualClock, SystemClock};
pub use entities::EntityKind;
pub use error::{Error, Result};
pub use households::{Household, HouseholdPatch, NewHousehold, NewResident, Resident, ResidentPatch};
pub use incident_flow::{EventKind, IncidentStatus, Role};
pub use incidents::{Incident, IncidentEvent, IncidentFilter, NewEvent, NewIncident};
pub use input::CARE_TAGS;
pub use outbox::RejectedOp;
pub use patrols::{GpsPoint, NewVisit, Patrol, Visit};
pub use search::{HitKind, MatchField, SearchHit};
pub use store::Store;
pub use tasks::{AssignmentStatus, NewTask, Task, TaskAssignment, TaskTarget};

impl Store {
    /// Searches households and residents (Chinese substring), best first.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let who = self.principal();
        self.read(|c| search::search(c, who.as_ref(), query, limit as usize))
    }

    /// Number of ops waiting to be pushed.
    pub fn pending_ops(&self) -> Result<u64> {
        self.read(outbox::pending_count)
    }

    /// Ops the server refused, with reasons.
    pub fn rejected_ops(&self) -> Result<Vec<RejectedOp>> {
        self.read(outbox::rejected)
    }
}
