//! The hostile-input corpus: requests an attacker or a broken client could send. Three classes:
//!
//! 1. **Not a valid request** (malformed, truncated or non-UTF-8 JSON, huge or deeply nested
//!    bodies, negative or overflowing numbers, bad compression, wrong content types, unknown
//!    protocol versions, missing, garbage, revoked, expired or other users' tokens): a 4xx with
//!    the JSON error body (machine code, English and Chinese message), never a 500, and not one
//!    byte of any server table changes (row counts and content digest of every table compared).
//! 2. **A valid batch of bad ops** (unknown enum values, wrong types, oversized or overflowing
//!    values, ops on other users' rows): every op is rejected with a code and a Chinese reason
//!    and no record changes; only the idempotency record of each rejection (`applied_ops`), the
//!    sync log and the device's last-seen time move.
//! 3. **SQL-injection strings that are valid text**: they are data. Written where the user may
//!    write, they are stored verbatim (read back equal) and nothing else changes: every other
//!    table keeps its digest, and no table disappears. Written where the user may not, into a
//!    field the app reads as an enum, or into one held to a format (phone, ID number, date), they
//!    are rejected like any other bad op.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use gridline_core::protocol::{OpKind, OpStatus, PROTOCOL_VERSION};
use gridline_core::record::Fields;
use gridline_core::EntityKind;
use gridline_server::storage::{NewDevice, TableDigest};
use gridline_server::wire::{encode_body, Coding};

use crate::common::*;

const INJECTIONS: &[&str] = &[
    "'; DROP TABLE households; --",
    "\" OR 1=1 --",
    "1; DELETE FROM users",
    "x') UNION SELECT password_hash FROM users --",
    "Robert'); DROP TABLE residents;--",
    "%' AND 1=0 UNION SELECT sql FROM sqlite_master --",
    "'; ATTACH DATABASE '/tmp/pwn.db' AS pwn; --",
    "名字'；DROP TABLE row_meta；--",
    "\u{0}'; PRAGMA writable_schema=1; --",
];

fn digests(w: &World) -> BTreeMap<String, TableDigest> {
    w.state.service.storage().table_digests().expect("digests")
}

/// Tables that may move when a valid request is answered (class 2): rejections are kept for
/// idempotent retries, the push is logged and the device seen.
const BOOKKEEPING: &[&str] = &["applied_ops", "sync_log", "devices"];

fn without(d: &BTreeMap<String, TableDigest>, skip: &[&str]) -> BTreeMap<String, TableDigest> {
    d.iter().filter(|(t, _)| !skip.contains(&t.as_str())).map(|(t, v)| (t.clone(), v.clone())).collect()
}

struct Req {
    path: &'static str,
    token: Option<String>,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
}

fn req(path: &'static str, token: Option<&str>, body: Vec<u8>) -> Req {
    Req { path, token: token.map(str::to_owned), headers: vec![("content-type", b"application/json".to_vec())], body }
}

impl Req {
    fn header(mut self, k: &'static str, v: &[u8]) -> Req {
        self.headers.retain(|(h, _)| *h != k);
        self.headers.push((k, v.to_vec()));
        self
    }
    fn build(&self) -> Request<Body> {
        let mut b = Request::post(self.path);
        if let Some(t) = &self.token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        for (k, v) in &self.headers {
            b = b.header(*k, axum::http::HeaderValue::from_bytes(v).expect("header value"));
        }
        b.body(Body::from(self.body.clone())).expect("request")
    }
}

