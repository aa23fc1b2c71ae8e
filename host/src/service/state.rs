//! The live state of one queued or running run: its record as it is now
//! (every log record included, so that reading a live run never asks the
//! store), how much of it is stored, and its event subscribers.
//!
//! Only the persister writes a run held here to the store: each change
//! marks the run ([`Persister::mark`]), and the persister's next batch
//! writes what changed since the last one, as one [`Write`] built by
//! [`RunState::prepare`]. The end of a run is published (waiters and event
//! streams told) only once its write is committed.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use algohost_sdk::Output;
use algohost_sdk::logging::LogRecord;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use super::RunEvent;
use super::persister::{Mark, Persister, Ticket, Urgency};
use super::queue::Lane;
use super::shared::{relock, wait_until};
use crate::runner::{CancelToken, Run, RunError, RunObserver, RunStatus};
use crate::store::{Change, Logs, Store, StoreError};

/// The log record of a run asked to cancel while it runs.
const CANCEL_REQUESTED: &str = "cancellation requested; the plugin stops at its next \
    cancellation check (ctx.check() or ctx.is_cancelled())";

/// The log record of a run whose end the store could not take for now.
const KEPT_END: &str = "the run store cannot be written now (its disk may be full): this run's \
    end and outputs are kept in memory and written as soon as it takes writes again; a server \
    stopped before then loses them";

/// The log record of a kept end ([`KEPT_END`]) once stored.
const KEPT_END_STORED: &str = "the run store took this run's end and outputs after all";

/// Events buffered per subscriber. A subscriber that falls this far behind
/// misses progress and log events, never the final status.
pub(super) const EVENT_BUFFER: usize = 1024;

struct Live {
    /// The record as it is now, with every log record of the run.
    run: Run,
    /// Whether the run is in the store yet (see [`RunState::new`]).
    is_stored: bool,
    /// Why the last write of a run not in the store yet failed.
    insert_failure: Option<StoreError>,
    /// How many of `run.logs` are in the store.
    stored_logs: usize,
    /// Changed since the last store write (status, progress).
    is_dirty: bool,
    /// How the run ended, not written yet: its final record and output.
    ending: Option<(Run, Option<Output>)>,
    /// The store could not take the run's last write (it cannot be
    /// written now, its disk full): what it did not take is kept here and
    /// written again ([`Urgency::Retry`]); the end stays until written.
    is_kept: bool,
    /// The run's log says its end is kept ([`KEPT_END`]).
    has_kept_notice: bool,
    /// Tries of the kept write so far, in a row.
    kept_tries: u32,
    /// The persister's batch the run is marked for, if it is.
    marked_for: Option<u64>,
    subscribers: Vec<mpsc::Sender<RunEvent>>,
    /// How the run ends is decided; later reports are ignored.
    has_ended: bool,
    /// Cancellation was asked for while it ran (and noted in its log).
    is_cancel_requested: bool,
    /// The status it ends with, once decided.
    ended_as: Option<RunStatus>,
    /// The final status went out (or the streams were closed at shutdown):
    /// new subscribers get the current status only.
    is_closed: bool,
}

/// A queued or running run, shared by the queue, its worker, the persister
/// and the API.
pub(super) struct RunState {
    /// The run's id.
    pub id: Uuid,
    /// Its effective timeout.
    pub timeout: Option<Duration>,
    /// The workers it runs on.
    pub lane: Lane,
    /// Cancels it.
    pub cancel: CancelToken,
    live: Mutex<Live>,
    /// The status as published (see [`RunState::wait_published`]).
    published: Published,
    persister: Arc<Persister>,
    /// This state, for marking it from `&self`.
    me: Weak<RunState>,
}

/// A run's status as published, and its waiters: lighter than a `watch`
/// channel, whose send takes the locks of eight waiter lists, for a
/// status every run publishes once.
struct Published {
    status: Mutex<RunStatus>,
    changed: Notify,
}

/// How the start of a run reaches the store (see [`RunState::begin`]).
pub(super) enum Start {
    /// The run was stored as queued: its plugin may start once this batch
    /// is committed, so that a killed process leaves it to recovery (marked
    /// interrupted, or queued again when idempotent) rather than queued, to
    /// be run a second time.
    AfterCommit(Ticket),
    /// The run is not in the store yet, and nobody but its submitter (who
    /// waits for it) knows its id: its plugin starts at once, and the start
    /// is written within `START_LINGER`, or together with the end of a run
    /// that ends sooner (one insert of the final record). A process killed
    /// in between loses a run that nobody was told about, whose plugin ran
    /// for at most that long.
    Deferred,
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

