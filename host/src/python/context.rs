//! `algohost.Context`: the run's context for Python plugins, the same
//! capabilities as the Rust [`Context`] (which it wraps).

use algohost_sdk::Context;
use algohost_sdk::chrono::{DateTime, Utc};
use algohost_sdk::logging::LogRecord;
use pyo3::prelude::*;

use super::data::{PyDataPointConfig, PyDataPointFilter};
use super::{data_access, errors, run_logs};

/// What a running algorithm gets, as its first argument: the run's
/// identity, logging, progress, cancellation, deadline and data.
///
/// ```python
/// @algohost.algorithm
/// def peak(ctx: algohost.Context, series: str = "site.load") -> dict[str, float]:
///     frame = ctx.read(algohost.DataPointFilter(names=[series]))
///     ctx.progress(0.5, "read")
///     ctx.check()  # raises algohost.Cancelled when the run was cancelled
///     return {"peak": frame[series].max()}
/// ```
#[pyclass(module = "algohost", name = "Context", frozen)]
pub struct PyContext {
    ctx: Context,
}

impl PyContext {
    /// A Python context over the same run as `ctx`.
    pub fn new(ctx: &Context) -> Self {
        Self {
            ctx: Context::new(ctx.host().clone()),
        }
    }
}

#[pymethods]
impl PyContext {
    /// The run's id (a UUIDv7).
    #[getter]
    fn run_id(&self) -> &str {
        self.ctx.run_id()
    }

    /// The running algorithm's name.
    #[getter]
    fn algorithm(&self) -> &str {
        self.ctx.algorithm()
    }

    /// When the run times out (timezone-aware UTC), or None.
    #[getter]
    fn deadline(&self) -> Option<DateTime<Utc>> {
        self.ctx.deadline().map(DateTime::<Utc>::from)
    }

    /// A logger (`algohost.plugins.<algorithm>`, at DEBUG) bound to this
    /// run: its records are kept on the run from any thread (a
    /// `threading.Thread`, a `ThreadPoolExecutor`). Records of any `logging`
    /// logger emitted by the run's thread are kept too, at that logger's
    /// level: WARNING and up for a logger left at Python's default, so a
    /// plugin module's own `logging.getLogger(__name__)` needs
    /// `.setLevel(logging.INFO)` for its `info` records.
    #[getter]
    fn log<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let name = format!("algohost.plugins.{}", slf.get().ctx.algorithm());
        slf.py()
            .import("algohost._logging")?
            .call_method1("RunLogger", (slf, name))
    }

    /// Reports progress as a fraction in 0..=1 with a message; it never goes
    /// back. `ValueError` for anything else (a percentage such as 50, say).
    #[pyo3(signature = (fraction, message = ""))]
    fn progress(&self, fraction: f64, message: &str) -> PyResult<()> {
        if !(0.0..=1.0).contains(&fraction) {
            let hint = if fraction > 1.0 && fraction <= 100.0 {
                format!("; did you mean {}?", fraction / 100.0)
            } else {
                String::new()
            };
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "progress is a fraction from 0 to 1, got {fraction}{hint}"
            )));
        }
        self.ctx.progress(fraction, message);
        Ok(())
    }

    /// Whether the run was cancelled (or passed its deadline): stop soon.
    fn is_cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    /// Raises `algohost.Cancelled` or `algohost.TimedOut` when the run should
    /// stop; let it through to end the run so.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        self.ctx.check().map_err(|e| errors::from_sdk(py, &e))
    }

    /// Samples in wide form: `ts` and one Float64 column per data point
    /// name, as a polars DataFrame. An unknown name raises `AlgohostError`
    /// naming the close ones. `ts` is always UTC (`datetime[μs, UTC]`), also
    /// for daily or monthly resolutions: convert it for calendar work in
    /// local time (`.dt.date()`, `group_by_dynamic("1d")`, local tariffs).
    ///
    /// ```python
    /// frame = ctx.read(algohost.DataPointFilter(names=["site.load"], resolution="PT1H"))
    /// local = frame.with_columns(pl.col("ts").dt.convert_time_zone("Europe/Berlin"))
    /// ```
    fn read<'py>(
        &self,
        py: Python<'py>,
        filter: PyRef<'py, PyDataPointFilter>,
    ) -> PyResult<Bound<'py, PyAny>> {
        data_access::frame(py, &self.ctx, &filter, Context::read)
    }

    /// Samples in long form: `data_point_id`, `ts`, `value`.
    fn read_long<'py>(
        &self,
        py: Python<'py>,
        filter: PyRef<'py, PyDataPointFilter>,
    ) -> PyResult<Bound<'py, PyAny>> {
        data_access::frame(py, &self.ctx, &filter, Context::read_long)
    }

    /// Adds or replaces samples: a frame in wide form (`ts` and a column per
    /// data point name) or long form (`data_point_id`, `ts`, `value`); polars,
    /// pandas, pyarrow or anything with `__arrow_c_stream__`.
    fn write(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<()> {
        data_access::write(py, &self.ctx, frame)
    }

    /// The data point named `name`; an unknown name raises `AlgohostError`
    /// with the close names and the known ones, prefixed `params.{param}:`
    /// when `param` says which params field named it.
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

    /// The data points `filter` selects (all of them without one).
    #[pyo3(signature = (filter = None))]
    fn data_points(
        &self,
        py: Python<'_>,
        filter: Option<PyRef<'_, PyDataPointFilter>>,
    ) -> PyResult<Vec<PyDataPointConfig>> {
        data_access::data_points(py, &self.ctx, filter)
    }

    /// Creates the data points that do not exist yet (matched by name) and
    /// returns all of them as stored, with their ids. An existing name keeps
    /// its definition and tags; defining it as another series (quantity,
    /// unit, resolution or time zone) raises `AlgohostError` naming both; a
    /// unit or time zone not given (empty) matches the stored one, and a new
    /// data point without a time zone is in UTC.
    fn define_data_points(
        &self,
        py: Python<'_>,
        points: Vec<PyDataPointConfig>,
    ) -> PyResult<Vec<PyDataPointConfig>> {
        data_access::define_data_points(py, &self.ctx, points)
    }

    /// Keeps one log record on the run. The logging handler passes
    /// `handled`: whether one of the application's handlers had the record,
    /// so that `Host.run` shows it only if none did.
    #[pyo3(signature = (level, target, message, handled = None))]
    fn _log(&self, level: &str, target: &str, message: &str, handled: Option<bool>) {
        let level = match level.to_ascii_lowercase().as_str() {
            "critical" | "fatal" | "error" => "error",
            "warning" | "warn" => "warn",
            "info" => "info",
            "debug" => "debug",
            _ => "trace",
        };
        let record = LogRecord::now(level, target, message);
        match handled {
            Some(handled) => {
                run_logs::from_python_logging(handled, || self.ctx.host().log(record));
            }
            None => self.ctx.host().log(record),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Context(run_id={:?}, algorithm={:?})",
            self.ctx.run_id(),
            self.ctx.algorithm()
        )
    }
}
