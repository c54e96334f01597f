//! `scripts/bench sync`: end-to-end sync throughput, bootstrap of a fresh device, server ingest
//! under 50 concurrent devices, and wire bytes per field edit — each printed beside a baseline
//! measured in the same run. Every phase runs its own in-process server (real HTTP over
//! loopback, embedded SQLite in a temp dir) and file-backed device stores.
//!
//! Output lines: `bench: <name> = <value> <unit>`; `#` lines are context.
//! `GRIDLINE_BENCH=e2e,wire,bootstrap,ingest` selects phases (default: all).
//! `GRIDLINE_BENCH_PRELOAD=<n>` caps the ingest pre-load (default 1,000,000, or what fits in 60 s).

use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use gridline_core::access::{Principal, Scope};
use gridline_core::protocol::{Op, OpKind, OpStatus, PullRequest, PullResponse, PushRequest, PushResponse, PROTOCOL_VERSION};
use gridline_core::sample::{self, HouseholdSeed};
use gridline_core::sync::{zstd_body, CancelToken, HttpTransport, SyncOptions, Transport, TransportError};
use gridline_core::{outbox, EntityKind, HouseholdPatch, NewBuilding, NewHousehold, Role, Store};
use gridline_server::service::Origin;
use gridline_server::{spawn_test_server, Service, TestServer, UserSpec};
use serde_json::{json, Value};

const E2E_OPS: usize = 10_000;
const BOOTSTRAP_HOUSEHOLDS: usize = 100_000;
const DEVICES: usize = 50;
const OPS_PER_DEVICE: usize = 1_000;
const WIRE_EDITS: usize = 500;
const USER: &str = "bench";
const PASSWORD: &str = "Bench#2024";

fn line(name: &str, value: f64, unit: &str) {
    println!("bench: {name} = {value:.3} {unit}");
}

/// CPU seconds (user + system, 10 ms ticks) the whole process (device, server and client
/// threads) has used so far, and its minor page faults (Linux `/proc`); None elsewhere. Printed
/// beside wall-clock figures on a shared machine.
fn cpu_s() -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let cpu = (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0;
    Some((cpu, f.get(7)?.parse().ok()?))
}

