//! The supervisors' web console under `/console/`: server-rendered Simplified Chinese pages over
//! the same storage, scope rules and push path as the sync API.
//!
//! Security: a random session id in an `HttpOnly; SameSite=Strict` cookie (`Secure` behind an
//! HTTPS proxy), kept server-side only as its SHA-256 with an idle expiry, in the database (a
//! restart of the server does not log anyone out); a per-session CSRF token on
//! every POST form (403 without it); login attempts limited per username and client address;
//! every page and action filtered by the core's `can_read` / `check_write` exactly as sync is.
//! Each console user acts through a server-side console device, so their actions are ops in the
//! change feed like any device's.

mod actions;
pub mod html;
mod pages;
mod pages_log;

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use gridline_core::access::{Principal, ScopeKeys};
use gridline_core::{EntityKind, Role};

use crate::auth::{new_token, token_hash};
use crate::error::AppError;
use crate::logins::ClientIp;
use crate::service::area_path;
use crate::storage::{AreaParents, ConsoleSession, NewDevice, UserRecord};
use crate::AppState;

/// Session lifetime (idle), ms.
const SESSION_TTL_MS: i64 = 8 * 3_600_000;
/// Name of the server-side device each console user acts through.
pub const CONSOLE_DEVICE_NAME: &str = "网页控制台";
const SESSION_COOKIE: &str = "gl_session";
const LOGIN_COOKIE: &str = "gl_login_csrf";

/// A session's stored expiry is moved forward only when it is this much older than a fresh
/// one (one write per session a minute at most, not one per page).
const SESSION_TOUCH_MS: i64 = 60_000;

/// A console failure, rendered as a page.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not logged in: go to the login page.
    Login,
    /// Out of scope, not allowed, or a failed CSRF check.
    Forbidden(String),
    /// No such record or page.
    NotFound,
    /// Bad input: what is wrong.
    Bad(String),
    /// Refused by the rules (the push path's reason).
    Refused(String),
    /// Too many failed logins.
    TooMany,
    /// Every place for a password check is taken: try again shortly.
    Busy,
    /// Internal error (logged, never shown).
    Internal,
}

impl From<AppError> for ConsoleError {
    fn from(e: AppError) -> Self {
        match e.status {
            StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => ConsoleError::Bad(e.message_zh),
            StatusCode::FORBIDDEN => ConsoleError::Forbidden(e.message_zh),
            StatusCode::NOT_FOUND => ConsoleError::NotFound,
            StatusCode::SERVICE_UNAVAILABLE if e.code == "busy" => ConsoleError::Busy,
            _ => ConsoleError::Internal,
        }
    }
}

impl From<crate::storage::StoreError> for ConsoleError {
    fn from(e: crate::storage::StoreError) -> Self {
        AppError::from(e).into()
    }
}

impl From<tokio::task::JoinError> for ConsoleError {
    fn from(e: tokio::task::JoinError) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, msg) = match self {
            ConsoleError::Login => return Redirect::to("/console/login").into_response(),
            ConsoleError::Forbidden(m) => (StatusCode::FORBIDDEN, "无权访问", m),
            ConsoleError::NotFound => (StatusCode::NOT_FOUND, "未找到", "页面或记录不存在".to_owned()),
            ConsoleError::Bad(m) => (StatusCode::BAD_REQUEST, "输入有误", m),
            ConsoleError::Refused(m) => (StatusCode::UNPROCESSABLE_ENTITY, "操作未执行", m),
            ConsoleError::TooMany => {
                (StatusCode::TOO_MANY_REQUESTS, "登录尝试过多", "登录失败次数过多，请15分钟后再试".to_owned())
            }
            ConsoleError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "请稍后再试", "登录的人太多，请稍后再试".to_owned()),
            ConsoleError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "服务器错误", "服务器内部错误，请稍后重试".to_owned()),
        };
        let body = format!(
            "<div class=\"panel\"><h1>{} {}</h1><p class=\"err\">{}</p><p><a href=\"/console/\">返回总览</a> · \
             <a href=\"javascript:history.back()\">返回上一页</a></p></div>",
            status.as_u16(),
            html::esc(title),
            html::esc(&msg)
        );
        (status, axum::response::Html(html::page(title, None, &body))).into_response()
    }
}

/// Console result.
pub type CResult<T> = Result<T, ConsoleError>;

/// What the logged-in user may see: the principal and the visible grids/areas.
pub struct ScopeView {
    /// The principal (role and scope from the users table).
    pub principal: Principal,
    /// The jurisdiction tree.
    pub parents: Arc<AreaParents>,
    /// Area ids inside the scope (`None`: everything, for admins; empty for roles without areas).
    pub areas: Option<Vec<String>>,
}

