//! The runner core: executes one run of a registered algorithm with its
//! context, and reports how it ended.
//!
//! Params are validated before any plugin code runs. The plugin runs inside
//! the run's logging scope, on the calling thread when the run has no
//! deadline and on a pooled thread when it has one; a panic or an error
//! becomes a failed run, never a crashed host (a panic's error says where
//! it panicked, as Rust's own report does). At the deadline the runner
//! stops waiting, flags the run as cancelled (so cooperative plugins stop)
//! and reports `timed_out`.
//!
//! A run can be made in two steps: [`prepare`] validates and gives the
//! queued record (id, timestamps), [`run_prepared`] executes it later; the
//! service persists the record in between. [`execute`] does both at once.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use algohost_sdk::data::{DataPointConfig, DataPointFilter};
use algohost_sdk::logging::{LogRecord, with_run_logging};
use algohost_sdk::polars::prelude::DataFrame;
use algohost_sdk::{Context, Error, Manifest, Output, RunHost};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::adapters::Adapter;
use crate::registry::{Registry, UnknownAlgorithm};
use crate::validation::ParamsError;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// Executing.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Ended with an error (including a plugin panic).
    Failed,
    /// Stopped because it was cancelled.
    Cancelled,
    /// Still running at its deadline.
    TimedOut,
}

impl RunStatus {
    /// Every status, in the order of a run's life.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Cancelled,
        RunStatus::TimedOut,
    ];

    /// Whether the run has ended.
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }

    /// The status as the API and the store spell it (`timed_out`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TimedOut => "timed_out",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;

    /// Parses what [`RunStatus::as_str`] gives.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| format!("unknown run status '{text}'"))
    }
}

/// Why a run did not succeed.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RunError {
    /// `panic`, `failed`, `cancelled`, `timed_out`, `invalid_input`, `data`, …
    pub kind: String,
    /// What happened, for people.
    pub message: String,
    /// Anything structured that helps.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
}

impl RunError {
    /// The error of a cancelled run.
    pub fn cancelled() -> Self {
        Self {
            kind: "cancelled".to_owned(),
            message: "the run was cancelled".to_owned(),
            details: Value::Null,
        }
    }

    /// The error of a run that was running when its server stopped (killed,
    /// or shut down past its grace period).
    pub fn interrupted() -> Self {
        Self {
            kind: "interrupted".to_owned(),
            message: "interrupted: the server stopped while the run was running".to_owned(),
            details: Value::Null,
        }
    }
}

/// One execution of an algorithm.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Run {
    /// UUIDv7.
    pub id: Uuid,
    /// Algorithm name.
    pub algorithm: String,
    /// Algorithm version.
    pub version: String,
    /// The validated params.
    pub params: Value,
    /// The timeout the run was given, in seconds.
    #[serde(default)]
    pub timeout: Option<f64>,
    /// Status.
    pub status: RunStatus,
    /// Last reported progress, `0..=1`.
    pub progress: f64,
    /// Message of the last progress report.
    pub progress_message: String,
    /// When the run was created.
    pub created_at: DateTime<Utc>,
    /// When the plugin started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it did not succeed.
    pub error: Option<RunError>,
    /// The output summary.
    pub summary: Value,
    /// Names of the output frames.
    pub frames: Vec<String>,
    /// Log records of the run.
    pub logs: Vec<LogRecord>,
}

impl Run {
    /// The record of a new run of the algorithm `manifest` describes: a
    /// fresh UUIDv7, status `queued`, created now.
    pub fn queued(manifest: &Manifest, params: Value) -> Self {
        Self {
            id: Uuid::now_v7(),
            algorithm: manifest.name.clone(),
            version: manifest.version.clone(),
            params,
            timeout: None,
            status: RunStatus::Queued,
            progress: 0.0,
            progress_message: String::new(),
            created_at: Utc::now(),
            started_at: None,
            finished_at: None,
            error: None,
            summary: Value::Null,
            frames: Vec::new(),
            logs: Vec::new(),
        }
    }
}

