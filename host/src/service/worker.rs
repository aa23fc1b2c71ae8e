//! The service's workers: threads that take runs from the queue and hand
//! them to the executor. They never wait for the store between runs: the
//! persister writes how a run ended and publishes it (see `persister`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use algohost_sdk::logging::LogRecord;
use serde_json::Value;

use super::Shared;
use super::queue::{Lane, Queue};
use super::state::{RunState, Start};
use crate::runner::{self, Execution, RunError, RunObserver as _, RunOutcome, RunStatus};

/// Starts `count` worker threads for the runs of `lane`.
pub(super) fn spawn(shared: &Arc<Shared>, lane: Lane, count: usize) -> std::io::Result<()> {
    let name = match lane {
        Lane::Native => "algohost-worker",
        Lane::Python => "algohost-python",
    };
    for index in 0..count {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name(format!("{name}-{index}"))
            .spawn(move || {
                super::shared::yield_to_woken_threads("a worker");
                work(&shared, shared.lanes.get(lane));
            })?;
    }
    Ok(())
}

/// A worker: runs from its lane's queue, one at a time, until it closes.
fn work(shared: &Shared, queue: &Queue) {
    while let Some(state) = queue.next() {
        run(shared, queue, &state, false);
    }
}

/// Runs a run counted as running in `queue` (taken by a worker, or started
/// `inline` by its submitter, see `quick`) on this thread, unless it may
/// not start; then counts it done.
pub(super) fn run(shared: &Shared, queue: &Queue, state: &Arc<RunState>, inline: bool) {
    let start = may_start(shared, state).then(|| state.begin()).flatten();
    let Some(start) = start else {
        queue.done();
        return;
    };
    if let Start::AfterCommit(ticket) = start {
        shared.persister.wait(ticket);
    }
    let began = Instant::now();
    let outcome = execute(shared, state);
    if state.lane == Lane::Native {
        let algorithm = &outcome.run.algorithm;
        let panic = outcome.run.error.as_ref().filter(|e| e.kind == "panic");
        match panic {
            Some(_) if inline => shared.quick.exclude(algorithm),
            _ => shared.quick.note(algorithm, began.elapsed(), inline),
        }
        let misplaced = panic.filter(|e| inline && needs_a_thread_of_its_own(&e.message));
        if let Some(e) = misplaced {
            again_on_a_worker(queue, state, &e.message);
            return;
        }
    }
    // Published by the persister once committed; marked before the
    // worker counts as free, so that shutdown finds it marked.
    let _ = state.end(outcome.run, outcome.output, None);
    queue.done();
}

/// What tokio panics with when code that must not run inside a runtime
/// (one that starts or blocks on a runtime of its own, as `reqwest`'s
/// blocking client does) runs on one of its threads.
const NOT_ON_A_RUNTIME: [&str; 3] = [
    "Cannot start a runtime from within a runtime",
    "Cannot drop a runtime in a context where blocking is not allowed",
    "Cannot block the current thread from within a runtime",
];

/// Whether a run that panicked where it was submitted (a thread of the
/// server's tokio runtime) did so because its plugin needs a plain thread.
fn needs_a_thread_of_its_own(panic: &str) -> bool {
    NOT_ON_A_RUNTIME.iter().any(|m| panic.contains(m))
}

/// Gives a run that failed only because it ran inline (see `quick`) to
/// the workers, noting why in its log: its plugin runs again from the
/// start, on a plain thread, as it would have had it not been quick.
fn again_on_a_worker(queue: &Queue, state: &Arc<RunState>, panic: &str) {
    let first_line = panic.lines().next().unwrap_or_default();
    state.log(&LogRecord::now(
        "warn",
        "algohost",
        format!(
            "the run starts again on a worker thread: its plugin needs a thread of its own \
             ({first_line}), and the server's request threads are not; runs of this algorithm \
             go to the workers from now on"
        ),
    ));
    queue.done();
    queue.push(state.clone(), false);
}

/// Whether a run just taken from the queue may start; if not, it is dealt
/// with: a run cancelled while queued ends cancelled, and one taken as the
/// service shut down stays queued (in the store) for the next start.
fn may_start(shared: &Shared, state: &Arc<RunState>) -> bool {
    if state.cancel.is_cancelled() {
        let _ = state.end_as(RunStatus::Cancelled, Some(RunError::cancelled()), None);
    } else if shared.lanes.is_closed() {
        if let Some(ticket) = state.persist() {
            shared.persister.wait(ticket);
        }
        shared.retire(state);
    } else {
        return true;
    }
    false
}

/// Runs the plugin of a started run; a failure of the host itself fails
/// the run rather than the worker.
fn execute(shared: &Shared, state: &Arc<RunState>) -> RunOutcome {
    let execution = Execution {
        timeout: state.timeout,
        adapter: shared.adapter.clone(),
        cancel: state.cancel.clone(),
        observer: state.clone(),
    };
    let run = state.record();
    let executed = catch_unwind(AssertUnwindSafe(|| {
        shared.executor.execute(&shared.registry, run, execution)
    }));
    executed.unwrap_or_else(|payload| {
        let message = runner::panic_message(payload.as_ref());
        tracing::error!(run_id = %state.id, "the worker failed while running: {message}");
        let mut run = state.record();
        run.status = RunStatus::Failed;
        run.error = Some(RunError {
            kind: "panic".to_owned(),
            message: format!("the host failed while running: {message}"),
            details: Value::Null,
        });
        run.finished_at = Some(chrono::Utc::now());
        RunOutcome { run, output: None }
    })
}
