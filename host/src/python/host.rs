//! `algohost.Host` and `algohost.Run`: driving the host from Python. Rust
//! work runs without the GIL on a runner thread; a blocking `run` wakes
//! every 100 ms to let Ctrl-C through (it cancels the run), and `run_async`
//! waits on a channel in asyncio, never blocking the event loop. A Python
//! algorithm without a timeout, run blocking, runs on the caller's thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use algohost_sdk::Output;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{Value, json};

use super::{errors, frames, to_py};
use crate::adapters::{self, Adapter, NoData};
use crate::registry::Registry;
use crate::runner::{self, CancelToken, NoObserver, Run, RunOutcome, RunRejected, RunRequest};
use crate::sources::{self, DiscoveryOptions};

fn params_of(params: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    match params.filter(|p| !p.is_none()) {
        None => Ok(json!({})),
        Some(p) => pythonize::depythonize(p).map_err(|e| {
            PyValueError::new_err(format!(
                "params must be a dict of JSON values (str, int, float, bool, None, list, dict): {e}"
            ))
        }),
    }
}

fn open_data(py: Python<'_>, spec: Option<&str>) -> PyResult<Arc<dyn Adapter>> {
    match spec {
        None => Ok(Arc::new(NoData)),
        Some(spec) => py.detach(|| adapters::open_existing(spec)).map_err(|e| {
            errors::algohost_error(
                py,
                format!(
                    "cannot open the data at {}: {e}",
                    adapters::display_spec(spec)
                ),
            )
        }),
    }
}

fn timeout_of(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout
        .map(|t| {
            Duration::try_from_secs_f64(t).map_err(|_| {
                PyValueError::new_err(format!(
                    "timeout must be a positive number of seconds, got {t}"
                ))
            })
        })
        .transpose()
}

fn rejected(py: Python<'_>, rejection: RunRejected) -> PyErr {
    match rejection {
        RunRejected::UnknownAlgorithm(unknown) => errors::plugin_error(py, unknown.to_string()),
        RunRejected::InvalidParams { algorithm, errors } => {
            errors::validation_error(py, &algorithm, &errors)
        }
    }
}

/// Every algorithm from every source, with a default data location.
#[pyclass(module = "algohost", name = "Host", frozen)]
pub struct PyHost {
    registry: Arc<Registry>,
    data: Arc<dyn Adapter>,
}

#[pymethods]
impl PyHost {
    #[new]
    #[pyo3(signature = (*, data = None, plugin_dirs = None, algorithms = None))]
    fn new(
        py: Python<'_>,
        data: Option<String>,
        plugin_dirs: Option<Vec<PathBuf>>,
        algorithms: Option<Vec<Bound<'_, PyAny>>>,
    ) -> PyResult<Self> {
        let options = DiscoveryOptions::with_env(plugin_dirs.unwrap_or_default());
        // Discovery imports Python plugins: it keeps the GIL.
        let mut registry = sources::discover(&options);
        super::source::add_functions(&mut registry, &algorithms.unwrap_or_default())?;
        let registry = Arc::new(registry);
        let data = open_data(py, data.as_deref())?;
        Ok(Self { registry, data })
    }

