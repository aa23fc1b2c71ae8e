//! The PostgreSQL adapter against a real server (see `pg_server`): schema
//! migrations, URLs and their errors, bound parameters only (checked in the
//! server's statement log), writes that fail halfway, the statement timeout,
//! the pool limit, and algorithms giving the same outputs as on files.
//! What every adapter does is in `conformance`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use algohost::adapters::files::FilesAdapter;
use algohost::adapters::postgres::PostgresAdapter;
use algohost::adapters::{self, Adapter};
use algohost::demo;
use algohost::runner::{self, RunStatus};
use algohost::sdk::Error;
use algohost::sdk::data::{
    DATA_POINT_ID, DataPointConfig, DataPointFilter, FlowFilter, Quantity, Resolution, long_frame,
};
use algohost::sdk::polars::prelude::*;
use algohost::sources::{self, DiscoveryOptions};
use serde_json::{Value, json};

use crate::common::{request_with, target_debug_dir};
use crate::conformance::HOSTILE;
use crate::files_adapter::{rows, utc};
use crate::pg_server::{self, server};
use crate::server::Scratch;

fn connect(url: &str) -> PostgresAdapter {
    PostgresAdapter::connect(url).unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

fn hourly(name: &str) -> DataPointConfig {
    DataPointConfig::new(name, Quantity::Power, "kW", Resolution::Seconds(3600))
}

fn micros(text: &str) -> i64 {
    utc(text).timestamp_micros()
}

#[test]
fn the_schema_is_migrated_once_and_adapters_open_urls() {
    let db = pg_server::database("schema");
    let first = connect(&db.url);
    // The URL without its parameters (and password, had it one).
    assert_eq!(first.target(), db.url.split('?').next().unwrap());
    let points = first.define_data_points(&[hourly("a")]).unwrap();
    // Opening again (through `adapters::open`, as `--data` does) keeps the data.
    let again = adapters::open(&db.url).unwrap();
    assert_eq!(
        again.data_points(&DataPointFilter::default()).unwrap(),
        points
    );
    let postgresql = db.url.replacen("postgres://", "postgresql://", 1);
    assert_eq!(
        adapters::open(&postgresql)
            .unwrap()
            .data_points(&DataPointFilter::default())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        server().psql(
            &db.name,
            "SELECT version, name FROM algohost_schema_migrations"
        ),
        "1|data points and samples"
    );
    let tables = server().psql(
        &db.name,
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'",
    );
    assert_eq!(tables, "algohost_schema_migrations,data_points,samples");
    let key = server().psql(
        &db.name,
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'samples'::regclass AND indisprimary",
    );
    assert!(key.contains("(data_point_id, ts)"), "{key}");
}

#[test]
fn a_schema_newer_than_the_adapter_is_refused() {
    let db = pg_server::database("newer");
    drop(connect(&db.url));
    server().psql(
        &db.name,
        "INSERT INTO algohost_schema_migrations (version, name) VALUES (99, 'from the future')",
    );
    let err = PostgresAdapter::connect(&db.url).unwrap_err().to_string();
    assert!(
        err.contains("schema is at version 99") && err.contains("use a newer algohost"),
        "{err}"
    );
}

#[test]
fn bad_urls_and_unreachable_servers_are_clear_errors_without_the_password() {
    let db = pg_server::database("urls");
    let url = db.url.replace("algohost@", "algohost:s3cret@");
    let bad = |url: &str| PostgresAdapter::connect(url).unwrap_err().to_string();
    let err = bad(&format!("{url}&pool_size=zero"));
    assert!(err.contains("invalid pool_size 'zero'"), "{err}");
    let err = bad(&format!("{url}&colour=blue"));
    assert!(
        err.contains("invalid PostgreSQL URL") && !err.contains("s3cret"),
        "{err}"
    );
    // A port nobody listens on (this server's port is taken by it, so use
    // a freshly freed one).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!(
        "postgres://algohost:s3cret@127.0.0.1:{port}/nothing?sslmode=disable&connect_timeout=5"
    );
    let err = bad(&closed);
    assert!(
        err.contains(&format!(
            "cannot connect to PostgreSQL at postgres://algohost@127.0.0.1:{port}/nothing"
        )) && err.contains("check that the server runs")
            && !err.contains("s3cret"),
        "{err}"
    );
    let err = bad(&db.url.replace(&db.name, "no_such_database"));
    assert!(
        err.contains("no_such_database") && err.contains("does not exist"),
        "{err}"
    );
}

