//! The sync client: push the outbox in batches until it is empty, then pull the change feed
//! until caught up; retries transport errors with backoff, never dropping or reordering ops;
//! reports progress; can be cancelled between (and during the backoff of) requests.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::index_builder::{self, IndexBuilder};
use super::merge::{self, CURSOR, SCOPE_EPOCH};
use super::transport::{Enroller, Transport, TransportError};
use crate::error::{Error, Result};
use crate::outbox;
use crate::protocol::{EnrollRequest, PullRequest, PushRequest, PushResponse, PROTOCOL_VERSION};
use crate::store::{meta_get, meta_set, Store};

/// Tuning of a sync run.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Ops per push batch.
    pub batch_ops: usize,
    /// Approximate bytes per push batch.
    pub batch_bytes: usize,
    /// Changes per pulled page.
    pub page_size: u32,
    /// Attempts per request before giving up (transport errors only).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt up to `max_backoff`.
    pub base_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            batch_ops: 500,
            batch_bytes: 512 * 1024,
            page_size: 5000,
            max_attempts: 6,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

/// Bytes of a photo sent in one request.
pub const UPLOAD_CHUNK: usize = 256 << 10;

/// Which part of a sync is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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

/// One progress report: `done` of `total` in `phase` (`total` is an estimate for pulls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Phase.
    pub phase: SyncPhase,
    /// Units done (ops pushed, changes pulled).
    pub done: u64,
    /// Units known so far.
    pub total: u64,
}

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Ops acknowledged by the server.
    pub pushed: u64,
    /// Ops the server rejected (now in the rejected list).
    pub rejected: u64,
    /// Changes pulled and applied.
    pub pulled: u64,
    /// Requests retried after transport errors.
    pub retries: u64,
    /// The scope changed and rows were purged and re-pulled.
    pub scope_changed: bool,
    /// The server flagged this device's clock as off.
    pub clock_skew_flagged: bool,
    /// Photos uploaded whole.
    pub photos_uploaded: u64,
    /// Photos the server refused this time (kept, tried again next sync).
    pub photos_refused: u64,
}

/// Sync status for screens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    /// Ops waiting to be pushed.
    pub pending_ops: u64,
    /// Ops rejected by the server.
    pub rejected_ops: u64,
    /// When the last sync finished successfully (ms).
    pub last_success_at: Option<i64>,
    /// The last sync's error, if it failed.
    pub last_error: Option<String>,
    /// Pull cursor.
    pub cursor: i64,
    /// Device id assigned at enrollment.
    pub device_id: Option<String>,
}

/// A cancellation flag shared between the caller and a running sync.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<(Mutex<bool>, Condvar)>);

impl CancelToken {
    /// A fresh, uncancelled token.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the sync to stop at the next safe point.
    pub fn cancel(&self) {
        *self.0 .0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.0 .1.notify_all();
    }
    /// Whether cancel was called.
    pub fn is_cancelled(&self) -> bool {
        *self.0 .0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Sleeps up to `d`; returns false when woken by a cancel.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self.0 .1.wait_timeout_while(guard, d, |c| !*c).unwrap_or_else(|p| p.into_inner());
        !*guard
    }
}

/// One sync of a store at a time (an app may start one on a timer while the user taps "sync"):
/// a second caller waits until the first has finished, or until its own cancel.
#[derive(Debug, Default)]
pub(crate) struct SyncGate {
    busy: Mutex<bool>,
    freed: Condvar,
}

/// A turn at the [`SyncGate`]; the next caller's when dropped.
struct Turn<'a>(&'a SyncGate);

impl SyncGate {
    fn enter(&self, cancel: &CancelToken) -> Result<Turn<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            // The cancel token has a condvar of its own: look at it again now and then.
            busy = self.freed.wait_timeout(busy, Duration::from_millis(50)).unwrap_or_else(|p| p.into_inner()).0;
        }
        *busy = true;
        Ok(Turn(self))
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(|p| p.into_inner()) = false;
        self.0.freed.notify_one();
    }
}

/// What a prefetch thread brings back.
type PulledPage = std::result::Result<crate::protocol::PullResponse, TransportError>;

const LAST_SUCCESS: &str = "sync_last_success_at";
const LAST_ERROR: &str = "sync_last_error";
const DEVICE_ID: &str = "device_id";
const TOKEN: &str = "device_token";

