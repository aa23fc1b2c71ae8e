//! The run service on a real SQLite file: queueing and backpressure,
//! cancellation, timeouts, idempotency keys, live events, persistence,
//! recovery after a killed process, and graceful shutdown.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use algohost::adapters::NoData;
use algohost::registry::Registry;
use algohost::runner::{Run, RunError, RunStatus};
use algohost::service::{CancelError, RunEvent, Service, ServiceConfig, Submit, SubmitError};
use algohost::sources::builtin;
use algohost::store::sqlite::SqliteStore;
use algohost::store::{Logs, RunQuery, Store, StoreError};
use algohost_sdk::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Deserialize, JsonSchema)]
struct Steps {
    /// Number of steps.
    steps: u32,
    /// Pause after each step, in milliseconds.
    #[serde(default)]
    pause_ms: u64,
}

/// Reports progress and a log record at each step, pausing after each
/// (watching for cancellation); returns the steps.
#[algorithm(name = "test_steps", version = "1.0.0", outputs = ["steps: step"])]
fn test_steps(ctx: &Context, p: Steps) -> Result<Output> {
    for i in 1..=p.steps {
        ctx.check()?;
        info!(step = i, "step {i}");
        ctx.progress(f64::from(i) / f64::from(p.steps), &format!("step {i}"));
        for _ in 0..p.pause_ms / 10 {
            ctx.check()?;
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let steps: Vec<u32> = (1..=p.steps).collect();
    let frame = DataFrame::new_infer_height(vec![Column::new("step".into(), steps)])?;
    Ok(Output::new()
        .with_summary(json!({"steps": p.steps}))
        .with_frame("steps", frame))
}

#[derive(Deserialize, JsonSchema)]
struct Sleep {
    /// How long, in milliseconds.
    millis: u64,
}

/// Sleeps, watching for cancellation; safe to run again.
#[algorithm(name = "test_idempotent_sleep", version = "1.0.0", idempotent = true)]
fn test_idempotent_sleep(ctx: &Context, p: Sleep) -> Result<Output> {
    for _ in 0..p.millis / 10 {
        ctx.check()?;
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(Output::new().with_summary(json!({"slept": p.millis})))
}

const WAIT: Duration = Duration::from_secs(30);

fn config(concurrency: usize, queue_capacity: usize) -> ServiceConfig {
    ServiceConfig {
        concurrency,
        python_concurrency: concurrency,
        queue_capacity,
        default_timeout: None,
        max_timeout: None,
        reclaim_interval: Duration::from_millis(100),
        keep_runs: None,
    }
}

fn start(dir: &Path, config: ServiceConfig) -> Arc<Service> {
    let mut registry = Registry::new();
    builtin::discover(&mut registry);
    let store = Arc::new(SqliteStore::open(dir.join("runs.db")).unwrap());
    Service::start(Arc::new(registry), Arc::new(NoData), store, config).unwrap()
}

fn submit(algorithm: &str, params: Value) -> Submit {
    Submit {
        algorithm: algorithm.to_owned(),
        params,
        timeout: None,
        idempotency_key: None,
    }
}

/// A run that loops until cancelled.
fn blocker() -> Submit {
    submit("test_loops", json!({"cooperative": true}))
}

async fn finished(service: &Service, id: Uuid) -> Run {
    let run = service.wait(id, WAIT).await.unwrap().unwrap();
    assert!(run.status.is_finished(), "{run:?}");
    run
}

async fn until_running(service: &Service, id: Uuid) {
    let mut events = service.subscribe(id).unwrap().unwrap();
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::Status {
                status: RunStatus::Running,
            } => return,
            RunEvent::Status { status } if status.is_finished() => panic!("ended as {status}"),
            _ => {}
        }
    }
    panic!("the stream ended before the run started");
}

#[tokio::test]
async fn a_run_is_queued_executed_and_stored_with_its_frames() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(2, 4));
    let queued = service
        .submit(submit("test_steps", json!({"steps": 3})))
        .unwrap();
    assert_eq!(queued.status, RunStatus::Queued);
    assert_eq!(queued.version, "1.0.0");
    let run = finished(&service, queued.id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.summary, json!({"steps": 3}));
    assert_eq!(run.frames, ["steps"]);
    assert_eq!(run.progress, 1.0);
    let logs: Vec<_> = run.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(logs, ["step 1", "step 2", "step 3"]);
    let frame = service.frame(run.id, "steps").unwrap().unwrap();
    assert_eq!(frame.column("step").unwrap().len(), 3);
    assert_eq!(service.metrics().finished.get("succeeded"), Some(&1));
    drop(service);

    // Another process on the same file sees the same run and frame.
    let store = SqliteStore::open(dir.path().join("runs.db")).unwrap();
    let stored = store.get(run.id).unwrap().unwrap();
    assert_eq!(stored.status, RunStatus::Succeeded);
    assert_eq!(stored.logs.len(), 3);
    assert!(
        store
            .frame(run.id, "steps")
            .unwrap()
            .unwrap()
            .equals(&frame)
    );
}

