//! The REST adapter: chains of adapters behind `algohost serve` (files →
//! serve → rest → serve → rest, postgres → serve → rest) against reading the same data
//! directly, errors of the remote (4xx with its detail, tokens, body
//! limit), and retries with backoff. The conformance suite runs it too
//! (`conformance::rest_files`, `conformance::rest_postgres`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use algohost::adapters::Adapter;
use algohost::adapters::copy::{CopyOptions, copy};
use algohost::adapters::files::FilesAdapter;
use algohost::adapters::postgres::PostgresAdapter;
use algohost::adapters::rest::{RestAdapter, RestOptions, TOKEN_ENV};
use algohost::registry::Registry;
use algohost::sdk::Error;
use algohost::sdk::data::{DataPointFilter, FlowFilter, Resolution, long_frame};
use algohost::server::config::parse_tokens;
use algohost::server::{self, ServerConfig, Settings};
use algohost::service::Service;
use algohost::store::sqlite::SqliteStore;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use tokio::sync::oneshot;

use crate::files_adapter::{rows, utc};
use crate::pg_server;
use crate::server::Scratch;

/// An `algohost serve` built in-process over an adapter, on 127.0.0.1:0;
/// stopped when dropped.
pub struct InProcess {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    _store: tempfile::TempDir,
}

/// Serves `adapter` with `settings` (tokens, limits) like `algohost serve`.
pub fn serve(adapter: Arc<dyn Adapter>, settings: Settings) -> InProcess {
    let store_dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::resolve(Settings {
        bind: Some("127.0.0.1:0".parse().unwrap()),
        store: Some(store_dir.path().join("runs.db")),
        concurrency: Some(1),
        ..settings
    })
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let (address, bound) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let store = SqliteStore::open(&config.store).unwrap();
            let service = Service::start(
                Arc::new(Registry::new()),
                adapter,
                Arc::new(store),
                config.service(),
            )
            .unwrap();
            let listener = tokio::net::TcpListener::bind(config.bind).await.unwrap();
            address.send(listener.local_addr().unwrap()).unwrap();
            let app = server::app(service, &config, Vec::new());
            let signal = async move {
                let _ = stopped.await;
            };
            server::serve(listener, app, Duration::from_secs(1), signal)
                .await
                .unwrap();
        });
    });
    let addr = bound.recv_timeout(Duration::from_secs(30)).unwrap();
    InProcess {
        url: format!("http://{addr}/"),
        stop: Some(stop),
        thread: Some(thread),
        _store: store_dir,
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Options without a token and with quick retries.
fn options() -> RestOptions {
    RestOptions {
        backoff: Duration::from_millis(10),
        ..RestOptions::default()
    }
}

fn with_token(token: &str) -> RestOptions {
    RestOptions {
        token: Some(token.to_owned()),
        ..options()
    }
}

/// Reads that cover every filter part, to compare two adapters by.
fn probes() -> Vec<DataPointFilter> {
    let february = (utc("2026-02-01T00:00:00Z"), utc("2026-02-08T00:00:00Z"));
    let dst = (utc("2026-03-28T00:00:00Z"), utc("2026-03-31T00:00:00Z"));
    vec![
        DataPointFilter::default(),
        DataPointFilter::default()
            .with_names(["site.load"])
            .with_range(february.0, february.1),
        DataPointFilter::default()
            .with_tag("site", "demo")
            .with_range(dst.0, dst.1)
            .with_resolution(Resolution::Seconds(3600)),
        DataPointFilter::default()
            .with_names(["site.pv", "market.day_ahead"])
            .with_range(dst.0, dst.1)
            .with_resolution(Resolution::Days(1)),
    ]
}

/// Asserts that `remote` shows exactly what `local` holds.
fn assert_same_data(local: &dyn Adapter, remote: &dyn Adapter) {
    let all = DataPointFilter::default();
    assert_eq!(
        remote.data_points(&all).unwrap(),
        local.data_points(&all).unwrap()
    );
    let flows = FlowFilter {
        from: Some("pv".into()),
        ..FlowFilter::default()
    };
    assert_eq!(remote.flows(&flows).unwrap(), local.flows(&flows).unwrap());
    for filter in probes() {
        let expected = rows(&local.read(&filter).unwrap());
        assert!(!expected.is_empty(), "{filter:?}");
        assert_eq!(rows(&remote.read(&filter).unwrap()), expected, "{filter:?}");
    }
}

#[test]
fn files_behind_serve_and_a_relay_read_and_write_the_same_through_rest() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let rest = RestAdapter::connect_with(&server.url, options()).unwrap();
    let files = FilesAdapter::open(scratch.path().join("data")).unwrap();
    assert_same_data(&files, &rest);
    // One more hop: a server whose adapter is the REST adapter (its
    // handlers call it on the blocking pool).
    let relay = serve(Arc::new(rest), Settings::default());
    let rest = RestAdapter::connect_with(&relay.url, options()).unwrap();
    assert_same_data(&files, &rest);

    let load = files.data_points(&DataPointFilter::default().with_names(["site.load"]));
    let id = load.unwrap()[0].id.0;
    let t = utc("2031-01-01T00:00:00Z").timestamp_micros();
    let frame = long_frame(
        vec![id, id],
        vec![t, t + 900_000_000],
        vec![Some(1.0), None],
    );
    rest.write(&frame.unwrap()).unwrap();
    let after = DataPointFilter {
        start: Some(utc("2031-01-01T00:00:00Z")),
        ..DataPointFilter::default()
    };
    assert_eq!(
        rows(&files.read(&after).unwrap()),
        [
            (id, "2031-01-01T00:00:00Z".into(), Some(1.0)),
            (id, "2031-01-01T00:15:00Z".into(), None),
        ]
    );
}

