//! The runner core: statuses, messages, and that the host survives plugins
//! that panic, fail, ignore cancellation or run past their deadline.

use std::sync::Arc;
use std::time::Duration;

use algohost::adapters::Adapter as _;
use algohost::adapters::files::FilesAdapter;
use algohost::registry::Registry;
use algohost::runner::{self, RunRejected, RunStatus};
use algohost::sources::builtin;
use algohost_sdk::polars::prelude::{Int64Chunked, NewChunkedArray};
use algohost_sdk::polars::prelude::{IntoColumn, TimeUnit, TimeZone};
use algohost_sdk::prelude::*;
use serde_json::json;

use crate::common::{request, request_with};

#[derive(Deserialize, JsonSchema)]
struct Empty {}

/// Where `test_panics` panics, as Rust reports it: `file:line:column`.
fn test_panics_location() -> String {
    format!("{}:{}:5", file!(), TEST_PANICS_LINE)
}
const TEST_PANICS_LINE: u32 = line!() + 5;

/// Panics with a known message.
#[algorithm(name = "test_panics", version = "1.0.0")]
fn test_panics(_ctx: &Context, _p: Empty) -> Result<Output> {
    panic!("the battery exploded");
}

/// Returns an error.
#[algorithm(name = "test_fails", version = "1.0.0")]
fn test_fails(_ctx: &Context, _p: Empty) -> Result<Output> {
    Err(Error::InvalidInput("load has 3 missing intervals".into()))
}

/// Gives up at a deadline of its own.
#[algorithm(name = "test_own_deadline", version = "1.0.0")]
fn test_own_deadline(_ctx: &Context, _p: Empty) -> Result<Output> {
    Err(Error::DeadlineExceeded)
}

#[derive(Deserialize, JsonSchema)]
struct Loop {
    /// Poll the context (true) or ignore it (false).
    cooperative: bool,
}

