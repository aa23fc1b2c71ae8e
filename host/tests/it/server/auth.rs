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

    // The banner gives URLs a browser can open, and says where it listens.
    let server = scratch.start(&["--bind", "0.0.0.0:0", "--insecure"]);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let banner = server.stdout.lock().unwrap().clone();
    assert!(
        banner.contains(&format!(
            "\n  interfaces: all (0.0.0.0:{port}); other machines reach it at this machine's IP \
             address, port {port}\n  API docs:  http://127.0.0.1:{port}/docs\n"
        )),
        "{banner}"
    );
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn a_config_file_sets_json_logs_and_the_banner_shows_clean_paths_and_the_run_policy() {
    let scratch = Scratch::new();
    let etc = scratch.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(scratch.path().join("var")).unwrap();
    let config = etc.join("algohost.toml");
    std::fs::write(
        &config,
        "store = \"../var/runs.db\"\ndata = \"../data\"\nplugin_dir = [\"../plugins\"]\n\
         log_format = \"json\"\nlog = \"info\"\nrun_timeout_secs = 600\n\
         max_run_timeout_secs = 3600\nshutdown_grace_secs = 5\nkeep_days = 30\n",
    )
    .unwrap();
    // As a service manager starts it: elsewhere, with only the config file.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_algohost"));
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .current_dir("/");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ALGOHOST_") {
            command.env_remove(key);
        }
    }
    let server = super::Server::spawn(command);
    let real = std::fs::canonicalize(scratch.path()).unwrap();
    let banner = server.stdout.lock().unwrap().clone();
    for line in [
        format!(", store {}\n", real.join("var").join("runs.db").display()),
        format!("\n  data:      {}\n", real.join("data").display()),
        "\n  policy:    run timeout 600s by default, 3600s at most; shutdown grace 5s; runs \
         deleted 30 day(s) after they end\n"
            .to_owned(),
    ] {
        assert!(banner.contains(&line), "{line:?} not in\n{banner}");
    }
    // `plugin_dir`, the flag's name, is a key as `plugin_dirs` is.
    assert_eq!(server.get("/algorithms/peak_shaving").status, 200);

    let stderr = server.stderr.clone();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let logs = stderr.lock().unwrap().clone();
    let records: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{logs}")))
        .collect();
    assert!(
        records
            .iter()
            .any(|r| r["message"] == "algohost serve stopped" && r["level"] == "INFO"),
        "{logs}"
    );

    // A policy without timeouts or retention says so.
    let server = scratch.start(&[]);
    let banner = server.stdout.lock().unwrap().clone();
    assert!(
        banner
            .contains("\n  policy:    no run timeout by default, no maximum; shutdown grace 30s\n"),
        "{banner}"
    );
}

