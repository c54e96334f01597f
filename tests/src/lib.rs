//! End-to-end test support for Gridline: a real sync server on an ephemeral loopback port,
//! seeded with a small city, users of every role, and devices (each its own temp database)
//! enrolled over HTTP; plus transports that inject faults.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use gridline_core::access::{Principal, Scope};
use gridline_core::areas::DEFAULT_CATEGORIES;
use gridline_core::protocol::{Op, OpKind, OpStatus, PullRequest, PullResponse, PushRequest, PushResponse, PROTOCOL_VERSION};
use gridline_core::record::{self, Fields, Row};
use gridline_core::sync::{CancelToken, HttpTransport, SyncOptions, SyncReport, Transport, TransportError};
use gridline_core::{EntityKind, NewHousehold, Role, Store};
use gridline_server::{spawn_test_server_on, Config, TestServer, UserSpec};

pub use gridline_server;

pub mod sim;

/// Every synced kind, for canonical dumps.
pub const KINDS: &[EntityKind] = &EntityKind::ALL;

pub const PASSWORD: &str = "pw-e2e-2024";

/// Ids of the seeded city.
///
/// city → district → street → community C1 (grids G1, G2) and community C2 (grid G3).
/// G1 holds buildings B1A and B1B, G2 holds B2, G3 holds B3; each building has 3 households.
pub struct City {
    pub server: Option<TestServer>,
    pub dir: tempfile::TempDir,
    pub addr: std::net::SocketAddr,
    /// Households by building id.
    pub households: BTreeMap<String, Vec<String>>,
    /// Building ids by name (B1A, B1B, B2, B3).
    pub buildings: BTreeMap<&'static str, String>,
}

pub const G1: &str = "g1";
pub const G2: &str = "g2";
pub const G3: &str = "g3";
pub const C1: &str = "c1";
pub const DEPT: &str = "urban_mgmt";

/// Users: (username, role, scope).
fn users(b: &BTreeMap<&'static str, String>) -> Vec<(&'static str, Role, Scope)> {
    let area = |a: &str| Scope { area_ids: vec![a.into()], ..Scope::default() };
    vec![
        ("gw1", Role::GridWorker, area(G1)),
        ("gw2", Role::GridWorker, area(G2)),
        ("bh1", Role::BuildingHead, Scope { building_ids: vec![b["B1A"].clone()], ..Scope::default() }),
        ("sup", Role::Supervisor, area(C1)),
        ("dh", Role::DepartmentHandler, Scope { department_ids: vec![DEPT.into()], ..Scope::default() }),
        ("admin", Role::Admin, Scope::default()),
    ]
}

fn fields(v: Value) -> Fields {
    match v {
        Value::Object(m) => m,
        _ => Fields::new(),
    }
}

fn op(n: usize, entity: EntityKind, id: &str, f: Value, now: i64) -> Op {
    Op {
        op_id: uuid_v7(),
        device_seq: n as i64,
        entity,
        entity_id: id.to_owned(),
        kind: OpKind::Create,
        fields: fields(f),
        base_version: 0,
        device_time: now,
    }
}

/// A time-ordered unique id (UUIDv7-like text) without pulling in the uuid crate.
pub fn uuid_v7() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let n = N.fetch_add(1, Ordering::Relaxed) as u64;
    let pid = std::process::id() as u64;
    format!("{:08x}-{:04x}-7{:03x}-8{:03x}-{:012x}", ms >> 16, ms & 0xffff, pid & 0xfff, (n >> 48) & 0xfff, n & 0xffff_ffff_ffff)
}

/// Starts a server on a fresh temp dir with the seeded city and users.
pub fn start_city() -> City {
    start_city_with(Config::for_tests())
}

/// Same, with a server config (e.g. a short token lifetime).
pub fn start_city_with(config: Config) -> City {
    start_city_in(tempfile::tempdir().expect("temp dir"), config)
}

