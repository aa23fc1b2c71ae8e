//! `resample`: converts data points to another resolution with the SDK's
//! quantity-aware [`algohost_sdk::data::resample`], returns the result in
//! wide form and, on request, stores it as new data points.
//!
//! A builtin plugin: the stock `algohost` binary links this crate.

mod params;
mod write_back;

use algohost_sdk::data;
use algohost_sdk::prelude::*;

pub use params::{Params, StateUpsample};
pub use write_back::{Written, derived_points, write_back};

/// Converts data points to another resolution, following each one's
/// quantity: power and price take the time-weighted mean down and repeat up,
/// energy sums down and splits by duration up, state takes the last value
/// down and fills forward (or linearly) up. The result has one row per
/// target interval in [start, end) (without them, from the first to the last
/// interval that a sample of any of `names` touches), whatever the coverage:
/// an interval that samples cover less than `min_coverage` is null, at the
/// edges as in between. With `write_back`, the result is also stored as new
/// data points named `name + suffix`.
#[algorithm(name = "resample", version = "0.1.0", idempotent = true, outputs = ["resampled"])]
fn resample(ctx: &Context, params: Params) -> Result<Output> {
    params.validate()?;
    ctx.progress(0.0, "reading samples");
    let points = select_points(ctx, &params)?;
    let long = ctx.read_long(&params.filter())?;
    ctx.check()?;
    ctx.progress(0.4, "resampling");
    let converted = data::resample(
        &long,
        &points,
        params.resolution,
        &params.resample_options(),
    )?;
    let wide = data::to_wide(&converted, &points)?;
    ctx.check()?;
    if long.height() == 0 {
        warn!(
            "no samples of {} in the selected range",
            quoted(&params.names)
        );
    }
    let written = if params.write_back {
        ctx.progress(0.7, "writing back");
        let written = write_back(ctx, &wide, &points, &params)?;
        info!(
            samples = written.samples,
            "wrote {}",
            quoted(&written.names)
        );
        written
    } else {
        Written {
            names: Vec::new(),
            samples: 0,
        }
    };
    ctx.progress(1.0, "done");
    let summary = json!({
        "points": points.len(),
        "rows": wide.height(),
        "resolution": params.resolution.to_string(),
        "written": written.names,
        "samples_written": written.samples,
    });
    Ok(Output::new()
        .with_summary(summary)
        .with_frame("resampled", wide))
}

/// The data points named in `params`, in that order; an unknown name is an
/// error that lists every unknown one with the names close to it.
fn select_points(ctx: &Context, params: &Params) -> Result<Vec<DataPointConfig>> {
    let found = ctx.data_points(&DataPointFilter::default().with_names(params.names.clone()))?;
    let by_name = |name: &str| found.iter().find(|p| p.name == name);
    let missing: Vec<&str> = params
        .names
        .iter()
        .map(String::as_str)
        .filter(|n| by_name(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ctx.unknown_data_points(&missing));
    }
    Ok(params
        .names
        .iter()
        .filter_map(|n| by_name(n).cloned())
        .collect())
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