fn cpu_since(start: Option<(f64, u64)>) -> String {
    start
        .zip(cpu_s())
        .map(|((c0, f0), (c1, f1))| format!("{:.2} CPU s, {} page faults", c1 - c0, f1.saturating_sub(f0)))
        .unwrap_or_else(|| "CPU time unknown".into())
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn server_principal() -> Principal {
    Principal { user_id: "server".into(), role: Role::Admin, scope: Scope::default() }
}

fn op(service: &Service, entity: EntityKind, id: &str, kind: OpKind, fields: Value, seq: i64) -> Op {
    let Value::Object(fields) = fields else { panic!("fields must be an object") };
    Op {
        op_id: new_id(),
        device_seq: seq,
        entity,
        entity_id: id.to_owned(),
        kind,
        fields,
        base_version: 0,
        device_time: service.now_ms(),
    }
}

/// Writes ops as the server itself (seeding; not timed), in the largest batches allowed.
fn server_push(service: &Service, ops: Vec<Op>) {
    for chunk in ops.chunks(service.config().max_ops_per_batch) {
        let req = PushRequest { protocol: PROTOCOL_VERSION, ops: chunk.to_vec(), sent_at: service.now_ms(), scope_epoch: None };
        let resp = service.push(&server_principal(), Origin::Server, &req).expect("server push");
        let rejected = resp.results.iter().filter(|r| r.status == OpStatus::Rejected).count();
        assert_eq!(rejected, 0, "seeding ops rejected: {:?}", resp.results.iter().find(|r| r.status == OpStatus::Rejected));
    }
}

/// A server with the sample area tree and one admin user; returns it and a grid code.
fn server(dir: &Path) -> (TestServer, String) {
    let server = spawn_test_server(&dir.join("server")).expect("server");
    let service = &server.state().service;
    let areas = sample::demo_areas(2, 2);
    let ops = areas
        .iter()
        .enumerate()
        .map(|(i, a)| {
            op(service, EntityKind::Area, &a.code, OpKind::Create,
                json!({"parent_id": a.parent_code, "kind": a.kind, "code": a.code, "name": a.name}), i as i64)
        })
        .collect();
    server_push(service, ops);
    server
        .add_user(&UserSpec {
            username: USER.into(),
            password: PASSWORD.into(),
            role: Role::Admin,
            scope: Scope::default(),
            display_name: "压测管理员".into(),
        })
        .expect("user");
    let grid = areas.iter().find(|a| a.kind == "grid").expect("a grid").code.clone();
    (server, grid)
}

/// A device: its own file store, enrolled with its own token (untimed).
fn device(server: &TestServer, dir: &Path, name: &str) -> (Store, HttpTransport) {
    let store = Store::open(dir.join(format!("{name}.sqlite"))).expect("store");
    let enroller = HttpTransport::new(&server.url()).expect("transport");
    let token = store.enroll(&enroller, USER, PASSWORD, name).expect("enroll");
    (store, HttpTransport::new(&server.url()).expect("transport").with_token(&token))
}

fn sync(store: &Store, t: &dyn Transport, opts: &SyncOptions) -> gridline_core::sync::SyncReport {
    store.sync(t, opts, &|_| {}, &CancelToken::new()).expect("sync")
}

/// One timed round: `a` pushes its whole outbox, then `b` pulls until caught up. Checks that
/// every pending op was acknowledged; returns both reports with the push and total seconds.
fn push_then_pull(
    a: &Store,
    ta: &dyn Transport,
    b: &Store,
    tb: &dyn Transport,
    opts: &SyncOptions,
) -> (gridline_core::sync::SyncReport, f64, gridline_core::sync::SyncReport, f64) {
    let (start, cpu) = (Instant::now(), cpu_s());
    let pushed = sync(a, ta, opts);
    let push_s = start.elapsed().as_secs_f64();
    let pulled = sync(b, tb, opts);
    let total = start.elapsed().as_secs_f64();
    println!("# e2e round: {total:.2} s wall, {}", cpu_since(cpu));
    assert_eq!(pushed.pushed as usize, E2E_OPS);
    (pushed, push_s, pulled, total)
}

fn count_households(store: &Store) -> i64 {
    store.read(|c| Ok(c.query_row("SELECT count(*) FROM households", [], |r| r.get(0))?)).expect("count")
}

fn new_households(building_id: &str, seeds: &[HouseholdSeed]) -> Vec<NewHousehold> {
    seeds
        .iter()
        .map(|h| NewHousehold {
            building_id: building_id.to_owned(),
            room: h.room.clone(),
            address: h.address.clone(),
            head_name: h.head_name.clone(),
            phone: Some(h.phone.clone()),
            member_count: h.member_count,
            care_tags: h.care_tags.iter().map(|t| t.to_string()).collect(),
            notes: h.notes.clone(),
        })
        .collect()
}

/// `n` household seeds (cycled from the flat sample; rooms repeat across copies, which the
/// server does not mind).
fn household_seeds(n: usize) -> Vec<HouseholdSeed> {
    sample::households_flat(7, n).into_iter().flat_map(|(_, hs)| hs).take(n).collect()
}

fn compress(json: &[u8]) -> usize {
    zstd_body::compress(json).expect("zstd").len()
}

/// Baseline: the same ops serialized, zstd-compressed, decompressed and parsed, no server.
fn codec_ops_per_s(ops: &[Op]) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    for chunk in ops.chunks(SyncOptions::default().batch_ops) {
        let req = PushRequest { protocol: PROTOCOL_VERSION, ops: chunk.to_vec(), sent_at: 0, scope_epoch: None };
        let json = serde_json::to_vec(&req).expect("json");
        let z = zstd_body::compress(&json).expect("zstd");
        let back = zstd_body::decompress(&z, 64 << 20).expect("unzstd");
        let parsed: PushRequest = serde_json::from_slice(&back).expect("parse");
        n += parsed.ops.len();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn bench_e2e(dir: &Path) {
    let (server, grid) = server(dir);
    let opts = SyncOptions::default();
    let (a, ta) = device(&server, dir, "device-a");
    let (b, tb) = device(&server, dir, "device-b");
    sync(&a, &ta, &opts);
    sync(&b, &tb, &opts);
    let building = a
        .create_building(NewBuilding { grid_id: grid, name: "压测楼".into(), address: "江海区测试路1号".into(), floors: Some(30) })
        .expect("building");
    sync(&a, &ta, &opts);
    sync(&b, &tb, &opts);

    // Creates: 10,000 households made offline on A (one local batch, untimed).
    let seeds = household_seeds(E2E_OPS);
    let ids = a.create_households(new_households(&building.id, &seeds)).expect("create");
    let pending = a.read(outbox::pending).expect("outbox");
    assert_eq!(pending.len(), E2E_OPS);
    let base = codec_ops_per_s(&pending);
    let (pushed, push_s, pulled, total) = push_then_pull(&a, &ta, &b, &tb, &opts);
    assert_eq!(count_households(&b), E2E_OPS as i64);
    println!(
        "# e2e creates: push {push_s:.2} s ({} ops), pull {:.2} s ({} changes), default options (batch {} ops, page {})",
        pushed.pushed,
        total - push_s,
        pulled.pulled,
        opts.batch_ops,
        opts.page_size
    );
    line("sync.e2e_codec_baseline_ops_per_s", base, "ops/s (baseline: same ops JSON+zstd encoded and decoded, no server)");
    line("sync.e2e_ops_per_s", E2E_OPS as f64 / total, "ops/s (10,000 household creates: A pushes, B pulls, loopback HTTP; target >= 20,000)");

    // Field edits: one single-field edit on each of the 10,000 households, offline on A.
    for (i, id) in ids.iter().enumerate() {
        a.update_household(id, HouseholdPatch { notes: Some(format!("走访记录{i}")), ..Default::default() }).expect("edit");
    }
    let (_, push_s, pulled, total) = push_then_pull(&a, &ta, &b, &tb, &opts);
    println!("# e2e edits: push {push_s:.2} s, pull {:.2} s ({} changes)", total - push_s, pulled.pulled);
    line("sync.e2e_edit_ops_per_s", E2E_OPS as f64 / total, "ops/s (10,000 single-field household edits, same path)");
}

/// Counts what a push would put on the wire: request and response JSON, compressed as the HTTP
/// transport and the server send them (headers not counted).
struct Counting<'a> {
    inner: &'a HttpTransport,
    ops: std::sync::Mutex<(usize, usize, usize)>, // ops, compressed bytes, raw JSON bytes
}

impl Transport for Counting<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let resp = self.inner.push(req)?;
        let rq = serde_json::to_vec(req).expect("json");
        let rs = serde_json::to_vec(&resp).expect("json");
        let mut c = self.ops.lock().expect("lock");
        c.0 += req.ops.len();
        c.1 += compress(&rq) + compress(&rs);
        c.2 += rq.len() + rs.len();
        Ok(resp)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.inner.pull(req)
    }
}

