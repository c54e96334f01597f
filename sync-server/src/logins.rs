//! Failed-login limits shared by every way in with a password: device enrollment
//! (`POST /v1/enroll`) and the console's login form. Five failures for one username from one
//! client address within 15 minutes refuse further attempts from there until the window has
//! passed (a success clears the count). Counters are in memory: a restart clears them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// Failed attempts allowed per username and client address within the window.
pub const MAX_FAILED_LOGINS: usize = 5;
/// The window, ms.
pub const LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// (username, client address) → times of failed attempts.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<(String, String), Vec<i64>>>,
}

/// The key of a login attempt: the username as typed (trimmed) and the client's address.
pub type LoginKey = (String, String);

impl LoginLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<LoginKey, Vec<i64>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether attempts under `key` are refused now.
    pub fn limited(&self, key: &LoginKey, now: i64) -> bool {
        let mut f = self.lock();
        let Some(list) = f.get_mut(key) else { return false };
        list.retain(|t| now - t < LOGIN_WINDOW_MS);
        list.len() >= MAX_FAILED_LOGINS
    }

    /// Counts a failed attempt.
    pub fn failed(&self, key: LoginKey, now: i64) {
        let mut f = self.lock();
        if f.len() > 10_000 {
            // Forget counters whose window has passed, so guessing names cannot grow the map.
            f.retain(|_, list| list.last().is_some_and(|t| now - t < LOGIN_WINDOW_MS));
        }
        f.entry(key).or_default().push(now);
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
