//! `algohost.Host`: driving the host from Python (its runs are
//! `run::PyRun`). Rust
//! work runs without the GIL on a runner thread; a blocking `run` wakes
//! every 100 ms to let Ctrl-C through (it cancels the run, see
//! `interrupt`), and `run_async`
//! is a coroutine that starts the run when awaited and waits on an asyncio
//! future the run's thread settles (`run_future`), never blocking
//! the event loop. A Python algorithm without a timeout, run
//! blocking, runs on the caller's thread, where Ctrl-C cancels it too.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use algohost_sdk::Context;
use algohost_sdk::data::{DataPointConfig, DataPointFilter, FlowFilter};
use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString};

use super::data::{PyDataPointConfig, PyDataPointFilter};
use super::params::describe;
use super::progress::ProgressCallback;
use super::run::PyRun;
use super::run_future::RunFuture;
use super::run_logs::PythonLogging;
use super::{data_access, errors, exit, interrupt, params, to_py};
use crate::adapters::{self, Adapter};
use crate::registry::{Registry, UnknownAlgorithm};
use crate::runner::{
    self, CancelToken, Execution, Run, RunObserver, RunOutcome, RunRejected, RunRequest, RunStatus,
};
use crate::sources::{self, DiscoveryOptions};

/// The adapter of a host given no data, with a message in Python's words
/// (the CLI's own says `--data`).
struct NoData;

impl NoData {
    fn error<T>() -> algohost_sdk::Result<T> {
        Err(algohost_sdk::Error::Data(
            "this run reads or writes data but none was given: pass Host(data=...) or \
             host.run(..., data=...): a directory (for example the demo data made by \
             `algohost demo-data DIR`), postgres://... or http://HOST:PORT (another \
             `algohost serve`)"
                .into(),
        ))
    }
}

impl Adapter for NoData {
    fn data_points(&self, _: &DataPointFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        Self::error()
    }
    fn read(&self, _: &DataPointFilter) -> algohost_sdk::Result<DataFrame> {
        Self::error()
    }
    fn write(&self, _: &DataFrame) -> algohost_sdk::Result<()> {
        Self::error()
    }
    fn flows(&self, _: &FlowFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        Self::error()
    }
    fn define_data_points(
        &self,
        _: &[DataPointConfig],
    ) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        Self::error()
    }
}

/// A path given as `str` or `os.PathLike` (bytes too), with `~` expanded.
fn path_of(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let os = value.py().import("os")?;
    let text = os
        .call_method1("fsdecode", (value,))
        .and_then(|t| t.extract::<String>())
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be a path (str or os.PathLike), got {}",
                describe(value)
            ))
        })?;
    os.getattr("path")?
        .call_method1("expanduser", (text,))?
        .extract()
}

/// `data=`: a path (str or os.PathLike) or a URL; None when not given.
fn data_of(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    path_of(value, "data (a directory, postgres://... or http://...)").map(Some)
}

/// `plugin_dirs=`: one path or a list of them.
fn plugin_dirs_of(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<PathBuf>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if value.is_instance_of::<PyString>() || value.hasattr("__fspath__")? {
        return Ok(vec![PathBuf::from(path_of(value, "plugin_dirs")?)]);
    }
    let items = value.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "plugin_dirs must be a path or a list of paths (str or os.PathLike), got {}",
            describe(value)
        ))
    })?;
    items
        .map(|item| Ok(PathBuf::from(path_of(&item?, "each of plugin_dirs")?)))
        .collect()
}

/// `algorithms=`: a list (any iterable) of decorated functions.
fn functions_of<'py>(value: Option<&Bound<'py, PyAny>>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    let not_a_list = || {
        PyTypeError::new_err(format!(
            "algorithms must be a list of functions decorated with @algohost.algorithm \
             (algorithms=[f]), got {}",
            describe(value)
        ))
    };
    if value.is_instance_of::<PyString>() || value.hasattr("__algohost__")? {
        return Err(not_a_list());
    }
    value
        .try_iter()
        .map_err(|_| not_a_list())?
        .collect::<PyResult<Vec<_>>>()
}

