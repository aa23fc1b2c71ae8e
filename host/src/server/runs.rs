//! `/runs`: start runs (asynchronously, or waiting with `Prefer: wait=N`),
//! list them page by page, read one, cancel one. Events and output frames
//! live in `events.rs` and `outputs.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::RequestDeadline;
use super::error::{ApiError, Problem, run_not_found};
use super::extract::{BodyShape, JsonBody, NoQuery, Path, Query};
use super::state::AppState;
use crate::registry::Source;
use crate::runner::{Run, RunError, RunStatus};
use crate::service::{Submit, SubmitError};
use crate::store::{Logs, RunQuery};

/// Default page size of `GET /runs`.
pub const DEFAULT_PAGE: usize = 50;
/// Largest page size of `GET /runs`.
pub const MAX_PAGE: usize = 1000;
/// Longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusView {
    /// Waiting for a worker.
    Queued,
    /// Executing.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Ended with an error (including a plugin panic or an interruption).
    Failed,
    /// Stopped because it was cancelled.
    Cancelled,
    /// Still running at its deadline.
    TimedOut,
}

impl From<RunStatus> for RunStatusView {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Queued => Self::Queued,
            RunStatus::Running => Self::Running,
            RunStatus::Succeeded => Self::Succeeded,
            RunStatus::Failed => Self::Failed,
            RunStatus::Cancelled => Self::Cancelled,
            RunStatus::TimedOut => Self::TimedOut,
        }
    }
}

impl From<RunStatusView> for RunStatus {
    fn from(s: RunStatusView) -> Self {
        match s {
            RunStatusView::Queued => Self::Queued,
            RunStatusView::Running => Self::Running,
            RunStatusView::Succeeded => Self::Succeeded,
            RunStatusView::Failed => Self::Failed,
            RunStatusView::Cancelled => Self::Cancelled,
            RunStatusView::TimedOut => Self::TimedOut,
        }
    }
}

/// Why a run did not succeed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunErrorView {
    /// `panic`, `failed`, `cancelled`, `timed_out`, `invalid_input`, `data`, `interrupted`, …
    pub kind: String,
    /// What happened, for people.
    pub message: String,
    /// Anything structured that helps.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

impl From<RunError> for RunErrorView {
    fn from(e: RunError) -> Self {
        Self {
            kind: e.kind,
            message: e.message,
            details: e.details,
        }
    }
}

/// One log line of a run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LogRecordView {
    /// When it was logged, RFC 3339 UTC.
    pub ts: String,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: String,
    /// The module (or logger) that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// Other structured fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Value>,
}

impl From<algohost_sdk::logging::LogRecord> for LogRecordView {
    fn from(r: algohost_sdk::logging::LogRecord) -> Self {
        Self {
            ts: r.ts,
            level: r.level,
            target: r.target,
            message: r.message,
            fields: r.fields.into_iter().collect(),
        }
    }
}

/// Instants as chrono serializes them (RFC 3339 in UTC with `Z`, and 0, 3,
/// 6 or 9 fractional digits, as many as needed), formatted into one string
/// first ([`crate::rfc3339`]): chrono's own `Serialize` writes through `collect_str`, whose
/// escaping of every formatted fragment made a run's three timestamps a
/// tenth of the instructions of a `POST /runs` with `Prefer: wait`.
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    use crate::rfc3339::{Fraction, format};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&format(at, Fraction::Auto))
    }

    pub fn serialize_option<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        to: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serialize(at, to),
            None => to.serialize_none(),
        }
    }
}

