//! Conformance checks of samples: reads with ranges, filters and target
//! resolutions across the DST change, writes and overwrites, empty results,
//! errors, and concurrent writers.

use std::collections::BTreeSet;

use algohost::adapters::Adapter;
use algohost::sdk::Error;
use algohost::sdk::chrono::Duration;
use algohost::sdk::data::{
    DATA_POINT_ID, DataPointConfig, DataPointFilter, DataPointId, Quantity, Resolution, TS, VALUE,
    long_frame,
};
use algohost::sdk::polars::prelude::*;

use super::define_four;
use crate::files_adapter::{assert_long_schema, rows, utc};

/// A long frame of one data point: samples every `step` from `start`.
pub(super) fn series(id: DataPointId, start: &str, step: Duration, values: &[f64]) -> DataFrame {
    let t0 = utc(start);
    let ts = (0..values.len())
        .map(|i| (t0 + step * i as i32).timestamp_micros())
        .collect();
    long_frame(
        vec![id.0; values.len()],
        ts,
        values.iter().copied().map(Some).collect(),
    )
    .unwrap()
}

fn assert_close(actual: Option<f64>, expected: f64) {
    let actual = actual.expect("a value, not null");
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected {expected}, got {actual}"
    );
}

pub(super) fn reads_the_half_open_range_with_the_point_filters(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let (price, soc) = (points[2].id, points[3].id);
    let hour = Duration::hours(1);
    let t0 = "2026-01-01T00:00:00Z";
    adapter
        .write(&series(price, t0, hour, &[10.0, 11.0, 12.0, 13.0]))
        .unwrap();
    adapter
        .write(&series(soc, t0, hour, &[50.0, 60.0]))
        .unwrap();
    let read = |filter: DataPointFilter| rows(&adapter.read(&filter).unwrap());
    let everything = read(DataPointFilter::default());
    assert_eq!(everything.len(), 6);
    assert_eq!(everything[0], (price.0, t0.into(), Some(10.0)));
    assert_eq!(
        everything[5],
        (soc.0, "2026-01-01T01:00:00Z".into(), Some(60.0))
    );
    let range = DataPointFilter::default()
        .with_ids([price])
        .with_range(utc("2026-01-01T01:00:00Z"), utc("2026-01-01T03:00:00Z"));
    assert_eq!(
        read(range),
        [
            (price.0, "2026-01-01T01:00:00Z".into(), Some(11.0)),
            (price.0, "2026-01-01T02:00:00Z".into(), Some(12.0)),
        ]
    );
    let from = DataPointFilter {
        start: Some(utc("2026-01-01T01:00:00Z")),
        ..DataPointFilter::default().with_names(["y.soc"])
    };
    assert_eq!(
        read(from),
        [(soc.0, "2026-01-01T01:00:00Z".into(), Some(60.0))]
    );
    let until = DataPointFilter {
        end: Some(utc("2026-01-01T01:00:00Z")),
        ..DataPointFilter::default()
            .with_tag("site", "y")
            .with_quantity(Quantity::State)
    };
    assert_eq!(read(until), [(soc.0, t0.into(), Some(50.0))]);
    let backwards = DataPointFilter::default()
        .with_range(utc("2026-01-02T00:00:00Z"), utc("2026-01-01T00:00:00Z"));
    let err = adapter.read(&backwards).unwrap_err().to_string();
    assert!(err.contains("is after end"), "{err}");
}

/// Quarter-hour values 0, 1, 2, … from local midnight of 2026-03-28 in
/// Berlin (2026-03-27T23:00Z) to local midnight of 2026-03-31: the middle
/// day, 2026-03-29, has 23 hours (92 quarters).
fn write_dst_days(adapter: &dyn Adapter, id: DataPointId) -> Vec<f64> {
    let quarters = (utc("2026-03-30T22:00:00Z") - utc("2026-03-27T23:00:00Z")).num_minutes() / 15;
    assert_eq!(quarters, 96 + 92 + 96);
    let values: Vec<f64> = (0..quarters).map(|i| i as f64).collect();
    let start = "2026-03-27T23:00:00Z";
    adapter
        .write(&series(id, start, Duration::minutes(15), &values))
        .unwrap();
    values
}

