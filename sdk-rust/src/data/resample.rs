//! Quantity-aware resolution conversion. (Implementation in progress.)

use polars::prelude::DataFrame;

use super::{DataPointConfig, Resolution};
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

/// Converts long-form samples of `points` to `target`.
pub fn resample(
    _long: &DataFrame,
    _points: &[DataPointConfig],
    _target: Resolution,
    _options: &ResampleOptions,
) -> Result<DataFrame> {
    Err(Error::msg("resample: not implemented yet"))
}
