-- Gridline server tables, server schema version 1 (tracked in `server_schema`, separate from
-- the core's `PRAGMA user_version`, which numbers the entity tables shared with devices).

-- The global change sequence: one row, bumped inside each push transaction.
CREATE TABLE seq_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO seq_counter (id, value) VALUES (1, 0);

CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- The change feed: one entry per record (live or tombstone), at the sequence of its last change,
-- with the scope keys the pull filter needs.
CREATE TABLE row_meta (
    entity        TEXT NOT NULL,
    id            TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    deleted       INTEGER NOT NULL DEFAULT 0,
    area_id       TEXT,
    building_id   TEXT,
    department_id TEXT,
    owner_id      TEXT,
    created_seq   INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    PRIMARY KEY (entity, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX row_meta_seq ON row_meta(seq);
CREATE INDEX row_meta_tombstones ON row_meta(seq) WHERE deleted = 1;

-- Field-level versions for merge; a field absent here dates from the record's creation.
CREATE TABLE field_versions (
    entity TEXT NOT NULL,
    id     TEXT NOT NULL,
    field  TEXT NOT NULL,
    seq    INTEGER NOT NULL,
    writer TEXT NOT NULL,
    PRIMARY KEY (entity, id, field)
) WITHOUT ROWID;

-- Idempotency: the result of every op ever pushed, by (device, op).
CREATE TABLE applied_ops (
    device_id    TEXT NOT NULL,
    op_id        TEXT NOT NULL,
    result_json  TEXT NOT NULL,
    device_time  INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    skew_flagged INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, op_id)
) WITHOUT ROWID;

CREATE TABLE conflicts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    entity          TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    field           TEXT NOT NULL,
    lost_value_json TEXT NOT NULL,
    kept_value_json TEXT NOT NULL,
    lost_device     TEXT NOT NULL,
    kept_device     TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    at              INTEGER NOT NULL,
    restored_at     INTEGER
);
CREATE INDEX conflicts_entity ON conflicts(entity, entity_id);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    scope_json    TEXT NOT NULL,
    scope_epoch   INTEGER NOT NULL DEFAULT 1,
    disabled      INTEGER NOT NULL DEFAULT 0,
    display_name  TEXT NOT NULL DEFAULT ''
);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id),
    token_hash   TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_seen_at INTEGER
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE sync_log (
    id        INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    ops       INTEGER NOT NULL,
    rejected  INTEGER NOT NULL
);
CREATE INDEX sync_log_device ON sync_log(device_id, at);
