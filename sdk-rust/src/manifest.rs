//! The serialisable description of an algorithm: everything but its code.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::output::Output;

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

impl Manifest {
    /// Whether `output`'s frames are those this manifest declares (one
    /// without outputs takes any): each frame's name is declared, and the
    /// frame has the declared columns (it may have more). Any frame's name
    /// must be plain (letters, digits, `_`, `-`, `.` but not first): it
    /// becomes a file name and a URL segment. The host fails a
    /// run whose output does not fit, with this error, before anyone reads
    /// it: clients read outputs by the names and columns `describe` shows.
    ///
    /// ```
    /// use algohost_sdk::{Manifest, Output, OutputSpec};
    /// use algohost_sdk::polars::prelude::*;
    ///
    /// let manifest = Manifest {
    ///     outputs: vec![OutputSpec { name: "schedule".into(), columns: vec!["ts".into()] }],
    ///     ..Manifest::new("dispatch", "1.0.0")
    /// };
    /// let frame = DataFrame::new_infer_height(vec![Column::new("kw".into(), [1.0])]).unwrap();
    /// let output = Output::new().with_frame("schedule", frame);
    /// assert_eq!(
    ///     manifest.check_output(&output).unwrap_err().to_string(),
    ///     "the algorithm's frame 'schedule' lacks the declared column(s) ts (it has: kw); \
    ///      return them or change the declared columns"
    /// );
    ///
    /// let empty = Output::new().with_frame("schedule", DataFrame::empty());
    /// assert_eq!(
    ///     manifest.check_output(&empty).unwrap_err().to_string(),
    ///     "the algorithm's frame 'schedule' lacks the declared column(s) ts (it has no \
    ///      columns); return them or change the declared columns"
    /// );
    /// ```
    pub fn check_output(&self, output: &Output) -> Result<()> {
        if let Some(name) = output.frames.keys().find(|n| !is_plain_name(n)) {
            return Err(Error::msg(format!(
                "the algorithm returned a frame named {name:?}, which is not a plain name: frame \
                 names become file names and URL segments, so they are letters, digits, '_', '-' \
                 and '.' (not first), up to 128 of them"
            )));
        }
        if self.outputs.is_empty() {
            return Ok(());
        }
        for (name, frame) in &output.frames {
            let Some(spec) = self.outputs.iter().find(|o| &o.name == name) else {
                let declared: Vec<&str> = self.outputs.iter().map(|o| o.name.as_str()).collect();
                return Err(Error::msg(format!(
                    "the algorithm returned a frame '{name}', which its outputs do not declare \
                     (they declare: {}); declare it or rename the frame",
                    declared.join(", ")
                )));
            };
            let missing: Vec<&str> = spec
                .columns
                .iter()
                .filter(|c| frame.column(c).is_err())
                .map(String::as_str)
                .collect();
            if !missing.is_empty() {
                let has: Vec<&str> = frame
                    .get_column_names()
                    .into_iter()
                    .map(|c| c.as_str())
                    .collect();
                let has = if has.is_empty() {
                    "it has no columns".to_owned()
                } else {
                    format!("it has: {}", has.join(", "))
                };
                return Err(Error::msg(format!(
                    "the algorithm's frame '{name}' lacks the declared column(s) {} ({has}); \
                     return them or change the declared columns",
                    missing.join(", "),
                )));
            }
        }
        Ok(())
    }
}

/// Whether `name` is safe as a file name and a URL segment.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
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