/// A finished run and, when it succeeded, its output.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run record.
    pub run: Run,
    /// The output (frames included) of a succeeded run.
    pub output: Option<Output>,
}

/// Why a run was not started.
#[derive(Debug, thiserror::Error)]
pub enum RunRejected {
    /// No such algorithm.
    #[error(transparent)]
    UnknownAlgorithm(#[from] UnknownAlgorithm),
    /// The params do not match the schema; every error is listed.
    #[error("invalid params for '{algorithm}': {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidParams {
        /// The algorithm.
        algorithm: String,
        /// Every error with its pointer.
        errors: Vec<ParamsError>,
    },
}

/// Cancels a run from another thread.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the run to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Receives a run's progress and log records as they happen (a progress
/// bar, an event stream).
pub trait RunObserver: Send + Sync {
    /// Progress changed.
    fn progress(&self, _fraction: f64, _message: &str) {}
    /// A log record was kept.
    fn log(&self, _record: &LogRecord) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;
impl RunObserver for NoObserver {}

/// What to run.
pub struct RunRequest {
    /// Algorithm name.
    pub algorithm: String,
    /// Params (validated here before anything runs).
    pub params: Value,
    /// Stop waiting after this long and report `timed_out`.
    pub timeout: Option<Duration>,
    /// Where the run's data lives.
    pub adapter: Arc<dyn Adapter>,
    /// Cancels the run.
    pub cancel: CancelToken,
    /// Sees progress and logs live.
    pub observer: Arc<dyn RunObserver>,
}

struct HostRun {
    run_id: String,
    algorithm: String,
    deadline: Option<SystemTime>,
    cancel: CancelToken,
    adapter: Arc<dyn Adapter>,
    observer: Arc<dyn RunObserver>,
    logs: Mutex<Vec<LogRecord>>,
    progress: Mutex<(f64, String)>,
    /// What the invoker gave with the error it returned ([`give_error_details`]).
    error_details: Mutex<Value>,
    /// Set once the run is over: a context kept past it (by a thread the
    /// plugin left behind) changes no data.
    has_ended: AtomicBool,
}

impl RunHost for HostRun {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn algorithm(&self) -> &str {
        &self.algorithm
    }
    fn deadline(&self) -> Option<SystemTime> {
        self.deadline
    }
    fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
    fn progress(&self, fraction: f64, message: &str) {
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = (fraction, message.to_owned());
        self.observer.progress(fraction, message);
    }
    fn log(&self, record: LogRecord) {
        self.observer.log(&record);
        self.logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record);
    }
    fn data_points(&self, filter: &DataPointFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        self.adapter.data_points_until(filter, &self.cancel)
    }
    fn read(&self, filter: &DataPointFilter) -> algohost_sdk::Result<DataFrame> {
        self.adapter.read_until(filter, &self.cancel)
    }
    fn write(&self, long: &DataFrame) -> algohost_sdk::Result<()> {
        self.may_change_data()?;
        self.adapter.write_until(long, &self.cancel)
    }
    fn define_data_points(
        &self,
        points: &[DataPointConfig],
    ) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        self.may_change_data()?;
        self.adapter.define_data_points_until(points, &self.cancel)
    }
}

impl HostRun {
    /// A run that is cancelled or past its deadline changes no data: it
    /// has been (or is about to be) reported cancelled or timed out, and a
    /// plugin that ignores both must not write behind that report.
    fn may_change_data(&self) -> algohost_sdk::Result<()> {
        if self.has_ended.load(Ordering::SeqCst) {
            return Err(Error::Failed(format!(
                "run {} of '{}' has ended: a context kept after its run (by a thread the plugin \
                 left running) writes no data; write before the algorithm returns",
                self.run_id, self.algorithm
            )));
        }
        // The deadline first: a timed-out run is cancelled too.
        if self.deadline.is_some_and(|d| SystemTime::now() >= d) {
            return Err(Error::DeadlineExceeded);
        }
        if self.cancel.is_cancelled() {
            return Err(Error::Cancelled);
        }
        Ok(())
    }
}

