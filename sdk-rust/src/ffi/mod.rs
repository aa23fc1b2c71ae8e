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

/// The text of a panic's payload (`panic!` with a literal or a format).
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}
