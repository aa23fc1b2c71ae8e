//! The data access of `algohost.Context` (a run's data) and of
//! `algohost.Host` (the host's own): one translation of read, write,
//! data_points and define_data_points over an SDK [`Context`], so that both
//! take and give the same types and raise the same errors. The adapter works
//! without the GIL.

use std::sync::Arc;
use std::time::SystemTime;

use algohost_sdk::context::RunHost;
use algohost_sdk::data::{DataPointConfig, DataPointFilter};
use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use algohost_sdk::{Context, Error};
use pyo3::prelude::*;

use super::data::{PyDataPointConfig, PyDataPointFilter};
use super::{errors, frames};
use crate::adapters::Adapter;

/// The frame `read` gives for `filter`, read without the GIL.
pub(super) fn frame<'py>(
    py: Python<'py>,
    ctx: &Context,
    filter: &PyDataPointFilter,
    read: fn(&Context, &DataPointFilter) -> algohost_sdk::Result<DataFrame>,
) -> PyResult<Bound<'py, PyAny>> {
    let filter = filter.0.clone();
    let frame = py
        .detach(|| read(ctx, &filter))
        .map_err(|e| errors::from_sdk(py, &e))?;
    frames::to_polars(py, frame)
}

/// Writes `frame` (wide or long; polars, pandas, pyarrow or any Arrow
/// stream), a pandas frame's errors in pandas' words.
pub(super) fn write(py: Python<'_>, ctx: &Context, frame: &Bound<'_, PyAny>) -> PyResult<()> {
    let is_pandas = frames::is_pandas(frame)?;
    let frame = frames::from_python(frame)?;
    py.detach(|| ctx.write(&frame)).map_err(|e| {
        let e = if is_pandas { in_pandas_words(e) } else { e };
        errors::from_sdk(py, &e)
    })
}

/// The data points `filter` selects (all of them without one).
pub(super) fn data_points(
    py: Python<'_>,
    ctx: &Context,
    filter: Option<PyRef<'_, PyDataPointFilter>>,
) -> PyResult<Vec<PyDataPointConfig>> {
    let filter = filter.map(|f| f.0.clone()).unwrap_or_default();
    let points = py
        .detach(|| ctx.data_points(&filter))
        .map_err(|e| errors::from_sdk(py, &e))?;
    Ok(points.into_iter().map(PyDataPointConfig).collect())
}

/// Creates the data points of `points` that do not exist yet; all of them
/// as stored.
pub(super) fn define_data_points(
    py: Python<'_>,
    ctx: &Context,
    points: Vec<PyDataPointConfig>,
) -> PyResult<Vec<PyDataPointConfig>> {
    let points: Vec<_> = points.into_iter().map(|p| p.0).collect();
    let stored = py
        .detach(|| ctx.define_data_points(&points))
        .map_err(|e| errors::from_sdk(py, &e))?;
    Ok(stored.into_iter().map(PyDataPointConfig).collect())
}

/// The hint of the SDK's error for a NaN sample, in polars' words.
const POLARS_NAN_HINT: &str = "(fill_nan(None) in polars)";
/// The same in pandas' words: a float64 column holds a missing value as
/// NaN (`None` too), a nullable `Float64` one as `pd.NA`.
const PANDAS_NAN_HINT: &str = "(in pandas: the column's .astype(\"Float64\") makes NaN pd.NA, \
                               which is null; or drop the row with df.dropna())";

/// `error` of writing a pandas frame, with its hints in pandas' words.
fn in_pandas_words(error: Error) -> Error {
    match error {
        Error::InvalidInput(message) => {
            Error::InvalidInput(message.replace(POLARS_NAN_HINT, PANDAS_NAN_HINT))
        }
        other => other,
    }
}

/// A `Host`'s data behind a [`Context`], outside any run: data access goes
/// straight to the adapter; there is no progress, log, cancel or deadline.
struct HostData(Arc<dyn Adapter>);

impl RunHost for HostData {
    fn run_id(&self) -> &str {
        ""
    }
    fn algorithm(&self) -> &str {
        ""
    }
    fn deadline(&self) -> Option<SystemTime> {
        None
    }
    fn is_cancelled(&self) -> bool {
        false
    }
    fn progress(&self, _: f64, _: &str) {}
    fn log(&self, _: LogRecord) {}
    fn data_points(&self, filter: &DataPointFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        self.0.data_points(filter)
    }
    fn read(&self, filter: &DataPointFilter) -> algohost_sdk::Result<DataFrame> {
        self.0.read(filter)
    }
    fn write(&self, long: &DataFrame) -> algohost_sdk::Result<()> {
        self.0.write(long)
    }
    fn define_data_points(
        &self,
        points: &[DataPointConfig],
    ) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        self.0.define_data_points(points)
    }
}

/// A context over `adapter`, for a `Host`'s own data access.
pub(super) fn context_of(adapter: Arc<dyn Adapter>) -> Context {
    Context::new(Arc::new(HostData(adapter)))
}
