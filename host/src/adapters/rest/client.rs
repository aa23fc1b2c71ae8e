//! The HTTP side of the REST adapter: every request carries the bearer
//! token; a 503 or 429 answer and a failed connection are retried with
//! exponential backoff (bounded by [`RestOptions::retries`]); any other
//! error answer becomes an [`Error`] that quotes the server's problem
//! detail and says what to do.
//!
//! Retrying is safe for every request the adapter sends: reads, upserts of
//! samples and definitions by name all give the same result when repeated.

use std::time::Duration;

use algohost_sdk::{Error, Result};
use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::config::{RestOptions, RestSpec, TOKEN_ENV};
use crate::adapters::unavailable::{REST, REST_BUSY};

/// A successful answer.
#[derive(Debug)]
pub(super) struct Reply {
    /// Its media type, without parameters.
    pub media_type: String,
    /// The whole body.
    pub body: Bytes,
}

/// One request: method, path below the base, query and body.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub method: Method,
    /// Relative to the base URL, e.g. `data-points`.
    pub path: &'static str,
    pub query: Vec<(String, String)>,
    /// The body with its media type.
    pub body: Option<(&'static str, Bytes)>,
    /// The media type wanted back.
    pub accept: &'static str,
}

/// The client of one remote data API.
#[derive(Debug)]
pub(super) struct Client {
    http: reqwest::Client,
    base: Url,
    options: RestOptions,
}

impl Client {
    /// A client for `spec`; call it on a tokio runtime.
    pub fn new(spec: RestSpec) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(spec.options.timeout)
            .connect_timeout(spec.options.connect_timeout)
            .user_agent(concat!("algohost/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Data(format!("cannot set up the HTTP client: {}", chain(&e))))?;
        Ok(Self {
            http,
            base: spec.base,
            options: spec.options,
        })
    }

    /// The base URL, for messages.
    pub fn target(&self) -> &str {
        self.base.as_str()
    }

    /// The options in force.
    pub fn options(&self) -> &RestOptions {
        &self.options
    }

    /// Sends `request`, retrying as the module says, and reads the answer.
    pub async fn send(&self, request: Request) -> Result<Reply> {
        let url = self.base.join(request.path).map_err(|e| {
            Error::Data(format!(
                "cannot build the URL of {} from {}: {e}",
                request.path,
                self.target()
            ))
        })?;
        let (outcome, attempts) = self
            .options
            .schedule()
            .retry(
                || self.build(&url, &request).send(),
                |outcome| match outcome {
                    Ok(r) if is_retried(r.status()) => Some(retry_after(r.headers())),
                    // Not connected, or the connection closed before an
                    // answer (the server restarted): every request is safe
                    // to send again.
                    Err(e) if e.is_connect() || (e.is_request() && !e.is_timeout()) => Some(None),
                    _ => None,
                },
                |_, attempt, wait| {
                    tracing::warn!(
                        url = %url,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "the data API is unavailable; retrying"
                    );
                },
            )
            .await;
        match outcome {
            Ok(response) => self.answer(&request, response, attempts).await,
            Err(e) => Err(self.transport_error(&request, &e, attempts)),
        }
    }

    fn build(&self, url: &Url, request: &Request) -> reqwest::RequestBuilder {
        let mut builder = self
            .http
            .request(request.method.clone(), url.clone())
            .header(ACCEPT, request.accept);
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(token) = &self.options.token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some((media_type, body)) = &request.body {
            builder = builder.header(CONTENT_TYPE, *media_type).body(body.clone());
        }
        builder
    }

    /// The body of a 2xx answer, or the error an error answer means.
    async fn answer(
        &self,
        request: &Request,
        response: reqwest::Response,
        attempts: u32,
    ) -> Result<Reply> {
        let status = response.status();
        let media_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(request, &e, attempts))?;
        if status.is_success() {
            return Ok(Reply { media_type, body });
        }
        Err(self.status_error(request, status, &media_type, &body, attempts))
    }

