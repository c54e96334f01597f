//! The register's data as foreign records: areas and reference lists, buildings, households,
//! residents and search hits. Each is the core's own type, declared here with
//! `#[uniffi::remote]` (no copy, no conversion code); the doc comments become the Kotlin, Swift
//! and Python docs.

use gridline_core::access::{Principal, Scope};
use gridline_core::{
    Area, Building, BuildingPatch, Category, Department, EntityKind, HitKind, Household, HouseholdPatch, MatchField,
    NewBuilding, NewHousehold, NewResident, ReferenceData, Resident, ResidentPatch, Role, SearchHit,
};

/// The role a user acts in; it comes from the server with the login.
#[uniffi::remote(Enum)]
pub enum Role {
    /// Full-time grid worker (专职网格员).
    GridWorker,
    /// Volunteer building head (志愿楼长).
    BuildingHead,
    /// Grid manager or supervisor at community, street or district level.
    Supervisor,
    /// Handler in a department that incidents are dispatched to.
    DepartmentHandler,
    /// System administrator.
    Admin,
}

/// Where a user may act: area subtrees, single buildings, departments.
#[uniffi::remote(Record)]
pub struct Scope {
    /// Area ids; each covers its whole subtree.
    #[uniffi(default)]
    pub area_ids: Vec<String>,
    /// Building ids (building heads).
    #[uniffi(default)]
    pub building_ids: Vec<String>,
    /// Department ids (department handlers).
    #[uniffi(default)]
    pub department_ids: Vec<String>,
}

/// The user this device acts for (set by enrollment, refreshed by every sync).
#[uniffi::remote(Record)]
pub struct Principal {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: Role,
    /// Where the user may act.
    pub scope: Scope,
}

/// A kind of synced record (named by `ApiError.NotFound` and the rejected list).
#[uniffi::remote(Enum)]
pub enum EntityKind {
    /// A node of the area tree (city → … → grid).
    Area,
    /// A department incidents are dispatched to.
    Department,
    /// An incident category.
    Category,
    /// A building.
    Building,
    /// A household (户).
    Household,
    /// A resident (人口).
    Resident,
    /// An incident (事件).
    Incident,
    /// One event of an incident's timeline.
    IncidentEvent,
    /// A patrol (巡查).
    Patrol,
    /// A chunk of a patrol's GPS track.
    PatrolTrack,
    /// A household visit (走访).
    Visit,
    /// A task (任务).
    Task,
    /// One assignee's part of a task.
    TaskAssignment,
}

/// A node of the area tree: city → district → street/town → community/village → grid.
#[uniffi::remote(Record)]
pub struct Area {
    /// Id.
    pub id: String,
    /// Server version.
    pub version: i64,
    /// Parent area (null for the city).
    pub parent_id: Option<String>,
    /// city | district | county_city | street | town | community | village | grid.
    pub kind: String,
    /// Short code, e.g. `JM-JH-JN-XZ-G01`.
    pub code: String,
    /// Name.
    pub name: String,
}

/// A department incidents are dispatched to.
#[uniffi::remote(Record)]
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
#[uniffi::remote(Record)]
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

/// Reference data loaded without a server (demos and tests; apps get it by syncing).
#[uniffi::remote(Record)]
pub struct ReferenceData {
    /// Areas, parents first.
    #[uniffi(default)]
    pub areas: Vec<Area>,
    /// Departments.
    #[uniffi(default)]
    pub departments: Vec<Department>,
    /// Categories (empty: the built-in defaults).
    #[uniffi(default)]
    pub categories: Vec<Category>,
}

