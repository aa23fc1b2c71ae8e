//! The files adapter's own cases: opening directories (new, foreign,
//! broken catalogs) and names that never become paths. Everything every
//! adapter must do (filters, reads across DST, writes, errors, concurrency)
//! is the conformance suite's (`conformance.rs`), run on files too. The
//! helpers here are shared by the data tests.

use std::path::Path;

use algohost::adapters::Adapter;
use algohost::adapters::files::FilesAdapter;
use algohost::sdk::chrono::{DateTime, Duration, Utc};
use algohost::sdk::data::{
    DATA_POINT_ID, DataPointConfig, DataPointFilter, DataPointId, Quantity, Resolution, TS, VALUE,
    long_frame,
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

/// The data directory `dir` (opened, or made) with one power data point
/// in kW, `name` at `resolution`; its id.
pub fn with_power_point(
    dir: &Path,
    name: &str,
    resolution: Resolution,
) -> (FilesAdapter, DataPointId) {
    let adapter = FilesAdapter::open(dir).unwrap();
    let points = adapter
        .define_data_points(&[DataPointConfig::new(
            name,
            Quantity::Power,
            "kW",
            resolution,
        )])
        .unwrap();
    (adapter, points[0].id)
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
    assert!(
        adapter
            .data_points(&DataPointFilter::default())
            .unwrap()
            .is_empty()
    );
    assert!(
        adapter.read(&DataPointFilter::default()).unwrap().height() == 0
            && files_under(&dir).is_empty(),
        "opening and reading an empty dataset writes nothing"
    );
    with_power_point(&dir, "x.load", Resolution::Seconds(900));
    assert_eq!(files_under(&dir), [".lock", "catalog.json"]);
    adapter
        .write(&series(
            DataPointId(1),
            "2026-01-01T00:00:00Z",
            Duration::minutes(15),
            &[1.0],
        ))
        .unwrap();
    assert_eq!(
        files_under(&dir),
        [".lock", "catalog.json", "samples/1.parquet"]
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
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    FilesAdapter::open(&dir)
        .unwrap()
        .define_data_points(&[DataPointConfig::new(
            "x.load",
            Quantity::Power,
            "kW",
            Resolution::Seconds(900),
        )])
        .unwrap();
    std::fs::write(dir.join("catalog.json"), "{ not json").unwrap();
    let err = FilesAdapter::open(&dir).unwrap_err().to_string();
    assert!(
        err.contains("catalog") && err.contains("not valid"),
        "{err}"
    );
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

#[test]
fn a_copy_writes_each_data_point_whole_and_a_killed_writer_leaves_nothing_behind() {
    use algohost::adapters::copy::{CopyOptions, CopyProgress, copy};
    let tmp = tempfile::tempdir().unwrap();
    let (from, load) = with_power_point(
        &tmp.path().join("from"),
        "site.load",
        Resolution::Seconds(900),
    );
    let values: Vec<f64> = (0..1000).map(f64::from).collect();
    from.write(&series(
        load,
        "2026-01-01T00:00:00Z",
        Duration::minutes(15),
        &values,
    ))
    .unwrap();

    let to_dir = tmp.path().join("to");
    let to = FilesAdapter::open(&to_dir).unwrap();
    // What a writer killed between staging and renaming leaves.
    std::fs::create_dir_all(to_dir.join("samples")).unwrap();
    std::fs::write(to_dir.join("samples/.1.parquet.4242.0.tmp"), b"half").unwrap();

    let mut writes = Vec::new();
    let options = CopyOptions {
        chunk_size: 10,
        ..CopyOptions::default()
    };
    let summary = copy(&from, &to, &options, &mut |p| {
        if let CopyProgress::Written { samples, .. } = p {
            writes.push(samples);
        }
    })
    .unwrap();
    assert_eq!(summary.samples, 1000);
    // One write of the whole data point, not a hundred rewrites of its file.
    assert_eq!(writes, [1000]);
    assert_eq!(
        files_under(&to_dir),
        [".lock", "catalog.json", "samples/1.parquet"]
    );
    let back = rows(&to.read(&DataPointFilter::default()).unwrap());
    assert_eq!(back.len(), 1000);
    assert_eq!(back[999], (1, "2026-01-11T09:45:00Z".into(), Some(999.0)));
}

#[test]
fn samples_files_from_other_tools_need_numeric_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let (adapter, _) = with_power_point(&dir, "x.load", Resolution::Seconds(3600));
    std::fs::create_dir_all(dir.join("samples")).unwrap();
    let write = |values: Column| {
        let ts = Column::new(TS.into(), [0i64, 3_600_000])
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap();
        let mut frame = DataFrame::new_infer_height(vec![ts, values]).unwrap();
        let file = std::fs::File::create(dir.join("samples/1.parquet")).unwrap();
        ParquetWriter::new(file).finish(&mut frame).unwrap();
    };
    // Integers and milliseconds without a zone (UTC) are taken as they are.
    write(Column::new(VALUE.into(), [1i32, 2]));
    assert_eq!(
        rows(&adapter.read(&DataPointFilter::default()).unwrap()),
        [
            (1, "1970-01-01T00:00:00Z".into(), Some(1.0)),
            (1, "1970-01-01T01:00:00Z".into(), Some(2.0)),
        ]
    );
    // Text would become null, silently: refused, naming the file.
    write(Column::new(VALUE.into(), ["1", "x"]));
    let err = adapter
        .read(&DataPointFilter::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("samples/1.parquet is not valid: column 'value' is str, not numbers"),
        "{err}"
    );
}

#[test]
fn a_read_for_a_run_that_was_cancelled_stops_between_data_points() {
    let tmp = tempfile::tempdir().unwrap();
    let (adapter, id) = with_power_point(tmp.path(), "a", Resolution::Seconds(900));
    let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .timestamp_micros();
    let long = algohost::sdk::data::long_frame(vec![id.0], vec![t], vec![Some(1.5)]).unwrap();
    adapter.write(&long).unwrap();
    let cancel = algohost::runner::CancelToken::new();
    let all = DataPointFilter::default();
    assert_eq!(
        adapter.read_until(&all, &cancel).unwrap(),
        adapter.read(&all).unwrap()
    );
    cancel.cancel();
    let err = adapter.read_until(&all, &cancel).unwrap_err();
    assert!(matches!(err, algohost::sdk::Error::Cancelled), "{err:?}");
}
