-- Server schema version 4: the scopes a user had before, and the newest scope epoch each device
-- is known to have learned. A device that wrote ops offline under its old scope pushes them
-- before it learns of the change; the server judges those ops by the scope they were made under
-- (within a grace period), so a moved grid worker's last edits are not lost.
CREATE TABLE scope_history (
    user_id    TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    role       TEXT NOT NULL,
    scope_json TEXT NOT NULL,
    ended_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, epoch)
) WITHOUT ROWID;

-- NULL for devices enrolled before this version: they may claim any earlier epoch in the grace
-- period until they present the current one.
ALTER TABLE devices ADD COLUMN epoch_seen INTEGER;
