//! Backends for time-series data. `files` is the embedded default.

pub mod files;
pub mod postgres;

use std::sync::Arc;

use algohost_sdk::Result;
use algohost_sdk::data::{DataPointConfig, DataPointFilter, FlowFilter};
use algohost_sdk::polars::prelude::DataFrame;

/// A backend for data points and their samples.
///
/// Frames are in long form (`data_point_id: Int64, ts: Datetime[us, UTC],
/// value: Float64`, sorted by id then ts).
pub trait Adapter: Send + Sync {
    /// Data points matching the filter's id, name, tag and quantity parts,
    /// sorted by id.
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>>;
    /// Samples of the matching data points in `[start, end)`, converted to
    /// the filter's resolution when it sets one.
    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame>;
    /// Adds samples, replacing those at the same (data point, ts); every
    /// other sample is kept. All or nothing.
    fn write(&self, long: &DataFrame) -> Result<()>;
    /// Data points whose flow matches.
    fn flows(&self, filter: &FlowFilter) -> Result<Vec<DataPointConfig>>;
    /// Creates the data points whose names do not exist yet and returns all
    /// of `points` as stored, with ids.
    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>>;
}

/// Opens the adapter a `--data` value names: a `postgres://…` (or
/// `postgresql://…`) URL is the PostgreSQL adapter, a directory the files
/// adapter.
pub fn open(spec: &str) -> Result<Arc<dyn Adapter>> {
    if postgres::is_postgres_url(spec) {
        return Ok(Arc::new(postgres::PostgresAdapter::connect(spec)?));
    }
    Ok(Arc::new(files::FilesAdapter::open(spec)?))
}

/// The adapter of a run that was given no data: every data access fails
/// with a message that says how to give it some.
#[derive(Debug, Default)]
pub struct NoData;

impl NoData {
    fn error<T>() -> Result<T> {
        Err(algohost_sdk::Error::Data(
            "this run reads or writes data but none was given: pass --data DIR (for example the demo data made by `algohost demo-data DIR`)".into(),
        ))
    }
}

impl Adapter for NoData {
    fn data_points(&self, _: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        Self::error()
    }
    fn read(&self, _: &DataPointFilter) -> Result<DataFrame> {
        Self::error()
    }
    fn write(&self, _: &DataFrame) -> Result<()> {
        Self::error()
    }
    fn flows(&self, _: &FlowFilter) -> Result<Vec<DataPointConfig>> {
        Self::error()
    }
    fn define_data_points(&self, _: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        Self::error()
    }
}
