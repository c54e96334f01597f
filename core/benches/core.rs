//! `scripts/bench core`: bulk insert, incident report latency and search latency of the core,
//! each printed beside a baseline measured in the same run.
//!
//! Output lines: `bench: <name> = <value> <unit>`.

use std::time::Instant;

use gridline_core::sample::{self, Rng};
use gridline_core::search;
use gridline_core::{Area, HouseholdPatch, NewBuilding, NewHousehold, NewIncident, Principal, ReferenceData, Role, Scope, Store};
use rusqlite::{params, Connection};

const HOUSEHOLDS: usize = 100_000;
const REPORTS: usize = 2_000;
const QUERIES: usize = 1_000;

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64) * 0.99).ceil() as usize - 1]
}

fn line(name: &str, value: f64, unit: &str) {
    println!("bench: {name} = {value:.3} {unit}");
}

/// CPU seconds this process has used so far (Linux `/proc`, 10 ms ticks); None elsewhere. On a
/// shared machine the CPU-time ratio is a steadier companion to the wall-clock one.
fn cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
}

/// Wall-clock rows/s of `f` and its CPU rows/s (when known).
fn timed(rows: usize, f: impl FnOnce()) -> (f64, Option<f64>) {
    let (start, cpu) = (Instant::now(), cpu_s());
    f();
    let wall = start.elapsed().as_secs_f64();
    let cpu = cpu.zip(cpu_s()).map(|(a, b)| rows as f64 / (b - a).max(0.01));
    (rows as f64 / wall, cpu)
}

fn admin() -> Principal {
    Principal { user_id: "bench-admin".into(), role: Role::Admin, scope: Scope::default() }
}

