//! The run service behind `algohost serve`: a bounded queue, a pool of
//! workers, per-run timeouts and cancellation, live events, and the store.
//! It knows nothing of HTTP; `server/` translates and delegates.
//!
//! Runs execute on dedicated worker threads, through an [`Executor`]; the
//! async methods only wait on channels, and the persister wakes a run's
//! waiters once its end is stored. The one exception: a waited-for run of
//! an algorithm whose recent runs all took microseconds executes where it
//! is submitted, in a free worker slot, which spares it two thread
//! hand-offs that cost more than the run (see `quick`). A run this process
//! holds is read from memory, never from the store.
//!
//! One thread, the persister, writes the runs held here to the store, in
//! batches: one transaction for every run that changed since the last
//! (see `persister`). What reaches the store, and when:
//! - a run is stored when it is submitted, or, for a submitter that waits
//!   for it, lazily (see `Storing`);
//! - a run stored as queued is stored as `running` before its plugin
//!   starts, so that recovery after a killed process finds it (and marks it
//!   interrupted, or queues it again when its algorithm is idempotent)
//!   rather than running it twice; the start of a run not stored yet is
//!   written within a millisecond, while its plugin runs (`Start`);
//! - progress and log records reach subscribers at once and the store at
//!   most every 250 ms;
//! - its end (final record, last log records, output frames) is committed
//!   before anyone sees the run finished; a run that ends within the
//!   millisecond it started in costs one insert, and the runs of a batch
//!   share one commit.

mod executor;
mod fingerprint;
mod persister;
mod queue;
mod quick;
mod shared;
mod state;
mod worker;

pub use executor::{Executor, ThreadExecutor};
use fingerprint::fingerprint;
use persister::Persister;
use queue::{Lane, Lanes, Refused};
use quick::Quick;
use shared::{Shared, Tally, relock};
use state::RunState;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use prometheus_client::metrics::histogram::Histogram;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::adapters::Adapter;
use crate::registry::{Registry, UnknownAlgorithm};
use crate::runner::{Run, RunError, RunStatus};
use crate::store::{Deletion, Logs, RunQuery, Store, StoreError, Unheld};
use crate::validation::ParamsError;

