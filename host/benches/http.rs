//! HTTP throughput: runs per second of a trivial builtin algorithm through
//! `POST /runs` with `Prefer: wait` on the real server (SQLite store, worker
//! pool, every middleware), beside a bare axum handler doing the same work
//! in the same process, and the same algorithm behind FastAPI on uvicorn
//! when `ALGOHOST_BENCH_FASTAPI_URL` names one (`benches/run.sh` starts it;
//! `ALGOHOST_BENCH_FASTAPI_SERVER` describes it, `ALGOHOST_BENCH_FASTAPI_MISSING`
//! says why there is none).
//!
//! Every target gets the same loads: for each count of [`Load::clients`],
//! that many keep-alive clients sending requests back to back, after a
//! warm-up, until a request count or a time budget runs out
//! (`ALGOHOST_BENCH_HTTP_CLIENTS` takes a comma-separated list, `_REQUESTS`,
//! `_SECONDS`, `_WARM_UP_SECONDS` and `_ROUNDS` change the rest; `_TARGETS`
//! names the only targets to measure). Each of
//! [`Load::rounds`] rounds goes through every client count, the targets
//! taking turns at each, and a count's figures are those of a target's
//! median round: on a shared machine whose speed drifts, the drift falls
//! on every target and count alike rather than on whichever was measured
//! in a slow moment. A server's
//! runs/s is the most it sustained over the client counts (a server that
//! batches work, as algohost's store does, needs more requests in flight to
//! reach it than one that does not); every count's figures are kept. Prints
//! runs/s, median and p99 latency of each and writes them as JSON
//! (`ALGOHOST_BENCH_HTTP_OUT`, default `<target dir>/bench-http.json`) for
//! `benches/report.py`. Without
//! `--bench` (`cargo test --benches`) it only checks that every target
//! answers, with a handful of requests, and writes nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use algohost::adapters::NoData;
use algohost::registry::Registry;
use algohost::server::{self, ServerConfig, Settings};
use algohost::service::Service;
use algohost::sources::builtin;
use algohost::store::sqlite::SqliteStore;
use algohost_sdk::prelude::*;
use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

// The server allocates here as `algohost serve` does.
#[path = "../src/allocator.rs"]
mod allocator;

/// Params of the trivial algorithm (`benches/fastapi_app.py` mirrors them).
#[derive(Deserialize, JsonSchema)]
struct AddParams {
    /// First term.
    a: f64,
    /// Second term.
    b: f64,
    /// Factor applied to the sum.
    #[serde(default = "one")]
    scale: f64,
}

fn one() -> f64 {
    1.0
}

/// The work every target does: `(a + b) * scale`.
fn add(p: &AddParams) -> Value {
    json!({ "sum": (p.a + p.b) * p.scale })
}

/// Trivial work: the benchmark measures the HTTP stack around it.
#[algorithm(name = "bench_add", version = "1.0.0")]
fn bench_add(_ctx: &Context, p: AddParams) -> Result<Output> {
    Ok(Output::new().with_summary(add(&p)))
}

/// The body of `POST /runs`, as the bare handler reads it.
#[derive(Deserialize)]
struct BareSubmit {
    algorithm: String,
    params: AddParams,
}

/// The baseline: the same body, the same work, no run service.
async fn bare_run(Json(body): Json<BareSubmit>) -> Result<Json<Value>, StatusCode> {
    if body.algorithm != "bench_add" {
        return Err(StatusCode::NOT_FOUND);
    }
    Ok(Json(json!({
        "algorithm": body.algorithm,
        "status": "succeeded",
        "summary": add(&body.params),
    })))
}

/// How much load each target gets.
#[derive(Debug, Clone, Serialize)]
struct Load {
    /// Concurrent keep-alive clients, one measurement per count.
    clients: Vec<usize>,
    /// Requests measured (at most).
    requests: usize,
    /// Time budget of the measured requests, seconds.
    max_seconds: f64,
    /// Warm-up before measuring, seconds (not recorded).
    warm_up_seconds: f64,
    /// Measurements of each target at each client count, taking turns with
    /// the other targets; the median one counts.
    rounds: usize,
}

