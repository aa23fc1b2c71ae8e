//! `load_peaks` on a `MemoryHost`: what `cargo test` of a plugin crate can
//! check without an algohost (this is what the crate's `rlib` is for).

use algohost_sdk::chrono::{TimeZone, Utc};
use algohost_sdk::prelude::*;
use algohost_sdk::testing::MemoryHost;

// Using the crate links it, which registers its algorithms.
use load_peaks as _;

fn host() -> MemoryHost {
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let load = DataPointConfig::new("site.load", Quantity::Power, "kW", Resolution::Seconds(900));
    let values = [Some(40.0), Some(62.0), None, Some(75.5), Some(50.0)];
    MemoryHost::new().with_series(load, start, &values)
}

#[test]
fn load_peaks_returns_the_intervals_above_the_limit() {
    let host = host();
    let out = host.run("load_peaks", json!({ "limit_kw": 60.0 })).unwrap();
    assert_eq!(
        out.summary,
        json!({ "intervals": 5, "intervals_above": 2, "peak_kw": 75.5 })
    );
    let peaks = &out.frames["peaks"];
    assert_eq!(peaks.get_column_names(), ["ts", "kw"]);
    let kw: Vec<Option<f64>> = peaks.column("kw").unwrap().f64().unwrap().iter().collect();
    assert_eq!(kw, [Some(62.0), Some(75.5)]);
    assert_eq!(host.progress_reports(), [(1.0, "done".to_owned())]);
}

#[test]
fn an_unknown_series_names_the_params_field() {
    let err = host()
        .run(
            "load_peaks",
            json!({ "series": "site.lod", "limit_kw": 60.0 }),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid input: params.series: unknown data point 'site.lod'"),
        "{err}"
    );
}
