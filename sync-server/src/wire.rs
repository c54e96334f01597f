//! The wire: request bodies (size limits, `Content-Encoding: zstd|gzip`, JSON into the protocol
//! types with the API's own error body) and responses compressed as `Accept-Encoding` asks.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use gridline_core::protocol::{EnrollRequest, PullRequest, PushRequest, PROTOCOL_VERSION, VERSION_HEADER};
use gridline_core::sync::zstd_body::{self, DecodeError};

use crate::error::AppError;
use crate::AppState;

/// A request type that names its protocol version.
pub trait Versioned {
    /// The version the client speaks.
    fn protocol(&self) -> u32;
}

impl Versioned for PushRequest {
    fn protocol(&self) -> u32 {
        self.protocol
    }
}
impl Versioned for PushEnvelope {
    fn protocol(&self) -> u32 {
        self.protocol
    }
}
impl Versioned for PullRequest {
    fn protocol(&self) -> u32 {
        self.protocol
    }
}
impl Versioned for EnrollRequest {
    fn protocol(&self) -> u32 {
        self.protocol
    }
}

/// `POST /v1/push` as the server reads it: the envelope strictly (a body that is not a push
/// request is refused whole), the ops as raw JSON, decoded one by one so that one malformed op
/// is rejected alone (`service::push::decode_op`) and does not block the device's queue.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushEnvelope {
    /// Protocol version of the client.
    pub protocol: u32,
    /// The ops, undecoded (each one's JSON text, checked for syntax only).
    pub ops: Vec<Box<serde_json::value::RawValue>>,
    /// Device clock when the batch was sent.
    pub sent_at: i64,
    /// The scope epoch the device held when it wrote these ops.
    #[serde(default)]
    pub scope_epoch: Option<i64>,
}

/// How deep a request body may nest arrays and objects: serde_json's limit for a parsed value.
const MAX_NESTING: usize = 128;

impl PushEnvelope {
    /// Refuses a body that nests deeper than a parsed body may. The ops are kept as text when
    /// the envelope is read, which does not count their depth; this keeps the limit the body
    /// had when it was read whole (the envelope and its op list are two of the levels).
    pub fn check_nesting(&self) -> Result<(), AppError> {
        match self.ops.iter().position(|op| nests_deeper(op.get(), MAX_NESTING - 2)) {
            Some(i) => Err(AppError::bad_json(format!("malformed JSON: op {i} nests deeper than {MAX_NESTING} levels"))),
            None => Ok(()),
        }
    }
}

/// Whether valid JSON text nests arrays and objects more than `limit` deep.
fn nests_deeper(json: &str, limit: usize) -> bool {
    // Fewer opening brackets than the limit, wherever they are, cannot nest deeper (an op has a
    // handful); this count is a fast pass, the walk below only runs for a text that has more.
    if json.bytes().filter(|&b| b == b'[' || b == b'{').count() <= limit {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Content codings this server reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// None.
    Identity,
    /// zstd.
    Zstd,
    /// gzip.
    Gzip,
}

impl Coding {
    /// The coding to answer with, from `Accept-Encoding` (zstd preferred, then gzip).
    pub fn accepted(headers: &HeaderMap) -> Coding {
        let accept = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
        let offers = |name: &str| {
            accept.split(',').any(|part| {
                let mut it = part.split(';');
                let coding = it.next().unwrap_or("").trim();
                let refused = it.any(|p| p.trim().replace(' ', "") == "q=0");
                coding.eq_ignore_ascii_case(name) && !refused
            })
        };
        if offers("zstd") {
            Coding::Zstd
        } else if offers("gzip") {
            Coding::Gzip
        } else {
            Coding::Identity
        }
    }
}

/// A JSON request body decoded into `T`, plus the coding the answer should use.
pub struct Wire<T> {
    /// The decoded request.
    pub value: T,
    /// How to compress the answer.
    pub accept: Coding,
}

/// A compressed body that could not be read, as the API's error.
fn decode_error(e: DecodeError, limit: usize) -> AppError {
    match e {
        DecodeError::TooLarge => AppError::too_large(format!("decompressed body exceeds {limit} bytes")),
        DecodeError::Corrupt => AppError::bad_request("body could not be decompressed", "请求内容解压失败"),
    }
}

/// Decodes a body as sent with `Content-Encoding`.
pub fn decode_body(headers: &HeaderMap, raw: &[u8], limit: usize) -> Result<Vec<u8>, AppError> {
    // A header that is not text names no coding this server knows (it is not "identity").
    let coding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "" | "identity" => {
            if raw.len() > limit {
                return Err(AppError::too_large(format!("body exceeds {limit} bytes")));
            }
            Ok(raw.to_vec())
        }
        "zstd" => zstd_body::decompress(raw, limit).map_err(|e| decode_error(e, limit)),
        "gzip" | "x-gzip" => zstd_body::read_bounded(flate2::read::GzDecoder::new(raw), limit).map_err(|e| decode_error(e, limit)),
        _ => Err(AppError::unsupported_media("unsupported Content-Encoding (use zstd or gzip)")),
    }
}

