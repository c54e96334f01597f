//! The sync client and its transports.

mod client;
#[cfg(feature = "http")]
mod http;
mod index_builder;
pub(crate) mod merge;
pub(crate) use index_builder::remove_scratch as remove_index_scratch;
pub(crate) use client::SyncGate;
mod transport;
#[cfg(feature = "http")]
pub mod zstd_body;

pub use client::{CancelToken, Progress, SyncOptions, SyncPhase, SyncReport, SyncStatus, UPLOAD_CHUNK};
#[cfg(feature = "http")]
pub use http::HttpTransport;
pub use transport::{Enroller, Transport, TransportError};
