//! `GET /metrics` in the Prometheus (OpenMetrics) text format: requests by
//! route, method and status, request latency, runs by status, queue depth
//! and the run duration histogram. Request counters are kept here; the run
//! figures come from [`crate::service::Service::metrics`] at each scrape.

use std::time::Duration;

use axum::extract::State;
use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::state::AppState;

/// Media type of the exposition.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Counters of the HTTP requests served.
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl HttpMetrics {
    /// Counts a response by route template (not the raw path, so that ids
    /// do not explode the label set; `None` when no route matched), method
    /// and status, and observes how long it took.
    pub fn record(&self, method: &Method, route: Option<&str>, status: u16, took: Duration) {
        let labels = RouteLabels {
            method: method_label(method),
            route: route.unwrap_or("unmatched").to_owned(),
        };
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method: labels.method,
                route: labels.route,
                status,
            })
            .inc();
    }
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
        }
    }
}

/// The method as a label: one of the standard methods, or `other` for any
/// method a client makes up (each would otherwise add series forever).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

/// The router of `/metrics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics of requests and runs.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "OpenMetrics text exposition", body = String,
         content_type = "application/openmetrics-text"),
    )
)]
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = encode(&state).map_err(ApiError::internal)?;
    Ok(([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response())
}

fn encode(state: &AppState) -> Result<String, std::fmt::Error> {
    let runs = state.service.metrics();
    let mut registry = Registry::with_prefix("algohost");
    registry.register(
        "http_requests",
        "HTTP requests by route template, method and status",
        state.metrics.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "Time to the response head, by route template and method",
        state.metrics.latency.clone(),
    );
    let queue_depth = Gauge::<i64>::default();
    queue_depth.set(i64::try_from(runs.queue_depth).unwrap_or(i64::MAX));
    registry.register("queue_depth", "Runs waiting for a worker", queue_depth);
    let running = Gauge::<i64>::default();
    running.set(i64::try_from(runs.running).unwrap_or(i64::MAX));
    registry.register("runs_running", "Runs executing now", running);
    let kept = Gauge::<i64>::default();
    kept.set(i64::try_from(runs.kept).unwrap_or(i64::MAX));
    registry.register(
        "runs_kept",
        "Runs that ended but whose end the run store could not take yet (its disk full): kept in \
         memory and written once it can, lost if the server stops first",
        kept,
    );
    let abandoned = Gauge::<i64>::default();
    abandoned.set(i64::try_from(crate::runner::abandoned_runs()).unwrap_or(i64::MAX));
    registry.register(
        "runs_abandoned",
        "Plugins still running for runs that already timed out (they ignore the deadline); \
         outside the concurrency limit until they return",
        abandoned,
    );
    let finished = Family::<StatusLabels, Counter>::default();
    for (status, count) in &runs.finished {
        finished
            .get_or_create(&StatusLabels {
                status: status.clone(),
            })
            .inc_by(*count);
    }
    registry.register(
        "runs_finished",
        "Runs finished since the server started, by final status",
        finished,
    );
    registry.register(
        "run_duration_seconds",
        "Duration of finished runs, from start to end",
        runs.durations,
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}
