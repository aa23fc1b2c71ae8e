//! The HTTP runner behind `algohost serve`: axum on tokio, one route file
//! per resource, each handler translating HTTP to one call of the run
//! [`Service`] (or the registry or adapter it holds) and back.
//!
//! Every request gets an `x-request-id` (the client's when it is at most
//! 128 characters of `A-Za-z0-9._:-`, a new UUID otherwise, so that a
//! client cannot forge log lines; echoed on the response) and a `tracing`
//! span carrying it, so every log line of the request names it.
//! Non-streaming requests have a timeout; bodies have a size limit; tokens
//! guard every route but the probes and the docs, and without tokens only
//! requests to `localhost` or an IP address are answered ([`rebinding`]).
//! Errors are problem+json from [`error::ApiError`].

pub mod algorithms;
pub mod auth;
pub mod config;
pub mod cors;
pub mod data;
pub mod error;
pub mod events;
pub mod extract;
pub mod frames;
pub mod health;
mod linger;
pub mod metrics;
pub mod openapi;
pub mod outputs;
pub mod plugins;
pub mod rebinding;
pub mod runs;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tracing::Instrument as _;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::service::Service;
use uuid::Uuid;

pub use config::{ServerConfig, Settings};
pub use error::{ApiError, Problem};
pub use state::AppState;

/// The header carrying the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// [`REQUEST_ID`] as a header name (looked up without parsing it again).
pub(crate) const REQUEST_ID_HEADER: header::HeaderName =
    header::HeaderName::from_static(REQUEST_ID);

/// The routes with their documentation, state and layers.
pub struct App {
    /// The axum router, ready to serve.
    pub router: Router,
    /// Its state (to start the shutdown).
    pub state: AppState,
    /// The OpenAPI document of the routes.
    pub openapi: utoipa::openapi::OpenApi,
}

/// Every route file's router with its OpenAPI paths.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(algorithms::router())
        .merge(runs::router())
        .merge(events::router())
        .merge(outputs::router())
        .merge(plugins::router())
        .merge(data::router())
        .merge(metrics::router())
}

/// The OpenAPI document alone (for tools that print or check it).
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi::finish(api_routes().into_openapi())
}

/// Builds the server for `service` with the limits and tokens of `config`.
/// `plugin_dirs` is where discovery looked (shown by `/plugins`).
pub fn app(service: Arc<Service>, config: &ServerConfig, plugin_dirs: Vec<PathBuf>) -> App {
    let (routes, api) = api_routes().split_for_parts();
    let api = openapi::finish(api);
    let api_value = serde_json::to_value(&api).unwrap_or_default();
    let auth = auth::Auth::new(config.tokens.clone(), &api_value);
    let state = AppState::new(service, auth, config, plugin_dirs, api_value.to_string());
    let router = routes
        .layer(DefaultBodyLimit::max(config.body_limit))
        .merge(openapi::router(&api))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(state.clone(), guard))
        .layer(tower::util::option_layer(cors::layer(&config.cors)))
        .layer(from_fn(frame_request))
        .with_state(state.clone());
    App {
        router,
        state,
        openapi: api,
    }
}

/// The longest request id a client may choose.
const MAX_REQUEST_ID: usize = 128;

/// The request's id: the client's when it gave exactly one of at most 128
/// characters of `A-Za-z0-9._:-` (a space or `}` would let it forge log
/// lines), else a new UUID, which replaces whatever it gave.
fn request_id(request: &mut Request) -> HeaderValue {
    let is_safe = |id: &[u8]| {
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(b))
    };
    let mut ids = request.headers().get_all(&REQUEST_ID_HEADER).iter();
    if let (Some(id), None) = (ids.next(), ids.next())
        && is_safe(id.as_bytes())
    {
        return id.clone();
    }
    let mut buffer = Uuid::encode_buffer();
    let id = HeaderValue::from_str(Uuid::new_v4().hyphenated().encode_lower(&mut buffer))
        .unwrap_or_else(|_| HeaderValue::from_static("-"));
    request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
    id
}

