//! Demo dataset (in progress).