/// One execution of an algorithm.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// UUIDv7 (time-ordered).
    pub id: Uuid,
    /// Algorithm name.
    pub algorithm: String,
    /// Algorithm version.
    pub version: String,
    /// The validated params.
    pub params: Value,
    /// Seconds the run may take once started before it is stopped and
    /// reported `timed_out`: the timeout asked for, else the server's
    /// default, at most the server's maximum; null when it has none.
    #[schema(required = true)]
    pub timeout: Option<f64>,
    /// Status.
    pub status: RunStatusView,
    /// Last reported progress, 0..=1.
    pub progress: f64,
    /// Message of the last progress report.
    pub progress_message: String,
    /// When the run was created.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the algorithm started.
    #[schema(required = true)]
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[schema(required = true)]
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it did not succeed.
    #[schema(required = true)]
    pub error: Option<RunErrorView>,
    /// The output summary (null until it succeeds).
    pub summary: Value,
    /// Names of the output frames, for `/runs/{id}/outputs/{frame}`.
    pub frames: Vec<String>,
    /// Log records, in order: every answer about one run has them (from the
    /// (N+1)-th for `GET /runs/{id}?logs_after=N`), but for
    /// `GET /runs/{id}?logs=none` and listings, which leave them out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<LogRecordView>>,
}

impl RunView {
    /// The run without its log records, for listings.
    fn summary_of(run: Run) -> Self {
        let mut view = Self::from(run);
        view.logs = None;
        view
    }
}

impl From<Run> for RunView {
    fn from(run: Run) -> Self {
        Self {
            id: run.id,
            algorithm: run.algorithm,
            version: run.version,
            params: run.params,
            timeout: run.timeout,
            status: run.status.into(),
            progress: run.progress,
            progress_message: run.progress_message,
            created_at: run.created_at,
            started_at: run.started_at,
            finished_at: run.finished_at,
            error: run.error.map(Into::into),
            summary: run.summary,
            frames: run.frames,
            logs: Some(run.logs.into_iter().map(Into::into).collect()),
        }
    }
}

/// A request to start a run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRun {
    /// Algorithm name.
    pub algorithm: String,
    /// Params, validated against the algorithm's schema before the run is queued.
    #[serde(
        default = "empty_object",
        deserialize_with = "super::extract::unique_keys_value"
    )]
    pub params: Value,
    /// Stop the run after this many seconds (reported `timed_out`), at most
    /// the server's maximum run timeout (a longer one is cut to it).
    #[serde(default)]
    #[schema(minimum = 0.001, maximum = 2592000)]
    pub timeout: Option<f64>,
}

impl BodyShape for SubmitRun {
    const FIELDS: Option<&'static str> =
        Some("algorithm (required), params (an object) and timeout (seconds)");
    const CHECKS_KEYS: bool = true;
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunPage {
    /// The runs (without log records).
    pub runs: Vec<RunView>,
    /// Pass as `before` to get the next page; null on the last page.
    pub next_before: Option<Uuid>,
}

/// Filter and page of `GET /runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunFilter {
    /// Only runs in these statuses, separated by commas: `queued,running`
    /// lists the runs not ended yet.
    #[param(value_type = Option<String>, example = "queued,running")]
    pub status: Option<String>,
    /// Only runs of this algorithm.
    pub algorithm: Option<String>,
    /// Page size, 1 to 1000 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Only runs older than this run (the previous page's `next_before`).
    pub before: Option<Uuid>,
}

/// Which log records `GET /runs/{id}` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunLogs {
    /// Every record (the default).
    All,
    /// None: the answer has no `logs`, and costs the same however much the
    /// run logged.
    None,
}

/// The query of `GET /runs/{id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunRead {
    /// `none` leaves the log records out (a status poll); `all` (the
    /// default) has them all.
    #[param(value_type = Option<RunLogs>, inline)]
    pub logs: Option<String>,
    /// Only the log records after the first N: a client that has read N
    /// records (or received events up to `id: N` from
    /// `/runs/{id}/events`) reads only the new ones. Not with `logs=none`.
    #[param(value_type = Option<u64>, minimum = 0)]
    pub logs_after: Option<String>,
}

