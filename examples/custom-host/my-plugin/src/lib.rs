//! An example plugin crate: one algorithm, linked into `my-host`.

use algohost_sdk::data;
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
    let site = ctx
        .data_point(&params.load)
        .map_err(|e| e.for_param("load"))?;
    let filter = DataPointFilter::default().with_names([&params.load, &params.pv]);
    let frame = ctx.read(&filter)?;
    let load = frame.column(&params.load)?.f64()?;
    let pv = frame.column(&params.pv)?.f64()?;
    let hours = 0.25; // the demo data is at PT15M
    // The energy of each quarter hour: consumed from PV, and produced.
    let (used, produced): (Vec<f64>, Vec<f64>) = load
        .iter()
        .zip(pv.iter())
        .map(|(l, p)| {
            let (l, p) = (l.unwrap_or(0.0), p.unwrap_or(0.0));
            (l.min(p) * hours, p * hours)
        })
        .unzip();
    let (used_kwh, produced_kwh) = (used.iter().sum::<f64>(), produced.iter().sum::<f64>());
    let quarter_hours = DataFrame::new_infer_height(vec![
        frame.column(data::TS)?.clone(),
        Column::new("self_consumed_kwh".into(), used),
        Column::new("pv_kwh".into(), produced),
    ])?;
    let daily = per_day(&quarter_hours, &site.time_zone)?;
    ctx.progress(1.0, "done");
    info!(
        produced_kwh,
        used_kwh,
        days = daily.height(),
        "self-consumption computed"
    );
    let ratio = if produced_kwh > 0.0 {
        used_kwh / produced_kwh
    } else {
        0.0
    };
    Ok(Output::new()
        .with_summary(json!({
            "pv_kwh": produced_kwh,
            "self_consumed_kwh": used_kwh,
            "ratio": ratio,
        }))
        .with_frame("daily", daily))
}

/// Sums the energy columns of a quarter-hourly wide frame per calendar day
/// of `time_zone` (the site's local midnight to local midnight).
fn per_day(quarter_hours: &DataFrame, time_zone: &str) -> Result<DataFrame> {
    let points: Vec<DataPointConfig> = ["self_consumed_kwh", "pv_kwh"]
        .into_iter()
        .zip(1..)
        .map(|(name, id)| DataPointConfig {
            id: DataPointId(id),
            ..DataPointConfig::new(name, Quantity::Energy, "kWh", Resolution::Seconds(900))
                .with_time_zone(time_zone)
        })
        .collect();
    let long = data::to_long(quarter_hours, &points)?;
    let daily = data::resample(&long, &points, Resolution::Days(1), &Default::default())?;
    data::to_wide(&daily, &points)
}
