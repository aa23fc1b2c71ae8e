//! The run service behind `algohost serve`: a bounded queue, a pool of
//! workers, per-run timeouts and cancellation, live events, and the store.
//! It knows nothing of HTTP; `server/` translates and delegates.
//!
//! Runs execute on dedicated worker threads (never tokio's), through an
//! [`Executor`]; the async methods only wait on channels. Progress and log
//! records reach subscribers at once and the store at most every 250 ms;
//! everything is persisted when a run ends.

mod executor;
mod fingerprint;
mod queue;
mod state;
mod worker;

pub use executor::{Executor, ThreadExecutor};
use fingerprint::fingerprint;
use queue::{Queue, Refused};
use state::RunState;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::adapters::Adapter;
use crate::registry::{Registry, UnknownAlgorithm};
use crate::runner::{Run, RunError, RunStatus};
use crate::store::{RunQuery, Store, StoreError, interrupted_notice};
use crate::validation::ParamsError;

/// Limits of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Runs executing at once.
    pub concurrency: usize,
    /// Runs waiting for a worker; beyond it submissions are refused.
    pub queue_capacity: usize,
    /// Timeout of runs that ask for none.
    pub default_timeout: Option<Duration>,
    /// The longest timeout a run may ask for.
    pub max_timeout: Option<Duration>,
}

/// A request to start a run.
#[derive(Debug, Clone)]
pub struct Submit {
    /// Algorithm name.
    pub algorithm: String,
    /// Params (validated before the run is queued).
    pub params: Value,
    /// Per-run timeout.
    pub timeout: Option<Duration>,
    /// `Idempotency-Key`: the same key and body return the same run.
    pub idempotency_key: Option<String>,
}

