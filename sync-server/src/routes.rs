//! Routes and handlers: decode, authenticate, hand to the service on a blocking thread, encode.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;

use gridline_core::protocol::{EnrollRequest, PullRequest};

use crate::auth::Authed;
use crate::error::AppError;
use crate::logins::ClientIp;
use crate::service::{decode_op, Incoming};
use crate::wire::{Coding, PushEnvelope, Reply, Wire};
use crate::AppState;

/// The router of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/enroll", post(enroll))
        .route("/v1/push", post(push))
        .route("/v1/pull", post(pull))
        .route("/v1/attachments/{sha256}", put(upload_attachment).get(download_attachment))
        .route("/v1/attachments/{sha256}/status", get(attachment_status))
        .merge(crate::console::router())
        .fallback(|| async { AppError::not_found() })
        .method_not_allowed_fallback(|| async { AppError::method_not_allowed() })
        .with_state(state)
}

/// "ok", or 503 once the storage cannot answer (after a failed sync to disk: restart).
async fn healthz(State(st): State<AppState>) -> Result<&'static str, AppError> {
    st.service.storage().health().map_err(|e| AppError::unavailable(&e))?;
    Ok("ok")
}

async fn openapi() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

/// Enrollment checks a password, so it counts failures like the console's login form
/// (`logins.rs`): past the limit the password is not even checked.
async fn enroll(State(st): State<AppState>, ClientIp(ip): ClientIp, Wire { value, accept }: Wire<EnrollRequest>) -> Result<Reply, AppError> {
    let key = crate::logins::login_key(&value.username, ip);
    let now = st.service.now_ms();
    if st.logins.limited(&key, now) {
        tracing::info!("enrollment rate-limited");
        return Err(AppError::too_many_logins());
    }
    let Some(slot) = st.logins.check_slot().await else { return Err(AppError::busy()) };
    let service = st.service.clone();
    match tokio::task::spawn_blocking(move || {
        let _slot = slot;
        service.enroll(&value)
    })
    .await?
    {
        Ok(resp) => {
            st.logins.succeeded(&key);
            Reply::json(&resp, accept)
        }
        Err(e) => {
            if e.status == axum::http::StatusCode::UNAUTHORIZED {
                st.logins.failed(key, now);
            }
            Err(e)
        }
    }
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
    value.check_nesting()?;
    let ops: Vec<Incoming> = value.ops.iter().enumerate().map(|(i, raw)| decode_op(i, raw)).collect();
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || service.push_from_device(&who, value.scope_epoch, value.sent_at, &ops)).await??;
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

/// `?offset=N&total=T` of a chunk upload, with errors in the API's error body.
fn chunk_range(query: Option<&str>) -> Result<(u64, u64), AppError> {
    let (mut offset, mut total) = (None, None);
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n = || {
            v.parse::<u64>().map_err(|_| {
                AppError::bad_request(format!("query parameter `{k}` must be a non-negative integer"), format!("参数「{k}」应为非负整数"))
            })
        };
        match k {
            "offset" => offset = Some(n()?),
            "total" => total = Some(n()?),
            _ => {}
        }
    }
    match (offset, total) {
        (Some(o), Some(t)) => Ok((o, t)),
        _ => Err(AppError::bad_request("query parameters `offset` and `total` are required", "缺少参数 offset 或 total")),
    }
}

async fn upload_attachment(
    State(st): State<AppState>,
    who: Authed,
    Path(sha256): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Reply, AppError> {
    let (offset, total) = chunk_range(query.as_deref())?;
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || service.upload_attachment(&who, &sha256, &mime, offset, total, &body)).await??;
    Reply::json(&resp, Coding::Identity)
}

async fn attachment_status(State(st): State<AppState>, _who: Authed, Path(sha256): Path<String>) -> Result<Reply, AppError> {
    let service = st.service.clone();
    let resp = tokio::task::spawn_blocking(move || service.attachment_status(&sha256)).await??;
    Reply::json(&resp, Coding::Identity)
}

async fn download_attachment(
    State(st): State<AppState>,
    who: Authed,
    Path(sha256): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let Query(query) = query.map_err(|_| AppError::bad_request("the query string is not valid", "查询参数无效"))?;
    let record = crate::service::attachments::photo_record(&query)?;
    let service = st.service.clone();
    let photo = tokio::task::spawn_blocking(move || {
        service.attachment_for(&who, &sha256, record.as_ref().map(|(e, id)| (*e, id.as_str())))
    })
    .await??;
    // Content addressed: the bytes under a hash never change.
    Ok(([(header::CONTENT_TYPE, photo.mime), (header::CACHE_CONTROL, "private, max-age=31536000, immutable".to_owned())], photo.data)
        .into_response())
}
