//! Fuzz harnesses, as plain functions: the `cargo fuzz` targets in `fuzz/` call them with the
//! fuzzer's inputs, and a stable-toolchain test replays the committed corpus (and a bounded,
//! seeded mutation of it) through the same functions on every CI run.
//!
//! Each function panics when an invariant breaks; that is what a fuzzer reports.

use std::collections::BTreeMap;
use std::path::Path;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Request};
use tower::ServiceExt;

use gridline_core::access::Scope;
use gridline_core::protocol::{EnrollRequest, ErrorBody, PullRequest, PushRequest, PushResponse, PROTOCOL_VERSION, VERSION_HEADER};
use gridline_core::Role;

use crate::error::AppError;
use crate::service::{decode_op, Incoming};
use crate::storage::TableDigest;
use crate::wire::{decode_body, encode_body, parse_json, Coding, PushEnvelope};
use crate::{app, AppState, Config, UserSpec};

/// Codes a refused request may carry: all of them 4xx.
const CLIENT_CODES: &[&str] =
    &["bad_json", "invalid_body", "unsupported_protocol", "too_large", "bad_request", "unsupported_media_type", "unauthorized"];

/// Runs of 8 or more ASCII digits in `data` (phone or ID numbers, if the input held any).
fn digit_runs(data: &[u8]) -> Vec<String> {
    data.split(|b| !b.is_ascii_digit()).filter(|r| r.len() >= 8).map(|r| String::from_utf8_lossy(r).into_owned()).collect()
}

/// A refusal is a client error with a code from the API's list, and never quotes a long number
/// from the input (it may be personal data).
pub fn check_refusal(e: &AppError, data: &[u8]) {
    assert!(e.status.is_client_error(), "refusal is a 4xx: {e}");
    assert!(CLIENT_CODES.contains(&e.code), "known code: {e}");
    assert!(!e.message.is_empty() && !e.message_zh.is_empty(), "messages: {e}");
    for run in digit_runs(data) {
        assert!(!e.message.contains(&run) && !e.message_zh.contains(&run), "the message echoes input digits: {e}");
    }
}

fn decode_as<T: serde::de::DeserializeOwned + crate::wire::Versioned>(data: &[u8]) -> Option<T> {
    match parse_json::<T>(data) {
        Ok(v) => Some(v),
        Err(e) => {
            check_refusal(&e, data);
            None
        }
    }
}

/// Protocol decoding: `data` as every request body (push, push envelope, pull, enroll), as sent
/// and after decompression as zstd and gzip. Decoding never panics; a refusal is a proper 4xx; a
/// push request that decodes survives a round trip; the envelope's ops decode one by one.
pub fn protocol_decode(data: &[u8]) {
    let mut bodies = vec![data.to_vec()];
    for coding in ["zstd", "gzip"] {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        match decode_body(&h, data, 1 << 20) {
            Ok(b) => bodies.push(b),
            Err(e) => check_refusal(&e, data),
        }
    }
    for body in &bodies {
        if let Some(req) = decode_as::<PushRequest>(body) {
            let again = serde_json::to_vec(&req).expect("a decoded request serializes");
            let back: PushRequest = parse_json(&again).expect("a serialized request decodes");
            assert_eq!(back.ops, req.ops, "push request round trip");
        }
        if let Some(env) = decode_as::<PushEnvelope>(body) {
            for (i, raw) in env.ops.iter().enumerate() {
                match decode_op(i, raw) {
                    Incoming::Op(op) => assert!(!op.op_id.is_empty() && !op.entity_id.is_empty()),
                    Incoming::Malformed(m) => {
                        assert!(!m.reason.is_empty() && !m.reason_zh.is_empty());
                        assert!(m.op_id.chars().count() <= 64);
                    }
                }
            }
        }
        decode_as::<PullRequest>(body);
        decode_as::<EnrollRequest>(body);
    }
}

/// A small world: a community with grids G1 and G2, a building and a household in each, an
/// incident in G1. Fixed op ids, so seeding a reused data dir again changes nothing.
fn seed_ops() -> Vec<gridline_core::protocol::Op> {
    use gridline_core::protocol::{Op, OpKind};
    use gridline_core::EntityKind as K;
    use serde_json::json;
    let rows = [
        (K::Area, "COM", json!({"parent_id": null, "kind": "community", "code": "COM", "name": "社区"})),
        (K::Area, "G1", json!({"parent_id": "COM", "kind": "grid", "code": "G1", "name": "一网格"})),
        (K::Area, "G2", json!({"parent_id": "COM", "kind": "grid", "code": "G2", "name": "二网格"})),
        (K::Department, "D1", json!({"code": "D1", "name": "城管"})),
        (K::Building, "B1", json!({"grid_id": "G1", "name": "1栋", "address": "一路1号", "floors": 6, "head_user_id": null})),
        (K::Building, "B2", json!({"grid_id": "G2", "name": "2栋", "address": "二路2号", "floors": 6, "head_user_id": null})),
        (K::Household, "H1", json!({"building_id": "B1", "grid_id": "G1", "room": "101", "address": "一路1号101", "head_name": "张三",
            "phone": "13800138000", "member_count": 2, "care_tags": [], "notes": ""})),
        (K::Household, "H2", json!({"building_id": "B2", "grid_id": "G2", "room": "202", "address": "二路2号202", "head_name": "李四",
            "phone": "13900139000", "member_count": 3, "care_tags": [], "notes": ""})),
        (K::Incident, "I1", json!({"category": "environment", "severity": "normal", "grid_id": "G1", "building_id": "B1",
            "household_id": null, "lat": null, "lng": null, "location_text": "楼下", "description": "垃圾", "photos": [],
            "reporter_id": "server", "reporter_role": "admin", "reported_at": 1_700_000_000_000i64})),
    ];
    rows.into_iter()
        .enumerate()
        .map(|(i, (entity, id, f))| Op {
            op_id: format!("seed-{i}"),
            device_seq: i as i64,
            entity,
            entity_id: id.into(),
            kind: OpKind::Create,
            fields: f.as_object().cloned().unwrap_or_default(),
            base_version: 0,
            device_time: 0,
        })
        .collect()
}

