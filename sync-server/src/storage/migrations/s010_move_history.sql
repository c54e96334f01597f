-- Server schema version 10: every change of a record's scope keys is remembered, not only the
-- last. A record that moved twice before a device pulled again (an incident moved to another
-- building and then dispatched, a household moved on) left only its second-to-last keys in
-- `prev_*`; a device that held it under the keys before those was never told to drop it.
--
-- `row_moves`: the keys a record had before each move, at the sequence of the move, written by
-- the trigger below (moves are rare next to edits: the trigger's condition is all most updates
-- pay). `row_meta.moved` now holds the sequence of the last move (it was 1) and `moved_before`
-- that of the move before it, so the feed reads `row_moves` only for a record that moved more
-- than once after the caller's cursor.
CREATE TABLE row_moves (
    entity        TEXT NOT NULL,
    id            TEXT NOT NULL,
    seq           INTEGER NOT NULL,  -- the move's sequence
    area_id       TEXT,              -- the keys before it
    building_id   TEXT,
    department_id TEXT,
    owner_id      TEXT,
    PRIMARY KEY (entity, id, seq)
) WITHOUT ROWID;
ALTER TABLE row_meta ADD COLUMN moved_before INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER row_meta_moves AFTER UPDATE OF area_id, building_id, department_id, owner_id ON row_meta
WHEN old.area_id IS NOT new.area_id OR old.building_id IS NOT new.building_id
    OR old.department_id IS NOT new.department_id OR old.owner_id IS NOT new.owner_id
BEGIN
    INSERT OR REPLACE INTO row_moves (entity, id, seq, area_id, building_id, department_id, owner_id)
    VALUES (old.entity, old.id, new.seq, old.area_id, old.building_id, old.department_id, old.owner_id);
END;
-- Moves made before: their keys, at the record's sequence (its move was at or before it).
INSERT INTO row_moves (entity, id, seq, area_id, building_id, department_id, owner_id)
SELECT entity, id, seq, prev_area_id, prev_building_id, prev_department_id, prev_owner_id FROM row_meta WHERE moved <> 0;
UPDATE row_meta SET moved = seq WHERE moved <> 0;
