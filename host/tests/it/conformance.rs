//! The adapter conformance suite: one set of checks that every adapter
//! passes, so that an algorithm sees the same data through files,
//! PostgreSQL and REST (in front of both). `conformance_suite!(name,
//! subject)` turns each check into a `#[test]` under `conformance::name::`.

use std::any::Any;
use std::sync::Arc;

use algohost::adapters::Adapter;
use algohost::adapters::files::FilesAdapter;
use algohost::adapters::postgres::PostgresAdapter;
use algohost::adapters::rest::{RestAdapter, RestOptions};
use algohost::sdk::Error;
use algohost::sdk::chrono::Duration;
use algohost::sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, Flow, FlowFilter, Quantity, Resolution,
};

mod samples;

// The checks of samples, for the macro's `super::check`.
use self::samples::*;
use crate::files_adapter::{rows, utc};
use crate::pg_server;

/// An adapter under test, empty, with whatever keeps its storage alive.
pub struct Subject {
    /// The adapter.
    pub adapter: Arc<dyn Adapter>,
    /// Dropped with the subject (a temporary directory, say).
    _storage: Box<dyn Any>,
}

/// A files adapter on a fresh directory.
pub fn files() -> Subject {
    let tmp = tempfile::tempdir().unwrap();
    let adapter = FilesAdapter::open(tmp.path().join("data")).unwrap();
    Subject {
        adapter: Arc::new(adapter),
        _storage: Box::new(tmp),
    }
}

/// A PostgreSQL adapter on a fresh database of the test server.
pub fn postgres() -> Subject {
    let database = pg_server::database("conformance");
    Subject {
        adapter: Arc::new(PostgresAdapter::connect(&database.url).unwrap()),
        _storage: Box::new(database),
    }
}

/// A REST adapter in front of an `algohost serve` (in-process) of `inner`.
pub fn rest(inner: Subject) -> Subject {
    let served = crate::rest::serve(inner.adapter.clone(), Default::default());
    let adapter = RestAdapter::connect_with(&served.url, RestOptions::default()).unwrap();
    Subject {
        adapter: Arc::new(adapter),
        // The server stops before the storage behind it goes.
        _storage: Box::new((served, inner)),
    }
}

/// Generates one `#[test]` per check for the subject `$open`.
macro_rules! conformance_suite {
    ($module:ident, $open:expr) => {
        mod $module {
            conformance_suite!(@tests $open;
                define_assigns_ids_and_keeps_existing_points,
                define_rejects_another_quantity_and_bad_definitions,
                define_without_a_time_zone_matches_the_stored_one,
                define_refuses_long_names_and_invisible_characters,
                unknown_name_errors_list_few_names_cut_short,
                lists_with_every_filter_field,
                lists_flows_with_every_flow_filter_field,
                reads_the_half_open_range_with_the_point_filters,
                reads_hours_across_the_dst_change,
                reads_local_days_across_the_dst_change,
                reads_finer_resolutions_from_samples_before_the_range,
                writes_replace_samples_at_the_same_ts_and_keep_the_others,
                writes_are_all_or_nothing_and_check_ids_and_schema,
                empty_results_have_the_long_schema,
                unknown_names_ids_and_time_zones_are_clear_errors,
                concurrent_writers_lose_no_updates,
                names_and_tags_with_quotes_and_sql_are_plain_data,
                writes_refuse_off_grid_time_stamps_and_values_that_are_not_numbers,
            );
        }
    };
    (@tests $open:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let subject = $open;
                super::$check(&*subject.adapter);
            }
        )*
    };
}

conformance_suite!(files, super::files());
conformance_suite!(postgres, super::postgres());
conformance_suite!(rest_files, super::rest(super::files()));
conformance_suite!(rest_postgres, super::rest(super::postgres()));

fn names(points: &[DataPointConfig]) -> Vec<&str> {
    points.iter().map(|p| p.name.as_str()).collect()
}

