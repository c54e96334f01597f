//! Chinese substring search over the register: households and residents by name, room,
//! address and phone fragment, ranked, with a limit.
//!
//! FTS5's trigram tokenizer cannot answer one- and two-character queries, and most Chinese
//! personal names are two characters. So the core tokenises itself into "truncated suffix
//! grams": for every position of a normalised string, the next `k` characters (fewer at the
//! end). With k = 2 for text and k = 4 for phone digits, a query of length n is answered by:
//! n < k: a prefix query on the grams (`"芳"*` finds every gram starting with 芳, i.e. every
//! occurrence); n = k: one exact gram; n > k: all its k-grams AND-ed, then verified against the
//! stored text. The grams are stored in contentless FTS5 tables (ascii tokenizer: every
//! non-ASCII character is a token character) whose rowid is the indexed row's rowid; FTS5
//! buffers and merges postings, which keeps bulk inserts cheap.
//!
//! Addresses are mostly the building's address plus a room, so a household indexes only the
//! part of its address after its building's address; the building's address is indexed once,
//! in `building_fts`, and an address query finds households through their buildings.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::access::{mask, Principal};
use crate::entities::EntityKind;
use crate::error::Result;
use crate::record::Fields;

/// What kind of record a hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitKind {
    /// A household.
    Household,
    /// A resident.
    Resident,
}

/// Which field matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchField {
    /// Household head's or resident's name.
    Name,
    /// Room number.
    Room,
    /// Address (of the household or its building).
    Address,
    /// Phone fragment.
    Phone,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Household or resident.
    pub kind: HitKind,
    /// The record's id.
    pub id: String,
    /// The household (the record itself for households).
    pub household_id: String,
    /// Name shown as the hit's title.
    pub title: String,
    /// Address (households) or household address (residents).
    pub detail: String,
    /// Phone, masked for roles that may not see it.
    pub phone: Option<String>,
    /// The field that matched.
    pub matched: MatchField,
    /// Rank score: higher is better.
    pub score: i32,
}

/// Keeps letters and digits (any script), lower-cased; drops spaces and punctuation.
pub fn normalize(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Truncated suffix grams of a normalised string, space separated.
fn grams(s: &str, k: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() * 2);
    for i in 0..chars.len() {
        if i > 0 {
            out.push(' ');
        }
        out.extend(&chars[i..(i + k).min(chars.len())]);
    }
    out
}

/// The FTS5 match expression for a normalised query over a column filter (`name`, `{a b}`).
fn match_expr(column: &str, q: &str, k: usize) -> String {
    let chars: Vec<char> = q.chars().collect();
    if chars.len() < k {
        return format!("{column} : \"{q}\"*");
    }
    let terms: Vec<String> =
        (0..=chars.len() - k).map(|i| format!("\"{}\"", chars[i..i + k].iter().collect::<String>())).collect();
    format!("{column} : ({})", terms.join(" AND "))
}

const TEXT_K: usize = 2;
const PHONE_K: usize = 4;

/// Whether `kind` has a search index.
pub(crate) fn indexes(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Household | EntityKind::Resident | EntityKind::Building)
}

fn text(f: &Fields, name: &str) -> String {
    f.get(name).and_then(|v| v.as_str()).map(normalize).unwrap_or_default()
}

fn rowid(conn: &Connection, kind: EntityKind, id: &str) -> Result<Option<i64>> {
    let q = format!("SELECT rowid FROM {} WHERE id = ?1", kind.table());
    Ok(conn.prepare_cached(&q)?.query_row([id], |r| r.get(0)).optional()?)
}

/// The part of a household's address after its building's address (all of it otherwise).
fn residual_address(conn: &Connection, f: &Fields) -> Result<String> {
    let addr = text(f, "address");
    let building = f.get("building_id").and_then(|v| v.as_str()).unwrap_or("");
    let baddr: Option<String> = conn
        .prepare_cached("SELECT address FROM buildings WHERE id = ?1")?
        .query_row([building], |r| r.get(0))
        .optional()?;
    let baddr = baddr.map(|a| normalize(&a)).unwrap_or_default();
    Ok(match addr.strip_prefix(baddr.as_str()) {
        Some(rest) if !baddr.is_empty() => rest.to_owned(),
        _ => addr,
    })
}