#[test]
fn postgres_behind_serve_reads_the_same_as_the_demo_files_through_rest() {
    let scratch = Scratch::new();
    let files = FilesAdapter::open(scratch.path().join("data")).unwrap();
    let database = pg_server::database("restchain");
    let postgres = PostgresAdapter::connect(&database.url).unwrap();
    copy(&files, &postgres, &CopyOptions::default(), &mut |_| {}).unwrap();
    let server = scratch.start_with_data(&database.url, &[]);
    let rest = RestAdapter::connect_with(&server.url, options()).unwrap();
    assert_same_data(&files, &rest);
    assert_same_data(&postgres, &rest);
}

#[test]
fn a_4xx_answer_is_an_error_with_the_servers_detail() {
    let files = crate::conformance::files();
    let served = serve(files.adapter.clone(), Settings::default());
    let rest = RestAdapter::connect_with(&served.url, options()).unwrap();
    let err = rest
        .read(&DataPointFilter::default().with_names(["nowhere"]))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    let message = err.to_string();
    for part in [
        "unknown data point name 'nowhere'",
        "there are no data points yet",
        "400 Bad Request for GET samples from the data API at http://127.0.0.1:",
    ] {
        assert!(message.contains(part), "{message}");
    }
}

#[test]
fn tokens_come_from_the_options_and_refusals_say_what_to_do() {
    let files = crate::conformance::files();
    let settings = Settings {
        tokens: Some(parse_tokens("reader-secret:read,runner-secret:run").unwrap()),
        ..Settings::default()
    };
    let served = serve(files.adapter.clone(), settings);

    let err = RestAdapter::connect_with(&served.url, options()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("needs a bearer token") && message.contains(TOKEN_ENV),
        "{message}"
    );
    let err = RestAdapter::connect_with(&served.url, with_token("guess")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("token was refused") && !message.contains("guess"),
        "{message}"
    );

    let reader = RestAdapter::connect_with(&served.url, with_token("reader-secret")).unwrap();
    let quarter = Resolution::Seconds(900);
    let point = algohost::sdk::data::DataPointConfig::new(
        "p",
        algohost::sdk::data::Quantity::Power,
        "kW",
        quarter,
    );
    let err = reader
        .define_data_points(std::slice::from_ref(&point))
        .unwrap_err();
    assert!(err.to_string().contains("scope 'run'"), "{err}");
    // A server reading through the reader token answers 502 with why,
    // not a bare 500.
    let relay = serve(Arc::new(reader), Settings::default());
    let answer = reqwest::blocking::Client::new()
        .post(format!("{}data-points", relay.url))
        .json(&serde_json::json!({"data_points": [
            {"name": "q", "quantity": "power", "unit": "kW", "resolution": "PT15M"}
        ]}))
        .send()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 502);
    let problem: serde_json::Value = answer.json().unwrap();
    assert_eq!(
        problem["type"], "urn:algohost:problem:bad-gateway",
        "{problem}"
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail
            .starts_with("the data source failed: the bearer token may not do this (403 Forbidden")
            && detail.contains("scope 'run'")
            && !detail.contains("reader-secret"),
        "{detail}"
    );
    let reader = RestAdapter::connect_with(&served.url, with_token("reader-secret")).unwrap();
    let runner = RestAdapter::connect_with(&served.url, with_token("runner-secret")).unwrap();
    let stored = runner.define_data_points(&[point]).unwrap();
    assert_eq!(
        reader.data_points(&DataPointFilter::default()).unwrap(),
        stored
    );
}

