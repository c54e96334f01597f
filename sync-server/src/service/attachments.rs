//! Photos (DESIGN.md sync rule 9): uploaded in resumable chunks by enrolled devices, verified
//! against their SHA-256 when the last byte arrives, then served by hash.

use axum::http::StatusCode;

use gridline_core::access::ScopeKeys;
use gridline_core::attachments::{check_photo, is_sha256_hex, photo_field, photo_hashes};
use gridline_core::protocol::{AttachmentStatus, ATTACHMENT_MIME_TYPES, MAX_ATTACHMENT_BYTES};
use gridline_core::EntityKind;

use super::Service;
use crate::auth::Authed;
use crate::error::AppError;
use crate::storage::{ChunkOutcome, NewChunk, StoredAttachment};

/// Largest chunk accepted in one request.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;

fn bad(field: &str, en: &str, zh: &str) -> AppError {
    AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", format!("{field}: {en}"), format!("「{field}」{zh}"))
}

fn check_hash(sha256: &str) -> Result<(), AppError> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(bad("sha256", "must be 64 lowercase hex digits", "应为64位小写十六进制"))
    }
}

impl Service {
    /// Where the upload of a photo stands (0 received when the server never heard of it).
    pub fn attachment_status(&self, sha256: &str) -> Result<AttachmentStatus, AppError> {
        check_hash(sha256)?;
        Ok(self.storage.attachment_status(sha256)?)
    }

    /// Stores one chunk of a photo. A chunk that does not start where the server's copy ends
    /// changes nothing; the answer tells the device where to resume.
    pub fn upload_attachment(
        &self,
        who: &Authed,
        sha256: &str,
        mime: &str,
        offset: u64,
        total: u64,
        data: &[u8],
    ) -> Result<AttachmentStatus, AppError> {
        check_hash(sha256)?;
        if !ATTACHMENT_MIME_TYPES.contains(&mime) {
            return Err(AppError::unsupported_media(format!("photos must be one of {}", ATTACHMENT_MIME_TYPES.join(", "))));
        }
        if total == 0 || total > MAX_ATTACHMENT_BYTES {
            return Err(bad("total", "must be between 1 byte and 10 MiB", "文件大小应在 1 字节到 10 MB 之间"));
        }
        if data.is_empty() || data.len() > MAX_CHUNK_BYTES {
            return Err(bad("data", "a chunk holds 1 byte to 1 MiB", "每段应为 1 字节到 1 MB"));
        }
        if offset == 0 {
            check_photo(mime, data).map_err(|_| bad("data", "is not an image of the stated type", "内容与图片类型不符"))?;
        }
        let chunk = NewChunk { sha256, mime, offset, total, data, device_id: &who.device_id, at: self.now_ms() };
        match self.storage.put_attachment_chunk(&chunk) {
            Ok(ChunkOutcome::Status(s)) => Ok(s),
            Ok(ChunkOutcome::HashMismatch) => {
                tracing::info!(device = %who.device_id, "attachment upload dropped: hash mismatch");
                Err(AppError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "hash_mismatch",
                    "the uploaded bytes do not match the SHA-256; upload again from the start",
                    "文件内容与 SHA-256 不符，请重新上传",
                ))
            }
            Err(crate::storage::StoreError::Invalid { field, reason }) => {
                Err(AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", format!("field `{field}` is invalid"), format!("「{field}」{reason}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A whole photo by hash, for the console (which checks the record it is shown through).
    pub fn attachment(&self, sha256: &str) -> Result<StoredAttachment, AppError> {
        check_hash(sha256)?;
        self.storage.attachment(sha256)?.ok_or_else(AppError::not_found)
    }

    /// A whole photo for a device: one it uploaded itself, or one that `record` (an incident's
    /// photos, a task assignment's evidence) refers to, when the device's user may read that
    /// record. Knowing a hash alone opens nothing.
    pub fn attachment_for(&self, who: &Authed, sha256: &str, record: Option<(EntityKind, &str)>) -> Result<StoredAttachment, AppError> {
        check_hash(sha256)?;
        let not_here = || {
            AppError::new(StatusCode::NOT_FOUND, "not_found", "the server has no such photo (yet)", "服务器上还没有这张照片")
        };
        let refused = || {
            AppError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this photo is not in a record you may read",
                "这张照片不属于您有权查看的记录",
            )
        };
        let Some((entity, id)) = record else {
            // Without a record: only the device that uploaded the photo gets it back.
            let photo = self.storage.attachment(sha256)?.ok_or_else(refused)?;
            return if photo.device_id == who.device_id { Ok(photo) } else { Err(refused()) };
        };
        let row = self.storage.console().record(entity, id)?.ok_or_else(|| {
            AppError::new(StatusCode::NOT_FOUND, "not_found", "no such record", "记录不存在")
        })?;
        let principal = who.user.principal();
        let parents = self.area_parents()?;
        if !principal.can_read_keys(entity, &ScopeKeys::of(entity, id, &row.fields), &parents) {
            return Err(refused());
        }
        if !photo_hashes(entity, &row.fields).any(|h| h == sha256) {
            return Err(AppError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "the record does not refer to this photo",
                "该记录中没有这张照片",
            ));
        }
        self.storage.attachment(sha256)?.ok_or_else(not_here)
    }
}

/// The record a device names when it asks for a photo: `?entity=incident&id=…` (or
/// `task_assignment`); no query at all for a photo the device uploaded.
pub fn photo_record(query: &[(String, String)]) -> Result<Option<(EntityKind, String)>, AppError> {
    let get = |k: &str| query.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
    match (get("entity"), get("id")) {
        (None, None) => Ok(None),
        (Some(e), Some(id)) => {
            let entity = EntityKind::parse(e)
                .filter(|k| photo_field(*k).is_some())
                .ok_or_else(|| bad("entity", "must be incident or task_assignment", "应为 incident 或 task_assignment"))?;
            if !super::push::id_ok(id) {
                return Err(bad("id", "must be 1-64 characters", "应为1到64个字符"));
            }
            Ok(Some((entity, id.to_owned())))
        }
        _ => Err(bad("entity", "entity and id go together", "entity 与 id 须同时提供")),
    }
}
