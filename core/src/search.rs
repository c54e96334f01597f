//! Chinese substring search over the register: households and residents by name, room,
//! address and phone fragment, ranked, with a limit.
//!
//! FTS5's trigram tokenizer cannot answer one- and two-character queries, and most Chinese
//! personal names are two characters. So the core tokenises itself into "truncated suffix
//! grams": for every position of a normalised string, the next `k` characters (fewer at the
//! end). With k = 2 for text and k = 4 for phone digits, a query of length n is answered by:
//! n < k: a prefix query on the grams (`"芳"*` finds every gram starting with 芳, i.e. every
//! occurrence); n ≥ k: the AND of its k-grams, a superset of the rows containing the query.
//! Every hit is verified against the stored text, so the index needs row ids only: the grams
//! are stored in contentless FTS5 tables with `detail = none` (ascii tokenizer: every
//! non-ASCII character is a token character) whose rowid is the indexed row's rowid; FTS5
//! buffers and merges postings, which keeps bulk inserts cheap.

use rusqlite::types::Type;
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
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            }
        } else if ('\u{4e00}'..='\u{9fff}').contains(&c) {
            // CJK unified ideographs (nearly every character of a name or an address) are
            // letters with no case: kept as they are, without the general Unicode tables.
            out.push(c);
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Field tags: every gram starts with its field's letter, so fields never share postings.
const NAME: char = 'n';
const ROOM: char = 'r';
const ADDRESS: char = 'a';
const PHONE: char = 'p';

/// Byte offsets of a string's characters from the `k`-th on, then its length: the end of
/// the gram that starts at each character.
fn gram_ends(s: &str, k: usize) -> impl Iterator<Item = usize> + '_ {
    s.char_indices().map(|(i, _)| i).chain(std::iter::once(s.len())).skip(k)
}

/// Truncated suffix grams of a normalised string, tagged, appended to `out` space separated.
fn grams(out: &mut String, tag: char, s: &str, k: usize) {
    let mut ends = gram_ends(s, k);
    for (start, _) in s.char_indices() {
        // Past the last full gram the grams shorten to the end of the string.
        let end = ends.next().unwrap_or(s.len());
        out.push(' ');
        out.push(tag);
        out.push_str(&s[start..end]);
    }
}

/// Only the full-length grams, tagged (phones: 4 digits is the shortest useful query); a
/// string shorter than a gram is one gram.
fn full_grams(out: &mut String, tag: char, s: &str, k: usize) {
    let mut any = false;
    for (start, end) in s.char_indices().map(|(i, _)| i).zip(gram_ends(s, k)) {
        any = true;
        out.push(' ');
        out.push(tag);
        out.push_str(&s[start..end]);
    }
    if !any && !s.is_empty() {
        out.push(' ');
        out.push(tag);
        out.push_str(s);
    }
}

/// The FTS5 match expression for a normalised query over one field's tagged grams:
/// shorter than a gram, a prefix query; otherwise all of its grams (AND), which every row
/// containing the query as a substring has; the caller verifies each hit.
fn match_expr(tag: char, q: &str, k: usize) -> String {
    let chars: Vec<char> = q.chars().collect();
    if chars.len() < k {
        return format!("\"{tag}{q}\"*");
    }
    let grams: Vec<String> =
        (0..=chars.len() - k).map(|i| std::iter::once(tag).chain(chars[i..i + k].iter().copied()).collect()).collect();
    grams.iter().map(|g| format!("\"{g}\"")).collect::<Vec<_>>().join(" AND ")
}

const TEXT_K: usize = 2;
const PHONE_K: usize = 4;

/// Whether `kind` has a search index.
pub(crate) fn indexes(kind: EntityKind) -> bool {
    matches!(kind, EntityKind::Household | EntityKind::Resident)
}

/// Whether writing these fields changes a row's search document (a notes or member-count edit
/// does not, and leaves the index untouched).
pub(crate) fn touches_index(kind: EntityKind, fields: &Fields) -> bool {
    indexes(kind) && indexed_fields(kind).iter().any(|f| fields.contains_key(*f))
}

fn rowid(conn: &Connection, kind: EntityKind, id: &str) -> Result<Option<i64>> {
    let q = format!("SELECT rowid FROM {} WHERE id = ?1", kind.table());
    Ok(conn.prepare_cached(&q)?.query_row([id], |r| r.get(0)).optional()?)
}