/// Why a submission was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// No such algorithm (with close names).
    #[error(transparent)]
    UnknownAlgorithm(#[from] UnknownAlgorithm),
    /// Invalid params, every error with its pointer.
    #[error("invalid params for '{algorithm}'")]
    InvalidParams {
        /// The algorithm.
        algorithm: String,
        /// Every error.
        errors: Vec<ParamsError>,
    },
    /// The queue is full; try again after `retry_after`.
    #[error("the run queue is full ({capacity} runs waiting); retry later")]
    QueueFull {
        /// Queue capacity.
        capacity: usize,
        /// Suggested wait.
        retry_after: Duration,
    },
    /// The service is shutting down.
    #[error("the server is shutting down and accepts no new runs")]
    ShuttingDown,
    /// The store failed (or the idempotency key conflicts).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a cancellation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// No run with that id.
    #[error("no run with id {0}")]
    NotFound(Uuid),
    /// The run already ended.
    #[error("run {id} already ended as {status}")]
    Finished {
        /// The run.
        id: Uuid,
        /// How it ended.
        status: RunStatus,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Something that happened to a run, for event streams (SSE).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// Status changed (the last event of a run has a finished status).
    Status {
        /// New status.
        status: RunStatus,
    },
    /// Progress reported.
    Progress {
        /// 0..=1.
        progress: f64,
        /// Message.
        message: String,
    },
    /// A log record.
    Log(LogRecord),
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceMetrics {
    /// Runs waiting.
    pub queue_depth: usize,
    /// Runs executing.
    pub running: usize,
    /// Finished runs by status since start.
    pub finished: BTreeMap<String, u64>,
    /// Durations (seconds) of finished runs, for the histogram.
    pub durations: Vec<f64>,
}

impl Default for ServiceConfig {
    /// One worker per CPU, 64 waiting runs, no timeouts.
    fn default() -> Self {
        Self {
            concurrency: std::thread::available_parallelism().map_or(1, |n| n.get()),
            queue_capacity: 64,
            default_timeout: None,
            max_timeout: None,
        }
    }
}

/// Finished runs so far, for metrics and `Retry-After`.
#[derive(Default)]
struct Tally {
    finished: BTreeMap<String, u64>,
    durations: Vec<f64>,
    /// Moving average of run durations, seconds.
    mean_duration: Option<f64>,
}

/// What the service's threads and methods share.
struct Shared {
    registry: Arc<Registry>,
    adapter: Arc<dyn Adapter>,
    store: Arc<dyn Store>,
    executor: Arc<dyn Executor>,
    config: ServiceConfig,
    queue: Queue,
    /// Runs queued or running in this process.
    runs: Mutex<HashMap<Uuid, Arc<RunState>>>,
    tally: Mutex<Tally>,
}

fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn live(&self, id: Uuid) -> Option<Arc<RunState>> {
        relock(&self.runs).get(&id).cloned()
    }

    fn live_runs(&self) -> Vec<Arc<RunState>> {
        relock(&self.runs).values().cloned().collect()
    }

    fn is_idempotent(&self, algorithm: &str) -> bool {
        self.registry
            .get(algorithm)
            .is_ok_and(|a| a.manifest.idempotent)
    }

    /// Forgets an ended run and counts it (once).
    fn retire(&self, state: &RunState) {
        if relock(&self.runs).remove(&state.id).is_none() {
            return;
        }
        let run = state.snapshot();
        if !run.status.is_finished() {
            return;
        }
        let mut tally = relock(&self.tally);
        *tally.finished.entry(run.status.to_string()).or_default() += 1;
        if let (Some(start), Some(end)) = (run.started_at, run.finished_at) {
            let seconds = (end - start).num_microseconds().unwrap_or(0) as f64 / 1e6;
            tally.durations.push(seconds);
            let mean = tally
                .mean_duration
                .map_or(seconds, |m| 0.8 * m + 0.2 * seconds);
            tally.mean_duration = Some(mean);
        }
    }

    /// The record as stored, with the live status and progress of a run
    /// this process holds.
    fn get(&self, id: Uuid) -> Result<Option<Run>, StoreError> {
        match self.live(id) {
            Some(state) => state.current(&*self.store).map(Some),
            None => self.store.get(id),
        }
    }

    /// A suggested wait before submitting again: the expected time for the
    /// queue ahead to move, between 1 and 60 seconds.
    fn retry_after(&self, waiting: usize) -> Duration {
        let mean = relock(&self.tally).mean_duration.unwrap_or(1.0);
        let rounds = waiting as f64 / self.config.concurrency.max(1) as f64 + 1.0;
        Duration::from_secs((mean * rounds).ceil().clamp(1.0, 60.0) as u64)
    }

    fn timeout(&self, asked: Option<Duration>) -> Option<Duration> {
        let timeout = asked.or(self.config.default_timeout);
        match (timeout, self.config.max_timeout) {
            (Some(t), Some(max)) => Some(t.min(max)),
            (None, max) => max,
            (t, None) => t,
        }
    }

    /// At shutdown: ends the runs still running as interrupted (requeued
    /// when idempotent) and closes every event stream.
    fn interrupt(&self) {
        for state in self.live_runs() {
            if state.status() == RunStatus::Running {
                state.cancel.cancel();
                let requeue = self.is_idempotent(&state.snapshot().algorithm);
                let notice = LogRecord::now("warn", "algohost", interrupted_notice(requeue));
                let (status, error) = if requeue {
                    (RunStatus::Queued, None)
                } else {
                    (RunStatus::Failed, Some(RunError::interrupted()))
                };
                if state.end_as(&*self.store, status, error, Some(notice)) {
                    self.retire(&state);
                }
            } else {
                state.flush(&*self.store);
            }
            state.close_streams();
        }
        // Later questions about the runs left queued go to the store.
        relock(&self.runs).clear();
    }
}

/// The run service: validates and queues runs, executes them on worker
/// threads, and keeps their records in the store.
pub struct Service {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Drop for Service {
    /// Lets idle workers and the flusher exit; running runs go on.
    fn drop(&mut self) {
        self.shared.queue.close();
    }
}

impl Service {
    /// Starts the workers; recovers runs a previous process left unfinished.
    pub fn start(
        registry: Arc<Registry>,
        adapter: Arc<dyn Adapter>,
        store: Arc<dyn Store>,
        config: ServiceConfig,
    ) -> Result<Arc<Self>, StoreError> {
        Self::start_with_executor(registry, adapter, store, config, Arc::new(ThreadExecutor))
    }

    /// [`Service::start`] with another executor (an isolated worker
    /// process, a Python executor).
    pub fn start_with_executor(
        registry: Arc<Registry>,
        adapter: Arc<dyn Adapter>,
        store: Arc<dyn Store>,
        mut config: ServiceConfig,
        executor: Arc<dyn Executor>,
    ) -> Result<Arc<Self>, StoreError> {
        config.concurrency = config.concurrency.max(1);
        let shared = Arc::new(Shared {
            registry,
            adapter,
            store,
            executor,
            queue: Queue::new(config.concurrency, config.queue_capacity),
            config,
            runs: Mutex::new(HashMap::new()),
            tally: Mutex::new(Tally::default()),
        });
        let (recovered, queued) = shared.store.recover(&|name| shared.is_idempotent(name))?;
        for id in &recovered.interrupted {
            tracing::warn!(run_id = %id, "run interrupted by the last server stop marked failed");
        }
        for id in &recovered.requeued {
            tracing::info!(run_id = %id, "run interrupted by the last server stop queued again");
        }
        for run in queued {
            let timeout = run
                .timeout
                .and_then(|s| Duration::try_from_secs_f64(s).ok());
            let state = RunState::new(run, timeout);
            relock(&shared.runs).insert(state.id, state.clone());
            shared.queue.push(state, false);
        }
        worker::spawn(&shared, shared.config.concurrency).map_err(|e| {
            shared.queue.close();
            StoreError::Backend(format!("could not start the worker threads: {e}"))
        })?;
        Ok(Arc::new(Self { shared }))
    }

    /// The registry runs come from.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    /// The adapter runs read and write through (also serves the data API).
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        &self.shared.adapter
    }

    /// The limits the service runs with.
    pub fn config(&self) -> &ServiceConfig {
        &self.shared.config
    }

    /// Validates and queues a run; answers at once with the queued run. A
    /// timeout above the configured maximum is lowered to it.
    pub fn submit(&self, submit: Submit) -> Result<Run, SubmitError> {
        let shared = &self.shared;
        if shared.queue.is_closed() {
            return Err(SubmitError::ShuttingDown);
        }
        let entry = shared.registry.get(&submit.algorithm)?;
        let errors = entry.validate(&submit.params);
        if !errors.is_empty() {
            return Err(SubmitError::InvalidParams {
                algorithm: submit.algorithm,
                errors,
            });
        }
        let idempotency = submit
            .idempotency_key
            .as_deref()
            .map(|key| (key, fingerprint(&submit)));
        if let Some((key, fingerprint)) = &idempotency
            && let Some(existing) = shared.store.find_idempotent(key, fingerprint)?
        {
            return Ok(shared.get(existing.id)?.unwrap_or(existing));
        }
        shared.queue.reserve().map_err(|refused| match refused {
            Refused::Closed => SubmitError::ShuttingDown,
            Refused::Full { waiting } => SubmitError::QueueFull {
                capacity: shared.config.queue_capacity,
                retry_after: shared.retry_after(waiting),
            },
        })?;
        let timeout = shared.timeout(submit.timeout);
        let mut run = Run::queued(&entry.manifest, submit.params);
        run.timeout = timeout.map(|t| t.as_secs_f64());
        let state = RunState::new(run.clone(), timeout);
        // Held before it is stored, so that whoever sees the run sees it live.
        relock(&shared.runs).insert(run.id, state.clone());
        let idempotency = idempotency.as_ref().map(|(k, f)| (*k, f.as_str()));
        match shared.store.create(&run, idempotency) {
            Ok(stored) if stored.id == run.id => {
                shared.queue.push(state, true);
                Ok(stored)
            }
            created => {
                relock(&shared.runs).remove(&run.id);
                shared.queue.unreserve();
                let existing = created?;
                Ok(shared.get(existing.id)?.unwrap_or(existing))
            }
        }
    }

    /// Waits up to `timeout` for the run to finish; returns it as it is then.
    pub async fn wait(&self, id: Uuid, timeout: Duration) -> Result<Option<Run>, StoreError> {
        if let Some(state) = self.shared.live(id) {
            let mut status = state.watch_status();
            let finished = status.wait_for(|s| s.is_finished());
            // Either way the run is read below as it is now.
            let _ = tokio::time::timeout(timeout, finished).await;
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.get(id))
            .await
            .map_err(|e| StoreError::Backend(format!("reading the run failed: {e}")))?
    }

    /// One run, with its live progress and every log record so far.
    pub fn get(&self, id: Uuid) -> Result<Option<Run>, StoreError> {
        self.shared.get(id)
    }

    /// Runs, newest first, without their logs (progress as last persisted).
    pub fn list(&self, query: &RunQuery) -> Result<Vec<Run>, StoreError> {
        self.shared.store.list(query)
    }

    /// Cancels a queued run (it never starts) or a running one (it is asked
    /// to stop and ends `cancelled` when it does); returns the run as it is.
    pub fn cancel(&self, id: Uuid) -> Result<Run, CancelError> {
        let shared = &self.shared;
        let Some(state) = shared.live(id) else {
            // Not held here: only the store can say (a run queued before a
            // shutdown is cancelled there directly).
            let mut run = shared.store.get(id)?.ok_or(CancelError::NotFound(id))?;
            if run.status.is_finished() {
                return Err(CancelError::Finished {
                    id,
                    status: run.status,
                });
            }
            run.status = RunStatus::Cancelled;
            run.error = Some(RunError::cancelled());
            run.finished_at = Some(chrono::Utc::now());
            shared.store.update(&run)?;
            return Ok(run);
        };
        let status = state.status();
        if status.is_finished() {
            return Err(CancelError::Finished { id, status });
        }
        state.cancel.cancel();
        if shared.queue.remove(id) {
            let error = Some(RunError::cancelled());
            state.end_as(&*shared.store, RunStatus::Cancelled, error, None);
            shared.retire(&state);
        }
        Ok(state.current(&*shared.store)?)
    }

    /// Live events of a run: `None` when the run does not exist. The stream
    /// starts with the current status and ends after the final one; for a
    /// finished run it yields its final status and ends.
    pub fn subscribe(&self, id: Uuid) -> Result<Option<mpsc::Receiver<RunEvent>>, StoreError> {
        if let Some(state) = self.shared.live(id) {
            return Ok(Some(state.subscribe()));
        }
        let Some(run) = self.shared.store.get(id)? else {
            return Ok(None);
        };
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(RunEvent::Status { status: run.status });
        Ok(Some(rx))
    }

    /// An output frame of a finished run.
    pub fn frame(&self, id: Uuid, name: &str) -> Result<Option<DataFrame>, StoreError> {
        self.shared.store.frame(id, name)
    }

    /// Counters for `/metrics`.
    pub fn metrics(&self) -> ServiceMetrics {
        let (queue_depth, running) = self.shared.queue.depth();
        let tally = relock(&self.shared.tally);
        ServiceMetrics {
            queue_depth,
            running,
            finished: tally.finished.clone(),
            durations: tally.durations.clone(),
        }
    }

    /// Stops accepting runs, lets running ones finish for up to `grace`, then
    /// marks what still runs as failed ("interrupted"), or queued again when
    /// its algorithm is idempotent. Queued runs stay queued in the store for
    /// the next start; every event stream ends.
    pub async fn shutdown(&self, grace: Duration) {
        self.shared.queue.close();
        let mut running = self.shared.queue.watch_running();
        let drained = running.wait_for(|n| *n == 0);
        let _ = tokio::time::timeout(grace, drained).await;
        let shared = self.shared.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || shared.interrupt()).await {
            tracing::error!("interrupting the runs still running failed: {e}");
        }
    }
}
