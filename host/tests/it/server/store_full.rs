//! A run store that cannot be written, as a client sees it: 503 with
//! Retry-After and the cause, never the id of a run the store does not
//! have; `/ready` answers 503 until the store takes writes again.
//!
//! The server runs in this process, so that the test can fill its store:
//! [`SqliteStore::limit_size`] caps the file (SQLite's `max_page_count`),
//! and a write that needs more room fails with "database or disk is full",
//! as on a full disk.

use std::sync::Arc;
use std::time::{Duration, Instant};

use algohost::adapters::NoData;
use algohost::registry::Registry;
use algohost::server::{self, ServerConfig, Settings};
use algohost::service::Service;
use algohost::sources::builtin;
use algohost::store::sqlite::SqliteStore;
use algohost_sdk::prelude::{Context, Deserialize, JsonSchema, Output, algorithm};
use reqwest::Method;
use reqwest::blocking::{Client, RequestBuilder};
use serde_json::{Value, json};

use super::Reply;
use super::spec::Spec;

#[derive(Deserialize, JsonSchema)]
struct Padded {
    /// Text that only makes the run's record larger.
    padding: String,
}

/// Ends at once; its params make its record as large as asked.
#[algorithm(name = "test_padded", version = "1.0.0")]
fn test_padded(_ctx: &Context, p: Padded) -> algohost_sdk::Result<Output> {
    Ok(Output::new().with_summary(json!({"bytes": p.padding.len()})))
}

