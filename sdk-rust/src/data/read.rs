//! What every adapter does between selecting the data points of a read and
//! returning its frame: fetch the samples of `[start, end)` (reaching one
//! native interval further back when converting), convert them to the
//! filter's resolution with [`resample`], and trim the result to
//! `[start, end)`. Adapters only supply the fetch.

use chrono::{DateTime, Utc};
use polars::prelude::{BooleanChunked, DataFrame, NewChunkedArray};

use super::{
    DataPointConfig, DataPointFilter, ResampleOptions, Resolution, parse_time_zone, resample,
    ts_micros,
};
use crate::error::{Error, Result};

/// One read of samples for a [`DataPointFilter`]: the range to fetch from
/// storage, then [`ReadPlan::finish`] to convert and trim what was fetched.
///
/// Use [`read_samples`] when fetching is a plain function call; use the plan
/// directly when fetching happens elsewhere (on an async runtime, say).
///
/// ```
/// use algohost_sdk::chrono::{TimeZone, Utc};
/// use algohost_sdk::data::{DataPointConfig, DataPointFilter, Quantity, ReadPlan, Resolution, long_frame};
///
/// let mut load = DataPointConfig::new("site.load", Quantity::Power, "kW", Resolution::Seconds(3600));
/// load.id = algohost_sdk::data::DataPointId(1);
/// let start = Utc.with_ymd_and_hms(2026, 1, 1, 10, 30, 0).unwrap();
/// let end = Utc.with_ymd_and_hms(2026, 1, 1, 11, 0, 0).unwrap();
/// let filter = DataPointFilter::default()
///     .with_range(start, end)
///     .with_resolution(Resolution::Seconds(900));
///
/// let plan = ReadPlan::new(&filter)?;
/// let (lo, hi) = plan.fetch_range(std::slice::from_ref(&load));
/// // The hourly sample of 10:00 covers 10:30, so the fetch starts an hour early.
/// assert_eq!(lo, start.timestamp_micros() - 3_600_000_000);
/// assert_eq!(hi, end.timestamp_micros());
/// let ten = Utc.with_ymd_and_hms(2026, 1, 1, 10, 0, 0).unwrap().timestamp_micros();
/// let raw = long_frame(vec![1], vec![ten], vec![Some(5.0)])?;
/// let quarters = plan.finish(raw, &[load])?;
/// assert_eq!(quarters.height(), 2); // 10:30 and 10:45
/// # Ok::<(), algohost_sdk::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ReadPlan {
    /// `start` in µs since the epoch (`i64::MIN` when open).
    start_us: i64,
    /// `end` in µs since the epoch (`i64::MAX` when open).
    end_us: i64,
    /// The filter's target resolution.
    target: Option<Resolution>,
    /// The filter's time zone for calendar resolutions.
    time_zone: Option<String>,
}

impl ReadPlan {
    /// Checks the filter's range (`start <= end`) and time zone.
    pub fn new(filter: &DataPointFilter) -> Result<Self> {
        let (start_us, end_us) = read_range(filter)?;
        Ok(Self {
            start_us,
            end_us,
            target: filter.resolution,
            time_zone: filter.time_zone.clone(),
        })
    }

    /// The filter's `[start, end)` in µs since the epoch, unbounded
    /// (`i64::MIN`, `i64::MAX`) where it sets none.
    pub fn range(&self) -> (i64, i64) {
        (self.start_us, self.end_us)
    }

    /// The `[lo, hi)` in µs of the samples of `points` to fetch: the filter's
    /// range, starting one native interval earlier when the samples are
    /// converted (a sample that starts before `start` can cover target
    /// intervals after it).
    pub fn fetch_range(&self, points: &[DataPointConfig]) -> (i64, i64) {
        if self.target_for(points).is_none() {
            return (self.start_us, self.end_us);
        }
        let lookback = points
            .iter()
            .map(|p| longest_interval_us(p.resolution))
            .max()
            .unwrap_or(0);
        (self.start_us.saturating_sub(lookback), self.end_us)
    }

    /// Converts the fetched long frame of `points` (the samples in
    /// [`ReadPlan::fetch_range`]) to the target resolution when it differs
    /// from theirs, and keeps `[start, end)`: each of `points` then has a row
    /// for every target interval in the range from the first to the last
    /// that a fetched sample of any of them touches, null where samples do
    /// not fully cover it, at the edges as in between (see [`resample`]);
    /// intervals beyond the samples get no rows, so that a range far wider
    /// than the data costs no more than the data. Without conversion the
    /// frame is returned as fetched.
    pub fn finish(&self, raw: DataFrame, points: &[DataPointConfig]) -> Result<DataFrame> {
        let Some(target) = self.target_for(points) else {
            return Ok(raw);
        };
        if raw.height() == 0 {
            return Ok(raw);
        }
        let options = ResampleOptions {
            time_zone: self.time_zone.clone(),
            ..ResampleOptions::default()
        };
        let converted = resample(&raw, points, target, &options)?;
        keep_range(&converted, self.start_us, self.end_us)
    }