    /// The error of an answer with an error status.
    fn status_error(
        &self,
        request: &Request,
        status: StatusCode,
        media_type: &str,
        body: &[u8],
        attempts: u32,
    ) -> Error {
        let detail = detail(media_type, body);
        let at = format!(
            "{status} for {} {} from the data API at {}",
            request.method,
            request.path,
            self.target()
        );
        match status {
            StatusCode::UNAUTHORIZED if self.options.token.is_some() => Error::Data(format!(
                "the bearer token was refused ({at}): {detail}; check {TOKEN_ENV} against the \
                 tokens of that server"
            )),
            StatusCode::UNAUTHORIZED => Error::Data(format!(
                "the data API needs a bearer token ({at}): {detail}; set {TOKEN_ENV} to a token \
                 of that server"
            )),
            StatusCode::FORBIDDEN => Error::Data(format!(
                "the bearer token may not do this ({at}): {detail}; writing data needs a token \
                 with scope 'run'"
            )),
            StatusCode::PAYLOAD_TOO_LARGE => Error::Data(format!(
                "{UPSTREAM_LIMIT}{} ({at}): {detail}; its operator can raise it \
                 (ALGOHOST_BODY_LIMIT_BYTES, or body_limit_bytes in its config file), and \
                 `algohost data import` or `export` can send less at once (--chunk-size)",
                self.target()
            )),
            s if is_retried(s) => Error::Data(format!(
                "{REST_BUSY}({at}, {attempts} attempt(s)): {detail}; try again \
                 later, or raise ?retries=… in the URL"
            )),
            s if s.is_client_error() => Error::InvalidInput(format!("{detail} ({at})")),
            _ => Error::Data(format!("the data API failed ({at}): {detail}")),
        }
    }

    /// The error of a request that got no (complete) answer.
    fn transport_error(&self, request: &Request, e: &reqwest::Error, attempts: u32) -> Error {
        let target = self.target();
        if e.is_timeout() {
            return Error::Data(format!(
                "the data API at {target} did not answer {} {} within {:?}; raise ?timeout=… in \
                 the URL, or read less at once",
                request.method, request.path, self.options.timeout
            ));
        }
        if e.is_connect() {
            return Error::Data(format!(
                "{REST}{target} ({attempts} attempt(s)): {}; check \
                 that `algohost serve` runs there and the URL's host and port",
                chain(e)
            ));
        }
        if e.is_request() {
            return Error::Data(format!(
                "the data API at {target} closed the connection before answering {} {} \
                 ({attempts} attempt(s); did it restart?): {}",
                request.method,
                request.path,
                chain(e)
            ));
        }
        Error::Data(format!(
            "the data API at {target} failed {} {}: {}",
            request.method,
            request.path,
            chain(e)
        ))
    }
}

/// How the message of a write larger than the other server's body limit
/// begins.
pub const UPSTREAM_LIMIT: &str = "the write is larger than the body limit of the algohost at ";

/// Statuses worth another attempt: the server is busy or starting.
fn is_retried(status: StatusCode) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS
}

/// `Retry-After` in seconds, when the answer has one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The part of a problem document a message quotes.
#[derive(Deserialize)]
struct ProblemDetail {
    title: Option<String>,
    detail: Option<String>,
}

/// The problem's detail, or the start of a body that is no problem
/// document (a proxy's error page, say).
fn detail(media_type: &str, body: &[u8]) -> String {
    if media_type.ends_with("json")
        && let Ok(problem) = serde_json::from_slice::<ProblemDetail>(body)
        && let Some(text) = problem.detail.or(problem.title)
    {
        return text;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no detail given; is this an algohost server?".to_owned();
    }
    let short: String = text.chars().take(200).collect();
    format!("'{short}' (not a problem document; is this an algohost server?)")
}

/// An error with its sources, which reqwest keeps out of its message.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
