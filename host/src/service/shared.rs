//! What the service's threads and methods share: the registry, store,
//! executor and persister, the queue, the runs this process holds, and the
//! tally of finished runs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use algohost_sdk::logging::LogRecord;
use tokio::sync::Notify;
use uuid::Uuid;

use super::ServiceConfig;
use super::executor::Executor;
use super::persister::Persister;
use super::queue::{Lane, Lanes};
use super::quick::Quick;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

use super::state::RunState;
use crate::adapters::Adapter;
use crate::registry::Registry;
use crate::runner::{Run, RunError, RunStatus};
use crate::store::{Capability, Store, StoreError, interrupted_notice};

/// Finished runs so far, for metrics and `Retry-After`.
pub(super) struct Tally {
    pub finished: BTreeMap<String, u64>,
    /// Fixed buckets, so that memory stays flat however many runs end.
    pub durations: Histogram,
    /// Moving average of the durations of Rust runs, seconds.
    mean_native: Option<f64>,
    /// Moving average of the durations of Python runs, seconds.
    mean_python: Option<f64>,
}

impl Tally {
    /// The moving average of the durations of `lane`'s runs, seconds.
    fn mean_duration(&mut self, lane: Lane) -> &mut Option<f64> {
        match lane {
            Lane::Native => &mut self.mean_native,
            Lane::Python => &mut self.mean_python,
        }
    }
}

impl Default for Tally {
    /// Buckets from 10 ms to about 22 minutes, doubling.
    fn default() -> Self {
        Self {
            finished: BTreeMap::new(),
            durations: Histogram::new(exponential_buckets(0.01, 2.0, 18)),
            mean_native: None,
            mean_python: None,
        }
    }
}

/// What the service's threads and methods share.
pub(super) struct Shared {
    pub registry: Arc<Registry>,
    pub adapter: Arc<dyn Adapter>,
    pub store: Arc<dyn Store>,
    pub executor: Arc<dyn Executor>,
    /// Writes the runs held here to the store.
    pub persister: Arc<Persister>,
    pub config: ServiceConfig,
    pub lanes: Lanes,
    /// Runs queued or running in this process.
    pub runs: Mutex<HashMap<Uuid, Arc<RunState>>>,
    pub tally: Mutex<Tally>,
    /// Queued runs of gone servers whose algorithm this one lacks, already
    /// logged (see [`Shared::reclaim`]).
    pub left_queued: Mutex<HashSet<Uuid>>,
    /// Which algorithms' runs may execute where they are submitted.
    pub quick: Quick,
}

/// Starts the thread that calls [`Shared::reclaim`] every
/// `reclaim_interval` until the service closes.
pub(super) fn spawn_reclaimer(shared: &Arc<Shared>) -> std::io::Result<()> {
    let interval = shared.config.reclaim_interval;
    let shared = Arc::downgrade(shared);
    std::thread::Builder::new()
        .name("algohost-reclaim".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                if shared.lanes.is_closed() {
                    return;
                }
                if let Err(e) = shared.reclaim() {
                    tracing::warn!("taking over the runs of stopped servers failed: {e}");
                }
                shared.prune();
            }
        })
        .map(drop)
}

/// The server log's line of an ended run: INFO when it succeeded or was
/// cancelled, WARN with its error when it failed or timed out.
fn log_end(state: &RunState, status: RunStatus, seconds: Option<f64>) {
    let (id, seconds) = (state.id, seconds.unwrap_or(0.0));
    let (algorithm, error) = state.algorithm_and_error();
    match &error {
        Some(e) if status != RunStatus::Cancelled => tracing::warn!(
            run_id = %id, %algorithm, %status, seconds, error_kind = %e.kind,
            error = %e.message, "run ended"
        ),
        _ => tracing::info!(run_id = %id, %algorithm, %status, seconds, "run ended"),
    }
}

pub(super) fn relock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits until `check` finds what it waits for, checking again each time
/// `changed` notifies its waiters (`Notify::notify_waiters`, a single lock
/// for a change many may wait for, where a `watch` send locks eight waiter
/// lists).
pub(super) async fn wait_until<T>(changed: &Notify, check: impl Fn() -> Option<T>) -> T {
    loop {
        // Registered before `check` runs, so that a change in between
        // still wakes this waiter.
        let notified = changed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if let Some(found) = check() {
            return found;
        }
        notified.await;
    }
}

/// The most ended runs one round of [`Shared::prune`] deletes: a store
/// that has kept years of runs is thinned out over a few minutes, in short
/// transactions, rather than in one that holds up every other write.
const PRUNE_BATCH: usize = 500;

/// How often a stopping server tries again to write the ends its store
/// could not take.
const KEPT_POLL: Duration = Duration::from_millis(500);

impl Shared {
    /// Deletes a batch of the runs that ended longer than `keep_runs` ago,
    /// if set.
    pub(super) fn prune(&self) {
        let Some(keep) = self.config.keep_runs else {
            return;
        };
        let Some(cutoff) = chrono::Duration::from_std(keep)
            .ok()
            .and_then(|keep| chrono::Utc::now().checked_sub_signed(keep))
        else {
            return;
        };
        match self.store.prune(cutoff, PRUNE_BATCH) {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(
                deleted,
                "deleted runs that ended before {cutoff} (keep_days)"
            ),
            Err(e) => tracing::warn!("deleting old runs failed: {e}"),
        }
    }

