//! The registered `resample` algorithm on an in-memory host, with values
//! computed by hand.

use algohost_sdk::chrono::{DateTime, TimeZone, Utc};
use algohost_sdk::data::TS;
use algohost_sdk::prelude::*;
use algohost_sdk::testing::MemoryHost;

const QUARTER: i64 = 900;
const HOUR: i64 = 3600;
const HOUR_US: i64 = 3_600_000_000;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 1, 0, 0, 0).unwrap()
}

fn t0() -> i64 {
    start().timestamp_micros()
}

fn point(name: &str, quantity: Quantity, unit: &str, step_s: i64) -> DataPointConfig {
    DataPointConfig::new(name, quantity, unit, Resolution::Seconds(step_s)).with_tag("site", "demo")
}

fn some(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().copied().map(Some).collect()
}

/// Three hours at 15 minutes: load (power) with a null quarter in hour 1,
/// energy, and a state of charge.
fn quarter_hourly_site() -> MemoryHost {
    let mut load = some(&[1.0, 2.0, 3.0, 4.0, 5.0, 0.0, 6.0, 7.0, 2.0, 2.0, 2.0, 2.0]);
    load[5] = None;
    let energy = some(&[1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 0.5, 0.5, 0.5, 0.5]);
    let soc: Vec<Option<f64>> = (1..=12).map(|i| Some(10.0 * f64::from(i))).collect();
    MemoryHost::new()
        .with_series(
            point("site.load", Quantity::Power, "kW", QUARTER),
            start(),
            &load,
        )
        .with_series(
            point("site.energy", Quantity::Energy, "kWh", QUARTER),
            start(),
            &energy,
        )
        .with_series(
            point("battery.soc", Quantity::State, "%", QUARTER),
            start(),
            &soc,
        )
}

fn values(frame: &DataFrame, name: &str) -> Vec<Option<f64>> {
    frame.column(name).unwrap().f64().unwrap().iter().collect()
}

fn ts_us(frame: &DataFrame) -> Vec<i64> {
    frame
        .column(TS)
        .unwrap()
        .datetime()
        .unwrap()
        .physical()
        .iter()
        .map(|v| v.unwrap())
        .collect()
}