/// Defines four data points and returns them as stored:
/// `x.load` (power, PT15M, Berlin, site=x, kind=meter, grid→x electricity),
/// `x.energy` (energy, PT15M, Berlin, site=x),
/// `y.price` (price, PT1H, UTC, site=y),
/// `y.soc` (state, PT1H, UTC, site=y, kind=meter, battery→y electricity).
fn define_four(adapter: &dyn Adapter) -> Vec<DataPointConfig> {
    let quarter = Resolution::Seconds(900);
    let hour = Resolution::Seconds(3600);
    let flow = |from: &str, to: &str| Flow {
        from: from.into(),
        to: to.into(),
        carrier: "electricity".into(),
    };
    adapter
        .define_data_points(&[
            DataPointConfig::new("x.load", Quantity::Power, "kW", quarter)
                .with_time_zone("Europe/Berlin")
                .with_tag("site", "x")
                .with_tag("kind", "meter")
                .with_flow(flow("grid", "x")),
            DataPointConfig::new("x.energy", Quantity::Energy, "kWh", quarter)
                .with_time_zone("Europe/Berlin")
                .with_tag("site", "x"),
            DataPointConfig::new("y.price", Quantity::Price, "EUR/MWh", hour).with_tag("site", "y"),
            DataPointConfig::new("y.soc", Quantity::State, "%", hour)
                .with_tag("site", "y")
                .with_tag("kind", "meter")
                .with_flow(flow("battery", "y")),
        ])
        .unwrap()
}