/// Validates the params; the error lists every problem.
pub fn validate(registry: &Registry, algorithm: &str, params: &Value) -> Result<(), RunRejected> {
    let entry = registry.get(algorithm)?;
    let errors = entry.validate(params);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RunRejected::InvalidParams {
            algorithm: algorithm.to_owned(),
            errors,
        })
    }
}

/// The shortest timeout a run may be given.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);
/// The longest timeout a run may be given: 30 days.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

/// A run's timeout from a number of seconds, as every front door takes it;
/// the error says the range taken (prefix it with where the value came
/// from: `--timeout`, `timeout`).
pub fn timeout_from_secs(secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|t| (MIN_TIMEOUT..=MAX_TIMEOUT).contains(t))
        .ok_or_else(|| {
            let shown = if secs.is_finite() && secs != 0.0 && !(1e-3..1e9).contains(&secs.abs()) {
                format!("{secs:e}")
            } else {
                secs.to_string()
            };
            format!(
                "must be a number of seconds from {} to {} (30 days), got {shown}",
                MIN_TIMEOUT.as_secs_f64(),
                MAX_TIMEOUT.as_secs()
            )
        })
}

/// A duration as people read it: `0.5s`, `30s`, `1.25s`.
pub fn seconds_text(duration: Duration) -> String {
    let text = format!("{:.3}", duration.as_secs_f64());
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// How to execute a prepared run: its limits, data, cancellation and
/// observer.
pub struct Execution {
    /// Stop waiting after this long (from the start) and report `timed_out`.
    pub timeout: Option<Duration>,
    /// Where the run's data lives.
    pub adapter: Arc<dyn Adapter>,
    /// Cancels the run.
    pub cancel: CancelToken,
    /// Sees progress and logs live.
    pub observer: Arc<dyn RunObserver>,
}

/// Validates the params and makes the record of a new run: a fresh UUIDv7,
/// status `queued`, nothing executed yet.
pub fn prepare(registry: &Registry, algorithm: &str, params: Value) -> Result<Run, RunRejected> {
    validate(registry, algorithm, &params)?;
    Ok(Run::queued(&registry.get(algorithm)?.manifest, params))
}

/// Validates and executes one run, blocking until it ends or times out.
pub fn execute(registry: &Registry, request: RunRequest) -> Result<RunOutcome, RunRejected> {
    let (run, execution) = prepare_request(registry, request)?;
    Ok(run_prepared(registry, run, execution))
}

/// The run `request` asks for, validated (not started), and how to
/// execute it with [`run_prepared`]: for callers that need the run's id
/// before it starts.
pub fn prepare_request(
    registry: &Registry,
    request: RunRequest,
) -> Result<(Run, Execution), RunRejected> {
    let mut run = prepare(registry, &request.algorithm, request.params)?;
    run.timeout = request.timeout.map(|t| t.as_secs_f64());
    let execution = Execution {
        timeout: request.timeout,
        adapter: request.adapter,
        cancel: request.cancel,
        observer: request.observer,
    };
    Ok((run, execution))
}

/// A run's id as text (what `Uuid`'s `Display` writes, without `fmt`).
pub(crate) fn id_text(id: Uuid) -> String {
    id.hyphenated()
        .encode_lower(&mut Uuid::encode_buffer())
        .to_owned()
}

/// Executes a run made by [`prepare`] (its params already validated),
/// blocking until it ends or times out. An algorithm that is no longer
/// registered fails the run.
pub fn run_prepared(registry: &Registry, mut run: Run, execution: Execution) -> RunOutcome {
    run.status = RunStatus::Running;
    run.started_at.get_or_insert_with(Utc::now);
    let entry = match registry.get(&run.algorithm) {
        Ok(entry) => entry,
        Err(unknown) => {
            run.status = RunStatus::Failed;
            run.error = Some(RunError {
                kind: "unknown_algorithm".to_owned(),
                message: unknown.to_string(),
                details: Value::Null,
            });
            run.finished_at = Some(Utc::now());
            return RunOutcome { run, output: None };
        }
    };
    let host = Arc::new(HostRun {
        run_id: id_text(run.id),
        algorithm: run.algorithm.clone(),
        deadline: execution
            .timeout
            .and_then(|t| SystemTime::now().checked_add(t)),
        cancel: execution.cancel.clone(),
        adapter: execution.adapter,
        observer: execution.observer,
        logs: Mutex::new(Vec::new()),
        progress: Mutex::new((0.0, String::new())),
        error_details: Mutex::new(Value::Null),
        has_ended: AtomicBool::new(false),
    });

    let result = match invoke(
        entry.invoker().clone(),
        host.clone(),
        run.params.clone(),
        execution.timeout,
    ) {
        Ended::Returned(Ok(output)) => {
            let checked = entry.manifest.check_output(&output).map(|()| output);
            Ended::Returned(checked.and_then(crate::outputs::conform))
        }
        other => other,
    };
    // (A run that timed out was cancelled at its deadline, by `invoke`.)
    host.has_ended.store(true, Ordering::SeqCst);
    if matches!(result, Ended::Returned(Ok(_))) && execution.cancel.is_cancelled() {
        host.log(LogRecord::now(
            "warn",
            "algohost",
            "the run was asked to cancel but its plugin finished without checking \
             (ctx.check() or ctx.is_cancelled()); its result is kept",
        ));
    }
    let details =
        std::mem::take(&mut *host.error_details.lock().unwrap_or_else(|e| e.into_inner()));
    let output = finish(&mut run, result, execution.timeout, details);
    run.finished_at = Some(Utc::now());
    let (progress, message) = host
        .progress
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    run.progress = if run.status == RunStatus::Succeeded {
        1.0
    } else {
        progress
    };
    run.progress_message = message;
    run.logs = host.logs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    RunOutcome { run, output }
}

enum Ended {
    Returned(algohost_sdk::Result<Output>),
    TimedOut,
}

/// Invokes the plugin and waits for it. Without a deadline the caller would
/// wait for it anyway, so it runs on the calling thread; with one it runs on
/// a pooled thread, so that the caller can stop waiting at the deadline
/// while a plugin that ignores cancellation runs on.
fn invoke(
    invoker: Arc<dyn crate::registry::Invoker>,
    host: Arc<HostRun>,
    params: Value,
    timeout: Option<Duration>,
) -> Ended {
    let Some(timeout) = timeout else {
        return Ended::Returned(invoke_here(&*invoker, host, params));
    };
    let (tx, rx) = mpsc::sync_channel(1);
    let state = Arc::new(AtomicU8::new(INVOKED));
    let (run_id, algorithm) = (host.run_id.clone(), host.algorithm.clone());
    let cancel = host.cancel.clone();
    let job = {
        let state = state.clone();
        let (run_id, algorithm) = (run_id.clone(), algorithm.clone());
        Box::new(move || {
            let result = invoke_here(&*invoker, host, params);
            if state.swap(RETURNED, Ordering::SeqCst) == ABANDONED {
                ABANDONED_RUNS.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(
                    run_id,
                    algorithm,
                    "the plugin of a run that timed out has returned at last"
                );
            }
            // The receiver is gone when the run timed out; nothing to report then.
            let _ = tx.send(result);
        })
    };
    if let Err(e) = run_threads::start(job) {
        return Ended::Returned(Err(Error::msg(format!(
            "could not start the run's thread: {e}"
        ))));
    }
    match rx.recv_timeout(timeout) {
        Ok(result) => Ended::Returned(result),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            // Past its deadline a plugin that checks (ctx.check()) stops at
            // its next check: it gets a moment to, so that only one that
            // goes on is given up and counted as abandoned.
            cancel.cancel();
            if rx.recv_timeout(TIMEOUT_GRACE).is_ok() {
                return Ended::TimedOut;
            }
            let given_up =
                state.compare_exchange(INVOKED, ABANDONED, Ordering::SeqCst, Ordering::SeqCst);
            // Not given up when it returned just now.
            if given_up.is_ok() {
                ABANDONED_RUNS.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(
                    run_id = %run_id,
                    algorithm = %algorithm,
                    abandoned = ABANDONED_RUNS.load(Ordering::SeqCst),
                    "a run timed out and its plugin did not stop within {} s of it (it does not \
                     call ctx.check(), or is inside a long call); its thread runs until the \
                     plugin returns, beside the runs that follow",
                    TIMEOUT_GRACE.as_secs_f64()
                );
            }
            Ended::TimedOut
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Ended::Returned(Err(Error::msg("the run's thread ended without a result")))
        }
    }
}

