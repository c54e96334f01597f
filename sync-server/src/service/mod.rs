//! The service: the rules between the HTTP handlers and the storage — enrollment, user
//! administration, push (scope, roles, merge, state machine) and the scoped pull.

pub mod attachments;
mod pull;
mod push;
pub mod stats;

pub use attachments::MAX_CHUNK_BYTES;
pub use push::PRIOR_SCOPE_GRACE_MS;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use gridline_core::access::{Principal, Scope, ScopeKind};
use gridline_core::protocol::{EnrollRequest, EnrollResponse};
use gridline_core::{Clock, Role};

pub use push::{checked, decode_op, Incoming, MalformedOp, Origin};
pub(crate) use push::{check_plain_create, MAX_ID_CHARS};

use crate::auth::{self, HashCost};
use crate::error::AppError;
use crate::storage::{AreaParents, NewDevice, NewUser, Storage, StoreError, UserRecord};

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Argon2 cost for new password hashes.
    pub hash_cost: HashCost,
    /// Lifetime of device tokens (ms); `None`: until revoked.
    pub token_ttl_ms: Option<i64>,
    /// Most ops in one push.
    pub max_ops_per_batch: usize,
    /// Most bytes of a request body as sent (possibly compressed).
    pub max_body_bytes: usize,
    /// Most bytes of a request body after decompression.
    pub max_decoded_bytes: usize,
    /// A device clock further off than this (ms) is flagged.
    pub max_clock_skew_ms: i64,
    /// Most changes examined for one pull page.
    pub max_scan_per_pull: usize,
    /// How long after a scope change ops written under the replaced scope are still judged by
    /// it (ms; 0: never). See [`Service::push_from_device`].
    pub prior_scope_grace_ms: i64,
    /// Fault point for crash tests: the process aborts in the middle of a push transaction
    /// once this many ops have been applied since start (see [`ABORT_AFTER_OPS_ENV`]).
    pub abort_after_ops: Option<u64>,
    /// At the fault point, hang (holding the push transaction open, for a test to SIGKILL the
    /// process) instead of aborting (see [`FAULT_HANG_ENV`]).
    pub fault_hang: bool,
}

/// Environment variable that sets [`Config::abort_after_ops`] for `serve` (crash tests only).
pub const ABORT_AFTER_OPS_ENV: &str = "GRIDLINE_FAULT_ABORT_AFTER_OPS";
/// Environment variable that sets [`Config::fault_hang`] for `serve` (`1`: hang).
pub const FAULT_HANG_ENV: &str = "GRIDLINE_FAULT_HANG";

impl Default for Config {
    fn default() -> Self {
        Config {
            hash_cost: HashCost::Default,
            token_ttl_ms: None,
            max_ops_per_batch: 1000,
            max_body_bytes: 8 << 20,
            max_decoded_bytes: 32 << 20,
            max_clock_skew_ms: 10 * 60 * 1000,
            max_scan_per_pull: 20_000,
            prior_scope_grace_ms: PRIOR_SCOPE_GRACE_MS,
            abort_after_ops: None,
            fault_hang: false,
        }
    }
}

impl Config {
    /// Settings for tests: cheap password hashes, everything else as in production.
    pub fn for_tests() -> Self {
        Config { hash_cost: HashCost::Cheap, ..Config::default() }
    }
}

/// The rules of the sync server over a storage.
pub struct Service {
    storage: Arc<dyn Storage>,
    clock: Arc<dyn Clock>,
    config: Config,
    /// The jurisdiction tree, loaded once and dropped when a batch writes areas.
    areas: AreaCache,
    /// Ops applied since start (counted only when the abort fault point is set).
    applied_since_start: AtomicU64,
}

pub use gridline_core::access::area_path;

/// The cached jurisdiction tree. A load that was under way when areas were written (it may have
/// read the tree from before their commit) is returned to its caller but not kept: otherwise a
/// tree without a new grid could stay cached until the next area write, and every op in that
/// grid would be refused as outside its writer's scope.
#[derive(Default)]
struct AreaCache {
    inner: RwLock<AreaCacheState>,
}

