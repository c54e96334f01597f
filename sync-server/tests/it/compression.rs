//! Compressed bodies both ways, health and the OpenAPI document.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::json;

use gridline_core::protocol::{OpKind, OpStatus, PushResponse, PROTOCOL_VERSION};
use gridline_core::EntityKind;
use gridline_server::wire::{encode_body, Coding};

use crate::common::*;

async fn compressed_push(w: &World, token: &str, coding: Coding, name: &str) {
    let ops = vec![op(EntityKind::Household, "H1", OpKind::Update, json!({"notes": format!("压缩 {name}")}), w.version("H1"))];
    let body = json!({"protocol": PROTOCOL_VERSION, "ops": ops, "sent_at": now_ms()}).to_string();
    let req = Request::post("/v1/push")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_ENCODING, name)
        .header(header::ACCEPT_ENCODING, name)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("x-gridline-protocol", "1")
        .body(Body::from(encode_body(body.as_bytes(), coding).unwrap()))
        .unwrap();
    let resp = w.send(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_ENCODING], name);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    let plain = match coding {
        Coding::Zstd => zstd::decode_all(&bytes[..]).unwrap(),
        _ => {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
            out
        }
    };
    let r: PushResponse = serde_json::from_slice(&plain).unwrap();
    assert_eq!(r.results[0].status, OpStatus::Applied);
}

#[tokio::test]
async fn zstd_and_gzip_round_trip() {
    let w = World::new();
    let token = w.enroll("gw").await;
    compressed_push(&w, &token, Coding::Zstd, "zstd").await;
    compressed_push(&w, &token, Coding::Gzip, "gzip").await;
    // No Accept-Encoding: plain JSON.
    let resp = w
        .send(
            Request::post("/v1/pull")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(json!({"protocol": 1, "cursor": 0, "limit": 5}).to_string()))
                .unwrap(),
        )
        .await;
    assert!(resp.headers().get(header::CONTENT_ENCODING).is_none());
    let (status, body) = read_json(resp).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["changes"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn health_and_openapi() {
    let w = World::new();
    let resp = w.send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, body) = read_json(resp).await;
    assert_eq!(body, json!("ok"));
    let (status, doc) = read_json(w.send(Request::get("/v1/openapi.json").body(Body::empty()).unwrap()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    for p in ["/v1/enroll", "/v1/push", "/v1/pull", "/healthz"] {
        assert!(doc["paths"][p].is_object(), "{p}");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
}
