//! Integration tests of the sync server: storage, HTTP API, rules.

mod attachments;
mod auth;
mod bad_input;
mod common;
mod compression;
mod pull;
mod push;
mod scope_change;
mod storage;
