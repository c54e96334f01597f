//! Login, sync with progress and cancellation, the outbox's status and the rejected list.

use std::sync::Arc;

use gridline_core::access::Principal;
use gridline_core::outbox;
use gridline_core::protocol::OpKind;
use gridline_core::sync::{CancelToken, HttpTransport, Progress, SyncOptions, SyncPhase, SyncReport, SyncStatus};
use gridline_core::{EntityKind, Error, RejectedOp};

use crate::error::{guard, ApiError};
use crate::store::GridlineStore;

/// Which part of a sync is running.
#[uniffi::remote(Enum)]
pub enum SyncPhase {
    /// Sending the outbox.
    Push,
    /// Receiving the change feed.
    Pull,
    /// Removing rows outside a changed scope.
    Purge,
    /// Uploading photos.
    Upload,
}

/// One progress report: `done` of `total` in `phase` (`total` grows as pages arrive when pulling).
#[uniffi::remote(Record)]
pub struct Progress {
    /// Phase.
    pub phase: SyncPhase,
    /// Units done (ops pushed, changes pulled).
    pub done: u64,
    /// Units known so far.
    pub total: u64,
}

/// What a finished sync did.
#[uniffi::remote(Record)]
pub struct SyncReport {
    /// Ops acknowledged by the server.
    pub pushed: u64,
    /// Ops the server rejected (now in `rejectedChanges()`).
    pub rejected: u64,
    /// Changes pulled and applied.
    pub pulled: u64,
    /// Requests retried after network errors.
    pub retries: u64,
    /// The user's scope changed: rows outside it were removed and the rest re-pulled.
    pub scope_changed: bool,
    /// The server found this device's clock far off its own.
    pub clock_skew_flagged: bool,
    /// Photos uploaded whole.
    pub photos_uploaded: u64,
    /// Photos the server refused this time (kept on the device, tried again next sync).
    pub photos_refused: u64,
}

/// Sync status for screens.
#[uniffi::remote(Record)]
pub struct SyncStatus {
    /// Changes waiting to be sent.
    pub pending_ops: u64,
    /// Changes the server refused.
    pub rejected_ops: u64,
    /// When the last sync succeeded (ms).
    pub last_success_at: Option<i64>,
    /// The last sync's error, if it failed.
    pub last_error: Option<String>,
    /// Pull cursor (the last server sequence applied).
    pub cursor: i64,
    /// Device id given by the server at login.
    pub device_id: Option<String>,
}

/// What a refused change did to its record.
#[uniffi::remote(Enum)]
pub enum OpKind {
    /// Created the record.
    Create,
    /// Changed fields.
    Update,
    /// Deleted the record.
    Delete,
    /// Appended an incident event.
    Event,
}

/// A change the server refused, kept for the user to see (it no longer blocks the queue).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RejectedChange {
    /// Id of the change (pass it to `dismissRejected`).
    pub op_id: String,
    /// Kind of record changed.
    pub entity: EntityKind,
    /// The record's id (for incident events: the incident).
    pub entity_id: String,
    /// What the change did.
    pub kind: OpKind,
    /// The fields it sent, as a JSON object.
    pub fields_json: String,
    /// Machine code of the refusal (`out_of_scope`, `field_protected`, …).
    pub code: String,
    /// Why, in Simplified Chinese.
    pub reason: String,
    /// When the change was made (device time, ms).
    pub device_time: i64,
    /// When the device learned of the refusal (ms).
    pub rejected_at: i64,
}

impl From<RejectedOp> for RejectedChange {
    fn from(r: RejectedOp) -> Self {
        RejectedChange {
            op_id: r.op.op_id,
            entity: r.op.entity,
            entity_id: r.op.entity_id,
            kind: r.op.kind,
            fields_json: serde_json::Value::Object(r.op.fields).to_string(),
            code: r.code,
            reason: r.reason,
            device_time: r.op.device_time,
            rejected_at: r.rejected_at,
        }
    }
}

/// Receives progress reports while a sync runs, on the thread that called `sync`.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    /// Called at the start of each phase and after each batch or page.
    fn on_progress(&self, progress: Progress);
}