    pub fn live(&self, id: Uuid) -> Option<Arc<RunState>> {
        relock(&self.runs).get(&id).cloned()
    }

    pub fn live_runs(&self) -> Vec<Arc<RunState>> {
        relock(&self.runs).values().cloned().collect()
    }

    /// The lane of an algorithm's runs (an unknown one's fail on a native
    /// worker).
    pub fn lane(&self, algorithm: &str) -> Lane {
        self.registry
            .get(algorithm)
            .map_or(Lane::Native, |entry| Lane::of(&entry.source))
    }

    pub fn is_idempotent(&self, algorithm: &str) -> bool {
        self.capability(algorithm) == Capability::Runs { idempotent: true }
    }

    /// Whether this server runs `algorithm`, and whether it is idempotent.
    fn capability(&self, algorithm: &str) -> Capability {
        match self.registry.get(algorithm) {
            Ok(entry) => Capability::Runs {
                idempotent: entry.manifest.idempotent,
            },
            Err(_) => Capability::Lacks,
        }
    }

    /// Forgets an ended run, counts it and logs how it ended (once).
    /// Called before its end is published, so that whoever sees it
    /// finished sees it counted.
    pub fn retire(&self, state: &RunState) {
        if relock(&self.runs).remove(&state.id).is_none() {
            return;
        }
        let Some((status, duration)) = state.ended() else {
            return;
        };
        log_end(state, status, duration);
        let mut tally = relock(&self.tally);
        *tally.finished.entry(status.to_string()).or_default() += 1;
        if let Some(seconds) = duration {
            tally.durations.observe(seconds);
            let mean = tally.mean_duration(state.lane);
            *mean = Some(mean.map_or(seconds, |m| 0.8 * m + 0.2 * seconds));
        }
    }

    /// The run as it is: from memory while this process holds it (live
    /// progress, every log record), else from the store.
    pub fn get(&self, id: Uuid) -> Result<Option<Run>, StoreError> {
        match self.live(id) {
            Some(state) => Ok(Some(state.snapshot())),
            None => self.store.get(id),
        }
    }

    /// A suggested wait before submitting again: the expected time for the
    /// queue of `lane` to move, between 1 and 60 seconds. A run of the lane
    /// is expected to take as long as its runs that ended took (1 s before
    /// any did), and at least as long as those running now have run, so
    /// that a lane busy with long runs (an hour-long backtest) says so
    /// before the first of them ends, whatever runs the other lane ends.
    pub fn retry_after(&self, lane: Lane, waiting: usize) -> Duration {
        let ended = relock(&self.tally).mean_duration(lane).unwrap_or(1.0);
        let now = chrono::Utc::now();
        let running: Vec<f64> = self
            .live_runs()
            .iter()
            .filter(|state| state.lane == lane)
            .filter_map(|state| state.running_for(now))
            .collect();
        let running = running.iter().sum::<f64>() / running.len().max(1) as f64;
        let mean = ended.max(running);
        let workers = match lane {
            Lane::Native => self.config.concurrency,
            Lane::Python => self.config.python_concurrency,
        };
        let rounds = waiting as f64 / workers.max(1) as f64 + 1.0;
        Duration::from_secs((mean * rounds).ceil().clamp(1.0, 60.0) as u64)
    }

    pub fn timeout(&self, asked: Option<Duration>) -> Option<Duration> {
        let timeout = asked.or(self.config.default_timeout);
        match (timeout, self.config.max_timeout) {
            (Some(t), Some(max)) => Some(t.min(max)),
            (None, max) => max,
            (t, None) => t,
        }
    }

