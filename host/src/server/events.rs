//! `GET /runs/{id}/events`: a run's progress, log records and status changes
//! as Server-Sent Events. The stream first replays the log records the run
//! already has (and, for a run that ended, its last progress), then
//! follows it live, and ends after the event with the run's final status,
//! which carries the error of a run that did not succeed.
//!
//! Ids are resume points, and only events that a reconnection replays have
//! one: a log record's `id` is its number in the run's log (1, 2, …), so
//! that a client that reconnects with `Last-Event-ID: N` (as browsers'
//! `EventSource` does) gets the records after the N-th. `status` and
//! `progress` events have no id (the SSE spec keeps the last one as the
//! resume point): they report the run's state, which a new stream starts
//! with anyway, so no id repeats. The final status's id is `end`: a client
//! that reconnects with it has had everything and gets `204 No Content`,
//! which tells `EventSource` to stop reconnecting (it would otherwise replay
//! the end of the run forever).
//!
//! ```text
//! event: status
//! data: {"status":"running"}
//!
//! id: 1
//! event: log
//! data: {"ts":"…","level":"info","target":"peak_shaving","message":"…"}
//!
//! event: progress
//! data: {"progress":0.2,"message":"dispatching the battery"}
//!
//! id: end
//! event: status
//! data: {"status":"succeeded"}
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use algohost_sdk::logging::LogRecord;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, Problem, run_not_found};
use super::extract::{NoQuery, Path};
use super::runs::{LogRecordView, RunErrorView, RunStatusView};
use super::state::AppState;
use crate::runner::{Run, RunStatus};
use crate::service::{RunEvent, Service};

/// Data of an `event: status` (the last one carries a finished status).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusEvent {
    /// The run's new status.
    pub status: RunStatusView,
    /// Why it did not succeed (final `failed`, `cancelled` or `timed_out`
    /// only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RunErrorView>,
}

/// Data of an `event: progress`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProgressEvent {
    /// 0..=1, never decreasing.
    pub progress: f64,
    /// What the algorithm is doing.
    pub message: String,
}

/// The router of `/runs/{id}/events`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run_events))
}

/// How often a subscription is tried again when log records arrive while
/// it is made (see [`subscribe_with_history`]).
const SUBSCRIBE_ATTEMPTS: usize = 5;

/// Streams a run's events until it ends: `status` (data: StatusEvent),
/// `progress` (data: ProgressEvent) and `log` (data: LogRecordView). The
/// log records the run already has come first (after its current status);
/// a run that ended gets its records, its last progress and its final
/// status.
///
/// Ids are resume points, not event identifiers: a `log` event's `id` is
/// the record's number in the run's log (1, 2, …), the final `status`'s is
/// `end`, and other `status` and `progress` events have none (so no id
/// repeats; `EventSource` keeps the last id it saw). A reconnection with
/// `Last-Event-ID: N` gets the current status, the records after the N-th,
/// and what follows; with `end`, 204 once the run has ended (before, the
/// whole stream: the client cannot have had the final status).
#[utoipa::path(
    get, path = "/runs/{id}/events", tag = "runs",
    params(
        ("id" = Uuid, Path, description = "Run id"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last `id` received (a log \
            record's number): the records up to it are not sent again; `end` (the final status's \
            id) gets 204 once the run has ended"),
    ),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Server-Sent Events `status`, `progress` and `log`, in order; \
          the stream ends after the final status, which carries the error of a run that did not succeed",
         body = String, content_type = "text/event-stream"),
        (status = 204, description = "`Last-Event-ID: end` and the run has ended: the client has \
          had the final status; nothing more will come"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn run_events(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    _: NoQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let skip = match last_event_id(&headers)? {
        Some(skip) => skip,
        None => {
            // The client had the final status, if the run has ended; one
            // that has not cannot have sent it, and gets the whole stream
            // (a 204 would stop its `EventSource` before the end).
            let service = state.service.clone();
            let run = tokio::task::spawn_blocking(move || service.get(id))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::from)?
                .ok_or_else(|| run_not_found(id))?;
            if run.status.is_finished() {
                return Ok(StatusCode::NO_CONTENT.into_response());
            }
            0
        }
    };
    let service = state.service.clone();
    let (mut run, events) = subscribe_with_history(&service, id)?;
    let mut history: VecDeque<Item> = std::mem::take(&mut run.logs)
        .into_iter()
        .map(|r| Item::Event(RunEvent::Log(r)))
        .collect();
    let ended = run.status.is_finished().then_some(run);
    if let Some(run) = &ended
        && (run.progress > 0.0 || !run.progress_message.is_empty())
    {
        history.push_back(Item::Event(RunEvent::Progress {
            progress: run.progress,
            message: run.progress_message.clone(),
        }));
    }
    let stream = Events {
        id,
        service,
        events,
        history: Some(history),
        pending: VecDeque::new(),
        ended,
        sent_logs: 0,
        skip,
    };
    let stream = futures_util::stream::unfold(stream, |mut s| async move {
        let event = s.next().await?;
        Some((Ok::<Event, Infallible>(event), s))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// The `id` of the final status event.
const FINAL_ID: &str = "end";

/// `Last-Event-ID`: how many log records the client has (the number of
/// the last one it got; 0 without it, or empty), `None` when it had the final status (`end`).
fn last_event_id(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(Some(0));
    };
    match value.to_str().map(str::trim) {
        Ok("") => return Ok(Some(0)),
        Ok(FINAL_ID) => return Ok(None),
        _ => {}
    }
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Last-Event-ID must be the id of an event of this stream (a log record's number, \
                 or `end`), got {value:?}"
            ))
        })
}

