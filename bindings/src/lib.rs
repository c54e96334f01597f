//! Gridline's core for Kotlin, Swift and Python, through uniffi proc macros.
//!
//! Thin by design: `GridlineStore` holds a `gridline_core::Store` and forwards each call;
//! records and enums are the core's own types declared as uniffi remote types; every call runs
//! in [`error::guard`], which maps core errors to [`ApiError`] and turns a panic into
//! `ApiError::Internal` so none unwinds into foreign code.
#![warn(missing_docs)]

uniffi::setup_scaffolding!();

mod error;
mod labels;
mod register;
mod store;
mod sync;
mod work;

pub use error::ApiError;
pub use labels::{care_tags, event_kind_label, incident_status_label, role_label, severities, Label};
pub use store::GridlineStore;
pub use sync::{RejectedChange, SyncCancelToken, SyncListener};
