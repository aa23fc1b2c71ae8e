//! Hand-computed conversions for each quantity, both directions, on DST days
//! in Europe/Berlin and with coverage gaps.

use chrono::{DateTime, Days, NaiveDate, TimeZone};
use polars::prelude::DataFrame;

use super::*;
use crate::data::{TS, VALUE, long_frame};

const QUARTER: i64 = 900_000_000;
const HOUR: i64 = 3_600_000_000;

fn at(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_micros()
}

fn berlin_midnight(date: NaiveDate) -> i64 {
    let local = date.and_hms_opt(0, 0, 0).unwrap();
    chrono_tz::Europe::Berlin
        .from_local_datetime(&local)
        .unwrap()
        .timestamp_micros()
}

fn point(id: i64, quantity: Quantity, resolution: &str) -> DataPointConfig {
    let mut p = DataPointConfig::new(format!("p{id}"), quantity, "", resolution.parse().unwrap())
        .with_time_zone("Europe/Berlin");
    p.id = DataPointId(id);
    p
}

/// A long frame of one data point: `values[i]` at `start + i * step`, `None`
/// entries written as null values, `skip` indices left out.
fn series(id: i64, start: &str, step: i64, values: &[Option<f64>], skip: &[usize]) -> DataFrame {
    let rows: Vec<usize> = (0..values.len()).filter(|i| !skip.contains(i)).collect();
    let ts = rows.iter().map(|&i| at(start) + i as i64 * step).collect();
    long_frame(
        vec![id; rows.len()],
        ts,
        rows.iter().map(|&i| values[i]).collect(),
    )
    .unwrap()
}

fn filled(n: usize, value: f64) -> Vec<Option<f64>> {
    vec![Some(value); n]
}

fn some(values: &[f64]) -> Vec<Option<f64>> {
    values.iter().copied().map(Some).collect()
}

fn run(
    long: &DataFrame,
    point: &DataPointConfig,
    target: &str,
    options: &ResampleOptions,
) -> DataFrame {
    resample(
        long,
        std::slice::from_ref(point),
        target.parse().unwrap(),
        options,
    )
    .unwrap()
}

/// Asserts the output is one row per `step` from `start` with `expected` values.
fn assert_rows(out: &DataFrame, start: &str, step: i64, expected: &[Option<f64>]) {
    let ts = crate::data::frame::ts_micros(out).unwrap();
    let values: Vec<Option<f64>> = out.column(VALUE).unwrap().f64().unwrap().iter().collect();
    assert_eq!(values.len(), expected.len(), "row count of {out}");
    for (i, (value, want)) in values.iter().zip(expected).enumerate() {
        assert_eq!(ts[i], at(start) + i as i64 * step, "ts of row {i}");
        match (value, want) {
            (Some(v), Some(w)) => assert!((v - w).abs() < 1e-9, "row {i}: {v} != {w}"),
            _ => assert_eq!(value, want, "row {i}"),
        }
    }
}

const START: &str = "2026-01-05T00:00:00Z";

#[test]
fn power_is_a_time_weighted_mean_down_and_repeated_up() {
    let p = point(1, Quantity::Power, "PT15M");
    let long = series(
        1,
        START,
        QUARTER,
        &some(&[1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0]),
        &[],
    );
    assert_rows(
        &run(&long, &p, "PT1H", &Default::default()),
        START,
        HOUR,
        &some(&[2.5, 5.0]),
    );

    let p = point(1, Quantity::Power, "PT1H");
    let long = series(1, START, HOUR, &some(&[2.0, 4.0]), &[]);
    let out = run(&long, &p, "PT15M", &Default::default());
    assert_rows(
        &out,
        START,
        QUARTER,
        &some(&[2.0, 2.0, 2.0, 2.0, 4.0, 4.0, 4.0, 4.0]),
    );
}

#[test]
fn price_is_a_time_weighted_mean_down_and_repeated_up() {
    let p = point(1, Quantity::Price, "PT30M");
    let long = series(1, START, 2 * QUARTER, &some(&[10.0, 20.0, 40.0, 40.0]), &[]);
    assert_rows(
        &run(&long, &p, "PT1H", &Default::default()),
        START,
        HOUR,
        &some(&[15.0, 40.0]),
    );
    // PT45M is neither a divisor nor a multiple: 00:45-01:30 takes 15 min of 10 and 30 of 20.
    let p = point(1, Quantity::Price, "PT1H");
    let long = series(1, START, HOUR, &some(&[10.0, 20.0, 30.0]), &[]);
    let out = run(&long, &p, "PT45M", &Default::default());
    assert_rows(
        &out,
        START,
        3 * QUARTER,
        &some(&[
            10.0,
            (10.0 + 2.0 * 20.0) / 3.0,
            (2.0 * 20.0 + 30.0) / 3.0,
            30.0,
        ]),
    );
}

