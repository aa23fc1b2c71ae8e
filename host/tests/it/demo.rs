//! The demo dataset: deterministic, crosses the DST change, plausible values.

use std::path::Path;

use algohost::adapters::Adapter;
use algohost::adapters::files::FilesAdapter;
use algohost::demo::{self, DAY_AHEAD, LOAD, PV};
use algohost::sdk::data::{DataPointFilter, FlowFilter, Quantity, Resolution};

use crate::files_adapter::{Row, rows, utc};

fn read(dir: &Path, filter: DataPointFilter) -> Vec<Row> {
    let adapter = FilesAdapter::open(dir).unwrap();
    rows(&adapter.read(&filter).unwrap())
}

fn values(rows: &[Row]) -> Vec<f64> {
    rows.iter()
        .map(|r| r.2.expect("no nulls in the demo data"))
        .collect()
}

/// The local hour (Berlin) of an RFC 3339 UTC instant.
fn berlin_hour(ts: &str) -> u32 {
    use algohost::sdk::chrono::Timelike;
    utc(ts).with_timezone(&chrono_tz::Europe::Berlin).hour()
}

#[test]
fn generate_writes_three_data_points_over_120_days() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let summary = demo::generate(&dir).unwrap();

    assert_eq!(summary.dir, dir.canonicalize().unwrap());
    assert_eq!(summary.start, utc("2026-01-31T23:00:00Z"));
    assert_eq!(summary.end, utc("2026-05-31T22:00:00Z"));
    let counts: Vec<(&str, usize)> = summary
        .data_points
        .iter()
        .map(|p| (p.name.as_str(), p.samples))
        .collect();
    // 120 days of 96 quarters (24 hours) minus the hour lost on 2026-03-29.
    assert_eq!(counts, [(LOAD, 11_516), (PV, 11_516), (DAY_AHEAD, 2_879)]);
    assert_eq!(summary.samples, 11_516 * 2 + 2_879);
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["data_points"][2]["resolution"], "PT1H");

    let adapter = FilesAdapter::open(&dir).unwrap();
    let site = adapter
        .data_points(&DataPointFilter::default().with_tag("site", "demo"))
        .unwrap();
    assert_eq!(site.len(), 3);
    assert!(site.iter().all(|p| p.time_zone == "Europe/Berlin"));
    assert_eq!(
        (site[0].quantity, site[0].unit.as_str(), site[0].resolution),
        (Quantity::Power, "kW", Resolution::Seconds(900))
    );
    assert_eq!(
        (site[2].quantity, site[2].unit.as_str()),
        (Quantity::Price, "EUR/MWh")
    );
    let into_site = adapter
        .flows(&FlowFilter {
            to: Some("demo".into()),
            carrier: Some("electricity".into()),
            ..FlowFilter::default()
        })
        .unwrap();
    let flows: Vec<(&str, &str)> = into_site
        .iter()
        .map(|p| (p.name.as_str(), p.flow.as_ref().unwrap().from.as_str()))
        .collect();
    assert_eq!(flows, [(LOAD, "grid"), (PV, "pv")]);
}

#[test]
fn generate_is_deterministic_and_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    demo::generate(&a).unwrap();
    demo::generate(&b).unwrap();
    let all = || DataPointFilter::default();
    let first = FilesAdapter::open(&a).unwrap().read(&all()).unwrap();
    let second = FilesAdapter::open(&b).unwrap().read(&all()).unwrap();
    assert_eq!(first.height(), 11_516 * 2 + 2_879);
    assert!(first.equals_missing(&second));
    for file in [
        "catalog.json",
        "samples/1.parquet",
        "samples/2.parquet",
        "samples/3.parquet",
    ] {
        assert_eq!(
            std::fs::read(a.join(file)).unwrap(),
            std::fs::read(b.join(file)).unwrap(),
            "{file}"
        );
    }

    // Generating again into the same directory changes nothing.
    let summary = demo::generate(&a).unwrap();
    assert_eq!(
        summary
            .data_points
            .iter()
            .map(|p| p.id.0)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let again = FilesAdapter::open(&a).unwrap().read(&all()).unwrap();
    assert!(first.equals_missing(&again));
}

#[test]
fn demo_values_are_plausible() {
    let tmp = tempfile::tempdir().unwrap();
    demo::generate(tmp.path()).unwrap();
    let by_name = |name: &str| read(tmp.path(), DataPointFilter::default().with_names([name]));

    let load = values(&by_name(LOAD));
    assert!(load.iter().all(|v| (20.0..=80.0).contains(v)));
    let mean = load.iter().sum::<f64>() / load.len() as f64;
    assert!((30.0..55.0).contains(&mean), "mean load {mean}");

    let pv = by_name(PV);
    assert!(values(&pv).iter().all(|v| (0.0..=60.0).contains(v)));
    for row in &pv {
        let hour = berlin_hour(&row.1);
        if !(4..22).contains(&hour) {
            assert_eq!(row.2, Some(0.0), "PV at night: {row:?}");
        }
    }
    let peak = |rows: &[Row], month: &str| {
        rows.iter()
            .filter(|r| r.1.starts_with(month))
            .map(|r| r.2.unwrap())
            .fold(0.0, f64::max)
    };
    let (february, may) = (peak(&pv, "2026-02"), peak(&pv, "2026-05"));
    assert!(
        february < 35.0 && may > 45.0,
        "PV peaks: February {february}, May {may}"
    );

    let price = by_name(DAY_AHEAD);
    let negative = |month: &str| {
        price
            .iter()
            .filter(|r| r.1.starts_with(month) && r.2.unwrap() < 0.0)
            .count()
    };
    assert_eq!(negative("2026-02"), 0);
    assert!(
        negative("2026-04") + negative("2026-05") > 0,
        "some negative hours in spring"
    );
}

#[test]
fn the_dst_day_reads_as_23_hours_and_one_day() {
    let tmp = tempfile::tempdir().unwrap();
    demo::generate(tmp.path()).unwrap();
    let day = |resolution: Option<Resolution>| {
        let filter = DataPointFilter {
            resolution,
            ..DataPointFilter::default()
                .with_names([LOAD])
                .with_range(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"))
        };
        read(tmp.path(), filter)
    };
    let quarters = values(&day(None));
    assert_eq!(quarters.len(), 92);

    let hours = day(Some(Resolution::Seconds(3600)));
    assert_eq!(hours.len(), 23);
    assert_eq!(hours[2].1, "2026-03-29T01:00:00Z");
    assert_eq!(
        berlin_hour(&hours[2].1),
        3,
        "02:00 does not exist on that day"
    );
    let expected = quarters[8..12].iter().sum::<f64>() / 4.0;
    assert!((hours[2].2.unwrap() - expected).abs() < 1e-9);

    let daily = day(Some(Resolution::Days(1)));
    assert_eq!(daily.len(), 1);
    assert_eq!(daily[0].1, "2026-03-28T23:00:00Z");
    let expected = quarters.iter().sum::<f64>() / 92.0;
    assert!((daily[0].2.unwrap() - expected).abs() < 1e-9);
}