#[tokio::test]
async fn bad_submissions_are_refused_before_anything_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(1, 1));
    let err = service.submit(submit("test_step", json!({}))).unwrap_err();
    assert!(
        err.to_string().contains("did you mean 'test_steps'"),
        "{err}"
    );
    let err = service
        .submit(submit("test_steps", json!({"steps": "many"})))
        .unwrap_err();
    let SubmitError::InvalidParams { errors, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(errors[0].pointer, "/steps");
    assert!(service.list(&RunQuery::default()).unwrap().is_empty());
}

#[tokio::test]
async fn with_one_worker_and_a_queue_of_two_the_fourth_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(1, 2));
    let accepted: Vec<Run> = (0..3).map(|_| service.submit(blocker()).unwrap()).collect();
    let err = service.submit(blocker()).unwrap_err();
    let SubmitError::QueueFull {
        capacity,
        retry_after,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(capacity, 2);
    assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}");
    assert_eq!(
        err.to_string(),
        "the run queue is full (2 waiting for a worker, as many as it holds); retry later"
    );
    for run in &accepted {
        service.cancel(run.id).await.unwrap();
    }
    for run in &accepted {
        assert_eq!(
            finished(&service, run.id).await.status,
            RunStatus::Cancelled
        );
    }
    // Room again.
    let run = service
        .submit(submit("test_steps", json!({"steps": 1})))
        .unwrap();
    assert_eq!(
        finished(&service, run.id).await.status,
        RunStatus::Succeeded
    );
}

#[tokio::test]
async fn a_cancelled_queued_run_never_starts_and_a_running_one_stops() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(1, 2));
    let running = service.submit(blocker()).unwrap();
    let waiting = service
        .submit(submit("test_steps", json!({"steps": 1})))
        .unwrap();
    until_running(&service, running.id).await;

    let cancelled = service.cancel(waiting.id).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(cancelled.error, Some(RunError::cancelled()));
    // Cancelled again (a client retrying): the run as it ended, once.
    let again = service.cancel(waiting.id).await.unwrap();
    assert_eq!(
        (again.status, again.finished_at),
        (RunStatus::Cancelled, cancelled.finished_at)
    );

    service.cancel(running.id).await.unwrap();
    let stopped = finished(&service, running.id).await;
    assert_eq!(stopped.status, RunStatus::Cancelled);
    assert_eq!(stopped.error.unwrap().message, "the run was cancelled");

    let never = service.get(waiting.id).unwrap().unwrap();
    assert_eq!(
        (never.status, never.started_at),
        (RunStatus::Cancelled, None)
    );
    assert!(matches!(
        service.cancel(Uuid::now_v7()).await,
        Err(CancelError::NotFound(_))
    ));
    assert_eq!(service.metrics().finished.get("cancelled"), Some(&2));
}

