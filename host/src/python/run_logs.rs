//! A run's log records as Python `logging` records while `Host.run` or
//! `Host.run_async` goes on, so that a notebook shows a run's warnings as it
//! shows any library's: with no logging configured, WARNING and up reach
//! stderr through `logging.lastResort`.
//!
//! Each record is emitted live, on the thread that keeps it (the run's), at
//! its level: a record of a Rust plugin or of the host on the logger
//! `algohost.run.<algorithm>`. A record a Python plugin made with `logging`
//! has been through Python's handlers already; it is emitted again, on its
//! own logger, only when none of the application's handlers had it (which
//! is when Python would have used `lastResort`), so it is shown once either
//! way. Emitted records carry `algohost_run`, which tells the package's
//! run-log handler (`algohost._logging`) not to keep them on the run again.

use std::cell::Cell;

use algohost_sdk::logging::LogRecord;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use super::exit;

/// Parent of the loggers of the records of Rust plugins and the host.
pub const LOGGER: &str = "algohost.run";

thread_local! {
    /// Set while [`from_python_logging`] keeps a record: whether one of the
    /// application's handlers had it.
    static FROM_PYTHON: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Runs `keep` (which keeps a record that came through Python `logging` on
/// the run) telling [`PythonLogging`] where the record came from:
/// `is_handled` says whether one of the application's handlers had it.
pub fn from_python_logging<R>(is_handled: bool, keep: impl FnOnce() -> R) -> R {
    let outer = FROM_PYTHON.with(|origin| origin.replace(Some(is_handled)));
    let kept = keep();
    FROM_PYTHON.with(|origin| origin.set(outer));
    kept
}

/// Emits the records of one run's algorithm to Python `logging`.
pub struct PythonLogging {
    /// `algohost.run.<algorithm>`.
    logger: String,
}

impl PythonLogging {
    pub fn new(algorithm: &str) -> Self {
        Self {
            logger: format!("{LOGGER}.{algorithm}"),
        }
    }

    /// Emits `record`, unless it came through Python `logging` and a
    /// handler of the application's had it. A failure to emit is shown as
    /// Python shows errors it cannot raise (`sys.unraisablehook`).
    pub fn emit(&self, record: &LogRecord) {
        let origin = FROM_PYTHON.with(Cell::get);
        if origin == Some(true) {
            return;
        }
        // Never into an interpreter that is exiting.
        let Some(_in_python) = exit::InPython::enter() else {
            return;
        };
        let logger = match origin {
            Some(_) => record.target.as_str(),
            None => self.logger.as_str(),
        };
        Python::attach(|py| {
            if let Err(e) = emit(py, logger, record) {
                e.write_unraisable(py, None);
            }
        });
    }
}

static GET_LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn emit(py: Python<'_>, logger: &str, record: &LogRecord) -> PyResult<()> {
    let get_logger = GET_LOGGER.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("logging")?.getattr("getLogger")?.unbind())
    })?;
    let logger = get_logger.bind(py).call1((logger,))?;
    let level = level_number(&record.level);
    if !logger.call_method1("isEnabledFor", (level,))?.is_truthy()? {
        return Ok(());
    }
    let extra = PyDict::new(py);
    extra.set_item("algohost_run", true)?;
    extra.set_item("algohost_target", &record.target)?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("extra", extra)?;
    logger.call_method("log", (level, message(record)), Some(&kwargs))?;
    Ok(())
}

/// Python's number for a record's level (`trace` below `DEBUG`).
fn level_number(level: &str) -> u8 {
    match level {
        "error" => 40,
        "warn" => 30,
        "info" => 20,
        "debug" => 10,
        _ => 5,
    }
}

/// The message with the record's fields after it, as `tracing` shows them:
/// `rows=3 unit=kW`.
fn message(record: &LogRecord) -> String {
    let fields = record.fields.iter().map(|(key, value)| match value {
        serde_json::Value::String(text) => format!("{key}={text}"),
        other => format!("{key}={other}"),
    });
    std::iter::once(record.message.clone())
        .filter(|message| !message.is_empty())
        .chain(fields)
        .collect::<Vec<_>>()
        .join(" ")
}