/// Same, with the server's data in a given (empty) directory.
pub fn start_city_in(dir: tempfile::TempDir, config: Config) -> City {
    let server = spawn_test_server_on(dir.path(), "127.0.0.1:0".parse().expect("addr"), config).expect("server starts");
    let service = server.state().service.clone();
    let now = service.now_ms();
    let mut ops = Vec::new();
    let mut add = |e: EntityKind, id: &str, f: Value| {
        let n = ops.len();
        ops.push(op(n, e, id, f, now));
    };
    for (id, parent, kind, name) in [
        ("city", None, "city", "江门市"),
        ("dist", Some("city"), "district", "蓬江区"),
        ("street", Some("dist"), "street", "白沙街道"),
        (C1, Some("street"), "community", "紫茶社区"),
        ("c2", Some("street"), "community", "水南社区"),
        (G1, Some(C1), "grid", "紫茶第一网格"),
        (G2, Some(C1), "grid", "紫茶第二网格"),
        (G3, Some("c2"), "grid", "水南第一网格"),
    ] {
        add(EntityKind::Area, id, json!({"parent_id": parent, "kind": kind, "code": id, "name": name}));
    }
    for (code, name) in [(DEPT, "城市管理和综合执法局"), ("housing", "住房和城乡建设局")] {
        add(EntityKind::Department, code, json!({"code": code, "name": name}));
    }
    for (code, name, resp, res) in DEFAULT_CATEGORIES {
        add(EntityKind::Category, code, json!({"name": name, "response_hours": resp, "resolve_days": res}));
    }
    let mut buildings = BTreeMap::new();
    let mut households: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let heads = ["王建国", "李秀英", "张伟", "刘芳", "陈明", "杨丽", "赵磊", "黄敏", "周杰", "吴静", "徐强", "孙燕"];
    let mut k = 0;
    for (name, grid, label) in [("B1A", G1, "紫茶小区1栋"), ("B1B", G1, "紫茶小区2栋"), ("B2", G2, "紫茶花园3栋"), ("B3", G3, "水南新村5栋")] {
        let bid = uuid_v7();
        add(EntityKind::Building, &bid, json!({"grid_id": grid, "name": label, "address": format!("江门市蓬江区{label}"),
            "floors": 6, "head_user_id": null}));
        for room in ["101", "201", "302"] {
            let hid = uuid_v7();
            add(EntityKind::Household, &hid, json!({"building_id": bid, "grid_id": grid, "room": room,
                "address": format!("江门市蓬江区{label}{room}室"), "head_name": heads[k % heads.len()],
                "phone": format!("1380000{:04}", k), "member_count": 3, "care_tags": [], "notes": ""}));
            k += 1;
            households.entry(bid.clone()).or_default().push(hid);
        }
        buildings.insert(name, bid);
    }
    let admin = Principal { user_id: "server".into(), role: Role::Admin, scope: Scope::default() };
    let resp = service
        .push(&admin, gridline_server::service::Origin::Server, &PushRequest { protocol: PROTOCOL_VERSION, ops, sent_at: now, scope_epoch: None })
        .expect("seed push");
    let bad: Vec<_> = resp.results.iter().filter(|r| r.status == OpStatus::Rejected).collect();
    assert!(bad.is_empty(), "seed rejected: {bad:?}");
    for (name, role, scope) in users(&buildings) {
        server
            .add_user(&UserSpec { username: name.into(), password: PASSWORD.into(), role, scope, display_name: name.into() })
            .expect("add user");
    }
    let addr = server.addr();
    City { server: Some(server), dir, addr, households, buildings }
}

