//! `GET /health` (liveness) and `GET /ready` (readiness). Both are public
//! and touch neither the workers nor, while it takes writes, the store, so
//! they answer while every worker is busy. Once a store write failed
//! because the store cannot be written, `/ready` answers 503 until a write
//! succeeds, trying a small one of its own now and then.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::state::AppState;

/// The server's state, for probes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (live) or `ready`.
    pub status: String,
    /// The algohost version.
    pub version: String,
}

/// The router of the probes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
}

/// Liveness: the process answers HTTP.
#[utoipa::path(
    get, path = "/health", tag = "operations",
    security(()),
    responses((status = 200, description = "The server is alive", body = Health))
)]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Readiness: the server accepts runs (503 once shutdown has begun, and
/// while its run store cannot be written).
#[utoipa::path(
    get, path = "/ready", tag = "operations",
    security(()),
    responses(
        (status = 200, description = "The server accepts runs", body = Health),
        (status = 503, description = "The server is shutting down, or its run store cannot be \
         written (the detail says why)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn ready(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    if state.is_shutting_down() {
        return Err(ApiError::ShuttingDown);
    }
    let service = state.service.clone();
    tokio::task::spawn_blocking(move || service.check_store()).await??;
    Ok(Json(Health {
        status: "ready".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}
