//! Where runs and their outputs live. SQLite (one file, no server) is the
//! default.
//!
//! Several runner nodes may share a store: each store handle is a node,
//! which holds the runs it inserts (queued in its memory, or running) until
//! they end, and takes over the unfinished runs of nodes that are gone
//! ([`Store::reclaim`], called by the runner at start-up and then
//! periodically). How a store tells that a node is gone is its own: the
//! SQLite store by a lock each node holds on a file beside the store (exact,
//! on the one machine that can share an SQLite file); a PostgreSQL store
//! shared by nodes on several machines would lease its runs to their node
//! and renew the leases in `reclaim`, so that it comes without changing the
//! runner.

pub mod sqlite;

use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::runner::{Run, RunError, RunStatus};

/// A store operation that failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, SQL, corrupt data); the message says which.
    #[error("run store: {0}")]
    Backend(String),
    /// The store cannot take writes now (its disk is full, it is read-only,
    /// writing failed); reads go on, and writes may succeed again once the
    /// cause is gone.
    #[error("the run store cannot be written: {0}")]
    Unwritable(String),
    /// An idempotency key was reused with a different request body.
    #[error("idempotency key '{0}' was already used with a different request")]
    IdempotencyConflict(String),
}

/// Filter and page of [`Store::list`].
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only runs in one of these statuses (any status when empty).
    pub status: Vec<RunStatus>,
    /// Only runs of this algorithm.
    pub algorithm: Option<String>,
    /// At most this many (newest first); 0 means no limit.
    pub limit: usize,
    /// Runs older than this id (the previous page's last id).
    pub before: Option<Uuid>,
}

/// Which log records a read of one run has ([`Store::read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logs {
    /// Every record.
    All,
    /// None: the run's record alone, which costs the same however much
    /// it logged.
    None,
    /// The records after the first `n` (a reader that has those).
    After(usize),
}

/// What the store did with runs left unfinished by a previous process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Marked failed with the reason "interrupted".
    pub interrupted: Vec<Uuid>,
    /// Put back in the queue (idempotent algorithms).
    pub requeued: Vec<Uuid>,
    /// Of idempotent algorithms, but interrupted [`MAX_INTERRUPTIONS`]
    /// times: marked failed rather than queued again.
    pub given_up: Vec<Uuid>,
    /// Queued runs, with their algorithm, that this node cannot run
    /// ([`Capability::Lacks`]): left queued, to whichever node has the
    /// algorithm, or to be cancelled.
    pub left_queued: Vec<(Uuid, String)>,
}

/// What [`Store::delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The run, its log records, output frames and idempotency key are gone.
    Deleted,
    /// There is no run with that id.
    NotFound,
    /// The run has not ended (this status): nothing was deleted.
    Unfinished(RunStatus),
}

/// What [`Store::end_unheld`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unheld {
    /// The run's end is written; this node holds it.
    Ended,
    /// Another live node holds the run: nothing was written.
    HeldElsewhere,
    /// The run had already ended (this status): nothing was written.
    AlreadyEnded(RunStatus),
}

/// What the node taking over runs ([`Store::reclaim`]) can do with an
/// algorithm's runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// It does not have the algorithm.
    Lacks,
    /// It runs the algorithm, which is idempotent or not.
    Runs {
        /// Whether a run of it that was interrupted may run again.
        idempotent: bool,
    },
}

/// How many times a run of an idempotent algorithm is interrupted by its
/// server stopping (killed, crashed) before it is failed rather than
/// queued again: a run that itself brings the server down (a plugin that
/// aborts, or exhausts memory) would otherwise do so at every start.
pub const MAX_INTERRUPTIONS: u32 = 3;

/// The error of a run of an idempotent algorithm interrupted for the
/// [`MAX_INTERRUPTIONS`]th time.
pub fn interrupted_too_often() -> RunError {
    RunError {
        kind: "interrupted".to_owned(),
        message: format!(
            "interrupted: the server stopped while the run was running, {MAX_INTERRUPTIONS} \
             times; it is not queued again although its algorithm is idempotent, as the run \
             itself may be what stops the server (its log may say why); submit it again to retry"
        ),
        details: serde_json::json!({ "interruptions": MAX_INTERRUPTIONS }),
    }
}

/// The log message of a run interrupted by a server stop, requeued or not.
pub fn interrupted_notice(requeued: bool) -> String {
    let message = RunError::interrupted().message;
    if requeued {
        format!("{message}; queued again because the algorithm is idempotent")
    } else {
        message
    }
}