/// Loops until cancelled (cooperative) or for 3 seconds (not cooperative).
#[algorithm(name = "test_loops", version = "1.0.0")]
fn test_loops(ctx: &Context, p: Loop) -> Result<Output> {
    info!("looping");
    ctx.progress(0.25, "looping");
    for _ in 0..300 {
        if p.cooperative {
            ctx.check()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Output::new())
}

#[derive(Deserialize, JsonSchema)]
struct Add {
    /// First term.
    a: f64,
    /// Second term.
    #[serde(default)]
    b: f64,
}

/// Adds two numbers.
#[algorithm(name = "test_add", version = "1.2.3", outputs = ["sum: x"])]
fn test_add(ctx: &Context, p: Add) -> Result<Output> {
    info!(a = p.a, "adding");
    ctx.progress(0.5, "half way");
    ctx.progress(0.2, "backwards is ignored");
    let frame = DataFrame::new_infer_height(vec![Column::new("x".into(), [p.a + p.b])])?;
    Ok(Output::new()
        .with_summary(json!({"sum": p.a + p.b}))
        .with_frame("sum", frame))
}

#[derive(Deserialize, JsonSchema)]
struct Returns {
    /// The name of the frame to return.
    frame: String,
    /// Its one column.
    column: String,
}

/// Returns one frame, named and with a column as the params say.
#[algorithm(name = "test_returns", version = "1.0.0", outputs = ["schedule: ts, battery_kw"])]
fn test_returns(_ctx: &Context, p: Returns) -> Result<Output> {
    let frame = DataFrame::new_infer_height(vec![Column::new(p.column.into(), [1.0])])?;
    Ok(Output::new().with_frame(p.frame, frame))
}

#[derive(Deserialize, JsonSchema)]
struct Late {
    /// How long to sleep, ignoring cancellation, before writing.
    sleep_ms: u64,
    /// Whether to write at all.
    #[serde(default = "yes")]
    write: bool,
}

fn yes() -> bool {
    true
}

/// What `test_writes_late`'s write returned, once it tried.
static LATE_WRITE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Defines `late.x`, sleeps without polling the context, then writes a
/// sample to it (or, told not to write, only sleeps).
#[algorithm(name = "test_writes_late", version = "1.0.0")]
fn test_writes_late(ctx: &Context, p: Late) -> Result<Output> {
    let point = DataPointConfig::new("late.x", Quantity::Power, "kW", Resolution::Seconds(900));
    if p.write {
        ctx.define_data_points(&[point])?;
    }
    std::thread::sleep(Duration::from_millis(p.sleep_ms));
    if !p.write {
        return Ok(Output::new());
    }
    let ts = Int64Chunked::from_slice("ts".into(), &[0])
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column();
    let wide = DataFrame::new_infer_height(vec![ts, Column::new("late.x".into(), [1.0])])?;
    let written = ctx.write(&wide);
    *LATE_WRITE.lock().unwrap() = Some(match &written {
        Ok(()) => "written".to_owned(),
        Err(e) => e.to_string(),
    });
    written?;
    Ok(Output::new())
}

#[derive(Deserialize, JsonSchema)]
struct Names {
    /// The names of the frames to return.
    frames: Vec<String>,
}

/// Returns a one-cell frame under each name it is given; declares none.
#[algorithm(name = "test_names_frames", version = "1.0.0")]
fn test_names_frames(_ctx: &Context, p: Names) -> Result<Output> {
    let mut output = Output::new();
    for name in p.frames {
        let frame = DataFrame::new_infer_height(vec![Column::new("x".into(), [1.0])])?;
        output = output.with_frame(name, frame);
    }
    Ok(output)
}

fn registry() -> Registry {
    let mut r = Registry::new();
    builtin::discover(&mut r);
    r
}

#[test]
fn a_successful_run_keeps_summary_frames_logs_and_progress() {
    let outcome =
        runner::execute(&registry(), request("test_add", json!({"a": 2, "b": 3.5}))).unwrap();
    let run = outcome.run;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.version, "1.2.3");
    assert_eq!(run.summary, json!({"sum": 5.5}));
    assert_eq!(run.frames, ["sum"]);
    assert_eq!(run.progress, 1.0);
    assert_eq!(run.progress_message, "backwards is ignored");
    let log = &run.logs[0];
    assert_eq!(
        (log.level.as_str(), log.message.as_str()),
        ("info", "adding")
    );
    assert_eq!(log.fields["a"], json!(2.0));
    let frame = &outcome.output.unwrap().frames["sum"];
    assert_eq!(frame.column("x").unwrap().f64().unwrap().get(0), Some(5.5));
    assert_eq!(run.id.get_version_num(), 7);
}

#[test]
fn frames_the_outputs_do_not_declare_fail_the_run_naming_them() {
    let run = |frame: &str, column: &str| {
        let params = json!({"frame": frame, "column": column});
        runner::execute(&registry(), request("test_returns", params))
            .unwrap()
            .run
    };
    let stray = run("schedul", "battery_kw");
    assert_eq!(stray.status, RunStatus::Failed);
    assert_eq!(
        stray.error.unwrap().message,
        "the algorithm returned a frame 'schedul', which its outputs do not declare (they \
         declare: schedule); declare it or rename the frame"
    );
    assert!(stray.frames.is_empty());
    let short = run("schedule", "battery_kw");
    assert_eq!(short.status, RunStatus::Failed);
    assert_eq!(
        short.error.unwrap().message,
        "the algorithm's frame 'schedule' lacks the declared column(s) ts (it has: \
         battery_kw); return them or change the declared columns"
    );
    // Names that would leave an output directory are refused whatever the
    // outputs declare.
    for name in ["../escaped", "/tmp/abs", "a:b*?", ".hidden", ""] {
        let params = json!({"frames": [name]});
        let run = runner::execute(&registry(), request("test_names_frames", params))
            .unwrap()
            .run;
        assert_eq!(run.status, RunStatus::Failed, "{name}");
        assert_eq!(
            run.error.unwrap().message,
            format!(
                "the algorithm returned a frame named {name:?}, which is not a plain name: frame \
                 names become file names and URL segments, so they are letters, digits, '_', '-' \
                 and '.' (not first), up to 128 of them"
            )
        );
    }
    let params = json!({"frames": ["daily-2026.03", "x"]});
    let named = runner::execute(&registry(), request("test_names_frames", params))
        .unwrap()
        .run;
    assert_eq!(named.frames, ["daily-2026.03", "x"]);
    // Frames as declared (columns and all) pass.
    let summed = runner::execute(&registry(), request("test_add", json!({"a": 1})))
        .unwrap()
        .run;
    assert_eq!(summed.frames, ["sum"]);
}

