//! The `algohost` binary as a user runs it: listings, validation errors with
//! their pointers and exit codes, runs with outputs, and failures.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::copy_plugins;

/// A scratch directory with the demo data and a plugin dir holding the
/// peak-shaving and echo fixture libraries.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
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

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn algohost(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_algohost"))
            .args(args)
            .current_dir(self.path())
            .env("ALGOHOST_PLUGIN_PATH", self.path().join("plugins"))
            .env_remove("ALGOHOST_DATA")
            .output()
            .unwrap()
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
fn a_failed_run_exits_1_with_the_plugin_message_and_no_data_says_how_to_give_some() {
    let s = Scratch::new();
    let params = r#"{"limit_kw": 55, "battery": {"capacity_kwh": 300, "power_kw": 40}, "load": "site.nope"}"#;
    let out = s.algohost(&[
        "run",
        "peak_shaving",
        "--data",
        "demo-data",
        "--params",
        params,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("site.nope"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());

    let params = r#"{"names": ["site.load"], "resolution": "PT1H"}"#;
    let out = s.algohost(&["run", "resample", "--params", params]);
    assert_eq!(out.status.code(), Some(1));
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

    // A mistyped data point name is answered with the close one.
    let params = r#"{"names": ["site.lod"], "resolution": "PT1H"}"#;
    let out = s.algohost(&["run", "resample", "--data", "demo-data", "--params", params]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
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
        stderr(&out).contains("timed_out: the run did not finish within its timeout of 0.3s"),
        "{}",
        stderr(&out)
    );
    for (given, shown) in [("0", "0"), ("1e19", "1e19"), ("0.0000001", "1e-7")] {
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
}