/// The text fields of a household's search document, in [`household_doc`]'s order.
const HOUSEHOLD_TEXT: [&str; 4] = ["head_name", "room", "address", "phone"];
/// The text fields of a resident's search document (name, phone).
const RESIDENT_TEXT: [&str; 2] = ["name", "phone"];

/// The text fields an indexed kind's search document is made of.
pub(crate) fn indexed_fields(kind: EntityKind) -> &'static [&'static str] {
    if kind == EntityKind::Household {
        &HOUSEHOLD_TEXT
    } else {
        &RESIDENT_TEXT
    }
}

/// For a pulled row: the rowid of the stored row with this id, and whether its search document
/// stays the same with `fields` (then its entry is kept: no delete and re-insert of its grams,
/// which a version bump, a notes edit or a device's own change coming back would otherwise
/// cost). `None` when the row is new here.
pub(crate) fn stored_entry(conn: &Connection, kind: EntityKind, id: &str, fields: &Fields) -> Result<Option<(i64, bool)>> {
    let cols = indexed_fields(kind);
    let q = format!("SELECT rowid, {} FROM {} WHERE id = ?1", cols.join(", "), kind.table());
    let entry = conn
        .prepare_cached(&q)?
        .query_row([id], |r| {
            let mut same = true;
            for (i, name) in cols.iter().enumerate() {
                let old: Option<String> = r.get(i + 1)?;
                let new = fields.get(*name).and_then(|v| v.as_str());
                same &= old.as_deref().unwrap_or_default() == new.unwrap_or_default();
            }
            Ok((r.get(0)?, same))
        })
        .optional()?;
    Ok(entry)
}

/// Keeps the index of one record current: `fields` is the whole new row, `None` on delete.
/// Call before deleting the row (its rowid is needed) and after inserting or updating it;
/// `fresh` says the row was just inserted (nothing to replace: the cheaper plain insert).
pub(crate) fn on_write(conn: &Connection, kind: EntityKind, id: &str, fields: Option<&Fields>, fresh: bool) -> Result<()> {
    if !indexes(kind) {
        return Ok(());
    }
    let Some(rowid) = rowid(conn, kind, id)? else { return Ok(()) };
    index_row(conn, kind, rowid, fields, fresh)
}

/// [`on_write`] for a caller that knows the row's rowid (bulk paths: no lookup by id).
pub(crate) fn index_row(conn: &Connection, kind: EntityKind, rowid: i64, fields: Option<&Fields>, fresh: bool) -> Result<()> {
    if !indexes(kind) {
        return Ok(());
    }
    let household = kind == EntityKind::Household;
    let table = if household { "household_fts" } else { "resident_fts" };
    if !fresh {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE rowid = ?1"))?.execute([rowid])?;
    }
    let Some(f) = fields else { return Ok(()) };
    let field = |name: &str| f.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let doc = if household {
        let [name, room, address, phone] = HOUSEHOLD_TEXT.map(field);
        household_doc(name, room, address, phone)
    } else {
        let [name, phone] = RESIDENT_TEXT.map(field);
        resident_doc(name, phone)
    };
    conn.prepare_cached(&format!("INSERT INTO {table} (rowid, grams) VALUES (?1, ?2)"))?.execute(params![rowid, doc])?;
    Ok(())
}

/// The gram document a household is indexed under (name, room, address, phone), as stored in
/// `household_fts` (benchmarks measure the index alone with it).
pub fn household_doc(head_name: &str, room: &str, address: &str, phone: &str) -> String {
    let mut doc = String::with_capacity(512);
    grams(&mut doc, NAME, &normalize(head_name), TEXT_K);
    grams(&mut doc, ROOM, &normalize(room), TEXT_K);
    grams(&mut doc, ADDRESS, &normalize(address), TEXT_K);
    full_grams(&mut doc, PHONE, &normalize(phone), PHONE_K);
    doc
}

/// The gram document a resident is indexed under (name, phone), as stored in `resident_fts`.
fn resident_doc(name: &str, phone: &str) -> String {
    let mut doc = String::with_capacity(96);
    grams(&mut doc, NAME, &normalize(name), TEXT_K);
    full_grams(&mut doc, PHONE, &normalize(phone), PHONE_K);
    doc
}

/// Empties both search tables and indexes every household and resident in the register again
/// (a migration that remade the tables; a store whose index must be made whole).
pub(crate) fn rebuild(conn: &Connection) -> Result<()> {
    clear(conn)?;
    index_range(conn, conn, RowMarks { households: i64::MIN, residents: i64::MIN }, RowMarks { households: i64::MAX, residents: i64::MAX })
}