fn define_assigns_ids_and_keeps_existing_points(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let ids: Vec<i64> = points.iter().map(|p| p.id.0).collect();
    assert!(ids[0] > 0 && ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(
        points[0].tags.get("kind").map(String::as_str),
        Some("meter")
    );
    // An existing name defined as the same series keeps its stored
    // definition (tags and flow too); a new name gets a new id, whatever id
    // the definition carries; a name given twice is one point.
    let mut again = DataPointConfig::new("x.load", Quantity::Power, "kW", Resolution::Seconds(900))
        .with_time_zone("Europe/Berlin")
        .with_tag("kind", "something else");
    again.id = DataPointId(42);
    let mut new = DataPointConfig::new("z.temp", Quantity::State, "°C", Resolution::Seconds(3600));
    new.id = points[1].id;
    let stored = adapter
        .define_data_points(&[again, new.clone(), new])
        .unwrap();
    assert_eq!(stored[0], points[0]);
    assert!(stored[1].id > points[3].id, "{stored:?}");
    assert_eq!(stored[1].name, "z.temp");
    assert_eq!(stored[2], stored[1]);
    let all = adapter.data_points(&DataPointFilter::default()).unwrap();
    assert_eq!(
        names(&all),
        ["x.load", "x.energy", "y.price", "y.soc", "z.temp"]
    );
    assert_eq!(all[..4], points[..]);
    assert_eq!(all[4], stored[1]);
}

/// The message of a definition the adapter refuses as invalid input.
fn invalid_definition(adapter: &dyn Adapter, points: &[DataPointConfig]) -> String {
    let err = adapter.define_data_points(points).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    err.to_string()
}

fn define_rejects_another_quantity_and_bad_definitions(adapter: &dyn Adapter) {
    define_four(adapter);
    let quarter = Resolution::Seconds(900);
    let fresh = DataPointConfig::new("fresh", Quantity::Power, "kW", quarter);
    let message = invalid_definition(
        adapter,
        &[
            fresh.clone(),
            DataPointConfig::new("x.load", Quantity::Energy, "kWh", quarter),
        ],
    );
    assert!(
        message.contains("'x.load' exists as power in kW at PT15M (Europe/Berlin)")
            && message.contains("not energy in kWh at PT15M (UTC)"),
        "{message}"
    );
    // Nor another unit, resolution or time zone: samples written for one
    // would be read as the other.
    let berlin = |unit: &str, resolution| {
        DataPointConfig::new("x.load", Quantity::Power, unit, resolution)
            .with_time_zone("Europe/Berlin")
    };
    for other in [
        berlin("MW", quarter),
        berlin("kW", Resolution::Seconds(3600)),
        DataPointConfig::new("x.load", Quantity::Power, "kW", quarter),
    ] {
        let message = invalid_definition(adapter, std::slice::from_ref(&other));
        assert!(
            message.contains(&format!("not {}", other.series()))
                && message.contains("keeps the quantity, unit, resolution and time zone"),
            "{message}"
        );
    }
    // A definition that states no unit takes the stored one.
    let unitless = berlin("", quarter);
    assert_eq!(
        adapter.define_data_points(&[unitless]).unwrap()[0].unit,
        "kW"
    );
    let err = adapter
        .define_data_points(&[fresh.clone().with_time_zone("Mars/Olympus")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown time zone 'Mars/Olympus'") && err.contains("Europe/Berlin"),
        "{err}"
    );
    let err = adapter
        .define_data_points(&[DataPointConfig::new("  ", Quantity::Power, "kW", quarter)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-empty name"), "{err}");
    for (name, expected) in [
        (
            "ts",
            "'ts' cannot name a data point: it is the time column of every frame",
        ),
        (
            "=HYPERLINK(\"x\")",
            "starts with '=', which spreadsheets read as a formula",
        ),
        ("@load", "starts with '@'"),
        ("x,y", "contains a ',', which separates names in lists"),
    ] {
        let err = adapter
            .define_data_points(&[DataPointConfig::new(name, Quantity::Power, "kW", quarter)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{name}: {err}");
    }
    // The kW/kWh mix-up.
    for (quantity, unit, expected) in [
        (
            Quantity::Power,
            "kWh",
            "is power in kWh, which is a unit of energy",
        ),
        (
            Quantity::Energy,
            "MW",
            "is energy in MW, which is a unit of power",
        ),
    ] {
        let err = adapter
            .define_data_points(&[DataPointConfig::new("mixed", quantity, unit, quarter)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{unit}: {err}");
    }
    // A new name given twice as two series: neither is stored.
    // (Over REST, the server names the two places in the request.)
    let message = invalid_definition(
        adapter,
        &[
            fresh.clone(),
            DataPointConfig::new("fresh", Quantity::Energy, "kWh", quarter),
        ],
    );
    assert!(
        ["'fresh' is defined twice", "'fresh' is given twice"]
            .iter()
            .any(|twice| message.contains(twice))
            && message.contains("power in kW at PT15M (UTC)")
            && message.contains("energy in kWh at PT15M (UTC)"),
        "{message}"
    );
    // Nothing of a failed definition is stored, not even its valid points.
    let all = adapter.data_points(&DataPointFilter::default()).unwrap();
    assert_eq!(names(&all), ["x.load", "x.energy", "y.price", "y.soc"]);
}

fn define_without_a_time_zone_matches_the_stored_one(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let quarter = Resolution::Seconds(900);
    let no_zone = |name: &str, resolution| {
        DataPointConfig::new(name, Quantity::Power, "kW", resolution).with_time_zone("")
    };
    // x.load is in Europe/Berlin: a definition that leaves the time zone
    // out (empty) is the same series, and comes back as stored.
    let stored = adapter
        .define_data_points(&[no_zone("x.load", quarter)])
        .unwrap();
    assert_eq!(stored, [points[0].clone()]);
    // Given, the zone must match; when something else differs, the error
    // shows the stored zone, not a UTC nobody asked for.
    let err = adapter
        .define_data_points(&[no_zone("x.load", quarter).with_time_zone("UTC")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exists as power in kW at PT15M (Europe/Berlin)")
            && err.contains("not power in kW at PT15M (UTC)"),
        "{err}"
    );
    let err = adapter
        .define_data_points(&[no_zone("x.load", Resolution::Seconds(3600))])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not power in kW at PT1H (Europe/Berlin)"),
        "{err}"
    );
    // A new data point without a time zone is in UTC; given twice in one
    // call, once with a zone and once without, it is one data point.
    let stored = adapter
        .define_data_points(&[
            no_zone("z.load", quarter),
            no_zone("z.load", quarter),
            no_zone("x.load", quarter),
            no_zone("w.load", quarter).with_time_zone("Europe/Berlin"),
            no_zone("w.load", quarter),
        ])
        .unwrap();
    assert_eq!(stored[0].time_zone, "UTC");
    assert_eq!(stored[1], stored[0]);
    assert_eq!(stored[2], points[0]);
    assert_eq!(stored[3].time_zone, "Europe/Berlin");
    assert_eq!(stored[4], stored[3]);
    let all = adapter.data_points(&DataPointFilter::default()).unwrap();
    assert_eq!(all[..4], points[..]);
    assert_eq!(all[4..], [stored[0].clone(), stored[3].clone()]);
}

fn power(name: &str) -> DataPointConfig {
    DataPointConfig::new(name, Quantity::Power, "kW", Resolution::Seconds(900))
}

fn define_refuses_long_names_and_invisible_characters(adapter: &dyn Adapter) {
    let refused = |name: &str| {
        let err = adapter.define_data_points(&[power(name)]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        err.to_string()
    };
    let err = refused(&"a".repeat(257));
    assert!(
        err.contains(&format!(
            "data point name '{}…' is 257 characters long, longer than the 256 a name may have; \
             use a shorter name",
            "a".repeat(64)
        )),
        "{err}"
    );
    // Format characters (Unicode category Cf) are invisible, so the name
    // would look like another, or show reordered.
    for c in [
        '\u{00AD}', '\u{061C}', '\u{180E}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}',
        '\u{200F}', '\u{202A}', '\u{202E}', '\u{2060}', '\u{2064}', '\u{2066}', '\u{2069}',
        '\u{FEFF}',
    ] {
        let err = refused(&format!("site.{c}load"));
        let code = format!("U+{:04X}", u32::from(c));
        assert!(
            err.contains(&format!(
                "data point name 'site.<{code}>load' contains {code}, an invisible formatting \
                 character that makes a name look like another (or show reordered) in logs, CSV \
                 headers and UIs; use visible characters only"
            )),
            "{err}"
        );
    }
    assert!(
        adapter
            .data_points(&DataPointFilter::default())
            .unwrap()
            .is_empty()
    );
    // 256 characters, any visible ones, are a name.
    let longest = "é".repeat(255) + "ö";
    let stored = adapter
        .define_data_points(&[power(&longest), power("Zählpunkt 1 · Süd")])
        .unwrap();
    assert_eq!(names(&stored), [longest.as_str(), "Zählpunkt 1 · Süd"]);
}

fn unknown_name_errors_list_few_names_cut_short(adapter: &dyn Adapter) {
    let long = format!("a{}", "é".repeat(255));
    let mut points: Vec<DataPointConfig> = (0..24).map(|i| power(&format!("p{i:02}"))).collect();
    points.push(power(&long));
    adapter.define_data_points(&points).unwrap();
    let unknown = "x".repeat(1000);
    let err = adapter
        .read(&DataPointFilter::default().with_names([unknown.as_str(), "p1"]))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "unknown data point name '{}…'; unknown data point name 'p1' (did you mean 'p01' or \
             'p10' or 'p11'?); known names include: a{}…, p00, p01, ",
            "x".repeat(64),
            "é".repeat(63)
        )) && message.contains("p17, p18, … (25 in all); list the data points to see them all"),
        "{message}"
    );
    assert!(message.len() < 1000, "{} bytes: {message}", message.len());
}

fn lists_with_every_filter_field(adapter: &dyn Adapter) {
    let points = define_four(adapter);
    let list = |filter: DataPointFilter| names(&adapter.data_points(&filter).unwrap()).join(" ");
    let all = DataPointFilter::default;
    assert_eq!(list(all()), "x.load x.energy y.price y.soc");
    assert_eq!(
        list(all().with_ids([points[3].id, points[1].id])),
        "x.energy y.soc"
    );
    assert_eq!(
        list(all().with_names(["y.price", "x.load"])),
        "x.load y.price"
    );
    assert_eq!(list(all().with_tag("site", "y")), "y.price y.soc");
    assert_eq!(list(all().with_tag("kind", "meter")), "x.load y.soc");
    assert_eq!(
        list(all().with_tag("site", "y").with_tag("kind", "meter")),
        "y.soc"
    );
    assert_eq!(list(all().with_quantity(Quantity::Energy)), "x.energy");
    assert_eq!(
        list(all().with_tag("site", "x").with_quantity(Quantity::Power)),
        "x.load"
    );
    assert_eq!(
        list(all().with_ids([points[0].id]).with_names(["x.load"])),
        "x.load"
    );
    // Every set field must match; listing is a search, so an unknown name
    // or tag matches nothing.
    assert_eq!(list(all().with_names(["x.load"]).with_tag("site", "y")), "");
    assert_eq!(list(all().with_tag("site", "nowhere")), "");
    assert_eq!(list(all().with_tag("nothing", "x")), "");
    assert_eq!(list(all().with_names(["x.lod"])), "");
    assert_eq!(list(all().with_ids([DataPointId(999)])), "");
    // The range and resolution parts do not filter data points.
    assert_eq!(
        list(
            all()
                .with_range(utc("2030-01-01T00:00:00Z"), utc("2030-01-02T00:00:00Z"))
                .with_resolution(Resolution::Days(1))
        ),
        "x.load x.energy y.price y.soc"
    );
}

fn lists_flows_with_every_flow_filter_field(adapter: &dyn Adapter) {
    define_four(adapter);
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
    let soc = &adapter.flows(&FlowFilter::default()).unwrap()[1];
    assert_eq!(soc.flow.as_ref().unwrap().from, "battery");
}

/// Names, tags and filter values that would break SQL or paths built from
/// them.
pub const HOSTILE: [&str; 6] = [
    "x'; DROP TABLE samples; --",
    "Robert'); DELETE FROM data_points WHERE ('1'='1",
    "\" OR 1=1 --",
    "a\\'b; SELECT pg_sleep(10)",
    "$1 $$ $tag$ ::text ; COMMIT;",
    "../../etc/passwd",
];

fn names_and_tags_with_quotes_and_sql_are_plain_data(adapter: &dyn Adapter) {
    let definitions: Vec<DataPointConfig> = HOSTILE
        .iter()
        .map(|name| {
            DataPointConfig::new(*name, Quantity::Power, "kW'", Resolution::Seconds(3600))
                .with_tag(*name, *name)
                .with_tag("site", "it's")
        })
        .collect();
    let points = adapter.define_data_points(&definitions).unwrap();
    for (i, point) in points.iter().enumerate() {
        let values = [i as f64];
        adapter
            .write(&series(
                point.id,
                "2026-01-01T00:00:00Z",
                Duration::hours(1),
                &values,
            ))
            .unwrap();
    }
    let listed = adapter.data_points(&DataPointFilter::default()).unwrap();
    assert_eq!(names(&listed), HOSTILE);
    assert_eq!(listed, points);
    for (i, name) in HOSTILE.iter().enumerate() {
        let by_tag = DataPointFilter::default().with_tag(*name, *name);
        assert_eq!(names(&adapter.data_points(&by_tag).unwrap()), [*name]);
        let read = rows(
            &adapter
                .read(&DataPointFilter::default().with_names([*name]))
                .unwrap(),
        );
        assert_eq!(
            read,
            [(
                points[i].id.0,
                "2026-01-01T00:00:00Z".into(),
                Some(i as f64)
            )]
        );
    }
    let quoted = DataPointFilter::default().with_tag("site", "it's");
    assert_eq!(adapter.data_points(&quoted).unwrap().len(), HOSTILE.len());
    let err = adapter
        .read(&DataPointFilter::default().with_names(["' OR ''='"]))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown data point name '' OR ''=''"),
        "{err}"
    );
    assert_eq!(
        adapter.read(&DataPointFilter::default()).unwrap().height(),
        HOSTILE.len()
    );
}
