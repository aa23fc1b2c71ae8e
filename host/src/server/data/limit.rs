//! Reads within the most samples one read of the data API returns
//! (`max_samples`). A read that converts to another resolution can return
//! far more samples than are stored (a century at one second), so its size
//! is estimated before it is converted: from its range when it has one,
//! else (or when the range is far wider than the data) from the extent of
//! the samples stored, read at their native resolution first. Every read's
//! result is counted again before it is encoded.

use std::collections::BTreeMap;

use algohost_sdk::data::{
    DATA_POINT_ID, DataPointConfig, DataPointFilter, ReadPlan, Resolution, ts_micros,
};
use algohost_sdk::polars::prelude::DataFrame;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::adapters::{Adapter, Interrupt};
use crate::server::ApiError;

/// Seconds in an average Gregorian month.
const MONTH_SECONDS: f64 = 365.2425 * 86_400.0 / 12.0;

/// The samples of a read, and what a client can narrow.
#[derive(Debug, Clone, Copy)]
pub struct SampleLimit {
    /// The most samples a read returns.
    pub max: usize,
    /// Whether the endpoint selects data points (`/samples`), so that
    /// fewer of them is a way to narrow.
    pub selects_points: bool,
}

impl SampleLimit {
    /// Reads the samples `filter` selects of `points` (the data points it
    /// selects), or a 400 that says how to narrow a read beyond the limit.
    pub fn read(
        &self,
        adapter: &dyn Adapter,
        filter: &DataPointFilter,
        points: &[DataPointConfig],
        gone: &dyn Interrupt,
    ) -> Result<DataFrame, ApiError> {
        let converted = converted(filter, points);
        let long = match (filter.resolution, filter.start.zip(filter.end)) {
            (Some(target), range) if !converted.is_empty() => {
                let within = range.is_some_and(|(start, end)| {
                    let per_point = steps(span_us(start, end), target);
                    per_point * converted.len() as f64 <= self.max as f64
                });
                if within {
                    adapter.read_until(filter, gone)?
                } else {
                    self.read_sized_by_data(adapter, filter, points, target, gone)?
                }
            }
            _ => adapter.read_until(filter, gone)?,
        };
        self.check_read(long.height())?;
        Ok(long)
    }

    /// Reads the samples at their native resolution, estimates the size of
    /// the conversion from their extent, and converts them (as the adapter
    /// would) when it is within the limit.
    fn read_sized_by_data(
        &self,
        adapter: &dyn Adapter,
        filter: &DataPointFilter,
        points: &[DataPointConfig],
        target: Resolution,
        gone: &dyn Interrupt,
    ) -> Result<DataFrame, ApiError> {
        let plan = ReadPlan::new(filter)?;
        let (lo, hi) = plan.fetch_range(points);
        let native = DataPointFilter {
            start: (lo != i64::MIN).then(|| instant(lo)).flatten(),
            end: (hi != i64::MAX).then(|| instant(hi)).flatten(),
            resolution: None,
            time_zone: None,
            ..filter.clone()
        };
        // What is stored is read whatever its size, as a read at the native
        // resolution would be; what is encoded is counted after.
        let raw = adapter.read_until(&native, gone)?;
        let (start, end) = plan.range();
        let extents = extents(&raw, points, start, end)?;
        let estimate: f64 = extents
            .values()
            .map(|&(first, last)| steps(last - first, target))
            .sum();
        if estimate > self.max as f64 {
            let first = extents.values().map(|e| e.0).min().unwrap_or(start);
            let last = extents.values().map(|e| e.1).max().unwrap_or(end);
            return Err(self.over(estimate, extents.len(), target, first, last));
        }
        Ok(plan.finish(raw, points)?)
    }

    /// After reading: refuses to send more than the limit.
    pub fn check_read(&self, samples: usize) -> Result<(), ApiError> {
        if samples <= self.max {
            return Ok(());
        }
        Err(ApiError::BadRequest(format!(
            "this read returns {} samples, more than this server's limit of {} per read \
             (max_samples); ask for {}",
            thousands(samples as f64),
            thousands(self.max as f64),
            self.narrow(),
        )))
    }

