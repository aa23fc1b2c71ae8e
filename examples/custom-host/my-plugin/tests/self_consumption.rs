//! `self_consumption` on a `MemoryHost`: the summary and its `daily` frame.

use algohost_sdk::chrono::{TimeZone, Utc};
use algohost_sdk::prelude::*;
use algohost_sdk::testing::MemoryHost;

// Using the crate links it, which registers its algorithms.
use my_plugin as _;

#[test]
fn self_consumption_returns_the_declared_daily_frame() {
    // Two days: a steady 2 kW load, and 4 kW of PV for the first 12 hours.
    let start = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    let quarter = Resolution::Seconds(900);
    let load = DataPointConfig::new("site.load", Quantity::Power, "kW", quarter);
    let pv = DataPointConfig::new("site.pv", Quantity::Power, "kW", quarter);
    let day_of_pv = (0..96).map(|q| Some(if q < 48 { 4.0 } else { 0.0 }));
    let host = MemoryHost::new()
        .with_series(load, start, &[Some(2.0); 192])
        .with_series(
            pv,
            start,
            &day_of_pv.clone().chain(day_of_pv).collect::<Vec<_>>(),
        );

    let out = host.run("self_consumption", json!({})).unwrap();

    assert_eq!(
        out.summary,
        json!({ "pv_kwh": 96.0, "self_consumed_kwh": 48.0, "ratio": 0.5 })
    );
    let daily = &out.frames["daily"];
    assert_eq!(
        daily.get_column_names(),
        ["ts", "self_consumed_kwh", "pv_kwh"]
    );
    let column = |name: &str| -> Vec<Option<f64>> {
        daily.column(name).unwrap().f64().unwrap().iter().collect()
    };
    assert_eq!(column("self_consumed_kwh"), [Some(24.0), Some(24.0)]);
    assert_eq!(column("pv_kwh"), [Some(48.0), Some(48.0)]);
}
