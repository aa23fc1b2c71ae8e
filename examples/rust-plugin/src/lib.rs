//! An algohost plugin: the intervals in which a load is above a limit.

use algohost_sdk::polars::prelude::{ChunkAgg, ChunkCompareIneq};
use algohost_sdk::prelude::*;

/// Which load series to look at, and its limit.
#[derive(Deserialize, JsonSchema)]
struct Params {
    /// The load data point (power, kW).
    #[serde(default = "site_load")]
    series: String,
    /// Intervals above this power (kW) are peaks.
    limit_kw: f64,
}

fn site_load() -> String {
    "site.load".into()
}

/// The intervals in which a load series (kW) is above `limit_kw`.
#[algorithm(name = "load_peaks", version = "0.1.0", outputs = ["peaks: ts, kw"])]
fn load_peaks(ctx: &Context, params: Params) -> Result<Output> {
    let point = ctx
        .data_point(&params.series)
        .map_err(|e| e.for_param("series"))?;
    let frame = ctx.read(&DataPointFilter::default().with_names([&point.name]))?;
    ctx.check()?;
    let load = frame.column(&point.name)?.f64()?;
    let mut peaks = frame.filter(&load.gt(params.limit_kw))?;
    peaks.rename(&point.name, "kw".into())?;
    info!(above = peaks.height(), "of {} intervals", frame.height());
    ctx.progress(1.0, "done");
    Ok(Output::new()
        .with_summary(json!({
            "intervals": frame.height(),
            "intervals_above": peaks.height(),
            "peak_kw": load.max(),
        }))
        .with_frame("peaks", peaks))
}

algohost_sdk::export_plugin!();
