//! Credentials: argon2 password hashes, random bearer tokens kept only as SHA-256 hashes, and the
//! extractor that turns `Authorization: Bearer …` into the caller's device and user.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::storage::UserRecord;
use crate::AppState;

/// Argon2 cost settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCost {
    /// The library's defaults (argon2id, 19 MiB, 2 passes): for real deployments.
    Default,
    /// Minimal memory and passes: for tests and throwaway demos only.
    Cheap,
}

fn hasher(cost: HashCost) -> Argon2<'static> {
    match cost {
        HashCost::Default => Argon2::default(),
        HashCost::Cheap => {
            let params = Params::new(Params::MIN_M_COST.max(64), 1, 1, None).unwrap_or_default();
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        }
    }
}

/// Hashes a password into a PHC string.
pub fn hash_password(password: &str, cost: HashCost) -> Result<String, AppError> {
    hasher(cost).hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| AppError::internal(&e))
}

/// Checks a password against a stored PHC string (its own parameters are used).
pub fn verify_password(password: &str, phc: &str) -> bool {
    hasher(HashCost::Default).verify_password(password.as_bytes(), phc).is_ok()
}

/// A new random bearer token: 32 bytes, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    hex::encode(bytes)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated caller of a sync request.
#[derive(Debug, Clone)]
pub struct Authed {
    /// Device id.
    pub device_id: String,
    /// The device's user, as stored now (role and scope come from here, never from the request).
    pub user: UserRecord,
    /// Newest scope epoch the device is known to have learned.
    pub epoch_seen: Option<i64>,
}

fn unauthorized(en: &str, zh: &str) -> AppError {
    AppError::unauthorized(en, zh)
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("missing bearer token", "缺少登录凭证，请重新登录"))?;
        let hash = token_hash(token);
        let service = state.service.clone();
        let found = tokio::task::spawn_blocking(move || service.storage().device_by_token(&hash)).await??;
        let Some(dev) = found else {
            return Err(unauthorized("unknown token", "登录凭证无效，请重新登录"));
        };
        if dev.revoked_at.is_some() {
            tracing::info!(device = %dev.device_id, "revoked device refused");
            return Err(unauthorized("device revoked", "该设备已被注销，请重新登录"));
        }
        if dev.expires_at.is_some_and(|t| t <= state.service.now_ms()) {
            return Err(unauthorized("token expired", "登录已过期，请重新登录"));
        }
        if dev.user.disabled {
            return Err(unauthorized("user disabled", "该账号已停用"));
        }
        Ok(Authed { device_id: dev.device_id, user: dev.user, epoch_seen: dev.epoch_seen })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_hash_verifies_and_rejects() {
        let h = hash_password("s3cret!", HashCost::Cheap).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret!", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("s3cret!", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
    }
}
