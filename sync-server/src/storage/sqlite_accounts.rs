//! Accounts on SQLite: users (with the scopes they held before), enrolled devices and console
//! sessions. Each function runs on the connection it is given, inside the caller's read or write.

use rusqlite::{params, Connection, OptionalExtension};

use gridline_core::access::{Principal, Scope};
use gridline_core::Role;

use super::{ConsoleSession, DeviceAuth, DeviceInfo, NewDevice, NewUser, PriorScope, StoreError, StoreResult, UserRecord};

const USER_COLS: &str = "id, username, password_hash, role, scope_json, scope_epoch, disabled, display_name";

/// A user row as stored, with its scope still JSON (read by [`read_user`] from the columns in
/// [`USER_COLS`]' order, made a [`UserRecord`] by [`finish_user`]).
struct UserRecordRaw {
    id: String,
    username: String,
    password_hash: String,
    role: String,
    scope_epoch: i64,
    disabled: bool,
    display_name: String,
}

fn read_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<(UserRecordRaw, String)> {
    read_user_at(r, 0)
}

/// A user from the columns of [`USER_COLS`] starting at column `at`.
fn read_user_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(UserRecordRaw, String)> {
    Ok((
        UserRecordRaw {
            id: r.get(at)?,
            username: r.get(at + 1)?,
            password_hash: r.get(at + 2)?,
            role: r.get(at + 3)?,
            scope_epoch: r.get(at + 5)?,
            disabled: r.get::<_, i64>(at + 6)? != 0,
            display_name: r.get(at + 7)?,
        },
        r.get(at + 4)?,
    ))
}

fn finish_user((raw, scope_json): (UserRecordRaw, String)) -> StoreResult<UserRecord> {
    let role = Role::parse(&raw.role).ok_or_else(|| StoreError::Backend("stored role is unknown".into()))?;
    let scope: Scope = serde_json::from_str(&scope_json)?;
    Ok(UserRecord {
        id: raw.id,
        username: raw.username,
        password_hash: raw.password_hash,
        role,
        scope,
        scope_epoch: raw.scope_epoch,
        disabled: raw.disabled,
        display_name: raw.display_name,
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
}

/// Adds user `id` (a taken username: [`StoreError::AlreadyExists`]).
pub(super) fn add_user(c: &Connection, id: &str, u: &NewUser, scope_json: &str) -> StoreResult<()> {
    c.execute(
        "INSERT INTO users (id, username, password_hash, role, scope_json, scope_epoch, disabled, display_name) \
         VALUES (?1, ?2, ?3, ?4, ?5, 1, 0, ?6)",
        params![id, u.username, u.password_hash, u.role.as_str(), scope_json, u.display_name],
    )
    .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists } else { e.into() })?;
    Ok(())
}

pub(super) fn user_by_name(c: &Connection, username: &str) -> StoreResult<Option<UserRecord>> {
    let q = format!("SELECT {USER_COLS} FROM users WHERE username = ?1");
    c.prepare_cached(&q)?.query_row([username], read_user).optional()?.map(finish_user).transpose()
}

/// Every user, by username.
pub(super) fn users(c: &Connection) -> StoreResult<Vec<UserRecord>> {
    let q = format!("SELECT {USER_COLS} FROM users ORDER BY username");
    let mut stmt = c.prepare_cached(&q)?;
    let rows = stmt.query_map([], read_user)?.collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(finish_user).collect()
}

/// Whether the user was found.
pub(super) fn set_disabled(c: &Connection, username: &str, disabled: bool) -> StoreResult<bool> {
    Ok(c.execute("UPDATE users SET disabled = ?1 WHERE username = ?2", params![disabled as i64, username])? > 0)
}

/// Gives the user a new role and scope under the next scope epoch, keeping the one replaced
/// with the time it ended; the new epoch (None: no such user).
pub(super) fn set_scope(c: &Connection, username: &str, role: Role, scope_json: &str, at: i64) -> StoreResult<Option<i64>> {
    c.execute(
        "INSERT OR REPLACE INTO scope_history (user_id, epoch, role, scope_json, ended_at) \
         SELECT id, scope_epoch, role, scope_json, ?2 FROM users WHERE username = ?1",
        params![username, at],
    )?;
    c.execute(
        "UPDATE users SET role = ?1, scope_json = ?2, scope_epoch = scope_epoch + 1 WHERE username = ?3",
        params![role.as_str(), scope_json, username],
    )?;
    Ok(c.query_row("SELECT scope_epoch FROM users WHERE username = ?1", [username], |r| r.get(0)).optional()?)
}