    /// Appends a log record and sends it to the subscribers.
    fn push_log(&mut self, record: LogRecord) {
        self.run.logs.push(record.clone());
        self.publish(RunEvent::Log(record), false);
    }

    /// The log records not yet in the store, counted as stored from now.
    fn take_unstored_logs(&mut self) -> Vec<LogRecord> {
        let logs = self.run.logs[self.stored_logs..].to_vec();
        self.stored_logs = self.run.logs.len();
        logs
    }
}

impl RunState {
    /// The state of a queued run of `lane`. `is_stored` says whether its
    /// record is in the store already; if not, its first write inserts it.
    pub fn new(
        run: Run,
        lane: Lane,
        timeout: Option<Duration>,
        is_stored: bool,
        persister: &Arc<Persister>,
    ) -> Arc<Self> {
        let published = Published {
            status: Mutex::new(run.status),
            changed: Notify::new(),
        };
        Arc::new_cyclic(|me| Self {
            id: run.id,
            timeout,
            lane,
            cancel: CancelToken::new(),
            live: Mutex::new(Live {
                stored_logs: run.logs.len(),
                run,
                is_stored,
                insert_failure: None,
                is_dirty: false,
                ending: None,
                is_kept: false,
                has_kept_notice: false,
                kept_tries: 0,
                marked_for: None,
                subscribers: Vec::new(),
                has_ended: false,
                is_cancel_requested: false,
                ended_as: None,
                is_closed: false,
            }),
            published,
            persister: persister.clone(),
            me: me.clone(),
        })
    }

    /// Marks the run for the persister, then releases its lock before
    /// waking the persister (which reads the run under it).
    fn mark(&self, mut live: MutexGuard<'_, Live>, urgency: Urgency) -> Option<Ticket> {
        let mark = self.mark_unwoken(&mut live, urgency)?;
        drop(live);
        Some(self.persister.wake_for(mark))
    }

    /// Marks the run for the persister from the persister's own thread,
    /// which holds the run's lock and is awake.
    fn mark_held(&self, live: &mut Live, urgency: Urgency) {
        if let Some(mark) = self.mark_unwoken(live, urgency) {
            self.persister.wake_for(mark);
        }
    }

    /// The mark itself, made under the run's lock; `None` once the run
    /// state is being dropped.
    fn mark_unwoken(&self, live: &mut Live, urgency: Urgency) -> Option<Mark> {
        let me = self.me.upgrade()?;
        Some(self.persister.mark(&me, &mut live.marked_for, urgency))
    }

    /// The record as it is now, with every log record.
    pub fn snapshot(&self) -> Run {
        relock(&self.live).run.clone()
    }

    /// The record as it is now, taken rather than copied when nobody else
    /// holds the run any more.
    pub fn into_snapshot(self: Arc<Self>) -> Run {
        match Arc::try_unwrap(self) {
            Ok(state) => {
                state
                    .live
                    .into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .run
            }
            Err(state) => state.snapshot(),
        }
    }

    /// The record as it is now, without its log records.
    pub fn record(&self) -> Run {
        relock(&self.live).record()
    }

    /// The record as it is now, with the log records `logs` selects.
    pub fn read(&self, logs: Logs) -> Run {
        let mut live = relock(&self.live);
        let mut run = live.record();
        let first = match logs {
            Logs::None => return run,
            Logs::All => 0,
            Logs::After(n) => n,
        };
        run.logs = live.run.logs.get(first..).unwrap_or_default().to_vec();
        run
    }

    /// Whether the run's end is kept, not stored: the store could not
    /// take it (see [`Write::settle`]).
    pub fn has_kept_end(&self) -> bool {
        let live = relock(&self.live);
        live.is_kept && live.ending.is_some()
    }

    /// An output frame of a run whose end is kept, not stored (see
    /// [`Write::settle`]).
    pub fn kept_frame(&self, name: &str) -> Option<polars::prelude::DataFrame> {
        let live = relock(&self.live);
        let (_, output) = live.ending.as_ref().filter(|_| live.is_kept)?;
        output.as_ref()?.frames.get(name).cloned()
    }