/// Highest rowids of the two indexed tables (how far an index built beside a pull has got).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RowMarks {
    /// Households up to this rowid.
    pub households: i64,
    /// Residents up to this rowid.
    pub residents: i64,
}

impl RowMarks {
    /// The tables' highest rowids now.
    pub(crate) fn current(conn: &Connection) -> Result<RowMarks> {
        Ok(conn.query_row(
            "SELECT (SELECT coalesce(max(rowid), 0) FROM households), (SELECT coalesce(max(rowid), 0) FROM residents)",
            [],
            |r| Ok(RowMarks { households: r.get(0)?, residents: r.get(1)? }),
        )?)
    }
}

const HOUSEHOLD_DOCS: &str =
    "SELECT rowid, head_name, room, address, coalesce(phone, '') FROM households WHERE rowid > ?1 AND rowid <= ?2";
const RESIDENT_DOCS: &str = "SELECT rowid, name, coalesce(phone, '') FROM residents WHERE rowid > ?1 AND rowid <= ?2";

/// Builds a search document from the text columns a `*_DOCS` query returns after the rowid.
type DocFn = fn(&[&str]) -> String;

/// How an indexed kind's rows are read and indexed: the range query, the FTS table, the document.
fn doc_source(kind: EntityKind) -> (&'static str, &'static str, DocFn) {
    if kind == EntityKind::Household {
        (HOUSEHOLD_DOCS, "household_fts", |t| household_doc(t[0], t[1], t[2], t[3]))
    } else {
        (RESIDENT_DOCS, "resident_fts", |t| resident_doc(t[0], t[1]))
    }
}

/// Indexes the rows of `src` with rowids above `from` and up to `to` into the search tables of
/// `dst` (the same connection for a rebuild), as plain inserts: none of them may be there yet.
pub(crate) fn index_range(src: &Connection, dst: &Connection, from: RowMarks, to: RowMarks) -> Result<()> {
    reindex(src, dst, EntityKind::Household, (from.households, to.households))?;
    reindex(src, dst, EntityKind::Resident, (from.residents, to.residents))
}

/// Indexes the rows of `kind` in `src` with rowids in `range` (above the first, up to the
/// second) into the search table of `dst`.
fn reindex(src: &Connection, dst: &Connection, kind: EntityKind, range: (i64, i64)) -> Result<()> {
    if range.0 >= range.1 {
        return Ok(());
    }
    let (_, table, _) = doc_source(kind);
    let mut insert = dst.prepare_cached(&format!("INSERT INTO {table} (rowid, grams) VALUES (?1, ?2)"))?;
    for_each_doc(src, kind, range, |rowid, doc| {
        insert.execute(params![rowid, doc])?;
        Ok(())
    })
}

/// Calls `f` with the rowid and search document of each row of `kind` in `range`.
fn for_each_doc(conn: &Connection, kind: EntityKind, range: (i64, i64), mut f: impl FnMut(i64, String) -> Result<()>) -> Result<()> {
    let (select, _, doc) = doc_source(kind);
    let mut stmt = conn.prepare_cached(select)?;
    let texts = stmt.column_count() - 1;
    let mut rows = stmt.query(params![range.0, range.1])?;
    while let Some(r) = rows.next()? {
        // The columns read in place (no copy of each before the document is built from them).
        let mut t = [""; 4];
        for (i, col) in t.iter_mut().enumerate().take(texts) {
            *col = r.get_ref(i + 1)?.as_str().map_err(|e| rusqlite::Error::FromSqlConversionFailure(i + 1, Type::Text, Box::new(e)))?;
        }
        f(r.get(0)?, doc(&t[..texts]))?;
    }
    Ok(())
}

/// Every row's search document by rowid (tests compare an index with the rows it indexes).
#[cfg(test)]
pub(crate) fn documents(conn: &Connection, kind: EntityKind) -> Result<Vec<(i64, String)>> {
    let mut docs = Vec::new();
    for_each_doc(conn, kind, (i64::MIN, i64::MAX), |rowid, doc| {
        docs.push((rowid, doc));
        Ok(())
    })?;
    Ok(docs)
}

/// Makes one row's search entry match the row with this rowid now: its old entry (if any)
/// removed, the row (if it still exists) indexed again.
pub(crate) fn reindex_rowid(conn: &Connection, kind: EntityKind, rowid: i64) -> Result<()> {
    let (_, table, _) = doc_source(kind);
    conn.prepare_cached(&format!("DELETE FROM {table} WHERE rowid = ?1"))?.execute([rowid])?;
    reindex(conn, conn, kind, (rowid - 1, rowid))
}