/// Limits of the service.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Rust runs executing at once.
    pub concurrency: usize,
    /// Python runs executing at once, on workers of their own.
    pub python_concurrency: usize,
    /// Runs waiting for a worker, in each lane (Rust, Python); beyond it
    /// submissions are refused.
    pub queue_capacity: usize,
    /// Timeout of runs that ask for none.
    pub default_timeout: Option<Duration>,
    /// The longest timeout a run may ask for.
    pub max_timeout: Option<Duration>,
    /// How often the service takes over the runs of servers that shared
    /// the store and are gone (see [`Store::reclaim`]); it also does at
    /// start-up.
    pub reclaim_interval: Duration,
    /// Runs that ended longer ago than this are deleted, a few at a time,
    /// as often as runs are reclaimed (see [`Store::prune`]); all are kept
    /// when `None`.
    pub keep_runs: Option<Duration>,
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
    #[error(
        "the run queue is full ({capacity} waiting for a worker, as many as it holds); retry later"
    )]
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
    /// The run already ended, other than cancelled.
    #[error("run {id} already ended as {status}")]
    Finished {
        /// The run.
        id: Uuid,
        /// How it ended.
        status: RunStatus,
    },
    /// Another server sharing the store holds the run.
    #[error(
        "run {0} is held by another algohost server that shares this run store; cancel it through that server"
    )]
    HeldElsewhere(Uuid),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a run was not deleted.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// No run with that id.
    #[error("no run with id {0}")]
    NotFound(Uuid),
    /// The run has not ended.
    #[error(
        "run {id} is {status}: only a run that ended can be deleted; cancel it first \
         (POST /runs/{id}/cancel), then delete it once it has ended"
    )]
    Unfinished {
        /// The run.
        id: Uuid,
        /// Its status.
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

/// How often a run held by another server is read from the store for its
/// event stream (see [`Service::subscribe`]).
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(250);

/// Streams the events of a run held by another server as the store sees
/// them change (as often as that server writes them), until it ends or
/// nobody listens.
async fn follow(store: Arc<dyn Store>, mut run: Run, events: mpsc::Sender<RunEvent>) {
    let progress = |run: &Run| RunEvent::Progress {
        progress: run.progress,
        message: run.progress_message.clone(),
    };
    let _ = events.send(RunEvent::Status { status: run.status }).await;
    if run.progress > 0.0 || !run.progress_message.is_empty() {
        let _ = events.send(progress(&run)).await;
    }
    loop {
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        if events.is_closed() {
            return;
        }
        let (store, id) = (store.clone(), run.id);
        let now = match tokio::task::spawn_blocking(move || store.get(id)).await {
            Ok(Ok(Some(now))) => now,
            Ok(Err(e)) => {
                tracing::warn!(run_id = %id, "following the run in the store failed: {e}");
                return;
            }
            Ok(Ok(None)) | Err(_) => return,
        };
        for record in now.logs.iter().skip(run.logs.len()) {
            let _ = events.send(RunEvent::Log(record.clone())).await;
        }
        if (now.progress, &now.progress_message) != (run.progress, &run.progress_message) {
            let _ = events.send(progress(&now)).await;
        }
        if now.status != run.status {
            let _ = events.send(RunEvent::Status { status: now.status }).await;
        }
        if now.status.is_finished() {
            return;
        }
        run = now;
    }
}

/// A run that ended, asked to cancel: fine when it ended cancelled (a
/// cancellation ended it), refused when it ended otherwise.
fn cancelled(run: Run) -> Result<Run, CancelError> {
    match run.status {
        RunStatus::Cancelled => Ok(run),
        status => Err(CancelError::Finished { id: run.id, status }),
    }
}

/// The error of a waited-for run that could not be stored, its cause put
/// in `context` (which says what became of the run).
fn unstored(e: StoreError, context: impl Fn(String) -> String) -> SubmitError {
    SubmitError::Store(match e {
        StoreError::Unwritable(cause) => StoreError::Unwritable(context(cause)),
        StoreError::Backend(cause) => StoreError::Backend(context(cause)),
        other => other,
    })
}

/// When a submitted run is first written to the store.
#[derive(Debug, Clone, Copy)]
enum Storing {
    /// Before the submission returns: its id is handed out at once, and
    /// whoever gets it may look the run up or cancel it.
    Now,
    /// When its submitter stops waiting, within a millisecond of a worker
    /// starting it, or within the flush interval of its queueing, whichever
    /// comes first. Until then nobody else knows its id (it is not listed
    /// yet), and a process killed meanwhile loses a run that nobody was told
    /// about, and whose plugin, if it started, ran for at most that
    /// millisecond: its submitter sees the connection fail, as if the
    /// request had never arrived.
    Lazily,
}

/// A submission let in.
enum Admitted {
    /// A new run, queued and stored: its record as submitted.
    Stored(Run),
    /// A new run, to be stored lazily: queued, or executed already (see
    /// `quick`).
    Queued(Arc<RunState>),
    /// The run an idempotency key already made.
    Existing(Run),
}

/// Counters for `/metrics`.
#[derive(Debug, Clone)]
pub struct ServiceMetrics {
    /// Runs waiting.
    pub queue_depth: usize,
    /// Runs executing.
    pub running: usize,
    /// Runs that ended whose end the store could not take yet (its disk
    /// full): kept in memory, lost if the server stops before it does.
    pub kept: usize,
    /// Finished runs by status since start.
    pub finished: BTreeMap<String, u64>,
    /// Durations (seconds) of finished runs since start.
    pub durations: Histogram,
}

impl Default for ServiceConfig {
    /// One worker per CPU for each lane, 64 waiting runs, no timeouts,
    /// runs of gone servers taken over within 5 s.
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            concurrency: cpus,
            python_concurrency: cpus,
            queue_capacity: 64,
            default_timeout: None,
            max_timeout: None,
            reclaim_interval: RECLAIM_INTERVAL,
            keep_runs: None,
        }
    }
}