impl Load {
    fn from_env(is_bench: bool) -> Load {
        let var = |key: &str, default: f64| {
            std::env::var(key)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(default)
        };
        if !is_bench {
            return Load {
                clients: vec![2],
                requests: 20,
                max_seconds: 10.0,
                warm_up_seconds: 0.0,
                rounds: 1,
            };
        }
        let clients = std::env::var("ALGOHOST_BENCH_HTTP_CLIENTS")
            .ok()
            .map(|v| {
                v.split(',')
                    .filter_map(|c| c.trim().parse::<usize>().ok())
                    .map(|c| c.max(1))
                    .collect::<Vec<_>>()
            })
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| vec![8, 32, 64]);
        Load {
            clients,
            requests: var("ALGOHOST_BENCH_HTTP_REQUESTS", 200_000.0).max(1.0) as usize,
            max_seconds: var("ALGOHOST_BENCH_HTTP_SECONDS", 2.0),
            warm_up_seconds: var("ALGOHOST_BENCH_HTTP_WARM_UP_SECONDS", 0.5),
            rounds: var("ALGOHOST_BENCH_HTTP_ROUNDS", 3.0).max(1.0) as usize,
        }
    }
}

/// What one target did under one load.
#[derive(Debug, Clone, Serialize)]
struct Figures {
    url: String,
    clients: usize,
    requests: usize,
    errors: usize,
    seconds: f64,
    runs_per_sec: f64,
    median_us: f64,
    p99_us: f64,
}

/// One server under test.
struct Target {
    name: &'static str,
    url: String,
    /// Whether requests ask to wait for the finished run (`Prefer: wait`).
    prefer_wait: bool,
}

impl Target {
    fn request(&self, client: &reqwest::Client, body: &Value) -> reqwest::RequestBuilder {
        let request = client.post(&self.url).json(body);
        if self.prefer_wait {
            request.header("prefer", "wait=10")
        } else {
            request
        }
    }
}

fn body(i: usize) -> Value {
    json!({ "algorithm": "bench_add", "params": { "a": i as f64, "b": 0.5, "scale": 2.0 } })
}

/// One request that must succeed with the right answer (the load only
/// checks status codes).
async fn check(client: &reqwest::Client, target: &Target) -> anyhow::Result<()> {
    let response = target.request(client, &body(3)).send().await?;
    let status = response.status();
    let answer: Value = response.json().await?;
    anyhow::ensure!(
        status == reqwest::StatusCode::OK
            && answer["status"] == "succeeded"
            && answer["summary"]["sum"] == 7.0,
        "{} answered {status}: {answer}",
        target.name
    );
    Ok(())
}

