//! Quantity-aware resolution conversion of long frames: power and price take
//! the time-weighted mean down and repeat up, energy sums down and splits by
//! duration up, state takes the last value down and forward-fills (or
//! interpolates) up. Every target interval of the range gets a row; those
//! with too little coverage are null.

mod grid;
mod sweep;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use polars::prelude::DataFrame;

use self::grid::Grid;
use self::sweep::{Plan, Rows, Scratch, sweep};
use super::frame::{LongBuilder, LongColumns, sort_long, unknown_id};
use super::{DataPointConfig, DataPointId, Quantity, Resolution, parse_time_zone};
use crate::error::{Error, Result};

/// How state data points are filled when converting to a finer resolution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StateUpsample {
    /// Repeat the last value.
    #[default]
    Forward,
    /// Interpolate linearly between samples.
    Linear,
}

/// Options of [`resample`].
#[derive(Debug, Clone, PartialEq)]
pub struct ResampleOptions {
    /// Minimum share of a target interval that samples must cover (0..=1);
    /// less gives null. Energy over a partly covered interval is scaled up
    /// to the whole interval (the covered sum / the covered share).
    pub min_coverage: f64,
    /// Upsampling of state data points.
    pub state_upsample: StateUpsample,
    /// Time zone for calendar resolutions instead of each data point's own.
    pub time_zone: Option<String>,
    /// Rows start with the first target interval that starts at or after
    /// this instant; default: the one holding the earliest sample of any point.
    pub start: Option<DateTime<Utc>>,
    /// Rows end with the last target interval that starts before this
    /// instant; default: the one holding the end of the latest sample.
    pub end: Option<DateTime<Utc>>,
}

impl Default for ResampleOptions {
    fn default() -> Self {
        Self {
            min_coverage: 1.0,
            state_upsample: StateUpsample::Forward,
            time_zone: None,
            start: None,
            end: None,
        }
    }
}

/// Checks samples before they are stored: each `ts` starts an interval of
/// its data point's resolution (fixed ones align to the Unix epoch,
/// calendar ones to local midnight in the data point's time zone), and each
/// value is a number or null, not NaN or an infinity. The error names the
/// data point, the first sample at fault and how many more there are.
pub fn check_samples(long: &DataFrame, points: &[DataPointConfig]) -> Result<()> {
    let columns = LongColumns::new(long)?;
    let values = long.column(super::VALUE)?.f64()?;
    let mut grids: HashMap<i64, (Grid, &DataPointConfig)> = HashMap::new();
    let mut off_grid: Option<(usize, usize)> = None;
    let mut not_numbers: Option<(usize, usize)> = None;
    let note = |first: &mut Option<(usize, usize)>, row: usize| match first {
        Some((_, n)) => *n += 1,
        None => *first = Some((row, 1)),
    };
    for (row, (&id, &ts)) in columns.ids().iter().zip(columns.ts()).enumerate() {
        let (grid, _) = match grids.get(&id) {
            Some(known) => *known,
            None => {
                let point = points
                    .iter()
                    .find(|p| p.id.0 == id)
                    .ok_or_else(|| unknown_id(DataPointId(id), points))?;
                let grid = Grid::new(point.resolution, || point.tz())?;
                *grids.entry(id).or_insert((grid, point))
            }
        };
        if grid.floor(ts)? != ts {
            note(&mut off_grid, row);
        }
        if values.get(row).is_some_and(|v| !v.is_finite()) {
            note(&mut not_numbers, row);
        }
    }
    let sample = |row: usize| {
        let id = columns.ids()[row];
        let point = grids[&id].1;
        let ts = chrono::DateTime::from_timestamp_micros(columns.ts()[row])
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_else(|| columns.ts()[row].to_string());
        (point, ts)
    };
    let more = |n: usize| match n {
        1 => String::new(),
        n => format!(" (and {} more)", n - 1),
    };
    if let Some((row, n)) = off_grid {
        let (point, ts) = sample(row);
        let grid_of = if point.resolution.is_calendar() {
            format!(" in {}", point.time_zone)
        } else {
            String::new()
        };
        return Err(Error::InvalidInput(format!(
            "sample of '{}' at {ts}{} does not start an interval of its resolution {}{grid_of}; \
             a sample's ts is the start of its interval: round the time stamps down to whole \
             {} intervals, or resample them first",
            point.name,
            more(n),
            point.resolution,
            point.resolution
        )));
    }
    if let Some((row, n)) = not_numbers {
        let (point, ts) = sample(row);
        let value = values.get(row).unwrap_or_default();
        return Err(Error::InvalidInput(format!(
            "sample of '{}' at {ts}{} is {value}, which is not a value; write null for a \
             missing value (fill_nan(None) in polars)",
            point.name,
            more(n)
        )));
    }
    Ok(())
}