/// The run's live events and the run as it was when they started: its log
/// records so far are those before the first live one. A record logged
/// while subscribing could be in both or neither, so the subscription is
/// made again until no record arrived meanwhile (a few times; then the
/// records logged meanwhile may be missed).
fn subscribe_with_history(
    service: &Service,
    id: Uuid,
) -> Result<(Run, mpsc::Receiver<RunEvent>), ApiError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = service.get(id)?.ok_or_else(|| run_not_found(id))?;
        let events = service.subscribe(id)?.ok_or_else(|| run_not_found(id))?;
        let after = service.get(id)?.ok_or_else(|| run_not_found(id))?;
        if after.logs.len() == before.logs.len() || attempt == SUBSCRIBE_ATTEMPTS {
            return Ok((before, events));
        }
    }
}

/// What the stream sends next.
enum Item {
    /// An event as the run service gives it.
    Event(RunEvent),
    /// The final status, with the run's error.
    Final(RunStatus, Option<RunErrorView>),
}

/// A run's event stream, with its history and ids (see the module docs).
struct Events {
    id: Uuid,
    service: Arc<Service>,
    events: mpsc::Receiver<RunEvent>,
    /// The records (and final progress) to send after the first event;
    /// `None` once they are queued.
    history: Option<VecDeque<Item>>,
    /// Items to send before the next live event.
    pending: VecDeque<Item>,
    /// The run (without its log records, which are in the history), when
    /// it had ended before the stream started.
    ended: Option<Run>,
    /// Log records sent or skipped so far.
    sent_logs: usize,
    /// Log records the client has already (`Last-Event-ID`).
    skip: usize,
}

impl Events {
    /// The next event, `None` after the final status.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let item = match self.pending.pop_front() {
                Some(item) => item,
                None => Item::Event(self.events.recv().await?),
            };
            if let Some(history) = self.history.take() {
                // The first event is the current status: the history comes
                // after it, or before it when it is the final one.
                let is_final = matches!(&item, Item::Event(RunEvent::Status { status }) if status.is_finished());
                self.pending.extend(history);
                if is_final {
                    self.pending.push_back(item);
                    continue;
                }
            }
            match item {
                Item::Event(RunEvent::Status { status }) if status.is_finished() => {
                    self.finish(status).await;
                }
                Item::Event(RunEvent::Log(record)) => {
                    self.sent_logs += 1;
                    if self.sent_logs > self.skip {
                        return Some(self.log(record));
                    }
                }
                Item::Event(RunEvent::Status { status }) => {
                    return Some(self.status(status.into(), None));
                }
                Item::Event(RunEvent::Progress { progress, message }) => {
                    return Some(encode(
                        None,
                        "progress",
                        ProgressEvent { progress, message },
                    ));
                }
                Item::Final(status, error) => {
                    let data = StatusEvent {
                        status: status.into(),
                        error,
                    };
                    return Some(encode(Some(FINAL_ID), "status", data));
                }
            }
        }
    }

    /// Queues the final status with the run's error, after the records the
    /// run ended with that were not sent live (a cancellation's notice).
    async fn finish(&mut self, status: RunStatus) {
        let run = match self.ended.take() {
            Some(run) => Some(run),
            None => {
                let (service, id) = (self.service.clone(), self.id);
                match tokio::task::spawn_blocking(move || service.get(id)).await {
                    Ok(Ok(run)) => run,
                    Ok(Err(e)) => {
                        tracing::warn!(run_id = %id, "reading the run that ended failed: {e}");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(run_id = %id, "reading the run that ended failed: {e}");
                        None
                    }
                }
            }
        };
        let (tail, error) = match run {
            Some(run) => {
                let tail: Vec<LogRecord> = run.logs.into_iter().skip(self.sent_logs).collect();
                let error = run.error.filter(|_| status != RunStatus::Succeeded);
                (tail, error.map(RunErrorView::from))
            }
            None => (Vec::new(), None),
        };
        self.pending
            .extend(tail.into_iter().map(|r| Item::Event(RunEvent::Log(r))));
        self.pending.push_back(Item::Final(status, error));
    }

    fn status(&self, status: RunStatusView, error: Option<RunErrorView>) -> Event {
        encode(None, "status", StatusEvent { status, error })
    }

    /// A log record's event, its number in the run's log as its id.
    fn log(&self, record: LogRecord) -> Event {
        let id = self.sent_logs.to_string();
        encode(Some(&id), "log", LogRecordView::from(record))
    }
}

/// An event named `name` with `data` as JSON, and the id `id` if any.
fn encode(id: Option<&str>, name: &str, data: impl Serialize) -> Event {
    let event = Event::default().event(name);
    let event = match id {
        Some(id) => event.id(id),
        None => event,
    };
    event
        .json_data(data)
        .unwrap_or_else(|e| Event::default().comment(format!("an event could not be encoded: {e}")))
}
