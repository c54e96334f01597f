-- Server schema 6: console sessions kept in the database, so a restart or an upgrade of the
-- server does not log supervisors out. The session id itself is never stored: only its SHA-256.
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);