impl City {
    pub fn server(&self) -> &TestServer {
        self.server.as_ref().expect("server running")
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn b(&self, name: &str) -> String {
        self.buildings[name].clone()
    }
    /// A new device enrolled for `user`, not yet synced.
    pub fn device(&self, user: &str) -> Device {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(dir.path().join("device.db")).expect("open store");
        let enroller = HttpTransport::new(&self.url()).expect("transport");
        let token = store.enroll(&enroller, user, PASSWORD, &format!("{user}-phone")).expect("enroll");
        let transport = HttpTransport::new(&self.url()).expect("transport").with_token(&token);
        Device { store, transport, token, user: user.to_owned(), _dir: dir }
    }
    /// A new device for `user` that has pulled everything: the oracle of what the server holds
    /// for that user's scope.
    pub fn fresh_dump(&self, user: &str) -> Dump {
        let d = self.device(user);
        d.sync().expect("fresh device sync");
        d.dump()
    }
    /// Stops the server abruptly (as a crash would).
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
    /// Starts the server again on the same data dir and address.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "stop first");
        let mut last = None;
        for _ in 0..50 {
            match spawn_test_server_on(self.dir.path(), self.addr, Config::for_tests()) {
                Ok(s) => {
                    self.server = Some(s);
                    return;
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        panic!("restart failed: {last:?}");
    }
    pub fn fingerprint(&self) -> String {
        self.server().state().service.storage().fingerprint().expect("fingerprint")
    }
    pub fn max_seq(&self) -> i64 {
        self.server().state().service.storage().max_seq().expect("max_seq")
    }
}

/// Canonical dump: every synced kind's rows, by id.
pub type Dump = BTreeMap<EntityKind, Vec<Row>>;

/// One device: its own store in a temp dir, with a transport carrying its token.
pub struct Device {
    pub store: Store,
    pub transport: HttpTransport,
    pub token: String,
    pub user: String,
    _dir: tempfile::TempDir,
}

/// Fast retries so fault tests stay quick.
pub fn opts() -> SyncOptions {
    SyncOptions {
        max_attempts: 3,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..SyncOptions::default()
    }
}

impl Device {
    pub fn sync(&self) -> gridline_core::Result<SyncReport> {
        self.sync_via(&self.transport, &opts())
    }
    pub fn sync_via(&self, t: &dyn Transport, o: &SyncOptions) -> gridline_core::Result<SyncReport> {
        self.store.sync(t, o, &|_| {}, &CancelToken::new())
    }
    pub fn dump(&self) -> Dump {
        self.store
            .read(|c| {
                let mut out = Dump::new();
                for &k in KINDS {
                    let mut rows = record::dump(c, k)?;
                    rows.sort_by(|a, b| a.id.cmp(&b.id));
                    out.insert(k, rows);
                }
                Ok(out)
            })
            .expect("dump")
    }
    pub fn rows(&self, k: EntityKind) -> Vec<Row> {
        self.dump().remove(&k).unwrap_or_default()
    }
    /// The store's schema (`db::schema_dump`; a first pull drops some of the register's indexes
    /// and makes them again at its end).
    pub fn schema(&self) -> Vec<(String, String, String)> {
        self.store.read(gridline_core::db::schema_dump).expect("schema")
    }
    pub fn pending(&self) -> u64 {
        self.store.pending_ops().expect("pending")
    }
    pub fn device_id(&self) -> String {
        self.store.sync_status().expect("status").device_id.expect("device id")
    }
}

/// The field of a row as a string (for assertions).
pub fn field<'a>(row: &'a Row, name: &str) -> &'a Value {
    row.fields.get(name).unwrap_or(&Value::Null)
}

/// Finds a row by id.
pub fn find<'a>(rows: &'a [Row], id: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.id == id)
}

/// Asserts two dumps are equal kind by kind, with a readable first difference.
pub fn assert_dumps_eq(who: &str, got: &Dump, want: &Dump) {
    for &k in KINDS {
        let g = &got[&k];
        let w = &want[&k];
        if g != w {
            let gi: Vec<_> = g.iter().map(|r| &r.id).collect();
            let wi: Vec<_> = w.iter().map(|r| &r.id).collect();
            let diff = g.iter().zip(w.iter()).find(|(a, b)| a != b);
            panic!(
                "{who}: {k:?} differs: {} rows on device vs {} expected\nids device={gi:?}\nids expected={wi:?}\nfirst diff: {diff:#?}",
                g.len(),
                w.len()
            );
        }
    }
}