/// Sends requests from `clients` tasks until `count` were sent or `budget`
/// ran out; returns the latency of each successful one, the number of
/// failures and the time it took.
async fn drive(
    client: &reqwest::Client,
    target: &Arc<Target>,
    clients: usize,
    count: usize,
    budget: Duration,
) -> (Vec<Duration>, usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, target, next) = (client.clone(), target.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(count.min(1 << 20) / clients + 1);
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || start.elapsed() >= budget {
                        break;
                    }
                    let sent = Instant::now();
                    let ok = match target.request(&client, &body(i)).send().await {
                        Ok(response) => {
                            let status = response.status();
                            response.bytes().await.is_ok() && status == reqwest::StatusCode::OK
                        }
                        Err(_) => false,
                    };
                    if ok {
                        latencies.push(sent.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(count.min(1 << 20));
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("client task");
        latencies.extend(l);
        errors += e;
    }
    (latencies, errors, start.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e6
}

/// The figures of the round with the median runs/s.
fn median_round(mut rounds: Vec<Figures>) -> Option<Figures> {
    rounds.sort_by(|a, b| a.runs_per_sec.total_cmp(&b.runs_per_sec));
    let middle = rounds.len().checked_sub(1)? / 2;
    rounds.into_iter().nth(middle)
}

/// Measures every target at every client count of `load`, the targets
/// taking turns in each round. For each target, the figures of the count
/// with the most runs/s (each count's being those of its median round),
/// with every count's under `by_clients`; a target that failed, the error.
async fn measure_all(
    targets: &[Arc<Target>],
    load: &Load,
) -> Vec<(&'static str, anyhow::Result<Value>)> {
    let mut failed: Vec<Option<anyhow::Error>> = targets.iter().map(|_| None).collect();
    // rounds[target][count]: every round goes through every count, so that
    // a drift of the machine's speed falls on every count alike too.
    let mut rounds: Vec<Vec<Vec<Figures>>> = targets
        .iter()
        .map(|_| load.clients.iter().map(|_| Vec::new()).collect())
        .collect();
    for _ in 0..load.rounds {
        for (count, &clients) in load.clients.iter().enumerate() {
            for (index, target) in targets.iter().enumerate() {
                if failed[index].is_some() {
                    continue;
                }
                match measure_at(target, load, clients).await {
                    Ok(figures) => rounds[index][count].push(figures),
                    Err(e) => failed[index] = Some(e),
                }
            }
        }
    }
    let by_count: Vec<Vec<Figures>> = rounds
        .into_iter()
        .map(|counts| counts.into_iter().filter_map(median_round).collect())
        .collect();
    let mut results = Vec::new();
    for ((target, failed), all) in targets.iter().zip(failed).zip(by_count) {
        let result = match failed {
            Some(e) => Err(e),
            None => peak_of(all),
        };
        results.push((target.name, result));
    }
    results
}

/// The figures of the count with the most runs/s, with every count's under
/// `by_clients`.
fn peak_of(all: Vec<Figures>) -> anyhow::Result<Value> {
    let peak = all
        .iter()
        .max_by(|a, b| a.runs_per_sec.total_cmp(&b.runs_per_sec))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no client count to measure"))?;
    let mut value = serde_json::to_value(peak)?;
    value["by_clients"] = serde_json::to_value(all)?;
    Ok(value)
}

async fn measure_at(target: &Arc<Target>, load: &Load, clients: usize) -> anyhow::Result<Figures> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    check(&client, target).await?;
    let warm_up = Duration::from_secs_f64(load.warm_up_seconds);
    if !warm_up.is_zero() {
        drive(&client, target, clients, usize::MAX, warm_up).await;
    }
    let budget = Duration::from_secs_f64(load.max_seconds);
    let (mut latencies, errors, elapsed) =
        drive(&client, target, clients, load.requests, budget).await;
    latencies.sort_unstable();
    let figures = Figures {
        url: target.url.clone(),
        clients,
        requests: latencies.len(),
        errors,
        seconds: elapsed.as_secs_f64(),
        runs_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        median_us: percentile(&latencies, 50.0),
        p99_us: percentile(&latencies, 99.0),
    };
    println!(
        "{:<9} {:>3} clients {:>9.0} runs/s  median {:>8.1} µs  p99 {:>8.1} µs  ({} requests, {} errors, {:.1} s)",
        target.name,
        clients,
        figures.runs_per_sec,
        figures.median_us,
        figures.p99_us,
        figures.requests,
        figures.errors,
        figures.seconds
    );
    Ok(figures)
}

/// A server running on the server runtime until `stop` is sent.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// The real server, built as `algohost serve` builds it, with its default
/// settings and a store in `store_dir`.
async fn start_algohost(store_dir: &std::path::Path) -> anyhow::Result<Running> {
    let config = ServerConfig::resolve(Settings {
        bind: Some("127.0.0.1:0".parse()?),
        store: Some(store_dir.join("algohost.db")),
        ..Settings::default()
    })?;
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    let store = SqliteStore::open(&config.store)?;
    let listener = TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    let service = Service::start(
        Arc::new(registry),
        Arc::new(NoData),
        Arc::new(store),
        config.service(),
    )?;
    let app = server::app(service, &config, Vec::new());
    let (stop, stopped) = oneshot::channel();
    let signal = async move {
        let _ = stopped.await;
    };
    let done = tokio::spawn(server::serve(listener, app, config.shutdown_grace, signal));
    Ok(Running { addr, stop, done })
}

/// The bare axum baseline.
async fn start_bare() -> anyhow::Result<Running> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = axum::Router::new().route("/runs", post(bare_run));
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running { addr, stop, done })
}

