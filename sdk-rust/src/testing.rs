//! Running algorithms in tests without a host: [`MemoryHost`], an in-memory
//! [`RunHost`] with data points, samples, progress, log records,
//! cancellation and a deadline.
//!
//! ```
//! use algohost_sdk::chrono::{TimeZone, Utc};
//! use algohost_sdk::prelude::*;
//! use algohost_sdk::testing::MemoryHost;
//!
//! /// The mean of a data point, per hour.
//! #[derive(Deserialize, JsonSchema)]
//! struct Params { name: String }
//!
//! #[algorithm(name = "hourly_mean", version = "1.0.0", outputs = ["hourly"])]
//! fn hourly_mean(ctx: &Context, params: Params) -> Result<Output> {
//!     let filter = DataPointFilter::default()
//!         .with_names([params.name.as_str()])
//!         .with_resolution(Resolution::Seconds(3600));
//!     let wide = ctx.read(&filter)?;
//!     ctx.check()?;
//!     if wide.height() == 0 {
//!         warn!("no samples of '{}'", params.name);
//!     }
//!     ctx.progress(1.0, "done");
//!     Ok(Output::new().with_summary(json!({ "hours": wide.height() })).with_frame("hourly", wide))
//! }
//!
//! // Three hours of quarter-hourly load; one quarter of hour 1 is missing.
//! let start = Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap();
//! let load = DataPointConfig::new("site.load", Quantity::Power, "kW", Resolution::Seconds(900));
//! let mut values = vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0)];
//! values.extend([Some(8.0), None, Some(8.0), Some(8.0), Some(5.0), Some(5.0), Some(5.0), Some(5.0)]);
//! let host = MemoryHost::new().with_series(load, start, &values);
//!
//! let out = host.run("hourly_mean", json!({ "name": "site.load" }))?;
//! let hourly: Vec<Option<f64>> = out.frames["hourly"].column("site.load")?.f64()?.iter().collect();
//! assert_eq!(hourly, [Some(2.5), None, Some(5.0)]); // hour 1 is not fully covered
//! assert_eq!(host.progress_reports(), [(1.0, "done".to_owned())]);
//! assert!(host.warnings().is_empty());
//!
//! // Unknown names fail like they do with the host's adapters.
//! let err = host.run("hourly_mean", json!({ "name": "site.laod" })).unwrap_err();
//! assert!(err.to_string().contains("unknown data point name 'site.laod'"), "{err}");
//!
//! // A cancelled run stops at its next `ctx.check()`.
//! host.cancel();
//! let err = host.run("hourly_mean", json!({ "name": "site.load" })).unwrap_err();
//! assert!(matches!(err, Error::Cancelled));
//! # Ok::<(), algohost_sdk::Error>(())
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use chrono::{DateTime, Days, Months, TimeDelta, TimeZone, Utc};
use polars::prelude::DataFrame;
use serde_json::Value;

use crate::context::{Context, RunHost};
use crate::data::{self, DataPointConfig, DataPointFilter, DataPointId, Resolution};
use crate::error::{Error, Result};
use crate::logging::{LogRecord, with_run_logging};
use crate::output::Output;

/// The run id every run on a [`MemoryHost`] gets.
pub const RUN_ID: &str = "00000000-0000-7000-8000-000000000000";

/// The algorithm name of a [`MemoryHost::context`] (and of
/// [`MemoryHost::run_with`]); [`MemoryHost::run`] uses the algorithm's own.
pub const ALGORITHM: &str = "test";