#[derive(Default)]
struct AreaCacheState {
    /// Bumped by every invalidation.
    generation: u64,
    tree: Option<Arc<AreaParents>>,
}

impl AreaCache {
    fn get_or_load(&self, load: impl FnOnce() -> Result<AreaParents, StoreError>) -> Result<Arc<AreaParents>, StoreError> {
        let generation = {
            let c = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if let Some(t) = &c.tree {
                return Ok(t.clone());
            }
            c.generation
        };
        let loaded = Arc::new(load()?);
        let mut c = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if c.generation == generation && c.tree.is_none() {
            c.tree = Some(loaded.clone());
        }
        Ok(loaded)
    }

    fn invalidate(&self) {
        let mut c = self.inner.write().unwrap_or_else(|p| p.into_inner());
        c.generation += 1;
        c.tree = None;
    }
}

/// A user account to create, with a clear-text password.
#[derive(Debug, Clone)]
pub struct UserSpec {
    /// Login name.
    pub username: String,
    /// Password (hashed before storage).
    pub password: String,
    /// Role.
    pub role: Role,
    /// Scope.
    pub scope: Scope,
    /// Name shown to supervisors.
    pub display_name: String,
}

/// Fewest characters of a password.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// A new password is at least [`MIN_PASSWORD_CHARS`] characters long.
pub fn check_password(password: &str) -> Result<(), AppError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AppError::bad_request(
            format!("password: at least {MIN_PASSWORD_CHARS} characters"),
            format!("密码至少要有 {MIN_PASSWORD_CHARS} 个字符"),
        ));
    }
    Ok(())
}

/// Most characters in a username, and in a user's display name.
pub const MAX_NAME_CHARS: usize = 64;

/// Checks a new user's login name (surrounding spaces are dropped before it is stored and
/// when someone logs in) and display name: not empty, at most [`MAX_NAME_CHARS`], no space or
/// control character inside a username (it is typed on a phone's login screen and listed
/// tab-separated), no control character in a display name.
pub fn check_names(username: &str, display_name: &str) -> Result<(), AppError> {
    let name = username.trim();
    let refused = |en: &str, zh: &str| Err(AppError::bad_request(format!("username: {en}"), zh.to_owned()));
    if name.is_empty() {
        return refused("required", "用户名不能为空");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return refused(&format!("at most {MAX_NAME_CHARS} characters"), &format!("用户名最多 {MAX_NAME_CHARS} 个字符"));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refused("no spaces or control characters inside", "用户名中间不能有空格或控制字符");
    }
    if display_name.chars().count() > MAX_NAME_CHARS || display_name.chars().any(char::is_control) {
        return Err(AppError::bad_request(
            format!("display_name: at most {MAX_NAME_CHARS} characters, no control characters"),
            format!("姓名最多 {MAX_NAME_CHARS} 个字符，且不能含控制字符"),
        ));
    }
    Ok(())
}

impl Service {
    /// A service over `storage`.
    pub fn new(storage: Arc<dyn Storage>, clock: Arc<dyn Clock>, config: Config) -> Self {
        Service { storage, clock, config, areas: AreaCache::default(), applied_since_start: AtomicU64::new(0) }
    }

    /// The storage.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// The storage, shared (for a second service over the same data, e.g. on another clock).
    pub fn storage_arc(&self) -> Arc<dyn Storage> {
        self.storage.clone()
    }

