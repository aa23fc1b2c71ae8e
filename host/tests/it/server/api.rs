//! Reading endpoints, validation and errors: algorithms, plugins, probes,
//! metrics, docs, and the problem documents of bad requests.

use std::io::{ErrorKind, Read as _, Write as _};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Scratch, peak_params};

fn names(list: &Value) -> Vec<&str> {
    list["algorithms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect()
}

#[test]
fn algorithms_are_listed_filtered_and_described() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);

    let all = server.get("/algorithms").json();
    let all_names = names(&all);
    for name in [
        "peak_shaving",
        "echo_frames",
        "waits_for_cancel",
        "resample",
    ] {
        assert!(
            all_names.contains(&name),
            "{name} missing from {all_names:?}"
        );
    }
    let builtin = server.get("/algorithms?source=builtin").json();
    assert!(names(&builtin).contains(&"resample"));
    assert!(!names(&builtin).contains(&"peak_shaving"));
    let search = server.get("/algorithms?q=BATTERY").json();
    assert_eq!(names(&search), ["peak_shaving"]);
    server.get("/algorithms?source=cobol").problem(400);

    let peak = server.get("/algorithms/peak_shaving").json();
    assert_eq!(peak["version"], "0.1.0");
    assert_eq!(peak["source"]["kind"], "dylib");
    assert!(
        peak["source"]["path"]
            .as_str()
            .unwrap()
            .ends_with("libalgohost_plugin_peak_shaving.so")
    );
    assert!(peak["params_schema"]["properties"]["limit_kw"].is_object());
    assert_eq!(peak["outputs"][0]["name"], "schedule");
    assert_eq!(peak["idempotent"], true);

    let unknown = server.get("/algorithms/peak_shavin").problem(404);
    assert_eq!(unknown["close"], json!(["peak_shaving"]));
    assert!(
        unknown["detail"]
            .as_str()
            .unwrap()
            .contains("did you mean 'peak_shaving'"),
        "{unknown}"
    );
}

#[test]
fn validation_reports_every_error_with_its_pointer() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);

    let ok = server.post("/algorithms/peak_shaving/validate", &peak_params());
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["valid"], true);

    let bad =
        json!({"limit_kw": -5, "battery": {"capacity_kwh": "big", "power_kw": 10}, "colour": 1});
    let problem = server
        .post("/algorithms/peak_shaving/validate", &bad)
        .problem(422);
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["", "/battery/capacity_kwh", "/limit_kw"],
        "{problem}"
    );
    assert!(
        problem["errors"][2]["message"]
            .as_str()
            .unwrap()
            .contains("minimum")
    );

    // POST /runs refuses the same params with the same errors, before anything runs.
    let run = server
        .post(
            "/runs",
            &json!({"algorithm": "peak_shaving", "params": bad}),
        )
        .problem(422);
    assert_eq!(run["errors"], problem["errors"]);
    let unknown = server
        .post("/runs", &json!({"algorithm": "peak_shavng", "params": {}}))
        .problem(404);
    assert_eq!(unknown["close"], json!(["peak_shaving"]));
    server
        .post("/algorithms/nope/validate", &json!({}))
        .problem(404);
}

#[test]
fn a_problem_cuts_long_names_from_the_request_short() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let name = "x".repeat(200_000);
    let (kept, cut) = (format!("{}…", "x".repeat(98)), "x".repeat(101));

    let mut params = peak_params();
    params[&name] = json!(1);
    let body = json!({"algorithm": "peak_shaving", "params": params});
    let reply = server.post("/runs", &body);
    let problem = reply.problem(422);
    assert!(reply.body.len() < 2_000, "{} bytes", reply.body.len());
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&kept) && !message.contains(&cut),
        "{message}"
    );

    let mut body = body;
    body[&name] = json!(1);
    let reply = server.post("/runs", &body);
    let detail = reply.problem(400)["detail"].as_str().unwrap().to_owned();
    assert!(reply.body.len() < 2_000, "{} bytes", reply.body.len());
    assert!(
        detail.contains(&format!("unknown field '{}…'", "x".repeat(99))),
        "{detail}"
    );
}

