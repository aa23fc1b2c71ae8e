//! Tokens and scopes, the refusal to listen publicly without them, the body
//! limit, and where settings come from (flags > env > config file).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::Scratch;

const READER: &str = "reader-5ecr3t-token";
const RUNNER: &str = "runner-5ecr3t-token";

#[test]
fn tokens_guard_every_route_but_the_probes_and_docs() {
    let scratch = Scratch::new();
    let tokens = format!("{READER}:read,{RUNNER}:run");
    let server = scratch.start_with_env(&[], &[("ALGOHOST_TOKENS", &tokens)]);
    let with =
        |method: Method, path: &str, token: &str| server.req(method, path).bearer_auth(token);

    assert_eq!(server.get("/health").status, 200);
    assert_eq!(server.get("/ready").status, 200);
    assert_eq!(server.get("/openapi.json").status, 200);
    assert_eq!(server.get("/docs").status, 200);

    let missing = server.get("/algorithms");
    let problem = missing.problem(401);
    assert!(
        problem["detail"].as_str().unwrap().contains("Bearer"),
        "{problem}"
    );
    // No token: a plain challenge (RFC 6750 §3), no error code.
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"algohost\"")
    );
    // A token that is not valid: `invalid_token` (§3.1), so that a client
    // can tell "authenticate again" from "send credentials".
    let wrong = server.send(with(Method::GET, "/algorithms", "guess"));
    assert_eq!(
        wrong.problem(401)["detail"],
        "the bearer token is not valid"
    );
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Bearer realm=\"algohost\", error=\"invalid_token\"")
    );
    // Two tokens: neither counts, whichever comes first.
    for pair in [[READER, "wrong"], ["wrong", READER]] {
        let twice = server.send(
            server
                .req(Method::GET, "/runs")
                .header("authorization", format!("Bearer {}", pair[0]))
                .header("authorization", format!("Bearer {}", pair[1])),
        );
        assert_eq!(
            twice.problem(401)["detail"],
            "the request has 2 authorization headers; send one: Bearer <token>"
        );
    }
    let basic = server.send(
        server
            .req(Method::GET, "/runs")
            .header("authorization", "Basic Zm9vOmJhcg=="),
    );
    basic.problem(401);
    assert_eq!(
        basic.header("www-authenticate"),
        Some("Bearer realm=\"algohost\""),
        "no bearer token was sent"
    );

    let listed = server.send(with(Method::GET, "/algorithms", READER));
    assert_eq!(listed.status, 200);
    assert_eq!(
        server.send(with(Method::GET, "/metrics", READER)).status,
        200
    );
    assert_eq!(server.send(with(Method::GET, "/runs", RUNNER)).status, 200);

    let body = json!({"algorithm": "fails"});
    let forbidden = server.send(with(Method::POST, "/runs", READER).json(&body));
    let problem = forbidden.problem(403);
    assert!(
        problem["detail"].as_str().unwrap().contains("'run'"),
        "{problem}"
    );
    assert!(
        forbidden
            .header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
    let started = server.send(with(Method::POST, "/runs", RUNNER).json(&body));
    assert_eq!(started.status, 202, "{}", started.text());
    let id = started.json()["id"].as_str().unwrap().to_owned();
    server
        .send(with(Method::POST, &format!("/runs/{id}/cancel"), READER))
        .problem(403);
    let write = server
        .send(with(Method::POST, "/data-points/1/samples", READER).json(&json!([])))
        .problem(403);
    assert_eq!(
        write["detail"],
        "POST /data-points/{id}/samples needs a token with scope 'run' (to start, cancel and \
         delete runs and write data); this token has scope 'read' (to list and read)"
    );
    // Reading a validation is a read.
    let valid =
        server.send(with(Method::POST, "/algorithms/fails/validate", READER).json(&json!({})));
    assert_eq!(valid.status, 200, "{}", valid.text());

    let logs = server.logs();
    assert!(
        !logs.contains(READER) && !logs.contains(RUNNER),
        "a token was logged"
    );
    assert!(
        server.stdout.lock().unwrap().contains("bearer tokens (2)"),
        "{}",
        server.stdout.lock().unwrap()
    );
}

