//! The custom host lists and runs its own algorithm beside the builtin ones,
//! and writes the frame it declares.

use std::process::Command;

#[test]
fn my_host_lists_and_runs_its_own_algorithm_on_the_demo_data() {
    let data = tempfile::tempdir().unwrap();
    algohost::demo::generate(data.path()).unwrap();
    let host = env!("CARGO_BIN_EXE_my-host");

    let list = Command::new(host)
        .args(["list", "--json"])
        .output()
        .unwrap();
    assert!(list.status.success());
    let manifests: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let names: Vec<&str> = manifests
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["self_consumption"]);

    let out = tempfile::tempdir().unwrap();
    let run = Command::new(host)
        .args(["run", "self_consumption", "--data"])
        .arg(data.path())
        .arg("--output")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let ratio = summary["ratio"].as_f64().unwrap();
    assert!(summary["pv_kwh"].as_f64().unwrap() > 1000.0, "{summary}");
    assert!(ratio > 0.0 && ratio <= 1.0, "{summary}");
    // The frame its outputs declare, as Parquet.
    assert!(out.path().join("daily.parquet").exists());
}
