//! When a run reaches the store: a run stored as queued is stored running
//! before its plugin starts; one waited for is stored while its plugin
//! runs, and before its submitter hears of it, whether it finished by then
//! or not.

use std::sync::mpsc as sync_mpsc;
use std::sync::{Arc, Mutex};

use algohost_sdk::{Context, Manifest, Output};
use serde_json::{Value, json};

use super::*;
use crate::adapters::NoData;
use crate::registry::{Invoker, Source};
use crate::store::sqlite::SqliteStore;

/// Answers its params as its summary.
struct Echo;

impl Invoker for Echo {
    fn invoke(&self, _: &Context, params: Value) -> algohost_sdk::Result<Output> {
        Ok(Output::new().with_summary(params))
    }
}

/// Notes how the store has its run when the plugin starts, then waits
/// (a generous bound, not a timing assertion) until the store has it
/// running and notes that too.
struct Probe {
    store: Arc<dyn Store>,
    /// At the start; later.
    seen: Mutex<(Option<RunStatus>, Option<RunStatus>)>,
}

impl Invoker for Probe {
    fn invoke(&self, ctx: &Context, _: Value) -> algohost_sdk::Result<Output> {
        let id = ctx.run_id().parse().expect("a run id");
        let status = || {
            self.store
                .get(id)
                .expect("the store answers")
                .map(|run| run.status)
        };
        let at_start = status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut later = at_start;
        while later != Some(RunStatus::Running) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            later = status();
        }
        *self.seen.lock().unwrap() = (at_start, later);
        Ok(Output::new())
    }
}

fn probe(store: &Arc<dyn Store>) -> (Registry, Arc<Probe>) {
    let probe = Arc::new(Probe {
        store: store.clone(),
        seen: Mutex::new((None, None)),
    });
    let mut registry = Registry::new();
    registry.add(manifest("probe"), Source::Builtin, probe.clone());
    (registry, probe)
}

/// Holds its worker until told to go on.
struct Gate {
    started: Mutex<sync_mpsc::Sender<()>>,
    go: Mutex<sync_mpsc::Receiver<()>>,
}

impl Invoker for Gate {
    fn invoke(&self, _: &Context, _: Value) -> algohost_sdk::Result<Output> {
        let _ = self.started.lock().unwrap().send(());
        let _ = self.go.lock().unwrap().recv();
        Ok(Output::new())
    }
}

fn manifest(name: &str) -> Manifest {
    Manifest::new(name, "1.0.0")
}

fn submit(algorithm: &str) -> Submit {
    Submit {
        algorithm: algorithm.to_owned(),
        params: json!({"x": 1}),
        timeout: None,
        idempotency_key: None,
    }
}

fn start(registry: Registry, store: Arc<dyn Store>) -> Arc<Service> {
    let config = ServiceConfig {
        concurrency: 1,
        python_concurrency: 1,
        queue_capacity: 4,
        default_timeout: None,
        max_timeout: None,
        reclaim_interval: Duration::from_millis(100),
        keep_runs: None,
    };
    Service::start(Arc::new(registry), Arc::new(NoData), store, config).unwrap()
}

#[tokio::test]
async fn a_queued_run_is_stored_running_before_its_plugin_starts() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("runs.db")).unwrap());
    let (registry, probe) = probe(&store);
    let service = start(registry, store.clone());

    let run = service.submit(submit("probe")).unwrap();
    let run = service
        .wait(run.id, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    let running = Some(RunStatus::Running);
    assert_eq!(*probe.seen.lock().unwrap(), (running, running));
    assert_eq!(
        store.get(run.id).unwrap().unwrap().status,
        RunStatus::Succeeded
    );
}

#[tokio::test]
async fn a_waited_run_is_stored_running_while_its_plugin_runs_and_ended_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("runs.db")).unwrap());
    let (registry, probe) = probe(&store);
    let service = start(registry, store.clone());

    let run = service
        .submit_and_wait(submit("probe"), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    // Not known before the plugin started (nobody else knew the run), but
    // written while it ran.
    assert_eq!(probe.seen.lock().unwrap().1, Some(RunStatus::Running));
    let stored = store.get(run.id).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(service.list(&RunQuery::default()).unwrap().len(), 1);
}

#[tokio::test]
async fn a_waited_run_still_queued_when_the_wait_ends_is_stored_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("runs.db")).unwrap());
    let (started_tx, started) = sync_mpsc::channel();
    let (go, go_rx) = sync_mpsc::channel();
    let gate = Gate {
        started: Mutex::new(started_tx),
        go: Mutex::new(go_rx),
    };
    let mut registry = Registry::new();
    registry.add(manifest("gate"), Source::Builtin, Arc::new(gate));
    registry.add(manifest("echo"), Source::Builtin, Arc::new(Echo));
    let service = start(registry, store.clone());

    // The only worker is held, so the next run waits in the queue.
    let held = service.submit(submit("gate")).unwrap();
    started.recv().unwrap();
    let waited = service
        .submit_and_wait(submit("echo"), Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(waited.status, RunStatus::Queued);
    let stored = store.get(waited.id).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Queued);

    go.send(()).unwrap();
    let long = Duration::from_secs(30);
    let held = service.wait(held.id, long).await.unwrap().unwrap();
    assert_eq!(held.status, RunStatus::Succeeded);
    let run = service.wait(waited.id, long).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.summary, json!({"x": 1}));
    let stored = store.get(waited.id).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
}