/// Keeps the index of one record current: `fields` is the whole new row, `None` on delete.
/// Call before deleting the row (its rowid is needed) and after inserting or updating it.
pub(crate) fn on_write(conn: &Connection, kind: EntityKind, id: &str, fields: Option<&Fields>) -> Result<()> {
    if !indexes(kind) {
        return Ok(());
    }
    let Some(rowid) = rowid(conn, kind, id)? else { return Ok(()) };
    let table = match kind {
        EntityKind::Household => "household_fts",
        EntityKind::Resident => "resident_fts",
        _ => "building_fts",
    };
    let Some(f) = fields else {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE rowid = ?1"))?.execute([rowid])?;
        return Ok(());
    };
    let phone_grams = |f: &Fields| grams(&text(f, "phone"), PHONE_K);
    match kind {
        EntityKind::Household => {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO household_fts (rowid, name, room, address, phone) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                rowid,
                grams(&text(f, "head_name"), TEXT_K),
                grams(&text(f, "room"), TEXT_K),
                grams(&residual_address(conn, f)?, TEXT_K),
                phone_grams(f),
            ])?;
        }
        EntityKind::Resident => {
            conn.prepare_cached("INSERT OR REPLACE INTO resident_fts (rowid, name, phone) VALUES (?1, ?2, ?3)")?
                .execute(params![rowid, grams(&text(f, "name"), TEXT_K), phone_grams(f)])?;
        }
        _ => {
            conn.prepare_cached("INSERT OR REPLACE INTO building_fts (rowid, name, address) VALUES (?1, ?2, ?3)")?
                .execute(params![rowid, grams(&text(f, "name"), TEXT_K), grams(&text(f, "address"), TEXT_K)])?;
        }
    }
    Ok(())
}

struct Candidate {
    kind: HitKind,
    id: String,
    household_id: String,
    title: String,
    detail: String,
    phone: Option<String>,
}