/// The default [`ServiceConfig::reclaim_interval`].
pub const RECLAIM_INTERVAL: Duration = Duration::from_secs(5);

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
    /// Lets idle workers exit, and the persister once it has written what
    /// they leave; running runs go on.
    fn drop(&mut self) {
        self.shared.lanes.close();
        self.shared.persister.close();
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
        config.python_concurrency = config.python_concurrency.max(1);
        let persister = Persister::start(store.clone()).map_err(|e| {
            StoreError::Backend(format!("could not start the persister thread: {e}"))
        })?;
        let shared = Arc::new(Shared {
            registry,
            adapter,
            store,
            executor,
            persister,
            lanes: Lanes::new(
                config.concurrency,
                config.python_concurrency,
                config.queue_capacity,
            ),
            config,
            runs: Mutex::new(HashMap::new()),
            tally: Mutex::new(Tally::default()),
            left_queued: Mutex::default(),
            quick: Quick::default(),
        });
        shared.persister.serve(Arc::downgrade(&shared));
        shared.reclaim()?;
        shared.prune();
        let spawned = worker::spawn(&shared, Lane::Native, shared.config.concurrency)
            .and_then(|()| worker::spawn(&shared, Lane::Python, shared.config.python_concurrency))
            .and_then(|()| shared::spawn_reclaimer(&shared));
        spawned.map_err(|e| {
            shared.lanes.close();
            shared.persister.close();
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

    /// Validates and queues a run; answers at once with the queued run,
    /// stored. A timeout above the configured maximum is lowered to it.
    pub fn submit(&self, submit: Submit) -> Result<Run, SubmitError> {
        match self.admit(submit, Storing::Now)? {
            Admitted::Stored(run) | Admitted::Existing(run) => Ok(run),
            Admitted::Queued(state) => Ok(state.snapshot()),
        }
    }

    /// [`Service::submit`] for a submitter that waits up to `timeout` for
    /// the run to finish: returns the run as it is then (finished or not),
    /// stored either way.
    ///
    /// Until the run returns, only this caller can know its id, so the run
    /// is stored lazily (`Storing::Lazily`); a run that starts at once and
    /// finishes within a millisecond costs one insert of its final record
    /// (before it returns), shared with the other runs of its batch.
    pub async fn submit_and_wait(
        &self,
        submit: Submit,
        timeout: Duration,
    ) -> Result<Run, SubmitError> {
        let state = match self.admit(submit, Storing::Lazily)? {
            Admitted::Queued(state) => state,
            Admitted::Existing(run) if run.status.is_finished() => return Ok(run),
            Admitted::Stored(run) | Admitted::Existing(run) => {
                return Ok(self.wait(run.id, timeout).await?.unwrap_or(run));
            }
        };
        let has_finished = self.wait_for_end(&state, timeout).await;
        if !has_finished && let Some(ticket) = state.persist() {
            // Its id is about to be handed out: the run must be in the store.
            self.shared.persister.wait_async(ticket).await;
        }
        // Nobody is told the id of a run the store does not have.
        let Some(e) = state.insert_failure() else {
            return Ok(state.into_snapshot());
        };
        let run = state.snapshot();
        if has_finished {
            return Err(unstored(e, |cause| {
                format!(
                    "the run of '{}' ended {} but could not be stored ({cause})",
                    run.algorithm, run.status
                )
            }));
        }
        state.cancel.cancel();
        if self.shared.lanes.remove(state.id) {
            let _ = state.end_as(RunStatus::Cancelled, Some(RunError::cancelled()), None);
        }
        Err(unstored(e, |cause| {
            format!(
                "the run of '{}' could not be stored ({cause}) and was cancelled",
                run.algorithm
            )
        }))
    }

    /// Validates a submission and queues its run (or finds the run its
    /// idempotency key made). A run stored lazily of an algorithm known to
    /// be quick executes right here instead, when a worker is free (see
    /// `quick`): it comes back ended, its end on its way to the store.
    fn admit(&self, submit: Submit, storing: Storing) -> Result<Admitted, SubmitError> {
        let shared = &self.shared;
        if shared.lanes.is_closed() {
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
            return Ok(Admitted::Existing(
                shared.get(existing.id)?.unwrap_or(existing),
            ));
        }
        // A store known not to take writes (a full disk) would throw the
        // run away once it ran: refused now, with the store's reason.
        shared.store.check_writable()?;
        let lane = Lane::of(&entry.source);
        let queue = shared.lanes.get(lane);
        queue.reserve().map_err(|refused| match refused {
            Refused::Closed => SubmitError::ShuttingDown,
            Refused::Full { waiting } => SubmitError::QueueFull {
                capacity: shared.config.queue_capacity,
                retry_after: shared.retry_after(lane, waiting),
            },
        })?;
        let timeout = shared.timeout(submit.timeout);
        let mut run = Run::queued(&entry.manifest, submit.params);
        run.timeout = timeout.map(|t| t.as_secs_f64());
        // A run with an idempotency key is stored at once, with its key.
        if matches!(storing, Storing::Lazily) && idempotency.is_none() {
            let state = RunState::new(run, lane, timeout, false, &shared.persister);
            relock(&shared.runs).insert(state.id, state.clone());
            // A quick algorithm's run executes here (see `quick`).
            let place = (lane == Lane::Native && timeout.is_none())
                .then(|| shared.quick.inline(&entry.manifest.name))
                .flatten();
            if place.is_some() && queue.start_reserved() {
                worker::run(shared, queue, &state, true);
            } else {
                queue.push(state.clone(), true);
            }
            return Ok(Admitted::Queued(state));
        }
        let state = RunState::new(run.clone(), lane, timeout, true, &shared.persister);
        // Held before it is stored, so that whoever sees the run sees it live.
        relock(&shared.runs).insert(run.id, state.clone());
        let idempotency = idempotency.as_ref().map(|(k, f)| (*k, f.as_str()));
        match shared.store.create(&run, idempotency) {
            Ok(stored) if stored.id == run.id => {
                queue.push(state, true);
                Ok(Admitted::Stored(stored))
            }
            created => {
                relock(&shared.runs).remove(&run.id);
                queue.unreserve();
                let existing = created?;
                Ok(Admitted::Existing(
                    shared.get(existing.id)?.unwrap_or(existing),
                ))
            }
        }
    }

    /// Waits up to `timeout` for the run to finish; returns it as it is then.
    /// The worker wakes the waiter as it ends the run, and the run is read
    /// from memory: waiting costs no store read. A run another server
    /// sharing the store holds is followed in the store (see
    /// [`Service::subscribe`]).
    pub async fn wait(&self, id: Uuid, timeout: Duration) -> Result<Option<Run>, StoreError> {
        let Some(state) = self.shared.live(id) else {
            let Some(mut events) = self.subscribe(id)? else {
                return Ok(None);
            };
            let finished = async {
                while let Some(event) = events.recv().await {
                    if matches!(event, RunEvent::Status { status } if status.is_finished()) {
                        return;
                    }
                }
            };
            let _ = tokio::time::timeout(timeout, finished).await;
            let shared = self.shared.clone();
            return tokio::task::spawn_blocking(move || shared.get(id))
                .await
                .map_err(|e| StoreError::Backend(format!("reading the run failed: {e}")))?;
        };
        // Either way the run is read below as it is now.
        self.wait_for_end(&state, timeout).await;
        Ok(Some(state.snapshot()))
    }

    /// Waits up to `timeout` for a run held here to end; whether it did. A
    /// run still queued when the service shuts down will not start before
    /// the next start: its waiter is answered at once with it as it is
    /// (queued, and stored), rather than held until the connection is
    /// closed without an answer.
    async fn wait_for_end(&self, state: &RunState, timeout: Duration) -> bool {
        let ended = async {
            tokio::select! {
                _ = state.wait_published(RunStatus::is_finished) => return true,
                () = self.shared.lanes.closed() => {}
            }
            if state.status() == RunStatus::Queued {
                return false;
            }
            // Running: it ends within the grace period (or is interrupted
            // then, which ends it or queues it again).
            let ended = state.wait_published(|s| s.is_finished() || s == RunStatus::Queued);
            ended.await.is_finished()
        };
        tokio::time::timeout(timeout, ended).await.unwrap_or(false)
    }

    /// One run, with its live progress and every log record so far.
    pub fn get(&self, id: Uuid) -> Result<Option<Run>, StoreError> {
        self.shared.get(id)
    }

    /// One run, with its live progress and the log records `logs` selects:
    /// a reader polling a run that logs much reads only what is new, or no
    /// record at all.
    pub fn read(&self, id: Uuid, logs: Logs) -> Result<Option<Run>, StoreError> {
        match self.shared.live(id) {
            Some(state) => Ok(Some(state.read(logs))),
            None => self.shared.store.read(id, logs),
        }
    }

    /// Runs, newest first, without their logs: those this process holds
    /// as they are now (live progress; a run whose end the store could
    /// not take yet, ended), the others as stored. A held run whose status
    /// has moved out of the query's since it was stored is listed as
    /// stored (the page stays the store's, whose paging is by id).
    pub fn list(&self, query: &RunQuery) -> Result<Vec<Run>, StoreError> {
        let mut runs = self.shared.store.list(query)?;
        for run in &mut runs {
            let Some(state) = self.shared.live(run.id) else {
                continue;
            };
            let live = state.read(Logs::None);
            if query.status.is_empty() || query.status.contains(&live.status) {
                *run = live;
            }
        }
        Ok(runs)
    }

    /// Cancels a queued run (it never starts) or a running one (it is asked
    /// to stop, which its log notes at once, and ends `cancelled` when it
    /// does); returns the run as it is. A run that already ended cancelled
    /// is answered as it is (a retried cancellation succeeds), one that
    /// ended otherwise is refused.
    pub async fn cancel(&self, id: Uuid) -> Result<Run, CancelError> {
        let shared = &self.shared;
        let Some(state) = shared.live(id) else {
            // Not held in memory here: a run left queued at shutdown, or
            // one another server sharing the store holds (or held).
            let mut run = shared.store.get(id)?.ok_or(CancelError::NotFound(id))?;
            if run.status.is_finished() {
                return cancelled(run);
            }
            run.status = RunStatus::Cancelled;
            run.error = Some(RunError::cancelled());
            run.finished_at = Some(chrono::Utc::now());
            return match shared.store.end_unheld(&run)? {
                Unheld::Ended => Ok(run),
                Unheld::HeldElsewhere => Err(CancelError::HeldElsewhere(id)),
                // Ended meanwhile (another cancellation?): as it is now.
                Unheld::AlreadyEnded(_) => {
                    cancelled(shared.store.get(id)?.ok_or(CancelError::NotFound(id))?)
                }
            };
        };
        if let Some(ticket) = state.cancel_queued() {
            // This request ended it; a worker that took it meanwhile skips it.
            state.cancel.cancel();
            shared.lanes.remove(id);
            // Answered as it is stored, ended.
            shared.persister.wait_async(ticket).await;
            return Ok(state.snapshot());
        }
        if let Some(status) = state.ended_as() {
            // Another cancellation, or the run itself, ended it first: it is
            // answered as ended once that is published, as a later request
            // would see it.
            if !status.is_finished() {
                return Ok(state.snapshot()); // queued again at shutdown
            }
            state.wait_published(RunStatus::is_finished).await;
            return cancelled(state.snapshot());
        }
        // Running: asked to stop, it ends `cancelled` when it does.
        state.request_cancel();
        Ok(state.snapshot())
    }

    /// Deletes a run that ended, with its log records, output frames and
    /// idempotency key (a request with that key makes a new run). Blocks
    /// on the store: call it where blocking is allowed.
    pub fn delete(&self, id: Uuid) -> Result<(), DeleteError> {
        if let Some(state) = self.shared.live(id) {
            if state.has_kept_end() {
                return Err(DeleteError::Store(StoreError::Unwritable(format!(
                    "run {id} ended, but the store could not take its end yet (its disk may be \
                     full); it can be deleted once it has"
                ))));
            }
            // Held here until its end is stored and published.
            let status = state.status();
            return Err(DeleteError::Unfinished { id, status });
        }
        match self.shared.store.delete(id)? {
            Deletion::Deleted => Ok(()),
            Deletion::NotFound => Err(DeleteError::NotFound(id)),
            Deletion::Unfinished(status) => Err(DeleteError::Unfinished { id, status }),
        }
    }

    /// Live events of a run: `None` when the run does not exist. The stream
    /// starts with the current status and ends after the final one; for a
    /// finished run it yields its final status and ends. A run that another
    /// server sharing the store holds is followed in the store (every
    /// [`FOLLOW_INTERVAL`], on the current tokio runtime).
    pub fn subscribe(&self, id: Uuid) -> Result<Option<mpsc::Receiver<RunEvent>>, StoreError> {
        if let Some(state) = self.shared.live(id) {
            return Ok(Some(state.subscribe()));
        }
        let Some(run) = self.shared.store.get(id)? else {
            return Ok(None);
        };
        let (tx, rx) = mpsc::channel(state::EVENT_BUFFER);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if !run.status.is_finished() => {
                runtime.spawn(follow(self.shared.store.clone(), run, tx));
            }
            _ => {
                let _ = tx.try_send(RunEvent::Status { status: run.status });
            }
        }
        Ok(Some(rx))
    }

    /// An output frame of a finished run.
    pub fn frame(&self, id: Uuid, name: &str) -> Result<Option<DataFrame>, StoreError> {
        let kept = self
            .shared
            .live(id)
            .and_then(|state| state.kept_frame(name));
        if let Some(frame) = kept {
            return Ok(Some(frame));
        }
        self.shared.store.frame(id, name)
    }

    /// Whether the store takes writes: the cause while its last write
    /// failed because it cannot be written (see [`Store::check_writable`]).
    /// May try a small write: call it where blocking is allowed.
    pub fn check_store(&self) -> Result<(), StoreError> {
        self.shared.store.check_writable()
    }

    /// Counters for `/metrics`.
    pub fn metrics(&self) -> ServiceMetrics {
        let (queue_depth, running) = self.shared.lanes.depth();
        let kept = self
            .shared
            .live_runs()
            .iter()
            .filter(|state| state.has_kept_end())
            .count();
        let tally = relock(&self.shared.tally);
        ServiceMetrics {
            queue_depth,
            running,
            kept,
            finished: tally.finished.clone(),
            durations: tally.durations.clone(),
        }
    }

    /// Stops accepting runs, lets running ones finish for up to `grace`, then
    /// marks what still runs as failed ("interrupted"), or queued again when
    /// its algorithm is idempotent. Queued runs stay queued in the store for
    /// the next start; every event stream ends.
    ///
    /// The ends the store could not take yet (see `state::Write::settle`) get
    /// what is left of `grace` to be written; returns the ids of those it
    /// still could not take, which are lost.
    pub async fn shutdown(&self, grace: Duration) -> Vec<Uuid> {
        let deadline = std::time::Instant::now() + grace;
        self.shared.lanes.close();
        let _ = tokio::time::timeout(grace, self.shared.lanes.drained()).await;
        // The ends of the runs that finished are published first.
        let persister = &self.shared.persister;
        persister.wait_async(persister.sync()).await;
        let shared = self.shared.clone();
        match tokio::task::spawn_blocking(move || shared.interrupt(deadline)).await {
            Ok(lost) => lost,
            Err(e) => {
                tracing::error!("interrupting the runs still running failed: {e}");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests;