    /// The 400 of a conversion estimated at `estimate` samples of `points`
    /// data points over `[from, to)` (µs).
    fn over(
        &self,
        estimate: f64,
        points: usize,
        target: Resolution,
        from: i64,
        to: i64,
    ) -> ApiError {
        let points = points.max(1);
        let days_at_limit = self.max as f64 / points as f64 * seconds(target) / 86_400.0;
        ApiError::BadRequest(format!(
            "this read would return about {} samples ({} at {target} from {} to {}), more than \
             this server's limit of {} per read (max_samples); ask for {} (at {target}, the \
             limit covers about {} of {})",
            thousands(estimate),
            count(points, "data point"),
            rfc3339(from),
            rfc3339(to),
            thousands(self.max as f64),
            self.narrow(),
            days(days_at_limit),
            count(points, "data point"),
        ))
    }

    fn narrow(&self) -> &'static str {
        if self.selects_points {
            "fewer data points (names, ids, tags, quantity), a shorter range (start, end) or a \
             coarser resolution"
        } else {
            "a shorter range (start, end) or a coarser resolution"
        }
    }
}

/// The data points whose samples `filter` converts (as [`ReadPlan`] does).
fn converted<'a>(
    filter: &DataPointFilter,
    points: &'a [DataPointConfig],
) -> Vec<&'a DataPointConfig> {
    let Some(target) = filter.resolution else {
        return Vec::new();
    };
    let time_zone = filter.time_zone.as_deref();
    points
        .iter()
        .filter(|p| {
            p.resolution != target
                || (target.is_calendar() && time_zone.is_some_and(|tz| tz != p.time_zone))
        })
        .collect()
}

/// Per data point of `raw`, the µs from its first sample to the end of its
/// last one's interval, within `[start, end)`.
fn extents(
    raw: &DataFrame,
    points: &[DataPointConfig],
    start: i64,
    end: i64,
) -> Result<BTreeMap<i64, (i64, i64)>, ApiError> {
    let ids = raw
        .column(DATA_POINT_ID)
        .and_then(|c| {
            c.i64()
                .map(|ids| ids.into_no_null_iter().collect::<Vec<i64>>())
        })
        .map_err(ApiError::internal)?;
    let ts = ts_micros(raw)?;
    let mut extents: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for (&id, &t) in ids.iter().zip(ts.iter()) {
        let step = points
            .iter()
            .find(|p| p.id.0 == id)
            .map_or(0, |p| (seconds(p.resolution) * 1e6) as i64);
        let (first, last) = (t.max(start), t.saturating_add(step).min(end));
        if first >= last {
            continue;
        }
        let extent = extents.entry(id).or_insert((first, last));
        *extent = (extent.0.min(first), extent.1.max(last));
    }
    Ok(extents)
}

/// The steps of `target` in `span_us` (rounded up), plus one for an
/// interval cut by the start.
fn steps(span_us: i64, target: Resolution) -> f64 {
    (span_us.max(0) as f64 / 1e6 / seconds(target)).ceil() + 1.0
}

fn span_us(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    end.timestamp_micros()
        .saturating_sub(start.timestamp_micros())
}

/// The nominal length of a step of `resolution`, in seconds.
fn seconds(resolution: Resolution) -> f64 {
    match resolution {
        Resolution::Seconds(s) => s as f64,
        Resolution::Days(n) => f64::from(n) * 86_400.0,
        Resolution::Months(n) => f64::from(n) * MONTH_SECONDS,
    }
}

fn instant(us: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
}

fn rfc3339(us: i64) -> String {
    instant(us).map_or_else(
        || "the end of time".to_owned(),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn days(days: f64) -> String {
    if days >= 2.0 {
        format!("{} days", thousands(days.floor()))
    } else if days * 24.0 >= 2.0 {
        format!("{:.0} hours", (days * 24.0).floor())
    } else {
        format!("{:.0} minutes", (days * 1440.0).floor().max(1.0))
    }
}

/// A whole number with thousands separators: `31,104,003`.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_well() {
        let limit = SampleLimit {
            max: 1_000,
            selects_points: false,
        };
        assert!(limit.check_read(1_000).is_ok());
        let err = limit.check_read(1_001).unwrap_err().to_string();
        assert_eq!(
            err,
            "this read returns 1,001 samples, more than this server's limit of 1,000 per read \
             (max_samples); ask for a shorter range (start, end) or a coarser resolution"
        );
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
        assert_eq!(days(0.5), "12 hours");
        assert_eq!(days(38.6), "38 days");
        assert_eq!(steps(86_400_000_000, Resolution::Seconds(1)), 86_401.0);
        assert_eq!(steps(86_400_000_000, Resolution::Days(1)), 2.0);
    }
}