impl Running {
    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.done.await??;
        Ok(())
    }
}

/// The FastAPI row when there is no FastAPI to measure.
fn missing(reason: String) -> Value {
    println!("fastapi   missing: {reason}");
    json!({ "missing": reason })
}

/// Where the figures go: `ALGOHOST_BENCH_HTTP_OUT`, else beside the
/// profile directory of this executable (`<target>/release/deps/http-…`).
fn output_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ALGOHOST_BENCH_HTTP_OUT") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("bench executable");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<exe>");
    target.join("bench-http.json")
}

fn main() -> anyhow::Result<()> {
    let is_bench = std::env::args().any(|a| a == "--bench");
    let load = Load::from_env(is_bench);
    // Servers on a runtime like `algohost serve`'s; clients on their own.
    let servers = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let clients = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-client")
        .build()?;
    let store_dir = tempfile::tempdir()?;
    let algohost = servers.block_on(start_algohost(store_dir.path()))?;
    let bare = servers.block_on(start_bare())?;
    println!(
        "HTTP load: {:?} clients, up to {} requests or {} s per target, count and round after {} s \
         of warm-up; {} round(s) through every count, the targets taking turns",
        load.clients, load.requests, load.max_seconds, load.warm_up_seconds, load.rounds
    );
    let mut targets = vec![
        Arc::new(Target {
            name: "algohost",
            url: format!("http://{}/runs", algohost.addr),
            prefer_wait: true,
        }),
        Arc::new(Target {
            name: "axum",
            url: format!("http://{}/runs", bare.addr),
            prefer_wait: false,
        }),
    ];
    let fastapi_missing = match std::env::var("ALGOHOST_BENCH_FASTAPI_URL") {
        Ok(base) if !base.is_empty() => {
            targets.push(Arc::new(Target {
                name: "fastapi",
                url: format!("{}/runs", base.trim_end_matches('/')),
                prefer_wait: false,
            }));
            None
        }
        _ => Some(
            std::env::var("ALGOHOST_BENCH_FASTAPI_MISSING").unwrap_or_else(|_| {
                "ALGOHOST_BENCH_FASTAPI_URL is not set (benches/run.sh starts uvicorn)".to_owned()
            }),
        ),
    };
    // `ALGOHOST_BENCH_HTTP_TARGETS=algohost` measures only the targets
    // named (to profile one server).
    if let Ok(only) = std::env::var("ALGOHOST_BENCH_HTTP_TARGETS") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        targets.retain(|t| only.contains(&t.name));
    }
    let mut results = serde_json::Map::new();
    for (name, measured) in clients.block_on(measure_all(&targets, &load)) {
        let figures = match (name, measured) {
            ("fastapi", Ok(mut figures)) => {
                if let Ok(server) = std::env::var("ALGOHOST_BENCH_FASTAPI_SERVER") {
                    figures["server"] = server.into();
                }
                figures
            }
            ("fastapi", Err(e)) => missing(format!("{e:#}")),
            (_, measured) => measured?,
        };
        results.insert(name.to_owned(), figures);
    }
    if let Some(reason) = fastapi_missing {
        results.insert("fastapi".to_owned(), missing(reason));
    }
    servers.block_on(async {
        algohost.stop().await?;
        bare.stop().await
    })?;
    if is_bench {
        let out = output_path();
        let report = json!({ "load": load, "targets": results });
        std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
