//! The registered `peak_shaving` algorithm, run on an in-memory host: what
//! it reads, the schedule frame and summary it returns, and its errors.

use algohost_plugin_peak_shaving::{Params, dispatch};
use algohost_sdk::chrono::{DateTime, TimeZone, Utc};
use algohost_sdk::data::TS;
use algohost_sdk::polars::prelude::{DataType, TimeUnit, TimeZone as PolarsTimeZone};
use algohost_sdk::prelude::*;
use algohost_sdk::serde_json::{self, Value};
use algohost_sdk::testing::MemoryHost;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
}

fn power(name: &str, step_s: i64) -> DataPointConfig {
    DataPointConfig::new(name, Quantity::Power, "kW", Resolution::Seconds(step_s))
}

/// A site with hourly load and PV.
fn site(load: &[Option<f64>], pv: &[Option<f64>]) -> MemoryHost {
    MemoryHost::new()
        .with_series(power("site.load", 3600), start(), load)
        .with_series(power("site.pv", 3600), start(), pv)
}

fn small_battery() -> Value {
    json!({"capacity_kwh": 20.0, "power_kw": 5.0, "efficiency": 1.0, "soc_initial": 0.1})
}

fn column(frame: &DataFrame, name: &str) -> Vec<f64> {
    frame
        .column(name)
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(|v| v.expect("no nulls"))
        .collect()
}

fn ts_us(frame: &DataFrame) -> Vec<i64> {
    let ts = frame.column(TS).unwrap();
    assert_eq!(
        ts.dtype(),
        &DataType::Datetime(TimeUnit::Microseconds, Some(PolarsTimeZone::UTC))
    );
    ts.datetime()
        .unwrap()
        .physical()
        .iter()
        .map(|v| v.unwrap())
        .collect()
}

#[test]
fn a_small_site_gets_the_hand_computed_schedule() {
    // Net load 5, 5, 14, 12 kW against a 10 kW limit; see the dispatch docs.
    let host = site(
        &[Some(5.0), Some(8.0), Some(14.0), Some(12.0)],
        &[Some(0.0), Some(3.0), Some(0.0), Some(0.0)],
    );
    let out = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery()}),
        )
        .unwrap();

    let frame = &out.frames["schedule"];
    let names: Vec<&str> = frame
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(
        names,
        ["ts", "load_kw", "pv_kw", "battery_kw", "soc_kwh", "grid_kw"]
    );
    let t0 = start().timestamp_micros();
    assert_eq!(
        ts_us(frame),
        [
            t0,
            t0 + 3_600_000_000,
            t0 + 7_200_000_000,
            t0 + 10_800_000_000
        ]
    );
    assert_eq!(column(frame, "load_kw"), [5.0, 8.0, 14.0, 12.0]);
    assert_eq!(column(frame, "pv_kw"), [0.0, 3.0, 0.0, 0.0]);
    assert_eq!(column(frame, "battery_kw"), [-1.0, -5.0, 4.0, 2.0]);
    assert_eq!(column(frame, "soc_kwh"), [3.0, 8.0, 4.0, 2.0]);
    assert_eq!(column(frame, "grid_kw"), [6.0, 10.0, 10.0, 10.0]);

    assert_eq!(
        out.summary,
        json!({
            "peak_before_kw": 14.0,
            "peak_after_kw": 10.0,
            "limit_kw": 10.0,
            "limit_met": true,
            "intervals_above_limit": 0,
            "gaps": 0,
            "intervals_missing": 0,
            "energy_charged_kwh": 6.0,
            "energy_discharged_kwh": 6.0,
            "throughput_kwh": 12.0
        })
    );
    assert!(host.warnings().is_empty(), "{:?}", host.warnings());
}

