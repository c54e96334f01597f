//! `AppError`: every failure of the API as a status and the protocol's error body.
//!
//! Messages never carry field values (they may be personal data) nor internal details.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gridline_core::protocol::{ErrorBody, PROTOCOL_VERSION};

use crate::storage::StoreError;

/// An API error: HTTP status, machine code, English and Chinese messages.
#[derive(Debug, Clone, PartialEq)]
pub struct AppError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine code.
    pub code: &'static str,
    /// Ask the client to close the connection after this answer (a body was left unread).
    pub close: bool,
    /// English message.
    pub message: String,
    /// Simplified Chinese message.
    pub message_zh: String,
}

impl AppError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>, zh: impl Into<String>) -> Self {
        AppError { status, code, close: false, message: message.into(), message_zh: zh.into() }
    }
    /// 400: the body is not JSON.
    pub fn bad_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_json", detail, "请求内容不是有效的JSON")
    }
    /// 400: a malformed request (headers, encoding).
    pub fn bad_request(message: impl Into<String>, zh: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, zh)
    }
    /// 401.
    pub fn unauthorized(message: impl Into<String>, zh: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message, zh)
    }
    /// 404.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint", "接口不存在")
    }
    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed", "不支持该请求方法")
    }
    /// 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message, "请求内容过大，请分批发送")
    }
    /// 429: too many failed logins for this username from this address.
    pub fn too_many_logins() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed logins; try again in 15 minutes",
            "登录失败次数过多，请15分钟后再试",
        )
    }
    /// 503: every place for a password check is taken (see `logins::LoginLimiter::check_slot`).
    pub fn busy() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many logins at once; try again shortly", "登录的人太多，请稍后再试")
    }
    /// 415.
    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message, "不支持的内容类型或压缩方式")
    }
    /// 422: a protocol version this server does not speak.
    pub fn unsupported_protocol(got: Option<u32>) -> Self {
        let got = got.map(|v| v.to_string()).unwrap_or_else(|| "none".into());
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_protocol",
            format!("protocol version {got} is not supported; this server speaks {PROTOCOL_VERSION}"),
            format!("客户端协议版本不受支持（服务器版本为{PROTOCOL_VERSION}），请升级应用"),
        )
    }
    /// 422: well-formed JSON that does not match the schema.
    pub fn invalid_body(message: impl Into<String>, zh: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message, zh)
    }
    /// 500: details go to the log, never to the client.
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error", "服务器内部错误，请稍后重试")
    }

    /// The storage cannot answer (see `Storage::health`); the detail is logged.
    pub fn unavailable(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "storage unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "storage unavailable; restart the server", "存储不可用，请重启服务器")
    }

    /// The same error, answered with `Connection: close`.
    pub fn closing(self) -> Self {
        AppError { close: true, ..self }
    }

    /// The protocol's error body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code.to_owned(),
            message: self.message.clone(),
            message_zh: self.message_zh.clone(),
            protocol: PROTOCOL_VERSION,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::internal(&e)
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::internal(&e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if self.close {
            resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        }
        resp
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for AppError {}
