//! Storing converted samples: one new data point per source, named
//! `name + suffix`, with the source's quantity, unit, time zone, tags and
//! flow but the target resolution.

use algohost_sdk::data::TS;
use algohost_sdk::prelude::*;

use crate::params::Params;

/// What write-back stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Names of the data points written to, in the order of the sources.
    pub names: Vec<String>,
    /// Number of samples written (null intervals are not written).
    pub samples: usize,
}

/// The data points that receive the converted samples of `points`. For a
/// calendar target with an explicit `time_zone` param, the new points carry
/// that zone, since their intervals follow its midnight.
pub fn derived_points(points: &[DataPointConfig], params: &Params) -> Vec<DataPointConfig> {
    let suffix = params.suffix();
    points
        .iter()
        .map(|p| {
            let mut derived = p.clone();
            derived.id = DataPointId(0);
            derived.name = format!("{}{suffix}", p.name);
            derived.resolution = params.resolution;
            if let Some(tz) = params
                .time_zone
                .as_ref()
                .filter(|_| params.resolution.is_calendar())
            {
                derived.time_zone = tz.clone();
            }
            derived
        })
        .collect()
}

/// Defines the derived points of `points` and writes the columns of `wide`
/// (named after `points`) into them.
///
/// A derived name that already exists with another resolution or quantity is
/// an error, so that samples never land in a data point that means something else.
pub fn write_back(
    ctx: &Context,
    wide: &DataFrame,
    points: &[DataPointConfig],
    params: &Params,
) -> Result<Written> {
    let derived = derived_points(points, params);
    // Checked before defining them, to say which param to change (the
    // adapter refuses another series under an existing name too).
    let names = derived.iter().map(|p| p.name.clone());
    let existing = ctx.data_points(&DataPointFilter::default().with_names(names))?;
    for have in &existing {
        let Some(want) = derived.iter().find(|w| w.name == have.name) else {
            continue;
        };
        if !have.is_same_series(want) {
            return Err(Error::InvalidInput(format!(
                "data point '{}' already exists as {}, not {}: choose another suffix",
                have.name,
                have.series(),
                want.series()
            )));
        }
    }
    ctx.define_data_points(&derived)?;
    let mut columns = vec![wide.column(TS)?.clone()];
    let mut samples = 0;
    for (source, target) in points.iter().zip(&derived) {
        let column = wide.column(&source.name)?;
        samples += column.len() - column.null_count();
        columns.push(column.clone().with_name(target.name.as_str().into()));
    }
    let frame = DataFrame::new_infer_height(columns)?;
    if samples > 0 {
        ctx.write(&frame)?;
    }
    Ok(Written {
        names: derived.into_iter().map(|p| p.name).collect(),
        samples,
    })
}
