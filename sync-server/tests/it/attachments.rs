//! Photos (DESIGN.md sync rule 9): resumable chunked upload, hash verification, download.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use sha2::{Digest, Sha256};

use gridline_core::protocol::OpKind;
use gridline_core::EntityKind;
use serde_json::json;

use crate::common::*;

fn jpeg(len: usize, seed: u8) -> Vec<u8> {
    let mut v = vec![0xff, 0xd8, 0xff, 0xe0];
    v.extend((0..len - 4).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    v
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

async fn put(w: &World, token: &str, sha: &str, mime: &str, offset: usize, total: usize, chunk: &[u8]) -> (StatusCode, serde_json::Value) {
    let req = Request::put(format!("/v1/attachments/{sha}?offset={offset}&total={total}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, mime)
        .body(Body::from(chunk.to_vec()))
        .expect("request");
    read_json(w.send(req).await).await
}

async fn get(w: &World, token: Option<&str>, path: &str) -> (StatusCode, Vec<u8>) {
    let mut b = Request::get(path);
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = w.send(b.body(Body::empty()).expect("request")).await;
    let status = resp.status();
    (status, axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body").to_vec())
}

#[tokio::test]
async fn a_photo_uploads_in_chunks_resumes_and_downloads_by_hash() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let photo = jpeg(300_000, 7);
    let h = sha(&photo);
    let total = photo.len();
    let (s, st) = put(&w, &gw, &h, "image/jpeg", 0, total, &photo[..100_000]).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!((st["received"].as_u64(), st["complete"].as_bool()), (Some(100_000), Some(false)));
    // A chunk from the wrong place changes nothing and says where to resume.
    let (s, st) = put(&w, &gw, &h, "image/jpeg", 200_000, total, &photo[200_000..]).await;
    assert_eq!((s, st["received"].as_u64()), (StatusCode::OK, Some(100_000)));
    // A resent chunk (its answer was lost) changes nothing either.
    let (_, st) = put(&w, &gw, &h, "image/jpeg", 0, total, &photo[..100_000]).await;
    assert_eq!(st["received"].as_u64(), Some(100_000));
    let (s, body) = get(&w, Some(&gw), &format!("/v1/attachments/{h}/status")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["received"], 100_000);
    // Not downloadable before it is whole.
    assert_eq!(get(&w, Some(&gw), &format!("/v1/attachments/{h}")).await.0, StatusCode::FORBIDDEN);
    let (_, st) = put(&w, &gw, &h, "image/jpeg", 100_000, total, &photo[100_000..]).await;
    assert_eq!((st["received"].as_u64(), st["complete"].as_bool()), (Some(total as u64), Some(true)));
    let (s, got) = get(&w, Some(&gw), &format!("/v1/attachments/{h}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, photo);
    // Once whole, any further chunk is answered with the finished status.
    let (_, st) = put(&w, &gw, &h, "image/jpeg", 0, total, &photo[..10]).await;
    assert_eq!(st["complete"].as_bool(), Some(true));
    // Only enrolled devices.
    assert_eq!(get(&w, None, &format!("/v1/attachments/{h}")).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bytes_that_do_not_match_the_hash_are_dropped() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let photo = jpeg(5_000, 1);
    let claimed = sha(&jpeg(5_000, 2));
    let (s, body) = put(&w, &gw, &claimed, "image/jpeg", 0, photo.len(), &photo).await;
    assert_eq!((s, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("hash_mismatch")), "{body}");
    assert!(body["message_zh"].as_str().unwrap().contains("SHA-256"));
    let (_, body) = get(&w, Some(&gw), &format!("/v1/attachments/{claimed}/status")).await;
    let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st["received"].as_u64(), st["complete"].as_bool()), (Some(0), Some(false)), "the upload starts over");
}

#[tokio::test]
async fn bad_uploads_are_refused_with_the_field_named_and_store_nothing() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let photo = jpeg(2_000, 3);
    let h = sha(&photo);
    let before = w.fingerprint();
    for (path_sha, mime, offset, total, chunk, status, needle) in [
        ("NOT-A-HASH", "image/jpeg", 0, photo.len(), photo.clone(), StatusCode::UNPROCESSABLE_ENTITY, "sha256"),
        (h.as_str(), "text/html", 0, photo.len(), photo.clone(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "image/jpeg"),
        (h.as_str(), "image/png", 0, photo.len(), photo.clone(), StatusCode::UNPROCESSABLE_ENTITY, "data"),
        (h.as_str(), "image/jpeg", 0, 0, photo.clone(), StatusCode::UNPROCESSABLE_ENTITY, "total"),
        (h.as_str(), "image/jpeg", 0, 11 << 20, photo.clone(), StatusCode::UNPROCESSABLE_ENTITY, "total"),
        (h.as_str(), "image/jpeg", 0, 10, photo.clone(), StatusCode::UNPROCESSABLE_ENTITY, "data"),
        (h.as_str(), "image/jpeg", 0, photo.len(), Vec::new(), StatusCode::UNPROCESSABLE_ENTITY, "data"),
    ] {
        let (s, body) = put(&w, &gw, path_sha, mime, offset, total, &chunk).await;
        assert_eq!(s, status, "{mime} {total}: {body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{body}");
    }
    let req = Request::put(format!("/v1/attachments/{h}?offset=-1"))
        .header(header::AUTHORIZATION, format!("Bearer {gw}"))
        .header(header::CONTENT_TYPE, "image/jpeg")
        .body(Body::from(photo.clone()))
        .expect("request");
    let (s, body) = read_json(w.send(req).await).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("offset"));
    assert_eq!(w.fingerprint(), before, "nothing stored");
    let (s, body) = get(&w, Some(&gw), &format!("/v1/attachments/{h}/status")).await;
    assert_eq!(s, StatusCode::OK);
    let st: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((st["received"].as_u64(), st["total"].as_u64()), (Some(0), Some(0)), "no partial upload kept");
}

#[tokio::test]
async fn devices_get_a_photo_through_a_record_they_may_read_and_only_so() {
    let w = World::new();
    let gw = w.enroll("gw").await;
    let photo = jpeg(20_000, 5);
    let h = sha(&photo);
    // An incident in building B1 (grid G1) refers to the photo; the grid worker's phone uploads it.
    let mut with_photo = incident("G1", Some("B1"));
    with_photo["photos"] = json!([h]);
    w.server_push(vec![op(EntityKind::Incident, "I9", OpKind::Create, with_photo, 0)]);
    let through = |id: &str| format!("/v1/attachments/{h}?entity=incident&id={id}");
    let sup = w.enroll("sup").await;
    // Referenced but not uploaded yet: the supervisor learns it is not there.
    assert_eq!(get(&w, Some(&sup), &through("I9")).await.0, StatusCode::NOT_FOUND);
    let (s, _) = put(&w, &gw, &h, "image/jpeg", 0, photo.len(), &photo).await;
    assert_eq!(s, StatusCode::OK);
    // The uploading device gets it back by hash alone; everyone else must name a record.
    assert_eq!(get(&w, Some(&gw), &format!("/v1/attachments/{h}")).await, (StatusCode::OK, photo.clone()));
    let (s, body) = get(&w, Some(&sup), &format!("/v1/attachments/{h}")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "forbidden");
    assert!(body["message_zh"].as_str().unwrap().contains("照片"), "{body}");
    // Through the incident: the supervisor above the grid and the building's head may read it.
    assert_eq!(get(&w, Some(&sup), &through("I9")).await, (StatusCode::OK, photo.clone()));
    let bh = w.enroll("bh").await;
    assert_eq!(get(&w, Some(&bh), &through("I9")).await.0, StatusCode::OK);
    // The department handler may not (the incident was never dispatched to D1) …
    let dh = w.enroll("dh").await;
    assert_eq!(get(&w, Some(&dh), &through("I9")).await.0, StatusCode::FORBIDDEN);
    // … until it is.
    let dispatch = event("E9", "dispatched", "请处理", Some("D1"));
    w.server_push(vec![op(EntityKind::Incident, "I9", OpKind::Event, dispatch, 0)]);
    assert_eq!(get(&w, Some(&dh), &through("I9")).await.0, StatusCode::OK);
    // A record the user may read that does not refer to the photo opens nothing.
    w.server_push(vec![op(EntityKind::Incident, "I10", OpKind::Create, incident("G1", Some("B1")), 0)]);
    assert_eq!(get(&w, Some(&sup), &through("I10")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&w, Some(&sup), &through("NOPE")).await.0, StatusCode::NOT_FOUND);
    // Malformed requests name what is wrong.
    for (query, status, needle) in [
        ("entity=household&id=H1", StatusCode::UNPROCESSABLE_ENTITY, "entity"),
        ("entity=incident", StatusCode::UNPROCESSABLE_ENTITY, "entity"),
        ("id=I9", StatusCode::UNPROCESSABLE_ENTITY, "entity"),
        ("entity=incident&id=", StatusCode::UNPROCESSABLE_ENTITY, "id"),
    ] {
        let (s, body) = get(&w, Some(&sup), &format!("/v1/attachments/{h}?{query}")).await;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(s, status, "{query}: {body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{query}: {body}");
    }
    assert_eq!(get(&w, None, &through("I9")).await.0, StatusCode::UNAUTHORIZED);
}
