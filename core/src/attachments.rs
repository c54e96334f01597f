//! Photos (DESIGN.md sync rule 9): kept on the device by SHA-256, referenced by hash from
//! incidents and task evidence, uploaded apart from the ops in resumable chunks. An op that
//! references a photo never waits for its upload; the server verifies the hash of what it got.

use rusqlite::OptionalExtension;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::entities::EntityKind;
use crate::error::{Error, Result};
use crate::protocol::{ATTACHMENT_MIME_TYPES, MAX_ATTACHMENT_BYTES};
use crate::record;
use crate::store::Store;
use crate::sync::Transport;

/// A stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Media type.
    pub mime: String,
    /// The file.
    pub data: Vec<u8>,
    /// Whether the server has it.
    pub uploaded: bool,
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Whether `s` looks like a SHA-256 in lowercase hex.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a media type against the accepted ones and the bytes' signature.
pub fn check_photo(mime: &str, data: &[u8]) -> Result<()> {
    if !ATTACHMENT_MIME_TYPES.contains(&mime) {
        return Err(Error::invalid("mime", "只能上传 JPEG、PNG 或 WebP 图片"));
    }
    if data.is_empty() {
        return Err(Error::invalid("data", "图片为空"));
    }
    if data.len() as u64 > MAX_ATTACHMENT_BYTES {
        return Err(Error::invalid("data", "图片不能超过 10 MB"));
    }
    let signature_ok = match mime {
        "image/jpeg" => data.starts_with(&[0xff, 0xd8, 0xff]),
        "image/png" => data.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/webp" => data.len() >= 12 && &data[..4] == b"RIFF" && &data[8..12] == b"WEBP",
        _ => false,
    };
    if !signature_ok {
        return Err(Error::invalid("data", "文件内容与图片类型不符"));
    }
    Ok(())
}

/// The field that holds a record's photo hashes: an incident's `photos`, a task assignment's
/// `evidence_photos`; other kinds hold no photos.
pub fn photo_field(entity: EntityKind) -> Option<&'static str> {
    match entity {
        EntityKind::Incident => Some("photos"),
        EntityKind::TaskAssignment => Some("evidence_photos"),
        _ => None,
    }
}

/// The photo hashes a record refers to (see [`photo_field`]). The server checks downloads
/// against the same list.
pub fn photo_hashes(entity: EntityKind, fields: &crate::record::Fields) -> impl Iterator<Item = &str> {
    photo_field(entity).and_then(|name| fields.get(name)).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

impl Store {
    /// Keeps a photo on the device and returns its hash, to be put in an incident's `photos`
    /// or a task's evidence. The same photo added twice is stored once.
    pub fn add_photo(&self, mime: &str, data: &[u8]) -> Result<String> {
        check_photo(mime, data)?;
        let sha = sha256_hex(data);
        let now = self.now_ms();
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO attachments (sha256, mime, size, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (sha256) DO NOTHING",
            )?
            .execute(rusqlite::params![sha, mime, data.len() as i64, data, now])?;
            Ok(())
        })?;
        Ok(sha)
    }

    /// A photo kept on this device, if it is here.
    pub fn photo(&self, sha256: &str) -> Result<Option<Attachment>> {
        self.read(|c| {
            Ok(c.prepare_cached("SELECT sha256, mime, data, uploaded_at IS NOT NULL FROM attachments WHERE sha256 = ?1")?
                .query_row([sha256], |r| Ok(Attachment { sha256: r.get(0)?, mime: r.get(1)?, data: r.get(2)?, uploaded: r.get(3)? }))
                .optional()?)
        })
    }

    /// Hashes of photos the server does not have yet, oldest first.
    pub fn pending_photos(&self) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT sha256 FROM attachments WHERE uploaded_at IS NULL ORDER BY created_at, sha256")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<std::result::Result<_, _>>()?)
        })
    }

    /// A photo a record on this device refers to (an incident's `photos`, a task assignment's
    /// `evidence_photos`): from the device when it is here, otherwise fetched from the server
    /// through that record and kept — as uploaded, so it never goes back up. Bytes that do not
    /// hash to `sha256` or are not an image of the type they came with are not kept.
    pub fn fetch_photo(&self, transport: &dyn Transport, entity: EntityKind, record_id: &str, sha256: &str) -> Result<Attachment> {
        if !is_sha256_hex(sha256) {
            return Err(Error::invalid("sha256", "应为64位小写十六进制"));
        }
        if photo_field(entity).is_none() {
            return Err(Error::invalid("entity", "只有事件和任务证据带有照片"));
        }
        let row = self.read(|c| record::require(c, entity, record_id))?;
        if !photo_hashes(entity, &row.fields).any(|h| h == sha256) {
            return Err(Error::invalid("sha256", "该记录中没有这张照片"));
        }
        if let Some(photo) = self.photo(sha256)? {
            return Ok(photo);
        }
        let (mime, data) = transport.download_attachment(sha256, entity, record_id)?;
        let mime = mime.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if sha256_hex(&data) != sha256 || check_photo(&mime, &data).is_err() {
            return Err(Error::Transport("the server sent a photo that does not match its hash or type".into()));
        }
        let now = self.now_ms();
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO attachments (sha256, mime, size, data, created_at, uploaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
                 ON CONFLICT (sha256) DO NOTHING",
            )?
            .execute(rusqlite::params![sha256, mime, data.len() as i64, data, now])?;
            Ok(())
        })?;
        Ok(Attachment { sha256: sha256.to_owned(), mime, data, uploaded: true })
    }

    /// Forgets a photo kept on this device that has not been uploaded and that nothing refers
    /// to (a photo taken for a report and removed from it before saving: it must not reach
    /// the server). Returns whether it was forgotten; a photo an incident, a task's evidence
    /// or a queued change refers to, or one already uploaded, is kept.
    pub fn discard_photo(&self, sha256: &str) -> Result<bool> {
        if !is_sha256_hex(sha256) {
            return Err(Error::invalid("sha256", "应为64位小写十六进制"));
        }
        self.write(|tx| {
            let mut refs: Vec<String> = EntityKind::ALL
                .into_iter()
                .filter_map(|kind| photo_field(kind).map(|field| format!("SELECT 1 FROM {} WHERE instr({field}, ?1) > 0", kind.table())))
                .collect();
            refs.push("SELECT 1 FROM outbox WHERE instr(fields, ?1) > 0".into());
            let referenced = tx.prepare_cached(&format!("SELECT EXISTS ({})", refs.join(" UNION ALL ")))?.query_row([sha256], |r| r.get::<_, bool>(0))?;
            if referenced {
                return Ok(false);
            }
            Ok(tx.prepare_cached("DELETE FROM attachments WHERE sha256 = ?1 AND uploaded_at IS NULL")?.execute([sha256])? > 0)
        })
    }

    pub(crate) fn mark_photo_uploaded(&self, sha256: &str) -> Result<()> {
        let now = self.now_ms();
        self.write(|tx| {
            tx.prepare_cached("UPDATE attachments SET uploaded_at = ?2 WHERE sha256 = ?1")?.execute(rusqlite::params![sha256, now])?;
            Ok(())
        })
    }
}