    /// Manifests with their source, sorted by name.
    fn algorithms<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for algorithm in self.registry.algorithms() {
            list.append(to_py(py, &algorithm.view())?)?;
        }
        Ok(list)
    }

    fn describe<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let algorithm = self
            .registry
            .get(name)
            .map_err(|e| errors::plugin_error(py, e.to_string()))?;
        to_py(py, &algorithm.view())
    }

    fn diagnostics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.registry.diagnostics())
    }

    #[pyo3(signature = (name, params = None))]
    fn validate(
        &self,
        py: Python<'_>,
        name: &str,
        params: Option<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let params = params_of(params.as_ref())?;
        runner::validate(&self.registry, name, &params).map_err(|r| rejected(py, r))
    }

    #[pyo3(signature = (name, params = None, *, data = None, timeout = None))]
    fn run(
        &self,
        py: Python<'_>,
        name: &str,
        params: Option<Bound<'_, PyAny>>,
        data: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<PyRun> {
        let request = self.request(py, name, params, data.as_deref(), timeout)?;
        if request.timeout.is_none() && self.is_python(name) {
            // A Python algorithm without a deadline runs right here, on the
            // thread that holds the GIL: no thread hop, no GIL hand-over.
            // Ctrl-C raises KeyboardInterrupt inside the plugin, which (as
            // any exception of a plugin) fails the run.
            let outcome = runner::execute(&self.registry, request);
            return PyRun::from_outcome(py, outcome);
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let cancel = self.start(py, request, move |outcome| {
            let _ = tx.send(outcome);
        })?;
        let rx = std::sync::Mutex::new(rx);
        let mut interrupted = None;
        let outcome = loop {
            let next = py.detach(|| {
                rx.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .recv_timeout(Duration::from_millis(100))
            });
            match next {
                Ok(outcome) => break outcome,
                Err(RecvTimeoutError::Timeout) => {
                    if interrupted.is_none()
                        && let Err(e) = py.check_signals()
                    {
                        // Ctrl-C: cancel the run, wait for it to stop, then raise.
                        cancel.cancel();
                        interrupted = Some(e);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(errors::algohost_error(
                        py,
                        "the run's thread ended without a result",
                    ));
                }
            }
        };
        if let Some(e) = interrupted {
            return Err(e);
        }
        PyRun::from_outcome(py, outcome)
    }

    #[pyo3(signature = (name, params = None, *, data = None, timeout = None))]
    fn run_async<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        params: Option<Bound<'py, PyAny>>,
        data: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let request = self.request(py, name, params, data.as_deref(), timeout)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let cancel = self.start(py, request, move |outcome| {
            let _ = tx.send(outcome);
        })?;
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            // Cancelling the awaiting task drops this future: cancel the run.
            let guard = CancelOnDrop(Some(cancel));
            let outcome = rx.await;
            drop(guard.defuse());
            let outcome = outcome.map_err(|_| {
                Python::attach(|py| {
                    errors::algohost_error(py, "the run's thread ended without a result")
                })
            })?;
            Python::attach(|py| PyRun::from_outcome(py, outcome))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Host({} algorithms, {} diagnostics)",
            self.registry.algorithms().count(),
            self.registry.diagnostics().len()
        )
    }
}

impl PyHost {
    /// Executes `request` on a runner thread (not a tokio one: a Python
    /// plugin takes the GIL), kept in [`LIVE`] meanwhile, and hands the
    /// outcome to `send`; returns the run's cancel token.
    fn start(
        &self,
        py: Python<'_>,
        request: RunRequest,
        send: impl FnOnce(Result<RunOutcome, RunRejected>) + Send + 'static,
    ) -> PyResult<CancelToken> {
        let cancel = request.cancel.clone();
        let registry = self.registry.clone();
        let live = Live::enter(cancel.clone());
        runner::spawn_pooled(Box::new(move || {
            let _live = live;
            send(runner::execute(&registry, request));
        }))
        .map_err(|e| errors::algohost_error(py, format!("could not start the run: {e}")))?;
        Ok(cancel)
    }

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
        data: Option<&str>,
        timeout: Option<f64>,
    ) -> PyResult<RunRequest> {
        let params = params_of(params.as_ref())?;
        let adapter = match data {
            Some(spec) => open_data(py, Some(spec))?,
            None => self.data.clone(),
        };
        Ok(RunRequest {
            algorithm: name.to_owned(),
            params,
            timeout: timeout_of(timeout)?,
            adapter,
            cancel: CancelToken::new(),
            observer: Arc::new(NoObserver),
        })
    }
}

