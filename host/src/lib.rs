//! algohost: discovers algorithms from every source, validates their params
//! against their JSON Schema, and runs them with one execution context and
//! time-series data through adapters.
//!
//! A custom host binary is `fn main() -> ExitCode { algohost::cli::main() }`
//! plus the plugin crates it links (see `examples/custom-host`).

pub mod adapters;
mod arrow_types;
pub mod cli;
pub mod demo;
mod outputs;
pub mod registry;
mod rfc3339;
pub mod runner;
pub mod server;
pub mod service;
pub mod sources;
pub mod store;
pub mod validation;

pub use algohost_sdk as sdk;
#[cfg(feature = "python")]
pub mod python;
