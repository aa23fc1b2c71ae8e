//! The asyncio future `Host.run_async` awaits. It is made on the running
//! loop and settled from the run's own thread, through
//! `loop.call_soon_threadsafe`, while that thread holds [`exit::InPython`]:
//! so [`exit::shutdown`] waits for a settling under way, and once the
//! interpreter exits no thread of ours enters Python to settle one.
//! (`pyo3_async_runtimes::future_into_py` settled it from a tokio blocking
//! thread after our Rust future had returned, unseen by `shutdown`: a script
//! ending right after `asyncio.run(host.run_async(...))` finalized under that
//! thread one time in four or so, `Fatal Python error: PyGILState_Release`.)

use pyo3::prelude::*;

use super::errors;
use super::exit;
use super::run::PyRun;
use crate::runner::{CancelToken, RunOutcome};

/// The settling end of a run's future. Dropped unused while the run's
/// thread panics, it settles the future with an `AlgohostError`.
pub struct RunFuture {
    /// The loop and the future, until settled.
    pending: Option<(Py<PyAny>, Py<PyAny>)>,
}

impl RunFuture {
    /// A future on the running loop, and the end that settles it.
    /// Cancelling the future (the awaiting task was cancelled) cancels the
    /// run.
    pub fn new(py: Python<'_>, cancel: CancelToken) -> PyResult<(Bound<'_, PyAny>, Self)> {
        let event_loop = py.import("asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        future.call_method1("add_done_callback", (CancelRun(cancel),))?;
        let pending = Some((event_loop.unbind(), future.clone().unbind()));
        Ok((future, Self { pending }))
    }

    /// Settles the future with the run's `Run`; on the run's thread.
    pub fn set_outcome(mut self, outcome: RunOutcome) {
        self.settle(|py| Ok(Bound::new(py, PyRun::from_outcome(py, Ok(outcome))?)?.into_any()));
    }

    /// Hands `value` (or its error) to the future on its loop's thread,
    /// unless the interpreter exits: nobody awaits the run then, and no
    /// thread of ours may enter Python.
    fn settle(&mut self, value: impl FnOnce(Python<'_>) -> PyResult<Bound<'_, PyAny>>) {
        let Some((event_loop, future)) = self.pending.take() else {
            return;
        };
        let Some(_in_python) = exit::InPython::enter() else {
            return;
        };
        Python::attach(|py| {
            let (result, error) = match value(py) {
                Ok(run) => (Some(run), None),
                Err(e) => (None, Some(e.into_value(py))),
            };
            // An error here is a closed loop (its task was cancelled and
            // `asyncio.run` returned) or `algohost.Cancelled` raised by
            // `exit::shutdown`: nobody waits for the run any more.
            let _ = wrap_pyfunction!(set_on_loop, py).and_then(|set| {
                event_loop.bind(py).call_method1(
                    "call_soon_threadsafe",
                    (set, future.bind(py), result, error),
                )
            });
            // Released here, attached and in `_in_python`.
            drop((event_loop, future));
        });
    }
}

impl Drop for RunFuture {
    fn drop(&mut self) {
        // Not settled otherwise only when the run's thread panicked (a run
        // that could not start is raised by `Host.run_async` itself).
        if std::thread::panicking() {
            self.settle(|py| {
                Err(errors::algohost_error(
                    py,
                    "the run's thread ended without a result",
                ))
            });
        }
    }
}

/// Sets the result or exception of `future`, on its loop's thread, unless
/// it was cancelled meanwhile.
#[pyfunction]
#[pyo3(signature = (future, result, error))]
fn set_on_loop(
    future: &Bound<'_, PyAny>,
    result: Option<Bound<'_, PyAny>>,
    error: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    if future.call_method0("done")?.is_truthy()? {
        return Ok(());
    }
    match error {
        Some(error) => future.call_method1("set_exception", (error,))?,
        None => future.call_method1("set_result", (result,))?,
    };
    Ok(())
}

/// The future's done callback: cancels the run when the future was
/// cancelled.
#[pyclass(module = "algohost._native", name = "_CancelRun", frozen)]
struct CancelRun(CancelToken);

#[pymethods]
impl CancelRun {
    fn __call__(&self, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0("cancelled")?.is_truthy()? {
            self.0.cancel();
        }
        Ok(())
    }
}
