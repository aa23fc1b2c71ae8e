//! `algohost data import` / `export` and `--data` URLs on the command line:
//! the demo data into PostgreSQL and back out, selections, runs and copies
//! through another `algohost serve`, and the message of every bad spec.

use std::path::Path;
use std::process::{Command, Output};

use algohost::adapters::Adapter;
use algohost::adapters::files::FilesAdapter;
use algohost::adapters::postgres::PostgresAdapter;
use algohost::sdk::data::{DataPointConfig, DataPointFilter, DataPointId, Quantity, Resolution};

use crate::files_adapter::{Row, rows};
use crate::pg_server;
use crate::server::Scratch;

/// `algohost ARGS` in `dir` with no `ALGOHOST_*` variable but `env`.
fn algohost(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_algohost"));
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ALGOHOST_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A scratch directory with the demo data in `demo/`.
fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    algohost::demo::generate(&dir.path().join("demo")).unwrap();
    dir
}

/// A sample by data point name: (name, ts, value).
type NamedRow = (String, String, Option<f64>);

/// Every sample of an adapter by name, and its data points without ids:
/// what a copy must keep.
fn content(adapter: &dyn Adapter) -> (Vec<DataPointConfig>, Vec<NamedRow>) {
    let points = adapter.data_points(&DataPointFilter::default()).unwrap();
    let name = |id: i64| {
        points
            .iter()
            .find(|p| p.id.0 == id)
            .map(|p| p.name.clone())
            .unwrap()
    };
    let mut samples: Vec<NamedRow> = rows(&adapter.read(&DataPointFilter::default()).unwrap())
        .into_iter()
        .map(|(id, ts, value): Row| (name(id), ts, value))
        .collect();
    samples.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut points: Vec<DataPointConfig> = points
        .iter()
        .map(|p| DataPointConfig {
            id: DataPointId(0),
            ..p.clone()
        })
        .collect();
    points.sort_by(|a, b| a.name.cmp(&b.name));
    (points, samples)
}

#[test]
fn import_into_postgres_and_export_back_out_keep_every_value() {
    let dir = demo();
    let database = pg_server::database("datacli");
    let import = ["data", "import", "--from", "demo", "--to", &database.url];
    let out = algohost(dir.path(), &import, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout(&out);
    assert!(
        summary.starts_with("copied 3 data point(s), 25911 sample(s) from demo to postgres://"),
        "{summary}"
    );
    assert!(summary.contains("site.load") && summary.contains("11516 sample(s)"));
    assert_eq!(stderr(&out), "", "no progress bar off a terminal");

    // Importing again replaces the same samples: nothing doubles.
    let again = algohost(dir.path(), &import, &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again).lines().nth(1), summary.lines().nth(1));

    // Export defaults --from to ALGOHOST_DATA.
    let data = [("ALGOHOST_DATA", database.url.as_str())];
    let out = algohost(dir.path(), &["data", "export", "--to", "out"], &data);
    assert!(out.status.success(), "{}", stderr(&out));

    let original = content(&FilesAdapter::open(dir.path().join("demo")).unwrap());
    let postgres = PostgresAdapter::connect(&database.url).unwrap();
    assert_eq!(content(&postgres), original);
    assert_eq!(original.1.len(), 25911);
    assert_eq!(
        content(&FilesAdapter::open(dir.path().join("out")).unwrap()),
        original
    );
}

#[test]
fn names_and_a_range_select_what_is_copied() {
    let dir = demo();
    let args = [
        "data",
        "export",
        "--from",
        "demo",
        "--to",
        "out",
        "--names",
        "market.day_ahead,site.pv",
        "--start",
        "2026-02-01T00:00:00Z",
        "--end",
        "2026-02-02T00:00:00Z",
        "--chunk-size",
        "7",
    ];
    let out = algohost(dir.path(), &args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("copied 2 data point(s), 120 sample(s)"),
        "{}",
        stdout(&out)
    );
    let copied = FilesAdapter::open(dir.path().join("out")).unwrap();
    let (points, samples) = content(&copied);
    let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["market.day_ahead", "site.pv"]);
    assert_eq!(samples.first().unwrap().1, "2026-02-01T00:00:00Z");
    assert_eq!(samples.last().unwrap().1, "2026-02-01T23:45:00Z");
}