/// How long a plugin has, once its run timed out, to notice and return
/// before it is given up (left running on its thread).
pub const TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// States of an invocation with a deadline.
const INVOKED: u8 = 0;
const RETURNED: u8 = 1;
const ABANDONED: u8 = 2;

/// Plugins still running for runs that timed out (they ignore cancellation).
static ABANDONED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// How many plugins still run for runs that already timed out: their
/// threads run beside the runs that followed, outside the concurrency
/// limit, until the plugin returns.
pub fn abandoned_runs() -> usize {
    ABANDONED_RUNS.load(Ordering::SeqCst)
}

thread_local! {
    /// What the invoker running on this thread gave with its error.
    static ERROR_DETAILS: RefCell<Value> = const { RefCell::new(Value::Null) };
}

/// Gives details of the error that the invoker running on this thread is
/// about to return, such as where in a Python plugin a context call failed:
/// they become the run's `error.details` when the run fails with an error
/// that has none of its own (a cancelled or timed-out run keeps none).
pub fn give_error_details(details: Value) {
    ERROR_DETAILS.set(details);
}

/// Runs the plugin on this thread inside the run's logging scope; a panic
/// becomes an error. Keeps what the invoker gave with its error on `host`.
fn invoke_here(
    invoker: &dyn crate::registry::Invoker,
    host: Arc<HostRun>,
    params: Value,
) -> algohost_sdk::Result<Output> {
    let run_host: Arc<dyn RunHost> = host.clone();
    let ctx = Context::new(run_host.clone());
    let result = with_run_logging(run_host, || {
        algohost_sdk::panic::catch(AssertUnwindSafe(|| invoker.invoke(&ctx, params)))
    });
    let details = ERROR_DETAILS.take();
    if matches!(result, Ok(Err(_))) {
        *host.error_details.lock().unwrap_or_else(|e| e.into_inner()) = details;
    }
    result.unwrap_or_else(|panic| Err(panic.into()))
}