fn fts_rowids(conn: &Connection, table: &str, expr: &str, cap: usize) -> Result<Vec<i64>> {
    let q = format!("SELECT rowid FROM {table} WHERE {table} MATCH ?1 LIMIT ?2");
    let mut stmt = conn.prepare_cached(&q)?;
    let rows = stmt.query_map(params![expr, cap as i64], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const HOUSEHOLD_COLS: &str = "id, head_name, address, phone, room";

fn household_by_rowid(conn: &Connection, rowid: i64) -> Result<Option<Candidate>> {
    let q = format!("SELECT {HOUSEHOLD_COLS} FROM households WHERE rowid = ?1");
    Ok(conn.prepare_cached(&q)?.query_row([rowid], household_candidate).optional()?)
}

fn household_candidate(r: &rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    let id: String = r.get(0)?;
    Ok(Candidate {
        kind: HitKind::Household,
        household_id: id.clone(),
        id,
        title: r.get(1)?,
        detail: r.get(2)?,
        phone: r.get(3)?,
    })
}

fn resident_by_rowid(conn: &Connection, rowid: i64) -> Result<Option<Candidate>> {
    Ok(conn
        .prepare_cached(
            "SELECT r.id, r.household_id, r.name, h.address, r.phone FROM residents r \
             JOIN households h ON h.id = r.household_id WHERE r.rowid = ?1",
        )?
        .query_row([rowid], |r| {
            Ok(Candidate {
                kind: HitKind::Resident,
                id: r.get(0)?,
                household_id: r.get(1)?,
                title: r.get(2)?,
                detail: r.get(3)?,
                phone: r.get(4)?,
            })
        })
        .optional()?)
}

/// Scores a verified match: field tier first, then exact > prefix > inside, shorter first.
fn score(field: MatchField, haystack: &str, q: &str) -> Option<i32> {
    let pos = haystack.find(q)?;
    let tier = match field {
        MatchField::Name => 4000,
        MatchField::Room => 3000,
        MatchField::Address => 2000,
        MatchField::Phone => 1000,
    };
    let shape = if haystack.len() == q.len() {
        600
    } else if pos == 0 {
        300
    } else {
        0
    };
    Some(tier + shape - (haystack.chars().count() as i32).min(200))
}

/// Searches households and residents; best first, at most `limit` hits. Phone fragments are
/// searched only for users who may see phones.
pub fn search(conn: &Connection, who: Option<&Principal>, query: &str, limit: usize) -> Result<Vec<SearchHit>> {
    let q = normalize(query);
    if q.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let sees_phone = who.is_none_or(Principal::sees_personal_data);
    let cap = (limit * 4).max(64);
    let mut hits: Vec<SearchHit> = Vec::new();
    let push = |c: Candidate, field: MatchField, hay: &str, hits: &mut Vec<SearchHit>| {
        let Some(s) = score(field, &normalize(hay), &q) else { return };
        if let Some(h) = hits.iter_mut().find(|h| h.id == c.id) {
            if s > h.score {
                h.score = s;
                h.matched = field;
            }
            return;
        }
        hits.push(SearchHit {
            kind: c.kind,
            id: c.id,
            household_id: c.household_id,
            title: c.title,
            detail: c.detail,
            phone: c.phone.map(|p| if sees_phone { p } else { mask(&p) }),
            matched: field,
            score: s,
        });
    };

    let name_expr = match_expr("name", &q, TEXT_K);
    for rid in fts_rowids(conn, "household_fts", &name_expr, cap)? {
        if let Some(c) = household_by_rowid(conn, rid)? {
            let hay = c.title.clone();
            push(c, MatchField::Name, &hay, &mut hits);
        }
    }
    for rid in fts_rowids(conn, "resident_fts", &name_expr, cap)? {
        if let Some(c) = resident_by_rowid(conn, rid)? {
            let hay = c.title.clone();
            push(c, MatchField::Name, &hay, &mut hits);
        }
    }
    if hits.len() < limit {
        let mut stmt = conn.prepare_cached(&format!("SELECT {HOUSEHOLD_COLS} FROM households WHERE rowid = ?1"))?;
        for rid in fts_rowids(conn, "household_fts", &match_expr("room", &q, TEXT_K), cap)? {
            if let Some((c, room)) = stmt
                .query_row([rid], |r| Ok((household_candidate(r)?, r.get::<_, String>(4)?)))
                .optional()?
            {
                push(c, MatchField::Room, &room, &mut hits);
            }
        }
    }
    if hits.len() < limit {
        for rid in fts_rowids(conn, "household_fts", &match_expr("address", &q, TEXT_K), cap)? {
            if let Some(c) = household_by_rowid(conn, rid)? {
                let hay = c.detail.clone();
                push(c, MatchField::Address, &hay, &mut hits);
            }
        }
        let building_expr = match_expr("{name address}", &q, TEXT_K);
        let mut in_building = conn.prepare_cached(&format!(
            "SELECT {HOUSEHOLD_COLS} FROM households WHERE building_id = (SELECT id FROM buildings WHERE rowid = ?1) \
             ORDER BY room LIMIT ?2"
        ))?;
        let mut building = conn.prepare_cached("SELECT name, address FROM buildings WHERE rowid = ?1")?;
        for rid in fts_rowids(conn, "building_fts", &building_expr, cap)? {
            if hits.len() >= cap {
                break;
            }
            let Some((name, address)) =
                building.query_row([rid], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).optional()?
            else {
                continue;
            };
            if !normalize(&name).contains(&q) && !normalize(&address).contains(&q) {
                continue;
            }
            let rows = in_building.query_map(params![rid, cap as i64], household_candidate)?;
            for c in rows {
                let c = c?;
                let hay = c.detail.clone();
                push(c, MatchField::Address, &hay, &mut hits);
            }
        }
    }
    if sees_phone && hits.len() < limit && q.chars().all(|c| c.is_ascii_digit()) {
        let phone_expr = match_expr("phone", &q, PHONE_K);
        for rid in fts_rowids(conn, "household_fts", &phone_expr, cap)? {
            if let Some(c) = household_by_rowid(conn, rid)? {
                let hay = c.phone.clone().unwrap_or_default();
                push(c, MatchField::Phone, &hay, &mut hits);
            }
        }
        for rid in fts_rowids(conn, "resident_fts", &phone_expr, cap)? {
            if let Some(c) = resident_by_rowid(conn, rid)? {
                let hay = c.phone.clone().unwrap_or_default();
                push(c, MatchField::Phone, &hay, &mut hits);
            }
        }
    }
    hits.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    hits.truncate(limit);
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_are_truncated_suffixes() {
        assert_eq!(grams("王小芳", 2), "王小 小芳 芳");
        assert_eq!(grams("13812345678", 4), "1381 3812 8123 1234 2345 3456 4567 5678 678 78 8");
        assert_eq!(grams("", 2), "");
    }

    #[test]
    fn match_expressions_cover_short_exact_and_long_queries() {
        assert_eq!(match_expr("name", "芳", 2), "name : \"芳\"*");
        assert_eq!(match_expr("name", "王芳", 2), "name : (\"王芳\")");
        assert_eq!(match_expr("address", "建设路", 2), "address : (\"建设\" AND \"设路\")");
        assert_eq!(match_expr("phone", "5678", 4), "phone : (\"5678\")");
    }

    #[test]
    fn normalize_drops_punctuation_and_case() {
        assert_eq!(normalize(" 3栋-502 室，A座 "), "3栋502室a座");
    }
}
