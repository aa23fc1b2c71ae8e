//! Small things about addresses and query strings.

use super::Scratch;

#[test]
fn the_root_leads_to_the_docs_and_plugins_refuses_unknown_query_parameters() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let root = server.raw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert!(root.starts_with("HTTP/1.1 303"), "{root}");
    assert!(
        root.to_ascii_lowercase().contains("\r\nlocation: docs\r\n"),
        "{root}"
    );

    let refused = server.get("/plugins?foo=1").problem(400);
    assert!(
        refused["detail"].as_str().unwrap().contains("foo"),
        "{refused}"
    );
}

#[test]
fn a_request_line_names_the_client_the_proxys_client_the_query_and_a_latency_number() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let reply = server.send(
        server
            .req(reqwest::Method::GET, "/runs?limit=1")
            .header("x-forwarded-for", "203.0.113.7, 10.0.0.2")
            .header("x-request-id", "proxied-1"),
    );
    assert_eq!(reply.status, 200);
    server.send(
        server
            .req(reqwest::Method::GET, "/health")
            .header("x-forwarded-for", "x}: FAKE line")
            .header("x-request-id", "forged-1"),
    );
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("proxied-1") && l.contains("finished processing request"))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("uri=/runs?limit=1"), "{line}");
    assert!(line.contains("client=127.0.0.1:"), "{line}");
    assert!(
        line.contains("forwarded_for=\"203.0.113.7, 10.0.0.2\""),
        "{line}"
    );
    assert!(line.contains("status=200"), "{line}");
    assert!(line.contains("latency_ms="), "{line}");
    assert!(!logs.contains("FAKE"), "{logs}");
}

#[test]
fn behind_a_proxy_under_a_path_prefix_the_spec_and_docs_name_it_as_the_server() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let prefixed = |path: &str| {
        server.send(
            server
                .req(reqwest::Method::GET, path)
                .header("x-forwarded-prefix", "/algohost"),
        )
    };
    let spec = prefixed("/openapi.json").json();
    assert_eq!(spec["servers"], serde_json::json!([{"url": "/algohost"}]));
    assert!(prefixed("/docs").text().contains("/algohost"));
    let plain = server.get("/openapi.json").json();
    assert!(plain.get("servers").is_none(), "{}", plain["servers"]);
    // A run's Location goes through the prefix too.
    let reply = server.send(
        server
            .req(reqwest::Method::POST, "/runs")
            .header("x-forwarded-prefix", "/algohost")
            .json(&serde_json::json!({"algorithm": "fails"})),
    );
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        reply.header("location"),
        Some(format!("/algohost/runs/{id}").as_str())
    );
}

#[test]
fn a_parameter_given_twice_is_told_how_to_give_it_and_a_byte_order_mark_is_no_content() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let twice = server.get("/runs?limit=1&limit=2").problem(400);
    assert_eq!(
        twice["detail"],
        "query parameter limit is given twice; give it once"
    );
    // Some editors start a file with a UTF-8 byte order mark.
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(br#"{"algorithm": "fails"}"#);
    let reply = server.send(
        server
            .req(reqwest::Method::POST, "/runs")
            .header("content-type", "application/json")
            .body(body),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
}