/// Runs `job` on one of the runner's pooled threads (a new one when none is
/// idle): for callers that wait for a run from elsewhere, such as a Python
/// caller that must stay responsive to Ctrl-C.
pub fn spawn_pooled(job: Box<dyn FnOnce() + Send>) -> std::io::Result<()> {
    run_threads::start(job)
}

/// Long-lived threads for runs with a deadline, so that such a run does not
/// pay for a new thread. A thread goes back to the pool when its plugin
/// returns, whether or not anyone still waits for it: a run abandoned at its
/// deadline keeps its thread until the plugin gives up, and the next run
/// takes another.
mod run_threads {
    use std::sync::mpsc::{Receiver, SendError, Sender, channel};
    use std::sync::{Mutex, MutexGuard};

    /// What a pooled thread runs.
    pub(super) type Job = Box<dyn FnOnce() + Send>;

    /// Idle threads beyond this many exit instead of waiting for work.
    const MAX_IDLE: usize = 64;

    /// The idle threads, each behind the sender of its job channel.
    static IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

    fn idle() -> MutexGuard<'static, Vec<Sender<Job>>> {
        IDLE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `job` on an idle thread, or on a new one when none is idle.
    pub(super) fn start(mut job: Job) -> std::io::Result<()> {
        loop {
            let next = idle().pop();
            let Some(thread) = next else { break };
            match thread.send(job) {
                Ok(()) => return Ok(()),
                // That thread is gone (it panicked outside the job's own
                // guard); try the next.
                Err(SendError(back)) => job = back,
            }
        }
        let (tx, rx) = channel();
        let _ = tx.send(job);
        std::thread::Builder::new()
            .name("algohost-run".to_owned())
            .spawn(move || serve(tx, rx))?;
        Ok(())
    }

