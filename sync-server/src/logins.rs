//! Failed-login limits shared by every way in with a password: device enrollment
//! (`POST /v1/enroll`) and the console's login form. Five failures for one username from one
//! client address within 15 minutes refuse further attempts from there until the window has
//! passed (a success clears the count). There is no limit per address alone: behind the
//! reverse proxy the console expects, or a carrier's NAT, every client shares one address, and
//! such a limit would let anyone lock everyone out. Counters are in memory: a restart clears
//! them. Their memory is bounded: a username counts by its first 64 characters (no account has
//! a longer one), and the map is pruned as it grows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// Failed attempts allowed per username and client address within the window.
pub const MAX_FAILED_LOGINS: usize = 5;
/// Counters kept before the ones whose window has passed are pruned.
const PRUNE_AT: usize = 10_000;
/// The window, ms.
pub const LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// How long a login waits for a place to check its password before it is told to try again.
const CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Times of failed attempts, by (username, client address); and the places for password
/// checks, one per core: each argon2 check takes ~19 MiB and a core for tens of milliseconds,
/// so a flood of logins (not limited across usernames and addresses) would otherwise take the
/// memory and the cores every device's sync needs. A login waits for its place before it takes
/// a blocking thread, so waiting logins hold no thread either.
pub struct LoginLimiter {
    failures: Mutex<HashMap<LoginKey, Vec<i64>>>,
    checks: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::with_checks(std::thread::available_parallelism().map_or(1, usize::from))
    }
}

/// The key of a login attempt: the username as typed (trimmed, its first 64 characters) and
/// the client's address. Made by [`login_key`].
pub type LoginKey = (String, String);

/// The key of an attempt with `username` from `address`.
pub fn login_key(username: &str, address: String) -> LoginKey {
    (username.trim().chars().take(crate::service::MAX_NAME_CHARS).collect(), address)
}

fn recent(list: &mut Vec<i64>, now: i64) -> usize {
    list.retain(|t| now - t < LOGIN_WINDOW_MS);
    list.len()
}

impl LoginLimiter {
    /// A limiter with `n` (at least one) places for password checks.
    pub fn with_checks(n: usize) -> Self {
        LoginLimiter { failures: Mutex::default(), checks: std::sync::Arc::new(tokio::sync::Semaphore::new(n.max(1))) }
    }

    /// A place for one password check, held until the permit is dropped; `None` when none was
    /// free within ten seconds.
    pub async fn check_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.check_slot_within(CHECK_WAIT).await
    }

    async fn check_slot_within(&self, wait: std::time::Duration) -> Option<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(wait, self.checks.clone().acquire_owned()).await.ok()?.ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LoginKey, Vec<i64>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether attempts under `key` are refused now.
    pub fn limited(&self, key: &LoginKey, now: i64) -> bool {
        self.lock().get_mut(key).is_some_and(|l| recent(l, now) >= MAX_FAILED_LOGINS)
    }

    /// Counts a failed attempt.
    pub fn failed(&self, key: LoginKey, now: i64) {
        let mut f = self.lock();
        if f.len() > PRUNE_AT {
            // Forget counters whose window has passed, so guessing names cannot grow the map.
            f.retain(|_, list| list.last().is_some_and(|t| now - t < LOGIN_WINDOW_MS));
        }
        // Past the limit, attempts are refused before any check: more times say nothing new.
        let list = f.entry(key).or_default();
        if recent(list, now) < MAX_FAILED_LOGINS {
            list.push(now);
        }
    }

    /// A successful login clears the count.
    pub fn succeeded(&self, key: &LoginKey) {
        self.lock().remove(key);
    }
}

/// The client's address as the connection gives it (`unknown` without one, e.g. in tests).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()).unwrap_or_else(|| "unknown".into()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_username_counts_by_its_first_64_characters_whatever_its_length() {
        let long = "名".repeat(1_000_000);
        let key = login_key(&format!("  {long}"), "10.0.0.1".into());
        assert_eq!(key.0.chars().count(), 64, "what is kept of it");
        let l = LoginLimiter::default();
        for _ in 0..MAX_FAILED_LOGINS {
            l.failed(login_key(&long, "10.0.0.1".into()), 0);
        }
        assert!(l.limited(&key, 1));
        assert!(!l.limited(&login_key(&long, "10.0.0.2".into()), 1), "another address");
    }

    #[tokio::test]
    async fn a_password_check_waits_for_a_free_place_and_gives_up_when_none_comes() {
        let l = LoginLimiter::with_checks(1);
        let held = l.check_slot().await.expect("the one place");
        assert!(l.check_slot_within(std::time::Duration::from_millis(20)).await.is_none(), "taken");
        drop(held);
        assert!(l.check_slot_within(std::time::Duration::from_millis(20)).await.is_some(), "given back");
    }
}
