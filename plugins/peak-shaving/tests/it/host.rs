//! An in-memory [`RunHost`] for running the registered algorithm: data
//! points and samples in vectors, progress and log records kept for
//! assertions. Not a test of any host; only what the algorithm needs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use algohost_sdk::chrono::{DateTime, Utc};
use algohost_sdk::data::{DATA_POINT_ID, TS, VALUE};
use algohost_sdk::logging::{LogRecord, with_run_logging};
use algohost_sdk::polars::prelude::{DataType, TimeUnit, TimeZone};
use algohost_sdk::prelude::*;
use algohost_sdk::{RunHost, serde_json};

#[derive(Default)]
pub struct FakeHost {
    points: Mutex<Vec<DataPointConfig>>,
    /// (data point id, ts in µs, value), kept sorted.
    samples: Mutex<Vec<(i64, i64, Option<f64>)>>,
    pub progress: Mutex<Vec<(f64, String)>>,
    pub logs: Mutex<Vec<LogRecord>>,
    pub cancelled: AtomicBool,
}

impl FakeHost {
    /// Adds a data point with samples `values[i]` at `start + i·step`.
    pub fn with_series(
        self,
        point: DataPointConfig,
        start: DateTime<Utc>,
        step_s: i64,
        values: &[Option<f64>],
    ) -> Self {
        let point = self.define_data_points(&[point]).unwrap().remove(0);
        let t0 = start.timestamp_micros();
        let mut samples = self.samples.lock().unwrap();
        for (i, v) in values.iter().enumerate() {
            samples.push((point.id.0, t0 + i as i64 * step_s * 1_000_000, *v));
        }
        samples.sort_by_key(|s| (s.0, s.1));
        drop(samples);
        self
    }

    pub fn warnings(&self) -> Vec<String> {
        let logs = self.logs.lock().unwrap();
        logs.iter()
            .filter(|r| r.level == "warn")
            .map(|r| r.message.clone())
            .collect()
    }

    /// Runs the registered algorithm `name` with `params` on this host, with
    /// its log records captured.
    pub fn run(self: &Arc<Self>, name: &str, params: serde_json::Value) -> Result<Output> {
        let registration = algohost_sdk::registrations()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("algorithm '{name}' is registered"));
        let host: Arc<dyn RunHost> = self.clone();
        let ctx = Context::new(host.clone());
        with_run_logging(host, || (registration.run)(&ctx, params))
    }
}

impl RunHost for FakeHost {
    fn run_id(&self) -> &str {
        "0190b6d2-0000-7000-8000-000000000000"
    }

    fn algorithm(&self) -> &str {
        "test"
    }

    fn deadline(&self) -> Option<SystemTime> {
        None
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn progress(&self, fraction: f64, message: &str) {
        self.progress
            .lock()
            .unwrap()
            .push((fraction, message.to_owned()));
    }

    fn log(&self, record: LogRecord) {
        self.logs.lock().unwrap().push(record);
    }

    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        let points = self.points.lock().unwrap();
        Ok(points
            .iter()
            .filter(|p| filter.matches(p))
            .cloned()
            .collect())
    }

    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        let points = self.data_points(filter)?;
        if let Some(target) = filter.resolution
            && points.iter().any(|p| p.resolution != target)
        {
            return Err(Error::Data("the fake host does not resample".to_owned()));
        }
        let in_range = |ts: i64| {
            filter.start.is_none_or(|s| ts >= s.timestamp_micros())
                && filter.end.is_none_or(|e| ts < e.timestamp_micros())
        };
        let samples = self.samples.lock().unwrap();
        let rows: Vec<_> = samples
            .iter()
            .filter(|s| points.iter().any(|p| p.id.0 == s.0) && in_range(s.1))
            .copied()
            .collect();
        let ts = Column::new(TS.into(), rows.iter().map(|r| r.1).collect::<Vec<i64>>()).cast(
            &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        )?;
        Ok(DataFrame::new_infer_height(vec![
            Column::new(
                DATA_POINT_ID.into(),
                rows.iter().map(|r| r.0).collect::<Vec<i64>>(),
            ),
            ts,
            Column::new(
                VALUE.into(),
                rows.iter().map(|r| r.2).collect::<Vec<Option<f64>>>(),
            ),
        ])?)
    }

    fn write(&self, long: &DataFrame) -> Result<()> {
        let ids = long.column(DATA_POINT_ID)?.cast(&DataType::Int64)?;
        let ts = long.column(TS)?.cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))?;
        let values = long.column(VALUE)?.cast(&DataType::Float64)?;
        let ids = ids.i64()?.iter();
        let ts = ts.datetime()?.physical().iter();
        let values = values.f64()?.iter();
        let mut samples = self.samples.lock().unwrap();
        for ((id, ts), value) in ids.zip(ts).zip(values) {
            let (id, ts) = (id.expect("id"), ts.expect("ts"));
            samples.retain(|s| !(s.0 == id && s.1 == ts));
            samples.push((id, ts, value));
        }
        samples.sort_by_key(|s| (s.0, s.1));
        Ok(())
    }

    fn define_data_points(&self, new: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        let mut points = self.points.lock().unwrap();
        let mut stored = Vec::with_capacity(new.len());
        for point in new {
            if let Some(existing) = points.iter().find(|p| p.name == point.name) {
                stored.push(existing.clone());
            } else {
                let mut point = point.clone();
                point.id = DataPointId(points.len() as i64 + 1);
                points.push(point.clone());
                stored.push(point);
            }
        }
        Ok(stored)
    }
}