#[test]
fn malformed_requests_get_problems_that_say_what_is_wrong() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);

    // What is not JSON says so (not that it is a number).
    for (body, expected) in [
        (
            "{\"algorithm\": ",
            "the body is not valid JSON: EOF while parsing a value at line 1 column 14",
        ),
        (
            "hello",
            "the body is not valid JSON: expected value at line 1 column 1",
        ),
        // Two values, or one and something else: which would count?
        (
            "{\"algorithm\": \"fails\"} {\"algorithm\": \"resample\"}",
            "the body is not valid JSON: trailing characters at line 1 column 24",
        ),
        // A key twice: which would count?
        (
            "{\"algorithm\": \"fails\", \"params\": {\"a\": [{\"b\": 1, \"b\": 2}]}}",
            "the body gives the key 'b' twice in the object at params.a[0]; give each key of an \
             object once",
        ),
    ] {
        let syntax = server
            .send(
                server
                    .req(Method::POST, "/runs")
                    .header("content-type", "application/json")
                    .body(body),
            )
            .problem(400);
        assert_eq!(syntax["detail"], expected);
    }
    let typo = server
        .post("/runs", &json!({"algorithm": "fails", "param": {}}))
        .problem(400);
    assert!(typo["detail"].as_str().unwrap().contains("param"), "{typo}");
    // A body that is not a JSON object says what the object holds.
    for (path, body, expected) in [
        (
            "/runs",
            json!(["resample", {}, null]),
            "the body must be a JSON object with the fields algorithm (required), params (an \
             object) and timeout (seconds), not an array",
        ),
        (
            "/runs",
            json!([]),
            "the body must be a JSON object with the fields algorithm (required), params (an \
             object) and timeout (seconds), not an array",
        ),
        (
            "/runs",
            json!("resample"),
            "the body must be a JSON object with the fields algorithm (required), params (an \
             object) and timeout (seconds), not a string",
        ),
        (
            "/data-points",
            json!([{"name": "x", "quantity": "power", "resolution": "PT1H"}]),
            "the body must be a JSON object with the fields data_points (required): an array of \
             {name, quantity, resolution, …}, not an array",
        ),
    ] {
        let bad = server.post(path, &body).problem(400);
        assert_eq!(bad["detail"], expected, "{path} {body}");
    }
    let vendor_json = server.send(
        server
            .req(Method::POST, "/runs")
            .header("content-type", "application/vnd.api+json")
            .body(r#"{"algorithm": "fails"}"#),
    );
    assert_eq!(vendor_json.status, 202, "{}", vendor_json.text());
    let no_type = server
        .send(server.req(Method::POST, "/runs").body("{}"))
        .problem(415);
    assert!(
        no_type["detail"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    for (given, shown) in [(json!(-1), "-1"), (json!(1e19), "1e19")] {
        let timeout = server
            .post("/runs", &json!({"algorithm": "fails", "timeout": given}))
            .problem(400);
        assert_eq!(
            timeout["detail"],
            format!(
                "timeout must be a number of seconds from 0.001 to 2592000 (30 days), got {shown}"
            )
        );
    }
    // Said in the API's words, not the framework's.
    assert_eq!(
        server.get("/runs/not-a-uuid").problem(400)["detail"],
        "the id 'not-a-uuid' in the path is not a UUID, such as \
         0193b5e2-6c1d-7e4a-9f10-2b3c4d5e6f70 (as POST /runs answers it)"
    );
    assert_eq!(
        server.get("/data-points/one").problem(400)["detail"],
        "the id 'one' in the path is not a whole number"
    );
    let misnamed = server.post("/runs", &json!({"name": "resample", "params": {}}));
    assert_eq!(
        misnamed.problem(400)["detail"],
        "the body: unknown field 'name', expected one of 'algorithm', 'params', 'timeout'"
    );
    // An unknown query parameter is a mistake to show, not to ignore.
    let cursor = server.get("/runs?cursor=abc").problem(400);
    assert_eq!(
        cursor["detail"],
        "query parameter cursor: unknown field 'cursor', expected one of 'status', \
         'algorithm', 'limit', 'before'"
    );
    server.get("/algorithms?name=resample").problem(400);
    for path in ["/algorithms/resample?version=1", "/data-points/1?verbose"] {
        let bad = server.get(path).problem(400);
        assert!(
            bad["detail"]
                .as_str()
                .unwrap()
                .ends_with("; this endpoint takes none"),
            "{path}: {bad}"
        );
    }
    server
        .get("/runs/01890a5d-ac96-774b-bcce-b302099a8057")
        .problem(404);
    let route = server.get("/no/such/route").problem(404);
    assert!(route["detail"].as_str().unwrap().contains("/no/such/route"));
    let delete = server.send(server.req(Method::DELETE, "/runs"));
    assert_eq!(delete.header("allow"), Some("POST,GET,HEAD"));
    assert_eq!(
        delete.problem(405)["detail"],
        "DELETE is not allowed on /runs; the Allow header lists the methods it takes"
    );
}

#[test]
fn probes_plugins_metrics_and_docs_answer() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);

    let health = server.send(
        server
            .req(Method::GET, "/health")
            .header("x-request-id", "probe-42"),
    );
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.header("x-request-id"), Some("probe-42"));
    assert!(
        server.get("/ready").header("x-request-id").is_some(),
        "every response carries a request id"
    );
    assert_eq!(server.get("/ready").json()["status"], "ready");

    let plugins = server.get("/plugins").json();
    assert!(
        plugins["sources"]["dylib"].as_u64().unwrap() >= 5,
        "{plugins}"
    );
    assert!(plugins["sources"]["builtin"].as_u64().unwrap() >= 1);
    assert!(
        plugins["plugin_dirs"][0]
            .as_str()
            .unwrap()
            .ends_with("plugins")
    );
    assert_eq!(plugins["diagnostics"], json!([]));

    let run = server.post("/runs", &json!({"algorithm": "fails", "params": {}}));
    let id = run.json()["id"].as_str().unwrap().to_owned();
    server.wait_for(&id, |s| s == "failed");
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    let text = metrics.text();
    for needle in [
        "algohost_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"} 1",
        "algohost_queue_depth 0",
        "algohost_runs_finished_total{status=\"failed\"} 1",
        "algohost_run_duration_seconds_count 1",
        "algohost_http_request_duration_seconds_bucket",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }

    let docs = server.get("/docs");
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("/openapi.json") || docs.text().contains("openapi"));
    // Never sniffed into another type, never framed by another site.
    for reply in [&docs, &server.get("/health")] {
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    }
    let spec = server.get("/openapi.json").json();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));

    // How each run ended is a line of the server log.
    assert!(
        server.logs().lines().any(|l| l.contains(" WARN ")
            && l.contains("run ended")
            && l.contains(&format!("run_id={id}"))
            && l.contains("algorithm=fails status=failed")
            && l.contains("error_kind=")),
        "{}",
        server.logs()
    );
    // The request that made a run names it.
    assert!(
        server
            .logs()
            .lines()
            .any(|l| l.contains("method=POST uri=/runs")
                && l.contains(&format!("run_id={id}"))
                && l.contains("finished processing request")),
        "{}",
        server.logs()
    );
    // Every log line of a request names its id.
    assert!(
        server
            .logs()
            .lines()
            .any(|l| l.contains("probe-42") && l.contains("/health")),
        "{}",
        server.logs()
    );
}