/// Empties both search tables at once (FTS5's `delete-all`: no per-row tombstones).
pub(crate) fn clear(conn: &Connection) -> Result<()> {
    for table in ["household_fts", "resident_fts"] {
        conn.execute(&format!("INSERT INTO {table} ({table}) VALUES ('delete-all')"), [])?;
    }
    Ok(())
}

/// Indexes a household row just inserted with `rowid` (the bulk create path).
pub(crate) fn index_new_household(conn: &Connection, rowid: i64, doc: &str) -> Result<()> {
    conn.prepare_cached("INSERT INTO household_fts (rowid, grams) VALUES (?1, ?2)")?.execute(params![rowid, doc])?;
    Ok(())
}

struct Candidate {
    kind: HitKind,
    id: String,
    household_id: String,
    title: String,
    detail: String,
    phone: Option<String>,
    room: Option<String>,
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
        room: r.get(4)?,
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
                room: None,
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
    let mut hits = Hits { q: &q, sees_phone, hits: Vec::new(), want: limit };
    let name_expr = match_expr(NAME, &q, TEXT_K);
    hits.tier(conn, "household_fts", &name_expr, MatchField::Name, household_by_rowid)?;
    hits.tier(conn, "resident_fts", &name_expr, MatchField::Name, resident_by_rowid)?;
    if hits.hits.len() < limit {
        hits.tier(conn, "household_fts", &match_expr(ROOM, &q, TEXT_K), MatchField::Room, household_by_rowid)?;
    }
    let digits = q.chars().all(|c| c.is_ascii_digit());
    // Four or more digits are a phone or room number, not part of a street address.
    let address_like = !(digits && q.len() >= PHONE_K);
    if address_like && hits.hits.len() < limit {
        hits.through_buildings(conn, limit)?;
    }
    if address_like && hits.hits.len() < limit {
        hits.tier(conn, "household_fts", &match_expr(ADDRESS, &q, TEXT_K), MatchField::Address, household_by_rowid)?;
    }
    if sees_phone && hits.hits.len() < limit && digits {
        let phone_expr = match_expr(PHONE, &q, PHONE_K);
        hits.tier(conn, "household_fts", &phone_expr, MatchField::Phone, household_by_rowid)?;
        hits.tier(conn, "resident_fts", &phone_expr, MatchField::Phone, resident_by_rowid)?;
    }
    let mut hits = hits.hits;
    hits.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    hits.truncate(limit);
    Ok(hits)
}

/// Most gram matches a tier examines: AND-ed grams can match rows that do not contain the
/// query as a substring, so candidates are streamed and verified until enough are found.
const SCAN_CAP: usize = 5000;

struct Hits<'q> {
    q: &'q str,
    sees_phone: bool,
    hits: Vec<SearchHit>,
    /// Verified hits a tier collects before it stops.
    want: usize,
}