#[test]
fn the_frame_matches_the_pure_dispatch_over_three_days() {
    let load: Vec<f64> = (0..72)
        .map(|h| 40.0 + 30.0 * f64::from(u8::from((17..21).contains(&(h % 24)))))
        .collect();
    let pv: Vec<f64> = (0..72)
        .map(|h| {
            if (10..15).contains(&(h % 24)) {
                20.0
            } else {
                0.0
            }
        })
        .collect();
    let some = |xs: &[f64]| xs.iter().copied().map(Some).collect::<Vec<_>>();
    let host = site(&some(&load), &some(&pv));
    let params = json!({"limit_kw": 55.0, "battery": {"capacity_kwh": 80.0, "power_kw": 20.0}});
    let out = host.run("peak_shaving", params.clone()).unwrap();

    let expected = dispatch(
        &load,
        &pv,
        1.0,
        &serde_json::from_value::<Params>(params).unwrap(),
    )
    .unwrap();
    let frame = &out.frames["schedule"];
    assert_eq!(frame.height(), 72);
    assert_eq!(column(frame, "battery_kw"), expected.battery_kw);
    assert_eq!(column(frame, "soc_kwh"), expected.soc_kwh);
    assert_eq!(column(frame, "grid_kw"), expected.grid_kw);
    assert_eq!(out.summary["peak_before_kw"], json!(70.0));
    assert_eq!(out.summary["peak_after_kw"], json!(55.0));
    assert_eq!(out.summary["limit_met"], json!(true));
}

#[test]
fn start_and_end_restrict_the_range_to_whole_intervals() {
    let host = site(&[Some(5.0); 48], &[Some(0.0); 48]);
    let shave = |start: &str, end: &str| {
        let params = json!({
            "limit_kw": 10.0, "battery": small_battery(), "start": start, "end": end
        });
        host.run("peak_shaving", params)
    };
    let out = shave("2024-03-01T06:00:00Z", "2024-03-01T18:00:00+00:00").unwrap();
    let ts = ts_us(&out.frames["schedule"]);
    assert_eq!(ts.len(), 12);
    assert_eq!(ts[0], start().timestamp_micros() + 6 * 3_600_000_000);
    // No charging at all is 0 in the summary, not -0.
    let charged = serde_json::to_string(&out.summary["energy_charged_kwh"]).unwrap();
    assert_eq!(charged, "0.0", "{}", out.summary);

    // A start or end inside an interval would cut it off: refused, with
    // the interval starts around it.
    let err = shave("2024-03-01T06:07:00Z", "2024-03-01T18:00:00Z").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: start (2024-03-01T06:07:00+00:00) is inside an interval of the load \
         'site.load' (PT1H); give the start of an interval: 2024-03-01T06:00:00+00:00 (to \
         include the one it falls in) or 2024-03-01T07:00:00+00:00"
    );
    let err = shave("2024-03-01T06:00:00Z", "2024-03-01T18:30:00Z").unwrap_err();
    assert!(
        err.to_string()
            .contains("end (2024-03-01T18:30:00+00:00) is inside"),
        "{err}"
    );
}

#[test]
fn missing_pv_counts_as_zero_with_a_warning() {
    let host = site(
        &[Some(5.0), Some(5.0), Some(14.0), Some(12.0)],
        &[Some(0.0), None, Some(0.0), None],
    );
    let out = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery()}),
        )
        .unwrap();
    assert_eq!(column(&out.frames["schedule"], "pv_kw"), [0.0; 4]);
    assert_eq!(
        column(&out.frames["schedule"], "grid_kw"),
        [6.0, 10.0, 10.0, 10.0]
    );
    assert_eq!(
        host.warnings(),
        ["PV data point 'site.pv' has no value in 2 of 4 intervals; counting them as 0 kW"]
    );
}

#[test]
fn a_site_without_pv_sets_pv_to_null() {
    let host = MemoryHost::new().with_series(power("site.load", 900), start(), &[Some(12.0); 8]);
    let out = host
        .run(
            "peak_shaving",
            json!({
                "limit_kw": 10.0, "pv": null,
                "battery": {"capacity_kwh": 10.0, "power_kw": 5.0, "efficiency": 1.0}
            }),
        )
        .unwrap();
    let frame = &out.frames["schedule"];
    assert_eq!(column(frame, "pv_kw"), [0.0; 8]);
    // 15-minute intervals: 2 kW for 2 h takes the 4 kWh between soc_initial and soc_min.
    assert_eq!(column(frame, "grid_kw"), [10.0; 8]);
    assert!((out.summary["energy_discharged_kwh"].as_f64().unwrap() - 4.0).abs() < 1e-9);
}