/// `algohost serve` on a store of this test's, in this process.
struct InProcess {
    url: String,
    store: Arc<SqliteStore>,
    client: Client,
    spec: Spec,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl InProcess {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            bind: Some("127.0.0.1:0".parse().unwrap()),
            concurrency: Some(2),
            ..Settings::default()
        };
        let config = ServerConfig::resolve(settings).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (url, store) = runtime.block_on(async {
            let (service, store) = service_on(dir.path(), &config);
            let app = server::app(service, &config, Vec::new());
            let listener = tokio::net::TcpListener::bind(config.bind).await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(server::serve(
                listener,
                app,
                Duration::from_secs(1),
                std::future::pending(),
            ));
            (url, store)
        });
        let client = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let spec = client
            .get(format!("{url}/openapi.json"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        Self {
            url,
            store,
            client,
            spec: Spec::new(spec),
            _runtime: runtime,
            _dir: dir,
        }
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// Sends a request and checks the reply against `/openapi.json`.
    fn send(&self, request: RequestBuilder) -> Reply {
        let request = request.build().unwrap();
        let method = request.method().clone();
        let response = self.client.execute(request).unwrap();
        let reply = Reply {
            method,
            path: response.url().path().to_owned(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().unwrap().to_vec(),
        };
        if let Err(e) = self.spec.check(&reply) {
            panic!("{} {} → {}: {e}", reply.method, reply.path, reply.status);
        }
        reply
    }

    fn get(&self, path: &str) -> Reply {
        self.send(self.req(Method::GET, path))
    }

    fn post_run(&self, body: &Value, wait: bool) -> Reply {
        let request = self.req(Method::POST, "/runs").json(body);
        let request = if wait {
            request.header("prefer", "wait=20")
        } else {
            request
        };
        self.send(request)
    }

    fn run_ids(&self) -> Vec<String> {
        let runs = self.get("/runs").json();
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A run whose params (and so its record) need more room than a full
/// store has.
fn large_run() -> Value {
    json!({"algorithm": "test_padded", "params": {"padding": "x".repeat(200_000)}})
}

/// Asserts a 503 that says the store cannot be written, and why.
fn assert_unwritable(reply: &Reply) -> String {
    let detail = reply.unavailable("store-unwritable", "10");
    assert!(
        detail.starts_with("the run store cannot be written: ")
            && detail.contains("database or disk is full")
            && detail.ends_with(
                "; try again later (the server's operator has to free space on the store's disk \
                 or make it writable)"
            ),
        "{detail}"
    );
    detail
}

#[test]
fn a_full_store_answers_503_hands_out_no_run_id_and_is_not_ready_until_it_takes_writes() {
    let server = InProcess::start();
    let stored = server.post_run(
        &json!({"algorithm": "test_steps", "params": {"steps": 1}}),
        true,
    );
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(server.get("/ready").status, 200);
    let before = server.run_ids();

    server.store.limit_size(0).unwrap();
    // Waited for: the run ran, but the client gets no id the store lacks.
    let ran = server.post_run(&large_run(), true);
    let detail = assert_unwritable(&ran);
    assert!(
        detail.contains("the run of 'test_padded' ended succeeded but could not be stored"),
        "{detail}"
    );
    // The store is known to be full now: a new run is refused before it
    // runs (it would be thrown away), waited for or not.
    let finished = |server: &InProcess| {
        let metrics = server.get("/metrics").text();
        metrics
            .lines()
            .filter(|l| l.starts_with("algohost_runs_finished_total"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let finished_before = finished(&server);
    for wait in [false, true] {
        let refused = server.post_run(&large_run(), wait);
        let detail = assert_unwritable(&refused);
        assert!(detail.contains("inserting a run"), "{detail}");
    }
    assert_eq!(finished(&server), finished_before, "a refused run ran");
    assert_eq!(
        server.run_ids(),
        before,
        "a run the client was refused is listed"
    );

    let ready = server.get("/ready");
    assert_unwritable(&ready);
    // Reads go on.
    assert_eq!(server.get(&format!("/runs/{}", before[0])).status, 200);

    // Room again: /ready finds out by itself, and runs are taken.
    server.store.limit_size(1 << 30).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get("/ready").status != 200 {
        assert!(
            Instant::now() < deadline,
            "/ready stayed 503 with room in the store"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let taken = server.post_run(&large_run(), false);
    assert_eq!(taken.status, 202);
    let id = taken.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(server.get(&format!("/runs/{id}")).status, 200);
}

/// Opens [`test_gated`]'s gate.
static GATE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[derive(Deserialize, JsonSchema)]
struct Gated {
    /// Rows of the output frame.
    rows: usize,
}

/// Waits for [`GATE`], then returns a frame of `rows` values that do not
/// compress.
#[algorithm(name = "test_gated", version = "1.0.0", outputs = ["values: v"])]
fn test_gated(ctx: &Context, p: Gated) -> algohost_sdk::Result<Output> {
    while !GATE.load(std::sync::atomic::Ordering::SeqCst) {
        ctx.check()?;
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let values: Vec<f64> = (0..p.rows)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as f64
        })
        .collect();
    let frame = polars::prelude::DataFrame::new_infer_height(vec![polars::prelude::Column::new(
        "v".into(),
        values,
    )])?;
    Ok(Output::new()
        .with_summary(json!({"rows": p.rows}))
        .with_frame("values", frame))
}

#[test]
fn a_run_that_ends_while_the_store_is_full_keeps_its_result_until_the_store_takes_it() {
    use algohost::store::{Logs, Store};

    let server = InProcess::start();
    let rows = 100_000;
    let submitted = server.post_run(
        &json!({"algorithm": "test_gated", "params": {"rows": rows}}),
        false,
    );
    assert_eq!(submitted.status, 202, "{}", submitted.text());
    let id = submitted.json()["id"].as_str().unwrap().to_owned();
    let uuid: uuid::Uuid = id.parse().unwrap();
    let stored_status = || {
        let run = server.store.read(uuid, Logs::All).unwrap().unwrap();
        (run.status.to_string(), run)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored_status().0 != "running" {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The disk fills while it runs; then it ends, with 800 kB of output.
    server.store.limit_size(0).unwrap();
    GATE.store(true, std::sync::atomic::Ordering::SeqCst);
    let run = loop {
        let run = server.get(&format!("/runs/{id}")).json();
        if run["status"] != "running" {
            break run;
        }
        assert!(Instant::now() < deadline, "the run never ended");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Its result is served, from memory, and its log says why.
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["summary"], json!({"rows": rows}));
    let kept = run["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["level"] == "warn")
        .unwrap_or_else(|| panic!("no warning in {run}"));
    assert!(
        kept["message"]
            .as_str()
            .unwrap()
            .starts_with("the run store cannot be written now (its disk may be full): this run's end and outputs are kept in memory"),
        "{kept}"
    );
    let csv = server.send(
        server
            .req(Method::GET, &format!("/runs/{id}/outputs/values"))
            .header("accept", "text/csv"),
    );
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(csv.text().lines().count(), rows + 1);
    // Counted for the operator.
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("\nalgohost_runs_kept 1\n"), "{metrics}");
    // Listed as it is too.
    let listed = server.get("/runs").json();
    let entry = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(entry["status"], "succeeded", "{listed}");
    // The store has not got it yet.
    assert_eq!(stored_status().0, "running");
    assert_unwritable(&server.get("/ready"));
    // Nor can it delete it yet: the store cannot be written (not "cancel it
    // first": it has ended).
    let delete = server.send(server.req(Method::DELETE, &format!("/runs/{id}")));
    let detail = delete.unavailable("store-unwritable", "10");
    assert!(
        detail.contains(&format!(
            "run {id} ended, but the store could not take its end yet (its disk may be full); \
             it can be deleted once it has"
        )),
        "{detail}"
    );

    // Room again: the end and its frame are written, as computed.
    server.store.limit_size(1 << 30).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, stored) = loop {
        let (status, stored) = stored_status();
        if status != "running" {
            break (status, stored);
        }
        assert!(Instant::now() < deadline, "the kept end was never written");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status, "succeeded");
    assert_eq!(stored.summary, json!({"rows": rows}));
    assert!(
        stored
            .logs
            .iter()
            .any(|r| r.message.starts_with("the run store cannot be written now")),
        "{:?}",
        stored.logs
    );
    // Its log says so too, soon after.
    let stored_after_all = || {
        stored_status().1.logs.iter().any(|r| {
            r.level == "info"
                && r.message == "the run store took this run's end and outputs after all"
        })
    };
    while !stored_after_all() {
        assert!(Instant::now() < deadline, "{:?}", stored_status().1.logs);
        std::thread::sleep(Duration::from_millis(50));
    }
    let frame = server.store.frame(uuid, "values").unwrap().unwrap();
    assert_eq!(frame.height(), rows);
    let metrics = server.get("/metrics").text();
    assert!(metrics.contains("\nalgohost_runs_kept 0\n"), "{metrics}");
    let again = server.send(
        server
            .req(Method::GET, &format!("/runs/{id}/outputs/values"))
            .header("accept", "text/csv"),
    );
    assert_eq!(again.body, csv.body);
}

/// A service with `config`'s settings on a store of its own in `dir`, as
/// `algohost serve` starts it.
fn service_on(dir: &std::path::Path, config: &ServerConfig) -> (Arc<Service>, Arc<SqliteStore>) {
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    let store = Arc::new(SqliteStore::open(dir.join("runs.db")).unwrap());
    let service = Service::start(
        Arc::new(registry),
        Arc::new(NoData),
        store.clone(),
        config.service(),
    )
    .unwrap();
    (service, store)
}

/// Whether the store has run `id` as running.
fn is_stored_running(store: &SqliteStore, id: uuid::Uuid) -> bool {
    use algohost::store::{Logs, Store};
    let run = store.read(id, Logs::None).unwrap().unwrap();
    run.status == algohost::runner::RunStatus::Running
}

/// Starts a [`test_gated`] run of 50 000 rows, fills the store once it
/// runs, and lets it end: its end is kept, not stored. Returns its id.
async fn end_on_a_full_store(service: &Service, store: &SqliteStore) -> uuid::Uuid {
    use algohost::runner::RunStatus;
    use algohost::service::Submit;

    GATE.store(false, std::sync::atomic::Ordering::SeqCst);
    let id = service
        .submit(Submit {
            algorithm: "test_gated".into(),
            params: json!({"rows": 50_000}),
            timeout: None,
            idempotency_key: None,
        })
        .unwrap()
        .id;
    while !is_stored_running(store, id) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.limit_size(0).unwrap();
    GATE.store(true, std::sync::atomic::Ordering::SeqCst);
    while service.get(id).unwrap().unwrap().status != RunStatus::Succeeded {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_gives_kept_ends_its_grace_and_says_which_it_lost() {
    use algohost::runner::RunStatus;
    use algohost::store::{Logs, Store};

    // Room comes back within the grace period: the end is written.
    let dir = tempfile::tempdir().unwrap();
    let (service, store) = service_on(
        dir.path(),
        &ServerConfig::resolve(Settings::default()).unwrap(),
    );
    let saved = end_on_a_full_store(&service, &store).await;
    let room = {
        let store = store.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(800));
            store.limit_size(1 << 30).unwrap();
        })
    };
    let lost = service.shutdown(Duration::from_secs(20)).await;
    room.join().unwrap();
    assert_eq!(lost, Vec::<uuid::Uuid>::new());
    let stored = store.read(saved, Logs::None).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(
        store.frame(saved, "values").unwrap().unwrap().height(),
        50_000
    );
    drop(service);

    // No room before the grace period ends: the server says what it lost.
    let dir = tempfile::tempdir().unwrap();
    let (service, store) = service_on(
        dir.path(),
        &ServerConfig::resolve(Settings::default()).unwrap(),
    );
    let doomed = end_on_a_full_store(&service, &store).await;
    let lost = service.shutdown(Duration::from_millis(1_500)).await;
    assert_eq!(lost, vec![doomed]);
    assert!(is_stored_running(&store, doomed));
}
