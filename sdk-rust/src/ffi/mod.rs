//! The C ABI of dylib plugins (DESIGN.md, "The dylib ABI").
//!
//! Rust has no stable ABI, so a plugin library and its host speak C: the
//! versioned `#[repr(C)]` types of [`v1`], frames as Arrow C streams
//! ([`frames`]), the plugin side behind [`export_plugin!`](crate::export_plugin)
//! ([`plugin`]) and the host side that loads and runs plugins ([`host`]).
//! This is the only place in the SDK with `unsafe` code.
#![allow(unsafe_code)]

pub mod frames;
pub mod host;
pub mod plugin;
pub mod v1;
