//! Every class of bad input gets a 4xx with the error body and changes nothing.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

use gridline_core::protocol::{OpKind, PROTOCOL_VERSION};
use gridline_core::EntityKind;
use gridline_server::wire::{encode_body, Coding};

use crate::common::*;

fn push_req(token: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::post("/v1/push").header(header::AUTHORIZATION, format!("Bearer {token}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::from(body)).unwrap()
}

async fn expect_refused(w: &World, req: Request<Body>, status: StatusCode, code: &str) {
    let before = w.fingerprint();
    let (got, body) = read_json(w.send(req).await).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string() && body["message_zh"].is_string());
    assert_eq!(body["protocol"], PROTOCOL_VERSION);
    assert_eq!(w.fingerprint(), before, "database changed by a refused request ({code})");
}

fn batch(ops: Value) -> Vec<u8> {
    json!({"protocol": PROTOCOL_VERSION, "ops": ops, "sent_at": now_ms()}).to_string().into_bytes()
}

#[tokio::test]
async fn bad_requests_are_refused_with_the_error_body() {
    let w = World::new();
    let t = w.enroll("gw").await;
    let good = serde_json::to_value(op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "ok"}), 0)).unwrap();
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("malformed json", b"{\"protocol\": 1, \"ops\": [".to_vec(), StatusCode::BAD_REQUEST, "bad_json"),
        ("ops not a list", json!({"protocol": PROTOCOL_VERSION, "ops": "many", "sent_at": 0}).to_string().into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("unknown envelope key", json!({"protocol": PROTOCOL_VERSION, "ops": [], "sent_at": 0, "x": 1}).to_string().into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("old protocol", json!({"protocol": 0, "ops": [], "sent_at": 0}).to_string().into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "unsupported_protocol"),
        ("future protocol, other shape", json!({"protocol": 7, "batch": {}}).to_string().into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "unsupported_protocol"),
        ("no protocol", json!({"ops": [], "sent_at": 0}).to_string().into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
    ];
    for (name, body, status, code) in cases {
        eprintln!("case: {name}");
        expect_refused(&w, push_req(&t, body, &[("content-type", "application/json")]), status, code).await;
    }
    // Version header.
    expect_refused(&w, push_req(&t, batch(json!([good.clone()])), &[("x-gridline-protocol", "2")]), StatusCode::UNPROCESSABLE_ENTITY, "unsupported_protocol").await;
    // Content type and encoding.
    expect_refused(&w, push_req(&t, batch(json!([good.clone()])), &[("content-type", "text/plain")]), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    expect_refused(&w, push_req(&t, batch(json!([good.clone()])), &[("content-encoding", "br")]), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
    expect_refused(&w, push_req(&t, b"not zstd at all".to_vec(), &[("content-encoding", "zstd")]), StatusCode::BAD_REQUEST, "bad_request").await;
    // Too many ops.
    let many: Vec<Value> = (0..1001).map(|_| serde_json::to_value(op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": "n"}), 0)).unwrap()).collect();
    expect_refused(&w, push_req(&t, batch(Value::Array(many)), &[]), StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    // Too large as sent, and too large once decompressed.
    let mut huge = batch(json!([good.clone()]));
    huge.extend(std::iter::repeat_n(b' ', 9 << 20));
    expect_refused(&w, push_req(&t, huge, &[]), StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    let mut bomb = batch(json!([good.clone()]));
    bomb.extend(std::iter::repeat_n(b' ', 40 << 20));
    let z = encode_body(&bomb, Coding::Zstd).unwrap();
    assert!(z.len() < 1 << 20);
    expect_refused(&w, push_req(&t, z, &[("content-encoding", "zstd")]), StatusCode::PAYLOAD_TOO_LARGE, "too_large").await;
    // Pull with wrong types; unknown route; wrong method.
    let pull = Request::post("/v1/pull")
        .header(header::AUTHORIZATION, format!("Bearer {t}"))
        .body(Body::from(json!({"protocol": 1, "cursor": "13800138000", "limit": 10}).to_string()))
        .unwrap();
    let before = w.fingerprint();
    let (status, body) = read_json(w.send(pull).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!body.to_string().contains("13800138000"), "no values echoed");
    assert_eq!(w.fingerprint(), before);
    expect_refused(&w, Request::get("/v2/nothing").body(Body::empty()).unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    expect_refused(&w, Request::get("/v1/push").body(Body::empty()).unwrap(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    // Enroll with a wrong body shape.
    let enroll = Request::post("/v1/enroll").body(Body::from(json!({"protocol": 1, "username": 5}).to_string())).unwrap();
    expect_refused(&w, enroll, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
}

/// One malformed op in a batch is rejected on its own with a code and a Chinese reason; the
/// other ops are applied (DESIGN.md sync rule 3: a rejected op never blocks the queue), and a
/// retry of the batch gets the same answers without applying anything twice.
#[tokio::test]
async fn a_malformed_op_is_rejected_alone_and_the_rest_applies() {
    let w = World::new();
    let t = w.enroll("gw").await;
    let base = w.version("H1");
    let good = |note: &str| serde_json::to_value(op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": note}), base)).unwrap();
    let with = |path: &str, v: Value| {
        let mut o = good("坏");
        o[path] = v;
        o
    };
    let bad = vec![
        ("wrong type", with("device_seq", json!("one"))),
        ("unknown entity", with("entity", json!("spaceship"))),
        ("unknown field", with("fields", json!({"favourite_colour": "red"}))),
        ("mistyped field", with("fields", json!({"member_count": "many"}))),
        ("empty id", with("entity_id", json!(""))),
        ("event on household", with("kind", json!("event"))),
        ("unknown op key", with("sneaky", json!(1))),
        ("not an object", json!(42)),
    ];
    for (name, bad_op) in bad {
        let ops = json!([good(&format!("前-{name}")), bad_op.clone(), good(&format!("后-{name}"))]);
        let body = batch(ops.clone());
        let (status, resp) = read_json(w.send(push_req(&t, body.clone(), &[("content-type", "application/json")])).await).await;
        assert_eq!(status, StatusCode::OK, "{name}: {resp}");
        let results = resp["results"].as_array().expect("results");
        assert_eq!(results.len(), 3, "{name}: one result per op, in order: {resp}");
        assert_eq!(results[0]["status"], "applied", "{name}: {resp}");
        assert_eq!(results[1]["status"], "rejected", "{name}: {resp}");
        assert_eq!(results[1]["code"], "invalid", "{name}: {resp}");
        let reason = results[1]["reason"].as_str().expect("reason");
        assert!(reason.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{name}: Chinese reason: {reason}");
        assert_eq!(results[1]["op_id"], bad_op.get("op_id").cloned().unwrap_or(json!("")), "{name}");
        assert_eq!(results[2]["status"], "applied", "{name}: {resp}");
        // A retry gets the same answers and writes no change (only the device's sync log moves).
        let before = w.state.service.storage().max_seq().unwrap();
        let (status, again) = read_json(w.send(push_req(&t, body, &[])).await).await;
        assert_eq!(status, StatusCode::OK, "{name}: {again}");
        let statuses: Vec<&str> = again["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["duplicate", "rejected", "duplicate"], "{name}");
        assert_eq!(w.state.service.storage().max_seq().unwrap(), before, "{name}: a retry applied nothing");
    }
    let pulled = w.pull_all(&t).await;
    let h1 = pulled.iter().rev().find(|c| c.id == "H1").expect("H1");
    assert_eq!(h1.fields["notes"], "后-not an object");
    assert_eq!(h1.fields["member_count"], 2, "the mistyped field was not written");
}
