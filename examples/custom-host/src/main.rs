//! A host binary of your own: the algohost CLI plus your plugin crates.

use std::process::ExitCode;

// Linking the crate registers its `#[algorithm]`s as builtin algorithms.
extern crate my_plugin;

fn main() -> ExitCode {
    algohost::cli::main()
}
