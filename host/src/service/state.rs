//! The live state of one queued or running run: its record as it is now,
//! the log records not yet persisted, its event subscribers, and the lock
//! that keeps its store writes in order.

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
use crate::store::{Store, StoreError};

/// Events buffered per subscriber. A subscriber that falls this far behind
/// misses progress and log events, never the final status.
pub(super) const EVENT_BUFFER: usize = 1024;

struct Live {
    /// The record as it is now (without logs).
    run: Run,
    /// Log records kept since the last store write.
    pending_logs: Vec<LogRecord>,
    /// Progress changed since the last store write.
    is_dirty: bool,
    subscribers: Vec<mpsc::Sender<RunEvent>>,
    /// The final record was written; later reports are ignored.
    has_ended: bool,
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
    /// Held across each store write of this run, so writes land in order.
    persist: Mutex<()>,
    status: watch::Sender<RunStatus>,
}

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn report(result: Result<(), StoreError>, id: Uuid, what: &str) {
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
        }
    }
}

impl RunState {
    /// The state of a run just queued.
    pub fn new(run: Run, timeout: Option<Duration>) -> Arc<Self> {
        let (status, _) = watch::channel(run.status);
        Arc::new(Self {
            id: run.id,
            timeout,
            cancel: CancelToken::new(),
            live: Mutex::new(Live {
                run,
                pending_logs: Vec::new(),
                is_dirty: false,
                subscribers: Vec::new(),
                has_ended: false,
            }),
            persist: Mutex::new(()),
            status,
        })
    }

    /// The record as it is now, with the log records not yet persisted.
    pub fn snapshot(&self) -> Run {
        let live = relock(&self.live);
        let mut run = live.run.clone();
        run.logs = live.pending_logs.clone();
        run
    }

    /// The record as it is now with every log record: the stored ones and
    /// those not yet persisted.
    pub fn current(&self, store: &dyn Store) -> Result<Run, StoreError> {
        let _order = relock(&self.persist);
        let stored = store.get(self.id)?;
        let mut run = self.snapshot();
        if let Some(stored) = stored {
            run.logs.splice(0..0, stored.logs);
        }
        Ok(run)
    }

    /// Ends every event stream (at shutdown) without a final status.
    pub fn close_streams(&self) {
        relock(&self.live).subscribers.clear();
    }

    /// The current status.
    pub fn status(&self) -> RunStatus {
        *self.status.borrow()
    }

    /// Follows the status (for waiting).
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
        if !live.has_ended {
            live.subscribers.push(tx);
        }
        rx
    }

    /// Marks the run running (in memory and in the store); false when it
    /// already ended.
    pub fn start(&self, store: &dyn Store) -> bool {
        let _order = relock(&self.persist);
        let run = {
            let mut live = relock(&self.live);
            if live.has_ended {
                return false;
            }
            live.run.status = RunStatus::Running;
            live.run.started_at = Some(Utc::now());
            live.publish(
                RunEvent::Status {
                    status: RunStatus::Running,
                },
                false,
            );
            live.run.clone()
        };
        self.status.send_replace(RunStatus::Running);
        report(store.update(&run), self.id, "start");
        true
    }

    /// Writes the progress and log records kept since the last write.
    pub fn flush(&self, store: &dyn Store) {
        let _order = relock(&self.persist);
        let (logs, run) = {
            let mut live = relock(&self.live);
            if live.has_ended || (!live.is_dirty && live.pending_logs.is_empty()) {
                return;
            }
            let logs = std::mem::take(&mut live.pending_logs);
            let run = std::mem::take(&mut live.is_dirty).then(|| live.run.clone());
            (logs, run)
        };
        report(store.append_logs(self.id, &logs), self.id, "logs");
        if let Some(run) = run {
            report(store.update(&run), self.id, "progress");
        }
    }

    /// Writes the final record (with the output frames of a succeeded run)
    /// and ends the event streams; false (and no record written) when the
    /// run had already ended, e.g. marked interrupted at shutdown.
    pub fn finish(&self, store: &dyn Store, mut run: Run, output: Option<&Output>) -> bool {
        // Frames first, outside the ordering lock: readers of the run do not
        // wait for a large frame to be written.
        let output = output.filter(|_| run.status == RunStatus::Succeeded);
        if let Some(output) = output.filter(|_| !relock(&self.live).has_ended) {
            let stored = output
                .frames
                .iter()
                .try_for_each(|(name, frame)| store.put_frame(self.id, name, frame));
            if let Err(e) = stored {
                run.status = RunStatus::Failed;
                run.error = Some(RunError {
                    kind: "store".to_owned(),
                    message: format!("the run's output frames could not be stored: {e}"),
                    details: Value::Null,
                });
            }
        }
        let _order = relock(&self.persist);
        let logs = {
            let mut live = relock(&self.live);
            if live.has_ended {
                return false;
            }
            std::mem::take(&mut live.pending_logs)
        };
        report(store.append_logs(self.id, &logs), self.id, "logs");
        run.logs = Vec::new();
        report(store.update(&run), self.id, "final status");
        let mut live = relock(&self.live);
        let status = run.status;
        live.run = run;
        live.has_ended = true;
        live.publish(RunEvent::Status { status }, true);
        drop(live);
        self.status.send_replace(status);
        true
    }

    /// Ends a run that never started or was interrupted: `status` and
    /// `error` replace the current ones (a `queued` status resets progress),
    /// `notice` is appended to its log.
    pub fn end_as(
        &self,
        store: &dyn Store,
        status: RunStatus,
        error: Option<RunError>,
        notice: Option<LogRecord>,
    ) -> bool {
        let mut run = {
            let mut live = relock(&self.live);
            live.pending_logs.extend(notice);
            live.run.clone()
        };
        run.status = status;
        run.error = error;
        if status == RunStatus::Queued {
            run.progress = 0.0;
            run.progress_message = String::new();
            run.started_at = None;
        } else {
            run.finished_at = Some(Utc::now());
        }
        self.finish(store, run, None)
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
        live.pending_logs.push(record.clone());
        live.publish(RunEvent::Log(record.clone()), false);
    }
}
