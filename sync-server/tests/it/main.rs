//! Integration tests of the sync server: storage, HTTP API, rules.

mod auth;
mod bad_input;
mod common;
mod compression;
mod pull;
mod push;
mod storage;
mod console;
mod console_stats;