/// The 421 detail for a request addressed to `host` (the name `name`).
fn misdirected(host: &str, name: &str) -> String {
    format!(
        "this server has no tokens, so it answers only requests addressed to localhost, an IP \
         address or an allowed host name (a guard against DNS rebinding), not to '{host}'; to \
         serve this name, allow it (--allowed-host {name}, ALGOHOST_ALLOWED_HOSTS or \
         allowed_hosts in the config file; behind a reverse proxy, it may send Host: localhost \
         instead), or configure tokens (ALGOHOST_TOKENS=TOKEN:SCOPE or [[tokens]] in the config \
         file) and send Authorization: Bearer TOKEN"
    )
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
        misdirected(&format!("evil.example:{port}"), "evil.example")
    );
    for path in ["/data-points", "/metrics", "/no/such/route"] {
        server
            .send(with_host(Method::GET, path, "attacker.example"))
            .problem(421);
    }
    // The probes reveal nothing: a proxy's health checks pass whatever Host
    // it sends.
    for path in ["/health", "/ready"] {
        let probe = server.send(with_host(Method::GET, path, "attacker.example"));
        assert_eq!(probe.status, 200, "{path}: {}", probe.text());
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
    assert!(
        server.stdout.lock().unwrap().contains(
            "  hosts:     localhost, IP addresses only (--allowed-host NAME adds a name)\n"
        ),
        "{}",
        server.stdout.lock().unwrap()
    );

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
fn host_names_a_proxy_sends_are_answered_once_allowed() {
    let scratch = Scratch::new();
    let config = scratch.path().join("hosts.toml");
    std::fs::write(&config, "allowed_hosts = [\"from-file.example\"]\n").unwrap();
    let config = config.to_str().unwrap();
    // The variable beats the file, as for every setting.
    let server = scratch.start_with_env(
        &["--config", config],
        &[("ALGOHOST_ALLOWED_HOSTS", "algo,Algohost.Example.com")],
    );
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    let with_host = |server: &super::Server, path: &str, host: &str| {
        server.send(server.req(Method::GET, path).header("host", host))
    };
    for host in [
        "algo".to_owned(),
        format!("algo:{port}"),
        "algohost.example.com:443".to_owned(),
        "ALGOHOST.example.com".to_owned(),
    ] {
        let reply = with_host(&server, "/algorithms", &host);
        assert_eq!(reply.status, 200, "{host}: {}", reply.text());
    }
    for (host, name) in [
        ("from-file.example", "from-file.example"),
        ("algo.evil.example:80", "algo.evil.example"),
    ] {
        let problem = with_host(&server, "/algorithms", host).problem(421);
        assert_eq!(problem["detail"], misdirected(host, name));
    }
    let banner = server.stdout.lock().unwrap().clone();
    assert!(
        banner.contains("  hosts:     localhost, IP addresses and algo, algohost.example.com\n"),
        "{banner}"
    );

    // The flag (repeatable) beats both; the config file alone counts too.
    let server = scratch.start_with_env(
        &[
            "--config",
            config,
            "--allowed-host",
            "a.example",
            "--allowed-host",
            "b.example",
        ],
        &[("ALGOHOST_ALLOWED_HOSTS", "algo")],
    );
    for (host, status) in [("a.example", 200), ("b.example", 200), ("algo", 421)] {
        assert_eq!(with_host(&server, "/runs", host).status, status, "{host}");
    }
    let server = scratch.start(&["--config", config]);
    let reply = with_host(&server, "/runs", "from-file.example");
    assert_eq!(reply.status, 200, "{}", reply.text());

    let out = scratch
        .command(&["--allowed-host", "https://algo.example"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "allowed_hosts: 'https://algo.example' is not a host name (no scheme: leave out \
             http://)"
        ),
        "{stderr}"
    );
}

/// Sends `request` as written and checks the reply against the OpenAPI
/// document as [`super::Server::send`] does.
fn send_raw(server: &super::Server, path: &str, request: &str) -> super::Reply {
    let text = server.raw(request);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    let mut headers = reqwest::header::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            value.trim().parse().unwrap(),
        );
    }
    let reply = super::Reply {
        method: Method::GET,
        path: path.to_owned(),
        status,
        headers,
        body: body.as_bytes().to_vec(),
    };
    if let Err(e) = server.spec().check(&reply) {
        panic!("GET {path} → {status} does not match /openapi.json: {e}\n{text}");
    }
    reply
}

#[test]
fn an_http_1_1_request_names_one_host_and_an_absolute_target_s_host_is_the_one_checked() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let get = |target: &str, headers: &str| {
        let path = target.trim_start_matches("http://evil.example");
        let path = path.trim_start_matches("http://localhost");
        send_raw(
            &server,
            path,
            &format!("GET {target} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n"),
        )
    };
    let twice = get("/algorithms", "Host: 127.0.0.1\r\nHost: evil.example\r\n");
    assert_eq!(
        twice.problem(400)["detail"],
        "the request has 2 Host headers; an HTTP/1.1 request names its host in exactly one: \
         Host: NAME[:PORT] (RFC 9112 §3.2)"
    );
    let none = get("/algorithms", "");
    assert_eq!(
        none.problem(400)["detail"],
        "the request has no Host header; an HTTP/1.1 request names its host in exactly one: \
         Host: NAME[:PORT] (RFC 9112 §3.2)"
    );
    // An absolute target's authority is the host asked for, not Host.
    let absolute = get("http://evil.example/algorithms", "Host: 127.0.0.1\r\n");
    assert_eq!(
        absolute.problem(421)["detail"],
        misdirected("evil.example", "evil.example")
    );
    assert_eq!(
        get("http://localhost/algorithms", "Host: evil.example\r\n").status,
        200
    );
    assert_eq!(get("/algorithms", "Host: 127.0.0.1\r\n").status, 200);
    // HTTP/1.0 has no Host to require.
    let old = server.raw("GET /algorithms HTTP/1.0\r\n\r\n");
    assert!(old.starts_with("HTTP/1.0 200 "), "{old}");

    // With tokens too: the rule is HTTP's, not the guard's.
    let server = scratch.start_with_env(&[], &[("ALGOHOST_TOKENS", &format!("{READER}:read"))]);
    let twice = send_raw(
        &server,
        "/runs",
        &format!(
            "GET /runs HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nAuthorization: Bearer \
             {READER}\r\nConnection: close\r\n\r\n"
        ),
    );
    twice.problem(400);
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
