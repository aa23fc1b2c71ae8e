//! Bearer-token authentication. When tokens are configured, each route needs
//! the scope its OpenAPI operation declares in `security` (`read` or `run`;
//! an empty requirement means public, as for `/health`); the spec is the one
//! source of truth for both the docs and the check. Without tokens every
//! route is open (the server then only binds loopback unless `--insecure`).

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, header};
use serde_json::Value;

use super::config::{Scope, Token};
use super::error::ApiError;

/// Name of the security scheme in the OpenAPI document.
pub const SCHEME: &str = "bearer";

/// The configured tokens and the scope each operation needs.
#[derive(Default)]
pub struct Auth {
    tokens: Vec<Token>,
    required: HashMap<(Method, String), Option<Scope>>,
}

impl Auth {
    /// Tokens, with the scopes read from the OpenAPI document (as JSON).
    pub fn new(tokens: Vec<Token>, openapi: &Value) -> Self {
        let mut required = HashMap::new();
        let paths = openapi.get("paths").and_then(Value::as_object);
        for (path, item) in paths.into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                required.insert((method, path.clone()), operation_scope(op));
            }
        }
        Self { tokens, required }
    }

    /// Whether tokens are configured at all.
    pub fn is_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks the request's token against the scope the route needs.
    pub fn check(
        &self,
        method: &Method,
        path: Option<&str>,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if !self.is_enabled() {
            return Ok(());
        }
        let Some(path) = path else {
            return Ok(()); // no route: the fallback answers 404
        };
        // HEAD runs the GET handler; anything the spec does not list needs `read`.
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let Some(needed) = self
            .required
            .get(&(method.clone(), path.to_owned()))
            .copied()
            .unwrap_or(Some(Scope::Read))
        else {
            return Ok(());
        };
        let presented = bearer(headers)?;
        let token = self
            .tokens
            .iter()
            .find(|t| constant_time_eq(t.token.as_bytes(), presented.as_bytes()))
            .ok_or(ApiError::InvalidToken)?;
        if token.scope >= needed {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                operation: format!("{method} {path}"),
                needed,
                has: token.scope,
            })
        }
    }
}

/// The scope an operation's `security` asks for: `None` when it allows an
/// empty requirement (public), the highest listed scope otherwise, and
/// `read` when it says nothing.
fn operation_scope(op: &Value) -> Option<Scope> {
    let Some(requirements) = op.get("security").and_then(Value::as_array) else {
        return Some(Scope::Read);
    };
    if requirements
        .iter()
        .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    {
        return None;
    }
    let scopes = requirements
        .iter()
        .filter_map(|r| r.get(SCHEME).and_then(Value::as_array))
        .flatten()
        .filter_map(|s| s.as_str()?.parse::<Scope>().ok());
    Some(scopes.max().unwrap_or(Scope::Read))
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let sent = headers.get_all(header::AUTHORIZATION).iter().count();
    if sent > 1 {
        // Which one counts would depend on header order (a proxy adding
        // its own): none does.
        return Err(ApiError::Unauthorized(format!(
            "the request has {sent} authorization headers; send one: Bearer <token>"
        )));
    }
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "this request needs a bearer token: send the header authorization: Bearer <token>"
                    .into(),
            )
        })?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the authorization header is not text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::Unauthorized(
            "the authorization header must be 'Bearer <token>'".into(),
        )),
    }
}

/// Compares without an early exit, so timing does not reveal how much of a
/// guessed token is right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn auth() -> Auth {
        let spec = json!({"paths": {
            "/health": {"get": {"security": [{}]}},
            "/runs": {
                "get": {"security": [{"bearer": ["read"]}]},
                "post": {"security": [{"bearer": ["run"]}]}
            }
        }});
        let tokens = super::super::config::parse_tokens("r:read,w:run").unwrap();
        Auth::new(tokens, &spec)
    }

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn scopes_come_from_the_spec() {
        let a = auth();
        let none = HeaderMap::new();
        assert!(a.check(&Method::GET, Some("/health"), &none).is_ok());
        assert!(matches!(
            a.check(&Method::GET, Some("/runs"), &none),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(matches!(
            a.check(&Method::GET, Some("/runs"), &headers("x")),
            Err(ApiError::InvalidToken)
        ));
        assert!(a.check(&Method::GET, Some("/runs"), &headers("r")).is_ok());
        let forbidden = a.check(&Method::POST, Some("/runs"), &headers("r"));
        assert_eq!(
            forbidden.unwrap_err().to_string(),
            "POST /runs needs a token with scope 'run' (to start, cancel and delete runs and write \
             data); this token has scope 'read' (to list and read)"
        );
        assert!(a.check(&Method::POST, Some("/runs"), &headers("w")).is_ok());
        assert!(a.check(&Method::HEAD, Some("/runs"), &none).is_err());
        assert!(a.check(&Method::HEAD, Some("/health"), &none).is_ok());
    }
}
