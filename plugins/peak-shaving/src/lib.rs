//! `peak_shaving`: battery dispatch that keeps grid import (load − PV) at or
//! below a limit wherever the battery allows.
//!
//! The dispatch is a pure function over slices ([`dispatch`]); the algorithm
//! around it reads the load and PV data points, calls it and returns the
//! schedule frame plus a summary. The crate builds as a dylib plugin and as
//! an rlib (for tests and for hosts that link it in).

mod dispatch;
mod input;
mod params;

use algohost_sdk::prelude::*;

pub use dispatch::{Schedule, Summary, dispatch, dispatch_with, lowest_feasible_limit};
pub use input::{Input, from_wide};
pub use params::{Battery, Params, Recharge};

/// Battery dispatch that keeps grid import (load − PV) at or below `limit_kw`
/// wherever the battery allows. The battery discharges exactly what a peak
/// exceeds the limit by, and recharges from PV surplus and, below the limit,
/// from the grid, looking ahead so that enough energy is stored before the
/// next peaks. Returns the schedule (battery power, positive = discharge; SoC
/// at the end of each interval; grid import) and a summary: peak_before_kw,
/// peak_after_kw, limit_kw, limit_met (true, false, or null when no interval
/// is above the limit but the load has gaps), intervals_above_limit, gaps
/// and intervals_missing (intervals without load between start and end),
/// energy_charged_kwh, energy_discharged_kwh and throughput_kwh.
#[algorithm(
    name = "peak_shaving",
    version = "0.1.0",
    idempotent = true,
    outputs = ["schedule: ts, load_kw, pv_kw, battery_kw, soc_kwh, grid_kw"]
)]
fn peak_shaving(ctx: &Context, params: Params) -> Result<Output> {
    params.validate()?;
    ctx.progress(0.0, "reading load and PV");
    let input = input::read(ctx, &params)?;
    ctx.check()?;
    ctx.progress(0.2, "dispatching the battery");
    let schedule = dispatch_with(&input.load_kw, &input.pv_kw, input.dt_h, &params, |done| {
        ctx.check()?;
        ctx.progress(0.2 + 0.7 * done, "dispatching the battery");
        Ok(())
    })?;
    let summary = schedule
        .summary
        .clone()
        .with_gaps(input.gaps, input.intervals_missing);
    let known = input.load_kw.len();
    match summary.limit_met {
        Some(true) => info!(
            peak_before_kw = summary.peak_before_kw,
            peak_after_kw = summary.peak_after_kw,
            "grid import stays at or below {} kW",
            params.limit_kw
        ),
        Some(false) => {
            // What the analyst can ask for instead.
            ctx.progress(0.9, "finding the lowest limit the battery can keep");
            let lowest =
                lowest_feasible_limit(&input.load_kw, &input.pv_kw, input.dt_h, &params, |_| {
                    ctx.check()
                })?;
            let hint = lowest
                .map(|l| format!("; the lowest limit it can keep here is {l:.3} kW"))
                .unwrap_or_default();
            warn!(
                intervals_above_limit = summary.intervals_above_limit,
                "the battery cannot keep grid import at or below {} kW in {} of {known} intervals; peak after: {:.3} kW{hint}",
                params.limit_kw,
                summary.intervals_above_limit,
                summary.peak_after_kw
            )
        }
        None => {}
    }
    if summary.gaps > 0 {
        warn!(
            gaps = summary.gaps,
            intervals_missing = summary.intervals_missing,
            "the load has no value in {} intervals ({} gap(s)); the battery idles through them, and whether grid import stays at or below {} kW there is not known",
            summary.intervals_missing,
            summary.gaps,
            params.limit_kw
        );
    }
    let frame = input.schedule_frame(&schedule)?;
    ctx.progress(1.0, "done");
    Ok(Output::new()
        .with_summary(rounded(algohost_sdk::serde_json::to_value(&summary)?))
        .with_frame("schedule", frame))
}

/// The summary's numbers to 6 decimals (µkW, mWh): floating-point noise such
/// as 55.00000000000035 kW says nothing to a reader.
fn rounded(summary: algohost_sdk::serde_json::Value) -> algohost_sdk::serde_json::Value {
    use algohost_sdk::serde_json::{Number, Value};
    match summary {
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, rounded(v))).collect())
        }
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .and_then(|x| Number::from_f64((x * 1e6).round() / 1e6))
            .map_or(Value::Number(n), Value::Number),
        other => other,
    }
}

// The same algorithms load from the cdylib at run time (a dylib source).
algohost_sdk::export_plugin!();