/// Converts long-form samples of `points` (found by id; each sample covers one
/// step of its point's native resolution) to `target`, returning a long frame
/// sorted by (id, ts).
///
/// Every data point of `points` gets the same rows, one per target interval
/// from `options.start` to `options.end` (default: from the first to the last
/// target interval that a sample of any of them touches), whatever their
/// coverage: an interval whose non-null samples cover less than
/// `min_coverage` of its length is null, at the edges as in between. Energy
/// over a partly covered interval is the covered sum divided by the covered
/// share. Values of a point already at `target` (and, for calendar
/// resolutions, in the same time zone) are kept as they are.
pub fn resample(
    long: &DataFrame,
    points: &[DataPointConfig],
    target: Resolution,
    options: &ResampleOptions,
) -> Result<DataFrame> {
    if !(0.0..=1.0).contains(&options.min_coverage) {
        return Err(Error::InvalidInput(format!(
            "min_coverage is {}: use a share between 0 and 1 (1 = fully covered intervals only)",
            options.min_coverage
        )));
    }
    let time_zone = options
        .time_zone
        .as_deref()
        .map(parse_time_zone)
        .transpose()?;
    let long = sort_long(long)?;
    let columns = LongColumns::new(&long)?;
    let by_id: BTreeMap<DataPointId, &DataPointConfig> = points.iter().map(|p| (p.id, p)).collect();
    let mut samples_of: HashMap<DataPointId, std::ops::Range<usize>> = HashMap::new();
    for (id, range) in columns.runs() {
        if !by_id.contains_key(&id) {
            return Err(unknown_id(id, points));
        }
        samples_of.insert(id, range);
    }
    let plans = by_id
        .values()
        .map(|point| plan(point, target, time_zone, options))
        .collect::<Result<Vec<Plan>>>()?;
    let Some((lo, hi)) = row_range(&plans, &samples_of, columns.ts(), options)? else {
        return LongBuilder::with_capacity(0).finish();
    };
    let mut out = LongBuilder::with_capacity(columns.ids().len());
    let mut scratch = Scratch::default();
    for plan in &plans {
        let mut first = plan.target.floor(lo)?;
        if first < lo && options.start.is_some() {
            first = plan.target.next(first)?;
        }
        let range = samples_of.get(&DataPointId(plan.id)).cloned();
        let samples = columns.samples(range.unwrap_or(0..0));
        let rows = Rows { first, stop: hi };
        sweep(plan, &samples, rows, &mut scratch, &mut out)?;
    }
    out.finish()
}

/// The `[lo, hi)` in µs that rows are made for: `options.start` and `end`,
/// or where open, the earliest sample start and the latest sample end of
/// any point; `None` when an open side has no sample to go by.
fn row_range(
    plans: &[Plan],
    samples_of: &HashMap<DataPointId, std::ops::Range<usize>>,
    ts: &[i64],
    options: &ResampleOptions,
) -> Result<Option<(i64, i64)>> {
    let mut extent: Option<(i64, i64)> = None;
    for plan in plans {
        let Some(range) = samples_of
            .get(&DataPointId(plan.id))
            .filter(|r| !r.is_empty())
        else {
            continue;
        };
        let first = ts[range.start];
        let last_end = plan.source.next(ts[range.end - 1])?;
        extent = Some(extent.map_or((first, last_end), |(lo, hi)| {
            (lo.min(first), hi.max(last_end))
        }));
    }
    let micros = |t: DateTime<Utc>| t.timestamp_micros();
    let lo = options.start.map(micros).or(extent.map(|e| e.0));
    let hi = options.end.map(micros).or(extent.map(|e| e.1));
    Ok(lo.zip(hi))
}

/// How to convert `point`. At its own resolution each interval is one
/// sample, so the conversion keeps the values.
fn plan(
    point: &DataPointConfig,
    target: Resolution,
    time_zone: Option<chrono_tz::Tz>,
    options: &ResampleOptions,
) -> Result<Plan> {
    let target_tz = || time_zone.map_or_else(|| point.tz(), Ok);
    let source = Grid::new(point.resolution, || point.tz())?;
    let target = Grid::new(target, target_tz)?;
    Ok(Plan {
        id: point.id.0,
        quantity: point.quantity,
        source,
        target,
        min_coverage: options.min_coverage,
        is_linear: point.quantity == Quantity::State
            && options.state_upsample == StateUpsample::Linear,
    })
}

#[cfg(test)]
mod tests;