pub(super) fn reads_hours_across_the_dst_change(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let load = points[0].id.0;
    let values = write_dst_days(adapter, points[0].id);
    let day = DataPointFilter::default()
        .with_names(["x.load"])
        .with_range(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"))
        .with_resolution(Resolution::Seconds(3600));
    let hours = rows(&adapter.read(&day).unwrap());
    assert_eq!(hours.len(), 23, "2026-03-29 in Berlin has 23 hours");
    assert_eq!(hours[0].1, "2026-03-28T23:00:00Z");
    assert_eq!(hours[22].1, "2026-03-29T21:00:00Z");
    // Local 03:00 CEST (02:00 does not exist) is 01:00Z, quarters 104..=107.
    assert_eq!(hours[2], (load, "2026-03-29T01:00:00Z".into(), Some(105.5)));
    for (k, (_, _, value)) in hours.iter().enumerate() {
        let first = 96 + 4 * k;
        assert_close(*value, values[first..first + 4].iter().sum::<f64>() / 4.0);
    }
    // Energy is summed, not averaged: four quarters of 0.25 kWh give 1 kWh.
    let energy = points[1].id;
    let quarter = Duration::minutes(15);
    adapter
        .write(&series(energy, "2026-03-29T00:00:00Z", quarter, &[0.25; 8]))
        .unwrap();
    let hourly = DataPointFilter::default()
        .with_names(["x.energy"])
        .with_resolution(Resolution::Seconds(3600));
    assert_eq!(
        rows(&adapter.read(&hourly).unwrap()),
        [
            (energy.0, "2026-03-29T00:00:00Z".into(), Some(1.0)),
            (energy.0, "2026-03-29T01:00:00Z".into(), Some(1.0)),
        ]
    );
}

pub(super) fn reads_local_days_across_the_dst_change(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let values = write_dst_days(adapter, points[0].id);
    let days = DataPointFilter::default()
        .with_names(["x.load"])
        .with_range(utc("2026-03-27T23:00:00Z"), utc("2026-03-30T22:00:00Z"))
        .with_resolution(Resolution::Days(1));
    let read = rows(&adapter.read(&days).unwrap());
    let ts: Vec<&str> = read.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        ts,
        [
            "2026-03-27T23:00:00Z",
            "2026-03-28T23:00:00Z",
            "2026-03-29T22:00:00Z"
        ]
    );
    // Means of 96, 92 and 96 quarters.
    assert_close(read[0].2, 47.5);
    assert_close(read[1].2, values[96..188].iter().sum::<f64>() / 92.0);
    assert_close(read[2].2, 235.5);
    // A filter time zone replaces the point's: UTC days, 96 quarters each.
    let utc_days = DataPointFilter {
        time_zone: Some("UTC".into()),
        ..DataPointFilter::default()
            .with_names(["x.load"])
            .with_range(utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z"))
            .with_resolution(Resolution::Days(1))
    };
    let read = rows(&adapter.read(&utc_days).unwrap());
    assert_eq!(read.len(), 2);
    assert_eq!(read[0].1, "2026-03-28T00:00:00Z");
    assert_close(read[0].2, values[4..100].iter().sum::<f64>() / 96.0);
    assert_eq!(read[1].1, "2026-03-29T00:00:00Z");
    assert_close(read[1].2, 147.5);
}

pub(super) fn reads_finer_resolutions_from_samples_before_the_range(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let price = points[2].id;
    let hourly: Vec<f64> = (0..24).map(|h| f64::from(h) * 10.0).collect();
    adapter
        .write(&series(
            price,
            "2026-03-10T00:00:00Z",
            Duration::hours(1),
            &hourly,
        ))
        .unwrap();
    let filter = DataPointFilter::default()
        .with_names(["y.price"])
        .with_range(utc("2026-03-10T10:30:00Z"), utc("2026-03-10T12:00:00Z"))
        .with_resolution(Resolution::Seconds(900));
    let values: Vec<(String, Option<f64>)> = rows(&adapter.read(&filter).unwrap())
        .into_iter()
        .map(|r| (r.1, r.2))
        .collect();
    let expected = [
        ("2026-03-10T10:30:00Z", 100.0),
        ("2026-03-10T10:45:00Z", 100.0),
        ("2026-03-10T11:00:00Z", 110.0),
        ("2026-03-10T11:15:00Z", 110.0),
        ("2026-03-10T11:30:00Z", 110.0),
        ("2026-03-10T11:45:00Z", 110.0),
    ]
    .map(|(t, v)| (t.to_owned(), Some(v)));
    assert_eq!(values, expected);
}

pub(super) fn writes_replace_samples_at_the_same_ts_and_keep_the_others(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let (load, energy) = (points[0].id, points[1].id);
    let quarter = Duration::minutes(15);
    let t0 = "2026-05-01T10:00:00Z";
    adapter
        .write(&series(load, t0, quarter, &[1.0, 2.0, 3.0]))
        .unwrap();
    adapter.write(&series(energy, t0, quarter, &[7.0])).unwrap();
    // Replace 10:15, keep 10:00 and 10:30, add 10:45; a null is stored as null.
    let update = long_frame(
        vec![load.0, load.0],
        vec![
            utc("2026-05-01T10:15:00Z").timestamp_micros(),
            utc("2026-05-01T10:45:00Z").timestamp_micros(),
        ],
        vec![Some(20.0), None],
    )
    .unwrap();
    adapter.write(&update).unwrap();
    // Writing the same frame again changes nothing.
    adapter.write(&update).unwrap();
    assert_eq!(
        rows(&adapter.read(&DataPointFilter::default()).unwrap()),
        [
            (load.0, t0.into(), Some(1.0)),
            (load.0, "2026-05-01T10:15:00Z".into(), Some(20.0)),
            (load.0, "2026-05-01T10:30:00Z".into(), Some(3.0)),
            (load.0, "2026-05-01T10:45:00Z".into(), None),
            (energy.0, t0.into(), Some(7.0)),
        ]
    );
}

pub(super) fn writes_are_all_or_nothing_and_check_ids_and_schema(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let load = points[0].id;
    let t = utc("2026-05-01T10:00:00Z").timestamp_micros();
    adapter
        .write(&long_frame(vec![load.0], vec![t], vec![Some(1.0)]).unwrap())
        .unwrap();
    let before = rows(&adapter.read(&DataPointFilter::default()).unwrap());

    let unknown = long_frame(vec![load.0, 99, 77], vec![t, t, t], vec![Some(5.0); 3]).unwrap();
    let err = adapter.write(&unknown).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("unknown data point id(s) 77, 99")
            && message.contains("define_data_points"),
        "{message}"
    );
    let ids = Column::new(DATA_POINT_ID.into(), [load.0]);
    let ts = Column::new(TS.into(), ["2026-05-01"]);
    let values = Column::new(VALUE.into(), [1.0]);
    let wrong = DataFrame::new_infer_height(vec![ids, ts, values]).unwrap();
    let err = adapter.write(&wrong).unwrap_err().to_string();
    assert!(
        err.contains("column 'ts'") && err.contains("Datetime[us, UTC]"),
        "{err}"
    );
    adapter
        .write(&long_frame(vec![], vec![], vec![]).unwrap())
        .unwrap();
    assert_eq!(
        rows(&adapter.read(&DataPointFilter::default()).unwrap()),
        before,
        "nothing written"
    );
}

