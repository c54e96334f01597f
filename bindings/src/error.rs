//! The one error apps see, mapped from the core's errors in one place, and the guard every
//! exported call runs in: a panic anywhere below it comes back as `ApiError::Internal`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use gridline_core::incident_flow::TransitionErrorKind;
use gridline_core::{EntityKind, Error};

/// What went wrong, in the few cases an app can act on. Reasons are in Simplified Chinese
/// where they come from the core's rules, and never contain personal data.
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum ApiError {
    /// An input field is wrong; nothing was written. Show `reason` next to `field`.
    #[error("invalid `{field}`: {reason}")]
    Validation {
        /// The field that is wrong (API name; `[3].phone` for item 3 of a batch).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The user's role or scope does not allow this; nothing was written.
    #[error("permission denied ({code}): {reason}")]
    PermissionDenied {
        /// `out_of_scope`, `role_not_allowed` or `field_protected`.
        code: String,
        /// Why.
        reason: String,
    },
    /// The record does not exist on this device.
    #[error("{entity:?} not found")]
    NotFound {
        /// The kind of record that was looked up.
        entity: EntityKind,
    },
    /// The record's state does not allow this now (an incident event refused in its current
    /// status, evidence already handed in, a patrol already ended); reload it and offer what
    /// `allowedIncidentEvents` returns.
    #[error("conflict: {reason}")]
    Conflict {
        /// Why.
        reason: String,
    },
    /// No user is enrolled, or the server refused the login or the device token: log in again.
    #[error("not signed in: {reason}")]
    Auth {
        /// Why, in Simplified Chinese (the server's own message when it refused).
        reason: String,
    },
    /// The server could not be reached; nothing was lost, try again later.
    #[error("network: {reason}")]
    Network {
        /// What failed (technical, English).
        reason: String,
    },
    /// The server refused the request itself (e.g. an unsupported protocol version).
    #[error("server refused ({code}): {reason}")]
    Server {
        /// Machine code of the server's error body.
        code: String,
        /// The server's message in Simplified Chinese.
        reason: String,
    },
    /// The caller cancelled the sync; nothing was lost.
    #[error("cancelled")]
    Cancelled,
    /// The device database failed (disk full, corrupted file).
    #[error("storage: {reason}")]
    Storage {
        /// What failed (technical, English).
        reason: String,
    },
    /// A bug: the core panicked. The call had no effect and the store stays usable.
    #[error("internal error: {reason}")]
    Internal {
        /// The panic message.
        reason: String,
    },
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid { field, reason } => ApiError::Validation { field, reason },
            Error::NotFound { entity } => ApiError::NotFound { entity },
            Error::Conflict { reason } => ApiError::Conflict { reason },
            Error::Forbidden { code, reason } => ApiError::PermissionDenied { code: code.into(), reason },
            Error::Transition(t) => match t.kind {
                TransitionErrorKind::RoleNotAllowed => {
                    ApiError::PermissionDenied { code: "role_not_allowed".into(), reason: t.reason_zh() }
                }
                TransitionErrorKind::NotAllowedInStatus => ApiError::Conflict { reason: t.reason_zh() },
            },
            Error::NotEnrolled => ApiError::Auth { reason: "本机尚未登录，请先登录".into() },
            Error::Unauthorized { message_zh, .. } => ApiError::Auth { reason: message_zh },
            Error::Cancelled => ApiError::Cancelled,
            Error::Transport(reason) => ApiError::Network { reason },
            Error::Server { code, message_zh, .. } => ApiError::Server { code, reason: message_zh },
            e @ (Error::Sqlite(_) | Error::Corrupt(_)) => ApiError::Storage { reason: e.to_string() },
        }
    }
}

/// Runs one call into the core: its error mapped to [`ApiError`], a panic caught and returned
/// as [`ApiError::Internal`] instead of unwinding into foreign code.
///
/// Unwind safety: the store's locks recover from poisoning and an unwinding SQLite transaction
/// rolls back when dropped, so a store that saw a panic is still consistent.
pub(crate) fn guard<T>(f: impl FnOnce() -> gridline_core::Result<T>) -> Result<T, ApiError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(ApiError::from),
        Err(payload) => Err(ApiError::Internal { reason: panic_message(payload.as_ref()) }),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_owned(),
        (_, Some(s)) => s.clone(),
        _ => "panic without a message".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridline_core::incident_flow::TransitionError;
    use gridline_core::{EventKind, IncidentStatus, Role};

    #[test]
    fn a_panic_becomes_internal_with_its_message() {
        let r: Result<(), ApiError> = guard(|| panic!("boom {}", 7));
        assert_eq!(r, Err(ApiError::Internal { reason: "boom 7".into() }));
        let r: Result<(), ApiError> = guard(|| std::panic::panic_any(42u8));
        assert_eq!(r, Err(ApiError::Internal { reason: "panic without a message".into() }));
    }

    #[test]
    fn core_errors_map_to_the_case_an_app_acts_on() {
        assert_eq!(
            ApiError::from(Error::invalid("phone", "手机号格式不正确")),
            ApiError::Validation { field: "phone".into(), reason: "手机号格式不正确".into() }
        );
        let refused = |kind| {
            ApiError::from(Error::Transition(TransitionError {
                status: Some(IncidentStatus::Closed),
                event: EventKind::Dispatched,
                role: Role::GridWorker,
                kind,
            }))
        };
        assert!(matches!(refused(TransitionErrorKind::NotAllowedInStatus), ApiError::Conflict { .. }));
        assert!(matches!(refused(TransitionErrorKind::RoleNotAllowed), ApiError::PermissionDenied { .. }));
        assert_eq!(
            ApiError::from(Error::Conflict { reason: "巡查已结束".into() }),
            ApiError::Conflict { reason: "巡查已结束".into() }
        );
        assert!(matches!(ApiError::from(Error::NotEnrolled), ApiError::Auth { .. }));
        assert_eq!(ApiError::from(Error::Cancelled), ApiError::Cancelled);
        assert!(matches!(ApiError::from(Error::Transport("reset".into())), ApiError::Network { .. }));
        assert!(matches!(ApiError::from(Error::Corrupt("bad json".into())), ApiError::Storage { .. }));
    }
}
