//! Routes and handlers: decode, authenticate, hand to the service on a blocking thread, encode.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use gridline_core::protocol::{EnrollRequest, PullRequest};

use crate::auth::Authed;
use crate::error::AppError;
use crate::service::{decode_op, Incoming, Origin};
use crate::wire::{PushEnvelope, Reply, Wire};
use crate::AppState;

/// The router of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/enroll", post(enroll))
        .route("/v1/push", post(push))
        .route("/v1/pull", post(pull))
        .fallback(|| async { AppError::not_found() })
        .method_not_allowed_fallback(|| async { AppError::method_not_allowed() })
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn openapi() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

async fn enroll(State(st): State<AppState>, Wire { value, accept }: Wire<EnrollRequest>) -> Result<Reply, AppError> {
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || service.enroll(&value)).await??;
    Reply::json(&resp, accept)
}

/// Push and pull read the body before acting on a failed authentication: answering 401 while a
/// client is still writing a large batch would reset its connection instead (see `wire::read_limited`).
async fn push(
    State(st): State<AppState>,
    who: Result<Authed, AppError>,
    wire: Result<Wire<PushEnvelope>, AppError>,
) -> Result<Reply, AppError> {
    let who = who?;
    let Wire { value, accept } = wire?;
    let max = st.service.config().max_ops_per_batch;
    if value.ops.len() > max {
        return Err(AppError::too_large(format!("at most {max} ops per batch")));
    }
    let ops: Vec<Incoming> = value.ops.iter().enumerate().map(|(i, raw)| decode_op(i, raw)).collect();
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || {
        service.push_ops(&who.user.principal(), Origin::Device(&who.device_id), &ops)
    })
    .await??;
    Reply::json(&resp, accept)
}

async fn pull(
    State(st): State<AppState>,
    who: Result<Authed, AppError>,
    wire: Result<Wire<PullRequest>, AppError>,
) -> Result<Reply, AppError> {
    let who = who?;
    let Wire { value, accept } = wire?;
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || service.pull(&who, &value)).await??;
    Reply::json(&resp, accept)
}