/// Only the version, read when the full request does not parse.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    protocol: Option<u32>,
}

/// Parses JSON into `T`, mapping serde errors to the API's error body without echoing values.
pub fn parse_json<T: DeserializeOwned + Versioned>(bytes: &[u8]) -> Result<T, AppError> {
    match serde_json::from_slice::<T>(bytes) {
        Ok(v) if v.protocol() == PROTOCOL_VERSION => Ok(v),
        Ok(v) => Err(AppError::unsupported_protocol(Some(v.protocol()))),
        Err(e) => {
            use serde_json::error::Category;
            if matches!(e.classify(), Category::Syntax | Category::Eof | Category::Io) {
                return Err(AppError::bad_json(format!("malformed JSON at line {} column {}", e.line(), e.column())));
            }
            // A body from another protocol version is reported as such, not as a schema error.
            if let Ok(Probe { protocol: Some(p) }) = serde_json::from_slice::<Probe>(bytes) {
                if p != PROTOCOL_VERSION {
                    return Err(AppError::unsupported_protocol(Some(p)));
                }
            }
            Err(AppError::invalid_body(describe_serde_error(&e), "请求内容与接口格式不符"))
        }
    }
}

/// A serde error as a message that never quotes a value (values may be personal data): the
/// value-free messages (unknown/missing/duplicate field, unknown variant) pass, the others are
/// reduced to their position.
pub fn describe_serde_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let safe = ["missing field", "duplicate field"].iter().any(|p| text.starts_with(p));
    if safe {
        // Only names of the schema are quoted.
        text
    } else if let Some(kind) = ["unknown field", "unknown variant"].into_iter().find(|p| text.starts_with(p)) {
        // The unknown name came from the client: quoted only when it looks like a name (a short
        // identifier, hardly any digits), never when it could be a value such as a phone number.
        // The rest of the message lists the expected names.
        let quoted = text.split('`').nth(1).unwrap_or_default();
        let name_like = quoted.len() <= 32
            && quoted.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && quoted.chars().filter(char::is_ascii_digit).count() <= 3;
        if name_like {
            text
        } else {
            let rest = text.splitn(3, '`').nth(2).unwrap_or_default();
            format!("{kind}{rest}")
        }
    } else if e.line() == 0 {
        "a value has the wrong type".to_owned()
    } else {
        format!("a value has the wrong type at line {} column {}", e.line(), e.column())
    }
}

/// How many bytes past the limit are read and thrown away before a 413 is sent, so that a client
/// still writing its body reads the answer instead of a connection reset.
const DRAIN_FACTOR: usize = 4;

/// Reads a request body of at most `limit` bytes. A body over the limit (declared or actual) is
/// answered with 413 `too_large`: the rest of it is read and discarded first (up to
/// [`DRAIN_FACTOR`] × `limit`), because closing a socket with unread data makes the peer's kernel
/// reset the connection before the client has read the answer. A client that sent
/// `Expect: 100-continue` has not sent the body yet and gets the 413 at once.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, AppError> {
    use http_body_util::BodyExt;
    let too_large = || AppError::too_large(format!("body exceeds {limit} bytes")).closing();
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let expects_continue =
        headers.get(header::EXPECT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let drain_cap = limit.saturating_mul(DRAIN_FACTOR) as u64;
    if let Some(n) = declared.filter(|&n| n > limit as u64) {
        if !expects_continue && n <= drain_cap {
            drain(body, drain_cap).await;
        }
        return Err(too_large());
    }
    let mut body = body;
    let mut out = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| AppError::bad_request("request body could not be read", "请求内容读取失败"))?;
        let Ok(data) = frame.into_data() else { continue };
        if out.len() + data.len() > limit {
            drain(body, drain_cap.saturating_sub((out.len() + data.len()) as u64)).await;
            return Err(too_large());
        }
        out.extend_from_slice(&data);
    }
    Ok(out)
}

/// Reads and discards up to `cap` more bytes of a body.
async fn drain(mut body: Body, cap: u64) {
    use http_body_util::BodyExt;
    let mut seen = 0u64;
    while seen <= cap {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len() as u64),
            _ => return,
        }
    }
}

impl<T: DeserializeOwned + Versioned + Send> FromRequest<AppState> for Wire<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let config = state.service.config();
        let (parts, body) = req.into_parts();
        if let Some(v) = parts.headers.get(VERSION_HEADER) {
            let v = v.to_str().ok().and_then(|s| s.trim().parse::<u32>().ok());
            if v != Some(PROTOCOL_VERSION) {
                return Err(AppError::unsupported_protocol(v));
            }
        }
        if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            let mime = ct.split(';').next().unwrap_or("").trim();
            if !(mime.eq_ignore_ascii_case("application/json") || mime.to_ascii_lowercase().ends_with("+json")) {
                return Err(AppError::unsupported_media("Content-Type must be application/json"));
            }
        }
        let raw = read_limited(&parts.headers, body, config.max_body_bytes).await?;
        let bytes = decode_body(&parts.headers, &raw, config.max_decoded_bytes)?;
        let value = parse_json::<T>(&bytes)?;
        Ok(Wire { value, accept: Coding::accepted(&parts.headers) })
    }
}

