//! Pull: the scoped, resumable change feed (DESIGN.md sync rules 6, 7, 8).

use std::cell::RefCell;
use std::collections::HashMap;

use gridline_core::access::{self, ScopeKeys};
use gridline_core::protocol::{Change, PullRequest, PullResponse};
use gridline_core::EntityKind;
use serde_json::value::RawValue;

use super::{area_path, Service};
use crate::auth::Authed;
use crate::error::AppError;
use crate::storage::SyncLogEntry;

/// Page size when the request asks for none.
pub const DEFAULT_PAGE: usize = 500;
/// Largest page in changes; pages are also bounded in bytes by the feed
/// ([`crate::storage::FEED_PAGE_BYTES`]), so large rows make shorter pages.
pub const MAX_PAGE: usize = 10_000;

impl Service {
    /// One page of the caller's change feed after `req.cursor`.
    pub fn pull(&self, who: &Authed, req: &PullRequest) -> Result<PullResponse<Box<RawValue>>, AppError> {
        if req.cursor < 0 {
            return Err(AppError::invalid_body("cursor must not be negative", "同步游标不能为负数"));
        }
        let principal = who.user.principal();
        let epoch = who.user.scope_epoch;
        let empty = |next_cursor: i64| PullResponse {
            changes: Vec::new(),
            next_cursor,
            has_more: true,
            scope_epoch: epoch,
            scope_changed: false,
            rebootstrap: false,
            principal: principal.clone(),
        };
        if req.scope_epoch == Some(epoch) && who.epoch_seen != Some(epoch) {
            self.storage.note_epoch_seen(&who.device_id, epoch)?;
        }
        if req.scope_epoch.is_some_and(|e| e != epoch) {
            tracing::info!(device = %who.device_id, "pull: scope changed");
            return Ok(PullResponse { scope_changed: true, ..empty(0) });
        }
        let horizon = self.storage.tombstone_horizon()?;
        if req.cursor > 0 && req.cursor < horizon {
            tracing::info!(device = %who.device_id, "pull: cursor behind tombstone horizon");
            return Ok(PullResponse { rebootstrap: true, ..empty(0) });
        }
        let limit = match req.limit as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let parents = self.area_parents()?;
        let paths: RefCell<HashMap<String, Vec<String>>> = RefCell::new(HashMap::new());
        let visible = |entity: EntityKind, keys: &ScopeKeys| {
            let mut cache = paths.borrow_mut();
            let path = match keys.area_id.as_deref() {
                Some(a) => cache.entry(a.to_owned()).or_insert_with(|| area_path(&parents, a)).as_slice(),
                None => &[],
            };
            principal.can_read(entity, &keys.target(path).with_tree(&parents))
        };
        let page = self.storage.feed(req.cursor.max(0), limit, self.config.max_scan_per_pull, &visible)?;
        if req.cursor > 0 && req.cursor < page.horizon {
            // A purge ran between the check above and the page's snapshot: the page may lack
            // tombstones it would have held.
            tracing::info!(device = %who.device_id, "pull: cursor behind tombstone horizon");
            return Ok(PullResponse { rebootstrap: true, ..empty(0) });
        }
        let mask = !principal.sees_personal_data();
        let bad_row = |e: serde_json::Error| AppError::internal(&format_args!("feed row is not a JSON object: {e}"));
        let changes = page
            .rows
            .into_iter()
            .map(|r| {
                let json = if mask && !r.deleted {
                    let mut fields = r.fields().map_err(bad_row)?;
                    access::mask_fields(r.entity, &mut fields);
                    serde_json::to_string(&fields).map_err(bad_row)?
                } else {
                    r.json
                };
                Ok(Change {
                    seq: r.seq,
                    entity: r.entity,
                    id: r.id,
                    deleted: r.deleted,
                    version: (r.version != r.seq).then_some(r.version),
                    fields: RawValue::from_string(json).map_err(bad_row)?,
                })
            })
            .collect::<Result<Vec<_>, AppError>>()?;
        if !page.has_more {
            // One log line per completed pull, not per page (pages are hot, log writes are not free).
            let entry =
                SyncLogEntry { device_id: who.device_id.clone(), at: self.now_ms(), kind: "pull", ops: changes.len() as i64, rejected: 0 };
            if let Err(e) = self.storage.log_sync(&entry) {
                tracing::warn!(error = %e, "sync log write failed");
            }
        }
        Ok(PullResponse {
            changes,
            next_cursor: page.last_examined,
            has_more: page.has_more,
            scope_epoch: epoch,
            scope_changed: false,
            rebootstrap: false,
            principal,
        })
    }
}
