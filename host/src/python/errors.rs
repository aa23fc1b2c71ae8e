//! The one place where host errors become Python exceptions and Python
//! exceptions become plugin errors.
//!
//! The exception classes are defined in Python source here (so that
//! `ValidationError` can subclass both `AlgohostError` and `ValueError`) and
//! live in `algohost._native`; the package re-exports them as `algohost.*`.

use std::cell::RefCell;

use algohost_sdk::Error;
use algohost_sdk::polars::prelude::PolarsError;
use pyo3::exceptions::{PyBaseException, PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};
use serde_json::Value;

use crate::validation::ParamsError;

const DEFINITIONS: &std::ffi::CStr = cr#"
class AlgohostError(Exception):
    """Base of every algohost error."""


class ValidationError(AlgohostError, ValueError):
    """Params that do not fit the algorithm's schema; ``errors`` holds every
    error as ``{"pointer": ..., "message": ...}``."""

    def __init__(self, message, errors=()):
        super().__init__(message)
        self.errors = list(errors)


class PluginError(AlgohostError):
    """An algorithm or plugin that cannot be used: an unknown name, a bad
    schema, a plugin that failed to load."""


class RunFailed(AlgohostError):
    """A run that ended ``failed``: ``kind`` is its error kind, ``details``
    e.g. the Python traceback, ``run`` the run itself. The plugin's
    traceback (``details["traceback"]``, from a Python plugin or a failed
    context call) is added as a note, shown under this exception's own."""

    def __init__(self, message, kind="failed", details=None, run=None):
        super().__init__(message)
        self.kind = kind
        self.details = details
        self.run = run
        trace = details.get("traceback") if isinstance(details, dict) else None
        if isinstance(trace, str) and hasattr(self, "add_note"):
            self.add_note(
                "the plugin's traceback (also in .details['traceback']):\n"
                + trace.rstrip("\n")
            )


class Cancelled(AlgohostError):
    """The run was cancelled; ``run`` is the run, from ``raise_for_status``."""

    def __init__(self, message="the run was cancelled", run=None):
        super().__init__(message)
        self.run = run


class TimedOut(AlgohostError):
    """The run passed its deadline; ``run`` is the run, from
    ``raise_for_status``."""

    def __init__(self, message="the run passed its deadline", run=None):
        super().__init__(message)
        self.run = run
"#;

/// The attribute on an `AlgohostError` raised by a context call that keeps
/// the SDK error's kind and message, so that the run it fails (when the
/// plugin lets it through) has the same error as a Rust algorithm's.
const SDK_ERROR: &str = "_algohost_sdk_error";

/// The exception classes, defined once per interpreter.
pub struct Exceptions {
    pub base: Py<PyType>,
    pub validation: Py<PyType>,
    pub plugin: Py<PyType>,
    pub run_failed: Py<PyType>,
    pub cancelled: Py<PyType>,
    pub timed_out: Py<PyType>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// The exception classes (defining them on first use).
pub fn exceptions(py: Python<'_>) -> &Exceptions {
    EXCEPTIONS.get_or_init(py, || {
        define(py).expect("the algohost exception classes are valid Python")
    })
}

fn define(py: Python<'_>) -> PyResult<Exceptions> {
    let namespace = PyDict::new(py);
    namespace.set_item("__name__", "algohost")?;
    namespace.set_item("__builtins__", py.import("builtins")?)?;
    py.run(DEFINITIONS, Some(&namespace), None)?;
    let get = |name: &str| -> PyResult<Py<PyType>> {
        Ok(namespace
            .get_item(name)?
            .expect("defined above")
            .cast_into::<PyType>()?
            .unbind())
    };
    Ok(Exceptions {
        base: get("AlgohostError")?,
        validation: get("ValidationError")?,
        plugin: get("PluginError")?,
        run_failed: get("RunFailed")?,
        cancelled: get("Cancelled")?,
        timed_out: get("TimedOut")?,
    })
}

/// Adds the classes to the module.
pub fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let e = exceptions(py);
    for (name, ty) in [
        ("AlgohostError", &e.base),
        ("ValidationError", &e.validation),
        ("PluginError", &e.plugin),
        ("RunFailed", &e.run_failed),
        ("Cancelled", &e.cancelled),
        ("TimedOut", &e.timed_out),
    ] {
        m.add(name, ty.bind(py))?;
    }
    Ok(())
}

fn raise<'py>(ty: &Py<PyType>, py: Python<'py>, args: impl IntoPyObject<'py>) -> PyErr {
    match ty.bind(py).call1((args,)) {
        Ok(value) => PyErr::from_value(value),
        Err(e) => e,
    }
}

/// `AlgohostError(message)`.
pub fn algohost_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(&exceptions(py).base, py, message.into())
}

