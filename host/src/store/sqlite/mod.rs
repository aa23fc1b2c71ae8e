//! The SQLite store: one file in WAL mode, no server. One connection
//! writes, shared by group commit (`writer`); another reads, so reads
//! never queue behind a write; a third checkpoints the WAL in the
//! background. Every method commits before it returns.

mod checkpointer;
mod nodes;
mod read_only;
mod rows;
mod schema;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use chrono::{DateTime, Utc};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use uuid::Uuid;

use super::{
    Capability, Change, Deletion, Logs, MAX_INTERRUPTIONS, Recovered, RunQuery, Store, StoreError,
    Unheld, interrupted_notice, interrupted_too_often,
};
use crate::runner::{Run, RunError, RunStatus};
use checkpointer::Checkpointer;
use nodes::{Liveness, Node};
pub use read_only::ReadOnlyStore;
use rows::{
    EncodedChange, NewRun, RunChange, append_logs, decode_frame, json_text, load_run, read_run,
    run_columns, run_from_row, timestamp,
};
use writer::Writer;

/// Runs, logs and frames in one SQLite file. Each handle is a runner node
/// (see [`Store::reclaim`]): several servers on one machine may share the
/// file, each holding its own runs.
pub struct SqliteStore {
    writer: Arc<Writer>,
    reader: Mutex<Connection>,
    _checkpointer: Checkpointer,
    /// This handle's node; its runs' `owner`.
    node: Arc<Node>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn backend(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| {
        let message = format!("{what}: {e}");
        if is_unwritable(&e) {
            StoreError::Unwritable(message)
        } else {
            StoreError::Backend(message)
        }
    }
}

/// Whether SQLite failed because the file cannot be written now (its disk
/// is full, it is read-only, the system refused a write or sync), rather
/// than because of what was written.
fn is_unwritable(e: &rusqlite::Error) -> bool {
    use rusqlite::ffi;
    let rusqlite::Error::SqliteFailure(failure, _) = e else {
        return false;
    };
    matches!(
        failure.code,
        rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::ReadOnly
    ) || matches!(
        failure.extended_code,
        ffi::SQLITE_IOERR_WRITE
            | ffi::SQLITE_IOERR_FSYNC
            | ffi::SQLITE_IOERR_DIR_FSYNC
            | ffi::SQLITE_IOERR_TRUNCATE
    )
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt data: {what}"))
}

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and brings its schema up to
    /// date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        Self::open_at(path).map_err(|e| match e {
            StoreError::Backend(message) if message.contains("disk image is malformed") => {
                StoreError::Backend(format!(
                    "{message}: the file is damaged; restore it from a backup (`sqlite3 {file} \
                     \".backup copy.db\"` makes one of a live store), or save what it still \
                     holds with `sqlite3 {file} .recover | sqlite3 recovered.db` and give that",
                    file = path.display()
                ))
            }
            other => other,
        })
    }

    fn open_at(path: &Path) -> Result<Self, StoreError> {
        let mut writer = schema::connect(path)?;
        // SQLite opens a file it may not write read-only, silently: a server
        // would start, say it is ready, and fail its first run.
        if writer
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(backend("opening the run store"))?
        {
            return Err(StoreError::Backend(format!(
                "the run store {} can be read but not written by this user (its file, or the \
                 directory of its WAL files, is read-only): give the server's user write access \
                 to it, or give another store path",
                path.display()
            )));
        }
        schema::migrate(&mut writer)?;
        // The checkpointer's job (see `checkpointer`).
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .map_err(backend("configuring the writer"))?;
        let reader = schema::connect(path)?;
        let writer = Arc::new(Writer::new(writer));
        Ok(Self {
            _checkpointer: Checkpointer::start(path, writer.clone())?,
            writer,
            reader: Mutex::new(reader),
            node: Arc::new(Node::join(path)?),
        })
    }

    /// Caps the file at about `bytes`, or at its current size if that is
    /// larger: a write that would grow it further fails as on a full disk
    /// ([`StoreError::Unwritable`]), until a larger cap. For tests of a
    /// full store, and a quota.
    pub fn limit_size(&self, bytes: u64) -> Result<(), StoreError> {
        let conn = self.writer.connection();
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .map_err(backend("reading the page size"))?;
        let page_size = u64::try_from(page_size).unwrap_or(1).max(1);
        // 0 would leave the cap as it is; 1 is the current size, as is any
        // cap below it.
        let pages = i64::try_from(bytes / page_size).unwrap_or(i64::MAX).max(1);
        conn.pragma_update(None, "max_page_count", pages)
            .map_err(backend("limiting the store's size"))
    }
}

