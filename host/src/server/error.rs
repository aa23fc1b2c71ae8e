//! The one mapping of host errors to HTTP: every error response is an RFC
//! 9457 `application/problem+json` document built by the single
//! `impl IntoResponse for ApiError` below. 4xx say what was wrong; 5xx say
//! nothing of the cause to the client and log it in full (the log line
//! carries the request id of the trace span it runs in).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::config::Scope;
use crate::registry::UnknownAlgorithm;
use crate::runner::RunRejected;
use crate::service::{CancelError, DeleteError, SubmitError};
use crate::store::StoreError;
use crate::validation::ParamsError;

/// `Retry-After` (seconds) while the run store cannot be written.
const STORE_RETRY_AFTER: u64 = 10;

/// `Retry-After` (seconds) while the data source cannot be reached.
const DATA_RETRY_AFTER: u64 = 5;

/// The longest word (a name or value from the request, a path) a problem
/// document repeats in full; longer ones are cut to this many characters
/// and `…`, so that a request cannot make its error as large as itself.
pub const MAX_ECHO: usize = 100;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:algohost:problem:invalid-params`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for people.
    pub detail: String,
    /// Every params error with its JSON Pointer (422 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ParamError>>,
    /// Registered names close to an unknown algorithm name (404 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<Vec<String>>,
}

/// One params error: where (JSON Pointer into the params) and what.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ParamError {
    /// JSON Pointer of the offending value; `""` is the params object itself.
    pub pointer: String,
    /// What is wrong with it.
    pub message: String,
}

impl From<ParamsError> for ParamError {
    /// The error with long names and values in it cut short (see
    /// [`MAX_ECHO`]): each segment of the pointer, each word of the message.
    fn from(e: ParamsError) -> Self {
        let pointer: Vec<String> = e.pointer.split('/').map(clip).collect();
        Self {
            pointer: pointer.join("/"),
            message: clip_words(&e.message),
        }
    }
}

/// `text` cut to [`MAX_ECHO`] characters and `…` when longer.
fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHO) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `text` with every word longer than [`MAX_ECHO`] characters cut short;
/// the punctuation a cut word ends with (a closing quote, parenthesis)
/// stays.
fn clip_words(text: &str) -> String {
    if text.len() <= MAX_ECHO {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len().min(4 * MAX_ECHO));
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        let clipped = clip(word);
        if clipped.len() < word.len() {
            out.push_str(&clipped);
            let closing = word.trim_end_matches(|c: char| c.is_ascii_punctuation());
            out.push_str(&word[closing.len()..].chars().take(3).collect::<String>());
        } else {
            out.push_str(word);
        }
        let space_end = after
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(after.len());
        out.push_str(&after[..space_end]);
        rest = &after[space_end..];
    }
    out
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (body, query or path).
    #[error("{0}")]
    BadRequest(String),
    /// No bearer token (or no `Authorization: Bearer` header).
    #[error("{0}")]
    Unauthorized(String),
    /// A bearer token that is not one of the configured tokens.
    #[error("the bearer token is not valid")]
    InvalidToken,
    /// The token lacks the scope.
    #[error(
        "{operation} needs a token with scope '{}' (to {}); this token has scope '{}' (to {})",
        needed.as_str(), needed.grants(), has.as_str(), has.grants()
    )]
    Forbidden {
        /// `METHOD /path/{template}`.
        operation: String,
        /// The scope the operation needs.
        needed: Scope,
        /// The token's scope.
        has: Scope,
    },
    /// Nothing at this address (route, run, frame, data point).
    #[error("{0}")]
    NotFound(String),
    /// No algorithm of that name.
    #[error(transparent)]
    UnknownAlgorithm(#[from] UnknownAlgorithm),
    /// The route exists but not for this method.
    #[error("{method} is not allowed on {path}; the Allow header lists the methods it takes")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// None of the accepted media types can be produced.
    #[error("cannot produce any of the accepted media types ({accept}); available: {available}")]
    NotAcceptable {
        /// The request's `Accept`.
        accept: String,
        /// What the endpoint offers.
        available: String,
    },
    /// A server without tokens was addressed by a host name other than
    /// `localhost`, an IP address or an allowed name (the DNS-rebinding
    /// guard): the `Host` when short, and the name to allow.
    #[error(
        "this server has no tokens, so it answers only requests addressed to localhost, an IP \
         address or an allowed host name (a guard against DNS rebinding), not to {}; to serve \
         this name, allow it (--allowed-host {name}, ALGOHOST_ALLOWED_HOSTS or allowed_hosts in \
         the config file; behind a reverse proxy, it may send Host: localhost instead), or \
         configure tokens (ALGOHOST_TOKENS=TOKEN:SCOPE or [[tokens]] in the config file) and \
         send Authorization: Bearer TOKEN",
        host.as_ref().map_or_else(|| "this Host".to_owned(), |host| format!("'{host}'"))
    )]
    MisdirectedHost {
        /// The `Host`, when short enough to show.
        host: Option<String>,
        /// The name in it (`NAME` when it has none to show).
        name: String,
    },
    /// The request conflicts with the resource's state.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the limit.
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The body's media type is not one the endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The params do not match the algorithm's schema.
    #[error("invalid params for '{algorithm}' ({} error(s))", .errors.len())]
    InvalidParams {
        /// The algorithm.
        algorithm: String,
        /// Every error with its pointer.
        errors: Vec<ParamsError>,
    },
    /// The run queue is full.
    #[error("{message}")]
    QueueFull {
        /// What to tell the client.
        message: String,
        /// When to try again.
        retry_after: Duration,
    },
    /// The server is shutting down.
    #[error("the server is shutting down and accepts no new runs")]
    ShuttingDown,
    /// The run store cannot take writes (full disk, read-only): the
    /// [`StoreError::Unwritable`] message.
    #[error(
        "{0}; try again later (the server's operator has to free space on the store's disk or \
         make it writable)"
    )]
    StoreUnwritable(String),
    /// The data source (PostgreSQL, another algohost) cannot be reached
    /// now: the adapter's message (passwords masked).
    #[error("the data source is unavailable: {0}; try again later")]
    DataUnavailable(String),
    /// The data source, another algohost, failed or refused the request:
    /// the adapter's message.
    #[error("the data source failed: {0}")]
    BadGateway(String),
    /// The server was started without data (`--data`), so it has none to
    /// serve: not a transient state, so without `Retry-After`.
    #[error(
        "this server was started without data, so it has none to serve: restart `algohost \
         serve` with --data DIR (a data directory, such as the demo data made by `algohost \
         demo-data DIR`), --data postgres://… or --data http://HOST:PORT (another algohost)"
    )]
    NoData,
    /// The request took longer than the request timeout.
    #[error("the request took longer than {0:?} and was stopped")]
    Timeout(Duration),
    /// The request's body had not all arrived at the request timeout.
    #[error(
        "the request body had not all arrived after {0:?} (the server's request timeout); \
         send the whole body without pausing"
    )]
    BodyTimeout(Duration),
    /// Anything the client cannot act on; logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Status, problem slug and title.
    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Unauthorized(_) | InvalidToken => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden", "Insufficient scope"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            UnknownAlgorithm(_) => (
                StatusCode::NOT_FOUND,
                "unknown-algorithm",
                "Unknown algorithm",
            ),
            MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            NotAcceptable { .. } => (
                StatusCode::NOT_ACCEPTABLE,
                "not-acceptable",
                "Not acceptable",
            ),
            MisdirectedHost { .. } => (
                StatusCode::MISDIRECTED_REQUEST,
                "misdirected-request",
                "Host not served",
            ),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            InvalidParams { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-params",
                "Invalid params",
            ),
            QueueFull { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "queue-full",
                "Run queue full",
            ),
            ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting-down",
                "Shutting down",
            ),
            StoreUnwritable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store-unwritable",
                "Run store cannot be written",
            ),
            DataUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "data-unavailable",
                "Data source unavailable",
            ),
            BadGateway(_) => (StatusCode::BAD_GATEWAY, "bad-gateway", "Data source failed"),
            NoData => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no-data",
                "No data configured",
            ),
            BodyTimeout(_) => (
                StatusCode::REQUEST_TIMEOUT,
                "request-timeout",
                "Request body timed out",
            ),
            Timeout(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
            ),
            Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.kind();
        let detail = match self {
            ApiError::Internal(_) => {
                "the server failed to answer this request; its log has the details under the \
                 request id in the x-request-id response header"
                    .to_owned()
            }
            // The note on the server's Python environment is the operator's
            // business (the CLI and the log say it), not an API client's.
            ApiError::UnknownAlgorithm(e) => clip_words(
                &crate::registry::UnknownAlgorithm {
                    note: None,
                    ..e.clone()
                }
                .to_string(),
            ),
            // What a client sent may be in the detail: long names cut short.
            other if status.is_client_error() => clip_words(&other.to_string()),
            other => other.to_string(),
        };
        Problem {
            problem_type: format!("urn:algohost:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors: match self {
                ApiError::InvalidParams { errors, .. } => {
                    Some(errors.iter().cloned().map(ParamError::from).collect())
                }
                _ => None,
            },
            close: match self {
                ApiError::UnknownAlgorithm(e) => Some(e.close.clone()),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        match &self {
            ApiError::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            ApiError::StoreUnwritable(_) | ApiError::DataUnavailable(_) => {
                tracing::warn!("answered 503: {self}");
            }
            ApiError::BadGateway(_) => tracing::warn!("answered 502: {self}"),
            ApiError::Timeout(_) => tracing::warn!("answered 503: {self}"),
            ApiError::BodyTimeout(_) => tracing::info!("answered 408: {self}"),
            _ => {}
        }
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            body,
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::QueueFull { retry_after, .. } => {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            ApiError::StoreUnwritable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(STORE_RETRY_AFTER));
            }
            ApiError::BodyTimeout(_) => {
                // The rest of the body may still come: the connection
                // cannot carry another request (RFC 9110 §15.5.9).
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::DataUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(DATA_RETRY_AFTER));
            }
            ApiError::Unauthorized(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"algohost\""),
                );
            }
            ApiError::InvalidToken => {
                // RFC 6750 §3.1: a token was sent, and it is not valid.
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"algohost\", error=\"invalid_token\""),
                );
            }
            ApiError::Forbidden { needed, .. } => {
                let value = format!(
                    "Bearer realm=\"algohost\", error=\"insufficient_scope\", scope=\"{}\"",
                    needed.as_str()
                );
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::UnknownAlgorithm(e) => e.into(),
            SubmitError::InvalidParams { algorithm, errors } => {
                ApiError::InvalidParams { algorithm, errors }
            }
            e @ SubmitError::QueueFull { retry_after, .. } => ApiError::QueueFull {
                message: e.to_string(),
                retry_after,
            },
            SubmitError::ShuttingDown => ApiError::ShuttingDown,
            SubmitError::Store(e) => e.into(),
        }
    }
}

impl From<CancelError> for ApiError {
    fn from(e: CancelError) -> Self {
        match e {
            CancelError::NotFound(id) => run_not_found(id),
            e @ (CancelError::Finished { .. } | CancelError::HeldElsewhere(_)) => {
                ApiError::Conflict(e.to_string())
            }
            CancelError::Store(e) => e.into(),
        }
    }
}

impl From<DeleteError> for ApiError {
    fn from(e: DeleteError) -> Self {
        match e {
            DeleteError::NotFound(id) => run_not_found(id),
            e @ DeleteError::Unfinished { .. } => ApiError::Conflict(e.to_string()),
            DeleteError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            e @ StoreError::IdempotencyConflict(_) => ApiError::Conflict(e.to_string()),
            e @ StoreError::Unwritable(_) => ApiError::StoreUnwritable(e.to_string()),
            e @ StoreError::Backend(_) => ApiError::internal(e),
        }
    }
}

impl From<RunRejected> for ApiError {
    fn from(e: RunRejected) -> Self {
        match e {
            RunRejected::UnknownAlgorithm(e) => e.into(),
            RunRejected::InvalidParams { algorithm, errors } => {
                ApiError::InvalidParams { algorithm, errors }
            }
        }
    }
}

impl From<algohost_sdk::Error> for ApiError {
    fn from(e: algohost_sdk::Error) -> Self {
        match e {
            algohost_sdk::Error::InvalidInput(message) => ApiError::BadRequest(message),
            algohost_sdk::Error::Data(message) if crate::adapters::is_unavailable(&message) => {
                ApiError::DataUnavailable(message)
            }
            algohost_sdk::Error::Data(message) if message.starts_with(crate::adapters::NO_DATA) => {
                ApiError::NoData
            }
            algohost_sdk::Error::Data(message) if crate::adapters::rest::is_upstream(&message) => {
                ApiError::BadGateway(message)
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a blocking task failed: {e}"))
    }
}

/// 404 for a run id that does not exist.
pub fn run_not_found(id: Uuid) -> ApiError {
    ApiError::NotFound(format!("no run with id {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_hundreds_hide_their_cause() {
        let problem = ApiError::internal("disk /var/secret full").problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("secret"), "{}", problem.detail);
    }

    #[test]
    fn an_unreachable_data_source_is_a_503_with_the_adapters_message() {
        let refused = "cannot connect to PostgreSQL at postgres://algohost:***@127.0.0.1:1/algo: \
                       error connecting to server: Connection refused (os error 111)";
        let error = ApiError::from(algohost_sdk::Error::Data(refused.into()));
        let problem = error.problem();
        assert_eq!(problem.status, 503);
        assert_eq!(
            problem.problem_type,
            "urn:algohost:problem:data-unavailable"
        );
        assert_eq!(
            problem.detail,
            format!("the data source is unavailable: {refused}; try again later")
        );
        assert_eq!(error.into_response().headers()[header::RETRY_AFTER], "5");
        // What the source refused is not an outage.
        let refused = algohost_sdk::Error::Data("cannot read samples: relation missing".into());
        assert_eq!(ApiError::from(refused).problem().status, 500);
    }

    #[test]
    fn long_names_from_the_request_are_cut_short() {
        let name = "x".repeat(200_000);
        let problem = ApiError::InvalidParams {
            algorithm: "a".into(),
            errors: vec![ParamsError {
                pointer: format!("/{name}/é"),
                message: format!("Additional properties are not allowed ('{name}' was unexpected)"),
            }],
        }
        .problem();
        let error = &problem.errors.unwrap()[0];
        let short = "x".repeat(MAX_ECHO);
        assert_eq!(error.pointer, format!("/{short}…/é"));
        let cut = &short[..MAX_ECHO - 2];
        assert_eq!(
            error.message,
            format!("Additional properties are not allowed ('{cut}…' was unexpected)")
        );
        let detail = ApiError::BadRequest(format!("unknown field `{name}`, expected `a`"))
            .problem()
            .detail;
        assert_eq!(
            detail,
            format!("unknown field `{}…`, expected `a`", &short[..MAX_ECHO - 1])
        );
        assert_eq!(
            clip_words("short words  stay\tas they are"),
            "short words  stay\tas they are"
        );
    }

    #[test]
    fn params_errors_and_close_names_are_in_the_body() {
        let problem = ApiError::InvalidParams {
            algorithm: "a".into(),
            errors: vec![ParamsError {
                pointer: "/x".into(),
                message: "bad".into(),
            }],
        }
        .problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors.unwrap()[0].pointer, "/x");
        let problem = ApiError::from(UnknownAlgorithm {
            name: "peak_shavin".into(),
            close: vec!["peak_shaving".into()],
            registered: vec!["peak_shaving".into()],
            problems: 0,
            note: None,
        })
        .problem();
        assert_eq!(problem.close.unwrap(), ["peak_shaving"]);
        assert_eq!(
            problem.problem_type,
            "urn:algohost:problem:unknown-algorithm"
        );
    }
}
