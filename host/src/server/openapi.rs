//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types, served at `/openapi.json` and rendered
//! by Swagger UI at `/docs` ([`docs`]). The error responses every
//! operation can give (400, 401/403, 413/415, 421, 500, 503) are added here
//! in one place, so the annotations only list what is particular to each
//! endpoint.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::auth::SCHEME;
use super::error::PROBLEM_JSON;
use super::events::{ProgressEvent, StatusEvent};
use super::frames::FormatName;
use super::runs::LogRecordView;
use super::state::AppState;

pub mod docs;

/// The document's fixed parts; paths are collected from the route files.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "algohost",
        description = "Run registered algorithms over HTTP: list and validate them, start runs, \
            follow their events, download their output frames, and read and write time-series data.\n\n\
            Errors are RFC 9457 problem documents (`application/problem+json`). When the server has \
            tokens, send `Authorization: Bearer <token>`: scope `read` lists and reads, `run` also \
            starts and cancels runs and writes data.",
    ),
    tags(
        (name = "algorithms", description = "Manifests and params validation"),
        (name = "runs", description = "Start, follow, cancel runs; download outputs"),
        (name = "data", description = "Data points and their samples"),
        (name = "plugins", description = "Sources and discovery diagnostics"),
        (name = "operations", description = "Probes and metrics"),
    ),
    components(schemas(StatusEvent, ProgressEvent, LogRecordView, FormatName))
)]
pub struct ApiDoc;

/// Adds the security scheme and the error responses shared by operations.
pub fn finish(mut api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SCHEME,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            add_shared_responses(op);
        }
    }
    api
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

fn add_shared_responses(op: &mut Operation) {
    let has_input =
        op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let is_public = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter().any(|r| {
            serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty()))
        })
    });
    let mut shared: Vec<(&str, &str)> = Vec::new();
    if has_input {
        shared.push((
            "400",
            "Malformed request: body, query or path, or an HTTP/1.1 request without exactly \
             one Host header",
        ));
    } else {
        shared.push((
            "400",
            "An HTTP/1.1 request without exactly one Host header (RFC 9112 §3.2)",
        ));
    }
    if !is_public {
        shared.push((
            "401",
            "No bearer token (`WWW-Authenticate: Bearer realm=\"algohost\"`), or not a valid \
             one (`Bearer realm=\"algohost\", error=\"invalid_token\"`, RFC 6750); only when \
             tokens are configured",
        ));
        shared.push(("403", "The token lacks the scope this operation needs"));
    }
    if op.request_body.is_some() {
        shared.push((
            "408",
            "The body had not all arrived at the server's request timeout",
        ));
        shared.push(("413", "The body is larger than the server's limit"));
        shared.push((
            "415",
            "The body's content type is not one this operation reads, or the body is \
             compressed (a Content-Encoding, or an Arrow IPC stream of compressed record \
             batches): send it uncompressed",
        ));
    }
    if !is_probe(op) {
        shared.push((
            "421",
            "The server has no tokens and the request's Host is a name other than localhost, \
             an IP address or an allowed host (a guard against DNS rebinding)",
        ));
    }
    shared.push((
        "500",
        "The server failed; the detail is in its log under the request id",
    ));
    if op
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == "data"))
    {
        shared.push((
            "502",
            "The data source, another algohost, failed this request or refused this server's \
             token (the detail says why)",
        ));
    }
    shared.push((
        "503",
        "The request timed out, the server is shutting down, its run store cannot be written \
         or its data source reached (both with Retry-After), or it was started without data \
         (no-data)",
    ));
    let responses = &mut op.responses.responses;
    for (status, description) in shared {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| problem_response(description));
    }
}

/// Whether `op` is a probe (`/health`, `/ready`), which answers whatever
/// the Host (see `rebinding`).
fn is_probe(op: &Operation) -> bool {
    op.tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|t| t == "operations"))
        && op
            .operation_id
            .as_deref()
            .is_some_and(|id| id == "health" || id == "ready")
}

fn problem_response(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content)
        .build()
        .into()
}

/// `/openapi.json` and the docs page of `api` at `/docs` (public, outside
/// the token check). Behind a reverse proxy that serves the API under a
/// path prefix and says so in `X-Forwarded-Prefix`, the spec names it as
/// the API's server, so that the docs' requests and generated clients go
/// through the prefix, and the docs page fetches its files and the spec
/// through it.
pub fn router(api: &utoipa::openapi::OpenApi) -> Router<AppState> {
    let [spec, root] = ROUTES;
    Router::new()
        .route(spec, get(openapi_json))
        .merge(docs::router(&format!("{} API", api.info.title)))
        // A browser opening the server's address lands on the docs.
        .route(root, get(|| async { Redirect::to("docs") }))
}

/// The routes of [`router`] beside the docs page's: the spec and the
/// server's address.
const ROUTES: [&str; 2] = ["/openapi.json", "/"];

/// Whether `route` (a matched route's template) is one of [`router`]'s:
/// the docs, open without a token and without the API's request timeout.
pub fn is_docs_route(route: &str) -> bool {
    ROUTES.contains(&route) || docs::ROUTES.contains(&route)
}

async fn openapi_json(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let json = match forwarded_prefix(&headers) {
        Some(prefix) => serde_json::from_str::<serde_json::Value>(&state.openapi_json)
            .map(|mut doc| {
                doc["servers"] = serde_json::json!([{ "url": prefix }]);
                doc.to_string()
            })
            .unwrap_or_else(|_| state.openapi_json.as_str().to_owned()),
        None => state.openapi_json.as_str().to_owned(),
    };
    ([(header::CONTENT_TYPE, "application/json")], json)
}

/// The path prefix a reverse proxy serves the API under
/// (`X-Forwarded-Prefix: /algohost`), when it is a plain path: `/`, then
/// segments of letters, digits and `-._~`, at most 128 characters.
pub fn forwarded_prefix(headers: &HeaderMap) -> Option<&str> {
    const X_FORWARDED_PREFIX: header::HeaderName =
        header::HeaderName::from_static("x-forwarded-prefix");
    let prefix = headers.get(&X_FORWARDED_PREFIX)?.to_str().ok()?;
    let prefix = prefix.trim().trim_end_matches('/');
    let is_plain = prefix.len() <= 128
        && prefix.starts_with('/')
        && prefix[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        });
    is_plain.then_some(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_prefix_is_taken_only_when_a_plain_path() {
        let prefix = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-prefix", value.parse().unwrap());
            forwarded_prefix(&headers).map(str::to_owned)
        };
        assert_eq!(prefix("/algohost"), Some("/algohost".to_owned()));
        assert_eq!(prefix("/api/algohost/"), Some("/api/algohost".to_owned()));
        for bad in [
            "algohost",
            "/",
            "//x",
            "/a/../b",
            "/a b",
            "https://x/y",
            "/a?b",
        ] {
            assert_eq!(prefix(bad), None, "{bad}");
        }
    }
}
