//! `GET /runs/{id}/events`: a run's progress, log records and status changes
//! as Server-Sent Events. The stream ends after the event with the run's
//! final status; for a run that already ended, that is the only event.
//!
//! ```text
//! event: status
//! data: {"status":"running"}
//!
//! event: progress
//! data: {"progress":0.2,"message":"dispatching the battery"}
//!
//! event: log
//! data: {"ts":"…","level":"info","target":"peak_shaving","message":"…"}
//! ```

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, Problem, run_not_found};
use super::extract::Path;
use super::runs::{LogRecordView, RunStatusView};
use super::state::AppState;
use crate::service::RunEvent;

/// Data of an `event: status` (the last one carries a finished status).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatusEvent {
    /// The run's new status.
    pub status: RunStatusView,
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

/// Streams a run's events until it ends: `status` (data: StatusEvent),
/// `progress` (data: ProgressEvent) and `log` (data: LogRecordView).
#[utoipa::path(
    get, path = "/runs/{id}/events", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Server-Sent Events `status`, `progress` and `log`, in order; \
          the stream ends after the final status", body = String, content_type = "text/event-stream"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn run_events(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let events = state
        .service
        .subscribe(id)?
        .ok_or_else(|| run_not_found(id))?;
    let stream = ReceiverStream::new(events).map(|event| Ok(sse_event(event)));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn sse_event(event: RunEvent) -> Event {
    let encoded = match event {
        RunEvent::Status { status } => Event::default().event("status").json_data(StatusEvent {
            status: status.into(),
        }),
        RunEvent::Progress { progress, message } => Event::default()
            .event("progress")
            .json_data(ProgressEvent { progress, message }),
        RunEvent::Log(record) => Event::default()
            .event("log")
            .json_data(LogRecordView::from(record)),
    };
    encoded
        .unwrap_or_else(|e| Event::default().comment(format!("an event could not be encoded: {e}")))
}