    /// Settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Server time (ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn area_parents(&self) -> Result<Arc<AreaParents>, StoreError> {
        self.areas.get_or_load(|| self.storage.area_parents())
    }

    /// The crash-test fault point: aborts the process (no unwinding, no commit), or hangs for
    /// the test to kill it, when the configured number of ops has been applied. Called inside
    /// the push transaction.
    pub(crate) fn fault_point_op_applied(&self) {
        if let Some(k) = self.config.abort_after_ops {
            if self.applied_since_start.fetch_add(1, Ordering::SeqCst) + 1 >= k {
                if self.config.fault_hang {
                    tracing::error!(ops = k, "fault point reached: hanging mid-push");
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(3600));
                    }
                }
                tracing::error!(ops = k, "fault point reached: aborting mid-push");
                std::process::abort();
            }
        }
    }

    pub(crate) fn invalidate_areas(&self) {
        self.areas.invalidate();
    }

    /// Creates a user with a hashed password, once the name, the password and the scope pass
    /// [`check_password`] and [`Service::check_scope`]; nothing is stored otherwise.
    pub fn add_user(&self, spec: &UserSpec) -> Result<UserRecord, AppError> {
        check_names(&spec.username, &spec.display_name)?;
        check_password(&spec.password)?;
        self.check_scope(spec.role, &spec.scope)?;
        let hash = auth::hash_password(&spec.password, self.config.hash_cost)?;
        let user = NewUser {
            username: spec.username.trim().to_owned(),
            password_hash: hash,
            role: spec.role,
            scope: spec.scope.clone(),
            display_name: spec.display_name.clone(),
        };
        match self.storage.add_user(&user) {
            Ok(u) => {
                tracing::info!(user = %u.id, role = %u.role, "user created");
                Ok(u)
            }
            Err(StoreError::AlreadyExists) => Err(AppError::new(
                axum::http::StatusCode::CONFLICT,
                "already_exists",
                "username is taken",
                "用户名已存在",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives a user a new password (a forgotten one, or one that may be known to others): the
    /// old one stops working and their console sessions end. Enrolled devices keep their
    /// tokens (revoke those separately). False when there is no such user.
    pub fn set_password(&self, username: &str, password: &str) -> Result<bool, AppError> {
        check_password(password)?;
        let hash = auth::hash_password(password, self.config.hash_cost)?;
        let found = self.storage.set_password(username, &hash)?;
        if found {
            tracing::info!("user password replaced");
        }
        Ok(found)
    }

    /// Replaces a user's role and scope (bumping the scope epoch), once they pass
    /// [`Service::check_scope`]. Returns the new epoch; None when there is no such user.
    pub fn set_scope(&self, username: &str, role: Role, scope: &Scope) -> Result<Option<i64>, AppError> {
        self.check_scope(role, scope)?;
        Ok(self.storage.set_scope(username, role, scope, self.now_ms())?)
    }

    /// Checks a scope for a user of `role`: it fits the role (`gridline_core::access::check_scope`)
    /// and every id in it names an area, building or department the server holds. The error
    /// names the field and the id (ids are not personal data).
    pub fn check_scope(&self, role: Role, scope: &Scope) -> Result<(), AppError> {
        gridline_core::access::check_scope(role, scope)
            .map_err(|p| AppError::bad_request(format!("scope.{}: {}", p.field, p.message), p.message_zh))?;
        for kind in ScopeKind::ALL {
            for id in kind.ids(scope) {
                if self.storage.console().record(kind.entity(), id)?.is_none() {
                    let label = kind.entity().label_zh();
                    return Err(AppError::bad_request(
                        format!("scope.{}: no {} with id {id}", kind.field(), kind.entity().as_str()),
                        format!("{label}「{id}」不存在"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks a password and enrolls a device for the user (DESIGN.md: one token per device).
    pub fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse, AppError> {
        let user = self.check_password(&req.username, &req.password)?;
        let token = auth::new_token();
        let now = self.now_ms();
        let mut device = NewDevice {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user.id.clone(),
            token_hash: auth::token_hash(&token),
            name: req.device_name.chars().take(100).collect(),
            created_at: now,
            expires_at: self.config.token_ttl_ms.map(|t| now + t),
        };
        // A login again on a device of this user keeps its id: ops it sent before (answered or
        // not) are recognised when sent again. Someone else's device, or a revoked one, gets a
        // new id.
        let again = match req.device_id.as_deref().filter(|id| push::id_ok(id)) {
            Some(id) => self.storage.reenroll_device(&NewDevice { id: id.to_owned(), ..device.clone() })?,
            None => false,
        };
        if again {
            device.id = req.device_id.clone().unwrap_or_default();
            tracing::info!(user = %user.id, device = %device.id, "device enrolled again");
        } else {
            self.storage.add_device(&device)?;
            tracing::info!(user = %user.id, device = %device.id, "device enrolled");
        }
        Ok(EnrollResponse { device_id: device.id, token, principal: user.principal(), scope_epoch: Some(user.scope_epoch) })
    }

    /// The user with this name and password, or a 401 that does not tell which was wrong.
    fn check_password(&self, username: &str, password: &str) -> Result<UserRecord, AppError> {
        let refused = || AppError::unauthorized("wrong username or password", "用户名或密码错误");
        let user = self.storage.user_by_name(username.trim())?;
        let Some(user) = user else {
            // Same work as a real check, so timing does not tell which names exist.
            let _ = auth::verify_password(password, dummy_hash());
            return Err(refused());
        };
        if !auth::verify_password(password, &user.password_hash) {
            tracing::info!(user = %user.id, "login refused: wrong password");
            return Err(refused());
        }
        if user.disabled {
            return Err(AppError::unauthorized("user disabled", "该账号已停用"));
        }
        Ok(user)
    }

    /// Checks console credentials: the user, or `None` for a wrong name, password or a disabled
    /// account (the same check as enrollment).
    pub fn verify_login(&self, username: &str, password: &str) -> Result<Option<UserRecord>, AppError> {
        match self.check_password(username, password) {
            Ok(u) => Ok(Some(u)),
            Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The principal of a stored user.
    pub fn principal_of(&self, username: &str) -> Result<Option<Principal>, AppError> {
        Ok(self.storage.user_by_name(username)?.map(|u| u.principal()))
    }
}

/// A real argon2 hash (default cost) of a random string, checked when the user does not exist.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| auth::hash_password(&auth::new_token(), HashCost::Default).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(areas: &[&str]) -> AreaParents {
        areas.iter().map(|a| ((*a).to_owned(), None)).collect()
    }

    #[test]
    fn the_area_tree_is_loaded_once_and_again_after_an_area_write() {
        let cache = AreaCache::default();
        let loads = std::cell::Cell::new(0);
        let load = |areas: &'static [&'static str]| {
            let loads = &loads;
            move || {
                loads.set(loads.get() + 1);
                Ok(tree(areas))
            }
        };
        assert!(cache.get_or_load(load(&["g1"])).unwrap().contains_key("g1"));
        assert!(cache.get_or_load(load(&["other"])).unwrap().contains_key("g1"));
        assert_eq!(loads.get(), 1);
        cache.invalidate();
        assert!(cache.get_or_load(load(&["g1", "g2"])).unwrap().contains_key("g2"));
        assert_eq!(loads.get(), 2);
    }

    /// A load under way while areas are written returns what it read, but the next caller loads
    /// again instead of getting a tree from before the write.
    #[test]
    fn a_load_overtaken_by_an_area_write_is_not_kept() {
        let cache = AreaCache::default();
        let stale = cache
            .get_or_load(|| {
                // The write commits and drops the cache while this load's read is under way.
                cache.invalidate();
                Ok(tree(&["g1"]))
            })
            .unwrap();
        assert!(!stale.contains_key("g2"));
        let fresh = cache.get_or_load(|| Ok(tree(&["g1", "g2"]))).unwrap();
        assert!(fresh.contains_key("g2"));
    }

    #[test]
    fn area_path_walks_up_and_survives_cycles() {
        let mut p = AreaParents::new();
        p.insert("city".into(), None);
        p.insert("com".into(), Some("city".into()));
        p.insert("g1".into(), Some("com".into()));
        assert_eq!(area_path(&p, "g1"), ["g1", "com", "city"]);
        assert_eq!(area_path(&p, "unknown"), ["unknown"]);
        p.insert("a".into(), Some("b".into()));
        p.insert("b".into(), Some("a".into()));
        assert_eq!(area_path(&p, "a"), ["a", "b"]);
    }
}