impl Hits<'_> {
    /// Streams the rows matching `expr`, verifies each against its field, and keeps the best score.
    fn tier(
        &mut self,
        conn: &Connection,
        table: &str,
        expr: &str,
        field: MatchField,
        fetch: fn(&Connection, i64) -> Result<Option<Candidate>>,
    ) -> Result<()> {
        let sql = format!("SELECT rowid FROM {table} WHERE {table} MATCH ?1");
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query([expr])?;
        let (mut examined, mut found) = (0, 0);
        while let Some(r) = rows.next()? {
            examined += 1;
            if let Some(c) = fetch(conn, r.get(0)?)? {
                found += usize::from(self.add(c, field));
            }
            if found >= self.want || examined >= SCAN_CAP {
                break;
            }
        }
        Ok(())
    }

    /// Address fragments a whole building shares ("蓬江区", "翠苑小区3栋") are answered through
    /// the buildings table, a few thousand rows: far cheaper than the very long posting lists
    /// such common grams have in the household index.
    fn through_buildings(&mut self, conn: &Connection, limit: usize) -> Result<()> {
        let buildings: Vec<String> = conn
            .prepare_cached("SELECT id FROM buildings WHERE instr(address, ?1) > 0 ORDER BY address LIMIT ?2")?
            .query_map(params![self.q, limit as i64], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut in_building =
            conn.prepare_cached(&format!("SELECT {HOUSEHOLD_COLS} FROM households WHERE building_id = ?1 ORDER BY room LIMIT ?2"))?;
        for b in buildings {
            let left = limit.saturating_sub(self.hits.len());
            if left == 0 {
                break;
            }
            let found: Vec<Candidate> =
                in_building.query_map(params![b, left as i64], household_candidate)?.collect::<Result<_, _>>()?;
            for c in found {
                self.add(c, MatchField::Address);
            }
        }
        Ok(())
    }

    /// Adds a verified candidate; returns false when the field does not contain the query.
    fn add(&mut self, c: Candidate, field: MatchField) -> bool {
        let hay = match field {
            MatchField::Name => c.title.as_str(),
            MatchField::Room => c.room.as_deref().unwrap_or_default(),
            MatchField::Address => c.detail.as_str(),
            MatchField::Phone => c.phone.as_deref().unwrap_or_default(),
        };
        let Some(s) = score(field, &normalize(hay), self.q) else { return false };
        if let Some(h) = self.hits.iter_mut().find(|h| h.id == c.id) {
            if s > h.score {
                h.score = s;
                h.matched = field;
            }
            return true;
        }
        let sees_phone = self.sees_phone;
        self.hits.push(SearchHit {
            kind: c.kind,
            id: c.id,
            household_id: c.household_id,
            title: c.title,
            detail: c.detail,
            phone: c.phone.map(|p| if sees_phone { p } else { mask(&p) }),
            matched: field,
            score: s,
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grams_are_tagged_truncated_suffixes() {
        let mut doc = String::new();
        grams(&mut doc, NAME, "王小芳", 2);
        assert_eq!(doc, " n王小 n小芳 n芳");
        let mut doc = String::new();
        full_grams(&mut doc, PHONE, "13812345678", 4);
        assert_eq!(doc, " p1381 p3812 p8123 p1234 p2345 p3456 p4567 p5678");
        let mut doc = String::new();
        grams(&mut doc, NAME, "", 2);
        assert_eq!(doc, "");
    }

    #[test]
    fn grams_agree_with_a_char_by_char_reference() {
        let reference = |s: &str, k: usize, full: bool| -> String {
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len();
            let mut out = String::new();
            let starts = if !full { n } else if n <= k { usize::from(n > 0) } else { n - k + 1 };
            for i in 0..starts {
                let end = if full && n <= k { n } else { (i + k).min(n) };
                out.push(' ');
                out.push('t');
                out.extend(&chars[i..end]);
            }
            out
        };
        for s in ["", "a", "王", "王芳", "王小芳", "ab3栋502室", "13812345678", "0750-3123456", "𠀀a𪚥王"] {
            let s = normalize(s);
            for k in 1..=5 {
                let (mut g, mut f) = (String::new(), String::new());
                grams(&mut g, 't', &s, k);
                full_grams(&mut f, 't', &s, k);
                assert_eq!(g, reference(&s, k, false), "grams of {s:?}, k = {k}");
                assert_eq!(f, reference(&s, k, true), "full grams of {s:?}, k = {k}");
            }
        }
    }

    #[test]
    fn match_expressions_cover_short_exact_and_long_queries() {
        assert_eq!(match_expr(NAME, "芳", 2), "\"n芳\"*");
        assert_eq!(match_expr(NAME, "王芳", 2), "\"n王芳\"");
        assert_eq!(match_expr(ADDRESS, "建设路", 2), "\"a建设\" AND \"a设路\"");
        assert_eq!(match_expr(PHONE, "5678", 4), "\"p5678\"");
    }

    #[test]
    fn normalize_drops_punctuation_and_case() {
        assert_eq!(normalize(" 3栋-502 室，A座 "), "3栋502室a座");
        // The fast paths (ASCII, CJK ideographs) agree with the general rule on every script.
        let general = |s: &str| -> String { s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect() };
        let mixed = "Ａｂ王㐀䶵鿿一、。（）ΣΑΒ İstanbul Ǆ ①②③ ٣ 𠀀𪚥 A-b_c.D 〇 ！？ 　é";
        assert_eq!(normalize(mixed), general(mixed));
        for c in ('\u{0}'..='\u{2fff}').chain('\u{3000}'..='\u{a000}').step_by(7) {
            let one = c.to_string();
            assert_eq!(normalize(&one), general(&one), "U+{:04X}", c as u32);
        }
        let mut doc = String::new();
        full_grams(&mut doc, PHONE, "138", 4);
        assert_eq!(doc, " p138");
    }
}
