//! Python algorithms through both front doors — the `algohost` binary
//! embedding CPython (finding the project virtualenv through `VIRTUAL_ENV`)
//! and the `algohost` console command of the pip package — and a Rust
//! algorithm driven from Python; each compared with a native run. Then a
//! real server running Python plugins: a GIL hog does not stall `/health`,
//! cancellation and deadlines end Python runs, and failures stay failures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use algohost::adapters::Adapter;
use algohost::adapters::files::FilesAdapter;
use algohost_sdk::data::DataPointFilter;
use algohost_sdk::polars::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::test_venv;
use crate::server::Scratch;

/// Both front doors, by name, as commands with the virtualenv's plugins.
fn front_doors(venv: &Path) -> [(&'static str, Command); 2] {
    let mut embedded = Command::new(env!("CARGO_BIN_EXE_algohost"));
    embedded.env("VIRTUAL_ENV", venv);
    let pip = Command::new(venv.join("bin").join("algohost"));
    [("embedded", embedded), ("pip", pip)].map(|(name, mut cmd)| {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ALGOHOST_") {
                cmd.env_remove(key);
            }
        }
        (name, cmd)
    })
}

fn output(cmd: &mut Command, args: &[&str]) -> Output {
    cmd.args(args).output().expect("start algohost")
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn demo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    algohost::demo::generate(&data).unwrap();
    (dir, data)
}

fn read_parquet(path: &Path) -> DataFrame {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().unwrap()
}

#[test]
fn both_front_doors_list_python_algorithms_beside_the_rust_ones() {
    let venv = test_venv();
    let mut listings = Vec::new();
    for (door, mut cmd) in front_doors(&venv) {
        let list = stdout_json(&output(&mut cmd, &["list", "--json"]));
        let sources: Vec<(String, String)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_owned(),
                    a["source"]["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (name, kind) in [
            ("resample", "builtin"),
            ("price_arbitrage", "python"),
            ("naive_forecast", "python"),
            ("load_above_threshold", "python"),
            ("py_frames", "python"),
        ] {
            assert!(
                sources.contains(&(name.to_owned(), kind.to_owned())),
                "{door}: {name} ({kind}) missing from {sources:?}"
            );
        }
        listings.push(sources);
    }
    assert_eq!(listings[0], listings[1], "both front doors list the same");
}