#[test]
fn a_write_over_the_body_limit_says_how_to_fit_it() {
    let files = crate::conformance::files();
    let settings = Settings {
        body_limit_bytes: Some(1024),
        ..Settings::default()
    };
    let served = serve(files.adapter.clone(), settings);
    let rest = RestAdapter::connect_with(&served.url, options()).unwrap();
    let point = algohost::sdk::data::DataPointConfig::new(
        "p",
        algohost::sdk::data::Quantity::Power,
        "kW",
        Resolution::Seconds(900),
    );
    let id = rest.define_data_points(&[point]).unwrap()[0].id.0;
    let ts: Vec<i64> = (0..1000).map(|i| i * 900_000_000).collect();
    let big = long_frame(vec![id; 1000], ts, vec![Some(1.0); 1000]).unwrap();
    let message = rest.write(&big).unwrap_err().to_string();
    assert!(
        message.starts_with("data: the write is larger than the body limit of the algohost at ")
            && message.contains("413")
            && message.contains("ALGOHOST_BODY_LIMIT_BYTES, or body_limit_bytes")
            && message.contains("--chunk-size"),
        "{message}"
    );
}

/// A stand-in server: answers 503 (with `Retry-After: 0`) to the first
/// `failures` requests, then an empty data point list. Counts requests.
fn flaky(failures: usize) -> (InProcessStub, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let handler = move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < failures {
                let problem = r#"{"type":"urn:algohost:problem:queue-full","title":"Busy","status":503,"detail":"busy, come back"}"#;
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [
                        ("content-type", "application/problem+json"),
                        ("retry-after", "0"),
                    ],
                    problem,
                )
                    .into_response()
            } else {
                (
                    [("content-type", "application/json")],
                    r#"{"data_points": []}"#,
                )
                    .into_response()
            }
        }
    };
    let router = axum::Router::new().route("/data-points", axum::routing::get(handler));
    (InProcessStub::start(router), count)
}

/// A bare axum router on 127.0.0.1:0 in a thread of its own.
struct InProcessStub {
    url: String,
    _runtime: tokio::runtime::Runtime,
}

impl InProcessStub {
    fn start(router: axum::Router) -> Self {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, router).await });
        Self {
            url,
            _runtime: runtime,
        }
    }
}

#[test]
fn a_503_is_retried_with_backoff_until_the_server_answers() {
    let (stub, count) = flaky(2);
    let rest = RestAdapter::connect_with(&stub.url, options()).unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3, "two 503s, then the answer");
    assert!(
        rest.data_points(&DataPointFilter::default())
            .unwrap()
            .is_empty()
    );

    let (stub, count) = flaky(usize::MAX);
    let started = Instant::now();
    let err = RestAdapter::connect_with(&format!("{}?retries=3", stub.url), options()).unwrap_err();
    assert_eq!(count.load(Ordering::SeqCst), 4, "one try and three retries");
    // Waits of 10, 20 and 40 ms.
    assert!(started.elapsed() >= Duration::from_millis(70));
    let message = err.to_string();
    assert!(
        message.contains("unavailable")
            && message.contains("4 attempt(s)")
            && message.contains("busy, come back"),
        "{message}"
    );
}

/// A stand-in server that reads each request and closes the connection
/// without answering the first `failures` times (as a server killed or
/// restarted mid-request does), then answers an empty data point list.
/// Counts requests.
fn hanging_up(failures: usize) -> (String, Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            if seen.fetch_add(1, Ordering::SeqCst) < failures {
                continue; // dropped: closed before an answer
            }
            let body = r#"{"data_points": []}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, count)
}

#[test]
fn a_connection_closed_before_the_answer_is_retried_then_says_so() {
    let (url, count) = hanging_up(2);
    let rest = RestAdapter::connect_with(&url, options()).unwrap();
    assert_eq!(
        count.load(Ordering::SeqCst),
        3,
        "two hang-ups, then the answer"
    );
    assert!(
        rest.data_points(&DataPointFilter::default())
            .unwrap()
            .is_empty()
    );

    let (url, count) = hanging_up(usize::MAX);
    let message = RestAdapter::connect_with(&format!("{url}?retries=1"), options())
        .unwrap_err()
        .to_string();
    assert_eq!(count.load(Ordering::SeqCst), 2, "one try and one retry");
    assert!(
        message.contains(&format!(
            "the data API at {url}/ closed the connection before answering GET data-points (2 \
             attempt(s); did it restart?)"
        )),
        "{message}"
    );
}

