-- Server schema version 8: the idempotency record keeps its result's status and version in
-- columns of their own, and the result as JSON only when there is more to it (a rejection's code
-- and reason, a merge's overwritten fields). An op applied as sent, nearly every op, is stored
-- with an empty `result_json` instead of a JSON copy of its own op id, status and version. A
-- device's rejected ops are found through an index instead of by reading every op's JSON.
-- Rows written before keep their JSON, which stays what they are read from.
ALTER TABLE applied_ops ADD COLUMN status TEXT;
ALTER TABLE applied_ops ADD COLUMN version INTEGER;
UPDATE applied_ops SET status = json_extract(result_json, '$.status'), version = json_extract(result_json, '$.version');
CREATE INDEX applied_ops_rejected ON applied_ops(device_id, received_at) WHERE status = 'rejected';