/// Class 1: a 4xx with a full error body, and no table changed.
async fn refused(w: &World, name: &str, r: Req) -> Value {
    let before = digests(w);
    let (status, body) = read_json(w.send(r.build()).await).await;
    assert!(status.is_client_error(), "{name}: want 4xx, got {status}: {body}");
    assert!(body["code"].as_str().is_some_and(|c| !c.is_empty()), "{name}: machine code: {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: English message: {body}");
    let zh = body["message_zh"].as_str().unwrap_or_default();
    assert!(zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{name}: Chinese message: {body}");
    assert_eq!(body["protocol"], PROTOCOL_VERSION, "{name}");
    assert_eq!(digests(w), before, "{name}: a refused request changed a table");
    body
}

fn push_body(ops: Value) -> Vec<u8> {
    json!({"protocol": PROTOCOL_VERSION, "ops": ops, "sent_at": now_ms()}).to_string().into_bytes()
}

fn good_op() -> Value {
    serde_json::to_value(op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "正常"}), 0)).expect("op")
}

/// A token stored for `user` directly, revoked or expired as asked.
fn stored_token(w: &World, username: &str, revoked: bool, expires_at: Option<i64>) -> String {
    let storage = w.state.service.storage();
    let user = storage.user_by_name(username).expect("lookup").expect("user");
    let token = gridline_server::auth::new_token();
    let id = uuid::Uuid::now_v7().to_string();
    storage
        .add_device(&NewDevice {
            id: id.clone(),
            user_id: user.id,
            token_hash: gridline_server::auth::token_hash(&token),
            name: "hostile".into(),
            created_at: 1,
            expires_at,
        })
        .expect("device");
    if revoked {
        assert!(storage.revoke_device(&id, 2).expect("revoke"));
    }
    token
}

