//! The dylib source through real libraries: the fixture plugins under
//! `tests/fixtures/plugins/`, built by cargo into this test's target
//! directory. The good plugin round-trips frames cell by cell; each
//! deliberately broken library becomes its diagnostic while the good one
//! keeps working.
//!
//! The fixtures are built on first use (`cargo build --workspace
//! --all-targets`, as `make build`, with this test's target directory and
//! profile), which is a no-op when `make test` or an earlier run has built
//! them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use algohost::adapters::Adapter;
use algohost::registry::{Diagnostic, Invoker, Registry, Source};
use algohost::runner::{self, RunObserver, RunOutcome, RunStatus};
use algohost::sources::dylib;
use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, FlowFilter, Quantity, Resolution,
};
use algohost_sdk::polars::prelude::*;
use algohost_sdk::{Context, Manifest, Output};
use serde_json::{Value, json};

use crate::common::{request_with, target_debug_dir};

/// The fixture library `name` (e.g. `panic-on-load`), built if needed.
fn fixture(name: &str) -> PathBuf {
    let file = format!(
        "{}algohost_fixture_{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    fixtures_dir().join(file)
}

/// Builds every fixture once per test process, into this test's target
/// directory (`<target>/<profile>/deps/it-…` → `<target>/<profile>/`).
fn fixtures_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_debug_dir();
        let target = dir.parent().expect("the target directory");
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut build = Command::new(cargo);
        // The whole workspace, as `make build` builds it: building only the
        // fixtures (`-p …`) unifies the SDK's features differently, so cargo
        // would relink every plugin library while other tests copy them.
        build
            .args([
                "build",
                "--quiet",
                "--workspace",
                "--all-targets",
                "--profile",
                profile,
            ])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        let status = build
            .status()
            .expect("run cargo to build the fixture plugins");
        assert!(
            status.success(),
            "building the fixture plugins failed: {status}"
        );
        dir
    })
}

/// Samples in long form: one data point, three intervals, one null.
fn samples() -> DataFrame {
    let ts = Int64Chunked::from_slice("ts".into(), &[0, 900_000_000, 1_800_000_000])
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column();
    DataFrame::new_infer_height(vec![
        Column::new("data_point_id".into(), [1i64, 1, 1]),
        ts,
        Column::new("value".into(), [Some(1.5f64), None, Some(-2.0)]),
    ])
    .unwrap()
}

/// An adapter in memory: one data point (`site.load`), [`samples`], and
/// whatever the run writes.
#[derive(Default)]
struct MemoryAdapter {
    written: Mutex<Vec<DataFrame>>,
}

impl Adapter for MemoryAdapter {
    fn data_points(&self, filter: &DataPointFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        let load = DataPointConfig {
            id: DataPointId(1),
            ..DataPointConfig::new("site.load", Quantity::Power, "kW", Resolution::Seconds(900))
        };
        Ok([load].into_iter().filter(|p| filter.matches(p)).collect())
    }
    fn read(&self, _: &DataPointFilter) -> algohost_sdk::Result<DataFrame> {
        Ok(samples())
    }
    fn write(&self, long: &DataFrame) -> algohost_sdk::Result<()> {
        self.written.lock().unwrap().push(long.clone());
        Ok(())
    }
    fn flows(&self, _: &FlowFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        Ok(Vec::new())
    }
    fn define_data_points(
        &self,
        points: &[DataPointConfig],
    ) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        Ok(points
            .iter()
            .map(|p| DataPointConfig {
                id: DataPointId(7),
                ..p.clone()
            })
            .collect())
    }
}

/// Records progress, and cancels the run when told to at a message.
#[derive(Default)]
struct Observer {
    progress: Mutex<Vec<(f64, String)>>,
    cancel_at: Option<(String, runner::CancelToken)>,
}

impl RunObserver for Observer {
    fn progress(&self, fraction: f64, message: &str) {
        self.progress
            .lock()
            .unwrap()
            .push((fraction, message.to_owned()));
        if let Some((at, token)) = &self.cancel_at
            && at == message
        {
            token.cancel();
        }
    }
}

