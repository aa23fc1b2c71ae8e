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
            None => (self.run)(ctx, serde_json::from_str(params).map_err(not_json)?),
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

/// Schema of a params type, as the macro calls it.
#[doc(hidden)]
pub fn schema_of<P: schemars::JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(P)).unwrap_or(Value::Null)
}

/// Deserialises validated params, as the macro calls it.
#[doc(hidden)]
pub fn params_from<P: serde::de::DeserializeOwned>(params: Value) -> Result<P> {
    serde_json::from_value(params)
        .map_err(|e| crate::Error::InvalidInput(format!("params do not fit the algorithm: {e}")))
}

/// Deserialises validated params from their JSON text, as the macro calls it.
#[doc(hidden)]
pub fn params_from_json<P: serde::de::DeserializeOwned>(params: &str) -> Result<P> {
    serde_json::from_str(params).map_err(|e| {
        if e.is_data() {
            crate::Error::InvalidInput(format!("params do not fit the algorithm: {e}"))
        } else {
            not_json(e)
        }
    })
}

fn not_json(e: serde_json::Error) -> crate::Error {
    crate::Error::InvalidInput(format!("the params are not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Params {
        limit_kw: f64,
    }

    #[test]
    fn params_from_json_tells_bad_json_from_params_that_do_not_fit() {
        let params = params_from_json::<Params>(r#"{"limit_kw": 5}"#).unwrap();
        assert_eq!(params.limit_kw, 5.0);
        let err = params_from_json::<Params>("{limit_kw").unwrap_err();
        assert!(
            err.to_string()
                .contains("the params are not JSON: key must be a string"),
            "{err}"
        );
        let err = params_from_json::<Params>(r#"{"limit_kw": "high"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("params do not fit the algorithm: invalid type: string"),
            "{err}"
        );
    }
}
