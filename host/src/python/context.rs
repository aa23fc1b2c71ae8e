//! `algohost.Context`: the run's context for Python plugins, the same
//! capabilities as the Rust [`Context`] (which it wraps).

use algohost_sdk::Context;
use algohost_sdk::chrono::{DateTime, Utc};
use algohost_sdk::data::DataPointFilter;
use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use pyo3::prelude::*;

use super::data::{PyDataPointConfig, PyDataPointFilter};
use super::{errors, frames};

/// What a running algorithm gets.
#[pyclass(module = "algohost", name = "Context", frozen)]
pub struct PyContext {
    ctx: Context,
}

impl PyContext {
    /// The frame `read` gives for `filter`, read without the GIL.
    fn frame<'py>(
        &self,
        py: Python<'py>,
        filter: &PyDataPointFilter,
        read: fn(&Context, &DataPointFilter) -> algohost_sdk::Result<DataFrame>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = filter.0.clone();
        let frame = py
            .detach(|| read(&self.ctx, &filter))
            .map_err(|e| errors::from_sdk(py, &e))?;
        frames::to_polars(py, frame)
    }

    /// A Python context over the same run as `ctx`.
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: Context::new(ctx.host().clone()),
        }
    }
}

#[pymethods]
impl PyContext {
    #[getter]
    fn run_id(&self) -> &str {
        self.ctx.run_id()
    }

    #[getter]
    fn algorithm(&self) -> &str {
        self.ctx.algorithm()
    }

    #[getter]
    fn deadline(&self) -> Option<DateTime<Utc>> {
        self.ctx.deadline().map(DateTime::<Utc>::from)
    }

    /// A logger whose records are kept on the run.
    #[getter]
    fn log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("logging")?.call_method1(
            "getLogger",
            (format!("algohost.plugins.{}", self.ctx.algorithm()),),
        )
    }

    #[pyo3(signature = (fraction, message = ""))]
    fn progress(&self, fraction: f64, message: &str) {
        self.ctx.progress(fraction, message);
    }

    fn is_cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    fn check(&self, py: Python<'_>) -> PyResult<()> {
        self.ctx.check().map_err(|e| errors::from_sdk(py, &e))
    }

    fn read<'py>(
        &self,
        py: Python<'py>,
        filter: PyRef<'py, PyDataPointFilter>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.frame(py, &filter, Context::read)
    }

    fn read_long<'py>(
        &self,
        py: Python<'py>,
        filter: PyRef<'py, PyDataPointFilter>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.frame(py, &filter, Context::read_long)
    }

    fn write(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<()> {
        let frame = frames::from_python(frame)?;
        py.detach(|| self.ctx.write(&frame))
            .map_err(|e| errors::from_sdk(py, &e))
    }

    #[pyo3(signature = (name, *, param = None))]
    fn data_point(
        &self,
        py: Python<'_>,
        name: &str,
        param: Option<&str>,
    ) -> PyResult<PyDataPointConfig> {
        py.detach(|| self.ctx.data_point(name))
            .map(PyDataPointConfig)
            .map_err(|e| {
                let e = match param {
                    Some(field) => e.for_param(field),
                    None => e,
                };
                errors::from_sdk(py, &e)
            })
    }

    #[pyo3(signature = (filter = None))]
    fn data_points(
        &self,
        py: Python<'_>,
        filter: Option<PyRef<'_, PyDataPointFilter>>,
    ) -> PyResult<Vec<PyDataPointConfig>> {
        let filter = filter.map(|f| f.0.clone()).unwrap_or_default();
        let points = py
            .detach(|| self.ctx.data_points(&filter))
            .map_err(|e| errors::from_sdk(py, &e))?;
        Ok(points.into_iter().map(PyDataPointConfig).collect())
    }

    fn define_data_points(
        &self,
        py: Python<'_>,
        points: Vec<PyDataPointConfig>,
    ) -> PyResult<Vec<PyDataPointConfig>> {
        let points: Vec<_> = points.into_iter().map(|p| p.0).collect();
        let stored = py
            .detach(|| self.ctx.define_data_points(&points))
            .map_err(|e| errors::from_sdk(py, &e))?;
        Ok(stored.into_iter().map(PyDataPointConfig).collect())
    }

    /// Keeps one log record on the run (used by the logging handler).
    fn _log(&self, level: &str, target: &str, message: &str) {
        let level = match level.to_ascii_lowercase().as_str() {
            "critical" | "fatal" | "error" => "error",
            "warning" | "warn" => "warn",
            "info" => "info",
            "debug" => "debug",
            _ => "trace",
        };
        self.ctx.host().log(LogRecord::now(level, target, message));
    }

    fn __repr__(&self) -> String {
        format!(
            "Context(run_id={:?}, algorithm={:?})",
            self.ctx.run_id(),
            self.ctx.algorithm()
        )
    }
}
