//! End-to-end test support for Gridline (lands with the sync issue).