#[test]
fn a_missing_load_value_is_an_error_that_names_the_interval() {
    let host = site(&[Some(5.0), Some(5.0), None, None], &[Some(0.0); 4]);
    let err = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery()}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: load data point 'site.load' has no value at 2024-03-01T02:00:00+00:00 (2 of 4 intervals missing); fill the gaps or narrow start and end"
    );
}

#[test]
fn unknown_data_points_are_errors_that_say_which_param_and_the_close_names() {
    let host = site(&[Some(5.0)], &[Some(0.0)]);
    let err = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery(), "load": "site.demand"}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: params.load: unknown data point 'site.demand'; known names: site.load, site.pv"
    );
    let err = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery(), "pv": "site.pvv"}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: params.pv: unknown data point 'site.pvv' (did you mean 'site.pv'?); known names: \
         site.load, site.pv"
    );
}

#[test]
fn an_empty_range_is_an_error() {
    let host = site(&[Some(5.0)], &[Some(0.0)]);
    let err = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery(), "start": "2025-01-01T00:00:00Z"}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: no samples of load data point 'site.load' in the selected range; check start and end"
    );
}

#[test]
fn unknown_params_are_rejected() {
    let host = site(&[Some(5.0)], &[Some(0.0)]);
    let err = host
        .run(
            "peak_shaving",
            json!({"limit_kwh": 10.0, "battery": small_battery()}),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown field `limit_kwh`"),
        "{err}"
    );
}

#[test]
fn an_infeasible_limit_is_reported_in_the_summary_and_the_log() {
    // 8 kWh above soc_min, 5 kW: 25 kW in hour 0, then 3 kWh left for hour 1.
    let host = site(&[Some(30.0), Some(30.0)], &[Some(0.0), Some(0.0)]);
    let battery = json!({"capacity_kwh": 20.0, "power_kw": 5.0, "efficiency": 1.0});
    let out = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": battery}),
        )
        .unwrap();
    assert_eq!(column(&out.frames["schedule"], "grid_kw"), [25.0, 27.0]);
    assert_eq!(out.summary["limit_met"], json!(false));
    assert_eq!(out.summary["intervals_above_limit"], json!(2));
    assert_eq!(out.summary["peak_after_kw"], json!(27.0));
    let warnings = host.warnings();
    assert_eq!(warnings.len(), 1);
    // 8 kWh over two hours of 30 kW: 26 kW is as low as it goes.
    assert_eq!(
        warnings[0],
        "the battery cannot keep grid import at or below 10 kW in 2 of 2 intervals; peak after: \
         27.000 kW; the lowest limit it can keep here is 26.000 kW"
    );
}

#[test]
fn progress_rises_to_one() {
    let host = site(&[Some(5.0); 24], &[Some(0.0); 24]);
    host.run(
        "peak_shaving",
        json!({"limit_kw": 10.0, "battery": small_battery()}),
    )
    .unwrap();
    let progress = host.progress_reports();
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(
        progress.windows(2).all(|w| w[0].0 <= w[1].0),
        "{progress:?}"
    );
    assert_eq!(progress.last().unwrap(), &(1.0, "done".to_owned()));
}

#[test]
fn a_cancelled_run_stops() {
    let host = site(&[Some(5.0); 24], &[Some(0.0); 24]);
    host.cancel();
    let err = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery()}),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err}");
}

#[test]
fn a_gap_in_the_samples_is_in_the_summary_and_the_limit_is_not_claimed_met() {
    // Hours 0–1 and 4–5; nothing at all in hours 2–3.
    let later = start() + algohost_sdk::chrono::Duration::hours(4);
    let host = MemoryHost::new()
        .with_series(power("site.load", 3600), start(), &[Some(5.0), Some(5.0)])
        .with_series(power("site.load", 3600), later, &[Some(12.0), Some(12.0)]);
    let out = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "pv": null, "battery": small_battery()}),
        )
        .unwrap();
    let frame = &out.frames["schedule"];
    assert_eq!(ts_us(frame).len(), 4);
    // The 4 kWh for hours 4–5 are charged in hour 1, the last one before the gap.
    assert_eq!(column(frame, "grid_kw"), [5.0, 9.0, 10.0, 10.0]);
    // Every known hour is at or below 10 kW, but hours 2–3 are not known.
    assert_eq!(out.summary["limit_met"], Value::Null);
    assert_eq!(out.summary["intervals_above_limit"], json!(0));
    assert_eq!(out.summary["gaps"], json!(1));
    assert_eq!(out.summary["intervals_missing"], json!(2));
    assert_eq!(
        host.warnings(),
        [
            "the load has no value in 2 intervals (1 gap(s)); the battery idles through them, \
             and whether grid import stays at or below 10 kW there is not known"
        ]
    );
}

