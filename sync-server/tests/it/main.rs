//! Integration tests of the sync server: storage, HTTP API, rules.

mod attachments;
mod auth;
mod authz;
mod bad_input;
mod common;
mod compression;
mod fuzz_corpus;
mod hostile;
mod pull;
mod push;
mod scope_change;
mod storage;
mod console;
mod console_stats;
