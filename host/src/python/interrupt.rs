//! Ctrl-C while `Host.run` waits for a run on another thread (a run with a
//! timeout, or a Rust plugin), with the same waits as in `algohost run`
//! ([`crate::cli::interrupt`]): the first Ctrl-C cancels the run and waits
//! for it to stop, up to [`GRACE`], then gives its plugin up; a second stops
//! waiting at once. Either way the caller raises the `KeyboardInterrupt`.

use std::sync::Mutex;
use std::sync::mpsc::Receiver;

use pyo3::prelude::*;

use super::errors;
pub use crate::cli::interrupt::GRACE;
use crate::cli::interrupt::{self as waits, Waited};
use crate::runner::{CancelToken, RunOutcome};

/// A Ctrl-C during a run, and how the run ended.
pub struct Interrupted {
    /// The `KeyboardInterrupt` to raise.
    pub interrupt: PyErr,
    /// How the run ended.
    pub end: End,
}

/// How a run ended after a Ctrl-C.
pub type End = waits::End<Box<RunOutcome>>;

/// Waits for the outcome `rx` brings, without the GIL, waking every 100 ms
/// for Ctrl-C (see [`waits::wait`]).
pub fn wait(
    py: Python<'_>,
    rx: Receiver<RunOutcome>,
    cancel: &CancelToken,
) -> PyResult<Result<RunOutcome, Interrupted>> {
    let rx = Mutex::new(rx);
    let receive = |tick| {
        py.detach(|| {
            rx.lock()
                .unwrap_or_else(|e| e.into_inner())
                .recv_timeout(tick)
                .map(Box::new)
        })
    };
    match waits::wait(receive, cancel, || py.check_signals().err()) {
        Waited::Ended(outcome) => Ok(Ok(*outcome)),
        Waited::Interrupted(interrupt, end) => Ok(Err(Interrupted { interrupt, end })),
        Waited::Lost => Err(errors::algohost_error(
            py,
            "the run's thread ended without a result",
        )),
    }
}
