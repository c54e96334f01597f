-- Server schema version 3: the change log. One row per applied op: the server time it was
-- applied, the device and user that sent it, the device's own clock, and the fields it carried.
-- The activity log, each record's history and the statistics (which use server time only) read it.
-- Indexes are kept to what those reads need, since every applied op pays for each of them.
CREATE TABLE change_log (
    seq         INTEGER PRIMARY KEY,  -- the op's version: the last sequence it assigned
    first_seq   INTEGER NOT NULL,     -- the first sequence it assigned
    at          INTEGER NOT NULL,     -- server time (ms)
    device_id   TEXT NOT NULL,        -- writer: device id, or 'server'
    user_id     TEXT NOT NULL,
    op_id       TEXT NOT NULL,
    device_time INTEGER NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    kind        TEXT NOT NULL,        -- create | update | delete | event
    event_id    TEXT,                 -- for incident events: the event's id
    event_kind  TEXT,
    area_id     TEXT,                 -- the record's grid/area after the op (scope filter)
    department_id TEXT,
    fields_json TEXT NOT NULL
);
CREATE INDEX change_log_entity ON change_log(entity, entity_id, seq);
CREATE INDEX change_log_at ON change_log(at);
CREATE INDEX change_log_event ON change_log(event_id) WHERE event_id IS NOT NULL;
