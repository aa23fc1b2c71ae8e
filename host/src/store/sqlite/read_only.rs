//! A store file opened for reading only, for tools that look at the run
//! history (`algohost runs`) beside a server that may be running on it.

use std::path::Path;
use std::sync::Mutex;

use algohost_sdk::polars::prelude::DataFrame;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use uuid::Uuid;

use super::rows::read_run;
use super::{backend, list_runs, lock, nodes, read_frame, schema};
use crate::runner::Run;
use crate::store::{Logs, RunQuery, StoreError};

/// Reads runs, logs and frames of an existing store file, and never writes
/// it. Unlike [`super::SqliteStore::open`], opening one makes no store,
/// migrates no schema, starts no checkpointer and joins as no node: it
/// holds no run and takes over none, so a server on the same file goes on
/// as if it were not there. (SQLite may create the `-wal` and `-shm` files
/// beside a store that has none, empty, as for any reader in WAL mode.)
/// What it reads is what servers have stored: a running run's progress and
/// logs as last written.
pub struct ReadOnlyStore {
    conn: Mutex<Connection>,
    /// The store file (its nodes' locks are beside it).
    path: std::path::PathBuf,
}

impl std::fmt::Debug for ReadOnlyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyStore").finish_non_exhaustive()
    }
}

/// The WAL file of the store at `path`.
fn wal_of(path: &Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

/// The SQLite URI that opens `path` as immutable (every byte but letters,
/// digits and `/._-~` percent-encoded, `?` and `#` among them).
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt as _;
    let mut uri = String::from("file:");
    for byte in path.as_os_str().as_bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'-' | b'~' => {
                uri.push(char::from(*byte));
            }
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

impl ReadOnlyStore {
    /// Opens the store file at `path`, which must exist: a missing file is
    /// an error, not a new store. Refuses a file that is not a run store,
    /// and one of a newer algohost.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let what = format!("opening {}", path.display());
        if !path.is_file() {
            let why = if path.exists() {
                "is not a file"
            } else {
                "does not exist"
            };
            return Err(StoreError::Backend(format!(
                "the run store {} {why}",
                path.display()
            )));
        }
        // Read-only: SQLite writes nothing, neither now nor when the
        // connection closes (a writer that closes last checkpoints the WAL).
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = if wal_of(path).exists() {
            Connection::open_with_flags(path, flags)
        } else {
            // No WAL beside it: no server has it open (a server keeps its
            // WAL while it runs), and the file holds every run. Read as
            // immutable, SQLite needs no -shm file: it reads a store in a
            // directory the reader may not write (a backup on read-only
            // media), and leaves no file of its own beside one it may.
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
        }
        .map_err(backend(&what))?;
        conn.busy_timeout(schema::BUSY_TIMEOUT)
            .map_err(backend(&what))?;
        let not_a_store = |why: &str| {
            StoreError::Backend(format!("{} is not a run store ({why})", path.display()))
        };
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => {
                    not_a_store("it is not an SQLite database")
                }
                _ => backend(&what)(e),
            })?;
        if version == 0 {
            return Err(not_a_store("it has no runs table"));
        }
        schema::check_known(version)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        })
    }

    /// Runs, newest first, without their logs, as [`crate::store::Store::list`].
    pub fn list(&self, query: &RunQuery) -> Result<Vec<Run>, StoreError> {
        list_runs(&lock(&self.conn), query)
    }

    /// One run with the log records `logs` selects, as
    /// [`crate::store::Store::read`].
    pub fn read(&self, id: Uuid, logs: Logs) -> Result<Option<Run>, StoreError> {
        read_run(&lock(&self.conn), &id.to_string(), logs)
    }

    /// Whether `run`, unfinished, is held by a server that is gone (killed,
    /// or its machine stopped): it stays as it is until a server starts on
    /// the store, which marks it interrupted (or queues it again when its
    /// algorithm is idempotent), or runs it if it was queued.
    pub fn is_orphaned(&self, run: &Run) -> Result<bool, StoreError> {
        if run.status.is_finished() {
            return Ok(false);
        }
        let owner: Option<Option<String>> = lock(&self.conn)
            .query_row(
                "SELECT owner FROM runs WHERE id = ?1",
                [run.id.to_string()],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend("reading a run's server"))?;
        Ok(owner.is_some_and(|owner| nodes::is_gone(&self.path, owner.as_deref())))
    }

    /// An output frame of a run, as [`crate::store::Store::frame`].
    pub fn frame(&self, id: Uuid, name: &str) -> Result<Option<DataFrame>, StoreError> {
        read_frame(&lock(&self.conn), id, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::RunStatus;
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;

    fn run(algorithm: &str, status: RunStatus) -> Run {
        let manifest = algohost_sdk::Manifest::new(algorithm, "1.0.0");
        let mut run = Run::queued(&manifest, serde_json::json!({"n": 1}));
        run.status = status;
        run
    }

    #[test]
    fn reads_what_a_store_wrote_and_joins_no_node() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        let store = SqliteStore::open(&path).unwrap();
        let done = run("a", RunStatus::Succeeded);
        let failed = run("b", RunStatus::Failed);
        store.create(&done, None).unwrap();
        store.create(&failed, None).unwrap();
        let nodes = || {
            std::fs::read_dir(dir.path().join("runs.db-nodes"))
                .unwrap()
                .count()
        };
        assert_eq!(nodes(), 1);

        let reader = ReadOnlyStore::open(&path).unwrap();
        assert_eq!(nodes(), 1, "the reader is no node");
        let query = RunQuery {
            status: vec![RunStatus::Failed],
            ..RunQuery::default()
        };
        let listed: Vec<Uuid> = reader.list(&query).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(listed, [failed.id]);
        let all: Vec<Uuid> = reader
            .list(&RunQuery::default())
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(all, [failed.id, done.id], "newest first");
        assert_eq!(
            reader.read(done.id, Logs::None).unwrap().unwrap().algorithm,
            "a"
        );
        assert!(reader.read(Uuid::now_v7(), Logs::All).unwrap().is_none());
        assert!(reader.frame(done.id, "x").unwrap().is_none());
    }

    #[test]
    fn a_store_no_server_has_open_is_read_without_a_file_beside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs ?#% 1.db");
        let done = run("a", RunStatus::Succeeded);
        SqliteStore::open(&path)
            .unwrap()
            .create(&done, None)
            .unwrap();
        let beside = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("runs ?#% 1.db-") && !n.ends_with("-nodes"))
                .collect();
            names.sort();
            names
        };
        assert!(beside().is_empty(), "closed cleanly: {:?}", beside());

        let reader = ReadOnlyStore::open(&path).unwrap();
        let listed = reader.list(&RunQuery::default()).unwrap();
        assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [done.id]);
        drop(reader);
        assert!(beside().is_empty(), "{:?}", beside());
    }

    #[test]
    fn refuses_what_is_not_an_existing_store() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.db");
        let err = ReadOnlyStore::open(&missing).unwrap_err().to_string();
        assert!(err.contains("missing.db does not exist"), "{err}");
        assert!(!missing.exists(), "no store is made");

        let err = ReadOnlyStore::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is not a file"), "{err}");

        let text = dir.path().join("notes.txt");
        std::fs::write(
            &text,
            "not a database, but long enough to have a header of its own ".repeat(4),
        )
        .unwrap();
        let err = ReadOnlyStore::open(&text).unwrap_err().to_string();
        assert!(
            err.contains("is not a run store (it is not an SQLite database)"),
            "{err}"
        );

        let empty = dir.path().join("empty.db");
        Connection::open(&empty)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = ReadOnlyStore::open(&empty).unwrap_err().to_string();
        assert!(
            err.contains("is not a run store (it has no runs table)"),
            "{err}"
        );
    }
}
