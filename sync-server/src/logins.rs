//! Failed-login limits shared by every way in with a password: device enrollment
//! (`POST /v1/enroll`) and the console's login form. Five failures for one username from one
//! client address within 15 minutes refuse further attempts from there until the window has
//! passed (a success clears the count), and 100 failures from one address, whatever the names
//! (one password tried on many accounts), refuse every attempt from it for the window.
//! Counters are in memory: a restart clears them. Their memory is bounded: a username counts by
//! its first 64 characters (no account has a longer one), and the map is pruned as it grows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

/// Failed attempts allowed per username and client address within the window.
pub const MAX_FAILED_LOGINS: usize = 5;
/// Failed attempts allowed per client address within the window, whatever the usernames.
pub const MAX_FAILED_LOGINS_PER_ADDRESS: usize = 100;
/// Counters kept before the ones whose window has passed are pruned.
const PRUNE_AT: usize = 10_000;
/// The window, ms.
pub const LOGIN_WINDOW_MS: i64 = 15 * 60_000;

/// Times of failed attempts, by (username, client address) and by client address.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_name: HashMap<LoginKey, Vec<i64>>,
    by_address: HashMap<String, Vec<i64>>,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether attempts under `key` are refused now.
    pub fn limited(&self, key: &LoginKey, now: i64) -> bool {
        let mut f = self.lock();
        let by_name = f.by_name.get_mut(key).map_or(0, |l| recent(l, now));
        let by_address = f.by_address.get_mut(&key.1).map_or(0, |l| recent(l, now));
        by_name >= MAX_FAILED_LOGINS || by_address >= MAX_FAILED_LOGINS_PER_ADDRESS
    }

    /// Counts a failed attempt.
    pub fn failed(&self, key: LoginKey, now: i64) {
        let mut f = self.lock();
        if f.by_name.len() > PRUNE_AT || f.by_address.len() > PRUNE_AT {
            // Forget counters whose window has passed, so guessing names cannot grow the map.
            let live = |list: &Vec<i64>| list.last().is_some_and(|t| now - t < LOGIN_WINDOW_MS);
            f.by_name.retain(|_, list| live(list));
            f.by_address.retain(|_, list| live(list));
        }
        // Past a limit, attempts are refused before any check: more times say nothing new.
        let per_address = f.by_address.entry(key.1.clone()).or_default();
        if recent(per_address, now) < MAX_FAILED_LOGINS_PER_ADDRESS {
            per_address.push(now);
        }
        let per_name = f.by_name.entry(key).or_default();
        if recent(per_name, now) < MAX_FAILED_LOGINS {
            per_name.push(now);
        }
    }

    /// A successful login clears the count of its username (not its address's).
    pub fn succeeded(&self, key: &LoginKey) {
        self.lock().by_name.remove(key);
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

    #[test]
    fn many_names_tried_from_one_address_stop_it_for_the_window() {
        let l = LoginLimiter::default();
        for i in 0..MAX_FAILED_LOGINS_PER_ADDRESS {
            let key = login_key(&format!("user{i}"), "10.0.0.9".into());
            assert!(!l.limited(&key, i as i64), "attempt {i}");
            l.failed(key, i as i64);
        }
        let next = login_key("someone-else", "10.0.0.9".into());
        assert!(l.limited(&next, 200));
        assert!(!l.limited(&login_key("someone-else", "10.0.0.10".into()), 200), "another address");
        assert!(!l.limited(&next, LOGIN_WINDOW_MS + 200), "the window passed");
    }
}