/// Middleware around every request (one layer rather than one per
/// concern: each layer costs every request its share): gives it an id
/// (see [`request_id`]) echoed on the response, a `tracing` span carrying
/// it, so that every log line of the request names it, and its response
/// line; responses get `X-Content-Type-Options: nosniff` (browsers take a
/// response as the type it says, never sniffed into HTML) and
/// `X-Frame-Options: DENY` (no other site frames the docs), unless they
/// set their own.
async fn frame_request(mut request: Request, next: Next) -> Response {
    let id = request_id(&mut request);
    let span = request_span(&request, &id);
    let mut log = RequestLog {
        span: span.clone(),
        started: Instant::now(),
        is_answered: false,
    };
    let mut response = async move {
        tracing::debug!("started processing request");
        next.run(request).await
    }
    .instrument(span)
    .await;
    log.answered(&response);
    let headers = response.headers_mut();
    headers.entry(REQUEST_ID_HEADER).or_insert(id);
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    response
}

/// A request's lines in the log: the one its response gets, or, for one
/// that never gets a response (its client closed the connection first, as
/// a proxy that timed out does), the one it gets when dropped, so that its
/// id still appears in the log.
struct RequestLog {
    span: tracing::Span,
    started: Instant,
    is_answered: bool,
}

impl RequestLog {
    /// The line of the response: its status and how long it took. A 5xx
    /// is logged where it is made: an internal error at ERROR with its
    /// cause, a 503 the server chose (queue full, store unwritable) at
    /// WARN or not at all; never again as a generic ERROR here.
    fn answered(&mut self, response: &Response) {
        self.is_answered = true;
        let _in = self.span.enter();
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = self.latency_ms(),
            "finished processing request"
        );
    }

    /// How long the request has taken, in milliseconds as a number (a JSON
    /// log's field to sum and compare).
    fn latency_ms(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e3
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        if !self.is_answered {
            let _in = self.span.enter();
            tracing::info!(
                latency_ms = self.latency_ms(),
                "the client went away before the response"
            );
        }
    }
}

/// Middleware inside CORS (one layer for what every route needs: each
/// layer costs every request its share): the DNS-rebinding guard
/// ([`rebinding`]); on the API routes (not the docs), 401/403 unless the
/// token fits the route ([`auth`]) and the request timeout of
/// non-streaming requests; and the request metrics of every response,
/// refusals included.
async fn guard(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = matched.as_ref().map(MatchedPath::as_str);
    let response = if let Some(refusal) = rebinding::refusal(&state, &request) {
        refusal
    } else if route.is_none_or(openapi::is_docs_route) {
        next.run(request).await
    } else if let Err(e) = state.auth.check(request.method(), route, request.headers()) {
        e.into_response()
    } else {
        within_timeout(state.request_timeout, route, request, next).await
    };
    let status = response.status().as_u16();
    state
        .metrics
        .record(&method, route, status, started.elapsed());
    response
}

fn request_span(request: &Request, id: &HeaderValue) -> tracing::Span {
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let span = tracing::info_span!(
        "request",
        id = %id.to_str().unwrap_or("-"),
        method = %request.method(),
        // Path and query (a URI holds no spaces: it cannot forge a line).
        uri = %request.uri().path_and_query().map_or("/", |p| p.as_str()),
        client = tracing::field::Empty,
        forwarded_for = tracing::field::Empty,
        // The run a request made or found (POST /runs), for its response line.
        run_id = tracing::field::Empty,
    );
    if let Some(client) = client {
        span.record("client", tracing::field::display(client));
    }
    if let Some(forwarded) = forwarded_for(request) {
        span.record("forwarded_for", forwarded);
    }
    span
}

/// `X-Forwarded-For` as a proxy sets it (addresses, commas, spaces), for
/// the log; anything else (too long, other characters) is left out, so
/// that a client cannot forge log lines with it.
fn forwarded_for(request: &Request) -> Option<&str> {
    let value = request.headers().get("x-forwarded-for")?.to_str().ok()?;
    let is_addresses = value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b".:, []".contains(&b));
    is_addresses.then_some(value)
}

/// The response of a request to `path` (its route's template), or 503 once
/// `timeout` has passed (408 when its body is still on its way then, see
/// [`RequestDeadline`]); event streams end with their run instead.
async fn within_timeout(
    timeout: Duration,
    path: Option<&str>,
    mut request: Request,
    next: Next,
) -> Response {
    if path == Some("/runs/{id}/events") {
        // An event stream ends with its run.
        return next.run(request).await;
    }
    let deadline = RequestDeadline {
        at: tokio::time::Instant::now() + timeout,
        timeout,
    };
    request.extensions_mut().insert(deadline);
    match tokio::time::timeout_at(deadline.at, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(deadline.timeout).into_response(),
    }
}

