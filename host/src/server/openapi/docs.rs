//! The API docs page at `/docs`: Swagger UI rendering `/openapi.json`.
//! Its scripts, stylesheets and icons are built into the binary (the
//! Swagger UI release that the `utoipa-swagger-ui-vendored` crate holds,
//! pinned by `Cargo.lock`) and served under `/docs/`, so that the page
//! works on a machine without internet access and runs no script of
//! another origin.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa_swagger_ui::{Config, SwaggerFile};

use super::forwarded_prefix;
use crate::server::error::ApiError;
use crate::server::state::AppState;

/// The page at `/docs` and `/docs/`, titled `title`, and its files under
/// `/docs/`.
pub fn router(title: &str) -> Router<AppState> {
    let title: Arc<str> = title.replace('&', "&amp;").replace('<', "&lt;").into();
    let page_route = get(move |headers: HeaderMap| {
        let response = page(&title, forwarded_prefix(&headers).unwrap_or(""));
        async move { response }
    });
    let [page, page_slash, files] = ROUTES;
    Router::new()
        .route(page, page_route.clone())
        .route(page_slash, page_route)
        .route(files, get(file))
}

/// The routes of [`router`]: the page, at `/docs` and `/docs/`, and its
/// files.
pub const ROUTES: [&str; 3] = ["/docs", "/docs/", "/docs/{*file}"];

/// Swagger UI's page with a `<base>` of `{prefix}/docs/`, so that its
/// relative links to its files resolve whether it is opened at `/docs` or
/// `/docs/`, and through the path prefix a reverse proxy names; it links
/// the spec it shows as its service description (RFC 8631).
fn page(title: &str, prefix: &str) -> Result<Html<String>, ApiError> {
    let html = swagger_file("index.html", prefix)?;
    let head = format!(
        "<head>\n    <base href=\"{prefix}/docs/\" />\n    \
         <link rel=\"service-desc\" type=\"application/json\" href=\"{prefix}/openapi.json\" />"
    );
    let html = String::from_utf8_lossy(&html.bytes)
        .replacen("<head>", &head, 1)
        .replacen(
            "<title>Swagger UI</title>",
            &format!("<title>{title}</title>"),
            1,
        );
    Ok(Html(html))
}

/// A file of the page: a script, stylesheet or icon of Swagger UI, or its
/// `swagger-initializer.js` naming the spec to show. With an `ETag` (of
/// its bytes, which a new binary may change) that the browser checks on
/// each load: 304 for a file it has, so that the page's 2 MB of scripts
/// are sent once, not at every visit.
async fn file(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    let file = swagger_file(&name, forwarded_prefix(&headers).unwrap_or(""))?;
    let etag = format!(
        "\"{:08x}-{:x}\"",
        crc32fast::hash(&file.bytes),
        file.bytes.len()
    );
    let is_cached = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag);
    let mut response = if is_cached {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, file.content_type)], file.bytes).into_response()
    };
    let cache = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        cache.insert(header::ETAG, etag);
    }
    cache.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // swagger-initializer.js names the spec under the proxy's prefix.
    cache.insert(header::VARY, HeaderValue::from_static("x-forwarded-prefix"));
    Ok(response)
}

/// The Swagger UI file `name`, its configuration pointing at
/// `{prefix}/openapi.json` and at no online validator (whose badge would
/// load an image from validator.swagger.io, naming the spec's address).
fn swagger_file(name: &str, prefix: &str) -> Result<SwaggerFile<'static>, ApiError> {
    let config = Config::new([format!("{prefix}/openapi.json")]).validator_url("none");
    match utoipa_swagger_ui::serve(name, Arc::new(config)) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(ApiError::NotFound(format!(
            "no file /docs/{name}; the docs page is /docs"
        ))),
        Err(e) => Err(ApiError::Internal(format!(
            "the docs page's {name} cannot be made: {e}"
        ))),
    }
}
