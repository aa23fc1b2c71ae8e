//! The SQLite store: one file in WAL mode, no server. One connection writes
//! and another reads, so reads never queue behind a long write; every method
//! commits before it returns.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use chrono::{DateTime, SecondsFormat, Utc};
use polars::prelude::{CompatLevel, IpcStreamReader, IpcStreamWriter, SerReader, SerWriter};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};
use serde_json::Value;
use uuid::Uuid;

use super::{Recovered, RunQuery, Store, StoreError, interrupted_notice};
use crate::runner::{Run, RunError, RunStatus};

/// Schema migrations, applied in order; `PRAGMA user_version` counts those
/// applied. Append only: never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: runs, their log records and frames, idempotency keys.
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY NOT NULL,
        algorithm TEXT NOT NULL,
        version TEXT NOT NULL,
        params TEXT NOT NULL,
        timeout REAL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        progress_message TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        error TEXT,
        summary TEXT NOT NULL DEFAULT 'null',
        frames TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX runs_by_status ON runs (status, id);
    CREATE INDEX runs_by_algorithm ON runs (algorithm, id);
    CREATE TABLE logs (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE frames (
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        format TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (run_id, name)
    );
    CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY NOT NULL,
        fingerprint TEXT NOT NULL,
        run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        created_at TEXT NOT NULL
    );",
];

/// How long a connection waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The format of stored frames; the `format` column leaves room for others.
const FRAME_FORMAT: &str = "arrow_ipc_stream";

const RUN_COLUMNS: &str = "id, algorithm, version, params, timeout, status, progress, \
    progress_message, created_at, started_at, finished_at, error, summary, frames";

/// Runs, logs and frames in one SQLite file.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn backend(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Backend(format!("{what}: {e}"))
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("corrupt data: {what}"))
}

fn lock(mutex: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn status_text(status: RunStatus) -> String {
    status.to_string()
}

fn json_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding JSON: {e}")))
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let what = format!("opening {}", path.display());
    let conn = Connection::open(path).map_err(backend(&what))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend(&what))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(backend(&what))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{what}: the file system does not support WAL mode (journal mode is {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .map_err(backend(&what))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("migrating the schema"))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend("reading the schema version"))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Backend(format!(
            "the store has schema version {version} but this algohost knows only up to {known}; use a newer algohost"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let what = format!("applying schema migration {}", index + 1);
        tx.execute_batch(sql).map_err(backend(&what))?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(backend(&what))?;
    }
    tx.commit().map_err(backend("migrating the schema"))
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and brings its schema up to
    /// date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let mut writer = connect(path)?;
        migrate(&mut writer)?;
        let reader = connect(path)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }
}

fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Run, StoreError>> {
    let id: String = row.get(0)?;
    let params: String = row.get(3)?;
    let status: String = row.get(5)?;
    let created_at: String = row.get(8)?;
    let started_at: Option<String> = row.get(9)?;
    let finished_at: Option<String> = row.get(10)?;
    let error: Option<String> = row.get(11)?;
    let summary: String = row.get(12)?;
    let frames: String = row.get(13)?;
    let (algorithm, version, timeout, progress, progress_message) = (
        row.get(1)?,
        row.get(2)?,
        row.get(4)?,
        row.get(6)?,
        row.get(7)?,
    );
    Ok((|| {
        let time = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt(format!("timestamp '{t}': {e}")))
        };
        let json = |what: &str, text: &str| {
            serde_json::from_str::<Value>(text)
                .map_err(|e| corrupt(format!("{what} of run {id}: {e}")))
        };
        Ok(Run {
            id: Uuid::parse_str(&id).map_err(|e| corrupt(format!("run id '{id}': {e}")))?,
            algorithm,
            version,
            params: json("params", &params)?,
            timeout,
            status: serde_json::from_value(Value::String(status.clone()))
                .map_err(|_| corrupt(format!("status '{status}' of run {id}")))?,
            progress,
            progress_message,
            created_at: time(&created_at)?,
            started_at: started_at.as_deref().map(time).transpose()?,
            finished_at: finished_at.as_deref().map(time).transpose()?,
            error: error
                .as_deref()
                .map(|e| {
                    serde_json::from_str::<RunError>(e)
                        .map_err(|e| corrupt(format!("error of run {id}: {e}")))
                })
                .transpose()?,
            summary: json("summary", &summary)?,
            frames: serde_json::from_str(&frames)
                .map_err(|e| corrupt(format!("frame names of run {id}: {e}")))?,
            logs: Vec::new(),
        })
    })())
}