/// The push handler over a temporary server: one seeded world, one enrolled device.
pub struct PushHarness {
    rt: tokio::runtime::Runtime,
    state: AppState,
    token: String,
}

impl PushHarness {
    /// A server on `data_dir` (created if needed) with a grid, a building, a household and a
    /// grid worker enrolled on a device.
    pub fn new(data_dir: &Path) -> PushHarness {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let state = AppState::open(data_dir, Config::for_tests()).expect("state");
        let seed = seed_ops();
        let admin = gridline_core::access::Principal { user_id: "server".into(), role: Role::Admin, scope: Scope::default() };
        let req = PushRequest { protocol: PROTOCOL_VERSION, ops: seed, sent_at: 0, scope_epoch: None };
        state.service.push(&admin, crate::service::Origin::Server, &req).expect("seed");
        let spec = UserSpec {
            username: "fuzz".into(),
            password: "fuzz-pass".into(),
            role: Role::GridWorker,
            scope: Scope { area_ids: vec!["G1".into()], ..Scope::default() },
            display_name: String::new(),
        };
        if state.service.principal_of("fuzz").expect("lookup").is_none() {
            state.service.add_user(&spec).expect("user");
        }
        let enroll = EnrollRequest { protocol: PROTOCOL_VERSION, username: "fuzz".into(), password: "fuzz-pass".into(), device_name: "fuzz".into(), device_id: None };
        let token = state.service.enroll(&enroll).expect("enroll").token;
        PushHarness { rt, state, token }
    }

    fn digests(&self) -> BTreeMap<String, TableDigest> {
        self.state.service.storage().table_digests().expect("digests")
    }

    /// One request to `POST /v1/push`: the first byte chooses how the rest is sent (bits 0-1:
    /// as is, zstd, gzip, or labelled zstd but sent raw; bit 2: a wrong content type; bit 3: the
    /// protocol header). The answer is never a 5xx; a 4xx carries the error body and changes no
    /// table; a 200 carries one result per op, each rejection with a code and a reason.
    pub fn push(&self, data: &[u8]) {
        let (sel, body) = data.split_first().map(|(s, b)| (*s, b)).unwrap_or((0, &[]));
        let mut b = Request::post("/v1/push").header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let sent = match sel & 3 {
            1 => {
                b = b.header(header::CONTENT_ENCODING, "zstd");
                encode_body(body, Coding::Zstd).expect("zstd")
            }
            2 => {
                b = b.header(header::CONTENT_ENCODING, "gzip");
                encode_body(body, Coding::Gzip).expect("gzip")
            }
            3 => {
                b = b.header(header::CONTENT_ENCODING, "zstd");
                body.to_vec()
            }
            _ => body.to_vec(),
        };
        b = b.header(header::CONTENT_TYPE, if sel & 4 != 0 { "text/plain" } else { "application/json" });
        if sel & 8 != 0 {
            b = b.header(VERSION_HEADER, PROTOCOL_VERSION.to_string());
        }
        let request = b.body(Body::from(sent)).expect("request");
        let before = self.digests();
        let router = app(self.state.clone());
        let (status, bytes) = self.rt.block_on(async move {
            let resp = router.oneshot(request).await.expect("infallible");
            let status = resp.status();
            (status, axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body"))
        });
        assert!(!status.is_server_error(), "5xx for a request: {status} {}", String::from_utf8_lossy(&bytes));
        if status.is_client_error() {
            let e: ErrorBody = serde_json::from_slice(&bytes).expect("a 4xx carries the error body");
            assert!(CLIENT_CODES.contains(&e.code.as_str()) && !e.message_zh.is_empty(), "{e:?}");
            assert_eq!(self.digests(), before, "a refused request changed a table");
            return;
        }
        assert!(status.is_success(), "{status}");
        let resp: PushResponse = serde_json::from_slice(&bytes).expect("a push response");
        if let Ok(env) = serde_json::from_slice::<PushEnvelope>(body) {
            assert_eq!(resp.results.len(), env.ops.len(), "one result per op");
        }
        for r in &resp.results {
            if r.status == gridline_core::protocol::OpStatus::Rejected {
                assert!(r.code.as_deref().is_some_and(|c| !c.is_empty()) && r.reason.as_deref().is_some_and(|c| !c.is_empty()), "{r:?}");
            }
        }
    }
}
