//! How `#[algorithm]` registers a function: one [`AlgorithmRegistration`]
//! per algorithm, collected with `inventory` from every crate linked into the
//! binary (or into the dylib, for `export_plugin!`).

use serde_json::Value;

use crate::context::Context;
use crate::error::Result;
use crate::manifest::{Manifest, OutputSpec};
use crate::output::Output;

/// A statically registered algorithm. Built by `#[algorithm]`; rarely by hand.
pub struct AlgorithmRegistration {
    /// snake_case algorithm name.
    pub name: &'static str,
    /// Semantic version.
    pub version: &'static str,
    /// Description from the doc comment.
    pub description: &'static str,
    /// Whether a run interrupted by a restart may be run again.
    pub idempotent: bool,
    /// `(frame name, columns)` of each output.
    pub outputs: &'static [(&'static str, &'static [&'static str])],
    /// Produces the params JSON Schema.
    pub params_schema: fn() -> Value,
    /// Deserialises the (already validated) params and runs the algorithm.
    pub run: fn(&Context, Value) -> Result<Output>,
    /// The same, with the params as JSON text (how they cross the dylib
    /// boundary): deserialised straight into the params type, without a
    /// [`Value`] in between. `None` parses a `Value` and calls `run`.
    pub run_json: Option<fn(&Context, &str) -> Result<Output>>,
}

impl AlgorithmRegistration {
    /// Runs the algorithm with params given as JSON text (through
    /// [`run_json`](Self::run_json) when it has one).
    pub fn run_with_json(&self, ctx: &Context, params: &str) -> Result<Output> {
        match self.run_json {
            Some(run_json) => run_json(ctx, params),
            None => (self.run)(
                ctx,
                serde_json::from_str(params).map_err(crate::params::not_json)?,
            ),
        }
    }

    /// The algorithm's manifest.
    pub fn manifest(&self) -> Manifest {
        Manifest {
            name: self.name.to_owned(),
            version: self.version.to_owned(),
            description: self.description.to_owned(),
            params_schema: (self.params_schema)(),
            outputs: self
                .outputs
                .iter()
                .map(|(name, columns)| OutputSpec {
                    name: (*name).to_owned(),
                    columns: columns.iter().map(|c| (*c).to_owned()).collect(),
                })
                .collect(),
            idempotent: self.idempotent,
        }
    }
}

impl std::fmt::Debug for AlgorithmRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlgorithmRegistration")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

inventory::collect!(AlgorithmRegistration);

/// Every algorithm registered in the crates linked into this binary.
pub fn registrations() -> impl Iterator<Item = &'static AlgorithmRegistration> {
    inventory::iter::<AlgorithmRegistration>.into_iter()
}
