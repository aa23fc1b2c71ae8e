//! The docs page at `/docs` as a browser loads it: every script and
//! stylesheet from the server itself (none from another origin, so that it
//! works without internet access), and the spec from the server's
//! `/openapi.json`, also behind a reverse proxy's path prefix.

use reqwest::{Method, Url};

use super::{Reply, Scratch, Server};

/// What a browser loads for a page: its scripts, its stylesheets and
/// icons, resolved against the page's address and `<base>` like a
/// browser resolves them; and the service description it links.
struct Page {
    scripts: Vec<Url>,
    links: Vec<Url>,
    service_desc: Option<Url>,
}

impl Page {
    fn parse(address: &Url, html: &str) -> Page {
        let tags: Vec<&str> = html.split('<').collect();
        let base = tags
            .iter()
            .filter(|tag| tag.starts_with("base "))
            .find_map(|tag| attribute(tag, "href"))
            .map_or_else(|| address.clone(), |href| address.join(href).unwrap());
        let resolve = |reference: &str| {
            assert!(
                !reference.starts_with("http:")
                    && !reference.starts_with("https:")
                    && !reference.starts_with("//"),
                "the page loads {reference} from another origin:\n{html}"
            );
            base.join(reference).unwrap()
        };
        let scripts = tags
            .iter()
            .filter(|tag| tag.starts_with("script"))
            .filter_map(|tag| attribute(tag, "src"))
            .map(resolve)
            .collect();
        let links = tags.iter().filter(|tag| tag.starts_with("link "));
        let service_desc = links
            .clone()
            .filter(|tag| attribute(tag, "rel") == Some("service-desc"))
            .find_map(|tag| attribute(tag, "href"))
            .map(resolve);
        let links = links
            .filter_map(|tag| attribute(tag, "href"))
            .map(resolve)
            .collect();
        Page {
            scripts,
            links,
            service_desc,
        }
    }
}

/// The value of `name="…"` in a tag's text.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(&tag[start..end])
}

/// The spec address `swagger-initializer.js` gives Swagger UI.
fn spec_url(initializer: &str) -> &str {
    let start = initializer
        .find("\"url\": \"")
        .unwrap_or_else(|| panic!("no spec url in\n{initializer}"))
        + "\"url\": \"".len();
    let end = start + initializer[start..].find('"').unwrap();
    &initializer[start..end]
}

/// GETs `url` as a browser at the server's address would, through a
/// reverse proxy that serves the server under `prefix` (`""`: none) and
/// says so in `X-Forwarded-Prefix`.
fn fetch(server: &Server, prefix: &str, url: &Url) -> Reply {
    assert_eq!(
        url.origin(),
        Url::parse(&server.url).unwrap().origin(),
        "{url} is on another origin"
    );
    let path = url
        .path()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{url} is outside the prefix {prefix}"));
    let mut request = server.req(Method::GET, path);
    if !prefix.is_empty() {
        request = request.header("x-forwarded-prefix", prefix);
    }
    server.send(request)
}

/// Loads `/docs` under `prefix` like a browser: the page, each script and
/// stylesheet it names (all answered by the server with their type), and
/// the spec its configuration names, which it also links as its service
/// description; returns the address of the spec.
fn load_docs(server: &Server, prefix: &str) -> Url {
    let address = Url::parse(&format!("{}{prefix}/docs", server.url)).unwrap();
    let page = fetch(server, prefix, &address);
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.media_type(), "text/html");
    let html = page.text();
    let loads = Page::parse(&address, &html);
    assert!(loads.scripts.len() >= 2, "{html}");
    assert!(!loads.links.is_empty(), "{html}");

    let mut initializer = None;
    for url in &loads.scripts {
        let reply = fetch(server, prefix, url);
        assert_eq!(reply.status, 200, "{url}: {}", reply.text());
        assert!(
            reply.media_type().ends_with("javascript"),
            "{url}: {}",
            reply.media_type()
        );
        assert!(reply.body.len() > 100, "{url}: {}", reply.text());
        if reply.text().contains("SwaggerUIBundle(") {
            initializer = Some(reply.text());
        }
    }
    let mut stylesheets = 0;
    for url in &loads.links {
        let reply = fetch(server, prefix, url);
        assert_eq!(reply.status, 200, "{url}: {}", reply.text());
        assert!(reply.body.len() > 100, "{url}: {}", reply.text());
        if url.path().ends_with(".css") {
            assert_eq!(reply.media_type(), "text/css", "{url}");
            stylesheets += 1;
        }
    }
    assert!(stylesheets >= 1, "{html}");

    let initializer = initializer.unwrap_or_else(|| panic!("no script starts Swagger UI: {html}"));
    // No online validator: its badge would load an image from
    // validator.swagger.io, naming the spec's address.
    assert!(
        initializer.contains("\"validatorUrl\": \"none\""),
        "{initializer}"
    );
    let spec = address.join(spec_url(&initializer)).unwrap();
    assert_eq!(loads.service_desc.as_ref(), Some(&spec), "{html}");
    spec
}

#[test]
fn the_docs_page_loads_every_script_and_stylesheet_and_the_spec_from_the_server() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let spec = load_docs(&server, "");
    assert_eq!(spec.path(), "/openapi.json");
    assert_eq!(
        fetch(&server, "", &spec).json(),
        server.spec().doc().clone()
    );

    // Also with a trailing slash; the server's address leads to the page.
    let slash = server.get("/docs/");
    assert_eq!(slash.status, 200);
    assert_eq!(slash.text(), server.get("/docs").text());
    assert_eq!(server.get("/").text(), slash.text());
    // A browser that has a file is told so (304), not sent it again.
    let script = server.get("/docs/swagger-ui-bundle.js");
    assert_eq!(script.status, 200);
    assert_eq!(script.header("cache-control"), Some("no-cache"));
    let etag = script.header("etag").unwrap().to_owned();
    let again = server.send(
        server
            .req(reqwest::Method::GET, "/docs/swagger-ui-bundle.js")
            .header("if-none-match", &etag),
    );
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other = server.send(
        server
            .req(reqwest::Method::GET, "/docs/swagger-ui-bundle.js")
            .header("if-none-match", "\"00000000-0\""),
    );
    assert_eq!(other.status, 200);
    assert_eq!(other.body, script.body);
    // A file the page does not have is a problem, as elsewhere.
    let missing = server.get("/docs/nothing.js").problem(404);
    assert!(
        missing["detail"].as_str().unwrap().contains("/docs"),
        "{missing}"
    );
}

#[test]
fn behind_a_proxy_under_a_path_prefix_the_docs_page_loads_everything_through_it() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let spec = load_docs(&server, "/algohost");
    assert_eq!(spec.path(), "/algohost/openapi.json");
    // The spec names the prefix as the server that "Try it out" calls.
    let doc = fetch(&server, "/algohost", &spec).json();
    assert_eq!(doc["servers"], serde_json::json!([{"url": "/algohost"}]));
}

#[test]
fn with_tokens_the_docs_page_and_its_files_need_none() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_TOKENS", "docs-5ecr3t:read")]);
    let spec = load_docs(&server, "");
    assert_eq!(fetch(&server, "", &spec).status, 200);
    assert_eq!(server.get("/algorithms").status, 401);
}