#[test]
fn a_client_request_id_is_kept_only_when_short_and_plain() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let with_id = |id: &str| {
        server
            .send(
                server
                    .req(Method::GET, "/health")
                    .header("x-request-id", id),
            )
            .header("x-request-id")
            .unwrap()
            .to_owned()
    };
    let plain = "lb-01:req_7.a-B";
    assert_eq!(with_id(plain), plain);
    let long = "a".repeat(128);
    assert_eq!(with_id(&long), long);

    let forged = "x}: tower_http::trace::on_response: finished processing request status=200 FAKE";
    for unsafe_id in [
        forged,
        &"a".repeat(129),
        &"b".repeat(6000),
        "two words",
        "a{b}",
    ] {
        let given = with_id(unsafe_id);
        assert!(
            uuid::Uuid::parse_str(&given).is_ok(),
            "{unsafe_id:?} was answered with {given:?}, not an id of the server's own"
        );
    }
    let logs = server.logs();
    assert!(!logs.contains("FAKE"), "{logs}");
    assert!(!logs.contains(&"b".repeat(200)), "{logs}");
    assert!(
        logs.lines()
            .any(|l| l.contains(plain) && l.contains("/health")),
        "{logs}"
    );
}

#[test]
fn made_up_methods_are_counted_as_other_in_metrics() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    for method in ["M00001X", "M00002X", "BREW"] {
        let response = server.raw(&format!(
            "{method} /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        ));
        assert!(response.starts_with("HTTP/1.1 405"), "{response}");
    }
    server.raw("PROPFIND /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    server.send(server.req(Method::DELETE, "/runs"));

    let text = server.get("/metrics").text();
    for needle in [
        "algohost_http_requests_total{method=\"other\",route=\"/health\",status=\"405\"} 3",
        "algohost_http_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1",
        "algohost_http_requests_total{method=\"DELETE\",route=\"/runs\",status=\"405\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    for made_up in ["M00001X", "M00002X", "BREW", "PROPFIND"] {
        assert!(!text.contains(made_up), "{made_up} is a label in\n{text}");
    }
}

#[test]
fn the_openapi_document_describes_every_operation_and_error_shape() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let spec = server.spec().doc().clone();
    let expected = [
        ("get", "/health"),
        ("get", "/ready"),
        ("get", "/algorithms"),
        ("get", "/algorithms/{name}"),
        ("post", "/algorithms/{name}/validate"),
        ("post", "/runs"),
        ("get", "/runs"),
        ("get", "/runs/{id}"),
        ("get", "/runs/{id}/events"),
        ("get", "/runs/{id}/outputs/{frame}"),
        ("post", "/runs/{id}/cancel"),
        ("get", "/plugins"),
        ("get", "/data-points"),
        ("get", "/data-points/{id}"),
        ("get", "/data-points/{id}/samples"),
        ("post", "/data-points/{id}/samples"),
        ("post", "/data-points"),
        ("get", "/flows"),
        ("get", "/samples"),
        ("post", "/samples"),
        ("get", "/metrics"),
    ];
    for (method, path) in expected {
        let op = &spec["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not in the spec");
        assert!(op["security"].is_array(), "{method} {path} has no security");
        assert!(op["responses"]["500"].is_object(), "{method} {path}");
        if path != "/health" && path != "/ready" {
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
            assert!(op["responses"]["403"].is_object(), "{method} {path}");
        }
    }
    let mut refs = Vec::new();
    collect_refs(&spec, &mut refs);
    for r in refs {
        let target = r.strip_prefix("#").and_then(|p| spec.pointer(p));
        assert!(target.is_some(), "{r} does not resolve in the spec");
    }
    // The range every front door takes for a run's timeout.
    let timeout = &spec["components"]["schemas"]["SubmitRun"]["properties"]["timeout"];
    assert_eq!(
        (&timeout["minimum"], &timeout["maximum"]),
        (&json!(0.001), &json!(2592000)),
        "{timeout}"
    );
    let problem = &spec["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "errors", "close"] {
        assert!(problem["properties"][field].is_object(), "Problem.{field}");
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Fields every run answer has (null when empty) are required, so that
    // a generated client types them as `T | null`, not also undefined.
    let required = &spec["components"]["schemas"]["RunView"]["required"];
    for field in ["timeout", "started_at", "finished_at", "error", "summary"] {
        assert!(
            required.as_array().unwrap().contains(&json!(field)),
            "{field} not in {required}"
        );
    }
    let runs = &spec["paths"]["/runs"]["post"]["responses"];
    assert!(runs["503"]["headers"]["Retry-After"].is_object());
    for status in ["200", "202"] {
        assert!(
            runs[status]["headers"]["Preference-Applied"].is_object(),
            "{status}: {}",
            runs[status]
        );
    }
    assert!(
        runs["422"]["content"]["application/problem+json"].is_object(),
        "{runs}"
    );
}

/// Every `$ref` in a JSON document.
fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn encoded_bodies_are_refused_not_read_as_plain() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let run = br#"{"algorithm": "fails"}"#;
    // gzip of the same JSON: refused before it is parsed.
    let gzip = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\x56\x4a\xcc\x49\xcf";
    for (path, content_type, encoding, body) in [
        ("/runs", "application/json", "gzip", gzip.to_vec()),
        // Labelled br but plain: still not read as if it were not encoded.
        ("/runs", "application/json", "br", run.to_vec()),
        (
            "/algorithms/resample/validate",
            "application/json",
            "deflate",
            run.to_vec(),
        ),
        (
            "/samples",
            "application/vnd.apache.arrow.stream",
            "gzip",
            gzip.to_vec(),
        ),
        (
            "/data-points/1/samples",
            "application/json",
            "gzip, identity",
            gzip.to_vec(),
        ),
    ] {
        let refused = server
            .send(
                server
                    .req(Method::POST, path)
                    .header("content-type", content_type)
                    .header("content-encoding", encoding)
                    .body(body),
            )
            .problem(415);
        let shown = encoding.trim_end_matches(", identity");
        assert_eq!(
            refused["detail"],
            format!("Content-Encoding {shown} is not supported; send the body uncompressed"),
            "{path}"
        );
    }
    // identity is no encoding.
    let plain = server.send(
        server
            .req(Method::POST, "/runs")
            .header("content-type", "application/json")
            .header("content-encoding", "identity")
            .body(run.to_vec()),
    );
    assert_eq!(plain.status, 202, "{}", plain.text());
}

#[test]
fn a_client_slow_to_send_its_request_head_is_disconnected_at_the_request_timeout() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_REQUEST_TIMEOUT_SECS", "1")]);
    let address = server.url.trim_start_matches("http://").to_owned();
    let connect = || {
        let stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    };
    // Reads until the server closes the connection; how long that took.
    let closed_after = |mut stream: std::net::TcpStream, started: Instant| {
        let mut rest = Vec::new();
        // An end, or a reset (the slow client was still writing).
        if let Err(e) = stream.read_to_end(&mut rest) {
            assert!(
                !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "the connection was held for {:?}",
                started.elapsed()
            );
        }
        started.elapsed()
    };
    // A slowloris client: a head that never ends, one header at a time.
    let started = Instant::now();
    let mut slow = connect();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let trickle = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            while started.elapsed() < Duration::from_secs(20)
                && slow.write_all(b"X-Slow: y\r\n").is_ok()
            {
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    // A connection that says nothing, and one idle after its request.
    let silent = connect();
    let mut idle = connect();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    // Meanwhile the server answers others.
    assert_eq!(server.get("/health").status, 200);
    for (what, stream) in [("slow", slow), ("silent", silent), ("idle", idle)] {
        let after = closed_after(stream, started);
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(15),
            "the {what} connection was closed after {after:?}"
        );
    }
    trickle.join().unwrap();
    assert_eq!(server.get("/health").status, 200);
}

