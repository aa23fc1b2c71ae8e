//! Long and wide frame forms. (Implementation in progress: see helper brief.)

use polars::prelude::DataFrame;

use super::DataPointConfig;
use crate::error::{Error, Result};

/// Column of the data point id in long form.
pub const DATA_POINT_ID: &str = "data_point_id";
/// Column of the interval start (`Datetime[us, UTC]`) in both forms.
pub const TS: &str = "ts";
/// Column of the value in long form.
pub const VALUE: &str = "value";

/// Whether `frame` has the long form's columns.
pub fn is_long(frame: &DataFrame) -> bool {
    frame.schema().contains(DATA_POINT_ID) && frame.schema().contains(VALUE)
}

/// Checks that a frame is in long form with the right types.
pub fn validate_long(_frame: &DataFrame) -> Result<()> {
    Err(Error::msg("validate_long: not implemented yet"))
}

/// Builds a long frame from (id, ts µs, value) columns.
pub fn long_frame(_ids: Vec<i64>, _ts_us: Vec<i64>, _values: Vec<Option<f64>>) -> Result<DataFrame> {
    Err(Error::msg("long_frame: not implemented yet"))
}

/// Long → wide.
pub fn to_wide(_long: &DataFrame, _points: &[DataPointConfig]) -> Result<DataFrame> {
    Err(Error::msg("to_wide: not implemented yet"))
}

/// Wide → long.
pub fn to_long(_wide: &DataFrame, _points: &[DataPointConfig]) -> Result<DataFrame> {
    Err(Error::msg("to_long: not implemented yet"))
}
