//! The `Storage` trait: everything the service needs from a database, and nothing about rules.
//!
//! The service decides (scope, roles, merge, state machine); a storage keeps users, devices,
//! entity rows with their change sequence, field versions, applied ops and conflicts. The trait
//! is narrow enough for a PostgreSQL implementation to follow the SQLite one: a push batch is
//! one [`Storage::batch`] call whose closure drives a [`BatchTx`] (one database transaction),
//! and a pull page is one [`Storage::feed`] call.

pub mod console;
pub mod sqlite;
mod sqlite_accounts;
mod sqlite_attachments;
pub mod sqlite_backup;
mod sqlite_batch;
mod sqlite_console;
mod sqlite_feed;
mod sqlite_writer;

use std::collections::HashMap;

use gridline_core::access::{Principal, Scope, ScopeKeys};
use gridline_core::protocol::{Op, OpResult};
use gridline_core::record::Fields;
use gridline_core::{EntityKind, Role};

pub use console::ConsoleStore;
pub use sqlite::SqliteStorage;
pub use sqlite_batch::stored_results;

/// About how many bytes of row JSON one pull page carries at most (besides its row limit): a
/// page of small rows can be long, a page of long incident descriptions stays short.
pub const FEED_PAGE_BYTES: usize = 4 << 20;

/// What can go wrong in a storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A field value the schema refuses (missing required field, wrong type).
    #[error("invalid field `{field}`")]
    Invalid {
        /// Field name.
        field: String,
        /// Why, in Simplified Chinese.
        reason: String,
    },
    /// The record does not exist.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken (e.g. a username that is taken).
    #[error("already exists")]
    AlreadyExists,
    /// The database failed; the text is for logs only and carries no field values.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// Storage result.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<gridline_core::Error> for StoreError {
    fn from(e: gridline_core::Error) -> Self {
        match e {
            gridline_core::Error::Invalid { field, reason } => StoreError::Invalid { field, reason },
            gridline_core::Error::NotFound { .. } => StoreError::NotFound,
            gridline_core::Error::Sqlite(e) => e.into(),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        // A row the schema refuses is bad input for that one op, not a broken database.
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
            return StoreError::Invalid { field: "record".into(), reason: "不符合数据约束".into() };
        }
        StoreError::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// A user account.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    /// User id (UUIDv7).
    pub id: String,
    /// Login name.
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Scope.
    pub scope: Scope,
    /// Bumped whenever role or scope changes (DESIGN.md sync rule 7).
    pub scope_epoch: i64,
    /// A disabled user cannot enroll or sync.
    pub disabled: bool,
    /// Name shown to supervisors.
    pub display_name: String,
}

impl UserRecord {
    /// The principal this user acts as.
    pub fn principal(&self) -> Principal {
        Principal { user_id: self.id.clone(), role: self.role, scope: self.scope.clone() }
    }
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name (unique).
    pub username: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Scope.
    pub scope: Scope,
    /// Name shown to supervisors.
    pub display_name: String,
}

/// An enrolled device to create.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Device id (UUIDv7).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// SHA-256 of the bearer token, hex.
    pub token_hash: String,
    /// Label.
    pub name: String,
    /// Enrollment time (ms).
    pub created_at: i64,
    /// Token expiry (ms), if tokens expire.
    pub expires_at: Option<i64>,
}

/// A device found by its token, with its user.
#[derive(Debug, Clone)]
pub struct DeviceAuth {
    /// Device id.
    pub device_id: String,
    /// When revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Token expiry, if any.
    pub expires_at: Option<i64>,
    /// Newest scope epoch the device is known to have learned (None: enrolled before this was kept).
    pub epoch_seen: Option<i64>,
    /// The device's user.
    pub user: UserRecord,
}

/// A signed-in console session, stored under the SHA-256 of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the session id, hex.
    pub token_hash: String,
    /// Login name of its user.
    pub username: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The user's console device (the console acts through it).
    pub device_id: String,
    /// Idle expiry (ms).
    pub expires_at: i64,
}

/// One chunk of a photo upload (DESIGN.md sync rule 9).
#[derive(Debug, Clone)]
pub struct NewChunk<'a> {
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: &'a str,
    /// Media type of the whole file.
    pub mime: &'a str,
    /// Where this chunk starts.
    pub offset: u64,
    /// Size of the whole file.
    pub total: u64,
    /// The bytes.
    pub data: &'a [u8],
    /// Uploading device.
    pub device_id: &'a str,
    /// Server time (ms).
    pub at: i64,
}

/// What storing a chunk came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Where the upload stands now.
    Status(gridline_core::protocol::AttachmentStatus),
    /// The last byte arrived and the file's hash did not match: the upload was dropped.
    HashMismatch,
}

