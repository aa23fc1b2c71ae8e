//! Integration tests of the `algohost` crate: one binary, one module per
//! area (STYLE.md 12).

// Linked like the stock binary links it: `resample` is a builtin here too.
extern crate algohost_plugin_resample;

mod cli;
mod cli_interrupt;
mod common;
mod conformance;
mod data_cli;
mod demo;
mod dylib;
mod files_adapter;
mod pg_server;
mod plugins;
mod postgres;
mod postgres_cancel;
mod python;
mod readme;
mod rest;
mod runner;
mod runs_cli;
mod rust_plugin;
mod server;
mod service;
mod store;