/// A connection of its own to `server`, for requests sent by hand.
fn raw_connection(server: &super::Server) -> std::net::TcpStream {
    let address = server.url.trim_start_matches("http://");
    let stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// The answer on `stream` up to the end of its JSON body (the connection
/// may stay open), as its head (lower case) and its body.
fn read_json_answer(stream: &mut std::net::TcpStream) -> (String, Value) {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while !answer.ends_with(b"}") {
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0, "closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&chunk[..read]);
    }
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap(),
    )
}

#[test]
fn a_body_that_never_arrives_is_answered_408_at_the_request_timeout() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_REQUEST_TIMEOUT_SECS", "1")]);
    let mut stream = raw_connection(&server);
    // A head announcing 100 bytes, then only the first few of them.
    stream
        .write_all(
            b"POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"algorithm\":",
        )
        .unwrap();
    let (head, problem) = read_json_answer(&mut stream);
    assert!(head.starts_with("http/1.1 408 "), "{head}");
    assert!(
        head.contains("content-type: application/problem+json"),
        "{head}"
    );
    assert_eq!(problem["status"], 408);
    assert_eq!(problem["title"], "Request body timed out");
    assert_eq!(
        problem["detail"],
        "the request body had not all arrived after 1s (the server's request timeout); send \
         the whole body without pausing"
    );
    assert!(head.contains("\r\nconnection: close"), "{head}");
    // The server answers others meanwhile and after.
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn a_waited_run_whose_body_came_slowly_is_answered_with_the_run_before_the_request_timeout() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_REQUEST_TIMEOUT_SECS", "3")]);
    let mut stream = raw_connection(&server);
    let body = json!({"algorithm": "waits_for_cancel", "params": {}}).to_string();
    write!(
        stream,
        "POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Prefer: wait=2\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    // The body takes 1.8 of the request's 3 seconds to arrive: the wait
    // asked for no longer fits in what is left.
    let (first, rest) = body.split_at(body.len() / 2);
    stream.write_all(first.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(1_800));
    stream.write_all(rest.as_bytes()).unwrap();
    let (head, run) = read_json_answer(&mut stream);
    // The run, not a timeout that would hide it from its client.
    assert!(head.starts_with("http/1.1 202 "), "{head}");
    assert!(head.contains("\r\npreference-applied: wait=0"), "{head}");
    let id = run["id"].as_str().unwrap();
    assert!(
        head.contains(&format!("\r\nlocation: /runs/{id}")),
        "{head}"
    );
    server.post(&format!("/runs/{id}/cancel"), &json!({}));
}

