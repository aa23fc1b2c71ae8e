//! `algohost._native`: the host's Python classes, from `algohost::python`.
use pyo3::prelude::*;

// Linked so that its `#[algorithm]`s register as builtin algorithms, as in
// the `algohost` binary.
extern crate algohost_plugin_resample;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    algohost::python::init_module(m)
}
