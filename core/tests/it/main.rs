//! The integration tests of `gridline-core`: one binary, one module per concern.

mod support;

mod access;
mod buildings;
mod households;
mod incidents;
mod migrations;
mod outbox;
mod patrols;
mod photos;
mod proptest_outbox;
mod residents;
mod search;
mod tasks;
