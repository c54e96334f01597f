//! Gridline sync server (lands with the sync issue).
