//! Cross-origin requests from browser apps (CORS), for the origins in
//! `cors_origins` only; off by default. The layer sits outside the token
//! check and the DNS-rebinding guard: it answers preflight requests
//! (`OPTIONS` with `Access-Control-Request-Method`, which browsers send
//! without credentials) itself, and marks every response to an allowed
//! origin readable by it, errors included, so that the app can show the
//! problem details of a 401 or a 422.
//!
//! The app sends its token as `Authorization: Bearer …`, never as a cookie,
//! so no credentials mode is needed. A browser's `EventSource` and a plain
//! download link cannot send that header: with tokens, an app reads
//! `GET /runs/{id}/events` and downloads outputs with `fetch` instead.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use super::REQUEST_ID_HEADER;
use super::config::Cors;
use super::runs::PREFERENCE_APPLIED;

/// How long a browser may reuse a preflight answer.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// Response headers an app may read beyond the always-safe ones: those the
/// API documents.
const EXPOSED_HEADERS: [HeaderName; 6] = [
    header::LOCATION,
    header::RETRY_AFTER,
    header::WWW_AUTHENTICATE,
    header::CONTENT_DISPOSITION,
    PREFERENCE_APPLIED,
    REQUEST_ID_HEADER,
];

/// The CORS layer of `cors`; `None` (no layer) when it is off.
pub fn layer(cors: &Cors) -> Option<CorsLayer> {
    let origins = match cors {
        Cors::Off => return None,
        Cors::Any => AllowOrigin::any(),
        Cors::Origins(origins) => AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::DELETE])
            // Whatever headers the app asks to send: the API reads its own
            // and ignores the rest, and browser instrumentation adds some
            // (traceparent, sentry-trace, baggage) that a fixed list would
            // refuse, failing every request.
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers(EXPOSED_HEADERS)
            // A page of an allowed origin on the internet may reach a
            // server on this machine or network (Private Network Access).
            .allow_private_network(true)
            .max_age(MAX_AGE),
    )
}
