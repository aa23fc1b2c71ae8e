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
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("'site.load' exists in the target as power at PT1H, not power at PT15M"),
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
    let cases: [(&[&str], i32, &str); 10] = [
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