/// Sends every push twice and answers with the second response (all duplicates).
pub struct DoublePush<'a>(pub &'a dyn Transport);

impl Transport for DoublePush<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let first = self.0.push(req)?;
        let second = self.0.push(req)?;
        assert_eq!(first.results.len(), second.results.len());
        for (a, b) in first.results.iter().zip(&second.results) {
            assert_eq!(a.op_id, b.op_id);
            if a.status != OpStatus::Rejected {
                assert_eq!(b.status, OpStatus::Duplicate, "a resent op is a duplicate: {b:?}");
                assert_eq!(a.version, b.version, "the stored result again");
            }
        }
        Ok(second)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.0.pull(req)
    }
}

/// Forwards every push to the server; the answers of the 1st, 3rd, 5th … push (`lose` of
/// them) are "lost" (a network error after the server applied the batch), so every batch is
/// answered only on its retry.
pub struct LoseResponses<'a> {
    pub inner: &'a dyn Transport,
    pub lose: usize,
    pub lost: AtomicUsize,
}

impl Transport for LoseResponses<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let resp = self.inner.push(req)?;
        let k = self.lost.fetch_add(1, Ordering::SeqCst);
        if k.is_multiple_of(2) && k / 2 < self.lose {
            return Err(TransportError::Network("connection reset (response lost)".into()));
        }
        Ok(resp)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.inner.pull(req)
    }
}

/// Runs `hook(n)` after the n-th (1-based) successful push has been forwarded.
pub struct AfterPush<'a> {
    pub inner: &'a dyn Transport,
    pub pushes: AtomicUsize,
    pub hook: Mutex<Box<dyn FnMut(usize) + Send + 'a>>,
}

impl Transport for AfterPush<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let r = self.inner.push(req);
        let n = self.pushes.fetch_add(1, Ordering::SeqCst) + 1;
        (self.hook.lock().unwrap_or_else(|p| p.into_inner()))(n);
        r
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.inner.pull(req)
    }
}

/// Runs `hook` before every pull is forwarded; an error from it is the pull's answer instead
/// (the signal lost), and it may block (a pull held while the test does something else).
pub struct BeforePull<'a> {
    pub inner: &'a dyn Transport,
    pub hook: Mutex<Box<dyn FnMut() -> Result<(), TransportError> + Send + 'a>>,
}

impl<'a> BeforePull<'a> {
    pub fn new(inner: &'a dyn Transport, hook: impl FnMut() -> Result<(), TransportError> + Send + 'a) -> Self {
        BeforePull { inner, hook: Mutex::new(Box::new(hook)) }
    }
}

impl Transport for BeforePull<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.inner.push(req)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        (self.hook.lock().unwrap_or_else(|p| p.into_inner()))()?;
        self.inner.pull(req)
    }
}

/// A tiny deterministic generator (splitmix64) for seeded orders.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// The seed of a randomised test: `GRIDLINE_E2E_SEED` or a fixed default.
pub fn seed(default: u64) -> u64 {
    std::env::var("GRIDLINE_E2E_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The schema of a store just made.
pub fn fresh_store_schema() -> Vec<(String, String, String)> {
    Store::open_in_memory().expect("store").read(gridline_core::db::schema_dump).expect("schema")
}

/// `n` new households in B1A made offline on the device; returns the op ids of its whole outbox,
/// in order.
pub fn queue_households(d: &Device, city: &City, n: usize) -> Vec<String> {
    for i in 0..n {
        d.store
            .create_household(NewHousehold { building_id: city.b("B1A"), room: format!("9{i:02}"), head_name: format!("断电测试{i}"), member_count: 2, ..Default::default() })
            .expect("create");
    }
    d.store.read(gridline_core::outbox::pending).expect("outbox").into_iter().map(|op| op.op_id).collect()
}