/// One run with its logs, through either connection.
fn load_run(conn: &Connection, id: &str) -> Result<Option<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1");
    let Some(run) = conn
        .query_row(&sql, [id], run_from_row)
        .optional()
        .map_err(backend("reading a run"))?
    else {
        return Ok(None);
    };
    let mut run = run?;
    let mut stmt = conn
        .prepare_cached("SELECT record FROM logs WHERE run_id = ?1 ORDER BY seq")
        .map_err(backend("reading logs"))?;
    let records = stmt
        .query_map([id], |row| row.get::<_, String>(0))
        .map_err(backend("reading logs"))?;
    for record in records {
        let record = record.map_err(backend("reading logs"))?;
        run.logs.push(
            serde_json::from_str(&record).map_err(|e| corrupt(format!("log of run {id}: {e}")))?,
        );
    }
    Ok(Some(run))
}

fn insert_run(conn: &Connection, run: &Run) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    );
    conn.execute(
        &sql,
        params![
            run.id.to_string(),
            run.algorithm,
            run.version,
            json_text(&run.params)?,
            run.timeout,
            status_text(run.status),
            run.progress,
            run.progress_message,
            timestamp(&run.created_at),
            run.started_at.as_ref().map(timestamp),
            run.finished_at.as_ref().map(timestamp),
            run.error.as_ref().map(json_text).transpose()?,
            json_text(&run.summary)?,
            json_text(&run.frames)?,
        ],
    )
    .map_err(backend("inserting a run"))?;
    Ok(())
}

fn encode_frame(frame: &DataFrame) -> Result<Vec<u8>, StoreError> {
    let mut bytes = Vec::new();
    let mut frame = frame.clone();
    IpcStreamWriter::new(&mut bytes)
        .with_compat_level(CompatLevel::newest())
        .finish(&mut frame)
        .map_err(|e| StoreError::Backend(format!("encoding a frame: {e}")))?;
    Ok(bytes)
}

fn decode_frame(format: &str, bytes: Vec<u8>) -> Result<DataFrame, StoreError> {
    if format != FRAME_FORMAT {
        return Err(corrupt(format!("unknown frame format '{format}'")));
    }
    IpcStreamReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(|e| corrupt(format!("frame: {e}")))
}

