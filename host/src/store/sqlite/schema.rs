//! The store file's schema and how connections to it are opened.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::backend;
use crate::store::StoreError;

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
    // 2: the status index keeps only runs that did not succeed (those that
    // recovery and status filters look for among many that did), so that
    // storing a succeeded run updates one index less. Queries name the
    // index's condition (`NOT_SUCCEEDED`) to use it.
    "DROP INDEX runs_by_status;
    CREATE INDEX runs_not_succeeded ON runs (status, id) WHERE status <> 'succeeded';",
    // 3: the node (store handle) that holds each run, so that several
    // servers can share the file and each takes over only the unfinished
    // runs of nodes that are gone (see `nodes`). Runs stored before have
    // none: their node is gone. The index holds unfinished runs only
    // (`UNFINISHED`).
    "ALTER TABLE runs ADD COLUMN owner TEXT;
    CREATE INDEX runs_unfinished ON runs (id) WHERE status IN ('queued', 'running');",
    // 4: how many times each run was interrupted by its server stopping
    // and queued again (idempotent algorithms), so that a run that brings
    // its server down is not queued again forever (`MAX_INTERRUPTIONS`).
    "ALTER TABLE runs ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;",
];

/// The condition of the index `runs_not_succeeded`: a query filtering on
/// any other status adds it to its `WHERE` so that SQLite uses the index.
pub(super) const NOT_SUCCEEDED: &str = "status <> 'succeeded'";

/// The condition of the index `runs_unfinished`: queries for the runs
/// nodes hold name it to use the index.
pub(super) const UNFINISHED: &str = "status IN ('queued', 'running')";

/// How long a connection waits for another process's write lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The size a WAL file is cut back to when it starts over, after a burst
/// made it grow.
const WAL_SIZE_LIMIT: i64 = 64 << 20;

/// Statements each connection keeps prepared (every statement of the store
/// fits).
const STATEMENT_CACHE: usize = 32;

/// Opens a connection in WAL mode. Commits do not wait for the disk
/// (`synchronous = NORMAL`): a committed transaction survives the process
/// being killed, and the file stays consistent across a power loss.
pub(super) fn connect(path: &Path) -> Result<Connection, StoreError> {
    check_path(path)?;
    let what = format!("opening {}", path.display());
    let conn = Connection::open(path).map_err(|e| match unwritable_directory(path) {
        Some(why) => StoreError::Backend(why),
        None => backend(&what)(e),
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend(&what))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase) => StoreError::Backend(format!(
                "{} is not a run store (it is not an SQLite database); give the path of an \
                 existing run store or of a new file",
                path.display()
            )),
            _ => backend(&what)(e),
        })?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{what}: the file system does not support WAL mode (journal mode is {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .and_then(|()| conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT))
        .map_err(backend(&what))?;
    Ok(conn)
}

/// Why files cannot be created beside `path` (a read-only file system, no
/// permission), when they cannot: SQLite then only says "unable to open
/// database file", and it needs to create its WAL files there.
fn unwritable_directory(path: &Path) -> Option<String> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let probe = dir.join(format!(".algohost-store-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "cannot create files in {} ({e}), where the run store {} and its WAL files go; \
             give a path on a writable file system",
            dir.display(),
            path.display()
        )),
    }
}

/// Refuses, with what to do, a path SQLite could only answer "unable to
/// open database file" for: a directory, or a file in a missing directory.
fn check_path(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Err(StoreError::Backend(format!(
            "{} is a directory; give a file path such as {}",
            path.display(),
            path.join("runs.db").display()
        )));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|p| !p.is_dir()) {
        return Err(StoreError::Backend(format!(
            "the directory {} does not exist; create it (mkdir -p {}) or give a path in an \
             existing one",
            parent.display(),
            parent.display()
        )));
    }
    Ok(())
}

/// Refuses a store whose schema (`version`, its `user_version`) is of a
/// newer algohost than this one.
pub(super) fn check_known(version: i64) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Backend(format!(
            "the store has schema version {version} but this algohost knows only up to {known}; use a newer algohost"
        )));
    }
    Ok(())
}

/// Brings the schema up to date; refuses a file from a newer algohost.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend("migrating the schema"))?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(backend("reading the schema version"))?;
    check_known(version)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let what = format!("applying schema migration {}", index + 1);
        tx.execute_batch(sql).map_err(backend(&what))?;
        tx.pragma_update(None, "user_version", index as i64 + 1)
            .map_err(backend(&what))?;
    }
    tx.commit().map_err(backend("migrating the schema"))
}
