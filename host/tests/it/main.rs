//! Integration tests of the `algohost` crate: one binary, one module per
//! area (STYLE.md 12).

mod cli;
mod common;
mod demo;
mod dylib;
mod files_adapter;
mod readme;
mod runner;