impl RunRead {
    /// The log records asked for.
    fn logs(&self) -> Result<Logs, ApiError> {
        let after = self
            .logs_after
            .as_deref()
            .map(|text| {
                text.trim().parse::<usize>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "logs_after must be a whole number of log records (those already \
                         read), got '{text}'"
                    ))
                })
            })
            .transpose()?;
        let logs = self
            .logs
            .as_deref()
            .map(|text| {
                serde_json::from_value(Value::String(text.trim().to_owned())).map_err(|_| {
                    ApiError::BadRequest(format!("logs: '{text}' is not one of all, none"))
                })
            })
            .transpose()?;
        match (logs, after) {
            (Some(RunLogs::None), Some(_)) => Err(ApiError::BadRequest(
                "logs=none and logs_after cannot go together: give logs=none for no log \
                 records, or logs_after=N for those after the N-th"
                    .to_owned(),
            )),
            (Some(RunLogs::None), None) => Ok(Logs::None),
            (_, Some(n)) => Ok(Logs::After(n)),
            (_, None) => Ok(Logs::All),
        }
    }
}

/// The router of `/runs`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_run, list_runs))
        .routes(routes!(get_run, delete_run))
        .routes(routes!(cancel_run))
}

/// Starts a run: validates the params and queues it. Answers 202 at once,
/// or with `Prefer: wait=N` waits up to N seconds and answers 200 when the
/// run has finished by then. A request with the `Idempotency-Key` of an
/// earlier one (and the same body) answers with that run instead: 200 once
/// it has finished, with or without `Prefer`, 202 before.
#[utoipa::path(
    post, path = "/runs", tag = "runs",
    request_body = SubmitRun,
    params(
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N whole seconds for \
            the run to finish (a longer wait is cut to a second less than the server's request \
            timeout; `wait=0` waits not at all, as without `Prefer`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "The same key and body return the \
            same run (200 once it has finished, 202 before); the key with another body is 409. Once \
            the run is deleted (`DELETE /runs/{id}`) the key is free: the next request with it makes \
            a new run"),
    ),
    security(("bearer" = ["run"])),
    responses(
        (status = 200, description = "The run has finished: within the `Prefer: wait`, or before \
          this request when an `Idempotency-Key` names it", body = RunView,
         headers(
             ("Location" = String, description = "URL of the run"),
             ("Preference-Applied" = String, description = "`wait=N`: the wait applied, when \
              `Prefer: wait` was given (capped by the request timeout)"),
         )),
        (status = 202, description = "The run is queued or running", body = RunView,
         headers(
             ("Location" = String, description = "URL of the run"),
             ("Preference-Applied" = String, description = "`wait=N`: the wait applied, when \
              `Prefer: wait` was given"),
         )),
        (status = 404, description = "No such algorithm; `close` lists similar names",
         body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The idempotency key was used with another body",
         body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid params: `errors` lists every error with its JSON Pointer",
         body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The run queue is full or the run store cannot be written (see \
         Retry-After), the server is shutting down, or the request timed out",
         body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
async fn create_run(
    State(state): State<AppState>,
    headers: RunHeaders,
    deadline: Option<Extension<RequestDeadline>>,
    JsonBody(body): JsonBody<SubmitRun>,
) -> Result<Response, ApiError> {
    let wait_left = state.wait_left(deadline.as_deref());
    let wait = headers.wait.map(|w| w.min(wait_left));
    let algorithm = body.algorithm.clone();
    let submit = Submit {
        algorithm: body.algorithm,
        params: body.params,
        timeout: run_timeout(body.timeout)?,
        idempotency_key: idempotency_key(headers.idempotency_key.as_ref())?,
    };
    let submitted = match wait {
        Some(wait) => state.service.submit_and_wait(submit, wait).await,
        None => state.service.submit(submit),
    };
    match submitted {
        Ok(run) => {
            // The request's log lines name the run it made.
            tracing::Span::current().record("run_id", tracing::field::display(run.id));
            Ok(run_response(run, wait, &headers.prefix))
        }
        Err(SubmitError::QueueFull {
            capacity,
            retry_after,
        }) => Err(queue_full(&state, &algorithm, capacity, retry_after)),
        Err(e) => Err(e.into()),
    }
}

/// 503 naming the queue that is full: Rust and Python runs have one each.
fn queue_full(
    state: &AppState,
    algorithm: &str,
    capacity: usize,
    retry_after: Duration,
) -> ApiError {
    let lane = match state.service.registry().get(algorithm).map(|a| &a.source) {
        Ok(Source::Python { .. }) => "Python",
        _ => "Rust",
    };
    let runs = if capacity == 1 { "run" } else { "runs" };
    ApiError::QueueFull {
        message: format!(
            "the queue of {lane} runs is full ({capacity} {runs} waiting for a worker, as many as \
             it holds); try again in {} s",
            retry_after.as_secs_f64().ceil().max(1.0)
        ),
        retry_after,
    }
}

/// What the run endpoints read from a request's headers (read where they
/// are, rather than from a copy of them all).
struct RunHeaders {
    /// `Prefer: wait=N` (see [`preferred_wait`]).
    wait: Option<Duration>,
    /// The path prefix a reverse proxy names in `X-Forwarded-Prefix`, or
    /// `""`.
    prefix: String,
    /// `Idempotency-Key`, as sent (see [`idempotency_key`]).
    idempotency_key: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for RunHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        Ok(Self {
            wait: preferred_wait(headers),
            prefix: super::openapi::forwarded_prefix(headers)
                .unwrap_or_default()
                .to_owned(),
            idempotency_key: headers.get(&IDEMPOTENCY_KEY).cloned(),
        })
    }
}

/// A run as the answer to a request: 200 once it has ended, 202 before,
/// with its `Location` (under `prefix`, the path prefix a reverse proxy
/// names).
fn run_response(run: Run, wait: Option<Duration>, prefix: &str) -> Response {
    let status = if run.status.is_finished() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut location = String::with_capacity(prefix.len() + RUN_PATH_LEN);
    location.push_str(prefix);
    location.push_str("/runs/");
    location.push_str(run.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()));
    // Written into a buffer that holds a run at once: axum's `Json` starts
    // at 128 bytes and grows, copying, through a slower writer.
    let mut body = Vec::with_capacity(RUN_BODY_CAPACITY);
    if let Err(e) = serde_json::to_writer(&mut body, &RunView::from(run)) {
        return ApiError::Internal(format!("writing a run as JSON: {e}")).into_response();
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(location) = HeaderValue::try_from(location) {
        headers.insert(header::LOCATION, location);
    }
    if let Some(wait) = wait {
        // Whole seconds, as asked (rounded: a wait cut to what is left of
        // the request's time is rarely whole).
        let seconds = (wait + Duration::from_millis(500)).as_secs();
        if let Ok(value) = HeaderValue::try_from(format!("wait={seconds}")) {
            headers.insert(PREFERENCE_APPLIED, value);
        }
    }
    response
}

/// The length of `/runs/{id}`.
const RUN_PATH_LEN: usize = "/runs/".len() + uuid::fmt::Hyphenated::LENGTH;

/// `Idempotency-Key`.
const IDEMPOTENCY_KEY: header::HeaderName = header::HeaderName::from_static("idempotency-key");

/// `Prefer` (RFC 7240).
const PREFER: header::HeaderName = header::HeaderName::from_static("prefer");

/// `Preference-Applied` (RFC 7240).
pub(crate) const PREFERENCE_APPLIED: header::HeaderName =
    header::HeaderName::from_static("preference-applied");

/// Room for a run's JSON, most of which fit.
const RUN_BODY_CAPACITY: usize = 1024;

/// `wait=N` from the `Prefer` header (RFC 7240): N whole seconds, however
/// many digits (the caller caps it); `wait=0` is no wait, as is anything
/// else, since preferences are hints.
fn preferred_wait(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(&PREFER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|pref| {
            let (key, value) = pref.split(';').next()?.split_once('=')?;
            key.trim().eq_ignore_ascii_case("wait").then_some(())?;
            let digits = value.trim().trim_matches('"');
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Too many digits for u64 is as long a wait as any.
            Some(digits.parse::<u64>().unwrap_or(u64::MAX))
        })
        .filter(|&seconds| seconds > 0)
        .map(Duration::from_secs)
}

fn run_timeout(seconds: Option<f64>) -> Result<Option<Duration>, ApiError> {
    seconds
        .map(crate::runner::timeout_from_secs)
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("timeout {e}")))
}