/// A JSON answer, compressed as the request accepted.
pub struct Reply {
    body: Vec<u8>,
    coding: Coding,
}

impl Reply {
    /// Serializes `value`.
    pub fn json<T: Serialize>(value: &T, coding: Coding) -> Result<Reply, AppError> {
        let body = serde_json::to_vec(value).map_err(|e| AppError::internal(&e))?;
        Ok(Reply { body, coding })
    }
}

/// Compresses `body` with `coding`.
pub fn encode_body(body: &[u8], coding: Coding) -> std::io::Result<Vec<u8>> {
    match coding {
        Coding::Identity => Ok(body.to_vec()),
        Coding::Zstd => zstd_body::compress(body),
        Coding::Gzip => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(body)?;
            enc.finish()
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let encoding = match self.coding {
            Coding::Identity => None,
            Coding::Zstd => Some("zstd"),
            Coding::Gzip => Some("gzip"),
        };
        let body = match encode_body(&self.body, self.coding) {
            Ok(b) => b,
            Err(e) => return AppError::internal(&e).into_response(),
        };
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = StatusCode::OK;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(enc) = encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(enc));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert!(!nests_deeper(&nested(3), 3));
        assert!(nests_deeper(&nested(4), 3));
        assert!(nests_deeper(r#"{"a":{"b":[[1]]}}"#, 3));
        // Brackets and escaped quotes inside strings are text.
        assert!(!nests_deeper(r#"{"a":"[[[[{{{{","b":"\"[[[[\\"}"#, 1));
        assert!(nests_deeper(r#"{"a":"\\","b":[{}]}"#, 2));
        let env: PushEnvelope =
            serde_json::from_str(&format!(r#"{{"protocol":1,"ops":[{{}},{}],"sent_at":0}}"#, nested(127))).expect("envelope");
        assert_eq!(env.check_nesting().map_err(|e| e.code), Err("bad_json"));
        let env: PushEnvelope =
            serde_json::from_str(&format!(r#"{{"protocol":1,"ops":[{}],"sent_at":0}}"#, nested(126))).expect("envelope");
        assert!(env.check_nesting().is_ok());
    }

    #[test]
    fn accept_encoding_prefers_zstd_then_gzip() {
        let mut h = HeaderMap::new();
        assert_eq!(Coding::accepted(&h), Coding::Identity);
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, deflate"));
        assert_eq!(Coding::accepted(&h), Coding::Gzip);
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, zstd"));
        assert_eq!(Coding::accepted(&h), Coding::Zstd);
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("zstd;q=0, gzip"));
        assert_eq!(Coding::accepted(&h), Coding::Gzip);
    }

    #[test]
    fn decompression_is_bounded() {
        let big = vec![b'a'; 10_000];
        let z = encode_body(&big, Coding::Zstd).unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("zstd"));
        assert_eq!(decode_body(&h, &z, 20_000).unwrap(), big);
        assert_eq!(decode_body(&h, &z, 5_000).unwrap_err().code, "too_large");
        let g = encode_body(&big, Coding::Gzip).unwrap();
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert_eq!(decode_body(&h, &g, 20_000).unwrap(), big);
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert_eq!(decode_body(&h, &g, 20_000).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn json_errors_do_not_echo_values() {
        let e = parse_json::<PullRequest>(br#"{"protocol":1,"cursor":"13800138000","limit":1}"#).unwrap_err();
        assert_eq!(e.code, "invalid_body");
        assert!(!e.message.contains("13800138000"));
        assert_eq!(parse_json::<PullRequest>(b"{not json").unwrap_err().code, "bad_json");
        // An unknown key is named when it looks like a name, not when it could be a value.
        let e = parse_json::<PullRequest>(br#"{"protocol":1,"cursor":0,"limit":1,"curser":0}"#).unwrap_err();
        assert!(e.message.starts_with("unknown field `curser`"), "{e}");
        let e = parse_json::<PullRequest>(br#"{"protocol":1,"cursor":0,"limit":1,"13800138000":0}"#).unwrap_err();
        assert!(e.message.starts_with("unknown field, expected") && !e.message.contains("13800138000"), "{e}");
        assert_eq!(parse_json::<PullRequest>(br#"{"protocol":9,"cursor":0,"limit":1}"#).unwrap_err().code, "unsupported_protocol");
        assert_eq!(parse_json::<PullRequest>(br#"{"protocol":9,"cursor":"x"}"#).unwrap_err().code, "unsupported_protocol");
    }
}