#[test]
fn a_role_that_may_only_read_opens_a_migrated_database() {
    let db = pg_server::database("readonly");
    connect(&db.url).define_data_points(&[hourly("a")]).unwrap();
    server().psql(
        &db.name,
        &format!(
            "CREATE ROLE algohost_ro LOGIN; GRANT CONNECT ON DATABASE {} TO algohost_ro; \
             GRANT USAGE ON SCHEMA public TO algohost_ro; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO algohost_ro",
            db.name
        ),
    );
    let reader = connect(&db.url.replace("algohost@", "algohost_ro@"));
    let points = reader.data_points(&DataPointFilter::default()).unwrap();
    assert_eq!(points.len(), 1);
    let err = reader
        .define_data_points(&[hourly("b")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("permission denied"), "{err}");
}

#[test]
fn a_url_without_a_password_takes_it_from_pgpassword_or_the_password_file() {
    let db = pg_server::database("pgpass");
    server().role_with_password("algohost_pw", "pw-from-env");
    let url = db.url.replace("algohost@", "algohost_pw@");
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    demo::generate(&demo).unwrap();
    let import = |env: &[(&str, &str)]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_algohost"))
            .args([
                "data",
                "import",
                "--from",
                demo.to_str().unwrap(),
                "--to",
                &url,
            ])
            .env_remove("PGPASSWORD")
            .env("PGPASSFILE", dir.path().join("none"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = import(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("password missing; the server asks for a password and none was given")
            && stderr.contains("in PGPASSWORD or in ~/.pgpass"),
        "{stderr}"
    );
    let (code, stderr) = import(&[("PGPASSWORD", "pw-from-env")]);
    assert_eq!(code, Some(0), "{stderr}");
    // libpq's file: host:port:database:user:password, `*` for any.
    let pgpass = dir.path().join("pgpass");
    std::fs::write(
        &pgpass,
        "# ours\nother:*:*:*:nope\n127.0.0.1:*:*:algohost_pw:pw-from-env\n",
    )
    .unwrap();
    let (code, stderr) = import(&[("PGPASSFILE", pgpass.to_str().unwrap())]);
    assert_eq!(code, Some(0), "{stderr}");
    std::fs::write(&pgpass, "*:*:*:algohost_pw:wrong\n").unwrap();
    let (code, stderr) = import(&[("PGPASSFILE", pgpass.to_str().unwrap())]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("password authentication failed") && !stderr.contains("wrong"),
        "{stderr}"
    );
}

#[cfg(not(feature = "postgres-tls"))]
#[test]
fn sslmode_require_without_tls_in_the_build_says_how_to_get_it() {
    let db = pg_server::database("tls");
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = db
            .url
            .replace("sslmode=disable", &format!("sslmode={mode}"));
        let err = PostgresAdapter::connect(&url).unwrap_err().to_string();
        assert!(
            err.contains(&format!("sslmode={mode} for postgres://"))
                && err.contains("built without TLS")
                && err.contains("`cargo build --features postgres-tls`")
                && err.contains(
                    "MATURIN_PEP517_ARGS=\"--features algohost/postgres-tls\" pip install ./sdk-python"
                ),
            "{err}"
        );
    }
    // `prefer` (libpq's default) connects in plain text.
    let prefer = db.url.replace("?sslmode=disable", "");
    assert!(
        connect(&prefer)
            .data_points(&DataPointFilter::default())
            .unwrap()
            .is_empty()
    );
}

#[cfg(feature = "postgres-tls")]
#[test]
fn sslmode_require_encrypts_and_verifies_the_server_certificate() {
    let ca = server().enable_tls();
    let db = pg_server::database("tls");
    let url = db.url.replace("sslmode=disable", "sslmode=require");
    // Reloading the configuration takes a moment.
    let since = Instant::now();
    let adapter = loop {
        match PostgresAdapter::connect(&format!("{url}&sslrootcert={}", ca.display())) {
            Ok(adapter) => break adapter,
            Err(_) if since.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("{e}"),
        }
    };
    adapter.define_data_points(&[hourly("a")]).unwrap();
    let encrypted = server().psql(
        &db.name,
        &format!(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{}' AND a.application_name = 'algohost'",
            db.name
        ),
    );
    assert_eq!(encrypted, "t");
    // Without the CA the server's certificate is not trusted.
    let err = PostgresAdapter::connect(&url).unwrap_err().to_string();
    assert!(
        err.contains("cannot connect") && err.to_lowercase().contains("certificate"),
        "{err}"
    );
}

/// Defines, writes, lists, reads and fails to read with every value taken
/// from `words`; the statements it makes PostgreSQL run must not depend on
/// them.
fn exercise(adapter: &dyn Adapter, words: &[&str]) {
    let definitions: Vec<DataPointConfig> = words
        .iter()
        .map(|w| {
            hourly(w)
                .with_tag(*w, *w)
                .with_flow(algohost::sdk::data::Flow {
                    from: (*w).to_owned(),
                    to: "site".to_owned(),
                    carrier: (*w).to_owned(),
                })
        })
        .collect();
    let points = adapter.define_data_points(&definitions).unwrap();
    let ids: Vec<i64> = points.iter().map(|p| p.id.0).collect();
    let t = micros("2026-01-01T00:00:00Z");
    adapter
        .write(&long_frame(ids.clone(), vec![t; ids.len()], vec![Some(1.0); ids.len()]).unwrap())
        .unwrap();
    for (i, word) in words.iter().enumerate() {
        let filter = DataPointFilter::default()
            .with_names([*word])
            .with_tag(*word, *word);
        assert_eq!(adapter.data_points(&filter).unwrap(), [points[i].clone()]);
        assert_eq!(adapter.read(&filter).unwrap().height(), 1);
        let flow = FlowFilter {
            from: Some((*word).to_owned()),
            to: None,
            carrier: Some((*word).to_owned()),
        };
        assert_eq!(adapter.flows(&flow).unwrap().len(), 1);
        let unknown = format!("{word}{word}");
        let err = adapter.read(&DataPointFilter::default().with_names([unknown.as_str()]));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("unknown data point name")
        );
    }
}

/// A logged statement with its numbers (prepared statement names, say) and
/// upper-case hex digits (snapshot ids such as 00000003-0000001B-1) left
/// out.
fn shape(statement: &str) -> String {
    statement
        .chars()
        .filter(|c| !c.is_ascii_digit() && !('A'..='F').contains(c))
        .collect()
}

#[test]
fn hostile_values_are_stored_and_found_as_data_and_never_run_as_sql() {
    let benign = pg_server::database("benign");
    let hostile = pg_server::database("hostile");
    let plain = ["alpha", "beta.x", "gamma y", "delta_z", "epsilon-1", "zeta"];
    exercise(&connect(&benign.url), &plain);
    exercise(&connect(&hostile.url), &HOSTILE);

    let expected: BTreeSet<String> = server()
        .statements(&benign.name)
        .iter()
        .map(|s| shape(s))
        .collect();
    let ran = server().statements(&hostile.name);
    assert!(ran.len() > 20, "the log has the statements: {ran:?}");
    for statement in &ran {
        for word in HOSTILE {
            assert!(!statement.contains(word), "a value became SQL: {statement}");
        }
        for fragment in ["DROP TABLE samples", "DELETE FROM", "pg_sleep", "OR 1=1"] {
            assert!(!statement.contains(fragment), "{statement}");
        }
        assert!(
            expected.contains(&shape(statement)),
            "a statement the adapter does not make ran: {statement}\nthe adapter's own: {expected:#?}"
        );
    }
    // The tables are intact and hold the values as they were given.
    let names = server().psql(&hostile.name, "SELECT count(*) FROM data_points");
    assert_eq!(names, HOSTILE.len().to_string());
    let samples = server().psql(&hostile.name, "SELECT count(*) FROM samples");
    assert_eq!(samples, HOSTILE.len().to_string());
    let stored = server().psql(
        &hostile.name,
        "SELECT name FROM data_points ORDER BY id LIMIT 1",
    );
    assert_eq!(stored, HOSTILE[0]);
}

#[test]
fn a_write_that_fails_halfway_leaves_the_samples_as_they_were() {
    let db = pg_server::database("interrupted");
    let adapter = connect(&db.url);
    let points = adapter
        .define_data_points(&[hourly("a"), hourly("b")])
        .unwrap();
    let (a, b) = (points[0].id.0, points[1].id.0);
    let hours: Vec<i64> = (0..4)
        .map(|h| micros("2026-01-01T00:00:00Z") + h * 3_600_000_000)
        .collect();
    let before = long_frame(
        vec![a, a, a, a, b],
        vec![hours[0], hours[1], hours[2], hours[3], hours[0]],
        vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)],
    )
    .unwrap();
    adapter.write(&before).unwrap();
    let everything = || rows(&adapter.read(&DataPointFilter::default()).unwrap());
    let kept = everything();

    // The first half overwrites and adds samples of `a`; the second half
    // names a data point that does not exist.
    let unknown = long_frame(
        vec![a, a, a, 999_999],
        vec![hours[0], hours[1], hours[3] + 3_600_000_000, hours[0]],
        vec![Some(10.0), Some(20.0), Some(50.0), Some(0.0)],
    )
    .unwrap();
    let err = adapter.write(&unknown).unwrap_err();
    assert!(
        err.to_string().contains("unknown data point id(s) 999999"),
        "{err}"
    );
    assert_eq!(everything(), kept);

    // Here PostgreSQL itself rejects the second half, in the middle of the
    // COPY: a ts before 4713 BC.
    let ancient = micros("2026-01-01T00:00:00Z") - 6_800 * 365 * 24 * 3_600_000_000;
    let failing = long_frame(
        vec![a, a, b, b],
        vec![hours[0], hours[2], hours[1], ancient],
        vec![Some(10.0), Some(30.0), Some(6.0), Some(0.0)],
    )
    .unwrap();
    let err = adapter.write(&failing).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("outside the range PostgreSQL stores"),
        "{err}"
    );
    assert_eq!(everything(), kept);
    // The same when the write replaces nothing, so that its rows are copied
    // straight into the samples table.
    let c = adapter.define_data_points(&[hourly("c")]).unwrap()[0].id.0;
    let later = hours[3] + 7_200_000_000;
    let fresh = long_frame(
        vec![a, c, c],
        vec![later, hours[0], ancient],
        vec![Some(60.0), Some(7.0), Some(0.0)],
    )
    .unwrap();
    let err = adapter.write(&fresh).unwrap_err();
    assert!(
        err.to_string()
            .contains("outside the range PostgreSQL stores"),
        "{err}"
    );
    assert_eq!(everything(), kept);
    // The adapter goes on working after the failures.
    let valid = long_frame(
        vec![a, a, b],
        vec![hours[0], hours[2], hours[1]],
        vec![Some(10.0), Some(30.0), Some(6.0)],
    )
    .unwrap();
    adapter.write(&valid).unwrap();
    assert_eq!(everything().len(), kept.len() + 1);
}