impl ScopeView {
    fn new(principal: Principal, parents: Arc<AreaParents>) -> ScopeView {
        let areas = match principal.role {
            Role::Admin => None,
            _ => Some(
                parents
                    .keys()
                    .filter(|a| area_path(&parents, a).iter().any(|p| principal.scope.area_ids.contains(p)))
                    .cloned()
                    .collect(),
            ),
        };
        ScopeView { principal, parents, areas }
    }

    /// Whether the user may read a record with these fields.
    pub fn can_read(&self, entity: EntityKind, id: &str, fields: &gridline_core::record::Fields) -> bool {
        self.principal.can_read_keys(entity, &ScopeKeys::of(entity, id, fields), &self.parents)
    }

    /// The 403 of an out-of-scope record.
    pub fn forbidden() -> ConsoleError {
        ConsoleError::Forbidden("该记录不在您的管辖范围内".into())
    }
}

/// A logged-in console user.
pub struct Sess {
    /// The user as stored now.
    pub user: UserRecord,
    /// CSRF token of the session.
    pub csrf: String,
    /// The console device the user's actions are pushed from.
    pub device_id: String,
    /// Scope.
    pub scope: ScopeView,
}

impl Sess {
    /// Header chrome.
    pub fn chrome<'a>(&'a self, who: &'a str, path: &'a str) -> html::Chrome<'a> {
        html::Chrome { who, csrf: &self.csrf, path }
    }

    /// "name (role)" for the header.
    pub fn who(&self) -> String {
        let name = if self.user.display_name.is_empty() { &self.user.username } else { &self.user.display_name };
        format!("{name}（{}）", self.user.role.label_zh())
    }

    /// Refuses a form whose `_csrf` field does not match the session (403).
    pub fn check_csrf(&self, form: &[(String, String)]) -> CResult<()> {
        let sent = form.iter().find(|(k, _)| k == "_csrf").map(|(_, v)| v.as_str()).unwrap_or_default();
        if sent.is_empty() || !constant_eq(sent, &self.csrf) {
            return Err(ConsoleError::Forbidden("表单校验失败（CSRF），请刷新页面后重试".into()));
        }
        Ok(())
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A submitted console form, as name/value pairs in order. A request that is not one (another
/// content type, a body that does not parse) gets the console's own 400 page, not the
/// framework's English text.
pub(super) struct ConsoleForm(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for ConsoleForm {
    type Rejection = ConsoleError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<Vec<(String, String)>>::from_request(req, state).await {
            Ok(axum::Form(pairs)) => Ok(ConsoleForm(pairs)),
            Err(_) => Err(ConsoleError::Bad("提交的表单无法识别，请回到页面重新提交".into())),
        }
    }
}

impl FromRequestParts<AppState> for Sess {
    type Rejection = ConsoleError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or(ConsoleError::Login)?;
        let key = token_hash(id);
        let service = state.service.clone();
        let found = tokio::task::spawn_blocking(move || -> CResult<_> {
            let storage = service.storage();
            let now = service.now_ms();
            let Some(s) = storage.session(&key, now)? else { return Ok(None) };
            let Some(user) = storage.user_by_name(&s.username)?.filter(|u| !u.disabled) else {
                storage.end_session(&key)?;
                return Ok(None);
            };
            // The console writes as the session's device: revoked, it ends the session too.
            if !storage.devices(&user.id)?.iter().any(|d| d.id == s.device_id && d.revoked_at.is_none()) {
                storage.end_session(&key)?;
                return Ok(None);
            }
            if s.expires_at - now < SESSION_TTL_MS - SESSION_TOUCH_MS {
                storage.touch_session(&key, now + SESSION_TTL_MS)?;
            }
            Ok(Some((s, user, service.area_parents()?)))
        })
        .await??;
        let Some((s, user, parents)) = found else { return Err(ConsoleError::Login) };
        let scope = ScopeView::new(user.principal(), parents);
        Ok(Sess { user, csrf: s.csrf, device_id: s.device_id, scope })
    }
}

/// A console cookie; `Secure` when the request came over HTTPS through a reverse proxy
/// (`X-Forwarded-Proto: https`), so the browser never sends it over plain HTTP there.
fn set_cookie(headers: &HeaderMap, name: &str, value: &str, max_age_s: i64) -> (header::HeaderName, String) {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').next().unwrap_or_default().trim().eq_ignore_ascii_case("https"));
    let secure = if https { "; Secure" } else { "" };
    (header::SET_COOKIE, format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}"))
}

async fn login_page(headers: HeaderMap) -> Response {
    // Double-submit token for the login form (there is no session yet).
    let token = match cookie(&headers, LOGIN_COOKIE) {
        Some(t) if t.len() == 64 => t.to_owned(),
        _ => new_token(),
    };
    let body = format!(
        "<form class=\"login\" method=\"post\" action=\"/console/login\"><h1>网格化管理督导台</h1>{}\
         <label>用户名<input name=\"username\" autocomplete=\"username\" required></label>\
         <label>密码<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">登录</button><p class=\"muted\">与移动端使用同一账号。</p></form>",
        html::csrf_input(&token)
    );
    ([set_cookie(&headers, LOGIN_COOKIE, &token, 3600)], axum::response::Html(html::page("登录", None, &body))).into_response()
}

async fn login(
    axum::extract::State(st): axum::extract::State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ConsoleForm(form): ConsoleForm,
) -> CResult<Response> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let sent = get("_csrf");
    if expected.is_empty() || !constant_eq(&sent, expected) {
        return Err(ConsoleError::Forbidden("表单校验失败（CSRF），请刷新登录页后重试".into()));
    }
    let username = get("username").trim().to_owned();
    if username.is_empty() {
        return Err(ConsoleError::Bad("请输入用户名".into()));
    }
    let now = st.service.now_ms();
    let key = crate::logins::login_key(&username, ip);
    if st.logins.limited(&key, now) {
        tracing::info!("console login rate-limited");
        return Err(ConsoleError::TooMany);
    }
    let Some(slot) = st.logins.check_slot().await else { return Err(ConsoleError::Busy) };
    let service = st.service.clone();
    let password = get("password");
    let name = username.clone();
    let user = tokio::task::spawn_blocking(move || -> CResult<Option<(UserRecord, String)>> {
        let _slot = slot;
        let Some(user) = service.verify_login(&name, &password)? else { return Ok(None) };
        let device_id = console_device(&service, &user)?;
        Ok(Some((user, device_id)))
    })
    .await??;
    let Some((user, device_id)) = user else {
        st.logins.failed(key, now);
        let body = "<div class=\"login\"><h1>登录失败</h1><p class=\"err\">用户名或密码错误，或账号已停用</p><p><a href=\"/console/login\">重新登录</a></p></div>";
        return Ok((StatusCode::UNAUTHORIZED, axum::response::Html(html::page("登录失败", None, body))).into_response());
    };
    st.logins.succeeded(&key);
    let id = new_token();
    let session = ConsoleSession {
        token_hash: token_hash(&id),
        username: user.username.clone(),
        csrf: new_token(),
        device_id,
        expires_at: now + SESSION_TTL_MS,
    };
    let service = st.service.clone();
    tokio::task::spawn_blocking(move || service.storage().put_session(&session, now)).await??;
    tracing::info!(user = %user.id, "console login");
    let cookies = axum::response::AppendHeaders([
        set_cookie(&headers, SESSION_COOKIE, &id, SESSION_TTL_MS / 1000),
        set_cookie(&headers, LOGIN_COOKIE, "", 0),
    ]);
    Ok((cookies, Redirect::to("/console/")).into_response())
}

