//! The live state of one queued or running run: its record as it is now
//! (every log record included, so that reading a live run never asks the
//! store), how much of it is stored, its event subscribers, and the lock
//! that keeps its store writes in order.
//!
//! Store writes are prepared as a [`Write`] (which holds that lock), then
//! committed alone or with other runs' writes in one store transaction
//! ([`commit_all`]); what the write makes visible (the end of a run) is
//! published only once it is committed.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use algohost_sdk::Output;
use algohost_sdk::logging::LogRecord;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::RunEvent;
use crate::runner::{CancelToken, Run, RunError, RunObserver, RunStatus};
use crate::store::{Change, Store, StoreError};

/// Events buffered per subscriber. A subscriber that falls this far behind
/// misses progress and log events, never the final status.
pub(super) const EVENT_BUFFER: usize = 1024;

struct Live {
    /// The record as it is now, with every log record of the run.
    run: Run,
    /// Whether the run is in the store yet (see [`RunState::new`]).
    is_stored: bool,
    /// How many of `run.logs` are in the store.
    stored_logs: usize,
    /// Progress changed since the last store write.
    is_dirty: bool,
    subscribers: Vec<mpsc::Sender<RunEvent>>,
    /// How the run ends is decided; later reports are ignored.
    has_ended: bool,
    /// The final status went out (or the streams were closed at shutdown):
    /// new subscribers get the current status only.
    is_closed: bool,
}

/// A queued or running run, shared by the queue, its worker and the API.
pub(super) struct RunState {
    /// The run's id.
    pub id: Uuid,
    /// Its effective timeout.
    pub timeout: Option<Duration>,
    /// Cancels it.
    pub cancel: CancelToken,
    live: Mutex<Live>,
    /// Held from preparing each store write of this run until it is
    /// committed, so writes land in order.
    persist: Mutex<()>,
    /// The status as published (see [`RunState::watch_status`]).
    status: watch::Sender<RunStatus>,
}

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn report(result: &Result<(), StoreError>, id: Uuid, what: &str) {
    if let Err(e) = result {
        tracing::error!(run_id = %id, "could not persist the run's {what}: {e}");
    }
}