#[test]
fn a_known_interval_above_the_limit_is_not_met_whatever_the_gaps() {
    let later = start() + algohost_sdk::chrono::Duration::hours(3);
    let host = MemoryHost::new()
        .with_series(power("site.load", 3600), start(), &[Some(5.0)])
        .with_series(power("site.load", 3600), later, &[Some(30.0)]);
    let out = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "pv": null, "battery": small_battery()}),
        )
        .unwrap();
    assert_eq!(out.summary["limit_met"], json!(false));
    assert_eq!(out.summary["gaps"], json!(1));
    assert_eq!(out.summary["intervals_missing"], json!(2));
}

#[test]
fn hours_without_load_between_start_and_end_are_gaps_too() {
    let host = site(&[Some(5.0); 4], &[Some(0.0); 4]);
    let out = host
        .run(
            "peak_shaving",
            json!({
                "limit_kw": 10.0, "battery": small_battery(),
                "start": "2024-02-29T22:00:00Z", "end": "2024-03-01T07:00:00Z"
            }),
        )
        .unwrap();
    assert_eq!(out.frames["schedule"].height(), 4);
    // 22:00–23:00 before the first hour, 04:00–06:00 after the last.
    assert_eq!(out.summary["gaps"], json!(2));
    assert_eq!(out.summary["intervals_missing"], json!(5));
    assert_eq!(out.summary["limit_met"], Value::Null);
    // Within the data, nothing is missing and the limit is met.
    let out = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "battery": small_battery(), "end": "2024-03-01T04:00:00Z"}),
        )
        .unwrap();
    assert_eq!(out.summary["gaps"], json!(0));
    assert_eq!(out.summary["limit_met"], json!(true));
}

#[test]
fn from_wide_rejects_timestamps_that_do_not_increase() {
    let ts = Column::new(TS.into(), [7_200_000_000i64, 3_600_000_000])
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(PolarsTimeZone::UTC),
        ))
        .unwrap();
    let wide =
        DataFrame::new_infer_height(vec![ts, Column::new("site.load".into(), [1.0, 2.0])]).unwrap();
    let err = algohost_plugin_peak_shaving::from_wide(&wide, "site.load", None, 1.0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "data: interval starts must increase, but 1970-01-01T01:00:00+00:00 follows 1970-01-01T02:00:00+00:00"
    );
}

#[test]
fn energy_and_other_units_are_read_as_kw() {
    // 3 kWh per quarter hour is 12 kW; PV in W.
    let load = DataPointConfig::new(
        "site.load",
        Quantity::Energy,
        "kWh",
        Resolution::Seconds(900),
    );
    let pv = DataPointConfig::new("site.pv", Quantity::Power, "W", Resolution::Seconds(900));
    let host = MemoryHost::new()
        .with_series(load, start(), &[Some(3.0), Some(2.0)])
        .with_series(pv, start(), &[Some(1000.0), Some(0.0)]);
    let out = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 100.0, "battery": small_battery()}),
        )
        .unwrap();
    let frame = &out.frames["schedule"];
    assert_eq!(column(frame, "load_kw"), [12.0, 8.0]);
    assert_eq!(column(frame, "pv_kw"), [1.0, 0.0]);
    assert_eq!(out.summary["peak_before_kw"], json!(11.0));
}

#[test]
fn a_price_is_not_a_load() {
    let price = DataPointConfig::new(
        "site.load",
        Quantity::Price,
        "EUR/MWh",
        Resolution::Seconds(3600),
    );
    let host = MemoryHost::new().with_series(price, start(), &[Some(50.0)]);
    let err = host
        .run(
            "peak_shaving",
            json!({"limit_kw": 10.0, "pv": null, "battery": small_battery()}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: data point 'site.load' measures price; peak shaving reads power (kW) or energy per interval (kWh)"
    );
}