#[test]
fn a_statement_past_the_timeout_is_cancelled_with_a_message_that_says_so() {
    let db = pg_server::database("timeout");
    let adapter = connect(&format!("{}&statement_timeout=100ms", db.url));
    adapter.define_data_points(&[hourly("a")]).unwrap();
    let name = db.name.clone();
    // Another session holds the samples table for a second.
    let holder = std::thread::spawn(move || {
        server().psql(
            &name,
            "BEGIN; LOCK TABLE samples IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1); COMMIT;",
        )
    });
    let locked = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                  WHERE c.relname = 'samples' AND l.mode = 'AccessExclusiveLock' AND l.granted";
    let since = Instant::now();
    while server().psql(&db.name, locked) != "1" {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the lock was not taken"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let err = adapter
        .read(&DataPointFilter::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cancelled") && err.contains("statement_timeout"),
        "{err}"
    );
    holder.join().unwrap();
    assert_eq!(
        adapter.read(&DataPointFilter::default()).unwrap().height(),
        0
    );
}

#[test]
fn the_pool_never_opens_more_connections_than_its_size() {
    let db = pg_server::database("pool");
    let adapter = Arc::new(connect(&format!("{}&pool_size=2", db.url)));
    assert_eq!(adapter.options().pool_size, 2);
    let points = adapter.define_data_points(&[hourly("a")]).unwrap();
    let t = micros("2026-01-01T00:00:00Z");
    std::thread::scope(|scope| {
        for i in 0..6 {
            let adapter = &adapter;
            let id = points[0].id.0;
            scope.spawn(move || {
                for k in 0..10 {
                    let ts = t + (i * 10 + k) * 3_600_000_000;
                    adapter
                        .write(&long_frame(vec![id], vec![ts], vec![Some(1.0)]).unwrap())
                        .unwrap();
                    adapter.read(&DataPointFilter::default()).unwrap();
                }
            });
        }
    });
    assert_eq!(
        adapter.read(&DataPointFilter::default()).unwrap().height(),
        60
    );
    let open = server().psql(
        &db.name,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND application_name = 'algohost'", db.name),
    );
    let open: usize = open.parse().unwrap();
    assert!((1..=2).contains(&open), "{open} connections");
}

/// Copies every data point and sample of `from` into `to`, mapping ids by name.
fn copy_all(from: &dyn Adapter, to: &dyn Adapter) {
    let points = from.data_points(&DataPointFilter::default()).unwrap();
    let stored = to.define_data_points(&points).unwrap();
    let new_id: BTreeMap<i64, i64> = points
        .iter()
        .zip(&stored)
        .map(|(a, b)| (a.id.0, b.id.0))
        .collect();
    let long = from.read(&DataPointFilter::default()).unwrap();
    let ids: Vec<i64> = long
        .column(DATA_POINT_ID)
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .map(|id| new_id[&id])
        .collect();
    let mut mapped = long.clone();
    mapped
        .with_column(Column::new(DATA_POINT_ID.into(), ids))
        .unwrap();
    to.write(&mapped).unwrap();
}

/// The summary and frames of a run that must succeed.
fn run(
    registry: &algohost::registry::Registry,
    algorithm: &str,
    params: Value,
    adapter: Arc<dyn Adapter>,
) -> (Value, BTreeMap<String, DataFrame>) {
    let outcome = runner::execute(registry, request_with(algorithm, params, adapter)).unwrap();
    assert_eq!(
        outcome.run.status,
        RunStatus::Succeeded,
        "{:?}",
        outcome.run.error
    );
    let output = outcome.output.unwrap();
    (output.summary, output.frames)
}

#[test]
fn peak_shaving_and_resample_give_the_same_outputs_as_on_files() {
    let tmp = tempfile::tempdir().unwrap();
    demo::generate(&tmp.path().join("demo")).unwrap();
    let files: Arc<dyn Adapter> = Arc::new(FilesAdapter::open(tmp.path().join("demo")).unwrap());
    let db = pg_server::database("demo");
    let postgres: Arc<dyn Adapter> = Arc::new(connect(&db.url));
    copy_all(&*files, &*postgres);
    assert_eq!(
        rows(&postgres.read(&DataPointFilter::default()).unwrap()),
        rows(&files.read(&DataPointFilter::default()).unwrap())
    );

    let library = target_debug_dir().join("libalgohost_plugin_peak_shaving.so");
    assert!(
        library.exists(),
        "{} is missing: `make test` builds it first",
        library.display()
    );
    let registry = sources::discover(&DiscoveryOptions {
        plugin_paths: vec![library],
        private_copies: false,
    });
    let cases = [
        (
            "peak_shaving",
            json!({"limit_kw": 55, "battery": {"capacity_kwh": 300, "power_kw": 40}}),
        ),
        (
            "resample",
            json!({"names": [demo::LOAD, demo::PV, demo::DAY_AHEAD], "resolution": "P1D"}),
        ),
        (
            "resample",
            json!({"names": [demo::DAY_AHEAD], "resolution": "PT15M", "start": "2026-03-28T12:00:00Z", "end": "2026-03-30T00:00:00Z"}),
        ),
        (
            "resample",
            json!({"names": [demo::LOAD], "resolution": "PT1H", "write_back": true}),
        ),
    ];
    for (algorithm, params) in cases {
        let (files_summary, files_frames) =
            run(&registry, algorithm, params.clone(), files.clone());
        let (pg_summary, pg_frames) = run(&registry, algorithm, params.clone(), postgres.clone());
        assert_eq!(pg_summary, files_summary, "{algorithm} {params}");
        assert_eq!(
            pg_frames.keys().collect::<Vec<_>>(),
            files_frames.keys().collect::<Vec<_>>()
        );
        for (name, frame) in &files_frames {
            assert!(frame.height() > 0, "{algorithm} {name}");
            assert!(
                pg_frames[name].equals_missing(frame),
                "{algorithm} {params}: frame {name} differs"
            );
        }
    }
    // The written-back hourly load is the same in both.
    let hourly_load = |adapter: &Arc<dyn Adapter>| {
        let points = adapter.data_points(&DataPointFilter::default()).unwrap();
        let derived: Vec<&str> = points
            .iter()
            .map(|p| p.name.as_str())
            .filter(|n| n.starts_with(demo::LOAD) && *n != demo::LOAD)
            .collect();
        assert_eq!(derived.len(), 1, "{derived:?}");
        let read = rows(
            &adapter
                .read(&DataPointFilter::default().with_names(derived))
                .unwrap(),
        );
        read.into_iter().map(|r| (r.1, r.2)).collect::<Vec<_>>()
    };
    let written = hourly_load(&files);
    assert_eq!(written.len(), 120 * 24 - 1);
    assert_eq!(hourly_load(&postgres), written);
}

#[test]
fn a_read_of_several_points_runs_two_streams_in_one_snapshot_and_matches_reading_each() {
    let tmp = tempfile::tempdir().unwrap();
    demo::generate(&tmp.path().join("demo")).unwrap();
    let files = FilesAdapter::open(tmp.path().join("demo")).unwrap();
    let db = pg_server::database("streams");
    let postgres = connect(&db.url);
    copy_all(&files, &postgres);

    let all = postgres.read(&DataPointFilter::default()).unwrap();
    let points = postgres.data_points(&DataPointFilter::default()).unwrap();
    assert!(points.len() > 1);
    let mut one_by_one = Vec::new();
    for point in &points {
        let filter = DataPointFilter::default().with_ids([point.id]);
        one_by_one.extend(rows(&postgres.read(&filter).unwrap()));
    }
    one_by_one.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    assert_eq!(rows(&all), one_by_one);
    let statements = server().statements(&db.name);
    assert!(
        statements
            .iter()
            .any(|s| s.contains("pg_export_snapshot()")),
        "a read of {} points used one stream: {statements:#?}",
        points.len()
    );
    assert!(
        statements
            .iter()
            .any(|s| s.starts_with("SET TRANSACTION SNAPSHOT '")),
        "{statements:#?}"
    );
}

/// `algohost ARGS`, its exit code and stderr (no PostgreSQL password from
/// the environment).
fn algohost_cli(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_algohost"))
        .args(args)
        .env_remove("PGPASSWORD")
        .env("PGPASSFILE", "/nonexistent")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `host:port` of the test server.
fn server_address() -> String {
    let url = server().url("postgres");
    let rest = url.split_once('@').unwrap().1;
    rest.split('/').next().unwrap().to_owned()
}

#[test]
fn a_password_with_unescaped_url_characters_is_never_shown_and_the_error_says_to_encode_it() {
    let db = pg_server::database("unescaped");
    let address = server_address();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();

    // The URL does not parse: the export and the server say why, masking
    // everything up to the last `@`.
    server().role_with_password("eng", "p@ss:w/rd%x");
    let url = format!("postgres://eng:p@ss:w/rd%x@{address}/{}", db.name);
    let store = dir.path().join("runs.db");
    for args in [
        vec!["data", "export", "--from", &url, "--to", out],
        vec![
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--data",
            &url,
            "--store",
            store.to_str().unwrap(),
        ],
    ] {
        let (code, stderr) = algohost_cli(&args);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("postgres://eng:***@{address}/{}", db.name)),
            "{stderr}"
        );
        for part in ["p@ss", "ss:w", "w/rd", "rd%x"] {
            assert!(!stderr.contains(part), "{part} shown: {stderr}");
        }
        assert!(
            stderr.contains("percent-encode them in the URL (@ → %40, : → %3A, / → %2F")
                && stderr.contains("PGPASSWORD or ~/.pgpass"),
            "{stderr}"
        );
    }
    // Encoded, the same password works.
    let encoded = format!("postgres://eng:p%40ss%3Aw%2Frd%25x@{address}/{}", db.name);
    connect(&format!("{encoded}?sslmode=disable"));

    // This one parses, into another password and parameters of its own:
    // the server refuses it, and neither part is shown.
    server().role_with_password("eng2", "ab?sslmode=disable&x=cd");
    let url = format!(
        "postgres://eng2:ab?sslmode=disable&x=cd@{address}/{}",
        db.name
    );
    let (code, stderr) = algohost_cli(&["data", "export", "--from", &url, "--to", out]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--from postgres://eng2:***@{address}/{}", db.name))
            && stderr.contains("password authentication failed")
            && stderr.contains("percent-encode"),
        "{stderr}"
    );
    for part in ["ab?", "x=cd", "sslmode=disable&"] {
        assert!(!stderr.contains(part), "{part} shown: {stderr}");
    }
}