#[test]
fn run_and_copy_go_through_another_server_with_the_token_from_the_environment() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_TOKENS", "s3cret:run")]);
    let dir = scratch.path();
    let token = [("ALGOHOST_REST_TOKEN", "s3cret")];

    let params = r#"{"names": ["site.load"], "resolution": "P1D", "write_back": true}"#;
    let run = ["run", "resample", "--data", &server.url, "--params", params];
    let out = algohost(dir, &run, &token);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = FilesAdapter::open(dir.join("data")).unwrap();
    let daily = DataPointFilter::default().with_names(["site.load.P1D"]);
    assert_eq!(files.read(&daily).unwrap().height(), 120);

    let out = algohost(
        dir,
        &["data", "export", "--from", &server.url, "--to", "copy"],
        &token,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("copied 4 data point(s), 26031 sample(s)"),
        "{}",
        stdout(&out)
    );

    let out = algohost(
        dir,
        &["data", "export", "--from", &server.url, "--to", "x"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("needs a bearer token")
            && stderr(&out).contains("ALGOHOST_REST_TOKEN"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_data_point_of_another_kind_in_the_target_stops_the_copy() {
    let dir = demo();
    let target = FilesAdapter::open(dir.path().join("target")).unwrap();
    let load = DataPointConfig::new(
        "site.load",
        Quantity::Power,
        "kW",
        Resolution::Seconds(3600),
    );
    target.define_data_points(&[load]).unwrap();
    let out = algohost(
        dir.path(),
        &["data", "import", "--from", "demo", "--to", "target"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "'site.load' exists in the target as power in kW at PT1H (UTC), not power in kW at \
             PT15M (Europe/Berlin); copying would mix them"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        target
            .data_points(&DataPointFilter::default())
            .unwrap()
            .len(),
        1
    );

    // Watts into a point in kW would mix units: refused alike.
    let watts = dir.path().join("watts.csv");
    std::fs::write(&watts, "ts,site.load\n2026-05-01T00:30:00Z,1500\n").unwrap();
    let out = algohost(
        dir.path(),
        &[
            "data",
            "import",
            "--from",
            "watts.csv",
            "--to",
            "demo",
            "--quantity",
            "power",
            "--unit",
            "W",
            "--resolution",
            "PT15M",
            "--time-zone",
            "Europe/Berlin",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "'site.load' exists in the target as power in kW at PT15M (Europe/Berlin), not power \
             in W at PT15M (Europe/Berlin)"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_specs_and_selections_are_clear_errors() {
    let dir = demo();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let import = |args: &[&str]| {
        let mut all = vec!["data", "import"];
        all.extend_from_slice(args);
        algohost(dir.path(), &all, &[])
    };
    std::fs::write(dir.path().join("wide.parquet"), b"PAR1").unwrap();
    let cases: [(&[&str], i32, &str); 11] = [
        (
            &["--from", "demo", "--to", "x", "--names", "site.lod"],
            2,
            "unknown data point name 'site.lod' (did you mean 'site.load'?)",
        ),
        (
            &["--from", "missing", "--to", "x"],
            2,
            "--from missing: no such directory",
        ),
        (
            &["--from", "wide.parquet", "--to", "x"],
            2,
            "--from wide.parquet: a Parquet file says nothing of its data points but their \
             names; pass --quantity (power, energy, price or state) and --unit (such as kW)",
        ),
        (
            &["--from", "empty", "--to", "x"],
            2,
            "not an algohost data directory",
        ),
        (
            &["--from", "demo", "--to", "ftp://host/x"],
            2,
            "unsupported data URL scheme 'ftp://'",
        ),
        (
            &["--from", "demo", "--to", "http://127.0.0.1:1?retries=0"],
            2,
            "cannot connect to the data API at http://127.0.0.1:1/",
        ),
        (
            &["--from", "demo", "--to", "http://127.0.0.1:1?token=abc"],
            2,
            "set ALGOHOST_REST_TOKEN instead",
        ),
        (
            &[
                "--from",
                "demo",
                "--to",
                "postgres://me:s3cret@127.0.0.1:1/x?connect_timeout=2",
            ],
            2,
            "--to postgres://me:***@127.0.0.1:1/x",
        ),
        (
            &["--from", "demo", "--to", "./demo/"],
            2,
            "are the same data store",
        ),
        (
            &["--from", "demo", "--to", "x", "--start", "yesterday"],
            2,
            "RFC 3339",
        ),
        (&["--from", "demo"], 2, "--to <SPEC>"),
    ];
    for (args, code, message) in cases {
        let out = import(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    }
    if !cfg!(feature = "rest-tls") {
        let out = import(&["--from", "demo", "--to", "https://example.invalid"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out).contains("--features rest-tls"),
            "{}",
            stderr(&out)
        );
    }
}

/// The CSV file of the README's example: local times in Europe/Berlin
/// across the March DST change (02:00 to 02:59 do not exist), with an
/// empty cell.
const LOAD_CSV: &str = "ts,meter.load,meter.pv\n2026-03-29 01:30,40.5,0\n2026-03-29 01:45,41,\n\
    2026-03-29 03:00,42,1.5\n";

/// `(name, ts, value)` rows, for comparing with [`content`].
fn named(rows: &[(&str, &str, f64)]) -> Vec<NamedRow> {
    rows.iter()
        .map(|(name, ts, value)| ((*name).to_owned(), (*ts).to_owned(), Some(*value)))
        .collect()
}

#[test]
fn a_csv_file_of_local_times_is_imported_across_the_dst_change() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("load.csv"), LOAD_CSV).unwrap();
    let command = "algohost data import --from load.csv --to mydata --quantity power --unit kW \
        --time-zone Europe/Berlin";
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"));
    assert!(
        readme.unwrap().contains(&format!("$ {command}\n")),
        "the README runs this example"
    );
    let args: Vec<&str> = command.split(' ').skip(1).collect();
    let out = algohost(dir.path(), &args, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).lines().skip(1).collect::<Vec<_>>(),
        [
            "  meter.load  id 1 -> 1  power in kW at PT15M (Europe/Berlin)  3 sample(s)",
            "  meter.pv    id 2 -> 2  power in kW at PT15M (Europe/Berlin)  2 sample(s)"
        ]
    );
    assert!(
        stdout(&out).starts_with("copied 2 data point(s), 5 sample(s) from load.csv to mydata"),
        "{}",
        stdout(&out)
    );

    let (points, samples) = content(&FilesAdapter::open(dir.path().join("mydata")).unwrap());
    let quarter_hours = Resolution::Seconds(900);
    let expected = |name: &str| {
        DataPointConfig::new(name, Quantity::Power, "kW", quarter_hours)
            .with_time_zone("Europe/Berlin")
    };
    assert_eq!(points, [expected("meter.load"), expected("meter.pv")]);
    // 01:45 CET and 03:00 CEST are consecutive quarter hours.
    assert_eq!(
        samples,
        named(&[
            ("meter.load", "2026-03-29T00:30:00Z", 40.5),
            ("meter.load", "2026-03-29T00:45:00Z", 41.0),
            ("meter.load", "2026-03-29T01:00:00Z", 42.0),
            ("meter.pv", "2026-03-29T00:30:00Z", 0.0),
            ("meter.pv", "2026-03-29T01:00:00Z", 1.5),
        ])
    );

    // The selection flags apply to a CSV source too.
    let part = [
        "data",
        "import",
        "--from",
        "load.csv",
        "--to",
        "part",
        "--quantity",
        "power",
        "--unit",
        "kW",
        "--time-zone",
        "Europe/Berlin",
        "--names",
        "meter.load",
        "--start",
        "2026-03-29T00:45:00Z",
        "--end",
        "2026-03-29T01:00:00Z",
    ];
    let out = algohost(dir.path(), &part, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, samples) = content(&FilesAdapter::open(dir.path().join("part")).unwrap());
    assert_eq!(
        samples,
        named(&[("meter.load", "2026-03-29T00:45:00Z", 41.0)])
    );
}

#[test]
fn a_csv_file_is_imported_into_postgres_and_another_server() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_TOKENS", "s3cret:run")]);
    let dir = scratch.path();
    let csv = "ts,grid.price\n2026-06-01T00:00:00+02:00,80\n2026-06-01T01:00:00+02:00,\n\
        2026-06-01T02:00:00+02:00,-3.25\n";
    std::fs::write(dir.join("price.csv"), csv).unwrap();
    let database = pg_server::database("datacli_csv");
    let flags = [
        "--quantity",
        "price",
        "--unit",
        "EUR/MWh",
        "--resolution",
        "PT1H",
    ];
    let import = |to: &str, file: &str| {
        let mut args = vec!["data", "import", "--from", file, "--to", to];
        args.extend_from_slice(&flags);
        algohost(dir, &args, &[("ALGOHOST_REST_TOKEN", "s3cret")])
    };
    let price = DataPointConfig::new(
        "grid.price",
        Quantity::Price,
        "EUR/MWh",
        Resolution::Seconds(3600),
    );
    let samples = named(&[
        ("grid.price", "2026-05-31T22:00:00Z", 80.0),
        ("grid.price", "2026-06-01T00:00:00Z", -3.25),
    ]);

    let out = import(&database.url, "price.csv");
    assert!(out.status.success(), "{}", stderr(&out));
    let postgres = PostgresAdapter::connect(&database.url).unwrap();
    assert_eq!(content(&postgres), (vec![price.clone()], samples.clone()));

    let out = import(&server.url, "price.csv");
    assert!(out.status.success(), "{}", stderr(&out));
    let served = FilesAdapter::open(dir.join("data")).unwrap();
    let filter = DataPointFilter::default().with_names(["grid.price"]);
    let stored = served.data_points(&filter).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        DataPointConfig {
            id: DataPointId(0),
            ..stored[0].clone()
        },
        price
    );
    let read = rows(&served.read(&filter).unwrap());
    let values: Vec<(String, Option<f64>)> = read.into_iter().map(|(_, t, v)| (t, v)).collect();
    assert_eq!(
        values,
        [
            ("2026-05-31T22:00:00Z".to_owned(), Some(80.0)),
            ("2026-06-01T00:00:00Z".to_owned(), Some(-3.25))
        ]
    );

    // Samples off the grid are refused before any target sees them.
    std::fs::write(
        dir.join("late.csv"),
        "ts,grid.price\n2026-06-01T03:30:00Z,1\n",
    )
    .unwrap();
    let refused = "sample of 'grid.price' at 2026-06-01T03:30:00Z does not start an interval of \
        its resolution PT1H; a sample's ts is the start of its interval: round the time stamps \
        down to whole PT1H intervals, or resample them first";
    for target in [database.url.as_str(), server.url.as_str(), "dir"] {
        let out = import(target, "late.csv");
        assert_eq!(out.status.code(), Some(2), "{target}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("error: late.csv: ") && stderr(&out).contains(refused),
            "{target}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_sparse_csv_file_is_appended_to_a_series_with_the_resolution_it_has() {
    let dir = demo();
    let power = ["--quantity", "power", "--unit", "kW"];
    let import = |file: &str, csv: &str, extra: &[&str]| {
        std::fs::write(dir.path().join(file), csv).unwrap();
        let mut args = vec!["data", "import", "--from", file, "--to", "meters"];
        args.extend_from_slice(&power);
        args.extend_from_slice(extra);
        algohost(dir.path(), &args, &[])
    };
    let out = import(
        "q.csv",
        "ts,a\n2026-03-01T00:00:00Z,1\n2026-03-01T00:15:00Z,2\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Two readings an hour apart: inferred as PT1H, which the series is not.
    let sparse = "ts,a\n2026-03-02T00:00:00Z,3\n2026-03-02T01:00:00Z,4\n";
    let out = import("sparse.csv", sparse, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "A CSV file's data points are what --quantity, --unit, --resolution and \
             --time-zone say (without them: the most common step between its time stamps, and \
             UTC): if its values belong to the stored series, pass --resolution PT15M"
        ),
        "{}",
        stderr(&out)
    );
    let out = import("sparse.csv", sparse, &["--resolution", "PT15M"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("copied 1 data point(s), 2 sample(s)"),
        "{}",
        stdout(&out)
    );
    // A series in Berlin time, appended to from a file with UTC offsets
    // but without --time-zone: the flag is what it lacks.
    let berlin = "ts,b\n2026-03-01T00:00:00+01:00,1\n2026-03-01T00:15:00+01:00,2\n";
    let out = import("b.csv", berlin, &["--time-zone", "Europe/Berlin"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let utc = "ts,b\n2026-03-01T23:00:00Z,3\n2026-03-01T23:15:00Z,4\n";
    let out = import("b2.csv", utc, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "exists in the target as power in kW at PT15M (Europe/Berlin), not power in kW at \
             PT15M (UTC)"
        ) && stderr(&out).ends_with("pass --time-zone Europe/Berlin\n"),
        "{}",
        stderr(&out)
    );
    let out = import("b2.csv", utc, &["--time-zone", "Europe/Berlin"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn bad_csv_files_and_flags_are_clear_errors() {
    let dir = demo();
    let layout = "a CSV source has a header line `ts,NAME,…` (a 'ts' column, then one column per \
        data point, named by the data point's name) and one line per time stamp";
    let quarters = "ts,a\n2026-01-01T00:00:00Z,1\n2026-01-01T00:15:00Z,2\n";
    let power = ["--quantity", "power", "--unit", "kW"];
    let cases: Vec<(&str, Vec<&str>, String)> =
        vec![
        ("", power.to_vec(), format!("c.csv: the file is empty; {layout}")),
        (
            "time,a\n2026-01-01T00:00:00Z,1\n",
            power.to_vec(),
            format!("c.csv: no 'ts' column (the header has: time, a); {layout}"),
        ),
        (
            // As a spreadsheet writes CSV in a locale with a decimal comma.
            "\u{feff}ts;site.load\r\n2026-01-01 00:00;40,5\r\n",
            power.to_vec(),
            "c.csv: the header 'ts;site.load' is separated by ';', not commas (as spreadsheets \
             write CSV in locales with a decimal comma); write it with ',' between cells and '.' \
             as the decimal point, for example with polars: pl.read_csv(\"FILE\", \
             separator=\";\", decimal_comma=True).write_csv(\"FILE.csv\")"
                .into(),
        ),
        (
            "ts,a\n\n",
            power.to_vec(),
            format!("c.csv: a header but no rows; {layout}"),
        ),
        (
            "ts,a,a\n2026-01-01T00:00:00Z,1,2\n",
            power.to_vec(),
            "c.csv: the header names column 'a' twice; give each data point one column".into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00Z,1\n2026-01-01T00:15:00Z,1.5 kW\n",
            power.to_vec(),
            "c.csv: line 3, column 'a': '1.5 kW' is not a number; write numbers with a '.' as \
             the decimal point and no unit, or leave the cell empty for a missing sample"
                .into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00Z,NaN\n",
            power.to_vec(),
            "c.csv: line 2, column 'a': 'NaN' is not a number; write numbers with a '.' as the \
             decimal point and no unit, or leave the cell empty for a missing sample"
                .into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00Z,1,5\n",
            power.to_vec(),
            "c.csv: line 2 has more cells than the header has columns (2); write numbers with a \
             '.' as the decimal point (a ',' separates cells), or name every column in the header"
                .into(),
        ),
        (
            "ts,a,b\n2026-01-01T00:00:00Z,1,2\n2026-01-01T00:15:00Z,3\n",
            power.to_vec(),
            "c.csv: line 3 has 2 cell(s) but the header has 3 columns: a cut-off line? leave a \
             value out with an empty cell (a ',' and nothing after it)"
                .into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00.000000999Z,1\n2026-01-01T00:15:00Z,2\n",
            power.to_vec(),
            "c.csv: line 2: ts '2026-01-01T00:00:00.000000999Z' is finer than a microsecond; \
             time stamps are kept to the microsecond, so round it (it is refused rather than cut)"
                .into(),
        ),
        (
            quarters,
            vec!["--quantity", "power", "--unit", "kWh"],
            "cannot define the data points in the target: data point 'a' is power in kWh, which \
             is a unit of energy: power is in W, kW, MW, GW, energy in Wh, kWh, MWh, GWh; give it \
             a unit of power (such as kW), or make it energy if its values are"
                .into(),
        ),
        (
            // A zero width space in a header: a name that looks like 'site.load'.
            "ts,site.\u{200b}load\n2026-01-01T00:00:00Z,1\n2026-01-01T00:15:00Z,2\n",
            power.to_vec(),
            "cannot define the data points in the target: data point name 'site.<U+200B>load' \
             contains U+200B, an invisible formatting character that makes a name look like \
             another (or show reordered) in logs, CSV headers and UIs; use visible characters \
             only"
                .into(),
        ),
        (
            quarters,
            vec!["--quantity", "power", "--unit", " "],
            "the unit is empty: pass the unit of the values, such as --unit kW".into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00Z,1\n2026-01-01T01:00:00+01:00,2\n",
            power.to_vec(),
            "c.csv: lines 2 and 3 have the same ts 2026-01-01T00:00:00Z; keep one line per time \
             stamp"
                .into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00Z,1\n,2\n",
            power.to_vec(),
            "c.csv: line 3: the ts is empty; every line needs a time stamp".into(),
        ),
        (
            "ts,a\nyesterday,1\n",
            power.to_vec(),
            "c.csv: line 2: ts 'yesterday' is not a time stamp; write RFC 3339 such as \
             2026-03-29T01:00:00Z or 2026-03-29T01:00:00+01:00, or a local time such as \
             2026-03-29T01:00:00 with --time-zone"
                .into(),
        ),
        (
            "ts,a\n2026-01-01 00:00,1\n2026-01-01 00:15,2\n",
            power.to_vec(),
            "c.csv: line 2: ts '2026-01-01 00:00' has no UTC offset, so --time-zone is needed: \
             pass the zone its times are in (such as --time-zone Europe/Berlin or --time-zone \
             UTC), or write every ts with an offset (…Z or …+01:00)"
                .into(),
        ),
        (
            "ts,a\n2026-03-29 01:45,1\n2026-03-29 02:00,2\n",
            [&power[..], &["--time-zone", "Europe/Berlin"]].concat(),
            "c.csv: line 3: ts '2026-03-29 02:00' does not exist in Europe/Berlin (the clocks \
             skip it at the DST change); fix or drop that line"
                .into(),
        ),
        (
            "ts,a\n2026-10-25 01:45,1\n2026-10-25 02:00,2\n",
            [&power[..], &["--time-zone", "Europe/Berlin"]].concat(),
            "c.csv: line 3: ts '2026-10-25 02:00' happens twice in Europe/Berlin (the clocks go \
             back at the DST change); write it with its UTC offset, 2026-10-25T02:00:00+02:00 or \
             2026-10-25T02:00:00+01:00"
                .into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00Z,1\n",
            power.to_vec(),
            "c.csv: the resolution cannot be inferred from a single time stamp; pass \
             --resolution (an ISO 8601 duration such as PT15M, PT1H or P1D)"
                .into(),
        ),
        (
            "ts,a\n2026-01-01T00:00:00Z,1\n2026-01-02T00:00:00Z,2\n",
            power.to_vec(),
            "c.csv: the time stamps are a day or more apart, so the resolution is a calendar one \
             (days, months) that cannot be inferred; pass --resolution (an ISO 8601 duration such \
             as PT15M, PT1H or P1D)"
                .into(),
        ),
        (
            // One meter reading off the quarter hours among quarter hours.
            "ts,a\n2026-01-01T00:00:00Z,1\n2026-01-01T00:15:00Z,2\n2026-01-01T00:30:00Z,3\n\
             2026-01-01T00:35:00Z,4\n2026-01-01T00:45:00Z,5\n",
            power.to_vec(),
            "c.csv: the time stamps are not evenly spaced: they are 15 min apart (2 of 4 steps), \
             but line 5 (2026-01-01T00:35:00Z) comes 5 min after line 4 (2026-01-01T00:30:00Z); \
             fix or drop the stray line, or pass --resolution (an ISO 8601 duration such as \
             PT15M, PT1H or P1D)"
                .into(),
        ),
        (
            quarters,
            vec!["--unit", "kW"],
            "--from c.csv: a CSV file says nothing of its data points but their names; pass \
             --quantity (power, energy, price or state)"
                .into(),
        ),
        (
            quarters,
            vec![],
            "--from c.csv: a CSV file says nothing of its data points but their names; pass \
             --quantity (power, energy, price or state) and --unit (such as kW)"
                .into(),
        ),
        (
            quarters,
            [&power[..], &["--resolution", "PT1H"]].concat(),
            "c.csv: sample of 'a' at 2026-01-01T00:15:00Z does not \
             start an interval of its resolution PT1H; a sample's ts is the start of its \
             interval: round the time stamps down to whole PT1H intervals, or resample them \
             first"
                .into(),
        ),
    ];
    for (csv, flags, message) in cases {
        std::fs::write(dir.path().join("c.csv"), csv).unwrap();
        let mut args = vec!["data", "import", "--from", "c.csv", "--to", "new"];
        args.extend_from_slice(&flags);
        let out = algohost(dir.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(2), "{csv:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), format!("error: {message}\n"), "{csv:?}");
    }
    assert!(
        !dir.path().join("new").join("catalog.json").exists(),
        "a refused import defines no data point (a retry with other flags would meet it)"
    );

    std::fs::write(dir.path().join("c.csv"), quarters).unwrap();
    let flag_cases: [(&[&str], &str); 5] = [
        (
            &[
                "import",
                "--from",
                "nope.csv",
                "--to",
                "x",
                "--quantity",
                "power",
                "--unit",
                "kW",
            ],
            "error: nope.csv: no such file\n",
        ),
        (
            &[
                "import",
                "--from",
                "demo",
                "--to",
                "x",
                "--unit",
                "kW",
                "--time-zone",
                "UTC",
            ],
            "error: --unit, --time-zone only apply to a CSV or Parquet source (--from FILE.csv or \
             FILE.parquet); the data points of demo are copied as they are defined there\n",
        ),
        (
            &["import", "--from", "demo", "--to", "out.csv"],
            "error: --to out.csv: algohost reads CSV and Parquet files (`data import --from \
             FILE.csv`) but does not write them; give a directory, a postgres:// or an http:// \
             URL\n",
        ),
        (
            &["export", "--from", "c.csv", "--to", "x"],
            "error: --from c.csv: a CSV or Parquet file is read by `algohost data import --from \
             c.csv --quantity … --unit …`, not by export\n",
        ),
        (
            &[
                "import",
                "--from",
                "c.csv",
                "--to",
                "x",
                "--quantity",
                "watts",
                "--unit",
                "kW",
            ],
            "error: invalid value 'watts' for '--quantity <power|energy|price|state>': 'watts' is \
             not a quantity: use power, energy, price or state\n\nFor more information, try \
             '--help'.\n",
        ),
    ];
    for (args, message) in flag_cases {
        let out = algohost(dir.path(), &[&["data"], args].concat(), &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), message, "{args:?}");
    }
}

/// `algohost data import --from file --to mydata` of power in kW, in `dir`.
fn import_power(dir: &Path, file: &str) -> Output {
    let args = [
        "data",
        "import",
        "--from",
        file,
        "--to",
        "mydata",
        "--quantity",
        "power",
        "--unit",
        "kW",
    ];
    algohost(dir, &args, &[])
}

#[test]
fn a_parquet_file_of_decimals_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{}import pyarrow.parquet as pq\npq.write_table(table, 'money.parquet')\n",
        crate::common::DECIMAL_TABLE
    );
    crate::common::venv_python(dir.path(), &script);
    let out = import_power(dir.path(), "money.parquet");
    // Polars (without its decimal feature) panicked on the file.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: money.parquet: column 'meter.load' holds decimal(10, 2) values, which algohost \
         cannot read; cast it to float64 first (pyarrow: table.cast(...) with pa.float64(), \
         polars: pl.col(\"meter.load\").cast(pl.Float64))\n"
    );
    assert!(!dir.path().join("mydata").exists(), "nothing is written");
}

#[test]
fn a_parquet_file_of_a_ts_column_and_value_columns_is_imported() {
    use algohost::sdk::polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let import = |name: &str, mut frame: DataFrame| {
        let file = std::fs::File::create(dir.path().join(name)).unwrap();
        ParquetWriter::new(file).finish(&mut frame).unwrap();
        import_power(dir.path(), name)
    };
    // As polars or pandas write a time series: ts in Berlin time, µs.
    let ts = Int64Chunked::from_vec(
        "ts".into(),
        vec![1_774_738_800_000_000, 1_774_739_700_000_000],
    )
    .into_datetime(
        TimeUnit::Microseconds,
        TimeZone::opt_try_new(Some("Europe/Berlin")).unwrap(),
    );
    let frame = DataFrame::new(
        2,
        vec![
            ts.into_column(),
            Column::new("meter.load".into(), [40.5, 41.0]),
            Column::new("meter.pv".into(), [Some(0.0), None]),
        ],
    )
    .unwrap();
    let out = import("load.parquet", frame);
    assert!(out.status.success(), "{}", stderr(&out));
    // The zone is the ts column's, the resolution the step between rows.
    assert_eq!(
        stdout(&out).lines().skip(1).collect::<Vec<_>>(),
        [
            "  meter.load  id 1 -> 1  power in kW at PT15M (Europe/Berlin)  2 sample(s)",
            "  meter.pv    id 2 -> 2  power in kW at PT15M (Europe/Berlin)  1 sample(s)"
        ]
    );
    // pandas' df.to_parquet() of a frame indexed by time: the unnamed
    // index is its ts, as the Python API takes it.
    let index = Int64Chunked::from_vec(
        "__index_level_0__".into(),
        vec![1_774_740_600_000_000, 1_774_741_500_000_000],
    )
    .into_datetime(
        TimeUnit::Microseconds,
        TimeZone::opt_try_new(Some("Europe/Berlin")).unwrap(),
    );
    let pandas = DataFrame::new(
        2,
        vec![
            Column::new("meter.load".into(), [42.0, 43.0]),
            index.into_column(),
        ],
    )
    .unwrap();
    let out = import("pandas.parquet", pandas);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("  meter.load  id 1 -> 1  "),
        "{}",
        stdout(&out)
    );
    // No ts: the layout a Parquet file needs (not a CSV file's).
    let no_ts = DataFrame::new(1, vec![Column::new("meter.load".into(), [1.0])]).unwrap();
    let out = import("no_ts.parquet", no_ts);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: no_ts.parquet: no 'ts' column (the header has: meter.load); a Parquet source has \
         a 'ts' column (datetimes, dates or RFC 3339 text), then one column of numbers per data \
         point, named by the data point's name\n"
    );
    // A column that is not numbers is named.
    let text = DataFrame::new(
        1,
        vec![
            Column::new("ts".into(), ["2026-03-29T00:00:00Z"]),
            Column::new("meter.load".into(), ["40,5"]),
        ],
    )
    .unwrap();
    let out = import("text.parquet", text);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: text.parquet: column 'meter.load' is str, not numbers; every column but 'ts' is \
         a data point's values\n"
    );
    // A ts of numbers is no time.
    let numbers = DataFrame::new(
        1,
        vec![
            Column::new("ts".into(), [1_774_738_800i64]),
            Column::new("meter.load".into(), [40.5]),
        ],
    )
    .unwrap();
    let out = import("numbers.parquet", numbers);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: numbers.parquet: column 'ts' is i64; it must hold datetimes (with a time zone, \
         or local times with --time-zone), dates or RFC 3339 text\n"
    );
    // A file that is no Parquet, and one that is neither CSV nor Parquet.
    std::fs::write(dir.path().join("bad.parquet"), b"PAR1 not really").unwrap();
    std::fs::write(dir.path().join("load.txt"), b"ts,a\n").unwrap();
    for (file, expected) in [
        (
            "bad.parquet",
            "error: bad.parquet: cannot be read as Parquet (",
        ),
        (
            "load.txt",
            "error: --from load.txt: a file source must be a CSV file (FILE.csv) or a Parquet \
             file (FILE.parquet) of a `ts` column and one column per data point (see `algohost \
             data import --help`)\n",
        ),
    ] {
        let out = import_power(dir.path(), file);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).starts_with(expected), "{}", stderr(&out));
    }
}