/// How long after a write failed [`Store::check_writable`] answers with
/// that failure before it tries a write of its own.
const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// The write of [`Store::check_writable`]: a run record with 64 KiB of
/// params, deleted in the same transaction, so that it needs room in the
/// file as a small run's would and leaves nothing behind.
fn probe(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "INSERT INTO runs (id, algorithm, version, params, status, created_at)
            VALUES ('algohost-write-probe', '', '', zeroblob(65536), 'succeeded', '');
         DELETE FROM runs WHERE id = 'algohost-write-probe';",
    )
    .map_err(backend("trying a write"))
}

impl Store for SqliteStore {
    fn create(&self, run: &Run, idempotency: Option<(&str, &str)>) -> Result<Run, StoreError> {
        let row = NewRun::of(run)?;
        let idempotency =
            idempotency.map(|(key, fingerprint)| (key.to_owned(), fingerprint.to_owned()));
        let node = self.node.clone();
        let existing = self.writer.write(move |conn| {
            if let Some((key, fingerprint)) = &idempotency
                && let Some(existing) = idempotent_run(conn, key, fingerprint)?
            {
                return Ok(Some(existing));
            }
            row.insert(conn, node.id())?;
            if let Some((key, fingerprint)) = &idempotency {
                conn.prepare_cached(
                    "INSERT INTO idempotency_keys (key, fingerprint, run_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![key, fingerprint, row.id(), timestamp(&Utc::now())])
                })
                .map_err(backend("recording an idempotency key"))?;
            }
            Ok(None)
        })?;
        Ok(existing.unwrap_or_else(|| run.clone()))
    }

    fn find_idempotent(&self, key: &str, fingerprint: &str) -> Result<Option<Run>, StoreError> {
        idempotent_run(&lock(&self.reader), key, fingerprint)
    }

    fn apply(&self, changes: &[Change<'_>]) -> Result<(), StoreError> {
        let changes = changes
            .iter()
            .map(EncodedChange::of)
            .collect::<Result<Vec<_>, _>>()?;
        let node = self.node.clone();
        self.writer.write(move |conn| {
            changes
                .iter()
                .try_for_each(|change| change.write(conn, node.id()))
        })
    }

    fn read(&self, id: Uuid, logs: Logs) -> Result<Option<Run>, StoreError> {
        read_run(&lock(&self.reader), &id.to_string(), logs)
    }

    fn list(&self, query: &RunQuery) -> Result<Vec<Run>, StoreError> {
        list_runs(&lock(&self.reader), query)
    }

    fn frame(&self, id: Uuid, name: &str) -> Result<Option<DataFrame>, StoreError> {
        read_frame(&lock(&self.reader), id, name)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        match self.writer.last_failure() {
            None => Ok(()),
            Some((failure, at)) if at.elapsed() < PROBE_INTERVAL => Err(failure),
            Some(_) => self.writer.write(probe),
        }
    }

    fn reclaim(
        &self,
        capability: &dyn Fn(&str) -> Capability,
    ) -> Result<(Recovered, Vec<Run>), StoreError> {
        let me = self.node.id();
        // What to do with a run of another node: nothing while that node
        // lives, nor with a queued run this node cannot run.
        let take = |held: &Held| {
            self.node.liveness(held.owner.as_deref()) == Liveness::Gone
                && (held.status == RunStatus::Running.as_str()
                    || capability(&held.algorithm) != Capability::Lacks)
        };
        let left_queued = |held: &[Held]| -> Result<Vec<(Uuid, String)>, StoreError> {
            held.iter()
                .filter(|held| {
                    held.status == RunStatus::Queued.as_str()
                        && capability(&held.algorithm) == Capability::Lacks
                        && self.node.liveness(held.owner.as_deref()) == Liveness::Gone
                })
                .map(|held| Ok((parse_id(&held.id)?, held.algorithm.clone())))
                .collect()
        };
        // Most rounds find nothing to take over: they ask the reader, and
        // never take the write lock.
        let others = held_by_others(&lock(&self.reader), me)?;
        if !others.iter().any(take) {
            let recovered = Recovered {
                left_queued: left_queued(&others)?,
                ..Recovered::default()
            };
            return Ok((recovered, Vec::new()));
        }
        let mut conn = self.writer.connection();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("taking over runs"))?;
        let mut recovered = Recovered::default();
        let mut queued = Vec::new();
        let now = timestamp(&Utc::now());
        let others = held_by_others(&tx, me)?;
        recovered.left_queued = left_queued(&others)?;
        for held in others.iter().filter(|held| take(held)) {
            let id = &held.id;
            let uuid = parse_id(id)?;
            if held.status != RunStatus::Running.as_str() {
                tx.execute("UPDATE runs SET owner = ?2 WHERE id = ?1", [id, me])
                    .map_err(backend("taking over a queued run"))?;
                queued.push(id.clone());
                continue;
            }
            let is_idempotent = matches!(
                capability(&held.algorithm),
                Capability::Runs { idempotent: true }
            );
            let interruptions = held.interruptions.saturating_add(1);
            if is_idempotent && interruptions < MAX_INTERRUPTIONS {
                let notice = LogRecord::now("warn", "algohost", interrupted_notice(true));
                append_logs(&tx, id, &[json_text(&notice)?])?;
                tx.execute(
                    "UPDATE runs SET status = 'queued', progress = 0, progress_message = '',
                        started_at = NULL, owner = ?2, interruptions = ?3 WHERE id = ?1",
                    params![id, me, interruptions],
                )
                .map_err(backend("requeueing a run"))?;
                recovered.requeued.push(uuid);
                queued.push(id.clone());
                continue;
            }
            let error = if is_idempotent {
                recovered.given_up.push(uuid);
                interrupted_too_often()
            } else {
                recovered.interrupted.push(uuid);
                RunError::interrupted()
            };
            let notice = LogRecord::now("warn", "algohost", error.message.clone());
            append_logs(&tx, id, &[json_text(&notice)?])?;
            tx.execute(
                "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3,
                    owner = ?4, interruptions = ?5 WHERE id = ?1",
                params![id, json_text(&error)?, now, me, interruptions],
            )
            .map_err(backend("marking a run interrupted"))?;
        }
        queued.sort();
        let queued = queued
            .iter()
            .filter_map(|id| load_run(&tx, id).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().map_err(backend("taking over runs"))?;
        drop(conn);
        self.node.clear_gone();
        Ok((recovered, queued))
    }

    fn delete(&self, id: Uuid) -> Result<Deletion, StoreError> {
        let id = id.to_string();
        self.writer.write(move |conn| {
            let status: Option<String> = conn
                .prepare_cached("SELECT status FROM runs WHERE id = ?1")
                .and_then(|mut stmt| stmt.query_row([&id], |row| row.get(0)).optional())
                .map_err(backend("reading the run to delete"))?;
            let Some(status) = status else {
                return Ok(Deletion::NotFound);
            };
            let status: RunStatus = status
                .parse()
                .map_err(|e| corrupt(format!("status of run {id}: {e}")))?;
            if !status.is_finished() {
                return Ok(Deletion::Unfinished(status));
            }
            // Its logs, frames and idempotency key go with it (ON DELETE
            // CASCADE).
            conn.prepare_cached("DELETE FROM runs WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute([&id]))
                .map_err(backend("deleting a run"))?;
            Ok(Deletion::Deleted)
        })
    }

    fn prune(&self, ended_before: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        // A run ends after it is created, and run ids are UUIDv7, ordered by
        // creation time: the runs that ended before the cutoff are among
        // those created before it, which the primary key walks oldest first
        // without a scan. Of those, the walk passes over the runs kept (not
        // ended, or ended since the cutoff): the few that were queued or
        // running at the cutoff, and are long ones.
        let millis = u64::try_from(ended_before.timestamp_millis()).unwrap_or(0);
        let created_before = Uuid::new_v7(uuid::Timestamp::from_unix(
            uuid::NoContext,
            millis / 1000,
            (millis % 1000) as u32 * 1_000_000,
        ))
        .to_string();
        let ended_before = timestamp(&ended_before);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.writer.write(move |conn| {
            // Logs, frames and idempotency keys go with them (ON DELETE
            // CASCADE). Timestamps are stored in one fixed-width format, so
            // they compare as text; an ended run without an end (written
            // by no version) counts from its creation.
            conn.prepare_cached(&format!(
                "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE id < ?1 AND NOT ({}) \
                 AND IFNULL(finished_at, created_at) < ?2 ORDER BY id LIMIT ?3)",
                schema::UNFINISHED
            ))
            .and_then(|mut stmt| stmt.execute(params![created_before, ended_before, limit]))
            .map_err(backend("deleting old runs"))
        })
    }

    fn leave(&self) {
        self.node.leave();
    }

    fn end_unheld(&self, run: &Run) -> Result<Unheld, StoreError> {
        let change = RunChange::of(run)?;
        let node = self.node.clone();
        self.writer.write(move |conn| {
            let held: Option<(String, Option<String>)> = conn
                .prepare_cached("SELECT status, owner FROM runs WHERE id = ?1")
                .and_then(|mut stmt| {
                    stmt.query_row([change.id()], |row| Ok((row.get(0)?, row.get(1)?)))
                        .optional()
                })
                .map_err(backend("reading a run's node"))?;
            let Some((status, owner)) = held else {
                return Err(StoreError::Backend(format!(
                    "no run with id {}",
                    change.id()
                )));
            };
            let status: RunStatus = status
                .parse()
                .map_err(|e| corrupt(format!("status of run {}: {e}", change.id())))?;
            if status.is_finished() {
                return Ok(Unheld::AlreadyEnded(status));
            }
            let is_mine = owner.as_deref() == Some(node.id());
            if !is_mine && node.liveness(owner.as_deref()) == Liveness::Alive {
                return Ok(Unheld::HeldElsewhere);
            }
            change.update(conn)?;
            conn.prepare_cached("UPDATE runs SET owner = ?2 WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute([change.id(), node.id()]))
                .map_err(backend("taking over a run"))?;
            Ok(Unheld::Ended)
        })
    }
}

/// Runs, newest first, without their logs ([`Store::list`]), through
/// either connection or a [`ReadOnlyStore`]'s.
fn list_runs(conn: &Connection, query: &RunQuery) -> Result<Vec<Run>, StoreError> {
    let mut clauses = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    if !query.status.is_empty() {
        let mut placeholders = Vec::new();
        for status in &query.status {
            values.push(SqlValue::Text(status.as_str().to_owned()));
            placeholders.push(format!("?{}", values.len()));
        }
        clauses.push(format!("status IN ({})", placeholders.join(", ")));
        // Lets SQLite use the index of the (few) runs not succeeded.
        if !query.status.contains(&RunStatus::Succeeded) {
            clauses.push(schema::NOT_SUCCEEDED.to_owned());
        }
    }
    if let Some(algorithm) = &query.algorithm {
        values.push(SqlValue::Text(algorithm.clone()));
        clauses.push(format!("algorithm = ?{}", values.len()));
    }
    if let Some(before) = query.before {
        values.push(SqlValue::Text(before.to_string()));
        clauses.push(format!("id < ?{}", values.len()));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let limit = match query.limit {
        0 => -1,
        n => i64::try_from(n).unwrap_or(i64::MAX),
    };
    values.push(SqlValue::Integer(limit));
    let sql = format!(
        "SELECT {} FROM runs {filter} ORDER BY id DESC LIMIT ?{}",
        run_columns!(),
        values.len()
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(backend("listing runs"))?;
    let rows = stmt
        .query_map(params_from_iter(values), run_from_row)
        .map_err(backend("listing runs"))?;
    rows.map(|row| row.map_err(backend("listing runs"))?)
        .collect()
}

/// An output frame of a run ([`Store::frame`]), through either connection
/// or a [`ReadOnlyStore`]'s.
fn read_frame(conn: &Connection, id: Uuid, name: &str) -> Result<Option<DataFrame>, StoreError> {
    let stored: Option<(String, Vec<u8>)> = conn
        .prepare_cached("SELECT format, data FROM frames WHERE run_id = ?1 AND name = ?2")
        .and_then(|mut stmt| {
            stmt.query_row(params![id.to_string(), name], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
        })
        .map_err(backend("reading a frame"))?;
    stored
        .map(|(format, bytes)| decode_frame(&format, bytes))
        .transpose()
}

/// An unfinished run held by a node other than `me` (or by none).
struct Held {
    id: String,
    algorithm: String,
    status: String,
    owner: Option<String>,
    /// Times it was interrupted and queued again.
    interruptions: u32,
}

fn parse_id(id: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(id).map_err(|e| corrupt(format!("run id '{id}': {e}")))
}

/// The unfinished runs that nodes other than `me` hold, oldest first.
fn held_by_others(conn: &Connection, me: &str) -> Result<Vec<Held>, StoreError> {
    let sql = format!(
        "SELECT id, algorithm, status, owner, interruptions FROM runs
            WHERE {} AND (owner IS NULL OR owner <> ?1) ORDER BY id",
        schema::UNFINISHED
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(backend("reading the runs of other nodes"))?;
    let rows = stmt
        .query_map([me], |row| {
            Ok(Held {
                id: row.get(0)?,
                algorithm: row.get(1)?,
                status: row.get(2)?,
                owner: row.get(3)?,
                interruptions: row.get(4)?,
            })
        })
        .map_err(backend("reading the runs of other nodes"))?;
    rows.collect::<rusqlite::Result<_>>()
        .map_err(backend("reading the runs of other nodes"))
}

/// The run of an idempotency key, or a conflict when the fingerprint differs.
fn idempotent_run(
    conn: &Connection,
    key: &str,
    fingerprint: &str,
) -> Result<Option<Run>, StoreError> {
    let known: Option<(String, String)> = conn
        .prepare_cached("SELECT fingerprint, run_id FROM idempotency_keys WHERE key = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(backend("reading an idempotency key"))?;
    match known {
        None => Ok(None),
        Some((stored, _)) if stored != fingerprint => {
            Err(StoreError::IdempotencyConflict(key.to_owned()))
        }
        Some((_, run_id)) => load_run(conn, &run_id),
    }
}
