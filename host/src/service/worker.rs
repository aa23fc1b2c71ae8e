//! The service's threads: workers that take runs from the queue and hand
//! them to the executor, and the flusher that persists progress and log
//! records at most every [`FLUSH_INTERVAL`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::Shared;
use super::state::RunState;
use crate::runner::{self, Execution, RunError, RunStatus};

/// How often live progress and log records are written to the store.
pub(super) const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

/// Starts `count` worker threads and the flusher.
pub(super) fn spawn(shared: &Arc<Shared>, count: usize) -> std::io::Result<()> {
    for index in 0..count {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("algohost-worker-{index}"))
            .spawn(move || work(&shared))?;
    }
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("algohost-flusher".to_owned())
        .spawn(move || flush(&shared))?;
    Ok(())
}

/// A worker: runs from the queue, one at a time, until the queue closes.
fn work(shared: &Shared) {
    while let Some(state) = shared.queue.next() {
        let executed = catch_unwind(AssertUnwindSafe(|| execute(shared, &state)));
        if let Err(payload) = executed {
            let message = runner::panic_message(payload.as_ref());
            tracing::error!(run_id = %state.id, "the worker failed while running: {message}");
            let error = RunError {
                kind: "panic".to_owned(),
                message: format!("the host failed while running: {message}"),
                details: Value::Null,
            };
            state.end_as(&*shared.store, RunStatus::Failed, Some(error), None);
        }
        shared.queue.done();
        shared.retire(&state);
    }
}

fn execute(shared: &Shared, state: &Arc<RunState>) {
    let store = &*shared.store;
    if state.cancel.is_cancelled() {
        state.end_as(
            store,
            RunStatus::Cancelled,
            Some(RunError::cancelled()),
            None,
        );
        return;
    }
    // A run taken just as the service shut down stays queued for the next
    // start.
    if shared.queue.is_closed() || !state.start(store) {
        return;
    }
    let mut run = state.snapshot();
    run.logs.clear();
    let execution = Execution {
        timeout: state.timeout,
        adapter: shared.adapter.clone(),
        cancel: state.cancel.clone(),
        observer: state.clone(),
    };
    let outcome = shared.executor.execute(&shared.registry, run, execution);
    state.finish(store, outcome.run, outcome.output.as_ref());
}

/// The flusher: writes what live runs reported since the last tick, until
/// the queue closes.
fn flush(shared: &Shared) {
    while !shared.queue.is_closed() {
        std::thread::sleep(FLUSH_INTERVAL);
        for state in shared.live_runs() {
            state.flush(&*shared.store);
        }
    }
}