#[test]
fn logs_are_one_json_object_per_line_when_asked() {
    let scratch = Scratch::new();
    let server = scratch.start_with_env(&[], &[("ALGOHOST_LOG_FORMAT", "json")]);
    let run = server.post("/runs", &json!({"algorithm": "fails", "params": {}}));
    let id = run.json()["id"].as_str().unwrap().to_owned();
    server.wait_for(&id, |s| s == "failed");
    let logs = server.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["message"] == "run ended"
            && l["run_id"] == id.as_str()),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["uri"] == "/runs" && l["span"]["run_id"] == id.as_str()),
        "{logs}"
    );
}

#[test]
fn a_request_whose_client_goes_away_before_the_answer_is_still_logged_with_its_id() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let address = server.url.trim_start_matches("http://");
    let body = json!({"algorithm": "waits_for_cancel", "params": {}}).to_string();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nPrefer: \
         wait=60\r\nX-Request-Id: gone-away-1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Waiting for its run to end, as a proxy would, until it gives up.
    let deadline = Instant::now() + Duration::from_secs(30);
    let running = loop {
        let runs = server.get("/runs?status=running").json();
        if let Some(id) = runs["runs"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(Instant::now() < deadline, "{runs}");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stream);

    let line = loop {
        let logs = server.logs();
        let gone = logs.lines().find(|l| {
            l.contains("id=gone-away-1") && l.contains("the client went away before the response")
        });
        if let Some(line) = gone {
            break line.to_owned();
        }
        assert!(Instant::now() < deadline, "{logs}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(line.contains("uri=/runs"), "{line}");
    assert!(line.contains("latency_ms="), "{line}");
    // The run goes on, and can be cancelled.
    server.post(&format!("/runs/{running}/cancel"), &json!({}));
    server.wait_for(&running, |s| s == "cancelled");
}