/// A stored photo.
#[derive(Debug, Clone)]
pub struct StoredAttachment {
    /// Media type.
    pub mime: String,
    /// The file.
    pub data: Vec<u8>,
    /// The device that uploaded it.
    pub device_id: String,
}

/// A scope a user had before a change (DESIGN.md sync rule 7).
#[derive(Debug, Clone)]
pub struct PriorScope {
    /// The user as they were under that scope.
    pub principal: Principal,
    /// When the scope was replaced (server ms).
    pub ended_at: i64,
}

/// A device as listed for administrators.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Device id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Label.
    pub name: String,
    /// When revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A stored record: its fields (None for a tombstone) and change metadata.
#[derive(Debug, Clone)]
pub struct StoredRow {
    /// The row's fields; `None` when the row is a tombstone.
    pub fields: Option<Fields>,
    /// Sequence of the last change.
    pub seq: i64,
    /// Sequence of the creation (the version of every field never updated since).
    pub created_seq: i64,
    /// The writer that created it (device id, or `server`).
    pub created_by: String,
}

/// When a field was last written and by whom.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldVersion {
    /// Sequence of the write.
    pub seq: i64,
    /// Writer (device id, or `server`).
    pub writer: String,
}

/// An op result kept for idempotency, with the skew facts of the op.
#[derive(Debug, Clone)]
pub struct AppliedOp<'a> {
    /// The device that sent the op.
    pub device_id: &'a str,
    /// The result returned.
    pub result: &'a OpResult,
    /// Device clock of the op (ms).
    pub device_time: i64,
    /// Server clock when the op arrived (ms).
    pub received_at: i64,
    /// Device clock off by more than the allowed skew.
    pub skew_flagged: bool,
}

/// A concurrent edit that lost a field (DESIGN.md sync rule 5).
#[derive(Debug, Clone)]
pub struct ConflictRecord {
    /// Kind of the record.
    pub entity: EntityKind,
    /// Record id.
    pub entity_id: String,
    /// The field.
    pub field: String,
    /// The overwritten value.
    pub lost_value: serde_json::Value,
    /// The value kept.
    pub kept_value: serde_json::Value,
    /// Writer of the overwritten value.
    pub lost_writer: String,
    /// Writer of the kept value.
    pub kept_writer: String,
    /// Sequence of the winning change.
    pub seq: i64,
    /// Server time (ms).
    pub at: i64,
}

/// A stored conflict, as listed for supervisors and tests.
#[derive(Debug, Clone)]
pub struct StoredConflict {
    /// Conflict id.
    pub id: i64,
    /// The conflict.
    pub conflict: ConflictRecord,
}

/// One row of the change feed, before scope filtering and masking.
#[derive(Debug, Clone)]
pub struct FeedRow {
    /// Position in the feed.
    pub seq: i64,
    /// Kind.
    pub entity: EntityKind,
    /// Id.
    pub id: String,
    /// Tombstone.
    pub deleted: bool,
    /// The row's version: its last change, which is `seq` unless the row was re-sent to new
    /// readers without changing (an incident's earlier events after a dispatch).
    pub version: i64,
    /// The row's fields as a JSON object, written from the stored values (`{}` for
    /// tombstones): sent as it is, without a field map per row.
    pub json: String,
}

impl FeedRow {
    /// The fields as a map (masking for roles that may not see personal data; tests).
    pub fn fields(&self) -> Result<Fields, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

/// One page of the change feed.
#[derive(Debug, Clone, Default)]
pub struct FeedPage {
    /// Visible rows, by seq.
    pub rows: Vec<FeedRow>,
    /// The last sequence examined (visible or not); `cursor` when nothing was examined.
    pub last_examined: i64,
    /// More changes exist after `last_examined`.
    pub has_more: bool,
    /// The tombstone horizon in the snapshot the page was read from: a purge that ran after
    /// the caller last looked at it may have removed tombstones the page would have held.
    pub horizon: i64,
}

/// One push or pull, for the sync log.
#[derive(Debug, Clone)]
pub struct SyncLogEntry {
    /// Device.
    pub device_id: String,
    /// Server time (ms).
    pub at: i64,
    /// `push` or `pull`.
    pub kind: &'static str,
    /// Ops pushed or changes pulled.
    pub ops: i64,
    /// Ops rejected.
    pub rejected: i64,
}

/// Row count and content digest of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    /// Rows.
    pub rows: i64,
    /// SHA-256 (hex) of the rows' values, every column, in key order.
    pub sha256: String,
}