fn idempotency_key(value: Option<&HeaderValue>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.trim().is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => {
            Ok(Some(key.trim().to_owned()))
        }
        _ => Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))),
    }
}

/// The statuses of `status=queued,running`; none when absent.
fn statuses(text: Option<&str>) -> Result<Vec<RunStatus>, ApiError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|name| {
            serde_json::from_value::<RunStatusView>(Value::String(name.trim().to_owned()))
                .map(Into::into)
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "status '{name}' is not a run status; give one or more of queued, \
                         running, succeeded, failed, cancelled, timed_out, separated by commas"
                    ))
                })
        })
        .collect()
}

/// Lists runs, newest first, filtered by status and algorithm.
#[utoipa::path(
    get, path = "/runs", tag = "runs",
    params(RunFilter),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "A page of runs, newest first", body = RunPage),
    )
)]
async fn list_runs(
    State(state): State<AppState>,
    Query(filter): Query<RunFilter>,
) -> Result<Json<RunPage>, ApiError> {
    let limit = page_size(filter.limit.as_deref())?;
    // One run more than the page tells whether there is a next page.
    let query = RunQuery {
        status: statuses(filter.status.as_deref())?,
        algorithm: filter.algorithm,
        limit: limit + 1,
        before: filter.before,
    };
    let mut runs = state.service.list(&query)?;
    let next_before = if runs.len() > limit {
        runs.truncate(limit);
        runs.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(RunPage {
        runs: runs.into_iter().map(RunView::summary_of).collect(),
        next_before,
    }))
}