/// When a request is cut off (503), unless its body is still on its way
/// then: the body extractor stops waiting for it at the same instant and
/// answers 408 instead ([`extract::RawBody`]), so that a client that
/// never sends the body it announced is told so, not that the server was
/// too slow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestDeadline {
    /// When.
    pub at: tokio::time::Instant,
    /// The request timeout, to say so.
    pub timeout: Duration,
}

async fn route_not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route {} {}; /openapi.json lists them",
        request.method(),
        request.uri().path()
    ))
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
}

/// Serves `app` on `listener` until `signal` completes, then shuts down:
/// marks the server not ready and refuses new runs (503), gives running
/// runs `grace` to finish (the service marks the rest interrupted), and
/// only then stops accepting connections and lets open ones finish (event
/// streams end with their runs). Meanwhile the server still answers: a
/// load balancer probing `/ready` sees the 503 and drains it, and clients
/// still read runs and follow their events rather than meeting a closed
/// port. A connection that takes longer than the request timeout to send
/// a request's head, or sits idle that long between requests, is closed.
pub async fn serve(
    listener: TcpListener,
    app: App,
    grace: Duration,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let head_timeout = app.state.request_timeout;
    let mut server = tokio::spawn(serve_connections(
        listener,
        app.router,
        head_timeout,
        stopped,
    ));
    tokio::select! {
        () = signal => {}
        finished = &mut server => return finished.map_err(std::io::Error::other),
    }
    tracing::info!(grace_secs = grace.as_secs_f64(), "shutting down");
    app.state.begin_shutdown();
    let lost = app.state.service.shutdown(grace).await;
    let _ = stop.send(true);
    // Requests still open (event streams of runs just ended) get a moment.
    let served = match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(joined) => joined.map_err(std::io::Error::other),
        Err(_) => {
            tracing::warn!("connections still open after shutdown; closing them");
            Ok(())
        }
    };
    served?;
    if lost.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = lost.iter().map(Uuid::to_string).collect();
    Err(std::io::Error::other(format!(
        "the run store could not be written before the server stopped (its disk may be full): \
         the ends and outputs of {} run(s) are lost ({}); the next start marks them failed \
         (interrupted)",
        lost.len(),
        ids.join(", ")
    )))
}

/// Accepts HTTP/1 connections until `stop` turns true, then closes the
/// listener and waits for the open connections to finish their requests
/// (idle ones close at once). `head_timeout` bounds how long a client may
/// take to send a request's head (a slowloris client holds a connection
/// and its file descriptor otherwise).
async fn serve_connections(
    mut listener: TcpListener,
    router: Router,
    head_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(head_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, client) = tokio::select! {
            // Retries (after a pause) when accepting fails, as when out of file descriptors.
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        // Each request knows the address it came from (for the log).
        let service = TowerToHyperService::new(tower::Layer::layer(
            &axum::Extension(ConnectInfo(client)),
            router.clone(),
        ));
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(linger::Lingering::new(stream)), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    async fn sleep_then(ms: u64) -> &'static str {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        "done"
    }

    #[tokio::test]
    async fn slow_requests_get_a_503_problem_but_event_streams_do_not() {
        let timed = |matched: Option<MatchedPath>, request: Request, next: Next| async move {
            let path = matched.as_ref().map(MatchedPath::as_str);
            within_timeout(Duration::from_millis(10), path, request, next).await
        };
        let app: Router = Router::new()
            .route("/slow", get(|| sleep_then(5_000)))
            .route("/runs/{id}/events", get(|| sleep_then(50)))
            .layer(from_fn(timed));
        let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
        let slow = app.clone().oneshot(get("/slow")).await.unwrap();
        assert_eq!(slow.status(), 503);
        assert_eq!(slow.headers()["content-type"], error::PROBLEM_JSON);
        let stream = app.oneshot(get("/runs/1/events")).await.unwrap();
        assert_eq!(stream.status(), 200);
    }
}