async fn logout(
    axum::extract::State(st): axum::extract::State<AppState>,
    sess: Sess,
    headers: HeaderMap,
    ConsoleForm(form): ConsoleForm,
) -> CResult<Response> {
    sess.check_csrf(&form)?;
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        let (service, key) = (st.service.clone(), token_hash(id));
        tokio::task::spawn_blocking(move || service.storage().end_session(&key)).await??;
    }
    Ok(([set_cookie(&headers, SESSION_COOKIE, "", 0)], Redirect::to("/console/login")).into_response())
}

/// The console device of a user, enrolled on first login (its token is never handed out).
fn console_device(service: &crate::Service, user: &UserRecord) -> CResult<String> {
    let storage = service.storage();
    if let Some(d) = storage.devices(&user.id)?.into_iter().find(|d| d.name == CONSOLE_DEVICE_NAME && d.revoked_at.is_none()) {
        return Ok(d.id);
    }
    let id = uuid::Uuid::now_v7().to_string();
    storage.add_device(&NewDevice {
        id: id.clone(),
        user_id: user.id.clone(),
        token_hash: token_hash(&new_token()),
        name: CONSOLE_DEVICE_NAME.into(),
        created_at: service.now_ms(),
        expires_at: None,
    })?;
    Ok(id)
}

/// The console's routes (merged into the API router).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(|| async { Redirect::permanent("/console/") }))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .merge(pages::router())
        .merge(pages_log::router())
        .merge(actions::router())
}