/// The role and scope the user held under `epoch`, once a later one replaced it.
pub(super) fn prior_scope(c: &Connection, user_id: &str, epoch: i64) -> StoreResult<Option<PriorScope>> {
    let raw = c
        .prepare_cached("SELECT role, scope_json, ended_at FROM scope_history WHERE user_id = ?1 AND epoch = ?2")?
        .query_row(params![user_id, epoch], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
        .optional()?;
    let Some((role, scope_json, ended_at)) = raw else { return Ok(None) };
    let role = Role::parse(&role).ok_or_else(|| StoreError::Backend("stored role is unknown".into()))?;
    let scope: Scope = serde_json::from_str(&scope_json)?;
    Ok(Some(PriorScope { principal: Principal { user_id: user_id.to_owned(), role, scope }, ended_at }))
}

/// Raises the scope epoch the device is known to have seen (never lowers it).
pub(super) fn note_epoch_seen(c: &Connection, device_id: &str, epoch: i64) -> StoreResult<()> {
    c.prepare_cached("UPDATE devices SET epoch_seen = ?2 WHERE id = ?1 AND (epoch_seen IS NULL OR epoch_seen < ?2)")?
        .execute(params![device_id, epoch])?;
    Ok(())
}

/// Enrolls a device, which has seen its user's current scope epoch.
pub(super) fn add_device(c: &Connection, d: &NewDevice) -> StoreResult<()> {
    c.execute(
        "INSERT INTO devices (id, user_id, token_hash, name, created_at, expires_at, epoch_seen) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT scope_epoch FROM users WHERE id = ?2))",
        params![d.id, d.user_id, d.token_hash, d.name, d.created_at, d.expires_at],
    )
    .map_err(|e| if is_unique_violation(&e) { StoreError::AlreadyExists } else { e.into() })?;
    Ok(())
}

/// See [`Storage::reenroll_device`].
pub(super) fn reenroll_device(c: &Connection, d: &NewDevice) -> StoreResult<bool> {
    let n = c.execute(
        "UPDATE devices SET token_hash = ?3, name = ?4, expires_at = ?5 WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL",
        params![d.id, d.user_id, d.token_hash, d.name, d.expires_at],
    )?;
    Ok(n > 0)
}

/// The device holding this token hash, with its user.
pub(super) fn device_by_token(c: &Connection, token_hash: &str) -> StoreResult<Option<DeviceAuth>> {
    let q = format!(
        "SELECT d.id, d.revoked_at, d.expires_at, d.epoch_seen, {} FROM devices d JOIN users u ON u.id = d.user_id \
         WHERE d.token_hash = ?1",
        USER_COLS.split(", ").map(|col| format!("u.{col}")).collect::<Vec<_>>().join(", ")
    );
    let found = c
        .prepare_cached(&q)?
        .query_row([token_hash], |r| {
            let device: (String, Option<i64>, Option<i64>, Option<i64>) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            Ok((device, read_user_at(r, 4)?))
        })
        .optional()?;
    let Some(((device_id, revoked_at, expires_at, epoch_seen), user)) = found else { return Ok(None) };
    Ok(Some(DeviceAuth { device_id, revoked_at, expires_at, epoch_seen, user: finish_user(user)? }))
}

/// The user's devices, by id.
pub(super) fn devices(c: &Connection, user_id: &str) -> StoreResult<Vec<DeviceInfo>> {
    let mut stmt = c.prepare_cached("SELECT id, user_id, name, revoked_at FROM devices WHERE user_id = ?1 ORDER BY id")?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(DeviceInfo { id: r.get(0)?, user_id: r.get(1)?, name: r.get(2)?, revoked_at: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes the device (a second revocation keeps the first time); whether it was found.
pub(super) fn revoke_device(c: &Connection, device_id: &str, at: i64) -> StoreResult<bool> {
    Ok(c.execute("UPDATE devices SET revoked_at = coalesce(revoked_at, ?1) WHERE id = ?2", params![at, device_id])? > 0)
}

/// Sets the user's password hash and ends their console sessions; whether the user was found.
pub(super) fn set_password(c: &Connection, username: &str, password_hash: &str) -> StoreResult<bool> {
    let found = c.execute("UPDATE users SET password_hash = ?1 WHERE username = ?2", params![password_hash, username])? > 0;
    c.execute("DELETE FROM console_sessions WHERE username = ?1", [username])?;
    Ok(found)
}

/// Stores a console session, dropping the ones expired by `now`.
pub(super) fn put_session(c: &Connection, s: &ConsoleSession, now: i64) -> StoreResult<()> {
    c.execute("DELETE FROM console_sessions WHERE expires_at <= ?1", [now])?;
    c.execute(
        "INSERT INTO console_sessions (token_hash, username, csrf, device_id, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![s.token_hash, s.username, s.csrf, s.device_id, s.expires_at],
    )?;
    Ok(())
}

/// The session of this token hash, unless it expired by `now`.
pub(super) fn session(c: &Connection, token_hash: &str, now: i64) -> StoreResult<Option<ConsoleSession>> {
    Ok(c.prepare_cached(
        "SELECT token_hash, username, csrf, device_id, expires_at FROM console_sessions \
         WHERE token_hash = ?1 AND expires_at > ?2",
    )?
    .query_row(params![token_hash, now], |r| {
        Ok(ConsoleSession {
            token_hash: r.get(0)?,
            username: r.get(1)?,
            csrf: r.get(2)?,
            device_id: r.get(3)?,
            expires_at: r.get(4)?,
        })
    })
    .optional()?)
}

pub(super) fn touch_session(c: &Connection, token_hash: &str, expires_at: i64) -> StoreResult<()> {
    c.execute("UPDATE console_sessions SET expires_at = ?1 WHERE token_hash = ?2", params![expires_at, token_hash])?;
    Ok(())
}

pub(super) fn end_session(c: &Connection, token_hash: &str) -> StoreResult<()> {
    c.execute("DELETE FROM console_sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}