/// An in-memory [`RunHost`] for testing algorithms: data points and their
/// samples, plus the progress reports and log records of its runs, kept for
/// assertions.
///
/// It behaves like the host's adapters: data points get the ids 1, 2, 3, …
/// in the order they are defined; reads honour every part of the
/// [`DataPointFilter`] (ids, names, tags, quantity, `[start, end)`, target
/// resolution and time zone, converting with [`data::resample`]); an unknown
/// id or name in a read is an error that lists the known ones; writes
/// replace the samples at the same (data point, ts) and keep all others.
///
/// Unlike the host, it does **not** validate params against the algorithm's
/// JSON Schema (the SDK has no schema validator): [`MemoryHost::run`] hands
/// the params to the algorithm, whose deserialisation checks only types;
/// unknown fields, which the host refuses (the schema is closed, see
/// [`params`](crate::params)), pass unless the type has
/// `#[serde(deny_unknown_fields)]`. Test schema constraints such as
/// `minimum` through the `algohost` host crate.
///
/// Progress reports and log records accumulate over all runs of one host.
#[derive(Debug)]
pub struct MemoryHost {
    state: Arc<State>,
    algorithm: String,
}

/// What every handle of one [`MemoryHost`] shares.
#[derive(Debug, Default)]
struct State {
    store: Mutex<Store>,
    progress: Mutex<Vec<(f64, String)>>,
    logs: Mutex<Vec<LogRecord>>,
    is_cancelled: AtomicBool,
    deadline: Mutex<Option<SystemTime>>,
}

/// Data points (in id order) and their samples by ts in µs.
#[derive(Debug, Default)]
struct Store {
    points: Vec<DataPointConfig>,
    samples: BTreeMap<DataPointId, BTreeMap<i64, Option<f64>>>,
}

impl Default for MemoryHost {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryHost {
    /// A host without data points, not cancelled, without a deadline.
    pub fn new() -> Self {
        Self {
            state: Arc::default(),
            algorithm: ALGORITHM.to_owned(),
        }
    }

    /// Defines a data point without samples (like
    /// [`RunHost::define_data_points`]: an existing name is kept as it is).
    ///
    /// # Panics
    /// If a data point of that name exists with another quantity, or the
    /// definition is invalid (empty name, unknown time zone).
    pub fn with_data_point(self, point: DataPointConfig) -> Self {
        self.with_samples(point, [])
    }

    /// Defines a data point (see [`MemoryHost::with_data_point`]) and adds
    /// samples: `values[i]` at the start of the `i`-th interval of the
    /// point's resolution from `start` (for calendar resolutions, local
    /// midnight in the point's time zone, so a DST day has 23 or 25 hours).
    /// `None` is a null sample; to leave an interval out, use
    /// [`MemoryHost::with_samples`] or call this again with a later `start`.
    ///
    /// # Panics
    /// As [`MemoryHost::with_data_point`], and if the resolution is not
    /// usable or the timestamps leave chrono's range.
    pub fn with_series(
        self,
        point: DataPointConfig,
        start: DateTime<Utc>,
        values: &[Option<f64>],
    ) -> Self {
        let ts = or_panic("with_series", series_ts(&point, start, values.len()));
        self.with_samples(point, ts.into_iter().zip(values.iter().copied()))
    }

    /// Defines a data point (see [`MemoryHost::with_data_point`]) and adds
    /// samples at the given interval starts, replacing any at the same ts.
    ///
    /// # Panics
    /// As [`MemoryHost::with_data_point`].
    pub fn with_samples(
        self,
        point: DataPointConfig,
        samples: impl IntoIterator<Item = (DateTime<Utc>, Option<f64>)>,
    ) -> Self {
        let mut stored = or_panic("with_samples", self.define_data_points(&[point]));
        let id = stored.remove(0).id;
        let mut store = lock(&self.state.store);
        let series = store.samples.entry(id).or_default();
        series.extend(
            samples
                .into_iter()
                .map(|(ts, v)| (ts.timestamp_micros(), v)),
        );
        drop(store);
        self
    }

    /// Sets the deadline that [`Context::deadline`] reports and
    /// [`Context::check`] enforces.
    pub fn with_deadline(self, deadline: SystemTime) -> Self {
        self.set_deadline(Some(deadline));
        self
    }

