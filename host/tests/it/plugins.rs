//! The first-party plugins on the demo data, through the real host: the
//! peak-shaving dylib and the builtin resample.

use std::sync::Arc;

use algohost::adapters::files::FilesAdapter;
use algohost::runner::{self, RunStatus};
use algohost::sources::{self, DiscoveryOptions};
use serde_json::json;

use crate::common::{request_with, target_debug_dir};

fn column(frame: &algohost_sdk::polars::prelude::DataFrame, name: &str) -> Vec<f64> {
    let values = frame.column(name).unwrap().f64().unwrap();
    values
        .iter()
        .map(|v| v.expect("no nulls in the schedule"))
        .collect()
}

#[test]
fn peak_shaving_on_the_demo_data_meets_the_limit_and_every_battery_constraint() {
    let data = tempfile::tempdir().unwrap();
    algohost::demo::generate(data.path()).unwrap();
    let adapter = Arc::new(FilesAdapter::open(data.path()).unwrap());
    let lib = target_debug_dir().join("libalgohost_plugin_peak_shaving.so");
    let registry = sources::discover(&DiscoveryOptions {
        plugin_paths: vec![lib],
        private_copies: false,
    });
    let (capacity, power, efficiency, limit) = (300.0, 40.0, 0.9_f64, 55.0);
    let params = json!({
        "limit_kw": limit,
        "battery": {"capacity_kwh": capacity, "power_kw": power, "efficiency": efficiency,
                    "soc_min": 0.1, "soc_max": 0.9, "soc_initial": 0.5}
    });
    let outcome =
        runner::execute(&registry, request_with("peak_shaving", params, adapter)).unwrap();
    assert_eq!(
        outcome.run.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.run.error
    );
    let summary = &outcome.run.summary;
    assert!(
        summary["peak_before_kw"].as_f64().unwrap() > 75.0,
        "{summary}"
    );
    assert_eq!(summary["peak_after_kw"], json!(55.0));

    let schedule = &outcome.output.unwrap().frames["schedule"];
    assert_eq!(schedule.height(), 11_516);
    let (load, pv, battery, soc, grid) = (
        column(schedule, "load_kw"),
        column(schedule, "pv_kw"),
        column(schedule, "battery_kw"),
        column(schedule, "soc_kwh"),
        column(schedule, "grid_kw"),
    );
    let (dt, eta, eps) = (0.25, efficiency.sqrt(), 1e-6);
    let mut previous = 0.5 * capacity;
    for t in 0..schedule.height() {
        assert!(
            battery[t].abs() <= power + eps,
            "interval {t}: battery {} kW",
            battery[t]
        );
        assert!(
            (0.1 * capacity - eps..=0.9 * capacity + eps).contains(&soc[t]),
            "interval {t}: soc {} kWh",
            soc[t]
        );
        let (charge, discharge) = ((-battery[t]).max(0.0), battery[t].max(0.0));
        let expected = previous + charge * eta * dt - discharge / eta * dt;
        assert!(
            (soc[t] - expected).abs() < 1e-6,
            "interval {t}: soc {} != {expected}",
            soc[t]
        );
        assert!(
            (grid[t] - (load[t] - pv[t] - battery[t])).abs() < 1e-9,
            "interval {t}: balance"
        );
        assert!(
            grid[t] <= limit + eps,
            "interval {t}: grid {} kW above the limit",
            grid[t]
        );
        previous = soc[t];
    }
}

#[test]
fn resample_on_the_demo_data_gives_the_spring_dst_day_23_hours() {
    let data = tempfile::tempdir().unwrap();
    algohost::demo::generate(data.path()).unwrap();
    let adapter = Arc::new(FilesAdapter::open(data.path()).unwrap());
    let registry = sources::discover(&DiscoveryOptions::default());
    let params = json!({"names": ["site.load"], "resolution": "PT1H", "start": "2026-03-28T23:00:00Z",
                        "end": "2026-03-29T22:00:00Z"});
    let outcome = runner::execute(&registry, request_with("resample", params, adapter)).unwrap();
    assert_eq!(
        outcome.run.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.run.error
    );
    // 2026-03-29 in Europe/Berlin runs from 23:00Z to 22:00Z: 23 hours.
    assert_eq!(outcome.output.unwrap().frames["resampled"].height(), 23);
}
