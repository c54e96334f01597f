//! Bad input over real HTTP: every refusal is a 4xx with the error body, and changes nothing.

use std::time::Duration;

use serde_json::{json, Value};

use gridline_core::protocol::ErrorBody;
use gridline_e2e::gridline_server::Config;
use gridline_e2e::*;

struct Raw {
    url: String,
    client: reqwest::blocking::Client,
}

impl Raw {
    fn new(city: &City) -> Raw {
        Raw { url: city.url(), client: reqwest::blocking::Client::new() }
    }

    /// POSTs `body` as JSON with a token; returns status and raw body.
    fn post(&self, path: &str, token: Option<&str>, version: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
        let mut req = self.client.post(format!("{}{path}", self.url)).header("content-type", "application/json").body(body);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(v) = version {
            req = req.header("x-gridline-protocol", v);
        }
        let resp = req.send().expect("request");
        let status = resp.status().as_u16();
        (status, resp.bytes().expect("body").to_vec())
    }
}

fn op(entity: &str, id: &str, kind: &str, fields: Value) -> Value {
    json!({"op_id": uuid_v7(), "device_seq": 1, "entity": entity, "entity_id": id, "kind": kind,
        "fields": fields, "base_version": 0, "device_time": 1_700_000_000_000i64})
}

fn push_body(ops: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"protocol": 1, "ops": ops, "sent_at": 1_700_000_000_000i64})).expect("json")
}

/// Asserts a refusal: the status class, the code, and a full error body.
fn refused(what: &str, (status, body): (u16, Vec<u8>), want_status: u16, want_code: &str) -> ErrorBody {
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, want_status, "{what}: status (body {text})");
    let e: ErrorBody = serde_json::from_slice(&body).unwrap_or_else(|err| panic!("{what}: error body is JSON: {err}: {text}"));
    assert_eq!(e.code, want_code, "{what}: {e:?}");
    assert!(!e.message.is_empty() && !e.message_zh.is_empty(), "{what}: messages in both languages: {e:?}");
    assert!(e.message_zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{what}: Chinese message: {e:?}");
    e
}