/// `limit`: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
fn page_size(limit: Option<&str>) -> Result<usize, ApiError> {
    let Some(text) = limit else {
        return Ok(DEFAULT_PAGE);
    };
    match text.trim().parse::<usize>() {
        Ok(n @ 1..=MAX_PAGE) => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "limit must be a whole number from 1 to {MAX_PAGE}, got '{text}'"
        ))),
    }
}

/// One run: status, progress, error, output summary and log records (all
/// of them, those after the N-th with `logs_after=N`, or none with
/// `logs=none`, so that polling a run that logs much stays cheap).
#[utoipa::path(
    get, path = "/runs/{id}", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id"), RunRead),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The run, with the log records asked for (without `logs` \
          for `logs=none`)", body = RunView),
        (status = 400, description = "A bad `logs` or `logs_after`", body = Problem,
         content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(read): Query<RunRead>,
) -> Result<Json<RunView>, ApiError> {
    let logs = read.logs()?;
    let run = state
        .service
        .read(id, logs)?
        .ok_or_else(|| run_not_found(id))?;
    let mut view = RunView::from(run);
    if logs == Logs::None {
        view.logs = None;
    }
    Ok(Json(view))
}

/// Deletes a run that ended, with its log records and output frames; its
/// `Idempotency-Key`, if it had one, makes a new run from then on.
#[utoipa::path(
    delete, path = "/runs/{id}", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    security(("bearer" = ["run"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has not ended: cancel it first", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_run(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    _: NoQuery,
) -> Result<StatusCode, ApiError> {
    let service = state.service.clone();
    tokio::task::spawn_blocking(move || service.delete(id))
        .await
        .map_err(ApiError::internal)??;
    Ok(StatusCode::NO_CONTENT)
}

/// Cancels a queued or running run. A queued run is cancelled at once
/// (200, `cancelled`); a running one is asked to stop, which its log notes
/// at once, and stops at its next cancellation check: 202 with the run
/// still `running`, or, with `Prefer: wait=N`, 200 once it has stopped
/// within N seconds. Cancelling a run that ended `cancelled` answers 200
/// with it, so a retried or concurrent cancellation succeeds too (one of
/// them ended it).
#[utoipa::path(
    post, path = "/runs/{id}/cancel", tag = "runs",
    params(
        ("id" = Uuid, Path, description = "Run id"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N whole seconds for \
            a running run to stop (a longer wait is cut to a second less than the server's request \
            timeout; `wait=0` waits not at all)"),
    ),
    security(("bearer" = ["run"])),
    responses(
        (status = 200, description = "The run has ended: `cancelled` when it was queued, when a \
          running one stopped within the `Prefer: wait` (a run that finished before it checked for \
          cancellation keeps the status it ended with), or when it had already been cancelled",
         body = RunView,
         headers(
             ("Location" = String, description = "URL of the run"),
             ("Preference-Applied" = String, description = "`wait=N`: the wait applied, when \
              `Prefer: wait` was given"),
         )),
        (status = 202, description = "Cancellation requested: the run is still `running` until it \
          stops at its next cancellation check; follow it at `Location` or its event stream",
         body = RunView,
         headers(
             ("Location" = String, description = "URL of the run"),
             ("Preference-Applied" = String, description = "`wait=N`: the wait applied, when \
              `Prefer: wait` was given"),
         )),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run already ended otherwise than cancelled (succeeded, \
          failed, timed out), or another server sharing the run store holds it (cancel it there)",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn cancel_run(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    headers: RunHeaders,
    deadline: Option<Extension<RequestDeadline>>,
    _: NoQuery,
) -> Result<Response, ApiError> {
    let wait = headers
        .wait
        .map(|w| w.min(state.wait_left(deadline.as_deref())));
    let mut run = state.service.cancel(id).await?;
    if let Some(wait) = wait
        && !run.status.is_finished()
    {
        run = state.service.wait(id, wait).await?.unwrap_or(run);
    }
    Ok(run_response(run, wait, &headers.prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("prefer", value.parse().unwrap());
        h
    }

    #[test]
    fn prefer_wait_is_read_among_other_preferences() {
        assert_eq!(
            preferred_wait(&prefer("wait=5")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            preferred_wait(&prefer("respond-async, Wait = 12")),
            Some(Duration::from_secs(12))
        );
        assert_eq!(preferred_wait(&prefer("wait=soon")), None);
        assert_eq!(preferred_wait(&HeaderMap::new()), None);
    }

    #[test]
    fn prefer_wait_too_long_for_u64_is_the_longest_and_wait_0_is_none() {
        let longest = Some(Duration::from_secs(u64::MAX));
        assert_eq!(
            preferred_wait(&prefer("wait=18446744073709551616")),
            longest
        );
        assert_eq!(
            preferred_wait(&prefer("wait=\"99999999999999999999999\"")),
            longest
        );
        assert_eq!(preferred_wait(&prefer("wait=0")), None);
        assert_eq!(preferred_wait(&prefer("wait=000")), None);
        assert_eq!(preferred_wait(&prefer("wait=-1")), None);
        assert_eq!(preferred_wait(&prefer("wait=")), None);
        assert_eq!(preferred_wait(&prefer("wait=+5")), None);
    }

    #[test]
    fn run_times_are_written_as_chrono_writes_them() {
        #[derive(Serialize)]
        struct Times {
            #[serde(serialize_with = "rfc3339::serialize")]
            at: DateTime<Utc>,
            #[serde(serialize_with = "rfc3339::serialize_option")]
            maybe: Option<DateTime<Utc>>,
        }
        let start: DateTime<Utc> = "2026-03-29T00:59:59Z".parse().unwrap();
        for nanos in [0, 412_000_000, 412_345_000, 412_345_678, 5, 999_999_999] {
            let at = start + chrono::Duration::nanoseconds(nanos);
            let ours = serde_json::to_value(Times {
                at,
                maybe: Some(at),
            })
            .unwrap();
            let chrono = serde_json::json!({ "at": at, "maybe": at });
            assert_eq!(ours, chrono, "{nanos} ns");
        }
        let none = Times {
            at: start,
            maybe: None,
        };
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"at":"2026-03-29T00:59:59Z","maybe":null}"#
        );
    }

    #[test]
    fn bad_timeouts_and_keys_are_refused_with_a_reason() {
        assert!(
            run_timeout(Some(-1.0))
                .unwrap_err()
                .to_string()
                .contains("from 0.001 to 2592000")
        );
        assert_eq!(
            run_timeout(Some(1.5)).unwrap(),
            Some(Duration::from_millis(1500))
        );
        let long: HeaderValue = "k".repeat(300).parse().unwrap();
        assert!(idempotency_key(Some(&long)).is_err());
    }
}