/// One write of [`Store::apply`].
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Inserts a new run, in any status (its `logs` are not written).
    Insert(&'a Run),
    /// Replaces the stored record of a run (status, progress, error,
    /// summary…); its logs are not touched.
    Update(&'a Run),
    /// Appends log records to a run.
    AppendLogs(Uuid, &'a [LogRecord]),
    /// Stores an output frame of a run.
    PutFrame(Uuid, &'a str, &'a DataFrame),
}

/// Persistence of runs. Implementations are thread-safe; every method
/// commits before it returns, so a killed process loses nothing that a
/// method had returned from.
pub trait Store: Send + Sync {
    /// Inserts a new run (status `queued`). With an idempotency key, returns
    /// the existing run when the key is known with the same request
    /// fingerprint, and an error when it is known with another.
    fn create(&self, run: &Run, idempotency: Option<(&str, &str)>) -> Result<Run, StoreError>;
    /// The run an idempotency key (with this request fingerprint) made, if
    /// any; an error when the key was used with another fingerprint.
    fn find_idempotent(&self, key: &str, fingerprint: &str) -> Result<Option<Run>, StoreError>;
    /// Applies `changes` in order, in one transaction: all of them or none.
    /// Several runs' changes may share one call (a worker writes how a run
    /// ended together with the start of the next).
    fn apply(&self, changes: &[Change<'_>]) -> Result<(), StoreError>;
    /// Replaces the stored run record (status, progress, error, summary…);
    /// its `logs` are not touched (see [`Store::append_logs`]).
    fn update(&self, run: &Run) -> Result<(), StoreError> {
        self.apply(&[Change::Update(run)])
    }
    /// Appends log records to a run.
    fn append_logs(&self, id: Uuid, logs: &[LogRecord]) -> Result<(), StoreError> {
        self.apply(&[Change::AppendLogs(id, logs)])
    }
    /// Stores an output frame of a run.
    fn put_frame(&self, id: Uuid, name: &str, frame: &DataFrame) -> Result<(), StoreError> {
        self.apply(&[Change::PutFrame(id, name, frame)])
    }
    /// One run with its logs.
    fn get(&self, id: Uuid) -> Result<Option<Run>, StoreError> {
        self.read(id, Logs::All)
    }
    /// One run with the log records `logs` selects.
    fn read(&self, id: Uuid, logs: Logs) -> Result<Option<Run>, StoreError>;
    /// Runs, newest first, without their logs.
    fn list(&self, query: &RunQuery) -> Result<Vec<Run>, StoreError>;
    /// An output frame of a run.
    fn frame(&self, id: Uuid, name: &str) -> Result<Option<DataFrame>, StoreError>;
    /// Deletes up to `limit` runs that ended before `ended_before`, oldest
    /// first, with their log records, output frames and idempotency keys;
    /// how many it deleted. A run that ended recently is kept however long
    /// ago it was created (it ran, or waited, for long).
    fn prune(&self, ended_before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let _ = (ended_before, limit);
        Ok(0)
    }
    /// Whether the store takes writes: the [`StoreError::Unwritable`] of its
    /// last write while that failed, until a write succeeds. A store may try
    /// a small write of its own here (now and then) to find out whether
    /// the cause is gone.
    fn check_writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Takes over the unfinished runs of nodes that are gone: a `running`
    /// one becomes failed ("interrupted"), or `queued` again (progress
    /// reset) when `capability(algorithm)` says it is idempotent and it was
    /// not interrupted [`MAX_INTERRUPTIONS`] times yet, with a log record on
    /// each that says which; a `queued` one stays queued. This node holds
    /// them from now on, except queued runs of algorithms it lacks, which
    /// stay with their gone node for another node to take (and are
    /// reported in [`Recovered::left_queued`] every time). Returns what it
    /// did and the runs it took over that are queued now, oldest first (for
    /// the runner to queue). Runs of live nodes, and this node's own, are
    /// left alone.
    fn reclaim(
        &self,
        capability: &dyn Fn(&str) -> Capability,
    ) -> Result<(Recovered, Vec<Run>), StoreError>;
    /// Deletes a run that ended, with its log records, output frames and
    /// idempotency key; a queued or running run is left alone.
    fn delete(&self, id: Uuid) -> Result<Deletion, StoreError>;
    /// This node stops holding runs (its server shuts down, having ended
    /// or stored every run it held): other nodes take over the runs it
    /// left queued at once, rather than once it is found gone. Writes to
    /// those runs through this handle must end here.
    fn leave(&self);
    /// Writes the end of an unfinished run that no live node runs: one
    /// this node left queued (at shutdown), or one of a gone node (this
    /// node holds it from now on). Writes nothing when another live node
    /// holds the run (ask that node), or when it has ended meanwhile (of
    /// concurrent ends, one is written).
    fn end_unheld(&self, run: &Run) -> Result<Unheld, StoreError>;
}