    /// The target resolution when reading `points` at it changes their samples.
    fn target_for(&self, points: &[DataPointConfig]) -> Option<Resolution> {
        let target = self.target?;
        let time_zone = self.time_zone.as_deref();
        points
            .iter()
            .any(|p| {
                p.resolution != target
                    || (target.is_calendar() && time_zone.is_some_and(|tz| tz != p.time_zone))
            })
            .then_some(target)
    }
}

/// Reads the samples of `points` (the data points a filter selected) for
/// `filter`: `fetch(lo, hi)` returns their long frame of samples with
/// `lo <= ts < hi` (µs since the epoch), and the result is converted and
/// trimmed as [`ReadPlan`] describes.
///
/// ```
/// use algohost_sdk::data::{DataPointConfig, DataPointFilter, DataPointId, Quantity, Resolution, long_frame, read_samples};
///
/// let mut energy = DataPointConfig::new("site.energy", Quantity::Energy, "kWh", Resolution::Seconds(900));
/// energy.id = DataPointId(1);
/// let quarters: Vec<i64> = (0..4).map(|i| i * 900_000_000).collect();
/// let filter = DataPointFilter::default().with_resolution(Resolution::Seconds(3600));
/// let hourly = read_samples(&filter, &[energy], |_lo, _hi| {
///     long_frame(vec![1; 4], quarters.clone(), vec![Some(0.25); 4])
/// })?;
/// let total: Vec<Option<f64>> = hourly.column("value")?.f64()?.iter().collect();
/// assert_eq!(total, [Some(1.0)]); // energy is summed
/// # Ok::<(), algohost_sdk::Error>(())
/// ```
pub fn read_samples(
    filter: &DataPointFilter,
    points: &[DataPointConfig],
    fetch: impl FnOnce(i64, i64) -> Result<DataFrame>,
) -> Result<DataFrame> {
    let plan = ReadPlan::new(filter)?;
    let (lo, hi) = plan.fetch_range(points);
    plan.finish(fetch(lo, hi)?, points)
}

/// The filter's `[start, end)` in µs since the epoch, unbounded (`i64::MIN`,
/// `i64::MAX`) where it sets none. Errors when `start > end` or the filter's
/// time zone is unknown.
pub fn read_range(filter: &DataPointFilter) -> Result<(i64, i64)> {
    if let (Some(start), Some(end)) = (filter.start, filter.end)
        && start > end
    {
        return Err(Error::InvalidInput(format!(
            "start {} is after end {}; give start <= end",
            start.to_rfc3339(),
            end.to_rfc3339()
        )));
    }
    if let Some(tz) = &filter.time_zone {
        parse_time_zone(tz)?;
    }
    let micros = |t: DateTime<Utc>| t.timestamp_micros();
    Ok((
        filter.start.map_or(i64::MIN, micros),
        filter.end.map_or(i64::MAX, micros),
    ))
}

/// An upper bound of one interval's length at `resolution`, in µs.
fn longest_interval_us(resolution: Resolution) -> i64 {
    const HOUR_US: i64 = 3_600_000_000;
    match resolution {
        Resolution::Seconds(s) => s.saturating_mul(1_000_000),
        Resolution::Days(d) => i64::from(d).saturating_mul(25 * HOUR_US),
        Resolution::Months(m) => i64::from(m).saturating_mul(31 * 24 * HOUR_US + HOUR_US),
    }
}