    /// Sets or clears the deadline, also for runs under way.
    pub fn set_deadline(&self, deadline: Option<SystemTime>) {
        *lock(&self.state.deadline) = deadline;
    }

    /// Cancels every run on this host, present and future:
    /// [`Context::is_cancelled`] is true and [`Context::check`] fails with
    /// [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.state.is_cancelled.store(true, Ordering::SeqCst);
    }

    /// The data point with this name, with its id.
    pub fn data_point(&self, name: &str) -> Option<DataPointConfig> {
        lock(&self.state.store)
            .points
            .iter()
            .find(|p| p.name == name)
            .cloned()
    }

    /// The samples of data point `name` as (ts in µs since the epoch, value),
    /// sorted by ts.
    ///
    /// # Panics
    /// If there is no data point of that name.
    pub fn samples_of(&self, name: &str) -> Vec<(i64, Option<f64>)> {
        let store = lock(&self.state.store);
        let point = store
            .points
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("MemoryHost::samples_of: {}", store.unknown_names(&[name])));
        store
            .samples
            .get(&point.id)
            .map(|s| s.iter().map(|(ts, v)| (*ts, *v)).collect())
            .unwrap_or_default()
    }

    /// Every progress report of the runs so far, as (fraction, message), in
    /// order; fractions are as the host sees them (clamped and monotonic).
    pub fn progress_reports(&self) -> Vec<(f64, String)> {
        lock(&self.state.progress).clone()
    }

    /// Every log record of the runs so far, in order.
    pub fn logs(&self) -> Vec<LogRecord> {
        lock(&self.state.logs).clone()
    }

    /// The messages of the `warn` log records, in order.
    pub fn warnings(&self) -> Vec<String> {
        lock(&self.state.logs)
            .iter()
            .filter(|r| r.level == "warn")
            .map(|r| r.message.clone())
            .collect()
    }

    /// A context backed by this host, for testing functions that take one.
    /// `tracing` events are only kept when logged inside
    /// [`MemoryHost::run_with`] or [`MemoryHost::run`].
    pub fn context(&self) -> Context {
        Context::new(self.handle(ALGORITHM))
    }

    /// Calls `f` as a run on this host: with a fresh [`Context`] and its
    /// `tracing` events kept as log records (see [`MemoryHost::logs`]).
    pub fn run_with<R>(&self, f: impl FnOnce(&Context) -> R) -> R {
        self.run_as(ALGORITHM, f)
    }

    /// Runs the registered algorithm `name` (from [`crate::registrations`])
    /// with `params`, as the host would but without validating the params
    /// against the schema (see the type's documentation); an output that
    /// does not fit the declared outputs is the host's error
    /// ([`Manifest::check_output`](crate::Manifest::check_output)).
    ///
    /// An unregistered name is an [`Error::InvalidInput`] listing the
    /// registered ones; a plugin's algorithms are registered in a test binary
    /// that uses the plugin crate.
    pub fn run(&self, name: &str, params: Value) -> Result<Output> {
        let registration = crate::registrations()
            .find(|r| r.name == name)
            .ok_or_else(|| unknown_algorithm(name))?;
        let output = self.run_as(registration.name, |ctx| (registration.run)(ctx, params))?;
        registration.manifest().check_output(&output)?;
        Ok(output)
    }

    fn run_as<R>(&self, algorithm: &str, f: impl FnOnce(&Context) -> R) -> R {
        let host = self.handle(algorithm);
        let ctx = Context::new(host.clone());
        with_run_logging(host, || f(&ctx))
    }

    /// A host sharing this one's state, running `algorithm`.
    fn handle(&self, algorithm: &str) -> Arc<dyn RunHost> {
        Arc::new(Self {
            state: self.state.clone(),
            algorithm: algorithm.to_owned(),
        })
    }
}

impl RunHost for MemoryHost {
    fn run_id(&self) -> &str {
        RUN_ID
    }