/// `PluginError(message)`.
pub fn plugin_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    raise(&exceptions(py).plugin, py, message.into())
}

/// `ValidationError` with every error and its pointer.
pub fn validation_error(py: Python<'_>, algorithm: &str, errors: &[ParamsError]) -> PyErr {
    let lines: Vec<String> = errors
        .iter()
        .map(|e| format!("  {}: {}", display_pointer(&e.pointer), e.message))
        .collect();
    let message = format!(
        "invalid params for '{algorithm}' ({} error{}):\n{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        lines.join("\n")
    );
    let build = || -> PyResult<PyErr> {
        let list = PyList::empty(py);
        for e in errors {
            let item = PyDict::new(py);
            item.set_item("pointer", &e.pointer)?;
            item.set_item("message", &e.message)?;
            list.append(item)?;
        }
        let value = exceptions(py).validation.bind(py).call1((message, list))?;
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|e| e)
}

/// A JSON Pointer as messages show it: `(root)` for the empty one.
pub(crate) fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() {
        "(root)"
    } else {
        pointer
    }
}

/// The exception for an error of the SDK (from a context call or a run).
pub fn from_sdk(py: Python<'_>, error: &Error) -> PyErr {
    let e = exceptions(py);
    match error {
        Error::Cancelled => raise(&e.cancelled, py, error.to_string()),
        Error::DeadlineExceeded => raise(&e.timed_out, py, error.to_string()),
        _ => {
            let err = raise(&e.base, py, error.to_string());
            if let Some(parts) = sdk_parts(error) {
                // Best effort: without it the run fails as an `exception`.
                let _ = err.value(py).setattr(SDK_ERROR, parts);
            }
            err
        }
    }
}

/// `(kind, message)` of an SDK error that a Python plugin can let through
/// and keep, for [`from_sdk`] and [`to_sdk`].
fn sdk_parts(error: &Error) -> Option<(&'static str, String)> {
    match error {
        Error::InvalidInput(m) => Some(("invalid_input", m.clone())),
        Error::Data(m) => Some(("data", m.clone())),
        Error::Failed(m) => Some(("failed", m.clone())),
        Error::Polars(e) => Some(("polars", e.to_string())),
        _ => None,
    }
}

/// The SDK error [`from_sdk`] attached to `value`, if any.
fn sdk_error_of(value: &Bound<'_, PyAny>) -> Option<Error> {
    let (kind, message): (String, String) = value.getattr(SDK_ERROR).ok()?.extract().ok()?;
    match kind.as_str() {
        "invalid_input" => Some(Error::InvalidInput(message)),
        "data" => Some(Error::Data(message)),
        "polars" => Some(Error::Polars(PolarsError::ComputeError(message.into()))),
        _ => Some(Error::Failed(message)),
    }
}

/// `err` with `what: ` before its message, when it is an error of the SDK
/// (an output frame that cannot be imported, say); other errors as they are.
pub fn prefixed(py: Python<'_>, err: &PyErr, what: &str) -> PyErr {
    match sdk_error_of(err.value(py)) {
        Some(Error::InvalidInput(m)) => from_sdk(py, &Error::InvalidInput(format!("{what}: {m}"))),
        Some(Error::Data(m)) => from_sdk(py, &Error::Data(format!("{what}: {m}"))),
        Some(Error::Failed(m)) => from_sdk(py, &Error::Failed(format!("{what}: {m}"))),
        _ => err.clone_ref(py),
    }
}

/// `err` as an SDK failure (which [`prefixed`] can say more about) when it
/// is a plain `AlgohostError`, as algohost's own Python code raises for a
/// frame it cannot take; any other error as it is. The failure's cause is
/// `err`.
pub fn as_sdk_failure(py: Python<'_>, err: PyErr) -> PyErr {
    if !err.get_type(py).is(exceptions(py).base.bind(py)) || sdk_error_of(err.value(py)).is_some() {
        return err;
    }
    let message = err
        .value(py)
        .str()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let failure = from_sdk(py, &Error::Failed(message));
    failure.set_cause(py, Some(err));
    failure
}

thread_local! {
    /// Inside [`catching_interrupts`]: the `KeyboardInterrupt` a plugin on
    /// this thread raised, if any.
    static INTERRUPT: RefCell<Option<Option<PyErr>>> = const { RefCell::new(None) };
}

/// Runs `f` (a run executing a Python plugin on this thread) with
/// `KeyboardInterrupt` taken as the caller's Ctrl-C: the plugin's run is
/// cancelled, and the interrupt is returned for the caller to raise.
/// Elsewhere (the CLI, the server) a `KeyboardInterrupt` fails the run.
pub fn catching_interrupts<T>(f: impl FnOnce() -> T) -> (T, Option<PyErr>) {
    let outer = INTERRUPT.with(|slot| slot.replace(Some(None)));
    let value = f();
    let interrupt = INTERRUPT.with(|slot| slot.replace(outer)).flatten();
    (value, interrupt)
}

