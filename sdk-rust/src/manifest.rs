//! The serialisable description of an algorithm: everything but its code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Name, version, description, params schema and outputs of an algorithm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// snake_case, unique in a registry.
    pub name: String,
    /// Semantic version of the algorithm.
    pub version: String,
    /// What the algorithm does, from its doc comment or docstring.
    #[serde(default)]
    pub description: String,
    /// JSON Schema (2020-12) of the params object.
    pub params_schema: Value,
    /// The frames the algorithm returns.
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
    /// Whether running it twice with the same params is harmless, so that a
    /// run interrupted by a server restart may be run again.
    #[serde(default)]
    pub idempotent: bool,
}

impl Manifest {
    /// A manifest with no description and no outputs, taking any params
    /// object; fill in the rest with struct update syntax.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: String::new(),
            params_schema: serde_json::json!({"type": "object"}),
            outputs: Vec::new(),
            idempotent: false,
        }
    }
}

/// A named output frame and the columns it carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    /// Frame name, as used in `Output::frames` and output file names.
    pub name: String,
    /// Column names, when they are fixed.
    #[serde(default)]
    pub columns: Vec<String>,
}