fn bench_wire(dir: &Path) {
    let (server, grid) = server(dir);
    let opts = SyncOptions::default();
    let (a, ta) = device(&server, dir, "wire-a");
    sync(&a, &ta, &opts);
    let building = a
        .create_building(NewBuilding { grid_id: grid, name: "翠苑小区3栋".into(), address: "江海区建设路18号翠苑小区3栋".into(), floors: Some(18) })
        .expect("building");
    let seeds = household_seeds(WIRE_EDITS);
    let ids = a.create_households(new_households(&building.id, &seeds)).expect("create");
    sync(&a, &ta, &opts);
    // 500 single-field edits of mixed fields, as a morning's visits would make.
    for (i, id) in ids.iter().enumerate() {
        let patch = match i % 3 {
            0 => HouseholdPatch { phone: Some(format!("1380750{:04}", i)), ..Default::default() },
            1 => HouseholdPatch { member_count: Some(seeds[i].member_count % 6 + 1), ..Default::default() },
            _ => HouseholdPatch { notes: Some("已走访，家中老人身体良好".into()), ..Default::default() },
        };
        a.update_household(id, patch).expect("edit");
    }
    let edits = a.pending_ops().expect("pending") as usize;
    println!("# wire: {edits} of {WIRE_EDITS} edits produced ops (an edit to the current value makes none)");
    let counting = Counting { inner: &ta, ops: std::sync::Mutex::new((0, 0, 0)) };
    sync(&a, &counting, &opts);
    let (n, z, raw) = *counting.ops.lock().expect("lock");
    assert_eq!(n, edits);
    line("sync.wire_raw_json_bytes_per_op", raw as f64 / n as f64, "bytes/op (baseline: uncompressed JSON, request + response)");
    line(
        "sync.wire_bytes_per_op",
        z as f64 / n as f64,
        "bytes/op (500 single-field edits in one batch, request + response bodies, zstd; target <= 100)",
    );
}