#[tokio::test]
async fn requests_that_are_not_valid_get_4xx_and_change_nothing() {
    let w = World::new();
    let t = w.enroll("gw").await;
    let tk = Some(t.as_str());
    let valid = push_body(json!([good_op(), good_op()]));

    // Malformed JSON, and every truncation of a valid body.
    let malformed: &[&[u8]] = &[
        b"", b"{", b"}", b"[]", b"null", b"42", b"\"str\"", b"{\"protocol\":1,", b"{\"protocol\":1,\"ops\":[,],\"sent_at\":0}",
        b"{'protocol':1}", b"{\"protocol\":1,\"ops\":[],\"sent_at\":0}}", b"{\"protocol\":1 \"ops\":[]}", b"\xef\xbb\xbf{}",
        b"{\"protocol\":1,\"ops\":[],\"sent_at\":0,\"protocol\":1}", b"{\"protocol\":1,\"ops\":[],\"sent_at\":NaN}",
        b"{\"protocol\":1,\"ops\":[],\"sent_at\":0x10}", b"{\"protocol\":1,\"ops\":[],\"sent_at\":00}",
    ];
    for (i, body) in malformed.iter().enumerate() {
        refused(&w, &format!("malformed push {i}"), req("/v1/push", tk, body.to_vec())).await;
        refused(&w, &format!("malformed pull {i}"), req("/v1/pull", tk, body.to_vec())).await;
        refused(&w, &format!("malformed enroll {i}"), req("/v1/enroll", None, body.to_vec())).await;
    }
    let step = (valid.len() / 60).max(1);
    for cut in (0..valid.len()).step_by(step) {
        refused(&w, &format!("truncated at {cut}"), req("/v1/push", tk, valid[..cut].to_vec())).await;
    }

    // Invalid UTF-8 inside strings and outside them.
    let mut bad_utf8 = valid.clone();
    let at = bad_utf8.windows(4).position(|x| x == "正常".as_bytes()[..4].as_ref()).expect("notes value");
    bad_utf8[at] = 0xff;
    refused(&w, "invalid UTF-8 in a string", req("/v1/push", tk, bad_utf8)).await;
    refused(&w, "invalid UTF-8 outside strings", req("/v1/pull", tk, b"{\"protocol\":1,\xfe\xff:0}".to_vec())).await;
    refused(&w, "lone surrogate escape", req("/v1/enroll", None, br#"{"protocol":1,"username":"\ud800","password":"x","device_name":"d"}"#.to_vec())).await;

    // Huge strings and arrays, deep nesting.
    let huge = "长".repeat(2 << 20);
    refused(&w, "huge string as protocol", req("/v1/push", tk, json!({"protocol": huge, "ops": [], "sent_at": 0}).to_string().into_bytes())).await;
    refused(&w, "huge unknown key", req("/v1/pull", tk, json!({"protocol": 1, "cursor": 0, "limit": 1, huge.clone(): 1}).to_string().into_bytes())).await;
    let max = w.state.service.config().max_ops_per_batch;
    refused(&w, "too many ops", req("/v1/push", tk, push_body(Value::Array(vec![good_op(); max + 1])))).await;
    refused(&w, "huge array of numbers", req("/v1/push", tk, push_body(Value::Array(vec![json!(1); 600_000])))).await;
    let deep = format!("{{\"protocol\":1,\"ops\":[{}{}],\"sent_at\":0}}", "[".repeat(100_000), "]".repeat(100_000));
    refused(&w, "deep nesting", req("/v1/push", tk, deep.into_bytes())).await;
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(5_000), "}".repeat(5_000));
    refused(&w, "deep objects", req("/v1/pull", tk, deep_obj.into_bytes())).await;

    // Negative and overflowing numbers in the envelopes.
    for (name, body) in [
        ("negative protocol", json!({"protocol": -1, "ops": [], "sent_at": 0})),
        ("protocol over u32", json!({"protocol": 1u64 << 40, "ops": [], "sent_at": 0})),
        ("float protocol", json!({"protocol": 1.5, "ops": [], "sent_at": 0})),
        ("sent_at over i64", json!({"protocol": 1, "ops": [], "sent_at": u64::MAX})),
    ] {
        refused(&w, name, req("/v1/push", tk, body.to_string().into_bytes())).await;
    }
    refused(&w, "sent_at 1e400", req("/v1/push", tk, br#"{"protocol":1,"ops":[],"sent_at":1e400}"#.to_vec())).await;
    for (name, body) in [
        ("negative cursor", json!({"protocol": 1, "cursor": -1, "limit": 10})),
        ("most negative cursor", json!({"protocol": 1, "cursor": i64::MIN, "limit": 10})),
        ("cursor over i64", json!({"protocol": 1, "cursor": u64::MAX, "limit": 10})),
        ("negative limit", json!({"protocol": 1, "cursor": 0, "limit": -5})),
        ("limit over u32", json!({"protocol": 1, "cursor": 0, "limit": 1u64 << 33})),
        ("epoch as text", json!({"protocol": 1, "cursor": 0, "limit": 1, "scope_epoch": "1"})),
    ] {
        refused(&w, name, req("/v1/pull", tk, body.to_string().into_bytes())).await;
    }

    // Bodies over the size limit, and bad compression.
    let limit = w.state.service.config().max_body_bytes;
    let mut over = valid.clone();
    over.resize(limit + 1, b' ');
    refused(&w, "body over the byte limit", req("/v1/push", tk, over.clone())).await;
    let body =
        refused(&w, "declared length over the limit", req("/v1/push", tk, valid.clone()).header("content-length", (limit + 1).to_string().as_bytes()))
            .await;
    assert_eq!(body["code"], "too_large", "{body}");
    let mut bomb = push_body(json!([good_op()]));
    bomb.resize(40 << 20, b' ');
    let zbomb = encode_body(&bomb, Coding::Zstd).expect("zstd");
    let gbomb = encode_body(&bomb, Coding::Gzip).expect("gzip");
    assert!(zbomb.len() < 1 << 20 && gbomb.len() < limit);
    let b = refused(&w, "zstd bomb", req("/v1/push", tk, zbomb.clone()).header("content-encoding", b"zstd")).await;
    assert_eq!(b["code"], "too_large");
    let b = refused(&w, "gzip bomb", req("/v1/push", tk, gbomb).header("content-encoding", b"gzip")).await;
    assert_eq!(b["code"], "too_large");
    let z = encode_body(&valid, Coding::Zstd).expect("zstd");
    refused(&w, "truncated zstd", req("/v1/push", tk, z[..z.len() / 2].to_vec()).header("content-encoding", b"zstd")).await;
    refused(&w, "zstd body sent as gzip", req("/v1/push", tk, z.clone()).header("content-encoding", b"gzip")).await;
    refused(&w, "plain body sent as zstd", req("/v1/push", tk, valid.clone()).header("content-encoding", b"zstd")).await;
    refused(&w, "zstd of garbage", req("/v1/push", tk, encode_body(b"\x00\xff garbage", Coding::Zstd).expect("zstd")).header("content-encoding", b"zstd")).await;
    for enc in [&b"br"[..], b"deflate", b"zstd, gzip", b"compress", b"\xff\xfe"] {
        refused(&w, "unknown content encoding", req("/v1/push", tk, valid.clone()).header("content-encoding", enc)).await;
    }

    // Wrong content types.
    for ct in [&b"text/plain"[..], b"application/xml", b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded", b"\xff"] {
        refused(&w, "wrong content type", req("/v1/push", tk, valid.clone()).header("content-type", ct)).await;
    }

    // Unknown protocol versions.
    for v in [&b"0"[..], b"2", b"999999999999", b"-1", b"one", b"", b"1.0"] {
        refused(&w, "protocol header", req("/v1/pull", tk, br#"{"protocol":1,"cursor":0,"limit":1}"#.to_vec()).header("x-gridline-protocol", v)).await;
    }
    refused(&w, "protocol 2 in the body", req("/v1/push", tk, json!({"protocol": 2, "ops": [], "sent_at": 0}).to_string().into_bytes())).await;

    // Tokens: none, garbage, revoked, expired, of a disabled user, in the wrong scheme.
    let revoked = stored_token(&w, "gw", true, None);
    let expired = stored_token(&w, "gw", false, Some(1));
    let disabled = stored_token(&w, "bh", false, None);
    assert!(w.state.service.storage().set_disabled("bh", true).expect("disable"));
    let long = "a".repeat(10_000);
    for (name, token) in [
        ("no token", None),
        ("garbage token", Some("garbage")),
        ("token with injection", Some("' OR '1'='1")),
        ("long token", Some(long.as_str())),
        ("revoked device", Some(revoked.as_str())),
        ("expired token", Some(expired.as_str())),
        ("disabled user", Some(disabled.as_str())),
        ("token's hash as token", Some(&*gridline_server::auth::token_hash(&t))),
    ] {
        for path in ["/v1/push", "/v1/pull"] {
            let body = if path == "/v1/push" { valid.clone() } else { br#"{"protocol":1,"cursor":0,"limit":10}"#.to_vec() };
            let b = refused(&w, name, req(path, token, body)).await;
            assert_eq!(b["code"], "unauthorized", "{name}");
        }
    }
    let basic = req("/v1/pull", None, br#"{"protocol":1,"cursor":0,"limit":10}"#.to_vec()).header("authorization", format!("Basic {t}").as_bytes());
    refused(&w, "basic scheme", basic).await;
    let non_ascii = req("/v1/pull", None, br#"{"protocol":1,"cursor":0,"limit":10}"#.to_vec()).header("authorization", b"Bearer \xff\xfe");
    refused(&w, "non-ASCII token", non_ascii).await;

    // Enrollment with wrong or hostile credentials.
    for (name, user, pass) in [
        ("wrong password", "gw", "nope"),
        ("unknown user", "nobody", PASSWORD),
        ("injection in username", "' OR 1=1 --", PASSWORD),
        ("injection in password", "gw", "' OR '1'='1"),
        ("disabled user", "bh", PASSWORD),
    ] {
        let body = json!({"protocol": 1, "username": user, "password": pass, "device_name": "'; DROP TABLE devices; --"});
        refused(&w, name, req("/v1/enroll", None, body.to_string().into_bytes())).await;
    }

    // The same channel does change things when the request is good, so "unchanged" means something.
    let before = digests(&w);
    let (status, _) = read_json(w.send(req("/v1/push", tk, valid).build()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(without(&digests(&w), BOOKKEEPING), without(&before, BOOKKEEPING));
}

#[tokio::test]
async fn bad_ops_in_a_valid_batch_are_each_rejected_and_change_no_record() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let bh = w.enroll("bh").await;
    let dh = w.enroll("dh").await;
    let sup = w.enroll("sup").await;
    let now = now_ms();
    // A patrol of another worker in gw's grid, an incident and a task assignment to edit.
    w.server_push(vec![
        op(EntityKind::Patrol, "P-other", OpKind::Create,
            json!({"grid_id": "G1", "worker_id": "someone-else", "started_at": now, "ended_at": null, "note": ""}), 0),
        op(EntityKind::Incident, "I1", OpKind::Create, incident("G1", Some("B1")), 0),
        op(EntityKind::Task, "T1", OpKind::Create,
            json!({"area_id": "G1", "title": "核查", "description": "", "due_at": now + 1, "issued_by": "sup", "issued_at": now}), 0),
        op(EntityKind::TaskAssignment, "TA1", OpKind::Create, json!({"task_id": "T1", "grid_id": "G1", "assignee_id": null,
            "status": "pending", "evidence_text": "", "evidence_photos": [], "submitted_at": null, "review_note": "", "reviewed_at": null}), 0),
    ]);
    let with = |v: Value, key: &str, val: Value| {
        let mut o = v;
        o[key] = val;
        o
    };
    let upd = |entity: EntityKind, id: &str, f: Value| serde_json::to_value(op(entity, id, OpKind::Update, f, 0)).expect("op");
    let evt = |kind: &str| serde_json::to_value(op(EntityKind::Incident, "I1", OpKind::Event, event(&uuid::Uuid::now_v7().to_string(), kind, "说明", None), 0)).expect("op");
    let deep_tags = (0..50).fold(json!("x"), |v, _| json!([v]));
    let cases: Vec<(&str, &str, Value)> = vec![
        // Unknown enum values.
        ("unknown entity", &gw, with(good_op(), "entity", json!("spaceship"))),
        ("unknown op kind", &gw, with(good_op(), "kind", json!("explode"))),
        ("unknown event kind", &gw, evt("explode")),
        ("unknown assignment status", &sup, upd(EntityKind::TaskAssignment, "TA1", json!({"status": "hacked"}))),
        ("care tags of the wrong shape", &gw, upd(EntityKind::Household, "H1", json!({"care_tags": [1, {"a": 2}]}))),
        ("track points of the wrong shape", &gw, serde_json::to_value(op(EntityKind::PatrolTrack, "TR-x", OpKind::Create,
            json!({"patrol_id": "P-other", "grid_id": "G1", "points": ["here"]}), 0)).expect("op")),
        // Wrong types, overflowing and negative numbers.
        ("text as number", &gw, upd(EntityKind::Household, "H1", json!({"member_count": "七"}))),
        ("number over i64", &gw, upd(EntityKind::Household, "H1", json!({"member_count": u64::MAX}))),
        ("number 1e30", &gw, upd(EntityKind::Household, "H1", json!({"member_count": 1e30}))),
        ("device_seq over i64", &gw, with(good_op(), "device_seq", json!(u64::MAX))),
        ("negative base_version", &gw, with(good_op(), "base_version", json!(-1))),
        ("negative device_seq", &gw, with(good_op(), "device_seq", json!(-7))),
        ("most negative device_time", &gw, with(with(good_op(), "device_time", json!(i64::MIN)), "entity", json!("spaceship"))),
        ("null fields", &gw, with(good_op(), "fields", Value::Null)),
        ("op is a string", &gw, json!("DROP TABLE households")),
        // Huge values and deep nesting inside an op.
        ("huge notes", &gw, upd(EntityKind::Household, "H1", json!({"notes": "长".repeat(4001)}))),
        ("huge entity id", &gw, with(good_op(), "entity_id", json!("x".repeat(10_000)))),
        ("huge op id", &gw, with(good_op(), "op_id", json!("x".repeat(10_000)))),
        ("deep care tags", &gw, upd(EntityKind::Household, "H1", json!({"care_tags": deep_tags}))),
        ("derived field", &gw, upd(EntityKind::Incident, "I1", json!({"status": "closed"}))),
        // Values the app itself never accepts (the device's own rules, applied again here).
        ("phone of the wrong shape", &gw, upd(EntityKind::Household, "H1", json!({"phone": "1380013800"}))),
        ("ID number with a wrong check digit", &gw, upd(EntityKind::Resident, "R1", json!({"id_number": "440703199001011235"}))),
        ("birth date that is no date", &gw, upd(EntityKind::Resident, "R1", json!({"birth_date": "1990-02-30"}))),
        ("birth date the ID number contradicts", &gw,
            upd(EntityKind::Resident, "R1", json!({"id_number": "440703199001011239", "birth_date": "1991-01-01"}))),
        ("unknown care tag", &gw, upd(EntityKind::Household, "H1", json!({"care_tags": ["vip"]}))),
        ("no members", &gw, upd(EntityKind::Household, "H1", json!({"member_count": 0}))),
        // Ops addressed at other users' rows.
        ("household in another grid", &gw, upd(EntityKind::Household, "H3", json!({"notes": "越权"}))),
        ("household in another building", &bh, upd(EntityKind::Household, "H2", json!({"notes": "越权"}))),
        ("personal field by a building head", &bh, upd(EntityKind::Resident, "R1", json!({"id_number": "440703199001019994"}))),
        ("register by a handler", &dh, upd(EntityKind::Household, "H1", json!({"notes": "越权"}))),
        ("another worker's patrol", &gw, upd(EntityKind::Patrol, "P-other", json!({"note": "改别人的"}))),
        ("incident event by a handler out of scope", &dh, evt("accepted")),
        ("move a household out of scope", &gw, upd(EntityKind::Household, "H1", json!({"grid_id": "G2"}))),
        ("reference data", &sup, upd(EntityKind::Area, "G1", json!({"name": "改名"}))),
    ];
    for (name, token, bad) in cases {
        let before = digests(&w);
        let (status, resp) = read_json(w.send(req("/v1/push", Some(token), push_body(json!([bad]))).build()).await).await;
        assert_eq!(status, StatusCode::OK, "{name}: {resp}");
        let r = &resp["results"][0];
        assert_eq!(r["status"], "rejected", "{name}: {resp}");
        assert!(r["code"].as_str().is_some_and(|c| !c.is_empty()), "{name}: {resp}");
        let reason = r["reason"].as_str().unwrap_or_default();
        assert!(reason.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{name}: Chinese reason: {resp}");
        assert!(
            !reason.contains("hacked") && !reason.contains("440703") && !reason.contains("1380013800"),
            "{name}: reasons do not echo values: {reason}"
        );
        let after = digests(&w);
        assert_eq!(without(&after, BOOKKEEPING), without(&before, BOOKKEEPING), "{name}: a rejected op changed a record");
        // The only new rows are the rejection's idempotency record (when it had an op id) and the log.
        let grew = |t: &str| after[t].rows - before[t].rows;
        assert!(grew("applied_ops") <= 1 && grew("sync_log") == 1, "{name}");
    }
}

/// Builds a valid create op of `kind` in grid G1 for an admin device, with `text` in every text
/// field the check below compares.
fn admin_create(kind: EntityKind, id: &str) -> Fields {
    let now = now_ms();
    fields(match kind {
        EntityKind::Building => json!({"grid_id": "G1", "name": "", "address": "", "floors": 6, "head_user_id": null}),
        EntityKind::Household => household("B1", "G1", "101", "13800138000"),
        EntityKind::Resident => json!({"household_id": "H1", "building_id": "B1", "grid_id": "G1", "name": "", "id_number": null,
            "phone": null, "birth_date": null, "relation": "", "tags": [], "notes": ""}),
        EntityKind::Incident => incident("G1", Some("B1")),
        EntityKind::Patrol => json!({"grid_id": "G1", "worker_id": "", "started_at": now, "ended_at": null, "note": ""}),
        EntityKind::PatrolTrack => json!({"patrol_id": format!("{id}-p"), "grid_id": "G1", "points": []}),
        EntityKind::Visit => json!({"household_id": "H1", "grid_id": "G1", "worker_id": "", "visited_at": now, "purpose": "",
            "notes": "", "findings": "", "incident_id": null}),
        EntityKind::Task => json!({"area_id": "G1", "title": "", "description": "", "due_at": now + 1, "issued_by": "", "issued_at": now}),
        EntityKind::TaskAssignment => json!({"task_id": "T", "grid_id": "G1", "assignee_id": null, "status": "pending",
            "evidence_text": "", "evidence_photos": [], "submitted_at": null, "review_note": "", "reviewed_at": null}),
        _ => json!({}),
    })
}

#[tokio::test]
async fn sql_injection_strings_are_data_stored_verbatim_and_touch_nothing_else() {
    let w = World::new();
    let admin = w.enroll("admin").await;
    let gw = w.enroll("gw").await;
    // Fields the server sets itself (the reporter comes from the token), the app reads as an
    // enum (an assignment's status) or holds to a format (phones, ID numbers, dates): there, an
    // injection string is not data.
    let server_set = ["reporter_id", "reporter_role"];
    let enum_like = ["status", "phone", "id_number", "birth_date"];
    let mut n = 0;
    for kind in EntityKind::ALL.into_iter().filter(|k| !k.is_reference() && *k != EntityKind::IncidentEvent) {
        let text_fields: Vec<&str> = kind
            .fields()
            .iter()
            .filter(|f| f.ty == gridline_core::entities::FieldType::Text && !f.derived && !server_set.contains(&f.name))
            .map(|f| f.name)
            .collect();
        for field in text_fields {
            let payload = INJECTIONS[n % INJECTIONS.len()];
            n += 1;
            // The id itself is a text field too.
            let id = format!("{}-{n}", &INJECTIONS[(n + 3) % INJECTIONS.len()].chars().take(40).collect::<String>());
            let mut f = admin_create(kind, &id);
            f.insert(field.into(), json!(payload));
            let before = digests(&w);
            let resp = w.push(&admin, &[op(kind, &id, OpKind::Create, Value::Object(f), 0)]).await;
            let r = &resp.results[0];
            let after = digests(&w);
            if enum_like.contains(&field) {
                assert_eq!((r.status, r.code.as_deref()), (OpStatus::Rejected, Some("invalid")), "{kind}.{field}: {r:?}");
                assert_eq!(without(&after, BOOKKEEPING), without(&before, BOOKKEEPING), "{kind}.{field}");
                continue;
            }
            if kind == EntityKind::Resident && ["household_id", "building_id", "grid_id"].contains(&field) {
                // A resident's household must exist (the string names none), and the resident
                // is in its building and grid (the string names neither).
                let code = if field == "household_id" { "not_found" } else { "invalid" };
                assert_eq!((r.status, r.code.as_deref()), (OpStatus::Rejected, Some(code)), "{kind}.{field}: {r:?}");
                assert_eq!(without(&after, BOOKKEEPING), without(&before, BOOKKEEPING), "{kind}.{field}");
                continue;
            }
            assert_eq!(r.status, OpStatus::Applied, "{kind}.{field}: {r:?}");
            // Stored verbatim, id and field.
            let stored = w.pull_all(&admin).await.into_iter().rev().find(|c| c.entity == kind && c.id == id).expect("stored row");
            assert_eq!(stored.fields[field], json!(payload), "{kind}.{field} stored verbatim");
            // Only the row's own table and the feed's bookkeeping changed; every table is there.
            assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "{kind}.{field}: tables");
            let mut allowed = vec![kind.table(), "row_meta", "seq_counter", "change_log"];
            allowed.extend(BOOKKEEPING);
            if kind == EntityKind::Incident {
                allowed.push("incident_events");
            }
            assert_eq!(without(&after, &allowed), without(&before, &allowed), "{kind}.{field}: other tables changed");
            assert_eq!(after[kind.table()].rows, before[kind.table()].rows + 1, "{kind}.{field}: one row added");
        }
    }
    assert!(n >= 25, "every text field of every writable kind was tried ({n})");

    // Updates by a grid worker in their own grid, and an incident event's note.
    for (i, payload) in INJECTIONS.iter().enumerate() {
        let base = w.version("H1");
        let before = digests(&w);
        let r = w.push(&gw, &[op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": payload, "room": payload}), base)]).await;
        assert_eq!(r.results[0].status, OpStatus::Applied, "{i}: {:?}", r.results[0]);
        let row = w.pull_all(&gw).await.into_iter().rev().find(|c| c.id == "H1").expect("H1");
        assert_eq!((row.fields["notes"].as_str(), row.fields["room"].as_str()), (Some(*payload), Some(*payload)));
        let allowed = ["households", "row_meta", "seq_counter", "field_versions", "applied_ops", "sync_log", "devices", "change_log"];
        assert_eq!(without(&digests(&w), &allowed), without(&before, &allowed), "update {i}: other tables changed");
    }
    let incident_id = "I-inj";
    w.server_push(vec![op(EntityKind::Incident, incident_id, OpKind::Create, incident("G1", Some("B1")), 0)]);
    let note = INJECTIONS[0];
    let ev_id = format!("{}-ev", INJECTIONS[4].chars().take(30).collect::<String>());
    let r = w.push(&gw, &[op(EntityKind::Incident, incident_id, OpKind::Event, event(&ev_id, "note", note, None), 0)]).await;
    assert_eq!(r.results[0].status, OpStatus::Applied, "{:?}", r.results[0]);
    let stored = w.pull_all(&gw).await.into_iter().rev().find(|c| c.entity == EntityKind::IncidentEvent && c.id == ev_id).expect("event");
    assert_eq!(stored.fields["note"], json!(note));
    // Every table is still there and readable.
    let tables = digests(&w);
    for kind in EntityKind::ALL {
        assert!(tables.contains_key(kind.table()), "{kind}");
    }
    for t in ["users", "devices", "row_meta", "applied_ops"] {
        assert!(tables[t].rows > 0, "{t} still holds its rows");
    }
}

/// A request body over the limit is answered 413 with the error body, also when it comes in
/// chunks without a declared length.
#[tokio::test]
async fn streamed_body_over_the_limit_gets_413() {
    let w = World::new();
    let t = w.enroll("gw").await;
    let limit = w.state.service.config().max_body_bytes;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..(limit / (64 << 10) + 2)).map(|_| Ok(vec![b' '; 64 << 10])).collect();
    let stream = Body::from_stream(futures_stream(chunks));
    let r = Request::post("/v1/push").header(header::AUTHORIZATION, format!("Bearer {t}")).body(stream).expect("request");
    let before = digests(&w);
    let (status, body) = read_json(w.send(r).await).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["code"], "too_large");
    assert_eq!(digests(&w), before);
}

fn futures_stream(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    struct Chunks(std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>);
    impl futures_core::Stream for Chunks {
        type Item = Result<Vec<u8>, std::io::Error>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Chunks(chunks.into_iter())
}
