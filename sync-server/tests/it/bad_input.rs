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
    let with = |path: &str, v: Value| {
        let mut o = good.clone();
        o[path] = v;
        o
    };
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        ("malformed json", b"{\"protocol\": 1, \"ops\": [".to_vec(), StatusCode::BAD_REQUEST, "bad_json"),
        ("wrong type", batch(json!([with("device_seq", json!("one"))])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("unknown entity", batch(json!([good.clone(), with("entity", json!("spaceship"))])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("unknown field", batch(json!([good.clone(), with("fields", json!({"favourite_colour": "red"}))])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("mistyped field", batch(json!([good.clone(), with("fields", json!({"member_count": "many"}))])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("empty id", batch(json!([good.clone(), with("entity_id", json!(""))])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("event on household", batch(json!([with("kind", json!("event"))])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        ("unknown op key", batch(json!([with("sneaky", json!(1))])), StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
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