pub(super) fn empty_results_have_the_long_schema(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    adapter
        .write(&series(
            points[0].id,
            "2026-05-01T10:00:00Z",
            Duration::minutes(15),
            &[1.0, 2.0],
        ))
        .unwrap();
    let load = || DataPointFilter::default().with_names(["x.load"]);
    let next_year = (utc("2027-01-01T00:00:00Z"), utc("2027-01-02T00:00:00Z"));
    let at_once = utc("2026-05-01T10:00:00Z");
    let filters = [
        DataPointFilter::default().with_tag("site", "nowhere"),
        DataPointFilter::default().with_names(["y.price"]),
        load().with_range(next_year.0, next_year.1),
        load().with_range(at_once, at_once),
        load()
            .with_range(next_year.0, next_year.1)
            .with_resolution(Resolution::Days(1)),
        DataPointFilter::default()
            .with_names(["y.soc"])
            .with_resolution(Resolution::Seconds(900)),
    ];
    for filter in filters {
        let frame = adapter.read(&filter).unwrap();
        assert_eq!(frame.height(), 0, "{filter:?}");
        assert_long_schema(&frame);
    }
}

pub(super) fn unknown_names_ids_and_time_zones_are_clear_errors(adapter: &dyn Adapter) {
    define_four(adapter);
    let err = adapter
        .read(&DataPointFilter::default().with_names(["x.load", "x.lod", "weather.temperature"]))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let message = err.to_string();
    for part in [
        "unknown data point name 'x.lod' (did you mean 'x.load'?)",
        "unknown data point name 'weather.temperature'",
        "known names: x.energy, x.load, y.price, y.soc",
    ] {
        assert!(message.contains(part), "{message}");
    }
    let err = adapter
        .read(&DataPointFilter::default().with_ids([DataPointId(99)]))
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown data point id(s) 99"),
        "{err}"
    );
    let err = adapter
        .read(&DataPointFilter {
            time_zone: Some("Berlin".into()),
            ..DataPointFilter::default()
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown time zone 'Berlin'"),
        "{err}"
    );
}

