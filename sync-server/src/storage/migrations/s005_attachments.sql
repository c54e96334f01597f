-- Server schema version 5: photos (DESIGN.md sync rule 9). An upload in progress keeps its
-- chunks in order; the whole file moves to `attachments` once its SHA-256 matches.
CREATE TABLE attachment_uploads (
    sha256     TEXT PRIMARY KEY,
    mime       TEXT NOT NULL,
    total      INTEGER NOT NULL,
    received   INTEGER NOT NULL,
    device_id  TEXT NOT NULL,
    started_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE attachment_chunks (
    sha256 TEXT NOT NULL,
    offset INTEGER NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (sha256, offset)
) WITHOUT ROWID;
CREATE TABLE attachments (
    sha256      TEXT PRIMARY KEY,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    device_id   TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL
) WITHOUT ROWID;