fn open_data(py: Python<'_>, spec: Option<&str>) -> PyResult<Arc<dyn Adapter>> {
    match spec {
        None => Ok(Arc::new(NoData)),
        Some(spec) => py.detach(|| adapters::open_existing(spec)).map_err(|e| {
            // As the CLI's --data, a missing directory is refused (a
            // mistyped path), but an empty one is a fine start.
            let is_missing_dir = adapters::DataSpec::of(spec)
                .is_ok_and(|kind| kind == adapters::DataSpec::Files)
                && !std::path::Path::new(spec).exists();
            let start_empty = if is_missing_dir {
                format!(
                    "; or, to start without data, create it empty (os.makedirs({spec:?})): \
                     runs then add the data points they define"
                )
            } else {
                String::new()
            };
            errors::algohost_error(
                py,
                format!(
                    "cannot open the data at {}: {e}{start_empty}",
                    adapters::display_spec(spec)
                ),
            )
        }),
    }
}

fn timeout_of(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout
        .map(runner::timeout_from_secs)
        .transpose()
        .map_err(|e| PyValueError::new_err(format!("timeout {e}")))
}

pub(super) fn rejected(py: Python<'_>, rejection: RunRejected) -> PyErr {
    match rejection {
        RunRejected::UnknownAlgorithm(unknown) => unknown_algorithm(py, &unknown),
        RunRejected::InvalidParams { algorithm, errors } => {
            errors::validation_error(py, &algorithm, &errors)
        }
    }
}

/// `PluginError` for an unknown name; with no close name to suggest, it says
/// that a `Host` has the plugins installed when it was made.
fn unknown_algorithm(py: Python<'_>, unknown: &UnknownAlgorithm) -> PyErr {
    let mut message = unknown.to_string();
    if unknown.close.is_empty() {
        message.push_str(
            "; a plugin installed after this Host was made needs a new algohost.Host() \
             (one whose code changed since it was imported: importlib.reload(its module) \
             first, or restart Python, the notebook's kernel)",
        );
    }
    errors::plugin_error(py, message)
}

/// Every algorithm from every source (builtin, dylib, python), with the data
/// at `data` (a directory, `postgres://…` or `http(s)://…`; a `str` or
/// `os.PathLike`), plus `algorithms`: functions decorated with
/// `@algohost.algorithm` that are not installed as plugins (a notebook's,
/// say). `plugin_dirs` adds directories (or library files) of dylib plugins
/// to `ALGOHOST_PLUGIN_PATH`.
///
/// A `Host` has the plugins there are when it is made: it imports the
/// Python ones (the entry points of group `algohost.algorithms`) then. A
/// plugin installed later needs a new `Host()`; one whose code changed
/// since Python imported it needs `importlib.reload(its module)` before the
/// new `Host()`, or a restart of Python (the notebook's kernel).
///
/// ```python
/// host = algohost.Host(data="demo-data")
/// run = host.run("resample", {"names": ["site.load"], "resolution": "PT1H"})
/// ```
#[pyclass(module = "algohost", name = "Host", frozen)]
pub struct PyHost {
    registry: Arc<Registry>,
    data: Arc<dyn Adapter>,
    /// `data` for `read`, `write`, `data_points` and `define_data_points`,
    /// as a run's context has it.
    data_access: Context,
}

