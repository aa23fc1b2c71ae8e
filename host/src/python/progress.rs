//! `progress=` of `Host.run` and `Host.run_async`: a Python callable that
//! hears a run's progress as `(fraction, message)` while it goes on, at most
//! every [`INTERVAL`] (and always when the message changes or the fraction
//! reaches 1), called on the run's thread with the GIL.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use super::exit;
use crate::runner::RunObserver;

/// The least time between two calls with the same message.
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Calls a Python callable with a run's progress.
pub struct ProgressCallback {
    callback: Py<PyAny>,
    /// When it was last called, and with what message.
    last: Mutex<Option<(Instant, String)>>,
}

impl ProgressCallback {
    /// `callback` must be callable: checked here, so that a mistake is
    /// raised before the run starts.
    pub fn new(callback: Bound<'_, PyAny>) -> PyResult<Self> {
        if !callback.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "progress must be a callable taking (fraction, message), such as \
                 lambda fraction, message: print(f\"{{fraction:.0%}} {{message}}\"), not {}",
                callback.get_type().name()?
            )));
        }
        Ok(Self {
            callback: callback.unbind(),
            last: Mutex::new(None),
        })
    }

    /// Whether a report of `message` at `fraction` is due now.
    fn is_due(&self, fraction: f64, message: &str) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let is_due = match &*last {
            None => true,
            Some((at, said)) => {
                fraction >= 1.0 || said != message || now.duration_since(*at) >= INTERVAL
            }
        };
        if is_due {
            *last = Some((now, message.to_owned()));
        }
        is_due
    }
}

impl RunObserver for ProgressCallback {
    fn progress(&self, fraction: f64, message: &str) {
        if !self.is_due(fraction, message) {
            return;
        }
        // Never into an interpreter that is exiting.
        let Some(_in_python) = exit::InPython::enter() else {
            return;
        };
        Python::attach(|py| {
            if let Err(e) = self.callback.call1(py, (fraction, message)) {
                // The run goes on; the mistake is shown as Python shows
                // errors it cannot raise (sys.unraisablehook).
                e.write_unraisable(py, Some(self.callback.bind(py)));
            }
        });
    }
}