/// The tables of `schema` in `database`, by name.
fn tables(database: &str, schema: &str) -> String {
    server().psql(
        database,
        &format!(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables \
             WHERE schemaname = '{schema}'"
        ),
    )
}

#[test]
fn exporting_from_a_database_without_algohost_tables_creates_none_and_says_so() {
    let db = pg_server::database("wrongdb");
    server().psql(
        &db.name,
        "CREATE TABLE meter_readings (ts timestamptz, kw float8)",
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let export = || {
        algohost_cli(&[
            "data",
            "export",
            "--from",
            &db.url,
            "--to",
            out.to_str().unwrap(),
        ])
    };
    let (code, stderr) = export();
    assert_eq!(code, Some(2), "{stderr}");
    let target = db.url.split('?').next().unwrap();
    assert!(
        stderr.contains(&format!(
            "{target} has no algohost tables (data_points, samples); import data first \
             (algohost data import --to URL) or check the database name"
        )),
        "{stderr}"
    );
    assert_eq!(tables(&db.name, "public"), "meter_readings");
    assert!(!out.exists());
    let err = PostgresAdapter::connect_existing(&db.url)
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no algohost tables"), "{err}");

    // Once imported into, it is a source.
    let demo = dir.path().join("demo");
    demo::generate(&demo).unwrap();
    let (code, stderr) = algohost_cli(&[
        "data",
        "import",
        "--from",
        demo.to_str().unwrap(),
        "--to",
        &db.url,
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stderr) = export();
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn a_database_with_a_samples_table_of_its_own_takes_algohost_in_a_schema_of_its_own() {
    let db = pg_server::database("ownschema");
    server().psql(
        &db.name,
        "CREATE TABLE samples (ts timestamptz, kw float8); INSERT INTO samples VALUES (now(), 1)",
    );
    let err = PostgresAdapter::connect(&db.url).unwrap_err().to_string();
    assert!(
        err.contains("relation \"samples\" already exists")
            && err.contains("the database has a table named data_points or samples of its own")
            && err.contains("CREATE SCHEMA algohost")
            && err.contains("?options=-c%20search_path%3Dalgohost"),
        "{err}"
    );
    // The failed migration left nothing behind.
    assert_eq!(tables(&db.name, "public"), "samples");

    // The schema must exist first: algohost does not create it.
    let url = format!("{}&options=-c%20search_path%3Dalgohost", db.url);
    let err = PostgresAdapter::connect(&url).unwrap_err().to_string();
    assert!(
        err.contains("no schema has been selected to create in")
            && err.contains("create it first (CREATE SCHEMA algohost"),
        "{err}"
    );
    server().psql(&db.name, "CREATE SCHEMA algohost");
    let adapter = connect(&url);
    let id = adapter.define_data_points(&[hourly("a")]).unwrap()[0].id.0;
    adapter
        .write(
            &long_frame(
                vec![id],
                vec![micros("2026-01-01T00:00:00Z")],
                vec![Some(2.0)],
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        adapter.read(&DataPointFilter::default()).unwrap().height(),
        1
    );
    assert_eq!(
        tables(&db.name, "algohost"),
        "algohost_schema_migrations,data_points,samples"
    );
    assert_eq!(tables(&db.name, "public"), "samples");
    assert_eq!(
        server().psql(&db.name, "SELECT kw FROM public.samples"),
        "1"
    );
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// From now on, forwards every connection to 127.0.0.1:`port` to the test
/// server, as if PostgreSQL had come up there.
fn forward_to_the_server(port: u16) {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let upstream = server_address();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let pairs = [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ];
            for (mut from, mut into) in pairs {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(Shutdown::Write);
                });
            }
        }
    });
}

