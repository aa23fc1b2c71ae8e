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