#[test]
fn the_binary_says_where_it_looked_for_python_plugins_when_it_found_none() {
    let algohost = |venv: Option<&str>, args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_algohost"));
        cmd.env_remove("VIRTUAL_ENV")
            .env_remove("ALGOHOST_PLUGIN_PATH");
        if let Some(venv) = venv {
            cmd.env("VIRTUAL_ENV", venv);
        }
        output(&mut cmd, args)
    };
    // Unset (as under cron): an unknown name says what to set.
    let out = algohost(None, &["run", "price_arbitrage"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "no Python plugin was found, and VIRTUAL_ENV is not set: set it to the \
             virtualenv the Python plugins are installed in"
        ),
        "{stderr}"
    );
    // Over HTTP the server's environment is not the client's business.
    let scratch = crate::server::Scratch::new();
    let mut serve = scratch.command(&[]);
    serve
        .env_remove("VIRTUAL_ENV")
        .env_remove("ALGOHOST_PLUGIN_PATH");
    let server = crate::server::Server::spawn(serve);
    let problem = server.get("/algorithms/price_arbitrage").problem(404);
    assert_eq!(
        problem["detail"]
            .as_str()
            .map(|d| d.contains("VIRTUAL_ENV")),
        Some(false),
        "{problem}"
    );
    // Set to no virtualenv: a problem `plugins` lists, with the fix.
    let out = algohost(Some("/nonexistent-venv"), &["plugins"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "Python plugins from: nowhere: VIRTUAL_ENV=/nonexistent-venv is not a virtualenv",
        "[python] VIRTUAL_ENV=/nonexistent-venv",
        "fix: set VIRTUAL_ENV to the Python 3.",
    ] {
        assert!(stdout.contains(expected), "{expected} not in:\n{stdout}");
    }
    // Found: where from.
    let venv = test_venv();
    let out = algohost(Some(venv.to_str().unwrap()), &["plugins", "--json"]);
    let found = stdout_json(&out)["python_environment"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(found.ends_with("site-packages (VIRTUAL_ENV)"), "{found}");
}

#[test]
fn a_python_algorithm_run_from_the_cli_matches_reading_the_data_natively() {
    let venv = test_venv();
    let (dir, data) = demo();
    let native = FilesAdapter::open(&data)
        .unwrap()
        .read(&DataPointFilter::default().with_names(["site.load"]))
        .unwrap();
    let native = algohost_sdk::data::to_wide(
        &native,
        &FilesAdapter::open(&data)
            .unwrap()
            .data_points(&DataPointFilter::default().with_names(["site.load"]))
            .unwrap(),
    )
    .unwrap();
    let expected_sum: f64 = native
        .column("site.load")
        .unwrap()
        .as_materialized_series()
        .sum()
        .unwrap();
    for (door, mut cmd) in front_doors(&venv) {
        let out_dir = dir.path().join(door);
        let params = json!({"names": ["site.load"], "factor": 2.0}).to_string();
        let summary = stdout_json(&output(
            &mut cmd,
            &[
                "run",
                "py_frames",
                "--params",
                &params,
                "--data",
                data.to_str().unwrap(),
                "--output",
                out_dir.to_str().unwrap(),
            ],
        ));
        assert_eq!(
            summary["is_context"], true,
            "{door}: ctx is an algohost.Context"
        );
        assert_eq!(summary["rows"], native.height(), "{door}");
        let sum = summary["sums"]["site.load"].as_f64().unwrap();
        assert!(
            (sum - expected_sum).abs() < 1e-6 * expected_sum.abs(),
            "{door}: {sum} vs {expected_sum}"
        );
        let doubled = read_parquet(&out_dir.join("doubled.parquet"));
        let twice = native.column("site.load").unwrap().as_materialized_series() * 2.0;
        assert_eq!(
            doubled
                .column("site.load")
                .unwrap()
                .as_materialized_series(),
            &twice,
            "{door}"
        );
        assert_eq!(
            doubled.column("ts").unwrap(),
            native.column("ts").unwrap(),
            "{door}"
        );
    }
}

#[test]
fn a_rust_algorithm_run_from_python_matches_its_native_run() {
    let venv = test_venv();
    let (dir, data) = demo();
    let params = json!({"names": ["site.load", "site.pv"], "resolution": "PT1H"});
    let native = algohost::runner::execute(
        &algohost::sources::discover(&Default::default()),
        crate::common::request_with(
            "resample",
            params.clone(),
            std::sync::Arc::new(FilesAdapter::open(&data).unwrap()),
        ),
    )
    .unwrap();
    assert_eq!(
        native.run.status.as_str(),
        "succeeded",
        "{:?}",
        native.run.error
    );
    let out = dir.path().join("from-python.parquet");
    let script = format!(
        "import algohost, json, sys\n\
         run = algohost.Host(data={data:?}).run('resample', json.loads({params:?})).raise_for_status()\n\
         [(name, frame)] = run.frames.items()\n\
         frame.write_parquet({out:?})\n\
         print(json.dumps({{'name': name, 'summary': run.summary}}))\n",
        data = data.to_str().unwrap(),
        params = params.to_string(),
        out = out.to_str().unwrap(),
    );
    let ran = Command::new(venv.join("bin").join("python"))
        .args(["-c", &script])
        .output()
        .unwrap();
    let reply = stdout_json(&ran);
    let output = native.output.unwrap();
    let (name, frame) = output.frames.iter().next().unwrap();
    assert_eq!(reply["name"], name.as_str());
    assert_eq!(reply["summary"], native.run.summary);
    let from_python = read_parquet(&out);
    assert!(
        from_python.equals_missing(frame),
        "{from_python}\nvs\n{frame}"
    );
}

#[test]
fn the_example_plugin_from_the_readme_runs_under_both_front_doors() {
    let venv = test_venv();
    let (_dir, data) = demo();
    let mut summaries = Vec::new();
    for (door, mut cmd) in front_doors(&venv) {
        let summary = stdout_json(&output(
            &mut cmd,
            &[
                "run",
                "load_above_threshold",
                "--params",
                r#"{"threshold_kw": 60}"#,
                "--data",
                data.to_str().unwrap(),
            ],
        ));
        assert!(summary.is_object(), "{door}: {summary}");
        summaries.push(summary);
    }
    assert_eq!(summaries[0], summaries[1]);
}

#[test]
fn a_python_plugins_warning_is_printed_once_and_its_invalid_input_exits_2() {
    let venv = test_venv();
    let (_dir, data) = demo();
    let data = data.to_str().unwrap();
    for (door, mut cmd) in front_doors(&venv) {
        // The day after spring forward repeats its neighbour for the hour
        // the day before skipped, and says so.
        let args = ["--data", data, "--params", r#"{"day": "2026-03-30"}"#];
        let out = output(&mut cmd, &[&["run", "naive_forecast"][..], &args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{door}: {stderr}");
        let warning = "4 of 96 intervals of 2026-03-30 had no value on the 1 day(s) before";
        assert_eq!(stderr.matches(warning).count(), 1, "{door}: {stderr}");
    }
    for (door, mut cmd) in front_doors(&venv) {
        let params = r#"{"day": "2026-02-01", "days": 7}"#;
        let out = output(
            &mut cmd,
            &["run", "naive_forecast", "--data", data, "--params", params],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{door}: {stderr}");
        assert!(
            stderr.contains(
                "invalid input: data point 'site.load' has no values in the 7 day(s) before \
                 2026-02-01 (Europe/Berlin)"
            ),
            "{door}: {stderr}"
        );
    }
}

#[test]
fn a_plugins_prints_go_to_stderr_and_leave_the_json_on_stdout_alone() {
    let venv = test_venv();
    for args in [&["run", "py_prints"][..], &["list", "--json"]] {
        for (door, mut cmd) in front_doors(&venv) {
            cmd.env("FIXTURE_PY_PRINT_AT_IMPORT", "1");
            let out = output(&mut cmd, args);
            let json = stdout_json(&out);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("algohost_fixture_py prints when imported\n"),
                "{door} {args:?}: {stderr}"
            );
            if args[0] == "run" {
                assert_eq!(json, json!({"printed": true}), "{door}");
                assert!(
                    stderr.contains("py_prints prints while it runs\n"),
                    "{door}: {stderr}"
                );
            } else {
                assert!(
                    json.as_array()
                        .is_some_and(|a| a.iter().any(|m| m["name"] == "py_prints")),
                    "{door}: {json}"
                );
            }
        }
    }
}

#[test]
fn python_exceptions_exits_and_interrupts_fail_the_run_with_what_happened() {
    let venv = test_venv();
    for (how, expected) in [
        ("raise", "ZeroDivisionError: division by zero"),
        ("exit", "sys.exit(3)"),
        ("interrupt", "KeyboardInterrupt"),
    ] {
        for (door, mut cmd) in front_doors(&venv) {
            let params = json!({"how": how}).to_string();
            let out = output(&mut cmd, &["run", "py_fails", "--params", &params]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{door} {how}: {stderr}");
            assert!(stderr.contains(expected), "{door} {how}: {stderr}");
        }
    }
}

/// The error of `py_frames` reading a data point name with a typo, as the
/// context call raised it.
const TYPO_ERROR: &str = "invalid input: unknown data point name 'site.lod' (did you mean \
                          'site.load'?); known names: market.day_ahead, site.load, site.pv";

/// The traceback lines of the fixture plugins' call of `code` in `function`:
/// `  File ".../algohost_fixture_py/__init__.py", line N, in function` and the
/// code itself.
fn fixture_frame(function: &str, code: &str) -> String {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/python/algohost_fixture_py/__init__.py");
    let source = std::fs::read_to_string(&source).unwrap();
    let lines: Vec<usize> = (1..)
        .zip(source.lines())
        .filter(|(_, line)| line.trim() == code)
        .map(|(number, _)| number)
        .collect();
    assert_eq!(lines.len(), 1, "{code} is on lines {lines:?}");
    format!(
        "algohost_fixture_py/__init__.py\", line {}, in {function}\n    {code}\n",
        lines[0]
    )
}

#[test]
fn a_context_call_that_fails_a_python_run_shows_where_the_plugin_made_it() {
    let venv = test_venv();
    let (_dir, data) = demo();
    let frame = fixture_frame(
        "py_frames",
        "frame = ctx.read(algohost.DataPointFilter(names=names))",
    );
    let params = json!({"names": ["site.lod"]}).to_string();
    let args = ["--data", data.to_str().unwrap(), "--params", &params];
    for (door, mut cmd) in front_doors(&venv) {
        // The error of the context call, and a hint, as for an exception.
        let out = output(&mut cmd, &[&["run", "py_frames"][..], &args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A name the user gave that is no data point: bad input.
        assert_eq!(out.status.code(), Some(2), "{door}: {stderr}");
        assert!(
            stderr.ends_with(&format!(
                " of py_frames failed: {TYPO_ERROR} (-v shows the traceback)\n"
            )),
            "{door}: {stderr}"
        );
        // With -v, the traceback through the plugin's line.
        let (_, mut cmd) = front_doors(&venv)
            .into_iter()
            .find(|(d, _)| *d == door)
            .unwrap();
        let out = output(&mut cmd, &[&["-v", "run", "py_frames"][..], &args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{door}: {stderr}");
        let (_, traceback) = stderr
            .split_once(&format!(" of py_frames failed: {TYPO_ERROR}\n"))
            .unwrap_or_else(|| panic!("{door}: {stderr}"));
        assert!(
            traceback.starts_with("Traceback (most recent call last):\n")
                && traceback.contains(&frame)
                && traceback.ends_with(&format!("\nalgohost.AlgohostError: {TYPO_ERROR}\n")),
            "{door}: {stderr}"
        );
    }

    // The run record of the API: the same kind and message, and the
    // traceback in the details, as for an exception.
    let scratch = Scratch::new();
    let server = python_server(&scratch, &[]);
    let id = server.submit("py_frames", json!({"names": ["site.lod"]}));
    let run = server.wait_for(&id, |s| s != "running" && s != "queued");
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error"]["kind"], "invalid_input", "{run}");
    assert_eq!(run["error"]["message"], TYPO_ERROR, "{run}");
    assert_eq!(
        run["error"]["details"]["exception"], "AlgohostError",
        "{run}"
    );
    let traceback = run["error"]["details"]["traceback"]
        .as_str()
        .unwrap_or_default();
    assert!(traceback.contains(&frame), "{run}");
}

/// A server whose Python algorithms come from the project virtualenv.
#[test]
fn a_python_run_past_its_timeout_exits_124_through_both_front_doors() {
    let venv = test_venv();
    for algorithm in ["py_waits_for_cancel", "py_holds_gil"] {
        for (door, mut cmd) in front_doors(&venv) {
            let out = output(
                &mut cmd,
                &[
                    "run",
                    algorithm,
                    "--params",
                    r#"{"seconds": 5}"#,
                    "--timeout",
                    "0.5",
                ],
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(124), "{door} {algorithm}: {stderr}");
            assert!(
                stderr.contains("did not finish within its timeout of 0.5s")
                    && !stderr.contains("Fatal Python error"),
                "{door} {algorithm}: {stderr}"
            );
        }
    }
}

fn python_server(scratch: &Scratch, args: &[&str]) -> crate::server::Server {
    let venv = test_venv();
    scratch.start_with_env(args, &[("VIRTUAL_ENV", venv.to_str().unwrap())])
}

#[test]
fn health_and_rust_runs_go_on_while_every_python_worker_runs_a_plugin_holding_the_gil() {
    let scratch = Scratch::new();
    let server = python_server(&scratch, &["--concurrency", "1", "--queue", "2"]);
    let hog = json!({"seconds": 20});
    let running = server.submit("py_holds_gil", hog.clone());
    server.wait_for(&running, |s| s == "running");
    for _ in 0..2 {
        server.submit("py_holds_gil", hog.clone());
    }
    let full = server.post(
        "/runs",
        &json!({"algorithm": "py_holds_gil", "params": hog}),
    );
    let problem = full.problem(503);
    assert_eq!(problem["type"], "urn:algohost:problem:queue-full");
    assert!(full.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    for _ in 0..5 {
        for probe in ["/health", "/ready"] {
            let reply = client.get(format!("{}{probe}", server.url)).send().unwrap();
            assert_eq!(reply.status(), 200);
        }
    }
    // Rust runs have workers of their own: one finishes meanwhile.
    let rust = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=20")
            .json(&json!({"algorithm": "echo_frames", "params": {}})),
    );
    assert_eq!(rust.status, 200, "{}", rust.text());
    assert_eq!(rust.json()["status"], "succeeded");
    let run = server.get(&format!("/runs/{running}")).json();
    assert_eq!(run["status"], "running", "the hog still runs: {run}");
}

#[test]
fn python_runs_are_cancelled_time_out_and_fail_while_other_runs_go_on() {
    let scratch = Scratch::new();
    let server = python_server(&scratch, &["--concurrency", "3"]);
    let polling = server.submit("py_waits_for_cancel", json!({}));
    server.wait_for(&polling, |s| s == "running");
    let cancelled = server.post(&format!("/runs/{polling}/cancel"), &json!({}));
    assert!(cancelled.status < 300, "{}", cancelled.text());
    let ended = server.wait_for(&polling, |s| s != "running" && s != "queued");
    assert_eq!(ended["status"], "cancelled", "{ended}");

    let stubborn = server.post(
        "/runs",
        &json!({"algorithm": "py_ignores_cancel", "params": {"seconds": 5}, "timeout": 0.5}),
    );
    assert_eq!(stubborn.status, 202, "{}", stubborn.text());
    let stubborn = stubborn.json()["id"].as_str().unwrap().to_owned();
    // Meanwhile a Rust run and a failing Python run end as usual.
    let echo = server.submit("echo_frames", json!({}));
    let failing = server.submit("py_fails", json!({"how": "exit"}));
    let ended = server.wait_for(&stubborn, |s| s != "running" && s != "queued");
    assert_eq!(ended["status"], "timed_out", "{ended}");
    let echo = server.wait_for(&echo, |s| s != "running" && s != "queued");
    assert_eq!(echo["status"], "succeeded", "{echo}");
    let failing = server.wait_for(&failing, |s| s != "running" && s != "queued");
    assert_eq!(failing["status"], "failed", "{failing}");
    assert_eq!(failing["error"]["kind"], "exception", "{failing}");
    assert!(
        failing["error"]["details"]["traceback"]
            .as_str()
            .unwrap()
            .contains("SystemExit"),
        "{failing}"
    );
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn the_python_api_takes_data_from_a_directory_postgres_and_another_algohost() {
    let venv = test_venv();
    let scratch = Scratch::new();
    let dir = scratch.path().join("data");
    let db = crate::pg_server::database("pyapi");
    let imported = Command::new(env!("CARGO_BIN_EXE_algohost"))
        .args([
            "data",
            "import",
            "--from",
            dir.to_str().unwrap(),
            "--to",
            &db.url,
        ])
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let server = scratch.start(&[]);
    let specs = [
        dir.to_str().unwrap().to_owned(),
        db.url.clone(),
        server.url.clone(),
    ];
    let out = scratch.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let script = format!(
        "import algohost, json, sys\n\
         params = {{'names': ['site.load', 'market.day_ahead'], 'resolution': 'P1D'}}\n\
         summaries = []\n\
         for i, spec in enumerate(json.loads(sys.argv[1])):\n\
         \x20   run = algohost.Host(data=spec).run('resample', params).raise_for_status()\n\
         \x20   run.frames['resampled'].write_parquet(f'{out}/{{i}}.parquet')\n\
         \x20   summaries.append(run.summary)\n\
         \x20   # The same, with the data given per run.\n\
         \x20   again = algohost.Host().run('resample', params, data=spec).raise_for_status()\n\
         \x20   assert again.frames['resampled'].equals(run.frames['resampled']), spec\n\
         print(json.dumps(summaries))\n",
        out = out.to_str().unwrap(),
    );
    let ran = Command::new(venv.join("bin").join("python"))
        .args(["-c", &script, &serde_json::to_string(&specs).unwrap()])
        .output()
        .unwrap();
    let summaries = stdout_json(&ran);
    assert_eq!(summaries[0], summaries[1], "files vs postgres");
    assert_eq!(summaries[0], summaries[2], "files vs rest");
    let frames: Vec<DataFrame> = (0..3)
        .map(|i| read_parquet(&out.join(format!("{i}.parquet"))))
        .collect();
    assert!(frames[0].height() > 100, "{}", frames[0]);
    assert!(
        frames[0].equals_missing(&frames[1]),
        "postgres:\n{}\nvs files:\n{}",
        frames[1],
        frames[0]
    );
    assert!(
        frames[0].equals_missing(&frames[2]),
        "rest:\n{}\nvs files:\n{}",
        frames[2],
        frames[0]
    );
}