#[pymethods]
impl PyHost {
    #[new]
    #[pyo3(signature = (*, data = None, plugin_dirs = None, algorithms = None))]
    fn new(
        py: Python<'_>,
        data: Option<Bound<'_, PyAny>>,
        plugin_dirs: Option<Bound<'_, PyAny>>,
        algorithms: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let data = data_of(data.as_ref())?;
        let options = DiscoveryOptions::with_env(plugin_dirs_of(plugin_dirs.as_ref())?);
        let algorithms = functions_of(algorithms.as_ref())?;
        // Discovery imports Python plugins: it keeps the GIL.
        let mut registry = sources::discover(&options);
        super::source::add_functions(&mut registry, &algorithms)?;
        let registry = Arc::new(registry);
        let data = open_data(py, data.as_deref())?;
        let data_access = data_access::context_of(data.clone());
        Ok(Self {
            registry,
            data,
            data_access,
        })
    }

    /// Manifests (name, version, description, params_schema, outputs,
    /// idempotent) with their `source`, sorted by name.
    fn algorithms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for algorithm in self.registry.algorithms() {
            list.append(to_py(py, &algorithm.view())?)?;
        }
        Ok(list)
    }

    /// The manifest of algorithm `name`, with its params schema and source;
    /// `PluginError` for an unknown name.
    fn describe<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let algorithm = self
            .registry
            .get(name)
            .map_err(|e| unknown_algorithm(py, &e))?;
        to_py(py, &algorithm.view())
    }

    /// What discovery could not register: `{"source", "location", "reason",
    /// "hint"}` for each plugin that failed to load.
    fn diagnostics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.registry.diagnostics())
    }

    /// Checks `params` against the schema of algorithm `name` without running
    /// it: raises `ValidationError` with every error and its JSON Pointer
    /// (`e.errors`), `PluginError` for an unknown name.
    ///
    /// ```python
    /// try:
    ///     host.validate("resample", {"resolution": "1h"})
    /// except algohost.ValidationError as e:
    ///     print(e.errors)
    /// ```
    #[pyo3(signature = (name, params = None))]
    fn validate(
        &self,
        py: Python<'_>,
        name: &str,
        params: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let params = params::to_json(py, name, params.as_ref())?;
        runner::validate(&self.registry, name, &params).map_err(|r| rejected(py, r))
    }

    /// Validates `params` and runs algorithm `name`, blocking (without the
    /// GIL) until it ends; returns the `Run`, whatever its status (call
    /// `run.raise_for_status()` to raise for a run that did not succeed).
    /// `data` (a path or URL) replaces the host's data for this run;
    /// `timeout` (seconds) ends the run `timed_out`; `progress` is called with
    /// `(fraction, message)` as the plugin reports progress (at most every
    /// 0.1 s for the same message), on the run's thread, an exception it
    /// raises going to `sys.unraisablehook`. The run's log records go to
    /// Python `logging` as it goes on (a Rust plugin's and the host's on
    /// `algohost.run.<algorithm>`, a Python plugin's on its own loggers), so
    /// that its warnings reach stderr when logging is not configured. Ctrl-C
    /// cancels the run and raises `KeyboardInterrupt` once it has stopped,
    /// with the `Run` as the interrupt's `run` (kept even when it finished
    /// meanwhile) and a note of how it ended; a plugin that does not stop within 5 s (busy in
    /// a call into C) is given up as at a timeout, and a second Ctrl-C
    /// raises at once. Without `timeout` a Python algorithm runs on the
    /// calling thread, where Ctrl-C raises in the plugin once it is back in
    /// Python (not during a long call into C); pass `timeout` for the 5 s
    /// give-up.
    ///
    /// ```python
    /// run = host.run("resample", {"names": ["site.load"], "resolution": "PT1H"})
    /// hourly = run.raise_for_status().frames["resampled"]
    /// ```
    #[pyo3(signature = (name, params = None, *, data = None, timeout = None, progress = None))]
    fn run(
        &self,
        py: Python<'_>,
        name: &str,
        params: Option<Bound<'_, PyAny>>,
        data: Option<Bound<'_, PyAny>>,
        timeout: Option<f64>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<PyRun> {
        let request = self.request(py, name, params, data.as_ref(), timeout, progress)?;
        if request.timeout.is_none() && self.is_python(name) {
            // A Python algorithm without a deadline runs right here, on the
            // thread that holds the GIL: no thread hop, no GIL hand-over.
            // Ctrl-C raises KeyboardInterrupt inside the plugin: the run is
            // cancelled and the interrupt raised here, as for a run on
            // another thread.
            let (outcome, interrupt) =
                errors::catching_interrupts(|| runner::execute(&self.registry, request));
            return match (interrupt, outcome) {
                (None, outcome) => PyRun::from_outcome(py, outcome),
                (Some(interrupt), Ok(outcome)) => {
                    let run = outcome.run.clone();
                    let end = interrupt::End::Returned(Box::new(outcome));
                    Err(noted(py, interrupt::Interrupted { interrupt, end }, run))
                }
                (Some(interrupt), Err(_)) => Err(interrupt),
            };
        }
        let (run, execution) =
            runner::prepare_request(&self.registry, request).map_err(|r| rejected(py, r))?;
        let (record, cancel) = (run.clone(), execution.cancel.clone());
        let (tx, rx) = mpsc::sync_channel(1);
        start(py, &self.registry, run, execution, move |outcome| {
            let _ = tx.send(outcome);
        })?;
        match interrupt::wait(py, rx, &cancel)? {
            Ok(outcome) => PyRun::from_outcome(py, Ok(outcome)),
            Err(interrupted) => Err(noted(py, interrupted, record)),
        }
    }

    /// Like `run`, as a coroutine for asyncio: the run starts when it is
    /// awaited (or wrapped in a task) and never blocks the event loop.
    /// Cancelling the awaiting task cancels the run. Params are read when
    /// `run_async` is called, so changing the dict afterwards changes
    /// nothing.
    ///
    /// ```python
    /// run = await host.run_async("resample", params)
    /// task = asyncio.create_task(host.run_async("resample", params))
    /// ```
    #[pyo3(signature = (name, params = None, *, data = None, timeout = None, progress = None))]
    fn run_async<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        params: Option<Bound<'py, PyAny>>,
        data: Option<Bound<'py, PyAny>>,
        timeout: Option<f64>,
        progress: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.request(py, name, params, data.as_ref(), timeout, progress)?;
        let pending = Bound::new(
            py,
            PendingRun {
                registry: self.registry.clone(),
                request: Mutex::new(Some(request)),
            },
        )?;
        helpers(py)?.run_async.bind(py).call1((pending,))
    }

    /// The data points of the host's data that `filter` selects (all of
    /// them without one), as `ctx.data_points` gives them in a run.
    ///
    /// ```python
    /// names = [p.name for p in host.data_points()]
    /// ```
    #[pyo3(signature = (filter = None))]
    fn data_points(
        &self,
        py: Python<'_>,
        filter: Option<PyRef<'_, PyDataPointFilter>>,
    ) -> PyResult<Vec<PyDataPointConfig>> {
        data_access::data_points(py, &self.data_access, filter)
    }

    /// Samples of the host's data in wide form, as `ctx.read` gives them in a
    /// run: `ts` (UTC, `datetime[μs, UTC]`) and one Float64 column per data
    /// point name, as a polars DataFrame. An unknown name raises
    /// `AlgohostError` naming the close ones.
    ///
    /// ```python
    /// load = host.read(algohost.DataPointFilter(names=["site.load"], resolution="PT1H"))
    /// ```
    fn read<'py>(
        &self,
        py: Python<'py>,
        filter: PyRef<'py, PyDataPointFilter>,
    ) -> PyResult<Bound<'py, PyAny>> {
        data_access::frame(py, &self.data_access, &filter, Context::read)
    }

    /// Adds or replaces samples of the host's data, as `ctx.write` does in a
    /// run: a frame in wide form (`ts` and a column per data point name) or
    /// long form (`data_point_id`, `ts`, `value`); polars, pandas, pyarrow or
    /// anything with `__arrow_c_stream__`.
    fn write(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<()> {
        data_access::write(py, &self.data_access, frame)
    }

    /// Creates the data points that do not exist yet in the host's data
    /// (matched by name) and returns all of them as stored, with their ids,
    /// as `ctx.define_data_points` does in a run.
    fn define_data_points(
        &self,
        py: Python<'_>,
        points: Vec<PyDataPointConfig>,
    ) -> PyResult<Vec<PyDataPointConfig>> {
        data_access::define_data_points(py, &self.data_access, points)
    }

    fn __repr__(&self) -> String {
        format!(
            "Host({} algorithms, {} diagnostics)",
            self.registry.algorithms().count(),
            self.registry.diagnostics().len()
        )
    }
}