fn reference() -> ReferenceData {
    let seeds = sample::demo_areas(2, 2);
    ReferenceData {
        areas: seeds
            .iter()
            .map(|a| Area {
                id: a.code.clone(),
                version: 1,
                parent_id: a.parent_code.clone(),
                kind: a.kind.to_owned(),
                code: a.code.clone(),
                name: a.name.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

/// Opens a file store with buildings for the flat sample; returns the households to insert.
fn prepared_store(dir: &std::path::Path) -> (Store, Vec<NewHousehold>) {
    let store = Store::open(dir.join("core.sqlite")).expect("open store");
    store.set_principal(&admin()).expect("principal");
    store.seed_reference(&reference()).expect("seed");
    let mut news = Vec::with_capacity(HOUSEHOLDS);
    for (b, households) in sample::households_flat(7, HOUSEHOLDS) {
        let building = store
            .create_building(NewBuilding { grid_id: b.grid_code.clone(), name: b.name, address: b.address, floors: Some(b.floors) })
            .expect("building");
        for h in households {
            news.push(NewHousehold {
                building_id: building.id.clone(),
                room: h.room,
                address: h.address,
                head_name: h.head_name,
                phone: Some(h.phone),
                member_count: h.member_count,
                care_tags: h.care_tags.iter().map(|t| t.to_string()).collect(),
                notes: h.notes,
            });
        }
    }
    (store, news)
}

fn baseline_bulk(dir: &std::path::Path, rows: &[NewHousehold]) -> (f64, Option<f64>) {
    let conn = Connection::open(dir.join("baseline.sqlite")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "FULL").expect("sync");
    conn.execute_batch(
        "CREATE TABLE households (id TEXT PRIMARY KEY, version INTEGER NOT NULL, building_id TEXT NOT NULL, \
         grid_id TEXT NOT NULL, room TEXT NOT NULL, address TEXT NOT NULL, head_name TEXT NOT NULL, phone TEXT, \
         member_count INTEGER NOT NULL, care_tags TEXT NOT NULL, notes TEXT NOT NULL)",
    )
    .expect("table");
    timed(rows.len(), || {
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut stmt = tx.prepare("INSERT INTO households VALUES (?1, 0, ?2, 'G', ?3, ?4, ?5, ?6, ?7, ?8, ?9)").expect("prepare");
        for h in rows {
            stmt.execute(params![
                uuid::Uuid::now_v7().to_string(),
                h.building_id,
                h.room,
                h.address,
                h.head_name,
                h.phone,
                h.member_count,
                serde_json::to_string(&h.care_tags).expect("json"),
                h.notes
            ])
            .expect("insert");
        }
    }
    tx.commit().expect("commit");
    })
}

/// The search index alone: the same households' gram documents into an FTS5 table made like
/// the core's (contentless, ascii tokenizer, same buffer size), one transaction. The core writes
/// this and more, so this rate bounds the core's from above.
fn index_only_bulk(dir: &std::path::Path, rows: &[NewHousehold]) -> (f64, Option<f64>) {
    let conn = Connection::open(dir.join("index_only.sqlite")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "FULL").expect("sync");
    conn.execute_batch(
        "CREATE VIRTUAL TABLE household_fts USING fts5(grams, content = '', contentless_delete = 1, detail = none, tokenize = 'ascii'); \
         INSERT INTO household_fts (household_fts, rank) VALUES ('hashsize', 8388608);",
    )
    .expect("table");
    timed(rows.len(), || {
    let tx = conn.unchecked_transaction().expect("tx");
    {
        let mut stmt = tx.prepare("INSERT INTO household_fts (rowid, grams) VALUES (?1, ?2)").expect("prepare");
        for (i, h) in rows.iter().enumerate() {
            let doc = search::household_doc(&h.head_name, &h.room, &h.address, h.phone.as_deref().unwrap_or_default());
            stmt.execute(params![i as i64 + 1, doc]).expect("insert");
        }
    }
    tx.commit().expect("commit");
    })
}

fn bench_bulk(store: &Store, dir: &std::path::Path, news: Vec<NewHousehold>) {
    let (base, base_cpu) = baseline_bulk(dir, &news);
    let (index_only, index_cpu) = index_only_bulk(dir, &news);
    let n = news.len();
    let (core, core_cpu) = timed(n, || {
        store.create_households(news).expect("bulk insert");
    });
    if let (Some(b), Some(i), Some(c)) = (base_cpu, index_cpu, core_cpu) {
        println!("# bulk by CPU time: baseline {b:.0} rows/s, index alone {i:.0} rows/s ({:.3}), core {c:.0} rows/s ({:.3})", i / b, c / b);
    }
    line("core.bulk_households_baseline_rows_per_s", base, "rows/s");
    line("core.bulk_households_core_rows_per_s", core, "rows/s");
    line("core.bulk_households_index_only_rows_per_s", index_only, "rows/s (the search index alone, same rows)");
    line("core.bulk_households_index_only_ratio", index_only / base, "ratio (ceiling: the index alone ÷ baseline)");
    line("core.bulk_households_ratio", core / base, "ratio (target >= 0.3)");
}

fn bench_report(store: &Store, dir: &std::path::Path) {
    let grid = store.my_grids().expect("grids").into_iter().next().expect("a grid").id;
    let conn = Connection::open(dir.join("one_row.sqlite")).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "FULL").expect("sync");
    conn.pragma_update(None, "wal_autocheckpoint", gridline_core::db::WAL_AUTOCHECKPOINT_PAGES).expect("checkpoint");
    conn.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, category TEXT, grid_id TEXT, description TEXT, at INTEGER)")
        .expect("table");
    let mut rng = Rng::new(3);
    let households: Vec<String> = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT id FROM households ORDER BY random() LIMIT ?1")?;
            let rows = stmt.query_map([REPORTS as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("households");
    let mut base = Vec::with_capacity(REPORTS);
    let mut core = Vec::with_capacity(REPORTS);
    let mut edits = Vec::with_capacity(REPORTS);
    for i in 0..REPORTS {
        let description = sample::incident_description(&mut rng, "environment");
        // Interleave the two so both see the same machine state.
        let t = Instant::now();
        let tx = conn.unchecked_transaction().expect("tx");
        tx.execute(
            "INSERT INTO t VALUES (?1, 'environment', ?2, ?3, ?4)",
            params![uuid::Uuid::now_v7().to_string(), grid, description, i as i64],
        )
        .expect("insert");
        tx.commit().expect("commit");
        base.push(t.elapsed().as_secs_f64() * 1e6);
        let t = Instant::now();
        store
            .report_incident(NewIncident {
                category: "environment".into(),
                grid_id: grid.clone(),
                description,
                ..Default::default()
            })
            .expect("report");
        core.push(t.elapsed().as_secs_f64() * 1e6);
        // A visit note on a household: the edit a grid worker makes most.
        let t = Instant::now();
        let note = format!("第{i}次走访，家中情况稳定");
        store.update_household(&households[i % households.len()], HouseholdPatch { notes: Some(note), ..Default::default() }).expect("edit");
        edits.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (b, c, e) = (p99(base), p99(core), p99(edits));
    line("core.report_incident_baseline_p99_us", b, "us");
    line("core.report_incident_p99_us", c, "us");
    line("core.report_incident_ratio", c / b, "ratio (target <= 2)");
    line("core.edit_household_notes_p99_us", e, "us (same baseline: the bare one-row transaction)");
    line("core.edit_household_notes_ratio", e / b, "ratio");
}

fn bench_search(store: &Store) {
    let sample_rows: Vec<(String, String, String)> = store
        .read(|c| {
            let mut stmt = c.prepare("SELECT head_name, address, coalesce(phone, '') FROM households ORDER BY random() LIMIT 3000")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .expect("sample rows");
    let mut rng = Rng::new(11);
    let window = |s: &str, n: usize, rng: &mut Rng| -> String {
        let chars: Vec<char> = s.chars().filter(|c| c.is_alphanumeric()).collect();
        if chars.len() <= n {
            return chars.into_iter().collect();
        }
        let i = rng.below((chars.len() - n + 1) as u64) as usize;
        chars[i..i + n].iter().collect()
    };
    let names: Vec<String> = sample_rows
        .iter()
        .filter(|r| r.0.chars().count() == 2)
        .map(|r| r.0.clone())
        .take(QUERIES)
        .collect();
    let addresses: Vec<String> = (0..QUERIES).map(|i| window(&sample_rows[i].1, 3, &mut rng)).collect();
    let phones: Vec<String> = (0..QUERIES)
        .map(|i| {
            let digits: String = sample_rows[i].2.chars().filter(char::is_ascii_digit).collect();
            window(&digits, 4, &mut rng)
        })
        .collect();
    let mut worst: f64 = 0.0;
    let mut like_worst: f64 = 0.0;
    for (label, queries, column) in
        [("name2", &names, "head_name"), ("address3", &addresses, "address"), ("phone4", &phones, "phone")]
    {
        let mut lat = Vec::with_capacity(queries.len());
        let mut like = Vec::with_capacity(queries.len());
        let mut found = 0usize;
        for q in queries.iter() {
            let t = Instant::now();
            let hits = store.search(q, 50).expect("search");
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            found += usize::from(!hits.is_empty());
            let t = Instant::now();
            let n: i64 = store
                .read(|c| {
                    let sql = format!("SELECT count(*) FROM (SELECT 1 FROM households WHERE {column} LIKE ?1 LIMIT 50)");
                    Ok(c.prepare_cached(&sql)?.query_row([format!("%{q}%")], |r| r.get(0))?)
                })
                .expect("like");
            like.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(n >= 0);
        }
        assert_eq!(found, queries.len(), "every sampled {label} query must find its own row");
        if std::env::var("GRIDLINE_BENCH_SLOW").is_ok() {
            let mut by: Vec<(f64, &String)> = lat.iter().copied().zip(queries.iter()).collect();
            by.sort_by(|a, b| b.0.total_cmp(&a.0));
            println!("# slowest {label}: {:?}", &by[..5]);
        }
        let (p, lp) = (p99(lat), p99(like));
        line(&format!("core.search_{label}_like_scan_p99_ms"), lp, "ms");
        line(&format!("core.search_{label}_p99_ms"), p, "ms");
        worst = worst.max(p);
        like_worst = like_worst.max(lp);
    }
    line("core.search_like_scan_p99_ms", like_worst, "ms (baseline: LIKE '%q%' LIMIT 50)");
    line("core.search_p99_ms", worst, "ms (target <= 2)");
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, news) = prepared_store(dir.path());
    println!("# gridline core benchmarks: {} households, release build, file store (WAL, synchronous=FULL)", news.len());
    // GRIDLINE_BENCH=bulk,report,search selects phases (for profiling); default: all.
    let only = std::env::var("GRIDLINE_BENCH").unwrap_or_default();
    let run = |phase: &str| only.is_empty() || only.split(',').any(|p| p == phase);
    bench_bulk(&store, dir.path(), news);
    if run("report") {
        bench_report(&store, dir.path());
    }
    if run("search") {
        bench_search(&store);
    }
}