    /// Takes over the runs of servers that shared the store and are gone
    /// (a previous process of this one, too), and queues those that are
    /// queued, but for those of algorithms this server lacks: they are
    /// logged once, and stay queued for a server that has the algorithm.
    pub fn reclaim(&self) -> Result<(), StoreError> {
        if self.lanes.is_closed() {
            return Ok(());
        }
        let (recovered, queued) = self.store.reclaim(&|name| self.capability(name))?;
        for id in &recovered.interrupted {
            tracing::warn!(run_id = %id, "run left running by a server that stopped marked failed");
        }
        for id in &recovered.requeued {
            tracing::info!(run_id = %id, "run left running by a server that stopped queued again");
        }
        // Ended here, as far as /metrics can tell.
        let failed = recovered.interrupted.len() + recovered.given_up.len();
        if failed > 0 {
            let mut tally = relock(&self.tally);
            *tally
                .finished
                .entry(RunStatus::Failed.to_string())
                .or_default() += failed as u64;
        }
        for id in &recovered.given_up {
            tracing::warn!(
                run_id = %id,
                "run of an idempotent algorithm interrupted {} times by its server stopping marked \
                 failed rather than queued again",
                crate::store::MAX_INTERRUPTIONS
            );
        }
        let mut logged = relock(&self.left_queued);
        let still_left: HashSet<Uuid> = recovered.left_queued.iter().map(|(id, _)| *id).collect();
        let mut noted = Vec::new();
        for (id, algorithm) in &recovered.left_queued {
            if logged.insert(*id) {
                tracing::warn!(
                    run_id = %id,
                    %algorithm,
                    "run left queued by a server that stopped stays queued: this server has no \
                     algorithm '{algorithm}'; start a server that has it on this store, or cancel \
                     the run (POST /runs/{id}/cancel)"
                );
                noted.push((*id, algorithm));
            }
        }
        logged.retain(|id| still_left.contains(id));
        drop(logged);
        // The run's own log says so too, for whoever reads the run.
        for (id, algorithm) in noted {
            let note = LogRecord::now(
                "warn",
                "algohost",
                format!(
                    "the run stays queued: its server stopped, and a server that took over its \
                     store has no algorithm '{algorithm}'; start one that has it on this store, \
                     or cancel the run"
                ),
            );
            if let Err(e) = self.store.append_logs(id, &[note]) {
                tracing::warn!(run_id = %id, "could not note in the run's log why it stays queued: {e}");
            }
        }
        for run in queued {
            tracing::info!(run_id = %run.id, "run left queued by a server that stopped taken over");
            let timeout = run
                .timeout
                .and_then(|s| Duration::try_from_secs_f64(s).ok());
            let lane = self.lane(&run.algorithm);
            let state = RunState::new(run, lane, timeout, true, &self.persister);
            relock(&self.runs).insert(state.id, state.clone());
            self.lanes.get(lane).push(state, false);
        }
        Ok(())
    }

    /// At shutdown: ends the runs still running as interrupted (requeued
    /// when idempotent), stores the queued ones, waits until that is
    /// committed, gives the ends the store could not take until
    /// `deadline` ([`Shared::store_kept_ends`]), closes every event stream,
    /// and leaves the store, so that servers sharing it take over the
    /// queued runs at once. Returns the ids of the runs whose ends are lost.
    pub fn interrupt(&self, deadline: std::time::Instant) -> Vec<Uuid> {
        let runs = self.live_runs();
        for state in &runs {
            if state.status() == RunStatus::Running {
                let requeue = self.is_idempotent(&state.algorithm());
                let notice = LogRecord::now("warn", "algohost", interrupted_notice(requeue));
                let (status, error) = if requeue {
                    (RunStatus::Queued, None)
                } else {
                    (RunStatus::Failed, Some(RunError::interrupted()))
                };
                // Its end decided first, then its plugin stopped: a plugin
                // that stops at once ends it no other way (cancelled).
                let _ = state.end_as(status, error, Some(notice));
                state.cancel.cancel();
            } else {
                let _ = state.persist();
            }
        }
        self.persister.wait(self.persister.sync());
        let lost = self.store_kept_ends(&runs, deadline);
        for state in &runs {
            state.close_streams();
        }
        // Later questions about the runs left queued go to the store.
        relock(&self.runs).clear();
        self.store.leave();
        lost
    }

    /// Tries to write the ends the store could not take yet (its disk
    /// full) until `deadline`; the ids of those it still could not, each
    /// logged as lost.
    fn store_kept_ends(&self, runs: &[Arc<RunState>], deadline: std::time::Instant) -> Vec<Uuid> {
        let kept = |runs: &[Arc<RunState>]| -> Vec<Arc<RunState>> {
            runs.iter().filter(|s| s.has_kept_end()).cloned().collect()
        };
        let mut left = kept(runs);
        if !left.is_empty() {
            tracing::warn!(
                runs = left.len(),
                "the run store cannot be written: waiting up to the end of the shutdown grace \
                 period for it to take the ends of the runs kept in memory"
            );
        }
        while !left.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(KEPT_POLL.min(deadline - std::time::Instant::now()));
            for state in &left {
                let _ = state.persist();
            }
            self.persister.wait(self.persister.sync());
            left = kept(&left);
        }
        for state in &left {
            tracing::error!(
                run_id = %state.id,
                "the run store could not be written before the server stopped: the end and \
                 outputs of this run (it {}) are lost; the next start marks it failed \
                 (interrupted)",
                state.status()
            );
        }
        left.iter().map(|s| s.id).collect()
    }
}

/// Marks the calling thread as a batch thread for the scheduler (Linux's
/// `SCHED_BATCH`: the same share of CPU, but woken it does not preempt
/// the thread running). The persister, woken by a run's end, then waits
/// for the request thread that ended it to give up its CPU, and meanwhile
/// more runs end: under load a batch holds many runs instead of one, and
/// request threads are not switched out for every run; a worker, woken
/// for a run, does not switch out the threads serving requests either.
/// Where the policy is not available, the thread keeps the default one
/// (`who` names it in the debug log that says so).
pub(super) fn yield_to_woken_threads(who: &str) {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is a valid `sched_param` for the duration of the
        // call, and pid 0 names the calling thread.
        #[allow(unsafe_code)]
        let status = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if status != 0 {
            tracing::debug!(
                "{who} keeps the default scheduling policy: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = who;
}
