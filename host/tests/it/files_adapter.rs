//! The files adapter: catalog, filters, reads with resolution conversion
//! across DST, writes, errors, concurrency and path safety.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use algohost::adapters::Adapter;
use algohost::adapters::files::FilesAdapter;
use algohost::sdk::Error;
use algohost::sdk::chrono::{DateTime, Duration, Utc};
use algohost::sdk::data::{
    DATA_POINT_ID, DataPointConfig, DataPointFilter, DataPointId, Flow, FlowFilter, Quantity,
    Resolution, TS, VALUE, long_frame,
};
use algohost::sdk::polars::prelude::*;

/// One sample as read back: (data point id, ts as RFC 3339, value).
pub type Row = (i64, String, Option<f64>);

/// `text` (RFC 3339) as an instant.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// The rows of a long frame, in order.
pub fn rows(long: &DataFrame) -> Vec<Row> {
    let ids = long.column(DATA_POINT_ID).unwrap().i64().unwrap().clone();
    let ts = long
        .column(TS)
        .unwrap()
        .datetime()
        .unwrap()
        .physical()
        .clone();
    let values = long.column(VALUE).unwrap().f64().unwrap().clone();
    ids.into_no_null_iter()
        .zip(ts.into_no_null_iter())
        .zip(values.iter())
        .map(|((id, t), v)| (id, iso(t), v))
        .collect()
}

/// Microseconds since the epoch as RFC 3339 (UTC, `Z`).
pub fn iso(ts_us: i64) -> String {
    DateTime::from_timestamp_micros(ts_us)
        .unwrap()
        .to_rfc3339_opts(algohost::sdk::chrono::SecondsFormat::Secs, true)
}

/// Asserts that a long frame has exactly the long form's schema.
pub fn assert_long_schema(frame: &DataFrame) {
    let schema = frame.schema();
    assert_eq!(schema.len(), 3, "{schema:?}");
    assert_eq!(schema.get(DATA_POINT_ID), Some(&DataType::Int64));
    assert_eq!(
        schema.get(TS),
        Some(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC)
        ))
    );
    assert_eq!(schema.get(VALUE), Some(&DataType::Float64));
}

/// A long frame of one data point: samples every `step` from `start`.
fn series(id: DataPointId, start: &str, step: Duration, values: &[f64]) -> DataFrame {
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

fn grid() -> Flow {
    Flow {
        from: "grid".into(),
        to: "x".into(),
        carrier: "electricity".into(),
    }
}

/// A fresh data directory with four data points:
/// 1 `x.load` (power, PT15M, Berlin, site=x, kind=meter, grid→x electricity),
/// 2 `x.energy` (energy, PT15M, Berlin, site=x),
/// 3 `y.price` (price, PT1H, UTC, site=y),
/// 4 `y.soc` (state, PT1H, UTC, site=y, kind=meter, battery→y electricity).
fn fixture() -> (tempfile::TempDir, FilesAdapter, Vec<DataPointConfig>) {
    let tmp = tempfile::tempdir().unwrap();
    let adapter = FilesAdapter::open(tmp.path().join("data")).unwrap();
    let quarter = Resolution::Seconds(900);
    let hour = Resolution::Seconds(3600);
    let points = adapter
        .define_data_points(&[
            DataPointConfig::new("x.load", Quantity::Power, "kW", quarter)
                .with_time_zone("Europe/Berlin")
                .with_tag("site", "x")
                .with_tag("kind", "meter")
                .with_flow(grid()),
            DataPointConfig::new("x.energy", Quantity::Energy, "kWh", quarter)
                .with_time_zone("Europe/Berlin")
                .with_tag("site", "x"),
            DataPointConfig::new("y.price", Quantity::Price, "EUR/MWh", hour).with_tag("site", "y"),
            DataPointConfig::new("y.soc", Quantity::State, "%", hour)
                .with_tag("site", "y")
                .with_tag("kind", "meter")
                .with_flow(Flow {
                    from: "battery".into(),
                    to: "y".into(),
                    carrier: "electricity".into(),
                }),
        ])
        .unwrap();
    (tmp, adapter, points)
}

fn names(points: &[DataPointConfig]) -> Vec<&str> {
    points.iter().map(|p| p.name.as_str()).collect()
}

#[test]
fn open_creates_a_new_directory_but_not_its_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let adapter = FilesAdapter::open(&dir).unwrap();
    assert_eq!(adapter.dir(), dir.canonicalize().unwrap());
    assert!(dir.join("catalog.json").is_file());
    assert!(dir.join("samples").is_dir());
    assert!(
        adapter
            .data_points(&DataPointFilter::default())
            .unwrap()
            .is_empty()
    );

    let err = FilesAdapter::open(tmp.path().join("missing/data")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("parent") && message.contains("does not exist"),
        "{message}"
    );
    assert!(!tmp.path().join("missing").exists());
}