#[test]
fn invalid_params_are_rejected_before_the_plugin_runs() {
    let err =
        runner::execute(&registry(), request("test_add", json!({"b": "x", "c": 1}))).unwrap_err();
    let RunRejected::InvalidParams { errors, .. } = err else {
        panic!("{err:?}")
    };
    let pointers: Vec<_> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert!(
        pointers.contains(&"") && pointers.contains(&"/b"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("\"a\" is a required property")),
        "{errors:?}"
    );
}

#[test]
fn an_unknown_algorithm_names_the_close_ones() {
    let err = runner::execute(&registry(), request("test_ad", json!({}))).unwrap_err();
    assert!(err.to_string().contains("did you mean 'test_add'"), "{err}");
}

#[test]
fn a_panic_fails_the_run_with_its_message_and_the_next_run_works() {
    let r = registry();
    let run = runner::execute(&r, request("test_panics", json!({})))
        .unwrap()
        .run;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert_eq!(error.kind, "panic");
    assert_eq!(
        error.message,
        format!(
            "the plugin panicked at {}: the battery exploded",
            test_panics_location()
        )
    );
    let next = runner::execute(&r, request("test_add", json!({"a": 1})))
        .unwrap()
        .run;
    assert_eq!(next.status, RunStatus::Succeeded);
}

/// Set in the child process of [`a_builtin_panic_is_reported_once_on_stderr`].
const CHILD: &str = "ALGOHOST_TEST_PANIC_CHILD";

/// A host that links a panicking algorithm (this test binary, run again as a
/// child) prints the run's error; Rust's panic hook prints nothing more.
#[test]
fn a_builtin_panic_is_reported_once_on_stderr() {
    let name = "runner::a_builtin_panic_is_reported_once_on_stderr";
    if std::env::var_os(CHILD).is_some() {
        let run = runner::execute(&registry(), request("test_panics", json!({})))
            .unwrap()
            .run;
        eprintln!("error: {}", run.error.unwrap().message);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: the plugin panicked at {}: the battery exploded",
            test_panics_location()
        )
    );
}

#[test]
fn an_error_fails_the_run_with_its_message() {
    let run = runner::execute(&registry(), request("test_fails", json!({})))
        .unwrap()
        .run;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert_eq!(error.kind, "invalid_input");
    assert_eq!(error.message, "invalid input: load has 3 missing intervals");
}

#[test]
fn a_plugin_at_a_deadline_of_its_own_says_so() {
    let run = runner::execute(&registry(), request("test_own_deadline", json!({})))
        .unwrap()
        .run;
    assert_eq!(run.status, RunStatus::TimedOut);
    assert_eq!(
        run.error.unwrap().message,
        "the plugin gave up at a deadline of its own; the run had no timeout"
    );
}

#[test]
fn a_cancelled_run_ends_cancelled() {
    let r = registry();
    let mut req = request("test_loops", json!({"cooperative": true}));
    let cancel = req.cancel.clone();
    req.timeout = Some(Duration::from_secs(60));
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        cancel.cancel();
    });
    let run = runner::execute(&r, req).unwrap().run;
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.error.unwrap().message, "the run was cancelled");
    assert_eq!(run.progress, 0.25);
    assert_eq!(run.logs[0].message, "looping");
    let next = runner::execute(&r, request("test_add", json!({"a": 1})))
        .unwrap()
        .run;
    assert_eq!(next.status, RunStatus::Succeeded);
}

