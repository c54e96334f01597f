-- Server schema version 2: remember the scope keys a record had before its last move (an
-- incident re-dispatched to another department, a household moved to another building), so the
-- feed can tell devices that saw it under the old keys to drop it.
ALTER TABLE row_meta ADD COLUMN moved INTEGER NOT NULL DEFAULT 0;
ALTER TABLE row_meta ADD COLUMN prev_area_id TEXT;
ALTER TABLE row_meta ADD COLUMN prev_building_id TEXT;
ALTER TABLE row_meta ADD COLUMN prev_department_id TEXT;
ALTER TABLE row_meta ADD COLUMN prev_owner_id TEXT;