    fn algorithm(&self) -> &str {
        &self.algorithm
    }

    fn deadline(&self) -> Option<SystemTime> {
        *lock(&self.state.deadline)
    }

    fn is_cancelled(&self) -> bool {
        self.state.is_cancelled.load(Ordering::SeqCst)
    }

    fn progress(&self, fraction: f64, message: &str) {
        lock(&self.state.progress).push((fraction, message.to_owned()));
    }

    fn log(&self, record: LogRecord) {
        lock(&self.state.logs).push(record);
    }

    /// Data points passing the filter's id, name, tag and quantity parts, by id.
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        Ok(lock(&self.state.store)
            .points
            .iter()
            .filter(|p| filter.matches(p))
            .cloned()
            .collect())
    }

    /// Names and ids that the filter lists but that do not exist are an
    /// error listing the known ones, not an empty frame.
    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        let plan = data::ReadPlan::new(filter)?;
        let store = lock(&self.state.store);
        let points = store.select(filter)?;
        let (lo, hi) = plan.fetch_range(&points);
        let raw = store.long(&points, lo, hi)?;
        drop(store);
        plan.finish(raw, &points)
    }

    /// All or nothing: a frame that is not in long form, or that has ids of
    /// no data point, changes nothing.
    fn write(&self, long: &DataFrame) -> Result<()> {
        let long = data::sort_long(long)?;
        let ranges = data::id_ranges(&long)?;
        let ts = data::ts_micros(&long)?;
        let values: Vec<Option<f64>> = long.column(data::VALUE)?.f64()?.iter().collect();
        let mut store = lock(&self.state.store);
        let unknown: Vec<String> = ranges
            .iter()
            .filter(|(id, _)| !store.points.iter().any(|p| p.id == *id))
            .map(|(id, _)| id.to_string())
            .collect();
        if !unknown.is_empty() {
            return Err(Error::InvalidInput(format!(
                "unknown data point id(s) {} in column '{}'; define the data points first \
                 (define_data_points) and write with the ids it returns",
                unknown.join(", "),
                data::DATA_POINT_ID
            )));
        }
        data::check_samples(&long, &store.points)?;
        for (id, range) in ranges {
            let series = store.samples.entry(id).or_default();
            series.extend(range.map(|i| (ts[i], values[i])));
        }
        Ok(())
    }

    /// New names get the next ids (ids in `points` are ignored); existing
    /// names are returned as stored, unless defined as another series
    /// ([`DataPointConfig::check_redefinition`]).
    fn define_data_points(&self, points: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        let mut store = lock(&self.state.store);
        let mut stored = Vec::with_capacity(points.len());
        for point in points {
            if let Some(existing) = store.points.iter().find(|p| p.name == point.name) {
                existing.check_redefinition(point)?;
                stored.push(existing.clone());
            } else {
                check_definition(point)?;
                let mut new = point.clone();
                new.id = DataPointId(store.points.last().map_or(0, |p| p.id.0) + 1);
                store.points.push(new.clone());
                stored.push(new);
            }
        }
        Ok(stored)
    }
}