impl Live {
    /// Sends an event to every subscriber; drops closed ones. Non-final
    /// events always leave one slot free for the final status.
    fn publish(&mut self, event: RunEvent, is_final: bool) {
        self.subscribers.retain(|tx| {
            if !is_final && tx.capacity() <= 1 {
                return !tx.is_closed();
            }
            !matches!(
                tx.try_send(event.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
        if is_final {
            self.subscribers.clear();
            self.is_closed = true;
        }
    }

    /// The record without its log records (what a store update writes).
    fn record(&mut self) -> Run {
        let logs = std::mem::take(&mut self.run.logs);
        let record = self.run.clone();
        self.run.logs = logs;
        record
    }

    /// The log records not yet in the store, counted as stored from now.
    fn take_unstored_logs(&mut self) -> Vec<LogRecord> {
        let logs = self.run.logs[self.stored_logs..].to_vec();
        self.stored_logs = self.run.logs.len();
        logs
    }
}

impl RunState {
    /// The state of a queued run. `is_stored` says whether its record is in
    /// the store already; if not, its first write inserts it.
    pub fn new(run: Run, timeout: Option<Duration>, is_stored: bool) -> Arc<Self> {
        let (status, _) = watch::channel(run.status);
        Arc::new(Self {
            id: run.id,
            timeout,
            cancel: CancelToken::new(),
            live: Mutex::new(Live {
                stored_logs: run.logs.len(),
                run,
                is_stored,
                is_dirty: false,
                subscribers: Vec::new(),
                has_ended: false,
                is_closed: false,
            }),
            persist: Mutex::new(()),
            status,
        })
    }

    /// The record as it is now, with every log record.
    pub fn snapshot(&self) -> Run {
        relock(&self.live).run.clone()
    }

    /// The record as it is now, without its log records.
    pub fn record(&self) -> Run {
        relock(&self.live).record()
    }

    /// The algorithm the run runs.
    pub fn algorithm(&self) -> String {
        relock(&self.live).run.algorithm.clone()
    }

    /// How the run ended (its final status, and how long it ran in
    /// seconds when it started), once its end is stored.
    pub fn ended(&self) -> Option<(RunStatus, Option<f64>)> {
        let live = relock(&self.live);
        let run = &live.run;
        if !live.has_ended || !run.status.is_finished() {
            return None;
        }
        let seconds = run
            .started_at
            .zip(run.finished_at)
            .map(|(start, end)| (end - start).num_microseconds().unwrap_or(0) as f64 / 1e6);
        Some((run.status, seconds))
    }

    /// Ends every event stream (at shutdown) without a final status.
    pub fn close_streams(&self) {
        let mut live = relock(&self.live);
        live.subscribers.clear();
        live.is_closed = true;
    }

    /// The current status.
    pub fn status(&self) -> RunStatus {
        relock(&self.live).run.status
    }

    /// Follows the published status: it changes once, when the run's end
    /// is published (for waiting).
    pub fn watch_status(&self) -> watch::Receiver<RunStatus> {
        self.status.subscribe()
    }

    /// A new event stream: the current status (and progress), then live
    /// events until the final status.
    pub fn subscribe(&self) -> mpsc::Receiver<RunEvent> {
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        let mut live = relock(&self.live);
        let status = live.run.status;
        let _ = tx.try_send(RunEvent::Status { status });
        if status == RunStatus::Running
            && (live.run.progress > 0.0 || !live.run.progress_message.is_empty())
        {
            let _ = tx.try_send(RunEvent::Progress {
                progress: live.run.progress,
                message: live.run.progress_message.clone(),
            });
        }
        if !live.is_closed {
            live.subscribers.push(tx);
        }
        rx
    }

    /// Marks the run running (live at once) and prepares writing it; `None`
    /// when it already ended. The plugin may start once it is committed.
    pub fn begin(&self) -> Option<Write<'_>> {
        let order = relock(&self.persist);
        let mut live = relock(&self.live);
        if live.has_ended {
            return None;
        }
        live.run.status = RunStatus::Running;
        live.run.started_at = Some(Utc::now());
        let status = RunEvent::Status {
            status: RunStatus::Running,
        };
        live.publish(status, false);
        let record = live.record();
        Some(Write::new(self, order, &mut live, Some(record), Vec::new()))
    }

    /// Prepares writing how the run ended: `run` is the final record, with
    /// the output frames of a succeeded run and the log records not yet
    /// stored (`notice` is appended to them). `None` when the run had
    /// already ended, e.g. marked interrupted at shutdown. The end is
    /// published once the write is committed.
    pub fn end(
        &self,
        mut run: Run,
        output: Option<Output>,
        notice: Option<LogRecord>,
    ) -> Option<Write<'_>> {
        let order = relock(&self.persist);
        let mut live = relock(&self.live);
        if live.has_ended {
            return None;
        }
        live.has_ended = true;
        live.run.logs.extend(notice);
        let logs = live.take_unstored_logs();
        run.logs = Vec::new();
        let mut write = Write::new(self, order, &mut live, Some(run), logs);
        write.output = output.filter(|_| write.status() == Some(RunStatus::Succeeded));
        write.is_end = true;
        Some(write)
    }

    /// Ends a run that never started or was interrupted, and writes it:
    /// `status` and `error` replace the current ones (a `queued` status
    /// resets progress), `notice` is appended to its log. `None` when it
    /// had already ended.
    pub fn end_as(
        &self,
        store: &dyn Store,
        status: RunStatus,
        error: Option<RunError>,
        notice: Option<LogRecord>,
    ) -> Option<Ended<'_>> {
        let mut run = self.record();
        run.status = status;
        run.error = error;
        if status == RunStatus::Queued {
            run.progress = 0.0;
            run.progress_message = String::new();
            run.started_at = None;
        } else {
            run.finished_at = Some(Utc::now());
        }
        self.end(run, None, notice)?.commit(store)
    }

    /// Writes what changed since the last write: progress, log records, or
    /// the whole record of a run not stored yet.
    pub fn flush(&self, store: &dyn Store) {
        let order = relock(&self.persist);
        let mut live = relock(&self.live);
        let has_new_logs = live.stored_logs < live.run.logs.len();
        if live.has_ended || (live.is_stored && !live.is_dirty && !has_new_logs) {
            return;
        }
        let logs = live.take_unstored_logs();
        let record = (live.is_dirty || !live.is_stored).then(|| live.record());
        let write = Write::new(self, order, &mut live, record, logs);
        drop(live);
        // Not an end: nothing to publish.
        let _ = write.commit(store);
    }
}

impl RunObserver for RunState {
    fn progress(&self, fraction: f64, message: &str) {
        let mut live = relock(&self.live);
        if live.has_ended {
            return;
        }
        live.run.progress = fraction;
        live.run.progress_message = message.to_owned();
        live.is_dirty = true;
        let event = RunEvent::Progress {
            progress: fraction,
            message: message.to_owned(),
        };
        live.publish(event, false);
    }

