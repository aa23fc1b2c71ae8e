//! Helpers shared by the integration tests.

use std::path::PathBuf;
use std::sync::Arc;

use algohost::adapters::{Adapter, NoData};
use algohost::runner::{CancelToken, NoObserver, RunRequest};
use serde_json::Value;

/// `<target>/debug`, where cargo puts the binary and the plugin libraries.
pub fn target_debug_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/debug/deps/it-<hash>
    exe.parent()
        .and_then(|p| p.parent())
        .expect("target/debug")
        .to_path_buf()
}

/// Copies plugin libraries from the target dir into `dir` (a plugin dir).
pub fn copy_plugins(dir: &std::path::Path, libraries: &[&str]) {
    for lib in libraries {
        let from = target_debug_dir().join(lib);
        assert!(
            from.exists(),
            "{} is missing: `make test` builds it first",
            from.display()
        );
        std::fs::copy(&from, dir.join(lib)).unwrap();
    }
}

/// A run request without data, timeout or observer.
pub fn request(algorithm: &str, params: Value) -> RunRequest {
    request_with(algorithm, params, Arc::new(NoData))
}

/// A run request on `adapter`.
pub fn request_with(algorithm: &str, params: Value, adapter: Arc<dyn Adapter>) -> RunRequest {
    RunRequest {
        algorithm: algorithm.to_owned(),
        params,
        timeout: None,
        adapter,
        cancel: CancelToken::new(),
        observer: Arc::new(NoObserver),
    }
}

/// The tests' virtualenv with the algohost package, the Python plugins and
/// the Python test fixtures (`make test` installs it as `.venv-test`).
pub fn test_venv() -> PathBuf {
    let venv = std::env::var_os("ALGOHOST_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-test"));
    assert!(
        venv.join("bin").join("algohost").exists(),
        "{} has no algohost package: `make test` installs it first (or `make .venv-test/.installed`)",
        venv.display()
    );
    venv
}

/// Runs `script` with the tests' virtualenv's Python (pyarrow, polars) in
/// `dir`, for files and bodies the host's polars cannot make (decimals).
pub fn venv_python(dir: &std::path::Path, script: &str) {
    let out = std::process::Command::new(test_venv().join("bin").join("python"))
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// pyarrow code making `table`: a `ts` column of two UTC quarter-hours and
/// a decimal(10, 2) column `meter.load`, as databases export money and
/// meter readings.
pub const DECIMAL_TABLE: &str = "\
import datetime as dt, decimal, pyarrow as pa
utc = dt.timezone.utc
table = pa.table({
    'ts': pa.array([dt.datetime(2026, 1, 1, tzinfo=utc), dt.datetime(2026, 1, 1, 0, 15, tzinfo=utc)],
                   pa.timestamp('us', tz='UTC')),
    'meter.load': pa.array([decimal.Decimal('1.50'), decimal.Decimal('2.25')], pa.decimal128(10, 2)),
})
";