/// `RunFailed`, `Cancelled` or `TimedOut` for a run that did not succeed.
pub fn from_run(
    py: Python<'_>,
    status: &str,
    kind: &str,
    message: &str,
    details: Bound<'_, PyAny>,
    run: Bound<'_, PyAny>,
) -> PyErr {
    let e = exceptions(py);
    let raised = match status {
        "cancelled" => e.cancelled.bind(py).call1((message, run)),
        "timed_out" => e.timed_out.bind(py).call1((message, run)),
        _ => e.run_failed.bind(py).call1((message, kind, details, run)),
    };
    match raised {
        Ok(value) => PyErr::from_value(value),
        Err(err) => err,
    }
}

/// The plugin error for an exception raised by a Python plugin: our own
/// `Cancelled` keeps its meaning, and so does `TimedOut` in a run with a
/// deadline (`has_deadline`); an `AlgohostError` of a context call keeps the
/// SDK error's kind (`invalid_input`, `data`), its traceback going to the
/// run's details through [`details`]; a `KeyboardInterrupt` inside
/// [`catching_interrupts`] cancels the run. Anything else, including
/// `SystemExit`, fails the run with the traceback.
pub fn to_sdk(py: Python<'_>, err: &PyErr, has_deadline: bool) -> Error {
    let e = exceptions(py);
    let value = err.value(py);
    if value.is_instance(e.cancelled.bind(py)).unwrap_or(false) {
        return Error::Cancelled;
    }
    if has_deadline && value.is_instance(e.timed_out.bind(py)).unwrap_or(false) {
        return Error::DeadlineExceeded;
    }
    if let Some(error) = sdk_error_of(value) {
        return error;
    }
    if value.is_instance(e.validation.bind(py)).unwrap_or(false) {
        // Params the plugin's model refused (`AlgorithmSpec.invoke`).
        let message = value.str().map(|s| s.to_string()).unwrap_or_default();
        return Error::InvalidInput(message);
    }
    if err.is_instance_of::<PyKeyboardInterrupt>(py) {
        let caught = INTERRUPT.with(|slot| match &mut *slot.borrow_mut() {
            Some(interrupt) => {
                *interrupt = Some(err.clone_ref(py));
                true
            }
            None => false,
        });
        if caught {
            return Error::Cancelled;
        }
    }
    let exception = exception_name(value);
    let mut message = value.str().map(|s| s.to_string()).unwrap_or_default();
    if err.is_instance_of::<PySystemExit>(py) {
        message = format!("the plugin called sys.exit({message}); a plugin must return or raise");
    } else if err.is_instance_of::<PyKeyboardInterrupt>(py) && message.is_empty() {
        message = "interrupted inside the plugin".to_owned();
    } else if !err.is_instance_of::<PyBaseException>(py) {
        message = format!("not an exception: {message}");
    }
    Error::Raised {
        exception,
        message,
        traceback: traceback(py, err),
    }
}

/// A failed run's `error.details` for the exception `err` that ended it, as
/// an exception of the plugin's own has them (its type and traceback):
/// for the error of a context call that the plugin let through, whose
/// [`to_sdk`] error keeps the kind and message but not where it was raised.
/// For a `ValidationError`, its `errors` (each with its pointer) instead.
/// Null for an exception that was never raised in Python.
pub fn details(py: Python<'_>, err: &PyErr) -> Value {
    let value = err.value(py);
    if value
        .is_instance(exceptions(py).validation.bind(py))
        .unwrap_or(false)
    {
        let errors = value
            .getattr("errors")
            .ok()
            .and_then(|errors| pythonize::depythonize::<Vec<ParamsError>>(&errors).ok());
        return serde_json::json!({ "errors": errors.unwrap_or_default() });
    }
    if err.traceback(py).is_none() {
        return Value::Null;
    }
    serde_json::json!({
        "exception": exception_name(err.value(py)),
        "traceback": traceback(py, err),
    })
}

/// The exception's type name, e.g. `AlgohostError`.
fn exception_name(value: &Bound<'_, PyBaseException>) -> String {
    value
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".to_owned())
}

/// The formatted traceback of `err` (empty when it cannot be formatted).
fn traceback(py: Python<'_>, err: &PyErr) -> String {
    let format = || -> PyResult<String> {
        let lines = py.import("traceback")?.call_method1(
            "format_exception",
            (err.get_type(py), err.value(py), err.traceback(py)),
        )?;
        let lines: Vec<String> = lines.extract()?;
        Ok(lines.concat())
    };
    format().unwrap_or_default()
}
