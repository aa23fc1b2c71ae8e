//! `algohost.Run`: a finished (or timed out) execution as Python sees it:
//! status, params, summary, output frames, error and log records.

use algohost_sdk::Output;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::host::{helpers, rejected};
use super::{errors, frames, run_html, to_py};
use crate::runner::{Run, RunError, RunOutcome, RunRejected, RunStatus};

/// One finished (or timed out) execution: its status, params, progress,
/// summary, output frames (polars DataFrames), error and log records.
///
/// ```python
/// run = host.run("resample", params)
/// run.raise_for_status().frames["resampled"]
/// ```
#[pyclass(module = "algohost", name = "Run", frozen)]
pub struct PyRun {
    run: Run,
    output: Option<Output>,
}

impl PyRun {
    pub(super) fn from_outcome(
        py: Python<'_>,
        outcome: Result<RunOutcome, RunRejected>,
    ) -> PyResult<Self> {
        let outcome = outcome.map_err(|r| rejected(py, r))?;
        Ok(Self {
            run: outcome.run,
            output: outcome.output,
        })
    }

    /// The run `run` (as it started) ended `cancelled` now, its plugin given
    /// up while it runs on.
    pub(super) fn given_up(mut run: Run) -> Self {
        run.status = RunStatus::Cancelled;
        run.error = Some(RunError::cancelled());
        run.finished_at = Some(chrono::Utc::now());
        Self { run, output: None }
    }

    /// `run <id> of '<algorithm>'`, for messages.
    fn label(&self) -> String {
        format!("run {} of '{}'", self.run.id, self.run.algorithm)
    }
}

/// The first line of `text`, cut to about `max` characters.
fn shortened(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

#[pymethods]
impl PyRun {
    /// The run's id (a UUIDv7).
    #[getter]
    fn id(&self) -> String {
        self.run.id.to_string()
    }
    /// The algorithm's name.
    #[getter]
    fn algorithm(&self) -> &str {
        &self.run.algorithm
    }
    /// The algorithm's version.
    #[getter]
    fn version(&self) -> &str {
        &self.run.version
    }
    /// `succeeded`, `failed`, `cancelled` or `timed_out`.
    #[getter]
    fn status(&self) -> &'static str {
        self.run.status.as_str()
    }
    /// The params it ran with (validated JSON).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.params)
    }
    /// The last progress reported, 0..=1 (1 for a succeeded run).
    #[getter]
    fn progress(&self) -> f64 {
        self.run.progress
    }
    /// The JSON summary the algorithm returned (None without one).
    #[getter]
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.summary)
    }
    /// The output frames by name, as polars DataFrames (shared with the run,
    /// not copied); empty unless the run succeeded. An unknown name raises
    /// `KeyError` listing the frames there are. A `ts` the host made (as
    /// `resample`'s) is UTC (`datetime[μs, UTC]`), also for daily
    /// resolutions: `pl.col("ts").dt.convert_time_zone("Europe/Berlin")`
    /// gives local time for calendar work.
    #[getter]
    fn frames<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = helpers(py)?.run_frames.bind(py).call0()?;
        if let Some(output) = &self.output {
            for (name, frame) in &output.frames {
                dict.set_item(name, frames::to_polars(py, frame.clone())?)?;
            }
        }
        dict.setattr("_run", self.label())?;
        let none = match &self.run.error {
            Some(error) if self.run.status.as_str() != "succeeded" => format!(
                "it ended {}, so it has none ({})",
                self.run.status.as_str(),
                shortened(&error.message, 200)
            ),
            _ => "it returned none".to_owned(),
        };
        dict.setattr("_none", none)?;
        Ok(dict.cast_into::<PyDict>()?)
    }
    /// `{"kind", "message", "details"}` when the run did not succeed, else
    /// None; `details` holds e.g. a Python plugin's traceback.
    #[getter]
    fn error<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.error)
    }
    /// The log records kept on the run: `{"ts", "level", "target",
    /// "message"}` (`Host.run` also emitted them to `logging`).
    #[getter]
    fn logs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run.logs)
    }

    /// Returns the run when it succeeded, else raises `RunFailed` (with
    /// `kind`, `details` and `run`), `Cancelled` or `TimedOut` (with `run`).
    ///
    /// ```python
    /// frame = host.run("resample", params).raise_for_status().frames["resampled"]
    /// ```
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
                "{} {}: {}",
                this.label(),
                this.run.status.as_str().replace('_', " "),
                error.message
            ),
            details,
            slf.clone().into_any(),
        ))
    }

    /// The run's record as a dict (as `GET /runs/{id}` gives it).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.run)
    }

    /// The run as a notebook shows it: algorithm, status (with the error),
    /// duration, summary, frame shapes and warnings.
    fn _repr_html_(&self, py: Python<'_>) -> PyResult<String> {
        run_html::html(py, &self.run, self.output.as_ref())
    }

    fn __repr__(&self) -> String {
        let mut text = format!(
            "Run(id={:?}, algorithm={:?}, status={:?}",
            self.run.id.to_string(),
            self.run.algorithm,
            self.run.status.as_str()
        );
        match &self.run.error {
            Some(error) if self.run.status.as_str() != "succeeded" => {
                text.push_str(&format!(
                    ", progress={}, error={:?}",
                    self.run.progress,
                    shortened(&error.message, 120)
                ));
            }
            _ => {
                let names: Vec<&String> = self
                    .output
                    .as_ref()
                    .map(|o| o.frames.keys().collect())
                    .unwrap_or_default();
                text.push_str(&format!(", frames={names:?}"));
            }
        }
        text.push(')');
        text
    }
}