impl Store {
    /// Enrolls this device for a user (login) and stores who the user is. Returns the token,
    /// which the app passes to its transport (it is also kept in the store).
    ///
    /// A login again by the same user (a token expired or revoked) keeps the device's id (the
    /// server recognises ops sent before it) and the scope epoch its rows were pulled under, so
    /// a scope changed meanwhile is found by the next sync, which pushes the outbox and then
    /// purges and pulls again. Another user's login, once the previous user has nothing left to
    /// sync, starts the device over: the previous user's rows, rejected list and photos go.
    pub fn enroll(&self, server: &dyn Enroller, username: &str, password: &str, device_name: &str) -> Result<String> {
        let req = EnrollRequest {
            protocol: PROTOCOL_VERSION,
            username: username.to_owned(),
            password: password.to_owned(),
            device_name: device_name.to_owned(),
            device_id: self.meta(DEVICE_ID)?.filter(|id| !id.is_empty()),
        };
        let resp = server.enroll(&req)?;
        // After a sync of this store under way (a background one of the previous user): its
        // pages would otherwise land after the purge, with their cursor and principal.
        let _turn = self.sync_gate().enter(&CancelToken::new())?;
        let previous = self.principal().map(|p| p.user_id);
        let other_user = previous.as_ref().is_some_and(|u| *u != resp.principal.user_id);
        if other_user && (self.pending_ops()? > 0 || !self.pending_photos()?.is_empty()) {
            return Err(Error::invalid("username", "本机还有其他用户未同步的数据，请先同步"));
        }
        self.write(|tx| {
            if other_user {
                index_builder::forget(tx)?;
                merge::purge_synced(tx)?;
                tx.execute_batch("DELETE FROM rejected_ops; DELETE FROM attachments;")?;
                meta_set(tx, LAST_SUCCESS, "")?;
                meta_set(tx, LAST_ERROR, "")?;
            }
            meta_set(tx, DEVICE_ID, &resp.device_id)?;
            meta_set(tx, TOKEN, &resp.token)?;
            let pulled_under = meta_get(tx, SCOPE_EPOCH)?.filter(|e| !e.is_empty());
            if other_user || previous.is_none() || pulled_under.is_none() {
                // Ops written before the first pull are made under the epoch enrollment reported.
                meta_set(tx, SCOPE_EPOCH, &resp.scope_epoch.map(|e| e.to_string()).unwrap_or_default())?;
            }
            Ok(())
        })?;
        if other_user {
            self.invalidate_areas();
        }
        self.set_principal(&resp.principal)?;
        Ok(resp.token)
    }

    /// The device token stored at enrollment.
    pub fn device_token(&self) -> Result<Option<String>> {
        self.meta(TOKEN)
    }

    /// Sync status for screens.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        self.read(|c| {
            Ok(SyncStatus {
                pending_ops: outbox::pending_count(c)?,
                rejected_ops: c.query_row("SELECT count(*) FROM rejected_ops", [], |r| r.get::<_, i64>(0))? as u64,
                last_success_at: meta_get(c, LAST_SUCCESS)?.and_then(|s| s.parse().ok()),
                last_error: meta_get(c, LAST_ERROR)?.filter(|s| !s.is_empty()),
                cursor: meta_get(c, CURSOR)?.and_then(|s| s.parse().ok()).unwrap_or(0),
                device_id: meta_get(c, DEVICE_ID)?,
            })
        })
    }

    /// Runs one sync: push until the outbox is empty, then pull until caught up. While another
    /// sync of this store runs, waits for it to finish first (or returns `Cancelled` when
    /// `cancel` is cancelled meanwhile).
    pub fn sync(
        &self,
        transport: &dyn Transport,
        opts: &SyncOptions,
        progress: &dyn Fn(Progress),
        cancel: &CancelToken,
    ) -> Result<SyncReport> {
        let _turn = self.sync_gate().enter(cancel)?;
        let result = Run { store: self, transport, opts, progress, cancel, report: SyncReport::default() }.run();
        if result.is_err() {
            // A first pull stopped halfway: what it brought must be searchable now (the next
            // sync goes on from its cursor, indexing page by page). Should this fail too, the
            // mark stays and the next open or sync rebuilds.
            let _ = self.write_bulk(|tx| merge::finish_deferred_index(tx));
        }
        if result.is_ok() {
            // Pulled pages grew the WAL; fold it now rather than on the user's next edit.
            let _ = self.checkpoint();
        }
        let now = self.now_ms().to_string();
        let _ = self.write(|tx| match &result {
            Ok(_) => {
                meta_set(tx, LAST_SUCCESS, &now)?;
                meta_set(tx, LAST_ERROR, "")
            }
            Err(e) => meta_set(tx, LAST_ERROR, &e.to_string()),
        });
        result
    }
}

