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
