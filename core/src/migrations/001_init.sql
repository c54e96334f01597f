-- Gridline device store, schema version 1: the register, the field work and the outbox.
-- Every synced table has `id` (UUIDv7 text, made on the device or the server) and
-- `version` (the server sequence of the row's last change; 0 = never seen by the server).
-- Links between synced tables carry no FOREIGN KEY: the change feed delivers rows in the
-- order of their last change, so a child may arrive before its parent. Cascades are done
-- by the domain code, with an op for every row they remove.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE areas (
    id        TEXT PRIMARY KEY,
    version   INTEGER NOT NULL DEFAULT 0,
    parent_id TEXT,
    kind      TEXT NOT NULL,
    code      TEXT NOT NULL,
    name      TEXT NOT NULL
);
CREATE INDEX areas_parent ON areas(parent_id);

CREATE TABLE departments (
    id      TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0,
    code    TEXT NOT NULL,
    name    TEXT NOT NULL
);

CREATE TABLE categories (
    id             TEXT PRIMARY KEY,
    version        INTEGER NOT NULL DEFAULT 0,
    name           TEXT NOT NULL,
    response_hours INTEGER NOT NULL,
    resolve_days   INTEGER NOT NULL
);

CREATE TABLE buildings (
    id           TEXT PRIMARY KEY,
    version      INTEGER NOT NULL DEFAULT 0,
    grid_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    address      TEXT NOT NULL,
    floors       INTEGER,
    head_user_id TEXT
);
CREATE INDEX buildings_grid ON buildings(grid_id);

CREATE TABLE households (
    id           TEXT PRIMARY KEY,
    version      INTEGER NOT NULL DEFAULT 0,
    building_id  TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    room         TEXT NOT NULL,
    address      TEXT NOT NULL,
    head_name    TEXT NOT NULL,
    phone        TEXT,
    member_count INTEGER NOT NULL DEFAULT 1,
    care_tags    TEXT NOT NULL DEFAULT '[]',
    notes        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX households_building ON households(building_id, room);
CREATE INDEX households_grid ON households(grid_id);

CREATE TABLE residents (
    id           TEXT PRIMARY KEY,
    version      INTEGER NOT NULL DEFAULT 0,
    household_id TEXT NOT NULL,
    building_id  TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    id_number    TEXT,
    phone        TEXT,
    birth_date   TEXT,
    relation     TEXT NOT NULL DEFAULT '',
    tags         TEXT NOT NULL DEFAULT '[]',
    notes        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX residents_household ON residents(household_id);
CREATE INDEX residents_grid ON residents(grid_id);

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    version         INTEGER NOT NULL DEFAULT 0,
    category        TEXT NOT NULL,
    severity        TEXT NOT NULL,
    grid_id         TEXT NOT NULL,
    building_id     TEXT,
    household_id    TEXT,
    lat             REAL,
    lng             REAL,
    location_text   TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL,
    photos          TEXT NOT NULL DEFAULT '[]',
    reporter_id     TEXT NOT NULL,
    reporter_role   TEXT NOT NULL,
    reported_at     INTEGER NOT NULL,
    -- Derived from the timeline by the state machine (incidents.rs recompute):
    status          TEXT,
    department_id   TEXT,
    response_due_at INTEGER,
    resolve_due_at  INTEGER,
    updated_at      INTEGER
);
CREATE INDEX incidents_grid_status ON incidents(grid_id, status);
CREATE INDEX incidents_status ON incidents(status, resolve_due_at);
CREATE INDEX incidents_category ON incidents(category);
CREATE INDEX incidents_building ON incidents(building_id);
CREATE INDEX incidents_household ON incidents(household_id);
CREATE INDEX incidents_department ON incidents(department_id);

CREATE TABLE incident_events (
    id            TEXT PRIMARY KEY,
    version       INTEGER NOT NULL DEFAULT 0,
    incident_id   TEXT NOT NULL,
    kind          TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    actor_role    TEXT NOT NULL,
    at            INTEGER NOT NULL,
    note          TEXT NOT NULL DEFAULT '',
    department_id TEXT,
    deadline_at   INTEGER
);
CREATE INDEX incident_events_incident ON incident_events(incident_id, at);

CREATE TABLE patrols (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL DEFAULT 0,
    grid_id     TEXT NOT NULL,
    worker_id   TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    distance_m  REAL NOT NULL DEFAULT 0,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX patrols_worker ON patrols(worker_id, started_at);
CREATE INDEX patrols_grid ON patrols(grid_id, started_at);

CREATE TABLE patrol_tracks (
    id        TEXT PRIMARY KEY,
    version   INTEGER NOT NULL DEFAULT 0,
    patrol_id TEXT NOT NULL,
    grid_id   TEXT NOT NULL,
    points    TEXT NOT NULL
);
CREATE INDEX patrol_tracks_patrol ON patrol_tracks(patrol_id);

CREATE TABLE visits (
    id           TEXT PRIMARY KEY,
    version      INTEGER NOT NULL DEFAULT 0,
    household_id TEXT NOT NULL,
    grid_id      TEXT NOT NULL,
    worker_id    TEXT NOT NULL,
    visited_at   INTEGER NOT NULL,
    purpose      TEXT NOT NULL,
    notes        TEXT NOT NULL DEFAULT '',
    findings     TEXT NOT NULL DEFAULT '',
    incident_id  TEXT
);
CREATE INDEX visits_household ON visits(household_id, visited_at);
CREATE INDEX visits_grid ON visits(grid_id, visited_at);
CREATE INDEX visits_worker ON visits(worker_id, visited_at);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL DEFAULT 0,
    area_id     TEXT NOT NULL,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    due_at      INTEGER NOT NULL,
    issued_by   TEXT NOT NULL,
    issued_at   INTEGER NOT NULL
);
CREATE INDEX tasks_area ON tasks(area_id);

CREATE TABLE task_assignments (
    id              TEXT PRIMARY KEY,
    version         INTEGER NOT NULL DEFAULT 0,
    task_id         TEXT NOT NULL,
    grid_id         TEXT NOT NULL,
    assignee_id     TEXT,
    status          TEXT NOT NULL,
    evidence_text   TEXT NOT NULL DEFAULT '',
    evidence_photos TEXT NOT NULL DEFAULT '[]',
    submitted_at    INTEGER,
    review_note     TEXT NOT NULL DEFAULT '',
    reviewed_at     INTEGER
);
CREATE INDEX task_assignments_task ON task_assignments(task_id);
CREATE INDEX task_assignments_grid ON task_assignments(grid_id, status);
CREATE INDEX task_assignments_assignee ON task_assignments(assignee_id, status);

-- The outbox: one op per local mutation, in device_seq order. AUTOINCREMENT keeps
-- device_seq strictly increasing even after acknowledged ops leave the table.
CREATE TABLE outbox (
    device_seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    op_id        TEXT NOT NULL UNIQUE,
    entity       TEXT NOT NULL,
    entity_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    fields       TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    device_time  INTEGER NOT NULL
);
CREATE INDEX outbox_entity ON outbox(entity, entity_id);

-- Ops the server refused, kept for the user to see.
CREATE TABLE rejected_ops (
    op_id       TEXT PRIMARY KEY,
    device_seq  INTEGER NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    fields      TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    device_time INTEGER NOT NULL,
    code        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    rejected_at INTEGER NOT NULL
);
