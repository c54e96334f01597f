//! One page of the change feed on SQLite: walk `row_meta` by seq, keep what the caller may see.
//! A record that moved out of the caller's scope (visible under keys it had since the caller's
//! cursor only) is sent as a tombstone, so a device that held it drops it.

use rusqlite::{Connection, OptionalExtension};

use gridline_core::access::ScopeKeys;
use gridline_core::record;
use gridline_core::EntityKind;

use super::*;

/// Rows of `row_meta` read per query while walking the feed.
const CHUNK: usize = 2000;

/// Bytes a change adds to a page besides its fields (seq, entity, id, version, keys).
const ENVELOPE_BYTES: usize = 96;

pub(super) fn page(
    c: &Connection,
    cursor: i64,
    limit: usize,
    max_scan: usize,
    visible: &VisibleFn<'_>,
) -> StoreResult<FeedPage> {
    let horizon = super::sqlite::tombstone_horizon(c)?;
    let mut out = FeedPage { rows: Vec::new(), last_examined: cursor, has_more: false, horizon };
    let mut scanned = 0usize;
    let mut bytes = 0usize;
    let mut stmt = c.prepare_cached(
        "SELECT seq, entity, id, deleted, area_id, building_id, department_id, owner_id, moved, \
         prev_area_id, prev_building_id, prev_department_id, prev_owner_id, moved_before FROM row_meta \
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    'walk: loop {
        type Entry = (i64, String, String, bool, ScopeKeys, Option<(ScopeKeys, i64)>);
        let chunk: Vec<Entry> = stmt
            .query_map(rusqlite::params![out.last_examined, CHUNK as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, i64>(3)? != 0,
                    ScopeKeys {
                        area_id: r.get(4)?,
                        building_id: r.get(5)?,
                        department_id: r.get(6)?,
                        owner_id: r.get(7)?,
                    },
                    if r.get::<_, i64>(8)? != 0 {
                        let prev = ScopeKeys {
                            area_id: r.get(9)?,
                            building_id: r.get(10)?,
                            department_id: r.get(11)?,
                            owner_id: r.get(12)?,
                        };
                        Some((prev, r.get(13)?))
                    } else {
                        None
                    },
                ))
            })?
            .collect::<Result<_, _>>()?;
        let exhausted = chunk.len() < CHUNK;
        for (seq, entity, id, deleted, keys, prev) in chunk {
            out.last_examined = seq;
            scanned += 1;
            if let Some(entity) = EntityKind::parse(&entity) {
                let seen = visible(entity, &keys);
                let moved_out = match &prev {
                    _ if seen => false,
                    None => false,
                    // The keys before its last move; before that (when it moved more than once
                    // since the cursor), the keys before each of those moves.
                    Some((p, moved_before)) => {
                        visible(entity, p) || (*moved_before > cursor && seen_before(c, entity, &id, cursor, visible)?)
                    }
                };
                if moved_out {
                    // Moved out of the caller's scope: those who saw it drop it.
                    out.rows.push(FeedRow { seq, entity, id, deleted: true, version: seq, json: "{}".into() });
                } else if seen {
                    let row = if deleted { Some((seq, "{}".to_owned())) } else { record::get_json(c, entity, &id)? };
                    if let Some((version, json)) = row {
                        bytes += json.len() + ENVELOPE_BYTES;
                        out.rows.push(FeedRow { seq, entity, id, deleted, version, json });
                    }
                }
            }
            if out.rows.len() >= limit || scanned >= max_scan || bytes >= FEED_PAGE_BYTES {
                break 'walk;
            }
        }
        if exhausted {
            return caught_up(c, out);
        }
    }
    out.has_more = c
        .prepare_cached("SELECT 1 FROM row_meta WHERE seq > ?1 LIMIT 1")?
        .query_row([out.last_examined], |_| Ok(()))
        .optional()?
        .is_some();
    if out.has_more {
        Ok(out)
    } else {
        caught_up(c, out)
    }
}

/// Whether the caller could see the record under the keys it had before any of its moves after
/// `cursor` (`row_moves`).
fn seen_before(c: &Connection, entity: EntityKind, id: &str, cursor: i64, visible: &VisibleFn<'_>) -> StoreResult<bool> {
    let mut stmt = c.prepare_cached(
        "SELECT area_id, building_id, department_id, owner_id FROM row_moves WHERE entity = ?1 AND id = ?2 AND seq > ?3",
    )?;
    let keys = stmt.query_map(rusqlite::params![entity.as_str(), id, cursor], |r| {
        Ok(ScopeKeys { area_id: r.get(0)?, building_id: r.get(1)?, department_id: r.get(2)?, owner_id: r.get(3)? })
    })?;
    for k in keys {
        if visible(entity, &k?) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A page after which there is nothing more: every change there is was examined, so the
/// caller has seen the sequence as far as it goes in this snapshot, also past the last row
/// (sequences a restore skipped, rows re-sequenced or purged). A cursor thus never stays below
/// a horizon set at the end of the sequence.
fn caught_up(c: &Connection, mut out: FeedPage) -> StoreResult<FeedPage> {
    out.last_examined = out.last_examined.max(super::sqlite::last_seq(c)?);
    Ok(out)
}