    /// A pooled thread: runs jobs, offering itself as idle after each.
    fn serve(me: Sender<Job>, jobs: Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            job();
            let mut idle = idle();
            if idle.len() >= MAX_IDLE {
                return;
            }
            idle.push(me.clone());
        }
    }
}

/// The message of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Sets the run's status and error from how it ended; `details` are the
/// invoker's for a failure that has none of its own.
fn finish(
    run: &mut Run,
    ended: Ended,
    timeout: Option<Duration>,
    details: Value,
) -> Option<Output> {
    let error = |kind: &str, message: String| RunError {
        kind: kind.to_owned(),
        message,
        details: Value::Null,
    };
    let timed_out_message = || match timeout {
        Some(timeout) => format!(
            "the run did not finish within its timeout of {}",
            seconds_text(timeout)
        ),
        None => "the plugin gave up at a deadline of its own; the run had no timeout".to_owned(),
    };
    match ended {
        Ended::Returned(Ok(output)) => {
            run.status = RunStatus::Succeeded;
            run.summary = output.summary.clone();
            run.frames = output.frames.keys().cloned().collect();
            Some(output)
        }
        Ended::Returned(Err(Error::Cancelled)) => {
            run.status = RunStatus::Cancelled;
            run.error = Some(RunError::cancelled());
            None
        }
        Ended::Returned(Err(Error::DeadlineExceeded)) | Ended::TimedOut => {
            run.status = RunStatus::TimedOut;
            run.error = Some(error("timed_out", timed_out_message()));
            None
        }
        Ended::Returned(Err(e)) => {
            run.status = RunStatus::Failed;
            let mut failure = error(e.kind(), e.to_string());
            failure.details = match e {
                Error::Raised {
                    exception,
                    traceback,
                    ..
                } => serde_json::json!({
                    "exception": exception,
                    "traceback": traceback,
                }),
                _ => details,
            };
            run.error = Some(failure);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_spelled_as_in_the_api_and_read_back() {
        for status in RunStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
        }
        assert_eq!(RunStatus::TimedOut.to_string(), "timed_out");
    }

    #[test]
    fn timeouts_out_of_range_say_the_range() {
        assert_eq!(timeout_from_secs(0.5), Ok(Duration::from_millis(500)));
        assert_eq!(timeout_from_secs(2_592_000.0), Ok(MAX_TIMEOUT));
        for (secs, shown) in [
            (0.0, "0"),
            (-1.0, "-1"),
            (1e300, "1e300"),
            (1e-12, "1e-12"),
            (f64::NAN, "NaN"),
            (2_592_001.0, "2592001"),
        ] {
            assert_eq!(
                timeout_from_secs(secs).unwrap_err(),
                format!("must be a number of seconds from 0.001 to 2592000 (30 days), got {shown}")
            );
        }
        assert_eq!(seconds_text(Duration::from_millis(300)), "0.3s");
        assert_eq!(seconds_text(Duration::from_secs(30)), "30s");
        assert_eq!(
            "done".parse::<RunStatus>().unwrap_err(),
            "unknown run status 'done'"
        );
    }
}
