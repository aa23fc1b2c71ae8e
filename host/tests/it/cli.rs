//! The `algohost` binary as a user runs it: listings, validation errors with
//! their pointers and exit codes, runs with outputs, and failures.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::copy_plugins;

/// A scratch directory with the demo data and a plugin dir holding the
/// peak-shaving and echo fixture libraries.
pub(crate) struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        copy_plugins(
            &plugins,
            &[
                "libalgohost_plugin_peak_shaving.so",
                "libalgohost_fixture_echo.so",
            ],
        );
        let s = Self { dir };
        let out = s.algohost(&["demo-data", "demo-data"]);
        assert!(out.status.success(), "{}", stderr(&out));
        s
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `algohost` in the scratch directory, with its plugins and no data.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_algohost")), args)
    }

    /// `program` (an `algohost`: the binary, or the pip package's console
    /// command) in the scratch directory, with its plugins and no data.
    pub(crate) fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(self.path())
            .env("ALGOHOST_PLUGIN_PATH", self.path().join("plugins"))
            .env_remove("ALGOHOST_DATA")
            .env_remove("ALGOHOST_LOG")
            .env_remove("ALGOHOST_LOG_FORMAT")
            .env_remove("VIRTUAL_ENV");
        command
    }

    fn algohost(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn list_shows_builtin_and_dylib_algorithms_with_version_source_and_schema() {
    let s = Scratch::new();
    let out = s.algohost(&["list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = stdout_json(&out);
    let find = |name: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap()
    };
    let resample = find("resample");
    // A filter that does not parse is said to be ignored, not silently.
    let out = s
        .command(&["list"])
        .env("ALGOHOST_LOG", "[[[")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ALGOHOST_LOG is not a tracing filter"),
        "{}",
        stderr(&out)
    );
    // So is a log format it does not know.
    let out = s
        .command(&["list"])
        .env("ALGOHOST_LOG_FORMAT", "xml")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ALGOHOST_LOG_FORMAT=\"xml\" is not json or text; logging text"),
        "{}",
        stderr(&out)
    );
    assert_eq!(resample["source"]["kind"], "builtin");
    assert_eq!(resample["version"], "0.1.0");
    assert_eq!(
        resample["params_schema"]["required"],
        serde_json::json!(["names", "resolution"])
    );
    let peak = find("peak_shaving");
    assert_eq!(peak["source"]["kind"], "dylib");
    assert!(
        peak["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with("libalgohost_plugin_peak_shaving.so")
    );
    assert!(peak["params_schema"]["properties"]["limit_kw"].is_object());
    assert_eq!(peak["outputs"][0]["name"], "schedule");

    let table = s.algohost(&["list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.lines().next().unwrap().starts_with("NAME"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("peak_shaving") && l.contains("dylib")),
        "{text}"
    );
}

#[test]
fn describe_shows_params_and_unknown_names_get_suggestions() {
    let s = Scratch::new();
    let out = s.algohost(&["describe", "peak_shaving"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("limit_kw: number (required)"), "{text}");
    assert!(text.contains("efficiency: number = 0.9"), "{text}");
    // Whether a server re-queues its interrupted runs.
    assert!(
        text.contains("Idempotent: yes (a run a stopped server left running is queued again)"),
        "{text}"
    );

    let out = s.algohost(&["describe", "peak_shavng"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown algorithm 'peak_shavng'; did you mean 'peak_shaving'?"),
        "{}",
        stderr(&out)
    );
}

/// Every error line `  <pointer>: <message>` printed by validate.
fn error_pointers(out: &Output) -> Vec<String> {
    stderr(out)
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter_map(|l| l.split_once(": ").map(|(p, _)| p.to_owned()))
        .collect()
}

#[test]
fn invalid_params_for_every_schema_keyword_give_exit_2_and_every_pointer() {
    let s = Scratch::new();
    let params = r#"{
        "limit_kw": -5,
        "battery": {"capacity_kwh": "big", "efficiency": 0, "soc_min": 1.5},
        "recharge": "solar",
        "load": "",
        "pv": 3,
        "start": "yesterday",
        "colour": "red"
    }"#;
    for command in ["validate", "run"] {
        let out = s.algohost(&[command, "peak_shaving", "--params", params]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("invalid params for peak_shaving (10 error(s))"),
            "{err}"
        );
        let mut pointers = error_pointers(&out);
        pointers.sort();
        assert_eq!(
            pointers,
            [
                "/",
                "/battery",
                "/battery/capacity_kwh",
                "/battery/efficiency",
                "/battery/soc_min",
                "/limit_kw",
                "/load",
                "/pv",
                "/recharge",
                "/start"
            ],
            "{err}"
        );
        for expected in [
            "/limit_kw: -5 is less than the minimum of 0.0",
            "/battery: \"power_kw\" is a required property",
            "/battery/capacity_kwh: \"big\" is not of type \"number\"",
            "/battery/efficiency: 0 is less than or equal to the minimum of 0.0",
            "/battery/soc_min: 1.5 is greater than the maximum of 1.0",
            "/recharge: \"solar\" is not one of",
            "/load: \"\" is shorter than 1 character",
            "/pv: 3 is not of type",
            "/start: \"yesterday\" is not a \"date-time\"",
            "/: Additional properties are not allowed ('colour' was unexpected)",
        ] {
            assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
        }
    }
    let out = s.algohost(&[
        "validate",
        "resample",
        "--params",
        r#"{"names": [], "resolution": "15min"}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        error_pointers(&out),
        ["/names", "/resolution"],
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("/names: [] has less than 1 item"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("/resolution: \"15min\" does not match"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_params_text_is_a_usage_error_that_says_what_to_pass() {
    let s = Scratch::new();
    let out = s.algohost(&["validate", "resample", "--params", "{names: 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--params is not valid JSON"),
        "{}",
        stderr(&out)
    );
    let out = s.algohost(&["run", "resample", "--params", "@missing.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read params file 'missing.json'"),
        "{}",
        stderr(&out)
    );
    let out = s.algohost(&["run", "resample", "--params", "[1]"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--params must be a JSON object, found [1]"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        s.path().join("p.json"),
        r#"{"names": ["site.load"], "resolution": "PT1H"}"#,
    )
    .unwrap();
    let out = s.algohost(&["validate", "resample", "--params", "@p.json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "params are valid for resample"
    );
}

#[test]
fn run_prints_the_summary_and_writes_frames_as_parquet() {
    let s = Scratch::new();
    let params = r#"{"limit_kw": 55, "battery": {"capacity_kwh": 300, "power_kw": 40}}"#;
    let out = s.algohost(&[
        "run",
        "peak_shaving",
        "--data",
        "demo-data",
        "--output",
        "out",
        "--params",
        params,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let summary = stdout_json(&out);
    let before = summary["peak_before_kw"].as_f64().unwrap();
    let after = summary["peak_after_kw"].as_f64().unwrap();
    assert!(after < before, "{summary}");
    assert_eq!(after, 55.0, "{summary}");
    assert_eq!(summary["limit_met"], true);
    assert!(stderr(&out).contains("succeeded"), "{}", stderr(&out));
    let schedule = s.path().join("out/schedule.parquet");
    assert!(std::fs::metadata(&schedule).unwrap().len() > 1000);
}

#[test]
fn a_run_on_input_the_plugin_finds_invalid_exits_2_and_other_failures_1() {
    let s = Scratch::new();
    let battery = r#""battery": {"capacity_kwh": 300, "power_kw": 40"#;
    for (params, message) in [
        (
            format!(r#"{{"limit_kw": 55, {battery}}}, "load": "site.nope"}}"#),
            "failed: invalid input: params.load: unknown data point 'site.nope' (did you mean \
             'site.load' or 'site.pv'?)",
        ),
        (
            format!(r#"{{"limit_kw": 55, {battery}, "soc_min": 0.95}}}}"#),
            "failed: invalid input: battery.soc_min (0.95) must not exceed battery.soc_max (0.9)",
        ),
        (
            format!(
                r#"{{"limit_kw": 55, {battery}}}, "start": "2026-05-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}}"#
            ),
            "failed: invalid input: start (2026-05-01 00:00:00 UTC) must be before end \
             (2026-04-01 00:00:00 UTC)",
        ),
    ] {
        let out = s.algohost(&[
            "run",
            "peak_shaving",
            "--data",
            "demo-data",
            "--params",
            &params,
        ]);
        assert_eq!(out.status.code(), Some(2), "{params}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{params}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
    }

    // A failure that is not the input's stays 1.
    let out = s.algohost(&["run", "fails"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("echo fixture: the data source is gone"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_run_given_no_data_or_data_that_is_not_there_says_how_to_give_some() {
    let s = Scratch::new();

    // An algorithm that reads data, run without --data, is bad usage.
    let params = r#"{"names": ["site.load"], "resolution": "PT1H"}"#;
    let out = s.algohost(&["run", "resample", "--params", params]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("pass --data DIR"), "{}", stderr(&out));

    let out = s.algohost(&[
        "run",
        "resample",
        "--data",
        "no/such/dir",
        "--params",
        params,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--data no/such/dir"),
        "{}",
        stderr(&out)
    );

    // A mistyped directory whose parent exists is refused too, rather than
    // made into an empty dataset that knows no data point.
    let out = s.algohost(&["run", "resample", "--data", "demo-dta", "--params", params]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: --data demo-dta: invalid input: no such data directory 'demo-dta'; give a \
         directory of algohost data (for example one made by `algohost demo-data demo-dta` or \
         `algohost data import --to demo-dta`), a postgres:// or an http:// URL\n"
    );
    assert!(!s.path().join("demo-dta").exists());

    // A token in a data API URL is refused without being printed.
    let url = "http://127.0.0.1:9?timeout=3&token=s3cretTOK";
    let out = s.algohost(&["run", "resample", "--data", url, "--params", params]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: --data http://127.0.0.1:9?timeout=3&token=***: ")
            && !stderr(&out).contains("s3cretTOK"),
        "{}",
        stderr(&out)
    );

    // A mistyped data point name is answered with the close one.
    let params = r#"{"names": ["site.lod"], "resolution": "PT1H"}"#;
    let out = s.algohost(&["run", "resample", "--data", "demo-data", "--params", params]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("unknown data point 'site.lod' (did you mean 'site.load'?); known names: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_run_past_its_timeout_exits_124_and_a_panic_exits_1() {
    let s = Scratch::new();
    let out = s.algohost(&["run", "waits_for_cancel", "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(" timed out: the run did not finish within its timeout of 0.3s"),
        "{}",
        stderr(&out)
    );
    for (given, shown) in [
        ("0", "0"),
        ("1e19", "1e19"),
        ("0.0000001", "1e-7"),
        ("-1", "-1"),
    ] {
        let out = s.algohost(&["run", "waits_for_cancel", "--timeout", given]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(
                "--timeout must be a number of seconds from 0.001 to 2592000 (30 days), got {shown}"
            )),
            "{}",
            stderr(&out)
        );
    }
    let out = s.algohost(&["run", "panics"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("failed: the plugin panicked"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plugins_lists_sources_and_diagnostics() {
    let s = Scratch::new();
    std::fs::write(s.path().join("plugins/libnot_a_library.so"), "just text").unwrap();
    let out = s.algohost(&["plugins", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout_json(&out);
    assert!(report["sources"]["builtin"].as_u64().unwrap() >= 1);
    assert!(report["sources"]["dylib"].as_u64().unwrap() >= 2);
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(
        diagnostics[0]["location"]
            .as_str()
            .unwrap()
            .ends_with("libnot_a_library.so")
    );
    assert!(!diagnostics[0]["hint"].as_str().unwrap().is_empty());
    let out = s.algohost(&["plugins"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("libnot_a_library.so") && text.contains("fix: "),
        "{text}"
    );
    // The loader's own reason, not only "dlopen failed".
    #[cfg(target_os = "linux")]
    assert_eq!(
        diagnostics[0]["reason"],
        "cannot load the library: dlopen failed: file too short"
    );
    // A bare file name is a file in the current directory, not a name for
    // the loader to search the system's library path for.
    std::fs::copy(
        s.path().join("plugins/libalgohost_fixture_echo.so"),
        s.path().join("libecho.so"),
    )
    .unwrap();
    let out = s
        .command(&["--plugin-dir", "libecho.so", "plugins", "--json"])
        .env_remove("ALGOHOST_PLUGIN_PATH")
        .output()
        .unwrap();
    let report = stdout_json(&out);
    assert_eq!(report["diagnostics"], serde_json::json!([]), "{report}");
    assert!(
        report["sources"]["dylib"].as_u64().unwrap() >= 2,
        "{report}"
    );
}

#[test]
fn a_crate_built_without_cdylib_is_a_problem_that_unknown_algorithms_point_to() {
    let s = Scratch::new();
    let rlib_only = s.path().join("rlib-only");
    std::fs::create_dir(&rlib_only).unwrap();
    std::fs::write(rlib_only.join("libpeak_finder.rlib"), "!<arch>").unwrap();
    let dir = rlib_only.to_str().unwrap();
    let out = s
        .command(&["--plugin-dir", dir, "run", "daily_peaks"])
        .env_remove("ALGOHOST_PLUGIN_PATH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("discovery had 1 problem(s), such as a plugin that did not load"),
        "{}",
        stderr(&out)
    );
    let out = s
        .command(&["--plugin-dir", dir, "plugins"])
        .env_remove("ALGOHOST_PLUGIN_PATH")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no plugin library (*.so) in the plugin directory, only the Rust library libpeak_finder.rlib")
            && text.contains("crate-type = [\"cdylib\", \"rlib\"]"),
        "{text}"
    );
}

#[test]
fn verbose_runs_show_the_fields_of_log_records() {
    let s = Scratch::new();
    let out = s.algohost(&[
        "run",
        "-v",
        "echo_frames",
        "--data",
        "demo-data",
        "--params",
        r#"{"names": ["site.load"]}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("echoing samples selected=1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_closed_stdout_exits_quietly_and_a_full_disk_is_one_error_line() {
    let s = Scratch::new();
    // The reader is gone before anything is written: `algohost list | head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = s
        .command(&["describe", "resample"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    // Messages on a closed stderr (`algohost … 2>&1 | head -0`) are lost,
    // but the exit code is still the command's own, not a panic's 101.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = s
        .command(&[
            "validate",
            "peak_shaving",
            "--params",
            r#"{"limit_kw": -5}"#,
        ])
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));

    #[cfg(target_os = "linux")]
    for args in [&["list"][..], &["list", "--json"], &["plugins"]] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = s.command(args).stdout(full).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            "error: cannot write to stdout: No space left on device (os error 28)\n",
            "{args:?}"
        );
    }
}

const PEAK_PARAMS: &str = r#"{"limit_kw": 55, "battery": {"capacity_kwh": 300, "power_kw": 40}}"#;

#[test]
fn output_is_checked_before_the_run_and_frames_not_written_are_named() {
    let s = Scratch::new();
    std::fs::write(s.path().join("afile"), "").unwrap();
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut refused = vec![
        (
            "afile",
            "exists and is not a directory; give a directory for the output frames (it is \
             created if missing)\n",
        ),
        ("afile/sub", "cannot be created: afile is not a directory\n"),
    ];
    // A directory that cannot be made, or written in (even by root), is
    // refused before the run too, not after it printed its summary.
    #[cfg(target_os = "linux")]
    refused.extend([
        ("/sys/algohost-output/ps", "cannot be created: "),
        ("/sys", "cannot write in it: "),
    ]);
    for (output, why) in refused {
        let out = s.algohost(&[
            "run",
            "peak_shaving",
            "--data",
            "demo-data",
            "--params",
            PEAK_PARAMS,
            "--output",
            output,
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(out.stdout.is_empty(), "ran anyway");
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("error: --output {output}: {why}"))
                && err.lines().count() == 1,
            "{err}"
        );
    }

    // Params that are not valid make no output directory.
    let out = s.algohost(&[
        "run",
        "peak_shaving",
        "--params",
        r#"{"limit_kw": -5}"#,
        "--output",
        "new/out",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!s.path().join("new").exists());

    // A reused output directory: what this run wrote is listed, and a
    // Parquet file from before that it did not write is pointed out.
    std::fs::create_dir(s.path().join("out")).unwrap();
    std::fs::write(s.path().join("out/old.parquet"), "from another run").unwrap();
    let out = s.algohost(&[
        "run",
        "peak_shaving",
        "--data",
        "demo-data",
        "--params",
        PEAK_PARAMS,
        "--output",
        "out",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("\n  wrote out/schedule.parquet\n"), "{err}");
    assert!(
        err.ends_with("note: out/old.parquet is not an output of this run (left as it was)\n"),
        "{err}"
    );

    // Without --output, the frames the run returned are named.
    let params = r#"{"names": ["site.load"], "resolution": "PT1H"}"#;
    let out = s.algohost(&["run", "resample", "--data", "demo-data", "--params", params]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with(
            "note: output frame(s) not written: resampled; pass --output DIR to write them as \
             Parquet\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn data_export_refuses_unknown_names_and_an_empty_range_before_writing_anything() {
    let s = Scratch::new();
    let export = |extra: &[&str]| {
        let mut args = vec!["data", "export", "--from", "demo-data", "--to", "exported"];
        args.extend_from_slice(extra);
        s.algohost(&args)
    };
    let out = export(&["--names", "site.pvv"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: --names: unknown data point name 'site.pvv' (did you mean 'site.pv'?); known \
         names: market.day_ahead, site.load, site.pv\n"
    );
    assert!(!s.path().join("exported").exists());

    let out = export(&[
        "--start",
        "2026-03-02T00:00:00+01:00",
        "--end",
        "2026-03-01T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: --start 2026-03-01T23:00:00Z is not before --end 2026-03-01T00:00:00Z; give a \
         start before the end\n"
    );
    assert!(!s.path().join("exported").exists());

    // Spaces after the commas of --names are not part of the names.
    let out = export(&[
        "--names",
        "site.load, site.pv",
        "--end",
        "2026-02-01T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("copied 2 data point(s), 8 sample(s)"),
        "{text}"
    );
}

#[test]
fn demo_data_refuses_a_directory_with_other_data_unless_forced() {
    use algohost_sdk::data::Resolution;

    let s = Scratch::new();
    // Writing the demo over an unchanged demo directory is fine.
    let out = s.algohost(&["demo-data", "demo-data"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A directory of other files is not data: bad input, exit 2.
    std::fs::create_dir(s.path().join("notes")).unwrap();
    std::fs::write(s.path().join("notes/todo.txt"), "mine").unwrap();
    let out = s.algohost(&["demo-data", "notes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not an algohost data directory"),
        "{}",
        stderr(&out)
    );

    let mine = s.path().join("mine");
    crate::files_adapter::with_power_point(&mine, "site.load", Resolution::Seconds(900));
    let catalog = std::fs::read(mine.join("catalog.json")).unwrap();
    let out = s.algohost(&["demo-data", "mine"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: mine already holds data that the demo data would change or mix with (data \
         points site.load); give an empty or new directory, or --force to write the demo data \
         points into it (overwriting those of the same names)\n"
    );
    assert_eq!(std::fs::read(mine.join("catalog.json")).unwrap(), catalog);

    let out = s.algohost(&["demo-data", "mine", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Its site.load (UTC) is replaced by the demo's (Europe/Berlin), not
    // filled with the demo's values under its own definition.
    use algohost::adapters::Adapter as _;
    let adapter = algohost::adapters::files::FilesAdapter::open(&mine).unwrap();
    let filter = algohost_sdk::data::DataPointFilter::default().with_names(["site.load"]);
    assert_eq!(
        adapter.data_points(&filter).unwrap()[0].time_zone,
        "Europe/Berlin"
    );
    let changed = algohost::demo::would_change(&mine).unwrap();
    assert!(changed.is_empty(), "not the demo data: {changed:?}");
}

#[test]
fn params_files_may_start_with_a_bom_and_a_key_given_twice_is_refused() {
    let s = Scratch::new();
    std::fs::write(s.path().join("bom.json"), format!("\u{feff}{PEAK_PARAMS}")).unwrap();
    let out = s.algohost(&["validate", "peak_shaving", "--params", "@bom.json"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = s.algohost(&[
        "validate",
        "peak_shaving",
        "--params",
        r#"{"limit_kw": 1, "limit_kw": 2}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: --params: the key \"limit_kw\" is given twice at line 1 column 26; give each \
         key once\n"
    );
}
#[test]
fn help_shows_the_variable_of_every_setting_that_has_one() {
    let s = Scratch::new();
    let help = |args: &[&str]| {
        let out = s.algohost(args);
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let serve = help(&["serve", "--help"]);
    let read = std::cell::RefCell::new(Vec::new());
    algohost::server::config::Settings::from_env(|key| {
        read.borrow_mut().push(key.to_owned());
        None
    })
    .unwrap();
    let read = read.into_inner();
    assert!(read.len() >= 10, "{read:?}");
    for key in read.iter().map(String::as_str).chain([
        "ALGOHOST_CONFIG",
        "ALGOHOST_LOG",
        "ALGOHOST_PLUGIN_PATH",
        "ALGOHOST_REST_TOKEN",
    ]) {
        assert!(serve.contains(key), "serve --help misses {key}:\n{serve}");
    }
    // Flags show theirs the same way clap shows run's --data.
    for (args, shown) in [
        (&["serve", "--help"][..], "[env: ALGOHOST_DATA]"),
        (&["serve", "--help"], "[env: ALGOHOST_BIND]"),
        (&["serve", "--help"], "[env: ALGOHOST_PYTHON_CONCURRENCY]"),
        (&["run", "--help"], "[env: ALGOHOST_DATA]"),
        (&["run", "--help"], "[env: ALGOHOST_LOG]"),
        (&["list", "--help"], "[env: ALGOHOST_PLUGIN_PATH]"),
        (&["data", "import", "--help"], "[env: ALGOHOST_DATA]"),
    ] {
        let text = help(args);
        assert!(text.contains(shown), "{args:?} misses {shown}:\n{text}");
    }
}

#[test]
fn describe_shows_outputs_without_columns_by_name() {
    let s = Scratch::new();
    let out = s.algohost(&["describe", "resample"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with("\nOutputs:\n  resampled\n"), "{text}");
}

/// The virtualenv of ALGOHOST_TEST_VENV, if set: Python plugins to run.
pub(crate) fn optional_venv() -> Option<std::path::PathBuf> {
    std::env::var_os("ALGOHOST_TEST_VENV").map(|_| crate::common::test_venv())
}

#[test]
fn python_params_and_failures_read_like_rust_ones() {
    let Some(venv) = optional_venv() else { return };
    let s = Scratch::new();
    let python = |args: &[&str]| s.command(args).env("VIRTUAL_ENV", &venv).output().unwrap();

    // pydantic's Optional fields (anyOf [string, null]) read as Rust's do.
    let out = python(&["describe", "naive_forecast"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\n  day: string or null = null  — "),
        "{text}"
    );
    assert!(
        text.contains("\n  time_zone: string or null = null  — "),
        "{text}"
    );

    let out = python(&[
        "validate",
        "naive_forecast",
        "--params",
        r#"{"day": "2026-13-45"}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "error: invalid params for naive_forecast (1 error(s)):\n  /day: \"2026-13-45\" is not \
         a \"date\" (for example \"2026-03-01\") and not null\n"
    );

    // A Python exception: its traceback with -v, a hint without.
    let out = python(&["run", "py_fails", "--params", r#"{"how": "raise"}"#]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.ends_with(
            " of py_fails failed: ZeroDivisionError: division by zero (-v shows the traceback)\n"
        ),
        "{err}"
    );
    let out = python(&["-v", "run", "py_fails", "--params", r#"{"how": "raise"}"#]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let (_, traceback) = err
        .split_once(" of py_fails failed: ZeroDivisionError: division by zero\n")
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        traceback.starts_with("Traceback (most recent call last):\n"),
        "{err}"
    );
    assert!(traceback.contains("in py_fails\n"), "{err}");
    assert!(
        traceback.ends_with("ZeroDivisionError: division by zero\n"),
        "{err}"
    );

    // Input the plugin finds invalid is bad input, as in a Rust plugin.
    let out = python(&[
        "run",
        "naive_forecast",
        "--data",
        "demo-data",
        "--params",
        r#"{"series": "site.lod"}"#,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with(
            " of naive_forecast failed: invalid input: params.series: unknown data point \
             'site.lod' (did you mean 'site.load'?); known names: market.day_ahead, site.load, \
             site.pv (-v shows the traceback)\n"
        ),
        "{}",
        stderr(&out)
    );

    // Frames the run returned are named when there is no --output.
    let out = python(&[
        "run",
        "naive_forecast",
        "--data",
        "demo-data",
        "--params",
        r#"{"series": "site.load"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).ends_with(
            "note: output frame(s) not written: forecast; pass --output DIR to write them as \
             Parquet\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn what_a_plugin_writes_to_fd_1_goes_to_stderr_even_after_its_timeout() {
    let Some(venv) = optional_venv() else { return };
    let s = Scratch::new();
    let binary = Path::new(env!("CARGO_BIN_EXE_algohost"));
    let pip = venv.join("bin").join("algohost");
    for program in [binary, &pip] {
        let run = |args: &[&str]| {
            s.command_of(program, args)
                .env("VIRTUAL_ENV", &venv)
                .output()
                .unwrap()
        };
        let out = run(&["run", "py_writes_to_fd1"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout_json(&out), serde_json::json!({"wrote": true}));
        let err = stderr(&out);
        assert!(
            err.contains("py_writes_to_fd1 writes to fd 1\n")
                && err.contains("py_writes_to_fd1's child writes to its stdout\n"),
            "{program:?}: {err}"
        );

        // Given up at its timeout, the plugin writes on until the end.
        let out = run(&[
            "run",
            "py_writes_to_fd1",
            "--timeout",
            "0.5",
            "--params",
            r#"{"seconds": 30}"#,
        ]);
        assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{program:?}");
        assert!(
            stderr(&out).contains("py_writes_to_fd1 still writes to fd 1\n"),
            "{program:?}: {}",
            stderr(&out)
        );
    }
}

/// A Python plugin `soc_range` whose pydantic model refuses `soc_min` at or
/// above `soc_max`, importable from `dir` on PYTHONPATH.
fn write_soc_range_plugin(dir: &Path) {
    std::fs::write(
        dir.join("soc_range.py"),
        r#"import algohost, pydantic

class Battery(pydantic.BaseModel):
    soc_min: float = 0.1
    soc_max: float = 0.9

    @pydantic.model_validator(mode="after")
    def ordered(self):
        if self.soc_min >= self.soc_max:
            raise ValueError("soc_min must be below soc_max")
        return self

class Params(pydantic.BaseModel):
    batteries: list[Battery]

@algohost.algorithm
def soc_range(ctx: algohost.Context, params: Params) -> dict:
    """Counts the batteries."""
    return {"batteries": len(params.batteries)}
"#,
    )
    .unwrap();
    let dist_info = dir.join("soc_range-0.1.0.dist-info");
    std::fs::create_dir(&dist_info).unwrap();
    std::fs::write(
        dist_info.join("METADATA"),
        "Metadata-Version: 2.1\nName: soc-range\nVersion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(
        dist_info.join("entry_points.txt"),
        "[algohost.algorithms]\nsoc_range = soc_range:soc_range\n",
    )
    .unwrap();
}

#[test]
fn params_a_python_plugins_pydantic_validator_refuses_exit_2_with_their_pointers() {
    let Some(venv) = optional_venv() else { return };
    let s = Scratch::new();
    let site = s.path().join("site");
    std::fs::create_dir(&site).unwrap();
    write_soc_range_plugin(&site);
    let params = r#"{"batteries": [{}, {"soc_min": 0.9, "soc_max": 0.1}]}"#;
    let out = s
        .command(&["run", "soc_range", "--params", params])
        .env("VIRTUAL_ENV", &venv)
        .env("PYTHONPATH", &site)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.ends_with(
            " of soc_range failed: invalid input: invalid params for 'soc_range' (1 error):\n  \
             /batteries/1: soc_min must be below soc_max\n"
        ),
        "{err}"
    );
}
