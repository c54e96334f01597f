//! The network as a trait, so tests can inject faults; errors say whether a retry may help.

use crate::entities::EntityKind;
use crate::protocol::{
    AttachmentStatus, EnrollRequest, EnrollResponse, ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse,
    PROTOCOL_VERSION,
};

/// A transport failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransportError {
    /// No answer (connection refused, reset, timeout, 5xx): the request may or may not have
    /// been applied; retrying is safe because pushes are idempotent.
    #[error("network: {0}")]
    Network(String),
    /// The token is missing, expired or revoked.
    #[error("unauthorized: {}", .0.message)]
    Unauthorized(ErrorBody),
    /// The server refused the request itself (4xx): retrying the same request will not help.
    #[error("refused ({status}): {}", .body.message)]
    Refused {
        /// HTTP status.
        status: u16,
        /// Error body.
        body: ErrorBody,
    },
}

impl TransportError {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, TransportError::Network(_))
    }
}

impl From<TransportError> for crate::Error {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Network(m) => crate::Error::Transport(m),
            TransportError::Unauthorized(b) => {
                let message_zh = zh_or(&b);
                crate::Error::Unauthorized { message: b.message, message_zh }
            }
            TransportError::Refused { body, .. } => {
                let message_zh = zh_or(&body);
                crate::Error::Server { code: body.code, message: body.message, message_zh }
            }
        }
    }
}

/// The body's Chinese message, or its English one when a server sent none.
fn zh_or(b: &ErrorBody) -> String {
    if b.message_zh.trim().is_empty() { b.message.clone() } else { b.message_zh.clone() }
}

/// How the sync client talks to the server.
pub trait Transport: Send + Sync {
    /// Sends a batch of ops.
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError>;
    /// Fetches one page of the change feed.
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError>;
    /// How much of a photo the server holds.
    fn attachment_status(&self, sha256: &str) -> Result<AttachmentStatus, TransportError> {
        let _ = sha256;
        Err(no_attachments())
    }
    /// Sends the bytes of a photo from `offset` on (`total`: the whole file's size); the answer
    /// says how much the server holds now.
    fn upload_attachment(
        &self,
        sha256: &str,
        mime: &str,
        offset: u64,
        total: u64,
        chunk: &[u8],
    ) -> Result<AttachmentStatus, TransportError> {
        let _ = (sha256, mime, offset, total, chunk);
        Err(no_attachments())
    }
    /// Fetches a whole photo through the record that refers to it (an incident or a task
    /// assignment the user may read): its media type and bytes.
    fn download_attachment(&self, sha256: &str, entity: EntityKind, record_id: &str) -> Result<(String, Vec<u8>), TransportError> {
        let _ = (sha256, entity, record_id);
        Err(no_attachments())
    }
}

/// What a transport without photo uploads answers.
fn no_attachments() -> TransportError {
    TransportError::Refused {
        status: 501,
        body: ErrorBody {
            code: "not_implemented".into(),
            message: "this transport does not carry attachments".into(),
            message_zh: "当前连接方式不支持传输图片".into(),
            protocol: PROTOCOL_VERSION,
        },
    }
}

/// Enrolls a device (login); separate from [`Transport`] because it needs no token.
pub trait Enroller {
    /// Logs in and enrolls this device.
    fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, TransportError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(zh: &str) -> ErrorBody {
        ErrorBody { code: "forbidden".into(), message: "not in your scope".into(), message_zh: zh.into(), protocol: PROTOCOL_VERSION }
    }

    #[test]
    fn server_refusals_carry_the_chinese_message_for_screens() {
        match crate::Error::from(TransportError::Refused { status: 403, body: body("不在您的管辖范围内") }) {
            crate::Error::Server { code, message, message_zh } => {
                assert_eq!((code.as_str(), message.as_str(), message_zh.as_str()), ("forbidden", "not in your scope", "不在您的管辖范围内"));
            }
            other => panic!("{other:?}"),
        }
        // A server that sent no Chinese message: the English one is all there is.
        match crate::Error::from(TransportError::Unauthorized(body(" "))) {
            crate::Error::Unauthorized { message_zh, .. } => assert_eq!(message_zh, "not in your scope"),
            other => panic!("{other:?}"),
        }
    }
}