/// The rows of a long frame with `lo <= ts < hi` (µs).
fn keep_range(long: &DataFrame, lo: i64, hi: i64) -> Result<DataFrame> {
    let ts = ts_micros(long)?;
    let mask =
        BooleanChunked::from_iter_values("mask".into(), ts.iter().map(|&t| lo <= t && t < hi));
    Ok(long.filter(&mask)?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::data::{DataPointId, Quantity, long_frame};

    const HOUR_US: i64 = 3_600_000_000;

    fn point(resolution: Resolution) -> DataPointConfig {
        let mut p = DataPointConfig::new("p", Quantity::Power, "kW", resolution)
            .with_time_zone("Europe/Berlin");
        p.id = DataPointId(1);
        p
    }

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0).unwrap()
    }

    #[test]
    fn the_range_is_checked_and_open_sides_are_unbounded() {
        let open = DataPointFilter::default();
        assert_eq!(read_range(&open).unwrap(), (i64::MIN, i64::MAX));
        let err = read_range(&DataPointFilter::default().with_range(at(2), at(1))).unwrap_err();
        assert!(err.to_string().contains("is after end"), "{err}");
        let bad_zone = DataPointFilter {
            time_zone: Some("Berlin".into()),
            ..DataPointFilter::default()
        };
        let err = read_range(&bad_zone).unwrap_err();
        assert!(
            err.to_string().contains("unknown time zone 'Berlin'"),
            "{err}"
        );
    }

    #[test]
    fn the_fetch_reaches_back_only_when_converting() {
        let hourly = [point(Resolution::Seconds(3600))];
        let filter = DataPointFilter::default().with_range(at(5), at(7));
        let (start, end) = (at(5).timestamp_micros(), at(7).timestamp_micros());
        let same = ReadPlan::new(&filter.clone().with_resolution(Resolution::Seconds(3600)));
        assert_eq!(same.unwrap().fetch_range(&hourly), (start, end));
        let plain = ReadPlan::new(&filter).unwrap();
        assert_eq!(plain.fetch_range(&hourly), (start, end));
        let days = ReadPlan::new(&filter.clone().with_resolution(Resolution::Days(1))).unwrap();
        assert_eq!(days.fetch_range(&hourly), (start - HOUR_US, end));
        let daily = [point(Resolution::Days(1))];
        let hours = ReadPlan::new(&filter.with_resolution(Resolution::Seconds(3600))).unwrap();
        assert_eq!(hours.fetch_range(&daily), (start - 25 * HOUR_US, end));
    }

    #[test]
    fn a_filter_time_zone_other_than_the_points_converts_calendar_resolutions() {
        let daily = [point(Resolution::Days(1))];
        let utc_days = DataPointFilter {
            time_zone: Some("UTC".into()),
            ..DataPointFilter::default().with_resolution(Resolution::Days(1))
        };
        let plan = ReadPlan::new(&utc_days).unwrap();
        assert_eq!(plan.fetch_range(&daily).0, i64::MIN);
        assert!(plan.target_for(&daily).is_some());
        let berlin = DataPointFilter {
            time_zone: Some("Europe/Berlin".into()),
            ..utc_days
        };
        assert!(ReadPlan::new(&berlin).unwrap().target_for(&daily).is_none());
    }

    #[test]
    fn finish_converts_and_trims_to_the_range() {
        let hourly = [point(Resolution::Seconds(3600))];
        let filter = DataPointFilter::default()
            .with_range(at(1) + chrono::TimeDelta::minutes(30), at(2))
            .with_resolution(Resolution::Seconds(900));
        let long = read_samples(&filter, &hourly, |lo, hi| {
            assert_eq!(
                (lo, hi),
                (
                    at(0).timestamp_micros() + HOUR_US / 2,
                    at(2).timestamp_micros()
                )
            );
            long_frame(vec![1], vec![at(1).timestamp_micros()], vec![Some(4.0)])
        })
        .unwrap();
        let ts = ts_micros(&long).unwrap();
        let half = at(1).timestamp_micros() + HOUR_US / 2;
        assert_eq!(ts, [half, half + HOUR_US / 4]);
    }

    #[test]
    fn a_converted_read_keeps_partly_covered_edge_intervals_as_null() {
        // Quarters of 00:15 to 01:45 and 03:00 only; hours 0 to 5 asked for.
        let quarters = [point(Resolution::Seconds(900))];
        let filter = DataPointFilter::default()
            .with_range(at(0), at(5))
            .with_resolution(Resolution::Seconds(3600));
        let ts: Vec<i64> = (1..8)
            .map(|q| at(0).timestamp_micros() + q * HOUR_US / 4)
            .chain([at(3).timestamp_micros()])
            .collect();
        let long = read_samples(&filter, &quarters, |_, _| {
            long_frame(vec![1; 8], ts.clone(), vec![Some(2.0); 8])
        })
        .unwrap();
        // Hours 0 and 3 are partly covered and hour 2 not at all: all null;
        // hour 4, after the last sample, has no row.
        let hours: Vec<i64> = (0..4).map(|h| at(h).timestamp_micros()).collect();
        assert_eq!(ts_micros(&long).unwrap(), hours);
        let values: Vec<Option<f64>> = long
            .column("value")
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(values, [None, Some(2.0), None, None]);
    }
}
