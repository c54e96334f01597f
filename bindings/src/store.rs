//! `GridlineStore`: the device's offline store, one exported method per core operation.

use std::sync::Arc;

use gridline_core::access::Principal;
use gridline_core::{
    Area, Building, BuildingPatch, Category, Department, EventKind, GpsPoint, Household, HouseholdPatch, Incident,
    IncidentEvent, IncidentFilter, NewBuilding, NewEvent, NewHousehold, NewIncident, NewResident, NewTask, NewVisit,
    Patrol, ReferenceData, Resident, ResidentPatch, SearchHit, Store, Task, TaskAssignment, Visit,
};

use crate::error::{guard, ApiError};

/// The device's offline store: every read and write works without the network; writes are
/// durable when the call returns and reach the server with the next `sync`.
///
/// Calls block on SQLite (and `sync`/`enroll` on the network): call them off the UI thread.
/// One instance may be shared by several threads.
#[derive(uniffi::Object)]
pub struct GridlineStore {
    pub(crate) inner: Store,
}

#[uniffi::export]
impl GridlineStore {
    /// Opens the store in a file, creating it (and upgrading its schema) as needed.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>, ApiError> {
        guard(|| Store::open(&path)).map(|inner| Arc::new(GridlineStore { inner }))
    }

    /// An in-memory store (tests and previews); gone when dropped.
    #[uniffi::constructor]
    pub fn open_in_memory() -> Result<Arc<Self>, ApiError> {
        guard(Store::open_in_memory).map(|inner| Arc::new(GridlineStore { inner }))
    }

    /// The file the store lives in (null in memory).
    pub fn path(&self) -> Option<String> {
        self.inner.path().map(|p| p.to_string_lossy().into_owned())
    }

    /// The user this device acts for (null before the first login).
    pub fn principal(&self) -> Option<Principal> {
        self.inner.principal()
    }

    /// Demos and tests only: acts as `principal` without a server. Apps get the user by
    /// `enroll`, and every `sync` replaces it with what the server says.
    pub fn set_principal(&self, principal: Principal) -> Result<(), ApiError> {
        guard(|| self.inner.set_principal(&principal))
    }

    /// Demos and tests only: loads areas, departments and categories without a server (apps
    /// receive them by syncing).
    pub fn seed_reference(&self, data: ReferenceData) -> Result<(), ApiError> {
        guard(|| self.inner.seed_reference(&data))
    }

    // Areas and reference lists.

    /// Children of an area (null: the roots), by code.
    pub fn areas(&self, parent_id: Option<String>) -> Result<Vec<Area>, ApiError> {
        guard(|| self.inner.areas(parent_id.as_deref()))
    }

    /// One area.
    pub fn area(&self, id: String) -> Result<Area, ApiError> {
        guard(|| self.inner.area(&id))
    }

    /// The grids the enrolled user works in, by code.
    pub fn my_grids(&self) -> Result<Vec<Area>, ApiError> {
        guard(|| self.inner.my_grids())
    }

    /// All departments, by code.
    pub fn departments(&self) -> Result<Vec<Department>, ApiError> {
        guard(|| self.inner.departments())
    }

    /// All incident categories: the server's once synced, the built-in defaults before.
    pub fn categories(&self) -> Result<Vec<Category>, ApiError> {
        guard(|| self.inner.categories())
    }

    // Buildings.

    /// Creates a building in a grid.
    pub fn create_building(&self, new: NewBuilding) -> Result<Building, ApiError> {
        guard(|| self.inner.create_building(new))
    }

    /// Changes a building.
    pub fn update_building(&self, id: String, patch: BuildingPatch) -> Result<Building, ApiError> {
        guard(|| self.inner.update_building(&id, patch))
    }

    /// Deletes an empty building.
    pub fn delete_building(&self, id: String) -> Result<(), ApiError> {
        guard(|| self.inner.delete_building(&id))
    }

    /// One building.
    pub fn building(&self, id: String) -> Result<Building, ApiError> {
        guard(|| self.inner.building(&id))
    }

    /// Buildings of a grid, by name.
    pub fn buildings_in_grid(&self, grid_id: String) -> Result<Vec<Building>, ApiError> {
        guard(|| self.inner.buildings_in_grid(&grid_id))
    }

    // Households.

    /// Creates a household.
    pub fn create_household(&self, new: NewHousehold) -> Result<Household, ApiError> {
        guard(|| self.inner.create_household(new))
    }

    /// Creates many households in one transaction (all or nothing); returns their ids. A
    /// failing item is named by its index, e.g. field `[17].phone`.
    pub fn create_households(&self, news: Vec<NewHousehold>) -> Result<Vec<String>, ApiError> {
        guard(|| self.inner.create_households(news))
    }

    /// Changes a household; only fields that differ are written and sent.
    pub fn update_household(&self, id: String, patch: HouseholdPatch) -> Result<Household, ApiError> {
        guard(|| self.inner.update_household(&id, patch))
    }

    /// Deletes a household and its residents.
    pub fn delete_household(&self, id: String) -> Result<(), ApiError> {
        guard(|| self.inner.delete_household(&id))
    }

    /// One household (personal fields masked for roles that may not see them).
    pub fn household(&self, id: String) -> Result<Household, ApiError> {
        guard(|| self.inner.household(&id))
    }

    /// Households of a building, by room.
    pub fn households_in_building(&self, building_id: String) -> Result<Vec<Household>, ApiError> {
        guard(|| self.inner.households_in_building(&building_id))
    }

    /// Households of a grid, by building and room.
    pub fn households_in_grid(&self, grid_id: String) -> Result<Vec<Household>, ApiError> {
        guard(|| self.inner.households_in_grid(&grid_id))
    }

    // Residents.

    /// Adds a resident to a household.
    pub fn create_resident(&self, new: NewResident) -> Result<Resident, ApiError> {
        guard(|| self.inner.create_resident(new))
    }

    /// Changes a resident.
    pub fn update_resident(&self, id: String, patch: ResidentPatch) -> Result<Resident, ApiError> {
        guard(|| self.inner.update_resident(&id, patch))
    }

    /// Removes a resident.
    pub fn delete_resident(&self, id: String) -> Result<(), ApiError> {
        guard(|| self.inner.delete_resident(&id))
    }

    /// One resident (personal fields masked for roles that may not see them).
    pub fn resident(&self, id: String) -> Result<Resident, ApiError> {
        guard(|| self.inner.resident(&id))
    }

    /// Residents of a household, head first.
    pub fn residents_of(&self, household_id: String) -> Result<Vec<Resident>, ApiError> {
        guard(|| self.inner.residents_of(&household_id))
    }

    // Search.

    /// Searches households and residents by name, room, address or phone fragment (Chinese
    /// substring match), best first, at most `limit` hits.
    pub fn search(&self, query: String, limit: u32) -> Result<Vec<SearchHit>, ApiError> {
        guard(|| self.inner.search(&query, limit))
    }

    // Photos.

    /// Keeps a photo (JPEG, PNG or WebP, at most 10 MB) on the device and returns its SHA-256,
    /// to be put in an incident's `photos` or a task's evidence. Sync uploads it after the
    /// changes that reference it, resuming an interrupted upload.
    pub fn add_photo(&self, mime: String, data: Vec<u8>) -> Result<String, ApiError> {
        guard(|| self.inner.add_photo(&mime, &data))
    }

    /// The bytes of a photo kept on this device, if it is here.
    pub fn photo(&self, sha256: String) -> Result<Option<Vec<u8>>, ApiError> {
        guard(|| Ok(self.inner.photo(&sha256)?.map(|p| p.data)))
    }

    /// Forgets a photo that was removed from a form before it was saved: one not uploaded and
    /// not referred to by any record or queued change. Returns whether it was forgotten.
    pub fn discard_photo(&self, sha256: String) -> Result<bool, ApiError> {
        guard(|| self.inner.discard_photo(&sha256))
    }

    /// Hashes of photos not yet on the server.
    pub fn pending_photos(&self) -> Result<Vec<String>, ApiError> {
        guard(|| self.inner.pending_photos())
    }

    // Incidents.

    /// Reports an incident; its timeline starts with a `Reported` event.
    pub fn report_incident(&self, new: NewIncident) -> Result<Incident, ApiError> {
        guard(|| self.inner.report_incident(new))
    }

    /// Edits what was reported (description, location, photos, category, severity).
    pub fn update_incident(&self, id: String, new: NewIncident) -> Result<Incident, ApiError> {
        guard(|| self.inner.update_incident(&id, new))
    }

    /// Appends an event to an incident's timeline if the state machine allows it for the
    /// user's role in the incident's current status; returns the incident as it now is.
    pub fn add_incident_event(&self, incident_id: String, event: NewEvent) -> Result<Incident, ApiError> {
        guard(|| self.inner.add_incident_event(&incident_id, event))
    }

    /// One incident.
    pub fn incident(&self, id: String) -> Result<Incident, ApiError> {
        guard(|| self.inner.incident(&id))
    }

    /// An incident's timeline, oldest first.
    pub fn incident_timeline(&self, id: String) -> Result<Vec<IncidentEvent>, ApiError> {
        guard(|| self.inner.incident_timeline(&id))
    }

    /// The events the user could append now (show only the buttons that work).
    pub fn allowed_incident_events(&self, id: String) -> Result<Vec<EventKind>, ApiError> {
        guard(|| self.inner.allowed_incident_events(&id))
    }

    /// Incidents matching a filter, most recently changed first.
    pub fn incidents(&self, filter: IncidentFilter) -> Result<Vec<Incident>, ApiError> {
        guard(|| self.inner.incidents(&filter))
    }

    // Patrols and visits.

    /// Starts a patrol of a grid by the enrolled worker.
    pub fn start_patrol(&self, grid_id: String, note: String) -> Result<Patrol, ApiError> {
        guard(|| self.inner.start_patrol(&grid_id, &note))
    }

    /// Adds GPS points to a patrol under way (one op per call, however many points).
    pub fn add_patrol_points(&self, patrol_id: String, points: Vec<GpsPoint>) -> Result<Patrol, ApiError> {
        guard(|| self.inner.add_patrol_points(&patrol_id, points))
    }

    /// Ends a patrol.
    pub fn end_patrol(&self, patrol_id: String) -> Result<Patrol, ApiError> {
        guard(|| self.inner.end_patrol(&patrol_id))
    }

    /// One patrol.
    pub fn patrol(&self, id: String) -> Result<Patrol, ApiError> {
        guard(|| self.inner.patrol(&id))
    }

    /// The track of a patrol, ordered by time.
    pub fn patrol_track(&self, id: String) -> Result<Vec<GpsPoint>, ApiError> {
        guard(|| self.inner.patrol_track(&id))
    }

    /// Patrols of a worker (null: the enrolled user), newest first.
    pub fn patrols(&self, worker_id: Option<String>) -> Result<Vec<Patrol>, ApiError> {
        guard(|| self.inner.patrols(worker_id.as_deref()))
    }

    /// Records a household visit (and reports its incident, if any, in the same transaction).
    pub fn record_visit(&self, new: NewVisit) -> Result<Visit, ApiError> {
        guard(|| self.inner.record_visit(new))
    }

    /// Visits of a household, newest first.
    pub fn visits_of(&self, household_id: String) -> Result<Vec<Visit>, ApiError> {
        guard(|| self.inner.visits_of(&household_id))
    }

    // Tasks.

    /// Issues a task with one assignment per target (supervisors).
    pub fn create_task(&self, new: NewTask) -> Result<Task, ApiError> {
        guard(|| self.inner.create_task(new))
    }

    /// The assignments of the enrolled worker: theirs by name, and their grids' unnamed ones.
    pub fn my_assignments(&self) -> Result<Vec<TaskAssignment>, ApiError> {
        guard(|| self.inner.my_assignments())
    }

    /// One task (title, description, due date of an assignment's task).
    pub fn task(&self, id: String) -> Result<Task, ApiError> {
        guard(|| self.inner.task(&id))
    }

    /// The tasks on this device, the soonest due first.
    pub fn tasks(&self) -> Result<Vec<Task>, ApiError> {
        guard(|| self.inner.tasks())
    }

    /// The assignments of a task.
    pub fn task_assignments(&self, task_id: String) -> Result<Vec<TaskAssignment>, ApiError> {
        guard(|| self.inner.task_assignments(&task_id))
    }

    /// Submits evidence for an assignment (the assignee).
    pub fn submit_task_evidence(
        &self,
        assignment_id: String,
        text: String,
        photos: Vec<String>,
    ) -> Result<TaskAssignment, ApiError> {
        guard(|| self.inner.submit_task_evidence(&assignment_id, &text, photos))
    }

    /// Approves submitted evidence, or returns it with a reason (supervisors).
    pub fn review_task_assignment(
        &self,
        assignment_id: String,
        approve: bool,
        note: String,
    ) -> Result<TaskAssignment, ApiError> {
        guard(|| self.inner.review_task_assignment(&assignment_id, approve, &note))
    }

    // Diagnostics.

    /// Diagnostic, never called by an app: panics inside a core read transaction, to prove
    /// that a Rust panic reaches the caller as `ApiError.Internal` and the store stays usable.
    pub fn diagnostic_panic(&self) -> Result<(), ApiError> {
        guard(|| self.inner.read::<()>(|_| panic!("diagnostic panic inside a read transaction")))
    }
}
