//! `GET /plugins`: how many algorithms each source registered, where dylib
//! plugins were looked for, and every discovery diagnostic.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::Problem;
use super::extract::NoQuery;
use super::state::AppState;
use crate::registry::{Diagnostic, Registry};

/// A plugin or algorithm that could not be registered, and what to do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DiagnosticView {
    /// `builtin`, `dylib` or `python`.
    pub source: String,
    /// Library path, entry point or algorithm name.
    pub location: String,
    /// What went wrong.
    pub reason: String,
    /// What to do about it.
    pub hint: String,
}

impl From<&Diagnostic> for DiagnosticView {
    fn from(d: &Diagnostic) -> Self {
        Self {
            source: d.source.clone(),
            location: d.location.clone(),
            reason: d.reason.clone(),
            hint: d.hint.clone(),
        }
    }
}

/// Sources and diagnostics of discovery.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PluginsView {
    /// Algorithms registered per source kind (`builtin`, `dylib`, `python`).
    pub sources: BTreeMap<String, usize>,
    /// Where dylib plugins were looked for, in order.
    pub plugin_dirs: Vec<String>,
    /// Everything that could not be registered.
    pub diagnostics: Vec<DiagnosticView>,
}

/// The router of `/plugins`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(plugins))
}

/// Plugin sources and discovery diagnostics.
#[utoipa::path(
    get, path = "/plugins", tag = "plugins",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Sources and diagnostics", body = PluginsView),
        (status = 400, description = "A query parameter was given (it takes none)", body = Problem,
         content_type = "application/problem+json"),
    )
)]
async fn plugins(State(state): State<AppState>, _: NoQuery) -> Json<PluginsView> {
    let registry = state.service.registry();
    Json(PluginsView {
        sources: source_counts(registry),
        plugin_dirs: state
            .plugin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect(),
        diagnostics: registry.diagnostics().iter().map(Into::into).collect(),
    })
}

/// How many algorithms each source registered (every source named, with 0
/// when it found none).
pub fn source_counts(registry: &Registry) -> BTreeMap<String, usize> {
    let mut sources: BTreeMap<String, usize> = ["builtin", "dylib", "python"]
        .into_iter()
        .map(|k| (k.to_owned(), 0))
        .collect();
    for algorithm in registry.algorithms() {
        *sources
            .entry(algorithm.source.kind().to_owned())
            .or_default() += 1;
    }
    sources
}