#[test]
fn serve_waits_at_start_up_for_postgresql_to_come_up_and_exits_with_code_1_if_it_does_not() {
    let db = pg_server::database("startup");
    let port = free_port();
    let url = format!(
        "postgres://algohost@127.0.0.1:{port}/{}?sslmode=disable",
        db.name
    );
    let target = format!("postgres://algohost@127.0.0.1:{port}/{}", db.name);
    let scratch = Scratch::new();

    // It does not come up: a warning per attempt, then exit code 1 (not 2,
    // a usage error).
    let out = scratch
        .command_with_data(&format!("{url}&connect_retries=2"), &[])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for attempt in ["(attempt 1 of 3)", "(attempt 2 of 3)"] {
        assert!(
            stderr.contains(&format!("PostgreSQL at {target} is not up yet ("))
                && stderr.contains(attempt),
            "{stderr}"
        );
    }
    assert!(
        stderr.contains(&format!(
            "error: --data {url}&connect_retries=2: data: cannot connect to PostgreSQL at {target} (3 attempts): "
        )) && stderr.contains("check that the server runs"),
        "{stderr}"
    );

    // It comes up a moment after the server started: the server waits
    // for it, then serves.
    let coming = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        forward_to_the_server(port);
    });
    let front = scratch.start_with_data(&url, &[]);
    coming.join().unwrap();
    assert_eq!(front.get("/data-points").status, 200);
    assert!(front.logs().contains("is not up yet"), "{}", front.logs());
}

