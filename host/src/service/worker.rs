//! The service's threads: workers that take runs from the queue and hand
//! them to the executor, and the flusher that persists progress and log
//! records (and runs not stored yet) at most every [`FLUSH_INTERVAL`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::Shared;
use super::state::{self, Ended, RunState};
use crate::runner::{self, Execution, RunError, RunOutcome, RunStatus};

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
///
/// A run starts once its `running` record is committed, so that a killed
/// process leaves it to recovery (marked interrupted, or queued again when
/// idempotent) rather than losing it. Its end is committed before anyone
/// sees it finished. When a run ends and another is waiting, both writes go
/// in one store transaction: one commit between two runs.
fn work(shared: &Shared) {
    // The run that just ended, its end not written yet.
    let mut ended: Option<(Arc<RunState>, RunOutcome)> = None;
    loop {
        // With an end to write, the next run is taken only if one waits.
        let next = match ended {
            Some(_) => shared.queue.try_next(),
            None => match shared.queue.next() {
                Some(next) => Some(next),
                None => return,
            },
        };
        let next = next.filter(|state| may_start(shared, state));
        ended = hand_over(shared, ended.take(), next).map(|state| {
            let outcome = execute(shared, &state);
            (state, outcome)
        });
    }
}

/// Writes how `ended` ended and that `next` starts, in one store
/// transaction, then publishes the end; returns `next` if it started.
fn hand_over(
    shared: &Shared,
    ended: Option<(Arc<RunState>, RunOutcome)>,
    next: Option<Arc<RunState>>,
) -> Option<Arc<RunState>> {
    let (last, outcome) = ended.unzip();
    let end = last
        .as_deref()
        .zip(outcome)
        .and_then(|(state, outcome)| state.end(outcome.run, outcome.output, None));
    let begin = next.as_deref().and_then(RunState::begin);
    let is_started = begin.is_some();
    let ends = state::commit_all(&*shared.store, end.into_iter().chain(begin).collect());
    let not_started = next.as_ref().filter(|_| !is_started);
    for state in last.iter().chain(not_started) {
        shared.queue.done();
        shared.retire(state);
    }
    ends.into_iter().for_each(Ended::publish);
    next.filter(|_| is_started)
}

/// Whether a run just taken from the queue may start; if not, it is dealt
/// with: a run cancelled while queued ends cancelled, and one taken as the
/// service shut down stays queued (in the store) for the next start.
fn may_start(shared: &Shared, state: &Arc<RunState>) -> bool {
    let store = &*shared.store;
    if state.cancel.is_cancelled() {
        let error = Some(RunError::cancelled());
        let ended = state.end_as(store, RunStatus::Cancelled, error, None);
        shared.queue.done();
        shared.retire(state);
        if let Some(ended) = ended {
            ended.publish();
        }
    } else if shared.queue.is_closed() {
        state.flush(store);
        shared.queue.done();
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
