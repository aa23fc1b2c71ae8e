//! The DNS-rebinding guard of a server without tokens: it answers only
//! requests addressed to `localhost` or to an IP address (any port). A web
//! page can point a name of its own at 127.0.0.1 and then drive the API
//! from the browser; such requests carry that name in `Host` and get 421.
//! With tokens configured the guard is off: the page has no token.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::header;
use axum::http::uri::Authority;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

/// The longest `Host` repeated in the refusal.
const MAX_SHOWN: usize = 100;

/// Whether `host` (a `Host` header or URI authority, with or without a
/// port) names this machine without DNS: `localhost` or an IP address.
fn is_served(host: &str) -> bool {
    let Ok(authority) = host.parse::<Authority>() else {
        return false;
    };
    let name = authority.host();
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost") || literal.parse::<IpAddr>().is_ok()
}

/// Middleware: without tokens, answers 421 to a request whose `Host` (or
/// HTTP/2 authority) is a name other than `localhost`. A request without
/// either names nothing to rebind and passes.
pub async fn require_local_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if state.auth.is_enabled() {
        return next.run(request).await;
    }
    let host = match request.headers().get(header::HOST) {
        Some(value) => Some(value.to_str().unwrap_or("").to_owned()),
        None => request.uri().authority().map(|a| a.as_str().to_owned()),
    };
    match host {
        Some(host) if !is_served(&host) => {
            let shown = (host.len() <= MAX_SHOWN && !host.is_empty()).then_some(host);
            ApiError::MisdirectedHost(shown).into_response()
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_and_ip_addresses_are_served_names_are_not() {
        for host in [
            "localhost",
            "LocalHost:8000",
            "127.0.0.1",
            "127.0.0.1:18087",
            "[::1]:8000",
            "[::1]",
            "10.1.2.3:8000",
        ] {
            assert!(is_served(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:18087",
            "localhost.evil.example",
            "localhost.",
            "127.0.0.1.nip.io",
            "",
            "a b",
        ] {
            assert!(!is_served(host), "{host}");
        }
    }
}