/// Baseline: the same number of rows into a bare SQLite table (WAL, synchronous=FULL), one transaction.
fn bare_sqlite_rows_per_s(dir: &Path, seeds: &[HouseholdSeed], batch: usize) -> f64 {
    let conn = rusqlite::Connection::open(dir.join(format!("bare-{batch}.sqlite"))).expect("open");
    conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
    conn.pragma_update(None, "synchronous", "FULL").expect("sync");
    conn.execute_batch(
        "CREATE TABLE households (id TEXT PRIMARY KEY, room TEXT, address TEXT, head_name TEXT, phone TEXT, \
         member_count INTEGER, care_tags TEXT, notes TEXT)",
    )
    .expect("table");
    let start = Instant::now();
    for chunk in seeds.chunks(batch) {
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut stmt = tx.prepare_cached("INSERT INTO households VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)").expect("prepare");
            for h in chunk {
                stmt.execute(rusqlite::params![
                    new_id(),
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
    }
    seeds.len() as f64 / start.elapsed().as_secs_f64()
}

fn household_op(service: &Service, bid: &str, grid: &str, h: &HouseholdSeed, seq: i64) -> Op {
    op(service, EntityKind::Household, &new_id(), OpKind::Create, json!({"building_id": bid, "grid_id": grid,
        "room": h.room, "address": h.address, "head_name": h.head_name, "phone": h.phone,
        "member_count": h.member_count, "care_tags": h.care_tags, "notes": h.notes}), seq)
}

fn bench_bootstrap(dir: &Path) {
    let (server, _) = server(dir);
    let service = &server.state().service;
    let flat = sample::households_flat(7, BOOTSTRAP_HOUSEHOLDS);
    let start = Instant::now();
    let mut ops = Vec::new();
    let mut probe = None;
    for (b, hs) in &flat {
        let bid = new_id();
        ops.push(op(service, EntityKind::Building, &bid, OpKind::Create, json!({"grid_id": b.grid_code, "name": b.name,
            "address": b.address, "floors": b.floors, "head_user_id": null}), ops.len() as i64));
        for h in hs {
            ops.push(household_op(service, &bid, &b.grid_code, h, ops.len() as i64));
        }
        if probe.is_none() && hs.len() > 3 {
            probe = Some(hs[3].phone.clone());
        }
        if ops.len() >= 20_000 {
            server_push(service, std::mem::take(&mut ops));
        }
    }
    server_push(service, ops);
    let households: usize = flat.iter().map(|(_, hs)| hs.len()).sum();
    println!("# bootstrap: seeded {households} households in {} buildings server-side in {:.1} s (untimed)", flat.len(), start.elapsed().as_secs_f64());
    let seeds: Vec<HouseholdSeed> = flat.into_iter().flat_map(|(_, hs)| hs).collect();
    let base = households as f64 / bare_sqlite_rows_per_s(dir, &seeds, seeds.len());

    let (c, tc) = device(&server, dir, "fresh-device");
    let probe = probe.expect("a probe phone");
    let query: String = probe.chars().filter(char::is_ascii_digit).skip(3).take(4).collect();
    let (start, cpu) = (Instant::now(), cpu_s());
    let report = sync(&c, &tc, &SyncOptions::default());
    let pulled_s = start.elapsed().as_secs_f64();
    let hits = c.search(&query, 20).expect("search");
    let total = start.elapsed().as_secs_f64();
    println!("# bootstrap: {total:.2} s wall, {}", cpu_since(cpu));
    assert!(!hits.is_empty(), "search for {query} found nothing");
    assert_eq!(count_households(&c), households as i64);
    println!(
        "# bootstrap: pulled {} changes in {pulled_s:.2} s, search '{query}' {} hits in {:.1} ms (enrollment untimed)",
        report.pulled,
        hits.len(),
        (total - pulled_s) * 1e3
    );
    line("sync.bootstrap_bare_sqlite_insert_s", base, "s (baseline: 100,000 rows into a bare SQLite table, one transaction)");
    line("sync.bootstrap_100k_households_s", total, "s (fresh device: pull 100,000 households + one search; target <= 2)");
}

fn bench_ingest(dir: &Path) {
    let (server, grid) = server(dir);
    let service = server.state().service.clone();
    let opts = SyncOptions::default();
    // Devices first (each pulls only the area tree), then the pre-load, then their offline work.
    let devices: Vec<(Store, HttpTransport)> =
        (0..DEVICES).map(|i| device(&server, dir, &format!("ingest-{i:02}"))).collect();
    for (s, t) in &devices {
        sync(s, t, &opts);
    }
    let bid = new_id();
    server_push(&service, vec![op(&service, EntityKind::Building, &bid, OpKind::Create,
        json!({"grid_id": grid, "name": "预载楼", "address": "预载路1号", "floors": 30, "head_user_id": null}), 0)]);
    let pool = household_seeds(20_000);
    let cap: usize = std::env::var("GRIDLINE_BENCH_PRELOAD").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let budget = Duration::from_secs(60);
    let start = Instant::now();
    let mut preloaded = 0usize;
    while preloaded < cap && start.elapsed() < budget {
        let n = 5_000.min(cap - preloaded);
        let ops = (0..n).map(|i| household_op(&service, &bid, &grid, &pool[(preloaded + i) % pool.len()], i as i64)).collect();
        server_push(&service, ops);
        preloaded += n;
    }
    let preload_s = start.elapsed().as_secs_f64();
    let held = service.storage().max_seq().expect("seq");
    println!("# ingest: pre-loaded {preloaded} changes server-side in {preload_s:.1} s ({:.0} /s); server holds {held} changes", preloaded as f64 / preload_s);

    for (i, (s, _)) in devices.iter().enumerate() {
        let b = s
            .create_building(NewBuilding { grid_id: grid.clone(), name: format!("设备{i}楼"), address: format!("测试路{i}号"), floors: Some(20) })
            .expect("building");
        let seeds = &pool[i * (OPS_PER_DEVICE - 1) % (pool.len() - OPS_PER_DEVICE)..][..OPS_PER_DEVICE - 1];
        s.create_households(new_households(&b.id, seeds)).expect("create");
    }
    let ops_total: u64 = devices.iter().map(|(s, _)| s.pending_ops().expect("pending")).sum();
    let rows: Vec<HouseholdSeed> = pool.iter().cycle().take(ops_total as usize).cloned().collect();
    let base = bare_sqlite_rows_per_s(dir, &rows, opts.batch_ops);

    let barrier = Arc::new(Barrier::new(DEVICES + 1));
    let batch = opts.batch_ops;
    let bytes = opts.batch_bytes;
    let handles: Vec<_> = devices
        .into_iter()
        .map(|(s, t)| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                // The push half of Store::sync: outbox batches until empty (the pull half would
                // fetch the pre-load, which is not what this figure measures).
                let mut acked = 0;
                loop {
                    let ops = s.read(|c| outbox::next_batch(c, batch, bytes)).expect("batch");
                    if ops.is_empty() {
                        break;
                    }
                    let req = PushRequest { protocol: PROTOCOL_VERSION, ops, sent_at: s.now_ms(), scope_epoch: None };
                    let resp = t.push(&req).expect("push");
                    let rec = s.write_bulk(|tx| outbox::record_results_of(tx, &req.ops, &resp.results, s.now_ms())).expect("record");
                    assert_eq!(rec.rejected, 0);
                    acked += rec.acknowledged;
                }
                acked
            })
        })
        .collect();
    barrier.wait();
    let (start, cpu) = (Instant::now(), cpu_s());
    let acked: usize = handles.into_iter().map(|h| h.join().expect("device thread")).sum();
    let secs = start.elapsed().as_secs_f64();
    println!("# ingest: {secs:.2} s wall, {} (devices and server together)", cpu_since(cpu));
    assert_eq!(acked as u64, ops_total);
    println!("# ingest: {DEVICES} devices pushed {acked} ops in {secs:.2} s (batches of {batch})");
    let db = rusqlite::Connection::open(dir.join("server").join(gridline_server::storage::sqlite::DB_FILE)).expect("server db");
    let bytes: i64 = db
        .query_row("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", [], |r| r.get(0))
        .expect("db size");
    let held = service.storage().max_seq().expect("seq");
    println!("# ingest: server database {:.0} MiB, {:.0} bytes per change held", bytes as f64 / (1 << 20) as f64, bytes as f64 / held as f64);
    line("sync.ingest_bare_sqlite_rows_per_s", base, &format!("rows/s (baseline: same count, one thread, bare SQLite, {batch}-row transactions)"));
    let unit = if preloaded >= 1_000_000 {
        "ops/s (50 devices over HTTP, server holding 1,000,000 changes; target >= 30,000)".to_owned()
    } else {
        format!("ops/s (50 devices over HTTP, server pre-loaded with {preloaded} changes, target is for 1,000,000; target >= 30,000)")
    };
    line("sync.server_ingest_ops_per_s", acked as f64 / secs, &unit);
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    println!("# gridline sync benchmarks: in-process server on loopback HTTP, embedded SQLite, file device stores, release build");
    let only = std::env::var("GRIDLINE_BENCH").unwrap_or_default();
    let run = |phase: &str| only.is_empty() || only.split(',').any(|p| p == phase);
    type Phase = (&'static str, fn(&Path));
    let phases: [Phase; 4] = [("e2e", bench_e2e), ("wire", bench_wire), ("bootstrap", bench_bootstrap), ("ingest", bench_ingest)];
    for (name, f) in phases {
        if run(name) {
            let sub = dir.path().join(name);
            std::fs::create_dir_all(&sub).expect("dir");
            let t = Instant::now();
            f(&sub);
            println!("# phase {name}: {:.1} s", t.elapsed().as_secs_f64());
        }
    }
}
