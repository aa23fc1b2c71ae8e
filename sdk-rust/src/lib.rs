//! The algohost SDK: everything a Rust plugin author needs.
//!
//! An algorithm is a function `fn(&Context, P) -> Result<Output>` marked with
//! [`#[algorithm]`](algorithm), whose docs list its keys; `P` is any
//! `Deserialize + JsonSchema` type and becomes the algorithm's params schema.
//! A plugin crate is built as a `cdylib` with one [`export_plugin!`] and
//! loaded by any algohost at run time (a dylib source), or linked into a host
//! binary of your own (a builtin source). Its `Cargo.toml`:
//!
//! ```toml
//! [lib]
//! # cdylib: the library algohost loads; rlib: lets tests/*.rs link the crate
//! # and run its algorithms on a MemoryHost.
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! algohost-sdk = { path = "../algohost/sdk-rust" }
//! # For #[derive(Deserialize, JsonSchema)]; cargo unifies them with the SDK's.
//! serde = { version = "1", features = ["derive"] }
//! schemars = "1"
//! ```
//!
//! Without `rlib`, `cargo test` builds no library for the crate's integration
//! tests to link, so they cannot run its algorithms on a
//! [`testing::MemoryHost`]; a host binary that links the crate needs it too.
//! The README's "Write a Rust plugin" (`examples/rust-plugin`) is a whole
//! plugin crate.
//!
//! ```
//! use algohost_sdk::prelude::*;
//!
//! /// Double a number.
//! #[derive(Deserialize, JsonSchema)]
//! struct Params { x: f64 }
//!
//! #[algorithm(name = "double", version = "1.0.0")]
//! fn double(_ctx: &Context, params: Params) -> Result<Output> {
//!     Ok(Output::new().with_summary(json!({ "y": params.x * 2.0 })))
//! }
//!
//! assert!(algohost_sdk::registrations().any(|r| r.name == "double"));
//! ```

pub mod context;
pub mod data;
pub mod error;
pub mod ffi;
pub mod logging;
pub mod manifest;
pub mod output;
pub mod panic;
pub mod params;
pub mod registration;
pub mod suggest;
pub mod testing;

/// Registers a function `fn(&Context, P) -> Result<Output>` as an algohost
/// algorithm, which every host that links the crate (or loads it, with
/// [`export_plugin!`]) lists and runs.
///
/// ```
/// use algohost_sdk::prelude::*;
///
/// /// Which load series to look at, and its limit.
/// #[derive(Deserialize, JsonSchema)]
/// struct Params {
///     /// The load data point (power, kW).
///     #[serde(default = "site_load")]
///     series: String,
///     /// Intervals above this power (kW) are peaks.
///     #[schemars(range(min = 0.0))]
///     limit_kw: f64,
/// }
///
/// fn site_load() -> String {
///     "site.load".into()
/// }
///
/// /// The intervals in which a load series (kW) is above `limit_kw`.
/// #[algorithm(
///     name = "load_peaks",
///     version = "0.1.0",
///     outputs = ["peaks: ts, kw", "log"],
///     idempotent = true
/// )]
/// fn load_peaks(_ctx: &Context, params: Params) -> Result<Output> {
///     // Declared frames may be left out: this returns neither.
///     Ok(Output::new().with_summary(json!({ "series": params.series })))
/// }
///
/// let registration = algohost_sdk::registrations().find(|r| r.name == "load_peaks").unwrap();
/// let manifest = registration.manifest();
/// assert_eq!(manifest.description, "The intervals in which a load series (kW) is above `limit_kw`.");
/// let schema = &manifest.params_schema;
/// assert_eq!(schema["description"], "Which load series to look at, and its limit.");
/// assert_eq!(schema["properties"]["series"]["default"], "site.load");
/// assert_eq!(schema["properties"]["limit_kw"]["minimum"], 0.0);
/// assert_eq!(schema["additionalProperties"], false);
/// assert_eq!(manifest.outputs[0].columns, ["ts", "kw"]);
/// assert!(manifest.outputs[1].columns.is_empty());
/// assert!(manifest.idempotent);
/// ```
///
/// # Keys
///
/// - `name = "load_peaks"` (required): the algorithm's name, snake_case
///   (lowercase letters, digits and `_`, starting with a letter). Names are
///   unique in a host: a second algorithm of the same name is not
///   registered, and `algohost plugins` says so.
/// - `version = "0.1.0"` (required): a semantic version, which `list` and
///   `describe` show and every run keeps.
/// - `outputs = ["peaks: ts, kw", "log"]`: the frames the algorithm returns
///   ([`Output::with_frame`]), each `"frame: column, column"`, or `"frame"`
///   alone when its columns vary. `describe` shows them and clients read a
///   run's outputs by them, so a run that returns a frame whose name is not
///   declared, or a declared frame without one of its declared columns,
///   fails with an error naming the frame or the columns (more columns are
///   fine). A declared frame may be left out of the output. Without
///   `outputs`, any frames go.
/// - `idempotent = true` (default `false`): running the algorithm twice with
///   the same params does no harm (it only computes, or writes the same
///   samples again). A run that a server stop interrupts (the server was
///   killed or crashed) is then queued again when the server starts, instead
///   of failing as "interrupted".
///
/// # Description and params schema
///
/// The function's doc comment becomes the algorithm's description. `P`'s
/// JSON Schema, derived by schemars, becomes the params schema, which the
/// host checks params against before a run: `P`'s doc comment is the
/// schema's description, each field's doc comment the field's, serde
/// defaults (`#[serde(default)]`, `#[serde(default = "function")]`) the
/// defaults, and `#[schemars(range(min = 0.0))]`, `#[schemars(length(min =
/// 1))]` & co. add checks. The schema is closed: a field `P` does not have is
/// refused (see [`params`] to accept any).
///
/// Misuse (a missing or unknown key, a name that is not snake_case, a
/// version that is not semantic, a signature of another shape) fails to
/// compile with a message that says what to write instead.
pub use algohost_macros::algorithm;
pub use context::{Context, RunHost};
pub use error::{Error, Result};
pub use manifest::{Manifest, OutputSpec};
pub use output::Output;
pub use registration::{AlgorithmRegistration, registrations};

// Re-exported for the macro's expansion and for plugin code that names them
// (`algohost_sdk::polars::prelude::…`), at the SDK's versions. The derives
// `Deserialize` and `JsonSchema` expand to `::serde` and `::schemars` paths, so
// a crate that uses them depends on `serde` and `schemars` itself (the same
// major versions, which cargo unifies with these).
pub use chrono;
pub use inventory;
pub use polars;
pub use schemars;
pub use serde;
pub use serde_json;
pub use tracing;

/// The version of this SDK, recorded in every dylib plugin's table.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a plugin module needs in scope: `use algohost_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::algorithm;
    pub use crate::context::Context;
    pub use crate::data::{
        DataPointConfig, DataPointFilter, DataPointId, Flow, FlowFilter, Quantity, Resolution,
    };
    pub use crate::error::{Error, Result};
    pub use crate::output::Output;
    pub use polars::prelude::{Column, DataFrame, NamedFrom, Series};
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::json;
    pub use tracing::{debug, error, info, trace, warn};
}