#[test]
fn connection_errors_are_retried_then_say_what_to_check() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RestAdapter::connect_with(&format!("http://127.0.0.1:{port}?retries=2"), options())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot connect to the data API")
            && err.contains("3 attempt(s)")
            && err.contains("algohost serve"),
        "{err}"
    );
}

#[test]
fn a_server_that_is_no_algohost_is_named_as_such() {
    let router = axum::Router::new().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            [("content-type", "text/html")],
            "<html>nginx</html>",
        )
    });
    let stub = InProcessStub::start(router);
    let err = RestAdapter::connect_with(&stub.url, options())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("404 Not Found") && err.contains("is this an algohost server?"),
        "{err}"
    );
}

#[test]
fn open_picks_rest_for_http_urls_and_explains_https() {
    let open_error = |spec: &str| match algohost::adapters::open(spec) {
        Ok(_) => panic!("{spec} opened"),
        Err(e) => e.to_string(),
    };
    let err = open_error("http://127.0.0.1:1?retries=0&connect_timeout=200ms");
    assert!(err.contains("cannot connect to the data API"), "{err}");
    if !cfg!(feature = "rest-tls") {
        let err = open_error("https://example.invalid");
        assert!(err.contains("--features rest-tls"), "{err}");
    }
}

#[test]
fn a_run_waiting_on_a_slow_data_point_list_stops_at_its_timeout() {
    // Answers the adapter's check at once, then takes 10 s for every list.
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let handler = move || {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        async move {
            if n > 0 {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            (
                [("content-type", "application/json")],
                r#"{"data_points": []}"#,
            )
                .into_response()
        }
    };
    let router = axum::Router::new().route("/data-points", axum::routing::get(handler));
    let stub = InProcessStub::start(router);
    let rest = RestAdapter::connect_with(&stub.url, options()).unwrap();
    let mut registry = Registry::new();
    algohost::sources::builtin::discover(&mut registry);
    let params = serde_json::json!({"names": ["site.load"], "resolution": "PT1H"});
    let mut request = crate::common::request_with("resample", params, Arc::new(rest));
    request.timeout = Some(Duration::from_millis(300));
    let run = algohost::runner::execute(&registry, request).unwrap().run;
    assert_eq!(run.status, algohost::runner::RunStatus::TimedOut);
    // The list was given up with the run: the plugin returned within the
    // grace, so it is not left running.
    assert_eq!(algohost::runner::abandoned_runs(), 0);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// A TLS-terminating proxy on 127.0.0.1:0 in front of `upstream`
/// (`host:port`), with the certificate `pg_server::certificates` wrote
/// into `dir`; returns its port. It lives as long as the test process.
fn tls_proxy(dir: &std::path::Path, upstream: String) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(dir.join("server.crt"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let (port, bound) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            port.send(listener.local_addr().unwrap().port()).unwrap();
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(mut client) = acceptor.accept(client).await else {
                        return;
                    };
                    let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
    });
    bound.recv_timeout(Duration::from_secs(30)).unwrap()
}

#[test]
fn an_algohost_behind_an_https_proxy_is_read_over_tls_and_its_certificate_verified() {
    let scratch = Scratch::new();
    let server = scratch.start(&[]);
    let tls = scratch.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    pg_server::certificates(&tls);
    let port = tls_proxy(&tls, server.url.trim_start_matches("http://").to_owned());
    let export = |ca: Option<&std::path::Path>, to: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_algohost"));
        command.args([
            "data",
            "export",
            "--from",
            &format!("https://127.0.0.1:{port}"),
            "--to",
            scratch.path().join(to).to_str().unwrap(),
            "--names",
            "site.load",
        ]);
        // The system's CAs, plus the test CA when given (as an operator
        // would add a private CA: rustls-native-certs reads SSL_CERT_FILE).
        if let Some(ca) = ca {
            command.env("SSL_CERT_FILE", ca);
        }
        command.output().unwrap()
    };
    let out = export(Some(&tls.join("ca.crt")), "copy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = FilesAdapter::open(scratch.path().join("data")).unwrap();
    let copy = FilesAdapter::open(scratch.path().join("copy")).unwrap();
    let load = DataPointFilter::default().with_names(["site.load"]);
    assert_eq!(
        rows(&copy.read(&load).unwrap()),
        rows(&files.read(&load).unwrap())
    );
    // A certificate no CA it trusts signed is refused, saying so.
    let out = export(None, "refused");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(stderr.contains("certificate"), "{stderr}");
}
