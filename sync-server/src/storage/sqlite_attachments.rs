//! Photos on SQLite: chunks of an upload in progress, then the whole verified file.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use gridline_core::protocol::AttachmentStatus;

use super::{ChunkOutcome, NewChunk, StoreError, StoreResult, StoredAttachment};

pub(super) fn status(c: &Connection, sha256: &str) -> StoreResult<AttachmentStatus> {
    let done: Option<i64> =
        c.prepare_cached("SELECT size FROM attachments WHERE sha256 = ?1")?.query_row([sha256], |r| r.get(0)).optional()?;
    if let Some(size) = done {
        return Ok(AttachmentStatus { sha256: sha256.to_owned(), received: size as u64, total: size as u64, complete: true });
    }
    let partial: Option<(i64, i64)> = c
        .prepare_cached("SELECT received, total FROM attachment_uploads WHERE sha256 = ?1")?
        .query_row([sha256], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (received, total) = partial.unwrap_or((0, 0));
    Ok(AttachmentStatus { sha256: sha256.to_owned(), received: received as u64, total: total as u64, complete: false })
}

/// Stores one chunk if it starts where the upload stands (otherwise the status tells the
/// device where to resume); completes the upload when the last byte arrives and the hash matches.
pub(super) fn put_chunk(c: &Connection, ch: &NewChunk<'_>) -> StoreResult<ChunkOutcome> {
    let now = status(c, ch.sha256)?;
    if now.complete {
        return Ok(ChunkOutcome::Status(now));
    }
    if now.total != 0 && now.total != ch.total {
        return Err(StoreError::Invalid { field: "total".into(), reason: "与已上传部分的文件大小不一致".into() });
    }
    if ch.offset != now.received {
        return Ok(ChunkOutcome::Status(now));
    }
    if ch.offset + ch.data.len() as u64 > ch.total {
        return Err(StoreError::Invalid { field: "data".into(), reason: "超出文件大小".into() });
    }
    let received = now.received + ch.data.len() as u64;
    c.prepare_cached(
        "INSERT INTO attachment_uploads (sha256, mime, total, received, device_id, started_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (sha256) DO UPDATE SET received = excluded.received",
    )?
    .execute(params![ch.sha256, ch.mime, ch.total as i64, received as i64, ch.device_id, ch.at])?;
    c.prepare_cached("INSERT INTO attachment_chunks (sha256, offset, data) VALUES (?1, ?2, ?3)")?
        .execute(params![ch.sha256, ch.offset as i64, ch.data])?;
    if received < ch.total {
        return Ok(ChunkOutcome::Status(AttachmentStatus { received, total: ch.total, ..now }));
    }
    let mut whole = Vec::with_capacity(ch.total as usize);
    {
        let mut stmt = c.prepare_cached("SELECT data FROM attachment_chunks WHERE sha256 = ?1 ORDER BY offset")?;
        let mut rows = stmt.query([ch.sha256])?;
        while let Some(r) = rows.next()? {
            whole.extend_from_slice(r.get_ref(0)?.as_blob().map_err(|e| StoreError::Backend(e.to_string()))?);
        }
    }
    let mime: String = c.prepare_cached("SELECT mime FROM attachment_uploads WHERE sha256 = ?1")?.query_row([ch.sha256], |r| r.get(0))?;
    c.prepare_cached("DELETE FROM attachment_chunks WHERE sha256 = ?1")?.execute([ch.sha256])?;
    c.prepare_cached("DELETE FROM attachment_uploads WHERE sha256 = ?1")?.execute([ch.sha256])?;
    if hex::encode(Sha256::digest(&whole)) != ch.sha256 {
        // The bytes are dropped (committed): a new upload starts from zero.
        return Ok(ChunkOutcome::HashMismatch);
    }
    c.prepare_cached("INSERT INTO attachments (sha256, mime, size, data, device_id, uploaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
        .execute(params![ch.sha256, mime, whole.len() as i64, whole, ch.device_id, ch.at])?;
    Ok(ChunkOutcome::Status(AttachmentStatus { sha256: ch.sha256.to_owned(), received: ch.total, total: ch.total, complete: true }))
}

pub(super) fn get(c: &Connection, sha256: &str) -> StoreResult<Option<StoredAttachment>> {
    Ok(c.prepare_cached("SELECT mime, data, device_id FROM attachments WHERE sha256 = ?1")?
        .query_row([sha256], |r| Ok(StoredAttachment { mime: r.get(0)?, data: r.get(1)?, device_id: r.get(2)? }))
        .optional()?)
}
