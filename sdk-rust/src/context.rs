//! What a running algorithm gets: identity, progress, cancellation, the
//! deadline, logging and data access through the run's adapter.
//!
//! [`Context`] is the same type for every source. Behind it sits a
//! [`RunHost`]: the host itself for builtin algorithms, or the C callback
//! table for dylib plugins (`ffi::v1`). Wide/long conversion and the progress
//! rules live here, once, so both sides behave the same.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::SystemTime;

use polars::prelude::DataFrame;

use crate::data::{self, DataPointConfig, DataPointFilter};
use crate::error::{Error, Result};
use crate::logging::LogRecord;

/// The host side of a running algorithm. Implemented by the host (and by the
/// dylib bridge); plugin authors use [`Context`] instead.
pub trait RunHost: Send + Sync {
    /// The run's id (a UUIDv7, as text).
    fn run_id(&self) -> &str;
    /// The algorithm's name.
    fn algorithm(&self) -> &str;
    /// When the run times out, if it has a timeout.
    fn deadline(&self) -> Option<SystemTime>;
    /// Whether the run was asked to stop.
    fn is_cancelled(&self) -> bool;
    /// Reports progress; `fraction` is already clamped and monotonic.
    fn progress(&self, fraction: f64, message: &str);
    /// Keeps a log record on the run.
    fn log(&self, record: LogRecord);
    /// Data points matching the filter.
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>>;
    /// Samples in long form (`data_point_id`, `ts`, `value`).
    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame>;
    /// Adds or replaces samples given in long form.
    fn write(&self, long: &DataFrame) -> Result<()>;
    /// Creates data points that do not exist yet (matched by name) and
    /// returns the stored configs, with their ids.
    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>>;
}

/// A running algorithm's context.
pub struct Context {
    host: Arc<dyn RunHost>,
    progress: Mutex<f64>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("run_id", &self.run_id())
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context backed by `host`.
    pub fn new(host: Arc<dyn RunHost>) -> Self {
        Self {
            host,
            progress: Mutex::new(0.0),
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        self.host.run_id()
    }

    /// The running algorithm's name.
    pub fn algorithm(&self) -> &str {
        self.host.algorithm()
    }

    /// When the run times out, if it has a timeout.
    pub fn deadline(&self) -> Option<SystemTime> {
        self.host.deadline()
    }

    /// Reports progress in `0..=1` with a message. Values are clamped to
    /// `0..=1` and never go backwards: a smaller value keeps the larger one.
    pub fn progress(&self, fraction: f64, message: &str) {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let mut current = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        if fraction >= *current {
            *current = fraction;
        }
        let value = *current;
        drop(current);
        self.host.progress(value, message);
    }

    /// Whether the run was cancelled (or its deadline passed). Long loops
    /// should poll this, or call [`Context::check`].
    pub fn is_cancelled(&self) -> bool {
        self.host.is_cancelled() || self.is_past_deadline()
    }

    /// `Err(Cancelled)` once the run is cancelled, `Err(DeadlineExceeded)`
    /// once its deadline has passed; use it with `?` in loops.
    /// The deadline is looked at first: a run past it is also cancelled by
    /// the runner, and "timed out" is what happened.
    pub fn check(&self) -> Result<()> {
        if self.is_past_deadline() {
            Err(Error::DeadlineExceeded)
        } else if self.host.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    fn is_past_deadline(&self) -> bool {
        self.deadline().is_some_and(|d| SystemTime::now() >= d)
    }

    /// Data points matching `filter`.
    pub fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        self.host.data_points(filter)
    }

    /// The data point named `name`. An unknown name is an
    /// [`Error::InvalidInput`] with the close names and the known ones
    /// (`unknown data point 'site.lod' (did you mean 'site.load'?); known
    /// names: …`); [`Error::for_param`] says which params field named it.
    pub fn data_point(&self, name: &str) -> Result<DataPointConfig> {
        let filter = DataPointFilter::default().with_names(vec![name.to_owned()]);
        if let Some(point) = self
            .host
            .data_points(&filter)?
            .into_iter()
            .find(|p| p.name == name)
        {
            return Ok(point);
        }
        Err(self.unknown_data_points(&[name]))
    }

    /// The error for `names` that name no data point: each one with its
    /// close names, then the known names. (Should listing the known names
    /// fail, that failure is the error.)
    pub fn unknown_data_points(&self, names: &[&str]) -> Error {
        let all = match self.host.data_points(&DataPointFilter::default()) {
            Ok(all) => all,
            Err(e) => return e,
        };
        let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        Error::InvalidInput(crate::suggest::unknown_names(
            "data point",
            names,
            &known,
            "this data has no data points yet; import some first (`algohost data import`)",
        ))
    }

    /// Samples in wide form: `ts` plus one Float64 column per data point
    /// name, at the filter's resolution when it sets one. The columns come
    /// in the order of the filter's `names` (or, without names, of its
    /// `ids`), then any other matching data point by id.
    pub fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        let mut points = self.host.data_points(filter)?;
        in_asked_order(&mut points, filter);
        let long = self.host.read(filter)?;
        data::to_wide(&long, &points)
    }

    /// Samples in long form (`data_point_id`, `ts`, `value`).
    pub fn read_long(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        self.host.read(filter)
    }

    /// Writes samples: a long frame (`data_point_id`, `ts`, `value`), or a
    /// wide one (`ts` plus a column per existing data point name). Samples at
    /// the same (data point, ts) are replaced; others are kept.
    pub fn write(&self, frame: &DataFrame) -> Result<()> {
        let frame = &data::normalize_for_write(frame)?;
        if data::is_long(frame) {
            return self.host.write(frame);
        }
        let names: Vec<String> = frame
            .get_column_names()
            .into_iter()
            .filter(|n| n.as_str() != data::TS)
            .map(|n| n.to_string())
            .collect();
        let points = self
            .host
            .data_points(&DataPointFilter::default().with_names(names.clone()))?;
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !points.iter().any(|p| &p.name == *n))
            .map(|n| format!("'{n}'"))
            .collect();
        if !missing.is_empty() {
            let (what, them, columns) = match missing.len() {
                1 => ("data point", "it", "column"),
                _ => ("data points", "them", "columns"),
            };
            return Err(Error::Data(format!(
                "unknown {what} {}: define {them} first with define_data_points(...), or drop \
                 the {columns}",
                missing.join(", ")
            )));
        }
        self.host.write(&data::to_long(frame, &points)?)
    }

    /// Creates the data points that do not exist yet (matched by name) and
    /// returns all of them as stored, with their ids.
    pub fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        self.host.define_data_points(points)
    }

    /// The host behind this context.
    pub fn host(&self) -> &Arc<dyn RunHost> {
        &self.host
    }
}

/// Orders `points` as `filter` names them (by `names`, else by `ids`); the
/// others keep their order after them.
fn in_asked_order(points: &mut [DataPointConfig], filter: &DataPointFilter) {
    let position = |point: &DataPointConfig| {
        if filter.names.is_empty() {
            filter.ids.iter().position(|id| *id == point.id)
        } else {
            filter.names.iter().position(|name| *name == point.name)
        }
    };
    points.sort_by_key(|point| position(point).unwrap_or(usize::MAX));
}
