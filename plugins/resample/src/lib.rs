//! Resample plugin (in progress).