    /// The algorithm the run runs.
    pub fn algorithm(&self) -> String {
        relock(&self.live).run.algorithm.clone()
    }

    /// The run's algorithm and error, for the log line of its end.
    pub fn algorithm_and_error(&self) -> (String, Option<RunError>) {
        let live = relock(&self.live);
        (live.run.algorithm.clone(), live.run.error.clone())
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

    /// Why the run is not in the store, once a write that would have put
    /// it there failed; `None` while it is stored or not written yet.
    pub fn insert_failure(&self) -> Option<StoreError> {
        let live = relock(&self.live);
        live.insert_failure.clone().filter(|_| !live.is_stored)
    }

    /// The current status.
    pub fn status(&self) -> RunStatus {
        relock(&self.live).run.status
    }

    /// Seconds the run has been running at `now`; `None` unless running.
    pub fn running_for(&self, now: chrono::DateTime<Utc>) -> Option<f64> {
        let live = relock(&self.live);
        let started = live.run.started_at.filter(|_| !live.has_ended)?;
        let micros = (now - started).num_microseconds().unwrap_or(i64::MAX);
        Some(micros.max(0) as f64 / 1e6)
    }

    /// Waits until the published status satisfies `is_awaited` and
    /// returns it. The published status changes when the run's end is
    /// published: to its final status, or back to queued when a shutdown
    /// interrupts a run that is to run again.
    pub async fn wait_published(&self, is_awaited: impl Fn(RunStatus) -> bool) -> RunStatus {
        let published = &self.published;
        wait_until(&published.changed, || {
            let status = *relock(&published.status);
            is_awaited(status).then_some(status)
        })
        .await
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

    /// Marks the run running (live at once) and marks it to be written;
    /// `None` when it already ended. See [`Start`] for when its plugin may
    /// start.
    pub fn begin(&self) -> Option<Start> {
        let mut live = relock(&self.live);
        if live.has_ended {
            return None;
        }
        live.run.status = RunStatus::Running;
        live.run.started_at = Some(Utc::now());
        live.is_dirty = true;
        let status = RunEvent::Status {
            status: RunStatus::Running,
        };
        live.publish(status, false);
        if live.is_stored {
            let ticket = self.mark(live, Urgency::Now)?;
            Some(Start::AfterCommit(ticket))
        } else {
            self.mark(live, Urgency::Start);
            Some(Start::Deferred)
        }
    }

    /// Ends the run cancelled if it has not started (nor ended), to be
    /// written at once: the status check and the end are one step, so that
    /// of concurrent cancellations exactly one ends it. `None` when it had
    /// started or ended; a worker that takes it from the queue afterwards
    /// leaves it (see [`RunState::begin`]).
    pub fn cancel_queued(&self) -> Option<Ticket> {
        let mut live = relock(&self.live);
        if live.has_ended || live.run.status != RunStatus::Queued {
            return None;
        }
        let mut run = live.record();
        run.status = RunStatus::Cancelled;
        run.error = Some(RunError::cancelled());
        run.finished_at = Some(Utc::now());
        live.has_ended = true;
        live.ended_as = Some(run.status);
        live.ending = Some((run, None));
        self.mark(live, Urgency::Now)
    }

    /// Asks a started run to stop at its plugin's next cancellation check.
    /// The first request also notes it in the run's log, so that readers
    /// and event streams see at once that the run is stopping (a plugin
    /// that never checks runs on until it returns).
    pub fn request_cancel(&self) {
        let mut live = relock(&self.live);
        let is_first = !live.has_ended && !live.is_cancel_requested;
        if is_first {
            live.is_cancel_requested = true;
            live.push_log(LogRecord::now("info", "algohost", CANCEL_REQUESTED));
        }
        // Under the lock: the note comes before anything the run logs as
        // it stops.
        self.cancel.cancel();
        if is_first && live.marked_for.is_none() {
            self.mark(live, Urgency::Later);
        }
    }

    /// The status the run ends with, once that is decided (its end may
    /// not be stored and published yet).
    pub fn ended_as(&self) -> Option<RunStatus> {
        relock(&self.live).ended_as
    }

    /// Records how the run ended, to be written at once: `run` is the final
    /// record, `output` the output of a run that succeeded (its frames are
    /// stored), and `notice` is appended to its log. `None` when the run
    /// had already ended, e.g. marked interrupted at shutdown. The end is
    /// published once its batch is committed.
    pub fn end(
        &self,
        run: Run,
        output: Option<Output>,
        notice: Option<LogRecord>,
    ) -> Option<Ticket> {
        let mut live = relock(&self.live);
        if live.has_ended {
            return None;
        }
        live.has_ended = true;
        live.ended_as = Some(run.status);
        live.run.logs.extend(notice);
        let output = output.filter(|_| run.status == RunStatus::Succeeded);
        live.ending = Some((run, output));
        self.mark(live, Urgency::Now)
    }

    /// Ends a run that never started or was interrupted: `status` and
    /// `error` replace the current ones (a `queued` status resets
    /// progress), `notice` is appended to its log. `None` when it had
    /// already ended.
    pub fn end_as(
        &self,
        status: RunStatus,
        error: Option<RunError>,
        notice: Option<LogRecord>,
    ) -> Option<Ticket> {
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
        self.end(run, None, notice)
    }

    /// Marks the run to be written at once (the whole record if it is not
    /// in the store yet); the ticket says when it is.
    pub fn persist(&self) -> Option<Ticket> {
        let live = relock(&self.live);
        self.mark(live, Urgency::Now)
    }

    /// The persister's read of the run: what changed since its last write
    /// (the whole record of a run not stored yet, progress, log records,
    /// the end), as one write; `None` when nothing did.
    pub fn prepare(self: &Arc<Self>) -> Option<Write> {
        let mut live = relock(&self.live);
        live.marked_for = None;
        // A kept end stays, for reading its frames, until it is written.
        let ending = if live.is_kept {
            live.ending.clone()
        } else {
            live.ending.take()
        };
        let has_new_logs = live.stored_logs < live.run.logs.len();
        if ending.is_none() && live.is_stored && !live.is_dirty && !has_new_logs {
            return None;
        }
        let logs = live.take_unstored_logs();
        let is_end = ending.is_some();
        let (record, output) = match ending {
            Some((run, output)) => (Some(run), output),
            None if live.is_dirty || !live.is_stored => (Some(live.record()), None),
            None => (None, None),
        };
        live.is_dirty = false;
        Some(Write {
            state: self.clone(),
            is_insert: !live.is_stored,
            record,
            logs,
            output,
            is_end,
        })
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
        if live.marked_for.is_none() {
            self.mark(live, Urgency::Later);
        }
    }

    fn log(&self, record: &LogRecord) {
        let mut live = relock(&self.live);
        if live.has_ended {
            return;
        }
        live.push_log(record.clone());
        if live.marked_for.is_none() {
            self.mark(live, Urgency::Later);
        }
    }
}

/// One run's store write, prepared by the persister: the record to insert
/// or update, log records to append, output frames to store.
pub(super) struct Write {
    state: Arc<RunState>,
    record: Option<Run>,
    /// Whether `record` is new to the store.
    is_insert: bool,
    logs: Vec<LogRecord>,
    /// The output of a succeeded run, whose frames are stored.
    output: Option<Output>,
    /// Whether this write ends the run (published once committed).
    is_end: bool,
}

impl Write {
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

    /// Whether the store failed this write for now, not for good: it
    /// cannot be written (its disk full), and the run is in it, so that
    /// the write is kept to be tried again (a run not in the store yet is
    /// refused to its submitter instead, who alone knows its id).
    fn is_kept(&self, result: &Result<(), StoreError>) -> bool {
        !self.is_insert && matches!(result, Err(StoreError::Unwritable(_)))
    }

    /// Commits this write alone. When a run's output cannot be stored (but
    /// for now), the run fails instead, and its record says why. An end
    /// comes back to be published.
    #[must_use = "an end must be published"]
    fn commit(mut self, store: &dyn Store) -> Option<Ended> {
        let mut result = store.apply(&self.changes());
        if self.is_kept(&result) {
            // Said (once) by `settle`.
            return self.settle(result);
        }
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
        let what = match (self.is_end, self.record.as_ref().map(|r| r.status)) {
            (true, _) => "final status",
            (false, Some(RunStatus::Running)) => "start",
            _ => "progress and logs",
        };
        report(&result, self.state.id, what);
        self.settle(result)
    }

    /// What follows the commit: the run counts as stored (or, when the
    /// write that would have stored it failed, says why it is not), and an
    /// end becomes the live record (whether or not the store took it: the
    /// run is over), to be published.
    ///
    /// A write the store failed for now ([`Write::is_kept`]) is kept: its
    /// log records count as not stored, its end stays pending, and the run
    /// is marked to be written again ([`Urgency::Retry`]); its end is
    /// still published, from memory (the run is over), and the run stays
    /// live, so that reads (frames too) find it until it is stored.
    fn settle(self, committed: Result<(), StoreError>) -> Option<Ended> {
        let is_kept = self.is_kept(&committed);
        let mut live = relock(&self.state.live);
        match &committed {
            Ok(()) if self.record.is_some() => live.is_stored = true,
            Err(e) if self.is_insert => live.insert_failure = Some(e.clone()),
            _ => {}
        }
        let was_kept = std::mem::replace(&mut live.is_kept, is_kept);
        let id = self.state.id;
        let mut has_stored_kept_end = false;
        if !is_kept {
            if was_kept {
                let tries = std::mem::take(&mut live.kept_tries);
                has_stored_kept_end = live.ending.take().is_some();
                if has_stored_kept_end {
                    tracing::info!(run_id = %id, tries, "the run store took the run's kept end");
                }
            }
        } else {
            live.stored_logs = live.stored_logs.saturating_sub(self.logs.len());
            live.is_dirty |= self.record.is_some() && !self.is_end;
            live.kept_tries = live.kept_tries.saturating_add(1);
            if let (1, Err(e)) = (live.kept_tries, &committed) {
                tracing::error!(
                    run_id = %id,
                    "the run store cannot take the run's changes now: {e}; they are kept in \
                     memory and tried again, less and less often, until it does"
                );
            }
        }
        let tries = live.kept_tries;
        let Some(mut run) = self.record.filter(|_| self.is_end) else {
            if is_kept {
                self.state.mark_held(&mut live, Urgency::Retry(tries));
            }
            return None;
        };
        let status = run.status;
        if is_kept && !was_kept {
            live.ending = Some((run.clone(), self.output));
        }
        run.logs = std::mem::take(&mut live.run.logs);
        if !is_kept {
            live.stored_logs = run.logs.len();
        }
        live.run = run;
        if has_stored_kept_end {
            // Written with the next batch (the run is no longer live then).
            live.push_log(LogRecord::now("info", "algohost", KEPT_END_STORED));
            self.state.mark_held(&mut live, Urgency::Later);
        }
        if is_kept {
            if !live.has_kept_notice {
                live.has_kept_notice = true;
                live.push_log(LogRecord::now("warn", "algohost", KEPT_END));
            }
            self.state.mark_held(&mut live, Urgency::Retry(tries));
        }
        drop(live);
        Some(Ended {
            state: self.state,
            status,
            is_stored: !is_kept,
        })
    }
}

/// A run's end, stored (or kept to be, see [`Write::settle`]), not yet
/// published.
#[must_use = "an end must be published"]
pub(super) struct Ended {
    state: Arc<RunState>,
    status: RunStatus,
    is_stored: bool,
}

impl Ended {
    /// The run that ended.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// Whether the store has the end (else it is kept, to be written again,
    /// and the run stays live).
    pub fn is_stored(&self) -> bool {
        self.is_stored
    }

    /// Sends the final status to the run's event streams and waiters.
    pub fn publish(self) {
        let status = self.status;
        relock(&self.state.live).publish(RunEvent::Status { status }, true);
        let published = &self.state.published;
        *relock(&published.status) = status;
        published.changed.notify_waiters();
    }
}

/// Commits several runs' writes in one store transaction; when that fails,
/// each on its own, so that one run's failure is not another's. Returns
/// the ends to publish.
pub(super) fn commit_all(store: &dyn Store, writes: Vec<Write>) -> Vec<Ended> {
    if writes.len() > 1 {
        let result = {
            let changes: Vec<Change<'_>> = writes.iter().flat_map(Write::changes).collect();
            store.apply(&changes)
        };
        if result.is_ok() {
            return writes
                .into_iter()
                .filter_map(|w| w.settle(Ok(())))
                .collect();
        }
    }
    writes.into_iter().filter_map(|w| w.commit(store)).collect()
}