impl Store for SqliteStore {
    fn create(&self, run: &Run, idempotency: Option<(&str, &str)>) -> Result<Run, StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("creating a run"))?;
        if let Some((key, fingerprint)) = idempotency
            && let Some(existing) = idempotent_run(&tx, key, fingerprint)?
        {
            return Ok(existing);
        }
        insert_run(&tx, run)?;
        if let Some((key, fingerprint)) = idempotency {
            tx.execute(
                "INSERT INTO idempotency_keys (key, fingerprint, run_id, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![key, fingerprint, run.id.to_string(), timestamp(&Utc::now())],
            )
            .map_err(backend("recording an idempotency key"))?;
        }
        tx.commit().map_err(backend("creating a run"))?;
        Ok(run.clone())
    }

    fn find_idempotent(&self, key: &str, fingerprint: &str) -> Result<Option<Run>, StoreError> {
        idempotent_run(&lock(&self.reader), key, fingerprint)
    }

    fn update(&self, run: &Run) -> Result<(), StoreError> {
        let changed = lock(&self.writer)
            .execute(
                "UPDATE runs SET status = ?2, progress = ?3, progress_message = ?4, started_at = ?5,
                    finished_at = ?6, error = ?7, summary = ?8, frames = ?9, timeout = ?10
                 WHERE id = ?1",
                params![
                    run.id.to_string(),
                    status_text(run.status),
                    run.progress,
                    run.progress_message,
                    run.started_at.as_ref().map(timestamp),
                    run.finished_at.as_ref().map(timestamp),
                    run.error.as_ref().map(json_text).transpose()?,
                    json_text(&run.summary)?,
                    json_text(&run.frames)?,
                    run.timeout,
                ],
            )
            .map_err(backend("updating a run"))?;
        if changed == 0 {
            return Err(StoreError::Backend(format!("no run with id {}", run.id)));
        }
        Ok(())
    }

    fn append_logs(&self, id: Uuid, logs: &[LogRecord]) -> Result<(), StoreError> {
        if logs.is_empty() {
            return Ok(());
        }
        let records = logs.iter().map(json_text).collect::<Result<Vec<_>, _>>()?;
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("appending logs"))?;
        append_logs(&tx, &id.to_string(), &records)?;
        tx.commit().map_err(backend("appending logs"))
    }

    fn put_frame(&self, id: Uuid, name: &str, frame: &DataFrame) -> Result<(), StoreError> {
        let bytes = encode_frame(frame)?;
        lock(&self.writer)
            .execute(
                "INSERT OR REPLACE INTO frames (run_id, name, format, data) VALUES (?1, ?2, ?3, ?4)",
                params![id.to_string(), name, FRAME_FORMAT, bytes],
            )
            .map_err(backend("storing a frame"))?;
        Ok(())
    }

    fn get(&self, id: Uuid) -> Result<Option<Run>, StoreError> {
        load_run(&lock(&self.reader), &id.to_string())
    }

    fn list(&self, query: &RunQuery) -> Result<Vec<Run>, StoreError> {
        let mut clauses = Vec::new();
        let mut values: Vec<String> = Vec::new();
        if let Some(status) = query.status {
            values.push(status_text(status));
            clauses.push(format!("status = ?{}", values.len()));
        }
        if let Some(algorithm) = &query.algorithm {
            values.push(algorithm.clone());
            clauses.push(format!("algorithm = ?{}", values.len()));
        }
        if let Some(before) = query.before {
            values.push(before.to_string());
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
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs {filter} ORDER BY id DESC LIMIT {limit}");
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare(&sql).map_err(backend("listing runs"))?;
        let rows = stmt
            .query_map(params_from_iter(values), run_from_row)
            .map_err(backend("listing runs"))?;
        rows.map(|row| row.map_err(backend("listing runs"))?)
            .collect()
    }

    fn frame(&self, id: Uuid, name: &str) -> Result<Option<DataFrame>, StoreError> {
        let stored: Option<(String, Vec<u8>)> = lock(&self.reader)
            .query_row(
                "SELECT format, data FROM frames WHERE run_id = ?1 AND name = ?2",
                params![id.to_string(), name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(backend("reading a frame"))?;
        stored
            .map(|(format, bytes)| decode_frame(&format, bytes))
            .transpose()
    }

    fn recover(
        &self,
        is_idempotent: &dyn Fn(&str) -> bool,
    ) -> Result<(Recovered, Vec<Run>), StoreError> {
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend("recovering runs"))?;
        let running: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare("SELECT id, algorithm FROM runs WHERE status = 'running' ORDER BY id")
                .map_err(backend("recovering runs"))?;
            let rows = stmt
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(backend("recovering runs"))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(backend("recovering runs"))?
        };
        let mut recovered = Recovered::default();
        let interrupted = json_text(&RunError::interrupted())?;
        let now = timestamp(&Utc::now());
        for (id, algorithm) in running {
            let uuid = Uuid::parse_str(&id).map_err(|e| corrupt(format!("run id '{id}': {e}")))?;
            let requeue = is_idempotent(&algorithm);
            let notice = LogRecord::now("warn", "algohost", interrupted_notice(requeue));
            append_logs(&tx, &id, &[json_text(&notice)?])?;
            if requeue {
                tx.execute(
                    "UPDATE runs SET status = 'queued', progress = 0, progress_message = '',
                        started_at = NULL WHERE id = ?1",
                    [&id],
                )
                .map_err(backend("requeueing a run"))?;
                recovered.requeued.push(uuid);
            } else {
                tx.execute(
                    "UPDATE runs SET status = 'failed', error = ?2, finished_at = ?3 WHERE id = ?1",
                    params![id, interrupted, now],
                )
                .map_err(backend("marking a run interrupted"))?;
                recovered.interrupted.push(uuid);
            }
        }
        let queued: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT id FROM runs WHERE status = 'queued' ORDER BY id")
                .map_err(backend("recovering runs"))?;
            let rows = stmt
                .query_map([], |row| row.get(0))
                .map_err(backend("recovering runs"))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(backend("recovering runs"))?
        };
        let queued = queued
            .iter()
            .filter_map(|id| load_run(&tx, id).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit().map_err(backend("recovering runs"))?;
        Ok((recovered, queued))
    }
}

/// Appends encoded log records after the run's last one.
fn append_logs(conn: &Connection, id: &str, records: &[String]) -> Result<(), StoreError> {
    let next: i64 = conn
        .query_row(
            "SELECT COALESCE(MAX(seq) + 1, 0) FROM logs WHERE run_id = ?1",
            [id],
            |row| row.get(0),
        )
        .map_err(backend("appending logs"))?;
    let mut insert = conn
        .prepare_cached("INSERT INTO logs (run_id, seq, record) VALUES (?1, ?2, ?3)")
        .map_err(backend("appending logs"))?;
    for (seq, record) in (next..).zip(records) {
        insert
            .execute(params![id, seq, record])
            .map_err(backend("appending logs"))?;
    }
    Ok(())
}

/// The run of an idempotency key, or a conflict when the fingerprint differs.
fn idempotent_run(
    conn: &Connection,
    key: &str,
    fingerprint: &str,
) -> Result<Option<Run>, StoreError> {
    let known: Option<(String, String)> = conn
        .query_row(
            "SELECT fingerprint, run_id FROM idempotency_keys WHERE key = ?1",
            [key],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(backend("reading an idempotency key"))?;
    match known {
        None => Ok(None),
        Some((stored, _)) if stored != fingerprint => {
            Err(StoreError::IdempotencyConflict(key.to_owned()))
        }
        Some((_, run_id)) => load_run(conn, &run_id),
    }
}
