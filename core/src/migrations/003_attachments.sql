-- Schema version 3: photos (DESIGN.md sync rule 9). Stored by SHA-256, referenced by hash from
-- incidents and task evidence; uploaded apart from the ops, in resumable chunks.
CREATE TABLE attachments (
    sha256      TEXT PRIMARY KEY,
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    -- NULL until the server has the whole file and verified its hash.
    uploaded_at INTEGER
) WITHOUT ROWID;
CREATE INDEX attachments_pending ON attachments (created_at) WHERE uploaded_at IS NULL;