/// Sleeps `millis` (its params' field), then ends.
struct Sleeps;

impl Invoker for Sleeps {
    fn invoke(&self, _: &Context, params: Value) -> algohost_sdk::Result<Output> {
        std::thread::sleep(Duration::from_millis(
            params["millis"].as_u64().unwrap_or(0),
        ));
        Ok(Output::new())
    }
}

/// Runs until cancelled.
struct UntilCancelled;

impl Invoker for UntilCancelled {
    fn invoke(&self, ctx: &Context, _: Value) -> algohost_sdk::Result<Output> {
        loop {
            ctx.check()?;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The `Retry-After` of a submission to a full queue.
fn refused_for(service: &Service, algorithm: &str) -> Duration {
    match service.submit(submit(algorithm)) {
        Err(SubmitError::QueueFull { retry_after, .. }) => retry_after,
        other => panic!("{algorithm}: not refused: {other:?}"),
    }
}

#[tokio::test]
async fn a_full_lane_says_to_retry_after_its_own_runs_durations_not_the_other_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("runs.db")).unwrap());
    let python = || Source::Python {
        entry_point: "test = test:test".to_owned(),
    };
    let mut registry = Registry::new();
    registry.add(manifest("echo"), Source::Builtin, Arc::new(Echo));
    registry.add(
        manifest("rust_held"),
        Source::Builtin,
        Arc::new(UntilCancelled),
    );
    registry.add(manifest("py_sleeps"), python(), Arc::new(Sleeps));
    registry.add(manifest("py_held"), python(), Arc::new(UntilCancelled));
    // One worker and one place in the queue per lane.
    let config = ServiceConfig {
        concurrency: 1,
        python_concurrency: 1,
        queue_capacity: 1,
        ..ServiceConfig::default()
    };
    let service = Service::start(Arc::new(registry), Arc::new(NoData), store, config).unwrap();
    let long = Duration::from_secs(30);

    // Quick Rust runs end by the dozen.
    for _ in 0..20 {
        let run = service.submit_and_wait(submit("echo"), long).await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
    }
    // A Rust run holds its lane's worker while a Python run takes 1.5 s.
    let rust_held = service.submit(submit("rust_held")).unwrap();
    let slow = Submit {
        params: json!({"millis": 1500}),
        ..submit("py_sleeps")
    };
    let slow = service.submit_and_wait(slow, long).await.unwrap();
    assert_eq!(slow.status, RunStatus::Succeeded);

    // Python runs take 1.5 s: with one waiting for the one worker, the
    // queue moves in 2 × 1.5 s.
    let py_held = service.submit(submit("py_held")).unwrap();
    let py_waiting = service.submit(submit("py_held")).unwrap();
    let python_wait = refused_for(&service, "py_held");
    assert!(python_wait >= Duration::from_secs(3), "{python_wait:?}");
    // Rust runs ended at once, but the one running has run for 1.5 s.
    let rust_waiting = service.submit(submit("echo")).unwrap();
    let rust_wait = refused_for(&service, "echo");
    assert!(rust_wait >= Duration::from_secs(3), "{rust_wait:?}");

    for id in [rust_held.id, py_held.id, py_waiting.id] {
        service.cancel(id).await.unwrap();
    }
    let run = service.wait(rust_waiting.id, long).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
}

/// Answers the name of the thread it ran on; sleeps `millis` first.
struct Where;

impl Invoker for Where {
    fn invoke(&self, _: &Context, params: Value) -> algohost_sdk::Result<Output> {
        std::thread::sleep(Duration::from_millis(
            params["millis"].as_u64().unwrap_or(0),
        ));
        let thread = std::thread::current();
        Ok(Output::new().with_summary(json!(thread.name().unwrap_or(""))))
    }
}

