//! What an algorithm returns: a JSON summary and named frames.

use std::collections::BTreeMap;

use polars::prelude::DataFrame;
use serde_json::Value;

/// A run's result: a JSON summary plus zero or more named Polars frames.
///
/// ```
/// use algohost_sdk::prelude::*;
/// let frame = DataFrame::new_infer_height(vec![Column::new("x".into(), [1.0, 2.0])]).unwrap();
/// let out = Output::new().with_summary(json!({"rows": 2})).with_frame("result", frame);
/// assert_eq!(out.frames["result"].height(), 2);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// A small JSON value describing the result (shown by `algohost run`).
    pub summary: Value,
    /// Output frames by name, as listed in the algorithm's manifest.
    pub frames: BTreeMap<String, DataFrame>,
}

impl Output {
    /// An empty output: `null` summary, no frames.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the summary.
    pub fn with_summary(mut self, summary: Value) -> Self {
        self.summary = summary;
        self
    }

    /// Adds (or replaces) a named frame.
    pub fn with_frame(mut self, name: impl Into<String>, frame: DataFrame) -> Self {
        self.frames.insert(name.into(), frame);
        self
    }
}