/// Cancels a running sync: it stops at the next request (or during a retry's wait) with
/// `ApiError.Cancelled`; what was already acknowledged or applied stays.
#[derive(uniffi::Object, Default)]
pub struct SyncCancelToken {
    inner: CancelToken,
}

#[uniffi::export]
impl SyncCancelToken {
    /// A fresh token.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Asks the sync using this token to stop (from any thread, or from the listener).
    pub fn cancel(&self) {
        self.inner.cancel()
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

#[uniffi::export]
impl GridlineStore {
    /// Logs `username` in on this device at the server (`https://…`): the server's answer says
    /// who the user is and where they may act; the device token is kept in the store.
    pub fn enroll(
        &self,
        server_url: String,
        username: String,
        password: String,
        device_name: String,
    ) -> Result<Principal, ApiError> {
        guard(|| {
            let server = HttpTransport::new(&server_url)?;
            self.inner.enroll(&server, &username, &password, &device_name)?;
            self.inner.principal().ok_or(Error::NotEnrolled)
        })
    }

    /// Sends the outbox, then pulls the change feed until caught up; blocks until done.
    /// Network errors are retried with backoff; `cancel` stops it early. While another sync of
    /// this store runs, this one waits for it to finish first.
    #[uniffi::method(default(listener = None, cancel = None))]
    pub fn sync(
        &self,
        server_url: String,
        listener: Option<Arc<dyn SyncListener>>,
        cancel: Option<Arc<SyncCancelToken>>,
    ) -> Result<SyncReport, ApiError> {
        guard(|| {
            let token = self.inner.device_token()?.ok_or(Error::NotEnrolled)?;
            let server = HttpTransport::new(&server_url)?.with_token(&token);
            let cancel = cancel.map(|c| c.inner.clone()).unwrap_or_default();
            let progress = |p: Progress| {
                if let Some(l) = &listener {
                    l.on_progress(p)
                }
            };
            self.inner.sync(&server, &SyncOptions::default(), &progress, &cancel)
        })
    }

    /// The bytes of a photo an incident refers to: from this device when kept here, otherwise
    /// fetched from the server through the incident (which the user must be able to read) and
    /// kept. Bytes that do not match the hash are refused.
    pub fn fetch_incident_photo(&self, server_url: String, incident_id: String, sha256: String) -> Result<Vec<u8>, ApiError> {
        self.fetch_photo(server_url, EntityKind::Incident, incident_id, sha256)
    }

    /// The bytes of a photo submitted as task evidence, like [`Self::fetch_incident_photo`].
    pub fn fetch_evidence_photo(&self, server_url: String, assignment_id: String, sha256: String) -> Result<Vec<u8>, ApiError> {
        self.fetch_photo(server_url, EntityKind::TaskAssignment, assignment_id, sha256)
    }

    /// Sync status for screens: pending and rejected counts, last success or error.
    pub fn sync_status(&self) -> Result<SyncStatus, ApiError> {
        guard(|| self.inner.sync_status())
    }

    /// Number of changes waiting to be sent.
    pub fn pending_count(&self) -> Result<u64, ApiError> {
        guard(|| self.inner.pending_ops())
    }

    /// Changes the server refused, oldest first.
    pub fn rejected_changes(&self) -> Result<Vec<RejectedChange>, ApiError> {
        guard(|| self.inner.rejected_ops()).map(|v| v.into_iter().map(RejectedChange::from).collect())
    }

    /// Removes a refused change from the list (the user has seen it); false if it was not there.
    pub fn dismiss_rejected(&self, op_id: String) -> Result<bool, ApiError> {
        guard(|| self.inner.write(|tx| outbox::dismiss_rejected(tx, &op_id)))
    }
}

impl GridlineStore {
    fn fetch_photo(&self, server_url: String, entity: EntityKind, record_id: String, sha256: String) -> Result<Vec<u8>, ApiError> {
        guard(|| {
            let token = self.inner.device_token()?.ok_or(Error::NotEnrolled)?;
            let server = HttpTransport::new(&server_url)?.with_token(&token);
            Ok(self.inner.fetch_photo(&server, entity, &record_id, &sha256)?.data)
        })
    }
}
