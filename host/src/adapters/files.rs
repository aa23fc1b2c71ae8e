//! Files adapter (in progress).