#[test]
fn energy_is_summed_down_and_split_by_duration_up() {
    let p = point(1, Quantity::Energy, "PT15M");
    let long = series(
        1,
        START,
        QUARTER,
        &some(&[0.25, 0.5, 0.25, 1.0, 2.0, 2.0, 2.0, 2.0]),
        &[],
    );
    assert_rows(
        &run(&long, &p, "PT1H", &Default::default()),
        START,
        HOUR,
        &some(&[2.0, 8.0]),
    );

    let p = point(1, Quantity::Energy, "PT1H");
    let long = series(1, START, HOUR, &some(&[2.0, 1.0]), &[]);
    let out = run(&long, &p, "PT15M", &Default::default());
    assert_rows(
        &out,
        START,
        QUARTER,
        &some(&[0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25]),
    );
}

#[test]
fn state_takes_the_last_value_down_and_fills_up() {
    let p = point(1, Quantity::State, "PT15M");
    let long = series(
        1,
        START,
        QUARTER,
        &some(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
        &[],
    );
    assert_rows(
        &run(&long, &p, "PT1H", &Default::default()),
        START,
        HOUR,
        &some(&[4.0, 8.0]),
    );

    let p = point(1, Quantity::State, "PT1H");
    let long = series(1, START, HOUR, &some(&[10.0, 20.0]), &[]);
    let forward = run(&long, &p, "PT15M", &Default::default());
    assert_rows(
        &forward,
        START,
        QUARTER,
        &some(&[10.0, 10.0, 10.0, 10.0, 20.0, 20.0, 20.0, 20.0]),
    );
    let linear = ResampleOptions {
        state_upsample: StateUpsample::Linear,
        ..Default::default()
    };
    // The last hour has no next sample to draw a line to, so it holds its value.
    let out = run(&long, &p, "PT15M", &linear);
    assert_rows(
        &out,
        START,
        QUARTER,
        &some(&[10.0, 12.5, 15.0, 17.5, 20.0, 20.0, 20.0, 20.0]),
    );
}

// Europe/Berlin: 2026-03-29 has 23 hours (starts 2026-03-28T23:00Z), 2026-10-25 has 25.
const SHORT_DAY: &str = "2026-03-28T23:00:00Z";
const LONG_DAY: &str = "2026-10-24T22:00:00Z";

#[test]
fn daily_values_follow_berlin_dst_days() {
    for (day, hours) in [(SHORT_DAY, 23), (LONG_DAY, 25)] {
        let energy = point(1, Quantity::Energy, "PT1H");
        let long = series(1, day, HOUR, &filled(hours, 1.0), &[]);
        assert_rows(
            &run(&long, &energy, "P1D", &Default::default()),
            day,
            0,
            &[Some(hours as f64)],
        );

        let quarters = point(1, Quantity::Energy, "PT15M");
        let long = series(1, day, QUARTER, &filled(4 * hours, 0.25), &[]);
        assert_rows(
            &run(&long, &quarters, "P1D", &Default::default()),
            day,
            0,
            &[Some(hours as f64)],
        );

        // Power 1, 2, ..., n kW over n hours averages (n + 1) / 2.
        let power = point(1, Quantity::Power, "PT1H");
        let ramp: Vec<f64> = (1..=hours).map(|h| h as f64).collect();
        let long = series(1, day, HOUR, &some(&ramp), &[]);
        let mean = (hours as f64 + 1.0) / 2.0;
        assert_rows(
            &run(&long, &power, "P1D", &Default::default()),
            day,
            0,
            &[Some(mean)],
        );

        let state = point(1, Quantity::State, "PT15M");
        let ramp: Vec<f64> = (1..=4 * hours).map(|q| q as f64).collect();
        let long = series(1, day, QUARTER, &some(&ramp), &[]);
        let last = (4 * hours) as f64;
        assert_rows(
            &run(&long, &state, "P1D", &Default::default()),
            day,
            0,
            &[Some(last)],
        );
    }
}

#[test]
fn daily_energy_splits_by_each_hours_share_of_the_local_day() {
    let p = point(1, Quantity::Energy, "P1D");
    let long = series(1, SHORT_DAY, 23 * HOUR, &some(&[23.0, 24.0]), &[]);
    let out = run(&long, &p, "PT1H", &Default::default());
    let mut expected = filled(23, 1.0);
    expected.extend(filled(24, 1.0));
    assert_rows(&out, SHORT_DAY, HOUR, &expected);

    let long = series(1, LONG_DAY, HOUR, &some(&[24.0]), &[]);
    let out = run(&long, &p, "PT15M", &Default::default());
    assert_rows(&out, LONG_DAY, QUARTER, &filled(100, 24.0 / 100.0));
}

#[test]
fn daily_power_and_state_fill_the_hours_of_a_local_day() {
    let power = point(1, Quantity::Power, "P1D");
    let long = series(1, LONG_DAY, HOUR, &some(&[7.0]), &[]);
    assert_rows(
        &run(&long, &power, "PT1H", &Default::default()),
        LONG_DAY,
        HOUR,
        &filled(25, 7.0),
    );

    // Day values 0 and 23 on consecutive days: the 23 hours of 2026-03-29
    // interpolate 0, 1, ..., 22; 2026-03-30 has no next day and holds 23.
    let state = point(1, Quantity::State, "P1D");
    let long = series(1, SHORT_DAY, 23 * HOUR, &some(&[0.0, 23.0]), &[]);
    let linear = ResampleOptions {
        state_upsample: StateUpsample::Linear,
        ..Default::default()
    };
    let mut expected: Vec<Option<f64>> = (0..23).map(|h| Some(h as f64)).collect();
    expected.extend(filled(24, 23.0));
    assert_rows(
        &run(&long, &state, "PT1H", &linear),
        SHORT_DAY,
        HOUR,
        &expected,
    );
}

#[test]
fn monthly_energy_sums_the_local_days_of_each_month() {
    let p = point(1, Quantity::Energy, "P1D");
    let first = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let days = (0..61)
        .map(|d| berlin_midnight(first + Days::new(d)))
        .collect();
    let long = long_frame(vec![1; 61], days, filled(61, 1.0)).unwrap();
    let out = run(&long, &p, "P1M", &Default::default());
    assert_eq!(
        crate::data::frame::ts_micros(&out).unwrap(),
        [at("2026-02-28T23:00:00Z"), at("2026-03-31T22:00:00Z")]
    );
    assert_rows(&out.slice(0, 1), "2026-02-28T23:00:00Z", 0, &[Some(31.0)]);
    assert_rows(&out.slice(1, 1), "2026-03-31T22:00:00Z", 0, &[Some(30.0)]);
}

#[test]
fn short_coverage_gives_null_and_gaps_keep_their_rows() {
    // Hours: full 1s; 2s with a quarter missing; nothing; 3s with a null quarter; full 4s.
    let mut values = filled(4, 1.0);
    values.extend(filled(4, 2.0));
    values.extend(filled(4, 9.0));
    values.extend([None, Some(3.0), Some(3.0), Some(3.0)]);
    values.extend(filled(4, 4.0));
    let skip = [6, 8, 9, 10, 11];
    let power = point(1, Quantity::Power, "PT15M");
    let long = series(1, START, QUARTER, &values, &skip);
    let strict = run(&long, &power, "PT1H", &Default::default());
    assert_rows(
        &strict,
        START,
        HOUR,
        &[Some(1.0), None, None, None, Some(4.0)],
    );

    let lenient = ResampleOptions {
        min_coverage: 0.75,
        ..Default::default()
    };
    let out = run(&long, &power, "PT1H", &lenient);
    assert_rows(
        &out,
        START,
        HOUR,
        &[Some(1.0), Some(2.0), None, Some(3.0), Some(4.0)],
    );

    // Energy scales what is there to the whole hour, as power averages it:
    // hour 1 has 6 kWh in three quarters, so 8 kWh; hour 3 has 9 kWh, so 12.
    let energy = point(1, Quantity::Energy, "PT15M");
    let out = run(
        &series(1, START, QUARTER, &values, &skip),
        &energy,
        "PT1H",
        &lenient,
    );
    assert_rows(
        &out,
        START,
        HOUR,
        &[Some(4.0), Some(8.0), None, Some(12.0), Some(16.0)],
    );
}

#[test]
fn partly_covered_edge_intervals_are_null_like_interior_ones() {
    let p = point(1, Quantity::Power, "PT15M");
    // 00:15 to 01:45: hour 0 misses its first quarter, hour 1 its last.
    let long = series(1, START, QUARTER, &filled(7, 1.0), &[0]);
    assert_rows(
        &run(&long, &p, "PT1H", &Default::default()),
        START,
        HOUR,
        &[None, None],
    );
    let long = series(1, START, QUARTER, &filled(9, 1.0), &[0]);
    assert_rows(
        &run(&long, &p, "PT1H", &Default::default()),
        START,
        HOUR,
        &[None, Some(1.0), None],
    );
}

#[test]
fn start_and_end_give_a_row_per_target_interval_whatever_the_coverage() {
    let power = point(1, Quantity::Power, "PT15M");
    let empty = point(2, Quantity::Energy, "PT15M");
    // 01:00 to 02:00 only, in a range of 00:30 to 04:00.
    let long = series(1, "2026-01-05T01:00:00Z", QUARTER, &filled(4, 2.0), &[]);
    let options = ResampleOptions {
        start: Some(
            DateTime::parse_from_rfc3339("2026-01-05T00:30:00Z")
                .unwrap()
                .into(),
        ),
        end: Some(
            DateTime::parse_from_rfc3339("2026-01-05T04:00:00Z")
                .unwrap()
                .into(),
        ),
        ..Default::default()
    };
    let out = resample(&long, &[empty, power], Resolution::Seconds(3600), &options).unwrap();
    // Hour 0 starts before start: the rows are 01:00, 02:00 and 03:00, for
    // the point without samples too (ids in order).
    assert_rows(
        &out.slice(0, 3),
        "2026-01-05T01:00:00Z",
        HOUR,
        &[Some(2.0), None, None],
    );
    assert_rows(
        &out.slice(3, 3),
        "2026-01-05T01:00:00Z",
        HOUR,
        &[None, None, None],
    );
    assert_eq!(out.height(), 6);
}

#[test]
fn without_a_range_every_point_spans_the_samples_of_all() {
    let early = point(1, Quantity::Power, "PT15M");
    let late = point(2, Quantity::Power, "PT1H");
    let long = series(1, START, QUARTER, &filled(4, 1.0), &[])
        .vstack(&series(2, "2026-01-05T02:00:00Z", HOUR, &some(&[5.0]), &[]))
        .unwrap();
    let out = resample(
        &long,
        &[early, late],
        Resolution::Seconds(3600),
        &Default::default(),
    )
    .unwrap();
    assert_rows(&out.slice(0, 3), START, HOUR, &[Some(1.0), None, None]);
    assert_rows(&out.slice(3, 3), START, HOUR, &[None, None, Some(5.0)]);
    assert_eq!(out.height(), 6);
}

#[test]
fn same_resolution_returns_values_unchanged() {
    let p = point(1, Quantity::Power, "PT15M");
    let values = [Some(0.1), None, Some(1.0 / 3.0)];
    let long = series(1, START, QUARTER, &values, &[]);
    assert!(run(&long, &p, "PT15M", &Default::default()).equals_missing(&long));
}

#[test]
fn time_zone_option_moves_calendar_boundaries() {
    let p = point(1, Quantity::Energy, "PT1H");
    let long = series(1, "2026-01-05T00:00:00Z", HOUR, &filled(48, 1.0), &[]);
    let utc = ResampleOptions {
        time_zone: Some("UTC".into()),
        ..Default::default()
    };
    assert_rows(
        &run(&long, &p, "P1D", &utc),
        START,
        24 * HOUR,
        &[Some(24.0), Some(24.0)],
    );
    // In Berlin (UTC+1) the samples fully cover only 2026-01-06 local, and
    // touch the days before and after.
    assert_rows(
        &run(&long, &p, "P1D", &Default::default()),
        "2026-01-04T23:00:00Z",
        24 * HOUR,
        &[None, Some(24.0), None],
    );
}

#[test]
fn points_are_converted_by_their_own_quantity_and_sorted_by_id() {
    let energy = point(2, Quantity::Energy, "PT30M");
    let state = point(1, Quantity::State, "PT30M");
    let long = series(2, START, 2 * QUARTER, &some(&[1.0, 2.0]), &[])
        .vstack(&series(1, START, 2 * QUARTER, &some(&[5.0, 6.0]), &[]))
        .unwrap();
    let out = resample(
        &long,
        &[energy, state],
        Resolution::Seconds(3600),
        &Default::default(),
    )
    .unwrap();
    let ids: Vec<i64> = out
        .column("data_point_id")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_rows(&out.slice(0, 1), START, 0, &[Some(6.0)]);
    assert_rows(&out.slice(1, 1), START, 0, &[Some(3.0)]);
    assert_eq!(out.column(TS).unwrap().len(), 2);
}

#[test]
fn bad_input_is_rejected_with_a_message() {
    let p = point(1, Quantity::Power, "PT15M");
    let long = series(1, START, QUARTER, &filled(4, 1.0), &[]);
    let hourly = Resolution::Seconds(3600);
    let cases = [
        (
            vec![],
            ResampleOptions::default(),
            "data point id 1 in the frame is not among the given data points",
        ),
        (
            vec![p.clone()],
            ResampleOptions {
                min_coverage: 1.5,
                ..Default::default()
            },
            "use a share between 0 and 1",
        ),
        (
            vec![p.clone()],
            ResampleOptions {
                time_zone: Some("Mars/Olympus".into()),
                ..Default::default()
            },
            "unknown time zone 'Mars/Olympus'",
        ),
    ];
    for (points, options, expected) in cases {
        let err = resample(&long, &points, hourly, &options)
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{err}");
    }
    let err = resample(
        &long,
        &[p.with_time_zone("Berlin")],
        Resolution::Days(1),
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("unknown time zone 'Berlin'"),
        "{err}"
    );
}
