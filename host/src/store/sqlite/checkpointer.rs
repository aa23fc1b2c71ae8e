//! Copies the WAL back into the database file from a thread of its own, so
//! that no commit waits for the copy and its fsync (SQLite would otherwise
//! do it inside whichever commit crosses its threshold).
//!
//! A checkpoint that runs beside the writer never catches up with it under
//! sustained load, and the WAL only starts over once it has; so when the WAL
//! has grown past [`RESTART_FRAMES`], the checkpointer holds this process's
//! writer back for the short remainder (`RESTART`), and the next commit
//! starts the WAL from its beginning again.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::schema::connect;
use super::writer::Writer;
use crate::store::StoreError;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(100);

/// WAL size (in pages) past which a checkpoint restarts the WAL.
const RESTART_FRAMES: i64 = 1000;

/// How long a restarting checkpoint waits for readers of the old WAL (and
/// for writers of other processes, holding this one's back meanwhile)
/// before it gives up until the next round.
const RESTART_PATIENCE: Duration = Duration::from_millis(10);

/// The checkpointing thread; dropping this stops it.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the store file at `path`, written by `writer`,
    /// which must not checkpoint itself (`PRAGMA wal_autocheckpoint = 0`).
    pub fn start(path: &Path, writer: Arc<Writer>) -> Result<Self, StoreError> {
        let conn = connect(path)?;
        conn.busy_timeout(RESTART_PATIENCE)
            .map_err(|e| StoreError::Backend(format!("configuring the checkpointer: {e}")))?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("algohost-checkpoint".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    if let Err(e) = checkpoint(&conn, &writer) {
                        tracing::warn!("checkpointing the run store failed: {e}");
                    }
                }
            })
            .map_err(|e| {
                StoreError::Backend(format!("could not start the checkpoint thread: {e}"))
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One round: copies what it can without holding anyone back (`PASSIVE`),
/// then, if the WAL has grown long, the rest with `writer` held back
/// (`RESTART`), so that the WAL starts over.
fn checkpoint(conn: &Connection, writer: &Writer) -> rusqlite::Result<()> {
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(1)
        })
    };
    if run("PASSIVE")? >= RESTART_FRAMES {
        let _held_back = writer.connection();
        run("RESTART")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames in the WAL, as a passive checkpoint reports them.
    fn wal_frames(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
            .unwrap()
    }

    #[test]
    fn a_long_wal_starts_over_even_while_a_writer_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = connect(&path).unwrap();
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)",
        )
        .unwrap();
        let writer = Writer::new(conn);
        let insert = |k: i64| {
            writer
                .write(move |conn| {
                    conn.execute("INSERT INTO t (k, v) VALUES (?1, zeroblob(100))", [k])
                        .map(drop)
                        .map_err(|e| StoreError::Backend(e.to_string()))
                })
                .unwrap();
        };
        for k in 0..3 * RESTART_FRAMES {
            insert(k);
        }
        let checkpointer = connect(&path).unwrap();
        let long = wal_frames(&checkpointer);
        assert!(long >= 3 * RESTART_FRAMES, "{long} frames");
        std::thread::scope(|scope| {
            let (started, has_started) = std::sync::mpsc::channel();
            // Fewer frames than the WAL holds now, written while the round
            // runs.
            scope.spawn(move || {
                for k in 0..RESTART_FRAMES / 2 {
                    insert(-2 - k);
                    if k == 10 {
                        let _ = started.send(());
                    }
                }
            });
            has_started.recv().unwrap();
            checkpoint(&checkpointer, &writer).unwrap();
        });
        // The next commit starts the WAL over.
        insert(-1);
        let frames = wal_frames(&checkpointer);
        assert!(
            frames < long,
            "{frames} frames after the round, {long} before"
        );
    }
}