    fn log(&self, record: &LogRecord) {
        let mut live = relock(&self.live);
        if live.has_ended {
            return;
        }
        live.run.logs.push(record.clone());
        live.publish(RunEvent::Log(record.clone()), false);
    }
}

/// One run's store write, prepared: the record to insert or update, log
/// records to append, output frames to store. It holds the run's
/// write-order lock until committed.
pub(super) struct Write<'a> {
    state: &'a RunState,
    _order: MutexGuard<'a, ()>,
    record: Option<Run>,
    /// Whether `record` is new to the store.
    is_insert: bool,
    logs: Vec<LogRecord>,
    /// The output of a succeeded run, whose frames are stored.
    output: Option<Output>,
    /// Whether this write ends the run (published once committed).
    is_end: bool,
}

impl<'a> Write<'a> {
    fn new(
        state: &'a RunState,
        order: MutexGuard<'a, ()>,
        live: &mut Live,
        record: Option<Run>,
        logs: Vec<LogRecord>,
    ) -> Self {
        if record.is_some() {
            live.is_dirty = false;
        }
        Self {
            state,
            _order: order,
            is_insert: !live.is_stored,
            record,
            logs,
            output: None,
            is_end: false,
        }
    }

    fn status(&self) -> Option<RunStatus> {
        self.record.as_ref().map(|r| r.status)
    }

    /// The store changes, the record first (an inserted run must exist
    /// before its logs and frames).
    fn changes(&self) -> Vec<Change<'_>> {
        let id = self.state.id;
        let mut changes = Vec::new();
        if let Some(run) = &self.record {
            changes.push(if self.is_insert {
                Change::Insert(run)
            } else {
                Change::Update(run)
            });
        }
        if !self.logs.is_empty() {
            changes.push(Change::AppendLogs(id, &self.logs));
        }
        let frames = self.output.iter().flat_map(|o| &o.frames);
        changes.extend(frames.map(|(name, frame)| Change::PutFrame(id, name, frame)));
        changes
    }

    /// Commits this write alone. When a run's output cannot be stored, the
    /// run fails instead, and its record says why. An end comes back to be
    /// published.
    #[must_use = "an end must be published"]
    pub fn commit(mut self, store: &dyn Store) -> Option<Ended<'a>> {
        let mut result = store.apply(&self.changes());
        let has_frames = self.output.take().is_some_and(|o| !o.frames.is_empty());
        if let (Err(e), Some(run), true) = (&result, &mut self.record, has_frames) {
            run.status = RunStatus::Failed;
            run.error = Some(RunError {
                kind: "store".to_owned(),
                message: format!("the run's output frames could not be stored: {e}"),
                details: Value::Null,
            });
            run.frames = Vec::new();
            result = store.apply(&self.changes());
        }
        let what = match (self.is_end, self.status()) {
            (true, _) => "final status",
            (false, Some(RunStatus::Running)) => "start",
            _ => "progress and logs",
        };
        report(&result, self.state.id, what);
        self.settle(result.is_ok())
    }

    /// What follows the commit: the run counts as stored, and an end
    /// becomes the live record (whether or not the store took it: the run
    /// is over), to be published.
    fn settle(self, is_committed: bool) -> Option<Ended<'a>> {
        let mut live = relock(&self.state.live);
        if is_committed && self.record.is_some() {
            live.is_stored = true;
        }
        let mut run = self.record.filter(|_| self.is_end)?;
        let status = run.status;
        run.logs = std::mem::take(&mut live.run.logs);
        live.stored_logs = run.logs.len();
        live.run = run;
        Some(Ended {
            state: self.state,
            status,
        })
    }
}

/// A run's end, stored, not yet published.
#[must_use = "an end must be published"]
pub(super) struct Ended<'a> {
    state: &'a RunState,
    status: RunStatus,
}

impl Ended<'_> {
    /// Sends the final status to the run's event streams and waiters.
    pub fn publish(self) {
        let status = self.status;
        relock(&self.state.live).publish(RunEvent::Status { status }, true);
        self.state.status.send_replace(status);
    }
}

/// Commits several runs' writes in one store transaction; when that fails,
/// each on its own, so that one run's failure is not another's. Returns
/// the ends to publish.
pub(super) fn commit_all<'a>(store: &dyn Store, writes: Vec<Write<'a>>) -> Vec<Ended<'a>> {
    if writes.len() > 1 {
        let result = {
            let changes: Vec<Change<'_>> = writes.iter().flat_map(Write::changes).collect();
            store.apply(&changes)
        };
        if result.is_ok() {
            return writes.into_iter().filter_map(|w| w.settle(true)).collect();
        }
    }
    writes.into_iter().filter_map(|w| w.commit(store)).collect()
}