impl Store {
    /// The data points of the filter, every listed id and name required.
    fn select(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        let unknown_ids: Vec<String> = filter
            .ids
            .iter()
            .filter(|id| !self.points.iter().any(|p| p.id == **id))
            .map(ToString::to_string)
            .collect();
        if !unknown_ids.is_empty() {
            let known: Vec<String> = self
                .points
                .iter()
                .map(|p| format!("{} ({})", p.id, p.name))
                .collect();
            return Err(Error::InvalidInput(format!(
                "unknown data point id(s) {}; known ids: {}",
                unknown_ids.join(", "),
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        let unknown_names: Vec<&str> = filter
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !self.points.iter().any(|p| p.name == *n))
            .collect();
        if !unknown_names.is_empty() {
            return Err(self.unknown_names(&unknown_names));
        }
        Ok(self
            .points
            .iter()
            .filter(|p| filter.matches(p))
            .cloned()
            .collect())
    }

    /// The error for names of no data point, with close and known names.
    fn unknown_names(&self, unknown: &[&str]) -> Error {
        let known: Vec<&str> = self.points.iter().map(|p| p.name.as_str()).collect();
        Error::InvalidInput(crate::suggest::unknown_names(
            "data point name",
            unknown,
            &known,
            "there are no data points yet; define them first",
        ))
    }

    /// The long frame of the samples of `points` with `lo <= ts < hi` (µs).
    fn long(&self, points: &[DataPointConfig], lo: i64, hi: i64) -> Result<DataFrame> {
        let (mut ids, mut ts, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for point in points {
            for (t, v) in self
                .samples
                .get(&point.id)
                .into_iter()
                .flat_map(|s| s.range(lo..hi))
            {
                ids.push(point.id.0);
                ts.push(*t);
                values.push(*v);
            }
        }
        data::long_frame(ids, ts, values)
    }
}

/// What the files adapter checks of a new data point, too.
fn check_definition(point: &DataPointConfig) -> Result<()> {
    if point.name.trim().is_empty() {
        return Err(Error::InvalidInput(
            "a data point needs a non-empty name, such as 'site.load'".to_owned(),
        ));
    }
    point.tz().map(|_| ())
}

/// The interval starts of `len` samples of `point` from `start`.
fn series_ts(
    point: &DataPointConfig,
    start: DateTime<Utc>,
    len: usize,
) -> Result<Vec<DateTime<Utc>>> {
    let unusable = || {
        Error::InvalidInput(format!(
            "data point '{}' has the resolution {}, which is not usable: use a positive \
             duration such as PT15M or P1D",
            point.name, point.resolution
        ))
    };
    let out_of_range = |i: usize| {
        Error::InvalidInput(format!(
            "sample {i} of data point '{}' from {} is out of range",
            point.name,
            start.to_rfc3339()
        ))
    };
    let local = |tz: chrono_tz::Tz| start.with_timezone(&tz).naive_local();
    (0..len)
        .map(|i| {
            let step = u32::try_from(i).map_err(|_| out_of_range(i));
            let ts = match point.resolution {
                Resolution::Seconds(s) if s > 0 => i64::from(step?)
                    .checked_mul(s)
                    .and_then(TimeDelta::try_seconds)
                    .and_then(|d| start.checked_add_signed(d)),
                Resolution::Days(n) if n > 0 => {
                    let tz = point.tz()?;
                    let days = Days::new(u64::from(n) * u64::from(step?));
                    local(tz)
                        .checked_add_days(days)
                        .and_then(|t| tz.from_local_datetime(&t).earliest())
                        .map(|t| t.with_timezone(&Utc))
                }
                Resolution::Months(n) if n > 0 => {
                    let tz = point.tz()?;
                    let months = n.checked_mul(step?).map(Months::new);
                    months
                        .and_then(|m| local(tz).checked_add_months(m))
                        .and_then(|t| tz.from_local_datetime(&t).earliest())
                        .map(|t| t.with_timezone(&Utc))
                }
                _ => return Err(unusable()),
            };
            ts.ok_or_else(|| out_of_range(i))
        })
        .collect()
}

/// The error for a name that no registered algorithm has.
fn unknown_algorithm(name: &str) -> Error {
    let mut known: Vec<&str> = crate::registrations().map(|r| r.name).collect();
    known.sort_unstable();
    let known = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    Error::InvalidInput(format!(
        "no algorithm '{name}' is registered in this binary (registered: {known}); check the \
         name, and that the test uses an item of the plugin crate so that it is linked"
    ))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn or_panic<T>(method: &str, result: Result<T>) -> T {
    result.unwrap_or_else(|e| panic!("MemoryHost::{method}: {e}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;
    use polars::prelude::{Column, DataFrame};
    use serde_json::json;

    use super::*;
    use crate::AlgorithmRegistration;
    use crate::data::Quantity;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
    }

    fn t0() -> i64 {
        start().timestamp_micros()
    }

    const QUARTER_US: i64 = 900_000_000;
    const HOUR_US: i64 = 3_600_000_000;

    fn quarter(name: &str, quantity: Quantity) -> DataPointConfig {
        DataPointConfig::new(name, quantity, "kW", Resolution::Seconds(900))
    }

    fn site() -> MemoryHost {
        let values: Vec<Option<f64>> = (1..=8).map(|i| Some(f64::from(i))).collect();
        MemoryHost::new()
            .with_series(
                quarter("site.load", Quantity::Power).with_tag("site", "a"),
                start(),
                &values,
            )
            .with_series(
                quarter("site.energy", Quantity::Energy).with_tag("site", "b"),
                start(),
                &values,
            )
    }

    fn column(frame: &DataFrame, name: &str) -> Vec<Option<f64>> {
        frame.column(name).unwrap().f64().unwrap().iter().collect()
    }

    #[test]
    fn ctx_read_gives_the_columns_in_the_order_asked() {
        let ctx = site().context();
        let columns = |filter: &DataPointFilter| -> Vec<String> {
            let frame = ctx.read(filter).unwrap();
            let names = frame.get_column_names();
            names.iter().map(|n| n.to_string()).collect()
        };
        // site.load has id 1, site.energy id 2.
        let by_name = DataPointFilter::default().with_names(["site.energy", "site.load"]);
        assert_eq!(columns(&by_name), ["ts", "site.energy", "site.load"]);
        let by_id = DataPointFilter::default().with_ids([DataPointId(2), DataPointId(1)]);
        assert_eq!(columns(&by_id), ["ts", "site.energy", "site.load"]);
        let all = DataPointFilter::default();
        assert_eq!(columns(&all), ["ts", "site.load", "site.energy"]);
    }

    #[test]
    fn data_points_get_ids_in_definition_order_and_honour_the_filter() {
        let host = site().with_data_point(quarter("site.load", Quantity::Power));
        let all = host.data_points(&DataPointFilter::default()).unwrap();
        let ids: Vec<(i64, &str)> = all.iter().map(|p| (p.id.0, p.name.as_str())).collect();
        assert_eq!(ids, [(1, "site.load"), (2, "site.energy")]);
        let tagged = host
            .data_points(&DataPointFilter::default().with_tag("site", "b"))
            .unwrap();
        assert_eq!(tagged[0].name, "site.energy");
        let energy = DataPointFilter::default().with_quantity(Quantity::Energy);
        assert_eq!(host.data_points(&energy).unwrap().len(), 1);
        assert_eq!(host.data_point("site.energy").unwrap().id, DataPointId(2));
        assert_eq!(host.data_point("pv"), None);
    }

    #[test]
    fn read_selects_the_range_and_converts_to_the_target_resolution() {
        let host = site();
        let filter = DataPointFilter::default()
            .with_names(["site.load", "site.energy"])
            .with_range(
                start() + TimeDelta::minutes(15),
                start() + TimeDelta::hours(2),
            );
        let long = host.read(&filter).unwrap();
        assert_eq!(long.height(), 14);
        let wide = host
            .context()
            .read(&filter.clone().with_resolution(Resolution::Seconds(3600)))
            .unwrap();
        // Hour 0 starts before `start`, so only hour 1 is in the range.
        assert_eq!(data::ts_micros(&wide).unwrap(), [t0() + HOUR_US]);
        assert_eq!(column(&wide, "site.load"), [Some(6.5)]);
        assert_eq!(column(&wide, "site.energy"), [Some(26.0)]);
    }

    #[test]
    fn unknown_names_and_ids_in_a_read_are_errors_that_list_the_known_ones() {
        let host = site();
        let err = host
            .read(&DataPointFilter::default().with_names(["site.load", "pv"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: unknown data point name 'pv'; known names: site.energy, site.load"
        );
        let err = host
            .read(&DataPointFilter::default().with_ids([DataPointId(7)]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: unknown data point id(s) 7; known ids: 1 (site.load), 2 (site.energy)"
        );
        let err = MemoryHost::new()
            .read(&DataPointFilter::default().with_names(["pv"]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: unknown data point name 'pv'; there are no data points yet; define them first"
        );
    }

    #[test]
    fn writes_replace_samples_at_the_same_ts_and_keep_the_others() {
        let host = site();
        let wide = DataFrame::new_infer_height(vec![
            Column::new("ts".into(), [t0() + QUARTER_US, t0() + 8 * QUARTER_US])
                .cast(&polars::prelude::DataType::Datetime(
                    polars::prelude::TimeUnit::Microseconds,
                    Some(polars::prelude::TimeZone::UTC),
                ))
                .unwrap(),
            Column::new("site.load".into(), [20.0, 90.0]),
        ])
        .unwrap();
        host.context().write(&wide).unwrap();
        let load = host.samples_of("site.load");
        assert_eq!(load.len(), 9);
        assert_eq!(load[1], (t0() + QUARTER_US, Some(20.0)));
        assert_eq!(load[8], (t0() + 8 * QUARTER_US, Some(90.0)));
        assert_eq!(host.samples_of("site.energy").len(), 8);

        let long = data::long_frame(vec![9], vec![t0()], vec![Some(1.0)]).unwrap();
        assert_eq!(
            host.write(&long).unwrap_err().to_string(),
            "invalid input: unknown data point id(s) 9 in column 'data_point_id'; define the data \
             points first (define_data_points) and write with the ids it returns"
        );
    }

    #[test]
    fn writes_take_instants_in_any_unit_and_zone_but_not_naive_times() {
        use polars::prelude::{DataType, TimeUnit, TimeZone};
        let host = site();
        let berlin_ns = DataType::Datetime(
            TimeUnit::Nanoseconds,
            TimeZone::opt_try_new(Some("Europe/Berlin")).unwrap(),
        );
        let utc_us = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        let wide = DataFrame::new_infer_height(vec![
            Column::new("ts".into(), [t0() + QUARTER_US])
                .cast(&utc_us)
                .unwrap()
                .cast(&berlin_ns)
                .unwrap(),
            Column::new("site.load".into(), [20i32]),
        ])
        .unwrap();
        host.context().write(&wide).unwrap();
        assert_eq!(
            host.samples_of("site.load")[1],
            (t0() + QUARTER_US, Some(20.0))
        );

        let long = DataFrame::new_infer_height(vec![
            Column::new(data::DATA_POINT_ID.into(), [1i32]),
            Column::new("ts".into(), [t0() + 2 * QUARTER_US])
                .cast(&utc_us)
                .unwrap(),
            Column::new(data::VALUE.into(), [30i64]),
        ])
        .unwrap();
        host.context().write(&long).unwrap();
        assert_eq!(
            host.samples_of("site.load")[2],
            (t0() + 2 * QUARTER_US, Some(30.0))
        );

        let naive = DataFrame::new_infer_height(vec![
            Column::new("ts".into(), [t0()])
                .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                .unwrap(),
            Column::new("site.load".into(), [1.0]),
        ])
        .unwrap();
        assert_eq!(
            host.context().write(&naive).unwrap_err().to_string(),
            "invalid input: column 'ts' is datetime[μs] without a time zone, so which instants it \
             means is not known: set the zone its times are in (dt.replace_time_zone(\"UTC\"), or \
             the local one such as \"Europe/Berlin\") before writing"
        );
    }

    #[test]
    fn an_existing_name_of_another_quantity_is_not_redefined() {
        let err = site()
            .define_data_points(&[quarter("site.load", Quantity::Energy)])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid input: data point 'site.load' exists as power in kW at PT15M (UTC) (id 1), not \
             energy in kW at PT15M (UTC); a data point keeps the quantity, unit, resolution and \
             time zone it was defined with: use another name, or convert the values to its \
             definition"
        );
    }

    #[test]
    fn daily_series_follow_local_midnight() {
        let daily =
            DataPointConfig::new("site.daily", Quantity::Energy, "kWh", Resolution::Days(1))
                .with_time_zone("Europe/Berlin");
        let start = Utc.with_ymd_and_hms(2024, 3, 29, 23, 0, 0).unwrap();
        let host = MemoryHost::new().with_series(daily, start, &[Some(1.0), Some(2.0), Some(3.0)]);
        let ts: Vec<i64> = host.samples_of("site.daily").iter().map(|s| s.0).collect();
        let day_us = 24 * HOUR_US;
        let starts = start.timestamp_micros();
        // 31 March 2024 has 23 hours in Berlin.
        assert_eq!(ts, [starts, starts + day_us, starts + 2 * day_us - HOUR_US]);
    }

    fn echo(ctx: &Context, params: Value) -> Result<Output> {
        tracing::warn!(rows = 2, "echoing");
        ctx.progress(0.5, "half way");
        ctx.check()?;
        Ok(Output::new().with_summary(json!({"params": params, "algorithm": ctx.algorithm()})))
    }

    inventory::submit! {
        AlgorithmRegistration {
            name: "testing_echo",
            version: "1.0.0",
            description: "Echoes its params.",
            outputs: &[],
            idempotent: false,
            params_schema: || json!({"type": "object"}),
            run: echo,
            run_json: None,
        }
    }

    fn stray(_ctx: &Context, _params: Value) -> Result<Output> {
        let frame = DataFrame::new_infer_height(vec![Column::new("ts".into(), [1i64])])?;
        Ok(Output::new().with_frame("plan", frame))
    }

    inventory::submit! {
        AlgorithmRegistration {
            name: "testing_stray",
            version: "1.0.0",
            description: "Returns a frame it does not declare.",
            outputs: &[("schedule", &["ts"])],
            idempotent: false,
            params_schema: || json!({"type": "object"}),
            run: stray,
            run_json: None,
        }
    }

    #[test]
    fn run_fails_like_the_host_on_an_undeclared_frame() {
        let err = MemoryHost::new()
            .run("testing_stray", json!({}))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the algorithm returned a frame 'plan', which its outputs do not declare (they \
             declare: schedule); declare it or rename the frame"
        );
    }

    #[test]
    fn run_keeps_progress_and_logs() {
        let host = MemoryHost::new();
        let out = host.run("testing_echo", json!({"x": 1})).unwrap();
        assert_eq!(
            out.summary,
            json!({"params": {"x": 1}, "algorithm": "testing_echo"})
        );
        assert_eq!(host.progress_reports(), [(0.5, "half way".to_owned())]);
        assert_eq!(host.warnings(), ["echoing"]);
        assert_eq!(host.logs()[0].fields["rows"], json!(2));
    }

    #[test]
    fn cancel_and_deadline_stop_runs() {
        let host = MemoryHost::new().with_deadline(SystemTime::now() - Duration::from_secs(1));
        let err = host.run("testing_echo", json!({})).unwrap_err();
        assert!(matches!(err, Error::DeadlineExceeded), "{err}");
        host.set_deadline(None);
        assert!(host.run_with(|ctx| ctx.check()).is_ok());
        host.cancel();
        let err = host.run("testing_echo", json!({})).unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err}");
    }

    #[test]
    fn an_unknown_algorithm_is_an_error_that_lists_the_registered_ones() {
        let err = MemoryHost::new()
            .run("testing_ecko", json!({}))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid input: no algorithm 'testing_ecko' is registered"),
            "{err}"
        );
        assert!(err.to_string().contains("testing_echo"), "{err}");
    }
}
