//! Quantity-aware resolution conversion of long frames: power and price take
//! the time-weighted mean down and repeat up, energy sums down and splits by
//! duration up, state takes the last value down and forward-fills (or
//! interpolates) up. Intervals with too little coverage give null.

mod grid;
mod sweep;

use std::collections::HashMap;

use polars::prelude::DataFrame;

use self::grid::Grid;
use self::sweep::{Plan, Scratch, sweep};
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
    /// less gives null.
    pub min_coverage: f64,
    /// Upsampling of state data points.
    pub state_upsample: StateUpsample,
    /// Time zone for calendar resolutions instead of each data point's own.
    pub time_zone: Option<String>,
}

impl Default for ResampleOptions {
    fn default() -> Self {
        Self {
            min_coverage: 1.0,
            state_upsample: StateUpsample::Forward,
            time_zone: None,
        }
    }
}

/// Converts long-form samples of `points` (found by id; each sample covers one
/// step of its point's native resolution) to `target`, returning a long frame
/// sorted by (id, ts).
///
/// Each data point gets a row for every target interval from its first to its
/// last one with a value; intervals in between whose non-null samples cover
/// less than `min_coverage` of their length are null. Energy sums only the
/// covered part (no extrapolation). A point already at `target` (and, for
/// calendar resolutions, in the same time zone) is returned unchanged.
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
    let by_id: HashMap<DataPointId, &DataPointConfig> = points.iter().map(|p| (p.id, p)).collect();
    let mut out = LongBuilder::with_capacity(columns.ids().len());
    let mut scratch = Scratch::default();
    for (id, range) in columns.runs() {
        let point = by_id.get(&id).ok_or_else(|| unknown_id(id, points))?;
        let samples = columns.samples(range);
        match plan(point, target, time_zone, options)? {
            Some(plan) => sweep(&plan, &samples, &mut scratch, &mut out)?,
            None => {
                (0..samples.len()).for_each(|i| out.push(id.0, samples.ts[i], samples.value(i)))
            }
        }
    }
    out.finish()
}

/// How to convert `point`, or `None` when its samples are already at `target`.
fn plan(
    point: &DataPointConfig,
    target: Resolution,
    time_zone: Option<chrono_tz::Tz>,
    options: &ResampleOptions,
) -> Result<Option<Plan>> {
    let target_tz = || time_zone.map_or_else(|| point.tz(), Ok);
    let source = Grid::new(point.resolution, || point.tz())?;
    let target = Grid::new(target, target_tz)?;
    if source == target {
        return Ok(None);
    }
    Ok(Some(Plan {
        id: point.id.0,
        quantity: point.quantity,
        source,
        target,
        min_coverage: options.min_coverage,
        is_linear: point.quantity == Quantity::State
            && options.state_upsample == StateUpsample::Linear,
    }))
}

#[cfg(test)]
mod tests;