struct Run<'a> {
    store: &'a Store,
    transport: &'a dyn Transport,
    opts: &'a SyncOptions,
    progress: &'a dyn Fn(Progress),
    cancel: &'a CancelToken,
    report: SyncReport,
}

impl Run<'_> {
    fn run(mut self) -> Result<SyncReport> {
        self.push_all()?;
        self.upload_photos()?;
        self.pull_all()?;
        Ok(self.report)
    }

    /// Uploads photos the server does not have, resuming where the server's copy ends. Ops that
    /// reference them went first: a record never waits for its photos.
    fn upload_photos(&mut self) -> Result<()> {
        let pending = self.store.pending_photos()?;
        let total = pending.len() as u64;
        for (i, sha) in pending.iter().enumerate() {
            (self.progress)(Progress { phase: super::SyncPhase::Upload, done: i as u64, total });
            let Some(photo) = self.store.photo(sha)? else { continue };
            match self.upload_one(&photo) {
                Ok(()) => {
                    self.store.mark_photo_uploaded(sha)?;
                    self.report.photos_uploaded += 1;
                }
                // The server refused this photo (or the transport carries none): it stays on the
                // device, is tried again next time and does not hold up the rest of the sync.
                Err(Error::Server { .. }) => self.report.photos_refused += 1,
                Err(e) => return Err(e),
            }
        }
        if total > 0 {
            (self.progress)(Progress { phase: super::SyncPhase::Upload, done: total, total });
        }
        Ok(())
    }

    fn upload_one(&mut self, photo: &crate::attachments::Attachment) -> Result<()> {
        let (sha, data) = (photo.sha256.as_str(), photo.data.as_slice());
        let transport = self.transport;
        let mut status = self.retry(|| transport.attachment_status(sha))?;
        while !status.complete {
            let from = (status.received as usize).min(data.len());
            let to = (from + UPLOAD_CHUNK).min(data.len());
            let next = self.retry(|| transport.upload_attachment(sha, &photo.mime, from as u64, data.len() as u64, &data[from..to]))?;
            if !next.complete && next.received <= status.received {
                return Err(Error::Transport("photo upload made no progress".into()));
            }
            status = next;
        }
        Ok(())
    }

    /// Calls `f` until it succeeds, a non-retryable error occurs, or attempts run out.
    fn retry<T>(&mut self, f: impl FnMut() -> Result<T, TransportError>) -> Result<T> {
        self.retry_after(None, f)
    }

    /// [`Run::retry`] when the first attempt was already made (its outcome is `first`).
    fn retry_after<T>(
        &mut self,
        mut first: Option<Result<T, TransportError>>,
        mut f: impl FnMut() -> Result<T, TransportError>,
    ) -> Result<T> {
        let mut backoff = self.opts.base_backoff;
        let mut attempt = 1;
        loop {
            if first.is_none() && self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            match first.take().unwrap_or_else(&mut f) {
                Ok(v) => return Ok(v),
                Err(e) if e.is_retryable() && attempt < self.opts.max_attempts => {
                    self.report.retries += 1;
                    attempt += 1;
                    if !self.cancel.sleep(backoff) {
                        return Err(Error::Cancelled);
                    }
                    backoff = (backoff * 2).min(self.opts.max_backoff);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Pushes batches until the outbox is empty. One request is in flight at a time (batches
    /// reach the server in `device_seq` order, each after the previous one was answered), but
    /// the device's own work overlaps it: while a batch is on its way, the previous batch's
    /// results are recorded and the next batch is read from the outbox. The request makes its
    /// first attempt on a second thread; if that fails, it is made again the usual way, with
    /// retries.
    fn push_all(&mut self) -> Result<()> {
        let total = self.store.pending_ops()?;
        let transport = self.transport;
        let mut done = 0;
        (self.progress)(Progress { phase: super::SyncPhase::Push, done, total });
        let mut batch = self.store.read(|c| outbox::next_batch(c, self.opts.batch_ops, self.opts.batch_bytes))?;
        // A batch answered whose results are not recorded yet.
        let mut answered: Option<(Vec<crate::protocol::Op>, PushResponse)> = None;
        std::thread::scope(|scope| loop {
            if batch.is_empty() || self.cancel.is_cancelled() {
                if let Some((ops, resp)) = answered.take() {
                    done += self.record_pushed(&ops, &resp, total, done)?;
                }
                return if batch.is_empty() { Ok(()) } else { Err(Error::Cancelled) };
            }
            let scope_epoch = self.store.read(|c| Ok(meta_get(c, SCOPE_EPOCH)?.and_then(|s| s.parse().ok())))?;
            let last = batch.last().map_or(0, |op| op.device_seq);
            let req = PushRequest { protocol: PROTOCOL_VERSION, ops: batch, sent_at: self.store.now_ms(), scope_epoch };
            let in_flight = scope.spawn(move || {
                let first = transport.push(&req);
                (req, first)
            });
            // Beside the request: the previous batch's results, then the batch after this one.
            let beside = match answered.take() {
                Some((ops, resp)) => self.record_pushed(&ops, &resp, total, done),
                None => Ok(0),
            }
            .and_then(|n| {
                let next = self.store.read(|c| outbox::batch_after(c, last, self.opts.batch_ops, self.opts.batch_bytes))?;
                Ok((n, next))
            });
            let (req, first) = in_flight.join().map_err(|_| Error::Transport("push thread failed".into()))?;
            let (recorded, next) = beside?;
            done += recorded;
            let resp = self.retry_after(Some(first), || transport.push(&req))?;
            self.report.clock_skew_flagged |= resp.clock_skew_flagged;
            let answers: std::collections::HashSet<&str> = resp.results.iter().map(|r| r.op_id.as_str()).collect();
            if req.ops.iter().all(|op| answers.contains(op.op_id.as_str())) {
                // Every op answered: the batch read beside the request is the one that follows.
                answered = Some((req.ops, resp));
                batch = next;
            } else {
                // Some ops have no result: they are sent again, in order, before anything after them.
                let recorded = self.record_pushed(&req.ops, &resp, total, done)?;
                if recorded == 0 {
                    // The server answered without a result for any op of the batch: do not spin.
                    return Err(Error::Transport("push answered without results".into()));
                }
                done += recorded;
                batch = self.store.read(|c| outbox::next_batch(c, self.opts.batch_ops, self.opts.batch_bytes))?;
            }
        })
    }

    /// Records a push's per-op results; returns how many ops left the outbox.
    fn record_pushed(&mut self, sent: &[crate::protocol::Op], resp: &PushResponse, total: u64, done: u64) -> Result<u64> {
        let now = self.store.now_ms();
        // Without waiting for the disk: a record lost to a power cut only puts its ops back in
        // the outbox, and sent again they get the same answers (the server keeps every op's
        // result), so nothing the user did is lost. The next durable write makes it durable too.
        let rec = self.store.write_bulk(|tx| outbox::record_results_of(tx, sent, &resp.results, now))?;
        if rec.rejected > 0 {
            // A rejected op's record was put back as the server has it (maybe an area).
            self.store.invalidate_areas();
        }
        self.report.pushed += rec.acknowledged as u64;
        self.report.rejected += rec.rejected as u64;
        let n = (rec.acknowledged + rec.rejected) as u64;
        (self.progress)(Progress { phase: super::SyncPhase::Push, done: done + n, total: total.max(done + n) });
        Ok(n)
    }

    /// Pulls pages until caught up. While a page is applied, the next one is already being
    /// fetched on a second thread (its request is known from the page in hand: the page's
    /// `next_cursor` and scope epoch are exactly what applying it stores), so the network, the
    /// server and the response decoding overlap with the device's writes. The prefetch makes one
    /// attempt, which counts as the request's first; if it fails, the request is made again the
    /// usual way, with retries.
    fn pull_all(&mut self) -> Result<()> {
        let transport = self.transport;
        std::thread::scope(|scope| {
            let mut done = 0;
            let mut prefetched = None;
            // Indexes a pull from the start beside it, on a file store (see index_builder.rs).
            let mut builder: Option<IndexBuilder> = None;
            loop {
                let (cursor, epoch, deferred) = self.store.read(|c| {
                    let cursor = meta_get(c, CURSOR)?.and_then(|s| s.parse().ok()).unwrap_or(0i64);
                    let epoch = meta_get(c, SCOPE_EPOCH)?.and_then(|s| s.parse().ok());
                    Ok((cursor, epoch, merge::index_deferred(c)?))
                })?;
                // A pull from the start (a new device, a re-pull after a purge) brings the
                // whole register: it is indexed in one go at its end, not page by page.
                let defer = cursor == 0 || deferred;
                let req = PullRequest {
                    protocol: PROTOCOL_VERSION,
                    cursor,
                    limit: self.opts.page_size,
                    // Also from the start: a device that re-pulls everything may still hold rows
                    // pulled under an older scope, which only a scope change would purge.
                    scope_epoch: epoch,
                };
                // The prefetch's outcome is this request's first attempt when it asked for this
                // very request (only then may its page be used).
                let first = match prefetched.take() {
                    Some((sent, handle)) => {
                        let handle: std::thread::ScopedJoinHandle<'_, PulledPage> = handle;
                        let got = handle.join().unwrap_or_else(|_| Err(TransportError::Network("prefetch failed".into())));
                        if self.cancel.is_cancelled() {
                            return Err(Error::Cancelled);
                        }
                        (sent == req).then_some(got)
                    }
                    None => None,
                };
                let page = self.retry_after(first, || transport.pull(&req))?;
                if self.store.principal().as_ref() != Some(&page.principal) {
                    self.store.set_principal(&page.principal)?;
                }
                if page.scope_changed || page.rebootstrap {
                    self.report.scope_changed |= page.scope_changed;
                    // Unsynced edits go first, then rows outside the new scope go.
                    self.push_all()?;
                    (self.progress)(Progress { phase: super::SyncPhase::Purge, done: 0, total: 0 });
                    // A builder beside this pull indexed rows the purge removes: it is given up,
                    // and the re-pull from the start gets a new one.
                    builder = None;
                    self.store.write(|tx| {
                        // Looked at in the purge's own transaction: an edit the user made since
                        // the push is not purged under its pending op.
                        if outbox::pending_count(tx)? > 0 {
                            return Err(Error::Transport("outbox not empty before purge".into()));
                        }
                        index_builder::forget(tx)?;
                        merge::purge_synced(tx)?;
                        meta_set(tx, SCOPE_EPOCH, &page.scope_epoch.to_string())
                    })?;
                    self.store.invalidate_areas();
                    continue;
                }
                if page.has_more && !self.cancel.is_cancelled() {
                    let next = PullRequest {
                        protocol: PROTOCOL_VERSION,
                        cursor: page.next_cursor,
                        limit: self.opts.page_size,
                        scope_epoch: Some(page.scope_epoch),
                    };
                    let sent = next.clone();
                    prefetched = Some((sent, scope.spawn(move || transport.pull(&next))));
                }
                let n = page.changes.len() as u64;
                if defer && builder.is_none() {
                    builder = self.store.path().and_then(IndexBuilder::start);
                }
                let (areas_changed, marks) = self.store.write_bulk(|tx| {
                    if defer {
                        merge::defer_index(tx)?;
                    }
                    let changed = merge::apply_page(tx, &page.changes, page.next_cursor, !defer)?;
                    meta_set(tx, SCOPE_EPOCH, &page.scope_epoch.to_string())?;
                    let marks = if builder.is_some() { Some(IndexBuilder::advance(tx)?) } else { None };
                    if !page.has_more {
                        // Caught up: the register's own indexes are made again with the last
                        // page, while a builder beside the pull does its last steps.
                        merge::restore_btree_indexes(tx)?;
                        if builder.is_none() {
                            // The search index too, here.
                            merge::finish_deferred_index(tx)?;
                        }
                    }
                    Ok((changed, marks))
                })?;
                if let (Some(b), Some(m)) = (&builder, marks) {
                    b.committed(m);
                }
                if areas_changed {
                    self.store.invalidate_areas();
                }
                if !page.has_more {
                    if let Some(b) = builder.take() {
                        b.finish(self.store)?;
                    }
                }
                done += n;
                self.report.pulled += n;
                (self.progress)(Progress { phase: super::SyncPhase::Pull, done, total: done });
                if !page.has_more {
                    return Ok(());
                }
            }
        })
    }
}