/// One applied op, for the change log (server time, who, what).
#[derive(Debug, Clone)]
pub struct ChangeEntry<'a> {
    /// Server time (ms).
    pub at: i64,
    /// Writer: device id, or `server`.
    pub device_id: &'a str,
    /// The user the writer acted for.
    pub user_id: &'a str,
    /// The op.
    pub op: &'a Op,
    /// The op's fields as JSON text (serialised before the batch took the writer).
    pub fields_json: &'a str,
}

/// Area id → parent id: the jurisdiction tree.
pub use gridline_core::access::AreaParents;

/// Whether a row with these scope keys is visible: the pull filter.
pub type VisibleFn<'a> = dyn Fn(EntityKind, &ScopeKeys) -> bool + 'a;

/// One push batch inside one database transaction. Every write gets a new sequence number.
pub trait BatchTx {
    /// Before a batch's ops: reads the results stored for `op_ids` (sent by `device_id`) at
    /// once, so that `stored_result` answers them from memory. Its answers are the same with or
    /// without this; a storage may do nothing here.
    fn prefetch_results(&mut self, device_id: &str, op_ids: &[&str]) -> StoreResult<()> {
        let _ = (device_id, op_ids);
        Ok(())
    }
    /// The result stored for (device, op) by an earlier push, if any.
    fn stored_result(&mut self, device_id: &str, op_id: &str) -> StoreResult<Option<OpResult>>;
    /// Keeps the result of an op for idempotent retries.
    fn save_result(&mut self, op_id: &str, rec: &AppliedOp<'_>) -> StoreResult<()>;
    /// Whether a record (live or tombstone) exists.
    fn exists(&mut self, entity: EntityKind, id: &str) -> StoreResult<bool>;
    /// Reads a record, tombstones included.
    fn load(&mut self, entity: EntityKind, id: &str) -> StoreResult<Option<StoredRow>>;
    /// The fields of a live row as stored (no feed metadata): what a device will read.
    fn row(&mut self, entity: EntityKind, id: &str) -> StoreResult<Option<Fields>>;
    /// Field versions written by updates (fields absent here date from the creation).
    fn field_versions(&mut self, entity: EntityKind, id: &str) -> StoreResult<HashMap<String, FieldVersion>>;
    /// The jurisdiction tree as this transaction sees it.
    fn area_parents(&mut self) -> StoreResult<AreaParents>;
    /// Starts an op: its writes can be undone with `end_op(false)`.
    fn begin_op(&mut self) -> StoreResult<()>;
    /// Ends an op, keeping (`true`) or undoing (`false`) its writes.
    fn end_op(&mut self, keep: bool) -> StoreResult<()>;
    /// Creates a record (with the rows derived from it, e.g. an incident's `reported` event).
    /// Returns its sequence, or `AlreadyExists` (having written nothing) when a record of that
    /// id exists or existed (a tombstone).
    fn create(&mut self, entity: EntityKind, id: &str, fields: &Fields, writer: &str) -> StoreResult<i64>;
    /// Changes fields of a live record and records their field versions. Returns the sequence.
    fn update(&mut self, entity: EntityKind, id: &str, fields: &Fields, writer: &str) -> StoreResult<i64>;
    /// Deletes a record, leaving a tombstone (a household: its residents first, each with its
    /// own). Returns the record's sequence.
    fn delete(&mut self, entity: EntityKind, id: &str) -> StoreResult<i64>;
    /// Appends an event to an incident's timeline and re-derives the incident. Returns the
    /// incident's new sequence.
    fn append_event(&mut self, incident_id: &str, event_id: &str, fields: &Fields, writer: &str) -> StoreResult<i64>;
    /// Keeps a conflict record.
    fn save_conflict(&mut self, c: &ConflictRecord) -> StoreResult<()>;
    /// Records an applied op in the change log, at the sequences the op assigned since
    /// `begin_op`.
    fn log_change(&mut self, c: &ChangeEntry<'_>) -> StoreResult<()>;
    /// Appends to the sync log and notes the device as seen, inside this transaction.
    fn log_sync(&mut self, e: &SyncLogEntry) -> StoreResult<()>;
}

/// The server's database.
pub trait Storage: Send + Sync + 'static {
    /// Creates a user.
    fn add_user(&self, u: &NewUser) -> StoreResult<UserRecord>;
    /// A user by login name.
    fn user_by_name(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Every user, by login name.
    fn users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Replaces a user's password hash and ends their console sessions, in one transaction.
    /// False when there is no such user.
    fn set_password(&self, username: &str, password_hash: &str) -> StoreResult<bool>;
    /// Disables or enables a user. False when there is no such user.
    fn set_disabled(&self, username: &str, disabled: bool) -> StoreResult<bool>;
    /// Replaces role and scope and bumps the scope epoch; returns the new epoch.
    fn set_scope(&self, username: &str, role: Role, scope: &Scope, at: i64) -> StoreResult<Option<i64>>;
    /// The role and scope `user_id` had under `epoch`, if that epoch was replaced.
    fn prior_scope(&self, user_id: &str, epoch: i64) -> StoreResult<Option<PriorScope>>;
    /// Records that a device presented scope epoch `epoch` (never lowers the stored value).
    fn note_epoch_seen(&self, device_id: &str, epoch: i64) -> StoreResult<()>;
    /// Where the upload of a photo stands.
    fn attachment_status(&self, sha256: &str) -> StoreResult<gridline_core::protocol::AttachmentStatus>;
    /// Stores one chunk of a photo, in one transaction.
    fn put_attachment_chunk(&self, chunk: &NewChunk<'_>) -> StoreResult<ChunkOutcome>;
    /// A whole, verified photo.
    fn attachment(&self, sha256: &str) -> StoreResult<Option<StoredAttachment>>;
    /// Enrolls a device.
    fn add_device(&self, d: &NewDevice) -> StoreResult<()>;
    /// Gives device `d.id` of `d.user_id` a new token, name and expiry (a login again on the
    /// same device); false, changing nothing, when there is no such device of that user or it
    /// was revoked. The device keeps the scope epoch it has seen.
    fn reenroll_device(&self, d: &NewDevice) -> StoreResult<bool>;
    /// A device by the hash of its token.
    fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceAuth>>;
    /// Devices of a user.
    fn devices(&self, user_id: &str) -> StoreResult<Vec<DeviceInfo>>;
    /// Revokes a device's token. False when there is no such device.
    fn revoke_device(&self, device_id: &str, at: i64) -> StoreResult<bool>;
    /// Stores a new console session and forgets those expired by `now`.
    fn put_session(&self, s: &ConsoleSession, now: i64) -> StoreResult<()>;
    /// The console session stored under `token_hash`, if it has not expired by `now`.
    fn session(&self, token_hash: &str, now: i64) -> StoreResult<Option<ConsoleSession>>;
    /// Moves a session's idle expiry.
    fn touch_session(&self, token_hash: &str, expires_at: i64) -> StoreResult<()>;
    /// Ends a session (logout, a disabled user).
    fn end_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Runs one push batch in one transaction; commits (durably) when `f` returns Ok.
    fn batch(&self, f: &mut dyn FnMut(&mut dyn BatchTx) -> StoreResult<()>) -> StoreResult<()>;
    /// One page of changes after `cursor`: at most `limit` visible rows, examining at most
    /// `max_scan` changes.
    fn feed(&self, cursor: i64, limit: usize, max_scan: usize, visible: &VisibleFn<'_>) -> StoreResult<FeedPage>;
    /// The jurisdiction tree.
    fn area_parents(&self) -> StoreResult<AreaParents>;
    /// Tombstones at or below this sequence may have been purged.
    fn tombstone_horizon(&self) -> StoreResult<i64>;
    /// Purges tombstones with a sequence at or below `up_to_seq` (or the last change's, if that
    /// is lower: the horizon never passes it); returns how many.
    fn purge_tombstones(&self, up_to_seq: i64) -> StoreResult<u64>;
    /// Conflicts, newest first.
    fn conflicts(&self, limit: usize) -> StoreResult<Vec<StoredConflict>>;
    /// Appends to the sync log and notes the device as seen.
    fn log_sync(&self, e: &SyncLogEntry) -> StoreResult<()>;
    /// The highest sequence assigned so far.
    fn max_seq(&self) -> StoreResult<i64>;
    /// Whether the storage can still answer: an error once it cannot (the SQLite storage after a
    /// failed sync to disk, until the server is restarted).
    fn health(&self) -> StoreResult<()> {
        Ok(())
    }
    /// Trades durability for speed while seeding demo data: commits stay atomic but are not
    /// synced to disk until switched off again.
    fn set_bulk_load(&self, _on: bool) -> StoreResult<()> {
        Ok(())
    }
    /// The console's and the statistics' reads.
    fn console(&self) -> &dyn ConsoleStore;
    /// A digest of every stored row of every table but the sync log: equal digests, equal
    /// databases (tests).
    fn fingerprint(&self) -> StoreResult<String>;
    /// Row count and a digest of the canonical content of every table, by name: what changed
    /// where (tests compare them around refused requests).
    fn table_digests(&self) -> StoreResult<std::collections::BTreeMap<String, TableDigest>>;
}
