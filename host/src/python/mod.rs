//! Everything pyo3 in the host (feature `python`): the `python` source
//! (entry points), the classes of `algohost._native`, and CPython embedded
//! in the `algohost` binary.
//!
//! Two front doors, one host: the package's native module calls
//! [`init_module`] when Python imports it; the `algohost` binary calls
//! [`embed`] first thing, which starts CPython and installs the same module
//! as `algohost._native` before any plugin is imported, so that there is one
//! `algohost.Context` class either way.

pub mod context;
pub mod data;
mod data_access;
pub mod errors;
mod exit;
pub mod frames;
pub mod host;
mod interrupt;
mod logging;
pub mod params;
mod progress;
mod run;
mod run_future;
mod run_html;
mod run_logs;
pub mod source;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// `value` as Python objects (dicts, lists, str, …).
pub(crate) fn to_py<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, value)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// Whether a Python interpreter runs in this process.
#[allow(unsafe_code)]
pub fn interpreter_running() -> bool {
    // SAFETY: Py_IsInitialized may be called at any time.
    unsafe { pyo3::ffi::Py_IsInitialized() != 0 }
}

/// Fills `algohost._native`.
pub fn init_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::add_to(m)?;
    data::add_to(m)?;
    m.add_class::<context::PyContext>()?;
    host::add_to(m)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(init_logging, m)?)?;
    m.add_function(wrap_pyfunction!(cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(params::summary_to_json, m)?)?;
    // Private: called by `atexit` (and by the tests, with a short grace).
    let shutdown = wrap_pyfunction!(exit::shutdown, m)?;
    m.add_function(shutdown.clone())?;
    m.py()
        .import("atexit")?
        .call_method1("register", (shutdown,))?;
    Ok(())
}

/// The algohost version (the Rust workspace's), e.g. `"0.1.0"`.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// Forwards the host's `tracing` events to Python `logging` (loggers named
/// after the Rust module path, e.g. `algohost.runner`); `level` is a level or
/// filter such as `"info"` or `"algohost=debug"`. Idempotent; use
/// `algohost.init()`.
#[pyfunction]
#[pyo3(signature = (level = None))]
fn init_logging(level: Option<&str>) -> PyResult<()> {
    logging::install(level.unwrap_or("info")).map_err(pyo3::exceptions::PyValueError::new_err)
}

/// Runs the `algohost` command line in this process (`argv[0]` is the program
/// name) and returns its exit code. Releases the GIL meanwhile. Python's
/// `sys.stdout` is `sys.stderr` until it returns (see [`prints_to_stderr`]).
#[pyfunction]
fn cli_main(py: Python<'_>, argv: Vec<String>) -> PyResult<u8> {
    let stdout = prints_to_stderr(py)?;
    let code = py.detach(|| crate::cli::run_with_args(argv));
    let sys = py.import("sys")?;
    if sys.getattr("stdout")?.is(&sys.getattr("stderr")?) {
        sys.setattr("stdout", stdout)?;
    }
    Ok(code)
}

/// Points Python's `sys.stdout` at `sys.stderr` and returns what it was: in
/// the CLI, a plugin's `print()` (in a run, or when its package is imported)
/// must not mix into what the CLI writes on stdout (JSON, say), which it
/// writes from Rust, not through `sys.stdout`.
fn prints_to_stderr(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let sys = py.import("sys")?;
    let stdout = sys.getattr("stdout")?;
    sys.setattr("stdout", sys.getattr("stderr")?)?;
    Ok(stdout)
}

/// Where the `algohost` binary looks for Python plugins: the virtualenv in
/// `VIRTUAL_ENV` (set by [`embed`]; unset in a Python process, whose own
/// environment has them).
#[derive(Debug, Clone)]
pub enum Venv {
    /// `VIRTUAL_ENV` is not set: only the interpreter's own site-packages.
    Unset,
    /// Its site-packages, added.
    Found(std::path::PathBuf),
    /// `VIRTUAL_ENV` names no virtualenv of this Python version.
    Missing {
        /// `VIRTUAL_ENV`.
        venv: std::path::PathBuf,
        /// The site-packages looked for.
        site: std::path::PathBuf,
        /// This interpreter's `major.minor`.
        version: String,
    },
}

static VENV: std::sync::OnceLock<Venv> = std::sync::OnceLock::new();

/// The virtualenv the binary's embedded Python searched, if it embedded one.
pub fn venv() -> Option<&'static Venv> {
    VENV.get()
}

/// Starts CPython for the `algohost` binary (feature `python`): installs
/// this binary's module as `algohost._native` (so the package's own native
/// library is never loaded beside it), adds the site-packages of the
/// virtualenv in `VIRTUAL_ENV`, if any, so that its plugins are found, and
/// sends Python's prints to stderr (`prints_to_stderr`). Failing to start
/// Python is logged; the host goes on without it.
pub fn embed() {
    if interpreter_running() {
        return;
    }
    Python::initialize();
    let installed = Python::attach(|py| -> PyResult<()> {
        let module = PyModule::new(py, "algohost._native")?;
        init_module(&module)?;
        let sys = py.import("sys")?;
        sys.getattr("modules")?
            .cast_into::<PyDict>()?
            .set_item("algohost._native", module)?;
        let venv = match std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
            None => Venv::Unset,
            Some(venv) => {
                let (major, minor) = (py.version_info().major, py.version_info().minor);
                let site = std::path::Path::new(&venv)
                    .join("lib")
                    .join(format!("python{major}.{minor}"))
                    .join("site-packages");
                if site.is_dir() {
                    py.import("site")?.call_method1("addsitedir", (&site,))?;
                    Venv::Found(site)
                } else {
                    Venv::Missing {
                        venv: venv.into(),
                        site,
                        version: format!("{major}.{minor}"),
                    }
                }
            }
        };
        let _ = VENV.set(venv);
        prints_to_stderr(py)?;
        Ok(())
    });
    if let Err(e) = installed {
        tracing::warn!("Python plugins are unavailable: starting Python failed: {e}");
    }
}