#[tokio::test]
async fn a_running_run_asked_to_cancel_says_so_in_its_log_at_once_even_if_its_plugin_never_checks()
{
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(1, 2));
    // Runs 3 s without checking for cancellation.
    let run = service
        .submit(submit("test_loops", json!({"cooperative": false})))
        .unwrap();
    // Once it has logged and reported progress, it only loops.
    let mut events = service.subscribe(run.id).unwrap().unwrap();
    while !matches!(events.recv().await, Some(RunEvent::Progress { .. })) {}

    let asked = service.cancel(run.id).await.unwrap();
    assert_eq!(asked.status, RunStatus::Running);
    let requested = "cancellation requested; the plugin stops at its next cancellation check \
                     (ctx.check() or ctx.is_cancelled())";
    let last = asked.logs.last().unwrap();
    assert_eq!(
        (
            last.level.as_str(),
            last.target.as_str(),
            last.message.as_str()
        ),
        ("info", "algohost", requested)
    );
    // Readers see it while the run goes on, and so do event streams.
    let now = service.get(run.id).unwrap().unwrap();
    assert_eq!(now.status, RunStatus::Running);
    assert_eq!(now.logs.last().unwrap().message, requested);
    let logged = loop {
        match events.recv().await.unwrap() {
            RunEvent::Log(record) => break record.message,
            RunEvent::Status { status } => assert!(!status.is_finished(), "{status}"),
            RunEvent::Progress { .. } => {}
        }
    };
    assert_eq!(logged, requested);
    // Asked again: noted once.
    service.cancel(run.id).await.unwrap();

    // The plugin finished without checking: its result is kept, and its
    // log says both.
    let ended = finished(&service, run.id).await;
    assert_eq!(ended.status, RunStatus::Succeeded);
    let messages: Vec<&str> = ended.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "looping",
            requested,
            "the run was asked to cancel but its plugin finished without checking \
             (ctx.check() or ctx.is_cancelled()); its result is kept"
        ]
    );
    let err = service.cancel(run.id).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("run {} already ended as succeeded", run.id)
    );
    // A reader may take the record alone, or the log records it lacks.
    let record = service.read(run.id, Logs::None).unwrap().unwrap();
    assert_eq!(
        (record.status, record.logs.len()),
        (RunStatus::Succeeded, 0)
    );
    let rest = service.read(run.id, Logs::After(1)).unwrap().unwrap();
    assert_eq!(rest.logs, ended.logs[1..]);
}

#[tokio::test]
async fn a_run_past_its_timeout_times_out_and_timeouts_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let mut limits = config(1, 2);
    limits.max_timeout = Some(Duration::from_millis(300));
    let service = start(dir.path(), limits);
    let mut ignores = submit("test_loops", json!({"cooperative": false}));
    ignores.timeout = Some(Duration::from_secs(60));
    let run = service.submit(ignores).unwrap();
    assert_eq!(run.timeout, Some(0.3));
    let run = finished(&service, run.id).await;
    assert_eq!(run.status, RunStatus::TimedOut);
    assert_eq!(
        run.error.unwrap().message,
        "the run did not finish within its timeout of 0.3s"
    );
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_run_for_the_same_body_only() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(1, 4));
    let keyed = |params: Value| Submit {
        idempotency_key: Some("order-17".into()),
        ..submit("test_steps", params)
    };
    let first = service
        .submit(keyed(json!({"steps": 2, "pause_ms": 0})))
        .unwrap();
    let same = service
        .submit(keyed(json!({"pause_ms": 0, "steps": 2})))
        .unwrap();
    assert_eq!(same.id, first.id);
    let err = service.submit(keyed(json!({"steps": 3}))).unwrap_err();
    assert!(
        matches!(err, SubmitError::Store(StoreError::IdempotencyConflict(_))),
        "{err:?}"
    );
    assert_eq!(
        finished(&service, first.id).await.status,
        RunStatus::Succeeded
    );
    let after = service
        .submit(keyed(json!({"steps": 2, "pause_ms": 0})))
        .unwrap();
    assert_eq!((after.id, after.status), (first.id, RunStatus::Succeeded));
    assert_eq!(service.list(&RunQuery::default()).unwrap().len(), 1);
}