#[test]
fn malformed_and_mistyped_requests_get_4xx_and_change_nothing() {
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let t = Some(d.token.as_str());
    let v1 = Some("1");
    let raw = Raw::new(&city);
    let h = city.households[&city.b("B1A")][0].clone();
    let before = city.fingerprint();

    refused("malformed JSON", raw.post("/v1/push", t, v1, br#"{"protocol":1,"ops":[{"op_id":"#.to_vec()), 400, "bad_json");
    refused("not JSON at all", raw.post("/v1/pull", t, v1, b"cursor=0".to_vec()), 400, "bad_json");
    refused(
        "wrong types (ops is a string)",
        raw.post("/v1/push", t, v1, br#"{"protocol":1,"ops":"many","sent_at":0}"#.to_vec()),
        422,
        "invalid_body",
    );
    refused("wrong types (cursor)", raw.post("/v1/pull", t, v1, br#"{"protocol":1,"cursor":"zero","limit":10}"#.to_vec()), 422, "invalid_body");
    let mut v99 = serde_json::from_slice::<Value>(&push_body(vec![op("household", &h, "update", json!({"notes": "x"}))])).expect("json");
    v99["protocol"] = json!(99);
    refused("unknown protocol in the body", raw.post("/v1/push", t, None, serde_json::to_vec(&v99).expect("json")), 422, "unsupported_protocol");
    refused(
        "unknown protocol in the header",
        raw.post("/v1/pull", t, Some("99"), br#"{"protocol":1,"cursor":0,"limit":10}"#.to_vec()),
        422,
        "unsupported_protocol",
    );
    let max = city.server().state().service.config().max_ops_per_batch;
    let many = (0..=max).map(|_| op("household", &h, "update", json!({"notes": "批量"}))).collect();
    refused("a batch over the op limit", raw.post("/v1/push", t, v1, push_body(many)), 413, "too_large");
    refused("no token", raw.post("/v1/pull", None, v1, br#"{"protocol":1,"cursor":0,"limit":10}"#.to_vec()), 401, "unauthorized");
    refused("a made-up token", raw.post("/v1/pull", Some("not-a-token"), v1, br#"{"protocol":1,"cursor":0,"limit":10}"#.to_vec()), 401, "unauthorized");

    assert_eq!(city.fingerprint(), before, "refused requests changed nothing");

    // A body over the byte limit (the default 8 MiB), declared by Content-Length: the server
    // reads and discards the rest before answering, so the client gets the 413 and its body
    // instead of a broken pipe. Several times, since a reset used to come and go.
    let max_body = city.server().state().service.config().max_body_bytes;
    let big = push_body(vec![op("household", &h, "update", json!({"notes": "长".repeat(max_body / 3 + 1)}))]);
    assert!(big.len() > max_body);
    for _ in 0..3 {
        refused("a body over the byte limit", raw.post("/v1/push", t, v1, big.clone()), 413, "too_large");
    }
    // And the same body streamed without a Content-Length (chunked).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
    let resp = raw
        .client
        .post(format!("{}/v1/push", raw.url))
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", d.token))
        .body(reqwest::blocking::Body::new(ChunkReader::new(chunks)))
        .send()
        .expect("chunked request gets an answer");
    let status = resp.status().as_u16();
    refused("a chunked body over the byte limit", (status, resp.bytes().expect("body").to_vec()), 413, "too_large");
    assert_eq!(city.fingerprint(), before, "refused requests changed nothing");

    // The same channel does change things when the request is good (so "unchanged" means something).
    let (status, body) = raw.post("/v1/push", t, v1, push_body(vec![op("household", &h, "update", json!({"notes": "有效修改"}))]));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_ne!(city.fingerprint(), before);
}

#[test]
fn revoked_and_expired_tokens_get_401_and_change_nothing() {
    // Revoked.
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let h = city.households[&city.b("B1A")][0].clone();
    d.store.update_household(&h, gridline_core::HouseholdPatch { notes: Some("注销后".into()), ..Default::default() }).expect("edit");
    let storage = city.server().state().service.storage();
    assert!(storage.revoke_device(&d.device_id(), city.server().state().service.now_ms()).expect("revoke"));
    let before = city.fingerprint();
    let raw = Raw::new(&city);
    let e = refused(
        "revoked token",
        raw.post("/v1/push", Some(&d.token), Some("1"), push_body(vec![op("household", &h, "update", json!({"notes": "x"}))])),
        401,
        "unauthorized",
    );
    assert!(e.message.contains("revoked"), "{e:?}");
    // A large batch from the revoked device: the 401 and its body arrive, not a reset.
    let big = push_body(vec![op("household", &h, "update", json!({"notes": "长".repeat(3000)})); 700]);
    assert!(big.len() > 4 << 20);
    for _ in 0..3 {
        refused("revoked token, large body", raw.post("/v1/push", Some(&d.token), Some("1"), big.clone()), 401, "unauthorized");
    }
    let err = d.sync().expect_err("a revoked device cannot sync");
    assert!(matches!(err, gridline_core::Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(d.pending(), 1, "the outbox is kept for after a new login");
    assert_eq!(city.fingerprint(), before);

    // Expired.
    let city = start_city_with(Config { token_ttl_ms: Some(1), ..Config::for_tests() });
    let d = city.device("gw1");
    std::thread::sleep(Duration::from_millis(5));
    let before = city.fingerprint();
    let raw = Raw::new(&city);
    let e = refused(
        "expired token",
        raw.post("/v1/push", Some(&d.token), Some("1"), push_body(vec![op("household", &h, "update", json!({"notes": "x"}))])),
        401,
        "unauthorized",
    );
    assert!(e.message.contains("expired"), "{e:?}");
    let err = d.sync().expect_err("an expired token cannot sync");
    assert!(matches!(err, gridline_core::Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(city.fingerprint(), before);
}

/// A reader over chunks, so reqwest sends the body without a Content-Length.
struct ChunkReader {
    chunks: std::vec::IntoIter<Result<Vec<u8>, std::io::Error>>,
    current: std::io::Cursor<Vec<u8>>,
}

impl ChunkReader {
    fn new(chunks: Vec<Result<Vec<u8>, std::io::Error>>) -> Self {
        ChunkReader { chunks: chunks.into_iter(), current: std::io::Cursor::new(Vec::new()) }
    }
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.current.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            match self.chunks.next() {
                Some(c) => self.current = std::io::Cursor::new(c?),
                None => return Ok(0),
            }
        }
    }
}

#[test]
fn a_malformed_op_among_good_ones_is_rejected_alone() {
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let raw = Raw::new(&city);
    let h = city.households[&city.b("B1A")][0].clone();
    let bad = op("household", &h, "update", json!({"shoe_size": 1}));
    let body = push_body(vec![op("household", &h, "update", json!({"notes": "好"})), bad.clone(), op("spaceship", &h, "update", json!({}))]);
    let (status, resp) = raw.post("/v1/push", Some(&d.token), Some("1"), body);
    let resp: Value = serde_json::from_slice(&resp).expect("push response");
    assert_eq!(status, 200, "{resp}");
    let statuses: Vec<&str> = resp["results"].as_array().expect("results").iter().map(|r| r["status"].as_str().unwrap()).collect();
    // base_version 0 on an existing row: the good op is applied as a merge.
    assert_eq!(statuses, ["merged", "rejected", "rejected"], "{resp}");
    assert_eq!(resp["results"][1]["op_id"], bad["op_id"]);
    assert_eq!(resp["results"][1]["code"], "invalid");
    d.sync().expect("pull");
    let rows = d.rows(gridline_core::EntityKind::Household);
    let row = rows.iter().find(|r| r.id == h).expect("row");
    assert_eq!(row.fields["notes"], "好", "the good op was applied");
}