fn registry_with(paths: &[PathBuf]) -> Registry {
    let mut registry = Registry::new();
    dylib::discover(&mut registry, paths, false);
    registry
}

fn execute(registry: &Registry, algorithm: &str, params: Value) -> RunOutcome {
    runner::execute(
        registry,
        request_with(algorithm, params, Arc::new(MemoryAdapter::default())),
    )
    .unwrap()
}

/// Where `code` is in `file` (a path from the workspace root, as cargo gives
/// it to rustc) as a panic there reports it: `file:line:column`.
fn location_of(file: &str, code: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(file)).unwrap();
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, line)| line.contains(code))
        .unwrap_or_else(|| panic!("no `{code}` in {file}"));
    let column = line.find(code).unwrap() + 1;
    format!("{file}:{}:{column}", index + 1)
}

/// Where the echo fixture's `panics` panics.
fn echo_panic_location() -> String {
    location_of(
        "tests/fixtures/plugins/echo/src/lib.rs",
        r#"panic!("echo fixture: deliberate panic")"#,
    )
}

fn diagnostic_for<'a>(registry: &'a Registry, library: &Path) -> &'a Diagnostic {
    let location = library.display().to_string();
    registry
        .diagnostics()
        .iter()
        .find(|d| d.location == location)
        .unwrap_or_else(|| {
            panic!(
                "no diagnostic for {location}: {:#?}",
                registry.diagnostics()
            )
        })
}

struct Nop;

impl Invoker for Nop {
    fn invoke(&self, _: &Context, _: Value) -> algohost_sdk::Result<Output> {
        Ok(Output::new())
    }
}

/// Every cell of a column, in order.
fn cells<'a, T>(column: &'a ChunkedArray<T>) -> Vec<Option<T::Physical<'a>>>
where
    T: PolarsDataType,
{
    (0..column.len()).map(|i| column.get(i)).collect()
}

