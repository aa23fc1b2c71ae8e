//! The README's Rust plugin (`examples/rust-plugin`, `load_peaks`) loaded as
//! a dylib by the `algohost` CLI: what its author sees.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::copy_plugins;

const LIBRARY: &str = "libload_peaks.so";

/// `algohost` in `dir`, with the plugin in `dir/plugins` and the demo data in
/// `dir/demo-data`.
fn algohost(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_algohost"))
        .args(args)
        .current_dir(dir)
        .env("ALGOHOST_PLUGIN_PATH", dir.join("plugins"))
        .env_remove("ALGOHOST_DATA")
        .env_remove("ALGOHOST_LOG")
        .env_remove("VIRTUAL_ENV")
        .output()
        .unwrap()
}

fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    copy_plugins(&dir.path().join("plugins"), &[LIBRARY]);
    algohost::demo::generate(&dir.path().join("demo-data")).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_example_runs_on_the_demo_data_and_writes_its_peaks() {
    let dir = scratch();
    let out = algohost(
        dir.path(),
        &[
            "run",
            "load_peaks",
            "--data",
            "demo-data",
            "--output",
            "out",
            "--params",
            r#"{"limit_kw": 60}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        summary["intervals_above"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(dir.path().join("out/peaks.parquet").exists());
}

/// The params schema is closed (the SDK's default): a misspelt field is
/// refused before the run, where serde alone would have ignored it and run
/// with the default series.
#[test]
fn a_misspelt_params_field_is_refused() {
    let dir = scratch();
    let params = r#"{"limit_kw": 60, "seris": "site.pv"}"#;
    let validate = ["validate", "load_peaks", "--params", params];
    let run = [
        "run",
        "load_peaks",
        "--data",
        "demo-data",
        "--params",
        params,
    ];
    for command in [&validate[..], &run[..]] {
        let out = algohost(dir.path(), command);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {}", stderr(&out));
        assert!(
            stderr(&out)
                .contains("/: Additional properties are not allowed ('seris' was unexpected)"),
            "{command:?}: {}",
            stderr(&out)
        );
    }
}
