//! The core's error type: typed, naming the field and what is wrong, never carrying personal data.

use crate::entities::EntityKind;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
///
/// Messages name the field and the rule that failed; they never contain the value
/// itself, so no name, ID number, phone or address reaches a log or a screen by accident.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input field failed validation. Nothing was written.
    #[error("invalid field `{field}`: {reason}")]
    Invalid {
        /// The field (API name) that is wrong.
        field: String,
        /// What is wrong, in Simplified Chinese for the screen.
        reason: String,
    },
    /// The referenced record does not exist (or is outside what this device holds).
    #[error("{entity} not found")]
    NotFound {
        /// Entity kind that was looked up.
        entity: EntityKind,
    },
    /// The device's user may not do this (role or scope). Nothing was written.
    #[error("forbidden: {reason}")]
    Forbidden {
        /// Machine-readable code (`out_of_scope`, `role_not_allowed`, `field_protected`).
        code: &'static str,
        /// Why, in Simplified Chinese.
        reason: String,
    },
    /// The record's state no longer allows this (evidence already handed in, an assignment not
    /// handed in yet reviewed, a patrol already ended): nothing wrong with the input, the
    /// record moved on (maybe on another device). Nothing was written.
    #[error("conflict: {reason}")]
    Conflict {
        /// Why, in Simplified Chinese.
        reason: String,
    },
    /// An incident event that the state machine refuses in the incident's current status.
    #[error("transition refused: {0}")]
    Transition(#[from] crate::incident_flow::TransitionError),
    /// The store has no enrolled user yet, so it cannot tell who is acting.
    #[error("no user is enrolled on this device")]
    NotEnrolled,
    /// The sync was cancelled by the caller.
    #[error("cancelled")]
    Cancelled,
    /// The server or the network failed; the outbox is untouched and the sync can be retried.
    #[error("transport: {0}")]
    Transport(String),
    /// The server refused the credentials or the token.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// English message from the error body (for logs).
        message: String,
        /// Simplified Chinese message from the error body (for the screen).
        message_zh: String,
    },
    /// The server answered with an error body.
    #[error("server error {code}: {message}")]
    Server {
        /// Machine code from the error body.
        code: String,
        /// English message from the error body (for logs).
        message: String,
        /// Simplified Chinese message from the error body (for the screen).
        message_zh: String,
    },
    /// SQLite failed.
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored JSON could not be read back (a corrupted row or an incompatible version).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
}

impl Error {
    /// Shorthand for [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), reason: reason.into() }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(entity: EntityKind) -> Self {
        Error::NotFound { entity }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        // serde_json messages carry positions and types, never the offending value.
        Error::Corrupt(e.to_string())
    }
}

impl From<crate::access::Denied> for Error {
    fn from(d: crate::access::Denied) -> Self {
        Error::Forbidden { code: d.code.as_str(), reason: d.reason_zh }
    }
}
