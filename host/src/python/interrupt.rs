//! Ctrl-C while `Host.run` waits for a run on another thread (a run with a
//! timeout, or a Rust plugin). As in `algohost run`, the first Ctrl-C
//! cancels the run and waits for it to stop; a second stops waiting at once.
//! A plugin that does not stop within [`GRACE`] (one in a long call into C
//! never checks) is given up, as at a timeout: it runs on, on its thread,
//! until it returns. Either way the caller raises the `KeyboardInterrupt`.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use super::errors;
use crate::runner::{CancelToken, RunOutcome};

/// How long a cancelled run's plugin is waited for after the first Ctrl-C.
pub const GRACE: Duration = Duration::from_secs(5);

/// How often the wait wakes to let Ctrl-C through.
const TICK: Duration = Duration::from_millis(100);

/// A Ctrl-C during a run, and how the run ended.
pub struct Interrupted {
    /// The `KeyboardInterrupt` to raise.
    pub interrupt: PyErr,
    /// How the run ended.
    pub end: End,
}

/// How a run ended after a Ctrl-C.
pub enum End {
    /// It returned: cancelled, or done before its plugin saw the cancel.
    Returned(Box<RunOutcome>),
    /// Its plugin did not stop within [`GRACE`] and was given up.
    GivenUp,
    /// A second Ctrl-C came before it stopped.
    InterruptedAgain,
}

/// Waits for the outcome `rx` brings, waking every 100 ms for Ctrl-C: the
/// first cancels `cancel`, then waits up to [`GRACE`]; a second ends the
/// wait at once.
pub fn wait(
    py: Python<'_>,
    rx: Receiver<RunOutcome>,
    cancel: &CancelToken,
) -> PyResult<Result<RunOutcome, Interrupted>> {
    let rx = Mutex::new(rx);
    let mut first: Option<(PyErr, Instant)> = None;
    loop {
        let next = py.detach(|| {
            rx.lock()
                .unwrap_or_else(|e| e.into_inner())
                .recv_timeout(TICK)
        });
        let outcome = match next {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(errors::algohost_error(
                    py,
                    "the run's thread ended without a result",
                ));
            }
            Err(RecvTimeoutError::Timeout) => {
                let end = match (py.check_signals(), first.take()) {
                    (Err(interrupt), None) => {
                        cancel.cancel();
                        first = Some((interrupt, Instant::now() + GRACE));
                        continue;
                    }
                    (Err(interrupt), Some(_)) => (interrupt, End::InterruptedAgain),
                    (Ok(()), Some((interrupt, by))) if Instant::now() >= by => {
                        (interrupt, End::GivenUp)
                    }
                    (Ok(()), waiting) => {
                        first = waiting;
                        continue;
                    }
                };
                return Ok(Err(Interrupted {
                    interrupt: end.0,
                    end: end.1,
                }));
            }
        };
        return Ok(match first {
            None => Ok(outcome),
            Some((interrupt, _)) => Err(Interrupted {
                interrupt,
                end: End::Returned(Box::new(outcome)),
            }),
        });
    }
}