#[cfg(unix)]
#[test]
fn each_broken_library_is_a_diagnostic_and_the_good_plugin_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "abi-major",
        "abi-minor",
        "no-symbol",
        "panic-on-load",
        "duplicate",
    ] {
        let library = fixture(name);
        std::os::unix::fs::symlink(&library, dir.path().join(library.file_name().unwrap()))
            .unwrap();
    }
    let not_a_library = dir
        .path()
        .join(format!("notes{}", std::env::consts::DLL_SUFFIX));
    std::fs::write(&not_a_library, "not a library, just text").unwrap();
    std::fs::write(dir.path().join("README.txt"), "ignored: not a library name").unwrap();

    // The stock binary has a builtin `resample`; the duplicate plugin brings another.
    let mut registry = Registry::new();
    let resample = Manifest {
        name: "resample".into(),
        version: "1.0.0".into(),
        description: String::new(),
        params_schema: json!({"type": "object"}),
        outputs: vec![],
        idempotent: false,
    };
    registry.add(resample, Source::Builtin, Arc::new(Nop));
    // The good plugin first, then the directory (scanned in name order).
    dylib::discover(
        &mut registry,
        &[fixture("echo"), dir.path().to_path_buf()],
        false,
    );

    let in_dir = |name: &str| dir.path().join(fixture(name).file_name().unwrap());
    let d = diagnostic_for(&registry, &in_dir("abi-major"));
    assert_eq!(d.source, "dylib");
    assert_eq!(
        d.reason,
        "built for algohost plugin ABI 2.x; this host speaks 1.0"
    );
    assert_eq!(
        d.hint,
        "rebuild the plugin against algohost-sdk 0.1.x (plugin ABI 1.0)"
    );
    let d = diagnostic_for(&registry, &in_dir("abi-minor"));
    assert_eq!(
        d.reason,
        "built for algohost plugin ABI 1.99, newer than this host's 1.0"
    );
    assert!(
        d.hint.contains("use a host that speaks plugin ABI 1.99"),
        "{}",
        d.hint
    );
    let d = diagnostic_for(&registry, &in_dir("no-symbol"));
    assert_eq!(
        d.reason,
        "no algohost_plugin_v1 symbol: not an algohost plugin, or built without algohost_sdk::export_plugin!()"
    );
    assert!(d.hint.contains("export_plugin!()"), "{}", d.hint);
    let d = diagnostic_for(&registry, &in_dir("panic-on-load"));
    let location = location_of("tests/fixtures/plugins/panic-on-load/src/lib.rs", "panic!(");
    assert_eq!(
        d.reason,
        format!(
            "the plugin failed to load: building the manifest of 'cursed' panicked at {location}: \
             panic-on-load fixture: this schema cannot be built"
        )
    );
    let d = diagnostic_for(&registry, &not_a_library);
    assert!(
        d.reason.starts_with("cannot load the library: "),
        "{}",
        d.reason
    );
    assert!(
        d.hint.contains("only algohost plugin libraries"),
        "{}",
        d.hint
    );

    let duplicates: Vec<&str> = registry
        .diagnostics()
        .iter()
        .filter(|d| d.location == in_dir("duplicate").display().to_string())
        .map(|d| d.reason.as_str())
        .collect();
    assert_eq!(duplicates.len(), 2, "{duplicates:?}");
    let echo = format!("from dylib {} is registered", fixture("echo").display());
    assert!(
        duplicates
            .iter()
            .any(|r| r.starts_with("duplicate algorithm name 'echo_frames'") && r.contains(&echo)),
        "{duplicates:?}"
    );
    assert!(
        duplicates.iter().any(
            |r| r.starts_with("duplicate algorithm name 'resample': version ")
                && r.contains(" from builtin is registered; version ")
        ),
        "{duplicates:?}"
    );
    assert_eq!(
        registry.diagnostics().len(),
        7,
        "{:#?}",
        registry.diagnostics()
    );

    // The first registrations stay, and the good plugin still runs.
    assert_eq!(registry.get("resample").unwrap().source, Source::Builtin);
    let echo_frames = registry.get("echo_frames").unwrap();
    assert_eq!(
        echo_frames.source,
        Source::Dylib {
            path: fixture("echo")
        }
    );
    assert_eq!(echo_frames.manifest.version, "1.0.0");
    assert_eq!(
        execute(&registry, "echo_frames", json!({})).run.status,
        RunStatus::Succeeded
    );
    assert!(registry.get("cursed").is_err());
}

#[test]
fn manifests_come_from_the_library() {
    let registry = registry_with(&[fixture("echo")]);
    let names: Vec<&str> = registry
        .algorithms()
        .map(|a| a.manifest.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "echo_frames",
            "fails",
            "frame_passthrough",
            "noop_dylib",
            "panics",
            "series",
            "waits_for_cancel"
        ]
    );
    let echo = &registry.get("echo_frames").unwrap().manifest;
    assert!(
        echo.description.starts_with("Reads the selected samples"),
        "{}",
        echo.description
    );
    assert_eq!(echo.outputs[0].columns, ["data_point_id", "ts", "value"]);
    assert_eq!(echo.params_schema["properties"]["names"]["type"], "array");
    assert!(
        registry.diagnostics().is_empty(),
        "{:#?}",
        registry.diagnostics()
    );
    // Params are validated against the plugin's schema before it runs.
    let err = runner::execute(
        &registry,
        request_with(
            "echo_frames",
            json!({"names": 3}),
            Arc::new(MemoryAdapter::default()),
        ),
    );
    assert!(err.unwrap_err().to_string().contains("/names"));
}

