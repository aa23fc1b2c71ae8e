//! Integration tests of the `algohost` crate: one binary, one module per
//! area (STYLE.md 12).

mod common;
mod readme;
mod runner;