fn column_names(frame: &DataFrame) -> Vec<String> {
    frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn quarter_hours_become_hours_by_quantity() {
    let host = quarter_hourly_site();
    let out = host
        .run(
            "resample",
            json!({"names": ["site.load", "site.energy", "battery.soc"], "resolution": "PT1H"}),
        )
        .unwrap();
    let frame = &out.frames["resampled"];
    assert_eq!(
        column_names(frame),
        ["ts", "site.load", "site.energy", "battery.soc"]
    );
    assert_eq!(ts_us(frame), [t0(), t0() + HOUR_US, t0() + 2 * HOUR_US]);
    // Power: mean of (1, 2, 3, 4); hour 1 misses a quarter, so with full
    // coverage required it is null; mean of (2, 2, 2, 2).
    assert_eq!(values(frame, "site.load"), [Some(2.5), None, Some(2.0)]);
    // Energy: sums.
    assert_eq!(
        values(frame, "site.energy"),
        [Some(4.0), Some(8.0), Some(2.0)]
    );
    // State: the last value of each hour.
    assert_eq!(
        values(frame, "battery.soc"),
        [Some(40.0), Some(80.0), Some(120.0)]
    );
    assert_eq!(
        out.summary,
        json!({"points": 3, "rows": 3, "resolution": "PT1H", "written": [], "samples_written": 0})
    );
}

#[test]
fn a_lower_min_coverage_averages_what_is_there() {
    let host = quarter_hourly_site();
    let out = host
        .run(
            "resample",
            json!({"names": ["site.load"], "resolution": "PT1H", "min_coverage": 0.75}),
        )
        .unwrap();
    // Hour 1: mean of (5, 6, 7), the covered three quarters.
    assert_eq!(
        values(&out.frames["resampled"], "site.load"),
        [Some(2.5), Some(6.0), Some(2.0)]
    );
}

#[test]
fn hours_become_half_hours_by_quantity() {
    let host = MemoryHost::new()
        .with_series(
            point("market.price", Quantity::Price, "EUR/MWh", HOUR),
            start(),
            &some(&[100.0, 200.0]),
        )
        .with_series(
            point("site.energy", Quantity::Energy, "kWh", HOUR),
            start(),
            &some(&[4.0, 8.0]),
        )
        .with_series(
            point("battery.soc", Quantity::State, "%", HOUR),
            start(),
            &some(&[10.0, 20.0]),
        );
    let names = json!(["market.price", "site.energy", "battery.soc"]);
    let out = host
        .run("resample", json!({"names": names, "resolution": "PT30M"}))
        .unwrap();
    let frame = &out.frames["resampled"];
    let half = HOUR_US / 2;
    assert_eq!(
        ts_us(frame),
        [t0(), t0() + half, t0() + 2 * half, t0() + 3 * half]
    );
    assert_eq!(
        values(frame, "market.price"),
        some(&[100.0, 100.0, 200.0, 200.0])
    );
    assert_eq!(values(frame, "site.energy"), some(&[2.0, 2.0, 4.0, 4.0]));
    assert_eq!(
        values(frame, "battery.soc"),
        some(&[10.0, 10.0, 20.0, 20.0])
    );

    let out = host
        .run(
            "resample",
            json!({"names": ["battery.soc"], "resolution": "PT30M", "state_upsample": "linear"}),
        )
        .unwrap();
    // A line from 10 to 20 across hour 0; hour 1 has no next sample and holds.
    assert_eq!(
        values(&out.frames["resampled"], "battery.soc"),
        some(&[10.0, 15.0, 20.0, 20.0])
    );
}

#[test]
fn start_and_end_select_the_samples() {
    let host = quarter_hourly_site();
    let out = host
        .run(
            "resample",
            json!({
                "names": ["site.energy"], "resolution": "PT1H",
                "start": "2024-03-01T01:00:00Z", "end": "2024-03-01T03:00:00Z"
            }),
        )
        .unwrap();
    let frame = &out.frames["resampled"];
    assert_eq!(ts_us(frame), [t0() + HOUR_US, t0() + 2 * HOUR_US]);
    assert_eq!(values(frame, "site.energy"), [Some(8.0), Some(2.0)]);
}

#[test]
fn write_back_stores_new_data_points_without_the_null_intervals() {
    let host = quarter_hourly_site();
    let out = host
        .run("resample", json!({"names": ["site.load", "site.energy"], "resolution": "PT1H", "write_back": true}))
        .unwrap();
    assert_eq!(
        out.summary["written"],
        json!(["site.load.PT1H", "site.energy.PT1H"])
    );
    assert_eq!(out.summary["samples_written"], json!(5));

    let load = host.data_point("site.load.PT1H").expect("defined");
    assert_eq!(load.resolution, Resolution::Seconds(HOUR));
    assert_eq!(
        (load.quantity, load.unit.as_str(), load.time_zone.as_str()),
        (Quantity::Power, "kW", "UTC")
    );
    assert_eq!(load.tags["site"], "demo");
    assert_eq!(
        host.samples_of("site.load.PT1H"),
        [(t0(), Some(2.5)), (t0() + 2 * HOUR_US, Some(2.0))]
    );
    assert_eq!(
        host.samples_of("site.energy.PT1H"),
        [
            (t0(), Some(4.0)),
            (t0() + HOUR_US, Some(8.0)),
            (t0() + 2 * HOUR_US, Some(2.0))
        ]
    );
    // The output frame still uses the source names.
    assert_eq!(
        column_names(&out.frames["resampled"]),
        ["ts", "site.load", "site.energy"]
    );
    // The sources are untouched.
    assert_eq!(host.samples_of("site.energy").len(), 12);
}

#[test]
fn write_back_uses_a_given_suffix() {
    let host = quarter_hourly_site();
    let out = host
        .run(
            "resample",
            json!({"names": ["site.energy"], "resolution": "PT1H", "write_back": true, "suffix": "_hourly"}),
        )
        .unwrap();
    assert_eq!(out.summary["written"], json!(["site.energy_hourly"]));
    assert_eq!(host.samples_of("site.energy_hourly").len(), 3);
}

#[test]
fn write_back_refuses_an_existing_point_of_another_resolution() {
    let host = quarter_hourly_site().with_data_point(point(
        "site.energy.PT1H",
        Quantity::Energy,
        "kWh",
        QUARTER,
    ));
    let err = host
        .run(
            "resample",
            json!({"names": ["site.energy"], "resolution": "PT1H", "write_back": true}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: data point 'site.energy.PT1H' already exists as energy in kWh at PT15M \
         (UTC), not energy in kWh at PT1H (UTC): choose another suffix"
    );
    assert!(
        host.samples_of("site.energy.PT1H").is_empty(),
        "nothing written"
    );
}

#[test]
fn unknown_names_are_listed_in_the_error() {
    let host = quarter_hourly_site();
    let err = host
        .run(
            "resample",
            json!({"names": ["site.load", "site.laod", "pv"], "resolution": "PT1H"}),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: unknown data point 'site.laod' (did you mean 'site.load'?); unknown data \
         point 'pv'; known names: battery.soc, site.energy, site.load"
    );
}

#[test]
fn an_empty_range_gives_an_empty_frame_and_a_warning() {
    let host = quarter_hourly_site();
    let out = host
        .run(
            "resample",
            json!({"names": ["site.load"], "resolution": "PT1H", "start": "2025-01-01T00:00:00Z"}),
        )
        .unwrap();
    assert_eq!(out.frames["resampled"].height(), 0);
    assert_eq!(out.summary["rows"], json!(0));
    assert_eq!(
        host.warnings(),
        ["no samples of 'site.load' in the selected range"]
    );
}

#[test]
fn progress_rises_to_one() {
    let host = quarter_hourly_site();
    host.run(
        "resample",
        json!({"names": ["site.load"], "resolution": "PT1H", "write_back": true}),
    )
    .unwrap();
    let progress = host.progress_reports();
    assert!(
        progress.windows(2).all(|w| w[0].0 <= w[1].0),
        "{progress:?}"
    );
    assert_eq!(progress.last().unwrap(), &(1.0, "done".to_owned()));
}

/// A meter at 15 minutes with gaps: hour 0 lacks 00:30, hour 1 is full,
/// hour 2 is empty and hour 3 has only 03:00. `full` covers all four hours.
fn gappy_meter(quantity: Quantity, unit: &str) -> MemoryHost {
    let at = |minutes: i64| start() + algohost_sdk::chrono::TimeDelta::minutes(minutes);
    let samples = [(0, 10.0), (15, 20.0), (45, 40.0), (60, 10.0)]
        .into_iter()
        .chain([(75, 10.0), (90, 10.0), (105, 10.0), (180, 5.0)])
        .map(|(m, v)| (at(m), Some(v)));
    MemoryHost::new()
        .with_samples(point("m.p", quantity, unit, QUARTER), samples)
        .with_series(
            point("m.full", quantity, unit, QUARTER),
            start(),
            &some(&[1.0; 16]),
        )
}

#[test]
fn every_interval_of_start_to_end_has_a_row_however_covered() {
    let host = gappy_meter(Quantity::Power, "kW");
    let range = json!({"start": "2024-03-01T00:00:00Z", "end": "2024-03-01T04:00:00Z"});
    let hours: Vec<i64> = (0..4).map(|h| t0() + h * HOUR_US).collect();
    for names in [json!(["m.p"]), json!(["m.p", "m.full"])] {
        let mut params = json!({"names": names, "resolution": "PT1H"});
        params
            .as_object_mut()
            .unwrap()
            .extend(range.as_object().unwrap().clone());
        let out = host.run("resample", params).unwrap();
        let frame = &out.frames["resampled"];
        // The partly covered first and last hours are null, as the empty
        // hour between is, alone or beside a complete series.
        assert_eq!(ts_us(frame), hours, "{names}");
        assert_eq!(
            values(frame, "m.p"),
            [None, Some(10.0), None, None],
            "{names}"
        );
        assert_eq!(out.summary["rows"], json!(4), "{names}");
    }
}

#[test]
fn without_start_and_end_the_rows_run_from_the_first_to_the_last_sample() {
    let host = gappy_meter(Quantity::Power, "kW");
    let out = host
        .run("resample", json!({"names": ["m.p"], "resolution": "PT1H"}))
        .unwrap();
    let frame = &out.frames["resampled"];
    let hours: Vec<i64> = (0..4).map(|h| t0() + h * HOUR_US).collect();
    assert_eq!(ts_us(frame), hours);
    assert_eq!(values(frame, "m.p"), [None, Some(10.0), None, None]);
    // min_coverage 0 makes a value of every hour with a sample, not more rows.
    let out = host
        .run(
            "resample",
            json!({"names": ["m.p"], "resolution": "PT1H", "min_coverage": 0}),
        )
        .unwrap();
    assert_eq!(
        values(&out.frames["resampled"], "m.p"),
        [Some(70.0 / 3.0), Some(10.0), None, Some(5.0)]
    );
}

#[test]
fn energy_over_part_of_an_interval_is_scaled_to_all_of_it_as_power_is_averaged() {
    let energy = gappy_meter(Quantity::Energy, "kWh");
    let power = gappy_meter(Quantity::Power, "kW");
    let params = json!({"names": ["m.p"], "resolution": "PT1H", "min_coverage": 0.5});
    let kwh = values(
        &energy.run("resample", params.clone()).unwrap().frames["resampled"],
        "m.p",
    );
    let kw = values(
        &power.run("resample", params).unwrap().frames["resampled"],
        "m.p",
    );
    // Hour 0 holds 70 kWh in three quarters: 70 / 0.75 kWh in the hour.
    assert_eq!(kwh, [Some(70.0 / 0.75), Some(40.0), None, None]);
    // The same numbers as power: the mean of the covered part over the hour.
    assert_eq!(kw, [Some(70.0 / 3.0), Some(10.0), None, None]);
}
