//! An example plugin crate: one algorithm, linked into `my-host`.

use algohost_sdk::prelude::*;

/// Which series to compare.
#[derive(Deserialize, JsonSchema)]
struct Params {
    /// Site consumption (power, kW).
    #[serde(default = "load")]
    load: String,
    /// PV production (power, kW).
    #[serde(default = "pv")]
    pv: String,
}

fn load() -> String {
    "site.load".into()
}

fn pv() -> String {
    "site.pv".into()
}

/// Share of PV production consumed on site, per day and in total.
#[algorithm(name = "self_consumption", version = "0.1.0", outputs = ["daily: ts, self_consumed_kwh, pv_kwh"])]
fn self_consumption(ctx: &Context, params: Params) -> Result<Output> {
    let filter = DataPointFilter::default().with_names([&params.load, &params.pv]);
    let frame = ctx.read(&filter)?;
    let load = frame.column(&params.load)?.f64()?;
    let pv = frame.column(&params.pv)?.f64()?;
    let hours = 0.25; // the demo data is at PT15M
    let (mut used, mut produced) = (0.0, 0.0);
    for (l, p) in load.iter().zip(pv.iter()) {
        let (l, p) = (l.unwrap_or(0.0), p.unwrap_or(0.0));
        used += l.min(p) * hours;
        produced += p * hours;
    }
    ctx.progress(1.0, "done");
    info!(produced, used, "self-consumption computed");
    let ratio = if produced > 0.0 { used / produced } else { 0.0 };
    Ok(Output::new().with_summary(json!({
        "pv_kwh": produced,
        "self_consumed_kwh": used,
        "ratio": ratio,
    })))
}
