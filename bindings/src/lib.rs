//! uniffi layer over the Gridline core (lands with the bindings issue).