/// The `KeyboardInterrupt` of a Ctrl-C during a run, with the `Run` as its
/// `run` attribute and a note of how the run ended, shown under its
/// traceback (Python 3.11 and later). `record` is the run as it started.
fn noted(py: Python<'_>, interrupted: interrupt::Interrupted, record: Run) -> PyErr {
    let label = format!("run {} of '{}'", record.id, record.algorithm);
    let runs_on = "(it runs on, on its thread, until it returns)";
    let (run, note) = match interrupted.end {
        interrupt::End::Returned(outcome) => {
            let note = match outcome.run.status {
                RunStatus::Cancelled => format!("{label} was cancelled"),
                RunStatus::Succeeded => format!(
                    "{label} succeeded before its plugin saw the cancel; the Run is this \
                     KeyboardInterrupt's .run"
                ),
                status => format!(
                    "{label} ended {}; the Run is this KeyboardInterrupt's .run",
                    status.as_str()
                ),
            };
            (PyRun::from_outcome(py, Ok(*outcome)), note)
        }
        interrupt::End::GivenUp => (
            Ok(PyRun::given_up(record)),
            format!(
                "{label} was cancelled; its plugin did not stop within {}s (it does not call \
                 ctx.check()) and was given up, as at a timeout {runs_on}",
                interrupt::GRACE.as_secs()
            ),
        ),
        interrupt::End::InterruptedAgain => (
            Ok(PyRun::given_up(record)),
            format!(
                "{label} was cancelled; interrupted again, so not waiting for its plugin to \
                 stop {runs_on}"
            ),
        ),
    };
    let value = interrupted.interrupt.value(py);
    if let Ok(run) = run {
        let _ = value.setattr("run", run);
    }
    if value.hasattr("add_note").unwrap_or(false) {
        let _ = value.call_method1("add_note", (note,));
    }
    interrupted.interrupt
}

