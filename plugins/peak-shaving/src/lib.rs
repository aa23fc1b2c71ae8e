//! Peak shaving plugin (in progress).
