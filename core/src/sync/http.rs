//! HTTP transport over reqwest (blocking): JSON bodies compressed with zstd both ways.

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::zstd_body::DecodeError;
use super::transport::{Enroller, Transport, TransportError};
use crate::entities::EntityKind;
use crate::protocol::{
    AttachmentStatus, EnrollRequest, EnrollResponse, ErrorBody, PullRequest, PullResponse, PushRequest, PushResponse, PROTOCOL_VERSION,
    VERSION_HEADER,
};

/// Talks to a `gridline-server` at a base URL such as `http://127.0.0.1:8080`.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    base: String,
    token: Option<String>,
    client: Client,
}

/// Largest decompressed response accepted (64 MiB).
const MAX_RESPONSE: u64 = 64 << 20;

impl HttpTransport {
    /// A transport without a token (enrollment only).
    pub fn new(base_url: &str) -> Result<Self, TransportError> {
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TransportError::Network(e.to_string()))?;
        Ok(HttpTransport { base: base_url.trim_end_matches('/').to_owned(), token: None, client })
    }

    /// The same transport with a device token.
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    fn post<Q: Serialize, R: DeserializeOwned>(&self, path: &str, body: &Q) -> Result<R, TransportError> {
        let json = serde_json::to_vec(body).map_err(|e| TransportError::Network(e.to_string()))?;
        let compressed = super::zstd_body::compress(&json).map_err(|e| TransportError::Network(e.to_string()))?;
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_ENCODING, "zstd")
            .body(compressed);
        self.send(req)
    }

    /// Sends a request with the common headers and decodes the JSON answer or error body.
    fn send<R: DeserializeOwned>(&self, req: reqwest::blocking::RequestBuilder) -> Result<R, TransportError> {
        let (_, bytes) = self.send_raw(req)?;
        serde_json::from_slice(&bytes).map_err(|e| TransportError::Network(format!("bad response: {e}")))
    }

    /// Sends a request with the common headers; a 2xx answer as its media type and bytes.
    fn send_raw(&self, mut req: reqwest::blocking::RequestBuilder) -> Result<(String, Vec<u8>), TransportError> {
        req = req.header(ACCEPT_ENCODING, "zstd").header(VERSION_HEADER, PROTOCOL_VERSION.to_string());
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = req.send().map_err(|e| TransportError::Network(e.to_string()))?;
        let status = resp.status().as_u16();
        let zstd_body = resp
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("zstd"));
        let content_type = resp.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let raw = resp.bytes().map_err(|e| TransportError::Network(e.to_string()))?;
        let bytes = if zstd_body {
            decode_zstd(&raw).map_err(TransportError::Network)?
        } else {
            raw.to_vec()
        };
        if (200..300).contains(&status) {
            return Ok((content_type, bytes));
        }
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            code: "http_error".into(),
            message: format!("HTTP {status}"),
            message_zh: format!("服务器返回错误 {status}"),
            protocol: PROTOCOL_VERSION,
        });
        Err(match status {
            401 => TransportError::Unauthorized(body),
            408 | 429 | 500..=599 => TransportError::Network(format!("HTTP {status}: {}", body.code)),
            _ => TransportError::Refused { status, body },
        })
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
fn query_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode_zstd(raw: &[u8]) -> Result<Vec<u8>, String> {
    super::zstd_body::decompress(raw, MAX_RESPONSE as usize).map_err(|e| match e {
        DecodeError::TooLarge => "response too large".to_owned(),
        DecodeError::Corrupt => "response could not be decompressed".to_owned(),
    })
}

impl Transport for HttpTransport {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.post("/v1/push", req)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.post("/v1/pull", req)
    }
    fn attachment_status(&self, sha256: &str) -> Result<AttachmentStatus, TransportError> {
        self.send(self.client.get(format!("{}/v1/attachments/{sha256}/status", self.base)))
    }
    fn upload_attachment(
        &self,
        sha256: &str,
        mime: &str,
        offset: u64,
        total: u64,
        chunk: &[u8],
    ) -> Result<AttachmentStatus, TransportError> {
        let req = self
            .client
            .put(format!("{}/v1/attachments/{sha256}?offset={offset}&total={total}", self.base))
            .header(CONTENT_TYPE, mime)
            .body(chunk.to_vec());
        self.send(req)
    }
    fn download_attachment(&self, sha256: &str, entity: EntityKind, record_id: &str) -> Result<(String, Vec<u8>), TransportError> {
        let url = format!("{}/v1/attachments/{sha256}?entity={}&id={}", self.base, entity.as_str(), query_escape(record_id));
        self.send_raw(self.client.get(url))
    }
}

impl Enroller for HttpTransport {
    fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, TransportError> {
        self.post("/v1/enroll", req)
    }
}
