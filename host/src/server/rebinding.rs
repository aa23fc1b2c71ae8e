//! The DNS-rebinding guard of a server without tokens: it answers only
//! requests addressed to `localhost`, to an IP address or to a name of
//! `allowed_hosts` (any port). A web page can point a name of its own at
//! 127.0.0.1 and then drive the API from the browser; such requests carry
//! that name in `Host` and get 421. With tokens configured the guard is off:
//! the page has no token. The probes (`/health`, `/ready`) reveal nothing
//! and are answered whatever the host, so that a proxy's health checks work
//! before its `Host` is sorted out.
//!
//! Whatever the tokens, an HTTP/1.1 request must name its host in exactly
//! one `Host` header (RFC 9112 §3.2): none, or two, get 400.

use std::net::{IpAddr, SocketAddr};

use axum::extract::Request;
use axum::http::uri::Authority;
use axum::http::{Version, header};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

/// The longest `Host` repeated in the refusal.
const MAX_SHOWN: usize = 100;

/// The routes answered whatever the host: probes that reveal nothing.
const PROBES: [&str; 2] = ["/health", "/ready"];

/// Whether `host` (a `Host` header or URI authority, with or without a
/// port) names this machine without DNS (`localhost` or an IP address) or
/// is one of `allowed` (lower-case names).
fn is_served(host: &str, allowed: &[String]) -> bool {
    // An IP address with its port, as most clients send it, read without
    // copying it into an `Authority`.
    if host.parse::<SocketAddr>().is_ok() {
        return true;
    }
    let Ok(authority) = host.parse::<Authority>() else {
        return false;
    };
    let name = authority.host();
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || literal.parse::<IpAddr>().is_ok()
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// The 400 for an HTTP/1.1 request without exactly one `Host` header.
fn host_count_error(count: usize) -> ApiError {
    let has = match count {
        0 => "no Host header".to_owned(),
        n => format!("{n} Host headers"),
    };
    ApiError::BadRequest(format!(
        "the request has {has}; an HTTP/1.1 request names its host in exactly one: Host: \
         NAME[:PORT] (RFC 9112 §3.2)"
    ))
}

/// The 421 refusal, naming both ways out: allow the name, or configure
/// tokens.
fn misdirected(host: &str) -> Response {
    let shown = (host.len() <= MAX_SHOWN && !host.is_empty()).then_some(host);
    let name = shown
        .and_then(|h| h.parse::<Authority>().ok())
        .map_or_else(|| "NAME".to_owned(), |a| a.host().to_owned());
    ApiError::MisdirectedHost {
        host: shown.map(str::to_owned),
        name,
    }
    .into_response()
}

/// The refusal of a request the guard does not let through: 400 to an
/// HTTP/1.1 request without exactly one `Host`, and, without tokens, 421
/// to a request addressed to a name that is not served. The address is
/// the request target's authority when it has one (absolute form, HTTP/2),
/// else `Host` (RFC 9112 §3.2.2); an HTTP/1.0 request with neither names
/// nothing to rebind and passes. `None`: let it through.
pub fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    if PROBES.contains(&request.uri().path()) {
        return None;
    }
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if request.version() == Version::HTTP_11 && (host.is_none() || hosts.next().is_some()) {
        let count = request.headers().get_all(header::HOST).iter().count();
        return Some(host_count_error(count).into_response());
    }
    if state.auth.is_enabled() {
        return None;
    }
    let target = match request.uri().authority() {
        Some(authority) => Some(authority.as_str()),
        None => host.map(|value| value.to_str().unwrap_or("")),
    };
    match target {
        Some(target) if !is_served(target, &state.allowed_hosts) => Some(misdirected(target)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_ip_addresses_and_allowed_names_are_served_other_names_are_not() {
        let allowed = ["algohost.example.com".to_owned(), "algo".to_owned()];
        for host in [
            "localhost",
            "LocalHost:8000",
            "127.0.0.1",
            "127.0.0.1:18087",
            "[::1]:8000",
            "[::1]",
            "10.1.2.3:8000",
            "algo",
            "Algohost.Example.com:443",
        ] {
            assert!(is_served(host, &allowed), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:18087",
            "localhost.evil.example",
            "localhost.",
            "127.0.0.1.nip.io",
            "algohost.example.com.evil.example",
            "",
            "a b",
        ] {
            assert!(!is_served(host, &allowed), "{host}");
        }
        assert!(!is_served("algo", &[]));
    }
}