/// Runs started from Python that are still executing on runner threads
/// (e.g. past their deadline, or awaited by a cancelled task).
static LIVE: Mutex<Vec<(u64, CancelToken)>> = Mutex::new(Vec::new());
static LIVE_ENDED: Condvar = Condvar::new();
static NEXT_LIVE: AtomicU64 = AtomicU64::new(0);

/// Membership of [`LIVE`] for as long as the run's thread runs it.
struct Live(u64);

impl Live {
    fn enter(cancel: CancelToken) -> Self {
        let id = NEXT_LIVE.fetch_add(1, Ordering::Relaxed);
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((id, cancel));
        Self(id)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(id, _)| *id != self.0);
        LIVE_ENDED.notify_all();
    }
}

/// At interpreter exit: cancels the runs still executing and waits up to
/// `grace` seconds for them, so that none is torn down mid-flight (a
/// plugin inside C or C++ code would abort the process). Registered with
/// `atexit` by the module.
#[pyfunction(name = "_shutdown")]
#[pyo3(signature = (grace = 10.0))]
pub fn shutdown(py: Python<'_>, grace: f64) {
    let deadline =
        std::time::Instant::now() + Duration::try_from_secs_f64(grace).unwrap_or_default();
    py.detach(|| {
        let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
        for (_, cancel) in live.iter() {
            cancel.cancel();
        }
        while !live.is_empty() {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            live = LIVE_ENDED
                .wait_timeout(live, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    });
}

/// Cancels the run unless defused (the awaiting task was cancelled).
struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    fn defuse(mut self) -> Self {
        self.0 = None;
        self
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

/// One execution: its record, and the output of a succeeded run.
#[pyclass(module = "algohost", name = "Run", frozen)]
pub struct PyRun {
    run: Run,
    output: Option<Output>,
}

impl PyRun {
    fn from_outcome(py: Python<'_>, outcome: Result<RunOutcome, RunRejected>) -> PyResult<Self> {
        let outcome = outcome.map_err(|r| rejected(py, r))?;
        Ok(Self {
            run: outcome.run,
            output: outcome.output,
        })
    }
}

#[pymethods]
impl PyRun {
    #[getter]
    fn id(&self) -> String {
        self.run.id.to_string()
    }
    #[getter]
    fn algorithm(&self) -> &str {
        &self.run.algorithm
    }
    #[getter]
    fn version(&self) -> &str {
        &self.run.version
    }
    #[getter]
    fn status(&self) -> &'static str {
        self.run.status.as_str()
    }
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.params)
    }
    #[getter]
    fn progress(&self) -> f64 {
        self.run.progress
    }
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.summary)
    }
    #[getter]
    fn frames<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        if let Some(output) = &self.output {
            for (name, frame) in &output.frames {
                dict.set_item(name, frames::to_polars(py, frame.clone())?)?;
            }
        }
        Ok(dict)
    }
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.error)
    }
    #[getter]
    fn logs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.logs)
    }

    fn raise_for_status(slf: Bound<'_, Self>) -> PyResult<Bound<'_, Self>> {
        let py = slf.py();
        let this = slf.get();
        let Some(error) = &this.run.error else {
            return Ok(slf);
        };
        if this.run.status.as_str() == "succeeded" {
            return Ok(slf);
        }
        let details = to_py(py, &error.details)?;
        Err(errors::from_run(
            py,
            this.run.status.as_str(),
            &error.kind,
            &format!(
                "run {} of '{}' {}: {}",
                this.run.id,
                this.run.algorithm,
                this.run.status.as_str(),
                error.message
            ),
            details,
            slf.clone().into_any(),
        ))
    }

    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run)
    }

    fn __repr__(&self) -> String {
        format!(
            "Run(id={:?}, algorithm={:?}, status={:?})",
            self.run.id.to_string(),
            self.run.algorithm,
            self.run.status.as_str()
        )
    }
}