#[test]
fn a_public_address_needs_tokens_or_insecure() {
    let scratch = Scratch::new();
    let out = scratch.command(&["--bind", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without tokens")
            && stderr.contains("--insecure"),
        "{stderr}"
    );

    let server = scratch.start(&["--bind", "0.0.0.0:0", "--insecure"]);
    assert!(server.url.starts_with("http://0.0.0.0:"), "{}", server.url);
    let local = server.url.replace("0.0.0.0", "127.0.0.1");
    let health = reqwest::blocking::get(format!("{local}/health")).unwrap();
    assert_eq!(health.status(), 200);
}

#[test]
fn without_tokens_only_localhost_and_ip_addresses_are_answered() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let with_host =
        |method: Method, path: &str, host: &str| server.req(method, path).header("host", host);

    let body = json!({"algorithm": "fails"});
    let rebound =
        server.send(with_host(Method::POST, "/runs", &format!("evil.example:{port}")).json(&body));
    let problem = rebound.problem(421);
    assert_eq!(problem["type"], "urn:algohost:problem:misdirected-request");
    assert_eq!(
        problem["detail"],
        format!(
            "this server has no tokens, so it answers only requests addressed to localhost or an \
             IP address (a guard against DNS rebinding), not to 'evil.example:{port}'; to serve \
             other host names, configure tokens (ALGOHOST_TOKENS=TOKEN:SCOPE or [[tokens]] in the \
             config file) and send Authorization: Bearer TOKEN"
        )
    );
    for path in ["/data-points", "/health", "/no/such/route"] {
        server
            .send(with_host(Method::GET, path, "attacker.example"))
            .problem(421);
    }
    assert_eq!(server.get("/runs?status=failed").json()["runs"], json!([]));

    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        "localhost".into(),
    ] {
        let reply = server.send(with_host(Method::GET, "/data-points", &host));
        assert_eq!(reply.status, 200, "{host}: {}", reply.text());
    }
    let started =
        server.send(with_host(Method::POST, "/runs", &format!("127.0.0.1:{port}")).json(&body));
    assert_eq!(started.status, 202, "{}", started.text());

    // With tokens, a host name is served: a web page has no token.
    let server = scratch.start_with_env(&[], &[("ALGOHOST_TOKENS", &format!("{READER}:read"))]);
    let named = server.send(
        server
            .req(Method::GET, "/data-points")
            .header("host", "algohost.internal")
            .bearer_auth(READER),
    );
    assert_eq!(named.status, 200, "{}", named.text());
}

#[test]
fn a_host_name_to_bind_is_refused_with_an_ip_address_to_give_instead() {
    let scratch = Scratch::new();
    let expected = "'localhost:8000' is not an IP address and port: give an IP address, not a \
                    host name, e.g. 127.0.0.1:8000 (this machine only) or 0.0.0.0:8000 (every \
                    interface)";
    let config = scratch.path().join("bind.toml");
    std::fs::write(&config, "bind = \"localhost:8000\"\n").unwrap();
    let commands = [
        scratch.command(&["--bind", "localhost:8000"]),
        {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_algohost"));
            cmd.arg("serve").env("ALGOHOST_BIND", "localhost:8000");
            cmd.current_dir(scratch.path());
            cmd
        },
        scratch.command(&["--config", config.to_str().unwrap()]),
    ];
    for mut command in commands {
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[test]
fn a_mistyped_data_directory_is_refused_at_start_up() {
    let scratch = Scratch::new();
    let typo = scratch.path().join("dta");
    let out = scratch
        .command_with_data(typo.to_str().unwrap(), &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("no such data directory '{}'", typo.display()))
            && stderr.contains("algohost demo-data"),
        "{stderr}"
    );
    assert!(!typo.exists());
}

#[test]
fn flags_beat_env_beat_the_config_file_and_bodies_have_a_limit() {
    let scratch = Scratch::new();
    let config = scratch.path().join("algohost.toml");
    std::fs::write(
        &config,
        "queue = 9\nconcurrency = 3\npython_concurrency = 2\nbody_limit_bytes = 100000\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let server = scratch.start_with_env(
        &["--config", config, "--queue", "4"],
        &[
            ("ALGOHOST_QUEUE", "5"),
            ("ALGOHOST_BODY_LIMIT_BYTES", "2048"),
        ],
    );
    let banner = server.stdout.lock().unwrap().clone();
    assert!(
        banner.contains("3 worker(s) for Rust, 2 for Python, queue of 4 each"),
        "{banner}"
    );
    let data = scratch.path().join("data");
    assert!(
        banner.contains(&format!("  data:      {}\n", data.display())),
        "{banner}"
    );
    let plugins = banner
        .lines()
        .find(|l| l.starts_with("  plugins:   "))
        .unwrap();
    assert!(
        plugins.starts_with("  plugins:   1 builtin, ")
            && plugins.ends_with(" python algorithm(s)"),
        "{banner}"
    );

    let big = json!({"algorithm": "fails", "params": {"padding": "x".repeat(4096)}});
    let problem = server.post("/runs", &big).problem(413);
    assert!(
        problem["detail"].as_str().unwrap().contains("2048"),
        "{problem}"
    );
    let small = json!({"algorithm": "peak_shaving", "params": {"padding": "x".repeat(512)}});
    server.post("/runs", &small).problem(422);

    // A config file with a typo is refused with the key's name.
    std::fs::write(scratch.path().join("bad.toml"), "qeueu = 3\n").unwrap();
    let bad = scratch.path().join("bad.toml");
    let out = scratch
        .command(&["--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("qeueu"));
}

#[test]
fn prefer_wait_is_capped_below_the_request_timeout() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_REQUEST_TIMEOUT_SECS", "3")]);
    let started = Instant::now();
    // Prefer: wait is capped below the request timeout, so the wait ends
    // first and the run is still running: 202, not a timeout.
    let reply = server.send(
        server
            .req(Method::POST, "/runs")
            .header("prefer", "wait=60")
            .json(&json!({"algorithm": "waits_for_cancel"})),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    assert_eq!(reply.header("preference-applied"), Some("wait=2"));
    assert!(started.elapsed() < Duration::from_secs(30));
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    server.post(&format!("/runs/{id}/cancel"), &json!({}));
}
