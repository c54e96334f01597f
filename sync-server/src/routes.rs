//! Routes and handlers: decode, authenticate, hand to the service on a blocking thread, encode.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use gridline_core::protocol::{EnrollRequest, PullRequest, PushRequest};

use crate::auth::Authed;
use crate::error::AppError;
use crate::service::Origin;
use crate::wire::{Reply, Wire};
use crate::AppState;

/// The router of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/enroll", post(enroll))
        .route("/v1/push", post(push))
        .route("/v1/pull", post(pull))
        .merge(crate::console::router())
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

async fn push(State(st): State<AppState>, who: Authed, Wire { value, accept }: Wire<PushRequest>) -> Result<Reply, AppError> {
    let max = st.service.config().max_ops_per_batch;
    if value.ops.len() > max {
        return Err(AppError::too_large(format!("at most {max} ops per batch")));
    }
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || {
        service.push(&who.user.principal(), Origin::Device(&who.device_id), &value)
    })
    .await??;
    Reply::json(&resp, accept)
}

async fn pull(State(st): State<AppState>, who: Authed, Wire { value, accept }: Wire<PullRequest>) -> Result<Reply, AppError> {
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || service.pull(&who, &value)).await??;
    Reply::json(&resp, accept)
}