#[tokio::test]
async fn events_arrive_in_order_and_end_with_the_final_status() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(1, 2));
    let ahead = service.submit(blocker()).unwrap();
    let run = service
        .submit(submit("test_steps", json!({"steps": 3})))
        .unwrap();
    let mut events = service.subscribe(run.id).unwrap().unwrap();
    service.cancel(ahead.id).await.unwrap();

    let mut seen = Vec::new();
    while let Some(event) = events.recv().await {
        seen.push(match event {
            RunEvent::Status { status } => format!("status {status}"),
            RunEvent::Progress { progress, message } => format!("progress {progress} {message}"),
            RunEvent::Log(record) => format!("log {}", record.message),
        });
    }
    let third = 1.0 / 3.0;
    let two_thirds = 2.0 / 3.0;
    assert_eq!(
        seen,
        [
            "status queued".to_owned(),
            "status running".to_owned(),
            "log step 1".to_owned(),
            format!("progress {third} step 1"),
            "log step 2".to_owned(),
            format!("progress {two_thirds} step 2"),
            "log step 3".to_owned(),
            "progress 1 step 3".to_owned(),
            "status succeeded".to_owned(),
        ]
    );

    // A finished run's stream is its final status.
    let mut events = service.subscribe(run.id).unwrap().unwrap();
    assert!(matches!(
        events.recv().await,
        Some(RunEvent::Status {
            status: RunStatus::Succeeded
        })
    ));
    assert!(events.recv().await.is_none());
    assert!(service.subscribe(Uuid::now_v7()).unwrap().is_none());
}

#[tokio::test]
async fn progress_and_logs_reach_the_store_while_the_run_runs() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(1, 2));
    let run = service
        .submit(submit("test_steps", json!({"steps": 2, "pause_ms": 20000})))
        .unwrap();
    let reader = SqliteStore::open(dir.path().join("runs.db")).unwrap();
    let mut stored = reader.get(run.id).unwrap().unwrap();
    for _ in 0..100 {
        if !stored.logs.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        stored = reader.get(run.id).unwrap().unwrap();
    }
    assert_eq!(stored.status, RunStatus::Running);
    assert_eq!(
        (stored.progress, stored.progress_message.as_str()),
        (0.5, "step 1")
    );
    assert_eq!(stored.logs[0].message, "step 1");
    service.cancel(run.id).await.unwrap();
    assert_eq!(
        finished(&service, run.id).await.status,
        RunStatus::Cancelled
    );
}

#[tokio::test]
async fn a_restart_after_a_kill_fails_interrupted_runs_and_reruns_idempotent_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, safe) = {
        // What a killed server leaves behind: two runs marked running.
        let mut registry = Registry::new();
        builtin::discover(&mut registry);
        let store = SqliteStore::open(dir.path().join("runs.db")).unwrap();
        let mut runs = Vec::new();
        for (name, params) in [
            ("test_add", json!({"a": 1})),
            ("test_idempotent_sleep", json!({"millis": 10})),
        ] {
            let mut run = Run::queued(&registry.get(name).unwrap().manifest, params);
            store.create(&run, None).unwrap();
            run.status = RunStatus::Running;
            store.update(&run).unwrap();
            runs.push(run.id);
        }
        (runs[0], runs[1])
    };
    let service = start(dir.path(), config(1, 2));
    let failed = service.get(plain).unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.error, Some(RunError::interrupted()));
    let rerun = finished(&service, safe).await;
    assert_eq!(rerun.status, RunStatus::Succeeded);
    assert_eq!(rerun.summary, json!({"slept": 10}));
    // /metrics counts the run it marked failed with the one it ran.
    let finished = service.metrics().finished;
    assert_eq!(finished.get("failed"), Some(&1), "{finished:?}");
    assert_eq!(finished.get("succeeded"), Some(&1), "{finished:?}");
}

