//! `GET /runs/{id}/outputs/{frame}`: an output frame of a finished run, as
//! Arrow IPC stream, Parquet, CSV or JSON, chosen by `?format=` or
//! `Accept`, as a file to save (`Content-Disposition`).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, Problem, run_not_found};
use super::extract::{Path, Query};
use super::frames::{Binary, FormatName, FrameFormat};
use super::state::AppState;
use crate::runner::RunStatus;
use crate::service::Service;
use algohost_sdk::polars::prelude::DataFrame;

/// A frame as JSON: one object per row, column name → value (timestamps
/// as text).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct FrameRecords(Vec<BTreeMap<String, Value>>);

/// The query of `GET /runs/{id}/outputs/{frame}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutputQuery {
    /// The format, instead of `Accept` (which it beats): a link that
    /// downloads CSV is `…/outputs/schedule?format=csv`.
    pub format: Option<FormatName>,
}

/// The router of `/runs/{id}/outputs/{frame}`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_output))
}

/// Downloads an output frame in the format `?format=` names, else the one
/// `Accept` asks for (JSON when it asks for none), as a file named
/// `<run>-<frame>.<json|csv|parquet|arrow>`. `Accept` also takes
/// `application/parquet` and `application/x-parquet` for Parquet
/// (answered as `application/vnd.apache.parquet`).
#[utoipa::path(
    get, path = "/runs/{id}/outputs/{frame}", tag = "runs",
    params(
        ("id" = Uuid, Path, description = "Run id"),
        ("frame" = String, Path, description = "Frame name, one of the run's `frames`"),
        OutputQuery,
    ),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The frame", headers(
            ("Content-Disposition" = String, description = "`attachment; filename=\"<run>-<frame>.<extension>\"`"),
            ("Vary" = String, description = "`accept`"),
        ), content(
            (FrameRecords = "application/json"),
            (Binary = "application/vnd.apache.arrow.stream"),
            (Binary = "application/vnd.apache.parquet"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such run, or it has no such frame (a run that did not \
          succeed has none)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is queued or running: its frames are there once it \
          has succeeded", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "None of the accepted media types is available",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_output(
    State(state): State<AppState>,
    Path((id, name)): Path<(Uuid, String)>,
    Query(query): Query<OutputQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = FrameFormat::choose(query.format, &headers)?;
    let service = state.service.clone();
    let file = attachment(id, &name, format);
    let frame = tokio::task::spawn_blocking(move || output_frame(&service, id, &name)).await??;
    let mut response = format.streamed(frame);
    if let Ok(value) = HeaderValue::from_str(&file) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `attachment; filename="<run>-<frame>.<ext>"`, the frame name kept to
/// characters safe in a file name.
fn attachment(id: Uuid, frame: &str, format: FrameFormat) -> String {
    let frame: String = frame
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' => c,
            _ => '_',
        })
        .collect();
    format!(
        "attachment; filename=\"{id}-{frame}.{}\"",
        format.extension()
    )
}

fn output_frame(service: &Service, id: Uuid, name: &str) -> Result<DataFrame, ApiError> {
    let Some(frame) = service.frame(id, name)? else {
        let run = service.get(id)?.ok_or_else(|| run_not_found(id))?;
        if !run.status.is_finished() {
            return Err(ApiError::Conflict(format!(
                "run {id} is {}: its output frames are there once it has succeeded; follow it at \
                 /runs/{id} or /runs/{id}/events",
                run.status
            )));
        }
        if run.status != RunStatus::Succeeded {
            return Err(ApiError::NotFound(format!(
                "run {id} ended {}, so it has no output frames (only a run that succeeded has \
                 them); GET /runs/{id} says why",
                run.status
            )));
        }
        return Err(ApiError::NotFound(format!(
            "run {id} has no output frame '{name}'; its frames: [{}]",
            run.frames.join(", ")
        )));
    };
    Ok(frame)
}