/// Python-side pieces of `Host` and `Run`, defined in Python source: the
/// coroutine `run_async` returns, and the dict of a run's frames whose
/// `KeyError` names the frames there are.
const HELPERS: &std::ffi::CStr = cr#"
async def run_async(pending):
    return await pending.start()

run_async.__name__ = "run_async"
run_async.__qualname__ = "Host.run_async"


class RunFrames(dict):
    """A run's output frames by name (a dict)."""

    __slots__ = ("_run", "_none")

    def __reduce__(self):
        # pickled and copied as a plain dict
        return (dict, (dict(self),))

    def __missing__(self, name):
        if self:
            raise KeyError(
                f"{self._run} has no frame {name!r}; its frames: {', '.join(self)}"
            )
        raise KeyError(f"{self._run} has no frame {name!r}: {self._none}")
"#;

pub(super) struct Helpers {
    run_async: Py<PyAny>,
    pub(super) run_frames: Py<PyAny>,
}

static HELPERS_DEFINED: PyOnceLock<Helpers> = PyOnceLock::new();

pub(super) fn helpers(py: Python<'_>) -> PyResult<&Helpers> {
    HELPERS_DEFINED.get_or_try_init(py, || {
        let namespace = PyDict::new(py);
        namespace.set_item("__name__", "algohost._native")?;
        namespace.set_item("__builtins__", py.import("builtins")?)?;
        py.run(HELPERS, Some(&namespace), None)?;
        let get = |name: &str| -> PyResult<Py<PyAny>> {
            Ok(namespace.get_item(name)?.expect("defined above").unbind())
        };
        Ok(Helpers {
            run_async: get("run_async")?,
            run_frames: get("RunFrames")?,
        })
    })
}