#[test]
fn open_refuses_files_and_foreign_directories() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let err = FilesAdapter::open(tmp.path()).unwrap_err().to_string();
    assert!(
        err.contains("not an algohost data directory") && err.contains("notes.txt"),
        "{err}"
    );
    assert!(!tmp.path().join("catalog.json").exists());
    assert!(
        !tmp.path().join(".lock").exists(),
        "nothing is written into a foreign directory"
    );

    let err = FilesAdapter::open(tmp.path().join("notes.txt"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is a file"), "{err}");
}

#[test]
fn open_reports_a_broken_catalog() {
    let (tmp, _adapter, _) = fixture();
    let dir = tmp.path().join("data");
    std::fs::write(dir.join("catalog.json"), "{ not json").unwrap();
    let err = FilesAdapter::open(&dir).unwrap_err().to_string();
    assert!(
        err.contains("catalog") && err.contains("not valid"),
        "{err}"
    );
}

#[test]
fn define_assigns_ids_and_returns_existing_points_unchanged() {
    let (tmp, adapter, points) = fixture();
    let ids: Vec<i64> = points.iter().map(|p| p.id.0).collect();
    assert_eq!(ids, [1, 2, 3, 4]);
    assert_eq!(
        points[0].tags.get("kind").map(String::as_str),
        Some("meter")
    );

    // An existing name keeps its stored definition (here: its unit and id);
    // a new name gets the next id, whatever id the definition carries.
    let mut again = DataPointConfig::new("x.load", Quantity::Power, "W", Resolution::Seconds(60));
    again.id = DataPointId(42);
    let mut new = DataPointConfig::new("z.temp", Quantity::State, "°C", Resolution::Seconds(3600));
    new.id = DataPointId(2);
    let stored = adapter
        .define_data_points(&[again, new.clone(), new])
        .unwrap();
    assert_eq!(stored[0], points[0]);
    assert_eq!(
        (stored[1].id, stored[1].name.as_str()),
        (DataPointId(5), "z.temp")
    );
    assert_eq!(stored[2], stored[1]);

    // The catalog is on disk: another adapter sees the same points.
    let reopened = FilesAdapter::open(tmp.path().join("data")).unwrap();
    let all = reopened.data_points(&DataPointFilter::default()).unwrap();
    assert_eq!(
        names(&all),
        ["x.load", "x.energy", "y.price", "y.soc", "z.temp"]
    );
    assert_eq!(all[0], points[0]);
}

#[test]
fn define_rejects_another_quantity_and_bad_definitions() {
    let (_tmp, adapter, _) = fixture();
    let err = adapter
        .define_data_points(&[DataPointConfig::new(
            "x.load",
            Quantity::Energy,
            "kWh",
            Resolution::Seconds(900),
        )])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    let message = err.to_string();
    assert!(
        message.contains("'x.load' exists with quantity power") && message.contains("not energy"),
        "{message}"
    );

    let err = adapter
        .define_data_points(&[DataPointConfig::new(
            "p",
            Quantity::Power,
            "kW",
            Resolution::Seconds(900),
        )
        .with_time_zone("Mars/Olympus")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown time zone 'Mars/Olympus'") && err.contains("Europe/Berlin"),
        "{err}"
    );

    let err = adapter
        .define_data_points(&[DataPointConfig::new(
            "  ",
            Quantity::Power,
            "kW",
            Resolution::Seconds(900),
        )])
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-empty name"), "{err}");

    // Nothing of a failed definition is stored.
    assert_eq!(
        adapter
            .data_points(&DataPointFilter::default())
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn data_points_honour_every_filter_field() {
    let (_tmp, adapter, points) = fixture();
    let list = |filter: DataPointFilter| names(&adapter.data_points(&filter).unwrap()).join(" ");

    assert_eq!(
        list(DataPointFilter::default()),
        "x.load x.energy y.price y.soc"
    );
    assert_eq!(
        list(DataPointFilter::default().with_ids([points[3].id, points[1].id])),
        "x.energy y.soc"
    );
    assert_eq!(
        list(DataPointFilter::default().with_names(["y.price", "x.load"])),
        "x.load y.price"
    );
    assert_eq!(
        list(DataPointFilter::default().with_tag("site", "y")),
        "y.price y.soc"
    );
    assert_eq!(
        list(DataPointFilter::default().with_tag("kind", "meter")),
        "x.load y.soc"
    );
    assert_eq!(
        list(
            DataPointFilter::default()
                .with_tag("site", "y")
                .with_tag("kind", "meter")
        ),
        "y.soc"
    );
    assert_eq!(
        list(DataPointFilter::default().with_quantity(Quantity::Energy)),
        "x.energy"
    );
    assert_eq!(
        list(
            DataPointFilter::default()
                .with_tag("site", "x")
                .with_quantity(Quantity::Power)
        ),
        "x.load"
    );
    // Every set field must match.
    assert_eq!(
        list(
            DataPointFilter::default()
                .with_names(["x.load"])
                .with_tag("site", "y")
        ),
        ""
    );
    assert_eq!(
        list(DataPointFilter::default().with_tag("site", "nowhere")),
        ""
    );
    // Listing is a search: an unknown name matches nothing.
    assert_eq!(list(DataPointFilter::default().with_names(["x.lod"])), "");
}

#[test]
fn flows_honour_every_flow_filter_field() {
    let (_tmp, adapter, _) = fixture();
    let list = |from: Option<&str>, to: Option<&str>, carrier: Option<&str>| {
        let filter = FlowFilter {
            from: from.map(Into::into),
            to: to.map(Into::into),
            carrier: carrier.map(Into::into),
        };
        names(&adapter.flows(&filter).unwrap()).join(" ")
    };
    assert_eq!(list(None, None, None), "x.load y.soc");
    assert_eq!(list(Some("grid"), None, None), "x.load");
    assert_eq!(list(None, Some("y"), None), "y.soc");
    assert_eq!(list(None, None, Some("electricity")), "x.load y.soc");
    assert_eq!(
        list(Some("battery"), Some("y"), Some("electricity")),
        "y.soc"
    );
    assert_eq!(list(None, None, Some("heat")), "");
}

#[test]
fn read_honours_the_half_open_range_and_the_point_filters() {
    let (_tmp, adapter, points) = fixture();
    let (price, soc) = (points[2].id, points[3].id);
    adapter
        .write(&series(
            price,
            "2026-01-01T00:00:00Z",
            Duration::hours(1),
            &[10.0, 11.0, 12.0, 13.0],
        ))
        .unwrap();
    adapter
        .write(&series(
            soc,
            "2026-01-01T00:00:00Z",
            Duration::hours(1),
            &[50.0, 60.0],
        ))
        .unwrap();

    let read = |filter: DataPointFilter| rows(&adapter.read(&filter).unwrap());
    let everything = read(DataPointFilter::default());
    assert_eq!(everything.len(), 6);
    assert_eq!(
        everything[0],
        (3, "2026-01-01T00:00:00Z".into(), Some(10.0))
    );
    assert_eq!(
        everything[5],
        (4, "2026-01-01T01:00:00Z".into(), Some(60.0))
    );

    let range = DataPointFilter::default()
        .with_ids([price])
        .with_range(utc("2026-01-01T01:00:00Z"), utc("2026-01-01T03:00:00Z"));
    assert_eq!(
        read(range),
        [
            (3, "2026-01-01T01:00:00Z".into(), Some(11.0)),
            (3, "2026-01-01T02:00:00Z".into(), Some(12.0)),
        ]
    );
    let from = DataPointFilter {
        start: Some(utc("2026-01-01T01:00:00Z")),
        ..DataPointFilter::default().with_names(["y.soc"])
    };
    assert_eq!(read(from), [(4, "2026-01-01T01:00:00Z".into(), Some(60.0))]);
    let until = DataPointFilter {
        end: Some(utc("2026-01-01T01:00:00Z")),
        ..DataPointFilter::default()
            .with_tag("site", "y")
            .with_quantity(Quantity::State)
    };
    assert_eq!(
        read(until),
        [(4, "2026-01-01T00:00:00Z".into(), Some(50.0))]
    );

    let backwards = DataPointFilter::default()
        .with_range(utc("2026-01-02T00:00:00Z"), utc("2026-01-01T00:00:00Z"));
    let err = adapter.read(&backwards).unwrap_err().to_string();
    assert!(err.contains("is after end"), "{err}");
}

#[test]
fn reading_unknown_names_or_ids_is_an_error_that_lists_the_names() {
    let (_tmp, adapter, _) = fixture();
    let err = adapter
        .read(&DataPointFilter::default().with_names(["x.load", "x.lod", "weather.temperature"]))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    let message = err.to_string();
    assert!(
        message.contains("unknown data point name 'x.lod' (did you mean 'x.load'?)"),
        "{message}"
    );
    assert!(
        message.contains("unknown data point name 'weather.temperature'"),
        "{message}"
    );
    assert!(
        message.contains("known names: x.energy, x.load, y.price, y.soc"),
        "{message}"
    );

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

#[test]
fn writes_replace_samples_at_the_same_ts_and_keep_the_others() {
    let (_tmp, adapter, points) = fixture();
    let (load, energy) = (points[0].id, points[1].id);
    let quarter = Duration::minutes(15);
    adapter
        .write(&series(
            load,
            "2026-05-01T10:00:00Z",
            quarter,
            &[1.0, 2.0, 3.0],
        ))
        .unwrap();
    adapter
        .write(&series(energy, "2026-05-01T10:00:00Z", quarter, &[7.0]))
        .unwrap();

    // Replace 10:15, keep 10:00 and 10:30, add 10:45; a null value is stored as null.
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

    assert_eq!(
        rows(&adapter.read(&DataPointFilter::default()).unwrap()),
        [
            (1, "2026-05-01T10:00:00Z".into(), Some(1.0)),
            (1, "2026-05-01T10:15:00Z".into(), Some(20.0)),
            (1, "2026-05-01T10:30:00Z".into(), Some(3.0)),
            (1, "2026-05-01T10:45:00Z".into(), None),
            (2, "2026-05-01T10:00:00Z".into(), Some(7.0)),
        ]
    );
}

#[test]
fn writes_are_all_or_nothing_and_check_ids_and_schema() {
    let (tmp, adapter, points) = fixture();
    let load = points[0].id;
    let t = utc("2026-05-01T10:00:00Z").timestamp_micros();

    let unknown = long_frame(vec![load.0, 99, 77], vec![t, t, t], vec![Some(1.0); 3]).unwrap();
    let err = adapter.write(&unknown).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)));
    let message = err.to_string();
    assert!(
        message.contains("unknown data point id(s) 77, 99")
            && message.contains("define_data_points"),
        "{message}"
    );
    assert!(
        rows(&adapter.read(&DataPointFilter::default()).unwrap()).is_empty(),
        "nothing written"
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

    // Empty writes change nothing; no temporary files are left behind.
    adapter
        .write(&long_frame(vec![], vec![], vec![]).unwrap())
        .unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("data/samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn empty_results_have_the_long_schema() {
    let (_tmp, adapter, points) = fixture();
    adapter
        .write(&series(
            points[0].id,
            "2026-05-01T10:00:00Z",
            Duration::minutes(15),
            &[1.0, 2.0],
        ))
        .unwrap();
    let filters = [
        DataPointFilter::default().with_tag("site", "nowhere"),
        DataPointFilter::default().with_names(["y.price"]),
        DataPointFilter::default()
            .with_names(["x.load"])
            .with_range(utc("2027-01-01T00:00:00Z"), utc("2027-01-02T00:00:00Z")),
        DataPointFilter::default()
            .with_names(["x.load"])
            .with_range(utc("2026-05-01T10:00:00Z"), utc("2026-05-01T10:00:00Z")),
        DataPointFilter::default()
            .with_names(["x.load"])
            .with_range(utc("2027-01-01T00:00:00Z"), utc("2027-01-02T00:00:00Z"))
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

/// Quarter-hour values 0, 1, 2, … from local midnight of 2026-03-28 in
/// Berlin (2026-03-27T23:00Z) to local midnight of 2026-03-31: the middle
/// day, 2026-03-29, has 23 hours (92 quarters).
fn write_dst_days(adapter: &FilesAdapter, id: DataPointId) -> Vec<f64> {
    let quarters = (utc("2026-03-30T22:00:00Z") - utc("2026-03-27T23:00:00Z")).num_minutes() / 15;
    assert_eq!(quarters, 96 + 92 + 96);
    let values: Vec<f64> = (0..quarters).map(|i| i as f64).collect();
    adapter
        .write(&series(
            id,
            "2026-03-27T23:00:00Z",
            Duration::minutes(15),
            &values,
        ))
        .unwrap();
    values
}

#[test]
fn read_converts_to_hours_across_the_dst_change() {
    let (_tmp, adapter, points) = fixture();
    let values = write_dst_days(&adapter, points[0].id);
    let day = DataPointFilter::default()
        .with_names(["x.load"])
        .with_range(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"))
        .with_resolution(Resolution::Seconds(3600));
    let hours = rows(&adapter.read(&day).unwrap());
    assert_eq!(hours.len(), 23, "2026-03-29 in Berlin has 23 hours");
    assert_eq!(hours[0].1, "2026-03-28T23:00:00Z");
    assert_eq!(hours[22].1, "2026-03-29T21:00:00Z");
    // Local 03:00 CEST (02:00 does not exist) is 01:00Z, quarters 104..=107.
    assert_eq!(hours[2], (1, "2026-03-29T01:00:00Z".into(), Some(105.5)));
    for (k, (_, _, value)) in hours.iter().enumerate() {
        let first = 96 + 4 * k;
        assert_close(*value, values[first..first + 4].iter().sum::<f64>() / 4.0);
    }

    // Energy is summed, not averaged: four quarters of 0.25 kWh give 1 kWh.
    adapter
        .write(&series(
            points[1].id,
            "2026-03-29T00:00:00Z",
            Duration::minutes(15),
            &[0.25; 8],
        ))
        .unwrap();
    let energy = DataPointFilter::default()
        .with_names(["x.energy"])
        .with_resolution(Resolution::Seconds(3600));
    assert_eq!(
        rows(&adapter.read(&energy).unwrap()),
        [
            (2, "2026-03-29T00:00:00Z".into(), Some(1.0)),
            (2, "2026-03-29T01:00:00Z".into(), Some(1.0)),
        ]
    );
}

#[test]
fn read_converts_to_local_days_across_the_dst_change() {
    let (_tmp, adapter, points) = fixture();
    let values = write_dst_days(&adapter, points[0].id);
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
    // Means of 96, 92 and 96 quarters: (0+95)/2, (96+187)/2, (188+283)/2.
    assert_close(read[0].2, 47.5);
    assert_close(read[1].2, 141.5);
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

#[test]
fn read_converts_up_from_samples_that_start_before_the_range() {
    let (_tmp, adapter, points) = fixture();
    let hourly: Vec<f64> = (0..24).map(|h| f64::from(h) * 10.0).collect();
    adapter
        .write(&series(
            points[2].id,
            "2026-03-10T00:00:00Z",
            Duration::hours(1),
            &hourly,
        ))
        .unwrap();
    let filter = DataPointFilter::default()
        .with_names(["y.price"])
        .with_range(utc("2026-03-10T10:30:00Z"), utc("2026-03-10T12:00:00Z"))
        .with_resolution(Resolution::Seconds(900));
    assert_eq!(
        rows(&adapter.read(&filter).unwrap()),
        [
            (3, "2026-03-10T10:30:00Z".into(), Some(100.0)),
            (3, "2026-03-10T10:45:00Z".into(), Some(100.0)),
            (3, "2026-03-10T11:00:00Z".into(), Some(110.0)),
            (3, "2026-03-10T11:15:00Z".into(), Some(110.0)),
            (3, "2026-03-10T11:30:00Z".into(), Some(110.0)),
            (3, "2026-03-10T11:45:00Z".into(), Some(110.0)),
        ]
    );
}

#[test]
fn concurrent_writers_lose_no_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let adapter = Arc::new(FilesAdapter::open(tmp.path().join("data")).unwrap());
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

    // One thread per data point, plus two threads sharing point 1 with
    // interleaved timestamps: every batch reads, merges and replaces a file.
    let mut jobs: Vec<(DataPointId, usize, usize)> = points.iter().map(|p| (p.id, 0, 1)).collect();
    jobs.push((points[0].id, 1_000_000, 2));
    jobs.push((points[0].id, 1_000_001, 2));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|(id, offset, stride)| {
            let adapter = Arc::clone(&adapter);
            std::thread::spawn(move || {
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
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }

    let read = rows(&adapter.read(&DataPointFilter::default()).unwrap());
    let per_point = |id: i64| read.iter().filter(|r| r.0 == id).count();
    assert_eq!(per_point(1), 3 * BATCHES * PER_BATCH);
    for id in 2..=4 {
        assert_eq!(per_point(id), BATCHES * PER_BATCH);
    }
    let shared: BTreeSet<i64> = read
        .iter()
        .filter(|r| r.0 == 1)
        .map(|r| r.2.unwrap() as i64)
        .collect();
    assert!(shared.contains(&1_000_000) && shared.contains(&(1_000_001 + 2 * 99)));
}

/// Every file under `dir`, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

#[test]
fn names_never_become_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/data");
    std::fs::create_dir(tmp.path().join("nested")).unwrap();
    let adapter = FilesAdapter::open(&dir).unwrap();
    let hostile = [
        "../../etc/passwd",
        "../outside",
        "/etc/shadow",
        "..",
        "a/../../b",
        "C:\\Windows",
        "nul",
    ];
    let definitions: Vec<DataPointConfig> = hostile
        .iter()
        .map(|n| DataPointConfig::new(*n, Quantity::Power, "kW", Resolution::Seconds(3600)))
        .collect();
    let points = adapter.define_data_points(&definitions).unwrap();
    for (i, point) in points.iter().enumerate() {
        adapter
            .write(&series(
                point.id,
                "2026-01-01T00:00:00Z",
                Duration::hours(1),
                &[i as f64],
            ))
            .unwrap();
    }

    let read = rows(
        &adapter
            .read(&DataPointFilter::default().with_names(["../../etc/passwd", "../outside"]))
            .unwrap(),
    );
    assert_eq!(
        read,
        [
            (1, "2026-01-01T00:00:00Z".into(), Some(0.0)),
            (2, "2026-01-01T00:00:00Z".into(), Some(1.0)),
        ]
    );
    // Only the catalog, the lock file and samples named by id exist, all inside.
    let mut expected = vec![".lock".to_owned(), "catalog.json".to_owned()];
    expected.extend((1..=hostile.len()).map(|id| format!("samples/{id}.parquet")));
    expected.sort();
    assert_eq!(files_under(&dir), expected);
    assert_eq!(
        files_under(tmp.path()).len(),
        expected.len(),
        "nothing outside the data directory"
    );
    // The names survive a round trip through the catalog.
    let reopened = FilesAdapter::open(&dir).unwrap();
    assert_eq!(
        names(&reopened.data_points(&DataPointFilter::default()).unwrap()),
        hostile
    );
}
