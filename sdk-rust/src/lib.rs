//! The algohost SDK: everything a Rust plugin author needs.
//!
//! An algorithm is a function `fn(&Context, P) -> Result<Output>` marked with
//! [`algorithm`]; `P` is any `Deserialize + JsonSchema` type and becomes the
//! algorithm's params schema. Link the crate into a host binary (a builtin
//! source), or add `crate-type = ["cdylib"]` and one [`export_plugin!`] to load
//! it at run time (a dylib source).
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
pub mod params;
pub mod registration;
pub mod suggest;
pub mod testing;

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