pub(super) fn concurrent_writers_lose_no_updates(adapter: &dyn Adapter) {
    let definitions: Vec<DataPointConfig> = (0..4)
        .map(|i| {
            DataPointConfig::new(
                format!("p{i}"),
                Quantity::Power,
                "kW",
                Resolution::Seconds(900),
            )
        })
        .collect();
    let points = adapter.define_data_points(&definitions).unwrap();
    let t0 = utc("2026-01-01T00:00:00Z");
    const BATCHES: usize = 20;
    const PER_BATCH: usize = 5;
    // One thread per data point, plus two sharing the first with
    // interleaved timestamps.
    let mut jobs: Vec<(DataPointId, usize, usize)> = points.iter().map(|p| (p.id, 0, 1)).collect();
    jobs.push((points[0].id, 1_000_000, 2));
    jobs.push((points[0].id, 1_000_001, 2));
    std::thread::scope(|scope| {
        for (id, offset, stride) in jobs {
            scope.spawn(move || {
                for batch in 0..BATCHES {
                    let index = |k: usize| offset + stride * (batch * PER_BATCH + k);
                    let ts = (0..PER_BATCH)
                        .map(|k| (t0 + Duration::minutes(15 * index(k) as i64)).timestamp_micros())
                        .collect();
                    let values = (0..PER_BATCH).map(|k| Some(index(k) as f64)).collect();
                    adapter
                        .write(&long_frame(vec![id.0; PER_BATCH], ts, values).unwrap())
                        .unwrap();
                }
            });
        }
    });
    let read = rows(&adapter.read(&DataPointFilter::default()).unwrap());
    let per_point = |id: DataPointId| read.iter().filter(|r| r.0 == id.0).count();
    assert_eq!(per_point(points[0].id), 3 * BATCHES * PER_BATCH);
    for point in &points[1..] {
        assert_eq!(per_point(point.id), BATCHES * PER_BATCH);
    }
    let shared: BTreeSet<i64> = read
        .iter()
        .filter(|r| r.0 == points[0].id.0)
        .map(|r| r.2.unwrap() as i64)
        .collect();
    assert!(shared.contains(&1_000_000) && shared.contains(&(1_000_001 + 2 * 99)));
}

pub(super) fn writes_refuse_off_grid_time_stamps_and_values_that_are_not_numbers(
    adapter: &dyn Adapter,
) {
    let points = define_four(adapter);
    let daily = adapter
        .define_data_points(&[DataPointConfig::new(
            "x.daily",
            Quantity::Energy,
            "kWh",
            Resolution::Days(1),
        )
        .with_time_zone("Europe/Berlin")])
        .unwrap()[0]
        .id;
    let load = points[0].id;
    let at = |text: &str| utc(text).timestamp_micros();
    // On the grid: quarter hours, and Berlin midnights on both sides of the
    // DST change; nulls are missing values.
    adapter
        .write(
            &long_frame(
                vec![load.0, load.0, daily.0, daily.0],
                vec![
                    at("2026-03-29T00:45:00Z"),
                    at("2026-03-29T01:00:00Z"),
                    at("2026-03-28T23:00:00Z"),
                    at("2026-03-29T22:00:00Z"),
                ],
                vec![Some(1.0), None, Some(24.0), Some(23.0)],
            )
            .unwrap(),
        )
        .unwrap();
    let before = rows(&adapter.read(&DataPointFilter::default()).unwrap());
    assert_eq!(before.len(), 4);

    let cases = [
        (
            long_frame(
                vec![load.0, load.0, load.0],
                vec![
                    at("2026-03-29T02:00:00Z"),
                    at("2026-03-29T02:07:00Z"),
                    at("2026-03-29T02:22:30Z"),
                ],
                vec![Some(1.0); 3],
            ),
            "sample of 'x.load' at 2026-03-29T02:07:00Z (and 1 more) does not start an interval \
             of its resolution PT15M",
        ),
        (
            long_frame(
                vec![daily.0],
                vec![at("2026-03-29T23:00:00Z")],
                vec![Some(1.0)],
            ),
            "sample of 'x.daily' at 2026-03-29T23:00:00Z does not start an interval of its \
             resolution P1D in Europe/Berlin",
        ),
        (
            long_frame(
                vec![load.0, load.0],
                vec![at("2026-03-29T02:00:00Z"), at("2026-03-29T02:15:00Z")],
                vec![Some(f64::NAN), Some(f64::INFINITY)],
            ),
            "sample of 'x.load' at 2026-03-29T02:00:00Z (and 1 more) is NaN, which is not a \
             value; write null for a missing value",
        ),
    ];
    for (frame, expected) in cases {
        let err = adapter.write(&frame.unwrap()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(
            err.to_string().contains(expected),
            "{err}\nexpected: {expected}"
        );
    }
    assert_eq!(
        rows(&adapter.read(&DataPointFilter::default()).unwrap()),
        before,
        "nothing written"
    );
}