#[test]
fn frames_round_trip_cell_by_cell_through_the_real_library() {
    let registry = registry_with(&[fixture("echo")]);
    let adapter = Arc::new(MemoryAdapter::default());
    let observer = Arc::new(Observer::default());
    let mut req = request_with(
        "echo_frames",
        json!({"names": ["site.load"]}),
        adapter.clone(),
    );
    req.observer = observer.clone();
    let RunOutcome { run, output } = runner::execute(&registry, req).unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(
        run.summary,
        json!({
            "rows": 3, "data_points": 1, "defined_id": 7, "run_id": run.id.to_string(),
            "algorithm": "echo_frames", "has_deadline": false,
        })
    );
    assert_eq!(run.frames, ["echo", "types"]);

    // What the plugin read, wrote and returned is what the host holds.
    let output = output.unwrap();
    for frame in [&output.frames["echo"], &adapter.written.lock().unwrap()[0]] {
        assert_eq!(frame.schema(), samples().schema());
        assert!(frame.equals_missing(&samples()), "{frame}");
    }

    // Every column type built inside the plugin, cell by cell.
    let types = &output.frames["types"];
    let column = |name: &str| types.column(name).unwrap().as_materialized_series().clone();
    let int: Vec<Option<i64>> = cells(column("int").i64().unwrap());
    assert_eq!(int, [Some(1), None, Some(i64::MIN)]);
    let float: Vec<Option<f64>> = cells(column("float").f64().unwrap());
    assert_eq!(float, [Some(0.5), None, Some(-1e300)]);
    let text_column = column("text");
    let text_column = text_column.str().unwrap();
    let text: Vec<Option<&str>> = (0..3).map(|i| text_column.get(i)).collect();
    assert_eq!(text, [Some("Grüße aus Köln ⚡"), None, Some("東京")]);
    let flag: Vec<Option<bool>> = cells(column("flag").bool().unwrap());
    assert_eq!(flag, [Some(true), Some(false), None]);
    let dst = 1_711_846_800_000_000i64;
    for (name, tz, expected) in [
        ("local", "Europe/Berlin", [Some(dst), None, Some(0)]),
        ("utc", "UTC", [Some(dst), Some(-1), None]),
    ] {
        let series = column(name);
        let tz = TimeZone::opt_try_new(Some(tz)).unwrap();
        assert_eq!(
            series.dtype(),
            &DataType::Datetime(TimeUnit::Microseconds, tz),
            "{name}"
        );
        let micros: Vec<Option<i64>> = cells(series.datetime().unwrap().physical());
        assert_eq!(micros, expected, "{name}");
    }

    // Logging and progress crossed the boundary too.
    let log = run
        .logs
        .iter()
        .find(|l| l.message == "echoing samples")
        .expect("the plugin's log record");
    assert_eq!(
        (log.level.as_str(), log.target.as_str()),
        ("info", "algohost_fixture_echo")
    );
    assert_eq!(log.fields["selected"], 1);
    let progress = observer.progress.lock().unwrap().clone();
    let expected = [(0.25, "reading"), (0.5, "writing"), (1.0, "done")];
    assert_eq!(progress, expected.map(|(f, m)| (f, m.to_owned())));
}

#[test]
fn a_panicking_plugin_and_a_failing_one_fail_their_runs_with_the_messages() {
    let registry = registry_with(&[fixture("echo")]);
    let run = execute(&registry, "panics", json!({})).run;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert_eq!(error.kind, "panic");
    assert_eq!(
        error.message,
        format!(
            "the plugin panicked at {}: echo fixture: deliberate panic",
            echo_panic_location()
        )
    );

    let failed = execute(&registry, "fails", json!({})).run;
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.unwrap();
    assert_eq!(
        (error.kind.as_str(), error.message.as_str()),
        ("data", "data: echo fixture: the data source is gone")
    );

    let next = execute(&registry, "echo_frames", json!({})).run;
    assert_eq!(next.status, RunStatus::Succeeded);
}