#[test]
fn url_parameters_and_missing_rights_get_errors_that_name_them() {
    let db = pg_server::database("params");
    let bad = |url: &str| PostgresAdapter::connect(url).unwrap_err().to_string();
    // An unknown parameter is named.
    let err = bad(&format!("{}&bogus=1", db.url));
    assert!(
        err.contains("unknown option `bogus`") && err.contains("pool_size, pool_timeout"),
        "{err}"
    );
    // `?port=` is the port of a host given without one.
    let address = server_address();
    let (host, port) = address.split_once(':').unwrap();
    let url = format!(
        "postgres://algohost@{host}/{}?sslmode=disable&port={port}",
        db.name
    );
    assert_eq!(
        connect(&url).target(),
        format!("postgres://algohost@{address}/{}", db.name)
    );

    // A role that may not create tables, on a database without them.
    let empty = pg_server::database("noddl");
    server().psql(
        &empty.name,
        &format!(
            "CREATE ROLE algohost_noddl LOGIN; GRANT CONNECT ON DATABASE {} TO algohost_noddl; \
             REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            empty.name
        ),
    );
    let err = bad(&empty.url.replace("algohost@", "algohost_noddl@"));
    assert!(
        err.contains("permission denied for schema public")
            && err.contains(
                "the database has no algohost tables yet and this role may not create them"
            )
            && err.contains("GRANT CREATE ON SCHEMA public"),
        "{err}"
    );
}