/// Adds `Host` and `Run`.
pub fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyHost>()?;
    m.add_class::<PyRun>()?;
    Ok(())
}

/// A run `Host.run_async` prepared, started when its coroutine is awaited.
#[pyclass(module = "algohost._native", name = "_PendingRun", frozen)]
pub struct PendingRun {
    registry: Arc<Registry>,
    request: Mutex<Option<RunRequest>>,
}

#[pymethods]
impl PendingRun {
    /// Starts the run; an asyncio future of its `Run`.
    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let request = self
            .request
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or_else(|| errors::algohost_error(py, "this run was started already"))?;
        let (run, execution) =
            runner::prepare_request(&self.registry, request).map_err(|r| rejected(py, r))?;
        let (future, settle) = RunFuture::new(py, execution.cancel.clone())?;
        start(py, &self.registry, run, execution, move |outcome| {
            settle.set_outcome(outcome);
        })?;
        Ok(future)
    }
}

/// Executes `run` on a runner thread (not a tokio one: a Python plugin
/// takes the GIL), waited for at interpreter exit ([`exit::LiveRun`]), and
/// hands the outcome to `send`.
fn start(
    py: Python<'_>,
    registry: &Arc<Registry>,
    run: Run,
    execution: Execution,
    send: impl FnOnce(RunOutcome) + Send + 'static,
) -> PyResult<()> {
    let registry = registry.clone();
    let live = exit::LiveRun::enter(execution.cancel.clone());
    runner::spawn_pooled(Box::new(move || {
        let _live = live;
        send(runner::run_prepared(&registry, run, execution));
    }))
    .map_err(|e| errors::algohost_error(py, format!("could not start the run: {e}")))
}

impl PyHost {
    fn is_python(&self, name: &str) -> bool {
        self.registry
            .get(name)
            .is_ok_and(|a| matches!(a.source, crate::registry::Source::Python { .. }))
    }

    /// Builds the request; `runner::execute` validates the params before
    /// anything runs (a rejection is raised as `ValidationError`).
    fn request(
        &self,
        py: Python<'_>,
        name: &str,
        params: Option<Bound<'_, PyAny>>,
        data: Option<&Bound<'_, PyAny>>,
        timeout: Option<f64>,
        progress: Option<Bound<'_, PyAny>>,
    ) -> PyResult<RunRequest> {
        let progress = match progress {
            Some(callback) if !callback.is_none() => Some(ProgressCallback::new(callback)?),
            _ => None,
        };
        let observer = Arc::new(Observer {
            progress,
            logs: PythonLogging::new(name),
        });
        let params = params::to_json(py, name, params.as_ref())?;
        let adapter = match data_of(data)? {
            Some(spec) => open_data(py, Some(&spec))?,
            None => self.data.clone(),
        };
        Ok(RunRequest {
            algorithm: name.to_owned(),
            params,
            timeout: timeout_of(timeout)?,
            adapter,
            cancel: CancelToken::new(),
            observer,
        })
    }
}

/// What a run started from Python reports while it goes on: its progress to
/// `progress=`, its log records to Python `logging`.
struct Observer {
    progress: Option<ProgressCallback>,
    logs: PythonLogging,
}

impl RunObserver for Observer {
    fn progress(&self, fraction: f64, message: &str) {
        if let Some(progress) = &self.progress {
            progress.progress(fraction, message);
        }
    }
    fn log(&self, record: &LogRecord) {
        self.logs.emit(record);
    }
}
