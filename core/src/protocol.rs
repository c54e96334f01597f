//! Wire protocol types shared by the device and the server: serde only, usable without the store.
//!
//! Every request names [`PROTOCOL_VERSION`]; bodies are JSON, optionally compressed
//! (`Content-Encoding: zstd` or `gzip`, negotiated with `Accept-Encoding`).

use serde::{Deserialize, Serialize};

use crate::access::Principal;
use crate::entities::EntityKind;
use crate::record::Fields;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Header carrying the protocol version on every request.
pub const VERSION_HEADER: &str = "x-gridline-protocol";

/// What an op does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Creates the record with the given fields.
    Create,
    /// Changes the given fields.
    Update,
    /// Deletes the record (a tombstone on the server).
    Delete,
    /// Appends an event to an incident's timeline (fields of the event).
    Event,
}

impl OpKind {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Delete => "delete",
            OpKind::Event => "event",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [OpKind::Create, OpKind::Update, OpKind::Delete, OpKind::Event].into_iter().find(|k| k.as_str() == s)
    }
}

/// One local mutation on its way to the server (DESIGN.md sync rule 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// Unique id of the op (UUIDv7), the idempotency key together with the device.
    pub op_id: String,
    /// Strictly increasing per device.
    pub device_seq: i64,
    /// Kind of the record.
    pub entity: EntityKind,
    /// Id of the record (for events: the incident).
    pub entity_id: String,
    /// What the op does.
    pub kind: OpKind,
    /// Changed fields only (all fields for a create; the event's fields for an event).
    pub fields: Fields,
    /// Server version of the record the device had when it made the change.
    pub base_version: i64,
    /// Device clock at the change, ms since the epoch (kept, never trusted for ordering).
    pub device_time: i64,
}

/// `POST /v1/push` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Protocol version of the client.
    pub protocol: u32,
    /// Ops in `device_seq` order.
    pub ops: Vec<Op>,
    /// Device clock when the batch was sent (for skew detection).
    pub sent_at: i64,
    /// The scope epoch the device held when it wrote these ops (absent before its first pull).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_epoch: Option<i64>,
}

/// Outcome of one pushed op (DESIGN.md sync rule 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// Applied as sent.
    Applied,
    /// Seen before; the stored result is returned again.
    Duplicate,
    /// Applied; some fields overwrote a concurrent edit, which was kept as a conflict.
    Merged,
    /// Refused; `code` and `reason` say why. The op leaves the outbox for the rejected list.
    Rejected,
}

/// The server's answer for one op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    /// The op this answers.
    pub op_id: String,
    /// Outcome.
    pub status: OpStatus,
    /// Server sequence assigned to the change (absent when rejected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Machine code of a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human reason of a rejection (Simplified Chinese).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Fields whose concurrent value was overwritten (for `merged`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// With a rejection: the server's copy of the record the op was about (an event op: its
    /// incident) as the user would pull it, or a tombstone if it was deleted; absent when there
    /// is none or the user may not read it. The device puts its row back from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Box<Change>>,
}

/// `POST /v1/push` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushResponse {
    /// One result per op, in request order.
    pub results: Vec<OpResult>,
    /// Server clock (ms).
    pub server_time: i64,
    /// True when the device clock differs from the server's by more than the allowed skew.
    #[serde(default)]
    pub clock_skew_flagged: bool,
}

/// `POST /v1/pull` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullRequest {
    /// Protocol version of the client.
    pub protocol: u32,
    /// Last sequence the device has applied (0 = bootstrap).
    pub cursor: i64,
    /// Page size wish (the server caps it).
    pub limit: u32,
    /// The scope epoch the device's rows were pulled under (absent on bootstrap).
    #[serde(default)]
    pub scope_epoch: Option<i64>,
}

/// One change of the feed. `F` is how its fields are held: a field map (devices, tests), or
/// the server's already-serialized JSON object, which it sends without building a map per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<F = Fields> {
    /// Global server sequence.
    pub seq: i64,
    /// Kind of the record.
    pub entity: EntityKind,
    /// Record id.
    pub id: String,
    /// True for a tombstone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The row's version when it differs from `seq`: a row re-sent to new readers without
    /// changing keeps its version (an incident's earlier events after a dispatch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// The whole row as the caller may see it (personal fields masked by role); empty for tombstones.
    #[serde(default)]
    pub fields: F,
}

/// `POST /v1/pull` response (`F` as in [`Change`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "F: Deserialize<'de> + Default"))]
pub struct PullResponse<F = Fields> {
    /// Changes with seq > cursor in the caller's scope, by seq.
    pub changes: Vec<Change<F>>,
    /// Cursor to send next: the last sequence examined, or, on the last page, the server's
    /// sequence as far as it went when the page was read (which may lie past the last change).
    pub next_cursor: i64,
    /// More pages follow.
    pub has_more: bool,
    /// The caller's current scope epoch.
    pub scope_epoch: i64,
    /// Set when the request's epoch is stale: purge rows outside the new scope and re-pull from 0.
    #[serde(default)]
    pub scope_changed: bool,
    /// Set when the cursor is older than the tombstone horizon: re-bootstrap from 0.
    #[serde(default)]
    pub rebootstrap: bool,
    /// Who the server says the caller is (role and scope come from the token).
    pub principal: Principal,
}

/// Error body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Machine code (`bad_json`, `unsupported_protocol`, `too_large`, `unauthorized`, …).
    pub code: String,
    /// English message.
    pub message: String,
    /// Simplified Chinese message for people.
    pub message_zh: String,
    /// The protocol version the server speaks.
    pub protocol: u32,
}

/// `POST /v1/enroll` body: a user logs in on a device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Protocol version of the client.
    pub protocol: u32,
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
    /// A label for the device (model), shown to supervisors.
    pub device_name: String,
    /// The id this device was enrolled under before (a login again after its token expired or
    /// was revoked): for the same user the server keeps it, so the device's ops sent before the
    /// login and sent again after it are still recognised as sent (no op applied twice). Added
    /// to protocol 1 later: a server that predates it refuses the field, so servers are upgraded
    /// before the devices they serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// `POST /v1/enroll` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// Device id assigned by the server.
    pub device_id: String,
    /// Bearer token (shown once; the server keeps only its hash).
    pub token: String,
    /// Who the user is.
    pub principal: Principal,
    /// The user's current scope epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_epoch: Option<i64>,
}

/// Largest attachment (photo) accepted, in bytes.
pub const MAX_ATTACHMENT_BYTES: u64 = 10 << 20;
/// Attachment media types accepted.
pub const ATTACHMENT_MIME_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp"];

/// Where an attachment upload stands on the server: `PUT /v1/attachments/{sha256}` (one chunk)
/// and `GET /v1/attachments/{sha256}/status` answer with it (DESIGN.md sync rule 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentStatus {
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Bytes the server holds so far (the next chunk starts here).
    pub received: u64,
    /// Size of the whole file (0 when the server has never heard of it).
    pub total: u64,
    /// The server has the whole file and its hash matched.
    pub complete: bool,
}