#[tokio::test]
async fn shutdown_waits_its_grace_then_marks_running_runs_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let service = start(dir.path(), config(3, 2));
    let quick = service
        .submit(submit("test_steps", json!({"steps": 1, "pause_ms": 100})))
        .unwrap();
    let stubborn = service
        .submit(submit("test_loops", json!({"cooperative": false})))
        .unwrap();
    let safe = service
        .submit(submit("test_idempotent_sleep", json!({"millis": 60000})))
        .unwrap();
    for id in [stubborn.id, safe.id] {
        until_running(&service, id).await;
    }
    let mut events = service.subscribe(stubborn.id).unwrap().unwrap();
    service.shutdown(Duration::from_millis(1000)).await;

    assert_eq!(
        service.get(quick.id).unwrap().unwrap().status,
        RunStatus::Succeeded
    );
    let interrupted = service.get(stubborn.id).unwrap().unwrap();
    assert_eq!(interrupted.status, RunStatus::Failed);
    assert_eq!(
        interrupted.error.unwrap().message,
        "interrupted: the server stopped while the run was running"
    );
    assert_eq!(
        service.get(safe.id).unwrap().unwrap().status,
        RunStatus::Queued
    );
    let mut last = None;
    while let Some(event) = events.recv().await {
        last = Some(event);
    }
    assert!(
        matches!(
            last,
            Some(RunEvent::Status {
                status: RunStatus::Failed
            })
        ),
        "{last:?}"
    );
    let err = service.submit(blocker()).unwrap_err();
    assert!(matches!(err, SubmitError::ShuttingDown), "{err:?}");
    drop(service);

    // The next start runs the idempotent one again (cancelled here to end it).
    let service = start(dir.path(), config(1, 2));
    until_running(&service, safe.id).await;
    service.cancel(safe.id).await.unwrap();
    let run = finished(&service, safe.id).await;
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(
        run.logs[0]
            .message
            .ends_with("queued again because the algorithm is idempotent")
    );
}

#[test]
fn a_service_keeping_runs_for_a_week_deletes_runs_that_ended_more_than_a_week_ago() {
    let dir = tempfile::tempdir().unwrap();
    // A run created `created` days ago that ended `ended` days ago.
    let run_of = |store: &SqliteStore, created: i64, ended: i64| {
        let days_ago = |days: i64| chrono::Utc::now() - chrono::Duration::days(days);
        let mut run = Run::queued(&algohost_sdk::Manifest::new("resample", "0.1.0"), json!({}));
        run.id = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            days_ago(created).timestamp() as u64,
            0,
        ));
        run.created_at = days_ago(created);
        store.create(&run, None).unwrap();
        run.status = RunStatus::Succeeded;
        run.finished_at = Some(days_ago(ended));
        store.update(&run).unwrap();
        run.id
    };
    let (old, recent, long) = {
        let store = SqliteStore::open(dir.path().join("runs.db")).unwrap();
        (
            run_of(&store, 8, 8),
            run_of(&store, 6, 6),
            run_of(&store, 9, 0),
        )
    };
    let service = start(
        dir.path(),
        ServiceConfig {
            keep_runs: Some(Duration::from_secs(7 * 86_400)),
            ..config(1, 4)
        },
    );
    assert!(service.get(old).unwrap().is_none(), "kept past a week");
    assert!(service.get(recent).unwrap().is_some());
    // Created 9 days ago, it ended today: a week from its end is left.
    assert!(service.get(long).unwrap().is_some(), "deleted as it ended");
}

#[tokio::test]
async fn a_queued_run_a_server_cannot_run_says_why_in_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let stranded = {
        let store = SqliteStore::open(dir.path().join("runs.db")).unwrap();
        let manifest = algohost_sdk::Manifest::new("only_elsewhere", "1.0.0");
        let run = Run::queued(&manifest, json!({}));
        store.create(&run, None).unwrap();
        run.id
        // Its server is gone.
    };
    let service = start(dir.path(), config(1, 2));
    let run = service.get(stranded).unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Queued);
    let notes: Vec<&str> = run.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        notes,
        [
            "the run stays queued: its server stopped, and a server that took over its store has \
          no algorithm 'only_elsewhere'; start one that has it on this store, or cancel the run"
        ]
    );
    // Once per server, not at every round of taking over runs.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(service.get(stranded).unwrap().unwrap().logs.len(), 1);
}
