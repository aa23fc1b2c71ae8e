//! Browser apps on other origins (CORS): off by default; with
//! `--cors-origin`, preflights are answered for the listed origins and every
//! response to them, errors included, is readable by the app.

use reqwest::Method;

use super::{Scratch, peak_params};

const APP: &str = "https://dashboard.example.com";
const TOKEN: &str = "cors-5ecr3t-token";

#[test]
fn a_listed_origin_may_call_the_api_from_a_browser_and_others_may_not() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(
        &["--cors-origin", APP],
        &[("ALGOHOST_TOKENS", &format!("{TOKEN}:run"))],
    );
    assert!(
        server
            .stdout
            .lock()
            .unwrap()
            .contains(&format!("CORS:      {APP}")),
        "the banner says which origins: {}",
        server.stdout.lock().unwrap()
    );

    // The preflight of a run with a token, an idempotency key and a wait:
    // answered without a token, naming what the app may send.
    let preflight = |origin: &str| {
        server
            .req(Method::OPTIONS, "/runs")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,idempotency-key,prefer,traceparent,sentry-trace",
            )
            .header("access-control-request-private-network", "true")
            .send()
            .unwrap()
    };
    let allowed = preflight(APP);
    assert_eq!(allowed.status(), 200);
    let header = |r: &reqwest::blocking::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_ascii_lowercase())
    };
    assert_eq!(
        header(&allowed, "access-control-allow-origin").as_deref(),
        Some(APP)
    );
    let methods = header(&allowed, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("post") && methods.contains("delete"),
        "{methods}"
    );
    let headers = header(&allowed, "access-control-allow-headers").unwrap();
    // Browser instrumentation's headers too (OpenTelemetry, Sentry).
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "prefer",
        "traceparent",
        "sentry-trace",
    ] {
        assert!(headers.contains(name), "{name} not in {headers}");
    }
    // A public page may reach this server on a private network.
    assert_eq!(
        header(&allowed, "access-control-allow-private-network").as_deref(),
        Some("true")
    );
    assert_eq!(
        header(&allowed, "access-control-max-age").as_deref(),
        Some("3600")
    );
    let other = preflight("https://evil.example");
    assert_eq!(header(&other, "access-control-allow-origin"), None);

    // The run itself: its Location readable by the app.
    let run = server.send(
        server
            .req(Method::POST, "/runs")
            .bearer_auth(TOKEN)
            .header("origin", APP)
            .json(&serde_json::json!({"algorithm": "peak_shaving", "params": peak_params()})),
    );
    assert_eq!(run.status, 202, "{}", run.text());
    assert_eq!(run.header("access-control-allow-origin"), Some(APP));
    let exposed = run
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "location",
        "retry-after",
        "x-request-id",
        "www-authenticate",
    ] {
        assert!(exposed.contains(name), "{name} not in {exposed}");
    }
    assert!(run.header("location").is_some());

    // An error reaches the app too, so it can show the problem.
    let unauthorized = server.send(server.req(Method::GET, "/runs").header("origin", APP));
    unauthorized.problem(401);
    assert_eq!(
        unauthorized.header("access-control-allow-origin"),
        Some(APP)
    );

    // Another origin gets the answer, but no header lets its page read it.
    let elsewhere = server.send(
        server
            .req(Method::GET, "/algorithms")
            .bearer_auth(TOKEN)
            .header("origin", "https://evil.example"),
    );
    assert_eq!(elsewhere.status, 200);
    assert_eq!(elsewhere.header("access-control-allow-origin"), None);
}

#[test]
fn without_cors_origins_no_origin_is_allowed_and_any_origin_needs_tokens() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let preflight = server
        .req(Method::OPTIONS, "/runs")
        .header("origin", APP)
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert_eq!(preflight.status(), 405);
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let list = server.send(server.req(Method::GET, "/algorithms").header("origin", APP));
    assert_eq!(list.status, 200);
    assert_eq!(list.header("access-control-allow-origin"), None);
    drop(server);

    let refused = scratch.command(&["--cors-origin", "*"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("refusing cors_origins = '*' without tokens")
            && stderr.contains("--insecure"),
        "{stderr}"
    );
    let bad = scratch
        .command(&["--cors-origin", "dashboard.example.com"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("'dashboard.example.com' is not an origin"),
        "{stderr}"
    );
}
