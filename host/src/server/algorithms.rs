//! `/algorithms`: manifests of the registered algorithms, and params
//! validation without running anything.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{JsonBody, NoQuery, Path, Query};
use super::state::AppState;
use crate::registry::{Algorithm, Source};
use crate::runner;

/// Where an algorithm comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Linked into the server binary.
    Builtin,
    /// A Rust dynamic library from the plugin path.
    Dylib,
    /// A Python entry point.
    Python,
}

/// An algorithm's source with its location.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    /// `builtin`, `dylib` or `python`.
    pub kind: SourceKind,
    /// The library file (dylib).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `name = module:attr` (python).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<String>,
}

impl From<&Source> for SourceView {
    fn from(source: &Source) -> Self {
        match source {
            Source::Builtin => Self {
                kind: SourceKind::Builtin,
                path: None,
                entry_point: None,
            },
            Source::Dylib { path } => Self {
                kind: SourceKind::Dylib,
                path: Some(path.display().to_string()),
                entry_point: None,
            },
            Source::Python { entry_point } => Self {
                kind: SourceKind::Python,
                path: None,
                entry_point: Some(entry_point.clone()),
            },
        }
    }
}

/// A named output frame and its columns.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutputView {
    /// Frame name, as in `/runs/{id}/outputs/{frame}`.
    pub name: String,
    /// Column names, when they are fixed.
    pub columns: Vec<String>,
}

/// The manifest of an algorithm: everything but its code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlgorithmView {
    /// snake_case name, unique in the registry.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// JSON Schema (2020-12) of its params.
    pub params_schema: Value,
    /// The frames it returns.
    pub outputs: Vec<OutputView>,
    /// Whether a run interrupted by a restart may run again.
    pub idempotent: bool,
    /// Where it comes from.
    pub source: SourceView,
}

impl From<&Algorithm> for AlgorithmView {
    fn from(a: &Algorithm) -> Self {
        let m = &a.manifest;
        Self {
            name: m.name.clone(),
            version: m.version.clone(),
            description: m.description.clone(),
            params_schema: m.params_schema.clone(),
            outputs: m
                .outputs
                .iter()
                .map(|o| OutputView {
                    name: o.name.clone(),
                    columns: o.columns.clone(),
                })
                .collect(),
            idempotent: m.idempotent,
            source: (&a.source).into(),
        }
    }
}

/// Registered algorithms, by name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlgorithmList {
    /// The manifests.
    pub algorithms: Vec<AlgorithmView>,
}

/// Filters of `GET /algorithms`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmFilter {
    /// Only algorithms of this source.
    pub source: Option<SourceKind>,
    /// Only algorithms whose name or description contains this text (any case).
    pub q: Option<String>,
}

/// The outcome of a validation that found nothing wrong.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Validation {
    /// Always `true` (invalid params answer 422).
    pub valid: bool,
    /// The algorithm the params were checked against.
    pub algorithm: String,
}

/// The router of `/algorithms`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_algorithms))
        .routes(routes!(get_algorithm))
        .routes(routes!(validate_params))
}

/// Lists the registered algorithms with their manifests.
#[utoipa::path(
    get, path = "/algorithms", tag = "algorithms",
    params(AlgorithmFilter),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "The manifests, by name", body = AlgorithmList))
)]
async fn list_algorithms(
    State(state): State<AppState>,
    Query(filter): Query<AlgorithmFilter>,
) -> Json<AlgorithmList> {
    let needle = filter.q.as_deref().map(str::to_lowercase);
    let algorithms = state
        .service
        .registry()
        .algorithms()
        .map(AlgorithmView::from)
        .filter(|a| filter.source.is_none_or(|s| s == a.source.kind))
        .filter(|a| {
            needle.as_ref().is_none_or(|n| {
                a.name.to_lowercase().contains(n) || a.description.to_lowercase().contains(n)
            })
        })
        .collect();
    Json(AlgorithmList { algorithms })
}

/// One algorithm's manifest with its params schema.
#[utoipa::path(
    get, path = "/algorithms/{name}", tag = "algorithms",
    params(("name" = String, Path, description = "Algorithm name")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The manifest", body = AlgorithmView),
        (status = 404, description = "No such algorithm; `close` lists similar names",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_algorithm(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: NoQuery,
) -> Result<Json<AlgorithmView>, ApiError> {
    let algorithm = state.service.registry().get(&name)?;
    Ok(Json(algorithm.into()))
}

/// Checks params against the algorithm's schema without running it.
#[utoipa::path(
    post, path = "/algorithms/{name}/validate", tag = "algorithms",
    params(("name" = String, Path, description = "Algorithm name")),
    request_body(content = Value, description = "The params object", content_type = "application/json"),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The params are valid", body = Validation),
        (status = 404, description = "No such algorithm; `close` lists similar names",
         body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid params: `errors` lists every error with its JSON Pointer",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn validate_params(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: NoQuery,
    JsonBody(params): JsonBody<Value>,
) -> Result<Json<Validation>, ApiError> {
    runner::validate(state.service.registry(), &name, &params)?;
    Ok(Json(Validation {
        valid: true,
        algorithm: name,
    }))
}