/// A building in a grid.
#[uniffi::remote(Record)]
pub struct Building {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
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
#[uniffi::remote(Record)]
pub struct NewBuilding {
    /// Grid (must be a grid the store knows).
    pub grid_id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Floors (1–200).
    #[uniffi(default)]
    pub floors: Option<u32>,
}

/// A change to a building: null leaves a field as it is.
#[uniffi::remote(Record)]
pub struct BuildingPatch {
    /// New name.
    #[uniffi(default)]
    pub name: Option<String>,
    /// New address.
    #[uniffi(default)]
    pub address: Option<String>,
    /// New floor count.
    #[uniffi(default)]
    pub floors: Option<u32>,
    /// New building head (`""` removes).
    #[uniffi(default)]
    pub head_user_id: Option<String>,
}

/// A household (户).
#[uniffi::remote(Record)]
pub struct Household {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
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
    /// Contact phone (personal data: masked for roles that may not see it).
    pub phone: Option<String>,
    /// Number of members.
    pub member_count: i64,
    /// Care tags (codes from `careTags()`).
    pub care_tags: Vec<String>,
    /// Notes.
    pub notes: String,
}

/// Input of a new household.
#[uniffi::remote(Record)]
pub struct NewHousehold {
    /// Building the household lives in.
    pub building_id: String,
    /// Room number.
    pub room: String,
    /// Full address; empty means "the building's address + room".
    #[uniffi(default)]
    pub address: String,
    /// Head of household.
    pub head_name: String,
    /// Contact phone (mobile or landline).
    #[uniffi(default)]
    pub phone: Option<String>,
    /// Number of members (at least 1).
    pub member_count: u32,
    /// Care tags (codes from `careTags()`).
    #[uniffi(default)]
    pub care_tags: Vec<String>,
    /// Notes.
    #[uniffi(default)]
    pub notes: String,
}

/// A change to a household: null leaves a field as it is.
#[uniffi::remote(Record)]
pub struct HouseholdPatch {
    /// Move to another building.
    #[uniffi(default)]
    pub building_id: Option<String>,
    /// New room.
    #[uniffi(default)]
    pub room: Option<String>,
    /// New address.
    #[uniffi(default)]
    pub address: Option<String>,
    /// New head of household.
    #[uniffi(default)]
    pub head_name: Option<String>,
    /// New phone; `""` removes it.
    #[uniffi(default)]
    pub phone: Option<String>,
    /// New member count.
    #[uniffi(default)]
    pub member_count: Option<u32>,
    /// New care tags (replaces the list).
    #[uniffi(default)]
    pub care_tags: Option<Vec<String>>,
    /// New notes.
    #[uniffi(default)]
    pub notes: Option<String>,
}

/// A resident (人口) of a household.
#[uniffi::remote(Record)]
pub struct Resident {
    /// Id.
    pub id: String,
    /// Server version (0 until the server has it).
    pub version: i64,
    /// Household.
    pub household_id: String,
    /// The household's building.
    pub building_id: String,
    /// The household's grid.
    pub grid_id: String,
    /// Name.
    pub name: String,
    /// 18-character resident ID number (personal data: masked for roles that may not see it).
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
#[uniffi::remote(Record)]
pub struct NewResident {
    /// Household.
    pub household_id: String,
    /// Name.
    pub name: String,
    /// ID number (checked: length, date, check digit).
    #[uniffi(default)]
    pub id_number: Option<String>,
    /// Phone.
    #[uniffi(default)]
    pub phone: Option<String>,
    /// Birth date `YYYY-MM-DD`; when null and an ID number is given, taken from it.
    #[uniffi(default)]
    pub birth_date: Option<String>,
    /// Relation to the head.
    #[uniffi(default)]
    pub relation: String,
    /// Tags (care tag codes).
    #[uniffi(default)]
    pub tags: Vec<String>,
    /// Notes.
    #[uniffi(default)]
    pub notes: String,
}

/// A change to a resident: null leaves a field as it is; `""` clears an optional one.
#[uniffi::remote(Record)]
pub struct ResidentPatch {
    /// New name.
    #[uniffi(default)]
    pub name: Option<String>,
    /// New ID number.
    #[uniffi(default)]
    pub id_number: Option<String>,
    /// New phone.
    #[uniffi(default)]
    pub phone: Option<String>,
    /// New birth date.
    #[uniffi(default)]
    pub birth_date: Option<String>,
    /// New relation.
    #[uniffi(default)]
    pub relation: Option<String>,
    /// New tags.
    #[uniffi(default)]
    pub tags: Option<Vec<String>>,
    /// New notes.
    #[uniffi(default)]
    pub notes: Option<String>,
}

/// What kind of record a search hit is.
#[uniffi::remote(Enum)]
pub enum HitKind {
    /// A household.
    Household,
    /// A resident.
    Resident,
}

/// Which field a search matched.
#[uniffi::remote(Enum)]
pub enum MatchField {
    /// Household head's or resident's name.
    Name,
    /// Room number.
    Room,
    /// Address (of the household or its building).
    Address,
    /// Phone fragment.
    Phone,
}

/// One search result.
#[uniffi::remote(Record)]
pub struct SearchHit {
    /// Household or resident.
    pub kind: HitKind,
    /// The record's id.
    pub id: String,
    /// The household (the record itself for households).
    pub household_id: String,
    /// Name shown as the hit's title.
    pub title: String,
    /// Address (households) or household address (residents).
    pub detail: String,
    /// Phone, masked for roles that may not see it.
    pub phone: Option<String>,
    /// The field that matched.
    pub matched: MatchField,
    /// Rank score: higher is better.
    pub score: i32,
}