#[test]
fn a_run_reported_timed_out_or_cancelled_writes_nothing_after() {
    let samples = |adapter: &FilesAdapter| {
        let filter = DataPointFilter::default().with_names(["late.x"]);
        adapter.read(&filter).unwrap().height()
    };
    let dir = tempfile::tempdir().unwrap();
    let adapter = Arc::new(FilesAdapter::open(dir.path()).unwrap());
    // Timed out at 100 ms; the plugin writes at 400 ms.
    let mut req = request_with(
        "test_writes_late",
        json!({"sleep_ms": 400}),
        adapter.clone(),
    );
    req.timeout = Some(Duration::from_millis(100));
    let run = runner::execute(&registry(), req).unwrap().run;
    assert_eq!(run.status, RunStatus::TimedOut);
    let tried = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(50));
        LATE_WRITE.lock().unwrap().take()
    });
    assert_eq!(tried.as_deref(), Some("run deadline exceeded"));
    assert_eq!(samples(&adapter), 0);
    // Cancelled at 50 ms, a plugin that never polls fails its write and
    // ends cancelled instead of succeeding.
    let req = request_with(
        "test_writes_late",
        json!({"sleep_ms": 300}),
        adapter.clone(),
    );
    let cancel = req.cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        cancel.cancel();
    });
    let run = runner::execute(&registry(), req).unwrap().run;
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(samples(&adapter), 0);
    // Without either, the same plugin writes.
    let req = request_with("test_writes_late", json!({"sleep_ms": 0}), adapter.clone());
    let run = runner::execute(&registry(), req).unwrap().run;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(samples(&adapter), 1);
}

#[test]
fn a_run_past_its_deadline_times_out_cooperative_or_not() {
    let r = registry();
    for cooperative in [true, false] {
        let mut req = request("test_loops", json!({"cooperative": cooperative}));
        req.timeout = Some(Duration::from_millis(200));
        let run = runner::execute(&r, req).unwrap().run;
        assert_eq!(
            run.status,
            RunStatus::TimedOut,
            "cooperative: {cooperative}"
        );
        let error = run.error.unwrap();
        assert_eq!(error.kind, "timed_out");
        assert_eq!(
            error.message,
            "the run did not finish within its timeout of 0.2s"
        );
        // One that checks stops within the grace and is not given up; the
        // one that ignores its deadline runs on, and is counted, until it
        // returns (3 s of loop).
        let abandoned = if cooperative { 0 } else { 1 };
        assert_eq!(
            runner::abandoned_runs(),
            abandoned,
            "cooperative: {cooperative}"
        );
    }
    let next = runner::execute(&r, request("test_add", json!({"a": 1})))
        .unwrap()
        .run;
    assert_eq!(next.status, RunStatus::Succeeded);
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        runner::abandoned_runs() == 0
    });
    assert!(gone, "the abandoned plugin is still counted after 10 s");
}

#[test]
fn a_cancel_the_plugin_never_checks_keeps_its_result_with_a_warning() {
    let mut req = request("test_writes_late", json!({"sleep_ms": 300, "write": false}));
    let cancel = req.cancel.clone();
    req.timeout = None;
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        cancel.cancel();
    });
    let run = runner::execute(&registry(), req).unwrap().run;
    assert_eq!(run.status, RunStatus::Succeeded);
    let warning = run.logs.iter().find(|r| r.level == "warn").unwrap();
    assert_eq!(
        warning.message,
        "the run was asked to cancel but its plugin finished without checking (ctx.check() or \
         ctx.is_cancelled()); its result is kept"
    );
}

#[test]
fn data_access_without_data_says_how_to_give_some() {
    let r = registry();
    let outcome = runner::execute(&r, request("test_add", json!({"a": 1}))).unwrap();
    assert!(outcome.run.error.is_none());
    let ctx_err = algohost::adapters::NoData
        .data_points(&DataPointFilter::default())
        .unwrap_err();
    assert!(ctx_err.to_string().contains("pass --data DIR"), "{ctx_err}");
}