/// The thread a waited run of `where` sleeping `millis` ran on.
async fn ran_on(service: &Service, millis: u64, timeout: Option<Duration>) -> String {
    let submit = Submit {
        params: json!({ "millis": millis }),
        timeout,
        ..submit("where")
    };
    let run = service
        .submit_and_wait(submit, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    run.summary.as_str().unwrap().to_owned()
}

/// Whether a run ran on a worker (`algohost-worker-N`, or a thread of its
/// own, `algohost-run`), not on the thread that submitted it.
fn is_worker(thread: &str) -> bool {
    thread.starts_with("algohost-")
}

/// Whether one of a few quick waited runs ran inline (a worker that has
/// just ended a run may not count as free yet when its waiter submits the
/// next).
async fn runs_inline(service: &Service) -> bool {
    for _ in 0..10 {
        if !is_worker(&ran_on(service, 0, None).await) {
            return true;
        }
    }
    false
}

fn where_service(concurrency: usize) -> (tempfile::TempDir, Arc<Service>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("runs.db")).unwrap());
    let mut registry = Registry::new();
    registry.add(manifest("where"), Source::Builtin, Arc::new(Where));
    registry.add(
        manifest("rust_held"),
        Source::Builtin,
        Arc::new(UntilCancelled),
    );
    let config = ServiceConfig {
        concurrency,
        ..ServiceConfig::default()
    };
    let service = Service::start(Arc::new(registry), Arc::new(NoData), store, config).unwrap();
    (dir, service)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waited_run_of_an_algorithm_that_was_quick_runs_where_it_was_submitted() {
    let (_dir, service) = where_service(2);
    // Its first runs go to the workers, which learn that it is quick.
    for _ in 0..16 {
        assert!(is_worker(&ran_on(&service, 0, None).await));
    }
    assert!(runs_inline(&service).await);
    // Stored like any other run.
    let runs = service.list(&RunQuery::default()).unwrap();
    assert!(runs.len() >= 17);
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));

    // A run with a timeout, or one nobody waits for, goes to the workers.
    let timeout = Some(Duration::from_secs(30));
    assert!(is_worker(&ran_on(&service, 0, timeout).await));
    let run = service.submit(submit("where")).unwrap();
    let run = service.wait(run.id, Duration::from_secs(30)).await.unwrap();
    assert!(is_worker(run.unwrap().summary.as_str().unwrap()));

    // One that turns out slow (on a runtime thread) sends its algorithm
    // back to the workers.
    let slow = (quick::QUICK * 5).as_millis() as u64;
    let mut is_slow_inline = false;
    for _ in 0..10 {
        for _ in 0..32 {
            ran_on(&service, 0, None).await;
        }
        if !is_worker(&ran_on(&service, slow, None).await) {
            is_slow_inline = true;
            break;
        }
    }
    assert!(is_slow_inline);
    assert!(is_worker(&ran_on(&service, 0, None).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_run_waits_for_a_worker_when_the_concurrency_is_taken() {
    let (_dir, service) = where_service(2);
    for _ in 0..16 {
        ran_on(&service, 0, None).await;
    }
    assert!(runs_inline(&service).await);
    // Both worker slots are taken: the run queues instead.
    let held = [(); 2].map(|()| service.submit(submit("rust_held")).unwrap());
    let waited = service
        .submit_and_wait(submit("where"), Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(waited.status, RunStatus::Queued);
    service.cancel(held[0].id).await.unwrap();
    let run = service
        .wait(waited.id, Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert!(is_worker(run.summary.as_str().unwrap()), "{run:?}");
    service.cancel(held[1].id).await.unwrap();
}

/// Computes its answer on a tokio runtime of its own, as a plugin using an
/// async client through a blocking API does; answers where it ran.
struct OwnRuntime;

impl Invoker for OwnRuntime {
    fn invoke(&self, ctx: &Context, _: Value) -> algohost_sdk::Result<Output> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| algohost_sdk::Error::Data(e.to_string()))?;
        let answer = runtime.block_on(async { 42 });
        ctx.progress(0.5, "computed");
        let thread = std::thread::current();
        Ok(Output::new().with_summary(json!({
            "answer": answer,
            "thread": thread.name().unwrap_or(""),
        })))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_plugin_needs_a_thread_of_its_own_starts_again_on_a_worker() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("runs.db")).unwrap());
    let mut registry = Registry::new();
    registry.add(
        manifest("own_runtime"),
        Source::Builtin,
        Arc::new(OwnRuntime),
    );
    let config = ServiceConfig {
        concurrency: 2,
        ..ServiceConfig::default()
    };
    let service =
        Service::start(Arc::new(registry), Arc::new(NoData), store.clone(), config).unwrap();
    let long = Duration::from_secs(30);
    // Submitted from a runtime thread, as the server's requests are.
    let waited = |service: Arc<Service>| async move {
        tokio::spawn(async move { service.submit_and_wait(submit("own_runtime"), long).await })
            .await
            .unwrap()
            .unwrap()
    };
    let mut restarted = None;
    for _ in 0..40 {
        let run = waited(service.clone()).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        assert_eq!(run.summary["answer"], 42);
        assert!(
            run.summary["thread"]
                .as_str()
                .unwrap()
                .starts_with("algohost-"),
            "{run:?}"
        );
        if run
            .logs
            .iter()
            .any(|l| l.message.contains("starts again on a worker thread"))
        {
            restarted = Some(run);
            break;
        }
    }
    let run = restarted.expect("a run went inline, panicked there and started again");
    let notice = run
        .logs
        .iter()
        .find(|l| l.message.contains("starts again"))
        .unwrap();
    assert_eq!(notice.level, "warn");
    assert!(
        notice
            .message
            .contains("Cannot start a runtime from within a runtime"),
        "{}",
        notice.message
    );
    let stored = store.get(run.id).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(stored.summary["answer"], 42);
    // Its runs go to the workers from now on, without a notice.
    for _ in 0..20 {
        let run = waited(service.clone()).await;
        assert!(run.logs.is_empty(), "{:?}", run.logs);
    }
}
