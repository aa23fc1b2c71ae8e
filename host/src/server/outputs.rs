//! `GET /runs/{id}/outputs/{frame}`: an output frame of a finished run, as
//! Arrow IPC stream, Parquet, CSV or JSON, chosen by `Accept`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::{ApiError, Problem, run_not_found};
use super::extract::Path;
use super::frames::{Binary, FrameFormat};
use super::state::AppState;
use crate::service::Service;

/// A frame as JSON: one object per row, column name → value (timestamps
/// as text).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct FrameRecords(Vec<BTreeMap<String, Value>>);

/// The router of `/runs/{id}/outputs/{frame}`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_output))
}

/// Downloads an output frame in the format `Accept` asks for (JSON when
/// it asks for none).
#[utoipa::path(
    get, path = "/runs/{id}/outputs/{frame}", tag = "runs",
    params(
        ("id" = Uuid, Path, description = "Run id"),
        ("frame" = String, Path, description = "Frame name, one of the run's `frames`"),
    ),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The frame", content(
            (FrameRecords = "application/json"),
            (Binary = "application/vnd.apache.arrow.stream"),
            (Binary = "application/vnd.apache.parquet"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such run, or it has no such frame (yet)",
         body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "None of the accepted media types is available",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_output(
    State(state): State<AppState>,
    Path((id, name)): Path<(Uuid, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = FrameFormat::negotiate(&headers)?;
    let service = state.service.clone();
    let body =
        tokio::task::spawn_blocking(move || encoded_frame(&service, id, &name, format)).await??;
    Ok(format.response(body))
}

fn encoded_frame(
    service: &Service,
    id: Uuid,
    name: &str,
    format: FrameFormat,
) -> Result<Vec<u8>, ApiError> {
    let Some(mut frame) = service.frame(id, name)? else {
        let run = service.get(id)?.ok_or_else(|| run_not_found(id))?;
        return Err(ApiError::NotFound(format!(
            "run {id} ({}) has no output frame '{name}'; its frames: [{}]",
            run.status,
            run.frames.join(", ")
        )));
    };
    format.encode(&mut frame).map_err(ApiError::internal)
}