/// `algohost run` of the panicking fixture, with `RUST_BACKTRACE` set to
/// `backtrace` or unset.
fn algohost_run_panics(backtrace: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_algohost"));
    command
        .args(["run", "panics"])
        .env("ALGOHOST_PLUGIN_PATH", fixture("echo"))
        .env_remove("ALGOHOST_DATA")
        .env_remove("ALGOHOST_LOG")
        .env_remove("VIRTUAL_ENV")
        .env_remove("RUST_BACKTRACE");
    if let Some(backtrace) = backtrace {
        command.env("RUST_BACKTRACE", backtrace);
    }
    command.output().unwrap()
}

#[test]
fn algohost_run_says_once_where_a_plugin_panicked() {
    let out = algohost_run_panics(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The run's error is the report; the panic hook adds no second one.
    let expected = format!(
        " of panics failed: the plugin panicked at {}: echo fixture: deliberate panic",
        echo_panic_location()
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let with_hint = format!("{expected} (RUST_BACKTRACE=1 shows a backtrace)");
    assert!(
        matches!(lines[..], [line] if line.starts_with("error: run ") && line.ends_with(&with_hint)),
        "{stderr}"
    );

    // A backtrace asked for is still printed, by Rust's own hook.
    let out = algohost_run_panics(Some("1"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stack backtrace:"), "{stderr}");
    assert!(stderr.trim_end().ends_with(&expected), "{stderr}");
}

#[test]
fn a_cancelled_run_returns_cancelled_and_the_next_run_works() {
    let registry = registry_with(&[fixture("echo")]);
    let mut req = request_with(
        "waits_for_cancel",
        json!({}),
        Arc::new(MemoryAdapter::default()),
    );
    req.timeout = Some(Duration::from_secs(120));
    req.observer = Arc::new(Observer {
        cancel_at: Some(("waiting to be cancelled".to_owned(), req.cancel.clone())),
        ..Observer::default()
    });
    let run = runner::execute(&registry, req).unwrap().run;
    assert_eq!(run.status, RunStatus::Cancelled, "{:?}", run.error);
    assert_eq!(run.error.unwrap().kind, "cancelled");
    assert_eq!(run.progress, 0.1);

    let next = execute(&registry, "echo_frames", json!({})).run;
    assert_eq!(next.status, RunStatus::Succeeded);
}

#[test]
fn a_plugin_that_sees_its_deadline_times_out() {
    let registry = registry_with(&[fixture("echo")]);
    let mut req = request_with(
        "waits_for_cancel",
        json!({}),
        Arc::new(MemoryAdapter::default()),
    );
    req.timeout = Some(Duration::from_millis(50));
    let run = runner::execute(&registry, req).unwrap().run;
    assert_eq!(run.status, RunStatus::TimedOut, "{:?}", run.error);
    assert_eq!(run.error.unwrap().kind, "timed_out");
}

#[test]
fn a_library_listed_twice_loads_once() {
    let registry = registry_with(&[fixture("echo"), fixture("echo")]);
    assert!(
        registry.diagnostics().is_empty(),
        "{:#?}",
        registry.diagnostics()
    );
    assert_eq!(registry.algorithms().count(), 7);
}

/// `cp new.so plugins/` rewrites a library file in place: a server that
/// had mapped that file would crash on its next call. The server loads
/// each library from a copy, so it keeps running the code it loaded.
#[test]
fn a_library_rewritten_in_place_under_a_running_server_keeps_its_code() {
    let scratch = crate::server::Scratch::new();
    let server = scratch.start(&[]);
    let run_noop = || {
        let id = server.submit("noop_dylib", json!({"limit_kw": 1, "mode": "fast"}));
        server.wait_for(&id, |status| status != "queued" && status != "running")["status"].clone()
    };
    assert_eq!(run_noop(), "succeeded");
    // Another library's bytes written into the same file (same inode).
    let loaded = scratch.path().join("plugins/libalgohost_fixture_echo.so");
    let other =
        std::fs::read(target_debug_dir().join("libalgohost_plugin_peak_shaving.so")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&loaded)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &other))
        .unwrap();
    assert_eq!(run_noop(), "succeeded");
    assert_eq!(server.get("/health").status, 200);
}
