//! The stock `algohost` binary: the CLI plus the first-party builtin plugins.

use std::process::ExitCode;

mod allocator;

// Linked so that its `#[algorithm]`s register as builtin algorithms.
extern crate algohost_plugin_resample;

fn main() -> ExitCode {
    #[cfg(feature = "python")]
    algohost::python::embed();
    algohost::cli::main()
}
